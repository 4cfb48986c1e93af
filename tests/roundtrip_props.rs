//! Property tests: random models of every resource type survive render -> parse unchanged, and
//! what the renderer writes is already in HashiCorp `hclfmt`'s canonical layout.

use crate::util;
use std::collections::BTreeMap;

use gitsync::hcl::{parse, render};
use gitsync::model::{
    AttrType, Attribute, ImportId, Presence, Resource, ResourceType, Value, canonical_number,
    canonicalize_json,
};
use proptest::prelude::*;

/// Any string, except that plain-string attributes never hold a JSON object or array: Git Sync
/// writes those as `jsonencode(...)` (tested separately), which does not keep their spacing.
fn text() -> BoxedStrategy<String> {
    strings(any::<String>().boxed())
}

/// Characters whose grapheme-cluster rules have not changed since Unicode 13, the tables of
/// the `hclfmt` Debian ships (go-textseg v13). Newer characters are checked by the round trip but
/// cannot be judged by that oracle.
fn text_for_hclfmt() -> BoxedStrategy<String> {
    let chars = prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\u{0}', '\u{ff}'),
        1 => proptest::char::range('\u{300}', '\u{36f}'),
        1 => proptest::char::range('\u{391}', '\u{3c9}'),
        1 => proptest::char::range('\u{410}', '\u{44f}'),
        1 => proptest::char::range('\u{4e00}', '\u{9fa5}'),
        1 => proptest::char::range('\u{ac00}', '\u{d7a3}'),
        1 => proptest::char::range('\u{1f600}', '\u{1f64f}'),
        1 => prop::sample::select(vec!['\u{200d}', '\u{fe0f}', '$', '%', '{', '"', '\\']),
    ];
    strings(
        prop::collection::vec(chars, 0..16)
            .prop_map(|c| c.into_iter().collect())
            .boxed(),
    )
}

fn strings(any_text: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![
        4 => any_text,
        2 => "[ -~]{0,24}",
        1 => Just("${var.x} %{if} $${ok} @@db_password@@ \"q\" \\ \n\t".to_owned()),
    ]
    .prop_map(|s| match serde_json::from_str::<serde_json::Value>(&s) {
        Ok(serde_json::Value::Array(_) | serde_json::Value::Object(_)) => format!("x{s}"),
        _ => s,
    })
    .boxed()
}

/// How strings are drawn.
type Text = fn() -> BoxedStrategy<String>;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_-]{0,23}"
}

fn number() -> impl Strategy<Value = serde_json::Number> {
    prop_oneof![
        any::<i64>().prop_map(serde_json::Number::from),
        any::<u64>().prop_map(serde_json::Number::from),
        (-1.0e20f64..1.0e20).prop_filter_map("finite", serde_json::Number::from_f64),
        (0.0f64..1.0).prop_filter_map("finite", serde_json::Number::from_f64),
    ]
    .prop_map(canonical_number)
}

fn json(text: Text) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        number().prop_map(serde_json::Value::Number),
        text().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    text(),
                    id().boxed(),
                    prop::sample::select(vec!["null", "true", "false"]).prop_map(String::from)
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn value(ty: &'static AttrType, text: Text) -> BoxedStrategy<Value> {
    match ty {
        AttrType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        AttrType::Number => number().prop_map(Value::Number).boxed(),
        AttrType::String => text().prop_map(Value::String).boxed(),
        AttrType::Json => json(text)
            .prop_map(|mut j| {
                canonicalize_json(&mut j);
                Value::Json(j)
            })
            .boxed(),
        AttrType::List(e) | AttrType::Set(e) => prop::collection::vec(value(e, text), 0..4)
            .prop_map(Value::List)
            .boxed(),
        AttrType::Object(nested) => object(nested, &[], text),
        AttrType::ObjectList(nested) | AttrType::ObjectSet(nested) => {
            prop::collection::vec(object(nested, &[], text), 0..3)
                .prop_map(Value::List)
                .boxed()
        }
    }
}

/// The configurable attributes of an object; `ids` are given id-like values (they form the
/// import id). Optional attributes are sometimes left unset.
fn object(
    schema: &'static [Attribute],
    ids: &'static [&'static str],
    text: Text,
) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
        .iter()
        .filter(|a| a.is_configurable())
        .map(|a| {
            let name = a.name.to_owned();
            let v = if ids.contains(&a.name) {
                id().prop_map(Value::String).boxed()
            } else {
                value(&a.ty, text)
            };
            let pair = v.prop_map(move |v| Some((name.clone(), v)));
            if a.presence == Presence::Required {
                pair.boxed()
            } else {
                prop::option::of(pair).prop_map(Option::flatten).boxed()
            }
        })
        .collect();
    fields
        .prop_map(|pairs| Value::Object(pairs.into_iter().flatten().collect::<BTreeMap<_, _>>()))
        .boxed()
}

fn resource(text: Text) -> impl Strategy<Value = Resource> {
    prop::sample::select(ResourceType::ALL.to_vec()).prop_flat_map(move |ty| {
        let ids: &'static [&'static str] = match ty.kind().import_id {
            ImportId::OwnId => &[],
            ImportId::ParentAndOwnId { parent } => match parent {
                "destination_id" => &["destination_id"],
                _ => &["space_id"],
            },
            ImportId::Attributes(names) => names,
        };
        let own_id = match ty.kind().import_id {
            ImportId::Attributes(_) => Just(None).boxed(),
            _ => id().prop_map(Some).boxed(),
        };
        (object(ty.kind().attributes, ids, text), own_id).prop_map(move |(attrs, id)| {
            let Value::Object(attributes) = attrs else {
                unreachable!("object() makes objects")
            };
            Resource::new(ty, id, attributes)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn render_then_parse_gives_the_same_model(resource in resource(text)) {
        let text = render(&resource).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = parse(&text, "random.tf").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed, resource, "{}", text);
    }
}

#[test]
fn rendering_is_stable_under_hashicorp_hclfmt() {
    let Some(hclfmt) = util::hclfmt() else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    });
    runner
        .run(&resource(text_for_hclfmt), |resource| {
            let text = render(&resource).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(util::run_hclfmt(&hclfmt, &text), text);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
