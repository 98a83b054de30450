//! The sidecar's NDJSON stream framer (`POST /v1/output/stream`): arbitrary bytes, cut
//! into arbitrary body frames, with a valid token. Never a 5xx or a panic; whatever the
//! framing, the answer is a JSON summary or a JSON error.
//!
//! Input: byte 0 is how many cut bytes follow (mod 16); they say where the body is cut.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n as usize % 16).min(rest.len());
    let (cuts, body) = rest.split_at(n);
    let mut pieces = Vec::new();
    let mut left = body;
    for &c in cuts {
        if left.is_empty() {
            break;
        }
        let k = (c as usize % left.len()) + 1;
        let (a, b) = left.split_at(k);
        pieces.push(Bytes::copy_from_slice(a));
        left = b;
    }
    if !left.is_empty() {
        pieces.push(Bytes::copy_from_slice(left));
    }
    cronium_fuzz::with_sidecar(|s| {
        let req = http::Request::builder()
            .method("POST")
            .uri("/v1/output/stream")
            .header("authorization", format!("Bearer {}", s.token))
            .header("content-type", "application/x-ndjson")
            .body(cronium_fuzz::chunked_body(pieces))
            .expect("request");
        cronium_fuzz::send(s, req);
    });
});
