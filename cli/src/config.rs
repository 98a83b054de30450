//! Configuration: flags, then `CRONIUM_*` environment variables, then a TOML file, then
//! defaults — the first that says something wins.
//!
//! The environment is read through a lookup function so tests can pass a map. Secrets
//! (HS256 secrets, private keys) come from the environment or from files, never from argv,
//! where `ps` would show them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use cronium_server::auth::{AuthConfig, KeyMaterial, KeySpec};
use cronium_store::postgres::{is_postgres_url, redact_url, PgSettings};
use cronium_store::sqlite::Sync;
use cronium_tools::crypto::CredentialKey;
use cronium_tools::{CredentialsKeySource, ToolsConfig};

pub use cronium_server::config::{parse_duration, parse_size, ConfigError, CoreConfig, Limits};

/// Where the sidecar listens by default, as DESIGN.md fixes it.
pub const DEFAULT_SOCKET: &str = "/run/cronium/runtime.sock";

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Settings given on the command line; `None` means "not given". `--state-dir` and
/// `--token-secret-file` are global: they work before or after the subcommand.
/// `--config` cannot be (`tools add --config` is the credential's configuration), so the
/// commands without a `--config` of their own take it after their name too
/// ([`SubConfig`]).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ConfigArgs {
    /// State directory: the SQLite store and the generated signing key.
    /// [env: CRONIUM_STATE_DIR] [default: /var/lib/cronium as root, else ~/.local/state/cronium]
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// TOML configuration file. [env: CRONIUM_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// File holding the HS256 secret (the secret itself only via env CRONIUM_TOKEN_SECRET).
    /// [env: CRONIUM_TOKEN_SECRET_FILE]
    #[arg(long, value_name = "FILE", global = true)]
    pub token_secret_file: Option<PathBuf>,
}

impl ConfigArgs {
    /// These settings with the subcommand's `--config`, when it gave one (it is the later,
    /// so it wins).
    pub fn with(&self, sub: &SubConfig) -> Self {
        let mut out = self.clone();
        if let Some(c) = &sub.config {
            out.config = Some(c.clone());
        }
        out
    }

    /// The flags an admin command needs to reach the same store as this command, as shell
    /// words (empty when everything is the default): the run summary's hint carries them.
    pub fn admin_flags(&self) -> String {
        let mut out = String::new();
        for (flag, value) in [("--config", &self.config), ("--state-dir", &self.state_dir)] {
            if let Some(v) = value {
                out.push(' ');
                out.push_str(flag);
                out.push(' ');
                out.push_str(&shell_word(&v.to_string_lossy()));
            }
        }
        out
    }
}

/// `--config` given after a subcommand's name (`cronium serve --config f.toml`).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct SubConfig {
    /// TOML configuration file (also accepted before the subcommand). [env: CRONIUM_CONFIG]
    #[arg(long = "config", id = "sub_config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `text` as one shell word: as is when it is plain, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Settings of `cronium serve` given on the command line.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// Unix socket to serve on. [env: CRONIUM_RUNTIME_SOCKET] [default: /run/cronium/runtime.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also serve on this TCP address: plain HTTP on loopback (behind an SSH tunnel), or
    /// HTTPS on any address when a TLS certificate is configured ([tls],
    /// CRONIUM_TLS_CERT_FILE). [env: CRONIUM_LISTEN]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Log format: text or json. [env: CRONIUM_LOG_FORMAT]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Worker threads; 0 or 1 runs everything on one thread. [env: CRONIUM_WORKERS] [default: 2]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// The admin API's Unix socket (on only with an admin secret, from
    /// CRONIUM_ADMIN_SECRET or CRONIUM_ADMIN_SECRET_FILE). [env: CRONIUM_ADMIN_SOCKET]
    /// [default: STATE_DIR/admin/admin.sock]
    #[arg(long, value_name = "PATH")]
    pub admin_socket: Option<PathBuf>,
    /// Also serve the admin API on this loopback TCP address. [env: CRONIUM_ADMIN_LISTEN]
    #[arg(long, value_name = "HOST:PORT")]
    pub admin_listen: Option<String>,
    /// Register this execution at start (idempotently): a JSON file, or - for stdin, with
    /// id, user, event, input, context, lifetime (docs/admin.md). One sidecar per job.
    #[arg(long, value_name = "SPEC")]
    pub execution: Option<String>,
    /// Exit 0 once the --execution is finished (admin finish, `cronium executions finish`).
    #[arg(long, requires = "execution")]
    pub exit_on_finish: bool,
}

