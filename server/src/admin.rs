//! The operator's service: create, show and list executions, mint tokens, read and write a
//! user's variables, manage tool credentials.
//!
//! It works on the store directly (not through a running server), so it also works when no
//! server runs; a server on the same store sees its variable writes through the change-log
//! poller. It returns plain data and [`AdminError`]s: `cronium` renders them on a terminal,
//! and an admin HTTP API can serve the same calls.

use std::sync::Arc;
use std::time::Duration;

use cronium_store::{
    now_unix, Actor, AuditEntry, Execution, ExecutionReport, ExecutionSummary, Finish,
    NewExecution, SealedCredential, Store, StoreError, OUTCOMES,
};
use cronium_tools::{CallBody, Tool, ToolEngine};

use crate::auth::{AuthConfigError, Authenticator, Scopes};
use crate::config::CoreConfig;
use crate::error::ApiError;
use cronium_protocol::ErrorCode;

/// Why an admin call failed. Messages say what to do; they never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request itself is wrong (a bad key, an invalid credential configuration, the
    /// token keys of the configuration); the CLI exits 2.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Anything else: storage, minting, an endpoint.
    #[error("{0}")]
    Failed(String),
    /// The execution is finished already; nothing changed. Code
    /// [`ErrorCode::ExecutionFinished`] (the CLI exits 2).
    #[error("{0}")]
    Finished(String),
    /// An execution with the id exists with a different spec; nothing changed. Code
    /// [`ErrorCode::ExecutionConflict`] (the CLI exits 2).
    #[error("{0}")]
    Conflict(String),
}

impl AdminError {
    /// The stable code of the error, for answers that carry one; `None` where the API
    /// has no code of its own yet.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AdminError::Finished(_) => Some(ErrorCode::ExecutionFinished),
            AdminError::Conflict(_) => Some(ErrorCode::ExecutionConflict),
            _ => None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<AuthConfigError> for AdminError {
    fn from(e: AuthConfigError) -> Self {
        Self::Invalid(format!("token keys: {e}"))
    }
}

/// A created execution and its first token.
#[derive(Debug)]
pub struct Created {
    /// The execution.
    pub execution: Execution,
    /// Its first token (a secret: show it only to whoever asked).
    pub token: String,
}

/// What [`Admin::register_execution`] did.
#[derive(Debug)]
pub struct Registered {
    /// The execution and a fresh token for it.
    pub created: Created,
    /// `false` when the execution existed already with the same spec (a retried create,
    /// a restarted sidecar): nothing was written but the token is new.
    pub new: bool,
}

/// Which executions [`Admin::list_executions_page`] lists.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Only executions in this status (`expired` is derived from the lifetime).
    pub status: Option<cronium_store::ExecutionStatus>,
    /// Only this user's.
    pub user: Option<String>,
    /// Only executions listed after this one (the `nextCursor` of the previous page).
    pub cursor: Option<String>,
}

/// One page of executions, newest first.
#[derive(Debug)]
pub struct Page {
    /// The executions.
    pub items: Vec<ExecutionSummary>,
    /// Pass as [`ListFilter::cursor`] for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// How many executions a filtered listing looks at, at most: the store lists newest first
/// without filters, so filters and cursors are applied here.
pub const LIST_SCAN_LIMIT: u32 = 100_000;

/// An execution with what its script did.
#[derive(Debug)]
pub struct ExecutionView {
    /// Execution, output, condition, stream totals.
    pub report: ExecutionReport,
    /// Its audit log, oldest first.
    pub audit: Vec<AuditEntry>,
    /// The last records of its output stream (at most [`OUTPUT_TAIL_RECORDS`]), oldest
    /// first; empty when there are none or the stream is longer than
    /// [`OUTPUT_TAIL_MAX_BYTES`] (reading it all to show a tail would cost too much).
    pub output_tail: Vec<String>,
}

/// How many output-stream records `executions show` prints.
pub const OUTPUT_TAIL_RECORDS: usize = 5;
/// The longest output stream whose tail `executions show` reads.
pub const OUTPUT_TAIL_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// A stored credential as listed: where it points, never a secret.
#[derive(Debug)]
pub struct CredentialView {
    /// The stored row (its `sealed` bytes are opaque).
    pub row: SealedCredential,
    /// Where it points (`(cannot open: ...)`, `(removed)` or `(unknown tool)` when it
    /// cannot say).
    pub target: String,
}

/// What a credential test did.
#[derive(Debug)]
pub enum TestOutcome {
    /// The endpoint answered (what it said, scrubbed).
    Reached(String),
    /// The action ran; its result JSON.
    Ran(String),
}

/// The service over one configuration's store.
#[derive(Debug)]
pub struct Admin<'a> {
    core: &'a CoreConfig,
    store: Arc<dyn Store>,
}

