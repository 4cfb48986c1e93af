//! Git -> workspace against a 10,000-resource embedded workspace over HTTP on loopback:
//!
//! - `plan_100_changed_files`: the plan of a change of 100 files (with the base, so only those are
//!   parsed and read), including the fingerprint of the whole 10,000-file tree;
//! - `apply_100_updates`: applying a plan of 100 in-place updates, journal and rewritten files
//!   included.
//!
//! Baselines, measured in the same run with the same client: the raw JSON reads of the same 100
//! resources (`GET` each, no parsing, no mapping: the floor of the plan's workspace reads), and
//! the raw JSON writes of the same 100 changes (`PATCH` each). The number of requests of each is
//! counted and printed, so that "proportional to the change, not to the workspace" is a figure.
//!
//! Run: `cargo bench --bench plan`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gitsync::model::{Resource, ResourceType, Value};
use gitsync::sync::apply::{self, ApplyOptions, DirSink, FileJournal, Journal, Quiet};
use gitsync::sync::export::{self, render_workspace, write_tree};
use gitsync::sync::plan::{self, PlanInput};
use gitsync::sync::secrets::NoSecrets;
use gitsync::workspace::api::{self, Media};
use gitsync::workspace::client::RequestObserver;
use gitsync::workspace::{Client, ClientConfig};

/// Counts the requests a client sends.
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

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    gitsync::sync::tree::read_dir_files(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// Renames the first 100 sources of the tree in `dir` (suffix `n`), returning their files.
fn edit_sources(dir: &Path, suffix: &str) -> Vec<Resource> {
    let mut edited = Vec::new();
    for (path, bytes) in files(dir) {
        if edited.len() == 100 || !path.starts_with("sources/") {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap_or_default();
        let mut r = gitsync::hcl::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        r.attributes
            .insert("name".into(), Value::String(format!("bench {suffix}")));
        let out = gitsync::hcl::render(&r).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(&path), out).unwrap_or_else(|e| panic!("{e}"));
        edited.push(r);
    }
    assert_eq!(
        edited.len(),
        100,
        "the synthetic workspace has fewer than 100 sources"
    );
    edited
}

fn bench(c: &mut Criterion) {
    eprintln!("{}", common::machine());
    let rt = common::runtime();
    let (_db, running) = common::seeded_workspace(&rt, 10_000);
    let counter = Arc::new(Counter::default());
    let mut config = ClientConfig::new(running.url(), "bench", "bench");
    config.page_size = 1000;
    config.observer = Some(counter.clone());
    let client = Client::new(config).unwrap_or_else(|e| panic!("{e}"));

    // The tree as Git holds it, then the change under review.
    let tree_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (tree, _) = rt
        .block_on(render_workspace(&client, &types, &mut export::Quiet))
        .unwrap_or_else(|e| panic!("{e}"));
    write_tree(tree_dir.path(), &types, &tree).unwrap_or_else(|e| panic!("{e}"));
    let base = files(tree_dir.path());
    let edited = edit_sources(tree_dir.path(), "a");
    let head = files(tree_dir.path());
    counter.take();

    let make_plan = |base: &[(String, Vec<u8>)], head: &[(String, Vec<u8>)]| {
        rt.block_on(plan::plan(
            &client,
            PlanInput {
                base: Some(base),
                base_name: None,
                head,
                secrets: &NoSecrets,
                send_secrets: Default::default(),
            },
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let made = make_plan(&base, &head);
    assert_eq!(made.counts(), (0, 100, 0));
    let plan_requests = counter.take();
    let ids: Vec<String> = edited
        .iter()
        .map(|r| r.id.clone().unwrap_or_default())
        .collect();
    let endpoint = api::endpoint(ResourceType::Source).unwrap_or_else(|| panic!("no endpoint"));
    let raw_get = || {
        rt.block_on(async {
            for id in &ids {
                client
                    .call(
                        reqwest::Method::GET,
                        &endpoint.item_path(None, id),
                        &[],
                        None,
                        Media::V1,
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        })
    };
    raw_get();
    let raw_get_requests = counter.take();

    let mut group = c.benchmark_group("plan_apply_10000_resources");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("gitsync_plan_100_changed_files", |b| {
        b.iter(|| make_plan(&base, &head).changes.len())
    });
    group.bench_function("baseline_raw_json_get_same_100", |b| b.iter(raw_get));

    // Apply: each iteration applies a fresh 100-update plan (renaming the sources again), from
    // the tree that matches the workspace.
    for (path, bytes) in &base {
        std::fs::write(tree_dir.path().join(path), bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut round = 0u32;
    let mut apply_requests = 0;
    let mut applied_steps = 0;
    group.bench_function("gitsync_apply_100_updates", |b| {
        b.iter_batched(
            || {
                round += 1;
                let before = files(tree_dir.path());
                edit_sources(tree_dir.path(), &format!("r{round}"));
                let after = files(tree_dir.path());
                let mut made = make_plan(&before, &after);
                made.dir = Some(tree_dir.path().display().to_string());
                let journal = tree_dir.path().join(format!(".bench-{round}.journal"));
                counter.take();
                (made, journal)
            },
            |(made, journal_path)| {
                let report = rt
                    .block_on(async {
                        let mut journal = Journal::open(
                            FileJournal::new(&journal_path),
                            &made.fingerprint(),
                            "the benchmark",
                        )
                        .await?;
                        apply::apply(
                            &client,
                            &made,
                            &mut journal,
                            &mut DirSink::new(tree_dir.path()),
                            &ApplyOptions::new(&NoSecrets),
                            &mut Quiet,
                        )
                        .await
                    })
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(report.succeeded(), "{:?}", report.failed);
                applied_steps += report.applied.len();
                apply_requests += counter.take();
                let _ = std::fs::remove_file(journal_path);
            },
            BatchSize::PerIteration,
        )
    });
    let patch_ids = ids.clone();
    let raw_patch = || {
        rt.block_on(async {
            for id in &patch_ids {
                client
                    .call(
                        reqwest::Method::PATCH,
                        &endpoint.item_path(None, id),
                        &[],
                        Some(&serde_json::json!({"name": "bench raw"})),
                        Media::V1,
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        })
    };
    counter.take();
    raw_patch();
    let raw_patch_requests = counter.take();
    group.bench_function("baseline_raw_json_patch_same_100", |b| b.iter(raw_patch));
    group.finish();
    eprintln!(
        "requests: plan of 100 changed files {plan_requests} (raw GETs {raw_get_requests}); apply {:.2} per change (raw PATCH {:.2})",
        apply_requests as f64 / applied_steps.max(1) as f64,
        raw_patch_requests as f64 / 100.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
