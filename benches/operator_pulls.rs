//! The operator's memory with 100 GitSyncs, each with 5 open pull requests (issue 16), as a
//! process on a real kube-apiserver (etcd + kube-apiserver from `scripts/test-cluster`),
//! measured from outside through `/proc`, as `benches/operator.rs` measures the forward sync.
//!
//! One local GitHub ([`gitsync::forge::local::LocalForge`], served by this process on
//! loopback) holds 100 repositories, reached over its Git smart HTTP and its API at
//! `apiBaseURL` through one GitConnection (provider github, a token in its Secret). One
//! embedded workspace of 1,000 synthetic resources (this process) is read by all 100 GitSyncs.
//!
//! 1. Setup: an operator makes the 100 full syncs (not measured here: `benches/operator.rs`
//!    does), and is stopped. Each repository then gets 5 pull requests into `main`, each of 10
//!    changed files (5 sources renamed, 5 labels added).
//! 2. Baseline: a new operator process on the same 100 GitSyncs without
//!    `spec.bidirectional`: once each has been reconciled (its sync counted), and 10 s more,
//!    VmRSS.
//! 3. The same GitSyncs with `spec.bidirectional.enabled` (the operator stopped while they are
//!    re-applied), a new operator process: the time until the forge holds all 500 plan
//!    comments, the operator's CPU over it, VmRSS then and 10 s later; every pull request's
//!    record in `status.pullRequests` is checked.
//!
//! Both measured processes start on the same state (the caches written by the setup's
//! operator), so the only difference is the 500 plans.
//!
//! Run: `cargo bench --bench operator_pulls` (needs `scripts/install-test-tools.sh`:
//! kube-apiserver, etcd, kubectl, git). About 3 minutes on 2 cores.

#[allow(dead_code)]
#[path = "../tests/util/cluster.rs"]
mod cluster;
mod common;
#[allow(dead_code)]
#[path = "common/operator_process.rs"]
mod operator_process;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::TestCluster;
use gitsync::forge::local::{LocalForge, LocalForgeConfig, NewPull, Role};
use gitsync::model::{Value, synthetic};
use gitsync::pulls::comment::PLAN_MARK;
use gitsync::workspace::embedded::{self, ServerConfig, Store};

use operator_process::{
    Memory, Operator, Result, apply, git, load_average, machine, metric_sum, readiness,
};

const GITSYNCS: usize = 100;
const PULLS_EACH: usize = 5;
const FILES_EACH: usize = 10;
const RESOURCES: usize = 1_000;
const TOKEN: &str = "bench-token";
const FORGE_TOKEN: &str = "ghp_benchOperatorPulls";
const BOT: &str = "gitsync-bot";
const INTERVAL: &str = "30s";
const FULL_SYNC_TIMEOUT: Duration = Duration::from_secs(360);
const PLAN_TIMEOUT: Duration = Duration::from_secs(400);
const SETTLE: Duration = Duration::from_secs(10);
/// Longer than the interval: every GitSync reconciles once more.
const QUIET_WINDOW: Duration = Duration::from_secs(35);

fn main() {
    println!("{}", machine());
    println!("load average at start: {}", load_average());
    let root = match tempfile::Builder::new()
        .prefix("gitsync-bench-operator-pulls.")
        .tempdir()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tempdir: {e}");
            std::process::exit(1);
        }
    };
    let result = run(root.path());
    for log in ["setup", "baseline", "bidirectional"] {
        let text = std::fs::read_to_string(root.path().join(format!("state/{log}.log")))
            .unwrap_or_default();
        let mut groups: Vec<(String, usize)> = Vec::new();
        for line in text.lines() {
            let message = line
                .split_once(' ')
                .map_or(line, |(_, m)| m)
                .trim()
                .to_owned();
            match groups.iter_mut().find(|g| g.0 == message) {
                Some(g) => g.1 += 1,
                None => groups.push((message, 1)),
            }
        }
        println!(
            "\n{log} operator log (--log-level warn): {} line(s), {} distinct",
            text.lines().count(),
            groups.len()
        );
        for (message, count) in groups.iter().take(15) {
            println!("  {count:>5} x {message}");
        }
    }
    println!("load average at end: {}", load_average());
    if let Err(e) = result {
        eprintln!("\nbench failed: {e}");
        std::process::exit(1);
    }
}

fn name(i: usize) -> String {
    format!("gs-{i:03}")
}

