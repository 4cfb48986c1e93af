//! Comparing two states of one resource, the way the provider's schema says to: which attributes
//! differ, path by path (into nested objects and JSON documents), and whether a difference
//! forces the resource to be replaced.
//!
//! Sets are compared as sets (`labels` in another order is no change), lists and JSON arrays in
//! order, JSON objects key by key; computed attributes are never compared. "Forces replacement"
//! is read from [`Attribute::forces_replacement`], the same flag that decides what an update may
//! send, so a plan and the request it leads to cannot disagree.
//!
//! This module compares models only: it knows nothing of where they came from, of masked
//! secrets or placeholders (the plan decides what those mean before it compares).

use std::fmt;

use super::{AttrType, Attribute, Attributes, ResourceType, Value};

/// One step of a path to a value inside a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// An attribute of the resource or of a nested object.
    Attribute(String),
    /// A key of a JSON object.
    Key(String),
    /// A position in a list or a JSON array.
    Index(usize),
}

/// Where a value is inside a resource: `settings.apiKey`, `rules[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<Step>);

impl Path {
    fn join(&self, step: Step) -> Path {
        let mut steps = self.0.clone();
        steps.push(step);
        Path(steps)
    }

    /// The resource's top-level attribute the path starts at.
    pub fn attribute(&self) -> Option<&str> {
        match self.0.first() {
            Some(Step::Attribute(name)) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Attribute(name) | Step::Key(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A value as one side of a difference holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    /// Not set (an absent attribute, a missing JSON key, `null`).
    Absent,
    Value(Value),
    Json(serde_json::Value),
}

/// One difference between two states of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub path: Path,
    pub old: Side,
    pub new: Side,
    /// Whether the top-level attribute it is in forces replacement.
    pub forces_replacement: bool,
}

/// Every difference between two states of a resource, in path order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub differences: Vec<Difference>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    /// Whether applying the change means deleting the resource and creating it again.
    pub fn forces_replacement(&self) -> bool {
        self.differences.iter().any(|d| d.forces_replacement)
    }

    /// The top-level attributes that differ.
    pub fn attributes(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .differences
            .iter()
            .filter_map(|d| d.path.attribute())
            .collect();
        names.dedup();
        names
    }
}

/// The differences between `old` and `new`, two states of a resource of type `ty`.
/// Attributes the schema does not know are compared as plain values.
pub fn diff(ty: ResourceType, old: &Attributes, new: &Attributes) -> Diff {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let attribute = ty.attribute(name);
        if attribute.is_some_and(|a| !a.is_configurable()) {
            continue;
        }
        let forces = attribute.is_some_and(|a| a.forces_replacement);
        let path = Path(vec![Step::Attribute(name.clone())]);
        let (a, b) = (old.get(name.as_str()), new.get(name.as_str()));
        value_diff(attribute.map(|a| &a.ty), a, b, &path, forces, &mut out);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Diff { differences: out }
}

/// Whether two values of one attribute mean the same (sets in any order).
pub fn same(ty: &AttrType, a: &Value, b: &Value) -> bool {
    canonical(Some(ty), a) == canonical(Some(ty), b)
}

fn side(v: Option<&Value>) -> Side {
    match v {
        None | Some(Value::Null) => Side::Absent,
        Some(v) => Side::Value(v.clone()),
    }
}

fn value_diff(
    ty: Option<&AttrType>,
    a: Option<&Value>,
    b: Option<&Value>,
    path: &Path,
    forces: bool,
    out: &mut Vec<Difference>,
) {
    let null = Value::Null;
    let (va, vb) = (a.unwrap_or(&null), b.unwrap_or(&null));
    if canonical(ty, va) == canonical(ty, vb) {
        return;
    }
    let whole = |out: &mut Vec<Difference>| {
        out.push(Difference {
            path: path.clone(),
            old: side(a),
            new: side(b),
            forces_replacement: forces,
        })
    };
    match (ty, va, vb) {
        (_, Value::Json(x), Value::Json(y)) => json_diff(x, y, path, forces, out),
        (Some(AttrType::Object(nested)), Value::Object(x), Value::Object(y)) => {
            let names: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for name in names {
                let attribute = nested.iter().find(|n| n.name == name.as_str());
                if attribute.is_some_and(|n: &Attribute| !n.is_configurable()) {
                    continue;
                }
                // A nested attribute may force replacement on its own (a source's
                // `metadata.id`: another catalog entry is another resource).
                value_diff(
                    attribute.map(|n| &n.ty),
                    x.get(name.as_str()),
                    y.get(name.as_str()),
                    &path.join(Step::Attribute(name.clone())),
                    forces || attribute.is_some_and(|n| n.forces_replacement),
                    out,
                );
            }
        }
        (Some(AttrType::List(item)), Value::List(x), Value::List(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                value_diff(
                    Some(item),
                    Some(p),
                    Some(q),
                    &path.join(Step::Index(i)),
                    forces,
                    out,
                );
            }
        }
        (Some(AttrType::ObjectList(nested)), Value::List(x), Value::List(y))
            if x.len() == y.len() =>
        {
            let object = AttrType::Object(nested);
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                value_diff(
                    Some(&object),
                    Some(p),
                    Some(q),
                    &path.join(Step::Index(i)),
                    forces,
                    out,
                );
            }
        }
        // Sets, lists of another length, and values of different shapes: the whole value.
        _ => whole(out),
    }
}

