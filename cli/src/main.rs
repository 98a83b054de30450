//! `cronium`: thin entry point. Parsing and every command live in the library, so tests can
//! drive them; this only turns the outcome into the process's exit code (the one place the
//! process exits).

// Denied, not forbidden: one call into glibc below needs it.
#![deny(unsafe_code)]

use clap::Parser;

/// Gives the memory glibc's malloc holds free back to the system. glibc returns freed
/// memory only from the top of its heaps: the buffers of connections parked between
/// requests are freed between live allocations and would otherwise stay resident at
/// their peak (docs/performance.md, "Connections").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_memory() {
    // SAFETY: malloc_trim takes no pointers; glibc locks each arena while it trims it.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = cronium_server::server::RELEASE_FREED_MEMORY.set(release_freed_memory);
    let cli = cronium_cli::Cli::parse();
    match cronium_cli::run(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("cronium: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}
