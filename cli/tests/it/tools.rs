//! Tool actions against real endpoints started by the tests (an HTTP recorder and an SMTP
//! server, both on 127.0.0.1): exact payloads, retries, idempotency, timeouts, the rate
//! limit, bad input, the admin commands, and a search for leaked secrets everywhere the
//! sidecar writes.

use std::process::Stdio;
use std::time::Duration;

use cronium_client::{BlockingClient, Config, ErrorKind};
use serde_json::{json, Value};

use crate::harness::*;
use crate::receivers::*;

/// Short backoff so the retry tests take milliseconds.
const FAST: &[(&str, &str)] = &[("CRONIUM_TOOLS_RETRY_BACKOFF", "10ms")];

/// `cronium tools add` with the configuration in a file outside the state directory.
fn add(s: &Sidecar, user: &str, tool: &str, name: &str, cfg: &Value) {
    let out = add_raw(s, &[], user, tool, name, cfg);
    assert!(
        out.status.success(),
        "tools add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn add_raw(
    s: &Sidecar,
    env: &[(&str, &str)],
    user: &str,
    tool: &str,
    name: &str,
    cfg: &Value,
) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cfg.json");
    std::fs::write(&file, cfg.to_string()).expect("write cfg");
    cronium()
        .envs(env.iter().copied())
        .arg("--state-dir")
        .arg(&s.dir)
        .args([
            "tools", "add", "--user", user, "--tool", tool, "--name", name,
        ])
        .arg("--config")
        .arg(format!("@{}", file.display()))
        .output()
        .expect("run tools add")
}

/// Runs an admin command and returns (exit code, stdout, stderr).
fn admin_any(s: &Sidecar, args: &[&str]) -> (i32, String, String) {
    let out = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .args(args)
        .output()
        .expect("run admin");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn call(s: &Sidecar, token: &str, body: &Value, key: Option<&str>) -> Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    s.request(
        "POST",
        "/v1/tool-actions/execute",
        &headers,
        Some(body.to_string().as_bytes()),
    )
}

fn slack_text(text: &str) -> Value {
    json!({"tool": "slack", "action": "send-message", "params": {"text": text}})
}

