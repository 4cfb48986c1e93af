//! Who a resource is, across the three states a plan compares (the base file, the new file and
//! the workspace): its type and import id when its file says which, or the file itself when it
//! asks for a resource that does not exist yet.
//!
//! It decides identity from a file alone ([`key_of`]); a file whose import block's `to` names
//! another address than its resource has `to` ignored ([`ignore_import_targets`]); a file
//! without an import block that names, by its label (`id-<id>`) or its file name (`<id>.tf`), a
//! resource the workspace holds is that resource ([`identify`], the one part that reads the
//! workspace, one resource per name). It never writes anything.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checked, File, Live, PlanError, address};
use crate::model::{ImportId, Resource, ResourceType};
use crate::sync::diagnostic::Diagnostic;
use crate::workspace::Workspace;

/// Who a resource is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    Existing(ResourceType, String),
    New(String),
}

/// The key of the resource a file holds.
pub(super) fn key_of(path: &str, resource: &Resource) -> Key {
    // A resource named by its attributes (a label) has an import id with or without an import
    // block; one with an id of its own has one only when its file says which. A nested
    // resource (a filter, a subscription) is itself by its own id: moved to another parent,
    // it is the same resource, replaced, not one deleted and another created.
    match (resource.kind().import_id, &resource.id) {
        (ImportId::ParentAndOwnId { .. }, Some(own)) => Key::Existing(resource.ty, own.clone()),
        _ => match resource.import_id() {
            Ok(id) => Key::Existing(resource.ty, id),
            Err(_) => Key::New(path.to_owned()),
        },
    }
}

/// The own ids that a file without an import block names anyway: its label as Git Sync writes
/// it (`id-<id>`, `id-<parent>_<id>`) and its file name (`<id>.tf`, `<parent>_<id>.tf`). Each
/// is checked by writing the resource with that id and comparing the label or the path, so
/// a name only counts when it is exactly what Git Sync would have written. Empty for a file
/// that has an import block, or whose resource is named by its attributes.
pub(super) fn claimed_ids(path: &str, resource: &Resource) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(label) = resource.new_name.as_deref() else {
        return out;
    };
    let parent = match resource.kind().import_id {
        ImportId::OwnId => None,
        ImportId::ParentAndOwnId { parent } => match resource.get(parent) {
            crate::model::Value::String(p) => Some(p.as_str()),
            _ => return out,
        },
        ImportId::Attributes(_) => return out,
    };
    let stem = path
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".tf"))
        .unwrap_or_default();
    let candidates = [label.strip_prefix("id-"), Some(stem)];
    for candidate in candidates.into_iter().flatten() {
        let own = match parent {
            Some(p) => candidate
                .strip_prefix(p)
                .and_then(|rest| rest.strip_prefix('_'))
                .unwrap_or(candidate),
            None => candidate,
        };
        if own.is_empty() {
            continue;
        }
        let mut named = resource.clone();
        named.id = Some(own.to_owned());
        named.new_name = None;
        let by_label = named.terraform_name().is_ok_and(|n| n == label);
        let by_path = named.path().is_ok_and(|p| p == path);
        if by_label || by_path {
            out.insert(own.to_owned());
        }
    }
    out
}

/// The resource a file without an import block names, as the workspace's resource of that id.
pub(super) fn as_existing(resource: &Resource, own_id: &str) -> Resource {
    let mut named = resource.clone();
    named.id = Some(own_id.to_owned());
    named.new_name = None;
    named
}

/// An import block whose `to` names another address than the file's resource: what a file
/// copied from another and edited says (its `id` and label changed, `to` forgotten). `to` only
/// repeats the resource's address, so it is ignored: the `id` says which resource the file is.
#[derive(Debug, Clone)]
pub(super) struct Retargeted {
    /// What `to` named, and where.
    pub to: String,
    pub line: usize,
    pub column: usize,
}

/// The files with each import block's `to` that names another address than the file's
/// resource replaced by the resource's own address, and what each `to` said. Every other file,
/// and every other problem, as it is.
pub(super) fn ignore_import_targets(files: &[&File]) -> (Vec<File>, BTreeMap<String, Retargeted>) {
    let mut out: Vec<File> = files.iter().map(|f| (*f).clone()).collect();
    let mut retargeted = BTreeMap::new();
    // Only the files whose `to` may name another address are parsed here (the parser decides).
    let candidates: Vec<File> = out
        .iter()
        .filter(|(_, bytes)| std::str::from_utf8(bytes).is_ok_and(may_retarget))
        .cloned()
        .collect();
    let Err(errors) = crate::hcl::tree::parse_files(candidates) else {
        return (out, retargeted);
    };
    for e in errors.errors() {
        let crate::hcl::Problem::ImportTarget { to, resource } = &e.problem else {
            continue;
        };
        let Some(file) = out.iter_mut().find(|(p, _)| *p == e.file) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(&file.1) else {
            continue;
        };
        let Some(at) =
            byte_offset(text, e.line, e.column).filter(|at| text[*at..].starts_with(to.as_str()))
        else {
            continue;
        };
        let patched = format!("{}{resource}{}", &text[..at], &text[at + to.len()..]);
        file.1 = patched.into_bytes();
        retargeted.insert(
            e.file.clone(),
            Retargeted {
                to: to.clone(),
                line: e.line,
                column: e.column,
            },
        );
    }
    (out, retargeted)
}

