//! The variable key rule, shared by the server (which refuses a bad key with
//! `400 invalid_key`) and the client (which refuses it before any I/O).

use std::fmt;

/// Longest key, in bytes.
pub const KEY_MAX_BYTES: usize = 256;

/// The rule in words, for messages.
pub const KEY_RULE: &str = "a variable key is 1 to 256 characters of A-Z a-z 0-9 _ . : -";

/// A key that breaks the rule; its `Display` quotes at most 64 characters of it, so a
/// huge key cannot blow up a message or a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidKey {
    shown: String,
    cut: bool,
    len: usize,
}

impl InvalidKey {
    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the key was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for InvalidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ellipsis = if self.cut { "..." } else { "" };
        write!(
            f,
            "invalid variable key {:?}{ellipsis}: a key is 1-256 bytes of [A-Za-z0-9_.:-] ({} bytes given)",
            self.shown, self.len
        )
    }
}

impl std::error::Error for InvalidKey {}

/// Whether a byte may appear in a key.
pub fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

/// Checks a variable key: 1–256 bytes of `[A-Za-z0-9_.:-]`.
///
/// Keys that are only dots (`.`, `..`) are valid; a client must percent-encode them in a
/// path so they are not read as path navigation.
pub fn validate_key(key: &str) -> Result<(), InvalidKey> {
    if !key.is_empty() && key.len() <= KEY_MAX_BYTES && key.bytes().all(is_key_byte) {
        return Ok(());
    }
    let shown: String = key.chars().take(64).collect();
    Err(InvalidKey {
        cut: shown.len() < key.len(),
        shown,
        len: key.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        for good in ["a", "orders.seen", "x:y-z_1", "..", &"k".repeat(256)] {
            assert_eq!(validate_key(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "a/b", "é", "a\0", &"k".repeat(257)] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_message_is_bounded() {
        let err = validate_key(&"x".repeat(1000)).expect_err("too long");
        assert_eq!(err.len(), 1000);
        let text = err.to_string();
        assert!(text.len() < 200, "{text}");
        assert!(
            text.contains("...") && text.contains("1000 bytes"),
            "{text}"
        );
    }
}
