//! The checks on a resource that its shape alone does not give: set limits (the schema's
//! `max_items`) and well-formed `@@name@@` secret placeholders.
//!
//! The parser already refuses everything about a file's shape (types, attributes, required
//! values); these are the rules the provider or the plan would only refuse later, checked here
//! so that `gitsync validate` can report them before review. Problems name the attribute by path
//! (`permissions[0].resources`, `settings.apiKey`); the caller puts them in a file.

use super::schema::{AttrType, Attribute};
use super::value::malformed_placeholder;
use super::{Resource, Value};

/// One problem in a resource's values, at an attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueProblem {
    /// The attribute, as the parser names paths: `labels`, `permissions[0].resources`,
    /// `settings.headers[1]` (inside a JSON value, the JSON path after the attribute's).
    pub path: String,
    pub kind: ValueProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueProblemKind {
    /// More items than the schema's `max_items`.
    TooManyItems { max: usize, found: usize },
    /// A string with `@@` that is not a well-formed placeholder; `text` is the part from the
    /// stray `@@` on (a few characters).
    MalformedPlaceholder { text: String },
}

/// Every problem in `resource`, in attribute order.
pub fn check(resource: &Resource) -> Vec<ValueProblem> {
    let mut out = Vec::new();
    check_attributes(
        resource.kind().attributes,
        &resource.attributes,
        "",
        &mut out,
    );
    out
}

fn check_attributes(
    schema: &[Attribute],
    values: &std::collections::BTreeMap<String, Value>,
    prefix: &str,
    out: &mut Vec<ValueProblem>,
) {
    for (name, value) in values {
        let path = format!("{prefix}{name}");
        match schema.iter().find(|a| a.name == name) {
            Some(attr) => check_value(attr, &attr.ty, value, &path, out),
            // Not in the schema (the parser refuses that): still no stray placeholders.
            None => check_strings(value, &path, out),
        }
    }
}

fn check_value(
    attr: &Attribute,
    ty: &AttrType,
    value: &Value,
    path: &str,
    out: &mut Vec<ValueProblem>,
) {
    if let (Some(max), Value::List(items)) = (attr.max_items, value)
        && items.len() > max
    {
        out.push(ValueProblem {
            path: path.to_owned(),
            kind: ValueProblemKind::TooManyItems {
                max,
                found: items.len(),
            },
        });
    }
    match (ty.nested(), value) {
        (Some(nested), Value::Object(fields)) => {
            check_attributes(nested, fields, &format!("{path}."), out)
        }
        (Some(nested), Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Value::Object(fields) = item {
                    check_attributes(nested, fields, &format!("{path}[{i}]."), out);
                }
            }
        }
        _ => check_strings(value, path, out),
    }
}

/// Stray `@@` in every string of a value (list items, JSON documents, their strings).
fn check_strings(value: &Value, path: &str, out: &mut Vec<ValueProblem>) {
    match value {
        Value::String(s) => check_string(s, path, out),
        Value::Json(j) => check_json(j, path, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                check_strings(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                check_strings(item, &format!("{path}.{name}"), out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn check_json(value: &serde_json::Value, path: &str, out: &mut Vec<ValueProblem>) {
    match value {
        serde_json::Value::String(s) => check_string(s, path, out),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_json(item, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (name, item) in map {
                check_json(item, &format!("{path}.{name}"), out);
            }
        }
        _ => {}
    }
}

fn check_string(s: &str, path: &str, out: &mut Vec<ValueProblem>) {
    if let Some(at) = malformed_placeholder(s) {
        out.push(ValueProblem {
            path: path.to_owned(),
            kind: ValueProblemKind::MalformedPlaceholder {
                text: s[at..].chars().take(24).collect(),
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, ResourceType};

    fn label(i: usize) -> Value {
        Value::Object(
            [
                ("key".to_owned(), Value::String(format!("k{i}"))),
                ("value".to_owned(), Value::String("v".into())),
            ]
            .into(),
        )
    }

    #[test]
    fn limits_come_from_the_schema_and_placeholders_from_every_string() {
        let mut attributes = Attributes::new();
        attributes.insert("labels".into(), Value::List((0..201).map(label).collect()));
        attributes.insert(
            "settings".into(),
            Value::Json(serde_json::json!({"auth": {"token": "@@ok@@", "user": "a@@b"}})),
        );
        let source = Resource::new(ResourceType::Source, Some("s".into()), attributes);
        assert_eq!(
            check(&source),
            vec![
                ValueProblem {
                    path: "labels".into(),
                    kind: ValueProblemKind::TooManyItems {
                        max: 200,
                        found: 201
                    }
                },
                ValueProblem {
                    path: "settings.auth.user".into(),
                    kind: ValueProblemKind::MalformedPlaceholder { text: "@@b".into() }
                },
            ]
        );
        let mut at_limit = Attributes::new();
        at_limit.insert("labels".into(), Value::List((0..200).map(label).collect()));
        let source = Resource::new(ResourceType::Source, Some("s".into()), at_limit);
        assert_eq!(check(&source), vec![]);
    }
}
