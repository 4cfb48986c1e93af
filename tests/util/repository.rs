//! `git` and bare repositories, made by the `git` program itself. Shared with the benchmarks
//! (benches/common/mod.rs includes this file), so it uses nothing else from `util`.

use std::path::{Path, PathBuf};

/// Runs the `git` program in `dir`; panics with its stderr when it fails. Returns stdout without
/// the trailing newline.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

/// Commits everything in the work tree `dir` (`git add -A`, then a commit by a test identity);
/// returns the new commit's id.
pub fn commit_all(dir: &Path, message: &str) -> String {
    let who = ["-c", "user.name=t", "-c", "user.email=t@e"];
    git(dir, &[who.as_slice(), &["add", "-A"]].concat());
    git(dir, &[who.as_slice(), &["commit", "-qm", message]].concat());
    git(dir, &["rev-parse", "HEAD"])
}

/// A bare repository `<root>/<name>` on branch `main`, made by `git` itself, and the file://
/// remote for it.
pub fn bare_remote(root: &Path, name: &str) -> (PathBuf, gitsync::git::remote::Remote) {
    let path = root.join(name);
    git(
        root,
        &[
            "init",
            "--bare",
            "-q",
            "-b",
            "main",
            &path.to_string_lossy(),
        ],
    );
    let remote = gitsync::git::remote::Remote {
        url: format!("file://{}", path.display()),
        branch: "main".into(),
        auth: gitsync::git::remote::Auth::None,
    };
    (path, remote)
}
