//! The one error type of the client.
//!
//! Every binding maps this to its language's idiom (a Python exception class per
//! [`ErrorKind`], a Node `Error` with `code`, a numeric C code plus a message), so the
//! shape is deliberately flat: a coarse kind for dispatch, a stable snake_case code for
//! programs, the HTTP status when the server answered, and a human message. Nothing in
//! it ever carries the execution token.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Coarse class of an [`Error`], the thing a binding maps to an exception class.
///
/// Kinds are few and stable; finer distinctions live in [`Error::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is missing, invalid or expired (401), or lacks the scope (403).
    Auth,
    /// The thing asked for does not exist (404), e.g. `route_not_found`.
    NotFound,
    /// A compare-and-set lost (409 `version_conflict`).
    Conflict,
    /// The request was rejected as malformed (400, 413, 415) or failed client-side
    /// checks (`invalid_key`, an unserialisable value).
    Validation,
    /// The server asked to slow down (429); see [`Error::retry_after`].
    RateLimited,
    /// The server or its storage is unreachable or overloaded (503, connection errors).
    Unavailable,
    /// The call did not finish within the configured timeout.
    Timeout,
    /// A tool action failed (server codes starting with `tool_`).
    ToolAction,
    /// The client is not configured (environment variables missing or invalid), or is
    /// used from the wrong context.
    Config,
    /// The server answered something this client does not understand.
    Protocol,
    /// A bug on the server (500) or an unexpected status.
    Internal,
}

impl ErrorKind {
    /// Stable snake_case name of the kind, for bindings that expose it as a string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Validation => "validation",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ToolAction => "tool_action",
            ErrorKind::Config => "config",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from any operation of the client.
///
/// `Clone` so a stream can report the same failure on every later call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    code: String,
    status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
    request_id: Option<String>,
}

impl Error {
    /// Builds an error; bindings use this to report their own conversion failures with
    /// the same shape as the client's errors.
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind,
            code: code.into(),
            status: None,
            message: message.into(),
            retry_after: None,
            request_id: None,
        }
    }

    /// The coarse class, for mapping to exception classes.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Stable snake_case code: the server's `error.code` when it answered, else a client
    /// code (`not_configured`, `connection_failed`, `timeout`, `invalid_key`,
    /// `invalid_json`, `invalid_ndjson`, `protocol_error`, `runtime_context`, ...).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The HTTP status when the server answered, `None` for client-side failures.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Human-readable explanation (never contains the token).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying the same call again later may succeed (rate limits, unavailable
    /// storage, connection failures, timeouts). The client already retried idempotent
    /// calls before returning; this tells the caller whether its own retry makes sense.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
        ) || matches!(self.status, Some(429 | 502 | 503 | 504))
    }

    /// How long the server asked to wait (from `Retry-After` on a 429/503).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The server's `x-request-id` for this failure, to find it in the sidecar's logs.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    // ----- constructors for client-side failures -------------------------------------

    pub(crate) fn not_configured(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, "not_configured", message)
    }

    pub(crate) fn invalid_key(key: &str) -> Self {
        let shown: String = key.chars().take(64).collect();
        let ellipsis = if shown.len() < key.len() { "..." } else { "" };
        Error::new(
            ErrorKind::Validation,
            "invalid_key",
            format!(
                "invalid variable key {shown:?}{ellipsis}: a key is 1-256 bytes of [A-Za-z0-9_.:-] ({} bytes given)",
                key.len()
            ),
        )
    }

    pub(crate) fn connection(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, "connection_failed", message)
    }

    pub(crate) fn timeout(after: Duration) -> Self {
        Error::new(
            ErrorKind::Timeout,
            "timeout",
            format!("no answer from the runtime within {after:?}"),
        )
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, "protocol_error", message)
    }

    /// A value the caller gave could not be serialised to JSON.
    pub(crate) fn unserialisable(err: &serde_json::Error) -> Self {
        Error::new(
            ErrorKind::Validation,
            "invalid_json",
            format!("value cannot be serialised to JSON: {err}"),
        )
    }

    /// A response body did not have the expected JSON shape.
    pub(crate) fn bad_response(what: &str, err: &serde_json::Error) -> Self {
        Error::new(
            ErrorKind::Protocol,
            "invalid_json",
            format!("unexpected answer to {what}: {err}"),
        )
    }

    pub(crate) fn runtime_context(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, "runtime_context", message)
    }

    /// Maps a hyper failure (connection reset, closed before the answer, ...).
    pub(crate) fn from_hyper(err: &hyper::Error) -> Self {
        let mut message = format!("connection to the runtime failed: {err}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::connection(message)
    }

    /// Maps a non-success answer: the server's `{"error":{"code","message"}}` when it sent
    /// one, else a code derived from the status.
    pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            code: String,
            #[serde(default)]
            message: String,
        }

        let (code, message) = match serde_json::from_slice::<Body>(body) {
            Ok(Body { error }) => (error.code, error.message),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let message = if text.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("unexpected status")
                        .to_owned()
                } else {
                    let mut t: String = text.chars().take(300).collect();
                    if t.len() < text.len() {
                        t.push_str("...");
                    }
                    t
                };
                (default_code(status), message)
            }
        };
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Error {
            kind: kind_for(status.as_u16(), &code),
            code,
            status: Some(status.as_u16()),
            message,
            retry_after,
            request_id,
        }
    }
}

