//! Commit messages, in Segment Git Sync's words, and the sync point gitsync keeps in them.
//!
//! Incremental commits read `<Kind> '<id>' <verb> by <actor>` (`Destination '66c7…' disabled by
//! a@b.c`), in the words real Git Sync histories use: users are "added", users, user groups and
//! transformations "updated", a deleted resource is named by its import id, and a change made
//! with a Public API token is by `Public API token '<name>'`. The point in the
//! audit trail that a commit brings the repository up to is stored in the commit itself, as a
//! trailer, so that it survives the loss of any cache: the next run reads it back from the branch.

use crate::model::ResourceType;
use crate::workspace::api::AuditChange;
use crate::workspace::{AuditEvent, AuditPoint};

/// The first commit of a setup, proving gitsync may write (Segment's own reads "Verify write
/// permission for Segment integration ✅").
pub const VERIFY_WRITE_PERMISSION: &str = "Verify write permission for gitsync ✅";

/// One commit per resource directory in a full sync.
pub const FULL_SYNC: &str = "Full sync";

/// The trailer that carries the audit point.
pub const POINT_TRAILER: &str = "Gitsync-Audit-Point";

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

/// `Source 'abc' modified`, for a change found by list-and-diff (no actor is known).
pub fn diff_message(ty: ResourceType, id: &str, change: AuditChange) -> String {
    format!(
        "{} '{id}' {}\n\n{FOUND_BY_DIFF}",
        ty.kind().display_name,
        verb(ty, change)
    )
}

/// The message with the audit point as its trailer:
/// `Gitsync-Audit-Point: 2026-11-24T03:11:08.123Z ae_1,ae_2`.
pub fn with_point(message: &str, point: &AuditPoint) -> String {
    format!(
        "{message}\n\n{POINT_TRAILER}: {} {}",
        point.since,
        point.seen_at_since.join(",")
    )
}

/// The audit point a commit message carries, if any (the last such trailer).
pub fn point_of(message: &str) -> Option<AuditPoint> {
    let line = message
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(POINT_TRAILER)?.strip_prefix(": "))?;
    let mut parts = line.splitn(2, ' ');
    let since = parts.next().filter(|s| !s.is_empty())?.to_owned();
    let seen_at_since = parts
        .next()
        .map(|ids| {
            ids.split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Some(AuditPoint {
        since,
        seen_at_since,
    })
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

    #[test]
    fn the_point_round_trips_through_a_message() {
        let point = AuditPoint {
            since: "2026-11-24T03:11:08.123Z".into(),
            seen_at_since: vec!["ae_1".into(), "ae_2".into()],
        };
        let message = with_point("Source 'abc' modified by a@b.c", &point);
        assert_eq!(point_of(&message), Some(point));
        assert_eq!(point_of("Full sync"), None);
        let empty = AuditPoint {
            since: "2026-11-24T03:11:08.123Z".into(),
            seen_at_since: vec![],
        };
        assert_eq!(point_of(&with_point(FULL_SYNC, &empty)), Some(empty));
    }
}
