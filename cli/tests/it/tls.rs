//! The TLS listener against client-core: certificates generated here (rcgen), a real
//! `cronium serve` with `CRONIUM_TLS_*`, and real handshakes: trusted by CA file and by
//! public-key pin, a wrong CA refused with `tls_failed`, plain HTTP to the TLS port
//! refused, client certificates required, the certificate reloaded on SIGHUP while an
//! open connection keeps working, and non-loopback binds refused without TLS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cronium_client::{BlockingClient, Client, Config};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

use crate::harness::*;

/// A CA that signs server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA"),
        }
    }

    /// Writes the CA certificate to `dir/name`.
    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.issuer.pem()).expect("write CA");
        path
    }

    /// A leaf for `names` (DNS names or IP addresses), written as `dir/stem.pem` and
    /// `dir/stem.key`; returns the paths and the certificate's DER.
    fn leaf(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf, Vec<u8>) {
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let (c, k) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k, cert.der().to_vec())
    }
}

/// Server certificate files (signed by `ca`) and a sidecar serving TLS with them.
struct TlsSidecar {
    s: Sidecar,
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    cert_der: Vec<u8>,
}

fn start_tls(ca: &Ca, extra: &[(&str, &str)]) -> TlsSidecar {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, cert_der) = ca.leaf(dir.path(), "server", &["localhost", "127.0.0.1"]);
    let mut env = vec![
        ("CRONIUM_TLS_CERT_FILE", cert.to_str().expect("utf-8")),
        ("CRONIUM_TLS_KEY_FILE", key.to_str().expect("utf-8")),
    ];
    env.extend_from_slice(extra);
    let s = Sidecar::start_with(&env);
    TlsSidecar {
        s,
        dir,
        cert,
        key,
        cert_der,
    }
}

impl TlsSidecar {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.s.tcp_addr().port())
    }
}

