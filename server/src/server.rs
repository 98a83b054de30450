//! Listeners and connection handling: one accept loop per listener (Unix socket, TCP,
//! TLS over TCP), a cap on open connections, a header-read timeout, and a graceful drain
//! at shutdown.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;

use crate::routes;
use crate::state::AppState;

mod head_timer;
mod park;
pub(crate) use head_timer::HeadTimer;
pub(crate) use park::Park;
use park::{Activity, Tracked, Watched, PARK_AFTER};

/// Gives memory the allocator holds free back to the system, when the binary sets it (the
/// library has no unsafe code, and the allocator is the binary's choice). Called at most
/// once a second, on a blocking thread, after [`RELEASE_AFTER_PARKS`] connections were
/// parked: their freed buffers sit between live allocations, where glibc's malloc would
/// otherwise keep them resident.
pub static RELEASE_FREED_MEMORY: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Parked connections that make releasing freed memory worth a call.
pub const RELEASE_AFTER_PARKS: usize = 32;

/// How long in-flight requests get to finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    /// A Unix socket and the path (and inode) it was created at, removed at shutdown.
    Unix(UnixListener, PathBuf, u64),
    /// A TCP listener (plain HTTP: loopback only, the configuration enforces it).
    Tcp(TcpListener),
    /// A TCP listener speaking TLS, with its (reloadable) certificates.
    Tls(TcpListener, Arc<crate::tls::TlsServer>),
}

/// Makes sure nobody else can replace the socket: whoever can write its directory can
/// rename or unlink it and put their own socket in its place, and scripts would then hand
/// their tokens to that process. A directory we own that group or others can write is
/// tightened (those write bits removed, a warning logged); one owned by someone else is
/// refused. A sticky directory (like `/tmp`) is accepted: there only the owner of a file
/// may rename or remove it.
pub fn secure_socket_dir(dir: &Path) -> io::Result<()> {
    let mode = std::fs::metadata(dir)?.mode();
    if mode & 0o022 == 0 || mode & 0o1000 != 0 {
        return Ok(());
    }
    // Only the owner (or root) may change the mode: failing to is how "not ours" shows.
    let tightened = mode & 0o7777 & !0o022;
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(tightened)) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the socket directory {} can be written by other users (mode {:o}) and cannot be tightened ({e}); choose another --socket or remove group/other write permission",
                dir.display(),
                mode & 0o7777
            ),
        ));
    }
    tracing::warn!(
        dir = %dir.display(),
        was = format!("{:o}", mode & 0o7777),
        now = format!("{tightened:o}"),
        "the socket directory could be written by other users; removed their write permission"
    );
    Ok(())
}

impl Listener {
    /// Binds the Unix socket at `path` safely: the parent directory is created 0750 if
    /// missing, and an existing one others can write is tightened or refused (see
    /// [`secure_socket_dir`]); a stale socket file (nobody listening) is replaced, a live
    /// one is refused, anything that is not a socket is left alone, and the socket is made
    /// 0660.
    pub async fn unix(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if dir.exists() {
                secure_socket_dir(dir)?;
            } else {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(dir)?;
            }
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if tokio::net::UnixStream::connect(path).await.is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "another process is serving on {}; stop it or choose another --socket",
                            path.display()
                        ),
                    ));
                }
                std::fs::remove_file(path)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket; remove it or choose another --socket",
                        path.display()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        let ino = std::fs::metadata(path)?.ino();
        Ok(Listener::Unix(listener, path.to_owned(), ino))
    }

    /// Binds a TCP listener.
    pub async fn tcp(addr: std::net::SocketAddr) -> io::Result<Self> {
        Ok(Listener::Tcp(TcpListener::bind(addr).await?))
    }

    /// Binds a TCP listener that speaks TLS with `tls`'s certificates.
    pub async fn tls(
        addr: std::net::SocketAddr,
        tls: Arc<crate::tls::TlsServer>,
    ) -> io::Result<Self> {
        Ok(Listener::Tls(TcpListener::bind(addr).await?, tls))
    }

    /// What it listens on, for logs.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix(_, p, _) => format!("unix:{}", p.display()),
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp:?".into(), |a| format!("http://{a}")),
            Listener::Tls(l, _) => l
                .local_addr()
                .map_or_else(|_| "tls:?".into(), |a| format!("https://{a}")),
        }
    }
}

