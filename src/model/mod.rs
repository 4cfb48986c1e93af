//! The resource model: what a Segment resource is, independent of where it came from.
//!
//! The workspace client fills it from the Public API, the HCL parser fills it from files, the
//! renderer turns it into files and the plan compares two of them. It owns the shape of the data
//! and its invariants (an attribute map that matches the schema in [`schema`]); it must never know
//! about HCL syntax, HTTP or Git.

pub mod check;
pub mod diff;
pub mod schema;
pub mod synthetic;
mod value;

pub use schema::{AttrType, Attribute, ImportId, Kind, Presence, ResourceType, TypeListError};
pub use value::{
    MAX_NESTING, Value, canonical_number, canonicalize_json, json_depth, replace_placeholders,
    secret_placeholders,
};

use std::collections::BTreeMap;

/// Attribute values keyed by attribute name. Only configurable attributes are held, and never
/// `Value::Null`: an unset optional attribute is simply absent, so two models that mean the same
/// thing compare equal.
pub type Attributes = BTreeMap<String, Value>;

/// One Segment resource: its type, its identity and its configurable attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub ty: ResourceType,
    /// Segment's id for the resource. `None` for types identified by their attributes alone
    /// (labels, connections) and for a resource a person wrote that does not exist yet.
    pub id: Option<String>,
    /// The Terraform name a person gave a resource that has no import block yet (a new
    /// resource in a pull request). `None` for every resource that exists in the workspace:
    /// their names are derived from the import id.
    pub new_name: Option<String>,
    pub attributes: Attributes,
}

/// Why an import id cannot be formed for a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{ty} has no Segment id, so its import id cannot be formed")]
    MissingId { ty: ResourceType },
    #[error("{ty} needs the attribute `{attribute}` as a string to form its import id")]
    MissingAttribute {
        ty: ResourceType,
        attribute: &'static str,
    },
}

/// A value nested deeper than [`MAX_NESTING`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ty}: `{attribute}` nests lists and objects deeper than the {MAX_NESTING} levels allowed")]
pub struct NestingError {
    pub ty: ResourceType,
    pub attribute: String,
    /// `usize::MAX` for a document deeper than serde_json reads.
    pub depth: usize,
}

impl Resource {
    /// A resource that exists in the workspace.
    pub fn new(ty: ResourceType, id: Option<String>, attributes: Attributes) -> Resource {
        Resource {
            ty,
            id,
            new_name: None,
            attributes,
        }
    }

