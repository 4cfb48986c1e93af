//! A whole Git Sync tree, parsed file by file, with every problem of every file reported
//! together (a pull request with three bad files gets three errors, not one per push).
//!
//! Pure: the caller reads the files (from a directory or a Git tree, see `sync::tree`) and hands
//! over their paths and bytes; this module never touches the filesystem or Git. Beyond what
//! [`super::parse`] checks in each file, it checks what only the path tells: that a resource sits
//! in its type's directory (`sources/` holds `segment_source` resources and nothing else), and
//! what only the whole tree tells: that no two files define the same resource.

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
/// secret placeholder. These are reported at the key of the attribute that holds them. What
/// `gitsync validate` checks, and what a plan should check before it sends anything.
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
}
