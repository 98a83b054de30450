//! The behaviour every [`Store`] must have, as one suite any implementation runs against a
//! real instance of itself: `cronium_store::conformance::run(|| make_a_fresh_store()).await`.
//!
//! Each check gets a fresh, empty store from `make`, so checks do not see each other's
//! rows. A failed check panics with what it expected (this is test code). SQLite runs it
//! on fresh files, PostgreSQL on fresh schemas of a real server
//! ([`crate::temp_postgres::TempPostgres`]).
//!
//! Durability across a restart is not here: how a store is reopened is its own business,
//! so each implementation tests it beside its own code.

use crate::{
    now_unix, prune_all, Actor, Execution, ExecutionStatus, Finish, IdempotencyClaim, NewExecution,
    Pruned, Retention, SealedCredential, Store, StoreError, StreamStats, VariableChange,
};

/// Runs every check, each on a fresh store from `make`.
pub async fn run<S: Store>(make: impl Fn() -> S) {
    executions(&make()).await;
    output_and_condition(&make()).await;
    variables_versions_and_cas(&make()).await;
    change_log_order(&make()).await;
    streams(&make()).await;
    idempotency_claims(&make()).await;
    credentials(&make()).await;
    audit(&make()).await;
    unknown_execution(&make()).await;
    lifecycle(&make()).await;
    retention(&make()).await;
}

async fn execution(s: &impl Store, user: &str) -> Execution {
    s.create_execution(&NewExecution {
        user_id: user.into(),
        event_name: Some("nightly".into()),
        input: Some(r#"{"n":12345678901234567890123}"#.into()),
        context: Some(r#"{"region":"eu"}"#.into()),
        expires_at: now_unix() + 60,
        ..Default::default()
    })
    .await
    .expect("create an execution")
}

fn actor<'a>(e: &'a Execution) -> Actor<'a> {
    Actor {
        execution_id: &e.id,
        user_id: &e.user_id,
    }
}

