//! The sync engine end to end, in one run on one machine:
//!
//! 1. Full sync of a synthetic 10,000-resource workspace, from the embedded workspace over HTTP on
//!    loopback to a fresh local bare repository (file://), as a first sync (with the
//!    verify-write commit). Baseline, in the same run: a script that writes the same files (the
//!    rendered tree, obtained beforehand, so the baseline is not charged for fetching or rendering)
//!    into a fresh working directory and runs `git add -A && git commit && git push` to a fresh
//!    bare repository with the `git` program. Three runs of each, interleaved, each timed step
//!    after a `sync` (so that no step pays for the writeback of the one before); medians.
//! 2. Incremental latency: the CLI's loop (the runner resumes from the last full sync's branch,
//!    then `Syncer::poll`, which is `incremental_sync` with the point the previous poll returned,
//!    with one second of sleep between polls), while another thread makes 100 changes through the
//!    API (renaming 50 sources and 50 destinations, alternating), 200 to 700 ms apart. A watcher
//!    thread reads the remote branch's ref every 10 ms; each commit is matched to its change by
//!    the resource id in its message. Latency is from the change's API response to the first
//!    sight of its commit on the remote.
//! 3. The cost of a poll when nothing changed: the time of one `incremental_sync`, the HTTP
//!    requests it made (counted by a middleware layered on the embedded router, and by the
//!    client's own counter), and that it did no Git work (`did_git_work`, no commit, no file of
//!    the cache repository touched, the branch unmoved).
//!
//! Run: `cargo bench --bench sync`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::repository::bare_remote;
use gitsync::git::tree::{self, Author};
use gitsync::model::{ResourceType, Value, synthetic};
use gitsync::sync::export::{Quiet, Tree, render_workspace};
use gitsync::sync::full::{Target, full_sync};
use gitsync::sync::incremental::incremental_sync;
use gitsync::sync::runner::{Detection, Outcome, Syncer};
use gitsync::workspace::embedded::{self, ServerConfig, Store};
use gitsync::workspace::now_rfc3339;
use gitsync::workspace::{AuditPoint, Client, ClientConfig, Workspace};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

const RESOURCES: usize = 10_000;
const RUNS: usize = 3;
const CHANGES: usize = 100;
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const WATCH_EVERY: Duration = Duration::from_millis(10);
const NOOP_POLLS: usize = 300;

/// HTTP requests the embedded workspace has answered (counted by a middleware on its router).
static SERVED: AtomicU64 = AtomicU64::new(0);

