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
//!
//! What is read and what is not is one rule for every command ([`file_role`], whatever the
//! tree comes from): a tree with no resource directory at all is an error (a wrong path must not
//! plan "no changes" forever), a resource file whose name is not UTF-8 or holds a backslash or
//! a control character is an error (it could be neither named in a plan nor written back), and
//! a file that looks like a resource file but is not read (`Sources/x.tf`, `sources/team/x.tf`,
//! `sources/x.TF`, a hidden `sources/.x.tf`) is a warning naming it. This module never decides
//! what a file's content means.

use std::path::{Path, PathBuf};

use crate::hcl::tree::{TreeErrors, parse_files};
use crate::model::{Resource, ResourceType};
use crate::sync::diagnostic::{Diagnostic, Severity};

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
    #[error("{}", no_resource_directories(.path, .inside))]
    NoResourceDirectories {
        path: PathBuf,
        /// A subdirectory that holds resource directories (the tree one level down), if any.
        inside: Option<String>,
    },
    /// Files the tree holds that cannot be read as resource files (names that are not UTF-8),
    /// every one of them.
    #[error("{}", lines(.0))]
    Files(Vec<Diagnostic>),
}

fn no_resource_directories(path: &Path, inside: &Option<String>) -> String {
    let mut message = format!(
        "{} holds none of the resource directories of a Git Sync tree ({}/, ...), so it is not the root of one",
        path.display(),
        ResourceType::ALL
            .iter()
            .take(3)
            .map(|t| t.kind().directory)
            .collect::<Vec<_>>()
            .join("/, ")
    );
    match inside {
        Some(inside) => message.push_str(&format!("; its subdirectory {inside}/ is")),
        None => message.push_str(
            " (a tree meant to hold no resources keeps one resource directory, with a .gitkeep file)",
        ),
    }
    message
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tree's resource files, and what a reader should hear about the files beside them.
#[derive(Debug, Default)]
pub struct Scanned {
    pub files: Files,
    /// Errors (a resource file whose name is not UTF-8) and warnings (a file that looks like a
    /// resource file but is not read), one per file, in path order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Scanned {
    /// The files, or every error among the diagnostics; the warnings are dropped.
    pub fn into_files(self) -> Result<Files, TreeReadError> {
        let errors: Vec<Diagnostic> = self
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        if errors.is_empty() {
            Ok(self.files)
        } else {
            Err(TreeReadError::Files(errors))
        }
    }

    /// The warnings, for a plan's notes; `Err` with every error, as [`Scanned::into_files`].
    pub fn split(self) -> Result<(Files, Vec<Diagnostic>), TreeReadError> {
        let warnings = self
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Error)
            .cloned()
            .collect();
        Ok((self.into_files()?, warnings))
    }
}

/// The bytes of every `*.tf` file directly in the resource directories of the tree at `dir`, in
/// path order. A missing resource directory is a type with no resources; a missing tree, or one
/// with no resource directory at all, is an error (a typo in a path must not quietly give an
/// empty tree), and so is a resource file whose name is not UTF-8.
pub fn read_dir_files(dir: &Path) -> Result<Files, TreeReadError> {
    scan_dir(dir)?.into_files()
}

