//! The process around the API: the socket file, signals, limits, durability across a
//! crash, and watches across processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn socket_permissions_and_stale_or_live_sockets() {
    let mut s = Sidecar::start();
    let run = s.socket.parent().expect("dir");
    assert_eq!(
        std::fs::metadata(run).expect("dir").permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(
        std::fs::metadata(&s.socket)
            .expect("sock")
            .permissions()
            .mode()
            & 0o777,
        0o660
    );

    // A second sidecar on a live socket is refused with one clear line.
    let out = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["serve", "--socket"])
        .arg(&s.socket)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another process is serving"), "{err}");
    assert_eq!(
        s.req("GET", "/health", None, None).status,
        200,
        "the live one is untouched"
    );

    // After a crash the socket file is stale: the next start replaces it.
    s.kill9();
    assert!(std::fs::symlink_metadata(&s.socket)
        .expect("left behind")
        .file_type()
        .is_socket());
    let s2 = Sidecar::start_in(&s.dir, "rt.sock", &[]);
    assert_eq!(s2.req("GET", "/health", None, None).status, 200);

    // A path that is not a socket is never deleted.
    let file = s.dir.join("precious.txt");
    std::fs::write(&file, "keep me").expect("write");
    let out = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .args(["serve", "--socket"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a socket"));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
}

#[test]
fn sigterm_finishes_in_flight_requests_then_removes_the_socket() {
    let mut s = Sidecar::start();
    let e = s.create(&["--user", "u"]);
    // Start an output-stream upload, half of it sent.
    let mut conn = UnixStream::connect(&s.socket).expect("connect");
    write!(conn, "POST /v1/output/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n", e.token).expect("w");
    let chunk =
        |c: &mut UnixStream, data: &str| write!(c, "{:x}\r\n{data}\r\n", data.len()).expect("w");
    chunk(&mut conn, "{\"part\":1}\n");
    std::thread::sleep(Duration::from_millis(200));
    s.terminate();
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused while the old one drains.
    assert!(
        UnixStream::connect(&s.socket).is_err(),
        "still accepting after SIGTERM"
    );
    chunk(&mut conn, "{\"part\":2}\n");
    conn.write_all(b"0\r\n\r\n").expect("end");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the full response arrived (the connection stays open for keep-alive until shutdown closes it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        conn.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if !raw.is_empty() => break,
            Err(_) => {}
        }
    }
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["records"], 2);
    let status = s.wait_exit().expect("exited");
    assert!(status.success(), "clean exit after draining: {status:?}");
    assert!(!s.socket.exists(), "socket removed at shutdown");
    let shown = s.admin(&["executions", "show", &e.id, "--json"]);
    assert!(shown.contains("\"records\":2"), "{shown}");
}

/// A SIGTERM sent the moment the socket file appears (a supervisor stopping a sidecar it
/// has just started) is a clean shutdown: exit 0 and the socket removed, never the
/// default action of the signal killing a process that has not installed its handler.
#[test]
fn sigterm_right_after_the_socket_appears_is_a_clean_shutdown() {
    for round in 0..10 {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("run/rt.sock");
        let child = cronium()
            .arg("--state-dir")
            .arg(dir.path())
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn cronium serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "round {round}: no socket");
            std::thread::sleep(Duration::from_micros(200));
        }
        signal(&child, libc::SIGTERM);
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "round {round}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !socket.exists(),
            "round {round}: the socket was left behind"
        );
    }
}

