//! The native half of the `cronium` Node package: a thin napi-rs layer over
//! [`cronium_client`].
//!
//! Nothing here is public API: `index.js` wraps these functions into the documented class
//! (`index.d.ts`). Every behaviour (transport, auth, token refresh, retries, streams,
//! watches) is client-core's; this crate converts arguments, answers and errors only.
//!
//! - [`create_client`] makes the client, which JS holds as an opaque `External` (freed when
//!   JS collects it); every call is a function taking it first.
//! - Async calls take a call id from `index.js` and return at once; their result comes
//!   back through [`exec::Completer`]. Small calls run on the JS thread's own event
//!   loop ([`uv`]); streams and watches on the addon's I/O thread.
//! - `*Sync` calls use client-core's `BlockingClient` (its own current-thread runtime)
//!   and block the JS thread: they exist for scripts written for the old synchronous
//!   helpers.
//! - Values cross as JSON text (see [`convert`]).

// napi's generated glue and its module constructor are `unsafe` FFI; this crate writes none
// by hand.
#![allow(unsafe_code)]

mod convert;
mod exec;
mod stream;
mod uv;

use std::sync::Arc;

use cronium_client::{BlockingClient, Client, Config, ToolCall};
use napi::bindgen_prelude::External;
use napi::Env;
use napi_derive::napi;
use serde_json::value::RawValue;

use crate::convert::{encode, raw, text, version, IntoNapi};
pub use crate::convert::{error_codes, ErrorCodeInfo};
use crate::exec::{Completer, Dispatcher};
pub use crate::stream::{InputReader, OutputStreamWriter, VariableWatch, WRITE_BATCH_BYTES};

type Raw = Box<RawValue>;

/// Explicit configuration; what is not given comes from the environment (an endpoint, `socket`
/// or `url`, replaces both endpoint variables).
#[napi(object)]
#[derive(Debug, Default)]
pub struct ClientOptions {
    /// Unix socket of the sidecar (`CRONIUM_RUNTIME_SOCKET`).
    pub socket: Option<String>,
    /// `http://host:port` (`CRONIUM_RUNTIME_API`), used when the socket does not exist.
    pub url: Option<String>,
    /// The execution token (`CRONIUM_EXECUTION_TOKEN`).
    pub token: Option<String>,
    /// The execution id (`CRONIUM_EXECUTION_ID`).
    pub execution_id: Option<String>,
    /// Per-call timeout in milliseconds, retries included.
    pub timeout: Option<f64>,
    /// Retries of idempotent calls after the first attempt.
    pub max_retries: Option<u32>,
}

/// Builds the client-core configuration: the options first, then the environment, by
/// client-core's one rule ([`cronium_client::ConfigBuilder::build_with_env`]).
fn config(options: ClientOptions) -> cronium_client::Result<Config> {
    let mut builder = Config::builder();
    if let Some(socket) = options.socket {
        builder = builder.socket(socket);
    }
    if let Some(url) = options.url {
        builder = builder.url(url);
    }
    if let Some(token) = options.token {
        builder = builder.token(token);
    }
    if let Some(id) = options.execution_id {
        builder = builder.execution_id(id);
    }
    if let Some(ms) = options.timeout {
        builder = builder.timeout_secs(ms / 1000.0);
    }
    if let Some(n) = options.max_retries {
        builder = builder.max_retries(n);
    }
    builder.build_with_env()
}

/// The extra fields of a tool convenience call, from JSON text.
fn tool_fields(
    fields: Option<String>,
) -> napi::Result<Option<serde_json::Map<String, serde_json::Value>>> {
    match fields {
        Some(text) => ToolCall::fields_from_json(&text).napi(),
        None => Ok(None),
    }
}

/// A client of one execution: async calls run on the JS thread's event loop (streams and
/// watches on the I/O thread) and report through the dispatcher; `*Sync` calls block the
/// JS thread. One token and one set of connections for all of them.
///
/// JS holds it as an opaque `External` made by [`create_client`], and every call is a
/// function taking it first, not a method of a `#[napi]` class: napi-rs registers
/// each call's `&self` receiver as a native borrow (a process-wide mutex and hash map, and
/// two vectors of the call's borrow scope), which was 1,850 of the 12,430 instructions of
/// the addon's callback for a cached `getVariableSync`. An `External` argument is only
/// type-checked.
#[derive(Debug)]
pub struct NativeClient {
    blocking: BlockingClient,
    /// The async handle: streams and watches, on the Tokio thread.
    client: Client,
    /// The handle of the other async calls: on the JS thread's own loop when it could
    /// be set up ([`uv`](crate::uv)), else the async handle.
    calls: Client,
    completer: Completer,
}

