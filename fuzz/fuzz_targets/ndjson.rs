//! The client's NDJSON splitter and its server-sent-events parser, fed arbitrary bytes
//! cut at arbitrary places: the same lines and events whatever the chunking.
//!
//! Input: byte 0 is how many cut bytes follow (mod 16); the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n as usize % 16).min(rest.len());
    let (cuts, stream) = rest.split_at(n);
    cronium_client::fuzzing::ndjson(stream, cuts);
    cronium_client::fuzzing::sse(stream, cuts);
});
