//! Build script: records the commit gitsync is built from, for `gitsync --version`.
//!
//! The commit comes from `GITSYNC_BUILD_COMMIT` when set (a build from a source archive or a
//! container build context without `.git`), else from `git rev-parse --short HEAD`, else it is
//! "unknown". The script never fails a build: a missing git or a tree that is not a checkout
//! only changes the version line.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GITSYNC_BUILD_COMMIT");
    let commit = std::env::var("GITSYNC_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Build again when HEAD moves: HEAD itself (a checkout of another branch), the ref it points
    // to (a commit on the branch), and packed-refs (where `git gc` moves that ref). Paths come
    // from git, so worktrees (where .git is a file) work too.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(reference);
        // A ref that is only in packed-refs has no file yet; its directory gets it on commit.
        watched.push("refs/heads".to_owned());
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]) {
            let path = PathBuf::from(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=GITSYNC_BUILD_COMMIT={commit}");
}
