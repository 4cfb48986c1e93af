//! `gitsync workspace serve`: run the embedded workspace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::workspace::embedded::{self, ServerConfig, Store};

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    Serve(ServeArgs),
}

/// Serve the embedded workspace: the part of Segment's Public API that gitsync uses, backed by
/// SQLite, so gitsync can be tried and tested without a Segment account.
///
/// The same client code talks to it and to api.segmentapis.com. Data lives in --db (created if
/// missing). With --seed-hcl, the resource files of a Git Sync tree are loaded first, keeping
/// every id and attribute, so that exporting gives the same tree back.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync workspace serve --db ws.db --token t0k \\
    --seed-hcl tests/fixtures/gitsync-output/v2025
  gitsync workspace serve --db ws.db --listen 127.0.0.1:0 --no-audit-trail  # a free port")]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8420")]
    listen: SocketAddr,
    /// SQLite database file.
    #[arg(long)]
    db: PathBuf,
    /// Require this bearer token on every request (default: no authentication).
    #[arg(long, env = "GITSYNC_WORKSPACE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Load this Git Sync tree (sources/, destinations/, ...) before serving.
    #[arg(long, value_name = "DIR")]
    seed_hcl: Option<PathBuf>,
    /// The name of the API token the audit trail names as the actor of changes made through
    /// the API (commit messages say `Public API token '<name>'`).
    #[arg(long, default_value = embedded::server::DEFAULT_ACTOR)]
    actor: String,
    /// Enforce Segment's published per-operation write limits (5 per minute for subscription
    /// writes, 60 for label and IAM writes), answering 429 as Segment does.
    #[arg(long)]
    rate_limits: bool,
    /// Answer the audit trail with 403, like a Segment workspace whose plan has no Audit Trail
    /// (gitsync then finds changes by listing and comparing).
    #[arg(long)]
    no_audit_trail: bool,
}

pub fn run(command: WorkspaceCommand) -> ExitCode {
    let WorkspaceCommand::Serve(args) = command;
    // The seed tree is read first, so that a wrong path fails before the database is created.
    let seed = match &args.seed_hcl {
        Some(dir) => match crate::sync::tree::read_dir(dir) {
            Ok(tree) => Some((dir, tree)),
            Err(e) => {
                return super::fail(format!(
                    "cannot seed from --seed-hcl {}: {e}",
                    dir.display()
                ));
            }
        },
        None => None,
    };
    let store = match Store::open(&args.db) {
        Ok(s) => s,
        Err(e) => return super::fail(format!("cannot open {}: {e}", args.db.display())),
    };
    if let Some((dir, tree)) = seed {
        match embedded::seed(&store, &tree) {
            Ok(counts) => {
                let total: usize = counts.values().sum();
                eprintln!("seeded {total} resources from {}", dir.display());
            }
            Err(e) => {
                return super::fail(format!(
                    "cannot seed from --seed-hcl {}: {e}",
                    dir.display()
                ));
            }
        }
    }
    let config = ServerConfig {
        token: args.token,
        actor: args.actor,
        audit_trail: !args.no_audit_trail,
        rate_limits: args.rate_limits,
        ..ServerConfig::default()
    };
    super::block_on(async move {
        let running = match embedded::start(args.listen, store, config).await {
            Ok(r) => r,
            Err(e) => return super::fail(format!("cannot listen on {}: {e}", args.listen)),
        };
        eprintln!("embedded workspace listening on {}", running.url());
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down");
        running.stop().await;
        ExitCode::SUCCESS
    })
}