#[test]
fn slack_discord_and_webhook_send_exact_requests() {
    let s = Sidecar::start_with(FAST);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    let discord = HttpReceiver::start(Reply::Status(204, ""));
    let hook = HttpReceiver::start(Reply::Status(201, "{\"queued\":true}"));
    let slack_path = "/services/T0ACME/B0OPS/slack-secret-0123456789abcdef";
    let discord_path = "/api/webhooks/1234567890/discord-secret-0123456789abcdef";
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slack.url(slack_path)}),
    );
    // Cronium's own field name works too.
    add(
        &s,
        "u1",
        "discord",
        "default",
        &json!({"webhookUrl": discord.url(discord_path)}),
    );
    add(
        &s,
        "u1",
        "webhook",
        "deploy",
        &json!({
            "base_url": hook.url("/api"),
            "headers": {"Authorization": "Bearer hook-secret-0123456789abcdef"},
            "allowed_paths": ["/deploy/*", "/ping"],
        }),
    );
    let e = s.create(&["--user", "u1"]);

    // Slack: the incoming-webhook JSON, fields in a fixed order, nothing else.
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* done"}}]);
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "slack", "action": "slack-send-message", "params": {
            "icon_emoji": ":rocket:", "username": "cronium", "channel": "#ops",
            "blocks": blocks, "text": "deploy done",
        }}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"data": {"ok": true, "tool": "slack", "action": "send-message", "credential": "default",
                        "status": 200, "body": "ok", "truncated": false, "attempts": 1}})
    );
    let got = slack.wait_for(1);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].method.as_str(), got[0].target.as_str()),
        ("POST", slack_path)
    );
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert!(got[0]
        .header("user-agent")
        .is_some_and(|u| u.starts_with("cronium-runtime/")));
    assert_eq!(
        got[0].body_text(),
        r##"{"text":"deploy done","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*deploy* done"}}],"channel":"#ops","username":"cronium","icon_emoji":":rocket:"}"##
    );

    // Discord: the webhook JSON; Discord's 204 is a success.
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "discord", "action": "send-message", "params": {
            "content": "build 42 passed", "embeds": [{"title": "CI", "color": 65280}],
            "username": "cronium", "avatar_url": "https://example.com/a.png",
        }}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["status"], 204);
    assert_eq!(r.json()["data"]["body"], "");
    let got = discord.wait_for(1);
    assert_eq!(
        (got[0].method.as_str(), got[0].target.as_str()),
        ("POST", discord_path)
    );
    assert_eq!(
        got[0].body_text(),
        r#"{"content":"build 42 passed","embeds":[{"title":"CI","color":65280}],"username":"cronium","avatar_url":"https://example.com/a.png"}"#
    );

    // Webhook: method, path under the base, query, the credential's secret header, the
    // script's header, JSON body.
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "webhook", "action": "request", "credential": "deploy", "params": {
            "method": "PUT", "path": "/deploy/42", "query": {"dry": true, "by": "ci bot"},
            "headers": {"X-Trace": "t-1"}, "body": {"version": "1.2.3"},
        }}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["status"], 201);
    assert_eq!(r.json()["data"]["body"], "{\"queued\":true}");
    assert_eq!(r.json()["data"]["credential"], "deploy");
    let got = hook.wait_for(1);
    assert_eq!(got[0].method, "PUT");
    assert_eq!(got[0].target, "/api/deploy/42?dry=true&by=ci+bot");
    assert_eq!(
        got[0].header("authorization"),
        Some("Bearer hook-secret-0123456789abcdef")
    );
    assert_eq!(got[0].header("x-trace"), Some("t-1"));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].header("host"), Some(hook.addr.to_string().as_str()));
    assert_eq!(got[0].body_text(), r#"{"version":"1.2.3"}"#);
    // A text body, and a GET without one.
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "webhook", "action": "request", "credential": "deploy",
                "params": {"path": "deploy/43", "body": "hello\nworld"}}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "webhook", "action": "request", "credential": "deploy",
                "params": {"method": "get", "path": "/ping"}}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got = hook.wait_for(3);
    assert_eq!(
        (
            got[1].method.as_str(),
            got[1].target.as_str(),
            got[1].body_text().as_str()
        ),
        ("POST", "/api/deploy/43", "hello\nworld")
    );
    assert_eq!(
        got[1].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        (got[2].method.as_str(), got[2].target.as_str()),
        ("GET", "/api/ping")
    );
    assert!(got[2].body.is_empty());

    // Paths that would leave the base, or are not allowed, never reach the endpoint.
    for path in [
        "../admin",
        "/deploy/../../admin",
        "/deploy/%2e%2e/x",
        "//evil.example/x",
        "/other",
        "http://evil.example/x",
    ] {
        let r = call(
            &s,
            &e.token,
            &json!({"tool": "webhook", "action": "request", "credential": "deploy", "params": {"path": path}}),
            None,
        );
        r.expect_error(400, "tool_params_invalid");
    }
    assert_eq!(hook.count(), 3, "no request for a refused path");

    // The compatibility route: `config` instead of `params`, Cronium's envelope, TCP.
    let auth = format!("Bearer {}", e.token);
    let r = s.request_tcp(
        "POST",
        "/tool-actions/execute",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        Some(br#"{"tool":"slack","action":"slack-send-message","config":{"text":"from an old SDK"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["success"], true);
    assert_eq!(r.json()["data"]["status"], 200);
    assert_eq!(
        slack.wait_for(2)[1].body_text(),
        r#"{"text":"from an old SDK"}"#
    );

    // Every call is in the audit log, without a secret.
    let show: Value =
        serde_json::from_str(&s.admin(&["executions", "show", &e.id, "--json"])).expect("json");
    let tools: Vec<&str> = show["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| a["action"] == "tool.execute")
        .map(|a| a["target"].as_str().expect("target"))
        .collect();
    assert_eq!(tools.len(), 12, "{tools:?}");
    assert!(
        tools[0]
            .starts_with("slack/send-message credential=default outcome=ok status=200 attempts=1"),
        "{}",
        tools[0]
    );
    assert!(tools
        .iter()
        .any(|t| t.contains("outcome=tool_params_invalid")));
}

#[test]
fn email_is_delivered_over_smtp() {
    let s = Sidecar::start_with(FAST);
    let smtp = SmtpReceiver::start("mailer", "smtp-secret-pass-0123456789");
    add(
        &s,
        "u1",
        "email",
        "default",
        &json!({"host": "127.0.0.1", "port": smtp.addr.port(), "security": "none",
                "username": "mailer", "password": "smtp-secret-pass-0123456789",
                "from": "Cronium <noreply@example.com>"}),
    );
    let e = s.create(&["--user", "u1"]);
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "email", "action": "send-email", "params": {
            "to": "ada@example.com, Bob <bob@example.com>",
            "cc": ["carol@example.com"],
            "bcc": ["dave@example.com"],
            "replyTo": "ops@example.com",
            "subject": "Nightly report",
            "body": "All 3 jobs passed.\nSee you tomorrow.",
        }}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    assert_eq!(
        (
            d["ok"].clone(),
            d["status"].clone(),
            d["recipients"].clone()
        ),
        (json!(true), json!(250), json!(4))
    );
    assert_eq!(d["body"], "2.0.0 Ok: queued as M1");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(
        m.auth,
        Some(("mailer".into(), "smtp-secret-pass-0123456789".into()))
    );
    assert_eq!(m.from, "noreply@example.com");
    assert_eq!(
        m.rcpt,
        [
            "ada@example.com",
            "bob@example.com",
            "carol@example.com",
            "dave@example.com"
        ]
    );
    assert_eq!(
        m.header("From").as_deref(),
        Some("Cronium <noreply@example.com>")
    );
    assert_eq!(
        m.header("To").as_deref(),
        Some("ada@example.com, Bob <bob@example.com>")
    );
    assert_eq!(m.header("Cc").as_deref(), Some("carol@example.com"));
    assert_eq!(
        m.header("Bcc"),
        None,
        "bcc recipients are not shown to the others"
    );
    assert_eq!(m.header("Reply-To").as_deref(), Some("ops@example.com"));
    assert_eq!(m.header("Subject").as_deref(), Some("Nightly report"));
    assert_eq!(
        m.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(m.header("Message-ID").as_deref(), d["messageId"].as_str());
    assert!(d["messageId"]
        .as_str()
        .is_some_and(|id| id.ends_with("@example.com>")));
    assert_eq!(m.body(), "All 3 jobs passed.\r\nSee you tomorrow.\r\n");

    // HTML, one recipient, the short action id.
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "email", "action": "send", "params": {
            "to": ["ada@example.com"], "subject": "Hi", "body": "<p>Hello</p>", "isHtml": true,
        }}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let m = &smtp.mails()[1];
    assert_eq!(
        m.header("Content-Type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(m.body(), "<p>Hello</p>\r\n");

    // SMTP 451 is transient: retried, delivered once. 550 is final: one attempt.
    smtp.then(&[SmtpReply::Defer, SmtpReply::Defer]);
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "email", "action": "send-email",
        "params": {"to": "ada@example.com", "subject": "retry", "body": "x"}}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["attempts"], 3);
    assert_eq!(smtp.mails().len(), 3);
    assert_eq!(smtp.attempts(), 5);
    smtp.then(&[SmtpReply::Reject]);
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "email", "action": "send-email",
        "params": {"to": "ada@example.com", "subject": "no", "body": "x"}}),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(r.text().contains("550"), "{}", r.text());
    assert_eq!(smtp.attempts(), 6, "a permanent refusal is not retried");

    // Bad params never reach the server.
    for params in [
        json!({"subject": "s", "body": "b"}),
        json!({"to": "not an address", "subject": "s", "body": "b"}),
        json!({"to": "a@example.com", "body": "b"}),
        json!({"to": "a@example.com", "subject": "two\r\nlines", "body": "b"}),
        json!({"to": "a@example.com", "subject": "s", "body": 7}),
        json!({"to": "a@example.com", "subject": "s", "body": "b", "isHtml": "yes"}),
        json!({"to": "a@example.com", "subject": "s", "body": "b", "from": "ceo@example.com"}),
    ] {
        call(
            &s,
            &e.token,
            &json!({"tool": "email", "action": "send-email", "params": params}),
            None,
        )
        .expect_error(400, "tool_params_invalid");
    }
    assert_eq!(smtp.attempts(), 6);
}