fn main() -> Result<()> {
    println!("{}", common::machine());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let root = tempfile::tempdir()?;

    // The workspace, served with a request counter around the embedded router.
    let store = Store::open(&root.path().join("ws.db"))?;
    let seed: Vec<_> = synthetic::workspace(RESOURCES, 42)
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    embedded::seed(&store, &seed)?;
    let app = embedded::router(store, ServerConfig::default()).layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            SERVED.fetch_add(1, Ordering::SeqCst);
            next.run(request).await
        },
    ));
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    // The CLI's client settings (page size 200, 8 listings in flight).
    let client = || Client::new(ClientConfig::new(url.clone(), "bench", "bench"));
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();

    // 1. Full sync against the script baseline.
    let (rendered, _) = rt.block_on(render_workspace(&client()?, &types, &mut Quiet))?;
    let bytes: usize = rendered.values().map(String::len).sum();
    println!(
        "\nworkspace: {} resources, {} files, {:.1} MiB rendered",
        seed.len(),
        rendered.len(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    let mut gitsync_times = Vec::new();
    let mut baseline_times = Vec::new();
    let mut export_times = Vec::new();
    let mut baseline_steps: Vec<[Duration; 4]> = Vec::new();
    let mut last = None;
    for run in 1..=RUNS {
        let dir = tempfile::tempdir_in(root.path())?;
        let (remote_path, remote) = bare_remote(dir.path(), "remote.git");
        let target = Target {
            cache: gix::init_bare(dir.path().join("cache.git"))?.into_sync(),
            remote,
            author: author(),
            placeholders: Default::default(),
        };
        let full_client = client()?;
        settle();
        let started = Instant::now();
        rt.block_on(full_sync(&full_client, &target, &types, &now_rfc3339()))?;
        let gitsync_time = started.elapsed();
        let gitsync_tree = git(&remote_path, &["rev-parse", "main^{tree}"])?;
        let commits = git(&remote_path, &["rev-list", "--count", "main"])?;

        let base_dir = tempfile::tempdir_in(root.path())?;
        settle();
        let (steps, baseline_tree) = baseline(base_dir.path(), &rendered)?;
        let baseline_time: Duration = steps.iter().sum();
        drop(base_dir);
        settle();

        // The fetching and rendering part of the full sync, alone.
        let started = Instant::now();
        let (again, _) = rt.block_on(render_workspace(&client()?, &types, &mut Quiet))?;
        let export_time = started.elapsed();
        if again != rendered {
            return Err("the workspace changed between runs".into());
        }

        println!(
            "run {run}: gitsync full sync {:.2} s ({} commits, {} requests), baseline {:.2} s \
             (write {:.2} + add {:.2} + commit {:.2} + push {:.2}), fetch+render alone {:.2} s, \
             same tree: {}",
            secs(gitsync_time),
            commits,
            full_client.stats().requests.load(Ordering::Relaxed),
            secs(baseline_time),
            secs(steps[0]),
            secs(steps[1]),
            secs(steps[2]),
            secs(steps[3]),
            secs(export_time),
            if gitsync_tree == baseline_tree {
                "yes"
            } else {
                "NO"
            },
        );
        if gitsync_tree != baseline_tree {
            return Err(format!("trees differ: {gitsync_tree} vs {baseline_tree}").into());
        }
        gitsync_times.push(gitsync_time);
        baseline_times.push(baseline_time);
        export_times.push(export_time);
        baseline_steps.push(steps);
        // The last run's branch is the one the incremental part continues on.
        if let Some((old_dir, _, _)) = last.replace((dir, remote_path, target)) {
            drop(old_dir);
        }
    }
    let (g, b, e) = (
        median(&gitsync_times),
        median(&baseline_times),
        median(&export_times),
    );
    println!(
        "\nfull sync, median of {RUNS}: gitsync {:.2} s, baseline {:.2} s, ratio {:.2}x \
         (target <= 0.50x): {}",
        secs(g),
        secs(b),
        secs(g) / secs(b),
        if secs(g) <= 0.5 * secs(b) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "  gitsync split: fetch+render {:.2} s, the rest (Git objects, commits, fetch, push) {:.2} s",
        secs(e),
        secs(g.saturating_sub(e))
    );
    println!(
        "  baseline + the same fetch+render: {:.2} s (gitsync {:.2}x of that)",
        secs(b + e),
        secs(g) / secs(b + e)
    );
    let mid = |i: usize| median(&baseline_steps.iter().map(|s| s[i]).collect::<Vec<_>>());
    println!(
        "  baseline steps, medians: write files {:.2} s, git add -A {:.2} s, git commit {:.2} s, git push {:.2} s",
        secs(mid(0)),
        secs(mid(1)),
        secs(mid(2)),
        secs(mid(3))
    );
    let Some((_dir, remote_path, target)) = last else {
        return Err("no run".into());
    };
    settle();
    let git_split = git_breakdown(root.path(), &rendered, &types)?;
    println!(
        "  gitsync's Git side alone, once (the same steps through the public API): {git_split}"
    );

    // 2. Incremental latency, with the CLI's runner resuming on the last run's branch.
    let poller_client = client()?;
    let mut syncer = Syncer::new(poller_client.clone(), target, types.clone());
    if !matches!(rt.block_on(syncer.start(false))?, Outcome::Resumed(_)) {
        return Err("the runner did not resume from the full sync".into());
    }
    let changer = client()?;
    let latencies = incremental_latency(&rt, &mut syncer, &changer, &remote_path)?;
    let mut ms: Vec<f64> = latencies.iter().map(|d| secs(*d) * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let p95 = percentile(&ms, 95.0);
    println!(
        "\nincremental latency, {} changes: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms, min {:.0} ms \
         (target p95 < 2000 ms): {}",
        ms.len(),
        percentile(&ms, 50.0),
        p95,
        ms.last().copied().unwrap_or_default(),
        ms.first().copied().unwrap_or_default(),
        if p95 < 2000.0 { "met" } else { "NOT met" }
    );

    // 3. A poll with nothing to do, from where the runner stopped.
    let Detection::AuditTrail(point) = syncer.detection().clone() else {
        return Err("the runner is not on the audit trail".into());
    };
    noop_polls(
        &rt,
        &poller_client,
        syncer.target(),
        &types,
        point,
        &remote_path,
    )?;

    let _ = stop_server.send(());
    let _ = rt.block_on(server);
    Ok(())
}

/// The CLI's loop while changes are made through the API from another thread; returns each
/// change's latency.
fn incremental_latency(
    rt: &tokio::runtime::Runtime,
    syncer: &mut Syncer<Client>,
    changer: &Client,
    remote_path: &Path,
) -> Result<Vec<Duration>> {
    // 50 sources and 50 destinations, one change each, alternating.
    let (sources, destinations) = rt.block_on(async {
        let s = changer.list(ResourceType::Source).await?;
        let d = changer.list(ResourceType::Destination).await?;
        Ok::<_, Error>((s, d))
    })?;
    let subjects: Vec<_> = (0..CHANGES)
        .filter_map(|i| {
            let pool = if i % 2 == 0 { &sources } else { &destinations };
            pool.get(i / 2).cloned()
        })
        .collect();
    if subjects.len() != CHANGES {
        return Err("not enough sources and destinations".into());
    }
    let index: HashMap<String, usize> = subjects
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone().unwrap_or_default(), i))
        .collect();

    let start_head = remote_head(remote_path)?;
    let stop = Arc::new(AtomicBool::new(false));
    let pushed = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<Vec<(Instant, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let poll_times: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));

    let made = std::thread::scope(|scope| -> Result<_> {
        // The watcher: the remote branch's ref, every 10 ms.
        let watcher = {
            let (stop, seen) = (stop.clone(), seen.clone());
            let mut current = start_head.clone();
            scope.spawn(move || -> Result<()> {
                let repo = gix::open(remote_path)?;
                while !stop.load(Ordering::SeqCst) {
                    let head = repo
                        .find_reference("refs/heads/main")?
                        .into_fully_peeled_id()?
                        .to_string();
                    if head != current {
                        let at = Instant::now();
                        if let Ok(mut s) = seen.lock() {
                            s.push((at, head.clone()));
                        }
                        current = head;
                    }
                    std::thread::sleep(WATCH_EVERY);
                }
                Ok(())
            })
        };
        // The changes, on their own thread, 200..700 ms apart (a fixed pseudo-random sequence);
        // then the wait for every change to be on the branch (at most 30 s).
        let changes = {
            let (stop, pushed) = (stop.clone(), pushed.clone());
            let handle = rt.handle().clone();
            let subjects = &subjects;
            scope.spawn(move || -> Result<Vec<Instant>> {
                let result = handle.block_on(async {
                    let mut rng = 0x2545_F491_4F6C_DD1Du64;
                    let mut made = Vec::with_capacity(CHANGES);
                    for (i, subject) in subjects.iter().enumerate() {
                        let mut changed = subject.clone();
                        changed
                            .attributes
                            .insert("name".into(), Value::String(format!("bench change {i}")));
                        changer.update(&changed).await?;
                        made.push(Instant::now());
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        tokio::time::sleep(Duration::from_millis(200 + rng % 501)).await;
                    }
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while pushed.load(Ordering::SeqCst) < CHANGES && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    tokio::time::sleep(WATCH_EVERY * 5).await;
                    Ok::<_, Error>(made)
                });
                stop.store(true, Ordering::SeqCst);
                result
            })
        };
        // The poller, on this thread: the CLI's loop (`Syncer::poll`, which calls
        // `incremental_sync` with the point the previous poll returned), the interval between.
        let polled = rt.block_on(async {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(POLL_INTERVAL).await;
                let started = Instant::now();
                let outcome = syncer.poll().await?;
                if let Outcome::Incremental(report) = &outcome
                    && report.did_git_work
                    && let Ok(mut t) = poll_times.lock()
                {
                    t.push(started.elapsed());
                }
                pushed.fetch_add(outcome.commits().len(), Ordering::SeqCst);
            }
            Ok::<_, Error>(())
        });
        stop.store(true, Ordering::SeqCst);
        let made = changes.join().map_err(|_| "the change thread panicked")?;
        watcher.join().map_err(|_| "the watcher panicked")??;
        polled?;
        made
    })?;

    // Each sighting of a new head brings the commits between the previous head and it.
    let mut latency: Vec<Option<Duration>> = vec![None; CHANGES];
    let mut previous = start_head;
    let sightings = seen.lock().map(|s| s.clone()).unwrap_or_default();
    for (at, head) in &sightings {
        let subjects = git(
            remote_path,
            &["log", "--format=%s", &format!("{previous}..{head}")],
        )?;
        for subject in subjects.lines() {
            let id = subject.split('\'').nth(1).unwrap_or_default();
            let Some(&i) = index.get(id) else {
                return Err(format!("a commit for no change: {subject}").into());
            };
            if latency[i].is_some() {
                return Err(format!("two commits for change {i}: {subject}").into());
            }
            latency[i] = Some(at.saturating_duration_since(made[i]));
        }
        previous = head.clone();
    }
    let missing = latency.iter().filter(|l| l.is_none()).count();
    if missing > 0 {
        return Err(format!("{missing} changes never reached the branch").into());
    }
    let polls = poll_times.lock().map(|t| t.clone()).unwrap_or_default();
    let mut poll_ms: Vec<f64> = polls.iter().map(|d| secs(*d) * 1000.0).collect();
    poll_ms.sort_by(f64::total_cmp);
    println!(
        "  {} pushes for {CHANGES} changes; a poll that commits takes p50 {:.0} ms, max {:.0} ms \
         (list + render the changed type, fetch, commit, push)",
        sightings.len(),
        percentile(&poll_ms, 50.0),
        poll_ms.last().copied().unwrap_or_default(),
    );
    Ok(latency.into_iter().flatten().collect())
}