#[test]
fn connection_cap_rate_limit_and_header_timeout() {
    let s = Sidecar::start_with(&[
        ("CRONIUM_MAX_CONNECTIONS", "2"),
        ("CRONIUM_RATE_LIMIT", "5"),
        ("CRONIUM_HEADER_READ_TIMEOUT", "1s"),
    ]);
    let e = s.create(&["--user", "u"]);
    // Rate limit: a burst of 5, then 429 with Retry-After.
    let mut codes = vec![];
    for _ in 0..8 {
        let r = s.req("GET", "/v1/input", Some(&e.token), None);
        if r.status == 429 {
            r.expect_error(429, "rate_limited");
            assert!(r
                .header("retry-after")
                .is_some_and(|v| v.parse::<u64>().is_ok()));
        }
        codes.push(r.status);
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 5, "{codes:?}");
    assert!(codes.contains(&429));
    // Header timeout: a client that never finishes its headers is cut off.
    let mut slow = UnixStream::connect(&s.socket).expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .expect("w");
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("t");
    let start = Instant::now();
    let mut sink = Vec::new();
    let _ = slow.read_to_end(&mut sink);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "header-read timeout did not close the connection"
    );
    // Connection cap: two idle connections held open, the third gets 503 overloaded
    // (after its request was read), while the probes are served from their reserve.
    std::thread::sleep(Duration::from_millis(1100));
    let _a = UnixStream::connect(&s.socket).expect("a");
    let _b = UnixStream::connect(&s.socket).expect("b");
    std::thread::sleep(Duration::from_millis(100));
    let auth = format!("Bearer {}", e.token);
    let r = http(
        UnixStream::connect(&s.socket).expect("c"),
        "GET",
        "/v1/context",
        &[("Authorization", &auth)],
        None,
    );
    r.expect_error(503, "overloaded");
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = http(
        UnixStream::connect(&s.socket).expect("d"),
        "GET",
        "/health",
        &[],
        None,
    );
    assert_eq!(r.status, 200, "the probes keep a reserve: {}", r.text());
    drop((_a, _b));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        s.req("GET", "/health", None, None).status,
        200,
        "slots come back"
    );
}

/// `kill -9` in the middle of a write loop: every write the sidecar acknowledged is there
/// after a restart on the same state directory.
#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut s = Sidecar::start_with(&[("CRONIUM_RATE_LIMIT", "0")]);
    let e = s.create(&["--user", "u", "--ttl", "1h"]);
    let socket = s.socket.clone();
    let token = e.token.clone();
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut conn = UnixStream::connect(&socket).expect("connect");
        for i in 0.. {
            let body = format!("{{\"value\":{i}}}");
            let req = format!("PUT /v1/variables/k{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", i % 50, body.len());
            if conn.write_all(req.as_bytes()).is_err() {
                break;
            }
            // Read exactly one response (content-length framed).
            match read_one(&mut conn) {
                Some(200) => acked.push(i),
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    s.kill9();
    let acked = writer.join().expect("writer");
    assert!(acked.len() > 20, "the loop made progress: {}", acked.len());
    let s2 = Sidecar::start_in(&s.dir, "rt2.sock", &[]);
    // The last acknowledged value of each key is stored (a later unacknowledged one may be too).
    let mut last = std::collections::HashMap::new();
    for i in &acked {
        last.insert(i % 50, *i);
    }
    for (k, v) in last {
        let r = s2.req(
            "GET",
            &format!("/v1/variables/k{k}?raw"),
            Some(&e.token),
            None,
        );
        let got: i64 = r
            .text()
            .parse()
            .unwrap_or_else(|_| panic!("k{k}: {}", r.text()));
        assert!(got >= v, "k{k}: acknowledged {v}, found {got}");
    }
}

fn read_one(conn: &mut UnixStream) -> Option<u16> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut len = 0;
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(status)
}

/// Opens a watch and returns a reader of its SSE `data:` lines.
fn watch(socket: &Path, token: &str, key: &str) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let mut conn = UnixStream::connect(socket).expect("connect");
    write!(conn, "GET /v1/variables/{key}/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n").expect("w");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reader = BufReader::new(conn);
    let mut first = String::new();
    reader.read_line(&mut first).expect("status");
    assert!(first.contains(" 200 "), "{first}");
    std::thread::spawn(move || {
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                if let Ok(v) = serde_json::from_str(data) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
            line.clear();
        }
    });
    // Wait until the watch is live (its first comment has been sent).
    std::thread::sleep(Duration::from_millis(100));
    rx
}

