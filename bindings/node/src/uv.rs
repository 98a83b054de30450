//! Async calls on Node's own event loop: a [`Reactor`] over libuv and a small executor.
//!
//! An async call used to run on the `cronium-io` Tokio thread: the JS thread woke it,
//! it woke the JS thread back with the answer. On the 2-core machines scripts run on,
//! those two cross-thread wake-ups cost about as much as the whole exchange with the
//! sidecar. Here a call's future is polled on the JS thread itself: client-core writes
//! the request at once over its blocking transport's connection, and the wait for the
//! answer is a libuv poll handle on that socket (plus a timer for the deadline), so the
//! JS thread sleeps in libuv's `epoll_wait` exactly as it does between any two events
//! and the sidecar's answer wakes it directly. The poll callback then finishes the call
//! and hands the result to the JS dispatcher right there ([`Loop::call_js`], through
//! `napi_make_callback`, so Promise reactions run right after it, as after any Node
//! callback); only a result that is ready while JS is on the stack goes through the
//! [`Completer`](crate::exec::Completer)'s threadsafe function (the next turn).
//!
//! Only this module touches libuv. libuv's functions are not part of Node-API; they are
//! exported by every Node binary on Linux and resolved when the addon is loaded (as for
//! addons built with node-gyp). Handle sizes come from libuv itself
//! (`uv_handle_size`), so no struct layout is assumed, and [`Loop::start`] checks the
//! handle type numbers by name before anything is used; if anything is off, the addon
//! falls back to the Tokio thread.
//!
//! Every handle is unref'ed: whether Node stays alive is `index.js`'s business (it keeps
//! a timer ref'ed while calls are in flight), as it was with the Tokio thread.

// libuv is C: every call here is FFI on handles this module allocates, owns and frees.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};
use std::time::Instant;

use cronium_client::{RawSocket, Reactor, WaitFuture};
use napi::sys::{self, uv_loop_s};
use napi::Env;

type Handle = *mut c_void;

// uv_handle_type values, stable since libuv 1.0 (checked by name in `Loop::start`).
const UV_ASYNC: c_int = 1;
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
const UV_READABLE: c_int = 1;

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_handle_type_name(kind: c_int) -> *const c_char;
    fn uv_handle_set_data(handle: Handle, data: *mut c_void);
    fn uv_handle_get_data(handle: Handle) -> *mut c_void;
    fn uv_unref(handle: Handle);
    fn uv_close(handle: Handle, cb: Option<unsafe extern "C" fn(Handle)>);
    fn uv_poll_init(lp: *mut uv_loop_s, handle: Handle, fd: c_int) -> c_int;
    fn uv_poll_start(
        handle: Handle,
        events: c_int,
        cb: unsafe extern "C" fn(Handle, c_int, c_int),
    ) -> c_int;
    fn uv_poll_stop(handle: Handle) -> c_int;
    fn uv_timer_init(lp: *mut uv_loop_s, handle: Handle) -> c_int;
    fn uv_timer_start(
        handle: Handle,
        cb: unsafe extern "C" fn(Handle),
        timeout: u64,
        repeat: u64,
    ) -> c_int;
    fn uv_async_init(lp: *mut uv_loop_s, handle: Handle, cb: unsafe extern "C" fn(Handle))
        -> c_int;
    fn uv_async_send(handle: Handle) -> c_int;
}

/// A zeroed handle of `kind`, owned by the caller until `uv_close`'s callback frees it.
fn alloc_handle(kind: c_int) -> Handle {
    // SAFETY: plain allocation; `uv_handle_size` has no preconditions.
    unsafe { libc::calloc(1, uv_handle_size(kind)) }
}

/// `uv_close` callback of every handle here: frees it.
unsafe extern "C" fn free_handle(handle: Handle) {
    // SAFETY: allocated by `alloc_handle`, closed once, never used after this.
    unsafe { libc::free(handle) }
}

