//! jsonwebtoken's cryptography, on `ring`: HS256 and EdDSA, the only algorithms Cronium
//! tokens use.
//!
//! jsonwebtoken's own RustCrypto provider brings RSA, P-256 and P-384 along (big-integer
//! and curve arithmetic, about half a MiB of code the sidecar would load and never run),
//! while `ring` is in the binary anyway for TLS and sealed credentials. Every other
//! algorithm is refused as an invalid algorithm, which the token checks turn into
//! `token_invalid`.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{Error as SignatureError, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

/// The provider the sidecar installs (see [`install`]).
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        ed_pub_components_from_private_key: ed25519_public_key,
        compute_digest,
    },
};

/// Makes [`PROVIDER`] the process's jsonwebtoken provider, unless the embedding program
/// installed one first (then that one stays).
pub fn install() {
    let _ = PROVIDER.install_default();
}

/// The Ed25519 key pair of a PKCS#8 document (v1, as OpenSSL writes it, or v2).
fn ed25519_pair(pkcs8: &[u8]) -> Result<Ed25519KeyPair> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| ErrorKind::InvalidEddsaKey.into())
}

/// The public key of an Ed25519 private key in PKCS#8 DER form.
pub fn ed25519_public_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    match curve {
        EllipticCurve::Ed25519 => Ok(ed25519_pair(pkcs8)?.public_key().as_ref().to_vec()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(ring::digest::digest(alg, data).as_ref().to_vec())
}

struct Hs256(ring::hmac::Key);

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, SignatureError> {
        Ok(ring::hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        // Constant-time comparison inside ring.
        ring::hmac::verify(&self.0, msg, signature).map_err(|_| SignatureError::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

struct EdSigner(Ed25519KeyPair);

impl Signer<Vec<u8>> for EdSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, SignatureError> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for EdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct EdVerifier(Vec<u8>);

impl Verifier<Vec<u8>> for EdVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, signature)
            .map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for EdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    match (alg, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Box::new(Hs256(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            key.as_bytes(),
        )))),
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => {
            Ok(Box::new(EdSigner(ed25519_pair(key.as_bytes())?)))
        }
        (Algorithm::HS256 | Algorithm::EdDSA, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (alg, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Box::new(Hs256(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            key.try_get_as_bytes()?,
        )))),
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => {
            let public = key.try_get_as_bytes()?;
            if public.len() != 32 {
                return Err(ErrorKind::InvalidEddsaKey.into());
            }
            Ok(Box::new(EdVerifier(public.to_vec())))
        }
        (Algorithm::HS256 | Algorithm::EdDSA, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_signs_verifies_and_rejects_tampering() {
        let enc = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let dec = DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let signer = new_signer(&Algorithm::HS256, &enc).expect("signer");
        let sig = signer.try_sign(b"msg").expect("sign");
        let verifier = new_verifier(&Algorithm::HS256, &dec).expect("verifier");
        assert!(verifier.verify(b"msg", &sig).is_ok());
        assert!(verifier.verify(b"msh", &sig).is_err());
        let other = DecodingKey::from_secret(b"another secret of thirty-two b..");
        let other = new_verifier(&Algorithm::HS256, &other).expect("verifier");
        assert!(other.verify(b"msg", &sig).is_err());
    }

    #[test]
    fn only_hs256_and_eddsa_are_provided() {
        let enc = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        for alg in [Algorithm::HS384, Algorithm::RS256, Algorithm::ES256] {
            assert!(new_signer(&alg, &enc).is_err(), "{alg:?}");
        }
        // A secret is not an Ed25519 key (algorithm confusion).
        assert!(new_signer(&Algorithm::EdDSA, &enc).is_err());
    }
}
