//! `--isolate`: the script runs the way a container would run it, under bubblewrap: its own
//! network namespace (no network at all, not even loopback to the host), its own PID, IPC
//! and UTS namespaces, a read-only root, private `/tmp`, `/var/tmp` and `/run`, and the run
//! directory (socket, helpers, token file) as the only thing mounted at `/run/cronium`.
//!
//! The state directory (the store and the signing key) is covered by an empty tmpfs, so the
//! script can reach its data only through the API with its own token.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::lang::find_program;
use super::RunError;

/// Where the run directory appears inside the sandbox, as in a Cronium container.
pub const INSIDE: &str = "/run/cronium";

/// Host directories replaced by an empty tmpfs inside, so no other run's socket or temp
/// file is visible.
const HIDDEN: [&str; 3] = ["/tmp", "/var/tmp", "/run"];

/// A found `bwrap`.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
}

/// What to put in the sandbox.
#[derive(Debug)]
pub struct Layout<'a> {
    /// The private run directory, mounted read-write at [`INSIDE`].
    pub run_dir: &'a Path,
    /// The state directory, hidden.
    pub state_dir: &'a Path,
    /// The script (its directory stays visible, read-only).
    pub script: &'a Path,
    /// Working directory (stays visible, read-only).
    pub cwd: &'a Path,
}

impl Sandbox {
    /// Finds `bwrap` on `PATH`, or says how to install it.
    pub fn find(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, RunError> {
        find_program("bwrap", env)
            .map(|bwrap| Sandbox { bwrap })
            .ok_or_else(|| RunError {
                code: 2,
                message: "--isolate needs bubblewrap (bwrap), which is not on PATH; install it: \
                          apt-get install bubblewrap (Debian, Ubuntu) or dnf install bubblewrap"
                    .into(),
            })
    }

    /// The program to start, and its arguments up to (and including) `--`; the interpreter
    /// and the script's arguments follow.
    pub fn command(&self, layout: &Layout<'_>) -> (PathBuf, Vec<OsString>) {
        let mut a: Vec<OsString> = Vec::new();
        let mut arg = |s: &str| a.push(s.into());
        for flag in [
            "--die-with-parent",
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            "cronium",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ] {
            arg(flag);
        }
        // The temp dir (where other runs' directories are) is hidden too when TMPDIR points
        // outside the usual places.
        let mut hidden: Vec<PathBuf> = HIDDEN.iter().map(PathBuf::from).collect();
        let tmp = std::env::temp_dir();
        if !hidden.iter().any(|d| tmp.starts_with(d)) {
            hidden.push(tmp);
        }
        hidden.retain(|d| d.is_dir());
        for d in &hidden {
            a.extend(["--tmpfs".into(), d.into()]);
        }
        // The script's directory and the working directory stay visible (read-only) even
        // when they live under a hidden directory; a hidden directory itself stays hidden
        // (only the script file is shown), or every other run's files would be back.
        let under_hidden = |p: &Path| hidden.iter().any(|d| p.starts_with(d));
        let is_hidden_root = |p: &Path| hidden.iter().any(|d| p == d);
        let script_dir = layout.script.parent().unwrap_or(Path::new("/"));
        let mut binds: Vec<&Path> = Vec::new();
        for p in [script_dir, layout.cwd] {
            if under_hidden(p) && !is_hidden_root(p) && !binds.iter().any(|b| p.starts_with(b)) {
                binds.retain(|b| !b.starts_with(p));
                binds.push(p);
            }
        }
        if is_hidden_root(script_dir) {
            binds.push(layout.script);
        }
        for b in &binds {
            a.extend(["--ro-bind".into(), b.into(), b.into()]);
        }
        a.extend(["--bind".into(), layout.run_dir.into(), INSIDE.into()]);
        let state_visible = layout.state_dir.is_dir()
            && (!under_hidden(layout.state_dir)
                || binds.iter().any(|b| layout.state_dir.starts_with(b)));
        if state_visible {
            a.extend(["--tmpfs".into(), layout.state_dir.into()]);
        }
        a.extend(["--chdir".into(), layout.cwd.into(), "--".into()]);
        (self.bwrap.clone(), a)
    }
}

/// Sends `sig` to every process of the process group `pgid` except its leader (bwrap).
///
/// bwrap does not pass signals on and dies of them, and its death kills the whole sandbox
/// at once; sending the signal to the processes inside lets the script stop gracefully
/// (the sandbox's init ignores it, as a PID namespace's init does).
pub fn signal_inside(pgid: i32, sig: rustix::process::Signal) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == pgid {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces and parentheses): state,
        // ppid, pgrp, ...
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<i32>().ok());
        if pgrp == Some(pgid) {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, sig);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_right_in_tmp_does_not_uncover_tmp() {
        let sb = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
        };
        let (_, args) = sb.command(&Layout {
            run_dir: Path::new("/tmp/cronium-x"),
            state_dir: Path::new("/nonexistent-state"),
            script: Path::new("/tmp/s.sh"),
            cwd: Path::new("/tmp"),
        });
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let binds: Vec<&[String]> = args.windows(3).filter(|w| w[0] == "--ro-bind").collect();
        assert_eq!(binds.len(), 2, "{args:?}");
        assert_eq!(binds[1][1], "/tmp/s.sh");
    }

    #[test]
    fn hides_tmp_and_state_but_keeps_the_script_visible() {
        let sb = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        let script = tmp.path().join("s.sh");
        let (_, args) = sb.command(&Layout {
            run_dir: Path::new("/tmp/cronium-x"),
            state_dir: &state,
            script: &script,
            cwd: Path::new("/"),
        });
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let pos = |needle: &[&str]| {
            args.windows(needle.len())
                .position(|w| w == needle)
                .unwrap_or_else(|| panic!("{needle:?} not in {args:?}"))
        };
        let dir = tmp.path().display().to_string();
        let state = state.display().to_string();
        assert!(pos(&["--tmpfs", "/tmp"]) < pos(&["--ro-bind", &dir, &dir]));
        assert!(pos(&["--ro-bind", &dir, &dir]) < pos(&["--tmpfs", &state]));
        assert!(pos(&["--tmpfs", "/run"]) < pos(&["--bind", "/tmp/cronium-x", INSIDE]));
        pos(&["--unshare-net"]);
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }
}
