//! The panic boundary and the conversions of C arguments every export shares.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::value::RawValue;

use crate::error::{record, CroniumResult, Fail};

/// Runs an export's body: its failures and any panic become a result code plus the
/// thread's last error; nothing unwinds into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Fail>) -> CroniumResult {
    // AssertUnwindSafe: after a panic the call's state is dropped, never observed again.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CroniumResult::CRONIUM_OK,
        Ok(Err(fail)) => record(fail),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            record(Fail {
                result: CroniumResult::CRONIUM_PANIC,
                code: "panic".to_owned(),
                message: format!("bug in libcronium (please report): {what}"),
            })
        }
    }
}

/// Checks a pointer out-parameter and sets it to NULL, so it is never left uninitialised.
pub(crate) fn out_ptr<T>(p: *mut *mut T, name: &str) -> Result<*mut *mut T, Fail> {
    if p.is_null() {
        return Err(Fail::null(name));
    }
    put(p, std::ptr::null_mut());
    Ok(p)
}

/// Writes through a non-null out-parameter.
pub(crate) fn put<T>(p: *mut T, value: T) {
    debug_assert!(!p.is_null());
    // SAFETY: callers check p for NULL first; by the header's contract a non-null
    // out-parameter points to writable memory of its type.
    unsafe { p.write(value) }
}

/// A required string argument.
pub(crate) fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, Fail> {
    opt_str_arg(p, name)?.ok_or_else(|| Fail::null(name))
}

/// An optional string argument (NULL is None).
pub(crate) fn opt_str_arg<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null and by contract a NUL-terminated string that stays valid and
    // unchanged for the duration of the call (the borrow does not outlive the export).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(Some).map_err(|e| Fail::utf8(name, e))
}

/// A required JSON argument, kept as its exact text.
pub(crate) fn json_arg(p: *const c_char, name: &str) -> Result<Box<RawValue>, Fail> {
    let text = str_arg(p, name)?;
    serde_json::from_str::<Box<RawValue>>(text).map_err(|e| Fail::json(name, &e))
}

/// Hands a new C string to the caller through `out` (freed by cronium_string_free).
pub(crate) fn put_string(out: *mut *mut c_char, text: &str) -> Result<(), Fail> {
    let s = CString::new(text).map_err(|_| Fail::internal("answer contains a NUL byte".into()))?;
    put(out, s.into_raw());
    Ok(())
}

/// Frees a string made by put_string (NULL is ignored).
pub(crate) fn free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: by contract s came from put_string (CString::into_raw) and is freed once.
        drop(unsafe { CString::from_raw(s) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T: std::fmt::Debug>(r: Result<T, Fail>) -> CroniumResult {
        match r {
            Ok(v) => panic!("expected a failure, got {v:?}"),
            Err(f) => f.result,
        }
    }

    #[test]
    fn a_panic_becomes_a_result_code() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = guard(|| panic!("boom"));
        std::panic::set_hook(prev);
        assert_eq!(r, CroniumResult::CRONIUM_PANIC);
        let mut buf = [0 as c_char; 128];
        let mut needed = 0usize;
        let ok = crate::error::copy_last(buf.as_mut_ptr(), buf.len(), &mut needed, |e| {
            e.message.clone()
        });
        assert_eq!(ok, CroniumResult::CRONIUM_OK);
        // SAFETY: copy_last wrote a NUL-terminated string into buf.
        let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn strings_are_checked() {
        assert_eq!(
            code(str_arg(std::ptr::null(), "k")),
            CroniumResult::CRONIUM_NULL_ARGUMENT
        );
        let bad = [0xffu8, 0];
        assert_eq!(
            code(str_arg(bad.as_ptr().cast(), "k")),
            CroniumResult::CRONIUM_INVALID_UTF8
        );
        assert_eq!(
            code(json_arg(c"{x".as_ptr(), "j")),
            CroniumResult::CRONIUM_INVALID_JSON
        );
        assert_eq!(
            json_arg(c" [1, 2] ".as_ptr(), "j")
                .map(|v| v.get().to_owned())
                .ok()
                .as_deref(),
            Some("[1, 2]")
        );
    }
}