/// What [`read_dir_files`] reads, with a diagnostic for each file that it refuses or skips.
pub fn scan_dir(dir: &Path) -> Result<Scanned, TreeReadError> {
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
    let mut diagnostics = Vec::new();
    let mut directories = 0;
    for ty in ResourceType::ALL {
        let directory = ty.kind().directory;
        let sub = dir.join(directory);
        let shown = || sub.display().to_string();
        match std::fs::symlink_metadata(&sub) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(TreeReadError::Symlink { path: shown() });
            }
            Ok(m) if !m.is_dir() => return Err(TreeReadError::NotADirectory { path: shown() }),
            Ok(_) => directories += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(TreeReadError::Read { path: sub, source }),
        }
        let read_err = |path: &Path, source| TreeReadError::Read {
            path: path.to_path_buf(),
            source,
        };
        for entry in std::fs::read_dir(&sub).map_err(|e| read_err(&sub, e))? {
            let entry = entry.map_err(|e| read_err(&sub, e))?;
            let Some(name) = resource_file(directory, &entry.file_name(), &mut diagnostics) else {
                continue;
            };
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
    if directories == 0 {
        return Err(TreeReadError::NoResourceDirectories {
            path: dir.to_path_buf(),
            inside: tree_inside(dir),
        });
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    diagnostics.extend(unread_files(dir));
    diagnostics.sort();
    Ok(Scanned { files, diagnostics })
}

/// Why a resource file whose name is not UTF-8 is refused (a lossy name would be another file:
/// the plan would create it again on every apply, and never write or remove the real one).
pub const NOT_UTF8_NAME: &str = "the file name is not UTF-8, so a plan can neither name the file nor write it back: rename it (resource files are named in UTF-8)";

/// Why a resource file whose name holds a backslash or a control character is refused: a plan
/// names it, and apply's rewrite writes and removes it, by a name that must mean one file on
/// every system.
pub const UNWRITABLE_NAME: &str = "the file name holds a backslash or a control character, which a plan cannot name or write back on every system: rename it";

/// What the tree's reader does with a file, by its path in the tree (`/`-separated bytes, as a
/// directory or a Git tree names it). The one rule for every source of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRole {
    /// A resource file, read: its path as text.
    Read(String),
    /// A resource file that cannot be read as one (its name is not UTF-8): an error.
    Refused(Diagnostic),
    /// A file that looks like a resource file but is not read: a warning, so that nobody
    /// believes it planned.
    Skipped(Diagnostic),
    /// Anything else (a README, `providers.tf`, CI files): not read, and not worth a word.
    Ignored,
}

/// Where `path` stands: see [`FileRole`].
pub fn file_role(path: &[u8]) -> FileRole {
    let parts: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
    let (Some(first), Some(name)) = (parts.first(), parts.last()) else {
        return FileRole::Ignored;
    };
    let shown = escaped(path);
    let first_text = String::from_utf8_lossy(first);
    let resource_directory = ResourceType::ALL
        .iter()
        .map(|t| t.kind().directory)
        .find(|d| d.as_bytes() == *first);
    match (resource_directory, parts.len()) {
        // Editors and tools leave hidden files (Emacs' `.#x.tf` lock links); Git Sync writes
        // none, and a rewrite would not write one back.
        (Some(directory), 2) if name.starts_with(b".") && looks_like_a_resource_file(name) => {
            FileRole::Skipped(Diagnostic::warning(
                shown,
                format!(
                    "not read: a hidden file (its name begins with `.`); if it is a resource file, rename it without the `.`, in `{directory}/`"
                ),
            ))
        }
        (Some(_), 2) if name.ends_with(b".tf") => match std::str::from_utf8(path) {
            Ok(_) if name.iter().any(|b| *b == b'\\' || b.is_ascii_control()) => {
                FileRole::Refused(Diagnostic::error(shown, UNWRITABLE_NAME))
            }
            Ok(text) => FileRole::Read(text.to_owned()),
            Err(_) => FileRole::Refused(Diagnostic::error(shown, NOT_UTF8_NAME)),
        },
        (Some(directory), 2) if looks_like_a_resource_file(name) => {
            FileRole::Skipped(Diagnostic::warning(
                shown,
                format!(
                    "not read: only files whose names end in `.tf` (lower case) are resource files of `{directory}/`; rename it to end in `.tf`, or move it out of `{directory}/`"
                ),
            ))
        }
        (Some(directory), n) if n > 2 && looks_like_a_resource_file(name) => {
            FileRole::Skipped(Diagnostic::warning(
                shown,
                format!(
                    "not read: `{directory}/` holds its resource files directly, and its subdirectories are not read; move the file into `{directory}/` itself"
                ),
            ))
        }
        (None, n) if n > 1 && looks_like_a_resource_file(name) => {
            match lookalike_directory(&first_text) {
                Some(directory) => FileRole::Skipped(Diagnostic::warning(
                    shown,
                    format!(
                        "not read: `{}/` is not the resource directory `{directory}/` (directory names are matched exactly, in lower-case ASCII); rename the directory to `{directory}`",
                        first_text.escape_debug()
                    ),
                )),
                None => FileRole::Ignored,
            }
        }
        _ => FileRole::Ignored,
    }
}

