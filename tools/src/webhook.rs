//! The generic webhook: an HTTP request to the credential's base URL plus a path the
//! script picks, never another host.
//!
//! The credential fixes scheme, host, port and a base path (and may add secret headers,
//! restrict paths and methods); the script picks method, a relative path under the base,
//! query params, extra headers and the body. A path is checked segment by segment before
//! it is joined — no `.`/`..` segments (also percent-encoded), no encoded slashes, no
//! empty segments — and the joined URL is checked again to have the base's origin and to
//! lie under its path.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use serde_json::{Map, Value};

use super::ToolError;
use super::{endpoint_url, http::Outgoing, is_loopback, origin, params_invalid, wrong_type};
use super::{only_fields, Params, Secrets};

const KNOWN: &[&str] = &["method", "path", "query", "headers", "body"];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Headers a script may not set: the connection's framing and routing are the sidecar's.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "proxy-connection",
];
const MAX_PATH: usize = 2048;
const MAX_HEADERS: usize = 50;

/// A webhook credential: where calls go and what secret headers they carry.
pub struct WebhookCredential {
    base: url::Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    allowed_paths: Option<Vec<String>>,
    methods: Vec<Method>,
}

// Never the base URL's path or the header values.
impl std::fmt::Debug for WebhookCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookCredential({})", self.describe())
    }
}

