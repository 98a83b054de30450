//! `POST /v1/token/refresh`: a fresh token for the caller's execution.

use super::*;
use cronium_protocol::wire::TokenRefresh;

/// Mints a token with the caller's scopes, never past the execution's maximum lifetime.
/// The body is empty or `{}`: anything else is `400 invalid_body`, since a field sent
/// here (a wanted lifetime, other scopes) would otherwise be silently ignored.
pub(super) async fn refresh<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = read_body(state, req).await?;
    // No body at all, or a JSON object without fields. Blanks alone are not JSON: refused
    // like any other text that is not (schemathesis sent "\n", and openapi.json's schema
    // says an object).
    if !body.is_empty() {
        let fields: serde_json::Map<String, serde_json::Value> = parse_json(&body)?;
        if !fields.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "a refresh takes no body, or {}; the new token has the caller's scopes and the configured lifetime",
            ));
        }
    }
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
