//! Request handling: routing, authentication, scopes, rate limits, and the handlers of the
//! v1 API and the Cronium compatibility routes, one module per resource.
//!
//! [`app`] is the API as a value, generic over the request body so tests drive it without a
//! socket; [`crate::server`] puts it behind real Unix and TCP listeners. This module parses
//! the path, answers the operations routes, checks the method (405 before any token),
//! authenticates, and hands the request to the resource's module; the helpers shared by
//! those modules (envelopes, the caller, streaming bodies) live here.

mod compat;
mod condition;
mod context;
mod input;
mod ops;
mod output;
mod token;
mod tool_actions;
mod variables;

pub use ops::OPENAPI;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Body as HttpBody, Frame};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::{bearer_token, MintRequest, Principal};
use crate::body::{check_content_type, compact_json, compact_json_bytes, parse_json, read_body};
use crate::error::{to_json, ApiError};
use crate::state::{AppState, ExecEntry};
use cronium_protocol::route::{Family, Route as RouteSpec, ROUTES, UNKNOWN_ROUTE_NAME};
use cronium_protocol::wire::{CompatEnvelope, Envelope};
use cronium_protocol::ErrorCode;
use cronium_store::{now_unix, Actor};
use cronium_tools::CallBody;

/// Response body: a full buffer or a stream (input stream, watch).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

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
    Tools,
    CompatInput(&'a str),
    CompatOutput(&'a str),
    CompatVariable(&'a str, Cow<'a, str>),
    CompatCondition(&'a str),
    CompatContext(&'a str),
    CompatToolActions,
}

impl Route<'_> {
    /// Position of the variant's path among the paths of [`ROUTES`], in the table's order
    /// (where [`paths`] keeps its facts). A unit test parses a sample of every path of
    /// [`ROUTES`] and checks it lands on that path.
    fn index(&self) -> usize {
        match self {
            Route::Input => 0,
            Route::InputStream => 1,
            Route::Output => 2,
            Route::OutputStream => 3,
            Route::Variables => 4,
            Route::Variable(_) => 5,
            Route::VariableWatch(_) => 6,
            Route::Condition => 7,
            Route::Context => 8,
            Route::TokenRefresh => 9,
            Route::ToolActions => 10,
            Route::Tools => 11,
            Route::Health => 12,
            Route::Ready => 13,
            Route::Metrics => 14,
            Route::OpenApi => 15,
            Route::CompatInput(_) => 16,
            Route::CompatOutput(_) => 17,
            Route::CompatVariable(..) => 18,
            Route::CompatCondition(_) => 19,
            Route::CompatContext(_) => 20,
            Route::CompatToolActions => 21,
        }
    }

    /// What [`ROUTES`] says about this path.
    fn path(&self) -> &'static PathFacts {
        &paths()[self.index()]
    }
}

/// The facts of one path template, gathered from [`ROUTES`] once so that a request costs
/// an index and a scan of at most three methods, no allocation.
#[derive(Debug)]
struct PathFacts {
    /// The path template, e.g. `/v1/variables/{key}`.
    template: &'static str,
    /// Metric label (one per path, shared by its methods).
    name: &'static str,
    /// Answer shape.
    family: Family,
    /// The `Allow` header of a 405.
    allow: String,
    /// The routes of the path, one per method.
    methods: Vec<&'static RouteSpec>,
}

impl PathFacts {
    /// The route of this path for `method`, if it takes it.
    fn route(&self, method: &Method) -> Option<&'static RouteSpec> {
        self.methods
            .iter()
            .copied()
            .find(|r| r.method == method.as_str())
    }
}

