//! `gitsync demo`: the whole product in one command, no account and no cluster: the forward
//! sync into a repository on a local GitHub, then a pull request planned, applied on a
//! `segment apply` comment and merged, as the operator does it. It drives the same code the
//! operator runs (the [`Syncer`] of the forward sync, the pull-request [`pulls::Pass`], the
//! GitHub client [`GitHub`] pointed at the local forge's API); it must never carry a second
//! implementation of any of them, only the edits and comments a person would make and what it
//! prints. The local forge ([`LocalForge`]) is GitHub's stand-in for the tests and this demo.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;

use crate::forge::Forge as _;
use crate::forge::github::{GitHub, GitHubAuth, GitHubConfig};
use crate::forge::local::{LocalForge, LocalForgeConfig, NewPull, PostedComment, Role, Running};
use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::model::{ResourceType, Value, synthetic};
use crate::pulls::{self, Happened, Journals, MemoryStash, Observer, Pass, Repository, Settings};
use crate::sync::apply::{MemoryJournal, MemoryJournals};
use crate::sync::full::Target;
use crate::sync::plan;
use crate::sync::runner::Syncer;
use crate::sync::secrets::FileSecrets;
use crate::sync::tree::GitTree;
use crate::workspace::embedded::{self, ServerConfig, Store};
use crate::workspace::{Client, ClientConfig, Workspace};

/// Run gitsync end to end on this machine: an embedded workspace with a sample of 80 resources
/// and a local GitHub (its REST API and Git over HTTP on loopback); a full sync into a
/// repository there, then a few workspace changes, each arriving as a commit; then the other
/// way, a pull request: alice disables a destination (its API key from a secret placeholder),
/// renames and labels a source and adds a label on a branch, and opens a pull request; gitsync
/// plans it in a comment and a `gitsync/plan` status, applies it when alice comments
/// `segment apply` and pushes the renamed files in one commit; the pull request is merged and
/// the forward sync finds main already in step with the workspace.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync demo                       # everything in a new temporary directory
  gitsync demo --dir /tmp/try-it     # keep the workspace database and the repository there")]
