//! Google Sheets (`<base>/v4/spreadsheets/...`) with an OAuth access token the engine gets
//! at Google's token endpoint: from a refresh token (Cronium's `clientId`,
//! `clientSecret`, `refreshToken`) or from a service account's key (the JSON Google
//! downloads, `"type": "service_account"`), whose grant is a JWT signed with RS256 (ring,
//! the workspace's crypto).

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Method;
use serde_json::{json, Map, Value};

use super::config::Endpoints;
use super::http::Outgoing;
use super::plugin::{api_url, json_request, opt, opt_str, req_str, Plan, Plugin};
use super::{only_fields, Action, Secrets, ToolError};

/// Scope asked for when the credential names none.
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

/// JSON Schema of the credential: OAuth (Cronium's fields) or a service-account key.
pub fn credential_schema() -> Value {
    json!({
        "anyOf": [
            {
                "type": "object",
                "description": "OAuth client and refresh token (Cronium's fields)",
                "required": ["clientId", "clientSecret", "refreshToken"],
                "additionalProperties": false,
                "properties": {
                    "clientId": {"type": "string", "minLength": 1},
                    "clientSecret": {"type": "string", "minLength": 1},
                    "refreshToken": {"type": "string", "minLength": 1},
                    "scope": {"type": "string", "default": DEFAULT_SCOPE},
                    "spreadsheetId": {"type": "string", "description": "Used when a call names none"}
                }
            },
            {
                "type": "object",
                "description": "A service account's JSON key, as Google downloads it",
                "required": ["type", "client_email", "private_key"],
                "properties": {
                    "type": {"const": "service_account"},
                    "client_email": {"type": "string"},
                    "private_key": {"type": "string", "description": "PEM, PKCS#8 RSA"},
                    "scope": {"type": "string", "default": DEFAULT_SCOPE},
                    "spreadsheetId": {"type": "string"}
                }
            }
        ]
    })
}

fn id_field() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "description": "The spreadsheet (from its URL); the credential's spreadsheetId when absent"})
}

fn range_field() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 500, "description": "A1 notation, e.g. Sheet1!A1:C10"})
}

/// Params of `read-data`.
pub fn read_params() -> Value {
    json!({
        "type": "object",
        "required": ["range"],
        "additionalProperties": false,
        "properties": {
            "spreadsheetId": id_field(),
            "range": range_field(),
            "valueRenderOption": {"enum": ["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"]},
            "dateTimeRenderOption": {"enum": ["SERIAL_NUMBER", "FORMATTED_STRING"]},
            "majorDimension": {"enum": ["ROWS", "COLUMNS"]}
        }
    })
}

/// Params of `write-data`.
pub fn write_params() -> Value {
    json!({
        "type": "object",
        "required": ["range", "values"],
        "additionalProperties": false,
        "properties": {
            "spreadsheetId": id_field(),
            "range": range_field(),
            "values": {"type": "array", "items": {"type": "array"}, "description": "Rows of cells"},
            "valueInputOption": {"enum": ["RAW", "USER_ENTERED"], "default": "USER_ENTERED"},
            "insertDataOption": {"enum": ["OVERWRITE", "INSERT_ROWS"], "description": "Given: append after the range's table (values:append); absent: overwrite the range (PUT)"},
            "includeValuesInResponse": {"type": "boolean"}
        }
    })
}

/// Params of `create-sheet`.
pub fn create_params() -> Value {
    json!({
        "type": "object",
        "required": ["title"],
        "additionalProperties": false,
        "properties": {
            "spreadsheetId": id_field(),
            "title": {"type": "string", "minLength": 1},
            "index": {"type": "integer", "minimum": 0},
            "gridProperties": {"type": "object", "additionalProperties": false, "properties": {
                "rowCount": {"type": "integer", "minimum": 1},
                "columnCount": {"type": "integer", "minimum": 1},
                "frozenRowCount": {"type": "integer", "minimum": 0},
                "frozenColumnCount": {"type": "integer", "minimum": 0}
            }},
            "tabColor": {"type": "object", "additionalProperties": false, "properties": {
                "red": {"type": "number", "minimum": 0, "maximum": 1},
                "green": {"type": "number", "minimum": 0, "maximum": 1},
                "blue": {"type": "number", "minimum": 0, "maximum": 1}
            }}
        }
    })
}