/// The TOML file, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    socket: Option<PathBuf>,
    listen: Option<String>,
    state_dir: Option<PathBuf>,
    log_format: Option<String>,
    workers: Option<usize>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    storage: FileStorage,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    tools: FileTools,
    #[serde(default)]
    retention: FileRetention,
    #[serde(default)]
    pub(crate) admin: crate::admin_config::FileAdmin,
    #[serde(default)]
    tls: FileTls,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    streams_after: Option<String>,
    audit_after: Option<String>,
    interval: Option<String>,
    batch: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    body: Option<String>,
    max_connections: Option<usize>,
    rate_limit: Option<f64>,
    rate_burst: Option<f64>,
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    sync: Option<String>,
    path: Option<PathBuf>,
    url: Option<String>,
    schema: Option<String>,
    password_file: Option<PathBuf>,
    pool_size: Option<usize>,
    ca_file: Option<PathBuf>,
    change_poll_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    audience: Option<String>,
    issuers: Option<Vec<String>>,
    orchestrator_issuers: Option<Vec<String>>,
    leeway: Option<String>,
    token_ttl: Option<String>,
    secret_file: Option<PathBuf>,
    signing_kid: Option<String>,
    #[serde(default)]
    keys: Vec<FileKey>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTools {
    key_file: Option<PathBuf>,
    rate_limit: Option<f64>,
    rate_burst: Option<f64>,
    timeout: Option<String>,
    retries: Option<u32>,
    retry_backoff: Option<String>,
    deadline: Option<String>,
    notion_url: Option<String>,
    trello_url: Option<String>,
    sheets_url: Option<String>,
    google_token_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    kid: String,
    alg: String,
    secret_file: Option<PathBuf>,
    public_key_file: Option<PathBuf>,
    private_key_file: Option<PathBuf>,
}

/// Everything `cronium serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    /// Store and tokens.
    pub core: CoreConfig,
    /// Unix socket path.
    pub socket: PathBuf,
    /// Optional TCP address.
    pub listen: Option<SocketAddr>,
    /// When set, the TCP listener speaks TLS with these files (and may bind any address).
    pub tls: Option<cronium_server::tls::TlsFiles>,
    /// `json` logs instead of text.
    pub log_json: bool,
    /// Worker threads.
    pub workers: usize,
    /// Limits.
    pub limits: Limits,
    /// The admin API, when an admin secret is configured.
    pub admin: Option<cronium_server::admin_api::AdminConfig>,
    /// The execution `--execution` registers at start.
    pub execution: Option<cronium_server::admin_api::ExecutionSpec>,
    /// Exit once that execution is finished.
    pub exit_on_finish: bool,
}

