//! Lays out the release `cronium` binary's code in the order a profiled sidecar ran it.
//!
//! An idle sidecar's resident memory is mostly the binary's code pages, and the kernel maps
//! code 64 KiB at a time around each page a process touches (fault-around). Spread over
//! 8 MiB of code, the 2 MiB of functions start-up and the API's routes run touched about
//! 5 MiB. `symbol-order.txt` lists those functions (written by `make symbol-order` from a
//! callgrind profile of a sidecar answering the common calls); lld places them first, side
//! by side, and an idle sidecar maps under a third of the code it did (docs/performance.md).
//!
//! The file names symbols, so it goes stale slowly as code changes: a name it lists that
//! no longer exists is skipped, and `make bench-check` fails when too few are left.
//! Only lld reads the file: it is passed when rustc links with its bundled lld, which is
//! its default for x86_64 Linux since 1.90, and no other linker is configured.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    if env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    match links_with_bundled_lld() {
        Ok(()) => {}
        Err(why) => {
            println!("cargo:warning=code not laid out by symbol-order.txt: {why}");
            return;
        }
    }
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = Path::new(&manifest).join("symbol-order.txt");
    let Some(order) = order.to_str().filter(|p| !p.contains(',')) else {
        // `-Wl,` splits its argument at commas.
        println!("cargo:warning=code not laid out: the path of symbol-order.txt has a comma");
        return;
    };
    if !Path::new(order).is_file() {
        return;
    }
    println!("cargo:rustc-link-arg-bin=cronium=-Wl,--symbol-ordering-file={order}");
    // Names the file lists but this build lacks (renamed or inlined functions) are normal.
    println!("cargo:rustc-link-arg-bin=cronium=-Wl,--no-warn-symbol-ordering");
}

/// Whether rustc links this build with its bundled lld: the x86_64 Linux GNU target, a
/// rustc of 1.90 or later, and no linker of the user's own.
fn links_with_bundled_lld() -> Result<(), String> {
    let target = env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" {
        return Err(format!(
            "{target} does not link with rustc's lld by default"
        ));
    }
    if env::var_os("RUSTC_LINKER").is_some() {
        return Err("a linker is configured".into());
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") {
        return Err("RUSTFLAGS choose the linker".into());
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .map_err(|e| format!("{rustc} --version: {e}"))?;
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&version.stdout);
    let minor = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| format!("cannot read the version in {text:?}"))?;
    if minor < 90 {
        return Err(format!("rustc 1.{minor} links with the system linker"));
    }
    Ok(())
}
