//! The TLS listener's certificates: the sidecar's certificate chain and key, and
//! optionally the CA that client certificates must chain to, read from PEM files and
//! reloaded in place (`SIGHUP`) without touching open connections.
//!
//! TCP beyond loopback carries tokens over a network, so the design allows it only with
//! TLS (rustls with the ring provider, the same stack the tools and the PostgreSQL store
//! use). Each accepted connection takes the configuration current at that moment;
//! connections already open keep the one they were accepted with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Where the TLS listener's PEM files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate, followed by any intermediates.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, every client must present a certificate that chains to a CA in this
    /// file; the handshake fails otherwise.
    pub client_ca: Option<PathBuf>,
}

/// The current TLS configuration of a listener, replaceable while it serves.
#[derive(Debug)]
pub struct TlsServer {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsServer {
    /// Reads the files; a missing or unreadable file, a key that does not match the
    /// certificate, or an empty CA file is an error naming the file.
    pub fn load(files: TlsFiles) -> Result<Arc<TlsServer>, String> {
        let config = build(&files)?;
        Ok(Arc::new(TlsServer {
            files,
            current: RwLock::new(config),
        }))
    }

    /// Reads the files again and uses them for the connections accepted from now on. On
    /// an error the previous configuration stays in use (a half-written certificate must
    /// not take the listener down).
    pub fn reload(&self) -> Result<(), String> {
        let config = build(&self.files)?;
        *self.current.write() = config;
        Ok(())
    }

    /// An acceptor with the configuration current now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().clone())
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_cert(&self) -> bool {
        self.files.client_ca.is_some()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn build(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certs(&files.cert, "TLS certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!(
            "cannot read the TLS private key {}: {e}",
            files.key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path, "client CA file")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("the client CA file {}: {e}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("the client CA file {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "the TLS certificate {} and key {} do not go together: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
