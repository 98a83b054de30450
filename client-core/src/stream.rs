//! Streams: NDJSON input records, the NDJSON output writer and variable watches (SSE).
//!
//! The wire parsers ([`NdjsonSplitter`], [`SseParser`]) are pure functions over byte
//! chunks, because chunk boundaries fall anywhere (mid-line, mid-UTF-8 character) and
//! that is exactly what needs testing without a server.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::{Stream, StreamExt};
use http::{HeaderName, HeaderValue, Method, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::client::{backoff_delay, Client, Envelope, Outgoing, Variable};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Conn;

// ----- NDJSON ------------------------------------------------------------------------

/// Splits a byte stream into NDJSON lines, whatever the chunk boundaries.
///
/// Lines are returned without their `\n` (and without a trailing `\r`); blank lines are
/// skipped. A line that lies entirely inside one chunk is returned without copying.
#[derive(Debug, Default)]
pub(crate) struct NdjsonSplitter {
    /// Start of a line whose end has not arrived yet.
    partial: BytesMut,
    /// Unconsumed rest of the last chunk.
    current: Bytes,
}

impl NdjsonSplitter {
    /// Adds the next chunk of the body.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if self.current.is_empty() {
            self.current = chunk;
        } else {
            let mut joined = BytesMut::with_capacity(self.current.len() + chunk.len());
            joined.extend_from_slice(&self.current);
            joined.extend_from_slice(&chunk);
            self.current = joined.freeze();
        }
    }

    /// The next complete, non-blank line, or `None` until more data is pushed.
    pub(crate) fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let Some(pos) = self.current.iter().position(|&b| b == b'\n') else {
                if !self.current.is_empty() {
                    self.partial.extend_from_slice(&self.current);
                    self.current = Bytes::new();
                }
                return None;
            };
            let line = if self.partial.is_empty() {
                self.current.split_to(pos)
            } else {
                self.partial.extend_from_slice(&self.current[..pos]);
                self.current.advance(pos);
                self.partial.split().freeze()
            };
            self.current.advance(1);
            if let Some(line) = non_blank(line) {
                return Some(line);
            }
        }
    }

    /// The last line when the body ended without a final `\n`.
    pub(crate) fn finish(&mut self) -> Option<Bytes> {
        let mut rest = std::mem::take(&mut self.partial);
        rest.extend_from_slice(&self.current);
        self.current = Bytes::new();
        non_blank(rest.freeze())
    }
}

fn non_blank(mut line: Bytes) -> Option<Bytes> {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(line)
    }
}

/// Serialises one record as an NDJSON line. Raw JSON text (a `RawValue`) may contain
/// newlines between tokens; those can only be insignificant whitespace (newlines inside
/// JSON strings are escaped), so they become spaces to keep one record per line.
pub(crate) fn encode_line<T: Serialize + ?Sized>(record: &T) -> Result<Bytes> {
    let mut line = serde_json::to_vec(record).map_err(|e| Error::unserialisable(&e))?;
    for b in line.iter_mut() {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    line.push(b'\n');
    Ok(Bytes::from(line))
}

// ----- SSE ---------------------------------------------------------------------------

/// One server-sent event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The last event id seen on the stream (ids persist across events, as in browsers).
    pub(crate) id: Option<String>,
    /// `event:` type, `message` when none was given.
    pub(crate) event: String,
    /// `data:` lines joined with `\n`.
    pub(crate) data: String,
}

/// Incremental `text/event-stream` parser (the WHATWG rules, lines ending in `\n` or
/// `\r\n`): `data:`, `event:`, `id:`, `retry:`, comments starting with `:`.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: String,
    last_id: Option<String>,
    retry: Option<Duration>,
}

