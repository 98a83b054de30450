//! JSON value handling with depth limits, as the sidecar applies it to bodies: the depth
//! measure, the depth check, parsing, compaction (which must keep the value exactly), and
//! the output stream's one-pass record check, which must accept exactly what serde_json
//! does within the depth limit, on UTF-8.
#![no_main]

use cronium_server::body::{
    check_depth, check_json_text, compact_json, compact_json_bytes, json_depth, parse_json,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let depth = json_depth(data);
    let checked = check_depth(data, 0);
    let parsed = parse_json::<serde_json::Value>(data);
    let record = check_json_text(data);
    let reference = std::str::from_utf8(data).is_ok()
        && depth <= cronium_server::body::MAX_VALUE_DEPTH
        && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    assert_eq!(record.is_ok(), reference, "check_json_text: {record:?}");
    if let Ok(blanks) = record {
        assert_eq!(blanks, compact_json_bytes(data).len() != data.len());
    }
    if checked.is_ok() {
        if let Ok(v) = &parsed {
            // What passes both checks is a value the sidecar stores and shows again:
            // compaction keeps it exactly, whichever entry point compacts it.
            let text = std::str::from_utf8(data).expect("parsed JSON is UTF-8");
            let compact = compact_json(text);
            let again: serde_json::Value =
                serde_json::from_str(&compact).expect("compacted JSON parses");
            assert_eq!(&again, v, "compaction changed the value");
            let compact_b = compact_json_bytes(data);
            assert_eq!(&compact_b[..], compact.as_bytes());
            assert!(json_depth(compact.as_bytes()) == depth);
        }
    }
});
