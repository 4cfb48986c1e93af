//! Attribute values.

use std::collections::BTreeMap;

/// The deepest nesting of lists and objects one attribute value may have, counted as
/// [`Value::depth`] counts it. One limit for all: the embedded workspace refuses deeper writes,
/// the renderer deeper values and the parser deeper files, so what one accepts the others do.
/// Real Segment values stay under 20; the bound keeps every recursive walk of a value (and the
/// parser's stack) small.
pub const MAX_NESTING: usize = 64;

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

    /// How deep lists and objects nest in this value: 0 for a scalar, 1 for a flat list or
    /// object. A string holding a JSON array or object counts that document's depth, since Git
    /// Sync writes such a string as `jsonencode(...)`.
    pub fn depth(&self) -> usize {
        match self {
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
            Value::String(s) => string_json_depth(s),
            Value::Json(j) => json_depth(j),
            Value::List(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(Value::depth).max().unwrap_or(0),
        }
    }

    /// The value as JSON, for showing it (a plan's before and after) and nothing else: sets
    /// come out in the order held, objects with their keys.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Json(j) => j.clone(),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
        }
    }

    /// Calls `f` with each string of this value, JSON documents' strings included.
    pub fn for_each_string(&mut self, f: &mut dyn FnMut(&mut String)) {
        fn json(value: &mut serde_json::Value, f: &mut dyn FnMut(&mut String)) {
            match value {
                serde_json::Value::String(s) => f(s),
                serde_json::Value::Array(items) => items.iter_mut().for_each(|v| json(v, f)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|v| json(v, f)),
                _ => {}
            }
        }
        match self {
            Value::String(s) => f(s),
            Value::Json(j) => json(j, f),
            Value::List(items) => items.iter_mut().for_each(|v| v.for_each_string(f)),
            Value::Object(map) => map.values_mut().for_each(|v| v.for_each_string(f)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Calls `f` with each string of this value and the string at the same place in `other`
    /// (lists by position, objects and JSON documents by key), where `other` has one: how a
    /// file's values are lined up with the workspace's, for secrets and masks.
    pub fn zip_strings(&mut self, other: &Value, f: &mut dyn FnMut(&mut String, &str)) {
        match (self, other) {
            (Value::String(s), Value::String(o)) => f(s, o),
            (Value::Json(j), Value::Json(o)) => zip_json_strings(j, o, f),
            (Value::List(items), Value::List(others)) => {
                for (item, other) in items.iter_mut().zip(others) {
                    item.zip_strings(other, f);
                }
            }
            (Value::Object(map), Value::Object(others)) => {
                for (k, item) in map.iter_mut() {
                    if let Some(other) = others.get(k) {
                        item.zip_strings(other, f);
                    }
                }
            }
            _ => {}
        }
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

fn zip_json_strings(
    value: &mut serde_json::Value,
    other: &serde_json::Value,
    f: &mut dyn FnMut(&mut String, &str),
) {
    use serde_json::Value as J;
    match (value, other) {
        (J::String(s), J::String(o)) => f(s, o),
        (J::Array(items), J::Array(others)) => {
            for (item, other) in items.iter_mut().zip(others) {
                zip_json_strings(item, other, f);
            }
        }
        (J::Object(map), J::Object(others)) => {
            for (k, item) in map.iter_mut() {
                if let Some(other) = others.get(k) {
                    zip_json_strings(item, other, f);
                }
            }
        }
        _ => {}
    }
}

/// The nesting depth of a JSON document, as [`Value::depth`] counts it.
pub fn json_depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn string_json_depth(s: &str) -> usize {
    if !matches!(s.trim_start().as_bytes().first(), Some(b'{' | b'[')) {
        return 0;
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(json) => json_depth(&json),
        // Deeper than serde_json reads (128): deeper than any limit, too.
        Err(e) if e.to_string().contains("recursion limit") => usize::MAX,
        Err(_) => 0,
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

/// The one spelling of a number in the model: integral values that fit an `i64`/`u64` are held
/// as integers, everything else as `f64`. Git Sync (Go's `big.Float`) does not tell `2` from
/// `2.0`, and neither may the model, or equal documents would compare unequal.
///
/// An integral `f64` becomes the integer its shortest decimal spelling names (what the renderer
/// writes and the parser reads back), so `3.1385920465699195e18` becomes `3138592046569919500`.
pub fn canonical_number(n: serde_json::Number) -> serde_json::Number {
    let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) else {
        return n;
    };
    let text = format!("{f}");
    if let Ok(u) = text.parse::<u64>() {
        serde_json::Number::from(u)
    } else if let Ok(i) = text.parse::<i64>() {
        serde_json::Number::from(i)
    } else if text == "-0" {
        serde_json::Number::from(0)
    } else {
        n
    }
}

/// Puts every number in a JSON document into [`canonical_number`] form.
pub fn canonicalize_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => *n = canonical_number(n.clone()),
        serde_json::Value::Array(items) => items.iter_mut().for_each(canonicalize_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(canonicalize_json),
        _ => {}
    }
}

/// The names of the `@@name@@` secret placeholders in a string, in order. A name is made of
/// ASCII letters, digits, `_` and `-`; anything else between `@@` pairs is left as text.
pub fn secret_placeholders(s: &str) -> impl Iterator<Item = &str> {
    placeholder_scan(s).filter_map(|(_, name)| name)
}

/// The byte offset of the first `@@` in `s` that does not begin a well-formed `@@name@@`
/// placeholder (read as [`secret_placeholders`] reads them), if any: `user@@example.com`,
/// `@@not a name@@`, a placeholder followed by a lone `@@`. Such text is sent to Segment as it
/// is, which is rarely what its author meant, so `gitsync validate` refuses it.
pub fn malformed_placeholder(s: &str) -> Option<usize> {
    placeholder_scan(s).find_map(|(at, name)| name.is_none().then_some(at))
}

/// `s` with each `@@name@@` placeholder replaced by what `value` gives for its name (read as
/// [`secret_placeholders`] reads them; lookalikes stay as written); `None` as soon as `value`
/// has none for a name.
pub fn replace_placeholders(
    s: &str,
    mut value: impl FnMut(&str) -> Option<String>,
) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for (at, name) in placeholder_scan(s) {
        if let Some(name) = name {
            out.push_str(&s[copied..at]);
            out.push_str(&value(name)?);
            copied = at + name.len() + 4;
        }
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// Every `@@` the placeholder rule looks at: its byte offset, and the name when it begins a
/// placeholder. The one reading of placeholders, for both functions above.
fn placeholder_scan(s: &str) -> impl Iterator<Item = (usize, Option<&str>)> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        let rest = &s[offset..];
        let start = rest.find("@@")?;
        let at = offset + start;
        let after = &rest[start + 2..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        if len > 0 && after[len..].starts_with("@@") {
            offset = at + 2 + len + 2;
            Some((at, Some(&after[..len])))
        } else {
            offset = at + 2;
            Some((at, None))
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

    #[test]
    fn a_stray_double_at_is_malformed() {
        assert_eq!(malformed_placeholder("a @@db_pass@@ b @@x-1@@"), None);
        assert_eq!(malformed_placeholder("no at signs, one @ sign"), None);
        assert_eq!(malformed_placeholder("user@@example.com"), Some(4));
        assert_eq!(malformed_placeholder("@@not a name@@"), Some(0));
        assert_eq!(malformed_placeholder("@@x-1@@@@"), Some(7));
        assert_eq!(malformed_placeholder("@@@@"), Some(0));
        assert_eq!(malformed_placeholder("@@open"), Some(0));
    }

    #[test]
    fn integral_floats_become_integers() {
        let n =
            |s: &str| canonical_number(serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(n("2.0"), serde_json::Number::from(2));
        assert_eq!(n("-0.0"), serde_json::Number::from(0));
        assert_eq!(
            n("2.5"),
            serde_json::Number::from_f64(2.5).unwrap_or_else(|| panic!())
        );
        assert!(n("1e300").is_f64());
        assert_eq!(
            n("18446744073709551615"),
            serde_json::Number::from(u64::MAX)
        );
    }
}