/// The facts of every path of [`ROUTES`], in the table's order.
fn paths() -> &'static [PathFacts] {
    static PATHS: OnceLock<Vec<PathFacts>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut paths: Vec<PathFacts> = Vec::new();
        for r in ROUTES {
            match paths.iter_mut().find(|p| p.template == r.path) {
                Some(p) => p.methods.push(r),
                None => paths.push(PathFacts {
                    template: r.path,
                    name: r.name,
                    family: r.family,
                    allow: RouteSpec::allow(r.path),
                    methods: vec![r],
                }),
            }
        }
        paths
    })
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    // `split('/')` by hand: its searcher cost a hundred instructions a segment, more than
    // the rest of the routing.
    let mut rest = Some(path.strip_prefix('/')?);
    let segs: [Option<&str>; 5] = std::array::from_fn(|_| {
        let r = rest?;
        Some(match r.bytes().position(|b| b == b'/') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                &r[..i]
            }
            None => {
                rest = None;
                r
            }
        })
    });
    if rest.is_some() {
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
        [Some("v1"), Some("tools"), None, ..] => Route::Tools,
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
    // Most keys have nothing to decode: no UTF-8 check of the decoder's output then.
    if !seg.contains('%') {
        return Cow::Borrowed(seg);
    }
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        // Invalid UTF-8 cannot be a valid key; a replacement character makes validation fail.
        .unwrap_or(Cow::Borrowed("\u{FFFD}"))
}

/// The key rule of the protocol ([`cronium_protocol::validate_key`]) as a 400
/// `invalid_key` answer; checked before the token, like the method.
fn check_key(key: &str) -> Result<(), ApiError> {
    cronium_protocol::validate_key(key)
        .map_err(|_| ApiError::new(ErrorCode::InvalidKey, cronium_protocol::key::KEY_RULE))
}

/// The API as a value: answers any request, whatever its body type, with no socket. The
/// listeners ([`crate::server`]) run it on every connection; tests call it in memory.
#[derive(Clone)]
pub struct App {
    state: Arc<AppState>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// The API over `state`.
pub fn app(state: Arc<AppState>) -> App {
    App { state }
}

impl App {
    /// The state it answers from.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Answers one request (see [`handle`]).
    pub fn handle<B>(
        &self,
        req: Request<B>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'static
    where
        B: HttpBody<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        handle(Arc::clone(&self.state), req)
    }
}

impl<B> hyper::service::Service<Request<B>> for App
where
    B: HttpBody<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, Self::Error>> + Send>,
    >;

    fn call(&self, req: Request<B>) -> Self::Future {
        let answer = self.handle(req);
        Box::pin(async move { Ok(answer.await) })
    }
}

/// Answers one request. Never panics on input, never answers 5xx for a client mistake.
pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let start = Instant::now();
    let asked = Asked::of(req.headers());
    // A clone of the URI shares its bytes (a reference count, not a copy of the path).
    let uri = req.uri().clone();
    let path = uri.path();
    let route = parse_route(path);
    let (name, family) = route
        .as_ref()
        .map_or((UNKNOWN_ROUTE_NAME, Family::V1), |r| {
            let facts = r.path();
            (facts.name, facts.family)
        });
    let method = req.method().clone();
    let result = match route {
        _ if asked.unmet_expectation => Err(ApiError::new(
            ErrorCode::ExpectationFailed,
            "Expect: only 100-continue is supported",
        )),
        Some(route) => dispatch(&state, route, req, &asked).await,
        None => Err(ApiError::route_not_found(path)),
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&e, family),
    };
    let status = resp.status();
    let took = start.elapsed();
    state.metrics.request(name, status.as_u16(), took);
    // The id's text only when the event is logged (the macros skip unlogged fields).
    let request_id = asked.request_id;
    let id_text = || request_id.to_str().unwrap_or_default();
    if status.is_server_error() {
        tracing::warn!(request_id = id_text(), %method, route = name, status = status.as_u16(), micros = took.as_micros() as u64, "request failed");
    } else {
        tracing::debug!(request_id = id_text(), %method, route = name, status = status.as_u16(), micros = took.as_micros() as u64, "request");
    }
    resp.headers_mut().insert(X_REQUEST_ID, request_id);
    resp
}

