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

/// Why a text is not one JSON value the sidecar stores: see [`check_json_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonTextError {
    /// Not UTF-8 (RFC 8259 requires it of JSON exchanged between systems); the offset of
    /// the first byte that is not.
    NotUtf8 { at: usize },
    /// Arrays and objects nested deeper than [`MAX_VALUE_DEPTH`].
    TooDeep,
    /// Not JSON: what was expected or found, and the offset where.
    Syntax { what: &'static str, at: usize },
}

/// Checks that `text` is exactly one JSON value (RFC 8259; blanks around it allowed), in
/// UTF-8, nested at most [`MAX_VALUE_DEPTH`] deep. `Ok(true)` when it has blanks between
/// tokens, which [`compact_json_bytes`] removes; `Ok(false)` when it is already compact.
///
/// One pass instead of a UTF-8 check, a depth scan, a blank scan and serde_json's
/// `IgnoredAny` parse: this is the output stream's per-record check, where those were
/// nearly nine tenths of the sidecar's instructions per streamed byte. Strings are scanned
/// eight bytes at a time; the helpers are inlined into the one loop (called, they cost a
/// quarter more).
/// Escapes are checked for their form only (`\u` and four hex digits), as serde_json
/// does: a lone surrogate escape is JSON, and each client language decides what to make
/// of it.
pub fn check_json_text(text: &[u8]) -> Result<bool, JsonTextError> {
    // UTF-8 is checked where it matters on the way (outside strings only ASCII is JSON, and
    // strings check their non-ASCII characters); which error a bad text gets is decided
    // only once it failed, so text that is not UTF-8 is always `NotUtf8`.
    json_text(text).map_err(|e| match std::str::from_utf8(text) {
        Err(u) => JsonTextError::NotUtf8 {
            at: u.valid_up_to(),
        },
        Ok(_) => e,
    })
}

fn json_text(text: &[u8]) -> Result<bool, JsonTextError> {
    let syntax = |what, at| Err(JsonTextError::Syntax { what, at });
    let n = text.len();
    let mut i = 0;
    let mut blanks = false;
    // One bit per open level, the innermost lowest: set for an object, clear for an array.
    let mut open: u128 = 0;
    let mut depth = 0usize;
    'value: loop {
        skip_blanks(text, &mut i, &mut blanks);
        let Some(&c) = text.get(i) else {
            return syntax("a value expected", i);
        };
        match c {
            b'{' | b'[' => {
                if depth == MAX_VALUE_DEPTH {
                    return Err(JsonTextError::TooDeep);
                }
                depth += 1;
                open = (open << 1) | u128::from(c == b'{');
                i += 1;
                skip_blanks(text, &mut i, &mut blanks);
                let close = if c == b'{' { b'}' } else { b']' };
                if text.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                    open >>= 1;
                } else if c == b'{' {
                    if let Err(at) = object_key(text, &mut i, &mut blanks) {
                        return syntax("a key (a string) and ':' expected", at);
                    }
                    continue 'value;
                } else {
                    continue 'value;
                }
            }
            b'"' => {
                if let Err((what, at)) = string(text, &mut i) {
                    return syntax(what, at);
                }
            }
            b't' | b'f' | b'n' => {
                // Compared as one 4-byte word (`starts_with` would call memcmp).
                let (word, len): (&[u8; 4], usize) = match c {
                    b't' => (b"true", 4),
                    b'f' => (b"alse", 5),
                    _ => (b"null", 4),
                };
                let at = i + len - 4;
                if text.get(at..at + 4) != Some(word.as_slice()) {
                    return syntax("a value expected", i);
                }
                i += len;
            }
            b'-' | b'0'..=b'9' => {
                if let Err(at) = number(text, &mut i) {
                    return syntax("a digit expected", at);
                }
            }
            _ => return syntax("a value expected", i),
        }
        // After a value: the end of its array or object, a ',' before the next one, or
        // (outside them) the end of the text.
        loop {
            skip_blanks(text, &mut i, &mut blanks);
            if depth == 0 {
                return if i == n {
                    Ok(blanks)
                } else {
                    syntax("nothing expected after the value", i)
                };
            }
            let object = open & 1 == 1;
            match text.get(i) {
                Some(b',') => {
                    i += 1;
                    if object {
                        if let Err(at) = object_key(text, &mut i, &mut blanks) {
                            return syntax("a key (a string) and ':' expected", at);
                        }
                    }
                    continue 'value;
                }
                Some(b'}') if object => {}
                Some(b']') if !object => {}
                _ if object => return syntax("',' or '}' expected", i),
                _ => return syntax("',' or ']' expected", i),
            }
            i += 1;
            depth -= 1;
            open >>= 1;
        }
    }
}

