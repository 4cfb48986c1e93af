//! `gitsync sync` as a user runs it: the embedded workspace and a bare repository, both real.

mod common;

use std::process::Command;

use common::{TestWorkspace, fixture_dir};

#[tokio::test(flavor = "multi_thread")]
async fn sync_once_runs_a_full_sync_then_continues_from_the_branch() {
    let ws = TestWorkspace::start(Some("tk")).await;
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "tk").unwrap_or_else(|e| panic!("{e}"));
    let remote = dir.path().join("remote.git");
    let init = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&remote)
        .status();
    assert!(init.is_ok_and(|s| s.success()));
    let url = ws.running.url();
    let run = |repo: String| {
        let dir = dir.path().to_path_buf();
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_gitsync"))
                    .args([
                        "sync",
                        "--once",
                        "--workspace",
                        &url,
                        "--repo",
                        &repo,
                        "--cache",
                    ])
                    .arg(dir.join("cache"))
                    .arg("--token-file")
                    .arg(dir.join("token"))
                    .output()
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let repo = format!("file://{}", remote.display());

    let first = run(repo.clone()).await;
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains("full sync: 52 resources, 12 commits pushed to main"),
        "{stderr}"
    );

    let second = run(repo.clone()).await;
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("continuing from"), "{stderr}");
    assert!(
        stderr.contains("incremental sync: 0 commits pushed"),
        "{stderr}"
    );

    let missing = run(format!("file://{}/nope.git", dir.path().display())).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("repository not found"));
}

#[test]
fn the_demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_gitsync"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("with 80 sample resources"), "{stdout}");
    assert!(
        stdout.contains("disabled by api-token@gitsync.local"),
        "{stdout}"
    );
    assert!(
        stdout.contains("modified by api-token@gitsync.local"),
        "{stdout}"
    );
    let log = Command::new("git")
        .arg("-C")
        .arg(dir.path().join("repository.git"))
        .args(["log", "--format=%s"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let subjects = String::from_utf8_lossy(&log.stdout);
    assert_eq!(
        subjects.lines().last(),
        Some("Verify write permission for gitsync ✅")
    );
    assert_eq!(
        subjects.lines().filter(|s| s.contains(" by ")).count(),
        2,
        "{subjects}"
    );
}
