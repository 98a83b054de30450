//! File mode: `cronium migrate PATH...`, and the summary both modes print.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{detect_language, migrate, Language, Options, Review};

/// What a run did, for the summary and the exit code.
#[derive(Debug, Default)]
pub struct Summary {
    /// Scripts looked at.
    pub scanned: usize,
    /// Scripts rewritten (or, with `--dry-run`, that would be).
    pub changed: usize,
    /// Scripts left as they were.
    pub unchanged: usize,
    /// Per script (file path or `event ID`), what needs a person.
    pub review: Vec<(String, Review)>,
}

impl Summary {
    /// The last line: counts, then one line per item needing review.
    pub fn render(&self, dry_run: bool) -> String {
        let mut s = String::new();
        let verb = if dry_run { "would change" } else { "changed" };
        let places: std::collections::BTreeSet<&str> =
            self.review.iter().map(|(w, _)| w.as_str()).collect();
        let _ = writeln!(
            s,
            "scanned {}, {verb} {}, unchanged {}, needing review {}",
            self.scanned,
            self.changed,
            self.unchanged,
            places.len()
        );
        for (place, r) in &self.review {
            let _ = writeln!(s, "  review {place}:{}: {}", r.line, r.reason);
        }
        if self.changed == 0 && self.review.is_empty() && self.scanned > 0 {
            s.push_str("nothing to change\n");
        }
        s
    }

    /// 0 when nothing needs review, else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.review.is_empty())
    }
}

/// A usage error: one line, exit code 2, nothing written.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The unified diff of one script, headed by its name.
pub fn unified_diff(name: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// The helper files the old runner copied beside scripts: never scripts to migrate.
fn is_old_helper_copy(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("cronium.py" | "cronium.js" | "cronium.sh")
    )
}

/// Migrates files and directories (recursively; hidden directories and `node_modules` are
/// skipped). A file that cannot be read, whose language is unknown or that does not parse
/// is left unchanged and reported. With `dry_run` the diffs go to `out` and nothing is
/// written; otherwise each changed file is replaced atomically (temp file + rename).
pub fn migrate_paths(
    paths: &[PathBuf],
    options: Options,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Summary, UsageError> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(UsageError(format!(
                "{}: no such file or directory; give script files or directories",
                p.display()
            )));
        }
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect(p, &mut files);
        } else {
            files.push((p.clone(), true));
        }
    }
    let mut summary = Summary::default();
    for (path, explicit) in files {
        migrate_file(&path, explicit, options, dry_run, out, &mut summary);
    }
    Ok(summary)
}

fn collect(dir: &Path, files: &mut Vec<(PathBuf, bool)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        files.push((dir.to_path_buf(), true));
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !name.starts_with('.') && name != "node_modules" {
                collect(&p, files);
            }
        } else if p.is_file() && !is_old_helper_copy(&p) {
            files.push((p, false));
        }
    }
}

fn migrate_file(
    path: &Path,
    explicit: bool,
    options: Options,
    dry_run: bool,
    out: &mut dyn Write,
    summary: &mut Summary,
) {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            summary.scanned += 1;
            summary.unchanged += 1;
            summary.review.push((
                name,
                Review {
                    line: 0,
                    reason: format!("cannot read it ({e}); left unchanged"),
                },
            ));
            return;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        if explicit {
            summary.scanned += 1;
            summary.unchanged += 1;
            summary.review.push((
                name,
                Review {
                    line: 0,
                    reason: "not UTF-8 text; left unchanged".into(),
                },
            ));
        }
        return;
    };
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(language) = detect_language(file_name, &text) else {
        if explicit {
            summary.scanned += 1;
            summary.unchanged += 1;
            summary.review.push((
                name,
                Review {
                    line: 0,
                    reason: "unknown language: name it .py, .js/.mjs/.cjs or .sh, or give it a python/node/bash shebang; left unchanged".into(),
                },
            ));
        }
        return;
    };
    summary.scanned += 1;
    let migrated = migrate_one(
        &name,
        language,
        &text,
        options,
        dry_run,
        out,
        summary,
        |new| write_atomic(path, new),
    );
    // A copy of the old cronium.py beside a Python script is imported instead of the
    // runtime's module (the script's directory comes first on sys.path).
    let beside = path.with_file_name("cronium.py");
    let imports = migrated.as_deref().unwrap_or(&text).contains("cronium");
    if language == Language::Python && imports && beside.is_file() {
        summary.review.push((
            name,
            Review {
                line: 0,
                reason: format!(
                    "{} (the old helper) shadows the runtime's cronium module for this script: delete it",
                    beside.display()
                ),
            },
        ));
    }
}

/// Migrates one script text and records the outcome; `apply` stores the new text.
#[allow(clippy::too_many_arguments)]
pub(crate) fn migrate_one(
    place: &str,
    language: Language,
    text: &str,
    options: Options,
    dry_run: bool,
    out: &mut dyn Write,
    summary: &mut Summary,
    apply: impl FnOnce(&str) -> std::io::Result<()>,
) -> Option<String> {
    let migrated = match migrate(language, text, options) {
        Ok(m) => m,
        Err(e) => {
            summary.unchanged += 1;
            let line = match e {
                crate::MigrateError::Parse { line } => line,
            };
            summary.review.push((
                place.to_owned(),
                Review {
                    line,
                    reason: e.to_string(),
                },
            ));
            return None;
        }
    };
    for r in migrated.review.iter().cloned() {
        summary.review.push((place.to_owned(), r));
    }
    if !migrated.changed(text) {
        summary.unchanged += 1;
        return None;
    }
    if dry_run {
        let _ = out.write_all(unified_diff(place, text, &migrated.text).as_bytes());
    } else {
        if let Err(e) = apply(&migrated.text) {
            summary.unchanged += 1;
            summary.review.push((
                place.to_owned(),
                Review {
                    line: 0,
                    reason: format!("cannot write it ({e}); left unchanged"),
                },
            ));
            return None;
        }
        let _ = writeln!(out, "{place} ({language}): migrated");
        for c in &migrated.changes {
            let _ = writeln!(out, "  {c}");
        }
    }
    summary.changed += 1;
    Some(migrated.text)
}

/// Replaces a file's content atomically, keeping its permissions: a crash leaves the old
/// file or the new one, never half of either.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".cronium-migrate-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    let perms = std::fs::metadata(path)?.permissions();
    std::fs::set_permissions(tmp.path(), perms)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
