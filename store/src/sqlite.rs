//! The embedded SQLite store: the default, a single file under the state directory.
//!
//! WAL journal, one writer connection and one reader connection. Calls run inline on the
//! calling task: a cached-statement SQLite operation takes a few microseconds, far less than
//! the thread hop `spawn_blocking` would add, and the durable-write target (p50 ≤ 100 µs)
//! leaves no room for that hop.
//!
//! Durability: with `synchronous=NORMAL` (the default here) a commit is in the WAL file, in
//! the OS page cache, before the call returns, so an acknowledged write survives a crash or
//! `kill -9` of the sidecar; `synchronous=FULL` (`[storage] sync = "full"`) also fsyncs
//! each commit, surviving power loss at the cost of an fsync per write.
//!
//! Stream bytes (output and input streams) do not go through the WAL: each execution's
//! stream is an append-only file under `<database>-streams/`, and the database indexes it
//! (which file, offset and length each block has). A block is written to its file first,
//! then its index row commits with the execution's totals, so a block is readable exactly
//! when its index row is: bytes past the indexed end (a crash between the two) are
//! overwritten by the next append. The bytes are thus written to disk once, not into the
//! WAL and again by its checkpoint; with `sync = "full"` the file is also fdatasync'ed
//! before the index row commits.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    now_rfc3339, now_unix, Actor, AuditEntry, Execution, ExecutionReport, ExecutionStatus,
    ExecutionSummary, Finish, IdempotencyClaim, Json, NewExecution, Pruned, Retention,
    SealedCredential, StoreError, StoreResult, StreamStats, Variable, VariableChange,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE executions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    event_name    TEXT,
    event_type    TEXT,
    job_id        TEXT,
    trigger       TEXT NOT NULL,
    workflow_step TEXT,
    attempt       INTEGER NOT NULL,
    input         TEXT,
    context       TEXT,
    created_at    TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    output        TEXT,
    condition     INTEGER,
    in_records    INTEGER NOT NULL DEFAULT 0,
    in_bytes      INTEGER NOT NULL DEFAULT 0,
    out_records   INTEGER NOT NULL DEFAULT 0,
    out_bytes     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE variables (
    user_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE TABLE variable_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT,
    version    INTEGER,
    updated_at TEXT NOT NULL
);
CREATE TABLE stream_blocks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    direction    INTEGER NOT NULL,
    data         BLOB NOT NULL
);
CREATE INDEX stream_blocks_by_execution ON stream_blocks (execution_id, direction, id);
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL
);
CREATE INDEX audit_log_by_execution ON audit_log (execution_id, id);
"#,
    // 2: tool actions. Credentials are sealed (AES-256-GCM) with a key kept outside this
    // file; only their names are plaintext. Idempotency rows hold a call's outcome, which
    // never contains a secret.
    r#"
CREATE TABLE tool_credentials (
    user_id    TEXT NOT NULL,
    tool       TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, tool, name)
) WITHOUT ROWID;
CREATE TABLE tool_idempotency (
    execution_id TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    outcome      TEXT,
    created_unix INTEGER NOT NULL,
    PRIMARY KEY (execution_id, key)
) WITHOUT ROWID;
"#,
    // 3: the execution lifecycle (issue 14). A finish is also a change-log entry, so other
    // sidecars on the store drop the execution as they pick up variable writes.
    r#"
ALTER TABLE executions ADD COLUMN status TEXT NOT NULL DEFAULT 'created';
ALTER TABLE executions ADD COLUMN started_at TEXT;
ALTER TABLE executions ADD COLUMN finished_at TEXT;
ALTER TABLE executions ADD COLUMN outcome TEXT;
ALTER TABLE executions ADD COLUMN exit_code INTEGER;
ALTER TABLE variable_changes ADD COLUMN finished_execution TEXT;
"#,
    // 4: one row rewritten by `ping`: readiness is a real committed write, so a full disk or a
    // read-only database turns `/ready` false instead of only failing the writes.
    r#"
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
"#,
    // 5: retention (issue 14). When an execution finished, in unix seconds, so its age is
    // a plain comparison; and whether its streams and audit entries are already pruned, so
    // a prune skips what an earlier one emptied instead of scanning all history again.
    r#"
ALTER TABLE executions ADD COLUMN finished_unix INTEGER;
ALTER TABLE executions ADD COLUMN streams_pruned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN audit_pruned INTEGER NOT NULL DEFAULT 0;
UPDATE executions SET finished_unix = CAST(strftime('%s', finished_at) AS INTEGER)
    WHERE finished_at IS NOT NULL;
CREATE INDEX executions_by_end ON executions (COALESCE(finished_unix, expires_at));
"#,
    // 6: stream bytes in append-only files, one per execution and direction, indexed here
    // (issue 20): the bytes are written once, not into the WAL and again at checkpoint. A
    // block whose `file` is NULL (written before) keeps its bytes in `data`.
    r#"
CREATE TABLE stream_files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    direction    INTEGER NOT NULL,
    size         INTEGER NOT NULL
);
CREATE UNIQUE INDEX stream_files_by_execution ON stream_files (execution_id, direction);
ALTER TABLE stream_blocks ADD COLUMN file INTEGER;
ALTER TABLE stream_blocks ADD COLUMN file_offset INTEGER;
ALTER TABLE stream_blocks ADD COLUMN file_len INTEGER;
"#,
];

