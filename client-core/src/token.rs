//! The execution token: the cached `Authorization` header and when to refresh it.
//!
//! The client reads `exp`/`iat` from the JWT payload without verifying it (that is the
//! server's job) only to know when to ask for a fresh one, so a long script never hits
//! `token_expired`.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderValue;
use serde::Deserialize;

/// `exp` and `iat` of a token, in Unix seconds, when it is a JWT that has them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) exp: Option<u64>,
    pub(crate) iat: Option<u64>,
}

/// Reads the payload of a JWT (`header.payload.signature`, base64url JSON). Anything
/// that is not such a token gives `None`: an opaque token is simply never refreshed.
pub(crate) fn decode_claims(token: &str) -> Option<Claims> {
    #[derive(Deserialize)]
    struct Raw {
        exp: Option<f64>,
        iat: Option<f64>,
    }
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let payload = payload.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let raw: Raw = serde_json::from_slice(&bytes).ok()?;
    let secs = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64);
    Some(Claims {
        exp: secs(raw.exp),
        iat: secs(raw.iat),
    })
}

/// Seconds before `exp` at which a token is refreshed: `max(30 s, lifetime / 5)`, but
/// never more than half the lifetime, so a short-lived token is not refreshed on every
/// call.
pub(crate) fn refresh_margin(claims: Claims) -> Option<u64> {
    let exp = claims.exp?;
    let margin = match claims.iat {
        Some(iat) if iat < exp => {
            let lifetime = exp - iat;
            (lifetime / 5).max(30).min(lifetime / 2)
        }
        _ => 30,
    };
    Some(margin)
}

/// Longest token file read: a token is a few hundred bytes.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// The token a token file holds (see [`crate::config::ENV_TOKEN_FILE`]), trimmed; `None`
/// when the file cannot be read or holds nothing. Why it failed is not reported: the
/// token in hand is used instead, and the server says if that one is no longer good.
pub(crate) fn read_token_file(path: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)
        .ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One token as used on the wire.
pub(crate) struct TokenState {
    /// `Bearer <token>`, marked sensitive so hyper never logs or indexes it.
    pub(crate) header: HeaderValue,
    pub(crate) exp: Option<u64>,
    /// Unix second from which a refresh is attempted; `None` means never.
    pub(crate) refresh_at: Option<u64>,
}

impl TokenState {
    /// Builds the header for a token; `None` when the token cannot be a header value.
    pub(crate) fn new(token: &str) -> Option<TokenState> {
        let mut header =
            HeaderValue::from_maybe_shared(bytes::Bytes::from(format!("Bearer {token}"))).ok()?;
        header.set_sensitive(true);
        let claims = decode_claims(token).unwrap_or_default();
        let refresh_at = match (claims.exp, refresh_margin(claims)) {
            (Some(exp), Some(margin)) => Some(exp.saturating_sub(margin)),
            _ => None,
        };
        Some(TokenState {
            header,
            exp: claims.exp,
            refresh_at,
        })
    }

    pub(crate) fn needs_refresh(&self, now: u64) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }

    pub(crate) fn is_valid(&self, now: u64) -> bool {
        self.exp.is_none_or(|exp| now < exp)
    }

    /// The token in the token file at `path` when it should replace this one at `now`: a
    /// different token, still valid, that expires later. `None` otherwise, and when
    /// the file cannot be read.
    pub(crate) fn newer_in_file(&self, path: &Path, now: u64) -> Option<TokenState> {
        let fresh = TokenState::new(&read_token_file(path)?)?;
        let later = match (self.exp, fresh.exp) {
            (Some(old), Some(new)) => new > old,
            _ => true,
        };
        (fresh.header != self.header && fresh.is_valid(now) && later).then_some(fresh)
    }

    /// The same token with the next refresh attempt moved to `at` (after a failure).
    pub(crate) fn postponed(&self, at: Option<u64>) -> TokenState {
        TokenState {
            header: self.header.clone(),
            exp: self.exp,
            refresh_at: at,
        }
    }
}

impl fmt::Debug for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenState")
            .field("token", &"<redacted>")
            .field("exp", &self.exp)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// The current token, swapped atomically on refresh; `refresh_lock` serialises refreshes
/// so concurrent callers near expiry send one refresh request, not one each.
#[derive(Debug)]
pub(crate) struct TokenCell {
    current: RwLock<Arc<TokenState>>,
    pub(crate) refresh_lock: tokio::sync::Mutex<()>,
}

