//! Every incremental commit message in the real Git Sync histories
//! (`tests/fixtures/gitsync-output/history-*.txt`) is what gitsync would write for that change.

mod common;

use gitsync::model::ResourceType;
use gitsync::sync::messages::change_message;
use gitsync::workspace::api::AuditChange;

#[test]
fn gitsync_writes_the_messages_segment_wrote() {
    let mut checked = 0;
    for file in ["history-v2025.txt", "history-v2024.txt"] {
        let path = common::fixtures_root().join("gitsync-output").join(file);
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
                "modified" => AuditChange::Modified,
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
