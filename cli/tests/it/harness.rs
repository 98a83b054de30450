//! What the integration tests share: a kit sidecar ([`cronium_testkit`], the one launcher
//! of every suite) that also trusts an Ed25519 key, and a minimal HTTP/1.1 client over std
//! sockets, so tests see exactly the bytes a script's client would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command};

pub use cronium_testkit::{Execution, SECRET};
use serde_json::Value;

/// An Ed25519 key pair the sidecar trusts under kid "ed" (verify only: it holds the public key).
pub const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGtgk2b8+IYe+vdOoPfXcauyXSS+m4upQKOLxcR2jJNu\n-----END PRIVATE KEY-----\n";
/// The public half of [`ED_PRIVATE`].
pub const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEARBSzBRecdYfRfMRxvMiF10+ozNesiytRjODHzy2hkYM=\n-----END PUBLIC KEY-----\n";

/// The `cronium` binary under test, with the kit's secret and none of the caller's
/// `CRONIUM_*` settings.
pub fn cronium() -> Command {
    cronium_testkit::cronium_command(Path::new(env!("CARGO_BIN_EXE_cronium")), SECRET)
}

/// [`cronium`] for a copy of the binary at `exe` (a layout a test made around it).
pub fn cronium_at(exe: &Path) -> Command {
    cronium_testkit::cronium_command(exe, SECRET)
}

/// A free loopback TCP address.
pub fn free_port() -> SocketAddr {
    cronium_testkit::free_port().expect("free port")
}

/// A kit sidecar that trusts [`ED_PUBLIC`] under kid "ed", with the helpers these tests
/// share: panicking admin commands and raw HTTP. Everything else (its `dir`, `socket`,
/// `tcp`, `log`, `stop`, `kill9`, ...) is the kit's [`cronium_testkit::Sidecar`].
pub struct Sidecar {
    kit: cronium_testkit::Sidecar,
    // Declared after `kit`, so the process is gone before its state dir is removed.
    _tmp: Option<tempfile::TempDir>,
}

impl Deref for Sidecar {
    type Target = cronium_testkit::Sidecar;
    fn deref(&self) -> &Self::Target {
        &self.kit
    }
}

impl DerefMut for Sidecar {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.kit
    }
}

impl Sidecar {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a sidecar in a new state dir with extra env vars.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Self::start_in(tmp.path(), "rt.sock", env);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a sidecar on an existing state dir (a second process on one store, or a
    /// restart after a crash).
    pub fn start_in(dir: &Path, socket_name: &str, env: &[(&str, &str)]) -> Self {
        // The config names the key by path, inside the state dir: written before the start.
        let key = dir.join("ed.pub");
        std::fs::write(&key, ED_PUBLIC).expect("key");
        let options = cronium_testkit::Options {
            cronium: env!("CARGO_BIN_EXE_cronium").into(),
            state_dir: Some(dir.to_path_buf()),
            socket_name: socket_name.to_owned(),
            config: Some(format!(
                "[[auth.keys]]\nkid = \"ed\"\nalg = \"EdDSA\"\npublic_key_file = \"{}\"\n",
                key.display()
            )),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            secret: SECRET.to_owned(),
            ..cronium_testkit::Options::default()
        };
        let kit = cronium_testkit::Sidecar::start_with(options).expect("start cronium serve");
        Sidecar { kit, _tmp: None }
    }

    /// The loopback TCP address it serves on (every test sidecar has one).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.kit
            .tcp
            .expect("the kit's sidecars listen on TCP by default")
    }

    /// `cronium executions create --json ARGS...` on this sidecar's state dir.
    pub fn create(&self, args: &[&str]) -> Execution {
        self.create_with_env(args, &[])
    }

    /// [`Sidecar::create`] with extra environment for the admin command.
    pub fn create_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Execution {
        self.kit.create_with_flags(args, env).expect("create")
    }

    /// Runs an admin command on this state dir and returns stdout (panics on failure).
    pub fn admin(&self, args: &[&str]) -> String {
        self.kit.admin(args).expect("admin command")
    }

    pub fn req(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Resp {
        let mut headers = vec![];
        let auth;
        if let Some(t) = token {
            auth = format!("Bearer {t}");
            headers.push(("Authorization", auth.as_str()));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.request(method, path, &headers, body.map(str::as_bytes))
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let s = UnixStream::connect(&self.socket).expect("connect");
        http(s, method, path, headers, body)
    }

    pub fn request_tcp(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let s = TcpStream::connect(self.tcp_addr()).expect("connect");
        http(s, method, path, headers, body)
    }
}

/// Sends `sig` to a child (a `cronium run` under test).
pub fn signal(child: &Child, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The v1 error code.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_owned()
    }
    /// The v1 error message ("" when there is none).
    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Asserts a v1 error: status, code, JSON shape.
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "body: {}",
            self.text()
        );
        assert!(self.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn http<S: Read + Write>(
    mut s: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    // A server that refuses the connection (503 at the connection cap) may answer and
    // close before the request is written; its answer is still there to read.
    let _ = s.write_all(req.as_bytes());
    if let Some(b) = body {
        // The server may answer (413) and close before reading everything.
        let _ = s.write_all(b);
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("head utf8");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..nl])
                .expect("size")
                .split(';')
                .next()
                .expect("size"),
            16,
        )
        .expect("hex size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// Signs arbitrary claims with the test HS256 secret.
pub fn hs_token(claims: &Value, kid: Option<&str>) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

/// Standard claims for an execution, valid for a minute.
pub fn claims(e: &Execution) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    serde_json::json!({
        "executionId": e.id, "userId": e.user, "eventId": e.event_id, "sub": e.id,
        "iss": "cronium", "aud": "cronium-runtime", "iat": now, "nbf": now, "exp": now + 60,
    })
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}
