//! The three-way merge of one resource: the workspace's state with the changes a file made
//! since the base applied to it, attribute by attribute and, inside JSON settings, key by key.
//! A value both sides changed, differently, is a conflict; a workspace change the file did not
//! touch is kept (and noted). Before comparing, a file's values are made comparable with the
//! workspace's ([`settle`]): a mask stands for what the workspace holds, a placeholder that
//! agrees with the workspace's mask is that value.
//!
//! Pure: it is given the three states and never reads the workspace or the files.

use std::collections::{BTreeMap, BTreeSet};

use super::sensitive;
use super::{Conflict, Kept, Plan, address};
use crate::model::diff;
use crate::model::{AttrType, Attributes, Resource, Value};
use crate::sync::diagnostic::Diagnostic;
use crate::sync::secrets::{self, Agreement, SecretSource};
use crate::workspace::api;

/// A file's resource made comparable with a workspace resource (see [`settle`]): what
/// [`super::apply`] uses to recognise a resource it created when the answer was lost.
pub fn comparable(file: &Resource, live: &Resource, secrets: &dyn SecretSource) -> Resource {
    let mut out = file.clone();
    let send = BTreeSet::new();
    settle(
        &mut out,
        live,
        &Settle {
            secrets,
            send: &send,
        },
    );
    out
}

/// How a file's values are made comparable with the workspace's.
pub(super) struct Settle<'a> {
    pub secrets: &'a dyn SecretSource,
    /// Placeholders to send even where the workspace's mask cannot tell their secret from the
    /// one it holds.
    pub send: &'a BTreeSet<String>,
}

/// Makes a file's values comparable with the workspace's (see the module's doc). Returns the
/// placeholders it took as agreeing without being able to tell, each with the mask the
/// workspace serves for it.
pub(super) fn settle(
    resource: &mut Resource,
    live: &Resource,
    how: &Settle<'_>,
) -> BTreeMap<String, String> {
    let mut untold = BTreeMap::new();
    for (name, value) in resource.attributes.iter_mut() {
        if let Some(served) = live.attributes.get(name) {
            value.zip_strings(served, &mut |s, l| settle_str(s, l, how, &mut untold));
        }
    }
    untold
}

fn settle_str(
    s: &mut String,
    served: &str,
    how: &Settle<'_>,
    untold: &mut BTreeMap<String, String>,
) {
    // A placeholder is compared by its resolved value only; its own text is no secret.
    let names: Vec<String> = crate::model::secret_placeholders(s)
        .map(str::to_owned)
        .collect();
    if !names.is_empty() {
        match secrets::compare(s, served, how.secrets) {
            Agreement::Same => served.clone_into(s),
            Agreement::CannotTell if !names.iter().any(|n| how.send.contains(n)) => {
                untold.extend(names.into_iter().map(|n| (n, served.to_owned())));
                served.clone_into(s);
            }
            Agreement::CannotTell | Agreement::Differs | Agreement::Missing => {}
        }
        return;
    }
    // A mask means what the workspace holds there (see `foreign_masks` for one that is not the
    // workspace's). A secret written in clear (Segment's own export sometimes does) agrees with
    // its mask: the workspace cannot show more, so it is no change.
    if api::is_masked(s) || (api::is_masked(served) && api::mask(s) == served) {
        served.clone_into(s);
    }
}

/// The note for a placeholder whose secret the plan cannot tell from the workspace's.
fn untold(file: &str, text: Option<&[u8]>, name: &str, served: &str) -> Diagnostic {
    let why = if served == api::MASK_BULLETS {
        "both secrets are under 8 characters, which Segment masks to no character at all"
    } else {
        "both end with the same four characters, all that Segment's mask shows"
    };
    let d = Diagnostic::note(
        file,
        format!(
            "cannot tell whether the secret of @@{name}@@ differs from the one the workspace holds: the workspace shows only its mask `{served}`, and the secret given masks to it too ({why}). It is left as the workspace holds it; to send it anyway, name @@{name}@@ {}",
            super::SEND_ANYWAY
        ),
    )
    .with_remedy(crate::sync::diagnostic::Remedy::SendSecretAnyway);
    super::at_first(d, text, Some(&format!("@@{name}@@")))
}

