//! The router in process: routing, methods, authentication, a variable round trip and the
//! compatibility envelope, through `app(state)` with in-memory requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cronium_server::auth::{AuthConfig, Authenticator, KeyMaterial, KeySpec};
use cronium_server::config::Limits;
use cronium_server::routes::{app, App};
use cronium_store::sqlite::{SqliteStore, Sync};
use cronium_store::{now_unix, NewExecution, Store};
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

/// An app on a fresh store with one execution, and that execution's token.
struct Fixture {
    app: App,
    token: String,
    execution: String,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("state.db"), Sync::Normal).expect("open the store"),
    );
    let auth = Arc::new(
        Authenticator::new(AuthConfig {
            keys: vec![KeySpec {
                kid: "k1".into(),
                material: KeyMaterial::Hs256(b"an in-process test secret of 32+ bytes".to_vec()),
            }],
            ..AuthConfig::default()
        })
        .expect("authenticator"),
    );
    let (execution, token) = cronium_server::create_execution(
        store.as_ref(),
        &auth,
        &NewExecution {
            user_id: "u1".into(),
            input: Some(r#"{"n":12345678901234567890123}"#.into()),
            expires_at: now_unix() + 600,
            ..Default::default()
        },
        Duration::from_secs(600),
        None,
    )
    .await
    .expect("create an execution");
    let state = cronium_server::app_state(store, auth, Limits::default(), Duration::from_secs(600));
    Fixture {
        app: app(state),
        token,
        execution: execution.id,
        _dir: dir,
    }
}

/// An answer: status, headers and the body as JSON (Null when it is not JSON).
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    text: String,
    json: Value,
}

impl Fixture {
    async fn send(&self, method: Method, path: &str, token: bool, body: Option<&str>) -> Answer {
        self.send_with(method, path, token, body, &[]).await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        token: bool,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .expect("request");
        let resp = self.app.handle(req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }
}

#[tokio::test]
async fn routes_methods_and_unknown_paths() {
    let f = fixture().await;
    let a = f.send(Method::GET, "/health", false, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json, json!({"status": "ok"}));
    assert!(a.headers.contains_key("x-request-id"));

    let a = f.send(Method::GET, "/openapi.json", false, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.json["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));

    let a = f.send(Method::GET, "/v1/nope", true, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json["error"]["code"], "route_not_found");

    let a = f.send(Method::POST, "/health", false, None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.headers[header::ALLOW], "GET");

    // The method is checked before the token: 405 even without one.
    let a = f.send(Method::PATCH, "/v1/variables/k", false, None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.headers[header::ALLOW], "GET, PUT, DELETE");
    assert_eq!(a.json["error"]["code"], "method_not_allowed");

    // A bad key is refused before the token too.
    let a = f
        .send(Method::GET, "/v1/variables/has%20space", false, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "invalid_key");
}

#[tokio::test]
async fn a_missing_or_bad_token_is_401() {
    let f = fixture().await;
    let a = f.send(Method::GET, "/v1/input", false, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json["error"]["code"], "token_missing");
    assert!(!a.text.contains(&f.token));

    let a = f
        .send_with(
            Method::GET,
            "/v1/input",
            false,
            None,
            &[("authorization", "Bearer not.a.jwt")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json["error"]["code"], "token_malformed");

    let a = f.send(Method::GET, "/v1/input", true, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.text, r#"{"data":{"n":12345678901234567890123}}"#,
        "the input is passed through byte for byte"
    );
}

#[tokio::test]
async fn a_variable_round_trip_with_versions() {
    let f = fixture().await;
    let a = f
        .send(
            Method::PUT,
            "/v1/variables/cfg",
            true,
            Some(r#"{"value": {"big": 123456789012345678901234567890, "s": "é"}}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["data"]["version"], 1);
    assert_eq!(a.headers[header::ETAG], "\"1\"");

    let a = f
        .send(Method::GET, "/v1/variables/cfg?raw", true, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text, r#"{"big":123456789012345678901234567890,"s":"é"}"#);

    // If-Match 0: must not exist, and it does.
    let a = f
        .send_with(
            Method::PUT,
            "/v1/variables/cfg",
            true,
            Some(r#"{"value": 2}"#),
            &[("if-match", "0")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["error"]["code"], "version_conflict");

    let a = f
        .send_with(
            Method::PUT,
            "/v1/variables/cfg",
            true,
            Some(r#"{"value": 2}"#),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["data"]["version"], 2);

    let a = f.send(Method::GET, "/v1/variables", true, None).await;
    assert_eq!(a.json, json!({"data": ["cfg"]}));

    let a = f
        .send(Method::DELETE, "/v1/variables/cfg", true, None)
        .await;
    assert_eq!(a.json, json!({"data": {"key": "cfg", "deleted": true}}));

    let a = f.send(Method::GET, "/v1/variables/cfg", true, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json["error"]["code"], "variable_not_found");

    let a = f
        .send(Method::PUT, "/v1/variables/cfg", true, Some("[1]"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "invalid_body");
}

#[tokio::test]
async fn compat_routes_use_the_go_envelope() {
    let f = fixture().await;
    let id = f.execution.clone();
    let a = f
        .send(Method::GET, &format!("/executions/{id}/input"), true, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.text,
        r#"{"success":true,"data":{"n":12345678901234567890123}}"#
    );

    let a = f
        .send(
            Method::POST,
            &format!("/executions/{id}/output"),
            true,
            Some(r#"{"data": [1, 2]}"#),
        )
        .await;
    assert_eq!(a.json, json!({"success": true}));
    let a = f.send(Method::GET, "/v1/output", true, None).await;
    assert_eq!(a.json, json!({"data": [1, 2]}));

    let a = f
        .send(
            Method::PUT,
            &format!("/executions/{id}/variables/k"),
            true,
            Some(r#"{"value": "v"}"#),
        )
        .await;
    assert_eq!(a.json, json!({"success": true}));
    let a = f
        .send(
            Method::GET,
            &format!("/executions/{id}/variables/k"),
            true,
            None,
        )
        .await;
    assert_eq!(
        a.json,
        json!({"success": true, "data": {"key": "k", "value": "v"}})
    );

    // Another execution's path: the compat error shape.
    let a = f
        .send(Method::GET, "/executions/someone-else/input", true, None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json["error"], "Forbidden");
    assert_eq!(a.json["code"], "execution_mismatch");
    assert!(a.json["message"].as_str().is_some_and(|m| !m.is_empty()));

    let a = f
        .send(Method::GET, &format!("/executions/{id}/output"), true, None)
        .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.json["code"], "method_not_allowed");
}
