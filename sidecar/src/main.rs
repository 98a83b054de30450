//! `cronium`: thin entry point. Parsing and every command live in the library (`cli`), so
//! tests can drive them; this only maps the outcome to an exit code.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cronium_sidecar::cli::Cli::parse();
    match cronium_sidecar::cli::run(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("cronium: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}
