//! client-core's one error type → the exception classes of `cronium._errors`.
//!
//! The classes live in Python (so they can carry attributes, pickle, and
//! `CroniumTimeoutError` can also be a builtin `TimeoutError`); this side only hands
//! over the fields. Building the exception needs the interpreter, so async calls carry
//! the client error to the point where the result is converted (see `Out`).

use cronium_client::{Error, ErrorCode};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

/// `cronium._errors._from_native(kind, code, message, status, retryable, request_id,
/// retry_after)`.
fn factory(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    FACTORY
        .get_or_try_init(py, || {
            py.import("cronium._errors")?
                .getattr("_from_native")
                .map(Bound::unbind)
        })
        .map(|f| f.bind(py))
}

/// The Python exception for a client error.
pub(crate) fn to_pyerr(py: Python<'_>, error: &Error) -> PyErr {
    let exc = factory(py).and_then(|f| {
        f.call1((
            error.kind().as_str(),
            error.code(),
            error.message(),
            error.status(),
            error.retryable(),
            error.request_id(),
            error.retry_after().map(|d| d.as_secs_f64()),
        ))
    });
    match exc {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// `cronium._errors.CroniumTypeError` with `code`: an argument of the wrong type, refused
/// before anything is sent with the code the API would answer (a `ValidationError` that is
/// also a builtin `TypeError`).
pub(crate) fn type_error(py: Python<'_>, code: ErrorCode, message: String) -> PyErr {
    let exc = py.import("cronium._errors").and_then(|m| {
        let kwargs = PyDict::new(py);
        kwargs.set_item("code", code.as_str())?;
        m.getattr("CroniumTypeError")?
            .call((message,), Some(&kwargs))
    });
    match exc {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// `cronium._native.ERROR_CODES`: every code of the protocol as `(code, kind, status,
/// retryable)`, from client-core, so Python's list cannot drift from it.
pub(crate) fn error_codes(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let rows = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str(), c.kind().as_str(), c.status(), c.retryable()));
    PyTuple::new(py, rows)
}
