//! Connections to the sidecar for the async client (hyper): connect over a Unix socket
//! or TCP, and a small pool of keep-alive HTTP/1.1 connections. The blocking client's
//! calls use plain sockets instead ([`crate::direct`]); only its streams and watches
//! come here.
//!
//! A single-threaded script reuses one persistent connection for every call; concurrent
//! callers each get their own (the pool opens one when all are busy and keeps up to
//! `max_idle` for reuse). hyper's connection driver runs as a task on the runtime that
//! opened the connection, so connections are only reused on that same runtime: a
//! current-thread runtime (the blocking client's) drives its connections only while it
//! is inside `block_on`, and handing such a connection to another runtime would hang.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderValue;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::{Handle, Id as RuntimeId};
use tokio::sync::mpsc;

use crate::config::Endpoint;
use crate::error::{Error, Result};

/// The body of every request this client sends: nothing, one buffer, or a stream of
/// NDJSON chunks fed by an [`OutputWriter`](crate::OutputWriter).
pub(crate) enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    Channel {
        rx: mpsc::Receiver<Bytes>,
        /// Set by `close()`: the end of the channel is then the end of the body. A channel
        /// that ends without it (the writer was dropped) aborts the request so the server
        /// does not take a truncated stream for a complete one.
        finished: Arc<AtomicBool>,
    },
}

/// The writer went away without `close()`; the request is aborted.
#[derive(Debug)]
pub(crate) struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output stream dropped without close()")
    }
}

impl StdError for Aborted {}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ReqBody::Channel { rx, finished } => match rx.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                Poll::Ready(None) if finished.load(Ordering::Acquire) => Poll::Ready(None),
                Poll::Ready(None) => Poll::Ready(Some(Err(Aborted))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(data) => data.as_ref().is_none_or(Bytes::is_empty),
            ReqBody::Channel { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            ReqBody::Channel { .. } => SizeHint::default(),
        }
    }
}

/// A connection checked out of the pool for one request.
pub(crate) struct Conn {
    pub(crate) sender: SendRequest<ReqBody>,
    runtime: RuntimeId,
    /// It served a request before: it may have been closed by the server while idle.
    pub(crate) reused: bool,
}

struct Idle {
    sender: SendRequest<ReqBody>,
    runtime: RuntimeId,
}

/// The idle connections a pool keeps (up to `max_idle`, the oldest dropped first), and
/// how many it has opened: the bookkeeping both transports' pools share.
pub(crate) struct IdleList<T> {
    idle: Mutex<Vec<T>>,
    max_idle: usize,
    opened: AtomicU64,
}

impl<T> IdleList<T> {
    pub(crate) fn new(max_idle: usize) -> Self {
        IdleList {
            idle: Mutex::new(Vec::new()),
            max_idle,
            opened: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many connections are kept right now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// How many connections were opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Counts a newly opened connection.
    pub(crate) fn count_opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `conn` for reuse, dropping the oldest kept one when full.
    pub(crate) fn put(&self, conn: T) {
        if self.max_idle == 0 {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= self.max_idle {
            idle.remove(0);
        }
        idle.push(conn);
    }
}

impl<T> fmt::Debug for IdleList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleList")
            .field("idle", &self.len())
            .field("max_idle", &self.max_idle)
            .field("opened", &self.opened())
            .finish()
    }
}

/// Opens connections to one endpoint and keeps idle ones for reuse.
pub(crate) struct Pool {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    host: HeaderValue,
    idle: IdleList<Idle>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("endpoint", &self.endpoint)
            .field("idle", &self.idle)
            .finish()
    }
}

impl Pool {
    pub(crate) fn new(endpoint: Endpoint, max_idle: usize) -> Pool {
        let host = HeaderValue::from_str(&endpoint.host_header())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Pool {
            endpoint,
            tls: None,
            host,
            idle: IdleList::new(max_idle),
        }
    }

    /// What HTTPS connections of this pool trust (the [`Config`](crate::Config)'s).
    pub(crate) fn with_tls(mut self, tls: Option<Arc<rustls::ClientConfig>>) -> Pool {
        self.tls = tls;
        self
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The `Host` header every request carries.
    pub(crate) fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// How many connections this pool has opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.idle.opened()
    }

