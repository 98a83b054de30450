//! The Cronium runtime server: the authenticated script API.
//!
//! A script talks to the platform through one authenticated HTTP API served on a Unix socket
//! (TCP for SSH hosts). This crate is that service, without a command line:
//!
//! - [`auth`]: execution tokens (JWT, HS256/EdDSA, key rotation, scopes);
//! - [`state`]: the shared state with the per-execution cache and the change hub;
//! - [`routes`]: the HTTP API itself, callable without a socket ([`routes::app`]);
//! - [`body`]: request bodies (size limit, JSON decoding and compaction);
//! - [`server`]: listeners, connection cap, graceful shutdown;
//! - [`tls`]: the TLS listener's certificates, reloaded on `SIGHUP`;
//! - [`config`]: the settings the parts are built from (the CLI reads them);
//! - [`admin`]: the operator's commands on executions, tokens and credentials, as plain
//!   data for any front end;
//! - [`admin_api`]: the same commands over HTTP for orchestrators, on a listener of its
//!   own with its own credential.
//!
//! Storage is `cronium-store`; tool actions are `cronium-tools`. The wire contract is
//! `docs/API.md`.

#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_api;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod jwt_crypto;
pub mod metrics;
pub mod retention;
pub mod routes;
pub mod server;
pub mod state;
pub mod tls;

use std::sync::Arc;

use config::{CoreConfig, Limits};
use cronium_store::{now_unix, sqlite::SqliteStore, Execution, NewExecution, Store, StoreError};
use state::AppState;

/// Opens the store named by the configuration: PostgreSQL when a database URL is set,
/// else the SQLite file. A PostgreSQL store connects and migrates on first use.
pub fn open_store(core: &CoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(pg) = &core.database {
        let store = cronium_store::postgres::PostgresStore::open(pg)?;
        tracing::debug!(database = store.target(), schema = %pg.schema, "PostgreSQL store");
        return Ok(Arc::new(store));
    }
    Ok(Arc::new(SqliteStore::open(&core.db_path, core.sync)?))
}

/// Builds the authenticator of the configuration.
pub fn authenticator(core: &CoreConfig) -> Result<Arc<auth::Authenticator>, auth::AuthConfigError> {
    Ok(Arc::new(auth::Authenticator::new(core.auth.clone())?))
}

/// Builds the application state, with the change-log poller running. Call inside a tokio
/// runtime.
pub fn app_state(
    store: Arc<dyn Store>,
    auth: Arc<auth::Authenticator>,
    limits: Limits,
    token_ttl: std::time::Duration,
) -> Arc<AppState> {
    let state = AppState::new(store, auth, limits, token_ttl);
    state.start_poller();
    state
}

/// Builds the tool-actions engine of the configuration; install it with
/// [`AppState::set_tools`] so `POST /v1/tool-actions/execute` can run.
pub fn tools_engine(core: &CoreConfig) -> Result<Arc<cronium_tools::ToolEngine>, String> {
    Ok(Arc::new(cronium_tools::ToolEngine::new(
        core.tools.clone(),
    )?))
}

/// Creates an execution and mints its first token (lifetime: the token TTL, capped by the
/// execution's own maximum lifetime).
pub async fn create_execution(
    store: &dyn Store,
    auth: &auth::Authenticator,
    new: &NewExecution,
    token_ttl: std::time::Duration,
    scopes: Option<auth::Scopes>,
) -> Result<(Execution, String), error::ApiError> {
    let execution = store.create_execution(new).await?;
    let token = mint_for(auth, &execution, token_ttl, scopes)?;
    Ok((execution, token))
}

/// When a token minted now with lifetime `token_ttl` expires: never past the execution's
/// own maximum lifetime.
pub fn token_expiry(execution: &Execution, token_ttl: std::time::Duration) -> i64 {
    (now_unix() + token_ttl.as_secs() as i64).min(execution.expires_at)
}

/// Mints a token for an existing execution.
pub fn mint_for(
    auth: &auth::Authenticator,
    execution: &Execution,
    token_ttl: std::time::Duration,
    scopes: Option<auth::Scopes>,
) -> Result<String, auth::AuthError> {
    let expires_at = token_expiry(execution, token_ttl);
    auth.mint(&auth::MintRequest {
        execution_id: execution.id.clone(),
        user_id: execution.user_id.clone(),
        event_id: execution.event_id.clone(),
        job_id: execution.job_id.clone(),
        scopes: Some(scopes.unwrap_or_else(auth::Scopes::all)),
        expires_at,
        not_before: None,
    })
}
