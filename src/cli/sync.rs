//! `gitsync sync`: the whole pipeline from the command line, workspace to branch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::export::{parse_types, read_token};
use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::model::ResourceType;
use crate::sync::full::{SyncError, Target, full_sync};
use crate::sync::incremental::{incremental_sync, stored_point};
use crate::workspace::embedded::now_rfc3339;
use crate::workspace::{AuditPoint, Client, ClientConfig};

/// Keep a Git branch in sync with a workspace: a full sync when the branch has never been synced
/// (or with --full), then one commit per workspace change, polling the audit trail.
///
/// Where the branch was synced up to is stored in its own commits, so a restart (or a lost
/// --cache) neither loses nor repeats a change. Pushes are never forced: when the branch moves,
/// gitsync fetches, rebuilds its commits on top and pushes again.
#[derive(Debug, Args)]
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
    /// The branch to sync.
    #[arg(long, default_value = "main")]
    branch: String,
    /// Directory for the bare cache repositories.
    #[arg(long, value_name = "DIR", default_value = ".gitsync-cache")]
    cache: PathBuf,
    /// Sync once and exit (the default is to keep polling).
    #[arg(long, conflicts_with = "interval")]
    once: bool,
    /// Poll interval, such as 1s, 30s or 5m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 1s, 30s or 5m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("`{s}` is not a duration like 1s, 30s or 5m")),
    };
    if d.is_zero() {
        Err("the interval must be more than zero".into())
    } else {
        Ok(d)
    }
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

/// One cache repository per repository URL and branch.
fn open_cache(dir: &std::path::Path, repo: &str, branch: &str) -> Result<gix::Repository, String> {
    let name: String = format!("{repo}#{branch}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{name}.git"));
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the cache directory {}: {e}", dir.display()))?;
    let opened = if path.exists() {
        gix::open(&path)
    } else {
        gix::init_bare(&path)
    };
    opened.map_err(|e| format!("cannot open the cache repository {}: {e}", path.display()))
}

pub fn run(args: &SyncArgs) -> ExitCode {
    let setup = || -> Result<(Client, Target, Vec<ResourceType>), String> {
        let (token, source) = read_token(args.token_file.as_ref())?;
        let client = Client::new(ClientConfig::new(
            ClientConfig::base_url_for(&args.workspace),
            token,
            source,
        ))
        .map_err(|e| e.to_string())?;
        let target = Target {
            cache: open_cache(&args.cache, &args.repo, &args.branch)?,
            remote: Remote {
                url: args.repo.clone(),
                branch: args.branch.clone(),
                auth: auth(args)?,
            },
            author: Author {
                name: args.author_name.clone(),
                email: args.author_email.clone(),
            },
        };
        Ok((client, target, parse_types(&[])?))
    };
    let (client, target, types) = match setup() {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    super::block_on(async move {
        let mut point = match start(&client, &target, &types, args.full).await {
            Ok(p) => p,
            Err(e) => return super::fail(e),
        };
        if args.once {
            return match incremental_sync(&client, &target, &types, &point).await {
                Ok(report) => {
                    report_commits(report.commits.len(), "incremental");
                    ExitCode::SUCCESS
                }
                Err(e) => super::fail(e),
            };
        }
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
                _ = tokio::time::sleep(args.interval) => {}
            }
            match incremental_sync(&client, &target, &types, &point).await {
                Ok(report) => {
                    if !report.commits.is_empty() {
                        report_commits(report.commits.len(), "incremental");
                    }
                    point = report.point;
                }
                // Keep polling: the next poll starts from the same point, so nothing is lost.
                Err(e) => eprintln!("error: {e}; retrying at the next poll"),
            }
        }
    })
}

/// Where to start: the point stored in the branch, or a full sync.
async fn start(
    client: &Client,
    target: &Target,
    types: &[ResourceType],
    full: bool,
) -> Result<AuditPoint, SyncError> {
    let head = target.remote.fetch(&target.cache)?;
    if !full && let Some(point) = stored_point(&target.cache, head) {
        eprintln!(
            "continuing from {} (stored in {})",
            point.since, target.remote.branch
        );
        return Ok(point);
    }
    let report = full_sync(client, target, types, &now_rfc3339()).await?;
    let total: usize = report.resources.values().sum();
    eprintln!(
        "full sync: {total} resources, {} commits pushed to {}",
        report.commits.len(),
        target.remote.branch
    );
    Ok(report.point)
}

fn report_commits(n: usize, kind: &str) {
    eprintln!(
        "{kind} sync: {n} commit{} pushed",
        if n == 1 { "" } else { "s" }
    );
}
