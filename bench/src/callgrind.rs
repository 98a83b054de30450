//! Instruction counts: the steady figure of the benchmarks.
//!
//! Times on a shared VM drift several-fold; the number of instructions a process executes
//! for one request does not. Each measured process (the sidecar, the bare hyper server of
//! [`crate::load::BareHyper`], a client) runs under `valgrind --tool=callgrind`, and the
//! window of interest is cut out with `callgrind_control`: the process answers
//! [`WARMUP`] requests first (connections, caches, lazily built tables, allocator pools),
//! then its counters are zeroed (`-z`), [`MEASURED`] requests are made, and a dump (`-d`)
//! gives the instructions of those requests alone, divided by their number. Start-up,
//! warm-up and shutdown are outside the window, so the figure is the steady state.
//!
//! The processes are quiet apart from the requests: the sidecar's change-log poller is set
//! to an hour (it would otherwise read the store every 200 ms, and under valgrind that is
//! time-proportional noise), the rate limit is off as in the latency rows, and the bench
//! process that drives the requests is not measured.
//!
//! Counts depend on the CPU (glibc picks `memcpy`/`memchr` variants by CPU features), the
//! glibc and the compiler: the committed baseline (`bench/baseline/instructions.json`) is
//! for one machine kind, refreshed with `make bench-baseline` (see docs/performance.md).
//! On one machine repeated runs agree to well under 1%.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cronium_testkit::{Options, Sidecar};
use serde_json::json;

use crate::{Row, Target, SECRET};

/// Requests answered before the window (connections, caches, allocator pools warmed).
const WARMUP: u64 = 300;
/// Requests in the window.
const MEASURED: u64 = 2000;
/// Durable writes in the window (each one commits to SQLite: slower under valgrind).
const MEASURED_WRITES: u64 = 300;
/// Growth over the baseline that fails `make bench-check`.
pub(crate) const ALLOWED_GROWTH: f64 = 1.10;

/// The counts one measurement gives, in the baseline file's order and names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    /// Instructions per cached `GET /v1/variables/bench`, inside the sidecar process.
    pub sidecar_read: f64,
    /// The same exchange inside the bare hyper server answering the same body.
    pub bare_read: f64,
    /// Instructions per durable `PUT /v1/variables/bench_set`, inside the sidecar.
    pub sidecar_write: f64,
    /// Instructions per client-core `get_variable`, inside the client process.
    pub client_core_read: f64,
    /// The same exchange by the raw HTTP client, inside the client process.
    pub raw_client_read: f64,
}

impl Counts {
    fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("sidecar_cached_read", self.sidecar_read),
            ("bare_hyper_cached_read", self.bare_read),
            ("sidecar_durable_write", self.sidecar_write),
            ("client_core_get_variable", self.client_core_read),
            ("raw_client_get", self.raw_client_read),
        ]
    }
}

/// Whether valgrind's callgrind and callgrind_control are installed.
pub(crate) fn have_valgrind() -> Result<(), String> {
    for tool in ["valgrind", "callgrind_control"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Err(format!(
                "{tool} is not installed (scripts/ensure-tools.sh bench installs valgrind)"
            ));
        }
    }
    Ok(())
}

/// `valgrind --tool=callgrind` writing its profile to `out` (`%p`: the pid).
fn callgrind_prefix(out: &Path) -> Vec<String> {
    vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        "-q".into(),
        format!("--callgrind-out-file={}", out.display()),
    ]
}

/// Zeroes the counters of the callgrind process `pid`.
fn zero(pid: u32) -> Result<(), String> {
    control(pid, "-z")
}

/// Dumps the counters of `pid` since the last zero, and returns their instruction total.
fn dump(pid: u32, out_dir: &Path, prefix: &str) -> Result<u64, String> {
    dump_file(pid, out_dir, prefix).map(|(_, total)| total)
}

