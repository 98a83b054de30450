//! The Cronium runtime sidecar.
//!
//! A script talks to the platform through one authenticated HTTP API served on a Unix socket
//! (TCP for SSH hosts). This crate is that service (`cronium serve`), the admin commands the
//! orchestrator and the tests use, and the building blocks the local runner embeds:
//!
//! - [`auth`]: execution tokens (JWT, HS256/EdDSA, key rotation, scopes);
//! - [`store`]: the storage trait and the embedded SQLite store;
//! - [`state`]: the shared state with the per-execution cache and the change hub;
//! - [`routes`]: the HTTP API itself, callable without a socket;
//! - [`server`]: listeners, connection cap, graceful shutdown;
//! - [`tools`]: tool actions (Slack, Discord, webhook, email) with sealed credentials;
//! - [`config`]: flags, environment and file;
//! - [`run`]: `cronium run`, the local runner (in-process sidecar, isolation, SSH);
//! - [`cli`]: the `cronium` command.
//!
//! The wire contract is `docs/API.md`.

#![forbid(unsafe_code)]

pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod error;
pub mod jwt_crypto;
pub mod metrics;
pub mod routes;
pub mod run;
pub mod server;
pub mod settings;
pub mod state;
pub mod store;
pub mod tools;

use std::sync::Arc;

use config::{CoreConfig, Limits};
use state::AppState;
use store::{sqlite::SqliteStore, Execution, NewExecution, Store, StoreError};

/// Opens the store named by the configuration.
pub fn open_store(core: &CoreConfig) -> Result<Arc<dyn Store>, StoreError> {
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
pub fn tools_engine(core: &CoreConfig) -> Result<Arc<tools::ToolEngine>, String> {
    Ok(Arc::new(tools::ToolEngine::new(core.tools.clone())?))
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

/// Mints a token for an existing execution.
pub fn mint_for(
    auth: &auth::Authenticator,
    execution: &Execution,
    token_ttl: std::time::Duration,
    scopes: Option<auth::Scopes>,
) -> Result<String, auth::AuthError> {
    let expires_at = (store::now_unix() + token_ttl.as_secs() as i64).min(execution.expires_at);
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
