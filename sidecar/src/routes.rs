//! Request handling: routing, authentication, scopes, rate limits and every handler of the
//! v1 API and the Cronium compatibility routes.
//!
//! [`handle`] is generic over the request body so tests can drive the app without a socket;
//! [`crate::server`] puts it behind real Unix and TCP listeners.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Body as HttpBody, Frame};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::body::{check_content_type, compact_json, compact_json_bytes, parse_json, read_body};
use crate::auth::{bearer_token, AuthError, MintRequest, Principal, Scope};
use crate::error::ApiError;
use crate::state::{AppState, ExecEntry};
use crate::store::{now_unix, Actor};
use crate::tools::CallBody;

/// Response body: a full buffer or a stream (input stream, watch).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The OpenAPI document of the v1 API, committed beside the code and served as is.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Size of the blocks an output stream is committed in: large enough that the per-commit
/// cost vanishes in the throughput, small enough that a crash loses at most one block that
/// was never acknowledged.
const STREAM_BLOCK: usize = 256 * 1024;

/// Keep-alive comment interval of the watch stream, so proxies and clients see it is alive.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Which answer shape a route uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V1,
    Compat,
    Ops,
}

#[derive(Debug)]
enum Route<'a> {
    Health,
    Ready,
    Metrics,
    OpenApi,
    Input,
    InputStream,
    Output,
    OutputStream,
    Variables,
    Variable(Cow<'a, str>),
    VariableWatch(Cow<'a, str>),
    Condition,
    Context,
    TokenRefresh,
    ToolActions,
    CompatInput(&'a str),
    CompatOutput(&'a str),
    CompatVariable(&'a str, Cow<'a, str>),
    CompatCondition(&'a str),
    CompatContext(&'a str),
    CompatToolActions,
}

impl Route<'_> {
    /// Metric label; fixed strings so the label set stays small whatever paths arrive.
    fn name(&self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Ready => "ready",
            Route::Metrics => "metrics",
            Route::OpenApi => "openapi",
            Route::Input => "input",
            Route::InputStream => "input_stream",
            Route::Output => "output",
            Route::OutputStream => "output_stream",
            Route::Variables => "variables",
            Route::Variable(_) => "variable",
            Route::VariableWatch(_) => "variable_watch",
            Route::Condition => "condition",
            Route::Context => "context",
            Route::TokenRefresh => "token_refresh",
            Route::ToolActions => "tool_actions",
            Route::CompatInput(_) => "compat_input",
            Route::CompatOutput(_) => "compat_output",
            Route::CompatVariable(..) => "compat_variable",
            Route::CompatCondition(_) => "compat_condition",
            Route::CompatContext(_) => "compat_context",
            Route::CompatToolActions => "compat_tool_actions",
        }
    }

    fn family(&self) -> Family {
        match self {
            Route::Health | Route::Ready | Route::Metrics | Route::OpenApi => Family::Ops,
            Route::CompatInput(_)
            | Route::CompatOutput(_)
            | Route::CompatVariable(..)
            | Route::CompatCondition(_)
            | Route::CompatContext(_)
            | Route::CompatToolActions => Family::Compat,
            _ => Family::V1,
        }
    }
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let segs: [Option<&str>; 5] = std::array::from_fn(|_| parts.next());
    if parts.next().is_some() {
        return None;
    }
    Some(match segs {
        [Some("health"), None, ..] => Route::Health,
        [Some("ready"), None, ..] => Route::Ready,
        [Some("metrics"), None, ..] => Route::Metrics,
        [Some("openapi.json"), None, ..] => Route::OpenApi,
        [Some("v1"), Some("input"), None, ..] => Route::Input,
        [Some("v1"), Some("input"), Some("stream"), None, ..] => Route::InputStream,
        [Some("v1"), Some("output"), None, ..] => Route::Output,
        [Some("v1"), Some("output"), Some("stream"), None, ..] => Route::OutputStream,
        [Some("v1"), Some("variables"), None, ..] => Route::Variables,
        [Some("v1"), Some("variables"), Some(k), None, ..] => Route::Variable(decode(k)),
        [Some("v1"), Some("variables"), Some(k), Some("watch"), None] => {
            Route::VariableWatch(decode(k))
        }
        [Some("v1"), Some("condition"), None, ..] => Route::Condition,
        [Some("v1"), Some("context"), None, ..] => Route::Context,
        [Some("v1"), Some("token"), Some("refresh"), None, ..] => Route::TokenRefresh,
        [Some("v1"), Some("tool-actions"), Some("execute"), None, ..] => Route::ToolActions,
        [Some("executions"), Some(id), Some("input"), None, ..] => Route::CompatInput(id),
        [Some("executions"), Some(id), Some("output"), None, ..] => Route::CompatOutput(id),
        [Some("executions"), Some(id), Some("variables"), Some(k), None] => {
            Route::CompatVariable(id, decode(k))
        }
        [Some("executions"), Some(id), Some("condition"), None, ..] => Route::CompatCondition(id),
        [Some("executions"), Some(id), Some("context"), None, ..] => Route::CompatContext(id),
        [Some("tool-actions"), Some("execute"), None, ..] => Route::CompatToolActions,
        _ => return None,
    })
}

fn decode(seg: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        // Invalid UTF-8 cannot be a valid key; a replacement character makes validation fail.
        .unwrap_or(Cow::Borrowed("\u{FFFD}"))
}

/// Checks a variable key: 1–256 bytes of `[A-Za-z0-9_.:-]`.
pub fn validate_key(key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty()
        && key.len() <= 256
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_key",
            "a variable key is 1 to 256 characters of A-Z a-z 0-9 _ . : -",
        ))
    }
}

