//! The bodies of the API as serde types: what the sidecar writes and the client reads.
//!
//! Values a script stores are generic (`T`): pass `Box<RawValue>` or `&RawValue` to keep
//! the JSON text byte for byte (big integers, key order), `serde_json::Value` or your
//! own types otherwise. Field names are the wire's (camelCase).

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// `{"data": T}`: the success answer of every v1 route, and the body of
/// `PUT /v1/output`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
}

/// `{"error": {"code", "message"}}`: the error answer of the v1 and ops routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// The body for a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
            },
        }
    }
}

/// The inside of an [`ErrorBody`]. `code` is a string, not an [`ErrorCode`], so an
/// answer of a newer server with a code this version lacks still parses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable snake_case code (an [`ErrorCode`] spelling).
    pub code: String,
    /// Human explanation; never contains a token, a secret or a stored value.
    #[serde(default)]
    pub message: String,
}

/// `{"error": "<status text>", "message", "code"}`: the error answer of the
/// compatibility routes, in the shape of Cronium's Go runtime service (`code` is a
/// sidecar addition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatErrorBody {
    /// The HTTP status text, e.g. `Forbidden`.
    pub error: String,
    /// Human explanation.
    pub message: String,
    /// The same code as the v1 error.
    pub code: String,
}

/// `{"success": true, "data": T}` (or without `data`): the success answer of the
/// compatibility routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatEnvelope<T> {
    /// Always `true` in an answer the sidecar sends.
    pub success: bool,
    /// The payload, absent for writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

/// A stored variable, as `GET /v1/variables/{key}` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable<T> {
    /// The key.
    pub key: String,
    /// The value (any JSON the script stored).
    pub value: T,
    /// Grows by one on every write; pass it as `If-Match` for compare-and-set.
    pub version: u64,
    /// When it was last written (RFC 3339 UTC, milliseconds).
    pub updated_at: String,
}

/// What a write of a variable answers: its new version, for the next compare-and-set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableMeta {
    /// The key.
    pub key: String,
    /// The version this write created.
    pub version: u64,
    /// When this write was stored (RFC 3339 UTC, milliseconds).
    pub updated_at: String,
}

/// What `DELETE /v1/variables/{key}` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableDeleted {
    /// The key.
    pub key: String,
    /// Whether it existed (deleting a missing key is not an error).
    pub deleted: bool,
}

/// `{"value": T}`: the body of `PUT /v1/variables/{key}` (and of the compatibility and
/// admin routes that set a variable). Nothing else: an unknown field (`ifVersion`, say,
/// which belongs in `If-Match`) is refused rather than silently ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueBody<T> {
    /// The value to store.
    pub value: T,
}

/// What the compatibility route `GET /executions/{id}/variables/{key}` answers as `data`
/// (`value` is `null` for a missing key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatVariable<T> {
    /// The key.
    pub key: String,
    /// The value, JSON `null` when the key does not exist.
    pub value: T,
}

/// One change of a watched variable: the `data:` line of a `change` event of
/// `GET /v1/variables/{key}/watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableChange<T> {
    /// The variable's key.
    pub key: String,
    /// The new value; `None` when it was deleted (or set to JSON `null`).
    pub value: Option<T>,
    /// The new version; `None` for a delete.
    pub version: Option<u64>,
    /// When the change was stored (RFC 3339). Empty for a delete the client inferred
    /// after a reconnect (it missed the event itself).
    pub updated_at: String,
    /// Whether this change removed the variable.
    #[serde(default)]
    pub deleted: bool,
}

/// What `POST /v1/output/stream` answers: what this request appended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Records appended by this stream.
    pub records: u64,
    /// Bytes appended by this stream.
    pub bytes: u64,
}

/// `{"condition": bool}`: the body of `PUT /v1/condition` (and of the compatibility
/// route) and its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The condition that picks the next workflow branch.
    pub condition: bool,
}

/// `{"condition": bool | null}`: what `GET /v1/condition` answers (`null` when none was
/// set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionState {
    /// The condition set so far.
    pub condition: Option<bool>,
}

/// What `POST /v1/token/refresh` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRefresh {
    /// The new bearer token (a secret: never log it).
    pub token: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: i64,
}

/// The body of `POST /v1/tool-actions/execute` as clients send it. The server also
/// takes `config` instead of `params` (older SDKs) and `credential` inside `params`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolActionRequest<P> {
    /// The tool id ([`crate::Tool`]).
    pub tool: String,
    /// The action id, short or long form ([`crate::Action`]).
    pub action: String,
    /// The action's parameters (a JSON object).
    pub params: P,
    /// Which of the user's credentials to use; the server's default is `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `{"status": "ok"}` of `/health`, `{"status": "ready"}` of `/ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    #[test]
    fn variable_keeps_raw_json_exact() {
        let text = r#"{"data":{"key":"k","value":{"big":123456789012345678901234567890,"b":1,"a":2},"version":2,"updatedAt":"t"}}"#;
        let v: Envelope<Variable<Box<RawValue>>> = serde_json::from_str(text).expect("parse");
        assert_eq!(
            v.data.value.get(),
            r#"{"big":123456789012345678901234567890,"b":1,"a":2}"#
        );
        assert_eq!(serde_json::to_string(&v).expect("write"), text);
    }

    #[test]
    fn error_bodies_have_the_documented_shapes() {
        let body = ErrorBody::new(ErrorCode::VersionConflict, "stored version is 4");
        assert_eq!(
            serde_json::to_string(&body).expect("write"),
            r#"{"error":{"code":"version_conflict","message":"stored version is 4"}}"#
        );
        // A newer server's code still parses; a missing message is empty.
        let b: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"quota_exceeded"}}"#).expect("parse");
        assert_eq!(
            (b.error.code.as_str(), b.error.message.as_str()),
            ("quota_exceeded", "")
        );
        let compat = CompatErrorBody {
            error: "Forbidden".into(),
            message: "m".into(),
            code: "scope_insufficient".into(),
        };
        assert_eq!(
            serde_json::to_string(&compat).expect("write"),
            r#"{"error":"Forbidden","message":"m","code":"scope_insufficient"}"#
        );
    }

    #[test]
    fn compat_envelope_omits_absent_data() {
        let none: CompatEnvelope<()> = CompatEnvelope {
            success: true,
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&none).expect("write"),
            r#"{"success":true}"#
        );
        let some = CompatEnvelope {
            success: true,
            data: Some(CompatVariable {
                key: "k".into(),
                value: 7,
            }),
        };
        assert_eq!(
            serde_json::to_string(&some).expect("write"),
            r#"{"success":true,"data":{"key":"k","value":7}}"#
        );
    }

    #[test]
    fn change_and_refresh_field_names() {
        let c: VariableChange<i64> = serde_json::from_str(
            r#"{"key":"k","value":null,"version":null,"updatedAt":"t","deleted":true}"#,
        )
        .expect("parse");
        assert_eq!((c.value, c.version, c.deleted), (None, None, true));
        let t = TokenRefresh {
            token: "t".into(),
            expires_at: 5,
        };
        assert_eq!(
            serde_json::to_string(&t).expect("write"),
            r#"{"token":"t","expiresAt":5}"#
        );
        let s: StreamSummary = serde_json::from_str(r#"{"records":2,"bytes":10}"#).expect("parse");
        assert_eq!(
            s,
            StreamSummary {
                records: 2,
                bytes: 10
            }
        );
        let c: ConditionState = serde_json::from_str(r#"{"condition":null}"#).expect("parse");
        assert_eq!(c.condition, None);
    }
}
