//! `make bench`: the runtime's figures, each next to a baseline measured in the same run.
//!
//! This VM's absolute timings drift several-fold between runs (a cross-CPU wake-up alone
//! costs tens of microseconds), so a figure means something only as a ratio to a floor
//! measured minutes apart at most: the floor and the figure are measured in interleaved
//! rounds, and both pinned to one CPU and unpinned.
//!
//! Usage: `cronium-bench --cronium PATH [--quick] [--containers] [--only postgres|stream|many] [--out FILE]`
//! (`--containers`: only the container rows, printed; `--only postgres`: only the
//! PostgreSQL store's rows; `--only stream`: only the output stream's rows, both stores;
//! `--only many`: only the many-executions rows)
//!
//! Writes the table to stdout, the rows as JSON to FILE (default
//! `$CARGO_TARGET_DIR/bench/latest.json`, or `quick.json` with `--quick`) and the latency
//! chart beside it (`latency.svg`, or `quick-latency.svg`). Clients in other languages
//! (Python, Node, Bash, C) are spawned once per round; one that is missing or fails gets
//! a "skipped: why" row, while a failure of the floor, client-core or the sidecar fails
//! the run.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cronium_testkit::{Options, Sidecar};
use serde_json::json;

mod callgrind;
mod conns;
mod containers;
mod external;
mod load;
mod many;
mod postgres;
mod stream;
mod svg;
mod symbol_order;

const SECRET: &str = "bench-secret-bench-secret-bench-secret!";

/// How client-core's row reads the value: as JSON text, as every binding asks for it, so
/// the row is the library's cost and the bindings' rows compare with the same work
/// (a `serde_json::Value` would add building its map, the caller's choice).
type AsText = Box<serde_json::value::RawValue>;

/// The median of `a[i] / b[i]` over rounds, when both have the same rounds.
fn paired_ratio(a: &[Duration], b: &[Duration]) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let mut r: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| !b.is_zero())
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied()
}

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

/// An external client's row: (client, figure, baseline, target).
type ExtRow<'a> = (&'a str, &'a str, Option<(String, f64)>, Option<Target>);

/// One line of the result table.
#[derive(Debug, Default)]
struct Row {
    figure: String,
    unit: &'static str,
    median: f64,
    p99: Option<f64>,
    spread: Option<(f64, f64)>,
    baseline: Option<(String, f64)>,
    target: Option<Target>,
    /// Why the figure could not be measured (an optional client missing).
    skipped: Option<String>,
    /// The median of the per-round ratios (each round's median over the baseline's median
    /// in the same round): robust to the machine drifting between rounds.
    paired_ratio: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    /// The ratio to the baseline must be at most this.
    Ratio(f64),
    /// The ratio to the baseline must be at least this (the baseline is the faster one).
    MinRatio(f64),
    /// The median must be at most this many units.
    Max(f64),
    /// The median may exceed the baseline by at most this many units.
    Over(f64),
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        if self.skipped.is_some() {
            return None;
        }
        if self.paired_ratio.is_some() {
            return self.paired_ratio;
        }
        self.baseline
            .as_ref()
            .map(|(_, b)| if *b > 0.0 { self.median / b } else { f64::NAN })
    }
    fn met(&self) -> Option<bool> {
        if self.skipped.is_some() {
            return None;
        }
        match self.target? {
            Target::Ratio(r) => self.ratio().map(|x| x <= r),
            Target::MinRatio(r) => self.ratio().map(|x| x >= r),
            Target::Max(m) => Some(self.median <= m),
            Target::Over(m) => self.baseline.as_ref().map(|(_, b)| self.median - b <= m),
        }
    }
    fn target_text(&self) -> String {
        match self.target {
            Some(Target::Ratio(r)) => format!("≤ {r}×"),
            Some(Target::MinRatio(r)) => format!("≥ {r}×"),
            Some(Target::Max(m)) => format!("≤ {m} {}", self.unit),
            Some(Target::Over(m)) => format!("≤ baseline + {m} {}", self.unit),
            None => "—".into(),
        }
    }
    /// A latency row from a series, against a baseline median.
    fn latency(
        figure: String,
        s: &Series,
        baseline: Option<(String, f64)>,
        target: Option<Target>,
    ) -> Row {
        let (a, b) = s.spread();
        Row {
            figure,
            unit: "µs",
            median: us(s.median()),
            p99: Some(us(s.p99())),
            spread: Some((us(a), us(b))),
            baseline,
            target,
            skipped: None,
            paired_ratio: None,
        }
    }
    fn paired(mut self, figure_rounds: &[Duration], baseline_rounds: &[Duration]) -> Row {
        self.paired_ratio = paired_ratio(figure_rounds, baseline_rounds);
        self
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Args {
    cronium: PathBuf,
    quick: bool,
    out: PathBuf,
    /// `--containers`: only the container rows (printed, not written).
    containers_only: bool,
    /// Only the PostgreSQL store's rows (`--only postgres`).
    only_postgres: bool,
    /// Only the output stream's rows, both stores (`--only stream`).
    only_stream: bool,
    /// Only the many-executions rows (`--only many`).
    only_many: bool,
}

fn args() -> Result<Args, String> {
    let mut cronium = None;
    let mut quick = false;
    let mut out = None;
    let mut containers_only = false;
    let mut only_postgres = false;
    let mut only_stream = false;
    let mut only_many = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cronium" => cronium = it.next().map(PathBuf::from),
            "--quick" => quick = true,
            "--containers" => containers_only = true,
            "--out" => out = Some(it.next().map(PathBuf::from).ok_or("--out needs a file")?),
            "--only" => match it.next().as_deref() {
                Some("postgres") => only_postgres = true,
                Some("stream") => only_stream = true,
                Some("many") => only_many = true,
                other => return Err(format!("--only takes `postgres`, `stream` or `many`, not {other:?}")),
            },
            other => return Err(format!("unknown argument {other}; usage: cronium-bench --cronium PATH [--quick] [--containers] [--only postgres|stream|many] [--out FILE]")),
        }
    }
    let cronium = cronium.ok_or("--cronium PATH is required (the release binary)")?;
    let out = out.unwrap_or_else(|| default_out(quick));
    Ok(Args {
        cronium,
        quick,
        out,
        containers_only,
        only_postgres,
        only_stream,
        only_many,
    })
}

