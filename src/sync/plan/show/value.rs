//! One attribute's change as lines a reviewer reads: values in HCL syntax as the files write
//! them (through [`crate::hcl::render_value`], never a second printer), multi-line strings as a
//! line diff, long one-line strings by their changed middle, JSON documents and nested objects
//! key path by key path, sets and lists element by element. Never two identical sides for a
//! change, and nothing under a secret key.
//!
//! Pure: given values and the schema, it returns [`Line`]s; how they are laid out is the
//! renderers' job.

use std::collections::BTreeMap;

use serde_json::Value as J;

use super::linediff::{self, Piece};
use crate::model::{AttrType, Attribute, ResourceType};

/// What a line says about the value it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Add,
    Remove,
    Change,
    /// Unchanged, shown as context.
    Same,
    /// A count of what is left out.
    Skipped,
}

/// One line of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    /// Nesting under the attribute's first line (the lines of a string, the elements of a set).
    pub depth: usize,
    pub text: String,
}

impl Line {
    fn new(mark: Mark, depth: usize, text: impl Into<String>) -> Line {
        Line {
            mark,
            depth,
            text: text.into(),
        }
    }
}

/// A one-line string longer than this is shown by its changed middle.
pub const LONG_STRING: usize = 120;

/// Keys an element of a set of objects is known by, so that a changed element (one rule among
/// 400) is shown as that element's changes rather than as one removed and one added.
const IDENTITY_KEYS: [&str; 6] = ["type", "key", "role_id", "id", "email", "name"];

/// What the schema says a value is.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Known(&'static AttrType),
    /// An object of these attributes (an element of a list or set of objects).
    Fields(&'static [Attribute]),
    /// A value inside a JSON document, or of no attribute the schema knows.
    Untyped,
}

impl Shape {
    /// The shape of the value at `path` (`settings.apiKey`, `rules[2].key`) of a resource type.
    pub fn at(resource_type: &str, path: &str) -> Shape {
        let Some(ty) = ResourceType::from_terraform_type(resource_type) else {
            return Shape::Untyped;
        };
        let mut steps = path_steps(path).into_iter();
        let Some(Step::Name(first)) = steps.next() else {
            return Shape::Untyped;
        };
        let Some(attribute) = ty.attribute(first) else {
            return Shape::Untyped;
        };
        steps.fold(Shape::Known(&attribute.ty), |shape, step| {
            shape.child(&step)
        })
    }

    fn child(self, step: &Step) -> Shape {
        match step {
            Step::Name(name) => self.field(name),
            Step::Index => self.item(),
        }
    }

    /// The attributes of an object-shaped value.
    fn fields(self) -> Option<&'static [Attribute]> {
        match self {
            Shape::Known(AttrType::Object(f)) => Some(*f),
            Shape::Fields(f) => Some(f),
            _ => None,
        }
    }

    fn field(self, name: &str) -> Shape {
        self.fields()
            .and_then(|f| f.iter().find(|a| a.name == name))
            .map_or(Shape::Untyped, |a| Shape::Known(&a.ty))
    }

    /// The shape of an element of a list or set.
    fn item(self) -> Shape {
        match self {
            Shape::Known(AttrType::List(i) | AttrType::Set(i)) => Shape::Known(i),
            Shape::Known(AttrType::ObjectList(f) | AttrType::ObjectSet(f)) => Shape::Fields(f),
            _ => Shape::Untyped,
        }
    }

    fn is_set(self) -> bool {
        matches!(
            self,
            Shape::Known(AttrType::Set(_) | AttrType::ObjectSet(_))
        )
    }

    fn is_string(self) -> bool {
        matches!(self, Shape::Known(AttrType::String))
    }
}

enum Step<'a> {
    Name(&'a str),
    Index,
}

fn path_steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let name = part.split('[').next().unwrap_or_default();
        if !name.is_empty() {
            out.push(Step::Name(name));
        }
        out.extend(part.matches('[').map(|_| Step::Index));
    }
    out
}

