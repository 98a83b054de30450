//! Credentials at rest: AES-256-GCM with a key that lives outside the store.
//!
//! A sealed credential is `version (1 byte) || nonce (12 bytes) || ciphertext || tag`. The
//! associated data binds it to its row (user, tool, name): a ciphertext copied to another
//! user's row does not open. Each row also records the key's fingerprint, so a sidecar
//! configured with another key says so instead of failing with a bare "cannot decrypt".

use std::fmt;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// Format byte of a sealed credential; a new scheme gets a new byte.
const SEALED_V1: u8 = 1;

/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;

/// The key that seals and opens stored credentials. Never printed, not even by `Debug`.
pub struct CredentialKey {
    key: LessSafeKey,
    fingerprint: String,
}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialKey(fingerprint {})", self.fingerprint)
    }
}

/// Why a credential could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The row was sealed with another key (fingerprints differ).
    #[error("it was sealed with the credentials key {sealed_with}, this sidecar has {configured}")]
    WrongKey {
        /// Fingerprint stored with the row.
        sealed_with: String,
        /// Fingerprint of the configured key.
        configured: String,
    },
    /// Same key, but the bytes do not authenticate: damaged, or moved to another row.
    #[error("it does not authenticate (damaged, or copied from another row)")]
    Corrupt,
}

impl CredentialKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Result<Self, String> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map(LessSafeKey::new)
            .map_err(|_| "the credentials key is not a valid AES-256 key".to_owned())?;
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[b"cronium-credentials-key\0".as_slice(), bytes].concat(),
        );
        let fingerprint = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { key, fingerprint })
    }

    /// Reads a key as written in a key file or variable: base64 (standard or URL-safe,
    /// padded or not) or hex of 32 bytes, or the 32 raw bytes themselves.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let trimmed = text.trim_ascii();
        let decoded = std::str::from_utf8(trimmed).ok().and_then(|s| {
            let engines = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines
                .iter()
                .find_map(|e| e.decode(s).ok().filter(|b| b.len() == KEY_LEN))
                .or_else(|| hex(s).filter(|b| b.len() == KEY_LEN))
        });
        let bytes = match decoded {
            Some(b) => b,
            None if text.len() == KEY_LEN => text.to_vec(),
            None => {
                return Err(
                    "not a 32-byte key; make one with `head -c 32 /dev/urandom | base64`".into(),
                )
            }
        };
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes);
        Self::from_bytes(&key)
    }

    /// A new random key, base64 encoded as it is written to a key file.
    pub fn generate_text() -> Result<String, String> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random generator failed".to_owned())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Short public name of the key (first 8 bytes of a domain-separated SHA-256), stored
    /// with each credential. It reveals nothing usable about the key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `plaintext` for the row named by `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "the system random generator failed".to_owned())?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| "encryption failed".to_owned())?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens a sealed credential of the row named by `aad`, sealed under `key_id`.
    pub fn open(&self, key_id: &str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if key_id != self.fingerprint {
            return Err(OpenError::WrongKey {
                sealed_with: key_id.to_owned(),
                configured: self.fingerprint.clone(),
            });
        }
        let (version, rest) = sealed.split_first().ok_or(OpenError::Corrupt)?;
        if *version != SEALED_V1 || rest.len() < NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Corrupt)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| OpenError::Corrupt)?;
        Ok(plain.to_vec())
    }
}

/// The associated data of a credential row.
pub fn row_aad(user: &str, tool: &str, name: &str) -> Vec<u8> {
    [
        b"cronium-tool-credential/v1\0".as_slice(),
        user.as_bytes(),
        b"\0",
        tool.as_bytes(),
        b"\0",
        name.as_bytes(),
    ]
    .concat()
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_bound_to_row_and_key() {
        let text = CredentialKey::generate_text().expect("random");
        let k = CredentialKey::parse(text.as_bytes()).expect("parse");
        let aad = row_aad("u", "slack", "default");
        let sealed = k.seal(&aad, b"https://hooks.example/secret").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            k.open(k.fingerprint(), &aad, &sealed).expect("open"),
            b"https://hooks.example/secret"
        );
        // Another row, a flipped bit, another key: refused.
        let other = row_aad("v", "slack", "default");
        assert_eq!(
            k.open(k.fingerprint(), &other, &sealed),
            Err(OpenError::Corrupt)
        );
        let mut bad = sealed.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 1;
        }
        assert_eq!(k.open(k.fingerprint(), &aad, &bad), Err(OpenError::Corrupt));
        let k2 = CredentialKey::from_bytes(&[7u8; KEY_LEN]).expect("key");
        assert!(matches!(
            k2.open(k.fingerprint(), &aad, &sealed),
            Err(OpenError::WrongKey { .. })
        ));
        // Two seals of one plaintext differ (fresh nonce).
        assert_ne!(
            sealed,
            k.seal(&aad, b"https://hooks.example/secret").expect("seal")
        );
    }

    #[test]
    fn key_formats() {
        let raw = [9u8; KEY_LEN];
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let hexed: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let key = CredentialKey::from_bytes(&raw).expect("key");
        let fp = key.fingerprint().to_owned();
        for text in [
            b64.as_bytes(),
            hexed.as_bytes(),
            &raw[..],
            format!("{b64}\n").as_bytes(),
        ] {
            assert_eq!(CredentialKey::parse(text).expect("parse").fingerprint(), fp);
        }
        assert!(CredentialKey::parse(b"short").is_err());
        assert!(!format!("{key:?}").contains(&b64));
    }
}
