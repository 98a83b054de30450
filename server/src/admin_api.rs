//! The admin API: the [`crate::admin::Admin`] service over HTTP, for orchestrators.
//!
//! It runs on a listener of its own (a Unix socket in a directory no script container
//! mounts, optionally loopback TCP), never on the script socket, and takes one credential:
//! the admin secret, as `Authorization: Bearer <secret>`. No execution token satisfies it
//! (`403 script_token_refused`), and the script API refuses the admin secret
//! (`403 admin_credential_refused`). Routes are [`ADMIN_ROUTES`]; answers use the v1
//! envelope (`{"data": ...}`, `{"error": {"code", "message"}}`). Every handler calls the
//! admin service, so the CLI on the store and this API behave the same.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Body as HttpBody, Frame};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use crate::admin::{Admin, AdminError, ListFilter};
use crate::auth::{Scope, Scopes};
use crate::body::{compact_json, parse_json, read_body};
use crate::config::CoreConfig;
use crate::error::{to_json, ApiError};
use crate::server::{refuse, Listener, DRAIN_TIMEOUT, MAX_REFUSING};
use crate::state::AppState;
use cronium_protocol::route::{Route as RouteSpec, ADMIN_ROUTES};
use cronium_protocol::wire::{Envelope, ValueBody};
use cronium_protocol::ErrorCode;
use cronium_store::{ExecutionStatus, NewExecution};

/// Response body of the admin API.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Shortest admin secret accepted: long enough that guessing it is not a plan.
pub const MIN_SECRET_BYTES: usize = 16;

/// The admin credential. Only its SHA-256 digest is kept, and a presented secret is
/// compared digest to digest in constant time, so neither its bytes nor its length leak
/// through timing. `Debug` never shows it.
#[derive(Clone)]
pub struct AdminSecret {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminSecret(..)")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl AdminSecret {
    /// The secret from its text (a file's trailing newline is dropped); refused when
    /// shorter than [`MIN_SECRET_BYTES`] or not visible ASCII (it travels in a header).
    pub fn new(text: &str) -> Result<Self, String> {
        let s = text.trim_end_matches(['\n', '\r']);
        if s.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the admin secret is {} bytes; use at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
                s.len()
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the admin secret must be visible ASCII without spaces (it is sent as a bearer token)"
                    .into(),
            );
        }
        Ok(Self {
            digest: sha256(s.as_bytes()),
        })
    }

    /// Whether `presented` is this secret, in time independent of both.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let d = sha256(presented);
        d.iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Where the admin API listens and with what credential.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Its Unix socket (mode 0600, in a directory of mode 0700).
    pub socket: PathBuf,
    /// Also loopback TCP, when set (never another interface).
    pub listen: Option<std::net::SocketAddr>,
    /// The credential.
    pub secret: AdminSecret,
}

/// Binds the admin listeners: the socket's directory is created 0700, an existing one
/// that group or others can use is tightened to 0700 when ours and refused when not (no
/// sticky-directory exception: nobody else has business there), the socket is made 0600.
/// A TCP address must be loopback.
pub async fn bind(cfg: &AdminConfig) -> io::Result<Vec<Listener>> {
    if let Some(dir) = cfg.socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        secure_admin_dir(dir)?;
    }
    let mut listeners = vec![Listener::unix(&cfg.socket).await?];
    std::fs::set_permissions(&cfg.socket, std::fs::Permissions::from_mode(0o600))?;
    if let Some(addr) = cfg.listen {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the admin API listens on loopback only; {addr} is not"),
            ));
        }
        listeners.push(Listener::tcp(addr).await?);
    }
    Ok(listeners)
}

fn secure_admin_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    let meta = std::fs::metadata(dir)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let tightened = mode & !0o077;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(tightened)).map_err(|e| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the admin socket directory {} can be used by other users (mode {mode:o}) and cannot be tightened ({e}); choose another admin socket or make the directory 0700",
                dir.display()
            ),
        )
    })?;
    tracing::warn!(
        dir = %dir.display(),
        was = format!("{mode:o}"),
        now = format!("{tightened:o}"),
        "the admin socket directory was open to other users; made it private"
    );
    Ok(())
}

/// The admin API over a running sidecar's state (its store, limits, shutdown).
#[derive(Clone)]
pub struct AdminApi {
    state: Arc<AppState>,
    core: Arc<CoreConfig>,
    secret: AdminSecret,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi").finish_non_exhaustive()
    }
}

impl AdminApi {
    /// The API over `state`, taking `secret`; the script API of `state` learns to refuse it.
    pub fn new(state: Arc<AppState>, core: Arc<CoreConfig>, secret: AdminSecret) -> Self {
        state.set_admin_secret(secret.clone());
        Self {
            state,
            core,
            secret,
        }
    }