/// Whether a file's first `to = ...` line names something else than its `resource` block's
/// labels: a cheap look before the parser decides, so that a tree is not parsed twice.
fn may_retarget(text: &str) -> bool {
    let mut lines = text.lines().map(str::trim_start);
    let to = lines.clone().find_map(|l| {
        let rest = l.strip_prefix("to")?.trim_start().strip_prefix('=')?;
        Some(rest.trim())
    });
    let Some(to) = to else {
        return false;
    };
    let labels: Option<Vec<&str>> = lines.find_map(|l| l.strip_prefix("resource ")).map(|rest| {
        rest.split('"')
            .filter(|p| !p.trim().is_empty() && *p != "{")
            .collect()
    });
    match labels.as_deref() {
        Some([ty, name, ..]) => to != format!("{ty}.{name}"),
        _ => true,
    }
}

/// The files of a tree with every import block's `to` that names another address than the
/// file's resource made to name it, each with a note: what [`super::plan`] does with a copied file, for
/// `validate` to do the same.
pub fn ignoring_import_targets(
    files: Vec<(String, Vec<u8>)>,
) -> (Vec<(String, Vec<u8>)>, Vec<Diagnostic>) {
    let refs: Vec<&File> = files.iter().collect();
    let (out, retargeted) = ignore_import_targets(&refs);
    let notes = retargeted
        .into_iter()
        .map(|(path, r)| {
            Diagnostic::note(
                path,
                format!(
                    "the import block's `to` names `{}`, not this file's resource: it is ignored, and the `id` says which resource the file is (a new one when the workspace has no such id)",
                    r.to
                ),
            )
            .at(r.line, r.column)
        })
        .collect();
    (out, notes)
}

/// The byte offset of a one-based line and column (in characters).
fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    let within = rest
        .char_indices()
        .nth(column.checked_sub(1)?)
        .map(|(i, _)| i)?;
    Some(start + within)
}

/// Files without an import block that name an existing resource anyway, by their label
/// (`id-<id>`) or their file name (`<id>.tf`), are that resource: planned as a create, they
/// would make a duplicate (and, with a base, a delete of the original and a create). A file
/// that names two existing resources, or one that another file already is, is refused.
pub(super) async fn identify<W: Workspace + Sync>(
    checked: &mut Checked<'_>,
    live: &mut Live<'_, W>,
) -> Result<(), PlanError> {
    let mut problems = Vec::new();
    let head = std::mem::take(&mut checked.head);
    for (key, (path, resource)) in head {
        // Placed at the resource block, whose label names the resource.
        let block_at = super::text_of(checked.head_text(&path))
            .and_then(|t| super::place_of(t, "resource \""));
        let at_block = |d: Diagnostic| match block_at {
            Some((line, column)) => d.at(line, column),
            None => d,
        };
        let named = match key {
            Key::New(_) => existing_claims(&path, &resource, live).await?,
            Key::Existing(..) => Vec::new(),
        };
        let (key, resource) = match named.as_slice() {
            [] => (key, resource),
            [(how, own)] => {
                let existing = as_existing(&resource, own);
                let note = at_block(Diagnostic::warning(
                    path.clone(),
                    format!(
                        "no import block, but its {how} names `{own}`, which the workspace holds: the file is that resource, {}",
                        address(&existing)
                    ),
                ));
                checked.notes.push(note);
                (key_of(&path, &existing), existing)
            }
            _ => {
                let names: Vec<String> = named
                    .iter()
                    .map(|(how, own)| format!("`{own}` by its {how}"))
                    .collect();
                problems.push(at_block(Diagnostic::error(
                    path.clone(),
                    format!(
                        "no import block, and it names two resources the workspace holds, {}: add the import block of the one it is, or give a new resource a label and a file name of its own",
                        names.join(" and ")
                    ),
                )));
                continue;
            }
        };
        if let Some((other, _)) = checked.head.get(&key) {
            problems.push(at_block(Diagnostic::error(
                path.clone(),
                format!(
                    "{} is also in {other}, which names it by its import block; a resource has one file (a copy meant as a new resource needs a label and a file name of its own)",
                    address(&resource)
                ),
            )));
            continue;
        }
        checked.head.insert(key, (path, resource));
    }
    // A base file without an import block is the resource it named, the same way, so that its
    // changes merge three ways instead of a delete and a create.
    let base = std::mem::take(&mut checked.base);
    for (key, (path, resource)) in base {
        let named = match key {
            Key::New(_) => existing_claims(&path, &resource, live).await?,
            Key::Existing(..) => Vec::new(),
        };
        let (key, resource) = match named.as_slice() {
            [(_, own)] => {
                let existing = as_existing(&resource, own);
                (key_of(&path, &existing), existing)
            }
            _ => (key, resource),
        };
        checked.base.entry(key).or_insert((path, resource));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Invalid(problems))
    }
}

