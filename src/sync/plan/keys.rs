//! Who a resource is, across the three states a plan compares (the base file, the new file and
//! the workspace): its type and import id when its file says which, or the file itself when it
//! asks for a resource that does not exist yet.
//!
//! It decides identity from a file alone ([`key_of`]). It never reads the workspace.

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
}
