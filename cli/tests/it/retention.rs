//! Issue 14, retention: a sidecar prunes in the background what ended executions left
//! behind (streams, audit entries) once they are older than `[retention]`'s ages; a running
//! execution's and every variable stay. `cronium gc` prunes once and says what it pruned.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// Writes a variable, an output stream and an output for `e` through the API.
fn produce(s: &Sidecar, e: &Execution, key: &str) {
    let auth = format!("Bearer {}", e.token);
    let r = s.req(
        "PUT",
        &format!("/v1/variables/{key}"),
        Some(&e.token),
        Some(r#"{"value":"kept"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.request(
        "POST",
        "/v1/output/stream",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-ndjson"),
        ],
        Some(b"{\"row\":1}\n{\"row\":2}\n"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

fn show(s: &Sidecar, id: &str) -> Value {
    serde_json::from_str(&s.admin(&["executions", "show", id, "--json"])).expect("show json")
}

#[test]
fn background_pruning_removes_ended_executions_streams_and_audit_only() {
    let s = Sidecar::start_with(&[
        ("CRONIUM_RETENTION_INTERVAL", "1s"),
        ("CRONIUM_RETENTION_STREAMS_AFTER", "2s"),
        ("CRONIUM_RETENTION_AUDIT_AFTER", "2s"),
        ("CRONIUM_RETENTION_BATCH", "1"),
    ]);
    let done = s.create(&["--user", "ada"]);
    let running = s.create(&["--user", "ada"]);
    produce(&s, &done, "from_done");
    produce(&s, &running, "from_running");
    s.admin(&["executions", "finish", &done.id, "--status", "succeeded"]);
    assert_eq!(
        s.admin(&["executions", "output-stream", &done.id])
            .lines()
            .count(),
        2,
        "kept until the age is reached"
    );

    // Batches of one row: the sidecar needs several to empty the finished execution.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let streamed = s.admin(&["executions", "output-stream", &done.id]);
        let audit = show(&s, &done.id)["audit"].as_array().map_or(0, Vec::len);
        if streamed.is_empty() && audit == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still there after 20 s: {streamed:?}, {audit} audit entries"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let kept = show(&s, &done.id);
    assert_eq!(kept["status"], "finished", "the execution itself stays");
    assert_eq!(kept["outcome"], "succeeded");
    assert_eq!(
        s.admin(&["executions", "output-stream", &running.id])
            .lines()
            .count(),
        2,
        "a running execution's stream stays"
    );
    assert!(
        !show(&s, &running.id)["audit"]
            .as_array()
            .expect("audit")
            .is_empty(),
        "a running execution's audit stays"
    );
    let vars = s.admin(&["variables", "list", "--user", "ada"]);
    assert!(
        vars.contains("from_done") && vars.contains("from_running"),
        "variables are never pruned: {vars}"
    );
    // The running execution still works.
    let r = s.req("GET", "/v1/variables/from_done", Some(&running.token), None);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn gc_prunes_once_and_says_what_it_pruned() {
    // Background pruning off: only `cronium gc` prunes here.
    let s = Sidecar::start_with(&[("CRONIUM_RETENTION_INTERVAL", "off")]);
    let done = s.create(&["--user", "ada"]);
    let running = s.create(&["--user", "ada"]);
    produce(&s, &done, "a");
    produce(&s, &running, "b");
    s.admin(&["executions", "finish", &done.id, "--status", "failed"]);

    let gc = |age: &str, json: bool| {
        let mut cmd = cronium();
        cmd.arg("--state-dir")
            .arg(&s.dir)
            .arg("gc")
            .env("CRONIUM_RETENTION_STREAMS_AFTER", age)
            .env("CRONIUM_RETENTION_AUDIT_AFTER", age)
            .env("CRONIUM_TOKEN_SECRET", SECRET);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("run gc");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let none = gc("1h", true);
    let none: Value = serde_json::from_str(&none).expect("json");
    assert_eq!(none["streamBlocks"], 0, "younger than the age: {none}");
    assert_eq!(none["auditEntries"], 0);

    let line = gc("0s", false);
    assert!(
        line.starts_with(
            "pruned 1 stream block (20 bytes) and 2 audit entries of 1 ended execution"
        ),
        "{line}"
    );
    assert!(s
        .admin(&["executions", "output-stream", &done.id])
        .is_empty());
    assert_eq!(
        s.admin(&["executions", "output-stream", &running.id])
            .lines()
            .count(),
        2
    );
    let again: Value = serde_json::from_str(&gc("0s", true)).expect("json");
    assert_eq!(again["executions"], 0, "nothing left to prune: {again}");

    // A bad age is one line and exit 2.
    let out = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .arg("gc")
        .env("CRONIUM_RETENTION_AUDIT_AFTER", "soon")
        .env("CRONIUM_TOKEN_SECRET", SECRET)
        .output()
        .expect("run gc");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CRONIUM_RETENTION_AUDIT_AFTER"), "{err}");
}
