//! The workspace side: reading and changing a Segment workspace through the Public API.
//!
//! - [`api`]: how each resource type appears in the API (paths, shapes), shared by both ends;
//! - [`client`]: the HTTP client (Segment's API or the embedded workspace, same code);
//! - `embedded` (cargo feature `embedded-workspace`, on by default): a real HTTP server for the
//!   part of the API gitsync uses, backed by SQLite, for the demo, the tests and local use. No
//!   code of the engine or the operator may import it.
//!
//! The [`Workspace`] trait is what the sync engine drives; it speaks the model, never HTTP.

pub mod api;
pub mod client;
#[cfg(feature = "embedded-workspace")]
pub mod embedded;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::model::{Resource, ResourceType};

pub use client::{Client, ClientConfig};

/// One error object of the API's `{"errors": [...]}` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or(&self.kind))?;
        if let Some(field) = &self.field {
            write!(f, " (field `{field}`)")?;
        }
        Ok(())
    }
}

fn join_errors(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What can go wrong talking to a workspace. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "the workspace at {base_url} refused the token from {token_source} (HTTP {status}): {message}; check that the token is valid for this workspace and has the needed access"
    )]
    Unauthorized {
        base_url: String,
        token_source: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: not found: {}", join_errors(.errors))]
    NotFound {
        method: String,
        path: String,
        errors: Vec<ApiError>,
    },
    #[error("{method} {path}: the workspace rejected the request (HTTP {status}): {}", join_errors(.errors))]
    Rejected {
        method: String,
        path: String,
        status: u16,
        errors: Vec<ApiError>,
    },
    #[error(
        "{method} {path}: still rate-limited after {attempts} attempts; try again later or lower the request rate"
    )]
    RateLimited {
        method: String,
        path: String,
        attempts: usize,
    },
    #[error("{method} {path}: server error (HTTP {status}) after {attempts} attempts: {body}")]
    Server {
        method: String,
        path: String,
        status: u16,
        attempts: usize,
        body: String,
    },
    #[error("{method} {path}: {problem} after {attempts} attempts (base URL {base_url})")]
    Transport {
        method: String,
        path: String,
        base_url: String,
        attempts: usize,
        problem: String,
    },
    #[error("{method} {path}: unexpected response: {problem}")]
    InvalidResponse {
        method: String,
        path: String,
        problem: String,
    },
    #[error(
        "GET {path}: the listing does not end: {problem} (cursor `{cursor}`); the workspace's pagination is broken, so the listing was stopped rather than read forever"
    )]
    EndlessPagination {
        path: String,
        cursor: String,
        problem: String,
    },
    /// The client cannot be built as configured; nothing was sent.
    #[error("cannot talk to the workspace at {base_url}: {problem}")]
    Config { base_url: String, problem: String },
    #[error("gitsync does not read or write {ty} through the Public API")]
    Unsupported { ty: ResourceType },
    /// A resource lacks what names it in the workspace, so the request would go to the wrong place.
    #[error(
        "cannot {operation} {ty}: it has no `{field}`, which names it in the workspace (a resource gets its id when it is created or exported)"
    )]
    MissingId {
        ty: ResourceType,
        operation: &'static str,
        field: &'static str,
    },
    /// A type whose every attribute forces replacement has no update operation in the API.
    #[error(
        "{ty} cannot change in place: the Public API has no update for it; replace it instead (delete, then create)"
    )]
    NotUpdatable { ty: ResourceType },
    /// An import id that does not have its type's shape (`<destination_id>:<id>`, `key:value`).
    #[error("`{import_id}` is not an import id of {ty}: expected `{expected}`")]
    BadImportId {
        ty: ResourceType,
        import_id: String,
        expected: String,
    },
    #[error(transparent)]
    Mapping(#[from] api::MappingError),
}

/// One entry of the workspace's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    /// RFC 3339, UTC, millisecond precision.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_email: Option<String>,
    pub resource_id: String,
    pub resource_type: String,
    #[serde(default)]
    pub resource_name: String,
}

