//! The blocking client, for synchronous bindings (Python's sync API, the C library).
//!
//! It runs the async [`Client`]'s own code, so there is exactly one implementation of
//! every behaviour (auth, token refresh, retries, error mapping, envelopes). Calls go
//! through a blocking handle on the same client: its futures do their I/O over plain
//! sockets on the calling thread ([`crate::direct`]) and are driven by a minimal
//! thread-parking loop, with no runtime, task or `epoll` in between. Streams and
//! watches run on a current-thread Tokio runtime the client starts on first use.
//!
//! Its methods must not be called from inside a Tokio runtime (a thread already
//! driving async code): they return an error with code `runtime_context` instead of
//! blocking that runtime or panicking. Use the async client there.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::runtime::{Handle, Runtime};

use crate::client::{Client, Variable, VariableMeta};
use crate::config::{Config, Endpoint};
use crate::error::{Error, Result};
use crate::stream::{OutputWriter, RecordStream, StreamSummary, VariableChange, WatchStream};

/// The runtime, shut down without blocking if it is dropped on a runtime thread (where a
/// blocking shutdown would panic).
///
/// A forked child shares the parent's epoll instance: tearing the runtime down there
/// would deregister the parent's sockets from it and hang the parent's next call. So in a
/// child the runtime (and the connections it drives) is leaked, never dropped or driven.
struct OwnedRuntime {
    rt: Option<Runtime>,
    /// The process that made it: another one is a forked child.
    pid: u32,
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            if std::process::id() != self.pid {
                std::mem::forget(rt);
            } else if Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                drop(rt);
            }
        }
    }
}

/// Refuses a call from inside a Tokio runtime (blocking would stall it) and a call in a
/// forked child of the process `pid` that made the client (its connections and runtime
/// are the parent's).
fn check_context(pid: u32) -> Result<()> {
    if Handle::try_current().is_ok() {
        return Err(Error::runtime_context(
            "the blocking Cronium client was called from inside a Tokio runtime, where \
             blocking would stall it; use the async client there",
        ));
    }
    if std::process::id() != pid {
        return Err(Error::runtime_context(
            "this Cronium client was made before fork(); the child process must make \
             its own client",
        ));
    }
    Ok(())
}

fn block_here<F: Future>(fut: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
    }
    fn drive<F: Future>(mut fut: Pin<&mut F>, waker: &Waker) -> F::Output {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            // Spurious wake-ups only cost another poll.
            thread::park();
        }
    }
    let mut fut = pin!(fut);
    let mut out = None;
    let _ = WAKER.try_with(|waker| out = Some(drive(fut.as_mut(), waker)));
    match out {
        Some(out) => out,
        // Only during thread teardown, when the thread-local is already gone.
        None => drive(
            fut.as_mut(),
            &Waker::from(Arc::new(Unpark(thread::current()))),
        ),
    }
}

/// Runs the futures of streams and watches (hyper connections, Tokio timers) on a
/// current-thread runtime, started on first use; refuses from inside a runtime.
#[derive(Clone)]
struct Driver {
    rt: Arc<OnceLock<Result<OwnedRuntime>>>,
    /// The process that made the client.
    pid: u32,
}

impl Driver {
    fn new() -> Driver {
        Driver {
            rt: Arc::new(OnceLock::new()),
            pid: std::process::id(),
        }
    }

    fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        check_context(self.pid)?;
        let rt = self.rt.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| OwnedRuntime {
                    rt: Some(rt),
                    pid: self.pid,
                })
                .map_err(|e| {
                    Error::runtime_context(format!("cannot start the client's Tokio runtime: {e}"))
                })
        });
        match rt {
            Ok(OwnedRuntime { rt: Some(rt), .. }) => Ok(rt.block_on(fut)),
            Ok(OwnedRuntime { rt: None, .. }) => {
                Err(Error::runtime_context("the client's runtime is shut down"))
            }
            Err(e) => Err(e.clone()),
        }
    }

    fn run<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_on(fut)?
    }

    /// Runs a future of the blocking handle on the calling thread. They do their I/O
    /// with blocking calls, so they are ready on the first poll; the only thing they can
    /// wait for is the token refresh lock another thread holds, whose release wakes
    /// this thread.
    fn run_here<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        check_context(self.pid)?;
        block_here(fut)
    }
}