#[test]
fn watch_sees_local_changes_at_once_and_other_processes_within_a_second() {
    let a = Sidecar::start();
    let b = Sidecar::start_in(&a.dir, "b.sock", &[]);
    let e = a.create(&["--user", "u"]);
    let other_user = a.create(&["--user", "v"]);
    let t = Some(e.token.as_str());
    let rx = watch(&a.socket, &e.token, "counter");
    // Noise that must not arrive: another key, another user's same key.
    a.req("PUT", "/v1/variables/other", t, Some(r#"{"value":1}"#));
    a.req(
        "PUT",
        "/v1/variables/counter",
        Some(&other_user.token),
        Some(r#"{"value":"not yours"}"#),
    );
    // A change through the same sidecar.
    let start = Instant::now();
    a.req(
        "PUT",
        "/v1/variables/counter",
        t,
        Some(r#"{"value":{"n":1}}"#),
    );
    let ev = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("local change");
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "local change took {:?}",
        start.elapsed()
    );
    assert_eq!(
        ev,
        serde_json::json!({"key":"counter","value":{"n":1},"version":1,"updatedAt":ev["updatedAt"],"deleted":false})
    );
    // A change through the other process on the same store.
    let start = Instant::now();
    b.req("PUT", "/v1/variables/counter", t, Some(r#"{"value":2}"#));
    let ev = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("remote change");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "remote change took {:?}",
        start.elapsed()
    );
    assert_eq!(
        (ev["value"].clone(), ev["version"].clone()),
        (serde_json::json!(2), serde_json::json!(2))
    );
    // A delete, from the admin command (a third process).
    a.admin(&["variables", "delete", "--user", "u", "counter"]);
    let ev = rx.recv_timeout(Duration::from_secs(2)).expect("delete");
    assert_eq!(ev["deleted"], true);
    assert!(ev["value"].is_null());
    // Nothing else arrived: not the other key, not the other user's write.
    assert!(rx.recv_timeout(Duration::from_millis(400)).is_err());
}

#[test]
fn json_logs_carry_the_request_id() {
    let s = Sidecar::start_with(&[("CRONIUM_LOG_FORMAT", "json"), ("CRONIUM_LOG", "debug")]);
    let e = s.create(&["--user", "u"]);
    s.request(
        "GET",
        "/v1/input",
        &[
            ("Authorization", &format!("Bearer {}", e.token)),
            ("x-request-id", "req-42"),
        ],
        None,
    );
    std::thread::sleep(Duration::from_millis(100));
    let log = s.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|err| panic!("not a JSON log line ({err}): {l}"))
        })
        .collect();
    assert!(!lines.is_empty());
    let req = lines
        .iter()
        .find(|l| l["fields"]["request_id"] == "req-42")
        .unwrap_or_else(|| panic!("no line for the request: {log}"));
    assert_eq!(req["fields"]["route"], "input");
    assert_eq!(req["fields"]["status"], 200);
}

#[test]
fn a_loose_socket_dir_is_tightened_and_the_database_is_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).expect("mkdir");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let s = Sidecar::start_in(tmp.path(), "rt.sock", &[]);
    let e = s.create(&["--user", "u"]);
    let r = s.req("PUT", "/v1/output", Some(&e.token), Some(r#"{"data": 1}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    // Others could have replaced the socket: their write permission is gone, and the log
    // says so.
    assert_eq!(mode(&run), 0o755);
    assert!(s.log().contains("socket directory"), "{}", s.log());
    // The store is the owner's alone, whatever the umask (SQLite's -wal/-shm follow it).
    for name in ["cronium.db", "cronium.db-wal", "cronium.db-shm"] {
        let p = tmp.path().join(name);
        if name == "cronium.db" || p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        }
    }
    // So are the stream files beside it.
    let r = s.req(
        "POST",
        "/v1/output/stream",
        Some(&e.token),
        Some("{\"n\":1}\n"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let streams = tmp.path().join("cronium.db-streams");
    assert_eq!(mode(&streams), 0o700);
    assert_eq!(mode(&streams.join("1.ndjson")), 0o600);
}