/// A name ending in `.tf` in any case (`.TF`, `.Tf`), or in `.tf.json`, which Terraform reads.
fn looks_like_a_resource_file(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let trimmed = lower.trim_ascii_end();
    trimmed.ends_with(b".tf") || trimmed.ends_with(b".tf.json")
}

/// The resource directory that `name` is mistaken for: the same in another case, with letters
/// from another script that look alike (Cyrillic `ѕ`), with `-` or a space for `_`, with
/// invisible characters, or in the singular. `None` for a resource directory itself.
pub fn lookalike_directory(name: &str) -> Option<&'static str> {
    let folded: String = name
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}'))
        .map(latin_lookalike)
        .flat_map(char::to_lowercase)
        .map(|c| if matches!(c, '-' | ' ' | '.') { '_' } else { c })
        .collect();
    ResourceType::ALL
        .iter()
        .map(|t| t.kind().directory)
        .find(|d| *d != name && (folded == *d || format!("{folded}s") == *d))
}

/// The Latin letter a letter of another script is drawn like (the confusables that spell the
/// resource directories' names), or the letter itself. Full-width forms become ASCII.
fn latin_lookalike(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' | 'ӏ' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' => 'u',
        'ν' => 'v',
        'ԝ' => 'w',
        'х' | 'χ' => 'x',
        'у' => 'y',
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        _ => c,
    }
}

/// A path as text, each byte that is not UTF-8 as `\xNN` (a lossy `?` would name another file),
/// and each control character as `\u{NN}` (a tab or a line break would hide in a message).
pub fn escaped(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// For [`scan_dir`]: the name of a file directly in a resource directory if it is read; a
/// diagnostic for one that is refused or skipped.
fn resource_file(
    directory: &str,
    name: &std::ffi::OsStr,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    let mut path = format!("{directory}/").into_bytes();
    path.extend_from_slice(name.as_encoded_bytes());
    match file_role(&path) {
        FileRole::Read(_) => name.to_str().map(str::to_owned),
        FileRole::Refused(d) | FileRole::Skipped(d) => {
            diagnostics.push(d);
            None
        }
        FileRole::Ignored => None,
    }
}

/// The files under `dir` that look like resource files but are not read, each as a warning:
/// those in subdirectories of resource directories and in directories named like one
/// (`Sources/`, `ѕources/`). Files directly in resource directories are [`scan_dir`]'s. Links
/// are not followed; hidden directories (`.git`) and other directories are not entered.
pub fn unread_files(dir: &Path) -> Vec<Diagnostic> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let text = name.to_string_lossy();
        if !file_type.is_dir() || text.starts_with('.') {
            continue;
        }
        let is_resource_directory = ResourceType::ALL.iter().any(|t| t.kind().directory == text);
        if !is_resource_directory && lookalike_directory(&text).is_none() {
            continue;
        }
        let walker = walkdir::WalkDir::new(entry.path())
            .follow_links(false)
            .min_depth(if is_resource_directory { 2 } else { 1 });
        for file in walker.into_iter().flatten() {
            if file.file_type().is_dir() {
                continue;
            }
            let Ok(relative) = file.path().strip_prefix(dir) else {
                continue;
            };
            let path: Vec<u8> = relative
                .components()
                .map(|c| c.as_os_str().as_encoded_bytes())
                .collect::<Vec<_>>()
                .join(&b'/');
            if let FileRole::Skipped(d) | FileRole::Refused(d) = file_role(&path) {
                found.push(d);
            }
        }
    }
    found
}

