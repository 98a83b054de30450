//! `cronium-soak` (`make soak`): load and abuse figures of a release sidecar on loopback,
//! each bounded in time, each with its pass mark (issue 19):
//!
//! 1. 10,000 concurrent keep-alive connections for 60 s: 0 errors, sidecar RSS ≤ 150 MB.
//! 2. 2,000 header-slowloris and 2,000 body-slowloris connections while a normal client
//!    (a new connection per request) keeps ≥ 99 % success.
//! 3. Storage full and recovered without a restart: SQLite on a 8 MiB tmpfs in the
//!    sidecar's own mount namespace (`unshare -rm`); writes answer 503 while it is full,
//!    `/ready` says so, and both recover once space is freed; every acknowledged write
//!    reads back.
//!
//! ```text
//! cronium-soak [--cronium PATH] [--connections N] [--duration SECS] [--slow N] [--slow-duration SECS]
//! ```
//!
//! Prints one line per figure; exits 1 when a pass mark is missed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cronium_testkit::{ExecutionSpec, Options, Sidecar};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    cronium: PathBuf,
    connections: usize,
    duration: u64,
    slow: usize,
    slow_duration: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cronium: cronium_testkit::default_cronium(),
        connections: 10_000,
        duration: 60,
        slow: 2_000,
        slow_duration: 45,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{v:?} is not a number"))
        };
        match flag.as_str() {
            "--cronium" => a.cronium = PathBuf::from(value()?),
            "--connections" => a.connections = num(value()?)? as usize,
            "--duration" => a.duration = num(value()?)?,
            "--slow" => a.slow = num(value()?)? as usize,
            "--slow-duration" => a.slow_duration = num(value()?)?,
            _ => {
                return Err(format!(
                    "unknown argument {flag}; see the doc comment of bench/src/bin/cronium-soak.rs"
                ))
            }
        }
    }
    Ok(a)
}

/// Raises the open-file limit to its hard maximum (the sidecar, a child, inherits it).
#[allow(unsafe_code)] // getrlimit and setrlimit have no safe wrapper in std.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer to a local.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// The sidecar's resident memory in MB (10⁶ bytes, the unit of the 150 MB mark), from
/// /proc/PID/status.
fn rss_mb(pid: u32) -> f64 {
    cronium_testkit::rss_kib(pid).map_or(0.0, |kib| kib as f64 * 1024.0 / 1e6)
}

fn start(cronium: &Path, env: &[(&str, &str)]) -> Sidecar {
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.push(("CRONIUM_RATE_LIMIT".into(), "0".into()));
    env.push(("CRONIUM_LOG".into(), "warn".into()));
    Sidecar::start_with(Options {
        cronium: cronium.to_owned(),
        env,
        ..Options::default()
    })
    .expect("start the sidecar")
}

/// Sends one request and reads its answer (head and `content-length` body); the status.
async fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    s.write_all(req).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return Ok(status);
        }
    }
}

fn get(path: &str, token: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {token}\r\n\r\n")
        .into_bytes()
}