/// Serves `listeners` until `state.shutdown` is cancelled, then stops accepting, lets
/// in-flight requests finish (up to [`DRAIN_TIMEOUT`]) and removes the socket files.
pub fn serve(
    state: Arc<AppState>,
    listeners: Vec<Listener>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    // Boxed so the whole request path is compiled once, here, although two crates run it
    // (the CLI's `serve` and the runner's in-process server): each crate that polled the
    // bare future would carry its own copy of every handler.
    Box::pin(run(state, listeners))
}

async fn run(state: Arc<AppState>, listeners: Vec<Listener>) {
    // Every connection holds a receiver: a value sent asks them to finish their request
    // and close; the sender sees all receivers gone once they have.
    let (drain, drain_rx) = tokio::sync::watch::channel(());
    let graceful = Arc::new(drain_rx);
    let slots = Arc::new(Slots::new(state.limits.max_connections));
    let mut sockets = Vec::new();
    let mut loops = tokio::task::JoinSet::new();
    for l in listeners {
        tracing::info!(listen = %l.describe(), "serving");
        let (state, graceful, slots) = (state.clone(), graceful.clone(), slots.clone());
        match l {
            Listener::Unix(listener, path, ino) => {
                sockets.push((path, ino));
                loops.spawn(async move {
                    loop {
                        let accepted = tokio::select! {
                            _ = state.shutdown.cancelled() => break,
                            a = listener.accept() => a,
                        };
                        match accepted {
                            Ok((stream, _)) => connection(&state, &graceful, &slots, stream),
                            Err(e) => accept_error(e).await,
                        }
                    }
                });
            }
            Listener::Tcp(listener) => {
                loops.spawn(async move {
                    loop {
                        let accepted = tokio::select! {
                            _ = state.shutdown.cancelled() => break,
                            a = listener.accept() => a,
                        };
                        match accepted {
                            Ok((stream, _)) => {
                                let _ = stream.set_nodelay(true);
                                connection(&state, &graceful, &slots, stream);
                            }
                            Err(e) => accept_error(e).await,
                        }
                    }
                });
            }
            Listener::Tls(listener, tls) => {
                loops.spawn(async move {
                    // Handshakes run as tasks of their own so a slow client cannot stall
                    // the accept loop; they are tracked here so that at shutdown the ones
                    // still running are cancelled (and let go of the drain) before it.
                    let mut handshakes = tokio::task::JoinSet::new();
                    loop {
                        let accepted = tokio::select! {
                            _ = state.shutdown.cancelled() => break,
                            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
                            a = listener.accept() => a,
                        };
                        match accepted {
                            Ok((stream, peer)) => {
                                let _ = stream.set_nodelay(true);
                                let acceptor = tls.acceptor();
                                let (state, graceful, slots) =
                                    (state.clone(), graceful.clone(), slots.clone());
                                handshakes.spawn(async move {
                                    // The header timeout bounds the handshake too.
                                    let limit = state.limits.header_read_timeout;
                                    match tokio::time::timeout(limit, acceptor.accept(stream))
                                        .await
                                    {
                                        Ok(Ok(tls)) => {
                                            connection(&state, &graceful, &slots, tls)
                                        }
                                        Ok(Err(e)) => {
                                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                                        }
                                        Err(_) => {
                                            tracing::debug!(%peer, "TLS handshake timed out")
                                        }
                                    }
                                });
                            }
                            Err(e) => accept_error(e).await,
                        }
                    }
                    handshakes.abort_all();
                    while handshakes.join_next().await.is_some() {}
                });
            }
        }
    }
    let releaser = RELEASE_FREED_MEMORY
        .get()
        .copied()
        .map(|release| tokio::spawn(release_freed_memory(release)));
    while loops.join_next().await.is_some() {}
    if let Some(r) = releaser {
        r.abort();
    }
    // Listeners are dropped: no new connections. Remove our socket files (only if they are
    // still ours: another sidecar may have replaced a stale one meanwhile).
    for (path, ino) in sockets {
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() == ino) {
            let _ = std::fs::remove_file(&path);
        }
    }
    tracing::info!("draining in-flight requests");
    // All accept loops have ended: this is the last copy besides the connections'.
    drop(graceful);
    let _ = drain.send(());
    if tokio::time::timeout(DRAIN_TIMEOUT, drain.closed())
        .await
        .is_err()
    {
        tracing::warn!("drain timed out; closing remaining connections");
    }
}