    pub fn kind(&self) -> &'static Kind {
        self.ty.kind()
    }

    /// The value of a top-level attribute, `Value::Null` when unset.
    pub fn get(&self, name: &str) -> &Value {
        self.attributes.get(name).unwrap_or(&Value::Null)
    }

    fn string_attribute(&self, name: &'static str) -> Result<&str, IdentityError> {
        match self.get(name) {
            Value::String(s) => Ok(s),
            _ => Err(IdentityError::MissingAttribute {
                ty: self.ty,
                attribute: name,
            }),
        }
    }

    fn own_id(&self) -> Result<&str, IdentityError> {
        self.id
            .as_deref()
            .ok_or(IdentityError::MissingId { ty: self.ty })
    }

    /// The Terraform import id: `abc`, `<destination_id>:<id>`, `<key>:<value>`.
    pub fn import_id(&self) -> Result<String, IdentityError> {
        Ok(match self.kind().import_id {
            ImportId::OwnId => self.own_id()?.to_owned(),
            ImportId::ParentAndOwnId { parent } => {
                format!("{}:{}", self.string_attribute(parent)?, self.own_id()?)
            }
            ImportId::Attributes(names) => {
                let parts: Result<Vec<&str>, _> =
                    names.iter().map(|n| self.string_attribute(n)).collect();
                parts?.join(":")
            }
        })
    }

    /// The Terraform resource name: `id-` plus the import id with `:` replaced by `_`, or the
    /// name a person chose for a new resource. A label whose Git Sync name could be another
    /// label's gets an unambiguous one ([`label_stem`]).
    pub fn terraform_name(&self) -> Result<String, IdentityError> {
        match &self.new_name {
            Some(name) => Ok(name.clone()),
            None => Ok(format!("id-{}", self.import_stem()?)),
        }
    }

    /// The name Segment's Git Sync gives a resource, when gitsync gives it another (a label
    /// whose name Git Sync makes ambiguous): a file Git Sync wrote under it is still read.
    pub fn git_sync_terraform_name(&self) -> Option<String> {
        let git_sync = format!("id-{}", self.import_id().ok()?.replace(':', "_"));
        (self.new_name.is_none() && Ok(&git_sync) != self.terraform_name().as_ref())
            .then_some(git_sync)
    }

    /// The file's path relative to the repository root, as Git Sync names it:
    /// `sources/abc.tf`, `destination_subscriptions/<dest>_<sub>.tf`; for a label whose Git Sync
    /// name is ambiguous, as [`label_stem`] names it.
    pub fn path(&self) -> Result<String, IdentityError> {
        let stem = match self.kind().file_name {
            schema::FileName::OwnId => match self.kind().import_id {
                ImportId::Attributes(_) => self.import_stem()?,
                _ => self.own_id()?.to_owned(),
            },
            schema::FileName::ImportId => self.import_stem()?,
        };
        Ok(format!("{}/{stem}.tf", self.kind().directory))
    }

    /// The import id as names hold it: `:` replaced by `_`, a label's as [`label_stem`] says.
    fn import_stem(&self) -> Result<String, IdentityError> {
        if self.ty == ResourceType::Label {
            return Ok(label_stem(
                self.string_attribute("key")?,
                self.string_attribute("value")?,
            ));
        }
        Ok(self.import_id()?.replace(':', "_"))
    }

    /// Refuses an attribute nested deeper than [`MAX_NESTING`]: the one check that the
    /// embedded workspace, the renderer and the parser share.
    pub fn check_nesting(&self) -> Result<(), NestingError> {
        match self
            .attributes
            .iter()
            .map(|(name, value)| (name, value.depth()))
            .find(|(_, depth)| *depth > MAX_NESTING)
        {
            Some((name, depth)) => Err(NestingError {
                ty: self.ty,
                attribute: name.clone(),
                depth,
            }),
            None => Ok(()),
        }
    }

    /// Names of the `@@name@@` secret placeholders used anywhere in the resource.
    pub fn secret_placeholders(&self) -> Vec<String> {
        let mut names = Vec::new();
        for value in self.attributes.values() {
            value.collect_placeholders(&mut names);
        }
        names.sort();
        names.dedup();
        names
    }
}