/// The writer of admin changes in the audit log.
fn actor(user: &str) -> Actor<'_> {
    Actor {
        execution_id: "admin",
        user_id: user,
    }
}

impl<'a> Admin<'a> {
    /// Opens the store of the configuration. Token keys and the tool engine are built only
    /// by the calls that need them, so a bad key setting does not stop variable commands.
    pub fn open(core: &'a CoreConfig) -> Result<Self, AdminError> {
        Ok(Self {
            core,
            store: crate::open_store(core)?,
        })
    }

    /// The service over a store already open (a running sidecar's admin API shares its
    /// store, so its writes reach the script API without the change-log poller).
    pub fn with_store(core: &'a CoreConfig, store: Arc<dyn Store>) -> Self {
        Self { core, store }
    }

    /// The store, for bulk loads (input streams) that read files the caller owns.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The lifetime of a minted token when the caller gives none.
    pub fn token_ttl(&self) -> Duration {
        self.core.token_ttl
    }

    fn auth(&self) -> Result<Arc<Authenticator>, AdminError> {
        Ok(crate::authenticator(self.core)?)
    }

    /// The authenticator, refused unless it can mint: checked before anything is written, so
    /// a verify-only configuration does not leave an execution behind without a token.
    fn minting_auth(&self) -> Result<Arc<Authenticator>, AdminError> {
        let auth = self.auth()?;
        if !auth.can_mint() {
            return Err(AdminError::Invalid(
                "no signing key is configured: these token keys can verify tokens but not mint \
                 them. Add a key that can sign to the configuration, an [[auth.keys]] entry with \
                 alg = \"EdDSA\" and private_key_file (or alg = \"HS256\" and secret_file), and \
                 name it with signing_kid under [auth]; or set CRONIUM_TOKEN_SECRET_FILE"
                    .into(),
            ));
        }
        Ok(auth)
    }

    fn engine(&self) -> Result<Arc<ToolEngine>, AdminError> {
        crate::tools_engine(self.core).map_err(AdminError::Failed)
    }

    /// Creates an execution whose tokens live at most `lifetime`, and mints its first token
    /// (default scopes: all).
    pub async fn create_execution(
        &self,
        mut new: NewExecution,
        lifetime: Duration,
        scopes: Option<Scopes>,
    ) -> Result<Created, AdminError> {
        let auth = self.minting_auth()?;
        if let Some(id) = &new.id {
            // The id travels in the compatibility paths (`/executions/{id}/...`): the key
            // rule keeps it one plain path segment.
            cronium_protocol::validate_key(id).map_err(|_| {
                AdminError::Invalid(format!(
                    "execution id {id:?} must be 1 to 256 characters of A-Z a-z 0-9 _ . : -"
                ))
            })?;
            if self.store.execution(id).await?.is_some() {
                return Err(AdminError::Invalid(format!(
                    "execution {id} exists already; see `cronium executions show {id}`"
                )));
            }
        }
        new.expires_at = now_unix() + lifetime.as_secs() as i64;
        let (execution, token) = crate::create_execution(
            self.store.as_ref(),
            &auth,
            &new,
            self.core.token_ttl,
            scopes,
        )
        .await
        .map_err(|e| AdminError::Failed(e.message))?;
        Ok(Created { execution, token })
    }

