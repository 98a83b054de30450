//! Every error code of the API and of the client, with its HTTP status, kind and whether
//! a retry may help.
//!
//! A code is the contract programs match on; the kind is the coarse class bindings map
//! to an exception class; the status is what the sidecar answers with the code. Client
//! codes (no server answer) have no status. A server newer than this crate may send a
//! code missing here: [`ErrorKind::for_status`] and [`retryable_status`] then decide from
//! the status alone, the rules the table below agrees with.

use std::fmt;
use std::str::FromStr;

/// Coarse class of an error: what a binding maps to an exception class (Python), an
/// error `kind` (Node) or a result code (C).
///
/// Kinds are few and stable; finer distinctions live in [`ErrorCode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is missing, invalid or expired (401), lacks the scope (403), or its
    /// execution is finished (410).
    Auth,
    /// The thing asked for does not exist (404), e.g. `route_not_found`.
    NotFound,
    /// A compare-and-set lost (409 `version_conflict`), or a call with the same
    /// idempotency key is still running.
    Conflict,
    /// The request was rejected as malformed (400, 413, 415, 422) or failed client-side
    /// checks (`invalid_key`, an unserialisable value).
    Validation,
    /// The server asked to slow down (429).
    RateLimited,
    /// The server or its storage is unreachable or overloaded (503, connection errors).
    Unavailable,
    /// The call did not finish within the configured timeout.
    Timeout,
    /// A tool action failed (codes starting with `tool_`).
    ToolAction,
    /// The client is not configured (environment variables missing or invalid), or is
    /// used from the wrong context.
    Config,
    /// The server answered something the client does not understand, or a stream was
    /// used after it ended.
    Protocol,
    /// A bug on the server (500), a feature this server lacks (501), or an unexpected
    /// status.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the C result codes (1 to 11).
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Validation,
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::ToolAction,
        ErrorKind::Config,
        ErrorKind::Protocol,
        ErrorKind::Internal,
    ];

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

    /// Reads [`as_str`](Self::as_str)'s spelling back.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of a status whose code this crate does not know (a newer server, or an
    /// answer without the JSON error body, e.g. from a proxy).
    pub fn for_status(status: u16) -> ErrorKind {
        match status {
            // 410: the execution the token acts for is finished, so the token is void.
            401 | 403 | 410 => ErrorKind::Auth,
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

    /// Whether errors of this kind are worth retrying later whatever their code.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a status alone says a retry may help (rate limited, bad gateway, unavailable,
/// gateway timeout); used for codes this crate does not know.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The kind of an error given its code and, when the server answered, its status: the
/// table's kind for a known code, else a `tool_` prefix means a tool failure, else the
/// status decides ([`ErrorKind::for_status`]); a client error with an unknown code is
/// [`ErrorKind::Internal`].
pub fn kind_of(code: &str, status: Option<u16>) -> ErrorKind {
    if let Ok(known) = code.parse::<ErrorCode>() {
        return known.kind();
    }
    if code.starts_with("tool_") {
        return ErrorKind::ToolAction;
    }
    status.map_or(ErrorKind::Internal, ErrorKind::for_status)
}

/// Whether a retry may help, by the same rules as [`kind_of`].
pub fn retryable_of(code: &str, status: Option<u16>) -> bool {
    if let Ok(known) = code.parse::<ErrorCode>() {
        return known.retryable();
    }
    kind_of(code, status).retryable() || status.is_some_and(retryable_status)
}

/// A code string that is not an [`ErrorCode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownErrorCode(pub String);

impl fmt::Display for UnknownErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown error code {:?}", self.0)
    }
}

impl std::error::Error for UnknownErrorCode {}