/// Reads env through `env`, and the file named by flags or env, into the core config.
pub fn core_config(
    args: &ConfigArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(CoreConfig, FileConfig), ConfigError> {
    let file = match args
        .config
        .clone()
        .or_else(|| env("CRONIUM_CONFIG").map(PathBuf::from))
    {
        Some(path) => load_file(&path)?,
        None => FileConfig::default(),
    };
    let state_dir = args
        .state_dir
        .clone()
        .or_else(|| env("CRONIUM_STATE_DIR").map(PathBuf::from))
        .or_else(|| file.state_dir.clone())
        .unwrap_or_else(|| default_state_dir(env));
    let db_path = file
        .storage
        .path
        .clone()
        .unwrap_or_else(|| state_dir.join("cronium.db"));
    let sync = match env("CRONIUM_STORAGE_SYNC")
        .or_else(|| file.storage.sync.clone())
        .as_deref()
    {
        None | Some("normal") => Sync::Normal,
        Some("full") => Sync::Full,
        Some(other) => {
            return err(format!(
                "storage sync must be \"normal\" or \"full\", not {other:?}"
            ))
        }
    };
    let database = database(env, &file.storage)?;
    let mut auth = AuthConfig::default();
    if let Some(a) = &file.auth.audience {
        auth.audience.clone_from(a);
    }
    if let Some(i) = &file.auth.issuers {
        auth.issuers.clone_from(i);
    }
    // Comma-separated in the environment; an empty value turns the orchestrator's rules off.
    if let Some(i) = env("CRONIUM_ORCHESTRATOR_ISSUERS") {
        auth.orchestrator_issuers = i
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    } else if let Some(i) = &file.auth.orchestrator_issuers {
        auth.orchestrator_issuers.clone_from(i);
    }
    if let Some(l) = env("CRONIUM_TOKEN_LEEWAY").or_else(|| file.auth.leeway.clone()) {
        auth.leeway_secs = parse_duration(&l)?.as_secs();
    }
    auth.signing_kid = file.auth.signing_kid.clone();
    auth.keys = keys(args, env, &file, &state_dir)?;
    let token_ttl = match env("CRONIUM_TOKEN_TTL").or_else(|| file.auth.token_ttl.clone()) {
        Some(t) => parse_duration(&t)?,
        None => Duration::from_secs(15 * 60),
    };
    let tools = tools_config(env, &file.tools, &state_dir)?;
    let (retention, retention_interval) = retention_config(env, &file.retention)?;
    Ok((
        CoreConfig {
            state_dir,
            db_path,
            database,
            sync,
            auth,
            token_ttl,
            tools,
            retention,
            retention_interval,
        },
        file,
    ))
}

/// `[retention]` and its `CRONIUM_RETENTION_*` variables: the ages (a duration, or `never`
/// to keep for ever), the batch size, and how often a sidecar prunes (`off`: only
/// `cronium gc` does).
fn retention_config(
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileRetention,
) -> Result<(cronium_store::Retention, Option<Duration>), ConfigError> {
    let age = |var: &str, key: &str, from_file: &Option<String>, default: Option<i64>| {
        let (text, setting) = match env(var) {
            Some(t) => (t, var.to_owned()),
            None => match from_file {
                Some(t) => (t.clone(), format!("[retention] {key}")),
                None => return Ok(default),
            },
        };
        if matches!(text.trim(), "never" | "off") {
            return Ok(None);
        }
        parse_duration(&text)
            .map(|d| Some(d.as_secs() as i64))
            .map_err(|e| ConfigError(format!("{setting}: {e}, or never")))
    };
    let defaults = cronium_store::Retention::default();
    let mut retention = cronium_store::Retention {
        streams_after: age(
            "CRONIUM_RETENTION_STREAMS_AFTER",
            "streams_after",
            &file.streams_after,
            defaults.streams_after,
        )?,
        audit_after: age(
            "CRONIUM_RETENTION_AUDIT_AFTER",
            "audit_after",
            &file.audit_after,
            defaults.audit_after,
        )?,
        batch: defaults.batch,
    };
    if let Some(b) = env("CRONIUM_RETENTION_BATCH") {
        retention.batch = b.parse().map_err(|_| {
            ConfigError(format!(
                "CRONIUM_RETENTION_BATCH={b:?} is not a whole number"
            ))
        })?;
    } else if let Some(b) = file.batch {
        retention.batch = b;
    }
    if retention.batch == 0 {
        return err("the retention batch (CRONIUM_RETENTION_BATCH, [retention] batch) must be above 0, e.g. 500");
    }
    let interval = match env("CRONIUM_RETENTION_INTERVAL").or_else(|| file.interval.clone()) {
        Some(t) if matches!(t.trim(), "never" | "off") => None,
        Some(t) => {
            let d = parse_duration(&t).map_err(|e| {
                ConfigError(format!("the retention interval (CRONIUM_RETENTION_INTERVAL, [retention] interval): {e}, or off"))
            })?;
            if d.is_zero() {
                return err("the retention interval (CRONIUM_RETENTION_INTERVAL, [retention] interval) must be above 0, or off");
            }
            Some(d)
        }
        None => Some(DEFAULT_RETENTION_INTERVAL),
    };
    Ok((retention, interval))
}

/// How often a sidecar prunes when `[retention] interval` is not set.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(600);

/// The PostgreSQL store's settings, when a database URL is configured. The URL (and so a
/// password in it) comes from the environment or the file, never a flag; every message
/// shows it redacted.
fn database(
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileStorage,
) -> Result<Option<PgSettings>, ConfigError> {
    let Some((url, setting)) = env("CRONIUM_DATABASE_URL")
        .filter(|s| !s.is_empty())
        .map(|u| (u, "CRONIUM_DATABASE_URL"))
        .or_else(|| file.url.clone().map(|u| (u, "[storage] url")))
    else {
        return Ok(None);
    };
    if !is_postgres_url(&url) {
        return err(format!(
            "{setting} must be a postgres:// URL, not {}; leave it unset for the SQLite store",
            redact_url(&url)
        ));
    }
    let mut pg = PgSettings::new(url);
    if let Some(schema) = env("CRONIUM_DATABASE_SCHEMA").or_else(|| file.schema.clone()) {
        pg.schema = schema;
    }
    if let Some(n) = file.pool_size {
        pg.pool_size = n;
    }
    let password_file = env("CRONIUM_DATABASE_PASSWORD_FILE")
        .filter(|s| !s.is_empty())
        .map(|p| (PathBuf::from(p), "CRONIUM_DATABASE_PASSWORD_FILE"))
        .or_else(|| {
            file.password_file
                .clone()
                .map(|p| (p, "[storage] password_file"))
        });
    if let Some(p) = env("CRONIUM_DATABASE_PASSWORD").filter(|s| !s.is_empty()) {
        pg.password = Some(p);
    }
    if let Some(ca) = env("CRONIUM_DATABASE_CA_FILE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| file.ca_file.clone())
    {
        pg.ca_file = Some(ca);
    }
    if let Some((path, setting)) = password_file {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!(
                "{setting}: cannot read the database password {}: {e}",
                path.display()
            ))
        })?;
        pg.password = Some(text.trim_end_matches(['\n', '\r']).to_owned());
    }
    Ok(Some(pg))
}