    fn admin(&self) -> Admin<'_> {
        Admin::with_store(&self.core, self.state.store.clone())
    }

    /// Answers one request; never panics on input, never 5xx for a client mistake.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let started = std::time::Instant::now();
        let answer = match self.dispatch(req).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        };
        let status = answer.status().as_u16();
        // One label per admin path (a fixed set, whatever paths arrive), beside the script
        // API's in the sidecar's /metrics.
        let name = ADMIN_ROUTES
            .iter()
            .find(|r| r.matches(&path))
            .map_or(cronium_protocol::route::UNKNOWN_ROUTE_NAME, |r| r.name);
        self.state.metrics.request(name, status, started.elapsed());
        if answer.status().is_server_error() {
            tracing::warn!(%method, %path, status, "admin request failed");
        } else {
            tracing::debug!(%method, %path, status, micros = started.elapsed().as_micros() as u64, "admin request");
        }
        answer
    }

    fn authenticate<B>(&self, req: &Request<B>) -> Result<(), ApiError> {
        let unauthorized = |m: &str| ApiError::new(ErrorCode::AdminUnauthorized, m);
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "the admin API needs `Authorization: Bearer <admin secret>` (CRONIUM_ADMIN_SECRET or CRONIUM_ADMIN_SECRET_FILE of the sidecar)",
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or("");
        if self.secret.matches(presented.as_bytes()) {
            return Ok(());
        }
        // An execution token is a JWT: three base64url parts, the first a JSON header.
        if presented.starts_with("eyJ") && presented.split('.').count() == 3 {
            return Err(ApiError::new(
                ErrorCode::ScriptTokenRefused,
                "an execution token cannot call the admin API; send the admin secret",
            ));
        }
        Err(unauthorized("the admin credential is wrong"))
    }

    async fn dispatch<B>(&self, req: Request<B>) -> Result<Response<Body>, ApiError>
    where
        B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_owned();
        let Some(template) = ADMIN_ROUTES
            .iter()
            .find(|r| r.matches(&path))
            .map(|r| r.path)
        else {
            return Err(ApiError::route_not_found(&path));
        };
        let Some(spec) = RouteSpec::find_admin(req.method().as_str(), template) else {
            return Err(ApiError::method_not_allowed(allow(template)));
        };
        self.authenticate(&req)?;
        let segs: Vec<String> = path
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        // ["", "admin", "v1", "executions", id, ...] / ["", "admin", "v1", "users", user, "variables", key]
        let seg = |i: usize| segs.get(i).map(String::as_str).unwrap_or("");
        let admin = self.admin();
        match spec.operation {
            "adminCreateExecution" => {
                let body = read_body(&self.state, req).await?;
                let spec: ExecutionSpec = parse_json(&body)?;
                create(&admin, spec).await
            }
            "adminListExecutions" => list(&admin, req.uri().query().unwrap_or("")).await,
            "adminShowExecution" => {
                let v = admin.show_execution(seg(4)).await.map_err(execution_err)?;
                Ok(data(&ExecutionDoc::new(
                    &v.report,
                    &v.audit,
                    &v.output_tail,
                )))
            }
            "adminMintToken" => {
                let body = read_optional_body(&self.state, req).await?;
                let t: TokenBody = parse_json(&body)?;
                let ttl = t.ttl.map(|d| d.duration("ttl")).transpose()?;
                let scopes = parse_scopes(t.scopes.as_deref())?;
                let token = admin
                    .mint_token(seg(4), ttl, scopes)
                    .await
                    .map_err(execution_err)?;
                let e = admin.show_execution(seg(4)).await.map_err(execution_err)?;
                let expires_at =
                    crate::token_expiry(&e.report.execution, ttl.unwrap_or(self.core.token_ttl));
                Ok(data(&TokenDoc {
                    id: seg(4),
                    token: &token,
                    expires_at,
                    created: None,
                    user_id: None,
                    event_id: None,
                    execution_expires_at: None,
                }))
            }
            "adminFinishExecution" => {
                let body = read_optional_body(&self.state, req).await?;
                let f: FinishBody = parse_json(&body)?;
                let e = admin
                    .finish_execution(seg(4), f.status.as_deref(), f.exit_code)
                    .await
                    .map_err(execution_err)?;
                // Refused here at once; other sidecars learn it from the change log (where
                // watches of this one end too).
                self.state.note_finished(&e.id);
                Ok(data(&FinishDoc {
                    id: &e.id,
                    status: e.status.as_str(),
                    outcome: e.outcome.as_deref(),
                    exit_code: e.exit_code,
                    finished_at: e.finished_at.as_deref(),
                }))
            }
            "adminReadOutputStream" => {
                // 404 for an unknown execution rather than an empty stream.
                admin.show_execution(seg(4)).await.map_err(execution_err)?;
                Ok(output_stream(
                    self.state.clone(),
                    self.core.clone(),
                    seg(4).to_owned(),
                ))
            }
            "adminListVariables" => {
                let keys = admin.variable_keys(seg(4)).await.map_err(variable_err)?;
                Ok(data(&serde_json::json!({ "keys": keys })))
            }
            "adminGetVariable" => {
                check_key(seg(6))?;
                let value = admin.variable(seg(4), seg(6)).await.map_err(variable_err)?;
                let value = RawValue::from_string(value).map_err(|_| {
                    ApiError::new(ErrorCode::Internal, "a stored value is not valid JSON")
                })?;
                Ok(data(&serde_json::json!({ "key": seg(6), "value": value })))
            }
            "adminSetVariable" => {
                check_key(seg(6))?;
                let (user, key) = (seg(4).to_owned(), seg(6).to_owned());
                let body = read_body(&self.state, req).await?;
                let v: ValueBody<&RawValue> = parse_json(&body)?;
                let value = compact_json(v.value.get()).into_owned();
                let version = admin
                    .set_variable(&user, &key, &value)
                    .await
                    .map_err(variable_err)?;
                Ok(data(&serde_json::json!({ "key": key, "version": version })))
            }
            "adminDeleteVariable" => {
                check_key(seg(6))?;
                let deleted = admin
                    .delete_variable(seg(4), seg(6))
                    .await
                    .map_err(variable_err)?;
                Ok(data(
                    &serde_json::json!({ "key": seg(6), "deleted": deleted }),
                ))
            }
            other => Err(ApiError::new(
                ErrorCode::Internal,
                format!("admin operation {other} has no handler"),
            )),
        }
    }
}

