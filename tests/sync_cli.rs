//! `gitsync sync` as a user runs it: the embedded workspace and a bare repository, both real.

mod common;

use std::process::Command;

use common::TestWorkspace;

#[tokio::test(flavor = "multi_thread")]
async fn sync_once_runs_a_full_sync_then_continues_from_the_branch() {
    let ws = TestWorkspace::seeded(Some("tk")).await;
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

/// Issue 9 item 15: `demo --dir relative` failed (a relative `file://` URL), and so did a
/// second demo in the same place. Both work; a second run replaces its own output, and a
/// directory the demo did not make is refused while it holds anything.
#[test]
fn the_demo_runs_twice_in_a_relative_dir_and_refuses_a_foreign_one() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let demo = |dir: &str| {
        Command::new(env!("CARGO_BIN_EXE_gitsync"))
            .args(["demo", "--dir", dir])
            .current_dir(root.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    for run in ["first", "second"] {
        let out = demo("rel/demo");
        assert!(
            out.status.success(),
            "{run} run: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = Command::new("git")
        .arg("-C")
        .arg(root.path().join("rel/demo/repository.git"))
        .args(["log", "--format=%s"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let subjects = String::from_utf8_lossy(&log.stdout);
    assert_eq!(
        subjects.lines().filter(|s| s.contains(" by ")).count(),
        2,
        "the second run starts afresh: {subjects}"
    );

    std::fs::create_dir(root.path().join("mine")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(root.path().join("mine/notes.txt"), "keep").unwrap_or_else(|e| panic!("{e}"));
    let out = demo("mine");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mine is not empty and was not made by `gitsync demo`"),
        "{stderr}"
    );
    let entries = std::fs::read_dir(root.path().join("mine"))
        .map(|d| d.count())
        .ok();
    assert_eq!(
        entries,
        Some(1),
        "nothing is written into a foreign directory"
    );
}

/// `gitsync sync --interval`: keeps polling, each change reaches the branch on its own, and
/// Ctrl-C (SIGINT) stops it cleanly.
#[tokio::test(flavor = "multi_thread")]
async fn sync_with_an_interval_keeps_polling_until_interrupted() {
    use gitsync::workspace::Workspace;
    let ws = TestWorkspace::seeded(Some("tk")).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "tk").unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = common::bare_remote(dir.path(), "remote.git");
    let log_file = dir.path().join("sync.log");
    let log = std::fs::File::create(&log_file).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitsync"))
        .args([
            "sync",
            "--interval",
            "200ms",
            "--workspace",
            &ws.running.url(),
        ])
        .arg("--repo")
        .arg(format!("file://{}", remote_path.display()))
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .arg("--token-file")
        .arg(dir.path().join("token"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let subjects = || common::git(&remote_path, &["log", "--format=%s", "main"]);
    let wait_for = |what: &str, done: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let now = Command::new("git")
                .arg("-C")
                .arg(&remote_path)
                .args(["log", "--format=%s", "main"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if done(&now) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; log: {}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait_for("the full sync", &|s| s.contains("Full sync"));

    let client = ws.client("tk");
    for round in 0..2 {
        let mut source = client
            .list(gitsync::model::ResourceType::Source)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[round]
            .clone();
        source.attributes.insert(
            "name".into(),
            gitsync::model::Value::String(format!("Renamed {round}")),
        );
        client
            .update(&source)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let id = source.id.clone().unwrap_or_default();
        wait_for("the change's commit", &|s| {
            s.contains(&format!("Source '{id}' modified by"))
        });
    }
    let changes = subjects()
        .lines()
        .filter(|s| s.contains(" modified by "))
        .count();
    assert_eq!(changes, 2, "{}", subjects());

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(interrupted.is_ok_and(|s| s.success()));
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    assert_eq!(
        log.matches("incremental sync: 1 commit pushed").count(),
        2,
        "{log}"
    );
}
