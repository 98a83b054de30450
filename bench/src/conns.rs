//! The connection figures (issue 20): the sidecar's memory per idle keep-alive
//! connection, and its RSS while many connections are busy.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cronium_testkit::{Options, Sidecar};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// What the busy-connections run saw.
pub(crate) struct Busy {
    /// Connections opened.
    pub(crate) open: u64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// The sidecar's RSS before the connections, in MB (10⁶ bytes).
    pub(crate) idle_mb: f64,
    /// Its peak meanwhile, in MB.
    pub(crate) peak_mb: f64,
}

/// `n` keep-alive connections at once on the Unix socket, each sending a cached read
/// every 2 s for `secs` (the first requests spread over the first 2 s, like
/// `make soak`'s keep-alive figure); the sidecar's RSS is sampled every 100 ms.
pub(crate) fn busy(cronium: &Path, dir: &Path, n: usize, secs: u64) -> Result<Busy, String> {
    let sc = Sidecar::start_with(Options {
        cronium: cronium.to_owned(),
        state_dir: Some(dir.to_owned()),
        socket_name: "busy.sock".into(),
        secret: crate::SECRET.to_owned(),
        env: vec![
            ("CRONIUM_RATE_LIMIT".to_owned(), "0".to_owned()),
            ("CRONIUM_MAX_CONNECTIONS".to_owned(), (n + 1000).to_string()),
        ],
        ..Options::default()
    })
    .map_err(|e| format!("cannot start {}: {e}", cronium.display()))?;
    let token = crate::create_execution(&sc)?;
    let pid = crate::sc_pid(&sc)?;
    let req: Arc<[u8]> =
        format!("GET /v1/input HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n")
            .into_bytes()
            .into();
    let rss_mb = |kib: f64| kib * 1024.0 / 1e6;
    let idle_mb = rss_mb(crate::rss_kib(pid).unwrap_or(0.0));
    let sampler = crate::RssPeak::start(pid, Duration::from_millis(100));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (open, ok, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (socket, req) = (sc.socket.clone(), req.clone());
            let (open, ok, errors) = (open.clone(), ok.clone(), errors.clone());
            tasks.spawn(async move {
                // A Unix socket's connect fails at once (EAGAIN) while the listener's
                // backlog is full, as it is when thousands connect in the same instant:
                // a real client tries again, and so does this one, for up to 5 s.
                let mut tries = 0;
                let mut c = loop {
                    match UnixStream::connect(&socket).await {
                        Ok(c) => break c,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && tries < 500 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                };
                open.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis((i % 2000) as u64)).await;
                let mut buf = Vec::with_capacity(1024);
                while Instant::now() < deadline {
                    match exchange(&mut c, &req, &mut buf).await {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
            if i % 500 == 499 {
                tokio::task::yield_now().await;
            }
        }
        while tasks.join_next().await.is_some() {}
    });
    let peak_mb = rss_mb(sampler.stop());
    drop(sc);
    Ok(Busy {
        open: open.load(Ordering::Relaxed),
        requests: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        idle_mb,
        peak_mb,
    })
}

/// This process's open-file limit (the sidecars it starts inherit it).
#[allow(unsafe_code)] // getrlimit has no safe wrapper in std.
pub(crate) fn nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain libc call with a valid pointer to a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}

/// Sends one request and reads its answer (head and `content-length` body); the status.
async fn exchange(s: &mut UnixStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    s.write_all(req).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Ok(head
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0));
        }
    }
}
