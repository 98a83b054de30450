//! `cronium run SCRIPT [-- ARGS...]`: runs a script the way Cronium would, on this machine,
//! and shows what it did.
//!
//! The sidecar runs in this process (no daemon to start): the runner opens the store of
//! the state directory, creates the execution, mints its token, serves the API on a fresh
//! socket in a private 0700 directory, starts the interpreter in its own process group with
//! the environment of DESIGN.md, streams its stdout and stderr as they come, and when it
//! stops reads the execution back from the store and prints the summary.
//!
//! The run directory holds the socket, the Bash helpers (`BASH_ENV`), a `sitecustomize.py`
//! for Python, and `token`: the current token, a 0600 file the runner rewrites before each
//! token expires (tokens live [`TOKEN_TTL`]; the helpers read the file on every call, since
//! a shell cannot refresh the variable of its parent). The token is never in argv or logs,
//! and the signing key never reaches the script: every `CRONIUM_*` variable but the
//! binding settings is removed from its environment.
//!
//! Exit code: the script's; 128+N when a signal N killed it; [`EXIT_TIMEOUT`] when
//! `--timeout` stopped it; 1 or 2 (with one line on stderr) when the runner itself fails.

#![forbid(unsafe_code)]

pub mod args;
mod container;
mod isolate;
mod lang;
mod report;
mod ssh;

pub use container::{default_image, EngineKind, SCRIPT_UID};
pub use lang::{Lang, BASH_HELPERS, PYTHON_SITECUSTOMIZE};

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use cronium_server::auth::Authenticator;
use cronium_server::config::{ConfigError, CoreConfig, Limits};
use cronium_store::{Execution, NewExecution, Store};
use report::{Ending, Report};

/// Exit code when `--timeout` stopped the script, as timeout(1) has it.
pub const EXIT_TIMEOUT: u8 = 124;

/// Lifetime of the tokens the runner mints; it refreshes them at half-life. Shorter when
/// the configured token TTL is shorter.
pub const TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

/// The socket's name in the run directory, as in a Cronium container.
pub const SOCKET_NAME: &str = "runtime.sock";

/// Time a script gets to stop after SIGTERM or SIGINT before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Maximum lifetime of the execution (its tokens) without `--timeout`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Added to `--timeout` for the execution's maximum lifetime: time to stop and report.
const LIFETIME_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Most stdout kept for the `--json` document.
const STDOUT_CAP: usize = 4 << 20;

/// Options of `cronium run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The script: .py, .js/.mjs/.cjs, .sh/.bash, or any file with a shebang.
    pub script: PathBuf,
    /// Arguments for the script (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
    /// Language, when neither the extension nor the shebang says it.
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// Input: JSON text, @FILE, or - for stdin.
    #[arg(long)]
    pub input: Option<String>,
    /// NDJSON file served as the input stream.
    #[arg(long, value_name = "FILE")]
    pub input_stream: Option<PathBuf>,
    /// Event name (default: the script's file name).
    #[arg(long)]
    pub event: Option<String>,
    /// Extra event context fields, a JSON object.
    #[arg(long)]
    pub context: Option<String>,
    /// Owner of the execution; variables belong to the user. [default: $USER, else local]
    #[arg(long)]
    pub user: Option<String>,
    /// Stop the script after this long (SIGTERM to its process group, SIGKILL 5 s later);
    /// exit code 124.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Set an environment variable for the script (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Print one JSON document (with the script's stdout) instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Run like a container: no network, read-only root, private /tmp, own PID namespace,
    /// only the socket directory mounted at /run/cronium (needs bubblewrap).
    #[arg(long, conflicts_with_all = ["ssh", "container"])]
    pub isolate: bool,
    /// Run in a container of the language's image (see images/): no network, read-only
    /// root, no capabilities, a non-root user, only the socket directory (and the script,
    /// read-only) mounted.
    #[arg(long, conflicts_with = "ssh")]
    pub container: bool,
    /// The image for --container. [default: cronium/LANG:latest, built by `make images`]
    #[arg(long, value_name = "IMAGE", requires = "container")]
    pub image: Option<String>,
    /// The container engine for --container. [default: docker]
    #[arg(long, value_enum, requires = "container")]
    pub engine: Option<EngineKind>,
    /// Memory limit of the container (a number with b, k, m or g). [default: 512m]
    #[arg(long, value_name = "SIZE", requires = "container")]
    pub memory: Option<String>,
    /// Most processes (and threads) in the container. [default: 256]
    #[arg(long, value_name = "N", requires = "container")]
    pub pids: Option<u32>,
    /// Run on a remote host over SSH; the API reaches it through a reverse tunnel.
    #[arg(long, value_name = "[USER@]HOST[:PORT]")]
    pub ssh: Option<String>,
    /// SSH private key.
    #[arg(long, value_name = "FILE", requires = "ssh")]
    pub identity: Option<PathBuf>,
    /// Extra ssh option, as ssh -o takes it (repeatable), e.g. UserKnownHostsFile=FILE.
    #[arg(long = "ssh-option", value_name = "KEY=VALUE", requires = "ssh")]
    pub ssh_options: Vec<String>,
    /// Flags `cronium executions show` needs to reach this run's store (` --state-dir D`,
    /// empty for the defaults), set by the CLI for the summary's hint.
    #[arg(skip)]
    pub admin_flags: String,
}

