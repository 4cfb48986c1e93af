//! The runner the CLI and the operator drive: resume from the branch, and list-and-diff for a
//! workspace without an audit trail. Embedded workspace over HTTP, bare repository over file://.

use crate::util::{TestWorkspace, bare_remote, fixture_dir, git, sync_target};
use gitsync::model::ResourceType;
use gitsync::sync::messages::FOUND_BY_DIFF;
use gitsync::sync::runner::{Detection, Outcome, Syncer};
use gitsync::workspace::Workspace;
use gitsync::workspace::embedded::ServerConfig;
use serde_json::json;

fn label(key: &str, value: &str) -> gitsync::model::Resource {
    let object = json!({ "key": key, "value": value, "description": "made by the test" });
    let object = object.as_object().cloned().unwrap_or_default();
    gitsync::workspace::api::from_api(ResourceType::Label, &object)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_audit_trail_each_changed_resource_becomes_its_own_commit() {
    let ws = TestWorkspace::start_with(ServerConfig {
        token: Some("t".into()),
        audit_trail: false,
        ..Default::default()
    })
    .await;
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();

    let mut syncer = Syncer::new(
        client.clone(),
        sync_target(root.path(), "cache.git", remote.clone()),
        types.clone(),
    );
    let full = syncer.start(false).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(full, Outcome::Full(_)), "{full:?}");

    // Nothing changed: the first poll finds the audit trail refused, switches, and commits nothing.
    let quiet = syncer.poll().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&quiet, Outcome::ListAndDiff(r) if r.commits.is_empty()),
        "{quiet:?}"
    );
    assert_eq!(syncer.detection(), &Detection::ListAndDiff);

    // Three changes: a label created, a destination disabled, a source deleted.
    client
        .create(&label("team", "growth"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let destinations = client
        .list(ResourceType::Destination)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut destination = destinations[0].clone();
    let destination_id = destination.id.clone().unwrap_or_default();
    destination
        .attributes
        .insert("enabled".into(), gitsync::model::Value::Bool(false));
    client
        .update(&destination)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sources = client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gone = sources
        .iter()
        .find(|s| s.id.as_deref() == Some("iiDqJ6ypc6nbGUD1WNwUXb"))
        .or(sources.last())
        .cloned()
        .unwrap_or_else(|| panic!("the fixture has sources"));
    let gone_id = gone.id.clone().unwrap_or_default();
    let gone_path = gone.path().unwrap_or_else(|e| panic!("{e}"));
    assert!(git(&remote_path, &["ls-tree", "-r", "--name-only", "main"]).contains(&gone_path));
    client.delete(&gone).await.unwrap_or_else(|e| panic!("{e}"));

    let poll = syncer.poll().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(poll.commits().len(), 3, "{poll:?}");
    let subjects = git(&remote_path, &["log", "-3", "--format=%s", "main"]);
    let mut subjects: Vec<&str> = subjects.lines().collect();
    subjects.sort();
    let mut expected = vec![
        format!("Destination '{destination_id}' modified"),
        "Label 'team:growth' created".to_owned(),
        format!("Source '{gone_id}' deleted"),
    ];
    expected.sort();
    assert_eq!(subjects, expected);
    let body = git(&remote_path, &["log", "-1", "--format=%b", "main"]);
    assert_eq!(body, FOUND_BY_DIFF);
    // Each commit changes exactly one file.
    for n in 0..3 {
        let files = git(
            &remote_path,
            &["show", "--name-only", "--format=", &format!("main~{n}")],
        );
        assert_eq!(files.lines().count(), 1, "{files}");
    }
    let listing = git(&remote_path, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!listing.contains(&gone_path), "{listing}");
    assert!(listing.contains("labels/team_growth.tf"), "{listing}");
    let disabled = git(
        &remote_path,
        &[
            "show",
            &format!(
                "main:{}",
                destination.path().unwrap_or_else(|e| panic!("{e}"))
            ),
        ],
    );
    assert!(
        disabled.contains("enabled") && disabled.contains("false"),
        "{disabled}"
    );

    // A new runner on a wiped cache repeats nothing.
    let before = git(&remote_path, &["rev-parse", "main"]);
    let mut again = Syncer::new(
        client.clone(),
        sync_target(root.path(), "other-cache.git", remote),
        types,
    );
    let resumed = again.start(false).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(resumed, Outcome::Resumed(_)), "{resumed:?}");
    let poll = again.poll().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(poll.commits().is_empty(), "{poll:?}");
    assert_eq!(git(&remote_path, &["rev-parse", "main"]), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_for_the_audit_trail_stays_an_error() {
    let ws = TestWorkspace::start(Some("t")).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, remote) = bare_remote(root.path(), "remote.git");
    let mut syncer = Syncer::new(
        ws.client("t"),
        sync_target(root.path(), "cache.git", remote.clone()),
        vec![ResourceType::Label],
    );
    syncer.start(false).await.unwrap_or_else(|e| panic!("{e}"));
    // The same branch, now read with a token the workspace refuses (401): no fallback. (Its
    // points are sealed with the right token's key, so this runner cannot trust them and
    // lists the workspace, which refuses it.)
    let mut wrong = Syncer::new(
        ws.client("wrong"),
        sync_target(root.path(), "cache2.git", remote),
        vec![ResourceType::Label],
    );
    let err = wrong
        .start(false)
        .await
        .err()
        .unwrap_or_else(|| panic!("a refused token must fail the sync"));
    assert!(err.to_string().contains("refused the token"), "{err}");
    assert_ne!(wrong.detection(), &Detection::ListAndDiff);
}

/// A commit in checkout `work` with `message`, under gitsync's own name (anyone can use it).
fn commit_as_gitsync(work: &std::path::Path, message: &str, allow_empty: bool) {
    let mut args = vec![
        "-c",
        "user.name=gitsync",
        "-c",
        "user.email=gitsync@example.com",
        "commit",
        "-q",
        "-m",
        message,
    ];
    if allow_empty {
        args.push("--allow-empty");
    }
    git(work, &args);
}

/// A person's commit on `main` of `remote` (a bare repository path) in a fresh clone at
/// `<root>/<name>`: `README.md` set to `readme`, with `message` (trailers and all).
fn push_commit(
    root: &std::path::Path,
    remote: &std::path::Path,
    name: &str,
    readme: &str,
    message: &str,
) {
    let work = root.join(name);
    git(
        root,
        &[
            "clone",
            "-q",
            &remote.to_string_lossy(),
            &work.to_string_lossy(),
        ],
    );
    std::fs::write(work.join("README.md"), readme).unwrap_or_else(|e| panic!("{e}"));
    git(&work, &["add", "README.md"]);
    commit_as_gitsync(&work, message, false);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
}

/// Renames a source through the API; returns its id.
async fn rename_a_source(client: &gitsync::workspace::Client, name: &str) -> String {
    let mut source = client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    source
        .attributes
        .insert("name".into(), gitsync::model::Value::String(name.into()));
    client
        .update(&source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    source.id.clone().unwrap_or_default()
}

/// Issue 9, defect 1: a commit anyone can push, whose trailer claims a point in the future (or
/// no time at all), or a squash merge that carries gitsync's old trailers, must not make the
/// sync skip the workspace's changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_or_copied_point_never_makes_the_sync_skip_a_change() {
    use gitsync::sync::runner::SyncWarning;
    let ws = TestWorkspace::seeded(Some("t")).await;
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let mut first = Syncer::new(
        client.clone(),
        sync_target(root.path(), "cache.git", remote.clone()),
        types.clone(),
    );
    first.start(false).await.unwrap_or_else(|e| panic!("{e}"));
    let real_message = git(&remote_path, &["log", "-1", "--format=%B", "main"]);
    assert!(
        real_message.contains("Gitsync-Audit-Point-Seal: "),
        "{real_message}"
    );

    let forgeries = [
        "Harmless\n\nGitsync-Audit-Point: 2099-01-01T00:00:00.000Z".to_owned(),
        "Harmless\n\nGitsync-Audit-Point: not-a-time".to_owned(),
        // A squash merge: gitsync's trailers, sealed, on another tree.
        format!("Squash merge (#7)\n\n{real_message}"),
    ];
    for (n, forged) in forgeries.iter().enumerate() {
        push_commit(
            root.path(),
            &remote_path,
            &format!("work{n}"),
            &format!("readme {n}"),
            forged,
        );
        let id = rename_a_source(&client, &format!("renamed {n}")).await;

        // A restart (a new runner, a new cache), as `gitsync sync --once` is.
        let mut syncer = Syncer::new(
            client.clone(),
            sync_target(root.path(), &format!("cache{n}.git"), remote.clone()),
            types.clone(),
        );
        let started = syncer.start(false).await.unwrap_or_else(|e| panic!("{e}"));
        let Outcome::Resumed(point) = &started else {
            panic!("the older, real point must be found: {started:?}");
        };
        assert!(point.since.as_str() < "2099", "{point:?}");
        let warnings = syncer.take_warnings();
        assert!(
            matches!(warnings.as_slice(), [w @ SyncWarning::UntrustedPoint { others: 0, .. }] if w.to_string().contains("ignored the sync point in commit")),
            "{forged}: {warnings:?}"
        );
        let poll = syncer.poll().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(poll.commits().len(), 1, "{forged}: {poll:?}");
        let subject = git(&remote_path, &["log", "-1", "--format=%s", "main"]);
        assert_eq!(
            subject,
            format!("Source '{id}' modified by Public API token 'gitsync'")
        );
        let file = git(&remote_path, &["show", &format!("main:sources/{id}.tf")]);
        assert!(file.contains(&format!("renamed {n}")), "{file}");
    }
}

/// Issue 9, defect 1: a branch whose points are all untrusted (forged, or from before points
/// were sealed) is brought up to date by listing and comparing, with a warning, and the point
/// the recovery leaves is trusted by the next run.
#[tokio::test(flavor = "multi_thread")]
async fn a_branch_with_no_trusted_point_is_compared_not_skipped() {
    use gitsync::sync::runner::SyncWarning;
    let ws = TestWorkspace::seeded(Some("t")).await;
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (synced_path, synced) = bare_remote(root.path(), "synced.git");
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    Syncer::new(
        client.clone(),
        sync_target(root.path(), "cache.git", synced),
        types.clone(),
    )
    .start(false)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // The same files in a new repository whose only commit claims a point in the future, with
    // no seal (as a person, or gitsync before points were sealed, would write it).
    let work = root.path().join("orphan");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            &synced_path.to_string_lossy(),
            &work.to_string_lossy(),
        ],
    );
    git(&work, &["checkout", "-q", "--orphan", "fresh"]);
    commit_as_gitsync(
        &work,
        "Full sync\n\nGitsync-Audit-Point: 2099-01-01T00:00:00.000Z",
        false,
    );
    // And a flood of forged points on top: one warning, not one per commit.
    for n in 0..20 {
        let message = format!(
            "Flood {n}\n\nGitsync-Audit-Point: 2099-01-0{}T00:00:00Z",
            n % 9 + 1
        );
        commit_as_gitsync(&work, &message, true);
    }
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    git(
        &work,
        &["push", "-q", &remote_path.to_string_lossy(), "fresh:main"],
    );
    let id = rename_a_source(&client, "renamed behind a forged point").await;

    let mut syncer = Syncer::new(
        client.clone(),
        sync_target(root.path(), "cache2.git", remote.clone()),
        types.clone(),
    );
    let recovered = syncer.start(false).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&recovered, Outcome::ListAndDiff(r) if r.commits.len() == 1),
        "{recovered:?}"
    );
    let warnings = syncer.take_warnings();
    assert!(
        matches!(
            warnings.as_slice(),
            [
                SyncWarning::UntrustedPoint { others: 20, .. },
                SyncWarning::NoTrustedPoint { .. }
            ]
        ),
        "{warnings:?}"
    );
    assert_eq!(
        git(&remote_path, &["log", "-1", "--format=%s", "main"]),
        format!("Source '{id}' modified")
    );
    assert!(
        git(&remote_path, &["show", &format!("main:sources/{id}.tf")])
            .contains("renamed behind a forged point")
    );

    // A change after the recovery comes from the audit trail, and a restart trusts the point the
    // recovery sealed: nothing is repeated, nothing missed.
    let later = rename_a_source(&client, "renamed after the recovery").await;
    let mut restarted = Syncer::new(
        client.clone(),
        sync_target(root.path(), "cache3.git", remote),
        types,
    );
    let resumed = restarted
        .start(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(resumed, Outcome::Resumed(_)), "{resumed:?}");
    assert!(restarted.take_warnings().is_empty());
    let poll = restarted.poll().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(poll.commits().len(), 1, "{poll:?}");
    assert_eq!(
        git(&remote_path, &["log", "-1", "--format=%s", "main"]),
        format!("Source '{later}' modified by Public API token 'gitsync'")
    );
}
