//! The `git` program on the local forge's bare repositories: branch tips, refs, real merges
//! (`git merge-tree --write-tree`, then `git commit-tree`, then a compare-and-swap
//! `git update-ref`), and the counts a pull request shows. Never touches a work tree, and never
//! moves a ref it was not asked to.

use std::path::Path;
use std::process::Command;

use super::LocalForgeError;

fn run(
    path: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<std::process::Output, LocalForgeError> {
    let mut command = Command::new("git");
    command.arg("--git-dir").arg(path).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().map_err(|e| LocalForgeError::Git {
        path: path.to_owned(),
        args: args.join(" "),
        message: format!("cannot run git: {e}"),
    })
}

fn checked(path: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, LocalForgeError> {
    let out = run(path, args, env)?;
    if !out.status.success() {
        return Err(LocalForgeError::Git {
            path: path.to_owned(),
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The commit a revision names, if it names one.
pub fn resolve(path: &Path, rev: &str) -> Result<Option<String>, LocalForgeError> {
    if rev.starts_with('-') {
        return Ok(None);
    }
    let out = run(
        path,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        &[],
    )?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

/// The commit at the tip of branch `name`.
pub fn branch_tip(path: &Path, name: &str) -> Result<Option<String>, LocalForgeError> {
    resolve(path, &format!("refs/heads/{name}"))
}

/// Points `name` at `sha`.
pub fn update_ref(path: &Path, name: &str, sha: &str) -> Result<(), LocalForgeError> {
    checked(path, &["update-ref", name, sha], &[]).map(drop)
}

/// What a pull request shows: its commits, and the lines and files it changes (from the merge
/// base, as GitHub's three-dot diff).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub commits: u64,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
}

pub fn counts(path: &Path, base: &str, head: &str) -> Result<Counts, LocalForgeError> {
    let commits = checked(
        path,
        &["rev-list", "--count", &format!("{base}..{head}")],
        &[],
    )?;
    let numstat = checked(
        path,
        &["diff", "--numstat", &format!("{base}...{head}")],
        &[],
    )?;
    let mut counts = Counts {
        commits: commits.parse().unwrap_or(0),
        ..Counts::default()
    };
    for line in numstat.lines() {
        let mut fields = line.split('\t');
        // Binary files count as changed with `-` lines.
        counts.additions += fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        counts.deletions += fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        counts.changed_files += 1;
    }
    Ok(counts)
}

/// The tree of merging `head` into `base`, or `None` when they conflict.
pub fn merge_tree(path: &Path, base: &str, head: &str) -> Result<Option<String>, LocalForgeError> {
    let out = run(
        path,
        &["merge-tree", "--write-tree", "--no-messages", base, head],
        &[],
    )?;
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_owned)),
        Some(1) => Ok(None),
        _ => Err(LocalForgeError::Git {
            path: path.to_owned(),
            args: format!("merge-tree --write-tree {base} {head}"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

/// Who a commit is by: name and e-mail.
pub struct Signature<'a> {
    pub name: &'a str,
    pub email: &'a str,
}

/// Writes a commit of `tree` with `parents`.
pub fn commit_tree(
    path: &Path,
    tree: &str,
    parents: &[&str],
    message: &str,
    author: &Signature<'_>,
    committer: &Signature<'_>,
) -> Result<String, LocalForgeError> {
    let mut args = vec!["commit-tree", tree, "-m", message];
    for p in parents {
        args.push("-p");
        args.push(p);
    }
    checked(
        path,
        &args,
        &[
            ("GIT_AUTHOR_NAME", author.name),
            ("GIT_AUTHOR_EMAIL", author.email),
            ("GIT_COMMITTER_NAME", committer.name),
            ("GIT_COMMITTER_EMAIL", committer.email),
        ],
    )
}

/// Moves branch `name` from `old` to `new`, only if it is still at `old`; `false` if it moved.
pub fn advance_branch(
    path: &Path,
    name: &str,
    new: &str,
    old: &str,
) -> Result<bool, LocalForgeError> {
    let out = run(
        path,
        &["update-ref", &format!("refs/heads/{name}"), new, old],
        &[],
    )?;
    Ok(out.status.success())
}