/// Calls `release` once a second while connections are being parked.
async fn release_freed_memory(release: fn()) {
    let mut seen = park::parked_total();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let parked = park::parked_total();
        if parked.wrapping_sub(seen) >= RELEASE_AFTER_PARKS {
            seen = parked;
            let _ = tokio::task::spawn_blocking(release).await;
        }
    }
}

async fn accept_error(e: io::Error) {
    // EMFILE and friends: back off instead of spinning.
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn connection<S>(
    state: &Arc<AppState>,
    graceful: &tokio::sync::watch::Receiver<()>,
    slots: &Arc<Slots>,
    stream: S,
) where
    S: Park,
{
    let Ok(permit) = slots.open.clone().try_acquire_owned() else {
        over_cap(state, graceful, slots, stream);
        return;
    };
    serve_connection(state, graceful.clone(), permit, stream, true);
}

/// The connection slots: the configured cap, a few more kept for the operations routes,
/// and a bound on the connections over the cap whose request head is being read.
struct Slots {
    open: Arc<Semaphore>,
    ops: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
}

/// Connections kept beyond the cap for `/health`, `/ready` and `/metrics`, so probes
/// still answer when scripts have filled the cap: that is when an operator needs them.
pub const OPS_RESERVE: usize = 8;
/// Most connections over the cap read at once (their head, to answer 503); past it they
/// get the 503 without being read.
pub(crate) const MAX_REFUSING: usize = 1024;
/// Largest request head read from a connection over the cap.
const REFUSE_HEAD_BYTES: usize = 16 * 1024;
/// Longest wait for it.
const REFUSE_HEAD_TIME: Duration = Duration::from_secs(2);

impl Slots {
    fn new(max_connections: usize) -> Self {
        Self {
            open: Arc::new(Semaphore::new(max_connections)),
            ops: Arc::new(Semaphore::new(OPS_RESERVE)),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        }
    }
}

/// A connection over the cap. Its request head is read first (bounded in size and time):
/// a client that writes its request before reading would otherwise see a broken pipe
/// instead of the 503. An operations route is served from the reserve instead.
fn over_cap<S>(
    state: &Arc<AppState>,
    graceful: &tokio::sync::watch::Receiver<()>,
    slots: &Arc<Slots>,
    stream: S,
) where
    S: Park,
{
    let (serving, reserve) = (state.clone(), slots.ops.clone());
    let watcher = graceful.clone();
    refuse(state, &slots.refusing, stream, move |head, stream| {
        if is_ops_request(head) {
            if let Ok(permit) = reserve.try_acquire_owned() {
                let replay = Rewind::new(head.to_vec(), stream);
                serve_connection(&serving, watcher, permit, replay, false);
                return None;
            }
        }
        Some(stream)
    });
}

/// Turns away a connection over a listener's cap with a 503 once its request head has been
/// read (bounded: see [`read_head`]), unless `take` serves it after all (it then returns
/// `None`). At most `refusing`'s permits are read at once; past them the 503 goes out
/// unread. The script and the admin listeners each have their own cap and bound.
pub(crate) fn refuse<S, F>(state: &Arc<AppState>, refusing: &Arc<Semaphore>, stream: S, take: F)
where
    S: Park,
    F: FnOnce(&[u8], S) -> Option<S> + Send + 'static,
{
    let Ok(reading) = refusing.clone().try_acquire_owned() else {
        state.metrics.rejected();
        tokio::spawn(reject(LingerClose::new(stream)));
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        let mut stream = stream;
        let head = read_head(&mut stream).await;
        drop(reading);
        if let Some(stream) = take(&head, stream) {
            state.metrics.rejected();
            reject(LingerClose::new(stream)).await;
        }
    });
}

