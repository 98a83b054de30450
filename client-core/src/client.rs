//! The async client: every operation of the runtime API, with auth, token refresh,
//! retries and error mapping.

use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, IF_MATCH};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{Config, Endpoint, RetryPolicy};
use crate::direct::DirectPool;
use crate::error::{Error, Result};
use crate::reactor::Reactor;
use crate::stream::{self, OutputWriter, RecordStream, WatchStream};
use crate::token::{now_secs, TokenCell, TokenState};
use crate::transport::{Conn, Pool, ReqBody};

/// `{"data": T}`, the success envelope, parsed straight from the body bytes.
pub(crate) use cronium_protocol::wire::Envelope;
/// The variable types of the wire, the protocol crate's.
pub use cronium_protocol::wire::{Variable, VariableMeta};

/// Checks a variable key before any I/O: 1–256 bytes of `[A-Za-z0-9_.:-]`, the rule the
/// server applies (the protocol crate's), so a bad key fails fast with `invalid_key`.
pub fn validate_key(key: &str) -> Result<()> {
    cronium_protocol::validate_key(key).map_err(|e| Error::invalid_key(&e))
}

/// The path segment for a (valid) key. Valid keys need no escaping except `.` and `..`,
/// which would be read as path navigation; their dots are percent-encoded.
fn key_segment(key: &str) -> std::borrow::Cow<'_, str> {
    if key.bytes().all(|b| b == b'.') {
        key.replace('.', "%2E").into()
    } else {
        key.into()
    }
}

/// `/v1/variables/{key}{suffix}` for a valid key: plain path characters only, so it is
/// always a valid request target.
fn variable_path(key: &str, suffix: &str) -> Result<String> {
    validate_key(key)?;
    const PREFIX: &str = "/v1/variables/";
    let segment = key_segment(key);
    let mut path = String::with_capacity(PREFIX.len() + segment.len() + suffix.len());
    path.push_str(PREFIX);
    path.push_str(&segment);
    path.push_str(suffix);
    Ok(path)
}

fn variable_uri(key: &str, suffix: &str) -> Result<Uri> {
    parse_uri(variable_path(key, suffix)?)
}

fn parse_uri(path: String) -> Result<Uri> {
    Uri::try_from(path).map_err(|e| Error::protocol(format!("cannot build the request path: {e}")))
}

/// Where a request goes: a parsed `Uri`, or a path built from a validated key, which the
/// blocking transport writes as it is and only hyper needs parsed (parsing costs as
/// much as the rest of building a request).
enum Target {
    Uri(Uri),
    Path(String),
}

impl Target {
    fn as_str(&self) -> &str {
        match self {
            Target::Uri(uri) => uri.path_and_query().map_or("/", |p| p.as_str()),
            Target::Path(path) => path,
        }
    }

    fn uri(&self) -> Result<Uri> {
        match self {
            Target::Uri(uri) => Ok(uri.clone()),
            Target::Path(path) => parse_uri(path.clone()),
        }
    }
}

/// Jittered exponential backoff: the delay before retry number `retry` (0-based) is
/// `min(cap, base * 2^retry)`, of which the upper half is random (`jitter` in [0, 1]),
/// so retries of many clients spread out but never collapse to zero.
pub(crate) fn backoff_delay(base: Duration, cap: Duration, retry: u32, jitter: f64) -> Duration {
    let factor = 1u32 << retry.min(20);
    let full = base.saturating_mul(factor).min(cap);
    full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0)) / 2
}

/// One request as the client will send it, possibly several times.
pub(crate) struct Outgoing {
    method: Method,
    target: Target,
    body: Option<Bytes>,
    content_type: HeaderValue,
    extra: Vec<(HeaderName, HeaderValue)>,
    /// Safe to send again after it may have reached the server.
    idempotent: bool,
}

impl Outgoing {
    pub(crate) fn new(method: Method, uri: Uri, idempotent: bool) -> Outgoing {
        Outgoing::to(method, Target::Uri(uri), idempotent)
    }

    fn to(method: Method, target: Target, idempotent: bool) -> Outgoing {
        Outgoing {
            method,
            target,
            body: None,
            content_type: HeaderValue::from_static("application/json"),
            extra: Vec::new(),
            idempotent,
        }
    }

    fn json(mut self, body: Vec<u8>) -> Outgoing {
        self.body = Some(Bytes::from(body));
        self
    }

    pub(crate) fn header(&mut self, name: HeaderName, value: HeaderValue) {
        self.extra.push((name, value));
    }