/// What the API reads from a request's headers, found in one pass over them: a request
/// has a handful of headers, and looking five names up in the header map one by one cost
/// more than walking them all. A name's first value counts, as `HeaderMap::get` finds it;
/// for `Expect`, every value.
struct Asked {
    /// The `Authorization` header (a clone shares the request's bytes).
    authorization: Option<HeaderValue>,
    /// The id the answer carries (see [`request_id`]).
    request_id: HeaderValue,
    /// `Accept` names `text/plain`: the bare value is wanted (see [`wants_raw`]).
    accepts_text: bool,
    /// An `Expect` header the server cannot meet: anything but `100-continue` (which hyper
    /// answers itself) gets `417 expectation_failed` (RFC 9110 §10.1.1).
    unmet_expectation: bool,
}

impl Asked {
    fn of(headers: &HeaderMap) -> Self {
        let mut authorization = None;
        let mut accept = None;
        let mut id = None;
        let mut traceparent = None;
        let mut unmet_expectation = false;
        for (name, value) in headers {
            if name == header::AUTHORIZATION {
                authorization.get_or_insert(value);
            } else if name == header::ACCEPT {
                accept.get_or_insert(value);
            } else if name == header::EXPECT {
                unmet_expectation |= !value.as_bytes().eq_ignore_ascii_case(b"100-continue");
            } else if name == X_REQUEST_ID {
                id.get_or_insert(value);
            } else if name == TRACEPARENT {
                traceparent.get_or_insert(value);
            }
        }
        Asked {
            authorization: authorization.cloned(),
            request_id: request_id(id, traceparent),
            accepts_text: accept
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/plain")),
            unmet_expectation,
        }
    }
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");
const TRACEPARENT: header::HeaderName = header::HeaderName::from_static("traceparent");

/// The caller's `x-request-id`, else the trace id of a W3C `traceparent`, else a new id
/// (`{pid:08x}-{n}`), as the header value the answer carries.
fn request_id(id: Option<&HeaderValue>, traceparent: Option<&HeaderValue>) -> HeaderValue {
    let usable = |v: &[u8]| !v.is_empty() && v.len() <= 128 && v.iter().all(u8::is_ascii_graphic);
    if let Some(v) = id {
        if usable(v.as_bytes()) {
            return v.clone();
        }
    }
    if let Some(tp) = traceparent.and_then(|v| v.to_str().ok()) {
        let mut parts = tp.split('-');
        if let (Some(_version), Some(trace), Some(_span)) =
            (parts.next(), parts.next(), parts.next())
        {
            if trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()) {
                if let Ok(v) = HeaderValue::from_str(trace) {
                    return v;
                }
            }
        }
    }
    // The process id makes ids unique across sidecars; formatted once (reading it costs
    // a syscall), the counter's digits written by hand: `format!` costs three times more.
    static PREFIX: OnceLock<[u8; 9]> = OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let mut p = [b'-'; 9];
        p[..8].copy_from_slice(format!("{:08x}", std::process::id()).as_bytes());
        p
    });
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 9 + 20];
    buf[..9].copy_from_slice(prefix);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let len = 9 + digits.len() - i;
    buf[9..len].copy_from_slice(&digits[i..]);
    HeaderValue::from_bytes(&buf[..len]).unwrap_or_else(|_| HeaderValue::from_static("0"))
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

/// `{"data": payload}`: the success answer of a v1 route.
fn data<T: Serialize + ?Sized>(payload: &T) -> Response<Body> {
    json_response(StatusCode::OK, to_json(&Envelope { data: payload }))
}

/// `{"success": true, "data": payload}`: the success answer of a compatibility read.
fn success<T: Serialize + ?Sized>(payload: &T) -> Response<Body> {
    json_response(
        StatusCode::OK,
        to_json(&CompatEnvelope {
            success: true,
            data: Some(payload),
        }),
    )
}

/// `{"success": true}`: the success answer of a compatibility write.
fn success_empty() -> Response<Body> {
    json_response(
        StatusCode::OK,
        to_json(&CompatEnvelope::<()> {
            success: true,
            data: None,
        }),
    )
}