/// Configures from `options`, then the environment (throws `not_configured` when there
/// is no runtime or token to use). `dispatcher(id, ok, value)` receives the outcome of
/// every async call: its value, or the error text when `ok` is false.
#[napi]
pub fn create_client(
    env: Env,
    options: Option<ClientOptions>,
    dispatcher: Dispatcher<'_>,
) -> napi::Result<External<NativeClient>> {
    let config = config(options.unwrap_or_default()).napi()?;
    let blocking = BlockingClient::new(config).napi()?;
    let client = blocking.client().clone();
    let completer = Completer::new(&env, &dispatcher, uv::Loop::get(&env))?;
    let calls = match completer.on_loop() {
        Some(lp) => client.with_reactor(Arc::new(uv::UvReactor(lp))),
        None => client.clone(),
    };
    Ok(External::new(NativeClient {
        blocking,
        client,
        calls,
        completer,
    }))
}

/// Where the client connects (`unix:/path` or `http://host:port`).
#[napi]
pub fn endpoint(handle: &External<NativeClient>) -> String {
    handle.client.endpoint().to_string()
}

/// The execution id from the configuration, when given.
#[napi]
pub fn execution_id(handle: &External<NativeClient>) -> Option<String> {
    handle.client.execution_id().map(str::to_owned)
}

/// Connections opened so far (diagnostics and tests).
#[napi]
pub fn connections_opened(handle: &External<NativeClient>) -> f64 {
    // A count of connections fits a JS number exactly.
    #[allow(clippy::cast_precision_loss)]
    let n = handle.client.connections_opened() as f64;
    n
}

// ----- async: each reports through the dispatcher under `id` -----------------------

/// `GET /health`.
#[napi]
pub fn health(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.health().await })
}

/// The input as JSON text.
#[napi]
pub fn input(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.input::<Raw>().await.map(text) })
}

/// Sets the output from JSON text.
#[napi]
pub fn output(handle: &External<NativeClient>, id: u32, json: String) -> napi::Result<()> {
    let v = raw(json)?;
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.output(&v).await })
}

/// The output so far as JSON text.
#[napi]
pub fn get_output(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.get_output::<Raw>().await.map(text) })
}

/// A variable's value as JSON text, `null` when it does not exist.
#[napi]
pub fn get_variable(handle: &External<NativeClient>, id: u32, key: String) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle.completer.spawn_call(id, async move {
        let v = c.get_variable::<Raw>(&key).await?;
        Ok(v.map(|v| text(v.value)))
    })
}

/// A variable with its version as JSON text (`{"key","value","version","updatedAt"}`),
/// `null` when it does not exist.
#[napi]
pub fn get_variable_entry(
    handle: &External<NativeClient>,
    id: u32,
    key: String,
) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle.completer.spawn_call(id, async move {
        let v = c.get_variable::<Raw>(&key).await?;
        v.map(|v| encode(&v)).transpose()
    })
}

/// Stores a variable; answers `{"key","version","updatedAt"}` as JSON text.
#[napi]
pub fn set_variable(
    handle: &External<NativeClient>,
    id: u32,
    key: String,
    json: String,
    if_version: Option<f64>,
) -> napi::Result<()> {
    let v = raw(json)?;
    let if_version = version(if_version)?;
    let c = handle.calls.clone();
    handle.completer.spawn_call(id, async move {
        let meta = c.set_variable(&key, &v, if_version).await?;
        encode(&meta)
    })
}

/// Deletes a variable; whether it existed.
#[napi]
pub fn delete_variable(
    handle: &External<NativeClient>,
    id: u32,
    key: String,
    if_version: Option<f64>,
) -> napi::Result<()> {
    let if_version = version(if_version)?;
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.delete_variable(&key, if_version).await })
}

/// The keys of the user's variables.
#[napi]
pub fn list_variables(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.list_variables().await })
}

/// Sets the workflow condition.
#[napi]
pub fn set_condition(
    handle: &External<NativeClient>,
    id: u32,
    condition: bool,
) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.set_condition(condition).await })
}

