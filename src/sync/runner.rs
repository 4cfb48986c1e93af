//! The runner: what `gitsync sync` and the operator's GitSync controller both drive.
//!
//! A [`Syncer`] owns one workspace -> branch pairing. [`Syncer::start`] resumes from the point
//! stored in the branch, or runs a full sync when there is none (or when asked to);
//! [`Syncer::poll`] then brings the branch up to date: from the audit trail when the workspace has
//! one, by list-and-diff when it does not (the switch is made once, on the first poll the audit
//! trail refuses). The runner holds no state that the branch does not also hold, so dropping it
//! and starting again, in this process or another, neither loses nor repeats a change.

use std::collections::BTreeMap;

use gix::ObjectId;

use super::diff::{DiffReport, list_and_diff_sync};
use super::full::{FullSyncReport, SyncError, Target, full_sync};
use super::incremental::{IncrementalReport, incremental_sync, stored_point};
use super::publish::fetch;
use crate::model::ResourceType;
use crate::workspace::embedded::now_rfc3339;
use crate::workspace::{AuditPoint, Workspace, WorkspaceError};

/// What one call of the runner did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The branch was synced before; gitsync continues from the point stored in it.
    Resumed(AuditPoint),
    Full(FullSyncReport),
    Incremental(IncrementalReport),
    ListAndDiff(DiffReport),
}

impl Outcome {
    /// The commits pushed, oldest first.
    pub fn commits(&self) -> &[ObjectId] {
        match self {
            Outcome::Resumed(_) => &[],
            Outcome::Full(r) => &r.commits,
            Outcome::Incremental(r) => &r.commits,
            Outcome::ListAndDiff(r) => &r.commits,
        }
    }

    /// Resources per type, when this call listed the whole workspace.
    pub fn resources(&self) -> Option<&BTreeMap<ResourceType, usize>> {
        match self {
            Outcome::Full(r) => Some(&r.resources),
            Outcome::ListAndDiff(r) => Some(&r.resources),
            _ => None,
        }
    }
}

/// How changes are found after the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// Not started yet.
    NotStarted,
    /// From the audit trail, continuing at this point.
    AuditTrail(AuditPoint),
    /// The workspace has no audit trail (or the token may not read it): list and compare.
    ListAndDiff,
}

/// One workspace synced into one branch.
pub struct Syncer<W> {
    workspace: W,
    target: Target,
    types: Vec<ResourceType>,
    detection: Detection,
}

impl<W: Workspace> Syncer<W> {
    pub fn new(workspace: W, target: Target, types: Vec<ResourceType>) -> Self {
        Syncer {
            workspace,
            target,
            types,
            detection: Detection::NotStarted,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn workspace(&self) -> &W {
        &self.workspace
    }

    pub fn detection(&self) -> &Detection {
        &self.detection
    }

    /// Resumes from the point stored in the branch, or runs a full sync when there is none or
    /// when `full` is set.
    pub async fn start(&mut self, full: bool) -> Result<Outcome, SyncError> {
        if !full {
            let head = fetch(&self.target).await?;
            let stored = stored_point(&self.target.cache.to_thread_local(), head);
            if let Some(point) = stored {
                self.detection = Detection::AuditTrail(point.clone());
                return Ok(Outcome::Resumed(point));
            }
        }
        self.full_sync().await.map(Outcome::Full)
    }

    /// A full sync now (the branch's stored point moves to its start).
    pub async fn full_sync(&mut self) -> Result<FullSyncReport, SyncError> {
        let report = full_sync(&self.workspace, &self.target, &self.types, &now_rfc3339()).await?;
        if self.detection != Detection::ListAndDiff {
            self.detection = Detection::AuditTrail(report.point.clone());
        }
        Ok(report)
    }

    /// Brings the branch up to date with the workspace's changes since the last call (starting
    /// first if that has not happened). On an error the point does not move, so the next poll
    /// tries the same changes again.
    pub async fn poll(&mut self) -> Result<Outcome, SyncError> {
        let point = match &self.detection {
            Detection::NotStarted => return self.start(false).await,
            Detection::ListAndDiff => return self.list_and_diff().await,
            Detection::AuditTrail(point) => point.clone(),
        };
        match incremental_sync(&self.workspace, &self.target, &self.types, &point).await {
            Ok(report) => {
                self.detection = Detection::AuditTrail(report.point.clone());
                Ok(Outcome::Incremental(report))
            }
            Err(SyncError::AuditTrail(e)) if audit_trail_unavailable(&e) => {
                tracing::warn!(error = %e, "the workspace's audit trail cannot be read; finding changes by listing and comparing from now on");
                self.detection = Detection::ListAndDiff;
                self.list_and_diff().await
            }
            Err(e) => Err(e),
        }
    }

    async fn list_and_diff(&mut self) -> Result<Outcome, SyncError> {
        list_and_diff_sync(&self.workspace, &self.target, &self.types)
            .await
            .map(Outcome::ListAndDiff)
    }
}

/// Whether an audit-trail error means "this workspace or token has no audit trail" (Segment
/// answers 403 for a plan without it, 404 where the endpoint does not exist) rather than a
/// failure worth reporting. A 401 is a bad token and stays an error.
fn audit_trail_unavailable(e: &WorkspaceError) -> bool {
    matches!(
        e,
        WorkspaceError::Unauthorized { status: 403, .. } | WorkspaceError::NotFound { .. }
    )
}
