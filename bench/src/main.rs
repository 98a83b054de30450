//! `make bench`: the runtime's figures, each next to a baseline measured in the same run.
//!
//! This VM's absolute timings drift several-fold between runs (a cross-CPU wake-up alone
//! costs tens of microseconds), so a figure means something only as a ratio to a floor
//! measured minutes apart at most: the floor and the figure are measured in interleaved
//! rounds, and both pinned to one CPU and unpinned.
//!
//! Usage: `cronium-bench --cronium PATH [--quick] [--out FILE]`

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const SECRET: &str = "bench-secret-bench-secret-bench-secret!";

/// Samples of one figure in one round.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Debug, Clone, Default)]
struct Series {
    samples: Vec<Duration>,
    round_medians: Vec<Duration>,
}

impl Series {
    fn add_round(&mut self, mut round: Vec<Duration>) {
        round.sort();
        self.round_medians.push(percentile(&round, 0.5));
        self.samples.extend(round);
    }
    fn median(&self) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        percentile(&s, 0.5)
    }
    fn p99(&self) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        percentile(&s, 0.99)
    }
    /// Lowest and highest median of the rounds: how much the machine drifted meanwhile.
    fn spread(&self) -> (Duration, Duration) {
        let min = self.round_medians.iter().min().copied().unwrap_or_default();
        let max = self.round_medians.iter().max().copied().unwrap_or_default();
        (min, max)
    }
}

/// One line of the result table.
#[derive(Debug)]
struct Row {
    figure: String,
    unit: &'static str,
    median: f64,
    p99: Option<f64>,
    spread: Option<(f64, f64)>,
    baseline: Option<(String, f64)>,
    target: Option<Target>,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    /// The ratio to the baseline must be at most this.
    Ratio(f64),
    /// The median must be at most this many units.
    Max(f64),
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .map(|(_, b)| if *b > 0.0 { self.median / b } else { f64::NAN })
    }
    fn met(&self) -> Option<bool> {
        match self.target? {
            Target::Ratio(r) => self.ratio().map(|x| x <= r),
            Target::Max(m) => Some(self.median <= m),
        }
    }
    fn target_text(&self) -> String {
        match self.target {
            Some(Target::Ratio(r)) => format!("≤ {r}×"),
            Some(Target::Max(m)) => format!("≤ {m} {}", self.unit),
            None => "—".into(),
        }
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Args {
    cronium: PathBuf,
    quick: bool,
    out: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut cronium = None;
    let mut quick = false;
    let mut out = PathBuf::from("bench/results/latest.json");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cronium" => cronium = it.next().map(PathBuf::from),
            "--quick" => quick = true,
            "--out" => out = it.next().map(PathBuf::from).ok_or("--out needs a file")?,
            other => return Err(format!("unknown argument {other}; usage: cronium-bench --cronium PATH [--quick] [--out FILE]")),
        }
    }
    let cronium = cronium.ok_or("--cronium PATH is required (the release binary)")?;
    Ok(Args {
        cronium,
        quick,
        out,
    })
}

