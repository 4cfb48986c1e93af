//! Full sync from the embedded workspace (over HTTP) to a bare repository (over file://), checked
//! with the `git` program.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestWorkspace, fixture_dir, tree_of};
use gitsync::git::remote::{Auth, Remote};
use gitsync::git::tree::Author;
use gitsync::model::ResourceType;
use gitsync::sync::full::{Target, full_sync};
use gitsync::sync::messages::point_of;
use gitsync::workspace::Workspace;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_writes_git_sync_output_keeps_human_files_and_is_idempotent() {
    let ws = TestWorkspace::start(Some("t")).await;
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    // A repository with a README a person wrote.
    let remote_path = root.path().join("remote.git");
    git(
        root.path(),
        &[
            "init",
            "--bare",
            "-q",
            "-b",
            "main",
            remote_path.to_str().unwrap_or("remote.git"),
        ],
    );
    let work = root.path().join("work");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            remote_path.to_str().unwrap_or(""),
            work.to_str().unwrap_or("work"),
        ],
    );
    std::fs::write(work.join("README.md"), "ours").unwrap_or_else(|e| panic!("{e}"));
    git(&work, &["add", "README.md"]);
    git(
        &work,
        &[
            "-c",
            "user.name=P",
            "-c",
            "user.email=p@example.com",
            "commit",
            "-qm",
            "Create README.md",
        ],
    );
    git(&work, &["push", "-q", "origin", "HEAD:main"]);

    let target = Target {
        cache: gix::init_bare(root.path().join("cache.git")).unwrap_or_else(|e| panic!("{e}")),
        remote: Remote {
            url: format!("file://{}", remote_path.display()),
            branch: "main".into(),
            auth: Auth::None,
        },
        author: Author {
            name: "gitsync".into(),
            email: "gitsync@example.com".into(),
        },
    };
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let start = gitsync::workspace::embedded::now_rfc3339();
    let report = full_sync(&client, &target, &types, &start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.commits.len(),
        12,
        "the write check and one commit per non-empty directory"
    );

    let subjects = git(&remote_path, &["log", "--format=%s", "main"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.last(), Some(&"Create README.md"));
    assert_eq!(
        subjects[subjects.len() - 2],
        "Verify write permission for gitsync ✅"
    );
    assert!(
        subjects[..11].iter().all(|s| *s == "Full sync"),
        "{subjects:?}"
    );
    let last = git(&remote_path, &["log", "-1", "--format=%B", "main"]);
    assert_eq!(point_of(&last).map(|p| p.since), Some(start));

    // The branch holds exactly Git Sync's files, plus the README.
    let checkout = root.path().join("checkout");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            remote_path.to_str().unwrap_or(""),
            checkout.to_str().unwrap_or("checkout"),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(checkout.join("README.md"))
            .ok()
            .as_deref(),
        Some("ours")
    );
    std::fs::remove_file(checkout.join("README.md")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree_of(&checkout), tree_of(&fixture_dir("v2025")));

    // Nothing changed: no commit.
    let again = full_sync(
        &client,
        &target,
        &types,
        &gitsync::workspace::embedded::now_rfc3339(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.commits.is_empty(), "{again:?}");

    // A deleted resource: its file goes, in one commit.
    let labels = client
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .delete(&labels[0])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = full_sync(
        &client,
        &target,
        &types,
        &gitsync::workspace::embedded::now_rfc3339(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.commits.len(), 1);
    let changed = git(
        &remote_path,
        &["show", "--name-status", "--format=", "main"],
    );
    assert_eq!(changed, "D\tlabels/environment_dev.tf");
}
