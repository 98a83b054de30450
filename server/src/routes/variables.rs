//! `/v1/variables`: list, read, compare-and-set write, delete and watch a user's variables.

use super::*;
use cronium_protocol::wire::{ValueBody, Variable, VariableChange, VariableDeleted, VariableMeta};

/// Keep-alive comment interval of the watch stream, so proxies and clients see it is alive.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// `GET /v1/variables`: the user's keys.
pub(super) async fn list(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    let keys = state
        .timed(state.store.variable_keys(caller.user()))
        .await?;
    Ok(data(&keys))
}

/// `GET /v1/variables/{key}`, enveloped or bare, with its version as `ETag`.
pub(super) async fn get<B>(
    state: &AppState,
    caller: &Caller,
    req: &Request<B>,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    let entry = state
        .variable(caller.user(), key)
        .await?
        .ok_or_else(|| variable_not_found(key))?;
    let answer = entry.answer(read_answer);
    let mut resp = if wants_raw(caller, req)? {
        response(StatusCode::OK, "application/json", answer.value.clone())
    } else {
        let envelope = answer.envelope.clone().ok_or_else(stored_not_json)?;
        response(StatusCode::OK, "application/json", envelope)
    };
    if let Some(etag) = &answer.etag {
        resp.headers_mut().insert(header::ETAG, etag.clone());
    }
    Ok(resp)
}

/// The answers to a read of `var`, built once per cached value: the envelope exactly as
/// [`data`] writes it, the bare value, the `ETag`.
fn read_answer(var: &cronium_store::Variable) -> crate::state::ReadAnswer {
    let envelope = raw(&var.value).ok().map(|value| {
        Bytes::from(to_json(&Envelope {
            data: &Variable {
                key: var.key.clone(),
                value,
                version: var.version,
                updated_at: var.updated_at.clone(),
            },
        }))
    });
    crate::state::ReadAnswer {
        envelope,
        value: Bytes::copy_from_slice(var.value.as_bytes()),
        etag: etag(var.version),
    }
}

/// `PUT /v1/variables/{key}` (`If-Match`: compare-and-set).
pub(super) async fn put<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
    key: &str,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let if_version = if_match(req.headers())?;
    let (version, updated_at) = write(state, caller, req, key, if_version).await?;
    let mut resp = data(&VariableMeta {
        key: key.to_owned(),
        version,
        updated_at,
    });
    set_etag(&mut resp, version);
    Ok(resp)
}

/// `DELETE /v1/variables/{key}` (`If-Match`: compare-and-delete).
pub(super) async fn delete<B>(
    state: &AppState,
    caller: &Caller,
    req: &Request<B>,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    let if_version = if_match(req.headers())?;
    let change = state
        .timed(state.store.delete_variable(caller.actor(), key, if_version))
        .await?;
    let deleted = change.is_some();
    if let Some(change) = change {
        state.publish(change);
    }
    Ok(data(&VariableDeleted {
        key: key.to_owned(),
        deleted,
    }))
}

/// `GET /v1/variables/{key}/watch`: server-sent events.
pub(super) fn watch_key(
    state: &Arc<AppState>,
    caller: &Caller,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    Ok(watch(
        state,
        caller.entry.execution.id.clone(),
        caller.user().to_owned(),
        key.to_owned(),
    ))
}

/// `{"value": any}` → the user's variable `key` (compare-and-set with `if_version`), then
/// the cache and watchers; returns the new version and time.
pub(super) async fn write<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
    key: &str,
    if_version: Option<u64>,
) -> Result<(u64, String), ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require_scope()?;
    let body = read_body(state, req).await?;
    let v: ValueBody<&RawValue> = parse_json(&body)?;
    let value = compact_json(v.value.get());
    let change = state
        .timed(
            state
                .store
                .set_variable(caller.actor(), key, &value, if_version),
        )
        .await?;
    let out = (change.version.unwrap_or(0), change.updated_at.clone());
    state.publish(change);
    Ok(out)
}

fn variable_not_found(key: &str) -> ApiError {
    ApiError::new(
        ErrorCode::VariableNotFound,
        format!("no variable {key:?} for this user"),
    )
}

fn etag(version: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{version}\"")).ok()
}

fn set_etag(resp: &mut Response<Body>, version: u64) {
    if let Some(v) = etag(version) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

/// `If-Match: 3` or `If-Match: "3"`: 1 to 19 digits (every `i64` version fits, and no
/// text of that length overflows), bare or in one pair of quotes. openapi.json's
/// `IfMatch` pattern says exactly this, so a value is refused here only if the spec
/// refuses it too.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    parse_version(v.as_bytes()).map(Some).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidHeader,
            "If-Match must be a variable version such as 3 or \"3\" (0 = must not exist)",
        )
    })
}

