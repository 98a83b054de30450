//! Execution tokens: verification on every request, minting for `cronium run` and
//! `POST /v1/token/refresh`.
//!
//! A token is a JWT signed with HS256 (a shared secret) or EdDSA (Ed25519, so a sidecar can
//! hold only a public key). Every configured key is pinned to one algorithm: the token's
//! header picks the key (`kid`), never the algorithm, which closes the classic
//! "alg: none" and HS/EdDSA confusion attacks. Successful verifications are cached by the
//! exact token string, because the same token arrives on every request of an execution;
//! a cached token is still re-checked against the clock so it expires on time.
//!
//! Nothing here ever formats a token, a part of one, or key material into an error message
//! or a `Debug` output: errors end up in HTTP answers and logs.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::jwk::EllipticCurve;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use serde::{Deserialize, Deserializer, Serialize};

use cronium_protocol::ErrorCode;

/// Issuers accepted when the configuration names none: what the sidecar mints and what
/// Cronium's orchestrator mints.
pub const DEFAULT_ISSUERS: [&str; 2] = ["cronium", "cronium-runtime"];
/// Issuers whose tokens are accepted the way Cronium's orchestrator mints them when the
/// configuration names none: `sub` may be `job:<jobId>` and `aud` may be absent.
pub const DEFAULT_ORCHESTRATOR_ISSUERS: [&str; 1] = ["cronium-orchestrator"];
/// The `scope` word Cronium's orchestrator writes (`scope: "execution"`): every scope of
/// the execution, as if the claim were absent.
pub const EXECUTION_SCOPE_WORD: &str = "execution";
/// Audience every token must name unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "cronium-runtime";
/// `iss` of the tokens this sidecar mints unless configured otherwise.
pub const DEFAULT_MINT_ISSUER: &str = "cronium";
/// Clock skew tolerated on `exp`/`nbf` unless configured otherwise, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 5;
/// The key a token without `kid` is checked against (when more than one key is configured).
pub const DEFAULT_KID: &str = "default";

/// Shorter HMAC secrets are brute-forceable; RFC 7518 asks for at least the hash size.
const MIN_HS256_SECRET_LEN: usize = 32;
/// Upper bound of the verification cache; it is cleared when full (cheap, and an execution
/// re-verifies its token only once after a clear).
const CACHE_CAPACITY: usize = 4096;
/// Longer tokens are verified but not cached, so the cache's memory stays bounded even if
/// some issuer mints huge tokens.
const MAX_CACHED_TOKEN_LEN: usize = 8 * 1024;
/// A kid echoed into [`AuthError::UnknownKey`] is cut to this many characters.
const MAX_REPORTED_KID_LEN: usize = 64;

/// One verification (and possibly signing) key.
///
/// Several keys with different `kid`s let tokens signed by an old and a new key verify side
/// by side during a rotation.
#[derive(Clone, Debug)]
pub struct KeySpec {
    /// Identifier matched against the token header's `kid`.
    pub kid: String,
    /// The key itself; its variant also fixes the one algorithm the key accepts.
    pub material: KeyMaterial,
}

/// Key material. Each variant is pinned to one algorithm so that a token can never choose
/// how its own signature is checked.
#[derive(Clone)]
pub enum KeyMaterial {
    /// HS256 shared secret (raw bytes, at least 32 bytes: shorter → config error).
    Hs256(Vec<u8>),
    /// Ed25519 private key, PKCS#8 PEM: can sign and verify.
    Ed25519PrivatePem(String),
    /// Ed25519 public key, SPKI PEM: verify only.
    Ed25519PublicPem(String),
}

// Key material must never reach a log through `{:?}` of a config struct.
impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Hs256(s) => write!(f, "Hs256(<{} byte secret>)", s.len()),
            KeyMaterial::Ed25519PrivatePem(_) => f.write_str("Ed25519PrivatePem(<redacted>)"),
            KeyMaterial::Ed25519PublicPem(_) => f.write_str("Ed25519PublicPem(<redacted>)"),
        }
    }
}

/// Everything needed to build an [`Authenticator`]; built by the config loader.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Verification keys (and the signing key, if any).
    pub keys: Vec<KeySpec>,
    /// kid used for minting; None → the first key that can sign.
    pub signing_kid: Option<String>,
    /// Accepted `iss` values. Default: ["cronium", "cronium-runtime"].
    pub issuers: Vec<String>,
    /// Issuers also accepted, with the rules of the tokens Cronium's orchestrator mints
    /// (`apps/orchestrator/.../container/jwt.go`): `aud` may be absent (if present it must
    /// still name the audience) and `sub` may be `job:<jobId>` instead of the execution id.
    /// Default: ["cronium-orchestrator"]; empty turns the rules off.
    pub orchestrator_issuers: Vec<String>,
    /// Required `aud`. Default "cronium-runtime".
    pub audience: String,
    /// `iss` of minted tokens. Default "cronium".
    pub mint_issuer: String,
    /// Leeway for exp/nbf, seconds. Default 5.
    pub leeway_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            signing_kid: None,
            issuers: DEFAULT_ISSUERS.iter().map(|s| (*s).to_owned()).collect(),
            orchestrator_issuers: DEFAULT_ORCHESTRATOR_ISSUERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            mint_issuer: DEFAULT_MINT_ISSUER.to_owned(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// One permission a token can carry, as the protocol defines it; routes check it.
pub use cronium_protocol::Scope;

/// The bit of a scope in [`Scopes`]: its position in [`Scope::ALL`].
fn bit(s: Scope) -> u8 {
    1 << (s as u8)
}

/// A small Copy bitset of scopes.
///
/// A bitset rather than a `HashSet` because it is checked on every request and travels
/// inside every [`Principal`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// Full execution scope: what a token without a `scope` claim gets.
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    /// No scope: such a token can still refresh itself, nothing else.
    pub fn empty() -> Self {
        Scopes(0)
    }

    /// Whether a route needing `s` may run.
    pub fn contains(self, s: Scope) -> bool {
        self.0 & bit(s) != 0
    }

    /// Adds `s` (idempotent).
    pub fn insert(&mut self, s: Scope) {
        self.0 |= bit(s);
    }

    /// Whether no scope at all is granted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in [`Scope::ALL`] order, e.g. to write a `scope` claim.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut scopes = Scopes::empty();
        for s in iter {
            scopes.insert(s);
        }
        scopes
    }
}

/// Who is calling: what a verified token says.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The execution the caller acts for (claim `executionId`, also `sub`).
    pub execution_id: String,
    /// Owner of the variables the caller reads and writes (claim `userId`).
    pub user_id: String,
    /// The event (script) being run (claim `eventId`).
    pub event_id: String,
    /// The job, when the execution belongs to one (claim `jobId`).
    pub job_id: Option<String>,
    /// What the caller may do; full scope when the token has no `scope` claim.
    pub scopes: Scopes,
    /// Claim `iat` in unix seconds; when the token has none, its `nbf`, else the time it was
    /// first verified.
    pub issued_at: i64,
    /// Claim `exp` in unix seconds (a refresh must never extend past the execution's limit).
    pub expires_at: i64,
    /// Claim `iss`: tells the sidecar's own tokens from the orchestrator's.
    pub issuer: String,
}

impl Principal {
    /// Whether the token allows a route that needs `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }
}

/// What to put into a new token.
#[derive(Clone, Debug)]
pub struct MintRequest {
    /// Execution the token acts for; also written as `sub`.
    pub execution_id: String,
    /// Owner of the execution (variables are per user).
    pub user_id: String,
    /// Event (script) of the execution.
    pub event_id: String,
    /// Job of the execution, if any.
    pub job_id: Option<String>,
    /// None → no `scope` claim (full execution scope). Some(s) → claim is a JSON array of strings.
    pub scopes: Option<Scopes>,
    /// `exp`, unix seconds.
    pub expires_at: i64,
    /// `nbf`, unix seconds; default: now.
    pub not_before: Option<i64>,
}

/// Why a token was refused (or could not be minted). Each variant has a stable
/// [`code`](AuthError::code) for the HTTP error body.
///
/// `Display` is a human message that never contains the token, any part of it (not even
/// the `kid` it names) nor key material, so it can be sent to clients and logged.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer token was presented.
    #[error("no bearer token: send 'Authorization: Bearer <token>'")]
    Missing,
    /// Not a JWT, undecodable header or claims, or required claims missing; the text says
    /// which, in words chosen here (never token content).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The signature does not verify with the key the token names.
    #[error("token signature does not verify")]
    InvalidSignature,
    /// `alg: none`, an unsupported algorithm, or one other than the key's; the text names
    /// only well-known algorithm names.
    #[error("token algorithm rejected: {0}")]
    AlgorithmRejected(String),
    /// The `kid` names no configured key. The field holds that kid (cut to 64 characters,
    /// control characters replaced) for diagnostics; `Display` leaves it out.
    #[error("token names a signing key that is not configured")]
    UnknownKey(String),
    /// `exp` is past, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` is missing or not an accepted issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing or does not name this runtime.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// No key that can sign is configured (minting only).
    #[error("no signing key is configured: this runtime can verify tokens but not mint them")]
    CannotMint,
}

