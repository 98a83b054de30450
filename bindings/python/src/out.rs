//! What a call answers, before it becomes a Python object, and the runtime the async
//! and streaming calls run on.
//!
//! Sync calls build an [`Out`] with the interpreter released and convert it after; async
//! calls hand it to pyo3-async-runtimes, which converts it (or raises its error) when it
//! resolves the asyncio future — the one place an exception object can be built.

use std::future::Future;
use std::time::Duration;

use cronium_client::{Error, Result, StreamSummary, Variable, VariableChange};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};
use serde_json::value::RawValue;

use crate::convert::from_json;
use crate::errors::to_pyerr;
use crate::streams::Watch;

/// A call's answer on its way to Python.
pub(crate) enum Out {
    /// `None`.
    Nothing,
    /// A JSON value.
    Json(Box<RawValue>),
    /// A JSON value, or the caller's default when absent.
    OrDefault(Option<Box<RawValue>>, Option<Py<PyAny>>),
    Bool(bool),
    OptBool(Option<bool>),
    Int(u64),
    Keys(Vec<String>),
    /// `VariableInfo` or `None`.
    Info(Option<Variable<Box<RawValue>>>),
    /// `VariableChange`.
    Change(VariableChange<Box<RawValue>>),
    /// `StreamSummary`.
    Summary(StreamSummary),
    /// A watch handle.
    Watch(Watch),
    /// The end of an async iteration: raises `StopAsyncIteration`.
    End,
    /// The call failed: raises the matching `CroniumError`.
    Failed(Error),
}

impl Out {
    /// `Ok` through `f`, an error as [`Out::Failed`].
    pub(crate) fn from<T>(result: Result<T>, f: impl FnOnce(T) -> Out) -> Out {
        match result {
            Ok(v) => f(v),
            Err(e) => Out::Failed(e),
        }
    }

    /// Converts (or raises) now; for sync calls.
    pub(crate) fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.into_pyobject(py).map(Bound::unbind)
    }
}

fn types_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "cronium._types", name)
}

fn opt_json<'py>(py: Python<'py>, value: Option<&RawValue>) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Some(raw) => from_json(py, raw.get()),
        None => Ok(py.None().into_bound(py)),
    }
}

impl<'py> IntoPyObject<'py> for Out {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static VARIABLE_INFO: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static VARIABLE_CHANGE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static STREAM_SUMMARY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        match self {
            Out::Nothing => Ok(py.None().into_bound(py)),
            Out::Json(raw) => from_json(py, raw.get()),
            Out::OrDefault(Some(raw), _) => from_json(py, raw.get()),
            Out::OrDefault(None, default) => {
                Ok(default.map_or_else(|| py.None().into_bound(py), |d| d.into_bound(py)))
            }
            Out::Bool(b) => Ok(b.into_pyobject(py)?.to_owned().into_any()),
            Out::OptBool(b) => Ok(b.into_pyobject(py)?.into_any()),
            Out::Int(n) => Ok(n.into_pyobject(py)?.into_any()),
            Out::Keys(keys) => Ok(PyList::new(py, keys)?.into_any()),
            Out::Info(None) => Ok(py.None().into_bound(py)),
            Out::Info(Some(v)) => types_class(py, &VARIABLE_INFO, "VariableInfo")?.call1((
                v.key,
                from_json(py, v.value.get())?,
                v.version,
                v.updated_at,
            )),
            Out::Change(c) => types_class(py, &VARIABLE_CHANGE, "VariableChange")?.call1((
                c.key,
                opt_json(py, c.value.as_deref())?,
                c.version,
                c.updated_at,
                c.deleted,
            )),
            Out::Summary(s) => {
                types_class(py, &STREAM_SUMMARY, "StreamSummary")?.call1((s.records, s.bytes))
            }
            Out::Watch(w) => Ok(Bound::new(py, w)?.into_any()),
            Out::End => Err(PyStopAsyncIteration::new_err(())),
            Out::Failed(e) => Err(to_pyerr(py, &e)),
        }
    }
}

// ----- the shared runtime ------------------------------------------------------------

/// The multi-threaded Tokio runtime of async calls, streams and watches (the one
/// pyo3-async-runtimes drives). Sync one-shot calls do not use it: client-core's
/// `BlockingClient` runs them on the calling thread, which is faster.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// How often a long wait (a watch, a stream) looks up from Rust to let Python handle a
/// signal, so Ctrl-C interrupts a script blocked on the runtime.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `fut` on the shared runtime from a sync call, with the interpreter released.
pub(crate) fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        let e = Error::new(
            cronium_client::ErrorKind::Config,
            "runtime_context",
            "a blocking cronium call was made on a runtime thread; use cronium.aio there",
        );
        return Err(to_pyerr(py, &e));
    }
    let mut fut = Box::pin(fut);
    loop {
        let step = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut fut).await })
        });
        match step {
            Ok(v) => return Ok(v),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}

/// Hands `fut` to asyncio: an awaitable resolving to the converted [`Out`].
pub(crate) fn spawn<'py, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Out> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(fut.await) })
}
