//! Export: the whole workspace (or some types of it) as the Git Sync tree, one file per resource.
//!
//! [`render_workspace`] produces the tree in memory (path -> bytes); [`write_tree`] writes it into
//! a directory, replacing the contents of the resource directories it covers and nothing else:
//! a README, `providers.tf` or CI files beside them stay as they are.
//!
//! Writing never follows a symbolic link out of the target: a resource directory or file that
//! is a link is refused before anything is written or removed. Temporary files are named
//! [`TEMP_PREFIX`]`...`, so that leftovers of a killed run are recognisably gitsync's own; the
//! next export removes them.

use std::collections::BTreeMap;
use std::fs::Permissions;
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
    #[error(
        "{path} is a symbolic link; export writes only inside the output directory and never follows links, so nothing was written: replace the link with a real {what}"
    )]
    Symlink { path: PathBuf, what: &'static str },
    #[error("{path} is not a directory; nothing was written")]
    NotADirectory { path: PathBuf },
}

/// The name prefix of gitsync's temporary files, beside the file they will replace.
pub const TEMP_PREFIX: &str = ".gitsync-tmp-";

/// Writes `bytes` to `path` through a temporary file in the same directory renamed over it, so
/// that a reader (or a crash) sees the old content or the new, never half of it. The new file
/// gets `permissions`, or, like any file a tool creates, 0666 less the umask. With `sync` the
/// data reaches the disk before the rename.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    permissions: Option<Permissions>,
    sync: bool,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    let default = <Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666);
    #[cfg(unix)]
    builder.permissions(default);
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Some(permissions) = permissions {
        tmp.as_file().set_permissions(permissions)?;
    }
    if sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
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

/// The types a sync or export covers, as people list them (`--types`, a GitSync's
/// `spec.resourceTypes`): [`ResourceType::parse_list`], limited to the types the workspace API
/// can list; none means all that Git Sync exports. The one rule the CLI and the operator share.
pub fn parse_types<S: AsRef<str>>(names: &[S]) -> Result<Vec<ResourceType>, String> {
    if names.is_empty() {
        return Ok(ResourceType::git_sync_types().collect());
    }
    let types = ResourceType::parse_list(names).map_err(|e| e.to_string())?;
    match types
        .iter()
        .find(|t| crate::workspace::api::endpoint(**t).is_none())
    {
        Some(t) => Err(format!(
            "`{}` cannot be exported: the workspace API does not list it",
            t.kind().directory
        )),
        None => Ok(types),
    }
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

/// A rendered file with the `@@name@@` placeholders of the version already in the tree kept
/// where the workspace serves a masked value (see [`crate::sync::secrets::keep_placeholders`]):
/// a secret a person put in as a placeholder stays one, instead of turning into its mask on the
/// next sync. Borrowed when there is nothing to keep.
pub fn with_placeholders_of<'a>(
    path: &str,
    rendered: &'a str,
    existing: Option<&str>,
) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    let Some(existing) = existing
        .filter(|e| e.contains("@@") && rendered.contains(crate::workspace::api::MASK_BULLETS))
    else {
        return Cow::Borrowed(rendered);
    };
    let (Ok(written), Ok(mut served)) = (
        crate::hcl::parse(existing, path),
        crate::hcl::parse(rendered, path),
    ) else {
        return Cow::Borrowed(rendered);
    };
    crate::sync::secrets::keep_placeholders(
        &written,
        &mut served,
        &crate::sync::secrets::NoSecrets,
    );
    match render(&served) {
        Ok(text) if text != rendered => Cow::Owned(text),
        _ => Cow::Borrowed(rendered),
    }
}

/// Files with `@@name@@` placeholders that were applied to the workspace from a pull request
/// and are not on the synced branch yet (the pull request is not merged): path -> the text the
/// apply wrote on the pull request's branch. The forward sync keeps their placeholders where the
/// branch's own version has none (it still holds the mask), so that the file it writes is the
/// pull request's, byte for byte, and merging the pull request afterwards conflicts with
/// nothing. A hint is used once: when the branch has the placeholder, the branch is the
/// reference again. Shared between the sync and the pull-request workflow of one GitSync; kept
/// in memory only.
#[derive(Debug, Clone, Default)]
pub struct PlaceholderHints(std::sync::Arc<std::sync::Mutex<BTreeMap<String, String>>>);

