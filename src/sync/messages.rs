//! Commit messages, in Segment Git Sync's words.
//!
//! Incremental commits read `<Kind> '<id>' <verb> by <actor>` (`Destination '66c7…' disabled by
//! a@b.c`), in the words real Git Sync histories use: users are "added", users, user groups and
//! transformations "updated", a deleted resource is named by its import id, and a change made
//! with a Public API token is by `Public API token '<name>'`. The sync point a commit carries in
//! its trailers is [`super::point`]'s.

use crate::model::ResourceType;
use crate::workspace::AuditEvent;
use crate::workspace::api::AuditChange;

/// The first commit of a setup, proving gitsync may write (Segment's own reads "Verify write
/// permission for Segment integration ✅").
pub const VERIFY_WRITE_PERMISSION: &str = "Verify write permission for gitsync ✅";

/// One commit per resource directory in a full sync.
pub const FULL_SYNC: &str = "Full sync";

/// `Destination Subscription 'abc' modified by a@b.c`. `id` is the resource's own id, or for a
/// deleted resource its import id (Segment writes `Destination Subscription
/// '<destination>:<subscription>' deleted by ...`); `actor` is from [`actor`].
pub fn change_message(ty: ResourceType, id: &str, change: AuditChange, actor: &str) -> String {
    format!(
        "{} '{id}' {} by {actor}",
        ty.kind().display_name,
        verb(ty, change)
    )
}

/// Segment's verb for a change: users are "added"; users, user groups and transformations are
/// "updated" (their audit events are `User Policy Updated`, `User Group Updated` and
/// `Transformation Updated`), everything else "modified".
fn verb(ty: ResourceType, change: AuditChange) -> &'static str {
    match change {
        AuditChange::Created if ty == ResourceType::User => "added",
        AuditChange::Created => "created",
        AuditChange::Modified
            if matches!(
                ty,
                ResourceType::User | ResourceType::UserGroup | ResourceType::Transformation
            ) =>
        {
            "updated"
        }
        AuditChange::Modified => "modified",
        AuditChange::Enabled => "enabled",
        AuditChange::Disabled => "disabled",
        AuditChange::Deleted => "deleted",
    }
}

/// Who a commit says made the change: the person's email, or `Public API token '<name>'` for
/// a change made with a token (the audit trail's `actor` is "the user or API token"; only a
/// user has an `actorEmail`).
pub fn actor(event: &AuditEvent) -> String {
    match event.actor_email.as_deref().map(str::trim) {
        Some(email) if !email.is_empty() => email.to_owned(),
        // Older events carry a user's email in `actor` itself.
        _ if event.actor.contains('@') => event.actor.clone(),
        _ => format!("Public API token '{}'", event.actor),
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
        for (ty, kind) in [
            (ResourceType::User, "User"),
            (ResourceType::UserGroup, "User Group"),
            (ResourceType::Transformation, "Transformation"),
        ] {
            assert_eq!(
                change_message(ty, "x1", AuditChange::Modified, "a@b.c"),
                format!("{kind} 'x1' updated by a@b.c")
            );
        }
    }

    #[test]
    fn token_actors_are_named_as_segment_names_them() {
        let event = |actor: &str, email: Option<&str>| AuditEvent {
            id: "ae".into(),
            timestamp: "2026-11-24T03:11:08.123Z".into(),
            kind: "Source Modified".into(),
            actor: actor.into(),
            actor_email: email.map(str::to_owned),
            resource_id: "s".into(),
            resource_type: "source".into(),
            resource_name: String::new(),
        };
        assert_eq!(
            actor(&event("Ann", Some("ann@example.com"))),
            "ann@example.com"
        );
        assert_eq!(actor(&event("ann@example.com", None)), "ann@example.com");
        assert_eq!(
            actor(&event("terraform-ci", None)),
            "Public API token 'terraform-ci'"
        );
        assert_eq!(
            actor(&event("terraform-ci", Some(""))),
            "Public API token 'terraform-ci'"
        );
    }
}
