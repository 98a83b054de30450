//! Several `cronium serve` processes on one PostgreSQL database (the shared store): what
//! one sidecar acknowledges, the others serve; compare-and-set and idempotency keys hold
//! across them; a database that goes away turns writes into 503 and comes back without a
//! restart.
//!
//! The database is a real server started in a temp dir (`cronium_store::temp_postgres`);
//! without PostgreSQL's binaries these tests fail with the reason, they do not skip.

use std::io::Write as _;
use std::time::{Duration, Instant};

use cronium_store::temp_postgres::TempPostgres;

use crate::harness::{http, Sidecar};
use crate::receivers::{HttpReceiver, Reply};

/// Sidecars that read the change log only every hour on their own: a change that reaches
/// another sidecar in time got there through PostgreSQL's `LISTEN/NOTIFY`.
const NO_POLLING: (&str, &str) = ("CRONIUM_CHANGE_POLL_INTERVAL", "1h");

fn database() -> TempPostgres {
    TempPostgres::start().unwrap_or_else(|e| panic!("{e}"))
}

/// `n` sidecars, each in its own state dir (as on separate hosts), on one database.
fn sidecars(url: &str, n: usize) -> Vec<Sidecar> {
    sidecars_with(url, n, &[])
}

/// [`sidecars`] with more settings.
fn sidecars_with(url: &str, n: usize, extra: &[(&str, &str)]) -> Vec<Sidecar> {
    (0..n)
        .map(|_| {
            let mut env = vec![("CRONIUM_DATABASE_URL", url), ("CRONIUM_RATE_LIMIT", "0")];
            env.extend_from_slice(extra);
            Sidecar::start_with(&env)
        })
        .collect()
}

