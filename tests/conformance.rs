//! The embedded workspace's responses against the last published machine-readable description of
//! the Segment Public API (`tests/fixtures/segment-public-api-v32.openapi.yaml`), for the
//! operations whose responses v73 did not change (see `segment-api-v73.md` §6), and against the
//! v73 facts where it did (201 on some creates, alpha endpoints absent from v32).

use std::collections::BTreeMap;

use crate::util;
use crate::util::{TestWorkspace, fixture_dir, fixtures_root};
use serde_json::{Value as Json, json};

const TOKEN: &str = "conf";

/// The v32 spec as JSON, with OpenAPI's `nullable: true` turned into JSON Schema's
/// `type: [T, "null"]` ([`util::openapi::to_json_schema`]).
fn spec() -> Json {
    let path = fixtures_root().join("segment-public-api-v32.openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut spec: Json =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    util::openapi::to_json_schema(&mut spec);
    spec
}

/// Validates `body` against the response schema of `method path` (path as written in the spec)
/// for `status`; returns the errors.
fn violations(spec: &Json, method: &str, path: &str, status: &str, body: &Json) -> Vec<String> {
    let op = &spec["paths"][path][method];
    assert!(op.is_object(), "the v32 spec has no {method} {path}");
    let content = &op["responses"][status]["content"];
    let schema = content
        .as_object()
        .and_then(|c| c.get("application/json").or_else(|| c.values().next()))
        .map(|m| m["schema"].clone())
        .unwrap_or_else(|| panic!("no {status} schema for {method} {path}"));
    util::openapi::schema_violations(spec, &schema, body)
}

async fn request(
    ws: &TestWorkspace,
    method: reqwest::Method,
    path: &str,
    body: Option<Json>,
) -> (u16, Json) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{}{path}", ws.running.url()))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .json::<Json>()
        .await
        .unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_validate_against_the_published_schema() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let tree =
        gitsync::sync::tree::read_dir(&fixture_dir("v2025")).unwrap_or_else(|e| panic!("{e}"));
    gitsync::workspace::embedded::seed(&ws.store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let spec = spec();
    let first = |ty: &str| -> String {
        tree.iter()
            .find(|(_, r)| r.ty.terraform_type() == ty)
            .and_then(|(_, r)| r.id.clone())
            .unwrap_or_else(|| panic!("no {ty} in the fixtures"))
    };
    let (source, destination, warehouse, plan, transformation) = (
        first("segment_source"),
        first("segment_destination"),
        first("segment_warehouse"),
        first("segment_tracking_plan"),
        first("segment_transformation"),
    );
    let filter_destination = "66c7c3c0da4ea46121571a99";
    let function = first("segment_function");
    let user = first("segment_user");

    // (method, spec path, request path): responses v73 left unchanged.
    let reads: Vec<(&str, &str, String)> = vec![
        ("get", "/", "/".into()),
        ("get", "/sources", "/sources".into()),
        ("get", "/sources/{sourceId}", format!("/sources/{source}")),
        ("get", "/destinations", "/destinations".into()),
        (
            "get",
            "/destinations/{destinationId}",
            format!("/destinations/{destination}"),
        ),
        ("get", "/warehouses", "/warehouses".into()),
        (
            "get",
            "/warehouses/{warehouseId}",
            format!("/warehouses/{warehouse}"),
        ),
        (
            "get",
            "/destination/{destinationId}/filters",
            format!("/destination/{filter_destination}/filters"),
        ),
        ("get", "/tracking-plans", "/tracking-plans".into()),
        (
            "get",
            "/tracking-plans/{trackingPlanId}",
            format!("/tracking-plans/{plan}"),
        ),
        (
            "get",
            "/tracking-plans/{trackingPlanId}/rules",
            format!("/tracking-plans/{plan}/rules"),
        ),
        (
            "get",
            "/functions",
            "/functions?resourceType=DESTINATION".into(),
        ),
        (
            "get",
            "/functions/{functionId}",
            format!("/functions/{function}"),
        ),
        ("get", "/labels", "/labels".into()),
        ("get", "/users", "/users".into()),
        ("get", "/users/{userId}", format!("/users/{user}")),
        ("get", "/groups", "/groups".into()),
        ("get", "/audit-events", "/audit-events".into()),
    ];
    // (label, method, spec path, status, body), validated together at the end.
    let mut cases: Vec<(String, &str, &str, &str, Json)> = Vec::new();
    for (method, spec_path, path) in &reads {
        let (status, body) = request(&ws, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        cases.push((format!("GET {path}"), method, spec_path, "200", body));
    }
    // Errors: 404 and 422 use the published error envelope.
    let (status, body) = request(&ws, reqwest::Method::GET, "/sources/nope", None).await;
    assert_eq!(status, 404);
    cases.push(("404".into(), "get", "/sources/{sourceId}", "404", body));
    let (status, body) = request(
        &ws,
        reqwest::Method::POST,
        "/sources",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 422);
    cases.push(("422".into(), "post", "/sources", "422", body));

    // Writes: v73 answers some creates with 201; bodies otherwise as in v32.
    let (status, body) = request(
        &ws,
        reqwest::Method::POST,
        "/labels",
        Some(json!({"label": {"key": "team", "value": "web"}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    cases.push(("POST /labels".into(), "post", "/labels", "200", body));
    let (status, body) = request(
        &ws,
        reqwest::Method::PATCH,
        &format!("/transformations/{transformation}"),
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(
        &ws,
        reqwest::Method::DELETE,
        &format!("/destinations/{destination}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    cases.push((
        "DELETE /destinations/{id}".into(),
        "delete",
        "/destinations/{destinationId}",
        "200",
        body,
    ));

    // The spec is large and deeply nested: compile and validate on a thread with a big stack.
    let cases: Vec<(String, String, String, String, Json)> = cases
        .into_iter()
        .map(|(l, m, p, s, b)| (l, m.to_owned(), p.to_owned(), s.to_owned(), b))
        .collect();
    let checked = cases.len();
    let problems = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (label, method, path, status, body) in &cases {
                let v = violations(&spec, method, path, status, body);
                if !v.is_empty() {
                    problems.insert(label.clone(), v);
                }
            }
            problems
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .join()
        .unwrap_or_else(|_| panic!("validation panicked"));
    assert_eq!(checked, 22);
    assert!(
        problems.is_empty(),
        "responses that do not match the v32 schema:\n{problems:#?}"
    );
}

/// Every error answer is in the published `{"errors": [...]}` envelope, including those axum
/// makes itself (405, 413, 400) and 414; and a PATCH body that is not an object is refused
/// (422) without recording a change.
#[tokio::test(flavor = "multi_thread")]
async fn every_error_answer_is_in_the_published_envelope() {
    let ws = TestWorkspace::seeded(Some(TOKEN)).await;
    let source = "2zuUSLNZqjUzDKb7QEFGfq";
    let events_before = ws
        .store
        .audit_events(&gitsync::workspace::embedded::store::AuditQuery {
            limit: 100_000,
            ..Default::default()
        })
        .map(|(e, _)| e.len())
        .unwrap_or_else(|e| panic!("{e}"));

    let raw = |method: reqwest::Method, path: String, body: Option<Vec<u8>>| {
        let url = format!("{}{path}", ws.running.url());
        async move {
            let mut req = reqwest::Client::new()
                .request(method, url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json");
            if let Some(b) = body {
                req = req.body(b);
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let body: Json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("HTTP {status}, not JSON ({e}): {text:?}"));
            (status, body)
        }
    };
    let huge = serde_json::to_vec(&json!({"name": "x".repeat(3 << 20)})).unwrap_or_default();
    let cases: Vec<(&str, u16, (u16, Json))> = vec![
        (
            "PUT /sources",
            405,
            raw(reqwest::Method::PUT, "/sources".into(), None).await,
        ),
        (
            "PATCH 3 MiB",
            413,
            raw(
                reqwest::Method::PATCH,
                format!("/sources/{source}"),
                Some(huge),
            )
            .await,
        ),
        (
            "GET 20 KiB target",
            414,
            raw(
                reqwest::Method::GET,
                format!("/sources?q={}", "a".repeat(20 << 10)),
                None,
            )
            .await,
        ),
        (
            "GET /sources/%FF",
            400,
            raw(reqwest::Method::GET, "/sources/%FF".into(), None).await,
        ),
        (
            "PATCH [1,2]",
            422,
            raw(
                reqwest::Method::PATCH,
                format!("/sources/{source}"),
                Some(b"[1,2]".to_vec()),
            )
            .await,
        ),
        (
            "PATCH null",
            422,
            raw(
                reqwest::Method::PATCH,
                format!("/sources/{source}"),
                Some(b"null".to_vec()),
            )
            .await,
        ),
    ];
    let events_after = ws
        .store
        .audit_events(&gitsync::workspace::embedded::store::AuditQuery {
            limit: 100_000,
            ..Default::default()
        })
        .map(|(e, _)| e.len())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        events_after, events_before,
        "a refused PATCH records nothing"
    );
    for (label, expected, (status, body)) in &cases {
        assert_eq!(status, expected, "{label}: {body}");
        assert_eq!(
            body["errors"][0]["status"],
            json!(expected),
            "{label}: {body}"
        );
    }
    assert_eq!(cases[4].2.1["errors"][0]["field"], json!("body"));

    let spec = spec();
    let problems = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            cases
                .iter()
                .map(|(label, _, (_, body))| {
                    (
                        *label,
                        violations(&spec, "get", "/sources/{sourceId}", "404", body),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>()
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .join()
        .unwrap_or_else(|_| panic!("validation panicked"));
    assert!(problems.is_empty(), "not the error envelope: {problems:#?}");
}

/// One write request as the embedded workspace received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    body: Option<Json>,
}

type Log = std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>;

/// The embedded workspace behind a layer that records every write request's body as it arrived
/// on the wire, before the server's decoder (the inverse of the client's encoder) reads it.
async fn recording_workspace() -> (
    String,
    gitsync::workspace::embedded::Store,
    Log,
    tempfile::TempDir,
) {
    use gitsync::workspace::embedded::{ServerConfig, Store, router};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&dir.path().join("ws.db")).unwrap_or_else(|e| panic!("{e}"));
    let log: Log = Default::default();
    let recorder = log.clone();
    let app = router(
        store.clone(),
        ServerConfig {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let recorder = recorder.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 16 << 20)
                    .await
                    .unwrap_or_default();
                if parts.method != axum::http::Method::GET
                    && !parts.uri.path().starts_with("/_gitsync/")
                {
                    let body = (!bytes.is_empty()).then(|| {
                        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                            panic!("{} {}: not JSON: {e}", parts.method, parts.uri)
                        })
                    });
                    recorder
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(Recorded {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            body,
                        });
                }
                next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                    .await
            }
        },
    ));
    let url = util::serve(app).await;
    (url, store, log, dir)
}

/// The v32 spec's request schemas brought to v73, the version the client speaks, by the field
/// changes Segment published between the two (v73 §6.4 of the API notes), and made strict: every
/// object schema with named properties refuses other fields, so a field the API does not know
/// (a misspelt or invented one) fails here as Segment's validation refuses it.
fn v73_requests(mut spec: Json) -> Json {
    let schemas = &mut spec["components"]["schemas"];
    let boolean = json!({"type": "boolean"});
    let objects = |item: &str| json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}});
    let added: Vec<(&str, &str, Json)> = vec![
        (
            "CreateSourceV1Input",
            "disconnectAllWarehouses",
            boolean.clone(),
        ),
        (
            "CreateWarehouseV1Input",
            "disconnectAllSources",
            boolean.clone(),
        ),
        (
            "CreateDestinationSubscriptionAlphaInput",
            "modelId",
            json!({"type": "string"}),
        ),
        (
            "DestinationSubscriptionUpdateInput",
            "reverseETLModelId",
            json!({"type": "string"}),
        ),
        (
            "DestinationSubscriptionUpdateInput",
            "reverseETLSchedule",
            json!({"type": "object", "properties": {"strategy": {"type": "string"}, "config": {}},
                   "required": ["strategy"], "additionalProperties": false}),
        ),
    ];
    let mut added = added;
    for input in [
        "CreateTransformationBetaInput",
        "UpdateTransformationBetaInput",
    ] {
        added.push((input, "drop", boolean.clone()));
        added.push((input, "propertyValueTransformations", json!({"type": "array", "items": {
            "type": "object", "additionalProperties": false, "required": ["propertyPaths", "propertyValue"],
            "properties": {"propertyPaths": {"type": "array", "items": {"type": "string"}}, "propertyValue": {"type": "string"}}}})));
        added.push((
            input,
            "fqlDefinedProperties",
            json!({"type": "array", "items": {
            "type": "object", "additionalProperties": false, "required": ["fql", "propertyName"],
            "properties": {"fql": {"type": "string"}, "propertyName": {"type": "string"}}}}),
        ));
        added.push((
            input,
            "allowProperties",
            json!({"type": "array", "items": {"type": "string"}}),
        ));
        added.push((
            input,
            "hashPropertiesConfiguration",
            json!({"type": "object"}),
        ));
    }
    for (schema, field, def) in added {
        schemas[schema]["properties"][field] = def;
    }
    // Optional in v32, required in v73.
    for (schema, field) in [
        ("UpdateWarehouseV1Input", "settings"),
        ("CreateFilterForDestinationV1Input", "sourceId"),
        ("CreateFilterForDestinationV1Input", "title"),
        ("ReplaceRulesInTrackingPlanV1Input", "rules"),
        ("AddSourceToTrackingPlanV1Input", "sourceId"),
        ("ReplaceLabelsInSourceV1Input", "labels"),
        ("ReplacePermissionsForUserV1Input", "permissions"),
        ("ReplacePermissionsForUserGroupV1Input", "permissions"),
        ("ReplaceUsersInUserGroupV1Input", "emails"),
        ("UpdateUserGroupV1Input", "name"),
    ] {
        let required = &mut schemas[schema]["required"];
        if !required.is_array() {
            *required = json!([]);
        }
        if let Json::Array(r) = required {
            r.push(json!(field));
        }
    }
    // Rules are replaced as RuleInputV1: RuleV1 without its timestamps.
    let mut rule_input = schemas["RuleV1"].clone();
    if let Some(p) = rule_input["properties"].as_object_mut() {
        for t in ["createdAt", "updatedAt", "deprecatedAt"] {
            p.remove(t);
        }
    }
    rule_input["properties"]["jsonSchema"] = json!({});
    schemas["RuleInputV1"] = rule_input;
    schemas["ReplaceRulesInTrackingPlanV1Input"]["properties"]["rules"] = objects("RuleInputV1");
    if let Some(all) = schemas.as_object_mut() {
        for schema in all.values_mut() {
            if schema.get("properties").is_some() && schema.get("additionalProperties").is_none() {
                schema["additionalProperties"] = json!(false);
            }
        }
    }
    spec
}