/// Times polls with nothing to do, and checks each made one request and no Git work.
fn noop_polls(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    target: &Target,
    types: &[ResourceType],
    mut point: AuditPoint,
    remote_path: &Path,
) -> Result<()> {
    let head = remote_head(remote_path)?;
    let cache_before = snapshot(target.cache.path())?;
    let mut times = Vec::with_capacity(NOOP_POLLS);
    let (mut served, mut sent, mut git_work, mut commits) = (0, 0, 0, 0);
    rt.block_on(async {
        // Warm up the connection.
        for _ in 0..10 {
            point = incremental_sync(client, target, types, &point).await?.point;
        }
        for _ in 0..NOOP_POLLS {
            let served_before = SERVED.load(Ordering::SeqCst);
            let sent_before = client.stats().requests.load(Ordering::SeqCst);
            let started = Instant::now();
            let report = incremental_sync(client, target, types, &point).await?;
            times.push(started.elapsed());
            let one_served = SERVED.load(Ordering::SeqCst) - served_before;
            let one_sent = client.stats().requests.load(Ordering::SeqCst) - sent_before;
            if one_served != 1 || one_sent != 1 {
                return Err(format!(
                    "a no-op poll made {one_served} requests (client: {one_sent})"
                )
                .into());
            }
            served += one_served;
            sent += one_sent;
            git_work += usize::from(report.did_git_work);
            commits += report.commits.len();
            point = report.point;
        }
        Ok::<_, Error>(())
    })?;
    let cache_touched = snapshot(target.cache.path())? != cache_before;
    let moved = remote_head(remote_path)? != head;
    let mut us: Vec<f64> = times.iter().map(|d| secs(*d) * 1e6).collect();
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    us.sort_by(f64::total_cmp);
    println!(
        "\nno-op poll, {NOOP_POLLS} polls: median {:.0} µs, mean {:.0} µs, p95 {:.0} µs; \
         HTTP requests per poll: {:.2} served (server middleware), {:.2} sent (client counter); \
         polls with Git work: {git_work}; commits: {commits}; cache repository touched: {}; branch moved: {}",
        percentile(&us, 50.0),
        mean,
        percentile(&us, 95.0),
        served as f64 / NOOP_POLLS as f64,
        sent as f64 / NOOP_POLLS as f64,
        if cache_touched { "YES" } else { "no" },
        if moved { "YES" } else { "no" },
    );
    if git_work > 0 || commits > 0 || cache_touched || moved {
        return Err("a no-op poll did Git work".into());
    }
    Ok(())
}

