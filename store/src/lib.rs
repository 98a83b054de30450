//! Storage behind one trait.
//!
//! Every durable fact the sidecar knows lives behind [`Store`]: executions, their output and
//! condition, the users' variables with their change log, stream chunks and the audit log.
//! The embedded SQLite store ([`sqlite::SqliteStore`]) is the default; PostgreSQL
//! (`postgres::PostgresStore`, feature `postgres`, on by default) is one store shared by
//! many sidecars; the Cronium backend will plug in the same way, without touching the API
//! layer.
//!
//! JSON values cross this boundary as text ([`Json`]) so a user's value is stored and returned
//! byte for byte: a big integer stays exact and no layer re-encodes it.

#![forbid(unsafe_code)]

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
#[cfg(any(test, feature = "conformance"))]
pub mod temp_postgres;

use async_trait::async_trait;

/// A JSON document as text, already validated by whoever built it.
pub type Json = String;

/// What went wrong in storage, in terms the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `If-Match` named a version that is not the stored one. Nothing was written.
    #[error("version conflict: expected version {expected}, stored version is {actual}")]
    Conflict {
        /// The version the caller expected (0 = absent).
        expected: u64,
        /// The stored version (0 = absent).
        actual: u64,
    },
    /// The row the operation needs does not exist (an unknown execution).
    #[error("{0} not found")]
    NotFound(String),
    /// Storage cannot be reached or failed; the caller may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Called by a store that pushes change signals (see [`Store::listen_for_changes`]).
pub type ChangeWake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// What `cronium executions create` (or the orchestrator) asks for.
#[derive(Debug, Clone, Default)]
pub struct NewExecution {
    /// The id to give it (an orchestrator names executions after its jobs); a fresh
    /// time-ordered id when `None`. Checked by the caller (the variable-key rule).
    pub id: Option<String>,
    /// Owner of the execution; variables are scoped to this user.
    pub user_id: String,
    /// Event (script) id; generated when empty.
    pub event_id: String,
    /// Human name of the event.
    pub event_name: Option<String>,
    /// Kind of event (`python`, `node`, `bash`, ...).
    pub event_type: Option<String>,
    /// Job id when the execution belongs to a scheduled job.
    pub job_id: Option<String>,
    /// What started it: `manual`, `schedule`, `workflow`, `webhook`...
    pub trigger: Option<String>,
    /// Workflow step name, when run inside a workflow.
    pub workflow_step: Option<String>,
    /// Retry attempt, from 1.
    pub attempt: u32,
    /// The input document (`None` reads back as `null`).
    pub input: Option<Json>,
    /// Extra context fields (a JSON object) merged over the defaults.
    pub context: Option<Json>,
    /// Unix seconds after which no token of this execution is valid, however refreshed.
    pub expires_at: i64,
}

/// A stored execution.
#[derive(Debug, Clone)]
pub struct Execution {
    /// Execution id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Event id.
    pub event_id: String,
    /// Event name.
    pub event_name: Option<String>,
    /// Event type.
    pub event_type: Option<String>,
    /// Job id.
    pub job_id: Option<String>,
    /// Trigger.
    pub trigger: String,
    /// Workflow step.
    pub workflow_step: Option<String>,
    /// Attempt number.
    pub attempt: u32,
    /// Input document.
    pub input: Option<Json>,
    /// Extra context object.
    pub context: Option<Json>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Maximum lifetime of its tokens, unix seconds.
    pub expires_at: i64,
    /// Where it is in its lifecycle, as stored ([`Execution::status_at`] adds expiry).
    pub status: ExecutionStatus,
    /// When a script first called the API for it, RFC 3339.
    pub started_at: Option<String>,
    /// When it was finished, RFC 3339.
    pub finished_at: Option<String>,
    /// How it ended, as the finisher said (`succeeded`, `failed`, ...).
    pub outcome: Option<String>,
    /// The script's exit code, when the finisher gave one.
    pub exit_code: Option<i32>,
}

/// Where an execution is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionStatus {
    /// Created; no script has called the API for it yet.
    #[default]
    Created,
    /// A script has called the API for it.
    Running,
    /// Finished by the orchestrator or the operator: its tokens are refused from then on.
    Finished,
    /// Past its maximum lifetime without being finished; never stored, only derived
    /// ([`Execution::status_at`]).
    Expired,
}