fn tools_config(
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileTools,
    state_dir: &Path,
) -> Result<ToolsConfig, ConfigError> {
    let mut t = ToolsConfig::defaults(state_dir);
    let key_file = env("CRONIUM_CREDENTIALS_KEY_FILE")
        .filter(|s| !s.is_empty())
        .map(|p| (PathBuf::from(p), "CRONIUM_CREDENTIALS_KEY_FILE"))
        .or_else(|| file.key_file.clone().map(|p| (p, "[tools] key_file")));
    if let Some(text) = env("CRONIUM_CREDENTIALS_KEY").filter(|s| !s.is_empty()) {
        let key = CredentialKey::parse(text.as_bytes())
            .map_err(|e| ConfigError(format!("CRONIUM_CREDENTIALS_KEY is {e}")))?;
        t.key = CredentialsKeySource::Configured {
            key: Arc::new(key),
            setting: "CRONIUM_CREDENTIALS_KEY".into(),
        };
    } else if let Some((path, setting)) = key_file {
        let text = std::fs::read(&path).map_err(|e| {
            ConfigError(format!(
                "{setting}: cannot read the credentials key {}: {e}",
                path.display()
            ))
        })?;
        let key = CredentialKey::parse(&text)
            .map_err(|e| ConfigError(format!("{setting}: {} is {e}", path.display())))?;
        t.key = CredentialsKeySource::Configured {
            key: Arc::new(key),
            setting: format!("{setting} ({})", path.display()),
        };
    }
    if let Some(r) = env("CRONIUM_TOOLS_RATE_LIMIT") {
        t.rate_per_min = r.parse().map_err(|_| {
            ConfigError(format!(
                "CRONIUM_TOOLS_RATE_LIMIT={r:?} is not a number (tool calls per minute)"
            ))
        })?;
    } else if let Some(r) = file.rate_limit {
        t.rate_per_min = r;
    }
    if t.rate_per_min < 0.0 || !t.rate_per_min.is_finite() {
        return err("the tool rate limit must be 0 (off) or a positive number of calls per minute");
    }
    if let Some(b) = env("CRONIUM_TOOLS_RATE_BURST") {
        t.rate_burst = b
            .parse()
            .map_err(|_| ConfigError(format!("CRONIUM_TOOLS_RATE_BURST={b:?} is not a number")))?;
    } else if let Some(b) = file.rate_burst {
        t.rate_burst = b;
    }
    t.rate_burst = t.rate_burst.max(1.0);
    if let Some(d) = env("CRONIUM_TOOLS_TIMEOUT").or_else(|| file.timeout.clone()) {
        t.attempt_timeout = parse_duration(&d)?;
    }
    if let Some(r) = env("CRONIUM_TOOLS_RETRIES") {
        t.retries = r.parse().map_err(|_| {
            ConfigError(format!("CRONIUM_TOOLS_RETRIES={r:?} is not a whole number"))
        })?;
    } else if let Some(r) = file.retries {
        t.retries = r;
    }
    if t.retries > 10 {
        return err("tool retries are capped at 10; a failing endpoint should fail the call");
    }
    if let Some(d) = env("CRONIUM_TOOLS_RETRY_BACKOFF").or_else(|| file.retry_backoff.clone()) {
        t.retry_backoff = parse_duration(&d)?;
    }
    if let Some(d) = env("CRONIUM_TOOLS_DEADLINE").or_else(|| file.deadline.clone()) {
        t.deadline = parse_duration(&d)?;
    }
    if t.attempt_timeout.is_zero() || t.deadline.is_zero() {
        return err("tool timeouts must be longer than 0");
    }
    // The REST-API tools' base URLs: CRONIUM_TOOLS_NOTION_URL or `[tools] notion_url`, ...
    for (name, from_file) in [
        ("notion_url", &file.notion_url),
        ("trello_url", &file.trello_url),
        ("sheets_url", &file.sheets_url),
        ("google_token_url", &file.google_token_url),
    ] {
        let var = format!("CRONIUM_TOOLS_{}", name.to_ascii_uppercase());
        let (value, setting) = match env(&var).filter(|v| !v.is_empty()) {
            Some(v) => (Some(v), var),
            None => (from_file.clone(), format!("[tools] {name}")),
        };
        if let Some(v) = value {
            t.endpoints
                .set(name, &v)
                .map_err(|e| ConfigError(format!("{setting}: {e}")))?;
        }
    }
    Ok(t)
}

/// Resolves the full `serve` configuration.
pub fn serve_config(
    args: &ConfigArgs,
    serve: &ServeArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServeConfig, ConfigError> {
    let (core, file) = core_config(args, env)?;
    let socket = serve
        .socket
        .clone()
        .or_else(|| env("CRONIUM_RUNTIME_SOCKET").map(PathBuf::from))
        .or_else(|| file.socket.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let tls = tls_files(env, &file.tls)?;
    let listen = match serve
        .listen
        .clone()
        .or_else(|| env("CRONIUM_LISTEN"))
        .or_else(|| file.listen.clone())
    {
        Some(a) => {
            let addr = a.parse::<SocketAddr>().map_err(|_| {
                ConfigError(format!(
                    "--listen {a:?} is not HOST:PORT with an IP address, e.g. 127.0.0.1:8089"
                ))
            })?;
            // Tokens travel on this listener: in plain HTTP only loopback (reached through
            // an SSH tunnel) keeps them off the network; anything wider needs TLS.
            if !addr.ip().is_loopback() && tls.is_none() {
                return err(format!(
                    "--listen {addr} is not a loopback address and no TLS certificate is configured; the TCP listener would speak plain HTTP, so use 127.0.0.1 (behind an SSH tunnel) or set CRONIUM_TLS_CERT_FILE and CRONIUM_TLS_KEY_FILE ([tls] cert_file, key_file)"
                ));
            }
            Some(addr)
        }
        None => None,
    };
    let log_format = serve
        .log_format
        .clone()
        .or_else(|| env("CRONIUM_LOG_FORMAT"))
        .or_else(|| file.log_format.clone());
    let log_json = match log_format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => return err(format!("log format must be text or json, not {other:?}")),
    };
    let workers = match serve.workers {
        Some(w) => w,
        None => match env("CRONIUM_WORKERS") {
            Some(w) => w
                .parse()
                .map_err(|_| ConfigError(format!("CRONIUM_WORKERS={w:?} is not a whole number")))?,
            None => file.workers.unwrap_or(2),
        },
    };
    let limits = limits_config(&file, env)?;
    let admin = crate::admin_config::serve_admin(
        &core.state_dir,
        &file.admin,
        serve.admin_socket.clone(),
        serve.admin_listen.clone(),
        env,
    )?;
    // The script socket's directory is what containers mount: the admin socket beside it
    // would be handed to every script.
    if let Some(a) = &admin {
        if a.socket.parent().is_some() && a.socket.parent() == socket.parent() {
            return err(format!(
                "the admin socket {} is in the script socket's directory, which script containers mount; put it elsewhere (default: STATE_DIR/admin/admin.sock)",
                a.socket.display()
            ));
        }
    }
    let execution = serve.execution.as_deref().map(execution_spec).transpose()?;
    Ok(ServeConfig {
        core,
        socket,
        listen,
        tls,
        log_json,
        workers,
        limits,
        admin,
        execution,
        exit_on_finish: serve.exit_on_finish,
    })
}

/// Reads and checks `serve --execution SPEC` (a JSON file, or `-` for stdin) before
/// anything is bound or written.
fn execution_spec(arg: &str) -> Result<cronium_server::admin_api::ExecutionSpec, ConfigError> {
    let (text, what) = if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| ConfigError(format!("--execution -: cannot read stdin: {e}")))?;
        (s, "--execution - (stdin)".to_owned())
    } else {
        let s = std::fs::read_to_string(arg)
            .map_err(|e| ConfigError(format!("--execution {arg}: cannot read it: {e}")))?;
        (s, format!("--execution {arg}"))
    };
    let spec: cronium_server::admin_api::ExecutionSpec =
        serde_json::from_str(&text).map_err(|e| {
            ConfigError(format!(
                "{what} is not an execution spec ({e}); write a JSON object with id, user, event, input, context, lifetime"
            ))
        })?;
    if spec.id.is_none() {
        return err(format!(
            "{what} has no id; a per-job sidecar's execution needs one (the job id), so a restart finds it again"
        ));
    }
    spec.into_request()
        .map_err(|e| ConfigError(format!("{what}: {}", e.message)))?;
    Ok(spec)
}

