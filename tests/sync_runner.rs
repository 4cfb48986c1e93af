//! The runner the CLI and the operator drive: resume from the branch, and list-and-diff for a
//! workspace without an audit trail. Embedded workspace over HTTP, bare repository over file://.

mod common;

use common::{TestWorkspace, bare_remote, fixture_dir, git, sync_target};
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
    // The same branch, now read with a token the workspace refuses (401): no fallback.
    let mut wrong = Syncer::new(
        ws.client("wrong"),
        sync_target(root.path(), "cache2.git", remote),
        vec![ResourceType::Label],
    );
    wrong.start(false).await.unwrap_or_else(|e| panic!("{e}"));
    let err = wrong
        .poll()
        .await
        .err()
        .unwrap_or_else(|| panic!("a refused token must fail the poll"));
    assert!(err.to_string().contains("refused the token"), "{err}");
    assert!(matches!(wrong.detection(), Detection::AuditTrail(_)));
}