#[test]
fn transient_failures_are_retried_and_4xx_never() {
    let s = Sidecar::start_with(FAST);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slack.url("/hook/retry-secret-abcdefghijkl")}),
    );
    let e = s.create(&["--user", "u1"]);

    // Three 5xx, then success: four requests, one delivery, the caller sees success.
    slack.then(&[
        Reply::Status(503, "busy"),
        Reply::Status(500, "oops"),
        Reply::Status(502, "bad gateway"),
    ]);
    let r = call(&s, &e.token, &slack_text("eventually"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["attempts"], 4);
    let got = slack.wait_for(4);
    assert_eq!(got.len(), 4);
    assert!(got
        .iter()
        .all(|g| g.body_text() == r#"{"text":"eventually"}"#));

    // 400: no retry, a 502 naming the endpoint's answer.
    slack.then(&[Reply::Status(400, "invalid_payload")]);
    let r = call(&s, &e.token, &slack_text("refused"), None);
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("400") && r.text().contains("invalid_payload"),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 5, "a 4xx is never retried");
    // 429 is a 4xx too.
    slack.then(&[Reply::Status(429, "slow down")]);
    call(&s, &e.token, &slack_text("limited"), None).expect_error(502, "tool_upstream_failed");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 6);

    // 5xx every time: 1 + 3 retries, then a 502.
    slack.then(&[Reply::Status(500, "down"); 4]);
    let r = call(&s, &e.token, &slack_text("never"), None);
    r.expect_error(502, "tool_upstream_failed");
    assert!(r.text().contains("after 4 attempts"), "{}", r.text());
    assert_eq!(slack.count(), 10);

    // Nothing listening: connect errors are retried, then a 502.
    let closed = free_port();
    add(
        &s,
        "u1",
        "slack",
        "closed",
        &json!({"webhook_url": format!("http://{closed}/hook/closed-secret-abcdefghijkl")}),
    );
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "slack", "action": "send-message", "credential": "closed", "params": {"text": "x"}}),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("cannot connect") && r.text().contains("after 4 attempts"),
        "{}",
        r.text()
    );
}

#[test]
fn a_slow_endpoint_times_out_without_retry() {
    let mut env = FAST.to_vec();
    env.push(("CRONIUM_TOOLS_TIMEOUT", "300ms"));
    let s = Sidecar::start_with(&env);
    let slow = HttpReceiver::start(Reply::Hang(Duration::from_secs(3)));
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slow.url("/hook/slow-secret-abcdefghijkl")}),
    );
    let e = s.create(&["--user", "u1"]);
    let started = std::time::Instant::now();
    let r = call(&s, &e.token, &slack_text("late"), None);
    r.expect_error(504, "tool_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        slow.count(),
        1,
        "a request that may have arrived is not sent again"
    );
}

