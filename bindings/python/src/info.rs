//! `python -m cronium info`: client-core's [`Diagnosis`] of this environment as a dict.
//! The token is reported only as set or not.

use cronium_client::Diagnosis;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The diagnosis as `{"transport", "transport_error", "token_set", "execution_id",
/// "runtime_ok", "runtime_error"}` (absent values are `None`). Releases the interpreter
/// while the health probe waits.
#[pyfunction]
pub(crate) fn diagnose(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = py.detach(Diagnosis::from_env);
    let out = PyDict::new(py);
    let (transport, transport_error) = match &d.endpoint {
        Ok(e) => (Some(e.to_string()), None),
        Err(e) => (None, Some(e.message().to_owned())),
    };
    out.set_item("transport", transport)?;
    out.set_item("transport_error", transport_error)?;
    out.set_item("token_set", d.token_set)?;
    out.set_item("execution_id", d.execution_id)?;
    let (ok, error) = match &d.health {
        Some(Ok(())) => (Some(true), None),
        Some(Err(e)) => (Some(false), Some(e.message().to_owned())),
        None => (None, None),
    };
    out.set_item("runtime_ok", ok)?;
    out.set_item("runtime_error", error)?;
    Ok(out)
}
