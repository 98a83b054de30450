//! Issue 18, item 7: `cronium executions show` says in one screen what a run did (exit
//! code, duration, the output stream's last records, the audit log in words), and
//! `executions list` names the event, never a bare generated id.

use serde_json::Value;

use crate::harness::*;

#[test]
fn show_and_list_say_what_a_run_did() {
    let s = Sidecar::start();
    let unnamed = s.create(&["--user", "ada"]);
    let named = s.create(&["--user", "ada", "--event", "nightly"]);
    let t = Some(unnamed.token.as_str());
    assert_eq!(
        s.req("PUT", "/v1/variables/runs", t, Some(r#"{"value":1}"#))
            .status,
        200
    );
    let mut records = String::new();
    for i in 0..7 {
        records.push_str(&format!("{{\"row\":{i}}}\n"));
    }
    let r = s.request(
        "POST",
        "/v1/output/stream",
        &[
            ("Authorization", &format!("Bearer {}", unnamed.token)),
            ("Content-Type", "application/x-ndjson"),
        ],
        Some(records.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.req("POST", "/v1/token/refresh", t, None).status, 200);
    s.admin(&[
        "executions",
        "finish",
        &unnamed.id,
        "--status",
        "failed",
        "--exit-code",
        "3",
    ]);

    let text = s.admin(&["executions", "show", &unnamed.id]);
    for want in [
        "exit code      3\n",
        "output stream  7 records, 70 bytes; the last 5:\n  {\"row\":2}\n",
        "  {\"row\":6}\naudit          3 entries\n",
        "  set variable runs\n",
        "  refreshed its token\n",
        "  finished: failed\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let duration = text
        .lines()
        .find_map(|l| l.strip_prefix("duration       "))
        .expect("a duration line");
    assert!(duration.ends_with(" s"), "{duration}");
    assert!(
        text.contains("event          - (id "),
        "no event name is shown as -: {text}"
    );
    assert!(text.lines().count() < 40, "one screen: {text}");

    let doc: Value = serde_json::from_str(&s.admin(&["executions", "show", &unnamed.id, "--json"]))
        .expect("json");
    assert_eq!(doc["exitCode"], 3);
    assert!(
        doc["durationMs"].as_i64().is_some_and(|ms| ms >= 0),
        "{doc}"
    );
    assert_eq!(doc["outputTail"].as_array().map(Vec::len), Some(5));
    assert_eq!(doc["outputTail"][4]["row"], 6);
    assert_eq!(doc["audit"][0]["summary"], "set variable runs");

    let list = s.admin(&["executions", "list"]);
    let line = |id: &str| {
        list.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{list}"))
            .to_owned()
    };
    assert!(line(&named.id).contains("event=nightly"), "{list}");
    let unnamed_line = line(&unnamed.id);
    assert!(unnamed_line.contains("event=-"), "{unnamed_line}");
    assert!(
        !unnamed_line.contains(&unnamed.event_id),
        "never the generated event id: {unnamed_line}"
    );
}