/// A release sidecar for the benchmarks.
struct Sidecar {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cronium_cmd(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("CRONIUM_TOKEN_SECRET", SECRET)
        .env("CRONIUM_LOG", "warn")
        .env("CRONIUM_RATE_LIMIT", "0")
        .arg("--state-dir")
        .arg(dir);
    c
}

fn start_sidecar(
    bin: &Path,
    dir: &Path,
    name: &str,
    cpu: Option<usize>,
) -> Result<(Sidecar, Duration), String> {
    let socket = dir.join(format!("{name}.sock"));
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(bin);
            c.env("CRONIUM_TOKEN_SECRET", SECRET)
                .env("CRONIUM_LOG", "warn")
                .env("CRONIUM_RATE_LIMIT", "0")
                .arg("--state-dir")
                .arg(dir);
            c
        }
        None => cronium_cmd(bin, dir),
    };
    cmd.arg("serve")
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    loop {
        if UnixStream::connect(&socket).is_ok() {
            break;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err("the sidecar did not start within 10 s".into());
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let took = start.elapsed();
    Ok((
        Sidecar {
            child,
            socket,
            dir: dir.to_owned(),
        },
        took,
    ))
}

fn create_execution(bin: &Path, dir: &Path) -> Result<(String, String), String> {
    let out = cronium_cmd(bin, dir)
        .args([
            "executions",
            "create",
            "--user",
            "bench",
            "--ttl",
            "2h",
            "--json",
            "--input",
            "{\"n\":1}",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((
        v["id"].as_str().unwrap_or_default().to_owned(),
        v["token"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Pins the calling thread to `cpu`, or unpins it (all CPUs) with `None`.
#[allow(unsafe_code)] // sched_setaffinity has no safe wrapper in std.
fn pin_self(cpu: Option<usize>) {
    // SAFETY: cpu_set_t is plain data; we pass its size and a valid pointer.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        match cpu {
            Some(c) => libc::CPU_SET(c, &mut set),
            None => (0..n).for_each(|c| libc::CPU_SET(c, &mut set)),
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The physical floor: a Unix-socket ping-pong with the same request and response sizes
/// as the HTTP exchange, served by a thread doing nothing but read and write.
struct Floor {
    conn: UnixStream,
    req: Vec<u8>,
    resp: Vec<u8>,
    _server: std::thread::JoinHandle<()>,
}

impl Floor {
    fn new(
        dir: &Path,
        req_len: usize,
        resp_len: usize,
        cpu: Option<usize>,
    ) -> std::io::Result<Self> {
        let path = dir.join(format!(
            "floor-{}.sock",
            cpu.map_or("any".into(), |c| c.to_string())
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let server = std::thread::spawn(move || {
            pin_self(cpu);
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = vec![0u8; req_len];
            let resp = vec![b'r'; resp_len];
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(&resp).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            conn: UnixStream::connect(&path)?,
            req: vec![b'q'; req_len],
            resp: vec![0u8; resp_len],
            _server: server,
        })
    }

    fn once(&mut self) -> std::io::Result<()> {
        self.conn.write_all(&self.req)?;
        self.conn.read_exact(&mut self.resp)
    }
}

fn time_n(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// Request and response sizes of one cached variable read, for the floor to match.
fn http_sizes(socket: &Path, token: &str) -> std::io::Result<(usize, usize)> {
    let req = format!("GET /v1/variables/bench HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\r\n");
    let mut s = UnixStream::connect(socket)?;
    s.write_all(req.as_bytes())?;
    s.set_read_timeout(Some(Duration::from_millis(300)))?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
        if resp.windows(4).any(|w| w == b"\r\n\r\n") && resp.ends_with(b"}") {
            break;
        }
    }
    Ok((req.len(), resp.len()))
}

/// A raw HTTP/1.1 client on one keep-alive Unix socket: prebuilt request bytes, response
/// read by Content-Length. What the sidecar costs, without any client library.
struct RawHttp {
    conn: UnixStream,
    req: Vec<u8>,
    buf: Vec<u8>,
}

impl RawHttp {
    fn new(socket: &Path, token: &str) -> std::io::Result<Self> {
        Ok(Self {
            conn: UnixStream::connect(socket)?,
            req: format!("GET /v1/variables/bench HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\r\n").into_bytes(),
            buf: vec![0u8; 8192],
        })
    }

    fn once(&mut self) -> std::io::Result<()> {
        self.conn.write_all(&self.req)?;
        let mut have = 0;
        loop {
            let n = self.conn.read(&mut self.buf[have..])?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            have += n;
            let data = &self.buf[..have];
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&data[..end]).unwrap_or("");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if have >= end + 4 + len {
                    return Ok(());
                }
            }
        }
    }
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cronium-bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("cronium-bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    let (rounds, per_round, starts) = if args.quick {
        (1, 200, 3)
    } else {
        (5, 3000, 30)
    };
    let mut rows = Vec::new();

    // Exec → socket accepting, next to exec of /bin/true until it exits.
    let mut start_series = Series::default();
    let mut true_series = Series::default();
    let mut idle_rss = None;
    for i in 0..starts {
        let d = dir.join(format!("start{i}"));
        let (sc, took) = start_sidecar(&args.cronium, &d, "s", None)?;
        if i == 0 {
            // Idle: started, one request answered, nothing else.
            let _ = UnixStream::connect(&sc.socket).and_then(|mut s| {
                s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
                let mut sink = Vec::new();
                s.read_to_end(&mut sink).map(|_| ())
            });
            std::thread::sleep(Duration::from_millis(100));
            idle_rss = rss_kib(sc.child.id());
        }
        drop(sc);
        start_series.add_round(vec![took]);
        let t = Instant::now();
        let _ = Command::new("true").status();
        true_series.add_round(vec![t.elapsed()]);
    }
    rows.push(Row {
        figure: "sidecar exec → socket accepting".into(),
        unit: "µs",
        median: us(start_series.median()),
        p99: Some(us(start_series.p99())),
        spread: None,
        baseline: Some(("exec of /bin/true to exit".into(), us(true_series.median()))),
        target: Some(Target::Max(5000.0)),
    });

    if let Some(kib) = idle_rss {
        rows.push(Row {
            figure: "sidecar idle RSS (started, one request answered)".into(),
            unit: "MiB",
            median: kib / 1024.0,
            p99: None,
            spread: None,
            baseline: None,
            target: Some(Target::Max(8.0)),
        });
    }

    for (label, cpu) in [("pinned to one CPU", Some(0usize)), ("unpinned", None)] {
        pin_self(cpu);
        let (sc, _) = start_sidecar(
            &args.cronium,
            &dir.join(format!("lat-{}", cpu.is_some())),
            "lat",
            cpu,
        )?;
        let (_id, token) = create_execution(&args.cronium, &sc.dir)?;
        let client = cronium_client::BlockingClient::new(
            cronium_client::Config::builder()
                .socket(&sc.socket)
                .token(token.clone())
                .build()
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        client
            .set_variable("bench", &json!({"n": 1, "s": "payload"}), None)
            .map_err(|e| e.to_string())?;
        let (req_len, resp_len) = http_sizes(&sc.socket, &token).map_err(|e| e.to_string())?;
        let mut floor = Floor::new(dir, req_len, resp_len, cpu).map_err(|e| e.to_string())?;
        let mut raw = RawHttp::new(&sc.socket, &token).map_err(|e| e.to_string())?;
        let mut raw_s = Series::default();
        let mut floor_s = Series::default();
        let mut get_s = Series::default();
        let mut set_s = Series::default();
        // Warm up both paths (connections, caches, branch predictors).
        for _ in 0..200 {
            floor.once().map_err(|e| e.to_string())?;
            raw.once().map_err(|e| e.to_string())?;
            let _ = client.get_variable::<serde_json::Value>("bench");
        }
        for _ in 0..rounds {
            floor_s.add_round(time_n(per_round, || {
                let _ = floor.once();
            }));
            raw_s.add_round(time_n(per_round, || {
                let _ = raw.once();
            }));
            get_s.add_round(time_n(per_round, || {
                let _ = client.get_variable::<serde_json::Value>("bench");
            }));
            let mut i = 0u64;
            set_s.add_round(time_n(per_round / 2, || {
                i += 1;
                let _ = client.set_variable("bench_set", &i, None);
            }));
        }
        let floor_med = us(floor_s.median());
        let spread = |s: &Series| {
            let (a, b) = s.spread();
            Some((us(a), us(b)))
        };
        rows.push(Row {
            figure: format!(
                "floor: raw Unix-socket ping-pong ({req_len} B / {resp_len} B), {label}"
            ),
            unit: "µs",
            median: floor_med,
            p99: Some(us(floor_s.p99())),
            spread: spread(&floor_s),
            baseline: None,
            target: None,
        });
        rows.push(Row {
            figure: format!("raw HTTP/1.1 keep-alive client → sidecar, cached read, {label}"),
            unit: "µs",
            median: us(raw_s.median()),
            p99: Some(us(raw_s.p99())),
            spread: spread(&raw_s),
            baseline: Some(("floor".into(), floor_med)),
            target: None,
        });
        rows.push(Row {
            figure: format!("client-core cached get_variable, {label}"),
            unit: "µs",
            median: us(get_s.median()),
            p99: Some(us(get_s.p99())),
            spread: spread(&get_s),
            baseline: Some(("floor".into(), floor_med)),
            target: Some(Target::Ratio(1.3)),
        });
        rows.push(Row {
            figure: format!("client-core durable set_variable, {label}"),
            unit: "µs",
            median: us(set_s.median()),
            p99: Some(us(set_s.p99())),
            spread: spread(&set_s),
            baseline: Some(("floor".into(), floor_med)),
            target: Some(Target::Max(100.0)),
        });
        if cpu.is_none() {
            // Idle RSS after this workload settled.
            std::thread::sleep(Duration::from_millis(200));
            if let Some(kib) = rss_kib(sc.child.id()) {
                rows.push(Row {
                    figure: "sidecar RSS after the latency runs".into(),
                    unit: "MiB",
                    median: kib / 1024.0,
                    p99: None,
                    spread: None,
                    baseline: None,
                    target: None,
                });
            }
        }
    }
    pin_self(None);

    print_table(&rows, args.quick);
    write_json(&rows, &args.out, args.quick)?;
    Ok(())
}

fn print_table(rows: &[Row], quick: bool) {
    println!();
    println!(
        "Cronium runtime benchmarks{} — medians; ratios against a baseline measured in the same run",
        if quick { " (quick: one brief round, figures are noisy)" } else { "" }
    );
    println!();
    println!(
        "| figure | median | p99 | spread of round medians | baseline | ratio | target | met |"
    );
    println!("|---|---:|---:|---|---|---:|---|---|");
    for r in rows {
        let p99 = r.p99.map_or("—".into(), |p| format!("{p:.1} {}", r.unit));
        let spread = r
            .spread
            .map_or("—".into(), |(a, b)| format!("{a:.1}–{b:.1}"));
        let baseline = r
            .baseline
            .as_ref()
            .map_or("—".into(), |(n, v)| format!("{n}: {v:.1} {}", r.unit));
        let ratio = r.ratio().map_or("—".into(), |x| format!("{x:.2}×"));
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "—",
        };
        println!(
            "| {} | {:.1} {} | {p99} | {spread} | {baseline} | {ratio} | {} | {met} |",
            r.figure,
            r.median,
            r.unit,
            r.target_text()
        );
    }
    println!();
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "kernel": kernel.trim(),
    })
}

fn write_json(rows: &[Row], out: &Path, quick: bool) -> Result<(), String> {
    let doc = json!({
        "quick": quick,
        "machine": machine(),
        "rows": rows.iter().map(|r| json!({
            "figure": r.figure,
            "unit": r.unit,
            "median": r.median,
            "p99": r.p99,
            "spread": r.spread.map(|(a, b)| [a, b]),
            "baseline": r.baseline.as_ref().map(|(n, v)| json!({"name": n, "median": v})),
            "ratio": r.ratio(),
            "target": r.target_text(),
            "met": r.met(),
        })).collect::<Vec<_>>(),
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap_or_default())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("results written to {}", out.display());
    Ok(())
}
