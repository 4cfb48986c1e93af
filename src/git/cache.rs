//! The cache: one bare repository per remote repository and branch, under a cache directory.
//!
//! The cache only ever holds what was fetched from the remote and the commits gitsync is about to
//! push; the branch itself is the truth. Losing the cache costs one full fetch and nothing else,
//! so this module never stores anything that exists nowhere else.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create the cache directory {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the cache repository {}: {message}; delete it and gitsync will fetch again", path.display())]
    Open { path: PathBuf, message: String },
}

/// The cache repository's path for `url` and `branch` under `dir`: a readable, file-system-safe
/// name, so that an operator can tell which directory is which.
pub fn path_for(dir: &Path, url: &str, branch: &str) -> PathBuf {
    let name: String = format!("{url}#{branch}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.git"))
}

/// Opens the cache repository for `url` and `branch`, creating it (bare, empty) the first time.
pub fn open(dir: &Path, url: &str, branch: &str) -> Result<gix::Repository, CacheError> {
    let path = path_for(dir, url, branch);
    std::fs::create_dir_all(dir).map_err(|source| CacheError::CreateDir {
        dir: dir.to_owned(),
        source,
    })?;
    let opened = if path.exists() {
        gix::open(&path).map_err(|e| e.to_string())
    } else {
        gix::init_bare(&path).map_err(|e| e.to_string())
    };
    opened.map_err(|message| CacheError::Open { path, message })
}