/// Defines [`ErrorCode`] and its tables from one list, so a code cannot get a string
/// without a status, kind and retry rule.
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $code:literal, $status:expr, $kind:ident, $retryable:literal;
    )+) => {
        /// A stable error code: the `error.code` of the sidecar's answers, or a code the
        /// client makes itself (status `None`).
        ///
        /// The spelling ([`as_str`](Self::as_str)) is the contract; variants are only
        /// added, never renamed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl ErrorCode {
            /// Every code, server codes first, in the order of the API's error table.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )+ ];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )+ }
            }

            /// The HTTP status the sidecar answers with this code; `None` for codes only
            /// the client makes.
            pub fn status(self) -> Option<u16> {
                match self { $( ErrorCode::$variant => $status, )+ }
            }

            /// The coarse class of the code.
            pub fn kind(self) -> ErrorKind {
                match self { $( ErrorCode::$variant => ErrorKind::$kind, )+ }
            }

            /// Whether the same call may succeed if tried again later. Clients already
            /// retry what is safe before reporting; this tells the caller whether its own
            /// retry makes sense.
            pub fn retryable(self) -> bool {
                match self { $( ErrorCode::$variant => $retryable, )+ }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON (the message has line and column).
    InvalidJson = "invalid_json", Some(400), Validation, false;
    /// JSON of the wrong shape: a missing field, a wrong type, not an object.
    InvalidBody = "invalid_body", Some(400), Validation, false;
    /// A variable key that is not 1–256 bytes of `[A-Za-z0-9_.:-]` (see [`crate::key`]).
    InvalidKey = "invalid_key", Some(400), Validation, false;
    /// A header that does not parse: `If-Match` not a version, an `Idempotency-Key` that
    /// is not 1–255 visible ASCII characters.
    InvalidHeader = "invalid_header", Some(400), Validation, false;
    /// A query parameter with a value the route does not take (`?raw=maybe`): refused
    /// rather than ignored, so a typo does not silently change the answer.
    InvalidQuery = "invalid_query", Some(400), Validation, false;
    /// A line of an NDJSON stream that is not one JSON value in UTF-8 (the records before
    /// it are kept), or an input record the client cannot read as the type asked for.
    InvalidNdjson = "invalid_ndjson", Some(400), Validation, false;
    /// No `Authorization: Bearer` header.
    TokenMissing = "token_missing", Some(401), Auth, false;
    /// Not a JWT, undecodable header or claims, or required claims missing.
    TokenMalformed = "token_malformed", Some(401), Auth, false;
    /// The token's signature does not verify.
    TokenInvalidSignature = "token_invalid_signature", Some(401), Auth, false;
    /// `alg: none`, or an algorithm other than the key's.
    TokenAlgorithmRejected = "token_algorithm_rejected", Some(401), Auth, false;
    /// The token's `kid` names no configured key.
    TokenUnknownKey = "token_unknown_key", Some(401), Auth, false;
    /// `exp` is past (beyond the leeway), or the execution reached its maximum lifetime
    /// on a refresh.
    TokenExpired = "token_expired", Some(401), Auth, false;
    /// `nbf` is in the future (beyond the leeway).
    TokenNotYetValid = "token_not_yet_valid", Some(401), Auth, false;
    /// `iss` is missing or not an accepted issuer.
    TokenWrongIssuer = "token_wrong_issuer", Some(401), Auth, false;
    /// `aud` is missing or does not name this runtime.
    TokenWrongAudience = "token_wrong_audience", Some(401), Auth, false;
    /// The token's execution is not in this sidecar's store.
    ExecutionUnknown = "execution_unknown", Some(401), Auth, false;
    /// The token's `scope` does not cover the route.
    ScopeInsufficient = "scope_insufficient", Some(403), Auth, false;
    /// The execution does not belong to the token's user, or a compatibility path names
    /// another execution than the token's.
    ExecutionMismatch = "execution_mismatch", Some(403), Auth, false;
    /// The token's execution is finished: none of its tokens is accepted any more (also
    /// the answer to finishing it a second time).
    ExecutionFinished = "execution_finished", Some(410), Auth, false;
    /// Admin API: no admin credential, or a wrong one.
    AdminUnauthorized = "admin_unauthorized", Some(401), Auth, false;
    /// Admin API: an execution token was presented; no script token is an admin
    /// credential.
    ScriptTokenRefused = "script_token_refused", Some(403), Auth, false;
    /// Script API: the admin credential was presented; it is no execution token.
    AdminCredentialRefused = "admin_credential_refused", Some(403), Auth, false;
    /// Admin API: no execution has this id.
    ExecutionNotFound = "execution_not_found", Some(404), NotFound, false;
    /// Admin API: an execution with this id exists with a different spec; nothing changed.
    ExecutionConflict = "execution_conflict", Some(409), Conflict, false;
    /// No such tool, or no such action of the tool.
    ToolActionUnknown = "tool_action_unknown", Some(400), ToolAction, false;
    /// A tool param is missing, of the wrong type or unknown; a path that leaves the base
    /// URL; a bad address.
    ToolParamsInvalid = "tool_params_invalid", Some(400), ToolAction, false;
    /// The variable does not exist for this user.
    VariableNotFound = "variable_not_found", Some(404), NotFound, false;
    /// The user has no (usable) credential of that name for the tool.
    ToolNotConfigured = "tool_not_configured", Some(404), ToolAction, false;
    /// No route has this path.
    RouteNotFound = "route_not_found", Some(404), NotFound, false;
    /// The route does not take this method (the answer has an `Allow` header).
    MethodNotAllowed = "method_not_allowed", Some(405), Protocol, false;
    /// `If-Match` did not match the stored version; nothing changed.
    VersionConflict = "version_conflict", Some(409), Conflict, false;
    /// A call with this `Idempotency-Key` is still running, or its outcome is unknown.
    IdempotencyInProgress = "idempotency_in_progress", Some(409), Conflict, false;
    /// This `Idempotency-Key` was used for a different tool call.
    IdempotencyKeyReused = "idempotency_key_reused", Some(422), Validation, false;
    /// The body is larger than the limit (the message names it).
    BodyTooLarge = "body_too_large", Some(413), Validation, false;
    /// A body with a content type other than JSON.
    UnsupportedMediaType = "unsupported_media_type", Some(415), Validation, false;
    /// The request (its headers or a JSON body) did not arrive within the configured time
    /// (`header_read_timeout`, `body_read_timeout`); the connection is closed after it.
    RequestTimeout = "request_timeout", Some(408), Timeout, true;
    /// An `Expect` header other than `100-continue`, the only expectation the sidecar meets.
    ExpectationFailed = "expectation_failed", Some(417), Validation, false;
    /// Too many requests, or tool calls per minute; the answer has `Retry-After`.
    RateLimited = "rate_limited", Some(429), RateLimited, true;
    /// The store failed; the answer has `Retry-After`.
    StorageUnavailable = "storage_unavailable", Some(503), Unavailable, true;
    /// The sidecar is at its connection limit; the answer has `Retry-After`.
    Overloaded = "overloaded", Some(503), Unavailable, true;
    /// Minting a token on a sidecar that holds only public keys.
    TokenCannotMint = "token_cannot_mint", Some(501), Internal, false;
    /// The tool's endpoint failed: a non-2xx answer, unreachable after the retries, TLS.
    ToolUpstreamFailed = "tool_upstream_failed", Some(502), ToolAction, true;
    /// The tool's endpoint did not answer in time after the request was sent.
    ToolTimeout = "tool_timeout", Some(504), ToolAction, true;
    /// A bug in the sidecar; never the answer to a client mistake.
    Internal = "internal", Some(500), Internal, false;
    /// Client: the environment (or the options) do not say how to reach the runtime, or
    /// say it wrongly.
    NotConfigured = "not_configured", None, Config, false;
    /// Client: a blocking call made where it cannot block (on an async runtime's thread),
    /// or a runtime that could not be started.
    RuntimeContext = "runtime_context", None, Config, false;
    /// Client: the runtime could not be reached, or the connection broke.
    ConnectionFailed = "connection_failed", None, Unavailable, true;
    /// Client: the TLS handshake with an `https://` runtime failed: its certificate is
    /// not trusted (`CRONIUM_RUNTIME_CA`, `CRONIUM_RUNTIME_CA_PIN`), or it refused ours.
    TlsFailed = "tls_failed", None, Config, false;
    /// Client: no answer within the configured timeout.
    Timeout = "timeout", None, Timeout, true;
    /// Client: the server's answer does not have the expected shape.
    ProtocolError = "protocol_error", None, Protocol, false;
    /// Client: a stream was used after it was closed or aborted.
    StreamClosed = "stream_closed", None, Protocol, false;
}

