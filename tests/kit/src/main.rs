//! `cronium-testkit`: starts a test sidecar for a harness in any language.
//!
//! ```text
//! cronium-testkit [--cronium PATH] [--executions JSON|@FILE] [--env NAME=VALUE]... [--config FILE]
//! ```
//!
//! Starts `cronium serve` in a temp state dir on a temp socket and a free loopback port,
//! creates the executions of `--executions` (a JSON array of specs: `user`, `event`,
//! `trigger`, `attempt`, `input`, `inputStream`, `context`, `scopes`, `variables`, `tools`: credentials
//! `{tool, name?, config}`), and
//! prints ONE JSON line on stdout:
//!
//! ```json
//! {"socket":"...","url":"http://127.0.0.1:PORT","stateDir":"...","pid":123,
//!  "executions":[{"id","token","user","eventId","env":{"CRONIUM_RUNTIME_SOCKET",...}}]}
//! ```
//!
//! Then it serves until its stdin closes or it gets SIGTERM/SIGINT, and stops the sidecar
//! and removes the state dir. Meanwhile each stdin line `{"create": SPEC}` creates one more
//! execution, answered by one stdout line (the execution, or `{"error": "..."}`).
//! The secret is `CRONIUM_TOKEN_SECRET` when set, else the kit's own. Failures go to stderr
//! with a non-zero exit; tokens only ever go to stdout.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use cronium_testkit::{ExecutionSpec, Options, Sidecar};
use serde::Deserialize;
use serde_json::json;

const USAGE: &str = "usage: cronium-testkit [--cronium PATH] [--executions JSON|@FILE] [--env NAME=VALUE]... [--config FILE]";

struct Args {
    options: Options,
    executions: Vec<ExecutionSpec>,
}

fn parse_args() -> Result<Args, String> {
    let mut options = Options::default();
    if let Ok(secret) = std::env::var("CRONIUM_TOKEN_SECRET") {
        options.secret = secret;
    }
    let mut executions = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cronium" => options.cronium = PathBuf::from(value()?),
            "--executions" => {
                let v = value()?;
                let text = match v.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read {path}: {e}"))?,
                    None => v,
                };
                executions = serde_json::from_str(&text)
                    .map_err(|e| format!("--executions is not an array of specs: {e}"))?;
            }
            "--env" => {
                let v = value()?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--env takes NAME=VALUE, got {v:?}"))?;
                options.env.push((k.to_owned(), val.to_owned()));
            }
            "--config" => {
                let path = value()?;
                options.config = Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {path}: {e}"))?,
                );
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        options,
        executions,
    })
}

/// One request line on stdin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    create: ExecutionSpec,
}

fn answer(sidecar: &Sidecar, line: &str) -> serde_json::Value {
    let spec = match serde_json::from_str::<Request>(line) {
        Ok(r) => r.create,
        Err(e) => return json!({ "error": format!("not a request ({{\"create\": SPEC}}): {e}") }),
    };
    match sidecar.create(&spec) {
        Ok(e) => json!(e),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn print_line(value: &serde_json::Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cronium-testkit: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sidecar = match Sidecar::start_with(args.options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cronium-testkit: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut executions = Vec::with_capacity(args.executions.len());
    for spec in &args.executions {
        match sidecar.create(spec) {
            Ok(e) => executions.push(e),
            Err(e) => {
                eprintln!("cronium-testkit: {e}");
                sidecar.stop();
                return ExitCode::FAILURE;
            }
        }
    }
    let ready = json!({
        "socket": sidecar.socket,
        "url": sidecar.url(),
        "stateDir": sidecar.dir,
        "pid": sidecar.pid(),
        "executions": executions,
    });
    if print_line(&ready).is_err() {
        sidecar.stop();
        return ExitCode::FAILURE;
    }
    drop(executions);

    // stdin is read on a plain thread (a blocking read cannot be cancelled); the runtime
    // only waits for its lines, its end, or a signal.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cronium-testkit: cannot start a runtime: {e}");
            sidecar.stop();
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            eprintln!("cronium-testkit: cannot handle signals");
            return;
        };
        loop {
            tokio::select! {
                line = rx.recv() => match line {
                    Some(line) if line.trim().is_empty() => {}
                    Some(line) => {
                        if print_line(&answer(&sidecar, &line)).is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                _ = term.recv() => return,
                _ = int.recv() => return,
            }
        }
    });
    if sidecar.stop() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "cronium-testkit: the sidecar did not stop cleanly: {}",
            sidecar.log()
        );
        ExitCode::FAILURE
    }
}
