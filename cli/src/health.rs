//! `cronium health [--socket PATH]`: asks a sidecar's `/ready` over its Unix socket and
//! exits 0 when it is ready, 1 otherwise, with one line either way. It needs nothing but the
//! binary, so the sidecar image's HEALTHCHECK uses it (the image has no curl).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of `cronium health`.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The sidecar's socket. [env: CRONIUM_RUNTIME_SOCKET] [default: /run/cronium/runtime.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub timeout: String,
}

/// Runs the check: `Ok(line)` when ready, `Err(line)` when not (or unreachable).
pub fn check(args: &HealthArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let socket = args
        .socket
        .clone()
        .or_else(|| {
            env("CRONIUM_RUNTIME_SOCKET")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_SOCKET));
    let timeout = cronium_server::config::parse_duration(&args.timeout)
        .map_err(|e| format!("--timeout: {}", e.0))?;
    ask(&socket, timeout).map_err(|why| format!("not ready: {why} ({})", socket.display()))
}

fn ask(socket: &Path, timeout: Duration) -> Result<String, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no socket there; is the sidecar running?".to_owned(),
        std::io::ErrorKind::ConnectionRefused => "nothing accepts on the socket".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied on the socket".to_owned(),
        _ => format!("cannot connect: {e}"),
    })?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    stream
        .write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .map_err(|e| format!("no answer within {timeout:?}: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "the answer is not HTTP".to_owned())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim())
        .unwrap_or("");
    let body: String = body.chars().take(200).collect();
    if status == 200 {
        Ok(format!("ready ({})", socket.display()))
    } else {
        Err(format!("HTTP {status} {body}"))
    }
}
