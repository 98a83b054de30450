//! Request bodies: reading them under the size limit, checking the media type, decoding
//! JSON objects with stable error codes, and compacting JSON so a stored value is one line.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use cronium_protocol::ErrorCode;

/// Refuses a body declared as anything but JSON (or NDJSON, or plain text).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    let ok = essence.is_empty()
        || essence == "application/json"
        || essence.ends_with("+json")
        || essence == "text/plain"
        || essence == "application/x-ndjson";
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("the body is {essence}; send JSON with Content-Type: application/json"),
        ))
    }
}

/// Reads a whole JSON body, capped at the configured limit and bounded in time.
///
/// The bytes are copied into one buffer sized from `Content-Length` (at most the cap) as
/// they arrive, so what a connection holds is its body's length however the client chunks
/// it: keeping hyper's frames instead would pin a read buffer per frame, kilobytes for a
/// body trickled a byte at a time. More than the cap is refused (413) as soon as it
/// arrives, and a body not received within `body_read_timeout` gets `408
/// request_timeout`.
pub async fn read_body<B>(state: &AppState, req: Request<B>) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    check_content_type(req.headers())?;
    let cap = state.limits.body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large(cap));
    }
    // Pre-sized from the declared length (never past the cap); a chunked body grows the
    // buffer geometrically, still bounded by the cap.
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(cap));
    let mut body = req.into_body();
    let limit = state.limits.body_read_timeout;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("could not read the request body: {e}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > cap {
                    return Err(too_large(cap));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(())
    };
    tokio::time::timeout(limit, read)
        .await
        .map_err(|_| request_timeout(limit))??;
    buf.shrink_to_fit();
    Ok(Bytes::from(buf))
}

/// `408 request_timeout`: a body (or a stream's next line) that did not arrive in time.
pub fn request_timeout(limit: std::time::Duration) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        format!("the body was not received within {limit:?}; send it at once, or raise body_read_timeout"),
    )
}

fn too_large(cap: usize) -> ApiError {
    ApiError::new(
        ErrorCode::BodyTooLarge,
        format!("the body is larger than the limit of {cap} bytes; stream large data with /v1/output/stream"),
    )
}

/// How deep a value a script writes may be nested (arrays and objects inside each other).
/// Deeper values are refused on input (`invalid_json`, naming the limit): every JSON
/// library has a recursion limit (serde_json's is 128), and a value stored past it could be
/// written but not read back by the clients.
pub const MAX_VALUE_DEPTH: usize = 128;

/// The deepest nesting of arrays and objects in `json` (brackets inside strings do not
/// count). Text that is not JSON gets some number; the parser then refuses it.
pub fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &c in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// How many bytes of `json` open an array or object, and how many are blanks (space, tab,
/// CR, LF), in or out of strings. A branch-free pass the compiler vectorizes: the first is a
/// bound on the nesting depth, and a line without blanks has nothing to compact, so the
/// exact scans ([`json_depth`], [`compact_json`]) run only when these say they might matter.
pub fn count_brackets_and_blanks(json: &[u8]) -> (usize, usize) {
    let (mut open, mut blank) = (0usize, 0usize);
    // In pieces of at most 255 bytes, so per-piece byte counters cannot overflow and
    // the loop stays in vector registers.
    for piece in json.chunks(255) {
        let (mut o, mut b) = (0u8, 0u8);
        for &c in piece {
            o += u8::from(c == b'[' || c == b'{');
            b += u8::from(c == b' ' || c == b'\t' || c == b'\r' || c == b'\n');
        }
        open += usize::from(o);
        blank += usize::from(b);
    }
    (open, blank)
}

/// Refuses a value nested deeper than [`MAX_VALUE_DEPTH`]; `envelope` is the number of
/// levels the request's own shape adds around the value (1 for `{"data": ...}`).
pub fn check_depth(json: &[u8], envelope: usize) -> Result<(), ApiError> {
    if json_depth(json) > MAX_VALUE_DEPTH + envelope {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("the value is nested deeper than the limit of {MAX_VALUE_DEPTH} levels"),
        ));
    }
    Ok(())
}

/// Parses a JSON object body into `T`: `invalid_json` for bad JSON or a value nested deeper
/// than [`MAX_VALUE_DEPTH`] inside the body's object, `invalid_body` for the wrong shape.
pub fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the body is empty; send a JSON object",
        ));
    }
    // serde accepts a struct written as an array (positionally); the API only takes objects.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| matches!(b, b'[' | b'"' | b'n' | b't' | b'f' | b'-' | b'0'..=b'9')) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    check_depth(body, 1)?;
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::new(ErrorCode::InvalidBody, format!("wrong body shape: {e}"))
        }
        _ => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not JSON: {e}{}", quoting_hint(&e)),
        ),
    })
}

/// `expected value` where a value should start is, nine times in ten, a string written
/// without its quotes (`{"value": Ada}`, from a shell): say so.
pub fn quoting_hint(e: &serde_json::Error) -> &'static str {
    if e.to_string().starts_with("expected value") {
        "; a string needs its JSON quotes (\"Ada\", not Ada)"
    } else {
        ""
    }
}

/// Removes the whitespace between JSON tokens (not inside strings) so a stored value is one
/// line: it can then travel in an NDJSON record or an SSE `data:` line unchanged. Numbers and
/// strings are kept byte for byte.
pub fn compact_json(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let needs = b.iter().any(|&c| {
        let ws = !in_string && matches!(c, b' ' | b'\n' | b'\r' | b'\t');
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        }
        ws
    });
    if !needs {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    in_string = false;
    escaped = false;
    for ch in raw.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            if ch == '"' {
                in_string = true;
            }
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// [`compact_json`] of one NDJSON line; a line that is not UTF-8 is kept as is.
pub fn compact_json_bytes(line: &[u8]) -> Cow<'_, [u8]> {
    match std::str::from_utf8(line) {
        Ok(s) => match compact_json(s) {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            Cow::Owned(o) => Cow::Owned(o.into_bytes()),
        },
        Err(_) => Cow::Borrowed(line),
    }
}
