//! Where a Git Sync tree's files come from: a directory, or a revision of a Git repository.
//!
//! This module owns finding and reading the resource files (`sources/*.tf`, `destinations/*.tf`,
//! ... one directory per [`ResourceType`]); parsing them is [`crate::hcl::tree`]'s, which reports
//! every bad file at once. The raw bytes are available separately so that a plan can compare
//! bytes and parse only the files that changed.
//!
//! Trees come from pull requests, so links are never followed: a resource directory or file
//! that is a symbolic link is an error naming it (a link could make gitsync read, and a plan
//! send, a file from outside the tree). Files outside the resource directories (a README,
//! `providers.tf`) are not read.

use std::path::{Path, PathBuf};

use crate::hcl::tree::{TreeErrors, parse_files};
use crate::model::{Resource, ResourceType};

/// Files of a tree: path relative to the tree root (`sources/abc.tf`) and bytes.
pub type Files = Vec<(String, Vec<u8>)>;

/// Why a tree cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeReadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a directory: a Git Sync tree is the directory holding sources/, destinations/, ..."
    )]
    NotATree { path: PathBuf },
    #[error("{path} is not a directory; in a Git Sync tree it holds one resource per *.tf file")]
    NotADirectory { path: String },
    #[error(
        "{path} is a symbolic link; gitsync reads only the tree's own files and never follows links (put the file or directory itself there)"
    )]
    Symlink { path: String },
    #[error("{path} is not inside a Git repository: {message}")]
    NoRepository { path: PathBuf, message: String },
    #[error("{path} is not inside the work tree of the repository at {repository}")]
    OutsideWorkTree { path: PathBuf, repository: PathBuf },
    #[error("cannot resolve the revision `{rev}` in {repository}: {message}")]
    Revision {
        rev: String,
        repository: PathBuf,
        message: String,
    },
    #[error("`{path}` does not exist at revision `{rev}`")]
    NotAtRevision { rev: String, path: String },
    #[error("cannot read `{path}` at revision `{rev}`: {message}")]
    Git {
        rev: String,
        path: String,
        message: String,
    },
    #[error(transparent)]
    Parse(#[from] TreeErrors),
}