impl WebhookCredential {
    /// Reads `{"base_url", "headers"?, "allowed_paths"?, "methods"?}`.
    pub(super) fn parse(cfg: &Map<String, Value>) -> Result<Self, String> {
        only_fields(cfg, &["base_url", "headers", "allowed_paths", "methods"])?;
        let base = cfg
            .get("base_url")
            .and_then(Value::as_str)
            .ok_or("needs base_url, e.g. https://api.example.com/hooks")?;
        let base = endpoint_url("base_url", base)?;
        let mut headers = Vec::new();
        match cfg.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    let name = HeaderName::from_bytes(k.as_bytes())
                        .map_err(|_| format!("headers: {k:?} is not a header name"))?;
                    if RESERVED.contains(&name.as_str()) {
                        return Err(format!("headers: {name} is set by the sidecar"));
                    }
                    let value = v
                        .as_str()
                        .and_then(|s| HeaderValue::from_str(s).ok())
                        .ok_or_else(|| {
                            format!("headers: the value of {name} must be a one-line string")
                        })?;
                    headers.push((name, value));
                }
            }
            Some(_) => return Err("headers must be an object of name: value strings".into()),
        }
        let allowed_paths = match cfg.get("allowed_paths") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|p| {
                        p.as_str()
                            .map(|s| format!("/{}", s.trim_start_matches('/')))
                            .ok_or(
                                "allowed_paths must be strings such as \"/deploy\" or \"/jobs/*\"",
                            )
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err("allowed_paths must be an array of paths".into()),
        };
        let methods = match cfg.get("methods") {
            None | Some(Value::Null) => METHODS.iter().map(|m| method(m)).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|m| {
                    m.as_str()
                        .map(str::to_ascii_uppercase)
                        .filter(|m| METHODS.contains(&m.as_str()))
                        .map(|m| method(&m))
                        .ok_or_else(|| format!("methods must be some of {}", METHODS.join(", ")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("methods must be an array such as [\"POST\"]".into()),
        };
        Ok(Self {
            base,
            headers,
            allowed_paths,
            methods,
        })
    }

    pub(super) fn base_url(&self) -> &url::Url {
        &self.base
    }

    pub(super) fn describe(&self) -> String {
        let mut s = origin(&self.base);
        if !self.headers.is_empty() {
            s.push_str(&format!(" ({} secret headers)", self.headers.len()));
        }
        if self.base.scheme() == "http" && !is_loopback(&self.base) {
            s.push_str(" [plain http]");
        }
        s
    }

    pub(super) fn secrets(&self, s: &mut Secrets) {
        s.add_url(&self.base);
        for (_, v) in &self.headers {
            if let Ok(v) = v.to_str() {
                s.add(v);
                // `Bearer <token>`: the token alone is the secret too.
                if let Some((_, token)) = v.split_once(' ') {
                    s.add(token);
                }
            }
        }
    }

    /// Builds the request from the script's params.
    pub(super) fn prepare(&self, p: &Params<'_>) -> Result<Outgoing, ToolError> {
        p.only(KNOWN)?;
        let m = p.string("method")?.unwrap_or("POST").to_ascii_uppercase();
        let method = self
            .methods
            .iter()
            .find(|x| x.as_str() == m)
            .cloned()
            .ok_or_else(|| {
                params_invalid(format!(
                    "method must be one of {} for this credential",
                    self.methods
                        .iter()
                        .map(Method::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let mut url = self.resolve(p.string("path")?.unwrap_or(""))?;
        match p.get("query") {
            None => {}
            Some(Value::Object(q)) => {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in q {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(wrong_type(
                                &format!("query.{k}"),
                                "a string, number or boolean",
                                other,
                            ))
                        }
                    };
                    pairs.append_pair(k, &v);
                }
            }
            Some(other) => return Err(wrong_type("query", "an object", other)),
        }
        let mut headers = self.headers.clone();
        let mut content_type = None;
        match p.get("headers") {
            None => {}
            Some(Value::Object(h)) => {
                if h.len() > MAX_HEADERS {
                    return Err(params_invalid(format!("at most {MAX_HEADERS} headers")));
                }
                for (k, v) in h {
                    let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                        params_invalid(format!(
                            "headers: {:?} is not a header name",
                            k.chars().take(64).collect::<String>()
                        ))
                    })?;
                    if RESERVED.contains(&name.as_str()) {
                        return Err(params_invalid(format!(
                            "headers: {name} is set by the sidecar"
                        )));
                    }
                    if self.headers.iter().any(|(n, _)| *n == name) {
                        return Err(params_invalid(format!(
                            "headers: {name} is set by the credential and cannot be overridden"
                        )));
                    }
                    let value = match v {
                        Value::String(s) => HeaderValue::from_str(s).map_err(|_| {
                            params_invalid(format!(
                                "headers: the value of {name} must be one line of text"
                            ))
                        })?,
                        other => {
                            return Err(wrong_type(&format!("headers.{name}"), "a string", other))
                        }
                    };
                    if name == CONTENT_TYPE {
                        content_type = Some(value);
                    } else {
                        headers.push((name, value));
                    }
                }
            }
            Some(other) => return Err(wrong_type("headers", "an object", other)),
        }
        let body = match p.get("body") {
            None => Bytes::new(),
            Some(_) if method == Method::GET => {
                return Err(params_invalid("a GET request takes no body"))
            }
            Some(Value::String(s)) => {
                content_type.get_or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
                Bytes::from(s.clone())
            }
            Some(v) => {
                content_type.get_or_insert(HeaderValue::from_static("application/json"));
                Bytes::from(v.to_string())
            }
        };
        if let Some(ct) = content_type {
            headers.push((CONTENT_TYPE, ct));
        }
        Ok(Outgoing {
            method,
            url,
            headers,
            body,
        })
    }

    /// Joins a script's path under the base URL, refusing anything that could leave it.
    fn resolve(&self, path: &str) -> Result<url::Url, ToolError> {
        let bad = |why: &str| params_invalid(format!("path {why}"));
        if path.len() > MAX_PATH {
            return Err(bad(&format!("is longer than {MAX_PATH} bytes")));
        }
        if path
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '?' | '#'))
        {
            return Err(bad(
                "may not contain spaces, control characters, \\, ? or # (send query params in query)",
            ));
        }
        if path.contains("://") {
            return Err(bad(
                "is relative to the credential's URL; it cannot name a host",
            ));
        }
        let rel = path.strip_prefix('/').unwrap_or(path);
        if !rel.is_empty() {
            let segs: Vec<&str> = rel.split('/').collect();
            for (i, seg) in segs.iter().enumerate() {
                let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
                // A trailing slash is fine; an empty segment inside is not.
                if seg.is_empty() && i + 1 < segs.len() {
                    return Err(bad("may not contain empty segments (//)"));
                }
                if matches!(decoded.as_ref(), "." | "..")
                    || decoded.contains(['/', '\\'])
                    || decoded.chars().any(char::is_control)
                {
                    return Err(bad(
                        "may not contain . or .. segments, or encoded slashes or control characters",
                    ));
                }
            }
        }
        let shown = format!("/{rel}");
        if let Some(allowed) = &self.allowed_paths {
            let ok = allowed.iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => shown.starts_with(prefix) && shown.len() > prefix.len(),
                None => *a == shown,
            });
            if !ok {
                return Err(params_invalid(format!(
                    "path {:?} is not allowed by this credential; allowed: {}",
                    shown.chars().take(128).collect::<String>(),
                    allowed.join(", ")
                )));
            }
        }
        let base_path = self.base.path().trim_end_matches('/');
        let joined = if rel.is_empty() {
            self.base.path().to_owned()
        } else {
            format!("{base_path}/{rel}")
        };
        let mut url = self.base.clone();
        url.set_path(&joined);
        // Defence in depth: whatever the URL parser made of the path, the call stays under
        // the credential's origin and base path.
        if url.origin() != self.base.origin() || !url.path().starts_with(base_path) {
            return Err(bad("leaves the credential's base URL"));
        }
        Ok(url)
    }
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap_or(Method::POST)
}

