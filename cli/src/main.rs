//! `cronium`: thin entry point. Parsing and every command live in the library, so tests can
//! drive them; this only turns the outcome into the process's exit code (the one place the
//! process exits).

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cronium_cli::Cli::parse();
    match cronium_cli::run(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("cronium: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}
