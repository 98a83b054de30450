//! The PostgreSQL store: one shared store for many sidecars and hosts.
//!
//! Driver: tokio-postgres with a deadpool pool. Not sqlx: its query macros need a database
//! (or checked-in metadata) at build time and a proc-macro stack, and the runtime-only API
//! still compiles a third more crates; tokio-postgres is the protocol and nothing else,
//! which keeps the sidecar small and the build short on a two-core machine. TLS to the
//! database goes through the same rustls (ring provider, Mozilla's roots) the tools use.
//!
//! Semantics are the SQLite store's, checked by the same conformance suite:
//! - JSON values are `TEXT`, never `JSONB`: JSONB reorders keys and normalises numbers,
//!   and a user's value must come back byte for byte.
//! - Text that is sorted or compared (ids, keys, names) is `COLLATE "C"`, so order is
//!   bytewise as in SQLite, whatever locale the database was created with.
//! - Every variable write takes the one row of `change_counter` first. That row lock
//!   orders the writers: the change-log position a write gets is also its commit order, so
//!   a watcher reading "changes after N" never misses a position that commits later, and
//!   the compare-and-set that follows (read version, check, write) cannot interleave with
//!   another write of the same key, absent keys (`If-Match: 0`) included.
//! - Idempotency claims are `INSERT ... ON CONFLICT DO NOTHING`: of several sidecars
//!   claiming one key, exactly one inserts.
//!
//! Schema: its own PostgreSQL schema (`cronium` unless configured), named on every
//! connection through the `search_path` startup option. Migrations run on first use,
//! inside one transaction holding an advisory lock, so sidecars starting together apply
//! each step exactly once. Migrating on first use rather than in [`PostgresStore::open`]
//! lets a sidecar start while the database is down: it answers `503 storage_unavailable`
//! until the database is reachable, then migrates and serves.
//!
//! Unreachable database: every call fails with [`StoreError::Unavailable`] within the
//! connect/wait timeouts; the pool drops closed connections and opens new ones when the
//! database is back, without a restart. A write is acknowledged only after `COMMIT`
//! returned.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{
    now_rfc3339, now_unix, Actor, AuditEntry, Execution, ExecutionReport, ExecutionStatus,
    ExecutionSummary, Finish, IdempotencyClaim, Json, NewExecution, Pruned, Retention,
    SealedCredential, StoreError, StoreResult, StreamStats, Variable, VariableChange,
};

/// Schema migrations, applied in order inside the store's schema; `schema_version` records
/// how many ran. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE executions (
    id            TEXT COLLATE "C" PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL,
    event_id      TEXT NOT NULL,
    event_name    TEXT,
    event_type    TEXT,
    job_id        TEXT,
    trigger       TEXT NOT NULL,
    workflow_step TEXT,
    attempt       BIGINT NOT NULL,
    input         TEXT,
    context       TEXT,
    created_at    TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    output        TEXT,
    condition     BOOLEAN,
    in_records    BIGINT NOT NULL DEFAULT 0,
    in_bytes      BIGINT NOT NULL DEFAULT 0,
    out_records   BIGINT NOT NULL DEFAULT 0,
    out_bytes     BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE variables (
    user_id    TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE TABLE change_counter (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT NOT NULL
);
INSERT INTO change_counter (one, seq) VALUES (TRUE, 0);
CREATE TABLE variable_changes (
    seq        BIGINT PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT,
    version    BIGINT,
    updated_at TEXT NOT NULL
);
CREATE TABLE stream_blocks (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id TEXT COLLATE "C" NOT NULL,
    direction    SMALLINT NOT NULL,
    data         BYTEA NOT NULL
);
CREATE INDEX stream_blocks_by_execution ON stream_blocks (execution_id, direction, id);
CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TEXT NOT NULL,
    execution_id TEXT COLLATE "C" NOT NULL,
    user_id      TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL
);
CREATE INDEX audit_log_by_execution ON audit_log (execution_id, id);
CREATE TABLE tool_credentials (
    user_id    TEXT COLLATE "C" NOT NULL,
    tool       TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    key_id     TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, tool, name)
);
CREATE TABLE tool_idempotency (
    execution_id TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    fingerprint  TEXT NOT NULL,
    outcome      TEXT,
    created_unix BIGINT NOT NULL,
    PRIMARY KEY (execution_id, key)
);
CREATE INDEX tool_idempotency_by_age ON tool_idempotency (created_unix);
"#,
    // 2: the execution lifecycle (issue 14). A finish is also a change-log entry, so other
    // sidecars on the store drop the execution as they pick up variable writes.
    r#"
ALTER TABLE executions ADD COLUMN status TEXT NOT NULL DEFAULT 'created';
ALTER TABLE executions ADD COLUMN started_at TEXT;
ALTER TABLE executions ADD COLUMN finished_at TEXT;
ALTER TABLE executions ADD COLUMN outcome TEXT;
ALTER TABLE executions ADD COLUMN exit_code INTEGER;
ALTER TABLE variable_changes ADD COLUMN finished_execution TEXT;
"#,
    // 3: a variable write in one statement, so one round trip: the client-side transaction
    // took seven (BEGIN, counter, version, upsert, change, audit, COMMIT) and a durable
    // write through the sidecar cost several times a plain upsert. The same steps in the
    // same order as before: lock the counter row (ordering every writer), check the
    // version, then take the next position, write, log, audit and signal. A conflict
    // returns position 0 with the stored version and writes nothing. 10000 is
    // CHANGE_LOG_KEEP.
    r#"
CREATE FUNCTION set_variable_v1(
    p_user TEXT, p_key TEXT, p_value TEXT, p_if BIGINT, p_at TEXT, p_execution TEXT
) RETURNS TABLE (o_seq BIGINT, o_version BIGINT) LANGUAGE plpgsql AS $fn$
DECLARE
    cur BIGINT;
    pos BIGINT;
BEGIN
    PERFORM 1 FROM change_counter FOR UPDATE;
    SELECT v.version INTO cur FROM variables v WHERE v.user_id = p_user AND v.key = p_key;
    cur := COALESCE(cur, 0);
    IF p_if IS NOT NULL AND p_if <> cur THEN
        RETURN QUERY SELECT 0::BIGINT, cur;
        RETURN;
    END IF;
    UPDATE change_counter c SET seq = c.seq + 1 RETURNING c.seq INTO pos;
    INSERT INTO variables (user_id, key, value, version, updated_at)
        VALUES (p_user, p_key, p_value, cur + 1, p_at)
        ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value,
            version = excluded.version, updated_at = excluded.updated_at;
    INSERT INTO variable_changes (seq, user_id, key, value, version, updated_at)
        VALUES (pos, p_user, p_key, p_value, cur + 1, p_at);
    IF pos % 1024 = 0 THEN
        DELETE FROM variable_changes d WHERE d.seq <= pos - 10000;
    END IF;
    INSERT INTO audit_log (at, execution_id, user_id, action, target)
        VALUES (p_at, p_execution, p_user, 'variable.set', p_key);
    PERFORM pg_notify(left('cronium_changes_' || current_schema(), 63), '');
    RETURN QUERY SELECT pos, cur + 1;
END
$fn$;
"#,
    // 4: retention (issue 14). When an execution finished, in unix seconds, so its age is
    // a plain comparison; and whether its streams and audit entries are already pruned, so
    // a prune skips what an earlier one emptied instead of scanning all history again.
    r#"
