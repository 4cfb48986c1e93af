//! The operator at scale, as a process on a real kube-apiserver (etcd + kube-apiserver from
//! `scripts/test-cluster`), measured from outside through `/proc`:
//!
//! 1. Memory idle: `gitsync operator` (the release binary Cargo builds for this bench) holding
//!    the Lease, CRDs installed, no GitSync; VmRSS and VmHWM after 5 s.
//! 2. 100 GitSyncs (interval 30s), all reading ONE embedded workspace of 1,000 synthetic
//!    resources (served by this process over HTTP on loopback, with a token from a Secret) and
//!    each writing to its own local bare repository over file://. Each GitSync has its own sync
//!    runner, workspace client and cache repository in the operator, so sharing the workspace
//!    only shares the server's side. The time until all 100 are Ready after their full sync, the
//!    operator's CPU over it, and VmRSS / VmHWM afterwards.
//! 3. A quiet poll: the interval is set to 5s on all 100 (re-applied), then the operator's CPU
//!    over 60 s in which nothing changes, divided by the polls it made (its own
//!    `gitsync_syncs_total` counter).
//! 4. An incremental sync with a commit: 10 sources renamed through the API, 8 s apart (longer
//!    than the interval, so a poll sees one change); every GitSync sees every change, so 1,000
//!    commits. CPU over the window until all are pushed, per commit, raw and net of the quiet
//!    polls in the same window.
//! 5. All GitSyncs deleted (`kubectl delete gitsyncs --all`): VmRSS 10 s later, the syncs still
//!    run in those 10 s, and how many GitSyncs still have metric series.
//!
//! CPU is utime + stime of the operator process from `/proc/PID/stat`, and separately the same
//! plus cutime + cstime: the `git` processes it runs (push, ls-remote, upload-pack for file://
//! fetches) once it has waited for them. Memory is the operator process alone (not its `git`
//! children). The workspace server runs in this bench process, on the same cores.
//!
//! Run: `cargo bench --bench operator` (needs `scripts/install-test-tools.sh`: kube-apiserver,
//! etcd, kubectl, git). About 5 minutes on 2 cores.

#[allow(dead_code)]
#[path = "../tests/util/cluster.rs"]
mod cluster;
mod common;
#[allow(dead_code)]
#[path = "common/operator_process.rs"]
mod operator_process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster::TestCluster;
use gitsync::model::{ResourceType, Value, synthetic};
use gitsync::workspace::embedded::{self, ServerConfig, Store};
use gitsync::workspace::{Client, ClientConfig, Workspace};

use operator_process::{
    Cpu, Memory, Operator, Result, apply, git, load_average, machine, metric_sum, readiness,
};

const GITSYNCS: usize = 100;
const RESOURCES: usize = 1_000;
const TOKEN: &str = "bench-token";
const SLOW_INTERVAL: &str = "30s";
const FAST_INTERVAL: &str = "5s";
const FAST_INTERVAL_SECS: f64 = 5.0;
const IDLE_WAIT: Duration = Duration::from_secs(5);
const FULL_SYNC_TIMEOUT: Duration = Duration::from_secs(360);
const SETTLE: Duration = Duration::from_secs(10);
const QUIET_WINDOW: Duration = Duration::from_secs(60);
const CHANGES: usize = 10;
const CHANGE_SPACING: Duration = Duration::from_secs(8);
const COMMITS_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    println!("{}", machine());
    println!("load average at start: {}", load_average());
    let root = match tempfile::Builder::new()
        .prefix("gitsync-bench-operator.")
        .tempdir()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tempdir: {e}");
            std::process::exit(1);
        }
    };
    let log = root.path().join("state/operator.log");
    let result = run(root.path(), &log);
    // The operator and the cluster are stopped by now (their guards lived in `run`).
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    // Lines grouped by what follows the timestamp, in order of first appearance.
    let mut groups: Vec<(String, usize, String)> = Vec::new();
    for line in text.lines() {
        let (time, message) = line.split_once(' ').unwrap_or(("", line));
        let message = message.trim().to_owned();
        match groups.iter_mut().find(|g| g.0 == message) {
            Some(g) => g.1 += 1,
            None => groups.push((message, 1, time.to_owned())),
        }
    }
    println!(
        "\noperator log (--log-level warn): {} line(s), {} distinct",
        text.lines().count(),
        groups.len()
    );
    for (message, count, first) in groups.iter().take(30) {
        println!("  {count:>5} x (first {first}) {message}");
    }
    println!("load average at end: {}", load_average());
    if let Err(e) = result {
        eprintln!("\nbench failed: {e}");
        std::process::exit(1);
    }
}