/// How long an idempotency record is kept: longer than any execution's retries.
const IDEMPOTENCY_KEEP_SECS: i64 = 7 * 86_400;

/// How many change-log rows to keep; watchers only ever need the recent tail.
const CHANGE_LOG_KEEP: i64 = 10_000;

const INPUT: i64 = 0;
const OUTPUT: i64 = 1;

/// How hard a commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sync {
    /// Survives a crash of the process (commit is in the WAL before the call returns).
    #[default]
    Normal,
    /// Also survives power loss (fsync per commit).
    Full,
}

/// SQLite implementation of [`super::Store`].
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Where the stream files are: `<database>-streams/`.
    streams: PathBuf,
    sync: Sync,
}

/// Creates the database file 0600 (an empty file is an empty SQLite database) before SQLite
/// would create it under the umask, usually 0644: the store holds outputs, variables and
/// sealed credentials, which are nobody else's business. SQLite gives its `-wal` and `-shm`
/// files the database file's mode. An existing file is left as it is.
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Creates the stream files' directory 0700: it holds the streams' bytes, as private as the
/// database.
fn create_private_dir(dir: &Path) -> StoreResult<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            dir.display()
        ))),
    }
}

fn io_unavailable(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("stream file {}: {e}", path.display()))
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store at `path`.
    pub fn open(path: &Path, sync: Sync) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        create_private(path)?;
        // A fresh store opened by several processes at once (a sidecar and an admin
        // command) can see SQLITE_BUSY without the busy handler being consulted: switching
        // to WAL and the first migration take locks SQLite refuses rather than wait for,
        // to avoid deadlock. Opening is rare, so retry the whole step for a while.
        let open = |migrated: bool| {
            retry_busy(|| {
                let mut conn = Connection::open(path)?;
                configure(&conn, sync)?;
                if migrated {
                    migrate(&mut conn)?;
                }
                Ok(conn)
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))
        };
        let writer = open(true)?;
        let reader = open(false)?;
        let mut streams = path.as_os_str().to_owned();
        streams.push("-streams");
        let streams = PathBuf::from(streams);
        create_private_dir(&streams)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            streams,
            sync,
        })
    }

    /// The file of stream `file` (an id of `stream_files`).
    fn stream_file(&self, file: i64) -> PathBuf {
        self.streams.join(format!("{file}.ndjson"))
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        f(&self.reader.lock()).map_err(unavailable)
    }

    /// Runs `f` in an immediate transaction on the writer and commits before returning.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let out = f(&tx)?;
        tx.commit().map_err(unavailable)?;
        Ok(out)
    }
}

fn configure(conn: &Connection, sync: Sync) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let sync = match sync {
        Sync::Normal => "NORMAL",
        Sync::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Runs `f` again while it fails with SQLITE_BUSY/LOCKED, for at most ten seconds.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut delay = std::time::Duration::from_millis(1);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Applies the migrations not yet applied. Several processes may open a fresh store at
/// once (a sidecar and an admin command), so each step re-reads the version inside its
/// write transaction: exactly one process applies it, the others see it done.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if done <= i {
            tx.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1))?;
        }
        tx.commit()?;
    }
    Ok(())
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

fn execution_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Execution> {
    Ok(Execution {
        id: r.get(0)?,
        user_id: r.get(1)?,
        event_id: r.get(2)?,
        event_name: r.get(3)?,
        event_type: r.get(4)?,
        job_id: r.get(5)?,
        trigger: r.get(6)?,
        workflow_step: r.get(7)?,
        attempt: r.get(8)?,
        input: r.get(9)?,
        context: r.get(10)?,
        created_at: r.get(11)?,
        expires_at: r.get(12)?,
        status: ExecutionStatus::parse(&r.get::<_, String>(13)?),
        started_at: r.get(14)?,
        finished_at: r.get(15)?,
        outcome: r.get(16)?,
        exit_code: r.get(17)?,
    })
}

fn audit_row(
    tx: &rusqlite::Transaction<'_>,
    actor: Actor<'_>,
    at: &str,
    action: &str,
    target: &str,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (at, execution_id, user_id, action, target) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![at, actor.execution_id, actor.user_id, action, target]))
    .map_err(unavailable)?;
    Ok(())
}

/// Updates one column of an execution, failing with NotFound when it does not exist.
fn update_execution(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    execution_id: &str,
    value: &dyn rusqlite::ToSql,
) -> StoreResult<()> {
    let n = tx
        .prepare_cached(sql)
        .and_then(|mut s| s.execute(params![value, execution_id]))
        .map_err(unavailable)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("execution {execution_id}")));
    }
    Ok(())
}

/// The change-log entry of a finish: no key, no value, the execution's id.
fn record_finish(
    tx: &rusqlite::Transaction<'_>,
    user_id: &str,
    execution_id: &str,
    at: &str,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO variable_changes (user_id, key, value, version, updated_at, finished_execution) \
         VALUES (?1, '', NULL, NULL, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![user_id, at, execution_id]))
    .map_err(unavailable)?;
    Ok(())
}

