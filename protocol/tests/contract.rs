//! `openapi.json` and `docs/API.md` against the protocol crate, in both directions: every
//! route and method (with its scope and operation id), every error code (with its
//! status), every scope. A failure prints the rows to add or remove.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use cronium_protocol::{ErrorCode, Scope, ADMIN_PREFIX, ADMIN_ROUTES, ROUTES};
use serde_json::Value;

/// The committed OpenAPI document, relative to the workspace root. The one place that
/// names it (the sidecar embeds the same file).
const OPENAPI_PATH: &str = "server/openapi.json";
/// The API reference whose tables are checked.
const API_MD_PATH: &str = "docs/API.md";

fn workspace_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Collects every difference of one check, then fails once with all of them.
#[derive(Default)]
struct Report(String);

impl Report {
    fn diff<T: Ord + Clone>(
        &mut self,
        what: &str,
        expected: &BTreeSet<T>,
        found: &BTreeSet<T>,
        show: impl Fn(&T) -> String,
    ) {
        let missing: Vec<_> = expected.difference(found).collect();
        let extra: Vec<_> = found.difference(expected).collect();
        if !missing.is_empty() {
            let _ = writeln!(self.0, "\n{what}: missing (add these):");
            for row in missing {
                let _ = writeln!(self.0, "{}", show(row));
            }
        }
        if !extra.is_empty() {
            let _ = writeln!(
                self.0,
                "\n{what}: not in the protocol crate (remove these, or add them to protocol/src):"
            );
            for row in extra {
                let _ = writeln!(self.0, "{}", show(row));
            }
        }
    }

    fn line(&mut self, text: String) {
        let _ = writeln!(self.0, "{text}");
    }

    fn finish(self, file: &str) {
        assert!(
            self.0.is_empty(),
            "{file} disagrees with the protocol crate:\n{}",
            self.0
        );
    }
}

fn scope_name(scope: Option<Scope>) -> &'static str {
    scope.map_or("-", Scope::as_str)
}

fn server_codes() -> BTreeSet<(u16, &'static str)> {
    ErrorCode::ALL
        .iter()
        .filter_map(|c| c.status().map(|s| (s, c.as_str())))
        .collect()
}

fn client_codes() -> BTreeSet<&'static str> {
    ErrorCode::ALL
        .iter()
        .filter(|c| !c.is_server())
        .map(|c| c.as_str())
        .collect()
}

/// The backticked words of a text.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

// ----- openapi.json ----------------------------------------------------------------------

/// The codes a response object lists in its description (`Codes: `a`, `b`.`).
fn response_codes(response: &Value) -> Vec<String> {
    let text = response["description"].as_str().unwrap_or("");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Codes:"))
        .flat_map(|l| backticked(l).into_iter().map(str::to_owned))
        .collect()
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => v,
    }
}

#[test]
fn openapi_matches_the_protocol() {
    let doc: Value = serde_json::from_str(&workspace_file(OPENAPI_PATH)).expect("openapi.json");
    let mut report = Report::default();

    // Routes, with scope and operation id.
    let expected: BTreeSet<(String, String, String, String)> = ROUTES
        .iter()
        .chain(ADMIN_ROUTES)
        .map(|r| {
            (
                r.path.to_owned(),
                r.method.to_owned(),
                scope_name(r.scope).to_owned(),
                r.operation.to_owned(),
            )
        })
        .collect();
    let mut found = BTreeSet::new();
    // (status, code) pairs each operation lists under its responses.
    let mut listed: BTreeSet<(u16, String, String)> = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                continue;
            }
            found.insert((
                path.clone(),
                method.to_uppercase(),
                op["x-cronium-scope"].as_str().unwrap_or("-").to_owned(),
                op["operationId"].as_str().unwrap_or("").to_owned(),
            ));
            // The admin API takes the admin credential, and only it; script routes never.
            let admin_auth = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("adminAuth").is_some()));
            if admin_auth != path.starts_with(ADMIN_PREFIX) {
                report.line(format!(
                    "\n{} {path}: security must be [{{\"adminAuth\": []}}] exactly on admin routes",
                    method.to_uppercase()
                ));
            }
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                for code in response_codes(resolve(&doc, response)) {
                    listed.insert((status, code, format!("{} {path}", method.to_uppercase())));
                }
            }
        }
    }
    report.diff(
        "paths (path, method, x-cronium-scope, operationId)",
        &expected,
        &found,
        |r| {
            format!(
                "  {} {}  x-cronium-scope: {}  operationId: {}",
                r.1, r.0, r.2, r.3
            )
        },
    );

    // Every code a response lists must be a server code answered with that status.
    for (status, code, op) in &listed {
        match code.parse::<ErrorCode>() {
            Ok(c) if c.status() == Some(*status) => {}
            Ok(c) => report.line(format!(
                "\n{op}: `{code}` listed under {status}, but the protocol answers it with {}",
                c.status()
                    .map_or("no status (a client code)".into(), |s| s.to_string())
            )),
            Err(_) => report.line(format!(
                "\n{op}: `{code}` listed under {status} is not a protocol error code"
            )),
        }
    }

    // The full code table: components.schemas.Error, x-cronium-codes {code: status}.
    let table = &doc["components"]["schemas"]["Error"]["x-cronium-codes"];
    let found: BTreeSet<(u16, String)> = table
        .as_object()
        .into_iter()
        .flatten()
        .map(|(code, status)| (status.as_u64().unwrap_or(0) as u16, code.clone()))
        .collect();
    let expected: BTreeSet<(u16, String)> = server_codes()
        .into_iter()
        .map(|(s, c)| (s, c.to_owned()))
        .collect();
    report.diff(
        "components.schemas.Error.x-cronium-codes",
        &expected,
        &found,
        |(s, c)| format!("  \"{c}\": {s},"),
    );

    // Scopes: the bearer scheme's description names every scope.
    let text = doc["components"]["securitySchemes"]["bearerAuth"]["description"]
        .as_str()
        .unwrap_or("");
    let found: BTreeSet<String> = backticked(text)
        .into_iter()
        .filter(|w| w.contains(':'))
        .map(str::to_owned)
        .collect();
    let expected: BTreeSet<String> = Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    report.diff(
        "components.securitySchemes.bearerAuth scopes",
        &expected,
        &found,
        |s| format!("  `{s}`"),
    );

    // Scopes: and the `Scope` schema, which token requests' `scopes` refer to, lists them.
    let found: BTreeSet<String> = doc["components"]["schemas"]["Scope"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    report.diff("components.schemas.Scope.enum", &expected, &found, |s| {
        format!("  \"{s}\",")
    });

    report.finish(OPENAPI_PATH);
}

