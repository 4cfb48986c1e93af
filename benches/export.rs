//! Export of a 10,000-resource workspace end to end: the client lists every resource type from the
//! embedded workspace over HTTP on loopback, maps the API objects to the model, renders the Git
//! Sync files and writes them into an empty directory.
//!
//! Baselines, measured in the same run: fetching the same pages as raw JSON with the same client
//! (the HTTP and server floor: no mapping, rendering or writing), and writing the same files with
//! plain `std::fs::write` (the filesystem floor).
//!
//! Run: `cargo bench --bench export`.

mod common;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gitsync::model::ResourceType;
use gitsync::sync::export::{Quiet, render_workspace, write_tree};
use gitsync::workspace::{Client, ClientConfig};

fn bench(c: &mut Criterion) {
    eprintln!("{}", common::machine());
    let rt = common::runtime();
    let (_db, running) = common::seeded_workspace(&rt, 10_000);
    let mut config = ClientConfig::new(running.url(), "bench", "bench");
    config.page_size = 1000;
    let client = Client::new(config).unwrap_or_else(|e| panic!("{e}"));
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();

    let mut group = c.benchmark_group("export_10000_resources");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("gitsync_export_end_to_end", |b| {
        b.iter(|| {
            let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let (tree, _) = rt
                .block_on(render_workspace(&client, &types, &mut Quiet))
                .unwrap_or_else(|e| panic!("{e}"));
            write_tree(out.path(), &types, &tree).unwrap_or_else(|e| panic!("{e}"));
            tree.len()
        })
    });
    group.bench_function("baseline_fetch_raw_pages", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut n = 0;
                for ty in &types {
                    // Same requests as the export: parents for nested types, every function kind.
                    let objects = client
                        .list_full(*ty)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    n += objects.len();
                }
                n
            })
        })
    });
    let (tree, _) = rt
        .block_on(render_workspace(&client, &types, &mut Quiet))
        .unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("baseline_std_fs_write_same_files", |b| {
        b.iter(|| {
            let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            for (path, text) in &tree {
                let p = out.path().join(path);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
                }
                std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
            }
            tree.len()
        })
    });
    group.finish();
    rt.block_on(running.stop());
}

criterion_group!(benches, bench);
criterion_main!(benches);