pub struct DemoArgs {
    /// Where to put the demo's workspace database and repositories (default: a new temp
    /// directory). It must be new, empty, or the directory of an earlier demo, whose output is
    /// then replaced.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Marks a directory as the demo's own, so that a later run may replace what it holds.
const MARKER: &str = ".gitsync-demo";

/// What the demo writes into its directory; all of it is replaced by the next run there.
const OUTPUT: [&str; 8] = [
    "repository.git",
    "cache.git",
    "pulls-cache.git",
    "workspace.db",
    "workspace.db-wal",
    "workspace.db-shm",
    "work",
    "secrets.env",
];

/// What earlier versions of the demo wrote there: removed too, so that nothing stale is left.
const FORMER_OUTPUT: [&str; 3] = ["token", "change.plan", "change.plan.journal"];

/// Makes `dir` ready for a fresh demo and gives its absolute path. A directory that holds
/// anything and was not made by the demo is refused: the demo removes what it finds of its
/// own output.
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
    for name in OUTPUT.iter().chain(FORMER_OUTPUT.iter()) {
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

/// The last `count` commits of `rev` in `repo`, one line each after `indent` (`git log`'s
/// own `--graph` lines when `graph`).
fn git_log(repo: &Path, rev: &str, count: usize, indent: &str, graph: bool) -> String {
    let mut args = vec![
        "log".to_owned(),
        format!("-{count}"),
        "--format=%h %s".to_owned(),
    ];
    if graph {
        args.push("--graph".into());
    }
    args.extend([rev.to_owned(), "--".to_owned()]);
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(&args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| format!("{indent}{}\n", l.trim_end()))
                .collect()
        })
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

/// The repository on the local GitHub, and who works in it.
const OWNER: &str = "acme";
const NAME: &str = "segment-config";
const FULL_NAME: &str = "acme/segment-config";
const ALICE: &str = "alice";
const BOT: &str = "gitsync-bot";
/// The pull request's branch.
const BRANCH: &str = "demo-change";
const TITLE: &str = "Disable a webhook, rename and label a source";

/// The secret the demo's placeholder stands for; the workspace serves its last four characters.
const SECRET_NAME: &str = "webhook_api_key";
const SECRET_VALUE: &str = "demo-secret-b7e1";

/// A token no one can guess, made from the standard library's per-process random keys (the
/// demo's forge lives on loopback for a few seconds; no crate is needed for this).
fn fresh_token(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut token = prefix.to_owned();
    for round in 0..2u8 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(round);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
}

/// The local GitHub: the forge, its server, alice's token, and gitsync's client (the bot's).
struct LocalGitHub {
    forge: LocalForge,
    running: Running,
    alice_token: String,
    bot: GitHub,
    /// `http://127.0.0.1:PORT/acme/segment-config.git`, the repository's `clone_url`.
    clone_url: String,
}

/// Starts a local GitHub whose repository `acme/segment-config` is the bare repository `repo`,
/// with alice and gitsync's bot (both may push), each with a token.
async fn local_github(repo: &Path) -> Result<LocalGitHub, String> {
    let forge = LocalForge::new(LocalForgeConfig::default());
    forge.add_user(OWNER, 1, Role::Admin);
    forge.add_user(ALICE, 2, Role::Write);
    forge.add_user(BOT, 3, Role::Write);
    let alice_token = fresh_token("ghp_");
    let bot_token = fresh_token("ghp_");
    forge
        .add_token(&alice_token, ALICE)
        .and_then(|()| forge.add_token(&bot_token, BOT))
        .and_then(|()| forge.add_repository(OWNER, NAME, repo, "main"))
        .map_err(|e| e.to_string())?;
    let running = forge
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| format!("cannot start the local GitHub on 127.0.0.1: {e}"))?;
    let bot = GitHub::new(GitHubConfig {
        api_base_url: running.api_url(),
        owner: OWNER.into(),
        repo: NAME.into(),
        auth: GitHubAuth::Token(bot_token),
        http: crate::http::HttpConfig {
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        },
    })
    .map_err(|e| e.to_string())?;
    let clone_url = format!("http://{}/{FULL_NAME}.git", running.addr);
    Ok(LocalGitHub {
        forge,
        running,
        alice_token,
        bot,
        clone_url,
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
    let github = local_github(repo).await?;
    println!(
        "   Local GitHub on http://{} (REST API under /api/v3, Git over HTTP): repository {FULL_NAME},",
        github.running.addr
    );
    println!("   users {ALICE} and {BOT} (gitsync's token), both with write access");

    let client = Client::new(ClientConfig::new(running.url(), "demo", "the demo token"))
        .map_err(|e| e.to_string())?;
    // Git with the forge's credentials, as the operator does.
    let credentials = github
        .bot
        .git_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let remote = Remote {
        url: github.clone_url.clone(),
        branch: "main".into(),
        auth: Auth::Basic {
            username: credentials.username,
            password: credentials.password,
        },
    };
    let author = Author {
        name: "gitsync".into(),
        email: "gitsync@localhost".into(),
    };
    let target = Target {
        cache: gix::init_bare(dir.join("cache.git"))
            .map_err(|e| e.to_string())?
            .into_sync(),
        remote: remote.clone(),
        author: author.clone(),
        placeholders: Default::default(),
    };
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let mut syncer = Syncer::new(client.clone(), target, types);
    let full = syncer.start(true).await.map_err(|e| e.to_string())?;
    println!(
        "2. Full sync: {} commits pushed to {} as {BOT}",
        full.commits().len(),
        github.clone_url
    );
    print!("{}", git_log(repo, "main", 3, "   ", false));

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
            if made.elapsed() > Duration::from_secs(30) {
                return Err(
                    "the forward sync did not bring a workspace change to main in 30 s".into(),
                );
            }
            let poll = syncer.poll().await.map_err(|e| e.to_string())?;
            if !poll.commits().is_empty() {
                print!(
                    "{}",
                    git_log(repo, "main", poll.commits().len(), "   ", false).trim_end()
                );
                println!("   ({} ms after the change)", made.elapsed().as_millis());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let cache = gix::init_bare(dir.join("pulls-cache.git")).map_err(|e| e.to_string())?;
    let repository = Repository {
        cache_path: cache.path().to_path_buf(),
        cache: cache.into_sync(),
        remote,
        // The forward sync's own: it keeps what the apply wrote with placeholders.
        placeholders: syncer.target().placeholders.clone(),
    };
    let flow = PullRequestFlow {
        dir,
        repo,
        client: &client,
        github: &github,
        repository,
        author,
    };
    flow.run(&mut syncer).await?;
    github.running.stop().await;
    running.stop().await;
    println!(
        "7. Done in {:.1}s. The repository is {}",
        started.elapsed().as_secs_f64(),
        repo.display()
    );
    println!(
        "   Look at it:  git -C {} log --graph --oneline --all | head -20",
        dir.join("work").display()
    );
    Ok(())
}

/// Runs git in `dir` as alice; its output, or what failed. `token` authenticates her to the
/// local GitHub's Git over HTTP: it goes to git in its environment, never on its command line
/// (which an error message quotes).
fn git_as_alice(dir: &Path, args: &[&str], token: Option<&str>) -> Result<String, String> {
    use base64::Engine as _;
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        // Her identity, and no signing a person's configuration may ask for.
        .args([
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.com",
        ])
        .args(["-c", "commit.gpgsign=false"])
        .args(args);
    if let Some(token) = token {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ALICE}:{token}"));
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            )
            .env("GIT_TERMINAL_PROMPT", "0");
    }
    let out = command
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

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_as_alice(dir, args, None)
}

/// The demo's apply journal: in memory, one per workspace (the operator keeps it in a
/// Kubernetes object).
struct DemoJournals(MemoryJournals);

impl Journals for DemoJournals {
    type Store = MemoryJournal;
    fn open(&self) -> MemoryJournal {
        self.0.journal("gitsync-demo")
    }
}

/// The operator turns what a pass did into Events and metrics; the demo prints the forge's side
/// instead, and keeps these only to say why a pass did not plan or apply.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<Happened>>);

impl Observer for Seen {
    fn happened(&self, what: &Happened) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what.clone());
    }
    async fn save(&self, _record: &crate::pulls::record::PullRecord) {}
}