ALTER TABLE executions ADD COLUMN finished_unix BIGINT;
ALTER TABLE executions ADD COLUMN streams_pruned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE executions ADD COLUMN audit_pruned BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE executions SET finished_unix = EXTRACT(EPOCH FROM finished_at::timestamptz)::BIGINT
    WHERE finished_at IS NOT NULL;
CREATE INDEX executions_by_end ON executions ((COALESCE(finished_unix, expires_at)));
"#,
    // 5: stream blocks stored uncompressed (issue 20). NDJSON compresses, but pglz costs
    // more CPU per byte than the rest of the append together (a quarter of the server's
    // time in a profile of the output stream); the blocks are still kept out of line.
    r#"
ALTER TABLE stream_blocks ALTER COLUMN data SET STORAGE EXTERNAL;
"#,
];

/// How long an idempotency record is kept: longer than any execution's retries.
const IDEMPOTENCY_KEEP_SECS: i64 = 7 * 86_400;

/// How many change-log rows to keep; watchers only ever need the recent tail.
const CHANGE_LOG_KEEP: i64 = 10_000;

const INPUT: i16 = 0;
const OUTPUT: i16 = 1;

/// First key of the advisory lock that serialises migrations (the second is the schema's
/// hash): "cron" in ASCII, so it is recognisable in `pg_locks`.
const MIGRATION_LOCK: i32 = 0x6372_6f6e;

/// The default PostgreSQL schema of the store's tables.
pub const DEFAULT_SCHEMA: &str = "cronium";

/// Where the PostgreSQL store is and how to reach it.
///
/// `Debug` shows the URL without its password: the settings may be logged.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://user[:password]@host[:port]/database?sslmode=require`, or libpq's
    /// `key=value` form. `sslmode=require` turns TLS on (certificates verified against
    /// Mozilla's roots); anything else connects in plain text.
    pub url: String,
    /// Password, read from a file, that overrides any in the URL.
    pub password: Option<String>,
    /// PostgreSQL schema of the tables: `[a-z_][a-z0-9_]*`, at most 63 bytes.
    pub schema: String,
    /// Most connections the pool holds open.
    pub pool_size: usize,
    /// Time to connect, and to wait for a free pooled connection, before a call fails as
    /// unavailable.
    pub timeout: Duration,
    /// CA certificates (PEM) the database server's certificate must chain to, instead of
    /// Mozilla's roots: a private CA, as libpq's `sslrootcert`. Setting it (here, with
    /// `[storage] ca_file` / `CRONIUM_DATABASE_CA_FILE`, or `sslrootcert=PATH` in the URL)
    /// turns TLS on.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgSettings {
    /// Settings for `url` with the defaults: schema `cronium`, 16 connections, 5 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            schema: DEFAULT_SCHEMA.into(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    /// The URL without its password, for messages and logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.redacted_url())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Whether `url` names a PostgreSQL database (rather than, say, a SQLite path).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`: in the user-info part of a URL, in a
/// `password=` query parameter and in libpq's `password=value` form.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    // `password=` as a query parameter (ends at `&`) or a key=value pair (ends at a space).
    let mut from = 0;
    while let Some(i) = out[from..].find("password=") {
        let start = from + i + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

/// Reads what the driver does not parse from a URL's query: libpq's `sslrootcert=PATH`
/// (taken out and returned) and `sslmode=verify-ca` / `verify-full` (read as `require`, which
/// here always verifies the certificate and the host name). Other forms pass unchanged.
fn take_libpq_tls_options(url: &str) -> (String, Option<std::path::PathBuf>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut ca = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => ca = Some(std::path::PathBuf::from(path)),
            Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require"),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, ca)
}

fn valid_schema(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// PostgreSQL implementation of [`super::Store`].
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    target: String,
    migrated: tokio::sync::OnceCell<()>,
    listen: ListenTarget,
    /// The change listener's task, once started; aborted when the store is dropped.
    listener: parking_lot::Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().take() {
            task.abort();
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .finish()
    }
}

fn unavailable(e: tokio_postgres::Error) -> StoreError {
    // The driver's messages name the server's complaint or the socket error, never the
    // connection string.
    StoreError::Unavailable(format!("database: {e}"))
}

fn pool_unavailable(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("database: {e}"))
}

/// One column of a row; the types are this module's own schema's, so a mismatch is a
/// broken database, answered as unavailable rather than a panic.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i).map_err(unavailable)
}

