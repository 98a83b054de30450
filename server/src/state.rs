//! Shared state of a running sidecar: the store, the authenticator, the per-execution
//! cache, the variable-change hub and the metrics.
//!
//! Cache rules (DESIGN.md "Storage"): reads go through the cache, writes go to the store
//! first and into the cache only after they commit. Every variable change — made here, or
//! found in the store's change log by the poller (woken by the store's push signal or its
//! timer) — carries its change-log position (`seq`),
//! and the cache and the watchers only ever move forward in `seq`, so a slow writer can never
//! put an older value over a newer one.

// Not std's SipHash: these maps are looked up on every request, and SipHash was 2% of a
// cached read's instructions. foldhash is seeded at random per process, as hashbrown's
// own default hasher is; execution ids come from verified tokens and the store, and the
// variable keys scripts choose go into a map capped at VARIABLE_CACHE_CAP entries.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::body::compact_json;
use crate::config::Limits;
use crate::metrics::Metrics;
use cronium_store::{
    Execution, ExecutionStatus, Store, StoreError, StoreResult, Variable, VariableChange,
};
use cronium_tools::ToolEngine;

/// How often the poller reads the store's change log for changes made by other processes,
/// by default, when the store has no push signal (SQLite).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The same, when the store pushes a signal on every change (PostgreSQL): the timer is
/// then only a safety net, and a slower one spares a shared database many sidecars' reads.
pub const PUSHED_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Most variable entries cached before the cache starts over.
const VARIABLE_CACHE_CAP: usize = 65_536;
/// Most executions cached before the cache starts over.
const EXECUTION_CACHE_CAP: usize = 16_384;

/// What the sidecar needs to answer requests. Built once, shared by every connection.
#[derive(Debug)]
pub struct AppState {
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Token verification and minting.
    pub auth: Arc<Authenticator>,
    /// Request limits.
    pub limits: Limits,
    /// Lifetime of refreshed tokens.
    pub token_ttl: Duration,
    /// Metrics.
    pub metrics: Metrics,
    /// Variable changes, fanned out to watchers.
    pub changes: broadcast::Sender<Arc<VariableChange>>,
    /// Cancelled at shutdown so long-lived streams end and connections can drain.
    pub shutdown: CancellationToken,
    /// Highest `seq` published so far. A watch starts from here: the poller publishes this
    /// sidecar's own changes a second time when it reads them back from the change log, and
    /// a watch opened in between must not take that replay for a new change.
    published_seq: AtomicI64,
    executions: Mutex<HashMap<String, Arc<ExecEntry>>>,
    /// Executions seen finished in the change log. A cached entry cannot go stale through
    /// a race with the finish (read from the store just before it, cached just after):
    /// the auth path checks this set as well as the entry's own status.
    finished: Mutex<HashSet<String>>,
    variables: Mutex<HashMap<(String, String), CachedVar>>,
    /// Set once by whoever has the configuration (`serve`, the runner); until then tool
    /// actions answer 500 `internal`, so building the state needs no tools configuration.
    tools: std::sync::OnceLock<Arc<ToolEngine>>,
    /// The admin API's credential, when it runs: the script API refuses it
    /// (`403 admin_credential_refused`) rather than calling it a malformed token.
    admin_secret: std::sync::OnceLock<crate::admin_api::AdminSecret>,
}

/// An execution as the API needs it, prepared once: the input and context are immutable for
/// the life of an execution, so their JSON text is built on first use and served from here.
#[derive(Debug)]
pub struct ExecEntry {
    /// The stored execution.
    pub execution: Execution,
    /// The input document (`null` when none), checked JSON, byte for byte as stored.
    pub input: Box<RawValue>,
    /// The context document: the defaults with the creator's fields over them, each user
    /// value byte for byte (big integers keep their digits).
    pub context: Box<RawValue>,
    limiter: Mutex<TokenBucket>,
    /// Set once this sidecar has marked the execution `running` (or found it past
    /// `created`), so the store is written once, not on every request.
    started: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone)]
struct CachedVar {
    seq: i64,
    value: Option<Arc<VariableEntry>>,
}

/// A cached variable and, built on its first read, the answer to a read of it: a variable
/// is read far more often than written, and its answer only changes with it (a write
/// caches a new entry). A read then costs a few reference counts instead of a JSON
/// serialization, a parse of the stored text and an `ETag` formatted.
#[derive(Debug)]
pub struct VariableEntry {
    /// The stored variable.
    pub variable: Variable,
    answer: std::sync::OnceLock<ReadAnswer>,
}

