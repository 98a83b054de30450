//! Values and errors across the boundary.
//!
//! Values cross as JSON text: the JS side calls `JSON.stringify`/`JSON.parse` (V8's are
//! the fastest way to build or walk a JS value) and client-core carries the text verbatim
//! as `Box<RawValue>`, so big integers and key order survive untouched. Errors cross as a
//! napi `Error` whose message is a marker plus a JSON object with every field of
//! [`cronium_client::Error`]; `index.js` turns it into a `CroniumError`.

use cronium_client::{Error, ErrorCode};
use napi_derive::napi;
use serde::Serialize;
use serde_json::value::RawValue;

/// Starts the message of every error this addon raises, so `index.js` can tell them from
/// napi's own argument errors.
pub(crate) const ERROR_MARKER: &str = "\u{1}cronium-error:";

/// The fields of a client error, as `index.js` reads them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorFields<'a> {
    code: &'a str,
    kind: &'a str,
    status: Option<u16>,
    retryable: bool,
    message: &'a str,
    request_id: Option<&'a str>,
    retry_after: Option<f64>,
}

/// The text of a client error for `index.js`: the marker, then its fields as JSON.
pub(crate) fn error_text(err: &Error) -> String {
    let fields = ErrorFields {
        code: err.code(),
        kind: err.kind().as_str(),
        status: err.status(),
        retryable: err.retryable(),
        message: err.message(),
        request_id: err.request_id(),
        retry_after: err.retry_after().map(|d| d.as_secs_f64()),
    };
    match serde_json::to_string(&fields) {
        Ok(json) => format!("{ERROR_MARKER}{json}"),
        // Cannot happen (all fields are plain strings and numbers); keep the message.
        Err(_) => err.to_string(),
    }
}

/// One error code of the protocol, as `errorCodes()` lists it.
#[napi(object)]
#[derive(Debug)]
pub struct ErrorCodeInfo {
    /// The stable snake_case code.
    pub code: String,
    /// The kind (`CroniumError.kind`) errors with this code have.
    pub kind: String,
    /// The HTTP status the runtime answers with it; absent for client-only codes.
    pub status: Option<u32>,
    /// Whether the same call may succeed if tried again later.
    pub retryable: bool,
}

/// Every error code of the protocol (client-core's list), in its order.
#[napi]
pub fn error_codes() -> Vec<ErrorCodeInfo> {
    ErrorCode::ALL
        .iter()
        .map(|c| ErrorCodeInfo {
            code: c.as_str().to_owned(),
            kind: c.kind().as_str().to_owned(),
            status: c.status().map(u32::from),
            retryable: c.retryable(),
        })
        .collect()
}

/// Maps a client error to the napi error (thrown by synchronous calls) that `index.js`
/// rebuilds as a `CroniumError`.
pub(crate) fn to_napi(err: &Error) -> napi::Error {
    napi::Error::from_reason(error_text(err))
}

/// `Result` of client-core mapped for napi.
pub(crate) trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, Error> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(|e| to_napi(&e))
    }
}

/// A value from JS (JSON text made by `JSON.stringify`) as raw JSON for client-core.
pub(crate) fn raw(json: String) -> napi::Result<Box<RawValue>> {
    RawValue::from_string(json).map_err(|e| {
        to_napi(&Error::with_code(
            ErrorCode::InvalidJson,
            format!("value is not JSON: {e}"),
        ))
    })
}

/// Raw JSON as a `String` for JS, without copying it.
pub(crate) fn text(v: Box<RawValue>) -> String {
    Box::<str>::from(v).into_string()
}

/// Serialises an answer that has raw values inside (a variable entry, a change) for JS.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| {
        Error::with_code(
            ErrorCode::Internal,
            format!("cannot encode an answer for JavaScript: {e}"),
        )
    })
}

/// `ifVersion` from JS: a non-negative integer (JS numbers are `f64`).
pub(crate) fn version(v: Option<f64>) -> napi::Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(v)
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 =>
        {
            // Checked above: a safe non-negative integer converts exactly.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Some(v as u64))
        }
        Some(v) => Err(to_napi(&Error::with_code(
            ErrorCode::InvalidHeader,
            format!("ifVersion must be a non-negative integer, got {v}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked() {
        assert_eq!(version(None).expect("none"), None);
        assert_eq!(version(Some(0.0)).expect("zero"), Some(0));
        assert_eq!(version(Some(42.0)).expect("42"), Some(42));
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, 1e300] {
            assert!(version(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn raw_values_are_validated() {
        assert_eq!(raw("[1,2]".into()).expect("json").get(), "[1,2]");
        assert!(raw("{nope".into()).is_err());
    }
}
