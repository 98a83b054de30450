//! `GET /v1/input` and `GET /v1/input/stream`.

use super::*;

/// `GET /v1/input`: the execution's input, enveloped or bare.
pub(super) fn get<B>(caller: &Caller, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    if wants_raw(caller, req)? {
        return Ok(json_response(
            StatusCode::OK,
            caller.entry.input.get().to_owned(),
        ));
    }
    Ok(data(&caller.entry.input))
}

/// `GET /v1/input/stream`.
pub(super) fn stream(state: &Arc<AppState>, caller: &Caller) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    Ok(input_stream(state, caller))
}

/// The input stream, read block by block from the store as the client consumes it, so a
/// stream larger than memory flows with constant memory.
fn input_stream(state: &Arc<AppState>, caller: &Caller) -> Response<Body> {
    let state = Arc::clone(state);
    let id = caller.entry.execution.id.clone();
    let stream = futures_util::stream::unfold(0i64, move |after| {
        let state = Arc::clone(&state);
        let id = id.clone();
        async move {
            match state
                .timed(state.store.input_stream_block(&id, after))
                .await
            {
                Ok(Some((pos, bytes))) => Some((Ok(Frame::data(Bytes::from(bytes))), pos)),
                Ok(None) => None,
                // Ending with an error aborts the chunked body, so the client sees a failure,
                // not a silently short stream.
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), i64::MAX)),
            }
        }
    });
    stream_response("application/x-ndjson", Box::pin(stream))
}