    /// Creates an execution, or, when one with the same id exists with the same spec
    /// (user, event, type, job, trigger, step, attempt, input, context), mints a fresh
    /// token for it: the orchestrator's job id is the idempotency key, so a retried call
    /// or a restarted per-job sidecar gets the same execution. A different spec is
    /// [`AdminError::Conflict`]; a finished one [`AdminError::Finished`]; nothing is
    /// written either way.
    pub async fn register_execution(
        &self,
        new: NewExecution,
        lifetime: Duration,
        scopes: Option<Scopes>,
    ) -> Result<Registered, AdminError> {
        if let Some(id) = &new.id {
            if let Some(existing) = self.store.execution(id).await? {
                return self.reuse(existing, &new, scopes).await;
            }
        }
        match self.create_execution(new.clone(), lifetime, scopes).await {
            Ok(created) => Ok(Registered { created, new: true }),
            Err(e) => {
                // A concurrent create of the same id won the race: answer as a retry would.
                if let Some(id) = &new.id {
                    if let Some(existing) = self.store.execution(id).await? {
                        return self.reuse(existing, &new, scopes).await;
                    }
                }
                Err(e)
            }
        }
    }

    /// The idempotent answer for an execution that exists: a fresh token when the spec is
    /// the same, else a conflict.
    async fn reuse(
        &self,
        existing: Execution,
        new: &NewExecution,
        scopes: Option<Scopes>,
    ) -> Result<Registered, AdminError> {
        let id = existing.id.clone();
        if let Some(field) = differs(&existing, new) {
            return Err(AdminError::Conflict(format!(
                "execution {id} exists with another {field}; nothing changed. Use a new id, \
                 or the same spec to get a fresh token [{}]",
                ErrorCode::ExecutionConflict
            )));
        }
        let token = self.mint_token(&id, None, scopes).await?;
        Ok(Registered {
            created: Created {
                execution: existing,
                token,
            },
            new: false,
        })
    }

