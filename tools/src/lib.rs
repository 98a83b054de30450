//! Tool actions: a script asks the sidecar to send a Slack, Discord or Teams message, call
//! a webhook, send an email, or use Notion, Trello or Google Sheets, with a credential the
//! script never sees. Every tool is in one registry ([`registry`]); the REST-API tools are
//! [`plugin::Plugin`]s that only build requests.
//!
//! A call goes: parse (tool, action, params) → load the user's credential and open it with
//! the credentials key → check the params against the registry's schema and build the
//! request(s) → claim the
//! `Idempotency-Key` → per-execution rate limit → send, retrying only what cannot have been
//! delivered or was refused as transient (connect errors, 5xx; never 4xx) → record the
//! outcome under the key → audit → answer `{ok, status, body, ...}`.
//!
//! Secrets stay inside this crate: results, error messages, logs and stored outcomes are
//! built from non-secret parts, and whatever an endpoint echoes back is scrubbed of every
//! secret of the credential before it leaves.

#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
mod discord;
mod email;
mod error;
pub mod google;
mod http;
mod notion;
pub mod plugin;
pub mod registry;
pub mod schema;
mod slack;
mod teams;
mod trello;
mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::http::header::{HeaderValue, AUTHORIZATION};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub use config::{CredentialsKeySource, Endpoints, ToolsConfig};
use cronium_protocol::ErrorCode;
use cronium_store::{Actor, IdempotencyClaim, SealedCredential, Store, StoreError};
use crypto::{row_aad, CredentialKey, OpenError};
pub use error::ToolError;

/// Most bytes of an endpoint's answer kept in a result.
pub const RESULT_BODY_LIMIT: usize = 16 * 1024;
/// Most bytes of a REST API's answer read to build a result's `data` (a Sheets range).
pub const API_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// An access token is fetched again this long before Google says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// Most bytes of an endpoint's answer quoted in an error message.
const ERROR_BODY_LIMIT: usize = 512;
/// Credential used when a call names none.
pub const DEFAULT_CREDENTIAL: &str = "default";
/// How often a call waiting for another call with the same idempotency key looks again.
const PENDING_POLL: Duration = Duration::from_millis(100);
/// Executions tracked by the rate limiter before it starts over.
const LIMITER_CAP: usize = 16_384;

/// The tools and their actions, as the protocol names them (ids and aliases).
pub use cronium_protocol::{Action, Tool};

/// The ids a tool takes, for messages: `send-message (or slack-send-message)`.
fn action_ids(tool: Tool) -> String {
    let ids: Vec<String> = tool
        .actions()
        .map(|a| match a.aliases() {
            [] => a.as_str().to_owned(),
            aliases => format!("{} (or {})", a.as_str(), aliases.join(", ")),
        })
        .collect();
    ids.join(", ")
}

fn tool_names() -> String {
    Tool::ALL.map(Tool::as_str).join(", ")
}

/// How one attempt failed; decides whether the call is retried.
#[derive(Debug)]
pub enum AttemptError {
    /// Nothing reached the endpoint, or it refused as transient: retry.
    Transient(String),
    /// Retrying would not help, or could deliver twice.
    Fatal(String),
    /// The endpoint did not answer in time after the request went out.
    Timeout,
}

/// A parsed call.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// Tool.
    pub tool: Tool,
    /// The action (its canonical id is [`Action::as_str`]).
    pub action: Action,
    /// Credential name.
    pub credential: String,
    /// The params object.
    pub params: Map<String, Value>,
}

/// The body of a call as sent: `{"tool", "action", "params" | "config", "credential"?}`.
/// The HTTP layer decodes it; [`parse_call`] checks it.
#[derive(Debug, Deserialize)]
pub struct CallBody {
    /// Tool name.
    pub tool: String,
    /// Action id, short or prefixed with the tool.
    pub action: String,
    /// The params object.
    #[serde(default)]
    pub params: Option<Value>,
    /// Old name of `params`.
    #[serde(default)]
    pub config: Option<Value>,
    /// Credential name.
    #[serde(default)]
    pub credential: Option<String>,
}

/// 400 `tool_params_invalid`.
pub fn params_invalid(message: impl Into<String>) -> ToolError {
    ToolError::ParamsInvalid(message.into())
}

fn action_unknown(message: impl Into<String>) -> ToolError {
    ToolError::ActionUnknown(message.into())
}

fn not_configured(message: impl Into<String>) -> ToolError {
    ToolError::NotConfigured(message.into())
}

/// Checks a decoded call body: known tool and action, params an object, one credential.
pub fn parse_call(b: CallBody) -> Result<ToolCall, ToolError> {
    let tool = Tool::parse(&b.tool).ok_or_else(|| {
        action_unknown(format!(
            "unknown tool {:?}; the tools are {}",
            printable(&b.tool),
            tool_names()
        ))
    })?;
    let action = tool.action(&b.action).ok_or_else(|| {
        action_unknown(format!(
            "{} has no action {:?}; its actions: {}",
            tool.as_str(),
            printable(&b.action),
            action_ids(tool)
        ))
    })?;
    let params = match (b.params, b.config) {
        (Some(_), Some(_)) => return Err(params_invalid("send params or config, not both")),
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => Value::Object(Map::new()),
    };
    let mut params = match params {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(params_invalid(format!(
                "params must be a JSON object, not {}",
                kind(&other)
            )))
        }
    };
    // Clients that pass only params (the language helpers) name the credential there; it
    // is the sidecar's, never sent to the tool.
    let in_params = match params.remove("credential") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(wrong_type("credential", "a string", &other)),
    };
    let credential = match (b.credential, in_params) {
        (Some(a), Some(p)) if a != p => {
            return Err(params_invalid(
                "credential is given twice, with different names",
            ))
        }
        (Some(a), _) => a,
        (None, Some(p)) => p,
        (None, None) => DEFAULT_CREDENTIAL.to_owned(),
    };
    validate_credential_name(&credential).map_err(params_invalid)?;
    Ok(ToolCall {
        tool,
        action,
        credential,
        params,
    })
}

