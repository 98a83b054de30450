//! `/ready` says whether a write would succeed (issue 19, defect 3), on the SQLite store:
//! the database lives on a small tmpfs in the sidecar's own mount namespace; when that
//! fills up, writes answer `503 storage_unavailable` (never a false 2xx) and `/ready` turns
//! false with the reason; when space is freed, the same process is ready again.
//!
//! The namespace needs `unshare -rm` (user namespaces); where the kernel or the container
//! forbids them the test says so and passes without running.

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{http, Resp};

fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["-rm", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A `cronium` that serves in a new mount namespace with a 4 MiB tmpfs on `db_dir`, and runs
/// admin commands inside that namespace (so they see the same database).
fn wrapper(dir: &Path, db_dir: &Path) -> std::path::PathBuf {
    let config = dir.join("cronium.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}/cronium.db\"\n", db_dir.display()),
    )
    .expect("config");
    let pid = dir.join("serve.pid");
    let script = dir.join("cronium.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
export CRONIUM_CONFIG='{config}'
real='{real}'
case " $* " in
*" serve "*)
    echo $$ > '{pid}'
    exec unshare -rm sh -c 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"' '{db}' "$real" "$@" ;;
*)
    exec nsenter -t "$(cat '{pid}')" -U -m --preserve-credentials "$real" "$@" ;;
esac
"#,
            config = config.display(),
            real = env!("CARGO_BIN_EXE_cronium"),
            pid = pid.display(),
            db = db_dir.display(),
        ),
    )
    .expect("script");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn req(
    s: &cronium_testkit::Sidecar,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    http(
        UnixStream::connect(&s.socket).expect("connect"),
        method,
        path,
        &headers,
        body.map(str::as_bytes),
    )
}

#[test]
fn a_full_disk_turns_ready_false_and_recovers_without_restart() {
    if !namespaces_available() {
        eprintln!("not run: `unshare -rm` is not permitted here (no user namespaces)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let db_dir = tmp.path().join("db");
    std::fs::create_dir(&db_dir).expect("db dir");
    let s = cronium_testkit::Sidecar::start_with(cronium_testkit::Options {
        cronium: wrapper(tmp.path(), &db_dir),
        state_dir: Some(tmp.path().join("state")),
        env: vec![("CRONIUM_RATE_LIMIT".into(), "0".into())],
        ..Default::default()
    })
    .expect("start");
    let e = s
        .create(&cronium_testkit::ExecutionSpec {
            user: Some("u1".into()),
            ..Default::default()
        })
        .expect("create");
    let t = Some(e.token.as_str());
    assert_eq!(req(&s, "GET", "/ready", None, None).status, 200);
    let r = req(
        &s,
        "PUT",
        "/v1/variables/kept",
        t,
        Some(r#"{"value":"acknowledged"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Fill the sidecar's tmpfs (seen through its root in /proc) to the last byte.
    let pid = std::fs::read_to_string(tmp.path().join("serve.pid")).expect("pid");
    let inside = Path::new("/proc")
        .join(pid.trim())
        .join("root")
        .join(db_dir.strip_prefix("/").expect("absolute"));
    let ballast = inside.join("ballast");
    {
        let mut f = std::fs::File::create(&ballast).expect("ballast");
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
    }
    let big = format!(r#"{{"value":"{}"}}"#, "x".repeat(256 * 1024));
    let r = req(&s, "PUT", "/v1/variables/big", t, Some(&big));
    r.expect_error(503, "storage_unavailable");
    assert!(r.header("retry-after").is_some(), "Retry-After is set");
    let r = req(&s, "GET", "/ready", None, None);
    r.expect_error(503, "storage_unavailable");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("full")),
        "the reason is given: {}",
        r.text()
    );
    assert!(r.header("retry-after").is_some(), "Retry-After is set");

    // Space comes back: the same process is ready and writes again.
    std::fs::remove_file(&ballast).expect("free the space");
    let deadline = Instant::now() + Duration::from_secs(5);
    while req(&s, "GET", "/ready", None, None).status != 200 {
        assert!(Instant::now() < deadline, "ready again");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = req(&s, "PUT", "/v1/variables/big", t, Some(&big));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = req(&s, "GET", "/v1/variables/kept?raw", t, None);
    assert_eq!(r.text(), "\"acknowledged\"");
}
