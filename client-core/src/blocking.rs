//! The blocking client, for synchronous bindings (Python's sync API, the C library).
//!
//! It owns a current-thread Tokio runtime and runs the async [`Client`] on it with
//! `block_on`, so there is exactly one implementation of every behaviour. Its methods
//! must not be called from inside a Tokio runtime (a thread already driving async
//! code): they return an error with code `runtime_context` instead of blocking that
//! runtime or panicking. Use the async client there.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::runtime::{Handle, Runtime};

use crate::client::{Client, Variable, VariableMeta};
use crate::config::{Config, Endpoint};
use crate::error::{Error, Result};
use crate::stream::{OutputWriter, RecordStream, StreamSummary, VariableChange, WatchStream};

/// The runtime, shut down without blocking if it is dropped on a runtime thread (where a
/// blocking shutdown would panic).
///
/// A forked child shares the parent's epoll instance: tearing the runtime down there
/// would deregister the parent's sockets from it and hang the parent's next call. So in a
/// child the runtime (and the connections it drives) is leaked, never dropped or driven.
struct OwnedRuntime {
    rt: Option<Runtime>,
    /// The process that made it: another one is a forked child.
    pid: u32,
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            if std::process::id() != self.pid {
                std::mem::forget(rt);
            } else if Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                drop(rt);
            }
        }
    }
}

/// Runs futures to completion on the owned runtime, refusing from inside a runtime.
#[derive(Clone)]
struct Driver(Arc<OwnedRuntime>);

impl Driver {
    fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        if Handle::try_current().is_ok() {
            return Err(Error::runtime_context(
                "the blocking Cronium client was called from inside a Tokio runtime, where \
                 blocking would stall it; use the async client there",
            ));
        }
        if std::process::id() != self.0.pid {
            return Err(Error::runtime_context(
                "this Cronium client was made before fork(); the child process must make \
                 its own client",
            ));
        }
        match self.0.rt.as_ref() {
            Some(rt) => Ok(rt.block_on(fut)),
            None => Err(Error::runtime_context("the client's runtime is shut down")),
        }
    }

    fn run<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_on(fut)?
    }
}

/// A synchronous client: the same operations as [`Client`], blocking the calling thread.
///
/// `Send + Sync`: several threads may call it at once (each gets its own connection
/// while they overlap). Do not call it from inside a Tokio runtime; see the module docs.
pub struct BlockingClient {
    client: Client,
    driver: Driver,
}

impl fmt::Debug for BlockingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingClient")
            .field("client", &self.client)
            .finish()
    }
}

impl BlockingClient {
    /// A blocking client for this configuration, with its own current-thread runtime.
    pub fn new(config: Config) -> Result<BlockingClient> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::runtime_context(format!("cannot start the client's Tokio runtime: {e}"))
            })?;
        Ok(BlockingClient {
            client: Client::new(config),
            driver: Driver(Arc::new(OwnedRuntime {
                rt: Some(rt),
                pid: std::process::id(),
            })),
        })
    }

    /// A blocking client configured from the script's environment.
    pub fn from_env() -> Result<BlockingClient> {
        BlockingClient::new(Config::from_env()?)
    }

    /// The async client inside, sharing the token. Its connections opened here are only
    /// reused by this blocking client; used on another runtime it opens its own.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where this client connects.
    pub fn endpoint(&self) -> &Endpoint {
        self.client.endpoint()
    }

    /// See [`Client::execution_id`].
    pub fn execution_id(&self) -> Option<&str> {
        self.client.execution_id()
    }

    /// See [`Client::token_expires_at`].
    pub fn token_expires_at(&self) -> Option<u64> {
        self.client.token_expires_at()
    }

    /// See [`Client::connections_opened`].
    pub fn connections_opened(&self) -> u64 {
        self.client.connections_opened()
    }

    /// See [`Client::health`].
    pub fn health(&self) -> Result<()> {
        self.driver.run(self.client.health())
    }

    /// See [`Client::input`].
    pub fn input<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run(self.client.input())
    }

    /// See [`Client::output`].
    pub fn output<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.driver.run(self.client.output(value))
    }

    /// See [`Client::get_output`].
    pub fn get_output<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run(self.client.get_output())
    }

    /// See [`Client::get_variable`].
    pub fn get_variable<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Variable<T>>> {
        self.driver.run(self.client.get_variable(key))
    }

    /// See [`Client::set_variable`].
    pub fn set_variable<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        if_version: Option<u64>,
    ) -> Result<VariableMeta> {
        self.driver
            .run(self.client.set_variable(key, value, if_version))
    }

    /// See [`Client::delete_variable`].
    pub fn delete_variable(&self, key: &str, if_version: Option<u64>) -> Result<bool> {
        self.driver
            .run(self.client.delete_variable(key, if_version))
    }

    /// See [`Client::list_variables`].
    pub fn list_variables(&self) -> Result<Vec<String>> {
        self.driver.run(self.client.list_variables())
    }

    /// See [`Client::set_condition`].
    pub fn set_condition(&self, condition: bool) -> Result<()> {
        self.driver.run(self.client.set_condition(condition))
    }

    /// See [`Client::get_condition`].
    pub fn get_condition(&self) -> Result<Option<bool>> {
        self.driver.run(self.client.get_condition())
    }

    /// See [`Client::context`].
    pub fn context<T: DeserializeOwned>(&self) -> Result<T> {
        self.driver.run(self.client.context())
    }

    /// See [`Client::refresh_token`].
    pub fn refresh_token(&self) -> Result<()> {
        self.driver.run(self.client.refresh_token())
    }

    /// See [`Client::execute_tool_action`].
    pub fn execute_tool_action<T, P>(
        &self,
        tool: &str,
        action: &str,
        params: &P,
        idempotency_key: Option<&str>,
    ) -> Result<T>
    where
        T: DeserializeOwned,
        P: Serialize + ?Sized,
    {
        self.driver.run(
            self.client
                .execute_tool_action(tool, action, params, idempotency_key),
        )
    }

    /// See [`Client::stream_input`]; iterate the result.
    pub fn stream_input<T: DeserializeOwned>(&self) -> Result<RecordIter<T>> {
        let inner = self.driver.run(self.client.stream_input())?;
        Ok(RecordIter {
            driver: self.driver.clone(),
            inner,
            done: false,
        })
    }

    /// See [`Client::stream_output`].
    pub fn stream_output(&self) -> Result<BlockingOutputWriter> {
        let inner = self.driver.run(self.client.stream_output())?;
        Ok(BlockingOutputWriter {
            driver: self.driver.clone(),
            inner,
        })
    }

    /// See [`Client::watch_variable`]; iterate the result (each `next` blocks until the
    /// next change).
    pub fn watch_variable<T>(&self, key: &str) -> Result<WatchIter<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let inner = self.driver.run(self.client.watch_variable(key))?;
        Ok(WatchIter {
            driver: self.driver.clone(),
            inner,
            done: false,
        })
    }
}