/// A credential name: 1 to 64 characters of `A-Z a-z 0-9 _ . -`.
pub fn validate_credential_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("a credential name is 1 to 64 characters of A-Z a-z 0-9 _ . -".into())
    }
}

/// JSON type name for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A user-given name, cut and stripped of control characters, safe for messages and logs.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Typed access to a params object, with `tool_params_invalid` for every mistake.
pub(crate) struct Params<'a> {
    tool: Tool,
    map: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(tool: Tool, map: &'a Map<String, Value>) -> Self {
        Self { tool, map }
    }

    /// Refuses names outside `known`, so a typo fails loudly instead of being dropped.
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), ToolError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(params_invalid(format!(
                "{} does not take the param {:?}; it takes {}",
                self.tool.as_str(),
                printable(k),
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// The first of `names` that is present (aliases).
    pub(crate) fn get_any(&self, names: &[&str]) -> Option<(&'a Value, String)> {
        names
            .iter()
            .find_map(|n| self.get(n).map(|v| (v, (*n).to_owned())))
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<&'a str>, ToolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(wrong_type(name, "a string", other)),
        }
    }

    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, ToolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(name, "a boolean", other)),
        }
    }

    pub(crate) fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, ToolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(wrong_type(name, "an array", other)),
        }
    }
}

pub(crate) fn wrong_type(name: &str, want: &str, got: &Value) -> ToolError {
    params_invalid(format!("{name} must be {want}, not {}", kind(got)))
}

/// A credential, opened. Its `Debug` never shows a secret.
pub enum Credential {
    /// Slack incoming webhook.
    Slack(ChatWebhook),
    /// Discord webhook.
    Discord(ChatWebhook),
    /// Generic webhook.
    Webhook(webhook::WebhookCredential),
    /// SMTP.
    Email(email::SmtpCredential),
    /// A REST-API tool of the registry (Teams, Notion, Trello, Google Sheets).
    Plugin(Tool, Box<dyn plugin::Plugin>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({})", self.describe())
    }
}

/// A chat webhook URL (Slack, Discord): the whole URL is the secret.
pub struct ChatWebhook {
    pub(crate) url: url::Url,
}

// The URL is the secret: show only where it points.
impl std::fmt::Debug for ChatWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChatWebhook({})", origin(&self.url))
    }
}

/// Reads the `webhook_url` (or Cronium's `webhookUrl`) of a chat credential.
pub(crate) fn chat_webhook(cfg: &Map<String, Value>) -> Result<ChatWebhook, String> {
    only_fields(cfg, &["webhook_url", "webhookUrl"])?;
    let url = cfg
        .get("webhook_url")
        .or_else(|| cfg.get("webhookUrl"))
        .and_then(Value::as_str)
        .ok_or("needs webhook_url, the incoming-webhook URL")?;
    Ok(ChatWebhook {
        url: endpoint_url("webhook_url", url)?,
    })
}

/// Checks a credential URL: http(s), a host, no user:password part.
pub(crate) fn endpoint_url(field: &str, text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("{field} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{field} must be an http:// or https:// URL"));
    }
    if url.host().is_none() {
        return Err(format!("{field} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{field} must not carry user:password; put credentials in headers"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("{field} must not have a #fragment"));
    }
    Ok(url)
}

pub(crate) fn only_fields(cfg: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match cfg.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown field {:?}; the fields are {}",
            printable(k),
            known.join(", ")
        )),
        None => Ok(()),
    }
}

impl Credential {
    /// Reads and checks a credential's configuration (a JSON object) for `tool`.
    pub fn parse(tool: Tool, cfg: &Value) -> Result<Credential, String> {
        let Value::Object(cfg) = cfg else {
            return Err("the configuration must be a JSON object".into());
        };
        if let Some(open) = registry::spec(tool).open {
            return Ok(Credential::Plugin(tool, open(cfg)?));
        }
        Ok(match tool {
            Tool::Slack => Credential::Slack(chat_webhook(cfg)?),
            Tool::Discord => Credential::Discord(chat_webhook(cfg)?),
            Tool::Webhook => Credential::Webhook(webhook::WebhookCredential::parse(cfg)?),
            Tool::Email => Credential::Email(email::SmtpCredential::parse(cfg)?),
            other => return Err(format!("{other} has no credential reader")),
        })
    }

    /// A line without secrets for `cronium tools list`: where calls go.
    pub fn describe(&self) -> String {
        match self {
            Credential::Slack(w) | Credential::Discord(w) => origin(&w.url),
            Credential::Webhook(w) => w.describe(),
            Credential::Email(e) => e.describe(),
            Credential::Plugin(_, p) => p.describe(),
        }
    }

    /// Every secret string of the credential, for scrubbing what leaves the module.
    fn secrets(&self) -> Secrets {
        let mut s = Secrets::default();
        match self {
            Credential::Slack(w) | Credential::Discord(w) => s.add_url(&w.url),
            Credential::Webhook(w) => w.secrets(&mut s),
            Credential::Email(e) => e.secrets(&mut s),
            Credential::Plugin(_, p) => p.secrets(&mut s),
        }
        s
    }

