//! The one launcher of test sidecars.
//!
//! Every test suite of the project (Rust, Python, Node, C, Bash, the conformance suite)
//! needs the same thing: a real `cronium serve` in a fresh state dir, on a Unix socket and a
//! free loopback TCP port, and executions made the way the orchestrator makes them (the
//! admin command `cronium executions create`). This crate is that, once: Rust tests use it
//! as a library ([`Sidecar`]), every other language spawns its binary
//! (`cronium-testkit`), which prints one JSON line describing the sidecar and its
//! executions, then serves until its stdin closes or it gets SIGTERM.
//!
//! Tokens travel only in return values and on the binary's stdout (the channel to the
//! parent), never in argv, stderr or a log.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The HS256 secret a kit sidecar verifies tokens with unless [`Options::secret`] says
/// otherwise (tests that sign their own tokens use it).
pub const SECRET: &str = "cronium-testkit-secret-cronium-testkit-01";

/// How long a sidecar may take to listen on both its socket and its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Sidecar::stop`] waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The `cronium` binary next to the running executable (`target/debug/cronium` beside
/// `target/debug/cronium-testkit`, or `target/debug/deps/...` for a test), unless
/// `CRONIUM_BIN` names one.
pub fn default_cronium() -> PathBuf {
    if let Some(explicit) = std::env::var_os("CRONIUM_BIN") {
        return PathBuf::from(explicit);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir.join("cronium")
}

/// `cronium` with `secret` as `CRONIUM_TOKEN_SECRET`, quiet logs, and none of the caller's
/// other `CRONIUM_*` settings (`make` exports paths that tests must not depend on): the
/// command every sidecar, admin command and `cronium run` of a test starts from.
pub fn cronium_command(cronium: &Path, secret: &str) -> Command {
    let mut c = Command::new(cronium);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CRONIUM_") {
            c.env_remove(k);
        }
    }
    c.env("CRONIUM_TOKEN_SECRET", secret)
        .env("CRONIUM_LOG", "warn");
    c
}

/// A process's resident memory in KiB (`VmRSS` of `/proc/PID/status`); `None` when the
/// process is gone or the kernel has no such line.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A free loopback TCP address (bound, then released for the sidecar to take).
pub fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// How to start a sidecar.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `cronium` binary.
    pub cronium: PathBuf,
    /// An existing state dir to serve (a second sidecar on one store); a fresh temp dir,
    /// removed when the [`Sidecar`] drops, when `None`.
    pub state_dir: Option<PathBuf>,
    /// The socket's file name, under `<state dir>/run/`.
    pub socket_name: String,
    /// The HS256 secret (`CRONIUM_TOKEN_SECRET` of the sidecar and its admin commands).
    pub secret: String,
    /// TOML written to `<state dir>/cronium.toml` and passed as `--config`.
    pub config: Option<String>,
    /// Extra environment of the sidecar (not of the admin commands).
    pub env: Vec<(String, String)>,
    /// Whether it also serves on a free loopback TCP port (`--listen`); a benchmark of the
    /// start or of idle memory measures the socket alone.
    pub tcp: bool,
    /// How often the start checks whether the sidecar listens: fine enough for
    /// [`Sidecar::started`] to time the start itself (a benchmark asks for microseconds).
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cronium: default_cronium(),
            state_dir: None,
            socket_name: "rt.sock".to_owned(),
            secret: SECRET.to_owned(),
            config: None,
            env: Vec::new(),
            tcp: true,
            poll: Duration::from_millis(10),
        }
    }
}

/// An execution to create: every field optional, JSON values kept as written (a big
/// integer stays exact). The binary reads these from JSON (camelCase names).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionSpec {
    /// Owner (variables belong to the user); a fresh user when absent.
    pub user: Option<String>,
    /// Event name.
    pub event: Option<String>,
    /// What started it (`manual`, `schedule`, ...).
    pub trigger: Option<String>,
    /// Attempt number.
    pub attempt: Option<u32>,
    /// The input (any JSON).
    pub input: Option<Box<RawValue>>,
    /// Records of the input stream.
    pub input_stream: Option<Vec<Box<RawValue>>>,
    /// Extra context fields (a JSON object).
    pub context: Option<Box<RawValue>>,
    /// Token scopes (all when absent).
    pub scopes: Option<Vec<String>>,
    /// Variables of the user set before the execution starts.
    pub variables: Option<BTreeMap<String, Box<RawValue>>>,
    /// Tool credentials of the user added before the execution starts.
    pub tools: Option<Vec<ToolCredential>>,
}

