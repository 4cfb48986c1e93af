//! Codec throughput: parse + render of every real Git Sync fixture file, and of a synthetic
//! 10,000-resource workspace. Baseline, measured in the same run on the same bytes: hcl-rs (the
//! standard Rust HCL library) parsing each file into its AST and formatting it back.
//!
//! Run: `cargo bench --bench codec`. Read ratios as gitsync time / hcl-rs time.
//!
//! The `parse_shapes` groups hold the parser to linear time (issue 9 item 8: hcl-edit's object
//! parser was quadratic, 40,000 keys took 10 s): flat objects of 10k/20k/40k keys, whose time per
//! key must stay flat, and 1 MB files of each shape a value can take, whose MB/s must stay close.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gitsync::hcl::{parse, render};
use gitsync::model::{MAX_NESTING, Value, synthetic};
use serde_json::{Value as Json, json};

/// A source whose `settings` is `json`, as Git Sync writes it.
fn source_with_settings(json: Json) -> String {
    let base = "import {\n  to = segment_source.id-abc\n  id = \"abc\"\n}\n\nresource \"segment_source\" \"id-abc\" {\n  enabled = true\n  labels = null\n  metadata = {\n    id = \"78PbvP2yv8\"\n  }\n  name = \"BigQuery\"\n  settings = jsonencode({})\n  slug = \"bigquery\"\n}";
    let mut resource = parse(base, "bench.tf").unwrap_or_else(|e| panic!("{e}"));
    resource
        .attributes
        .insert("settings".into(), Value::Json(json));
    render(&resource).unwrap_or_else(|e| panic!("{e}"))
}

fn flat_object(keys: usize) -> Json {
    Json::Object(
        (0..keys)
            .map(|i| (format!("key_{i:06}"), json!(format!("value {i}"))))
            .collect(),
    )
}

/// Elements added until the rendered file reaches 1 MB.
fn one_mb_of(element: impl Fn(usize) -> Json) -> Json {
    let one = source_with_settings(json!([element(0)])).len();
    let two = source_with_settings(json!([element(0), element(1)])).len();
    let n = (1 << 20) / (two - one).max(1);
    Json::Array((0..n).map(element).collect())
}

fn nested(depth: usize, leaf: Json) -> Json {
    (0..depth).fold(leaf, |v, _| json!([v]))
}

/// The shapes, each about 1 MB: (name, file text, the settings document as JSON text).
fn shapes() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut push = |name: String, settings: Json| {
        let text = source_with_settings(settings.clone());
        out.push((name, text, settings.to_string()));
    };
    for keys in [10_000, 20_000, 40_000] {
        push(format!("flat_object_{keys}_keys"), flat_object(keys));
    }
    let flat_1mb = {
        let per_key = source_with_settings(flat_object(1000)).len() / 1000;
        flat_object((1 << 20) / per_key)
    };
    push("flat_object_1mb".into(), flat_1mb.clone());
    // Each element as deep as the limit allows inside the outer list.
    push(
        "deep_nesting_1mb".into(),
        one_mb_of(|i| nested(MAX_NESTING - 1, json!(i))),
    );
    push("long_array_1mb".into(), one_mb_of(|i| json!(i)));
    push(
        "long_string_1mb".into(),
        json!({ "query": "select 1; ".repeat((1 << 20) / 10) }),
    );
    push(
        "jsonencode_mixed_1mb".into(),
        one_mb_of(|i| {
            json!({ "name": format!("event {i}"), "enabled": i % 2 == 0, "ratio": 0.5,
                    "tags": ["a", "b", null], "nested": { "k": [1, 2, { "x": "y" }] } })
        }),
    );
    // The 2024 form: the same document as an escaped JSON string.
    let jsonencoded = source_with_settings(json!({ "marker": 1 }));
    let (before, after) = jsonencoded
        .split_once("settings = jsonencode({\n    marker = 1\n  })")
        .unwrap_or_else(|| panic!("no settings in {jsonencoded}"));
    let escaped = serde_json::to_string(&flat_1mb.to_string()).unwrap_or_default();
    out.push((
        "escaped_json_2024_1mb".into(),
        format!("{before}settings = {escaped}{after}"),
        flat_1mb.to_string(),
    ));
    out
}

/// Each shape parsed by gitsync, and its settings document parsed by serde_json: the floor a
/// parser of the same data can hardly beat, measured in the same run (read gitsync / floor).
fn parse_shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_shapes");
    group.sample_size(10);
    for (name, text, json_text) in shapes() {
        parse(&text, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("{name}/gitsync_parse"), |b| {
            b.iter(|| black_box(parse(&text, &name).is_ok()))
        });
        group.bench_function(format!("{name}/floor_serde_json"), |b| {
            b.iter(|| black_box(serde_json::from_str::<Json>(&json_text).is_ok()))
        });
    }
    group.finish();
}

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
    // hcl-edit's syntax parse alone: the parser gitsync used before its own.
    group.bench_function("baseline_hcl_edit_parse", |b| {
        b.iter(|| {
            files
                .iter()
                .filter(|(_, t)| hcl_edit::parser::parse_body(t).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench, parse_shapes);
criterion_main!(benches);
