//! `GET`/`PUT /v1/output` and `POST /v1/output/stream`.

use super::*;
use cronium_protocol::wire::StreamSummary;

/// Size of the blocks an output stream is committed in: large enough that the per-commit
/// cost vanishes in the throughput, small enough that a crash loses at most one block that
/// was never acknowledged.
const STREAM_BLOCK: usize = 256 * 1024;

/// `GET /v1/output`.
pub(super) async fn get(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    caller.require_scope()?;
    let out = state
        .timed(state.store.output(&caller.entry.execution.id))
        .await?;
    Ok(data(raw(out.as_deref().unwrap_or("null"))?))
}

/// `PUT /v1/output`.
pub(super) async fn put<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    write(state, caller, req).await?;
    Ok(data(&()))
}

/// `POST /v1/output/stream`.
pub(super) async fn stream<B>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require_scope()?;
    output_stream(state, caller, req).await
}

/// `{"data": any}` → the execution's output.
pub(super) async fn write<B>(
    state: &AppState,
    caller: &Caller,
    req: Request<B>,
) -> Result<(), ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    caller.require_scope()?;
    let body = read_body(state, req).await?;
    let v: DataBody<'_> = parse_json(&body)?;
    let value = compact_json(v.data.get());
    state
        .timed(state.store.set_output(caller.actor(), &value))
        .await?;
    Ok(())
}

/// Appends an NDJSON request body to the output stream, committing it in blocks of whole
/// records ([`Blocks`]). A block is stored while the next one is gathered; the one after
/// waits for it, which is the client's backpressure.
///
/// The lines are checked where they lie in hyper's frames: only a line cut across two
/// frames is copied aside (`pending`), and each record is copied once, into the block. What
/// the route holds is two blocks and at most one line, whatever the stream's length.
async fn output_stream<B>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    check_content_type(req.headers())?;
    let cap = state.limits.body_bytes;
    let mut body = req.into_body();
    let mut pending = Vec::new(); // a line cut across frames, without its newline yet
    let mut out = Blocks::new(state, caller);
    let mut line_no = 0u64;
    let mut finished = false;
    while !finished {
        // A stream may last as long as the script writes, but not sit idle for ever: a
        // client that stops sending holds a connection slot.
        let idle = state.limits.body_read_timeout;
        let Ok(next) = tokio::time::timeout(idle, body.frame()).await else {
            out.flush().await?;
            return Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the stream sent nothing for {idle:?}; {}",
                    stored_before(out.total.0)
                ),
            ));
        };
        let chunk = match next {
            None => {
                finished = true;
                if pending.is_empty() {
                    Bytes::new()
                } else {
                    Bytes::from_static(b"\n")
                }
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers carry no records
            },
            Some(Err(e)) => {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                out.flush().await?;
                return Err(ApiError::new(
                    ErrorCode::InvalidBody,
                    format!(
                        "the stream broke off after {} records ({e}); those records are stored",
                        out.total.0
                    ),
                ));
            }
        };
        let mut rest: &[u8] = &chunk;
        if !pending.is_empty() {
            // The end of the line the previous frame cut.
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                pending.extend_from_slice(rest);
                if pending.len() > cap {
                    out.flush().await?;
                    return Err(line_too_large(line_no + 1, cap, out.total.0));
                }
                continue;
            };
            pending.extend_from_slice(&rest[..=nl]);
            rest = &rest[nl + 1..];
            line_no += 1;
            let stored = store_line(&mut out.block, &pending, line_no, cap);
            pending.clear();
            match stored {
                Ok(stored) => out.records += u64::from(stored),
                Err((code, what)) => {
                    out.flush().await?;
                    return Err(refused(code, what, out.total.0));
                }
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let line = &rest[..=nl];
            rest = &rest[nl + 1..];
            line_no += 1;
            match store_line(&mut out.block, line, line_no, cap) {
                Ok(stored) => out.records += u64::from(stored),
                Err((code, what)) => {
                    out.flush().await?;
                    return Err(refused(code, what, out.total.0));
                }
            }
            if out.block.len() >= STREAM_BLOCK {
                out.hand_off().await?;
            }
        }
        if out.block.len() >= STREAM_BLOCK {
            out.hand_off().await?;
        }
        if rest.len() > cap {
            out.flush().await?;
            return Err(line_too_large(line_no + 1, cap, out.total.0));
        }
        pending.extend_from_slice(rest);
    }
    out.flush().await?;
    Ok(data(&StreamSummary {
        records: out.total.0,
        bytes: out.total.1,
    }))
}

