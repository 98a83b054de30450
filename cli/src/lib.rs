//! The `cronium` command: `serve`, and the admin commands the orchestrator, the tests and
//! the runner use to create executions, mint tokens and inspect what scripts did.
//!
//! Admin commands work on the store directly (the state directory), not through a running
//! sidecar, so they also work when none is running. A running sidecar on the same store
//! sees their variable writes through its change-log poller. With `--admin-socket` or
//! `--admin-url` the execution, token and variable commands act through a running
//! sidecar's admin API instead (`remote`), printing through the same `render` functions.

#![forbid(unsafe_code)]

mod admin_client;
mod admin_config;
mod admin_serve;
pub mod config;
mod health;
mod remote;
mod render;
mod shell;

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::admin_client::{AdminClient, RemoteArgs};
use crate::config::{ConfigArgs, ConfigError, ServeArgs, SubConfig};
use crate::render::CreatedJson;
use cronium_runner::args::{json_arg, load_input_stream, read_input_arg};
use cronium_runner::RunError;
use cronium_server::admin::{Admin, AdminError, Created, CredentialView, TestOutcome};
use cronium_server::admin_api::{ExecutionDoc, FinishDoc};
use cronium_server::auth::{Scope, Scopes};
use cronium_store::NewExecution;

/// A failed command: one line for the user and the exit code (2 = usage or config).
#[derive(Debug)]
pub struct CliError {
    /// Process exit code.
    pub code: u8,
    /// One line saying what is wrong and how to fix it.
    pub message: String,
}

impl CliError {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        Self::usage(e.0)
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) | AdminError::Finished(m) | AdminError::Conflict(m) => {
                Self::usage(m)
            }
            AdminError::NotFound(m) | AdminError::Failed(m) => Self::failed(m),
        }
    }
}

impl From<cronium_store::StoreError> for CliError {
    fn from(e: cronium_store::StoreError) -> Self {
        Self::failed(e.to_string())
    }
}

impl From<cronium_server::auth::AuthConfigError> for CliError {
    fn from(e: cronium_server::auth::AuthConfigError) -> Self {
        Self::usage(format!("token keys: {e}"))
    }
}

