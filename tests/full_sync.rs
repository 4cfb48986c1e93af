//! Full sync from the embedded workspace (over HTTP) to a bare repository (over file://), checked
//! with the `git` program.

use crate::util;
use crate::util::{
    TestWorkspace, bare_remote, exported_tree_of, fixture_dir, git, sync_target, tree_of,
};
use gitsync::model::ResourceType;
use gitsync::sync::full::full_sync;
use gitsync::sync::point::Sealer;
use gitsync::workspace::Workspace;

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_writes_git_sync_output_keeps_human_files_and_is_idempotent() {
    let ws = TestWorkspace::seeded(Some("t")).await;
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    // A repository with a README a person wrote.
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    util::commit_readme(
        root.path(),
        &remote_path.to_string_lossy(),
        "Create README.md",
    );

    let target = sync_target(root.path(), "cache.git", remote.clone());
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let start = gitsync::workspace::now_rfc3339();
    let report = full_sync(&client, &target, &types, &start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.commits.len(),
        12,
        "the write check and one commit per non-empty directory"
    );
    // The full sync's objects went into the cache as one pack, not as loose files, and the
    // cache is a sound repository.
    let cache = root.path().join("cache.git");
    let packs = std::fs::read_dir(cache.join("objects/pack"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0);
    assert!(
        packs >= 2,
        "the fetched pack and the full sync's own: {packs}"
    );
    let loose = git(&cache, &["count-objects", "-v"]);
    assert!(loose.lines().any(|l| l == "count: 0"), "{loose}");
    git(&cache, &["fsck", "--strict", "--no-dangling"]);

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
    // The last commit carries the point the sync started from, sealed.
    let sealer = Sealer::new(client.point_key(), "main", &types);
    let head = report.commits.last().copied();
    let found = sealer.search(
        &target.cache.to_thread_local(),
        head,
        jiff::Timestamp::now(),
    );
    assert_eq!(
        found.trusted.map(|(c, p)| (Some(c), p.since)),
        Some((head, start))
    );
    assert!(found.ignored.is_empty(), "{:?}", found.ignored);

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
    assert_eq!(tree_of(&checkout), exported_tree_of(&fixture_dir("v2025")));

    // Nothing changed: no commit.
    let again = full_sync(&client, &target, &types, &gitsync::workspace::now_rfc3339())
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
    let after = full_sync(&client, &target, &types, &gitsync::workspace::now_rfc3339())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.commits.len(), 1);
    let changed = git(
        &remote_path,
        &["show", "--name-status", "--format=", "main"],
    );
    assert_eq!(changed, "D\tlabels/environment_dev.tf");
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_sync_commits_each_change_and_resumes_from_the_branch() {
    use gitsync::model::Value;
    use gitsync::sync::incremental::incremental_sync;
    use std::sync::atomic::Ordering;

    let ws = TestWorkspace::seeded(Some("t")).await;
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let target = sync_target(root.path(), "cache.git", remote.clone());
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let full = full_sync(&client, &target, &types, &gitsync::workspace::now_rfc3339())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // A poll with nothing new: one request, no git work.
    let poller = ws.client("t");
    let quiet = incremental_sync(&poller, &target, &types, &full.point)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!quiet.did_git_work && quiet.commits.is_empty());
    assert_eq!(poller.stats().requests.load(Ordering::Relaxed), 1);

    // Three changes through the API.
    let destinations = client
        .list(ResourceType::Destination)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut disabled = destinations
        .iter()
        .find(|d| d.get("enabled") == &Value::Bool(true))
        .cloned()
        .unwrap_or_else(|| panic!("no enabled destination"));
    disabled
        .attributes
        .insert("enabled".into(), Value::Bool(false));
    client
        .update(&disabled)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let label = client
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    client
        .delete(&label)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut model = client
        .list(ResourceType::ReverseEtlModel)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    model
        .attributes
        .insert("query".into(), Value::String("SELECT 2".into()));
    client
        .update(&model)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let report = incremental_sync(&client, &target, &types, &quiet.point)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.commits.len(), 3);
    let did = disabled.id.clone().unwrap_or_default();
    let mid = model.id.clone().unwrap_or_default();
    let subjects = git(&remote_path, &["log", "-3", "--format=%s", "main"]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            format!("Reverse ETL Model '{mid}' modified by Public API token 'gitsync'"),
            "Label 'environment:dev' deleted by Public API token 'gitsync'".to_string(),
            format!("Destination '{did}' disabled by Public API token 'gitsync'"),
        ]
    );
    assert_eq!(
        git(
            &remote_path,
            &["show", "--name-status", "--format=", "main~1"]
        ),
        "D\tlabels/environment_dev.tf"
    );
    assert!(
        git(
            &remote_path,
            &["show", &format!("main:destinations/{did}.tf")]
        )
        .contains("enabled = false")
    );

    // The cache is lost: a fresh one reads the point back from the branch and repeats nothing.
    let fresh = sync_target(root.path(), "fresh.git", remote);
    let head = fresh
        .remote
        .fetch(&fresh.cache.to_thread_local())
        .unwrap_or_else(|e| panic!("{e}"));
    let point = Sealer::new(client.point_key(), "main", &types)
        .search(&fresh.cache.to_thread_local(), head, jiff::Timestamp::now())
        .trusted
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no trusted point stored in the branch"));
    assert_eq!(point, report.point);
    let resumed = incremental_sync(&client, &fresh, &types, &point)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resumed.commits.is_empty(), "{resumed:?}");
}
