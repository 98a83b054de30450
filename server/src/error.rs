//! The one error type of the HTTP API.
//!
//! Every failure a request can meet becomes an [`ApiError`]: a status, a stable snake_case
//! `code` that clients match on, and a message for humans. Messages never contain a token,
//! a secret or a stored value.

use http::{HeaderValue, StatusCode};

use crate::auth::AuthError;
use cronium_store::StoreError;
use cronium_tools::ToolError;

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (see docs/API.md).
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
    /// Methods for `Allow` (405).
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for an unknown path.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route {path}; see GET /openapi.json for the API"),
        )
    }

    /// 405 with the methods the path takes.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this route takes {allow}"),
            )
        }
    }

    /// The JSON body in the v1 shape: `{"error":{"code","message"}}`.
    pub fn v1_body(&self) -> String {
        serde_json::json!({"error": {"code": self.code, "message": self.message}}).to_string()
    }

    /// The JSON body in the shape of Cronium's Go runtime service:
    /// `{"error": "<status text>", "message": "..."}`.
    pub fn compat_body(&self) -> String {
        serde_json::json!({
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
            "code": self.code,
        })
        .to_string()
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
        let status = match e {
            AuthError::CannotMint => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::UNAUTHORIZED,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { expected, actual } => Self::new(
                StatusCode::CONFLICT,
                "version_conflict",
                if actual == 0 {
                    format!("If-Match expected version {expected} but the variable does not exist")
                } else {
                    format!("If-Match expected version {expected} but the stored version is {actual}; read it again and retry")
                },
            ),
            StoreError::NotFound(what) => Self::new(
                StatusCode::UNAUTHORIZED,
                "execution_unknown",
                format!("{what}: the token's execution is not in this sidecar's store"),
            ),
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "storage failed");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
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
            ..Self::new(status, e.code(), e.to_string())
        }
    }
}