/// Dumps the counters of `pid` since the last zero: the dump's path and instruction total.
pub(crate) fn dump_file(pid: u32, out_dir: &Path, prefix: &str) -> Result<(PathBuf, u64), String> {
    let before = dumps(out_dir, prefix, pid);
    control(pid, "-d")?;
    // The dump is written by the process itself, shortly after the command returns.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = dumps(out_dir, prefix, pid);
        if let Some(new) = now.iter().find(|p| !before.contains(p)) {
            if let Some(total) = std::fs::read_to_string(new)
                .ok()
                .and_then(|text| totals(&text))
            {
                return Ok((new.clone(), total));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("callgrind wrote no dump for process {pid}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn control(pid: u32, flag: &str) -> Result<(), String> {
    let out = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("callgrind_control: {e}"))?;
    if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("OK") {
        return Err(format!(
            "callgrind_control {flag} {pid} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The numbered dump files of `pid` (`PREFIX.PID.N`).
fn dumps(dir: &Path, prefix: &str, pid: u32) -> Vec<PathBuf> {
    let stem = format!("{prefix}.{pid}.");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&stem))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The instruction total of a callgrind dump (its `totals:` line, complete once written).
fn totals(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A sidecar under callgrind, started by the test kit through a wrapper that runs
/// `serve` (only) under valgrind, with `extra` valgrind options: admin commands on the same
/// state dir run natively. Its dumps are `sidecar.cg.PID.N` in `dir`.
pub(crate) fn sidecar(cronium: &Path, dir: &Path, extra: &[&str]) -> Result<Sidecar, String> {
    let wrapper = dir.join("cronium-under-callgrind");
    let mut prefix = callgrind_prefix(&dir.join("sidecar.cg.%p"));
    prefix.extend(extra.iter().map(|o| o.to_string()));
    let prefix = prefix.join(" ");
    let real = cronium.display();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" serve \"*) exec {prefix} '{real}' \"$@\" ;; esac\nexec '{real}' \"$@\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Sidecar::start_with(Options {
        cronium: wrapper,
        state_dir: Some(dir.join("state")),
        socket_name: "cg.sock".to_owned(),
        secret: SECRET.to_owned(),
        config: None,
        env: vec![
            ("CRONIUM_RATE_LIMIT".to_owned(), "0".to_owned()),
            ("CRONIUM_CHANGE_POLL_INTERVAL".to_owned(), "1h".to_owned()),
        ],
        tcp: false,
        poll: Duration::from_millis(20),
    })
    .map_err(|e| format!("cannot start the sidecar under callgrind: {e}"))
}

/// A process under callgrind, killed on drop.
struct Measured {
    child: Child,
}

impl Drop for Measured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare hyper server (this executable, `--serve-bare-hyper`) under callgrind.
fn bare_hyper(dir: &Path, body: &[u8]) -> Result<(Measured, PathBuf), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let socket = dir.join("bare.sock");
    let body_file = dir.join("bare-body.json");
    std::fs::write(&body_file, body).map_err(|e| e.to_string())?;
    let prefix = callgrind_prefix(&dir.join("bare.cg.%p"));
    let child = Command::new(&prefix[0])
        .args(&prefix[1..])
        .arg(exe)
        .arg("--serve-bare-hyper")
        .arg(&socket)
        .arg(&body_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("valgrind: {e}"))?;
    let m = Measured { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if Instant::now() > deadline {
            return Err("the bare hyper server under callgrind did not listen within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((m, socket))
}

/// `cronium-bench --serve-bare-hyper SOCKET BODY_FILE`: the bare hyper server as a process
/// of its own, so callgrind can count it apart from the client driving it.
pub(crate) fn serve_bare_hyper(socket: &Path, body_file: &Path) -> Result<(), String> {
    let body = std::fs::read(body_file).map_err(|e| format!("{}: {e}", body_file.display()))?;
    let _server = crate::load::BareHyper::start(socket, body).map_err(|e| e.to_string())?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `cronium-bench --instructions-client raw|core SOCKET` (token in `CRONIUM_TOKEN`): reads
/// a count per line on stdin, makes that many cached reads, answers `ok`. Driven by
/// [`client_count`], which zeroes and dumps callgrind's counters between the lines.
pub(crate) fn instructions_client(kind: &str, socket: &Path) -> Result<(), String> {
    let token = std::env::var("CRONIUM_TOKEN").map_err(|_| "CRONIUM_TOKEN is not set")?;
    let mut call: Box<dyn FnMut() -> Result<(), String>> = match kind {
        "raw" => {
            let mut raw = crate::RawHttp::new(socket, &token).map_err(|e| e.to_string())?;
            Box::new(move || raw.once().map_err(|e| e.to_string()))
        }
        "core" => {
            let client = cronium_client::BlockingClient::new(
                cronium_client::Config::builder()
                    .socket(socket)
                    .token(token)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            Box::new(move || {
                client
                    .get_variable::<crate::AsText>("bench")
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }
        other => {
            return Err(format!(
                "--instructions-client takes raw or core, not {other}"
            ))
        }
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let n: u64 = line
            .map_err(|e| e.to_string())?
            .trim()
            .parse()
            .map_err(|_| "expected a count")?;
        for _ in 0..n {
            call()?;
        }
        writeln!(out, "ok")
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Instructions per cached read inside a client process of `kind` (`raw` or `core`).
fn client_count(dir: &Path, kind: &str, socket: &Path, token: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let prefix_name = format!("client-{kind}.cg");
    let prefix = callgrind_prefix(&dir.join(format!("{prefix_name}.%p")));
    let child = Command::new(&prefix[0])
        .args(&prefix[1..])
        .arg(exe)
        .arg("--instructions-client")
        .arg(kind)
        .arg(socket)
        .env("CRONIUM_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("valgrind: {e}"))?;
    let mut m = Measured { child };
    let pid = m.child.id();
    let mut stdin = m.child.stdin.take().ok_or("no stdin")?;
    let mut stdout = BufReader::new(m.child.stdout.take().ok_or("no stdout")?);
    let mut round = |n: u64| -> Result<(), String> {
        writeln!(stdin, "{n}").map_err(|e| e.to_string())?;
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "ok" {
            return Err(format!("the {kind} client under callgrind failed"));
        }
        Ok(())
    };
    round(WARMUP)?;
    zero(pid)?;
    round(MEASURED)?;
    let total = dump(pid, dir, &prefix_name)?;
    drop(m);
    Ok(total as f64 / MEASURED as f64)
}

/// Instructions per request inside the process `pid`, for `n` calls of `f`.
fn server_count(
    pid: u32,
    dir: &Path,
    prefix: &str,
    n: u64,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<f64, String> {
    for _ in 0..WARMUP {
        f()?;
    }
    zero(pid)?;
    for _ in 0..n {
        f()?;
    }
    Ok(dump(pid, dir, prefix)? as f64 / n as f64)
}

/// Measures every count once (about a minute on a 2-core VM).
pub(crate) fn measure(cronium: &Path, dir: &Path) -> Result<Counts, String> {
    have_valgrind()?;
    let dir = dir.join("callgrind");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sc = sidecar(cronium, &dir, &[])?;
    let pid = sc
        .pid()
        .ok_or("the sidecar under callgrind is not running")?;
    let token = crate::create_execution(&sc)?;
    let client = crate::seeded_client(&sc, &token)?;
    let (_, _, body) = crate::http_sizes(&sc.socket, &token).map_err(|e| e.to_string())?;

    let mut raw = crate::RawHttp::new(&sc.socket, &token).map_err(|e| e.to_string())?;
    let sidecar_read = server_count(pid, &dir, "sidecar.cg", MEASURED, || {
        raw.once().map_err(|e| e.to_string())
    })?;
    let mut i = 0u64;
    let sidecar_write = server_count(pid, &dir, "sidecar.cg", MEASURED_WRITES, || {
        i += 1;
        client
            .set_variable("bench_set", &i, None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    drop(raw);
    drop(client);

    let (bare, bare_socket) = bare_hyper(&dir, &body)?;
    let mut raw = crate::RawHttp::new(&bare_socket, &token).map_err(|e| e.to_string())?;
    let bare_read = server_count(bare.child.id(), &dir, "bare.cg", MEASURED, || {
        raw.once().map_err(|e| e.to_string())
    })?;
    drop(raw);
    drop(bare);

    // The clients' side, against the native (not measured) server would be faster, but the
    // sidecar under callgrind answers the same bytes: only the client process is counted.
    let client_core_read = client_count(&dir, "core", &sc.socket, &token)?;
    let raw_client_read = client_count(&dir, "raw", &sc.socket, &token)?;
    drop(sc);
    Ok(Counts {
        sidecar_read,
        bare_read,
        sidecar_write,
        client_core_read,
        raw_client_read,
    })
}

/// The instruction rows of `make bench`.
pub(crate) fn rows(cronium: &Path, dir: &Path, rows: &mut Vec<Row>) {
    const FIGURES: [&str; 4] = [
        "instructions per cached read inside the sidecar (callgrind)",
        "instructions per cached read inside the bare hyper server (callgrind)",
        "instructions per durable write inside the sidecar (callgrind)",
        "instructions per client-core get_variable inside the client (callgrind)",
    ];
    let c = match measure(cronium, dir) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("cronium-bench: instruction counts: {why}; their rows are skipped");
            for f in FIGURES {
                rows.push(Row {
                    figure: f.into(),
                    unit: "instr",
                    skipped: Some(why.clone()),
                    ..Row::default()
                });
            }
            return;
        }
    };
    rows.push(Row {
        figure: FIGURES[0].into(),
        unit: "instr",
        median: c.sidecar_read,
        baseline: Some(("bare hyper server, same exchange".into(), c.bare_read)),
        target: Some(Target::Ratio(1.3)),
        ..Row::default()
    });
    rows.push(Row {
        figure: FIGURES[1].into(),
        unit: "instr",
        median: c.bare_read,
        ..Row::default()
    });
    rows.push(Row {
        figure: FIGURES[2].into(),
        unit: "instr",
        median: c.sidecar_write,
        baseline: Some(("a cached read inside the sidecar".into(), c.sidecar_read)),
        ..Row::default()
    });
    rows.push(Row {
        figure: FIGURES[3].into(),
        unit: "instr",
        median: c.client_core_read,
        baseline: Some(("raw HTTP client, same exchange".into(), c.raw_client_read)),
        ..Row::default()
    });
}

/// `make bench-check` (`write == false`): measures the counts and compares them with the
/// baseline file, failing on growth over [`ALLOWED_GROWTH`]; `make bench-baseline`
/// (`write == true`): measures them and rewrites the file.
pub(crate) fn check(cronium: &Path, baseline: &Path, write: bool) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    // `CRONIUM_CALLGRIND_DIR` keeps the profiles (for callgrind_annotate) in that directory.
    let keep = std::env::var_os("CRONIUM_CALLGRIND_DIR").map(PathBuf::from);
    let counts = measure(cronium, keep.as_deref().unwrap_or(tmp.path()))?;
    if write {
        let doc = json!({
            "about": "Instructions per request counted by callgrind (make bench-check compares, make bench-baseline rewrites). Per machine kind: the CPU picks glibc's memcpy variants.",
            "machine": crate::machine(),
            "counts": counts.named().iter().map(|(k, v)| (k.to_string(), json!(v.round() as u64))).collect::<serde_json::Map<_, _>>(),
        });
        if let Some(d) = baseline.parent() {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        std::fs::write(
            baseline,
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
        )
        .map_err(|e| format!("cannot write {}: {e}", baseline.display()))?;
        for (k, v) in counts.named() {
            println!("{k:<28} {v:>10.0}");
        }
        println!("baseline written to {}", baseline.display());
        return Ok(());
    }
    let text = std::fs::read_to_string(baseline).map_err(|e| {
        format!(
            "{}: {e}; write one with `make bench-baseline`",
            baseline.display()
        )
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", baseline.display()))?;
    let here = crate::machine()["cpu"].clone();
    if doc["machine"]["cpu"] != here {
        println!(
            "note: the baseline was measured on {}, this is {here}; counts differ between CPU kinds (refresh with `make bench-baseline`)",
            doc["machine"]["cpu"]
        );
    }
    println!(
        "{:<28} {:>10} {:>10} {:>7}",
        "count", "now", "baseline", "ratio"
    );
    let mut grown = Vec::new();
    for (k, v) in counts.named() {
        let Some(base) = doc["counts"][k].as_f64() else {
            println!("{k:<28} {v:>10.0} {:>10} {:>7}", "—", "—");
            continue;
        };
        let ratio = v / base;
        let flag = if ratio > ALLOWED_GROWTH { "  GREW" } else { "" };
        println!("{k:<28} {v:>10.0} {base:>10.0} {ratio:>6.3}×{flag}");
        if ratio > ALLOWED_GROWTH {
            grown.push(k);
        }
    }
    println!(
        "sidecar/bare hyper, cached read: {:.2}× (target ≤ 1.3×)",
        counts.sidecar_read / counts.bare_read
    );
    if grown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "instruction counts grew more than {:.0}% over {}: {}",
            (ALLOWED_GROWTH - 1.0) * 100.0,
            baseline.display(),
            grown.join(", ")
        ))
    }
}

/// The modes of this executable that are not a benchmark run: `None` for a run, else the
/// mode's outcome. `--serve-bare-hyper SOCKET BODY_FILE` and `--instructions-client KIND
/// SOCKET` are the processes callgrind measures; `--instructions check|baseline FILE
/// --cronium PATH` is `make bench-check` / `make bench-baseline`; `--symbol-order
/// write|check FILE --cronium PATH` is `make symbol-order` / part of `make bench-check`.
pub(crate) fn modes() -> Option<Result<(), String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(PathBuf::from).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("--serve-bare-hyper") => Some(serve_bare_hyper(&arg(1), &arg(2))),
        Some("--instructions-client") => Some(instructions_client(
            args.get(1).map_or("", String::as_str),
            &arg(2),
        )),
        Some("--instructions") => {
            let usage = "usage: cronium-bench --instructions check|baseline FILE --cronium PATH";
            let write = match args.get(1).map(String::as_str) {
                Some("check") => false,
                Some("baseline") => true,
                _ => return Some(Err(usage.into())),
            };
            match (args.get(3).map(String::as_str), args.get(4)) {
                (Some("--cronium"), Some(c)) => Some(check(Path::new(c), &arg(2), write)),
                _ => Some(Err(usage.into())),
            }
        }
        Some("--symbol-order") => {
            let usage = "usage: cronium-bench --symbol-order write|check FILE --cronium PATH";
            let (Some(mode), Some("--cronium"), Some(c)) = (
                args.get(1).map(String::as_str),
                args.get(3).map(String::as_str),
                args.get(4),
            ) else {
                return Some(Err(usage.into()));
            };
            let (cronium, order) = (Path::new(c), arg(2));
            match mode {
                "write" => Some(crate::symbol_order::write(cronium, &order)),
                "check" => Some(crate::symbol_order::check(cronium, &order)),
                _ => Some(Err(usage.into())),
            }
        }
        _ => None,
    }
}
