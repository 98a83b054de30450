//! `cronium migrate`: rewrites scripts written for Cronium's file-based helpers so they run
//! on the runtime API, in files ([`files`]) and in the script column of Cronium's events
//! table ([`db`]).
//!
//! It works on the syntax tree of each script (tree-sitter grammars for Python, JavaScript
//! and Bash), never on its text: a helper name or `input.json` inside a string or a comment
//! is not code and is never touched. By default only what breaks on the new runtime is
//! changed (the lines that loaded a helper file that no longer exists, and direct reads and
//! writes of the old JSON files); `--modernize` also renames the old helper names to
//! today's, from [`cronium_protocol::OLD_HELPERS`]. What it cannot rewrite safely it leaves
//! and reports with its line and why.

#![forbid(unsafe_code)]

pub mod db;
pub mod files;
mod node;
mod python;
mod shell;

use std::fmt;

pub use cronium_protocol::helpers::Language;

/// What to rewrite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Also rename the old helper names to today's API.
    pub modernize: bool,
}

/// Something left unchanged that a person must look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// 1-based line in the script as it was.
    pub line: usize,
    /// Why it was not rewritten, and what to do.
    pub reason: String,
}

impl fmt::Display for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The result of migrating one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The script after the rewrite (equal to the input when nothing changed).
    pub text: String,
    /// One line per rewrite, e.g. `line 3: removed the line loading ./cronium.js`.
    pub changes: Vec<String>,
    /// What needs a person.
    pub review: Vec<Review>,
}

impl Migrated {
    /// Whether the script text changed.
    pub fn changed(&self, before: &str) -> bool {
        self.text != before
    }
}

/// A script that could not be migrated at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrateError {
    /// The parser found a syntax error: the script is left as it is.
    Parse {
        /// 1-based line of the first error.
        line: usize,
    },
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrateError::Parse { line } => write!(
                f,
                "does not parse (syntax error at line {line}); left unchanged: fix the syntax and run again"
            ),
        }
    }
}

impl std::error::Error for MigrateError {}

/// Migrates one script's text.
pub fn migrate(
    language: Language,
    source: &str,
    options: Options,
) -> Result<Migrated, MigrateError> {
    let mut result = pass(language, source, options)?;
    if result.text != source {
        // The calls that replaced the file uses are written with the old names (the ones
        // the rest of an unmodernized script uses) and their results are not yet followed
        // (event fields); a second pass treats them like the script's own calls, so a later
        // run finds nothing left. Its line numbers are those of the rewritten script, so
        // only its own findings are added.
        let second = pass(language, &result.text, options)?;
        if second.text != result.text {
            result.text = second.text;
            result.changes.extend(second.changes);
        }
        for r in second.review {
            if !result.review.iter().any(|x| x.reason == r.reason) {
                result.review.push(r);
            }
        }
    }
    Ok(result)
}

fn pass(language: Language, source: &str, options: Options) -> Result<Migrated, MigrateError> {
    let mut rw = Rewriter::new(source);
    match language {
        Language::Python => python::migrate(&mut rw, options)?,
        Language::Node => node::migrate(&mut rw, options)?,
        Language::Bash => shell::migrate(&mut rw, options)?,
    }
    Ok(rw.finish())
}

/// The language of a script from a file name's extension, else from its first line.
pub fn detect_language(name: &str, text: &str) -> Option<Language> {
    let ext = name.rsplit_once('.').map(|(_, e)| e);
    match ext {
        Some("py") => return Some(Language::Python),
        Some("js" | "mjs" | "cjs") => return Some(Language::Node),
        Some("sh" | "bash") => return Some(Language::Bash),
        _ => {}
    }
    let line = text.lines().next()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let mut prog = words.next()?.rsplit('/').next()?;
    if prog == "env" {
        prog = words.find(|w| !w.starts_with('-'))?;
    }
    match prog {
        p if p.starts_with("python") => Some(Language::Python),
        "node" | "nodejs" => Some(Language::Node),
        "bash" | "sh" => Some(Language::Bash),
        _ => None,
    }
}

/// The language of an event row from Cronium's `type` column (`PYTHON`, `NODEJS`, `BASH`;
/// `HTTP_REQUEST` events have no script).
pub fn language_of_event_type(value: &str) -> Option<Language> {
    match value.trim().to_ascii_uppercase().as_str() {
        "PYTHON" => Some(Language::Python),
        "NODEJS" | "NODE" | "JAVASCRIPT" => Some(Language::Node),
        "BASH" | "SHELL" => Some(Language::Bash),
        _ => None,
    }
}

