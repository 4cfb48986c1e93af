//! The `gitsync` command line. Each subcommand lives in its own module and only wires
//! arguments to the library; no logic of the engine lives here.

mod completions;
mod crds;
mod demo;
mod export;
mod fmt;
mod operator;
mod serve;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The version line: the package version and the commit it was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GITSYNC_BUILD_COMMIT"),
    ")"
);

/// Keep a Segment workspace and a Git repository in sync, as Terraform HCL.
#[derive(Debug, Parser)]
#[command(name = "gitsync", version = VERSION, about, long_about = None)]
#[command(after_help = "Examples:
  gitsync demo                                   # the whole thing on this machine
  gitsync export --workspace us --token-file token --out segment-config
  gitsync fmt --check .
  gitsync completions bash > ~/.local/share/bash-completion/completions/gitsync")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Fmt(fmt::FmtArgs),
    Export(export::ExportArgs),
    Sync(sync::SyncArgs),
    Demo(demo::DemoArgs),
    Crds(crds::CrdsArgs),
    Operator(operator::OperatorArgs),
    FullSync(operator::FullSyncArgs),
    /// The embedded workspace.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  gitsync workspace serve --db ws.db --token t0k --seed-hcl DIR")]
    Workspace(serve::WorkspaceCommand),
    Completions(completions::CompletionsArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Fmt(args) => fmt::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Sync(args) => sync::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Crds(args) => crds::run(&args),
        Command::Operator(args) => operator::run_operator(&args),
        Command::FullSync(args) => operator::run_full_sync(&args),
        Command::Workspace(command) => serve::run(command),
        Command::Completions(args) => completions::run(&args),
    }
}

/// Prints an error and returns the failure exit code (1).
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Runs a future on a fresh multi-threaded runtime.
fn block_on<F: std::future::Future<Output = ExitCode>>(future: F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(future),
        Err(e) => fail(format!("cannot start the async runtime: {e}")),
    }
}
