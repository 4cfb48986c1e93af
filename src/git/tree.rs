//! Applying a rendered tree to a Git tree, and committing it.
//!
//! gitsync manages some directories of a repository (`sources/`, `destinations/`, ...) and must
//! leave everything else as it is: a README, `providers.tf`, CI files. [`apply`] takes a base
//! tree and replaces the contents of the managed directories with the rendered files, through
//! gix's tree editor (no work tree, no index). Trees are content-addressed, so an unchanged
//! workspace gives back the base tree's id, and the caller makes no commit.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::objs::tree::EntryKind;

/// What went wrong writing Git objects.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot read the base tree {id}: {message}")]
    BaseTree { id: ObjectId, message: String },
    #[error("cannot write {path} into the tree: {message}")]
    Write { path: String, message: String },
    #[error("cannot write the commit: {message}")]
    Commit { message: String },
}

/// Returns the id of `base` (or the empty tree) with each directory in `managed` holding exactly
/// the files of `files` under it. Paths in `files` are repository-relative (`sources/abc.tf`); a
/// file outside the managed directories is an error, never written silently.
pub fn apply(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    managed: &[&str],
    files: &BTreeMap<String, String>,
) -> Result<ObjectId, TreeError> {
    let mut editor = editor_over(repo, base)?;
    for dir in managed {
        editor.remove(*dir).map_err(|e| TreeError::Write {
            path: (*dir).to_owned(),
            message: e.to_string(),
        })?;
    }
    for (path, text) in files {
        let in_managed = managed.iter().any(|d| {
            path.strip_prefix(d)
                .is_some_and(|rest| rest.starts_with('/'))
        });
        if !in_managed {
            return Err(TreeError::Write {
                path: path.clone(),
                message: "outside the managed directories".into(),
            });
        }
        put_file(repo, &mut editor, path, text)?;
    }
    let id = editor.write().map_err(|e| TreeError::Write {
        path: "/".into(),
        message: e.to_string(),
    })?;
    Ok(id.detach())
}

/// Writes `text` as a blob and puts it at `path` in the tree being edited.
fn put_file(
    repo: &gix::Repository,
    editor: &mut gix::object::tree::Editor<'_>,
    path: &str,
    text: &str,
) -> Result<(), TreeError> {
    let write_err = |message: String| TreeError::Write {
        path: path.to_owned(),
        message,
    };
    let blob = repo
        .write_blob(text.as_bytes())
        .map_err(|e| write_err(e.to_string()))?;
    editor
        .upsert(path, EntryKind::Blob, blob.detach())
        .map_err(|e| write_err(e.to_string()))?;
    Ok(())
}

/// A tree editor over `base`, or over the empty tree.
fn editor_over(
    repo: &gix::Repository,
    base: Option<ObjectId>,
) -> Result<gix::object::tree::Editor<'_>, TreeError> {
    let base_tree = match base {
        Some(id) => repo.find_tree(id).map_err(|e| TreeError::BaseTree {
            id,
            message: e.to_string(),
        })?,
        None => repo.empty_tree(),
    };
    base_tree.edit().map_err(|e| TreeError::BaseTree {
        id: base_tree.id,
        message: e.to_string(),
    })
}

/// Who a commit is by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// Writes a commit of `tree` on top of `parent` (no reference is moved: the push publishes it).
pub fn commit(
    repo: &gix::Repository,
    tree: ObjectId,
    parent: Option<ObjectId>,
    author: &Author,
    message: &str,
) -> Result<ObjectId, TreeError> {
    let signature = gix::actor::Signature {
        name: author.name.as_str().into(),
        email: author.email.as_str().into(),
        time: gix::date::Time::now_local_or_utc(),
    };
    let mut buf = gix::date::parse::TimeBuf::default();
    let sig = signature.to_ref(&mut buf);
    let commit = repo
        .new_commit_as(sig, sig, message, tree, parent)
        .map_err(|e| TreeError::Commit {
            message: e.to_string(),
        })?;
    Ok(commit.id)
}

/// Returns `base` with single files written (`Some`) or removed (`None`), everything else as it
/// was. Removing a file that is not there changes nothing.
pub fn edit_files(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    changes: &[(String, Option<String>)],
) -> Result<ObjectId, TreeError> {
    let mut editor = editor_over(repo, base)?;
    for (path, content) in changes {
        let write_err = |e: gix::Error| TreeError::Write {
            path: path.clone(),
            message: e.to_string(),
        };
        match content {
            Some(text) => {
                put_file(repo, &mut editor, path, text)?;
            }
            None => {
                editor.remove(path.as_str()).map_err(write_err)?;
            }
        }
    }
    let id = editor.write().map_err(|e| TreeError::Write {
        path: "/".into(),
        message: e.to_string(),
    })?;
    Ok(id.detach())
}

/// The names of the files directly in directory `dir` of tree `tree` (empty if it has none).
pub fn file_names(repo: &gix::Repository, tree: Option<ObjectId>, dir: &str) -> Vec<String> {
    let Some(tree) = tree.and_then(|t| repo.find_tree(t).ok()) else {
        return Vec::new();
    };
    let Ok(Some(entry)) = tree.lookup_entry_by_path(dir) else {
        return Vec::new();
    };
    let Ok(subtree) = entry.object().map(|o| o.into_tree()) else {
        return Vec::new();
    };
    let Ok(decoded) = subtree.decode() else {
        return Vec::new();
    };
    decoded
        .entries
        .iter()
        .map(|e| e.filename.to_string())
        .collect()
}

/// The text of file `path` (repository-relative) in tree `tree`, if there is such a file and it
/// is UTF-8.
pub fn read_file(repo: &gix::Repository, tree: Option<ObjectId>, path: &str) -> Option<String> {
    let entry = repo
        .find_tree(tree?)
        .ok()?
        .lookup_entry_by_path(path)
        .ok()??;
    if !entry.mode().is_blob() {
        return None;
    }
    let blob = entry.object().ok()?;
    String::from_utf8(blob.data.clone()).ok()
}

/// The files directly in directory `dir` of tree `tree`, as repository-relative path -> text
/// (empty if there is no such directory). A file that is not UTF-8 is read lossily: gitsync only
/// ever compares these with what it renders, and such a file differs from any rendering.
pub fn read_files(
    repo: &gix::Repository,
    tree: Option<ObjectId>,
    dir: &str,
) -> Result<BTreeMap<String, String>, TreeError> {
    let mut files = BTreeMap::new();
    let Some(tree) = tree else {
        return Ok(files);
    };
    let read_err = |message: String| TreeError::BaseTree { id: tree, message };
    let root = repo.find_tree(tree).map_err(|e| read_err(e.to_string()))?;
    let Some(entry) = root
        .lookup_entry_by_path(dir)
        .map_err(|e| read_err(e.to_string()))?
    else {
        return Ok(files);
    };
    if !entry.mode().is_tree() {
        return Ok(files);
    }
    let subtree = entry
        .object()
        .map_err(|e| read_err(e.to_string()))?
        .into_tree();
    let decoded = subtree.decode().map_err(|e| read_err(e.to_string()))?;
    for e in &decoded.entries {
        if !e.mode.is_blob() {
            continue;
        }
        let blob = repo
            .find_object(e.oid)
            .map_err(|err| read_err(err.to_string()))?;
        files.insert(
            format!("{dir}/{}", e.filename),
            String::from_utf8_lossy(&blob.data).into_owned(),
        );
    }
    Ok(files)
}