fn to_i64(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Unavailable(format!("{n} is out of range")))
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn tls_config(ca_file: Option<&std::path::Path>) -> StoreResult<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |e: &dyn fmt::Display| {
                StoreError::Unavailable(format!(
                    "the database CA file {} is not readable PEM certificates: {e}",
                    path.display()
                ))
            };
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(bad(&"no certificate in it"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Unavailable(format!("TLS setup failed: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl PostgresStore {
    /// Builds the pool for `settings`. Connects nobody yet: the first call connects and
    /// migrates (see the module doc), so a database that is down now is not an error here;
    /// a URL that cannot be parsed is.
    pub fn open(settings: &PgSettings) -> StoreResult<Self> {
        let target = settings.redacted_url();
        if !valid_schema(&settings.schema) {
            return Err(StoreError::Unavailable(format!(
                "database schema {:?} is not a plain lowercase name ([a-z_][a-z0-9_]*)",
                settings.schema
            )));
        }
        let (url, url_ca) = take_libpq_tls_options(&settings.url);
        let ca_file = settings.ca_file.clone().or(url_ca);
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL {target}: {e}")))?;
        if ca_file.is_some() {
            config.ssl_mode(SslMode::Require);
        }
        if let Some(p) = &settings.password {
            config.password(p.trim_end_matches(['\n', '\r']));
        }
        // The schema is chosen per connection, so every statement below names its tables
        // unqualified and one prepared statement serves every schema.
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c search_path={}", settings.schema),
            _ => format!("-c search_path={}", settings.schema),
        };
        config.options(options);
        if config.get_application_name().is_none() {
            config.application_name("cronium");
        }
        config.connect_timeout(settings.timeout);
        // A database host that vanishes without closing the connection fails calls after
        // this long instead of the kernel's retransmission timeout (~15 minutes).
        config.tcp_user_timeout(settings.timeout.max(Duration::from_secs(10)));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let tls = if config.get_ssl_mode() == SslMode::Require {
            Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(
                ca_file.as_deref(),
            )?))
        } else {
            // `prefer` (the driver's default) would try TLS and fail on a certificate
            // rustls rejects, where libpq would carry on unverified: TLS only on request.
            config.ssl_mode(SslMode::Disable);
            None
        };
        // The change listener's own connection: the same target, told apart in
        // `pg_stat_activity` by its name.
        let mut listen_config = config.clone();
        listen_config.application_name(LISTENER_NAME);
        let listen = ListenTarget {
            config: listen_config,
            tls: tls.clone(),
            channel: change_channel(&settings.schema),
            timeout: settings.timeout,
        };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("database pool: {e}")))?;
        Ok(Self {
            pool,
            schema: settings.schema.clone(),
            target,
            migrated: tokio::sync::OnceCell::new(),
            listen,
            listener: parking_lot::Mutex::new(None),
        })
    }

    /// The database, without its password, for logs.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Applies the migrations not yet applied (once per store; later calls return at
    /// once). Every call does this first; call it at start to fail early.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.migrated
            .get_or_try_init(|| self.migrate_now())
            .await
            .map(|_| ())
    }

    /// `(applied, known)`: how many migration steps the database has and how many this
    /// build knows. The database is current when they are equal. Changes nothing.
    pub async fn schema_status(&self) -> StoreResult<(u32, u32)> {
        let client = self.pool.get().await.map_err(pool_unavailable)?;
        let exists = client
            .query_opt(
                "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_version'",
                &[&self.schema],
            )
            .await
            .map_err(unavailable)?
            .is_some();
        let applied = if exists {
            let row = client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
                .await
                .map_err(unavailable)?;
            u32::try_from(col::<i32>(&row, 0)?).unwrap_or(0)
        } else {
            0
        };
        Ok((applied, MIGRATIONS.len() as u32))
    }

    async fn migrate_now(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await.map_err(pool_unavailable)?;
        let tx = client.transaction().await.map_err(unavailable)?;
        // Held to the end of this transaction: a second sidecar migrating the same schema
        // waits here, then finds every step done.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&MIGRATION_LOCK, &self.schema],
        )
        .await
        .map_err(unavailable)?;
        // `CREATE SCHEMA IF NOT EXISTS` needs the CREATE privilege even when the schema
        // exists; a role that was given a ready schema has none, so look first.
        let exists = tx
            .query_opt(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                &[&self.schema],
            )
            .await
            .map_err(unavailable)?
            .is_some();
        if !exists {
            // The name was checked to be a plain identifier in `open`.
            tx.batch_execute(&format!("CREATE SCHEMA {}", self.schema))
                .await
                .map_err(unavailable)?;
        }
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .await
            .map_err(unavailable)?;
        let row = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await
            .map_err(unavailable)?;
        let done = usize::try_from(col::<i32>(&row, 0)?).unwrap_or(0);
        if done > MIGRATIONS.len() {
            return Err(StoreError::Unavailable(format!(
                "the database schema {} is at version {done}, newer than this cronium knows ({}); upgrade cronium",
                self.schema,
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            tx.batch_execute(sql).await.map_err(unavailable)?;
            let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
            tx.execute("DELETE FROM schema_version", &[])
                .await
                .map_err(unavailable)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    /// A pooled connection to a migrated database.
    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.migrate().await?;
        self.pool.get().await.map_err(pool_unavailable)
    }

    /// One nullable column of an execution's row; `None` also when there is no such row.
    async fn execution_column<T>(&self, sql: &str, execution_id: &str) -> StoreResult<Option<T>>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let row = self.query_opt(sql, &[&execution_id]).await?;
        Ok(match row {
            Some(r) => col(&r, 0)?,
            None => None,
        })
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(unavailable)?;
        client.query_opt(&stmt, params).await.map_err(unavailable)
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(unavailable)?;
        client.query(&stmt, params).await.map_err(unavailable)
    }
}

/// Runs one statement (prepared once per connection) in a transaction.
async fn exec(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let stmt = tx.prepare_cached(sql).await.map_err(unavailable)?;
    tx.execute(&stmt, params).await.map_err(unavailable)
}

async fn query_opt_tx(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Option<Row>> {
    let stmt = tx.prepare_cached(sql).await.map_err(unavailable)?;
    tx.query_opt(&stmt, params).await.map_err(unavailable)
}

async fn audit_row(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Actor<'_>,
    at: &str,
    action: &str,
    target: &str,
) -> StoreResult<()> {
    exec(
        tx,
        "INSERT INTO audit_log (at, execution_id, user_id, action, target) VALUES ($1, $2, $3, $4, $5)",
        &[&at, &actor.execution_id, &actor.user_id, &action, &target],
    )
    .await?;
    Ok(())
}

/// Takes the next change-log position. The row lock it holds until commit orders every
/// variable write (see the module doc). The same statement queues the change signal, which
/// PostgreSQL delivers to the listeners only if and when the transaction commits (and for
/// no extra round trip).
async fn next_change_seq(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<i64> {
    let stmt = tx
        .prepare_cached(
            "UPDATE change_counter SET seq = seq + 1 \
             RETURNING seq, pg_notify(left('cronium_changes_' || current_schema(), 63), '')",
        )
        .await
        .map_err(unavailable)?;
    let row = tx.query_one(&stmt, &[]).await.map_err(unavailable)?;
    col(&row, 0)
}

async fn record_change(
    tx: &deadpool_postgres::Transaction<'_>,
    seq: i64,
    user_id: &str,
    key: &str,
    value: Option<&str>,
    version: Option<i64>,
    at: &str,
) -> StoreResult<()> {
    exec(
        tx,
        "INSERT INTO variable_changes (seq, user_id, key, value, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&seq, &user_id, &key, &value, &version, &at],
    )
    .await?;
    if seq % 1024 == 0 {
        exec(
            tx,
            "DELETE FROM variable_changes WHERE seq <= $1",
            &[&(seq - CHANGE_LOG_KEEP)],
        )
        .await?;
    }
    Ok(())
}

fn check_version(expected: Option<u64>, actual: u64) -> StoreResult<()> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::Conflict { expected, actual }),
        _ => Ok(()),
    }
}

async fn stored_version(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: &str,
    key: &str,
) -> StoreResult<u64> {
    let row = query_opt_tx(
        tx,
        "SELECT version FROM variables WHERE user_id = $1 AND key = $2",
        &[&user_id, &key],
    )
    .await?;
    Ok(match row {
        Some(r) => to_u64(col(&r, 0)?),
        None => 0,
    })
}

const EXECUTION_COLUMNS: &str = "id, user_id, event_id, event_name, event_type, job_id, trigger, \
     workflow_step, attempt, input, context, created_at, expires_at";
/// What a read of an execution selects: [`EXECUTION_COLUMNS`] and the lifecycle, which a
/// new execution takes from the columns' defaults.
const SELECT_COLUMNS: &str = "id, user_id, event_id, event_name, event_type, job_id, trigger, \
     workflow_step, attempt, input, context, created_at, expires_at, status, started_at, \
     finished_at, outcome, exit_code";
/// How many columns [`SELECT_COLUMNS`] has: the report's own columns follow.
const SELECTED: usize = 18;

fn execution_from_row(r: &Row) -> StoreResult<Execution> {
    Ok(Execution {
        id: col(r, 0)?,
        user_id: col(r, 1)?,
        event_id: col(r, 2)?,
        event_name: col(r, 3)?,
        event_type: col(r, 4)?,
        job_id: col(r, 5)?,
        trigger: col(r, 6)?,
        workflow_step: col(r, 7)?,
        attempt: u32::try_from(col::<i64>(r, 8)?).unwrap_or(1),
        input: col(r, 9)?,
        context: col(r, 10)?,
        created_at: col(r, 11)?,
        expires_at: col(r, 12)?,
        status: ExecutionStatus::parse(&col::<String>(r, 13)?),
        started_at: col(r, 14)?,
        finished_at: col(r, 15)?,
        outcome: col(r, 16)?,
        exit_code: col(r, 17)?,
    })
}

fn change_from_row(r: &Row) -> StoreResult<VariableChange> {
    Ok(VariableChange {
        seq: col(r, 0)?,
        user_id: col(r, 1)?,
        key: col(r, 2)?,
        value: col(r, 3)?,
        version: col::<Option<i64>>(r, 4)?.map(to_u64),
        updated_at: col(r, 5)?,
        finished_execution: col(r, 6)?,
    })
}