fn record_change(
    tx: &rusqlite::Transaction<'_>,
    user_id: &str,
    key: &str,
    value: Option<&str>,
    version: Option<u64>,
    at: &str,
) -> StoreResult<i64> {
    tx.prepare_cached(
        "INSERT INTO variable_changes (user_id, key, value, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![user_id, key, value, version, at]))
    .map_err(unavailable)?;
    let seq = tx.last_insert_rowid();
    if seq % 1024 == 0 {
        tx.prepare_cached("DELETE FROM variable_changes WHERE seq <= ?1")
            .and_then(|mut s| s.execute(params![seq - CHANGE_LOG_KEEP]))
            .map_err(unavailable)?;
    }
    Ok(seq)
}

fn check_version(expected: Option<u64>, actual: u64) -> StoreResult<()> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::Conflict { expected, actual }),
        _ => Ok(()),
    }
}

fn stored_version(tx: &rusqlite::Transaction<'_>, user_id: &str, key: &str) -> StoreResult<u64> {
    tx.prepare_cached("SELECT version FROM variables WHERE user_id = ?1 AND key = ?2")
        .and_then(|mut s| {
            s.query_row(params![user_id, key], |r| r.get::<_, u64>(0))
                .optional()
        })
        .map(|v| v.unwrap_or(0))
        .map_err(unavailable)
}

impl SqliteStore {
    /// The block after `after`: its bytes from the row, or from its stream file.
    fn stream_block(
        &self,
        execution_id: &str,
        direction: i64,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>> {
        type Found = (i64, Vec<u8>, Option<i64>, Option<i64>, Option<i64>);
        let found: Option<Found> = self.read(|c| {
            c.prepare_cached(
                "SELECT id, data, file, file_offset, file_len FROM stream_blocks \
                 WHERE execution_id = ?1 AND direction = ?2 AND id > ?3 ORDER BY id LIMIT 1",
            )?
            .query_row(params![execution_id, direction, after], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })?;
        let Some((id, data, file, offset, len)) = found else {
            return Ok(None);
        };
        let (Some(file), Some(offset), Some(len)) = (file, offset, len) else {
            return Ok(Some((id, data)));
        };
        let path = self.stream_file(file);
        let f = std::fs::File::open(&path).map_err(|e| io_unavailable(&path, e))?;
        let mut bytes = vec![0; len as usize];
        // Short only when the file lost what its index says it has (a power loss with
        // `sync = "normal"`): an error, never made-up bytes.
        f.read_exact_at(&mut bytes, offset as u64)
            .map_err(|e| io_unavailable(&path, e))?;
        Ok(Some((id, bytes)))
    }

    /// Appends a block to the execution's stream file, then indexes it and adds it to the
    /// execution's totals in one transaction. The writer's lock (SQLite's, across
    /// processes) orders the appends of a file.
    fn append_block(
        &self,
        execution_id: &str,
        direction: i64,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()> {
        self.write(|tx| {
            let sql = if direction == INPUT {
                "UPDATE executions SET in_records = in_records + ?1, in_bytes = in_bytes + ?2 WHERE id = ?3"
            } else {
                "UPDATE executions SET out_records = out_records + ?1, out_bytes = out_bytes + ?2 WHERE id = ?3"
            };
            let len = block.len() as i64;
            let n = tx
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(params![records, len, execution_id]))
                .map_err(unavailable)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("execution {execution_id}")));
            }
            let found: Option<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT id, size FROM stream_files WHERE execution_id = ?1 AND direction = ?2",
                )
                .and_then(|mut s| {
                    s.query_row(params![execution_id, direction], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                })
                .map_err(unavailable)?;
            let (file, offset) = match found {
                Some(f) => f,
                None => {
                    tx.prepare_cached(
                        "INSERT INTO stream_files (execution_id, direction, size) VALUES (?1, ?2, 0)",
                    )
                    .and_then(|mut s| s.execute(params![execution_id, direction]))
                    .map_err(unavailable)?;
                    (tx.last_insert_rowid(), 0)
                }
            };
            let path = self.stream_file(file);
            let f = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| io_unavailable(&path, e))?
            };
            // At the indexed end: whatever lies past it was never indexed (a crash or a
            // failed commit after the write) and is overwritten.
            f.write_all_at(block, offset as u64)
                .map_err(|e| io_unavailable(&path, e))?;
            if self.sync == Sync::Full {
                f.sync_data().map_err(|e| io_unavailable(&path, e))?;
            }
            tx.prepare_cached("UPDATE stream_files SET size = ?1 WHERE id = ?2")
                .and_then(|mut s| s.execute(params![offset + len, file]))
                .map_err(unavailable)?;
            tx.prepare_cached(
                "INSERT INTO stream_blocks (execution_id, direction, data, file, file_offset, file_len) \
                 VALUES (?1, ?2, X'', ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![execution_id, direction, file, offset, len]))
            .map_err(unavailable)?;
            Ok(())
        })
    }
}

