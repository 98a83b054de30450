//! `cronium executions|variables|token ... --admin-socket PATH | --admin-url URL`: the same
//! commands through a running sidecar's admin API instead of the store. A small blocking
//! HTTP/1.1 client (one request per connection); answers are rendered by the same functions
//! as the store's results, and errors keep the store path's exit codes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::CliError;

/// Where the admin API is, from `--admin-socket` / `--admin-url`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Act through a running sidecar's admin API on this Unix socket instead of on the
    /// store (secret: CRONIUM_ADMIN_SECRET or CRONIUM_ADMIN_SECRET_FILE).
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "admin_url")]
    pub admin_socket: Option<PathBuf>,
    /// Act through a sidecar's admin API on loopback TCP, e.g. http://127.0.0.1:8090.
    #[arg(long, value_name = "URL", global = true)]
    pub admin_url: Option<String>,
}

#[derive(Debug)]
enum Target {
    Socket(PathBuf),
    Tcp(String),
}

/// A client of one sidecar's admin API.
pub struct AdminClient {
    target: Target,
    secret: String,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// How long one admin call may take (an output stream is read whole).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A failed admin call: its status, code and message.
#[derive(Debug)]
pub struct CallError {
    /// HTTP status.
    pub status: u16,
    /// The stable code.
    pub code: String,
    /// The server's message.
    pub message: String,
}

impl CallError {
    /// The CLI error with the store path's exit code: 1 for a missing execution or
    /// variable and server failures, 2 for everything the caller can fix.
    pub fn into_cli(self) -> CliError {
        let code = match self.status {
            404 if self.code != "route_not_found" => 1,
            500..=599 => 1,
            _ => 2,
        };
        CliError {
            code,
            message: self.message,
        }
    }
}

impl AdminClient {
    /// The client the flags ask for, `None` without them. The secret comes from the
    /// environment or a file, like the sidecar's.
    pub fn from_args(
        args: &RemoteArgs,
        secret: impl FnOnce() -> Result<String, CliError>,
    ) -> Result<Option<Self>, CliError> {
        let target = match (&args.admin_socket, &args.admin_url) {
            (Some(p), _) => Target::Socket(p.clone()),
            (None, Some(url)) => Target::Tcp(host_port(url)?),
            (None, None) => return Ok(None),
        };
        Ok(Some(Self {
            target,
            secret: secret()?,
        }))
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Socket(p) => p.display().to_string(),
            Target::Tcp(a) => format!("http://{a}"),
        }
    }

    /// One request; the body of a 2xx answer, or the error it carried.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Result<Vec<u8>, CallError>, CliError> {
        let unreachable = |e: std::io::Error| {
            CliError::failed(format!(
                "cannot reach the admin API at {}: {e}; is the sidecar running with an admin secret?",
                self.describe()
            ))
        };
        let raw = match &self.target {
            Target::Socket(p) => {
                let s = UnixStream::connect(p).map_err(unreachable)?;
                s.set_read_timeout(Some(CALL_TIMEOUT))
                    .map_err(unreachable)?;
                exchange(s, method, path, &self.secret, body).map_err(unreachable)?
            }
            Target::Tcp(a) => {
                let s = std::net::TcpStream::connect(a).map_err(unreachable)?;
                s.set_read_timeout(Some(CALL_TIMEOUT))
                    .map_err(unreachable)?;
                exchange(s, method, path, &self.secret, body).map_err(unreachable)?
            }
        };
        let (status, body) = parse(&raw).ok_or_else(|| {
            CliError::failed(format!(
                "the admin API at {} answered something that is not HTTP",
                self.describe()
            ))
        })?;
        if (200..300).contains(&status) {
            return Ok(Ok(body));
        }
        #[derive(Deserialize)]
        struct Inner {
            code: String,
            message: String,
        }
        #[derive(Deserialize)]
        struct ErrorDoc {
            error: Inner,
        }
        Ok(Err(match serde_json::from_slice::<ErrorDoc>(&body) {
            Ok(d) => CallError {
                status,
                code: d.error.code,
                message: d.error.message,
            },
            Err(_) => CallError {
                status,
                code: String::new(),
                message: format!("the admin API answered {status}"),
            },
        }))
    }

    /// A request whose errors become CLI errors; the `data` of the envelope, raw.
    pub fn data(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Box<RawValue>, CliError> {
        let body = self
            .call(method, path, body)?
            .map_err(CallError::into_cli)?;
        #[derive(Deserialize)]
        struct Envelope {
            data: Box<RawValue>,
        }
        serde_json::from_slice::<Envelope>(&body)
            .map(|e| e.data)
            .map_err(|e| {
                CliError::failed(format!("the admin API's answer is not the envelope: {e}"))
            })
    }
}

/// `http://HOST:PORT[/]` → `HOST:PORT`; anything else is refused.
fn host_port(url: &str) -> Result<String, CliError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        CliError::usage(format!(
            "--admin-url {url:?} must be http://HOST:PORT (the admin API listens on loopback)"
        ))
    })?;
    let hp = rest.trim_end_matches('/');
    if hp.is_empty() || hp.contains('/') {
        return Err(CliError::usage(format!(
            "--admin-url {url:?} must be http://HOST:PORT, without a path"
        )));
    }
    Ok(hp.to_owned())
}

/// Percent-encodes one path segment (ids and keys are plain; users may not be).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn exchange<S: Read + Write>(
    mut s: S,
    method: &str,
    path: &str,
    secret: &str,
    body: Option<&[u8]>,
) -> std::io::Result<Vec<u8>> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n"
    );
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    if let Some(b) = body {
        s.write_all(b)?;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(raw)
}

/// Status and (de-chunked) body of a whole HTTP/1.1 answer.
fn parse(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")
        })
    });
    let body = &raw[end + 4..];
    Some((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_vec()
        },
    ))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..nl]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let start = nl + 2;
        out.extend_from_slice(b.get(start..start + size)?);
        b = b.get(start + size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_plain_and_chunked() {
        let (s, b) = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi").expect("plain");
        assert_eq!((s, b.as_slice()), (200, &b"hi"[..]));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(raw).expect("chunked").1, b"abcde");
        assert!(parse(b"garbage").is_none());
    }

    #[test]
    fn urls_and_segments() {
        assert_eq!(
            host_port("http://127.0.0.1:8090/").expect("ok"),
            "127.0.0.1:8090"
        );
        assert!(host_port("https://x:1").is_err());
        assert!(host_port("http://x:1/admin").is_err());
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(seg("job-1.x:y_z"), "job-1.x:y_z");
    }
}
