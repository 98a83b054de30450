//! `cronium migrate` on the corpus of old-style scripts in tests/migrate/: each is migrated,
//! the dry-run diff is checked to be exactly the applied change (with `patch`), a second
//! run changes nothing, and the migrated script runs under the real `cronium run` with the
//! case's input and starting variables and produces the output, condition and variables
//! the old runner did. The same holds for `--modernize`. Then the database mode on a real
//! SQLite file and a real PostgreSQL server, and the bad-input cases.
//!
//! Python and Node cases need the built modules (`make python node`; CRONIUM_PYTHON and
//! CRONIUM_NODE_PATH as the Makefile exports them): without them they are skipped with a
//! note, unless CRONIUM_MIGRATE_ALL=1 (set by `make test-migrate`), which makes it a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::harness::cronium;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/migrate")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn migrate(dir: &Path, args: &[&str]) -> Output {
    cronium()
        .arg("migrate")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run cronium migrate")
}

/// Whether the interpreter for a language is ready; a missing one skips the case with a
/// note, or fails it under CRONIUM_MIGRATE_ALL=1.
fn ready(ext: &str) -> bool {
    let why = match ext {
        "py" => match std::env::var("CRONIUM_PYTHON") {
            Ok(py)
                if Command::new(&py)
                    .args(["-c", "import cronium"])
                    .output()
                    .is_ok_and(|o| o.status.success()) =>
            {
                None
            }
            _ => Some("CRONIUM_PYTHON with the cronium module (make python)"),
        },
        "js" => match std::env::var("CRONIUM_NODE_PATH") {
            Ok(p) if Path::new(&p).join("cronium/register.js").is_file() => None,
            _ => Some("CRONIUM_NODE_PATH with the cronium package (make node)"),
        },
        _ => None,
    };
    match why {
        None => true,
        Some(w) if std::env::var("CRONIUM_MIGRATE_ALL").as_deref() == Ok("1") => {
            panic!("needs {w}")
        }
        Some(w) => {
            eprintln!("note: .{ext} cases skipped: needs {w}");
            false
        }
    }
}

