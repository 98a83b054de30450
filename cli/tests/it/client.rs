//! client-core against the real sidecar: every operation, async and blocking, over the
//! Unix socket and TCP, with typed errors, streams, watch and token refresh.

use std::time::{Duration, Instant};

use cronium_client::{BlockingClient, Client, Config, ErrorKind};
use serde_json::{json, value::RawValue, Value};

use crate::harness::*;

fn blocking(s: &Sidecar, token: &str) -> BlockingClient {
    BlockingClient::new(
        Config::builder()
            .socket(&s.socket)
            .token(token)
            .build()
            .expect("config"),
    )
    .expect("client")
}

/// A sidecar whose tokens live `ttl`, with no leeway, and an execution whose own token
/// lives that long too (the execution itself lives an hour).
fn short_tokens(ttl: &str) -> (Sidecar, Execution) {
    let s = Sidecar::start_with(&[("CRONIUM_TOKEN_TTL", ttl), ("CRONIUM_TOKEN_LEEWAY", "0")]);
    let e = s.create_with_env(
        &["--user", "u", "--ttl", "1h"],
        &[("CRONIUM_TOKEN_TTL", ttl)],
    );
    (s, e)
}

fn asynchronous(s: &Sidecar, token: &str) -> Client {
    Client::new(
        Config::builder()
            .socket(&s.socket)
            .token(token)
            .build()
            .expect("config"),
    )
}

#[test]
fn blocking_client_every_operation() {
    let s = Sidecar::start();
    let e = s.create(&[
        "--user",
        "u",
        "--input",
        r#"{"total": 150, "big": 98765432109876543210}"#,
        "--event",
        "orders",
    ]);
    let c = blocking(&s, &e.token);
    let input: Value = c.input().expect("input");
    assert_eq!(input["total"], 150);
    // Raw JSON keeps big integers exact.
    let raw: Box<RawValue> = c.input().expect("raw input");
    assert!(raw.get().contains("98765432109876543210"));
    assert!(c.get_variable::<Value>("seen").expect("get").is_none());
    let meta = c.set_variable("seen", &0, None).expect("set");
    assert_eq!(meta.version, 1);
    let v = c.get_variable::<i64>("seen").expect("get").expect("exists");
    assert_eq!((v.value, v.version), (0, 1));
    // Compare-and-set through the client: a stale version is a Conflict error.
    c.set_variable("seen", &1, Some(1)).expect("cas");
    let err = c.set_variable("seen", &2, Some(1)).expect_err("stale");
    assert_eq!(
        (err.kind(), err.code(), err.status()),
        (ErrorKind::Conflict, "version_conflict", Some(409))
    );
    assert!(!err.retryable());
    for (k, v) in [
        ("zero", json!(0)),
        ("empty", json!("")),
        ("f", json!(false)),
        ("nil", json!(null)),
    ] {
        c.set_variable(k, &v, None).expect("set");
        assert_eq!(
            c.get_variable::<Value>(k)
                .expect("get")
                .expect("exists")
                .value,
            v,
            "{k} keeps its type"
        );
    }
    assert_eq!(
        c.list_variables().expect("list"),
        ["empty", "f", "nil", "seen", "zero"]
    );
    assert!(c.delete_variable("zero", None).expect("delete"));
    assert!(!c.delete_variable("zero", None).expect("delete again"));
    c.set_condition(true).expect("condition");
    assert_eq!(c.get_condition().expect("condition"), Some(true));
    c.output(&json!({"ok": true})).expect("output");
    assert_eq!(
        c.get_output::<Value>().expect("output"),
        json!({"ok": true})
    );
    let ctx: Value = c.context().expect("context");
    assert_eq!(ctx["eventName"], "orders");
    c.refresh_token().expect("refresh");
    assert_eq!(
        c.input::<Value>().expect("input after refresh")["total"],
        150
    );
    // Client-side key validation: no I/O, Validation kind.
    let err = c.get_variable::<Value>("bad key").expect_err("bad key");
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Validation, "invalid_key")
    );
    // The sidecar saw one persistent connection for all of that.
    assert_eq!(c.connections_opened(), 1);
}

#[test]
fn typed_errors_from_the_server() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u", "--scope", "input:read"]);
    let c = blocking(&s, &e.token);
    let err = c.set_variable("k", &1, None).expect_err("scope");
    assert_eq!(
        (err.kind(), err.code(), err.status()),
        (ErrorKind::Auth, "scope_insufficient", Some(403))
    );
    let bad = blocking(&s, "not-a-token");
    let err = bad.input::<Value>().expect_err("token");
    assert_eq!((err.kind(), err.status()), (ErrorKind::Auth, Some(401)));
    assert!(
        !err.to_string().contains("not-a-token"),
        "errors never carry the token"
    );
    let err = c
        .execute_tool_action::<Value, _>("slack", "send", &json!({}), None)
        .expect_err("scope");
    assert_eq!(err.code(), "scope_insufficient");
    // Nothing listening: a retryable Unavailable error, quickly.
    let gone = BlockingClient::new(
        Config::builder()
            .socket(s.dir.join("nobody.sock"))
            .token(&e.token)
            .max_retries(1)
            .build()
            .expect("config"),
    )
    .expect("client");
    let err = gone.input::<Value>().expect_err("no sidecar");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.retryable());
}

