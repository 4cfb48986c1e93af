//! List-and-diff: incremental sync for a workspace without an audit trail.
//!
//! Segment's audit trail is a Business-tier feature; where the token cannot read it, gitsync lists
//! the synced types, renders them, and compares each file with the branch. Every file that differs
//! becomes its own commit (`Source 'abc' modified`, with a body saying that the author is
//! unknown), so the history still has one commit per changed resource. Nothing is stored: the
//! branch itself is the point the next comparison starts from, so a restart or a lost cache
//! neither loses nor repeats a change. It costs a full listing per poll, which is why the audit
//! trail is used whenever it is there.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use gix::ObjectId;

use super::export::{Quiet, Tree, identity, render_workspace, with_placeholders_kept};
use super::full::{SyncError, Target};
use super::messages::{FOUND_BY_DIFF, FOUND_WITHOUT_POINT, diff_message};
use super::point::Sealer;
use super::publish::{publish, tree_of};
use crate::git::tree;
use crate::model::ResourceType;
use crate::workspace::api::AuditChange;
use crate::workspace::{AuditPoint, Workspace};

/// What a list-and-diff poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffReport {
    /// Commits pushed, oldest first: one per changed file.
    pub commits: Vec<ObjectId>,
    pub resources: BTreeMap<ResourceType, usize>,
}

/// Lists `types`, compares them with the branch and commits each difference on its own. With
/// `point` (taken before the listing), the last commit carries it, sealed, for the audit trail
/// to continue from.
pub async fn list_and_diff_sync<W: Workspace>(
    workspace: &W,
    target: &Target,
    types: &[ResourceType],
    point: Option<&AuditPoint>,
) -> Result<DiffReport, SyncError> {
    let (rendered, resources) = render_workspace(workspace, types, &mut Quiet).await?;
    let seal = point.map(|p| {
        (
            Sealer::new(workspace.point_key(), &target.remote.branch, types),
            p,
        )
    });
    let commits = publish(target, |head| {
        build_commits(target, head, types, &rendered, seal.as_ref())
    })
    .await?;
    Ok(DiffReport { commits, resources })
}

fn build_commits(
    target: &Target,
    head: Option<ObjectId>,
    types: &[ResourceType],
    rendered: &Tree,
    seal: Option<&(Sealer, &AuditPoint)>,
) -> Result<Vec<ObjectId>, SyncError> {
    let repo = &target.cache.to_thread_local();
    let mut base = tree_of(repo, head)?;
    let mut in_branch = Tree::new();
    for ty in types {
        in_branch.extend(tree::read_files(repo, base, ty.kind().directory)?);
    }
    let paths: BTreeSet<&String> = in_branch.keys().chain(rendered.keys()).collect();
    let mut changes = Vec::new();
    for path in paths {
        let (change, text) = match (in_branch.get(path), rendered.get(path)) {
            (Some(old), Some(new)) => {
                // A placeholder the branch holds stays while the workspace serves its mask.
                let new = with_placeholders_kept(path, new, Some(old), &target.placeholders);
                if *old == *new {
                    continue;
                }
                (AuditChange::Modified, Some(new))
            }
            (None, Some(new)) => (AuditChange::Created, Some(Cow::Borrowed(new.as_str()))),
            (Some(_), None) => (AuditChange::Deleted, None),
            (None, None) => continue,
        };
        let Some((ty, id)) = resource_of(
            path,
            in_branch.get(path).map(String::as_str).or(text.as_deref()),
            change,
        ) else {
            continue;
        };
        let body = if seal.is_some() {
            FOUND_WITHOUT_POINT
        } else {
            FOUND_BY_DIFF
        };
        changes.push((path, text, diff_message(ty, &id, change, body)));
    }
    let mut parent = head;
    let mut commits = Vec::new();
    let count = changes.len();
    for (i, (path, text, message)) in changes.into_iter().enumerate() {
        let next = tree::edit_files(repo, base, &[(path.clone(), text.map(Cow::into_owned))])?;
        let message = match seal {
            Some((sealer, point)) if i + 1 == count => sealer.message(&message, point, next),
            _ => message,
        };
        let c = tree::commit(repo, next, parent, &target.author, &message)?;
        commits.push(c);
        parent = Some(c);
        base = Some(next);
    }
    Ok(commits)
}

/// The type and id of the resource in a file: read from the file itself (its import block), or,
/// for a file that does not parse (edited by hand), from its directory and name. A deleted
/// resource is named by its import id, as Segment names it (`<destination>:<subscription>`).
fn resource_of(
    path: &str,
    text: Option<&str>,
    change: AuditChange,
) -> Option<(ResourceType, String)> {
    let (dir, name) = path.split_once('/')?;
    let ty = ResourceType::from_directory(dir)?;
    let parsed = text.and_then(|t| crate::hcl::parse(t, path).ok());
    let id = match parsed {
        Some(resource) if change == AuditChange::Deleted => {
            resource.import_id().unwrap_or_else(|_| identity(&resource))
        }
        Some(resource) => identity(&resource),
        None => name.strip_suffix(".tf").unwrap_or(name).to_owned(),
    };
    Some((ty, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBSCRIPTION: &str = include_str!(
        "../../tests/fixtures/gitsync-output/v2025/destination_subscriptions/6453f9766f569b75deac5705_7UPg4d5ZNnDzdiubU215Cr.tf"
    );
    const PATH: &str =
        "destination_subscriptions/6453f9766f569b75deac5705_7UPg4d5ZNnDzdiubU215Cr.tf";

    #[test]
    fn a_deleted_resource_is_named_by_its_import_id_as_segment_does() {
        let text = SUBSCRIPTION.to_owned();
        assert_eq!(
            resource_of(PATH, Some(&text), AuditChange::Deleted),
            Some((
                ResourceType::DestinationSubscription,
                "6453f9766f569b75deac5705:7UPg4d5ZNnDzdiubU215Cr".to_owned()
            ))
        );
        assert_eq!(
            resource_of(PATH, Some(&text), AuditChange::Modified),
            Some((
                ResourceType::DestinationSubscription,
                "7UPg4d5ZNnDzdiubU215Cr".to_owned()
            ))
        );
        // A file that does not parse is named by its file name.
        let broken = "not hcl {".to_owned();
        assert_eq!(
            resource_of(PATH, Some(&broken), AuditChange::Deleted),
            Some((
                ResourceType::DestinationSubscription,
                "6453f9766f569b75deac5705_7UPg4d5ZNnDzdiubU215Cr".to_owned()
            ))
        );
    }
}