/// Where a reader of the audit trail stands: events at or after `since` are new, except those
/// at exactly `since` whose ids were already seen (timestamps are not unique).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPoint {
    pub since: String,
    pub seen_at_since: Vec<String>,
}

impl AuditPoint {
    /// Keeps the events not seen yet, oldest first, and moves the point past them. Times are
    /// compared as times, not as text (`…08Z` is before `…08.123Z`); an event whose time is not
    /// RFC 3339 is an error, since it could be neither placed nor skipped safely.
    pub fn advance(&mut self, events: Vec<AuditEvent>) -> Result<Vec<AuditEvent>, BadAuditTime> {
        let since = audit_time(&self.since)?;
        let mut timed = events
            .into_iter()
            .map(|e| Ok((audit_time(&e.timestamp)?, e)))
            .collect::<Result<Vec<_>, BadAuditTime>>()?;
        timed.sort_by(|(ta, a), (tb, b)| (ta, &a.id).cmp(&(tb, &b.id)));
        timed.dedup_by(|(_, a), (_, b)| a.id == b.id);
        timed.retain(|(t, e)| *t > since || (*t == since && !self.seen_at_since.contains(&e.id)));
        let mut current = since;
        for (t, e) in &timed {
            if *t != current {
                current = *t;
                self.since = e.timestamp.clone();
                self.seen_at_since.clear();
            }
            self.seen_at_since.push(e.id.clone());
        }
        Ok(timed.into_iter().map(|(_, e)| e).collect())
    }
}

/// An audit time that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 time")]
pub struct BadAuditTime(pub String);

/// An audit time as an instant.
pub fn audit_time(text: &str) -> Result<jiff::Timestamp, BadAuditTime> {
    text.parse()
        .map_err(|_| BadAuditTime(text.chars().take(80).collect()))
}

/// An instant as Segment writes audit times: RFC 3339, UTC, milliseconds
/// (`2026-11-24T03:11:08.123Z`), so that they also sort as text.
pub fn format_audit_time(t: jiff::Timestamp) -> String {
    format!("{t:.3}")
}

/// Now, as [`format_audit_time`] writes it: the one clock of the sync engine, the operator and
/// the embedded workspace.
pub fn now_rfc3339() -> String {
    format_audit_time(jiff::Timestamp::now())
}

/// The key gitsync seals the sync points it writes into Git with (`sync::point`): derived from
/// the workspace's credentials, so that only their holders (who can change the workspace
/// anyway) can make a point gitsync will trust. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PointKey([u8; 32]);

/// HMAC-SHA256, the one MAC of gitsync's sync points.
pub type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac_with(key: &[u8]) -> HmacSha256 {
    use hmac::KeyInit;
    <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

impl PointKey {
    /// The key for a workspace token.
    pub fn derive(token: &str) -> Self {
        use hmac::Mac;
        let mut mac = hmac_with(token.as_bytes());
        mac.update(b"gitsync sync point key v1");
        PointKey(mac.finalize().into_bytes().into())
    }

    /// A MAC keyed with this key, ready for its input.
    pub fn mac(&self) -> HmacSha256 {
        hmac_with(&self.0)
    }
}

impl std::fmt::Debug for PointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PointKey(<redacted>)")
    }
}

/// Which workspace a token reaches (`GET /`): on Segment's shared API hosts the token, not the
/// URL, picks the workspace, so this is what a plan records and an apply checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkspaceIdentity {
    pub id: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub name: String,
}

