//! The token matrix: every way a token can be wrong gets 401/403 with its own code.

use crate::harness::*;
use base64::Engine;
use serde_json::json;

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn token_matrix() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u", "--input", "7"]);
    let get = |token: &str| s.req("GET", "/v1/input", Some(token), None);

    // Valid tokens: minted by the sidecar, hand-made HS256, EdDSA under its kid.
    assert_eq!(get(&e.token).status, 200);
    assert_eq!(get(&hs_token(&claims(&e), None)).status, 200);
    let ed_key = jsonwebtoken::EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).expect("ed key");
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = Some("ed".into());
    let ed = jsonwebtoken::encode(&h, &claims(&e), &ed_key).expect("ed token");
    assert_eq!(get(&ed).status, 200, "{}", get(&ed).text());

    // Missing or not a bearer token.
    s.req("GET", "/v1/input", None, None)
        .expect_error(401, "token_missing");
    let r = s.request("GET", "/v1/input", &[("Authorization", "Basic dTpw")], None);
    assert_eq!(r.status, 401);
    // Malformed.
    for bad in [
        "abc",
        "a.b.c",
        "a.b",
        &format!("{}.{}.", b64(&json!({"alg":"HS256"})), "!!!"),
    ] {
        let r = get(bad);
        assert_eq!(r.status, 401, "{bad}: {}", r.text());
        assert!(r.code().starts_with("token_"), "{}", r.code());
    }
    // Claims missing.
    let mut c = claims(&e);
    c.as_object_mut().expect("obj").remove("executionId");
    get(&hs_token(&c, None)).expect_error(401, "token_malformed");
    // Bad signature.
    // The signature's first character: every bit of it is data (the last one carries
    // padding bits, so changing it can make the base64 malformed instead).
    let at = e.token.rfind('.').expect("signature") + 1;
    let mut tampered = e.token.clone();
    let first = if e.token[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..at + 1, first);
    get(&tampered).expect_error(401, "token_invalid_signature");
    let forged = hs_token(
        &json!({"executionId": e.id, "userId": "someone-else"}),
        None,
    );
    assert_eq!(get(&forged).status, 401);
    // alg: none.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(&e))
    );
    get(&none).expect_error(401, "token_algorithm_rejected");
    // HS/EdDSA confusion: an HS256 token "signed" with the EdDSA public key, naming its kid.
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("ed".into());
    let confused = jsonwebtoken::encode(
        &h,
        &claims(&e),
        &jsonwebtoken::EncodingKey::from_secret(ED_PUBLIC.as_bytes()),
    )
    .expect("encode");
    get(&confused).expect_error(401, "token_algorithm_rejected");
    // Unknown kid.
    get(&hs_token(&claims(&e), Some("nope"))).expect_error(401, "token_unknown_key");
    // Time.
    let mut c = claims(&e);
    c["exp"] = json!(now() - 120);
    get(&hs_token(&c, None)).expect_error(401, "token_expired");
    let mut c = claims(&e);
    c["exp"] = json!(now() - 2);
    assert_eq!(
        get(&hs_token(&c, None)).status,
        200,
        "within the 5 s leeway"
    );
    let mut c = claims(&e);
    c["nbf"] = json!(now() + 120);
    get(&hs_token(&c, None)).expect_error(401, "token_not_yet_valid");
    // Issuer and audience.
    let mut c = claims(&e);
    c["iss"] = json!("evil");
    get(&hs_token(&c, None)).expect_error(401, "token_wrong_issuer");
    let mut c = claims(&e);
    c["aud"] = json!("other-service");
    get(&hs_token(&c, None)).expect_error(401, "token_wrong_audience");
    // A valid token for an execution this store does not know.
    let mut c = claims(&e);
    c["executionId"] = json!("ghost");
    c["sub"] = json!("ghost");
    get(&hs_token(&c, None)).expect_error(401, "execution_unknown");
    // A token whose user does not own the execution.
    let mut c = claims(&e);
    c["userId"] = json!("mallory");
    get(&hs_token(&c, None)).expect_error(403, "execution_mismatch");
}

