//! HTTP/1.1 response framing for the blocking transport ([`crate::direct`]): the response
//! head (parsed with `httparse`) and the body's framing (`Content-Length`, chunked, or
//! until the connection closes).
//!
//! Pure functions over byte buffers, so every way a response can be split across reads
//! is testable without a socket.

use std::mem::MaybeUninit;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// Headers a response head may have; the sidecar sends about six.
const MAX_HEADERS: usize = 64;

/// Longest chunk-size line (with extensions) accepted before giving up.
const MAX_CHUNK_LINE: usize = 4096;

/// Longest trailer section accepted after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// A response that breaks HTTP/1.1 framing; the connection cannot be used any more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WireError(pub(crate) String);

impl WireError {
    fn new(message: impl Into<String>) -> WireError {
        WireError(message.into())
    }
}

/// How the body of a response ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body at all (1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    /// Bytes of the head, blank line included: the body starts here.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    /// The connection may carry another request after this response.
    pub(crate) keep_alive: bool,
    /// The headers, kept only for non-2xx answers (the error mapping reads
    /// `Retry-After` and `x-request-id`); a success does not pay for a `HeaderMap`.
    pub(crate) headers: Option<HeaderMap>,
}

/// Parses a response head from the start of `buf`: `Ok(None)` while it is incomplete.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<Head>, WireError> {
    // Uninitialised slots: nothing to clear before each parse.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(WireError::new(format!("invalid HTTP response head: {e}"))),
    };
    let code = resp.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| WireError::new(format!("invalid HTTP status {code}")))?;
    let http11 = resp.version == Some(1);

    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut has_transfer_encoding = false;
    let mut close = !http11;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(h.value)?;
            if length.is_some_and(|l| l != n) {
                return Err(WireError::new("conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            has_transfer_encoding = true;
            // Only the last coding decides whether the body is chunked.
            chunked = last_token(h.value).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    close = false;
                }
            }
        }
    }

    let framing = if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else if has_transfer_encoding {
        if chunked {
            // With both, Transfer-Encoding wins and the length is ignored (RFC 9112 6.3);
            // such a message is suspicious, so the connection is not reused.
            if length.is_some() {
                close = true;
            }
            Framing::Chunked
        } else {
            close = true;
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::UntilClose
    };

    let headers = if status.is_success() || status.is_informational() {
        None
    } else {
        let mut map = HeaderMap::with_capacity(resp.headers.len());
        for h in resp.headers.iter() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_bytes(h.value),
            ) {
                map.append(name, value);
            }
        }
        Some(map)
    };

    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive: !close,
        headers,
    }))
}

fn parse_length(value: &[u8]) -> Result<u64, WireError> {
    let bad = || WireError::new("invalid Content-Length header");
    // The usual case: one plain number.
    if !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit) {
        return Ok(value
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')));
    }
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    // A list of identical values is tolerated (RFC 9110 8.6).
    let mut result = None;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = part.parse().map_err(|_| bad())?;
        if result.is_some_and(|r| r != n) {
            return Err(bad());
        }
        result = Some(n);
    }
    result.ok_or_else(bad)
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

fn last_token(value: &[u8]) -> Option<&[u8]> {
    tokens(value).last()
}

/// Incremental decoder of a chunked body: feed it whatever arrived, it appends the data
/// to `out` and says how much of the input it consumed; the rest must be fed again with
/// more bytes after it.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data, this many bytes to go.
    Data(u64),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

