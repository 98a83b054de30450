//! Containers for real: `cronium run --container` runs scripts in the images of images/
//! (built by `make images`) on a real engine, and the sidecar image serves as a container.
//!
//! Needs a Docker daemon and the images: `make test` builds them first (scripts/ensure-docker.sh
//! starts dockerd when none answers). Each property that could pass by accident is checked
//! against a run on the host too (the same script without `--container`).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Sidecar;
use crate::run::{stderr, Bench};

const IMAGES: [&str; 4] = [
    "cronium/bash:latest",
    "cronium/python:latest",
    "cronium/node:latest",
    "cronium/sidecar:latest",
];

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker (install docker.io: scripts/ensure-docker.sh)")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Fails (never skips) without the engine or the images: they are part of `make test`.
fn require_images() {
    let mut args = vec!["image", "inspect", "--format", "{{.Id}}"];
    args.extend(IMAGES);
    let out = docker(&args);
    assert!(
        out.status.success(),
        "the container images are missing or no Docker daemon answers: run `make images` \
         (scripts/ensure-docker.sh starts dockerd): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The uid a script's container runs as: the caller's, or the images' script user for root.
fn container_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective uid.
    match std::fs::metadata("/proc/self").expect("/proc/self").uid() {
        0 => 10002,
        uid => uid,
    }
}

/// `cronium run --json --container ARGS`, the document and the exit code.
fn in_container(b: &Bench, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["--container"];
    all.extend_from_slice(args);
    b.run_json(&all)
}

/// A variable's value in the run's report.
fn var(doc: &Value, key: &str) -> Value {
    doc["variables"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["key"] == key))
        .map(|v| v["value"].clone())
        .unwrap_or_else(|| panic!("no variable {key} in {doc}"))
}

fn no_container_left(execution_id: &str) {
    let name = format!("name=cronium-{execution_id}");
    let left = docker(&["ps", "--all", "--quiet", "--filter", &name]);
    assert_eq!(text(&left), "", "the container {name} was not removed");
}

