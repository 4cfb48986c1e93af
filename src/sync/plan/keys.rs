//! Who a resource is, across the three states a plan compares (the base file, the new file and
//! the workspace): its type and import id when its file says which, or the file itself when it
//! asks for a resource that does not exist yet.
//!
//! It decides identity from a file alone ([`key_of`]) and lists the ids a file without an import
//! block still names, by its label (`id-<id>`) or its file name (`<id>.tf`) ([`claimed_ids`]),
//! for the plan to look up. It never reads the workspace.

use std::collections::BTreeSet;

use crate::model::{ImportId, Resource, ResourceType};

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
}
