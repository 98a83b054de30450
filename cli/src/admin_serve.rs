//! What `serve` adds for orchestrators: the admin API's listeners, the execution of
//! `--execution` registered at start, and `--exit-on-finish`.

use std::sync::Arc;
use std::time::Duration;

use cronium_protocol::ErrorCode;
use cronium_server::admin::Admin;
use cronium_server::admin_api::{self, AdminApi, AdminConfig, ExecutionSpec};
use cronium_server::config::CoreConfig;
use cronium_server::state::AppState;
use cronium_store::ExecutionStatus;

use crate::CliError;

/// How often `--exit-on-finish` looks at the execution's status. A finish by another
/// process reaches the store's row at once; this only bounds how late serve notices.
const FINISH_POLL: Duration = Duration::from_millis(200);

/// Registers the `--execution`, binds and starts the admin API, and watches for the
/// finish; the admin API's task (to await after the script API has drained) when it runs.
pub async fn start(
    state: &Arc<AppState>,
    core: &Arc<CoreConfig>,
    admin: Option<&AdminConfig>,
    execution: Option<&ExecutionSpec>,
    exit_on_finish: bool,
) -> Result<Option<tokio::task::JoinHandle<()>>, CliError> {
    // Bound before the execution is registered: an unusable admin socket stops the start
    // with nothing written (exit 2, like any other bad setting).
    let listeners = match admin {
        Some(cfg) => Some(admin_api::bind(cfg).await.map_err(|e| {
            CliError::usage(format!(
                "cannot serve the admin API on {}: {e}",
                cfg.socket.display()
            ))
        })?),
        None => None,
    };
    if let Some(spec) = execution {
        if let Err(e) = register(state, core, spec).await {
            if let Some(cfg) = admin {
                let _ = std::fs::remove_file(&cfg.socket);
            }
            return Err(e);
        }
        if exit_on_finish {
            let id = spec.id.clone().unwrap_or_default();
            tokio::spawn(exit_when_finished(state.clone(), id));
        }
    }
    let (Some(cfg), Some(listeners)) = (admin, listeners) else {
        return Ok(None);
    };
    let api = AdminApi::new(state.clone(), core.clone(), cfg.secret.clone());
    Ok(Some(tokio::spawn(admin_api::serve(api, listeners))))
}

/// Registers the execution through the admin service; its token is not printed (the
/// orchestrator mints its own, or asks the admin API for one).
async fn register(
    state: &Arc<AppState>,
    core: &Arc<CoreConfig>,
    spec: &ExecutionSpec,
) -> Result<(), CliError> {
    let admin = Admin::with_store(core, state.store.clone());
    let id = spec.id.as_deref().unwrap_or_default();
    match admin_api::register(&admin, spec).await {
        Ok(r) => {
            tracing::info!(
                execution = %r.created.execution.id,
                new = r.new,
                expires_at = r.created.execution.expires_at,
                "execution registered"
            );
            Ok(())
        }
        // A restarted sidecar of a finished job: nothing to serve, but not an error.
        Err(e) if e.code == ErrorCode::ExecutionFinished => {
            tracing::info!(execution = %id, "execution is finished already");
            Ok(())
        }
        Err(e) if e.status.is_client_error() => Err(CliError::usage(format!(
            "--execution: {} [{}]",
            e.message, e.code
        ))),
        Err(e) => Err(CliError::failed(format!("--execution: {}", e.message))),
    }
}

/// Ends the sidecar (as a signal would: drained, sockets removed, exit 0) once the
/// execution is finished.
async fn exit_when_finished(state: Arc<AppState>, id: String) {
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(FINISH_POLL) => {}
        }
        let finished = state.seen_finished(&id)
            || matches!(
                state.store.execution(&id).await,
                Ok(Some(e)) if e.status == ExecutionStatus::Finished
            );
        if finished {
            tracing::info!(execution = %id, "execution finished; exiting");
            state.shutdown.cancel();
            return;
        }
    }
}
