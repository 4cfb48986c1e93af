//! A whole Git Sync tree, parsed file by file, with every problem of every file reported
//! together (a pull request with three bad files gets three errors, not one per push).
//!
//! Pure: the caller reads the files (from a directory or a Git tree, see `sync::tree`) and hands
//! over their paths and bytes; this module never touches the filesystem or Git. Beyond what
//! [`super::parse`] checks in each file, it checks what only the path tells: that a resource sits
//! in its type's directory (`sources/` holds `segment_source` resources and nothing else), and
//! what only the whole tree tells: that no two files define the same resource, and that no
//! rewrite of a resource's file would write over another's ([`overwrites_another`],
//! [`holds_another_resource`], [`misnamed`]).

use std::collections::HashMap;

use super::error::{ParseError, Problem};
use super::parse::{Located, parse_located, position};
use crate::model::check::{ValueProblemKind, check};
use crate::model::{Resource, ResourceType};

/// Every problem found in a tree, sorted by file (and place within it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.errors))]
pub struct TreeErrors {
    errors: Vec<ParseError>,
}

fn lines(errors: &[ParseError]) -> String {
    errors
        .iter()
        .map(ParseError::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl TreeErrors {
    /// The problems, each with its `file:line:column`.
    pub fn errors(&self) -> &[ParseError] {
        &self.errors
    }

    pub fn into_errors(self) -> Vec<ParseError> {
        self.errors
    }
}

/// Parses every file of a tree. `files` are paths relative to the tree root, `/`-separated
/// (`sources/abc.tf`), with their bytes. Returns the resources sorted by path, or every problem:
/// each file's parse error, files that are not UTF-8, resources outside their type's directory,
/// and a resource defined by a second file (reported at the second, in path order).
pub fn parse_files(files: Vec<(String, Vec<u8>)>) -> Result<Vec<(String, Resource)>, TreeErrors> {
    read(files, false)
}

/// Like [`parse_files`], and also refuses what the workspace would refuse later: sets over the
/// provider's limits (the schema's `max_items`) and `@@` that is not a well-formed `@@name@@`
/// secret placeholder. These are reported at the key of the attribute that holds them. It also
/// refuses a comment, at the first one: the files Git Sync writes hold none, and every rewrite
/// (apply's, a sync's, `fmt`'s) would drop it. What `gitsync validate` checks, and what a plan
/// checks before it sends anything.
pub fn validate_files(
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<(String, Resource)>, TreeErrors> {
    read(files, true)
}

fn read(
    mut files: Vec<(String, Vec<u8>)>,
    validate: bool,
) -> Result<Vec<(String, Resource)>, TreeErrors> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut resources = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    // Terraform address -> the file that defines it first.
    let mut addresses: HashMap<String, String> = HashMap::new();
    for (path, bytes) in files {
        let source = match std::str::from_utf8(&bytes) {
            Ok(s) => s,
            Err(e) => {
                errors.push(not_utf8(&path, &bytes, e.valid_up_to()));
                continue;
            }
        };
        let located = match parse_located(source, &path, validate) {
            Ok(l) => l,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        let before = errors.len();
        if let Some(problem) = wrong_directory(&path, located.resource.ty) {
            errors.push(at(&path, source, located.type_at, problem));
        }
        if validate {
            check_values(&path, source, &located, &mut errors);
            // The one rule `fmt` holds too (`super::canonicalize`): what a rewrite would drop
            // without a word is refused, at its place, before anything is planned.
            if let Some(offset) = located.comment {
                errors.push(at(&path, source, offset, Problem::Comment));
            }
        }
        if let Ok(name) = located.resource.terraform_name() {
            let address = format!("{}.{name}", located.resource.ty);
            match addresses.get(&address) {
                Some(first) => {
                    let problem = Problem::DuplicateResource {
                        address,
                        first_file: first.clone(),
                    };
                    errors.push(at(&path, source, located.type_at, problem));
                }
                None => {
                    addresses.insert(address, path.clone());
                }
            }
        }
        if errors.len() == before {
            resources.push((path, located.resource));
        }
    }
    if errors.is_empty() {
        Ok(resources)
    } else {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Err(TreeErrors { errors })
    }
}

fn at(file: &str, source: &str, offset: usize, problem: Problem) -> ParseError {
    let (line, column) = position(source, offset);
    ParseError {
        file: file.to_owned(),
        line,
        column,
        problem,
    }
}

/// The place of the first byte that is not UTF-8.
fn not_utf8(file: &str, bytes: &[u8], valid_up_to: usize) -> ParseError {
    let valid = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
    at(file, valid, valid.len(), Problem::NotUtf8)
}

/// The directory a file is in (the last directory of its path, `""` for none) against the
/// directory of the resource type it holds.
fn wrong_directory(path: &str, ty: ResourceType) -> Option<Problem> {
    let directory = path
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir.rsplit('/').next().unwrap_or(dir));
    let expected = ty.kind().directory;
    (directory != expected).then(|| Problem::WrongDirectory {
        resource_type: ty.terraform_type().to_owned(),
        directory: directory.to_owned(),
        expected,
    })
}

/// The model's value checks, each placed at the key of the attribute it is about (or of the
/// nearest enclosing one: a JSON path inside `settings` is placed at `settings`).
fn check_values(file: &str, source: &str, located: &Located, errors: &mut Vec<ParseError>) {
    for problem in check(&located.resource) {
        let offset = nearest_key(&located.keys, &problem.path).unwrap_or(located.type_at);
        let problem_at = match problem.kind {
            ValueProblemKind::TooManyItems { max, found } => Problem::TooManyItems {
                path: problem.path,
                max,
                found,
            },
            ValueProblemKind::MalformedPlaceholder { text } => Problem::MalformedPlaceholder {
                path: problem.path,
                text,
            },
        };
        errors.push(at(file, source, offset, problem_at));
    }
}

/// The key of `path`, or of the longest prefix of it that is an attribute with a key.
fn nearest_key(keys: &[(String, usize)], path: &str) -> Option<usize> {
    let mut path = path;
    loop {
        if let Some((_, offset)) = keys.iter().find(|(p, _)| p == path) {
            return Some(*offset);
        }
        let cut = path.rfind(['.', '['])?;
        path = &path[..cut];
    }
}

/// Whether the bytes of the file at `path` hold anything other than `resource` (as its import id
/// names it): another resource, a resource not created yet (a file without an import block),
/// or something that does not parse. A rewrite must never overwrite such a file: the resource
/// in it would be lost, and later planned as a destroy. The file a change was planned from is
/// its own to rewrite; this answers for any other file at the path a rewrite writes.
pub fn holds_another_resource(path: &str, existing: &[u8], resource: &Resource) -> bool {
    let Ok(text) = std::str::from_utf8(existing) else {
        return true;
    };
    let Ok(found) = super::parse(text, path) else {
        return true;
    };
    let identity = |r: &Resource| (r.new_name.is_none()).then(|| r.import_id().ok()).flatten();
    found.ty != resource.ty || identity(&found).is_none() || identity(&found) != identity(resource)
}

/// Why the rewrite after an apply would write over another resource's file: `resource`, read
/// from the file at `path`, is written to the file Git Sync names it by, and that is another
/// file of the tree (`file_at` gives a path's bytes) holding something else. `None` when the
/// rewrite writes `path` itself, a new file, or the resource's own; and when its file is not
/// known before it exists (a create of a type named by the id Segment gives it). For a plan to
/// refuse before anything is sent; [`holds_another_resource`] is the rewrite's own last check.
pub fn overwrites_another<'f>(
    path: &str,
    resource: &Resource,
    file_at: impl Fn(&str) -> Option<&'f [u8]>,
) -> Option<String> {
    let target = resource.path().ok()?;
    if target == path || path.ends_with(&format!("/{target}")) {
        return None;
    }
    let existing = file_at(&target)?;
    if !holds_another_resource(&target, existing, resource) {
        return None;
    }
    let held = std::str::from_utf8(existing)
        .ok()
        .and_then(|text| super::parse(text, &target).ok())
        .and_then(|r| Some(format!("`{}.{}`", r.ty, r.terraform_name().ok()?)))
        .unwrap_or_else(|| "another file's content".to_owned());
    Some(format!(
        "{path}: `{}.{}` is written back to {target} after an apply, but {target} holds {held}, which would be lost: rename the file that is not named after its resource",
        resource.ty,
        resource.terraform_name().unwrap_or_default(),
    ))
}

/// Why a resource file at `path` (relative to the tree root) is not where Git Sync puts the
/// resource it holds, or `None`. A file of a resource not created yet may have any name (apply
/// names it once it exists); a file Git Sync named for a label gitsync names apart is Git
/// Sync's, and not misnamed either. A misnamed file is read all the same, but the rewrite after
/// an apply, or the next sync, moves its resource to its own file, and two misnamed files can
/// hold each other's names.
pub fn misnamed(path: &str, resource: &Resource) -> Option<String> {
    if resource.new_name.is_some() {
        return None;
    }
    let expected = resource.path().ok()?;
    let git_sync = resource.git_sync_terraform_name().map(|name| {
        let stem = name.strip_prefix("id-").unwrap_or(&name).to_owned();
        format!("{}/{stem}.tf", resource.kind().directory)
    });
    let named = |wanted: &str| path == wanted || path.ends_with(&format!("/{wanted}"));
    if named(&expected) || git_sync.as_deref().is_some_and(named) {
        return None;
    }
    Some(format!(
        "holds `{}.{}`, whose file is {expected}: a rewrite (after an apply, or by a sync) moves it there, over whatever that file holds; rename the file",
        resource.ty,
        resource.terraform_name().unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "import {\n  to = segment_label.id-env_dev\n  id = \"env:dev\"\n}\n\nresource \"segment_label\" \"id-env_dev\" {\n  key   = \"env\"\n  value = \"dev\"\n}\n";

    fn file(path: &str, text: &str) -> (String, Vec<u8>) {
        (path.to_owned(), text.as_bytes().to_vec())
    }

    fn places(e: TreeErrors) -> Vec<String> {
        e.errors()
            .iter()
            .map(|e| format!("{}:{}:{}", e.file, e.line, e.column))
            .collect()
    }

    #[test]
    fn good_files_come_back_sorted_by_path() {
        let other = LABEL.replace("dev", "prod");
        let parsed = parse_files(vec![
            file("labels/env_prod.tf", &other),
            file("labels/env_dev.tf", LABEL),
        ]);
        let paths: Vec<String> = parsed
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(paths, ["labels/env_dev.tf", "labels/env_prod.tf"]);
    }

    #[test]
    fn every_bad_file_is_reported_with_its_place() {
        let mut latin1 = b"resource \"segment_label\" \"x\" {\n  key = \"caf".to_vec();
        latin1.extend([0xe9, b'"', b'\n', b'}']);
        let label = |value: &str| LABEL.replace("dev", value);
        let errors = parse_files(vec![
            file("sources/a.tf", &label("a")),
            file("labels/b.tf", "resource {"),
            ("labels/c.tf".to_owned(), latin1),
            file("labels/ok.tf", LABEL),
            file("d.tf", &label("d")),
        ])
        .err()
        .unwrap_or_else(|| panic!("bad files passed"));
        assert_eq!(
            places(errors.clone()),
            [
                "d.tf:6:10",
                "labels/b.tf:1:11",
                "labels/c.tf:2:13",
                "sources/a.tf:6:10"
            ]
        );
        let text = errors.to_string();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.contains(
                "sources/a.tf:6:10: a `segment_label` resource in `sources/`; it belongs in `labels/`"
            ),
            "{text}"
        );
        assert!(
            text.contains("d.tf:6:10: a `segment_label` resource outside any resource directory"),
            "{text}"
        );
        assert!(
            text.contains("labels/c.tf:2:13: the file is not UTF-8"),
            "{text}"
        );
    }

    #[test]
    fn a_resource_defined_twice_is_reported_at_the_second_file() {
        let errors = parse_files(vec![
            file("labels/copy.tf", LABEL),
            file("labels/env_dev.tf", LABEL),
        ])
        .err()
        .unwrap_or_else(|| panic!("a duplicate passed"));
        assert_eq!(
            errors.to_string(),
            "labels/env_dev.tf:6:10: `segment_label.id-env_dev` is also defined in labels/copy.tf; a tree defines each resource once"
        );
    }

    #[test]
    fn validation_places_limits_and_placeholders_at_their_keys() {
        let bad = LABEL.replace("  key ", "  description = \"a@@b\"\n  key ");
        // Parsing alone accepts a stray `@@` (a workspace may hold one); validation does not.
        assert!(parse_files(vec![file("labels/x.tf", &bad)]).is_ok());
        let errors = validate_files(vec![file("labels/x.tf", &bad)])
            .err()
            .unwrap_or_else(|| panic!("a stray @@ passed"));
        assert_eq!(places(errors.clone()), ["labels/x.tf:7:3"]);
        assert!(
            errors
                .to_string()
                .contains("`description` holds `@@b`, which is not a secret placeholder"),
            "{errors}"
        );
    }

    #[test]
    fn a_file_holds_another_resource_unless_it_holds_this_one() {
        let env_dev = parse_files(vec![file("labels/env_dev.tf", LABEL)])
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .1;
        let other = LABEL.replace("dev", "prod");
        let new_label =
            "resource \"segment_label\" \"mine\" {\n  key   = \"env\"\n  value = \"dev\"\n}\n";
        let cases: [(&[u8], bool); 6] = [
            (LABEL.as_bytes(), false),
            (other.as_bytes(), true),
            // A person's file of a label not created yet: theirs, not this one's.
            (new_label.as_bytes(), true),
            (b"not hcl {", true),
            (b"\xff", true),
            (b"", true),
        ];
        for (bytes, another) in cases {
            assert_eq!(
                holds_another_resource("labels/env_dev.tf", bytes, &env_dev),
                another,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn a_plan_sees_a_rewrite_that_would_write_over_another_resource() {
        let dev_prod = LABEL.replace("dev", "prod");
        let files: HashMap<&str, &[u8]> = [
            // env:dev, in the file env:prod's rewrite writes.
            ("labels/env_prod.tf", LABEL.as_bytes()),
            ("labels/mine.tf", dev_prod.as_bytes()),
        ]
        .into();
        let at = |p: &str| files.get(p).copied();
        let parsed = |path: &str| {
            parse_files(vec![file(
                path,
                std::str::from_utf8(files[path]).unwrap_or(""),
            )])
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .1
        };
        let prod = parsed("labels/mine.tf");
        let found = overwrites_another("labels/mine.tf", &prod, at);
        assert_eq!(
            found.as_deref(),
            Some(
                "labels/mine.tf: `segment_label.id-env_prod` is written back to labels/env_prod.tf after an apply, but labels/env_prod.tf holds `segment_label.id-env_dev`, which would be lost: rename the file that is not named after its resource"
            )
        );
        // Its own file, a free one, or one holding itself: nothing to say.
        assert_eq!(overwrites_another("labels/env_prod.tf", &prod, at), None);
        let dev = parsed("labels/env_prod.tf");
        assert_eq!(overwrites_another("labels/env_prod.tf", &dev, at), None);
        assert_eq!(overwrites_another("labels/mine.tf", &prod, |_| None), None);
        let same: &[u8] = dev_prod.as_bytes();
        assert_eq!(
            overwrites_another("labels/mine.tf", &prod, |_| Some(same)),
            None
        );
    }

    #[test]
    fn a_file_is_misnamed_when_git_sync_would_name_it_otherwise() {
        let resource = |text: &str| {
            parse_files(vec![file("labels/x.tf", text)])
                .unwrap_or_else(|e| panic!("{e}"))
                .remove(0)
                .1
        };
        let env_dev = resource(LABEL);
        assert_eq!(misnamed("labels/env_dev.tf", &env_dev), None);
        assert_eq!(misnamed("tree/labels/env_dev.tf", &env_dev), None);
        let wrong = misnamed("labels/env_prod.tf", &env_dev);
        assert!(
            wrong.as_deref().is_some_and(|w| w
                .starts_with("holds `segment_label.id-env_dev`, whose file is labels/env_dev.tf")),
            "{wrong:?}"
        );
        // A label Git Sync names ambiguously: its Git Sync file and gitsync's are both right.
        let ambiguous = LABEL
            .replace("id-env_dev", "id-cost_center_eu")
            .replace("env:dev", "cost:center_eu")
            .replace("\"env\"", "\"cost\"")
            .replace("\"dev\"", "\"center_eu\"");
        let cost = resource(&ambiguous);
        assert_eq!(misnamed("labels/cost_center_eu.tf", &cost), None);
        assert_eq!(misnamed("labels/cost__center_5feu.tf", &cost), None);
        assert!(misnamed("labels/cost_center_e.tf", &cost).is_some());
        // A new file may have any name.
        let new_label = resource(
            "resource \"segment_label\" \"mine\" {\n  key   = \"env\"\n  value = \"dev\"\n}\n",
        );
        assert_eq!(misnamed("labels/anything.tf", &new_label), None);
    }
}
