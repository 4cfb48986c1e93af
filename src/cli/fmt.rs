//! `gitsync fmt`: rewrite resource files into the canonical form Git Sync writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::hcl::{CanonicalizeError, canonicalize};
use crate::sync::export::write_atomically;

/// Rewrite Segment resource files (*.tf) into the canonical form Segment's Git Sync writes.
///
/// Each file is parsed (the 2025 form, or the 2024 form with JSON in strings) and rendered back
/// exactly as Git Sync would write it; 2024-form files become 2025-form. Directories are searched
/// recursively for *.tf files (hidden directories such as .git and .terraform are skipped).
/// Files are replaced atomically; a file that does not parse is reported with its place and left
/// untouched.
///
/// Comments (#, //, /* */) are refused with their place rather than dropped: the canonical form
/// has none. A symbolic link to a regular file is formatted through the link: the file it
/// points to is rewritten and the link stays. A link to anything else is an error.
///
/// Exit status: 0 when every file is canonical (or was rewritten), 1 with --check when some file
/// would change, 2 when some file could not be read, parsed or written.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync fmt --check sources/ destinations/   # list the files Git Sync would write differently
  gitsync fmt .                                # rewrite every resource file under . in place")]
#[command(verbatim_doc_comment)]
pub struct FmtArgs {
    /// Change nothing; list the files that are not in canonical form and exit 1 if there are any.
    #[arg(long)]
    check: bool,

    /// Files or directories to format.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn run(args: &FmtArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    let mut changed = false;

    for file in collect_files(&args.paths, &mut failed) {
        match format_file(&file, args.check) {
            Ok(false) => {}
            Ok(true) => {
                changed = true;
                let _ = writeln!(out, "{}", file.display());
            }
            Err(message) => {
                failed = true;
                eprintln!("error: {message}");
            }
        }
    }

    if failed {
        ExitCode::from(2)
    } else if changed && args.check {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Formats one file; `Ok(true)` when it is (or would be) changed.
fn format_file(file: &Path, check: bool) -> Result<bool, String> {
    let name = file.display().to_string();
    let target = resolve(file).map_err(|e| format!("{name}: {e}"))?;
    let source =
        std::fs::read_to_string(&target).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let canonical = canonicalize(&source, &name).map_err(|e| match e {
        CanonicalizeError::Parse(e) => e.to_string(),
        other => other.to_string(),
    })?;
    if canonical == source {
        return Ok(false);
    }
    for note in crate::hcl::dropped_attributes(&source, &name) {
        eprintln!("note: {note}");
    }
    if !check {
        let permissions = std::fs::metadata(&target)
            .map_err(|e| format!("{name}: cannot read: {e}"))?
            .permissions();
        write_atomically(&target, canonical.as_bytes(), Some(permissions), true)
            .map_err(|e| format!("{name}: cannot write: {e}"))?;
    }
    Ok(true)
}

/// The file to rewrite: `file` itself, or the regular file a symbolic link points to (renaming
/// over the link would replace it with a copy, and leave the file it names unformatted).
fn resolve(file: &Path) -> Result<PathBuf, String> {
    let link = std::fs::symlink_metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    if !link.file_type().is_symlink() {
        return Ok(file.to_path_buf());
    }
    let target = std::fs::canonicalize(file)
        .map_err(|e| format!("a symbolic link whose target cannot be read: {e}"))?;
    if !std::fs::metadata(&target).is_ok_and(|m| m.is_file()) {
        return Err(format!(
            "a symbolic link to {}, which is not a regular file",
            target.display()
        ));
    }
    Ok(target)
}

/// The files named, and the *.tf files under the directories named, in a stable order.
fn collect_files(paths: &[PathBuf], failed: &mut bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let walker = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                });
            for entry in walker {
                match entry {
                    // Links to files are formatted through the link, as when named.
                    Ok(e)
                        if (e.file_type().is_file()
                            || (e.path_is_symlink() && e.path().is_file()))
                            && e.path().extension().is_some_and(|x| x == "tf") =>
                    {
                        files.push(e.into_path());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        *failed = true;
                        eprintln!("error: {e}");
                    }
                }
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            *failed = true;
            eprintln!("error: {}: no such file or directory", path.display());
        }
    }
    files
}