/// Answers one request. Never panics on input, never answers 5xx for a client mistake.
pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let start = Instant::now();
    let request_id = request_id(req.headers());
    let path = req.uri().path().to_owned();
    let route = parse_route(&path);
    let (name, family) = route
        .as_ref()
        .map_or(("unknown", Family::V1), |r| (r.name(), r.family()));
    let method = req.method().clone();
    let result = match route {
        Some(route) => dispatch(&state, route, req).await,
        None => Err(ApiError::route_not_found(&path)),
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&e, family),
    };
    let status = resp.status();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let took = start.elapsed();
    state.metrics.request(name, status.as_u16(), took);
    if status.is_server_error() {
        tracing::warn!(%request_id, %method, route = name, status = status.as_u16(), micros = took.as_micros() as u64, "request failed");
    } else {
        tracing::debug!(%request_id, %method, route = name, status = status.as_u16(), micros = took.as_micros() as u64, "request");
    }
    resp
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The caller's `x-request-id`, else the trace id of a W3C `traceparent`, else a new id.
fn request_id(headers: &HeaderMap) -> String {
    let usable =
        |v: &str| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic());
    if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        if usable(v) {
            return v.to_owned();
        }
    }
    if let Some(tp) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        let mut parts = tp.split('-');
        if let (Some(_version), Some(trace), Some(_span)) =
            (parts.next(), parts.next(), parts.next())
        {
            if trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()) {
                return trace.to_owned();
            }
        }
    }
    // The process id makes ids unique across sidecars; read once, it costs a syscall.
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PREFIX.get_or_init(std::process::id);
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{pid:08x}-{n}")
}

fn error_response(e: &ApiError, family: Family) -> Response<Body> {
    let body = match family {
        Family::Compat => e.compat_body(),
        _ => e.v1_body(),
    };
    let mut resp = json_response(e.status, body);
    for (k, v) in e.headers() {
        resp.headers_mut().insert(k, v);
    }
    resp
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    response(status, "application/json", body)
}

/// `{"data": <raw>}` without re-encoding the payload.
fn data(raw: &str) -> Response<Body> {
    let mut s = String::with_capacity(raw.len() + 9);
    s.push_str("{\"data\":");
    s.push_str(raw);
    s.push('}');
    json_response(StatusCode::OK, s)
}

fn success(raw: Option<&str>) -> Response<Body> {
    match raw {
        Some(raw) => json_response(
            StatusCode::OK,
            format!("{{\"success\":true,\"data\":{raw}}}"),
        ),
        None => json_response(StatusCode::OK, "{\"success\":true}".to_owned()),
    }
}

/// Whether the caller asked for the bare value (`?raw`, `?raw=1`, `Accept: text/plain`).
fn wants_raw<B>(req: &Request<B>) -> bool {
    let query = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|p| matches!(p, "raw" | "raw=1" | "raw=true"));
    query
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/plain"))
}

struct Caller {
    principal: Principal,
    entry: Arc<ExecEntry>,
}

