//! `gitsync sync`: the whole pipeline from the command line, workspace to branch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::export::read_token;
use crate::git::cache;
use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::sync::full::Target;
use crate::sync::interval::Interval;
use crate::sync::runner::{Outcome, Syncer};
use crate::url::scrub_urls;
use crate::workspace::{Client, ClientConfig};

/// Keep a Git branch in sync with a workspace, one commit per change.
///
/// A full sync runs when the branch has never been synced (or with --full); then gitsync polls
/// the workspace's audit trail and makes one commit per change. A workspace without an audit
/// trail is compared with the branch instead (list-and-diff), one commit per changed resource.
///
/// Where the branch was synced up to is stored in its own commits, so a restart (or a lost
/// --cache) neither loses nor repeats a change. Pushes are never forced: when the branch moves,
/// gitsync fetches, rebuilds its commits on top and pushes again.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync sync --workspace us --token-file token --repo file:///srv/config.git --once
  gitsync sync --workspace eu --token-file token --interval 1m \\
    --repo ssh://git@github.com/acme/segment-config.git \\
    --ssh-identity id_ed25519 --ssh-known-hosts known_hosts")]
#[command(verbatim_doc_comment)]
pub struct SyncArgs {
    /// `us`, `eu`, or the base URL of a workspace API (such as the embedded workspace).
    #[arg(long, value_name = "URL")]
    workspace: String,
    /// File holding the Public API token (default: the PUBLIC_API_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The repository: https://..., ssh://..., git://... or file://...
    #[arg(long, value_name = "URL")]
    repo: String,
    /// The branch to sync (its short name, such as main).
    #[arg(long, default_value = "main", value_parser = parse_branch)]
    branch: String,
    /// Directory for the bare cache repositories [default: $XDG_CACHE_HOME/gitsync/repositories,
    /// or ~/.cache/gitsync/repositories].
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Sync once and exit (the default is to keep polling).
    #[arg(long, conflicts_with = "interval")]
    once: bool,
    /// Poll interval, such as 30s, 5m or 1m30s (a bare number is seconds), at most 24h.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = Interval::from_flag)]
    interval: Interval,
    /// Start with a full sync even if the branch has been synced before.
    #[arg(long)]
    full: bool,
    /// Commit author name.
    #[arg(long, default_value = "gitsync")]
    author_name: String,
    /// Commit author email.
    #[arg(long, default_value = "gitsync@localhost")]
    author_email: String,
    /// HTTPS user name (with --git-password-file).
    #[arg(long, value_name = "NAME", requires = "git_password_file")]
    git_username: Option<String>,
    /// File holding the HTTPS password or token for --git-username.
    #[arg(long, value_name = "FILE")]
    git_password_file: Option<PathBuf>,
    /// File holding a bearer token for HTTPS.
    #[arg(long, value_name = "FILE", conflicts_with = "git_username")]
    git_bearer_token_file: Option<PathBuf>,
    /// SSH private key file (with --ssh-known-hosts; host keys are checked strictly).
    #[arg(long, value_name = "FILE", requires = "ssh_known_hosts")]
    ssh_identity: Option<PathBuf>,
    /// known_hosts file for SSH.
    #[arg(long, value_name = "FILE")]
    ssh_known_hosts: Option<PathBuf>,
}

/// `--branch`: a branch name as `git check-ref-format --branch` takes it.
fn parse_branch(s: &str) -> Result<String, String> {
    crate::git::branch::validate(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

fn read_secret(path: &PathBuf) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.trim().to_owned())
}

fn auth(args: &SyncArgs) -> Result<Auth, String> {
    if let (Some(username), Some(file)) = (&args.git_username, &args.git_password_file) {
        return Ok(Auth::Basic {
            username: username.clone(),
            password: read_secret(file)?,
        });
    }
    if let Some(file) = &args.git_bearer_token_file {
        return Ok(Auth::Bearer(read_secret(file)?));
    }
    if let (Some(identity), Some(known_hosts)) = (&args.ssh_identity, &args.ssh_known_hosts) {
        return Ok(Auth::Ssh {
            identity: identity.clone(),
            known_hosts: known_hosts.clone(),
        });
    }
    Ok(Auth::None)
}

