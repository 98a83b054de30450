//! The blocking transport: plain `std` sockets driven by the calling thread.
//!
//! The [`BlockingClient`](crate::BlockingClient) sends its small request/response calls
//! here instead of through hyper on a Tokio runtime: one `write` of the request (built
//! by [`Outgoing`](crate::client::Outgoing), the same code that builds hyper's requests)
//! and usually one `read` of the whole answer into a buffer the connection keeps, framed
//! by [`wire`](crate::wire). No task, no channel, no waker, no `epoll`: two system calls
//! per call on a warm connection. Everything above the wire (auth, token refresh,
//! retries, error mapping, envelopes) is the async client's code, unchanged.
//!
//! Timeouts are socket timeouts fitted to the call's deadline before each blocking step.
//! A pooled connection the server closed while it was idle shows up as an error before
//! any byte of the answer arrived; the request is then sent once more on a fresh
//! connection, as the async path does.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::client::Failure;
use crate::config::Endpoint;
use crate::error::{Error, Result};
use crate::reactor::{RawSocket, Reactor};
use crate::transport::IdleList;
use crate::wire::{self, Chunked, Framing, Head, WireError};

/// Read buffer a connection starts with; a typical answer fits many times over.
const INITIAL_BUFFER: usize = 8 * 1024;
/// A connection whose buffer grew past this for a big answer gives the memory back.
const KEPT_BUFFER: usize = 64 * 1024;
/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Request bodies up to this size are copied behind the head and go out in one `write`.
const INLINE_BODY: usize = 16 * 1024;

/// A complete answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// Only for non-2xx answers; see [`wire::Head::headers`].
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) body: Bytes,
}

enum Stream {
    #[cfg(unix)]
    Unix(UnixStream),
    Tcp(TcpStream),
    /// HTTPS: rustls over the TCP socket (whose timeouts bound every step).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Tls(s) => s.sock.set_read_timeout(t),
        }
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Tls(s) => s.sock.set_write_timeout(t),
        }
    }

    #[cfg(unix)]
    fn raw(&self) -> RawSocket {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.sock.as_raw_fd(),
        }
    }

    #[cfg(windows)]
    fn raw(&self) -> RawSocket {
        use std::os::windows::io::AsRawSocket;
        match self {
            Stream::Tcp(s) => s.as_raw_socket(),
            Stream::Tls(s) => s.sock.as_raw_socket(),
        }
    }
}

/// One keep-alive connection with its buffers.
struct DirectConn {
    stream: Stream,
    /// The request being sent (head, and the body when small).
    req: Vec<u8>,
    /// Read buffer; its whole length is usable, `filled` bytes of it hold data.
    buf: Vec<u8>,
    /// The socket timeouts currently set, so they are only changed when the deadline
    /// calls for it (a `setsockopt` costs as much as the rest of a call's bookkeeping).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// It served a request before: the server may have closed it while idle.
    reused: bool,
}

/// Why one round trip failed.
struct Trip {
    error: Error,
    /// The request may have reached the server.
    sent: bool,
    /// The connection was closed by the server before any byte of the answer: on a
    /// reused connection this is a stale keep-alive, and the request can be sent again.
    stale: bool,
}

/// The call's time budget, and the error to give when it runs out.
#[derive(Clone, Copy)]
struct Budget {
    deadline: Instant,
    timeout: Duration,
}

impl Budget {
    /// What is left, or the call's timeout error when nothing is.
    fn remaining(&self) -> Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Error::timeout(self.timeout))
        } else {
            Ok(left)
        }
    }

    /// How far a socket timeout may be off the remaining time before it is reset: a
    /// call's first read usually finds the timeout set by the previous call, a few
    /// microseconds longer than what is left now.
    fn slack(&self) -> Duration {
        (self.timeout / 50).min(Duration::from_millis(20))
    }
}

