//! Bash: `source ./cronium.sh` (the runtime now defines the helpers before the script
//! starts), `cat`/`jq`/redirections of the old JSON files, and (with `--modernize`) the
//! camelCase helper names.

use cronium_protocol::helpers::{find, Language, Modernize};
use tree_sitter::Node;

use crate::ts::{named, parse, text, walk};
use crate::{data_file, helper_file, mentioned_data_file, MigrateError, Options, Rewriter};

pub(crate) fn migrate(rw: &mut Rewriter<'_>, options: Options) -> Result<(), MigrateError> {
    let src = rw.src;
    let tree = parse(tree_sitter_bash::LANGUAGE.into(), src)?;
    let root = tree.root_node();
    walk(root, &mut |n| {
        match n.kind() {
            "command" if rewrite_command(rw, n, options) => return false,
            "pipeline" => {
                // cat event.json | jq -r '.FIELD'
                let parts = named(n);
                if let [first, second] = parts.as_slice() {
                    let cat_event = first.kind() == "command"
                        && first.child_by_field_name("name").map(|x| text(x, src)) == Some("cat")
                        && arguments(*first).len() == 1
                        && value(arguments(*first)[0], src)
                            .as_deref()
                            .and_then(data_file)
                            == Some("event.json");
                    if cat_event && second.kind() == "command" {
                        if let Some(field) = jq_field(*second, src, 0) {
                            rw.replace(
                                n.start_byte(),
                                n.end_byte(),
                                format!("cronium_event {field}"),
                                "reading a field of event.json is now cronium_event FIELD".into(),
                            );
                            return false;
                        }
                    }
                }
            }
            "redirected_statement" if rewrite_redirect(rw, n) => return false,
            "command_substitution" => {
                // $(< input.json)
                let parts = named(n);
                if let [r] = parts.as_slice() {
                    if r.kind() == "file_redirect" && operator(*r, src) == "<" {
                        if let Some(g) = destination_file(*r, src).and_then(getter) {
                            rw.replace(
                                n.start_byte(),
                                n.end_byte(),
                                format!("$({g})"),
                                format!("reading the old JSON file is now {g}"),
                            );
                            return false;
                        }
                    }
                }
            }
            "word" | "string" | "raw_string" => {
                let file = value(n, src)
                    .and_then(|v| data_file(&v))
                    .or_else(|| mentioned_data_file(text(n, src)));
                if let Some(file) = file {
                    if !rw.touched(n.start_byte(), n.end_byte()) {
                        rw.review(n.start_byte(), direct_use_reason(file));
                    }
                }
                return false;
            }
            _ => {}
        }
        true
    });
    Ok(())
}

fn getter(file: &str) -> Option<&'static str> {
    match file {
        "input.json" => Some("cronium_input"),
        "event.json" => Some("cronium_event"),
        _ => None,
    }
}

fn direct_use_reason(file: &str) -> String {
    let today = match file {
        "input.json" => "cronium_input",
        "output.json" => "cronium_output JSON",
        "event.json" => "cronium_event [FIELD]",
        "condition.json" => "cronium_set_condition true|false",
        _ => "cronium_getVariable KEY / cronium_setVariable KEY VALUE per variable",
    };
    format!("uses {file} directly in a form not rewritten automatically; the file no longer exists: use {today}")
}

/// The literal value of a word or quoted string; `None` when it expands anything.
fn value(n: Node<'_>, src: &str) -> Option<String> {
    match n.kind() {
        "word" => Some(text(n, src).to_owned()),
        "raw_string" => {
            let t = text(n, src);
            Some(t[1..t.len().saturating_sub(1)].to_owned())
        }
        "string" => {
            let parts = named(n);
            if parts.iter().any(|p| p.kind() != "string_content") {
                return None;
            }
            let t = text(n, src);
            Some(
                t[1..t.len().saturating_sub(1)]
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\"),
            )
        }
        _ => None,
    }
}

