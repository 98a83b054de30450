//! A tight loop of cached variable reads, for `strace -c` and `perf` (not a test).
//!
//! `CRONIUM_RUNTIME_SOCKET=... CRONIUM_EXECUTION_TOKEN=... cargo run --release -p
//! cronium-client --example loop -- [N] [MODE]`, the variable `bench` being read.
//!
//! Modes: `blocking` (default; `BlockingClient`, values as `serde_json::Value`),
//! `rawvalue` (the same, values kept as JSON text, as the bindings do), `async` (the
//! async `Client` on a current-thread runtime), `raw` (the baseline: prebuilt request
//! bytes on one Unix socket, the answer read by `Content-Length`, no client library;
//! `RAW_TIMEOUT=1` sets a socket read timeout as the blocking transport does) and
//! `minimal` (`raw` plus the work any client must do: parse the head, copy the body,
//! decode the envelope).
//!
//! Compare CPU per call with `perf stat -e task-clock`, syscalls with `strace -f -c`.

use std::io::{Read, Write};
use std::time::Instant;

use cronium_client::{BlockingClient, Client, Config, Result};
use serde_json::Value;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mode = args.next().unwrap_or_default();
    let config = Config::from_env()?;
    if mode == "raw" || mode == "minimal" {
        raw(n, mode == "minimal");
        return Ok(());
    }
    if mode == "async" {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                cronium_client::Error::new(
                    cronium_client::ErrorKind::Config,
                    "runtime",
                    e.to_string(),
                )
            })?;
        let c = Client::new(config);
        return rt.block_on(async {
            c.set_variable("bench", &serde_json::json!({"n": 1, "s": "payload"}), None)
                .await?;
            let t = Instant::now();
            for _ in 0..n {
                c.get_variable::<Value>("bench").await?;
            }
            report(n, t);
            Ok(())
        });
    }
    let c = BlockingClient::new(config)?;
    c.set_variable("bench", &serde_json::json!({"n": 1, "s": "payload"}), None)?;
    let t = Instant::now();
    if mode == "rawvalue" {
        // What the bindings ask for: the value's JSON text, unparsed.
        for _ in 0..n {
            c.get_variable::<Box<serde_json::value::RawValue>>("bench")?;
        }
    } else {
        for _ in 0..n {
            c.get_variable::<Value>("bench")?;
        }
    }
    report(n, t);
    Ok(())
}

fn report(n: u32, t: Instant) {
    let per = t.elapsed() / n.max(1);
    eprintln!("{n} calls, {per:?} per call");
}

fn raw(n: u32, parse: bool) {
    let socket = std::env::var("CRONIUM_RUNTIME_SOCKET").unwrap_or_default();
    let token = std::env::var("CRONIUM_EXECUTION_TOKEN").unwrap_or_default();
    let req = format!(
        "GET /v1/variables/bench HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    let Ok(mut conn) = std::os::unix::net::UnixStream::connect(&socket) else {
        eprintln!("cannot connect to {socket}");
        return;
    };
    if std::env::var_os("RAW_TIMEOUT").is_some() {
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    }
    let mut buf = vec![0u8; 8192];
    let t = Instant::now();
    for _ in 0..n {
        if conn.write_all(req.as_bytes()).is_err() {
            return;
        }
        let mut have = 0;
        loop {
            let Ok(got) = conn.read(&mut buf[have..]) else {
                return;
            };
            if got == 0 {
                return;
            }
            have += got;
            let data = &buf[..have];
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&data[..end]).unwrap_or("");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if have >= end + 4 + len {
                    if parse {
                        // The essential work of a client: parse the head, copy the body,
                        // decode the envelope.
                        let mut slots = [httparse::EMPTY_HEADER; 16];
                        let mut resp = httparse::Response::new(&mut slots);
                        let _ = resp.parse(data);
                        let body = bytes::Bytes::copy_from_slice(&data[end + 4..end + 4 + len]);
                        #[derive(serde::Deserialize)]
                        struct Env {
                            #[allow(dead_code)]
                            data: cronium_client::Variable<Box<serde_json::value::RawValue>>,
                        }
                        let _ = std::hint::black_box(serde_json::from_slice::<Env>(&body));
                    }
                    break;
                }
            }
        }
    }
    report(n, t);
}
