//! The pull-request workflow (`gitsync::pulls`, issue 16) against the local GitHub
//! ([`gitsync::forge::local::LocalForge`]: its API under `/api/v3`, its repositories over Git's
//! smart HTTP, signed webhooks) and the embedded workspace, both on loopback:
//!
//! 1. `webhook_to_plan_comment`: a 100-file pull request (50 sources renamed, 50 labels created)
//!    against a 10,000-resource workspace. Each run pushes a fresh commit (new names, new
//!    labels), so the plan is made again: the forge notes the push and sends the signed
//!    `pull_request` `synchronize` delivery to the webhook listener
//!    ([`gitsync::operator::webhook::router`], woken through a channel as the operator is),
//!    which starts one [`gitsync::pulls::Pass::run`]; the run ends when the forge has answered
//!    the request that writes the plan comment. Every run is timed (median and p95 printed);
//!    the time from the delivery's arrival and the pass's own time are printed too.
//!    Baselines in the same run: the same plan made by [`gitsync::sync::plan::plan_tree`] on the
//!    same commit, no forge (the engine's floor), and `git fetch` of the pull request's ref
//!    and the base branch by the `git` program over the same smart HTTP (a fresh commit each
//!    time), which is the workflow's first step done by Git itself.
//! 2. Requests per plan: the workspace requests (the client's own count) and the forge's (API
//!    and Git, counted by a layer on the forge's router) of one pass that plans a newly opened
//!    pull request of 1, 10 and 100 changed files, against workspaces of 1,000 and 10,000
//!    resources. They must follow the changed files, not the workspace.
//!
//! The forge's GitHub App is the tests' (`tests/fixtures/forge/`, made for the tests); the
//! client authenticates as the App, as the operator does.
//!
//! Run: `cargo bench --bench pulls` (about 2 minutes on 2 cores).

mod common;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use gitsync::forge::github::{GitHub, GitHubAuth, GitHubConfig};
use gitsync::forge::local::{AppConfig, LocalForge, LocalForgeConfig, NewPull, Role};
use gitsync::forge::webhook::Event;
use gitsync::forge::{Forge as _, ForgeKind};
use gitsync::git::remote::{Auth, Remote};
use gitsync::http::HttpConfig;
use gitsync::model::{ResourceType, Value};
use gitsync::operator::webhook::{self, HookTarget, HookTargets, TargetKey, TargetsError, Wake};
use gitsync::pulls::record::{PullRecord, Stage};
use gitsync::pulls::rules::Allowances;
use gitsync::pulls::{Happened, Journals, MemoryStash, Observer, Pass, Repository, Settings};
use gitsync::sync::apply::{MemoryJournal, MemoryJournals};
use gitsync::sync::full::Target;
use gitsync::sync::runner::Syncer;
use gitsync::sync::secrets::NoSecrets;
use gitsync::sync::tree::GitTree;
use gitsync::telemetry::metrics::Metrics;
use gitsync::workspace::client::RequestObserver;
use gitsync::workspace::embedded;
use gitsync::workspace::{Client, ClientConfig};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

const REPO: &str = "acme/segment";
const HOOK_SECRET: &str = "bench-hook-secret";
const APP_ID: u64 = 4242;
const INSTALLATION_ID: u64 = 777;
/// Pull requests planned in the first benchmark.
const CHANGED: usize = 100;
const BIG: usize = 10_000;
const SMALL: usize = 1_000;

fn fail<T>(what: &str, e: impl std::fmt::Display) -> T {
    panic!("{what}: {e}")
}

/// Counts the requests a workspace client sends.
#[derive(Default)]
struct Counter(AtomicUsize);

