//! Commit messages, in Segment Git Sync's words.
//!
//! Incremental commits read `<Kind> '<id>' <verb> by <actor>` (`Destination '66c7…' disabled by
//! a@b.c`; users are "added"), as in the history of real Git Sync repositories. The sync point a
//! commit carries in its trailers is [`super::point`]'s.

use crate::model::ResourceType;
use crate::workspace::api::AuditChange;

/// The first commit of a setup, proving gitsync may write (Segment's own reads "Verify write
/// permission for Segment integration ✅").
pub const VERIFY_WRITE_PERMISSION: &str = "Verify write permission for gitsync ✅";

/// One commit per resource directory in a full sync.
pub const FULL_SYNC: &str = "Full sync";

/// `Destination Subscription 'abc' modified by a@b.c`.
pub fn change_message(ty: ResourceType, id: &str, change: AuditChange, actor: &str) -> String {
    format!(
        "{} '{id}' {} by {actor}",
        ty.kind().display_name,
        verb(ty, change)
    )
}

/// Segment's verb for a change: users are "added", everything else "created".
fn verb(ty: ResourceType, change: AuditChange) -> &'static str {
    match change {
        AuditChange::Created if ty == ResourceType::User => "added",
        AuditChange::Created => "created",
        AuditChange::Modified => "modified",
        AuditChange::Enabled => "enabled",
        AuditChange::Disabled => "disabled",
        AuditChange::Deleted => "deleted",
    }
}

/// The body of a commit found by list-and-diff rather than read from the audit trail.
pub const FOUND_BY_DIFF: &str = "Found by comparing the workspace with the branch: this workspace has no audit trail, so the author of the change is unknown.";

/// The body of a commit found by list-and-diff because the branch held no sync point gitsync
/// could trust.
pub const FOUND_WITHOUT_POINT: &str = "Found by comparing the workspace with the branch: the branch holds no sync point that gitsync wrote, so the changes since the last sync were found without the audit trail and the author of the change is unknown.";

/// `Source 'abc' modified`, for a change found by list-and-diff (no actor is known); `body`
/// says why.
pub fn diff_message(ty: ResourceType, id: &str, change: AuditChange, body: &str) -> String {
    format!(
        "{} '{id}' {}\n\n{body}",
        ty.kind().display_name,
        verb(ty, change)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_segment_wording() {
        assert_eq!(
            change_message(
                ResourceType::Destination,
                "66c7c3c0da4ea46121571a99",
                AuditChange::Disabled,
                "a@b.c"
            ),
            "Destination '66c7c3c0da4ea46121571a99' disabled by a@b.c"
        );
        assert_eq!(
            change_message(ResourceType::User, "u1", AuditChange::Created, "x@y.z"),
            "User 'u1' added by x@y.z"
        );
    }
}