/// The ids a file without an import block names that the workspace holds, each with how the
/// file names it.
async fn existing_claims<W: Workspace + Sync>(
    path: &str,
    resource: &Resource,
    live: &mut Live<'_, W>,
) -> Result<Vec<(&'static str, String)>, PlanError> {
    let mut out = Vec::new();
    for own in claimed_ids(path, resource) {
        let existing = as_existing(resource, &own);
        let Ok(import_id) = existing.import_id() else {
            continue;
        };
        if live.get(resource.ty, &import_id).await?.is_some() {
            let by_label = existing.terraform_name().ok() == resource.new_name;
            out.push((if by_label { "label" } else { "file name" }, own));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Value};

    fn resource(
        ty: ResourceType,
        id: Option<&str>,
        name: Option<&str>,
        attrs: &[(&str, &str)],
    ) -> Resource {
        let attributes: Attributes = attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let mut r = Resource::new(ty, id.map(str::to_owned), attributes);
        r.new_name = name.map(str::to_owned);
        r
    }

    #[test]
    fn a_file_is_keyed_by_its_import_id_or_by_its_path_when_new() {
        let label = resource(
            ResourceType::Label,
            None,
            Some("anything"),
            &[("key", "env"), ("value", "dev")],
        );
        let cases = [
            (
                resource(ResourceType::Source, Some("abc"), None, &[]),
                Key::Existing(ResourceType::Source, "abc".into()),
            ),
            (
                resource(ResourceType::Source, None, Some("new"), &[]),
                Key::New("sources/new.tf".into()),
            ),
            (label, Key::Existing(ResourceType::Label, "env:dev".into())),
            (
                resource(
                    ResourceType::DestinationFilter,
                    Some("f1"),
                    None,
                    &[("destination_id", "d1")],
                ),
                Key::Existing(ResourceType::DestinationFilter, "f1".into()),
            ),
        ];
        for (r, want) in cases {
            assert_eq!(key_of("sources/new.tf", &r), want, "{r:?}");
        }
    }

    #[test]
    fn a_file_without_import_block_claims_the_ids_its_label_or_name_spell() {
        let set = |ids: &[&str]| {
            ids.iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<String>>()
        };
        let sub = |name: &str| {
            resource(
                ResourceType::DestinationSubscription,
                None,
                Some(name),
                &[("destination_id", "d1")],
            )
        };
        let cases = [
            (
                "sources/abc.tf",
                resource(ResourceType::Source, None, Some("id-abc"), &[]),
                set(&["abc"]),
            ),
            (
                "sources/abc.tf",
                resource(ResourceType::Source, None, Some("mine"), &[]),
                set(&["abc"]),
            ),
            (
                "sources/new.tf",
                resource(ResourceType::Source, None, Some("id-abc"), &[]),
                set(&["abc", "new"]),
            ),
            (
                "sources/xyz.tf",
                resource(ResourceType::Source, None, Some("id-abc"), &[]),
                set(&["abc", "xyz"]),
            ),
            (
                "sources/new.tf",
                resource(ResourceType::Source, None, Some("new_source"), &[]),
                set(&["new"]),
            ),
            (
                "sources/abc.tf",
                resource(ResourceType::Source, Some("abc"), None, &[]),
                set(&[]),
            ),
            (
                "destination_subscriptions/d1_s1.tf",
                sub("mine"),
                set(&["s1"]),
            ),
            (
                "destination_subscriptions/x.tf",
                sub("id-d1_s1"),
                set(&["s1"]),
            ),
            ("destination_subscriptions/x.tf", sub("id-d2_s1"), set(&[])),
        ];
        for (path, r, want) in cases {
            assert_eq!(claimed_ids(path, &r), want, "{path} {r:?}");
        }
    }

    #[test]
    fn only_a_to_that_may_name_another_resource_is_parsed_again() {
        let file = |to: &str| {
            format!(
                "import {{\n  to = {to}\n  id = \"abc\"\n}}\n\nresource \"segment_source\" \"id-abc\" {{\n  name = \"x\"\n}}\n"
            )
        };
        let cases = [
            (file("segment_source.id-abc"), false),
            (file("segment_source.id-xyz"), true),
            (file("segment_destination.id-abc"), true),
            (file("segment_source.id-abc # copied"), true),
            (
                "resource \"segment_source\" \"new\" {\n}\n".to_owned(),
                false,
            ),
            (
                "import {\n  to = segment_source.id-abc\n}\n".to_owned(),
                true,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(may_retarget(&text), want, "{text}");
        }
    }
}