    /// How many idle connections are kept right now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.len()
    }

    /// An idle connection of the current runtime that is ready for a request, else a new
    /// one.
    pub(crate) async fn checkout(&self) -> Result<Conn> {
        let runtime = current_runtime()?;
        loop {
            let candidate = {
                let mut idle = self.idle.lock();
                idle.retain(|c| !c.sender.is_closed());
                idle.iter()
                    .rposition(|c| c.runtime == runtime)
                    .map(|i| idle.remove(i))
            };
            let Some(mut candidate) = candidate else {
                break;
            };
            if candidate.sender.ready().await.is_ok() {
                return Ok(Conn {
                    sender: candidate.sender,
                    runtime,
                    reused: true,
                });
            }
        }
        self.connect_on(runtime).await
    }

    /// A brand-new connection (after a pooled one turned out to be stale).
    pub(crate) async fn connect(&self) -> Result<Conn> {
        let runtime = current_runtime()?;
        self.connect_on(runtime).await
    }

    /// Gives a connection back after its response was read completely.
    pub(crate) fn checkin(&self, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        self.idle.put(Idle {
            sender: conn.sender,
            runtime: conn.runtime,
        });
    }

    async fn connect_on(&self, runtime: RuntimeId) -> Result<Conn> {
        let fail = |e: &dyn fmt::Display| self.endpoint.connect_error(e);
        let sender = match &self.endpoint {
            #[cfg(unix)]
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| fail(&e))?;
                handshake(stream).await?
            }
            #[cfg(not(unix))]
            Endpoint::Unix(_) => return Err(fail(&"unsupported")),
            Endpoint::Tcp { host, port } => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let stream = tokio::net::TcpStream::connect((bare, *port))
                    .await
                    .map_err(|e| fail(&e))?;
                // Requests are small and latency-bound; Nagle would only delay them.
                let _ = stream.set_nodelay(true);
                handshake(stream).await?
            }
            Endpoint::Https { host, port } => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let stream = tokio::net::TcpStream::connect((bare, *port))
                    .await
                    .map_err(|e| fail(&e))?;
                let _ = stream.set_nodelay(true);
                let config = self.tls.clone().ok_or_else(|| {
                    Error::not_configured("an https:// endpoint needs its TLS settings")
                })?;
                let name = crate::tls::server_name(host)?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| {
                        crate::tls::tls_failure(&e, &format!("the runtime at {host}:{port}"))
                            .unwrap_or_else(|| fail(&e))
                    })?;
                handshake(stream).await?
            }
        };
        self.idle.count_opened();
        Ok(Conn {
            sender,
            runtime,
            reused: false,
        })
    }
}

fn current_runtime() -> Result<RuntimeId> {
    Handle::try_current().map(|h| h.id()).map_err(|_| {
        Error::runtime_context(
            "the async Cronium client must be used inside a Tokio runtime (with IO and time \
             enabled); use BlockingClient from synchronous code",
        )
    })
}

async fn handshake<S>(stream: S) -> Result<SendRequest<ReqBody>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::from_hyper(&e))?;
    // The driver ends when the connection closes; its error, if any, reaches the
    // request that was in flight, so there is nothing more to report here.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn full_body_has_exact_length() {
        let body = ReqBody::Full(Some(Bytes::from_static(b"{}")));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert!(!body.is_end_stream());
        let collected = body.collect().await.expect("body").to_bytes();
        assert_eq!(&collected[..], b"{}");
        assert!(ReqBody::Empty.is_end_stream());
    }

    #[tokio::test]
    async fn channel_body_ends_cleanly_only_when_finished() {
        let finished = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(4);
        let body = ReqBody::Channel {
            rx,
            finished: finished.clone(),
        };
        tx.send(Bytes::from_static(b"1\n")).await.expect("send");
        finished.store(true, Ordering::Release);
        drop(tx);
        let collected = body.collect().await.expect("body").to_bytes();
        assert_eq!(&collected[..], b"1\n");

        let (tx, rx) = mpsc::channel(4);
        let body = ReqBody::Channel {
            rx,
            finished: Arc::new(AtomicBool::new(false)),
        };
        drop(tx);
        assert!(body.collect().await.is_err());
    }

    #[tokio::test]
    async fn connecting_to_a_missing_socket_is_connection_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = Pool::new(Endpoint::Unix(dir.path().join("nope.sock")), 8);
        let err = pool.checkout().await.err().expect("must fail");
        assert_eq!(err.code(), "connection_failed");
        assert!(err.retryable());
    }
}