impl TokenCell {
    pub(crate) fn new(state: TokenState) -> TokenCell {
        TokenCell {
            current: RwLock::new(Arc::new(state)),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn current(&self) -> Arc<TokenState> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(crate) fn replace(&self, state: TokenState) {
        let state = Arc::new(state);
        match self.current.write() {
            Ok(mut guard) => *guard = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(r#"{"alg":"HS256"}"#), enc(payload))
    }

    #[test]
    fn claims_are_decoded() {
        let t = jwt(r#"{"exp":2000,"iat":1000,"executionId":"e"}"#);
        assert_eq!(
            decode_claims(&t),
            Some(Claims {
                exp: Some(2000),
                iat: Some(1000)
            })
        );
        assert_eq!(decode_claims("opaque-token"), None);
        assert_eq!(decode_claims("a.!!!.c"), None);
        assert_eq!(
            decode_claims(&jwt(r#"{"sub":"x"}"#)),
            Some(Claims {
                exp: None,
                iat: None
            })
        );
    }

    #[test]
    fn refresh_margin_follows_lifetime() {
        // One hour: a fifth (720 s) beats 30 s.
        let c = Claims {
            exp: Some(3600),
            iat: Some(0),
        };
        assert_eq!(refresh_margin(c), Some(720));
        // Two minutes: 30 s beats a fifth (24 s).
        let c = Claims {
            exp: Some(120),
            iat: Some(0),
        };
        assert_eq!(refresh_margin(c), Some(30));
        // Twenty seconds: capped at half the lifetime.
        let c = Claims {
            exp: Some(20),
            iat: Some(0),
        };
        assert_eq!(refresh_margin(c), Some(10));
        // No iat: 30 s.
        let c = Claims {
            exp: Some(100),
            iat: None,
        };
        assert_eq!(refresh_margin(c), Some(30));
        assert_eq!(refresh_margin(Claims::default()), None);
    }

    #[test]
    fn state_knows_when_to_refresh() {
        let s = TokenState::new(&jwt(r#"{"exp":3600,"iat":0}"#)).expect("state");
        assert_eq!(s.refresh_at, Some(2880));
        assert!(!s.needs_refresh(2879));
        assert!(s.needs_refresh(2880));
        assert!(s.is_valid(3599));
        assert!(!s.is_valid(3600));
        assert!(s.header.is_sensitive());
        let opaque = TokenState::new("opaque").expect("state");
        assert!(!opaque.needs_refresh(u64::MAX));
        assert!(opaque.is_valid(u64::MAX));
        assert!(TokenState::new("bad\ntoken").is_none());
    }

    #[test]
    fn a_token_file_replaces_the_token_only_with_a_newer_valid_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        let held = TokenState::new(&jwt(r#"{"exp":1000,"iat":700}"#)).expect("state");
        let newer = jwt(r#"{"exp":1300,"iat":1000}"#);
        // No file, an empty one, the same token: nothing to take.
        assert!(held.newer_in_file(&file, 990).is_none());
        std::fs::write(&file, " \n").expect("write");
        assert!(held.newer_in_file(&file, 990).is_none());
        std::fs::write(&file, jwt(r#"{"exp":1000,"iat":700}"#)).expect("write");
        assert!(held.newer_in_file(&file, 990).is_none());
        // A token expiring sooner, or already expired: kept out.
        std::fs::write(&file, jwt(r#"{"exp":900,"iat":600}"#)).expect("write");
        assert!(held.newer_in_file(&file, 800).is_none());
        std::fs::write(&file, &newer).expect("write");
        assert!(held.newer_in_file(&file, 1300).is_none());
        // A newer one, read with its line end, even after the held token expired.
        std::fs::write(&file, format!("{newer}\n")).expect("write");
        let taken = held.newer_in_file(&file, 1100).expect("taken");
        assert_eq!(taken.exp, Some(1300));
        assert_eq!(
            taken.header.to_str().expect("ascii"),
            format!("Bearer {newer}")
        );
        // Not a header value: kept out.
        std::fs::write(&file, "bad\ntoken").expect("write");
        assert!(held.newer_in_file(&file, 990).is_none());
    }

    #[test]
    fn debug_hides_the_token() {
        let s = TokenState::new("secret-value").expect("state");
        assert!(!format!("{s:?}").contains("secret-value"));
        let cell = TokenCell::new(s);
        assert!(!format!("{cell:?}").contains("secret-value"));
    }
}
