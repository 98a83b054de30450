//! Entry points for the fuzz targets (`fuzz/`): the parsers of what the sidecar (or
//! whoever answers on its port) sends back, driven with arbitrary bytes split at
//! arbitrary places, with the invariants the client relies on checked. Not part of the
//! API: hidden from the docs and free to change.

use bytes::Bytes;

use crate::stream::{NdjsonSplitter, SseParser};
use crate::wire::{parse_head, Chunked};

/// Splits `data` into chunks at the offsets `cuts` names (each taken modulo what is
/// left), the way a socket may deliver it.
fn chunks<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for &c in cuts {
        if rest.is_empty() {
            break;
        }
        let n = (c as usize % rest.len()) + 1;
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The NDJSON splitter: whatever the chunking, it yields exactly the non-blank lines of
/// the whole input (trailing `\r` removed), in order.
pub fn ndjson(data: &[u8], cuts: &[u8]) {
    let mut splitter = NdjsonSplitter::default();
    let mut got = Vec::new();
    for chunk in chunks(data, cuts) {
        splitter.push(Bytes::copy_from_slice(chunk));
        while let Some(line) = splitter.next_line() {
            got.push(line);
        }
    }
    got.extend(splitter.finish());
    let expected: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    assert_eq!(got.len(), expected.len(), "line count");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(&g[..], *e);
    }
}

/// The SSE parser: the same events whatever the chunking.
pub fn sse(data: &[u8], cuts: &[u8]) {
    let mut whole = SseParser::default();
    let expected = whole.feed(data);
    let mut split = SseParser::default();
    let mut got = Vec::new();
    for chunk in chunks(data, cuts) {
        got.extend(split.feed(chunk));
    }
    assert_eq!(got, expected);
    assert_eq!(split.retry(), whole.retry());
    assert_eq!(split.last_event_id(), whole.last_event_id());
}

/// The blocking transport's response head parser and chunked decoder: never a panic; a
/// head it accepts lies within the input; chunked decoding gives the same body whatever
/// the chunking.
pub fn response(data: &[u8], cuts: &[u8]) {
    if let Ok(Some(head)) = parse_head(data) {
        assert!(head.len <= data.len());
    }
    let mut whole = Chunked::default();
    let mut expected = Vec::new();
    let whole_result = whole.decode(data, &mut expected);
    // Fed piecewise, the unconsumed rest carried over as the transport does.
    let mut split = Chunked::default();
    let mut got = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut failed = false;
    for chunk in chunks(data, cuts) {
        pending.extend_from_slice(chunk);
        match split.decode(&pending, &mut got) {
            Ok(used) => {
                assert!(used <= pending.len());
                pending.drain(..used);
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    // A body that decodes whole must decode the same however it arrives.
    if whole_result.is_ok() && whole.is_done() {
        assert!(!failed, "a valid chunked body failed when split");
        assert!(split.is_done());
        assert_eq!(got, expected);
    }
}
