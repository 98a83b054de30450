//! The one error type of the HTTP API.
//!
//! Every failure a request can meet becomes an [`ApiError`]: a status, a stable snake_case
//! `code` that clients match on, and a message for humans. Messages never contain a token,
//! a secret or a stored value.

use http::{HeaderValue, StatusCode};

use crate::auth::AuthError;
use cronium_protocol::wire::{CompatErrorBody, ErrorBody};
use cronium_protocol::ErrorCode;
use cronium_store::StoreError;
use cronium_tools::ToolError;

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (see docs/API.md).
    pub code: ErrorCode,
    /// Human explanation.
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
    /// Methods for `Allow` (405).
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// A new error, with the status the protocol's table gives the code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::with_status(status_of(code), code, message)
    }

    /// A new error with a status the code does not fix by itself: a tool failure replayed
    /// with the status recorded when it first happened.
    pub fn with_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// 404 for an unknown path.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(
            ErrorCode::RouteNotFound,
            format!("no route {path}; see GET /openapi.json for the API"),
        )
    }

    /// 405 with the methods the path takes.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                ErrorCode::MethodNotAllowed,
                format!("this route takes {allow}"),
            )
        }
    }

    /// The JSON body in the v1 shape: `{"error":{"code","message"}}`.
    pub fn v1_body(&self) -> String {
        to_json(&ErrorBody::new(self.code, self.message.as_str()))
    }

    /// The JSON body in the shape of Cronium's Go runtime service:
    /// `{"error": "<status text>", "message": "...", "code": "..."}`.
    pub fn compat_body(&self) -> String {
        to_json(&CompatErrorBody {
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message.clone(),
            code: self.code.as_str().to_owned(),
        })
    }

    /// Extra headers this error asks for.
    pub fn headers(&self) -> impl Iterator<Item = (http::HeaderName, HeaderValue)> {
        let retry = self
            .retry_after
            .map(|s| (http::header::RETRY_AFTER, HeaderValue::from(s)));
        let allow = self
            .allow
            .map(|a| (http::header::ALLOW, HeaderValue::from_static(a)));
        retry.into_iter().chain(allow)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { expected, actual } => Self::new(
                ErrorCode::VersionConflict,
                if actual == 0 {
                    format!("If-Match expected version {expected} but the variable does not exist")
                } else {
                    format!("If-Match expected version {expected} but the stored version is {actual}; read it again and retry")
                },
            ),
            StoreError::NotFound(what) => Self::new(
                ErrorCode::ExecutionUnknown,
                format!("{what}: the token's execution is not in this sidecar's store"),
            ),
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "storage failed");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        ErrorCode::StorageUnavailable,
                        "storage is unavailable; retry shortly",
                    )
                }
            }
        }
    }
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        let retry_after = match &e {
            ToolError::IdempotencyInProgress => Some(1),
            ToolError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        if let ToolError::Store(e) = e {
            return e.into();
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        Self {
            retry_after,
            ..Self::with_status(status, e.code(), e.to_string())
        }
    }
}

/// The status the table gives a code; a client-only code (no status) never reaches here
/// from the server's own paths, and would be a bug: 500.
fn status_of(code: ErrorCode) -> StatusCode {
    code.status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Serialises an answer body built from the protocol's wire types. Those hold strings,
/// numbers, booleans and already-valid JSON text (`RawValue`), which serde_json always
/// writes; it fails only for maps with non-string keys, which none of them has. So the
/// empty fallback is never taken; it keeps the request path free of panics.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(body: &T) -> String {
    serde_json::to_string(body).unwrap_or_default()
}