impl AuthError {
    /// The stable `error.code` of the HTTP answer (API.md, "Errors").
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::TokenMissing,
            AuthError::Malformed(_) => ErrorCode::TokenMalformed,
            AuthError::InvalidSignature => ErrorCode::TokenInvalidSignature,
            AuthError::AlgorithmRejected(_) => ErrorCode::TokenAlgorithmRejected,
            AuthError::UnknownKey(_) => ErrorCode::TokenUnknownKey,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::NotYetValid => ErrorCode::TokenNotYetValid,
            AuthError::WrongIssuer => ErrorCode::TokenWrongIssuer,
            AuthError::WrongAudience => ErrorCode::TokenWrongAudience,
            AuthError::CannotMint => ErrorCode::TokenCannotMint,
        }
    }

    fn malformed(reason: &str) -> Self {
        AuthError::Malformed(reason.to_owned())
    }
}

/// Config problem building an Authenticator (bad PEM, short secret, duplicate kid, unknown
/// signing_kid, no keys, no issuer or audience). Reported at startup so a broken key never
/// shows up as "every request is 401"; the message names kids, never material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(pub String);

/// Public description of one configured key, for diagnostics and `/v1/context`-like views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id.
    pub kid: String,
    /// JWS name of the algorithm the key is pinned to (`HS256` or `EdDSA`).
    pub algorithm: &'static str,
    /// Whether the key can mint (HS256 secrets and Ed25519 private keys can).
    pub can_sign: bool,
}

/// The non-secret part of the configuration an [`Authenticator`] was built from, so other
/// modules (token refresh, diagnostics) can read audience and issuers without access to keys.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Accepted `iss` values.
    pub issuers: Vec<String>,
    /// Issuers accepted with the orchestrator's rules (see [`AuthConfig::orchestrator_issuers`]).
    pub orchestrator_issuers: Vec<String>,
    /// Required `aud`.
    pub audience: String,
    /// `iss` of minted tokens.
    pub mint_issuer: String,
    /// Leeway for exp/nbf, seconds.
    pub leeway_secs: u64,
    /// The kid minting uses; None when no configured key can sign.
    pub signing_kid: Option<String>,
    /// The configured keys, in configuration order.
    pub keys: Vec<KeyInfo>,
}

/// One usable key, parsed and checked once at startup.
struct Key {
    kid: String,
    alg: Algorithm,
    decoding: DecodingKey,
    /// Built once: pins the key's algorithm; claim checks are done by this module.
    validation: Validation,
    encoding: Option<EncodingKey>,
}

/// What the cache keeps for a verified token: the principal plus `nbf`, which a hit must
/// re-check (the principal has no field for it).
struct CacheEntry {
    principal: Arc<Principal>,
    not_before: Option<i64>,
}

/// Verifies and mints execution tokens. Build it once at startup and share it (it is
/// `Send + Sync`); verification results are cached inside.
pub struct Authenticator {
    keys: Vec<Key>,
    /// Index of the key for tokens without `kid`.
    default_key: Option<usize>,
    /// Index of the key minting signs with.
    signing_key: Option<usize>,
    settings: AuthSettings,
    leeway: i64,
    cache: Mutex<HashMap<Box<[u8]>, CacheEntry, TailHash>>,
}

/// Bytes of a token's end the verification cache hashes: more than a base64url HMAC-SHA256
/// or Ed25519 signature (43 and 86 characters). Tokens of one sidecar share their header
/// and most claims; the signature is what tells them apart, and hashing only it makes a
/// cache hit cost a tenth of hashing the whole token. Equality still compares whole tokens.
const HASHED_TOKEN_TAIL: usize = 96;

/// The verification cache's hasher: foldhash with a random seed per cache, fed only the
/// last [`HASHED_TOKEN_TAIL`] bytes of each token. Not std's SipHash: keyed SipHash guards a
/// map whose keys an attacker chooses, and here only verified tokens are inserted (distinct
/// entries have distinct signatures, which only the key's holder can make), while hashing
/// the tail with SipHash was a twentieth of a cached read's instructions.
#[derive(Default)]
struct TailHash(foldhash::fast::RandomState);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(foldhash::fast::FoldHasher<'static>);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TOKEN_TAIL)..]);
    }
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