pub fn run(args: &SyncArgs) -> ExitCode {
    // Warnings (a re-created cache, retries) on stderr; RUST_LOG may ask for more.
    let _ = crate::telemetry::logs::init(crate::telemetry::logs::LogFormat::Text, "warn");
    // Every message quotes the URLs as given; none may show the credentials they carry.
    let urls = [args.repo.as_str(), args.workspace.as_str()];
    let fail = |e: &dyn std::fmt::Display| super::fail(scrub_urls(&e.to_string(), &urls));
    let setup = || -> Result<Syncer<Client>, String> {
        let (token, source) = read_token(args.token_file.as_ref())?;
        let client = Client::new(ClientConfig::new(
            ClientConfig::base_url_for(&args.workspace),
            token,
            source,
        ))
        .map_err(|e| e.to_string())?;
        let cache_dir = match &args.cache {
            Some(dir) => dir.clone(),
            None => cache::default_dir().map_err(|e| e.to_string())?,
        };
        let target = Target {
            cache: cache::open(&cache_dir, &args.repo, &args.branch)
                .map_err(|e| e.to_string())?
                .into_sync(),
            remote: Remote {
                url: args.repo.clone(),
                branch: args.branch.clone(),
                auth: auth(args)?,
            },
            author: Author {
                name: args.author_name.clone(),
                email: args.author_email.clone(),
            },
            placeholders: Default::default(),
        };
        Ok(Syncer::new(
            client,
            target,
            crate::sync::export::parse_types::<&str>(&[])?,
        ))
    };
    let mut syncer = match setup() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    super::block_on(async move {
        let started = syncer.start(args.full).await;
        warn(&mut syncer);
        match started {
            Ok(outcome) => report(&outcome, &args.branch, true),
            Err(e) => return fail(&e),
        }
        if args.once {
            let polled = syncer.poll().await;
            warn(&mut syncer);
            return match polled {
                Ok(outcome) => {
                    report(&outcome, &args.branch, true);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            };
        }
        // One listener for the whole loop: a Ctrl-C that arrives while a poll runs is kept and
        // ends the loop once the poll is done (a listener made anew each turn would miss it, and
        // with tokio's handler installed the signal no longer ends the process by itself).
        let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
        loop {
            tokio::select! {
                _ = &mut interrupted => return ExitCode::SUCCESS,
                _ = tokio::time::sleep(args.interval.duration()) => {}
            }
            let polled = syncer.poll().await;
            warn(&mut syncer);
            match polled {
                Ok(outcome) => report(&outcome, &args.branch, false),
                // Keep polling: the next poll starts from the same point, so nothing is lost.
                Err(e) => eprintln!(
                    "error: {}; retrying at the next poll",
                    scrub_urls(&e.to_string(), &urls)
                ),
            }
        }
    })
}

/// What the runner warned about, on stderr.
fn warn(syncer: &mut Syncer<Client>) {
    for warning in syncer.take_warnings() {
        eprintln!("warning: {warning}");
    }
}

/// One line on stderr for each call that did something (`always`: also when it did nothing).
fn report(outcome: &Outcome, branch: &str, always: bool) {
    let n = outcome.commits().len();
    let commits = format!("{n} commit{}", if n == 1 { "" } else { "s" });
    match outcome {
        Outcome::Resumed(point) => {
            eprintln!("continuing from {} (stored in {branch})", point.since)
        }
        Outcome::Full(r) => eprintln!(
            "full sync: {} resources, {commits} pushed to {branch}",
            r.resources.values().sum::<usize>()
        ),
        Outcome::Incremental(_) | Outcome::ListAndDiff(_) if n == 0 && !always => {}
        Outcome::Incremental(_) => eprintln!("incremental sync: {commits} pushed"),
        Outcome::ListAndDiff(_) => {
            eprintln!("list-and-diff sync (no audit trail): {commits} pushed")
        }
    }
}
