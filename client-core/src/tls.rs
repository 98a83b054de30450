//! HTTPS to a sidecar beyond loopback: which server to trust, and the client certificate
//! to present, read once when the configuration is built.
//!
//! The sidecar's certificate is usually issued by a private CA, so nothing is trusted by
//! default: an `https://` URL needs either the CA file (`CRONIUM_RUNTIME_CA`, verified as
//! usual: chain, validity, host name) or a pin of the server's public key
//! (`CRONIUM_RUNTIME_CA_PIN=sha256//BASE64`, curl's `--pinnedpubkey` format: the SHA-256
//! of the certificate's SubjectPublicKeyInfo; the key alone is checked, so a self-signed
//! certificate works and a renewed one with the same key keeps working). Both given: both
//! must hold.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};
use crate::ErrorCode;

/// Env var naming the PEM file of the CA that signed the sidecar's certificate.
pub const ENV_CA: &str = "CRONIUM_RUNTIME_CA";
/// Env var pinning the sidecar's public key: `sha256//BASE64` (several separated by `;`).
pub const ENV_CA_PIN: &str = "CRONIUM_RUNTIME_CA_PIN";
/// Env var naming the client certificate (PEM) for a sidecar that requires one.
pub const ENV_CLIENT_CERT: &str = "CRONIUM_RUNTIME_CLIENT_CERT";
/// Env var naming the client certificate's private key (PEM).
pub const ENV_CLIENT_KEY: &str = "CRONIUM_RUNTIME_CLIENT_KEY";

/// What an HTTPS connection trusts and presents, as given (files not read yet).
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsOptions {
    pub(crate) ca: Option<PathBuf>,
    pub(crate) pin: Option<String>,
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) client_key: Option<PathBuf>,
}

impl TlsOptions {
    /// Fills what was not given from the environment.
    pub(crate) fn or_env(mut self, get: &dyn Fn(&str) -> Option<String>) -> Self {
        self.ca = self.ca.or_else(|| get(ENV_CA).map(PathBuf::from));
        self.pin = self.pin.or_else(|| get(ENV_CA_PIN));
        self.client_cert = self
            .client_cert
            .or_else(|| get(ENV_CLIENT_CERT).map(PathBuf::from));
        self.client_key = self
            .client_key
            .or_else(|| get(ENV_CLIENT_KEY).map(PathBuf::from));
        self
    }

    /// The rustls configuration; every problem is `not_configured` naming the setting.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::not_configured(format!("TLS setup failed: {e}")))?;
        let pins = match &self.pin {
            Some(p) => parse_pins(p)?,
            None => Vec::new(),
        };
        let chain = match &self.ca {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(path, ENV_CA)? {
                    roots.add(cert).map_err(|e| {
                        Error::not_configured(format!("{ENV_CA} {}: {e}", path.display()))
                    })?;
                }
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| {
                            Error::not_configured(format!("{ENV_CA} {}: {e}", path.display()))
                        })?;
                Some(verifier)
            }
            None => None,
        };
        if chain.is_none() && pins.is_empty() {
            return Err(Error::not_configured(format!(
                "an https:// runtime URL needs to know which server to trust: set {ENV_CA} to \
                 the PEM file of the CA that signed the sidecar's certificate, or \
                 {ENV_CA_PIN} to sha256//BASE64 of its public key"
            )));
        }
        let verifier = Arc::new(Verifier {
            chain,
            pins,
            provider,
        });
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let certs = read_certs(cert, ENV_CLIENT_CERT)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    Error::not_configured(format!(
                        "{ENV_CLIENT_KEY}: cannot read {}: {e}",
                        key.display()
                    ))
                })?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    Error::not_configured(format!(
                        "{ENV_CLIENT_CERT} and {ENV_CLIENT_KEY} do not go together: {e}"
                    ))
                })?
            }
            _ => {
                return Err(Error::not_configured(format!(
                    "a client certificate needs both {ENV_CLIENT_CERT} and {ENV_CLIENT_KEY}"
                )))
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::not_configured(format!("{setting}: cannot read {}: {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(Error::not_configured(format!(
            "{setting}: {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// `sha256//BASE64[;sha256//BASE64...]` into the digests.
fn parse_pins(text: &str) -> Result<Vec<[u8; 32]>> {
    use base64::Engine as _;
    let bad = || {
        Error::not_configured(format!(
            "{ENV_CA_PIN} must be sha256//BASE64 (the SHA-256 of the server's public key, as \
             curl's --pinnedpubkey takes it), several separated by ';'"
        ))
    };
    text.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let b64 = p.strip_prefix("sha256//").ok_or_else(bad)?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad())?;
            <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| bad())
        })
        .collect()
}

/// `sha256//BASE64` of a DER certificate's public key: the pin that matches it.
pub fn public_key_pin(cert_der: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        cert.subject_public_key_info().as_ref(),
    );
    Some(format!(
        "sha256//{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    ))
}

/// Checks the chain against the CA (when given) and the key against the pins (when
/// given); the handshake's signatures are always verified.
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("ca", &self.chain.is_some())
            .field("pins", &self.pins.len())
            .finish()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if !self.pins.is_empty() {
            let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
            })?;
            let digest = ring::digest::digest(
                &ring::digest::SHA256,
                cert.subject_public_key_info().as_ref(),
            );
            if !self.pins.iter().any(|p| p[..] == *digest.as_ref()) {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server name a connection to `host` verifies (an IP address or a DNS name).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|_| Error::not_configured(format!("{host:?} is not a valid TLS server name")))
}

/// The `tls_failed` error when `err` (or what caused it) is a TLS failure (`at` names
/// the peer, e.g. "the runtime at host:port"): the server's
/// certificate was refused, or the server refused ours (an alert). Such a failure is not
/// retried: the same certificates fail the same way.
pub(crate) fn tls_failure(err: &(dyn std::error::Error + 'static), at: &str) -> Option<Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(tls_error(tls, at));
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                    return Some(tls_error(tls, at));
                }
            }
        }
        cause = c.source();
    }
    None
}

fn tls_error(tls: &rustls::Error, at: &str) -> Error {
    let hint = match tls {
        rustls::Error::InvalidCertificate(_) => format!(
            "; the server's certificate is not trusted: check {ENV_CA} (the CA that signed \
             it) or {ENV_CA_PIN}"
        ),
        rustls::Error::AlertReceived(_) => format!(
            "; the server refused the connection (does it require a client certificate? set \
             {ENV_CLIENT_CERT} and {ENV_CLIENT_KEY})"
        ),
        _ => String::new(),
    };
    Error::with_code(
        ErrorCode::TlsFailed,
        format!("TLS with {at} failed: {tls}{hint}"),
    )
}