/// Reads up to the end of a request head (`\r\n\r\n`), at most
/// [`REFUSE_HEAD_BYTES`] and [`REFUSE_HEAD_TIME`]; whatever arrived is returned.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::with_capacity(1024);
    let read = async {
        let mut buf = [0u8; 2048];
        while head.len() < REFUSE_HEAD_BYTES && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(REFUSE_HEAD_TIME, read).await;
    head
}

/// Whether a request head asks `GET` (or `HEAD`) of `/health`, `/ready` or `/metrics`.
fn is_ops_request(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return false;
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
    matches!(method, b"GET" | b"HEAD") && matches!(path, b"/health" | b"/ready" | b"/metrics")
}

/// Serves one connection on a task of its own until it closes, holding its slot.
fn serve_connection<S: Park>(
    state: &Arc<AppState>,
    drain: tokio::sync::watch::Receiver<()>,
    permit: tokio::sync::OwnedSemaphorePermit,
    stream: S,
    keep_alive: bool,
) {
    let state = state.clone();
    state.metrics.connection(1);
    tokio::spawn(async move {
        connection_task(&state, drain, stream, keep_alive).await;
        state.metrics.connection(-1);
        drop(permit);
    });
}

/// Alternates between hyper serving requests and, once the connection has been idle for
/// [`PARK_AFTER`], the bare socket waiting for the next one (see [`park`]). An idle
/// connection is closed after the header read timeout, as hyper would (its header timer
/// runs from the end of the previous response).
async fn connection_task<S: Park>(
    state: &Arc<AppState>,
    mut drain: tokio::sync::watch::Receiver<()>,
    stream: S,
    keep_alive: bool,
) {
    let activity = Arc::new(Activity::default());
    let mut io = Watched::new(LingerClose::new(stream), activity.clone());
    let mut draining = false;
    // Says whether the drain signal was sent, with one atomic load: `changed()` takes a lock
    // on every poll, and the loop below is woken for every request.
    let sent = drain.clone();
    let drained = drain.changed();
    tokio::pin!(drained);
    // A new connection starts parked: hyper gets it once its first request is readable,
    // so connections opened ahead of their first request cost only this task. A silent
    // one is closed after the header read timeout, as hyper would.
    let mut parked = S::PARKS && keep_alive;
    let mut idle_limit = state.limits.header_read_timeout;
    loop {
        if parked {
            // By `&mut`: a shared borrow across the wait would need the stream to be `Sync`.
            let waiting = &mut io.inner;
            let input = std::future::poll_fn(move |cx| waiting.poll_input(cx));
            tokio::select! {
                ready = input => if ready.is_err() { return },
                _ = tokio::time::sleep(idle_limit) => return,
                _ = drained.as_mut() => return,
            }
        }
        // Boxed: hyper's connection is most of this future, and only while it runs.
        let served = Box::pin(with_hyper(
            state,
            io,
            &activity,
            keep_alive,
            Drain {
                sent: &sent,
                changed: drained.as_mut(),
            },
            &mut draining,
        ))
        .await;
        let Some(back) = served else {
            return;
        };
        io = back;
        parked = true;
        // Parked after PARK_AFTER idle: the header timeout runs from the last answer.
        idle_limit = state.limits.header_read_timeout.saturating_sub(PARK_AFTER);
    }
}

