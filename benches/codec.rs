//! Codec throughput: parse + render of every real Git Sync fixture file, and of a synthetic
//! 10,000-resource workspace. Baseline, measured in the same run on the same bytes: hcl-rs (the
//! standard Rust HCL library) parsing each file into its AST and formatting it back.
//!
//! Run: `cargo bench --bench codec`. Read ratios as gitsync time / hcl-rs time.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gitsync::hcl::{parse, render};
use gitsync::model::synthetic;

fn fixture_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gitsync-output");
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        if entry.path().extension().is_some_and(|x| x == "tf")
            && let Ok(text) = std::fs::read_to_string(entry.path())
        {
            files.push((entry.path().display().to_string(), text));
        }
    }
    assert!(!files.is_empty(), "no fixtures under {}", root.display());
    files
}

fn gitsync_roundtrip(files: &[(String, String)]) -> usize {
    let mut bytes = 0;
    for (name, text) in files {
        let resource = parse(text, name).unwrap_or_else(|e| panic!("{e}"));
        bytes += render(&resource).unwrap_or_else(|e| panic!("{e}")).len();
    }
    bytes
}

fn hcl_rs_roundtrip(files: &[(String, String)]) -> usize {
    let mut bytes = 0;
    for (name, text) in files {
        let body: hcl::Body = hcl::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        bytes += hcl::format::to_string(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .len();
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let fixtures = fixture_files();
    let fixture_bytes: usize = fixtures.iter().map(|(_, t)| t.len()).sum();
    let mut group = c.benchmark_group(format!("fixtures_{}_files", fixtures.len()));
    group.throughput(Throughput::Bytes(fixture_bytes as u64));
    group.bench_function("gitsync_parse_render", |b| {
        b.iter(|| black_box(gitsync_roundtrip(&fixtures)))
    });
    group.bench_function("baseline_hcl_rs_parse_format", |b| {
        b.iter(|| black_box(hcl_rs_roundtrip(&fixtures)))
    });
    group.finish();

    let resources = synthetic::workspace(10_000, 42);
    let files: Vec<(String, String)> = resources
        .iter()
        .map(|r| {
            let path = r.path().unwrap_or_else(|e| panic!("{e}"));
            (path, render(r).unwrap_or_else(|e| panic!("{e}")))
        })
        .collect();
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let mut group = c.benchmark_group("synthetic_10000_resources");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("gitsync_render", |b| {
        b.iter(|| {
            resources
                .iter()
                .map(|r| render(r).map(|s| s.len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.bench_function("gitsync_parse", |b| {
        b.iter(|| files.iter().filter(|(n, t)| parse(t, n).is_ok()).count())
    });
    group.bench_function("gitsync_parse_render", |b| {
        b.iter(|| black_box(gitsync_roundtrip(&files)))
    });
    group.bench_function("baseline_hcl_rs_parse_format", |b| {
        b.iter(|| black_box(hcl_rs_roundtrip(&files)))
    });
    // The floor: hcl-edit's syntax parse alone, which gitsync's parser builds on.
    group.bench_function("floor_hcl_edit_parse", |b| {
        b.iter(|| {
            files
                .iter()
                .filter(|(_, t)| hcl_edit::parser::parse_body(t).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
