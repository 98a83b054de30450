//! Node.js: the `require('./cronium.js')` / `import ... from './cronium.js'` lines the old
//! runner prepended (the runtime now preloads the global `cronium`, with the old helpers'
//! synchronous calls), `fs` reads and writes of the old JSON files, and (with
//! `--modernize`) the old names the table renames.

use cronium_protocol::helpers::{find, Language, Modernize};
use tree_sitter::Node;

use crate::ts::{bound_names, named, parse, text, walk};
use crate::{
    data_file, helper_file, mentioned_data_file, renamed_event_field, MigrateError, Options,
    Rewriter,
};

pub(crate) fn migrate(rw: &mut Rewriter<'_>, options: Options) -> Result<(), MigrateError> {
    let src = rw.src;
    let tree = parse(tree_sitter_javascript::LANGUAGE.into(), src)?;
    let root = tree.root_node();

    // A script that binds `cronium` to today's (asynchronous) package: the rewritten calls
    // would return promises there, so file uses are only reported.
    let mut async_package = false;
    walk(root, &mut |n| {
        if let Some(path) = module_path(n, src) {
            if path == "cronium" || path == "@cronium/sdk" {
                async_package = true;
            }
        }
        true
    });

    walk(root, &mut |n| {
        match n.kind() {
            "lexical_declaration" | "variable_declaration" => {
                let decls = named(n)
                    .into_iter()
                    .filter(|d| d.kind() == "variable_declarator")
                    .collect::<Vec<_>>();
                if decls.len() == 1 {
                    if let Some(value) = decls[0].child_by_field_name("value") {
                        if require_path(value, src).as_deref().is_some_and(is_helper) {
                            let name = decls[0]
                                .child_by_field_name("name")
                                .map_or("", |x| text(x, src));
                            if name == "cronium" {
                                rw.remove_or_empty(
                                    n.start_byte(),
                                    n.end_byte(),
                                    in_statement_list(n),
                                    ";",
                                    "removed the require of the old ./cronium.js: the runtime provides the global `cronium`".into(),
                                );
                            } else {
                                rw.replace(
                                    value.start_byte(),
                                    value.end_byte(),
                                    "globalThis.cronium".into(),
                                    "the old ./cronium.js is now the runtime's global `cronium`"
                                        .into(),
                                );
                            }
                            return false;
                        }
                    }
                }
            }
            "expression_statement" => {
                if let Some(call) = named(n).into_iter().next() {
                    if require_path(call, src).as_deref().is_some_and(is_helper) {
                        rw.remove_or_empty(
                            n.start_byte(),
                            n.end_byte(),
                            in_statement_list(n),
                            ";",
                            "removed the require of the old ./cronium.js: the runtime provides the global `cronium`".into(),
                        );
                        return false;
                    }
                }
            }
            "import_statement" => {
                let source = n
                    .child_by_field_name("source")
                    .and_then(|s| string_value(s, src));
                if source.as_deref().is_some_and(is_helper) {
                    let clause = named(n).into_iter().find(|c| c.kind() == "import_clause");
                    let binding = clause.and_then(|c| {
                        let parts = named(c);
                        match parts.as_slice() {
                            [one] if one.kind() == "identifier" => Some(text(*one, src).to_owned()),
                            [one] if one.kind() == "namespace_import" => {
                                named(*one).first().map(|x| text(*x, src).to_owned())
                            }
                            _ => None,
                        }
                    });
                    match (clause.is_some(), binding.as_deref()) {
                        (false, _) | (true, Some("cronium")) => rw.remove_statement(
                            n.start_byte(),
                            n.end_byte(),
                            "removed the import of the old ./cronium.js: the runtime provides the global `cronium`".into(),
                        ),
                        (true, Some(other)) => rw.replace_statement(
                            n.start_byte(),
                            n.end_byte(),
                            &format!("const {other} = globalThis.cronium;"),
                            "the old ./cronium.js is now the runtime's global `cronium`".into(),
                        ),
                        (true, None) => rw.review(
                            n.start_byte(),
                            "imports names from the old ./cronium.js, which no longer exists: use the global `cronium` (e.g. cronium.getVariable)",
                        ),
                    }
                    return false;
                }
            }
            "call_expression" if !async_package && rewrite_file_call(rw, n) => return false,
            "string" | "template_string" => {
                let file = string_value(n, src)
                    .and_then(|s| data_file(&s))
                    .or_else(|| mentioned_data_file(text(n, src)));
                if let Some(file) = file {
                    if !rw.touched(n.start_byte(), n.end_byte()) {
                        let why = if async_package {
                            format!("uses {file} directly in a script that loads today's asynchronous `cronium` package; rewrite it by hand with await (see docs/migrate.md)")
                        } else {
                            direct_use_reason(file)
                        };
                        rw.review(n.start_byte(), why);
                    }
                }
            }
            _ => {}
        }
        true
    });
    // Modernizing works on calls the script itself makes: when this pass rewrote anything
    // else, the next pass (see `crate::migrate`) modernizes the rewritten script.
    if options.modernize && !async_package && !rw.has_edits() {
        modernize(rw, root);
    }
    event_fields(rw, root);
    Ok(())
}

