//! The one error type of the client.
//!
//! Every binding maps this to its language's idiom (a Python exception class per
//! [`ErrorKind`], a Node `Error` with `code`, a numeric C code plus a message), so the
//! shape is deliberately flat: a coarse kind for dispatch, a stable snake_case code for
//! programs, the HTTP status when the server answered, and a human message. Nothing in
//! it ever carries the execution token.

use std::fmt;
use std::time::Duration;

use cronium_protocol::error::{kind_of, retryable_status};
use cronium_protocol::wire::ErrorBody;
use http::{HeaderMap, StatusCode};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Coarse class of an [`Error`], the thing a binding maps to an exception class; the
/// protocol crate's, so every layer agrees on each code's kind.
pub use cronium_protocol::ErrorKind;

/// Every error code with its status, kind and retry rule ([`ErrorCode::ALL`]), the list
/// the bindings export.
pub use cronium_protocol::ErrorCode;

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
    /// Builds a client-side error for a protocol code: its kind comes from the code.
    /// Bindings use this to report their own conversion failures with the same shape as
    /// the client's errors.
    pub fn with_code(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::new(code.kind(), code.as_str(), message)
    }

    /// Builds an error with a kind and a code string of the caller's choice. Prefer
    /// [`with_code`](Self::with_code): a code outside [`ErrorCode::ALL`] is one no
    /// binding documents.
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
    /// code; one of [`ErrorCode::ALL`] unless a newer server sent a code this version
    /// does not know (or a proxy answered without the JSON body: `http_<status>` or a
    /// name derived from the status).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The code as an [`ErrorCode`], `None` for a code this version does not know.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
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
        match self.error_code() {
            Some(code) => code.retryable(),
            None => self.kind.retryable() || self.status.is_some_and(retryable_status),
        }
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
        Error::with_code(ErrorCode::NotConfigured, message)
    }

    pub(crate) fn invalid_key(invalid: &cronium_protocol::InvalidKey) -> Self {
        Error::with_code(ErrorCode::InvalidKey, invalid.to_string())
    }

    pub(crate) fn connection(message: impl Into<String>) -> Self {
        Error::with_code(ErrorCode::ConnectionFailed, message)
    }

    pub(crate) fn timeout(after: Duration) -> Self {
        Error::with_code(
            ErrorCode::Timeout,
            format!("no answer from the runtime within {after:?}"),
        )
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Error::with_code(ErrorCode::ProtocolError, message)
    }

    /// A stream used after it was closed (or after it failed).
    pub(crate) fn stream_closed(what: &str) -> Self {
        Error::with_code(
            ErrorCode::StreamClosed,
            format!("the {what} is already closed"),
        )
    }

    /// A value the caller gave could not be serialised to JSON.
    pub(crate) fn unserialisable(err: &serde_json::Error) -> Self {
        Error::with_code(
            ErrorCode::InvalidJson,
            format!("value cannot be serialised to JSON: {err}"),
        )
    }

    /// A response body did not have the expected JSON shape.
    pub(crate) fn bad_response(what: &str, err: &serde_json::Error) -> Self {
        Error::protocol(format!("unexpected answer to {what}: {err}"))
    }

    pub(crate) fn runtime_context(message: impl Into<String>) -> Self {
        Error::with_code(ErrorCode::RuntimeContext, message)
    }

    /// Maps a hyper failure (connection reset, closed before the answer, ...).
    pub(crate) fn from_hyper(err: &hyper::Error) -> Self {
        if let Some(tls) = crate::tls::tls_failure(err, "the runtime") {
            return tls;
        }
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
        let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { error }) => (error.code, error.message),
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
            kind: kind_of(&code, Some(status.as_u16())),
            code,
            status: Some(status.as_u16()),
            message,
            retry_after,
            request_id,
        }
    }
}

/// The code of an answer without the JSON error body (a proxy's, or a crash): named after
/// the status; its kind then comes from the status.
fn default_code(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "bad_request".into(),
        401 => "unauthorized".into(),
        403 => "forbidden".into(),
        404 => "not_found".into(),
        405 => "method_not_allowed".into(),
        409 => "conflict".into(),
        413 => "body_too_large".into(),
        408 => "request_timeout".into(),
        415 => "unsupported_media_type".into(),
        417 => "expectation_failed".into(),
        429 => "rate_limited".into(),
        500 => "internal".into(),
        503 => "unavailable".into(),
        s => format!("http_{s}"),
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
            (408, "request_timeout", ErrorKind::Timeout, true),
            (417, "expectation_failed", ErrorKind::Validation, false),
            (429, "rate_limited", ErrorKind::RateLimited, true),
            (503, "storage_unavailable", ErrorKind::Unavailable, true),
            (503, "overloaded", ErrorKind::Unavailable, true),
            (500, "internal", ErrorKind::Internal, false),
            (502, "tool_upstream_failed", ErrorKind::ToolAction, true),
            (504, "tool_timeout", ErrorKind::ToolAction, true),
            (400, "tool_params_invalid", ErrorKind::ToolAction, false),
            (404, "tool_not_configured", ErrorKind::ToolAction, false),
            (409, "idempotency_in_progress", ErrorKind::Conflict, false),
            (422, "idempotency_key_reused", ErrorKind::Validation, false),
            (501, "token_cannot_mint", ErrorKind::Internal, false),
            // A code this version does not know: the prefix, then the status decide.
            (500, "tool_new_failure", ErrorKind::ToolAction, false),
            (429, "quota_exceeded", ErrorKind::RateLimited, true),
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
    fn every_server_code_keeps_the_protocol_kind() {
        for &code in ErrorCode::ALL {
            let Some(status) = code.status() else {
                continue;
            };
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            let e = from(status, &body);
            assert_eq!(e.error_code(), Some(code));
            assert_eq!(e.kind(), code.kind(), "{code}");
            assert_eq!(e.retryable(), code.retryable(), "{code}");
        }
    }

    #[test]
    fn client_constructors_use_protocol_codes() {
        let cases = [
            (Error::not_configured("m"), ErrorCode::NotConfigured),
            (Error::connection("m"), ErrorCode::ConnectionFailed),
            (Error::timeout(Duration::from_secs(1)), ErrorCode::Timeout),
            (Error::protocol("m"), ErrorCode::ProtocolError),
            (
                Error::stream_closed("output stream"),
                ErrorCode::StreamClosed,
            ),
            (Error::runtime_context("m"), ErrorCode::RuntimeContext),
        ];
        for (e, code) in cases {
            assert_eq!(e.error_code(), Some(code));
            assert_eq!(e.kind(), code.kind(), "{code}");
            assert_eq!(e.retryable(), code.retryable(), "{code}");
            assert_eq!(e.status(), None);
        }
    }

    #[test]
    fn invalid_key_message_is_bounded() {
        let key = "x".repeat(1000);
        let e = Error::invalid_key(&cronium_protocol::validate_key(&key).expect_err("bad"));
        assert_eq!(e.code(), "invalid_key");
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(e.message().len() < 200, "{}", e.message());
    }
}