impl PostgresStore {
    async fn update_execution(
        &self,
        actor: Actor<'_>,
        sql: &'static str,
        value: &(dyn ToSql + Sync),
        action: &'static str,
    ) -> StoreResult<()> {
        let at = now_rfc3339();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let n = exec(&tx, sql, &[value, &actor.execution_id]).await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "execution {}",
                actor.execution_id
            )));
        }
        audit_row(&tx, actor, &at, action, "").await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn append_block(
        &self,
        execution_id: &str,
        direction: i16,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()> {
        let records = to_i64(records)?;
        let bytes = to_i64(block.len() as u64)?;
        let client = self.client().await?;
        // One statement, so one round trip and its own transaction. The execution's row
        // lock, taken by the UPDATE before the INSERT has a row to insert, orders its
        // blocks: their ids grow in commit order, which is what readers page by.
        let sql = if direction == INPUT {
            "WITH e AS (UPDATE executions SET in_records = in_records + $1, in_bytes = in_bytes + $2 \
             WHERE id = $3 RETURNING id) \
             INSERT INTO stream_blocks (execution_id, direction, data) SELECT id, $4, $5 FROM e"
        } else {
            "WITH e AS (UPDATE executions SET out_records = out_records + $1, out_bytes = out_bytes + $2 \
             WHERE id = $3 RETURNING id) \
             INSERT INTO stream_blocks (execution_id, direction, data) SELECT id, $4, $5 FROM e"
        };
        let stmt = client.prepare_cached(sql).await.map_err(unavailable)?;
        let n = client
            .execute(
                &stmt,
                &[&records, &bytes, &execution_id, &direction, &block],
            )
            .await
            .map_err(unavailable)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("execution {execution_id}")));
        }
        Ok(())
    }

    async fn stream_block(
        &self,
        execution_id: &str,
        direction: i16,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>> {
        let row = self
            .query_opt(
                "SELECT id, data FROM stream_blocks WHERE execution_id = $1 AND direction = $2 AND id > $3 \
                 ORDER BY id LIMIT 1",
                &[&execution_id, &direction, &after],
            )
            .await?;
        row.map(|r| Ok((col(&r, 0)?, col(&r, 1)?))).transpose()
    }
}

#[async_trait]
impl super::Store for PostgresStore {
    fn listen_for_changes(&self, wake: super::ChangeWake) -> bool {
        let mut listener = self.listener.lock();
        if let Some(old) = listener.take() {
            old.abort();
        }
        *listener = Some(tokio::spawn(self.listen.clone().run(wake)).abort_handle());
        true
    }