impl ExecutionStatus {
    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Created => "created",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Finished => "finished",
            ExecutionStatus::Expired => "expired",
        }
    }

    /// The status at unix time `now` of an execution stored with this status and maximum
    /// lifetime `expires_at`: neither finished nor within its lifetime means `expired`.
    pub fn at(self, expires_at: i64, now: i64) -> ExecutionStatus {
        match self {
            ExecutionStatus::Created | ExecutionStatus::Running if now >= expires_at => {
                ExecutionStatus::Expired
            }
            s => s,
        }
    }

    /// Reads [`as_str`](Self::as_str)'s spelling back; anything else reads as `created`
    /// (only a store edited by hand holds anything else).
    pub fn parse(s: &str) -> ExecutionStatus {
        match s {
            "running" => ExecutionStatus::Running,
            "finished" => ExecutionStatus::Finished,
            "expired" => ExecutionStatus::Expired,
            _ => ExecutionStatus::Created,
        }
    }
}

/// How a finished execution ended: the `--status` of `cronium executions finish`.
pub const OUTCOMES: [&str; 4] = ["succeeded", "failed", "cancelled", "timed_out"];

impl Execution {
    /// The status at unix time `now`: the stored one, except that an execution neither
    /// finished nor within its maximum lifetime is `expired`.
    pub fn status_at(&self, now: i64) -> ExecutionStatus {
        self.status.at(self.expires_at, now)
    }
}

/// What [`Store::finish_execution`] found.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Finished now; the execution as stored after the change.
    Finished(Execution),
    /// It was finished before; nothing changed. The execution as stored.
    AlreadyFinished(Execution),
}

impl NewExecution {
    /// The execution every store keeps for this request: the id asked for, else a fresh
    /// time-ordered one, a
    /// generated event id when none was given, trigger `manual` and attempt 1 by default,
    /// created now. Defined once so the stores cannot disagree on the defaults.
    pub fn to_execution(&self) -> Execution {
        Execution {
            id: self
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            user_id: self.user_id.clone(),
            event_id: if self.event_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                self.event_id.clone()
            },
            event_name: self.event_name.clone(),
            event_type: self.event_type.clone(),
            job_id: self.job_id.clone(),
            trigger: self.trigger.clone().unwrap_or_else(|| "manual".into()),
            workflow_step: self.workflow_step.clone(),
            attempt: self.attempt.max(1),
            input: self.input.clone(),
            context: self.context.clone(),
            created_at: now_rfc3339(),
            expires_at: self.expires_at,
            status: ExecutionStatus::Created,
            started_at: None,
            finished_at: None,
            outcome: None,
            exit_code: None,
        }
    }
}

/// An execution with what it produced, for `cronium executions show`.
#[derive(Debug, Clone)]
pub struct ExecutionReport {
    /// The execution itself.
    pub execution: Execution,
    /// The output document, if set.
    pub output: Option<Json>,
    /// The condition, if set.
    pub condition: Option<bool>,
    /// Output-stream totals.
    pub output_stream: StreamStats,
    /// Input-stream totals.
    pub input_stream: StreamStats,
}

/// Totals of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Records (NDJSON lines).
    pub records: u64,
    /// Bytes, newlines included.
    pub bytes: u64,
}

/// A stored variable.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Key.
    pub key: String,
    /// Value as JSON text.
    pub value: Json,
    /// Grows by one on every write; starts at 1.
    pub version: u64,
    /// Time of the last write, RFC 3339.
    pub updated_at: String,
}

/// One entry of the variables change log (what watchers receive).
#[derive(Debug, Clone)]
pub struct VariableChange {
    /// Position in the store-wide change log; grows monotonically.
    pub seq: i64,
    /// Owner of the variable.
    pub user_id: String,
    /// Key.
    pub key: String,
    /// New value; `None` when deleted.
    pub value: Option<Json>,
    /// New version; `None` when deleted.
    pub version: Option<u64>,
    /// Time of the change.
    pub updated_at: String,
    /// Set on a lifecycle entry, not a variable change: the execution that finished (its
    /// `key` is then empty, which no variable key is). Other sidecars on the store learn
    /// of a finish through this, the same way as of a variable write.
    pub finished_execution: Option<String>,
}