/// The `Allow` header of an admin path, computed once per path.
fn allow(template: &str) -> &'static str {
    static ALLOW: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let all = ALLOW.get_or_init(|| {
        let mut v: Vec<(&'static str, String)> = Vec::new();
        for r in ADMIN_ROUTES {
            if !v.iter().any(|(p, _)| *p == r.path) {
                v.push((r.path, RouteSpec::allow_admin(r.path)));
            }
        }
        v
    });
    all.iter()
        .find(|(p, _)| *p == template)
        .map_or("", |(_, a)| a.as_str())
}

fn check_key(key: &str) -> Result<(), ApiError> {
    cronium_protocol::validate_key(key)
        .map_err(|_| ApiError::new(ErrorCode::InvalidKey, cronium_protocol::key::KEY_RULE))
}

/// An optional JSON body: none reads as `{}`. Blanks alone are not JSON and go on to be
/// refused, as the spec's object schema says.
async fn read_optional_body<B>(state: &AppState, req: Request<B>) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0")
        || (req.headers().get(header::CONTENT_LENGTH).is_none()
            && req.headers().get(header::TRANSFER_ENCODING).is_none());
    if empty {
        return Ok(Bytes::from_static(b"{}"));
    }
    let body = read_body(state, req).await?;
    if body.is_empty() {
        return Ok(Bytes::from_static(b"{}"));
    }
    Ok(body)
}

/// Maps an admin error on an execution route to its answer.
fn execution_err(e: AdminError) -> ApiError {
    admin_err(e, ErrorCode::ExecutionNotFound)
}

/// Maps an admin error on a variable route to its answer.
fn variable_err(e: AdminError) -> ApiError {
    admin_err(e, ErrorCode::VariableNotFound)
}

fn admin_err(e: AdminError, not_found: ErrorCode) -> ApiError {
    let code = e.code();
    match e {
        AdminError::Invalid(m) => ApiError::new(ErrorCode::InvalidBody, m),
        AdminError::NotFound(m) => ApiError::new(not_found, m),
        AdminError::Finished(m) | AdminError::Conflict(m) => {
            ApiError::new(code.unwrap_or(ErrorCode::Internal), m)
        }
        AdminError::Failed(m) => ApiError::new(ErrorCode::Internal, m),
    }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn data<T: Serialize + ?Sized>(payload: &T) -> Response<Body> {
    json_response(StatusCode::OK, to_json(&Envelope { data: payload }))
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = json_response(e.status, e.v1_body());
    for (k, v) in e.headers() {
        resp.headers_mut().insert(k, v);
    }
    resp
}

/// A lifetime: seconds, or a duration text (`30s`, `15m`, `2h`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Lifetime {
    /// Seconds.
    Secs(u64),
    /// Seconds written as a number with a fraction part (`60.0`): JSON Schema counts a
    /// whole `60.0` as an integer, so it is accepted when whole.
    Float(f64),
    /// `30s`, `15m`, `2h`, `1d`.
    Text(String),
}