    /// The headers of the request (besides the framing ones), in order: the one list
    /// both hyper's request ([`request`](Self::request)) and the blocking transport's
    /// bytes ([`encode`](Self::encode)) are built from.
    fn headers<'a>(
        &'a self,
        host: &'a HeaderValue,
        auth: &'a HeaderValue,
        has_body: bool,
    ) -> impl Iterator<Item = (HeaderName, &'a HeaderValue)> + 'a {
        [(HOST, host), (AUTHORIZATION, auth)]
            .into_iter()
            .chain(has_body.then_some((CONTENT_TYPE, &self.content_type)))
            .chain(self.extra.iter().map(|(n, v)| (n.clone(), v)))
    }

    fn request(
        &self,
        host: &HeaderValue,
        auth: &HeaderValue,
        body: ReqBody,
    ) -> Result<Request<ReqBody>> {
        let has_body = !matches!(body, ReqBody::Empty);
        let uri = self.target.uri()?;
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        headers.reserve(3 + self.extra.len());
        for (name, value) in self.headers(host, auth, has_body) {
            headers.insert(name, value.clone());
        }
        Ok(req)
    }

    /// The request head as HTTP/1.1 bytes, for the blocking transport; the body (when
    /// there is one) goes right after it.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>, host: &HeaderValue, auth: &HeaderValue) {
        buf.extend_from_slice(self.method.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(self.target.as_str().as_bytes());
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in self.headers(host, auth, self.body.is_some()) {
            buf.extend_from_slice(name.as_str().as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        // hyper frames a known-length body the same way, and announces an empty one for
        // methods that normally carry a body.
        let length = match &self.body {
            Some(body) => Some(body.len()),
            None if matches!(self.method, Method::POST | Method::PUT | Method::PATCH) => Some(0),
            None => None,
        };
        if let Some(length) = length {
            // Writing to a Vec cannot fail.
            let _ = write!(buf, "content-length: {length}\r\n");
        }
        buf.extend_from_slice(b"\r\n");
    }

    /// The body bytes, for the blocking transport.
    pub(crate) fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    fn build(&self, host: &HeaderValue, auth: &HeaderValue) -> Result<Request<ReqBody>> {
        let body = match &self.body {
            Some(b) => ReqBody::Full(Some(b.clone())),
            None => ReqBody::Empty,
        };
        self.request(host, auth, body)
    }
}

/// A failed attempt, and whether the request may have reached the server (if not, it is
/// safe to send again even when not idempotent).
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) sent: bool,
}

impl Failure {
    pub(crate) fn sent(error: Error) -> Failure {
        Failure { error, sent: true }
    }
    pub(crate) fn unsent(error: Error) -> Failure {
        Failure { error, sent: false }
    }

    /// A non-2xx answer, mapped to the server's error (both transports).
    fn status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Failure {
        Failure::sent(Error::from_response(status, headers, body))
    }
}

/// How the call in progress waits, and so which transport it uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// On the caller's Tokio runtime: hyper connections, Tokio's timer for backoff, and
    /// `tokio::time::timeout` around the whole call.
    Tokio,
    /// On the calling thread ([`BlockingClient`](crate::BlockingClient)): blocking
    /// sockets ([`DirectPool`]), `thread::sleep` for backoff, every blocking step
    /// bounded by this deadline. The futures then never wait on a runtime.
    Until(Instant),
    /// On the host's event loop ([`Client::with_reactor`]): the blocking transport's
    /// sockets, with the waits for answers and backoff handed to the reactor.
    Reactor(Instant),
}

impl Wait {
    /// How to wait while holding the token's refresh lock: never by suspending on a
    /// reactor. A reactor's futures are polled on its loop's thread, which may also be
    /// the thread of a `BlockingClient` call that needs the lock: holding it across a
    /// suspension there would deadlock that thread. A refresh is one short exchange
    /// per token lifetime, so it blocks instead.
    fn under_lock(self) -> Wait {
        match self {
            Wait::Reactor(deadline) => Wait::Until(deadline),
            other => other,
        }
    }
}

/// Which transport the calls of one [`Client`] handle use.
#[derive(Clone)]
pub(crate) enum Mode {
    Async,
    Blocking,
    Reactor(Arc<dyn Reactor>),
}

struct Inner {
    pool: Pool,
    /// Connections of the blocking transport (used by `BlockingClient`).
    direct: DirectPool,
    token: TokenCell,
    /// Where a fresher token may be found (`CRONIUM_EXECUTION_TOKEN_FILE`).
    token_file: Option<std::path::PathBuf>,
    timeout: Duration,
    retry: RetryPolicy,
    execution_id: Option<String>,
}