    /// A plain-HTTP URL off loopback sends its secret in the clear: worth a warning.
    pub fn insecure_warning(&self) -> Option<String> {
        let url = match self {
            Credential::Slack(w) | Credential::Discord(w) => &w.url,
            Credential::Webhook(w) => w.base_url(),
            Credential::Email(_) | Credential::Plugin(..) => return None,
        };
        (url.scheme() == "http" && !is_loopback(url)).then(|| {
            format!(
                "{} is plain http://: the URL and headers cross the network unencrypted",
                origin(url)
            )
        })
    }
}

pub(crate) fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Secret strings to scrub from anything that leaves the crate: a plugin adds its
/// credential's secrets; the engine scrubs every answer, error and log line with them.
#[derive(Default, Clone)]
pub struct Secrets {
    items: Vec<String>,
}

// Counts only: the items are the secrets.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} items)", self.items.len())
    }
}

impl Secrets {
    /// Adds a secret; very short strings are skipped (scrubbing "a" would garble
    /// everything and protect nothing).
    pub fn add(&mut self, s: &str) {
        if s.len() >= 6 && !self.items.iter().any(|i| i == s) {
            self.items.push(s.to_owned());
        }
    }

    /// A URL's secrets: itself, its path and query, and each long path segment and query
    /// value (webhook tokens live there).
    pub fn add_url(&mut self, url: &url::Url) {
        self.add(url.as_str());
        self.add(&url[url::Position::BeforePath..]);
        if let Some(segs) = url.path_segments() {
            for seg in segs.filter(|s| s.len() >= 12) {
                self.add(seg);
                if let Ok(decoded) = percent_encoding::percent_decode_str(seg).decode_utf8() {
                    self.add(&decoded);
                }
            }
        }
        for (_, v) in url.query_pairs() {
            self.add(&v);
        }
    }