/// Sets `current` (a socket timeout) to the remaining time unless it is already close.
fn fit_timeout(
    current: &mut Option<Duration>,
    budget: Budget,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> Result<()> {
    let left = budget.remaining()?;
    let slack = budget.slack();
    let close = current.is_some_and(|c| c <= left + slack && c + slack >= left);
    if !close {
        set(Some(left)).map_err(|e| io_error(&e))?;
        *current = Some(left);
    }
    Ok(())
}

fn io_error(e: &io::Error) -> Error {
    if let Some(tls) = crate::tls::tls_failure(e, "the runtime") {
        return tls;
    }
    Error::connection(format!("connection to the runtime failed: {e}"))
}

fn wire_error(e: WireError) -> Trip {
    Trip {
        error: Error::connection(format!("connection to the runtime failed: {}", e.0)),
        sent: true,
        stale: false,
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The server closed the connection (reset, broken pipe, not connected).
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
    )
}

impl DirectConn {
    fn new(stream: Stream) -> DirectConn {
        DirectConn {
            stream,
            req: Vec::with_capacity(1024),
            buf: vec![0; INITIAL_BUFFER],
            read_timeout: None,
            write_timeout: None,
            reused: false,
        }
    }

    /// Writes `self.req` and then `extra` (a large body), all of it.
    fn send(&mut self, extra: &[u8], budget: Budget) -> Result<(), Trip> {
        let total = self.req.len() + extra.len();
        let mut written = 0;
        while written < total {
            let fail = move |error: Error, stale: bool| Trip {
                error,
                sent: written > 0,
                stale: stale && written == 0,
            };
            let Self {
                stream,
                write_timeout,
                req,
                ..
            } = self;
            // A request that fits in the socket buffer (whose previous answers were all
            // read) cannot block; only a large one needs the timeout fitted to this call.
            if !extra.is_empty() || write_timeout.is_none() {
                fit_timeout(write_timeout, budget, |t| stream.set_write_timeout(t))
                    .map_err(|e| fail(e, false))?;
            }
            // Plain `write`s, not `writev`: std sends them with MSG_NOSIGNAL, so a
            // closed connection is an EPIPE error, never a SIGPIPE that kills a host
            // process that did not ignore it (a C program).
            let result = if written < req.len() {
                stream.write(&req[written..])
            } else {
                stream.write(&extra[written - req.len()..])
            };
            match result {
                Ok(0) => {
                    return Err(fail(
                        Error::connection("connection to the runtime failed: write returned 0"),
                        true,
                    ))
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Err(fail(Error::timeout(budget.timeout), false))
                }
                Err(e) => {
                    let closed = is_closed(&e);
                    return Err(fail(io_error(&e), closed));
                }
            }
        }
        Ok(())
    }

    /// Reads more bytes into `buf[filled..]` (growing it when full, up to `limit`).
    /// `Ok(0)` is the end of the stream.
    fn fill(&mut self, filled: usize, limit: usize, budget: Budget) -> Result<usize, Trip> {
        if filled == self.buf.len() {
            if filled >= limit {
                return Err(wire_error(WireError("response head too large".into())));
            }
            let grown = (self.buf.len() * 2).min(limit).max(filled + 1);
            self.buf.resize(grown, 0);
        }
        loop {
            let Self {
                stream,
                read_timeout,
                buf,
                ..
            } = self;
            fit_timeout(read_timeout, budget, |t| stream.set_read_timeout(t)).map_err(|e| {
                Trip {
                    error: e,
                    sent: true,
                    stale: false,
                }
            })?;
            match stream.read(&mut buf[filled..]) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Err(Trip {
                        error: Error::timeout(budget.timeout),
                        sent: true,
                        stale: false,
                    })
                }
                Err(e) => {
                    return Err(Trip {
                        error: io_error(&e),
                        sent: true,
                        stale: filled == 0 && is_closed(&e),
                    })
                }
            }
        }
    }

    /// Reads one whole answer. Also says whether the connection can carry another
    /// request.
    fn receive(&mut self, budget: Budget) -> Result<(Answer, bool), Trip> {
        let closed_early = |received: bool| Trip {
            error: Error::connection(
                "connection to the runtime failed: connection closed before message completed",
            ),
            sent: true,
            stale: !received,
        };
        let mut filled = 0;
        let mut received = false;
        let head: Head = loop {
            // Nothing read yet (a call's first pass): nothing to parse.
            let parsed = if filled == 0 {
                None
            } else {
                wire::parse_head(&self.buf[..filled]).map_err(wire_error)?
            };
            if let Some(head) = parsed {
                if !head.status.is_informational() {
                    break head;
                }
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(wire_error(WireError("unexpected protocol switch".into())));
                }
                // 100 Continue and friends: the real answer follows.
                self.buf.copy_within(head.len..filled, 0);
                filled -= head.len;
                continue;
            }
            let n = self.fill(filled, MAX_HEAD, budget).map_err(|mut t| {
                t.stale &= !received;
                t
            })?;
            if n == 0 {
                return Err(closed_early(received));
            }
            filled += n;
            received = true;
        };

        let start = head.len;
        let mut keep_alive = head.keep_alive;
        let (body, leftover) = match head.framing {
            Framing::Empty => (Bytes::new(), filled - start),
            Framing::Length(len) => {
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| l.checked_add(start))
                    .filter(|&e| e <= isize::MAX as usize)
                    .ok_or_else(|| wire_error(WireError("Content-Length too large".into())))?;
                // Room for the body, but not all at once for a huge Content-Length:
                // `fill` grows the buffer as bytes actually arrive.
                let room = end.min(filled.saturating_add(1 << 20));
                if self.buf.len() < room {
                    self.buf.resize(room, 0);
                }
                while filled < end {
                    let n = self.fill(filled, usize::MAX, budget)?;
                    if n == 0 {
                        return Err(closed_early(true));
                    }
                    filled += n;
                }
                (Bytes::copy_from_slice(&self.buf[start..end]), filled - end)
            }
            Framing::Chunked => {
                let mut decoder = Chunked::default();
                let mut out = Vec::new();
                let mut pos = start;
                loop {
                    pos += decoder
                        .decode(&self.buf[pos..filled], &mut out)
                        .map_err(wire_error)?;
                    if decoder.is_done() {
                        break;
                    }
                    // Keep only what the decoder could not use yet, then read more.
                    self.buf.copy_within(pos..filled, 0);
                    filled -= pos;
                    pos = 0;
                    let n = self.fill(filled, usize::MAX, budget)?;
                    if n == 0 {
                        return Err(closed_early(true));
                    }
                    filled += n;
                }
                (Bytes::from(out), filled - pos)
            }
            Framing::UntilClose => {
                keep_alive = false;
                loop {
                    let n = self.fill(filled, usize::MAX, budget)?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                (Bytes::copy_from_slice(&self.buf[start..filled]), 0)
            }
        };
        if self.buf.len() > KEPT_BUFFER {
            self.buf = vec![0; INITIAL_BUFFER];
        }
        // Bytes beyond the answer mean the two sides disagree about framing.
        let reusable = keep_alive && leftover == 0;
        let answer = Answer {
            status: head.status,
            headers: head.headers,
            body,
        };
        Ok((answer, reusable))
    }
}

