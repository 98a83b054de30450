//! The container rows: `cronium run --container` of an empty Bash script next to the
//! engine running `true` in the same image, and the sidecar image's start (container
//! created → socket accepting) next to the same image running a command that exits at
//! once. Skipped, with the reason, when no engine answers or the images are not built
//! (`make images`).

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Row, Series, Target, SECRET};

const BASH_IMAGE: &str = "cronium/bash:latest";
const SIDECAR_IMAGE: &str = "cronium/sidecar:latest";

fn quiet(c: &mut Command) -> &mut Command {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
}

/// Why the rows cannot be measured, if they cannot.
fn unavailable() -> Option<String> {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    match answers {
        Err(_) => return Some("docker is not installed".into()),
        Ok(o) if !o.status.success() => return Some("no Docker daemon answers".into()),
        Ok(_) => {}
    }
    let images =
        quiet(Command::new("docker").args(["image", "inspect", BASH_IMAGE, SIDECAR_IMAGE]))
            .status();
    match images {
        Ok(s) if s.success() => None,
        _ => Some("the images are not built (make images)".into()),
    }
}

fn timed(c: &mut Command, what: &str) -> Result<Duration, String> {
    let t = Instant::now();
    let st = quiet(c).status().map_err(|e| format!("{what}: {e}"))?;
    let took = t.elapsed();
    if !st.success() {
        return Err(format!("{what} failed: {st}"));
    }
    Ok(took)
}

fn skipped(figure: &str, why: &str) -> Row {
    Row {
        figure: figure.into(),
        unit: "ms",
        skipped: Some(why.into()),
        ..Row::default()
    }
}

const RUN_FIGURE: &str = "`cronium run --container` of an empty Bash script";
const START_FIGURE: &str = "sidecar container start → socket accepting";

/// Adds the two rows (skipped ones when there is no engine or no image).
pub fn container_rows(cronium: &Path, dir: &Path, n: usize, rows: &mut Vec<Row>) {
    if let Some(why) = unavailable() {
        eprintln!("cronium-bench: {why}; the container rows are skipped");
        rows.push(skipped(RUN_FIGURE, &why));
        rows.push(skipped(START_FIGURE, &why));
        return;
    }
    match run_rows(cronium, dir, n) {
        Ok(r) => rows.push(r),
        Err(e) => rows.push(skipped(RUN_FIGURE, &e)),
    }
    match start_rows(dir, n) {
        Ok(r) => rows.push(r),
        Err(e) => rows.push(skipped(START_FIGURE, &e)),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run_rows(cronium: &Path, dir: &Path, n: usize) -> Result<Row, String> {
    let script = dir.join("container-empty.sh");
    std::fs::write(&script, "#!/usr/bin/env bash\n").map_err(|e| e.to_string())?;
    let state = dir.join("container-state");
    let (mut run_s, mut true_s) = (Series::default(), Series::default());
    for i in 0..n + 1 {
        let took = timed(
            cronium_testkit::cronium_command(cronium, SECRET)
                .arg("--state-dir")
                .arg(&state)
                .args(["run", "--container"])
                .arg(&script),
            "cronium run --container",
        )?;
        let true_took = timed(
            Command::new("docker").args(["run", "--rm", BASH_IMAGE, "true"]),
            "docker run --rm IMAGE true",
        )?;
        if i > 0 {
            run_s.add_round(vec![took]);
            true_s.add_round(vec![true_took]);
        }
    }
    Ok(Row {
        figure: RUN_FIGURE.into(),
        unit: "ms",
        median: ms(run_s.median()),
        p99: Some(ms(run_s.p99())),
        baseline: Some((
            format!("`docker run --rm {BASH_IMAGE} true`"),
            ms(true_s.median()),
        )),
        target: Some(Target::Ratio(1.3)),
        ..Row::default()
    })
}

/// The sidecar's socket directory is a host directory here, so the host can tell when it
/// accepts; it belongs to the image's user (10001) so the sidecar can create the socket.
fn start_rows(dir: &Path, n: usize) -> Result<Row, String> {
    let (mut start_s, mut exit_s) = (Series::default(), Series::default());
    for i in 0..n + 1 {
        let run_dir = dir.join(format!("sidecar-run-{i}"));
        std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
        let (uid, gid) = owner_for_container(&run_dir)?;
        let name = format!("cronium-bench-sidecar-{}-{i}", std::process::id());
        let mount = format!("{}:/run/cronium", run_dir.display());
        let user = format!("{uid}:{gid}");
        let state = format!("/var/lib/cronium:uid={uid},gid={gid},mode=0700");
        let socket = run_dir.join("runtime.sock");
        let t = Instant::now();
        quiet(Command::new("docker").args([
            "run",
            "--detach",
            "--rm",
            "--read-only",
            "--user",
            &user,
            "--name",
            &name,
            "--volume",
            &mount,
            "--tmpfs",
            &state,
            SIDECAR_IMAGE,
        ]))
        .status()
        .map_err(|e| format!("docker run: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let accepted = loop {
            if UnixStream::connect(&socket).is_ok() {
                break Some(t.elapsed());
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let _ = quiet(Command::new("docker").args(["rm", "--force", &name])).status();
        let took = accepted.ok_or("the sidecar container never accepted on its socket")?;
        let exit_took = timed(
            Command::new("docker").args([
                "run",
                "--rm",
                "--read-only",
                "--user",
                &user,
                "--volume",
                &mount,
                "--entrypoint",
                "cronium",
                SIDECAR_IMAGE,
                "--version",
            ]),
            "docker run --rm --entrypoint cronium sidecar --version",
        )?;
        if i > 0 {
            start_s.add_round(vec![took]);
            exit_s.add_round(vec![exit_took]);
        }
    }
    Ok(Row {
        figure: START_FIGURE.into(),
        unit: "ms",
        median: ms(start_s.median()),
        p99: Some(ms(start_s.p99())),
        baseline: Some((
            "the same container running `cronium --version` (the image has no `true`)".into(),
            ms(exit_s.median()),
        )),
        ..Row::default()
    })
}

/// The uid and gid the sidecar container runs as for a host directory: the images' 10001
/// (given the directory) when run as root, else the caller's own.
fn owner_for_container(dir: &Path) -> Result<(u32, u32), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self").map_err(|e| e.to_string())?;
    if meta.uid() == 0 {
        std::os::unix::fs::chown(dir, Some(10001), Some(10001)).map_err(|e| e.to_string())?;
        Ok((10001, 10001))
    } else {
        Ok((meta.uid(), meta.gid()))
    }
}
