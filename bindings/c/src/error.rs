//! Result codes, the failure type of the exports, and the thread-local last error.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use cronium_client::{Error, ErrorCode, ErrorKind};

/// The result of every fallible function. Stable: a code never changes meaning, new
/// codes are only added. 1-11 mirror client-core's error kinds; 100 and up are failures
/// of the C call itself. CRONIUM_OK is 0.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)] // the C spelling is the name the header exports
pub enum CroniumResult {
    /// Success.
    CRONIUM_OK = 0,
    /// The token is missing, invalid or expired, or lacks the scope (401/403).
    CRONIUM_AUTH = 1,
    /// The thing asked for does not exist (404).
    CRONIUM_NOT_FOUND = 2,
    /// A compare-and-set lost (409).
    CRONIUM_CONFLICT = 3,
    /// The request was rejected as malformed (400, 413, 415), or a bad variable key.
    CRONIUM_VALIDATION = 4,
    /// The server asked to slow down (429).
    CRONIUM_RATE_LIMITED = 5,
    /// The sidecar or its storage is unreachable or overloaded (no socket, 503).
    CRONIUM_UNAVAILABLE = 6,
    /// The call did not finish within the configured timeout.
    CRONIUM_TIMEOUT = 7,
    /// A tool action failed.
    CRONIUM_TOOL_ACTION = 8,
    /// The client is not configured (environment missing or invalid).
    CRONIUM_CONFIG = 9,
    /// The server answered something this client does not understand.
    CRONIUM_PROTOCOL = 10,
    /// A bug on the server (500), or an unexpected state.
    CRONIUM_INTERNAL = 11,
    /// A required pointer argument was NULL.
    CRONIUM_NULL_ARGUMENT = 100,
    /// A string argument was not valid UTF-8.
    CRONIUM_INVALID_UTF8 = 101,
    /// A JSON argument was not valid JSON.
    CRONIUM_INVALID_JSON = 102,
    /// The caller's buffer was too small (the needed size was reported).
    CRONIUM_BUFFER_TOO_SMALL = 103,
    /// A bug in libcronium: a Rust panic was caught at the boundary.
    CRONIUM_PANIC = 104,
}

/// The static name of a result code, NUL-terminated.
pub(crate) fn result_name(result: i32) -> &'static CStr {
    match result {
        0 => c"ok",
        1 => c"auth",
        2 => c"not_found",
        3 => c"conflict",
        4 => c"validation",
        5 => c"rate_limited",
        6 => c"unavailable",
        7 => c"timeout",
        8 => c"tool_action",
        9 => c"config",
        10 => c"protocol",
        11 => c"internal",
        100 => c"null_argument",
        101 => c"invalid_utf8",
        102 => c"invalid_json",
        103 => c"buffer_too_small",
        104 => c"panic",
        _ => c"unknown",
    }
}

/// A failed call: its result code and what becomes the thread's last error.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) result: CroniumResult,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Fail {
    fn new(result: CroniumResult, code: &str, message: String) -> Fail {
        Fail {
            result,
            code: code.to_owned(),
            message,
        }
    }

    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(
            CroniumResult::CRONIUM_NULL_ARGUMENT,
            "null_argument",
            format!("{what} must not be NULL"),
        )
    }

    pub(crate) fn utf8(what: &str, err: std::str::Utf8Error) -> Fail {
        Fail::new(
            CroniumResult::CRONIUM_INVALID_UTF8,
            "invalid_utf8",
            format!("{what} is not valid UTF-8: {err}"),
        )
    }

    pub(crate) fn json(what: &str, err: &serde_json::Error) -> Fail {
        Fail::new(
            CroniumResult::CRONIUM_INVALID_JSON,
            "invalid_json",
            format!(
                "{what} is not valid JSON: {err}{}",
                // A string without its quotes, the commonest case: say so, as the server does.
                if err.to_string().starts_with("expected value") {
                    "; a string needs its JSON quotes (\"Ada\", not Ada)"
                } else {
                    ""
                }
            ),
        )
    }

    pub(crate) fn internal(message: String) -> Fail {
        Fail::new(CroniumResult::CRONIUM_INTERNAL, "internal", message)
    }

    pub(crate) fn closed() -> Fail {
        Fail::from(Error::with_code(
            ErrorCode::StreamClosed,
            "the output stream is already closed",
        ))
    }
}

/// The result code of an error kind: 1-11, in the protocol's kind order.
pub(crate) fn result_for(kind: ErrorKind) -> CroniumResult {
    use CroniumResult::*;
    match kind {
        ErrorKind::Auth => CRONIUM_AUTH,
        ErrorKind::NotFound => CRONIUM_NOT_FOUND,
        ErrorKind::Conflict => CRONIUM_CONFLICT,
        ErrorKind::Validation => CRONIUM_VALIDATION,
        ErrorKind::RateLimited => CRONIUM_RATE_LIMITED,
        ErrorKind::Unavailable => CRONIUM_UNAVAILABLE,
        ErrorKind::Timeout => CRONIUM_TIMEOUT,
        ErrorKind::ToolAction => CRONIUM_TOOL_ACTION,
        ErrorKind::Config => CRONIUM_CONFIG,
        ErrorKind::Protocol => CRONIUM_PROTOCOL,
        _ => CRONIUM_INTERNAL,
    }
}