fn json_diff(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &Path,
    forces: bool,
    out: &mut Vec<Difference>,
) {
    use serde_json::Value as J;
    if a == b {
        return;
    }
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let (p, q) = (x.get(key), y.get(key));
                let step = path.join(Step::Key(key.clone()));
                match (p, q) {
                    (Some(p), Some(q)) => json_diff(p, q, &step, forces, out),
                    _ if p.unwrap_or(&J::Null) == q.unwrap_or(&J::Null) => {}
                    _ => out.push(Difference {
                        path: step,
                        old: json_side(p),
                        new: json_side(q),
                        forces_replacement: forces,
                    }),
                }
            }
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(p, q, &path.join(Step::Index(i)), forces, out);
            }
        }
        _ => out.push(Difference {
            path: path.clone(),
            old: json_side(Some(a)),
            new: json_side(Some(b)),
            forces_replacement: forces,
        }),
    }
}

fn json_side(v: Option<&serde_json::Value>) -> Side {
    match v {
        None | Some(serde_json::Value::Null) => Side::Absent,
        Some(v) => Side::Json(v.clone()),
    }
}

/// The value with every set's elements in one order, so that equal sets compare equal.
fn canonical(ty: Option<&AttrType>, v: &Value) -> Value {
    match (ty, v) {
        (Some(AttrType::Set(item)), Value::List(items)) => {
            sorted(items.iter().map(|i| canonical(Some(item), i)))
        }
        (Some(AttrType::ObjectSet(nested)), Value::List(items)) => {
            let object = AttrType::Object(nested);
            sorted(items.iter().map(|i| canonical(Some(&object), i)))
        }
        (Some(AttrType::List(item)), Value::List(items)) => {
            Value::List(items.iter().map(|i| canonical(Some(item), i)).collect())
        }
        (Some(AttrType::ObjectList(nested)), Value::List(items)) => {
            let object = AttrType::Object(nested);
            Value::List(items.iter().map(|i| canonical(Some(&object), i)).collect())
        }
        (Some(AttrType::Object(nested)), Value::Object(map)) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let ty = nested.iter().find(|n| n.name == k.as_str()).map(|n| &n.ty);
                    (k.clone(), canonical(ty, v))
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn sorted(items: impl Iterator<Item = Value>) -> Value {
    // `Debug` of a canonical value is deterministic (maps are ordered), so it is a total order
    // good enough to put equal sets in the same order.
    let mut keyed: Vec<(String, Value)> = items.map(|v| (format!("{v:?}"), v)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Value::List(keyed.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(pairs: &[(&str, Value)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    fn attribute_of_type(
        ty: ResourceType,
        pick: impl Fn(&Attribute) -> bool,
    ) -> Option<&'static Attribute> {
        ty.kind()
            .attributes
            .iter()
            .find(|a| a.is_configurable() && pick(a))
    }

    #[test]
    fn sets_in_another_order_are_no_change_lists_are() {
        let mut checked = 0;
        for ty in ResourceType::ALL {
            let Some(set) =
                attribute_of_type(ty, |a| matches!(a.ty, AttrType::Set(AttrType::String)))
            else {
                continue;
            };
            let a = attrs(&[(set.name, Value::List(vec![s("x"), s("y")]))]);
            let b = attrs(&[(set.name, Value::List(vec![s("y"), s("x")]))]);
            assert!(diff(ty, &a, &b).is_empty(), "{ty}.{}", set.name);
            let c = attrs(&[(set.name, Value::List(vec![s("y"), s("z")]))]);
            let d = diff(ty, &a, &c);
            assert_eq!(d.attributes(), [set.name], "{ty}");
            checked += 1;
        }
        assert!(checked >= 1, "no type has a set of strings");
    }

    #[test]
    fn sets_of_objects_compare_as_sets() {
        let label = |k: &str, v: &str| {
            Value::Object(
                [("key".to_owned(), s(k)), ("value".to_owned(), s(v))]
                    .into_iter()
                    .collect(),
            )
        };
        let ty = ResourceType::Source;
        let a = attrs(&[(
            "labels",
            Value::List(vec![label("env", "prod"), label("team", "a")]),
        )]);
        let b = attrs(&[(
            "labels",
            Value::List(vec![label("team", "a"), label("env", "prod")]),
        )]);
        assert!(diff(ty, &a, &b).is_empty());
        let c = attrs(&[(
            "labels",
            Value::List(vec![label("team", "b"), label("env", "prod")]),
        )]);
        let d = diff(ty, &a, &c);
        assert_eq!(d.attributes(), ["labels"]);
        assert!(!d.forces_replacement());
    }

    #[test]
    fn json_documents_differ_key_by_key() {
        let ty = ResourceType::Destination;
        let a = attrs(&[(
            "settings",
            Value::Json(json!({"apiKey": "k", "region": "us", "nested": {"a": [1, 2]}})),
        )]);
        let b = attrs(&[(
            "settings",
            Value::Json(
                json!({"region": "eu", "apiKey": "k", "nested": {"a": [1, 3]}, "new": true}),
            ),
        )]);
        let d = diff(ty, &a, &b);
        let paths: Vec<String> = d.differences.iter().map(|d| d.path.to_string()).collect();
        assert_eq!(
            paths,
            ["settings.nested.a[1]", "settings.new", "settings.region"]
        );
        assert_eq!(d.differences[1].old, Side::Absent);
        assert_eq!(d.differences[2].new, Side::Json(json!("eu")));
        // Key order and spelling are not a change.
        let c = attrs(&[(
            "settings",
            Value::Json(json!({"nested": {"a": [1, 2]}, "region": "us", "apiKey": "k"})),
        )]);
        assert!(diff(ty, &a, &c).is_empty());
    }

    #[test]
    fn replacement_follows_the_schema_flag() {
        let (mut forcing, mut not) = (0, 0);
        for ty in ResourceType::ALL {
            for attribute in ty.kind().attributes.iter().filter(|a| a.is_configurable()) {
                let (a, b) = match attribute.ty {
                    AttrType::String => (s("one"), s("two")),
                    AttrType::Bool => (Value::Bool(true), Value::Bool(false)),
                    _ => continue,
                };
                let d = diff(
                    ty,
                    &attrs(&[(attribute.name, a)]),
                    &attrs(&[(attribute.name, b)]),
                );
                assert_eq!(
                    d.forces_replacement(),
                    attribute.forces_replacement,
                    "{ty}.{}",
                    attribute.name
                );
                if attribute.forces_replacement {
                    forcing += 1;
                } else {
                    not += 1;
                }
            }
        }
        assert!(forcing > 0 && not > 0, "{forcing} forcing, {not} not");
    }

    #[test]
    fn a_nested_attribute_that_forces_replacement_forces_it() {
        let metadata = |id: &str, contacts: bool| {
            let mut m = std::collections::BTreeMap::new();
            m.insert("id".to_owned(), s(id));
            if contacts {
                m.insert("partner_owned".to_owned(), Value::Bool(true));
            }
            attrs(&[("metadata", Value::Object(m))])
        };
        let ty = ResourceType::Destination;
        assert!(diff(ty, &metadata("a", false), &metadata("b", false)).forces_replacement());
        let other = diff(ty, &metadata("a", false), &metadata("a", true));
        assert!(!other.is_empty() && !other.forces_replacement());
    }

    #[test]
    fn absent_and_null_are_the_same_and_computed_attributes_are_ignored() {
        let ty = ResourceType::Source;
        assert!(diff(ty, &attrs(&[("name", Value::Null)]), &attrs(&[])).is_empty());
        if let Some(computed) = ty.kind().attributes.iter().find(|a| !a.is_configurable()) {
            let d = diff(
                ty,
                &attrs(&[(computed.name, s("a"))]),
                &attrs(&[(computed.name, s("b"))]),
            );
            assert!(d.is_empty(), "{}", computed.name);
        }
        let d = diff(ty, &attrs(&[]), &attrs(&[("name", s("n"))]));
        assert_eq!(d.differences[0].old, Side::Absent);
        assert_eq!(d.differences[0].path.to_string(), "name");
    }
}