/// Who performed a write, for the audit log. Never a value, never a token.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// Execution performing the write.
    pub execution_id: &'a str,
    /// Its user.
    pub user_id: &'a str,
}

/// One audit-log row.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When.
    pub at: String,
    /// Execution.
    pub execution_id: String,
    /// User.
    pub user_id: String,
    /// What (`variable.set`, `output.set`, ...).
    pub action: String,
    /// On what (a key, or empty).
    pub target: String,
}

/// A brief line of `cronium executions list`.
#[derive(Debug, Clone)]
pub struct ExecutionSummary {
    /// Execution id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Event name or id.
    pub event: String,
    /// Event name alone: `None` when the execution was created without one (its `event`
    /// is then the generated id, which says nothing to a person).
    pub event_name: Option<String>,
    /// Created at.
    pub created_at: String,
    /// Whether an output was set.
    pub has_output: bool,
    /// Stored status (`expired` is derived from [`ExecutionSummary::expires_at`]).
    pub status: ExecutionStatus,
    /// Maximum lifetime, unix seconds.
    pub expires_at: i64,
}

impl ExecutionSummary {
    /// The status at unix time `now`, as [`Execution::status_at`] says it.
    pub fn status_at(&self, now: i64) -> ExecutionStatus {
        self.status.at(self.expires_at, now)
    }
}

/// A tool credential as stored: sealed with the credentials key (see `tools::crypto`).
/// Only the row's names are in plaintext; every URL, token and password is in `sealed`.
#[derive(Clone)]
pub struct SealedCredential {
    /// Owner: only this user's executions can use it.
    pub user_id: String,
    /// Tool (`slack`, `discord`, `webhook`, `email`).
    pub tool: String,
    /// Name a script may pick (`default` when it names none).
    pub name: String,
    /// Fingerprint of the key that sealed it.
    pub key_id: String,
    /// `version || nonce || AES-256-GCM ciphertext and tag`.
    pub sealed: Vec<u8>,
    /// When it was first added, RFC 3339.
    pub created_at: String,
    /// When it was last replaced, RFC 3339.
    pub updated_at: String,
}

// The ciphertext is not secret, but a dump of it helps nobody reading a log.
impl std::fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCredential")
            .field("user_id", &self.user_id)
            .field("tool", &self.tool)
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .field("sealed", &format_args!("<{} bytes>", self.sealed.len()))
            .finish()
    }
}

/// What happened when a call claimed its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was free and is now held by this call, which must finish or release it.
    Claimed,
    /// Another call holds the key and has not finished.
    Pending {
        /// Fingerprint of the other call's request.
        fingerprint: String,
    },
    /// A call with this key finished; its outcome is to be answered again.
    Done {
        /// Fingerprint of the first call's request.
        fingerprint: String,
        /// The first call's outcome, as recorded.
        outcome: Json,
    },
}

/// What retention prunes and how much at a time (`[retention]` in the configuration).
///
/// An execution has ended when it was finished, or when its maximum lifetime passed without
/// a finish (expired); its retention ages count from then. Only what an ended execution left behind goes: the blocks of its streams and its audit
/// entries. The execution row (status, outcome, exit code, output document) and every
/// variable stay; variables are never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Prune the stream blocks (input and output) of executions ended at least this many
    /// seconds ago; `None` keeps them for ever.
    pub streams_after: Option<i64>,
    /// Prune the audit entries of executions ended at least this many seconds ago; `None`
    /// keeps them for ever.
    pub audit_after: Option<i64>,
    /// Most rows one batch deletes (each kind): one batch is one short transaction, so a
    /// request waits for at most one batch, never for the whole prune.
    pub batch: u32,
}

/// The defaults of [`Retention`]: streams kept 7 days, audit entries 30 days, 500 rows a
/// batch.
impl Default for Retention {
    fn default() -> Self {
        Self {
            streams_after: Some(7 * 86_400),
            audit_after: Some(30 * 86_400),
            batch: 500,
        }
    }
}