/// The TLS listener's files: `CRONIUM_TLS_CERT_FILE`, `CRONIUM_TLS_KEY_FILE`,
/// `CRONIUM_TLS_CLIENT_CA_FILE`, else `[tls] cert_file`, `key_file`, `client_ca_file`.
/// A certificate without a key (or the reverse), or a client CA without either, is an
/// error rather than a silently plain listener.
fn tls_files(
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileTls,
) -> Result<Option<cronium_server::tls::TlsFiles>, ConfigError> {
    let pick = |var: &str, from_file: &Option<PathBuf>| {
        env(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| from_file.clone())
    };
    let cert = pick("CRONIUM_TLS_CERT_FILE", &file.cert_file);
    let key = pick("CRONIUM_TLS_KEY_FILE", &file.key_file);
    let client_ca = pick("CRONIUM_TLS_CLIENT_CA_FILE", &file.client_ca_file);
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(cronium_server::tls::TlsFiles {
            cert,
            key,
            client_ca,
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        (None, None) => err("a TLS client CA is configured without a server certificate; set CRONIUM_TLS_CERT_FILE and CRONIUM_TLS_KEY_FILE ([tls] cert_file, key_file) too"),
        (Some(_), None) => err("a TLS certificate is configured without its key; set CRONIUM_TLS_KEY_FILE ([tls] key_file) too"),
        (None, Some(_)) => err("a TLS key is configured without its certificate; set CRONIUM_TLS_CERT_FILE ([tls] cert_file) too"),
    }
}

/// The request limits (`[limits]` and the `CRONIUM_*` limit variables), shared by `serve`
/// and `cronium run` so a script meets the same limits under both.
pub fn limits_config(
    file: &FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    let fl = &file.limits;
    if let Some(b) = env("CRONIUM_BODY_LIMIT").or_else(|| fl.body.clone()) {
        limits.body_bytes = parse_size(&b)?;
    }
    if let Some(m) = env("CRONIUM_MAX_CONNECTIONS") {
        limits.max_connections = m.parse().map_err(|_| {
            ConfigError(format!(
                "CRONIUM_MAX_CONNECTIONS={m:?} is not a whole number"
            ))
        })?;
    } else if let Some(m) = fl.max_connections {
        limits.max_connections = m;
    }
    if let Some(r) = env("CRONIUM_RATE_LIMIT") {
        limits.rate_per_sec = r
            .parse()
            .map_err(|_| ConfigError(format!("CRONIUM_RATE_LIMIT={r:?} is not a number")))?;
        limits.rate_burst = limits.rate_per_sec.max(1.0);
    } else if let Some(r) = fl.rate_limit {
        limits.rate_per_sec = r;
        limits.rate_burst = r.max(1.0);
    }
    if let Some(b) = fl.rate_burst {
        limits.rate_burst = b;
    }
    if let Some(t) = env("CRONIUM_HEADER_READ_TIMEOUT").or_else(|| fl.header_read_timeout.clone()) {
        limits.header_read_timeout = parse_duration(&t)?;
    }
    if let Some(t) = env("CRONIUM_BODY_READ_TIMEOUT").or_else(|| fl.body_read_timeout.clone()) {
        limits.body_read_timeout = parse_duration(&t)?;
    }
    if let Some(t) =
        env("CRONIUM_CHANGE_POLL_INTERVAL").or_else(|| file.storage.change_poll_interval.clone())
    {
        let every = parse_duration(&t)?;
        if every.is_zero() {
            return err("the change poll interval (CRONIUM_CHANGE_POLL_INTERVAL, [storage] change_poll_interval) must be above 0, e.g. 200ms");
        }
        limits.change_poll_interval = Some(every);
    }
    Ok(limits)
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    parse_file(&text).map_err(|e| ConfigError(format!("config file {}: {}", path.display(), e.0)))
}

/// The TOML text of a configuration file, parsed (not yet checked: the settings' values
/// are checked where they are resolved). The fuzz target `config` drives it.
#[doc(hidden)]
pub fn parse_file(text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError(e.message().trim().to_owned()))
}