#[test]
fn idempotency_key_sends_once_and_replays_the_first_result() {
    let s = Sidecar::start_with(FAST);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slack.url("/hook/idem-secret-abcdefghijkl")}),
    );
    let e = s.create(&["--user", "u1"]);
    let first = call(&s, &e.token, &slack_text("once"), Some("key-1"));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = call(&s, &e.token, &slack_text("once"), Some("key-1"));
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body, "the first result, byte for byte");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 1, "one delivery");
    // The same key for another call is a client bug.
    call(&s, &e.token, &slack_text("different"), Some("key-1"))
        .expect_error(422, "idempotency_key_reused");
    // No key: every call sends.
    call(&s, &e.token, &slack_text("once"), None);
    assert_eq!(slack.wait_for(2).len(), 2);
    // Keys belong to their execution.
    let e2 = s.create(&["--user", "u1"]);
    assert_eq!(
        call(&s, &e2.token, &slack_text("once"), Some("key-1")).header("idempotent-replayed"),
        None
    );
    assert_eq!(slack.wait_for(3).len(), 3);

    // A failed call is replayed as the same failure, not sent again.
    slack.then(&[Reply::Status(400, "nope")]);
    call(&s, &e.token, &slack_text("fails"), Some("key-2"))
        .expect_error(502, "tool_upstream_failed");
    let replay = call(&s, &e.token, &slack_text("fails"), Some("key-2"));
    replay.expect_error(502, "tool_upstream_failed");
    assert!(replay.text().contains("first call"), "{}", replay.text());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 4);

    // Two concurrent calls with one key: one delivery, both see its result.
    slack.then(&[Reply::Slow(Duration::from_millis(500), 200, "ok")]);
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (sock, token) = (s.socket.clone(), e.token.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {token}");
                let stream = std::os::unix::net::UnixStream::connect(sock).expect("connect");
                http(
                    stream,
                    "POST",
                    "/v1/tool-actions/execute",
                    &[("Authorization", &auth), ("Idempotency-Key", "key-3")],
                    Some(slack_text("concurrent").to_string().as_bytes()),
                )
            })
        })
        .collect();
    let answers: Vec<Resp> = calls.into_iter().map(|t| t.join().expect("join")).collect();
    assert!(
        answers.iter().all(|a| a.status == 200),
        "{:?}",
        answers.iter().map(Resp::text).collect::<Vec<_>>()
    );
    assert_eq!(answers[0].body, answers[1].body);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 5, "one delivery for two concurrent calls");

    // The record is durable: a new sidecar on the same store replays it.
    let s2 = Sidecar::start_in(&s.dir, "rt2.sock", FAST);
    let r = s2.request(
        "POST",
        "/v1/tool-actions/execute",
        &[
            ("Authorization", &format!("Bearer {}", e.token)),
            ("Idempotency-Key", "key-1"),
        ],
        Some(slack_text("once").to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, first.body);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 5);

    // A malformed key is refused before anything happens.
    call(&s, &e.token, &slack_text("x"), Some("has space")).expect_error(400, "invalid_header");
}

#[test]
fn client_core_runs_tool_actions_once_per_key() {
    let s = Sidecar::start_with(FAST);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slack.url("/hook/client-secret-abcdefghijkl")}),
    );
    let e = s.create(&["--user", "u1"]);
    let c = BlockingClient::new(
        Config::builder()
            .socket(&s.socket)
            .token(&e.token)
            .build()
            .expect("config"),
    )
    .expect("client");
    let r: Value = c
        .execute_tool_action(
            "slack",
            "send-message",
            &json!({"text": "from rust"}),
            Some("op-1"),
        )
        .expect("send");
    assert_eq!(
        (r["ok"].clone(), r["status"].clone()),
        (json!(true), json!(200))
    );
    let again: Value = c
        .execute_tool_action(
            "slack",
            "send-message",
            &json!({"text": "from rust"}),
            Some("op-1"),
        )
        .expect("replay");
    assert_eq!(again, r);
    // Without a key the client makes one per call: two calls, two deliveries.
    let _: Value = c
        .execute_tool_action("slack", "send-message", &json!({"text": "a"}), None)
        .expect("a");
    let _: Value = c
        .execute_tool_action("slack", "send-message", &json!({"text": "a"}), None)
        .expect("b");
    assert_eq!(slack.wait_for(3).len(), 3);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 3);
    // Typed errors.
    let err = c
        .execute_tool_action::<Value, _>("slack", "send-message", &json!({"text": 5}), None)
        .expect_err("bad params");
    assert_eq!(
        (err.kind(), err.code(), err.status()),
        (ErrorKind::ToolAction, "tool_params_invalid", Some(400))
    );
    assert!(!err.retryable());
    let err = c
        .execute_tool_action::<Value, _>("email", "send-email", &json!({}), None)
        .expect_err("not configured");
    assert_eq!(
        (err.kind(), err.code(), err.status()),
        (ErrorKind::ToolAction, "tool_not_configured", Some(404))
    );
    slack.then(&[Reply::Status(404, "no_service")]);
    let err = c
        .execute_tool_action::<Value, _>("slack", "send-message", &json!({"text": "x"}), None)
        .expect_err("upstream");
    assert_eq!(
        (err.kind(), err.code(), err.status()),
        (ErrorKind::ToolAction, "tool_upstream_failed", Some(502))
    );
}

