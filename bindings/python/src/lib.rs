//! `cronium._native`: the Python binding of `cronium-client`.
//!
//! A thin layer: every behaviour (transport, auth, token refresh, retries, streams,
//! watches) is client-core's; this crate converts values (JSON text ↔ Python objects)
//! and errors (client-core's `Error` → `cronium.CroniumError` subclasses), releases the
//! interpreter while waiting, and adapts streams to Python's iteration protocols. The
//! public Python API is the facade in `python/cronium/__init__.py`.
//!
//! Importing the module does no I/O and starts no thread: the shared Tokio runtime is
//! built on the first async call, stream or watch.

mod client;
mod convert;
mod errors;
mod info;
mod out;
mod streams;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Two workers match the small hosts scripts run on; async calls and streams spend
    // their time waiting on the sidecar, not computing.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(2)
        .thread_name("cronium-runtime")
        .enable_all();
    pyo3_async_runtimes::tokio::init(builder);

    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ERROR_CODES", errors::error_codes(m.py())?)?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    m.add_class::<streams::InputStream>()?;
    m.add_class::<streams::OutputStream>()?;
    m.add_class::<streams::Watch>()?;
    m.add_class::<streams::Ready>()?;
    m.add_function(wrap_pyfunction!(convert::json_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(convert::json_loads_native, m)?)?;
    m.add_function(wrap_pyfunction!(info::diagnose, m)?)?;
    Ok(())
}