/// Executions: ids are unique, JSON is kept byte for byte, the report and the list see them.
pub async fn executions(s: &impl Store) {
    s.ping().await.expect("ping");
    let a = execution(s, "u1").await;
    let b = execution(s, "u2").await;
    assert_ne!(a.id, b.id, "execution ids are unique");
    let got = s.execution(&a.id).await.expect("read").expect("exists");
    assert_eq!(got.user_id, "u1");
    assert_eq!(
        got.input.as_deref(),
        Some(r#"{"n":12345678901234567890123}"#),
        "input is kept byte for byte"
    );
    assert_eq!(got.context.as_deref(), Some(r#"{"region":"eu"}"#));
    assert_eq!(got.event_name.as_deref(), Some("nightly"));
    assert!(!got.event_id.is_empty(), "an event id is generated");
    assert!(s.execution("nope").await.expect("read").is_none());
    assert!(s.execution_report("nope").await.expect("report").is_none());
    let r = s
        .execution_report(&a.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(r.execution.id, a.id);
    assert_eq!((r.output.as_deref(), r.condition), (None, None));
    assert_eq!(r.output_stream, StreamStats::default());
    let list = s.list_executions(10).await.expect("list");
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|e| e.event_name.as_deref() == Some("nightly")),
        "the list names the event"
    );
    assert_eq!(list[0].id, b.id, "most recent first");
    assert_eq!(s.list_executions(1).await.expect("list").len(), 1, "limit");
}

/// Output and condition: last write wins, the report shows them.
pub async fn output_and_condition(s: &impl Store) {
    let e = execution(s, "u").await;
    assert_eq!(s.output(&e.id).await.expect("output"), None);
    s.set_output(actor(&e), "[1,2]").await.expect("set");
    s.set_output(actor(&e), r#"{"big":12345678901234567890}"#)
        .await
        .expect("set again");
    assert_eq!(
        s.output(&e.id).await.expect("output").as_deref(),
        Some(r#"{"big":12345678901234567890}"#)
    );
    assert_eq!(s.condition(&e.id).await.expect("condition"), None);
    s.set_condition(actor(&e), true).await.expect("condition");
    s.set_condition(actor(&e), false).await.expect("condition");
    assert_eq!(s.condition(&e.id).await.expect("condition"), Some(false));
    let r = s
        .execution_report(&e.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(r.condition, Some(false));
    assert!(r.output.is_some());
    let listed = s.list_executions(10).await.expect("list");
    assert!(listed[0].has_output);
    assert_eq!(listed[0].status, ExecutionStatus::Created);
}

/// Variables: versions count from 1, `If-Match` compares (0 = must not exist), users are
/// isolated, deletes say whether something was there.
pub async fn variables_versions_and_cas(s: &impl Store) {
    let e = execution(s, "u1").await;
    let a = actor(&e);
    let c1 = s.set_variable(a, "k", "0", None).await.expect("set");
    assert_eq!(c1.version, Some(1));
    let c2 = s.set_variable(a, "k", "null", Some(1)).await.expect("cas");
    assert_eq!(c2.version, Some(2));
    assert!(c2.seq > c1.seq, "change positions grow");
    let v = s.variable("u1", "k").await.expect("get").expect("exists");
    assert_eq!((v.value.as_str(), v.version), ("null", 2));
    match s.set_variable(a, "k", "1", Some(1)).await {
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2,
        }) => {}
        other => panic!("a stale If-Match is a conflict, got {other:?}"),
    }
    match s.set_variable(a, "k", "1", Some(0)).await {
        Err(StoreError::Conflict {
            expected: 0,
            actual: 2,
        }) => {}
        other => panic!("If-Match 0 on an existing variable is a conflict, got {other:?}"),
    }
    match s.set_variable(a, "absent", "1", Some(3)).await {
        Err(StoreError::Conflict {
            expected: 3,
            actual: 0,
        }) => {}
        other => panic!("If-Match on an absent variable is a conflict, got {other:?}"),
    }
    assert!(matches!(
        s.set_variable(a, "new", "1", Some(0)).await,
        Ok(VariableChange {
            version: Some(1),
            ..
        })
    ));
    let v = s.variable("u1", "k").await.expect("get").expect("exists");
    assert_eq!(v.version, 2, "a refused write changes nothing");
    assert!(
        s.variable("u2", "k").await.expect("get").is_none(),
        "users are isolated"
    );
    let big = r#"{"n":123456789012345678901234567890,"s":"é"}"#;
    s.set_variable(a, "big", big, None).await.expect("set");
    assert_eq!(
        s.variable("u1", "big")
            .await
            .expect("get")
            .expect("exists")
            .value,
        big,
        "values are kept byte for byte"
    );
    match s.delete_variable(a, "k", Some(1)).await {
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2,
        }) => {}
        other => panic!("a stale If-Match on delete is a conflict, got {other:?}"),
    }
    let del = s.delete_variable(a, "k", Some(2)).await.expect("delete");
    assert!(del.is_some_and(|c| c.value.is_none() && c.version.is_none()));
    assert!(s
        .delete_variable(a, "k", None)
        .await
        .expect("again")
        .is_none());
    assert_eq!(
        s.variable_keys("u1").await.expect("keys"),
        vec!["big", "new"],
        "keys are sorted"
    );
    let v = s.set_variable(a, "k", "5", None).await.expect("recreate");
    assert_eq!(v.version, Some(1), "a deleted variable starts again at 1");
}

/// The change log: every write and delete in order, paged by position.
pub async fn change_log_order(s: &impl Store) {
    assert_eq!(s.last_change_seq().await.expect("seq"), 0, "empty log");
    let e = execution(s, "u").await;
    let a = actor(&e);
    s.set_variable(a, "a", "1", None).await.expect("set");
    s.set_variable(a, "b", "2", None).await.expect("set");
    s.set_variable(a, "a", "3", None).await.expect("set");
    s.delete_variable(a, "b", None).await.expect("delete");
    let all = s.changes_since(0, 100).await.expect("changes");
    let seen: Vec<_> = all
        .iter()
        .map(|c| (c.key.as_str(), c.value.as_deref(), c.version))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", Some("1"), Some(1)),
            ("b", Some("2"), Some(1)),
            ("a", Some("3"), Some(2)),
            ("b", None, None),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
    assert!(all.iter().all(|c| c.user_id == "u"));
    assert_eq!(s.last_change_seq().await.expect("seq"), all[3].seq);
    let page = s.changes_since(all[0].seq, 2).await.expect("page");
    assert_eq!(
        page.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [all[1].seq, all[2].seq],
        "after a position, at most the limit"
    );
    assert!(s
        .changes_since(all[3].seq, 10)
        .await
        .expect("end")
        .is_empty());
}

/// Input and output streams: blocks come back in order, with their totals.
pub async fn streams(s: &impl Store) {
    let e = execution(s, "u").await;
    let other = execution(s, "u").await;
    s.append_input_stream(&e.id, b"{\"i\":1}\n", 1)
        .await
        .expect("in");
    s.append_input_stream(&e.id, b"{\"i\":2}\n{\"i\":3}\n", 2)
        .await
        .expect("in");
    let (p1, b1) = s
        .input_stream_block(&e.id, 0)
        .await
        .expect("read")
        .expect("block");
    assert_eq!(b1, b"{\"i\":1}\n");
    let (p2, b2) = s
        .input_stream_block(&e.id, p1)
        .await
        .expect("read")
        .expect("block");
    assert_eq!(b2, b"{\"i\":2}\n{\"i\":3}\n");
    assert!(p2 > p1);
    assert!(s
        .input_stream_block(&e.id, p2)
        .await
        .expect("read")
        .is_none());
    assert!(
        s.input_stream_block(&other.id, 0)
            .await
            .expect("read")
            .is_none(),
        "streams belong to their execution"
    );
    s.append_output_stream(actor(&e), b"{\"a\":1}\n{\"a\":2}\n", 2)
        .await
        .expect("out");
    s.append_output_stream(actor(&e), b"{\"a\":3}\n", 1)
        .await
        .expect("out");
    let mut read = Vec::new();
    let mut after = 0;
    while let Some((pos, block)) = s.output_stream_block(&e.id, after).await.expect("read") {
        assert!(pos > after);
        read.extend_from_slice(&block);
        after = pos;
    }
    assert_eq!(read, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    let r = s
        .execution_report(&e.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(
        r.input_stream,
        StreamStats {
            records: 3,
            bytes: 24
        }
    );
    assert_eq!(
        r.output_stream,
        StreamStats {
            records: 3,
            bytes: 24
        }
    );
}

/// Idempotency claims: one holder per key and execution; a finished claim replays its
/// outcome; a released one can be claimed again.
pub async fn idempotency_claims(s: &impl Store) {
    assert_eq!(
        s.claim_idempotency("e1", "k", "fp").await.expect("claim"),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        s.claim_idempotency("e1", "k", "fp").await.expect("again"),
        IdempotencyClaim::Pending {
            fingerprint: "fp".into()
        }
    );
    assert_eq!(
        s.claim_idempotency("e2", "k", "fp").await.expect("other"),
        IdempotencyClaim::Claimed,
        "keys belong to their execution"
    );
    s.release_idempotency("e2", "k").await.expect("release");
    assert_eq!(
        s.claim_idempotency("e2", "k", "fp").await.expect("freed"),
        IdempotencyClaim::Claimed
    );
    s.finish_idempotency("e1", "k", r#"{"ok":true}"#)
        .await
        .expect("finish");
    s.release_idempotency("e1", "k").await.expect("release");
    assert_eq!(
        s.claim_idempotency("e1", "k", "other").await.expect("done"),
        IdempotencyClaim::Done {
            fingerprint: "fp".into(),
            outcome: r#"{"ok":true}"#.into()
        },
        "a finished claim is not released and keeps its fingerprint"
    );
}

/// Credentials: per user, replaced in place, listed without ciphertext, audited.
pub async fn credentials(s: &impl Store) {
    let c = |user: &str, name: &str| SealedCredential {
        user_id: user.into(),
        tool: "slack".into(),
        name: name.into(),
        key_id: "fp".into(),
        sealed: vec![1, 2, 3],
        created_at: String::new(),
        updated_at: String::new(),
    };
    let admin = |user| Actor {
        execution_id: "admin",
        user_id: user,
    };
    assert!(!s
        .put_credential(admin("u1"), &c("u1", "default"))
        .await
        .expect("put"));
    assert!(s
        .put_credential(admin("u1"), &c("u1", "default"))
        .await
        .expect("replace"));
    s.put_credential(admin("u2"), &c("u2", "ops"))
        .await
        .expect("put");
    let got = s
        .credential("u1", "slack", "default")
        .await
        .expect("get")
        .expect("some");
    assert_eq!((got.sealed, got.key_id.as_str()), (vec![1, 2, 3], "fp"));
    assert!(s
        .credential("u2", "slack", "default")
        .await
        .expect("get")
        .is_none());
    let all = s.list_credentials(None).await.expect("list");
    assert_eq!(
        all.iter()
            .map(|c| (c.user_id.as_str(), c.name.as_str()))
            .collect::<Vec<_>>(),
        [("u1", "default"), ("u2", "ops")],
        "sorted by user, tool, name"
    );
    assert!(
        all.iter().all(|c| c.sealed.is_empty()),
        "listing carries no ciphertext"
    );
    assert_eq!(s.list_credentials(Some("u2")).await.expect("list").len(), 1);
    assert!(s
        .delete_credential(admin("u1"), "slack", "default")
        .await
        .expect("delete"));
    assert!(!s
        .delete_credential(admin("u1"), "slack", "default")
        .await
        .expect("again"));
    let actions: Vec<_> = s
        .audit_log("admin")
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        [
            "tool.credential.put",
            "tool.credential.put",
            "tool.credential.put",
            "tool.credential.remove"
        ]
    );
}

/// Audit: every write of an execution and every explicit entry, oldest first, per execution.
pub async fn audit(s: &impl Store) {
    let e = execution(s, "u").await;
    let other = execution(s, "u").await;
    let a = actor(&e);
    s.set_variable(a, "k", "1", None).await.expect("set");
    s.set_output(a, "1").await.expect("output");
    s.audit(a, "token.refresh", "").await.expect("audit");
    s.delete_variable(a, "k", None).await.expect("delete");
    let log = s.audit_log(&e.id).await.expect("log");
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|a| !a.action.is_empty()));
    assert_eq!(log[2].action, "token.refresh", "oldest first");
    assert!(s.audit_log(&other.id).await.expect("log").is_empty());
}

/// Writes for an execution the store does not know are `NotFound`.
pub async fn unknown_execution(s: &impl Store) {
    let a = Actor {
        execution_id: "nope",
        user_id: "u",
    };
    assert!(matches!(
        s.set_output(a, "1").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.set_condition(a, true).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Issue 14: `created` → `running` (once) → `finished` (once, with its outcome, exit code,
/// time, audit row and change-log entry); `expired` derived past the maximum lifetime;
/// an unknown execution is `NotFound`.
pub async fn lifecycle(s: &impl Store) {
    let e = execution(s, "u1").await;
    assert_eq!(e.status, ExecutionStatus::Created);
    let stored = s.execution(&e.id).await.expect("read").expect("exists");
    assert_eq!(
        (stored.status, &stored.started_at, &stored.finished_at),
        (ExecutionStatus::Created, &None, &None)
    );
    assert_eq!(stored.status_at(now_unix()), ExecutionStatus::Created);
    assert_eq!(
        stored.status_at(stored.expires_at),
        ExecutionStatus::Expired,
        "past its maximum lifetime"
    );

    assert!(s.start_execution(&e.id).await.expect("start"));
    assert!(
        !s.start_execution(&e.id).await.expect("start again"),
        "once"
    );
    assert!(!s.start_execution("ghost").await.expect("unknown"));
    let running = s.execution(&e.id).await.expect("read").expect("exists");
    assert_eq!(running.status, ExecutionStatus::Running);
    assert!(running.started_at.is_some());

    let seq = s.last_change_seq().await.expect("seq");
    let finished = match s.finish_execution(&e.id, "failed", Some(3)).await {
        Ok(Finish::Finished(f)) => f,
        other => panic!("first finish: {other:?}"),
    };
    assert_eq!(finished.status, ExecutionStatus::Finished);
    assert_eq!(
        (finished.outcome.as_deref(), finished.exit_code),
        (Some("failed"), Some(3))
    );
    let finished_at = finished.finished_at.clone().expect("finished_at");
    assert_eq!(finished.started_at, running.started_at, "kept");
    assert_eq!(
        finished.status_at(finished.expires_at + 1),
        ExecutionStatus::Finished,
        "a finished execution never expires"
    );
    let changes = s.changes_since(seq, 10).await.expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes[0].finished_execution.as_deref(),
        Some(e.id.as_str())
    );
    assert_eq!(
        (changes[0].user_id.as_str(), changes[0].key.as_str()),
        ("u1", "")
    );
    assert!(changes[0].value.is_none() && changes[0].version.is_none());
    assert!(changes[0].seq > seq);
    let audit = s.audit_log(&e.id).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "execution.finish" && a.target == "failed"),
        "{audit:?}"
    );

    // Finishing twice changes nothing: not the outcome, not the time, not the log.
    match s.finish_execution(&e.id, "succeeded", Some(0)).await {
        Ok(Finish::AlreadyFinished(f)) => {
            assert_eq!(f.outcome.as_deref(), Some("failed"));
            assert_eq!(f.exit_code, Some(3));
            assert_eq!(f.finished_at.as_deref(), Some(finished_at.as_str()));
        }
        other => panic!("second finish: {other:?}"),
    }
    assert_eq!(s.changes_since(seq, 10).await.expect("changes").len(), 1);
    assert!(
        !s.start_execution(&e.id).await.expect("start"),
        "stays finished"
    );
    let report = s
        .execution_report(&e.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(report.execution.status, ExecutionStatus::Finished);
    assert_eq!(report.input_stream, StreamStats::default());

    // Finished straight from created, without an exit code.
    let other = execution(s, "u2").await;
    match s.finish_execution(&other.id, "cancelled", None).await {
        Ok(Finish::Finished(f)) => {
            assert_eq!(
                (f.outcome.as_deref(), f.exit_code),
                (Some("cancelled"), None)
            );
            assert_eq!(f.started_at, None);
        }
        other => panic!("finish from created: {other:?}"),
    }
    assert!(matches!(
        s.finish_execution("ghost", "failed", None).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Retention with a clock the test controls: a finished execution's streams and audit
/// entries go once they are older than their ages, in bounded batches; a running
/// execution's, an execution's within its age, and every variable stay.
pub async fn retention(s: &impl Store) {
    let first_done = execution(s, "u").await;
    let second_done = execution(s, "u").await;
    let running = execution(s, "u").await;
    for (n, e) in [&first_done, &second_done, &running]
        .into_iter()
        .enumerate()
    {
        let a = actor(e);
        s.set_variable(a, &format!("v{n}"), "1", None)
            .await
            .expect("set");
        for i in 0..5 {
            s.append_output_stream(a, format!("{{\"i\":{i}}}\n").as_bytes(), 1)
                .await
                .expect("out");
        }
        s.append_input_stream(&e.id, b"{\"in\":1}\n", 1)
            .await
            .expect("in");
        s.audit(a, "tool.slack.send", "default")
            .await
            .expect("audit");
    }
    assert!(s.start_execution(&running.id).await.expect("start"));
    let finished_at = now_unix();
    for e in [&first_done, &second_done] {
        assert!(matches!(
            s.finish_execution(&e.id, "succeeded", Some(0)).await,
            Ok(Finish::Finished(_))
        ));
    }
    let variables_before = s.variable_keys("u").await.expect("keys");
    assert_eq!(variables_before.len(), 3);
    let policy = Retention {
        streams_after: Some(30),
        audit_after: Some(45),
        batch: 2,
    };

    // The ages are shorter than the executions' 60 s lifetime, so the running one is
    // still within it at every "now" below until its own case at the end.
    // Within every age: nothing goes.
    let nothing = prune_all(s, finished_at + 25, &policy)
        .await
        .expect("prune");
    assert_eq!(nothing, Pruned::default(), "nothing is old enough yet");

    // Past the streams' age, not the audit's: streams go in batches of at most 2.
    let first = s
        .prune_batch(finished_at + 33, &policy)
        .await
        .expect("one batch");
    assert_eq!(
        first.stream_blocks, 2,
        "a batch deletes at most `batch` blocks"
    );
    assert_eq!(first.audit_entries, 0, "the audit's age is not reached");
    let rest = prune_all(s, finished_at + 33, &policy)
        .await
        .expect("prune");
    assert_eq!(
        first.stream_blocks + rest.stream_blocks,
        12,
        "both finished executions' 5 output and 1 input blocks"
    );
    assert_eq!(first.stream_bytes + rest.stream_bytes, 2 * (5 * 8 + 9));
    for e in [&first_done, &second_done] {
        assert!(s
            .output_stream_block(&e.id, 0)
            .await
            .expect("read")
            .is_none());
        assert!(s
            .input_stream_block(&e.id, 0)
            .await
            .expect("read")
            .is_none());
        assert!(!s.audit_log(&e.id).await.expect("audit").is_empty());
    }
    assert_eq!(
        prune_all(s, finished_at + 33, &policy)
            .await
            .expect("again"),
        Pruned::default(),
        "a pruned execution is not visited again"
    );

    // Past the audit's age as well.
    let audit = prune_all(s, finished_at + 50, &policy)
        .await
        .expect("prune");
    assert_eq!(
        audit.audit_entries,
        2 * 3,
        "variable.set, tool.slack.send and execution.finish of both"
    );
    for e in [&first_done, &second_done] {
        assert!(s.audit_log(&e.id).await.expect("audit").is_empty());
        let kept = s.execution(&e.id).await.expect("read").expect("row kept");
        assert_eq!(kept.outcome.as_deref(), Some("succeeded"), "the row stays");
    }

    // The running execution (within its lifetime) keeps everything; variables all stay.
    assert!(s
        .output_stream_block(&running.id, 0)
        .await
        .expect("read")
        .is_some());
    assert!(s
        .input_stream_block(&running.id, 0)
        .await
        .expect("read")
        .is_some());
    assert_eq!(s.audit_log(&running.id).await.expect("audit").len(), 2);
    assert_eq!(s.variable_keys("u").await.expect("keys"), variables_before);

    // An unfinished execution whose lifetime ended long enough ago is pruned too.
    let lifetime_end = running.expires_at;
    let expired = prune_all(s, lifetime_end + 50, &policy)
        .await
        .expect("prune");
    assert_eq!(expired.stream_blocks, 6);
    assert_eq!(expired.audit_entries, 2);
    assert_eq!(s.variable_keys("u").await.expect("keys"), variables_before);
    for n in 0..3 {
        let kept = s.variable("u", &format!("v{n}")).await.expect("read");
        assert!(kept.is_some(), "variables are never pruned");
    }
}
