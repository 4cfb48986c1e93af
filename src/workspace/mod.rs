//! The workspace side: reading and changing a Segment workspace through the Public API.
//!
//! - [`api`]: how each resource type appears in the API (paths, shapes), shared by both ends;
//! - [`client`]: the HTTP client (Segment's API or the embedded workspace, same code);
//! - [`embedded`]: a real HTTP server for the part of the API gitsync uses, backed by SQLite.
//!
//! The [`Workspace`] trait is what the sync engine drives; it speaks the model, never HTTP.

pub mod api;
pub mod client;
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
    /// Keeps the events not seen yet, oldest first, and moves the point past them.
    pub fn advance(&mut self, mut events: Vec<AuditEvent>) -> Vec<AuditEvent> {
        events.sort_by(|a, b| (&a.timestamp, &a.id).cmp(&(&b.timestamp, &b.id)));
        events.dedup_by(|a, b| a.id == b.id);
        events.retain(|e| {
            e.timestamp.as_str() > self.since.as_str()
                || (e.timestamp == self.since && !self.seen_at_since.contains(&e.id))
        });
        for e in &events {
            if e.timestamp != self.since {
                self.since = e.timestamp.clone();
                self.seen_at_since.clear();
            }
            self.seen_at_since.push(e.id.clone());
        }
        events
    }
}

/// A Segment workspace, as the sync engine sees it.
pub trait Workspace {
    /// Every resource of a type, complete (including the parts the API serves separately).
    fn list(
        &self,
        ty: ResourceType,
    ) -> impl Future<Output = Result<Vec<Resource>, WorkspaceError>> + Send;
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

    #[test]
    fn audit_point_neither_misses_nor_repeats_events_sharing_a_timestamp() {
        let mut point = AuditPoint::default();
        let first = point.advance(vec![event("b", "t1"), event("a", "t1")]);
        assert_eq!(
            first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // The next poll starts at t1 again (inclusive) and sees a late event at t1 and a new one.
        let second = point.advance(vec![
            event("a", "t1"),
            event("b", "t1"),
            event("c", "t1"),
            event("d", "t2"),
        ]);
        assert_eq!(
            second.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["c", "d"]
        );
        assert_eq!(point.since, "t2");
        assert!(point.advance(vec![event("d", "t2")]).is_empty());
    }
}
