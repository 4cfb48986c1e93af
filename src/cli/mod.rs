//! The `gitsync` command line. Each subcommand lives in its own module and only wires
//! arguments to the library; no logic of the engine lives here.

mod crds;
mod demo;
mod export;
mod fmt;
mod operator;
mod serve;
mod sync;

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
    Export(export::ExportArgs),
    Sync(sync::SyncArgs),
    Demo(demo::DemoArgs),
    Crds(crds::CrdsArgs),
    Operator(operator::OperatorArgs),
    FullSync(operator::FullSyncArgs),
    /// The embedded workspace.
    #[command(subcommand)]
    Workspace(serve::WorkspaceCommand),
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
