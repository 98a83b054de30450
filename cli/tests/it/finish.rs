//! Issue 14, the execution lifecycle: `created` → `running` on the first request →
//! `finished` by `cronium executions finish`; from then on every route, the compatibility
//! routes too, answers the execution's tokens `410 execution_finished`, on every sidecar of
//! the store, and a watch it holds ends. Finishing twice is a clear error with a stable code.

use std::time::{Duration, Instant};

use cronium_client::{BlockingClient, Config, ErrorKind};
use serde_json::{json, Value};

use crate::harness::*;

/// Every script route with a body that would succeed for a live execution.
pub(crate) fn script_routes(id: &str) -> Vec<(&'static str, String, Option<&'static str>)> {
    vec![
        ("GET", "/v1/input".into(), None),
        ("GET", "/v1/input/stream".into(), None),
        ("GET", "/v1/output".into(), None),
        ("PUT", "/v1/output".into(), Some(r#"{"data":1}"#)),
        ("POST", "/v1/output/stream".into(), Some("{}\n")),
        ("GET", "/v1/variables".into(), None),
        ("GET", "/v1/variables/k".into(), None),
        ("PUT", "/v1/variables/k".into(), Some(r#"{"value":1}"#)),
        ("DELETE", "/v1/variables/k".into(), None),
        ("GET", "/v1/variables/k/watch".into(), None),
        ("GET", "/v1/condition".into(), None),
        ("PUT", "/v1/condition".into(), Some(r#"{"condition":true}"#)),
        ("GET", "/v1/context".into(), None),
        ("POST", "/v1/token/refresh".into(), None),
        (
            "POST",
            "/v1/tool-actions/execute".into(),
            Some(r#"{"tool":"slack","action":"send","params":{}}"#),
        ),
        ("GET", format!("/executions/{id}/input"), None),
        (
            "POST",
            format!("/executions/{id}/output"),
            Some(r#"{"data":1}"#),
        ),
        ("GET", format!("/executions/{id}/variables/k"), None),
        (
            "PUT",
            format!("/executions/{id}/variables/k"),
            Some(r#"{"value":1}"#),
        ),
        (
            "POST",
            format!("/executions/{id}/condition"),
            Some(r#"{"condition":true}"#),
        ),
        ("GET", format!("/executions/{id}/context"), None),
        (
            "POST",
            "/tool-actions/execute".into(),
            Some(r#"{"tool":"slack","action":"send","params":{}}"#),
        ),
    ]
}

fn show(s: &Sidecar, id: &str) -> Value {
    serde_json::from_str(&s.admin(&["executions", "show", id, "--json"])).expect("show json")
}

/// Waits until `f` holds (the change-log poller runs every 200 ms).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn finish_refuses_the_tokens_everywhere_and_ends_the_watch() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "ada", "--input", "7"]);
    let other = s.create(&["--user", "ada"]);
    let t = Some(e.token.as_str());
    assert_eq!(show(&s, &e.id)["status"], "created");
    assert_eq!(s.req("GET", "/v1/input", t, None).status, 200);
    let shown = show(&s, &e.id);
    assert_eq!(shown["status"], "running", "{shown}");
    assert!(shown["startedAt"].is_string(), "{shown}");
    assert!(shown["finishedAt"].is_null(), "{shown}");

    // A watch through the real client, open before the finish.
    let client = BlockingClient::new(
        Config::builder()
            .socket(&s.socket)
            .token(&e.token)
            .build()
            .expect("config"),
    )
    .expect("client");
    let mut watch = client.watch_variable::<Value>("k").expect("watch");

    let out = s.admin(&["executions", "finish", &e.id, "--exit-code", "3"]);
    assert!(
        out.contains(&format!(
            "execution {} finished (failed, exit code 3) at ",
            e.id
        )),
        "{out}"
    );
    eventually("the finish reaching the sidecar", || {
        s.req("GET", "/v1/input", t, None).status == 410
    });
    for (method, path, body) in script_routes(&e.id) {
        let r = s.req(method, &path, t, body);
        assert_eq!(r.status, 410, "{method} {path}: {}", r.text());
        let doc = r.json();
        assert_eq!(
            doc.pointer("/error/code").or_else(|| doc.get("code")),
            Some(&json!("execution_finished")),
            "{method} {path}: {}",
            r.text()
        );
        assert!(r.text().contains("is finished"), "{}", r.text());
    }
    // No new token is minted for it; one signed elsewhere is refused, over TCP as well.
    let out = s
        .command()
        .args(["token", "mint", "--execution", &e.id])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("execution_finished"));
    let fresh = hs_token(&claims(&e), None);
    let r = s.request_tcp(
        "GET",
        "/v1/input",
        &[("Authorization", &format!("Bearer {fresh}"))],
        None,
    );
    assert_eq!(r.status, 410, "{}", r.text());

    // The watch ended: the client's reconnect is refused for good with the same code.
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match watch.next_timeout(Duration::from_millis(500)) {
            Ok(None) => assert!(Instant::now() < deadline, "the watch never ended"),
            Ok(Some(change)) => panic!("no change was made: {:?}", change.key),
            Err(e) => break e,
        }
    };
    assert_eq!(
        (err.kind(), err.code(), err.status()),
        (ErrorKind::Auth, "execution_finished", Some(410))
    );
    let err = client.input::<Value>().expect_err("finished");
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Auth, "execution_finished")
    );

    // Another execution of the same user is untouched.
    let r = s.req("GET", "/v1/input", Some(&other.token), None);
    assert_eq!(r.status, 200, "{}", r.text());

    let shown = show(&s, &e.id);
    assert_eq!(
        (&shown["status"], &shown["outcome"], &shown["exitCode"]),
        (&json!("finished"), &json!("failed"), &json!(3)),
        "{shown}"
    );
    let finished_at = shown["finishedAt"].as_str().expect("finishedAt").to_owned();
    let text = s.admin(&["executions", "show", &e.id]);
    assert!(
        text.contains(&format!(
            "status         finished (failed, exit code 3) at {finished_at}"
        )),
        "{text}"
    );

    // Finishing twice: exit 2, one line with the stable code; nothing changes.
    let out = s
        .command()
        .args(["executions", "finish", &e.id, "--status", "succeeded"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("finished already") && err.contains("execution_finished"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let again = show(&s, &e.id);
    assert_eq!(
        (&again["outcome"], &again["finishedAt"]),
        (&json!("failed"), &json!(finished_at))
    );

    // Bad input: an unknown status (exit 2), an unknown execution (exit 2); nothing written.
    let out = s
        .command()
        .args(["executions", "finish", &other.id, "--status", "exploded"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("succeeded, failed, cancelled, timed_out")
    );
    assert_eq!(show(&s, &other.id)["status"], "running");
    let out = s
        .command()
        .args(["executions", "finish", "no-such-execution"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no execution no-such-execution"));

    // --status and --json.
    let out = s.admin(&[
        "executions",
        "finish",
        &other.id,
        "--status",
        "cancelled",
        "--json",
    ]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&doc["status"], &doc["outcome"], &doc["exitCode"]),
        (&json!("finished"), &json!("cancelled"), &Value::Null),
        "{doc}"
    );
}

/// A second sidecar on the same store learns of the finish through the change log, even
/// with the execution in its cache.
#[test]
fn a_finish_reaches_every_sidecar_on_the_store() {
    let a = Sidecar::start();
    let b = Sidecar::start_in(&a.dir, "b.sock", &[]);
    let e = a.create(&["--user", "ada"]);
    let t = Some(e.token.as_str());
    for s in [&a, &b] {
        assert_eq!(s.req("GET", "/v1/context", t, None).status, 200);
    }
    a.admin(&["executions", "finish", &e.id]);
    for s in [&a, &b] {
        eventually("the finish reaching both sidecars", || {
            s.req("GET", "/v1/context", t, None).status == 410
        });
        let r = s.req("GET", &format!("/executions/{}/context", e.id), t, None);
        assert_eq!(r.status, 410, "{}", r.text());
        assert_eq!(r.json()["code"], "execution_finished", "{}", r.text());
    }
    assert_eq!(show(&a, &e.id)["outcome"], "succeeded");
}

/// Past its maximum lifetime an execution is `expired`: a token that would still be valid
/// (an orchestrator's, with its own 2 h `exp`) is refused `401 token_expired`.
#[test]
fn an_execution_expires_after_its_maximum_lifetime() {
    let s = Sidecar::start_with(&[("CRONIUM_TOKEN_LEEWAY", "0s")]);
    let e = s.create(&["--user", "ada", "--ttl", "1s"]);
    let mut c = claims(&e);
    c["exp"] = json!(now() + 7200);
    let long = hs_token(&c, None);
    let expires_at = show(&s, &e.id)["expiresAt"].as_i64().expect("expiresAt");
    while now() < expires_at {
        std::thread::sleep(Duration::from_millis(50));
    }
    s.req("GET", "/v1/input", Some(&long), None)
        .expect_error(401, "token_expired");
    let shown = show(&s, &e.id);
    assert_eq!(shown["status"], "expired", "{shown}");
    let listed: Value =
        serde_json::from_str(&s.admin(&["executions", "list", "--json"])).expect("list json");
    assert_eq!(listed[0]["status"], "expired", "{listed}");
    assert!(s
        .admin(&["executions", "list"])
        .contains("  expired  user=ada"));
}
