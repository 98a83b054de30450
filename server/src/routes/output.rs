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
    state: &AppState,
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
/// records. Reading the next frame only after the previous block committed is what gives
/// the client backpressure.
async fn output_stream<B>(
    state: &AppState,
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
    let mut pending = BytesMut::new(); // bytes after the last newline seen
    let mut block = Vec::with_capacity(STREAM_BLOCK + 1024);
    let mut block_records = 0u64;
    let mut total = (0u64, 0u64); // records, bytes committed
    let mut line_no = 0u64;
    let mut finished = false;
    while !finished {
        // A stream may last as long as the script writes, but not sit idle for ever: a
        // client that stops sending holds a connection slot.
        let idle = state.limits.body_read_timeout;
        let Ok(next) = tokio::time::timeout(idle, body.frame()).await else {
            flush(state, caller, &mut block, &mut block_records, &mut total).await?;
            return Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the stream sent nothing for {idle:?}; the {} records before are stored",
                    total.0
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
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::new(
                    ErrorCode::InvalidBody,
                    format!(
                        "the stream broke off after {} records ({e}); those records are stored",
                        total.0
                    ),
                ));
            }
        };
        pending.extend_from_slice(&chunk);
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line = pending.split_to(nl + 1);
            line_no += 1;
            let content = line[..nl].trim_ascii();
            if content.is_empty() {
                continue;
            }
            if content.len() > cap {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::new(
                    ErrorCode::BodyTooLarge,
                    format!(
                        "line {line_no} is larger than the limit of {cap} bytes; the {} records before it are stored",
                        total.0
                    ),
                ));
            }
            if let Err(e) = crate::body::check_depth(content, 0) {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::new(
                    ErrorCode::InvalidNdjson,
                    format!(
                        "line {line_no}: {}; the {} records before it are stored",
                        e.message, total.0
                    ),
                ));
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(content) {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
                return Err(ApiError::new(
                    ErrorCode::InvalidNdjson,
                    format!(
                        "line {line_no} is not JSON ({e}); the {} records before it are stored",
                        total.0
                    ),
                ));
            }
            block.extend_from_slice(&compact_json_bytes(content));
            block.push(b'\n');
            block_records += 1;
            if block.len() >= STREAM_BLOCK {
                flush(state, caller, &mut block, &mut block_records, &mut total).await?;
            }
        }
        if pending.len() > cap {
            flush(state, caller, &mut block, &mut block_records, &mut total).await?;
            return Err(ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "line {} is larger than the limit of {cap} bytes; the {} records before it are stored",
                    line_no + 1,
                    total.0
                ),
            ));
        }
    }
    flush(state, caller, &mut block, &mut block_records, &mut total).await?;
    Ok(data(&StreamSummary {
        records: total.0,
        bytes: total.1,
    }))
}

/// Commits the records gathered so far as one block.
async fn flush(
    state: &AppState,
    caller: &Caller,
    block: &mut Vec<u8>,
    records: &mut u64,
    total: &mut (u64, u64),
) -> Result<(), ApiError> {
    if *records > 0 {
        state
            .timed(
                state
                    .store
                    .append_output_stream(caller.actor(), block, *records),
            )
            .await?;
        total.0 += *records;
        total.1 += block.len() as u64;
    }
    block.clear();
    *records = 0;
    Ok(())
}

#[derive(Deserialize)]
struct DataBody<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}