    /// Replaces every secret in `text` with `[redacted]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut items: Vec<&String> = self.items.iter().collect();
        items.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_owned();
        for s in items {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// A request ready to send, per transport.
enum Prepared {
    Http(http::Outgoing),
    Email(Box<email::Outgoing>),
    /// The requests of a REST-API tool.
    Api(plugin::Plan),
    /// One request of such a plan: read up to [`API_BODY_LIMIT`].
    ApiStep(http::Outgoing),
}

/// A delivered call.
struct Delivered {
    status: u16,
    body: String,
    truncated: bool,
    extra: Map<String, Value>,
}

/// What a call ended with, as recorded under its idempotency key.
enum Outcome {
    Delivered(Delivered, u32),
    Failed(ToolError, u32),
}

/// The tool-actions engine of a sidecar: configuration, TLS roots, the rate limiter.
pub struct ToolEngine {
    cfg: ToolsConfig,
    /// Built on the first call that needs it: the parsed root store costs about 2 MiB,
    /// which an idle sidecar (most never call a tool) should not carry.
    tls: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    key: Mutex<Option<Arc<CredentialKey>>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Access tokens by credential digest, with when to fetch a new one.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for ToolEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolEngine")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The answer to a call: the result's JSON text, and whether it was replayed from an
/// earlier call with the same idempotency key.
#[derive(Debug, Clone)]
pub struct ToolReply {
    /// The result object, JSON.
    pub result: String,
    /// Answered from the idempotency record; nothing was sent.
    pub replayed: bool,
}

impl ToolEngine {
    /// Builds the engine. TLS is set up on first use; a setup failure surfaces then, as
    /// the failed call's error.
    pub fn new(cfg: ToolsConfig) -> Result<Self, String> {
        Ok(Self {
            cfg,
            tls: std::sync::OnceLock::new(),
            key: Mutex::new(None),
            buckets: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn tls(&self) -> Result<&Arc<rustls::ClientConfig>, String> {
        if let Some(t) = self.tls.get() {
            return Ok(t);
        }
        let built = http::tls_config()?;
        Ok(self.tls.get_or_init(|| built))
    }

    /// The configuration.
    pub fn config(&self) -> &ToolsConfig {
        &self.cfg
    }

    fn key(&self, create: bool) -> Result<Arc<CredentialKey>, String> {
        if let Some(k) = self.key.lock().as_ref() {
            return Ok(Arc::clone(k));
        }
        let k = self.cfg.key.load(create)?;
        *self.key.lock() = Some(Arc::clone(&k));
        Ok(k)
    }

    /// Checks, seals and stores a credential for a user (`cronium tools add`); `true` when
    /// it replaced one. Returns a warning worth showing, if any.
    pub async fn add_credential(
        &self,
        store: &dyn Store,
        actor: Actor<'_>,
        tool: Tool,
        name: &str,
        config: &Value,
    ) -> Result<(bool, Option<String>), String> {
        validate_credential_name(name)?;
        let cred = Credential::parse(tool, config)?;
        let key = self.key(true)?;
        let plain = serde_json::to_vec(config).map_err(|e| e.to_string())?;
        let sealed = key.seal(&row_aad(actor.user_id, tool.as_str(), name), &plain)?;
        let replaced = store
            .put_credential(
                actor,
                &SealedCredential {
                    user_id: actor.user_id.to_owned(),
                    tool: tool.as_str().to_owned(),
                    name: name.to_owned(),
                    key_id: key.fingerprint().to_owned(),
                    sealed,
                    created_at: String::new(),
                    updated_at: String::new(),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok((replaced, cred.insecure_warning()))
    }

    /// Loads and opens a user's credential.
    pub async fn credential(
        &self,
        store: &dyn Store,
        user: &str,
        tool: Tool,
        name: &str,
    ) -> Result<Credential, ToolError> {
        let sealed = store
            .credential(user, tool.as_str(), name)
            .await?
            .ok_or_else(|| {
                // The user id is the execution's own owner (never a secret), named so the
                // operator adds the credential for the right user.
                let who = if user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
                    && !user.is_empty()
                {
                    user.to_owned()
                } else {
                    "<user>".to_owned()
                };
                not_configured(format!(
                    "no {} credential named {name:?} for user {user:?}; an operator adds one with `cronium tools add --user {who} --tool {} --name {name} --config @file`",
                    tool.as_str(),
                    tool.as_str()
                ))
            })?;
        self.open(&sealed, tool)
    }

    /// Opens a stored credential; any failure is `tool_not_configured` naming the key
    /// setting, and is logged for the operator.
    pub fn open(&self, sealed: &SealedCredential, tool: Tool) -> Result<Credential, ToolError> {
        let what = format!("the {} credential {:?}", sealed.tool, sealed.name);
        // The operator's log gets the whole reason (key fingerprints, file paths); the
        // script's answer names the settings only.
        let fail = |reason: String, public: &str| {
            tracing::warn!(tool = %sealed.tool, credential = %sealed.name, %reason, "stored credential unusable");
            not_configured(format!("{what} cannot be used: {public}"))
        };
        let key = self.key(false).map_err(|e| {
            fail(
                e,
                "this sidecar has no credentials key (CRONIUM_CREDENTIALS_KEY_FILE); see its log",
            )
        })?;
        let plain = key
            .open(
                &sealed.key_id,
                &row_aad(&sealed.user_id, &sealed.tool, &sealed.name),
                &sealed.sealed,
            )
            .map_err(|e| match e {
                OpenError::WrongKey { .. } => fail(
                    format!("{e}; {} is in use", self.cfg.key.describe()),
                    "it was sealed with another credentials key than this sidecar's; configure the key it was added with (CRONIUM_CREDENTIALS_KEY_FILE or CRONIUM_CREDENTIALS_KEY)",
                ),
                OpenError::Corrupt => fail(
                    e.to_string(),
                    "it does not authenticate; add it again with `cronium tools add`",
                ),
            })?;
        let cfg: Value = serde_json::from_slice(&plain).map_err(|_| {
            fail(
                "its stored configuration is not JSON".into(),
                "its stored configuration is damaged; add it again",
            )
        })?;
        Credential::parse(tool, &cfg).map_err(|e| {
            fail(
                format!("its configuration is invalid ({e})"),
                "its configuration is invalid; add it again with `cronium tools add`",
            )
        })
    }

    /// Runs a call for the actor's execution. Every outcome, failures included, is audited.
    pub fn execute<'a>(
        &'a self,
        store: &'a dyn Store,
        actor: Actor<'a>,
        call: &'a ToolCall,
        idempotency_key: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<ToolReply, ToolError>> + Send + 'a>> {
        // Boxed so the call path (retries, TLS, SMTP) is compiled once, here, whichever
        // crate awaits it (the API's route, the operator's `tools test`).
        Box::pin(self.execute_here(store, actor, call, idempotency_key))
    }

    async fn execute_here(
        &self,
        store: &dyn Store,
        actor: Actor<'_>,
        call: &ToolCall,
        idempotency_key: Option<&str>,
    ) -> Result<ToolReply, ToolError> {
        let started = Instant::now();
        let out = self.run(store, actor, call, idempotency_key).await;
        let (outcome, status, attempts, replayed) = match &out {
            Ok((reply, status, attempts)) => ("ok".to_owned(), *status, *attempts, reply.replayed),
            Err((e, attempts)) => (e.code().as_str().to_owned(), 0, *attempts, false),
        };
        let mut target = format!(
            "{}/{} credential={} outcome={outcome}",
            call.tool.as_str(),
            call.action.as_str(),
            call.credential
        );
        if status != 0 {
            target.push_str(&format!(" status={status}"));
        }
        target.push_str(&format!(" attempts={attempts}"));
        if replayed {
            target.push_str(" replayed=true");
        }
        if let Some(k) = idempotency_key {
            target.push_str(&format!(" key={}", printable(k)));
        }
        if let Err(e) = store.audit(actor, "tool.execute", &target).await {
            tracing::warn!(error = %e, "cannot write the audit entry of a tool call");
        }
        tracing::info!(
            tool = call.tool.as_str(),
            action = call.action.as_str(),
            credential = %call.credential,
            outcome = %outcome,
            status,
            attempts,
            replayed,
            millis = started.elapsed().as_millis() as u64,
            "tool action"
        );
        out.map(|(reply, _, _)| reply).map_err(|(e, _)| e)
    }

    /// Audits a call that failed before it could be parsed (unknown tool, bad body).
    pub async fn audit_rejected(&self, store: &dyn Store, actor: Actor<'_>, code: ErrorCode) {
        let target = format!("outcome={code}");
        if let Err(err) = store.audit(actor, "tool.execute", &target).await {
            tracing::warn!(error = %err, "cannot write the audit entry of a tool call");
        }
    }

    /// The call itself: `Ok((reply, upstream status, attempts))` or `Err((error, attempts))`.
    async fn run(
        &self,
        store: &dyn Store,
        actor: Actor<'_>,
        call: &ToolCall,
        idempotency_key: Option<&str>,
    ) -> Result<(ToolReply, u16, u32), (ToolError, u32)> {
        let cred = self
            .credential(store, actor.user_id, call.tool, &call.credential)
            .await
            .map_err(|e| (e, 0))?;
        let secrets = cred.secrets();
        let prepared = self.prepare(&cred, call).map_err(|e| (e, 0))?;
        let fingerprint = fingerprint(call);
        if let Some(key) = idempotency_key {
            match self
                .claim(store, actor.execution_id, key, &fingerprint)
                .await
                .map_err(|e| (e, 0))?
            {
                Claim::Replay(outcome) => {
                    let (reply, status) = replay(&outcome).map_err(|e| (e, 0))?;
                    return Ok((reply, status, 0));
                }
                Claim::Held => {}
            }
            if let Err(e) = self.take(actor.execution_id) {
                // Nothing was sent: free the key so the retry after the wait may send.
                let _ = store.release_idempotency(actor.execution_id, key).await;
                return Err((e, 0));
            }
        } else {
            self.take(actor.execution_id).map_err(|e| (e, 0))?;
        }
        let outcome = match &prepared {
            Prepared::Api(plan) => self.send_plan(plan, &cred, &secrets, call).await,
            other => {
                let deadline = Instant::now() + self.cfg.deadline;
                self.send_with_retries(other, &secrets, call.tool.as_str(), deadline, &mut 0)
                    .await
            }
        };
        let (record, result) = match outcome {
            Outcome::Delivered(d, attempts) => {
                let result = result_json(call, &d, attempts);
                let record = json!({"ok": true, "result": &result}).to_string();
                (
                    record,
                    Ok((
                        ToolReply {
                            result: result.to_string(),
                            replayed: false,
                        },
                        d.status,
                        attempts,
                    )),
                )
            }
            Outcome::Failed(e, attempts) => {
                let record = json!({"ok": false, "status": e.status(), "code": e.code(), "message": e.to_string()}).to_string();
                (record, Err((e, attempts)))
            }
        };
        if let Some(key) = idempotency_key {
            if let Err(e) = store
                .finish_idempotency(actor.execution_id, key, &record)
                .await
            {
                // The call is done; only its replay is lost. Later calls with this key get
                // 409 rather than a second delivery.
                tracing::warn!(error = %e, "cannot record a tool call's outcome under its idempotency key");
            }
        }
        result
    }

    fn prepare(&self, cred: &Credential, call: &ToolCall) -> Result<Prepared, ToolError> {
        // Every tool's params pass its registered schema first: one checker, and errors
        // that name the failing field.
        if let Some(spec) = registry::spec(call.tool).action(call.action) {
            schema::validate(&(spec.params)(), &Value::Object(call.params.clone())).map_err(
                |e| {
                    params_invalid(format!(
                        "{} {}: {e}",
                        call.tool.as_str(),
                        call.action.as_str()
                    ))
                },
            )?;
        }
        let p = Params::new(call.tool, &call.params);
        match (cred, call.tool) {
            (Credential::Plugin(t, plugin), tool) if *t == tool => plugin
                .plan(call.action, &call.params, &self.cfg.endpoints)
                .map(Prepared::Api),
            (Credential::Slack(w), Tool::Slack) => slack::prepare(&w.url, &p).map(Prepared::Http),
            (Credential::Discord(w), Tool::Discord) => {
                discord::prepare(&w.url, &p).map(Prepared::Http)
            }
            (Credential::Webhook(w), Tool::Webhook) => w.prepare(&p).map(Prepared::Http),
            (Credential::Email(e), Tool::Email) => {
                e.prepare(&p).map(|o| Prepared::Email(Box::new(o)))
            }
            _ => Err(not_configured("the stored credential is for another tool")),
        }
    }

    async fn claim(
        &self,
        store: &dyn Store,
        execution_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, ToolError> {
        let give_up = Instant::now() + self.cfg.deadline;
        loop {
            let mismatch =
                |stored: &str| (stored != fingerprint).then_some(ToolError::IdempotencyKeyReused);
            match store
                .claim_idempotency(execution_id, key, fingerprint)
                .await?
            {
                IdempotencyClaim::Claimed => return Ok(Claim::Held),
                IdempotencyClaim::Done {
                    fingerprint: stored,
                    outcome,
                } => {
                    if let Some(e) = mismatch(&stored) {
                        return Err(e);
                    }
                    return Ok(Claim::Replay(outcome));
                }
                IdempotencyClaim::Pending {
                    fingerprint: stored,
                } => {
                    if let Some(e) = mismatch(&stored) {
                        return Err(e);
                    }
                    if Instant::now() + PENDING_POLL > give_up {
                        return Err(ToolError::IdempotencyInProgress);
                    }
                    tokio::time::sleep(PENDING_POLL).await;
                }
            }
        }
    }

    /// Takes one call from the execution's bucket.
    fn take(&self, execution_id: &str) -> Result<(), ToolError> {
        let per_min = self.cfg.rate_per_min;
        if per_min <= 0.0 {
            return Ok(());
        }
        let per_sec = per_min / 60.0;
        let burst = self.cfg.rate_burst;
        let now = Instant::now();
        let mut map = self.buckets.lock();
        if map.len() >= LIMITER_CAP && !map.contains_key(execution_id) {
            map.clear();
        }
        let b = map.entry(execution_id.to_owned()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * per_sec).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / per_sec).ceil().max(1.0) as u64;
        Err(ToolError::RateLimited {
            retry_after: wait,
            message: format!("this execution is over its limit of {per_min} tool calls per minute; retry after {wait} s"),
        })
    }

    /// Sends one request, retrying what cannot have been delivered, until `deadline`.
    /// `status_out` gets the last upstream status (0: none), so a caller can tell a 401.
    async fn send_with_retries(
        &self,
        prepared: &Prepared,
        secrets: &Secrets,
        tool: &str,
        deadline: Instant,
        status_out: &mut u16,
    ) -> Outcome {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_attempt = self.cfg.attempt_timeout.min(remaining);
            let result = match prepared {
                Prepared::Http(out) | Prepared::ApiStep(out) => match self.tls() {
                    Ok(tls) => {
                        let limit = if matches!(prepared, Prepared::ApiStep(_)) {
                            API_BODY_LIMIT
                        } else {
                            RESULT_BODY_LIMIT
                        };
                        http::send(out, tls, per_attempt, limit).await
                    }
                    Err(e) => Err(AttemptError::Fatal(e)),
                }
                .map(|a| {
                    (
                        a.status,
                        Delivered {
                            status: a.status,
                            body: secrets.scrub(&a.body),
                            truncated: a.truncated,
                            extra: Map::new(),
                        },
                    )
                }),
                Prepared::Email(out) => email::send(out, per_attempt).await.map(|d| {
                    let d = Delivered {
                        body: secrets.scrub(&d.body),
                        ..d
                    };
                    (d.status, d)
                }),
                Prepared::Api(_) => Err(AttemptError::Fatal(
                    "a plan is sent step by step (a bug if seen)".into(),
                )),
            };
            if let Ok((status, _)) = &result {
                *status_out = *status;
            }
            let retry_reason = match result {
                Ok((status, d)) if (200..300).contains(&status) => {
                    return Outcome::Delivered(d, attempt)
                }
                Ok((status, d))
                    if status >= 500
                        && matches!(prepared, Prepared::Http(_) | Prepared::ApiStep(_)) =>
                {
                    format!("{tool} answered {status}: {}", snippet(&d.body))
                }
                Ok((status, d)) => {
                    let hint = if (300..400).contains(&status) {
                        " (redirects are not followed)"
                    } else {
                        ""
                    };
                    return Outcome::Failed(
                        upstream_failed(format!(
                            "{tool} answered {status}{hint}: {}; not retried",
                            snippet(&d.body)
                        )),
                        attempt,
                    );
                }
                Err(AttemptError::Transient(m)) => format!("{tool}: {}", secrets.scrub(&m)),
                Err(AttemptError::Fatal(m)) => {
                    return Outcome::Failed(
                        upstream_failed(format!("{tool}: {}", secrets.scrub(&m))),
                        attempt,
                    )
                }
                Err(AttemptError::Timeout) => {
                    return Outcome::Failed(
                        ToolError::Timeout {
                            status: 504,
                            message: format!(
                                "{tool} did not answer within {} ms (attempt {attempt}); it may still have received the request, so it was not retried",
                                per_attempt.as_millis()
                            ),
                        },
                        attempt,
                    )
                }
            };
            let backoff = self.backoff(attempt);
            let out_of_time = Instant::now() + backoff >= deadline;
            if attempt > self.cfg.retries || out_of_time {
                let why = if out_of_time && attempt <= self.cfg.retries {
                    "out of time for another retry"
                } else {
                    "no retries left"
                };
                return Outcome::Failed(
                    upstream_failed(format!("{retry_reason} (after {attempt} attempts, {why})")),
                    attempt,
                );
            }
            tracing::debug!(tool, attempt, backoff_ms = backoff.as_millis() as u64, reason = %retry_reason, "tool call failed; retrying");
            tokio::time::sleep(backoff).await;
        }
    }

    /// Sends a REST-API tool's plan: the first request (with an access token when the
    /// tool needs one), then the follow-ups built from its answer. The result's own fields
    /// come from the answers; its `body` is the first answer's start.
    async fn send_plan(
        &self,
        plan: &plugin::Plan,
        cred: &Credential,
        secrets: &Secrets,
        call: &ToolCall,
    ) -> Outcome {
        let tool = call.tool.as_str();
        let deadline = Instant::now() + self.cfg.deadline;
        let mut secrets = secrets.clone();
        let source = match cred {
            Credential::Plugin(_, p) => p.token_source(),
            _ => None,
        };
        let mut attempts = 0u32;
        let first = match self
            .send_step(
                &plan.first,
                source,
                &mut secrets,
                tool,
                deadline,
                &mut attempts,
            )
            .await
        {
            Ok(d) => d,
            Err(e) => return Outcome::Failed(e, attempts),
        };
        let first_json = answer_json(&first.body);
        let mut rest = Vec::new();
        if let Some(then) = &plan.then {
            let outs = match then(&first_json) {
                Ok(o) => o,
                Err(m) => {
                    return Outcome::Failed(
                        upstream_failed(format!("{tool}: {}", secrets.scrub(&m))),
                        attempts,
                    )
                }
            };
            let n = outs.len();
            for (i, out) in outs.iter().enumerate() {
                match self
                    .send_step(out, source, &mut secrets, tool, deadline, &mut attempts)
                    .await
                {
                    Ok(d) => rest.push(answer_json(&d.body)),
                    Err(e) => {
                        // The first request took effect: say so, so nobody repeats it.
                        let note = format!(
                            " (the first request succeeded, then {i} of {n} follow-up requests; the call is not repeated)"
                        );
                        let e = match e {
                            ToolError::UpstreamFailed { status, message } => {
                                ToolError::UpstreamFailed {
                                    status,
                                    message: message + &note,
                                }
                            }
                            ToolError::Timeout { status, message } => ToolError::Timeout {
                                status,
                                message: message + &note,
                            },
                            other => other,
                        };
                        return Outcome::Failed(e, attempts);
                    }
                }
            }
        }
        let extra = (plan.shape)(&first_json, &rest);
        let (body, cut) = cut_text(&first.body, RESULT_BODY_LIMIT);
        Outcome::Delivered(
            Delivered {
                status: first.status,
                body,
                truncated: first.truncated || cut,
                extra,
            },
            attempts,
        )
    }

    /// One request of a plan. With a token source, it carries a bearer token; a 401 gets
    /// one fresh token and one more try (the request was refused, so nothing took effect).
    async fn send_step(
        &self,
        out: &http::Outgoing,
        source: Option<&google::TokenSource>,
        secrets: &mut Secrets,
        tool: &str,
        deadline: Instant,
        attempts: &mut u32,
    ) -> Result<Delivered, ToolError> {
        let mut refreshed = false;
        loop {
            let mut out = out.clone();
            if let Some(src) = source {
                let token = self
                    .access_token(src, secrets, tool, deadline, refreshed, attempts)
                    .await?;
                secrets.add(&token);
                let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    upstream_failed(format!("{tool}: the token endpoint sent an access token that is not a header value"))
                })?;
                out.headers.push((AUTHORIZATION, value));
            }
            let mut status = 0;
            match self
                .send_with_retries(
                    &Prepared::ApiStep(out),
                    secrets,
                    tool,
                    deadline,
                    &mut status,
                )
                .await
            {
                Outcome::Delivered(d, n) => {
                    *attempts += n;
                    return Ok(d);
                }
                Outcome::Failed(e, n) => {
                    *attempts += n;
                    if let (401, Some(src)) = (status, source) {
                        if !refreshed {
                            tracing::debug!(tool, "access token refused (401); fetching a new one");
                            refreshed = true;
                            continue;
                        }
                        // Refused again: the next call starts with a fresh token.
                        let key = src.cache_key(&self.cfg.endpoints.google_token);
                        self.tokens.lock().remove(&key);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// An access token for `src`: the cached one until shortly before it expires, else a
    /// new one from the token endpoint (`force`: always a new one).
    async fn access_token(
        &self,
        src: &google::TokenSource,
        secrets: &Secrets,
        tool: &str,
        deadline: Instant,
        force: bool,
        attempts: &mut u32,
    ) -> Result<String, ToolError> {
        let url = &self.cfg.endpoints.google_token;
        let key = src.cache_key(url);
        if force {
            self.tokens.lock().remove(&key);
        } else if let Some((t, until)) = self.tokens.lock().get(&key) {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let req = src
            .request(url, now)
            .map_err(|e| not_configured(format!("the {tool} credential cannot be used: {e}")))?;
        let label = format!("{tool} token endpoint");
        let mut status = 0;
        match self
            .send_with_retries(
                &Prepared::ApiStep(req),
                secrets,
                &label,
                deadline,
                &mut status,
            )
            .await
        {
            Outcome::Delivered(d, n) => {
                *attempts += n;
                let v = answer_json(&d.body);
                let token = v["access_token"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        upstream_failed(format!("{label}: its answer has no access_token"))
                    })?
                    .to_owned();
                let ttl = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(3600));
                let until = Instant::now() + ttl.saturating_sub(TOKEN_MARGIN);
                let mut cache = self.tokens.lock();
                if cache.len() >= LIMITER_CAP {
                    cache.clear();
                }
                cache.insert(key, (token.clone(), until));
                Ok(token)
            }
            Outcome::Failed(e, n) => {
                *attempts += n;
                Err(e)
            }
        }
    }

    /// Exponential backoff with jitter: `base · 2^(attempt-1)`, scaled by 0.5–1.0 so that
    /// many executions retrying one endpoint spread out.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.cfg.retry_backoff.as_secs_f64()
            * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
        Duration::from_secs_f64(base * (0.5 + rand::random::<f64>() / 2.0))
    }

    /// Checks that a stored credential reaches its endpoint without sending anything
    /// (`cronium tools test`): HTTP tools connect (and TLS-handshake); email logs in.
    pub fn probe<'a>(
        &'a self,
        cred: &'a Credential,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        // Boxed for the same reason as `execute`.
        Box::pin(self.probe_here(cred))
    }

    async fn probe_here(&self, cred: &Credential) -> Result<String, String> {
        let secrets = cred.secrets();
        let timeout = self.cfg.attempt_timeout;
        let r = match cred {
            Credential::Slack(w) | Credential::Discord(w) => {
                http::probe(&w.url, self.tls()?, timeout).await
            }
            Credential::Webhook(w) => http::probe(w.base_url(), self.tls()?, timeout).await,
            Credential::Email(e) => e.probe(timeout).await,
            Credential::Plugin(_, p) => {
                http::probe(&p.probe_url(&self.cfg.endpoints), self.tls()?, timeout).await
            }
        };
        r.map_err(|e| secrets.scrub(&e))
    }
}

enum Claim {
    Held,
    Replay(String),
}

/// Rebuilds the answer of a finished call from its record.
fn replay(outcome: &str) -> Result<(ToolReply, u16), ToolError> {
    let v: Value = serde_json::from_str(outcome).map_err(|_| {
        ToolError::Store(StoreError::Unavailable(
            "an idempotency record is not JSON".into(),
        ))
    })?;
    if v["ok"] == Value::Bool(true) {
        let status = v["result"]["status"].as_u64().unwrap_or(0) as u16;
        return Ok((
            ToolReply {
                result: v["result"].to_string(),
                replayed: true,
            },
            status,
        ));
    }
    // A status the record cannot hold as an HTTP status falls back to 502, as before.
    let status = v["status"]
        .as_u64()
        .filter(|s| (100..=999).contains(s))
        .map_or(502, |s| s as u16);
    let message = v["message"].as_str().unwrap_or("the first call failed");
    let message = format!("{message} (answer of the first call with this Idempotency-Key)");
    Err(
        if v["code"].as_str() == Some(ErrorCode::ToolTimeout.as_str()) {
            ToolError::Timeout { status, message }
        } else {
            ToolError::UpstreamFailed { status, message }
        },
    )
}

/// A REST API's answer as JSON (`null` when it is not JSON).
fn answer_json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// The first `limit` bytes of `text` (at a character boundary), and whether it was cut.
fn cut_text(text: &str, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text.to_owned(), false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_owned(), true)
}

fn upstream_failed(message: String) -> ToolError {
    ToolError::UpstreamFailed {
        status: 502,
        message,
    }
}

fn snippet(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return "(no body)".into();
    }
    let mut end = body.len().min(ERROR_BODY_LIMIT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let cut: String = body[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < body.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn result_json(call: &ToolCall, d: &Delivered, attempts: u32) -> Value {
    let mut m = Map::new();
    m.insert("ok".into(), Value::Bool(true));
    m.insert("tool".into(), call.tool.as_str().into());
    m.insert("action".into(), call.action.as_str().into());
    m.insert("credential".into(), call.credential.clone().into());
    m.insert("status".into(), d.status.into());
    m.insert("body".into(), d.body.clone().into());
    m.insert("truncated".into(), d.truncated.into());
    m.insert("attempts".into(), attempts.into());
    for (k, v) in &d.extra {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// What identifies a call for its idempotency key: a retry must send the same request.
fn fingerprint(call: &ToolCall) -> String {
    let text = format!(
        "{}\0{}\0{}\0{}",
        call.tool.as_str(),
        call.action.as_str(),
        call.credential,
        Value::Object(call.params.clone())
    );
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes and checks a call the way the HTTP layer does.
    fn parse_call(body: &[u8]) -> Result<ToolCall, ToolError> {
        super::parse_call(serde_json::from_slice(body).expect("a call body"))
    }

    #[test]
    fn calls_parse_with_both_action_forms_and_config() {
        let c =
            parse_call(br#"{"tool":"slack","action":"slack-send-message","config":{"text":"x"}}"#)
                .expect("parse");
        assert_eq!(
            (c.tool, c.action, c.credential.as_str()),
            (Tool::Slack, Action::SlackSendMessage, "default")
        );
        assert_eq!(c.params["text"], "x");
        let c = parse_call(
            br#"{"tool":"email","action":"send-email","params":null,"credential":"ops"}"#,
        )
        .expect("parse");
        assert!(c.params.is_empty());
        assert_eq!(c.credential, "ops");
        // Named inside params (helpers that pass only params): taken out, not sent.
        let c = parse_call(
            br#"{"tool":"slack","action":"send-message","params":{"credential":"ops","text":"x"}}"#,
        )
        .expect("parse");
        assert_eq!(c.credential, "ops");
        assert!(!c.params.contains_key("credential"));
        for (body, code) in [
            (
                r#"{"tool":"sms","action":"send"}"#,
                ErrorCode::ToolActionUnknown,
            ),
            (
                r#"{"tool":"slack","action":"delete"}"#,
                ErrorCode::ToolActionUnknown,
            ),
            (
                r#"{"tool":"slack","action":"send-message","params":[1]}"#,
                ErrorCode::ToolParamsInvalid,
            ),
            (
                r#"{"tool":"slack","action":"send-message","params":{},"config":{}}"#,
                ErrorCode::ToolParamsInvalid,
            ),
            (
                r#"{"tool":"slack","action":"send-message","credential":"../x"}"#,
                ErrorCode::ToolParamsInvalid,
            ),
            (
                r#"{"tool":"slack","action":"send-message","credential":"a","params":{"credential":"b"}}"#,
                ErrorCode::ToolParamsInvalid,
            ),
            (
                r#"{"tool":"slack","action":"send-message","params":{"credential":5}}"#,
                ErrorCode::ToolParamsInvalid,
            ),
        ] {
            let e = parse_call(body.as_bytes()).expect_err(body);
            assert_eq!((e.status(), e.code()), (400, code), "{body}");
        }
    }

    #[test]
    fn scrub_removes_every_form_of_a_secret() {
        let url = url::Url::parse("https://hooks.example.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx?token=s3cr3t-token")
            .expect("url");
        let mut s = Secrets::default();
        s.add_url(&url);
        s.add("pw");
        let text = format!("echo {url} and /services/T0001/B0002/abcdefghijklmnopqrstuvwx and abcdefghijklmnopqrstuvwx and s3cr3t-token; pw");
        let out = s.scrub(&text);
        assert!(!out.contains("abcdefghijklmnopqrstuvwx"), "{out}");
        assert!(!out.contains("s3cr3t-token"), "{out}");
        assert!(out.contains("pw"), "too-short strings are not scrubbed");
    }

    #[test]
    fn fingerprint_covers_params_and_credential() {
        let a = parse_call(br#"{"tool":"slack","action":"send-message","params":{"text":"a"}}"#)
            .expect("a");
        let b =
            parse_call(br#"{"tool":"slack","action":"slack-send-message","params":{"text":"a"}}"#)
                .expect("b");
        let c = parse_call(br#"{"tool":"slack","action":"send-message","params":{"text":"b"}}"#)
            .expect("c");
        let d = parse_call(
            br#"{"tool":"slack","action":"send-message","params":{"text":"a"},"credential":"x"}"#,
        )
        .expect("d");
        assert_eq!(
            fingerprint(&a),
            fingerprint(&b),
            "action aliases are one call"
        );
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_ne!(fingerprint(&a), fingerprint(&d));
    }

    #[test]
    fn snippets_are_bounded_and_single_line() {
        let long = "é".repeat(1000);
        let s = snippet(&long);
        assert!(s.len() <= ERROR_BODY_LIMIT + 3);
        assert!(s.ends_with('…'));
        assert_eq!(snippet("a\nb"), "a b");
        assert_eq!(snippet("  "), "(no body)");
    }
}