/// The part of a label's file name and Terraform name that its key and value make.
///
/// Git Sync writes `<key>_<value>` with every `:` made `_`, so `cost_center:eu` and
/// `cost:center_eu` get one file and one Terraform name, and a rewrite of one overwrites the
/// other. Keys and values are free text, so every label whose Git Sync name could also be
/// another's gets another name here; all others keep Git Sync's, byte for byte:
///
/// - Git Sync's `<key>_<value>` when the key and value hold only characters a Terraform name
///   may hold (letters, digits, `_`, `-`), the value no `_`, and the key no `__` and no `_` at
///   its end. Then the last `_` is the one between key and value: no other label has the name.
/// - Otherwise `<key>__<value>`, each with every character other than those and every `_`
///   written as `_` and its UTF-8 bytes in hex (`_5f` for `_`, `_3a` for `:`, `_2e` for `.`):
///   `cost:center_eu` is `cost__center_5feu`. The `__` tells it from Git Sync's form, which
///   never holds one, and the first `__` is the one between key and value.
///
/// Either way the name is a valid Terraform name after `id-`, and a file name that is neither
/// hidden nor outside its directory (no `/`, no leading `.`).
pub fn label_stem(key: &str, value: &str) -> String {
    let kept = |c: char| {
        (unicode_ident::is_xid_continue(c) && !matches!(c, '\u{200c}' | '\u{200d}')) || c == '-'
    };
    let plain = key.chars().all(kept)
        && value.chars().all(kept)
        && !value.contains('_')
        && !key.contains("__")
        && !key.ends_with('_');
    if plain {
        return format!("{key}_{value}");
    }
    let escape = |text: &str| {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if kept(c) && c != '_' {
                out.push(c);
            } else {
                let mut bytes = [0; 4];
                for b in c.encode_utf8(&mut bytes).bytes() {
                    out.push_str(&format!("_{b:02x}"));
                }
            }
        }
        out
    };
    format!("{}__{}", escape(key), escape(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn identity_follows_git_sync_rules() {
        let src = Resource::new(ResourceType::Source, Some("abc".into()), Attributes::new());
        assert_eq!(src.import_id().as_deref(), Ok("abc"));
        assert_eq!(src.terraform_name().as_deref(), Ok("id-abc"));
        assert_eq!(src.path().as_deref(), Ok("sources/abc.tf"));

        let filter = Resource::new(
            ResourceType::DestinationFilter,
            Some("f1".into()),
            attrs(&[("destination_id", "d1")]),
        );
        assert_eq!(filter.import_id().as_deref(), Ok("d1:f1"));
        assert_eq!(filter.terraform_name().as_deref(), Ok("id-d1_f1"));
        assert_eq!(filter.path().as_deref(), Ok("destination_filters/f1.tf"));

        let sub = Resource::new(
            ResourceType::DestinationSubscription,
            Some("s1".into()),
            attrs(&[("destination_id", "d1")]),
        );
        assert_eq!(
            sub.path().as_deref(),
            Ok("destination_subscriptions/d1_s1.tf")
        );

        let label = Resource::new(
            ResourceType::Label,
            None,
            attrs(&[("key", "env"), ("value", "dev")]),
        );
        assert_eq!(label.import_id().as_deref(), Ok("env:dev"));
        assert_eq!(label.path().as_deref(), Ok("labels/env_dev.tf"));
    }

    #[test]
    fn identity_errors_name_what_is_missing() {
        let src = Resource::new(ResourceType::Source, None, Attributes::new());
        assert_eq!(
            src.import_id(),
            Err(IdentityError::MissingId {
                ty: ResourceType::Source
            })
        );
        let label = Resource::new(ResourceType::Label, None, attrs(&[("key", "env")]));
        assert_eq!(
            label.import_id().map_err(|e| e.to_string()),
            Err(
                "segment_label needs the attribute `value` as a string to form its import id"
                    .into()
            )
        );
    }

    fn label(key: &str, value: &str) -> Resource {
        Resource::new(
            ResourceType::Label,
            None,
            attrs(&[("key", key), ("value", value)]),
        )
    }

    #[test]
    fn label_names_are_git_syncs_unless_another_label_could_have_them() {
        let cases = [
            // Git Sync's own, byte for byte.
            ("environment", "dev", "environment_dev"),
            ("cost_center", "eu", "cost_center_eu"),
            ("team", "us-east", "team_us-east"),
            ("équipe", "ventes", "équipe_ventes"),
            ("", "x", "_x"),
            ("k", "", "k_"),
            // What Git Sync would give another label too.
            ("cost", "center_eu", "cost__center_5feu"),
            ("cost_", "eu", "cost_5f__eu"),
            ("a__b", "c", "a_5f_5fb__c"),
            ("a:b", "c", "a_3ab__c"),
            ("env", "a:b", "env__a_3ab"),
            // What no file name or Terraform name may hold.
            ("test 2", "x", "test_202__x"),
            (".hidden", "x", "_2ehidden__x"),
            ("team", "a/b", "team__a_2fb"),
            ("k", "..", "k___2e_2e"),
            ("k", "ß€", "k__ß_e2_82_ac"),
            ("k", "\u{1f600}", "k___f0_9f_98_80"),
        ];
        for (key, value, stem) in cases {
            let l = label(key, value);
            assert_eq!(label_stem(key, value), stem, "{key}:{value}");
            assert_eq!(l.path(), Ok(format!("labels/{stem}.tf")));
            assert_eq!(l.terraform_name(), Ok(format!("id-{stem}")));
            let git_sync = format!("id-{key}_{value}").replace(':', "_");
            let differs = stem != format!("{key}_{value}").replace(':', "_");
            assert_eq!(
                l.git_sync_terraform_name(),
                differs.then_some(git_sync),
                "{key}:{value}"
            );
        }
    }

    #[test]
    fn no_two_labels_share_a_name() {
        let parts = [
            "", "_", "__", "a", "a_", "_a", "a_b", "a:b", ":", "a__b", "-", "_5f", "_3a", "é",
        ];
        let mut seen = std::collections::HashMap::new();
        for key in parts {
            for value in parts {
                let stem = label_stem(key, value);
                if let Some(other) = seen.insert(stem.clone(), (key, value)) {
                    panic!("{key:?}:{value:?} and {other:?} are both {stem}");
                }
                assert!(!stem.contains('/') && !stem.starts_with('.'), "{stem}");
            }
        }
    }
}