/// `cronium.event().name` (and `ev.name`, `ev['name']` where `const ev = cronium.event()`):
/// the field is `eventName` today.
fn event_fields(rw: &mut Rewriter<'_>, root: Node<'_>) {
    let src = rw.src;
    let is_event_call = |n: Node<'_>| {
        let n = unwrap_await(n);
        n.kind() == "call_expression"
            && matches!(
                n.child_by_field_name("function").map(|f| text(f, src)),
                Some("cronium.event" | "cronium.getEventContext")
            )
            && args(n).is_empty()
    };
    let names = bound_names(
        root,
        src,
        ("variable_declarator", "name", "value"),
        is_event_call,
    );
    let is_event = |n: Node<'_>| {
        is_event_call(n) || (n.kind() == "identifier" && names.iter().any(|x| x == text(n, src)))
    };
    walk(root, &mut |n| {
        match n.kind() {
            "member_expression" if n.child_by_field_name("object").is_some_and(is_event) => {
                if let Some(p) = n.child_by_field_name("property") {
                    if let Some(new) = renamed_event_field(text(p, src)) {
                        let old = text(p, src).to_owned();
                        rw.replace(
                            p.start_byte(),
                            p.end_byte(),
                            new.into(),
                            format!("the event field '{old}' is '{new}' today"),
                        );
                    }
                }
            }
            "subscript_expression" if n.child_by_field_name("object").is_some_and(is_event) => {
                if let Some(k) = n.child_by_field_name("index") {
                    if let Some(new) = string_value(k, src)
                        .as_deref()
                        .and_then(renamed_event_field)
                    {
                        let q = &text(k, src)[..1];
                        rw.replace(
                            k.start_byte(),
                            k.end_byte(),
                            format!("{q}{new}{q}"),
                            format!("the event field is '{new}' today"),
                        );
                    }
                }
            }
            _ => {}
        }
        true
    });
}

/// Whether a statement sits in a list of statements (removing it leaves valid code).
fn in_statement_list(n: Node<'_>) -> bool {
    n.parent().is_some_and(|p| {
        matches!(
            p.kind(),
            "program" | "statement_block" | "switch_case" | "switch_default"
        )
    })
}

/// `(await x)` → `x`: the Go-era asynchronous SDK's `(await cronium.event())` is the same
/// object as the global's `cronium.event()`.
fn unwrap_await(mut n: Node<'_>) -> Node<'_> {
    while matches!(n.kind(), "parenthesized_expression" | "await_expression") {
        match named(n).into_iter().next() {
            Some(inner) => n = inner,
            None => break,
        }
    }
    n
}

fn is_helper(path: &str) -> bool {
    (path.starts_with('.') || path.starts_with('/')) && helper_file(path, &["js", "cjs", "mjs"])
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

/// A string literal's value (a template string only without substitutions).
fn string_value(n: Node<'_>, src: &str) -> Option<String> {
    match n.kind() {
        "string" | "template_string" => {
            let parts = named(n);
            if parts.iter().any(|p| p.kind() != "string_fragment") {
                return None;
            }
            Some(parts.iter().map(|p| text(*p, src)).collect())
        }
        _ => None,
    }
}

/// `require('PATH')`: the path.
fn require_path(n: Node<'_>, src: &str) -> Option<String> {
    if n.kind() != "call_expression"
        || n.child_by_field_name("function").map(|f| text(f, src)) != Some("require")
    {
        return None;
    }
    let args = named(n.child_by_field_name("arguments")?);
    (args.len() == 1).then(|| string_value(args[0], src))?
}

/// The module a require call or import statement loads.
fn module_path(n: Node<'_>, src: &str) -> Option<String> {
    match n.kind() {
        "call_expression" => require_path(n, src),
        "import_statement" => n
            .child_by_field_name("source")
            .and_then(|s| string_value(s, src)),
        _ => None,
    }
}

fn method<'t>(call: Node<'t>, src: &str) -> Option<(Node<'t>, String)> {
    let f = call.child_by_field_name("function")?;
    if f.kind() != "member_expression" {
        return None;
    }
    let object = f.child_by_field_name("object")?;
    let property = text(f.child_by_field_name("property")?, src).to_owned();
    Some((object, property))
}

fn args<'t>(call: Node<'t>) -> Vec<Node<'t>> {
    call.child_by_field_name("arguments")
        .map(named)
        .unwrap_or_default()
}

