//! `cronium run --ssh`: a real sshd on 127.0.0.1 (a random port, generated host and user
//! keys in a temp dir) and the runner connecting through it with a reverse tunnel.
//!
//! Needs OpenSSH (`scripts/ensure-tools.sh test` installs openssh-server and the client).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{free_port, signal};
use crate::run::{pid_alive, stderr, wait_for_file, Bench};

/// A private sshd, killed on drop.
pub struct Sshd {
    pub tmp: tempfile::TempDir,
    pub port: u16,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub user: String,
    child: Child,
}

fn sshd_path() -> PathBuf {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("sshd is not installed: run scripts/ensure-tools.sh test (apt-get install openssh-server)")
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(st.success());
}

impl Sshd {
    pub fn start() -> Self {
        let sshd = sshd_path();
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("copy");
        let out = Command::new("id").arg("-un").output().expect("id");
        let user = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && user == "root" {
            // sshd's privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = free_port().port();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nPidFile none\nPermitRootLogin prohibit-password\n\
                 AllowTcpForwarding yes\nLogLevel INFO\n",
                hk = d.join("host_key").display(),
                ak = d.join("authorized_keys").display()
            ),
        )
        .expect("config");
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).expect("log"))
            .spawn()
            .expect("start sshd");
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).expect("write");
        let s = Sshd {
            port,
            key: d.join("user_key"),
            known_hosts,
            user,
            child,
            tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start: {}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("sshd.log")).unwrap_or_default()
    }

    /// The `--ssh ...` options that reach this sshd, host key checked.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--ssh".into(),
            format!("{}@127.0.0.1:{}", self.user, self.port),
            "--identity".into(),
            self.key.display().to_string(),
            "--ssh-option".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "--ssh-option".into(),
            "StrictHostKeyChecking=yes".into(),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with<'a>(ssh: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = ssh.iter().map(String::as_str).collect();
    v.extend_from_slice(rest);
    v
}

#[test]
fn a_script_runs_on_the_remote_host_through_a_reverse_tunnel() {
    let sshd = Sshd::start();
    let b = Bench::new();
    let facts = b.path("remote-facts");
    let script = b.script(
        "remote.sh",
        &format!(
            r#"d=$(dirname "$BASH_ENV")
{{
  echo "api=$CRONIUM_RUNTIME_API"
  echo "socket=${{CRONIUM_RUNTIME_SOCKET-unset}}"
  echo "dir=$d"
  echo "dirmode=$(stat -c %a "$d")"
  echo "open=$(find "$d" -perm /077 | wc -l)"
  echo "token=$CRONIUM_EXECUTION_TOKEN"
  echo "args=$#:$1:$2"
  echo "env=$GREETING"
}} > {facts}
cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' > {facts}.argv
name=$(cronium_input)
cronium_set_variable remote_seen "$name"
cronium_set_condition true
cronium_output "{{\"from\":\"remote\",\"input\":$name}}"
echo "to stdout"
echo "to stderr" >&2
exit 5
"#,
            facts = facts.display()
        ),
    );
    let ssh = sshd.args();
    let (out, doc) = b.run_json(&with(
        &ssh,
        &[
            "--input",
            "\"Ada\"",
            "--env",
            "GREETING=hello",
            script.to_str().expect("p"),
            "--",
            "one two",
            "three",
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}\nsshd: {}",
        stderr(&out),
        sshd.log()
    );
    assert!(sshd.log().contains("Accepted publickey"), "{}", sshd.log());
    assert_eq!(doc["exitCode"], 5);
    assert_eq!(doc["output"]["from"], "remote");
    assert_eq!(doc["output"]["input"], "Ada");
    assert_eq!(doc["condition"], true);
    assert_eq!(doc["variables"][0]["value"], "Ada");
    assert_eq!(doc["stdout"], "to stdout\n");
    assert!(stderr(&out).contains("to stderr"));

    let facts = std::fs::read_to_string(&facts).expect("facts");
    let fact = |k: &str| {
        facts
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {facts}"))
            .to_owned()
    };
    let api = fact("api");
    let port: u16 = api
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a loopback URL: {api}"));
    assert!(port > 0 && port != sshd.port);
    assert_eq!(fact("socket"), "unset", "TCP mode on the remote side");
    assert_eq!(fact("dirmode"), "700");
    assert_eq!(fact("open"), "0", "a file others can read");
    let token = fact("token");
    assert_eq!(token.split('.').count(), 3);
    let argv = std::fs::read_to_string(b.path("remote-facts.argv")).expect("argv");
    assert!(
        argv.contains("exec bash -c"),
        "the bootstrap was running: {argv}"
    );
    assert!(!argv.contains(&token), "the token is in some argv");
    assert_eq!(fact("args"), "2:one two:three");
    assert_eq!(fact("env"), "hello");
    let dir = fact("dir");
    assert!(
        !Path::new(&dir).exists(),
        "remote temp dir {dir} left behind"
    );
}

#[test]
fn timeout_and_ctrl_c_stop_the_remote_script() {
    let sshd = Sshd::start();
    let b = Bench::new();
    let pid_file = b.path("remote-pid");
    let script = b.script(
        "sleepy.sh",
        &format!(
            // The pid is written by a builtin right before `sleep`: a signal that lands
            // while a child is exiting normally (an `mv`, say) is taken by bash as handled.
            "cronium_set_variable began true\necho $$ > {p}\nsleep 30\n",
            p = pid_file.display()
        ),
    );
    let ssh = sshd.args();
    let (out, doc) = b.run_json(&with(
        &ssh,
        &["--timeout", "1s", script.to_str().expect("p")],
    ));
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert_eq!(doc["timedOut"], true);
    assert_eq!(doc["variables"][0]["key"], "began");
    let pid = wait_for_file(&pid_file, "the remote script's pid");
    let gone_by = Instant::now() + Duration::from_secs(8);
    while pid_alive(pid.trim()) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pid_alive(pid.trim()),
        "the remote script outlived the timeout"
    );

    // Ctrl-C.
    std::fs::remove_file(&pid_file).expect("rm");
    let child = b
        .cmd(&with(&ssh, &["--json", script.to_str().expect("p")]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = wait_for_file(&pid_file, "the remote script's pid");
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["ending"], "interrupted");
    let gone_by = Instant::now() + Duration::from_secs(8);
    while pid_alive(pid.trim()) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(pid.trim()), "the remote script outlived Ctrl-C");
}
