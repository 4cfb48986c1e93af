//! Which values of a resource the plan must not show or write as they are: one walker over a
//! resource's values, one rule for what is secret.
//!
//! The rule is the workspace's own ([`api::is_secret_under`]): a value is secret where Segment
//! masks it (under a secret settings key, or a string under a `credentials` key), so the plan
//! hides exactly what the workspace would hide. Besides, a mask (`••••••••••abcd`) and a
//! `@@name@@` placeholder are never shown, wherever they stand.
//!
//! This module only answers questions about values; it never decides what a plan does with
//! them and never sees a secret's value (placeholders are not resolved here).

use crate::model::diff;
use crate::model::{Resource, Value};
use crate::workspace::api;

type Json = serde_json::Value;

/// What a place holds that is not to be shown as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A value in clear under a key whose values Segment masks.
    Clear,
    /// A value in the shape of Segment's mask.
    Mask,
    /// A string holding a `@@name@@` placeholder.
    Placeholder,
    /// An object key holding a placeholder: it would be sent as the key's name, literally.
    PlaceholderInKey,
}

/// One place of a resource: `settings.apiKey`, `settings.headers[0].value`, `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Place {
    pub path: String,
    pub kind: Kind,
    /// Under a key whose values Segment masks: a placeholder there is where it belongs.
    pub secret: bool,
    /// The mask, the string holding placeholders, or the key: what to look for in the file.
    /// Empty for a clear secret, which is not carried around.
    pub text: String,
}

/// Every place of a resource that holds a secret, a mask or a placeholder. Only JSON
/// attributes (`settings`) hold secrets; a placeholder or a mask in any other attribute is
/// reported with `secret: false`.
pub(super) fn places(resource: &Resource) -> Vec<Place> {
    let mut out = Vec::new();
    for (name, value) in &resource.attributes {
        match value {
            Value::Json(j) => walk(j, name.clone(), false, true, &mut out),
            other => walk(&other.to_json(), name.clone(), false, false, &mut out),
        }
    }
    out
}

/// The places of one JSON value, `under_secret` when it stands under a secret key already.
pub(super) fn json_places(j: &Json, path: &str, under_secret: bool) -> Vec<Place> {
    let mut out = Vec::new();
    walk(j, path.to_owned(), under_secret, true, &mut out);
    out
}

fn walk(j: &Json, path: String, secret: bool, keys_count: bool, out: &mut Vec<Place>) {
    match j {
        Json::String(s) => {
            let kind = if crate::model::secret_placeholders(s).next().is_some() {
                Some(Kind::Placeholder)
            } else if api::is_masked(s) {
                Some(Kind::Mask)
            } else if secret && !s.is_empty() {
                Some(Kind::Clear)
            } else {
                None
            };
            if let Some(kind) = kind {
                let text = if kind == Kind::Clear {
                    String::new()
                } else {
                    s.clone()
                };
                out.push(Place {
                    path,
                    kind,
                    secret,
                    text,
                });
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, format!("{path}[{i}]"), secret, keys_count, out);
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                let at = format!("{path}.{k}");
                if crate::model::secret_placeholders(k).next().is_some() {
                    out.push(Place {
                        path: at.clone(),
                        kind: Kind::PlaceholderInKey,
                        secret,
                        text: k.clone(),
                    });
                }
                let secret = secret || (keys_count && api::is_secret_under(k, v));
                walk(v, at, secret, keys_count, out);
            }
        }
        _ => {}
    }
}

/// Whether a value is not to be shown: it holds a mask, a placeholder, or (under a secret key,
/// `under_secret`) anything at all.
pub(super) fn hides(j: &Json, under_secret: bool) -> bool {
    if under_secret && !j.is_null() {
        return true;
    }
    !json_places(j, "", false).is_empty()
}