/// An optional integer that may be written as a whole number with a fraction part
/// (`3.0`): JSON Schema's `integer` includes it, and `openapi.json` says `integer`, so a
/// client generating from the spec may send it. A fraction or an out-of-range number is
/// refused like any other wrong type; `null` is as if absent.
fn whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        // Within ±2^53 a whole f64 is exact; beyond it no field here has room anyway.
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Some(f as i64),
        _ => None,
    };
    whole
        .and_then(|i| T::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

/// The longest lifetime or token TTL the admin API takes, in seconds (ten years, as in
/// the configuration); `openapi.json` says the same.
pub const MAX_LIFETIME_SECS: u64 = 315_360_000;

impl Lifetime {
    fn duration(&self, field: &str) -> Result<Duration, ApiError> {
        let bad = |why: String| ApiError::new(ErrorCode::InvalidBody, format!("{field}: {why}"));
        let secs = |n: u64| {
            if (1..=MAX_LIFETIME_SECS).contains(&n) {
                Ok(Duration::from_secs(n))
            } else {
                Err(bad(format!(
                    "{n} seconds is out of range; give 1 to {MAX_LIFETIME_SECS} (ten years)"
                )))
            }
        };
        match self {
            Lifetime::Secs(n) => secs(*n),
            Lifetime::Float(f)
                if f.fract() == 0.0 && *f >= 1.0 && *f <= MAX_LIFETIME_SECS as f64 =>
            {
                secs(*f as u64)
            }
            Lifetime::Float(f) => Err(bad(format!(
                "{f} is not a whole number of seconds from 1 to {MAX_LIFETIME_SECS}"
            ))),
            Lifetime::Text(t) => strict_duration(t).ok_or_else(|| {
                bad(format!(
                    "{t:?} is not a duration; use digits and a unit: 500ms, 30s, 15m, 2h, 1d \
                     (at most 8, 8, 6, 4 and 3 digits)"
                ))
            }),
        }
    }
}

/// A duration text exactly as `openapi.json`'s pattern has it (no spaces, bounded digits,
/// so everything it matches is at most a few years): leading zeros, then `[1-9]` and at
/// most 7, 7, 5, 3 or 2 more digits for no unit or `s`, `ms`, `m`, `h`, `d`. Zero is
/// refused (a lifetime of nothing), and the pattern says so too, so that a client
/// checking against the spec and the sidecar agree on every text.
fn strict_duration(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let digits = digits.trim_start_matches('0');
    let max_digits = match unit {
        "" | "s" | "ms" => 8,
        "m" => 6,
        "h" => 4,
        "d" => 3,
        _ => return None,
    };
    if digits.is_empty() || digits.len() > max_digits {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => Duration::from_secs(n),
    };
    (!d.is_zero()).then_some(d)
}

/// An execution to create: the body of `POST /admin/v1/executions` and the file of
/// `cronium serve --execution`. Everything `cronium executions create` takes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionSpec {
    /// Its id: the orchestrator's job id, the idempotency key. Generated when absent.
    pub id: Option<String>,
    /// Owner (variables belong to the user).
    pub user: String,
    /// Event name.
    pub event: Option<String>,
    /// Event id.
    pub event_id: Option<String>,
    /// Event type (`python`, `node`, `bash`).
    pub event_type: Option<String>,
    /// Job id.
    pub job_id: Option<String>,
    /// What started it.
    pub trigger: Option<String>,
    /// Workflow step.
    pub workflow_step: Option<String>,
    /// Attempt number (default 1).
    #[serde(default, deserialize_with = "whole_number")]
    pub attempt: Option<u32>,
    /// Input document, any JSON.
    pub input: Option<Box<RawValue>>,
    /// Extra context fields, a JSON object.
    pub context: Option<Box<RawValue>>,
    /// Records of the input stream, in order.
    pub input_stream: Option<Vec<Box<RawValue>>>,
    /// Maximum lifetime of its tokens (default 1 h).
    pub lifetime: Option<Lifetime>,
    /// Scopes of the token answered (default: all).
    pub scopes: Option<Vec<String>>,
}

/// The default maximum lifetime of an execution created without one.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

