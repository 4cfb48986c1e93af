//! `gitsync validate`: check resource files without a workspace, for a CI step before review.
//!
//! Only wiring: the files come from [`crate::sync::tree`], every check is
//! [`crate::hcl::tree::validate_files`]'s (the parser's rules, the directory rule, the schema's
//! set limits, placeholders). Nothing here decides what is valid.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::hcl::tree::{misnamed, validate_files};
use crate::sync::diagnostic::{Diagnostic, Severity};
use crate::sync::tree::{Files, NOT_UTF8_NAME, TreeReadError, scan_dir};

/// Check Segment resource files (*.tf) as Git Sync lays them out, without a workspace.
///
/// Each PATH is the root of a Git Sync tree (the directory holding sources/, destinations/, ...)
/// or a single .tf file. Every file is checked for:
///   - valid HCL with exactly one `resource` block (and at most one `import` block);
///   - literal values only: no variables, references, interpolation or functions other than
///     jsonencode(...), and no provider, module, data, variable, locals or output blocks;
///   - a known segment_* resource type, in its type's directory (sources/ holds segment_source);
///   - known attributes, every required attribute, values of the right type;
///   - set sizes within the provider's limits (200 labels, 200 permissions, 2,000 tracking
///     plan rules, ...);
///   - well-formed secret placeholders: `@@` only as in `@@name@@` (letters, digits, _ and -);
///   - no comments (every rewrite of the file, by apply, a sync or fmt, would drop them);
///   - file names in UTF-8.
///
/// Every problem of every file is reported, each as `file:line:column: message`. Warnings go to
/// stderr and do not fail the check: a file that looks like a resource file but is not read
/// (Sources/x.tf, sources/team/x.tf, sources/x.TF), and a file not named as Git Sync names the
/// resource it holds (a rewrite would move it, over another resource's file).
///
/// Exit status: 0 when every file is valid (with a summary line), 1 when some file is not (or
/// cannot be read), 2 on a usage error (no PATH, a PATH that does not exist).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync validate .                            # the Git Sync tree at the repository root
  gitsync validate segment-config sources/new_source.tf
  gitsync validate --json .                     # [{\"file\":..,\"line\":..,\"column\":..,\"severity\":..,\"message\":..}]

Output for a tree with two problems:
  sources/web.tf:9:13: `enabled` must be a bool, not a string
  sources/team.tf:6:10: a `segment_label` resource in `sources/`; it belongs in `labels/` (...)
  2 errors in 2 of 14 files.")]
#[command(verbatim_doc_comment)]
pub struct ValidateArgs {
    /// Print the problems as a JSON array of {file, line, column, message} (an empty array when
    /// every file is valid) and nothing else.
    #[arg(long)]
    json: bool,