/// The Cronium runtime: serve the script API, run scripts locally, administer executions.
#[derive(Debug, Parser)]
#[command(name = "cronium", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the runtime API on a Unix socket (and optionally TCP).
    Serve {
        #[command(flatten)]
        sub: SubConfig,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Run a script the way Cronium would, with the runtime in this process, and show what
    /// it did (exit code: the script's; 124 on --timeout).
    #[command(after_long_help = RUN_ENVIRONMENT)]
    Run {
        #[command(flatten)]
        sub: SubConfig,
        #[command(flatten)]
        args: Box<cronium_runner::RunArgs>,
    },
    /// Ask a sidecar whether it is ready (GET /ready on its socket): exit 0 when it is,
    /// 1 when not; one line either way (the sidecar image's HEALTHCHECK).
    Health(health::HealthArgs),
    /// Create, inspect, list and finish executions (on the store, or through a running
    /// sidecar's admin API with --admin-socket/--admin-url).
    Executions {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        cmd: ExecutionsCmd,
    },
    /// Mint execution tokens.
    Token {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Read and write a user's variables.
    Variables {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        cmd: VariablesCmd,
    },
    /// Manage the tool credentials scripts use (Slack, Discord, webhook, email); secrets
    /// are sealed in the store and never printed.
    #[command(subcommand)]
    Tools(ToolsCmd),
    /// Rewrite scripts written for Cronium's file-based helpers (files, or the events table
    /// of Cronium's database) so they run on the runtime API; exit 1 when something needs
    /// review, 2 on bad usage.
    Migrate(Box<MigrateArgs>),
    /// Prune once what ended executions left behind past the `[retention]` ages (stream
    /// blocks, audit entries) and say what went; variables are never pruned. A sidecar
    /// does the same in the background every `[retention] interval`.
    #[command(after_long_help = GC_ENVIRONMENT)]
    Gc {
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sub: SubConfig,
    },
    /// Bring the configured store's schema up to date (sidecars also do this at start);
    /// with --check, only say whether it is current (exit 1 when it is not).
    MigrateStore {
        /// Change nothing: report the schema version and exit 1 if migrations are due.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        sub: SubConfig,
    },
    /// Print a completion script for bash, zsh, fish, elvish or powershell
    /// (bash: `source <(cronium completions bash)`).
    Completions(shell::CompletionsArgs),
    /// Write the man pages (cronium.1, cronium-SUBCOMMAND.1) into a directory.
    #[command(hide = true)]
    Manpages(shell::ManpagesArgs),
}

/// The settings `cronium gc` reads, for `cronium gc --help`.
const GC_ENVIRONMENT: &str = "\
Environment (or [retention] / [storage] in the configuration file):
  CRONIUM_RETENTION_STREAMS_AFTER  prune streams this long after the end (default 7d; never)
  CRONIUM_RETENTION_AUDIT_AFTER    prune audit entries this long after the end (default 30d; never)
  CRONIUM_RETENTION_BATCH          rows per transaction (default 500)
  CRONIUM_DATABASE_URL             the PostgreSQL store to prune instead of the state dir's SQLite
                                   (never a flag: a URL can hold a password)";

/// The environment `cronium run` reads, for `cronium run --help`.
const RUN_ENVIRONMENT: &str = "\
Environment:
  CRONIUM_PYTHON       the Python interpreter (default: the .venv of the build tree this
                       cronium belongs to when it has the module, else python3)
  CRONIUM_PYTHONPATH   extra PYTHONPATH entries (default: PREFIX/lib/cronium/python when
                       installed there)
  CRONIUM_NODE         the Node.js interpreter (default: node)
  CRONIUM_NODE_PATH    the node_modules holding the cronium package (default: the build
                       tree's target/node_modules, or PREFIX/lib/cronium/node_modules)
  CRONIUM_BUILTIN      the forkless Bash builtin (default: PREFIX/lib/bash/cronium_builtin.so
                       when installed there; cronium.sh falls back to curl)
  CRONIUM_LOG          log filter of the runner (a level, or target=level,...)
  CRONIUM_STATE_DIR, CRONIUM_CONFIG, CRONIUM_DATABASE_URL, CRONIUM_DATABASE_PASSWORD
                       the store the execution is recorded in (docs/configuration.md)
  DOCKER_HOST          the engine of --container";

/// `cronium migrate`.
#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// Script files or directories (searched recursively; language by extension or shebang).
    #[arg(required_unless_present = "database", conflicts_with = "database")]
    paths: Vec<PathBuf>,
    /// Print a unified diff of every change and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also rename the old helper names to today's API (otherwise only what breaks changes).
    #[arg(long)]
    modernize: bool,
    /// Rewrite the scripts in Cronium's database instead: a SQLite file path or a
    /// postgres:// URL (the password from the URL or PGPASSWORD; never printed).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The events table (default `events`; only with --database, which `migrate_scripts`
    /// checks: clap's `requires` did not refuse them next to script paths).
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// The script column (default `content`).
    #[arg(long, value_name = "NAME")]
    column: Option<String>,
    /// The language column, holding PYTHON, NODEJS, BASH (default `type`).
    #[arg(long, value_name = "NAME")]
    language_column: Option<String>,
    /// The id column (default `id`).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ToolsCmd {
    /// Add (or replace) a user's credential for a tool.
    ///
    /// The configuration is JSON from a file or stdin, never from the command line where
    /// `ps` would show it:
    /// slack/discord/teams {"webhook_url"}; webhook {"base_url", "headers"?,
    /// "allowed_paths"?, "methods"?}; email {"host", "port"?, "security"?
    /// (starttls|tls|none), "username"?, "password"?, "from"}; notion {"apiKey"}; trello
    /// {"apiKey", "apiToken"}; google-sheets {"clientId", "clientSecret", "refreshToken",
    /// "spreadsheetId"?} or a service account's JSON key. `cronium tools schema TOOL`
    /// prints each as a JSON Schema.
    Add {
        /// Owner: only this user's executions can use it.
        #[arg(long)]
        user: String,
        /// slack, discord, webhook, email, teams, notion, trello or google-sheets.
        #[arg(long)]
        tool: String,
        /// Name a script picks with "credential".
        #[arg(long, default_value = cronium_tools::DEFAULT_CREDENTIAL)]
        name: String,
        /// @FILE or - (stdin): the JSON configuration.
        #[arg(long, value_name = "@FILE|-")]
        config: String,
    },
    /// List credentials (every user's without --user): where they point, never a secret.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user's credential.
    Remove {
        /// Owner.
        #[arg(long)]
        user: String,
        /// Tool.
        #[arg(long)]
        tool: String,
        /// Name.
        #[arg(long, default_value = cronium_tools::DEFAULT_CREDENTIAL)]
        name: String,
    },
    /// Print the JSON Schemas of the tools: credential, each action's params and result.
    ///
    /// Without TOOL every tool; with TOOL one tool; with TOOL ACTION that action's params
    /// and result. The same schemas are in openapi.json under the tool-actions route, and
    /// `tool_params_invalid` names the field that failed them.
    Schema {
        /// A tool id (slack, teams, notion, trello, google-sheets, ...).
        tool: Option<String>,
        /// One of its actions (create-card, read-data, ...).
        action: Option<String>,
    },
    /// Check a credential without sending anything (with --params: run the action).
    ///
    /// It must open with this sidecar's key and its endpoint must answer: connect and TLS,
    /// for email also the login. With --params the action runs for real and its result is
    /// printed.
    Test {
        /// Owner.
        #[arg(long)]
        user: String,
        /// Tool.
        #[arg(long)]
        tool: String,
        /// Name.
        #[arg(long, default_value = cronium_tools::DEFAULT_CREDENTIAL)]
        name: String,
        /// Action to run with --params (default: the tool's only action; required for a
        /// tool with several).
        #[arg(long)]
        action: Option<String>,
        /// Params of a real call, JSON (sends a message!).
        #[arg(long)]
        params: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ExecutionsCmd {
    /// Create an execution and print its id and token.
    Create(Box<CreateArgs>),
    /// Show an execution: input, output, condition, streams, audit log.
    Show {
        /// Execution id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recent executions.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Finish an execution: from then on its tokens are refused (410 execution_finished)
    /// by every sidecar on the store, and its watches end.
    Finish {
        /// Execution id.
        id: String,
        /// How it ended: succeeded, failed, cancelled or timed_out (default: from the exit
        /// code, succeeded when 0 or absent).
        #[arg(long)]
        status: Option<String>,
        /// The script's exit code.
        #[arg(long, allow_negative_numbers = true)]
        exit_code: Option<i32>,
        /// Print the execution's lifecycle as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an execution's output stream as NDJSON.
    OutputStream {
        /// Execution id.
        id: String,
    },
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The execution's id, e.g. the orchestrator's job id (tokens it mints name it as
    /// executionId); generated when absent.
    #[arg(long)]
    id: Option<String>,
    /// Owner of the execution (variables belong to the user).
    #[arg(long)]
    user: String,
    /// Event name.
    #[arg(long)]
    event: Option<String>,
    /// Event id (generated when absent).
    #[arg(long)]
    event_id: Option<String>,
    /// Event type, e.g. python, node, bash.
    #[arg(long)]
    event_type: Option<String>,
    /// Job id.
    #[arg(long)]
    job_id: Option<String>,
    /// What started it: manual, schedule, workflow, webhook...
    #[arg(long)]
    trigger: Option<String>,
    /// Workflow step.
    #[arg(long)]
    workflow_step: Option<String>,
    /// Attempt number.
    #[arg(long, default_value_t = 1)]
    attempt: u32,
    /// Input: JSON text, @FILE, or - for stdin.
    #[arg(long)]
    input: Option<String>,
    /// NDJSON file served as the input stream.
    #[arg(long, value_name = "FILE")]
    input_stream: Option<PathBuf>,
    /// Extra context fields, a JSON object.
    #[arg(long)]
    context: Option<String>,
    /// Maximum lifetime of the execution's tokens, e.g. 1h.
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// Token scopes, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    scope: Vec<String>,
    /// Print {"id","token"} as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Mint a token for an existing execution and print it.
    Mint {
        /// Execution id.
        #[arg(long)]
        execution: String,
        /// Token lifetime (capped by the execution's maximum lifetime).
        #[arg(long)]
        ttl: Option<String>,
        /// Scopes, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum VariablesCmd {
    /// List a user's keys.
    List {
        /// User id.
        #[arg(long)]
        user: String,
    },
    /// Print a variable's value.
    Get {
        /// User id.
        #[arg(long)]
        user: String,
        /// Key.
        key: String,
    },
    /// Set a variable to a JSON value.
    Set {
        /// User id.
        #[arg(long)]
        user: String,
        /// Key.
        key: String,
        /// JSON value.
        value: String,
    },
    /// Delete a variable.
    Delete {
        /// User id.
        #[arg(long)]
        user: String,
        /// Key.
        key: String,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs the parsed command and returns the process's exit code (`cronium run`: the
/// script's); the caller exits with it.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Serve { sub, serve } => {
            let cfg = config::serve_config(&cli.config.with(&sub), &serve, &env)?;
            init_tracing(tracing::Level::INFO, cfg.log_json);
            let rt = runtime(cfg.workers)?;
            rt.block_on(serve_main(cfg))?;
            Ok(0)
        }
        Command::Run { sub, mut args } => {
            let config_args = cli.config.with(&sub);
            args.admin_flags = config_args.admin_flags();
            // Only errors unless `CRONIUM_LOG` says otherwise, so the script's own stderr
            // stays readable.
            init_tracing(tracing::Level::ERROR, false);
            let load = || {
                let (core, file) = config::core_config(&config_args, &env)?;
                let limits = config::limits_config(&file, &env)?;
                Ok((core, limits))
            };
            Ok(cronium_runner::run(&load, *args, &env)?)
        }
        Command::Migrate(args) => migrate_scripts(*args),
        Command::Completions(args) => shell::completions(&args),
        Command::Manpages(args) => shell::manpages(&args),
        Command::Health(args) => match health::check(&args, &env) {
            Ok(line) => {
                println!("{line}");
                Ok(0)
            }
            Err(line) => {
                println!("{line}");
                Ok(1)
            }
        },
        Command::Tools(ToolsCmd::Schema { tool, action }) => {
            // The registry's schemas: no store, no configuration needed.
            let text = tool_schema(tool.as_deref(), action.as_deref())?;
            println!("{text}");
            Ok(0)
        }
        Command::Gc { json, sub } => {
            init_tracing(tracing::Level::WARN, false);
            let (core, _) = config::core_config(&cli.config.with(&sub), &env)?;
            let rt = runtime(1)?;
            let line = rt.block_on(gc(&core, json))?;
            println!("{line}");
            Ok(0)
        }
        Command::MigrateStore { check, sub } => {
            init_tracing(tracing::Level::WARN, false);
            let (core, _) = config::core_config(&cli.config.with(&sub), &env)?;
            let rt = runtime(1)?;
            let line = rt.block_on(migrate_store(&core, check))?;
            println!("{line}");
            Ok(0)
        }
        cmd => {
            init_tracing(tracing::Level::INFO, false);
            let (core, file) = config::core_config(&cli.config, &env)?;
            let remote = match &cmd {
                Command::Executions { remote, .. }
                | Command::Token { remote, .. }
                | Command::Variables { remote, .. } => AdminClient::from_args(remote, || {
                    admin_config::client_secret(&file.admin, &env).map_err(CliError::from)
                })?,
                _ => None,
            };
            if let Some(client) = remote {
                remote::run(&client, cmd)?;
                return Ok(0);
            }
            let rt = runtime(1)?;
            rt.block_on(admin(core, cmd))?;
            Ok(0)
        }
    }
}

/// `cronium migrate`: the diffs or the changes, then the summary, on stdout.
fn migrate_scripts(args: MigrateArgs) -> Result<u8, CliError> {
    let options = cronium_migrate::Options {
        modernize: args.modernize,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let summary = match &args.database {
        Some(url) => {
            let target = cronium_migrate::db::Target {
                url: url.clone(),
                table: args.table.unwrap_or_else(|| "events".into()),
                column: args.column.unwrap_or_else(|| "content".into()),
                language_column: args.language_column.unwrap_or_else(|| "type".into()),
                id_column: args.id_column.unwrap_or_else(|| "id".into()),
            };
            cronium_migrate::db::migrate_database(&target, options, args.dry_run, &mut out)
                .map_err(|e| CliError::usage(e.0))?
        }
        None if args.table.is_some()
            || args.column.is_some()
            || args.language_column.is_some()
            || args.id_column.is_some() =>
        {
            return Err(CliError::usage(
                "--table, --column, --language-column and --id-column name the database's events table; give --database URL too, or drop them to migrate files",
            ));
        }
        None => cronium_migrate::files::migrate_paths(&args.paths, options, args.dry_run, &mut out)
            .map_err(|e| CliError::usage(e.0))?,
    };
    write!(out, "{}", summary.render(args.dry_run))
        .map_err(|e| CliError::failed(format!("cannot write: {e}")))?;
    Ok(summary.exit_code())
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, CliError> {
    let mut b = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    b.enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))
}

/// Logs go to stderr, as text or JSON. `CRONIUM_LOG` sets the filter: a level, or
/// `target=level` directives separated by commas (`info,cronium_server=debug`); unset,
/// empty or unparsable, everything at `default` and above is logged.
pub fn init_tracing(default: tracing::Level, json: bool) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    // `Targets` rather than `EnvFilter`: the same directive syntax without span and field
    // filters, and without the regex engine (a quarter MiB of resident code).
    let filter = std::env::var("CRONIUM_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry();
    let _ = if json {
        registry.with(layer.json().with_filter(filter)).try_init()
    } else {
        registry.with(layer.with_filter(filter)).try_init()
    };
}

async fn serve_main(cfg: config::ServeConfig) -> Result<(), CliError> {
    // The signal handlers go in before anything is bound: a SIGTERM sent as soon as the
    // socket answers (a supervisor stopping the sidecar it just started) then drains and
    // removes the socket, instead of the default action killing the process mid-start.
    let stop = stop_signal();
    let hangup = cfg.tls.as_ref().and_then(|_| hangup_signal());
    // Bind first: a script started at the same time can connect while the store opens
    // (its connection waits in the backlog), and a busy socket fails fast.
    let mut listeners = vec![cronium_server::server::Listener::unix(&cfg.socket)
        .await
        .map_err(|e| CliError::failed(format!("cannot serve on {}: {e}", cfg.socket.display())))?];
    let mut tls = None;
    let opened = async {
        if let Some(addr) = cfg.listen {
            let bound = match &cfg.tls {
                Some(files) => {
                    let server = cronium_server::tls::TlsServer::load(files.clone())
                        .map_err(CliError::usage)?;
                    tls = Some(server.clone());
                    cronium_server::server::Listener::tls(addr, server).await
                }
                None => cronium_server::server::Listener::tcp(addr).await,
            };
            listeners.push(
                bound.map_err(|e| CliError::failed(format!("cannot listen on {addr}: {e}")))?,
            );
        }
        Ok::<_, CliError>((
            cronium_server::open_store(&cfg.core)?,
            cronium_server::authenticator(&cfg.core)?,
        ))
    }
    .await;
    let (store, auth) = match opened {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.socket);
            return Err(e);
        }
    };
    // A shared database is connected and migrated here, so a wrong URL or password shows
    // at start; a database that is down only delays readiness (503 until it is back).
    if let Err(e) = store.ping().await {
        tracing::warn!(error = %e, "storage is unreachable; answering 503 until it is back");
    }
    let state = cronium_server::app_state(store, auth, cfg.limits, cfg.core.token_ttl);
    state.set_tools(cronium_server::tools_engine(&cfg.core).map_err(CliError::failed)?);
    if let Some(every) = cfg.core.retention_interval {
        cronium_server::retention::spawn(
            state.store.clone(),
            cfg.core.retention,
            every,
            state.shutdown.clone(),
        );
    }
    let core = std::sync::Arc::new(cfg.core);
    let bound = admin_serve::start(
        &state,
        &core,
        cfg.admin.as_ref(),
        cfg.execution.as_ref(),
        cfg.exit_on_finish,
    )
    .await;
    let admin_task = match bound {
        Ok(task) => task,
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.socket);
            return Err(e);
        }
    };
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutdown requested");
        shutdown.cancel();
    });
    if let (Some(tls), Some(hangup)) = (tls, hangup) {
        tokio::spawn(reload_tls_on_hangup(tls, hangup));
    }
    cronium_server::server::serve(state, listeners).await;
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    Ok(())
}

