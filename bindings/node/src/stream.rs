//! Streams for JS: the input stream read in batches, the output stream written in
//! batches, and a variable watch.
//!
//! Each crossing between JS and the I/O thread costs a Promise and a wake-up of the JS
//! thread, which is far more than parsing one small record. So records cross in batches
//! of NDJSON text: the reader hands over every record that has already arrived (up to a
//! bound), the writer takes many lines at once. `index.js` splits and parses.
//!
//! The objects are created synchronously and open their stream on first use, so every
//! outcome, opening included, reaches JS through the one dispatcher.

use std::sync::Arc;

use cronium_client::{Client, Error, ErrorCode, OutputWriter, RecordStream, WatchStream};
use futures_util::FutureExt;
use napi_derive::napi;
use serde_json::value::RawValue;
use tokio::sync::{watch, Mutex};

use crate::convert::encode;
use crate::exec::{runtime, Completer};

type Raw = Box<RawValue>;

/// Most records in one batch handed to JS (one crossing to the JS thread costs far more
/// than a small record, so batches are large).
const BATCH_RECORDS: usize = 8192;
/// Most bytes of records in one batch (a batch may exceed it by one record).
const BATCH_BYTES: usize = cronium_client::buffering::READ_AHEAD_BYTES;

/// Bytes of output records index.js collects before it hands them to `writeBatch`
/// (client-core's one value for every binding).
#[napi]
pub const WRITE_BATCH_BYTES: u32 = cronium_client::buffering::WRITE_BATCH_BYTES as u32;

fn closed(what: &str) -> Error {
    Error::with_code(
        ErrorCode::StreamClosed,
        format!("the {what} is already closed"),
    )
}

#[derive(Debug, Default)]
struct ReaderState {
    opened: bool,
    closed: bool,
    records: Option<RecordStream<Raw>>,
    /// An error met after some records of a batch: reported by the next call.
    error: Option<Error>,
}

/// The input stream: records as NDJSON batches.
#[napi]
#[derive(Debug)]
pub struct InputReader {
    client: Client,
    completer: Completer,
    state: Arc<Mutex<ReaderState>>,
}

impl InputReader {
    pub(crate) fn new(client: Client, completer: Completer) -> Self {
        InputReader {
            client,
            completer,
            state: Arc::new(Mutex::new(ReaderState::default())),
        }
    }
}

#[napi]
impl InputReader {
    /// Reports the next records, one per line (at least one; waits for it), or `null` at
    /// the end. The first call opens the stream. A record that is not JSON, or a broken
    /// connection, fails the call (after the records before it were reported).
    #[napi]
    pub fn next_batch(&self, id: u32) -> napi::Result<()> {
        let state = Arc::clone(&self.state);
        let client = self.client.clone();
        self.completer.spawn(id, async move {
            let mut state = state.lock().await;
            if state.closed {
                return Ok(None);
            }
            if !state.opened {
                state.opened = true;
                state.records = Some(client.stream_input::<Raw>().await?);
            }
            if let Some(e) = state.error.take() {
                state.records = None;
                return Err(e);
            }
            let Some(records) = state.records.as_mut() else {
                return Ok(None);
            };
            let mut batch = match records.next().await {
                None => {
                    state.records = None;
                    return Ok(None);
                }
                Some(record) => Box::<str>::from(record?).into_string(),
            };
            let mut count = 1;
            let mut pending_error = None;
            // Take whatever else has already arrived, without waiting.
            while count < BATCH_RECORDS && batch.len() < BATCH_BYTES {
                match records.next().now_or_never() {
                    Some(Some(Ok(record))) => {
                        batch.push('\n');
                        batch.push_str(record.get());
                        count += 1;
                    }
                    Some(Some(Err(e))) => {
                        pending_error = Some(e);
                        break;
                    }
                    // The end (reported by the next call), or nothing more yet.
                    Some(None) | None => break,
                }
            }
            state.error = pending_error;
            Ok(Some(batch))
        })
    }

    /// Stops reading and closes the connection.
    #[napi]
    pub fn close(&self) -> napi::Result<()> {
        let state = Arc::clone(&self.state);
        runtime()?.spawn(async move {
            let mut state = state.lock().await;
            state.closed = true;
            state.records = None;
            state.error = None;
        });
        Ok(())
    }
}

/// The output stream: takes NDJSON batches.
#[napi]
#[derive(Debug)]
pub struct OutputStreamWriter {
    client: Client,
    completer: Completer,
    writer: Arc<Mutex<Option<OutputWriter>>>,
}

