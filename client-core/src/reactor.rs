//! Calls driven by an event loop that is not Tokio's.
//!
//! A host with its own event loop (Node's libuv) would otherwise run every async call
//! on a Tokio thread beside it and pay two cross-thread wake-ups per call, which on the
//! small VMs scripts run on cost more than the call itself. A [`Client`](crate::Client)
//! handle made with [`Client::with_reactor`](crate::Client::with_reactor) instead runs
//! its small calls on the thread that polls them, over the blocking transport's
//! connections ([`crate::direct`]): the request is written at once, and the one wait
//! that takes time, for the first bytes of the answer, is handed to the host's loop
//! through [`Reactor::wait`]. Everything else (auth, retries, error mapping) is the same
//! code as on the other handles.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// A socket as the operating system names it (a file descriptor on Unix).
#[cfg(unix)]
pub type RawSocket = std::os::fd::RawFd;
/// A socket as the operating system names it (a `SOCKET` on Windows).
#[cfg(windows)]
pub type RawSocket = std::os::windows::io::RawSocket;

/// What a reactor-driven call waits with: readiness of one socket, or a point in time.
pub type WaitFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The host's event loop, as a [`Client`](crate::Client) handle waits on it.
///
/// The futures of such a handle must be polled on the loop's own thread (the one whose
/// readiness notifications wake them); their blocking steps are only those that cannot
/// take long on a local socket (writing a request, reading the rest of an answer whose
/// first bytes arrived, connecting), each bounded by the call's deadline.
pub trait Reactor: Send + Sync + 'static {
    /// Resolves once `socket` is readable (when one is given) or `deadline` has
    /// passed, whichever comes first. Resolving early is allowed: the caller then reads
    /// with a blocking read bounded by the deadline, so an early wake costs a blocked
    /// thread, never a wrong answer.
    ///
    /// The socket stays owned by the caller and open until the future resolves or is
    /// dropped; an implementation must stop watching it by then. It may change the
    /// socket's blocking mode only if it restores it before resolving.
    fn wait(&self, socket: Option<RawSocket>, deadline: Instant) -> WaitFuture;
}

#[cfg(test)]
mod tests {
    //! A [`Client::with_reactor`](crate::Client::with_reactor) handle against a scripted
    //! server, with a reactor that records every wait and makes each one suspend once:
    //! the calls must wait exactly where the host's loop is needed, and nowhere else.

    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, Instant};

    use base64::Engine as _;

    use super::{RawSocket, Reactor, WaitFuture};
    use crate::config::{Config, Endpoint};
    use crate::direct::tests::{server, Step};
    use crate::Client;

    /// What was waited for: a socket's readiness, or only time.
    #[derive(Debug, PartialEq, Eq)]
    enum Waited {
        Socket,
        Time,
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Waited>>);

    impl Reactor for Arc<Recorder> {
        fn wait(&self, socket: Option<RawSocket>, deadline: Instant) -> WaitFuture {
            self.0.lock().expect("lock").push(match socket {
                Some(_) => Waited::Socket,
                None => Waited::Time,
            });
            let mut suspended = false;
            Box::pin(std::future::poll_fn(move |cx| {
                if suspended {
                    // A time-only wait must not end before its deadline.
                    if socket.is_none() {
                        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    }
                    return Poll::Ready(());
                }
                suspended = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }))
        }
    }

    /// Polls `fut` to completion; how many times it was pending.
    fn drive<T>(fut: impl std::future::Future<Output = T>) -> (T, usize) {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        let mut pending = 0;
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return (v, pending);
            }
            pending += 1;
            assert!(pending < 100, "never finished");
        }
    }

    fn client(ep: &Endpoint, token: &str) -> (Client, Arc<Recorder>) {
        let Endpoint::Tcp { host, port } = ep else {
            unreachable!("the test server is TCP")
        };
        let config = Config::builder()
            .url(format!("http://{host}:{port}"))
            .token(token)
            .timeout(Duration::from_secs(5))
            .retry_base_delay(Duration::from_millis(5))
            .build()
            .expect("config");
        let recorder = Arc::new(Recorder::default());
        let reactor: Arc<dyn Reactor> = Arc::new(Arc::clone(&recorder));
        (Client::new(config).with_reactor(reactor), recorder)
    }

    fn answer(status: &str, body: &str) -> Step {
        let text = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        Step::Answer(vec![text.into_bytes()])
    }

    fn list() -> Step {
        answer("200 OK", r#"{"data":["a","b"]}"#)
    }

    #[test]
    fn each_answer_and_each_backoff_is_waited_for_on_the_reactor() {
        let unavailable = answer(
            "503 Service Unavailable",
            r#"{"error":{"code":"storage_unavailable","message":"later"}}"#,
        );
        let (ep, rx) = server(vec![vec![list(), unavailable, list()]]);
        let (c, waits) = client(&ep, "t");
        let (listed, pending) = drive(c.list_variables());
        assert_eq!(listed.expect("list"), ["a", "b"]);
        assert_eq!(pending, 1);
        assert_eq!(*waits.0.lock().expect("lock"), [Waited::Socket]);
        let (listed, pending) = drive(c.list_variables());
        assert_eq!(listed.expect("list after a retry"), ["a", "b"]);
        assert_eq!(pending, 3, "answer, backoff, answer");
        assert_eq!(
            *waits.0.lock().expect("lock"),
            [Waited::Socket, Waited::Socket, Waited::Time, Waited::Socket]
        );
        assert_eq!(rx.try_iter().count(), 3);
        assert_eq!(
            c.connections_opened(),
            1,
            "the blocking transport's connection"
        );
    }

    #[test]
    fn a_token_refresh_does_not_suspend_while_it_holds_the_refresh_lock() {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = |exp: u64| {
            let payload = format!(r#"{{"exp":{exp},"iat":1}}"#);
            format!("{}.{}.sig", enc(r#"{"alg":"HS256"}"#), enc(&payload))
        };
        let now = crate::token::now_secs();
        let (old, fresh) = (jwt(now + 5), jwt(now + 3600));
        let refreshed = answer(
            "200 OK",
            &format!(r#"{{"data":{{"token":"{fresh}","expiresAt":"x"}}}}"#),
        );
        let (ep, rx) = server(vec![vec![refreshed, list()]]);
        let (c, waits) = client(&ep, &old);
        let (listed, _) = drive(c.list_variables());
        assert_eq!(listed.expect("list"), ["a", "b"]);
        let first = String::from_utf8(rx.recv().expect("req")).expect("utf-8");
        assert!(first.starts_with("POST /v1/token/refresh "), "{first}");
        assert_eq!(
            *waits.0.lock().expect("lock"),
            [Waited::Socket],
            "only the call itself waited on the reactor"
        );
        assert_eq!(c.token_expires_at(), Some(now + 3600));
    }
}
