//! Where async calls run and how their results reach JS.
//!
//! Every async call is a future spawned on one Tokio current-thread runtime that runs on
//! its own thread (`cronium-io`), off the JS thread. Its result comes back through one
//! long-lived threadsafe function per client, which calls the JS dispatcher in `index.js`
//! with `(id, ok, value)`; the dispatcher settles the Promise it registered under `id`.
//!
//! Why not napi's `async fn`: each of those creates and tears down a threadsafe function
//! (a libuv handle) per call and spawns two tasks on a multi-thread runtime. Measured on
//! the 2-core machines scripts run on, a no-op call took 11.2 µs that way and 4.8 µs this
//! way; completions of concurrent calls also share libuv wake-ups here. The threadsafe
//! function is weak (it does not keep Node alive): the dispatcher keeps the event loop
//! alive exactly while calls are in flight.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use cronium_client::{Error, ErrorKind};
use napi::bindgen_prelude::{Either3, FnArgs, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use tokio::runtime::Handle;

use crate::convert::error_text;

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
}

impl std::fmt::Debug for Completer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completer").finish_non_exhaustive()
    }
}

impl Completer {
    /// A completer calling `dispatcher` on the JS thread.
    pub(crate) fn new(dispatcher: &Dispatcher<'_>) -> napi::Result<Completer> {
        let tsfn = dispatcher
            .build_threadsafe_function::<Done>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| {
                Ok(FnArgs::from((ctx.value.id, ctx.value.ok, ctx.value.value)))
            })?;
        Ok(Completer {
            tsfn: Arc::new(tsfn),
        })
    }

    /// Runs `fut` on the I/O thread and reports its outcome under `id`.
    pub(crate) fn spawn<F, T>(&self, id: u32, fut: F) -> napi::Result<()>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Into<Outcome>,
    {
        let handle = runtime()?;
        let tsfn = Arc::clone(&self.tsfn);
        handle.spawn(async move {
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
            // Fails only while Node tears the environment down: nobody is waiting then.
            let _ = tsfn.call(done, ThreadsafeFunctionCallMode::NonBlocking);
        });
        Ok(())
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
        Err(message) => Err(crate::convert::to_napi(&Error::new(
            ErrorKind::Config,
            "runtime_context",
            message.clone(),
        ))),
    }
}
