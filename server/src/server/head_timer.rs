//! The timer hyper is given for its header read timeout: one tokio timer per connection,
//! moved only when it fires.
//!
//! hyper arms the header read timeout anew for every request head. With hyper-util's
//! `TokioTimer` each head costs a tokio timer entry: allocated, registered in the timer
//! wheel while the connection waits for the head, removed when the head is in (about 900
//! of a cached read's instructions, a twentieth). But every head's deadline is later than
//! the one before it (now plus the same timeout), so here a connection keeps one tokio
//! `Sleep`, armed no later than the deadline of the head being read: a head only waits on
//! it, and when it fires before that head's own deadline it is moved to that deadline. A
//! busy connection moves it about once per timeout instead of registering a timer per
//! request, and no head is cut off late: the armed deadline is never past the head's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A connection's timer (see the module). For a hyper HTTP/1 connection only: it reads
/// one head at a time, so one sleep is waited on at a time, and the armed sleep keeps the
/// waker of the last one polled.
#[derive(Clone, Default)]
pub(crate) struct HeadTimer {
    /// Created on the first wait, so a connection that never waits has no timer entry.
    armed: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            deadline: tokio::time::Instant::from_std(deadline),
            armed: Arc::clone(&self.armed),
        })
    }
}

/// One head's wait: ready at its deadline, by the connection's armed sleep.
struct HeadSleep {
    deadline: tokio::time::Instant,
    armed: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut armed = self.armed.lock();
        let sleep = armed.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            if sleep.deadline() >= deadline {
                return Poll::Ready(());
            }
            // Fired for an earlier head: move on to this one's deadline.
            sleep.as_mut().reset(deadline);
        }
    }
}

impl hyper::rt::Sleep for HeadSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    /// Polls a sleep once, which arms the connection's sleep, and hands it back.
    fn armed(mut sleep: Pin<Box<dyn hyper::rt::Sleep>>) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        sleep
    }

    /// Each head's sleep is ready at its own deadline and not before, whether the armed
    /// sleep is an earlier head's (it fires first and must be moved on, not taken for
    /// this head's) or a later one's (moved back). Real time: the lower bounds are the
    /// point, the upper bounds only catch a sleep that never ends.
    #[tokio::test]
    async fn each_head_is_ready_at_its_own_deadline_not_an_earlier_heads() {
        let timer = HeadTimer::default();
        let start = Instant::now();
        drop(armed(timer.sleep_until(start + Duration::from_millis(100))));
        timer.sleep_until(start + Duration::from_millis(400)).await;
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(400)..Duration::from_secs(5)).contains(&took),
            "a head with a 400 ms deadline was ready after {took:?}"
        );

        drop(armed(timer.sleep(Duration::from_secs(60))));
        let start = Instant::now();
        timer.sleep(Duration::from_millis(50)).await;
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(50)..Duration::from_secs(5)).contains(&took),
            "a head with a 50 ms deadline was ready after {took:?}"
        );
    }
}