/// A failed run of the runner itself (not of the script): one line for the user and the
/// exit code (2 = usage or configuration, 1 = anything else; [`ssh`] failures have their
/// own).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    /// Process exit code.
    pub code: u8,
    /// One line saying what is wrong and how to fix it.
    pub message: String,
}

impl RunError {
    /// A usage or configuration mistake: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// Anything else: exit code 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        Self::usage(e.0)
    }
}

impl From<cronium_store::StoreError> for RunError {
    fn from(e: cronium_store::StoreError) -> Self {
        Self::failed(e.to_string())
    }
}

impl From<cronium_server::auth::AuthConfigError> for RunError {
    fn from(e: cronium_server::auth::AuthConfigError) -> Self {
        Self::usage(format!("token keys: {e}"))
    }
}

fn usage(message: impl Into<String>) -> RunError {
    RunError::usage(message)
}

fn failed(message: impl Into<String>) -> RunError {
    RunError::failed(message)
}

/// Reads the configuration of the state directory: the core settings and the request
/// limits. The CLI owns flags, environment and file; the runner calls this only once the
/// script and the options are checked, so a bad option writes nothing (not even a
/// generated key).
pub type LoadConfig<'a> = &'a dyn Fn() -> Result<(CoreConfig, Limits), RunError>;

/// Where the script runs.
#[derive(Debug)]
enum Mode {
    Local,
    Isolate(isolate::Sandbox),
    Container(container::Container),
    Ssh(ssh::Remote),
}

/// Everything checked before anything is written: a bad option costs nothing in the store.
#[derive(Debug)]
struct Plan {
    core: CoreConfig,
    limits: Limits,
    script: PathBuf,
    script_name: String,
    lang: Lang,
    interpreter: String,
    args: Vec<String>,
    new: NewExecution,
    lifetime: Duration,
    input_stream: Option<PathBuf>,
    timeout: Option<Duration>,
    env: Vec<(String, String)>,
    json: bool,
    admin_flags: String,
    stdin_taken: bool,
    mode: Mode,
    cwd: PathBuf,
    /// Held for the whole run: one `cronium run` per state directory at a time.
    _lock: std::fs::File,
}

/// Runs `cronium run`; returns the exit code for the process. The caller sets up logging
/// (only errors, unless `CRONIUM_LOG` says otherwise, so the script's own stderr stays
/// readable).
pub fn run(
    config: LoadConfig<'_>,
    args: RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<u8, RunError> {
    // The bindings next to this executable, unless the environment names others.
    let near = std::env::current_exe()
        .map(|exe| lang::bindings_near(&exe))
        .unwrap_or_default();
    let env = &|k: &str| {
        env(k).or_else(|| {
            near.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone())
        })
    };
    let plan = prepare(config, args, env)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    rt.block_on(execute(plan, env))
}