// Kids and algorithms only: the keys must never reach a log.
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.settings.keys)
            .field(
                "default_kid",
                &self
                    .default_key
                    .and_then(|i| self.keys.get(i))
                    .map(|k| &k.kid),
            )
            .field("signing_kid", &self.settings.signing_kid)
            .field("issuers", &self.settings.issuers)
            .field("orchestrator_issuers", &self.settings.orchestrator_issuers)
            .field("audience", &self.settings.audience)
            .field("mint_issuer", &self.settings.mint_issuer)
            .field("leeway_secs", &self.settings.leeway_secs)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Parses and self-tests every key (a probe signature is made and verified), so a bad
    /// key fails startup instead of every request.
    ///
    /// Also installs the sidecar's jsonwebtoken crypto provider ([`crate::jwt_crypto`],
    /// on `ring`) as the process default unless one is installed already.
    pub fn new(cfg: AuthConfig) -> Result<Self, AuthConfigError> {
        crate::jwt_crypto::install();

        let cfg_err = |msg: String| Err(AuthConfigError(msg));
        if cfg.keys.is_empty() {
            return cfg_err("no token keys are configured".into());
        }
        if cfg
            .issuers
            .iter()
            .chain(&cfg.orchestrator_issuers)
            .all(|i| i.is_empty())
        {
            return cfg_err("no accepted token issuer is configured".into());
        }
        if cfg.audience.is_empty() {
            return cfg_err("the token audience must not be empty".into());
        }

        let mut keys: Vec<Key> = Vec::with_capacity(cfg.keys.len());
        for spec in &cfg.keys {
            if spec.kid.is_empty() {
                return cfg_err("a token key has an empty kid".into());
            }
            if keys.iter().any(|k| k.kid == spec.kid) {
                return cfg_err(format!("token key id {:?} is configured twice", spec.kid));
            }
            keys.push(build_key(spec)?);
        }

        let default_key = keys
            .iter()
            .position(|k| k.kid == DEFAULT_KID)
            .or(if keys.len() == 1 { Some(0) } else { None });

        let signing_key = match &cfg.signing_kid {
            Some(kid) => {
                let Some(i) = keys.iter().position(|k| &k.kid == kid) else {
                    return cfg_err(format!("signing_kid {kid:?} names no configured key"));
                };
                if keys[i].encoding.is_none() {
                    return cfg_err(format!(
                        "signing_kid {kid:?} is an Ed25519 public key, which cannot sign"
                    ));
                }
                Some(i)
            }
            None => keys.iter().position(|k| k.encoding.is_some()),
        };
        if signing_key.is_some() && !cfg.issuers.contains(&cfg.mint_issuer) {
            return cfg_err(format!(
                "mint issuer {:?} is not among the accepted issuers {:?}: minted tokens would not verify",
                cfg.mint_issuer, cfg.issuers
            ));
        }

        let settings = AuthSettings {
            issuers: cfg.issuers.clone(),
            orchestrator_issuers: cfg.orchestrator_issuers.clone(),
            audience: cfg.audience.clone(),
            mint_issuer: cfg.mint_issuer.clone(),
            leeway_secs: cfg.leeway_secs,
            signing_kid: signing_key.and_then(|i| keys.get(i)).map(|k| k.kid.clone()),
            keys: keys
                .iter()
                .map(|k| KeyInfo {
                    kid: k.kid.clone(),
                    algorithm: alg_name(k.alg),
                    can_sign: k.encoding.is_some(),
                })
                .collect(),
        };

        Ok(Self {
            keys,
            default_key,
            signing_key,
            settings,
            leeway: i64::try_from(cfg.leeway_secs).unwrap_or(i64::MAX),
            cache: Mutex::new(HashMap::default()),
        })
    }

    /// Verify a bearer token (without the "Bearer " prefix).
    ///
    /// Runs on every request, hence the cache: a token verified before is only re-checked
    /// against the clock. Failures are never cached.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_at(token.as_bytes(), now_unix())
            .map(|p| (*p).clone())
    }

    /// [`verify`](Self::verify) returning the cached principal itself: a request holds it
    /// without copying its strings.
    pub fn verify_shared(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        self.verify_at(token.as_bytes(), now_unix())
    }

    /// Signs a token for `req` with the signing key; `iat` is now, `iss` the mint issuer,
    /// `aud` the audience, `sub` the execution id.
    ///
    /// `expires_at` is taken as given: capping it at the execution's maximum lifetime is
    /// the caller's job. Empty ids make a token that [`verify`](Self::verify) rejects.
    pub fn mint(&self, req: &MintRequest) -> Result<String, AuthError> {
        self.mint_at(req, now_unix())
    }

    /// Whether [`mint`](Self::mint) can work: false for a verify-only (public key) runtime.
    pub fn can_mint(&self) -> bool {
        self.signing_key.is_some()
    }

    /// Audience, issuers, leeway and key ids this authenticator was built with.
    pub fn config(&self) -> &AuthSettings {
        &self.settings
    }

    /// [`verify_shared`](Self::verify_shared) of a token's bytes at the Unix time `now`.
    ///
    /// A token in the cache was checked as text when it was verified, so a hit needs no
    /// second look at its bytes: only a miss checks them ([`token_text`]).
    pub(crate) fn verify_at(&self, token: &[u8], now: i64) -> Result<Arc<Principal>, AuthError> {
        if token.trim_ascii().is_empty() {
            return Err(AuthError::Missing);
        }
        if let Some(hit) = self.cache_lookup(token, now) {
            return hit;
        }
        let entry = self.verify_uncached(token_text(token)?, now)?;
        let principal = entry.principal.clone();
        if token.len() <= MAX_CACHED_TOKEN_LEN {
            let mut cache = self.cache.lock();
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(token.into(), entry);
        }
        Ok(principal)
    }

    /// `None` on a miss; on a hit, the principal if the token is still within its time
    /// window, else the time error (an expired entry is evicted).
    fn cache_lookup(&self, token: &[u8], now: i64) -> Option<Result<Arc<Principal>, AuthError>> {
        let mut cache = self.cache.lock();
        let entry = cache.get(token)?;
        match check_times(
            entry.principal.expires_at,
            entry.not_before,
            now,
            self.leeway,
        ) {
            Ok(()) => Some(Ok(entry.principal.clone())),
            Err(e) => {
                if matches!(e, AuthError::Expired) {
                    cache.remove(token);
                }
                Some(Err(e))
            }
        }
    }

    fn verify_uncached(&self, token: &str, now: i64) -> Result<CacheEntry, AuthError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::malformed(
                "not a JSON Web Token (expected three dot-separated parts)",
            ));
        };
        if header_b64.is_empty() || payload_b64.is_empty() {
            return Err(AuthError::malformed(
                "the header or the claims part is empty",
            ));
        }

        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| classify_header_error(header_b64, &e))?;
        if header.crit.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(AuthError::malformed(
                "the header lists critical extensions, which are not supported",
            ));
        }

        let key = self.select_key(header.kid.as_deref())?;
        if header.alg != key.alg {
            return Err(AuthError::AlgorithmRejected(format!(
                "{} on a key pinned to {}",
                alg_name(header.alg),
                alg_name(key.alg)
            )));
        }

        let data = jsonwebtoken::decode::<WireClaims>(token, &key.decoding, &key.validation)
            .map_err(|e| map_jwt_error(&e))?;
        self.check_claims(data.claims, now)
    }

    fn select_key(&self, kid: Option<&str>) -> Result<&Key, AuthError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid == kid)
                .ok_or_else(|| AuthError::UnknownKey(sanitize_kid(kid))),
            None => self
                .default_key
                .and_then(|i| self.keys.get(i))
                .ok_or_else(|| AuthError::UnknownKey(String::new())),
        }
    }

    /// Claim rules, in the order jsonwebtoken would apply them: shape, time, issuer, audience.
    fn check_claims(&self, claims: WireClaims, now: i64) -> Result<CacheEntry, AuthError> {
        let execution_id = required(claims.execution_id, "executionId")?;
        let user_id = required(claims.user_id, "userId")?;
        let event_id = required(claims.event_id, "eventId")?;
        let expires_at = claims
            .exp
            .ok_or_else(|| AuthError::malformed("missing claim exp"))?;
        // Cronium's orchestrator names the job in `sub` (`job:<jobId>`); its tokens are
        // bound to their execution by `executionId`, and `sub` must still agree with the
        // token's own job claim, so it cannot point anywhere else.
        let orchestrator = claims
            .iss
            .as_ref()
            .is_some_and(|iss| self.settings.orchestrator_issuers.contains(iss));
        let sub_ok = |sub: &String| {
            *sub == execution_id
                || (orchestrator
                    && sub
                        .strip_prefix("job:")
                        .is_some_and(|job| Some(job) == claims.job_id.as_deref()))
        };
        if claims.sub.as_ref().is_some_and(|sub| !sub_ok(sub)) {
            return Err(AuthError::malformed(if orchestrator {
                "claim sub is neither executionId nor job:<jobId>"
            } else {
                "claim sub differs from executionId"
            }));
        }

        check_times(expires_at, claims.nbf, now, self.leeway)?;

        let issuer = match claims.iss {
            Some(iss) if self.settings.issuers.contains(&iss) || orchestrator => iss,
            _ => return Err(AuthError::WrongIssuer),
        };
        let audience = self.settings.audience.as_str();
        let audience_ok = match &claims.aud {
            Some(WireAudience::One(aud)) => aud == audience,
            Some(WireAudience::Many(auds)) => auds.iter().any(|a| a == audience),
            // The orchestrator's tokens carry no audience; the shared key and the issuer
            // are what bind them to this runtime.
            None => orchestrator,
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }

        let scopes = match claims.scope {
            ScopeField::Absent => Scopes::all(),
            ScopeField::Present(s) => s,
        };
        Ok(CacheEntry {
            principal: Arc::new(Principal {
                execution_id,
                user_id,
                event_id,
                job_id: claims.job_id,
                scopes,
                issued_at: claims.iat.or(claims.nbf).unwrap_or(now),
                expires_at,
                issuer,
            }),
            not_before: claims.nbf,
        })
    }

    fn mint_at(&self, req: &MintRequest, now: i64) -> Result<String, AuthError> {
        let key = self
            .signing_key
            .and_then(|i| self.keys.get(i))
            .ok_or(AuthError::CannotMint)?;
        let encoding = key.encoding.as_ref().ok_or(AuthError::CannotMint)?;
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        let scope = req
            .scopes
            .map(|s| s.iter().map(Scope::as_str).collect::<Vec<_>>());
        let claims = MintClaims {
            execution_id: &req.execution_id,
            user_id: &req.user_id,
            event_id: &req.event_id,
            job_id: req.job_id.as_deref(),
            sub: &req.execution_id,
            iss: &self.settings.mint_issuer,
            aud: &self.settings.audience,
            iat: now,
            nbf: req.not_before.unwrap_or(now),
            exp: req.expires_at,
            scope,
        };
        // The key passed a signing self-test at startup, so a failure here means the key
        // cannot be used: report it as such rather than inventing a new error kind.
        jsonwebtoken::encode(&header, &claims, encoding).map_err(|_| AuthError::CannotMint)
    }
}

/// The token of an `Authorization` header value (its bytes, as hyper holds them): `Bearer
/// <token>`, the scheme in any case, blanks around either part ignored. No header, another
/// scheme (e.g. `Basic`) or a bare `Bearer` carries no bearer token: `Missing`, or
/// `Malformed` if the value has a byte outside ASCII.
///
/// The token's own bytes are not looked at here: [`Authenticator`] checks them
/// ([`token_text`]) only when the token is not in its cache of verified tokens.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&[u8], AuthError> {
    let value = header.map(<[u8]>::trim_ascii).unwrap_or_default();
    let split = value.iter().position(u8::is_ascii_whitespace);
    let (scheme, rest) = split.map_or((value, &[][..]), |i| value.split_at(i));
    let token = rest.trim_ascii();
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.is_empty() {
        return Err(not_ascii(value).unwrap_or(AuthError::Missing));
    }
    Ok(token)
}

/// A token as text: visible ASCII (`!` to `~`) only, else `Malformed` (a blank, a control
/// character, or a byte outside ASCII). Checked 8 bytes at a time, which also proves the
/// bytes UTF-8; the precise error is worked out only once that check fails.
pub fn token_text(token: &[u8]) -> Result<&str, AuthError> {
    let not_ascii = || AuthError::malformed("the bearer token is not ASCII");
    if !all_visible_ascii(token) {
        return Err(if token.is_ascii() {
            AuthError::malformed("the bearer token contains a blank or a control character")
        } else {
            not_ascii()
        });
    }
    std::str::from_utf8(token).map_err(|_| not_ascii())
}

/// The error of a header value with a byte outside ASCII, if it has one.
fn not_ascii(value: &[u8]) -> Option<AuthError> {
    (!value.is_ascii()).then(|| AuthError::malformed("the Authorization header is not ASCII"))
}

/// Whether every byte is visible ASCII (`!` to `~`). Eight bytes at a time: subtracting
/// 0x21 from each byte sets its top bit when the byte is below 0x21 (a borrow can only
/// carry out of a byte that is itself below), and a byte of 0x80 or more has it set
/// already; DEL (0x7f) is checked apart, as adding 1 to it is the only way to reach 0x80.
fn all_visible_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut bad = 0u64;
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        bad |= x.wrapping_sub(0x21 * ONES) | x | x.wrapping_add(ONES);
    }
    let tail = chunks.remainder().iter().all(|b| (b'!'..=b'~').contains(b));
    bad & HIGH == 0 && tail
}

/// Claims as they arrive; everything optional so that a missing claim gets a precise
/// message instead of a serde error (whose text could quote token content).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireClaims {
    execution_id: Option<String>,
    user_id: Option<String>,
    event_id: Option<String>,
    /// `jobId`; Cronium's orchestrator wrote `job_id` before it switched to `jobId`.
    #[serde(alias = "job_id")]
    job_id: Option<String>,
    sub: Option<String>,
    iss: Option<String>,
    aud: Option<WireAudience>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<i64>,
    #[serde(default)]
    scope: ScopeField,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum WireAudience {
    One(String),
    Many(Vec<String>),
}

/// `scope` absent means full scope; present (array or space-separated string) means exactly
/// the known scopes listed, except that the word [`EXECUTION_SCOPE_WORD`] (Cronium's
/// orchestrator writes `scope: "execution"`) stands for every scope. An explicit `null` is malformed rather than "full scope", so a
/// mistake in an issuer can never widen a token.
#[derive(Default)]
enum ScopeField {
    #[default]
    Absent,
    Present(Scopes),
}