/// Blocking iterator over input records; see [`RecordStream`].
pub struct RecordIter<T> {
    driver: Driver,
    inner: RecordStream<T>,
    done: bool,
}

impl<T> fmt::Debug for RecordIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordIter")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Iterator for RecordIter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let item = match self.driver.block_on(self.inner.next()) {
            Ok(item) => item,
            // Misuse (inside a runtime): report once, then end, so a `for` loop stops.
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        };
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

/// Blocking iterator over a variable's changes; see [`WatchStream`].
pub struct WatchIter<T> {
    driver: Driver,
    inner: WatchStream<T>,
    done: bool,
}

impl<T> fmt::Debug for WatchIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchIter").finish_non_exhaustive()
    }
}

impl<T> Iterator for WatchIter<T> {
    type Item = Result<VariableChange<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.driver.block_on(self.inner.next()) {
            Ok(item) => item,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        };
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

/// Blocking writer of the output stream; see [`OutputWriter`]. Dropping it without
/// [`close`](Self::close) aborts the stream.
pub struct BlockingOutputWriter {
    driver: Driver,
    inner: OutputWriter,
}

impl fmt::Debug for BlockingOutputWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingOutputWriter")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl BlockingOutputWriter {
    /// Sends one record; blocks while the stream is backed up.
    pub fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        self.driver.run(self.inner.write(record))
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.inner.records_written()
    }

    /// Ends the stream and returns the server's count.
    pub fn close(self) -> Result<StreamSummary> {
        let BlockingOutputWriter { driver, inner } = self;
        driver.run(inner.close())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> BlockingClient {
        let dir = std::env::temp_dir().join("cronium-client-test-absent.sock");
        BlockingClient::new(
            Config::builder()
                .socket(dir)
                .token("t")
                .max_retries(0)
                .build()
                .expect("config"),
        )
        .expect("client")
    }

    #[test]
    fn blocking_calls_work_outside_a_runtime() {
        let c = client();
        let err = c.list_variables().expect_err("no server");
        assert_eq!(err.code(), "connection_failed");
        let err = c.get_variable::<i64>("bad key").expect_err("bad key");
        assert_eq!(err.code(), "invalid_key");
    }

    #[test]
    fn blocking_calls_inside_a_runtime_are_an_error() {
        let c = client();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let err = rt
            .block_on(async { c.list_variables() })
            .expect_err("inside runtime");
        assert_eq!(err.code(), "runtime_context");
        // Dropping the client on a runtime thread must not panic either.
        rt.block_on(async move { drop(c) });
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn blocking_client_is_shareable() {
        assert_send_sync::<BlockingClient>();
    }
}