impl PlaceholderHints {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers what an apply wrote at `path`, when it holds a placeholder.
    pub fn remember(&self, path: &str, text: &str) {
        if text.contains("@@") {
            self.map().insert(path.to_owned(), text.to_owned());
        }
    }

    /// The remembered text of `path`, if any.
    pub fn get(&self, path: &str) -> Option<String> {
        self.map().get(path).cloned()
    }

    /// Forgets `path` (its placeholders are on the branch now).
    pub fn forget(&self, path: &str) {
        self.map().remove(path);
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

/// [`with_placeholders_of`] from the branch's version of the file, or, when that keeps nothing,
/// from an applied pull request's version ([`PlaceholderHints`]), which is then forgotten.
pub fn with_placeholders_kept<'a>(
    path: &str,
    rendered: &'a str,
    in_branch: Option<&str>,
    hints: &PlaceholderHints,
) -> std::borrow::Cow<'a, str> {
    let kept = with_placeholders_of(path, rendered, in_branch);
    if matches!(kept, std::borrow::Cow::Owned(_)) || hints.is_empty() {
        return kept;
    }
    match hints.get(path) {
        Some(hint) => {
            let from_hint = with_placeholders_of(path, rendered, Some(&hint));
            if matches!(from_hint, std::borrow::Cow::Owned(_)) {
                hints.forget(path);
            }
            from_hint
        }
        None => kept,
    }
}

/// [`with_placeholders_of`] for every file of a rendered tree, given how to read the existing
/// version of a file.
pub fn keep_placeholders(tree: &mut Tree, existing: impl Fn(&str) -> Option<String>) {
    for (path, text) in tree.iter_mut() {
        // Only a masked value can stand where a placeholder was: files without one (nearly
        // all) are not read at all.
        if !text.contains(crate::workspace::api::MASK_BULLETS) {
            continue;
        }
        let Some(old) = existing(path) else { continue };
        if let std::borrow::Cow::Owned(kept) = with_placeholders_of(path, text, Some(&old)) {
            *text = kept;
        }
    }
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
/// longer exist are removed, identical files are left alone, and leftover temporary files of an
/// earlier, killed export are removed. Nothing outside those directories is touched: a resource
/// directory or file that is a symbolic link is refused before anything changes.
pub fn write_tree(
    dir: &Path,
    types: &[ResourceType],
    tree: &Tree,
) -> Result<WriteSummary, ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Write { path, source }
    };
    // First look, change nothing: every path this export touches must be inside `dir`.
    let mut stale = Vec::new();
    for ty in types {
        let sub = dir.join(ty.kind().directory);
        match std::fs::symlink_metadata(&sub) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ExportError::Symlink {
                    path: sub,
                    what: "directory",
                });
            }
            Ok(m) if !m.is_dir() => return Err(ExportError::NotADirectory { path: sub }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&sub)(e)),
        }
        for entry in std::fs::read_dir(&sub).map_err(io(&sub))? {
            let entry = entry.map_err(io(&sub))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let rel = format!("{}/{name}", ty.kind().directory);
            let is_link = entry.file_type().map_err(io(&path))?.is_symlink();
            let ours = name.starts_with(TEMP_PREFIX);
            let is_tf = path.extension().is_some_and(|x| x == "tf");
            if is_link && !ours && (is_tf || tree.contains_key(&rel)) {
                return Err(ExportError::Symlink { path, what: "file" });
            }
            if ours || (is_tf && !tree.contains_key(&rel)) {
                stale.push((path, ours));
            }
        }
    }

    let mut summary = WriteSummary::default();
    for (path, ours) in stale {
        std::fs::remove_file(&path).map_err(io(&path))?;
        if !ours {
            summary.removed += 1;
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
        write_atomically(&path, text.as_bytes(), None, false).map_err(io(&path))?;
        summary.written += 1;
    }
    Ok(summary)
}
