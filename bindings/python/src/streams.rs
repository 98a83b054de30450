//! The input stream, the output stream writer and variable watches, each usable from
//! sync code (`for`, `write`, `with`) and from asyncio (`async for`, `await write`,
//! `async with`). They run on the shared multi-threaded runtime; a sync call waits for
//! it with the interpreter released.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use cronium_client::{
    Client, Error, ErrorKind, OutputWriter, RecordStream, Result, StreamSummary, VariableChange,
    WatchStream,
};
use futures_util::Stream;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::convert::{from_json, to_raw};
use crate::errors::to_pyerr;
use crate::out::{runtime, spawn, wait, Out};

type Raw = Box<RawValue>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ----- an awaitable that is already done ---------------------------------------------

/// What `await` gets when the answer is already here (a buffered record, a write that
/// did not have to wait): no trip through the event loop.
#[pyclass(module = "cronium._native", name = "Ready")]
pub(crate) struct Ready {
    result: Option<PyResult<Py<PyAny>>>,
}

impl Ready {
    pub(crate) fn new(result: PyResult<Py<PyAny>>) -> Self {
        Ready {
            result: Some(result),
        }
    }

    fn none(py: Python<'_>) -> Self {
        Ready::new(Ok(py.None()))
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.result.take() {
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(e)) => Err(e),
            None => Err(PyStopIteration::new_err((py.None(),))),
        }
    }
}

// ----- input stream ------------------------------------------------------------------

/// Records read ahead in one go, so a sync `for` or an `async for` does not cross into
/// the runtime (or the event loop) per record.
/// (At most this many records: each becomes a Python object only when it is reached.)
const READ_AHEAD_RECORDS: usize = 256;
const READ_AHEAD_BYTES: usize = cronium_client::buffering::READ_AHEAD_BYTES;

enum InState {
    Unopened,
    Open(RecordStream<Raw>),
    Ended,
}

struct InputInner {
    client: Client,
    stream: tokio::sync::Mutex<InState>,
    buffer: Mutex<VecDeque<Result<Raw>>>,
}

impl InputInner {
    fn pop(&self) -> Option<Result<Raw>> {
        lock(&self.buffer).pop_front()
    }

    /// The next record, reading whatever else is already available into the buffer.
    async fn fill(self: Arc<Self>) -> Option<Result<Raw>> {
        let mut state = self.stream.lock().await;
        if let Some(item) = self.pop() {
            // Another caller filled the buffer while this one waited.
            return Some(item);
        }
        if let InState::Unopened = *state {
            match self.client.stream_input::<Raw>().await {
                Ok(s) => *state = InState::Open(s),
                Err(e) => {
                    *state = InState::Ended;
                    return Some(Err(e));
                }
            }
        }
        let InState::Open(stream) = &mut *state else {
            return None;
        };
        let Some(first) = stream.next().await else {
            *state = InState::Ended;
            return None;
        };
        let mut ahead = Vec::new();
        let mut bytes = 0;
        let mut ended = false;
        while ahead.len() < READ_AHEAD_RECORDS && bytes < READ_AHEAD_BYTES {
            // Take what is ready without waiting for more.
            let ready = std::future::poll_fn(|cx| {
                Poll::Ready(match Pin::new(&mut *stream).poll_next(cx) {
                    Poll::Ready(item) => Some(item),
                    Poll::Pending => None,
                })
            })
            .await;
            match ready {
                Some(Some(item)) => {
                    bytes += item.as_ref().map_or(0, |r| r.get().len());
                    ahead.push(item);
                }
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        lock(&self.buffer).extend(ahead);
        if ended {
            *state = InState::Ended;
        }
        Some(first)
    }
}

/// The execution's input records (`GET /v1/input/stream`), one JSON value each.
///
/// Iterate it with `for` or `async for`; the request is made on the first record asked
/// for, and memory stays at one read-ahead batch however long the stream is.
#[pyclass(frozen, module = "cronium._native", name = "InputStream")]
pub(crate) struct InputStream {
    inner: Arc<InputInner>,
}

impl InputStream {
    pub(crate) fn new(client: Client) -> Self {
        InputStream {
            inner: Arc::new(InputInner {
                client,
                stream: tokio::sync::Mutex::new(InState::Unopened),
                buffer: Mutex::new(VecDeque::new()),
            }),
        }
    }
}

fn record(py: Python<'_>, item: Result<Raw>) -> PyResult<Py<PyAny>> {
    match item {
        Ok(raw) => Ok(from_json(py, raw.get())?.unbind()),
        Err(e) => Err(to_pyerr(py, &e)),
    }
}

#[pymethods]
impl InputStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let item = match self.inner.pop() {
            Some(item) => Some(item),
            None => wait(py, Arc::clone(&self.inner).fill())?,
        };
        item.map(|item| record(py, item)).transpose()
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(item) = self.inner.pop() {
            return Ok(Bound::new(py, Ready::new(record(py, item)))?.into_any());
        }
        let inner = Arc::clone(&self.inner);
        spawn(py, async move {
            match inner.fill().await {
                None => Out::End,
                Some(Ok(raw)) => Out::Json(raw),
                Some(Err(e)) => Out::Failed(e),
            }
        })
    }
}

