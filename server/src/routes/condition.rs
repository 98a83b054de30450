//! `GET`/`PUT /v1/condition`.

use super::*;
use cronium_protocol::wire::{Condition, ConditionState};

/// `GET /v1/condition`.
pub(super) async fn get(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    let c = state
        .timed(state.store.condition(&caller.entry.execution.id))
        .await?;
    Ok(data(&ConditionState { condition: c }))
}

/// `PUT /v1/condition`.
pub(super) async fn put<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let condition = write(state, caller, req).await?;
    Ok(data(&Condition { condition }))
}

/// `{"condition": bool}` → the execution's condition; returns it.
pub(super) async fn write<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<bool, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require_scope()?;
    let body = read_body(state, req).await?;
    let c: Condition = parse_json(&body)?;
    state
        .timed(state.store.set_condition(caller.actor(), c.condition))
        .await?;
    Ok(c.condition)
}