impl SseParser {
    /// Feeds a chunk; returns the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            rest = &tail[1..];
            if self.line.is_empty() {
                self.process_line(head, &mut out);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.process_line(&line, &mut out);
                line.clear();
                self.line = line;
            }
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// The reconnection delay the server asked for with `retry:`.
    pub(crate) fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The last `id:` seen, sent back as `Last-Event-ID` on reconnect.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Forgets a half-received event when the connection drops (ids and `retry` stay).
    pub(crate) fn reset_connection(&mut self) {
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.event.clear();
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if !self.has_data {
            self.event.clear();
            return;
        }
        let event = if self.event.is_empty() {
            "message".to_owned()
        } else {
            std::mem::take(&mut self.event)
        };
        out.push(SseEvent {
            id: self.last_id.clone(),
            event,
            data: std::mem::take(&mut self.data),
        });
        self.has_data = false;
    }
}

// ----- input stream ------------------------------------------------------------------

/// The execution's input records, read incrementally from `GET /v1/input/stream`.
///
/// Never buffers the whole body: memory stays at one chunk plus one partial line. A line
/// that is not JSON (or not a `T`) yields an `invalid_ndjson` error and the stream goes
/// on with the next line; a broken connection yields one error and ends the stream.
pub struct RecordStream<T> {
    client: Client,
    conn: Option<Conn>,
    body: Option<Incoming>,
    splitter: NdjsonSplitter,
    records: u64,
    _record: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for RecordStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordStream")
            .field("records", &self.records)
            .field("ended", &self.body.is_none())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> RecordStream<T> {
    pub(crate) fn new(client: Client, conn: Conn, body: Incoming) -> Self {
        RecordStream {
            client,
            conn: Some(conn),
            body: Some(body),
            splitter: NdjsonSplitter::default(),
            records: 0,
            _record: PhantomData,
        }
    }

    /// The next record; `None` at the end of the input.
    pub async fn next(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    fn parse(&mut self, line: &[u8]) -> Result<T> {
        self.records += 1;
        serde_json::from_slice(line).map_err(|e| {
            Error::with_code(
                crate::ErrorCode::InvalidNdjson,
                format!("input record {} is not valid: {e}", self.records),
            )
        })
    }
}

impl<T: DeserializeOwned> Stream for RecordStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        loop {
            if let Some(line) = this.splitter.next_line() {
                return Poll::Ready(Some(this.parse(&line)));
            }
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.splitter.push(data);
                    }
                }
                Some(Err(e)) => {
                    this.body = None;
                    this.conn = None;
                    this.splitter = NdjsonSplitter::default();
                    return Poll::Ready(Some(Err(Error::from_hyper(&e))));
                }
                None => {
                    this.body = None;
                    if let Some(conn) = this.conn.take() {
                        this.client.checkin(conn);
                    }
                    if let Some(line) = this.splitter.finish() {
                        return Poll::Ready(Some(this.parse(&line)));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

// ----- buffering of the bindings ----------------------------------------------------

/// How much the bindings buffer around the streams: one definition, so a stream behaves the
/// same in every language. (How many records a batch may hold besides is each binding's
/// choice: it depends on what one crossing into the language costs.)
pub mod buffering {
    /// Input: bytes of records a binding takes from the stream in one go (Python's
    /// read-ahead, the batch Node hands to JS); a batch may exceed it by one record.
    pub const READ_AHEAD_BYTES: usize = 1 << 20;
    /// Output: bytes of records queued for the stream before a writer waits (Python's
    /// `write` blocks, or returns an awaitable that waits, until the queue drains).
    pub const WRITE_HIGH_WATER_BYTES: usize = 2 << 20;
    /// Output: the level the queue must drain to before a waiting writer goes on.
    pub const WRITE_LOW_WATER_BYTES: usize = 1 << 20;
    /// Output: bytes of records a binding collects before handing them on in one batch
    /// (Node's `WritableStream` sends NDJSON batches of about this size to the addon).
    pub const WRITE_BATCH_BYTES: usize = 256 << 10;
}

// ----- output stream -----------------------------------------------------------------

/// What the server counted for one output stream (the protocol crate's wire type).
pub use cronium_protocol::wire::StreamSummary;

pub(crate) type ResponseFuture = Pin<Box<dyn Future<Output = Result<Bytes>> + Send>>;

/// Appends NDJSON records to the execution's output stream (`POST /v1/output/stream`).
///
/// Records go through a bounded channel into the chunked request body, so `write`
/// waits when the server reads slower than the script writes. If the server rejects the
/// stream (bad token, a line it cannot parse, storage down) the error surfaces on the
/// next `write` or on `close`. Dropping the writer without [`close`](Self::close)
/// aborts the request, so a crash mid-stream is not reported as a complete stream.
pub struct OutputWriter {
    tx: Option<mpsc::Sender<Bytes>>,
    finished: Arc<AtomicBool>,
    response: Option<ResponseFuture>,
    outcome: Option<Result<Bytes>>,
    timeout: Duration,
    records: u64,
}

impl fmt::Debug for OutputWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputWriter")
            .field("records", &self.records)
            .field("open", &self.tx.is_some())
            .finish_non_exhaustive()
    }
}

enum WriteOutcome {
    Answered(Result<Bytes>),
    Sent,
    BodyGone,
}

impl OutputWriter {
    pub(crate) fn new(
        tx: mpsc::Sender<Bytes>,
        finished: Arc<AtomicBool>,
        response: ResponseFuture,
        timeout: Duration,
    ) -> Self {
        OutputWriter {
            tx: Some(tx),
            finished,
            response: Some(response),
            outcome: None,
            timeout,
            records: 0,
        }
    }