fn parse_version(v: &[u8]) -> Option<u64> {
    // The optional whitespace around a field value (RFC 9110): spaces and tabs only.
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    let v = &v[start..end];
    let digits = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    };
    if !(1..=19).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Server-sent events for one key of one user: each change after the request, in `seq`
/// order. A watcher that falls behind the hub gets the current value instead of the changes
/// it missed. The stream ends when the watching execution is finished.
fn watch(state: &Arc<AppState>, execution: String, user: String, key: String) -> Response<Body> {
    struct W {
        state: Arc<AppState>,
        rx: tokio::sync::broadcast::Receiver<Arc<cronium_store::VariableChange>>,
        execution: String,
        user: String,
        key: String,
        last_seq: i64,
        keepalive: tokio::time::Interval,
        first: bool,
    }
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Start after everything published so far: the poller replays this sidecar's own
    // writes from the change log, and a write made just before the request is not news.
    let (rx, last_seq) = state.subscribe_changes();
    let w = W {
        rx,
        state: Arc::clone(state),
        execution,
        user,
        key,
        last_seq,
        keepalive,
        first: true,
    };
    let stream = futures_util::stream::unfold(w, |mut w| async move {
        if w.first {
            // An initial comment makes the response headers and first bytes flow at once,
            // so a client knows the subscription is live before any change.
            w.first = false;
            w.keepalive.reset();
            return Some((Ok(Frame::data(Bytes::from_static(b": watching\n\n"))), w));
        }
        loop {
            tokio::select! {
                _ = w.state.shutdown.cancelled() => return None,
                _ = w.keepalive.tick() => {
                    return Some((Ok(Frame::data(Bytes::from_static(b": keep-alive\n\n"))), w));
                }
                msg = w.rx.recv() => match msg {
                    Ok(c) => {
                        if c.finished_execution.as_deref() == Some(w.execution.as_str()) {
                            return None;
                        }
                        if c.user_id != w.user || c.key != w.key || c.seq <= w.last_seq {
                            continue;
                        }
                        w.last_seq = c.seq;
                        return Some((Ok(Frame::data(sse_event(&c))), w));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // The finish may be among the changes missed.
                        if w.state.seen_finished(&w.execution) {
                            return None;
                        }
                        let current = w.state.store.variable(&w.user, &w.key).await;
                        let Ok(current) = current else { continue };
                        let c = cronium_store::VariableChange {
                            seq: w.last_seq,
                            user_id: w.user.clone(),
                            key: w.key.clone(),
                            value: current.as_ref().map(|v| v.value.clone()),
                            version: current.as_ref().map(|v| v.version),
                            updated_at: current.map(|v| v.updated_at).unwrap_or_else(cronium_store::now_rfc3339),
                            finished_execution: None,
                        };
                        return Some((Ok(Frame::data(sse_event(&c))), w));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    });
    stream_response("text/event-stream", Box::pin(stream))
}

fn sse_event(c: &cronium_store::VariableChange) -> Bytes {
    // A stored value that does not parse (a store edited by hand) is sent as a delete
    // would be, rather than breaking the stream.
    let value = c
        .value
        .as_deref()
        .and_then(|v| serde_json::from_str::<&RawValue>(v).ok());
    let change = VariableChange {
        key: c.key.clone(),
        value,
        version: c.version,
        updated_at: c.updated_at.clone(),
        deleted: c.value.is_none(),
    };
    Bytes::from(format!(
        "id: {}\nevent: change\ndata: {}\n\n",
        c.seq,
        to_json(&change)
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn if_match_takes_exactly_what_the_spec_pattern_does() {
        for (text, want) in [
            ("3", Some(3)),
            ("\"3\"", Some(3)),
            (" \t\"0\" ", Some(0)),
            ("0007", Some(7)),
            ("9999999999999999999", Some(9_999_999_999_999_999_999)),
            // Found by schemathesis: one quote, and more digits than a u64 holds.
            ("399402687314537113041625625657213\"", None),
            ("\"3", None),
            ("3\"", None),
            ("\"\"", None),
            ("", None),
            ("12345678901234567890", None),
            ("W/\"3\"", None),
            ("-1", None),
            ("+3", None),
            ("3 4", None),
            ("\"3 \"", None),
        ] {
            assert_eq!(parse_version(text.as_bytes()), want, "{text:?}");
        }
    }
}
