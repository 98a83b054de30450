//! The C library's entry points that take JSON and UTF-8 from the caller: keys, JSON
//! values, tool names and parameters as arbitrary NUL-terminated bytes (invalid UTF-8,
//! invalid JSON, keys the rule refuses). The client talks to a minimal HTTP server on a
//! Unix socket that answers every request with a 404 error body, so each call runs its
//! argument checks, builds and sends its request, and maps the answer. Never a panic
//! across the C boundary (that would abort), never `CRONIUM_INTERNAL`.
#![no_main]

use std::ffi::{c_char, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::OnceLock;

use cronium::*;
use libfuzzer_sys::fuzz_target;

const BODY: &str = r#"{"error":{"code":"variable_not_found","message":"not here"}}"#;

fn answer() -> Vec<u8> {
    format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// Answers every request on `listener` with [`answer`], keeping connections alive.
fn serve(listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let answer = answer();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            loop {
                let mut len = 0usize;
                let mut expect = false;
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("expect:") && lower.contains("100-continue") {
                        expect = true;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                if expect && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                    return;
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() || writer.write_all(&answer).is_err() {
                    return;
                }
            }
        });
    }
}

struct Client(*mut CroniumClient);
// The client is Send + Sync on the Rust side; the pointer is only a handle to it.
unsafe impl Send for Client {}
unsafe impl Sync for Client {}

fn client() -> &'static Client {
    static C: OnceLock<Client> = OnceLock::new();
    C.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let path = dir.join("fake.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        std::thread::spawn(move || serve(listener));
        let socket = CString::new(path.to_str().expect("utf-8")).expect("path");
        let token = CString::new("fuzz-token").expect("token");
        let mut out: *mut CroniumClient = std::ptr::null_mut();
        let rc = cronium_client_new(
            socket.as_ptr(),
            std::ptr::null(),
            token.as_ptr(),
            5000,
            &mut out,
        );
        assert_eq!(rc, CroniumResult::CRONIUM_OK, "client");
        Client(out)
    })
}

fn check(rc: CroniumResult) {
    assert_ne!(
        rc,
        CroniumResult::CRONIUM_INTERNAL,
        "CRONIUM_INTERNAL for a caller's bytes"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, rest)) = data.split_first() else {
        return;
    };
    // Up to three NUL-terminated arguments.
    let mut args = rest
        .split(|&b| b == 0)
        .map(|a| CString::new(a).expect("no NUL"));
    let a = args.next().unwrap_or_default();
    let b = args.next().unwrap_or_default();
    let c = args.next().unwrap_or_default();
    let client = client().0;
    let mut out: *mut c_char = std::ptr::null_mut();
    let mut version = 0u64;
    match op % 6 {
        0 => check(cronium_variable_set(
            client,
            a.as_ptr(),
            b.as_ptr(),
            0,
            &mut version,
        )),
        1 => check(cronium_variable_get(
            client,
            a.as_ptr(),
            &mut out,
            &mut version,
        )),
        2 => {
            let mut deleted = false;
            check(cronium_variable_delete(client, a.as_ptr(), &mut deleted));
        }
        3 => check(cronium_output_set(client, a.as_ptr())),
        4 => check(cronium_tool_action_execute(
            client,
            a.as_ptr(),
            b.as_ptr(),
            c.as_ptr(),
            std::ptr::null(),
            &mut out,
        )),
        _ => {
            // The error accessors after a failure: a NUL-terminated message in any buffer.
            let rc = cronium_variable_set(client, a.as_ptr(), b.as_ptr(), 1, &mut version);
            check(rc);
            let mut buf = [1 as c_char; 16];
            let mut need = 0usize;
            let len = (c.as_bytes().len() % 17).max(1);
            let _ = cronium_last_error_message(buf.as_mut_ptr(), len, &mut need);
            assert!(buf[..len].contains(&0), "message not NUL-terminated");
            let _ = cronium_last_error_code(buf.as_mut_ptr(), len, &mut need);
            assert!(buf[..len].contains(&0), "code not NUL-terminated");
        }
    }
    cronium_string_free(out);
});