/// Checks one line (its newline included) and appends it to `block` as a record: compacted
/// to one line, with a newline. `Ok(false)` for a blank line, which is skipped; the error
/// code and what is wrong (the caller adds how many records are stored) for a bad one.
fn store_line(
    block: &mut Vec<u8>,
    line: &[u8],
    line_no: u64,
    cap: usize,
) -> Result<bool, (ErrorCode, String)> {
    let content = line.trim_ascii();
    if content.is_empty() {
        return Ok(false);
    }
    if content.len() > cap {
        return Err((
            ErrorCode::BodyTooLarge,
            format!("line {line_no} is larger than the limit of {cap} bytes"),
        ));
    }
    // Where the line's content starts, so an error's column counts from the line's start.
    let lead = line.len() - line.trim_ascii_start().len();
    let blanks = match crate::body::check_json_text(content) {
        Ok(blanks) => blanks,
        Err(e) => {
            use crate::body::JsonTextError;
            let what = match e {
                JsonTextError::NotUtf8 { at } => {
                    format!("line {line_no} is not UTF-8 (column {})", lead + at + 1)
                }
                JsonTextError::TooDeep => format!(
                    "line {line_no}: the value is nested deeper than the limit of {} levels",
                    crate::body::MAX_VALUE_DEPTH
                ),
                JsonTextError::Syntax { what, at } => format!(
                    "line {line_no} is not JSON ({what} at column {})",
                    lead + at + 1
                ),
            };
            return Err((ErrorCode::InvalidNdjson, what));
        }
    };
    if !blanks && content.len() + 1 == line.len() {
        // Already one compact line ending in its newline: stored as it came.
        block.extend_from_slice(line);
    } else {
        block.extend_from_slice(&compact_json_bytes(content));
        block.push(b'\n');
    }
    Ok(true)
}

/// A bad line ends the stream; the records before it are stored.
fn refused(code: ErrorCode, what: String, stored: u64) -> ApiError {
    ApiError::new(code, format!("{what}; {}", stored_before(stored)))
}

/// How many records before a failure are stored, in words.
fn stored_before(n: u64) -> String {
    match n {
        0 => "no record before it is stored".into(),
        1 => "the 1 record before it is stored".into(),
        n => format!("the {n} records before it are stored"),
    }
}

fn line_too_large(line_no: u64, cap: usize, stored: u64) -> ApiError {
    refused(
        ErrorCode::BodyTooLarge,
        format!("line {line_no} is larger than the limit of {cap} bytes"),
        stored,
    )
}

/// The records of a stream gathered into blocks, and the block being stored meanwhile.
///
/// A full block is handed to another worker to be stored while the route goes on reading
/// and checking the next one: checking and storing then overlap, on two cores, instead of
/// taking turns. At most one block is being stored (the next hand-off waits for it), so
/// what a stream holds is two blocks and the client still meets backpressure.
struct Blocks {
    block: Vec<u8>,
    records: u64,
    /// Records and bytes stored (acknowledged by the store), which is what the answer and
    /// every error message count.
    total: (u64, u64),
    storing: Option<Storing>,
    /// A block buffer back from the store, reused for the next block.
    spare: Vec<u8>,
    state: Arc<AppState>,
    entry: Arc<crate::state::ExecEntry>,
}

struct Storing {
    /// The store's answer and the block's buffer, handed back.
    task: tokio::task::JoinHandle<(cronium_store::StoreResult<()>, Vec<u8>)>,
    records: u64,
}

