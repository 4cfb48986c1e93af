//! Export: the whole workspace (or some types of it) as the Git Sync tree, one file per resource.
//!
//! [`render_workspace`] produces the tree in memory (path -> bytes); [`write_tree`] writes it into
//! a directory, replacing the contents of the resource directories it covers and nothing else:
//! a README, `providers.tf` or CI files beside them stay as they are.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::hcl::{RenderError, render};
use crate::model::{Resource, ResourceType};
use crate::workspace::{Workspace, WorkspaceError};

/// The rendered tree: repository-relative path -> file contents.
pub type Tree = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading {ty} from the workspace: {source}")]
    Workspace {
        ty: ResourceType,
        source: WorkspaceError,
    },
    #[error("rendering {ty} `{id}`: {source}")]
    Render {
        ty: ResourceType,
        id: String,
        source: RenderError,
    },
    #[error("two {ty} resources map to the same file {path}")]
    DuplicatePath { ty: ResourceType, path: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Something to tell about progress: called after each type with (type, resources so far).
pub trait Progress {
    fn listed(&mut self, ty: ResourceType, count: usize);
}

/// No progress output.
pub struct Quiet;

impl Progress for Quiet {
    fn listed(&mut self, _: ResourceType, _: usize) {}
}

/// Lists every resource of `types` and renders them, in Git Sync's layout.
pub async fn render_workspace<W: Workspace>(
    workspace: &W,
    types: &[ResourceType],
    progress: &mut (dyn Progress + Send),
) -> Result<(Tree, BTreeMap<ResourceType, usize>), ExportError> {
    let mut tree = Tree::new();
    let mut counts = BTreeMap::new();
    for &ty in types {
        let resources = workspace
            .list(ty)
            .await
            .map_err(|source| ExportError::Workspace { ty, source })?;
        for resource in &resources {
            let (path, text) = render_file(resource)?;
            if tree.insert(path.clone(), text).is_some() {
                return Err(ExportError::DuplicatePath { ty, path });
            }
        }
        counts.insert(ty, resources.len());
        progress.listed(ty, resources.len());
    }
    Ok((tree, counts))
}

/// The id Segment (and its audit trail) knows a resource by: its own id, or its import id for
/// types without one (labels: `key:value`).
pub fn identity(resource: &Resource) -> String {
    resource
        .id
        .clone()
        .unwrap_or_else(|| resource.import_id().unwrap_or_default())
}

/// One resource as its Git Sync file: (repository-relative path, contents).
pub fn render_file(resource: &Resource) -> Result<(String, String), ExportError> {
    let render_err = |source| ExportError::Render {
        ty: resource.ty,
        id: identity(resource),
        source,
    };
    let path = resource
        .path()
        .map_err(|e| render_err(RenderError::Identity(e)))?;
    let text = render(resource).map_err(render_err)?;
    Ok((path, text))
}

/// What [`write_tree`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// Makes the resource directories of `types` under `dir` hold exactly `tree`: new and changed
/// files are written (atomically, each through a temporary file), files of resources that no
/// longer exist are removed, identical files are left alone. Nothing outside those directories
/// is touched.
pub fn write_tree(
    dir: &Path,
    types: &[ResourceType],
    tree: &Tree,
) -> Result<WriteSummary, ExportError> {
    let mut summary = WriteSummary::default();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Write { path, source }
    };
    for ty in types {
        let sub = dir.join(ty.kind().directory);
        if let Ok(entries) = std::fs::read_dir(&sub) {
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                let rel = format!(
                    "{}/{}",
                    ty.kind().directory,
                    entry.file_name().to_string_lossy()
                );
                if path.extension().is_some_and(|x| x == "tf") && !tree.contains_key(&rel) {
                    std::fs::remove_file(&path).map_err(io(&path))?;
                    summary.removed += 1;
                }
            }
        }
    }
    for (rel, text) in tree {
        let path = dir.join(rel);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            summary.unchanged += 1;
            continue;
        }
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
        tmp.write_all(text.as_bytes()).map_err(io(&path))?;
        tmp.persist(&path).map_err(|e| ExportError::Write {
            path: path.clone(),
            source: e.error,
        })?;
        summary.written += 1;
    }
    Ok(summary)
}
