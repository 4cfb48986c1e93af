//! The `gitsync` command line. Each subcommand lives in its own module and only wires
//! arguments to the library; no logic of the engine lives here.

mod fmt;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keep a Segment workspace and a Git repository in sync, as Terraform HCL.
#[derive(Debug, Parser)]
#[command(name = "gitsync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Fmt(fmt::FmtArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Fmt(args) => fmt::run(&args),
    }
}
