//! The runner: what `gitsync sync` and the operator's GitSync controller both drive.
//!
//! A [`Syncer`] owns one workspace -> branch pairing. [`Syncer::start`] resumes from the newest
//! sync point in the branch that gitsync sealed itself ([`super::point`]), or runs a full sync
//! when the branch has none (or when asked to). A branch that holds points but none that can be
//! trusted (forged, copied, unsealed, in the future) is brought up to date by listing the
//! workspace and comparing it with the branch, never by skipping what the point claims; each
//! ignored point is a [`SyncWarning`] for the driver to show (a log line, an Event).
//! [`Syncer::poll`] then brings the branch up to date: from the audit trail when the workspace has
//! one, by list-and-diff when it does not (the switch is made once, on the first poll the audit
//! trail refuses). The runner holds no state that the branch does not also hold, so dropping it
//! and starting again, in this process or another, neither loses nor repeats a change.

use std::collections::BTreeMap;

use gix::ObjectId;

use super::diff::{DiffReport, list_and_diff_sync};
use super::full::{FullSyncReport, SyncError, Target, full_sync};
use super::incremental::{IncrementalReport, incremental_sync};
use super::point::{IgnoredPoint, Sealer};
use super::publish::fetch;
use crate::model::ResourceType;
use crate::workspace::{AuditPoint, Workspace, WorkspaceError, now_rfc3339};

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

/// Something a driver should tell the user about, though the sync went on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncWarning {
    /// Commits of the branch carry sync points gitsync cannot trust; they were ignored. One
    /// warning however many there are (the newest is named), so that a flood of forged commits
    /// cannot flood the log or the Events.
    #[error("{newest}{}", if *.others > 0 { format!(" (and {} older untrusted point(s))", .others) } else { String::new() })]
    UntrustedPoint { newest: IgnoredPoint, others: usize },
    /// No point could be trusted: the changes were found by listing and comparing.
    #[error(
        "the branch {branch} holds no sync point that gitsync wrote; found the changes by comparing the workspace with the branch"
    )]
    NoTrustedPoint { branch: String },
}

impl SyncWarning {
    /// A short CamelCase name, for an Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncWarning::UntrustedPoint { .. } => "UntrustedSyncPoint",
            SyncWarning::NoTrustedPoint { .. } => "NoTrustedSyncPoint",
        }
    }
}

/// One workspace synced into one branch.
pub struct Syncer<W> {
    workspace: W,
    target: Target,
    types: Vec<ResourceType>,
    detection: Detection,
    warnings: Vec<SyncWarning>,
}

impl<W: Workspace> Syncer<W> {
    pub fn new(workspace: W, target: Target, types: Vec<ResourceType>) -> Self {
        Syncer {
            workspace,
            target,
            types,
            detection: Detection::NotStarted,
            warnings: Vec::new(),
        }
    }

    /// The warnings since the last call, oldest first (each is also logged).
    pub fn take_warnings(&mut self) -> Vec<SyncWarning> {
        std::mem::take(&mut self.warnings)
    }

    fn warn(&mut self, warning: SyncWarning) {
        tracing::warn!(branch = %self.target.remote.branch, reason = warning.reason(), "{warning}");
        self.warnings.push(warning);
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The target, to renew its remote's credentials (a GitHub App's installation token).
    pub fn target_mut(&mut self) -> &mut Target {
        &mut self.target
    }

    pub fn workspace(&self) -> &W {
        &self.workspace
    }

    pub fn detection(&self) -> &Detection {
        &self.detection
    }

    /// Resumes from the newest trusted point in the branch, or runs a full sync when the branch
    /// has no point or when `full` is set; recovers by list-and-diff when it has points but
    /// none that can be trusted.
    pub async fn start(&mut self, full: bool) -> Result<Outcome, SyncError> {
        if full {
            return self.full_sync().await.map(Outcome::Full);
        }
        let head = fetch(&self.target).await?;
        let sealer = Sealer::new(
            self.workspace.point_key(),
            &self.target.remote.branch,
            &self.types,
        );
        let search = sealer.search(
            &self.target.cache.to_thread_local(),
            head,
            jiff::Timestamp::now(),
        );
        let untrusted = !search.ignored.is_empty();
        let others = search.ignored.len().saturating_sub(1);
        if let Some(newest) = search.ignored.into_iter().next() {
            self.warn(SyncWarning::UntrustedPoint { newest, others });
        }
        match search.trusted {
            Some((_, point)) => {
                self.detection = Detection::AuditTrail(point.clone());
                Ok(Outcome::Resumed(point))
            }
            None if untrusted => {
                self.warn(SyncWarning::NoTrustedPoint {
                    branch: self.target.remote.branch.clone(),
                });
                self.recover().await
            }
            None => self.full_sync().await.map(Outcome::Full),
        }
    }

    /// Brings a branch whose points cannot be trusted up to date without them: the point is
    /// taken before listing (so nothing changed during the listing is missed), and the last
    /// commit found carries it, sealed.
    async fn recover(&mut self) -> Result<Outcome, SyncError> {
        let point = AuditPoint {
            since: now_rfc3339(),
            seen_at_since: Vec::new(),
        };
        let report =
            list_and_diff_sync(&self.workspace, &self.target, &self.types, Some(&point)).await?;
        if self.detection != Detection::ListAndDiff {
            self.detection = Detection::AuditTrail(point);
        }
        Ok(Outcome::ListAndDiff(report))
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
        list_and_diff_sync(&self.workspace, &self.target, &self.types, None)
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