/// Reads `key` through `s` until `want` is answered (another sidecar's write reaches this
/// one's cache through the shared change log), for at most two seconds.
fn eventually(s: &Sidecar, token: &str, key: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let r = s.req(
            "GET",
            &format!("/v1/variables/{key}?raw"),
            Some(token),
            None,
        );
        if r.status == 200 && r.text() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key}: wanted {want}, still {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_sidecars_share_one_database() {
    let pg = database();
    let url = pg.url();
    let s = sidecars(&url, 3);
    // Made by the admin command of the first one; the others know it from the database.
    let e = s[0].create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    let value = r#"{"z":1,"big":123456789012345678901234567890,"f":1.50}"#;
    let r = s[0].req(
        "PUT",
        "/v1/variables/shared",
        Some(&e.token),
        Some(&format!(r#"{{"value":{value}}}"#)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for other in &s[1..] {
        let r = other.req("GET", "/v1/variables/shared", Some(&e.token), None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["data"]["version"], 1);
        eventually(other, &e.token, "shared", value);
    }
    // A change made elsewhere reaches a sidecar that has the old value cached.
    let r = s[2].req(
        "PUT",
        "/v1/variables/shared",
        Some(&e.token),
        Some(r#"{"value":"second"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    eventually(&s[0], &e.token, "shared", "\"second\"");
    eventually(&s[1], &e.token, "shared", "\"second\"");
    // So does a delete.
    assert_eq!(
        s[1].req("DELETE", "/v1/variables/shared", Some(&e.token), None)
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while s[0]
        .req("GET", "/v1/variables/shared", Some(&e.token), None)
        .status
        != 404
    {
        assert!(Instant::now() < deadline, "the delete reached sidecar 0");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Output written through one is the execution's output everywhere.
    let r = s[1].req(
        "PUT",
        "/v1/output",
        Some(&e.token),
        Some(r#"{"data":[1,2]}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s[0].req("GET", "/v1/output", Some(&e.token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"], serde_json::json!([1, 2]), "{}", r.text());
}

/// Compare-and-set across sidecars: clients spread over three sidecars each increment one
/// counter with `If-Match` retries; the final value counts every increment exactly once.
#[test]
fn compare_and_set_across_sidecars_loses_nothing() {
    const CLIENTS: usize = 8;
    const EACH: u64 = 200;
    let pg = database();
    let url = pg.url();
    let s = std::sync::Arc::new(sidecars(&url, 3));
    let e = s[0].create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let s = s.clone();
            let token = e.token.clone();
            std::thread::spawn(move || {
                let side = &s[c % 3];
                for _ in 0..EACH {
                    loop {
                        let r = side.req("GET", "/v1/variables/n", Some(&token), None);
                        let (n, version) = match r.status {
                            404 => (0, 0),
                            200 => {
                                let v = r.json();
                                (
                                    v["data"]["value"].as_u64().expect("number"),
                                    v["data"]["version"].as_u64().expect("version"),
                                )
                            }
                            other => panic!("GET answered {other}: {}", r.text()),
                        };
                        let body = format!(r#"{{"value":{}}}"#, n + 1);
                        let version = version.to_string();
                        let r = side.request(
                            "PUT",
                            "/v1/variables/n",
                            &[
                                ("Authorization", &format!("Bearer {token}")),
                                ("Content-Type", "application/json"),
                                ("If-Match", &version),
                            ],
                            Some(body.as_bytes()),
                        );
                        match r.status {
                            200 => break,
                            // A stale read (another sidecar wrote since): read again.
                            409 => std::thread::sleep(Duration::from_millis(2)),
                            other => panic!("PUT answered {other}: {}", r.text()),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let total = (CLIENTS as u64 * EACH).to_string();
    for side in s.iter() {
        eventually(side, &e.token, "n", &total);
    }
}

/// The database stops under a running sidecar: writes answer 503 `storage_unavailable`
/// with `Retry-After` (never a false success) and `/ready` fails; when it is back the same
/// process serves again and the acknowledged write is there.
#[test]
fn database_down_is_503_then_recovers_without_restart() {
    let pg = database();
    let url = pg.url();
    let s = sidecars(&url, 1).remove(0);
    let e = s.create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    let put = |v: &str| {
        s.req(
            "PUT",
            "/v1/variables/k",
            Some(&e.token),
            Some(&format!(r#"{{"value":{v}}}"#)),
        )
    };
    assert_eq!(put("1").status, 200);
    assert_eq!(s.req("GET", "/ready", None, None).status, 200);
    pg.stop().expect("stop the database");
    let r = put("2");
    r.expect_error(503, "storage_unavailable");
    assert!(r.header("retry-after").is_some(), "Retry-After is set");
    assert_eq!(s.req("GET", "/ready", None, None).status, 503);
    assert!(
        !s.log().contains("postgres@127.0.0.1"),
        "the log names no database URL"
    );
    pg.restart().expect("start the database again");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.req("GET", "/ready", None, None).status != 200 {
        assert!(Instant::now() < deadline, "ready again: {}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = s.req("GET", "/v1/variables/k", Some(&e.token), None);
    assert_eq!(
        (
            r.json()["data"]["value"].clone(),
            r.json()["data"]["version"].clone()
        ),
        (serde_json::json!(1), serde_json::json!(1)),
        "the acknowledged write is kept, the refused one is not there"
    );
    assert_eq!(put("3").status, 200);
}

/// A tool action sent with one idempotency key to two sidecars at once is delivered once
/// (a real local receiver counts), and both callers get its result.
#[test]
fn one_delivery_for_one_key_across_sidecars() {
    let pg = database();
    let url = pg.url();
    let key = "A".repeat(43);
    let env = [
        ("CRONIUM_DATABASE_URL", url.as_str()),
        ("CRONIUM_CREDENTIALS_KEY", key.as_str()),
        ("CRONIUM_TOOLS_RETRY_BACKOFF", "10ms"),
    ];
    let s: Vec<_> = (0..2).map(|_| Sidecar::start_with(&env)).collect();
    let slack = HttpReceiver::start(Reply::Status(200, "ok"));
    let cfg = serde_json::json!({"webhook_url": slack.url("/hook/pg-idem")}).to_string();
    let mut add = crate::harness::cronium()
        .envs(env)
        .arg("--state-dir")
        .arg(&s[0].dir)
        .args([
            "tools", "add", "--user", "u1", "--tool", "slack", "--name", "default", "--config", "-",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("tools add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(cfg.as_bytes())
        .expect("write config");
    assert!(add.wait().expect("tools add").success());
    let e = s[0].create_with_env(&["--user", "u1", "--ttl", "1h"], &env);
    for round in 0..3 {
        slack.then(&[Reply::Slow(Duration::from_millis(300), 200, "ok")]);
        let idem = format!("key-{round}");
        let answers: Vec<_> = s
            .iter()
            .map(|side| {
                let (sock, token, idem) = (side.socket.clone(), e.token.clone(), idem.clone());
                std::thread::spawn(move || {
                    let auth = format!("Bearer {token}");
                    let stream = std::os::unix::net::UnixStream::connect(sock).expect("connect");
                    http(
                        stream,
                        "POST",
                        "/v1/tool-actions/execute",
                        &[("Authorization", &auth), ("Idempotency-Key", &idem)],
                        Some(
                            br#"{"tool":"slack","action":"send-message","params":{"text":"once"}}"#,
                        ),
                    )
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("caller"))
            .collect();
        assert!(
            answers.iter().all(|a| a.status == 200),
            "{:?}",
            answers.iter().map(|a| a.text()).collect::<Vec<_>>()
        );
        assert_eq!(answers[0].body, answers[1].body, "both get the one result");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(slack.count(), round + 1, "one delivery per key");
    }
}

/// A write loop through a sidecar while PostgreSQL stops and starts again, and then while
/// the sidecar is killed with SIGKILL: every acknowledged write is in the database
/// afterwards (read through a fresh sidecar), and while the database was down writes
/// answered 503, never 2xx.
#[test]
fn acknowledged_writes_survive_database_restart_and_kill_9() {
    let pg = database();
    let url = pg.url();
    let mut s = sidecars(&url, 1).remove(0);
    let e = s.create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (sock, token, stop) = (s.socket.clone(), e.token.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut acked, mut refused) = (Vec::new(), Vec::new());
            for i in 0u64.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = std::os::unix::net::UnixStream::connect(&sock) else {
                    break;
                };
                let body = format!(r#"{{"value":{i}}}"#);
                let auth = format!("Bearer {token}");
                let r = std::panic::catch_unwind(|| {
                    http(
                        stream,
                        "PUT",
                        &format!("/v1/variables/k{}", i % 20),
                        &[
                            ("Authorization", &auth),
                            ("Content-Type", "application/json"),
                        ],
                        Some(body.as_bytes()),
                    )
                });
                match r {
                    Ok(r) if r.status == 200 => acked.push(i),
                    Ok(r) => {
                        assert_eq!(r.status, 503, "only 200 or 503: {}", r.text());
                        assert_eq!(r.code(), "storage_unavailable");
                        refused.push(i);
                    }
                    // The sidecar was killed mid-request: no answer, not acknowledged.
                    Err(_) => break,
                }
            }
            (acked, refused)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    pg.stop().expect("stop the database");
    std::thread::sleep(Duration::from_millis(300));
    pg.restart().expect("start the database again");
    std::thread::sleep(Duration::from_millis(1500));
    s.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acked, refused) = writer.join().expect("writer");
    let Some(&down) = refused.first() else {
        panic!("no write was refused while the database was down")
    };
    assert!(
        acked.iter().any(|&i| i > down),
        "writes were acknowledged again after the restart, without restarting the sidecar"
    );
    let mut last = std::collections::HashMap::new();
    for i in &acked {
        last.insert(i % 20, *i);
    }
    let fresh = sidecars(&url, 1).remove(0);
    for (k, v) in last {
        let r = fresh.req(
            "GET",
            &format!("/v1/variables/k{k}?raw"),
            Some(&e.token),
            None,
        );
        let got: u64 = r
            .text()
            .parse()
            .unwrap_or_else(|_| panic!("k{k}: {}", r.text()));
        assert!(got >= v, "k{k}: acknowledged {v}, found {got}");
    }
}

/// `cronium migrate-store --check` tells whether the database is current (exit 1 when not,
/// changing nothing); `cronium migrate-store` makes it current; SQLite has nothing to do.
#[test]
fn migrate_store_checks_and_migrates() {
    let pg = database();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str], url: Option<&str>| {
        let mut c = crate::harness::cronium();
        if let Some(url) = url {
            c.env("CRONIUM_DATABASE_URL", url);
        }
        let out = c
            .arg("--state-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .expect("run migrate-store");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = format!(
        "postgres://postgres:pw-never-shown@127.0.0.1:{}/postgres",
        pg.port()
    );
    let (code, _, err) = run(&["migrate-store", "--check"], Some(&url));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("version 0 of"), "{err}");
    assert!(
        !err.contains("pw-never-shown") && err.contains("***"),
        "{err}"
    );
    let (code, out, err) = run(&["migrate-store", "--check"], Some(&url));
    assert_eq!(code, Some(1), "a check changes nothing: {out}{err}");
    let (code, out, err) = run(&["migrate-store"], Some(&url));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("current, version"), "{out}");
    let (code, out, err) = run(&["migrate-store", "--check"], Some(&url));
    assert_eq!((code, out.contains("current")), (Some(0), true), "{err}");
    let (code, out, _) = run(&["migrate-store", "--check"], None);
    assert_eq!((code, out.contains("SQLite")), (Some(0), true), "{out}");
}

/// Issue 14: a finish made through one sidecar's admin command reaches every sidecar on the
/// database through the shared change log, each with the execution cached: every one then
/// answers its token `410 execution_finished`, and an execution named after its job (the
/// orchestrator's `--id`) is found by all.
#[test]
fn a_finish_reaches_every_sidecar_on_the_database() {
    let pg = database();
    let url = pg.url();
    let s = sidecars(&url, 2);
    let env = [("CRONIUM_DATABASE_URL", url.as_str())];
    let e = s[0].create_with_env(&["--id", "job_pg_1", "--user", "u1"], &env);
    assert_eq!(e.id, "job_pg_1");
    for sc in &s {
        let r = sc.req("GET", "/v1/context", Some(&e.token), None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let out = s[1]
        .command()
        .envs(env)
        .args(["executions", "finish", &e.id, "--exit-code", "0"])
        .output()
        .expect("finish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for sc in &s {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = sc.req("GET", "/v1/context", Some(&e.token), None);
            if r.status == 410 {
                assert_eq!(r.code(), "execution_finished");
                break;
            }
            assert!(Instant::now() < deadline, "still {} {}", r.status, r.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let again = s[0]
        .command()
        .envs(env)
        .args(["executions", "finish", &e.id])
        .output()
        .expect("finish again");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("execution_finished"));
}

/// `n` sidecars on one database that learn of each other's changes only through
/// notifications (see [`NO_POLLING`]).
fn pushed_sidecars(url: &str, n: usize) -> Vec<Sidecar> {
    sidecars_with(url, n, &[NO_POLLING])
}

/// A watch of `key` through `s`, read on a thread: each change arrives on the channel with
/// the time it arrived, so a test can wait for one with a deadline or see that none came.
fn watch(
    s: &Sidecar,
    token: &str,
    key: &str,
) -> std::sync::mpsc::Receiver<(Instant, serde_json::Value)> {
    let client = cronium_client::BlockingClient::new(
        cronium_client::Config::builder()
            .socket(&s.socket)
            .token(token)
            .build()
            .expect("config"),
    )
    .expect("client");
    let changes = client
        .watch_variable::<serde_json::Value>(key)
        .expect("watch");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _client = client;
        for ch in changes {
            let Ok(ch) = ch else { return };
            if tx
                .send((Instant::now(), ch.value.unwrap_or_default()))
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

/// A write through one sidecar reaches a watch and the cache on another through
/// `LISTEN/NOTIFY`: with their own change-log reads an hour apart, only the notification
/// can bring it in time.
#[test]
fn changes_reach_other_sidecars_through_notify() {
    let pg = database();
    let url = pg.url();
    let s = pushed_sidecars(&url, 2);
    let e = s[0].create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    // Cached on the second sidecar before the first one changes it.
    assert_eq!(
        s[1].req("GET", "/v1/variables/n", Some(&e.token), None)
            .status,
        404
    );
    let changes = watch(&s[1], &e.token, "n");
    let mut latencies = Vec::new();
    for i in 0..20 {
        let start = Instant::now();
        let r = s[0].req(
            "PUT",
            "/v1/variables/n",
            Some(&e.token),
            Some(&format!(r#"{{"value":{i}}}"#)),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let (at, value) = changes
            .recv_timeout(Duration::from_secs(5))
            .expect("the change reached the other sidecar's watch");
        assert_eq!(value, serde_json::json!(i));
        latencies.push(at.duration_since(start));
    }
    latencies.sort();
    eprintln!(
        "cross-sidecar watch latency: p50 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    // The cache of the second sidecar follows too (it had the key cached as absent).
    eventually(&s[1], &e.token, "n", "19");
}

/// A notification sent while a sidecar's listener connection is gone is not lost: the
/// listener reconnects and the sidecar catches up from the change log.
#[test]
fn a_change_missed_while_the_listener_is_away_arrives_after_it_reconnects() {
    let pg = database();
    let url = pg.url();
    let s = pushed_sidecars(&url, 2);
    let e = s[0].create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    let changes = watch(&s[1], &e.token, "k");
    let put = |v: u32| {
        let r = s[0].req(
            "PUT",
            "/v1/variables/k",
            Some(&e.token),
            Some(&format!(r#"{{"value":{v}}}"#)),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    put(1);
    let (_, v) = changes
        .recv_timeout(Duration::from_secs(5))
        .expect("listening");
    assert_eq!(v, serde_json::json!(1));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Connected to another database of the server: PostgreSQL refuses to close the one a
    // session is in to new connections.
    let admin_url = format!("{}/template1", url.trim_end_matches("/postgres"));
    let admin = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(conn);
        client
    });
    let sql = |q: &str| -> Vec<tokio_postgres::SimpleQueryMessage> {
        rt.block_on(admin.simple_query(q))
            .unwrap_or_else(|e| panic!("{q}: {e:?}"))
    };
    let listeners = || {
        sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'cronium-listener'")
            .iter()
            .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
            .count()
    };
    assert_eq!(listeners(), 2, "one listener connection per sidecar");
    // No new connection can be made (the sidecars' pooled ones stay), then the listeners'
    // connections are cut: they cannot come back until connections are allowed again.
    sql("ALTER DATABASE postgres WITH ALLOW_CONNECTIONS false");
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cronium-listener'");
    let deadline = Instant::now() + Duration::from_secs(5);
    while listeners() > 0 {
        assert!(Instant::now() < deadline, "the listeners went away");
        std::thread::sleep(Duration::from_millis(10));
    }
    put(2);
    assert!(
        changes.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing can deliver the change while the listener is away"
    );
    sql("ALTER DATABASE postgres WITH ALLOW_CONNECTIONS true");
    let (_, v) = changes
        .recv_timeout(Duration::from_secs(15))
        .expect("the missed change, caught up from the log after the listener reconnected");
    assert_eq!(v, serde_json::json!(2));
    eventually(&s[1], &e.token, "k", "2");
    // And it listens again.
    put(3);
    let (_, v) = changes
        .recv_timeout(Duration::from_secs(5))
        .expect("listening again");
    assert_eq!(v, serde_json::json!(3));
}

/// client-core rides out a database restart on an idempotent call: the sidecar answers
/// `503 storage_unavailable` with `Retry-After` while the database is down, and the client
/// waits as asked and sends again until the write is acknowledged.
#[test]
fn client_core_retries_idempotent_calls_through_a_database_restart() {
    let pg = database();
    let url = pg.url();
    let s = sidecars(&url, 1).remove(0);
    let e = s.create_with_env(
        &["--user", "u1", "--ttl", "1h"],
        &[("CRONIUM_DATABASE_URL", &url)],
    );
    let client = cronium_client::BlockingClient::new(
        cronium_client::Config::builder()
            .socket(&s.socket)
            .token(&e.token)
            .timeout(Duration::from_secs(60))
            .max_retries(30)
            .build()
            .expect("config"),
    )
    .expect("client");
    client.set_variable("k", &1, None).expect("set while up");
    pg.stop().expect("stop the database");
    let writer = std::thread::spawn(move || {
        let start = Instant::now();
        let meta = client.set_variable("k", &2, None);
        (meta.map(|m| m.version), start.elapsed(), client)
    });
    std::thread::sleep(Duration::from_millis(1500));
    pg.restart().expect("start the database again");
    let (version, took, client) = writer.join().expect("writer");
    assert_eq!(version.expect("acknowledged after the restart"), 2);
    assert!(took >= Duration::from_millis(1000), "it waited: {took:?}");
    let v = client.get_variable::<i64>("k").expect("get").expect("some");
    assert_eq!((v.value, v.version), (2, 2));
}

/// `cronium run` on two hosts (two state dirs) with one PostgreSQL store: the second run
/// sees the variables the first one left, and the admin commands read the executions from
/// the database, not from a state dir.
#[test]
fn cronium_run_uses_the_postgres_store() {
    use crate::run::{examples, stderr, Bench};
    let pg = database();
    let url = pg.url();
    let hello = examples().join("hello.sh");
    let hello = hello.to_str().expect("path");
    let run = |b: &Bench, name: &str| {
        let out = b
            .cmd(&[
                "--json",
                "--user",
                "ada",
                hello,
                "--input",
                &format!(r#"{{"name":"{name}"}}"#),
            ])
            .env("CRONIUM_DATABASE_URL", &url)
            .output()
            .expect("run cronium run");
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        doc
    };
    let (first_host, second_host) = (Bench::new(), Bench::new());
    let doc = run(&first_host, "Ada");
    assert_eq!(doc["output"]["count"], 1, "{doc}");
    let doc = run(&second_host, "Bo");
    assert_eq!(
        doc["output"]["count"], 2,
        "the first host's variables: {doc}"
    );
    assert!(
        !second_host.state().join("cronium.db").exists(),
        "no SQLite store was made"
    );
    let id = doc["executionId"].as_str().expect("id");
    let show = crate::harness::cronium()
        .arg("--state-dir")
        .arg(first_host.state())
        .args(["executions", "show", id, "--json"])
        .env("CRONIUM_DATABASE_URL", &url)
        .output()
        .expect("show");
    assert!(show.status.success(), "{}", stderr(&show));
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(shown["output"]["greeting"], "Hello, Bo!");
}
