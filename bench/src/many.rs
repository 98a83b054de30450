//! Many executions at once (issue 20): N registered executions, each with its own token
//! and one client doing reads and writes, against one sidecar; next to the same load
//! from one execution.
//!
//! Every client is a thread of this harness with its own client-core `BlockingClient`
//! (so its own keep-alive connection), in both runs: the only difference between them is
//! whether the clients carry N tokens of N executions (N users) or one token of one
//! execution (one user, a key per client). So the comparison isolates what many
//! executions cost the sidecar (token verification and its cache, per-execution state,
//! rate-limit buckets, the variable cache over N users) from what N connections cost,
//! which the connection rows measure.
//!
//! The clients are paced, not closed-loop: each makes one call every [`INTERVAL`] (a
//! write every fifth call, reads otherwise), their schedules spread evenly over the
//! interval. A closed loop of 1,000 clients on a 2-core machine would measure the depth
//! of the sidecar's queue (1,000 requests waiting their turn) rather than what one
//! script's call costs while 999 other scripts are busy; the paced load keeps the
//! machine below saturation, so the p99 says how calls fare under that load.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cronium_testkit::{Options, Sidecar};

use crate::{percentile, rss_kib, Row, SECRET};

/// Each client's pace: one call per interval (5 calls/s; 5,000/s for 1,000 clients, of
/// which 1,000 durable writes). Twice that saturated this 2-core VM's store: every
/// request then queued behind the writes, whatever the number of executions.
const INTERVAL: Duration = Duration::from_millis(200);
/// Every fifth call is a durable write, the others cached reads.
const WRITE_EVERY: u64 = 5;
/// [`WRITE_EVERY`], or `CRONIUM_BENCH_MANY_WRITE_EVERY` (0: reads only).
fn write_every() -> u64 {
    std::env::var("CRONIUM_BENCH_MANY_WRITE_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(WRITE_EVERY)
}

/// The admin API's credential in the benchmark sidecar (it creates the executions).
const ADMIN_SECRET: &str = "bench-admin-secret-bench-admin-secret";

/// What one run measured.
struct Outcome {
    /// Every read's latency, sorted.
    reads: Vec<Duration>,
    /// Every write's latency, sorted.
    writes: Vec<Duration>,
    errors: u64,
    /// The first error's message, for the report.
    first_error: Option<String>,
    rss_peak_kib: f64,
    rss_before_kib: f64,
    calls_per_sec: f64,
}

/// The rows: N executions (quick: 100 for 3 s; else 1,000 for 30 s), then one execution
/// with the same clients and load.
pub(crate) fn rows(
    cronium: &Path,
    dir: &Path,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let (mut n, mut secs) = if quick { (100, 3) } else { (1000, 30) };
    // `CRONIUM_BENCH_MANY=N,SECONDS` runs another size (to find where a figure turns).
    if let Some((a, b)) = std::env::var("CRONIUM_BENCH_MANY").ok().and_then(|v| {
        v.split_once(',')
            .map(|(a, b)| (a.parse().ok(), b.parse().ok()))
    }) {
        n = a.unwrap_or(n);
        secs = b.unwrap_or(secs);
    }
    let dur = Duration::from_secs(secs);
    // Two sockets per client (its end and the sidecar's), inherited by the sidecar.
    crate::load::raise_nofile(8192);
    let many = run(cronium, &dir.join("many"), n, true, dur)?;
    let one = run(cronium, &dir.join("many-one"), n, false, dur)?;
    let label = |o: &Outcome| {
        let mut s = format!("{:.0} calls/s", o.calls_per_sec);
        if o.errors > 0 {
            s.push_str(&format!(
                ", {} errors: {}",
                o.errors,
                o.first_error.as_deref().unwrap_or("?")
            ));
        }
        s
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let what = format!(
        "{n} executions, a client each ({} calls/s, 1 in {} a write) for {secs} s",
        1.0 / INTERVAL.as_secs_f64(),
        write_every()
    );
    for (kind, pick) in [
        (
            "cached reads",
            (|o: &Outcome| &o.reads) as fn(&Outcome) -> &Vec<Duration>,
        ),
        ("durable writes", |o: &Outcome| &o.writes),
    ] {
        let (m, o) = (pick(&many), pick(&one));
        rows.push(Row {
            figure: format!("{what}: {kind}, p50 and p99 latency ({})", label(&many)),
            unit: "µs",
            median: us(percentile(m, 0.5)),
            p99: Some(us(percentile(m, 0.99))),
            baseline: Some((
                format!(
                    "one execution, same clients and load (p99 {:.0} µs; {})",
                    us(percentile(o, 0.99)),
                    label(&one)
                ),
                us(percentile(o, 0.5)),
            )),
            ..Row::default()
        });
    }
    rows.push(Row {
        figure: format!(
            "{what}: sidecar RSS peak ({:.1} MiB before the clients connected)",
            many.rss_before_kib / 1024.0
        ),
        unit: "MiB",
        median: many.rss_peak_kib / 1024.0,
        baseline: Some((
            format!(
                "one execution, same clients and load ({:.1} MiB before)",
                one.rss_before_kib / 1024.0
            ),
            one.rss_peak_kib / 1024.0,
        )),
        ..Row::default()
    });
    Ok(())
}

/// One run: a sidecar, `n` clients (of `n` executions when `many`, else of one), paced
/// for `dur`.
fn run(
    cronium: &Path,
    state: &Path,
    n: usize,
    many: bool,
    dur: Duration,
) -> Result<Outcome, String> {
    let sc = Sidecar::start_with(Options {
        cronium: cronium.to_owned(),
        state_dir: Some(state.to_owned()),
        socket_name: "many.sock".to_owned(),
        secret: SECRET.to_owned(),
        config: None,
        // The default rate limit stays on: it is per execution, and part of what many
        // executions cost.
        env: vec![("CRONIUM_ADMIN_SECRET".to_owned(), ADMIN_SECRET.to_owned())],
        tcp: false,
        poll: Duration::from_millis(5),
    })
    .map_err(|e| format!("cannot start {}: {e}", cronium.display()))?;
    let pid = sc.pid().ok_or("the sidecar is not running")?;
    let admin = sc.dir.join("admin").join("admin.sock");
    // The kit waits for the script socket; the admin socket may follow a moment later.
    let waited = Instant::now();
    while UnixStream::connect(&admin).is_err() && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let tokens: Vec<String> = if many {
        (0..n)
            .map(|i| create(&admin, &format!("many-{i}"), &format!("user-{i}")))
            .collect::<Result<_, _>>()?
    } else {
        vec![create(&admin, "one", "user-one")?]
    };
    std::thread::sleep(Duration::from_millis(100));
    let rss_before_kib = rss_kib(pid).unwrap_or(0.0);

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    // The clients connect and warm up, then all start together.
    let ready = Arc::new(Barrier::new(n + 1));
    let start_at = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let token = tokens[if many { i } else { 0 }].clone();
        let socket = sc.socket.clone();
        let (stop, errors, first_error, ready, start_at) = (
            Arc::clone(&stop),
            Arc::clone(&errors),
            Arc::clone(&first_error),
            Arc::clone(&ready),
            Arc::clone(&start_at),
        );
        // One user per execution: each writes its key `k`; one execution: one user, a
        // key per client.
        let key = if many {
            "k".to_owned()
        } else {
            format!("k{i}")
        };
        let offset = INTERVAL.mul_f64(i as f64 / n as f64);
        let write_every = write_every();
        let t = std::thread::Builder::new()
            .name(format!("many-{i}"))
            .stack_size(256 << 10)
            .spawn(move || -> (Vec<Duration>, Vec<Duration>) {
                let fail = |e: &dyn std::fmt::Display| {
                    errors.fetch_add(1, Ordering::Relaxed);
                    let mut f = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    f.get_or_insert_with(|| e.to_string());
                };
                let client = cronium_client::Config::builder()
                    .socket(&socket)
                    .token(token)
                    .build()
                    .and_then(cronium_client::BlockingClient::new);
                let client = match client {
                    Ok(c) => Some(c),
                    Err(e) => {
                        fail(&e);
                        None
                    }
                };
                // Warm-up: the connection, the token's verification, the key written.
                if let Some(c) = &client {
                    if let Err(e) = c.set_variable(&key, &0u64, None) {
                        fail(&e);
                    }
                }
                ready.wait();
                let (Some(client), Some(&start)) = (client, start_at.get()) else {
                    return (Vec::new(), Vec::new());
                };
                let calls = (dur.as_secs_f64() / INTERVAL.as_secs_f64()) as usize + 4;
                let mut reads = Vec::with_capacity(calls);
                let mut writes = Vec::with_capacity(calls / WRITE_EVERY as usize + 1);
                let mut next = start + offset;
                let mut call = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next += INTERVAL;
                    call += 1;
                    let t = Instant::now();
                    let r = if write_every > 0 && call.is_multiple_of(write_every) {
                        let r = client.set_variable(&key, &call, None).map(drop);
                        writes.push(t.elapsed());
                        r
                    } else {
                        let r = client.get_variable::<u64>(&key).map(drop);
                        reads.push(t.elapsed());
                        r
                    };
                    if let Err(e) = r {
                        fail(&e);
                    }
                }
                (reads, writes)
            })
            .map_err(|e| format!("cannot start client thread {i}: {e}"))?;
        threads.push(t);
    }
    let _ = start_at.set(Instant::now() + Duration::from_millis(50));
    ready.wait();
    let began = Instant::now();
    let sampler = crate::RssPeak::start(pid, Duration::from_millis(100));
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for t in threads {
        let (r, w) = t.join().map_err(|_| "a client thread panicked")?;
        reads.extend(r);
        writes.extend(w);
    }
    let took = began.elapsed();
    let rss_peak_kib = sampler.stop().max(rss_before_kib);
    drop(sc);
    reads.sort();
    writes.sort();
    let errors = errors.load(Ordering::Relaxed);
    let first_error = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    if reads.is_empty() {
        return Err(format!(
            "many executions: no call was made ({})",
            first_error.unwrap_or_default()
        ));
    }
    Ok(Outcome {
        calls_per_sec: (reads.len() + writes.len()) as f64 / took.as_secs_f64(),
        reads,
        writes,
        errors,
        first_error,
        rss_peak_kib,
        rss_before_kib,
    })
}

/// Creates an execution through the admin API (`POST /admin/v1/executions`): its token.
fn create(admin: &Path, id: &str, user: &str) -> Result<String, String> {
    let body = serde_json::json!({"id": id, "user": user, "lifetime": "2h"}).to_string();
    let req = format!(
        "POST /admin/v1/executions HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {ADMIN_SECRET}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = UnixStream::connect(admin).map_err(|e| format!("{}: {e}", admin.display()))?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp);
    let json = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("admin API: unexpected answer to create ({e}): {text}"))?;
    v["data"]["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("admin API: no token in {text}"))
}
