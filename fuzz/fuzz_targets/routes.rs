//! Request routing, key and path decoding, headers and JSON bodies: arbitrary requests
//! through the real routes (an in-process sidecar on SQLite), with or without the
//! execution's valid token. No client bytes may cause a 5xx or a panic.
//!
//! Input: byte 0 chooses the method and flags, then the path up to `\n`, then a header
//! value up to `\n` (sent as `If-Match`, `Idempotency-Key` or `Accept`), then the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "GET",
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let path = parts.next().unwrap_or_default();
    let header = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    // Paths as they arrive: under /v1/ (or the compatibility /executions/) most of the time.
    let path = match flags >> 6 {
        0 => format!("/v1/{path}"),
        1 => format!("/v1/variables/{path}"),
        2 => format!("/executions/{path}"),
        _ => path.to_owned(),
    };
    cronium_fuzz::with_sidecar(|s| {
        let mut req = http::Request::builder()
            .method(METHODS[(flags & 7) as usize])
            .uri(&path);
        if flags & 8 != 0 {
            req = req.header("authorization", format!("Bearer {}", s.token));
        } else if let Ok(h) = http::HeaderValue::from_bytes(header) {
            req = req.header("authorization", h);
        }
        if flags & 16 != 0 {
            req = req.header("content-type", "application/json");
        }
        if let Ok(h) = http::HeaderValue::from_bytes(header) {
            let name = match flags & 0x20 {
                0 => "if-match",
                _ => "idempotency-key",
            };
            req = req.header(name, h);
        }
        let Ok(req) = req.body(http_body_util::Full::new(Bytes::copy_from_slice(body))) else {
            return;
        };
        cronium_fuzz::send(s, req);
    });
});