/// A synchronous client: the same operations as [`Client`], blocking the calling thread.
///
/// `Send + Sync`: several threads may call it at once (each gets its own connection
/// while they overlap). Do not call it from inside a Tokio runtime; see the module docs.
pub struct BlockingClient {
    /// The async handle: streams, watches, and [`client`](Self::client).
    client: Client,
    /// The same client, blocking handle: every other call.
    direct: Client,
    driver: Driver,
}

impl fmt::Debug for BlockingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingClient")
            .field("client", &self.client)
            .finish()
    }
}

impl BlockingClient {
    /// A blocking client for this configuration. Connects lazily, on the first call;
    /// the Tokio runtime that streams and watches need is only started when one is
    /// opened.
    pub fn new(config: Config) -> Result<BlockingClient> {
        let client = Client::new(config);
        Ok(BlockingClient {
            direct: client.blocking_handle(),
            client,
            driver: Driver::new(),
        })
    }

    /// A blocking client configured from the script's environment.
    pub fn from_env() -> Result<BlockingClient> {
        BlockingClient::new(Config::from_env()?)
    }

    /// The async client inside, sharing the token. The connections the blocking calls
    /// use (plain sockets) are only reused by this blocking client; used on a runtime
    /// the async client opens its own.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where this client connects.
    pub fn endpoint(&self) -> &Endpoint {
        self.client.endpoint()
    }

    /// See [`Client::execution_id`].
    pub fn execution_id(&self) -> Option<&str> {
        self.client.execution_id()
    }

    /// See [`Client::token_expires_at`].
    pub fn token_expires_at(&self) -> Option<u64> {
        self.client.token_expires_at()
    }

    /// See [`Client::connections_opened`].
    pub fn connections_opened(&self) -> u64 {
        self.client.connections_opened()
    }

    /// See [`Client::health`].
    pub fn health(&self) -> Result<()> {
        self.driver.run_here(self.direct.health())
    }

    /// See [`Client::input`].
    pub fn input<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run_here(self.direct.input())
    }

    /// See [`Client::output`].
    pub fn output<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.driver.run_here(self.direct.output(value))
    }

    /// See [`Client::get_output`].
    pub fn get_output<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run_here(self.direct.get_output())
    }

    /// See [`Client::get_variable`].
    pub fn get_variable<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Variable<T>>> {
        self.driver.run_here(self.direct.get_variable(key))
    }

    /// See [`Client::set_variable`].
    pub fn set_variable<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        if_version: Option<u64>,
    ) -> Result<VariableMeta> {
        self.driver
            .run_here(self.direct.set_variable(key, value, if_version))
    }

    /// See [`Client::delete_variable`].
    pub fn delete_variable(&self, key: &str, if_version: Option<u64>) -> Result<bool> {
        self.driver
            .run_here(self.direct.delete_variable(key, if_version))
    }

    /// See [`Client::list_variables`].
    pub fn list_variables(&self) -> Result<Vec<String>> {
        self.driver.run_here(self.direct.list_variables())
    }

    /// See [`Client::list_tools`].
    pub fn list_tools<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run_here(self.direct.list_tools())
    }

    /// See [`Client::set_condition`].
    pub fn set_condition(&self, condition: bool) -> Result<()> {
        self.driver.run_here(self.direct.set_condition(condition))
    }

    /// See [`Client::get_condition`].
    pub fn get_condition(&self) -> Result<Option<bool>> {
        self.driver.run_here(self.direct.get_condition())
    }

    /// See [`Client::context`].
    pub fn context<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run_here(self.direct.context())
    }

    /// See [`Client::refresh_token`].
    pub fn refresh_token(&self) -> Result<()> {
        self.driver.run_here(self.direct.refresh_token())
    }

    /// See [`Client::execute_tool_action`].
    pub fn execute_tool_action<T, P>(
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
        self.driver.run_here(
            self.direct
                .execute_tool_action(tool, action, params, idempotency_key),
        )
    }

    /// See [`Client::execute_tool_call`].
    pub fn execute_tool_call<T: DeserializeOwned>(
        &self,
        call: &crate::ToolCall,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        self.driver
            .run_here(self.direct.execute_tool_call(call, idempotency_key))
    }

    /// See [`Client::stream_input`]; iterate the result.
    pub fn stream_input<T: DeserializeOwned>(&self) -> Result<RecordIter<T>> {
        let inner = self.driver.run(self.client.stream_input())?;
        Ok(RecordIter {
            driver: self.driver.clone(),
            inner,
            done: false,
        })
    }

    /// See [`Client::stream_output`].
    pub fn stream_output(&self) -> Result<BlockingOutputWriter> {
        let inner = self.driver.run(self.client.stream_output())?;
        Ok(BlockingOutputWriter {
            driver: self.driver.clone(),
            inner,
        })
    }

    /// See [`Client::watch_variable`]; iterate the result (each `next` blocks until the
    /// next change).
    pub fn watch_variable<T>(&self, key: &str) -> Result<WatchIter<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let inner = self.driver.run(self.client.watch_variable(key))?;
        Ok(WatchIter {
            driver: self.driver.clone(),
            inner,
            done: false,
        })
    }
}