/// The first subdirectory of `dir`, in name order, that holds a resource directory: where the
/// tree most likely is when `dir` is not it.
fn tree_inside(dir: &Path) -> Option<String> {
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    children.sort();
    children
        .into_iter()
        .find(|child| {
            ResourceType::ALL
                .iter()
                .any(|t| child.join(t.kind().directory).is_dir())
        })
        .and_then(|child| {
            child
                .strip_prefix(dir)
                .ok()
                .map(|p| p.display().to_string())
        })
}

/// The same files as [`read_dir_files`] finds, as they are in revision `rev` (anything git
/// names a commit or tree by: `HEAD~1`, `origin/main`, an id) of the repository holding `dir`,
/// at the place `dir` has in the repository's work tree. A revision with no resource directory
/// is a tree with no resources (the base of a change that adds the first), not an error.
pub fn read_rev_files(dir: &Path, rev: &str) -> Result<Files, TreeReadError> {
    scan_rev_tree(dir, rev)?.0.into_files()
}

/// What [`scan_dir`] says of a directory, of the tree at revision `rev`: the tree a change is
/// planned from, so one with no resource directory is an error, as on disk.
pub fn scan_rev(dir: &Path, rev: &str) -> Result<Scanned, TreeReadError> {
    match scan_rev_tree(dir, rev)? {
        (_, 0) => Err(TreeReadError::NoResourceDirectories {
            path: dir.to_path_buf(),
            inside: None,
        }),
        (scanned, _) => Ok(scanned),
    }
}