    /// Sends one record as one NDJSON line.
    pub async fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        let line = encode_line(record)?;
        self.write_line(line).await
    }

    /// Records written so far (accepted into the body, not yet confirmed by the server).
    pub fn records_written(&self) -> u64 {
        self.records
    }

    async fn write_line(&mut self, line: Bytes) -> Result<()> {
        if let Some(outcome) = &self.outcome {
            return Err(ended_early(outcome));
        }
        let (Some(tx), Some(response)) = (self.tx.as_ref(), self.response.as_mut()) else {
            return Err(Error::stream_closed("output stream"));
        };
        let step = tokio::select! {
            biased;
            answer = response => WriteOutcome::Answered(answer),
            sent = tx.send(line) => match sent {
                Ok(()) => WriteOutcome::Sent,
                Err(_) => WriteOutcome::BodyGone,
            },
        };
        match step {
            WriteOutcome::Sent => {
                self.records += 1;
                Ok(())
            }
            WriteOutcome::Answered(answer) => {
                self.response = None;
                let err = ended_early(&answer);
                self.outcome = Some(answer);
                Err(err)
            }
            WriteOutcome::BodyGone => {
                // The connection dropped the body: the answer (or the connection error)
                // says why.
                let answer = self.wait_answer().await;
                let err = ended_early(&answer);
                self.outcome = Some(answer);
                Err(err)
            }
        }
    }

    async fn wait_answer(&mut self) -> Result<Bytes> {
        match self.response.take() {
            Some(response) => tokio::time::timeout(self.timeout, response)
                .await
                .unwrap_or_else(|_| Err(Error::timeout(self.timeout))),
            None => Err(Error::stream_closed("output stream")),
        }
    }

    /// Ends the body and waits for the server's count of what it appended.
    pub async fn close(mut self) -> Result<StreamSummary> {
        self.finished.store(true, Ordering::Release);
        self.tx = None;
        let answer = match self.outcome.take() {
            Some(answer) => answer,
            None => self.wait_answer().await,
        };
        let body = answer?;
        let envelope: Envelope<StreamSummary> = serde_json::from_slice(&body)
            .map_err(|e| Error::bad_response("POST /v1/output/stream", &e))?;
        Ok(envelope.data)
    }
}