// ----- docs/API.md -----------------------------------------------------------------------

/// The table rows of a markdown text with the heading they are under.
fn table_rows(text: &str) -> Vec<(String, Vec<String>)> {
    let mut heading = String::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('#') {
            heading = h.trim_start_matches('#').trim().to_owned();
            continue;
        }
        let line = line.trim();
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        rows.push((heading.clone(), cells));
    }
    rows
}

#[test]
fn api_md_matches_the_protocol() {
    let text = workspace_file(API_MD_PATH);
    let rows = table_rows(&text);
    let mut report = Report::default();

    // Routes: a first cell `METHOD /path`, a second cell with the scope (or none).
    let expected: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .chain(ADMIN_ROUTES)
        .map(|r| {
            (
                r.path.to_owned(),
                r.method.to_owned(),
                scope_name(r.scope).to_owned(),
            )
        })
        .collect();
    let mut found = BTreeSet::new();
    let mut admin_rows = BTreeSet::new();
    for (heading, cells) in &rows {
        let Some(first) = backticked(&cells[0]).first().copied() else {
            continue;
        };
        let Some((method, path)) = first.split_once(' ') else {
            continue;
        };
        if !matches!(method, "GET" | "PUT" | "POST" | "DELETE" | "PATCH") {
            continue;
        }
        let scope = cells
            .get(1)
            .and_then(|c| backticked(c).into_iter().find_map(Scope::parse));
        found.insert((
            path.to_owned(),
            method.to_owned(),
            scope_name(scope).to_owned(),
        ));
        if heading.starts_with("Admin API") {
            admin_rows.insert((method.to_owned(), path.to_owned()));
        }
    }
    report.diff("route rows (path, method, scope)", &expected, &found, |r| {
        format!("| `{} {}` | `{}` | ... |", r.1, r.0, r.2)
    });
    // The admin routes are the rows under the "Admin API" headings, and only they.
    let expected: BTreeSet<(String, String)> = ADMIN_ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    report.diff(
        "route rows under \"Admin API\" headings (method, path)",
        &expected,
        &admin_rows,
        |r| format!("| `{} {}` | ... |", r.0, r.1),
    );

    // Server error codes: the table under "Errors", `| status | `code` (/ `code`) | when |`.
    let mut found = BTreeSet::new();
    let mut client = BTreeSet::new();
    for (heading, cells) in &rows {
        if heading == "Errors" {
            if let Ok(status) = cells[0].parse::<u16>() {
                for code in backticked(cells.get(1).map_or("", String::as_str)) {
                    found.insert((status, code.to_owned()));
                }
            }
        } else if heading == "Client codes" {
            if let Some(code) = backticked(&cells[0]).first() {
                client.insert((*code).to_owned());
            }
        }
    }
    let expected: BTreeSet<(u16, String)> = server_codes()
        .into_iter()
        .map(|(s, c)| (s, c.to_owned()))
        .collect();
    report.diff(
        "\"Errors\" table (status, code)",
        &expected,
        &found,
        |(s, c)| format!("| {s} | `{c}` | ... |"),
    );
    let expected: BTreeSet<String> = client_codes().into_iter().map(str::to_owned).collect();
    report.diff("\"Client codes\" table", &expected, &client, |c| {
        let kind = c.parse::<ErrorCode>().map_or("?", |c| c.kind().as_str());
        format!("| `{c}` | {kind} | ... |")
    });

    // Scopes: the first cell of the table under "Scopes".
    let found: BTreeSet<String> = rows
        .iter()
        .filter(|(h, _)| h == "Scopes")
        .filter_map(|(_, cells)| backticked(&cells[0]).first().map(|s| (*s).to_owned()))
        .filter(|s| s.contains(':'))
        .collect();
    let expected: BTreeSet<String> = Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    report.diff("\"Scopes\" table", &expected, &found, |s| {
        format!("| `{s}` | ... |")
    });

    report.finish(API_MD_PATH);
}