/// Where a run writes its JSON (and its chart beside it) without `--out`: under the cargo
/// target directory, never over a tracked file (the chart docs/performance.md shows is
/// `bench/results/latency.svg`, updated on purpose by `make bench-publish`). Quick runs
/// never overwrite the full run's results.
fn default_out(quick: bool) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target
        .join("bench")
        .join(if quick { "quick.json" } else { "latest.json" })
}

/// A release sidecar for the benchmarks, started by the test kit (the one launcher): on
/// its socket alone unless `listen` (the start and idle memory are the socket's), checked
/// every 50 µs so [`Sidecar::started`] times the start, with no rate limit. A pinned
/// sidecar is one started from a pinned thread: a child inherits its affinity.
fn start_sidecar(bin: &Path, dir: &Path, name: &str, listen: bool) -> Result<Sidecar, String> {
    Sidecar::start_with(Options {
        cronium: bin.to_owned(),
        state_dir: Some(dir.to_owned()),
        socket_name: format!("{name}.sock"),
        secret: SECRET.to_owned(),
        config: None,
        env: vec![("CRONIUM_RATE_LIMIT".to_owned(), "0".to_owned())],
        tcp: listen,
        poll: Duration::from_micros(50),
    })
    .map_err(|e| format!("cannot start {}: {e}", bin.display()))
}

/// The sidecar's process id (for its RSS).
fn sc_pid(sc: &Sidecar) -> Result<u32, String> {
    sc.pid()
        .ok_or_else(|| "the sidecar is not running".to_owned())
}

/// The token of a new execution (user `bench`, input `{"n":1}`, valid for 2 h).
fn create_execution(sc: &Sidecar) -> Result<String, String> {
    sc.create_with_flags(
        &["--user", "bench", "--ttl", "2h", "--input", "{\"n\":1}"],
        &[],
    )
    .map(|e| e.token)
    .map_err(|e| e.to_string())
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

/// One `GET /health` on a connection of its own, read to its end: what the idle-RSS figure
/// has the sidecar do.
fn health_once(socket: &Path) -> std::io::Result<()> {
    let mut s = UnixStream::connect(socket)?;
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
    s.read_to_end(&mut Vec::new()).map(drop)
}

/// The peak RSS of a process, sampled on a thread of its own until [`RssPeak::stop`].
struct RssPeak {
    pid: u32,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl RssPeak {
    /// Samples `pid`'s RSS every `every` from now on.
    fn start(pid: u32, every: Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut peak = 0.0f64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(rss_kib(pid).unwrap_or(0.0));
                    std::thread::sleep(every);
                }
                peak
            })
        };
        Self { pid, stop, thread }
    }

    /// The peak in KiB, a last sample included.
    fn stop(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = self.thread.join().unwrap_or(0.0);
        peak.max(rss_kib(self.pid).unwrap_or(0.0))
    }
}