#[cfg(test)]
mod tests {
    use super::super::Tool;
    use super::*;
    use cronium_protocol::ErrorCode;
    use serde_json::json;

    fn cred(cfg: Value) -> WebhookCredential {
        let Value::Object(m) = cfg else {
            panic!("object")
        };
        WebhookCredential::parse(&m).expect("credential")
    }

    fn prep(c: &WebhookCredential, params: Value) -> Result<Outgoing, ToolError> {
        let Value::Object(m) = params else {
            panic!("object")
        };
        c.prepare(&Params::new(Tool::Webhook, &m))
    }

    #[test]
    fn paths_stay_under_the_base() {
        let c = cred(json!({"base_url": "https://api.example.com/v1/hooks?sig=abc"}));
        let u = prep(&c, json!({"path": "/deploy/42"})).expect("ok").url;
        assert_eq!(
            u.as_str(),
            "https://api.example.com/v1/hooks/deploy/42?sig=abc"
        );
        let u = prep(&c, json!({})).expect("ok").url;
        assert_eq!(u.path(), "/v1/hooks");
        for bad in [
            "../admin",
            "a/../../admin",
            "%2e%2e/admin",
            "%2E%2e/admin",
            ".%2e/admin",
            "a/%2fetc",
            "a%5cb",
            "//evil.example/x",
            "a//b",
            "./a",
            "https://evil.example/x",
            "a b",
            "a?x=1",
            "a#f",
            "a\\b",
            "a\nb",
            "%00",
        ] {
            let e = prep(&c, json!({"path": bad})).expect_err(bad);
            assert_eq!(e.code(), ErrorCode::ToolParamsInvalid, "{bad}");
        }
    }

    #[test]
    fn allowed_paths_methods_and_headers() {
        let c = cred(json!({
            "base_url": "http://127.0.0.1:9/api/",
            "headers": {"Authorization": "Bearer t0ken-123456"},
            "allowed_paths": ["/deploy", "/jobs/*"],
            "methods": ["post", "PUT"],
        }));
        assert!(prep(&c, json!({"path": "deploy"})).is_ok());
        assert!(prep(&c, json!({"path": "/jobs/7"})).is_ok());
        assert!(prep(&c, json!({"path": "/jobs/"})).is_err());
        assert!(prep(&c, json!({"path": "/deploy/x"})).is_err());
        assert!(prep(&c, json!({"path": "/deploy", "method": "DELETE"})).is_err());
        let e = prep(
            &c,
            json!({"path": "/deploy", "headers": {"authorization": "x"}}),
        )
        .expect_err("override");
        assert!(e.to_string().contains("credential"));
        assert!(prep(&c, json!({"path": "/deploy", "headers": {"Host": "evil"}})).is_err());
        let o = prep(&c, json!({"path": "/deploy", "method": "put", "headers": {"X-A": "1"}, "query": {"n": 1, "b": true}, "body": {"k": [1]}}))
            .expect("ok");
        assert_eq!(o.method, Method::PUT);
        assert_eq!(o.url.as_str(), "http://127.0.0.1:9/api/deploy?n=1&b=true");
        assert_eq!(o.body.as_ref(), br#"{"k":[1]}"#);
        let names: Vec<_> = o.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["authorization", "x-a", "content-type"]);
        let t = prep(&c, json!({"path": "/deploy", "body": "plain"})).expect("text");
        assert_eq!(
            t.headers.last().map(|(_, v)| v.as_bytes()),
            Some(&b"text/plain; charset=utf-8"[..])
        );
        let mut s = Secrets::default();
        c.secrets(&mut s);
        assert_eq!(
            s.scrub("Bearer t0ken-123456 / t0ken-123456"),
            "[redacted] / [redacted]"
        );
    }

    #[test]
    fn bad_credentials_are_refused() {
        for cfg in [
            json!({}),
            json!({"base_url": "ftp://x/"}),
            json!({"base_url": "https://u:p@x/"}),
            json!({"base_url": "https://x/", "headers": {"Host": "y"}}),
            json!({"base_url": "https://x/", "headers": {"A": 1}}),
            json!({"base_url": "https://x/", "methods": ["TRACE"]}),
            json!({"base_url": "https://x/", "extra": 1}),
        ] {
            let Value::Object(m) = cfg.clone() else {
                panic!()
            };
            assert!(WebhookCredential::parse(&m).is_err(), "{cfg}");
        }
    }
}