/// Validates a request body against the `requestBody` schema of `method template`.
fn body_violations(spec: &Json, method: &str, template: &str, body: Option<&Json>) -> Vec<String> {
    let op = &spec["paths"][template][method];
    let Some(content) = op["requestBody"]["content"].as_object() else {
        return match body {
            None => vec![],
            Some(b) => vec![format!("the operation takes no body, but got {b}")],
        };
    };
    let Some(body) = body else {
        return if op["requestBody"]["required"] == json!(true) {
            vec!["the operation requires a body, but none was sent".into()]
        } else {
            vec![]
        };
    };
    let Some(mut schema) = content.values().next().map(|m| m["schema"].clone()) else {
        return vec![format!("no request schema for {method} {template}")];
    };
    // The spec's generator lists an operation's path parameters among its body's `required`
    // names (`UpdateSourceV1Input` requires `sourceId`) without declaring them as properties;
    // Segment's own SDK and provider send no such field. Only those names are dropped.
    if let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        schema = spec["components"]["schemas"][name].clone();
    }
    let path_params: Vec<&str> = template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let properties = schema["properties"].clone();
    if let Some(Json::Array(required)) = schema.get_mut("required") {
        required.retain(|r| {
            let name = r.as_str().unwrap_or_default();
            properties.get(name).is_some() || !path_params.contains(&name)
        });
    }
    // Draft 4 wants a non-empty `required`.
    if schema["required"] == json!([])
        && let Some(map) = schema.as_object_mut()
    {
        map.remove("required");
    }
    util::openapi::schema_violations(spec, &schema, body)
}