impl Chunked {
    /// Whether the whole body (last chunk and trailers) has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes as much of `input` as possible; returns the bytes consumed.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, WireError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                ChunkState::Done => return Ok(pos),
                ChunkState::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        pos += used;
                        self.state = if size == 0 {
                            ChunkState::Trailers
                        } else {
                            ChunkState::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        if rest.len() > MAX_CHUNK_LINE {
                            return Err(WireError::new("chunk size line too long"));
                        }
                        return Ok(pos);
                    }
                    Err(_) => return Err(WireError::new("invalid chunk size")),
                },
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
                    out.extend_from_slice(&rest[..take]);
                    pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|&b| b != b'\r') {
                            return Err(WireError::new("chunk data not followed by CRLF"));
                        }
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(WireError::new("chunk data not followed by CRLF"));
                    }
                    pos += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if self.trailer_bytes + rest.len() > MAX_TRAILERS {
                            return Err(WireError::new("chunked trailers too long"));
                        }
                        return Ok(pos);
                    };
                    pos += end + 2;
                    self.trailer_bytes += end + 2;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(WireError::new("chunked trailers too long"));
                    }
                    if end == 0 {
                        self.state = ChunkState::Done;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes())
            .expect("valid")
            .expect("complete")
    }

    #[test]
    fn content_length_head() {
        let text = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 12\r\n\r\n{\"data\":42}\n";
        let h = head(text);
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.framing, Framing::Length(12));
        assert!(h.keep_alive);
        assert!(h.headers.is_none(), "no header map for a success");
        assert_eq!(&text[h.len..], "{\"data\":42}\n");
    }

    #[test]
    fn head_split_anywhere_is_partial_until_complete() {
        let text = b"HTTP/1.1 404 Not Found\r\nx-request-id: r-1\r\nretry-after: 3\r\ncontent-length: 2\r\n\r\n{}";
        let head_len = text.len() - 2;
        for cut in 0..head_len {
            assert!(
                parse_head(&text[..cut]).expect("valid prefix").is_none(),
                "cut at {cut}"
            );
        }
        let h = parse_head(&text[..head_len])
            .expect("valid")
            .expect("complete");
        assert_eq!(h.len, head_len);
        let headers = h.headers.expect("kept for an error");
        assert_eq!(headers["x-request-id"], "r-1");
        assert_eq!(headers["retry-after"], "3");
    }

    #[test]
    fn framing_rules() {
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head("HTTP/1.1 204 No Content\r\ncontent-length: 7\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        let h = head("HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h = head("HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(0), false));
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert!(!h.keep_alive, "HTTP/1.0 closes by default");
        let h = head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(3));
    }

    #[test]
    fn malformed_heads_are_errors() {
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 3, 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "SMTP ready\r\n\r\n",
            "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("x-{i}: v\r\n"))
            .collect();
        let text = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(parse_head(text.as_bytes()).is_err(), "too many headers");
    }

    fn decode_all(chunks: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), WireError> {
        // Feeds the pieces one after the other, keeping unconsumed bytes, as the transport
        // does with its read buffer.
        let mut dec = Chunked::default();
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            pending.extend_from_slice(chunk);
            let used = dec.decode(&pending, &mut out)?;
            pending.drain(..used);
        }
        Ok((out, dec.is_done(), pending))
    }

    #[test]
    fn chunked_body_survives_any_split() {
        let wire: &[u8] =
            b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\nNEXT";
        let (out, done, rest) = decode_all(&[wire]).expect("decode");
        assert_eq!(out, b"hello 0123456789");
        assert!(done);
        assert_eq!(rest, b"NEXT", "bytes after the body are left alone");
        for cut in 0..wire.len() {
            let (out, done, rest) = decode_all(&[&wire[..cut], &wire[cut..]]).expect("decode");
            assert_eq!(out, b"hello 0123456789", "cut at {cut}");
            assert!(done, "cut at {cut}");
            assert_eq!(rest, b"NEXT");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        let (out, done, _) = decode_all(&bytes).expect("decode");
        assert_eq!((out.as_slice(), done), (&b"hello 0123456789"[..], true));
    }

    #[test]
    fn chunked_body_incomplete_is_not_done() {
        let (out, done, _) = decode_all(&[b"5\r\nhel"]).expect("decode");
        assert_eq!((out.as_slice(), done), (&b"hel"[..], false));
        let (_, done, _) = decode_all(&[b"0\r\n"]).expect("decode");
        assert!(!done, "the final CRLF is missing");
        let (out, done, _) = decode_all(&[b"0\r\n\r\n"]).expect("decode");
        assert!(out.is_empty() && done);
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        assert!(decode_all(&[b"zz\r\n"]).is_err());
        assert!(decode_all(&[b"3\r\nabcX\r\n"]).is_err());
        assert!(decode_all(&[b"3\r\nabc", b"X"]).is_err());
        assert!(
            decode_all(&[b"11111111111111111\r\n"]).is_err(),
            "size overflow"
        );
        let long = vec![b'1'; 1]
            .into_iter()
            .chain(std::iter::repeat_n(b' ', MAX_CHUNK_LINE + 1))
            .collect::<Vec<_>>();
        assert!(decode_all(&[&long]).is_err(), "endless chunk-size line");
    }
}
