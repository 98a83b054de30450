//! Where async calls run and how their results reach JS.
//!
//! Small calls (variables, input, output, condition, context, tool actions) run on the
//! JS thread's own event loop ([`crate::uv`]) and usually hand their result to the JS
//! dispatcher in `index.js` directly, from the libuv callback that saw the answer
//! arrive. Streams and watches, whose futures need Tokio, run on one current-thread
//! runtime on its own thread (`cronium-io`); their results, and any result that is
//! ready while JS is on the stack, come back through one long-lived threadsafe function
//! per client. Either way the dispatcher gets `(id, ok, value)` and settles the Promise
//! it registered under `id`.
//!
//! Why not napi's `async fn`: each of those creates and tears down a threadsafe function
//! (a libuv handle) per call and spawns two tasks on a multi-thread runtime. Measured on
//! the 2-core machines scripts run on, a no-op call took 11.2 µs that way and 4.8 µs
//! through the I/O thread; completions of concurrent calls also share libuv wake-ups
//! here. The threadsafe function is weak and the loop's handles are unref'ed (they do
//! not keep Node alive): the dispatcher keeps the event loop alive exactly while calls
//! are in flight.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use cronium_client::{Error, ErrorCode};
use napi::bindgen_prelude::{Either3, FnArgs, Function, JsValue, Null, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env};
use tokio::runtime::Handle;

use crate::convert::error_text;
use crate::uv::Loop;

/// What a finished call hands to JS: nothing (`null`), a boolean, text (JSON or a
/// plain string), or a list of strings.
pub(crate) type Value = Option<Either3<String, bool, Vec<String>>>;

/// A finished call: its id, whether it succeeded, and its value or error text.
pub(crate) struct Done {
    id: u32,
    ok: bool,
    value: Value,
}

type Args = FnArgs<(u32, bool, Value)>;

/// The JS dispatcher's signature: `(id, ok, value) => void`.
pub(crate) type Dispatcher<'env> = Function<'env, Args, ()>;

type Tsfn = ThreadsafeFunction<Done, (), Args, napi::Status, false, true>;

/// Hands results of async calls to one JS dispatcher.
#[derive(Clone)]
pub(crate) struct Completer {
    tsfn: Arc<Tsfn>,
    /// The JS thread's loop, and a reference to the dispatcher to call from it.
    on_loop: Option<(&'static Loop, Arc<DispatcherRef>)>,
}

/// A strong reference to the dispatcher, for calls straight from the loop's callbacks.
struct DispatcherRef {
    env: sys::napi_env,
    inner: sys::napi_ref,
    thread: std::thread::ThreadId,
}

// SAFETY: the reference is only used and deleted on its environment's thread (checked);
// elsewhere it is only carried around.
unsafe impl Send for DispatcherRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for DispatcherRef {}

impl Drop for DispatcherRef {
    fn drop(&mut self) {
        // Dropped off the JS thread (the last clone of a completer was on the I/O
        // thread) it is left to the environment's teardown: one small leak per client.
        if std::thread::current().id() == self.thread {
            // SAFETY: created by `napi_create_reference` on this environment.
            unsafe { sys::napi_delete_reference(self.env, self.inner) };
        }
    }
}

impl std::fmt::Debug for Completer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completer").finish_non_exhaustive()
    }
}

