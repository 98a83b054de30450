//! The interface a REST-API tool implements (Teams, Notion, Trello, Google Sheets): read
//! its credential, say which secrets it holds, and turn a checked call into a [`Plan`] of
//! HTTP requests. Everything else — params validation against the registry's schema,
//! sealing, idempotency, the rate limit, retries, access tokens, audit, redaction — is the
//! engine's, the same for every tool.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use serde_json::{Map, Value};

use super::config::Endpoints;
use super::google::TokenSource;
use super::http::Outgoing;
use super::{Action, Secrets, ToolError};

/// An opened credential of a plugin tool. `Debug`-free on purpose: nothing prints it.
pub trait Plugin: Send + Sync {
    /// Where calls go, without a secret (`cronium tools list`).
    fn describe(&self) -> String;
    /// Every secret string the credential holds, for redaction.
    fn secrets(&self, s: &mut Secrets);
    /// The OAuth token source when requests carry `Authorization: Bearer <access token>`
    /// fetched by the engine (Google); `None` when the credential itself authenticates.
    fn token_source(&self) -> Option<&TokenSource> {
        None
    }
    /// The URL `cronium tools test` connects to.
    fn probe_url(&self, endpoints: &Endpoints) -> url::Url;
    /// Builds the requests of one call. `params` has passed the action's schema.
    fn plan(
        &self,
        action: Action,
        params: &Map<String, Value>,
        endpoints: &Endpoints,
    ) -> Result<Plan, ToolError>;
}

/// Follow-up requests built from the first answer's JSON (Trello's checklist items need
/// the new checklist's id).
pub type FollowUp = Box<dyn Fn(&Value) -> Result<Vec<Outgoing>, String> + Send + Sync>;

/// The result fields of an action (Cronium's names), from the JSON answers of its requests:
/// the first one, then the follow-ups in order.
pub type Shape = Box<dyn Fn(&Value, &[Value]) -> Map<String, Value> + Send + Sync>;

/// The requests of one call.
pub struct Plan {
    /// The request that is the call.
    pub first: Outgoing,
    /// Requests that depend on the first answer, sent in order after it succeeded.
    pub then: Option<FollowUp>,
    /// The action's result fields.
    pub shape: Shape,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Plan({} {})",
            self.first.method,
            super::origin(&self.first.url)
        )
    }
}

impl Plan {
    /// A one-request plan.
    pub fn one(first: Outgoing, shape: Shape) -> Self {
        Self {
            first,
            then: None,
            shape,
        }
    }
}

/// `base` with `segments` appended, each percent-encoded as one path segment, so an id
/// never adds a path level (`a/../b` stays one segment). A base with a path (a gateway)
/// keeps it.
pub fn api_url(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut u = base.clone();
    if let Ok(mut p) = u.path_segments_mut() {
        p.pop_if_empty();
        for s in segments {
            p.push(s);
        }
    }
    u
}

/// A JSON request with extra headers.
pub fn json_request(
    method: Method,
    url: url::Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<&Value>,
) -> Outgoing {
    let mut h = headers;
    if body.is_some() {
        h.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    }
    Outgoing {
        method,
        url,
        headers: h,
        body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
    }
}

/// A string param the schema made required.
pub fn req_str<'a>(p: &'a Map<String, Value>, name: &str) -> &'a str {
    p.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// An optional string param.
pub fn opt_str<'a>(p: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    p.get(name).and_then(Value::as_str)
}

/// A present, non-null param.
pub fn opt<'a>(p: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    p.get(name).filter(|v| !v.is_null())
}

/// Copies `keys` of `from` that are present into `into` under the same names.
pub fn copy(into: &mut Map<String, Value>, from: &Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
            into.insert((*k).to_owned(), v.clone());
        }
    }
}

/// A header from a value the sidecar builds (never user text with newlines).
pub fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), ToolError> {
    let v = HeaderValue::from_str(value).map_err(|_| {
        ToolError::NotConfigured(format!(
            "the credential's {name} value cannot be sent in a header; add it again"
        ))
    })?;
    Ok((HeaderName::from_static(name), v))
}