fn run(root: &Path) -> Result<()> {
    let rt = common::runtime();
    let started = Instant::now();
    let cluster = TestCluster::start();
    cluster.install_crds();
    println!(
        "\ncluster up, CRDs established: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The workspace.
    let store = Store::open(&root.join("ws.db"))?;
    let seed: Vec<_> = synthetic::workspace(RESOURCES, 42)
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    embedded::seed(&store, &seed)?;
    let workspace = rt.block_on(embedded::start(
        ([127, 0, 0, 1], 0).into(),
        store,
        ServerConfig {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    ))?;
    let ws_url = workspace.url();

    // The forge and its 100 repositories.
    let forge = LocalForge::new(LocalForgeConfig::default());
    let running = rt.block_on(forge.serve(([127, 0, 0, 1], 0).into()))?;
    forge.add_user("acme", 1, Role::Admin);
    forge.add_user("alice", 11, Role::Write);
    forge.add_user(BOT, 12, Role::Write);
    forge.add_token(FORGE_TOKEN, BOT)?;
    let repos = root.join("repos");
    std::fs::create_dir_all(&repos)?;
    let mut bares = Vec::new();
    for i in 0..GITSYNCS {
        let (path, _) = common::repository::bare_remote(&repos, &format!("{}.git", name(i)));
        forge.add_repository("acme", &name(i), &path, "main")?;
        bares.push(path);
    }
    let git_url = |i: usize| format!("http://{}/acme/{}.git", running.addr, name(i));
    println!(
        "workspace: {RESOURCES} resources at {ws_url}; forge: {GITSYNCS} repositories at {}",
        running.api_url()
    );
    apply(
        &cluster,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: workspace-token, namespace: default}}\n\
             stringData:\n  token: {TOKEN}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: \
             forge-creds, namespace: default}}\nstringData:\n  username: x-access-token\n  \
             password: {FORGE_TOKEN}\n---\napiVersion: gitsync.dev/v1alpha1\nkind: GitConnection\n\
             metadata: {{name: forge, namespace: default}}\nspec:\n  provider: github\n  \
             apiBaseURL: {}\n  secretRef: {{name: forge-creds}}\n",
            running.api_url()
        ),
    )?;
    let yaml = |bidirectional: bool| -> String {
        (0..GITSYNCS)
            .map(|i| {
                format!(
                    "---\napiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {{name: {}, \
                     namespace: default}}\nspec:\n  workspace:\n    endpoint: {ws_url}\n    \
                     tokenSecretRef: {{name: workspace-token, key: token}}\n  connectionRef: \
                     {{name: forge}}\n  repository:\n    url: {}\n  interval: {INTERVAL}\n  \
                     bidirectional:\n    enabled: {bidirectional}\n",
                    name(i),
                    git_url(i)
                )
            })
            .collect()
    };

    // 1. Setup: the full syncs.
    let state = root.join("state");
    {
        let operator = Operator::start(cluster.kubeconfig(), &state, &state.join("setup.log"))?;
        operator.wait_for_lease(&rt, Duration::from_secs(60))?;
        let applied = Instant::now();
        apply(&cluster, &yaml(false))?;
        loop {
            let (ready, problems) = readiness(&cluster)?;
            if ready == GITSYNCS {
                break;
            }
            operator.alive()?;
            if applied.elapsed() > FULL_SYNC_TIMEOUT {
                return Err(format!(
                    "only {ready} of {GITSYNCS} Ready after {FULL_SYNC_TIMEOUT:?}:\n{}",
                    problems
                        .iter()
                        .take(10)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                )
                .into());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        println!(
            "setup: {GITSYNCS} full syncs over Git smart HTTP, all Ready in {:.1} s",
            applied.elapsed().as_secs_f64()
        );
    }

    // The pull requests: 5 per repository, 10 files each.
    let made = Instant::now();
    let sources: Vec<(String, String)> = gitsync::sync::tree::read_rev_files(&bares[0], "main")?
        .into_iter()
        .filter(|(p, _)| p.starts_with("sources/"))
        .take(PULLS_EACH * FILES_EACH / 2)
        .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
        .collect();
    if sources.len() < PULLS_EACH * FILES_EACH / 2 {
        return Err("too few sources".into());
    }
    for (i, bare) in bares.iter().enumerate() {
        let main = git(bare, &["rev-parse", "refs/heads/main"])?;
        for p in 0..PULLS_EACH {
            let branch = format!("change-{p}");
            let mut files = Vec::new();
            for (path, text) in sources.iter().skip(p * FILES_EACH / 2).take(FILES_EACH / 2) {
                let mut r = gitsync::hcl::parse(text, path)?;
                r.attributes.insert(
                    "name".into(),
                    Value::String(format!("renamed in {} #{p}", name(i))),
                );
                files.push((path.clone(), gitsync::hcl::render(&r)?));
            }
            for l in 0..FILES_EACH / 2 {
                files.push((
                    format!("labels/pr-{p}-{l}.tf"),
                    format!(
                        "resource \"segment_label\" \"pr_{p}_{l}\" {{\n  key   = \"pr{p}\"\n  value = \"l{l}\"\n}}\n"
                    ),
                ));
            }
            fast_import(bare, &branch, &main, &files)?;
            forge.open_pull(
                &format!("acme/{}", name(i)),
                NewPull {
                    author: "alice".into(),
                    head: branch,
                    base: "main".into(),
                    title: format!("change {p}"),
                    body: None,
                    draft: false,
                },
            )?;
        }
    }
    println!(
        "{} pull requests opened in {:.1} s",
        GITSYNCS * PULLS_EACH,
        made.elapsed().as_secs_f64()
    );

    // 2. Baseline: the same GitSyncs, one way.
    let baseline = {
        let operator = Operator::start(cluster.kubeconfig(), &state, &state.join("baseline.log"))?;
        operator.wait_for_lease(&rt, Duration::from_secs(60))?;
        let cpu0 = operator.cpu()?;
        let t = Instant::now();
        wait_for(
            &operator,
            &rt,
            "every GitSync reconciled",
            FULL_SYNC_TIMEOUT,
            |m| metric_sum(m, "gitsync_syncs_total", &[]) >= GITSYNCS as f64,
        )?;
        let reconciled = t.elapsed();
        let at_once = operator.memory()?;
        std::thread::sleep(SETTLE);
        let settled = operator.memory()?;
        let cpu = operator.cpu()? - cpu0;
        println!(
            "baseline: all {GITSYNCS} reconciled in {:.1} s, CPU {:.2} s own",
            reconciled.as_secs_f64(),
            cpu.own
        );
        (at_once, settled)
    };
    let comments_before = plan_comments(&forge)?;
    if comments_before != 0 {
        return Err(format!("{comments_before} plan comments before bidirectional").into());
    }

    // 3. Bidirectional.
    apply(&cluster, &yaml(true))?;
    let (planned_mem, settled_mem, plan_time, cpu, metrics, rss_max) = {
        let operator = Operator::start(
            cluster.kubeconfig(),
            &state,
            &state.join("bidirectional.log"),
        )?;
        operator.wait_for_lease(&rt, Duration::from_secs(60))?;
        let cpu0 = operator.cpu()?;
        let t = Instant::now();
        let mut rss_max = 0;
        let mut last = Instant::now();
        let wanted = GITSYNCS * PULLS_EACH;
        loop {
            let n = plan_comments(&forge)?;
            rss_max = rss_max.max(operator.memory()?.rss_kib);
            if n >= wanted {
                break;
            }
            operator.alive()?;
            if t.elapsed() > PLAN_TIMEOUT {
                return Err(format!("{n} of {wanted} plan comments after {PLAN_TIMEOUT:?}").into());
            }
            if last.elapsed() > Duration::from_secs(15) {
                eprintln!(
                    "  {:>3.0} s: {n} of {wanted} planned",
                    t.elapsed().as_secs_f64()
                );
                last = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let plan_time = t.elapsed();
        let cpu = operator.cpu()? - cpu0;
        let planned_mem = operator.memory()?;
        std::thread::sleep(SETTLE);
        let settled_mem = operator.memory()?;
        let metrics = operator.metrics(&rt)?;
        // One more interval: every GitSync looks at its 5 pull requests again, nothing new.
        let cpu1 = operator.cpu()?;
        std::thread::sleep(QUIET_WINDOW);
        let quiet_cpu = operator.cpu()? - cpu1;
        let quiet_mem = operator.memory()?;
        let after = operator.metrics(&rt)?;
        let replanned = metric_sum(&after, "gitsync_plans_total", &[])
            - metric_sum(&metrics, "gitsync_plans_total", &[]);
        let passes = metric_sum(&after, "gitsync_syncs_total", &[])
            - metric_sum(&metrics, "gitsync_syncs_total", &[]);
        println!(
            "a further {:.0} s with nothing new: {passes} reconciles, {replanned} plans made again, CPU {:.2} s own, {:.2} s with git ({:.1} ms with git per reconcile of a GitSync with 5 pull requests); VmRSS {:.1} MiB",
            QUIET_WINDOW.as_secs_f64(),
            quiet_cpu.own,
            quiet_cpu.total,
            quiet_cpu.total * 1000.0 / passes.max(1.0),
            quiet_mem.rss_kib as f64 / 1024.0
        );
        (planned_mem, settled_mem, plan_time, cpu, metrics, rss_max)
    };
    // Every pull request's record says planned.
    let list: serde_json::Value = serde_json::from_str(
        &cluster.kubectl_ok(&["get", "gitsyncs", "-n", "default", "-o", "json"]),
    )?;
    let mut records = 0;
    let mut planned = 0;
    for item in list["items"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        for r in item["status"]["pullRequests"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            records += 1;
            if r["state"] == "planned" {
                planned += 1;
            }
        }
    }

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\n== operator memory, {GITSYNCS} GitSyncs x {PULLS_EACH} open pull requests ==");
    println!("| state | VmRSS | of which anon / file | VmHWM | threads |");
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
    row("baseline: one way, every GitSync reconciled", &baseline.0);
    row("baseline: 10 s later", &baseline.1);
    row("bidirectional: all 500 planned", &planned_mem);
    row("bidirectional: 10 s later", &settled_mem);
    println!(
        "(largest VmRSS sampled during the plans: {:.1} MiB)",
        mib(rss_max)
    );
    let extra = settled_mem.rss_kib as f64 - baseline.1.rss_kib as f64;
    println!(
        "bidirectional over the baseline (10 s after): {:+.1} MiB in all, {:+.0} KiB per GitSync, {:+.0} KiB per open pull request",
        extra / 1024.0,
        extra / GITSYNCS as f64,
        extra / (GITSYNCS * PULLS_EACH) as f64
    );
    println!(
        "all {} plan comments posted {:.1} s after the operator started; CPU {:.1} s own, {:.1} s with git ({:.0} ms own per plan, with the GitSyncs' syncs)",
        GITSYNCS * PULLS_EACH,
        plan_time.as_secs_f64(),
        cpu.own,
        cpu.total,
        cpu.own * 1000.0 / (GITSYNCS * PULLS_EACH) as f64
    );
    println!(
        "status.pullRequests: {records} records, {planned} planned; gitsync_plans_total {} (planned {}), mean plan duration {:.0} ms",
        metric_sum(&metrics, "gitsync_plans_total", &[]),
        metric_sum(&metrics, "gitsync_plans_total", &[r#"result="planned""#]),
        1000.0 * metric_sum(&metrics, "gitsync_plan_duration_seconds_sum", &[])
            / metric_sum(&metrics, "gitsync_plan_duration_seconds_count", &[]).max(1.0)
    );
    if planned != GITSYNCS * PULLS_EACH {
        return Err(format!("{planned} of {} records planned", GITSYNCS * PULLS_EACH).into());
    }
    drop(running);
    rt.block_on(workspace.stop());
    drop(cluster);
    Ok(())
}

/// The plan comments gitsync's user wrote, across the forge.
fn plan_comments(forge: &LocalForge) -> Result<usize> {
    let mut n = 0;
    for i in 0..GITSYNCS {
        for p in 1..=PULLS_EACH as u64 {
            n += forge
                .comments(&format!("acme/{}", name(i)), p)?
                .iter()
                .filter(|c| c.author == BOT && c.body.starts_with(PLAN_MARK))
                .count();
        }
    }
    Ok(n)
}

/// One commit of `files` on `branch`, on top of `parent`.
fn fast_import(bare: &Path, branch: &str, parent: &str, files: &[(String, String)]) -> Result<()> {
    let mut input = Vec::new();
    let data = |out: &mut Vec<u8>, bytes: &[u8]| {
        let _ = writeln!(out, "data {}", bytes.len());
        out.extend_from_slice(bytes);
        out.push(b'\n');
    };
    let _ = writeln!(input, "commit refs/heads/{branch}");
    let _ = writeln!(
        input,
        "committer Alice <alice@example.com> 1765000000 +0000"
    );
    data(&mut input, format!("change on {branch}").as_bytes());
    let _ = writeln!(input, "from {parent}");
    for (path, text) in files {
        let _ = writeln!(input, "M 100644 inline {path}");
        data(&mut input, text.as_bytes());
    }
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args([
            "-c",
            "fastimport.unpackLimit=100000",
            "fast-import",
            "--force",
            "--quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&input)?;
    }
    if !child.wait()?.success() {
        return Err(format!("git fast-import in {}", bare.display()).into());
    }
    Ok(())
}

fn wait_for(
    operator: &Operator,
    rt: &tokio::runtime::Runtime,
    what: &str,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        operator.alive()?;
        if let Ok(text) = operator.metrics(rt)
            && done(&text)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not {what} after {timeout:?}").into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