impl Completer {
    /// A completer calling `dispatcher` on the JS thread; [`spawn_call`](Self::spawn_call)
    /// runs on `on_loop` when given.
    pub(crate) fn new(
        env: &Env,
        dispatcher: &Dispatcher<'_>,
        on_loop: Option<&'static Loop>,
    ) -> napi::Result<Completer> {
        let tsfn = dispatcher
            .build_threadsafe_function::<Done>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| {
                Ok(FnArgs::from((ctx.value.id, ctx.value.ok, ctx.value.value)))
            })?;
        let on_loop = match on_loop {
            Some(lp) => {
                let mut inner = std::ptr::null_mut();
                // SAFETY: a function value of this call's scope on `env`.
                let status = unsafe {
                    sys::napi_create_reference(env.raw(), dispatcher.raw(), 1, &raw mut inner)
                };
                (status == sys::Status::napi_ok).then(|| {
                    let dispatcher = DispatcherRef {
                        env: env.raw(),
                        inner,
                        thread: std::thread::current().id(),
                    };
                    (lp, Arc::new(dispatcher))
                })
            }
            None => None,
        };
        Ok(Completer {
            tsfn: Arc::new(tsfn),
            on_loop,
        })
    }

    /// The loop [`spawn_call`](Self::spawn_call) runs on, when there is one.
    pub(crate) fn on_loop(&self) -> Option<&'static Loop> {
        self.on_loop.as_ref().map(|(lp, _)| *lp)
    }

    /// Runs `fut` on the I/O thread and reports its outcome under `id`.
    pub(crate) fn spawn<F, T>(&self, id: u32, fut: F) -> napi::Result<()>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Into<Outcome>,
    {
        let handle = runtime()?;
        handle.spawn(self.reported(id, fut));
        Ok(())
    }

    /// Runs `fut`, a call of a [`Client::with_reactor`](cronium_client::Client::with_reactor)
    /// handle on this thread's loop, on that loop (or, without one, like
    /// [`spawn`](Self::spawn)), and reports its outcome under `id`. Call from the JS
    /// thread.
    pub(crate) fn spawn_call<F, T>(&self, id: u32, fut: F) -> napi::Result<()>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Into<Outcome>,
    {
        match &self.on_loop {
            Some((lp, _)) => {
                lp.spawn(self.reported(id, fut));
                Ok(())
            }
            None => self.spawn(id, fut),
        }
    }

    /// `fut`, then its outcome handed to the dispatcher: called right away when the
    /// call ends in a callback of the JS thread's loop ([`Loop::call_js`]), else
    /// through the threadsafe function, which queues it for a turn of the loop where
    /// Node calls it in a proper callback scope (from the JS thread itself this costs
    /// no wake-up, but a write to an eventfd and one more turn of the loop).
    fn reported<F, T>(&self, id: u32, fut: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Into<Outcome>,
    {
        let tsfn = Arc::clone(&self.tsfn);
        let direct = self.on_loop.clone();
        async move {
            let done = match fut.await {
                Ok(v) => Done {
                    id,
                    ok: true,
                    value: v.into().0,
                },
                Err(e) => Done {
                    id,
                    ok: false,
                    value: Some(Either3::A(error_text(&e))),
                },
            };
            let done = match direct {
                Some((lp, dispatcher)) => match lp.call_js(dispatcher.inner, done, args) {
                    Ok(()) => return,
                    Err(done) => done,
                },
                None => done,
            };
            // Fails only while Node tears the environment down: nobody is waiting then.
            let _ = tsfn.call(done, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// The dispatcher's arguments for `done` (copied: `done` goes to the threadsafe
/// function instead when the call cannot be made).
fn args(env: sys::napi_env, done: &Done) -> napi::Result<Vec<sys::napi_value>> {
    // SAFETY: called by `Loop::call_js` inside a handle scope on `env`'s thread.
    unsafe {
        let value = match &done.value {
            None => Null::to_napi_value(env, Null)?,
            Some(Either3::A(text)) => <&str>::to_napi_value(env, text)?,
            Some(Either3::B(b)) => bool::to_napi_value(env, *b)?,
            Some(Either3::C(list)) => Vec::<String>::to_napi_value(env, list.clone())?,
        };
        Ok(vec![
            u32::to_napi_value(env, done.id)?,
            bool::to_napi_value(env, done.ok)?,
            value,
        ])
    }
}

/// A successful result, converted for JS.
#[derive(Debug)]
pub(crate) struct Outcome(Value);

impl From<()> for Outcome {
    fn from((): ()) -> Self {
        Outcome(None)
    }
}

impl From<bool> for Outcome {
    fn from(v: bool) -> Self {
        Outcome(Some(Either3::B(v)))
    }
}

impl From<Option<bool>> for Outcome {
    fn from(v: Option<bool>) -> Self {
        Outcome(v.map(Either3::B))
    }
}

impl From<String> for Outcome {
    fn from(v: String) -> Self {
        Outcome(Some(Either3::A(v)))
    }
}

impl From<Option<String>> for Outcome {
    fn from(v: Option<String>) -> Self {
        Outcome(v.map(Either3::A))
    }
}

impl From<Vec<String>> for Outcome {
    fn from(v: Vec<String>) -> Self {
        Outcome(Some(Either3::C(v)))
    }
}

/// The runtime of all async calls of this process, started on first use.
///
/// Current-thread on a thread of its own: a script's calls are I/O on one local socket,
/// which one thread serves; a multi-thread runtime would add work-stealing hand-offs
/// between its workers and more threads to start.
pub(crate) fn runtime() -> napi::Result<&'static Handle> {
    static RUNTIME: OnceLock<Result<Handle, String>> = OnceLock::new();
    let started = RUNTIME.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the client's Tokio runtime: {e}"))?;
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("cronium-io".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .map_err(|e| format!("cannot start the client's I/O thread: {e}"))?;
        Ok(handle)
    });
    match started {
        Ok(handle) => Ok(handle),
        Err(message) => Err(crate::convert::to_napi(&Error::with_code(
            ErrorCode::RuntimeContext,
            message.clone(),
        ))),
    }
}
