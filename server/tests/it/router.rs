//! The router in process: routing, methods, authentication, a variable round trip and the
//! compatibility envelope, through `app(state)` with in-memory requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cronium_protocol::{ErrorCode, ROUTES};
use cronium_server::auth::Scopes;
use cronium_server::auth::{AuthConfig, Authenticator, KeyMaterial, KeySpec};
use cronium_server::config::Limits;
use cronium_server::routes::{app, App};
use cronium_store::sqlite::{SqliteStore, Sync};
use cronium_store::{now_unix, Execution, NewExecution, Store};
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

/// An app on a fresh store with one execution, and that execution's token.
struct Fixture {
    app: App,
    token: String,
    execution: String,
    stored: Execution,
    auth: Arc<Authenticator>,
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
            // Custom context fields: one replaces a default in its place, the others follow
            // in their order, each byte for byte (no trip through f64).
            context: Some(
                r#"{"big": 12345678901234567890123, "trigger": "api", "f": 1.50, "u": "é\u00e9", "a": [1, {"z": 0, "y": 1}]}"#
                    .into(),
            ),
            expires_at: now_unix() + 600,
            ..Default::default()
        },
        Duration::from_secs(600),
        None,
    )
    .await
    .expect("create an execution");
    let state = cronium_server::app_state(
        store,
        Arc::clone(&auth),
        Limits::default(),
        Duration::from_secs(600),
    );
    Fixture {
        app: app(state),
        token,
        execution: execution.id.clone(),
        stored: execution,
        auth,
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

#[tokio::test]
async fn custom_context_fields_stay_byte_exact() {
    let f = fixture().await;
    let a = f.send(Method::GET, "/v1/context", true, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let id = &f.execution;
    // The whole document, as text: defaults in their order, `trigger` replaced in place,
    // the big integer with all its digits, `1.50` not `1.5`, escapes and key order kept.
    let tail = r#""trigger":"api","workflowStep":null,"attempt":1,"big":12345678901234567890123,"f":1.50,"u":"é\u00e9","a":[1,{"z":0,"y":1}]}}"#;
    assert!(
        a.text.starts_with(&format!(
            r#"{{"data":{{"executionId":"{id}","userId":"u1","#
        )),
        "{}",
        a.text
    );
    assert!(a.text.ends_with(tail), "{}", a.text);
    // The bare form and the compatibility route serve the same document.
    let bare = f.send(Method::GET, "/v1/context?raw", true, None).await;
    assert_eq!(format!(r#"{{"data":{}}}"#, bare.text), a.text);
    let compat = f
        .send(
            Method::GET,
            &format!("/executions/{id}/context"),
            true,
            None,
        )
        .await;
    assert!(compat.text.ends_with(tail), "{}", compat.text);
}

#[tokio::test]
async fn every_scoped_route_needs_the_scope_the_protocol_gives_it() {
    let f = fixture().await;
    for route in ROUTES {
        let Some(scope) = route.scope else { continue };
        let token = cronium_server::mint_for(
            &f.auth,
            &f.stored,
            Duration::from_secs(600),
            Some(Scopes::all().iter().filter(|s| *s != scope).collect()),
        )
        .expect("mint");
        let path = route
            .path
            .replace("{key}", "k")
            .replace("{id}", &f.execution);
        let method = Method::from_bytes(route.method.as_bytes()).expect("method");
        let auth = format!("Bearer {token}");
        let a = f
            .send_with(
                method,
                &path,
                false,
                Some("{}"),
                &[("authorization", auth.as_str())],
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{} {path}: {}",
            route.method,
            a.text
        );
        let code = if path.starts_with("/v1/") {
            &a.json["error"]["code"]
        } else {
            &a.json["code"]
        };
        assert_eq!(
            code,
            ErrorCode::ScopeInsufficient.as_str(),
            "{} {path}",
            route.method
        );
    }
}

/// A watch opened right after a write must not replay that write when the change-log poller
/// sees it again: only changes after the request are sent (issue 18, item 3).
#[tokio::test]
async fn watch_skips_the_write_made_just_before_it() {
    let f = fixture().await;
    // Let the poller take its starting point, so it would replay the first write below.
    tokio::time::sleep(cronium_server::state::POLL_INTERVAL * 2).await;
    let a = f
        .send(Method::PUT, "/v1/variables/w", true, Some(r#"{"value":1}"#))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let req = Request::builder()
        .method(Method::GET)
        .uri("/v1/variables/w/watch")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.token))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = f.app.handle(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // Past a poll of the change log, then the write that the watch is for.
    tokio::time::sleep(cronium_server::state::POLL_INTERVAL * 2).await;
    let a = f
        .send(Method::PUT, "/v1/variables/w", true, Some(r#"{"value":2}"#))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let mut seen = String::new();
    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Ok(data) = frame.into_data() {
                seen.push_str(std::str::from_utf8(&data).expect("UTF-8"));
            }
            if let Some(line) = seen.lines().find(|l| l.starts_with("data: ")) {
                return line.to_owned();
            }
        }
    })
    .await
    .expect("an event within 5 s");
    let change: Value = serde_json::from_str(&event["data: ".len()..]).expect("JSON event");
    assert_eq!(change["value"], json!(2), "first event: {event}");
    assert_eq!(change["version"], json!(2), "first event: {event}");
}

/// The tool schemas in `openapi.json` are the registry's, the one the sidecar checks params
/// against: regenerate them (`cronium tools schema`) when a tool changes.
#[tokio::test]
async fn openapi_has_the_registry_tool_schemas() {
    let f = fixture().await;
    let doc = f.send(Method::GET, "/openapi.json", false, None).await.json;
    let op = &doc["paths"]["/v1/tool-actions/execute"]["post"];
    assert_eq!(
        op["x-cronium-tools"],
        cronium_tools::registry::all_json(),
        "openapi.json's x-cronium-tools differs from the registry: run scripts/update-openapi-tools.py"
    );
    let tools = &doc["components"]["schemas"]["ToolActionRequest"]["properties"]["tool"]["enum"];
    let ids: Vec<&str> = cronium_tools::Tool::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(tools, &json!(ids));
    // Every action's params schema is one of the request's alternatives.
    let alternatives = doc["components"]["schemas"]["ToolActionRequest"]["properties"]["params"]
        ["anyOf"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(alternatives, cronium_tools::Action::ALL.len());
}

/// A finish the change log reports drops the execution from the cache and is remembered:
/// even an entry read from the store just before the finish (and cached just after it, a
/// race with the poller) answers `410 execution_finished`.
#[tokio::test]
async fn a_published_finish_beats_a_stale_cached_entry() {
    let f = fixture().await;
    let state = f.app.state();
    assert_eq!(
        f.send(Method::GET, "/v1/input", true, None).await.status,
        StatusCode::OK
    );
    let stale = state.execution(&f.execution).await.expect("cached entry");
    assert!(!state.is_finished(&stale));

    let seq = state.store.last_change_seq().await.expect("seq");
    state
        .store
        .finish_execution(&f.execution, "succeeded", Some(0))
        .await
        .expect("finish");
    // What the poller does with the change log's new entry.
    for change in state.store.changes_since(seq, 10).await.expect("changes") {
        state.publish(change);
    }
    assert!(
        state.is_finished(&stale),
        "the stale entry is known finished"
    );
    let a = f.send(Method::GET, "/v1/input", true, None).await;
    assert_eq!(a.status, StatusCode::GONE, "{}", a.text);
    assert_eq!(a.json["error"]["code"], "execution_finished");
    let a = f
        .send(
            Method::GET,
            &format!("/executions/{}/input", f.execution),
            true,
            None,
        )
        .await;
    assert_eq!(
        (a.status, &a.json["code"]),
        (StatusCode::GONE, &json!("execution_finished"))
    );
}