/// The diff part of a dry run's stdout (before the summary).
fn diff_part(stdout: &str) -> String {
    stdout
        .lines()
        .take_while(|l| !l.starts_with("scanned "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Applies a unified diff to a copy of `original` with `patch` and returns the result.
fn patched(dir: &Path, original: &str, diff: &str) -> String {
    let copy = dir.join("patched.txt");
    std::fs::write(&copy, original).expect("write");
    let mut child = Command::new("patch")
        .args(["-s", "-o", "-"])
        .arg(&copy)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("patch (GNU patch) is needed");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(diff.as_bytes())
        .expect("write diff");
    let out = child.wait_with_output().expect("patch");
    assert!(out.status.success(), "patch failed: {:?}", text(&out));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs the script under `cronium run` with the case's input, event and starting
/// variables, and checks the output, condition and variables.
fn run_and_check(dir: &Path, script: &str, case: &Value, label: &str) {
    let state = dir.join(format!("state-{label}"));
    let user = "migrated";
    if let Some(vars) = case["variables"].as_object() {
        for (k, v) in vars {
            let o = cronium()
                .arg("--state-dir")
                .arg(&state)
                .args(["variables", "set", "--user", user, k, &v.to_string()])
                .output()
                .expect("variables set");
            assert!(o.status.success(), "{:?}", text(&o));
        }
    }
    let input = case["input"].to_string();
    let event = case["event"].as_str().unwrap_or("migrated");
    let mut cmd = cronium();
    cmd.arg("--state-dir")
        .arg(&state)
        .args([
            "run", "--json", "--user", user, "--event", event, "--input", &input, script,
        ])
        .current_dir(dir)
        .stdin(Stdio::null());
    // The harness clears CRONIUM_*; the interpreters' settings are passed on.
    for var in ["CRONIUM_PYTHON", "CRONIUM_NODE_PATH"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    let out = cmd.output().expect("cronium run");
    let (stdout, stderr) = text(&out);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{label}: not JSON ({e}): {stdout} {stderr}"));
    assert_eq!(doc["exitCode"], 0, "{label}: {stderr}\n{doc:#}");
    let want = &case["expected"];
    assert_eq!(doc["output"], want["output"], "{label}: output; {stderr}");
    assert_eq!(doc["condition"], want["condition"], "{label}: condition");
    for (k, v) in want["variables"].as_object().expect("expected variables") {
        let o = cronium()
            .arg("--state-dir")
            .arg(&state)
            .args(["variables", "get", "--user", user, k])
            .output()
            .expect("variables get");
        let got: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{label}: variable {k}: {e} {:?}", text(&o)));
        if case["variablesAsText"] == true {
            // See the case's note: compared as the text the old helper printed.
            let as_text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            assert_eq!(as_text(&got), as_text(v), "{label}: variable {k}");
        } else {
            assert_eq!(&got, v, "{label}: variable {k}");
        }
    }
}

/// Migrates one copy of a case's script with `flags`, checks dry run, apply and re-run,
/// and returns the migrated text.
/// `review`: whether the case must need review; `None` takes what the dry run says (then
/// apply and re-run must agree with it).
fn migrate_case(
    dir: &Path,
    script: &str,
    original: &str,
    flags: &[&str],
    review: Option<bool>,
    label: &str,
) -> String {
    let path = dir.join(script);
    std::fs::write(&path, original).expect("copy script");

    let mut args = flags.to_vec();
    args.extend(["--dry-run", script]);
    let dry = migrate(dir, &args);
    let (dry_out, dry_err) = text(&dry);
    let review = review.unwrap_or(dry.status.code() == Some(1));
    assert_eq!(
        dry.status.code(),
        Some(if review { 1 } else { 0 }),
        "{label}: {dry_out}{dry_err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        original,
        "{label}: the dry run wrote"
    );

    let mut args = flags.to_vec();
    args.push(script);
    let applied = migrate(dir, &args);
    let (out, err) = text(&applied);
    assert_eq!(
        applied.status.code(),
        Some(if review { 1 } else { 0 }),
        "{label}: {out}{err}"
    );
    let migrated = std::fs::read_to_string(&path).expect("read");
    assert!(out.contains("scanned 1,"), "{label}: {out}");

    // The dry-run diff is exactly the change made.
    let diff = diff_part(&dry_out);
    if migrated == original {
        assert!(diff.is_empty(), "{label}: a diff for no change: {diff}");
    } else {
        assert_eq!(
            patched(dir, original, &diff),
            migrated,
            "{label}: dry-run diff differs from the change"
        );
    }

    // A second run changes nothing and says so.
    let again = migrate(dir, &args);
    let (out2, _) = text(&again);
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        migrated,
        "{label}: second run changed it"
    );
    assert_eq!(
        again.status.code(),
        Some(if review { 1 } else { 0 }),
        "{label}: {out2}"
    );
    assert!(out2.contains(", changed 0,"), "{label}: {out2}");
    if !review {
        assert!(out2.contains("nothing to change"), "{label}: {out2}");
    }
    migrated
}

#[test]
fn corpus_scripts_migrate_and_run_as_the_old_runner_did() {
    let mut ran = 0;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/migrate")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "corpus: {cases:?}");
    for case_dir in cases {
        let name = case_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let script_src = std::fs::read_dir(&case_dir)
            .expect("case")
            .map(|e| e.expect("entry").path())
            .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some("script"))
            .expect("script.*");
        let ext = script_src
            .extension()
            .and_then(|e| e.to_str())
            .expect("ext")
            .to_owned();
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(case_dir.join("case.json")).expect("case.json"),
        )
        .expect("case.json");
        let original = std::fs::read_to_string(&script_src).expect("script");
        let review = case.get("review").is_some();
        let dir = tempfile::tempdir().expect("tempdir");
        let script = format!("script.{ext}");

        let migrated = migrate_case(dir.path(), &script, &original, &[], Some(review), &name);
        let expected = case_dir.join(format!("expected.{ext}"));
        if expected.is_file() {
            assert_eq!(
                migrated,
                std::fs::read_to_string(&expected).expect("expected"),
                "{name}: migrated text"
            );
        }
        if review {
            assert_eq!(
                migrated, original,
                "{name}: a script needing review was changed"
            );
            let out = migrate(dir.path(), &[&script]);
            let (stdout, _) = text(&out);
            for line in case["review"].as_array().expect("review lines") {
                let at = format!(
                    "{script}:{}:",
                    line.as_str().expect("line").trim_start_matches("line ")
                );
                assert!(stdout.contains(&at), "{name}: no review at {at}: {stdout}");
            }
            continue;
        }
        if !ready(&ext) {
            continue;
        }
        run_and_check(dir.path(), &script, &case, &name);

        // --modernize: idempotent too, and the modernized script gives the same results.
        let modern = tempfile::tempdir().expect("tempdir");
        let modernized = migrate_case(
            modern.path(),
            &script,
            &original,
            &["--modernize"],
            None,
            &format!("{name} --modernize"),
        );
        for want in case["modernized"].as_array().into_iter().flatten() {
            let want = want.as_str().expect("modernized: strings");
            assert!(
                modernized.contains(want),
                "{name} --modernize: no {want:?} in\n{modernized}"
            );
        }
        run_and_check(modern.path(), &script, &case, &format!("{name}-modern"));
        ran += 1;
    }
    eprintln!("ran {ran} migrated scripts");
    assert!(ran >= 2, "at least the Bash cases run");
}

#[test]
fn an_unmigrated_script_fails_where_the_migrated_one_runs() {
    // The premise of the tool: the old loading line breaks a script on the new runtime.
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("old.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\nset -e\nsource ./cronium.sh\ncronium_output '{\"ok\":true}'\n",
    )
    .expect("write");
    let run = |d: &Path| {
        cronium()
            .arg("--state-dir")
            .arg(d.join("state"))
            .args(["run", "--json", "old.sh"])
            .current_dir(d)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    let before: Value = serde_json::from_slice(&run(dir.path()).stdout).expect("json");
    assert_ne!(before["exitCode"], 0);
    let m = migrate(dir.path(), &["old.sh"]);
    assert!(m.status.success(), "{:?}", text(&m));
    let after: Value = serde_json::from_slice(&run(dir.path()).stdout).expect("json");
    assert_eq!(after["exitCode"], 0);
    assert_eq!(after["output"], json!({"ok": true}));
}

#[test]
fn patterns_in_strings_and_comments_are_not_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        ("a.py", "# import cronium from ./cronium.py; open('input.json')\nmsg = \"from cronium import cronium\"\nprint(msg)\n"),
        ("b.js", "// const cronium = require('./cronium.js');\nconst s = \"fs.readFileSync('input.json')\";\nconsole.log(s);\n"),
        ("c.sh", "#!/bin/bash\n# source ./cronium.sh\necho 'source ./cronium.sh'\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).expect("write");
    }
    let out = migrate(dir.path(), &["."]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("scanned 3, changed 0, unchanged 3, needing review 0"),
        "{stdout}"
    );
    for (name, body) in files {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).expect("read"),
            body
        );
    }
}

