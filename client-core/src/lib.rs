//! The Rust client of the Cronium runtime API, the one every language binding wraps.
//!
//! A script talks to its sidecar over HTTP/1.1 on a Unix socket (or TCP on SSH hosts)
//! with the execution's bearer token. Everything a binding needs beyond converting
//! values and errors lives here: choosing the transport from the environment, the auth
//! header, refreshing the token before it expires, retrying what is safe to retry,
//! typed errors, NDJSON streams and variable watches. Bindings stay thin so Python,
//! Node, C and Rust behave the same.
//!
//! # Environment
//!
//! | variable | meaning |
//! |---|---|
//! | `CRONIUM_RUNTIME_SOCKET` | the sidecar's Unix socket, default `/run/cronium/runtime.sock`; used when it exists |
//! | `CRONIUM_RUNTIME_API` | `http://host:port` or `https://host:port`, used when the socket does not exist |
//! | `CRONIUM_RUNTIME_CA` | for `https://`: the PEM file of the CA that signed the sidecar's certificate |
//! | `CRONIUM_RUNTIME_CA_PIN` | for `https://`: `sha256//BASE64` of the sidecar's public key (curl's `--pinnedpubkey`) |
//! | `CRONIUM_RUNTIME_CLIENT_CERT`, `CRONIUM_RUNTIME_CLIENT_KEY` | for `https://` to a sidecar that requires client certificates: PEM files |
//! | `CRONIUM_EXECUTION_TOKEN` | the bearer token (never printed by `Debug` or errors) |
//! | `CRONIUM_EXECUTION_TOKEN_FILE` | optional: a private file holding the current token, kept fresh by `cronium run`; read when the token is due for refreshing (and for the first token when `CRONIUM_EXECUTION_TOKEN` is unset) |
//! | `CRONIUM_EXECUTION_ID` | the execution id (informational) |
//!
//! # Values
//!
//! Operations are generic over serde: ask for `serde_json::Value`, your own types, or
//! `Box<serde_json::value::RawValue>` to keep the JSON text exactly as stored (big
//! integers, key order) — what the bindings do.
//!
//! # Example
//!
//! ```no_run
//! use cronium_client::{Client, Result};
//! use serde_json::Value;
//!
//! # async fn run() -> Result<()> {
//! let cronium = Client::from_env()?;
//! let order: Value = cronium.input().await?;
//! let seen = cronium
//!     .get_variable::<u64>("orders_seen")
//!     .await?
//!     .map_or(0, |v| v.value);
//! cronium.set_variable("orders_seen", &(seen + 1), None).await?;
//! cronium
//!     .set_condition(order["total"].as_f64().unwrap_or(0.0) > 100.0)
//!     .await?;
//! cronium
//!     .output(&serde_json::json!({ "id": order["id"], "ok": true }))
//!     .await?;
//!
//! // Streams: records in, records out.
//! let mut records = cronium.stream_input::<Value>().await?;
//! let mut out = cronium.stream_output().await?;
//! while let Some(record) = records.next().await {
//!     out.write(&record?).await?;
//! }
//! let summary = out.close().await?;
//! println!("wrote {} records", summary.records);
//! # Ok(())
//! # }
//! ```
//!
//! Synchronous code uses [`BlockingClient`], which has the same methods.
//!
//! # Retries and timeouts
//!
//! Idempotent calls (GET, PUT, DELETE, and tool actions, which carry an
//! `Idempotency-Key`) are retried on connection failures and 503 with jittered
//! exponential backoff; 429 waits out `Retry-After` up to a cap; other 4xx are never
//! retried. The output stream and token refresh are only re-sent when the request
//! provably never reached the server. Each call, retries included, is bounded by the
//! configured timeout (30 s by default); streams and watches only for their opening.

#![forbid(unsafe_code)]

mod blocking;
mod client;
mod config;
mod diagnose;
mod direct;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod reactor;
mod stream;
mod tls;
mod token;
mod tools;
mod transport;
mod wire;

pub use blocking::{BlockingClient, BlockingOutputWriter, RecordIter, WatchIter};
pub use client::{validate_key, Client, Variable, VariableMeta};
pub use config::{
    Config, ConfigBuilder, Endpoint, DEFAULT_SOCKET, ENV_API, ENV_EXECUTION_ID, ENV_SOCKET,
    ENV_TOKEN, ENV_TOKEN_FILE,
};
pub use diagnose::Diagnosis;
pub use error::{Error, ErrorCode, ErrorKind, Result};
pub use reactor::{RawSocket, Reactor, WaitFuture};
pub use stream::{
    buffering, OutputWriter, RecordStream, StreamSummary, VariableChange, WatchStream,
};
pub use tls::{public_key_pin, ENV_CA, ENV_CA_PIN, ENV_CLIENT_CERT, ENV_CLIENT_KEY};
pub use tools::ToolCall;