impl Caller {
    fn actor(&self) -> Actor<'_> {
        Actor {
            execution_id: &self.entry.execution.id,
            user_id: &self.entry.execution.user_id,
        }
    }

    fn user(&self) -> &str {
        &self.entry.execution.user_id
    }

    fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.principal.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "scope_insufficient",
                format!("this token lacks the scope {}", scope.as_str()),
            ))
        }
    }
}

async fn authenticate<B>(state: &AppState, req: &Request<B>) -> Result<Caller, ApiError> {
    let token = match req.headers().get(header::AUTHORIZATION) {
        None => bearer_token(None)?,
        Some(v) => bearer_token(Some(v.to_str().map_err(|_| {
            AuthError::Malformed("the Authorization header is not ASCII".into())
        })?))?,
    };
    let principal = state.auth.verify(token)?;
    let entry = state.execution(&principal.execution_id).await?;
    if entry.execution.user_id != principal.user_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "execution_mismatch",
            "the token's user does not own its execution",
        ));
    }
    if let Err(wait) = entry.take(&state.limits) {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "this execution is over its limit of {} requests per second; retry after {wait} s",
                    state.limits.rate_per_sec
                ),
            )
        });
    }
    Ok(Caller { principal, entry })
}

fn compat_check(caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.entry.execution.id == id {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "execution_mismatch",
            "the path names another execution than the token's",
        ))
    }
}