/// Operations gitsync writes that the last published spec (v32) does not describe: alpha
/// endpoints that came later. Their bodies cannot be checked here; every other write is.
const NOT_IN_V32: &[(&str, &str)] = &[
    ("post", "/reverse-etl-models"),
    ("patch", "/reverse-etl-models/{id}"),
    ("delete", "/reverse-etl-models/{id}"),
    ("post", "/insert-function-instances"),
    ("patch", "/insert-function-instances/{id}"),
    ("delete", "/insert-function-instances/{id}"),
    ("post", "/spaces/{spaceId}/profiles-warehouses"),
    ("patch", "/spaces/{spaceId}/profiles-warehouses/{id}"),
    ("delete", "/spaces/{spaceId}/profiles-warehouses/{id}"),
];

/// The same path with its ids replaced by `{id}`, for the operations v32 lacks.
fn generic_path(path: &str, created: &[String]) -> String {
    path.split('/')
        .map(|s| {
            if created.iter().any(|c| c == s) {
                "{id}"
            } else if s.starts_with("spa_") {
                "{spaceId}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every create, update, follow-up and delete request the client sends, for every type, is a
/// request the published API describes, with a body its `requestBody` schema accepts. The
/// bodies are caught on the wire, so a mistake shared by the client's encoder and the embedded
/// server's decoder (the same `api` module) fails here.
#[tokio::test(flavor = "multi_thread")]
async fn every_write_request_body_validates_against_the_published_schema() {
    use gitsync::model::{ResourceType, Value};
    use gitsync::workspace::Workspace;
    let (url, store, log, _dir) = recording_workspace().await;
    let mut tree =
        gitsync::sync::tree::read_dir(&fixture_dir("v2025")).unwrap_or_else(|e| panic!("{e}"));
    tree.extend(
        gitsync::sync::tree::read_dir(&fixture_dir("v2024"))
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter(|(_, r)| r.ty == ResourceType::UserGroup),
    );
    gitsync::workspace::embedded::seed(&store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let client = gitsync::workspace::Client::new(gitsync::workspace::ClientConfig::new(
        url,
        TOKEN,
        "the test token",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let api = |ty: ResourceType, attrs: Json| {
        gitsync::workspace::api::from_api(ty, attrs.as_object().unwrap_or(&Default::default()))
            .unwrap_or_else(|e| panic!("{e}"))
    };

    let mut created = Vec::new();
    let mut destination = None;
    let mut done = std::collections::BTreeSet::new();
    for ty in ResourceType::git_sync_types() {
        let Some((path, sample)) = tree.iter().find(|(_, r)| r.ty == ty) else {
            panic!("no {ty} in the samples");
        };
        let mut new = sample.clone();
        new.id = None;
        let set = |r: &mut gitsync::model::Resource, k: &str, v: Value| {
            r.attributes.insert(k.into(), v);
        };
        match ty {
            ResourceType::Label => set(&mut new, "value", Value::String("copy".into())),
            ResourceType::User => set(&mut new, "email", Value::String("copy@example.com".into())),
            ResourceType::Source => {
                set(&mut new, "settings", Value::Json(json!({"location": "us"})));
                set(
                    &mut new,
                    "labels",
                    Value::List(vec![Value::Object(
                        [
                            ("key".to_owned(), Value::String("environment".into())),
                            ("value".to_owned(), Value::String("dev".into())),
                        ]
                        .into(),
                    )]),
                );
            }
            ResourceType::DestinationFilter | ResourceType::DestinationSubscription => {
                let d: &String = destination
                    .as_ref()
                    .unwrap_or_else(|| panic!("no destination"));
                set(&mut new, "destination_id", Value::String(d.clone()));
            }
            _ => {}
        }
        let made = client
            .create(&new)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        if ty == ResourceType::Destination {
            destination = made.id.clone();
        }
        // An update that changes what can change in place, so the PATCH and the follow-ups go.
        let mut changed = made.clone();
        if let Value::String(name) = changed.get("name").clone() {
            set(&mut changed, "name", Value::String(format!("{name} v2")));
        }
        if let Value::Bool(b) = changed.get("enabled").clone() {
            set(&mut changed, "enabled", Value::Bool(!b));
        }
        match ty {
            ResourceType::Source => set(&mut changed, "labels", Value::List(vec![])),
            ResourceType::User | ResourceType::UserGroup => {
                if let Value::List(mut p) = changed.get("permissions").clone() {
                    p.truncate(1);
                    if let Some(Value::Object(first)) = p.first_mut() {
                        first.insert(
                            "role_id".into(),
                            Value::String("1Mc8DEHhMqqSkb5cPjtu9pAEyNf".into()),
                        );
                        // A permission stated without resources (the attribute is optional).
                        if ty == ResourceType::User {
                            first.remove("resources");
                        }
                    }
                    set(&mut changed, "permissions", Value::List(p));
                }
                if ty == ResourceType::UserGroup {
                    set(
                        &mut changed,
                        "members",
                        Value::List(vec![Value::String("new@example.com".into())]),
                    );
                }
            }
            ResourceType::TrackingPlan => set(&mut changed, "rules", Value::List(vec![])),
            _ => {}
        }
        if ty != ResourceType::Label {
            client
                .update(&changed)
                .await
                .unwrap_or_else(|e| panic!("{path}: update: {e}"));
        }
        done.insert(ty);
        created.push(changed);
    }
    assert_eq!(done.len(), 12);

    let (source, warehouse, plan) = (
        "2zuUSLNZqjUzDKb7QEFGfq",
        "bGL6b6CFmfnghd3P9d3tX8",
        "tp_2GMTdawlncDdbCuH0yyzCFeAUmg",
    );
    let others = [
        api(
            ResourceType::SourceWarehouseConnection,
            json!({"sourceId": source, "warehouseId": warehouse}),
        ),
        api(
            ResourceType::SourceTrackingPlanConnection,
            json!({"sourceId": source, "trackingPlanId": plan,
                   "schemaSettings": {"track": {"allowUnplannedEvents": false, "commonEventOnViolations": "ALLOW"},
                                      "forwardingViolationsTo": "3URoN9E4cm2WDHskR8P23u"}}),
        ),
        api(
            ResourceType::InsertFunctionInstance,
            json!({"functionId": "ifnd_657b1fbc174c6cd8eb93a957", "integrationId": "66c7c3c0da4ea46121571a99",
                   "name": "enrich", "enabled": true, "settings": {"region": "eu"}}),
        ),
        api(
            ResourceType::ProfilesWarehouse,
            json!({"spaceId": "spa_1", "metadataId": "55d3d3aea3c", "enabled": true, "name": "Profiles",
                   "schemaName": "profiles", "settings": {"host": "db.example.com"}}),
        ),
    ];
    for new in others {
        let made = client
            .create(&new)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", new.ty));
        let mut changed = made.clone();
        if let Value::String(name) = changed.get("name").clone() {
            changed
                .attributes
                .insert("name".into(), Value::String(format!("{name} v2")));
        }
        if new.ty == ResourceType::SourceTrackingPlanConnection {
            changed.attributes.insert(
                "schema_settings".into(),
                api(
                    new.ty,
                    json!({"sourceId": source, "trackingPlanId": plan,
                           "schemaSettings": {"track": {"allowUnplannedEvents": true}}}),
                )
                .get("schema_settings")
                .clone(),
            );
        }
        client
            .update(&changed)
            .await
            .unwrap_or_else(|e| panic!("{}: update: {e}", new.ty));
        created.push(changed);
    }
    for r in created.iter().rev() {
        client
            .delete(r)
            .await
            .unwrap_or_else(|e| panic!("deleting {}: {e}", r.ty));
    }

    let ids: Vec<String> = created.iter().filter_map(|r| r.id.clone()).collect();
    let writes = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let spec = v73_requests(spec());
    let (problems, unlisted, validated) = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut unlisted = std::collections::BTreeSet::new();
            let mut validated = std::collections::BTreeSet::new();
            for w in &writes {
                let method = w.method.to_lowercase();
                let label = format!(
                    "{} {}: {}",
                    w.method,
                    w.path,
                    w.body.clone().unwrap_or(Json::Null)
                );
                match util::openapi::template_of(&spec, &method, &w.path) {
                    Some(template) => {
                        let v = body_violations(&spec, &method, &template, w.body.as_ref());
                        if !v.is_empty() {
                            problems.insert(label, v);
                        }
                        validated.insert(format!("{method} {template}"));
                    }
                    None => {
                        let generic = generic_path(&w.path, &ids);
                        if !NOT_IN_V32.contains(&(method.as_str(), generic.as_str())) {
                            problems
                                .insert(label, vec!["no such operation in the v32 spec".into()]);
                        }
                        unlisted.insert((method, generic));
                    }
                }
            }
            (problems, unlisted, validated)
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .join()
        .unwrap_or_else(|_| panic!("validation panicked"));
    assert!(
        problems.is_empty(),
        "write requests the published API would refuse:\n{problems:#?}"
    );
    // Every exception is used (none is stale), and the checked operations cover every write kind.
    let unlisted: Vec<(String, String)> = unlisted.into_iter().collect();
    let expected: Vec<(String, String)> = NOT_IN_V32
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(unlisted, expected);
    assert!(validated.len() >= 40, "{validated:#?}");
}

/// Defect 5: a change of `enabled` or `name` sent the destination's `settings` whole, with the
/// masked secret the API served, for the API to take as the new secret. A file that holds the
/// mask (as every export writes it) and turns the destination off is planned and applied with
/// no placeholder, and the PATCH carries what changed and nothing else; a warehouse, whose
/// update the API requires `settings` on, still sends them.
#[tokio::test(flavor = "multi_thread")]
async fn a_toggle_sends_what_changed_and_no_masked_settings() {
    use gitsync::model::{ResourceType, Value};
    use gitsync::sync::apply::{ApplyOptions, DirSink, FileJournal, Quiet, Session};
    use gitsync::sync::plan::{PlanInput, plan};
    use gitsync::workspace::api::MASK_BULLETS;
    let (url, store, log, dir) = recording_workspace().await;
    let mut files = gitsync::sync::tree::read_dir_files(&fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let tree = gitsync::hcl::tree::parse_files(files.clone()).unwrap_or_else(|e| panic!("{e}"));
    gitsync::workspace::embedded::seed(&store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let client = gitsync::workspace::Client::new(gitsync::workspace::ClientConfig::new(
        url,
        TOKEN,
        "the test token",
    ))
    .unwrap_or_else(|e| panic!("{e}"));

    // The files as an export writes them: secrets masked.
    let mut toggled = Vec::new();
    for (path, bytes) in &mut files {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let Ok(mut r) = gitsync::hcl::parse(&text, path) else {
            continue;
        };
        let wanted = match r.ty {
            ResourceType::Destination => text.contains(MASK_BULLETS) && toggled.is_empty(),
            ResourceType::Warehouse => !toggled.iter().any(|(t, _)| *t == ResourceType::Warehouse),
            _ => false,
        };
        if !wanted {
            continue;
        }
        if let Some(Value::Json(settings)) = r.attributes.get_mut("settings") {
            gitsync::workspace::api::mask_secrets(settings);
        }
        let Value::Bool(on) = r.get("enabled").clone() else {
            panic!("{path}: no enabled")
        };
        r.attributes.insert("enabled".into(), Value::Bool(!on));
        *bytes = gitsync::hcl::render(&r)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_bytes();
        toggled.push((r.ty, r.id.clone().unwrap_or_default()));
    }
    assert_eq!(toggled.len(), 2, "{toggled:?}");

    let made = plan(
        &client,
        PlanInput {
            base: None,
            base_name: None,
            head: &files,
            secrets: &gitsync::sync::secrets::NoSecrets,
            send_secrets: Default::default(),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("planning without a placeholder: {e}"));
    assert_eq!(
        made.counts(),
        (0, 2, 0),
        "{}",
        gitsync::sync::plan::human(&made)
    );
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    // The tree the plan was made from, on disk for the apply to check and rewrite.
    let tree_dir = dir.path().join("tree");
    for (path, bytes) in &files {
        let target = tree_dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap_or(&tree_dir))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&target, bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut session = Session::open(
        made.clone(),
        FileJournal::new(dir.path().join("journal")),
        "the test",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let report = session
        .run(
            &client,
            &mut DirSink::new(&tree_dir),
            &ApplyOptions::new(&gitsync::sync::secrets::NoSecrets),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.succeeded(), "{:?}", report.failed);

    let writes = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (ty, id) in &toggled {
        let patch = writes
            .iter()
            .find(|w| w.method == "PATCH" && w.path.ends_with(&format!("/{id}")))
            .unwrap_or_else(|| panic!("no PATCH of {ty} {id}: {writes:?}"))
            .body
            .clone()
            .unwrap_or(Json::Null);
        let fields: Vec<&String> = patch
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        match ty {
            ResourceType::Warehouse => {
                assert_eq!(fields, ["enabled", "settings"], "{ty}: {patch}")
            }
            _ => assert_eq!(
                patch,
                json!({"enabled": patch["enabled"].clone()}),
                "{ty}: {patch}"
            ),
        }
        assert!(patch["enabled"].is_boolean(), "{ty}: {patch}");
    }
    // The secrets are as they were: nothing took a mask for a value.
    for (ty, id) in &toggled {
        let seeded = tree
            .iter()
            .find(|(_, r)| r.id.as_deref() == Some(id))
            .map(|(_, r)| r.get("settings").clone());
        let stored = store
            .get(ty.terraform_type(), id)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|stored| {
                gitsync::workspace::api::from_api(*ty, &stored.object)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .get("settings")
                    .clone()
            });
        assert_eq!(stored, seeded, "{ty} {id}");
    }
}