/// Result fields per action.
pub fn result_schema(action: Action) -> Value {
    let props = match action {
        Action::SheetsReadData => {
            json!({"range": {"type": "string"}, "majorDimension": {"type": "string"}, "values": {"type": "array"}})
        }
        Action::SheetsWriteData => {
            json!({"updatedRange": {"type": "string"}, "updatedRows": {"type": "integer"}, "updatedColumns": {"type": "integer"}, "updatedCells": {"type": "integer"}})
        }
        _ => {
            json!({"sheetId": {"type": "integer"}, "title": {"type": "string"}, "index": {"type": "integer"}})
        }
    };
    let mut props = props;
    props["data"] = json!({"type": "object", "description": "Google's whole answer"});
    json!({"type": "object", "properties": props})
}

/// How the engine gets an access token for a credential.
pub enum TokenSource {
    /// `grant_type=refresh_token`.
    Refresh {
        /// OAuth client id.
        client_id: String,
        /// OAuth client secret.
        client_secret: String,
        /// The user's refresh token.
        refresh_token: String,
    },
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with a signed assertion.
    ServiceAccount {
        /// The account's e-mail (`iss`).
        email: String,
        /// The PEM text (kept for redaction).
        pem: String,
        /// The parsed key (boxed: it is much larger than the other form).
        key: Box<ring::signature::RsaKeyPair>,
        /// Requested scope.
        scope: String,
    },
}

// Never a secret: only which kind of grant.
impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Refresh { .. } => f.write_str("TokenSource(refresh token)"),
            TokenSource::ServiceAccount { email, .. } => {
                write!(f, "TokenSource(service account {email})")
            }
        }
    }
}

impl TokenSource {
    /// What identifies the cached token of this source (a digest, never the secrets).
    pub fn cache_key(&self, token_url: &url::Url) -> String {
        let text = match self {
            TokenSource::Refresh {
                client_id,
                refresh_token,
                ..
            } => format!("r\0{token_url}\0{client_id}\0{refresh_token}"),
            TokenSource::ServiceAccount {
                email, pem, scope, ..
            } => format!("s\0{token_url}\0{email}\0{scope}\0{pem}"),
        };
        let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The token request (form-encoded POST). `now` is seconds since the epoch.
    pub fn request(&self, token_url: &url::Url, now: u64) -> Result<Outgoing, String> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        match self {
            TokenSource::Refresh {
                client_id,
                client_secret,
                refresh_token,
            } => {
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret)
                    .append_pair("refresh_token", refresh_token);
            }
            TokenSource::ServiceAccount {
                email, key, scope, ..
            } => {
                let assertion = jwt(key, email, scope, token_url.as_str(), now)?;
                form.append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                    .append_pair("assertion", &assertion);
            }
        }
        Ok(Outgoing {
            method: Method::POST,
            url: token_url.clone(),
            headers: vec![(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )],
            body: Bytes::from(form.finish()),
        })
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The service account's grant: `header.claims.signature`, RS256, valid one hour.
fn jwt(
    key: &ring::signature::RsaKeyPair,
    email: &str,
    scope: &str,
    aud: &str,
    now: u64,
) -> Result<String, String> {
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let claims = json!({"iss": email, "scope": scope, "aud": aud, "iat": now, "exp": now + 3600});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "cannot sign the service account's grant".to_owned())?;
    Ok(format!("{signing_input}.{}", b64(&sig)))
}

/// The DER inside a PEM `PRIVATE KEY` block.
fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err("private_key must be a PEM PKCS#8 key (-----BEGIN PRIVATE KEY-----), as in the JSON key Google downloads".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "private_key is not valid PEM".to_owned())
}

struct Sheets {
    source: TokenSource,
    spreadsheet: Option<String>,
}

