//! Clients in other languages: each is a program spawned once per round that makes N
//! cached reads and prints one JSON line per client, `{"client": ..., "samples_ns": [...]}`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The repository root (bench/..), where the bindings' bench programs live.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// What every external client gets: the sidecar and the execution.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub(crate) socket: PathBuf,
    pub(crate) token: String,
    pub(crate) api: String,
}

/// One spawnable program and the clients (series) it reports.
#[derive(Debug)]
pub(crate) struct Program {
    /// Short name for messages.
    pub(crate) name: &'static str,
    /// The clients it prints, in order.
    pub(crate) clients: Vec<&'static str>,
    pub(crate) argv: Vec<String>,
    /// Extra environment.
    pub(crate) env: Vec<(String, String)>,
    /// Why it cannot run at all, found before the first round.
    pub(crate) skipped: Option<String>,
}

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("CRONIUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    p.exists().then_some(p)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The C benchmark helpers of `make c-bench`: `bench_get` (the C library) and
/// `bench_builtin.sh` (the Bash builtin), found in bindings/c/bench or the target dir
/// (`CRONIUM_C_BENCH_DIR` overrides). Each takes N and prints the JSON line.
fn c_helper(name: &str) -> Option<PathBuf> {
    let target = target_dir();
    let mut dirs: Vec<PathBuf> = std::env::var_os("CRONIUM_C_BENCH_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.extend([
        root().join("bindings/c/bench"),
        target.join("c-bench"),
        target.join("cronium-c-bench"),
        target.join("release"),
    ]);
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p) || (name.ends_with(".sh") && p.is_file()))
}

