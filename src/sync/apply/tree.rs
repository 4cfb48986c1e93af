//! Where an apply writes its rewrites: [`TreeSink`], a directory ([`DirSink`]) or a new commit on
//! a branch of a repository ([`CommitSink`], no work tree), and the path rules every write obeys.
//!
//! A sink is also the tree apply checks against the plan's fingerprint: what it holds now,
//! with this apply's own writes. Paths come from plan files and ids from the workspace, so every
//! path is checked ([`check_path`]) before anything is sent, and again before it is written: a
//! resource directory, then one `.tf` name, never outside the tree, never through a link.

use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::git::tree::Author;
use crate::model::ResourceType;
use crate::sync::tree::{Files, TreeReadError, read_dir_files, read_rev_files};

/// A write into the tree that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path} into {sink}: {message}")]
pub struct TreeWriteError {
    pub sink: String,
    pub path: String,
    pub message: String,
}

/// A path no step may write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` is not a resource file path: {why}")]
pub struct BadPath {
    pub path: String,
    pub why: &'static str,
}

/// `<resource directory>/<name>.tf`: one name, no leading dot (a hidden file is a file no one
/// reviews, and the tree readers skip it), no separator, no control character.
pub fn check_path(path: &str) -> Result<(), BadPath> {
    let bad = |why| BadPath {
        path: path.to_owned(),
        why,
    };
    let (sub, name) = path.split_once('/').ok_or_else(|| bad("no directory"))?;
    if ResourceType::from_directory(sub).is_none() {
        return Err(bad("not a resource directory"));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(bad("a file name holds a path separator"));
    }
    if name.starts_with('.') {
        return Err(bad("a file name starting with `.` is hidden"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("a file name holds a control character"));
    }
    if name.len() <= ".tf".len() || !name.ends_with(".tf") {
        return Err(bad("not a `.tf` file name"));
    }
    Ok(())
}

/// Where apply's rewrites go, and the tree it checks.
pub trait TreeSink: Send + Sync {
    /// The resource files as the tree holds them now.
    fn files(&self) -> Result<Files, TreeReadError>;
    /// Whether the tree holds a file at `path`.
    fn exists(&self, path: &str) -> bool;
    /// The bytes of the file at `path`, if the tree holds one (by default, from [`Self::files`]:
    /// a sink that can read one file alone does).
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.files()
            .ok()?
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, bytes)| bytes)
    }
    fn write(&mut self, path: &str, text: &str) -> Result<(), TreeWriteError>;
    /// Removes a file; a missing file is no error.
    fn remove(&mut self, path: &str) -> Result<(), TreeWriteError>;
    /// Writes `path` and removes `removed` (the file it replaces), in this order; a sink that
    /// can do both at once does.
    fn rewrite(
        &mut self,
        path: &str,
        text: &str,
        removed: Option<&str>,
    ) -> Result<(), TreeWriteError> {
        self.write(path, text)?;
        match removed {
            Some(old) => self.remove(old),
            None => Ok(()),
        }
    }
    fn describe(&self) -> String;
}

/// A directory (a checkout): rewrites are written in place, each atomically.
#[derive(Debug, Clone)]
pub struct DirSink {
    dir: PathBuf,
}