fn ended_early(answer: &Result<Bytes>) -> Error {
    match answer {
        Err(e) => e.clone(),
        Ok(_) => Error::protocol("the runtime ended the output stream before close()"),
    }
}

// ----- watch -------------------------------------------------------------------------

/// One change of a watched variable (the protocol crate's wire type).
pub use cronium_protocol::wire::VariableChange;

/// Changes of one variable, from `GET /v1/variables/{key}/watch`.
///
/// A dropped connection is reopened with backoff; after a reconnect the client reads the
/// current value and reports a change it missed while disconnected (only the latest
/// state, not every intermediate one). The stream ends with an error only when the
/// server refuses the watch (expired token, missing scope, ...).
pub struct WatchStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<VariableChange<T>>> + Send>>,
}

impl<T> fmt::Debug for WatchStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

impl<T> WatchStream<T> {
    /// The next change; `None` only after a fatal error was reported.
    pub async fn next(&mut self) -> Option<Result<VariableChange<T>>> {
        self.inner.next().await
    }
}

impl<T> Stream for WatchStream<T> {
    type Item = Result<VariableChange<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// No byte for this long (the server sends a comment every 15 s) means the connection
/// is dead even if the socket does not say so.
const WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// What the watcher last knew about the variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Present(u64),
    Absent,
}

struct Watcher<T> {
    client: Client,
    key: String,
    watch_uri: Uri,
    conn: Option<Conn>,
    body: Option<Incoming>,
    parser: SseParser,
    queue: VecDeque<Result<VariableChange<T>>>,
    seen: Seen,
    /// Set after a reconnect: events the catch-up read already reported (same or older
    /// version, a delete of an absent key) are dropped.
    dedup: bool,
    failures: u32,
    done: bool,
}

impl<T: DeserializeOwned + Send + 'static> Watcher<T> {
    async fn connect(&mut self) -> Result<()> {
        let mut out = Outgoing::new(Method::GET, self.watch_uri.clone(), true);
        out.header(
            http::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        if let Some(id) = self.parser.last_event_id() {
            if let Ok(v) = HeaderValue::from_str(id) {
                out.header(HeaderName::from_static("last-event-id"), v);
            }
        }
        let (conn, resp) = self.client.open(&out).await?;
        self.conn = Some(conn);
        self.body = Some(resp.into_body());
        Ok(())
    }

    async fn start(client: Client, key: String, watch_uri: Uri) -> Result<Self> {
        let mut w = Watcher {
            client,
            key,
            watch_uri,
            conn: None,
            body: None,
            parser: SseParser::default(),
            queue: VecDeque::new(),
            seen: Seen::Absent,
            dedup: false,
            failures: 0,
            done: false,
        };
        w.connect().await?;
        // The baseline a later reconnect compares with. Read after the watch is open so
        // nothing falls between the two; events of this first connection are all
        // reported, even those the read already reflects.
        w.seen = match w.client.get_variable::<IgnoredAny>(&w.key).await? {
            Some(v) => Seen::Present(v.version),
            None => Seen::Absent,
        };
        Ok(w)
    }

    async fn reconnect(&mut self) -> Result<()> {
        self.connect().await?;
        let current = self.client.get_variable::<Option<T>>(&self.key).await?;
        let now = match &current {
            Some(v) => Seen::Present(v.version),
            None => Seen::Absent,
        };
        self.dedup = true;
        if now != self.seen {
            self.seen = now;
            let change = match current {
                Some(Variable {
                    key,
                    value,
                    version,
                    updated_at,
                }) => VariableChange {
                    key,
                    value,
                    version: Some(version),
                    updated_at,
                    deleted: false,
                },
                None => VariableChange {
                    key: self.key.clone(),
                    value: None,
                    version: None,
                    updated_at: String::new(),
                    deleted: true,
                },
            };
            self.queue.push_back(Ok(change));
        }
        Ok(())
    }

    fn drop_connection(&mut self) {
        self.body = None;
        self.conn = None;
        self.parser.reset_connection();
    }

    fn delay(&self) -> Duration {
        let policy = self.client.retry_policy();
        let backoff = backoff_delay(
            policy.base,
            policy.cap.max(Duration::from_secs(1)),
            self.failures,
            rand::random::<f64>(),
        );
        backoff.max(self.parser.retry().unwrap_or_default())
    }

    fn on_event(&mut self, event: SseEvent) {
        if event.event != "change" && event.event != "message" {
            return;
        }
        let change: VariableChange<T> = match serde_json::from_str(&event.data) {
            Ok(c) => c,
            Err(e) => {
                self.queue
                    .push_back(Err(Error::bad_response("a variable watch event", &e)));
                return;
            }
        };
        let now = match (change.deleted, change.version) {
            (true, _) | (false, None) => Seen::Absent,
            (false, Some(v)) => Seen::Present(v),
        };
        if self.dedup {
            let duplicate = match (self.seen, now) {
                (Seen::Absent, Seen::Absent) => change.deleted,
                (Seen::Present(seen), Seen::Present(v)) => v <= seen,
                _ => false,
            };
            if duplicate {
                return;
            }
        }
        if change.deleted || change.version.is_some() {
            self.seen = now;
        }
        self.queue.push_back(Ok(change));
    }

    async fn next(&mut self) -> Option<Result<VariableChange<T>>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                match self.reconnect().await {
                    Ok(()) => continue,
                    Err(e) if e.retryable() || e.kind() == ErrorKind::Internal => {
                        self.drop_connection();
                        self.failures = self.failures.saturating_add(1);
                        tokio::time::sleep(self.delay()).await;
                        continue;
                    }
                    Err(e) => {
                        self.drop_connection();
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            };
            match tokio::time::timeout(WATCH_IDLE_TIMEOUT, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    self.failures = 0;
                    if let Ok(data) = frame.into_data() {
                        for event in self.parser.feed(&data) {
                            self.on_event(event);
                        }
                    }
                }
                // Ended, broke, or went silent: reconnect after a pause.
                _ => {
                    self.drop_connection();
                    tokio::time::sleep(self.delay()).await;
                    self.failures = self.failures.saturating_add(1);
                }
            }
        }
    }
}

