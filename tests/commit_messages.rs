//! Every incremental commit message in the real Git Sync histories
//! (`tests/fixtures/gitsync-output/history-*.txt`) is what gitsync would write for that change.

use crate::util;
use gitsync::model::ResourceType;
use gitsync::sync::messages::change_message;
use gitsync::workspace::api::AuditChange;

#[test]
fn gitsync_writes_the_messages_segment_wrote() {
    let mut checked = 0;
    for file in ["history-v2025.txt", "history-v2024.txt"] {
        let path = util::fixtures_root().join("gitsync-output").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text
            .lines()
            .filter(|l| l.starts_with("@@") && l.contains("Segment Git Sync"))
        {
            let message = line.rsplit('|').next().unwrap_or_default();
            let Some((kind, rest)) = message.split_once(" '") else {
                continue;
            };
            let (id, rest) = rest.split_once("' ").unwrap_or_else(|| panic!("{message}"));
            let (verb, actor) = rest
                .split_once(" by ")
                .unwrap_or_else(|| panic!("{message}"));
            let ty = ResourceType::ALL
                .into_iter()
                .find(|t| t.kind().display_name == kind)
                .unwrap_or_else(|| panic!("unknown kind in {message:?}"));
            let change = match verb {
                "created" | "added" => AuditChange::Created,
                "modified" | "updated" => AuditChange::Modified,
                "enabled" => AuditChange::Enabled,
                "disabled" => AuditChange::Disabled,
                "deleted" => AuditChange::Deleted,
                other => panic!("unknown verb {other:?} in {message:?}"),
            };
            assert_eq!(change_message(ty, id, change, actor), message);
            checked += 1;
        }
    }
    assert!(checked >= 50, "checked {checked} messages");
}