// ----- output stream -----------------------------------------------------------------

/// Records waiting for the stream before `write` makes its caller wait (sync) or hands
/// back an awaitable that waits (async), and the level they must drain to.
const QUEUE_HIGH_BYTES: usize = cronium_client::buffering::WRITE_HIGH_WATER_BYTES;
const QUEUE_LOW_BYTES: usize = cronium_client::buffering::WRITE_LOW_WATER_BYTES;

#[derive(Default)]
struct OutState {
    queue: VecDeque<Raw>,
    queued_bytes: usize,
    /// The task feeding the open request, if one is open.
    pump: Option<JoinHandle<Result<StreamSummary>>>,
    closing: bool,
    /// Why the open request failed; reported by every write until `close`.
    failed: Option<Error>,
    written: u64,
}

struct OutInner {
    client: Client,
    state: Mutex<OutState>,
    /// Wakes the pump: a record was queued, or close was asked.
    more: Notify,
    /// Wakes writers waiting for the queue to drain.
    room: Notify,
}

enum Next {
    Record(Raw),
    Close,
    Wait,
}

impl OutInner {
    fn fail(&self, e: &Error) {
        let mut st = lock(&self.state);
        st.failed = Some(e.clone());
        st.queue.clear();
        st.queued_bytes = 0;
        drop(st);
        self.room.notify_waiters();
    }

    /// Feeds queued records, in order, into one `POST /v1/output/stream`.
    async fn pump(self: Arc<Self>) -> Result<StreamSummary> {
        let mut writer: OutputWriter = match self.client.stream_output().await {
            Ok(w) => w,
            Err(e) => {
                self.fail(&e);
                return Err(e);
            }
        };
        loop {
            let next = {
                let mut st = lock(&self.state);
                match st.queue.pop_front() {
                    Some(rec) => {
                        st.queued_bytes -= rec.get().len();
                        if st.queued_bytes <= QUEUE_LOW_BYTES {
                            self.room.notify_waiters();
                        }
                        Next::Record(rec)
                    }
                    None if st.closing => Next::Close,
                    None => Next::Wait,
                }
            };
            match next {
                Next::Record(rec) => {
                    if let Err(e) = writer.write(&*rec).await {
                        self.fail(&e);
                        return Err(e);
                    }
                }
                Next::Close => return writer.close().await,
                // `notify_one` keeps a permit when nobody waits, so a record queued
                // between the check above and this wait is not missed.
                Next::Wait => self.more.notified().await,
            }
        }
    }

