//! `POST /v1/tool-actions/execute` and its compatibility route; `GET /v1/tools`.

use super::*;

/// `POST /v1/tool-actions/execute` and its compatibility route (which answers
/// `{"success":true,"data":<result>}`); both take `params` or the older `config`.
pub(super) async fn execute<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
    family: Family,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require_scope()?;
    let Some(tools) = state.tools() else {
        // Only an embedding that never installed the engine gets here (`serve` and the
        // runner always do): a bug of that embedding, not of the caller, so `internal`.
        return Err(ApiError::new(
            ErrorCode::Internal,
            "this sidecar was started without tool actions",
        ));
    };
    let key = idempotency_key(req.headers())?;
    let body = read_body(state, req).await?;
    let call = parse_json::<CallBody>(&body)
        .and_then(|b| cronium_tools::parse_call(b).map_err(ApiError::from));
    let call = match call {
        Ok(c) => c,
        Err(e) => {
            tools
                .audit_rejected(state.store.as_ref(), caller.actor(), e.code)
                .await;
            return Err(e);
        }
    };
    let reply = tools
        .execute(state.store.as_ref(), caller.actor(), &call, key.as_deref())
        .await?;
    let result = raw(&reply.result)?;
    let mut resp = match family {
        Family::Compat => success(result),
        _ => data(result),
    };
    if reply.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// `GET /v1/tools`: the tools the token's user has credentials for, with the credentials'
/// names and the tools' actions; never a secret (nothing is opened). Sorted by tool, in
/// the registry's order, then by name.
pub(super) async fn list(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    let actor = caller.actor();
    let creds = state.store.list_credentials(Some(actor.user_id)).await?;
    let mut tools = Vec::new();
    for tool in cronium_tools::Tool::ALL {
        let mut names: Vec<&str> = creds
            .iter()
            .filter(|c| c.tool == tool.as_str())
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort_unstable();
        let actions: Vec<&str> = tool.actions().map(|a| a.as_str()).collect();
        tools.push(serde_json::json!({
            "tool": tool.as_str(),
            "credentials": names,
            "actions": actions,
        }));
    }
    Ok(data(&serde_json::json!({ "tools": tools })))
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidHeader,
            "Idempotency-Key must be 1 to 255 visible ASCII characters, e.g. a UUID",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_owned()))
}