/// Blocking iterator over input records; see [`RecordStream`].
pub struct RecordIter<T> {
    driver: Driver,
    inner: RecordStream<T>,
    done: bool,
}

impl<T> fmt::Debug for RecordIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordIter")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Iterator for RecordIter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let item = match self.driver.block_on(self.inner.next()) {
            Ok(item) => item,
            // Misuse (inside a runtime): report once, then end, so a `for` loop stops.
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        };
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

/// Blocking iterator over a variable's changes; see [`WatchStream`].
pub struct WatchIter<T> {
    driver: Driver,
    inner: WatchStream<T>,
    done: bool,
}

impl<T> fmt::Debug for WatchIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchIter").finish_non_exhaustive()
    }
}

impl<T> Iterator for WatchIter<T> {
    type Item = Result<VariableChange<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.driver.block_on(self.inner.next()) {
            Ok(item) => item,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        };
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

impl<T> WatchIter<T> {
    /// The next change, waiting at most `timeout`: `Ok(Some(change))`, or `Ok(None)` when
    /// none came in time (the watch stays open: call again). An error ends the watch (the
    /// server refused it for good); every later call returns a `protocol_error`.
    ///
    /// For callers that cannot block indefinitely (the C library, a loop that also checks
    /// for shutdown). Waiting is cancel-safe: a change arriving as the time runs out is
    /// kept for the next call, never lost.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<VariableChange<T>>> {
        if self.done {
            return Err(Error::protocol("the watch has ended; open a new one"));
        }
        // The stream keeps a change it was receiving when the timer fires (its state lives
        // in the stream, not in the dropped `next` future). The timer is made inside the
        // runtime: Tokio's timers need its context.
        let inner = &mut self.inner;
        let waited = self
            .driver
            .block_on(async move { tokio::time::timeout(timeout, inner.next()).await });
        match waited {
            Ok(Ok(Some(Ok(change)))) => Ok(Some(change)),
            Ok(Err(_elapsed)) => Ok(None),
            Ok(Ok(Some(Err(e)))) | Err(e) => {
                self.done = true;
                Err(e)
            }
            Ok(Ok(None)) => {
                self.done = true;
                Err(Error::protocol("the watch has ended; open a new one"))
            }
        }
    }
}

/// Blocking writer of the output stream; see [`OutputWriter`]. Dropping it without
/// [`close`](Self::close) aborts the stream.
pub struct BlockingOutputWriter {
    driver: Driver,
    inner: OutputWriter,
}

