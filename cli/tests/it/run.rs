//! `cronium run` for real: the binary runs Bash scripts (and Python/Node ones when those
//! interpreters exist) with the in-process sidecar, and the tests check what the script saw,
//! what the runner printed and what the store kept.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// A state directory and a place for scripts.
pub struct Bench {
    pub tmp: tempfile::TempDir,
}

impl Bench {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    pub fn script(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write script");
        p
    }

    /// `cronium --state-dir STATE run ...`, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = cronium();
        c.arg("--state-dir")
            .arg(self.state())
            .arg("run")
            .args(args)
            .stdin(Stdio::null())
            .current_dir(self.tmp.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run cronium run")
    }

    /// Runs with `--json` and parses the document.
    pub fn run_json(&self, args: &[&str]) -> (Output, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not one JSON document ({e}): stdout {:?} stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, doc)
    }

    /// How many executions the store holds (0 when it does not exist yet).
    pub fn executions(&self) -> usize {
        if !self.state().join("cronium.db").exists() {
            return 0;
        }
        let out = cronium()
            .arg("--state-dir")
            .arg(self.state())
            .args(["executions", "list", "--limit", "1000", "--json"])
            .output()
            .expect("list");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v.as_array().expect("array").len()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

pub fn wait_for_file(p: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(s) = std::fs::read_to_string(p) {
            if s.ends_with('\n') {
                return s.trim().to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} never appeared at {}", p.display());
}

/// Whether a program is on PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

pub fn pid_alive(pid: &str) -> bool {
    // A zombie is dead for our purpose: its process has ended.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn hello_example_reports_output_condition_and_variables() {
    let b = Bench::new();
    let hello = examples().join("hello.sh");
    let hello = hello.to_str().expect("path");
    let (out, doc) = b.run_json(&[hello, "--input", r#"{"name":"Ada"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(doc["exitCode"], 0);
    assert_eq!(doc["lang"], "bash");
    assert_eq!(doc["output"]["greeting"], "Hello, Ada!");
    assert_eq!(
        doc["output"]["event"], "hello.sh",
        "event name defaults to the file"
    );
    assert_eq!(doc["condition"], false);
    assert_eq!(doc["stdout"], "Hello, Ada!\n");
    let vars = doc["variables"].as_array().expect("variables");
    assert_eq!(vars[0]["key"], "greetings");
    assert_eq!(vars[0]["value"], 1);
    assert_eq!(vars[1]["value"], "Ada");

    // Variables belong to the user: the next run sees them.
    let (_, doc) = b.run_json(&[hello, "--input", r#"{"name":"Bo"}"#]);
    assert_eq!(doc["output"]["count"], 2);
    assert_eq!(doc["condition"], true);

    // The store has what the summary showed.
    let id = doc["executionId"].as_str().expect("id");
    let show = cronium()
        .arg("--state-dir")
        .arg(b.state())
        .args(["executions", "show", id, "--json"])
        .output()
        .expect("show");
    let shown: Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(shown["output"]["greeting"], "Hello, Bo!");
    // The run is over, and the store says how it ended (issue 18, item 7).
    assert_eq!(shown["status"], "finished", "{shown}");
    assert_eq!(shown["outcome"], "succeeded");
    assert_eq!(shown["exitCode"], 0);
    assert!(shown["durationMs"].as_i64().is_some(), "{shown}");

    let failing = b.script("fail.sh", "exit 3\n");
    let (out, doc) = b.run_json(&[failing.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(3));
    let id = doc["executionId"].as_str().expect("id");
    let text = cronium()
        .arg("--state-dir")
        .arg(b.state())
        .args(["executions", "show", id])
        .output()
        .expect("show");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("status         finished (failed, exit code 3)"),
        "{text}"
    );
    assert!(text.contains("exit code      3\n"), "{text}");
}

#[test]
fn summary_goes_to_stderr_and_the_scripts_output_streams_live() {
    let b = Bench::new();
    let s = b.script(
        "live.sh",
        "echo first\necho oops >&2\nsleep 1.5\necho second\ncronium_output '{\"n\":1}'\n",
    );
    let mut child = b
        .cmd(&[s.to_str().expect("p")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    assert_eq!(first, "first");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the first line arrived before the script ended"
    );
    let rest: Vec<String> = lines.map(|l| l.expect("read")).collect();
    assert_eq!(
        rest,
        vec!["second"],
        "stdout holds only the script's output"
    );
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("oops\n"), "{err}");
    assert!(err.contains("exit code      0\n"), "{err}");
    assert!(err.contains("\"n\": 1"), "{err}");
    assert!(err.contains("condition      (none)"), "{err}");
}

#[test]
fn the_script_gets_the_design_environment_and_no_secret() {
    let b = Bench::new();
    let dump = b.path("env.txt");
    let cmdlines = b.path("cmdlines.txt");
    let s = b.script(
        "env.sh",
        &format!(
            r#"env > {dump}
# While a helper's curl is running, no process's argv may hold the token.
cronium_watch_variable ping 1 > /dev/null &
sleep 0.5
cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' > {cmdlines}
cronium_set_variable ping 1
wait
"#,
            dump = dump.display(),
            cmdlines = cmdlines.display()
        ),
    );
    let out = cronium()
        .arg("--state-dir")
        .arg(b.state())
        .args(["run", s.to_str().expect("p"), "--env", "GREETING=hi there"])
        .env("CRONIUM_TOKEN_SECRET_FILE", "/should/not/leak")
        .env("CRONIUM_PYTHON", "python3")
        .env("CRONIUM_BUILTIN", "/opt/cronium/cronium_builtin.so")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let env = std::fs::read_to_string(&dump).expect("env dump");
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
    };
    let token = var("CRONIUM_EXECUTION_TOKEN").expect("token in env");
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let socket = PathBuf::from(var("CRONIUM_RUNTIME_SOCKET").expect("socket"));
    assert!(socket.ends_with("runtime.sock"));
    assert!(var("CRONIUM_EXECUTION_ID").is_some());
    assert_eq!(
        var("CRONIUM_EXECUTION_TOKEN_FILE").map(PathBuf::from),
        socket.parent().map(|d| d.join("token"))
    );
    assert_eq!(
        var("BASH_ENV").map(PathBuf::from),
        socket.parent().map(|d| d.join("cronium.sh"))
    );
    assert_eq!(var("GREETING").as_deref(), Some("hi there"));
    assert_eq!(
        var("CRONIUM_PYTHON").as_deref(),
        Some("python3"),
        "binding settings stay"
    );
    assert_eq!(
        var("CRONIUM_BUILTIN").as_deref(),
        Some("/opt/cronium/cronium_builtin.so"),
        "the Bash builtin's path stays"
    );
    assert!(
        !env.contains(SECRET),
        "the signing secret reached the script"
    );
    assert!(var("CRONIUM_TOKEN_SECRET").is_none());
    assert!(var("CRONIUM_TOKEN_SECRET_FILE").is_none());
    let cmdlines = std::fs::read_to_string(&cmdlines).expect("cmdlines");
    assert!(
        cmdlines.contains("curl"),
        "the watch's curl was running: {cmdlines}"
    );
    assert!(!cmdlines.contains(&token), "the token is in some argv");

    // The run directory is private while it exists, and gone afterwards.
    assert!(!socket.parent().expect("dir").exists());
}

#[test]
fn a_crash_still_reports_what_was_written() {
    let b = Bench::new();
    let s = b.script(
        "crash.sh",
        "cronium_set_variable progress 40\ncronium_output '{\"partial\":true}'\ncronium_set_condition false\necho dying >&2\nexit 3\n",
    );
    let (out, doc) = b.run_json(&[s.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(3), "the script's exit code is ours");
    assert_eq!(doc["exitCode"], 3);
    assert_eq!(doc["ending"], "finished");
    assert_eq!(doc["output"]["partial"], true);
    assert_eq!(doc["condition"], false);
    assert_eq!(doc["variables"][0]["value"], 40);
    assert!(stderr(&out).contains("dying"));

    let s = b.script("segv.sh", "cronium_output 1\nkill -SEGV $$\n");
    let (out, doc) = b.run_json(&[s.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(128 + 11));
    assert_eq!(doc["signal"], 11);
    assert_eq!(doc["output"], 1);
}

#[test]
fn timeout_stops_the_whole_process_group_and_keeps_the_partial_report() {
    let b = Bench::new();
    let pids = b.path("pids");
    let s = b.script(
        "slow.sh",
        &format!(
            "sleep 60 &\necho $! > {p}\necho $$ >> {p}\ncronium_set_variable half 1\nsleep 60\n",
            p = pids.display()
        ),
    );
    let started = Instant::now();
    let (out, doc) = b.run_json(&["--timeout", "1s", s.to_str().expect("p")]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(doc["timedOut"], true);
    assert_eq!(doc["exitCode"], 124);
    assert_eq!(doc["variables"][0]["key"], "half");
    let pids = std::fs::read_to_string(&pids).expect("pids");
    for pid in pids.split_whitespace() {
        assert!(!pid_alive(pid), "process {pid} survived the timeout");
    }
    // Human summary says so too.
    let s = b.script("slow2.sh", "sleep 30\n");
    let out = b.run(&["--timeout", "300ms", s.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(124));
    assert!(stderr(&out).contains("124 (timed out)"), "{}", stderr(&out));
}

#[test]
fn a_script_that_traps_sigterm_gets_to_clean_up() {
    let b = Bench::new();
    let s = b.script(
        "trap.sh",
        "trap 'cronium_output \"\\\"cleaned\\\"\"; exit 0' TERM\nsleep 30 & wait\n",
    );
    let (out, doc) = b.run_json(&["--timeout", "500ms", s.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(doc["output"], "cleaned");
}

#[test]
fn ctrl_c_stops_the_script_and_removes_the_socket_and_temp_files() {
    let b = Bench::new();
    let marker = b.path("socket-path");
    let pid_file = b.path("pid");
    let s = b.script(
        "wait.sh",
        &format!(
            "cronium_set_variable started true\necho $$ > {pid}\necho \"$CRONIUM_RUNTIME_SOCKET\" > {m}\nsleep 30\n",
            m = marker.display(),
            pid = pid_file.display()
        ),
    );
    let child = b
        .cmd(&["--json", s.to_str().expect("p")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let socket = PathBuf::from(wait_for_file(&marker, "the socket path"));
    let pid = wait_for_file(&pid_file, "the script's pid");
    let dir = socket.parent().expect("dir").to_path_buf();
    assert!(socket.exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).expect("dir").permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the run directory is private");
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["ending"], "interrupted");
    assert_eq!(doc["variables"][0]["key"], "started");
    assert!(!socket.exists(), "socket left behind");
    assert!(!dir.exists(), "run directory left behind");
    assert!(!pid_alive(&pid), "the script survived Ctrl-C");
}

#[test]
fn input_forms_context_user_env_and_arguments() {
    let b = Bench::new();
    let s = b.script(
        "echo.sh",
        r#"printf '%s|' "$(cronium_input)" "$(cronium_event name)" "$(cronium_event userId)" "$(cronium_event region)" "$#" "$1" "$2"
printf '\n'
cronium_stream_input | wc -l
"#,
    );
    let p = s.to_str().expect("p");
    let file = b.path("in.json");
    std::fs::write(&file, "{\"from\": \"file\"}\n").expect("write");
    let stream = b.path("in.ndjson");
    std::fs::write(&stream, "{\"i\":1}\n\n{\"i\":2}\n{\"i\":3}\n").expect("write");
    let at = format!("@{}", file.display());
    let (out, doc) = b.run_json(&[
        "--input",
        &at,
        "--input-stream",
        stream.to_str().expect("p"),
        "--event",
        "nightly",
        "--user",
        "grace",
        "--context",
        r#"{"region": "eu"}"#,
        p,
        "--",
        "a b",
        "--flag",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        doc["stdout"],
        "{\"from\":\"file\"}|nightly|grace|eu|2|a b|--flag|\n3\n"
    );
    assert_eq!(doc["inputStream"]["records"], 3);

    // stdin.
    let mut child = b
        .cmd(&["--json", "--input", "-", p])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"[1, 2,\n 3]")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        doc["stdout"].as_str().expect("s").starts_with("[1,2,3]|"),
        "{doc}"
    );

    // No input: null. --lang for a file without extension or shebang.
    let bare = b.script("bare", "cronium_input\n");
    let (out, doc) = b.run_json(&["--lang", "bash", bare.to_str().expect("p")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(doc["stdout"], "null\n");
}

#[test]
fn the_runner_refreshes_the_token_before_it_expires() {
    let b = Bench::new();
    let s = b.script(
        "long.sh",
        r#"sleep 3
cronium_input
curl -s --unix-socket "$CRONIUM_RUNTIME_SOCKET" -H "Authorization: Bearer $CRONIUM_EXECUTION_TOKEN" http://x/v1/input
"#,
    );
    let out = b
        .cmd(&["--json", "--input", "7", s.to_str().expect("p")])
        .env("CRONIUM_TOKEN_TTL", "2s")
        .env("CRONIUM_TOKEN_LEEWAY", "0s")
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let printed = doc["stdout"].as_str().expect("stdout");
    let mut lines = printed.lines();
    assert_eq!(
        lines.next(),
        Some("7"),
        "the helper used the refreshed token"
    );
    assert!(
        lines.next().is_some_and(|l| l.contains("token_expired")),
        "the first token did expire: {printed}"
    );
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let b = Bench::new();
    let ok = b.script("ok.sh", "cronium_output 1\n");
    let ok = ok.to_str().expect("p");
    // Create the store first, so "nothing written" is a count that could grow.
    let out = b.run(&[ok]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.executions(), 1);
    let unknown = b.script("notes.txt", "hello\n");
    let bad_stream = b.path("bad.ndjson");
    std::fs::write(&bad_stream, "{\"ok\":1}\n{nope\n").expect("write");
    let missing = b.path("missing.sh");
    let no_input = format!("@{}", b.path("nope.json").display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![missing.to_str().expect("p")], "cannot read the script"),
        (vec![unknown.to_str().expect("p")], "--lang"),
        (vec!["--input", "{\"a\":", ok], "--input is not valid JSON"),
        (vec!["--input", &no_input, ok], "cannot read the input file"),
        (
            vec!["--input-stream", bad_stream.to_str().expect("p"), ok],
            "line 2",
        ),
        (
            vec!["--context", "[1]", ok],
            "--context must be a JSON object",
        ),
        (vec!["--env", "NOEQUALS", ok], "KEY=VALUE"),
        (vec!["--timeout", "soon", ok], "not a duration"),
        (vec!["--ssh=-oProxyCommand=x", ok], "not a host name"),
    ];
    for (args, expect) in cases {
        let out = b.run(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    // No bwrap on PATH.
    let out = b
        .cmd(&["--isolate", ok])
        .env("PATH", "/nonexistent")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bubblewrap") && err.contains("apt-get install"),
        "{err}"
    );
    // A host nobody answers on.
    let port = free_port().port().to_string();
    let target = format!("127.0.0.1:{port}");
    let out = b
        .cmd(&["--ssh", &target, "--ssh-option", "ConnectTimeout=5", ok])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot run on 127.0.0.1 over ssh"), "{err}");
    assert_eq!(b.executions(), 1, "a bad run wrote an execution");

    // A second run on the same state dir while one is running.
    let marker = b.path("running");
    let slow = b.script(
        "slow.sh",
        &format!("echo up > {}\nsleep 30\n", marker.display()),
    );
    let mut first = b
        .cmd(&[slow.to_str().expect("p")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_file(&marker, "the first run");
    let out = b.run(&[ok]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("another cronium run is using the state directory"),
        "{err}"
    );
    signal(&first, libc::SIGTERM);
    let _ = first.wait();
    assert_eq!(b.executions(), 2, "only the first of the two runs");
}

#[test]
fn the_runner_applies_the_configured_request_limits() {
    let b = Bench::new();
    let calls = b.script(
        "calls.sh",
        "for i in 1 2 3 4; do\n  curl -s -o /dev/null -w '%{http_code} ' --unix-socket \"$CRONIUM_RUNTIME_SOCKET\" \\\n    -H \"Authorization: Bearer $CRONIUM_EXECUTION_TOKEN\" http://localhost/v1/input\ndone\n",
    );
    let calls = calls.to_str().expect("p");
    let codes = |rate: Option<&str>| {
        let mut cmd = b.cmd(&[calls]);
        if let Some(r) = rate {
            cmd.env("CRONIUM_RATE_LIMIT", r);
        }
        let out = cmd.output().expect("run");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // As under `serve`: one request per second, so back-to-back calls are refused.
    let limited = codes(Some("1"));
    assert!(limited.starts_with("200 "), "{limited}");
    assert!(limited.contains("429"), "{limited}");
    let open = codes(None);
    assert_eq!(open.trim(), "200 200 200 200");
    // A bad value is a configuration error, before anything runs.
    let before = b.executions();
    let out = b
        .cmd(&[calls])
        .env("CRONIUM_RATE_LIMIT", "fast")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("CRONIUM_RATE_LIMIT"), "{err}");
    assert_eq!(b.executions(), before);
}

#[test]
fn python_and_node_scripts_run_with_the_binding_paths_set() {
    let b = Bench::new();
    if which("python3") {
        let s = b.script(
            "p.py",
            // The script never spells the module's name, so the runner's check for a
            // missing binding (a script that names it) stays out of this test.
            "import os, sys\nprint(os.environ['CRONIUM_EXECUTION_ID'] != '', any(p.endswith('/python') and '/cron' + 'ium-' in p for p in sys.path))\nsys.exit(4)\n",
        );
        let (out, doc) = b.run_json(&[s.to_str().expect("p")]);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert_eq!(doc["lang"], "python");
        assert_eq!(doc["stdout"], "True True\n");
    } else {
        eprintln!("note: python3 not installed; the Python run is not tested");
    }
    if which("node") {
        let modules = b.path("node_modules");
        std::fs::create_dir_all(modules.join("cronium")).expect("mkdir");
        std::fs::write(
            modules.join("cronium/register.js"),
            "globalThis.cronium = { registered: true };\n",
        )
        .expect("write");
        let s = b.script(
            "n.js",
            "console.log(process.env.NODE_PATH.split(':')[0].endsWith('node_modules'), globalThis.cronium && globalThis.cronium.registered);\n",
        );
        let out = b
            .cmd(&["--json", s.to_str().expect("p")])
            .env("CRONIUM_NODE_PATH", &modules)
            .output()
            .expect("run");
        let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(doc["lang"], "node");
        assert_eq!(doc["stdout"], "true true\n", "{}", stderr(&out));
    } else {
        eprintln!("note: node not installed; the Node run is not tested");
    }
}

/// Global options work after the subcommand too (`run x.sh --state-dir D`, `serve --config
/// F`), arguments after `--` still go to the script, and the summary's hint names the state
/// dir it was given (issue 18, item 5).
#[test]
fn global_options_after_the_subcommand() {
    let b = Bench::new();
    let script = b.script("args.sh", "#!/bin/bash\nprintf 'args:%s\\n' \"$*\"\n");
    let state = b.path("elsewhere");
    let out = cronium()
        .arg("run")
        .arg(&script)
        .arg("--state-dir")
        .arg(&state)
        .arg("--")
        .arg("--state-dir")
        .arg("x")
        .stdin(Stdio::null())
        .current_dir(b.tmp.path())
        .output()
        .expect("run cronium run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stdout.contains("args:--state-dir x"),
        "script args: {stdout}"
    );
    let hint = format!("(cronium --state-dir {} executions show ", state.display());
    let line = stderr
        .lines()
        .find(|l| l.starts_with("execution "))
        .unwrap_or_else(|| panic!("no execution line: {stderr}"));
    assert!(line.contains(&hint), "hint {hint:?} in {line:?}");
    // The hint works as printed, and the option after the subcommand too.
    let id = line.split_whitespace().nth(1).expect("id");
    let shown = cronium()
        .args(["--state-dir"])
        .arg(&state)
        .args(["executions", "show", id])
        .output()
        .expect("show");
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let shown = cronium()
        .args(["executions", "show", id, "--state-dir"])
        .arg(&state)
        .output()
        .expect("show");
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );

    // `serve --config F` reads F (here: a file that is not there, named in the error).
    let missing = b.path("no-such.toml");
    let out = cronium()
        .arg("serve")
        .arg("--config")
        .arg(&missing)
        .output()
        .expect("serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such.toml"), "names the file: {stderr}");
}

/// Issue 18: `cronium run` finds the bindings that belong to it with no environment
/// variable, in a build tree (`target/<profile>/cronium` with `target/node_modules` and the
/// `.venv` beside `target`) and in an install (`PREFIX/bin/cronium` with
/// `PREFIX/lib/cronium/{node_modules,python}`); a variable still overrides. The layouts are
/// made around a link to the real binary, with marker packages standing in for the built
/// ones (the real ones are what `make demo` runs).
#[test]
fn run_finds_the_bindings_beside_its_executable() {
    let b = Bench::new();
    let link = |to: &Path| {
        std::fs::create_dir_all(to.parent().expect("dir")).expect("mkdir");
        let real = Path::new(env!("CARGO_BIN_EXE_cronium"));
        std::fs::hard_link(real, to)
            .or_else(|_| std::fs::copy(real, to).map(|_| ()))
            .expect("link cronium");
    };
    let node_package = |modules: &Path, marker: &str| {
        let pkg = modules.join("cronium");
        std::fs::create_dir_all(&pkg).expect("mkdir");
        std::fs::write(
            pkg.join("package.json"),
            r#"{"name":"cronium","main":"index.js"}"#,
        )
        .expect("write");
        std::fs::write(
            pkg.join("index.js"),
            format!("module.exports = {{ marker: '{marker}' }};\n"),
        )
        .expect("write");
    };
    let py = b.script(
        "p.py",
        "import sys\nimport cronium\nprint(getattr(cronium, 'MARKER', None), sys.executable)\n",
    );
    let js = b.script("n.js", "console.log(require('cronium').marker);\n");
    let which_python = b.script("w.py", "import sys\nprint(sys.executable)\n");
    let run = |exe: &Path, script: &Path, env: &[(&str, &str)]| {
        let out = crate::harness::cronium_at(exe)
            .arg("--state-dir")
            .arg(b.state())
            .args(["run", "--json", script.to_str().expect("p")])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let doc: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        doc["stdout"].as_str().unwrap_or_default().trim().to_owned()
    };

    // An install: PREFIX/bin/cronium.
    let prefix = b.path("prefix");
    let exe = prefix.join("bin/cronium");
    link(&exe);
    let py_dir = prefix.join("lib/cronium/python/cronium");
    std::fs::create_dir_all(&py_dir).expect("mkdir");
    std::fs::write(py_dir.join("__init__.py"), "MARKER = 'installed'\n").expect("write");
    node_package(&prefix.join("lib/cronium/node_modules"), "installed");
    // The installed Bash builtin is handed to Bash scripts (a stand-in file: cronium.sh
    // falls back to curl when it does not load, so the script still runs).
    let builtin = prefix.join("lib/bash/cronium_builtin.so");
    std::fs::create_dir_all(builtin.parent().expect("dir")).expect("mkdir");
    std::fs::write(&builtin, "").expect("write");
    let sh = b.script("b.sh", "echo \"$CRONIUM_BUILTIN\"\n");
    let line = run(&exe, &sh, &[]);
    assert!(
        line.ends_with("prefix/bin/../lib/bash/cronium_builtin.so"),
        "{line}"
    );
    assert_eq!(
        run(&exe, &sh, &[("CRONIUM_BUILTIN", "")]),
        "",
        "empty: curl"
    );
    if which("python3") {
        let line = run(&exe, &py, &[]);
        assert!(line.starts_with("installed "), "{line}");
    }
    if which("node") {
        assert_eq!(run(&exe, &js, &[]), "installed");
        // The environment overrides what is found.
        let other = b.path("other_modules");
        node_package(&other, "override");
        let other = other.to_str().expect("p");
        assert_eq!(run(&exe, &js, &[("CRONIUM_NODE_PATH", other)]), "override");
    }

    // A build tree: ROOT/target/debug/cronium, ROOT/target/node_modules, ROOT/.venv.
    let root = b.path("tree");
    let exe = root.join("target/debug/cronium");
    link(&exe);
    node_package(&root.join("target/node_modules"), "built");
    if which("node") {
        assert_eq!(run(&exe, &js, &[]), "built");
    }
    if which("python3") {
        // A .venv without the module is not taken (it may be somebody else's).
        let venv = root.join(".venv");
        std::fs::create_dir_all(venv.join("bin")).expect("mkdir");
        let python3 = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3");
        let python3 = String::from_utf8_lossy(&python3.stdout).trim().to_owned();
        std::os::unix::fs::symlink(&python3, venv.join("bin/python")).expect("symlink");
        let line = run(&exe, &which_python, &[]);
        assert!(
            !line.contains(".venv"),
            "a .venv without cronium was used: {line}"
        );
        let site = venv.join("lib/python3/site-packages/cronium");
        std::fs::create_dir_all(&site).expect("mkdir");
        let line = run(&exe, &which_python, &[]);
        assert!(line.ends_with(".venv/bin/python"), "{line}");
    }
}

/// Issue 18: when the binding is nowhere (a `cronium` alone in a fresh directory, no
/// setting, the interpreter cannot import it), a script that names `cronium` is refused
/// before anything is stored, with one line naming each place looked in and the make target
/// that builds it; a script that never names `cronium` still runs.
#[test]
fn run_says_where_it_looked_when_the_binding_is_missing() {
    let b = Bench::new();
    let exe = b.path("alone/bin/cronium");
    std::fs::create_dir_all(exe.parent().expect("dir")).expect("mkdir");
    let real = Path::new(env!("CARGO_BIN_EXE_cronium"));
    std::fs::hard_link(real, &exe)
        .or_else(|_| std::fs::copy(real, &exe).map(|_| ()))
        .expect("link cronium");
    let run = |script: &Path| {
        crate::harness::cronium_at(&exe)
            .arg("--state-dir")
            .arg(b.state())
            .args(["run", script.to_str().expect("p")])
            .env_remove("PYTHONPATH")
            .env_remove("NODE_PATH")
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    let alone = b.path("alone");
    let cases = [
        (
            "python3",
            b.script("uses.py", "import cronium\nprint(cronium.input)\n"),
            b.script("plain.py", "print('plain')\n"),
            "make python",
            alone.join("lib/cronium/python"),
        ),
        (
            "node",
            b.script("uses.js", "const c = require('cronium');\n"),
            b.script("plain.js", "console.log('plain');\n"),
            "make node",
            alone.join("lib/cronium/node_modules"),
        ),
    ];
    for (interpreter, uses, plain, build, installed) in cases {
        if !which(interpreter) {
            continue;
        }
        let before = b.executions();
        let out = run(&uses);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&installed.display().to_string()), "{err}");
        assert!(err.contains(build) && err.contains("make install"), "{err}");
        assert_eq!(b.executions(), before, "nothing stored: {err}");
        let out = run(&plain);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("plain"));
    }
}
