//! Parsers of the options `cronium run` shares with the admin commands: JSON given on the
//! command line (`--input`, `--context`), durations, and NDJSON input-stream files.

use std::io::{BufRead, Read};
use std::time::Duration;

use serde_json::value::RawValue;

use super::RunError;
use cronium_store::Store;

/// Validates and compacts JSON given on the command line (`what` names the option).
pub fn json_arg(what: &str, text: &str) -> Result<String, RunError> {
    serde_json::from_str::<&RawValue>(text)
        .map_err(|e| RunError::usage(format!("{what} is not valid JSON: {e}")))?;
    Ok(cronium_server::body::compact_json(text.trim()).into_owned())
}

/// `--input JSON`, `--input @file`, `--input -`.
pub fn read_input_arg(arg: &str) -> Result<String, RunError> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| RunError::failed(format!("cannot read the input from stdin: {e}")))?;
        s
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path)
            .map_err(|e| RunError::usage(format!("cannot read the input file {path}: {e}")))?
    } else {
        arg.to_owned()
    };
    json_arg("--input", &text)
}

/// Parses a duration option (`500ms`, `30s`, `15m`, `2h`, `1d`, or plain seconds).
pub fn duration_arg(s: &str) -> Result<Duration, RunError> {
    Ok(cronium_server::config::parse_duration(s)?)
}

/// Loads an NDJSON file into an execution's input stream, in blocks, checking every line.
pub async fn load_input_stream(
    store: &dyn Store,
    execution_id: &str,
    path: &std::path::Path,
) -> Result<(), RunError> {
    let file = std::fs::File::open(path).map_err(|e| {
        RunError::usage(format!(
            "cannot read the input stream {}: {e}",
            path.display()
        ))
    })?;
    let reader = std::io::BufReader::new(file);
    let mut block = Vec::new();
    let mut records = 0u64;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| {
            RunError::usage(format!(
                "cannot read the input stream {}: {e}",
                path.display()
            ))
        })?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let compact = json_arg(&format!("line {} of {}", i + 1, path.display()), line)?;
        block.extend_from_slice(compact.as_bytes());
        block.push(b'\n');
        records += 1;
        if block.len() >= 256 * 1024 {
            store
                .append_input_stream(execution_id, &block, records)
                .await?;
            block.clear();
            records = 0;
        }
    }
    if records > 0 {
        store
            .append_input_stream(execution_id, &block, records)
            .await?;
    }
    Ok(())
}