/// A value in HCL syntax, as its file writes it; anything under a secret key inside it shown
/// as `(sensitive)`.
pub fn hcl(shape: Shape, value: &J) -> String {
    let redacted = redact(value);
    let value = &redacted;
    match shape {
        Shape::Known(ty) => crate::hcl::render_value(Some(ty), value),
        Shape::Fields(fields) => crate::hcl::render_value(Some(&AttrType::Object(fields)), value),
        Shape::Untyped => crate::hcl::render_value(None, value),
    }
}

/// The value with every string under a secret key replaced by `(sensitive)`. The plan never
/// holds a secret; this keeps it so should a placeholder or a mask ever reach a shown value.
fn redact(value: &J) -> J {
    match value {
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| {
                    let shown = if crate::workspace::api::is_secret_under(k, v) && !v.is_null() {
                        J::String("(sensitive)".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        J::Array(items) => J::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn present(v: Option<&J>) -> Option<&J> {
    v.filter(|v| !v.is_null())
}

/// The lines of one difference at `path` between `before` and `after` (absent: not set).
pub fn diff(path: &str, shape: Shape, before: Option<&J>, after: Option<&J>, out: &mut Vec<Line>) {
    diff_at(path, shape, present(before), present(after), 0, out);
}

/// The lines of a value set (`Mark::Add`) or unset (`Mark::Remove`) whole.
pub fn whole(mark: Mark, path: &str, shape: Shape, value: &J, depth: usize, out: &mut Vec<Line>) {
    // An attribute removed becomes `null`; an element removed is just gone.
    let gone = if mark == Mark::Remove && !path.is_empty() {
        " -> null"
    } else {
        ""
    };
    if let J::String(s) = value
        && s.contains('\n')
    {
        out.push(Line::new(mark, depth, format!("{path} = <<-EOT")));
        out.extend(
            s.split('\n')
                .map(|l| Line::new(mark, depth + 1, printable(l))),
        );
        out.push(Line::new(mark, depth, format!("EOT{gone}")));
        return;
    }
    let text = hcl(shape, value);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let mut shown = vec![Line::new(mark, depth, prefixed(path, first))];
    shown.extend(lines.map(|l| Line::new(mark, depth, l)));
    if let Some(last) = shown.last_mut() {
        last.text.push_str(gone);
    }
    out.extend(shown);
}

/// `path = value`, or the value alone for an element of a set or list (no path).
fn prefixed(path: &str, value: &str) -> String {
    if path.is_empty() {
        value.to_owned()
    } else {
        format!("{path} = {value}")
    }
}

fn diff_at(
    path: &str,
    shape: Shape,
    before: Option<&J>,
    after: Option<&J>,
    depth: usize,
    out: &mut Vec<Line>,
) {
    let secret = path
        .split(['.', '[', ']'])
        .any(|k| !k.is_empty() && crate::workspace::api::is_secret_key(k));
    match (before, after) {
        (None, None) => {}
        (Some(b), Some(a)) if b == a => {}
        _ if secret => {
            let mark = match (before, after) {
                (None, _) => Mark::Add,
                (_, None) => Mark::Remove,
                _ => Mark::Change,
            };
            out.push(Line::new(mark, depth, prefixed(path, "(sensitive)")));
        }
        (None, Some(a)) => whole(Mark::Add, path, shape, a, depth, out),
        (Some(b), None) => whole(Mark::Remove, path, shape, b, depth, out),
        (Some(J::String(b)), Some(J::String(a))) => strings(path, shape, b, a, depth, out),
        (Some(J::Object(b)), Some(J::Object(a))) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let child = shape.field(k);
                let step = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_at(
                    &step,
                    child,
                    present(b.get(k)),
                    present(a.get(k)),
                    depth,
                    out,
                );
            }
        }
        (Some(J::Array(b)), Some(J::Array(a))) => elements(path, shape, b, a, depth, out),
        (Some(b), Some(a)) => {
            let (x, y) = (hcl(shape, b), hcl(shape, a));
            if x.contains('\n') || y.contains('\n') {
                whole(Mark::Remove, path, shape, b, depth, out);
                whole(Mark::Add, path, shape, a, depth, out);
            } else if x == y {
                // Same spelling, another kind of value (`1` and `"1"` in a JSON document).
                out.push(Line::new(
                    Mark::Change,
                    depth,
                    prefixed(
                        path,
                        &format!("{x} -> {y} (was {}, now {})", kind(b), kind(a)),
                    ),
                ));
            } else {
                out.push(Line::new(
                    Mark::Change,
                    depth,
                    prefixed(path, &format!("{x} -> {y}")),
                ));
            }
        }
    }
}

fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a bool",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "a list",
        J::Object(_) => "an object",
    }
}

fn strings(path: &str, shape: Shape, b: &str, a: &str, depth: usize, out: &mut Vec<Line>) {
    // A plain string holding a JSON document is written (and so read) as `jsonencode(...)`.
    if shape.is_string()
        && let (Ok(bj @ (J::Object(_) | J::Array(_))), Ok(aj @ (J::Object(_) | J::Array(_)))) =
            (serde_json::from_str::<J>(b), serde_json::from_str::<J>(a))
        && bj != aj
    {
        diff_at(path, Shape::Untyped, Some(&bj), Some(&aj), depth, out);
        return;
    }
    if b.contains('\n') || a.contains('\n') {
        out.push(Line::new(Mark::Change, depth, prefixed(path, "<<-EOT")));
        for piece in linediff::line_diff(b, a) {
            out.push(match piece {
                Piece::Same(l) => Line::new(Mark::Same, depth + 1, printable(l)),
                Piece::Removed(l) => Line::new(Mark::Remove, depth + 1, printable(l)),
                Piece::Added(l) => Line::new(Mark::Add, depth + 1, printable(l)),
                Piece::Skipped(n) => Line::new(Mark::Skipped, depth + 1, unchanged(n, "line")),
            });
        }
        out.push(Line::new(Mark::Same, depth, "EOT"));
        return;
    }
    let quoted = |s: &str| crate::hcl::render_value(None, &J::String(s.to_owned()));
    if b.chars().count().max(a.chars().count()) <= LONG_STRING {
        out.push(Line::new(
            Mark::Change,
            depth,
            prefixed(path, &format!("{} -> {}", quoted(b), quoted(a))),
        ));
        return;
    }
    let (bp, ap, left, right) = linediff::excerpt(b, a);
    let cut = |s: &str| {
        let q = quoted(s);
        let inner = &q[1..q.len() - 1];
        format!(
            "\"{}{inner}{}\"",
            if left > 0 { "…" } else { "" },
            if right > 0 { "…" } else { "" }
        )
    };
    out.push(Line::new(
        Mark::Change,
        depth,
        prefixed(
            path,
            &format!(
                "{} -> {} # only the change is shown: {} unchanged characters before it, {} after",
                cut(&bp),
                cut(&ap),
                left,
                right
            ),
        ),
    ));
}

/// A line of a string as shown raw: control characters other than a tab (a terminal escape, a
/// carriage return) written as `\u{..}` escapes, so that a value cannot rewrite the screen.
pub fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                format!("\\u{{{:04x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn unchanged(n: usize, what: &str) -> String {
    format!(
        "# ({n} unchanged {what}{} hidden)",
        if n == 1 { "" } else { "s" }
    )
}

/// How an element of a set of objects is known: its identity keys' values, when it has any.
fn identity(v: &J) -> Option<String> {
    let J::Object(map) = v else { return None };
    let parts: Vec<String> = IDENTITY_KEYS
        .iter()
        .filter_map(|k| {
            map.get(*k)
                .filter(|v| v.is_string())
                .map(|v| format!("{k} = {}", crate::hcl::render_value(None, v)))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn elements<'v>(
    path: &str,
    shape: Shape,
    b: &'v [J],
    a: &'v [J],
    depth: usize,
    out: &mut Vec<Line>,
) {
    let item = shape.item();
    // What changed: elements only before, only after, and pairs of one element changed.
    let mut removed: Vec<&'v J> = Vec::new();
    let mut added: Vec<&'v J> = Vec::new();
    let mut pairs: Vec<(String, &'v J, &'v J)> = Vec::new();
    let same;
    if shape.is_set() {
        // Elements matched by their JSON text (keys sorted, so equal values have equal text):
        // a set of 2,000 rules is compared in n log n, not n².
        let mut pool: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (j, y) in a.iter().enumerate().rev() {
            pool.entry(y.to_string()).or_default().push(j);
        }
        let mut kept = 0;
        for x in b {
            match pool.get_mut(&x.to_string()).and_then(Vec::pop) {
                Some(_) => kept += 1,
                None => removed.push(x),
            }
        }
        let mut left: Vec<usize> = pool.into_values().flatten().collect();
        left.sort_unstable();
        added.extend(left.into_iter().map(|j| &a[j]));
        same = kept;
        // Pair a removed and an added element known by the same identity, each the only one.
        let ids = |list: &[&J]| list.iter().map(|v| identity(v)).collect::<Vec<_>>();
        let (rid, aid) = (ids(&removed), ids(&added));
        let count = |ids: &[Option<String>]| {
            let mut n: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for (k, id) in ids.iter().enumerate() {
                if let Some(id) = id {
                    let e = n.entry(id.clone()).or_insert((0, k));
                    e.0 += 1;
                }
            }
            n
        };
        let (r_count, a_count) = (count(&rid), count(&aid));
        let mut taken_r = vec![false; removed.len()];
        let mut taken_a = vec![false; added.len()];
        for (id, (n, i)) in &r_count {
            if let (1, Some((1, j))) = (*n, a_count.get(id)) {
                pairs.push((format!("{path}[{id}]"), removed[*i], added[*j]));
                taken_r[*i] = true;
                taken_a[*j] = true;
            }
        }
        // Shown in the order of the elements, not of their identities.
        pairs.sort_by_cached_key(|(_, x, _)| b.iter().position(|y| std::ptr::eq(y, *x)));
        removed = removed
            .into_iter()
            .zip(&taken_r)
            .filter(|(_, t)| !**t)
            .map(|(v, _)| v)
            .collect();
        added = added
            .into_iter()
            .zip(&taken_a)
            .filter(|(_, t)| !**t)
            .map(|(v, _)| v)
            .collect();
    } else {
        let script = linediff::edits(b, a);
        same = script
            .iter()
            .filter(|e| matches!(e, linediff::Edit::Same(..)))
            .count();
        // A run of removals followed by as many additions of objects: element by element.
        let mut run_r: Vec<usize> = Vec::new();
        let mut run_a: Vec<usize> = Vec::new();
        let flush = |run_r: &mut Vec<usize>,
                     run_a: &mut Vec<usize>,
                     removed: &mut Vec<&'v J>,
                     added: &mut Vec<&'v J>,
                     pairs: &mut Vec<(String, &'v J, &'v J)>| {
            let n = run_r.len().min(run_a.len());
            for k in 0..n {
                let (x, y) = (&b[run_r[k]], &a[run_a[k]]);
                if x.is_object() && y.is_object() {
                    pairs.push((format!("{path}[{}]", run_a[k]), x, y));
                } else {
                    removed.push(x);
                    added.push(y);
                }
            }
            removed.extend(run_r[n..].iter().map(|&i| &b[i]));
            added.extend(run_a[n..].iter().map(|&j| &a[j]));
            run_r.clear();
            run_a.clear();
        };
        for edit in script {
            match edit {
                linediff::Edit::Same(..) => {
                    flush(&mut run_r, &mut run_a, &mut removed, &mut added, &mut pairs)
                }
                linediff::Edit::Removed(i) => run_r.push(i),
                linediff::Edit::Added(j) => run_a.push(j),
            }
        }
        flush(&mut run_r, &mut run_a, &mut removed, &mut added, &mut pairs);
    }
    if !removed.is_empty() || !added.is_empty() {
        out.push(Line::new(Mark::Change, depth, prefixed(path, "[")));
        for x in removed {
            element(Mark::Remove, item, x, depth + 1, out);
        }
        for y in added {
            element(Mark::Add, item, y, depth + 1, out);
        }
        if same + pairs.len() > 0 {
            out.push(Line::new(
                Mark::Skipped,
                depth + 1,
                unchanged(same + pairs.len(), "element"),
            ));
        }
        out.push(Line::new(Mark::Same, depth, "]"));
    }
    for (p, x, y) in pairs {
        diff_at(&p, item, Some(x), Some(y), depth, out);
    }
}

fn element(mark: Mark, shape: Shape, v: &J, depth: usize, out: &mut Vec<Line>) {
    let start = out.len();
    whole(mark, "", shape, v, depth, out);
    if let Some(last) = out[start..].last_mut() {
        last.text.push(',');
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shown(ty: &str, path: &str, before: Option<J>, after: Option<J>) -> Vec<String> {
        let mut out = Vec::new();
        diff(
            path,
            Shape::at(ty, path),
            before.as_ref(),
            after.as_ref(),
            &mut out,
        );
        out.iter()
            .map(|l| {
                let mark = match l.mark {
                    Mark::Add => '+',
                    Mark::Remove => '-',
                    Mark::Change => '~',
                    Mark::Same | Mark::Skipped => ' ',
                };
                format!("{mark}{}{}", "  ".repeat(l.depth), l.text)
            })
            .collect()
    }

    #[test]
    fn values_are_shown_in_hcl_syntax_as_the_files_write_them() {
        type Case<'a> = (&'a str, &'a str, Option<J>, Option<J>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "segment_source",
                "name",
                Some(json!("a")),
                Some(json!("b")),
                vec![r#"~name = "a" -> "b""#],
            ),
            (
                "segment_source",
                "enabled",
                Some(json!(false)),
                Some(json!(true)),
                vec!["~enabled = false -> true"],
            ),
            (
                "segment_source",
                "labels",
                None,
                Some(json!([{"key": "team", "value": "growth"}])),
                vec![
                    "+labels = [",
                    "+  {",
                    "+    key   = \"team\"",
                    "+    value = \"growth\"",
                    "+  },",
                    "+]",
                ],
            ),
            (
                "segment_destination",
                "settings",
                None,
                Some(json!({"region": "eu", "n": 2})),
                vec![
                    "+settings = jsonencode({",
                    "+  n      = 2",
                    "+  region = \"eu\"",
                    "+})",
                ],
            ),
            (
                "segment_destination",
                "settings.region",
                Some(json!("us")),
                Some(json!("eu")),
                vec![r#"~settings.region = "us" -> "eu""#],
            ),
            (
                "segment_source",
                "name",
                Some(json!("x")),
                None,
                vec![r#"-name = "x" -> null"#],
            ),
            (
                "segment_destination",
                "settings.n",
                Some(json!(1)),
                Some(json!("1")),
                vec![r#"~settings.n = 1 -> "1""#],
            ),
            (
                "segment_destination",
                "settings",
                Some(json!({"apiKey": "a", "x": 1})),
                Some(json!({"apiKey": "b", "x": 1})),
                vec!["~settings.apiKey = (sensitive)"],
            ),
            (
                "segment_source",
                "name",
                Some(json!("a \"q\" ${x}")),
                Some(json!("b")),
                vec![r#"~name = "a \"q\" $${x}" -> "b""#],
            ),
        ];
        for (ty, path, before, after, expected) in cases {
            assert_eq!(
                shown(ty, path, before.clone(), after.clone()),
                expected,
                "{ty} {path}: {before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn control_characters_in_a_value_cannot_reach_the_terminal() {
        let lines = shown(
            "segment_function",
            "code",
            Some(json!("a\nb")),
            Some(json!("a\n\u{1b}[2J\tb\r")),
        );
        assert_eq!(
            lines,
            [
                "~code = <<-EOT",
                "   a",
                "-  b",
                "+  \\u{001b}[2J\tb\\u{000d}",
                " EOT"
            ]
        );
    }

    #[test]
    fn sets_are_diffed_element_by_element() {
        let members: Vec<J> = (0..8)
            .map(|i| json!(format!("person{i}@example.com")))
            .collect();
        let mut more = members.clone();
        more.push(json!("late@outside.example"));
        let mut fewer = members.clone();
        fewer.remove(3);
        let rules = |changed: bool| -> J {
            J::Array(
                (0..400)
                    .map(|i| {
                        let ty = if changed && i == 200 {
                            "number"
                        } else {
                            "string"
                        };
                        json!({"type": "TRACK", "key": format!("Event {i}"), "version": 1,
                               "json_schema": {"properties": {"total": {"type": ty}}}})
                    })
                    .collect(),
            )
        };
        let cases: Vec<(&str, &str, J, J, Vec<&str>)> = vec![
            (
                "segment_user_group",
                "members",
                J::Array(members.clone()),
                J::Array(more),
                vec![
                    "~members = [",
                    "+  \"late@outside.example\",",
                    "   # (8 unchanged elements hidden)",
                    " ]",
                ],
            ),
            (
                "segment_user_group",
                "members",
                J::Array(members.clone()),
                J::Array(fewer),
                vec![
                    "~members = [",
                    "-  \"person3@example.com\",",
                    "   # (7 unchanged elements hidden)",
                    " ]",
                ],
            ),
            (
                "segment_tracking_plan",
                "rules",
                rules(false),
                rules(true),
                vec![
                    r#"~rules[type = "TRACK", key = "Event 200"].json_schema.properties.total.type = "string" -> "number""#,
                ],
            ),
            (
                "segment_destination",
                "settings.events",
                json!(["a", "b", "c"]),
                json!(["a", "c", "d"]),
                vec![
                    "~settings.events = [",
                    "-  \"b\",",
                    "+  \"d\",",
                    "   # (2 unchanged elements hidden)",
                    " ]",
                ],
            ),
        ];
        for (ty, path, before, after, expected) in cases {
            assert_eq!(
                shown(ty, path, Some(before), Some(after)),
                expected,
                "{ty} {path}"
            );
        }
    }

    #[test]
    fn long_strings_show_only_what_changed_and_never_two_identical_sides() {
        let query: String = (0..150)
            .map(|i| format!("SELECT c{i} FROM t{i}\n"))
            .collect();
        let edited = query.replace("FROM t75\n", "FROM u75\n");
        let lines = shown(
            "segment_reverse_etl_model",
            "query",
            Some(json!(query)),
            Some(json!(edited)),
        );
        let changed: Vec<&String> = lines.iter().filter(|l| l.starts_with(['-', '+'])).collect();
        assert_eq!(
            changed,
            ["-  SELECT c75 FROM t75", "+  SELECT c75 FROM u75"],
            "{lines:#?}"
        );
        assert_eq!(lines[0], "~query = <<-EOT");

        let code = format!(
            "{}fetch(\"https://outside.example\"){}",
            "a".repeat(3000),
            "b".repeat(3000)
        );
        let plain = format!("{}{}", "a".repeat(3000), "b".repeat(3000));
        let lines = shown(
            "segment_function",
            "code",
            Some(json!(plain)),
            Some(json!(code)),
        );
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("fetch(\\\"https://outside.example\\\")"),
            "{lines:?}"
        );
        let (before, after) = lines[0].split_once(" -> ").unwrap_or_default();
        assert_ne!(
            before.trim_start_matches("~code = "),
            after.split(" # ").next().unwrap_or_default()
        );
        assert!(lines[0].len() < 400, "{}", lines[0].len());
    }
}