    /// Waits until the queue drained to the low mark (or the stream failed).
    async fn room(self: Arc<Self>) -> Out {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = lock(&self.state);
                if let Some(e) = &st.failed {
                    return Out::Failed(e.clone());
                }
                if st.queued_bytes <= QUEUE_LOW_BYTES {
                    return Out::Nothing;
                }
            }
            notified.await;
        }
    }

    /// Ends the open request (if any) after the queued records and resets the writer.
    async fn finish(self: Arc<Self>) -> Result<StreamSummary> {
        let pump = {
            let mut st = lock(&self.state);
            st.closing = true;
            st.pump.take()
        };
        self.more.notify_one();
        let result = match pump {
            Some(handle) => handle.await.unwrap_or_else(|e| {
                Err(Error::new(
                    ErrorKind::Internal,
                    "internal",
                    format!("the output stream task ended abnormally: {e}"),
                ))
            }),
            None => Ok(StreamSummary::default()),
        };
        let mut st = lock(&self.state);
        st.closing = false;
        match st.failed.take() {
            Some(e) => Err(e),
            None => result,
        }
    }

    /// Drops the open request without ending it: the server sees an aborted stream.
    fn abort(&self) {
        let mut st = lock(&self.state);
        if let Some(pump) = st.pump.take() {
            pump.abort();
        }
        st.queue.clear();
        st.queued_bytes = 0;
        st.failed = None;
    }
}

/// Whether this thread is running an asyncio event loop (so waiting here would stall it).
fn in_event_loop(py: Python<'_>) -> PyResult<bool> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = GET_RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio")?
            .getattr("_get_running_loop")
            .map(Bound::unbind)
    })?;
    Ok(!f.bind(py).call0()?.is_none())
}

/// Appends records to the execution's output stream (`POST /v1/output/stream`).
///
/// `write(record)` queues the record (in call order) and returns an awaitable: already
/// done unless the queue is backed up. Sync code may ignore it — the call itself waits
/// while the queue is full; async code awaits it, so the event loop never blocks.
/// `close()` / `await aclose()` end the request and return the server's count; the
/// writer can then be used again (a new request). `with` / `async with` close it, or
/// abort the request when the block raised.
#[pyclass(frozen, weakref, module = "cronium._native", name = "OutputStream")]
pub(crate) struct OutputStream {
    inner: Arc<OutInner>,
}

impl OutputStream {
    pub(crate) fn new(client: Client) -> Self {
        OutputStream {
            inner: Arc::new(OutInner {
                client,
                state: Mutex::new(OutState::default()),
                more: Notify::new(),
                room: Notify::new(),
            }),
        }
    }

    fn ready_none(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(Bound::new(py, Ready::none(py))?.into_any())
    }
}

impl Drop for OutputStream {
    /// A writer dropped without `close` aborts its request (client-core's rule), so a
    /// stream cut short is never recorded as complete; its pump task ends with it.
    fn drop(&mut self) {
        self.inner.abort();
    }
}

#[pymethods]
impl OutputStream {
    /// Records accepted by this writer so far (across requests).
    #[getter]
    fn records_written(&self) -> u64 {
        lock(&self.inner.state).written
    }

    /// Whether a request is open (records were written since the last close).
    #[getter]
    fn is_open(&self) -> bool {
        lock(&self.inner.state).pump.is_some()
    }