    async fn ping(&self) -> StoreResult<()> {
        // Reachable is not enough: a standby, or a database set read-only (as an operator
        // does on a full disk), answers reads and refuses every write.
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'",
                &[],
            )
            .await
            .map_err(unavailable)?;
        let (standby, read_only): (bool, bool) = (col(&row, 0)?, col(&row, 1)?);
        if standby || read_only {
            return Err(StoreError::Unavailable(
                "the database accepts no writes (a standby, or read-only)".into(),
            ));
        }
        Ok(())
    }

    async fn create_execution(&self, new: &NewExecution) -> StoreResult<Execution> {
        let e = new.to_execution();
        let attempt = i64::from(e.attempt);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ))
            .await
            .map_err(unavailable)?;
        // One statement: autocommit, durable when it returns.
        client
            .execute(
                &stmt,
                &[
                    &e.id,
                    &e.user_id,
                    &e.event_id,
                    &e.event_name,
                    &e.event_type,
                    &e.job_id,
                    &e.trigger,
                    &e.workflow_step,
                    &attempt,
                    &e.input,
                    &e.context,
                    &e.created_at,
                    &e.expires_at,
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(e)
    }

    async fn execution(&self, id: &str) -> StoreResult<Option<Execution>> {
        self.query_opt(
            &format!("SELECT {SELECT_COLUMNS} FROM executions WHERE id = $1"),
            &[&id],
        )
        .await?
        .map(|r| execution_from_row(&r))
        .transpose()
    }

    async fn start_execution(&self, id: &str) -> StoreResult<bool> {
        let at = now_rfc3339();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE executions SET status = 'running', started_at = $1 \
                 WHERE id = $2 AND status = 'created'",
            )
            .await
            .map_err(unavailable)?;
        let n = client
            .execute(&stmt, &[&at, &id])
            .await
            .map_err(unavailable)?;
        Ok(n == 1)
    }

    async fn finish_execution(
        &self,
        id: &str,
        outcome: &str,
        exit_code: Option<i32>,
    ) -> StoreResult<Finish> {
        let at = now_rfc3339();
        let at = at.as_str();
        let select = format!("SELECT {SELECT_COLUMNS} FROM executions WHERE id = $1");
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(unavailable)?;
        let tx = &txn;
        let read = |lock: bool| {
            let sql = if lock {
                format!("{select} FOR UPDATE")
            } else {
                select.clone()
            };
            async move {
                query_opt_tx(tx, &sql, &[&id])
                    .await?
                    .map(|r| execution_from_row(&r))
                    .transpose()?
                    .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))
            }
        };
        // The change-log position first, as every variable write takes it: its row lock
        // orders the log (see the module doc).
        let seq = next_change_seq(tx).await?;
        let before = read(true).await?;
        if before.status == ExecutionStatus::Finished {
            // Dropping the transaction gives the position back.
            return Ok(Finish::AlreadyFinished(before));
        }
        exec(
            tx,
            "UPDATE executions SET status = 'finished', finished_at = $1, outcome = $2, \
             exit_code = $3, finished_unix = $4, streams_pruned = FALSE, audit_pruned = FALSE \
             WHERE id = $5",
            &[&at, &outcome, &exit_code, &now_unix(), &id],
        )
        .await?;
        exec(
            tx,
            "INSERT INTO variable_changes (seq, user_id, key, value, version, updated_at, finished_execution) \
             VALUES ($1, $2, '', NULL, NULL, $3, $4)",
            &[&seq, &before.user_id, &at, &id],
        )
        .await?;
        let actor = Actor {
            execution_id: id,
            user_id: &before.user_id,
        };
        audit_row(tx, actor, at, "execution.finish", outcome).await?;
        let after = read(false).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(Finish::Finished(after))
    }

    async fn execution_report(&self, id: &str) -> StoreResult<Option<ExecutionReport>> {
        let row = self
            .query_opt(
                &format!(
                    "SELECT {SELECT_COLUMNS}, output, condition, in_records, in_bytes, out_records, out_bytes \
                     FROM executions WHERE id = $1"
                ),
                &[&id],
            )
            .await?;
        row.map(|r| {
            Ok(ExecutionReport {
                execution: execution_from_row(&r)?,
                output: col(&r, SELECTED)?,
                condition: col(&r, SELECTED + 1)?,
                input_stream: StreamStats {
                    records: to_u64(col(&r, SELECTED + 2)?),
                    bytes: to_u64(col(&r, SELECTED + 3)?),
                },
                output_stream: StreamStats {
                    records: to_u64(col(&r, SELECTED + 4)?),
                    bytes: to_u64(col(&r, SELECTED + 5)?),
                },
            })
        })
        .transpose()
    }

    async fn list_executions(&self, limit: u32) -> StoreResult<Vec<ExecutionSummary>> {
        let rows = self
            .query(
                "SELECT id, user_id, COALESCE(event_name, event_id), created_at, output IS NOT NULL, \
                 status, expires_at, event_name FROM executions ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ExecutionSummary {
                    id: col(r, 0)?,
                    user_id: col(r, 1)?,
                    event: col(r, 2)?,
                    created_at: col(r, 3)?,
                    has_output: col(r, 4)?,
                    status: ExecutionStatus::parse(&col::<String>(r, 5)?),
                    expires_at: col(r, 6)?,
                    event_name: col(r, 7)?,
                })
            })
            .collect()
    }

    async fn set_output(&self, actor: Actor<'_>, value: &str) -> StoreResult<()> {
        self.update_execution(
            actor,
            "UPDATE executions SET output = $1 WHERE id = $2",
            &value,
            "output.set",
        )
        .await
    }

    async fn output(&self, execution_id: &str) -> StoreResult<Option<Json>> {
        self.execution_column("SELECT output FROM executions WHERE id = $1", execution_id)
            .await
    }

    async fn set_condition(&self, actor: Actor<'_>, condition: bool) -> StoreResult<()> {
        self.update_execution(
            actor,
            "UPDATE executions SET condition = $1 WHERE id = $2",
            &condition,
            "condition.set",
        )
        .await
    }

    async fn condition(&self, execution_id: &str) -> StoreResult<Option<bool>> {
        self.execution_column(
            "SELECT condition FROM executions WHERE id = $1",
            execution_id,
        )
        .await
    }

    async fn variable(&self, user_id: &str, key: &str) -> StoreResult<Option<Variable>> {
        let row = self
            .query_opt(
                "SELECT value, version, updated_at FROM variables WHERE user_id = $1 AND key = $2",
                &[&user_id, &key],
            )
            .await?;
        row.map(|r| {
            Ok(Variable {
                key: key.to_owned(),
                value: col(&r, 0)?,
                version: to_u64(col(&r, 1)?),
                updated_at: col(&r, 2)?,
            })
        })
        .transpose()
    }

    async fn set_variable(
        &self,
        actor: Actor<'_>,
        key: &str,
        value: &str,
        if_version: Option<u64>,
    ) -> StoreResult<VariableChange> {
        let at = now_rfc3339();
        let if_v = if_version.map(to_i64).transpose()?;
        // One statement, so one implicit transaction: committed when the answer arrives.
        let row = self
            .query_opt(
                "SELECT o_seq, o_version FROM set_variable_v1($1, $2, $3, $4, $5, $6)",
                &[
                    &actor.user_id,
                    &key,
                    &value,
                    &if_v,
                    &at.as_str(),
                    &actor.execution_id,
                ],
            )
            .await?
            .ok_or_else(|| StoreError::Unavailable("set_variable_v1 answered no row".into()))?;
        let (seq, version): (i64, i64) = (col(&row, 0)?, col(&row, 1)?);
        if seq == 0 {
            return Err(StoreError::Conflict {
                expected: if_version.unwrap_or(0),
                actual: to_u64(version),
            });
        }
        Ok(VariableChange {
            seq,
            user_id: actor.user_id.to_owned(),
            key: key.to_owned(),
            value: Some(value.to_owned()),
            version: Some(to_u64(version)),
            updated_at: at,
            finished_execution: None,
        })
    }

    async fn delete_variable(
        &self,
        actor: Actor<'_>,
        key: &str,
        if_version: Option<u64>,
    ) -> StoreResult<Option<VariableChange>> {
        let at = now_rfc3339();
        let (user, key, at) = (actor.user_id, key, at.as_str());
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(unavailable)?;
        let tx = &txn;
        let out = async {
            let seq = next_change_seq(tx).await?;
            let current = stored_version(tx, user, key).await?;
            check_version(if_version, current)?;
            if current == 0 {
                // Nothing to delete; dropping the transaction gives the position back.
                return Ok(None);
            }
            exec(
                tx,
                "DELETE FROM variables WHERE user_id = $1 AND key = $2",
                &[&user, &key],
            )
            .await?;
            record_change(tx, seq, user, key, None, None, at).await?;
            audit_row(tx, actor, at, "variable.delete", key).await?;
            Ok(Some(VariableChange {
                seq,
                user_id: user.to_owned(),
                key: key.to_owned(),
                value: None,
                version: None,
                updated_at: at.to_owned(),
                finished_execution: None,
            }))
        }
        .await?;
        if out.is_some() {
            txn.commit().await.map_err(unavailable)?;
        }
        Ok(out)
    }

    async fn variable_keys(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.query(
            "SELECT key FROM variables WHERE user_id = $1 ORDER BY key",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect()
    }

    async fn last_change_seq(&self) -> StoreResult<i64> {
        let row = self
            .query_opt("SELECT COALESCE(MAX(seq), 0) FROM variable_changes", &[])
            .await?;
        row.map_or(Ok(0), |r| col(&r, 0))
    }

    async fn changes_since(&self, seq: i64, limit: u32) -> StoreResult<Vec<VariableChange>> {
        self.query(
            "SELECT seq, user_id, key, value, version, updated_at, finished_execution \
             FROM variable_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&seq, &i64::from(limit)],
        )
        .await?
        .iter()
        .map(change_from_row)
        .collect()
    }

    async fn append_input_stream(
        &self,
        execution_id: &str,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()> {
        self.append_block(execution_id, INPUT, block, records).await
    }

    async fn input_stream_block(
        &self,
        execution_id: &str,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>> {
        self.stream_block(execution_id, INPUT, after).await
    }

    async fn append_output_stream(
        &self,
        actor: Actor<'_>,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()> {
        self.append_block(actor.execution_id, OUTPUT, block, records)
            .await
    }

    async fn output_stream_block(
        &self,
        execution_id: &str,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>> {
        self.stream_block(execution_id, OUTPUT, after).await
    }

    async fn audit(&self, actor: Actor<'_>, action: &str, target: &str) -> StoreResult<()> {
        let at = now_rfc3339();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO audit_log (at, execution_id, user_id, action, target) VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(unavailable)?;
        client
            .execute(
                &stmt,
                &[&at, &actor.execution_id, &actor.user_id, &action, &target],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn audit_log(&self, execution_id: &str) -> StoreResult<Vec<AuditEntry>> {
        self.query(
            "SELECT at, execution_id, user_id, action, target FROM audit_log \
             WHERE execution_id = $1 ORDER BY id",
            &[&execution_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                at: col(r, 0)?,
                execution_id: col(r, 1)?,
                user_id: col(r, 2)?,
                action: col(r, 3)?,
                target: col(r, 4)?,
            })
        })
        .collect()
    }

    async fn put_credential(&self, actor: Actor<'_>, c: &SealedCredential) -> StoreResult<bool> {
        let at = now_rfc3339();
        let at = at.as_str();
        let target = format!("{}/{}", c.tool, c.name);
        let target = target.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(unavailable)?;
        let tx = &txn;
        let out = async {
            // Insert-or-replace that also tells which it was, without a race between a
            // look and a write: the insert either creates the row or conflicts.
            let inserted = exec(
                tx,
                "INSERT INTO tool_credentials (user_id, tool, name, key_id, sealed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (user_id, tool, name) DO NOTHING",
                &[&c.user_id, &c.tool, &c.name, &c.key_id, &c.sealed, &at],
            )
            .await?;
            if inserted == 0 {
                exec(
                    tx,
                    "UPDATE tool_credentials SET key_id = $4, sealed = $5, updated_at = $6 \
                     WHERE user_id = $1 AND tool = $2 AND name = $3",
                    &[&c.user_id, &c.tool, &c.name, &c.key_id, &c.sealed, &at],
                )
                .await?;
            }
            audit_row(tx, actor, at, "tool.credential.put", target).await?;
            Ok(inserted == 0)
        }
        .await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(out)
    }

    async fn credential(
        &self,
        user_id: &str,
        tool: &str,
        name: &str,
    ) -> StoreResult<Option<SealedCredential>> {
        let row = self
            .query_opt(
                "SELECT key_id, sealed, created_at, updated_at FROM tool_credentials \
                 WHERE user_id = $1 AND tool = $2 AND name = $3",
                &[&user_id, &tool, &name],
            )
            .await?;
        row.map(|r| {
            Ok(SealedCredential {
                user_id: user_id.to_owned(),
                tool: tool.to_owned(),
                name: name.to_owned(),
                key_id: col(&r, 0)?,
                sealed: col(&r, 1)?,
                created_at: col(&r, 2)?,
                updated_at: col(&r, 3)?,
            })
        })
        .transpose()
    }

    async fn list_credentials(&self, user_id: Option<&str>) -> StoreResult<Vec<SealedCredential>> {
        self.query(
            "SELECT user_id, tool, name, key_id, created_at, updated_at FROM tool_credentials \
             WHERE $1::TEXT IS NULL OR user_id = $1 ORDER BY user_id, tool, name",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(SealedCredential {
                user_id: col(r, 0)?,
                tool: col(r, 1)?,
                name: col(r, 2)?,
                key_id: col(r, 3)?,
                sealed: Vec::new(),
                created_at: col(r, 4)?,
                updated_at: col(r, 5)?,
            })
        })
        .collect()
    }

    async fn delete_credential(
        &self,
        actor: Actor<'_>,
        tool: &str,
        name: &str,
    ) -> StoreResult<bool> {
        let at = now_rfc3339();
        let at = at.as_str();
        let target = format!("{tool}/{name}");
        let target = target.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(unavailable)?;
        let tx = &txn;
        let out = async {
            let n = exec(
                tx,
                "DELETE FROM tool_credentials WHERE user_id = $1 AND tool = $2 AND name = $3",
                &[&actor.user_id, &tool, &name],
            )
            .await?;
            if n > 0 {
                audit_row(tx, actor, at, "tool.credential.remove", target).await?;
            }
            Ok(n > 0)
        }
        .await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(out)
    }

    async fn claim_idempotency(
        &self,
        execution_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyClaim> {
        let now = now_unix();
        let client = self.client().await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO tool_idempotency (execution_id, key, fingerprint, outcome, created_unix) \
                 VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (execution_id, key) DO NOTHING",
            )
            .await
            .map_err(unavailable)?;
        let select = client
            .prepare_cached(
                "SELECT fingerprint, outcome FROM tool_idempotency WHERE execution_id = $1 AND key = $2",
            )
            .await
            .map_err(unavailable)?;
        // The insert decides: of any number of sidecars claiming at once, exactly one
        // inserts (the others wait for its commit, then conflict). A holder that released
        // between our conflict and our look leaves nothing to see: try again.
        for _ in 0..8 {
            let n = client
                .execute(&insert, &[&execution_id, &key, &fingerprint, &now])
                .await
                .map_err(unavailable)?;
            if n == 1 {
                // Old records go now and then; one claim in 256 pays for the sweep.
                if rand::random::<u8>() == 0 {
                    client
                        .execute(
                            "DELETE FROM tool_idempotency WHERE created_unix < $1",
                            &[&(now - IDEMPOTENCY_KEEP_SECS)],
                        )
                        .await
                        .map_err(unavailable)?;
                }
                return Ok(IdempotencyClaim::Claimed);
            }
            if let Some(r) = client
                .query_opt(&select, &[&execution_id, &key])
                .await
                .map_err(unavailable)?
            {
                let fingerprint: String = col(&r, 0)?;
                return Ok(match col::<Option<String>>(&r, 1)? {
                    Some(outcome) => IdempotencyClaim::Done {
                        fingerprint,
                        outcome,
                    },
                    None => IdempotencyClaim::Pending { fingerprint },
                });
            }
        }
        Err(StoreError::Unavailable(
            "idempotency key kept changing hands; retry".into(),
        ))
    }

    async fn finish_idempotency(
        &self,
        execution_id: &str,
        key: &str,
        outcome: &str,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE tool_idempotency SET outcome = $3 WHERE execution_id = $1 AND key = $2",
            )
            .await
            .map_err(unavailable)?;
        client
            .execute(&stmt, &[&execution_id, &key, &outcome])
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn prune_batch(&self, now: i64, retention: &Retention) -> StoreResult<Pruned> {
        let batch = i64::from(retention.batch.max(1));
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(unavailable)?;
        let tx = &txn;
        let mut pruned = Pruned::default();
        let mut done = std::collections::BTreeSet::new();
        // Ended before the cutoff: finished then, or unfinished with a lifetime over by
        // then (an execution still within its lifetime has a later `expires_at`). SKIP
        // LOCKED: two sidecars pruning the same store at once take different executions.
        let ended = |flag: &'static str, cutoff: i64| async move {
            let stmt = tx
                .prepare_cached(&format!(
                    "SELECT id FROM executions WHERE NOT {flag} \
                     AND COALESCE(finished_unix, expires_at) <= $1 \
                     ORDER BY COALESCE(finished_unix, expires_at) LIMIT $2 \
                     FOR UPDATE SKIP LOCKED"
                ))
                .await
                .map_err(unavailable)?;
            let rows = tx
                .query(&stmt, &[&cutoff, &batch])
                .await
                .map_err(unavailable)?;
            Ok::<_, StoreError>(
                rows.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>(),
            )
        };
        if let Some(age) = retention.streams_after {
            let mut budget = batch;
            for id in ended("streams_pruned", now - age).await? {
                let stmt = tx
                    .prepare_cached(
                        "DELETE FROM stream_blocks WHERE id IN (SELECT id FROM stream_blocks \
                         WHERE execution_id = $1 ORDER BY id LIMIT $2) \
                         RETURNING length(data)::BIGINT",
                    )
                    .await
                    .map_err(unavailable)?;
                let rows = tx
                    .query(&stmt, &[&id, &budget])
                    .await
                    .map_err(unavailable)?;
                let n = rows.len() as i64;
                pruned.stream_blocks += n as u64;
                pruned.stream_bytes += rows.iter().map(|r| r.get::<_, i64>(0) as u64).sum::<u64>();
                budget -= n;
                if budget == 0 {
                    // It may have more blocks: the next batch goes on with it.
                    break;
                }
                exec(
                    tx,
                    "UPDATE executions SET streams_pruned = TRUE WHERE id = $1",
                    &[&id],
                )
                .await?;
                done.insert(id);
            }
        }
        if let Some(age) = retention.audit_after {
            let mut budget = batch;
            for id in ended("audit_pruned", now - age).await? {
                let n = exec(
                    tx,
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
                     WHERE execution_id = $1 ORDER BY id LIMIT $2)",
                    &[&id, &budget],
                )
                .await? as i64;
                pruned.audit_entries += n as u64;
                budget -= n;
                if budget == 0 {
                    break;
                }
                exec(
                    tx,
                    "UPDATE executions SET audit_pruned = TRUE WHERE id = $1",
                    &[&id],
                )
                .await?;
                done.insert(id);
            }
        }
        pruned.executions = done.len() as u64;
        txn.commit().await.map_err(unavailable)?;
        Ok(pruned)
    }

    async fn release_idempotency(&self, execution_id: &str, key: &str) -> StoreResult<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM tool_idempotency WHERE execution_id = $1 AND key = $2 AND outcome IS NULL",
            )
            .await
            .map_err(unavailable)?;
        client
            .execute(&stmt, &[&execution_id, &key])
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// `application_name` of the change listener's connection.
pub const LISTENER_NAME: &str = "cronium-listener";