/// `fs.readFileSync('FILE', ...)` (optionally `.toString()`): the data file.
fn read_file_sync(n: Node<'_>, src: &str) -> Option<&'static str> {
    let mut n = n;
    if let Some((object, m)) = method(n, src) {
        if m == "toString" && args(n).is_empty() {
            n = object;
        }
    }
    let (_, m) = method(n, src).or_else(|| {
        (n.child_by_field_name("function").map(|f| text(f, src)) == Some("readFileSync"))
            .then(|| (n, "readFileSync".to_owned()))
    })?;
    if m != "readFileSync" || n.kind() != "call_expression" {
        return None;
    }
    let a = args(n);
    data_file(&string_value(*a.first()?, src)?)
}

/// Rewrites `JSON.parse(fs.readFileSync('input.json', 'utf8'))`, `require('./input.json')`
/// and `fs.writeFileSync('output.json' | 'condition.json', JSON.stringify(...))`.
fn rewrite_file_call(rw: &mut Rewriter<'_>, n: Node<'_>) -> bool {
    let src = rw.src;
    let func = n
        .child_by_field_name("function")
        .map_or("", |f| text(f, src));
    let getter = |file: &str| match file {
        "input.json" => Some("input"),
        "event.json" => Some("event"),
        _ => None,
    };
    if func == "JSON.parse" {
        let a = args(n);
        if a.len() == 1 {
            if let Some(g) = read_file_sync(a[0], src).and_then(getter) {
                rw.replace(
                    n.start_byte(),
                    n.end_byte(),
                    format!("cronium.{g}()"),
                    format!("reading the old JSON file is now cronium.{g}()"),
                );
                return true;
            }
        }
        return false;
    }
    if let Some(path) = require_path(n, src) {
        if let Some(g) = data_file(&path).and_then(getter) {
            if path.starts_with('.') || path.starts_with('/') {
                rw.replace(
                    n.start_byte(),
                    n.end_byte(),
                    format!("cronium.{g}()"),
                    format!("require of the old {path} is now cronium.{g}()"),
                );
                return true;
            }
        }
        return false;
    }
    let Some((_, m)) = method(n, src) else {
        return false;
    };
    if m != "writeFileSync" {
        return false;
    }
    let a = args(n);
    let Some(file) = a
        .first()
        .and_then(|f| string_value(*f, src))
        .and_then(|s| data_file(&s))
    else {
        return false;
    };
    let Some(payload) = a.get(1).filter(|p| p.kind() == "call_expression") else {
        return false;
    };
    if payload
        .child_by_field_name("function")
        .map(|f| text(f, src))
        != Some("JSON.stringify")
    {
        return false;
    }
    let Some(value) = args(*payload).first().copied() else {
        return false;
    };
    let replacement = match file {
        "output.json" => Some(format!("cronium.output({})", text(value, src))),
        "condition.json" if value.kind() == "object" => {
            let members = named(value);
            match members.as_slice() {
                [m] if m.kind() == "shorthand_property_identifier"
                    && text(*m, src) == "condition" =>
                {
                    Some("cronium.setCondition(condition)".to_owned())
                }
                [m] if m.kind() == "pair" => {
                    let key = m.child_by_field_name("key");
                    let key = key
                        .map(|k| string_value(k, src).unwrap_or_else(|| text(k, src).to_owned()));
                    (key.as_deref() == Some("condition"))
                        .then(|| {
                            m.child_by_field_name("value")
                                .map(|v| format!("cronium.setCondition({})", text(v, src)))
                        })
                        .flatten()
                }
                _ => None,
            }
        }
        _ => None,
    };
    match replacement {
        Some(r) => {
            rw.replace(
                n.start_byte(),
                n.end_byte(),
                r,
                format!("writing {file} is now a cronium call"),
            );
            true
        }
        None => false,
    }
}

/// `--modernize`: moves a script from the global `cronium` (synchronous, the old helpers'
/// answers) to today's package: `require('cronium')` (or `import * as cronium` in an ES
/// module) and `await` on every call, keeping each old answer: `input()` gave `{}` when
/// there was none, `getVariable` gave `null` for a missing key, `setCondition` took any
/// value's truthiness. Only when every call is in an `async` function (or at the top of an
/// ES module): otherwise the script is left on the global, and reported.
fn modernize(rw: &mut Rewriter<'_>, root: Node<'_>) {
    let src = rw.src;
    let esm = named(root)
        .iter()
        .any(|n| matches!(n.kind(), "import_statement" | "export_statement"));
    let mut calls = Vec::new();
    let mut blocked: Option<(usize, String)> = None;
    walk(root, &mut |n| {
        if n.kind() != "call_expression" {
            return true;
        }
        let Some((object, name)) = method(n, src) else {
            return true;
        };
        if object.kind() != "identifier" || text(object, src) != "cronium" {
            return true;
        }
        if n.parent().is_some_and(|p| p.kind() == "await_expression") {
            // Already awaited: written for the asynchronous SDK.
            blocked.get_or_insert((
                n.start_byte(),
                "already uses await on the global `cronium`; left as it is".into(),
            ));
            return true;
        }
        let helper = find(Language::Node, &name);
        match helper.map(|h| h.modernize) {
            Some(Modernize::Review) | None
                if !matches!(
                    name.as_str(),
                    "getContext" | "getEventContext" | "getOutput"
                ) =>
            {
                blocked.get_or_insert((
                    n.start_byte(),
                    format!("cronium.{name} has no mechanical move to the asynchronous package"),
                ));
            }
            _ => {}
        }
        if !in_async_context(n, esm) {
            blocked.get_or_insert((
                n.start_byte(),
                format!("cronium.{name} is called outside an async function; the script stays on the global `cronium` (synchronous) — make the function async to move it to `await cronium...`"),
            ));
        }
        let used = n
            .parent()
            .is_none_or(|p| p.kind() != "expression_statement");
        if used && matches!(name.as_str(), "setVariable" | "setCondition") {
            blocked.get_or_insert((n.start_byte(), format!("the value of cronium.{name} is used; the asynchronous call answers differently")));
        }
        calls.push((n, name));
        true
    });
    if let Some((at, why)) = blocked {
        rw.review(at, format!("--modernize: {why}"));
        return;
    }
    if calls.is_empty() {
        return;
    }
    // Inserted around each call (never replacing it), so calls nested in another's
    // arguments are moved too.
    for (call, name) in &calls {
        let (start, end) = (call.start_byte(), call.end_byte());
        let why = format!("cronium.{name}(...) now awaits today's package");
        let statement = call
            .parent()
            .is_some_and(|p| p.kind() == "expression_statement");
        let (before, after) = match name.as_str() {
            "input" => ("((await ", ") ?? {})"),
            "getVariable" => ("((await ", ") ?? null)"),
            _ if statement => ("await ", ""),
            _ => ("(await ", ")"),
        };
        rw.insert(start, before.into(), why);
        if !after.is_empty() {
            rw.insert_closing(end, after.into());
        }
        if matches!(name.as_str(), "event" | "getEventContext") {
            if let Some(p) = call
                .child_by_field_name("function")
                .and_then(|f| f.child_by_field_name("property"))
            {
                rw.replace(
                    p.start_byte(),
                    p.end_byte(),
                    "getContext".into(),
                    format!("cronium.{name} is cronium.getContext today"),
                );
            }
        }
        if name == "setCondition" {
            let arg = args(*call).first().copied();
            let boolean = arg.is_some_and(|x| {
                matches!(x.kind(), "true" | "false")
                    || (x.kind() == "unary_expression" && text(x, src).starts_with('!'))
                    || (x.kind() == "binary_expression"
                        && ["<", ">", "<=", ">=", "==", "===", "!=", "!=="]
                            .iter()
                            .any(|op| {
                                x.child_by_field_name("operator")
                                    .is_some_and(|o| text(o, src) == *op)
                            }))
            });
            if let (Some(x), false) = (arg, boolean) {
                rw.insert(
                    x.start_byte(),
                    "Boolean(".into(),
                    "setCondition takes a boolean today".into(),
                );
                rw.insert_closing(x.end_byte(), ")".into());
            }
        }
    }
    // The binding, after a shebang and a 'use strict'.
    let mut at = if src.starts_with("#!") {
        src.find('\n').map_or(src.len(), |i| i + 1)
    } else {
        0
    };
    if let Some(first) = named(root)
        .into_iter()
        .find(|n| n.kind() != "hash_bang_line" && n.kind() != "comment")
    {
        if first.kind() == "expression_statement" && text(first, src).contains("use strict") {
            at = src[first.end_byte()..]
                .find('\n')
                .map_or(src.len(), |i| first.end_byte() + i + 1);
        }
    }
    let line = if esm {
        "import * as cronium from 'cronium';\n"
    } else {
        "const cronium = require('cronium');\n"
    };
    rw.insert(
        at,
        line.into(),
        "today's `cronium` package replaces the global".into(),
    );
}

/// Whether `await` is allowed at a node: inside an async function, or at the top of an ES
/// module.
fn in_async_context(n: Node<'_>, esm: bool) -> bool {
    let mut cur = n.parent();
    while let Some(p) = cur {
        if matches!(
            p.kind(),
            "function_declaration"
                | "function_expression"
                | "arrow_function"
                | "method_definition"
                | "generator_function_declaration"
                | "generator_function"
        ) {
            let mut c = p.walk();
            let is_async = p
                .children(&mut c)
                .any(|x| !x.is_named() && x.kind() == "async");
            return is_async;
        }
        cur = p.parent();
    }
    esm
}
