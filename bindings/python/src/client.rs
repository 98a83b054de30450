//! `Client` (sync) and `AsyncClient` (asyncio): every operation of client-core, with
//! values and errors converted and nothing else.
//!
//! Sync calls run on client-core's `BlockingClient` (a current-thread runtime driven by
//! the calling thread: the fastest path for one request) with the interpreter released,
//! so other Python threads run meanwhile. Async calls run the same `Client` on the shared
//! multi-threaded runtime and resolve an asyncio future.

use std::path::PathBuf;

use cronium_client::{BlockingClient, Client as CoreClient, Config, ToolCall};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::value::RawValue;

use crate::convert::to_raw;
use crate::errors::{to_pyerr, type_error};
use crate::out::{spawn, Out};
use crate::streams::{InputStream, OutputStream, Watch};

type Raw = Box<RawValue>;

/// The configuration for `Client(...)`: the arguments, each missing one taken from the
/// environment by client-core's one rule ([`cronium_client::ConfigBuilder::build_with_env`]).
fn config(
    socket: Option<PathBuf>,
    url: Option<String>,
    token: Option<String>,
    execution_id: Option<String>,
    timeout: Option<f64>,
    max_retries: Option<u32>,
) -> cronium_client::Result<Config> {
    let mut b = Config::builder();
    if let Some(socket) = socket {
        b = b.socket(socket);
    }
    if let Some(url) = url {
        b = b.url(url);
    }
    if let Some(token) = token {
        b = b.token(token);
    }
    if let Some(id) = execution_id {
        b = b.execution_id(id);
    }
    if let Some(secs) = timeout {
        b = b.timeout_secs(secs);
    }
    if let Some(retries) = max_retries {
        b = b.max_retries(retries);
    }
    b.build_with_env()
}

/// The synchronous client (`cronium.Cronium` is its Python subclass).
#[pyclass(frozen, subclass, module = "cronium._native", name = "Client")]
pub(crate) struct Client {
    blocking: BlockingClient,
}

impl Client {
    pub(crate) fn core(&self) -> &CoreClient {
        self.blocking.client()
    }