/// How long the listener waits before connecting again after a break; doubles up to
/// [`LISTEN_RETRY_MAX`].
const LISTEN_RETRY_MIN: Duration = Duration::from_millis(250);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(5);
/// How often an idle listener checks that its connection still answers: a connection
/// that died silently (a host gone, a NAT dropping the flow) would otherwise wait for
/// notifications that never come.
const LISTEN_CHECK: Duration = Duration::from_secs(10);

/// The channel the change signals of a schema go through: the same expression as the
/// `pg_notify` in [`next_change_seq`] (schema names are ASCII, so 63 bytes is 63 chars).
fn change_channel(schema: &str) -> String {
    let mut c = format!("cronium_changes_{schema}");
    c.truncate(63);
    c
}

/// Where the change listener connects: the pool's target on a connection of its own, since
/// a `LISTEN` holds its connection for as long as it listens.
#[derive(Clone)]
struct ListenTarget {
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    channel: String,
    timeout: Duration,
}

impl ListenTarget {
    /// Listens until the store is dropped: connects, `LISTEN`s, wakes once (changes may
    /// have been committed while it was not listening), then wakes on every notification.
    /// A break of the connection is followed by a new one after a growing pause.
    async fn run(self, wake: super::ChangeWake) {
        let mut pause = LISTEN_RETRY_MIN;
        loop {
            let listening = std::sync::atomic::AtomicBool::new(false);
            let outcome = match &self.tls {
                Some(tls) => match self.config.connect(tls.clone()).await {
                    Ok((client, conn)) => self.listen(client, conn, &wake, &listening).await,
                    Err(e) => Err(e),
                },
                None => match self.config.connect(NoTls).await {
                    Ok((client, conn)) => self.listen(client, conn, &wake, &listening).await,
                    Err(e) => Err(e),
                },
            };
            if listening.load(std::sync::atomic::Ordering::Relaxed) {
                pause = LISTEN_RETRY_MIN;
            }
            // The driver's errors name the server's complaint or the socket error, never
            // the connection string.
            match outcome {
                Ok(()) => tracing::warn!("change listener: connection lost; reconnecting"),
                Err(e) => tracing::warn!(error = %e, "change listener failed; reconnecting"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LISTEN_RETRY_MAX);
        }
    }

    /// One connection's life: `Ok` when the server closed it, `Err` when a call failed.
    async fn listen<S, T>(
        &self,
        client: tokio_postgres::Client,
        mut conn: tokio_postgres::Connection<S, T>,
        wake: &super::ChangeWake,
        listening: &std::sync::atomic::AtomicBool,
    ) -> Result<(), tokio_postgres::Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        // The connection object carries both the replies to the client's calls and the
        // notifications; a task drives it and passes the notifications on.
        let (signal, mut signals) = tokio::sync::mpsc::unbounded_channel::<()>();
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                        if signal.send(()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        // Aborts the driver however this function ends (the client alone cannot close it).
        struct AbortOnDrop(tokio::task::AbortHandle);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _driver = AbortOnDrop(driver.abort_handle());
        // The channel is a plain identifier (see `valid_schema`), quoted as one.
        client
            .batch_execute(&format!("LISTEN \"{}\"", self.channel))
            .await?;
        listening.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(channel = %self.channel, "change listener listening");
        wake();
        loop {
            tokio::select! {
                got = signals.recv() => match got {
                    Some(()) => {
                        // Coalesce a burst: one wake reads every change committed so far.
                        while signals.try_recv().is_ok() {}
                        wake();
                    }
                    None => return Ok(()),
                },
                _ = tokio::time::sleep(LISTEN_CHECK) => {
                    match tokio::time::timeout(self.timeout, client.simple_query("SELECT 1")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Ok(()),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/cronium?sslmode=require"),
            "postgres://app:***@db:5432/cronium?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/cronium?password=s3cret&sslmode=require"),
            "postgres://app@db/cronium?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("host=db user=app password=s3cret dbname=x"),
            "host=db user=app password=*** dbname=x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        let s = PgSettings {
            password: Some("filepw".into()),
            ..PgSettings::new("postgres://a:b@c/d")
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("filepw") && !shown.contains(":b@"),
            "{shown}"
        );
    }

    #[test]
    fn libpq_tls_options_are_read() {
        assert_eq!(
            take_libpq_tls_options("postgres://db/x?sslrootcert=/etc/ca.pem&sslmode=verify-full"),
            (
                "postgres://db/x?sslmode=require".to_owned(),
                Some("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            take_libpq_tls_options("postgres://db/x?sslrootcert=/ca.pem"),
            ("postgres://db/x".to_owned(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_libpq_tls_options("postgres://db/x?sslmode=disable"),
            ("postgres://db/x?sslmode=disable".to_owned(), None)
        );
    }

    #[test]
    fn schema_names_are_plain() {
        assert!(valid_schema("cronium") && valid_schema("_t1"));
        assert!(!valid_schema("Cronium") && !valid_schema("1x") && !valid_schema("a;b"));
        assert!(!valid_schema(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_postgres::TempPostgres;
    use crate::Store;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn server() -> TempPostgres {
        TempPostgres::start().unwrap_or_else(|e| panic!("{e}"))
    }

    fn store(pg: &TempPostgres, schema: &str) -> PostgresStore {
        PostgresStore::open(&PgSettings {
            schema: schema.into(),
            ..PgSettings::new(pg.url())
        })
        .expect("open")
    }

    async fn execution(s: &PostgresStore, user: &str) -> Execution {
        s.create_execution(&NewExecution {
            user_id: user.into(),
            input: Some(r#"{"n":12345678901234567890123, "a" : [1.0e3]}"#.into()),
            expires_at: crate::now_unix() + 60,
            ..Default::default()
        })
        .await
        .expect("create")
    }

    /// The generic suite every store passes, on a real PostgreSQL server: each check in a
    /// schema of its own, which is also how several deployments share one database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conforms() {
        let pg = server();
        let n = AtomicUsize::new(0);
        crate::conformance::run(|| {
            store(&pg, &format!("conf_{}", n.fetch_add(1, Ordering::Relaxed)))
        })
        .await;
    }

    /// What one sidecar wrote, another (its own pool) reads, byte for byte, and it is still
    /// there after both are gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_and_durable_across_stores() {
        let pg = server();
        let a = store(&pg, "cronium");
        let e = execution(&a, "u").await;
        let actor = Actor {
            execution_id: &e.id,
            user_id: "u",
        };
        let value = r#"{"z":1,"a":12345678901234567890.50,"s":"\u00e9"}"#;
        a.set_variable(actor, "k", value, Some(0))
            .await
            .expect("set");
        a.append_output_stream(actor, b"{\"a\":1}\n", 1)
            .await
            .expect("append");
        a.set_output(actor, "[1,2]").await.expect("output");
        drop(a);
        let b = store(&pg, "cronium");
        let v = b.variable("u", "k").await.expect("get").expect("exists");
        assert_eq!((v.value.as_str(), v.version), (value, 1), "byte for byte");
        let r = b
            .execution_report(&e.id)
            .await
            .expect("report")
            .expect("exists");
        assert_eq!(
            r.execution.input.as_deref(),
            Some(r#"{"n":12345678901234567890123, "a" : [1.0e3]}"#)
        );
        assert_eq!(r.output.as_deref(), Some("[1,2]"));
        assert_eq!(
            r.output_stream,
            StreamStats {
                records: 1,
                bytes: 8
            }
        );
        let known = MIGRATIONS.len() as u32;
        assert_eq!(b.schema_status().await.expect("status"), (known, known));
        // Another schema is another store.
        assert!(store(&pg, "other")
            .variable("u", "k")
            .await
            .expect("get")
            .is_none());
    }

    /// Sidecars starting together on a fresh database: every one migrates without error,
    /// the steps run once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_migrations_apply_once() {
        let pg = server();
        let stores: Vec<_> = (0..8).map(|_| store(&pg, "race")).collect();
        let known = MIGRATIONS.len() as u32;
        assert_eq!(stores[0].schema_status().await.expect("status"), (0, known));
        let results = futures_join_all(stores.iter().map(|s| s.migrate())).await;
        for r in results {
            r.expect("every migration succeeds");
        }
        assert_eq!(
            stores[7].schema_status().await.expect("status"),
            (known, known)
        );
    }

    /// Compare-and-set across sidecars: 8 writers on 4 pools each add 1 to a counter 40
    /// times with `If-Match` retries; nothing is lost and the change log is in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compare_and_set_race_loses_nothing() {
        let pg = server();
        let stores: Vec<_> = (0..4).map(|_| Arc::new(store(&pg, "cas"))).collect();
        let e = execution(&stores[0], "u").await;
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = stores[w % 4].clone();
            let id = e.id.clone();
            tasks.push(tokio::spawn(async move {
                let actor = Actor {
                    execution_id: &id,
                    user_id: "u",
                };
                let mut conflicts = 0;
                for _ in 0..40 {
                    loop {
                        let (n, version) = match s.variable("u", "n").await.expect("get") {
                            Some(v) => (v.value.parse::<u64>().expect("number"), v.version),
                            None => (0, 0),
                        };
                        match s
                            .set_variable(actor, "n", &(n + 1).to_string(), Some(version))
                            .await
                        {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                conflicts
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        let v = stores[1]
            .variable("u", "n")
            .await
            .expect("get")
            .expect("set");
        assert_eq!((v.value.as_str(), v.version), ("320", 320));
        let log = stores[2].changes_since(0, 1000).await.expect("log");
        let versions: Vec<_> = log.iter().filter_map(|c| c.version).collect();
        assert_eq!(
            versions,
            (1..=320).collect::<Vec<_>>(),
            "log order is commit order"
        );
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    /// Several sidecars claim one idempotency key at once: exactly one may send.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_claimant_per_key() {
        let pg = server();
        let stores: Vec<_> = (0..6).map(|_| store(&pg, "idem")).collect();
        stores[0].migrate().await.expect("migrate");
        for round in 0..10 {
            let key = format!("k{round}");
            let claims =
                futures_join_all(stores.iter().map(|s| s.claim_idempotency("e", &key, "fp"))).await;
            let claimed = claims
                .iter()
                .filter(|c| matches!(c, Ok(IdempotencyClaim::Claimed)))
                .count();
            assert_eq!(claimed, 1, "round {round}: {claims:?}");
            assert!(claims.iter().all(Result::is_ok));
        }
    }

    /// A database that goes away answers `Unavailable` (never a false success, never a
    /// hang); when it comes back the same store serves again and nothing acknowledged is
    /// lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unavailable_then_recovers() {
        let pg = server();
        let s = store(&pg, "cronium");
        let e = execution(&s, "u").await;
        let actor = Actor {
            execution_id: &e.id,
            user_id: "u",
        };
        s.set_variable(actor, "k", "1", None).await.expect("set");
        pg.stop().expect("stop");
        let started = std::time::Instant::now();
        match s.set_variable(actor, "k", "2", None).await {
            Err(StoreError::Unavailable(msg)) => {
                assert!(!msg.contains("postgres@"), "no URL in errors: {msg}")
            }
            other => panic!("a write to a stopped database must fail, got {other:?}"),
        }
        assert!(matches!(s.ping().await, Err(StoreError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(15), "fails fast");
        pg.restart().expect("restart");
        let mut back = false;
        for _ in 0..50 {
            if s.ping().await.is_ok() {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(back, "the pool reconnects by itself");
        let v = s.variable("u", "k").await.expect("get").expect("kept");
        assert_eq!((v.value.as_str(), v.version), ("1", 1));
        let c = s
            .set_variable(actor, "k", "3", Some(1))
            .await
            .expect("write again");
        assert_eq!(c.version, Some(2));
    }

    /// `sslmode=require` really asks for TLS: against a server without it, calls fail
    /// instead of falling back to plain text.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sslmode_require_insists_on_tls() {
        let pg = server();
        let s = PostgresStore::open(&PgSettings::new(format!("{}?sslmode=require", pg.url())))
            .expect("open");
        match s.ping().await {
            Err(StoreError::Unavailable(msg)) => assert!(msg.contains("TLS"), "{msg}"),
            other => panic!("expected a TLS failure, got {other:?}"),
        }
        let plain = PostgresStore::open(&PgSettings::new(format!("{}?sslmode=prefer", pg.url())))
            .expect("open");
        plain.ping().await.expect("prefer connects in plain text");
    }

    /// TLS to a server whose certificate a private CA signed: trusted through `sslrootcert`
    /// (the CA file), refused without it (Mozilla's roots do not know that CA).
    #[tokio::test]
    async fn a_private_ca_is_trusted_through_sslrootcert() {
        let pg = server();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = pg.enable_tls(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let url = pg.url().replace("127.0.0.1", "localhost");
        let trusted = PostgresStore::open(&PgSettings::new(format!(
            "{url}?sslrootcert={}&sslmode=verify-full",
            ca.display()
        )))
        .expect("open");
        trusted.ping().await.expect("TLS with the private CA");
        let configured = PostgresStore::open(&PgSettings {
            ca_file: Some(ca.clone()),
            ..PgSettings::new(url.clone())
        })
        .expect("open");
        configured.ping().await.expect("the CA file turns TLS on");
        let on_tls = configured
            .query_opt(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("query")
            .expect("row");
        assert!(
            col::<bool>(&on_tls, 0).expect("ssl"),
            "the session is on TLS"
        );
        let untrusted =
            PostgresStore::open(&PgSettings::new(format!("{url}?sslmode=require"))).expect("open");
        match untrusted.ping().await {
            Err(StoreError::Unavailable(msg)) => {
                assert!(msg.contains("TLS") || msg.contains("certificate"), "{msg}")
            }
            other => panic!("an unknown CA must be refused, got {other:?}"),
        }
    }

    /// A database that is not there at all: opening works (the sidecar starts and answers
    /// 503), every call is `Unavailable` with a message that has no password.
    #[tokio::test]
    async fn unreachable_database_is_unavailable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let s = PostgresStore::open(&PgSettings {
            timeout: Duration::from_secs(2),
            ..PgSettings::new(format!("postgres://app:s3cret@127.0.0.1:{port}/x"))
        })
        .expect("open");
        assert_eq!(s.target(), format!("postgres://app:***@127.0.0.1:{port}/x"));
        match s.ping().await {
            Err(StoreError::Unavailable(msg)) => assert!(!msg.contains("s3cret"), "{msg}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(PostgresStore::open(&PgSettings::new("postgres://a@b:notaport/x")).is_err());
    }

    /// Polls the futures together until every one is done, results in order (the
    /// store has no futures crate to do it).
    async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
    where
        F: std::future::Future<Output = T>,
    {
        let mut set = Vec::new();
        for f in futs {
            set.push(Box::pin(f));
        }
        let mut out: Vec<Option<T>> = set.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in set.iter_mut().enumerate() {
                if out[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => out[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        out.into_iter().flatten().collect()
    }
}