/// The async client of the Cronium runtime API.
///
/// Cheap to clone (an `Arc` inside); clones share connections and the token. Use it from
/// any Tokio runtime with IO and time enabled (napi-rs', pyo3-async-runtimes', your
/// own). Connections are reused only on the runtime that opened them, so one client
/// can serve several runtimes. From synchronous code use
/// [`BlockingClient`](crate::BlockingClient).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    mode: Mode,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", self.inner.pool.endpoint())
            .field("execution_id", &self.inner.execution_id)
            .field("timeout", &self.inner.timeout)
            .field("pool", &self.inner.pool)
            .field("direct", &self.inner.direct)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for this configuration. Connects lazily, on the first call.
    pub fn new(config: Config) -> Client {
        let token = TokenState::new(config.token.expose())
            // `Config` only holds header-safe tokens, so this cannot fail; an empty
            // header would still just be refused by the server with 401.
            .unwrap_or_else(|| TokenState {
                header: HeaderValue::from_static(""),
                exp: None,
                refresh_at: None,
            });
        Client {
            inner: Arc::new(Inner {
                direct: DirectPool::new(config.endpoint.clone(), config.max_idle)
                    .with_tls(config.tls.clone()),
                pool: Pool::new(config.endpoint, config.max_idle).with_tls(config.tls),
                token: TokenCell::new(token),
                token_file: config.token_file,
                timeout: config.timeout,
                retry: config.retry,
                execution_id: config.execution_id,
            }),
            mode: Mode::Async,
        }
    }

    /// A handle on the same client (token, connections) whose calls run on the calling
    /// thread over blocking sockets: `BlockingClient` drives its futures with a plain
    /// thread-parking loop, no runtime involved. Streams and watches still need the async
    /// handle.
    pub(crate) fn blocking_handle(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            mode: Mode::Blocking,
        }
    }

    /// A handle on the same client (token, connections) for a host with its own event
    /// loop: its small calls run on the thread that polls them, over the blocking
    /// transport's sockets, and only the wait for each answer (and retry backoff) is
    /// `reactor`'s, so a call costs no thread hand-off. Poll its futures on the
    /// reactor's thread only. Streams and watches opened from it still run on Tokio
    /// (they need a runtime, as on the async handle).
    pub fn with_reactor(&self, reactor: Arc<dyn Reactor>) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            mode: Mode::Reactor(reactor),
        }
    }

    /// A client configured from the script's environment ([`Config::from_env`]).
    pub fn from_env() -> Result<Client> {
        Ok(Client::new(Config::from_env()?))
    }

    /// Where this client connects.
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.pool.endpoint()
    }

    /// The execution id from the configuration, when given.
    pub fn execution_id(&self) -> Option<&str> {
        self.inner.execution_id.as_deref()
    }

    /// Expiry (Unix seconds) of the token currently in use, when it is a JWT with `exp`.
    pub fn token_expires_at(&self) -> Option<u64> {
        self.inner.token.current().exp
    }

    /// How many connections this client has opened so far (for tests and diagnostics:
    /// a sequential caller should see 1).
    pub fn connections_opened(&self) -> u64 {
        self.inner.pool.opened() + self.inner.direct.opened()
    }

    /// How many idle keep-alive connections are pooled right now.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count() + self.inner.direct.idle_count()
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(crate) fn checkin(&self, conn: Conn) {
        self.inner.pool.checkin(conn);
    }

    // ----- operations ----------------------------------------------------------------

    /// `GET /health`: whether the sidecar answers at all (no scope needed).
    pub async fn health(&self) -> Result<()> {
        self.call(Outgoing::new(
            Method::GET,
            Uri::from_static("/health"),
            true,
        ))
        .await
        .map(drop)
    }

    /// The execution's input (`null` when it has none, so ask for an `Option` or a
    /// `RawValue` when that can happen).
    pub async fn input<T: DeserializeOwned>(&self) -> Result<T> {
        self.get_data(Uri::from_static("/v1/input"), "GET /v1/input")
            .await
    }

    /// Sets the execution's output (last write wins).
    pub async fn output<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        #[derive(Serialize)]
        struct Body<'a, T: ?Sized> {
            data: &'a T,
        }
        let body = to_json(&Body { data: value })?;
        let out = Outgoing::new(Method::PUT, Uri::from_static("/v1/output"), true).json(body);
        self.call(out).await.map(drop)
    }

    /// The output set so far (`null` when none).
    pub async fn get_output<T: DeserializeOwned>(&self) -> Result<T> {
        self.get_data(Uri::from_static("/v1/output"), "GET /v1/output")
            .await
    }

    /// A variable of the token's user; `Ok(None)` when it does not exist.
    pub async fn get_variable<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<Variable<T>>> {
        let path = variable_path(key, "")?;
        match self
            .call(Outgoing::to(Method::GET, Target::Path(path), true))
            .await
        {
            Ok(body) => parse::<Variable<T>>(&body, "GET /v1/variables/{key}").map(Some),
            Err(e) if e.code() == "variable_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores a variable. With `if_version`, only when the stored version is that one
    /// (`Some(0)`: only when the key does not exist yet); a mismatch is a `Conflict`
    /// error (`version_conflict`).
    pub async fn set_variable<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        if_version: Option<u64>,
    ) -> Result<VariableMeta> {
        #[derive(Serialize)]
        struct Body<'a, T: ?Sized> {
            value: &'a T,
        }
        let path = variable_path(key, "")?;
        let body = to_json(&Body { value })?;
        let mut out = Outgoing::to(Method::PUT, Target::Path(path), true).json(body);
        if let Some(v) = if_version {
            out.header(IF_MATCH, HeaderValue::from(v));
        }
        let body = self.call(out).await?;
        parse(&body, "PUT /v1/variables/{key}")
    }

    /// Deletes a variable; `Ok(false)` when it did not exist. `if_version` as for
    /// [`set_variable`](Self::set_variable).
    pub async fn delete_variable(&self, key: &str, if_version: Option<u64>) -> Result<bool> {
        #[derive(Deserialize)]
        struct Deleted {
            deleted: bool,
        }
        let path = variable_path(key, "")?;
        let mut out = Outgoing::to(Method::DELETE, Target::Path(path), true);
        if let Some(v) = if_version {
            out.header(IF_MATCH, HeaderValue::from(v));
        }
        let body = self.call(out).await?;
        parse::<Deleted>(&body, "DELETE /v1/variables/{key}").map(|d| d.deleted)
    }

    /// Keys of the user's variables, sorted.
    pub async fn list_variables(&self) -> Result<Vec<String>> {
        self.get_data(Uri::from_static("/v1/variables"), "GET /v1/variables")
            .await
    }

    /// The tools the user has credentials for (`GET /v1/tools`): per tool its id, the
    /// credential names and its actions; never a secret.
    pub async fn list_tools<T: DeserializeOwned>(&self) -> Result<T> {
        #[derive(Deserialize)]
        struct Tools<T> {
            tools: T,
        }
        let t: Tools<T> = self
            .get_data(Uri::from_static("/v1/tools"), "GET /v1/tools")
            .await?;
        Ok(t.tools)
    }

    /// Sets the condition that picks the next workflow branch.
    pub async fn set_condition(&self, condition: bool) -> Result<()> {
        let body = if condition {
            &br#"{"condition":true}"#[..]
        } else {
            &br#"{"condition":false}"#[..]
        };
        let out =
            Outgoing::new(Method::PUT, Uri::from_static("/v1/condition"), true).json(body.to_vec());
        self.call(out).await.map(drop)
    }

    /// The condition set so far, `None` when none was set.
    pub async fn get_condition(&self) -> Result<Option<bool>> {
        #[derive(Deserialize)]
        struct Condition {
            condition: Option<bool>,
        }
        let c: Condition = self
            .get_data(Uri::from_static("/v1/condition"), "GET /v1/condition")
            .await?;
        Ok(c.condition)
    }

    /// The event context (execution id, event, user, trigger, attempt, plus any custom
    /// fields).
    pub async fn context<T: DeserializeOwned>(&self) -> Result<T> {
        self.get_data(Uri::from_static("/v1/context"), "GET /v1/context")
            .await
    }

    /// Asks for a fresh token now and uses it from then on. Calls do this on their own
    /// before the token gets close to expiry; this is for callers that want it earlier.
    pub async fn refresh_token(&self) -> Result<()> {
        let _serialised = self.inner.token.refresh_lock.lock().await;
        let old = self.inner.token.current();
        let fresh = self
            .with_timeout(|wait| self.fetch_token(&old.header, wait.under_lock()))
            .await?;
        self.install_token(&old, fresh);
        Ok(())
    }

    /// Runs a tool action (Slack message, email, webhook...) with the platform's
    /// credentials. The call carries an `Idempotency-Key` (a fresh UUID when none is
    /// given) so the client's own retries, and the caller's with the same key, run the
    /// action at most once.
    pub async fn execute_tool_action<T, P>(
        &self,
        tool: &str,
        action: &str,
        params: &P,
        idempotency_key: Option<&str>,
    ) -> Result<T>
    where
        T: DeserializeOwned,
        P: Serialize + ?Sized,
    {
        #[derive(Serialize)]
        struct Body<'a, P: ?Sized> {
            tool: &'a str,
            action: &'a str,
            params: &'a P,
        }
        let key = match idempotency_key {
            Some(k) => HeaderValue::from_str(k).map_err(|_| {
                Error::with_code(
                    crate::ErrorCode::InvalidHeader,
                    "the idempotency key must be visible ASCII",
                )
            })?,
            None => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .map_err(|_| Error::protocol("cannot build an idempotency key"))?,
        };
        let body = to_json(&Body {
            tool,
            action,
            params,
        })?;
        let mut out = Outgoing::new(
            Method::POST,
            Uri::from_static("/v1/tool-actions/execute"),
            true,
        )
        .json(body);
        out.header(HeaderName::from_static("idempotency-key"), key);
        let body = self.call(out).await?;
        parse(&body, "POST /v1/tool-actions/execute")
    }

    /// Runs one of the tool convenience calls ([`ToolCall`]: a Slack or Discord message,
    /// an email); see [`execute_tool_action`](Self::execute_tool_action).
    pub async fn execute_tool_call<T: DeserializeOwned>(
        &self,
        call: &crate::ToolCall,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        self.execute_tool_action(call.tool(), call.action(), call.params(), idempotency_key)
            .await
    }

    /// The input as a stream of NDJSON records (`GET /v1/input/stream`), for inputs too
    /// large to hold at once. The timeout applies to opening it, not to reading it.
    pub async fn stream_input<T: DeserializeOwned>(&self) -> Result<RecordStream<T>> {
        let out = Outgoing::new(Method::GET, Uri::from_static("/v1/input/stream"), true);
        let (conn, resp) = self.open(&out).await?;
        Ok(RecordStream::new(self.clone(), conn, resp.into_body()))
    }

    /// Opens the output stream (`POST /v1/output/stream`); see [`OutputWriter`].
    pub async fn stream_output(&self) -> Result<OutputWriter> {
        const CHANNEL_RECORDS: usize = 32;
        let uri = Uri::from_static("/v1/output/stream");
        let mut out = Outgoing::new(Method::POST, uri, false);
        out.content_type = HeaderValue::from_static("application/x-ndjson");
        let (auth, conn) = self
            .with_tokio_timeout(async {
                let auth = self.auth(Wait::Tokio).await;
                // A fresh connection, not a pooled one: this body cannot be sent twice,
                // so it must not meet a connection the server closed while idle.
                let conn = self
                    .with_retries(false, Wait::Tokio, || async {
                        self.inner.pool.connect().await.map_err(Failure::unsent)
                    })
                    .await?;
                Ok((auth, conn))
            })
            .await?;
        let (tx, rx) = mpsc::channel(CHANNEL_RECORDS);
        let finished = Arc::new(AtomicBool::new(false));
        let body = ReqBody::Channel {
            rx,
            finished: Arc::clone(&finished),
        };
        let req = out.request(self.inner.pool.host(), &auth, body)?;
        let client = self.clone();
        let response: stream::ResponseFuture = Box::pin(async move {
            let (conn, resp) = client
                .dispatch(conn, req, None)
                .await
                .map_err(|f| f.error)?;
            let (conn, resp) = client.check_status(conn, resp).await.map_err(|f| f.error)?;
            client.read_body(conn, resp).await.map_err(|f| f.error)
        });
        Ok(OutputWriter::new(tx, finished, response, self.timeout()))
    }

    /// Changes of one variable as they happen (server-sent events); see
    /// [`WatchStream`]. Only changes after the call are reported: read the current value
    /// first with [`get_variable`](Self::get_variable).
    pub async fn watch_variable<T>(&self, key: &str) -> Result<WatchStream<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let uri = variable_uri(key, "/watch")?;
        stream::watch(self.clone(), key.to_owned(), uri).await
    }

    // ----- machinery -----------------------------------------------------------------

    async fn get_data<T: DeserializeOwned>(&self, uri: Uri, what: &str) -> Result<T> {
        let body = self.call(Outgoing::new(Method::GET, uri, true)).await?;
        parse(&body, what)
    }

    /// Runs one call within the configured timeout: cut off by Tokio's timer on the
    /// async handle; on the blocking handle every blocking step is bounded by the
    /// deadline instead (nothing can interrupt a thread blocked in `read`).
    async fn with_timeout<R, Fut>(&self, call: impl FnOnce(Wait) -> Fut) -> Result<R>
    where
        Fut: Future<Output = Result<R>>,
    {
        let deadline = || {
            let now = Instant::now();
            now.checked_add(self.inner.timeout)
                .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
        };
        match self.mode {
            Mode::Async => self.with_tokio_timeout(call(Wait::Tokio)).await,
            Mode::Blocking => call(Wait::Until(deadline())).await,
            Mode::Reactor(_) => call(Wait::Reactor(deadline())).await,
        }
    }

    /// The reactor of a [`with_reactor`](Self::with_reactor) handle.
    fn reactor(&self) -> Option<&dyn Reactor> {
        match &self.mode {
            Mode::Reactor(r) => Some(&**r),
            Mode::Async | Mode::Blocking => None,
        }
    }

    async fn with_tokio_timeout<R>(&self, fut: impl Future<Output = Result<R>>) -> Result<R> {
        match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(self.inner.timeout)),
        }
    }

    /// Waits before a retry; on the blocking handle, a wait that would pass the deadline
    /// ends at the deadline with the timeout error, as Tokio's timer would end it.
    async fn pause(&self, delay: Duration, wait: Wait) -> Result<()> {
        match wait {
            Wait::Tokio => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Wait::Until(deadline) | Wait::Reactor(deadline) => {
                let now = Instant::now();
                let left = deadline.saturating_duration_since(now);
                let past = delay >= left;
                match (wait, self.reactor()) {
                    (Wait::Reactor(_), Some(reactor)) => {
                        let until = if past { deadline } else { now + delay };
                        reactor.wait(None, until).await;
                    }
                    _ => std::thread::sleep(if past { left } else { delay }),
                }
                if past {
                    return Err(Error::timeout(self.inner.timeout));
                }
                Ok(())
            }
        }
    }

    /// One small request: retries, timeout, and the body of the 2xx answer.
    async fn call(&self, out: Outgoing) -> Result<Bytes> {
        let out = &out;
        self.with_timeout(|wait| {
            self.with_retries(out.idempotent, wait, move || async move {
                let auth = self.auth(wait).await;
                self.exchange(out, &auth, wait).await
            })
        })
        .await
    }

    /// One attempt of a small request, up to the body of a 2xx answer, over the
    /// transport `wait` calls for.
    async fn exchange(
        &self,
        out: &Outgoing,
        auth: &HeaderValue,
        wait: Wait,
    ) -> Result<Bytes, Failure> {
        match wait {
            // Boxed: hyper's futures are large, and without the box every future of the
            // blocking handle would carry (and copy around) their space unused.
            Wait::Tokio => {
                Box::pin(async move {
                    let (conn, resp) = self.attempt(out, auth).await?;
                    self.read_body(conn, resp).await
                })
                .await
            }
            Wait::Until(deadline) | Wait::Reactor(deadline) => {
                let reactor = match wait {
                    Wait::Reactor(_) => self.reactor(),
                    _ => None,
                };
                let answer = self
                    .inner
                    .direct
                    .exchange(
                        |buf| out.encode(buf, self.inner.pool.host(), auth),
                        out.body(),
                        deadline,
                        self.inner.timeout,
                        reactor,
                    )
                    .await?;
                if answer.status.is_success() {
                    Ok(answer.body)
                } else {
                    let headers = answer.headers.unwrap_or_default();
                    Err(Failure::status(answer.status, &headers, &answer.body))
                }
            }
        }
    }

    /// Opens a streaming answer: retries and timeout up to a 2xx response head. Always
    /// on Tokio (hyper), whichever handle asks.
    pub(crate) async fn open(&self, out: &Outgoing) -> Result<(Conn, Response<Incoming>)> {
        self.with_tokio_timeout(
            self.with_retries(out.idempotent, Wait::Tokio, || async move {
                let auth = self.auth(Wait::Tokio).await;
                self.attempt(out, &auth).await
            }),
        )
        .await
    }

    async fn with_retries<R, F, Fut>(
        &self,
        idempotent: bool,
        wait: Wait,
        mut attempt: F,
    ) -> Result<R>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, Failure>>,
    {
        let policy = self.inner.retry;
        let mut retries = 0u32;
        loop {
            let failure = match attempt().await {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            let error = failure.error;
            let may_repeat = idempotent || !failure.sent;
            if retries >= policy.max_retries || !may_repeat || !error.retryable() {
                return Err(error);
            }
            let backoff = backoff_delay(policy.base, policy.cap, retries, rand::random::<f64>());
            // A `Retry-After` (429 `rate_limited`, 503 `storage_unavailable` or
            // `overloaded`) is honoured: retrying sooner would only meet the same answer.
            // One longer than the caller agreed to wait is the caller's to handle.
            let delay = match error.retry_after() {
                Some(asked) if asked > policy.max_retry_after => return Err(error),
                Some(asked) => asked.max(backoff),
                None => backoff,
            };
            self.pause(delay, wait).await?;
            retries += 1;
        }
    }

    /// One attempt up to a 2xx response head; error statuses are read and mapped.
    async fn attempt(
        &self,
        out: &Outgoing,
        auth: &HeaderValue,
    ) -> Result<(Conn, Response<Incoming>), Failure> {
        let req = out
            .build(self.inner.pool.host(), auth)
            .map_err(Failure::unsent)?;
        let conn = self.inner.pool.checkout().await.map_err(Failure::unsent)?;
        let (conn, resp) = self.dispatch(conn, req, Some((out, auth))).await?;
        self.check_status(conn, resp).await
    }

    /// Sends a request. When a pooled connection turns out to be stale — hyper hands the
    /// request back unsent, or the connection closed before any answer and the body can
    /// be rebuilt — it is sent once more on a fresh connection right away: the server
    /// never saw it, so this is safe even for calls that are not idempotent.
    async fn dispatch(
        &self,
        mut conn: Conn,
        mut req: Request<ReqBody>,
        rebuild: Option<(&Outgoing, &HeaderValue)>,
    ) -> Result<(Conn, Response<Incoming>), Failure> {
        let mut resent = false;
        loop {
            match conn.sender.try_send_request(req).await {
                Ok(resp) => return Ok((conn, resp)),
                Err(mut e) => {
                    let unsent = e.take_message();
                    let sent = unsent.is_none();
                    let error = e.into_error();
                    if conn.reused && !resent {
                        let again = match (unsent, rebuild) {
                            (Some(r), _) => Some(r),
                            (None, Some((out, auth))) if closed_before_answer(&error) => {
                                out.build(self.inner.pool.host(), auth).ok()
                            }
                            _ => None,
                        };
                        if let Some(r) = again {
                            req = r;
                            resent = true;
                            conn = self.inner.pool.connect().await.map_err(Failure::unsent)?;
                            continue;
                        }
                    }
                    return Err(Failure {
                        error: Error::from_hyper(&error),
                        sent,
                    });
                }
            }
        }
    }

    /// Passes a 2xx through; reads and maps anything else.
    async fn check_status(
        &self,
        conn: Conn,
        resp: Response<Incoming>,
    ) -> Result<(Conn, Response<Incoming>), Failure> {
        let status = resp.status();
        if status.is_success() {
            return Ok((conn, resp));
        }
        let (parts, body) = resp.into_parts();
        let body = match body.collect().await {
            Ok(b) => {
                self.inner.pool.checkin(conn);
                b.to_bytes()
            }
            Err(_) => Bytes::new(),
        };
        Err(Failure::status(status, &parts.headers, &body))
    }

    async fn read_body(&self, conn: Conn, resp: Response<Incoming>) -> Result<Bytes, Failure> {
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::sent(Error::from_hyper(&e)))?
            .to_bytes();
        self.inner.pool.checkin(conn);
        Ok(body)
    }

    /// The `Authorization` header to use now, refreshing the token first when it is close
    /// to expiry. A failed refresh is not the call's failure: the old token is used (and
    /// the server says `token_expired` if it really is), and the next refresh attempt
    /// waits a little so a sidecar that refuses refreshes is not asked on every call.
    async fn auth(&self, wait: Wait) -> HeaderValue {
        let now = now_secs();
        let current = self.inner.token.current();
        if !current.needs_refresh(now) {
            return current.header.clone();
        }
        let _serialised = self.inner.token.refresh_lock.lock().await;
        let current = self.inner.token.current();
        if !current.needs_refresh(now) {
            // Another caller refreshed while this one waited.
            return current.header.clone();
        }
        // The token file first, when there is one (`cronium run` rewrites it at each
        // token's half-life): a file read rather than a request, and the only way back
        // for a token that expired while the script was idle, which the API no longer
        // refreshes.
        if let Some(fresh) = self
            .inner
            .token_file
            .as_deref()
            .and_then(|path| current.newer_in_file(path, now))
        {
            self.inner.token.replace(fresh);
            return self.inner.token.current().header.clone();
        }
        // Boxed: a rare path, which would otherwise make every call's future as large
        // as a whole second call.
        match Box::pin(self.fetch_token(&current.header, wait.under_lock())).await {
            Ok(fresh) => {
                self.install_token(&current, fresh);
                self.inner.token.current().header.clone()
            }
            Err(_) => {
                const RETRY_REFRESH_AFTER: u64 = 5;
                // An expired token is given up on, unless a token file may yet bring a
                // fresh one.
                let next = current
                    .exp
                    .filter(|_| current.is_valid(now) || self.inner.token_file.is_some())
                    .map(|_| now + RETRY_REFRESH_AFTER);
                self.inner.token.replace(current.postponed(next));
                current.header.clone()
            }
        }
    }

    /// `POST /v1/token/refresh` with the given (current) token.
    async fn fetch_token(&self, auth: &HeaderValue, wait: Wait) -> Result<TokenState> {
        #[derive(Deserialize)]
        struct Fresh {
            token: String,
        }
        let out = Outgoing::new(Method::POST, Uri::from_static("/v1/token/refresh"), false)
            .json(b"{}".to_vec());
        let out = &out;
        let body = self
            .with_retries(false, wait, || self.exchange(out, auth, wait))
            .await?;
        let fresh: Fresh = parse(&body, "POST /v1/token/refresh")?;
        TokenState::new(&fresh.token)
            .ok_or_else(|| Error::protocol("the refreshed token is not a valid header value"))
    }

    fn install_token(&self, old: &TokenState, mut fresh: TokenState) {
        // A token that does not live longer than the old one (the execution reached its
        // maximum lifetime) cannot be improved on: stop asking.
        if let (Some(old_exp), Some(new_exp)) = (old.exp, fresh.exp) {
            if new_exp <= old_exp {
                fresh.refresh_at = None;
            }
        }
        self.inner.token.replace(fresh);
    }
}