/// Closes a handle whose data is an `Arc<WaitState>` reference, releasing it.
unsafe extern "C" fn free_wait_handle(handle: Handle) {
    // SAFETY: the data was set by `WaitState::register` from `Arc::into_raw`, once per
    // handle, and this callback runs once per handle.
    unsafe {
        drop(Arc::from_raw(
            uv_handle_get_data(handle).cast::<WaitState>(),
        ));
        libc::free(handle);
    }
}

/// The event loop of one JS thread, and the queue of futures to poll on it.
pub(crate) struct Loop {
    raw: *mut uv_loop_s,
    /// The Node environment of this thread, and an async context of this module's
    /// calls into JS ([`Loop::call_js`]).
    env: sys::napi_env,
    async_context: sys::napi_async_context,
    thread: ThreadId,
    /// An async handle: the only thread-safe way into the loop, for wakes that come
    /// from another thread or from inside a poll.
    wake: Handle,
    /// Tasks woken while they could not be polled at once; `None` once the environment
    /// is torn down.
    queue: Mutex<Option<Vec<Arc<Task>>>>,
    /// Waits in progress, ended at teardown so no handle of theirs outlives the loop.
    live: Mutex<Vec<Arc<WaitState>>>,
    /// One poll handle per socket number, kept (stopped) between waits: setting one up
    /// costs libuv four system calls (a probe of the socket, its blocking mode), more
    /// than the rest of a call. A handle is started only while a wait on its socket is
    /// in progress, so a socket client-core closes is never watched; the socket number
    /// may then be reused by another connection, which the stopped handle serves as
    /// well (libuv watches by number).
    polls: Mutex<HashMap<RawSocket, Handle>>,
}

// SAFETY: the raw pointers are only dereferenced by libuv on the loop's thread (checked
// with `on_thread`), except `uv_async_send`, which libuv documents as thread-safe and is
// only called while the queue lock shows the handle open.
unsafe impl Send for Loop {}
// SAFETY: as for `Send`.
unsafe impl Sync for Loop {}

thread_local! {
    /// The loop of this JS thread, once an async call needed it (one per Node
    /// environment: the main thread and each worker thread have their own).
    static CURRENT: Cell<Option<&'static Loop>> = const { Cell::new(None) };
    /// This thread is running one of this module's libuv callbacks: no JS is on the
    /// stack, so JS may be called ([`Loop::call_js`]).
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the span of a libuv callback (see `IN_CALLBACK`).
struct InCallback(bool);

impl InCallback {
    fn enter() -> InCallback {
        InCallback(IN_CALLBACK.with(|c| c.replace(true)))
    }

    /// For the span of a call into JS: JS is on the stack again.
    fn leave() -> InCallback {
        InCallback(IN_CALLBACK.with(|c| c.replace(false)))
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(self.0));
    }
}