/// What a read of a variable answers, prepared once per cached value.
#[derive(Debug, Clone)]
pub struct ReadAnswer {
    /// The enveloped answer (`{"data": {...}}`); `None` if the stored text is not JSON
    /// (a store edited by hand), which a read answers with a 500.
    pub envelope: Option<bytes::Bytes>,
    /// The bare value, as stored (`?raw`).
    pub value: bytes::Bytes,
    /// The `ETag` header (the version, quoted).
    pub etag: Option<http::HeaderValue>,
}

impl VariableEntry {
    fn new(variable: Variable) -> Self {
        Self {
            variable,
            answer: std::sync::OnceLock::new(),
        }
    }

    /// The answer to a read, built by `build` on the first call.
    pub fn answer(&self, build: impl FnOnce(&Variable) -> ReadAnswer) -> &ReadAnswer {
        self.answer.get_or_init(|| build(&self.variable))
    }
}

/// The variable cache's key, `(user, key)`, looked up as two borrowed strings: a lookup
/// by an owned pair would cost two allocations on every read.
trait UserKey {
    fn pair(&self) -> (&str, &str);
}

impl UserKey for (String, String) {
    fn pair(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl UserKey for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn UserKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn UserKey + 'a) {
        self
    }
}

// Hashes as `(String, String)` does, so both find the same entries.
impl std::hash::Hash for dyn UserKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.pair().hash(h);
    }
}

impl PartialEq for dyn UserKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn UserKey + '_ {}

