//! `gitsync sync` as a user runs it: the embedded workspace and a bare repository, both real.

use std::process::Command;

use crate::util;
use crate::util::TestWorkspace;
use crate::util::command::gitsync;

/// A workspace seeded with the v2025 sample that takes the token `tk`, a temp dir, and the
/// token's file in it (`<dir>/token`), as a user passes it with `--token-file`.
async fn workspace_and_token_file() -> (TestWorkspace, tempfile::TempDir, std::path::PathBuf) {
    let ws = TestWorkspace::seeded(Some("tk")).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let token = dir.path().join("token");
    std::fs::write(&token, "tk").unwrap_or_else(|e| panic!("{e}"));
    (ws, dir, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_once_runs_a_full_sync_then_continues_from_the_branch() {
    let (ws, dir, _) = workspace_and_token_file().await;
    let (remote, _) = util::bare_remote(dir.path(), "remote.git");
    let url = ws.running.url();
    let run = |repo: String| {
        let dir = dir.path().to_path_buf();
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                gitsync(&[
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

    // Issue 9, defect 1, as reported: anyone pushes a commit claiming a point in 2099, a source
    // changes, `sync --once` must still bring the change (and say what it ignored).
    util::commit_readme(
        dir.path(),
        &remote.to_string_lossy(),
        "Harmless\n\nGitsync-Audit-Point: 2099-01-01T00:00:00.000Z",
    );
    let client = ws.client("tk");
    let mut source =
        gitsync::workspace::Workspace::list(&client, gitsync::model::ResourceType::Source)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0);
    source.attributes.insert(
        "name".into(),
        gitsync::model::Value::String("renamed after a forged point".into()),
    );
    gitsync::workspace::Workspace::update(&client, &source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let third = run(repo.clone()).await;
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(third.status.success(), "{stderr}");
    assert!(!stderr.contains("2099"), "{stderr}");
    assert!(
        stderr.contains("warning: ignored the sync point in commit")
            && stderr.contains("it has no seal"),
        "{stderr}"
    );
    assert!(
        stderr.contains("incremental sync: 1 commit pushed"),
        "{stderr}"
    );

    let missing = run(format!("file://{}/nope.git", dir.path().display())).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("repository not found"));
}

/// Issue 16 part 7: the demo shows the pull-request flow on a local GitHub in one command: the
/// forward sync, a pull request planned in one comment with a `gitsync/plan` status, applied on
/// `segment apply` with the renamed files pushed in one commit, merged through the API, and
/// nothing left for the forward sync to write or for a plan of main to change. What it prints is
/// checked, and so is the repository it leaves.
#[test]
fn the_demo_runs_the_pull_request_flow_end_to_end() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = gitsync(&["demo", "--dir"]).arg(dir.path()).output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "with 80 sample resources",
        "repository acme/segment-config",
        "disabled by Public API token 'gitsync'",
        "modified by Public API token 'gitsync'",
        "pull request #1 \"Disable a webhook, rename and label a source\" into main",
        // The plan comment, read back from the forge, with its counts and changes.
        "     | <!-- gitsync:plan -->\n     | ### gitsync plan for `",
        "**gitsync plan: Plan: 1 to add, 2 to change, 0 to destroy.**",
        "+ `segment_label.team` will be created (`labels/team.tf`)",
        "! enabled = true -> false",
        "! settings.apiKey = (sensitive)",
        "! name = \"javascript source 66\" -> \"Checkout web\"",
        "To apply this plan to the workspace, comment `segment apply`.",
        ": pending \"planning\", then success \"Plan: 1 to add, 2 to change, 0 to destroy.\"",
        "status.pullRequests: #1 planned (+1 ~2 -0)",
        // The apply on alice's comment: acknowledged, applied, the comment edited in place.
        "reactions on her comment: eyes by gitsync-bot, +1 by gitsync-bot",
        "     | ### gitsync apply succeeded for `",
        "Applied for @alice: 3 of 3 step(s).",
        "rewrote labels/team_growth.tf (was labels/team.tf)",
        "Apply complete! Resources: 1 added, 2 changed, 0 destroyed.",
        ": success \"applied for @alice\"",
        "enabled = false, apiKey = ••••••••••b7e1 (the secret, masked)",
        "name = \"Checkout web\"; label team:growth exists",
        "Updating created resources with actual generated files\n         D labels/team.tf\n         A labels/team_growth.tf\n",
        // The merge, then the forward sync and a plan of main.
        "Merge pull request #1 from acme/demo-change",
        "no conflict; the forward sync wrote 0 commit(s) after the merge",
        "(3 file(s) the merge changed): No changes.",
    ] {
        assert!(stdout.contains(expected), "no `{expected}` in:\n{stdout}");
    }
    assert!(
        !stdout.contains("demo-secret-b7e1") && !stdout.contains("ghp_"),
        "a secret or a token is printed:\n{stdout}"
    );

    let repo = dir.path().join("repository.git");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let subjects = git(&["log", "--format=%s", "main"]);
    assert_eq!(
        subjects.lines().last(),
        Some("Verify write permission for gitsync ✅")
    );
    // main ends with the merge: the forward sync added nothing after it, and wrote only the
    // two workspace changes of step 3 (nothing twice).
    assert_eq!(
        git(&["log", "-1", "--format=%s%n%P", "main"])
            .lines()
            .next(),
        Some("Merge pull request #1 from acme/demo-change"),
        "{subjects}"
    );
    assert_eq!(
        subjects.lines().filter(|s| s.contains(" by ")).count(),
        2,
        "{subjects}"
    );
    // The merge's second parent is the pull request's head: alice's commit, then gitsync's one
    // commit renaming the new label's file to its id-based name.
    assert_eq!(
        git(&["log", "--format=%s", "main^1..main^2"]),
        "Updating created resources with actual generated files\nDisable a webhook, rename and label a source\n"
    );
    assert_eq!(
        git(&["show", "--name-status", "--format=%s", "main^2"]).trim(),
        "Updating created resources with actual generated files\n\nD\tlabels/team.tf\nA\tlabels/team_growth.tf"
    );
    // main has the label and the disabled destination, which keeps its placeholder; no file
    // anywhere holds the secret.
    assert!(git(&["show", "main:labels/team_growth.tf"]).contains("value       = \"growth\""));
    let with_placeholder = git(&["grep", "-l", "\"@@webhook_api_key@@\"", "main"]);
    let destination = with_placeholder
        .trim()
        .strip_prefix("main:")
        .unwrap_or_else(|| panic!("no file with the placeholder on main: {with_placeholder}"));
    assert!(git(&["show", &format!("main:{destination}")]).contains("enabled = false"));
    for rev in ["main", "demo-change"] {
        let found = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["grep", "-q", "demo-secret-b7e1", rev])
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.code(), Some(1), "the secret is in {rev}");
    }
    // alice's clone is left working, its origin the bare repository.
    let work = dir.path().join("work");
    let origin = Command::new("git")
        .arg("-C")
        .arg(&work)
        .args(["rev-parse", "origin/main", "main"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(origin.status.success(), "{origin:?}");
    assert_eq!(
        String::from_utf8_lossy(&origin.stdout).lines().next(),
        Some(git(&["rev-parse", "main"]).trim())
    );
}

/// Issue 9 item 15: `demo --dir relative` failed (a relative `file://` URL), and so did a
/// second demo in the same place. Both work; a second run replaces its own output, and a
/// directory the demo did not make is refused while it holds anything.
#[test]
fn the_demo_runs_twice_in_a_relative_dir_and_refuses_a_foreign_one() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let demo = |dir: &str| {
        gitsync(&["demo", "--dir", dir])
            .current_dir(root.path())
            .output()
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
    let (ws, dir, _) = workspace_and_token_file().await;
    let (remote_path, _) = util::bare_remote(dir.path(), "remote.git");
    let log_file = dir.path().join("sync.log");
    let log = std::fs::File::create(&log_file).unwrap_or_else(|e| panic!("{e}"));
    let mut child = gitsync(&[
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
    .spawn();
    let subjects = || util::git(&remote_path, &["log", "--format=%s", "main"]);
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

    // Ctrl-C while a poll is under way (its requests held 3 s): it ends the sync once that poll
    // is done. It used to be lost when it came between two waits for the next poll, and the sync
    // ran on.
    ws.faults("tk", serde_json::json!({"delay": {"count": 5, "ms": 3000}}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(interrupted.is_ok_and(|s| s.success()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running 30 s after Ctrl-C; log: {}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    assert_eq!(
        log.matches("incremental sync: 1 commit pushed").count(),
        2,
        "{log}"
    );
}

/// Duration flags are Flux's durations, checked: an overflowing `--interval` used to wrap around
/// into a 4 s poll, and `1m30s` was refused; `--timeout` and `--lease-seconds` read the same way.
#[test]
fn duration_flags_refuse_what_is_out_of_range_and_take_flux_syntax() {
    let run = |args: &[&str]| {
        let ran = gitsync(args).env_remove("PUBLIC_API_TOKEN").run();
        (ran.code, ran.stderr)
    };
    let sync = |interval: &str| {
        run(&[
            "sync",
            "--workspace",
            "http://127.0.0.1:9",
            "--repo",
            "file:///nonexistent",
            "--interval",
            interval,
        ])
    };
    let (code, stderr) = sync("3381903080180084463m");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`3381903080180084463m` is longer than 24h"),
        "{stderr}"
    );
    let (code, stderr) = sync("5d");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unit ms, s, m or h"), "{stderr}");
    // Accepted values get past the command line (to the missing token: exit code 1, not 2).
    for ok in ["1m30s", "30", "1.5h"] {
        let (code, stderr) = sync(ok);
        assert_eq!(code, Some(1), "{ok}: {stderr}");
        assert!(!stderr.contains("--interval"), "{ok}: {stderr}");
    }
    let (code, stderr) = run(&["full-sync", "x", "--timeout", "0s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("must be more than zero"), "{stderr}");
    let (code, stderr) = run(&["operator", "--lease-seconds", "18446744073709551616"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("longer than 24h"), "{stderr}");
}

/// Every path under `dir`, relative, one per line.
fn paths_under(dir: &std::path::Path) -> String {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Credentials written in a URL keep working, and no message of `sync` or `export`, nor a cache
/// directory's name, shows them.
#[tokio::test(flavor = "multi_thread")]
async fn no_message_or_cache_name_shows_a_password_from_a_url() {
    const WRONG: &str = "WrongPassw0rd";
    const UNREACHABLE: &str = "ClosedPassw0rd";
    const WS: &str = "WsPassw0rd";
    let (ws, dir, token) = workspace_and_token_file().await;
    let repos = dir.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(&repos, "repo.git");
    let port = util::git_http::serve(repos.clone()).await;
    let cache = dir.path().join("cache");
    let closed = util::free_port();
    let ws_url = ws.running.url();
    let repo_url = |user: &str, password: &str, port: u16| {
        format!("http://{user}:{password}@127.0.0.1:{port}/repo.git")
    };
    let sync = |workspace: String, repo: String| {
        let (token, cache) = (token.clone(), cache.clone());
        tokio::task::spawn_blocking(move || {
            gitsync(&["sync", "--once", "--workspace", &workspace, "--repo", &repo])
                .arg("--cache")
                .arg(cache)
                .arg("--token-file")
                .arg(token)
                .run()
                .status_and_text()
        })
    };
    let join = |h: tokio::task::JoinHandle<(std::process::ExitStatus, String)>| async move {
        h.await.unwrap_or_else(|e| panic!("{e}"))
    };

    // The right password, in the URL only: it works.
    let (status, right) = join(sync(
        ws_url.clone(),
        repo_url(util::git_http::USER, util::git_http::PASSWORD, port),
    ))
    .await;
    assert!(status.success(), "{right}");
    assert!(right.contains("full sync: 52 resources"), "{right}");
    assert_eq!(
        util::git(&remote, &["ls-tree", "-r", "--name-only", "main"])
            .lines()
            .count(),
        52
    );
    // A wrong one: refused, and said so without it.
    let (status, wrong) = join(sync(
        ws_url.clone(),
        repo_url(util::git_http::USER, WRONG, port),
    ))
    .await;
    assert_eq!(status.code(), Some(1), "{wrong}");
    assert!(
        wrong.contains(&format!(
            "http://127.0.0.1:{port}/repo.git: authentication failed"
        )),
        "{wrong}"
    );
    // A host that does not answer.
    let (status, unreachable) = join(sync(
        ws_url.clone(),
        repo_url("someone", UNREACHABLE, closed),
    ))
    .await;
    assert_eq!(status.code(), Some(1), "{unreachable}");
    assert!(
        unreachable.contains(&format!("127.0.0.1:{closed}")),
        "{unreachable}"
    );
    // A workspace URL with a password, for sync and export.
    let ws_with_password = ws_url.replacen("http://", &format!("http://user:{WS}@"), 1);
    let ws_closed = format!("http://user:{WS}@127.0.0.1:{closed}");
    let (status, ws_sync) = join(sync(
        ws_closed.clone(),
        repo_url(util::git_http::USER, util::git_http::PASSWORD, port),
    ))
    .await;
    assert_eq!(status.code(), Some(1), "{ws_sync}");
    let mut exports = Vec::new();
    // An unreachable one fails; a reachable one is reached with the token (the URL's own
    // credentials are never sent in its place); neither shows the password.
    for (workspace, code) in [(ws_closed.as_str(), 1), (ws_with_password.as_str(), 0)] {
        let (status, text) = gitsync(&["export", "--workspace", workspace, "--out"])
            .arg(dir.path().join("out"))
            .arg("--token-file")
            .arg(&token)
            .run()
            .status_and_text();
        assert_eq!(status.code(), Some(code), "{text}");
        exports.push(text);
    }

    let names = paths_under(&cache);
    for (place, text) in [
        ("sync with the right password", &right),
        ("sync with a wrong password", &wrong),
        ("sync to an unreachable host", &unreachable),
        ("sync from an unreachable workspace", &ws_sync),
        ("export from an unreachable workspace", &exports[0]),
        ("export from a workspace", &exports[1]),
        ("the cache directory", &names),
    ] {
        for secret in [WRONG, UNREACHABLE, WS, util::git_http::PASSWORD] {
            assert!(
                !text.contains(secret),
                "{place} shows a password from a URL ({secret}):\n{text}"
            );
        }
    }
}

/// Without --cache, the cache goes to the user's cache directory, not into the current
/// directory (often a checkout); and a URL far longer than a file name syncs.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_cache_is_the_users_and_long_urls_sync() {
    let (ws, dir, token) = workspace_and_token_file().await;
    // A repository path of about 300 characters, in directories a file system takes.
    let mut deep = dir.path().to_path_buf();
    for i in 0..6 {
        deep = deep.join(format!("{i}{}", "d".repeat(45)));
    }
    std::fs::create_dir_all(&deep).unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(&deep, "repo.git");
    let url = format!("file://{}", remote.display());
    assert!(url.len() > 300, "{}", url.len());
    let checkout = dir.path().join("checkout");
    std::fs::create_dir_all(&checkout).unwrap_or_else(|e| panic!("{e}"));
    let xdg = dir.path().join("xdg-cache");
    let out = gitsync(&[
        "sync",
        "--once",
        "--workspace",
        &ws.running.url(),
        "--repo",
        &url,
    ])
    .arg("--token-file")
    .arg(&token)
    .current_dir(&checkout)
    .env("XDG_CACHE_HOME", &xdg)
    .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("full sync: 52 resources"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&checkout)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the current directory: {left:?}");
    let caches: Vec<_> = std::fs::read_dir(xdg.join("gitsync/repositories"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(caches.len(), 1, "{caches:?}");
}

/// A damaged cache is re-created, with a warning, and the sync goes on; the remote is not blamed.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_cache_is_recreated_and_said_so() {
    let (ws, dir, token) = workspace_and_token_file().await;
    let (remote, _) = util::bare_remote(dir.path(), "remote.git");
    let url = format!("file://{}", remote.display());
    let cache = dir.path().join("cache");
    let run = || {
        gitsync(&[
            "sync",
            "--once",
            "--workspace",
            &ws.running.url(),
            "--repo",
            &url,
        ])
        .arg("--cache")
        .arg(&cache)
        .arg("--token-file")
        .arg(&token)
        .run()
        .status_and_text()
    };
    let (status, first) = tokio::task::block_in_place(run);
    assert!(status.success(), "{first}");
    // A person's commit: the next sync fetches it, and the cache records the branch's head.
    util::commit_readme(dir.path(), &url, "Add README");
    let (status, second) = tokio::task::block_in_place(run);
    assert!(status.success(), "{second}");
    // Every object gone (a disk that lost them): the synced commit cannot be read.
    let repo = std::fs::read_dir(&cache)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("no cache repository in {}", cache.display()));
    std::fs::remove_dir_all(repo.join("objects")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(repo.join("objects/pack")).unwrap_or_else(|e| panic!("{e}"));
    let (status, damaged) = tokio::task::block_in_place(run);
    assert!(status.success(), "{damaged}");
    assert!(
        damaged.contains("the cache repository was corrupt and was re-created"),
        "{damaged}"
    );
    assert!(
        damaged.contains("incremental sync: 0 commits pushed"),
        "{damaged}"
    );
    // Not even a HEAD (a half-deleted directory).
    std::fs::remove_file(repo.join("HEAD")).unwrap_or_else(|e| panic!("{e}"));
    let (status, third) = tokio::task::block_in_place(run);
    assert!(status.success(), "{third}");
    assert!(third.contains("was re-created"), "{third}");
}

/// Four `sync --once` at the same time, from four workspaces into one branch: each wins the race
/// for the branch at some point (fetch, rebuild on top, push again), all exit 0, and the history
/// is linear with every commit each of them pushed.
#[tokio::test(flavor = "multi_thread")]
async fn four_concurrent_syncs_to_one_branch_all_succeed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let token = dir.path().join("token");
    std::fs::write(&token, "tk").unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(dir.path(), "remote.git");
    let url = format!("file://{}", remote.display());
    let mut workspaces = Vec::new();
    for seed in 1..=4u64 {
        let ws = TestWorkspace::start(Some("tk")).await;
        let sample: Vec<_> = gitsync::model::synthetic::workspace(20, seed)
            .into_iter()
            .map(|r| (r.path().unwrap_or_default(), r))
            .collect();
        gitsync::workspace::embedded::seed(&ws.store, &sample).unwrap_or_else(|e| panic!("{e}"));
        workspaces.push(ws);
    }
    let runs: Vec<_> = workspaces
        .iter()
        .enumerate()
        .map(|(i, ws)| {
            let (url, token) = (url.clone(), token.clone());
            let (ws_url, cache) = (ws.running.url(), dir.path().join(format!("cache-{i}")));
            tokio::task::spawn_blocking(move || {
                gitsync(&["sync", "--once", "--workspace", &ws_url, "--repo", &url])
                    .arg("--cache")
                    .arg(cache)
                    .arg("--token-file")
                    .arg(token)
                    .run()
                    .status_and_text()
            })
        })
        .collect();
    let mut pushed = 0;
    for run in runs {
        let (status, text) = run.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "{text}");
        let full = text
            .lines()
            .find_map(|l| l.split_once(" resources, ")?.1.split_once(" commit"))
            .and_then(|(n, _)| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no full sync line in:\n{text}"));
        pushed += full;
    }
    let merges = util::git(&remote, &["rev-list", "--merges", "main"]);
    assert!(merges.is_empty(), "merge commits: {merges}");
    let history = util::git(&remote, &["rev-list", "main"]);
    assert_eq!(history.lines().count(), pushed, "{history}");
    let subjects = util::git(&remote, &["log", "--format=%s", "main"]);
    assert_eq!(
        subjects
            .lines()
            .filter(|s| s.starts_with("Verify write permission"))
            .count(),
        1,
        "{subjects}"
    );
}

/// The host's global git configuration does not change where gitsync fetches and pushes (an
/// `url.insteadOf` there would send the commits to another repository).
#[tokio::test(flavor = "multi_thread")]
async fn the_users_global_git_config_is_ignored() {
    let (ws, dir, token) = workspace_and_token_file().await;
    let (remote, _) = util::bare_remote(dir.path(), "remote.git");
    let (decoy, _) = util::bare_remote(dir.path(), "decoy.git");
    let url = format!("file://{}", remote.display());
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/git")).unwrap_or_else(|e| panic!("{e}"));
    let redirect = format!(
        "[url \"file://{}\"]\n\tinsteadOf = {url}\n[core]\n\thooksPath = /nonexistent\n",
        decoy.display()
    );
    std::fs::write(home.join(".gitconfig"), &redirect).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(home.join(".config/git/config"), &redirect).unwrap_or_else(|e| panic!("{e}"));
    let out = gitsync(&[
        "sync",
        "--once",
        "--workspace",
        &ws.running.url(),
        "--repo",
        &url,
    ])
    .arg("--token-file")
    .arg(&token)
    .arg("--cache")
    .arg(dir.path().join("cache"))
    .env("HOME", &home)
    .env("XDG_CONFIG_HOME", home.join(".config"))
    .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let heads = |repo: &std::path::Path| util::git(repo, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(heads(&remote), "refs/heads/main", "{stderr}");
    assert_eq!(heads(&decoy), "", "the commits went to the decoy");
}
