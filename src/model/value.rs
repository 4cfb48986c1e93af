//! Attribute values.

use std::collections::BTreeMap;

/// The value of one attribute, shaped by its [`AttrType`](super::AttrType).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Unset (rendered `null`).
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    /// The value of a JSON attribute (`settings`, `json_schema`, ...), held parsed so that two
    /// spellings of the same document compare equal.
    Json(serde_json::Value),
    /// A list or a set; sets keep the order Segment returned them in.
    List(Vec<Value>),
    /// A nested object: its configurable attributes by name.
    Object(BTreeMap<String, Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub(super) fn collect_placeholders(&self, out: &mut Vec<String>) {
        match self {
            Value::String(s) => out.extend(secret_placeholders(s).map(str::to_owned)),
            Value::Json(j) => collect_json_placeholders(j, out),
            Value::List(items) => items.iter().for_each(|v| v.collect_placeholders(out)),
            Value::Object(map) => map.values().for_each(|v| v.collect_placeholders(out)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

fn collect_json_placeholders(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.extend(secret_placeholders(s).map(str::to_owned)),
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_json_placeholders(v, out))
        }
        serde_json::Value::Object(map) => {
            map.values().for_each(|v| collect_json_placeholders(v, out))
        }
        _ => {}
    }
}

/// The names of the `@@name@@` secret placeholders in a string, in order. A name is made of
/// ASCII letters, digits, `_` and `-`; anything else between `@@` pairs is left as text.
pub fn secret_placeholders(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find("@@")?;
            let after = &rest[start + 2..];
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                .count();
            if len > 0 && after[len..].starts_with("@@") {
                rest = &after[len + 2..];
                return Some(&after[..len]);
            }
            rest = after;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_and_ignores_lookalikes() {
        let found: Vec<&str> =
            secret_placeholders("a @@db_pass@@ b @@not a name@@ @@x-1@@@@").collect();
        assert_eq!(found, vec!["db_pass", "x-1"]);
        assert_eq!(secret_placeholders("user@@example.com").count(), 0);
    }
}