impl Loop {
    /// The loop of `env`'s thread, set up on first use; `None` when this Node's libuv
    /// is not what this module expects (async calls then use the Tokio thread).
    pub(crate) fn get(env: &Env) -> Option<&'static Loop> {
        if let Some(lp) = CURRENT.with(Cell::get) {
            return Some(lp);
        }
        let lp = Loop::start(env)?;
        CURRENT.with(|c| c.set(Some(lp)));
        Some(lp)
    }

    fn start(env: &Env) -> Option<&'static Loop> {
        let names_match = [(UV_ASYNC, "async"), (UV_POLL, "poll"), (UV_TIMER, "timer")]
            .iter()
            .all(|&(kind, name)| {
                // SAFETY: returns a static string, or NULL for an unknown type.
                let p = unsafe { uv_handle_type_name(kind) };
                // SAFETY: non-NULL results are NUL-terminated static strings.
                !p.is_null() && unsafe { CStr::from_ptr(p) }.to_bytes() == name.as_bytes()
            });
        if !names_match {
            return None;
        }
        let raw = env.get_uv_event_loop().ok()?;
        let wake = alloc_handle(UV_ASYNC);
        if wake.is_null() {
            return None;
        }
        // SAFETY: `wake` is a zeroed allocation of an async handle's size; `raw` is this
        // thread's running loop.
        if unsafe { uv_async_init(raw, wake, drain) } != 0 {
            // SAFETY: never initialised, so not known to libuv.
            unsafe { libc::free(wake) };
            return None;
        }
        let Some(async_context) = new_async_context(env.raw()) else {
            // SAFETY: initialised above, used by nothing yet.
            unsafe { uv_close(wake, Some(free_handle)) };
            return None;
        };
        // Leaked on purpose: lives as long as the environment, and the wakers of tasks
        // in flight may still point at it after teardown (they then find it closed).
        let lp: &'static Loop = Box::leak(Box::new(Loop {
            raw,
            env: env.raw(),
            async_context,
            thread: thread::current().id(),
            wake,
            queue: Mutex::new(Some(Vec::new())),
            live: Mutex::new(Vec::new()),
            polls: Mutex::new(HashMap::new()),
        }));
        // SAFETY: initialised above; the data is the leaked loop.
        unsafe {
            uv_handle_set_data(wake, std::ptr::from_ref(lp).cast_mut().cast());
            uv_unref(wake);
        }
        // Teardown (process exit, a worker ending) must find no handle of ours open.
        if env.add_env_cleanup_hook(lp, |lp| lp.close()).is_err() {
            lp.close();
            return None;
        }
        Some(lp)
    }

    fn on_thread(&self) -> bool {
        thread::current().id() == self.thread
    }

    /// Calls `func` with `args` (made JS values by `build`, in a handle scope) the way
    /// Node calls JS from its own callbacks (`napi_make_callback`: Promise reactions and
    /// `process.nextTick` callbacks run right after), when that is possible now: on the
    /// loop's thread, inside one of this module's libuv callbacks. Otherwise, or when
    /// any step before the call fails, hands `args` back untouched.
    ///
    /// An exception thrown by `func` is reported as uncaught, as Node reports one
    /// thrown by any event callback.
    pub(crate) fn call_js<A>(
        &self,
        func: sys::napi_ref,
        args: A,
        build: impl FnOnce(sys::napi_env, &A) -> napi::Result<Vec<sys::napi_value>>,
    ) -> Result<(), A> {
        if !self.on_thread() || !IN_CALLBACK.with(Cell::get) || !self.is_open() {
            return Err(args);
        }
        let env = self.env;
        // SAFETY: on the environment's own thread with no JS on the stack (a libuv
        // callback of this loop); every handle created lives in the scope opened here.
        unsafe {
            let mut scope = std::ptr::null_mut();
            if sys::napi_open_handle_scope(env, &raw mut scope) != sys::Status::napi_ok {
                return Err(args);
            }
            let mut f = std::ptr::null_mut();
            let mut this = std::ptr::null_mut();
            // `napi_make_callback` wants an object as `this`: the global one, as for any
            // plain function call.
            let ready = sys::napi_get_reference_value(env, func, &raw mut f)
                == sys::Status::napi_ok
                && !f.is_null()
                && sys::napi_get_global(env, &raw mut this) == sys::Status::napi_ok;
            let argv = if ready { build(env, &args).ok() } else { None };
            let called = argv.is_some_and(|argv| {
                // Calls JS makes from here (the next call of an `await` loop, run as a
                // Promise reaction) must not call back into JS themselves.
                let _js = InCallback::leave();
                let mut result = std::ptr::null_mut();
                let status = sys::napi_make_callback(
                    env,
                    self.async_context,
                    this,
                    f,
                    argv.len(),
                    argv.as_ptr(),
                    &raw mut result,
                );
                if status == sys::Status::napi_pending_exception {
                    let mut error = std::ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(env, &raw mut error);
                    sys::napi_fatal_exception(env, error);
                }
                // Any other failure is a refusal before the call (bad arguments).
                status == sys::Status::napi_ok || status == sys::Status::napi_pending_exception
            });
            sys::napi_close_handle_scope(env, scope);
            if !called {
                return Err(args);
            }
        }
        Ok(())
    }

    fn lock_queue(&self) -> MutexGuard<'_, Option<Vec<Arc<Task>>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_live(&self) -> MutexGuard<'_, Vec<Arc<WaitState>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The (stopped) poll handle of `fd`, set up on first use; on the loop's thread.
    fn poll_handle(&self, fd: RawSocket) -> Option<Handle> {
        let mut polls = self.polls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&handle) = polls.get(&fd) {
            return Some(handle);
        }
        let handle = alloc_handle(UV_POLL);
        if handle.is_null() {
            return None;
        }
        // SAFETY: a zeroed allocation of a poll handle's size, on this thread's loop.
        if unsafe { uv_poll_init(self.raw, handle, fd) } != 0 {
            // SAFETY: not initialised, so not known to libuv.
            unsafe { libc::free(handle) };
            return None;
        }
        // libuv made the socket non-blocking; client-core reads it with blocking reads
        // bounded by socket timeouts, so put that back. (A later socket with the same
        // number is a fresh, blocking one: libuv only touches the mode here.)
        restore_blocking(fd);
        // SAFETY: initialised above.
        unsafe { uv_unref(handle) };
        polls.insert(fd, handle);
        Some(handle)
    }

    fn is_open(&self) -> bool {
        self.lock_queue().is_some()
    }

    /// Runs `fut` on this loop; call on the loop's thread. It is polled once right
    /// away (writing its request), then whenever what it waits on is ready.
    pub(crate) fn spawn(&'static self, fut: impl Future<Output = ()> + Send + 'static) {
        let task = Arc::new(Task {
            fut: Mutex::new(Some(Box::pin(fut))),
            lp: self,
        });
        self.schedule(task);
    }

    /// Polls `task` now when that is possible (on the loop's thread, and the task is
    /// not being polled already: a future that wakes itself), else queues it for the
    /// async handle.
    fn schedule(&'static self, task: Arc<Task>) {
        if self.on_thread() {
            let slot = task.fut.try_lock();
            if let Ok(mut slot) = slot {
                if let Some(fut) = slot.as_mut() {
                    let waker = Waker::from(Arc::clone(&task));
                    if fut
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                    {
                        *slot = None;
                    }
                }
                return;
            }
        }
        let mut queue = self.lock_queue();
        if let Some(queue) = queue.as_mut() {
            queue.push(task);
            // SAFETY: the handle is open while the queue is `Some` (checked under the
            // same lock that `close` takes).
            unsafe { uv_async_send(self.wake) };
        }
    }

    /// Environment teardown: closes every handle; tasks still in flight are dropped
    /// unfinished (nobody is left to see them finish).
    fn close(&self) {
        let Some(queued) = self.lock_queue().take() else {
            return;
        };
        drop(queued);
        // SAFETY: open until now (the queue was `Some`); no `uv_async_send` can follow.
        // The async context was made by `new_async_context` on this environment, whose
        // cleanup hook this is.
        unsafe {
            uv_close(self.wake, Some(free_handle));
            sys::napi_async_destroy(self.env, self.async_context);
        }
        let live = std::mem::take(&mut *self.lock_live());
        for wait in live {
            wait.finish(false);
        }
        let polls = std::mem::take(&mut *self.polls.lock().unwrap_or_else(|p| p.into_inner()));
        for handle in polls.into_values() {
            // SAFETY: initialised by `poll_handle`, stopped (no wait is live), closed once.
            unsafe { uv_close(handle, Some(free_handle)) };
        }
    }
}

