//! Which interpreter runs a script, and what each language needs so the script finds the
//! runtime with no boilerplate: Bash gets the helpers through `BASH_ENV`, Python gets the
//! `cronium` module on its path (and as a builtin), Node gets it on `NODE_PATH`.

use std::path::{Path, PathBuf};

/// The Bash helpers, embedded so `cronium run` needs no installed file and can send them
/// along with a script over SSH.
pub const BASH_HELPERS: &str = include_str!("../../bindings/bash/cronium.sh");

/// Written as `sitecustomize.py` on a directory put first on `PYTHONPATH`: Cronium's docs
/// said scripts need no `import cronium`, so the module is also made a builtin when the
/// binding is installed. Any `sitecustomize` this one shadows still runs. The python image
/// (images/python) installs the same file, so old scripts behave the same in a container.
pub const PYTHON_SITECUSTOMIZE: &str = include_str!("sitecustomize.py");

/// A script language `cronium run` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Python 3 (`.py`).
    Python,
    /// Node.js (`.js`, `.mjs`, `.cjs`).
    Node,
    /// Bash (`.sh`, `.bash`).
    Bash,
}

impl Lang {
    /// The name used in messages, the execution's event type and the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Node => "node",
            Lang::Bash => "bash",
        }
    }

    /// The language of a script: its extension, else its shebang line.
    pub fn detect(script: &Path) -> Option<Lang> {
        let by_ext = match script.extension().and_then(|e| e.to_str()) {
            Some("py") => Some(Lang::Python),
            Some("js" | "mjs" | "cjs") => Some(Lang::Node),
            Some("sh" | "bash") => Some(Lang::Bash),
            _ => None,
        };
        by_ext.or_else(|| Self::from_shebang(script))
    }

    fn from_shebang(script: &Path) -> Option<Lang> {
        use std::io::Read;
        let mut head = [0u8; 256];
        let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
        let line = std::str::from_utf8(&head[..n]).ok()?.lines().next()?;
        let rest = line.strip_prefix("#!")?;
        let mut words = rest.split_whitespace();
        let mut prog = words.next()?.rsplit('/').next()?;
        if prog == "env" {
            prog = words.find(|w| !w.starts_with('-'))?;
        }
        match prog {
            p if p.starts_with("python") => Some(Lang::Python),
            "node" | "nodejs" => Some(Lang::Node),
            "bash" | "sh" => Some(Lang::Bash),
            _ => None,
        }
    }

    /// The interpreter on this machine: `$CRONIUM_PYTHON` or `python3`, `$CRONIUM_NODE` or
    /// `node`, `bash`.
    pub fn interpreter(self, env: &dyn Fn(&str) -> Option<String>) -> String {
        let configured = match self {
            Lang::Python => env("CRONIUM_PYTHON"),
            Lang::Node => env("CRONIUM_NODE"),
            Lang::Bash => None,
        };
        configured
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.remote_interpreter().to_owned())
    }

    /// The interpreter on an SSH host, where none of this machine's settings apply.
    pub fn remote_interpreter(self) -> &'static str {
        match self {
            Lang::Python => "python3",
            Lang::Node => "node",
            Lang::Bash => "bash",
        }
    }

    /// Environment variables that make the runtime importable, given the run directory as the
    /// script sees it (`dir`) and the current environment.
    pub fn env_vars(
        self,
        dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(&'static str, String)> {
        let prepend = |parts: Vec<String>, old: Option<String>| {
            parts
                .into_iter()
                .chain(old)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(":")
        };
        match self {
            Lang::Bash => {
                let mut vars = vec![("BASH_ENV", dir.join("cronium.sh").display().to_string())];
                // Set from the environment or found beside the executable (an install).
                vars.extend(env("CRONIUM_BUILTIN").map(|b| ("CRONIUM_BUILTIN", b)));
                vars
            }
            Lang::Python => {
                let mut parts = vec![dir.join("python").display().to_string()];
                parts.extend(env("CRONIUM_PYTHONPATH"));
                vec![("PYTHONPATH", prepend(parts, env("PYTHONPATH")))]
            }
            Lang::Node => {
                let Some(modules) = env("CRONIUM_NODE_PATH").filter(|p| !p.is_empty()) else {
                    return Vec::new();
                };
                let mut vars = vec![(
                    "NODE_PATH",
                    prepend(vec![modules.clone()], env("NODE_PATH")),
                )];
                let register = PathBuf::from(&modules).join("cronium").join("register.js");
                if register.is_file() {
                    let require = format!("--require \"{}\"", register.display());
                    let options = match env("NODE_OPTIONS").filter(|o| !o.is_empty()) {
                        Some(o) => format!("{require} {o}"),
                        None => require,
                    };
                    vars.push(("NODE_OPTIONS", options));
                }
                vars
            }
        }
    }
}

