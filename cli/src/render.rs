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
    /// Event id.
    pub event: String,
    /// Event name, when it has one.
    #[serde(default)]
    pub event_name: Option<String>,
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
            .map(|e| serde_json::json!({"id": e.id, "userId": e.user_id, "event": e.event, "eventName": e.event_name, "createdAt": e.created_at, "hasOutput": e.has_output, "status": e.status}))
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
            // The name, `-` when it has none: never the generated event id, which says
            // nothing to a person.
            e.event_name.as_deref().unwrap_or("-"),
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
    summary: String,
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
    duration_ms: Option<i64>,
    input: Option<Box<RawValue>>,
    output: Option<Box<RawValue>>,
    condition: Option<bool>,
    input_stream: Stats,
    output_stream: Stats,
    #[serde(default)]
    output_tail: Vec<Box<RawValue>>,
    audit: Vec<AuditRow>,
}

/// `1.234 s`, `2 min 5 s`, `3 h 12 min`.
fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    } else if ms < 3_600_000 {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000)
    }
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
    // In one screen: what the run was, how it ended, how long it took, what it wrote (the
    // output and the last output-stream records) and, in words, what it did (the audit).
    let mut text = || -> std::io::Result<()> {
        writeln!(out, "execution      {}", d.id)?;
        writeln!(
            out,
            "event          {} (id {})",
            d.event_name.as_deref().unwrap_or("-"),
            d.event_id
        )?;
        writeln!(out, "user           {}", d.user_id)?;
        writeln!(out, "status         {}", lifecycle_line(&d))?;
        writeln!(
            out,
            "exit code      {}",
            d.exit_code.map_or("-".to_owned(), |c| c.to_string())
        )?;
        writeln!(
            out,
            "duration       {}",
            match (d.duration_ms, &d.finished_at) {
                (Some(ms), Some(_)) => human_duration(ms),
                (Some(ms), None) => format!("{} so far", human_duration(ms)),
                (None, _) => "- (no script has called the runtime yet)".to_owned(),
            }
        )?;
        writeln!(out, "created        {}", d.created_at)?;
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
        write!(
            out,
            "output stream  {} records, {} bytes",
            d.output_stream.records, d.output_stream.bytes
        )?;
        let tail = &d.output_tail;
        if tail.is_empty() && d.output_stream.records > 0 {
            if d.output_stream.bytes > cronium_server::admin::OUTPUT_TAIL_MAX_BYTES {
                writeln!(
                    out,
                    " (too long to show here: `cronium executions output-stream {}`)",
                    d.id
                )?;
            } else {
                writeln!(out, " (pruned by [retention])")?;
            }
        } else if tail.len() as u64 == d.output_stream.records {
            writeln!(out)?;
        } else {
            writeln!(out, "; the last {}:", tail.len())?;
        }
        for line in tail {
            let line = line.get();
            let shown: String = line.chars().take(160).collect();
            let cut = if shown.len() < line.len() { " ..." } else { "" };
            writeln!(out, "  {shown}{cut}")?;
        }
        writeln!(
            out,
            "audit          {} entr{}",
            d.audit.len(),
            if d.audit.len() == 1 { "y" } else { "ies" }
        )?;
        for a in &d.audit {
            // The time of day is enough beside the date of `created`.
            let at = a.at.get(11..23).unwrap_or(&a.at);
            writeln!(out, "  {at}  {}", a.summary)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(1234), "1.234 s");
        assert_eq!(human_duration(125_000), "2 min 5 s");
        assert_eq!(human_duration(3 * 3_600_000 + 720_000), "3 h 12 min");
    }
}
