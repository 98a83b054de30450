//! `POST /v1/token/refresh`: a fresh token for the caller's execution.

use super::*;
use cronium_protocol::wire::TokenRefresh;

/// Mints a token with the caller's scopes, never past the execution's maximum lifetime.
pub(super) async fn refresh(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let now = now_unix();
    let e = &caller.entry.execution;
    let expires_at = (now + state.token_ttl.as_secs() as i64).min(e.expires_at);
    if expires_at <= now {
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            "the execution has reached its maximum lifetime; no further token can be issued",
        ));
    }
    let token = state.auth.mint(&MintRequest {
        execution_id: e.id.clone(),
        user_id: e.user_id.clone(),
        event_id: e.event_id.clone(),
        job_id: e.job_id.clone(),
        scopes: Some(caller.principal.scopes),
        expires_at,
        not_before: None,
    })?;
    state
        .timed(state.store.audit(caller.actor(), "token.refresh", ""))
        .await?;
    Ok(data(&TokenRefresh { token, expires_at }))
}