/// Keep-alive connections of the blocking transport to one endpoint.
pub(crate) struct DirectPool {
    endpoint: Endpoint,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    idle: IdleList<DirectConn>,
}

impl fmt::Debug for DirectPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectPool")
            .field("idle", &self.idle)
            .finish()
    }
}

impl DirectPool {
    pub(crate) fn new(endpoint: Endpoint, max_idle: usize) -> DirectPool {
        DirectPool {
            endpoint,
            tls: None,
            idle: IdleList::new(max_idle),
        }
    }

    /// What HTTPS connections of this pool trust (the [`Config`](crate::Config)'s).
    pub(crate) fn with_tls(mut self, tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> Self {
        self.tls = tls;
        self
    }

    pub(crate) fn opened(&self) -> u64 {
        self.idle.opened()
    }

    pub(crate) fn idle_count(&self) -> usize {
        self.idle.len()
    }

    /// Sends one request and reads its whole answer, whatever the status.
    ///
    /// `encode` writes the request head into the (cleared) buffer; `body` follows it.
    /// The call's deadline bounds every blocking step; running out is
    /// [`Error::timeout`] with `timeout` (the configured per-call timeout).
    ///
    /// Without a reactor every step blocks the calling thread and the future never
    /// waits. With one, the wait for the answer's first bytes is the reactor's; the
    /// steps around it still block, briefly (see [`Reactor`]).
    pub(crate) async fn exchange(
        &self,
        encode: impl FnOnce(&mut Vec<u8>),
        body: Option<&[u8]>,
        deadline: Instant,
        timeout: Duration,
        reactor: Option<&dyn Reactor>,
    ) -> Result<Answer, Failure> {
        let budget = Budget { deadline, timeout };
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect(budget).map_err(Failure::unsent)?,
        };
        conn.req.clear();
        encode(&mut conn.req);
        let mut extra: &[u8] = &[];
        if let Some(body) = body {
            if body.len() <= INLINE_BODY {
                conn.req.extend_from_slice(body);
            } else {
                extra = body;
            }
        }
        let mut resent = false;
        loop {
            let trip = match conn.send(extra, budget) {
                Ok(()) => {
                    if let Some(reactor) = reactor {
                        reactor.wait(Some(conn.stream.raw()), deadline).await;
                    }
                    conn.receive(budget)
                }
                Err(t) => Err(t),
            };
            match trip {
                Ok((answer, reusable)) => {
                    if reusable {
                        self.checkin(conn);
                    }
                    return Ok(answer);
                }
                // The server closed this idle connection before it took the request: it
                // never saw it, so sending it once more on a fresh connection is safe even
                // for calls that are not idempotent.
                Err(t) if t.stale && conn.reused && !resent => {
                    let mut fresh = self.connect(budget).map_err(Failure::unsent)?;
                    std::mem::swap(&mut fresh.req, &mut conn.req);
                    conn = fresh;
                    resent = true;
                }
                Err(t) => {
                    return Err(Failure {
                        error: t.error,
                        sent: t.sent,
                    })
                }
            }
        }
    }