/// Whether the value at a path (a chain of keys, the last holding `value`) is secret by the
/// workspace's rule: a secret key anywhere on the way, or the last key holding a secret there.
pub(super) fn path_is_secret<'k>(keys: impl IntoIterator<Item = &'k str>, value: &[&Json]) -> bool {
    let keys: Vec<&str> = keys.into_iter().collect();
    let Some((last, before)) = keys.split_last() else {
        return false;
    };
    before.iter().any(|k| api::is_secret_key(k))
        || api::is_secret_key(last)
        || value.iter().any(|v| api::is_secret_under(last, v))
}

/// The keys of a diff path (`settings.credentials[0]` is `settings`, `credentials`).
pub(super) fn diff_keys(path: &diff::Path) -> Vec<&str> {
    path.0
        .iter()
        .filter_map(|s| match s {
            diff::Step::Attribute(k) | diff::Step::Key(k) => Some(k.as_str()),
            diff::Step::Index(_) => None,
        })
        .collect()
}

/// Whether a change at `path` from `before` to `after` is shown as `(sensitive)`.
pub(super) fn change_is_sensitive(
    keys: &[&str],
    before: Option<&Json>,
    after: Option<&Json>,
) -> bool {
    let sides: Vec<&Json> = [before, after].into_iter().flatten().collect();
    path_is_secret(keys.iter().copied(), &sides) || sides.iter().any(|v| hides(v, false))
}

/// What the workspace serves where a file holds a mask that is not its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Served {
    /// Another mask: another secret.
    Mask(String),
    /// A value that is not a mask (not shown).
    Other,
    Nothing,
}

/// A mask in a file that is not the one the workspace serves at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ForeignMask {
    pub path: String,
    pub mask: String,
    pub served: Served,
}

/// The masks of a file that the workspace does not serve at their place: a secret rotated in
/// the app since the file was written, or a file copied from another workspace. A mask means
/// "what the workspace holds", so these say something the plan cannot do.
pub(super) fn foreign_masks(file: &Resource, live: &Resource) -> Vec<ForeignMask> {
    let mut out = Vec::new();
    for (name, value) in &file.attributes {
        let served = live.attributes.get(name).map(Value::to_json);
        zip_masks(&value.to_json(), served.as_ref(), name.clone(), &mut out);
    }
    out
}