impl ErrorCode {
    /// Whether the sidecar sends this code (it has a status).
    pub fn is_server(self) -> bool {
        self.status().is_some()
    }
}

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<ErrorCode, UnknownErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && s.as_bytes()[0].is_ascii_lowercase(),
                "{s} is not snake_case"
            );
            assert_eq!(s.parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), s);
        }
        assert_eq!(
            "tool_failed".parse::<ErrorCode>(),
            Err(UnknownErrorCode("tool_failed".into()))
        );
    }

    #[test]
    fn server_codes_agree_with_the_status_rules() {
        // A known code must be classified as an older client that only knew the status
        // (and the `tool_` prefix) would classify it, so clients of any age agree.
        for &code in ErrorCode::ALL {
            let Some(status) = code.status() else {
                continue;
            };
            let by_status = if code.as_str().starts_with("tool_") {
                ErrorKind::ToolAction
            } else {
                ErrorKind::for_status(status)
            };
            assert_eq!(code.kind(), by_status, "{code}");
            assert_eq!(
                code.retryable(),
                by_status.retryable() || retryable_status(status),
                "{code}"
            );
        }
    }

    #[test]
    fn client_codes_are_retryable_by_kind() {
        for &code in ErrorCode::ALL.iter().filter(|c| !c.is_server()) {
            assert_eq!(code.retryable(), code.kind().retryable(), "{code}");
        }
    }

    #[test]
    fn unknown_codes_fall_back_to_the_status() {
        assert_eq!(kind_of("tool_new_thing", Some(500)), ErrorKind::ToolAction);
        assert_eq!(kind_of("quota_exceeded", Some(429)), ErrorKind::RateLimited);
        assert!(retryable_of("quota_exceeded", Some(429)));
        assert_eq!(kind_of("http_502", Some(502)), ErrorKind::Unavailable);
        assert!(retryable_of("tool_new_thing", Some(502)));
        assert!(!retryable_of("tool_new_thing", Some(400)));
        assert_eq!(kind_of("weird", None), ErrorKind::Internal);
        assert_eq!(kind_of("version_conflict", Some(500)), ErrorKind::Conflict);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::parse("nope"), None);
    }

    #[test]
    fn every_kind_has_a_code() {
        for kind in ErrorKind::ALL {
            assert!(
                ErrorCode::ALL.iter().any(|c| c.kind() == kind),
                "no code of kind {kind}"
            );
        }
    }
}