fn default_code(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "bad_request".into(),
        401 => "unauthorized".into(),
        403 => "forbidden".into(),
        404 => "not_found".into(),
        405 => "method_not_allowed".into(),
        409 => "conflict".into(),
        413 => "body_too_large".into(),
        415 => "unsupported_media_type".into(),
        429 => "rate_limited".into(),
        500 => "internal".into(),
        503 => "unavailable".into(),
        s => format!("http_{s}"),
    }
}

/// The kind for a status and server code; tool failures win over the status so a tool
/// that fails with 502 is still a tool error.
pub(crate) fn kind_for(status: u16, code: &str) -> ErrorKind {
    if code.starts_with("tool_") {
        return ErrorKind::ToolAction;
    }
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited,
        408 | 504 => ErrorKind::Timeout,
        502 | 503 => ErrorKind::Unavailable,
        405 => ErrorKind::Protocol,
        400..=499 => ErrorKind::Validation,
        _ => ErrorKind::Internal,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(status: u16, body: &str) -> Error {
        let status = StatusCode::from_u16(status).expect("valid status");
        Error::from_response(status, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn server_error_body_gives_code_and_message() {
        let e = from(
            409,
            r#"{"error":{"code":"version_conflict","message":"stored version is 4"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.code(), "version_conflict");
        assert_eq!(e.status(), Some(409));
        assert_eq!(e.message(), "stored version is 4");
        assert!(!e.retryable());
        assert_eq!(e.to_string(), "version_conflict: stored version is 4");
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (400, "invalid_body", ErrorKind::Validation, false),
            (401, "token_expired", ErrorKind::Auth, false),
            (403, "scope_insufficient", ErrorKind::Auth, false),
            (404, "variable_not_found", ErrorKind::NotFound, false),
            (413, "body_too_large", ErrorKind::Validation, false),
            (415, "unsupported_media_type", ErrorKind::Validation, false),
            (429, "rate_limited", ErrorKind::RateLimited, true),
            (503, "storage_unavailable", ErrorKind::Unavailable, true),
            (503, "overloaded", ErrorKind::Unavailable, true),
            (500, "internal", ErrorKind::Internal, false),
            (502, "tool_failed", ErrorKind::ToolAction, true),
            (400, "tool_invalid_params", ErrorKind::ToolAction, false),
        ];
        for (status, code, kind, retryable) in cases {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            let e = from(status, &body);
            assert_eq!(e.kind(), kind, "{status} {code}");
            assert_eq!(e.code(), code);
            assert_eq!(e.retryable(), retryable, "{status} {code}");
        }
    }

    #[test]
    fn non_json_body_falls_back_to_status() {
        let e = from(502, "Bad Gateway from proxy");
        assert_eq!(e.code(), "http_502");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.message(), "Bad Gateway from proxy");
        let e = from(404, "");
        assert_eq!(e.code(), "not_found");
        assert_eq!(e.message(), "Not Found");
    }

    #[test]
    fn retry_after_and_request_id_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "2".parse().expect("header"));
        headers.insert("x-request-id", "req-1".parse().expect("header"));
        let e = Error::from_response(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{"error":{"code":"rate_limited","message":"slow down"}}"#,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(e.request_id(), Some("req-1"));
    }

    #[test]
    fn invalid_key_message_is_bounded() {
        let key = "x".repeat(1000);
        let e = Error::invalid_key(&key);
        assert_eq!(e.code(), "invalid_key");
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(e.message().len() < 200, "{}", e.message());
    }
}