#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl AppState {
    /// Builds the state; call [`AppState::start_poller`] to follow other processes' writes.
    pub fn new(
        store: Arc<dyn Store>,
        auth: Arc<Authenticator>,
        limits: Limits,
        token_ttl: Duration,
    ) -> Arc<Self> {
        let (changes, _) = broadcast::channel(1024);
        Arc::new(Self {
            store,
            auth,
            limits,
            token_ttl,
            metrics: Metrics::default(),
            changes,
            shutdown: CancellationToken::new(),
            published_seq: AtomicI64::new(0),
            executions: Mutex::new(HashMap::new()),
            finished: Mutex::new(HashSet::new()),
            variables: Mutex::new(HashMap::new()),
            tools: std::sync::OnceLock::new(),
            admin_secret: std::sync::OnceLock::new(),
        })
    }

    /// Installs the tool-actions engine; `false` if one was already installed.
    pub fn set_tools(&self, engine: Arc<ToolEngine>) -> bool {
        self.tools.set(engine).is_ok()
    }

    /// Installs the admin credential so the script API can recognise (and refuse) it; once.
    pub fn set_admin_secret(&self, secret: crate::admin_api::AdminSecret) -> bool {
        self.admin_secret.set(secret).is_ok()
    }

    /// Whether `presented` is the admin credential (compared in constant time).
    pub fn is_admin_secret(&self, presented: &[u8]) -> bool {
        self.admin_secret
            .get()
            .is_some_and(|s| s.matches(presented))
    }

    /// The tool-actions engine, if installed.
    pub fn tools(&self) -> Option<&Arc<ToolEngine>> {
        self.tools.get()
    }

    /// Times a store call for the metrics.
    pub async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let start = Instant::now();
        let out = f.await;
        self.metrics.store(start.elapsed());
        out
    }

    /// The execution of a verified token, from the cache or the store.
    pub async fn execution(&self, id: &str) -> StoreResult<Arc<ExecEntry>> {
        if let Some(e) = self.executions.lock().get(id) {
            return Ok(e.clone());
        }
        let execution = self
            .timed(self.store.execution(id))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))?;
        let entry = Arc::new(ExecEntry::new(execution, &self.limits));
        let mut map = self.executions.lock();
        if map.len() >= EXECUTION_CACHE_CAP {
            map.clear();
        }
        Ok(map.entry(id.to_owned()).or_insert(entry).clone())
    }

    /// A user's variable, read through the cache.
    pub async fn variable(&self, user: &str, key: &str) -> StoreResult<Option<Arc<VariableEntry>>> {
        if let Some(c) = self.variables.lock().get(&(user, key) as &dyn UserKey) {
            return Ok(c.value.clone());
        }
        let value = self
            .timed(self.store.variable(user, key))
            .await?
            .map(|v| Arc::new(VariableEntry::new(v)));
        let cache_key = (user.to_owned(), key.to_owned());
        let mut map = self.variables.lock();
        if map.len() >= VARIABLE_CACHE_CAP {
            map.clear();
        }
        // Insert only if absent: a write that committed meanwhile has put a newer value
        // (with its seq) in the cache, and this read may be older than it.
        map.entry(cache_key).or_insert(CachedVar {
            seq: 0,
            value: value.clone(),
        });
        Ok(value)
    }

    /// Whether the execution is finished, as far as this sidecar knows: the status it was
    /// read with, or a finish seen in the change log since.
    pub fn is_finished(&self, entry: &ExecEntry) -> bool {
        entry.execution.status == ExecutionStatus::Finished
            || self.seen_finished(&entry.execution.id)
    }

    /// Whether a finish of the execution was seen in the change log.
    pub fn seen_finished(&self, execution_id: &str) -> bool {
        self.finished.lock().contains(execution_id)
    }

    /// Marks the execution `running` in the store on its first request here; later calls
    /// cost an atomic load. A store failure is logged, not answered: the request itself
    /// does not depend on it.
    pub async fn mark_started(&self, entry: &ExecEntry) {
        if entry.started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.store.start_execution(&entry.execution.id).await {
            tracing::warn!(error = %e, "cannot mark the execution running");
        }
    }

    /// Records that an execution is finished (committed in the store): its next request
    /// is refused at once. The admin API calls it after its own finish, so the sidecar
    /// that finished an execution does not wait for its change-log poller.
    pub fn note_finished(&self, id: &str) {
        let mut finished = self.finished.lock();
        if finished.len() >= EXECUTION_CACHE_CAP {
            // Forgetting finishes is safe only together with the entries they guard:
            // a re-read from the store has the status.
            finished.clear();
            self.executions.lock().clear();
        }
        finished.insert(id.to_owned());
        self.executions.lock().remove(id);
    }

    /// Applies a committed change to the cache and tells watchers. Safe to call twice for
    /// the same change (once when made here, once when the poller sees it). A finish
    /// ([`VariableChange::finished_execution`]) drops the execution from the cache, so its
    /// next request reads it finished; watchers see it too and end.
    pub fn publish(&self, change: VariableChange) {
        let change = Arc::new(change);
        if let Some(id) = &change.finished_execution {
            self.note_finished(id);
        } else {
            let mut map = self.variables.lock();
            let key = (change.user_id.clone(), change.key.clone());
            let newer = map.get(&key).is_none_or(|c| c.seq < change.seq);
            if newer {
                let value = match (&change.value, change.version) {
                    (Some(v), Some(version)) => Some(Arc::new(VariableEntry::new(Variable {
                        key: change.key.clone(),
                        value: v.clone(),
                        version,
                        updated_at: change.updated_at.clone(),
                    }))),
                    _ => None,
                };
                map.insert(
                    key,
                    CachedVar {
                        seq: change.seq,
                        value,
                    },
                );
            }
        }
        self.published_seq.fetch_max(change.seq, Ordering::AcqRel);
        // No receivers is fine: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// Subscribes to variable changes, with the `seq` a watcher starts after: every change
    /// published before the call is at or below it, so only later changes pass.
    pub fn subscribe_changes(&self) -> (broadcast::Receiver<Arc<VariableChange>>, i64) {
        // Subscribe first: a change published between the two steps is then both received
        // and at or below the mark, never lost and never replayed.
        let rx = self.changes.subscribe();
        (rx, self.published_seq.load(Ordering::Acquire))
    }

    /// Starts the task that follows the store's change log, so writes by other sidecars on
    /// the same store reach this one's cache and watchers. One mechanism for every store:
    /// the task reads the log after its position whenever it is woken — by the store's push
    /// signal where it has one (PostgreSQL's `LISTEN/NOTIFY`: within milliseconds of the
    /// commit, and after the listener reconnects) and by a timer every
    /// [`Limits::change_poll_interval`] (SQLite's only way; a safety net where the store
    /// pushes). The log is the truth, so a lost signal delays a change, never loses it.
    pub fn start_poller(self: &Arc<Self>) {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let wake = Arc::new(tokio::sync::Notify::new());
            let weak = Arc::downgrade(&wake);
            let pushes = state.store.listen_for_changes(Arc::new(move || {
                if let Some(w) = weak.upgrade() {
                    w.notify_one();
                }
            }));
            let interval = state.limits.change_poll_interval.unwrap_or(if pushes {
                PUSHED_POLL_INTERVAL
            } else {
                POLL_INTERVAL
            });
            let mut tick = tokio::time::interval(interval);
            // Start at the log's end, once it can be read: starting from 0 while a shared
            // database is down would replay every kept change to watchers when it is back.
            let mut last = loop {
                match state.store.last_change_seq().await {
                    Ok(s) => break s,
                    Err(e) => tracing::warn!(error = %e, "change log unreadable; retrying"),
                }
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            };
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                    _ = wake.notified() => {}
                }
                loop {
                    match state.store.changes_since(last, 512).await {
                        Ok(changes) => {
                            let n = changes.len();
                            for c in changes {
                                last = last.max(c.seq);
                                state.publish(c);
                            }
                            if n < 512 {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the change log");
                            break;
                        }
                    }
                }
            }
        });
    }
}