impl DirSink {
    pub fn new(dir: impl Into<PathBuf>) -> DirSink {
        DirSink { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file `path` names, refusing anything that is not a resource file of this tree.
    fn place(&self, path: &str) -> Result<PathBuf, TreeWriteError> {
        let err = |message: String| TreeWriteError {
            sink: self.describe(),
            path: path.to_owned(),
            message,
        };
        check_path(path).map_err(|e| err(e.why.to_owned()))?;
        let (sub, name) = path.split_once('/').unwrap_or_default();
        let sub_dir = self.dir.join(sub);
        if let Ok(meta) = std::fs::symlink_metadata(&sub_dir)
            && meta.file_type().is_symlink()
        {
            return Err(err("its directory is a symbolic link".into()));
        }
        Ok(sub_dir.join(name))
    }
}

impl TreeSink for DirSink {
    fn files(&self) -> Result<Files, TreeReadError> {
        read_dir_files(&self.dir)
    }

    fn exists(&self, path: &str) -> bool {
        self.place(path).is_ok_and(|p| p.exists())
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.place(path).ok()?).ok()
    }

    fn write(&mut self, path: &str, text: &str) -> Result<(), TreeWriteError> {
        let target = self.place(path)?;
        let err = |e: std::io::Error| TreeWriteError {
            sink: self.describe(),
            path: path.to_owned(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(target.parent().unwrap_or(&self.dir)).map_err(err)?;
        crate::sync::export::write_atomically(&target, text.as_bytes(), None, true).map_err(err)
    }

    fn remove(&mut self, path: &str) -> Result<(), TreeWriteError> {
        let target = self.place(path)?;
        match std::fs::remove_file(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TreeWriteError {
                sink: self.describe(),
                path: path.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A new commit on a branch of a repository (bare or not), on top of the commit the plan was
/// made from: the operator's way, ready to push. Every write replaces the branch's commit by
/// one holding all writes so far, still with the plan's commit as its only parent, so that the
/// branch always holds exactly this apply's rewrites and an apply killed in between resumes
/// from what the branch holds.
#[derive(Debug, Clone)]
pub struct CommitSink {
    repository: PathBuf,
    /// The commit the plan was made from: the new commit's parent.
    source: ObjectId,
    /// `refs/heads/<branch>`.
    reference: String,
    author: Author,
    message: String,
    /// The branch's commit: `source` until something is written.
    current: ObjectId,
}

impl CommitSink {
    /// Opens the sink on `branch`, resuming what an earlier run of this apply wrote there. A
    /// branch that holds anything else is refused (it is not this apply's to replace).
    pub fn open(
        repository: &Path,
        source: ObjectId,
        branch: &str,
        author: Author,
        message: &str,
    ) -> Result<CommitSink, TreeWriteError> {
        let reference = format!("refs/heads/{branch}");
        let err = |message: String| TreeWriteError {
            sink: format!("branch {branch} of {}", repository.display()),
            path: String::new(),
            message,
        };
        let repo = gix::open(repository).map_err(|e| err(e.to_string()))?;
        let current = match repo.try_find_reference(reference.as_str()) {
            Ok(Some(mut r)) => {
                let tip = r.peel_to_id().map_err(|e| err(e.to_string()))?.detach();
                let parents: Vec<ObjectId> = repo
                    .find_commit(tip)
                    .map_err(|e| err(e.to_string()))?
                    .parent_ids()
                    .map(|id| id.detach())
                    .collect();
                if tip != source && parents != [source] {
                    return Err(err(format!(
                        "the branch is at {tip}, which is neither the plan's commit {source} nor a commit on top of it; choose another branch"
                    )));
                }
                tip
            }
            Ok(None) => source,
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(CommitSink {
            repository: repository.to_path_buf(),
            source,
            reference,
            author,
            message: message.to_owned(),
            current,
        })
    }

    /// The branch's commit: the plan's commit when nothing was written.
    pub fn commit(&self) -> ObjectId {
        self.current
    }

    /// The tree this sink holds, as a [`crate::sync::tree::TreeSource`].
    pub fn source(&self) -> crate::sync::tree::GitTree {
        crate::sync::tree::GitTree {
            repository: self.repository.clone(),
            commit: self.current,
        }
    }

    /// One commit with every edit (`Some`: write, `None`: remove).
    fn edit(&mut self, edits: &[(&str, Option<&str>)]) -> Result<(), TreeWriteError> {
        let path = edits.first().map(|(p, _)| *p).unwrap_or_default();
        let err = |message: String| TreeWriteError {
            sink: self.describe(),
            path: path.to_owned(),
            message,
        };
        for (p, _) in edits {
            check_path(p).map_err(|e| TreeWriteError {
                sink: self.describe(),
                path: (*p).to_owned(),
                message: e.why.to_owned(),
            })?;
        }
        let repo = gix::open(&self.repository).map_err(|e| err(e.to_string()))?;
        let tree = repo
            .find_commit(self.current)
            .map_err(|e| err(e.to_string()))?
            .tree_id()
            .map_err(|e| err(e.to_string()))?
            .detach();
        let changes: Vec<(String, Option<String>)> = edits
            .iter()
            .map(|(p, t)| ((*p).to_owned(), t.map(str::to_owned)))
            .collect();
        let edited = crate::git::tree::edit_files(&repo, Some(tree), &changes)
            .map_err(|e| err(e.to_string()))?;
        if edited == tree {
            return Ok(());
        }
        let commit = crate::git::tree::commit(
            &repo,
            edited,
            Some(self.source),
            &self.author,
            &self.message,
        )
        .map_err(|e| err(e.to_string()))?;
        repo.reference(
            self.reference.as_str(),
            commit,
            // Where this sink left it (or missing): another writer's commit is never replaced.
            gix::refs::transaction::PreviousValue::ExistingMustMatch(gix::refs::Target::Object(
                self.current,
            )),
            "gitsync apply: rewrite",
        )
        .map_err(|e| err(e.to_string()))?;
        self.current = commit;
        Ok(())
    }
}

impl TreeSink for CommitSink {
    fn files(&self) -> Result<Files, TreeReadError> {
        read_rev_files(&self.repository, &self.current.to_string())
    }

    fn exists(&self, path: &str) -> bool {
        let Ok(repo) = gix::open(&self.repository) else {
            return false;
        };
        repo.find_commit(self.current)
            .ok()
            .and_then(|c| c.tree().ok())
            .and_then(|t| t.lookup_entry_by_path(path).ok().flatten())
            .is_some_and(|e| e.mode().is_blob())
    }

    fn write(&mut self, path: &str, text: &str) -> Result<(), TreeWriteError> {
        self.edit(&[(path, Some(text))])
    }

    fn remove(&mut self, path: &str) -> Result<(), TreeWriteError> {
        self.edit(&[(path, None)])
    }

    fn rewrite(
        &mut self,
        path: &str,
        text: &str,
        removed: Option<&str>,
    ) -> Result<(), TreeWriteError> {
        let mut edits = vec![(path, Some(text))];
        edits.extend(removed.map(|old| (old, None)));
        self.edit(&edits)
    }

    fn describe(&self) -> String {
        format!(
            "{} of {}",
            self.reference.trim_start_matches("refs/heads/"),
            self.repository.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resource_files_of_the_tree_are_paths_a_step_may_write() {
        let cases = [
            ("sources/abc.tf", None),
            ("labels/team_growth.tf", None),
            (
                "labels/.hidden.tf",
                Some("a file name starting with `.` is hidden"),
            ),
            ("labels/a/b.tf", Some("a file name holds a path separator")),
            ("labels/a\\b.tf", Some("a file name holds a path separator")),
            ("../etc/passwd.tf", Some("not a resource directory")),
            ("sources", Some("no directory")),
            (
                "sources/.tf",
                Some("a file name starting with `.` is hidden"),
            ),
            ("sources/abc.txt", Some("not a `.tf` file name")),
            (
                "sources/a\tb.tf",
                Some("a file name holds a control character"),
            ),
            ("notes/abc.tf", Some("not a resource directory")),
        ];
        for (path, want) in cases {
            assert_eq!(check_path(path).err().map(|e| e.why), want, "{path}");
        }
    }
}
