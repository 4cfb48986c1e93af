//! `gitsync demo`: the whole product in one command, no account and no cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;

use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::model::{ResourceType, Value, synthetic};
use crate::sync::full::Target;
use crate::sync::runner::Syncer;
use crate::workspace::embedded::{self, ServerConfig, Store};
use crate::workspace::{Client, ClientConfig, Workspace};

/// Run gitsync end to end on this machine: an embedded workspace with a sample of 80 resources,
/// a local Git repository, a full sync, then a few workspace changes, each arriving as a commit.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync demo                       # everything in a new temporary directory
  gitsync demo --dir /tmp/try-it     # keep the workspace database and the repository there")]
pub struct DemoArgs {
    /// Where to put the demo's workspace database and repository (default: a new temp
    /// directory). It must be new, empty, or the directory of an earlier demo, whose output is
    /// then replaced.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Marks a directory as the demo's own, so that a later run may replace what it holds.
const MARKER: &str = ".gitsync-demo";

/// What the demo writes into its directory; all of it is replaced by the next run there.
const OUTPUT: [&str; 5] = [
    "repository.git",
    "cache.git",
    "workspace.db",
    "workspace.db-wal",
    "workspace.db-shm",
];

/// Makes `dir` ready for a fresh demo and gives its absolute path (the repository URL is a
/// `file://` URL, which a relative path would not make). A directory that holds anything and
/// was not made by the demo is refused: the demo removes what it finds of its own output.
fn prepare(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let marker = dir.join(MARKER);
    let mut entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if entries.next().is_some() && !marker.exists() {
        return Err(format!(
            "{} is not empty and was not made by `gitsync demo`; pass --dir with a new or empty directory",
            dir.display()
        ));
    }
    for name in OUTPUT {
        let path = dir.join(name);
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => continue,
        };
        removed
            .map_err(|e| format!("cannot remove {} of the previous demo: {e}", path.display()))?;
    }
    std::fs::write(
        &marker,
        "made by `gitsync demo`; the next demo here replaces this directory's output\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(dir)
}

fn git_log(repo: &Path, count: usize) -> String {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["log", &format!("-{count}"), "--format=  %h %s"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

pub fn run(args: &DemoArgs) -> ExitCode {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("gitsync-demo-{}", std::process::id())),
    };
    let dir = match prepare(&dir) {
        Ok(d) => d,
        Err(e) => return super::fail(e),
    };
    let repo = dir.join("repository.git");
    let init = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&repo)
        .status();
    if !init.is_ok_and(|s| s.success()) {
        return super::fail(
            "cannot create the demo repository: is `git` installed? (apt-get install git)",
        );
    }
    super::block_on(async move {
        match demo(&dir, &repo).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => super::fail(e),
        }
    })
}

async fn demo(dir: &Path, repo: &Path) -> Result<(), String> {
    let started = Instant::now();
    let store = Store::open(&dir.join("workspace.db")).map_err(|e| e.to_string())?;
    let sample: Vec<_> = synthetic::workspace(80, 2026)
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    embedded::seed(&store, &sample).map_err(|e| e.to_string())?;
    let running = embedded::start(
        ([127, 0, 0, 1], 0).into(),
        store,
        ServerConfig {
            token: Some("demo".into()),
            ..ServerConfig::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "1. Embedded workspace on {} with {} sample resources (the Segment Public API, served locally)",
        running.url(),
        sample.len()
    );

    let client = Client::new(ClientConfig::new(running.url(), "demo", "the demo token"))
        .map_err(|e| e.to_string())?;
    let target = Target {
        cache: gix::init_bare(dir.join("cache.git"))
            .map_err(|e| e.to_string())?
            .into_sync(),
        remote: Remote {
            url: format!("file://{}", repo.display()),
            branch: "main".into(),
            auth: Auth::None,
        },
        author: Author {
            name: "gitsync".into(),
            email: "gitsync@localhost".into(),
        },
    };
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let url = target.remote.url.clone();
    let mut syncer = Syncer::new(client.clone(), target, types);
    let full = syncer.start(true).await.map_err(|e| e.to_string())?;
    println!(
        "2. Full sync: {} commits pushed to {url}",
        full.commits().len(),
    );
    print!("{}", git_log(repo, 3));

    println!("3. Changes made through the API, each arriving as its own commit:");
    let destinations = client
        .list(ResourceType::Destination)
        .await
        .map_err(|e| e.to_string())?;
    let sources = client
        .list(ResourceType::Source)
        .await
        .map_err(|e| e.to_string())?;
    let mut changes: Vec<crate::model::Resource> = Vec::new();
    if let Some(d) = destinations.first() {
        let mut d = d.clone();
        d.attributes.insert("enabled".into(), Value::Bool(false));
        changes.push(d);
    }
    if let Some(s) = sources.first() {
        let mut s = s.clone();
        s.attributes
            .insert("name".into(), Value::String("Renamed in the demo".into()));
        changes.push(s);
    }
    for change in changes {
        let made = Instant::now();
        client.update(&change).await.map_err(|e| e.to_string())?;
        // Poll every 200 ms until the change is on the branch.
        loop {
            let poll = syncer.poll().await.map_err(|e| e.to_string())?;
            if !poll.commits().is_empty() {
                print!("{}", git_log(repo, poll.commits().len()).trim_end());
                println!("   ({} ms after the change)", made.elapsed().as_millis());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    running.stop().await;
    println!(
        "4. Done in {:.1}s. The repository is {}",
        started.elapsed().as_secs_f64(),
        repo.display()
    );
    println!(
        "   Look at it:  git clone {} /tmp/gitsync-demo-checkout && git -C /tmp/gitsync-demo-checkout log --stat | head -40",
        repo.display()
    );
    Ok(())
}
