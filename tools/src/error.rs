//! How a tool call fails. The HTTP layer maps each variant to its status and stable code;
//! the engine itself knows nothing of HTTP.

use cronium_protocol::ErrorCode;
use cronium_store::StoreError;

/// A failed tool call. `Display` is the message for the caller: it never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The params (or the credential name) are wrong: `tool_params_invalid`.
    #[error("{0}")]
    ParamsInvalid(String),
    /// No such tool or action: `tool_action_unknown`.
    #[error("{0}")]
    ActionUnknown(String),
    /// The user has no usable credential for the call: `tool_not_configured`.
    #[error("{0}")]
    NotConfigured(String),
    /// The idempotency key was used for a different call: `idempotency_key_reused`.
    #[error(
        "this Idempotency-Key was used for a different tool call; use a new key for a new call"
    )]
    IdempotencyKeyReused,
    /// A call with the same key is still running: `idempotency_in_progress`.
    #[error("a call with this Idempotency-Key is still running (or was cut off by a restart); its outcome is unknown, so nothing is sent again")]
    IdempotencyInProgress,
    /// The execution is over its rate: `rate_limited`, retry after `retry_after` seconds.
    #[error("{message}")]
    RateLimited {
        /// Seconds until a call may pass.
        retry_after: u64,
        /// Human explanation.
        message: String,
    },
    /// The endpoint did not answer in time: `tool_timeout` (`status` is 504, or the
    /// status recorded for a replayed call).
    #[error("{message}")]
    Timeout {
        /// HTTP status of the answer.
        status: u16,
        /// Human explanation.
        message: String,
    },
    /// The endpoint failed or refused: `tool_upstream_failed` (`status` is 502, or the
    /// status recorded for a replayed call).
    #[error("{message}")]
    UpstreamFailed {
        /// HTTP status of the answer.
        status: u16,
        /// Human explanation.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ToolError {
    /// The stable error code (docs/API.md); for [`ToolError::Store`] the code of a storage
    /// failure the API answers.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ParamsInvalid(_) => ErrorCode::ToolParamsInvalid,
            Self::ActionUnknown(_) => ErrorCode::ToolActionUnknown,
            Self::NotConfigured(_) => ErrorCode::ToolNotConfigured,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyInProgress => ErrorCode::IdempotencyInProgress,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Timeout { .. } => ErrorCode::ToolTimeout,
            Self::UpstreamFailed { .. } => ErrorCode::ToolUpstreamFailed,
            Self::Store(StoreError::Conflict { .. }) => ErrorCode::VersionConflict,
            Self::Store(StoreError::NotFound(_)) => ErrorCode::ExecutionUnknown,
            Self::Store(StoreError::Unavailable(_)) => ErrorCode::StorageUnavailable,
        }
    }

    /// The HTTP status of the failure's answer, for the records of idempotent calls: the
    /// code's own, except for an endpoint failure replayed with the status it first had.
    pub fn status(&self) -> u16 {
        match self {
            Self::Timeout { status, .. } | Self::UpstreamFailed { status, .. } => *status,
            // Every code above is a server code, so it has a status; 500 would mean a code
            // was added without one.
            _ => self.code().status().unwrap_or(500),
        }
    }
}