#[test]
fn bad_input_is_one_line_each_and_nothing_half_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A path that does not exist: usage error, exit 2, nothing touched.
    std::fs::write(d.join("ok.sh"), "source ./cronium.sh\necho hi\n").expect("write");
    let out = migrate(d, &["ok.sh", "missing.py"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("missing.py"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(d.join("ok.sh")).expect("read"),
        "source ./cronium.sh\necho hi\n"
    );

    // A database option beside script paths is a mistake, not something to ignore.
    let out = migrate(d, &["--table", "jobs", "ok.sh"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("give --database URL"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(d.join("ok.sh")).expect("read"),
        "source ./cronium.sh\necho hi\n"
    );

    // Unknown language, a syntax error, an unreadable file: each reported on one line and
    // left unchanged; the good file is still migrated; exit 1.
    std::fs::write(d.join("notes.txt"), "source ./cronium.sh\n").expect("write");
    let broken = "import cronium\ndef f(:\n    pass\n";
    std::fs::write(d.join("broken.py"), broken).expect("write");
    std::fs::write(d.join("locked.sh"), "source ./cronium.sh\n").expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(d.join("locked.sh"), std::fs::Permissions::from_mode(0o000))
        .expect("chmod");
    let root = std::fs::read(d.join("locked.sh")).is_ok();
    let out = migrate(d, &["ok.sh", "notes.txt", "broken.py", "locked.sh"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("notes.txt:0: unknown language"), "{stdout}");
    assert!(stdout.contains("broken.py:2: does not parse"), "{stdout}");
    assert_eq!(stdout.matches("notes.txt").count(), 1, "{stdout}");
    if !root {
        assert!(stdout.contains("locked.sh:0: cannot read it"), "{stdout}");
    }
    assert_eq!(
        std::fs::read_to_string(d.join("broken.py")).expect("read"),
        broken
    );

    // The old cronium.py beside a script would be imported instead of the runtime's
    // module: reported, and never itself migrated.
    let old_helper = "import json\nclass Cronium:\n    pass\ncronium = Cronium()\n";
    std::fs::write(d.join("cronium.py"), old_helper).expect("write");
    std::fs::write(d.join("job.py"), "import cronium\ncronium.output(1)\n").expect("write");
    let out = migrate(d, &["job.py"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("job.py:0: ") && stdout.contains("cronium.py (the old helper) shadows"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("cronium.py")).expect("read"),
        old_helper
    );
    assert_eq!(
        std::fs::read_to_string(d.join("ok.sh")).expect("read"),
        "echo hi\n"
    );
    // No temp file left behind.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".cronium-migrate")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The events rows of the database tests: (id, type, content).
fn event_rows() -> Vec<(i32, &'static str, Option<&'static str>)> {
    vec![
        (
            1,
            "PYTHON",
            Some("import json\nfrom cronium import cronium\n\nwith open('input.json') as f:\n    data = json.load(f)\ncronium.output(data)\n"),
        ),
        (2, "NODEJS", Some("const cronium = require('./cronium.js');\n\ncronium.output(cronium.input());\n")),
        (3, "BASH", Some("#!/bin/bash\nsource ./cronium.sh\n\ncronium_output '{}'\n")),
        (4, "PYTHON", Some("import json\nwith open('variables.json') as f:\n    v = json.load(f)\n")),
        (5, "HTTP_REQUEST", None),
        (6, "BASH", Some("cronium_output '{\"ok\": true}'\n")),
    ]
}

fn expected_content(id: i32) -> Option<&'static str> {
    match id {
        1 => Some("import json\nimport cronium\n\ndata = cronium.input()\ncronium.output(data)\n"),
        2 => Some("cronium.output(cronium.input());\n"),
        3 => Some("#!/bin/bash\ncronium_output '{}'\n"),
        _ => event_rows()
            .into_iter()
            .find(|r| r.0 == id)
            .and_then(|r| r.2),
    }
}

/// The same checks on any database: `query` returns (id, content) of the events table
/// and the number of backup rows (None when there is no backup table).
/// The events table's (id, content) rows, and the number of backup rows (None: no table).
type Snapshot = (Vec<(i32, Option<String>)>, Option<i64>);

fn database_mode(url: &str, query: &dyn Fn() -> Snapshot) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let before = query();
    assert_eq!(before.1, None);

    // Dry run: a diff per changed event id, the review reported, nothing written.
    let dry = migrate(d, &["--database", url, "--dry-run"]);
    let (out, err) = text(&dry);
    assert_eq!(dry.status.code(), Some(1), "{out}{err}");
    for id in [1, 2, 3] {
        assert!(out.contains(&format!("--- a/event {id}\n")), "{out}");
    }
    assert!(
        !out.contains("a/event 4") && !out.contains("a/event 6"),
        "{out}"
    );
    assert!(
        out.contains("review event 4:2: uses variables.json"),
        "{out}"
    );
    assert!(
        out.contains("scanned 5, would change 3, unchanged 2, needing review 1"),
        "{out}"
    );
    assert_eq!(query(), before, "the dry run wrote");

    // Apply: changed rows rewritten, each backed up first, the rest untouched.
    let run = migrate(d, &["--database", url]);
    let (out, err) = text(&run);
    assert_eq!(run.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("scanned 5, changed 3, unchanged 2, needing review 1"),
        "{out}"
    );
    assert!(
        out.contains("backed up 3 row(s) to events_migrate_backup"),
        "{out}"
    );
    let (rows, backups) = query();
    assert_eq!(backups, Some(3));
    for (id, content) in &rows {
        assert_eq!(content.as_deref(), expected_content(*id), "event {id}");
    }

    // Re-run: nothing changes, no new backup rows.
    let again = migrate(d, &["--database", url]);
    let (out, _) = text(&again);
    assert!(
        out.contains("scanned 5, changed 0, unchanged 5, needing review 1"),
        "{out}"
    );
    assert_eq!(query(), (rows, Some(3)));

    // A missing table or column: one line, exit 2, nothing written.
    for (args, want) in [
        (vec!["--table", "evnts"], "no table \"evnts\""),
        (vec!["--column", "script"], "no column \"script\""),
        (vec!["--language-column", "lang"], "no column \"lang\""),
        (
            vec!["--table", "events; drop table events"],
            "plain table or column name",
        ),
    ] {
        let mut a = vec!["--database", url];
        a.extend(args);
        let o = migrate(d, &a);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    assert_eq!(query().1, Some(3));
}

#[test]
fn database_mode_on_a_real_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cronium.db");
    {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, content TEXT)",
        )
        .expect("create");
        for (id, ty, content) in event_rows() {
            c.execute(
                "INSERT INTO events (id, user_id, name, type, content) VALUES (?1, 'u', ?2, ?3, ?4)",
                rusqlite::params![id, format!("event {id}"), ty, content],
            )
            .expect("insert");
        }
    }
    let query = || {
        let c = rusqlite::Connection::open(&db).expect("open");
        let mut s = c
            .prepare("SELECT id, content FROM events ORDER BY id")
            .expect("prepare");
        let rows = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        let backups = c
            .query_row("SELECT count(*) FROM events_migrate_backup", [], |r| {
                r.get(0)
            })
            .ok();
        (rows, backups)
    };
    database_mode(db.to_str().expect("path"), &query);

    // A file that does not exist is not created.
    let missing = dir.path().join("nope.db");
    let o = migrate(dir.path(), &["--database", missing.to_str().expect("p")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no such SQLite file"), "{:?}", text(&o));
    assert!(!missing.exists());
}

#[test]
fn database_mode_on_a_real_postgresql() {
    let pg = cronium_store::temp_postgres::TempPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    });
    rt.block_on(async {
        client
            .batch_execute(
                "CREATE TABLE events (id serial PRIMARY KEY, user_id varchar(255) NOT NULL, name varchar(255) NOT NULL, type varchar(50) NOT NULL, content text)",
            )
            .await
            .expect("create");
        for (id, ty, content) in event_rows() {
            client
                .execute(
                    "INSERT INTO events (id, user_id, name, type, content) VALUES ($1, 'u', $2, $3, $4)",
                    &[&id, &format!("event {id}"), &ty, &content],
                )
                .await
                .expect("insert");
        }
    });
    let query = || {
        rt.block_on(async {
            let rows = client
                .query("SELECT id, content FROM events ORDER BY id", &[])
                .await
                .expect("query")
                .iter()
                .map(|r| (r.get::<_, i32>(0), r.get::<_, Option<String>>(1)))
                .collect();
            let backups = client
                .query_one("SELECT count(*) FROM events_migrate_backup", &[])
                .await
                .ok()
                .map(|r| r.get::<_, i64>(0));
            (rows, backups)
        })
    };
    database_mode(&url, &query);

    // A URL that does not connect: one line, exit 2, and the password is never printed.
    let bad = format!(
        "postgres://postgres:s3cret-pw@127.0.0.1:{}/postgres",
        crate::harness::free_port().port()
    );
    let o = migrate(Path::new("."), &["--database", &bad]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot connect to postgres://postgres@127.0.0.1"),
        "{err}"
    );
    assert!(!err.contains("s3cret") && !out.contains("s3cret"), "{err}");
}