fn default_state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if env("USER").as_deref() == Some("root") || is_root() {
        return PathBuf::from("/var/lib/cronium");
    }
    if let Some(x) = env("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("cronium");
    }
    match env("HOME") {
        Some(h) => PathBuf::from(h).join(".local/state/cronium"),
        None => PathBuf::from(".cronium"),
    }
}

fn is_root() -> bool {
    // SAFETY-free check: /proc/self is owned by the process's uid.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn read_secret_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError(format!("cannot read key file {}: {e}", path.display())))?;
    Ok(trim_ascii(&bytes).to_vec())
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn read_text_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read key file {}: {e}", path.display())))
}

/// The verification keys, from (in order) env secret, secret file, file keys; with none at
/// all, a generated HS256 secret kept in `<state_dir>/keys/default.key` (0600), so `serve`
/// and the admin commands on one state directory agree without any setup.
fn keys(
    args: &ConfigArgs,
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
    state_dir: &Path,
) -> Result<Vec<KeySpec>, ConfigError> {
    let mut keys = Vec::new();
    if let Some(secret) = env("CRONIUM_TOKEN_SECRET").filter(|s| !s.is_empty()) {
        keys.push(KeySpec {
            kid: "default".into(),
            material: KeyMaterial::Hs256(secret.into_bytes()),
        });
    } else if let Some(path) = args
        .token_secret_file
        .clone()
        .or_else(|| env("CRONIUM_TOKEN_SECRET_FILE").map(PathBuf::from))
        .or_else(|| file.auth.secret_file.clone())
    {
        keys.push(KeySpec {
            kid: "default".into(),
            material: KeyMaterial::Hs256(read_secret_file(&path)?),
        });
    }
    if let Some(path) = env("CRONIUM_TOKEN_PUBLIC_KEY_FILE") {
        keys.push(KeySpec {
            kid: "default".into(),
            material: KeyMaterial::Ed25519PublicPem(read_text_file(Path::new(&path))?),
        });
    }
    if let Some(path) = env("CRONIUM_TOKEN_PRIVATE_KEY_FILE") {
        keys.push(KeySpec {
            kid: "default".into(),
            material: KeyMaterial::Ed25519PrivatePem(read_text_file(Path::new(&path))?),
        });
    }
    for k in &file.auth.keys {
        let material = match (
            k.alg.as_str(),
            &k.secret_file,
            &k.public_key_file,
            &k.private_key_file,
        ) {
            ("HS256", Some(s), None, None) => KeyMaterial::Hs256(read_secret_file(s)?),
            ("EdDSA", None, None, Some(p)) => KeyMaterial::Ed25519PrivatePem(read_text_file(p)?),
            ("EdDSA", None, Some(p), None) => KeyMaterial::Ed25519PublicPem(read_text_file(p)?),
            _ => {
                return err(format!(
                    "key {:?}: use alg = \"HS256\" with secret_file, or alg = \"EdDSA\" with public_key_file or private_key_file",
                    k.kid
                ))
            }
        };
        keys.push(KeySpec {
            kid: k.kid.clone(),
            material,
        });
    }
    if keys.is_empty() {
        keys.push(KeySpec {
            kid: "default".into(),
            material: KeyMaterial::Hs256(generated_secret(state_dir)?),
        });
    }
    Ok(keys)
}

