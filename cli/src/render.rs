//! What the execution, token and variable commands print, written once for both paths: the
//! store's results and the admin API's answers are brought to the same values first, so
//! `--admin-socket` changes where a command acts, never what it prints.

use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::CliError;

/// `executions create --json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedJson<'a> {
    /// Execution id.
    pub id: &'a str,
    /// Its first token.
    pub token: &'a str,
    /// Owner.
    pub user_id: &'a str,
    /// Event id.
    pub event_id: &'a str,
    /// Maximum lifetime, unix seconds.
    pub expires_at: i64,
}

/// A created execution: `execution ID` and `token T`, or the JSON.
pub fn created(out: &mut impl Write, c: &CreatedJson<'_>, json: bool) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(c).unwrap_or_default())
    } else {
        writeln!(out, "execution {}\ntoken     {}", c.id, c.token)
    }
}

/// One row of `executions list`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRow {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Event name or id.
    pub event: String,
    /// Created at.
    pub created_at: String,
    /// Whether an output was set.
    pub has_output: bool,
    /// Status as of now.
    pub status: String,
}

/// `executions list`.
pub fn list(out: &mut impl Write, rows: &[ListRow], json: bool) -> std::io::Result<()> {
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|e| serde_json::json!({"id": e.id, "userId": e.user_id, "event": e.event, "createdAt": e.created_at, "hasOutput": e.has_output, "status": e.status}))
            .collect();
        return writeln!(out, "{}", serde_json::Value::from(v));
    }
    for e in rows {
        writeln!(
            out,
            "{}  {}  {}  user={}  event={}{}",
            e.id,
            e.created_at,
            e.status,
            e.user_id,
            e.event,
            if e.has_output { "  (output)" } else { "" }
        )?;
    }
    Ok(())
}

/// A finished execution (`executions finish`).
pub fn finished(
    out: &mut impl Write,
    doc: &cronium_server::admin_api::FinishDoc<'_>,
    json: bool,
) -> std::io::Result<()> {
    let outcome = doc.outcome.unwrap_or("-");
    let finished_at = doc.finished_at.unwrap_or("-");
    if json {
        let v = serde_json::json!({
            "id": doc.id, "status": doc.status, "outcome": outcome,
            "exitCode": doc.exit_code, "finishedAt": finished_at,
        });
        return writeln!(out, "{v}");
    }
    writeln!(
        out,
        "execution {} finished ({outcome}{}) at {finished_at}",
        doc.id,
        doc.exit_code
            .map_or(String::new(), |c| format!(", exit code {c}"))
    )
}

#[derive(Deserialize)]
struct Stats {
    records: u64,
    bytes: u64,
}

#[derive(Deserialize)]
struct AuditRow {
    at: String,
    action: String,
    target: String,
}

/// The fields of the execution document the text view shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShowDoc {
    id: String,
    user_id: String,
    event_id: String,
    event_name: Option<String>,
    created_at: String,
    status: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    outcome: Option<String>,
    exit_code: Option<i32>,
    input: Option<Box<RawValue>>,
    output: Option<Box<RawValue>>,
    condition: Option<bool>,
    input_stream: Stats,
    output_stream: Stats,
    audit: Vec<AuditRow>,
}

/// `finished (failed, exit code 3) at T`, `running since T`, `created`, `expired`.
fn lifecycle_line(d: &ShowDoc) -> String {
    let mut line = d.status.clone();
    if let Some(outcome) = &d.outcome {
        line.push_str(&format!(" ({outcome}"));
        if let Some(code) = d.exit_code {
            line.push_str(&format!(", exit code {code}"));
        }
        line.push(')');
    }
    match (&d.finished_at, &d.started_at) {
        (Some(at), _) => line.push_str(&format!(" at {at}")),
        (None, Some(at)) => line.push_str(&format!(" since {at}")),
        _ => {}
    }
    line
}

/// `executions show`: the execution document (`ExecutionDoc` as JSON text) as it is with
/// `--json`, else as text.
pub fn show(out: &mut impl Write, doc: &str, json: bool) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::failed(format!("cannot write: {e}"));
    if json {
        return writeln!(out, "{doc}").map_err(io);
    }
    let d: ShowDoc = serde_json::from_str(doc)
        .map_err(|e| CliError::failed(format!("the execution document is not readable: {e}")))?;
    let pretty = |t: &Option<Box<RawValue>>| match t {
        None => "(none)".to_owned(),
        Some(t) => serde_json::from_str::<serde_json::Value>(t.get())
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| t.get().to_owned()),
    };
    let mut text = || -> std::io::Result<()> {
        writeln!(out, "execution      {}", d.id)?;
        writeln!(out, "user           {}", d.user_id)?;
        writeln!(
            out,
            "event          {} ({})",
            d.event_name.as_deref().unwrap_or("-"),
            d.event_id
        )?;
        writeln!(out, "created        {}", d.created_at)?;
        writeln!(out, "status         {}", lifecycle_line(&d))?;
        writeln!(out, "input          {}", pretty(&d.input))?;
        writeln!(out, "output         {}", pretty(&d.output))?;
        writeln!(
            out,
            "condition      {}",
            d.condition.map_or("(none)".into(), |c| c.to_string())
        )?;
        writeln!(
            out,
            "input stream   {} records, {} bytes",
            d.input_stream.records, d.input_stream.bytes
        )?;
        writeln!(
            out,
            "output stream  {} records, {} bytes",
            d.output_stream.records, d.output_stream.bytes
        )?;
        writeln!(out, "audit          {} entries", d.audit.len())?;
        for a in &d.audit {
            writeln!(out, "  {}  {}  {}", a.at, a.action, a.target)?;
        }
        Ok(())
    };
    text().map_err(io)
}

/// `variables list`: one key a line.
pub fn keys(out: &mut impl Write, keys: &[String]) -> std::io::Result<()> {
    for k in keys {
        writeln!(out, "{k}")?;
    }
    Ok(())
}

/// `variables set`.
pub fn set(out: &mut impl Write, key: &str, value: &str, version: u64) -> std::io::Result<()> {
    writeln!(out, "{key} = {value} (version {version})")
}

/// `variables delete`.
pub fn deleted(out: &mut impl Write, deleted: bool) -> std::io::Result<()> {
    writeln!(out, "{}", if deleted { "deleted" } else { "not found" })
}