impl ExecutionSpec {
    /// The spec as the admin service's request: the execution, its lifetime and scopes.
    /// A bad field is an `invalid_body` error naming it.
    pub fn into_request(&self) -> Result<(NewExecution, Duration, Option<Scopes>), ApiError> {
        let bad = |m: String| ApiError::new(ErrorCode::InvalidBody, m);
        if self.user.is_empty() {
            return Err(bad("user must not be empty".into()));
        }
        if let Some(id) = &self.id {
            if cronium_protocol::validate_key(id).is_err() {
                return Err(bad(format!(
                    "id {id:?} must be 1 to 256 characters of A-Z a-z 0-9 _ . : -"
                )));
            }
        }
        if let Some(c) = &self.context {
            if !c.get().trim_start().starts_with('{') {
                return Err(bad("context must be a JSON object".into()));
            }
        }
        if self.attempt == Some(0) {
            return Err(bad("attempt counts from 1".into()));
        }
        let lifetime = match &self.lifetime {
            Some(l) => l.duration("lifetime")?,
            None => DEFAULT_LIFETIME,
        };
        if lifetime.is_zero() {
            return Err(bad("lifetime must be more than 0 seconds".into()));
        }
        let scopes = parse_scopes(self.scopes.as_deref())?;
        let new = NewExecution {
            id: self.id.clone(),
            user_id: self.user.clone(),
            event_id: self.event_id.clone().unwrap_or_default(),
            event_name: self.event.clone(),
            event_type: self.event_type.clone(),
            job_id: self.job_id.clone(),
            trigger: self.trigger.clone(),
            workflow_step: self.workflow_step.clone(),
            attempt: self.attempt.unwrap_or(1),
            input: self
                .input
                .as_ref()
                .map(|v| compact_json(v.get()).into_owned()),
            context: self
                .context
                .as_ref()
                .map(|v| compact_json(v.get()).into_owned()),
            expires_at: 0,
        };
        Ok((new, lifetime, scopes))
    }
}

fn parse_scopes(list: Option<&[String]>) -> Result<Option<Scopes>, ApiError> {
    let Some(list) = list else {
        return Ok(None);
    };
    list.iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    format!(
                        "unknown scope {s:?}; use some of {}",
                        Scope::ALL.map(Scope::as_str).join(", ")
                    ),
                )
            })
        })
        .collect::<Result<Scopes, _>>()
        .map(Some)
}

/// Registers `spec` through the admin service (idempotently), loading its input stream
/// when it is new; what `POST /admin/v1/executions` and `serve --execution` both do.
pub async fn register(
    admin: &Admin<'_>,
    spec: &ExecutionSpec,
) -> Result<crate::admin::Registered, ApiError> {
    let (new, lifetime, scopes) = spec.into_request()?;
    let registered = admin
        .register_execution(new, lifetime, scopes)
        .await
        .map_err(execution_err)?;
    if registered.new {
        if let Some(records) = &spec.input_stream {
            let mut block = Vec::new();
            for r in records {
                block.extend_from_slice(compact_json(r.get()).as_bytes());
                block.push(b'\n');
            }
            if !records.is_empty() {
                admin
                    .store()
                    .append_input_stream(
                        &registered.created.execution.id,
                        &block,
                        records.len() as u64,
                    )
                    .await
                    .map_err(ApiError::from)?;
            }
        }
    }
    Ok(registered)
}

async fn create(admin: &Admin<'_>, spec: ExecutionSpec) -> Result<Response<Body>, ApiError> {
    let r = register(admin, &spec).await?;
    let e = &r.created.execution;
    let ttl = admin.token_ttl();
    Ok(data(&TokenDoc {
        id: &e.id,
        token: &r.created.token,
        expires_at: crate::token_expiry(e, ttl),
        created: Some(r.new),
        user_id: Some(&e.user_id),
        event_id: Some(&e.event_id),
        execution_expires_at: Some(e.expires_at),
    }))
}