impl RequestObserver for Counter {
    fn response(&self, _: Option<u16>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn rate_limited_wait(&self, _: Duration) {}
}

impl Counter {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// What the forge served: every request (API and Git), and when it last answered a write of a
/// pull request's comment.
#[derive(Default)]
struct ForgeLog {
    requests: Mutex<Vec<String>>,
    comment_written: Mutex<Option<Instant>>,
}

impl ForgeLog {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|p| p.into_inner()))
    }
    fn take_comment_written(&self) -> Option<Instant> {
        self.comment_written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// A request as a line of the table: its method and path, numbers and commit ids as `{n}`.
fn shape(method: &str, path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()) && s.len() >= 4
                || !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
            {
                "{n}".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

async fn log_layer(
    log: Arc<ForgeLog>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let comment_write =
        (method == "POST" && path.ends_with("/comments") && path.contains("/issues/"))
            || (method == "PATCH" && path.contains("/issues/comments/"));
    if comment_write && response.status().is_success() {
        *log.comment_written
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }
    log.requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(shape(&method, &path));
    response
}

struct Quiet;

impl Observer for Quiet {
    fn happened(&self, _: &Happened) {}
    async fn save(&self, _: &PullRecord) {}
}

struct OneJournal(MemoryJournals);

impl Journals for OneJournal {
    type Store = MemoryJournal;
    fn open(&self) -> MemoryJournal {
        self.0.journal("gitsync")
    }
}

/// The one GitSync every delivery is for.
struct OneTarget;

impl HookTargets for OneTarget {
    async fn targets(
        &self,
        _forge: ForgeKind,
        _repository: &str,
    ) -> Result<Vec<HookTarget>, TargetsError> {
        Ok(vec![HookTarget {
            key: TargetKey::new("bench", "gitsync"),
            secret: HOOK_SECRET.as_bytes().to_vec(),
        }])
    }
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/forge")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&path.display().to_string(), e))
}

fn git(dir: &Path, args: &[&str]) -> String {
    common::repository::git(dir, args)
}

/// A workspace of `size` resources synced into `acme/segment` on a local GitHub, the webhook
/// listener, and what a pass needs.
struct World {
    size: usize,
    _ws_dir: tempfile::TempDir,
    _ws: embedded::Running,
    client: Client,
    ws_requests: Arc<Counter>,
    forge: LocalForge,
    forge_addr: std::net::SocketAddr,
    _forge_running: gitsync::forge::local::Running,
    log: Arc<ForgeLog>,
    github: GitHub,
    repository: Repository,
    bare: PathBuf,
    main: String,
    /// The first 100 source files of `main`: path and text.
    sources: Vec<(String, String)>,
    journals: OneJournal,
    stash: MemoryStash,
    settings: Settings,
    wakes: Option<UnboundedReceiver<(Instant, Wake)>>,
    credentials: (String, String),
    root: tempfile::TempDir,
}

impl World {
    fn new(rt: &tokio::runtime::Runtime, size: usize, listen: bool) -> World {
        let started = Instant::now();
        let (ws_dir, ws) = common::seeded_workspace(rt, size);
        let ws_requests = Arc::new(Counter::default());
        let mut config = ClientConfig::new(ws.url(), "bench", "bench");
        config.page_size = 1000;
        config.observer = Some(ws_requests.clone());
        let client = Client::new(config).unwrap_or_else(|e| fail("client", e));

        let forge = LocalForge::new(LocalForgeConfig {
            app: Some(AppConfig {
                id: APP_ID,
                slug: "gitsync-bench".into(),
                client_id: "Iv23liBenchClient".into(),
                public_key_pem: fixture("app-public-key.pem"),
                installation_id: INSTALLATION_ID,
            }),
            ..LocalForgeConfig::default()
        });
        let log = Arc::new(ForgeLog::default());
        let layer_log = log.clone();
        let running = rt
            .block_on(forge.serve_with(([127, 0, 0, 1], 0).into(), move |router| {
                router.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        log_layer(layer_log.clone(), request, next)
                    },
                ))
            }))
            .unwrap_or_else(|e| fail("serving the local forge", e));
        forge.add_user("acme", 1, Role::Admin);
        forge.add_user("alice", 11, Role::Write);

        let root = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
        let (bare, file_remote) = common::repository::bare_remote(root.path(), "acme-segment.git");
        forge
            .add_repository("acme", "segment", &bare, "main")
            .unwrap_or_else(|e| fail("add_repository", e));

        // The forward sync writes main, once.
        let mut syncer = Syncer::new(
            client.clone(),
            Target {
                cache: gix::init_bare(root.path().join("sync-cache.git"))
                    .unwrap_or_else(|e| fail("init", e))
                    .into_sync(),
                remote: file_remote,
                author: author(),
                placeholders: Default::default(),
            },
            ResourceType::git_sync_types().collect(),
        );
        rt.block_on(syncer.start(true))
            .unwrap_or_else(|e| fail("the forward sync", e));
        let main = git(&bare, &["rev-parse", "refs/heads/main"]);
        let sources: Vec<(String, String)> = gitsync::sync::tree::read_rev_files(&bare, "main")
            .unwrap_or_else(|e| fail("reading main", e))
            .into_iter()
            .filter(|(p, _)| p.starts_with("sources/"))
            .take(CHANGED)
            .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
            .collect();
        assert_eq!(sources.len(), CHANGED, "fewer than {CHANGED} sources");

        let github = GitHub::new(GitHubConfig {
            api_base_url: running.api_url(),
            owner: "acme".into(),
            repo: "segment".into(),
            auth: GitHubAuth::App {
                app_id: APP_ID.to_string(),
                private_key_pem: fixture("app-private-key.pem"),
                installation_id: Some(INSTALLATION_ID),
            },
            http: HttpConfig::default(),
        })
        .unwrap_or_else(|e| fail("the GitHub client", e));
        // The installation token, bought once (as the operator keeps it for the hour).
        let credentials = rt
            .block_on(github.git_credentials())
            .unwrap_or_else(|e| fail("git credentials", e));
        let remote = Remote {
            url: format!("http://{}/{REPO}.git", running.addr),
            branch: "main".into(),
            auth: Auth::Basic {
                username: credentials.username.clone(),
                password: credentials.password.clone(),
            },
        };
        // The cache as the operator opens it: every fetch of a new head adds a pack, and the
        // fetch repacks the cache when they pile up (see BENCHMARKS.md).
        let cache_path = gix::init_bare(root.path().join("pulls-cache.git"))
            .unwrap_or_else(|e| fail("init", e))
            .path()
            .to_path_buf();
        let cache = gix::open_opts(&cache_path, gitsync::git::cache::open_options())
            .unwrap_or_else(|e| fail("open", e));

        let wakes = listen.then(|| {
            let (tx, rx) = unbounded_channel();
            let router = webhook::router(
                OneTarget,
                move |wake: Wake| {
                    let _ = tx.send((Instant::now(), wake));
                },
                Arc::new(Metrics::new()),
            );
            let listener = rt
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap_or_else(|e| fail("bind", e));
            let addr = listener.local_addr().unwrap_or_else(|e| fail("addr", e));
            rt.spawn(async move { axum::serve(listener, router).await });
            forge.add_hook(&format!("http://{addr}/hooks/github"), HOOK_SECRET);
            rx
        });
        let forge_addr = running.addr;
        let world = World {
            size,
            _ws_dir: ws_dir,
            _ws: ws,
            client,
            ws_requests,
            forge,
            forge_addr,
            _forge_running: running,
            log,
            github,
            repository: Repository {
                cache: cache.into_sync(),
                cache_path,
                remote,
                placeholders: Default::default(),
            },
            bare,
            main,
            sources,
            journals: OneJournal(MemoryJournals::new()),
            stash: MemoryStash::default(),
            settings: Settings {
                base_branch: "main".into(),
                apply_command: "segment apply".into(),
                allowances: Allowances::default(),
                merge_after_apply: false,
                holder: "the bench".into(),
                author: author(),
                pace: None,
                mergeability_wait: Duration::from_secs(2),
            },
            wakes,
            credentials: (credentials.username, credentials.password),
            root,
        };
        world.ws_requests.take();
        world.log.take();
        eprintln!(
            "world of {size} resources ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        world
    }

    async fn pass(&self, previous: Vec<PullRecord>) -> Vec<PullRecord> {
        let pass = Pass {
            forge: &self.github,
            workspace: &self.client,
            repository: &self.repository,
            journals: &self.journals,
            stash: &self.stash,
            observer: &Quiet,
            secrets: &NoSecrets,
            settings: &self.settings,
            apply_lock: None,
        };
        let outcome = pass.run(previous).await;
        assert!(
            outcome.errors.is_empty(),
            "{:?}",
            outcome
                .errors
                .iter()
                .map(|(n, e)| format!("#{n}: {e}"))
                .collect::<Vec<_>>()
        );
        outcome.records
    }

    /// The files of a change of `n` files named `tag`: `ceil(n/2)` sources renamed, the rest
    /// new labels.
    fn change(&self, n: usize, tag: &str) -> Vec<(String, String)> {
        let updates = n.div_ceil(2);
        let mut files = Vec::with_capacity(n);
        for (path, text) in self.sources.iter().take(updates) {
            let mut r = gitsync::hcl::parse(text, path).unwrap_or_else(|e| fail(path, e));
            r.attributes
                .insert("name".into(), Value::String(format!("bench {tag}")));
            files.push((
                path.clone(),
                gitsync::hcl::render(&r).unwrap_or_else(|e| fail(path, e)),
            ));
        }
        for i in 0..n - updates {
            files.push((
                format!("labels/bench-{tag}-{i}.tf"),
                format!(
                    "resource \"segment_label\" \"bench_{tag}_{i}\" {{\n  key   = \"bench\"\n  value = \"{tag}-{i}\"\n}}\n"
                ),
            ));
        }
        files
    }

    /// Commits `files` on `branch` as one commit on top of main (replacing what the branch
    /// held, as a force push would); the commit.
    fn commit(&self, branch: &str, files: &[(String, String)], message: &str) -> String {
        let mut input = Vec::new();
        let stamp = jiff::Timestamp::now().as_second();
        let data = |out: &mut Vec<u8>, bytes: &[u8]| {
            let _ = writeln!(out, "data {}", bytes.len());
            out.extend_from_slice(bytes);
            out.push(b'\n');
        };
        let _ = writeln!(input, "commit refs/heads/{branch}");
        let _ = writeln!(input, "author Alice <alice@example.com> {stamp} +0000");
        let _ = writeln!(input, "committer Alice <alice@example.com> {stamp} +0000");
        data(&mut input, message.as_bytes());
        let _ = writeln!(input, "from {}", self.main);
        for (path, text) in files {
            let _ = writeln!(input, "M 100644 inline {path}");
            data(&mut input, text.as_bytes());
        }
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(&self.bare)
            .args([
                "-c",
                "fastimport.unpackLimit=100000",
                "fast-import",
                "--force",
                "--quiet",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail("git fast-import", e));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&input)
                .unwrap_or_else(|e| fail("git fast-import", e));
        }
        let status = child.wait().unwrap_or_else(|e| fail("git fast-import", e));
        assert!(status.success(), "git fast-import failed");
        git(&self.bare, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    fn open(&self, branch: &str, title: &str) -> u64 {
        self.forge
            .open_pull(
                REPO,
                NewPull {
                    author: "alice".into(),
                    head: branch.into(),
                    base: "main".into(),
                    title: title.into(),
                    body: None,
                    draft: false,
                },
            )
            .unwrap_or_else(|e| fail("open_pull", e))
    }

    /// The plan comment gitsync's App wrote on `number`, which must name `head`.
    fn check_comment(&self, number: u64, head: &str) {
        let comments = self
            .forge
            .comments(REPO, number)
            .unwrap_or_else(|e| fail("comments", e));
        let mine: Vec<_> = comments
            .iter()
            .filter(|c| c.author == "gitsync-bench[bot]")
            .collect();
        assert_eq!(mine.len(), 1, "one plan comment: {mine:?}");
        assert!(
            mine[0].body.contains(&head[..12]),
            "the plan comment names {head}: {}",
            mine[0].body
        );
    }

    /// Waits for the listener's wake about pull request `number`'s `action`; when it came.
    async fn wake(&mut self, number: u64, action: &str) -> Instant {
        let wakes = self
            .wakes
            .as_mut()
            .unwrap_or_else(|| panic!("this world has no listener"));
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), wakes.recv()).await;
            match next {
                Ok(Some((at, wake))) => {
                    if let Event::PullRequest {
                        number: n,
                        action: a,
                    } = &wake.event
                        && *n == number
                        && a == action
                    {
                        return at;
                    }
                }
                Ok(None) => panic!("the listener stopped"),
                Err(_) => panic!("no {action} delivery for #{number} in 10 s"),
            }
        }
    }

    /// Forgets the wakes so far (the forge also delivers gitsync's own comments).
    fn drain(&mut self) {
        if let Some(wakes) = self.wakes.as_mut() {
            while wakes.try_recv().is_ok() {}
        }
    }
}