/// The event fields whose names changed: the old `event.json` (and the old helpers'
/// `event()`) had `name`, the Go-era SDKs' context `id`, `name` and `type`; the runtime's
/// context has `eventId`, `eventName` and `eventType`.
pub(crate) fn renamed_event_field(old: &str) -> Option<&'static str> {
    // `id` and `type` are the Go-era SDKs' context fields.
    match old {
        "name" => Some("eventName"),
        "id" => Some("eventId"),
        "type" => Some("eventType"),
        _ => None,
    }
}

/// The old data files the file-based helpers and their scripts read and wrote beside the
/// script.
pub(crate) const DATA_FILES: [&str; 5] = [
    "input.json",
    "output.json",
    "event.json",
    "condition.json",
    "variables.json",
];

/// The data file a path names (`input.json`, `./input.json`, `/tmp/x/input.json`).
pub(crate) fn data_file(path: &str) -> Option<&'static str> {
    let base = path.rsplit('/').next().unwrap_or(path);
    DATA_FILES.iter().copied().find(|f| *f == base)
}

/// The data file a string literal's source text ends with, also when it is built with
/// interpolation (`f"{d}/input.json"`, `"$DIR/input.json"`, `` `${d}/input.json` ``): such
/// uses are never rewritten, only reported.
pub(crate) fn mentioned_data_file(literal: &str) -> Option<&'static str> {
    let inner = literal.trim_end_matches(['"', '\'', '`']);
    DATA_FILES.iter().copied().find(|f| {
        inner
            .strip_suffix(f)
            .is_some_and(|head| head.is_empty() || head.ends_with(['/', '}', '"', '\'', '`']))
    })
}

/// Whether a path names an old helper file (`./cronium.js`, `cronium.sh`, ...).
pub(crate) fn helper_file(path: &str, ext: &[&str]) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "cronium" && path.contains('/') || ext.iter().any(|e| base == format!("cronium.{e}"))
}

/// Edits to one source, applied at the end.
pub(crate) struct Rewriter<'s> {
    pub src: &'s str,
    /// (start, end, text, order): `order` places insertions at one offset (see `finish`).
    edits: Vec<(usize, usize, String, i64)>,
    changes: Vec<(usize, String)>,
    review: Vec<Review>,
}