async fn dispatch<B>(
    state: &Arc<AppState>,
    route: Route<'_>,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = req.method().clone();
    let allow = |a: &'static str| Err(ApiError::method_not_allowed(a));
    // Ops routes need no token.
    match (&route, &method) {
        (Route::Health, &Method::GET) => {
            return Ok(json_response(StatusCode::OK, r#"{"status":"ok"}"#.into()))
        }
        (Route::Ready, &Method::GET) => {
            return match state.timed(state.store.ping()).await {
                Ok(()) => Ok(json_response(
                    StatusCode::OK,
                    r#"{"status":"ready"}"#.into(),
                )),
                Err(e) => Err(e.into()),
            }
        }
        (Route::Metrics, &Method::GET) => {
            return Ok(response(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                state.metrics.render(),
            ))
        }
        (Route::OpenApi, &Method::GET) => {
            return Ok(response(StatusCode::OK, "application/json", OPENAPI))
        }
        (Route::Health | Route::Ready | Route::Metrics | Route::OpenApi, _) => return allow("GET"),
        _ => {}
    }
    // Method check before auth, so a wrong method is 405 whatever the token.
    let allowed: &'static str = match &route {
        Route::Input | Route::InputStream | Route::Context | Route::VariableWatch(_) => "GET",
        Route::Output | Route::Condition => "GET, PUT",
        Route::OutputStream | Route::TokenRefresh | Route::ToolActions => "POST",
        Route::Variables => "GET",
        Route::Variable(_) => "GET, PUT, DELETE",
        Route::CompatInput(_) | Route::CompatContext(_) => "GET",
        Route::CompatOutput(_) | Route::CompatCondition(_) | Route::CompatToolActions => "POST",
        Route::CompatVariable(..) => "GET, PUT",
        Route::Health | Route::Ready | Route::Metrics | Route::OpenApi => "GET",
    };
    if !allowed.split(", ").any(|m| m == method.as_str()) {
        return allow(allowed);
    }
    if let Route::Variable(k) | Route::VariableWatch(k) | Route::CompatVariable(_, k) = &route {
        validate_key(k)?;
    }
    let caller = authenticate(state, &req).await?;
    match route {
        Route::Input => {
            caller.require(Scope::InputRead)?;
            if wants_raw(&req) {
                return Ok(json_response(StatusCode::OK, caller.entry.input.clone()));
            }
            Ok(data(&caller.entry.input))
        }
        Route::Context => {
            caller.require(Scope::InputRead)?;
            if wants_raw(&req) {
                return Ok(json_response(StatusCode::OK, caller.entry.context.clone()));
            }
            Ok(data(&caller.entry.context))
        }
        Route::InputStream => {
            caller.require(Scope::InputRead)?;
            Ok(input_stream(state, &caller))
        }
        Route::Output if method == Method::GET => {
            caller.require(Scope::OutputWrite)?;
            let out = state
                .timed(state.store.output(&caller.entry.execution.id))
                .await?;
            Ok(data(out.as_deref().unwrap_or("null")))
        }
        Route::Output => {
            write_output(state, &caller, req).await?;
            Ok(data("null"))
        }
        Route::OutputStream => {
            caller.require(Scope::OutputWrite)?;
            output_stream(state, &caller, req).await
        }
        Route::Variables => {
            caller.require(Scope::VariablesRead)?;
            let keys = state
                .timed(state.store.variable_keys(caller.user()))
                .await?;
            Ok(data(
                &serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()),
            ))
        }
        Route::Variable(key) if method == Method::GET => {
            caller.require(Scope::VariablesRead)?;
            let var = state
                .variable(caller.user(), &key)
                .await?
                .ok_or_else(|| variable_not_found(&key))?;
            let mut resp = if wants_raw(&req) {
                json_response(StatusCode::OK, var.value.clone())
            } else {
                data(&format!(
                    "{{\"key\":\"{}\",\"value\":{},\"version\":{},\"updatedAt\":\"{}\"}}",
                    var.key, var.value, var.version, var.updated_at
                ))
            };
            set_etag(&mut resp, var.version);
            Ok(resp)
        }
        Route::Variable(key) if method == Method::PUT => {
            let if_version = if_match(req.headers())?;
            let (version, updated_at) =
                write_variable(state, &caller, req, &key, if_version).await?;
            let mut resp = data(&format!(
                "{{\"key\":\"{key}\",\"version\":{version},\"updatedAt\":\"{updated_at}\"}}"
            ));
            set_etag(&mut resp, version);
            Ok(resp)
        }
        Route::Variable(key) => {
            caller.require(Scope::VariablesWrite)?;
            let if_version = if_match(req.headers())?;
            let change = state
                .timed(
                    state
                        .store
                        .delete_variable(caller.actor(), &key, if_version),
                )
                .await?;
            let deleted = change.is_some();
            if let Some(change) = change {
                state.publish(change);
            }
            Ok(data(&format!(
                "{{\"key\":\"{key}\",\"deleted\":{deleted}}}"
            )))
        }
        Route::VariableWatch(key) => {
            caller.require(Scope::VariablesRead)?;
            Ok(watch(state, caller.user().to_owned(), key.into_owned()))
        }
        Route::Condition if method == Method::GET => {
            caller.require(Scope::ConditionWrite)?;
            let c = state
                .timed(state.store.condition(&caller.entry.execution.id))
                .await?;
            let c = c.map_or("null", |b| if b { "true" } else { "false" });
            Ok(data(&format!("{{\"condition\":{c}}}")))
        }
        Route::Condition => {
            let condition = write_condition(state, &caller, req).await?;
            Ok(data(&format!("{{\"condition\":{condition}}}")))
        }
        Route::TokenRefresh => refresh(state, &caller).await,
        Route::ToolActions => tool_action(state, &caller, req, Family::V1).await,
        Route::CompatToolActions => tool_action(state, &caller, req, Family::Compat).await,
        Route::CompatInput(id) => {
            compat_check(&caller, id)?;
            caller.require(Scope::InputRead)?;
            Ok(success(Some(&caller.entry.input)))
        }
        Route::CompatContext(id) => {
            compat_check(&caller, id)?;
            caller.require(Scope::InputRead)?;
            Ok(success(Some(&caller.entry.context)))
        }
        Route::CompatOutput(id) => {
            compat_check(&caller, id)?;
            write_output(state, &caller, req).await?;
            Ok(success(None))
        }
        Route::CompatCondition(id) => {
            compat_check(&caller, id)?;
            write_condition(state, &caller, req).await?;
            Ok(success(None))
        }
        Route::CompatVariable(id, key) if method == Method::GET => {
            compat_check(&caller, id)?;
            caller.require(Scope::VariablesRead)?;
            let var = state.variable(caller.user(), &key).await?;
            let value = var.as_ref().map_or("null", |v| v.value.as_str());
            Ok(success(Some(&format!(
                "{{\"key\":\"{key}\",\"value\":{value}}}"
            ))))
        }
        Route::CompatVariable(id, key) => {
            compat_check(&caller, id)?;
            write_variable(state, &caller, req, &key, None).await?;
            Ok(success(None))
        }
        Route::Health | Route::Ready | Route::Metrics | Route::OpenApi => {
            Err(ApiError::route_not_found(""))
        }
    }
}