/// The script: write the files, `git add -A`, `git commit`, `git push` to a new bare repository.
/// Returns the time of each step and the tree pushed.
fn baseline(dir: &Path, rendered: &Tree) -> Result<([Duration; 4], String)> {
    let (remote_path, _) = bare_remote(dir, "remote.git");
    let work = dir.join("work");
    let started = Instant::now();
    git(dir, &["init", "-q", "-b", "main", &work.to_string_lossy()])?;
    for (path, text) in rendered {
        let p = work.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, text)?;
    }
    let write = started.elapsed();
    let started = Instant::now();
    git(&work, &["add", "-A"])?;
    let add = started.elapsed();
    let started = Instant::now();
    git(
        &work,
        &[
            "-c",
            "user.name=script",
            "-c",
            "user.email=script@localhost",
            "commit",
            "-q",
            "-m",
            "Full sync",
        ],
    )?;
    let commit = started.elapsed();
    let started = Instant::now();
    let url = format!("file://{}", remote_path.display());
    git(&work, &["push", "-q", &url, "main"])?;
    let push = started.elapsed();
    let tree = git(&remote_path, &["rev-parse", "main^{tree}"])?;
    Ok(([write, add, commit, push], tree))
}

/// The Git side of a full sync, step by step through the crate's public API (the same calls
/// `full_sync` makes after rendering): fetch of the empty branch, blobs and trees and commits in
/// object memory, the pack they are written as, push.
fn git_breakdown(root: &Path, rendered: &Tree, types: &[ResourceType]) -> Result<String> {
    let dir = tempfile::tempdir_in(root)?;
    let (_, remote) = bare_remote(dir.path(), "remote.git");
    let mut cache = gix::init_bare(dir.path().join("cache.git"))?.with_object_memory();
    let started = Instant::now();
    let head = remote.fetch(&cache)?;
    let fetch = started.elapsed();
    let started = Instant::now();
    let author = author();
    let mut parent = Some(tree::commit(
        &cache,
        cache.empty_tree().id,
        head,
        &author,
        "Verify write permission",
    )?);
    let mut base = None;
    let mut objects = Duration::ZERO;
    let mut commit_time = Duration::ZERO;
    for ty in types {
        let directory = ty.kind().directory;
        let prefix = format!("{directory}/");
        let files: BTreeMap<String, String> = rendered
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect();
        let t = Instant::now();
        let next = tree::apply(&cache, base, &[directory], &files)?;
        objects += t.elapsed();
        if Some(next) != base {
            let t = Instant::now();
            parent = Some(tree::commit(&cache, next, parent, &author, "Full sync")?);
            commit_time += t.elapsed();
            base = Some(next);
        }
    }
    let t = Instant::now();
    gitsync::git::pack::persist_object_memory(&mut cache)?;
    let pack = t.elapsed();
    let build = started.elapsed();
    let last = parent.ok_or("no commit")?;
    let started = Instant::now();
    remote.push(&cache, last)?;
    let push = started.elapsed();
    Ok(format!(
        "fetch {:.2} s, blobs+trees {:.2} s, commits {:.3} s, one pack {:.2} s (build total {:.2} s), push {:.2} s",
        secs(fetch),
        secs(objects),
        secs(commit_time),
        secs(pack),
        secs(build),
        secs(push)
    ))
}

/// Flushes dirty pages (`sync`) before a timed step, so that no step pays for the writeback of
/// the files the step before it wrote or deleted.
fn settle() {
    let _ = Command::new("sync").status();
}

fn author() -> Author {
    Author {
        name: "gitsync".into(),
        email: "gitsync@localhost".into(),
    }
}

/// Every file under `dir` with its size and modification time: any Git work in a repository
/// (a fetch, a new object, a moved ref) changes it.
fn snapshot(dir: &Path) -> Result<BTreeMap<PathBuf, (u64, std::time::SystemTime)>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        let meta = entry.metadata()?;
        files.insert(entry.path().to_owned(), (meta.len(), meta.modified()?));
    }
    Ok(files)
}

fn remote_head(remote_path: &Path) -> Result<String> {
    git(remote_path, &["rev-parse", "refs/heads/main"])
}

/// Runs `git` in `dir`; its stdout without the trailing newline.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