/// Every kind of change of every type Git Sync writes, made through the embedded workspace's API
/// with a Public API token and synced from its audit trail, is committed in Segment's words: the
/// verb Segment uses for the type, the import id of a deleted resource, and the token as the
/// actor.
#[tokio::test(flavor = "multi_thread")]
async fn every_change_of_every_type_is_committed_in_segments_words() {
    use gitsync::model::{Resource, Value};
    use gitsync::sync::full::full_sync;
    use gitsync::sync::incremental::incremental_sync;
    use gitsync::sync::tree::read_dir as read_tree;
    use gitsync::workspace::Workspace;
    use gitsync::workspace::embedded::{ServerConfig, seed};
    use gitsync::workspace::now_rfc3339;
    use util::{TestWorkspace, bare_remote, git, sync_target};

    let ws = TestWorkspace::start_with(ServerConfig {
        token: Some("t".into()),
        actor: "terraform-ci".into(),
        ..Default::default()
    })
    .await;
    let tree = read_tree(&util::fixture_dir("v2025")).unwrap_or_else(|e| panic!("{e}"));
    seed(&ws.store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client("t");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote, target_remote) = bare_remote(root.path(), "remote.git");
    let target = sync_target(root.path(), "cache.git", target_remote);
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let mut point = full_sync(&client, &target, &types, &now_rfc3339())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .point;
    let by = "by Public API token 'terraform-ci'";

    // Each change is polled on its own: a poll renders the workspace as it is now.
    let mut expected = Vec::new();
    let mut poll = async |expect: String| {
        let report = incremental_sync(&client, &target, &types, &point)
            .await
            .unwrap_or_else(|e| panic!("{expect}: {e}"));
        assert_eq!(report.commits.len(), 1, "{expect}: {report:?}");
        point = report.point;
        expected.push(expect);
    };

    let mut destination_id = String::new();
    let mut destination = None;
    let mut permissions = Value::Null;
    for ty in ResourceType::git_sync_types() {
        let kind = ty.kind().display_name;
        let mut copy = match tree.iter().map(|(_, r)| r).find(|r| r.ty == ty) {
            Some(r) => r.clone(),
            // The sample has no user group.
            None => {
                let mut attrs = gitsync::model::Attributes::new();
                attrs.insert("name".into(), Value::String("Analysts".into()));
                attrs.insert("members".into(), Value::List(vec![]));
                attrs.insert("permissions".into(), permissions.clone());
                Resource::new(ty, None, attrs)
            }
        };
        copy.id = None;
        let attrs = &mut copy.attributes;
        match ty {
            ResourceType::Label => {
                attrs.insert("value".into(), Value::String("copy".into()));
            }
            ResourceType::User => {
                permissions = attrs.get("permissions").cloned().unwrap_or(Value::Null);
                attrs.insert("email".into(), Value::String("copy@example.com".into()));
            }
            // Masked secrets cannot be written as new values.
            ResourceType::Source => {
                attrs.insert("settings".into(), Value::Json(serde_json::json!({})));
            }
            ResourceType::DestinationSubscription => {
                attrs.insert(
                    "destination_id".into(),
                    Value::String(destination_id.clone()),
                );
            }
            _ => {}
        }
        let created = client
            .create(&copy)
            .await
            .unwrap_or_else(|e| panic!("creating a {kind}: {e}"));
        let id = created.id.clone().unwrap_or_default();
        if ty == ResourceType::Destination {
            destination_id = id.clone();
            destination = Some(created.clone());
        }
        let (verb, updated) = match ty {
            ResourceType::User => ("added", "updated"),
            ResourceType::UserGroup | ResourceType::Transformation => ("created", "updated"),
            _ => ("created", "modified"),
        };
        let shown = if ty == ResourceType::Label {
            created.import_id().unwrap_or_default()
        } else {
            id.clone()
        };
        poll(format!("{kind} '{shown}' {verb} {by}")).await;

        // Modified: the attribute a person edits most (labels have no update).
        let edit = match ty {
            ResourceType::DestinationFilter => Some("title"),
            ResourceType::Function => Some("display_name"),
            ResourceType::User | ResourceType::Label => None,
            _ => Some("name"),
        };
        let mut current = created.clone();
        if let Some(field) = edit {
            current
                .attributes
                .insert(field.into(), Value::String(format!("Edited {kind}")));
        }
        if ty == ResourceType::User {
            current
                .attributes
                .insert("permissions".into(), Value::List(vec![]));
        }
        if ty != ResourceType::Label {
            current = client
                .update(&current)
                .await
                .unwrap_or_else(|e| panic!("updating a {kind}: {e}"));
            poll(format!("{kind} '{id}' {updated} {by}")).await;
        }

        // Disabled and enabled again (Segment calls both an update of a transformation).
        if let Some(Value::Bool(true)) = current.attributes.get("enabled") {
            for (on, verb) in [(false, "disabled"), (true, "enabled")] {
                current.attributes.insert("enabled".into(), Value::Bool(on));
                current = client
                    .update(&current)
                    .await
                    .unwrap_or_else(|e| panic!("toggling a {kind}: {e}"));
                let verb = if ty == ResourceType::Transformation {
                    "updated"
                } else {
                    verb
                };
                poll(format!("{kind} '{id}' {verb} {by}")).await;
            }
        } else {
            assert!(
                !ty.kind().attributes.iter().any(|a| a.name == "enabled"),
                "{kind}: the copy is not enabled"
            );
        }

        // Deleted: named by the import id (`<destination>:<subscription>` for a subscription).
        // The destination goes last: its subscription needs it.
        if ty != ResourceType::Destination {
            client
                .delete(&current)
                .await
                .unwrap_or_else(|e| panic!("deleting a {kind}: {e}"));
            let import_id = current.import_id().unwrap_or_default();
            poll(format!("{kind} '{import_id}' deleted {by}")).await;
        }
    }
    let destination = destination.unwrap_or_else(|| panic!("no destination created"));
    client
        .delete(&destination)
        .await
        .unwrap_or_else(|e| panic!("deleting the destination: {e}"));
    poll(format!("Destination '{destination_id}' deleted {by}")).await;
    assert!(
        expected
            .iter()
            .any(|m| m.starts_with(&format!("Destination Subscription '{destination_id}:"))),
        "{expected:#?}"
    );
    let subjects = git(&remote, &["log", "--reverse", "--format=%s", "main"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects[subjects.len() - expected.len()..], expected);
}