#[allow(unsafe_code)] // access(2) has no safe wrapper in std.
fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if !p.is_file() {
        return false;
    }
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// The bash driver: the helper and a bare curl, alternating call by call in one process.
const BASH_DRIVER: &str = r#"
set -u
# shellcheck disable=SC1090
source "$1"
n=$2
url="http://cronium/v1/variables/bench?raw"
for _ in 1 2 3; do cronium_get_variable bench >/dev/null; curl -s --unix-socket "$CRONIUM_RUNTIME_SOCKET" -H "Authorization: Bearer $CRONIUM_EXECUTION_TOKEN" "$url" >/dev/null; done
h=() c=()
for ((i = 0; i < n; i++)); do
  t0=${EPOCHREALTIME//[.,]/}
  cronium_get_variable bench >/dev/null || exit 1
  t1=${EPOCHREALTIME//[.,]/}
  h+=($(((t1 - t0) * 1000)))
  t0=${EPOCHREALTIME//[.,]/}
  curl -sf --unix-socket "$CRONIUM_RUNTIME_SOCKET" -H "Authorization: Bearer $CRONIUM_EXECUTION_TOKEN" "$url" >/dev/null || exit 1
  t1=${EPOCHREALTIME//[.,]/}
  c+=($(((t1 - t0) * 1000)))
done
IFS=,
printf '{"client":"bash-helper","samples_ns":[%s]}\n' "${h[*]}"
printf '{"client":"bare-curl","samples_ns":[%s]}\n' "${c[*]}"
"#;

/// The programs, in the order they run in each round. `n` is the fast clients' call count.
pub(crate) fn programs(dir: &Path, n: usize, quick: bool) -> Vec<Program> {
    let root = root();
    let slow = if quick { 50 } else { 400 };
    let curl_n = if quick { 10 } else { 150 };
    let mut out = Vec::new();

    let py = python();
    let bench_py = root.join("bindings/python/bench.py");
    for (client, calls) in [("module", n), ("urllib", slow), ("requests", slow)] {
        let skipped = match &py {
            None => Some("no Python: set CRONIUM_PYTHON or run `make python`".to_owned()),
            Some(_) if !bench_py.exists() => Some("bindings/python/bench.py is missing".into()),
            Some(_) => None,
        };
        out.push(Program {
            name: "python",
            clients: vec![match client {
                "module" => "python-module",
                "urllib" => "python-urllib",
                _ => "python-requests",
            }],
            argv: vec![
                py.as_ref()
                    .map_or_else(String::new, |p| p.display().to_string()),
                bench_py.display().to_string(),
                "--client".into(),
                client.into(),
                "--n".into(),
                calls.to_string(),
            ],
            env: Vec::new(),
            skipped,
        });
    }

    let bench_js = root.join("bindings/node/bench.js");
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    for client in ["sync", "async", "http"] {
        let skipped = if !node_ok {
            Some("node is not installed".to_owned())
        } else if !bench_js.exists() {
            Some("bindings/node/bench.js is missing".into())
        } else {
            None
        };
        out.push(Program {
            name: "node",
            clients: vec![match client {
                "sync" => "node-sync",
                "async" => "node-async",
                _ => "node-http",
            }],
            argv: vec![
                "node".into(),
                bench_js.display().to_string(),
                "--client".into(),
                client.into(),
                "--n".into(),
                n.to_string(),
            ],
            env: Vec::new(),
            skipped,
        });
    }

    let driver = dir.join("bash-driver.sh");
    let skipped = std::fs::write(&driver, BASH_DRIVER)
        .err()
        .map(|e| format!("cannot write the bash driver: {e}"));
    out.push(Program {
        name: "bash",
        clients: vec!["bash-helper", "bare-curl"],
        argv: vec![
            "bash".into(),
            driver.display().to_string(),
            root.join("bindings/bash/cronium.sh").display().to_string(),
            curl_n.to_string(),
        ],
        env: Vec::new(),
        skipped,
    });

    // `make c-bench`: bench_get N and bench_builtin.sh N (with CRONIUM_BUILTIN, the
    // builtin's .so) print the same JSON line.
    let builtin_so = target_dir().join("release/cronium_builtin.so");
    for (client, helper) in [
        ("c-library", "bench_get"),
        ("bash-builtin", "bench_builtin.sh"),
    ] {
        let path = c_helper(helper);
        let mut argv = Vec::new();
        if helper.ends_with(".sh") {
            argv.push("bash".to_owned());
        }
        argv.push(
            path.as_ref()
                .map_or_else(String::new, |p| p.display().to_string()),
        );
        argv.push(n.to_string());
        let mut skipped = path
            .is_none()
            .then(|| format!("not built ({helper}: make c-bench)"));
        let mut env = Vec::new();
        if client == "bash-builtin" {
            match std::env::var("CRONIUM_BUILTIN") {
                Ok(so) => env.push(("CRONIUM_BUILTIN".to_owned(), so)),
                Err(_) if builtin_so.exists() => env.push((
                    "CRONIUM_BUILTIN".to_owned(),
                    builtin_so.display().to_string(),
                )),
                Err(_) => skipped = Some("not built (cronium_builtin.so: make c-bench)".into()),
            }
        }
        out.push(Program {
            name: "c",
            clients: vec![client],
            argv,
            env,
            skipped,
        });
    }
    out
}

/// Runs a program once: each client's samples.
pub(crate) fn run(p: &Program, env: &Env) -> Result<Vec<(String, Vec<Duration>)>, String> {
    let mut cmd = Command::new(&p.argv[0]);
    cmd.args(&p.argv[1..])
        .current_dir(root())
        .env("CRONIUM_RUNTIME_SOCKET", &env.socket)
        .env("CRONIUM_EXECUTION_TOKEN", &env.token)
        .env("CRONIUM_RUNTIME_API", &env.api)
        .env_remove("CRONIUM_EXECUTION_TOKEN_FILE")
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", p.argv[0]))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!("{} failed ({}): {last}", p.name, out.status));
    }
    let mut result = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(client), Some(samples)) = (v["client"].as_str(), v["samples_ns"].as_array())
        else {
            continue;
        };
        let samples: Vec<Duration> = samples
            .iter()
            .filter_map(|s| s.as_f64())
            .map(|ns| Duration::from_nanos(ns.max(0.0) as u64))
            .collect();
        if samples.is_empty() {
            return Err(format!("{}: no samples for {client}", p.name));
        }
        // Single-client programs name the client their own way (module, sync, ...).
        let name = if p.clients.len() == 1 {
            p.clients[0].to_owned()
        } else {
            client.to_owned()
        };
        result.push((name, samples));
    }
    if result.is_empty() {
        return Err(format!("{}: printed no samples", p.name));
    }
    Ok(result)
}