impl OutputStreamWriter {
    pub(crate) fn new(client: Client, completer: Completer) -> Self {
        OutputStreamWriter {
            client,
            completer,
            writer: Arc::new(Mutex::new(None)),
        }
    }
}

#[napi]
impl OutputStreamWriter {
    /// Opens the stream (`POST /v1/output/stream`).
    #[napi]
    pub fn open(&self, id: u32) -> napi::Result<()> {
        let slot = Arc::clone(&self.writer);
        let client = self.client.clone();
        self.completer.spawn(id, async move {
            let writer = client.stream_output().await?;
            *slot.lock().await = Some(writer);
            Ok(())
        })
    }

    /// Appends records given as JSON lines (made by `JSON.stringify`, so one per line).
    /// Reports once they are in the request body (later while the server is behind).
    #[napi]
    pub fn write_batch(&self, id: u32, lines: String) -> napi::Result<()> {
        let slot = Arc::clone(&self.writer);
        self.completer.spawn(id, async move {
            let mut guard = slot.lock().await;
            let Some(writer) = guard.as_mut() else {
                return Err(closed("output stream"));
            };
            for line in lines.split('\n').filter(|l| !l.is_empty()) {
                let record: &RawValue = serde_json::from_str(line).map_err(|e| {
                    Error::with_code(
                        ErrorCode::InvalidJson,
                        format!("output record is not JSON: {e}"),
                    )
                })?;
                if let Err(e) = writer.write(record).await {
                    // The stream is over: the server refused it or the connection broke.
                    *guard = None;
                    return Err(e);
                }
            }
            Ok(())
        })
    }

    /// Ends the stream; reports the server's count as JSON (`{"records","bytes"}`).
    #[napi]
    pub fn close(&self, id: u32) -> napi::Result<()> {
        let slot = Arc::clone(&self.writer);
        self.completer.spawn(id, async move {
            let writer = slot.lock().await.take();
            let writer = writer.ok_or_else(|| closed("output stream"))?;
            let summary = writer.close().await?;
            encode(&summary)
        })
    }

    /// Abandons the stream: the request is aborted, so the server does not take what was
    /// sent for a complete stream.
    #[napi]
    pub fn abort(&self) -> napi::Result<()> {
        let slot = Arc::clone(&self.writer);
        runtime()?.spawn(async move {
            slot.lock().await.take();
        });
        Ok(())
    }
}

#[derive(Debug, Default)]
struct WatchState {
    opened: bool,
    changes: Option<WatchStream<Raw>>,
}

/// Changes of one variable.
#[napi]
#[derive(Debug)]
pub struct VariableWatch {
    client: Client,
    completer: Completer,
    key: String,
    state: Arc<Mutex<WatchState>>,
    closed: watch::Sender<bool>,
}

impl VariableWatch {
    pub(crate) fn new(client: Client, completer: Completer, key: String) -> Self {
        VariableWatch {
            client,
            completer,
            key,
            state: Arc::new(Mutex::new(WatchState::default())),
            closed: watch::Sender::new(false),
        }
    }
}

#[napi]
impl VariableWatch {
    /// Reports the next change as JSON (`{"key","value","version","updatedAt","deleted"}`),
    /// or `null` once closed. The first call opens the watch. Fails when the server
    /// refuses the watch (then it is over).
    #[napi]
    pub fn next(&self, id: u32) -> napi::Result<()> {
        let state = Arc::clone(&self.state);
        let client = self.client.clone();
        let key = self.key.clone();
        let mut closed = self.closed.subscribe();
        self.completer.spawn(id, async move {
            let mut state = state.lock().await;
            if *closed.borrow() {
                state.changes = None;
                return Ok(None);
            }
            if !state.opened {
                state.opened = true;
                tokio::select! {
                    biased;
                    _ = closed.wait_for(|c| *c) => return Ok(None),
                    opened = client.watch_variable::<Raw>(&key) => state.changes = Some(opened?),
                }
            }
            let Some(changes) = state.changes.as_mut() else {
                return Ok(None);
            };
            let change = tokio::select! {
                biased;
                _ = closed.wait_for(|c| *c) => None,
                change = changes.next() => change,
            };
            match change {
                Some(Ok(change)) => encode(&change).map(Some),
                Some(Err(e)) => {
                    state.changes = None;
                    Err(e)
                }
                None => {
                    state.changes = None;
                    Ok(None)
                }
            }
        })
    }

    /// Stops watching: a pending `next` reports `null` and the connection closes.
    #[napi]
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}
