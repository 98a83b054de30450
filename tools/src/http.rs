//! The HTTP(S) client of the webhook-based tools: one request per connection, bounded in
//! time and in the size of the answer kept.
//!
//! A connection per call (no pool) because tool calls are rare next to API requests, and a
//! fresh connection can never carry a previous call's state. Redirects are not followed: a
//! credential names the one host a call may reach.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, USER_AGENT};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::AttemptError;

/// `User-Agent` of every call, so receivers can tell the runtime's requests apart.
const AGENT: &str = concat!("cronium-runtime/", env!("CARGO_PKG_VERSION"));

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Method.
    pub method: Method,
    /// Full URL (credential's host, checked path).
    pub url: url::Url,
    /// Headers besides `Host`, `User-Agent` and `Content-Length`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body (may be empty).
    pub body: Bytes,
}

/// What the endpoint answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The first bytes of the body, as text.
    pub body: String,
    /// Whether the body was longer than what was kept.
    pub truncated: bool,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The TLS client configuration: the ring provider, Mozilla's roots, HTTP/1.1.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup failed: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Sends one request. Errors before the request could be sent (resolve, connect, connect
/// timeout) are [`AttemptError::Transient`]: nothing reached the endpoint, so a retry cannot
/// deliver twice. A TLS failure is [`AttemptError::Fatal`] (a retry would fail the same
/// way); so is an error after the request went out, because it may have been delivered.
pub async fn send(
    out: &Outgoing,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
    body_limit: usize,
) -> Result<Answer, AttemptError> {
    let deadline = Instant::now() + timeout;
    let io = tokio::time::timeout_at(deadline, connect(&out.url, tls))
        .await
        .map_err(|_| AttemptError::Transient("timed out connecting".into()))??;
    tokio::time::timeout_at(deadline, exchange(io, out, body_limit))
        .await
        .map_err(|_| AttemptError::Timeout)?
}

async fn connect(
    url: &url::Url,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Box<dyn Io>, AttemptError> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| AttemptError::Fatal("the URL has no port".into()))?;
    let (addrs, server_name): (Vec<SocketAddr>, Option<ServerName<'static>>) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (
            vec![SocketAddr::from((ip, port))],
            Some(ServerName::IpAddress(std::net::IpAddr::V4(ip).into())),
        ),
        Some(url::Host::Ipv6(ip)) => (
            vec![SocketAddr::from((ip, port))],
            Some(ServerName::IpAddress(std::net::IpAddr::V6(ip).into())),
        ),
        Some(url::Host::Domain(d)) => {
            let addrs = tokio::net::lookup_host((d, port))
                .await
                .map_err(|e| AttemptError::Transient(format!("cannot resolve the host: {e}")))?
                .collect();
            (addrs, ServerName::try_from(d.to_owned()).ok())
        }
        None => return Err(AttemptError::Fatal("the URL has no host".into())),
    };
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        AttemptError::Transient(match last {
            Some(e) => format!("cannot connect: {e}"),
            None => "the host resolved to no address".into(),
        })
    })?;
    let _ = tcp.set_nodelay(true);
    if url.scheme() != "https" {
        return Ok(Box::new(tcp));
    }
    let name = server_name
        .ok_or_else(|| AttemptError::Fatal("the host is not a valid TLS server name".into()))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| AttemptError::Fatal(format!("TLS handshake failed: {e}")))?;
    Ok(Box::new(stream))
}

async fn exchange(
    io: Box<dyn Io>,
    out: &Outgoing,
    body_limit: usize,
) -> Result<Answer, AttemptError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| AttemptError::Transient(format!("HTTP handshake failed: {e}")))?;
    // The connection task ends when the request and its answer are dropped; the timeout
    // only guards against an endpoint that keeps a half-read connection open.
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
    });
    let target = &out.url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut req = Request::builder()
        .method(out.method.clone())
        .uri(target)
        .body(Full::new(out.body.clone()))
        .map_err(|e| AttemptError::Fatal(format!("cannot build the request: {e}")))?;
    let headers = req.headers_mut();
    if let Ok(host) = HeaderValue::from_str(host_header(&out.url).as_str()) {
        headers.insert(HOST, host);
    }
    headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    if !out.body.is_empty() || matches!(out.method, Method::POST | Method::PUT | Method::PATCH) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(out.body.len()));
    }
    for (k, v) in &out.headers {
        headers.append(k.clone(), v.clone());
    }
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| AttemptError::Fatal(format!("the request failed after it was sent: {e}")))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The status arrived; a body that breaks off is reported as cut short rather
            // than failing a call the endpoint has already answered.
            truncated = true;
            break;
        };
        if let Ok(data) = frame.into_data() {
            let room = body_limit.saturating_sub(buf.len());
            if data.len() > room {
                buf.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&buf).into_owned(),
        truncated,
    })
}

fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// Connects (and for https completes the TLS handshake) without sending a request: proof
/// that the endpoint is reachable and its certificate valid, at no risk of delivering.
pub async fn probe(
    url: &url::Url,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<String, String> {
    match tokio::time::timeout(timeout, connect(url, tls)).await {
        Err(_) => Err(format!("{}: timed out connecting", super::origin(url))),
        Ok(Err(AttemptError::Transient(m) | AttemptError::Fatal(m))) => {
            Err(format!("{}: {m}", super::origin(url)))
        }
        Ok(Err(AttemptError::Timeout)) => Err(format!("{}: timed out", super::origin(url))),
        Ok(Ok(_)) => Ok(format!(
            "{} is reachable{}",
            super::origin(url),
            if url.scheme() == "https" {
                " and its certificate is valid"
            } else {
                ""
            }
        )),
    }
}
