//! `--container`: the script runs in a container of its language's image (images/), driven
//! through the engine's command line (`docker`, or `podman` with `--engine podman`): the
//! same CLI an operator uses, so what runs here is what they would type.
//!
//! The container gets `--network none`, a read-only root (a private tmpfs on `/tmp`), every
//! capability dropped, `no-new-privileges`, memory and process limits, a non-root user, and
//! exactly two host paths: the run directory at `/run/cronium` (socket and token file) and
//! the script, read-only. Its environment comes from an env file (never argv: the token is
//! in it); the image supplies the language settings (`BASH_ENV`, `PYTHONPATH`, `NODE_PATH`,
//! `NODE_OPTIONS`), the same files `cronium run` uses on the host.
//!
//! Who may reach the socket: the run directory is 0700 and the socket 0660, both owned by
//! the uid the container runs as, so the kernel refuses anyone else. Run by a normal user,
//! the container runs as that user's uid and gid. Run as root, the container runs as the
//! images' fixed script user ([`SCRIPT_UID`]) and the runner gives the run directory to that
//! uid (root's own server still reaches its socket).
//!
//! Before anything is written, the image is inspected: that answers whether the engine is
//! reachable, whether the image exists, and (its `io.cronium.runtime` label) whether it
//! holds the runtime for the script's language.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::lang::{find_program, Lang};
use super::RunError;

/// Where the run directory appears in the container.
pub const INSIDE: &str = "/run/cronium";

/// Where the script appears in the container (read-only), under its own file name.
pub const SCRIPT_DIR: &str = "/script";

/// The images' script user and group (images/*/Dockerfile).
pub const SCRIPT_UID: u32 = 10002;

/// The label a script image carries: the language whose runtime it holds.
pub const RUNTIME_LABEL: &str = "io.cronium.runtime";

/// Memory limit without `--memory`.
pub const DEFAULT_MEMORY: &str = "512m";

/// Process limit without `--pids`.
pub const DEFAULT_PIDS: u32 = 256;

/// A container engine with a Docker-compatible command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Docker (`docker`).
    Docker,
    /// Podman (`podman`).
    Podman,
}

impl EngineKind {
    fn program(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

/// A checked `--container` run: the engine answers and the image holds the runtime.
#[derive(Debug, Clone)]
pub struct Container {
    engine: PathBuf,
    kind: EngineKind,
    image: String,
    memory: String,
    pids: u32,
    /// The uid and gid the container runs as.
    pub user: (u32, u32),
    /// `Some` when the run directory must be given to [`Container::user`] (run as root).
    pub chown: Option<(u32, u32)>,
}

/// What `--container` was given.
#[derive(Debug)]
pub struct Options<'a> {
    /// `--engine`.
    pub engine: Option<EngineKind>,
    /// `--image`.
    pub image: Option<&'a str>,
    /// `--memory`.
    pub memory: Option<&'a str>,
    /// `--pids`.
    pub pids: Option<u32>,
}

/// The default image of a language, as `make images` tags it.
pub fn default_image(lang: Lang) -> String {
    format!("cronium/{}:latest", lang.name())
}

impl Container {
    /// Finds the engine and inspects the image; every failure is one line, exit code 2.
    pub fn prepare(
        o: &Options<'_>,
        lang: Lang,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, RunError> {
        let kind = o.engine.unwrap_or(EngineKind::Docker);
        let program = kind.program();
        let engine = find_program(program, env).ok_or_else(|| {
            RunError::usage(format!(
                "--container needs {program}, which is not on PATH; install it \
                 (apt-get install {}) or pass --engine {}",
                if kind == EngineKind::Docker {
                    "docker.io"
                } else {
                    "podman"
                },
                if kind == EngineKind::Docker {
                    "podman"
                } else {
                    "docker"
                },
            ))
        })?;
        let image = o
            .image
            .map(str::to_owned)
            .unwrap_or_else(|| default_image(lang));
        if image.is_empty() || image.starts_with('-') {
            return Err(RunError::usage(format!(
                "--image {image:?} is not an image name"
            )));
        }
        let memory = o.memory.unwrap_or(DEFAULT_MEMORY).to_owned();
        let memory_ok = {
            let digits = memory.trim_end_matches(['b', 'k', 'm', 'g', 'B', 'K', 'M', 'G']);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && memory.len() - digits.len() <= 1
        };
        if !memory_ok {
            return Err(RunError::usage(format!(
                "--memory {memory:?} is not a size; use a number with b, k, m or g, e.g. 512m"
            )));
        }
        let pids = o.pids.unwrap_or(DEFAULT_PIDS);
        if pids == 0 {
            return Err(RunError::usage("--pids must be at least 1"));
        }
        let label = format!("{{{{index .Config.Labels \"{RUNTIME_LABEL}\"}}}}");
        let out = Command::new(&engine)
            .args(["image", "inspect", "--format", &label, &image])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| RunError::usage(format!("cannot start {program}: {e}")))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            let line = said
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no answer")
                .trim_start_matches("Error: ")
                .trim_start_matches("Error response from daemon: ");
            let lower = said.to_ascii_lowercase();
            return Err(RunError::usage(
                if lower.contains("no such image")
                    || lower.contains("no such object")
                    || lower.contains("image not known")
                {
                    format!(
                        "the image {image} does not exist in {program}; build the images with \
                         `make images` (in the cronium-runtime repository) or pass --image"
                    )
                } else {
                    format!(
                        "cannot reach the container engine ({program}): {line}; start it \
                         (dockerd, systemctl start {program}) or fix DOCKER_HOST"
                    )
                },
            ));
        }
        let runtime = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if runtime != lang.name() {
            return Err(RunError::usage(format!(
                "the image {image} has no Cronium runtime for {} (its label {RUNTIME_LABEL} is {}); \
                 use an image of images/ (make images) or one built FROM it",
                lang.name(),
                if runtime.is_empty() || runtime == "<no value>" {
                    "missing".to_owned()
                } else {
                    format!("{runtime:?}")
                }
            )));
        }
        let euid = rustix::process::geteuid().as_raw();
        let (user, chown) = if euid == 0 {
            ((SCRIPT_UID, SCRIPT_UID), Some((SCRIPT_UID, SCRIPT_UID)))
        } else {
            ((euid, rustix::process::getegid().as_raw()), None)
        };
        Ok(Container {
            engine,
            kind,
            image,
            memory,
            pids,
            user,
            chown,
        })
    }