#[test]
fn tcp_transport_and_env_configuration() {
    let s = Sidecar::start();
    let e = s.create(&["--user", "u", "--input", "[1,2,3]"]);
    let url = format!("http://{}", s.tcp_addr());
    // The socket is preferred when it exists, the URL otherwise.
    let cfg = Config::from_lookup(|k| match k {
        "CRONIUM_RUNTIME_SOCKET" => Some(s.dir.join("absent.sock").display().to_string()),
        "CRONIUM_RUNTIME_API" => Some(url.clone()),
        "CRONIUM_EXECUTION_TOKEN" => Some(e.token.clone()),
        "CRONIUM_EXECUTION_ID" => Some(e.id.clone()),
        _ => None,
    })
    .expect("config");
    assert!(
        cfg.endpoint()
            .to_string()
            .contains(&s.tcp_addr().port().to_string()),
        "{}",
        cfg.endpoint()
    );
    let c = BlockingClient::new(cfg).expect("client");
    assert_eq!(c.input::<Value>().expect("input"), json!([1, 2, 3]));
    assert_eq!(c.execution_id(), Some(e.id.as_str()));
}

#[test]
fn async_streams_and_concurrency() {
    let s = Sidecar::start();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("in.ndjson");
    let lines: String = (0..20_000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    std::fs::write(&path, lines).expect("write");
    let e = s.create(&["--user", "u", "--input-stream", path.to_str().expect("p")]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let c = asynchronous(&s, &e.token);
        // Records in → transformed → records out, streaming both ways.
        let mut input = c.stream_input::<Value>().await.expect("stream in");
        let mut out = c.stream_output().await.expect("stream out");
        let mut n = 0u64;
        while let Some(r) = input.next().await {
            let r = r.expect("record");
            out.write(&json!({"double": r["i"].as_i64().expect("i") * 2}))
                .await
                .expect("write");
            n += 1;
        }
        let summary = out.close().await.expect("close");
        assert_eq!((n, summary.records), (20_000, 20_000));
        // Many in-flight calls at once on one client.
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move {
                    c.set_variable(&format!("k{i}"), &i, None)
                        .await
                        .expect("set");
                    c.get_variable::<i64>(&format!("k{i}"))
                        .await
                        .expect("get")
                        .expect("some")
                        .value
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.expect("join"), i as i64);
        }
    });
    let dumped = s.admin(&["executions", "output-stream", &e.id]);
    assert_eq!(dumped.lines().count(), 20_000);
    assert_eq!(dumped.lines().last(), Some("{\"double\":39998}"));
}

#[test]
fn blocking_watch_sees_changes_from_another_process() {
    let a = Sidecar::start();
    let b = Sidecar::start_in(&a.dir, "b.sock", &[]);
    let e = a.create(&["--user", "u"]);
    let watcher = blocking(&a, &e.token);
    let writer = blocking(&b, &e.token);
    let mut changes = watcher.watch_variable::<Value>("flag").expect("watch");
    let start = Instant::now();
    writer
        .set_variable("flag", &json!({"on": true}), None)
        .expect("set");
    let ch = changes.next().expect("a change").expect("ok");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(
        (ch.key.as_str(), ch.value, ch.version, ch.deleted),
        ("flag", Some(json!({"on": true})), Some(1), false)
    );
    writer.delete_variable("flag", None).expect("delete");
    let ch = changes.next().expect("a change").expect("ok");
    assert!(ch.deleted);
}

#[test]
fn a_token_that_expired_while_idle_is_replaced_from_the_token_file() {
    // Tokens live 2 s, with no leeway. Two clients sit idle past their token's expiry,
    // when the API no longer refreshes it: the one without a token file fails with
    // `token_expired`; the one with the file `cronium run` keeps fresh (written here)
    // takes the token there and carries on, async and blocking alike.
    let (s, e) = short_tokens("2s");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    let builder = || Config::builder().socket(&s.socket).token(&e.token);
    let without = blocking(&s, &e.token);
    let with =
        BlockingClient::new(builder().token_file(&file).build().expect("config")).expect("client");
    let with_async = Client::new(builder().token_file(&file).build().expect("config"));
    without.input::<Value>().expect("a fresh token works");
    with.input::<Value>().expect("a fresh token works");
    std::thread::sleep(Duration::from_millis(2500));
    let err = without.input::<Value>().expect_err("the token expired");
    assert_eq!(err.code(), "token_expired", "{err}");

    let fresh = s.admin(&["token", "mint", "--execution", &e.id, "--ttl", "1h"]);
    std::fs::write(&file, format!("{}\n", fresh.trim())).expect("write the token file");
    with.set_variable("idle", &1, None)
        .expect("the file's token is used");
    let read = with.get_variable::<u32>("idle").expect("read");
    assert_eq!(read.map(|v| v.value), Some(1));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(with.token_expires_at().expect("exp") > now + 600);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let read = rt
        .block_on(with_async.get_variable::<u32>("idle"))
        .expect("the async handle too");
    assert_eq!(read.map(|v| v.value), Some(1));
}

#[test]
fn short_lived_tokens_are_refreshed_before_they_expire() {
    // Tokens live 3 s; the client refreshes them ahead of expiry, so a 6 s stream of calls
    // never sees a 401.
    let (s, e) = short_tokens("3s");
    let c = blocking(&s, &e.token);
    let first = c.token_expires_at().expect("exp");
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        c.input::<Value>().expect("every call succeeds");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        c.token_expires_at().expect("exp") > first + 2,
        "the token was replaced"
    );
}