    fn run_tool_call(
        &self,
        py: Python<'_>,
        call: ToolCall,
        idempotency_key: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| {
            self.blocking
                .execute_tool_call::<Raw>(&call, idempotency_key.as_deref())
        });
        Out::from(r, Out::Json).into_py(py)
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (socket=None, url=None, token=None, *, execution_id=None, timeout=None, max_retries=None))]
    fn new(
        py: Python<'_>,
        socket: Option<PathBuf>,
        url: Option<String>,
        token: Option<String>,
        execution_id: Option<String>,
        timeout: Option<f64>,
        max_retries: Option<u32>,
    ) -> PyResult<Self> {
        config(socket, url, token, execution_id, timeout, max_retries)
            .and_then(BlockingClient::new)
            .map(|blocking| Client { blocking })
            .map_err(|e| to_pyerr(py, &e))
    }

    /// Where the client connects: `unix:/path` or `http://host:port`.
    #[getter]
    fn endpoint(&self) -> String {
        self.blocking.endpoint().to_string()
    }

    /// `CRONIUM_EXECUTION_ID` (or the `execution_id` given), if any.
    #[getter]
    fn execution_id(&self) -> Option<String> {
        self.blocking.execution_id().map(str::to_owned)
    }

    /// Expiry (Unix seconds) of the token in use, when it is a JWT.
    #[getter]
    fn token_expires_at(&self) -> Option<u64> {
        self.blocking.token_expires_at()
    }

    /// Connections opened so far (a sequential caller keeps one alive).
    #[getter]
    fn connections_opened(&self) -> u64 {
        self.blocking.connections_opened()
    }

    fn __repr__(&self) -> String {
        format!("<cronium client {}>", self.blocking.endpoint())
    }

    fn health(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.blocking.health())
            .map_err(|e| to_pyerr(py, &e))
    }

    fn input(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.blocking.input::<Raw>());
        Out::from(r, Out::Json).into_py(py)
    }

    fn output(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let raw = to_raw(data)?;
        py.detach(|| self.blocking.output(&*raw))
            .map_err(|e| to_pyerr(py, &e))
    }

    fn get_output(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.blocking.get_output::<Raw>());
        Out::from(r, Out::Json).into_py(py)
    }

    #[pyo3(signature = (key, default=None))]
    fn get_variable(
        &self,
        py: Python<'_>,
        key: String,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.blocking.get_variable::<Raw>(&key));
        Out::from(r, |v| Out::OrDefault(v.map(|v| v.value), default)).into_py(py)
    }

    fn get_variable_info(&self, py: Python<'_>, key: String) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.blocking.get_variable::<Raw>(&key));
        Out::from(r, Out::Info).into_py(py)
    }

    #[pyo3(signature = (key, value, *, if_version=None))]
    fn set_variable(
        &self,
        py: Python<'_>,
        key: String,
        value: &Bound<'_, PyAny>,
        if_version: Option<u64>,
    ) -> PyResult<u64> {
        let raw = to_raw(value)?;
        py.detach(|| self.blocking.set_variable(&key, &*raw, if_version))
            .map(|meta| meta.version)
            .map_err(|e| to_pyerr(py, &e))
    }

    #[pyo3(signature = (key, *, if_version=None))]
    fn delete_variable(
        &self,
        py: Python<'_>,
        key: String,
        if_version: Option<u64>,
    ) -> PyResult<bool> {
        py.detach(|| self.blocking.delete_variable(&key, if_version))
            .map_err(|e| to_pyerr(py, &e))
    }

    fn list_variables(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.blocking.list_variables())
            .map_err(|e| to_pyerr(py, &e))
    }

    fn set_condition(&self, py: Python<'_>, condition: &Bound<'_, PyAny>) -> PyResult<()> {
        let condition = condition_of(condition)?;
        py.detach(|| self.blocking.set_condition(condition))
            .map_err(|e| to_pyerr(py, &e))
    }

    fn get_condition(&self, py: Python<'_>) -> PyResult<Option<bool>> {
        py.detach(|| self.blocking.get_condition())
            .map_err(|e| to_pyerr(py, &e))
    }

    fn context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.blocking.context::<Raw>());
        Out::from(r, Out::Json).into_py(py)
    }

    fn refresh_token(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.blocking.refresh_token())
            .map_err(|e| to_pyerr(py, &e))
    }

    #[pyo3(signature = (tool, action, params=None, *, idempotency_key=None))]
    fn execute_tool_action(
        &self,
        py: Python<'_>,
        tool: String,
        action: String,
        params: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let params = tool_params(params)?;
        let r = py.detach(|| {
            self.blocking.execute_tool_action::<Raw, _>(
                &tool,
                &action,
                &*params,
                idempotency_key.as_deref(),
            )
        });
        Out::from(r, Out::Json).into_py(py)
    }

    /// Posts `text` to the user's Slack webhook (more fields: `blocks`, `username`...).
    #[pyo3(signature = (text, *, channel=None, idempotency_key=None, **fields))]
    fn send_slack_message(
        &self,
        py: Python<'_>,
        text: String,
        channel: Option<String>,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = ToolCall::slack_message(&text, channel.as_deref(), tool_fields(py, fields)?);
        self.run_tool_call(py, call, idempotency_key)
    }

    /// Posts `content` to the user's Discord webhook (more fields: `embeds`...).
    #[pyo3(signature = (content, *, idempotency_key=None, **fields))]
    fn send_discord_message(
        &self,
        py: Python<'_>,
        content: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = ToolCall::discord_message(&content, tool_fields(py, fields)?);
        self.run_tool_call(py, call, idempotency_key)
    }

    /// Sends an email through the user's SMTP credential (more fields: `cc`, `bcc`...).
    #[pyo3(signature = (to, subject, body, *, idempotency_key=None, **fields))]
    fn send_email(
        &self,
        py: Python<'_>,
        to: &Bound<'_, PyAny>,
        subject: String,
        body: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = ToolCall::email(&recipients(to)?, &subject, &body, tool_fields(py, fields)?);
        self.run_tool_call(py, call, idempotency_key)
    }

    /// Posts `message` to the user's Teams webhook (more fields: `title`, `sections`...).
    #[pyo3(signature = (message, *, idempotency_key=None, **fields))]
    fn send_teams_message(
        &self,
        py: Python<'_>,
        message: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = ToolCall::teams_message(&message, tool_fields(py, fields)?);
        self.run_tool_call(py, call, idempotency_key)
    }

    /// Creates a Trello card `name` in list `list_id` (more fields: `desc`, `due`...).
    #[pyo3(signature = (list_id, name, *, idempotency_key=None, **fields))]
    fn create_trello_card(
        &self,
        py: Python<'_>,
        list_id: String,
        name: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = ToolCall::trello_card(&list_id, &name, tool_fields(py, fields)?);
        self.run_tool_call(py, call, idempotency_key)
    }

    /// Appends `rows` after the table in `range` of a Google Sheet (more fields:
    /// `spreadsheetId`, `valueInputOption`).
    #[pyo3(signature = (range, rows, *, idempotency_key=None, **fields))]
    fn append_sheet_rows(
        &self,
        py: Python<'_>,
        range: String,
        rows: &Bound<'_, PyAny>,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let call = ToolCall::sheet_rows(&range, json_value(rows)?, tool_fields(py, fields)?);
        self.run_tool_call(py, call, idempotency_key)
    }

    /// The tools the user has credentials for: `[{"tool", "credentials", "actions"}]`.
    fn list_tools(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.blocking.list_tools::<Raw>());
        Out::from(r, Out::Json).into_py(py)
    }

    /// Opens a watch of `key` now (changes after this call are reported).
    fn watch_variable(&self, py: Python<'_>, key: String) -> PyResult<Watch> {
        let core = self.core().clone();
        let key2 = key.clone();
        let opened = crate::out::wait(py, async move { core.watch_variable::<Raw>(&key2).await })?;
        opened
            .map(|stream| Watch::new(key, stream))
            .map_err(|e| to_pyerr(py, &e))
    }

    /// The input stream; opened on first iteration (`for` or `async for`).
    fn stream_input(&self) -> InputStream {
        InputStream::new(self.core().clone())
    }

    /// A new output stream writer; the request starts with the first record.
    fn stream_output(&self) -> OutputStream {
        OutputStream::new(self.core().clone())
    }
}

