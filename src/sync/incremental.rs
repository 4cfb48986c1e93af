//! Incremental sync: one commit per workspace change, from the audit trail.
//!
//! Each poll asks the workspace for the audit events since the stored point. When none concern a
//! synced resource, that single request is all the poll does: no listing, no Git work. Otherwise
//! the affected types are listed and rendered once, and each event becomes its own commit holding
//! the change to that resource's file, with Segment's message (`Destination 'abc' disabled by
//! a@b.c`) and the point after it in a trailer. An event whose file is already as rendered (the
//! change was undone, or a full sync already wrote it) makes no commit. If the branch moves, the
//! commits are rebuilt on top of it; nothing is ever forced.

use std::collections::{BTreeMap, BTreeSet};

use gix::ObjectId;

use super::export::{identity, render_file};
use super::full::{SyncError, Target};
use super::messages::{actor, change_message};
use super::point::Sealer;
use super::publish::{publish, tree_of};
use crate::git::tree;
use crate::model::ResourceType;
use crate::workspace::api::{AuditChange, parse_audit_kind};
use crate::workspace::{AuditEvent, AuditPoint, BadAuditTime, Workspace, WorkspaceError};

/// What a poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalReport {
    /// Commits pushed, oldest first.
    pub commits: Vec<ObjectId>,
    /// Where the next poll continues from.
    pub point: AuditPoint,
    /// Whether the poll went beyond its one audit-trail request.
    pub did_git_work: bool,
}

/// One poll: the changes since `point`, as commits on the branch.
pub async fn incremental_sync<W: Workspace>(
    workspace: &W,
    target: &Target,
    types: &[ResourceType],
    point: &AuditPoint,
) -> Result<IncrementalReport, SyncError> {
    let events = workspace
        .audit_events(&point.since)
        .await
        .map_err(SyncError::AuditTrail)?;
    let mut next = point.clone();
    let new = next.advance(events).map_err(bad_audit_time)?;
    let relevant: Vec<(AuditEvent, ResourceType, AuditChange)> = new
        .into_iter()
        .filter_map(|e| {
            parse_audit_kind(&e.kind)
                .filter(|(ty, _)| types.contains(ty))
                .map(|(ty, c)| (e, ty, c))
        })
        .collect();
    if relevant.is_empty() {
        return Ok(IncrementalReport {
            commits: Vec::new(),
            point: next,
            did_git_work: false,
        });
    }

    // The current state of every affected type, rendered once: (type, id) -> (path, file).
    let affected: BTreeSet<ResourceType> = relevant.iter().map(|(_, ty, _)| *ty).collect();
    let mut current: BTreeMap<(ResourceType, String), (String, String)> = BTreeMap::new();
    for ty in affected {
        let resources = workspace.list(ty).await.map_err(|source| {
            SyncError::Export(super::export::ExportError::Workspace { ty, source })
        })?;
        for resource in resources {
            let (path, text) = render_file(&resource)?;
            current.insert((ty, identity(&resource)), (path, text));
        }
    }

    let sealer = Sealer::new(workspace.point_key(), &target.remote.branch, types);
    let commits = publish(target, |head| {
        build_commits(target, &sealer, head, point, &relevant, &current)
    })
    .await?;
    Ok(IncrementalReport {
        commits,
        point: next,
        did_git_work: true,
    })
}

/// An audit event whose time cannot be placed: the workspace's answer is wrong, and the poll
/// stops rather than skip it.
fn bad_audit_time(e: BadAuditTime) -> SyncError {
    SyncError::AuditTrail(WorkspaceError::InvalidResponse {
        method: "GET".into(),
        path: "/audit-events".into(),
        problem: e.to_string(),
    })
}

/// Where a resource's file is in a tree when the resource is gone from the workspace: its
/// directory, under a name made from its id (`<id>.tf`, `<parent>_<id>.tf`, `<key>_<value>.tf`).
fn existing_path(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    ty: ResourceType,
    id: &str,
) -> Option<String> {
    let dir = ty.kind().directory;
    let flat = id.replace(':', "_");
    tree::file_names(repo, base, dir)
        .into_iter()
        .find(|name| *name == format!("{flat}.tf") || name.ends_with(&format!("_{flat}.tf")))
        .map(|name| format!("{dir}/{name}"))
}

/// The import id of the resource in file `path` of tree `base` (`<destination>:<subscription>`),
/// if the file is there and parses.
fn import_id_in(repo: &gix::Repository, base: Option<ObjectId>, path: &str) -> Option<String> {
    let text = tree::read_file(repo, base, path)?;
    crate::hcl::parse(&text, path).ok()?.import_id().ok()
}

fn build_commits(
    target: &Target,
    sealer: &Sealer,
    head: Option<ObjectId>,
    start: &AuditPoint,
    relevant: &[(AuditEvent, ResourceType, AuditChange)],
    current: &BTreeMap<(ResourceType, String), (String, String)>,
) -> Result<Vec<ObjectId>, SyncError> {
    let repo = &target.cache.to_thread_local();
    let mut base = tree_of(repo, head)?;
    let mut parent = head;
    let mut point = start.clone();
    let mut commits = Vec::new();
    for (event, ty, change) in relevant {
        point.advance(vec![event.clone()]).map_err(bad_audit_time)?;
        let (change_to_file, id) = match current.get(&(*ty, event.resource_id.clone())) {
            Some((path, text)) => {
                let in_branch = tree::read_file(repo, base, path);
                let text = super::export::with_placeholders_kept(
                    path,
                    text,
                    in_branch.as_deref(),
                    &target.placeholders,
                );
                (
                    (path.clone(), Some(text.into_owned())),
                    event.resource_id.clone(),
                )
            }
            None => match existing_path(repo, base, *ty, &event.resource_id) {
                // Gone from the workspace: Segment names it by the import id its file holds.
                Some(path) => {
                    let id = import_id_in(repo, base, &path)
                        .unwrap_or_else(|| event.resource_id.clone());
                    ((path, None), id)
                }
                None => continue,
            },
        };
        let next = tree::edit_files(repo, base, &[change_to_file])?;
        if Some(next) == base {
            continue;
        }
        let message = sealer.message(
            &change_message(*ty, &id, *change, &actor(event)),
            &point,
            next,
        );
        let c = tree::commit(repo, next, parent, &target.author, &message)?;
        commits.push(c);
        parent = Some(c);
        base = Some(next);
    }
    Ok(commits)
}