impl<'de> Deserialize<'de> for ScopeField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Spaced(String),
        }
        let scopes = match Raw::deserialize(d)? {
            Raw::List(list) if list.iter().any(|s| s == EXECUTION_SCOPE_WORD) => Scopes::all(),
            Raw::Spaced(s)
                if s.split_ascii_whitespace()
                    .any(|w| w == EXECUTION_SCOPE_WORD) =>
            {
                Scopes::all()
            }
            Raw::List(list) => list.iter().filter_map(|s| Scope::parse(s)).collect(),
            Raw::Spaced(s) => Scope::parse_spaced(&s).collect(),
        };
        Ok(ScopeField::Present(scopes))
    }
}

/// NumericDate: an integer, or a finite number with a fraction (floored), in i64 range.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // NaN and infinities fail the range; inside it the cast cannot saturate.
        Some(f) if (-9.0e18..=9.0e18).contains(&f) => Ok(Some(f.floor() as i64)),
        _ => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MintClaims<'a> {
    execution_id: &'a str,
    user_id: &'a str,
    event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<&'a str>,
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<Vec<&'static str>>,
}

fn build_key(spec: &KeySpec) -> Result<Key, AuthConfigError> {
    let kid = &spec.kid;
    let err = |what: &str| AuthConfigError(format!("token key {kid:?}: {what}"));
    let (alg, decoding, encoding) = match &spec.material {
        KeyMaterial::Hs256(secret) => {
            if secret.len() < MIN_HS256_SECRET_LEN {
                return Err(err(&format!(
                    "the HS256 secret has {} bytes; at least {MIN_HS256_SECRET_LEN} are required",
                    secret.len()
                )));
            }
            (
                Algorithm::HS256,
                DecodingKey::from_secret(secret),
                Some(EncodingKey::from_secret(secret)),
            )
        }
        KeyMaterial::Ed25519PrivatePem(pem) => {
            let encoding = EncodingKey::from_ed_pem(pem.as_bytes())
                .map_err(|_| err("not an Ed25519 private key in PKCS#8 PEM form"))?;
            let public =
                crate::jwt_crypto::ed25519_public_key(encoding.as_bytes(), &EllipticCurve::Ed25519)
                    .map_err(|_| err("not a usable Ed25519 private key"))?;
            let decoding = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(public))
                .map_err(|_| err("not a usable Ed25519 private key"))?;
            (Algorithm::EdDSA, decoding, Some(encoding))
        }
        KeyMaterial::Ed25519PublicPem(pem) => {
            let decoding = DecodingKey::from_ed_pem(pem.as_bytes())
                .map_err(|_| err("not an Ed25519 public key in SPKI PEM form"))?;
            // jsonwebtoken's verifier slices the first 32 bytes and would panic on less.
            if decoding.try_get_as_bytes().map(<[u8]>::len).ok() != Some(32) {
                return Err(err("the Ed25519 public key does not have 32 bytes"));
            }
            (Algorithm::EdDSA, decoding, None)
        }
    };

    // Self-test: a key that cannot produce or check a signature fails here, not per request.
    let probe = b"cronium key self-test";
    let works = match &encoding {
        Some(enc) => jsonwebtoken::crypto::sign(probe, enc, alg)
            .and_then(|sig| jsonwebtoken::crypto::verify(&sig, probe, &decoding, alg))
            .unwrap_or(false),
        // A zero signature must simply not verify; an Err means the key itself is unusable.
        None => {
            jsonwebtoken::crypto::verify(&URL_SAFE_NO_PAD.encode([0u8; 64]), probe, &decoding, alg)
                .is_ok()
        }
    };
    if !works {
        return Err(err("the key failed its signing self-test"));
    }

    let mut validation = Validation::new(alg);
    // Claims (exp, nbf, iss, aud, sub) are checked by `check_claims`, with the same code that
    // re-checks cached tokens; jsonwebtoken only checks the algorithm and the signature.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;

    Ok(Key {
        kid: spec.kid.clone(),
        alg,
        decoding,
        validation,
        encoding,
    })
}

/// RFC 7519: valid while `now < exp` and from `nbf` on; the leeway widens both ends.
fn check_times(exp: i64, nbf: Option<i64>, now: i64, leeway: i64) -> Result<(), AuthError> {
    if now >= exp.saturating_add(leeway) {
        return Err(AuthError::Expired);
    }
    if nbf.is_some_and(|nbf| now < nbf.saturating_sub(leeway)) {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

fn required(value: Option<String>, claim: &str) -> Result<String, AuthError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(AuthError::Malformed(format!("claim {claim} is empty"))),
        None => Err(AuthError::Malformed(format!("missing claim {claim}"))),
    }
}