/// The extra fields of a tool convenience call (`**fields`), as client-core takes them.
fn tool_fields(
    py: Python<'_>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<Option<serde_json::Map<String, serde_json::Value>>> {
    match fields {
        Some(f) if !f.is_empty() => {
            let raw = to_raw(f.as_any())?;
            ToolCall::fields_from_json(raw.get()).map_err(|e| to_pyerr(py, &e))
        }
        _ => Ok(None),
    }
}

/// A Python value (the rows of `append_sheet_rows`) as JSON.
fn json_value(v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let raw = to_raw(v)?;
    serde_json::from_str(raw.get())
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// `to` of `send_email`: one address or a sequence of them.
fn recipients(to: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    match to.extract::<String>() {
        Ok(one) => Ok(vec![one]),
        Err(_) => to.extract::<Vec<String>>(),
    }
}

fn tool_params(params: Option<&Bound<'_, PyAny>>) -> PyResult<Raw> {
    match params {
        Some(p) if !p.is_none() => to_raw(p),
        _ => RawValue::from_string("{}".to_owned())
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string())),
    }
}

/// The asyncio client: the same operations as coroutines' awaitables, sharing a
/// `Client`'s configuration and token.
#[pyclass(frozen, subclass, module = "cronium._native", name = "AsyncClient")]
pub(crate) struct AsyncClient {
    client: CoreClient,
}

impl AsyncClient {
    fn spawn_tool_call<'py>(
        &self,
        py: Python<'py>,
        call: ToolCall,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            let r = c
                .execute_tool_call::<Raw>(&call, idempotency_key.as_deref())
                .await;
            Out::from(r, Out::Json)
        })
    }
}

#[pymethods]
impl AsyncClient {
    #[new]
    fn new(client: &Bound<'_, Client>) -> Self {
        AsyncClient {
            client: client.get().core().clone(),
        }
    }

    /// Where the client connects: `unix:/path` or `http://host:port`.
    #[getter]
    fn endpoint(&self) -> String {
        self.client.endpoint().to_string()
    }