fn run(root: &Path, log: &Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // The cluster and the CRDs.
    let started = Instant::now();
    let cluster = TestCluster::start();
    cluster.install_crds();
    println!(
        "\ncluster up, CRDs established: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // One embedded workspace, seeded with 1,000 synthetic resources, behind a token.
    let store = Store::open(&root.join("ws.db"))?;
    let seed: Vec<_> = synthetic::workspace(RESOURCES, 42)
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    let counts = embedded::seed(&store, &seed)?;
    let workspace = rt.block_on(embedded::start(
        ([127, 0, 0, 1], 0).into(),
        store,
        ServerConfig {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    ))?;
    let ws_url = workspace.url();
    println!(
        "workspace: {} resources in {} types at {ws_url}",
        seed.len(),
        counts.len()
    );

    // 100 bare repositories.
    let repos = root.join("repos");
    std::fs::create_dir_all(&repos)?;
    let mut remotes = Vec::new();
    for i in 0..GITSYNCS {
        let (path, _) = common::repository::bare_remote(&repos, &format!("{}.git", name(i)));
        remotes.push(path);
    }
    apply(
        &cluster,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: workspace-token, namespace: default}}\n\
         stringData:\n  token: {TOKEN}\n"
        ),
    )?;

    // 1. Idle.
    let operator = Operator::start(cluster.kubeconfig(), &root.join("state"), log)?;
    let led = Instant::now();
    operator.wait_for_lease(&rt, Duration::from_secs(60))?;
    println!(
        "operator pid {} holds the Lease after {:.1} s",
        operator.pid(),
        led.elapsed().as_secs_f64()
    );
    std::thread::sleep(IDLE_WAIT);
    operator.alive()?;
    let idle = operator.memory()?;
    let idle_cpu = operator.cpu()?;

    // 2. 100 GitSyncs, full syncs.
    let cpu_before = operator.cpu()?;
    let applied = Instant::now();
    apply(&cluster, &gitsyncs_yaml(&ws_url, &remotes, SLOW_INTERVAL))?;
    let mut rss_max_sampled = 0;
    let mut last_report = Instant::now();
    let full_time = loop {
        let (ready, problems) = readiness(&cluster)?;
        rss_max_sampled = rss_max_sampled.max(operator.memory()?.rss_kib);
        if ready == GITSYNCS {
            break applied.elapsed();
        }
        operator.alive()?;
        if applied.elapsed() > FULL_SYNC_TIMEOUT {
            return Err(format!(
                "only {ready} of {GITSYNCS} GitSyncs Ready after {FULL_SYNC_TIMEOUT:?}; the \
                 others:\n{}",
                problems.join("\n")
            )
            .into());
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  {:>3.0} s: {ready} of {GITSYNCS} Ready",
                applied.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let full_cpu = operator.cpu()? - cpu_before;
    let after_full = operator.memory()?;
    let metrics = operator.metrics(&rt)?;
    let full_syncs = metric_sum(&metrics, "gitsync_syncs_total", &[r#"kind="full""#]);
    let full_duration_sum = metric_sum(
        &metrics,
        "gitsync_sync_duration_seconds_sum",
        &[r#"kind="full""#],
    );
    let full_requests = metric_sum(&metrics, "gitsync_workspace_requests_total", &[]);
    std::thread::sleep(SETTLE);
    let steady = operator.memory()?;

    // 3. Quiet polls at a 5 s interval.
    apply(&cluster, &gitsyncs_yaml(&ws_url, &remotes, FAST_INTERVAL))?;
    std::thread::sleep(SETTLE);
    let before = Sample::take(&operator, &rt)?;
    let window_started = Instant::now();
    std::thread::sleep(QUIET_WINDOW);
    let after = Sample::take(&operator, &rt)?;
    let quiet_wall = window_started.elapsed();
    let quiet = after.since(&before);
    if quiet.commits != 0.0 {
        return Err(format!("{} commits in the quiet window", quiet.commits).into());
    }
    let after_quiet = operator.memory()?;

    // 4. Changes: CHANGES sources renamed, CHANGE_SPACING apart.
    let client = Client::new(ClientConfig::new(ws_url.clone(), TOKEN, "bench"))?;
    let sources = rt.block_on(client.list(ResourceType::Source))?;
    if sources.len() < CHANGES {
        return Err(format!("only {} sources", sources.len()).into());
    }
    let before = Sample::take(&operator, &rt)?;
    let window_started = Instant::now();
    let mut subjects = Vec::new();
    for (i, source) in sources.iter().take(CHANGES).enumerate() {
        if i > 0 {
            std::thread::sleep(CHANGE_SPACING);
        }
        let mut s = source.clone();
        s.attributes
            .insert("name".into(), Value::String(format!("Bench change {i}")));
        rt.block_on(client.update(&s))?;
        subjects.push(format!(
            "Source '{}' modified by Public API token 'gitsync'",
            s.id.clone().unwrap_or_default()
        ));
    }
    let wanted = before.commits + (GITSYNCS * CHANGES) as f64;
    let deadline = Instant::now() + COMMITS_TIMEOUT;
    let after = loop {
        let sample = Sample::take(&operator, &rt)?;
        if sample.commits >= wanted {
            break sample;
        }
        operator.alive()?;
        if Instant::now() > deadline {
            return Err(format!(
                "{} of {} commits pushed {COMMITS_TIMEOUT:?} after the last change",
                sample.commits - before.commits,
                GITSYNCS * CHANGES
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let busy_wall = window_started.elapsed();
    let busy = after.since(&before);
    let after_changes = operator.memory()?;
    // Every repository has every change, once, in order.
    let mut expected: Vec<String> = subjects.clone();
    expected.reverse();
    for remote in &remotes {
        let log = git(
            remote,
            &["log", "--format=%s", &format!("-{CHANGES}"), "main"],
        )?;
        let got: Vec<String> = log.lines().map(str::to_owned).collect();
        if got != expected {
            return Err(format!("{}: {got:?}, expected {expected:?}", remote.display()).into());
        }
    }
    let (ready, problems) = readiness(&cluster)?;
    if ready != GITSYNCS {
        return Err(format!("not Ready at the end:\n{}", problems.join("\n")).into());
    }

    // 5. All GitSyncs deleted: what the operator still holds, and whether anything still runs.
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("gitsync_last_successful_sync_timestamp_seconds{"))
            .count()
    };
    cluster.kubectl_ok(&["delete", "gitsyncs", "--all", "-n", "default"]);
    let before = Sample::take(&operator, &rt)?;
    std::thread::sleep(SETTLE);
    let after = Sample::take(&operator, &rt)?;
    let deleted = after.since(&before);
    let after_delete = operator.memory()?;
    let series_after_delete = series(&operator.metrics(&rt)?);

    // The figures.
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\n== memory (operator process, /proc/PID/status) ==");
    println!("| state | VmRSS | of which anon / file | VmHWM (peak so far) | threads |");
    println!("|---|---|---|---|---|");
    let row = |what: &str, m: &Memory| {
        println!(
            "| {what} | {:.1} MiB | {:.1} / {:.1} MiB | {:.1} MiB | {} |",
            mib(m.rss_kib),
            mib(m.anon_kib),
            mib(m.file_kib),
            mib(m.hwm_kib),
            m.threads
        );
    };
    row(
        "idle: Lease held, CRDs installed, no GitSync, after 5 s",
        &idle,
    );
    row(
        "100 GitSyncs just after all full syncs (1,000 resources each)",
        &after_full,
    );
    row("  the same 10 s later (steady, interval 30s)", &steady);
    row("  after 60 s of quiet polls at 5s", &after_quiet);
    row(
        &format!("  after {} incremental commits", GITSYNCS * CHANGES),
        &after_changes,
    );
    row(
        "  10 s after `kubectl delete gitsyncs --all`",
        &after_delete,
    );
    println!(
        "(largest VmRSS sampled once a second during the full syncs: {:.1} MiB)",
        mib(rss_max_sampled)
    );
    println!(
        "after the delete: {} syncs and {:.2} s CPU in the 10 s, {series_after_delete} GitSyncs \
         still with a gitsync_last_successful_sync_timestamp_seconds series",
        deleted.polls + deleted.failures,
        deleted.cpu.own
    );

    println!("\n== full syncs ==");
    println!(
        "100 GitSyncs Ready (full sync of {RESOURCES} resources each, verify commit + sync \
         commit pushed): {:.1} s after kubectl apply",
        full_time.as_secs_f64()
    );
    println!(
        "operator CPU over it: {:.1} s own, {:.1} s with git children; per full sync {:.2} s own, \
         {:.2} s with git; full syncs counted {full_syncs}, mean duration {:.1} s (concurrent), \
         workspace requests {full_requests} ({:.0} per GitSync)",
        full_cpu.own,
        full_cpu.total,
        full_cpu.own / GITSYNCS as f64,
        full_cpu.total / GITSYNCS as f64,
        full_duration_sum / full_syncs.max(1.0),
        full_requests / GITSYNCS as f64
    );
    println!(
        "idle operator CPU before the GitSyncs: {:.2} s own since start",
        idle_cpu.own
    );

    println!("\n== quiet polls (interval 5s, nothing changes) ==");
    let expected_polls = GITSYNCS as f64 * quiet_wall.as_secs_f64() / FAST_INTERVAL_SECS;
    let per_quiet_own = quiet.cpu.own / quiet.polls.max(1.0);
    let per_quiet_total = quiet.cpu.total / quiet.polls.max(1.0);
    println!(
        "window {:.1} s: {} polls (at exactly 5 s: {expected_polls:.0}), {} workspace requests \
         ({:.2} per poll), {} failed polls",
        quiet_wall.as_secs_f64(),
        quiet.polls,
        quiet.requests,
        quiet.requests / quiet.polls.max(1.0),
        quiet.failures
    );
    println!(
        "operator CPU {:.2} s own ({:.1}% of one core), {:.2} s with git; per quiet poll {:.2} ms \
         own, {:.2} ms with git",
        quiet.cpu.own,
        100.0 * quiet.cpu.own / quiet_wall.as_secs_f64(),
        quiet.cpu.total,
        per_quiet_own * 1000.0,
        per_quiet_total * 1000.0
    );

    println!("\n== incremental syncs with a commit ==");
    let quiet_polls_in_window = (busy.polls - busy.commits).max(0.0);
    let net_own = (busy.cpu.own - quiet_polls_in_window * per_quiet_own) / busy.commits;
    let net_total = (busy.cpu.total - quiet_polls_in_window * per_quiet_total) / busy.commits;
    println!(
        "{CHANGES} changes {:.0} s apart, window {:.1} s until all {} commits were pushed: {} polls \
         ({} with a commit, {} without), {} workspace requests, {} failed polls",
        CHANGE_SPACING.as_secs_f64(),
        busy_wall.as_secs_f64(),
        GITSYNCS * CHANGES,
        busy.polls,
        busy.commits,
        quiet_polls_in_window,
        busy.requests,
        busy.failures
    );
    println!(
        "operator CPU {:.2} s own, {:.2} s with git; per incremental sync with a commit: raw \
         {:.1} ms own / {:.1} ms with git, net of the quiet polls {:.1} ms own / {:.1} ms with git",
        busy.cpu.own,
        busy.cpu.total,
        busy.cpu.own / busy.commits * 1000.0,
        busy.cpu.total / busy.commits * 1000.0,
        net_own * 1000.0,
        net_total * 1000.0
    );
    println!(
        "mean incremental sync duration in the window: {:.1} ms",
        busy.duration_sum / busy.polls.max(1.0) * 1000.0
    );

    drop(operator);
    rt.block_on(workspace.stop());
    drop(cluster);
    Ok(())
}

fn name(i: usize) -> String {
    format!("gs-{i:03}")
}

fn gitsyncs_yaml(ws_url: &str, remotes: &[PathBuf], interval: &str) -> String {
    remotes
        .iter()
        .enumerate()
        .map(|(i, remote)| {
            format!(
                "---\napiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {{name: {}, \
                 namespace: default}}\nspec:\n  workspace:\n    endpoint: {ws_url}\n    \
                 tokenSecretRef: {{name: workspace-token, key: token}}\n  repository:\n    url: \
                 file://{}\n  interval: {interval}\n",
                name(i),
                remote.display()
            )
        })
        .collect()
}

/// The operator's CPU and counters at one moment.
struct Sample {
    cpu: Cpu,
    polls: f64,
    failures: f64,
    commits: f64,
    requests: f64,
    duration_sum: f64,
}

impl Sample {
    fn take(operator: &Operator, rt: &tokio::runtime::Runtime) -> Result<Sample> {
        let cpu = operator.cpu()?;
        let text = operator.metrics(rt)?;
        Ok(Sample {
            cpu,
            polls: metric_sum(
                &text,
                "gitsync_syncs_total",
                &[r#"kind="incremental""#, r#"result="success""#],
            ),
            failures: metric_sum(&text, "gitsync_syncs_total", &[r#"result="failure""#]),
            commits: metric_sum(&text, "gitsync_commits_pushed_total", &[]),
            requests: metric_sum(&text, "gitsync_workspace_requests_total", &[]),
            duration_sum: metric_sum(
                &text,
                "gitsync_sync_duration_seconds_sum",
                &[r#"kind="incremental""#],
            ),
        })
    }

    fn since(&self, before: &Sample) -> Sample {
        Sample {
            cpu: self.cpu - before.cpu,
            polls: self.polls - before.polls,
            failures: self.failures - before.failures,
            commits: self.commits - before.commits,
            requests: self.requests - before.requests,
            duration_sum: self.duration_sum - before.duration_sum,
        }
    }
}