/// The bindings that belong to this `cronium` executable (`exe`), as the settings the
/// runner would otherwise read from the environment, so `cronium run hello.py` works after
/// `make demo` or an install with no variable set. Two layouts are known:
/// - a build tree, `<target>/<profile>/cronium`: the Node package in `<target>/node_modules`
///   (`make node`) and the virtualenv `.venv` beside `<target>` (`make python`);
/// - an install, `<prefix>/bin/cronium`: `<prefix>/lib/cronium/node_modules`, the Python
///   module in `<prefix>/lib/cronium/python` and the Bash builtin
///   `<prefix>/lib/bash/cronium_builtin.so`.
///
/// Only what exists is returned; an environment variable still overrides each.
pub fn bindings_near(exe: &Path) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    let Some(dir) = exe.parent() else {
        return found;
    };
    let show = |p: PathBuf| p.display().to_string();
    for modules in [
        dir.join("../node_modules"),
        dir.join("../lib/cronium/node_modules"),
    ] {
        if modules.join("cronium").join("package.json").is_file() {
            found.push(("CRONIUM_NODE_PATH", show(modules)));
            break;
        }
    }
    // The forkless Bash builtin of an install (`make install` builds it when bash-builtins'
    // headers are there); a build tree's stays opt-in, so its tests choose the path.
    let builtin = dir.join("../lib/bash/cronium_builtin.so");
    if builtin.is_file() {
        found.push(("CRONIUM_BUILTIN", show(builtin)));
    }
    let venv_python = dir.join("../../.venv/bin/python");
    let installed = dir.join("../lib/cronium/python");
    if installed.join("cronium").is_dir() {
        found.push(("CRONIUM_PYTHONPATH", show(installed)));
    } else if venv_python.is_file() && venv_has_cronium(&dir.join("../../.venv")) {
        found.push(("CRONIUM_PYTHON", show(venv_python)));
    }
    found
}

/// Where [`bindings_near`] looks for a language's binding, beside the executable `exe`,
/// each with what puts it there: the error for a script whose binding is missing names
/// them. Empty for Bash (its helpers are built into `cronium`).
pub fn binding_places(exe: &Path, lang: Lang) -> Vec<(PathBuf, &'static str)> {
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    // `dir` is `<target>/<profile>` in a build tree and `<prefix>/bin` in an install.
    let up = dir.parent().unwrap_or(dir);
    let root = up.parent().unwrap_or(up);
    match lang {
        Lang::Python => vec![
            (root.join(".venv"), "make python"),
            (up.join("lib/cronium/python"), "make install"),
        ],
        Lang::Node => vec![
            (up.join("node_modules"), "make node"),
            (up.join("lib/cronium/node_modules"), "make install"),
        ],
        Lang::Bash => Vec::new(),
    }
}

/// Whether the module is installed in the virtualenv (`lib/python3.X/site-packages/cronium`),
/// so a `.venv` made for something else is not taken.
fn venv_has_cronium(venv: &Path) -> bool {
    std::fs::read_dir(venv.join("lib")).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().join("site-packages/cronium").is_dir())
    })
}

/// Finds a program on `PATH` (or checks a path given with a slash).
pub fn find_program(program: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = env("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_extension_then_shebang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        assert_eq!(Lang::detect(&write("a.py", "")), Some(Lang::Python));
        assert_eq!(Lang::detect(&write("a.mjs", "")), Some(Lang::Node));
        assert_eq!(Lang::detect(&write("a.bash", "")), Some(Lang::Bash));
        assert_eq!(
            Lang::detect(&write("tool", "#!/usr/bin/env -S python3 -u\n")),
            Some(Lang::Python)
        );
        assert_eq!(Lang::detect(&write("t2", "#!/bin/sh\n")), Some(Lang::Bash));
        assert_eq!(Lang::detect(&write("t3", "#!/usr/bin/ruby\n")), None);
        assert_eq!(Lang::detect(&write("t4.txt", "echo hi\n")), None);
    }

    #[test]
    fn bindings_are_put_first_on_their_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pkg = dir.path().join("cronium");
        std::fs::create_dir(&pkg).expect("mkdir");
        std::fs::write(pkg.join("register.js"), "").expect("write");
        let modules = dir.path().display().to_string();
        let env = |k: &str| match k {
            "CRONIUM_PYTHONPATH" => Some("/opt/cr/py".to_owned()),
            "PYTHONPATH" => Some("/old".to_owned()),
            "CRONIUM_NODE_PATH" => Some(modules.clone()),
            "NODE_OPTIONS" => Some("--max-old-space-size=64".to_owned()),
            _ => None,
        };
        let run = Path::new("/run/cronium");
        assert_eq!(
            Lang::Python.env_vars(run, &env),
            vec![(
                "PYTHONPATH",
                "/run/cronium/python:/opt/cr/py:/old".to_owned()
            )]
        );
        let node = Lang::Node.env_vars(run, &env);
        assert_eq!(node[0], ("NODE_PATH", modules.clone()));
        assert_eq!(
            node[1].1,
            format!(
                "--require \"{}\" --max-old-space-size=64",
                pkg.join("register.js").display()
            )
        );
        assert_eq!(
            Lang::Bash.env_vars(run, &env),
            vec![("BASH_ENV", "/run/cronium/cronium.sh".to_owned())]
        );
    }
}
