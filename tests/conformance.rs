//! The embedded workspace's responses against the last published machine-readable description of
//! the Segment Public API (`tests/fixtures/segment-public-api-v32.openapi.yaml`), for the
//! operations whose responses v73 did not change (see `segment-api-v73.md` §6), and against the
//! v73 facts where it did (201 on some creates, alpha endpoints absent from v32).

mod common;

use std::collections::BTreeMap;

use common::{TestWorkspace, fixture_dir, fixtures_root};
use serde_json::{Value as Json, json};

const TOKEN: &str = "conf";

/// The v32 spec as JSON, with OpenAPI's `nullable: true` turned into JSON Schema's
/// `type: [T, "null"]`.
fn spec() -> Json {
    let path = fixtures_root().join("segment-public-api-v32.openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut spec: Json =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fn nullable(v: &mut Json) {
        match v {
            Json::Object(map) => {
                if map.remove("nullable") == Some(Json::Bool(true)) {
                    if let Some(Json::String(t)) = map.get("type").cloned() {
                        map.insert("type".into(), json!([t, "null"]));
                    } else if map.contains_key("$ref")
                        || map.contains_key("allOf")
                        || map.contains_key("oneOf")
                    {
                        let inner = Json::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
                map.values_mut().for_each(nullable);
            }
            Json::Array(items) => items.iter_mut().for_each(nullable),
            _ => {}
        }
    }
    nullable(&mut spec);
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
    let root = json!({ "allOf": [schema], "components": spec["components"] });
    let validator = jsonschema::draft4::new(&root)
        .unwrap_or_else(|e| panic!("schema for {method} {path}: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
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
