//! Branch names: the one check of the branch a user asks gitsync to write, for the command line
//! and for `spec.repository.branch` alike.
//!
//! The rules are those of `git check-ref-format --branch` (see git-check-ref-format(1)), plus one
//! of gitsync's own: a full ref name (`refs/heads/main`) is refused with the short name to use
//! instead, since gitsync always writes `refs/heads/<branch>` and would otherwise create
//! `refs/heads/refs/heads/main`, after which every push to `main` is ambiguous; and `@`, which
//! git reads as HEAD. This module only
//! checks names; it never reads or writes a repository.

/// Why a branch name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid branch name: {why}")]
pub struct InvalidBranch {
    pub name: String,
    pub why: String,
}

/// Checks `name` as `git check-ref-format --branch` does (and refuses `refs/...`).
pub fn validate(name: &str) -> Result<(), InvalidBranch> {
    let refuse = |why: &str| {
        Err(InvalidBranch {
            name: name.to_owned(),
            why: why.to_owned(),
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if let Some(short) = name.strip_prefix("refs/heads/") {
        return refuse(&format!("give the branch's short name, `{short}`"));
    }
    if name.starts_with("refs/") {
        return refuse("gitsync writes branches (refs/heads/...); give a branch's short name");
    }
    if name.starts_with('-') {
        return refuse("it must not start with `-`");
    }
    if name == "HEAD" || name == "@" {
        return refuse("it is a reserved name");
    }
    if let Some(c) = name.chars().find(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return refuse(&format!(
            "it must not contain {}",
            if c.is_ascii_control() {
                "control characters".to_owned()
            } else if c == ' ' {
                "spaces".to_owned()
            } else {
                format!("`{c}`")
            }
        ));
    }
    if name.contains("..") {
        return refuse("it must not contain `..`");
    }
    if name.contains("@{") {
        return refuse("it must not contain `@{`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return refuse("it must not start or end with `/` or contain `//`");
    }
    if name.ends_with('.') {
        return refuse("it must not end with `.`");
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return refuse("no part of it may start with `.`");
        }
        if component.ends_with(".lock") {
            return refuse("no part of it may end with `.lock`");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_git_check_ref_format() {
        for good in [
            "main",
            "feature/x",
            "release-1.2",
            "a.b/c_d",
            "ünïcode",
            "a@b",
            "x/-y",
        ] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "HEAD",
            "@",
            "-x",
            "refs/heads/main",
            "refs/tags/v1",
            "a..b",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "a\tb",
            "a@{1}",
            "/a",
            "a/",
            "a//b",
            "a.",
            ".a",
            "a/.b",
            "a.lock",
            "a.lock/b",
        ] {
            assert!(validate(bad).is_err(), "accepted `{bad}`");
        }
        assert_eq!(
            validate("refs/heads/main").map_err(|e| e.to_string()),
            Err("`refs/heads/main` is not a valid branch name: give the branch's short name, `main`".into())
        );
    }

    /// The rules agree with `git check-ref-format --branch` itself (where git is installed),
    /// apart from gitsync's own refusals: full ref names, and `@` (which git reads as HEAD).
    #[test]
    fn agrees_with_git() {
        let Ok(probe) = std::process::Command::new("git").arg("--version").output() else {
            return;
        };
        if !probe.status.success() {
            return;
        }
        for name in [
            "main",
            "feature/x",
            "a..b",
            "-x",
            "HEAD",
            "a.lock",
            "a/.b",
            "a b",
            "a~",
            "a@{1}",
            "a/",
            "a.",
            "a//b",
            "x/-y",
            "a@b",
        ] {
            let git = std::process::Command::new("git")
                .args(["check-ref-format", "--branch", name])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert_eq!(validate(name).is_ok(), git, "`{name}`");
        }
    }
}