pub(crate) async fn watch<T>(client: Client, key: String, watch_uri: Uri) -> Result<WatchStream<T>>
where
    T: DeserializeOwned + Send + 'static,
{
    let watcher = Watcher::<T>::start(client, key, watch_uri).await?;
    let stream = futures_util::stream::unfold(watcher, |mut w| async move {
        let item = w.next().await?;
        Some((item, w))
    });
    Ok(WatchStream {
        inner: Box::pin(stream),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = NdjsonSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            s.push(Bytes::copy_from_slice(chunk));
            while let Some(line) = s.next_line() {
                out.push(String::from_utf8(line.to_vec()).expect("utf-8"));
            }
        }
        if let Some(line) = s.finish() {
            out.push(String::from_utf8(line.to_vec()).expect("utf-8"));
        }
        out
    }

    #[test]
    fn ndjson_lines_survive_any_chunking() {
        let text = b"{\"a\":1}\n\n{\"b\":\"x\xc3\xa9y\"}\r\n   \n[1,2]\n7";
        let expected = vec![r#"{"a":1}"#, "{\"b\":\"x\u{e9}y\"}", "[1,2]", "7"];
        assert_eq!(split_all(&[text]), expected);
        // Every single split point, including inside the UTF-8 character and the CRLF.
        for i in 0..=text.len() {
            let (a, b) = text.split_at(i);
            assert_eq!(split_all(&[a, b]), expected, "split at {i}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(split_all(&bytes), expected);
    }

    #[test]
    fn ndjson_empty_and_blank_input() {
        assert!(split_all(&[]).is_empty());
        assert!(split_all(&[b"\n\n \r\n"]).is_empty());
        assert_eq!(split_all(&[b"1\n", b"", b"2\n"]), vec!["1", "2"]);
    }

    #[test]
    fn ndjson_push_without_draining_keeps_order() {
        let mut s = NdjsonSplitter::default();
        s.push(Bytes::from_static(b"1\n2"));
        s.push(Bytes::from_static(b"\n3\n"));
        let mut out = Vec::new();
        while let Some(l) = s.next_line() {
            out.push(l);
        }
        assert_eq!(out, vec!["1", "2", "3"]);
    }

    #[test]
    fn encode_line_keeps_one_record_per_line() {
        let raw = serde_json::value::RawValue::from_string("{\n  \"a\": \"x\\ny\"\r\n}".into())
            .expect("raw");
        let line = encode_line(&raw).expect("encode");
        assert_eq!(&line[..], b"{   \"a\": \"x\\ny\"  }\n");
        let v: serde_json::Value =
            serde_json::from_slice(&line[..line.len() - 1]).expect("still JSON");
        assert_eq!(v["a"], "x\ny");
        let line = encode_line(&serde_json::json!({"s": "multi\nline"})).expect("encode");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    fn feed_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, SseParser) {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c));
        }
        (out, p)
    }

    #[test]
    fn sse_events_survive_any_chunking() {
        let text: &[u8] =
            b": keep-alive\n\nid: 42\nevent: change\ndata: {\"key\":\"k\",\"version\":3}\n\n\
retry: 2500\r\ndata: first\r\ndata:second\r\n\r\nid: 43\ndata\n\n";
        let expected = vec![
            SseEvent {
                id: Some("42".into()),
                event: "change".into(),
                data: r#"{"key":"k","version":3}"#.into(),
            },
            SseEvent {
                id: Some("42".into()),
                event: "message".into(),
                data: "first\nsecond".into(),
            },
            SseEvent {
                id: Some("43".into()),
                event: "message".into(),
                data: String::new(),
            },
        ];
        let (events, parser) = feed_all(&[text]);
        assert_eq!(events, expected);
        assert_eq!(parser.retry(), Some(Duration::from_millis(2500)));
        assert_eq!(parser.last_event_id(), Some("43"));
        for i in 0..=text.len() {
            let (a, b) = text.split_at(i);
            assert_eq!(feed_all(&[a, b]).0, expected, "split at {i}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(feed_all(&bytes).0, expected);
    }

    #[test]
    fn sse_comments_and_unknown_fields_are_ignored() {
        let (events, _) = feed_all(&[b": hi\nfoo: bar\nevent: x\n\n: only comment\n\n"]);
        assert!(events.is_empty(), "{events:?}");
        // An event type without data is forgotten at the blank line.
        let (events, _) = feed_all(&[b"event: x\n\ndata: 1\n\n"]);
        assert_eq!(events[0].event, "message");
    }

    #[test]
    fn sse_reset_drops_partial_event() {
        let mut p = SseParser::default();
        assert!(p.feed(b"id: 1\ndata: half").is_empty());
        p.reset_connection();
        let events = p.feed(b"data: whole\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "whole");
        assert_eq!(events[0].id.as_deref(), Some("1"));
    }

    #[test]
    fn variable_change_parses_sets_and_deletes() {
        let c: VariableChange<serde_json::Value> = serde_json::from_str(
            r#"{"key":"k","value":7,"version":3,"updatedAt":"2024-01-01T00:00:00.000Z","deleted":false}"#,
        )
        .expect("change");
        assert_eq!(c.value, Some(serde_json::json!(7)));
        assert_eq!(c.version, Some(3));
        assert!(!c.deleted);
        let d: VariableChange<Box<serde_json::value::RawValue>> = serde_json::from_str(
            r#"{"key":"k","value":null,"version":null,"updatedAt":"t","deleted":true}"#,
        )
        .expect("delete");
        assert!(d.value.is_none());
        assert!(d.deleted);
        assert_eq!(d.version, None);
    }
}