/// An async context for calls into JS from libuv callbacks (`napi_make_callback`
/// needs one), named after the module for async hooks.
fn new_async_context(env: sys::napi_env) -> Option<sys::napi_async_context> {
    // SAFETY: called from a JS call (a constructor) on `env`'s thread, inside its
    // handle scope; the context holds its own reference to the resource object.
    unsafe {
        let mut resource = std::ptr::null_mut();
        let mut name = std::ptr::null_mut();
        let mut context = std::ptr::null_mut();
        let ok = sys::napi_create_object(env, &raw mut resource) == sys::Status::napi_ok
            && sys::napi_create_string_utf8(env, c"cronium".as_ptr(), 7, &raw mut name)
                == sys::Status::napi_ok
            && sys::napi_async_init(env, resource, name, &raw mut context) == sys::Status::napi_ok;
        ok.then_some(context)
    }
}

/// `uv_async` callback: polls the queued tasks.
unsafe extern "C" fn drain(handle: Handle) {
    let _in = InCallback::enter();
    // SAFETY: the data is the leaked `&'static Loop` set in `Loop::start`.
    let lp: &'static Loop = unsafe { &*uv_handle_get_data(handle).cast::<Loop>() };
    let tasks = lp.lock_queue().as_mut().map(std::mem::take);
    for task in tasks.into_iter().flatten() {
        lp.schedule(task);
    }
}