/// What pruning removed (one batch, or the sum of several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Stream blocks deleted (a block holds one or more NDJSON records).
    pub stream_blocks: u64,
    /// Bytes those blocks held.
    pub stream_bytes: u64,
    /// Audit entries deleted.
    pub audit_entries: u64,
    /// Executions whose streams or audit entries are now fully pruned.
    pub executions: u64,
}

impl Pruned {
    /// Whether the batch deleted nothing and marked nothing: the prune is done.
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }

    /// Adds another batch's figures.
    pub fn add(&mut self, other: Pruned) {
        self.stream_blocks += other.stream_blocks;
        self.stream_bytes += other.stream_bytes;
        self.audit_entries += other.audit_entries;
        self.executions += other.executions;
    }
}

/// Runs [`Store::prune_batch`] until a batch finds nothing, each batch its own transaction,
/// yielding between batches so requests on the same runtime go first. `now` is unix
/// seconds: the caller's clock (tests pass their own).
pub async fn prune_all(store: &dyn Store, now: i64, retention: &Retention) -> StoreResult<Pruned> {
    let mut total = Pruned::default();
    loop {
        let batch = store.prune_batch(now, retention).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        total.add(batch);
        YieldOnce(false).await;
    }
}

/// Returns to the executor once: the SQLite store runs its calls inline, so without this a
/// long prune on a one-thread runtime would hold it from batch to batch.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// The storage interface of the sidecar.
///
/// Every write returns only after it is committed: an acknowledged write survives a crash
/// of the sidecar process.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Whether writes can succeed now, for `/ready`: `Err` (with the reason) when the store
    /// is unreachable or would refuse a write (disk full, read-only). Cheap enough for a
    /// readiness probe every few seconds.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an execution and returns it with its new id.
    async fn create_execution(&self, new: &NewExecution) -> StoreResult<Execution>;
    /// Reads one execution.
    async fn execution(&self, id: &str) -> StoreResult<Option<Execution>>;
    /// Marks an execution `running` (with `started_at`) if it is still `created`; `false`
    /// when it was not (already running or finished, or unknown).
    async fn start_execution(&self, id: &str) -> StoreResult<bool>;
    /// Finishes an execution: status `finished`, `finished_at` now, with `outcome` and
    /// `exit_code`, and an entry in the change log ([`VariableChange::finished_execution`])
    /// so every sidecar on the store drops it; [`Finish::AlreadyFinished`] without any
    /// change when it was finished before; [`StoreError::NotFound`] when unknown.
    async fn finish_execution(
        &self,
        id: &str,
        outcome: &str,
        exit_code: Option<i32>,
    ) -> StoreResult<Finish>;
    /// Reads an execution with its output, condition and stream totals.
    async fn execution_report(&self, id: &str) -> StoreResult<Option<ExecutionReport>>;
    /// Most recent executions first.
    async fn list_executions(&self, limit: u32) -> StoreResult<Vec<ExecutionSummary>>;

    /// Sets the output (last write wins).
    async fn set_output(&self, actor: Actor<'_>, value: &str) -> StoreResult<()>;
    /// Reads the output.
    async fn output(&self, execution_id: &str) -> StoreResult<Option<Json>>;
    /// Sets the condition.
    async fn set_condition(&self, actor: Actor<'_>, condition: bool) -> StoreResult<()>;
    /// Reads the condition.
    async fn condition(&self, execution_id: &str) -> StoreResult<Option<bool>>;

    /// Reads a variable of a user.
    async fn variable(&self, user_id: &str, key: &str) -> StoreResult<Option<Variable>>;
    /// Writes a variable; with `if_version`, only when the stored version matches (0 =
    /// absent), else [`StoreError::Conflict`].
    async fn set_variable(
        &self,
        actor: Actor<'_>,
        key: &str,
        value: &str,
        if_version: Option<u64>,
    ) -> StoreResult<VariableChange>;
    /// Deletes a variable; `Ok(None)` when it did not exist.
    async fn delete_variable(
        &self,
        actor: Actor<'_>,
        key: &str,
        if_version: Option<u64>,
    ) -> StoreResult<Option<VariableChange>>;
    /// Keys of a user's variables, sorted.
    async fn variable_keys(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// The last position of the change log (0 when empty).
    async fn last_change_seq(&self) -> StoreResult<i64>;
    /// Changes after `seq`, oldest first, at most `limit`.
    async fn changes_since(&self, seq: i64, limit: u32) -> StoreResult<Vec<VariableChange>>;
    /// Starts pushing "the change log grew" signals, when this store can: `wake` is called
    /// soon after any process commits a variable change, and again whenever the push
    /// channel comes back after a break (changes committed meanwhile sent no signal it could
    /// receive). A signal carries nothing: the change log ([`Store::changes_since`]) stays
    /// the truth, so a lost or doubled signal costs a read, never a change. Returns `false`
    /// when the store has no push (SQLite: the caller polls). Call inside a tokio runtime;
    /// the push stops when the store is dropped.
    fn listen_for_changes(&self, wake: ChangeWake) -> bool {
        let _ = wake;
        false
    }

    /// Appends a block of complete NDJSON lines to an execution's input stream.
    async fn append_input_stream(
        &self,
        execution_id: &str,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()>;
    /// The input-stream block after position `after` (0 = from the start): `(position, bytes)`.
    async fn input_stream_block(
        &self,
        execution_id: &str,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>>;
    /// Appends a block of complete NDJSON lines to the output stream, durably.
    async fn append_output_stream(
        &self,
        actor: Actor<'_>,
        block: &[u8],
        records: u64,
    ) -> StoreResult<()>;
    /// The output-stream block after position `after`.
    async fn output_stream_block(
        &self,
        execution_id: &str,
        after: i64,
    ) -> StoreResult<Option<(i64, Vec<u8>)>>;

    /// Records an action that is not itself a store write (token refresh, tool action).
    async fn audit(&self, actor: Actor<'_>, action: &str, target: &str) -> StoreResult<()>;
    /// Audit rows of an execution, oldest first.
    async fn audit_log(&self, execution_id: &str) -> StoreResult<Vec<AuditEntry>>;

    /// Adds or replaces a user's tool credential; `true` when it replaced one.
    async fn put_credential(&self, actor: Actor<'_>, c: &SealedCredential) -> StoreResult<bool>;
    /// One credential of a user.
    async fn credential(
        &self,
        user_id: &str,
        tool: &str,
        name: &str,
    ) -> StoreResult<Option<SealedCredential>>;
    /// A user's credentials (every user's with `None`), sorted by user, tool, name; the
    /// `sealed` bytes are left empty.
    async fn list_credentials(&self, user_id: Option<&str>) -> StoreResult<Vec<SealedCredential>>;
    /// Removes a credential of the actor's user; `true` when it existed.
    async fn delete_credential(
        &self,
        actor: Actor<'_>,
        tool: &str,
        name: &str,
    ) -> StoreResult<bool>;

    /// Claims an idempotency key of an execution for a request with `fingerprint`.
    async fn claim_idempotency(
        &self,
        execution_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyClaim>;
    /// Records the outcome of a claimed key; later claims answer [`IdempotencyClaim::Done`].
    async fn finish_idempotency(
        &self,
        execution_id: &str,
        key: &str,
        outcome: &str,
    ) -> StoreResult<()>;
    /// Frees a claimed key whose call never reached the tool (so a retry may send).
    async fn release_idempotency(&self, execution_id: &str, key: &str) -> StoreResult<()>;
    /// One bounded batch of retention, in one short transaction: deletes at most
    /// `retention.batch` stream blocks and as many audit entries of executions that ended
    /// (finished, or expired unfinished) before `now` minus the configured ages, and marks
    /// the executions left with nothing to prune so later batches skip them. Running and
    /// created executions within their lifetime and every variable are never touched.
    /// [`prune_all`] repeats it until a batch prunes nothing.
    async fn prune_batch(&self, now: i64, retention: &Retention) -> StoreResult<Pruned>;
}

/// The current time as RFC 3339 UTC with milliseconds, the one timestamp format of the API.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    // From `SystemTime` directly: every request reads the clock, and a calendar value
    // costs ten times as much. Floors like `OffsetDateTime::unix_timestamp`.
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            -i64::try_from(d.as_secs()).unwrap_or(i64::MAX) - i64::from(d.subsec_nanos() > 0)
        }
    }
}