/// An attribute that came in a later provider release than its type, absent from a file (not
/// even `= null`): the file was written before it existed and says nothing about it, so the
/// workspace's value stands (a 2024 subscription file has no `reverse_etl_schedule`; it must
/// not remove the schedule).
pub(super) fn keep_unstated(resource: &mut Resource, text: Option<&[u8]>, live: &Resource) {
    let Some(text) = text.and_then(|t| std::str::from_utf8(t).ok()) else {
        return;
    };
    let history = resource.ty.history();
    let later: Vec<&str> = history
        .attributes
        .iter()
        .filter(|h| !h.path.contains(['.', '[']) && h.lifetime.since > history.since)
        .map(|h| h.path)
        .collect();
    if later.iter().all(|a| !live.attributes.contains_key(*a)) {
        return;
    }
    let Some(stated) = crate::hcl::stated_attributes(text, "") else {
        return;
    };
    for name in later {
        if !stated.iter().any(|s| s == name)
            && let Some(value) = live.attributes.get(name)
        {
            resource.attributes.insert(name.to_owned(), value.clone());
        }
    }
}

/// One side of the merge as a file holds it: the resource and the file's bytes (which tell
/// what the file writes at all, see [`keep_unstated`]).
pub(super) struct FileState<'a> {
    pub resource: &'a Resource,
    pub text: Option<&'a [u8]>,
}

/// The three-way merge of one resource: the workspace's state with the file's changes since
/// the base applied. `None` when they conflict (the conflicts are recorded in `plan`).
pub(super) fn merge(
    base: Option<FileState<'_>>,
    new: FileState<'_>,
    live: &Resource,
    file: &str,
    how: &Settle<'_>,
    plan: &mut Plan,
) -> Option<Resource> {
    let (new_text, base_text) = (new.text, base.as_ref().and_then(|b| b.text));
    let base = base.map(|b| b.resource);
    let mut new = new.resource.clone();
    for (name, served) in settle(&mut new, live, how) {
        plan.notes.push(untold(file, new_text, &name, &served));
    }
    keep_unstated(&mut new, new_text, live);
    let mut merged = live.clone();
    let Some(base) = base else {
        // No base: the file is the whole truth (a two-way comparison).
        merged.attributes = new.attributes;
        return Some(merged);
    };
    let mut base = base.clone();
    // The base's placeholders are compared as they were; only the file's are sent.
    let no_send = BTreeSet::new();
    settle(
        &mut base,
        live,
        &Settle {
            secrets: how.secrets,
            send: &no_send,
        },
    );
    keep_unstated(&mut base, base_text, live);
    let address = address(live);
    let ty = live.ty;
    let names: BTreeSet<&String> = base
        .attributes
        .keys()
        .chain(new.attributes.keys())
        .chain(live.attributes.keys())
        .collect();
    let null = Value::Null;
    let mut conflicts = Vec::new();
    let mut attributes = Attributes::new();
    let mut at = Merge3 {
        address: &address,
        file,
        conflicts: &mut conflicts,
        kept: &mut plan.kept,
    };
    for name in names {
        let Some(attribute) = ty.attribute(name).filter(|a| a.is_configurable()) else {
            continue;
        };
        let value = at.attribute(
            name,
            &attribute.ty,
            base.attributes.get(name).unwrap_or(&null),
            new.attributes.get(name).unwrap_or(&null),
            live.attributes.get(name).unwrap_or(&null),
        );
        if !value.is_null() {
            attributes.insert(name.clone(), value);
        }
    }
    if !conflicts.is_empty() {
        plan.conflicts.extend(conflicts);
        return None;
    }
    merged.attributes = attributes;
    Some(merged)
}

