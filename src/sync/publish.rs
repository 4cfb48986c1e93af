//! Publishing commits: build them on top of the remote branch, push, and rebuild when the branch
//! moved in between. Full, incremental and list-and-diff syncs all publish through here, so the
//! rule "never force; fetch, rebuild on top, retry a bounded number of times" lives in one place.

use std::time::Duration;

use gix::ObjectId;

use super::full::{SyncError, Target};
use crate::git::remote::{PushOutcome, RemoteError};

/// How many times the commits are rebuilt on a branch that keeps moving before giving up.
pub const MAX_ATTEMPTS: usize = 5;

/// Fetches the branch, lets `build` make the commits on top of its head (oldest first; it gets
/// `None` for a branch that does not exist yet), and pushes the last one. When the push is
/// refused because the branch moved, everything is rebuilt on the new head after a short,
/// growing pause. Returns the commits pushed (none when `build` made none).
pub async fn publish<F>(target: &Target, mut build: F) -> Result<Vec<ObjectId>, SyncError>
where
    F: FnMut(Option<ObjectId>) -> Result<Vec<ObjectId>, SyncError>,
{
    for attempt in 1..=MAX_ATTEMPTS {
        let head = fetch(target).await?;
        let commits = build(head)?;
        let Some(&last) = commits.last() else {
            return Ok(commits);
        };
        let (remote, cache) = (target.remote.clone(), target.cache.clone());
        let pushed = off_the_runtime(move || remote.push(&cache.to_thread_local(), last)).await?;
        match pushed {
            PushOutcome::Pushed => return Ok(commits),
            PushOutcome::RemoteMoved => {
                tracing::info!(attempt, branch = %target.remote.branch, "the branch moved; rebuilding on top");
                tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
            }
        }
    }
    Err(SyncError::RemoteKeptMoving {
        branch: target.remote.branch.clone(),
        attempts: MAX_ATTEMPTS,
    })
}

/// Fetches the branch into the cache; returns its head (`None`: no such branch yet).
pub async fn fetch(target: &Target) -> Result<Option<ObjectId>, SyncError> {
    let (remote, cache) = (target.remote.clone(), target.cache.clone());
    off_the_runtime(move || remote.fetch(&cache.to_thread_local())).await
}

/// Runs network Git work (gix's fetch, the `git` program) on tokio's blocking pool: it blocks
/// for as long as the remote takes, and must not hold up the runtime's few worker threads, which
/// also renew the operator's Lease and serve its probes.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, SyncError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(SyncError::from),
        Err(e) => Err(SyncError::Interrupted(e.to_string())),
    }
}

/// The tree of commit `head` in the cache (`None` for no commit).
pub fn tree_of(
    repo: &gix::Repository,
    head: Option<ObjectId>,
) -> Result<Option<ObjectId>, SyncError> {
    let Some(id) = head else { return Ok(None) };
    let tree = repo
        .find_commit(id)
        .and_then(|c| c.tree_id())
        .map_err(|e| SyncError::Cache {
            id,
            message: e.to_string(),
        })?;
    Ok(Some(tree.detach()))
}