fn operator(redirect: Node<'_>, src: &str) -> String {
    let mut cursor = redirect.walk();
    let op = redirect
        .children(&mut cursor)
        .find(|c| !c.is_named())
        .map(|c| text(c, src).to_owned())
        .unwrap_or_default();
    op
}

fn destination_file(redirect: Node<'_>, src: &str) -> Option<&'static str> {
    let d = redirect.child_by_field_name("destination")?;
    data_file(&value(d, src)?)
}

fn arguments<'t>(cmd: Node<'t>) -> Vec<Node<'t>> {
    cmd.children_by_field_name("argument", &mut cmd.walk())
        .collect()
}

fn rewrite_command(rw: &mut Rewriter<'_>, cmd: Node<'_>, options: Options) -> bool {
    let src = rw.src;
    let Some(name_node) = cmd.child_by_field_name("name") else {
        return false;
    };
    let name = text(name_node, src);
    let args = arguments(cmd);
    let redirects = cmd
        .children_by_field_name("redirect", &mut cmd.walk())
        .count();

    if (name == "source" || name == ".") && args.len() == 1 {
        let raw = text(args[0], src).trim_matches(|c| c == '"' || c == '\'');
        if helper_file(raw, &["sh"]) {
            let standalone = cmd.parent().is_some_and(|p| {
                !matches!(
                    p.kind(),
                    "list"
                        | "pipeline"
                        | "redirected_statement"
                        | "command_substitution"
                        | "negated_command"
                )
            });
            if standalone {
                // At the top the line goes; inside a block (`then`, `do`, a function) a `:`
                // keeps a block that held only this line valid.
                let top = cmd.parent().is_some_and(|p| p.kind() == "program");
                rw.remove_or_empty(
                    cmd.start_byte(),
                    cmd.end_byte(),
                    top,
                    ":",
                    format!(
                        "removed `{}`: the runtime defines the helpers before the script starts",
                        text(cmd, src)
                    ),
                );
            } else {
                rw.review(
                    cmd.start_byte(),
                    "loads the old cronium.sh inside a longer command; the file no longer exists and the runtime defines the helpers: remove the `source` by hand",
                );
            }
            return true;
        }
    }

    if name == "cat" && args.len() == 1 && redirects == 0 {
        if let Some(g) = value(args[0], src)
            .and_then(|v| data_file(&v))
            .and_then(getter)
        {
            rw.replace(
                cmd.start_byte(),
                cmd.end_byte(),
                g.into(),
                format!("`cat` of the old JSON file is now {g}"),
            );
            return true;
        }
    }

    if name == "jq" && args.len() >= 2 && redirects == 0 {
        let last = args[args.len() - 1];
        if value(last, src).as_deref().and_then(data_file) == Some("event.json") {
            if let Some(field) = jq_field(cmd, src, 1) {
                rw.replace(
                    cmd.start_byte(),
                    cmd.end_byte(),
                    format!("cronium_event {field}"),
                    "reading a field of event.json is now cronium_event FIELD".into(),
                );
                return true;
            }
        }
        if let Some(g) = value(last, src)
            .and_then(|v| data_file(&v))
            .and_then(getter)
        {
            let others_clean = args[..args.len() - 1]
                .iter()
                .all(|a| value(*a, src).and_then(|v| data_file(&v)).is_none());
            if others_clean {
                let head = src[cmd.start_byte()..last.start_byte()].trim_end();
                rw.replace(
                    cmd.start_byte(),
                    cmd.end_byte(),
                    format!("{g} | {head}"),
                    format!("jq on the old JSON file now reads {g}"),
                );
                return true;
            }
        }
    }

    if options.modernize {
        if let Some(helper) = find(Language::Bash, name) {
            match helper.modernize {
                Modernize::Rename | Modernize::RenameStatement | Modernize::RenameBool => rw
                    .replace(
                        name_node.start_byte(),
                        name_node.end_byte(),
                        helper.today.into(),
                        format!("{} is now {}", helper.old, helper.today),
                    ),
                Modernize::Review => rw.review(
                    cmd.start_byte(),
                    format!("{} kept: {}", helper.old, helper.semantics),
                ),
                Modernize::Keep => {}
            }
        }
    }
    false
}