#[test]
fn every_example_runs_in_its_image() {
    require_images();
    let b = Bench::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for (file, lang) in [
        ("hello.sh", "bash"),
        ("hello.py", "python"),
        ("hello.js", "node"),
    ] {
        let script = examples.join(file);
        let script = script.to_str().expect("path");
        for count in 1..=2 {
            let (out, doc) = in_container(&b, &["--input", r#"{"name":"Ada"}"#, script]);
            assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
            assert_eq!(doc["lang"], lang);
            assert_eq!(doc["stdout"], "Hello, Ada!\n", "{file}");
            assert_eq!(doc["output"]["greeting"], "Hello, Ada!", "{file}: {doc}");
            assert_eq!(doc["output"]["count"], count, "{file}: {doc}");
            assert_eq!(doc["condition"], count > 1, "{file}");
            assert_eq!(var(&doc, "greetings"), count, "{file}: {doc}");
            assert_eq!(var(&doc, "last_name"), "Ada", "{file}");
            no_container_left(doc["executionId"].as_str().expect("id"));
        }
        // The greetings count per user: the next language starts again from a fresh store.
        std::fs::remove_dir_all(b.state()).expect("reset the state");
    }
}

/// The old helpers' scripts (no import or require line) of the binding tests.
#[test]
fn old_style_scripts_run_in_their_images_as_under_cronium_run() {
    require_images();
    let b = Bench::new();
    let py = b.script(
        "old.py",
        "data = cronium.input()\nn = cronium.getVariable(\"runs\") or 0\ncronium.setVariable(\"runs\", n + 1)\ncronium.setCondition(data[\"total\"] > 100)\ncronium.output({\"id\": data[\"id\"], \"runs\": n + 1, \"event\": cronium.event()[\"eventName\"]})\nprint(\"done\", n + 1)\n",
    );
    for runs in 1..=2 {
        let (out, doc) = in_container(
            &b,
            &[
                "--input",
                r#"{"id":3,"total":101}"#,
                py.to_str().expect("p"),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            doc["output"],
            serde_json::json!({"id": 3, "runs": runs, "event": "old.py"})
        );
        assert_eq!(doc["condition"], true);
        assert_eq!(doc["stdout"], format!("done {runs}\n"));
    }
    let js = b.script(
        "legacy-run.js",
        "const data = cronium.input();\nconst seen = cronium.getVariable('seen');\nconst zero = cronium.getVariable('zero');\ncronium.setVariable('seen', (seen || 0) + 1);\ncronium.setVariable('zero', 0);\nconst stored = cronium.setCondition(data.n > 1);\ncronium.output({ hello: data.name, seen, zero, event: cronium.event().eventName, condition: cronium.getCondition(), stored, missing: cronium.getVariable('never.set') });\nconsole.log('done');\n",
    );
    let (out, doc) = in_container(
        &b,
        &[
            "--input",
            r#"{"name":"Ada","n":2}"#,
            "--event",
            "legacy",
            js.to_str().expect("p"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        doc["output"],
        serde_json::json!({"hello": "Ada", "seen": null, "zero": null, "event": "legacy",
                           "condition": true, "stored": true, "missing": null})
    );
    assert_eq!(var(&doc, "seen"), 1);
    assert_eq!(var(&doc, "zero"), 0);
    // ES modules and CommonJS find the package from any directory.
    let esm = b.script(
        "esm.mjs",
        "import * as c from 'cronium';\nawait c.output({ esm: (await c.input()).n });\n",
    );
    let (out, doc) = in_container(&b, &["--input", r#"{"n":7}"#, esm.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(doc["output"], serde_json::json!({"esm": 7}));
    // The Bash image: no source line, and the forkless builtin is what answers.
    let sh = b.script(
        "old.sh",
        "cronium_set_variable n 5\nenable -p | grep -qw cronium_native && echo builtin\ncronium_output \"{\\\"n\\\":$(cronium_get_variable n)}\"\n",
    );
    let (out, doc) = in_container(&b, &[sh.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(doc["stdout"], "builtin\n");
    assert_eq!(doc["output"], serde_json::json!({"n": 5}));
}

#[test]
fn the_script_container_has_no_network_no_root_and_sees_only_its_socket() {
    require_images();
    let b = Bench::new();
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let other = Sidecar::start();
    let other_socket = other.socket.display().to_string();
    let script = b.script(
        "probe.sh",
        r#"
tcp() { (exec 3<>"/dev/tcp/$1/$PORT") 2>/dev/null && echo open || echo closed; }
echo "loopback $(tcp 127.0.0.1)"
echo "gateway $(tcp 172.17.0.1)"
echo "dns $(getent hosts deb.debian.org >/dev/null && echo resolved || echo failed)"
echo "uid $(id -u)"
echo "root $( (: >/etc/probe) 2>/dev/null && echo writable || echo read-only)"
echo "tmp $( (: >/tmp/probe) 2>/dev/null && echo writable || echo read-only)"
echo "other $([ -e "$OTHER" ] && echo visible || echo invisible)"
echo "socket $(stat -c '%u %a' "$CRONIUM_RUNTIME_SOCKET") $(stat -c '%u %a' "$(dirname "$CRONIUM_RUNTIME_SOCKET")")"
echo "caps $(awk '/^CapEff/ {print $2}' /proc/self/status)"
# Mount points other than the engine's own (proc, dev, sys, /etc/hosts, its init, ...).
echo "mounts $(awk '{print $5}' /proc/self/mountinfo | grep -Ev '^/(proc|dev|sys)(/|$)|^/$|^/etc/(hosts|hostname|resolv.conf)$|^/tmp$|/docker-init$' | sort | tr '\n' ' ')"
"#,
    );
    let port_env = format!("PORT={port}");
    let other_env = format!("OTHER={other_socket}");
    let args = [
        "--env",
        port_env.as_str(),
        "--env",
        other_env.as_str(),
        script.to_str().expect("p"),
    ];
    let (out, doc) = in_container(&b, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let inside: std::collections::HashMap<String, String> = doc["stdout"]
        .as_str()
        .expect("stdout")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    // On the host, the same probes reach the listener and the other socket.
    let (out, host_doc) = b.run_json(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let host = host_doc["stdout"].as_str().expect("stdout");
    assert!(host.contains("loopback open"), "{host}");
    assert!(host.contains("other visible"), "{host}");

    assert_eq!(inside["loopback"], "closed", "{inside:?}");
    assert_eq!(inside["gateway"], "closed", "{inside:?}");
    assert_eq!(inside["dns"], "failed", "{inside:?}");
    assert_eq!(inside["uid"], container_uid().to_string());
    assert_eq!(inside["root"], "read-only");
    assert_eq!(inside["tmp"], "writable");
    assert_eq!(inside["other"], "invisible");
    assert_eq!(inside["caps"], "0000000000000000");
    let uid = container_uid();
    assert_eq!(inside["socket"], format!("{uid} 660 {uid} 700"));
    assert_eq!(inside["mounts"], "/run/cronium /script/probe.sh");
    drop(listener);
}

#[test]
fn timeout_stops_the_container_and_removes_it() {
    require_images();
    let b = Bench::new();
    let script = b.script("sleepy.sh", "echo started\nsleep 30\necho never\n");
    let started = Instant::now();
    let (out, doc) = in_container(&b, &["--timeout", "2s", script.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(doc["stdout"], "started\n");
    no_container_left(doc["executionId"].as_str().expect("id"));
    // The script's exit code comes through, and limits apply.
    let code = b.script("code.sh", "exit 7\n");
    let (out, _) = in_container(
        &b,
        &["--pids", "64", "--memory", "64m", code.to_str().expect("p")],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

#[test]
fn no_engine_or_no_image_is_one_line_and_nothing_stored() {
    require_images();
    let b = Bench::new();
    let script = b.script("s.sh", "echo hi\n");
    let s = script.to_str().expect("p");
    let check = |out: Output, needle: &str| {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle:?} in {err}");
        assert_eq!(b.executions(), 0);
    };
    let out = b
        .cmd(&["--container", s])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run");
    check(out, "cannot reach the container engine (docker)");
    let out = b
        .cmd(&["--container", s])
        .env("PATH", "/nonexistent")
        .output()
        .expect("run");
    check(out, "--container needs docker");
    check(
        b.run(&["--container", "--image", "cronium/missing:nope", s]),
        "the image cronium/missing:nope does not exist",
    );
    check(
        b.run(&["--container", "--image", "cronium/python:latest", s]),
        "has no Cronium runtime for bash",
    );
    check(b.run(&["--container", "--memory", "lots", s]), "--memory");
    assert!(!b.state().join("cronium.db").exists(), "nothing written");
}

/// Waits until `cronium health` answers in the container (exit 0).
fn wait_healthy(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = docker(&["exec", name, "cronium", "health"]);
        if out.status.success() {
            assert!(text(&out).starts_with("ready"), "{}", text(&out));
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sidecar container never became ready: {} {}",
            text(&out),
            text(&docker(&["logs", name]))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes the sidecar container and its volumes however the test ends.
struct Cleanup(Vec<String>, Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = docker(&["rm", "--force", "--volumes", c]);
        }
        for v in &self.1 {
            let _ = docker(&["volume", "rm", "--force", v]);
        }
    }
}

/// A script container beside the sidecar container: the socket volume, no network, the
/// images' script user in the sidecar's group (the socket is 0660, group 10001).
fn script_beside(run_volume: &str, token: &str, script: &str) -> Output {
    let mount = format!("{run_volume}:/run/cronium");
    Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--user",
            "10002:10001",
            "--volume",
            &mount,
            "--env",
            "CRONIUM_EXECUTION_TOKEN",
            "cronium/bash:latest",
            "bash",
            "-c",
            script,
        ])
        .env("CRONIUM_EXECUTION_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("docker run")
}

#[test]
fn the_sidecar_image_serves_non_root_read_only_and_keeps_state_across_restarts() {
    require_images();
    let id = uuid_ish();
    let name = format!("cronium-test-sidecar-{id}");
    let run_volume = format!("cronium-test-run-{id}");
    let state_volume = format!("cronium-test-state-{id}");
    let _cleanup = Cleanup(
        vec![name.clone()],
        vec![run_volume.clone(), state_volume.clone()],
    );
    let run_mount = format!("{run_volume}:/run/cronium");
    let state_mount = format!("{state_volume}:/var/lib/cronium");
    let out = docker(&[
        "run",
        "--detach",
        "--name",
        &name,
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--network",
        "none",
        "--volume",
        &run_mount,
        "--volume",
        &state_mount,
        "--health-interval",
        "1s",
        "cronium/sidecar:latest",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_healthy(&name);
    // Non-root, as the kernel sees the process.
    let pid = text(&docker(&["inspect", "--format", "{{.State.Pid}}", &name]));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uids = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert_eq!(uids.split_whitespace().nth(1), Some("10001"), "{uids}");
    assert_eq!(
        text(&docker(&[
            "inspect",
            "--format",
            "{{.HostConfig.ReadonlyRootfs}}",
            &name
        ])),
        "true"
    );
    // A script container sets a variable through the shared socket.
    let created = docker(&[
        "exec",
        &name,
        "cronium",
        "executions",
        "create",
        "--user",
        "ops",
        "--json",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let doc: Value = serde_json::from_slice(&created.stdout).expect("json");
    let token = doc["token"].as_str().expect("token").to_owned();
    let out = script_beside(
        &run_volume,
        &token,
        "cronium_set_variable kept '{\"n\":1}' && echo set",
    );
    assert_eq!(
        text(&out),
        "set",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Restarted (same volumes): the variable is still there, through the API.
    let out = docker(&["restart", "--time", "5", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_healthy(&name);
    let out = script_beside(&run_volume, &token, "cronium_get_variable kept");
    assert_eq!(
        text(&out),
        r#"{"n":1}"#,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `cronium health` says no in one line, exit 1, when nothing serves.
    let out = docker(&[
        "exec",
        &name,
        "cronium",
        "health",
        "--socket",
        "/tmp/none.sock",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).starts_with("not ready"), "{}", text(&out));
    // The engine's own health check (HEALTHCHECK) agrees.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = text(&docker(&[
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            &name,
        ]));
        if health == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "health status {health}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn uuid_ish() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// `docker-compose` on images/compose.yaml: a project of its own, removed with its volumes.
struct Compose {
    project: String,
    file: std::path::PathBuf,
}

impl Compose {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker-compose");
        c.arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&self.file)
            .args(args)
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.cmd(&["down", "--volumes", "--timeout", "2"]).output();
    }
}

#[test]
fn compose_runs_a_script_beside_the_sidecar_with_no_network() {
    require_images();
    let compose = Compose {
        project: format!("cronium-test-{}", uuid_ish()),
        file: Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/compose.yaml"),
    };
    let out = compose
        .cmd(&["up", "--detach", "sidecar"])
        .output()
        .expect("docker-compose (scripts/ensure-tools.sh test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = compose
        .cmd(&[
            "exec",
            "-T",
            "sidecar",
            "cronium",
            "executions",
            "create",
            "--user",
            "ops",
            "--input",
            r#"{"name":"Ada"}"#,
            "--json",
        ])
        .output()
        .expect("exec");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let token = created["token"].as_str().expect("token");
    let id = created["id"].as_str().expect("id");
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.sh");
    let run = |user: Option<&str>| {
        let mut args = vec!["run", "--rm"];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        args.push("script");
        compose
            .cmd(&args)
            .env("CRONIUM_EXECUTION_TOKEN", token)
            .env("CRONIUM_SCRIPT", &hello)
            .output()
            .expect("run")
    };
    // Another uid, outside the sidecar's group: the kernel refuses it the socket.
    let refused = run(Some("10003:10003"));
    assert!(!refused.status.success(), "a stranger reached the socket");
    let out = run(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text(&out), "Hello, Ada!");
    let shown = compose
        .cmd(&[
            "exec",
            "-T",
            "sidecar",
            "cronium",
            "executions",
            "show",
            id,
            "--json",
        ])
        .output()
        .expect("show");
    let doc: Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(doc["output"]["greeting"], "Hello, Ada!", "{doc}");
}

#[test]
fn ctrl_c_stops_the_script_in_its_container_and_removes_it() {
    use std::io::BufRead;
    require_images();
    let b = Bench::new();
    let s = b.script(
        "wait.sh",
        "cronium_set_variable started true\necho started\nsleep 30\necho never\n",
    );
    let mut child = b
        .cmd(&["--container", s.to_str().expect("p")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    assert_eq!(first, "started");
    crate::harness::signal(&child, libc::SIGINT);
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the script did not stop at once: {:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(lines.next().is_none(), "the script went on after Ctrl-C");
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("execution "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no execution line: {err}"));
    assert!(err.contains("started = true"), "{err}");
    no_container_left(id);
}

/// The socket's ownership, not luck, keeps other containers out: while a run is live, a
/// container of another uid mounting the same run directory is refused by the kernel, and
/// one of the run's uid (the positive control) gets in with the token file.
#[test]
fn only_the_containers_uid_reaches_the_runs_socket() {
    use std::io::BufRead;
    require_images();
    let b = Bench::new();
    let s = b.script("hold.sh", "echo \"$CRONIUM_EXECUTION_ID\"\nsleep 30\n");
    let mut child = b
        .cmd(&[
            "--container",
            "--input",
            r#"{"held":true}"#,
            "--timeout",
            "25s",
            s.to_str().expect("p"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let id = lines.next().expect("a line").expect("read");
    let name = format!("cronium-{id}");
    let run_dir = text(&docker(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{if eq .Destination \"/run/cronium\"}}{{.Source}}{{end}}{{end}}",
        &name,
    ]));
    assert!(
        run_dir.starts_with('/'),
        "no run directory mount: {run_dir:?}"
    );
    let probe = |user: &str| {
        let mount = format!("{run_dir}:/run/cronium");
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            user,
            "--volume",
            &mount,
            "--env",
            "CRONIUM_EXECUTION_TOKEN_FILE=/run/cronium/token",
            "cronium/bash:latest",
            "bash",
            "-c",
            "cronium_input",
        ])
    };
    let uid = container_uid();
    let own = probe(&format!("{uid}:{uid}"));
    assert_eq!(
        text(&own),
        r#"{"held":true}"#,
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    let stranger = probe("10003:10003");
    assert!(!stranger.status.success(), "another uid reached the socket");
    assert_eq!(text(&stranger), "");
    crate::harness::signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    no_container_left(&id);
}

/// Run by a normal user, the container runs as that user's uid and gid (the run directory
/// stays the user's). Under root (as in CI), the run is made as `nobody` in the group of the
/// engine's socket; as a normal user every other test here already runs that way.
#[test]
fn a_normal_users_run_uses_the_users_uid() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    require_images();
    if container_uid() != 10002 {
        return;
    }
    let socket = std::fs::metadata("/var/run/docker.sock").expect("the engine's socket");
    let b = Bench::new();
    let script = b.script(
        "who.sh",
        "id -u; id -g; stat -c '%u %a' \"$CRONIUM_RUNTIME_SOCKET\"\n",
    );
    for p in [b.tmp.path(), script.as_path()] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).expect("chown");
    }
    std::fs::set_permissions(b.tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534"])
        .arg(format!("--groups={}", socket.gid()))
        .args(["env", "USER=nobody"])
        .arg(format!("HOME={}", b.tmp.path().display()))
        .arg(crate::harness::cronium().get_program())
        .arg("--state-dir")
        .arg(b.state())
        .args(["run", "--container", "--json"])
        .arg(&script)
        .current_dir(b.tmp.path())
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["stdout"], "65534\n65534\n65534 660\n", "{doc}");
}