    fn checkin(&self, mut conn: DirectConn) {
        conn.reused = true;
        self.idle.put(conn);
    }

    fn connect(&self, budget: Budget) -> Result<DirectConn> {
        let fail = |e: &dyn fmt::Display| self.endpoint.connect_error(e);
        let stream = match &self.endpoint {
            #[cfg(unix)]
            Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(|e| fail(&e))?),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => return Err(fail(&"unsupported")),
            Endpoint::Tcp { host, port } => Stream::Tcp(tcp_connect(host, *port, budget, &fail)?),
            Endpoint::Https { host, port } => {
                let mut sock = tcp_connect(host, *port, budget, &fail)?;
                let config = self.tls.clone().ok_or_else(|| {
                    Error::not_configured("an https:// endpoint needs its TLS settings")
                })?;
                let mut tls = rustls::ClientConnection::new(config, crate::tls::server_name(host)?)
                    .map_err(|e| Error::not_configured(format!("TLS setup failed: {e}")))?;
                // The handshake now, within the call's budget, so its failure is reported
                // as such (and not as a request that may have been sent).
                let left = budget.remaining()?;
                let _ = sock.set_read_timeout(Some(left));
                let _ = sock.set_write_timeout(Some(left));
                while tls.is_handshaking() {
                    if let Err(e) = tls.complete_io(&mut sock) {
                        if is_timeout(&e) {
                            return Err(Error::timeout(budget.timeout));
                        }
                        return Err(crate::tls::tls_failure(
                            &e,
                            &format!("the runtime at {host}:{port}"),
                        )
                        .unwrap_or_else(|| fail(&e)));
                    }
                }
                Stream::Tls(Box::new(rustls::StreamOwned::new(tls, sock)))
            }
        };
        self.idle.count_opened();
        Ok(DirectConn::new(stream))
    }
}

