//! What a shell and a man reader get from `cronium`'s own argument parser, so neither can
//! drift from the commands: completion scripts (`cronium completions SHELL`) and the man
//! pages `make install` writes (`cronium manpages DIR`).

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::{Cli, CliError};

/// `cronium completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for; load the script it prints, e.g. in ~/.bashrc:
    /// `source <(cronium completions bash)`.
    pub shell: clap_complete::Shell,
}

/// `cronium manpages` (hidden: `make install` uses it).
#[derive(Debug, clap::Args)]
pub struct ManpagesArgs {
    /// The directory to write `cronium.1` and one `cronium-SUBCOMMAND.1` per subcommand into.
    pub dir: PathBuf,
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<u8, CliError> {
    use std::io::Write;
    let mut cmd = Cli::command();
    // Into a buffer first: clap_complete panics on a failed write (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "cronium", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(CliError::failed(format!("cannot write: {e}"))),
    }
}

/// Writes the man pages of `cronium` and of each subcommand (nested ones too).
pub fn manpages(args: &ManpagesArgs) -> Result<u8, CliError> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.dir.display())))?;
    let mut cmd = Cli::command();
    cmd.build();
    write_pages(&cmd, "cronium", &args.dir)?;
    Ok(0)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<(), CliError> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    // Once built, a subcommand's display name is the full command
    // (`cronium-executions-show`), which the page takes as its title, as git's do.
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut text)
        .map_err(|e| CliError::failed(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, text)
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