/// A Segment workspace, as the sync engine sees it.
pub trait Workspace {
    /// Which workspace this is (one request).
    fn identity(&self) -> impl Future<Output = Result<WorkspaceIdentity, WorkspaceError>> + Send;
    /// Every resource of a type, complete (including the parts the API serves separately).
    fn list(
        &self,
        ty: ResourceType,
    ) -> impl Future<Output = Result<Vec<Resource>, WorkspaceError>> + Send;
    /// One resource by its Terraform import id (`abc`, `<destination_id>:<id>`, `key:value`,
    /// `<source_id>:<warehouse_id>`), complete exactly as [`Workspace::list`] returns it;
    /// `Ok(None)` when the workspace does not hold it. Costs requests for that one resource, not
    /// a listing of its type (where the API has no read by id, a listing of one small collection).
    fn get(
        &self,
        ty: ResourceType,
        import_id: &str,
    ) -> impl Future<Output = Result<Option<Resource>, WorkspaceError>> + Send;
    /// Creates a resource; returns it as the workspace now holds it (with its new id).
    fn create(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<Resource, WorkspaceError>> + Send;
    /// Updates a resource in place; returns it as the workspace now holds it.
    fn update(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<Resource, WorkspaceError>> + Send;
    fn delete(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<(), WorkspaceError>> + Send;
    /// The key sync points written for this workspace are sealed with.
    fn point_key(&self) -> PointKey;
    /// Audit events from `start_time` (RFC 3339) on, oldest first.
    fn audit_events(
        &self,
        start_time: &str,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, WorkspaceError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ts: &str) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            timestamp: ts.into(),
            kind: "Source Modified".into(),
            actor: "a".into(),
            actor_email: None,
            resource_id: "r".into(),
            resource_type: "source".into(),
            resource_name: String::new(),
        }
    }

    const T1: &str = "2026-11-24T03:11:08Z";
    const T1_MS: &str = "2026-11-24T03:11:08.000Z";
    const T2: &str = "2026-11-24T03:11:08.123Z";

    fn ids(events: &[AuditEvent]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    fn start() -> AuditPoint {
        AuditPoint {
            since: "2026-11-24T00:00:00.000Z".into(),
            seen_at_since: vec![],
        }
    }

    #[test]
    fn audit_point_neither_misses_nor_repeats_events_sharing_a_timestamp()
    -> Result<(), BadAuditTime> {
        let mut point = start();
        let first = point.advance(vec![event("b", T1), event("a", T1)])?;
        assert_eq!(ids(&first), ["a", "b"]);
        // The next poll starts at t1 again (inclusive) and sees a late event at t1 (written with
        // milliseconds this time: the same instant) and a new one.
        let second = point.advance(vec![
            event("a", T1),
            event("b", T1_MS),
            event("c", T1_MS),
            event("d", T2),
        ])?;
        assert_eq!(ids(&second), ["c", "d"]);
        assert_eq!(point.since, T2);
        assert!(point.advance(vec![event("d", T2)])?.is_empty());
        Ok(())
    }

    #[test]
    fn audit_times_are_compared_as_times_not_text() -> Result<(), BadAuditTime> {
        // As text, `…08Z` sorts after `…08.123Z`; as times it is before.
        let mut point = AuditPoint {
            since: T1.into(),
            seen_at_since: vec!["a".into()],
        };
        let new = point.advance(vec![event("late", T2), event("a", T1)])?;
        assert_eq!(ids(&new), ["late"]);
        let mut point = AuditPoint {
            since: T2.into(),
            seen_at_since: vec![],
        };
        // An event at `…08Z` is older than the point and not new.
        assert!(point.advance(vec![event("old", T1)])?.is_empty());
        Ok(())
    }

    #[test]
    fn audit_times_are_written_with_milliseconds() -> Result<(), jiff::Error> {
        let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).map(format_audit_time);
        assert_eq!(at(0)?, "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_795_835_468_123)?, "2026-11-28T03:11:08.123Z");
        assert_eq!(at(951_782_400_000)?, "2000-02-29T00:00:00.000Z");
        Ok(())
    }

    #[test]
    fn an_audit_time_that_is_not_a_time_is_an_error_not_a_skip() {
        let mut point = start();
        assert_eq!(
            point.advance(vec![event("x", "yesterday")]),
            Err(BadAuditTime("yesterday".into()))
        );
        assert_eq!(point, start());
    }
}