impl<'s> Rewriter<'s> {
    fn new(src: &'s str) -> Self {
        Self {
            src,
            edits: Vec::new(),
            changes: Vec::new(),
            review: Vec::new(),
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, at: usize) -> usize {
        self.src[..at].matches('\n').count() + 1
    }

    /// Whether any edit was made.
    pub fn has_edits(&self) -> bool {
        !self.edits.is_empty()
    }

    /// Whether a range overlaps an edit already made.
    pub fn touched(&self, start: usize, end: usize) -> bool {
        self.edits
            .iter()
            .any(|&(s, e, _, _)| start < e.max(s + 1) && s < end.max(start + 1))
    }

    /// Replaces `start..end`.
    pub fn replace(&mut self, start: usize, end: usize, text: String, why: String) {
        if self.touched(start, end) {
            return;
        }
        let line = self.line_of(start);
        self.edits.push((start, end, text, 0));
        self.changes.push((line, why));
    }

    /// Inserts text at an offset.
    /// Inserts text at an offset (an empty `why` records no change line: the second half
    /// of a pair).
    pub fn insert(&mut self, at: usize, text: String, why: String) {
        self.insert_ordered(at, text, why, false);
    }

    /// Inserts the closing half of a pair (`)` after a call): at one offset, the closing
    /// text of an inner node comes before an outer one's, while opening texts come in the
    /// order they were made (outer first; the walk visits parents first).
    pub fn insert_closing(&mut self, at: usize, text: String) {
        self.insert_ordered(at, text, String::new(), true);
    }

    fn insert_ordered(&mut self, at: usize, text: String, why: String, closing: bool) {
        let line = self.line_of(at);
        let n = i64::try_from(self.edits.len()).unwrap_or(i64::MAX);
        // Applied in ascending `order` at one offset, and each insertion lands before the
        // ones applied earlier: openings apply last-made first, closings first-made first.
        let order = if closing { n } else { -n };
        self.edits.push((at, at, text, order));
        if !why.is_empty() {
            self.changes.push((line, why));
        }
    }

    /// Removes a statement: its whole line when it stands alone on it.
    pub fn remove_statement(&mut self, start: usize, end: usize, why: String) {
        let (s, mut e) = self.whole_line(start, end);
        // The old runner prepended its loading line followed by a blank line: at the top
        // of the script (after a shebang at most) that blank line goes too.
        let before = &self.src[..s];
        let at_top =
            before.is_empty() || (before.starts_with("#!") && before.matches('\n').count() == 1);
        if self.src[s..e].ends_with('\n') && at_top && self.src[e..].starts_with('\n') {
            e += 1;
        }
        self.replace(s, e, String::new(), why);
    }

    /// Removes a statement when its parent holds a list of statements (`in_list`); else
    /// (the only statement of an `if` without braces, say) replaces it with `empty` (`;`,
    /// `:`), so the code around it keeps its meaning and stays valid.
    pub fn remove_or_empty(
        &mut self,
        start: usize,
        end: usize,
        in_list: bool,
        empty: &str,
        why: String,
    ) {
        if in_list {
            self.remove_statement(start, end, why);
        } else {
            self.replace(start, end, empty.to_owned(), why);
        }
    }

    /// Replaces a statement keeping its indentation (`text` may have several lines, each
    /// indented like the statement).
    pub fn replace_statement(&mut self, start: usize, end: usize, text: &str, why: String) {
        let indent = self.indent_at(start);
        let text = text
            .lines()
            .collect::<Vec<_>>()
            .join(&format!("\n{indent}"));
        self.replace(start, end, text, why);
    }

    /// The indentation of the line holding `at`.
    pub fn indent_at(&self, at: usize) -> String {
        let line_start = self.src[..at].rfind('\n').map_or(0, |i| i + 1);
        self.src[line_start..at]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect()
    }

    /// `start..end` widened to whole lines when only blanks (and a `;`) surround it.
    pub fn whole_line(&self, start: usize, end: usize) -> (usize, usize) {
        let line_start = self.src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.src[end..]
            .find('\n')
            .map_or(self.src.len(), |i| end + i + 1);
        let before = &self.src[line_start..start];
        let after = &self.src[end..line_end];
        if before.trim().is_empty() && after.trim().trim_start_matches(';').trim().is_empty() {
            (line_start, line_end)
        } else {
            (start, end)
        }
    }

    /// Reports something left unchanged.
    pub fn review(&mut self, at: usize, reason: impl Into<String>) {
        let line = self.line_of(at);
        let reason = reason.into();
        if !self
            .review
            .iter()
            .any(|r| r.line == line && r.reason == reason)
        {
            self.review.push(Review { line, reason });
        }
    }

    fn finish(mut self) -> Migrated {
        self.edits
            .sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.3.cmp(&b.3)));
        let mut text = self.src.to_owned();
        for (s, e, t, _) in &self.edits {
            text.replace_range(*s..*e, t);
        }
        self.changes.sort_by_key(|c| c.0);
        self.review.sort_by_key(|r| r.line);
        Migrated {
            text,
            changes: self
                .changes
                .into_iter()
                .map(|(line, why)| format!("line {line}: {why}"))
                .collect(),
            review: self.review,
        }
    }
}

/// Tree-sitter helpers shared by the languages.
pub(crate) mod ts {
    use tree_sitter::{Node, Parser, Tree};

    use crate::MigrateError;

    /// Parses, refusing a tree with a syntax error.
    pub fn parse(language: tree_sitter::Language, src: &str) -> Result<Tree, MigrateError> {
        let mut parser = Parser::new();
        parser
            .set_language(&language)
            .map_err(|_| MigrateError::Parse { line: 1 })?;
        let tree = parser
            .parse(src, None)
            .ok_or(MigrateError::Parse { line: 1 })?;
        if tree.root_node().has_error() {
            let mut line = 1;
            walk(tree.root_node(), &mut |n| {
                if (n.is_error() || n.is_missing()) && line == 1 {
                    line = n.start_position().row + 1;
                }
                line == 1
            });
            return Err(MigrateError::Parse { line });
        }
        Ok(tree)
    }

