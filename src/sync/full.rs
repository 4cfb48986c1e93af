//! Full sync: the whole workspace into the branch, as Segment's Git Sync does it.
//!
//! The first sync of a branch starts with an empty commit that proves gitsync may write. Then each
//! resource directory whose contents differ gets its own "Full sync" commit; files of resources
//! that no longer exist go, and nothing outside the resource directories is touched. The last
//! commit carries the audit point the sync started from, so the incremental sync that follows
//! misses nothing that changed while the full sync ran. If the branch moves meanwhile, the commits
//! are rebuilt on top of it and pushed again; nothing is ever forced.

use std::collections::BTreeMap;

use gix::ObjectId;

use super::export::{ExportError, Quiet, Tree, render_workspace};
use super::messages::{FULL_SYNC, VERIFY_WRITE_PERMISSION};
use super::point::Sealer;
use super::publish::{publish, tree_of};
use crate::git::remote::{Remote, RemoteError};
use crate::git::tree::{self, Author, TreeError};
use crate::model::ResourceType;
use crate::workspace::{AuditPoint, Workspace};

/// Where a sync writes: a bare cache repository and the remote branch.
pub struct Target {
    /// The cache repository, shareable across threads (each use takes a thread-local handle),
    /// so that a sync can run on any worker of a multi-threaded runtime.
    pub cache: gix::ThreadSafeRepository,
    pub remote: Remote,
    pub author: Author,
    /// Placeholders of files applied from pull requests not merged yet, kept where the branch
    /// has only the mask (see [`super::export::PlaceholderHints`]).
    pub placeholders: super::export::PlaceholderHints,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("reading the audit trail: {0}")]
    AuditTrail(crate::workspace::WorkspaceError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Pack(#[from] crate::git::pack::PackError),
    #[error(
        "the branch {branch} kept moving during {attempts} attempts; the next sync will try again"
    )]
    RemoteKeptMoving { branch: String, attempts: usize },
    #[error("the Git work stopped before it finished: {0}")]
    Interrupted(String),
    #[error("cannot read commit {id} of the cache: {message}")]
    Cache { id: ObjectId, message: String },
}

/// What a full sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullSyncReport {
    /// The commits pushed, oldest first (empty when the branch already matched).
    pub commits: Vec<ObjectId>,
    pub resources: BTreeMap<ResourceType, usize>,
    /// The point incremental syncs continue from.
    pub point: AuditPoint,
}

/// Syncs every resource of `types` from the workspace into the branch.
pub async fn full_sync<W: Workspace>(
    workspace: &W,
    target: &Target,
    types: &[ResourceType],
    started_at: &str,
) -> Result<FullSyncReport, SyncError> {
    // The point is taken before listing, so that changes made during the listing are seen again
    // by the next incremental sync (which makes no commit for what is already in the branch).
    let point = AuditPoint {
        since: started_at.to_owned(),
        seen_at_since: Vec::new(),
    };
    let (rendered, resources) = render_workspace(workspace, types, &mut Quiet).await?;
    let sealer = Sealer::new(workspace.point_key(), &target.remote.branch, types);
    let commits = publish(target, |head| {
        build_commits(target, &sealer, head, types, &rendered, &point)
    })
    .await?;
    Ok(FullSyncReport {
        commits,
        resources,
        point,
    })
}

/// The commits that bring `head` to the rendered state, in the cache (not yet pushed).
fn build_commits(
    target: &Target,
    sealer: &Sealer,
    head: Option<ObjectId>,
    types: &[ResourceType],
    rendered: &Tree,
    point: &AuditPoint,
) -> Result<Vec<ObjectId>, SyncError> {
    // Thousands of new blobs: kept in memory, then written as one pack (see `git::pack`).
    let mut memory = target.cache.to_thread_local().with_object_memory();
    let repo = &memory;
    let mut base = tree_of(repo, head)?;
    // (tree, message) of each commit to make, oldest first.
    let mut planned: Vec<(ObjectId, &str)> = Vec::new();
    // Already written by gitsync: some commit on the branch carries a sync point (trusted or
    // not: this only decides whether the first commit of a setup is made).
    let search = sealer.search(repo, head, jiff::Timestamp::now());
    if search.trusted.is_none() && search.ignored.is_empty() {
        planned.push((
            base.unwrap_or_else(|| repo.empty_tree().id),
            VERIFY_WRITE_PERMISSION,
        ));
    }
    // One commit per directory that changes, in type order.
    for ty in types {
        let dir = ty.kind().directory;
        let prefix = format!("{dir}/");
        // A placeholder the branch holds stays while the workspace serves its mask; only a
        // file with a mask can hold one, so only those are read from the branch.
        let files: Tree = rendered
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, t)| {
                let in_branch = t
                    .contains(crate::workspace::api::MASK_BULLETS)
                    .then(|| tree::read_file(repo, base, p))
                    .flatten();
                let kept = super::export::with_placeholders_kept(
                    p,
                    t,
                    in_branch.as_deref(),
                    &target.placeholders,
                );
                (p.clone(), kept.into_owned())
            })
            .collect();
        let next = tree::apply(repo, base, &[dir], &files)?;
        if Some(next) != base {
            planned.push((next, FULL_SYNC));
            base = Some(next);
        }
    }
    let mut parent = head;
    let mut commits = Vec::with_capacity(planned.len());
    let count = planned.len();
    for (i, (tree, message)) in planned.into_iter().enumerate() {
        // The last commit records where incremental syncs continue from.
        let message = if i + 1 == count {
            sealer.message(message, point, tree)
        } else {
            message.to_owned()
        };
        let c = tree::commit(repo, tree, parent, &target.author, &message)?;
        commits.push(c);
        parent = Some(c);
    }
    crate::git::pack::persist_object_memory(&mut memory)?;
    Ok(commits)
}