/// A process's resident memory in KiB, as the figures' floating point.
fn rss_kib(pid: u32) -> Option<f64> {
    cronium_testkit::rss_kib(pid).map(|kib| kib as f64)
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
fn http_sizes(socket: &Path, token: &str) -> std::io::Result<(usize, usize, Vec<u8>)> {
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
    let body = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|e| resp[e + 4..].to_vec())
        .unwrap_or_default();
    Ok((req.len(), resp.len(), body))
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
    if let Some(done) = callgrind::modes() {
        if let Err(e) = done {
            eprintln!("cronium-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
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
    if args.only_stream {
        let (sc, token, _) = bench_sidecar(args, &dir.join("stream"), "stream", false)?;
        stream::sqlite_rows(&sc, &token, dir, args.quick, &mut rows)?;
        drop(sc);
        postgres::stream_rows(&args.cronium, dir, args.quick, &mut rows)?;
        print_table(&rows, args.quick);
        return Ok(());
    }
    if args.only_many {
        many::rows(&args.cronium, dir, args.quick, &mut rows)?;
        print_table(&rows, args.quick);
        return Ok(());
    }
    if args.containers_only || args.only_postgres {
        if args.containers_only {
            containers::container_rows(
                &args.cronium,
                dir,
                if args.quick { 2 } else { 10 },
                &mut rows,
            );
        } else {
            postgres::rows(&args.cronium, dir, rounds, per_round, args.quick, &mut rows)?;
        }
        print_table(&rows, args.quick);
        return Ok(());
    }

    // Exec → socket accepting, next to exec of /bin/true until it exits.
    let mut start_series = Series::default();
    let mut true_series = Series::default();
    let mut idle_rss = None;
    for i in 0..starts {
        let d = dir.join(format!("start{i}"));
        let sc = start_sidecar(&args.cronium, &d, "s", false)?;
        let took = sc.started;
        if i == 0 {
            // Idle: started, one request answered, nothing else.
            let _ = health_once(&sc.socket);
            std::thread::sleep(Duration::from_millis(100));
            idle_rss = rss_kib(sc_pid(&sc)?);
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
        ..Row::default()
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
            ..Row::default()
        });
    }

    let programs = external::programs(dir, per_round, args.quick);
    let mut chart: Vec<svg::Bar> = Vec::new();
    for (label, cpu) in [("pinned to one CPU", Some(0usize)), ("unpinned", None)] {
        // The bench process's affinity is inherited by the client programs it spawns.
        pin_self(cpu);
        let state = dir.join(format!("lat-{}", cpu.is_some()));
        let (sc, token, client) = bench_sidecar(args, &state, "lat", true)?;
        let (req_len, resp_len, _) = http_sizes(&sc.socket, &token).map_err(|e| e.to_string())?;
        let mut floor = Floor::new(dir, req_len, resp_len, cpu).map_err(|e| e.to_string())?;
        let mut raw = RawHttp::new(&sc.socket, &token).map_err(|e| e.to_string())?;
        // The same exchange against a bare hyper server answering the same body: what the
        // HTTP stack and its runtime cost with no routing, auth or cache (its threads
        // inherit this thread's affinity).
        let (_, _, body) = http_sizes(&sc.socket, &token).map_err(|e| e.to_string())?;
        let bare_path = dir.join(format!("bare-lat-{}.sock", cpu.is_some()));
        let _bare = load::BareHyper::start(&bare_path, body).map_err(|e| e.to_string())?;
        let mut bare = RawHttp::new(&bare_path, &token).map_err(|e| e.to_string())?;
        let mut bare_s = Series::default();
        let mut raw_s = Series::default();
        let mut floor_s = Series::default();
        let mut get_s = Series::default();
        let mut set_s = Series::default();
        // Warm up both paths (connections, caches, branch predictors).
        for _ in 0..200 {
            floor.once().map_err(|e| e.to_string())?;
            raw.once().map_err(|e| e.to_string())?;
            bare.once().map_err(|e| e.to_string())?;
            client
                .get_variable::<AsText>("bench")
                .map_err(|e| e.to_string())?;
        }
        let env = external::Env {
            socket: sc.socket.clone(),
            token: token.clone(),
            api: sc.url().ok_or("the sidecar has no TCP port")?,
        };
        let mut ext_series: std::collections::BTreeMap<String, Series> = Default::default();
        let mut ext_skip: std::collections::BTreeMap<&'static str, String> = Default::default();
        for p in &programs {
            if let Some(why) = &p.skipped {
                for c in &p.clients {
                    ext_skip.insert(c, why.clone());
                }
            }
        }
        let mut failures = 0usize;
        // The floor of each round (its first floor measurement), for per-round ratios.
        let mut floor_rounds = Vec::new();
        for _ in 0..rounds {
            floor_s.add_round(time_n(per_round, || {
                if floor.once().is_err() {
                    failures += 1;
                }
            }));
            floor_rounds.extend(floor_s.round_medians.last().copied());
            raw_s.add_round(time_n(per_round, || {
                if raw.once().is_err() {
                    failures += 1;
                }
            }));
            bare_s.add_round(time_n(per_round, || {
                if bare.once().is_err() {
                    failures += 1;
                }
            }));
            get_s.add_round(time_n(per_round, || {
                if client.get_variable::<AsText>("bench").is_err() {
                    failures += 1;
                }
            }));
            let mut i = 0u64;
            set_s.add_round(time_n(per_round / 2, || {
                i += 1;
                if client.set_variable("bench_set", &i, None).is_err() {
                    failures += 1;
                }
            }));
            for p in &programs {
                if p.clients.iter().any(|c| ext_skip.contains_key(c)) {
                    continue;
                }
                match external::run(p, &env) {
                    Ok(series) => {
                        for (name, samples) in series {
                            ext_series.entry(name).or_default().add_round(samples);
                        }
                    }
                    Err(why) => {
                        eprintln!("cronium-bench: {why}; its rows are skipped");
                        for c in &p.clients {
                            ext_skip.insert(c, why.clone());
                        }
                    }
                }
                // The floor again, right after each client: the same minutes of machine.
                floor_s.add_round(time_n(per_round / 4, || {
                    if floor.once().is_err() {
                        failures += 1;
                    }
                }));
            }
        }
        if failures > 0 {
            return Err(format!(
                "{failures} core calls failed ({label}): floor, raw HTTP or client-core"
            ));
        }
        let floor_med = us(floor_s.median());
        let fl = || Some(("floor".to_owned(), floor_med));
        rows.push(Row::latency(
            format!("floor: raw Unix-socket ping-pong ({req_len} B / {resp_len} B), {label}"),
            &floor_s,
            None,
            None,
        ));
        // The sidecar against the bare HTTP stack on the same exchange (issue 20): what
        // routing, auth, the cache and the envelope add to a request.
        rows.push(
            Row::latency(
                format!("raw HTTP/1.1 keep-alive client → sidecar, cached read, {label}"),
                &raw_s,
                Some(("bare hyper server".to_owned(), us(bare_s.median()))),
                Some(Target::Ratio(1.15)),
            )
            .paired(&raw_s.round_medians, &bare_s.round_medians),
        );
        rows.push(
            Row::latency(
                format!("raw HTTP/1.1 keep-alive client → bare hyper server (same body), {label}"),
                &bare_s,
                fl(),
                None,
            )
            .paired(&bare_s.round_medians, &floor_rounds),
        );
        // client-core against the raw client on the same exchange (issue 20): what the
        // library adds to a call, whatever the server costs.
        rows.push(
            Row::latency(
                format!("client-core cached get_variable, {label}"),
                &get_s,
                Some(("raw HTTP client".to_owned(), us(raw_s.median()))),
                Some(Target::Ratio(1.05)),
            )
            .paired(&get_s.round_medians, &raw_s.round_medians),
        );
        rows.push(
            Row::latency(
                format!("client-core durable set_variable, {label}"),
                &set_s,
                fl(),
                Some(Target::Max(100.0)),
            )
            .paired(&set_s.round_medians, &floor_rounds),
        );
        let group = if cpu.is_some() { "pinned" } else { "unpinned" };
        for (name, s) in [
            ("floor (raw UDS ping-pong)", &floor_s),
            ("raw HTTP → bare hyper", &bare_s),
            ("raw HTTP keep-alive", &raw_s),
            ("client-core (Rust)", &get_s),
        ] {
            chart.push(svg::Bar {
                group,
                label: name.to_owned(),
                median_us: us(s.median()),
            });
        }
        let ext_med = |c: &str| ext_series.get(c).map(|s| us(s.median()));
        // The native bindings wrap client-core: each is compared with it (issue 20).
        let cc = || Some(("client-core".to_owned(), us(get_s.median())));
        let ext_rounds = |c: &str| {
            ext_series
                .get(c)
                .map(|s| s.round_medians.clone())
                .unwrap_or_default()
        };
        // (client, figure, baseline, target)
        let table: [ExtRow<'_>; 10] = [
            (
                "python-module",
                "Python module cronium.get_variable (Unix socket)",
                cc(),
                Some(Target::Ratio(1.1)),
            ),
            (
                "python-urllib",
                "Python urllib client (TCP, a connection per call)",
                ext_med("python-module").map(|m| ("Python module".to_owned(), m)),
                Some(Target::MinRatio(4.0)),
            ),
            (
                "python-requests",
                "Python requests.Session client (TCP keep-alive)",
                ext_med("python-module").map(|m| ("Python module".to_owned(), m)),
                Some(Target::MinRatio(10.0)),
            ),
            (
                "node-sync",
                "Node addon cronium.sync.getVariable",
                cc(),
                Some(Target::Ratio(1.1)),
            ),
            (
                "node-async",
                "Node addon await cronium.getVariable",
                ext_med("node-sync").map(|m| ("Node addon sync".to_owned(), m)),
                Some(Target::Ratio(1.5)),
            ),
            (
                "node-http",
                "Node http keep-alive client (Unix socket)",
                fl(),
                None,
            ),
            (
                "bash-helper",
                "Bash helper cronium_get_variable (curl)",
                ext_med("bare-curl").map(|m| ("bare curl".to_owned(), m)),
                Some(Target::Ratio(1.1)),
            ),
            ("bare-curl", "bare curl --unix-socket", fl(), None),
            (
                "c-library",
                "C library cronium_variable_get",
                cc(),
                Some(Target::Ratio(1.1)),
            ),
            (
                "bash-builtin",
                "Bash builtin (libcronium)",
                fl(),
                Some(Target::Max(100.0)),
            ),
        ];
        for (client, figure, baseline, target) in table {
            let figure = format!("{figure}, cached read, {label}");
            match (ext_series.get(client), ext_skip.get(client)) {
                (Some(s), None) => {
                    let baseline_rounds = match baseline.as_ref().map(|(n, _)| n.as_str()) {
                        Some("floor") => floor_rounds.clone(),
                        Some("Python module") => ext_rounds("python-module"),
                        Some("bare curl") => ext_rounds("bare-curl"),
                        Some("client-core") => get_s.round_medians.clone(),
                        Some("Node addon sync") => ext_rounds("node-sync"),
                        _ => Vec::new(),
                    };
                    rows.push(
                        Row::latency(figure, s, baseline, target)
                            .paired(&s.round_medians, &baseline_rounds),
                    );
                    chart.push(svg::Bar {
                        group,
                        label: figure_short(client),
                        median_us: us(s.median()),
                    });
                }
                (_, why) => rows.push(Row {
                    figure,
                    unit: "µs",
                    target,
                    skipped: Some(why.cloned().unwrap_or_else(|| "no samples".into())),
                    ..Row::default()
                }),
            }
        }
        if cpu.is_none() {
            // Idle RSS after this workload settled.
            std::thread::sleep(Duration::from_millis(200));
            if let Some(kib) = rss_kib(sc_pid(&sc)?) {
                rows.push(Row {
                    figure: "sidecar RSS after the latency runs".into(),
                    unit: "MiB",
                    median: kib / 1024.0,
                    ..Row::default()
                });
            }
        }
    }
    pin_self(None);

    load_rows(args, dir, &mut rows)?;
    many::rows(&args.cronium, dir, args.quick, &mut rows)?;
    run_rows(args, dir, starts, &mut rows)?;
    containers::container_rows(
        &args.cronium,
        dir,
        if args.quick { 2 } else { 10 },
        &mut rows,
    );
    postgres::rows(&args.cronium, dir, rounds, per_round, args.quick, &mut rows)?;
    callgrind::rows(&args.cronium, dir, &mut rows);

    let svg_path = args.out.with_file_name(if args.quick {
        "quick-latency.svg"
    } else {
        "latency.svg"
    });
    if let Some(dir) = svg_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    svg::write(&svg_path, &chart, args.quick)
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;
    println!("chart written to {}", svg_path.display());
    print_table(&rows, args.quick);
    write_json(&rows, &args.out, args.quick)?;
    Ok(())
}

fn print_table(rows: &[Row], quick: bool) {
    println!();
    println!(
        "Cronium runtime benchmarks{} — medians; ratio: the median of per-round ratios to a baseline measured in the same round (else of the medians)",
        if quick { " (quick: one brief round, figures are noisy)" } else { "" }
    );
    println!();
    println!(
        "| figure | median | p99 | spread of round medians | baseline | ratio | target | met |"
    );
    println!("|---|---:|---:|---|---|---:|---|---|");
    for r in rows {
        if let Some(why) = &r.skipped {
            println!(
                "| {} | skipped: {why} | — | — | — | — | {} | — |",
                r.figure,
                r.target_text()
            );
            continue;
        }
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
            "skipped": r.skipped,
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

fn figure_short(client: &str) -> String {
    match client {
        "python-module" => "Python module",
        "python-urllib" => "Python urllib (TCP)",
        "python-requests" => "Python requests.Session (TCP)",
        "node-sync" => "Node addon, sync",
        "node-async" => "Node addon, async",
        "node-http" => "Node http keep-alive",
        "bash-helper" => "Bash helper (curl)",
        "bare-curl" => "bare curl --unix-socket",
        "c-library" => "C library",
        "bash-builtin" => "Bash builtin",
        other => other,
    }
    .to_owned()
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A sidecar in `state` with an execution whose variable `bench` is set: (sidecar, token,
/// client-core's blocking client with that token).
fn bench_sidecar(
    args: &Args,
    state: &Path,
    name: &str,
    listen: bool,
) -> Result<(Sidecar, String, cronium_client::BlockingClient), String> {
    let sc = start_sidecar(&args.cronium, state, name, listen)?;
    let token = create_execution(&sc)?;
    let client = seeded_client(&sc, &token)?;
    Ok((sc, token, client))
}

/// A client-core client of `sc` with `token`, after storing the variable `bench` every
/// cached-read figure reads.
fn seeded_client(sc: &Sidecar, token: &str) -> Result<cronium_client::BlockingClient, String> {
    let client = cronium_client::BlockingClient::new(
        cronium_client::Config::builder()
            .socket(&sc.socket)
            .token(token.to_owned())
            .build()
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    client
        .set_variable("bench", &json!({"n": 1, "s": "payload"}), None)
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Throughput with 8 connections, RSS holding 1,000 connections, the output stream.
fn load_rows(args: &Args, dir: &Path, rows: &mut Vec<Row>) -> Result<(), String> {
    load::raise_nofile(24_000);
    let (rounds, dur) = if args.quick {
        (1, Duration::from_millis(500))
    } else {
        (3, Duration::from_secs(2))
    };

    // Throughput, interleaved with a bare hyper server answering the same body.
    let (sc, token, _) = bench_sidecar(args, &dir.join("load"), "load", false)?;
    let (_, _, body) = http_sizes(&sc.socket, &token).map_err(|e| e.to_string())?;
    let bare_path = dir.join("bare-hyper.sock");
    let bare = load::BareHyper::start(&bare_path, body).map_err(|e| e.to_string())?;
    let (mut side, mut hyp) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        side.push(load::throughput(&sc.socket, &token, 8, dur)?);
        hyp.push(load::throughput(&bare_path, &token, 8, dur)?);
    }
    drop(bare);
    drop(sc);
    rows.push(Row {
        figure: "throughput: cached reads, 8 keep-alive connections (8 raw HTTP client threads)"
            .into(),
        unit: "req/s",
        median: median_f(side),
        baseline: Some(("bare hyper server, fixed body".into(), median_f(hyp))),
        target: Some(Target::MinRatio(0.9)),
        ..Row::default()
    });

    // Memory per idle keep-alive connection: 1,000 held, each with one request answered,
    // measured once they have been idle for two seconds.
    let (sc, token, _) = bench_sidecar(args, &dir.join("conns"), "conns", false)?;
    http_sizes(&sc.socket, &token).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(100));
    let before = rss_kib(sc_pid(&sc)?).unwrap_or(0.0);
    let held = load::hold_connections(&sc.socket, &token, 1000)?;
    std::thread::sleep(Duration::from_secs(2));
    let holding = rss_kib(sc_pid(&sc)?).unwrap_or(0.0);
    drop(held);
    drop(sc);
    rows.push(Row {
        figure: format!(
            "sidecar memory per idle keep-alive connection (RSS {:.1} MiB holding 1,000, {:.1} MiB before)",
            holding / 1024.0,
            before / 1024.0
        ),
        unit: "KiB",
        median: (holding - before) / 1000.0,
        target: Some(Target::Max(8.0)),
        ..Row::default()
    });

    // RSS with many busy connections: a cached read on each every 2 s.
    // Each side holds a descriptor per connection: fewer when the open-file limit is low.
    let (n, secs) = if args.quick { (1_000, 3) } else { (10_000, 12) };
    let n = n.min(conns::nofile().saturating_sub(2_000) as usize);
    let b = conns::busy(&args.cronium, &dir.join("busy"), n, secs)?;
    rows.push(Row {
        figure: format!(
            "sidecar RSS peak, {} keep-alive connections each reading every 2 s for {secs} s ({} requests, {} errors; {:.1} MB before)",
            b.open, b.requests, b.errors, b.idle_mb
        ),
        unit: "MB",
        median: b.peak_mb,
        // The target is judged on the full load only, and only if every connection and
        // request succeeded: memory saved by failing connections is no figure.
        target: (n == 10_000 && b.errors == 0).then_some(Target::Max(150.0)),
        ..Row::default()
    });

    // Output stream: NDJSON into durable storage, next to writing the same bytes to a file.
    let (sc, token, _) = bench_sidecar(args, &dir.join("stream"), "stream", false)?;
    stream::sqlite_rows(&sc, &token, dir, args.quick, rows)?;
    drop(sc);
    Ok(())
}

/// `cronium run` of an empty Bash script, interleaved with bare `bash` on the same file.
fn run_rows(args: &Args, dir: &Path, n: usize, rows: &mut Vec<Row>) -> Result<(), String> {
    let script = dir.join("empty.sh");
    std::fs::write(&script, "#!/usr/bin/env bash\n").map_err(|e| e.to_string())?;
    let state = dir.join("run-state");
    let (mut run_s, mut bash_s) = (Series::default(), Series::default());
    for i in 0..n + 1 {
        let t = Instant::now();
        let st = cronium_testkit::cronium_command(&args.cronium, SECRET)
            .env("CRONIUM_RATE_LIMIT", "0")
            .arg("--state-dir")
            .arg(&state)
            .arg("run")
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cronium run: {e}"))?;
        let took = t.elapsed();
        if !st.success() {
            return Err(format!("cronium run of an empty script failed: {st}"));
        }
        let t = Instant::now();
        Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("bash: {e}"))?;
        let bash_took = t.elapsed();
        if i > 0 {
            // The first of each is a warm-up (page cache, the state directory created).
            run_s.add_round(vec![took]);
            bash_s.add_round(vec![bash_took]);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    rows.push(Row {
        figure: "`cronium run` of an empty Bash script".into(),
        unit: "ms",
        median: ms(run_s.median()),
        p99: Some(ms(run_s.p99())),
        baseline: Some(("bare `bash` on the same file".into(), ms(bash_s.median()))),
        target: Some(Target::Over(20.0)),
        ..Row::default()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make bench` once rewrote the tracked `bench/results/latency.svg` (issue 18, item 8):
    /// no default result path may be inside the repository's tracked `bench/results`.
    #[test]
    fn default_results_are_written_under_the_target_dir() {
        for quick in [false, true] {
            let out = default_out(quick);
            assert!(!out.starts_with("bench"), "{}", out.display());
            let chart = out.with_file_name("latency.svg");
            assert!(!chart.starts_with("bench/results"), "{}", chart.display());
        }
    }
}