    /// Visits every node, parents first; `f` returns whether to go into the node's children.
    pub fn walk<'t>(node: Node<'t>, f: &mut impl FnMut(Node<'t>) -> bool) {
        if !f(node) {
            return;
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'t>> = node.children(&mut cursor).collect();
        for c in children {
            walk(c, f);
        }
    }

    /// The identifiers bound by a `binding` node (Python `assignment`, JavaScript
    /// `variable_declarator`) whose `value_field` satisfies `is_value`: the names an
    /// old script gave, say, its event object, so later uses of the name are found too.
    pub fn bound_names(
        root: Node<'_>,
        src: &str,
        (binding, name_field, value_field): (&str, &str, &str),
        is_value: impl Fn(Node<'_>) -> bool,
    ) -> Vec<String> {
        let mut names = Vec::new();
        walk(root, &mut |n| {
            if n.kind() == binding {
                if let (Some(l), Some(r)) = (
                    n.child_by_field_name(name_field),
                    n.child_by_field_name(value_field),
                ) {
                    if l.kind() == "identifier" && is_value(r) {
                        names.push(text(l, src).to_owned());
                    }
                }
            }
            true
        });
        names
    }

    /// A node's text.
    pub fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
        &src[node.byte_range()]
    }

    /// The named children.
    pub fn named<'t>(node: Node<'t>) -> Vec<Node<'t>> {
        let mut cursor = node.walk();
        node.named_children(&mut cursor).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(language: Language, src: &str, modernize: bool) -> Migrated {
        migrate(language, src, Options { modernize }).expect("parses")
    }

    #[test]
    fn python_modernize_follows_the_table() {
        let src = "import cronium\nok = cronium.setVariable('a', '1')\ncronium.setVariable('b', 2)\ncronium.setCondition(n)\ncronium.setCondition(n > 1)\nx = cronium.getVariable('a')\n";
        let m = run(Language::Python, src, true);
        assert_eq!(
            m.text,
            "import cronium\nok = cronium.setVariable('a', '1')\ncronium.set_variable('b', 2)\ncronium.set_condition(bool(n))\ncronium.set_condition(n > 1)\nx = cronium.get_variable('a')\n"
        );
        assert_eq!(m.review.len(), 1, "{:?}", m.review);
        assert_eq!(m.review[0].line, 2);
        // Without --modernize a script that runs is left alone.
        assert_eq!(run(Language::Python, src, false).text, src);
    }

    #[test]
    fn python_adds_the_import_after_the_docstring() {
        let src = "\"\"\"Job.\"\"\"\nimport json\nprint(json.load(open('input.json'))['a'])\n";
        let m = run(Language::Python, src, false);
        assert_eq!(
            m.text,
            "\"\"\"Job.\"\"\"\nimport cronium\nimport json\nprint(cronium.input()['a'])\n"
        );
    }

    #[test]
    fn node_other_binding_names_and_imports() {
        let src = "const helpers = require('./cronium.js');\nhelpers.output(1);\n";
        assert_eq!(
            run(Language::Node, src, false).text,
            "const helpers = globalThis.cronium;\nhelpers.output(1);\n"
        );
        // The import goes; --modernize then leaves top-level calls of a CommonJS script on
        // the global (no top-level await there), and says so.
        let esm = "import cronium from './cronium.js';\n\ncronium.output(cronium.event().name);\n";
        let m = run(Language::Node, esm, true);
        assert_eq!(m.text, "cronium.output(cronium.event().eventName);\n");
        assert_eq!(m.review.len(), 1, "{:?}", m.review);
        // Today's asynchronous package: file uses are reported, not rewritten.
        let asynchronous = "const cronium = require('cronium');\nconst fs = require('fs');\nconst d = JSON.parse(fs.readFileSync('input.json', 'utf8'));\n";
        let m = run(Language::Node, asynchronous, false);
        assert_eq!(m.text, asynchronous);
        assert_eq!(m.review.len(), 1);
        assert_eq!(m.review[0].line, 3);
    }

    #[test]
    fn bash_source_inside_a_list_is_reported_not_cut() {
        let src = "source ./cronium.sh || exit 1\necho hi\n";
        let m = run(Language::Bash, src, false);
        assert_eq!(m.text, src);
        assert_eq!(m.review.len(), 1);
        let m = run(
            Language::Bash,
            "source \"/tmp/run 1/cronium.sh\"\ncronium_setCondition yes\n",
            true,
        );
        assert_eq!(m.text, "cronium_set_condition yes\n");
    }

