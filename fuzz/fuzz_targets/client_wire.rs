//! The blocking transport's HTTP/1.1 response parsing (what answers on the sidecar's port,
//! beyond loopback possibly anyone): the head parser and the chunked decoder, with the
//! body cut at arbitrary places.
//!
//! Input: byte 0 is how many cut bytes follow (mod 16); the rest is the response.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n as usize % 16).min(rest.len());
    let (cuts, bytes) = rest.split_at(n);
    cronium_client::fuzzing::response(bytes, cuts);
});