impl From<Error> for Fail {
    fn from(err: Error) -> Fail {
        Fail::new(result_for(err.kind()), err.code(), err.message().to_owned())
    }
}

/// The protocol's error codes as NUL-terminated strings, built on first use and kept for
/// the life of the process (cronium_error_code_name hands out pointers into it).
fn code_names() -> &'static [CString] {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ErrorCode::ALL
            .iter()
            // Codes are snake_case ASCII: never an inner NUL.
            .map(|c| CString::new(c.as_str()).unwrap_or_default())
            .collect()
    })
}

/// How many error codes the protocol has.
pub(crate) fn code_count() -> usize {
    ErrorCode::ALL.len()
}

/// Error code number `index`, or NULL past the end.
pub(crate) fn code_name(index: usize) -> *const c_char {
    code_names()
        .get(index)
        .map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The result a failure with `code` returns; CRONIUM_INTERNAL for a code the protocol
/// does not know.
pub(crate) fn code_result(code: &str) -> CroniumResult {
    code.parse::<ErrorCode>()
        .map_or(CroniumResult::CRONIUM_INTERNAL, |c| result_for(c.kind()))
}

/// The last error of a thread, as C reads it.
#[derive(Debug, Default)]
pub(crate) struct LastError {
    pub(crate) code: String,
    pub(crate) message: String,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError::default());
}

/// Records a failure as this thread's last error and returns its code.
pub(crate) fn record(fail: Fail) -> CroniumResult {
    // try_with: during thread teardown the slot may be gone; the code still tells.
    let _ = LAST.try_with(|last| {
        *last.borrow_mut() = LastError {
            code: fail.code,
            message: fail.message,
        };
    });
    fail.result
}

/// Copies a field of the last error into the caller's buffer (see
/// cronium_last_error_message). Does not change the last error itself.
pub(crate) fn copy_last(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl Fn(&LastError) -> String,
) -> CroniumResult {
    let run = AssertUnwindSafe(|| {
        let text = LAST
            .try_with(|last| field(&last.borrow()))
            .unwrap_or_default();
        // Messages come from Rust strings; a NUL inside would cut the C string short.
        let bytes: Vec<u8> = text.bytes().filter(|&b| b != 0).collect();
        let needed = bytes.len() + 1;
        if !out_len.is_null() {
            // SAFETY: non-null; by contract a writable size_t.
            unsafe { out_len.write(needed) };
        }
        if buf.is_null() {
            return if len == 0 {
                CroniumResult::CRONIUM_BUFFER_TOO_SMALL
            } else {
                CroniumResult::CRONIUM_NULL_ARGUMENT
            };
        }
        if len == 0 {
            return CroniumResult::CRONIUM_BUFFER_TOO_SMALL;
        }
        let n = bytes.len().min(len - 1);
        // SAFETY: buf is non-null and by contract points to `len` writable bytes;
        // n + 1 <= len, and the source is our own Vec, so the ranges cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
        if n < bytes.len() {
            CroniumResult::CRONIUM_BUFFER_TOO_SMALL
        } else {
            CroniumResult::CRONIUM_OK
        }
    });
    catch_unwind(run).unwrap_or(CroniumResult::CRONIUM_PANIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_name() {
        for code in [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100, 101, 102, 103, 104,
        ] {
            assert_ne!(result_name(code), c"unknown", "{code}");
        }
        assert_eq!(result_name(-1), c"unknown");
    }

    #[test]
    fn every_protocol_code_has_a_result_and_a_name() {
        assert_eq!(code_count(), ErrorCode::ALL.len());
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            let name = code_name(i);
            assert!(!name.is_null());
            // SAFETY: a pointer into the static table, NUL-terminated.
            let name = unsafe { CStr::from_ptr(name) };
            assert_eq!(name.to_str(), Ok(code.as_str()));
            let result = code_result(code.as_str()) as i32;
            assert!((1..=11).contains(&result), "{code}: {result}");
            assert_eq!(
                result_name(result).to_str(),
                Ok(code.kind().as_str()),
                "{code}"
            );
        }
        assert!(code_name(code_count()).is_null());
        assert_eq!(code_result("no_such_code"), CroniumResult::CRONIUM_INTERNAL);
    }

    #[test]
    fn client_errors_map_by_kind() {
        let f = Fail::from(Error::new(ErrorKind::NotFound, "variable_not_found", "m"));
        assert_eq!(f.result, CroniumResult::CRONIUM_NOT_FOUND);
        assert_eq!(f.code, "variable_not_found");
    }
}