fn hangup(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn blocking(config: Config) -> BlockingClient {
    BlockingClient::new(config).expect("client")
}

#[test]
fn a_trusted_ca_carries_real_requests_blocking_and_async() {
    let ca = Ca::new("test CA");
    let t = start_tls(&ca, &[]);
    let ca_file = ca.write(t.dir.path(), "ca.pem");
    let e = t.s.create(&["--user", "u", "--input", r#"{"n": 7}"#]);
    let config = Config::builder()
        .url(t.url())
        .ca_file(&ca_file)
        .token(&e.token)
        .build()
        .expect("config");
    let c = blocking(config.clone());
    let input: Value = c.input().expect("input over TLS");
    assert_eq!(input["n"], 7);
    c.set_variable("seen", &1, None).expect("set over TLS");
    let v = c.get_variable::<i64>("seen").expect("get").expect("exists");
    assert_eq!(v.value, 1);
    // The async transport (hyper over tokio-rustls), streams included.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let a = Client::new(config);
        let v = a.get_variable::<i64>("seen").await.expect("async get");
        assert_eq!(v.expect("exists").value, 1);
        let mut out = a.stream_output().await.expect("stream");
        out.write(&serde_json::json!({"r": 1}))
            .await
            .expect("write");
        let summary = out.close().await.expect("close");
        assert_eq!(summary.records, 1);
    });
    // The environment route every binding takes: CRONIUM_RUNTIME_API + CRONIUM_RUNTIME_CA.
    let url = t.url();
    let ca_str = ca_file.to_str().expect("utf-8").to_owned();
    let env = move |name: &str| match name {
        "CRONIUM_RUNTIME_SOCKET" => Some("/nonexistent/rt.sock".to_owned()),
        "CRONIUM_RUNTIME_API" => Some(url.clone()),
        "CRONIUM_RUNTIME_CA" => Some(ca_str.clone()),
        "CRONIUM_EXECUTION_TOKEN" => Some(e.token.clone()),
        _ => None,
    };
    let c = blocking(Config::from_lookup(env).expect("config from env"));
    c.health().expect("health over TLS");
}

#[test]
fn a_public_key_pin_is_trusted_without_a_ca_and_a_wrong_pin_is_refused() {
    let ca = Ca::new("unknown CA");
    let t = start_tls(&ca, &[]);
    let e = t.s.create(&["--user", "u"]);
    let pin = cronium_client::public_key_pin(&t.cert_der).expect("pin");
    assert!(pin.starts_with("sha256//"), "{pin}");
    let c = blocking(
        Config::builder()
            .url(t.url())
            .ca_pin(&pin)
            .token(&e.token)
            .build()
            .expect("config"),
    );
    c.set_variable("k", &"pinned", None)
        .expect("set over a pinned connection");
    // Another key's pin: refused, not retried, with the code and a hint.
    let other = Ca::new("other");
    let (_, _, other_der) = other.leaf(t.dir.path(), "other", &["localhost"]);
    let wrong = cronium_client::public_key_pin(&other_der).expect("pin");
    let c = blocking(
        Config::builder()
            .url(t.url())
            .ca_pin(wrong)
            .token(&e.token)
            .build()
            .expect("config"),
    );
    let err = c.get_variable::<Value>("k").expect_err("wrong pin");
    assert_eq!(err.code(), "tls_failed", "{err}");
    assert!(err.message().contains("CRONIUM_RUNTIME_CA_PIN"), "{err}");
}

#[test]
fn a_wrong_ca_is_refused_with_tls_failed_and_no_trust_is_not_configured() {
    let ca = Ca::new("server CA");
    let t = start_tls(&ca, &[]);
    let e = t.s.create(&["--user", "u"]);
    let wrong = Ca::new("somebody else").write(t.dir.path(), "wrong-ca.pem");
    let config = Config::builder()
        .url(t.url())
        .ca_file(&wrong)
        .token(&e.token)
        .max_retries(3)
        .build()
        .expect("config");
    let started = Instant::now();
    let err = blocking(config.clone())
        .input::<Value>()
        .expect_err("untrusted");
    assert_eq!(err.code(), "tls_failed", "{err}");
    assert!(err.message().contains("not trusted"), "{err}");
    assert!(!err.retryable());
    // Not retried with backoff: a refused certificate fails the same way every time.
    assert!(started.elapsed() < Duration::from_secs(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(Client::new(config).input::<Value>())
        .expect_err("untrusted (async)");
    assert_eq!(err.code(), "tls_failed", "{err}");
    // An https URL with nothing to trust is a configuration error at once.
    let err = Config::builder()
        .url(t.url())
        .token(&e.token)
        .build()
        .expect_err("no trust");
    assert_eq!(err.code(), "not_configured");
    assert!(err.message().contains("CRONIUM_RUNTIME_CA"), "{err}");
}

#[test]
fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let ca = Ca::new("ca");
    let t = start_tls(&ca, &[]);
    let mut s = TcpStream::connect(t.s.tcp_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&got)
    );
    // And a plain http:// client-core URL to it fails rather than hanging.
    let e = t.s.create(&["--user", "u"]);
    let c = blocking(
        Config::builder()
            .url(format!("http://{}", t.s.tcp_addr()))
            .token(&e.token)
            .max_retries(0)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("config"),
    );
    let err = c.input::<Value>().expect_err("plain to TLS");
    assert!(
        matches!(err.code(), "connection_failed" | "protocol_error"),
        "{err}"
    );
}

#[test]
fn a_required_client_certificate_is_enforced() {
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let client_ca = clients.write(dir.path(), "clients.pem");
    let t = start_tls(
        &ca,
        &[(
            "CRONIUM_TLS_CLIENT_CA_FILE",
            client_ca.to_str().expect("utf-8"),
        )],
    );
    let ca_file = ca.write(t.dir.path(), "ca.pem");
    let e = t.s.create(&["--user", "u"]);
    let base = || {
        Config::builder()
            .url(t.url())
            .ca_file(&ca_file)
            .token(&e.token)
    };
    // No client certificate: the server refuses the handshake.
    let err = blocking(base().build().expect("config"))
        .input::<Value>()
        .expect_err("no client cert");
    assert_eq!(err.code(), "tls_failed", "{err}");
    // A certificate from another CA: refused too.
    let (bad_c, bad_k, _) = Ca::new("stranger").leaf(dir.path(), "stranger", &["script"]);
    let err = blocking(base().client_cert(&bad_c, &bad_k).build().expect("config"))
        .input::<Value>()
        .expect_err("foreign client cert");
    assert_eq!(err.code(), "tls_failed", "{err}");
    // The client CA's certificate: served.
    let (c, k, _) = clients.leaf(dir.path(), "script", &["script"]);
    let ok = blocking(base().client_cert(&c, &k).build().expect("config"));
    ok.set_variable("x", &1, None).expect("with a client cert");
}

#[test]
fn sighup_reloads_the_certificate_and_open_connections_stay() {
    let ca1 = Ca::new("first CA");
    // Info level: the reload is logged there.
    let t = start_tls(&ca1, &[("CRONIUM_LOG", "info")]);
    let ca1_file = ca1.write(t.dir.path(), "ca1.pem");
    let e = t.s.create(&["--user", "u"]);
    let with = |ca: &Path| {
        blocking(
            Config::builder()
                .url(t.url())
                .ca_file(ca)
                .token(&e.token)
                .max_retries(0)
                .build()
                .expect("config"),
        )
    };
    let kept = with(&ca1_file);
    kept.set_variable("n", &1, None).expect("before the reload");
    // A new certificate from another CA replaces the files; SIGHUP.
    let ca2 = Ca::new("second CA");
    let ca2_file = ca2.write(t.dir.path(), "ca2.pem");
    let (c2, k2, _) = ca2.leaf(t.dir.path(), "server2", &["localhost", "127.0.0.1"]);
    std::fs::copy(&c2, &t.cert).expect("replace cert");
    std::fs::copy(&k2, &t.key).expect("replace key");
    let pid = t.s.pid().expect("pid");
    hangup(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match with(&ca2_file).get_variable::<i64>("n") {
            Ok(v) => {
                assert_eq!(v.expect("exists").value, 1);
                break;
            }
            Err(err) => {
                assert!(Instant::now() < deadline, "not reloaded: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // New connections trusting only the old CA are refused now.
    let err = with(&ca1_file).input::<Value>().expect_err("old CA");
    assert_eq!(err.code(), "tls_failed", "{err}");
    // The connection opened before the reload was not dropped: it carries on.
    let opened = kept.connections_opened();
    kept.set_variable("n", &2, None)
        .expect("after the reload, same connection");
    assert_eq!(
        kept.connections_opened(),
        opened,
        "the kept connection was dropped"
    );
    assert!(
        t.s.log().contains("TLS certificate reloaded"),
        "{}",
        t.s.log()
    );
    // A broken file on the next SIGHUP keeps the current certificate.
    std::fs::write(&t.cert, "not a certificate").expect("break cert");
    hangup(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.s.log().contains("TLS reload failed") {
        assert!(Instant::now() < deadline, "{}", t.s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    with(&ca2_file)
        .input::<Value>()
        .expect("still served with the last good certificate");
}

#[test]
fn non_loopback_needs_tls() {
    // Without TLS: refused at start, exit 2, saying what to set.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cronium()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["serve", "--socket"])
        .arg(dir.path().join("rt.sock"))
        .arg("--listen=0.0.0.0:0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CRONIUM_TLS_CERT_FILE"), "{stderr}");
    assert!(stderr.lines().count() == 1, "{stderr}");
    // A certificate without its key is refused too (never a silently plain listener).
    let ca = Ca::new("ca");
    let (cert, key, _) = ca.leaf(dir.path(), "server", &["localhost", "127.0.0.1"]);
    let out = cronium()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["serve", "--socket"])
        .arg(dir.path().join("rt.sock"))
        .arg("--listen=0.0.0.0:0")
        .env("CRONIUM_TLS_CERT_FILE", &cert)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRONIUM_TLS_KEY_FILE"));
    // With TLS: a wildcard bind serves, reached here through loopback.
    let port = free_port().port();
    let config = format!(
        "listen = \"0.0.0.0:{port}\"\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let file = dir.path().join("cronium.toml");
    std::fs::write(&file, config).expect("config");
    let mut child = cronium()
        .arg("--state-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&file)
        .args(["serve", "--socket"])
        .arg(dir.path().join("rt.sock"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = Config::builder()
            .url(format!("https://127.0.0.1:{port}"))
            .ca_file(&ca_file)
            .token("not-a-token")
            .max_retries(0)
            .build()
            .expect("config");
        match blocking(c).health() {
            Ok(()) => break,
            Err(err) => {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("no TLS on 0.0.0.0: {err}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A client stuck in the TLS handshake (connected and silent, or half a ClientHello) does
/// not hold up shutdown: the handshake is cancelled at SIGTERM instead of waiting out its
/// timeout (here a minute) or the drain's ten seconds, and the connection is closed.
#[test]
fn shutdown_cancels_handshakes_in_progress() {
    let ca = Ca::new("ca");
    let mut t = start_tls(&ca, &[("CRONIUM_HEADER_READ_TIMEOUT", "60s")]);
    let silent = TcpStream::connect(t.s.tcp_addr()).expect("connect");
    let mut partial = TcpStream::connect(t.s.tcp_addr()).expect("connect");
    // A handshake record's header announcing 512 bytes, and 3 of them.
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .expect("write");
    // Both are in the handshake, not refused: the sidecar still answers others meanwhile.
    let e = t.s.create(&["--user", "u"]);
    let c = blocking(
        Config::builder()
            .url(t.url())
            .token(&e.token)
            .ca_file(ca.write(t.dir.path(), "ca.pem"))
            .build()
            .expect("config"),
    );
    c.health().expect("health while two handshakes hang");

    let started = Instant::now();
    t.s.terminate();
    let status = t.s.wait_exit().expect("the sidecar exited");
    let took = started.elapsed();
    assert!(status.success(), "exit {status:?}");
    assert!(
        took < Duration::from_secs(5),
        "shutdown waited {took:?} for handshakes that would never finish"
    );
    for mut s in [silent, partial] {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("a handshake's connection is still open after the sidecar exited")
            }
            Err(_) => {} // reset: closed too
            Ok(n) => panic!("a cancelled handshake got {n} bytes"),
        }
    }
}
