//! Idle keep-alive connections parked without hyper.
//!
//! hyper keeps everything a connection needs for its next request while it waits for it:
//! an 8 KiB read buffer, an 8 KiB write buffer (neither can be made smaller), the boxed
//! slot the request handler's future runs in (sized for the largest handler), a cached
//! header map, and the task holding it all: about 25 KB of heap, 18.7 KiB of it resident,
//! for a connection that does nothing. A connection that has been quiet between requests
//! for [`PARK_AFTER`] is therefore taken back from hyper (a graceful shutdown of an idle
//! connection that leaves the socket open) and kept as the bare socket, waiting to be
//! readable; its next request gets a new hyper connection. A new connection starts
//! parked the same way. Busy connections are never parked; a request costs the read
//! counting, the response's end marking, and one timer poll when the connection goes
//! idle (about 130 instructions of ~28,500 per cached read).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a connection between requests stays with hyper before it is parked: long
/// enough that a client making calls back to back never pays for a new hyper connection,
/// short enough that connections used every second or two are parked most of the time.
pub(super) const PARK_AFTER: Duration = Duration::from_millis(100);

/// Connections parked since the start (all listeners).
static PARKED: AtomicUsize = AtomicUsize::new(0);

/// Counts one more parked connection.
pub(super) fn parked() {
    PARKED.fetch_add(1, Ordering::Relaxed);
}

/// Connections parked since the start.
pub(super) fn parked_total() -> usize {
    PARKED.load(Ordering::Relaxed)
}

/// A stream that can wait to be readable without being read: what parking needs.
pub(crate) trait Park: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Whether this kind of stream can be parked at all.
    const PARKS: bool;

    /// Ready once input (or its end) is waiting.
    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl Park for tokio::net::TcpStream {
    const PARKS: bool = true;

    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

impl Park for tokio::net::UnixStream {
    const PARKS: bool = true;

    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

// TLS keeps decrypted input and its own buffers in the session, so readiness of the
// socket says nothing about it: TLS connections are not parked.
impl Park for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    const PARKS: bool = false;

    fn poll_input(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What the connection loop knows of the requests hyper is serving, shared with the
/// stream wrapper and the service (all on the connection's one task: plain loads and
/// stores, the atomics only make the sharing `Sync`).
#[derive(Default)]
pub(super) struct Activity {
    /// Reads that returned bytes.
    reads: AtomicU32,
    /// `reads` when the last response ended.
    reads_at_idle: AtomicU32,
    /// Requests whose response has not ended.
    in_flight: AtomicU32,
    /// Set while hyper is being shut down to park: its shutdown of the stream is skipped.
    parking: AtomicBool,
}

impl Activity {
    /// Nothing in flight and nothing read since the last response ended: hyper is waiting
    /// for a request head and has none of it. (Parking a connection with part of a head
    /// read would restart hyper's header timeout; a client trickling a head would then
    /// never be cut off.)
    pub(super) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.reads.load(Ordering::Relaxed) == self.reads_at_idle.load(Ordering::Relaxed)
    }

    /// A mark that changes whenever input arrives or a request starts or ends.
    pub(super) fn mark(&self) -> (u32, u32) {
        (
            self.reads.load(Ordering::Relaxed),
            self.reads_at_idle.load(Ordering::Relaxed),
        )
    }

    pub(super) fn set_parking(&self, on: bool) {
        self.parking.store(on, Ordering::Relaxed);
    }

    /// A request was handed to the service.
    pub(super) fn request(self: &Arc<Self>) -> Ended {
        let n = self.in_flight.load(Ordering::Relaxed);
        self.in_flight.store(n + 1, Ordering::Relaxed);
        Ended(self.clone())
    }
}

/// Held by a response body: dropped (by hyper, once the body has ended or the
/// connection failed), the request no longer counts as in flight.
pub(super) struct Ended(Arc<Activity>);

impl Drop for Ended {
    fn drop(&mut self) {
        let a = &self.0;
        let n = a.in_flight.load(Ordering::Relaxed);
        a.in_flight.store(n.saturating_sub(1), Ordering::Relaxed);
        a.reads_at_idle
            .store(a.reads.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// A response body that marks its request ended when hyper drops it.
pub(super) struct Tracked<B> {
    body: B,
    _ended: Ended,
}

impl<B> Tracked<B> {
    pub(super) fn new(body: B, ended: Ended) -> Self {
        Self {
            body,
            _ended: ended,
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The stream hyper is given: counts reads into [`Activity`], serves first the bytes a
/// previous hyper connection had read but not used, and skips hyper's shutdown of the
/// stream when the connection is being parked.
pub(super) struct Watched<S> {
    pub(super) inner: S,
    pre: Option<bytes::Bytes>,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            pre: None,
            activity,
        }
    }

    /// Bytes read by hyper but not used: served again first.
    pub(super) fn rewind(&mut self, pre: bytes::Bytes) {
        if !pre.is_empty() {
            self.pre = Some(pre);
        }
    }

    fn count_read(&self) {
        let r = &self.activity.reads;
        r.store(r.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut pre) = self.pre.take() {
            let n = pre.len().min(buf.remaining());
            buf.put_slice(&pre.split_to(n));
            if !pre.is_empty() {
                self.pre = Some(pre);
            }
            self.count_read();
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.count_read();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.activity.parking.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
