//! `gitsync demo`: the whole product in one command, no account and no cluster: the forward
//! sync, then a change made in Git planned, applied and synced back. It drives the same code the
//! commands it shows run (the [`Syncer`] of `gitsync sync`, the engine's [`plan::plan_tree`]
//! and [`crate::sync::apply::Session`] of `gitsync plan` and `gitsync apply`); it must never carry a second
//! implementation of any of them, only the edits a person would make and what it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;

use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::model::{ResourceType, Value, synthetic};
use crate::sync::full::Target;
use crate::sync::plan;
use crate::sync::runner::Syncer;
use crate::workspace::embedded::{self, ServerConfig, Store};
use crate::workspace::{Client, ClientConfig, Workspace};

/// Run gitsync end to end on this machine: an embedded workspace with a sample of 80 resources,
/// a local Git repository, a full sync, then a few workspace changes, each arriving as a commit;
/// then the other way: a change made on a branch of the repository (a destination disabled with
/// its API key from a secret placeholder, a source renamed and labelled, a new label file),
/// planned, applied, and brought back to the main branch by the forward sync.
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
const OUTPUT: [&str; 10] = [
    "repository.git",
    "cache.git",
    "workspace.db",
    "workspace.db-wal",
    "workspace.db-shm",
    "work",
    "token",
    "secrets.env",
    "change.plan",
    "change.plan.journal",
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
    reverse(dir, repo, &client, &mut syncer, &running.url()).await?;
    running.stop().await;
    println!(
        "6. Done in {:.1}s. The repository is {}",
        started.elapsed().as_secs_f64(),
        repo.display()
    );
    println!(
        "   Look at it:  git -C {} log --graph --oneline --all | head -20",
        dir.join("work").display()
    );
    Ok(())
}