async fn list(admin: &Admin<'_>, query: &str) -> Result<Response<Body>, ApiError> {
    let mut filter = ListFilter::default();
    let mut limit = 50u32;
    for (k, v) in url_pairs(query) {
        match k.as_str() {
            "status" => {
                filter.status = Some(match v.as_str() {
                    "created" => ExecutionStatus::Created,
                    "running" => ExecutionStatus::Running,
                    "finished" => ExecutionStatus::Finished,
                    "expired" => ExecutionStatus::Expired,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidBody,
                            format!(
                                "status {v:?} is not one of created, running, finished, expired"
                            ),
                        ))
                    }
                })
            }
            "user" => filter.user = Some(v),
            "cursor" => filter.cursor = Some(v),
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidBody,
                            format!("limit {v:?} is not a number from 1 to 1000"),
                        )
                    })?
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("unknown query parameter {k:?}; use status, user, limit, cursor"),
                ))
            }
        }
    }
    let page = admin
        .list_executions_page(&filter, limit)
        .await
        .map_err(execution_err)?;
    let now = cronium_store::now_unix();
    let items: Vec<SummaryDoc<'_>> = page
        .items
        .iter()
        .map(|e| SummaryDoc {
            id: &e.id,
            user_id: &e.user_id,
            event: &e.event,
            event_name: e.event_name.as_deref(),
            created_at: &e.created_at,
            has_output: e.has_output,
            status: e.status_at(now).as_str(),
            expires_at: e.expires_at,
        })
        .collect();
    Ok(data(&serde_json::json!({
        "items": items,
        "nextCursor": page.next_cursor,
    })))
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// The output stream as NDJSON, block by block from the store.
fn output_stream(state: Arc<AppState>, core: Arc<CoreConfig>, id: String) -> Response<Body> {
    let stream = futures_util::stream::unfold(
        (state, core, id, 0i64, false),
        |(state, core, id, after, done)| async move {
            if done {
                return None;
            }
            let admin = Admin::with_store(&core, state.store.clone());
            match admin.output_stream_block(&id, after).await {
                Ok(Some((pos, block))) => Some((
                    Ok(Frame::data(Bytes::from(block))),
                    (state, core, id, pos, false),
                )),
                Ok(None) => None,
                Err(e) => Some((
                    Err(io::Error::other(e.to_string())),
                    (state, core, id, after, true),
                )),
            }
        },
    );
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
    ttl: Option<Lifetime>,
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FinishBody {
    status: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    exit_code: Option<i32>,
}

/// `{id, token, expiresAt}` (and, on create, whether it was new, its user, event id and
/// maximum lifetime).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenDoc<'a> {
    id: &'a str,
    token: &'a str,
    expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_expires_at: Option<i64>,
}

/// A finished execution's lifecycle.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishDoc<'a> {
    /// Id.
    pub id: &'a str,
    /// `finished`.
    pub status: &'a str,
    /// How it ended.
    pub outcome: Option<&'a str>,
    /// The exit code, when given.
    pub exit_code: Option<i32>,
    /// When.
    pub finished_at: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryDoc<'a> {
    id: &'a str,
    user_id: &'a str,
    event: &'a str,
    event_name: Option<&'a str>,
    created_at: &'a str,
    has_output: bool,
    status: &'static str,
    expires_at: i64,
}

/// An execution as the admin API shows it (and `cronium executions show --json` prints
/// it): status with timestamps, input, output, condition, stream totals, audit log.
/// Stored values are copied byte for byte (never through `serde_json::Value`, whose
/// recursion limit a deep value would hit).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDoc<'a> {
    /// Id.
    pub id: &'a str,
    /// Owner.
    pub user_id: &'a str,
    /// Event id.
    pub event_id: &'a str,
    /// Event name.
    pub event_name: Option<&'a str>,
    /// Created, RFC 3339.
    pub created_at: &'a str,
    /// Maximum lifetime, unix seconds.
    pub expires_at: i64,
    /// `created`, `running`, `finished`, `expired`.
    pub status: &'static str,
    /// First API call, RFC 3339.
    pub started_at: Option<&'a str>,
    /// Finished, RFC 3339.
    pub finished_at: Option<&'a str>,
    /// How it ended.
    pub outcome: Option<&'a str>,
    /// Exit code given at finish.
    pub exit_code: Option<i32>,
    /// From the first API call (else creation) to the finish, or to now while it runs.
    pub duration_ms: Option<i64>,
    /// Input document.
    pub input: Option<Box<RawValue>>,
    /// Output document.
    pub output: Option<Box<RawValue>>,
    /// Condition.
    pub condition: Option<bool>,
    /// `{records, bytes}` of the input stream.
    pub input_stream: serde_json::Value,
    /// `{records, bytes}` of the output stream.
    pub output_stream: serde_json::Value,
    /// The last records of the output stream, oldest first (see
    /// [`crate::admin::OUTPUT_TAIL_RECORDS`]).
    pub output_tail: Vec<Box<RawValue>>,
    /// `{at, action, target, summary}`, oldest first; `summary` says in words what happened.
    pub audit: Vec<serde_json::Value>,
}