/// Runs hyper on `io` until the connection ends (`None`) or has been idle for
/// [`PARK_AFTER`] between requests, when hyper is shut down without closing the stream
/// and the stream is handed back (`Some`).
async fn with_hyper<S: Park, F: std::future::Future>(
    state: &Arc<AppState>,
    io: Watched<LingerClose<S>>,
    activity: &Arc<Activity>,
    keep_alive: bool,
    mut drain: Drain<'_, F>,
    draining: &mut bool,
) -> Option<Watched<LingerClose<S>>> {
    let app = routes::app(state.clone());
    let requests = activity.clone();
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let ended = requests.request();
        let answer = app.handle(req.map(Lingering::new));
        async move { Ok::<_, std::convert::Infallible>(answer.await.map(|b| Tracked::new(b, ended))) }
    });
    let mut conn = http1::Builder::new()
        .timer(HeadTimer::default())
        .header_read_timeout(state.limits.header_read_timeout)
        // A client that half-closes after sending its request (a chunked upload, then
        // shutdown(SHUT_WR)) still gets its answer: without this hyper may see the end of
        // input first and close the connection before the handler has answered.
        .half_close(true)
        .keep_alive(keep_alive)
        .serve_connection(TokioIo::new(io), svc);
    let parks = S::PARKS && keep_alive;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PARK_AFTER, PARK_AFTER);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut mark = activity.mark();
    let mut parking = false;
    // The drain future is polled once to register this task for its wake-up, and after
    // that only when the signal was sent (or its sender dropped).
    let mut drain_registered = false;
    loop {
        // Polled by hand rather than with `select!`: the tick is polled only while the
        // connection is idle, so a request costs no timer work at all.
        let event = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(ended) =
                std::future::Future::poll(std::pin::Pin::new(&mut conn), cx)
            {
                return std::task::Poll::Ready(Event::Ended(ended));
            }
            if !*draining
                && (!drain_registered || drain.sent.has_changed().unwrap_or(true))
                && std::future::Future::poll(drain.changed.as_mut(), cx).is_ready()
            {
                return std::task::Poll::Ready(Event::Drain);
            }
            drain_registered = true;
            if parks && !parking && activity.idle() && tick.poll_tick(cx).is_ready() {
                return std::task::Poll::Ready(Event::Tick);
            }
            std::task::Poll::Pending
        })
        .await;
        match event {
            Event::Ended(Ok(())) => break,
            Event::Ended(Err(e)) => {
                tracing::debug!(error = %e, "connection ended with an error");
                return None;
            }
            Event::Drain => {
                *draining = true;
                std::pin::Pin::new(&mut conn).graceful_shutdown();
            }
            Event::Tick => {
                // Idle now, and nothing happened since the last tick: park.
                let now = activity.mark();
                if now == mark && !*draining {
                    parking = true;
                    activity.set_parking(true);
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                }
                mark = now;
            }
        }
    }
    if !parking || *draining {
        return None;
    }
    activity.set_parking(false);
    park::parked();
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    io.rewind(parts.read_buf);
    Some(io)
}

/// The sidecar's shutdown signal as a connection's loop sees it.
struct Drain<'a, F> {
    /// A receiver of the signal, for [`tokio::sync::watch::Receiver::has_changed`].
    sent: &'a tokio::sync::watch::Receiver<()>,
    /// The connection's `changed()` future of the signal, pinned for its whole life.
    changed: std::pin::Pin<&'a mut F>,
}

/// What woke the connection loop.
enum Event {
    /// hyper is done with the connection.
    Ended(Result<(), hyper::Error>),
    /// The sidecar is shutting down.
    Drain,
    /// [`PARK_AFTER`] passed while the connection was idle.
    Tick,
}

/// Most unread input discarded after hyper closes a connection.
const CLOSE_LINGER_BYTES: usize = 4 << 20;
/// Longest time spent discarding it.
const CLOSE_LINGER_TIME: Duration = Duration::from_secs(2);