fn author() -> gitsync::git::tree::Author {
    gitsync::git::tree::Author {
        name: "gitsync".into(),
        email: "gitsync@example.com".into(),
    }
}

/// What one pass that plans a newly opened pull request of `n` files asks.
struct Asked {
    n: usize,
    workspace: usize,
    api: Vec<String>,
    git: usize,
}

fn requests_per_plan(rt: &tokio::runtime::Runtime, world: &World, n: usize) -> Asked {
    let branch = format!("count-{n}");
    let files = world.change(n, &format!("c{n}"));
    let head = world.commit(&branch, &files, &format!("{n} changed files"));
    let number = world.open(&branch, &format!("{n} files"));
    world.ws_requests.take();
    world.log.take();
    let records = rt.block_on(world.pass(Vec::new()));
    let workspace = world.ws_requests.take();
    let all = world.log.take();
    let record = records
        .iter()
        .find(|r| r.number == number)
        .unwrap_or_else(|| panic!("no record of #{number}"));
    assert_eq!(record.stage, Stage::Planned, "{record:?}");
    let updates = n.div_ceil(2);
    assert_eq!(
        record.changes.as_deref(),
        Some(format!("+{} ~{updates} -0", n - updates).as_str()),
        "{record:?}"
    );
    assert_eq!(record.head, head);
    world.check_comment(number, &head);
    world
        .forge
        .close_pull(REPO, number, "alice")
        .unwrap_or_else(|e| fail("close", e));
    let (api, git): (Vec<String>, Vec<String>) = all.into_iter().partition(|r| {
        r.split_once(' ')
            .is_some_and(|(_, p)| p.starts_with("/api/v3/"))
    });
    Asked {
        n,
        workspace,
        api,
        git: git.len(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    /// From the forge's noting of the push (it sends the delivery) to its answer to the
    /// comment write.
    from_send: Duration,
    /// From the listener's wake (the delivery verified) to the comment written.
    from_arrival: Duration,
    /// The whole pass, from the wake (the status `success` is set after the comment).
    pass: Duration,
    workspace_requests: usize,
    forge_requests: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn stats(what: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (median, p95) = (percentile(&samples, 50.0), percentile(&samples, 95.0));
    println!(
        "{what}: n={} median {} p95 {} min {} max {}",
        samples.len(),
        ms(median),
        ms(p95),
        ms(samples.first().copied().unwrap_or_default()),
        ms(samples.last().copied().unwrap_or_default())
    );
    (median, p95)
}

fn bench(c: &mut Criterion) {
    println!("{}", common::machine());
    let rt = common::runtime();

    // 2. Requests per plan, against 1,000 and 10,000 resources.
    let mut big = World::new(&rt, BIG, true);
    let mut table = Vec::new();
    {
        let small = World::new(&rt, SMALL, false);
        for n in [1, 10, 100] {
            table.push((SMALL, requests_per_plan(&rt, &small, n)));
        }
    }
    for n in [1, 10, 100] {
        table.push((BIG, requests_per_plan(&rt, &big, n)));
    }
    println!("\n== requests per plan (one pass planning a newly opened pull request) ==");
    println!(
        "| workspace | changed files | workspace requests | forge API requests | Git HTTP requests |"
    );
    println!("|---|---|---|---|---|");
    for (size, asked) in &table {
        println!(
            "| {size} | {} | {} | {} | {} |",
            asked.n,
            asked.workspace,
            asked.api.len(),
            asked.git
        );
    }
    if let Some((_, asked)) = table.last() {
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for r in &asked.api {
            match kinds.iter_mut().find(|(k, _)| k == r) {
                Some((_, c)) => *c += 1,
                None => kinds.push((r.clone(), 1)),
            }
        }
        println!("forge API requests of the 100-file plan against 10,000 resources:");
        for (kind, count) in kinds {
            println!("  {count} x {kind}");
        }
    }
    for n in [1, 10, 100] {
        let of = |size| {
            table
                .iter()
                .find(|(s, a)| *s == size && a.n == n)
                .map(|(_, a)| (a.workspace, a.api.len(), a.git))
        };
        assert_eq!(
            of(SMALL),
            of(BIG),
            "the requests of a {n}-file plan grow with the workspace"
        );
    }

    // 1. From the webhook to the plan comment.
    let world = &mut big;
    let first_files = world.change(CHANGED, "r0");
    let head = world.commit("feature", &first_files, "bench r0");
    world.drain();
    let opened_at = Instant::now();
    let number = world.open("feature", "100 changed files");
    let arrived = rt.block_on(world.wake(number, "opened"));
    let mut records = rt.block_on(world.pass(Vec::new()));
    let first = world
        .log
        .take_comment_written()
        .unwrap_or_else(|| panic!("no comment written"));
    world.check_comment(number, &head);
    println!(
        "\nfirst sight (opened; the comment is created): {} from the forge's delivery, {} from its arrival",
        ms(first - opened_at),
        ms(first - arrived)
    );

    let mut runs: Vec<Run> = Vec::new();
    let mut round = 0u32;
    let mut group = c.benchmark_group("pulls_10000_resources");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    group.bench_function("webhook_to_plan_comment_100_files", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let files = world.change(CHANGED, &format!("r{round}"));
                let head = world.commit("feature", &files, &format!("bench r{round}"));
                world.drain();
                world.ws_requests.take();
                world.log.take();
                world.log.take_comment_written();
                // The push, as GitHub notes it: refs/pull/N/head moves, `synchronize` is sent.
                world
                    .forge
                    .note_push(REPO, number)
                    .unwrap_or_else(|e| fail("note_push", e));
                let sent = Instant::now();
                let arrived = rt.block_on(world.wake(number, "synchronize"));
                records = rt.block_on(world.pass(std::mem::take(&mut records)));
                let done = Instant::now();
                let written = world
                    .log
                    .take_comment_written()
                    .unwrap_or_else(|| panic!("round {round}: no comment written"));
                let record = &records[0];
                assert_eq!(record.head, head, "{record:?}");
                assert_eq!(record.stage, Stage::Planned, "{record:?}");
                assert_eq!(record.changes.as_deref(), Some("+50 ~50 -0"), "{record:?}");
                world.check_comment(number, &head);
                let run = Run {
                    from_send: written - sent,
                    from_arrival: written - arrived,
                    pass: done - arrived,
                    workspace_requests: world.ws_requests.take(),
                    forge_requests: world.log.take().len(),
                };
                total += run.from_send;
                runs.push(run);
            }
            total
        })
    });

    // Baseline 1: the same plan, by the engine alone, on the last commit planned.
    let commit =
        gix::ObjectId::from_hex(records[0].head.as_bytes()).unwrap_or_else(|e| fail("head", e));
    let tree = GitTree {
        repository: world.repository.cache_path.clone(),
        commit,
    };
    let base = Remote::tracking_ref_of("refs/heads/main");
    let mut plan_times = Vec::new();
    group.bench_function("baseline_plan_tree_same_commit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let plan = rt
                    .block_on(gitsync::sync::plan::plan_tree(
                        &world.client,
                        &tree,
                        Some(&base),
                        &NoSecrets,
                        &BTreeSet::new(),
                    ))
                    .unwrap_or_else(|e| fail("plan_tree", e));
                let took = started.elapsed();
                assert_eq!(plan.counts(), (50, 50, 0));
                plan_times.push(took);
                total += took;
            }
            total
        })
    });

    // Baseline 2: `git fetch` of the pull request's ref and main over the same smart HTTP, a
    // fresh commit each time, into a repository that has main (as the pass's cache has).
    let scratch = world.root.path().join("fetch-baseline.git");
    git(
        world.root.path(),
        &["init", "--bare", "-q", &scratch.to_string_lossy()],
    );
    let url = format!("http://{}/{REPO}.git", world.forge_addr);
    let header = {
        use base64::Engine as _;
        let (user, password) = &world.credentials;
        format!(
            "http.extraHeader=Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let fetch = |dir: &Path| {
        let started = Instant::now();
        git(
            dir,
            &[
                "-c",
                &header,
                "fetch",
                "-q",
                "--no-tags",
                &url,
                "+refs/heads/main:refs/remotes/origin/main",
                &format!("+refs/pull/{number}/head:refs/remotes/origin/pr"),
            ],
        );
        started.elapsed()
    };
    fetch(&scratch);
    let mut fetch_times = Vec::new();
    group.bench_function("baseline_git_fetch_pull_ref", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let files = world.change(CHANGED, &format!("r{round}"));
                let head = world.commit("feature", &files, &format!("bench r{round}"));
                git(
                    &world.bare,
                    &["update-ref", &format!("refs/pull/{number}/head"), &head],
                );
                let took = fetch(&scratch);
                assert_eq!(
                    git(&scratch, &["rev-parse", "refs/remotes/origin/pr"]),
                    head
                );
                fetch_times.push(took);
                total += took;
            }
            total
        })
    });
    group.finish();

    println!(
        "\n== webhook to plan comment, 100 files, {} resources ==",
        world.size
    );
    let (median, p95) = stats(
        "from the forge's delivery to the comment written",
        runs.iter().map(|r| r.from_send).collect(),
    );
    stats(
        "from the delivery's arrival (listener wake) to the comment written",
        runs.iter().map(|r| r.from_arrival).collect(),
    );
    stats(
        "the pass, from the wake to its end (status set)",
        runs.iter().map(|r| r.pass).collect(),
    );
    let (plan_median, plan_p95) = stats("baseline: plan_tree on the same commit", plan_times);
    let (fetch_median, _) = stats("baseline: git fetch of the pull ref and main", fetch_times);
    println!(
        "ratio to plan_tree: median {:.2}x, p95 {:.2}x; workflow overhead over the plan (median): {}; git fetch alone {}",
        median.as_secs_f64() / plan_median.as_secs_f64(),
        p95.as_secs_f64() / plan_p95.as_secs_f64(),
        ms(median.saturating_sub(plan_median)),
        ms(fetch_median)
    );
    let halves = runs.len().min(10);
    let first_runs: Vec<Duration> = runs.iter().take(halves).map(|r| r.from_send).collect();
    let last_runs: Vec<Duration> = runs
        .iter()
        .rev()
        .take(halves)
        .map(|r| r.from_send)
        .collect();
    let packs = std::fs::read_dir(world.repository.cache_path.join("objects/pack"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0);
    stats("  the first 10 runs", first_runs);
    stats(
        &format!("  the last 10 runs (the cache then holds {packs} packs)"),
        last_runs,
    );
    let per = |f: fn(&Run) -> usize| {
        let mut v: Vec<usize> = runs.iter().map(f).collect();
        v.sort();
        v.dedup();
        v
    };
    println!(
        "requests per run: workspace {:?}, forge (API + Git) {:?}",
        per(|r| r.workspace_requests),
        per(|r| r.forge_requests)
    );
    println!(
        "target: under 2 s: {}",
        if p95 < Duration::from_secs(2) {
            "met (p95)"
        } else if median < Duration::from_secs(2) {
            "met by the median only"
        } else {
            "NOT met"
        }
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
