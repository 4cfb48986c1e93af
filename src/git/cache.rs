//! The cache: one bare repository per remote repository and branch, under a cache directory.
//!
//! The cache only ever holds what was fetched from the remote and the commits gitsync is about to
//! push; the branch itself is the truth. Losing the cache costs one full fetch and nothing else,
//! so this module never stores anything that exists nowhere else, and a cache repository that
//! cannot be read is re-created (with a warning) rather than reported as the remote's fault.
//! Its directory names never contain a credential of the URL.

use std::path::{Path, PathBuf};

use crate::url::redacted;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create the cache directory {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the cache repository {}: {message}; check that the cache directory is writable", path.display())]
    Open { path: PathBuf, message: String },
    #[error("no cache directory: neither XDG_CACHE_HOME nor HOME is set; pass --cache DIR")]
    NoDefaultDir,
}

/// The longest readable part of a cache repository's name (the rest is a hash and `.git`), well
/// under the 255 bytes file systems allow in a name.
const READABLE: usize = 80;

/// The default cache directory of the command line: `$XDG_CACHE_HOME/gitsync/repositories`, or
/// `~/.cache/gitsync/repositories` (never the current directory, which is often a checkout).
pub fn default_dir() -> Result<PathBuf, CacheError> {
    let from = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".cache")))
        .ok_or(CacheError::NoDefaultDir)?;
    Ok(base.join("gitsync").join("repositories"))
}

/// The cache repository's path for `url` and `branch` under `dir`: a short readable name (host,
/// path and branch of the URL without its credentials, file-system-safe and truncated) so that an
/// operator can tell which directory is which, then a hash of the whole (credential-free) URL
/// and branch, so that distinct repositories never share a directory. URLs that differ only in
/// their credentials name the same repository, and share it.
pub fn path_for(dir: &Path, url: &str, branch: &str) -> PathBuf {
    let shown = redacted(url);
    let without_scheme = shown.split_once("://").map_or(shown.as_str(), |(_, r)| r);
    let mut name: String = format!("{without_scheme}_{branch}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(READABLE)
        .collect();
    // Never `.` or `..`, nor a hidden directory.
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    let key = fnv1a64(format!("{shown}\n{branch}").as_bytes());
    dir.join(format!("{name}-{key:016x}.git"))
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms (unlike `DefaultHasher`), so a
/// cache keeps its name from one gitsync version to the next. Its input holds no secret.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How the cache repositories are opened: without the host's system, installation and user
/// configuration or `GIT_CONFIG_*` variables (a `url.insteadOf` there must not redirect a fetch).
pub fn open_options() -> gix::open::Options {
    let mut permissions = gix::open::Permissions::default();
    permissions.config = gix::open::permissions::Config {
        git_binary: false,
        system: false,
        git: false,
        user: false,
        env: false,
        includes: false,
    };
    gix::open::Options::default().permissions(permissions)
}

/// Opens the cache repository for `url` and `branch`, creating it (bare, empty) the first time.
/// A repository that cannot be opened or whose synced commits cannot be read is re-created, with
/// a warning: the next fetch downloads the branch again.
pub fn open(dir: &Path, url: &str, branch: &str) -> Result<gix::Repository, CacheError> {
    let path = path_for(dir, url, branch);
    std::fs::create_dir_all(dir).map_err(|source| CacheError::CreateDir {
        dir: dir.to_owned(),
        source,
    })?;
    if path.exists() {
        match gix::open_opts(&path, open_options())
            .map_err(|e| e.to_string())
            .and_then(|repo| {
                check(&repo)?;
                Ok(repo)
            }) {
            Ok(repo) => return Ok(repo),
            Err(problem) => recreate(&path, &problem)?,
        }
    }
    create_at(&path)
}

/// Checks that every commit the cache synced (the `refs/remotes/gitsync/*` refs) and its tree can
/// be read: what the next fetch and commit start from.
pub fn check(repo: &gix::Repository) -> Result<(), String> {
    let refs = repo.references().map_err(|e| e.to_string())?;
    let synced = refs
        .prefixed("refs/remotes/gitsync/")
        .map_err(|e| e.to_string())?;
    for reference in synced {
        let mut reference = reference.map_err(|e| e.to_string())?;
        let name = reference.name().as_bstr().to_string();
        let commit = reference
            .peel_to_commit()
            .map_err(|e| format!("{name}: {e}"))?;
        commit
            .tree()
            .map_err(|e| format!("{name}: the tree of {}: {e}", commit.id))?;
    }
    Ok(())
}

/// Replaces the damaged cache repository at `path` by an empty one, and says so.
pub fn recreate(path: &Path, problem: &str) -> Result<(), CacheError> {
    tracing::warn!(
        cache = %path.display(),
        problem,
        "the cache repository was corrupt and was re-created; the next fetch downloads the branch again"
    );
    // Moved aside first, so that no other process ever sees a half-deleted repository.
    let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
    let removed = std::fs::rename(path, &aside).and_then(|()| std::fs::remove_dir_all(&aside));
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CacheError::Open {
            path: path.to_owned(),
            message: format!("it is corrupt ({problem}) and cannot be removed: {e}"),
        }),
    }
}