/// Samples the sidecar's RSS every 200 ms until `stop`; the peak and the last sample, MB.
fn sample_rss(
    pid: u32,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(f64, f64)> {
    std::thread::spawn(move || {
        let (mut peak, mut last) = (0.0f64, 0.0f64);
        while !stop.load(Ordering::Relaxed) {
            last = rss_mb(pid);
            peak = peak.max(last);
            std::thread::sleep(Duration::from_millis(200));
        }
        (peak, last)
    })
}

fn sampler_result(
    stop: Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<(f64, f64)>,
) -> (f64, f64) {
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap_or((0.0, 0.0))
}

/// Figure 1: `n` keep-alive connections, each sending a request every 2 s for `secs`.
fn keep_alive(rt: &tokio::runtime::Runtime, a: &Args) -> bool {
    let cap = (a.connections + 1000).to_string();
    let s = start(&a.cronium, &[("CRONIUM_MAX_CONNECTIONS", &cap)]);
    let e = s.create(&ExecutionSpec::default()).expect("create");
    let addr = s.tcp.expect("tcp");
    let pid = s.pid().expect("pid");
    let idle = rss_mb(pid);
    let req: Arc<[u8]> = get("/v1/input", &e.token).into();
    let (ok, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_rss(pid, stop.clone());
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let n = a.connections;
    let open = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (req, ok, errors, open) = (req.clone(), ok.clone(), errors.clone(), open.clone());
            tasks.spawn(async move {
                let Ok(mut c) = TcpStream::connect(addr).await else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                open.fetch_add(1, Ordering::Relaxed);
                // Spread the first requests over the first 2 s.
                tokio::time::sleep(Duration::from_millis((i % 2000) as u64)).await;
                let mut buf = Vec::with_capacity(1024);
                while Instant::now() < deadline {
                    match exchange(&mut c, &req, &mut buf).await {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
            if i % 500 == 499 {
                tokio::task::yield_now().await;
            }
        }
        while tasks.join_next().await.is_some() {}
    });
    let (peak, last) = sampler_result(stop, sampler);
    let (ok, errors) = (ok.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let pass = errors == 0 && peak <= 150.0;
    let open = open.load(Ordering::Relaxed);
    println!(
        "keep-alive: {open} connections open at once for {} s: {ok} requests, {errors} errors; sidecar RSS {idle:.1} MB idle, {peak:.1} MB peak ({:.1} KiB per connection over idle), {last:.1} MB at the end (mark: 0 errors, ≤ 150 MB peak) {}",
        a.duration,
        (peak - idle) * 1e6 / 1024.0 / open.max(1) as f64,
        if pass { "PASS" } else { "FAIL" }
    );
    pass
}

/// Figure 2: header and body slowloris at `a.slow` connections each, and a normal client.
fn slowloris(rt: &tokio::runtime::Runtime, a: &Args) -> bool {
    let s = start(&a.cronium, &[]);
    let e = s.create(&ExecutionSpec::default()).expect("create");
    let addr = s.tcp.expect("tcp");
    let pid = s.pid().expect("pid");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_rss(pid, stop.clone());
    let deadline = Instant::now() + Duration::from_secs(a.slow_duration);
    let cut = Arc::new(AtomicU64::new(0));
    let body_head: Arc<[u8]> = format!(
        "PUT /v1/output HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"data\":\"",
        e.token
    )
    .into_bytes()
    .into();
    let normal = get("/v1/input", &e.token);
    let (tries, ok) = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..2 * a.slow {
            let header = i < a.slow;
            let (cut, body_head) = (cut.clone(), body_head.clone());
            tasks.spawn(async move {
                tokio::time::sleep(Duration::from_millis((i % 1000) as u64)).await;
                // Reconnects whenever the sidecar cuts it off, until the deadline.
                while Instant::now() < deadline {
                    let Ok(mut c) = TcpStream::connect(addr).await else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    let first: &[u8] = if header {
                        b"GET /v1/input HTTP/1.1\r\nHost: soak\r\n"
                    } else {
                        &body_head
                    };
                    if c.write_all(first).await.is_err() {
                        continue;
                    }
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if Instant::now() >= deadline {
                            return;
                        }
                        let more: &[u8] = if header { b"X-Slow: 1\r\n" } else { b"x" };
                        if c.write_all(more).await.is_err() {
                            cut.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        }
        // The normal client starts once the slow ones are in place: a new connection
        // per request, 5 s to get its answer.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (mut tries, mut ok) = (0u64, 0u64);
        let mut buf = Vec::new();
        while Instant::now() + Duration::from_secs(1) < deadline {
            tries += 1;
            let one = async {
                let mut c = TcpStream::connect(addr).await?;
                exchange(&mut c, &normal, &mut buf).await
            };
            if let Ok(Ok(200)) = tokio::time::timeout(Duration::from_secs(5), one).await {
                ok += 1;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        while tasks.join_next().await.is_some() {}
        (tries, ok)
    });
    let (peak, _) = sampler_result(stop, sampler);
    let ratio = ok as f64 / tries.max(1) as f64 * 100.0;
    let pass = ratio >= 99.0;
    println!(
        "slowloris: {} header + {} body slowloris connections for {} s: the normal client {ok}/{tries} ({ratio:.2} %) answered 200; {} slow connections cut off by the timeouts; sidecar RSS peak {peak:.1} MB (mark: ≥ 99 %) {}",
        a.slow,
        a.slow,
        a.slow_duration,
        cut.load(Ordering::Relaxed),
        if pass { "PASS" } else { "FAIL" }
    );
    pass
}

/// A `cronium` wrapper serving in its own mount namespace with an 8 MiB tmpfs on `db`,
/// admin commands entering that namespace.
fn ns_wrapper(dir: &Path, db: &Path, real: &Path) -> PathBuf {
    let config = dir.join("cronium.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}/cronium.db\"\n", db.display()),
    )
    .expect("config");
    let pid = dir.join("serve.pid");
    let script = dir.join("cronium.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport CRONIUM_CONFIG='{config}'\ncase \" $* \" in\n*\" serve \"*)\n    echo $$ > '{pid}'\n    exec unshare -rm sh -c 'mount -t tmpfs -o size=8m tmpfs \"$0\" && exec \"$@\"' '{db}' '{real}' \"$@\" ;;\n*)\n    exec nsenter -t \"$(cat '{pid}')\" -U -m --preserve-credentials '{real}' \"$@\" ;;\nesac\n",
            config = config.display(),
            pid = pid.display(),
            db = db.display(),
            real = real.display(),
        ),
    )
    .expect("script");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

/// Figure 3: the store's disk fills up under a writer and frees again; no restart.
fn storage_full(rt: &tokio::runtime::Runtime, a: &Args) -> bool {
    let permitted = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !permitted {
        println!("storage full: skipped (`unshare -rm` is not permitted here)");
        return true;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).expect("db dir");
    let s = Sidecar::start_with(Options {
        cronium: ns_wrapper(tmp.path(), &db, &a.cronium),
        state_dir: Some(tmp.path().join("state")),
        env: vec![("CRONIUM_RATE_LIMIT".into(), "0".into())],
        ..Options::default()
    })
    .expect("start");
    let e = s.create(&ExecutionSpec::default()).expect("create");
    let addr = s.tcp.expect("tcp");
    let pid = std::fs::read_to_string(tmp.path().join("serve.pid")).expect("pid");
    let ballast = Path::new("/proc")
        .join(pid.trim())
        .join("root")
        .join(db.strip_prefix("/").expect("absolute"))
        .join("ballast");
    let value = "v".repeat(16 * 1024);
    let put = |i: u64| {
        let body = format!("{{\"value\":\"{value}{i}\"}}");
        format!(
            "PUT /v1/variables/k{i} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            e.token,
            body.len()
        )
        .into_bytes()
    };
    let ready = get("/ready", &e.token);
    let result = rt.block_on(async {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        let mut buf = Vec::new();
        let mut acked = Vec::new();
        let (mut refused, mut other) = (0u64, 0u64);
        let mut i = 0u64;
        // Writes before, during and after the disk is full.
        let phase = |full: bool| {
            if full {
                let mut f = std::fs::File::create(&ballast).expect("ballast");
                let chunk = vec![0u8; 64 * 1024];
                while f.write_all(&chunk).is_ok() {}
                let _ = f.sync_all();
            } else {
                let _ = std::fs::remove_file(&ballast);
            }
        };
        for _ in 0..20 {
            if exchange(&mut c, &put(i), &mut buf).await.ok() == Some(200) {
                acked.push(i);
            }
            i += 1;
        }
        phase(true);
        for _ in 0..50 {
            match exchange(&mut c, &put(i), &mut buf).await {
                Ok(200) => acked.push(i),
                Ok(503) => refused += 1,
                _ => {
                    other += 1;
                    c = TcpStream::connect(addr).await.expect("connect");
                }
            }
            i += 1;
        }
        let ready_full = exchange(&mut c, &ready, &mut buf).await.unwrap_or(0);
        let freed = Instant::now();
        phase(false);
        let mut recovered = None;
        while freed.elapsed() < Duration::from_secs(10) {
            if exchange(&mut c, &ready, &mut buf).await.ok() == Some(200)
                && exchange(&mut c, &put(i), &mut buf).await.ok() == Some(200)
            {
                acked.push(i);
                recovered = Some(freed.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        i += 1;
        let mut lost = 0;
        for k in &acked {
            let r = get(&format!("/v1/variables/k{k}"), &e.token);
            if exchange(&mut c, &r, &mut buf).await.ok() != Some(200) {
                lost += 1;
            }
        }
        (acked.len(), refused, other, ready_full, recovered, lost, i)
    });
    let (acked, refused, other, ready_full, recovered, lost, _) = result;
    let pass = refused > 0 && other == 0 && ready_full == 503 && recovered.is_some() && lost == 0;
    println!(
        "storage full (8 MiB tmpfs, filled under a writer, then freed): {refused} writes refused 503 while full, {other} other failures, /ready {ready_full} while full, ready and writing again {} after the space was freed (same process), {acked} acknowledged writes, {lost} of them lost {}",
        recovered.map_or("never".to_owned(), |d| format!("{} ms", d.as_millis())),
        if pass { "PASS" } else { "FAIL" }
    );
    pass
}

fn main() -> std::process::ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cronium-soak: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let nofile = raise_nofile();
    // Each side (this process, the sidecar) holds one descriptor per connection.
    let needed = a.connections.max(2 * a.slow) as u64 + 2000;
    if nofile < needed {
        eprintln!("cronium-soak: the open-file limit is {nofile}; {needed} are needed (run `ulimit -n {needed}` first, or lower --connections)");
        return std::process::ExitCode::from(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "cronium-soak: {} (open-file limit {nofile})",
        a.cronium.display()
    );
    let mut pass = keep_alive(&rt, &a);
    pass &= slowloris(&rt, &a);
    pass &= storage_full(&rt, &a);
    if pass {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
