//! `cronium run --isolate`: the script under bubblewrap sees no network, no other run's
//! socket, a read-only root, a private /tmp and its own PID namespace, and the helpers
//! still work. Each property is checked against a run without `--isolate` too, so the
//! check itself is shown to be able to fail.
//!
//! Needs bubblewrap (`scripts/ensure-tools.sh test` installs it).

use std::path::Path;

use serde_json::Value;

use crate::harness::Sidecar;
use crate::run::{stderr, Bench};

fn require_bwrap() {
    assert!(
        crate::run::which("bwrap"),
        "bubblewrap is not installed: run scripts/ensure-tools.sh test (apt-get install bubblewrap)"
    );
}

/// Runs `script` with and without `--isolate`; returns both stdouts.
fn both(b: &Bench, script: &Path, env: &[&str]) -> (Value, Value) {
    let p = script.to_str().expect("p");
    let mut args = vec!["--input", r#"{"n":41}"#];
    for e in env {
        args.extend(["--env", e]);
    }
    let mut plain_args = args.clone();
    plain_args.push(p);
    let (plain_out, plain) = b.run_json(&plain_args);
    assert!(plain_out.status.success(), "{}", stderr(&plain_out));
    args.extend(["--isolate", p]);
    let (out, isolated) = b.run_json(&args);
    assert!(
        out.status.success(),
        "isolated run failed: {}",
        stderr(&out)
    );
    (plain, isolated)
}

fn lines(doc: &Value) -> Vec<String> {
    doc["stdout"]
        .as_str()
        .expect("stdout")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn isolated_script_has_no_network_and_cannot_see_other_sockets() {
    require_bwrap();
    let b = Bench::new();
    // A listener on the host's loopback and another execution's sidecar socket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let other = Sidecar::start();
    let script = b.script(
        "probe.sh",
        r#"if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo net:reachable; else echo net:unreachable; fi
if [ -S "$OTHER" ]; then echo other:visible; else echo other:invisible; fi
if [ -e "$STATE/keys/default.key" ] || [ -e "$STATE/cronium.db" ]; then echo state:visible; else echo state:hidden; fi
if touch /usr/cronium-isolate-probe 2>/dev/null; then rm -f /usr/cronium-isolate-probe; echo root:writable; else echo root:read-only; fi
echo "$$" > "/tmp/cronium-probe-$MARK"
if [ -e "$HOSTFILE" ]; then echo tmp:shared; else echo tmp:private; fi
echo "pids:$(ls -d /proc/[0-9]* | wc -l)"
echo "input:$(cronium_input)"
cronium_set_variable seen "$(cronium_input | sed 's/[^0-9]//g')"
cronium_output '{"ok":true}'
echo "var:$(cronium_get_variable seen)"
"#,
    );
    let mark = format!("{}", std::process::id());
    let hostfile = std::env::temp_dir().join(format!("cronium-probe-host-{mark}"));
    std::fs::write(&hostfile, "host").expect("write");
    let env = [
        format!("PORT={port}"),
        format!("OTHER={}", other.socket.display()),
        format!("STATE={}", b.state().display()),
        format!("MARK={mark}"),
        format!("HOSTFILE={}", hostfile.display()),
    ];
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    let (plain, isolated) = both(&b, &script, &env);
    let _ = std::fs::remove_file(&hostfile);
    let probe = std::env::temp_dir().join(format!("cronium-probe-{mark}"));
    let plain_wrote_probe = probe.exists();
    let _ = std::fs::remove_file(&probe);
    drop(listener);

    let plain = lines(&plain);
    let isolated = lines(&isolated);
    assert_eq!(
        &plain[..5],
        [
            "net:reachable",
            "other:visible",
            "state:visible",
            "root:writable",
            "tmp:shared"
        ],
        "the control run sees the host"
    );
    assert!(plain_wrote_probe, "the control run writes the host's /tmp");
    assert_eq!(
        &isolated[..5],
        [
            "net:unreachable",
            "other:invisible",
            "state:hidden",
            "root:read-only",
            "tmp:private"
        ]
    );
    let pids: usize = isolated[5]
        .strip_prefix("pids:")
        .and_then(|n| n.trim().parse().ok())
        .expect("pid count");
    assert!(
        pids < 10,
        "{pids} processes visible: not its own PID namespace"
    );
    // The helpers work inside, through /run/cronium.
    assert_eq!(isolated[6], "input:{\"n\":41}");
    assert_eq!(isolated[7], "var:41");
}

#[test]
fn isolated_script_sees_the_socket_at_run_cronium_and_stops_on_timeout() {
    require_bwrap();
    let b = Bench::new();
    let script = b.script(
        "where.sh",
        "echo \"$CRONIUM_RUNTIME_SOCKET $BASH_ENV $CRONIUM_EXECUTION_TOKEN_FILE\"\nls /run/cronium\ntrap 'cronium_output \"\\\"stopped\\\"\"; exit 0' TERM\nsleep 30 & wait\n",
    );
    let (out, doc) = b.run_json(&["--isolate", "--timeout", "1s", script.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let l = lines(&doc);
    assert_eq!(
        l[0],
        "/run/cronium/runtime.sock /run/cronium/cronium.sh /run/cronium/token"
    );
    assert_eq!(&l[1..], ["cronium.sh", "runtime.sock", "token"]);
    assert_eq!(
        doc["output"], "stopped",
        "SIGTERM reached the script inside"
    );
}
