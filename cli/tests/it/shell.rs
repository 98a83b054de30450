//! `cronium completions` and `cronium manpages`: generated from the same parser as the
//! commands, so they are checked by using them: bash loads the completion script and
//! completes a subcommand; the man pages name every subcommand.

use std::process::Command;

use crate::harness::cronium;

/// The completions bash offers after `cronium <words>` (the last word being completed).
fn complete(script: &str, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "set -e; source <(cat <<'CRONIUM_COMPLETION'\n{script}\nCRONIUM_COMPLETION\n); \
         COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
         _cronium cronium \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words.len() - 1
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_options() {
    let out = cronium()
        .args(["completions", "bash"])
        .output()
        .expect("completions");
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).expect("utf-8");
    assert!(complete(&script, &["cronium", "exe"]).contains(&"executions".to_owned()));
    let run = complete(&script, &["cronium", "run", "--ti"]);
    assert!(run.contains(&"--timeout".to_owned()), "{run:?}");
    let sub = complete(&script, &["cronium", "executions", "sh"]);
    assert_eq!(sub, vec!["show".to_owned()]);
}

#[test]
fn completions_for_every_shell_and_a_clear_error_for_others() {
    for (shell, marker) in [("zsh", "#compdef cronium"), ("fish", "complete -c cronium")] {
        let out = cronium()
            .args(["completions", shell])
            .output()
            .expect("completions");
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(marker),
            "{shell}"
        );
    }
    let out = cronium()
        .args(["completions", "tcsh"])
        .output()
        .expect("completions");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash"));
}

#[test]
fn man_pages_for_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cronium()
        .arg("manpages")
        .arg(dir.path())
        .output()
        .expect("manpages");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in ["cronium.1", "cronium-run.1", "cronium-executions-show.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).expect(page);
        assert!(text.starts_with(".ie"), "{page}: roff");
        assert!(text.contains(".SH NAME"), "{page}");
    }
    let run = std::fs::read_to_string(dir.path().join("cronium-run.1")).expect("run page");
    assert!(run.contains("timeout"), "the options are documented");
    // Hidden commands get no page.
    assert!(!dir.path().join("cronium-manpages.1").exists());
}