impl ExecEntry {
    fn new(execution: Execution, limits: &Limits) -> Self {
        let input = execution
            .input
            .as_deref()
            .and_then(|text| stored_json(text, "input"))
            .unwrap_or_else(json_null);
        let context = build_context(&execution);
        Self {
            input,
            context,
            limiter: Mutex::new(TokenBucket {
                tokens: limits.rate_burst,
                last: Instant::now(),
            }),
            started: std::sync::atomic::AtomicBool::new(
                execution.status != ExecutionStatus::Created,
            ),
            execution,
        }
    }

    /// Takes one request from the execution's token bucket; `Err(seconds)` to wait.
    pub fn take(&self, limits: &Limits) -> Result<(), u64> {
        if limits.rate_per_sec <= 0.0 {
            return Ok(());
        }
        let mut b = self.limiter.lock();
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() * limits.rate_per_sec;
        b.tokens = (b.tokens + refill).min(limits.rate_burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / limits.rate_per_sec;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// The context document: the defaults, then the creator's `--context` fields over them
/// (a field of the same name replaces the default in its place; new ones follow, in their
/// order). The creator's values are kept as JSON text, never read as numbers, so
/// `12345678901234567890123` stays those digits.
fn build_context(e: &Execution) -> Box<RawValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Defaults<'a> {
        execution_id: &'a str,
        user_id: &'a str,
        event_id: &'a str,
        event_name: &'a Option<String>,
        event_type: &'a Option<String>,
        job_id: &'a Option<String>,
        started_at: &'a str,
        trigger: &'a str,
        workflow_step: &'a Option<String>,
        attempt: u32,
    }
    let defaults = Defaults {
        execution_id: &e.id,
        user_id: &e.user_id,
        event_id: &e.event_id,
        event_name: &e.event_name,
        event_type: &e.event_type,
        job_id: &e.job_id,
        started_at: &e.created_at,
        trigger: &e.trigger,
        workflow_step: &e.workflow_step,
        attempt: e.attempt,
    };
    // The defaults hold only strings and a small integer: exact through `Value`.
    let mut fields = Fields::default();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&defaults) {
        for (k, v) in map {
            if let Ok(raw) = serde_json::value::to_raw_value(&v) {
                fields.upsert(k, raw);
            }
        }
    }
    // Extra fields that are not a JSON object are ignored, as they always were.
    if let Some(Ok(extra)) = e.context.as_deref().map(serde_json::from_str::<Fields>) {
        for (k, v) in extra.0 {
            let v = stored_json(v.get(), "context field").unwrap_or(v);
            fields.upsert(k, v);
        }
    }
    serde_json::value::to_raw_value(&fields).unwrap_or_else(|_| json_null())
}

/// An ordered JSON object whose values stay JSON text: what `serde_json::Map` would be
/// with `RawValue` values. A repeated key keeps its first place and its last value, as
/// `Map` does.
#[derive(Default)]
struct Fields(Vec<(String, Box<RawValue>)>);

impl Fields {
    fn upsert(&mut self, key: String, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut fields = Fields::default();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.upsert(k, v);
                }
                Ok(fields)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Stored JSON text as a [`RawValue`], on one line (whitespace between tokens removed,
/// numbers and strings untouched). `None`, logged, if the store holds something that is
/// not JSON, which only a store edited by hand can.
fn stored_json(text: &str, what: &str) -> Option<Box<RawValue>> {
    match RawValue::from_string(compact_json(text).into_owned()) {
        Ok(raw) => Some(raw),
        Err(e) => {
            tracing::warn!(error = %e, what, "stored JSON does not parse; serving null");
            None
        }
    }
}

fn json_null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}
