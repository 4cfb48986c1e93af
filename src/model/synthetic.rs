//! A deterministic, realistic synthetic workspace of any size, for benchmarks, load tests and the
//! demo. The mix of types and the shape of each resource follow real Git Sync output (see
//! `tests/fixtures/gitsync-output/`): many destinations and mappings per source, settings
//! objects with nested mappings, users with permissions.
//!
//! Same `(size, seed)`, same workspace, on every machine: no randomness from the environment.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Attributes, Resource, ResourceType, Value};

/// A small, fast, deterministic generator (xorshift64*); not for anything secret.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A Segment-style id: 22 base62 characters (or 24 hex for destinations).
    fn id(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }

    fn base62(&mut self) -> String {
        self.id(
            22,
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )
    }

    fn hex24(&mut self) -> String {
        self.id(24, b"0123456789abcdef")
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn obj(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn attrs(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Attributes {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

const EVENTS: &[&str] = &[
    "Order Completed",
    "Product Viewed",
    "Signed Up",
    "Checkout Started",
    "Login",
];
const SLUGS: &[&str] = &[
    "javascript",
    "ios",
    "android",
    "http-api",
    "node-js",
    "bigquery",
];

/// Generates `size` resources with ids derived from `seed`.
pub fn workspace(size: usize, seed: u64) -> Vec<Resource> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(size);
    let mut sources: Vec<String> = Vec::new();
    let mut destinations: Vec<String> = Vec::new();
    let workspace_id = rng.base62();

    while out.len() < size {
        let roll = rng.below(100);
        let resource = if sources.is_empty() || roll < 10 {
            let id = rng.base62();
            sources.push(id.clone());
            let slug = rng.pick(SLUGS);
            Resource::new(
                ResourceType::Source,
                Some(id),
                attrs([
                    ("enabled", Value::Bool(rng.below(5) > 0)),
                    (
                        "metadata",
                        obj([("id", s(rng.id(10, b"abcdefghijklmnopqrstuvwxyz0123456789")))]),
                    ),
                    ("name", s(format!("{slug} source {}", out.len()))),
                    (
                        "settings",
                        Value::Json(
                            json!({"website_url": format!("https://example.com/{}", out.len())}),
                        ),
                    ),
                    ("slug", s(format!("{slug}_{}", out.len()))),
                ]),
            )
        } else if destinations.is_empty() || roll < 35 {
            let id = rng.hex24();
            destinations.push(id.clone());
            let source = sources[rng.below(sources.len() as u64) as usize].clone();
            Resource::new(
                ResourceType::Destination,
                Some(id.clone()),
                attrs([
                    ("enabled", Value::Bool(true)),
                    (
                        "metadata",
                        obj([
                            ("id", s(rng.hex24())),
                            ("partner_owned", Value::Bool(false)),
                            ("region_endpoints", Value::List(vec![s("US"), s("EU")])),
                            (
                                "supported_regions",
                                Value::List(vec![s("us-west-2"), s("eu-west-1")]),
                            ),
                        ]),
                    ),
                    ("name", s(format!("Webhook {}", out.len()))),
                    (
                        "settings",
                        Value::Json(json!({
                            "apiKey": "••••••••••adce",
                            "dynamicAuthSettings": {"configId": id, "oauth": {"type": "noAuth"}},
                            "sharedSecret": "",
                            "trackAllPages": rng.below(2) == 0,
                            "eventUploadThreshold": 30,
                            "traitsToAppend": []
                        })),
                    ),
                    ("source_id", s(source)),
                ]),
            )
        } else if roll < 65 {
            let destination = destinations[rng.below(destinations.len() as u64) as usize].clone();
            let event = rng.pick(EVENTS);
            Resource::new(
                ResourceType::DestinationSubscription,
                Some(rng.base62()),
                attrs([
                    ("action_id", s(rng.base62())),
                    ("destination_id", s(destination)),
                    ("enabled", Value::Bool(true)),
                    ("name", s(format!("Send {event}"))),
                    (
                        "settings",
                        Value::Json(json!({
                            "batch_size": 100,
                            "data": {"@path": "$."},
                            "enable_batching": false,
                            "headers": {"X-Api-Key": "@@webhook_key@@"},
                            "method": "POST",
                            "url": format!("https://hooks.example.com/{}", out.len()),
                            "user_id": {"@if": {"exists": {"@path": "$.userId"}, "then": {"@path": "$.userId"}, "else": {"@path": "$.anonymousId"}}}
                        })),
                    ),
                    ("trigger", s(format!("event = \"{event}\""))),
                ]),
            )
        } else if roll < 75 {
            let destination = destinations[rng.below(destinations.len() as u64) as usize].clone();
            let source = sources[rng.below(sources.len() as u64) as usize].clone();
            Resource::new(
                ResourceType::DestinationFilter,
                Some(rng.base62()),
                attrs([
                    (
                        "actions",
                        Value::List(vec![obj([
                            (
                                "fields",
                                Value::Json(json!({"properties": ["email", "phone"]})),
                            ),
                            ("type", s("DROP_PROPERTIES")),
                        ])]),
                    ),
                    ("destination_id", s(destination)),
                    ("enabled", Value::Bool(true)),
                    ("if", s(format!("event = \"{}\"", rng.pick(EVENTS)))),
                    ("source_id", s(source)),
                    ("title", s(format!("Drop PII {}", out.len()))),
                ]),
            )
        } else if roll < 88 {
            Resource::new(
                ResourceType::User,
                Some(rng.base62()),
                attrs([
                    ("email", s(format!("person{}@example.com", out.len()))),
                    (
                        "permissions",
                        Value::List(vec![obj([
                            (
                                "resources",
                                Value::List(vec![obj([
                                    ("id", s(workspace_id.clone())),
                                    ("labels", Value::List(vec![])),
                                    ("type", s("WORKSPACE")),
                                ])]),
                            ),
                            ("role_id", s(rng.base62())),
                        ])]),
                    ),
                ]),
            )
        } else if roll < 94 {
            let source = sources[rng.below(sources.len() as u64) as usize].clone();
            Resource::new(
                ResourceType::Transformation,
                Some(rng.base62()),
                attrs([
                    ("enabled", Value::Bool(true)),
                    ("fql_defined_properties", Value::List(vec![])),
                    ("if", s(format!("event = \"{}\"", rng.pick(EVENTS)))),
                    ("name", s(format!("Rename {}", out.len()))),
                    ("new_event_name", s("Renamed")),
                    (
                        "property_renames",
                        Value::List(vec![obj([("new_name", s("b")), ("old_name", s("a"))])]),
                    ),
                    ("property_value_transformations", Value::List(vec![])),
                    ("source_id", s(source)),
                ]),
            )
        } else {
            Resource::new(
                ResourceType::TrackingPlan,
                Some(format!("tp_{}", rng.base62())),
                attrs([
                    ("description", s("Synthetic plan")),
                    ("name", s(format!("Plan {}", out.len()))),
                    (
                        "rules",
                        Value::List(
                            (0..3)
                                .map(|i| {
                                    obj([
                                        (
                                            "json_schema",
                                            Value::Json(json!({
                                                "$schema": "http://json-schema.org/draft-07/schema#",
                                                "properties": {"properties": {"type": "object", "required": ["id"]}},
                                                "type": "object"
                                            })),
                                        ),
                                        ("key", s(format!("{} {i}", rng.pick(EVENTS)))),
                                        ("type", s("TRACK")),
                                        ("version", Value::Number(1.into())),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                    ("type", s("LIVE")),
                ]),
            )
        };
        out.push(resource);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_sized() {
        let a = workspace(500, 7);
        assert_eq!(a.len(), 500);
        assert_eq!(a, workspace(500, 7));
        assert_ne!(a, workspace(500, 8));
        let paths: std::collections::BTreeSet<String> = a
            .iter()
            .map(|r| r.path().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(paths.len(), 500, "every resource has its own file");
    }

    #[test]
    fn every_resource_renders_and_parses_back() {
        for r in workspace(300, 1) {
            let text = crate::hcl::render(&r).unwrap_or_else(|e| panic!("{e}"));
            let back = crate::hcl::parse(&text, "x.tf").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, r);
        }
    }
}