/// Creates the empty bare repository at `path`: made beside it and renamed into place, so that
/// concurrent gitsync processes sharing a cache directory never see a half-made one (the loser
/// of a race opens the winner's).
pub fn create_at(path: &Path) -> Result<gix::Repository, CacheError> {
    let fail = |message: String| CacheError::Open {
        path: path.to_owned(),
        message,
    };
    let staging = path.with_extension(format!("new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    gix::ThreadSafeRepository::init_opts(
        &staging,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(),
    )
    .map_err(|e| fail(e.to_string()))?;
    if let Err(e) = std::fs::rename(&staging, path) {
        let _ = std::fs::remove_dir_all(&staging);
        if !path.exists() {
            return Err(fail(e.to_string()));
        }
    }
    gix::open_opts(path, open_options()).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_whose_synced_commit_is_gone_is_recreated() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = "file:///nowhere.git";
        let repo = open(dir.path(), url, "main").unwrap_or_else(|e| panic!("{e}"));
        let empty = repo.empty_tree().id;
        let author = crate::git::tree::Author {
            name: "t".into(),
            email: "t@example.com".into(),
        };
        let c = crate::git::tree::commit(&repo, empty, None, &author, "x")
            .unwrap_or_else(|e| panic!("{e}"));
        repo.reference(
            "refs/remotes/gitsync/main",
            c,
            gix::refs::transaction::PreviousValue::Any,
            "test",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check(&repo), Ok(()));
        let path = repo.path().to_owned();
        drop(repo);
        std::fs::remove_dir_all(path.join("objects")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(path.join("objects/pack")).unwrap_or_else(|e| panic!("{e}"));
        let damaged = gix::open_opts(&path, open_options()).unwrap_or_else(|e| panic!("{e}"));
        assert!(check(&damaged).is_err());
        let reopened = open(dir.path(), url, "main").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reopened.path(), path);
        assert!(
            reopened
                .find_reference("refs/remotes/gitsync/main")
                .is_err()
        );
    }

    #[test]
    fn cache_names_are_readable_short_distinct_and_secret_free() {
        let dir = Path::new("/c");
        let a = path_for(dir, "https://user:PASS@git.example/team/repo.git", "main");
        let name = a.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        assert!(!name.contains("PASS") && !name.contains("user"), "{name}");
        assert!(
            name.starts_with("git.example_team_repo.git_main-"),
            "{name}"
        );
        // The same repository with other credentials: the same cache.
        assert_eq!(
            a,
            path_for(dir, "https://git.example/team/repo.git", "main")
        );
        // Another branch, or a URL that sanitizes to the same name: another cache.
        assert_ne!(a, path_for(dir, "https://git.example/team/repo.git", "dev"));
        assert_ne!(
            path_for(dir, "https://h/a_b.git", "main"),
            path_for(dir, "https://h/a/b.git", "main")
        );
        // A URL of 400 characters still gives a name a file system takes.
        let long = format!("https://git.example/{}.git", "x".repeat(400));
        let long_name = path_for(dir, &long, "main");
        let long_name = long_name.file_name().map(|n| n.len()).unwrap_or(usize::MAX);
        assert!(long_name < 120, "{long_name}");
    }
}