/// `POST /v1/tool-actions/execute` and its compatibility route (which answers
/// `{"success":true,"data":<result>}`); both take `params` or the older `config`.
async fn tool_action<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
    family: Family,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require(Scope::ToolsExecute)?;
    let Some(tools) = state.tools() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "tool_actions_unavailable",
            "this sidecar was started without tool actions",
        ));
    };
    let key = idempotency_key(req.headers())?;
    let body = read_body(state, req).await?;
    let call = parse_json::<CallBody>(&body)
        .and_then(|b| crate::tools::parse_call(b).map_err(ApiError::from));
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
    let mut resp = match family {
        Family::Compat => success(Some(&reply.result)),
        _ => data(&reply.result),
    };
    if reply.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "invalid_header",
            "Idempotency-Key must be 1 to 255 visible ASCII characters, e.g. a UUID",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_owned()))
}


// The writes shared by the v1 routes and the compatibility routes: scope, body, store,
// cache. Each family only wraps the result in its own envelope.

/// `{"data": any}` → the execution's output.
async fn write_output<B>(state: &AppState, caller: &Caller, req: Request<B>) -> Result<(), ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require(Scope::OutputWrite)?;
    let body = read_body(state, req).await?;
    let v: DataBody<'_> = parse_json(&body)?;
    let value = compact_json(v.data.get());
    state
        .timed(state.store.set_output(caller.actor(), &value))
        .await?;
    Ok(())
}

/// `{"condition": bool}` → the execution's condition; returns it.
async fn write_condition<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<bool, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require(Scope::ConditionWrite)?;
    let body = read_body(state, req).await?;
    let c: ConditionBody = parse_json(&body)?;
    state
        .timed(state.store.set_condition(caller.actor(), c.condition))
        .await?;
    Ok(c.condition)
}

/// `{"value": any}` → the user's variable `key` (compare-and-set with `if_version`), then
/// the cache and watchers; returns the new version and time.
async fn write_variable<B>(
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
    caller.require(Scope::VariablesWrite)?;
    let body = read_body(state, req).await?;
    let v: ValueBody<'_> = parse_json(&body)?;
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
        StatusCode::NOT_FOUND,
        "variable_not_found",
        format!("no variable {key:?} for this user"),
    )
}

fn set_etag(resp: &mut Response<Body>, version: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

/// `If-Match: 3` or `If-Match: "3"`.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_header",
                "If-Match must be a variable version such as 3 (0 = must not exist)",
            )
        })
}

#[derive(Deserialize)]
struct DataBody<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct ValueBody<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct ConditionBody {
    condition: bool,
}

async fn refresh(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let now = now_unix();
    let e = &caller.entry.execution;
    let expires_at = (now + state.token_ttl.as_secs() as i64).min(e.expires_at);
    if expires_at <= now {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
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
    Ok(data(&format!(
        "{{\"token\":\"{token}\",\"expiresAt\":{expires_at}}}"
    )))
}

type Frames = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>,
>;

fn stream_response(content_type: &'static str, stream: Frames) -> Response<Body> {
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
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

/// Appends an NDJSON request body to the output stream, committing it in blocks of whole
/// records. Reading the next frame only after the previous block committed is what gives
/// the client backpressure.
async fn output_stream<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    check_content_type(req.headers())?;
    let cap = state.limits.body_bytes;
    let mut body = req.into_body();
    let mut pending = BytesMut::new(); // bytes after the last newline seen
    let mut block = Vec::with_capacity(STREAM_BLOCK + 1024);
    let mut block_records = 0u64;
    let mut total = (0u64, 0u64); // records, bytes committed
    let mut line_no = 0u64;
    let mut finished = false;
    while !finished {
        let chunk = match body.frame().await {
            None => {
                finished = true;
                if pending.is_empty() {
                    Bytes::new()
                } else {
                    Bytes::from_static(b"\n")
                }
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers carry no records
            },
            Some(Err(e)) => {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!(
                        "the stream broke off after {} records ({e}); those records are stored",
                        total.0
                    ),
                ));
            }
        };
        pending.extend_from_slice(&chunk);
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line = pending.split_to(nl + 1);
            line_no += 1;
            let content = line[..nl].trim_ascii();
            if content.is_empty() {
                continue;
            }
            if content.len() > cap {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "line {line_no} is larger than the limit of {cap} bytes; the {} records before it are stored",
                        total.0
                    ),
                ));
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(content) {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::bad_request(
                    "invalid_ndjson",
                    format!(
                        "line {line_no} is not JSON ({e}); the {} records before it are stored",
                        total.0
                    ),
                ));
            }
            block.extend_from_slice(&compact_json_bytes(content));
            block.push(b'\n');
            block_records += 1;
            if block.len() >= STREAM_BLOCK {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
            }
        }
        if pending.len() > cap {
            flush(state, caller, &mut block, &mut block_records, &mut total).await?;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "line {} is larger than the limit of {cap} bytes; the {} records before it are stored",
                    line_no + 1,
                    total.0
                ),
            ));
        }
    }
    flush(state, caller, &mut block, &mut block_records, &mut total).await?;
    Ok(data(&format!(
        "{{\"records\":{},\"bytes\":{}}}",
        total.0, total.1
    )))
}