    fn __repr__(&self) -> String {
        format!("<cronium async client {}>", self.client.endpoint())
    }

    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(
            py,
            async move { Out::from(c.health().await, |()| Out::Nothing) },
        )
    }

    fn input<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(
            py,
            async move { Out::from(c.input::<Raw>().await, Out::Json) },
        )
    }

    fn output<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let raw = to_raw(data)?;
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.output(&*raw).await, |()| Out::Nothing)
        })
    }

    fn get_output<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.get_output::<Raw>().await, Out::Json)
        })
    }

    #[pyo3(signature = (key, default=None))]
    fn get_variable<'py>(
        &self,
        py: Python<'py>,
        key: String,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.get_variable::<Raw>(&key).await, |v| {
                Out::OrDefault(v.map(|v| v.value), default)
            })
        })
    }

    fn get_variable_info<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.get_variable::<Raw>(&key).await, Out::Info)
        })
    }

    #[pyo3(signature = (key, value, *, if_version=None))]
    fn set_variable<'py>(
        &self,
        py: Python<'py>,
        key: String,
        value: &Bound<'py, PyAny>,
        if_version: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let raw = to_raw(value)?;
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.set_variable(&key, &*raw, if_version).await, |m| {
                Out::Int(m.version)
            })
        })
    }

    #[pyo3(signature = (key, *, if_version=None))]
    fn delete_variable<'py>(
        &self,
        py: Python<'py>,
        key: String,
        if_version: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.delete_variable(&key, if_version).await, Out::Bool)
        })
    }

    fn list_variables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(
            py,
            async move { Out::from(c.list_variables().await, Out::Keys) },
        )
    }

    fn set_condition<'py>(
        &self,
        py: Python<'py>,
        condition: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let condition = condition_of(condition)?;
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.set_condition(condition).await, |()| Out::Nothing)
        })
    }

    fn get_condition<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.get_condition().await, Out::OptBool)
        })
    }

    fn context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(
            py,
            async move { Out::from(c.context::<Raw>().await, Out::Json) },
        )
    }

    fn refresh_token<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.refresh_token().await, |()| Out::Nothing)
        })
    }

    #[pyo3(signature = (tool, action, params=None, *, idempotency_key=None))]
    fn execute_tool_action<'py>(
        &self,
        py: Python<'py>,
        tool: String,
        action: String,
        params: Option<&Bound<'py, PyAny>>,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = tool_params(params)?;
        let c = self.client.clone();
        spawn(py, async move {
            let r = c
                .execute_tool_action::<Raw, _>(&tool, &action, &*params, idempotency_key.as_deref())
                .await;
            Out::from(r, Out::Json)
        })
    }

    /// See `Client.send_slack_message`.
    #[pyo3(signature = (text, *, channel=None, idempotency_key=None, **fields))]
    fn send_slack_message<'py>(
        &self,
        py: Python<'py>,
        text: String,
        channel: Option<String>,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = ToolCall::slack_message(&text, channel.as_deref(), tool_fields(py, fields)?);
        self.spawn_tool_call(py, call, idempotency_key)
    }

    /// See `Client.send_discord_message`.
    #[pyo3(signature = (content, *, idempotency_key=None, **fields))]
    fn send_discord_message<'py>(
        &self,
        py: Python<'py>,
        content: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = ToolCall::discord_message(&content, tool_fields(py, fields)?);
        self.spawn_tool_call(py, call, idempotency_key)
    }

    /// See `Client.send_teams_message`.
    #[pyo3(signature = (message, *, idempotency_key=None, **fields))]
    fn send_teams_message<'py>(
        &self,
        py: Python<'py>,
        message: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = ToolCall::teams_message(&message, tool_fields(py, fields)?);
        self.spawn_tool_call(py, call, idempotency_key)
    }

    /// See `Client.create_trello_card`.
    #[pyo3(signature = (list_id, name, *, idempotency_key=None, **fields))]
    fn create_trello_card<'py>(
        &self,
        py: Python<'py>,
        list_id: String,
        name: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = ToolCall::trello_card(&list_id, &name, tool_fields(py, fields)?);
        self.spawn_tool_call(py, call, idempotency_key)
    }

    /// See `Client.append_sheet_rows`.
    #[pyo3(signature = (range, rows, *, idempotency_key=None, **fields))]
    fn append_sheet_rows<'py>(
        &self,
        py: Python<'py>,
        range: String,
        rows: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = ToolCall::sheet_rows(&range, json_value(rows)?, tool_fields(py, fields)?);
        self.spawn_tool_call(py, call, idempotency_key)
    }

    /// See `Client.list_tools`.
    fn list_tools<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.list_tools::<Raw>().await, Out::Json)
        })
    }

    /// See `Client.send_email`.
    #[pyo3(signature = (to, subject, body, *, idempotency_key=None, **fields))]
    fn send_email<'py>(
        &self,
        py: Python<'py>,
        to: &Bound<'py, PyAny>,
        subject: String,
        body: String,
        idempotency_key: Option<String>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = ToolCall::email(&recipients(to)?, &subject, &body, tool_fields(py, fields)?);
        self.spawn_tool_call(py, call, idempotency_key)
    }

    /// Opens a watch of `key`; resolves once it is open (changes after that are reported).
    fn watch_variable<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        spawn(py, async move {
            Out::from(c.watch_variable::<Raw>(&key).await, |stream| {
                Out::Watch(Watch::new(key, stream))
            })
        })
    }

    /// The input stream; opened on first iteration.
    fn stream_input(&self) -> InputStream {
        InputStream::new(self.client.clone())
    }

    /// A new output stream writer; the request starts with the first record.
    fn stream_output(&self) -> OutputStream {
        OutputStream::new(self.client.clone())
    }
}

/// A condition argument: a `bool` only (not `1`, not `"yes"`), refused like every binding
/// refuses it: code `invalid_body`, the API's answer to `{"condition": "yes"}`
/// (docs/bindings.md). The old-style `setCondition` takes any value's truthiness instead.
fn condition_of(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    match value.cast::<pyo3::types::PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => Err(type_error(
            value.py(),
            cronium_client::ErrorCode::InvalidBody,
            format!(
                "the condition must be a bool, got {}",
                value
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |n| n.to_string())
            ),
        )),
    }
}
