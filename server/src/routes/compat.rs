//! The routes of Cronium's Go runtime service (`/executions/{id}/...`): the same reads and
//! writes as v1, in its `{"success": true, "data": ...}` envelope, for the token's own
//! execution only.

use super::*;
use cronium_protocol::wire::CompatVariable;

/// Answers a compatibility route (the tool-actions one is [`super::tool_actions`]).
pub(super) async fn answer<B>(
    state: &Arc<AppState>,
    caller: &Caller,
    route: Route<'_>,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = req.method().clone();
    match route {
        Route::CompatInput(id) => {
            compat_check(caller, id)?;
            caller.require_scope()?;
            Ok(success(&caller.entry.input))
        }
        Route::CompatContext(id) => {
            compat_check(caller, id)?;
            caller.require_scope()?;
            Ok(success(&caller.entry.context))
        }
        Route::CompatOutput(id) => {
            compat_check(caller, id)?;
            output::write(state, caller, req).await?;
            Ok(success_empty())
        }
        Route::CompatCondition(id) => {
            compat_check(caller, id)?;
            condition::write(state, caller, req).await?;
            Ok(success_empty())
        }
        Route::CompatVariable(id, key) if method == Method::GET => {
            compat_check(caller, id)?;
            caller.require_scope()?;
            let var = state.variable(caller.user(), &key).await?;
            let value = raw(var.as_ref().map_or("null", |v| v.variable.value.as_str()))?;
            Ok(success(&CompatVariable {
                key: key.into_owned(),
                value,
            }))
        }
        Route::CompatVariable(id, key) => {
            compat_check(caller, id)?;
            variables::write(state, caller, req, &key, None).await?;
            Ok(success_empty())
        }
        _ => Err(ApiError::route_not_found("")),
    }
}

fn compat_check(caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.entry.execution.id == id {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ExecutionMismatch,
            "the path names another execution than the token's",
        ))
    }
}