    /// Tree roots or .tf files to check.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn run(args: &ValidateArgs) -> ExitCode {
    // Each tree is checked on its own (two trees may hold the same resource); the single files
    // named are checked together, as parts of one tree.
    let mut trees: Vec<Files> = Vec::new();
    let mut singles: Files = Vec::new();
    let mut reports = Vec::new();
    let mut warnings = Vec::new();
    for path in &args.paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                read_tree(path, &mut files, &mut reports, &mut warnings);
                trees.push(files);
            }
            Ok(_) => match (path.to_str(), std::fs::read(path)) {
                (None, _) => reports.push(Diagnostic::error(
                    crate::sync::tree::escaped(path.as_os_str().as_encoded_bytes()),
                    NOT_UTF8_NAME,
                )),
                (Some(name), Ok(bytes)) => singles.push((name.to_owned(), bytes)),
                (Some(_), Err(e)) => reports.push(unplaced(path, format!("cannot read: {e}"))),
            },
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    // A file named twice (`validate . sources/x.tf`) is checked, and reported, once.
    let mut seen = std::collections::HashSet::new();
    trees.push(singles);
    for files in &mut trees {
        files.retain(|(name, _)| seen.insert(name.clone()));
    }
    // Paths that could not be read count as files checked, so the summary adds up.
    let total = seen.len() + reports.len();
    // Old releases' attributes are read and left out: not errors, but worth a word.
    let notes: Vec<crate::hcl::Dropped> = trees
        .iter()
        .flatten()
        .filter_map(|(name, bytes)| Some((name, std::str::from_utf8(bytes).ok()?)))
        .flat_map(|(name, text)| crate::hcl::dropped_attributes(text, name))
        .collect();
    if !args.json {
        for note in &notes {
            eprintln!("note: {note}");
        }
    }
    for files in trees {
        // A copied file's `to` that still names the original is ignored, as plan ignores it.
        let (files, ignored) = crate::sync::plan::ignoring_import_targets(files);
        if !args.json {
            for note in &ignored {
                eprintln!("note: {note}");
            }
        }
        match validate_files(files) {
            Ok(resources) => warnings.extend(resources.iter().filter_map(|(path, resource)| {
                Some(Diagnostic::warning(path.clone(), misnamed(path, resource)?))
            })),
            Err(errors) => reports.extend(errors.errors().iter().map(Diagnostic::from)),
        }
    }
    // Files that look like resource files but are not read, and files not named as Git Sync
    // names their resource: worth a word, not a failure. On stderr in both forms (stdout's
    // JSON holds the problems only).
    warnings.sort();
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    reports.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        serde_json::to_string_pretty(&reports)
            .map_err(std::io::Error::other)
            .and_then(|json| writeln!(out, "{json}"))
    } else {
        write_human(&mut out, &reports, total)
    };
    if let Err(e) = written {
        eprintln!("error: cannot write the report: {e}");
        return ExitCode::FAILURE;
    }
    if reports.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_human(out: &mut impl Write, reports: &[Diagnostic], total: usize) -> std::io::Result<()> {
    for r in reports {
        writeln!(out, "{r}")?;
    }
    if reports.is_empty() {
        let s = if total == 1 { "" } else { "s" };
        writeln!(out, "{total} file{s} valid.")
    } else {
        let mut bad: Vec<&str> = reports.iter().map(|r| r.file.as_str()).collect();
        bad.dedup();
        let s = if reports.len() == 1 { "" } else { "s" };
        writeln!(
            out,
            "{} error{s} in {} of {total} files.",
            reports.len(),
            bad.len()
        )
    }
}

/// The resource files of the tree at `root`, named as the user would find them
/// (`root/sources/x.tf`, or `sources/x.tf` for `.`), with the tree reader's warnings.
fn read_tree(
    root: &Path,
    files: &mut Files,
    reports: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let prefix = match root.to_string_lossy().trim_end_matches('/') {
        "." | "" => String::new(),
        p => format!("{p}/"),
    };
    let placed = |mut d: Diagnostic| {
        d.file = format!("{prefix}{}", d.file);
        d
    };
    match scan_dir(root) {
        Ok(scanned) => {
            for d in scanned.diagnostics {
                let d = placed(d);
                if d.severity == Severity::Error {
                    reports.push(d);
                } else {
                    warnings.push(d);
                }
            }
            files.extend(
                scanned
                    .files
                    .into_iter()
                    .map(|(rel, bytes)| (format!("{prefix}{rel}"), bytes)),
            );
        }
        // A directory with no resource directory at all is most likely not a tree root (a
        // typo, or `sources/` itself): an error, not "0 files valid".
        Err(TreeReadError::NoResourceDirectories { inside, .. }) => {
            let found = inside.map_or(String::new(), |i| {
                format!("; {}/ holds them", Path::new(&prefix).join(i).display())
            });
            reports.push(unplaced(
                root,
                format!(
                    "holds no resource directory (sources/, destinations/, ...){found}: give the root of a Git Sync tree, or .tf files"
                ),
            ));
        }
        Err(e) => reports.push(unplaced(root, e.to_string())),
    }
}

fn unplaced(path: &Path, message: String) -> Diagnostic {
    Diagnostic::error(path.display().to_string(), message)
}