impl Blocks {
    fn new(state: &Arc<AppState>, caller: &Caller) -> Blocks {
        Blocks {
            block: Vec::with_capacity(STREAM_BLOCK + 1024),
            records: 0,
            total: (0, 0),
            storing: None,
            spare: Vec::new(),
            state: Arc::clone(state),
            entry: caller.entry.clone(),
        }
    }

    /// Waits for the block being stored, if any, and counts it.
    async fn settle(&mut self) -> Result<(), ApiError> {
        let Some(storing) = self.storing.take() else {
            return Ok(());
        };
        let (stored, mut buffer) = storing.task.await.map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("storing a stream block failed: {e}"),
            )
        })?;
        stored?;
        self.total.0 += storing.records;
        self.total.1 += buffer.len() as u64;
        buffer.clear();
        self.spare = buffer;
        Ok(())
    }

    /// Starts storing the records gathered so far, once the previous block is stored.
    async fn hand_off(&mut self) -> Result<(), ApiError> {
        self.settle().await?;
        if self.records == 0 {
            self.block.clear();
            return Ok(());
        }
        let mut block = std::mem::take(&mut self.spare);
        block.reserve(STREAM_BLOCK + 1024);
        std::mem::swap(&mut block, &mut self.block);
        let records = self.records;
        self.records = 0;
        let (state, entry) = (Arc::clone(&self.state), self.entry.clone());
        let task = tokio::spawn(async move {
            let actor = Actor {
                execution_id: &entry.execution.id,
                user_id: &entry.execution.user_id,
            };
            let stored = state
                .timed(state.store.append_output_stream(actor, &block, records))
                .await;
            (stored, block)
        });
        self.storing = Some(Storing { task, records });
        Ok(())
    }

    /// Stores everything gathered so far and waits until it is stored.
    async fn flush(&mut self) -> Result<(), ApiError> {
        self.hand_off().await?;
        self.settle().await
    }
}

#[derive(Deserialize)]
struct DataBody<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(line: &str) -> Result<(bool, String), (ErrorCode, String)> {
        let mut block = Vec::new();
        let kept = store_line(&mut block, line.as_bytes(), 7, 1 << 20)?;
        Ok((kept, String::from_utf8(block).expect("utf-8")))
    }

    #[test]
    fn lines_are_stored_compact_and_checked() {
        // Already compact: the line as it came, newline included.
        assert_eq!(
            stored("{\"a\":[1,2]}\n"),
            Ok((true, "{\"a\":[1,2]}\n".into()))
        );
        // Blanks between tokens go, those inside strings stay; CRLF ends a line too.
        assert_eq!(
            stored(" { \"a b\" : [1, 2] }\r\n"),
            Ok((true, "{\"a b\":[1,2]}\n".into()))
        );
        // The last line of a body may come without its newline (the route adds one).
        assert_eq!(stored("{\"a\":1}"), Ok((true, "{\"a\":1}\n".into())));
        assert_eq!(stored("  \r\n"), Ok((false, String::new())));
        // Brackets inside a string are not nesting, however many.
        let in_string = format!("\"{}\"\n", "[".repeat(300));
        assert_eq!(stored(&in_string), Ok((true, in_string.clone())));
        let deep = format!("{}{}\n", "[".repeat(129), "]".repeat(129));
        let (code, what) = stored(&deep).expect_err("too deep");
        assert_eq!(code, ErrorCode::InvalidNdjson);
        assert!(
            what.starts_with("line 7:") && what.contains("128 levels"),
            "{what}"
        );
        let (code, what) = stored("{\"a\":}\n").expect_err("not JSON");
        assert_eq!(code, ErrorCode::InvalidNdjson);
        assert!(what.starts_with("line 7 is not JSON"), "{what}");
        let mut block = Vec::new();
        let (code, _) = store_line(&mut block, b"[1,2,3]\n", 1, 4).expect_err("too long");
        assert_eq!(code, ErrorCode::BodyTooLarge);
        assert!(
            block.is_empty(),
            "a refused line leaves the block as it was"
        );
    }
}