/// A future running on a [`Loop`].
struct Task {
    fut: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    lp: &'static Loop,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.lp.schedule(self);
    }
}

/// The loop as client-core's [`Reactor`].
#[derive(Clone, Copy)]
pub(crate) struct UvReactor(pub(crate) &'static Loop);

impl Reactor for UvReactor {
    fn wait(&self, socket: Option<RawSocket>, deadline: Instant) -> WaitFuture {
        Box::pin(UvWait {
            lp: self.0,
            socket,
            deadline,
            state: None,
        })
    }
}

/// One wait: the socket's poll handle (when there is one) and a timer for the
/// deadline; whichever fires first ends it.
struct WaitState {
    poll: Handle,
    timer: Handle,
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
    lp: &'static Loop,
}

// SAFETY: the handles are only touched on the loop's thread (`finish` is called from
// libuv callbacks, `UvWait` on that thread, and `Loop::close` from the environment's
// cleanup hook, on that thread too); the rest is atomics and a mutex.
unsafe impl Send for WaitState {}
// SAFETY: as for `Send`.
unsafe impl Sync for WaitState {}

impl WaitState {
    /// Starts the wait; `None` when libuv refuses (the caller then does not wait).
    fn register(
        lp: &'static Loop,
        socket: Option<RawSocket>,
        deadline: Instant,
    ) -> Option<Arc<Self>> {
        let poll = match socket {
            Some(fd) => lp.poll_handle(fd)?,
            None => std::ptr::null_mut(),
        };
        let timer = alloc_handle(UV_TIMER);
        if timer.is_null() {
            return None;
        }
        // SAFETY: a zeroed allocation of a timer's size, on this thread's loop.
        if unsafe { uv_timer_init(lp.raw, timer) } != 0 {
            // SAFETY: not initialised, so not known to libuv.
            unsafe { libc::free(timer) };
            return None;
        }
        let state = Arc::new(WaitState {
            poll,
            timer,
            done: AtomicBool::new(false),
            waker: Mutex::new(None),
            lp,
        });
        let left = deadline.saturating_duration_since(Instant::now());
        // Whole milliseconds, rounded up: libuv's clock has no finer grain, and an early
        // wake would only cost a blocked read.
        let ms = u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        // SAFETY: both handles are initialised; each holds its own `Arc` reference as
        // data while the wait lasts, taken back by `finish`.
        let started = unsafe {
            for handle in [timer, poll] {
                if !handle.is_null() {
                    let data = Arc::into_raw(Arc::clone(&state)).cast_mut().cast();
                    uv_handle_set_data(handle, data);
                }
            }
            uv_unref(timer);
            (poll.is_null() || uv_poll_start(poll, UV_READABLE, on_readable) == 0)
                && uv_timer_start(timer, on_deadline, ms, 0) == 0
        };
        if !started {
            state.finish(false);
            return None;
        }
        lp.lock_live().push(Arc::clone(&state));
        Some(state)
    }

    /// Ends the wait once: closes its handles and, when `wake`, wakes its task.
    fn finish(self: &Arc<Self>, wake: bool) {
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: both handles were set up by `register`; this runs once per wait
        // (guarded by `done`), on the loop's thread. The poll handle is the socket's
        // cached one: stopped, and its reference to this wait taken back.
        unsafe {
            if !self.poll.is_null() {
                uv_poll_stop(self.poll);
                drop(Arc::from_raw(
                    uv_handle_get_data(self.poll).cast::<WaitState>(),
                ));
                uv_handle_set_data(self.poll, std::ptr::null_mut());
            }
            uv_close(self.timer, Some(free_wait_handle));
        }
        self.lp.lock_live().retain(|w| !Arc::ptr_eq(w, self));
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let (true, Some(waker)) = (wake, waker) {
            waker.wake();
        }
    }
}

/// The wait a handle serves, when it serves one (a new reference).
///
/// # Safety
/// `handle` must be a handle of this module whose data is null or an `Arc<WaitState>`
/// reference set by [`WaitState::register`].
unsafe fn state_of(handle: Handle) -> Option<Arc<WaitState>> {
    // SAFETY: per the contract.
    let data = unsafe { uv_handle_get_data(handle) }.cast::<WaitState>();
    if data.is_null() {
        return None;
    }
    // SAFETY: the handle's own reference stays where it is (ManuallyDrop).
    let held = ManuallyDrop::new(unsafe { Arc::from_raw(data) });
    Some(Arc::clone(&held))
}

unsafe extern "C" fn on_readable(handle: Handle, _status: c_int, _events: c_int) {
    let _in = InCallback::enter();
    // An error status (a socket libuv cannot poll) ends the wait too: the read that
    // follows reports the real error.
    // SAFETY: libuv calls this only for our started poll handles.
    match unsafe { state_of(handle) } {
        Some(state) => state.finish(true),
        // SAFETY: as above; a started handle with no wait must not fire again.
        None => unsafe {
            uv_poll_stop(handle);
        },
    }
}

unsafe extern "C" fn on_deadline(handle: Handle) {
    let _in = InCallback::enter();
    // SAFETY: libuv calls this only for our timers, which serve a wait until closed.
    if let Some(state) = unsafe { state_of(handle) } {
        state.finish(true);
    }
}

fn restore_blocking(fd: RawSocket) {
    let mut off: c_int = 0;
    // SAFETY: FIONBIO on a descriptor the caller keeps open; failure leaves it
    // non-blocking, which turns a later read's wait into an immediate timeout error.
    unsafe { libc::ioctl(fd, libc::FIONBIO, &raw mut off) };
}

/// The future of one [`UvReactor::wait`].
struct UvWait {
    lp: &'static Loop,
    socket: Option<RawSocket>,
    deadline: Instant,
    state: Option<Arc<WaitState>>,
}

impl Future for UvWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let state = match &this.state {
            Some(state) => state,
            None => {
                // Off the loop's thread, or after teardown, there is nothing to wait
                // with: the caller's blocking read waits instead.
                if !this.lp.on_thread() || !this.lp.is_open() {
                    return Poll::Ready(());
                }
                match WaitState::register(this.lp, this.socket, this.deadline) {
                    Some(state) => this.state.insert(state),
                    None => return Poll::Ready(()),
                }
            }
        };
        if state.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *state.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for UvWait {
    fn drop(&mut self) {
        // A call dropped mid-wait (teardown) must stop watching its socket before
        // client-core closes it.
        if let Some(state) = &self.state {
            if self.lp.on_thread() {
                state.finish(false);
            }
        }
    }
}