impl<'a> ExecutionDoc<'a> {
    /// The document of a report and its audit log, with the status as of now.
    pub fn new(
        r: &'a cronium_store::ExecutionReport,
        audit: &[cronium_store::AuditEntry],
        output_tail: &[String],
    ) -> Self {
        let e = &r.execution;
        let raw = |t: Option<&str>| t.and_then(|t| RawValue::from_string(t.to_owned()).ok());
        Self {
            id: &e.id,
            user_id: &e.user_id,
            event_id: &e.event_id,
            event_name: e.event_name.as_deref(),
            created_at: &e.created_at,
            expires_at: e.expires_at,
            status: e.status_at(cronium_store::now_unix()).as_str(),
            started_at: e.started_at.as_deref(),
            finished_at: e.finished_at.as_deref(),
            outcome: e.outcome.as_deref(),
            exit_code: e.exit_code,
            duration_ms: run_millis(e, now_millis()),
            input: raw(e.input.as_deref()),
            output: raw(r.output.as_deref()),
            condition: r.condition,
            input_stream: serde_json::json!({"records": r.input_stream.records, "bytes": r.input_stream.bytes}),
            output_stream: serde_json::json!({"records": r.output_stream.records, "bytes": r.output_stream.bytes}),
            output_tail: output_tail.iter().filter_map(|l| raw(Some(l))).collect(),
            audit: audit
                .iter()
                .map(|a| serde_json::json!({"at": a.at, "action": a.action, "target": a.target, "summary": describe_audit(&a.action, &a.target)}))
                .collect(),
        }
    }
}