/// The bytes of every `*.tf` file directly in the resource directories of the tree at `dir`, in
/// path order. A missing resource directory is a type with no resources; a missing tree is an
/// error (a typo in a path must not quietly give an empty tree).
pub fn read_dir_files(dir: &Path) -> Result<Files, TreeReadError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(TreeReadError::NotATree {
                path: dir.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(TreeReadError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    let mut files = Vec::new();
    for ty in ResourceType::ALL {
        let directory = ty.kind().directory;
        let sub = dir.join(directory);
        let shown = || sub.display().to_string();
        match std::fs::symlink_metadata(&sub) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(TreeReadError::Symlink { path: shown() });
            }
            Ok(m) if !m.is_dir() => return Err(TreeReadError::NotADirectory { path: shown() }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(TreeReadError::Read { path: sub, source }),
        }
        let read_err = |path: &Path, source| TreeReadError::Read {
            path: path.to_path_buf(),
            source,
        };
        for entry in std::fs::read_dir(&sub).map_err(|e| read_err(&sub, e))? {
            let entry = entry.map_err(|e| read_err(&sub, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".tf") {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| read_err(&path, e))?;
            if file_type.is_symlink() {
                return Err(TreeReadError::Symlink {
                    path: path.display().to_string(),
                });
            }
            if !file_type.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| read_err(&path, e))?;
            files.push((format!("{directory}/{name}"), bytes));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The same files as [`read_dir_files`] finds, as they are in revision `rev` (anything git
/// names a commit or tree by: `HEAD~1`, `origin/main`, an id) of the repository holding `dir`,
/// at the place `dir` has in the repository's work tree.
pub fn read_rev_files(dir: &Path, rev: &str) -> Result<Files, TreeReadError> {
    let repo = gix::discover(dir).map_err(|e| TreeReadError::NoRepository {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let prefix = prefix_in_repository(&repo, dir)?;
    let git_err = |path: &str, e: gix::Error| TreeReadError::Git {
        rev: rev.to_owned(),
        path: path.to_owned(),
        message: e.to_string(),
    };
    let root = repo
        .rev_parse_single(rev)
        .and_then(|id| id.object())
        .and_then(|object| object.peel_to_tree())
        .map_err(|e| TreeReadError::Revision {
            rev: rev.to_owned(),
            repository: repo.workdir().unwrap_or(repo.git_dir()).to_path_buf(),
            message: e.to_string(),
        })?;
    let tree = if prefix.is_empty() {
        root
    } else {
        let entry = root
            .lookup_entry_by_path(&prefix)
            .map_err(|e| git_err(&prefix, e))?
            .ok_or_else(|| TreeReadError::NotAtRevision {
                rev: rev.to_owned(),
                path: prefix.clone(),
            })?;
        if !entry.mode().is_tree() {
            return Err(TreeReadError::NotATree {
                path: dir.to_path_buf(),
            });
        }
        entry.object().map_err(|e| git_err(&prefix, e))?.into_tree()
    };
    let shown = |path: &str| {
        if prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{prefix}/{path}")
        }
    };
    let mut files = Vec::new();
    for ty in ResourceType::ALL {
        let directory = ty.kind().directory;
        let Some(entry) = tree
            .lookup_entry_by_path(directory)
            .map_err(|e| git_err(&shown(directory), e))?
        else {
            continue;
        };
        let mode = entry.mode();
        if mode.is_link() {
            return Err(TreeReadError::Symlink {
                path: shown(directory),
            });
        }
        if !mode.is_tree() {
            return Err(TreeReadError::NotADirectory {
                path: shown(directory),
            });
        }
        let subtree = entry
            .object()
            .map_err(|e| git_err(&shown(directory), e))?
            .into_tree();
        let decoded = subtree
            .decode()
            .map_err(|e| git_err(&shown(directory), e))?;
        for e in &decoded.entries {
            let name = e.filename.to_string();
            if !name.ends_with(".tf") {
                continue;
            }
            let path = format!("{directory}/{name}");
            if e.mode.is_link() {
                return Err(TreeReadError::Symlink { path: shown(&path) });
            }
            if !e.mode.is_blob() {
                continue;
            }
            let blob = repo
                .find_object(e.oid)
                .map_err(|err| git_err(&shown(&path), err))?;
            files.push((path, blob.data.clone()));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Where `dir` is inside the repository's work tree, `/`-separated (`""` at its root).
fn prefix_in_repository(repo: &gix::Repository, dir: &Path) -> Result<String, TreeReadError> {
    let Some(workdir) = repo.workdir() else {
        // A bare repository: its trees have no place on disk, so `dir` names the root.
        return Ok(String::new());
    };
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| TreeReadError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let (dir_c, workdir_c) = (canonical(dir)?, canonical(workdir)?);
    let rel = dir_c
        .strip_prefix(&workdir_c)
        .map_err(|_| TreeReadError::OutsideWorkTree {
            path: dir.to_path_buf(),
            repository: workdir.to_path_buf(),
        })?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

/// Where a plan's tree is read from: a directory, or a commit of a Git repository. The engine
/// takes either the same way ([`crate::sync::plan::plan_tree`], apply's tree check).
pub trait TreeSource: Send + Sync {
    /// The resource files, as [`read_dir_files`] finds them.
    fn files(&self) -> Result<Files, TreeReadError>;
    /// Where the tree is, for messages and the plan's record.
    fn describe(&self) -> String;
    /// The commit the tree is, when it is one (a base revision is resolved against it).
    fn commit(&self) -> Option<gix::ObjectId> {
        None
    }
    /// The repository holding the tree, when there is one (for `--base`).
    fn repository(&self) -> Option<&Path> {
        None
    }
    /// The directory the tree is, when it is one.
    fn directory(&self) -> Option<&Path> {
        None
    }
}

/// A tree in a directory (a checkout).
#[derive(Debug, Clone)]
pub struct DirTree {
    pub dir: PathBuf,
}

impl DirTree {
    pub fn new(dir: impl Into<PathBuf>) -> DirTree {
        DirTree { dir: dir.into() }
    }
}

impl TreeSource for DirTree {
    fn files(&self) -> Result<Files, TreeReadError> {
        read_dir_files(&self.dir)
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn commit(&self) -> Option<gix::ObjectId> {
        // The commit checked out, when the directory is a repository's work tree.
        let repo = gix::discover(&self.dir).ok()?;
        repo.head_id().ok().map(|id| id.detach())
    }

    fn repository(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn directory(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}

/// The tree of a commit, by id, in a repository (bare or not): the operator's cache and a pull
/// request's head, with no work tree.
#[derive(Debug, Clone)]
pub struct GitTree {
    /// The repository (its git directory for a bare one).
    pub repository: PathBuf,
    pub commit: gix::ObjectId,
}

impl TreeSource for GitTree {
    fn files(&self) -> Result<Files, TreeReadError> {
        read_rev_files(&self.repository, &self.commit.to_string())
    }

    fn describe(&self) -> String {
        format!("commit {} of {}", self.commit, self.repository.display())
    }

    fn commit(&self) -> Option<gix::ObjectId> {
        Some(self.commit)
    }

    fn repository(&self) -> Option<&Path> {
        Some(&self.repository)
    }
}

/// Where `rev` and `head` last met: the base a change made on top of `head`'s branch is
/// planned from (`--base main` on a branch behind main plans the branch's own work, not the
/// undoing of main's). `Ok(None)` when they share no history.
pub fn merge_base(
    repository: &Path,
    rev: &str,
    head: gix::ObjectId,
) -> Result<(gix::ObjectId, Option<gix::ObjectId>), TreeReadError> {
    let repo = gix::discover(repository).map_err(|e| TreeReadError::NoRepository {
        path: repository.to_path_buf(),
        message: e.to_string(),
    })?;
    let bad = |message: String| TreeReadError::Revision {
        rev: rev.to_owned(),
        repository: repo.workdir().unwrap_or(repo.git_dir()).to_path_buf(),
        message,
    };
    let rev_id = repo
        .rev_parse_single(rev)
        .and_then(|id| id.object())
        .map_err(|e| bad(e.to_string()))?
        .peel_to_commit()
        .map_err(|e| bad(e.to_string()))?
        .id;
    let base = repo
        .merge_base(rev_id, head)
        .map_err(|e| bad(e.to_string()))?;
    Ok((rev_id, base.map(|b| b.detach())))
}

/// Reads and parses the tree at `dir`: every resource, sorted by path, or every bad file.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, Resource)>, TreeReadError> {
    Ok(parse_files(read_dir_files(dir)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "import {\n  to = segment_label.id-env_dev\n  id = \"env:dev\"\n}\n\nresource \"segment_label\" \"id-env_dev\" {\n  key   = \"env\"\n  value = \"dev\"\n}\n";

    fn write(root: &Path, path: &str, text: &str) {
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(file, text).unwrap_or_else(|e| panic!("{e}"));
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_directory_gives_the_tf_files_of_its_resource_directories_only() {
        let dir = tempdir();
        write(dir.path(), "labels/env_dev.tf", LABEL);
        write(dir.path(), "labels/README.md", "not a resource");
        write(dir.path(), "providers.tf", "terraform {}");
        write(dir.path(), "other/x.tf", "not read");
        let files = read_dir_files(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["labels/env_dev.tf"]);
        let parsed = read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed[0].1.ty, ResourceType::Label);
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let dir = tempdir();
        let missing = dir.path().join("nope");
        let err = read_dir_files(&missing)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.starts_with(&format!("cannot read {}", missing.display()))),
            "{err:?}"
        );
        write(dir.path(), "file", "x");
        let err = read_dir_files(&dir.path().join("file")).map(|_| ());
        assert!(
            matches!(err, Err(TreeReadError::NotATree { .. })),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_never_followed() {
        let outside = tempdir();
        write(outside.path(), "labels/env_dev.tf", LABEL);
        let dir = tempdir();
        std::fs::create_dir(dir.path().join("sources")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(
            outside.path().join("labels/env_dev.tf"),
            dir.path().join("sources/x.tf"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = read_dir_files(dir.path())
            .map(|_| ())
            .map_err(|e| e.to_string());
        let link = dir.path().join("sources/x.tf").display().to_string();
        assert_eq!(
            err,
            Err(format!(
                "{link} is a symbolic link; gitsync reads only the tree's own files and never follows links (put the file or directory itself there)"
            ))
        );

        let dir = tempdir();
        std::os::unix::fs::symlink(outside.path().join("labels"), dir.path().join("labels"))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = read_dir_files(dir.path()).map(|_| ());
        assert!(
            matches!(&err, Err(TreeReadError::Symlink { path }) if path.ends_with("labels")),
            "{err:?}"
        );
    }

    #[test]
    fn a_revision_gives_the_files_as_committed_under_the_directory() {
        let dir = tempdir();
        let repo = gix::init(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let author = crate::git::tree::Author {
            name: "t".into(),
            email: "t@example.com".into(),
        };
        let mut committed = std::collections::BTreeMap::new();
        committed.insert("segment/labels/env_dev.tf".to_owned(), LABEL.to_owned());
        let tree = crate::git::tree::apply(&repo, None, &["segment"], &committed)
            .unwrap_or_else(|e| panic!("{e}"));
        let commit = crate::git::tree::commit(&repo, tree, None, &author, "first")
            .unwrap_or_else(|e| panic!("{e}"));
        repo.reference(
            "refs/heads/main",
            commit,
            gix::refs::transaction::PreviousValue::Any,
            "test",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The work tree holds something else: the revision's files are what count.
        write(dir.path(), "segment/labels/other.tf", "changed");

        let files = read_rev_files(&dir.path().join("segment"), "refs/heads/main")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            files,
            vec![("labels/env_dev.tf".to_owned(), LABEL.as_bytes().to_vec())]
        );
        let files = read_rev_files(&dir.path().join("segment"), &commit.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(files.len(), 1);

        // A link committed in a resource directory is refused, as on disk.
        let link = repo
            .write_blob(b"../../etc/passwd")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut editor = repo
            .find_tree(tree)
            .and_then(|t| t.edit())
            .unwrap_or_else(|e| panic!("{e}"));
        editor
            .upsert(
                "segment/sources/x.tf",
                gix::objs::tree::EntryKind::Link,
                link.detach(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let with_link = editor.write().unwrap_or_else(|e| panic!("{e}")).detach();
        let err = read_rev_files(&dir.path().join("segment"), &with_link.to_string())
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.starts_with("segment/sources/x.tf is a symbolic link")),
            "{err:?}"
        );

        let err = read_rev_files(&dir.path().join("segment"), "no-such-branch")
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.starts_with("cannot resolve the revision `no-such-branch` in ")),
            "{err:?}"
        );
    }
}