#[test]
fn bad_input_gets_stable_codes_and_never_5xx() {
    let s = Sidecar::start_with(FAST);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slack.url("/hook/bad-secret-abcdefghijkl")}),
    );
    let e = s.create(&["--user", "u1"]);
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"tool": "sms", "action": "send", "params": {}}),
            400,
            "tool_action_unknown",
        ),
        (
            json!({"tool": "slack", "action": "delete-channel", "params": {}}),
            400,
            "tool_action_unknown",
        ),
        (
            json!({"tool": "SLACK", "action": "send-message", "params": {"text": "x"}}),
            400,
            "tool_action_unknown",
        ),
        (
            json!({"tool": "slack", "action": "send-message"}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {}}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {"text": 5}}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {"text": "x", "blocks": {"a": 1}}}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {"text": "x", "colour": "red"}}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": "text"}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {"text": "x"}, "config": {}}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {"text": "x"}, "credential": "../../etc"}),
            400,
            "tool_params_invalid",
        ),
        (
            json!({"tool": "discord", "action": "send-message", "params": {"content": "x"}}),
            404,
            "tool_not_configured",
        ),
        (
            json!({"tool": "slack", "action": "send-message", "params": {"text": "x"}, "credential": "other"}),
            404,
            "tool_not_configured",
        ),
        (
            json!({"tool": 7, "action": "send-message"}),
            400,
            "invalid_body",
        ),
        (json!({"action": "send-message"}), 400, "invalid_body"),
        (json!(["slack"]), 400, "invalid_body"),
    ];
    for (body, status, code) in &cases {
        let r = call(&s, &e.token, body, None);
        assert!(r.status < 500, "{body}: {}", r.text());
        r.expect_error(*status, code);
    }
    let auth = format!("Bearer {}", e.token);
    s.request(
        "POST",
        "/v1/tool-actions/execute",
        &[("Authorization", &auth)],
        Some(b"{not json"),
    )
    .expect_error(400, "invalid_json");
    s.request(
        "POST",
        "/v1/tool-actions/execute",
        &[("Authorization", &auth)],
        Some(b""),
    )
    .expect_error(400, "invalid_json");
    s.req("GET", "/v1/tool-actions/execute", Some(&e.token), None)
        .expect_error(405, "method_not_allowed");
    // Compatibility shape for the same mistakes.
    let r = s.request_tcp(
        "POST",
        "/tool-actions/execute",
        &[("Authorization", &auth)],
        Some(br#"{"tool":"fax","action":"send","config":{}}"#),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "tool_action_unknown");
    assert_eq!(r.json()["error"], "Bad Request");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(slack.count(), 0, "no bad call reached the endpoint");
    // Without the scope: 403, before anything else.
    let limited = s.create(&["--user", "u1", "--scope", "input:read"]);
    call(&s, &limited.token, &slack_text("x"), None).expect_error(403, "scope_insufficient");
}

#[test]
fn tool_calls_are_rate_limited_per_execution() {
    let mut env = FAST.to_vec();
    env.extend([
        ("CRONIUM_TOOLS_RATE_LIMIT", "1"),
        ("CRONIUM_TOOLS_RATE_BURST", "2"),
    ]);
    let s = Sidecar::start_with(&env);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": slack.url("/hook/rate-secret-abcdefghijkl")}),
    );
    let e = s.create(&["--user", "u1"]);
    assert_eq!(call(&s, &e.token, &slack_text("1"), Some("r1")).status, 200);
    assert_eq!(call(&s, &e.token, &slack_text("2"), None).status, 200);
    let r = call(&s, &e.token, &slack_text("3"), Some("r3"));
    r.expect_error(429, "rate_limited");
    assert!(r
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    // A replay costs nothing and is still answered.
    assert_eq!(
        call(&s, &e.token, &slack_text("1"), Some("r1")).header("idempotent-replayed"),
        Some("true")
    );
    // The refused key was released: it is not stuck "in progress".
    call(&s, &e.token, &slack_text("3"), Some("r3")).expect_error(429, "rate_limited");
    // Other executions have their own budget; other API calls are not limited by it.
    let e2 = s.create(&["--user", "u1"]);
    assert_eq!(call(&s, &e2.token, &slack_text("4"), None).status, 200);
    assert_eq!(s.req("GET", "/v1/input", Some(&e.token), None).status, 200);
    assert_eq!(slack.wait_for(3).len(), 3);
}

#[test]
fn admin_commands_manage_credentials_without_showing_secrets() {
    let s = Sidecar::start_with(FAST);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    let secret_url = slack.url("/services/T1/B1/cli-secret-0123456789abcdef");
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": secret_url}),
    );
    // From stdin, replacing.
    let mut child = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .args([
            "tools", "add", "--user", "u1", "--tool", "slack", "--config", "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(json!({"webhook_url": secret_url}).to_string().as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replaced slack credential"));
    add(
        &s,
        "u2",
        "email",
        "ops",
        &json!({"host": "smtp.example.com", "username": "ops", "password": "cli-smtp-secret-0123", "from": "ops@example.com"}),
    );

    let (code, list, _) = admin_any(&s, &["tools", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.contains("u1  slack  default  http://127.0.0.1:"),
        "{list}"
    );
    assert!(
        list.contains(
            "u2  email  ops  smtp://smtp.example.com:587 (starttls, login) from ops@example.com"
        ),
        "{list}"
    );
    let (_, json_list, _) = admin_any(&s, &["tools", "list", "--user", "u2", "--json"]);
    let v: Value = serde_json::from_str(&json_list).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["name"], "ops");
    for text in [&list, &json_list] {
        assert!(
            !text.contains("cli-secret-0123456789abcdef") && !text.contains("cli-smtp-secret-0123"),
            "{text}"
        );
    }

    // Probe without sending: reachable, and nothing was delivered.
    let (code, out, err) = admin_any(&s, &["tools", "test", "--user", "u1", "--tool", "slack"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ok: http://127.0.0.1:") && out.contains("reachable"),
        "{out}"
    );
    assert_eq!(slack.count(), 0);
    // With --params: a real call.
    let (code, out, err) = admin_any(
        &s,
        &[
            "tools",
            "test",
            "--user",
            "u1",
            "--tool",
            "slack",
            "--params",
            r#"{"text":"hello from the CLI"}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json")["status"],
        200
    );
    assert_eq!(
        slack.wait_for(1)[0].body_text(),
        r#"{"text":"hello from the CLI"}"#
    );

    // Mistakes: one line, exit 2, and no secret echoed.
    let (code, _, err) = admin_any(
        &s,
        &[
            "tools",
            "add",
            "--user",
            "u1",
            "--tool",
            "slack",
            "--config",
            r#"{"webhook_url":"https://x/y"}"#,
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("never go on the command line"), "{err}");
    for (tool, cfg, needle) in [
        ("slack", json!({}), "webhook_url"),
        (
            "slack",
            json!({"webhook_url": "ftp://x/cli-bad-secret"}),
            "http",
        ),
        ("fax", json!({}), "unknown tool"),
        (
            "email",
            json!({"host": "smtp.example.com", "security": "none", "username": "a", "password": "cli-plain-secret", "from": "a@example.com"}),
            "clear",
        ),
        (
            "webhook",
            json!({"base_url": "https://x/", "headers": {"Host": "y"}}),
            "Host",
        ),
    ] {
        let out = add_raw(&s, &[], "u1", tool, "bad", &cfg);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tool} {cfg}: {err}");
        assert!(err.to_lowercase().contains(&needle.to_lowercase()), "{err}");
        assert!(
            !err.contains("cli-bad-secret") && !err.contains("cli-plain-secret"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    // Remove; a second remove fails with a hint.
    let (code, _, _) = admin_any(
        &s,
        &[
            "tools", "remove", "--user", "u2", "--tool", "email", "--name", "ops",
        ],
    );
    assert_eq!(code, 0);
    let (code, _, err) = admin_any(
        &s,
        &[
            "tools", "remove", "--user", "u2", "--tool", "email", "--name", "ops",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("tools list"), "{err}");
    // A user's credential is theirs alone.
    let e = s.create(&["--user", "u2"]);
    call(&s, &e.token, &slack_text("x"), None).expect_error(404, "tool_not_configured");
}

#[test]
fn credentials_need_the_key_they_were_sealed_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_a = dir.path().join("a.key");
    let key_b = dir.path().join("b.key");
    std::fs::write(&key_a, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n").expect("key a");
    std::fs::write(
        &key_b,
        "0101010101010101010101010101010101010101010101010101010101010101",
    )
    .expect("key b");
    let (ka, kb) = (key_a.display().to_string(), key_b.display().to_string());
    let s = Sidecar::start_with(&[("CRONIUM_CREDENTIALS_KEY_FILE", &kb)]);
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    let cfg = json!({"webhook_url": slack.url("/hook/key-secret-abcdefghijkl")});
    let out = add_raw(
        &s,
        &[("CRONIUM_CREDENTIALS_KEY_FILE", &ka)],
        "u1",
        "slack",
        "default",
        &cfg,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !s.dir.join("keys/credentials.key").exists(),
        "a configured key generates nothing"
    );
    let e = s.create(&["--user", "u1"]);
    let r = call(&s, &e.token, &slack_text("x"), None);
    r.expect_error(404, "tool_not_configured");
    assert!(
        r.text().contains("credentials key") && r.text().contains("CRONIUM_CREDENTIALS_KEY_FILE"),
        "{}",
        r.text()
    );
    // Sealed with the sidecar's key: it works.
    let out = add_raw(
        &s,
        &[("CRONIUM_CREDENTIALS_KEY_FILE", &kb)],
        "u1",
        "slack",
        "default",
        &cfg,
    );
    assert!(out.status.success());
    assert_eq!(call(&s, &e.token, &slack_text("x"), None).status, 200);
    // A bad key setting stops the command with one line naming it.
    std::fs::write(&key_a, "short").expect("write");
    let out = add_raw(
        &s,
        &[("CRONIUM_CREDENTIALS_KEY_FILE", &ka)],
        "u1",
        "slack",
        "default",
        &cfg,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRONIUM_CREDENTIALS_KEY_FILE"));
    // Without any key setting, `tools add` generates one outside the database, 0600.
    let s2 = Sidecar::start_with(FAST);
    add(&s2, "u1", "slack", "default", &cfg);
    let meta = std::fs::metadata(s2.dir.join("keys/credentials.key")).expect("generated key");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let e2 = s2.create(&["--user", "u1"]);
    assert_eq!(call(&s2, &e2.token, &slack_text("x"), None).status, 200);
}

/// The credential fields of Teams, Notion, Trello and Google Sheets go through the same
/// search in `tools_api::new_credential_fields_never_leak`.
///
/// Every action, succeeding and failing, with secrets the endpoints echo back; then the
/// secrets must appear nowhere the sidecar writes: answers, error messages, its trace log,
/// the admin commands' output, the database files.
#[test]
fn secrets_never_leak() {
    const SLACK: &str = "slackleak0XQ7a9d2k4m6p8r";
    const DISCORD: &str = "discordleak0YT3b5c7e9g1h";
    const HOOK_HEADER: &str = "hookleak0ZB2n4q6s8u0w2y";
    const HOOK_QUERY: &str = "queryleak0WC1x3z5a7c9e1";
    const SMTP_PASSWORD: &str = "smtpleak0VD4f6h8j0l2n4";
    let secrets = [SLACK, DISCORD, HOOK_HEADER, HOOK_QUERY, SMTP_PASSWORD];

    let mut env = FAST.to_vec();
    env.extend([
        ("CRONIUM_LOG", "trace"),
        ("CRONIUM_TOOLS_TIMEOUT", "1s"),
        ("CRONIUM_TOOLS_RATE_LIMIT", "0"),
    ]);
    let s = Sidecar::start_with(&env);
    // The endpoints echo the whole request, secrets included, in every answer.
    let echo = HttpReceiver::start(Reply::Echo(200));
    let smtp = SmtpReceiver::start("mailer", SMTP_PASSWORD);
    let closed = free_port();
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": echo.url(&format!("/services/T1/B1/{SLACK}"))}),
    );
    add(
        &s,
        "u1",
        "slack",
        "down",
        &json!({"webhook_url": format!("http://{closed}/services/T1/B1/{SLACK}")}),
    );
    add(
        &s,
        "u1",
        "slack",
        "tls",
        &json!({"webhook_url": format!("https://{}/services/T1/B1/{SLACK}", echo.addr)}),
    );
    add(
        &s,
        "u1",
        "discord",
        "default",
        &json!({"webhook_url": echo.url(&format!("/api/webhooks/1/{DISCORD}"))}),
    );
    add(
        &s,
        "u1",
        "webhook",
        "default",
        &json!({
            "base_url": echo.url(&format!("/api?token={HOOK_QUERY}")),
            "headers": {"Authorization": format!("Bearer {HOOK_HEADER}"), "X-Api-Key": HOOK_HEADER},
        }),
    );
    add(
        &s,
        "u1",
        "email",
        "default",
        &json!({"host": "127.0.0.1", "port": smtp.addr.port(), "security": "none",
        "username": "mailer", "password": SMTP_PASSWORD, "from": "ci@example.com"}),
    );
    add(
        &s,
        "u1",
        "email",
        "wrongpw",
        &json!({"host": "127.0.0.1", "port": smtp.addr.port(), "security": "none",
        "username": "mailer", "password": format!("{SMTP_PASSWORD}-not"), "from": "ci@example.com"}),
    );
    let e = s.create(&["--user", "u1"]);

    let mut seen = String::new();
    let mut run = |body: Value, key: Option<&str>| {
        let r = call(&s, &e.token, &body, key);
        assert!(
            r.status < 500 || r.status == 502 || r.status == 504,
            "{}",
            r.text()
        );
        seen.push_str(&format!("{} {:?}\n{}\n", r.status, r.headers, r.text()));
        r
    };
    let slack_ok = run(
        json!({"tool": "slack", "action": "send-message", "params": {"text": "hi"}}),
        Some("k1"),
    );
    assert_eq!(slack_ok.status, 200);
    assert!(
        slack_ok.text().contains("[redacted]"),
        "the echoed secret was scrubbed: {}",
        slack_ok.text()
    );
    run(
        json!({"tool": "slack", "action": "send-message", "params": {"text": "hi"}}),
        Some("k1"),
    );
    echo.then(&[Reply::Echo(400)]);
    run(
        json!({"tool": "slack", "action": "send-message", "params": {"text": "refused"}}),
        None,
    );
    echo.then(&[
        Reply::Echo(500),
        Reply::Echo(500),
        Reply::Echo(500),
        Reply::Echo(500),
    ]);
    run(
        json!({"tool": "slack", "action": "send-message", "params": {"text": "down"}}),
        None,
    );
    run(
        json!({"tool": "slack", "action": "send-message", "credential": "down", "params": {"text": "x"}}),
        None,
    );
    run(
        json!({"tool": "slack", "action": "send-message", "credential": "tls", "params": {"text": "x"}}),
        None,
    );
    run(
        json!({"tool": "slack", "action": "send-message", "params": {"text": 1}}),
        None,
    );
    run(
        json!({"tool": "discord", "action": "send-message", "params": {"content": "hi"}}),
        None,
    );
    echo.then(&[Reply::Echo(403)]);
    run(
        json!({"tool": "discord", "action": "send-message", "params": {"content": "no"}}),
        None,
    );
    run(
        json!({"tool": "webhook", "action": "request", "params": {"path": "/x", "body": {"a": 1}}}),
        None,
    );
    echo.then(&[Reply::Echo(401)]);
    run(
        json!({"tool": "webhook", "action": "request", "params": {"path": "/x"}}),
        None,
    );
    run(
        json!({"tool": "webhook", "action": "request", "params": {"path": "../x"}}),
        None,
    );
    run(
        json!({"tool": "webhook", "action": "request", "params": {"headers": {"Authorization": "mine"}}}),
        None,
    );
    echo.then(&[Reply::Hang(Duration::from_secs(3))]);
    let timeout = run(
        json!({"tool": "webhook", "action": "request", "params": {"path": "/slow"}}),
        None,
    );
    assert_eq!(timeout.status, 504);
    run(
        json!({"tool": "email", "action": "send-email", "params": {"to": "a@example.com", "subject": "s", "body": "b"}}),
        None,
    );
    smtp.then(&[SmtpReply::Reject]);
    run(
        json!({"tool": "email", "action": "send-email", "params": {"to": "a@example.com", "subject": "s", "body": "b"}}),
        None,
    );
    let wrong = run(
        json!({"tool": "email", "action": "send-email", "credential": "wrongpw", "params": {"to": "a@example.com", "subject": "s", "body": "b"}}),
        None,
    );
    assert_eq!(wrong.status, 502, "{}", wrong.text());
    run(
        json!({"tool": "email", "action": "send-email", "params": {"to": "bad", "subject": "s", "body": "b"}}),
        None,
    );

    // The secrets did reach the endpoints (so the search below means something).
    let delivered: String = echo
        .requests()
        .iter()
        .map(|r| format!("{} {:?}", r.target, r.headers))
        .collect();
    for secret in [SLACK, DISCORD, HOOK_HEADER, HOOK_QUERY] {
        assert!(delivered.contains(secret), "{secret} was not used");
    }
    assert_eq!(
        smtp.mails()[0].auth.as_ref().map(|a| a.1.as_str()),
        Some(SMTP_PASSWORD)
    );

    let mut outputs = seen.clone();
    for args in [
        vec!["tools", "list"],
        vec!["tools", "list", "--json"],
        vec!["tools", "test", "--user", "u1", "--tool", "slack"],
        vec![
            "tools", "test", "--user", "u1", "--tool", "slack", "--name", "down",
        ],
        vec!["tools", "test", "--user", "u1", "--tool", "email"],
        vec![
            "tools", "test", "--user", "u1", "--tool", "email", "--name", "wrongpw",
        ],
        vec!["tools", "test", "--user", "u1", "--tool", "webhook"],
        vec!["executions", "show", e.id.as_str(), "--json"],
        vec!["executions", "show", e.id.as_str()],
    ] {
        let (_, out, err) = admin_any(&s, &args);
        outputs.push_str(&out);
        outputs.push_str(&err);
    }
    let mut s = s;
    s.stop();
    let log = s.log();
    assert!(log.contains("tool action"), "the trace log has the calls");
    let mut db = Vec::new();
    for name in ["cronium.db", "cronium.db-wal", "cronium.db-shm"] {
        if let Ok(bytes) = std::fs::read(s.dir.join(name)) {
            db.extend(bytes);
        }
    }
    assert!(db.len() > 4096, "the database was read");
    for secret in secrets {
        assert!(
            !outputs.contains(secret),
            "{secret} in an answer or command output:\n{outputs}"
        );
        assert!(!log.contains(secret), "{secret} in the sidecar log");
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the database files"
        );
    }
}

/// A missing credential's error names the user it was looked up for, and the command that
/// adds it for that user (issue 18, item 6); never a secret.
#[test]
fn a_missing_credential_names_the_user() {
    let s = Sidecar::start_with(FAST);
    let e = s.create(&["--user", "ada"]);
    let r = call(&s, &e.token, &slack_text("x"), None);
    r.expect_error(404, "tool_not_configured");
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(r#"no slack credential named "default" for user "ada""#),
        "{message}"
    );
    assert!(
        message.contains("cronium tools add --user ada --tool slack --name default"),
        "{message}"
    );
    assert!(
        !message.contains(&e.token) && !message.contains(SECRET),
        "{message}"
    );
}