    fn write<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let raw = to_raw(record)?;
        let backed_up = {
            let mut st = lock(&self.inner.state);
            if let Some(e) = &st.failed {
                return Err(to_pyerr(py, e));
            }
            st.queued_bytes += raw.get().len();
            st.queue.push_back(raw);
            st.written += 1;
            if st.pump.is_none() {
                st.pump = Some(runtime().spawn(Arc::clone(&self.inner).pump()));
            }
            st.queued_bytes > QUEUE_HIGH_BYTES
        };
        self.inner.more.notify_one();
        if !backed_up {
            return Self::ready_none(py);
        }
        let inner = Arc::clone(&self.inner);
        if in_event_loop(py)? {
            return spawn(py, inner.room());
        }
        wait(py, inner.room())?.into_py(py)?;
        Self::ready_none(py)
    }

    /// Ends the request after every queued record and returns the server's count.
    fn close(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = wait(py, Arc::clone(&self.inner).finish())?;
        Out::from(r, Out::Summary).into_py(py)
    }

    /// `close()` for async code.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        spawn(
            py,
            async move { Out::from(inner.finish().await, Out::Summary) },
        )
    }

    /// Drops the open request without ending it (queued records are discarded).
    fn abort(&self) {
        self.inner.abort();
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if exc_type.is_some_and(|t| !t.is_none()) {
            self.abort();
        } else {
            self.close(py)?;
        }
        Ok(false)
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        Ok(Bound::new(py, Ready::new(Ok(slf.into_any().unbind())))?.into_any())
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        exc_type: Option<&Bound<'py, PyAny>>,
        _exc: Option<&Bound<'py, PyAny>>,
        _tb: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if exc_type.is_some_and(|t| !t.is_none()) {
            self.abort();
            return Ok(Bound::new(
                py,
                Ready::new(Ok(false.into_pyobject(py)?.to_owned().into_any().unbind())),
            )?
            .into_any());
        }
        let inner = Arc::clone(&self.inner);
        // Resolves to None (falsy), so an exception is never swallowed.
        spawn(py, async move {
            Out::from(inner.finish().await, |_| Out::Nothing)
        })
    }
}

// ----- watch -------------------------------------------------------------------------

struct WatchInner {
    stream: tokio::sync::Mutex<Option<WatchStream<Raw>>>,
    cancel: tokio::sync::watch::Sender<bool>,
}

impl WatchInner {
    /// The next change; `None` once closed (or after a fatal error was reported).
    async fn next(self: Arc<Self>) -> Option<Result<VariableChange<Raw>>> {
        let mut cancelled = self.cancel.subscribe();
        if *cancelled.borrow() {
            return None;
        }
        let mut guard = tokio::select! {
            biased;
            _ = cancelled.wait_for(|c| *c) => return None,
            guard = self.stream.lock() => guard,
        };
        let stream = guard.as_mut()?;
        tokio::select! {
            biased;
            _ = cancelled.wait_for(|c| *c) => {
                *guard = None;
                None
            }
            item = stream.next() => {
                if item.is_none() {
                    *guard = None;
                }
                item
            }
        }
    }

    fn close(&self) {
        self.cancel.send_replace(true);
        if let Ok(mut guard) = self.stream.try_lock() {
            *guard = None;
        }
    }
}

/// Changes of one variable, from the moment the watch was opened (`VariableChange`
/// each). Iterate with `for` or `async for`; `close()` (from any thread) ends the
/// iteration and the request.
#[pyclass(frozen, weakref, module = "cronium._native", name = "Watch")]
pub(crate) struct Watch {
    key: String,
    inner: Arc<WatchInner>,
}

impl Watch {
    pub(crate) fn new(key: String, stream: WatchStream<Raw>) -> Self {
        let (cancel, _) = tokio::sync::watch::channel(false);
        Watch {
            key,
            inner: Arc::new(WatchInner {
                stream: tokio::sync::Mutex::new(Some(stream)),
                cancel,
            }),
        }
    }
}

fn change_out(item: Option<Result<VariableChange<Raw>>>) -> Out {
    match item {
        None => Out::End,
        Some(Ok(c)) => Out::Change(c),
        Some(Err(e)) => Out::Failed(e),
    }
}

#[pymethods]
impl Watch {
    /// The watched key.
    #[getter]
    fn key(&self) -> &str {
        &self.key
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        *self.inner.cancel.borrow()
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match wait(py, Arc::clone(&self.inner).next())? {
            None => Ok(None),
            item => change_out(item).into_py(py).map(Some),
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        spawn(py, async move { change_out(inner.next().await) })
    }

    /// Ends the watch; a `next` waiting in another thread or task returns at once.
    fn close(&self) {
        self.inner.close();
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        Ok(Bound::new(py, Ready::new(Ok(slf.into_any().unbind())))?.into_any())
    }

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<&Bound<'py, PyAny>>,
        _exc: Option<&Bound<'py, PyAny>>,
        _tb: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        Ok(Bound::new(py, Ready::none(py))?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("<cronium watch {:?}>", self.key)
    }
}