/// Stored JSON text (a variable, the output, a tool result) as a value to answer with,
/// byte for byte. It was checked when it was written, so failing here means the store
/// was changed behind the sidecar's back: a 500, not the caller's mistake.
fn raw(text: &str) -> Result<&RawValue, ApiError> {
    serde_json::from_str(text).map_err(|_| stored_not_json())
}

/// The 500 of a stored value that is not JSON (see [`raw`]).
fn stored_not_json() -> ApiError {
    ApiError::new(ErrorCode::Internal, "a stored value is not valid JSON")
}

/// Whether the caller asked for the bare value (`?raw`, `?raw=`, `?raw=1`, `?raw=true`, or
/// `Accept: text/plain`). Any other value of `raw` is `400 invalid_query`: ignoring it
/// would answer an envelope to a caller who meant the bare value.
fn wants_raw<B>(caller: &Caller, req: &Request<B>) -> Result<bool, ApiError> {
    let mut query = false;
    for p in req
        .uri()
        .query()
        .map(|q| q.split('&'))
        .into_iter()
        .flatten()
    {
        let (name, value) = p.split_once('=').unwrap_or((p, ""));
        if name != "raw" {
            continue;
        }
        if !matches!(value, "" | "1" | "true") {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "raw takes no value, 1 or true (?raw, ?raw=1, ?raw=true)",
            ));
        }
        query = true;
    }
    Ok(query || caller.accepts_text)
}

struct Caller {
    /// Shared with the verification cache: a request does not copy its strings.
    principal: Arc<Principal>,
    entry: Arc<ExecEntry>,
    /// The route called: its scope is the one [`Caller::require_scope`] checks.
    route: &'static RouteSpec,
    /// Its `Accept` names `text/plain` ([`Asked::accepts_text`]).
    accepts_text: bool,
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

    /// Checks the token's scopes against the scope [`ROUTES`] gives the route called.
    /// Handlers call it where they always have, so the order of the checks (and so which
    /// error a request with two mistakes gets) stays as it was.
    fn require_scope(&self) -> Result<(), ApiError> {
        match self.route.scope {
            Some(scope) if !self.principal.scopes.contains(scope) => Err(ApiError::new(
                ErrorCode::ScopeInsufficient,
                format!("this token lacks the scope {}", scope.as_str()),
            )),
            _ => Ok(()),
        }
    }
}

/// `410 execution_finished`: the answer to every token of a finished execution.
fn execution_finished(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ExecutionFinished,
        format!("execution {id} is finished; its tokens are no longer accepted"),
    )
}

async fn authenticate(
    state: &AppState,
    asked: &Asked,
    route: &'static RouteSpec,
) -> Result<Caller, ApiError> {
    let token = bearer_token(asked.authorization.as_ref().map(HeaderValue::as_bytes))?;
    // One clock read for both expiry checks.
    let now = now_unix();
    let principal = match state.auth.verify_at(token, now) {
        Ok(p) => p,
        // Checked only once verification failed, so a valid token costs nothing more.
        Err(_) if state.is_admin_secret(token) => {
            return Err(ApiError::new(
                ErrorCode::AdminCredentialRefused,
                "this is the admin credential: the script API takes execution tokens only; \
                 call the admin API on its own socket",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let entry = state.execution(&principal.execution_id).await?;
    if entry.execution.user_id != principal.user_id {
        return Err(ApiError::new(
            ErrorCode::ExecutionMismatch,
            "the token's user does not own its execution",
        ));
    }
    if state.is_finished(&entry) {
        return Err(execution_finished(&entry.execution.id));
    }
    // Past its maximum lifetime the execution is expired, whatever `exp` a token minted
    // elsewhere (an orchestrator's 2 h) says.
    let leeway = i64::try_from(state.auth.config().leeway_secs).unwrap_or(i64::MAX);
    if now >= entry.execution.expires_at.saturating_add(leeway) {
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            "the execution has reached its maximum lifetime",
        ));
    }
    state.mark_started(&entry).await;
    if let Err(wait) = entry.take(&state.limits) {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "this execution is over its limit of {} requests per second; retry after {wait} s",
                    state.limits.rate_per_sec
                ),
            )
        });
    }
    Ok(Caller {
        principal,
        entry,
        route,
        accepts_text: asked.accepts_text,
    })
}

