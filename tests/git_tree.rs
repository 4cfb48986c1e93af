//! The rendered tree applied to a repository's tree, checked with the `git` program itself.

use crate::util::git;

use std::collections::BTreeMap;

use gitsync::git::tree::{Author, apply, commit};

use crate::util::{MANAGED, files};

#[test]
fn only_the_managed_directories_change_and_an_unchanged_tree_keeps_its_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repo = gix::init_bare(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let author = Author {
        name: "gitsync".into(),
        email: "gitsync@example.com".into(),
    };

    // A repository as a person left it: a README, CI config, and some resource files.
    let start = {
        let mut editor = repo.empty_tree().edit().unwrap_or_else(|e| panic!("{e}"));
        for (path, text) in [
            ("README.md", "ours"),
            (".github/ci.yml", "ci"),
            ("sources/old.tf", "old"),
            ("sources/keep.tf", "v1"),
        ] {
            let blob = repo
                .write_blob(text)
                .unwrap_or_else(|e| panic!("{e}"))
                .detach();
            editor
                .upsert(path, gix::objs::tree::EntryKind::Blob, blob)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        editor.write().unwrap_or_else(|e| panic!("{e}")).detach()
    };
    let first =
        commit(&repo, start, None, &author, "human setup").unwrap_or_else(|e| panic!("{e}"));

    let rendered = files(&[("sources/keep.tf", "v2"), ("destinations/d1.tf", "dest")]);
    let tree = apply(&repo, Some(start), MANAGED, &rendered).unwrap_or_else(|e| panic!("{e}"));
    let second =
        commit(&repo, tree, Some(first), &author, "Full sync").unwrap_or_else(|e| panic!("{e}"));

    let listing = git(
        dir.path(),
        &["ls-tree", "-r", "--name-only", &second.to_string()],
    );
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            ".github/ci.yml",
            "README.md",
            "destinations/d1.tf",
            "sources/keep.tf"
        ]
    );
    assert_eq!(
        git(dir.path(), &["show", &format!("{second}:sources/keep.tf")]),
        "v2"
    );
    assert_eq!(
        git(dir.path(), &["show", &format!("{second}:README.md")]),
        "ours"
    );
    assert_eq!(
        git(
            dir.path(),
            &["log", "--format=%an <%ae> %s", &second.to_string()]
        )
        .trim(),
        "gitsync <gitsync@example.com> Full sync\ngitsync <gitsync@example.com> human setup"
    );
    git(dir.path(), &["fsck", "--strict"]);

    // The same rendering again: the same tree, so no commit is needed.
    assert_eq!(
        apply(&repo, Some(tree), MANAGED, &rendered).ok(),
        Some(tree)
    );
    // A workspace with nothing left empties the managed directories only.
    let emptied =
        apply(&repo, Some(tree), MANAGED, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let listing = git(
        dir.path(),
        &["ls-tree", "-r", "--name-only", &emptied.to_string()],
    );
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [".github/ci.yml", "README.md"]
    );
}

#[test]
fn a_file_outside_the_managed_directories_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repo = gix::init_bare(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let e = apply(&repo, None, MANAGED, &files(&[("README.md", "x")]))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("cannot write README.md into the tree: outside the managed directories")
    );
    let e = apply(&repo, None, MANAGED, &files(&[("sourcesX/a.tf", "x")]))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("cannot write sourcesX/a.tf into the tree: outside the managed directories")
    );
}