#[test]
fn scopes_limit_routes_and_orchestrator_tokens_have_all() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u", "--scope", "input:read,variables:read"]);
    let t = Some(e.token.as_str());
    assert_eq!(s.req("GET", "/v1/input", t, None).status, 200);
    assert_eq!(s.req("GET", "/v1/context", t, None).status, 200);
    s.req("GET", "/v1/variables/k", t, None)
        .expect_error(404, "variable_not_found");
    let denied: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "PUT",
            "/v1/variables/k",
            Some(r#"{"value":1}"#),
            "variables:write",
        ),
        ("DELETE", "/v1/variables/k", None, "variables:write"),
        ("PUT", "/v1/output", Some(r#"{"data":1}"#), "output:write"),
        ("POST", "/v1/output/stream", Some("{}\n"), "output:write"),
        (
            "PUT",
            "/v1/condition",
            Some(r#"{"condition":true}"#),
            "condition:write",
        ),
        (
            "POST",
            "/v1/tool-actions/execute",
            Some(r#"{"tool":"slack","action":"send","params":{}}"#),
            "tools:execute",
        ),
    ];
    for (m, p, b, scope) in denied {
        let r = s.req(m, p, t, *b);
        r.expect_error(403, "scope_insufficient");
        assert!(r.text().contains(scope), "{}", r.text());
    }
    // Refresh keeps the scopes.
    let fresh = s.req("POST", "/v1/token/refresh", t, None).json()["data"]["token"]
        .as_str()
        .expect("t")
        .to_owned();
    s.req("PUT", "/v1/output", Some(&fresh), Some(r#"{"data":1}"#))
        .expect_error(403, "scope_insufficient");
    // Space-separated scope claim (OAuth style).
    let mut c = claims(&e);
    c["scope"] = json!("output:write condition:write");
    let oauth = hs_token(&c, None);
    assert_eq!(
        s.req("PUT", "/v1/output", Some(&oauth), Some(r#"{"data":1}"#))
            .status,
        200
    );
    s.req("GET", "/v1/input", Some(&oauth), None)
        .expect_error(403, "scope_insufficient");
    // Cronium orchestrator token: iss cronium-runtime, no scope claim → everything.
    let mut c = claims(&e);
    c["iss"] = json!("cronium-runtime");
    let orch = hs_token(&c, None);
    assert_eq!(
        s.req(
            "PUT",
            "/v1/variables/k",
            Some(&orch),
            Some(r#"{"value":1}"#)
        )
        .status,
        200
    );
    assert_eq!(
        s.req(
            "PUT",
            "/v1/condition",
            Some(&orch),
            Some(r#"{"condition":false}"#)
        )
        .status,
        200
    );
}

#[test]
fn tokens_never_reach_the_logs() {
    let s = Sidecar::start_with(&[("CRONIUM_LOG", "trace")]);
    let e = s.create(&["--user", "u"]);
    let t = Some(e.token.as_str());
    s.req("GET", "/v1/input", t, None);
    s.req("PUT", "/v1/variables/k", t, Some(r#"{"value":1}"#));
    s.req("PUT", "/v1/variables/bad*key", t, Some("{"));
    let mut tampered = e.token.clone();
    tampered.push('x');
    s.req("GET", "/v1/input", Some(&tampered), None);
    let refreshed = s.req("POST", "/v1/token/refresh", t, None).json()["data"]["token"]
        .as_str()
        .expect("t")
        .to_owned();
    let log = s.log();
    assert!(log.contains("request"), "the log is being written: {log}");
    let sig = e.token.rsplit('.').next().expect("sig");
    for secret in [e.token.as_str(), sig, refreshed.as_str(), SECRET] {
        assert!(
            !log.contains(secret),
            "a token or secret leaked into the log"
        );
    }
}

/// A verify-only configuration (the public half of an Ed25519 key) cannot mint: `executions
/// create` refuses with exit 2 before storing anything, and names the setting to add
/// (issue 18, item 4).
#[test]
fn create_with_verify_only_keys_refuses_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("ed.pub");
    std::fs::write(&key, ED_PUBLIC).expect("key");
    let config = dir.path().join("cronium.toml");
    std::fs::write(
        &config,
        format!(
            "[[auth.keys]]\nkid = \"ed\"\nalg = \"EdDSA\"\npublic_key_file = \"{}\"\n",
            key.display()
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let admin = |args: &[&str]| {
        let mut c = cronium();
        c.env_remove("CRONIUM_TOKEN_SECRET")
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(&state)
            .args(args);
        c.output().expect("run cronium")
    };
    let out = admin(&["executions", "create", "--user", "ada"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("no signing key"), "{err}");
    assert!(
        err.contains("private_key_file") && err.contains("signing_kid"),
        "names the setting to add: {err}"
    );
    let out = admin(&["executions", "list", "--json"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!listed.contains("ada"), "nothing stored: {listed}");
}

/// The claims Cronium's orchestrator mints today
/// (`apps/orchestrator/internal/executors/container/jwt.go`): HS256 with the shared secret
/// and golang-jwt's header (no `kid`), `iss: cronium-orchestrator`, `sub: job:<id>`, no
/// `aud`, `executionId` = the job id, `job_id` in snake case, `scope: "execution"`, `iat` =
/// `nbf` = now, 2 h expiry.
fn cronium_orchestrator_claims(job: &str, user: &str, event: &str) -> serde_json::Value {
    let now = now();
    json!({
        "executionId": job, "userId": user, "eventId": event, "job_id": job,
        "scope": "execution", "sub": format!("job:{job}"), "iat": now,
        "exp": now + 2 * 3600, "nbf": now, "iss": "cronium-orchestrator",
    })
}

/// Issue 14: a token exactly as Cronium's orchestrator mints it works for the execution it
/// names (created under the job's id), through the real client and on the compatibility
/// routes; `sub` naming another job, and an issuer nobody configured, are refused.
#[test]
fn cronium_orchestrator_tokens_work_for_their_execution() {
    use cronium_client::{BlockingClient, Config, ErrorKind};

    let s = Sidecar::start();
    let job = "job_2f9c1a";
    let e = s.create(&[
        "--id",
        job,
        "--job-id",
        job,
        "--user",
        "ada",
        "--event-id",
        "ev-42",
        "--input",
        r#"{"n": 12345678901234567890}"#,
    ]);
    assert_eq!(e.id, job, "the execution is named after the job");
    let token = hs_token(&cronium_orchestrator_claims(job, "ada", "ev-42"), None);

    let client = BlockingClient::new(
        Config::builder()
            .socket(&s.socket)
            .token(&token)
            .build()
            .expect("config"),
    )
    .expect("client");
    let input: Box<serde_json::value::RawValue> = client.input().expect("input");
    assert_eq!(input.get(), r#"{"n":12345678901234567890}"#);
    let ctx: serde_json::Value = client.context().expect("context");
    assert_eq!(
        (&ctx["executionId"], &ctx["jobId"], &ctx["eventId"]),
        (&json!(job), &json!(job), &json!("ev-42"))
    );
    // scope "execution" is every scope: variables, output, condition.
    client.set_variable("seen", &1, None).expect("set");
    assert_eq!(
        client
            .get_variable::<i64>("seen")
            .expect("get")
            .expect("exists")
            .value,
        1
    );
    client.output(&json!({"ok": true})).expect("output");
    client.set_condition(true).expect("condition");
    client.refresh_token().expect("refresh");
    let shown = s.admin(&["executions", "show", job, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(shown["output"], json!({"ok": true}), "{shown}");

    // The compatibility routes of Cronium's Go runtime service, with the same token.
    let t = Some(token.as_str());
    let r = s.req("GET", &format!("/executions/{job}/input"), t, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["n"], json!(12345678901234567890u64));
    let r = s.req(
        "PUT",
        &format!("/executions/{job}/variables/k"),
        t,
        Some(r#"{"value": "v"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.req("GET", "/executions/other-job/input", t, None);
    assert_eq!(
        (r.status, &r.json()["code"]),
        (403, &json!("execution_mismatch"))
    );

    // `sub` must name the token's own job.
    let mut c = cronium_orchestrator_claims(job, "ada", "ev-42");
    c["sub"] = json!("job:another");
    s.req("GET", "/v1/input", Some(&hs_token(&c, None)), None)
        .expect_error(401, "token_malformed");
    // An issuer nobody configured is refused, with or without the job form of `sub`.
    for sub in [format!("job:{job}"), job.to_owned()] {
        let mut c = cronium_orchestrator_claims(job, "ada", "ev-42");
        c["iss"] = json!("some-other-orchestrator");
        c["sub"] = json!(sub);
        let r = s.req("GET", "/v1/input", Some(&hs_token(&c, None)), None);
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(
            ["token_malformed", "token_wrong_issuer"].contains(&r.code().as_str()),
            "{}",
            r.text()
        );
    }
    let mut c = cronium_orchestrator_claims(job, "ada", "ev-42");
    c["iss"] = json!("some-other-orchestrator");
    c["sub"] = json!(job);
    c["aud"] = json!("cronium-runtime");
    s.req("GET", "/v1/input", Some(&hs_token(&c, None)), None)
        .expect_error(401, "token_wrong_issuer");
    // A token for a job this store has no execution of.
    let ghost = hs_token(
        &cronium_orchestrator_claims("job_ghost", "ada", "ev-42"),
        None,
    );
    let err = BlockingClient::new(
        Config::builder()
            .socket(&s.socket)
            .token(&ghost)
            .build()
            .expect("config"),
    )
    .expect("client")
    .input::<serde_json::Value>()
    .expect_err("unknown execution");
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Auth, "execution_unknown")
    );

    // The id rule and a taken id, on the admin command: exit 2, one line, nothing written.
    let out = s
        .command()
        .args(["executions", "create", "--id", job, "--user", "ada"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = s
        .command()
        .args(["executions", "create", "--id", "has space", "--user", "ada"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("execution id"));
}

/// Configured away (`orchestrator_issuers = []`), Cronium's orchestrator's tokens are
/// refused like any unknown issuer's.
#[test]
fn orchestrator_issuers_can_be_turned_off() {
    let s = Sidecar::start_with(&[("CRONIUM_ORCHESTRATOR_ISSUERS", "")]);
    let e = s.create(&["--id", "job_1", "--user", "ada", "--event-id", "ev"]);
    let token = hs_token(&cronium_orchestrator_claims(&e.id, "ada", "ev"), None);
    s.req("GET", "/v1/input", Some(&token), None)
        .expect_error(401, "token_malformed");
    let mut c = cronium_orchestrator_claims(&e.id, "ada", "ev");
    c["sub"] = json!(e.id);
    s.req("GET", "/v1/input", Some(&hs_token(&c, None)), None)
        .expect_error(401, "token_wrong_issuer");
}
