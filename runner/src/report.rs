//! What a run did, read back from the store once the script has stopped: the summary a
//! person reads (on stderr, so the script's stdout stays clean for pipes) or one JSON
//! document for machines (`--json`, on stdout).

use std::io::Write;
use std::time::Duration;

use serde_json::value::RawValue;

use cronium_store::{Store, StoreError, StreamStats};

/// How a script's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited, or was killed by a signal nobody here sent.
    Finished,
    /// `--timeout` ran out and the runner stopped it.
    TimedOut,
    /// The runner was asked to stop (Ctrl-C, SIGTERM, SIGHUP) and stopped it.
    Interrupted,
}

/// Everything the summary shows.
#[derive(Debug)]
pub struct Report {
    /// Execution id.
    pub execution_id: String,
    /// The script's file name.
    pub script: String,
    /// Language name.
    pub lang: &'static str,
    /// The runner's exit code (the script's, 128+signal, or 124 on timeout).
    pub exit_code: u8,
    /// The signal that killed the script, if one did.
    pub signal: Option<i32>,
    /// How it ended.
    pub ending: Ending,
    /// From start to exit.
    pub duration: Duration,
    /// The output document.
    pub output: Option<String>,
    /// The condition.
    pub condition: Option<bool>,
    /// Variables this execution wrote, in first-write order, with their value now (`None`:
    /// deleted).
    pub variables: Vec<(String, Option<String>)>,
    /// Input-stream totals.
    pub input_stream: StreamStats,
    /// Output-stream totals.
    pub output_stream: StreamStats,
    /// With `--json`: the script's stdout, and whether it was cut at the cap.
    pub stdout: Option<(String, bool)>,
    /// What `cronium executions show` needs before its name to reach this store (` --state-dir
    /// D`), empty for the defaults.
    pub admin_flags: String,
}

/// Reads what the execution produced.
pub async fn gather(
    store: &dyn Store,
    execution_id: &str,
    user_id: &str,
) -> Result<Gathered, StoreError> {
    let report = store
        .execution_report(execution_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("execution {execution_id}")))?;
    let mut keys: Vec<String> = Vec::new();
    for entry in store.audit_log(execution_id).await? {
        if entry.action.starts_with("variable.") && !keys.contains(&entry.target) {
            keys.push(entry.target);
        }
    }
    let mut variables = Vec::with_capacity(keys.len());
    for key in keys {
        let value = store.variable(user_id, &key).await?.map(|v| v.value);
        variables.push((key, value));
    }
    Ok(Gathered {
        output: report.output,
        condition: report.condition,
        variables,
        input_stream: report.input_stream,
        output_stream: report.output_stream,
    })
}

/// The store's part of a [`Report`].
#[derive(Debug)]
pub struct Gathered {
    /// Output document.
    pub output: Option<String>,
    /// Condition.
    pub condition: Option<bool>,
    /// Variables written.
    pub variables: Vec<(String, Option<String>)>,
    /// Input-stream totals.
    pub input_stream: StreamStats,
    /// Output-stream totals.
    pub output_stream: StreamStats,
}

fn raw(text: Option<&str>) -> Option<Box<RawValue>> {
    text.and_then(|t| RawValue::from_string(t.to_owned()).ok())
}

fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.to_owned())
}

impl Report {
    /// The `--json` document.
    pub fn to_json(&self) -> serde_json::Value {
        let ending = match self.ending {
            Ending::Finished => "finished",
            Ending::TimedOut => "timed_out",
            Ending::Interrupted => "interrupted",
        };
        let mut doc = serde_json::json!({
            "executionId": self.execution_id,
            "script": self.script,
            "lang": self.lang,
            "exitCode": self.exit_code,
            "signal": self.signal,
            "ending": ending,
            "timedOut": self.ending == Ending::TimedOut,
            "durationMs": self.duration.as_millis() as u64,
            "output": raw(self.output.as_deref()),
            "condition": self.condition,
            "variables": self.variables.iter().map(|(k, v)| serde_json::json!({
                "key": k, "value": raw(v.as_deref()), "deleted": v.is_none(),
            })).collect::<Vec<_>>(),
            "inputStream": {"records": self.input_stream.records, "bytes": self.input_stream.bytes},
            "outputStream": {"records": self.output_stream.records, "bytes": self.output_stream.bytes},
        });
        if let (Some((out, truncated)), Some(obj)) = (&self.stdout, doc.as_object_mut()) {
            obj.insert("stdout".into(), out.clone().into());
            obj.insert("stdoutTruncated".into(), (*truncated).into());
        }
        doc
    }

