//! `cli/symbol-order.txt`: the functions a sidecar runs, which lld lays out first.
//!
//! `make symbol-order` runs the release sidecar under callgrind through start-up and the
//! calls a script makes (health, input, context, cached and durable variable calls, output,
//! condition, an output stream) and lists every function of the `cronium` binary that ran,
//! by its symbol name. `cli/build.rs` hands the file to lld, which places those functions
//! side by side at the start of the code, so a sidecar maps few code pages (see
//! docs/performance.md, "Idle memory").
//!
//! `make bench-check` checks that the file still names the binary's functions: names are
//! stable across most edits, but renamed, moved or newly inlined functions drop out, and
//! below [`MIN_FOUND`] the layout has decayed enough to regenerate it.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::callgrind;

/// The share of listed functions that must still exist in the binary.
pub(crate) const MIN_FOUND: f64 = 0.9;

/// Profiles `cronium` and writes the functions it ran to `out`.
pub(crate) fn write(cronium: &Path, out: &Path) -> Result<(), String> {
    callgrind::have_valgrind()?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    // Symbol names as the linker sees them.
    let sc = callgrind::sidecar(cronium, dir, &["--demangle=no"])?;
    let pid = sc
        .pid()
        .ok_or("the sidecar under callgrind is not running")?;
    // What the idle-memory figure does first: one health check on its own connection.
    crate::health_once(&sc.socket).map_err(|e| format!("health check: {e}"))?;
    let token = crate::create_execution(&sc)?;
    let client = crate::seeded_client(&sc, &token)?;
    let e = |e: cronium_client::Error| e.to_string();
    let mut raw = crate::RawHttp::new(&sc.socket, &token).map_err(|e| e.to_string())?;
    for i in 0..20u64 {
        raw.once().map_err(|e| e.to_string())?;
        client
            .get_variable::<serde_json::Value>("bench")
            .map_err(e)?;
        client.set_variable("order", &i, None).map_err(e)?;
    }
    client.input::<serde_json::Value>().map_err(e)?;
    client.context::<serde_json::Value>().map_err(e)?;
    client.list_variables().map_err(e)?;
    client.set_condition(true).map_err(e)?;
    client.output(&json!({"done": true})).map_err(e)?;
    let mut stream = client.stream_output().map_err(e)?;
    for i in 0..100 {
        stream.write(&json!({"i": i})).map_err(e)?;
    }
    stream.close().map_err(e)?;
    drop(raw);
    drop(client);

    let (dump, _) = callgrind::dump_file(pid, dir, "sidecar.cg")?;
    drop(sc);
    let text = std::fs::read_to_string(&dump).map_err(|e| e.to_string())?;
    let real = cronium.canonicalize().map_err(|e| e.to_string())?;
    let mut names = functions_of(&text, &real.to_string_lossy());
    // Sorted: the order a dump lists functions in varies from run to run, and within the
    // set it matters little (they are all mapped at start-up); sorted, a rewrite's diff
    // shows only the functions that came or went. Mangled names sort by crate and module.
    names.sort_unstable();
    if names.len() < 100 {
        return Err(format!(
            "the profile names only {} functions of {}; is the binary stripped of symbols?",
            names.len(),
            real.display()
        ));
    }
    let mut body = String::from(
        "# The functions a profiled sidecar ran (sorted), laid out first by lld (cli/build.rs).\n\
         # Written by `make symbol-order`; checked by `make bench-check`. Do not edit.\n",
    );
    for n in &names {
        body.push_str(n);
        body.push('\n');
    }
    std::fs::write(out, body).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("{} functions written to {}", names.len(), out.display());
    Ok(())
}