    #[test]
    fn built_paths_are_reported_and_json_loads_is_rewritten() {
        let py = "import json\nd = json.loads(open('input.json').read())\ne = json.load(open(f'{here}/event.json'))\n";
        let m = run(Language::Python, py, false);
        assert!(m.text.contains("d = cronium.input()\n"), "{}", m.text);
        assert_eq!(m.review.len(), 1, "{:?}", m.review);
        assert_eq!(m.review[0].line, 3);
        let sh = "cat \"$DIR/input.json\"\nx=\"input.json.bak\"\n";
        let m = run(Language::Bash, sh, false);
        assert_eq!(m.review.len(), 1, "{:?}", m.review);
        let js = "const p = `${dir}/output.json`;\n";
        assert_eq!(run(Language::Node, js, false).review.len(), 1);
    }

    #[test]
    fn node_modernize_awaits_nested_calls_in_order() {
        let src = "async function f() {\n  cronium.setCondition(cronium.getVariable('x'));\n  cronium.output(cronium.event().name);\n}\nf();\n";
        let m = run(Language::Node, src, true);
        assert_eq!(
            m.text,
            "const cronium = require('cronium');\nasync function f() {\n  await cronium.setCondition(Boolean(((await cronium.getVariable('x')) ?? null)));\n  await cronium.output((await cronium.getContext()).eventName);\n}\nf();\n"
        );
        // A call outside an async function keeps the script on the global.
        let sync = "function f() { return cronium.input(); }\n";
        let m = run(Language::Node, sync, true);
        assert_eq!(m.text, sync);
        assert_eq!(m.review.len(), 1);
        let esm = "import fs from 'node:fs';\nconst x = cronium.input();\n";
        assert_eq!(
            run(Language::Node, esm, true).text,
            "import * as cronium from 'cronium';\nimport fs from 'node:fs';\nconst x = ((await cronium.input()) ?? {});\n"
        );
    }

    #[test]
    fn a_loading_line_that_is_a_whole_block_leaves_it_valid() {
        let sh = "if [ -f ./cronium.sh ]; then\n  source ./cronium.sh\nfi\necho ok\n";
        assert_eq!(
            run(Language::Bash, sh, false).text,
            "if [ -f ./cronium.sh ]; then\n  :\nfi\necho ok\n"
        );
        let js = "if (local) require('./cronium.js');\nrun();\n";
        assert_eq!(
            run(Language::Node, js, false).text,
            "if (local) ;\nrun();\n"
        );
        let js = "function f() {\n  require('./cronium.js');\n  return 1;\n}\n";
        assert_eq!(
            run(Language::Node, js, false).text,
            "function f() {\n  return 1;\n}\n"
        );
    }

    #[test]
    fn python_one_line_writes() {
        let src = "import json\njson.dump({'n': 1}, open('output.json', 'w'))\njson.dump({'condition': ok}, open('condition.json', 'w'))\njson.dump(v, open('variables.json', 'w'))\n";
        let m = run(Language::Python, src, false);
        assert_eq!(
            m.text,
            "import cronium\nimport json\ncronium.output({'n': 1})\ncronium.setCondition(ok)\njson.dump(v, open('variables.json', 'w'))\n"
        );
        assert_eq!(m.review.len(), 1);
        assert_eq!(m.review[0].line, 4);
    }

    #[test]
    fn a_syntax_error_is_reported_with_its_line() {
        let err = migrate(
            Language::Python,
            "import cronium\nif x\n    pass\n",
            Options::default(),
        );
        assert_eq!(err, Err(MigrateError::Parse { line: 2 }));
        assert!(migrate(Language::Node, "const = ;\n", Options::default()).is_err());
    }

    #[test]
    fn languages_from_names_shebangs_and_event_types() {
        assert_eq!(detect_language("a.cjs", ""), Some(Language::Node));
        assert_eq!(
            detect_language("job", "#!/usr/bin/env python3\n"),
            Some(Language::Python)
        );
        assert_eq!(detect_language("notes.txt", "hello"), None);
        assert_eq!(language_of_event_type("NODEJS"), Some(Language::Node));
        assert_eq!(language_of_event_type("HTTP_REQUEST"), None);
    }
}