async fn dispatch<B>(
    state: &Arc<AppState>,
    route: Route<'_>,
    req: Request<B>,
    asked: &Asked,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = req.method().clone();
    // Method check before auth, so a wrong method is 405 whatever the token.
    let facts = route.path();
    let Some(spec) = facts.route(&method) else {
        return Err(ApiError::method_not_allowed(&facts.allow));
    };
    // Ops routes need no token.
    if let Some(answer) = ops::answer(state, &route).await {
        return answer;
    }
    if let Route::Variable(k) | Route::VariableWatch(k) | Route::CompatVariable(_, k) = &route {
        check_key(k)?;
    }
    let caller = authenticate(state, asked, spec).await?;
    match route {
        Route::Input => input::get(&caller, &req),
        Route::InputStream => input::stream(state, &caller),
        Route::Context => context::get(&caller, &req),
        Route::Output if method == Method::GET => output::get(state, &caller).await,
        Route::Output => output::put(state, &caller, req).await,
        Route::OutputStream => output::stream(state, &caller, req).await,
        Route::Variables => variables::list(state, &caller).await,
        Route::Variable(key) if method == Method::GET => {
            variables::get(state, &caller, &req, &key).await
        }
        Route::Variable(key) if method == Method::PUT => {
            variables::put(state, &caller, req, &key).await
        }
        Route::Variable(key) => variables::delete(state, &caller, &req, &key).await,
        Route::VariableWatch(key) => variables::watch_key(state, &caller, &key),
        Route::Condition if method == Method::GET => condition::get(state, &caller).await,
        Route::Condition => condition::put(state, &caller, req).await,
        Route::TokenRefresh => token::refresh(state, &caller, req).await,
        Route::ToolActions => tool_actions::execute(state, &caller, req, Family::V1).await,
        Route::CompatToolActions => {
            tool_actions::execute(state, &caller, req, Family::Compat).await
        }
        Route::Tools => tool_actions::list(state, &caller).await,
        route @ (Route::CompatInput(_)
        | Route::CompatOutput(_)
        | Route::CompatVariable(..)
        | Route::CompatCondition(_)
        | Route::CompatContext(_)) => compat::answer(state, &caller, route, req).await,
        Route::Health | Route::Ready | Route::Metrics | Route::OpenApi => {
            Err(ApiError::route_not_found(""))
        }
    }
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
    fn every_path_of_the_protocol_parses_to_its_facts() {
        // 22 `Route` variants, one per path of ROUTES.
        assert_eq!(paths().len(), 22);
        for r in ROUTES {
            let sample = r.path.replace("{key}", "k").replace("{id}", "e");
            let parsed = parse_route(&sample)
                .unwrap_or_else(|| panic!("{} {} has no Route variant", r.method, r.path));
            let facts = parsed.path();
            assert_eq!(facts.template, r.path);
            let method = Method::from_bytes(r.method.as_bytes()).expect("method");
            assert_eq!(facts.route(&method), Some(r));
        }
        let watch = parse_route("/v1/variables/k/watch").expect("route");
        assert_eq!(watch.path().template, "/v1/variables/{key}/watch");
        assert_eq!(watch.path().name, "variable_watch");
        let v = parse_route("/executions/e/variables/k")
            .expect("route")
            .path();
        assert_eq!((v.family, v.allow.as_str()), (Family::Compat, "GET, PUT"));
        assert!(v.route(&Method::DELETE).is_none());
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
        assert!(check_key("a.b:c-d_9").is_ok());
        let e = check_key("has space").expect_err("space");
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, ErrorCode::InvalidKey)
        );
    }
}
