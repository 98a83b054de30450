//! Operations routes, no token needed: `/health`, `/ready`, `/metrics`, `/openapi.json`.

use super::*;
use cronium_protocol::wire::Status;
use cronium_store::StoreError;

/// The OpenAPI document of the v1 API, committed beside the code and served as is.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Answers an operations route (its method already checked), or `None` for any other
/// route.
pub(super) async fn answer(
    state: &AppState,
    route: &Route<'_>,
) -> Option<Result<Response<Body>, ApiError>> {
    Some(match route {
        Route::Health => Ok(status("ok")),
        // Ready means a write would succeed now (the store's `ping` is a write probe), and
        // the 503 says why not: an operator reading a failed probe needs the reason, and
        // the store's reasons name no secret (no URL, no password).
        Route::Ready => match state.timed(state.store.ping()).await {
            Ok(()) => Ok(status("ready")),
            Err(StoreError::Unavailable(reason)) => {
                tracing::warn!(%reason, "not ready: storage refuses writes");
                Err(ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        ErrorCode::StorageUnavailable,
                        format!("storage is unavailable: {reason}"),
                    )
                })
            }
            Err(e) => Err(e.into()),
        },
        Route::Metrics => Ok(response(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            state.metrics.render(),
        )),
        Route::OpenApi => Ok(response(StatusCode::OK, "application/json", OPENAPI)),
        _ => return None,
    })
}

/// `{"status": ...}` of `/health` and `/ready`.
fn status(status: &str) -> Response<Body> {
    json_response(
        StatusCode::OK,
        to_json(&Status {
            status: status.to_owned(),
        }),
    )
}