/// The condition, `null` when none was set.
#[napi]
pub fn get_condition(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.get_condition().await })
}

/// The event context as JSON text.
#[napi]
pub fn context(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.context::<Raw>().await.map(text) })
}

/// Asks for a fresh token now.
#[napi]
pub fn refresh_token(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.refresh_token().await })
}

/// Runs a tool action; `params` and the answer are JSON text.
#[napi]
pub fn execute_tool_action(
    handle: &External<NativeClient>,
    id: u32,
    tool: String,
    action: String,
    params: String,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let params = raw(params)?;
    let c = handle.calls.clone();
    handle.completer.spawn_call(id, async move {
        c.execute_tool_action::<Raw, _>(&tool, &action, &params, idempotency_key.as_deref())
            .await
            .map(text)
    })
}

/// Posts `text` to the user's Slack webhook; `fields` (JSON text of an object, or
/// none) adds fields of the payload (`channel`, `blocks`, ...).
#[napi]
pub fn send_slack_message(
    handle: &External<NativeClient>,
    id: u32,
    text: String,
    fields: Option<String>,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let fields = tool_fields(fields)?;
    spawn_tool_call(
        handle,
        id,
        ToolCall::slack_message(&text, None, fields),
        idempotency_key,
    )
}

/// Posts `content` to the user's Discord webhook; `fields` as for Slack.
#[napi]
pub fn send_discord_message(
    handle: &External<NativeClient>,
    id: u32,
    content: String,
    fields: Option<String>,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let fields = tool_fields(fields)?;
    spawn_tool_call(
        handle,
        id,
        ToolCall::discord_message(&content, fields),
        idempotency_key,
    )
}

/// Posts `message` to the user's Teams webhook; `fields` as for Slack (`title`, ...).
#[napi]
pub fn send_teams_message(
    handle: &External<NativeClient>,
    id: u32,
    message: String,
    fields: Option<String>,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let fields = tool_fields(fields)?;
    spawn_tool_call(
        handle,
        id,
        ToolCall::teams_message(&message, fields),
        idempotency_key,
    )
}

/// Creates a Trello card `name` in list `list_id`; `fields` as for Slack (`desc`, ...).
#[napi]
pub fn create_trello_card(
    handle: &External<NativeClient>,
    id: u32,
    list_id: String,
    name: String,
    fields: Option<String>,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let fields = tool_fields(fields)?;
    spawn_tool_call(
        handle,
        id,
        ToolCall::trello_card(&list_id, &name, fields),
        idempotency_key,
    )
}

/// Appends `rows` (JSON text of an array of arrays) after the table in `range` of a
/// Google Sheet; `fields` as for Slack (`spreadsheetId`, ...).
#[napi]
pub fn append_sheet_rows(
    handle: &External<NativeClient>,
    id: u32,
    range: String,
    rows: String,
    fields: Option<String>,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let fields = tool_fields(fields)?;
    let rows: serde_json::Value = serde_json::from_str(&rows)
        .map_err(|e| napi::Error::from_reason(format!("the rows are not JSON: {e}")))?;
    spawn_tool_call(
        handle,
        id,
        ToolCall::sheet_rows(&range, rows, fields),
        idempotency_key,
    )
}

/// The tools the user has credentials for, as JSON text.
#[napi]
pub fn list_tools(handle: &External<NativeClient>, id: u32) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle
        .completer
        .spawn_call(id, async move { c.list_tools::<Raw>().await.map(text) })
}

/// [`list_tools`], blocking.
#[napi]
pub fn list_tools_sync(handle: &External<NativeClient>) -> napi::Result<String> {
    handle.blocking.list_tools::<Raw>().map(text).napi()
}

/// Sends an email to every address of `to`; `fields` as for Slack (`cc`, `html`, ...).
#[napi]
pub fn send_email(
    handle: &External<NativeClient>,
    id: u32,
    to: Vec<String>,
    subject: String,
    body: String,
    fields: Option<String>,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let fields = tool_fields(fields)?;
    spawn_tool_call(
        handle,
        id,
        ToolCall::email(&to, &subject, &body, fields),
        idempotency_key,
    )
}

/// The input stream (opened by its first `nextBatch`).
#[napi]
pub fn stream_input(handle: &External<NativeClient>) -> InputReader {
    InputReader::new(handle.client.clone(), handle.completer.clone())
}