impl Seen {
    /// Why the pass refused to apply, if it did.
    fn refusal(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find_map(|h| match h {
                Happened::Refused {
                    reason, message, ..
                } => Some(format!("{reason}: {message}")),
                _ => None,
            })
    }
}

/// Steps 4 to 6: a pull request planned, applied on command and merged.
struct PullRequestFlow<'a> {
    dir: &'a Path,
    repo: &'a Path,
    client: &'a Client,
    github: &'a LocalGitHub,
    repository: Repository,
    author: Author,
}

impl PullRequestFlow<'_> {
    async fn run(&self, syncer: &mut Syncer<Client>) -> Result<(), String> {
        let dir = self.dir;
        let forge = &self.github.forge;
        let work = dir.join("work");
        let secrets_file = dir.join("secrets.env");
        std::fs::write(&secrets_file, format!("{SECRET_NAME}={SECRET_VALUE}\n"))
            .map_err(|e| format!("{}: {e}", secrets_file.display()))?;
        // The operator reads SyncSecrets; the demo gives the pass the same kind of source.
        let secrets = FileSecrets::read(&secrets_file).map_err(|e| e.to_string())?;

        println!("4. {ALICE} changes the configuration on a branch and opens a pull request:");
        let (destination, source) = self.change(&work)?;
        let number = forge
            .open_pull(
                FULL_NAME,
                NewPull {
                    author: ALICE.into(),
                    head: BRANCH.into(),
                    base: "main".into(),
                    title: TITLE.into(),
                    body: None,
                    draft: false,
                },
            )
            .map_err(|e| e.to_string())?;
        println!("   git push origin {BRANCH}; pull request #{number} \"{TITLE}\" into main");

        let journals = DemoJournals(MemoryJournals::new());
        let stash = MemoryStash::default();
        let seen = Seen::default();
        let settings = Settings {
            base_branch: "main".into(),
            apply_command: "segment apply".into(),
            allowances: Default::default(),
            merge_after_apply: false,
            holder: "gitsync demo".into(),
            author: self.author.clone(),
            pace: None,
            mergeability_wait: Duration::from_secs(5),
        };
        let pass = Pass {
            forge: &self.github.bot,
            workspace: self.client,
            repository: &self.repository,
            journals: &journals,
            stash: &stash,
            observer: &seen,
            secrets: &secrets,
            settings: &settings,
            apply_lock: None,
        };
        let records = passed(pass.run(Vec::new()).await)?;
        println!(
            "   gitsync's pull-request pass (the operator's, with secrets.env for the placeholder) comments:"
        );
        let plan_comment = self.bot_comment(number)?;
        print!("{}", quoted(&plan_comment.body));
        self.print_status()?;
        let record = records
            .iter()
            .find(|r| r.number == number)
            .ok_or_else(|| format!("the pass left no record of pull request #{number}"))?;
        println!(
            "   status.pullRequests: #{number} {} ({})",
            record.stage.as_str(),
            record.changes.as_deref().unwrap_or("no changes")
        );
        if record.stage != pulls::record::Stage::Planned {
            return Err(format!(
                "pull request #{number} was not planned: {}",
                record.message.as_deref().unwrap_or("no reason given")
            ));
        }

        println!("5. {ALICE} comments `segment apply`; the next pass applies the plan:");
        let command = forge
            .post_comment(FULL_NAME, number, ALICE, "segment apply")
            .map_err(|e| e.to_string())?;
        let records = passed(pass.run(records).await)?;
        let reactions: Vec<String> = forge
            .reactions(FULL_NAME, command)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| format!("{} by {}", r.content, r.user))
            .collect();
        println!("   reactions on her comment: {}", reactions.join(", "));
        let record = records
            .iter()
            .find(|r| r.number == number)
            .ok_or_else(|| format!("the pass left no record of pull request #{number}"))?;
        if record.stage != pulls::record::Stage::Applied {
            return Err(format!(
                "pull request #{number} was not applied ({}): {}",
                record.stage.as_str(),
                seen.refusal()
                    .or_else(|| record.message.clone())
                    .unwrap_or_else(|| "no reason given".into())
            ));
        }
        println!("   the plan comment, edited in place:");
        print!("{}", quoted(&self.bot_comment(number)?.body));
        self.print_status()?;
        self.workspace_read(&work, &destination, &source).await?;
        println!("   git log {BRANCH}: gitsync pushed one commit, renaming the new label's file:");
        let log = git_log(self.repo, BRANCH, 2, "     ", false);
        let mut lines = log.lines();
        println!("{}", lines.next().unwrap_or_default());
        let renamed = git(
            self.repo,
            &["show", "--name-status", "--format=", BRANCH, "--"],
        )?;
        for line in renamed.lines().filter(|l| !l.is_empty()) {
            println!("         {}", line.replace('\t', " "));
        }
        for line in lines {
            println!("{line}");
        }

        self.merge_and_sync(syncer, number, &record.head, &secrets)
            .await?;
        // Alice's clone keeps working after the demo: its origin becomes the bare repository.
        git(
            &work,
            &[
                "remote",
                "set-url",
                "origin",
                &self.repo.display().to_string(),
            ],
        )?;
        git(&work, &["fetch", "-q", "origin"])?;
        Ok(())
    }

    /// Alice's change, as a person makes it: a clone over Git HTTP, edits, a commit, a push.
    /// The destination's and the source's paths.
    fn change(&self, work: &Path) -> Result<(String, String), String> {
        let token = Some(self.github.alice_token.as_str());
        git_as_alice(
            self.dir,
            &["clone", "-q", &self.github.clone_url, "work"],
            token,
        )?;
        git(work, &["checkout", "-q", "-b", BRANCH])?;
        let masked = "\"••••••••••adce\"";
        let (destination, text) = pick(work, "destinations", |t| {
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
        write(work, &destination, &text)?;
        println!(
            "   {destination}: enabled = false, apiKey = {placeholder} (the key is in secrets.env, never in Git)"
        );
        let (source, text) = pick(work, "sources", |t| {
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
        write(work, &source, &text)?;
        println!("   {source}: renamed \"Checkout web\", labelled team:growth");
        let label = "labels/team.tf";
        write(
            work,
            label,
            "resource \"segment_label\" \"team\" {\n  key   = \"team\"\n  value = \"growth\"\n}\n",
        )?;
        println!("   {label}: a new label team:growth (any file name, no import block)");
        git(work, &["add", "-A"])?;
        git(work, &["commit", "-q", "-m", TITLE])?;
        git_as_alice(work, &["push", "-q", "origin", BRANCH], token)?;
        Ok((destination, source))
    }

    /// gitsync's comment on the pull request, read back from the forge.
    fn bot_comment(&self, number: u64) -> Result<PostedComment, String> {
        self.github
            .forge
            .comments(FULL_NAME, number)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|c| c.author == BOT)
            .ok_or_else(|| format!("gitsync posted no comment on pull request #{number}"))
    }

    /// The `gitsync/plan` statuses of the newest commit that has one, oldest first, as the
    /// forge keeps them.
    fn print_status(&self) -> Result<(), String> {
        let statuses: Vec<_> = self
            .github
            .forge
            .statuses(FULL_NAME)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|s| s.context == pulls::STATUS_CONTEXT)
            .collect();
        let sha = statuses
            .last()
            .map(|s| s.sha.clone())
            .ok_or("gitsync set no gitsync/plan status")?;
        let states: Vec<String> = statuses
            .into_iter()
            .filter(|s| s.sha == sha)
            .map(|s| format!("{} \"{}\"", s.state, s.description.unwrap_or_default()))
            .collect();
        println!(
            "   status {} on {}: {}",
            pulls::STATUS_CONTEXT,
            sha.get(..7).unwrap_or(&sha),
            states.join(", then ")
        );
        Ok(())
    }

    /// The workspace's own read of what the apply changed.
    async fn workspace_read(
        &self,
        work: &Path,
        destination: &str,
        source: &str,
    ) -> Result<(), String> {
        let client = self.client;
        let id = import_id(&std::fs::read_to_string(work.join(destination)).unwrap_or_default())
            .ok_or_else(|| format!("{destination}: no import id"))?;
        let live = client
            .get(ResourceType::Destination, &id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the workspace has no destination {id}"))?;
        let enabled = match live.attributes.get("enabled") {
            Some(Value::Bool(b)) => b.to_string(),
            _ => "(none)".into(),
        };
        let api_key = match live.attributes.get("settings") {
            Some(Value::Json(settings)) => settings
                .get("apiKey")
                .and_then(|k| k.as_str())
                .unwrap_or("")
                .to_owned(),
            _ => String::new(),
        };
        let source_id = import_id(&std::fs::read_to_string(work.join(source)).unwrap_or_default())
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
            "   the workspace's own read: destination {id} enabled = {enabled}, apiKey = {api_key} (the secret, masked);"
        );
        println!(
            "   source {source_id} name = {renamed:?}; label team:growth {}",
            if label_exists { "exists" } else { "missing" }
        );
        Ok(())
    }

    /// Step 6: the merge through the forge's API, then the forward sync, then a plan of main.
    async fn merge_and_sync(
        &self,
        syncer: &mut Syncer<Client>,
        number: u64,
        head: &str,
        secrets: &FileSecrets,
    ) -> Result<(), String> {
        println!(
            "6. {BOT} merges #{number} through the API (as mergeAfterApply does); the forward sync polls:"
        );
        let before = git(self.repo, &["rev-parse", "main"])?.trim().to_owned();
        self.github
            .bot
            .merge(number, head)
            .await
            .map_err(|e| format!("merging pull request #{number}: {e}"))?;
        let synced = syncer.poll().await.map_err(|e| e.to_string())?;
        let commits = synced.commits().len();
        println!("   git log --graph --oneline main:");
        print!("{}", git_log(self.repo, "main", 4, "     ", true));
        println!(
            "   no conflict; the forward sync wrote {commits} commit(s) after the merge (main already says what the workspace holds)"
        );
        // Three-way from main before the merge, as `gitsync plan --base`: the files the merge
        // changed, against the live workspace.
        let tip = git(self.repo, &["rev-parse", "main"])?;
        let commit = gix::ObjectId::from_hex(tip.trim().as_bytes()).map_err(|e| e.to_string())?;
        let again = plan::plan_tree(
            self.client,
            &GitTree {
                repository: self.repo.to_path_buf(),
                commit,
            },
            Some(&before),
            secrets,
            &Default::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        println!(
            "   gitsync plan of main --base {} ({} file(s) the merge changed): {}",
            before.get(..7).unwrap_or(&before),
            again.unchanged + again.changes.len() + again.conflicts.len(),
            plan::summary_line(&again)
        );
        Ok(())
    }
}

/// A pass's records, or the first pull request it could not handle.
fn passed(outcome: pulls::PassOutcome) -> Result<Vec<pulls::record::PullRecord>, String> {
    match outcome.errors.into_iter().next() {
        None => Ok(outcome.records),
        Some((0, e)) => Err(format!("the pull-request pass: {e}")),
        Some((number, e)) => Err(format!("pull request #{number}: {e}")),
    }
}

/// A comment's text, quoted under the step it belongs to.
fn quoted(text: &str) -> String {
    text.lines()
        .map(|l| format!("     | {l}").trim_end().to_owned() + "\n")
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_each_time_and_fit_a_header() {
        let tokens: std::collections::BTreeSet<String> =
            (0..100).map(|_| fresh_token("ghp_")).collect();
        assert_eq!(tokens.len(), 100, "a token came twice");
        for t in &tokens {
            assert!(t.starts_with("ghp_") && t.len() == 4 + 32, "{t}");
            assert!(t[4..].chars().all(|c| c.is_ascii_hexdigit()), "{t}");
        }
    }

    #[test]
    fn a_quoted_comment_keeps_its_lines_and_no_trailing_blanks() {
        let cases = [
            ("", ""),
            ("one", "     | one\n"),
            ("a\n\nb  \n", "     | a\n     |\n     | b\n"),
        ];
        for (text, expected) in cases {
            assert_eq!(quoted(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_directory_the_demo_did_not_make_is_refused_and_its_own_output_replaced() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let foreign = root.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(foreign.join("notes"), "keep").unwrap_or_else(|e| panic!("{e}"));
        let refused = prepare(&foreign).err().unwrap_or_default();
        assert!(
            refused.contains("is not empty and was not made by `gitsync demo`"),
            "{refused}"
        );
        let mine = root.path().join("mine");
        let made = prepare(&mine).unwrap_or_else(|e| panic!("{e}"));
        for name in ["work", "change.plan", "secrets.env"] {
            std::fs::write(made.join(name), "old").unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(made.join("kept.txt"), "a person's").unwrap_or_else(|e| panic!("{e}"));
        prepare(&mine).unwrap_or_else(|e| panic!("{e}"));
        for name in ["work", "change.plan", "secrets.env"] {
            assert!(!made.join(name).exists(), "{name} is left");
        }
        assert!(
            made.join("kept.txt").exists(),
            "a file not of the demo's is removed"
        );
    }
}
