//! `gitsync completions SHELL`: shell completion scripts, generated from the same clap
//! definition that parses the command line, so they never drift from it.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print a completion script for SHELL on standard output.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync completions bash > ~/.local/share/bash-completion/completions/gitsync
  gitsync completions zsh > \"${fpath[1]}/_gitsync\"
  gitsync completions fish > ~/.config/fish/completions/gitsync.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> ExitCode {
    let mut command = super::Cli::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    ExitCode::SUCCESS
}