/// A tool credential (`cronium tools add`): its configuration goes to the admin command on
/// stdin, never in argv.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCredential {
    /// `slack`, `discord`, `webhook` or `email`.
    pub tool: String,
    /// The name a script picks with `credential` (`default` when absent).
    pub name: Option<String>,
    /// The tool's configuration (e.g. `{"webhook_url": "..."}`).
    pub config: Box<RawValue>,
}

/// A created execution.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// Execution id.
    pub id: String,
    /// Its bearer token.
    pub token: String,
    /// Its user.
    pub user: String,
    /// Its event id.
    pub event_id: String,
    /// The environment a script of this execution gets (socket, token, id).
    pub env: BTreeMap<String, String>,
}

impl fmt::Debug for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out of test output and panic messages.
        f.debug_struct("Execution")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// A running sidecar; killed (SIGKILL) on drop, its temp state dir removed.
#[derive(Debug)]
pub struct Sidecar {
    /// The state dir (SQLite store, logs).
    pub dir: PathBuf,
    /// The Unix socket it serves on.
    pub socket: PathBuf,
    /// The loopback TCP address it also serves on (unless [`Options::tcp`] is off).
    pub tcp: Option<SocketAddr>,
    /// From spawning `cronium serve` until it listened (to the [`Options::poll`] interval).
    pub started: Duration,
    options: Options,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

fn fresh_user() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("u{n}-{}", &tag[..12])
}

fn other(message: impl Into<String>) -> io::Error {
    io::Error::other(message.into())
}

impl Sidecar {
    /// Starts a sidecar with the default [`Options`].
    pub fn start() -> io::Result<Sidecar> {
        Sidecar::start_with(Options::default())
    }

