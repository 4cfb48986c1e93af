//! Fetch and push against real bare repositories over file://, with the `git` program as the
//! remote side and as the oracle.

use crate::util;
use crate::util::{bare_remote, git, test_author};

use std::collections::BTreeMap;
use std::process::Command;

use gitsync::git::remote::{Auth, PushOutcome, Remote, RemoteError};
use gitsync::git::tree::{apply, commit};

use crate::util::{MANAGED, files};

/// Fetch, apply, commit, push; on a moved remote, fetch and rebuild on top (bounded).
fn sync(
    repo: &gix::Repository,
    remote: &Remote,
    rendered: &BTreeMap<String, String>,
    message: &str,
) -> Option<gix::ObjectId> {
    for _ in 0..3 {
        let head = remote.fetch(repo).unwrap_or_else(|e| panic!("{e}"));
        let base = head.map(|h| {
            repo.find_commit(h)
                .and_then(|c| c.tree_id())
                .map(|t| t.detach())
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let tree = apply(repo, base, MANAGED, rendered).unwrap_or_else(|e| panic!("{e}"));
        if Some(tree) == base {
            return None;
        }
        let c = commit(repo, tree, head, &test_author(), message).unwrap_or_else(|e| panic!("{e}"));
        match remote.push(repo, c).unwrap_or_else(|e| panic!("{e}")) {
            PushOutcome::Pushed => return Some(c),
            PushOutcome::RemoteMoved => continue,
        }
    }
    panic!("the remote kept moving");
}

#[test]
fn first_push_concurrent_push_and_human_commits() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let a = gix::init_bare(root.path().join("cache-a.git")).unwrap_or_else(|e| panic!("{e}"));
    let b = gix::init_bare(root.path().join("cache-b.git")).unwrap_or_else(|e| panic!("{e}"));

    // An empty remote: nothing to fetch, the first commit creates the branch.
    assert_eq!(remote.fetch(&a).ok(), Some(None));
    let first = sync(
        &a,
        &remote,
        &files(&[("sources/s1.tf", "one")]),
        "Full sync",
    )
    .unwrap_or_else(|| panic!("no commit"));
    assert_eq!(git(&remote_path, &["rev-parse", "main"]), first.to_string());

    // Nothing changed: no commit.
    assert_eq!(
        sync(
            &a,
            &remote,
            &files(&[("sources/s1.tf", "one")]),
            "Full sync"
        ),
        None
    );

    // A person adds a README on the branch.
    util::commit_readme(root.path(), &remote.url, "Add README");

    // Cache B builds on a stale head: its push is refused, it fetches and rebuilds on top.
    let stale = remote.fetch(&b).unwrap_or_else(|e| panic!("{e}"));
    let moved = sync(
        &a,
        &remote,
        &files(&[("sources/s1.tf", "one"), ("sources/s2.tf", "two")]),
        "Source 's2' created by a@b.c",
    );
    assert!(moved.is_some());
    let tree = apply(&b, None, MANAGED, &files(&[("destinations/d1.tf", "dest")]))
        .unwrap_or_else(|e| panic!("{e}"));
    let on_stale =
        commit(&b, tree, stale, &test_author(), "stale").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        remote.push(&b, on_stale).ok(),
        Some(PushOutcome::RemoteMoved),
        "no force push, ever"
    );

    let rebuilt = sync(
        &b,
        &remote,
        &files(&[
            ("sources/s1.tf", "one"),
            ("sources/s2.tf", "two"),
            ("destinations/d1.tf", "dest"),
        ]),
        "Destination 'd1' created by a@b.c",
    );
    assert!(rebuilt.is_some());
    let listing = git(&remote_path, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "README.md",
            "destinations/d1.tf",
            "sources/s1.tf",
            "sources/s2.tf"
        ]
    );
    let log = git(&remote_path, &["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "Destination 'd1' created by a@b.c",
            "Source 's2' created by a@b.c",
            "Add README",
            "Full sync"
        ]
    );
}

