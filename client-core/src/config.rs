//! Where the runtime is and how to talk to it.
//!
//! A script gets its configuration from the environment the sidecar (or `cronium run`)
//! sets; bindings call [`Config::from_env`]. Tests and embedders use
//! [`Config::from_lookup`] (the same rules over any name → value function) or the
//! [`ConfigBuilder`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::tls::TlsOptions;

/// Env var naming the sidecar's Unix socket.
pub const ENV_SOCKET: &str = "CRONIUM_RUNTIME_SOCKET";
/// Env var naming the sidecar's `http://host:port` (or `https://host:port`) base URL
/// (TCP fallback).
pub const ENV_API: &str = "CRONIUM_RUNTIME_API";
/// Env var holding the execution's bearer token.
pub const ENV_TOKEN: &str = "CRONIUM_EXECUTION_TOKEN";
/// Env var naming a private file that holds the execution's current token, rewritten by
/// `cronium run` at each token's half-life. The client reads it when its token is due for
/// refreshing: the way back for a script that sat idle past its token's lifetime, whose
/// expired token the API no longer refreshes.
pub const ENV_TOKEN_FILE: &str = "CRONIUM_EXECUTION_TOKEN_FILE";
/// Env var holding the execution id.
pub const ENV_EXECUTION_ID: &str = "CRONIUM_EXECUTION_ID";
/// Socket path used when [`ENV_SOCKET`] is not set: where containers mount the sidecar.
pub const DEFAULT_SOCKET: &str = "/run/cronium/runtime.sock";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RETRIES: u32 = 2;
const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(50);
const DEFAULT_RETRY_CAP: Duration = Duration::from_secs(1);
const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
const DEFAULT_MAX_IDLE: usize = 8;

/// How to reach the sidecar.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// The Unix socket (the preferred transport: no network needed in the container).
    Unix(PathBuf),
    /// Plain HTTP over TCP (SSH hosts, through a reverse tunnel).
    Tcp {
        /// Host as written in the URL (IPv6 literals keep their brackets).
        host: String,
        /// Port (80 when the URL has none).
        port: u16,
    },
    /// HTTPS over TCP (a sidecar beyond loopback); what it trusts is in the [`Config`]
    /// (`CRONIUM_RUNTIME_CA`, `CRONIUM_RUNTIME_CA_PIN`).
    Https {
        /// Host as written in the URL; also the name its certificate must carry.
        host: String,
        /// Port (443 when the URL has none).
        port: u16,
    },
}

impl Endpoint {
    /// The error of a failed connection to this endpoint (both transports).
    pub(crate) fn connect_error(&self, cause: &dyn fmt::Display) -> Error {
        match self {
            Endpoint::Unix(path) if cfg!(unix) => Error::connection(format!(
                "cannot connect to the runtime socket {}: {cause}",
                path.display()
            )),
            Endpoint::Unix(path) => Error::not_configured(format!(
                "Unix sockets are not available on this platform ({})",
                path.display()
            )),
            Endpoint::Tcp { host, port } | Endpoint::Https { host, port } => Error::connection(
                format!("cannot connect to the runtime at {host}:{port}: {cause}"),
            ),
        }
    }

    /// The endpoint the environment selects (the rules of [`Config::from_env`], without
    /// needing a token): `CRONIUM_RUNTIME_SOCKET` (default `/run/cronium/runtime.sock`)
    /// when that path exists, else the URL in `CRONIUM_RUNTIME_API`. Fails with code
    /// `not_configured` naming the variables to set.
    pub fn from_lookup<F>(lookup: F) -> Result<Endpoint>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let socket_var = get(ENV_SOCKET);
        let socket = PathBuf::from(socket_var.as_deref().unwrap_or(DEFAULT_SOCKET));
        if socket.exists() {
            return Ok(Endpoint::Unix(socket));
        }
        if let Some(url) = get(ENV_API) {
            return Endpoint::parse_url(&url);
        }
        let which = if socket_var.is_some() {
            format!(
                "{ENV_SOCKET} names {} which does not exist",
                socket.display()
            )
        } else {
            format!("{ENV_SOCKET} is not set and {DEFAULT_SOCKET} does not exist")
        };
        Err(Error::not_configured(format!(
            "no Cronium runtime to talk to: {which}, and {ENV_API} is not set; set \
             {ENV_SOCKET} to the sidecar's socket path or {ENV_API} to http://host:port \
             (scripts started by Cronium or `cronium run` get these automatically)"
        )))
    }

    /// Parses `http://host[:port][/]` or `https://host[:port][/]`.
    pub fn parse_url(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| {
            Error::with_code(
                crate::ErrorCode::NotConfigured,
                format!("{ENV_API} must look like http://host:port or https://host:port ({why}): {url:?}"),
            )
        };
        let uri: http::Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("a path prefix is not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let host = host.to_owned();
        Ok(if https {
            Endpoint::Https {
                host,
                port: authority.port_u16().unwrap_or(443),
            }
        } else {
            Endpoint::Tcp {
                host,
                port: authority.port_u16().unwrap_or(80),
            }
        })
    }

    /// The `Host` header value for this endpoint (`localhost` for the socket).
    pub(crate) fn host_header(&self) -> String {
        match self {
            Endpoint::Unix(_) => "localhost".to_owned(),
            Endpoint::Tcp { host, port } | Endpoint::Https { host, port } => {
                format!("{host}:{port}")
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "http://{host}:{port}"),
            Endpoint::Https { host, port } => write!(f, "https://{host}:{port}"),
        }
    }
}

