//! `GET /v1/context`: the event context of the execution.

use super::*;

/// `GET /v1/context`, enveloped or bare.
pub(super) fn get<B>(caller: &Caller, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    if wants_raw(caller, req)? {
        return Ok(json_response(
            StatusCode::OK,
            caller.entry.context.get().to_owned(),
        ));
    }
    Ok(data(&caller.entry.context))
}