/// The files at `rev`, with their diagnostics, and how many resource directories it has.
fn scan_rev_tree(dir: &Path, rev: &str) -> Result<(Scanned, usize), TreeReadError> {
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
    let mut diagnostics = Vec::new();
    let mut directories = 0;
    for ty in ResourceType::ALL {
        let directory = ty.kind().directory;
        let Some(entry) = tree
            .lookup_entry_by_path(directory)
            .map_err(|e| git_err(&shown(directory), e))?
        else {
            continue;
        };
        directories += 1;
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
            let mut named = format!("{directory}/").into_bytes();
            named.extend_from_slice(e.filename);
            let path = match file_role(&named) {
                FileRole::Read(path) => path,
                FileRole::Refused(d) | FileRole::Skipped(d) => {
                    diagnostics.push(d);
                    continue;
                }
                FileRole::Ignored => continue,
            };
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
    diagnostics.extend(unread_in_tree(&repo, &tree));
    diagnostics.sort();
    Ok((Scanned { files, diagnostics }, directories))
}

/// [`unread_files`] for a Git tree: the files under its resource directories' subdirectories
/// and under directories named like a resource directory, each as a warning.
fn unread_in_tree(repo: &gix::Repository, tree: &gix::Tree<'_>) -> Vec<Diagnostic> {
    let Ok(root) = tree.decode() else {
        return Vec::new();
    };
    let subtree = |oid: &gix::oid| repo.find_object(oid).ok().map(|o| o.into_tree());
    let mut paths = Vec::new();
    for e in root.entries.iter().filter(|e| e.mode.is_tree()) {
        let Ok(name) = std::str::from_utf8(e.filename) else {
            continue;
        };
        let Some(tree) = subtree(e.oid) else {
            continue;
        };
        if ResourceType::ALL.iter().any(|t| t.kind().directory == name) {
            // Its own files are the reader's to name; its subdirectories are not read.
            let Ok(entries) = tree.decode() else {
                continue;
            };
            for sub in entries.entries.iter().filter(|s| s.mode.is_tree()) {
                if let Some(inner) = subtree(sub.oid) {
                    let mut prefix = e.filename.to_vec();
                    prefix.push(b'/');
                    prefix.extend_from_slice(sub.filename);
                    blob_paths(repo, &inner, prefix, &mut paths, 0);
                }
            }
        } else if !name.starts_with('.') && lookalike_directory(name).is_some() {
            blob_paths(repo, &tree, e.filename.to_vec(), &mut paths, 0);
        }
    }
    paths
        .iter()
        .filter_map(|path| match file_role(path) {
            FileRole::Skipped(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// The paths of the files under `tree`, each `prefix/...`; links and submodules count as files.
/// Bounded in depth, as a tree from a pull request could nest without end.
fn blob_paths(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    prefix: Vec<u8>,
    out: &mut Vec<Vec<u8>>,
    depth: usize,
) {
    const MAX_DEPTH: usize = 32;
    let Ok(decoded) = tree.decode() else {
        return;
    };
    for e in &decoded.entries {
        let mut path = prefix.clone();
        path.push(b'/');
        path.extend_from_slice(e.filename);
        if !e.mode.is_tree() {
            out.push(path);
        } else if depth < MAX_DEPTH
            && let Ok(object) = repo.find_object(e.oid)
        {
            blob_paths(repo, &object.into_tree(), path, out, depth + 1);
        }
    }
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
    /// The resource files, and the warnings reading them gave (a file that looks like a
    /// resource file but is not read), for the plan's notes.
    fn scan(&self) -> Result<(Files, Vec<Diagnostic>), TreeReadError> {
        Ok((self.files()?, Vec::new()))
    }
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

    fn scan(&self) -> Result<(Files, Vec<Diagnostic>), TreeReadError> {
        scan_dir(&self.dir)?.split()
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

    fn scan(&self) -> Result<(Files, Vec<Diagnostic>), TreeReadError> {
        scan_rev(&self.repository, &self.commit.to_string())?.split()
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

    #[test]
    fn one_rule_says_which_files_are_read_refused_skipped_or_ignored() {
        let role = |path: &[u8]| match file_role(path) {
            FileRole::Read(p) => format!("read {p}"),
            FileRole::Refused(d) => format!("refused {}", d.file),
            FileRole::Skipped(d) => format!("skipped {}", d.file),
            FileRole::Ignored => "ignored".into(),
        };
        let cases: [(&[u8], &str); 19] = [
            (b"sources/a.tf", "read sources/a.tf"),
            (b"labels/.hidden.tf", "skipped labels/.hidden.tf"),
            (b"labels/.#x.tf", "skipped labels/.#x.tf"),
            (b"sources/a\\b.tf", "refused sources/a\\b.tf"),
            (b"sources/a\tb.tf", "refused sources/a\\u{9}b.tf"),
            (b"sources/caf\xe9.tf", "refused sources/caf\\xe9.tf"),
            (b"sources/a.TF", "skipped sources/a.TF"),
            (b"sources/a.tf.json", "skipped sources/a.tf.json"),
            (b"sources/team-a/x.tf", "skipped sources/team-a/x.tf"),
            (b"sources/caf\xe9/x.tf", "skipped sources/caf\\xe9/x.tf"),
            ("Sources/x.tf".as_bytes(), "skipped Sources/x.tf"),
            ("ѕources/x.tf".as_bytes(), "skipped ѕources/x.tf"),
            (
                "destination-filters/x.tf".as_bytes(),
                "skipped destination-filters/x.tf",
            ),
            ("source/x.tf".as_bytes(), "skipped source/x.tf"),
            (b"sources/README.md", "ignored"),
            (b"sources/x.tfvars", "ignored"),
            (b"providers.tf", "ignored"),
            (b"modules/x/main.tf", "ignored"),
            (b"Sources/notes.md", "ignored"),
        ];
        for (path, expected) in cases {
            assert_eq!(role(path), expected, "{}", String::from_utf8_lossy(path));
        }
    }

    #[test]
    fn a_directory_without_resource_directories_is_no_tree_and_says_where_one_is() {
        let dir = tempdir();
        write(dir.path(), "README.md", "x");
        let err = read_dir_files(dir.path()).map(|_| ());
        assert!(
            matches!(
                &err,
                Err(TreeReadError::NoResourceDirectories { inside: None, .. })
            ),
            "{err:?}"
        );
        write(dir.path(), "segment/labels/env_dev.tf", LABEL);
        let err = read_dir_files(dir.path())
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(format!(
                "{} holds none of the resource directories of a Git Sync tree (sources/, destinations/, warehouses/, ...), so it is not the root of one; its subdirectory segment/ is",
                dir.path().display()
            ))
        );
        // One resource directory, even empty, is a tree.
        std::fs::create_dir(dir.path().join("labels")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_dir_files(dir.path()).ok(), Some(Vec::new()));
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_scan_refuses_names_that_are_not_utf8_and_names_what_it_skips() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempdir();
        write(dir.path(), "labels/env_dev.tf", LABEL);
        let bad = std::ffi::OsStr::from_bytes(b"labels/caf\xe9.tf");
        std::fs::write(dir.path().join(bad), LABEL).unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), "Labels/x.tf", LABEL);
        write(dir.path(), "labels/team/x.tf", LABEL);
        write(dir.path(), "labels/x.Tf", LABEL);
        write(dir.path(), ".git/labels/x.tf", LABEL);

        let scanned = scan_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let shown: Vec<String> = scanned
            .diagnostics
            .iter()
            .map(|d| format!("{:?} {}", d.severity, d.file))
            .collect();
        assert_eq!(
            shown,
            [
                "Warning Labels/x.tf",
                "Error labels/caf\\xe9.tf",
                "Warning labels/team/x.tf",
                "Warning labels/x.Tf",
            ]
        );
        let err = read_dir_files(dir.path())
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(err, Err(format!("labels/caf\\xe9.tf: {NOT_UTF8_NAME}")));
    }

    /// A tree holding a label file at each path (raw bytes: a path need not be UTF-8), written
    /// into the bare repository in `dir` (made on first use); the tree's id.
    fn bare_tree_of(dir: &Path, paths: &[&[u8]]) -> String {
        let repo = match gix::open(dir) {
            Ok(repo) => repo,
            Err(_) => gix::init_bare(dir).unwrap_or_else(|e| panic!("{e}")),
        };
        let blob = repo
            .write_blob(LABEL.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
            .detach();
        let mut editor = repo
            .edit_tree(gix::ObjectId::empty_tree(repo.object_hash()))
            .unwrap_or_else(|e| panic!("{e}"));
        for path in paths {
            editor
                .upsert(
                    gix::bstr::BStr::new(*path),
                    gix::objs::tree::EntryKind::Blob,
                    blob,
                )
                .unwrap_or_else(|e| panic!("{e}"));
        }
        editor
            .write()
            .unwrap_or_else(|e| panic!("{e}"))
            .detach()
            .to_string()
    }

    #[test]
    fn a_revision_refuses_names_that_are_not_utf8() {
        let dir = tempdir();
        let tree = bare_tree_of(dir.path(), &[b"labels/env_dev.tf", b"labels/caf\xe9.tf"]);
        let err = read_rev_files(dir.path(), &tree)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(err, Err(format!("labels/caf\\xe9.tf: {NOT_UTF8_NAME}")));
    }

    #[test]
    fn a_revision_names_what_it_does_not_read_and_is_no_tree_without_resource_directories() {
        let dir = tempdir();
        let tree_of = |paths: &[&str]| {
            let paths: Vec<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
            bare_tree_of(dir.path(), &paths)
        };
        let rev = tree_of(&[
            "labels/env_dev.tf",
            "labels/x.TF",
            "labels/team/deep/x.tf",
            "Labels/x.tf",
            "ѕources/x.tf",
            "docs/x.tf",
            "README.md",
        ]);
        let scanned = scan_rev(dir.path(), &rev).unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<&str> = scanned.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(files, ["labels/env_dev.tf"]);
        let warned: Vec<&str> = scanned
            .diagnostics
            .iter()
            .map(|d| d.file.as_str())
            .collect();
        assert_eq!(
            warned,
            [
                "Labels/x.tf",
                "labels/team/deep/x.tf",
                "labels/x.TF",
                "ѕources/x.tf"
            ]
        );
        // No resource directory: no tree to plan, though a base may be empty.
        let rev = tree_of(&["README.md", "docs/x.tf"]);
        let err = scan_rev(dir.path(), &rev).map(|_| ());
        assert!(
            matches!(err, Err(TreeReadError::NoResourceDirectories { .. })),
            "{err:?}"
        );
        assert_eq!(read_rev_files(dir.path(), &rev).ok(), Some(Vec::new()));
    }
}