/// A connection's stream that, when hyper is done with it, is half-closed and then read
/// (and discarded) for a short while before it is closed. Hyper answers a request it
/// cannot parse (`431` for too many or too large headers, `400`) before the client has
/// finished sending it; closing a TCP socket with unread input sends a reset, which can
/// destroy that answer before the client reads it. A client that closed first costs
/// nothing: the first read sees the end.
struct LingerClose<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    inner: Option<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> LingerClose<S> {
    fn new(inner: S) -> Self {
        Self { inner: Some(inner) }
    }
}

impl<S: Park> LingerClose<S> {
    /// Ready once input (or its end) is waiting.
    fn poll_input(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        match self.inner.as_ref() {
            Some(s) => s.poll_input(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for LingerClose<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            None => std::task::Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for LingerClose<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.inner.as_mut() {
            Some(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            None => std::task::Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.inner.as_mut() {
            Some(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
            None => std::task::Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(s) => std::pin::Pin::new(s).poll_flush(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for LingerClose<S> {
    fn drop(&mut self) {
        let Some(mut stream) = self.inner.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            use tokio::io::AsyncReadExt;
            let _ = stream.shutdown().await;
            let discard = async {
                let mut buf = [0u8; 8192];
                let mut total = 0usize;
                while total < CLOSE_LINGER_BYTES {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n,
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE_LINGER_TIME, discard).await;
        });
    }
}

/// Most unread request body drained after an early answer (an auth error, say).
const LINGER_BYTES: usize = 16 << 20;
/// Longest time spent draining it.
const LINGER_TIME: Duration = Duration::from_secs(5);

/// A request body that, dropped before its end, goes on reading (and discarding) it for a
/// while in the background. A server that answers an upload early and closes with the
/// body unread makes the client's next write fail (EPIPE, or a TCP reset that can destroy
/// the answer), so the client would see "connection failed" instead of the error it was
/// sent. Bodies read to their end (every well-formed request) cost nothing more.
struct Lingering<B: hyper::body::Body + Send + Unpin + 'static> {
    inner: Option<B>,
}

impl<B: hyper::body::Body + Send + Unpin + 'static> Lingering<B> {
    fn new(inner: B) -> Self {
        Self { inner: Some(inner) }
    }
}

impl<B: hyper::body::Body + Send + Unpin + 'static> hyper::body::Body for Lingering<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match self.inner.as_mut() {
            Some(b) => std::pin::Pin::new(b).poll_frame(cx),
            None => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| hyper::body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl<B: hyper::body::Body + Send + Unpin + 'static> Drop for Lingering<B> {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            use http_body_util::BodyExt;
            let drain = async {
                let mut seen = 0usize;
                while let Some(Ok(frame)) = body.frame().await {
                    if let Some(d) = frame.data_ref() {
                        seen += bytes::Buf::remaining(d);
                        if seen > LINGER_BYTES {
                            break;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER_TIME, drain).await;
        });
    }
}

/// Answers a connection over the cap with a 503 and closes it, so the client gets a
/// retryable error instead of a hang.
async fn reject<S: AsyncWrite + Unpin>(mut stream: S) {
    let body = crate::error::ApiError::new(
        cronium_protocol::ErrorCode::Overloaded,
        "the sidecar is at its connection limit; retry shortly",
    )
    .v1_body();
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(resp.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// A stream whose first bytes were already read (a request head over the cap): they are
/// served again before the rest.
struct Rewind<S> {
    pre: Option<bytes::Bytes>,
    inner: S,
}

impl<S> Rewind<S> {
    fn new(pre: Vec<u8>, inner: S) -> Self {
        Self {
            pre: (!pre.is_empty()).then(|| bytes::Bytes::from(pre)),
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if let Some(mut pre) = self.pre.take() {
            let n = pre.len().min(buf.remaining());
            buf.put_slice(&pre.split_to(n));
            if !pre.is_empty() {
                self.pre = Some(pre);
            }
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

// Only ops requests over the cap are rewound, and they are served without keep-alive.
impl<S: Park> Park for Rewind<S> {
    const PARKS: bool = false;

    fn poll_input(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        self.inner.poll_input(cx)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