/// The connection failed in a way that means the server did not take the request: it
/// closed before answering, or had already closed when the request was written (EPIPE).
fn closed_before_answer(err: &hyper::Error) -> bool {
    if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        source = cause.source();
    }
    false
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::unserialisable(&e))
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    // The body is checked for UTF-8 once, then parsed as text: parsing bytes would check
    // every string of the answer on its own (a key, a timestamp, each object key), which
    // cost more than the rest of the parse for a variable's answer.
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::protocol(format!("unexpected answer to {what}: not UTF-8 ({e})")))?;
    serde_json::from_str::<Envelope<T>>(text)
        .map(|e| e.data)
        .map_err(|e| Error::bad_response(what, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// Answers are parsed as text after one UTF-8 check: the same values as before, and a
    /// body that is not UTF-8 (or not JSON) is a protocol error naming the route.
    #[test]
    fn answers_are_parsed_as_text() {
        let v: Variable<Box<RawValue>> = parse(
            br#"{"data":{"key":"k","value":{"s":"\u00e9\n"},"version":3,"updatedAt":"t"}}"#,
            "GET x",
        )
        .expect("parsed");
        assert_eq!((v.key.as_str(), v.version), ("k", 3));
        assert_eq!(v.value.get(), r#"{"s":"\u00e9\n"}"#);
        let s: String = parse("{\"data\":\"caf\u{e9}\"}".as_bytes(), "GET x").expect("utf-8");
        assert_eq!(s, "caf\u{e9}");
        for bad in [&b"{\"data\":\"\xff\"}"[..], b"{\"data\":", b"\xef\xbb"] {
            let e = parse::<String>(bad, "GET /v1/x").expect_err("bad body");
            assert_eq!(e.code(), "protocol_error");
            assert!(e.message().contains("GET /v1/x"), "{}", e.message());
        }
    }

    #[test]
    fn keys_are_validated() {
        for good in ["a", "A-z_0.9:x", &"k".repeat(256), ".", ".."] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "ключ", "a?b", "%2F", &"k".repeat(257)] {
            let err = validate_key(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_key");
            assert_eq!(err.kind(), crate::ErrorKind::Validation);
        }
    }

    #[test]
    fn key_paths_are_safe() {
        assert_eq!(
            variable_uri("orders:seen", "").expect("uri").path(),
            "/v1/variables/orders:seen"
        );
        assert_eq!(
            variable_uri("..", "/watch").expect("uri").path(),
            "/v1/variables/%2E%2E/watch"
        );
        assert!(variable_uri("a/b", "").is_err());
    }

    #[test]
    fn backoff_stays_within_bounds() {
        let base = Duration::from_millis(50);
        let cap = Duration::from_secs(1);
        for retry in 0..40 {
            let full = (base * 2u32.pow(retry.min(20))).min(cap);
            let lo = backoff_delay(base, cap, retry, 0.0);
            let hi = backoff_delay(base, cap, retry, 1.0);
            assert_eq!(lo, full / 2, "retry {retry}");
            assert_eq!(hi, full, "retry {retry}");
            let mid = backoff_delay(base, cap, retry, 0.5);
            assert!(lo <= mid && mid <= hi);
            assert!(hi <= cap);
        }
        assert_eq!(backoff_delay(base, cap, 0, 1.0), base);
        assert_eq!(backoff_delay(base, cap, 1, 1.0), base * 2);
        // Out-of-range jitter is clamped.
        assert_eq!(backoff_delay(base, cap, 0, 7.0), base);
    }

    #[test]
    fn envelope_keeps_raw_json_exact() {
        let body = br#"{"data":{"key":"k","value":{"big":123456789012345678901234567890},"version":2,"updatedAt":"t"}}"#;
        let v: Variable<Box<RawValue>> = parse(body, "test").expect("parse");
        assert_eq!(v.value.get(), r#"{"big":123456789012345678901234567890}"#);
        assert_eq!(v.version, 2);
        let err = parse::<Variable<Box<RawValue>>>(b"{}", "GET x").expect_err("no data");
        assert_eq!(err.code(), "protocol_error");
        assert_eq!(err.kind(), crate::ErrorKind::Protocol);
    }

    #[test]
    fn client_debug_hides_the_token() {
        let config = Config::builder()
            .url("http://127.0.0.1:9")
            .token("very-secret-token")
            .build()
            .expect("config");
        let client = Client::new(config);
        assert!(!format!("{client:?}").contains("very-secret-token"));
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        let client = Client::new(
            Config::builder()
                .url("http://127.0.0.1:9")
                .token("t")
                .build()
                .expect("config"),
        );
        let raw = RawValue::from_string("1".into()).expect("raw");
        assert_send(&client.get_variable::<Box<RawValue>>("k"));
        assert_send(&client.set_variable("k", &raw, None));
        assert_send(&client.output(&raw));
        assert_send(&client.execute_tool_action::<Box<RawValue>, _>("t", "a", &raw, None));
        assert_send(&client.stream_input::<Box<RawValue>>());
        assert_send(&client.stream_output());
        assert_send(&client.watch_variable::<Box<RawValue>>("k"));
    }
}