fn prepare(
    config: LoadConfig<'_>,
    a: RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, RunError> {
    let meta = std::fs::metadata(&a.script).map_err(|e| {
        usage(format!(
            "cannot read the script {}: {}",
            a.script.display(),
            io_reason(&e)
        ))
    })?;
    if !meta.is_file() {
        return Err(usage(format!("{} is not a file", a.script.display())));
    }
    let script = std::fs::canonicalize(&a.script).map_err(|e| {
        usage(format!(
            "cannot read the script {}: {e}",
            a.script.display()
        ))
    })?;
    let script_name = script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "script".into());
    let lang = match a.lang.or_else(|| Lang::detect(&script)) {
        Some(l) => l,
        None => {
            return Err(usage(format!(
                "cannot tell the language of {script_name} from its extension or shebang; \
                 pass --lang python, node or bash"
            )))
        }
    };
    let mode = match (&a.ssh, a.isolate, a.container) {
        (Some(target), _, _) => Mode::Ssh(ssh::Remote {
            target: ssh::Target::parse(target)?,
            identity: a.identity.clone(),
            options: a.ssh_options.clone(),
        }),
        (None, true, _) => Mode::Isolate(isolate::Sandbox::find(env)?),
        (None, false, true) => Mode::Container(container::Container::prepare(
            &container::Options {
                engine: a.engine,
                image: a.image.as_deref(),
                memory: a.memory.as_deref(),
                pids: a.pids,
            },
            lang,
            env,
        )?),
        (None, false, false) => Mode::Local,
    };
    let interpreter = lang.interpreter(env);
    match &mode {
        Mode::Ssh(remote) => {
            if lang::find_program("ssh", env).is_none() {
                return Err(usage(
                    "--ssh needs the OpenSSH client (ssh), which is not on PATH; install it: \
                     apt-get install openssh-client",
                ));
            }
            if let Some(id) = &remote.identity {
                std::fs::File::open(id).map_err(|e| {
                    usage(format!(
                        "cannot read the identity {}: {}",
                        id.display(),
                        io_reason(&e)
                    ))
                })?;
            }
        }
        // The image brings the interpreter.
        Mode::Container(_) => {}
        _ => {
            if lang::find_program(&interpreter, env).is_none() {
                let setting = match lang {
                    Lang::Python => "; install Python 3 or set CRONIUM_PYTHON",
                    Lang::Node => "; install Node.js or set CRONIUM_NODE",
                    Lang::Bash => "; install bash",
                };
                return Err(usage(format!(
                    "cannot find {interpreter} to run {script_name}{setting}"
                )));
            }
            check_binding(lang, &script, &script_name, &interpreter, env)?;
        }
    }
    let stdin_taken = a.input.as_deref() == Some("-");
    let input = a.input.as_deref().map(args::read_input_arg).transpose()?;
    if let Some(path) = &a.input_stream {
        check_ndjson(path)?;
    }
    let context = match a.context.as_deref() {
        Some(c) => {
            let v: Box<RawValue> = serde_json::from_str(c)
                .map_err(|e| usage(format!("--context is not valid JSON: {e}")))?;
            let c = cronium_server::body::compact_json(v.get().trim()).into_owned();
            if !c.starts_with('{') {
                return Err(usage("--context must be a JSON object"));
            }
            Some(c)
        }
        None => None,
    };
    let timeout = a.timeout.as_deref().map(args::duration_arg).transpose()?;
    if timeout == Some(Duration::ZERO) {
        return Err(usage("--timeout must be more than 0"));
    }
    let mut vars = Vec::with_capacity(a.env.len());
    for kv in &a.env {
        match kv.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                vars.push((k.to_owned(), v.to_owned()))
            }
            _ => {
                return Err(usage(format!(
                    "--env {kv:?} is not KEY=VALUE with KEY made of A-Z, a-z, 0-9 and _"
                )))
            }
        }
    }
    if matches!(mode, Mode::Container(_)) {
        if let Some((k, _)) = vars.iter().find(|(_, v)| v.contains(['\n', '\r', '\0'])) {
            return Err(usage(format!(
                "--env {k}: a container's variable cannot hold a line break or NUL"
            )));
        }
    }
    let user = a
        .user
        .clone()
        .or_else(|| env("USER"))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "local".into());
    let (core, limits) = config()?;
    let lock = lock_state_dir(&core.state_dir)?;
    let cwd = std::env::current_dir()
        .map_err(|e| failed(format!("cannot read the working directory: {e}")))?;
    let lifetime = timeout.map_or(DEFAULT_LIFETIME, |t| t + LIFETIME_MARGIN);
    Ok(Plan {
        limits,
        new: NewExecution {
            id: None,
            user_id: user,
            event_id: String::new(),
            event_name: Some(a.event.clone().unwrap_or_else(|| script_name.clone())),
            event_type: Some(lang.name().to_owned()),
            job_id: None,
            trigger: Some("manual".into()),
            workflow_step: None,
            attempt: 1,
            input,
            context,
            expires_at: 0,
        },
        core,
        script,
        script_name,
        lang,
        interpreter,
        args: a.args,
        lifetime,
        input_stream: a.input_stream,
        timeout,
        env: vars,
        json: a.json,
        admin_flags: a.admin_flags.clone(),
        stdin_taken,
        mode,
        cwd,
        _lock: lock,
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Checks every line of an input-stream file before the execution exists, so a bad line
/// leaves nothing half-loaded in the store.
fn check_ndjson(path: &Path) -> Result<(), RunError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| {
        usage(format!(
            "cannot read the input stream {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| {
            usage(format!(
                "cannot read the input stream {}: {e}",
                path.display()
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        serde_json::from_str::<&RawValue>(line.trim()).map_err(|e| {
            usage(format!(
                "line {} of {} is not valid JSON: {e}",
                i + 1,
                path.display()
            ))
        })?;
    }
    Ok(())
}

/// Takes `<state-dir>/run.lock` exclusively, or says who holds it.
fn lock_state_dir(state_dir: &Path) -> Result<std::fs::File, RunError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", state_dir.display())))?;
    let path = state_dir.join("run.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(failed(format!(
            "another cronium run is using the state directory {}; wait for it to finish or pass --state-dir",
            state_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(failed(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

/// The private run directory: 0700, removed when dropped.
#[derive(Debug)]
struct RunDir {
    path: PathBuf,
    /// The uid and gid everything in it is given to (`--container` run as root).
    owner: Option<(u32, u32)>,
}

impl RunDir {
    fn create(owner: Option<(u32, u32)>) -> std::io::Result<Self> {
        let mut base = std::env::temp_dir();
        // A Unix socket path is at most 107 bytes.
        if base.as_os_str().len() > 60 {
            base = PathBuf::from("/tmp");
        }
        loop {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let path = base.join(format!("cronium-{}", &id[..12]));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = RunDir { path, owner };
                    dir.give(&dir.path)?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn socket(&self) -> PathBuf {
        self.path.join(SOCKET_NAME)
    }

    /// Gives `path` to the directory's owner, when it has one.
    fn give(&self, path: &Path) -> std::io::Result<()> {
        match self.owner {
            Some((uid, gid)) => rustix::fs::chown(
                path,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(std::io::Error::from),
            None => Ok(()),
        }
    }

    fn token_file(&self) -> PathBuf {
        self.path.join("token")
    }

    fn write(&self, rel: &str, content: &[u8]) -> std::io::Result<()> {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
            self.give(parent)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?
            .write_all(content)?;
        self.give(&path)
    }

    /// Replaces the token file atomically: a reader sees the old token or the new one.
    fn write_token(&self, token: &str) -> std::io::Result<()> {
        self.write(".token.new", format!("{token}\n").as_bytes())?;
        std::fs::rename(self.path.join(".token.new"), self.token_file())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Signals that stop the script: Ctrl-C, SIGTERM, SIGHUP.
struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> Result<Self, RunError> {
        use tokio::signal::unix::{signal, SignalKind};
        let s = |k| signal(k).map_err(|e| failed(format!("cannot handle signals: {e}")));
        Ok(Self {
            int: s(SignalKind::interrupt())?,
            term: s(SignalKind::terminate())?,
            hup: s(SignalKind::hangup())?,
        })
    }

    /// The next one, as the signal to pass on to the script.
    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::INT,
            _ = self.term.recv() => Signal::TERM,
            _ = self.hup.recv() => Signal::TERM,
        }
    }
}

/// What the run produced before the store is read.
struct Outcome {
    execution: Execution,
    status: ExitStatus,
    ending: Ending,
    duration: Duration,
    stdout: Option<(String, bool)>,
}

/// Everything a run shares with its parts.
struct Ctx<'a> {
    plan: &'a Plan,
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    ttl: Duration,
    dir: &'a RunDir,
    signals: StopSignals,
}

async fn execute(plan: Plan, env: &dyn Fn(&str) -> Option<String>) -> Result<u8, RunError> {
    // Before anything exists that Ctrl-C should clean up.
    let signals = StopSignals::new()?;
    let store = cronium_server::open_store(&plan.core)?;
    let auth = cronium_server::authenticator(&plan.core)?;
    let ttl = TOKEN_TTL
        .min(plan.core.token_ttl)
        .max(Duration::from_secs(1));
    let owner = match &plan.mode {
        Mode::Container(c) => c.chown,
        _ => None,
    };
    let dir =
        RunDir::create(owner).map_err(|e| failed(format!("cannot create a run directory: {e}")))?;
    // A container's image brings the same helpers (images/); elsewhere they are written here.
    let written = match (&plan.mode, plan.lang) {
        (Mode::Container(_), _) => Ok(()),
        (_, Lang::Bash) => dir.write("cronium.sh", BASH_HELPERS.as_bytes()),
        (_, Lang::Python) => dir.write("python/sitecustomize.py", PYTHON_SITECUSTOMIZE.as_bytes()),
        (_, Lang::Node) => Ok(()),
    };
    written.map_err(|e| failed(format!("cannot write to {}: {e}", dir.path.display())))?;
    let socket = dir.socket();
    let listener = cronium_server::server::Listener::unix(&socket)
        .await
        .map_err(|e| failed(format!("cannot serve on {}: {e}", socket.display())))?;
    dir.give(&socket).map_err(|e| {
        failed(format!(
            "cannot give {} to the container's user: {e}",
            socket.display()
        ))
    })?;
    let state = cronium_server::app_state(store.clone(), auth.clone(), plan.limits.clone(), ttl);
    // Tool actions work under `cronium run` as under `cronium serve`: same engine, same
    // credentials of the state directory.
    state.set_tools(cronium_server::tools_engine(&plan.core).map_err(failed)?);
    let server = tokio::spawn(cronium_server::server::serve(state.clone(), vec![listener]));

    let mut ctx = Ctx {
        plan: &plan,
        store: store.clone(),
        auth,
        ttl,
        dir: &dir,
        signals,
    };
    let outcome = match &plan.mode {
        Mode::Ssh(remote) => run_ssh(&mut ctx, remote).await,
        Mode::Container(c) => run_container(&mut ctx, c).await,
        _ => run_here(&mut ctx, env).await,
    };
    state.shutdown.cancel();
    let _ = server.await;
    drop(ctx);
    drop(dir);
    let outcome = outcome?;
    // The store stays open until the process exits: closing SQLite's last connection
    // checkpoints the WAL into the database with fsyncs, which cost several times a whole
    // empty run on this kind of disk (measured: median 30 ms with the close, 5 ms without).
    // The WAL holds committed data; the next opener reads it, as after any sidecar stops.
    std::mem::forget(store.clone());

    let (exit_code, signal) = exit_code(outcome.status, outcome.ending);
    // The run is over: finish its execution as an orchestrator would, so `cronium
    // executions show` has its outcome, exit code and duration (and retention its age).
    let finished_as = match outcome.ending {
        Ending::TimedOut => "timed_out",
        Ending::Interrupted => "cancelled",
        Ending::Finished if exit_code == 0 => "succeeded",
        Ending::Finished => "failed",
    };
    if let Err(e) = store
        .finish_execution(
            &outcome.execution.id,
            finished_as,
            Some(i32::from(exit_code)),
        )
        .await
    {
        tracing::warn!(error = %e, "the run is over but its execution cannot be finished");
    }
    let g = report::gather(
        store.as_ref(),
        &outcome.execution.id,
        &outcome.execution.user_id,
    )
    .await
    .map_err(|e| {
        failed(format!(
            "the script ran, but its report cannot be read: {e}"
        ))
    })?;
    let r = Report {
        execution_id: outcome.execution.id,
        script: plan.script_name.clone(),
        lang: plan.lang.name(),
        exit_code,
        signal,
        ending: outcome.ending,
        duration: outcome.duration,
        output: g.output,
        condition: g.condition,
        variables: g.variables,
        input_stream: g.input_stream,
        output_stream: g.output_stream,
        stdout: outcome.stdout,
        admin_flags: plan.admin_flags.clone(),
    };
    if plan.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", r.to_json())
            .and_then(|()| out.flush())
            .map_err(|e| failed(format!("cannot write: {e}")))?;
    } else {
        let mut err = std::io::stderr().lock();
        let _ = r.write_human(&mut err);
    }
    Ok(exit_code)
}

/// Refuses, before anything is written, a local script that names `cronium` when its
/// language's binding is nowhere to be found: no setting points at one (none found beside
/// this executable either) and the interpreter cannot import it on its own. Without this,
/// the script fails later with the interpreter's bare "No module named 'cronium'". A
/// script that never names `cronium` runs as before; when a setting is there, it is
/// trusted (no probe: the common case costs nothing).
fn check_binding(
    lang: Lang,
    script: &Path,
    script_name: &str,
    interpreter: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), RunError> {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    let (configured, probe, settings): (bool, &[&str], &str) = match lang {
        Lang::Bash => return Ok(()),
        Lang::Python => (
            set("CRONIUM_PYTHON") || set("CRONIUM_PYTHONPATH"),
            &[
                "-c",
                "import importlib.util, sys; sys.path.insert(0, sys.argv[1]); \
                 sys.exit(importlib.util.find_spec('cronium') is None)",
            ],
            "CRONIUM_PYTHON (an interpreter with the module) or CRONIUM_PYTHONPATH",
        ),
        Lang::Node => (
            set("CRONIUM_NODE_PATH"),
            &[
                "-e",
                "require.resolve('cronium', { paths: [process.argv[1]] })",
            ],
            "CRONIUM_NODE_PATH (the node_modules holding the cronium package)",
        ),
    };
    if configured {
        return Ok(());
    }
    let names_cronium =
        std::fs::read(script).is_ok_and(|text| text.windows(7).any(|w| w == b"cronium"));
    if !names_cronium {
        return Ok(());
    }
    // Resolved as the script would resolve it: from its own directory too.
    let script_dir = script.parent().unwrap_or(Path::new("/"));
    let found = std::process::Command::new(interpreter)
        .args(probe)
        .arg(script_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Ok(());
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let places = lang::binding_places(&exe, lang)
        .iter()
        .map(|(p, by)| format!("{} ({by})", p.display()))
        .collect::<Vec<_>>()
        .join(", ");
    let (what, build) = match lang {
        Lang::Python => ("Python module", "make python"),
        _ => ("Node package", "make node"),
    };
    Err(usage(format!(
        "{script_name} uses the {what} cronium, which {interpreter} cannot find: looked in \
         {places} and {interpreter}'s own path; build it in the source tree with `{build}` \
         (or install it with `make install`), or set {settings}"
    )))
}

/// The runner's exit code and the signal that killed the script, if any.
fn exit_code(status: ExitStatus, ending: Ending) -> (u8, Option<i32>) {
    let signal = status.signal();
    let code = match (ending, status.code(), signal) {
        (Ending::TimedOut, _, _) => EXIT_TIMEOUT,
        (_, Some(c), _) => u8::try_from(c).unwrap_or(1),
        (_, None, Some(s)) => u8::try_from(128 + s).unwrap_or(255),
        (_, None, None) => 1,
    };
    (code, signal)
}

/// Creates the execution (and its input stream) and mints its first token.
async fn create(ctx: &Ctx<'_>) -> Result<(Execution, String), RunError> {
    let mut new = ctx.plan.new.clone();
    new.expires_at = cronium_store::now_unix() + ctx.plan.lifetime.as_secs() as i64;
    let (execution, token) =
        cronium_server::create_execution(ctx.store.as_ref(), &ctx.auth, &new, ctx.ttl, None)
            .await
            .map_err(|e| failed(e.message))?;
    if let Some(path) = &ctx.plan.input_stream {
        args::load_input_stream(ctx.store.as_ref(), &execution.id, path).await?;
    }
    Ok((execution, token))
}

/// Removes every `CRONIUM_*` variable but the binding settings (a signing secret must never
/// reach the script), then sets the script's own.
fn script_env(cmd: &mut tokio::process::Command, vars: &[(&str, String)]) {
    const KEEP: [&str; 6] = [
        "CRONIUM_PYTHON",
        "CRONIUM_PYTHONPATH",
        "CRONIUM_NODE",
        "CRONIUM_NODE_PATH",
        "CRONIUM_LOG",
        // The forkless Bash builtin; cronium.sh falls back to curl where the path does not
        // exist (a remote SSH host).
        "CRONIUM_BUILTIN",
    ];
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("CRONIUM_") && !KEEP.contains(&k) {
                cmd.env_remove(k);
            }
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
}

/// How the supervisor stops and feeds the script, wherever it runs.
trait Control {
    /// Asks the script to stop.
    async fn signal(&mut self, sig: Signal);
    /// Stops it now.
    async fn kill(&mut self);
    /// Hands it a fresh token.
    async fn refresh(&mut self, token: &str);
}

/// A script on this machine, in its own process group (under bwrap when `sandboxed`).
struct LocalControl<'a> {
    pgid: Option<Pid>,
    sandboxed: bool,
    dir: &'a RunDir,
}

impl Control for LocalControl<'_> {
    async fn signal(&mut self, sig: Signal) {
        let Some(pgid) = self.pgid else { return };
        if self.sandboxed {
            isolate::signal_inside(pgid.as_raw_nonzero().get(), sig);
        } else {
            let _ = kill_process_group(pgid, sig);
        }
    }
    async fn kill(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
    async fn refresh(&mut self, token: &str) {
        if let Err(e) = self.dir.write_token(token) {
            tracing::error!(error = %e, "cannot write the refreshed token");
        }
    }
}

/// Waits for the script, stopping it on timeout or on a stop signal (SIGKILL after
/// [`GRACE`], or at once on a second signal) and refreshing its token at half-life.
async fn supervise(
    child: &mut tokio::process::Child,
    ctl: &mut impl Control,
    ctx: &mut Ctx<'_>,
    execution: &Execution,
) -> Result<(ExitStatus, Ending), RunError> {
    use tokio::time::{sleep_until, Instant as TInstant};
    let far = || TInstant::now() + Duration::from_secs(365 * 24 * 3600);
    let deadline = ctx.plan.timeout.map(|t| TInstant::now() + t);
    let mut ending = Ending::Finished;
    let mut kill_at: Option<TInstant> = None;
    let half = ctx.ttl / 2;
    let mut refresh = tokio::time::interval_at(TInstant::now() + half, half);
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| failed(format!("cannot wait for the script: {e}")))?;
                return Ok((status, ending));
            }
            _ = sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() && ending == Ending::Finished => {
                ending = Ending::TimedOut;
                ctl.signal(Signal::TERM).await;
                kill_at = Some(TInstant::now() + GRACE);
            }
            sig = ctx.signals.recv() => {
                if ending == Ending::Finished {
                    ending = Ending::Interrupted;
                    ctl.signal(sig).await;
                    kill_at = Some(TInstant::now() + GRACE);
                } else {
                    ctl.kill().await;
                }
            }
            _ = sleep_until(kill_at.unwrap_or_else(far)), if kill_at.is_some() => {
                kill_at = None;
                ctl.kill().await;
            }
            _ = refresh.tick() => {
                match cronium_server::mint_for(&ctx.auth, execution, ctx.ttl, None) {
                    Ok(token) => ctl.refresh(&token).await,
                    Err(e) => tracing::error!(error = %e, "cannot refresh the token"),
                }
            }
        }
    }
}

/// Reads a pipe to the end, keeping at most [`STDOUT_CAP`] bytes.
fn capture(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<(Vec<u8>, bool)> {
    tokio::spawn(async move {
        let mut pipe = pipe;
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = STDOUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    truncated |= n > room;
                }
            }
        }
        (kept, truncated)
    })
}

/// Waits a little for a capture to end: a process that escaped the group may hold the pipe.
async fn captured(
    task: Option<tokio::task::JoinHandle<(Vec<u8>, bool)>>,
) -> Option<(String, bool)> {
    let task = task?;
    match tokio::time::timeout(Duration::from_secs(2), task).await {
        Ok(Ok((bytes, truncated))) => {
            Some((String::from_utf8_lossy(&bytes).into_owned(), truncated))
        }
        _ => Some((String::new(), true)),
    }
}

/// A script on this machine, directly or under bwrap.
async fn run_here(
    ctx: &mut Ctx<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Outcome, RunError> {
    let plan = ctx.plan;
    let (execution, token) = create(ctx).await?;
    ctx.dir
        .write_token(&token)
        .map_err(|e| failed(format!("cannot write the token file: {e}")))?;
    let sandbox = match &plan.mode {
        Mode::Isolate(sb) => Some(sb),
        _ => None,
    };
    // The directory as the script sees it.
    let seen = match sandbox {
        Some(_) => PathBuf::from(isolate::INSIDE),
        None => ctx.dir.path.clone(),
    };
    let mut cmd = match sandbox {
        Some(sb) => {
            let (bwrap, mut args) = sb.command(&isolate::Layout {
                run_dir: &ctx.dir.path,
                state_dir: &plan.core.state_dir,
                script: &plan.script,
                cwd: &plan.cwd,
            });
            args.push(OsString::from(&plan.interpreter));
            let mut c = tokio::process::Command::new(bwrap);
            c.args(args);
            c
        }
        None => tokio::process::Command::new(&plan.interpreter),
    };
    cmd.arg(&plan.script).args(&plan.args);
    let mut vars: Vec<(&str, String)> = vec![
        (
            "CRONIUM_RUNTIME_SOCKET",
            seen.join(SOCKET_NAME).display().to_string(),
        ),
        ("CRONIUM_EXECUTION_TOKEN", token),
        (
            "CRONIUM_EXECUTION_TOKEN_FILE",
            seen.join("token").display().to_string(),
        ),
        ("CRONIUM_EXECUTION_ID", execution.id.clone()),
    ];
    vars.extend(plan.lang.env_vars(&seen, env));
    script_env(&mut cmd, &vars);
    cmd.envs(plan.env.iter().map(|(k, v)| (k, v)));
    // Its own process group: --timeout and Ctrl-C reach everything it started. A group in
    // the background cannot read the terminal, so a terminal on stdin is not passed on.
    cmd.process_group(0).kill_on_drop(true);
    let tty_in = std::io::IsTerminal::is_terminal(&std::io::stdin());
    cmd.stdin(if plan.stdin_taken || tty_in {
        Stdio::null()
    } else {
        Stdio::inherit()
    });
    cmd.stdout(if plan.json {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    cmd.stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        failed(format!(
            "cannot start {}: {e}",
            match sandbox {
                Some(_) => "bwrap",
                None => &plan.interpreter,
            }
        ))
    })?;
    let pgid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let stdout = child.stdout.take().map(capture);
    let mut ctl = LocalControl {
        pgid,
        sandboxed: sandbox.is_some(),
        dir: ctx.dir,
    };
    let result = supervise(&mut child, &mut ctl, ctx, &execution).await;
    let duration = started.elapsed();
    // Like a container: when the script's main process ends, whatever it left running ends.
    if let Some(pgid) = pgid {
        let _ = kill_process_group(pgid, Signal::KILL);
    }
    let (status, ending) = result?;
    Ok(Outcome {
        execution,
        status,
        ending,
        duration,
        stdout: captured(stdout).await,
    })
}

/// A script in a container: signals go through the engine (`kill --signal`), the token
/// through the mounted token file.
struct ContainerControl<'a> {
    engine: &'a Path,
    name: &'a str,
    dir: &'a RunDir,
}

impl ContainerControl<'_> {
    async fn engine_kill(&self, signal: &str) {
        let _ = tokio::process::Command::new(self.engine)
            .args(container::Container::kill_args(self.name, signal))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
}

impl Control for ContainerControl<'_> {
    async fn signal(&mut self, sig: Signal) {
        self.engine_kill(if sig == Signal::INT { "INT" } else { "TERM" })
            .await;
    }
    async fn kill(&mut self) {
        self.engine_kill("KILL").await;
    }
    async fn refresh(&mut self, token: &str) {
        if let Err(e) = self.dir.write_token(token) {
            tracing::error!(error = %e, "cannot write the refreshed token");
        }
    }
}

/// Removes the env file (it holds the token) however the run ends.
struct EnvFile(PathBuf);

impl Drop for EnvFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A script in a container of its language's image: see [`container`].
async fn run_container(ctx: &mut Ctx<'_>, c: &container::Container) -> Result<Outcome, RunError> {
    let plan = ctx.plan;
    let (execution, token) = create(ctx).await?;
    ctx.dir
        .write_token(&token)
        .map_err(|e| failed(format!("cannot write the token file: {e}")))?;
    let inside = Path::new(container::INSIDE);
    let mut vars: Vec<(String, String)> = vec![
        (
            "CRONIUM_RUNTIME_SOCKET".into(),
            inside.join(SOCKET_NAME).display().to_string(),
        ),
        ("CRONIUM_EXECUTION_TOKEN".into(), token),
        (
            "CRONIUM_EXECUTION_TOKEN_FILE".into(),
            inside.join("token").display().to_string(),
        ),
        ("CRONIUM_EXECUTION_ID".into(), execution.id.clone()),
    ];
    // The init (tini) passes a signal on to the script's whole process group, as the other
    // modes signal theirs: Ctrl-C stops `sleep` too, not only the shell waiting for it.
    vars.push(("TINI_KILL_PROCESS_GROUP".into(), "1".into()));
    vars.extend(plan.env.iter().cloned());
    // Beside the run directory, not in it: the container sees only its own directory.
    let env_file = EnvFile(ctx.dir.path.with_extension("env"));
    let mut text = String::new();
    for (k, v) in &vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&env_file.0)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| failed(format!("cannot write {}: {e}", env_file.0.display())))?;
    let name = format!("cronium-{}", execution.id);
    let tty_in = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let pass_stdin = !plan.stdin_taken && !tty_in;
    let mut args = c.run_args(&container::Layout {
        name: &name,
        run_dir: &ctx.dir.path,
        env_file: &env_file.0,
        script: &plan.script,
        script_name: &plan.script_name,
        stdin: pass_stdin,
    });
    args.push(plan.lang.remote_interpreter().into());
    args.push(c.script_path(&plan.script_name).into());
    args.extend(plan.args.iter().map(OsString::from));
    let mut cmd = tokio::process::Command::new(c.engine());
    cmd.args(args);
    // The engine's own settings (DOCKER_HOST, ...) stay; no CRONIUM_* secret reaches it.
    script_env(&mut cmd, &[]);
    // Its own process group: Ctrl-C reaches the runner, which stops the container itself.
    cmd.process_group(0).kill_on_drop(true);
    cmd.stdin(if pass_stdin {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    cmd.stdout(if plan.json {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    cmd.stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", c.engine().display())))?;
    let stdout = child.stdout.take().map(capture);
    let mut ctl = ContainerControl {
        engine: c.engine(),
        name: &name,
        dir: ctx.dir,
    };
    let result = supervise(&mut child, &mut ctl, ctx, &execution).await;
    let duration = started.elapsed();
    // `--rm` removes a container that ran to its end; one stopped from here, or whose
    // engine client failed, is removed explicitly (nothing happens when it is gone).
    let clean = matches!(&result, Ok((s, Ending::Finished)) if s.code().is_some_and(|c| c < 125));
    if !clean {
        let _ = tokio::process::Command::new(c.engine())
            .args(["rm", "--force", &name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let (status, ending) = result?;
    Ok(Outcome {
        execution,
        status,
        ending,
        duration,
        stdout: captured(stdout).await,
    })
}

/// The script on a remote host: see [`ssh`].
struct SshControl {
    stdin: Option<tokio::process::ChildStdin>,
    pgid: Option<Pid>,
}

impl SshControl {
    async fn send(&mut self, line: String) {
        if let Some(stdin) = &mut self.stdin {
            if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                self.stdin = None;
            }
        }
    }
}

impl Control for SshControl {
    async fn signal(&mut self, sig: Signal) {
        let name = if sig == Signal::INT { "INT" } else { "TERM" };
        self.send(format!("S {name}\n")).await;
    }
    async fn kill(&mut self) {
        // Closing stdin makes the remote side kill the script; ending ssh closes the tunnel.
        self.send("S KILL\n".into()).await;
        self.stdin = None;
        if let Some(pgid) = self.pgid {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
    async fn refresh(&mut self, token: &str) {
        self.send(format!("T {token}\n")).await;
    }
}

async fn run_ssh(ctx: &mut Ctx<'_>, remote: &ssh::Remote) -> Result<Outcome, RunError> {
    let plan = ctx.plan;
    let script = std::fs::read(&plan.script).map_err(|e| {
        usage(format!(
            "cannot read the script {}: {e}",
            plan.script.display()
        ))
    })?;
    let argv = remote.command(&ctx.dir.socket());
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    script_env(&mut cmd, &[]);
    cmd.process_group(0)
        .kill_on_drop(true)
        .stdin(Stdio::piped())
        .stdout(if plan.json {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("cannot start ssh: {e}")))?;
    let pgid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let mut stderr =
        tokio::io::BufReader::new(child.stderr.take().ok_or_else(|| failed("no ssh stderr"))?);
    let stdout = child.stdout.take().map(capture);
    let host = &remote.target.destination;

    // Connect and authenticate; the tunnel's port comes back on ssh's stderr.
    let port = {
        // What ssh said before the port: shown once connected (host-key notices), or
        // folded into the one error line when it could not connect.
        let mut said: Vec<String> = Vec::new();
        let wait_port = async {
            let mut line = String::new();
            loop {
                line.clear();
                match stderr.read_line(&mut line).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
                if let Some(p) = ssh::allocated_port(&line) {
                    return Some(p);
                }
                if !line.trim().is_empty() {
                    said.push(line.clone());
                }
            }
        };
        let got = tokio::select! {
            p = wait_port => p,
            _ = tokio::time::sleep(Duration::from_secs(60)) => None,
            _ = ctx.signals.recv() => None,
        };
        match got {
            Some(p) => {
                for line in &said {
                    eprint!("{line}");
                }
                p
            }
            None => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let why = said.last().map_or_else(
                    || "ssh ended without opening the tunnel".to_owned(),
                    |l| l.trim().trim_start_matches("ssh: ").to_owned(),
                );
                return Err(RunError {
                    code: ssh::EXIT_UNREACHABLE,
                    message: format!("cannot run on {host} over ssh: {why}"),
                });
            }
        }
    };

    // Connected: now the execution exists.
    let (execution, token) = create(ctx).await?;
    let payload = ssh::Payload {
        token: &token,
        execution_id: &execution.id,
        port,
        interpreter: plan.lang.remote_interpreter(),
        helpers: BASH_HELPERS,
        sitecustomize: PYTHON_SITECUSTOMIZE,
        script_name: &plan.script_name,
        script: &script,
        args: &plan.args,
        env: &plan.env,
    }
    .encode();
    let mut ctl = SshControl {
        stdin: child.stdin.take(),
        pgid,
    };
    let started = Instant::now();
    if let Some(stdin) = &mut ctl.stdin {
        let _ = stdin.write_all(&payload).await;
        let _ = stdin.flush().await;
    }
    // The rest of ssh's stderr is the script's, passed on as it comes.
    let forward = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 || std::io::stderr().write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let result = supervise(&mut child, &mut ctl, ctx, &execution).await;
    let duration = started.elapsed();
    drop(ctl);
    let _ = tokio::time::timeout(Duration::from_secs(2), forward).await;
    let (status, ending) = result?;
    if status.code() == Some(i32::from(ssh::EXIT_UNREACHABLE)) {
        eprintln!("cronium: ssh to {host} failed while the script ran (exit 255)");
    }
    Ok(Outcome {
        execution,
        status,
        ending,
        duration,
        stdout: captured(stdout).await,
    })
}