/// Key-by-key three-way merge of JSON documents.
pub(super) struct Merge3<'a> {
    pub address: &'a str,
    pub file: &'a str,
    pub conflicts: &'a mut Vec<Conflict>,
    pub kept: &'a mut Vec<Kept>,
}

impl Merge3<'_> {
    /// One attribute of the resource: the workspace's value with the file's change applied,
    /// JSON key by key; the workspace's value where both changed it (a conflict).
    fn attribute(&mut self, name: &str, ty: &AttrType, b: &Value, n: &Value, l: &Value) -> Value {
        let same = |x: &Value, y: &Value| diff::same(ty, x, y);
        let (user_changed, workspace_changed) = (!same(b, n), !same(b, l));
        if !user_changed {
            if workspace_changed {
                self.kept.push(Kept {
                    address: self.address.to_owned(),
                    file: self.file.to_owned(),
                    path: name.to_owned(),
                });
            }
            return l.clone();
        }
        if !workspace_changed || same(n, l) {
            return n.clone();
        }
        if let (Value::Json(bj), Value::Json(nj), Value::Json(lj)) = (b, n, l) {
            let merged = self.json(name.to_owned(), Some(bj), Some(nj), Some(lj));
            return Value::Json(merged.unwrap_or(serde_json::Value::Null));
        }
        let (bj, lj, nj) = (b.to_json(), l.to_json(), n.to_json());
        let sensitive = conflict_is_sensitive(&[name], [&bj, &lj, &nj]);
        self.conflicts.push(Conflict {
            address: self.address.to_owned(),
            file: self.file.to_owned(),
            path: name.to_owned(),
            base: (!sensitive).then_some(bj).filter(|v| !v.is_null()),
            workspace: (!sensitive).then_some(lj).filter(|v| !v.is_null()),
            file_value: (!sensitive).then_some(nj).filter(|v| !v.is_null()),
            sensitive,
        });
        l.clone()
    }

    pub fn json(
        &mut self,
        path: String,
        b: Option<&serde_json::Value>,
        n: Option<&serde_json::Value>,
        l: Option<&serde_json::Value>,
    ) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        let null = J::Null;
        let (bv, nv, lv) = (b.unwrap_or(&null), n.unwrap_or(&null), l.unwrap_or(&null));
        if nv == bv {
            if lv != bv {
                self.kept.push(Kept {
                    address: self.address.to_owned(),
                    file: self.file.to_owned(),
                    path: path.clone(),
                });
            }
            return l.cloned();
        }
        if lv == bv || nv == lv {
            return n.cloned();
        }
        if let (J::Object(bo), J::Object(no), J::Object(lo)) = (bv, nv, lv) {
            let keys: BTreeSet<&String> = bo.keys().chain(no.keys()).chain(lo.keys()).collect();
            let mut out = serde_json::Map::new();
            for k in keys {
                if let Some(v) = self.json(format!("{path}.{k}"), bo.get(k), no.get(k), lo.get(k))
                    && !v.is_null()
                {
                    out.insert(k.clone(), v);
                }
            }
            return Some(J::Object(out));
        }
        let keys: Vec<&str> = path.split('.').collect();
        let sensitive = conflict_is_sensitive(&keys, [bv, nv, lv]);
        self.conflicts.push(Conflict {
            address: self.address.to_owned(),
            file: self.file.to_owned(),
            path,
            base: (!sensitive).then(|| b.cloned()).flatten(),
            workspace: (!sensitive).then(|| l.cloned()).flatten(),
            file_value: (!sensitive).then(|| n.cloned()).flatten(),
            sensitive,
        });
        l.cloned()
    }
}