/// A string that must never be printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Retry behaviour of idempotent calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            base: DEFAULT_RETRY_BASE,
            cap: DEFAULT_RETRY_CAP,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

/// Everything a [`Client`](crate::Client) needs; validated, so building a client cannot
/// fail later for configuration reasons.
///
/// `Debug` never shows the token.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) endpoint: Endpoint,
    pub(crate) token: Secret,
    /// Where a fresher token may be found (see [`ENV_TOKEN_FILE`]).
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) execution_id: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_idle: usize,
    /// What an `https://` endpoint trusts (and presents); `None` for the other endpoints.
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Config {
    /// Reads the environment a script is started with (see the crate docs for the
    /// variables). Fails with code `not_configured` naming the variables to set.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// The rules of [`Config::from_env`] over any lookup function, so they can be tested
    /// with a map instead of the process environment.
    ///
    /// The socket (`CRONIUM_RUNTIME_SOCKET`, default `/run/cronium/runtime.sock`) is used
    /// when that path exists, else the URL in `CRONIUM_RUNTIME_API`.
    pub fn from_lookup<F>(lookup: F) -> Result<Config>
    where
        F: Fn(&str) -> Option<String>,
    {
        ConfigBuilder::default().build_with_lookup(lookup)
    }

    /// Starts an explicit configuration (no environment involved).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Where the client connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The execution id from `CRONIUM_EXECUTION_ID`, when given (the token names it too).
    pub fn execution_id(&self) -> Option<&str> {
        self.execution_id.as_deref()
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times an idempotent call is retried after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.retry.max_retries
    }
}

/// Explicit configuration, for embedders and tests.
///
/// When both a socket and a URL are given the socket wins if it exists, as with the
/// environment.
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    socket: Option<PathBuf>,
    url: Option<String>,
    pub(crate) endpoint: Option<Endpoint>,
    token: Option<Secret>,
    token_file: Option<PathBuf>,
    execution_id: Option<String>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    max_idle: Option<usize>,
    tls: TlsOptions,
    /// A timeout given in a unit the caller could not turn into a duration (NaN, <= 0).
    bad_timeout: Option<String>,
}

impl ConfigBuilder {
    /// Connect over this Unix socket.
    pub fn socket(mut self, path: impl AsRef<Path>) -> Self {
        self.socket = Some(path.as_ref().to_path_buf());
        self
    }

