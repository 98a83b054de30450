//! Every v1 and compatibility route, answered as docs/API.md says.

use crate::harness::*;
use serde_json::json;

#[test]
fn input_context_and_raw_forms() {
    let s = Sidecar::start();
    let e = s.create(&[
        "--user",
        "u1",
        "--event",
        "nightly",
        "--input",
        r#"{"name": "Ada", "big": 123456789012345678901234567890, "zero": 0, "empty": ""}"#,
        "--context",
        r#"{"trigger": "schedule", "region": "eu"}"#,
    ]);
    let t = Some(e.token.as_str());
    let r = s.req("GET", "/v1/input", t, None);
    assert_eq!(r.status, 200);
    // Big integers survive byte for byte.
    assert_eq!(
        r.text(),
        r#"{"data":{"name":"Ada","big":123456789012345678901234567890,"zero":0,"empty":""}}"#
    );
    let raw = s.req("GET", "/v1/input?raw", t, None);
    assert_eq!(
        raw.text(),
        r#"{"name":"Ada","big":123456789012345678901234567890,"zero":0,"empty":""}"#
    );
    let plain = s.request(
        "GET",
        "/v1/input",
        &[
            ("Authorization", &format!("Bearer {}", e.token)),
            ("Accept", "text/plain"),
        ],
        None,
    );
    assert_eq!(plain.body, raw.body);

    let ctx = s.req("GET", "/v1/context", t, None).json()["data"].clone();
    assert_eq!(ctx["executionId"], e.id.as_str());
    assert_eq!(ctx["userId"], "u1");
    assert_eq!(ctx["eventName"], "nightly");
    assert_eq!(ctx["trigger"], "schedule", "--context wins over defaults");
    assert_eq!(ctx["region"], "eu");
    assert_eq!(ctx["attempt"], 1);
    let raw_ctx = s.req("GET", "/v1/context?raw=1", t, None).json();
    assert_eq!(raw_ctx, ctx);

    // No input reads back as null.
    let e2 = s.create(&["--user", "u1"]);
    assert_eq!(
        s.req("GET", "/v1/input", Some(&e2.token), None).text(),
        r#"{"data":null}"#
    );
}

