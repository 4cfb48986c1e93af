//! What the benchmarks share: the description of the machine a figure was measured on, the
//! runtime, a seeded workspace, and (from the integration tests' util, one copy) bare
//! repositories.

use std::process::Command;

#[allow(dead_code)]
#[path = "../../tests/util/repository.rs"]
pub mod repository;

/// `machine: AMD EPYC, 2 cores, 23.4 GiB RAM, git 2.47.3`.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let ram_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let git_version = Command::new("git")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "machine: {model}, {cores} cores, {:.1} GiB RAM, {git_version}",
        ram_kib / (1024.0 * 1024.0)
    )
}

/// The benchmarks' runtime: two workers, as the machine has two cores.
#[allow(dead_code)]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An embedded workspace holding the synthetic workspace of `size` resources (seed 42), serving
/// on loopback until dropped, with its database in the returned directory.
#[allow(dead_code)]
pub fn seeded_workspace(
    rt: &tokio::runtime::Runtime,
    size: usize,
) -> (tempfile::TempDir, gitsync::workspace::embedded::Running) {
    use gitsync::workspace::embedded::{self, ServerConfig, Store};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&dir.path().join("ws.db")).unwrap_or_else(|e| panic!("{e}"));
    let seed: Vec<_> = gitsync::model::synthetic::workspace(size, 42)
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    embedded::seed(&store, &seed).unwrap_or_else(|e| panic!("{e}"));
    let running = rt
        .block_on(embedded::start(
            ([127, 0, 0, 1], 0).into(),
            store,
            ServerConfig::default(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    (dir, running)
}