    /// The summary for a person.
    pub fn write_human(&self, w: &mut impl Write) -> std::io::Result<()> {
        let status = match (self.ending, self.signal) {
            (Ending::TimedOut, _) => format!("{} (timed out)", self.exit_code),
            (Ending::Interrupted, _) => format!("{} (interrupted)", self.exit_code),
            (Ending::Finished, Some(s)) => format!("{} (killed by signal {s})", self.exit_code),
            (Ending::Finished, None) => self.exit_code.to_string(),
        };
        let indent = |text: &str| text.replace('\n', "\n               ");
        writeln!(w, "── cronium run {} ({})", self.script, self.lang)?;
        writeln!(w, "exit code      {status}")?;
        writeln!(w, "duration       {}", human_duration(self.duration))?;
        let output = self.output.as_deref().map_or("(none)".into(), pretty);
        writeln!(w, "output         {}", indent(&output))?;
        let condition = self.condition.map_or("(none)".into(), |c| c.to_string());
        writeln!(w, "condition      {condition}")?;
        if self.variables.is_empty() {
            writeln!(w, "variables      (none written)")?;
        }
        for (i, (key, value)) in self.variables.iter().enumerate() {
            let label = if i == 0 { "variables" } else { "" };
            let value = value.as_deref().unwrap_or("(deleted)");
            writeln!(w, "{label:<15}{key} = {value}")?;
        }
        if self.input_stream.records + self.output_stream.records > 0 {
            writeln!(
                w,
                "streams        input {} records, output {} records ({} bytes)",
                self.input_stream.records, self.output_stream.records, self.output_stream.bytes
            )?;
        }
        writeln!(
            w,
            "execution      {}  (cronium{} executions show {})",
            self.execution_id, self.admin_flags, self.execution_id
        )
    }
}

fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_json_show_the_same_facts() {
        let r = Report {
            execution_id: "e1".into(),
            script: "hello.sh".into(),
            lang: "bash",
            exit_code: 124,
            signal: Some(15),
            ending: Ending::TimedOut,
            duration: Duration::from_millis(1500),
            output: Some(r#"{"a":[1,2]}"#.into()),
            condition: Some(true),
            variables: vec![("k".into(), Some("3".into())), ("gone".into(), None)],
            input_stream: StreamStats::default(),
            output_stream: StreamStats {
                records: 2,
                bytes: 10,
            },
            stdout: Some(("hi\n".into(), false)),
            admin_flags: " --state-dir /s".into(),
        };
        let mut human = Vec::new();
        r.write_human(&mut human).expect("write");
        let human = String::from_utf8(human).expect("utf8");
        assert!(human.contains("exit code      124 (timed out)"), "{human}");
        assert!(human.contains("\"a\": [\n"), "{human}");
        assert!(human.contains("variables      k = 3\n"), "{human}");
        assert!(
            human.contains("               gone = (deleted)\n"),
            "{human}"
        );
        assert!(human.contains("output 2 records"), "{human}");
        assert!(
            human.contains("(cronium --state-dir /s executions show e1)"),
            "{human}"
        );
        let j = r.to_json();
        assert_eq!(j["exitCode"], 124);
        assert_eq!(j["timedOut"], true);
        assert_eq!(j["output"]["a"][1], 2);
        assert_eq!(j["variables"][1]["deleted"], true);
        assert_eq!(j["stdout"], "hi\n");
    }
}