#[inline(always)]
fn skip_blanks(text: &[u8], i: &mut usize, blanks: &mut bool) {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = text.get(*i) {
        *i += 1;
        *blanks = true;
    }
}

/// An object's key and the `:` after it (blanks allowed around both); `Err` with the
/// offset where that failed.
#[inline(always)]
fn object_key(text: &[u8], i: &mut usize, blanks: &mut bool) -> Result<(), usize> {
    skip_blanks(text, i, blanks);
    if text.get(*i) != Some(&b'"') {
        return Err(*i);
    }
    string(text, i).map_err(|(_, at)| at)?;
    skip_blanks(text, i, blanks);
    if text.get(*i) != Some(&b':') {
        return Err(*i);
    }
    *i += 1;
    Ok(())
}

/// A string starting at `text[*i]` (its opening quote); leaves `*i` after its closing one.
/// The text is known to be UTF-8, so only quotes, backslashes and control characters stop
/// the scan.
#[inline(always)]
fn string(text: &[u8], i: &mut usize) -> Result<(), (&'static str, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The lowest flagged byte of each is exact (later ones may be false alarms, never read).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = |v: u64| v.wrapping_sub(ONES * 0x20) & !v & HIGH;
    let mut j = *i + 1;
    loop {
        while let Some(chunk) = text.get(j..j + 8) {
            let v = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let stop = zero(v ^ (ONES * u64::from(b'"')))
                | zero(v ^ (ONES * u64::from(b'\\')))
                | below_space(v)
                | (v & HIGH);
            if stop != 0 {
                j += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        match text.get(j) {
            Some(b'"') => {
                *i = j + 1;
                return Ok(());
            }
            Some(b'\\') => match text.get(j + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                Some(b'u') => {
                    let hex = text.get(j + 2..j + 6);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return Err(("four hex digits expected after \\u", j));
                    }
                    j += 6;
                }
                _ => return Err(("an escape expected after \\", j)),
            },
            Some(c) if *c < 0x20 => return Err(("a control character in a string", j)),
            Some(&c) if c >= 0x80 => {
                // One UTF-8 character: its lead byte says how long, std checks the rest.
                let width = match c {
                    0xC2..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    0xF0..=0xF4 => 4,
                    _ => 0,
                };
                let valid = width > 0
                    && text
                        .get(j..j + width)
                        .is_some_and(|ch| std::str::from_utf8(ch).is_ok());
                if !valid {
                    return Err(("not UTF-8", j));
                }
                j += width;
            }
            Some(_) => j += 1,
            None => return Err(("the string is not closed", j)),
        }
    }
}

/// A number starting at `text[*i]` (RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE]
/// [+-]? [0-9]+)?`); leaves `*i` after it. `Err` with the offset where a digit is missing.
#[inline(always)]
fn number(text: &[u8], i: &mut usize) -> Result<(), usize> {
    let digits = |j: &mut usize| {
        let start = *j;
        while text.get(*j).is_some_and(u8::is_ascii_digit) {
            *j += 1;
        }
        if *j == start {
            Err(start)
        } else {
            Ok(())
        }
    };
    let mut j = *i;
    if text.get(j) == Some(&b'-') {
        j += 1;
    }
    if text.get(j) == Some(&b'0') {
        j += 1;
    } else {
        digits(&mut j)?;
    }
    if text.get(j) == Some(&b'.') {
        j += 1;
        digits(&mut j)?;
    }
    if let Some(b'e' | b'E') = text.get(j) {
        j += 1;
        if let Some(b'+' | b'-') = text.get(j) {
            j += 1;
        }
        digits(&mut j)?;
    }
    *i = j;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the checks before [`check_json_text`] accepted, tightened by UTF-8: the depth
    /// limit, then serde_json's parse (which, ignoring a value, does not check its strings'
    /// UTF-8; the clients reading a record back do).
    fn reference(text: &[u8]) -> bool {
        std::str::from_utf8(text).is_ok()
            && json_depth(text) <= MAX_VALUE_DEPTH
            && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn json_texts_are_checked_as_rfc_8259_says() {
        for good in [
            "0",
            "-0.5e+10",
            "1E-2",
            "123",
            "true",
            "false",
            "null",
            "\"\"",
            "\"caf\u{e9} \\u00e9 \\ud800 \\/ \\\" \\\\ \\b\\f\\n\\r\\t\"",
            "[]",
            "{}",
            "[1,[2,{\"a\":[]}],{}]",
            "{\"a\":{\"b\":null},\"c\":\"[{\"}",
            "\"a long string that is scanned eight bytes at a time, then the rest\"",
        ] {
            assert_eq!(check_json_text(good.as_bytes()), Ok(false), "{good}");
        }
        for spaced in [" 1", "[1, 2]", "{ \"a\" : 1 }", "[\n\t1\r\n]", "{\"a\":1 }"] {
            assert_eq!(check_json_text(spaced.as_bytes()), Ok(true), "{spaced}");
        }
        for (bad, at) in [
            ("", 0),
            ("01", 1),
            ("-", 1),
            ("1.", 2),
            ("1e", 2),
            (".5", 0),
            ("+1", 0),
            ("tru", 0),
            ("nul1", 0),
            ("[1,]", 3),
            ("[1 2]", 3),
            ("{\"a\"}", 4),
            ("{\"a\":1,}", 7),
            ("{1:2}", 1),
            ("{\"a\":1]", 6),
            ("[1}", 2),
            ("\"abc", 4),
            ("\"a\tb\"", 2),
            ("\"\\x\"", 1),
            ("\"\\u12G4\"", 1),
            ("1 2", 2),
            ("[]]", 2),
            ("{\"a\":'b'}", 5),
            ("NaN", 0),
        ] {
            match check_json_text(bad.as_bytes()) {
                Err(JsonTextError::Syntax { at: got, .. }) => assert_eq!(got, at, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // Not UTF-8 wherever it is (in a string, outside one, overlong, cut short), and
        // whatever else is wrong with the text.
        for (bad, at) in [
            (&b"[\"\xff\"]"[..], 2),
            (b"\xff", 0),
            (b"[1,\xc3\xa9,\"\xc0\x80\"]", 7),
            (b"\"\xed\xa0\x80\"", 1),
            (b"\"ok \xe2\x82", 4),
            (b"{\"a\":1} \xfe", 8),
        ] {
            assert_eq!(
                check_json_text(bad),
                Err(JsonTextError::NotUtf8 { at }),
                "{bad:?}"
            );
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_json_text(deep(MAX_VALUE_DEPTH).as_bytes()), Ok(false));
        assert!(
            reference(deep(MAX_VALUE_DEPTH).as_bytes()),
            "the limit is serde_json's too"
        );
        assert_eq!(
            check_json_text(deep(MAX_VALUE_DEPTH + 1).as_bytes()),
            Err(JsonTextError::TooDeep)
        );
    }

    /// The one-pass check accepts exactly what the three checks it replaced accepted (on
    /// UTF-8), over texts mutated from valid ones: bytes changed, cut, doubled, moved.
    #[test]
    fn the_one_pass_check_agrees_with_serde_json() {
        let seeds: [&[u8]; 6] = [
            br#"{"i":1,"event":"order","ok":true,"payload":"abcdefghijklmnopqrstuvwxyz0123456789"}"#,
            br#"[1,-2.5e3,0,"a\"b\\c\u00e9",null,false,{"k":[[]]}]"#,
            b" { \"a b\" : [ 1 , 2 ] , \"c\" : { } } ",
            "\"caf\u{e9} \u{1f600}\"".as_bytes(),
            b"-0.0E+00",
            b"[[[[[[[[{\"x\":[[[[]]]]}]]]]]]]]",
        ];
        const ALPHABET: &[u8] = b"{}[]\",:\\ \t\n0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for round in 0..60_000 {
            let mut text = seeds[round % seeds.len()].to_vec();
            for _ in 0..=(next() % 3) {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 4 {
                    0 if at < text.len() => text[at] = ALPHABET[next() as usize % ALPHABET.len()],
                    1 => text.insert(at, ALPHABET[next() as usize % ALPHABET.len()]),
                    2 if at < text.len() => {
                        text.remove(at);
                    }
                    _ => text.truncate(at),
                }
            }
            let ours = check_json_text(&text);
            assert_eq!(
                ours.is_ok(),
                reference(&text),
                "{:?}: {ours:?}",
                String::from_utf8_lossy(&text)
            );
            if let Ok(blanks) = ours {
                accepted += 1;
                let compact = compact_json_bytes(&text);
                assert_eq!(blanks, compact.len() != text.len(), "{text:?}");
            }
        }
        assert!(
            accepted > 1_000,
            "too few valid texts generated: {accepted}"
        );
    }
}