    /// One page of executions, newest first, filtered.
    pub async fn list_executions_page(
        &self,
        filter: &ListFilter,
        limit: u32,
    ) -> Result<Page, AdminError> {
        let now = now_unix();
        let limit = limit.clamp(1, 1000) as usize;
        let mut items: Vec<ExecutionSummary> = self
            .store
            .list_executions(LIST_SCAN_LIMIT)
            .await?
            .into_iter()
            // Newest first by id: the cursor is the last id of the previous page.
            .filter(|e| filter.cursor.as_deref().is_none_or(|c| e.id.as_str() < c))
            .filter(|e| filter.user.as_deref().is_none_or(|u| e.user_id == u))
            .filter(|e| filter.status.is_none_or(|s| e.status_at(now) == s))
            .take(limit + 1)
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// An execution with its report and audit log.
    pub async fn show_execution(&self, id: &str) -> Result<ExecutionView, AdminError> {
        let report = self.store.execution_report(id).await?.ok_or_else(|| {
            AdminError::NotFound(format!("no execution {id}; see `cronium executions list`"))
        })?;
        let audit = self.store.audit_log(id).await?;
        let mut output_tail = std::collections::VecDeque::new();
        if report.output_stream.bytes <= OUTPUT_TAIL_MAX_BYTES {
            let mut after = 0;
            while let Some((pos, block)) = self.store.output_stream_block(id, after).await? {
                for line in String::from_utf8_lossy(&block).lines() {
                    if output_tail.len() == OUTPUT_TAIL_RECORDS {
                        output_tail.pop_front();
                    }
                    output_tail.push_back(line.to_owned());
                }
                after = pos;
            }
        }
        Ok(ExecutionView {
            report,
            audit,
            output_tail: output_tail.into(),
        })
    }

    /// Finishes an execution: from then on every sidecar on the store refuses its tokens
    /// (`410 execution_finished`) and ends its watches. `outcome` is one of
    /// [`OUTCOMES`]; without it, `succeeded` when the exit code is 0 or absent, else
    /// `failed`. Finishing twice is [`AdminError::Finished`] and changes nothing.
    pub async fn finish_execution(
        &self,
        id: &str,
        outcome: Option<&str>,
        exit_code: Option<i32>,
    ) -> Result<Execution, AdminError> {
        let outcome = match outcome {
            Some(o) if OUTCOMES.contains(&o) => o,
            Some(o) => {
                return Err(AdminError::Invalid(format!(
                    "status {o:?} is not one of {}",
                    OUTCOMES.join(", ")
                )))
            }
            None if exit_code.unwrap_or(0) == 0 => "succeeded",
            None => "failed",
        };
        match self.store.finish_execution(id, outcome, exit_code).await {
            Ok(Finish::Finished(e)) => Ok(e),
            Ok(Finish::AlreadyFinished(e)) => Err(AdminError::Finished(format!(
                "execution {id} was finished already ({}{}, at {}); nothing changed [{}]",
                e.outcome.as_deref().unwrap_or("-"),
                e.exit_code
                    .map_or(String::new(), |c| format!(", exit code {c}")),
                e.finished_at.as_deref().unwrap_or("-"),
                ErrorCode::ExecutionFinished
            ))),
            Err(StoreError::NotFound(_)) => Err(AdminError::NotFound(format!(
                "no execution {id}; see `cronium executions list`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The most recent executions, newest first.
    pub async fn list_executions(&self, limit: u32) -> Result<Vec<ExecutionSummary>, AdminError> {
        Ok(self.store.list_executions(limit).await?)
    }

    /// The block of an execution's output stream after position `after` (0: the first),
    /// with its position; `None` at the end.
    pub async fn output_stream_block(
        &self,
        id: &str,
        after: i64,
    ) -> Result<Option<(i64, Vec<u8>)>, AdminError> {
        Ok(self.store.output_stream_block(id, after).await?)
    }

    /// Mints a token for an existing execution (lifetime: `ttl`, else the configured token
    /// TTL; never past the execution's own maximum).
    pub async fn mint_token(
        &self,
        execution_id: &str,
        ttl: Option<Duration>,
        scopes: Option<Scopes>,
    ) -> Result<String, AdminError> {
        let auth = self.minting_auth()?;
        let e = self
            .store
            .execution(execution_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no execution {execution_id}")))?;
        if e.status == cronium_store::ExecutionStatus::Finished {
            return Err(AdminError::Finished(format!(
                "execution {execution_id} is finished: its tokens would be refused; no token \
                 was minted [{}]",
                ErrorCode::ExecutionFinished
            )));
        }
        crate::mint_for(&auth, &e, ttl.unwrap_or(self.core.token_ttl), scopes)
            .map_err(|e| AdminError::Failed(e.to_string()))
    }

    /// Checks a variable key the way the API does (callers that parse more than the key
    /// check it first, so a bad key is the error they report).
    pub fn check_key(&self, key: &str) -> Result<(), AdminError> {
        check_key(key)
    }

    /// A user's variable keys.
    pub async fn variable_keys(&self, user: &str) -> Result<Vec<String>, AdminError> {
        Ok(self.store.variable_keys(user).await?)
    }

    /// A variable's value (JSON text).
    pub async fn variable(&self, user: &str, key: &str) -> Result<String, AdminError> {
        check_key(key)?;
        let v = self.store.variable(user, key).await?.ok_or_else(|| {
            AdminError::NotFound(format!("no variable {key:?} for user {user:?}"))
        })?;
        Ok(v.value)
    }

    /// Sets a variable to `value` (compact JSON text, checked by the caller); returns its new
    /// version.
    pub async fn set_variable(
        &self,
        user: &str,
        key: &str,
        value: &str,
    ) -> Result<u64, AdminError> {
        check_key(key)?;
        let c = self
            .store
            .set_variable(actor(user), key, value, None)
            .await?;
        Ok(c.version.unwrap_or(0))
    }

    /// Deletes a variable; `false` when there was none.
    pub async fn delete_variable(&self, user: &str, key: &str) -> Result<bool, AdminError> {
        check_key(key)?;
        let gone = self.store.delete_variable(actor(user), key, None).await?;
        Ok(gone.is_some())
    }

    /// Adds (or replaces) a user's credential; returns whether it replaced one, and a
    /// warning for the operator (e.g. plain-text transport).
    pub async fn add_credential(
        &self,
        user: &str,
        tool: Tool,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<(bool, Option<String>), AdminError> {
        let engine = self.engine()?;
        engine
            .add_credential(self.store.as_ref(), actor(user), tool, name, config)
            .await
            .map_err(|e| AdminError::Invalid(format!("{} credential {name:?}: {e}", tool.as_str())))
    }

    /// Credentials (every user's without `user`), each with where it points.
    pub async fn list_credentials(
        &self,
        user: Option<&str>,
    ) -> Result<Vec<CredentialView>, AdminError> {
        let engine = self.engine()?;
        let rows = self.store.list_credentials(user).await?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in rows {
            let target = match Tool::parse(&row.tool) {
                Some(tool) => match self
                    .store
                    .credential(&row.user_id, &row.tool, &row.name)
                    .await?
                {
                    Some(sealed) => match engine.open(&sealed, tool) {
                        Ok(c) => c.describe(),
                        Err(e) => format!("(cannot open: {e})"),
                    },
                    None => "(removed)".into(),
                },
                None => "(unknown tool)".into(),
            };
            listed.push(CredentialView { row, target });
        }
        Ok(listed)
    }

    /// Removes a user's credential.
    pub async fn remove_credential(
        &self,
        user: &str,
        tool: Tool,
        name: &str,
    ) -> Result<(), AdminError> {
        self.engine()?;
        let gone = self
            .store
            .delete_credential(actor(user), tool.as_str(), name)
            .await?;
        if gone {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!(
                "user {user:?} has no {} credential {name:?}; see `cronium tools list --user {user}`",
                tool.as_str()
            )))
        }
    }

    /// Checks a credential without sending anything, or with `params` (a JSON value) runs
    /// `action` (default: the tool's only action) for real.
    pub async fn test_credential(
        &self,
        user: &str,
        tool: Tool,
        name: &str,
        action: Option<&str>,
        params: Option<serde_json::Value>,
    ) -> Result<TestOutcome, AdminError> {
        let engine = self.engine()?;
        let cred = engine
            .credential(self.store.as_ref(), user, tool, name)
            .await
            .map_err(|e| AdminError::Failed(ApiError::from(e).message))?;
        let Some(params) = params else {
            let ok = engine.probe(&cred).await.map_err(AdminError::Failed)?;
            return Ok(TestOutcome::Reached(ok));
        };
        // A tool with one action runs it unless the caller names one; a tool with several
        // needs --action, so a test never guesses which call to make for real.
        let mut actions = tool.actions();
        let default_action = match (actions.next(), actions.next()) {
            (Some(only), None) => only.as_str(),
            _ if action.is_none() => {
                return Err(AdminError::Invalid(format!(
                    "{tool} has several actions; name one with --action ({})",
                    tool.actions()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            _ => "",
        };
        let call = cronium_tools::parse_call(CallBody {
            tool: tool.as_str().to_owned(),
            action: action.unwrap_or(default_action).to_owned(),
            params: Some(params),
            config: None,
            credential: Some(name.to_owned()),
        })
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let reply = engine
            .execute(self.store.as_ref(), actor(user), &call, None)
            .await
            .map_err(|e| {
                let e = ApiError::from(e);
                AdminError::Failed(format!("{}: {}", e.code, e.message))
            })?;
        Ok(TestOutcome::Ran(reply.result))
    }
}

/// The first field in which a stored execution differs from a create request for the same
/// id, if any. The event id counts only when the request names one (else it is generated).
fn differs(e: &Execution, new: &NewExecution) -> Option<&'static str> {
    let json_eq = |a: Option<&str>, b: Option<&str>| {
        // Absent reads back as `null`, and JSON is compared as values (spacing, key order).
        let parse = |t: Option<&str>| {
            t.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        parse(a) == parse(b)
    };
    if e.user_id != new.user_id {
        return Some("user");
    }
    if !new.event_id.is_empty() && e.event_id != new.event_id {
        return Some("event id");
    }
    if e.event_name != new.event_name {
        return Some("event");
    }
    if e.event_type != new.event_type {
        return Some("event type");
    }
    if e.job_id != new.job_id {
        return Some("job id");
    }
    if new.trigger.as_deref().is_some_and(|t| t != e.trigger) {
        return Some("trigger");
    }
    if e.workflow_step != new.workflow_step {
        return Some("workflow step");
    }
    if e.attempt != new.attempt {
        return Some("attempt");
    }
    if !json_eq(e.input.as_deref(), new.input.as_deref()) {
        return Some("input");
    }
    if !json_eq(e.context.as_deref(), new.context.as_deref()) {
        return Some("context");
    }
    None
}

fn check_key(key: &str) -> Result<(), AdminError> {
    cronium_protocol::validate_key(key)
        .map_err(|_| AdminError::Invalid(format!("{key:?}: {}", cronium_protocol::key::KEY_RULE)))
}