/// Whether a conflict's values are hidden: by the path's keys, or by what any side holds.
fn conflict_is_sensitive(keys: &[&str], sides: [&serde_json::Value; 3]) -> bool {
    let present: Vec<&serde_json::Value> = sides.into_iter().filter(|v| !v.is_null()).collect();
    sensitive::path_is_secret(keys.iter().copied(), &present)
        || present.iter().any(|v| sensitive::hides(v, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceType;
    use crate::sync::secrets::NoSecrets;
    use serde_json::{Value as J, json};

    #[test]
    fn json_merges_key_by_key_and_keeps_or_refuses_what_both_sides_changed() {
        struct Case {
            what: &'static str,
            base: Option<J>,
            file: Option<J>,
            live: Option<J>,
            merged: Option<J>,
            kept: &'static [&'static str],
            conflicts: &'static [&'static str],
        }
        let cases = [
            Case {
                what: "same",
                base: Some(json!(1)),
                file: Some(json!(1)),
                live: Some(json!(1)),
                merged: Some(json!(1)),
                kept: &[],
                conflicts: &[],
            },
            Case {
                what: "the file changed it",
                base: Some(json!(1)),
                file: Some(json!(2)),
                live: Some(json!(1)),
                merged: Some(json!(2)),
                kept: &[],
                conflicts: &[],
            },
            Case {
                what: "the workspace changed it",
                base: Some(json!(1)),
                file: Some(json!(1)),
                live: Some(json!(3)),
                merged: Some(json!(3)),
                kept: &["s"],
                conflicts: &[],
            },
            Case {
                what: "both, alike",
                base: Some(json!(1)),
                file: Some(json!(2)),
                live: Some(json!(2)),
                merged: Some(json!(2)),
                kept: &[],
                conflicts: &[],
            },
            Case {
                what: "both, differently",
                base: Some(json!(1)),
                file: Some(json!(2)),
                live: Some(json!(3)),
                merged: Some(json!(3)),
                kept: &[],
                conflicts: &["s"],
            },
            Case {
                what: "nested keys, each side its own",
                base: Some(json!({"a": 1, "b": 1})),
                file: Some(json!({"a": 2, "b": 1})),
                live: Some(json!({"a": 1, "b": 2})),
                merged: Some(json!({"a": 2, "b": 2})),
                kept: &["s.b"],
                conflicts: &[],
            },
            Case {
                what: "nested keys, the same one",
                base: Some(json!({"x": {"a": 1}, "b": 1})),
                file: Some(json!({"x": {"a": 2}, "b": 1})),
                live: Some(json!({"x": {"a": 3}, "b": 2})),
                merged: Some(json!({"x": {"a": 3}, "b": 2})),
                kept: &["s.b"],
                conflicts: &["s.x.a"],
            },
            Case {
                what: "a key the file removed, one the workspace added",
                base: Some(json!({"a": 1, "b": 1})),
                file: Some(json!({"a": 1})),
                live: Some(json!({"a": 1, "b": 1, "c": 3})),
                merged: Some(json!({"a": 1, "c": 3})),
                kept: &["s.c"],
                conflicts: &[],
            },
            Case {
                what: "absent at the base and in the workspace",
                base: None,
                file: Some(json!(1)),
                live: None,
                merged: Some(json!(1)),
                kept: &[],
                conflicts: &[],
            },
            Case {
                what: "removed by the file",
                base: Some(json!(1)),
                file: None,
                live: Some(json!(1)),
                merged: None,
                kept: &[],
                conflicts: &[],
            },
            Case {
                what: "removed by the workspace",
                base: Some(json!(1)),
                file: Some(json!(1)),
                live: None,
                merged: None,
                kept: &["s"],
                conflicts: &[],
            },
            Case {
                what: "removed by one, changed by the other",
                base: Some(json!(1)),
                file: None,
                live: Some(json!(2)),
                merged: Some(json!(2)),
                kept: &[],
                conflicts: &["s"],
            },
            Case {
                what: "added by both, differently",
                base: None,
                file: Some(json!({"a": 1})),
                live: Some(json!({"a": 2})),
                merged: Some(json!({"a": 2})),
                kept: &[],
                conflicts: &["s"],
            },
        ];
        for case in cases {
            let (mut conflicts, mut kept) = (Vec::new(), Vec::new());
            let merged = Merge3 {
                address: "segment_source.id-a",
                file: "sources/a.tf",
                conflicts: &mut conflicts,
                kept: &mut kept,
            }
            .json(
                "s".into(),
                case.base.as_ref(),
                case.file.as_ref(),
                case.live.as_ref(),
            );
            assert_eq!(merged, case.merged, "{}", case.what);
            let kept: Vec<&str> = kept.iter().map(|k| k.path.as_str()).collect();
            assert_eq!(kept, case.kept, "{}", case.what);
            let conflicts: Vec<&str> = conflicts.iter().map(|c| c.path.as_str()).collect();
            assert_eq!(conflicts, case.conflicts, "{}", case.what);
        }
    }

    #[test]
    fn a_conflict_under_a_secret_key_shows_no_value() {
        let (mut conflicts, mut kept) = (Vec::new(), Vec::new());
        Merge3 {
            address: "a",
            file: "f",
            conflicts: &mut conflicts,
            kept: &mut kept,
        }
        .json(
            "settings".into(),
            Some(&json!({"apiKey": "one", "region": "eu"})),
            Some(&json!({"apiKey": "two", "region": "us"})),
            Some(&json!({"apiKey": "three", "region": "ap"})),
        );
        let shown: Vec<(&str, bool, bool)> = conflicts
            .iter()
            .map(|c| (c.path.as_str(), c.sensitive, c.file_value.is_some()))
            .collect();
        assert_eq!(
            shown,
            [
                ("settings.apiKey", true, false),
                ("settings.region", false, true)
            ]
        );
    }

    fn source(name: &str, enabled: bool, settings: J) -> Resource {
        let mut r = Resource::new(ResourceType::Source, Some("abc".into()), Attributes::new());
        r.attributes
            .insert("name".into(), Value::String(name.into()));
        r.attributes.insert("enabled".into(), Value::Bool(enabled));
        r.attributes
            .insert("slug".into(), Value::String("javascript".into()));
        r.attributes
            .insert("settings".into(), Value::Json(settings));
        r
    }

    #[test]
    fn a_resource_merges_attribute_by_attribute() {
        struct Case {
            what: &'static str,
            base: Option<Resource>,
            file: Resource,
            live: Resource,
            merged: Option<Resource>,
            kept: &'static [&'static str],
            conflicts: &'static [&'static str],
        }
        let s = |region: &str| json!({"region": region, "apiKey": api::mask("0123456789abcd")});
        let cases = [
            Case {
                what: "no base: the file is the whole truth",
                base: None,
                file: source("file", true, s("eu")),
                live: source("app", false, s("us")),
                merged: Some(source("file", true, s("eu"))),
                kept: &[],
                conflicts: &[],
            },
            Case {
                what: "each side its own attribute",
                base: Some(source("base", true, s("eu"))),
                file: source("file", true, s("eu")),
                live: source("base", false, s("us")),
                merged: Some(source("file", false, s("us"))),
                kept: &["enabled", "settings"],
                conflicts: &[],
            },
            Case {
                what: "the same attribute",
                base: Some(source("base", true, s("eu"))),
                file: source("file", true, s("eu")),
                live: source("app", true, s("eu")),
                merged: None,
                kept: &[],
                conflicts: &["name"],
            },
            Case {
                what: "nested settings, each side its own key",
                base: Some(source("n", true, json!({"region": "eu", "a": 1}))),
                file: source("n", true, json!({"region": "us", "a": 1})),
                live: source("n", true, json!({"region": "eu", "a": 2})),
                merged: Some(source("n", true, json!({"region": "us", "a": 2}))),
                kept: &["settings.a"],
                conflicts: &[],
            },
            Case {
                what: "a mask in the file stands for what the workspace holds",
                base: Some(source("n", true, s("eu"))),
                file: source("n", true, s("eu")),
                live: source(
                    "n",
                    true,
                    json!({"region": "eu", "apiKey": api::mask("0123456789wxyz")}),
                ),
                merged: Some(source(
                    "n",
                    true,
                    json!({"region": "eu", "apiKey": api::mask("0123456789wxyz")}),
                )),
                kept: &[],
                conflicts: &[],
            },
        ];
        for case in cases {
            let mut plan = Plan::new(&[], None);
            let merged = merge(
                case.base.as_ref().map(|r| FileState {
                    resource: r,
                    text: None,
                }),
                FileState {
                    resource: &case.file,
                    text: None,
                },
                &case.live,
                "sources/abc.tf",
                &Settle {
                    secrets: &NoSecrets,
                    send: &BTreeSet::new(),
                },
                &mut plan,
            );
            assert_eq!(
                merged.map(|m| m.attributes),
                case.merged.map(|m| m.attributes),
                "{}",
                case.what
            );
            let kept: Vec<&str> = plan.kept.iter().map(|k| k.path.as_str()).collect();
            assert_eq!(kept, case.kept, "{}", case.what);
            let conflicts: Vec<&str> = plan.conflicts.iter().map(|c| c.path.as_str()).collect();
            assert_eq!(conflicts, case.conflicts, "{}", case.what);
        }
    }

    /// Every placeholder's secret is this value.
    struct Given(&'static str);

    impl SecretSource for Given {
        fn get(&self, _: &str) -> Option<crate::sync::secrets::Secret> {
            Some(crate::sync::secrets::Secret::new(self.0))
        }
    }

    /// What, the file's value, the workspace's, the secret, what to send, the value settled,
    /// the placeholders it could not tell.
    type SettleCase<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'static str,
        &'a BTreeSet<String>,
        &'a str,
        &'a [&'a str],
    );

    #[test]
    fn settle_compares_placeholders_by_their_secret_and_says_when_it_cannot_tell() {
        let long = api::mask("0123456789abcd");
        let short = api::mask("abc");
        let send_k: BTreeSet<String> = ["k".to_owned()].into();
        let none = BTreeSet::new();
        // (what, file value, served, secret, send, settled value, untold)
        let cases: [SettleCase; 8] = [
            (
                "same secret, shown by its tail",
                "@@k@@",
                &long,
                "xxxxxxxxxxabcd",
                &none,
                &long,
                &["k"],
            ),
            (
                "another tail: a change",
                "@@k@@",
                &long,
                "xxxxxxxxxxwxyz",
                &none,
                "@@k@@",
                &[],
            ),
            (
                "a long secret where a short one is: a change",
                "@@k@@",
                &short,
                "0123456789abcd",
                &none,
                "@@k@@",
                &[],
            ),
            (
                "two short secrets cannot be told apart",
                "@@k@@",
                &short,
                "xyz",
                &none,
                &short,
                &["k"],
            ),
            (
                "sent anyway when asked",
                "@@k@@",
                &short,
                "xyz",
                &send_k,
                "@@k@@",
                &[],
            ),
            (
                "a mask stands for what the workspace holds",
                &long,
                &api::mask("0123456789wxyz"),
                "unused",
                &none,
                &api::mask("0123456789wxyz"),
                &[],
            ),
            (
                "a clear secret agrees with its mask",
                "0123456789abcd",
                &long,
                "unused",
                &none,
                &long,
                &[],
            ),
            (
                "a clear value that is not the secret",
                "0123456789zzzz",
                &long,
                "unused",
                &none,
                "0123456789zzzz",
                &[],
            ),
        ];
        for (what, file, served, secret, send, settled, untold) in cases {
            let mut r = source("n", true, json!({"apiKey": file}));
            let live = source("n", true, json!({"apiKey": served}));
            let got = settle(
                &mut r,
                &live,
                &Settle {
                    secrets: &Given(secret),
                    send,
                },
            );
            assert_eq!(
                r.get("settings"),
                &Value::Json(json!({"apiKey": settled})),
                "{what}"
            );
            let got: Vec<&str> = got.keys().map(String::as_str).collect();
            assert_eq!(got, untold, "{what}");
        }
    }
}