/// `decode_header` fails with a JSON error both for a broken header and for an algorithm
/// jsonwebtoken has no variant for (notably `none`); only the raw header tells them apart.
fn classify_header_error(header_b64: &str, e: &JwtError) -> AuthError {
    if !matches!(e.kind(), ErrorKind::Json(_)) {
        return map_jwt_error(e);
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(header_b64) else {
        return AuthError::malformed("the header is not valid base64url");
    };
    let Ok(serde_json::Value::Object(header)) = serde_json::from_slice(&bytes) else {
        return AuthError::malformed("the header is not a JSON object");
    };
    match header.get("alg") {
        Some(serde_json::Value::String(alg)) if alg.eq_ignore_ascii_case("none") => {
            AuthError::AlgorithmRejected("alg none: unsigned tokens are never accepted".into())
        }
        Some(serde_json::Value::String(alg)) if alg.parse::<Algorithm>().is_err() => {
            AuthError::AlgorithmRejected("unsupported algorithm".into())
        }
        _ => AuthError::malformed("the header has a missing or invalid field"),
    }
}

/// jsonwebtoken's error kinds, mapped to the API's codes. Messages are written here: some
/// of jsonwebtoken's (serde's) could quote token content.
fn map_jwt_error(e: &JwtError) -> AuthError {
    match e.kind() {
        ErrorKind::InvalidToken => {
            AuthError::malformed("not a JSON Web Token (expected three dot-separated parts)")
        }
        ErrorKind::Base64(_) => AuthError::malformed("a part is not valid base64url"),
        ErrorKind::Json(_) => {
            AuthError::malformed("the claims are not a JSON object or a claim has the wrong type")
        }
        ErrorKind::Utf8(_) => AuthError::malformed("a part is not UTF-8"),
        ErrorKind::MissingRequiredClaim(_) => AuthError::malformed("a required claim is missing"),
        ErrorKind::InvalidClaimFormat(_) => AuthError::malformed("a claim has the wrong type"),
        ErrorKind::InvalidSubject => AuthError::malformed("claim sub differs from executionId"),
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => {
            AuthError::AlgorithmRejected("algorithm not allowed for this key".into())
        }
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        // Key and provider errors: keys passed a self-test at startup, so whatever went wrong,
        // this token's signature could not be verified.
        _ => AuthError::InvalidSignature,
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "another algorithm",
    }
}

/// A kid is attacker-chosen: keep what ends up in the error short and printable.
fn sanitize_kid(kid: &str) -> String {
    kid.chars()
        .take(MAX_REPORTED_KID_LEN)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn now_unix() -> i64 {
    cronium_store::now_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-hs256-test-secret";
    const SECRET_2: &[u8] = b"fedcba9876543210fedcba9876543210-second-test-secret";

    // Generated with `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
    const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKBH4pCsg2cbUd+2elRdpxiS1WuvLQmgF+SXj+IJysGH
-----END PRIVATE KEY-----
";
    const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEATVn6wrMEdeDPV+u83tOJV/fQ1bMnRRSl9ECq5nJv7p4=
-----END PUBLIC KEY-----
";
    const ED_OTHER_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEeCfuOKPcm349ezCOVSkexkl1Tb0UI7XGibOrT4eBan
-----END PRIVATE KEY-----
";
    const ED_OTHER_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAZkK8zIBH8tWH1N/S8EFOOYvOXYcQpa1RjBXPBh6dEIY=
-----END PUBLIC KEY-----
";

    fn hs(kid: &str, secret: &[u8]) -> KeySpec {
        KeySpec {
            kid: kid.into(),
            material: KeyMaterial::Hs256(secret.to_vec()),
        }
    }

    fn ed_private(kid: &str, pem: &str) -> KeySpec {
        KeySpec {
            kid: kid.into(),
            material: KeyMaterial::Ed25519PrivatePem(pem.into()),
        }
    }

    fn ed_public(kid: &str, pem: &str) -> KeySpec {
        KeySpec {
            kid: kid.into(),
            material: KeyMaterial::Ed25519PublicPem(pem.into()),
        }
    }

    fn auth_with(keys: Vec<KeySpec>) -> Authenticator {
        Authenticator::new(AuthConfig {
            keys,
            ..AuthConfig::default()
        })
        .expect("test config is valid")
    }

    fn hs_auth() -> Authenticator {
        auth_with(vec![hs("default", SECRET)])
    }

    fn request(exp_in: i64) -> MintRequest {
        MintRequest {
            execution_id: "exec-1".into(),
            user_id: "user-1".into(),
            event_id: "event-1".into(),
            job_id: Some("job-1".into()),
            scopes: None,
            expires_at: now_unix() + exp_in,
            not_before: None,
        }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with arbitrary header and payload bytes, HS256-signed with `secret` (or with
    /// an empty signature when `secret` is None).
    fn craft(header: &str, payload: &str, secret: Option<&[u8]>) -> String {
        craft_raw(&b64(header.as_bytes()), &b64(payload.as_bytes()), secret)
    }

    fn craft_raw(header_b64: &str, payload_b64: &str, secret: Option<&[u8]>) -> String {
        let message = format!("{header_b64}.{payload_b64}");
        let signature = match secret {
            Some(s) => jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &EncodingKey::from_secret(s),
                Algorithm::HS256,
            )
            .expect("HMAC signing cannot fail"),
            None => String::new(),
        };
        format!("{message}.{signature}")
    }

    const HS_HEADER: &str = r#"{"alg":"HS256","typ":"JWT","kid":"default"}"#;

    fn claims_json(extra: serde_json::Value) -> String {
        let now = now_unix();
        let mut claims = serde_json::json!({
            "executionId": "exec-1", "userId": "user-1", "eventId": "event-1",
            "sub": "exec-1", "iss": "cronium-runtime", "aud": "cronium-runtime",
            "iat": now, "nbf": now, "exp": now + 600,
        });
        let (Some(obj), serde_json::Value::Object(extra)) = (claims.as_object_mut(), extra) else {
            panic!("claims and extra must be JSON objects");
        };
        for (k, v) in extra {
            if v.is_null() && k.starts_with('-') {
                obj.remove(&k[1..]);
            } else {
                obj.insert(k, v);
            }
        }
        claims.to_string()
    }

    /// HS256 token for the "default" key with the base claims changed by `extra`
    /// (`{"-name": null}` removes a claim).
    fn signed(extra: serde_json::Value) -> String {
        craft(HS_HEADER, &claims_json(extra), Some(SECRET))
    }

    fn cache_len(auth: &Authenticator) -> usize {
        auth.cache.lock().len()
    }

    #[test]
    fn authenticator_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Authenticator>();
    }

    #[test]
    fn valid_hs256_token_round_trips() {
        let auth = hs_auth();
        let mut req = request(600);
        req.scopes = Some([Scope::InputRead, Scope::OutputWrite].into_iter().collect());
        let token = auth.mint(&req).expect("mint");

        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some("default"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));

        let p = auth.verify(&token).expect("valid token");
        assert_eq!(p.execution_id, "exec-1");
        assert_eq!(p.user_id, "user-1");
        assert_eq!(p.event_id, "event-1");
        assert_eq!(p.job_id.as_deref(), Some("job-1"));
        assert_eq!(p.issuer, "cronium");
        assert_eq!(p.expires_at, req.expires_at);
        assert!((p.issued_at - now_unix()).abs() <= 2);
        assert!(p.allows(Scope::InputRead) && p.allows(Scope::OutputWrite));
        assert!(!p.allows(Scope::VariablesWrite));

        let claims: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).expect("claims");
        assert_eq!(claims["sub"], "exec-1");
        assert_eq!(claims["aud"], "cronium-runtime");
        assert_eq!(
            claims["scope"],
            serde_json::json!(["input:read", "output:write"])
        );
    }

    #[test]
    fn valid_eddsa_token_verifies_with_public_key_only() {
        let minter = auth_with(vec![ed_private("ed", ED_PRIVATE)]);
        assert!(minter.can_mint());
        let token = minter.mint(&request(600)).expect("mint");
        assert_eq!(
            jsonwebtoken::decode_header(&token).expect("header").alg,
            Algorithm::EdDSA
        );
        // The private-key authenticator verifies its own tokens too.
        assert_eq!(
            minter.verify(&token).expect("self verify").execution_id,
            "exec-1"
        );

        let verifier = auth_with(vec![ed_public("ed", ED_PUBLIC)]);
        assert!(!verifier.can_mint());
        let p = verifier.verify(&token).expect("public key verifies");
        assert_eq!(p.execution_id, "exec-1");
        assert_eq!(p.scopes, Scopes::all());

        // Same kid, another public key: the signature must not verify.
        let wrong = auth_with(vec![ed_public("ed", ED_OTHER_PUBLIC)]);
        assert!(matches!(
            wrong.verify(&token),
            Err(AuthError::InvalidSignature)
        ));
    }

    #[test]
    fn verify_only_authenticator_cannot_mint() {
        let verifier = auth_with(vec![ed_public("ed", ED_PUBLIC)]);
        assert!(matches!(
            verifier.mint(&request(600)),
            Err(AuthError::CannotMint)
        ));
        assert_eq!(verifier.config().signing_kid, None);
    }

    #[test]
    fn missing_token() {
        let auth = hs_auth();
        assert!(matches!(auth.verify(""), Err(AuthError::Missing)));
        assert!(matches!(auth.verify("   "), Err(AuthError::Missing)));
        assert!(matches!(bearer_token(None), Err(AuthError::Missing)));
        for value in [
            "",
            "Bearer",
            "Bearer    ",
            "Basic dXNlcjpwdw==",
            "Bearerabc",
        ] {
            assert!(
                matches!(
                    bearer_token(Some(value.as_bytes())),
                    Err(AuthError::Missing)
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn bearer_header_parsing() {
        let token = |v: &str| {
            bearer_token(Some(v.as_bytes()))
                .and_then(token_text)
                .ok()
                .map(str::to_owned)
        };
        assert_eq!(token("Bearer abc.def.ghi").as_deref(), Some("abc.def.ghi"));
        assert_eq!(
            token("  bearer   abc.def.ghi  ").as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(token("BEARER\tabc").as_deref(), Some("abc"));
        // Every length around the 8-byte steps of the check, every visible ASCII byte.
        let visible: String = (b'!'..=b'~').map(char::from).collect();
        for len in 1..=visible.len() {
            let t = &visible[visible.len() - len..];
            assert_eq!(token(&format!("Bearer {t}")).as_deref(), Some(t), "{t}");
        }
    }

    /// A blank, a control character or a byte outside ASCII anywhere in the token, at
    /// every offset of the 8-byte steps, is refused with its own message, and so is a
    /// byte outside ASCII anywhere in the value, whatever the scheme; through
    /// `Authenticator::verify` too, cache or not.
    #[test]
    fn bearer_token_refuses_blanks_controls_and_non_ascii_anywhere() {
        let message = |v: &[u8]| match bearer_token(Some(v)).and_then(token_text) {
            Err(AuthError::Malformed(m)) => m,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(v)),
        };
        for at in 1..20 {
            for (bad, expect) in [
                (&b" "[..], "blank"),
                (b"\t", "blank"),
                (b"\x0b", "control character"),
                (b"\x7f", "control character"),
                (b"\x00", "control character"),
                ("é".as_bytes(), "not ASCII"),
                (b"\xff", "not ASCII"),
            ] {
                let mut v = b"Bearer ".to_vec();
                v.extend(std::iter::repeat_n(b'a', at));
                v.extend_from_slice(bad);
                v.extend_from_slice(b"zzzzzzzzz");
                let m = message(&v);
                assert!(m.contains(expect), "{at} {bad:?}: {m}");
            }
        }
        assert!(message("Bäarer abc".as_bytes()).contains("not ASCII"));
        assert!(message(b"Bearer abc \xa0").contains("not ASCII"));
        let auth = hs_auth();
        let token = auth.mint(&request(600)).expect("mint");
        for _ in 0..2 {
            assert!(auth.verify(&token).is_ok());
            assert!(matches!(
                auth.verify(&format!("{token} x")),
                Err(AuthError::Malformed(m)) if m.contains("blank")
            ));
            assert!(matches!(
                auth.verify(&format!("{token}é")),
                Err(AuthError::Malformed(m)) if m.contains("not ASCII")
            ));
        }
    }

    #[test]
    fn malformed_tokens() {
        let auth = hs_auth();
        let is_malformed = |t: &str| matches!(auth.verify(t), Err(AuthError::Malformed(_)));
        let payload = b64(claims_json(serde_json::json!({})).as_bytes());
        let header = b64(HS_HEADER.as_bytes());

        // Not three parts.
        assert!(is_malformed("not-a-jwt"));
        assert!(is_malformed(&format!("{header}.{payload}")));
        assert!(is_malformed(&format!(
            "{}.x",
            signed(serde_json::json!({}))
        )));
        assert!(is_malformed(&format!(".{payload}.sig")));
        // Bad base64 in the header, in the (correctly signed) claims, in the signature.
        assert!(is_malformed(&format!("!!!.{payload}.c2ln")));
        assert!(is_malformed(&craft_raw(&header, "e30*", Some(SECRET))));
        assert!(is_malformed(&format!("{header}.{payload}.$$$")));
        // Bad JSON in the header and in the (correctly signed) claims.
        assert!(is_malformed(&craft(
            "{\"alg\":",
            &claims_json(serde_json::json!({})),
            Some(SECRET)
        )));
        assert!(is_malformed(&craft(HS_HEADER, "{not json", Some(SECRET))));
        assert!(is_malformed(&craft(HS_HEADER, "[1,2,3]", Some(SECRET))));
        // A header field of the wrong type (alg is fine) is malformed, not an alg problem.
        assert!(is_malformed(&craft(
            r#"{"alg":"HS256","kid":5}"#,
            &claims_json(serde_json::json!({})),
            Some(SECRET)
        )));
        // Missing required claims.
        for claim in ["executionId", "userId", "eventId", "exp"] {
            let token = signed(serde_json::json!({ format!("-{claim}"): null }));
            match auth.verify(&token) {
                Err(AuthError::Malformed(msg)) => assert!(msg.contains(claim), "{msg}"),
                other => panic!("missing {claim}: {other:?}"),
            }
        }
        // Empty id, wrong types, sub mismatch, explicit null scope, critical header.
        assert!(is_malformed(&signed(
            serde_json::json!({"executionId": ""})
        )));
        assert!(is_malformed(&signed(serde_json::json!({"executionId": 5}))));
        assert!(is_malformed(&signed(
            serde_json::json!({"exp": "tomorrow"})
        )));
        assert!(is_malformed(&signed(serde_json::json!({"sub": "exec-2"}))));
        assert!(is_malformed(&signed(serde_json::json!({"scope": null}))));
        assert!(is_malformed(&signed(serde_json::json!({"scope": [1, 2]}))));
        assert!(is_malformed(&craft(
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
            &claims_json(serde_json::json!({})),
            Some(SECRET)
        )));
        // Nothing malformed was cached.
        assert_eq!(cache_len(&auth), 0);
    }

    #[test]
    fn absent_sub_and_float_dates_are_accepted() {
        let auth = hs_auth();
        let exp = now_unix() + 600;
        let token = signed(serde_json::json!({"-sub": null, "exp": exp as f64 + 0.5}));
        let p = auth.verify(&token).expect("valid");
        assert_eq!(p.expires_at, exp);
    }

    #[test]
    fn bad_signature() {
        let auth = hs_auth();
        let token = auth.mint(&request(600)).expect("mint");

        // Change one character in the middle of the signature.
        let sig_start = token.rfind('.').expect("three parts") + 1;
        let i = sig_start + 5;
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(matches!(
            auth.verify(&tampered),
            Err(AuthError::InvalidSignature)
        ));

        // Changed claims under the original signature.
        let (head, sig) = token.rsplit_once('.').expect("three parts");
        let (header, _) = head.split_once('.').expect("three parts");
        let forged_claims = b64(claims_json(serde_json::json!({"userId": "admin"})).as_bytes());
        let forged = format!("{header}.{forged_claims}.{sig}");
        assert!(matches!(
            auth.verify(&forged),
            Err(AuthError::InvalidSignature)
        ));

        // Signed with another secret; and with no signature at all.
        let other = craft(
            HS_HEADER,
            &claims_json(serde_json::json!({})),
            Some(SECRET_2),
        );
        assert!(matches!(
            auth.verify(&other),
            Err(AuthError::InvalidSignature)
        ));
        let unsigned = craft(HS_HEADER, &claims_json(serde_json::json!({})), None);
        assert!(matches!(
            auth.verify(&unsigned),
            Err(AuthError::InvalidSignature)
        ));
        assert_eq!(cache_len(&auth), 0);
    }

    #[test]
    fn alg_none_and_foreign_algorithms_are_rejected() {
        let auth = hs_auth();
        let claims = claims_json(serde_json::json!({}));
        let rejected = |t: &str| matches!(auth.verify(t), Err(AuthError::AlgorithmRejected(_)));

        match auth.verify(&craft(r#"{"alg":"none","typ":"JWT"}"#, &claims, None)) {
            Err(AuthError::AlgorithmRejected(msg)) => assert!(msg.contains("none"), "{msg}"),
            other => panic!("alg none: {other:?}"),
        }
        assert!(rejected(&craft(
            r#"{"alg":"none","kid":"default"}"#,
            &claims,
            None
        )));
        assert!(rejected(&craft(r#"{"alg":"None"}"#, &claims, Some(SECRET))));
        assert!(rejected(&craft(
            r#"{"alg":"XY999"}"#,
            &claims,
            Some(SECRET)
        )));
        // Algorithms jsonwebtoken knows, but not the key's.
        assert!(rejected(&craft(
            r#"{"alg":"HS512"}"#,
            &claims,
            Some(SECRET)
        )));
        assert!(rejected(&craft(
            r#"{"alg":"RS256"}"#,
            &claims,
            Some(SECRET)
        )));
        assert!(rejected(&craft(
            r#"{"alg":"EdDSA"}"#,
            &claims,
            Some(SECRET)
        )));
    }

    #[test]
    fn hs_eddsa_confusion_is_rejected() {
        // The attack: sign HS256 with the (public) Ed25519 key's PEM bytes as HMAC secret.
        let header = r#"{"alg":"HS256","typ":"JWT","kid":"ed"}"#;
        let token = craft(
            header,
            &claims_json(serde_json::json!({})),
            Some(ED_PUBLIC.as_bytes()),
        );

        let verifier = auth_with(vec![ed_public("ed", ED_PUBLIC)]);
        match verifier.verify(&token) {
            Err(AuthError::AlgorithmRejected(msg)) => {
                assert!(msg.contains("HS256") && msg.contains("EdDSA"), "{msg}");
            }
            other => panic!("confusion token: {other:?}"),
        }
        let with_private = auth_with(vec![ed_private("ed", ED_PRIVATE)]);
        assert!(matches!(
            with_private.verify(&token),
            Err(AuthError::AlgorithmRejected(_))
        ));

        // Control: the forged token really is a valid HS256 token for that "secret", so the
        // rejection above comes from algorithm pinning and not from a broken test token.
        let naive = auth_with(vec![hs("ed", ED_PUBLIC.as_bytes())]);
        assert!(naive.verify(&token).is_ok());
    }

    #[test]
    fn expiry_and_leeway() {
        let auth = hs_auth(); // leeway 5
        let now = now_unix();

        let expired = auth.mint(&request(-60)).expect("mint");
        assert!(matches!(auth.verify(&expired), Err(AuthError::Expired)));

        let within_leeway = auth.mint(&request(-2)).expect("mint");
        assert!(auth.verify(&within_leeway).is_ok());

        // Exact boundaries, with an injected clock: valid while now < exp + leeway.
        let exp = now + 100;
        let token = signed(serde_json::json!({"exp": exp, "nbf": now - 10, "iat": now - 10}));
        let fresh = hs_auth();
        assert!(fresh.verify_at(token.as_bytes(), exp + 4).is_ok());
        let fresh = hs_auth();
        assert!(matches!(
            fresh.verify_at(token.as_bytes(), exp + 5),
            Err(AuthError::Expired)
        ));
        assert_eq!(cache_len(&fresh), 0);
    }

    #[test]
    fn not_yet_valid() {
        let auth = hs_auth();
        let now = now_unix();
        let mut req = request(600);
        req.not_before = Some(now + 60);
        let early = auth.mint(&req).expect("mint");
        assert!(matches!(auth.verify(&early), Err(AuthError::NotYetValid)));
        assert_eq!(cache_len(&auth), 0);

        req.not_before = Some(now + 2);
        let within_leeway = auth.mint(&req).expect("mint");
        assert!(auth.verify(&within_leeway).is_ok());

        // Boundary: valid from nbf - leeway on.
        let nbf = now + 100;
        let token = signed(serde_json::json!({"nbf": nbf, "exp": nbf + 600}));
        assert!(matches!(
            hs_auth().verify_at(token.as_bytes(), nbf - 6),
            Err(AuthError::NotYetValid)
        ));
        assert!(hs_auth().verify_at(token.as_bytes(), nbf - 5).is_ok());
    }

    #[test]
    fn issuer_checks() {
        let auth = hs_auth();
        assert!(matches!(
            auth.verify(&signed(serde_json::json!({"iss": "evil"}))),
            Err(AuthError::WrongIssuer)
        ));
        assert!(matches!(
            auth.verify(&signed(serde_json::json!({"-iss": null}))),
            Err(AuthError::WrongIssuer)
        ));
        let p = auth
            .verify(&signed(serde_json::json!({"iss": "cronium"})))
            .expect("cronium is accepted");
        assert_eq!(p.issuer, "cronium");
        let p = auth
            .verify(&signed(serde_json::json!({})))
            .expect("cronium-runtime is accepted");
        assert_eq!(p.issuer, "cronium-runtime");
    }

    #[test]
    fn audience_checks() {
        let auth = hs_auth();
        let wrong = |extra: serde_json::Value| {
            matches!(auth.verify(&signed(extra)), Err(AuthError::WrongAudience))
        };
        assert!(wrong(serde_json::json!({"aud": "someone-else"})));
        assert!(wrong(serde_json::json!({"-aud": null})));
        assert!(wrong(serde_json::json!({"aud": []})));
        assert!(wrong(serde_json::json!({"aud": ["a", "b"]})));
        assert!(auth
            .verify(&signed(
                serde_json::json!({"aud": ["other", "cronium-runtime"]})
            ))
            .is_ok());
    }

    #[test]
    fn key_selection_by_kid() {
        let claims = claims_json(serde_json::json!({}));
        let two = auth_with(vec![hs("k1", SECRET), hs("k2", SECRET_2)]);

        match two.verify(&craft(
            r#"{"alg":"HS256","kid":"nope"}"#,
            &claims,
            Some(SECRET),
        )) {
            Err(AuthError::UnknownKey(kid)) => assert_eq!(kid, "nope"),
            other => panic!("unknown kid: {other:?}"),
        }
        // No kid, several keys, none named "default".
        assert!(matches!(
            two.verify(&craft(r#"{"alg":"HS256"}"#, &claims, Some(SECRET))),
            Err(AuthError::UnknownKey(_))
        ));
        // No kid and exactly one key: that key.
        let one = auth_with(vec![hs("k1", SECRET)]);
        assert!(one
            .verify(&craft(r#"{"alg":"HS256"}"#, &claims, Some(SECRET)))
            .is_ok());
        // No kid: the key named "default", whatever its position.
        let with_default = auth_with(vec![hs("k1", SECRET_2), hs("default", SECRET)]);
        assert!(with_default
            .verify(&craft(r#"{"alg":"HS256"}"#, &claims, Some(SECRET)))
            .is_ok());
        // A control character in a kid does not travel into the error.
        match two.verify(&craft(
            r#"{"alg":"HS256","kid":"a\nb"}"#,
            &claims,
            Some(SECRET),
        )) {
            Err(AuthError::UnknownKey(kid)) => assert_eq!(kid, "a?b"),
            other => panic!("unknown kid: {other:?}"),
        }
    }

    #[test]
    fn key_rotation() {
        let keys = vec![hs("k1", SECRET), hs("k2", SECRET_2)];
        let old = Authenticator::new(AuthConfig {
            keys: keys.clone(),
            signing_kid: Some("k1".into()),
            ..AuthConfig::default()
        })
        .expect("config");
        let new = Authenticator::new(AuthConfig {
            keys: keys.clone(),
            signing_kid: Some("k2".into()),
            ..AuthConfig::default()
        })
        .expect("config");
        let t1 = old.mint(&request(600)).expect("mint k1");
        let t2 = new.mint(&request(600)).expect("mint k2");
        assert_eq!(
            jsonwebtoken::decode_header(&t1).expect("h").kid.as_deref(),
            Some("k1")
        );
        assert_eq!(
            jsonwebtoken::decode_header(&t2).expect("h").kid.as_deref(),
            Some("k2")
        );

        let verifier = auth_with(keys);
        assert!(verifier.verify(&t1).is_ok());
        assert!(verifier.verify(&t2).is_ok());

        // After k1 is retired, its tokens name an unknown key.
        let retired = auth_with(vec![hs("k2", SECRET_2)]);
        assert!(matches!(retired.verify(&t1), Err(AuthError::UnknownKey(_))));
        assert!(retired.verify(&t2).is_ok());

        // Without signing_kid, the first key that can sign is used.
        let default_signer = auth_with(vec![ed_public("pub", ED_PUBLIC), hs("k2", SECRET_2)]);
        assert_eq!(default_signer.config().signing_kid.as_deref(), Some("k2"));
    }

    #[test]
    fn scope_claim_forms() {
        let auth = hs_auth();
        let scopes_of = |scope: serde_json::Value| {
            auth.verify(&signed(serde_json::json!({ "scope": scope })))
                .expect("valid")
                .scopes
        };
        assert_eq!(
            scopes_of(serde_json::json!([
                "input:read",
                "variables:write",
                "bogus:scope"
            ])),
            [Scope::InputRead, Scope::VariablesWrite]
                .into_iter()
                .collect()
        );
        assert_eq!(
            scopes_of(serde_json::json!("input:read  tools:execute nope")),
            [Scope::InputRead, Scope::ToolsExecute]
                .into_iter()
                .collect()
        );
        assert_eq!(scopes_of(serde_json::json!([])), Scopes::empty());
        assert_eq!(scopes_of(serde_json::json!("")), Scopes::empty());
        let absent = auth.verify(&signed(serde_json::json!({}))).expect("valid");
        assert_eq!(absent.scopes, Scopes::all());

        // Minting with None writes no scope claim at all.
        let token = auth.mint(&request(600)).expect("mint");
        let claims: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).expect("claims");
        assert!(claims.get("scope").is_none());
        // Minting an empty set writes an empty array, which verifies as no scope.
        let mut req = request(600);
        req.scopes = Some(Scopes::empty());
        let token = auth.mint(&req).expect("mint");
        assert_eq!(auth.verify(&token).expect("valid").scopes, Scopes::empty());
    }

    #[test]
    fn scope_names_and_bitset() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Scope::ConditionWrite.as_str(), "condition:write");
        assert_eq!(Scope::parse("Input:Read"), None);
        let mut s = Scopes::empty();
        assert!(s.is_empty());
        s.insert(Scope::ToolsExecute);
        s.insert(Scope::ToolsExecute);
        assert!(s.contains(Scope::ToolsExecute) && !s.contains(Scope::InputRead));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Scope::ToolsExecute]);
        assert_eq!(Scopes::all().iter().count(), 6);
        assert_eq!(Scopes::default(), Scopes::empty());
    }

    #[test]
    fn cached_token_still_expires() {
        // Injected clock: the second call is a cache hit (the entry exists) and must fail.
        let auth = hs_auth();
        let now = now_unix();
        let token = signed(serde_json::json!({"exp": now + 10}));
        assert!(auth.verify_at(token.as_bytes(), now).is_ok());
        assert_eq!(cache_len(&auth), 1);
        assert!(auth.verify_at(token.as_bytes(), now + 14).is_ok());
        assert!(matches!(
            auth.verify_at(token.as_bytes(), now + 15),
            Err(AuthError::Expired)
        ));
        assert_eq!(cache_len(&auth), 0, "expired entry is evicted");

        // Real clock, leeway 0.
        let auth = Authenticator::new(AuthConfig {
            keys: vec![hs("default", SECRET)],
            leeway_secs: 0,
            ..AuthConfig::default()
        })
        .expect("config");
        let req = request(1);
        let token = auth.mint(&req).expect("mint");
        assert!(auth.verify(&token).is_ok());
        assert_eq!(cache_len(&auth), 1);
        while now_unix() < req.expires_at {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(matches!(auth.verify(&token), Err(AuthError::Expired)));
    }

    #[test]
    fn cached_token_not_yet_valid_stays_cached() {
        let auth = hs_auth();
        let now = now_unix();
        let token = signed(serde_json::json!({"nbf": now, "exp": now + 600}));
        assert!(auth.verify_at(token.as_bytes(), now).is_ok());
        assert!(matches!(
            auth.verify_at(token.as_bytes(), now - 10),
            Err(AuthError::NotYetValid)
        ));
        assert_eq!(cache_len(&auth), 1);
    }

    #[test]
    fn cache_is_bounded() {
        let auth = hs_auth();
        let mut req = request(600);
        for i in 0..=CACHE_CAPACITY {
            req.execution_id = format!("exec-{i}");
            let token = auth.mint(&req).expect("mint");
            assert!(auth.verify(&token).is_ok());
            assert!(cache_len(&auth) <= CACHE_CAPACITY);
        }
        // The map was cleared when it reached capacity, then took the last token.
        assert_eq!(cache_len(&auth), 1);
    }

    #[test]
    fn error_display_never_contains_the_token() {
        let auth = auth_with(vec![hs("default", SECRET), ed_public("ed", ED_PUBLIC)]);
        let claims = claims_json(serde_json::json!({}));
        let now = now_unix();
        let tokens = vec![
            String::new(),
            "not-a-jwt-at-all-really".to_owned(),
            format!("{}.{}", b64(HS_HEADER.as_bytes()), b64(claims.as_bytes())),
            craft(HS_HEADER, "{not json at all", Some(SECRET)),
            craft(r#"{"alg":"HS256","kid":5}"#, &claims, Some(SECRET)),
            signed(serde_json::json!({"-executionId": null})),
            signed(serde_json::json!({"executionId": 12345678})),
            craft(HS_HEADER, &claims, Some(SECRET_2)),
            craft(r#"{"alg":"none","typ":"JWT"}"#, &claims, None),
            craft(
                r#"{"alg":"HS256","kid":"ed"}"#,
                &claims,
                Some(ED_PUBLIC.as_bytes()),
            ),
            craft(
                r#"{"alg":"HS256","kid":"secret-kid-name-1234"}"#,
                &claims,
                Some(SECRET),
            ),
            signed(serde_json::json!({"exp": now - 100})),
            signed(serde_json::json!({"nbf": now + 100})),
            signed(serde_json::json!({"iss": "issuer-that-is-wrong"})),
            signed(serde_json::json!({"aud": "audience-that-is-wrong"})),
        ];
        let mut codes = std::collections::HashSet::new();
        for token in &tokens {
            let err = auth.verify(token).expect_err("every token here is invalid");
            codes.insert(err.code());
            let shown = err.to_string();
            let chars: Vec<char> = token.chars().collect();
            for window in chars.windows(8) {
                let piece: String = window.iter().collect();
                assert!(!shown.contains(&piece), "{shown:?} contains {piece:?}");
            }
            for secret_word in [
                "secret-kid-name",
                "12345678",
                "issuer-that",
                "audience-that",
                "not json",
            ] {
                assert!(!shown.contains(secret_word), "{shown:?}");
            }
        }
        assert_eq!(
            codes.len(),
            9,
            "every verification error kind was covered: {codes:?}"
        );
        assert!(!AuthError::Missing.to_string().is_empty());
        assert!(!AuthError::CannotMint.to_string().is_empty());
    }

    #[test]
    fn error_codes() {
        let all = [
            (AuthError::Missing, ErrorCode::TokenMissing),
            (AuthError::Malformed("x".into()), ErrorCode::TokenMalformed),
            (
                AuthError::InvalidSignature,
                ErrorCode::TokenInvalidSignature,
            ),
            (
                AuthError::AlgorithmRejected("x".into()),
                ErrorCode::TokenAlgorithmRejected,
            ),
            (
                AuthError::UnknownKey("x".into()),
                ErrorCode::TokenUnknownKey,
            ),
            (AuthError::Expired, ErrorCode::TokenExpired),
            (AuthError::NotYetValid, ErrorCode::TokenNotYetValid),
            (AuthError::WrongIssuer, ErrorCode::TokenWrongIssuer),
            (AuthError::WrongAudience, ErrorCode::TokenWrongAudience),
            (AuthError::CannotMint, ErrorCode::TokenCannotMint),
        ];
        for (err, code) in all {
            assert_eq!(err.code(), code);
        }
        assert!(!AuthError::UnknownKey("kid-xyz".into())
            .to_string()
            .contains("kid-xyz"));
    }

    #[test]
    fn config_errors() {
        let build = |keys: Vec<KeySpec>, f: &dyn Fn(&mut AuthConfig)| {
            let mut cfg = AuthConfig {
                keys,
                ..AuthConfig::default()
            };
            f(&mut cfg);
            Authenticator::new(cfg)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let none = |_: &mut AuthConfig| {};
        let pem_body = |pem: &str| pem.lines().nth(1).unwrap_or_default().to_owned();

        assert!(build(vec![], &none).is_err());
        let short = build(
            vec![hs("default", b"0123456789abcdef0123456789abcde")],
            &none,
        )
        .expect_err("31 bytes");
        assert!(
            short.contains("31") && !short.contains("0123456789"),
            "{short}"
        );
        assert!(build(vec![hs("default", &[7u8; 32])], &none).is_ok());

        let bad_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(build(vec![ed_private("ed", bad_pem)], &none).is_err());
        assert!(build(vec![ed_private("ed", "garbage")], &none).is_err());
        let swapped =
            build(vec![ed_public("ed", ED_PRIVATE)], &none).expect_err("private as public");
        assert!(!swapped.contains(&pem_body(ED_PRIVATE)), "{swapped}");
        assert!(build(vec![ed_private("ed", ED_PUBLIC)], &none).is_err());

        assert!(build(vec![hs("a", SECRET), hs("a", SECRET_2)], &none).is_err());
        assert!(build(vec![hs("", SECRET)], &none).is_err());
        assert!(build(vec![hs("a", SECRET)], &|c| c.signing_kid = Some("b".into())).is_err());
        assert!(build(vec![ed_public("a", ED_PUBLIC)], &|c| {
            c.signing_kid = Some("a".into())
        })
        .is_err());
        assert!(build(vec![hs("a", SECRET)], &|c| c.issuers.clear()).is_err());
        assert!(build(vec![hs("a", SECRET)], &|c| c.audience.clear()).is_err());
        assert!(build(vec![hs("a", SECRET)], &|c| {
            c.issuers = vec!["cronium-runtime".into()]
        })
        .is_err());
        // A verify-only runtime may accept only the orchestrator's issuer.
        assert!(build(vec![ed_public("a", ED_PUBLIC)], &|c| {
            c.issuers = vec!["cronium-runtime".into()]
        })
        .is_ok());
        assert!(build(vec![ed_private("a", ED_OTHER_PRIVATE)], &none).is_ok());
    }

    /// The claims Cronium's orchestrator mints (`container/jwt.go`): HS256, `iss:
    /// cronium-orchestrator`, `sub: job:<id>`, no `aud`, `executionId` = the job id, `job_id`
    /// in snake case, `scope: "execution"`, 2 h expiry.
    fn orchestrator_claims(job: &str) -> serde_json::Value {
        let now = now_unix();
        serde_json::json!({
            "executionId": job, "userId": "user-1", "eventId": "event-1", "job_id": job,
            "scope": "execution", "sub": format!("job:{job}"), "iat": now,
            "exp": now + 7200, "nbf": now, "iss": "cronium-orchestrator",
        })
    }

    #[test]
    fn orchestrator_tokens_verify_for_the_execution_they_name() {
        // golang-jwt's header: no kid, so the key named "default" checks it.
        const GO_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
        let auth = hs_auth();
        let token = craft(
            GO_HEADER,
            &orchestrator_claims("job-7").to_string(),
            Some(SECRET),
        );
        let p = auth
            .verify(&token)
            .expect("Cronium's orchestrator token verifies");
        assert_eq!(p.execution_id, "job-7");
        assert_eq!(p.job_id.as_deref(), Some("job-7"));
        assert_eq!(p.issuer, "cronium-orchestrator");
        assert_eq!(
            p.scopes,
            Scopes::all(),
            "scope \"execution\" is every scope"
        );

        // The newer form: jobId in camel case, executionId other than the job.
        let mut c = orchestrator_claims("job-8");
        let obj = c.as_object_mut().expect("object");
        obj.remove("job_id");
        obj.insert("jobId".into(), "job-8".into());
        obj.insert("executionId".into(), "exec-8".into());
        let p = auth
            .verify(&craft(GO_HEADER, &c.to_string(), Some(SECRET)))
            .expect("jobId form verifies");
        assert_eq!(
            (p.execution_id.as_str(), p.job_id.as_deref()),
            ("exec-8", Some("job-8"))
        );

        // `sub: job:<x>` must name the token's own job.
        let mut c = orchestrator_claims("job-7");
        c["sub"] = "job:other".into();
        assert!(matches!(
            auth.verify(&craft(GO_HEADER, &c.to_string(), Some(SECRET))),
            Err(AuthError::Malformed(_))
        ));
        // An audience, when present, must still be this runtime's.
        let mut c = orchestrator_claims("job-7");
        c["aud"] = "someone-else".into();
        assert!(matches!(
            auth.verify(&craft(GO_HEADER, &c.to_string(), Some(SECRET))),
            Err(AuthError::WrongAudience)
        ));
        // The job form of `sub` and the missing audience are the orchestrator issuers'
        // rules only: any other issuer, known or not, is refused.
        for iss in ["cronium", "evil-orchestrator"] {
            let mut c = orchestrator_claims("job-7");
            c["iss"] = iss.into();
            assert!(
                auth.verify(&craft(GO_HEADER, &c.to_string(), Some(SECRET)))
                    .is_err(),
                "{iss}"
            );
            c["sub"] = "job-7".into();
            let err = auth
                .verify(&craft(GO_HEADER, &c.to_string(), Some(SECRET)))
                .expect_err(iss);
            assert!(
                matches!(err, AuthError::WrongIssuer | AuthError::WrongAudience),
                "{iss}: {err:?}"
            );
        }
        // Turned off by configuration: the issuer is unknown again.
        let off = Authenticator::new(AuthConfig {
            keys: vec![hs("default", SECRET)],
            orchestrator_issuers: Vec::new(),
            ..AuthConfig::default()
        })
        .expect("config");
        let mut c = orchestrator_claims("job-7");
        c["sub"] = "job-7".into();
        assert!(matches!(
            off.verify(&craft(GO_HEADER, &c.to_string(), Some(SECRET))),
            Err(AuthError::WrongIssuer)
        ));
    }

    #[test]
    fn defaults() {
        let cfg = AuthConfig::default();
        assert!(cfg.keys.is_empty());
        assert_eq!(cfg.signing_kid, None);
        assert_eq!(cfg.issuers, vec!["cronium", "cronium-runtime"]);
        assert_eq!(cfg.orchestrator_issuers, vec!["cronium-orchestrator"]);
        assert_eq!(cfg.audience, "cronium-runtime");
        assert_eq!(cfg.mint_issuer, "cronium");
        assert_eq!(cfg.leeway_secs, 5);
    }

    #[test]
    fn debug_output_has_no_key_material() {
        let cfg = AuthConfig {
            keys: vec![
                hs("hs-kid", SECRET),
                ed_private("ed-kid", ED_PRIVATE),
                ed_public("pub-kid", ED_OTHER_PUBLIC),
            ],
            ..AuthConfig::default()
        };
        let cfg_debug = format!("{cfg:?}");
        let auth = Authenticator::new(cfg).expect("config");
        let auth_debug = format!("{auth:?}");
        for shown in [&cfg_debug, &auth_debug] {
            assert!(
                shown.contains("hs-kid") && shown.contains("pub-kid"),
                "{shown}"
            );
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
            assert!(
                !shown.contains("MC4CAQAw") && !shown.contains("MCowBQYD"),
                "{shown}"
            );
            assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        }
        assert!(auth_debug.contains("EdDSA") && auth_debug.contains("HS256"));
        assert_eq!(
            auth.config().keys,
            vec![
                KeyInfo {
                    kid: "hs-kid".into(),
                    algorithm: "HS256",
                    can_sign: true
                },
                KeyInfo {
                    kid: "ed-kid".into(),
                    algorithm: "EdDSA",
                    can_sign: true
                },
                KeyInfo {
                    kid: "pub-kid".into(),
                    algorithm: "EdDSA",
                    can_sign: false
                },
            ]
        );
    }
}