    /// Starts a sidecar and waits until it listens on its socket and its port (creating
    /// [`Options::state_dir`] if it does not exist yet).
    pub fn start_with(options: Options) -> io::Result<Sidecar> {
        if !options.cronium.is_file() {
            return Err(other(format!(
                "{} is missing: build it with `cargo build -p cronium-cli --bin cronium`",
                options.cronium.display()
            )));
        }
        let (dir, tmp) = match &options.state_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("cronium-kit-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let socket = dir.join("run").join(&options.socket_name);
        let tcp = if options.tcp {
            Some(free_port()?)
        } else {
            None
        };
        let mut cmd = Self::base_command(&options, &dir);
        if let Some(toml) = &options.config {
            let path = dir.join("cronium.toml");
            std::fs::write(&path, toml)?;
            cmd.arg("--config").arg(path);
        }
        let log = std::fs::File::create(dir.join(format!("{}.log", options.socket_name)))?;
        cmd.arg("serve")
            .arg("--socket")
            .arg(&socket)
            .args(tcp.map(|a| format!("--listen={a}")))
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let spawned = Instant::now();
        let child = cmd.spawn()?;
        let mut s = Sidecar {
            dir,
            socket,
            tcp,
            started: Duration::ZERO,
            options,
            child: Some(child),
            _tmp: tmp,
        };
        s.wait_ready(spawned)?;
        Ok(s)
    }

    /// `cronium --state-dir DIR` from [`cronium_command`].
    fn base_command(options: &Options, dir: &Path) -> Command {
        let mut c = cronium_command(&options.cronium, &options.secret);
        c.arg("--state-dir").arg(dir);
        c
    }

    /// An admin command on this sidecar's state dir (add arguments, then run it).
    pub fn command(&self) -> Command {
        Self::base_command(&self.options, &self.dir)
    }

    fn wait_ready(&mut self, spawned: Instant) -> io::Result<()> {
        let deadline = spawned + START_TIMEOUT;
        while Instant::now() < deadline {
            if UnixStream::connect(&self.socket).is_ok()
                && self.tcp.is_none_or(|a| TcpStream::connect(a).is_ok())
            {
                self.started = spawned.elapsed();
                return Ok(());
            }
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    return Err(other(format!(
                        "cronium serve exited ({status}): {}",
                        self.log()
                    )));
                }
            }
            std::thread::sleep(self.options.poll);
        }
        Err(other(format!(
            "cronium serve did not listen on {} within {START_TIMEOUT:?}: {}",
            self.socket.display(),
            self.log()
        )))
    }

    /// `http://127.0.0.1:PORT`, the TCP endpoint (`CRONIUM_RUNTIME_API`), when it has one.
    pub fn url(&self) -> Option<String> {
        self.tcp.map(|a| format!("http://{a}"))
    }

    /// Everything the sidecar logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.options.socket_name)))
            .unwrap_or_default()
    }

    /// The HS256 secret this sidecar verifies with.
    pub fn secret(&self) -> &str {
        &self.options.secret
    }

    /// Runs an admin command (`cronium --state-dir DIR ARGS...`); its stdout, or an
    /// error carrying its stderr.
    pub fn admin<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> io::Result<String> {
        let out = self.command().args(args).output()?;
        if !out.status.success() {
            return Err(other(format!(
                "cronium {} failed: {}",
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        String::from_utf8(out.stdout).map_err(|e| other(e.to_string()))
    }

    /// Creates an execution with `cronium executions create --json`, after setting the
    /// spec's variables with `cronium variables set`.
    pub fn create(&self, spec: &ExecutionSpec) -> io::Result<Execution> {
        let user = spec.user.clone().unwrap_or_else(fresh_user);
        for (key, value) in spec.variables.iter().flatten() {
            self.admin(&["variables", "set", "--user", &user, key, value.get()])?;
        }
        for t in spec.tools.iter().flatten() {
            self.add_tool(&user, t)?;
        }
        let mut args: Vec<String> = vec!["--user".into(), user.clone()];
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(flag.to_owned());
                args.push(v);
            }
        };
        push("--event", spec.event.clone());
        push("--trigger", spec.trigger.clone());
        push("--attempt", spec.attempt.map(|a| a.to_string()));
        push("--input", spec.input.as_ref().map(|v| v.get().to_owned()));
        push(
            "--context",
            spec.context.as_ref().map(|v| v.get().to_owned()),
        );
        push("--scope", spec.scopes.as_ref().map(|s| s.join(",")));
        let stream_file;
        if let Some(records) = &spec.input_stream {
            let mut f = tempfile::Builder::new()
                .prefix("input-stream-")
                .suffix(".ndjson")
                .tempfile_in(&self.dir)?;
            for r in records {
                writeln!(f, "{}", r.get())?;
            }
            f.flush()?;
            args.push("--input-stream".into());
            args.push(f.path().to_string_lossy().into_owned());
            stream_file = Some(f);
        } else {
            stream_file = None;
        }
        let created = self.create_with_flags(&args, &[]);
        drop(stream_file);
        created
    }

    /// Creates an execution with `cronium executions create --json FLAGS...`, the admin
    /// command getting `env` on top of the sidecar's secret (e.g. its own
    /// `CRONIUM_TOKEN_TTL`): for tests of the command's flags themselves, which an
    /// [`ExecutionSpec`] does not spell out (`--ttl`, `--user` left out).
    pub fn create_with_flags<S: AsRef<std::ffi::OsStr>>(
        &self,
        flags: &[S],
        env: &[(&str, &str)],
    ) -> io::Result<Execution> {
        let out = self
            .command()
            .envs(env.iter().copied())
            .args(["executions", "create", "--json"])
            .args(flags)
            .output()?;
        if !out.status.success() {
            return Err(other(format!(
                "cronium executions create failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            id: String,
            token: String,
            user_id: String,
            event_id: String,
        }
        let c: Created = serde_json::from_slice(&out.stdout)
            .map_err(|e| other(format!("unexpected answer of executions create: {e}")))?;
        let env = BTreeMap::from([
            (
                "CRONIUM_RUNTIME_SOCKET".to_owned(),
                self.socket.to_string_lossy().into_owned(),
            ),
            ("CRONIUM_EXECUTION_TOKEN".to_owned(), c.token.clone()),
            ("CRONIUM_EXECUTION_ID".to_owned(), c.id.clone()),
        ]);
        Ok(Execution {
            id: c.id,
            token: c.token,
            user: c.user_id,
            event_id: c.event_id,
            env,
        })
    }

    /// Adds a tool credential for `user` (`cronium tools add --config -`).
    pub fn add_tool(&self, user: &str, credential: &ToolCredential) -> io::Result<()> {
        let mut cmd = self.command();
        cmd.args(["tools", "add", "--user", user, "--tool", &credential.tool])
            .args(["--name", credential.name.as_deref().unwrap_or("default")])
            .args(["--config", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(credential.config.get().as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(other(format!(
                "cronium tools add failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The sidecar's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The sidecar's resident memory in KiB, while it runs (see [`rss_kib`]).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid()?)
    }

    /// SIGTERM, then SIGKILL after 15 s; whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        if self.child.is_none() {
            return true;
        }
        self.terminate();
        self.wait_exit().is_some_and(|status| status.success())
    }

    /// SIGTERM without waiting: the sidecar drains while the test watches (see
    /// [`Sidecar::wait_exit`]).
    pub fn terminate(&self) {
        if let Some(pid) = self
            .pid()
            .and_then(|p| i32::try_from(p).ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }

    /// Waits up to 15 s for the sidecar to exit and returns how; `None` when it did not
    /// (then it is killed) or was already reaped.
    pub fn wait_exit(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// SIGKILL, no shutdown (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.kill9();
    }
}