    /// Connect over TCP to this `http://host:port` URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// For an `https://` URL: the PEM file of the CA that signed the sidecar's
    /// certificate (else `CRONIUM_RUNTIME_CA`).
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.tls.ca = Some(path.as_ref().to_path_buf());
        self
    }

    /// For an `https://` URL: the sidecar's public key pin, `sha256//BASE64` (else
    /// `CRONIUM_RUNTIME_CA_PIN`).
    pub fn ca_pin(mut self, pin: impl Into<String>) -> Self {
        self.tls.pin = Some(pin.into());
        self
    }

    /// For an `https://` URL whose sidecar requires client certificates: the PEM
    /// certificate and key files (else `CRONIUM_RUNTIME_CLIENT_CERT`/`_KEY`).
    pub fn client_cert(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.tls.client_cert = Some(cert.as_ref().to_path_buf());
        self.tls.client_key = Some(key.as_ref().to_path_buf());
        self
    }

    /// The execution's bearer token (surrounding whitespace is ignored).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret(token.into().trim().to_owned()));
        self
    }

    /// A file that holds the execution's current token, rewritten by whoever keeps the
    /// token fresh (`cronium run` does; see [`ENV_TOKEN_FILE`]). Read when the token is
    /// due for refreshing; a newer, still valid token found there replaces it.
    pub fn token_file(mut self, path: impl AsRef<Path>) -> Self {
        self.token_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// The execution id, for callers that want to show it.
    pub fn execution_id(mut self, id: impl Into<String>) -> Self {
        self.execution_id = Some(id.into());
        self
    }

    /// Per-call timeout, retries included (default 30 s). Streams and watches are not
    /// limited as a whole, only their opening.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// [`timeout`](Self::timeout) from a number of seconds, as bindings receive it from
    /// their language (Python's seconds, Node's milliseconds / 1000). A value that is not
    /// a positive finite number makes [`build`](Self::build) fail with `not_configured`.
    pub fn timeout_secs(mut self, secs: f64) -> Self {
        match Duration::try_from_secs_f64(secs) {
            Ok(d) if !d.is_zero() => {
                self.timeout = Some(d);
                self.bad_timeout = None;
            }
            _ => {
                self.bad_timeout = Some(format!(
                    "the timeout must be a positive number of seconds, got {secs}"
                ));
            }
        }
        self
    }

    /// How many times an idempotent call is retried after the first attempt (default 2).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// First backoff delay of retries (default 50 ms; doubles each retry, jittered).
    pub fn retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry.base = delay;
        self
    }

    /// Longest backoff delay between retries (default 1 s).
    pub fn retry_max_delay(mut self, delay: Duration) -> Self {
        self.retry.cap = delay;
        self
    }

    /// Longest `Retry-After` (of a 429, or a 503 such as `storage_unavailable`) the client
    /// waits out itself before retrying an idempotent call (default 5 s); a longer one is
    /// returned to the caller as the error it came with.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.retry.max_retry_after = delay;
        self
    }

    /// How many idle keep-alive connections are kept for reuse (default 8).
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle = Some(n);
        self
    }

    /// Builds with what was set on this builder, taking everything not set from the
    /// process environment: the one rule of "explicit options over the environment" every
    /// binding uses (`Cronium(token=...)` in Python, `new Cronium({ url })` in Node).
    ///
    /// - Endpoint: a socket or URL given here replaces both endpoint variables (so a given
    ///   URL is not overridden by a socket from the environment); with neither given, the
    ///   environment's socket when that path exists, else its URL.
    /// - Token and execution id: the given one, else the environment's. The environment's
    ///   token file goes with the environment's token only (a token given here belongs
    ///   to another execution, or another way of keeping it fresh); with no token in the
    ///   environment, the file's token is the one used.
    /// - Timeouts and retries: only from the builder.
    ///
    /// Errors have code `not_configured` and name the variables to set.
    pub fn build_with_env(self) -> Result<Config> {
        self.build_with_lookup(|name| std::env::var(name).ok())
    }

    /// [`build_with_env`](Self::build_with_env) over any lookup function instead of the
    /// process environment (tests use a map).
    pub fn build_with_lookup<F>(mut self, lookup: F) -> Result<Config>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if self.endpoint.is_none() && self.socket.is_none() && self.url.is_none() {
            self.endpoint = Some(Endpoint::from_lookup(&lookup)?);
        }
        if self.token.is_none() {
            if self.token_file.is_none() {
                self.token_file = get(ENV_TOKEN_FILE).map(PathBuf::from);
            }
            let token = get(ENV_TOKEN)
                .or_else(|| {
                    self.token_file
                        .as_deref()
                        .and_then(crate::token::read_token_file)
                })
                .ok_or_else(|| {
                    Error::not_configured(format!(
                        "{ENV_TOKEN} is not set (nor a readable {ENV_TOKEN_FILE}): the runtime \
                         needs the execution's token (scripts started by Cronium or `cronium \
                         run` get it automatically)"
                    ))
                })?;
            self = self.token(token);
        }
        if self.execution_id.is_none() {
            if let Some(id) = get(ENV_EXECUTION_ID) {
                self = self.execution_id(id);
            }
        }
        self.tls = self.tls.or_env(&get);
        self.build()
    }

    /// Validates and builds. Errors have code `not_configured`.
    pub fn build(self) -> Result<Config> {
        if let Some(why) = self.bad_timeout {
            return Err(Error::not_configured(why));
        }
        let endpoint = match (self.endpoint, self.socket, self.url) {
            (Some(endpoint), _, _) => endpoint,
            (None, Some(socket), Some(url)) => {
                if socket.exists() {
                    Endpoint::Unix(socket)
                } else {
                    Endpoint::parse_url(&url)?
                }
            }
            (None, Some(socket), None) => Endpoint::Unix(socket),
            (None, None, Some(url)) => Endpoint::parse_url(&url)?,
            (None, None, None) => {
                return Err(Error::not_configured(
                    "no runtime endpoint: give a socket path or an http://host:port URL",
                ))
            }
        };
        let token = match self.token {
            Some(t) if !t.expose().is_empty() => t,
            _ => return Err(Error::not_configured("no execution token given")),
        };
        if http::HeaderValue::from_str(token.expose()).is_err() {
            // Never echo the token: it is a secret even when malformed.
            return Err(Error::not_configured(
                "the execution token contains characters not allowed in an HTTP header",
            ));
        }
        // Read the certificates now, so a wrong path shows when the client is made.
        let tls = match &endpoint {
            Endpoint::Https { host, .. } => {
                crate::tls::server_name(host)?;
                Some(self.tls.client_config()?)
            }
            _ => None,
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(Error::not_configured(
                "the timeout must be greater than zero",
            ));
        }
        Ok(Config {
            endpoint,
            token,
            token_file: self.token_file,
            execution_id: self.execution_id,
            timeout,
            retry: self.retry,
            max_idle: self.max_idle.unwrap_or(DEFAULT_MAX_IDLE),
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn socket_is_preferred_when_it_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("runtime.sock");
        std::fs::write(&sock, b"").expect("create file");
        let sock_str = sock.to_str().expect("utf-8 path");
        let config = Config::from_lookup(lookup(&[
            (ENV_SOCKET, sock_str),
            (ENV_API, "http://127.0.0.1:8089"),
            (ENV_TOKEN, "tok"),
            (ENV_EXECUTION_ID, "exec-1"),
        ]))
        .expect("config");
        assert_eq!(config.endpoint(), &Endpoint::Unix(sock.clone()));
        assert_eq!(config.execution_id(), Some("exec-1"));
        assert_eq!(config.timeout(), Duration::from_secs(30));
    }

    #[test]
    fn url_is_used_when_socket_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("absent.sock");
        let config = Config::from_lookup(lookup(&[
            (ENV_SOCKET, sock.to_str().expect("utf-8 path")),
            (ENV_API, "http://127.0.0.1:8089"),
            (ENV_TOKEN, "tok"),
        ]))
        .expect("config");
        assert_eq!(
            config.endpoint(),
            &Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 8089
            }
        );
    }

    #[test]
    fn nothing_configured_names_the_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("absent.sock");
        let err = Config::from_lookup(lookup(&[
            (ENV_SOCKET, sock.to_str().expect("utf-8 path")),
            (ENV_TOKEN, "tok"),
        ]))
        .expect_err("must fail");
        assert_eq!(err.code(), "not_configured");
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.message().contains(ENV_SOCKET), "{}", err.message());
        assert!(err.message().contains(ENV_API), "{}", err.message());
    }

    #[test]
    fn missing_token_is_an_error() {
        let err =
            Config::from_lookup(lookup(&[(ENV_API, "http://localhost:1")])).expect_err("must fail");
        assert_eq!(err.code(), "not_configured");
        assert!(err.message().contains(ENV_TOKEN), "{}", err.message());
        let err = Config::from_lookup(lookup(&[(ENV_API, "http://localhost:1"), (ENV_TOKEN, " ")]))
            .expect_err("blank token must fail");
        assert_eq!(err.code(), "not_configured");
    }

    #[test]
    fn urls_are_validated() {
        assert_eq!(
            Endpoint::parse_url("http://localhost:9000/").expect("valid"),
            Endpoint::Tcp {
                host: "localhost".into(),
                port: 9000
            }
        );
        assert_eq!(
            Endpoint::parse_url("http://[::1]:9000").expect("valid"),
            Endpoint::Tcp {
                host: "[::1]".into(),
                port: 9000
            }
        );
        assert_eq!(
            Endpoint::parse_url("https://rt.example:8443").expect("valid"),
            Endpoint::Https {
                host: "rt.example".into(),
                port: 8443
            }
        );
        for bad in ["localhost:1", "http://h:1/prefix", "ftp://h", ""] {
            let err = Endpoint::parse_url(bad).expect_err(bad);
            assert_eq!(err.code(), "not_configured", "{bad}");
        }
    }

    #[test]
    fn builder_applies_settings() {
        let config = Config::builder()
            .url("http://127.0.0.1:1")
            .token("abc")
            .timeout(Duration::from_secs(2))
            .max_retries(5)
            .build()
            .expect("config");
        assert_eq!(config.timeout(), Duration::from_secs(2));
        assert_eq!(config.max_retries(), 5);
        assert!(Config::builder().url("http://h:1").build().is_err());
        assert!(Config::builder().token("t").build().is_err());
        assert!(Config::builder()
            .url("http://h:1")
            .token("bad\ntoken")
            .build()
            .is_err());
    }

    #[test]
    fn explicit_options_win_over_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("runtime.sock");
        std::fs::write(&sock, b"").expect("create file");
        let env = lookup(&[
            (ENV_SOCKET, sock.to_str().expect("utf-8 path")),
            (ENV_TOKEN, "env-token"),
            (ENV_EXECUTION_ID, "env-exec"),
        ]);
        // A URL given replaces the environment's socket, even one that exists.
        let config = Config::builder()
            .url("http://127.0.0.1:9")
            .build_with_lookup(&env)
            .expect("config");
        assert_eq!(
            config.endpoint(),
            &Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 9
            }
        );
        // What is not given comes from the environment.
        assert_eq!(config.token.expose(), "env-token");
        assert_eq!(config.execution_id(), Some("env-exec"));
        // What is given wins.
        let config = Config::builder()
            .token("mine")
            .execution_id("e2")
            .timeout_secs(1.5)
            .build_with_lookup(&env)
            .expect("config");
        assert_eq!(config.endpoint(), &Endpoint::Unix(sock.clone()));
        assert_eq!(config.token.expose(), "mine");
        assert_eq!(config.execution_id(), Some("e2"));
        assert_eq!(config.timeout(), Duration::from_millis(1500));
        // Nothing given: the same rules as from_lookup.
        assert_eq!(
            Config::builder()
                .build_with_lookup(&env)
                .expect("config")
                .endpoint(),
            Config::from_lookup(&env).expect("config").endpoint()
        );
    }

    #[test]
    fn the_token_file_goes_with_the_environments_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "file-token\n").expect("write");
        let path = file.to_str().expect("utf-8 path");
        let env = lookup(&[
            (ENV_API, "http://127.0.0.1:9"),
            (ENV_TOKEN, "env-token"),
            (ENV_TOKEN_FILE, path),
        ]);
        let config = Config::from_lookup(&env).expect("config");
        assert_eq!(config.token.expose(), "env-token");
        assert_eq!(config.token_file.as_deref(), Some(file.as_path()));
        // A token given explicitly does not take the environment's file.
        let config = Config::builder()
            .token("mine")
            .build_with_lookup(&env)
            .expect("config");
        assert_eq!(config.token_file, None);
        // With no token in the environment, the file's token is the first one.
        let env = lookup(&[(ENV_API, "http://127.0.0.1:9"), (ENV_TOKEN_FILE, path)]);
        assert_eq!(
            Config::from_lookup(&env).expect("config").token.expose(),
            "file-token"
        );
        // Neither: the error names both variables.
        let env = lookup(&[
            (ENV_API, "http://127.0.0.1:9"),
            (ENV_TOKEN_FILE, "/nonexistent/token"),
        ]);
        let err = Config::from_lookup(&env).expect_err("no token");
        assert_eq!(err.code(), "not_configured");
        assert!(
            err.message().contains(ENV_TOKEN) && err.message().contains(ENV_TOKEN_FILE),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_timeout_that_is_not_a_positive_number_is_refused() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = Config::builder()
                .url("http://h:1")
                .token("t")
                .timeout_secs(bad)
                .build()
                .expect_err("must fail");
            assert_eq!(err.code(), "not_configured", "{bad}");
            assert!(err.message().contains("positive"), "{}", err.message());
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = Config::builder()
            .url("http://127.0.0.1:1")
            .token("super-secret-token")
            .build()
            .expect("config");
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret-token"), "{shown}");
        let builder = Config::builder().token("super-secret-token");
        assert!(!format!("{builder:?}").contains("super-secret-token"));
    }
}
