//! Issue 14, the orchestrator's side: the admin API on its own socket with its own secret
//! (refused both ways with script tokens), every admin route with its bad input, idempotent
//! create, finish → 410 on every script route, expiry; and a per-job sidecar (`serve
//! --execution --exit-on-finish`) that keeps its execution over a restart and exits once
//! it is finished.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::finish::script_routes;
use crate::harness::*;

const ADMIN_SECRET: &str = "admin-test-secret-0123456789abcdef";

fn admin_sidecar() -> Sidecar {
    admin_sidecar_with(&[])
}

fn admin_sidecar_with(env: &[(&str, &str)]) -> Sidecar {
    let mut env = env.to_vec();
    env.push(("CRONIUM_ADMIN_SECRET", ADMIN_SECRET));
    let s = Sidecar::start_with(&env);
    wait_for_socket(&admin_socket(&s.dir));
    s
}

fn admin_socket(state_dir: &Path) -> PathBuf {
    state_dir.join("admin").join("admin.sock")
}

/// The admin socket is bound once the store is open, just after the script socket.
fn wait_for_socket(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(path).is_err() {
        assert!(
            Instant::now() < deadline,
            "{} never listened",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One admin request on `socket` with `auth` as the bearer (none when `None`).
fn areq(socket: &Path, method: &str, path: &str, auth: Option<&str>, body: Option<&str>) -> Resp {
    let bearer = auth.map(|a| format!("Bearer {a}"));
    let mut headers = vec![];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let s = UnixStream::connect(socket).expect("connect admin socket");
    http(s, method, path, &headers, body.map(str::as_bytes))
}

/// An authenticated admin request on the sidecar's admin socket.
fn admin(s: &Sidecar, method: &str, path: &str, body: Option<&str>) -> Resp {
    areq(
        &admin_socket(&s.dir),
        method,
        path,
        Some(ADMIN_SECRET),
        body,
    )
}

fn ok(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].clone()
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
fn the_admin_api_has_its_own_socket_and_credential_refused_both_ways() {
    let s = admin_sidecar();
    let sock = admin_socket(&s.dir);
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(sock.parent().expect("dir")), 0o700);
    // Not beside the script socket: mounting the script socket's directory into a
    // container does not hand out the admin socket.
    assert_ne!(sock.parent(), s.socket.parent());

    let e = s.create(&["--user", "ada"]);
    let list = "/admin/v1/executions";
    areq(&sock, "GET", list, None, None).expect_error(401, "admin_unauthorized");
    areq(&sock, "GET", list, Some("wrong-secret-wrong-secret"), None)
        .expect_error(401, "admin_unauthorized");
    areq(&sock, "GET", list, Some(&e.token), None).expect_error(403, "script_token_refused");
    // The admin secret on the script API: refused with its own code, not "malformed".
    s.req("GET", "/v1/input", Some(ADMIN_SECRET), None)
        .expect_error(403, "admin_credential_refused");
    let compat = s.req(
        "GET",
        &format!("/executions/{}/input", e.id),
        Some(ADMIN_SECRET),
        None,
    );
    assert_eq!(
        (compat.status, &compat.json()["code"]),
        (403, &json!("admin_credential_refused"))
    );
    // The admin routes are not on the script socket, whatever the credential.
    s.req("GET", list, Some(ADMIN_SECRET), None)
        .expect_error(404, "route_not_found");
    // The script token still works where it belongs.
    assert_eq!(s.req("GET", "/v1/input", Some(&e.token), None).status, 200);
    // Unknown path, wrong method (405 with Allow before the credential is looked at).
    admin(&s, "GET", "/admin/v1/nothing", None).expect_error(404, "route_not_found");
    let r = areq(&sock, "DELETE", list, None, None);
    r.expect_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    // The secret appears in no log line.
    assert!(!s.log().contains(ADMIN_SECRET));
    // Admin requests are counted in the sidecar's metrics, by admin route.
    let m = s.req("GET", "/metrics", None, None).text();
    assert!(
        m.contains(r#"cronium_requests_total{route="admin_executions",status="401"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"cronium_requests_total{route="admin_executions",status="403"} 1"#),
        "{m}"
    );
}

/// The admin listener has a connection cap of its own: whoever can reach the socket
/// (without the secret) cannot hold open connections without bound. Over the cap the
/// request is read and answered `503 overloaded`; once connections close, requests are
/// served again.
#[test]
fn the_admin_listener_caps_its_connections_and_answers_503_over_it() {
    let s = admin_sidecar();
    let sock = admin_socket(&s.dir);
    let cap = cronium_server::admin_api::ADMIN_MAX_CONNECTIONS;
    // A whole request first: by its end the connection of the start-up check (opened and
    // closed at once) has let go of its slot, which would otherwise free up mid-test.
    ok(&admin(&s, "GET", "/admin/v1/executions", None));
    let held: Vec<UnixStream> = (0..cap)
        .map(|_| UnixStream::connect(&sock).expect("connect"))
        .collect();
    // Accepted in order: by the time the next connection is, the cap is full.
    let r = admin(&s, "GET", "/admin/v1/executions", None);
    r.expect_error(503, "overloaded");
    assert_eq!(r.header("retry-after"), Some("1"));
    drop(held);
    eventually("an admin request served again", || {
        admin(&s, "GET", "/admin/v1/executions", None).status == 200
    });
}

#[test]
fn admin_routes_create_show_list_token_finish_stream_and_variables() {
    let s = admin_sidecar();
    let job = format!("job-{}", now());
    let spec = json!({
        "id": job, "user": "ada", "event": "nightly", "eventType": "python",
        "input": {"n": 7}, "context": {"region": "eu"}, "lifetime": "1h",
        "inputStream": [{"a": 1}, {"a": 2}],
    })
    .to_string();
    let created = ok(&admin(&s, "POST", "/admin/v1/executions", Some(&spec)));
    assert_eq!(created["id"], json!(job));
    assert_eq!(created["created"], json!(true));
    assert!(created["expiresAt"].as_i64().expect("expiresAt") > now());
    let token = created["token"].as_str().expect("token").to_owned();

    // The token is a working script token: input, context, input stream.
    let input = s.req("GET", "/v1/input", Some(&token), None);
    assert_eq!(input.json()["data"], json!({"n": 7}), "{}", input.text());
    assert_eq!(
        s.req("GET", "/v1/context", Some(&token), None).json()["data"]["region"],
        "eu"
    );
    let records = s.req("GET", "/v1/input/stream", Some(&token), None);
    assert_eq!(records.text().lines().count(), 2, "{}", records.text());

    // Idempotent: the same spec again is the same execution with a token that works; a
    // different spec is a conflict that changes nothing.
    let again = ok(&admin(&s, "POST", "/admin/v1/executions", Some(&spec)));
    assert_eq!(
        (&again["id"], &again["created"]),
        (&json!(job), &json!(false))
    );
    let t2 = again["token"].as_str().expect("token");
    assert_eq!(s.req("GET", "/v1/input", Some(t2), None).status, 200);
    let mut other: Value = serde_json::from_str(&spec).expect("spec");
    other["input"] = json!({"n": 8});
    let r = admin(&s, "POST", "/admin/v1/executions", Some(&other.to_string()));
    r.expect_error(409, "execution_conflict");
    assert!(r.json()["error"]["message"]
        .as_str()
        .expect("m")
        .contains("input"));

    // The script writes; show sees status, output, condition, streams, audit.
    assert_eq!(
        s.req(
            "PUT",
            "/v1/output",
            Some(&token),
            Some(r#"{"data":{"ok":true}}"#)
        )
        .status,
        200
    );
    assert_eq!(
        s.req(
            "PUT",
            "/v1/condition",
            Some(&token),
            Some(r#"{"condition":true}"#)
        )
        .status,
        200
    );
    let streamed = s.req(
        "POST",
        "/v1/output/stream",
        Some(&token),
        Some("{\"r\":1}\n{\"r\":2}\n{\"r\":3}\n"),
    );
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    let shown = ok(&admin(
        &s,
        "GET",
        &format!("/admin/v1/executions/{job}"),
        None,
    ));
    assert_eq!(shown["status"], "running");
    assert_eq!(shown["input"], json!({"n": 7}));
    assert_eq!(shown["output"], json!({"ok": true}));
    assert_eq!(shown["condition"], json!(true));
    assert_eq!(shown["inputStream"]["records"], json!(2));
    assert_eq!(shown["outputStream"]["records"], json!(3));
    assert!(
        shown["audit"].as_array().expect("audit").len() >= 2,
        "{shown}"
    );
    assert!(shown["startedAt"].is_string());
    assert_eq!(shown["outputTail"], json!([{"r": 1}, {"r": 2}, {"r": 3}]));
    assert_eq!(shown["audit"][0]["summary"], "set the output");
    // The same document as `cronium executions show --json` on the store, but for the
    // duration of a running execution, which grows between the two reads.
    let mut cli: Value =
        serde_json::from_str(&s.admin(&["executions", "show", &job, "--json"])).expect("json");
    let mut shown = shown.clone();
    for doc in [&mut cli, &mut shown] {
        assert!(
            doc["durationMs"].as_i64().is_some_and(|ms| ms >= 0),
            "{doc}"
        );
        doc["durationMs"] = Value::Null;
    }
    assert_eq!(cli, shown);
    let out = admin(
        &s,
        "GET",
        &format!("/admin/v1/executions/{job}/output/stream"),
        None,
    );
    assert_eq!(out.status, 200);
    assert_eq!(out.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(out.text(), "{\"r\":1}\n{\"r\":2}\n{\"r\":3}\n");

    // A minted token works; scopes are honoured; a bad scope is refused.
    let minted = ok(&admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{job}/token"),
        Some(r#"{"ttl":"5m","scopes":["input:read"]}"#),
    ));
    let narrow = minted["token"].as_str().expect("token");
    assert!(minted["expiresAt"].as_i64().expect("exp") <= now() + 301);
    assert_eq!(s.req("GET", "/v1/input", Some(narrow), None).status, 200);
    s.req("PUT", "/v1/output", Some(narrow), Some(r#"{"data":1}"#))
        .expect_error(403, "scope_insufficient");
    admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{job}/token"),
        Some(r#"{"scopes":["everything"]}"#),
    )
    .expect_error(400, "invalid_body");
    // An empty body mints with the defaults.
    ok(&admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{job}/token"),
        None,
    ));

    // List: filters and paging.
    for i in 0..3 {
        let spec = json!({"id": format!("{job}-b{i}"), "user": "bob"}).to_string();
        ok(&admin(&s, "POST", "/admin/v1/executions", Some(&spec)));
    }
    let bobs = ok(&admin(&s, "GET", "/admin/v1/executions?user=bob", None));
    assert_eq!(bobs["items"].as_array().expect("items").len(), 3);
    assert!(bobs["nextCursor"].is_null());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/admin/v1/executions?user=bob&limit=2&cursor={c}"),
            None => "/admin/v1/executions?user=bob&limit=2".to_owned(),
        };
        let page = ok(&admin(&s, "GET", &q, None));
        for item in page["items"].as_array().expect("items") {
            assert_eq!(item["userId"], "bob");
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..3).map(|i| format!("{job}-b{i}")).collect::<Vec<_>>()
    );
    let running = ok(&admin(
        &s,
        "GET",
        "/admin/v1/executions?status=running",
        None,
    ));
    let ids: Vec<&str> = running["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, vec![job.as_str()]);
    admin(&s, "GET", "/admin/v1/executions?status=sleeping", None)
        .expect_error(400, "invalid_body");
    admin(&s, "GET", "/admin/v1/executions?limit=0", None).expect_error(400, "invalid_body");
    admin(&s, "GET", "/admin/v1/executions?colour=red", None).expect_error(400, "invalid_body");

    // Variables of a user, seen by the user's scripts.
    let v = ok(&admin(
        &s,
        "PUT",
        "/admin/v1/users/ada/variables/greeting",
        Some(r#"{"value": {"text": "hi"}}"#),
    ));
    assert_eq!(v["version"], json!(1));
    let got = ok(&admin(
        &s,
        "GET",
        "/admin/v1/users/ada/variables/greeting",
        None,
    ));
    assert_eq!(got["value"], json!({"text": "hi"}));
    eventually("the script sees the admin's variable", || {
        let r = s.req("GET", "/v1/variables/greeting", Some(&token), None);
        r.status == 200 && r.json()["data"]["value"] == json!({"text": "hi"})
    });
    let keys = ok(&admin(&s, "GET", "/admin/v1/users/ada/variables", None));
    assert_eq!(keys["keys"], json!(["greeting"]));
    let gone = ok(&admin(
        &s,
        "DELETE",
        "/admin/v1/users/ada/variables/greeting",
        None,
    ));
    assert_eq!(gone["deleted"], json!(true));
    admin(&s, "GET", "/admin/v1/users/ada/variables/greeting", None)
        .expect_error(404, "variable_not_found");
    admin(&s, "GET", "/admin/v1/users/ada/variables/bad%20key", None)
        .expect_error(400, "invalid_key");
    admin(
        &s,
        "PUT",
        "/admin/v1/users/ada/variables/k",
        Some(r#"{"nope":1}"#),
    )
    .expect_error(400, "invalid_body");

    // Finish: the lifecycle in the answer; a second finish changes nothing.
    let fin = ok(&admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{job}/finish"),
        Some(r#"{"exitCode":3}"#),
    ));
    assert_eq!(
        (&fin["status"], &fin["outcome"], &fin["exitCode"]),
        (&json!("finished"), &json!("failed"), &json!(3))
    );
    admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{job}/finish"),
        Some(r#"{"status":"succeeded"}"#),
    )
    .expect_error(410, "execution_finished");
    admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{job}/token"),
        None,
    )
    .expect_error(410, "execution_finished");
    let shown = ok(&admin(
        &s,
        "GET",
        &format!("/admin/v1/executions/{job}"),
        None,
    ));
    assert_eq!(
        (&shown["status"], &shown["exitCode"]),
        (&json!("finished"), &json!(3))
    );
    // Re-creating a finished execution hands out no token.
    admin(&s, "POST", "/admin/v1/executions", Some(&spec)).expect_error(410, "execution_finished");
}

#[test]
fn admin_bad_input_answers_a_stable_code_and_writes_nothing() {
    let s = admin_sidecar();
    let create = |body: &str| admin(&s, "POST", "/admin/v1/executions", Some(body));
    create("{not json").expect_error(400, "invalid_json");
    create("[1]").expect_error(400, "invalid_body");
    create(r#"{"event":"no user"}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","bogus":1}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","id":"has space"}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","context":[1]}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","lifetime":"soon"}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","scopes":["root"]}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","attempt":1.5}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","attempt":0.0}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","lifetime":"0"}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","lifetime":"000s"}"#).expect_error(400, "invalid_body");
    create(r#"{"user":"u","lifetime":"1000000000s"}"#).expect_error(400, "invalid_body");
    let listed = ok(&admin(&s, "GET", "/admin/v1/executions", None));
    assert_eq!(
        listed["items"],
        json!([]),
        "a refused create wrote something"
    );

    for (method, path, body) in [
        ("GET", "/admin/v1/executions/nope", None),
        ("POST", "/admin/v1/executions/nope/finish", None),
        ("POST", "/admin/v1/executions/nope/token", None),
        ("GET", "/admin/v1/executions/nope/output/stream", None),
    ] {
        admin(&s, method, path, body).expect_error(404, "execution_not_found");
    }
    let e = s.create(&["--user", "ada"]);
    admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{}/finish", e.id),
        Some(r#"{"status":"exploded"}"#),
    )
    .expect_error(400, "invalid_body");
    admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{}/finish", e.id),
        Some(r#"{"exitCode":"three"}"#),
    )
    .expect_error(400, "invalid_body");
    admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{}/finish", e.id),
        Some(r#"{"exitCode":2.5}"#),
    )
    .expect_error(400, "invalid_body");
    let shown = ok(&admin(
        &s,
        "GET",
        &format!("/admin/v1/executions/{}", e.id),
        None,
    ));
    assert_eq!(
        shown["status"], "created",
        "a refused finish changed the execution"
    );
}

/// What openapi.json admits, the admin API takes: `null` for an optional field (as if
/// absent), whole numbers written with a fraction part, and leading zeros in a duration.
#[test]
fn admin_bodies_take_null_for_absent_and_whole_numbers_written_as_floats() {
    let s = admin_sidecar();
    let created = ok(&admin(
        &s,
        "POST",
        "/admin/v1/executions",
        Some(
            r#"{"user":"ada","id":"j-null","event":null,"jobId":null,"context":null,
                "inputStream":null,"scopes":null,"attempt":2.0,"lifetime":"0090s"}"#,
        ),
    ));
    assert_eq!(created["created"], true);
    let lifetime = created["executionExpiresAt"]
        .as_i64()
        .expect("executionExpiresAt")
        - now();
    assert!(
        (80..=91).contains(&lifetime),
        "lifetime \"0090s\" is 90 s, got {lifetime}"
    );
    // The same spec written plainly is the same execution: 2.0 was taken as 2, null as
    // absent; another attempt is another spec.
    let again = ok(&admin(
        &s,
        "POST",
        "/admin/v1/executions",
        Some(r#"{"user":"ada","id":"j-null","attempt":2,"lifetime":90}"#),
    ));
    assert_eq!(again["created"], false, "{again}");
    admin(
        &s,
        "POST",
        "/admin/v1/executions",
        Some(r#"{"user":"ada","id":"j-null","attempt":3,"lifetime":90}"#),
    )
    .expect_error(409, "execution_conflict");
    let tok = ok(&admin(
        &s,
        "POST",
        "/admin/v1/executions/j-null/token",
        Some(r#"{"ttl":null,"scopes":null}"#),
    ));
    assert!(tok["token"].as_str().is_some_and(|t| !t.is_empty()));
    let fin = ok(&admin(
        &s,
        "POST",
        "/admin/v1/executions/j-null/finish",
        Some(r#"{"status":null,"exitCode":-3.0}"#),
    ));
    assert_eq!(fin["exitCode"], -3);
    assert_eq!(
        fin["outcome"], "failed",
        "a non-zero exit code without a status"
    );
}

#[test]
fn an_admin_finish_refuses_every_script_route_and_expiry_is_reported() {
    let s = admin_sidecar_with(&[("CRONIUM_TOKEN_LEEWAY", "0s")]);
    let created = ok(&admin(
        &s,
        "POST",
        "/admin/v1/executions",
        Some(r#"{"user":"ada","input":1}"#),
    ));
    let (id, token) = (
        created["id"].as_str().expect("id").to_owned(),
        created["token"].as_str().expect("token").to_owned(),
    );
    assert_eq!(s.req("GET", "/v1/input", Some(&token), None).status, 200);
    ok(&admin(
        &s,
        "POST",
        &format!("/admin/v1/executions/{id}/finish"),
        None,
    ));
    // Refused at once by the sidecar that finished it (no wait for the change log).
    s.req("GET", "/v1/input", Some(&token), None)
        .expect_error(410, "execution_finished");
    for (method, path, body) in script_routes(&id) {
        let r = s.req(method, &path, Some(&token), body);
        assert_eq!(r.status, 410, "{method} {path}: {}", r.text());
        // v1 routes answer {"error": {"code"}}, the compatibility routes {"code"}.
        let doc = r.json();
        assert_eq!(
            doc.pointer("/error/code").or_else(|| doc.get("code")),
            Some(&json!("execution_finished")),
            "{method} {path}: {}",
            r.text()
        );
    }

    // A lifetime of one second: expired for the script API and in the admin's view.
    let short = ok(&admin(
        &s,
        "POST",
        "/admin/v1/executions",
        Some(r#"{"user":"ada","lifetime":1}"#),
    ));
    let sid = short["id"].as_str().expect("id").to_owned();
    let st = short["token"].as_str().expect("token").to_owned();
    std::thread::sleep(Duration::from_millis(2100));
    s.req("GET", "/v1/input", Some(&st), None)
        .expect_error(401, "token_expired");
    let shown = ok(&admin(
        &s,
        "GET",
        &format!("/admin/v1/executions/{sid}"),
        None,
    ));
    assert_eq!(shown["status"], "expired");
    let expired = ok(&admin(
        &s,
        "GET",
        "/admin/v1/executions?status=expired",
        None,
    ));
    assert_eq!(expired["items"][0]["id"], json!(sid));
    assert_eq!(expired["items"].as_array().map(Vec::len), Some(1));
}

/// A per-job sidecar: `serve --execution SPEC --exit-on-finish` in `dir`.
fn per_job(dir: &Path, spec: &Path, exit_on_finish: bool) -> Child {
    let mut c = cronium();
    c.arg("--state-dir")
        .arg(dir)
        .arg("serve")
        .arg("--socket")
        .arg(dir.join("run/rt.sock"))
        .arg("--execution")
        .arg(spec)
        .env("CRONIUM_ADMIN_SECRET", ADMIN_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if exit_on_finish {
        c.arg("--exit-on-finish");
    }
    let child = c.spawn().expect("spawn serve");
    wait_for_socket(&admin_socket(dir));
    child
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_per_job_sidecar_registers_its_execution_keeps_it_over_a_restart_and_exits_on_finish() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let spec = dir.join("job.json");
    std::fs::write(
        &spec,
        r#"{"id":"job-42","user":"ada","event":"report","input":{"n":6},"context":{"team":"x"},"lifetime":"10m"}"#,
    )
    .expect("spec");
    let socket = admin_socket(dir);
    let mut first = per_job(dir, &spec, false);
    let token = ok(&areq(
        &socket,
        "POST",
        "/admin/v1/executions/job-42/token",
        Some(ADMIN_SECRET),
        None,
    ))["token"]
        .as_str()
        .expect("token")
        .to_owned();
    // A script of the job, through the client library on the runtime socket.
    let client = cronium_client::BlockingClient::new(
        cronium_client::Config::builder()
            .socket(dir.join("run/rt.sock"))
            .token(&token)
            .build()
            .expect("config"),
    )
    .expect("client");
    let input: Value = client.input().expect("input");
    assert_eq!(input, json!({"n": 6}));
    client.output(&json!({"done": 36})).expect("output");
    // Restart: the same spec finds the same execution (its output kept), printing no token.
    let _ = std::process::Command::new("kill")
        .arg(first.id().to_string())
        .status();
    let status = wait_exit(&mut first, Duration::from_secs(15)).expect("first exits");
    assert!(status.success(), "{status}");
    let out = first.wait_with_output().expect("output");
    assert!(
        out.stdout.is_empty(),
        "serve printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        !logs.contains(&token) && !logs.contains(ADMIN_SECRET),
        "{logs}"
    );

    let mut second = per_job(dir, &spec, true);
    let shown = ok(&areq(
        &socket,
        "GET",
        "/admin/v1/executions/job-42",
        Some(ADMIN_SECRET),
        None,
    ));
    assert_eq!(shown["output"], json!({"done": 36}));
    assert_eq!(shown["status"], "running");
    let input: Value = client.input().expect("the token still works");
    assert_eq!(input, json!({"n": 6}));
    assert!(
        second.try_wait().expect("wait").is_none(),
        "exited before the finish"
    );
    ok(&areq(
        &socket,
        "POST",
        "/admin/v1/executions/job-42/finish",
        Some(ADMIN_SECRET),
        Some(r#"{"exitCode":0}"#),
    ));
    let status = wait_exit(&mut second, Duration::from_secs(15)).expect("exits on finish");
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "the admin socket was left behind");

    // A sidecar whose execution is finished by `cronium executions finish` on the store.
    std::fs::write(&spec, r#"{"id":"job-43","user":"ada"}"#).expect("spec");
    let mut third = per_job(dir, &spec, true);
    let out = cronium()
        .arg("--state-dir")
        .arg(dir)
        .args(["executions", "finish", "job-43", "--exit-code", "0"])
        .output()
        .expect("finish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = wait_exit(&mut third, Duration::from_secs(15)).expect("exits on finish");
    assert!(status.success(), "{status}");
}

#[test]
fn a_bad_execution_spec_is_one_line_and_exit_2_with_nothing_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let cases: [(&str, &str); 5] = [
        ("{not json", "not an execution spec"),
        (r#"{"user":"ada"}"#, "has no id"),
        (r#"{"id":"j","user":"ada","lifetime":"soon"}"#, "lifetime"),
        (r#"{"id":"j","user":"ada","colour":"red"}"#, "unknown field"),
        (r#"{"id":"a b","user":"ada"}"#, "must be 1 to 256"),
    ];
    for (text, says) in cases {
        let spec = dir.join("bad.json");
        std::fs::write(&spec, text).expect("spec");
        let out = cronium()
            .arg("--state-dir")
            .arg(dir)
            .arg("serve")
            .arg("--socket")
            .arg(dir.join("run/rt.sock"))
            .arg("--execution")
            .arg(&spec)
            .output()
            .expect("serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{text}: {err}");
        assert!(!dir.join("run/rt.sock").exists());
    }
    assert!(
        !dir.join("cronium.db").exists(),
        "a refused spec opened the store"
    );
    // A spec that conflicts with the stored execution of its id: exit 2, serve stops.
    let spec = dir.join("job.json");
    std::fs::write(&spec, r#"{"id":"job-1","user":"ada"}"#).expect("spec");
    let mut first = per_job(dir, &spec, false);
    let _ = std::process::Command::new("kill")
        .arg(first.id().to_string())
        .status();
    wait_exit(&mut first, Duration::from_secs(15)).expect("exits");
    std::fs::write(&spec, r#"{"id":"job-1","user":"bob"}"#).expect("spec");
    let out = cronium()
        .arg("--state-dir")
        .arg(dir)
        .arg("serve")
        .arg("--socket")
        .arg(dir.join("run/rt.sock"))
        .arg("--execution")
        .arg(&spec)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("execution_conflict"), "{err}");
    // An admin socket or address without a secret: exit 2 before anything is bound.
    let out = cronium()
        .arg("--state-dir")
        .arg(dir)
        .arg("serve")
        .arg("--socket")
        .arg(dir.join("run/rt.sock"))
        .arg("--admin-socket")
        .arg(dir.join("adm/a.sock"))
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin secret"));
    // An unusable admin socket path: exit 2, the spec's execution not registered.
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, "x").expect("file");
    std::fs::write(&spec, r#"{"id":"job-2","user":"ada"}"#).expect("spec");
    let out = cronium()
        .arg("--state-dir")
        .arg(dir)
        .arg("serve")
        .arg("--socket")
        .arg(dir.join("run/rt.sock"))
        .arg("--admin-socket")
        .arg(blocker.join("a.sock"))
        .arg("--execution")
        .arg(&spec)
        .env("CRONIUM_ADMIN_SECRET", ADMIN_SECRET)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot serve the admin API"), "{err}");
    assert!(
        !dir.join("run/rt.sock").exists(),
        "the script socket was left behind"
    );
    let listed = cronium()
        .arg("--state-dir")
        .arg(dir)
        .args(["executions", "list"])
        .output()
        .expect("list");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(!listed.contains("job-2"), "{listed}");
}

/// `cronium ARGS` on the sidecar's state dir, with the admin secret in the environment.
fn cli(s: &Sidecar, args: &[&str]) -> std::process::Output {
    s.command()
        .env("CRONIUM_ADMIN_SECRET", ADMIN_SECRET)
        .args(args)
        .output()
        .expect("run cronium")
}

fn stdout_ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf8")
}

#[test]
fn the_cli_acts_through_the_admin_api_with_the_same_output() {
    let s = admin_sidecar();
    let sock = admin_socket(&s.dir);
    let sock = sock.to_str().expect("path");
    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--admin-socket", sock]);
        cli(&s, &all)
    };
    let stream = s.dir.join("in.ndjson");
    std::fs::write(&stream, "{\"a\":1}\n\n{\"a\":2}\n").expect("stream");
    let created: Value = serde_json::from_str(&stdout_ok(&remote(&[
        "executions",
        "create",
        "--json",
        "--id",
        "cli-1",
        "--user",
        "ada",
        "--event",
        "e",
        "--input",
        r#"{"n": 1}"#,
        "--context",
        r#"{"k": "v"}"#,
        "--input-stream",
        stream.to_str().expect("path"),
    ])))
    .expect("created json");
    assert_eq!(created["id"], "cli-1");
    assert_eq!(created["userId"], "ada");
    let token = created["token"].as_str().expect("token").to_owned();
    assert_eq!(
        s.req("GET", "/v1/input", Some(&token), None).json()["data"],
        json!({"n": 1})
    );
    let records = s.req("GET", "/v1/input/stream", Some(&token), None);
    assert_eq!(records.text(), "{\"a\":1}\n{\"a\":2}\n");
    s.req(
        "POST",
        "/v1/output/stream",
        Some(&token),
        Some("{\"o\":1}\n"),
    );
    s.req("PUT", "/v1/output", Some(&token), Some(r#"{"data":[1,2]}"#));

    // Show, list and the output stream print the same through the API as on the store.
    for args in [
        &["executions", "show", "cli-1"][..],
        &["executions", "show", "cli-1", "--json"],
        &["executions", "list"],
        &["executions", "list", "--json", "--limit", "5"],
        &["executions", "output-stream", "cli-1"],
    ] {
        assert_eq!(
            steady(&stdout_ok(&remote(args))),
            steady(&stdout_ok(&cli(&s, args))),
            "{args:?}"
        );
    }
    assert!(stdout_ok(&remote(&["executions", "show", "cli-1"]))
        .contains("status         running since"));

    // Variables: set through the API, read on the store, and back.
    assert_eq!(
        stdout_ok(&remote(&[
            "variables",
            "set",
            "--user",
            "ada",
            "k",
            r#"{"x": 1}"#
        ])),
        "k = {\"x\":1} (version 1)\n"
    );
    for args in [
        &["variables", "get", "--user", "ada", "k"][..],
        &["variables", "list", "--user", "ada"],
    ] {
        assert_eq!(
            stdout_ok(&remote(args)),
            stdout_ok(&cli(&s, args)),
            "{args:?}"
        );
    }
    assert_eq!(
        stdout_ok(&remote(&["variables", "delete", "--user", "ada", "k"])),
        "deleted\n"
    );
    assert_eq!(
        stdout_ok(&remote(&["variables", "delete", "--user", "ada", "k"])),
        "not found\n"
    );
    let missing = remote(&["variables", "get", "--user", "ada", "k"]);
    let store_missing = cli(&s, &["variables", "get", "--user", "ada", "k"]);
    assert_eq!(missing.status.code(), store_missing.status.code());
    assert_eq!(missing.stderr, store_missing.stderr);

    // A minted token works.
    let minted = stdout_ok(&remote(&[
        "token",
        "mint",
        "--execution",
        "cli-1",
        "--ttl",
        "5m",
    ]));
    assert_eq!(
        s.req("GET", "/v1/input", Some(minted.trim()), None).status,
        200
    );

    // Finish: the same line as on the store; unknown id and finishing twice exit 2.
    let done = stdout_ok(&remote(&[
        "executions",
        "finish",
        "cli-1",
        "--exit-code",
        "4",
    ]));
    assert!(
        done.starts_with("execution cli-1 finished (failed, exit code 4) at "),
        "{done}"
    );
    for args in [
        &["executions", "finish", "cli-1"][..],
        &["executions", "finish", "no-such-job"],
    ] {
        let out = remote(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        let store = cli(&s, args);
        assert_eq!(store.status.code(), Some(2));
    }

    // Bad input: nothing is sent; no secret, a wrong one, an unusable socket.
    let out = remote(&["executions", "create", "--user", "ada", "--context", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    let out = s
        .command()
        .args(["executions", "list", "--admin-socket", sock])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CRONIUM_ADMIN_SECRET"), "{err}");
    let out = s
        .command()
        .env("CRONIUM_ADMIN_SECRET", "a-wrong-secret-of-some-length")
        .args(["executions", "list", "--admin-socket", sock])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("admin credential is wrong"), "{err}");
    assert!(!err.contains("a-wrong-secret"), "{err}");
    let nowhere = s.dir.join("nowhere.sock");
    let out = cli(
        &s,
        &[
            "executions",
            "list",
            "--admin-socket",
            nowhere.to_str().expect("p"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the admin API"), "{err}");
    let out = cli(&s, &["executions", "list", "--admin-url", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_loose_admin_directory_is_tightened_and_loopback_tcp_serves_the_same_api() {
    let tmp = tempfile::tempdir().expect("tmp");
    let loose = tmp.path().join("adm");
    std::fs::create_dir(&loose).expect("mkdir");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let sock = loose.join("a.sock");
    let addr = free_port();
    let s = Sidecar::start_with(&[
        ("CRONIUM_ADMIN_SECRET", ADMIN_SECRET),
        ("CRONIUM_ADMIN_SOCKET", sock.to_str().expect("path")),
        ("CRONIUM_ADMIN_LISTEN", &addr.to_string()),
    ]);
    wait_for_socket(&sock);
    let mode = std::fs::metadata(&loose)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the loose directory was not made private");
    assert!(s.log().contains("made it private"), "{}", s.log());
    // Loopback TCP: the same routes, the same credential rules.
    let r = http(
        std::net::TcpStream::connect(addr).expect("connect"),
        "GET",
        "/admin/v1/executions",
        &[],
        None,
    );
    r.expect_error(401, "admin_unauthorized");
    let url = format!("http://{addr}");
    let out = cli(
        &s,
        &[
            "executions",
            "create",
            "--user",
            "ada",
            "--id",
            "tcp-1",
            "--admin-url",
            &url,
        ],
    );
    assert!(stdout_ok(&out).starts_with("execution tcp-1\ntoken     "));
    assert_eq!(
        stdout_ok(&cli(
            &s,
            &["executions", "show", "tcp-1", "--admin-url", &url]
        )),
        stdout_ok(&cli(&s, &["executions", "show", "tcp-1"]))
    );
    // A non-loopback address is refused at start, one line, exit 2.
    let out = cronium()
        .arg("--state-dir")
        .arg(tmp.path())
        .args(["serve", "--admin-listen", "0.0.0.0:9"])
        .env("CRONIUM_ADMIN_SECRET", ADMIN_SECRET)
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not loopback"));
    // Nor can the admin socket sit beside the script socket (scripts mount that directory).
    let out = cronium()
        .arg("--state-dir")
        .arg(tmp.path())
        .arg("serve")
        .arg("--socket")
        .arg(tmp.path().join("run/rt.sock"))
        .arg("--admin-socket")
        .arg(tmp.path().join("run/admin.sock"))
        .env("CRONIUM_ADMIN_SECRET", ADMIN_SECRET)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("script socket's directory"), "{err}");
}

#[test]
fn concurrent_creates_of_one_job_make_one_execution() {
    let s = admin_sidecar();
    let spec = r#"{"id":"race-1","user":"ada","input":{"n":1}}"#;
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| ok(&admin(&s, "POST", "/admin/v1/executions", Some(spec)))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created = answers
        .iter()
        .filter(|a| a["created"] == json!(true))
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for a in &answers {
        assert_eq!(a["id"], "race-1");
        let t = a["token"].as_str().expect("token");
        assert_eq!(s.req("GET", "/v1/input", Some(t), None).status, 200);
    }
    let listed = ok(&admin(&s, "GET", "/admin/v1/executions", None));
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}

/// A command's output without the duration of a running execution, which grows between
/// two reads of the same execution.
fn steady(out: &str) -> String {
    if let Ok(mut doc) = serde_json::from_str::<Value>(out) {
        if doc.get("durationMs").is_some() {
            doc["durationMs"] = Value::Null;
        }
        return doc.to_string();
    }
    out.lines()
        .filter(|l| !l.starts_with("duration "))
        .collect::<Vec<_>>()
        .join("\n")
}