/// `SIGHUP`'s handler, installed when called (its default action ends the process).
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(hup) => Some(hup),
        Err(e) => {
            tracing::warn!(error = %e, "cannot handle SIGHUP; the TLS certificate is reloaded only by a restart");
            None
        }
    }
}

/// Reads the TLS certificate and key again on every `SIGHUP` (a renewed certificate is
/// used without a restart; open connections keep theirs). A file that fails to load is
/// logged and the previous certificate stays in use.
async fn reload_tls_on_hangup(
    tls: std::sync::Arc<cronium_server::tls::TlsServer>,
    mut hup: tokio::signal::unix::Signal,
) {
    while hup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "TLS reload failed; keeping the previous certificate")
            }
        }
    }
}

/// Installs the `SIGTERM` and `SIGINT` handlers now and returns what waits for either.
fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

fn parse_scopes(list: &[String]) -> Result<Option<Scopes>, CliError> {
    if list.is_empty() {
        return Ok(None);
    }
    list.iter()
        .map(|s| {
            Scope::parse(s.trim()).ok_or_else(|| {
                CliError::usage(format!(
                    "unknown scope {s:?}; use some of {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ))
            })
        })
        .collect::<Result<Scopes, _>>()
        .map(Some)
}

/// `cronium migrate-store [--check]`: the line to print, or the error (exit 1 when a check
/// finds migrations due or the database cannot be reached).
async fn migrate_store(core: &config::CoreConfig, check: bool) -> Result<String, CliError> {
    let Some(pg) = &core.database else {
        // SQLite migrates when opened, under its own lock; there is no separate step.
        return Ok(format!(
            "SQLite store {}: migrated whenever it is opened; nothing to do",
            core.db_path.display()
        ));
    };
    let store = cronium_store::postgres::PostgresStore::open(pg)?;
    if !check {
        store.migrate().await?;
    }
    let (applied, known) = store.schema_status().await?;
    let place = format!("{} (schema {})", store.target(), pg.schema);
    if applied == known {
        Ok(format!("{place}: current, version {applied}"))
    } else if applied < known {
        Err(CliError::failed(format!(
            "{place}: at version {applied} of {known}; run `cronium migrate-store` (or start a sidecar)"
        )))
    } else {
        Err(CliError::failed(format!(
            "{place}: at version {applied}, newer than this cronium ({known}); upgrade cronium"
        )))
    }
}

/// `cronium gc`: one prune of the configured store, batch after batch, and the line saying
/// what it removed.
async fn gc(core: &config::CoreConfig, json: bool) -> Result<String, CliError> {
    let store = cronium_server::open_store(core)?;
    let p = cronium_store::prune_all(store.as_ref(), cronium_store::now_unix(), &core.retention)
        .await?;
    Ok(if json {
        serde_json::json!({
            "streamBlocks": p.stream_blocks, "streamBytes": p.stream_bytes,
            "auditEntries": p.audit_entries, "executions": p.executions,
        })
        .to_string()
    } else {
        cronium_server::retention::summary(&p)
    })
}

async fn admin(core: config::CoreConfig, cmd: Command) -> Result<(), CliError> {
    let admin = Admin::open(&core)?;
    let out = &mut std::io::stdout().lock();
    let w = |r: std::io::Result<()>| r.map_err(|e| CliError::failed(format!("cannot write: {e}")));
    match cmd {
        Command::Serve { .. }
        | Command::Run { .. }
        | Command::Migrate(_)
        | Command::Health(_)
        | Command::Completions(_)
        | Command::Manpages(_)
        | Command::MigrateStore { .. }
        | Command::Gc { .. } => {
            unreachable!("handled by run")
        }
        Command::Executions {
            cmd: ExecutionsCmd::Create(a),
            ..
        } => {
            let scopes = parse_scopes(&a.scope)?;
            let ttl = config::parse_duration(&a.ttl)?;
            let input = a.input.as_deref().map(read_input_arg).transpose()?;
            let context = match a.context.as_deref() {
                Some(c) => {
                    let c = json_arg("--context", c)?;
                    if !c.starts_with('{') {
                        return Err(CliError::usage("--context must be a JSON object"));
                    }
                    Some(c)
                }
                None => None,
            };
            let new = NewExecution {
                id: a.id,
                user_id: a.user,
                event_id: a.event_id.unwrap_or_default(),
                event_name: a.event,
                event_type: a.event_type,
                job_id: a.job_id,
                trigger: a.trigger,
                workflow_step: a.workflow_step,
                attempt: a.attempt,
                input,
                context,
                expires_at: 0,
            };
            let Created {
                execution: e,
                token,
            } = admin.create_execution(new, ttl, scopes).await?;
            if let Some(path) = &a.input_stream {
                load_input_stream(admin.store(), &e.id, path).await?;
            }
            let c = CreatedJson {
                id: &e.id,
                token: &token,
                user_id: &e.user_id,
                event_id: &e.event_id,
                expires_at: e.expires_at,
            };
            w(render::created(out, &c, a.json))?;
        }
        Command::Executions {
            cmd: ExecutionsCmd::Show { id, json },
            ..
        } => {
            let v = admin.show_execution(&id).await?;
            let doc =
                serde_json::to_string(&ExecutionDoc::new(&v.report, &v.audit, &v.output_tail))
                    .map_err(|e| CliError::failed(e.to_string()))?;
            render::show(out, &doc, json)?;
        }
        Command::Executions {
            cmd: ExecutionsCmd::List { limit, json },
            ..
        } => {
            let list = admin.list_executions(limit).await?;
            let now = cronium_store::now_unix();
            let rows: Vec<render::ListRow> = list
                .iter()
                .map(|e| render::ListRow {
                    id: e.id.clone(),
                    user_id: e.user_id.clone(),
                    event: e.event.clone(),
                    event_name: e.event_name.clone(),
                    created_at: e.created_at.clone(),
                    has_output: e.has_output,
                    status: e.status_at(now).as_str().to_owned(),
                })
                .collect();
            w(render::list(out, &rows, json))?;
        }
        Command::Executions {
            cmd:
                ExecutionsCmd::Finish {
                    id,
                    status,
                    exit_code,
                    json,
                },
            ..
        } => {
            // An unknown id is the caller's mistake here (exit 2), like finishing twice.
            let e = admin
                .finish_execution(&id, status.as_deref(), exit_code)
                .await
                .map_err(|e| match e {
                    AdminError::NotFound(m) => CliError::usage(m),
                    e => e.into(),
                })?;
            let doc = FinishDoc {
                id: &e.id,
                status: e.status.as_str(),
                outcome: e.outcome.as_deref(),
                exit_code: e.exit_code,
                finished_at: e.finished_at.as_deref(),
            };
            w(render::finished(out, &doc, json))?;
        }
        Command::Executions {
            cmd: ExecutionsCmd::OutputStream { id },
            ..
        } => {
            let mut after = 0;
            while let Some((pos, block)) = admin.output_stream_block(&id, after).await? {
                w(out.write_all(&block))?;
                after = pos;
            }
        }
        Command::Token {
            cmd:
                TokenCmd::Mint {
                    execution,
                    ttl,
                    scope,
                },
            ..
        } => {
            let ttl = ttl.as_deref().map(config::parse_duration).transpose()?;
            let scopes = parse_scopes(&scope)?;
            let token = admin.mint_token(&execution, ttl, scopes).await?;
            w(writeln!(out, "{token}"))?;
        }
        Command::Variables { cmd, .. } => variables(&admin, out, cmd).await?,
        Command::Tools(cmd) => tools(&admin, out, cmd).await?,
    }
    Ok(())
}

async fn variables(
    admin: &Admin<'_>,
    out: &mut impl Write,
    cmd: VariablesCmd,
) -> Result<(), CliError> {
    let w = |r: std::io::Result<()>| r.map_err(|e| CliError::failed(format!("cannot write: {e}")));
    match cmd {
        VariablesCmd::List { user } => {
            w(render::keys(out, &admin.variable_keys(&user).await?))?;
        }
        VariablesCmd::Get { user, key } => {
            let value = admin.variable(&user, &key).await?;
            w(writeln!(out, "{value}"))?;
        }
        VariablesCmd::Set { user, key, value } => {
            admin.check_key(&key)?;
            let value = json_arg("the value", &value)?;
            let version = admin.set_variable(&user, &key, &value).await?;
            w(render::set(out, &key, &value, version))?;
        }
        VariablesCmd::Delete { user, key } => {
            let deleted = admin.delete_variable(&user, &key).await?;
            w(render::deleted(out, deleted))?;
        }
    }
    Ok(())
}

/// `cronium tools schema [TOOL [ACTION]]`: pretty JSON.
fn tool_schema(tool: Option<&str>, action: Option<&str>) -> Result<String, CliError> {
    use cronium_tools::registry;
    let v = match tool {
        None => registry::all_json(),
        Some(t) => {
            let spec = registry::spec(tool_arg(t)?);
            match action {
                None => registry::tool_json(spec),
                Some(a) => {
                    let found = spec.tool.action(a).and_then(|a| spec.action(a));
                    let Some(found) = found else {
                        return Err(CliError::usage(format!(
                            "{} has no action {a:?}; its actions: {}",
                            spec.tool,
                            spec.actions
                                .iter()
                                .map(|s| s.action.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    };
                    registry::action_json(found)
                }
            }
        }
    };
    serde_json::to_string_pretty(&v).map_err(|e| CliError::failed(e.to_string()))
}

fn tool_arg(name: &str) -> Result<cronium_tools::Tool, CliError> {
    cronium_tools::Tool::parse(name).ok_or_else(|| {
        CliError::usage(format!(
            "unknown tool {name:?}; use one of {}",
            cronium_tools::Tool::ALL
                .map(cronium_tools::Tool::as_str)
                .join(", ")
        ))
    })
}

/// Reads a credential configuration from `@FILE` or `-`; inline JSON is refused because
/// argv is visible to every user of the machine.
fn secret_json_arg(arg: &str) -> Result<serde_json::Value, CliError> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            CliError::failed(format!("cannot read the configuration from stdin: {e}"))
        })?;
        s
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("cannot read the configuration file {path}: {e}"))
        })?
    } else {
        return Err(CliError::usage(
            "--config takes @FILE or - (stdin): secrets never go on the command line",
        ));
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("the configuration is not valid JSON: {e}")))
}

