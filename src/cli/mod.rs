//! The `gitsync` command line. Each subcommand lives in its own module and only wires
//! arguments to the library; no logic of the engine lives here.

mod apply;
mod completions;
mod crds;
#[cfg(feature = "embedded-workspace")]
mod demo;
mod export;
mod fmt;
mod operator;
mod plan;
#[cfg(feature = "embedded-workspace")]
mod serve;
mod sync;
mod validate;

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
  gitsync validate .                             # before review: every problem, file:line:column
  gitsync completions bash > ~/.local/share/bash-completion/completions/gitsync")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Fmt(fmt::FmtArgs),
    Validate(validate::ValidateArgs),
    Export(export::ExportArgs),
    Sync(sync::SyncArgs),
    Plan(plan::PlanArgs),
    Apply(apply::ApplyArgs),
    #[cfg(feature = "embedded-workspace")]
    Demo(demo::DemoArgs),
    Crds(crds::CrdsArgs),
    Operator(operator::OperatorArgs),
    FullSync(operator::FullSyncArgs),
    /// The embedded workspace.
    #[cfg(feature = "embedded-workspace")]
    #[command(subcommand)]
    #[command(after_help = "Examples:
  gitsync workspace serve --db ws.db --token t0k --seed-hcl DIR")]
    Workspace(serve::WorkspaceCommand),
    Completions(completions::CompletionsArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, std::env::args_os()),
    };
    match cli.command {
        Command::Fmt(args) => fmt::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Sync(args) => sync::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Apply(args) => apply::run(&args),
        #[cfg(feature = "embedded-workspace")]
        Command::Demo(args) => demo::run(&args),
        Command::Crds(args) => crds::run(&args),
        Command::Operator(args) => operator::run_operator(&args),
        Command::FullSync(args) => operator::run_full_sync(&args),
        #[cfg(feature = "embedded-workspace")]
        Command::Workspace(command) => serve::run(command),
        Command::Completions(args) => completions::run(&args),
    }
}

/// Prints a usage error (or the help or version asked for) and returns its exit status: 2 for
/// a usage error, as clap's, except under `--detailed-exitcode`, where 2 means "changes" (as
/// Terraform's), so a usage error is 1 there.
fn usage_error(e: &clap::Error, args: impl Iterator<Item = std::ffi::OsString>) -> ExitCode {
    let _ = e.print();
    let code = e.exit_code();
    let detailed = args
        .take_while(|a| a != "--")
        .any(|a| a == "--detailed-exitcode");
    if code == 2 && detailed {
        return ExitCode::FAILURE;
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every (sub)command's help ends with examples, and every example parses as written.
    #[test]
    fn every_subcommand_has_examples_that_parse() {
        fn visit(command: &mut clap::Command, path: Vec<String>, checked: &mut usize) {
            let help = command.render_long_help().to_string();
            let examples = help
                .split_once("Examples:")
                .map(|(_, e)| e.to_owned())
                .unwrap_or_else(|| panic!("`{}` --help has no Examples", path.join(" ")));
            // Lines ending in `\` continue on the next one.
            let joined = examples.replace("\\\n", " ");
            for line in joined
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("gitsync "))
            {
                // Only the gitsync command: not a comment, a pipe or a redirection after it.
                let command = line
                    .split([' ', '\t'])
                    .take_while(|w| !["#", "|", ">"].contains(w))
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>();
                if let Err(e) = Cli::try_parse_from(&command) {
                    panic!(
                        "`{line}` (in `{}` --help) does not parse: {e}",
                        path.join(" ")
                    );
                }
                *checked += 1;
            }
            for sub in command.get_subcommands_mut() {
                if sub.get_name() == "help" {
                    continue;
                }
                let mut path = path.clone();
                path.push(sub.get_name().to_owned());
                visit(sub, path, checked);
            }
        }
        let mut checked = 0;
        visit(&mut Cli::command(), vec!["gitsync".into()], &mut checked);
        assert!(checked >= 20, "only {checked} examples");
    }

    #[test]
    fn the_version_names_the_commit() {
        let version = Cli::command().render_version();
        assert!(
            version.starts_with(concat!("gitsync ", env!("CARGO_PKG_VERSION"), " (commit ")),
            "{version}"
        );
        assert!(!env!("GITSYNC_BUILD_COMMIT").is_empty());
    }
}