/// `CMD > output.json` → `CMD | cronium_output`; `echo '{"condition": X}' > condition.json`
/// → `cronium_set_condition X`; `CMD < input.json` → `cronium_input | CMD`.
fn rewrite_redirect(rw: &mut Rewriter<'_>, n: Node<'_>) -> bool {
    let src = rw.src;
    let redirects: Vec<Node<'_>> = n
        .children_by_field_name("redirect", &mut n.walk())
        .collect();
    let Some(body) = n.child_by_field_name("body") else {
        return false;
    };
    if redirects.len() != 1 || redirects[0].kind() != "file_redirect" {
        return false;
    }
    let r = redirects[0];
    if r.child_by_field_name("descriptor").is_some() {
        return false;
    }
    let Some(file) = destination_file(r, src) else {
        return false;
    };
    let op = operator(r, src);
    let body_text = text(body, src);
    let replacement = match (op.as_str(), file) {
        (">" | ">|", "output.json") => Some(format!("{body_text} | cronium_output")),
        (">" | ">|", "condition.json") => {
            condition_value(body, src).map(|v| format!("cronium_set_condition {v}"))
        }
        ("<", _) => getter(file).map(|g| format!("{g} | {body_text}")),
        _ => None,
    };
    match replacement {
        Some(r) => {
            rw.replace(
                n.start_byte(),
                n.end_byte(),
                r,
                format!("the redirection to/from {file} is now a helper call"),
            );
            true
        }
        None => false,
    }
}

/// `echo '{"condition": X}'` / `echo "{\"condition\": $X}"`: X as a helper argument.
fn condition_value(body: Node<'_>, src: &str) -> Option<String> {
    if body.kind() != "command" {
        return None;
    }
    let name = text(body.child_by_field_name("name")?, src);
    let args = arguments(body);
    if !matches!(name, "echo" | "printf") || args.len() != 1 {
        return None;
    }
    let arg = args[0];
    let t = text(arg, src);
    let inner = match arg.kind() {
        "raw_string" => t[1..t.len() - 1].to_owned(),
        "string" => t[1..t.len() - 1].replace("\\\"", "\""),
        _ => return None,
    };
    let inner = inner.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let (key, v) = inner.split_once(':')?;
    if key.trim() != "\"condition\"" {
        return None;
    }
    let v = v.trim();
    if v == "true" || v == "false" {
        return Some(v.to_owned());
    }
    // One expansion ($X, ${X}, $(...)) from a double-quoted string.
    let expansions: Vec<Node<'_>> = named(arg)
        .into_iter()
        .filter(|p| {
            matches!(
                p.kind(),
                "simple_expansion" | "expansion" | "command_substitution"
            )
        })
        .collect();
    let expansion =
        arg.kind() == "string" && expansions.len() == 1 && text(expansions[0], src) == v;
    expansion.then(|| format!("\"{v}\""))
}

/// `jq -r '.FIELD'` (plus `skip_last` trailing file arguments): the field, when it is a
/// plain top-level name; `cronium_event FIELD` prints it the same way (strings raw) and
/// answers the old names (`name`, `id`, `type`) too.
fn jq_field(cmd: Node<'_>, src: &str, skip_last: usize) -> Option<String> {
    if cmd.child_by_field_name("name").map(|x| text(x, src)) != Some("jq") {
        return None;
    }
    let args = arguments(cmd);
    let args = &args[..args.len().checked_sub(skip_last)?];
    let (filter, flags) = args.split_last()?;
    if flags.len() != 1 || value(flags[0], src).as_deref() != Some("-r") {
        return None;
    }
    let f = value(*filter, src)?;
    let field = f.strip_prefix('.')?;
    (!field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| field.to_owned())
}