/// Reads a Google Sheets credential (either form).
pub fn open(cfg: &Map<String, Value>) -> Result<Box<dyn Plugin>, String> {
    let s = |k: &str| {
        cfg.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    let spreadsheet = s("spreadsheetId");
    let scope = s("scope").unwrap_or_else(|| DEFAULT_SCOPE.to_owned());
    let source = if cfg.get("type").and_then(Value::as_str) == Some("service_account") {
        let email = s("client_email").ok_or("a service account key needs client_email")?;
        let pem = s("private_key").ok_or("a service account key needs private_key")?;
        let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(&pem)?)
            .map_err(|e| format!("private_key is not a usable RSA key ({e})"))?;
        TokenSource::ServiceAccount {
            email,
            pem,
            key: Box::new(key),
            scope,
        }
    } else {
        only_fields(
            cfg,
            &[
                "clientId",
                "clientSecret",
                "refreshToken",
                "scope",
                "spreadsheetId",
            ],
        )?;
        let need = |k: &str| {
            s(k).ok_or_else(|| {
                format!("needs clientId, clientSecret and refreshToken (missing {k}), or a service account's JSON key")
            })
        };
        TokenSource::Refresh {
            client_id: need("clientId")?,
            client_secret: need("clientSecret")?,
            refresh_token: need("refreshToken")?,
        }
    };
    Ok(Box::new(Sheets {
        source,
        spreadsheet,
    }))
}

fn data(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("data".into(), v.clone());
    m
}

impl Plugin for Sheets {
    fn describe(&self) -> String {
        match &self.source {
            TokenSource::Refresh { .. } => "Google Sheets (OAuth refresh token)".into(),
            TokenSource::ServiceAccount { email, .. } => {
                format!("Google Sheets (service account {email})")
            }
        }
    }

    fn secrets(&self, s: &mut Secrets) {
        match &self.source {
            TokenSource::Refresh {
                client_secret,
                refresh_token,
                ..
            } => {
                s.add(client_secret);
                s.add(refresh_token);
            }
            TokenSource::ServiceAccount { pem, .. } => {
                s.add(pem);
                // The key's base64 lines, should a fragment be echoed.
                for line in pem
                    .lines()
                    .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                {
                    s.add(line.trim());
                }
            }
        }
    }

    fn token_source(&self) -> Option<&TokenSource> {
        Some(&self.source)
    }

    fn probe_url(&self, e: &Endpoints) -> url::Url {
        e.google_token.clone()
    }