impl fmt::Debug for BlockingOutputWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingOutputWriter")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl BlockingOutputWriter {
    /// Sends one record; blocks while the stream is backed up.
    pub fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        self.driver.run(self.inner.write(record))
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.inner.records_written()
    }

    /// Ends the stream and returns the server's count.
    pub fn close(self) -> Result<StreamSummary> {
        let BlockingOutputWriter { driver, inner } = self;
        driver.run(inner.close())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> BlockingClient {
        let dir = std::env::temp_dir().join("cronium-client-test-absent.sock");
        BlockingClient::new(
            Config::builder()
                .socket(dir)
                .token("t")
                .max_retries(0)
                .build()
                .expect("config"),
        )
        .expect("client")
    }

    #[test]
    fn blocking_calls_work_outside_a_runtime() {
        let c = client();
        let err = c.list_variables().expect_err("no server");
        assert_eq!(err.code(), "connection_failed");
        let err = c.get_variable::<i64>("bad key").expect_err("bad key");
        assert_eq!(err.code(), "invalid_key");
    }

    #[test]
    fn blocking_calls_inside_a_runtime_are_an_error() {
        let c = client();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let err = rt
            .block_on(async { c.list_variables() })
            .expect_err("inside runtime");
        assert_eq!(err.code(), "runtime_context");
        // Dropping the client on a runtime thread must not panic either.
        rt.block_on(async move { drop(c) });
    }

    mod over_the_wire {
        //! The blocking handle runs the async client's logic over the blocking
        //! transport: retries, auth, refresh, timeouts and error mapping, against a
        //! scripted server.

        use std::time::{Duration, Instant};

        use base64::Engine as _;

        use super::super::BlockingClient;
        use crate::config::{Config, Endpoint};
        use crate::direct::tests::{server, Step};
        use crate::ErrorKind;

        fn client_for(ep: &Endpoint, token: &str, timeout: Duration) -> BlockingClient {
            let Endpoint::Tcp { host, port } = ep else {
                unreachable!("the test server is TCP")
            };
            BlockingClient::new(
                Config::builder()
                    .url(format!("http://{host}:{port}"))
                    .token(token)
                    .timeout(timeout)
                    .retry_base_delay(Duration::from_millis(5))
                    .build()
                    .expect("config"),
            )
            .expect("client")
        }

        /// An answer with this status line, extra header lines and body.
        fn resp(status: &str, headers: &str, body: &str) -> Step {
            let text = format!(
                "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\n\r\n{body}",
                body.len()
            );
            Step::Answer(vec![text.into_bytes()])
        }

        fn list() -> Step {
            resp("200 OK", "", r#"{"data":["a","b"]}"#)
        }

        fn unavailable() -> Step {
            resp(
                "503 Service Unavailable",
                "",
                r#"{"error":{"code":"storage_unavailable","message":"try later"}}"#,
            )
        }

        #[test]
        fn idempotent_calls_are_retried_and_carry_the_token() {
            let (ep, rx) = server(vec![vec![unavailable(), list()]]);
            let c = client_for(&ep, "tok-1", Duration::from_secs(5));
            assert_eq!(c.list_variables().expect("list"), ["a", "b"]);
            let first = String::from_utf8(rx.recv().expect("req")).expect("utf-8");
            assert!(
                first.starts_with("GET /v1/variables HTTP/1.1\r\n"),
                "{first}"
            );
            assert!(
                first.contains("\r\nauthorization: Bearer tok-1\r\n"),
                "{first}"
            );
            assert!(first.contains("\r\nhost: 127.0.0.1:"), "{first}");
            assert!(rx.recv().is_ok(), "the retry");
            assert_eq!(
                c.connections_opened(),
                1,
                "an error answer keeps the connection"
            );
        }

        #[test]
        fn bodies_are_framed_and_errors_are_typed() {
            let conflict = resp(
                "409 Conflict",
                "x-request-id: rq-7\r\n",
                r#"{"error":{"code":"version_conflict","message":"stale"}}"#,
            );
            let (ep, rx) = server(vec![vec![conflict]]);
            let c = client_for(&ep, "t", Duration::from_secs(5));
            let err = c.set_variable("k", &7, Some(3)).expect_err("conflict");
            assert_eq!(
                (err.kind(), err.code(), err.status()),
                (ErrorKind::Conflict, "version_conflict", Some(409))
            );
            assert_eq!(err.request_id(), Some("rq-7"));
            let req = String::from_utf8(rx.recv().expect("req")).expect("utf-8");
            assert!(req.starts_with("PUT /v1/variables/k HTTP/1.1\r\n"), "{req}");
            assert!(
                req.contains("\r\ncontent-type: application/json\r\n"),
                "{req}"
            );
            assert!(req.contains("\r\nif-match: 3\r\n"), "{req}");
            assert!(
                req.ends_with("\r\ncontent-length: 11\r\n\r\n{\"value\":7}"),
                "{req}"
            );
        }

        #[test]
        fn missing_variable_is_none_and_rate_limits_past_the_cap_are_returned() {
            let missing = resp(
                "404 Not Found",
                "",
                r#"{"error":{"code":"variable_not_found","message":"no such"}}"#,
            );
            let limited = resp(
                "429 Too Many Requests",
                "retry-after: 60\r\n",
                r#"{"error":{"code":"rate_limited","message":"slow"}}"#,
            );
            let (ep, _rx) = server(vec![vec![missing, limited]]);
            let c = client_for(&ep, "t", Duration::from_secs(5));
            assert!(c.get_variable::<i64>("k").expect("get").is_none());
            let start = Instant::now();
            let err = c.input::<i64>().expect_err("limited");
            assert_eq!(err.kind(), ErrorKind::RateLimited);
            assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
            assert!(start.elapsed() < Duration::from_secs(1), "not waited out");
        }

        #[test]
        fn storage_unavailable_is_retried_after_the_time_asked() {
            let busy = |after: u32| {
                resp(
                    "503 Service Unavailable",
                    &format!("retry-after: {after}\r\n"),
                    r#"{"error":{"code":"storage_unavailable","message":"later"}}"#,
                )
            };
            let (ep, rx) = server(vec![vec![busy(1), list(), busy(60)]]);
            let c = client_for(&ep, "t", Duration::from_secs(5));
            let start = Instant::now();
            assert_eq!(c.list_variables().expect("list"), ["a", "b"]);
            assert!(
                start.elapsed() >= Duration::from_secs(1),
                "waited the second asked, not the 5 ms backoff: {:?}",
                start.elapsed()
            );
            assert_eq!(rx.iter().take(2).count(), 2, "sent twice");
            // Longer than the caller agreed to wait (5 s): answered at once.
            let start = Instant::now();
            let err = c.list_variables().expect_err("503");
            assert_eq!(err.code(), "storage_unavailable");
            assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
            assert!(start.elapsed() < Duration::from_secs(1), "not waited out");
        }

        #[test]
        fn non_idempotent_calls_are_not_retried_once_sent() {
            // A token refresh is a POST that is not safe to repeat.
            let (ep, rx) = server(vec![vec![unavailable(), list()]]);
            let c = client_for(&ep, "t", Duration::from_secs(5));
            let err = c.refresh_token().expect_err("503");
            assert_eq!(err.code(), "storage_unavailable");
            let req = String::from_utf8(rx.recv().expect("req")).expect("utf-8");
            assert!(
                req.starts_with("POST /v1/token/refresh HTTP/1.1\r\n"),
                "{req}"
            );
            assert!(req.ends_with("content-length: 2\r\n\r\n{}"), "{req}");
            assert!(
                rx.recv_timeout(Duration::from_millis(200)).is_err(),
                "no second try"
            );
        }

        #[test]
        fn the_timeout_bounds_the_call() {
            let (ep, _rx) = server(vec![vec![Step::Hang]]);
            let c = client_for(&ep, "t", Duration::from_millis(300));
            let start = Instant::now();
            let err = c.list_variables().expect_err("timeout");
            let took = start.elapsed();
            assert_eq!((err.kind(), err.code()), (ErrorKind::Timeout, "timeout"));
            assert!(
                took >= Duration::from_millis(290) && took < Duration::from_secs(2),
                "{took:?}"
            );
        }

        fn jwt(exp: u64, iat: u64) -> String {
            let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            let payload = format!(r#"{{"exp":{exp},"iat":{iat}}}"#);
            format!("{}.{}.sig", enc(r#"{"alg":"HS256"}"#), enc(&payload))
        }

        #[test]
        fn a_token_close_to_expiry_is_refreshed_first() {
            let now = crate::token::now_secs();
            let old = jwt(now + 5, now - 600);
            let fresh = jwt(now + 3600, now);
            let body = format!(r#"{{"data":{{"token":"{fresh}","expiresAt":"x"}}}}"#);
            let (ep, rx) = server(vec![vec![resp("200 OK", "", &body), list()]]);
            let c = client_for(&ep, &old, Duration::from_secs(5));
            assert_eq!(c.list_variables().expect("list"), ["a", "b"]);
            let first = String::from_utf8(rx.recv().expect("req")).expect("utf-8");
            assert!(first.starts_with("POST /v1/token/refresh "), "{first}");
            assert!(first.contains(&format!("Bearer {old}\r\n")));
            let second = String::from_utf8(rx.recv().expect("req")).expect("utf-8");
            assert!(second.starts_with("GET /v1/variables "), "{second}");
            assert!(second.contains(&format!("Bearer {fresh}\r\n")));
            assert_eq!(c.token_expires_at(), Some(now + 3600));
        }

        #[test]
        fn threads_share_one_refresh_and_get_their_own_connections() {
            use std::io::{BufReader, Write as _};
            use std::net::TcpListener;
            use std::sync::atomic::{AtomicUsize, Ordering};
            use std::sync::Arc;

            let now = crate::token::now_secs();
            let old = jwt(now + 5, now - 600);
            let fresh = jwt(now + 3600, now);
            let refreshes = Arc::new(AtomicUsize::new(0));
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            {
                let (fresh, refreshes) = (fresh.clone(), Arc::clone(&refreshes));
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        let Ok(stream) = stream else { return };
                        let (fresh, refreshes) = (fresh.clone(), Arc::clone(&refreshes));
                        std::thread::spawn(move || {
                            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                            let mut writer = stream;
                            while let Some(req) = crate::direct::tests::read_request(&mut reader) {
                                let body = if req.starts_with(b"POST /v1/token/refresh ") {
                                    // Slow, so the other threads queue behind the lock.
                                    std::thread::sleep(Duration::from_millis(100));
                                    refreshes.fetch_add(1, Ordering::SeqCst);
                                    format!(r#"{{"data":{{"token":"{fresh}"}}}}"#)
                                } else {
                                    r#"{"data":["a","b"]}"#.to_owned()
                                };
                                let text = format!(
                                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                if writer.write_all(text.as_bytes()).is_err() {
                                    return;
                                }
                            }
                        });
                    }
                });
            }
            let ep = Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            };
            let c = client_for(&ep, &old, Duration::from_secs(5));
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..20 {
                            assert_eq!(c.list_variables().expect("list"), ["a", "b"]);
                        }
                    });
                }
            });
            assert_eq!(
                refreshes.load(Ordering::SeqCst),
                1,
                "one refresh for all threads"
            );
            assert_eq!(c.token_expires_at(), Some(now + 3600));
            let opened = c.connections_opened();
            assert!((1..=4).contains(&opened), "{opened} connections");
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn blocking_client_is_shareable() {
        assert_send_sync::<BlockingClient>();
    }
}