fn generated_secret(state_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = state_dir.join("keys");
    let path = dir.join("default.key");
    if let Ok(existing) = std::fs::read(&path) {
        return Ok(trim_ascii(&existing).to_vec());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| ConfigError(format!("cannot create {}: {e}", dir.display())))?;
    let secret: String = {
        use base64::Engine;
        let bytes: [u8; 32] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    // create_new: when two processes race to create the key, exactly one wins and the other
    // reads the winner's key below.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))?;
            Ok(secret.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(Duration::from_millis(20));
            read_secret_file(&path)
        }
        Err(e) => err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup<'a>(map: &'a HashMap<&'a str, String>) -> impl Fn(&str) -> Option<String> + 'a {
        |k| map.get(k).cloned()
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "socket = \"/file.sock\"\nlisten = \"127.0.0.1:1\"\nworkers = 7\n[limits]\nbody = \"1KiB\"\n",
        )
        .expect("write");
        let mut env = HashMap::new();
        env.insert("CRONIUM_CONFIG", file.display().to_string());
        env.insert("CRONIUM_STATE_DIR", dir.path().display().to_string());
        env.insert("CRONIUM_LISTEN", "127.0.0.1:2".to_string());
        env.insert("CRONIUM_TOKEN_SECRET", "x".repeat(32));
        let args = ConfigArgs::default();
        let serve = ServeArgs {
            workers: Some(3),
            ..Default::default()
        };
        let c = serve_config(&args, &serve, &lookup(&env)).expect("config");
        assert_eq!(c.socket, PathBuf::from("/file.sock"), "file beats default");
        assert_eq!(
            c.listen,
            Some("127.0.0.1:2".parse().expect("addr")),
            "env beats file"
        );
        assert_eq!(c.workers, 3, "flag beats file");
        assert_eq!(c.limits.body_bytes, 1024);
        assert_eq!(c.core.db_path, dir.path().join("cronium.db"));
    }

    #[test]
    fn storage_url_selects_postgres_without_showing_the_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = HashMap::new();
        env.insert("CRONIUM_STATE_DIR", dir.path().display().to_string());
        env.insert("CRONIUM_TOKEN_SECRET", "x".repeat(32));
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("defaults");
        assert!(c.database.is_none(), "SQLite stays the default");

        let file = dir.path().join("c.toml");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-file\n").expect("write");
        std::fs::write(
            &file,
            format!(
                "[storage]\nurl = \"postgres://app:in-url@db/cronium\"\nschema = \"ops\"\npassword_file = \"{}\"\n",
                pw.display()
            ),
        )
        .expect("write");
        env.insert("CRONIUM_CONFIG", file.display().to_string());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("file");
        let pg = c.database.as_ref().expect("postgres");
        assert_eq!(pg.schema, "ops");
        assert_eq!(pg.password.as_deref(), Some("from-file"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("in-url") && !shown.contains("from-file"),
            "{shown}"
        );

        env.insert(
            "CRONIUM_DATABASE_URL",
            "postgres://env@db2/x?sslmode=require".into(),
        );
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("env");
        assert_eq!(
            c.database.expect("postgres").url,
            "postgres://env@db2/x?sslmode=require",
            "env beats file"
        );

        // Without a password file, the password may come from the environment; a CA file
        // for TLS from either.
        env.remove("CRONIUM_CONFIG");
        env.insert("CRONIUM_DATABASE_PASSWORD", "from-env".into());
        env.insert("CRONIUM_DATABASE_CA_FILE", "/etc/db-ca.pem".into());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("env password");
        let pg = c.database.as_ref().expect("postgres");
        assert_eq!(pg.password.as_deref(), Some("from-env"));
        assert_eq!(pg.ca_file.as_deref(), Some(Path::new("/etc/db-ca.pem")));
        assert!(!format!("{c:?}").contains("from-env"));

        env.insert("CRONIUM_DATABASE_URL", "mysql://u:secret@h/x".into());
        let e = core_config(&ConfigArgs::default(), &lookup(&env)).expect_err("not postgres");
        assert!(e.to_string().contains("postgres://"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn orchestrator_issuers_from_file_and_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = HashMap::new();
        env.insert("CRONIUM_STATE_DIR", dir.path().display().to_string());
        env.insert("CRONIUM_TOKEN_SECRET", "x".repeat(32));
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("defaults");
        assert_eq!(c.auth.orchestrator_issuers, ["cronium-orchestrator"]);
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[auth]\norchestrator_issuers = [\"orch-a\", \"orch-b\"]\n",
        )
        .expect("write");
        env.insert("CRONIUM_CONFIG", file.display().to_string());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("file");
        assert_eq!(c.auth.orchestrator_issuers, ["orch-a", "orch-b"]);
        env.insert("CRONIUM_ORCHESTRATOR_ISSUERS", " orch-c , ".into());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("env");
        assert_eq!(c.auth.orchestrator_issuers, ["orch-c"], "env beats file");
        env.insert("CRONIUM_ORCHESTRATOR_ISSUERS", String::new());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("off");
        assert!(c.auth.orchestrator_issuers.is_empty());
    }

    #[test]
    fn retention_defaults_file_env_and_bad_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = HashMap::new();
        env.insert("CRONIUM_STATE_DIR", dir.path().display().to_string());
        env.insert("CRONIUM_TOKEN_SECRET", "x".repeat(32));
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("defaults");
        assert_eq!(c.retention, cronium_store::Retention::default());
        assert_eq!(c.retention.streams_after, Some(7 * 86_400));
        assert_eq!(c.retention.audit_after, Some(30 * 86_400));
        assert_eq!(c.retention_interval, Some(DEFAULT_RETENTION_INTERVAL));

        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[retention]\nstreams_after = \"1d\"\naudit_after = \"never\"\ninterval = \"off\"\nbatch = 50\n",
        )
        .expect("write");
        env.insert("CRONIUM_CONFIG", file.display().to_string());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("file");
        assert_eq!(
            (
                c.retention.streams_after,
                c.retention.audit_after,
                c.retention.batch
            ),
            (Some(86_400), None, 50)
        );
        assert_eq!(c.retention_interval, None, "off: only cronium gc prunes");

        env.insert("CRONIUM_RETENTION_STREAMS_AFTER", "2h".into());
        env.insert("CRONIUM_RETENTION_INTERVAL", "30s".into());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("env");
        assert_eq!(c.retention.streams_after, Some(7200), "env beats file");
        assert_eq!(c.retention_interval, Some(Duration::from_secs(30)));

        for (var, value, says) in [
            (
                "CRONIUM_RETENTION_AUDIT_AFTER",
                "soon",
                "CRONIUM_RETENTION_AUDIT_AFTER",
            ),
            ("CRONIUM_RETENTION_BATCH", "0", "above 0"),
            ("CRONIUM_RETENTION_INTERVAL", "0s", "above 0"),
        ] {
            let mut bad = env.clone();
            bad.insert(var, value.into());
            let e = core_config(&ConfigArgs::default(), &lookup(&bad)).expect_err(var);
            assert!(e.to_string().contains(says), "{var}={value}: {e}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = HashMap::new();
        env.insert("CRONIUM_STATE_DIR", dir.path().display().to_string());
        env.insert("CRONIUM_TOKEN_SECRET", "x".repeat(32));
        for (addr, ok) in [
            ("127.0.0.1:1", true),
            ("[::1]:1", true),
            ("0.0.0.0:1", false),
            ("10.1.2.3:1", false),
        ] {
            let serve = ServeArgs {
                listen: Some(addr.into()),
                ..Default::default()
            };
            let r = serve_config(&ConfigArgs::default(), &serve, &lookup(&env));
            assert_eq!(r.is_ok(), ok, "{addr}");
            if let Err(e) = r {
                assert!(e.to_string().contains("loopback"));
            }
        }
    }

    #[test]
    fn generated_key_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = generated_secret(dir.path()).expect("create");
        let b = generated_secret(dir.path()).expect("reuse");
        assert_eq!(a, b);
        assert!(a.len() >= 32);
        let mode = std::fs::metadata(dir.path().join("keys/default.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn tools_settings_and_credentials_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = HashMap::new();
        env.insert("CRONIUM_STATE_DIR", dir.path().display().to_string());
        env.insert("CRONIUM_TOKEN_SECRET", "x".repeat(32));
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("defaults");
        assert_eq!((c.tools.rate_per_min, c.tools.retries), (60.0, 3));
        let CredentialsKeySource::Generated(path) = &c.tools.key else {
            panic!("no key configured: generated")
        };
        assert_eq!(path, &dir.path().join("keys/credentials.key"));
        // Reading never invents a key; adding creates it, private, once.
        assert!(c.tools.key.load(false).is_err());
        let a = c.tools.key.load(true).expect("create");
        let b = c.tools.key.load(false).expect("read");
        assert_eq!(a.fingerprint(), b.fingerprint());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        env.insert("CRONIUM_CREDENTIALS_KEY", "A".repeat(43));
        env.insert("CRONIUM_TOOLS_RATE_LIMIT", "0".into());
        env.insert("CRONIUM_TOOLS_TIMEOUT", "2s".into());
        env.insert("CRONIUM_TOOLS_RETRIES", "1".into());
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("env");
        assert!(matches!(
            c.tools.key,
            CredentialsKeySource::Configured { .. }
        ));
        assert_eq!(c.tools.rate_per_min, 0.0);
        assert_eq!(c.tools.attempt_timeout, Duration::from_secs(2));
        assert_eq!(c.tools.retries, 1);
        assert_eq!(c.tools.endpoints.notion.as_str(), "https://api.notion.com/");
        env.insert(
            "CRONIUM_TOOLS_NOTION_URL",
            "http://127.0.0.1:9/notion".into(),
        );
        let (c, _) = core_config(&ConfigArgs::default(), &lookup(&env)).expect("endpoint");
        assert_eq!(
            c.tools.endpoints.notion.as_str(),
            "http://127.0.0.1:9/notion"
        );
        env.remove("CRONIUM_TOOLS_NOTION_URL");
        for (k, v, needle) in [
            (
                "CRONIUM_TOOLS_GOOGLE_TOKEN_URL",
                "ftp://x",
                "CRONIUM_TOOLS_GOOGLE_TOKEN_URL",
            ),
            (
                "CRONIUM_CREDENTIALS_KEY",
                "short",
                "CRONIUM_CREDENTIALS_KEY",
            ),
            ("CRONIUM_TOOLS_RETRIES", "99", "capped"),
            ("CRONIUM_TOOLS_RATE_LIMIT", "-1", "rate limit"),
        ] {
            let mut bad = env.clone();
            bad.insert(k, v.into());
            let e = core_config(&ConfigArgs::default(), &lookup(&bad)).expect_err(k);
            assert!(e.to_string().contains(needle), "{e}");
            assert!(
                !e.to_string().contains("short"),
                "the key is not echoed: {e}"
            );
        }
        let mut missing = env.clone();
        missing.remove("CRONIUM_CREDENTIALS_KEY");
        missing.insert("CRONIUM_CREDENTIALS_KEY_FILE", "/nonexistent/key".into());
        let e = core_config(&ConfigArgs::default(), &lookup(&missing)).expect_err("missing file");
        assert!(
            e.to_string().contains("CRONIUM_CREDENTIALS_KEY_FILE"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_fix() {
        let e = parse_duration("ten minutes").expect_err("bad");
        assert!(e.to_string().contains("15m"));
        assert_eq!(
            parse_duration("1500ms").expect("ms"),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_size("10MiB").expect("size"), 10 << 20);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "sockett = \"/x\"\n").expect("write");
        let mut env = HashMap::new();
        env.insert("CRONIUM_CONFIG", file.display().to_string());
        let e = serve_config(&ConfigArgs::default(), &ServeArgs::default(), &lookup(&env))
            .expect_err("unknown field");
        assert!(e.to_string().contains("sockett"), "{e}");
    }
}