    /// The engine's program.
    pub fn engine(&self) -> &Path {
        &self.engine
    }

    /// `run` and its options up to the image; the command inside follows.
    pub fn run_args(&self, layout: &Layout<'_>) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        for flag in [
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--tmpfs",
            "/tmp:rw,nosuid,nodev,size=64m,mode=1777",
        ] {
            push(flag);
        }
        // An init as PID 1 passes --timeout's and Ctrl-C's signals on to the script (a
        // script as PID 1 would ignore them) and reaps what it leaves behind.
        push("--init");
        // The script's output goes to the runner, not to the engine's log files.
        if self.kind == EngineKind::Docker {
            push("--log-driver");
            push("none");
        }
        push("--name");
        push(layout.name);
        push("--user");
        push(&format!("{}:{}", self.user.0, self.user.1));
        push("--memory");
        push(&self.memory);
        push("--memory-swap");
        push(&self.memory);
        push("--pids-limit");
        push(&self.pids.to_string());
        push("--env-file");
        a.push(layout.env_file.into());
        let mut volume = OsString::from(layout.run_dir);
        volume.push(format!(":{INSIDE}"));
        a.push("--volume".into());
        a.push(volume);
        let mut script = OsString::from(layout.script);
        script.push(format!(":{}:ro", self.script_path(layout.script_name)));
        a.push("--volume".into());
        a.push(script);
        if layout.stdin {
            a.push("--interactive".into());
        }
        a.push(self.image.clone().into());
        a
    }

    /// The script's path inside the container.
    pub fn script_path(&self, name: &str) -> String {
        format!("{SCRIPT_DIR}/{name}")
    }

    /// `kill --signal SIG NAME`.
    pub fn kill_args(name: &str, signal: &str) -> Vec<String> {
        vec!["kill".into(), "--signal".into(), signal.into(), name.into()]
    }
}

/// What goes into one container.
#[derive(Debug)]
pub struct Layout<'a> {
    /// The container's name (to signal and remove it).
    pub name: &'a str,
    /// The run directory (mounted at [`INSIDE`]).
    pub run_dir: &'a Path,
    /// The env file.
    pub env_file: &'a Path,
    /// The script on the host.
    pub script: &'a Path,
    /// Its file name.
    pub script_name: &'a str,
    /// Whether the runner's stdin is passed on.
    pub stdin: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_gets_no_network_no_capabilities_and_two_mounts() {
        let c = Container {
            engine: "/usr/bin/docker".into(),
            kind: EngineKind::Docker,
            image: "cronium/bash:latest".into(),
            memory: "64m".into(),
            pids: 32,
            user: (10002, 10002),
            chown: None,
        };
        let args: Vec<String> = c
            .run_args(&Layout {
                name: "cronium-x",
                run_dir: Path::new("/tmp/cronium-x"),
                env_file: Path::new("/tmp/cronium-x.env"),
                script: Path::new("/home/a/s.sh"),
                script_name: "s.sh",
                stdin: false,
            })
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let has = |w: &[&str]| args.windows(w.len()).any(|x| x == w);
        assert!(has(&["--network", "none"]), "{args:?}");
        assert!(has(&["--cap-drop", "ALL"]));
        assert!(has(&["--security-opt", "no-new-privileges"]));
        assert!(has(&["--read-only"]));
        assert!(has(&["--user", "10002:10002"]));
        assert!(has(&["--pids-limit", "32"]));
        let volumes: Vec<&String> = args
            .windows(2)
            .filter(|w| w[0] == "--volume")
            .map(|w| &w[1])
            .collect();
        assert_eq!(
            volumes,
            [
                "/tmp/cronium-x:/run/cronium",
                "/home/a/s.sh:/script/s.sh:ro"
            ]
        );
        assert!(!args.iter().any(|a| a == "--interactive"));
        assert_eq!(args.last().map(String::as_str), Some("cronium/bash:latest"));
    }
}
