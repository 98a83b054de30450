//! Python: `from cronium import cronium` and the `sys.path` line that let it find a
//! `cronium.py` beside the script, `json.load` of the old files, and (with `--modernize`)
//! the camelCase helper names.

use cronium_protocol::helpers::{find, Language, Modernize};
use tree_sitter::Node;

use crate::ts::{bound_names, named, parse, text, walk};
use crate::{data_file, mentioned_data_file, renamed_event_field, MigrateError, Options, Rewriter};

pub(crate) fn migrate(rw: &mut Rewriter<'_>, options: Options) -> Result<(), MigrateError> {
    let src = rw.src;
    let tree = parse(tree_sitter_python::LANGUAGE.into(), src)?;
    let root = tree.root_node();
    let mut added_calls = false;

    // Injected loading lines.
    let top = named(root);
    for (i, stmt) in top.iter().enumerate() {
        if stmt.kind() == "import_from_statement" && is_cronium_module(*stmt, src) {
            let names: Vec<Node<'_>> = stmt
                .children_by_field_name("name", &mut stmt.walk())
                .collect();
            if names.len() == 1 {
                let n = names[0];
                let replacement = match n.kind() {
                    "dotted_name" if text(n, src) == "cronium" => Some("import cronium".to_owned()),
                    "aliased_import" => {
                        let name = n.child_by_field_name("name").map(|x| text(x, src));
                        let alias = n.child_by_field_name("alias").map(|x| text(x, src));
                        match (name, alias) {
                            (Some("cronium"), Some(a)) => Some(format!("import cronium as {a}")),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let Some(r) = replacement {
                    rw.replace(
                        stmt.start_byte(),
                        stmt.end_byte(),
                        r,
                        "`from cronium import cronium` (the old cronium.py's instance) is now `import cronium`".into(),
                    );
                }
            }
        }
        // `sys.path.insert(0, '.')` right before the cronium import: it only served to find
        // the cronium.py the old runner copied beside the script.
        if is_sys_path_call(*stmt, src)
            && top[i + 1..]
                .iter()
                .find(|s| !is_sys_path_call(**s, src))
                .is_some_and(|next| imports_cronium(*next, src))
        {
            rw.remove_statement(
                stmt.start_byte(),
                stmt.end_byte(),
                "removed the sys.path line that found the old cronium.py beside the script".into(),
            );
        }
    }

    // Direct use of the old JSON files.
    walk(root, &mut |n| {
        match n.kind() {
            "with_statement" if rewrite_with(rw, n) => {
                added_calls = true;
                return false;
            }
            "call" => {
                if let Some(call) = json_load_open(n, src) {
                    let file = call.1;
                    if let Some(g) = getter(file) {
                        rw.replace(
                            n.start_byte(),
                            n.end_byte(),
                            format!("cronium.{g}()"),
                            format!("json.load(open('{file}')) is now cronium.{g}()"),
                        );
                        added_calls = true;
                        return false;
                    }
                }
                if let Some(code) = json_dump_open(n, src) {
                    rw.replace(
                        n.start_byte(),
                        n.end_byte(),
                        code,
                        "json.dump(..., open(...)) of the old file is now a cronium call".into(),
                    );
                    added_calls = true;
                    return false;
                }
                if options.modernize {
                    modernize_call(rw, n);
                }
            }
            "string" => {
                let file = string_value(n, src)
                    .and_then(|s| data_file(&s))
                    .or_else(|| mentioned_data_file(text(n, src)));
                if let Some(file) = file {
                    if !rw.touched(n.start_byte(), n.end_byte()) {
                        rw.review(n.start_byte(), direct_use_reason(file));
                    }
                }
            }
            _ => {}
        }
        true
    });

    event_fields(rw, root);

    // `sys` imported only for the removed sys.path line.
    if let Some(import_sys) = top.iter().find(|s| {
        s.kind() == "import_statement"
            && text(**s, src).split_whitespace().collect::<Vec<_>>() == ["import", "sys"]
    }) {
        let mut used = false;
        walk(root, &mut |n| {
            if n.kind() == "identifier"
                && text(n, src) == "sys"
                && !(n.start_byte() >= import_sys.start_byte()
                    && n.end_byte() <= import_sys.end_byte())
                && !rw.touched(n.start_byte(), n.end_byte())
            {
                used = true;
            }
            !used
        });
        let removed_path_line = top
            .iter()
            .any(|s| is_sys_path_call(*s, src) && rw.touched(s.start_byte(), s.end_byte()));
        if !used && removed_path_line {
            rw.remove_statement(
                import_sys.start_byte(),
                import_sys.end_byte(),
                "removed `import sys`, used only by the removed sys.path line".into(),
            );
        }
    }

    if added_calls
        && !top.iter().any(|s| {
            imports_cronium(*s, src) && !rw.touched(s.start_byte(), s.end_byte())
                || is_replaced_import(rw, *s, src)
        })
    {
        // Under `cronium run` the module is also a builtin, but an explicit import keeps the
        // script runnable anywhere the module is installed.
        let at = insertion_point(&top, src);
        rw.insert(
            at,
            "import cronium\n".into(),
            "added `import cronium` for the calls that replace the JSON files".into(),
        );
    }
    Ok(())
}

fn is_replaced_import(rw: &Rewriter<'_>, stmt: Node<'_>, src: &str) -> bool {
    stmt.kind() == "import_from_statement"
        && is_cronium_module(stmt, src)
        && rw.touched(stmt.start_byte(), stmt.end_byte())
}

/// Where to add `import cronium`: after a module docstring and `from __future__` imports.
fn insertion_point(top: &[Node<'_>], src: &str) -> usize {
    let mut at = 0;
    for (i, s) in top.iter().enumerate() {
        let docstring = i == 0
            && s.kind() == "expression_statement"
            && named(*s).first().is_some_and(|c| c.kind() == "string");
        let future = s.kind() == "future_import_statement";
        if docstring || future {
            at = src[s.end_byte()..]
                .find('\n')
                .map_or(src.len(), |j| s.end_byte() + j + 1);
        } else {
            break;
        }
    }
    if at == 0 {
        // After a shebang and coding comments.
        for line in src.split_inclusive('\n') {
            if line.starts_with('#') {
                at += line.len();
            } else {
                break;
            }
        }
    }
    at
}

fn is_cronium_module(stmt: Node<'_>, src: &str) -> bool {
    stmt.child_by_field_name("module_name")
        .is_some_and(|m| text(m, src) == "cronium")
}

fn imports_cronium(stmt: Node<'_>, src: &str) -> bool {
    match stmt.kind() {
        "import_from_statement" => is_cronium_module(stmt, src),
        "import_statement" => stmt
            .children_by_field_name("name", &mut stmt.walk())
            .any(|n| {
                let name = if n.kind() == "aliased_import" {
                    n.child_by_field_name("name").map_or("", |x| text(x, src))
                } else {
                    text(n, src)
                };
                name == "cronium"
            }),
        _ => false,
    }
}

fn is_sys_path_call(stmt: Node<'_>, src: &str) -> bool {
    if stmt.kind() != "expression_statement" {
        return false;
    }
    let Some(call) = named(stmt)
        .into_iter()
        .next()
        .filter(|c| c.kind() == "call")
    else {
        return false;
    };
    call.child_by_field_name("function")
        .is_some_and(|f| matches!(text(f, src), "sys.path.insert" | "sys.path.append"))
}

/// The getter that replaces reading a data file.
fn getter(file: &str) -> Option<&'static str> {
    match file {
        "input.json" => Some("input"),
        "event.json" => Some("event"),
        _ => None,
    }
}

fn direct_use_reason(file: &str) -> String {
    let today = match file {
        "input.json" => "cronium.input()",
        "output.json" => "cronium.output(data)",
        "event.json" => "cronium.event()",
        "condition.json" => "cronium.setCondition(value)",
        _ => "cronium.getVariable(key) / cronium.setVariable(key, value) per variable",
    };
    format!("uses {file} directly in a form not rewritten automatically; the file no longer exists: use {today}")
}

/// The value of a plain string literal (no interpolation).
fn string_value(n: Node<'_>, src: &str) -> Option<String> {
    if n.kind() != "string" {
        return None;
    }
    let parts = named(n);
    if parts.iter().any(|p| p.kind() == "interpolation") {
        return None;
    }
    Some(
        parts
            .iter()
            .filter(|p| p.kind() == "string_content")
            .map(|p| text(*p, src))
            .collect(),
    )
}

/// `open('FILE'[, mode])`: the data file and the mode.
fn open_call(n: Node<'_>, src: &str) -> Option<(&'static str, String)> {
    if n.kind() != "call" || n.child_by_field_name("function").map(|f| text(f, src)) != Some("open")
    {
        return None;
    }
    let args = named(n.child_by_field_name("arguments")?);
    let file = data_file(&string_value(*args.first()?, src)?)?;
    let mut mode = "r".to_owned();
    for a in &args[1..] {
        match a.kind() {
            "string" => mode = string_value(*a, src)?,
            "keyword_argument" => {
                let name = a.child_by_field_name("name").map(|x| text(x, src));
                let value = a.child_by_field_name("value")?;
                match name {
                    Some("mode") => mode = string_value(value, src)?,
                    Some("encoding") => {}
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    Some((file, mode))
}

/// `json.load(open('FILE'))` and `json.loads(open('FILE').read())`.
fn json_load_open<'t>(n: Node<'t>, src: &str) -> Option<(Node<'t>, &'static str)> {
    let function = n.child_by_field_name("function").map(|f| text(f, src));
    let args = named(n.child_by_field_name("arguments")?);
    if args.len() != 1 {
        return None;
    }
    let opened = match function {
        Some("json.load") => args[0],
        Some("json.loads") => {
            // open(...).read()
            let read = args[0];
            let f = read
                .child_by_field_name("function")
                .filter(|f| f.kind() == "attribute")?;
            let no_args = read
                .child_by_field_name("arguments")
                .is_some_and(|a| named(a).is_empty());
            (f.child_by_field_name("attribute").map(|a| text(a, src)) == Some("read") && no_args)
                .then(|| f.child_by_field_name("object"))??
        }
        _ => return None,
    };
    let (file, mode) = open_call(opened, src)?;
    mode.starts_with('r').then_some((n, file))
}

/// `json.dump(VALUE, open('output.json' | 'condition.json', 'w'), ...)`: the call replacing it.
fn json_dump_open(n: Node<'_>, src: &str) -> Option<String> {
    if n.child_by_field_name("function").map(|f| text(f, src)) != Some("json.dump") {
        return None;
    }
    let args = named(n.child_by_field_name("arguments")?);
    if args.len() < 2 || args[0].kind() == "keyword_argument" {
        return None;
    }
    let (file, mode) = open_call(args[1], src)?;
    if !mode.starts_with('w') {
        return None;
    }
    write_call(file, args[0], src).map(|(code, _)| code)
}

/// The call that replaces writing `value` to an old file.
fn write_call(file: &str, value: Node<'_>, src: &str) -> Option<(String, String)> {
    match file {
        "output.json" => Some((
            format!("cronium.output({})", text(value, src)),
            "writing output.json is now cronium.output(...)".to_owned(),
        )),
        "condition.json" => {
            let pairs = named(value);
            let ok = value.kind() == "dictionary" && pairs.len() == 1 && pairs[0].kind() == "pair";
            let pair = ok.then(|| pairs[0])?;
            let key = string_value(pair.child_by_field_name("key")?, src)?;
            let v = pair.child_by_field_name("value")?;
            (key == "condition").then(|| {
                (
                    format!("cronium.setCondition({})", text(v, src)),
                    "writing condition.json is now cronium.setCondition(...)".to_owned(),
                )
            })
        }
        _ => None,
    }
}

/// `with open('FILE'[, 'w']) as f:` holding one statement that reads or writes it.
fn rewrite_with(rw: &mut Rewriter<'_>, n: Node<'_>) -> bool {
    let src = rw.src;
    let Some(clause) = named(n).into_iter().find(|c| c.kind() == "with_clause") else {
        return false;
    };
    let items = named(clause);
    if items.len() != 1 {
        return false;
    }
    let Some(value) = items[0].child_by_field_name("value") else {
        return false;
    };
    if value.kind() != "as_pattern" {
        return false;
    }
    let parts = named(value);
    let (Some(call), Some(alias)) = (parts.first(), value.child_by_field_name("alias")) else {
        return false;
    };
    let Some((file, mode)) = open_call(*call, src) else {
        return false;
    };
    let f = text(alias, src);
    let Some(body) = n.child_by_field_name("body") else {
        return false;
    };
    let stmts = named(body);
    let only = (stmts.len() == 1).then(|| stmts[0]);
    let replacement = only.and_then(|stmt| {
        if mode.starts_with('r') {
            // NAME = json.load(f)  /  NAME = json.loads(f.read())
            let assign = named(stmt)
                .into_iter()
                .next()
                .filter(|a| a.kind() == "assignment")?;
            let right = text(assign.child_by_field_name("right")?, src);
            let left = text(assign.child_by_field_name("left")?, src);
            let reads =
                right == format!("json.load({f})") || right == format!("json.loads({f}.read())");
            let g = getter(file)?;
            reads.then(|| {
                (
                    format!("{left} = cronium.{g}()"),
                    format!("reading {file} is now cronium.{g}()"),
                )
            })
        } else if mode.starts_with('w') {
            // json.dump(VALUE, f, ...)  /  f.write(json.dumps(VALUE, ...))
            let call = named(stmt)
                .into_iter()
                .next()
                .filter(|a| a.kind() == "call")?;
            let func = text(call.child_by_field_name("function")?, src);
            let args = named(call.child_by_field_name("arguments")?);
            let value = if func == "json.dump" && args.len() >= 2 && text(args[1], src) == f {
                args[0]
            } else if func == format!("{f}.write") && args.len() == 1 {
                let inner = args[0];
                (inner.kind() == "call"
                    && inner.child_by_field_name("function").map(|x| text(x, src))
                        == Some("json.dumps"))
                .then(|| {
                    inner
                        .child_by_field_name("arguments")
                        .and_then(|a| named(a).into_iter().next())
                })??
            } else {
                return None;
            };
            if value.kind() == "keyword_argument" {
                return None;
            }
            write_call(file, value, src)
        } else {
            None
        }
    });
    match replacement {
        Some((code, why)) => {
            rw.replace_statement(n.start_byte(), n.end_byte(), &code, why);
            true
        }
        None => false,
    }
}

/// `--modernize`: `cronium.getVariable(...)` → `cronium.get_variable(...)`, per the table.
fn modernize_call(rw: &mut Rewriter<'_>, call: Node<'_>) {
    let src = rw.src;
    let Some(func) = call
        .child_by_field_name("function")
        .filter(|f| f.kind() == "attribute")
    else {
        return;
    };
    let (Some(object), Some(attr)) = (
        func.child_by_field_name("object"),
        func.child_by_field_name("attribute"),
    ) else {
        return;
    };
    if text(object, src) != "cronium" {
        return;
    }
    let Some(helper) = find(Language::Python, text(attr, src)) else {
        return;
    };
    let statement = call
        .parent()
        .is_some_and(|p| p.kind() == "expression_statement");
    match helper.modernize {
        Modernize::Keep => {}
        Modernize::Rename => rw.replace(
            attr.start_byte(),
            attr.end_byte(),
            helper.today.into(),
            format!("cronium.{} is now cronium.{}", helper.old, helper.today),
        ),
        Modernize::RenameStatement if statement => rw.replace(
            attr.start_byte(),
            attr.end_byte(),
            helper.today.into(),
            format!("cronium.{} is now cronium.{}", helper.old, helper.today),
        ),
        Modernize::RenameStatement => rw.review(
            call.start_byte(),
            format!(
                "cronium.{} kept: its value is used and cronium.{} returns something else ({})",
                helper.old, helper.today, helper.semantics
            ),
        ),
        Modernize::RenameBool => {
            let args = call
                .child_by_field_name("arguments")
                .map(named)
                .unwrap_or_default();
            if args.len() != 1 || args[0].kind() == "keyword_argument" {
                rw.review(
                    call.start_byte(),
                    format!("cronium.{} kept: expected one argument", helper.old),
                );
                return;
            }
            let arg = args[0];
            let boolean = matches!(
                arg.kind(),
                "comparison_operator" | "not_operator" | "true" | "false"
            );
            let arg_text = if boolean {
                text(arg, src).to_owned()
            } else {
                format!("bool({})", text(arg, src))
            };
            rw.replace(
                func.start_byte(),
                call.end_byte(),
                format!("cronium.{}({arg_text})", helper.today),
                format!(
                    "cronium.{}(x) is now cronium.{}(bool)",
                    helper.old, helper.today
                ),
            );
        }
        Modernize::Review => rw.review(
            call.start_byte(),
            format!(
                "cronium.{} has no mechanical rewrite: {}",
                helper.old, helper.semantics
            ),
        ),
    }
}

/// `cronium.event()['name']` (and `ev['name']`, `ev.get('name')` where `ev =
/// cronium.event()`): the field is `eventName` today.
fn event_fields(rw: &mut Rewriter<'_>, root: Node<'_>) {
    let src = rw.src;
    // Clients: the module, and the Go-era SDK's objects (`c = Cronium()`).
    let mut clients: Vec<String> = vec!["cronium".into()];
    walk(root, &mut |n| {
        if n.kind() == "assignment" {
            if let (Some(l), Some(r)) = (
                n.child_by_field_name("left"),
                n.child_by_field_name("right"),
            ) {
                let constructs = r.kind() == "call"
                    && matches!(
                        r.child_by_field_name("function").map(|f| text(f, src)),
                        Some("Cronium" | "cronium.Cronium")
                    );
                if l.kind() == "identifier" && constructs {
                    clients.push(text(l, src).to_owned());
                }
            }
        }
        true
    });
    let is_event_call = |n: Node<'_>| {
        n.kind() == "call"
            && n.child_by_field_name("function").is_some_and(|f| {
                f.kind() == "attribute"
                    && f.child_by_field_name("attribute").map(|a| text(a, src)) == Some("event")
                    && f.child_by_field_name("object")
                        .is_some_and(|o| clients.iter().any(|c| c == text(o, src)))
            })
            && n.child_by_field_name("arguments")
                .is_some_and(|a| named(a).is_empty())
    };
    let names = bound_names(root, src, ("assignment", "left", "right"), is_event_call);
    let is_event = |n: Node<'_>| {
        is_event_call(n) || (n.kind() == "identifier" && names.iter().any(|x| x == text(n, src)))
    };
    walk(root, &mut |n| {
        let key = match n.kind() {
            // ev['name']
            "subscript" if n.child_by_field_name("value").is_some_and(is_event) => {
                n.child_by_field_name("subscript")
            }
            // ev.get('name'[, default])
            "call" => n
                .child_by_field_name("function")
                .filter(|f| f.kind() == "attribute")
                .filter(|f| f.child_by_field_name("object").is_some_and(is_event))
                .filter(|f| f.child_by_field_name("attribute").map(|a| text(a, src)) == Some("get"))
                .and_then(|_| n.child_by_field_name("arguments"))
                .and_then(|a| named(a).into_iter().next()),
            _ => None,
        };
        if let Some(k) = key {
            if let Some(new) = string_value(k, src)
                .as_deref()
                .and_then(renamed_event_field)
            {
                let old = string_value(k, src).unwrap_or_default();
                let q = &text(k, src)[..1];
                rw.replace(
                    k.start_byte(),
                    k.end_byte(),
                    format!("{q}{new}{q}"),
                    format!("the event field '{old}' is '{new}' today"),
                );
            }
        }
        true
    });
}