    fn plan(
        &self,
        action: Action,
        p: &Map<String, Value>,
        e: &Endpoints,
    ) -> Result<Plan, ToolError> {
        let sheet = opt_str(p, "spreadsheetId")
            .or(self.spreadsheet.as_deref())
            .ok_or_else(|| {
                super::params_invalid(
                    "spreadsheetId is required (the credential names no default spreadsheet)",
                )
            })?;
        let base = &e.sheets;
        Ok(match action {
            Action::SheetsReadData => {
                let mut u = api_url(
                    base,
                    &["v4", "spreadsheets", sheet, "values", req_str(p, "range")],
                );
                u.query_pairs_mut()
                    .append_pair(
                        "valueRenderOption",
                        opt_str(p, "valueRenderOption").unwrap_or("FORMATTED_VALUE"),
                    )
                    .append_pair(
                        "dateTimeRenderOption",
                        opt_str(p, "dateTimeRenderOption").unwrap_or("FORMATTED_STRING"),
                    )
                    .append_pair(
                        "majorDimension",
                        opt_str(p, "majorDimension").unwrap_or("ROWS"),
                    );
                Plan::one(
                    json_request(Method::GET, u, vec![], None),
                    Box::new(|v, _| {
                        let mut m = data(v);
                        m.insert("range".into(), v["range"].clone());
                        m.insert("majorDimension".into(), v["majorDimension"].clone());
                        m.insert(
                            "values".into(),
                            v.get("values").cloned().unwrap_or_else(|| json!([])),
                        );
                        m
                    }),
                )
            }
            Action::SheetsWriteData => {
                let range = req_str(p, "range");
                let append = opt_str(p, "insertDataOption");
                let (method, mut u) = match append {
                    Some(_) => (
                        Method::POST,
                        api_url(
                            base,
                            &[
                                "v4",
                                "spreadsheets",
                                sheet,
                                "values",
                                &format!("{range}:append"),
                            ],
                        ),
                    ),
                    None => (
                        Method::PUT,
                        api_url(base, &["v4", "spreadsheets", sheet, "values", range]),
                    ),
                };
                {
                    let mut q = u.query_pairs_mut();
                    q.append_pair(
                        "valueInputOption",
                        opt_str(p, "valueInputOption").unwrap_or("USER_ENTERED"),
                    );
                    if let Some(a) = append {
                        q.append_pair("insertDataOption", a);
                    }
                    if let Some(b) = opt(p, "includeValuesInResponse").and_then(Value::as_bool) {
                        q.append_pair("includeValuesInResponse", if b { "true" } else { "false" });
                    }
                }
                let body = json!({"range": range, "majorDimension": "ROWS", "values": p["values"]});
                Plan::one(
                    json_request(method, u, vec![], Some(&body)),
                    Box::new(|v, _| {
                        // values:append nests the counts under `updates`.
                        let u = v.get("updates").unwrap_or(v);
                        let mut m = data(v);
                        for k in [
                            "updatedRange",
                            "updatedRows",
                            "updatedColumns",
                            "updatedCells",
                        ] {
                            m.insert(k.into(), u[k].clone());
                        }
                        m
                    }),
                )
            }
            _ => {
                let mut props = Map::new();
                props.insert("title".into(), req_str(p, "title").into());
                for k in ["index", "gridProperties", "tabColor"] {
                    if let Some(v) = opt(p, k) {
                        props.insert(k.into(), v.clone());
                    }
                }
                let body = json!({"requests": [{"addSheet": {"properties": props}}]});
                Plan::one(
                    json_request(
                        Method::POST,
                        api_url(
                            base,
                            &["v4", "spreadsheets", &format!("{sheet}:batchUpdate")],
                        ),
                        vec![],
                        Some(&body),
                    ),
                    Box::new(|v, _| {
                        let props = &v["replies"][0]["addSheet"]["properties"];
                        let mut m = data(v);
                        for k in ["sheetId", "title", "index"] {
                            m.insert(k.into(), props[k].clone());
                        }
                        m
                    }),
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn both_credential_forms_open_and_bad_ones_say_why() {
        let oauth = open(&cfg(
            json!({"clientId": "c", "clientSecret": "s", "refreshToken": "r"}),
        ))
        .expect("oauth");
        assert_eq!(oauth.describe(), "Google Sheets (OAuth refresh token)");
        let req = oauth
            .token_source()
            .expect("a token source")
            .request(&url::Url::parse("https://t.example/token").expect("url"), 0)
            .expect("request");
        assert_eq!(
            &req.body[..],
            b"grant_type=refresh_token&client_id=c&client_secret=s&refresh_token=r"
        );
        for (v, needle) in [
            (
                json!({"clientId": "c", "clientSecret": "s"}),
                "missing refreshToken",
            ),
            (
                json!({"clientId": "c", "clientSecret": "s", "refreshToken": "r", "x": 1}),
                "unknown field",
            ),
            (
                json!({"type": "service_account", "private_key": "k"}),
                "client_email",
            ),
            (
                json!({"type": "service_account", "client_email": "e", "private_key": "not pem"}),
                "PEM PKCS#8",
            ),
            (
                json!({"type": "service_account", "client_email": "e",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}),
                "not a usable RSA key",
            ),
        ] {
            let e = open(&cfg(v.clone())).err().unwrap_or_default();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn ids_and_ranges_stay_one_path_segment() {
        let base = url::Url::parse("https://gw.example/sheets/").expect("url");
        let u = api_url(
            &base,
            &["v4", "spreadsheets", "a/../b", "values", "My Sheet!A1:B2"],
        );
        assert_eq!(
            u.as_str(),
            "https://gw.example/sheets/v4/spreadsheets/a%2F..%2Fb/values/My%20Sheet!A1:B2"
        );
    }
}