/// Milliseconds since the epoch now.
fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Milliseconds since the epoch of an RFC 3339 timestamp as the store writes them
/// (`2026-12-06T04:00:00.123Z`); `None` for anything else.
fn rfc3339_millis(t: &str) -> Option<i64> {
    let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// How long the run took: from its first API call (else its creation) to its finish, or
/// until `now_ms` while it runs. `None` when it never started or the times cannot be read.
fn run_millis(e: &cronium_store::Execution, now_ms: i64) -> Option<i64> {
    let start = rfc3339_millis(e.started_at.as_deref().unwrap_or(&e.created_at))?;
    match &e.finished_at {
        Some(f) => Some(rfc3339_millis(f)? - start),
        None if e.started_at.is_some() => Some(now_ms - start),
        None => None,
    }
}

/// What an audit entry says happened, in words: `set variable runs`, `tool slack/send
/// (credential default): ok, HTTP 200, 1 attempt`. Unknown actions print as stored.
pub fn describe_audit(action: &str, target: &str) -> String {
    let field = |name: &str| {
        target
            .split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    match action {
        "variable.set" => format!("set variable {target}"),
        "variable.delete" => format!("deleted variable {target}"),
        "output.set" => "set the output".to_owned(),
        "condition.set" => "set the condition".to_owned(),
        "token.refresh" => "refreshed its token".to_owned(),
        "execution.finish" => format!("finished: {target}"),
        "tool.credential.put" => format!("stored tool credential {target}"),
        "tool.credential.delete" => format!("removed tool credential {target}"),
        "tool.execute" => {
            let outcome = field("outcome").unwrap_or("?");
            let Some(call) = target.split(' ').next().filter(|c| c.contains('/')) else {
                return format!("tool call refused: {outcome}");
            };
            let mut line = format!("tool {call}");
            if let Some(c) = field("credential") {
                line.push_str(&format!(" (credential {c})"));
            }
            line.push_str(&format!(": {outcome}"));
            if let Some(status) = field("status") {
                line.push_str(&format!(", HTTP {status}"));
            }
            if let Some(n) = field("attempts") {
                line.push_str(&format!(", {n} attempt{}", if n == "1" { "" } else { "s" }));
            }
            if field("replayed") == Some("true") {
                line.push_str(", replayed");
            }
            line
        }
        _ if target.is_empty() => action.to_owned(),
        _ => format!("{action} {target}"),
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    /// A tool call's audit entry, exactly as the tool engine writes it, reads as a sentence.
    #[test]
    fn audit_entries_say_what_happened() {
        assert_eq!(
            describe_audit(
                "tool.execute",
                "slack/send credential=default outcome=ok status=200 attempts=2 key=k1"
            ),
            "tool slack/send (credential default): ok, HTTP 200, 2 attempts"
        );
        assert_eq!(
            describe_audit("tool.execute", "outcome=unknown_tool"),
            "tool call refused: unknown_tool"
        );
        assert_eq!(describe_audit("variable.delete", "k"), "deleted variable k");
        assert_eq!(describe_audit("custom.thing", ""), "custom.thing");
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            rfc3339_millis("2026-12-06T04:00:00.123Z"),
            Some(1_796_529_600_123)
        );
        assert_eq!(rfc3339_millis("yesterday"), None);
    }
}

/// Most connections the admin listeners hold open at once. The orchestrator's traffic is
/// a few requests at a time; the cap keeps anyone who can reach the admin socket or port
/// (without the secret) from holding open so many connections that the process runs out
/// of file descriptors the script listeners need. Over it, a connection gets `503
/// overloaded` (with `Retry-After`) once its request head is read.
pub const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Serves the admin API on `listeners` until the sidecar's shutdown, then drains (up to
/// [`DRAIN_TIMEOUT`]) and removes its socket files. At most [`ADMIN_MAX_CONNECTIONS`]
/// connections are open at once.
pub fn serve(
    api: AdminApi,
    listeners: Vec<Listener>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(run(api, listeners))
}

/// The admin listeners' connection slots, shared by all of them.
struct Slots {
    open: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
}

async fn run(api: AdminApi, listeners: Vec<Listener>) {
    let graceful = Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    let slots = Arc::new(Slots {
        open: Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS)),
        refusing: Arc::new(Semaphore::new(MAX_REFUSING.min(ADMIN_MAX_CONNECTIONS))),
    });
    let mut sockets = Vec::new();
    let mut loops = tokio::task::JoinSet::new();
    for l in listeners {
        tracing::info!(listen = %l.describe(), "serving the admin API");
        let (api, graceful, slots) = (api.clone(), graceful.clone(), slots.clone());
        if let Listener::Unix(_, path, ino) = &l {
            sockets.push((path.clone(), *ino));
        }
        loops.spawn(async move {
            let shutdown = api.state.shutdown.clone();
            loop {
                let accepted = match &l {
                    Listener::Unix(listener, ..) => tokio::select! {
                        _ = shutdown.cancelled() => break,
                        a = listener.accept() => a.map(|(s, _)| Conn::Unix(s)),
                    },
                    Listener::Tcp(listener) => tokio::select! {
                        _ = shutdown.cancelled() => break,
                        a = listener.accept() => a.map(|(s, _)| Conn::Tcp(s)),
                    },
                    // The admin configuration binds only a Unix socket and loopback TCP;
                    // a TLS listener here would be a wiring mistake, never served plain.
                    Listener::Tls(..) => {
                        tracing::error!("the admin API does not serve TLS listeners");
                        break;
                    }
                };
                match accepted {
                    Ok(Conn::Unix(s)) => connection(&api, &graceful, &slots, s),
                    Ok(Conn::Tcp(s)) => connection(&api, &graceful, &slots, s),
                    Err(e) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    while loops.join_next().await.is_some() {}
    for (path, ino) in sockets {
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() == ino) {
            let _ = std::fs::remove_file(&path);
        }
    }
    let graceful = Arc::try_unwrap(graceful)
        .unwrap_or_else(|_| hyper_util::server::graceful::GracefulShutdown::new());
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

fn connection<S>(
    api: &AdminApi,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    slots: &Slots,
    stream: S,
) where
    S: crate::server::Park,
{
    let Ok(permit) = slots.open.clone().try_acquire_owned() else {
        refuse(&api.state, &slots.refusing, stream, |_, stream| {
            Some(stream)
        });
        return;
    };
    let api = api.clone();
    let header_timeout = api.state.limits.header_read_timeout;
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let api = api.clone();
        async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
    });
    let conn = http1::Builder::new()
        .timer(crate::server::HeadTimer::default())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), svc);
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "admin connection ended with an error");
        }
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_matches_only_itself() {
        let s = AdminSecret::new("0123456789abcdef0123\n").expect("secret");
        assert!(s.matches(b"0123456789abcdef0123"));
        assert!(!s.matches(b"0123456789abcdef012"));
        assert!(!s.matches(b""));
        assert_eq!(format!("{s:?}"), "AdminSecret(..)");
        assert!(AdminSecret::new("short").is_err());
        assert!(AdminSecret::new("has a space in it, long").is_err());
    }

    #[test]
    fn every_admin_path_has_its_allow_header() {
        for r in ADMIN_ROUTES {
            assert!(allow(r.path).contains(r.method), "{}", r.path);
        }
        assert_eq!(allow("/admin/v1/executions"), "GET, POST");
    }

    #[test]
    fn spec_fields_are_checked() {
        let spec: ExecutionSpec =
            serde_json::from_str(r#"{"user":"u","context":[1],"lifetime":"2h"}"#).expect("spec");
        assert_eq!(
            spec.into_request().expect_err("context").code,
            ErrorCode::InvalidBody
        );
        let spec: ExecutionSpec =
            serde_json::from_str(r#"{"user":"u","lifetime":"soon"}"#).expect("spec");
        assert!(spec.into_request().is_err());
        let spec: ExecutionSpec =
            serde_json::from_str(r#"{"user":"u","lifetime":90,"input":{"a": 1}}"#).expect("spec");
        let (new, lifetime, _) = spec.into_request().expect("ok");
        assert_eq!(
            (lifetime.as_secs(), new.input.as_deref()),
            (90, Some("{\"a\":1}"))
        );
        assert!(serde_json::from_str::<ExecutionSpec>(r#"{"user":"u","bogus":1}"#).is_err());
    }
}