async fn tools(admin: &Admin<'_>, out: &mut impl Write, cmd: ToolsCmd) -> Result<(), CliError> {
    let w = |r: std::io::Result<()>| r.map_err(|e| CliError::failed(format!("cannot write: {e}")));
    match cmd {
        ToolsCmd::Schema { tool, action } => {
            w(writeln!(
                out,
                "{}",
                tool_schema(tool.as_deref(), action.as_deref())?
            ))?;
        }
        ToolsCmd::Add {
            user,
            tool,
            name,
            config,
        } => {
            let tool = tool_arg(&tool)?;
            let cfg = secret_json_arg(&config)?;
            let (replaced, warning) = admin.add_credential(&user, tool, &name, &cfg).await?;
            if let Some(warning) = warning {
                eprintln!("warning: {warning}");
            }
            w(writeln!(
                out,
                "{} {} credential {name:?} for user {user:?}",
                if replaced { "replaced" } else { "added" },
                tool.as_str()
            ))?;
        }
        ToolsCmd::List { user, json } => {
            let listed = admin.list_credentials(user.as_deref()).await?;
            if json {
                let v: Vec<_> = listed
                    .iter()
                    .map(|CredentialView { row: r, target }| serde_json::json!({"user": r.user_id, "tool": r.tool, "name": r.name, "target": target, "keyId": r.key_id, "createdAt": r.created_at, "updatedAt": r.updated_at}))
                    .collect();
                w(writeln!(out, "{}", serde_json::Value::from(v)))?;
            } else {
                for CredentialView { row: r, target } in &listed {
                    w(writeln!(
                        out,
                        "{}  {}  {}  {}  (updated {})",
                        r.user_id, r.tool, r.name, target, r.updated_at
                    ))?;
                }
            }
        }
        ToolsCmd::Remove { user, tool, name } => {
            let tool = tool_arg(&tool)?;
            admin.remove_credential(&user, tool, &name).await?;
            w(writeln!(
                out,
                "removed {} credential {name:?} of user {user:?}",
                tool.as_str()
            ))?;
        }
        ToolsCmd::Test {
            user,
            tool,
            name,
            action,
            params,
        } => {
            let t = tool_arg(&tool)?;
            let params = params
                .map(|p| {
                    json_arg("--params", &p)
                        .map(|p| serde_json::from_str::<serde_json::Value>(&p).unwrap_or_default())
                })
                .transpose()?;
            match admin
                .test_credential(&user, t, &name, action.as_deref(), params)
                .await?
            {
                TestOutcome::Reached(ok) => w(writeln!(out, "ok: {ok}"))?,
                TestOutcome::Ran(result) => w(writeln!(out, "{result}"))?,
            }
        }
    }
    Ok(())
}