fn zip_masks(file: &Json, served: Option<&Json>, path: String, out: &mut Vec<ForeignMask>) {
    match file {
        Json::String(mask) if api::is_masked(mask) => {
            let served = match served {
                Some(Json::String(s)) if s == mask => return,
                Some(Json::String(s)) if api::is_masked(s) => Served::Mask(s.clone()),
                None | Some(Json::Null) => Served::Nothing,
                Some(Json::String(s)) if s.is_empty() => Served::Nothing,
                Some(_) => Served::Other,
            };
            out.push(ForeignMask {
                path,
                mask: mask.clone(),
                served,
            });
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let s = served.and_then(|s| s.get(i));
                zip_masks(v, s, format!("{path}[{i}]"), out);
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                let s = served.and_then(|s| s.get(k));
                zip_masks(v, s, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_walker_finds_masks_placeholders_and_clear_secrets_by_the_workspaces_rule() {
        let mask = api::mask("0123456789abcd");
        let cases = [
            (
                json!({"apiKey": "clear"}),
                vec![("s.apiKey", Kind::Clear, true)],
            ),
            (
                json!({"apiKey": mask}),
                vec![("s.apiKey", Kind::Mask, true)],
            ),
            (
                json!({"apiKey": "@@k@@"}),
                vec![("s.apiKey", Kind::Placeholder, true)],
            ),
            (
                json!({"region": "@@k@@"}),
                vec![("s.region", Kind::Placeholder, false)],
            ),
            (json!({"region": "eu"}), vec![]),
            (json!({"apiKey": ""}), vec![]),
            // A string under `credentials` is a secret; an object's own keys say what they hold.
            (
                json!({"credentials": "{...}"}),
                vec![("s.credentials", Kind::Clear, true)],
            ),
            (
                json!({"credentials": {"user": "u", "password": "p"}}),
                vec![("s.credentials.password", Kind::Clear, true)],
            ),
            (
                json!({"apiKeys": ["a", "@@k@@"]}),
                vec![
                    ("s.apiKeys[0]", Kind::Clear, true),
                    ("s.apiKeys[1]", Kind::Placeholder, true),
                ],
            ),
            (
                json!({"@@k@@": "v"}),
                vec![("s.@@k@@", Kind::PlaceholderInKey, false)],
            ),
            (
                json!({"headers": [{"x": mask}]}),
                vec![("s.headers[0].x", Kind::Mask, false)],
            ),
        ];
        for (j, want) in cases {
            let got: Vec<(String, Kind, bool)> = json_places(&j, "s", false)
                .into_iter()
                .map(|p| (p.path, p.kind, p.secret))
                .collect();
            let want: Vec<(String, Kind, bool)> = want
                .into_iter()
                .map(|(p, k, s)| (p.to_owned(), k, s))
                .collect();
            assert_eq!(got, want, "{j}");
        }
    }

    /// The path's keys, the value before, after, and whether the change is hidden.
    type HideCase = (&'static [&'static str], Option<Json>, Option<Json>, bool);

    #[test]
    fn a_change_is_hidden_where_the_workspace_would_mask_it() {
        let cases: [HideCase; 8] = [
            (
                &["settings", "apiKey"],
                Some(json!("a")),
                Some(json!("b")),
                true,
            ),
            (
                &["settings", "region"],
                Some(json!("eu")),
                Some(json!("us")),
                false,
            ),
            (&["settings", "region"], None, Some(json!("@@k@@")), true),
            (
                &["settings", "credentials"],
                None,
                Some(json!("{json}")),
                true,
            ),
            (
                &["settings", "credentials", "user"],
                Some(json!("a")),
                Some(json!("b")),
                false,
            ),
            (
                &["settings", "credentials", "password"],
                Some(json!("a")),
                None,
                true,
            ),
            (&["settings"], None, Some(json!({"token": "t"})), true),
            (&["name"], Some(json!("a")), Some(json!("b")), false),
        ];
        for (keys, before, after, want) in cases {
            assert_eq!(
                change_is_sensitive(keys, before.as_ref(), after.as_ref()),
                want,
                "{keys:?} {before:?} {after:?}"
            );
        }
    }

    #[test]
    fn a_mask_the_workspace_does_not_serve_is_found_with_what_it_serves_instead() {
        let ours = api::mask("0123456789abcd");
        let theirs = api::mask("0123456789wxyz");
        let resource = |settings: Json| {
            let mut r = Resource::new(
                crate::model::ResourceType::Destination,
                Some("d".into()),
                Default::default(),
            );
            r.attributes
                .insert("settings".into(), Value::Json(settings));
            r
        };
        let cases = [
            (json!({"apiKey": ours}), json!({"apiKey": ours}), vec![]),
            (
                json!({"apiKey": ours}),
                json!({"apiKey": theirs}),
                vec![("settings.apiKey", Served::Mask(theirs.clone()))],
            ),
            (
                json!({"apiKey": ours}),
                json!({}),
                vec![("settings.apiKey", Served::Nothing)],
            ),
            (
                json!({"apiKey": ours}),
                json!({"apiKey": ""}),
                vec![("settings.apiKey", Served::Nothing)],
            ),
            (
                json!({"keys": [ours]}),
                json!({"keys": ["plain"]}),
                vec![("settings.keys[0]", Served::Other)],
            ),
            (
                json!({"apiKey": "@@k@@"}),
                json!({"apiKey": theirs}),
                vec![],
            ),
        ];
        for (file, live, want) in cases {
            let got: Vec<(String, Served)> =
                foreign_masks(&resource(file.clone()), &resource(live.clone()))
                    .into_iter()
                    .map(|f| (f.path, f.served))
                    .collect();
            let want: Vec<(String, Served)> =
                want.into_iter().map(|(p, s)| (p.to_owned(), s)).collect();
            assert_eq!(got, want, "{file} against {live}");
        }
    }
}