/// Commits the records gathered so far as one block.
async fn flush(
    state: &AppState,
    caller: &Caller,
    block: &mut Vec<u8>,
    records: &mut u64,
    total: &mut (u64, u64),
) -> Result<(), ApiError> {
    if *records > 0 {
        state
            .timed(
                state
                    .store
                    .append_output_stream(caller.actor(), block, *records),
            )
            .await?;
        total.0 += *records;
        total.1 += block.len() as u64;
    }
    block.clear();
    *records = 0;
    Ok(())
}

/// Server-sent events for one key of one user: each change after the request, in `seq`
/// order. A watcher that falls behind the hub gets the current value instead of the changes
/// it missed.
fn watch(state: &Arc<AppState>, user: String, key: String) -> Response<Body> {
    struct W {
        state: Arc<AppState>,
        rx: tokio::sync::broadcast::Receiver<Arc<crate::store::VariableChange>>,
        user: String,
        key: String,
        last_seq: i64,
        keepalive: tokio::time::Interval,
        first: bool,
    }
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let w = W {
        rx: state.changes.subscribe(),
        state: Arc::clone(state),
        user,
        key,
        last_seq: 0,
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
                        if c.user_id != w.user || c.key != w.key || c.seq <= w.last_seq {
                            continue;
                        }
                        w.last_seq = c.seq;
                        return Some((Ok(Frame::data(sse_event(&c))), w));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let current = w.state.store.variable(&w.user, &w.key).await;
                        let Ok(current) = current else { continue };
                        let c = crate::store::VariableChange {
                            seq: w.last_seq,
                            user_id: w.user.clone(),
                            key: w.key.clone(),
                            value: current.as_ref().map(|v| v.value.clone()),
                            version: current.as_ref().map(|v| v.version),
                            updated_at: current.map(|v| v.updated_at).unwrap_or_else(crate::store::now_rfc3339),
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

fn sse_event(c: &crate::store::VariableChange) -> Bytes {
    let value = c.value.as_deref().unwrap_or("null");
    let version = c
        .version
        .map_or_else(|| "null".to_owned(), |v| v.to_string());
    Bytes::from(format!(
        "id: {}\nevent: change\ndata: {{\"key\":\"{}\",\"value\":{},\"version\":{},\"updatedAt\":\"{}\",\"deleted\":{}}}\n\n",
        c.seq,
        c.key,
        value,
        version,
        c.updated_at,
        c.value.is_none()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings_and_numbers() {
        assert_eq!(compact_json("{\"a\": 1}"), "{\"a\":1}");
        assert_eq!(
            compact_json("{ \"a b\" : \"x \\\" y\\n\",\n \"n\": 123456789012345678901234 }"),
            "{\"a b\":\"x \\\" y\\n\",\"n\":123456789012345678901234}"
        );
        assert!(matches!(compact_json("[1,2]"), Cow::Borrowed(_)));
        assert_eq!(compact_json("\"  é  \""), "\"  é  \"");
    }

    #[test]
    fn routes_parse_and_keys_validate() {
        assert!(
            matches!(parse_route("/v1/variables/a%3Ab"), Some(Route::Variable(k)) if k == "a:b")
        );
        assert!(matches!(
            parse_route("/v1/variables/k/watch"),
            Some(Route::VariableWatch(_))
        ));
        assert!(matches!(
            parse_route("/executions/e1/variables/k"),
            Some(Route::CompatVariable("e1", _))
        ));
        assert!(parse_route("/v1/variables/k/watch/more").is_none());
        assert!(parse_route("/v2/input").is_none());
        assert!(validate_key("a.b:c-d_9").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(257)).is_err());
        assert!(validate_key(&"k".repeat(256)).is_ok());
    }
}