#[test]
fn refusals_say_what_to_do() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let hook = remote_path.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'error: GH006: Protected branch update failed for refs/heads/main.' >&2\nexit 1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let status = Command::new("chmod").arg("+x").arg(&hook).status();
    assert!(status.is_ok_and(|s| s.success()));
    let repo = gix::init_bare(root.path().join("cache.git")).unwrap_or_else(|e| panic!("{e}"));
    let tree = apply(&repo, None, MANAGED, &files(&[("sources/s.tf", "x")]))
        .unwrap_or_else(|e| panic!("{e}"));
    let c =
        commit(&repo, tree, None, &test_author(), "Full sync").unwrap_or_else(|e| panic!("{e}"));
    let e = remote
        .push(&repo, c)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("refused by branch protection"), "{e}");
    assert!(
        e.ends_with("add gitsync's identity to the branch protection bypass list"),
        "{e}"
    );

    let missing = Remote {
        url: format!("file://{}/nowhere.git", root.path().display()),
        branch: "main".into(),
        auth: Auth::None,
    };
    assert_eq!(
        missing.fetch(&repo).err(),
        Some(RemoteError::NotFound {
            url: missing.url.clone()
        })
    );
}

/// A commit of one file on no parent, in `repo`.
fn root_commit(repo: &gix::Repository) -> gix::ObjectId {
    let tree = apply(repo, None, MANAGED, &files(&[("sources/s.tf", "x")]))
        .unwrap_or_else(|e| panic!("{e}"));
    commit(repo, tree, None, &test_author(), "Full sync").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_refusal_keeps_the_servers_own_words() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let hook = remote_path.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'policy: commits to main need a ticket number (see go/tickets)' >&2\nexit 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = Command::new("chmod").arg("+x").arg(&hook).status();
    assert!(status.is_ok_and(|s| s.success()));
    let repo = gix::init_bare(root.path().join("cache.git")).unwrap_or_else(|e| panic!("{e}"));
    let e = remote.push(&repo, root_commit(&repo)).err();
    assert_eq!(e.as_ref().map(|e| e.reason()), Some("PushRefused"), "{e:?}");
    let e = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.contains("policy: commits to main need a ticket number (see go/tickets)"),
        "{e}"
    );
    assert!(e.contains("pre-receive hook declined"), "{e}");
}

/// Two refs that `refs/heads/main` names (`refs/heads/main` and `refs/heads/refs/heads/main`,
/// which `--branch refs/heads/main` used to create): git's own words are in the error.
#[test]
fn an_ambiguous_destination_is_reported_in_gits_words() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, remote) = bare_remote(root.path(), "remote.git");
    let head = util::commit_readme(root.path(), &remote.url, "Add README");
    git(
        &remote_path,
        &["update-ref", "refs/heads/refs/heads/main", &head],
    );
    let repo = gix::init_bare(root.path().join("cache.git")).unwrap_or_else(|e| panic!("{e}"));
    let fetched = remote.fetch(&repo).unwrap_or_else(|e| panic!("{e}"));
    let tree = apply(&repo, None, MANAGED, &files(&[("sources/s.tf", "x")]))
        .unwrap_or_else(|e| panic!("{e}"));
    let c =
        commit(&repo, tree, fetched, &test_author(), "Full sync").unwrap_or_else(|e| panic!("{e}"));
    let e = remote
        .push(&repo, c)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("matches more than one"), "{e}");
}

/// Every fetch that brings commits adds a pack to the cache; a long-lived cache handle (the
/// operator keeps one per GitSync) must go on fetching after many of them (gix's object store
/// has a fixed number of pack slots per open repository).
#[test]
fn a_cache_keeps_fetching_after_many_fetches_that_bring_commits() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (path, remote) = bare_remote(root.path(), "remote.git");
    let work = root.path().join("work");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            &path.to_string_lossy(),
            &work.to_string_lossy(),
        ],
    );
    let cache = gitsync::git::cache::open(&root.path().join("caches"), &remote.url, "main")
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..45 {
        std::fs::write(work.join("n.txt"), format!("{i}\n")).unwrap_or_else(|e| panic!("{e}"));
        let made = util::commit_all(&work, &format!("commit {i}"));
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
        let fetched = remote
            .fetch_refs(&cache, &["refs/heads/main"])
            .unwrap_or_else(|e| panic!("fetch {i}: {e}"));
        assert_eq!(fetched[0].map(|id| id.to_string()), Some(made), "fetch {i}");
        // Every commit fetched so far can still be read through the same handle.
        let tip = fetched[0].unwrap_or_else(|| panic!("fetch {i}: no tip"));
        cache
            .find_commit(tip)
            .and_then(|c| c.tree())
            .unwrap_or_else(|e| panic!("fetch {i}: reading the fetched commit: {e}"));
    }
}
