//! Issue 20: idle keep-alive connections are parked without hyper's buffers between
//! requests. They stay cheap, serve their next requests (pipelined ones too), still close
//! after the header timeout when idle, and a request head trickled across the parking
//! point is still cut off by that timeout. Real sidecar, real sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::Sidecar;

fn get(token: &str) -> String {
    format!("GET /v1/input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")
}

/// Reads `count` answers (content-length framed) from a keep-alive connection; their
/// status codes.
fn read_answers(c: &mut TcpStream, count: usize) -> Vec<u16> {
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut codes = Vec::new();
    while codes.len() < count {
        let n = c.read(&mut buf).expect("read an answer");
        assert!(n > 0, "closed after {} answers", codes.len());
        raw.extend_from_slice(&buf[..n]);
        while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if raw.len() < end + 4 + len {
                break;
            }
            codes.push(head[9..12].parse().expect("status"));
            raw.drain(..end + 4 + len);
        }
    }
    codes
}

/// Whether the sidecar closed `c` within `within` (end of input or a reset).
fn closed_within(c: &mut TcpStream, within: Duration) -> bool {
    c.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Hundreds of idle keep-alive connections cost less than 8 KiB each (hyper alone kept
/// 16 KiB of buffers per connection), and every one of them still answers its next
/// request, two pipelined ones too.
#[test]
fn idle_keep_alive_connections_are_cheap_and_serve_again() {
    const CONNS: usize = 500;
    let s = Sidecar::start_with(&[("CRONIUM_RATE_LIMIT", "0")]);
    let e = s.create(&["--user", "u"]);
    let req = get(&e.token);
    assert_eq!(s.req("GET", "/v1/input", Some(&e.token), None).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let before = s.rss_kib().expect("the sidecar runs");
    let mut conns: Vec<TcpStream> = (0..CONNS)
        .map(|_| {
            let mut c = TcpStream::connect(s.tcp_addr()).expect("connect");
            c.write_all(req.as_bytes()).expect("request");
            assert_eq!(read_answers(&mut c, 1), [200]);
            c
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let per_conn = s
        .rss_kib()
        .expect("the sidecar runs")
        .saturating_sub(before) as f64
        / CONNS as f64;
    eprintln!("{CONNS} idle keep-alive connections: {per_conn:.1} KiB each");
    assert!(
        per_conn < 8.0,
        "{per_conn:.1} KiB per idle keep-alive connection"
    );
    for c in &mut conns {
        c.write_all(format!("{req}{req}").as_bytes())
            .expect("two pipelined requests");
    }
    for c in &mut conns {
        assert_eq!(read_answers(c, 2), [200, 200]);
    }
}

/// An idle keep-alive connection is closed after the header timeout, parked or not; one
/// that keeps sending requests more slowly than the parking delay stays open.
#[test]
fn idle_connections_close_after_the_header_timeout() {
    let s = Sidecar::start_with(&[
        ("CRONIUM_RATE_LIMIT", "0"),
        ("CRONIUM_HEADER_READ_TIMEOUT", "2s"),
    ]);
    let e = s.create(&["--user", "u"]);
    let req = get(&e.token);
    let mut busy = TcpStream::connect(s.tcp_addr()).expect("connect");
    for _ in 0..6 {
        busy.write_all(req.as_bytes()).expect("request");
        assert_eq!(read_answers(&mut busy, 1), [200]);
        std::thread::sleep(Duration::from_millis(500));
    }
    let started = Instant::now();
    assert!(
        closed_within(&mut busy, Duration::from_secs(6)),
        "an idle connection stayed open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(3500),
        "closed after {took:?} idle; the header timeout is 2 s"
    );
}

/// A client that trickles its next request head slower than the parking delay is cut
/// off by the header timeout all the same (parking must not restart it at every byte).
#[test]
fn a_trickled_head_after_a_request_is_still_cut_off() {
    let s = Sidecar::start_with(&[
        ("CRONIUM_RATE_LIMIT", "0"),
        ("CRONIUM_HEADER_READ_TIMEOUT", "2s"),
    ]);
    let e = s.create(&["--user", "u"]);
    let mut c = TcpStream::connect(s.tcp_addr()).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    c.write_all(get(&e.token).as_bytes()).expect("request");
    assert_eq!(read_answers(&mut c, 1), [200]);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let mut cut = false;
    c.set_read_timeout(Some(Duration::from_millis(250)))
        .expect("timeout");
    let mut buf = [0u8; 1024];
    for b in b"GET /v1/input HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if c.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        // Waits 250 ms for the sidecar to close it (or answer).
        match c.read(&mut buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            _ => {
                cut = true;
                break;
            }
        }
    }
    assert!(
        cut,
        "a head trickled for {:?} was not cut off",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut off only after {:?}; the header timeout is 2 s",
        started.elapsed()
    );
}
