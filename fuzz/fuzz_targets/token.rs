//! The token parser and verifier: arbitrary `Authorization` values and arbitrary tokens,
//! and arbitrary claims correctly signed with the trusted key (so the checks behind the
//! signature are reached). Never a panic; a token is accepted only when its claims are
//! well-formed and current.
//!
//! Input: byte 0 chooses the mode; the rest is the header, the token, or the claims JSON.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use cronium_server::auth::{bearer_token, token_text, Authenticator};
use libfuzzer_sys::fuzz_target;

fn auth() -> &'static Authenticator {
    static A: OnceLock<Authenticator> = OnceLock::new();
    A.get_or_init(|| {
        let dir = std::env::temp_dir();
        Authenticator::new(cronium_fuzz::core_config(&dir).auth).expect("authenticator")
    })
}

/// `header.claims.signature`, signed HS256 with the fuzzing secret.
fn sign(header: &[u8], claims: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!("{}.{}", b64.encode(header), b64.encode(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, cronium_fuzz::SECRET);
    let tag = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64.encode(tag.as_ref()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let a = auth();
    match mode % 4 {
        0 => {
            // Any header value: the token it carries is text only if every byte is visible
            // ASCII (the 8-byte-step check against the byte-by-byte rule).
            if let Ok(token) = bearer_token(Some(rest)) {
                let text = token_text(token);
                assert_eq!(
                    text.is_ok(),
                    token.iter().all(u8::is_ascii_graphic),
                    "token_text disagrees with the visible-ASCII rule"
                );
                if let Ok(text) = text {
                    let _ = a.verify(text);
                }
            }
        }
        1 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                let _ = a.verify(token);
            }
        }
        2 => {
            // Claims signed correctly: only the claim checks stand in the way.
            let token = sign(br#"{"alg":"HS256","typ":"JWT","kid":"default"}"#, rest);
            if let Ok(p) = a.verify(&token) {
                // Accepted claims are a JSON object that names the execution and its user.
                let claims: serde_json::Value =
                    serde_json::from_slice(rest).expect("accepted claims are JSON");
                assert!(claims.is_object(), "accepted non-object claims");
                assert!(
                    !p.execution_id.is_empty(),
                    "accepted without an execution id"
                );
                assert!(!p.user_id.is_empty(), "accepted without a user");
            }
        }
        _ => {
            // A header chosen by the input (alg, kid, crit...), valid claims.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let claims = format!(
                r#"{{"iss":"cronium","aud":"cronium-runtime","sub":"e1","execution_id":"e1","user_id":"u","iat":{now},"exp":{}}}"#,
                now + 600
            );
            let token = sign(rest, claims.as_bytes());
            let _ = a.verify(&token);
        }
    }
});