/// A TCP connection to `host:port` within the budget (each address in turn).
fn tcp_connect(
    host: &str,
    port: u16,
    budget: Budget,
    fail: &dyn Fn(&dyn fmt::Display) -> Error,
) -> Result<TcpStream> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = (bare, port).to_socket_addrs().map_err(|e| fail(&e))?;
    let mut last: Option<io::Error> = None;
    let mut connected = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, budget.remaining()?) {
            Ok(s) => {
                connected = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                budget.remaining()?;
                last = Some(e);
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = match (connected, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(fail(&e)),
        (None, None) => return Err(fail(&"the host has no address")),
    };
    // Requests are small and latency-bound; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    /// A one-connection-at-a-time test server: for each accepted connection it reads
    /// requests (head plus Content-Length body) and answers each with the next scripted
    /// step.
    pub(crate) enum Step {
        /// Write these bytes (possibly several pieces with a pause between).
        Answer(Vec<Vec<u8>>),
        /// Close the connection without answering (after reading the request).
        Close,
        /// Read the request and never answer.
        Hang,
    }

    /// An answer written in these pieces.
    pub(crate) fn ans(pieces: &[&[u8]]) -> Step {
        Step::Answer(pieces.iter().map(|p| p.to_vec()).collect())
    }

    pub(crate) fn read_request(r: &mut impl BufRead) -> Option<Vec<u8>> {
        let mut head = Vec::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().ok()?;
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        head.extend_from_slice(&body);
        Some(head)
    }

    /// Serves `conns` (one script per connection, in order); sends every request it read
    /// to the returned channel.
    pub(crate) fn server(conns: Vec<Vec<Step>>) -> (Endpoint, mpsc::Receiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for steps in conns {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = io::BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                for step in steps {
                    let Some(req) = read_request(&mut reader) else {
                        break;
                    };
                    let _ = tx.send(req);
                    match step {
                        Step::Answer(pieces) => {
                            for p in pieces {
                                let _ = writer.write_all(&p);
                                let _ = writer.flush();
                                thread::sleep(Duration::from_millis(5));
                            }
                        }
                        Step::Close => break,
                        Step::Hang => thread::sleep(Duration::from_secs(2)),
                    }
                }
            }
        });
        (
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            rx,
        )
    }

    /// Drives a future of the reactor-less transport, which never waits.
    pub(crate) fn now<T>(fut: impl std::future::Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the blocking transport waited"),
        }
    }

    fn get(pool: &DirectPool, timeout: Duration) -> Result<Answer, Failure> {
        now(pool.exchange(
            |buf| buf.extend_from_slice(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n"),
            None,
            Instant::now() + timeout,
            timeout,
            None,
        ))
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"data\":42}";

    #[test]
    fn content_length_answers_reuse_one_connection() {
        let (ep, rx) = server(vec![vec![
            ans(&[OK]),
            // Split in the head and in the body.
            ans(&[
                b"HTTP/1.1 200 OK\r\ncontent-le",
                b"ngth: 11\r\n\r\n{\"da",
                b"ta\":42}",
            ]),
        ]]);
        let pool = DirectPool::new(ep, 4);
        for _ in 0..2 {
            let a = get(&pool, Duration::from_secs(5)).ok().expect("answer");
            assert_eq!(a.status, StatusCode::OK);
            assert_eq!(&a.body[..], b"{\"data\":42}");
        }
        assert_eq!(pool.opened(), 1);
        assert_eq!(pool.idle_count(), 1);
        assert!(rx
            .recv()
            .expect("request")
            .starts_with(b"GET /x HTTP/1.1\r\n"));
    }

    #[test]
    fn informational_heads_are_skipped() {
        const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        // Together with the answer, then alone in its own read before it.
        let together = [CONTINUE, OK].concat();
        let (ep, _rx) = server(vec![vec![ans(&[&together]), ans(&[CONTINUE, OK])]]);
        let pool = DirectPool::new(ep, 4);
        for _ in 0..2 {
            let a = get(&pool, Duration::from_secs(5)).ok().expect("answer");
            assert_eq!(a.status, StatusCode::OK);
            assert_eq!(&a.body[..], b"{\"data\":42}");
        }
        assert_eq!(pool.opened(), 1);
    }

    #[test]
    fn chunked_and_close_delimited_answers() {
        let (ep, _rx) = server(vec![
            vec![ans(&[
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"da\r\n",
                b"7\r\nta\":42}\r\n0\r\n\r\n",
            ])],
            vec![ans(&[b"HTTP/1.1 200 OK\r\n\r\n{\"data\"", b":1}"])],
        ]);
        let pool = DirectPool::new(ep, 4);
        let a = get(&pool, Duration::from_secs(5)).ok().expect("chunked");
        assert_eq!(&a.body[..], b"{\"data\":42}");
        assert_eq!(pool.idle_count(), 1);
        // The server then closes that connection (its script is done): the next call
        // finds it stale and resends on a new one, whose answer ends at EOF.
        let a = get(&pool, Duration::from_secs(5))
            .ok()
            .expect("until close");
        assert_eq!(&a.body[..], b"{\"data\":1}");
        assert_eq!(pool.opened(), 2);
        assert_eq!(
            pool.idle_count(),
            0,
            "a close-delimited connection is not reused"
        );
    }

    #[test]
    fn error_answers_keep_their_headers() {
        let (ep, _rx) = server(vec![vec![ans(&[
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\nx-request-id: r9\r\ncontent-length: 2\r\n\r\n{}",
        ])]]);
        let pool = DirectPool::new(ep, 4);
        let a = get(&pool, Duration::from_secs(5)).ok().expect("answer");
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        let h = a.headers.expect("headers");
        assert_eq!(h["retry-after"], "2");
        assert_eq!(h["x-request-id"], "r9");
    }

    #[test]
    fn stale_connection_is_replaced_once() {
        // First connection: one answer, then the server closes it. The second call
        // meets the closed connection and is resent once on a new one.
        let (ep, rx) = server(vec![vec![ans(&[OK])], vec![ans(&[OK])]]);
        let pool = DirectPool::new(ep, 4);
        get(&pool, Duration::from_secs(5)).ok().expect("first");
        thread::sleep(Duration::from_millis(50));
        let a = get(&pool, Duration::from_secs(5)).ok().expect("resent");
        assert_eq!(&a.body[..], b"{\"data\":42}");
        assert_eq!(pool.opened(), 2);
        assert_eq!(rx.iter().take(2).count(), 2);
    }

    #[test]
    fn a_fresh_connection_closed_before_answering_is_an_error() {
        let (ep, _rx) = server(vec![vec![Step::Close]]);
        let pool = DirectPool::new(ep, 4);
        let f = get(&pool, Duration::from_secs(5)).expect_err("closed");
        assert_eq!(f.error.code(), "connection_failed");
        assert!(f.sent, "it was written: it may have been seen");
        assert_eq!(pool.opened(), 1, "no resend on a fresh connection");
    }

    #[test]
    fn truncated_body_is_an_error_and_the_connection_is_dropped() {
        // The script ends after the partial answer: the server closes the connection.
        let (ep, _rx) = server(vec![vec![ans(&[
            b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{\"da",
        ])]]);
        let pool = DirectPool::new(ep, 4);
        let f = get(&pool, Duration::from_secs(5)).expect_err("truncated");
        assert!(
            f.error
                .message()
                .contains("closed before message completed"),
            "{}",
            f.error
        );
        assert_eq!(pool.idle_count(), 0);
    }

    #[test]
    fn garbage_is_a_connection_error() {
        let (ep, _rx) = server(vec![vec![ans(&[b"NOT HTTP\r\n\r\n"])]]);
        let pool = DirectPool::new(ep, 4);
        let f = get(&pool, Duration::from_secs(5)).expect_err("garbage");
        assert_eq!(f.error.code(), "connection_failed");
        assert!(f.error.retryable());
    }

    #[test]
    fn a_silent_server_times_out_at_the_deadline() {
        let (ep, _rx) = server(vec![vec![Step::Hang]]);
        let pool = DirectPool::new(ep, 4);
        let start = Instant::now();
        let f = get(&pool, Duration::from_millis(200)).expect_err("timeout");
        let took = start.elapsed();
        assert_eq!(f.error.code(), "timeout");
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        assert_eq!(pool.idle_count(), 0, "a timed-out connection is not reused");
    }

    #[test]
    fn nothing_listening_is_connection_failed_and_unsent() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let pool = DirectPool::new(
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            4,
        );
        let f = get(&pool, Duration::from_secs(2)).expect_err("refused");
        assert_eq!(f.error.code(), "connection_failed");
        assert!(!f.sent);
    }

    #[cfg(unix)]
    #[test]
    fn unix_socket_with_large_body() {
        use std::os::unix::net::UnixListener;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = io::BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            while let Some(req) = read_request(&mut reader) {
                let len = req.len();
                let _ = tx.send(req);
                let body = format!("{{\"data\":{len}}}");
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = writer.write_all(head.as_bytes());
                let _ = writer.write_all(body.as_bytes());
            }
        });
        let pool = DirectPool::new(Endpoint::Unix(path), 4);
        let big = vec![b'x'; 3 * 1024 * 1024];
        let head = format!(
            "PUT /x HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            big.len()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let a = now(pool.exchange(
            |buf| buf.extend_from_slice(head.as_bytes()),
            Some(&big),
            deadline,
            Duration::from_secs(10),
            None,
        ))
        .ok()
        .expect("answer");
        let expected = head.len() + big.len();
        assert_eq!(a.body, format!("{{\"data\":{expected}}}"));
        assert_eq!(rx.recv().expect("req").len(), expected);
        // And a small one on the same connection.
        let a = now(pool.exchange(
            |buf| buf.extend_from_slice(b"GET /y HTTP/1.1\r\nhost: t\r\n\r\n"),
            None,
            deadline,
            Duration::from_secs(10),
            None,
        ))
        .ok()
        .expect("answer");
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(pool.opened(), 1);
    }
}