/// The output stream (opened by `open`).
#[napi]
pub fn stream_output(handle: &External<NativeClient>) -> OutputStreamWriter {
    OutputStreamWriter::new(handle.client.clone(), handle.completer.clone())
}

/// A watch of one variable (opened by its first `next`).
#[napi]
pub fn watch_variable(handle: &External<NativeClient>, key: String) -> VariableWatch {
    VariableWatch::new(handle.client.clone(), handle.completer.clone(), key)
}

// ----- sync ----------------------------------------------------------------------

/// [`input`], blocking.
#[napi]
pub fn input_sync(handle: &External<NativeClient>) -> napi::Result<String> {
    handle.blocking.input::<Raw>().map(text).napi()
}

/// [`output`], blocking.
#[napi]
pub fn output_sync(handle: &External<NativeClient>, json: String) -> napi::Result<()> {
    let v = raw(json)?;
    handle.blocking.output(&v).napi()
}

/// [`get_output`], blocking.
#[napi]
pub fn get_output_sync(handle: &External<NativeClient>) -> napi::Result<String> {
    handle.blocking.get_output::<Raw>().map(text).napi()
}

/// [`get_variable`], blocking.
#[napi]
pub fn get_variable_sync(
    handle: &External<NativeClient>,
    key: String,
) -> napi::Result<Option<String>> {
    let v = handle.blocking.get_variable::<Raw>(&key).napi()?;
    Ok(v.map(|v| text(v.value)))
}

/// [`get_variable_entry`], blocking.
#[napi]
pub fn get_variable_entry_sync(
    handle: &External<NativeClient>,
    key: String,
) -> napi::Result<Option<String>> {
    let v = handle.blocking.get_variable::<Raw>(&key).napi()?;
    v.map(|v| encode(&v)).transpose().napi()
}

/// [`set_variable`], blocking.
#[napi]
pub fn set_variable_sync(
    handle: &External<NativeClient>,
    key: String,
    json: String,
    if_version: Option<f64>,
) -> napi::Result<String> {
    let v = raw(json)?;
    let if_version = version(if_version)?;
    let meta = handle.blocking.set_variable(&key, &v, if_version).napi()?;
    encode(&meta).napi()
}

/// [`delete_variable`], blocking.
#[napi]
pub fn delete_variable_sync(
    handle: &External<NativeClient>,
    key: String,
    if_version: Option<f64>,
) -> napi::Result<bool> {
    let if_version = version(if_version)?;
    handle.blocking.delete_variable(&key, if_version).napi()
}

/// [`list_variables`], blocking.
#[napi]
pub fn list_variables_sync(handle: &External<NativeClient>) -> napi::Result<Vec<String>> {
    handle.blocking.list_variables().napi()
}

/// [`set_condition`], blocking.
#[napi]
pub fn set_condition_sync(handle: &External<NativeClient>, condition: bool) -> napi::Result<()> {
    handle.blocking.set_condition(condition).napi()
}

/// [`get_condition`], blocking.
#[napi]
pub fn get_condition_sync(handle: &External<NativeClient>) -> napi::Result<Option<bool>> {
    handle.blocking.get_condition().napi()
}

/// [`context`], blocking.
#[napi]
pub fn context_sync(handle: &External<NativeClient>) -> napi::Result<String> {
    handle.blocking.context::<Raw>().map(text).napi()
}

/// [`execute_tool_action`], blocking.
#[napi]
pub fn execute_tool_action_sync(
    handle: &External<NativeClient>,
    tool: String,
    action: String,
    params: String,
    idempotency_key: Option<String>,
) -> napi::Result<String> {
    let params = raw(params)?;
    handle
        .blocking
        .execute_tool_action::<Raw, _>(&tool, &action, &params, idempotency_key.as_deref())
        .map(text)
        .napi()
}

/// Runs one of client-core's tool convenience calls as an async call `id`.
fn spawn_tool_call(
    handle: &NativeClient,
    id: u32,
    call: ToolCall,
    idempotency_key: Option<String>,
) -> napi::Result<()> {
    let c = handle.calls.clone();
    handle.completer.spawn_call(id, async move {
        c.execute_tool_call::<Raw>(&call, idempotency_key.as_deref())
            .await
            .map(text)
    })
}