/// Runs git in `dir` as the person making the change; its output, or what failed.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        // The demo's own identity, and no signing a person's configuration may ask for.
        .args(["-c", "user.name=Dana", "-c", "user.email=dana@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} (in {}): {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first file of a resource directory (in name order) whose text `wanted` accepts: its path
/// in the tree and its text.
fn pick(
    work: &Path,
    directory: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<(String, String), String> {
    let listing = work.join(directory);
    let mut names: Vec<String> = std::fs::read_dir(&listing)
        .map_err(|e| format!("{}: {e}", listing.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tf"))
        .collect();
    names.sort();
    for name in names {
        let path = format!("{directory}/{name}");
        let text = std::fs::read_to_string(work.join(&path)).map_err(|e| format!("{path}: {e}"))?;
        if wanted(&text) {
            return Ok((path, text));
        }
    }
    Err(format!("no file in {directory}/ to edit for the demo"))
}

/// Replaces the first occurrence of each `from` in `text`, as a person editing the file would.
fn edit(path: &str, mut text: String, edits: &[(&str, &str)]) -> Result<String, String> {
    for (from, to) in edits {
        if !text.contains(from) {
            return Err(format!("{path}: no `{}` to edit", from.trim()));
        }
        text = text.replacen(from, to, 1);
    }
    Ok(text)
}

fn write(work: &Path, path: &str, text: &str) -> Result<(), String> {
    let full = work.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(&full, text).map_err(|e| format!("{}: {e}", full.display()))
}

/// The resource's import id, from its file's import block.
fn import_id(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.trim_start().starts_with("id "))?;
    Some(line.split('"').nth(1)?.to_owned())
}

/// Indents each line of a block of text for the demo's output.
fn indented(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_owned()
            } else {
                format!("   {l}\n")
            }
        })
        .collect()
}

/// The secret the demo's placeholder stands for; the workspace serves its last four characters.
const SECRET_NAME: &str = "webhook_api_key";
const SECRET_VALUE: &str = "demo-secret-b7e1";

/// Steps 4 and 5: a change made in Git, planned and applied with the same code as `gitsync plan`
/// and `gitsync apply`, then the forward sync bringing it back to the main branch.
async fn reverse(
    dir: &Path,
    repo: &Path,
    client: &Client,
    syncer: &mut Syncer<Client>,
    url: &str,
) -> Result<(), String> {
    use crate::sync::apply::{self, ApplyOptions, DirSink, FileJournal, Session};
    use crate::sync::secrets::FileSecrets;
    use crate::sync::tree::DirTree;

    let work = dir.join("work");
    git(dir, &["clone", "-q", &repo.display().to_string(), "work"])?;
    git(&work, &["checkout", "-q", "-b", "demo-change"])?;
    let branch_point = git(&work, &["rev-parse", "--short", "HEAD"])?
        .trim()
        .to_owned();
    let token = dir.join("token");
    std::fs::write(&token, "demo\n").map_err(|e| format!("{}: {e}", token.display()))?;
    let secrets_file = dir.join("secrets.env");
    std::fs::write(&secrets_file, format!("{SECRET_NAME}={SECRET_VALUE}\n"))
        .map_err(|e| format!("{}: {e}", secrets_file.display()))?;
    // The secrets file a person would give `gitsync plan` and `gitsync apply`, read the same way.
    let secrets = FileSecrets::read(&secrets_file).map_err(|e| e.to_string())?;

    println!(
        "4. A change made in Git: a clone of the repository in {}, branch demo-change:",
        work.display()
    );
    let masked = "\"••••••••••adce\"";
    let (destination, text) = pick(&work, "destinations", |t| {
        t.contains("\n  enabled = true\n") && t.contains(masked)
    })?;
    let placeholder = format!("\"@@{SECRET_NAME}@@\"");
    let text = edit(
        &destination,
        text,
        &[
            ("\n  enabled = true\n", "\n  enabled = false\n"),
            (masked, &placeholder),
        ],
    )?;
    write(&work, &destination, &text)?;
    println!(
        "   {destination}: enabled = false, and its apiKey = {placeholder} (the key itself is in secrets.env, never in Git)"
    );
    let (source, text) = pick(&work, "sources", |t| {
        t.contains("\n  labels  = null\n") && !t.contains("Renamed in the demo")
    })?;
    let name_line = text
        .lines()
        .find(|l| l.starts_with("  name "))
        .ok_or_else(|| format!("{source}: no name"))?
        .to_owned();
    let text = edit(
        &source,
        text,
        &[
            (&name_line, "  name = \"Checkout web\""),
            (
                "\n  labels  = null\n",
                "\n  labels = [\n    {\n      key   = \"team\"\n      value = \"growth\"\n    },\n  ]\n",
            ),
        ],
    )?;
    write(&work, &source, &text)?;
    println!("   {source}: renamed \"Checkout web\", labelled team:growth");
    let label = "labels/team.tf";
    write(
        &work,
        label,
        "resource \"segment_label\" \"team\" {\n  key   = \"team\"\n  value = \"growth\"\n}\n",
    )?;
    println!("   {label}: a new label team:growth (any file name, no import block)");
    git(&work, &["add", "-A"])?;
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "Disable a webhook, rename and label a source",
        ],
    )?;

    println!(
        "   (in {}) gitsync plan --workspace {url} --token-file token --secrets secrets.env --dir work --base main --out change.plan",
        dir.display()
    );
    let mut made = plan::plan_tree(
        client,
        &DirTree::new(&work),
        Some("main"),
        &secrets,
        &Default::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    made.workspace = Some(crate::url::redacted(url));
    print!("{}", indented(&plan::human(&made)));
    if !made.conflicts.is_empty() {
        return Err("the demo's plan has conflicts".into());
    }
    let plan_file = dir.join("change.plan");
    let key = plan::PlanKey::new(client.point_key());
    crate::sync::export::write_atomically(&plan_file, made.to_json(&key).as_bytes(), None, true)
        .map_err(|e| format!("{}: {e}", plan_file.display()))?;

    println!(
        "   gitsync apply change.plan --workspace {url} --token-file token --secrets secrets.env --no-pace"
    );
    // As `gitsync apply change.plan` does: the plan read back (its seal checked), its journal
    // beside it.
    let text =
        std::fs::read_to_string(&plan_file).map_err(|e| format!("{}: {e}", plan_file.display()))?;
    let made = plan::Plan::from_json(&text, &key).map_err(|e| e.to_string())?;
    let changes = made.changes.len();
    let mut session = Session::open(
        made,
        FileJournal::new(dir.join("change.plan.journal")),
        &apply::session::this_process(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let report = session
        .run(
            client,
            &mut DirSink::new(&work),
            &ApplyOptions::new(&secrets),
            &mut apply::Quiet,
        )
        .await
        .map_err(|e| e.to_string())?;
    print!("{}", indented(&apply::show::text(&report)));
    let applied = report.succeeded();
    if !applied {
        return Err("the demo's apply failed".into());
    }

    // The workspace's own read of what the apply changed.
    let id = import_id(&std::fs::read_to_string(work.join(&destination)).unwrap_or_default())
        .ok_or_else(|| format!("{destination}: no import id"))?;
    let live = client
        .get(ResourceType::Destination, &id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the workspace has no destination {id}"))?;
    let enabled = live.attributes.get("enabled").cloned();
    let api_key = match live.attributes.get("settings") {
        Some(Value::Json(settings)) => settings
            .get("apiKey")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    };
    let source_id = import_id(&std::fs::read_to_string(work.join(&source)).unwrap_or_default())
        .ok_or_else(|| format!("{source}: no import id"))?;
    let renamed = client
        .get(ResourceType::Source, &source_id)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|s| match s.attributes.get("name") {
            Some(Value::String(n)) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let label_exists = client
        .get(ResourceType::Label, "team:growth")
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    println!(
        "   The workspace's own read: destination {id} enabled = {}, apiKey = {api_key} (the secret, masked);",
        match enabled {
            Some(Value::Bool(b)) => b.to_string(),
            _ => "(none)".into(),
        },
    );
    println!(
        "   source {source_id} name = {renamed:?}; label team:growth {}",
        if label_exists { "exists" } else { "missing" }
    );
    println!("   The rewritten tree, committed on demo-change as Segment's Git Sync does:");
    git(&work, &["add", "-A"])?;
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "Updating created resources with actual generated files",
        ],
    )?;
    print!("{}", git_log(&work, 2));

    println!("5. The forward sync brings the applied change to main, in Segment's words:");
    let waited = Instant::now();
    let mut commits = 0;
    // One commit per write the apply made; poll every 200 ms until all have arrived.
    while commits < changes && waited.elapsed() < Duration::from_secs(30) {
        let poll = syncer.poll().await.map_err(|e| e.to_string())?;
        commits += poll.commits().len();
        if commits < changes {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if commits < changes {
        return Err(format!(
            "the forward sync brought {commits} of the {changes} applied changes to main in 30 s"
        ));
    }
    print!("{}", git_log(repo, commits));
    // Nothing is left to plan: neither what the forward sync wrote on main (the files it changed
    // since the branch point) nor the branch against main (the placeholder agrees with the mask).
    git(&work, &["checkout", "-q", "main"])?;
    git(&work, &["pull", "-q", "--ff-only"])?;
    for (branch, base) in [("main", branch_point.as_str()), ("demo-change", "main")] {
        git(&work, &["checkout", "-q", branch])?;
        let again = plan::plan_tree(
            client,
            &DirTree::new(&work),
            Some(base),
            &secrets,
            &Default::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        println!(
            "   gitsync plan on {branch} --base {base} ({} file(s) differ): {}",
            again.unchanged + again.changes.len(),
            plan::summary_line(&again)
        );
    }
    Ok(())
}
