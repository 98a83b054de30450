//! The load figures: throughput with 8 connections next to a bare hyper server, RSS holding
//! 1,000 connections, and the output stream's MB/s into durable storage.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::RawHttp;

/// A bare hyper HTTP/1.1 server on a Unix socket answering every request with one fixed
/// body: what the sidecar's stack costs with no routing, auth, cache or JSON at all. Two
/// worker threads, like the sidecar's default.
pub(crate) struct BareHyper {
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for BareHyper {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl BareHyper {
    pub(crate) fn start(path: &Path, body: Vec<u8>) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let _ = std::fs::remove_file(path);
        let std_listener = std::os::unix::net::UnixListener::bind(path)?;
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::UnixListener::from_std(std_listener)?
        };
        let body = bytes::Bytes::from(body);
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let body = body.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |_req| {
                        let body = body.clone();
                        async move {
                            let mut resp = hyper::Response::new(http_body_util::Full::new(body));
                            resp.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self { rt: Some(rt) })
    }
}

/// Requests per second of `conns` client threads, each one keep-alive connection doing
/// `GET /v1/variables/bench` back to back for `dur`.
pub(crate) fn throughput(
    socket: &Path,
    token: &str,
    conns: usize,
    dur: Duration,
) -> Result<f64, String> {
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut c = RawHttp::new(socket, token).map_err(|e| e.to_string())?;
        c.once().map_err(|e| format!("throughput warm-up: {e}"))?;
        clients.push(c);
    }
    let total = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(conns + 1));
    let handles: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let (total, failed, barrier) = (total.clone(), failed.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < dur {
                    if c.once().is_err() {
                        failed.store(true, Ordering::Relaxed);
                        break;
                    }
                    n += 1;
                }
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        let _ = h.join();
    }
    let took = start.elapsed();
    if failed.load(Ordering::Relaxed) {
        return Err("a throughput connection failed".into());
    }
    Ok(total.load(Ordering::Relaxed) as f64 / took.as_secs_f64())
}

/// Opens `n` keep-alive connections, each with one request answered, and keeps them open.
pub(crate) fn hold_connections(
    socket: &Path,
    token: &str,
    n: usize,
) -> Result<Vec<RawHttp>, String> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = RawHttp::new(socket, token).map_err(|e| format!("connection {i}: {e}"))?;
        c.once().map_err(|e| format!("connection {i}: {e}"))?;
        held.push(c);
    }
    Ok(held)
}

/// Raises this process's open-file limit (soft to hard, at least `want` if allowed); the
/// sidecars it starts afterwards inherit it.
#[allow(unsafe_code)] // setrlimit has no safe wrapper in std.
pub(crate) fn raise_nofile(want: u64) {
    // SAFETY: rlimit is plain data; we pass valid pointers to it.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur >= want as libc::rlim_t {
            return;
        }
        lim.rlim_cur = if lim.rlim_max == libc::RLIM_INFINITY {
            want as libc::rlim_t
        } else {
            lim.rlim_max
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// A block of complete NDJSON lines, about `size` bytes.
pub(crate) fn ndjson_block(size: usize) -> Vec<u8> {
    let mut block = Vec::with_capacity(size + 128);
    let mut i = 0u64;
    while block.len() < size {
        let _ = writeln!(
            block,
            "{{\"i\":{i},\"event\":\"order\",\"ok\":true,\"payload\":\"abcdefghijklmnopqrstuvwxyz0123456789\"}}"
        );
        i += 1;
    }
    block
}

/// What one output-stream upload did.
pub(crate) struct StreamResult {
    pub(crate) bytes: u64,
    pub(crate) took: Duration,
    pub(crate) rss_before_kib: f64,
    pub(crate) rss_peak_kib: f64,
}

/// Uploads `total` bytes of NDJSON to `POST /v1/output/stream` (chunked, one chunk per
/// block) and waits for the answer; samples the sidecar's RSS meanwhile.
pub(crate) fn output_stream(
    socket: &Path,
    token: &str,
    pid: u32,
    block: &[u8],
    total: u64,
) -> Result<StreamResult, String> {
    let rss_before_kib = crate::rss_kib(pid).unwrap_or(0.0);
    let sampler = crate::RssPeak::start(pid, Duration::from_millis(20));
    let result = (|| -> Result<(u64, Duration), String> {
        let mut s = UnixStream::connect(socket).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let head = format!(
            "POST /v1/output/stream HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        let chunk_head = format!("{:x}\r\n", block.len());
        let mut sent = 0u64;
        while sent < total {
            s.write_all(chunk_head.as_bytes())
                .and_then(|_| s.write_all(block))
                .and_then(|_| s.write_all(b"\r\n"))
                .map_err(|e| format!("output stream upload after {sent} bytes: {e}"))?;
            sent += block.len() as u64;
        }
        s.write_all(b"0\r\n\r\n").map_err(|e| e.to_string())?;
        let (status, body) = read_response(&mut s)?;
        let took = start.elapsed();
        if !(200..300).contains(&status) {
            return Err(format!(
                "output stream answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok((sent, took))
    })();
    let rss_peak_kib = sampler.stop();
    let (bytes, took) = result?;
    Ok(StreamResult {
        bytes,
        took,
        rss_before_kib,
        rss_peak_kib,
    })
}

/// The baseline of the output stream: the same bytes written to a file, fsync at the end.
pub(crate) fn file_write(path: &Path, block: &[u8], total: u64) -> Result<Duration, String> {
    let start = Instant::now();
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut sent = 0u64;
    while sent < total {
        f.write_all(block).map_err(|e| e.to_string())?;
        sent += block.len() as u64;
    }
    f.sync_all().map_err(|e| e.to_string())?;
    let took = start.elapsed();
    drop(f);
    let _ = std::fs::remove_file(path);
    Ok(took)
}

/// Reads one HTTP/1.1 response (Content-Length or chunked): status and body.
fn read_response(s: &mut UnixStream) -> Result<(u16, Vec<u8>), String> {
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let body = &data[end + 4..];
            if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                if body.len() >= len {
                    break;
                }
            } else if head.contains("transfer-encoding: chunked") {
                if body.ends_with(b"0\r\n\r\n") {
                    break;
                }
            } else {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&data);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:.200}"))?;
    let body = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|e| data[e + 4..].to_vec())
        .unwrap_or_default();
    Ok((status, body))
}