/// The functions a callgrind dump ran inside the object `object`, in first-seen order.
///
/// The format compresses names: `fn=(7) name` defines id 7, a later `fn=(7)` reuses it;
/// `ob=` lines switch the object the following `fn=` lines belong to, `cob=`/`cfn=` name
/// the callee of a call (defining ids the same way).
fn functions_of(dump: &str, object: &str) -> Vec<String> {
    use std::collections::{HashMap, HashSet};
    fn resolve<'a>(table: &mut HashMap<&'a str, &'a str>, rest: &'a str) -> Option<&'a str> {
        let Some(tail) = rest.strip_prefix('(') else {
            return Some(rest);
        };
        let (id, name) = tail.split_once(')')?;
        match name.strip_prefix(' ') {
            Some(name) => {
                table.insert(id, name);
                Some(name)
            }
            None => table.get(id).copied(),
        }
    }
    let (mut obs, mut fns) = (HashMap::new(), HashMap::new());
    let mut in_object = false;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in dump.lines() {
        if let Some(rest) = line.strip_prefix("ob=") {
            in_object = resolve(&mut obs, rest) == Some(object);
        } else if let Some(rest) = line.strip_prefix("cob=") {
            resolve(&mut obs, rest);
        } else if let Some(rest) = line.strip_prefix("cfn=") {
            resolve(&mut fns, rest);
        } else if let Some(rest) = line.strip_prefix("fn=") {
            let Some(name) = resolve(&mut fns, rest).filter(|_| in_object) else {
                continue;
            };
            // A recursive call's deeper levels are `name'2`, `name'3`, ...
            let name = name.split_once('\'').map_or(name, |(n, _)| n);
            // Unnamed code shows as its address, valgrind's own entries in words:
            // `(below main)`.
            if name.starts_with("0x") || name.contains([' ', '(']) {
                continue;
            }
            if seen.insert(name) {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// `make bench-check`'s part: fails when fewer than [`MIN_FOUND`] of the functions
/// `order` lists are in `cronium`.
pub(crate) fn check(cronium: &Path, order: &Path) -> Result<(), String> {
    let (found, listed) = coverage(cronium, order)?;
    let share = found as f64 / listed.max(1) as f64;
    println!(
        "symbol order: {found} of the {listed} functions {} lists are in the binary ({:.0}%, at least {:.0}% wanted)",
        order.display(),
        share * 100.0,
        MIN_FOUND * 100.0
    );
    if share < MIN_FOUND {
        return Err(format!(
            "{} has gone stale (the code changed under it); rewrite it with `make symbol-order`",
            order.display()
        ));
    }
    Ok(())
}

/// How many of the functions `order` lists the binary `cronium` still has: (found, listed).
fn coverage(cronium: &Path, order: &Path) -> Result<(usize, usize), String> {
    let text = std::fs::read_to_string(order).map_err(|e| {
        format!(
            "{}: {e}; write it with `make symbol-order`",
            order.display()
        )
    })?;
    let nm = Command::new("nm")
        .arg(cronium)
        .output()
        .map_err(|e| format!("nm: {e}"))?;
    if !nm.status.success() {
        return Err(format!(
            "nm {}: {}",
            cronium.display(),
            String::from_utf8_lossy(&nm.stderr)
        ));
    }
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let have: std::collections::HashSet<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let listed: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let found = listed.iter().filter(|n| have.contains(*n)).count();
    Ok((found, listed.len()))
}

#[cfg(test)]
mod tests {
    use super::functions_of;

    #[test]
    fn names_are_resolved_per_object() {
        let dump = "ob=(1) /bin/cronium\nfn=(1) main\n0 5\ncob=(2) /lib/libc.so.6\ncfn=(2) malloc\ncalls=1 0\n0 9\nfn=(3) 0x0000000000401000\n0 1\nob=(2)\nfn=(2)\n0 9\nob=(1)\nfn=(4) _ZN4core3fmt5write17h0123456789abcdefE\n0 2\nfn=(5) _ZN4core3fmt5write17h0123456789abcdefE'2\n0 2\nfn=(6) (below main)\n0 1\nfn=(1)\n0 1\n";
        assert_eq!(
            functions_of(dump, "/bin/cronium"),
            ["main", "_ZN4core3fmt5write17h0123456789abcdefE"]
        );
    }
}