#[test]
fn output_and_condition_last_write_wins() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u1"]);
    let t = Some(e.token.as_str());
    assert_eq!(
        s.req("GET", "/v1/output", t, None).json(),
        json!({"data": null})
    );
    assert_eq!(
        s.req("PUT", "/v1/output", t, Some(r#"{"data": {"a": 1}}"#))
            .status,
        200
    );
    assert_eq!(
        s.req("PUT", "/v1/output", t, Some(r#"{"data": false}"#))
            .status,
        200
    );
    assert_eq!(
        s.req("GET", "/v1/output", t, None).json(),
        json!({"data": false})
    );
    assert_eq!(
        s.req("GET", "/v1/condition", t, None).json(),
        json!({"data": {"condition": null}})
    );
    let r = s.req("PUT", "/v1/condition", t, Some(r#"{"condition": true}"#));
    assert_eq!(r.json(), json!({"data": {"condition": true}}));
    assert_eq!(
        s.req("GET", "/v1/condition", t, None).json(),
        json!({"data": {"condition": true}})
    );
    // The admin view sees what the script did.
    let shown: serde_json::Value =
        serde_json::from_str(&s.admin(&["executions", "show", &e.id, "--json"])).expect("json");
    assert_eq!(shown["output"], json!(false));
    assert_eq!(shown["condition"], json!(true));
    let actions: Vec<_> = shown["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(actions, ["output.set", "output.set", "condition.set"]);
}

#[test]
fn variables_types_versions_cas_and_isolation() {
    let s = Sidecar::start();
    let a = s.create(&["--user", "alice"]);
    let b = s.create(&["--user", "bob"]);
    let ta = Some(a.token.as_str());
    for (i, v) in [
        "0",
        "\"\"",
        "false",
        "null",
        "[1,{\"x\":null}]",
        "18446744073709551616",
    ]
    .iter()
    .enumerate()
    {
        let key = format!("k{i}");
        let r = s.req(
            "PUT",
            &format!("/v1/variables/{key}"),
            ta,
            Some(&format!("{{\"value\": {v}}}")),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let got = s.req("GET", &format!("/v1/variables/{key}"), ta, None);
        let raw = s.req("GET", &format!("/v1/variables/{key}?raw"), ta, None);
        assert_eq!(raw.text(), *v, "value keeps its JSON type");
        assert_eq!(got.json()["data"]["version"], 1);
        assert_eq!(got.header("etag"), Some("\"1\""));
    }
    // Versions grow; If-Match guards.
    let r = s.req("PUT", "/v1/variables/k0", ta, Some(r#"{"value": 1}"#));
    assert_eq!(r.json()["data"]["version"], 2);
    let conflict = s.request(
        "PUT",
        "/v1/variables/k0",
        &[
            ("Authorization", &format!("Bearer {}", a.token)),
            ("If-Match", "1"),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"value": 99}"#),
    );
    conflict.expect_error(409, "version_conflict");
    assert_eq!(
        s.req("GET", "/v1/variables/k0?raw", ta, None).text(),
        "1",
        "a conflict changes nothing"
    );
    let ok = s.request(
        "PUT",
        "/v1/variables/k0",
        &[
            ("Authorization", &format!("Bearer {}", a.token)),
            ("If-Match", "\"2\""),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"value": 3}"#),
    );
    assert_eq!(ok.json()["data"]["version"], 3);
    let create_only = s.request(
        "PUT",
        "/v1/variables/fresh",
        &[
            ("Authorization", &format!("Bearer {}", a.token)),
            ("If-Match", "0"),
        ],
        Some(br#"{"value": 1}"#),
    );
    assert_eq!(create_only.status, 200);
    let again = s.request(
        "PUT",
        "/v1/variables/fresh",
        &[
            ("Authorization", &format!("Bearer {}", a.token)),
            ("If-Match", "0"),
        ],
        Some(br#"{"value": 2}"#),
    );
    again.expect_error(409, "version_conflict");

    // Keys are listed sorted; bob sees none of alice's.
    let keys = s.req("GET", "/v1/variables", ta, None).json()["data"].clone();
    assert_eq!(keys, json!(["fresh", "k0", "k1", "k2", "k3", "k4", "k5"]));
    assert_eq!(
        s.req("GET", "/v1/variables", Some(&b.token), None).json(),
        json!({"data": []})
    );
    s.req("GET", "/v1/variables/k0", Some(&b.token), None)
        .expect_error(404, "variable_not_found");

    // A later execution of the same user sees the value.
    let a2 = s.create(&["--user", "alice"]);
    assert_eq!(
        s.req("GET", "/v1/variables/k0?raw", Some(&a2.token), None)
            .text(),
        "3"
    );

    // Delete, twice.
    let d = s.req("DELETE", "/v1/variables/k0", ta, None);
    assert_eq!(d.json(), json!({"data": {"key": "k0", "deleted": true}}));
    let d = s.req("DELETE", "/v1/variables/k0", ta, None);
    assert_eq!(d.json(), json!({"data": {"key": "k0", "deleted": false}}));
    s.req("GET", "/v1/variables/k0", ta, None)
        .expect_error(404, "variable_not_found");
    // Percent-encoded keys.
    assert_eq!(
        s.req("PUT", "/v1/variables/a%3Ab", ta, Some(r#"{"value":1}"#))
            .status,
        200
    );
    assert_eq!(s.req("GET", "/v1/variables/a:b?raw", ta, None).text(), "1");
    // The admin command sees the same store.
    assert_eq!(
        s.admin(&["variables", "get", "--user", "alice", "a:b"])
            .trim(),
        "1"
    );
}

#[test]
fn admin_writes_reach_a_running_sidecar_through_the_change_log() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u"]);
    let t = Some(e.token.as_str());
    assert_eq!(
        s.req("PUT", "/v1/variables/n", t, Some(r#"{"value":1}"#))
            .status,
        200
    );
    assert_eq!(s.req("GET", "/v1/variables/n?raw", t, None).text(), "1"); // now cached
    s.admin(&["variables", "set", "--user", "u", "n", "2"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if s.req("GET", "/v1/variables/n?raw", t, None).text() == "2" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cache still stale after 1 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `POST /v1/output/stream` of `body`, sent whole.
fn post_stream(s: &Sidecar, token: &str, body: &[u8]) -> Resp {
    s.request(
        "POST",
        "/v1/output/stream",
        &[("Authorization", &format!("Bearer {token}"))],
        Some(body),
    )
}

/// A stream of several blocks: each full block is stored while the next is checked, and
/// a bad line after them answers only once every block before it is stored, with the
/// exact count, and the records read back in order.
#[test]
fn a_stream_of_many_blocks_keeps_order_and_counts_before_a_bad_line() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u"]);
    let pad = "p".repeat(280);
    let mut body = String::new();
    for i in 0..3000 {
        body.push_str(&format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n"));
    }
    assert!(body.len() > 3 * 256 * 1024, "more than three blocks");
    body.push_str("{\"broken\": }\n{\"after\":1}\n");
    let r = post_stream(&s, &e.token, body.as_bytes());
    r.expect_error(400, "invalid_ndjson");
    let message = r.message();
    assert!(
        message.contains("line 3001 is not JSON") && message.contains("the 3000 records"),
        "{message}"
    );
    let dumped = s.admin(&["executions", "output-stream", &e.id]);
    let seen: Vec<u64> = dumped
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("record")["i"]
                .as_u64()
                .expect("i")
        })
        .collect();
    assert_eq!(seen, (0..3000).collect::<Vec<u64>>());
    let shown: serde_json::Value =
        serde_json::from_str(&s.admin(&["executions", "show", &e.id, "--json"])).expect("json");
    assert_eq!(shown["outputStream"]["records"], 3000);
    assert_eq!(
        shown["outputStream"]["bytes"],
        body.find("{\"broken").unwrap_or(0)
    );
}

#[test]
fn streams_round_trip() {
    let s = Sidecar::start();
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.ndjson");
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "{{\"i\": {i}, \"pad\": \"{}\"}}\n\n",
            "x".repeat(100)
        ));
    }
    std::fs::write(&input, &text).expect("write");
    let e = s.create(&[
        "--user",
        "u",
        "--input-stream",
        input.to_str().expect("path"),
    ]);
    let t = Some(e.token.as_str());
    let r = s.req("GET", "/v1/input/stream", t, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(
        lines.len(),
        5000,
        "blank lines are dropped, every record arrives"
    );
    assert_eq!(lines[4999]["i"], 4999);

    let mut out = String::new();
    for i in 0..3000 {
        out.push_str(&format!("{{\"o\": {i}}}\n"));
    }
    out.push_str("{\"last\": true}"); // no trailing newline: still a record
    let r = s.request(
        "POST",
        "/v1/output/stream",
        &[
            ("Authorization", &format!("Bearer {}", e.token)),
            ("Content-Type", "application/x-ndjson"),
        ],
        Some(out.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["records"], 3001);
    let dumped = s.admin(&["executions", "output-stream", &e.id]);
    assert_eq!(dumped.lines().count(), 3001);
    assert_eq!(dumped.lines().next(), Some("{\"o\":0}"));
    assert_eq!(dumped.lines().last(), Some("{\"last\":true}"));
    // A bad line: the records before it are kept, the error says so.
    let r = post_stream(&s, &e.token, b"{\"a\":1}\n{\"b\":2}\nnot json\n{\"c\":3}\n");
    r.expect_error(400, "invalid_ndjson");
    assert!(r.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("line 3") && m.contains("the 2 records before it are stored")));
    let r = post_stream(&s, &e.token, b"nope\n");
    r.expect_error(400, "invalid_ndjson");
    assert!(
        r.message().contains("no record before it is stored"),
        "{}",
        r.message()
    );
    // A line that is JSON but not UTF-8 (a byte 0xff inside a string) is refused where it
    // stands too, naming its line and column: a client reading the record back could not.
    let r = post_stream(&s, &e.token, b"{\"d\":4}\n  {\"e\":\"\xff\"}\n");
    r.expect_error(400, "invalid_ndjson");
    let message = r.message();
    assert!(
        message.contains("line 2 is not UTF-8 (column 9)")
            && message.contains("the 1 record before it is stored"),
        "{message}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&s.admin(&["executions", "show", &e.id, "--json"])).expect("json");
    assert_eq!(shown["outputStream"]["records"], 3004);
}

#[test]
fn compatibility_routes_answer_like_the_go_service() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u", "--input", r#"{"x":1}"#]);
    let other = s.create(&["--user", "u"]);
    let auth = format!("Bearer {}", e.token);
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    // Over TCP, as the Go runtime's HTTP SDKs do.
    let r = s.request_tcp("GET", &format!("/executions/{}/input", e.id), &h, None);
    assert_eq!(r.json(), json!({"success": true, "data": {"x": 1}}));
    let r = s.request_tcp(
        "POST",
        &format!("/executions/{}/output", e.id),
        &h,
        Some(br#"{"data": [1,2]}"#),
    );
    assert_eq!(r.json(), json!({"success": true}));
    let r = s.request_tcp(
        "GET",
        &format!("/executions/{}/variables/v", e.id),
        &h,
        None,
    );
    assert_eq!(
        r.json(),
        json!({"success": true, "data": {"key": "v", "value": null}})
    );
    let r = s.request_tcp(
        "PUT",
        &format!("/executions/{}/variables/v", e.id),
        &h,
        Some(br#"{"value": {"n": 0}}"#),
    );
    assert_eq!(r.json(), json!({"success": true}));
    let r = s.request_tcp(
        "GET",
        &format!("/executions/{}/variables/v", e.id),
        &h,
        None,
    );
    assert_eq!(
        r.json(),
        json!({"success": true, "data": {"key": "v", "value": {"n": 0}}})
    );
    let r = s.request_tcp(
        "POST",
        &format!("/executions/{}/condition", e.id),
        &h,
        Some(br#"{"condition": false}"#),
    );
    assert_eq!(r.json(), json!({"success": true}));
    let r = s.request_tcp("GET", &format!("/executions/{}/context", e.id), &h, None);
    assert_eq!(r.json()["data"]["executionId"], e.id.as_str());
    assert_eq!(
        s.req("GET", "/v1/output", Some(&e.token), None).json(),
        json!({"data": [1, 2]})
    );
    assert_eq!(
        s.req("GET", "/v1/condition", Some(&e.token), None).json()["data"]["condition"],
        false
    );
    // Another execution's id in the path: 403 in the Go service's error shape.
    let r = s.request_tcp("GET", &format!("/executions/{}/input", other.id), &h, None);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "Forbidden");
    assert!(r.json()["message"].as_str().is_some());
    // Errors there use the same shape.
    let r = s.request_tcp("GET", &format!("/executions/{}/input", e.id), &[], None);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("Unauthorized"))
    );
}

#[test]
fn token_refresh_never_outlives_the_execution() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u", "--ttl", "90s"]);
    let r = s.req("POST", "/v1/token/refresh", Some(&e.token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    let fresh = d["token"].as_str().expect("token");
    let exp = d["expiresAt"].as_i64().expect("exp");
    assert!(
        exp <= now() + 91 && exp >= now() + 80,
        "capped by the execution's 90 s lifetime: {exp}"
    );
    // The new token works for the same execution.
    let ctx = s.req("GET", "/v1/context", Some(fresh), None).json();
    assert_eq!(ctx["data"]["executionId"], e.id.as_str());
}

#[test]
fn ops_routes_need_no_token() {
    let s = Sidecar::start();
    assert_eq!(
        s.req("GET", "/health", None, None).json(),
        json!({"status": "ok"})
    );
    assert_eq!(
        s.req("GET", "/ready", None, None).json(),
        json!({"status": "ready"})
    );
    let spec = s.req("GET", "/openapi.json", None, None).json();
    assert_eq!(spec["openapi"], "3.1.0");
    // Every route the sidecar serves is in the document.
    for p in [
        "/v1/input",
        "/v1/input/stream",
        "/v1/output",
        "/v1/output/stream",
        "/v1/variables",
        "/v1/variables/{key}",
        "/v1/variables/{key}/watch",
        "/v1/condition",
        "/v1/context",
        "/v1/token/refresh",
        "/v1/tool-actions/execute",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(spec["paths"].get(p).is_some(), "openapi.json lacks {p}");
    }
    let e = s.create(&["--user", "u"]);
    s.req("GET", "/v1/input", Some(&e.token), None);
    let m = s.req("GET", "/metrics", None, None);
    assert!(
        m.text()
            .contains("cronium_requests_total{route=\"input\",status=\"200\"} 1"),
        "{}",
        m.text()
    );
    assert!(m.text().contains("cronium_open_connections"));
    assert!(m.text().contains("cronium_store_duration_seconds_count"));
    // Request ids: echoed, taken from traceparent, or generated.
    let r = s.request("GET", "/health", &[("x-request-id", "abc-123")], None);
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let r = s.request(
        "GET",
        "/health",
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
        None,
    );
    assert_eq!(
        r.header("x-request-id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert!(s
        .req("GET", "/health", None, None)
        .header("x-request-id")
        .is_some());
}