#[async_trait]
impl super::Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        // A real commit, the smallest there is: it fails exactly when writes fail (disk
        // full, read-only file or directory, I/O errors), with SQLite's reason.
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO write_probe (id, n) VALUES (1, 1) \
                 ON CONFLICT (id) DO UPDATE SET n = write_probe.n + 1",
            )
            .and_then(|mut st| st.execute([]))
            .map_err(unavailable)?;
            Ok(())
        })
    }

    async fn create_execution(&self, new: &NewExecution) -> StoreResult<Execution> {
        let execution = new.to_execution();
        let e = &execution;
        self.write(|tx| {
            tx.execute(
                &format!(
                    "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    e.id, e.user_id, e.event_id, e.event_name, e.event_type, e.job_id, e.trigger,
                    e.workflow_step, e.attempt, e.input, e.context, e.created_at, e.expires_at
                ],
            )
            .map_err(unavailable)?;
            Ok(())
        })?;
        Ok(execution)
    }

    async fn execution(&self, id: &str) -> StoreResult<Option<Execution>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM executions WHERE id = ?1"
            ))?
            .query_row(params![id], execution_from_row)
            .optional()
        })
    }

    async fn start_execution(&self, id: &str) -> StoreResult<bool> {
        let at = now_rfc3339();
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE executions SET status = 'running', started_at = ?1 \
                 WHERE id = ?2 AND status = 'created'",
            )
            .and_then(|mut s| s.execute(params![at, id]))
            .map(|n| n == 1)
            .map_err(unavailable)
        })
    }

    async fn finish_execution(
        &self,
        id: &str,
        outcome: &str,
        exit_code: Option<i32>,
    ) -> StoreResult<Finish> {
        let at = now_rfc3339();
        let read = |tx: &rusqlite::Transaction<'_>| {
            tx.prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM executions WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row(params![id], execution_from_row).optional())
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))
        };
        self.write(|tx| {
            let before = read(tx)?;
            if before.status == ExecutionStatus::Finished {
                return Ok(Finish::AlreadyFinished(before));
            }
            tx.prepare_cached(
                "UPDATE executions SET status = 'finished', finished_at = ?1, outcome = ?2, \
                 exit_code = ?3, finished_unix = ?4, streams_pruned = 0, audit_pruned = 0 \
                 WHERE id = ?5",
            )
            .and_then(|mut s| s.execute(params![at, outcome, exit_code, now_unix(), id]))
            .map_err(unavailable)?;
            record_finish(tx, &before.user_id, id, &at)?;
            let actor = Actor {
                execution_id: id,
                user_id: &before.user_id,
            };
            audit_row(tx, actor, &at, "execution.finish", outcome)?;
            Ok(Finish::Finished(read(tx)?))
        })
    }

    async fn execution_report(&self, id: &str) -> StoreResult<Option<ExecutionReport>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS}, output, condition, in_records, in_bytes, out_records, out_bytes \
                 FROM executions WHERE id = ?1"
            ))?
            .query_row(params![id], |r| {
                Ok(ExecutionReport {
                    execution: execution_from_row(r)?,
                    output: r.get(SELECTED)?,
                    condition: r.get(SELECTED + 1)?,
                    input_stream: StreamStats {
                        records: r.get(SELECTED + 2)?,
                        bytes: r.get(SELECTED + 3)?,
                    },
                    output_stream: StreamStats {
                        records: r.get(SELECTED + 4)?,
                        bytes: r.get(SELECTED + 5)?,
                    },
                })
            })
            .optional()
        })
    }

    async fn list_executions(&self, limit: u32) -> StoreResult<Vec<ExecutionSummary>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, user_id, COALESCE(event_name, event_id), created_at, output IS NOT NULL, \
                 status, expires_at, event_name FROM executions ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = s.query_map(params![limit], |r| {
                Ok(ExecutionSummary {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    event: r.get(2)?,
                    created_at: r.get(3)?,
                    has_output: r.get(4)?,
                    status: ExecutionStatus::parse(&r.get::<_, String>(5)?),
                    expires_at: r.get(6)?,
                    event_name: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    async fn set_output(&self, actor: Actor<'_>, value: &str) -> StoreResult<()> {
        let at = now_rfc3339();
        self.write(|tx| {
            update_execution(
                tx,
                "UPDATE executions SET output = ?1 WHERE id = ?2",
                actor.execution_id,
                &value,
            )?;
            audit_row(tx, actor, &at, "output.set", "")
        })
    }

    async fn output(&self, execution_id: &str) -> StoreResult<Option<Json>> {
        self.read(|c| {
            c.prepare_cached("SELECT output FROM executions WHERE id = ?1")?
                .query_row(params![execution_id], |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(Option::flatten)
        })
    }

    async fn set_condition(&self, actor: Actor<'_>, condition: bool) -> StoreResult<()> {
        let at = now_rfc3339();
        self.write(|tx| {
            update_execution(
                tx,
                "UPDATE executions SET condition = ?1 WHERE id = ?2",
                actor.execution_id,
                &condition,
            )?;
            audit_row(tx, actor, &at, "condition.set", "")
        })
    }

    async fn condition(&self, execution_id: &str) -> StoreResult<Option<bool>> {
        self.read(|c| {
            c.prepare_cached("SELECT condition FROM executions WHERE id = ?1")?
                .query_row(params![execution_id], |r| r.get::<_, Option<bool>>(0))
                .optional()
                .map(Option::flatten)
        })
    }

    async fn variable(&self, user_id: &str, key: &str) -> StoreResult<Option<Variable>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT value, version, updated_at FROM variables WHERE user_id = ?1 AND key = ?2",
            )?
            .query_row(params![user_id, key], |r| {
                Ok(Variable {
                    key: key.to_owned(),
                    value: r.get(0)?,
                    version: r.get(1)?,
                    updated_at: r.get(2)?,
                })
            })
            .optional()
        })
    }

    async fn set_variable(
        &self,
        actor: Actor<'_>,
        key: &str,
        value: &str,
        if_version: Option<u64>,
    ) -> StoreResult<VariableChange> {
        let at = now_rfc3339();
        self.write(|tx| {
            let current = stored_version(tx, actor.user_id, key)?;
            check_version(if_version, current)?;
            let version = current + 1;
            tx.prepare_cached(
                "INSERT INTO variables (user_id, key, value, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, version = excluded.version, \
                 updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![actor.user_id, key, value, version, at]))
            .map_err(unavailable)?;
            let seq = record_change(tx, actor.user_id, key, Some(value), Some(version), &at)?;
            audit_row(tx, actor, &at, "variable.set", key)?;
            Ok(VariableChange {
                seq,
                user_id: actor.user_id.to_owned(),
                key: key.to_owned(),
                value: Some(value.to_owned()),
                version: Some(version),
                updated_at: at.clone(),
                finished_execution: None,
            })
        })
    }

    async fn delete_variable(
        &self,
        actor: Actor<'_>,
        key: &str,
        if_version: Option<u64>,
    ) -> StoreResult<Option<VariableChange>> {
        let at = now_rfc3339();
        self.write(|tx| {
            let current = stored_version(tx, actor.user_id, key)?;
            check_version(if_version, current)?;
            if current == 0 {
                return Ok(None);
            }
            tx.prepare_cached("DELETE FROM variables WHERE user_id = ?1 AND key = ?2")
                .and_then(|mut s| s.execute(params![actor.user_id, key]))
                .map_err(unavailable)?;
            let seq = record_change(tx, actor.user_id, key, None, None, &at)?;
            audit_row(tx, actor, &at, "variable.delete", key)?;
            Ok(Some(VariableChange {
                seq,
                user_id: actor.user_id.to_owned(),
                key: key.to_owned(),
                value: None,
                version: None,
                updated_at: at.clone(),
                finished_execution: None,
            }))
        })
    }

    async fn variable_keys(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut s =
                c.prepare_cached("SELECT key FROM variables WHERE user_id = ?1 ORDER BY key")?;
            let rows = s.query_map(params![user_id], |r| r.get(0))?;
            rows.collect()
        })
    }

    async fn last_change_seq(&self) -> StoreResult<i64> {
        self.read(|c| {
            c.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM variable_changes")?
                .query_row([], |r| r.get(0))
        })
    }

    async fn changes_since(&self, seq: i64, limit: u32) -> StoreResult<Vec<VariableChange>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT seq, user_id, key, value, version, updated_at, finished_execution \
                 FROM variable_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = s.query_map(params![seq, limit], |r| {
                Ok(VariableChange {
                    seq: r.get(0)?,
                    user_id: r.get(1)?,
                    key: r.get(2)?,
                    value: r.get(3)?,
                    version: r.get(4)?,
                    updated_at: r.get(5)?,
                    finished_execution: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    async fn append_input_stream(
        &self,
        execution_id: &str,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()> {
        self.append_block(execution_id, INPUT, block, records)
    }

    async fn input_stream_block(
        &self,
        execution_id: &str,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>> {
        self.stream_block(execution_id, INPUT, after)
    }

    async fn append_output_stream(
        &self,
        actor: Actor<'_>,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()> {
        self.append_block(actor.execution_id, OUTPUT, block, records)
    }

    async fn output_stream_block(
        &self,
        execution_id: &str,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>> {
        self.stream_block(execution_id, OUTPUT, after)
    }

    async fn audit(&self, actor: Actor<'_>, action: &str, target: &str) -> StoreResult<()> {
        let at = now_rfc3339();
        self.write(|tx| audit_row(tx, actor, &at, action, target))
    }

    async fn put_credential(&self, actor: Actor<'_>, c: &SealedCredential) -> StoreResult<bool> {
        let at = now_rfc3339();
        self.write(|tx| {
            let existed = tx
                .prepare_cached(
                    "SELECT 1 FROM tool_credentials WHERE user_id = ?1 AND tool = ?2 AND name = ?3",
                )
                .and_then(|mut s| {
                    s.query_row(params![c.user_id, c.tool, c.name], |_| Ok(()))
                        .optional()
                })
                .map_err(unavailable)?
                .is_some();
            tx.prepare_cached(
                "INSERT INTO tool_credentials (user_id, tool, name, key_id, sealed, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (user_id, tool, name) DO UPDATE SET \
                 key_id = excluded.key_id, sealed = excluded.sealed, updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![c.user_id, c.tool, c.name, c.key_id, c.sealed, at]))
            .map_err(unavailable)?;
            audit_row(tx, actor, &at, "tool.credential.put", &format!("{}/{}", c.tool, c.name))?;
            Ok(existed)
        })
    }

    async fn credential(
        &self,
        user_id: &str,
        tool: &str,
        name: &str,
    ) -> StoreResult<Option<SealedCredential>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT key_id, sealed, created_at, updated_at FROM tool_credentials \
                 WHERE user_id = ?1 AND tool = ?2 AND name = ?3",
            )?
            .query_row(params![user_id, tool, name], |r| {
                Ok(SealedCredential {
                    user_id: user_id.to_owned(),
                    tool: tool.to_owned(),
                    name: name.to_owned(),
                    key_id: r.get(0)?,
                    sealed: r.get(1)?,
                    created_at: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            })
            .optional()
        })
    }

    async fn list_credentials(&self, user_id: Option<&str>) -> StoreResult<Vec<SealedCredential>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT user_id, tool, name, key_id, created_at, updated_at FROM tool_credentials \
                 WHERE ?1 IS NULL OR user_id = ?1 ORDER BY user_id, tool, name",
            )?;
            let rows = s.query_map(params![user_id], |r| {
                Ok(SealedCredential {
                    user_id: r.get(0)?,
                    tool: r.get(1)?,
                    name: r.get(2)?,
                    key_id: r.get(3)?,
                    sealed: Vec::new(),
                    created_at: r.get(4)?,
                    updated_at: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    async fn delete_credential(
        &self,
        actor: Actor<'_>,
        tool: &str,
        name: &str,
    ) -> StoreResult<bool> {
        let at = now_rfc3339();
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM tool_credentials WHERE user_id = ?1 AND tool = ?2 AND name = ?3",
                )
                .and_then(|mut s| s.execute(params![actor.user_id, tool, name]))
                .map_err(unavailable)?;
            if n > 0 {
                audit_row(
                    tx,
                    actor,
                    &at,
                    "tool.credential.remove",
                    &format!("{tool}/{name}"),
                )?;
            }
            Ok(n > 0)
        })
    }

    async fn claim_idempotency(
        &self,
        execution_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyClaim> {
        let now = now_unix();
        self.write(|tx| {
            let existing = tx
                .prepare_cached(
                    "SELECT fingerprint, outcome FROM tool_idempotency WHERE execution_id = ?1 AND key = ?2",
                )
                .and_then(|mut s| {
                    s.query_row(params![execution_id, key], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                    })
                    .optional()
                })
                .map_err(unavailable)?;
            match existing {
                Some((fingerprint, Some(outcome))) => {
                    return Ok(IdempotencyClaim::Done {
                        fingerprint,
                        outcome,
                    })
                }
                Some((fingerprint, None)) => return Ok(IdempotencyClaim::Pending { fingerprint }),
                None => {}
            }
            tx.prepare_cached(
                "INSERT INTO tool_idempotency (execution_id, key, fingerprint, outcome, created_unix) \
                 VALUES (?1, ?2, ?3, NULL, ?4)",
            )
            .and_then(|mut s| s.execute(params![execution_id, key, fingerprint, now]))
            .map_err(unavailable)?;
            // Old records go now and then; one claim in 256 pays for the sweep.
            if rand::random::<u8>() == 0 {
                tx.prepare_cached("DELETE FROM tool_idempotency WHERE created_unix < ?1")
                    .and_then(|mut s| s.execute(params![now - IDEMPOTENCY_KEEP_SECS]))
                    .map_err(unavailable)?;
            }
            Ok(IdempotencyClaim::Claimed)
        })
    }

    async fn finish_idempotency(
        &self,
        execution_id: &str,
        key: &str,
        outcome: &str,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE tool_idempotency SET outcome = ?3 WHERE execution_id = ?1 AND key = ?2",
            )
            .and_then(|mut s| s.execute(params![execution_id, key, outcome]))
            .map_err(unavailable)?;
            Ok(())
        })
    }

    async fn prune_batch(&self, now: i64, retention: &Retention) -> StoreResult<Pruned> {
        let batch = i64::from(retention.batch.max(1));
        // Stream files of executions whose streams are now fully pruned: removed once the
        // transaction that dropped their index committed.
        let mut files = Vec::new();
        let pruned = self.write(|tx| {
            let mut pruned = Pruned::default();
            let mut done = std::collections::BTreeSet::new();
            // Ended before `cutoff`: finished then, or unfinished with a lifetime over by
            // then (an execution still within its lifetime has a later `expires_at`).
            let ended = |flag: &str, cutoff: i64| {
                tx.prepare_cached(&format!(
                    "SELECT id FROM executions WHERE {flag} = 0 \
                     AND COALESCE(finished_unix, expires_at) <= ?1 \
                     ORDER BY COALESCE(finished_unix, expires_at) LIMIT ?2"
                ))
                .and_then(|mut s| {
                    s.query_map(params![cutoff, batch], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(unavailable)
            };
            let mark = |flag: &str, id: &str| {
                tx.prepare_cached(&format!("UPDATE executions SET {flag} = 1 WHERE id = ?1"))
                    .and_then(|mut s| s.execute(params![id]))
                    .map_err(unavailable)
            };
            if let Some(age) = retention.streams_after {
                let mut budget = batch;
                for id in ended("streams_pruned", now - age)? {
                    let blocks: Vec<(i64, i64)> = tx
                        .prepare_cached(
                            "SELECT id, COALESCE(file_len, length(data)) FROM stream_blocks \
                             WHERE execution_id = ?1 ORDER BY id LIMIT ?2",
                        )
                        .and_then(|mut s| {
                            s.query_map(params![id, budget], |r| Ok((r.get(0)?, r.get(1)?)))?
                                .collect::<rusqlite::Result<Vec<_>>>()
                        })
                        .map_err(unavailable)?;
                    if let Some(&(last, _)) = blocks.last() {
                        tx.prepare_cached(
                            "DELETE FROM stream_blocks WHERE execution_id = ?1 AND id <= ?2",
                        )
                        .and_then(|mut s| s.execute(params![id, last]))
                        .map_err(unavailable)?;
                    }
                    let n = blocks.len() as i64;
                    pruned.stream_blocks += n as u64;
                    pruned.stream_bytes += blocks.iter().map(|b| b.1 as u64).sum::<u64>();
                    budget -= n;
                    if budget == 0 {
                        // It may have more blocks: the next batch goes on with it.
                        break;
                    }
                    mark("streams_pruned", &id)?;
                    files.extend(
                        tx.prepare_cached("SELECT id FROM stream_files WHERE execution_id = ?1")
                            .and_then(|mut s| {
                                s.query_map(params![id], |r| r.get::<_, i64>(0))?
                                    .collect::<rusqlite::Result<Vec<_>>>()
                            })
                            .map_err(unavailable)?,
                    );
                    tx.prepare_cached("DELETE FROM stream_files WHERE execution_id = ?1")
                        .and_then(|mut s| s.execute(params![id]))
                        .map_err(unavailable)?;
                    done.insert(id);
                }
            }
            if let Some(age) = retention.audit_after {
                let mut budget = batch;
                for id in ended("audit_pruned", now - age)? {
                    let n = tx
                        .prepare_cached(
                            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
                             WHERE execution_id = ?1 ORDER BY id LIMIT ?2)",
                        )
                        .and_then(|mut s| s.execute(params![id, budget]))
                        .map_err(unavailable)? as i64;
                    pruned.audit_entries += n as u64;
                    budget -= n;
                    if budget == 0 {
                        break;
                    }
                    mark("audit_pruned", &id)?;
                    done.insert(id);
                }
            }
            pruned.executions = done.len() as u64;
            Ok(pruned)
        })?;
        for file in files {
            let path = self.stream_file(file);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_unavailable(&path, e))
                }
                _ => {}
            }
        }
        Ok(pruned)
    }

    async fn release_idempotency(&self, execution_id: &str, key: &str) -> StoreResult<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "DELETE FROM tool_idempotency WHERE execution_id = ?1 AND key = ?2 AND outcome IS NULL",
            )
            .and_then(|mut s| s.execute(params![execution_id, key]))
            .map_err(unavailable)?;
            Ok(())
        })
    }

    async fn audit_log(&self, execution_id: &str) -> StoreResult<Vec<AuditEntry>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT at, execution_id, user_id, action, target FROM audit_log \
                 WHERE execution_id = ?1 ORDER BY id",
            )?;
            let rows = s.query_map(params![execution_id], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    execution_id: r.get(1)?,
                    user_id: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    async fn execution(s: &SqliteStore, user: &str) -> Execution {
        s.create_execution(&NewExecution {
            user_id: user.into(),
            input: Some(r#"{"n":12345678901234567890123}"#.into()),
            expires_at: crate::now_unix() + 60,
            ..Default::default()
        })
        .await
        .expect("create")
    }

    /// A store finished before retention existed: the migration reads `finished_at` into
    /// `finished_unix`, so its old executions age out like new ones.
    #[tokio::test]
    async fn retention_migration_backfills_finish_times() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("open");
            for (i, sql) in MIGRATIONS[..4].iter().enumerate() {
                conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1))
                    .expect("old migrations");
            }
            conn.execute_batch(
                "INSERT INTO executions (id, user_id, event_id, trigger, attempt, created_at, \
                 expires_at, status, finished_at) VALUES ('old', 'u', 'e', 'manual', 1, \
                 '2026-12-01T00:00:00.000Z', 1796083200, 'finished', '2026-12-01T00:00:10.500Z'); \
                 INSERT INTO audit_log (at, execution_id, user_id, action, target) \
                 VALUES ('2026-12-01T00:00:01.000Z', 'old', 'u', 'variable.set', 'k');",
            )
            .expect("an old row");
        }
        let s = SqliteStore::open(&path, Sync::Normal).expect("migrate");
        let finished: Option<i64> = s
            .read(|c| c.query_row("SELECT finished_unix FROM executions", [], |r| r.get(0)))
            .expect("read");
        assert_eq!(finished, Some(1_796_083_210), "2026-12-01T00:00:10Z");
        let policy = crate::Retention {
            streams_after: None,
            audit_after: Some(60),
            batch: 10,
        };
        let early = crate::prune_all(&s, 1_796_083_210 + 59, &policy)
            .await
            .expect("prune");
        assert_eq!(early.audit_entries, 0);
        let late = crate::prune_all(&s, 1_796_083_210 + 60, &policy)
            .await
            .expect("prune");
        assert_eq!(late.audit_entries, 1);
    }

    /// Stream bytes live in an append-only file per stream, indexed by the database: bytes
    /// past the indexed end (a crash between the file write and the commit) are overwritten
    /// by the next block, a block stored in the row before migration 6 still reads back,
    /// and retention removes the file with the index.
    #[tokio::test]
    async fn stream_files_are_indexed_and_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).expect("open");
            for (i, sql) in MIGRATIONS[..5].iter().enumerate() {
                conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1))
                    .expect("old migrations");
            }
            conn.execute_batch(
                "INSERT INTO executions (id, user_id, event_id, trigger, attempt, created_at, \
                 expires_at, out_records, out_bytes) VALUES ('old', 'u', 'e', 'manual', 1, \
                 '2026-12-01T00:00:00.000Z', 1796083200, 1, 8); \
                 INSERT INTO stream_blocks (execution_id, direction, data) \
                 VALUES ('old', 1, CAST('{\"o\":1}\n' AS BLOB));",
            )
            .expect("an old block");
        }
        let s = SqliteStore::open(&path, Sync::Normal).expect("migrate");
        let actor = Actor {
            execution_id: "old",
            user_id: "u",
        };
        s.append_output_stream(actor, b"{\"a\":1}\n", 1)
            .await
            .expect("append");
        let file = dir.path().join("state.db-streams").join("1.ndjson");
        assert_eq!(std::fs::read(&file).expect("stream file"), b"{\"a\":1}\n");
        // What a crash after the write and before the commit leaves: never indexed.
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .expect("open");
            f.write_all(b"garbage that was never acknowledged")
                .expect("write");
        }
        s.append_output_stream(actor, b"{\"b\":2}\n{\"c\":3}\n", 2)
            .await
            .expect("append");
        let mut all = Vec::new();
        let mut after = 0;
        while let Some((pos, block)) = s.output_stream_block("old", after).await.expect("read") {
            all.extend_from_slice(&block);
            after = pos;
        }
        assert_eq!(all, b"{\"o\":1}\n{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
        let report = s
            .execution_report("old")
            .await
            .expect("report")
            .expect("some");
        assert_eq!(report.output_stream.records, 4);
        assert_eq!(report.output_stream.bytes, all.len() as u64);
        s.finish_execution("old", "succeeded", Some(0))
            .await
            .expect("finish");
        let pruned = crate::prune_all(
            &s,
            crate::now_unix() + 10,
            &crate::Retention {
                streams_after: Some(1),
                audit_after: None,
                batch: 2,
            },
        )
        .await
        .expect("prune");
        assert_eq!(pruned.stream_blocks, 3);
        assert_eq!(pruned.stream_bytes, all.len() as u64);
        assert!(!file.exists(), "the pruned stream's file is removed");
        assert!(s
            .output_stream_block("old", 0)
            .await
            .expect("read")
            .is_none());
    }

    /// The generic suite every store passes, on real SQLite files.
    #[tokio::test]
    async fn conforms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = std::sync::atomic::AtomicUsize::new(0);
        crate::conformance::run(|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            SqliteStore::open(&dir.path().join(format!("state-{i}.db")), Sync::Normal)
                .expect("open")
        })
        .await;
    }

    #[tokio::test]
    async fn streams_and_output_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let id = {
            let s = SqliteStore::open(&path, Sync::Normal).expect("open");
            let e = execution(&s, "u").await;
            let actor = Actor {
                execution_id: &e.id,
                user_id: "u",
            };
            s.append_output_stream(actor, b"{\"a\":1}\n{\"a\":2}\n", 2)
                .await
                .expect("append");
            s.set_output(actor, "[1,2]").await.expect("output");
            s.set_condition(actor, true).await.expect("condition");
            e.id
        };
        let s = SqliteStore::open(&path, Sync::Normal).expect("reopen");
        let r = s
            .execution_report(&id)
            .await
            .expect("report")
            .expect("exists");
        assert_eq!(r.output.as_deref(), Some("[1,2]"));
        assert_eq!(r.condition, Some(true));
        assert_eq!(
            r.output_stream,
            StreamStats {
                records: 2,
                bytes: 16
            }
        );
        assert_eq!(
            r.execution.input.as_deref(),
            Some(r#"{"n":12345678901234567890123}"#)
        );
        let (pos, block) = s
            .output_stream_block(&id, 0)
            .await
            .expect("read")
            .expect("block");
        assert_eq!(block, b"{\"a\":1}\n{\"a\":2}\n");
        assert!(s
            .output_stream_block(&id, pos)
            .await
            .expect("read")
            .is_none());
    }

    #[test]
    fn concurrent_opens_of_a_fresh_store_migrate_once() {
        // The race is timing-dependent, so try it on several fresh stores.
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("state.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        SqliteStore::open(&path, Sync::Normal).map(|_| ())
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("join").expect("every open succeeds");
            }
            let conn = Connection::open(&path).expect("reopen");
            let version: usize = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .expect("version");
            assert_eq!(version, MIGRATIONS.len());
        }
    }

    #[tokio::test]
    async fn idempotency_claims_are_exclusive_and_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        {
            let s = SqliteStore::open(&path, Sync::Normal).expect("open");
            assert_eq!(
                s.claim_idempotency("e1", "k", "fp").await.expect("claim"),
                IdempotencyClaim::Claimed
            );
            assert_eq!(
                s.claim_idempotency("e1", "k", "fp").await.expect("again"),
                IdempotencyClaim::Pending {
                    fingerprint: "fp".into()
                }
            );
            // Keys belong to their execution.
            assert_eq!(
                s.claim_idempotency("e2", "k", "fp").await.expect("other"),
                IdempotencyClaim::Claimed
            );
            s.release_idempotency("e2", "k").await.expect("release");
            assert_eq!(
                s.claim_idempotency("e2", "k", "fp").await.expect("freed"),
                IdempotencyClaim::Claimed
            );
            s.finish_idempotency("e1", "k", r#"{"ok":true}"#)
                .await
                .expect("finish");
            // A finished record is not released.
            s.release_idempotency("e1", "k").await.expect("release");
        }
        let s = SqliteStore::open(&path, Sync::Normal).expect("reopen");
        assert_eq!(
            s.claim_idempotency("e1", "k", "other").await.expect("done"),
            IdempotencyClaim::Done {
                fingerprint: "fp".into(),
                outcome: r#"{"ok":true}"#.into()
            }
        );
    }
}
