//! The client against the embedded workspace over real HTTP on loopback: pagination, rate
//! limiting, server errors, timeouts, validation errors, authentication, and every write.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::util;
use crate::util::TestWorkspace;
use gitsync::model::{Attributes, Resource, ResourceType, Value, synthetic};
use gitsync::workspace::{Workspace, WorkspaceError};
use serde_json::json;

const TOKEN: &str = "test-token";

fn source(slug: &str) -> Resource {
    let mut attrs = Attributes::new();
    attrs.insert("enabled".into(), Value::Bool(true));
    attrs.insert("slug".into(), Value::String(slug.into()));
    attrs.insert("name".into(), Value::String(format!("Source {slug}")));
    attrs.insert(
        "settings".into(),
        Value::Json(json!({"apiKey": "abcdefgh1234", "region": "us"})),
    );
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("id".to_string(), Value::String("IqDTy1TpoU".into()));
    attrs.insert("metadata".into(), Value::Object(metadata));
    Resource::new(ResourceType::Source, None, attrs)
}

async fn seeded(n: usize) -> TestWorkspace {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let seed: Vec<(String, Resource)> = synthetic::workspace(n, 5)
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    gitsync::workspace::embedded::seed(&ws.store, &seed).unwrap_or_else(|e| panic!("{e}"));
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_follow_the_cursor_across_many_pages() {
    let ws = seeded(400).await;
    let expected = ws
        .store
        .list("segment_user", None, 0, 10_000)
        .map(|(rows, _)| rows.len())
        .unwrap_or(0);
    assert!(
        expected > 20,
        "the seed should hold enough users for several pages"
    );
    let client = ws.client_with(TOKEN, |c| c.page_size = 7);
    let users = client
        .list(ResourceType::User)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(users.len(), expected);
    let pages = expected.div_ceil(7) as u64;
    assert_eq!(
        client.stats().requests.load(Ordering::Relaxed),
        pages,
        "one request per page"
    );
    let mut ids: Vec<_> = users.iter().filter_map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "no user twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_waits_what_the_server_asks_then_succeeds() {
    let ws = seeded(20).await;
    ws.faults(
        TOKEN,
        json!({"rateLimit": {"count": 2, "msBeforeNext": 300}}),
    )
    .await;
    let client = ws.client(TOKEN);
    let started = Instant::now();
    let sources = client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!sources.is_empty());
    assert_eq!(client.stats().rate_limited_waits.load(Ordering::Relaxed), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "waited msBeforeNext twice: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_rate_limiting_ends_in_a_clear_error() {
    let ws = seeded(5).await;
    ws.faults(
        TOKEN,
        json!({"rateLimit": {"count": 100, "msBeforeNext": 5}}),
    )
    .await;
    let client = ws.client_with(TOKEN, |c| c.max_attempts = 3);
    let e = client
        .list(ResourceType::Source)
        .await
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "GET /sources: still rate-limited after 3 attempts; try again later or lower the request rate"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_for_reads_but_a_create_is_not_repeated() {
    let ws = seeded(5).await;
    ws.faults(TOKEN, json!({"serverErrors": {"count": 2, "status": 503}}))
        .await;
    let client = ws.client(TOKEN);
    client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client.stats().retries.load(Ordering::Relaxed), 2);

    ws.faults(TOKEN, json!({"serverErrors": {"count": 1, "status": 503}}))
        .await;
    let before = ws
        .store
        .list("segment_source", None, 0, 10_000)
        .map(|(r, _)| r.len())
        .unwrap_or(0);
    let e = client.create(&source("web")).await.err();
    assert!(
        matches!(
            e,
            Some(WorkspaceError::Server {
                status: 503,
                attempts: 1,
                ..
            })
        ),
        "{e:?}"
    );
    let after = ws
        .store
        .list("segment_source", None, 0, 10_000)
        .map(|(r, _)| r.len())
        .unwrap_or(0);
    assert_eq!(after, before, "the failed create was not repeated");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_are_retried_for_reads_and_reported_for_creates() {
    let ws = seeded(5).await;
    let client = ws.client_with(TOKEN, |c| c.timeout = Duration::from_millis(300));
    ws.faults(TOKEN, json!({"delay": {"count": 1, "ms": 1500}}))
        .await;
    client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client.stats().retries.load(Ordering::Relaxed), 1);

    ws.faults(TOKEN, json!({"delay": {"count": 1, "ms": 1500}}))
        .await;
    let e = client
        .create(&source("slow"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("timed out"), "{e}");
    assert!(
        e.contains("the create may or may not have happened, so it was not repeated"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_errors_name_the_field() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let mut bad = source("x");
    bad.attributes.remove("slug");
    let e = ws
        .client(TOKEN)
        .create(&bad)
        .await
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "POST /sources: the workspace rejected the request (HTTP 422): `slug` is required (field `slug`)"
        )
    );
    let mut wrong = source("x");
    wrong
        .attributes
        .insert("enabled".into(), Value::String("yes".into()));
    let e = ws
        .client(TOKEN)
        .create(&wrong)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("HTTP 422"), "{e}");
    assert!(
        e.contains("field `enabled` must be a bool, found a string"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_refused_with_a_message_naming_its_source() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let e = ws
        .client("wrong")
        .list(ResourceType::Source)
        .await
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e,
        Some(format!(
            "the workspace at {} refused the token from the test token (HTTP 401): Invalid bearer token; check that the token is valid for this workspace and has the needed access",
            ws.running.url()
        ))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_workspace_is_reported_with_its_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let mut config =
        gitsync::workspace::ClientConfig::new(format!("http://127.0.0.1:{port}"), TOKEN, "t");
    config.max_attempts = 2;
    config.min_backoff = Duration::from_millis(5);
    let client = gitsync::workspace::Client::new(config).unwrap_or_else(|e| panic!("{e}"));
    let e = client
        .list(ResourceType::Source)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with("GET /sources: cannot connect"), "{e}");
    assert!(
        e.ends_with(&format!(
            "after 2 attempts (base URL http://127.0.0.1:{port})"
        )),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_served_masked_and_kept_when_written_back_masked() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let client = ws.client(TOKEN);
    let created = client
        .create(&source("web"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        created.get("settings"),
        &Value::Json(json!({"apiKey": "••••••••••1234", "region": "us"}))
    );
    assert_eq!(created.get("name"), &Value::String("Source web".into()));
    // Writing back what was read (masked) keeps the secret; the region changes.
    let mut changed = created.clone();
    changed.attributes.insert(
        "settings".into(),
        Value::Json(json!({"apiKey": "••••••••••1234", "region": "eu"})),
    );
    client
        .update(&changed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = created.id.clone().unwrap_or_default();
    let stored = ws
        .store
        .get("segment_source", &id)
        .ok()
        .flatten()
        .map(|s| s.object["settings"].clone());
    assert_eq!(
        stored,
        Some(json!({"apiKey": "abcdefgh1234", "region": "eu"}))
    );
}

/// Every type gitsync writes: create, read back equal, update, delete; each change in the audit
/// trail.
#[tokio::test(flavor = "multi_thread")]
async fn every_type_can_be_created_updated_and_deleted() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let client = ws.client(TOKEN);
    // The 2025 fixtures seed the workspace (and so its catalog of metadata); then one of each
    // type is created again as new (ids dropped: the workspace assigns new ones).
    let tree = gitsync::sync::tree::read_dir(&util::fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    gitsync::workspace::embedded::seed(&ws.store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let start = gitsync::workspace::now_rfc3339();
    let mut created_count = 0;
    let mut done = std::collections::BTreeSet::new();
    let mut destination_id = None;
    for (path, resource) in tree {
        if !done.insert(resource.ty) || resource.ty == ResourceType::DestinationFilter {
            continue;
        }
        let mut resource = resource.clone();
        resource.id = None;
        // Labels and users are identified by their value and email: make those new too.
        match resource.ty {
            ResourceType::Label => {
                resource
                    .attributes
                    .insert("value".into(), Value::String("copy".into()));
            }
            ResourceType::User => {
                resource
                    .attributes
                    .insert("email".into(), Value::String("copy@example.com".into()));
            }
            _ => {}
        }
        if resource.ty == ResourceType::DestinationSubscription {
            let Some(d) = &destination_id else { continue };
            resource
                .attributes
                .insert("destination_id".into(), Value::String(String::clone(d)));
        }
        if resource.ty == ResourceType::Source {
            // Masked secrets cannot be written as new values; use a plain one.
            resource
                .attributes
                .insert("settings".into(), Value::Json(json!({"location": "us"})));
        }
        let created = client
            .create(&resource)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        created_count += 1;
        let mut expected = resource.clone();
        expected.id = created.id.clone();
        // Secrets read back masked (a sample warehouse holds a clear `credentials` string).
        if let Some(Value::Json(settings)) = expected.attributes.get_mut("settings") {
            gitsync::workspace::api::mask_secrets(settings);
        }
        assert_eq!(
            created, expected,
            "{path}: created resource reads back differently"
        );
        if resource.ty == ResourceType::Destination {
            destination_id = created.id.clone();
        }
        if let Some(enabled) = resource.attributes.get("enabled").cloned() {
            let mut flipped = created.clone();
            let Value::Bool(b) = enabled else {
                panic!("{path}: enabled is not a bool")
            };
            flipped.attributes.insert("enabled".into(), Value::Bool(!b));
            let updated = client
                .update(&flipped)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(updated.get("enabled"), &Value::Bool(!b), "{path}");
        }
    }
    assert!(done.len() >= 10, "covered {done:?}");
    let all = {
        let mut all = Vec::new();
        for ty in ResourceType::git_sync_types() {
            all.extend(client.list(ty).await.unwrap_or_else(|e| panic!("{e}")));
        }
        all
    };
    // Delete children first.
    let mut ordered = all.clone();
    ordered.sort_by_key(|r| r.ty != ResourceType::DestinationSubscription);
    for r in &ordered {
        client
            .delete(r)
            .await
            .unwrap_or_else(|e| panic!("deleting {}: {e}", r.ty));
    }
    for ty in ResourceType::git_sync_types() {
        assert!(
            client
                .list(ty)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty(),
            "{ty} left behind"
        );
    }
    let events = client
        .audit_events(&start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created = events
        .iter()
        .filter(|e| e.kind.ends_with("Created"))
        .count();
    let deleted = events
        .iter()
        .filter(|e| e.kind.ends_with("Deleted"))
        .count();
    assert_eq!(created, created_count, "{events:#?}");
    assert_eq!(deleted, all.len());
    assert!(
        events.iter().any(|e| e.kind == "Source Disabled"),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e.kind == "Integration Disabled"));
}

fn resource(ty: ResourceType, id: Option<&str>, attrs: serde_json::Value) -> Resource {
    // Built through the API mapping, so the test states attributes as the API spells them.
    let mut object = attrs.as_object().cloned().unwrap_or_default();
    if let Some(id) = id {
        object.insert("id".into(), json!(id));
    }
    gitsync::workspace::api::from_api(ty, &object).unwrap_or_else(|e| panic!("{e}"))
}

/// The four types Git Sync does not export: insert-function instances, profiles warehouses and
/// the two connections, through the same client.
#[tokio::test(flavor = "multi_thread")]
async fn the_types_git_sync_does_not_export_can_be_written_and_read() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let tree = gitsync::sync::tree::read_dir(&util::fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    gitsync::workspace::embedded::seed(&ws.store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client(TOKEN);
    let (source, warehouse, plan) = (
        "2zuUSLNZqjUzDKb7QEFGfq",
        "bGL6b6CFmfnghd3P9d3tX8",
        "tp_2GMTdawlncDdbCuH0yyzCFeAUmg",
    );

    // Source <-> warehouse.
    let swc = resource(
        ResourceType::SourceWarehouseConnection,
        None,
        json!({"sourceId": source, "warehouseId": warehouse}),
    );
    client.create(&swc).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client
            .list(ResourceType::SourceWarehouseConnection)
            .await
            .ok(),
        Some(vec![swc.clone()])
    );
    client.delete(&swc).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client
            .list(ResourceType::SourceWarehouseConnection)
            .await
            .ok(),
        Some(vec![])
    );

    // Source <-> tracking plan, with schema settings.
    let mut stp = resource(
        ResourceType::SourceTrackingPlanConnection,
        None,
        json!({"sourceId": source, "trackingPlanId": plan,
               "schemaSettings": {"track": {"allowUnplannedEvents": false, "commonEventOnViolations": "ALLOW"},
                                   "forwardingViolationsTo": "3URoN9E4cm2WDHskR8P23u"}}),
    );
    client.create(&stp).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client
            .list(ResourceType::SourceTrackingPlanConnection)
            .await
            .ok(),
        Some(vec![stp.clone()])
    );
    stp = resource(
        ResourceType::SourceTrackingPlanConnection,
        None,
        json!({"sourceId": source, "trackingPlanId": plan,
               "schemaSettings": {"track": {"allowUnplannedEvents": true, "commonEventOnViolations": "ALLOW"},
                                   "forwardingViolationsTo": "3URoN9E4cm2WDHskR8P23u"}}),
    );
    client.update(&stp).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client
            .list(ResourceType::SourceTrackingPlanConnection)
            .await
            .ok(),
        Some(vec![stp.clone()])
    );
    client.delete(&stp).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client
            .list(ResourceType::SourceTrackingPlanConnection)
            .await
            .ok(),
        Some(vec![])
    );

    // Insert-function instance on a destination.
    let instance = resource(
        ResourceType::InsertFunctionInstance,
        None,
        json!({"functionId": "ifnd_657b1fbc174c6cd8eb93a957", "integrationId": "66c7c3c0da4ea46121571a99",
               "name": "enrich", "enabled": true, "settings": {"region": "eu"}}),
    );
    let created = client
        .create(&instance)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut expected = instance.clone();
    expected.id = created.id.clone();
    assert_eq!(created, expected);
    let mut renamed = created.clone();
    renamed
        .attributes
        .insert("name".into(), Value::String("enrich v2".into()));
    assert_eq!(client.update(&renamed).await.ok(), Some(renamed.clone()));
    assert_eq!(
        client.list(ResourceType::InsertFunctionInstance).await.ok(),
        Some(vec![renamed.clone()])
    );
    client
        .delete(&renamed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client.list(ResourceType::InsertFunctionInstance).await.ok(),
        Some(vec![])
    );

    // Profiles warehouse in a space.
    let pw = resource(
        ResourceType::ProfilesWarehouse,
        None,
        json!({"spaceId": "spa_1", "metadataId": "55d3d3aea3c", "enabled": true, "name": "Profiles",
               "schemaName": "profiles", "settings": {"host": "db.example.com"}}),
    );
    let created = client.create(&pw).await.unwrap_or_else(|e| panic!("{e}"));
    let mut expected = pw.clone();
    expected.id = created.id.clone();
    assert_eq!(created, expected);
    assert_eq!(
        client.list(ResourceType::ProfilesWarehouse).await.ok(),
        Some(vec![expected.clone()])
    );
    client
        .delete(&expected)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client.list(ResourceType::ProfilesWarehouse).await.ok(),
        Some(vec![])
    );
}

/// Secrets at any depth of `settings` (objects and arrays), under every key that names one, are
/// served masked in Segment's exact shape, and writing back what was read keeps each of them.
#[tokio::test(flavor = "multi_thread")]
async fn nested_secrets_are_served_masked_and_kept_when_written_back_masked() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let client = ws.client(TOKEN);
    let clear = json!({
        "credentials": {"user": "ana", "password": "hunter2-clear-pass"},
        "servers": [{"host": "db1", "privateKey": "clear-private-key-1"}],
        "apiKeys": ["clear-api-key-0001", "clear-api-key-0002"],
        "token": "clear-token-7a63",
        "accessToken": "short",
        "apiKey": "has•a•bullet-but-clear",
        "region": "us"
    });
    let mut new = source("nested");
    new.attributes
        .insert("settings".into(), Value::Json(clear.clone()));
    let created = client.create(&new).await.unwrap_or_else(|e| panic!("{e}"));
    let masked = json!({
        "credentials": {"user": "ana", "password": "••••••••••pass"},
        "servers": [{"host": "db1", "privateKey": "••••••••••ey-1"}],
        "apiKeys": ["••••••••••0001", "••••••••••0002"],
        "token": "••••••••••7a63",
        "accessToken": "••••••••••",
        "apiKey": "••••••••••lear",
        "region": "us"
    });
    assert_eq!(created.get("settings"), &Value::Json(masked.clone()));
    // Straight from the server too, not only through the client.
    let id = created.id.clone().unwrap_or_default();
    let served = client
        .call(
            reqwest::Method::GET,
            &format!("/sources/{id}"),
            &[],
            None,
            gitsync::workspace::api::Media::V1,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served["source"]["settings"], masked);

    let mut changed = created.clone();
    let mut settings = masked.clone();
    settings["region"] = json!("eu");
    changed
        .attributes
        .insert("settings".into(), Value::Json(settings));
    client
        .update(&changed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut expected = clear;
    expected["region"] = json!("eu");
    let stored = ws
        .store
        .get("segment_source", &id)
        .ok()
        .flatten()
        .map(|s| s.object["settings"].clone());
    assert_eq!(stored, Some(expected));
}

/// A tiny server in Segment's list shape whose `pagination.next` is `next(cursor)`; it counts
/// the pages it served.
async fn paging_server(
    next: fn(Option<&str>) -> String,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::Query;
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    let app = axum::Router::new().route(
        "/sources",
        axum::routing::get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let cursor = q.get("pagination.cursor").map(String::as_str);
                let body = json!({"data": {
                    "sources": [{"id": format!("s{n}"), "slug": "s", "enabled": true,
                                 "metadata": {"id": "m"}, "settings": {}}],
                    "pagination": {"current": cursor.unwrap_or("c_0"), "next": next(cursor)}
                }});
                async move { axum::Json(body) }
            },
        ),
    );
    let url = util::serve(app).await;
    (url, served)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_whose_cursors_cycle_fails_the_listing_naming_the_path_and_the_cursor() {
    // c_1 -> c_2 -> c_1 -> ...
    let (url, served) = paging_server(|cursor| match cursor {
        Some("c_1") => "c_2".into(),
        _ => "c_1".into(),
    })
    .await;
    let client =
        gitsync::workspace::Client::new(gitsync::workspace::ClientConfig::new(url, TOKEN, "t"))
            .unwrap_or_else(|e| panic!("{e}"));
    let e = tokio::time::timeout(Duration::from_secs(20), client.list(ResourceType::Source))
        .await
        .unwrap_or_else(|_| panic!("the listing never ended"))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "GET /sources: the listing does not end: page 3 points back to a page already read (cursor `c_1`); the workspace's pagination is broken, so the listing was stopped rather than read forever"
        )
    );
    assert_eq!(served.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_stops_at_the_page_cap() {
    // c_1 -> c_2 -> c_3 -> ... never repeats, never ends.
    let (url, served) = paging_server(|cursor| {
        let n: u64 = cursor
            .and_then(|c| c.strip_prefix("c_"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        format!("c_{}", n + 1)
    })
    .await;
    let mut config = gitsync::workspace::ClientConfig::new(url, TOKEN, "t");
    config.max_pages = 50;
    let client = gitsync::workspace::Client::new(config).unwrap_or_else(|e| panic!("{e}"));
    let e = tokio::time::timeout(Duration::from_secs(20), client.list(ResourceType::Source))
        .await
        .unwrap_or_else(|_| panic!("the listing never ended"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with(
            "GET /sources: the listing does not end: more pages follow after 50, the most one listing reads (cursor `c_50`)"
        ),
        "{e}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 50);
}

/// `msBeforeNext` far in the future used to panic the fault hook while it held its lock, and
/// the poisoned lock then turned every later fault off without a word.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_rate_limit_wait_is_answered_and_faults_keep_working_after_it() {
    let ws = seeded(5).await;
    ws.faults(
        TOKEN,
        json!({"rateLimit": {"count": 1, "msBeforeNext": 300_000_000_000_000_u64}}),
    )
    .await;
    let once = ws.client_with(TOKEN, |c| c.max_attempts = 1);
    let e = once
        .list(ResourceType::Source)
        .await
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "GET /sources: still rate-limited after 1 attempts; try again later or lower the request rate"
        )
    );
    ws.faults(TOKEN, json!({"serverErrors": {"count": 1, "status": 503}}))
        .await;
    let e = once.list(ResourceType::Source).await.err();
    assert!(
        matches!(e, Some(WorkspaceError::Server { status: 503, .. })),
        "{e:?}"
    );
    once.list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A token no HTTP header can carry is a configuration error when the client is built: nothing
/// is sent, nothing retried, and the message says where the token came from (never the token).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_cannot_be_a_header_is_refused_at_once_naming_its_source() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let config = gitsync::workspace::ClientConfig::new(
        ws.running.url(),
        "secret-part\nother-part",
        "--token-file /run/secrets/segment",
    );
    let e = gitsync::workspace::Client::new(config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        e,
        format!(
            "cannot talk to the workspace at {}: the token from --token-file /run/secrets/segment cannot be sent in an HTTP header: it holds a line break or another control character; check that --token-file /run/secrets/segment holds the token alone, on one line",
            ws.running.url()
        )
    );
    assert!(!e.contains("secret-part"), "{e}");
}

/// Updating or deleting a resource without an id is refused before any request (it used to
/// send `DELETE /sources/` or `DELETE /users?userIds.0=`).
#[tokio::test(flavor = "multi_thread")]
async fn a_resource_without_an_id_is_neither_updated_nor_deleted() {
    let ws = seeded(5).await;
    let client = ws.client(TOKEN);
    let mut user = Attributes::new();
    user.insert("email".into(), Value::String("a@example.com".into()));
    for r in [
        source("no-id"),
        Resource::new(ResourceType::User, None, user),
    ] {
        let e = client.delete(&r).await.err().map(|e| e.to_string());
        assert_eq!(
            e,
            Some(format!(
                "cannot delete {}: it has no `id`, which names it in the workspace (a resource gets its id when it is created or exported)",
                r.ty
            ))
        );
    }
    let e = client
        .update(&source("no-id"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with("cannot update segment_source: it has no `id`"),
        "{e}"
    );
    let label = Resource::new(ResourceType::Label, None, Attributes::new());
    let e = client.delete(&label).await.err().map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.starts_with("cannot delete segment_label: it has no `key`")),
        "{e:?}"
    );
    // Labels have no update in the API: a change to one is a replacement.
    let label = resource(
        ResourceType::Label,
        None,
        json!({"key": "team", "value": "web"}),
    );
    assert_eq!(
        client.update(&label).await.err().map(|e| e.to_string()),
        Some("segment_label cannot change in place: the Public API has no update for it; replace it instead (delete, then create)".into())
    );
    // A nested resource without its parent would be sent to a path naming none.
    let orphan = resource(
        ResourceType::DestinationSubscription,
        Some("s1"),
        json!({"actionId": "a", "name": "n", "enabled": true, "trigger": "type = \"track\""}),
    );
    for e in [
        client.create(&orphan).await.err(),
        client.update(&orphan).await.err(),
        client.delete(&orphan).await.err(),
    ] {
        assert!(
            matches!(
                e,
                Some(WorkspaceError::MissingId {
                    field: "destination_id",
                    ..
                })
            ),
            "{e:?}"
        );
    }
    assert_eq!(client.stats().requests.load(Ordering::Relaxed), 0);
}

/// A workspace that serves a secret in clear (Segment does for `token` and `accessToken`) still
/// gives resources whose secrets are masked: the client applies the same rule as the server.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_a_workspace_serves_in_clear_come_out_of_the_client_masked() {
    let app = axum::Router::new().route(
        "/sources",
        axum::routing::get(|| async {
            axum::Json(json!({"data": {
                "sources": [{"id": "s1", "slug": "s", "enabled": true, "metadata": {"id": "m"},
                             "settings": {"token": "1a63c61dc998d40b5b92b47f7c3486cd",
                                          "oauth": [{"accessToken": "EAAF6MStoCFsBAJ"}],
                                          "region": "us"}}],
                "pagination": {"current": "c_0", "next": null}
            }}))
        }),
    );
    let url = util::serve(app).await;
    let client =
        gitsync::workspace::Client::new(gitsync::workspace::ClientConfig::new(url, TOKEN, "t"))
            .unwrap_or_else(|e| panic!("{e}"));
    let sources = client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sources.first().map(|s| s.get("settings")),
        Some(&Value::Json(json!({
            "token": "••••••••••86cd",
            "oauth": [{"accessToken": "••••••••••sBAJ"}],
            "region": "us"
        })))
    );
}

const ORPHANS_PARENT: &str = "0000000000000000000000aa";

/// A workspace holding every one of the 16 types: the 2025 sample, the 2024 sample's user group,
/// synthetic padding (so that listing a type costs many requests), and the four types Git Sync
/// does not export, created through the API.
async fn every_type() -> TestWorkspace {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let mut seed = gitsync::sync::tree::read_dir(&util::fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let v2024 = gitsync::sync::tree::read_dir(&util::fixture_dir("v2024"))
        .unwrap_or_else(|e| panic!("{e}"));
    seed.extend(
        v2024
            .into_iter()
            .filter(|(_, r)| r.ty == ResourceType::UserGroup),
    );
    seed.extend(
        synthetic::workspace(300, 11)
            .into_iter()
            .map(|r| (r.path().unwrap_or_default(), r)),
    );
    // A filter whose destination the seed lacks: the seed keeps a placeholder parent for it.
    let mut orphan = seed
        .iter()
        .find(|(_, r)| r.ty == ResourceType::DestinationFilter)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no filter in the sample"));
    orphan.id = Some("2l2FQE4EPsN16TX1Fy0Orphan0".into());
    orphan.attributes.insert(
        "destination_id".into(),
        Value::String(ORPHANS_PARENT.into()),
    );
    seed.push((orphan.path().unwrap_or_default(), orphan));
    gitsync::workspace::embedded::seed(&ws.store, &seed).unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client(TOKEN);
    let (source, warehouse, plan) = (
        "2zuUSLNZqjUzDKb7QEFGfq",
        "bGL6b6CFmfnghd3P9d3tX8",
        "tp_2GMTdawlncDdbCuH0yyzCFeAUmg",
    );
    for new in [
        resource(
            ResourceType::SourceWarehouseConnection,
            None,
            json!({"sourceId": source, "warehouseId": warehouse}),
        ),
        resource(
            ResourceType::SourceTrackingPlanConnection,
            None,
            json!({"sourceId": source, "trackingPlanId": plan,
                   "schemaSettings": {"track": {"allowUnplannedEvents": false}}}),
        ),
        resource(
            ResourceType::InsertFunctionInstance,
            None,
            json!({"functionId": "ifnd_657b1fbc174c6cd8eb93a957",
                   "integrationId": "66c7c3c0da4ea46121571a99",
                   "name": "enrich", "enabled": true, "settings": {"region": "eu"}}),
        ),
        resource(
            ResourceType::UserGroup,
            None,
            json!({"name": "Second", "members": ["ana@example.com"],
                   "permissions": [{"roleId": "1Mc8DEHhMqqSkb5cPjtu9pAEyNf",
                                    "resources": [{"id": "mbj3HAIe6A", "type": "WORKSPACE"}]}]}),
        ),
        resource(
            ResourceType::ProfilesWarehouse,
            None,
            json!({"spaceId": "spa_1", "metadataId": "55d3d3aea3c", "enabled": true,
                   "name": "Profiles", "settings": {"host": "db.example.com"}}),
        ),
    ] {
        client
            .create(&new)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", new.ty));
    }
    ws
}

/// `get` reads one resource by its import id, equal to its element of `list` (labels, rules,
/// members, schema settings included), in the requests of that resource alone: with a page size
/// of 1 a listing costs a request per resource, and `get` costs one (plus the parts served
/// separately). A resource the workspace does not hold, or whose parent it does not hold, is
/// `None`; an import id of the wrong shape is an error naming the shape.
#[tokio::test(flavor = "multi_thread")]
async fn get_reads_one_resource_by_import_id_as_list_returns_it_without_listing() {
    let ws = every_type().await;
    let client = ws.client(TOKEN);
    for ty in ResourceType::ALL {
        let listed = client
            .list(ty)
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert!(!listed.is_empty(), "{ty}: nothing to get");
        let lister = ws.client_with(TOKEN, |c| c.page_size = 1);
        lister
            .list(ty)
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e}"));
        let listing = lister.stats().requests.load(Ordering::Relaxed);
        let mut most = 0;
        for expected in listed.iter().take(20) {
            let import_id = expected.import_id().unwrap_or_else(|e| panic!("{ty}: {e}"));
            let one = ws.client_with(TOKEN, |c| c.page_size = 1);
            let got = one
                .get(ty, &import_id)
                .await
                .unwrap_or_else(|e| panic!("{ty} {import_id}: {e}"));
            assert_eq!(got.as_ref(), Some(expected), "{ty} {import_id}");
            let rules = match expected.get("rules") {
                Value::List(rules) => rules.len() as u64,
                _ => 0,
            };
            // The read of the object, then what is served apart: rule pages; group users and
            // invites; a source's schema settings.
            let bound = match ty {
                ResourceType::TrackingPlan => 1 + rules.max(1),
                ResourceType::UserGroup => 3,
                ResourceType::SourceTrackingPlanConnection => 2,
                _ => 1,
            };
            most = most.max(bound);
            let requests = one.stats().requests.load(Ordering::Relaxed);
            assert!(
                requests <= bound,
                "{ty} {import_id}: {requests} requests, at most {bound} (listing: {listing})"
            );
        }
        // So that the bound means something: a listing would have cost more (labels have no
        // read by id, and a get of one is their one listing).
        assert!(
            listing > most || ty == ResourceType::Label,
            "{ty}: listing costs {listing} requests, a get up to {most}"
        );
        let parent = match ty.kind().import_id {
            gitsync::model::ImportId::ParentAndOwnId { parent } => match listed[0].get(parent) {
                Value::String(p) => Some(p.clone()),
                _ => None,
            },
            _ => None,
        };
        let absent: Vec<String> = match ty.kind().import_id {
            gitsync::model::ImportId::OwnId => vec!["nope".into()],
            gitsync::model::ImportId::ParentAndOwnId { .. } => {
                vec![
                    format!("{}:nope", parent.unwrap_or_default()),
                    "nope:nope".into(),
                ]
            }
            gitsync::model::ImportId::Attributes(_) => {
                let first = listed[0].import_id().unwrap_or_default();
                let (a, _) = first.split_once(':').unwrap_or_default();
                vec![format!("{a}:nope"), "nope:nope".into()]
            }
        };
        for id in absent {
            assert_eq!(
                client.get(ty, &id).await.map_err(|e| e.to_string()),
                Ok(None),
                "{ty} {id}"
            );
        }
    }
    // The seed's placeholder destination (the parent of a filter whose destination file the
    // sample lacks) is no resource, as listings skip it.
    assert_eq!(
        client
            .get(ResourceType::Destination, ORPHANS_PARENT)
            .await
            .map_err(|e| e.to_string()),
        Ok(None)
    );
    let e = client
        .get(
            ResourceType::DestinationFilter,
            "2l2FQE4EPsN16TX1Fy0SVPaixST",
        )
        .await
        .map_err(|e| e.to_string());
    assert_eq!(
        e,
        Err("`2l2FQE4EPsN16TX1Fy0SVPaixST` is not an import id of segment_destination_filter: expected `<destination_id>:<id>`".into())
    );
}

/// A workspace (as Segment is) where an invitation stays pending until accepted: `GET /users`
/// does not list the invited user, `GET /invites` lists `pending`.
async fn invite_server(pending: &'static [&'static str]) -> (String, Log) {
    let log: Log = Default::default();
    let seen = log.clone();
    let app = axum::Router::new()
        .route(
            "/invites",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"data": {"emails": ["new@example.com"]}})),
                )
            })
            .get(move || async move {
                axum::Json(json!({"data": {"invites": pending, "pagination": {"current": "c_0", "next": null}}}))
            })
            .delete(
                move |q: axum::extract::RawQuery| {
                    let seen = seen.clone();
                    async move {
                        seen.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(format!("DELETE /invites?{}", q.0.unwrap_or_default()));
                        axum::Json(json!({"data": {"status": "SUCCESS"}}))
                    }
                },
            ),
        )
        .route(
            "/users",
            axum::routing::get(|| async {
                axum::Json(json!({"data": {"users": [], "pagination": {"current": "c_0", "next": null}}}))
            }),
        );
    let url = util::serve(app).await;
    (url, log)
}

type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// D6: after an invitation, the new user's id is the listed user's id, or the email while the
/// invitation is pending (as the provider has it), and a pending invitation is deleted as one.
/// An invitation the workspace shows nowhere is an error, never a guessed id.
#[tokio::test(flavor = "multi_thread")]
async fn an_invited_user_gets_a_real_id_or_the_email_while_pending_never_a_guess() {
    let mut attrs = Attributes::new();
    attrs.insert("email".into(), Value::String("new@example.com".into()));
    attrs.insert("permissions".into(), Value::List(vec![]));
    let user = Resource::new(ResourceType::User, None, attrs);
    let client_for = |url: String| {
        let mut config = gitsync::workspace::ClientConfig::new(url, TOKEN, "t");
        config.max_attempts = 1;
        gitsync::workspace::Client::new(config).unwrap_or_else(|e| panic!("{e}"))
    };

    let (url, log) = invite_server(&["new@example.com"]).await;
    let client = client_for(url);
    // Pending: there is no user to read back yet; the id is the email.
    let created = client.create(&user).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.id.as_deref(), Some("new@example.com"));
    let mut pending = user.clone();
    pending.id = Some("new@example.com".into());
    client
        .delete(&pending)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        log.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_slice(),
        ["DELETE /invites?emails.0=new%40example.com"]
    );

    let (url, _) = invite_server(&[]).await;
    let e = client_for(url)
        .create(&user)
        .await
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "POST /invites: unexpected response: the workspace accepted the invitation of new@example.com but lists them neither among its users nor among its pending invitations, so the new user's id is unknown; check the workspace's users before retrying, the invitation may have been made"
        )
    );
}

/// What an id looks like: its prefix, its length after it, and whether it is hex.
fn id_shape(id: &str) -> (String, usize, bool) {
    let (prefix, rest) = match id.split_once('_') {
        Some((p, r)) => (format!("{p}_"), r),
        None => (String::new(), id),
    };
    (
        prefix,
        rest.len(),
        rest.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
    )
}

/// New copies of the first sample resource of each type Git Sync exports, created through the
/// API (labels and users made new by their value and email; children under a new destination).
async fn create_one_of_each(
    client: &gitsync::workspace::Client,
    tree: &[(String, Resource)],
) -> Vec<(Resource, Resource)> {
    let mut out = Vec::new();
    let mut destination = None;
    for ty in ResourceType::git_sync_types() {
        let Some((path, sample)) = tree.iter().find(|(_, r)| r.ty == ty) else {
            continue;
        };
        let mut new = sample.clone();
        new.id = None;
        let set = |r: &mut Resource, k: &str, v: &str| {
            r.attributes.insert(k.into(), Value::String(v.into()));
        };
        match ty {
            ResourceType::Label => set(&mut new, "value", "copy"),
            ResourceType::User => set(&mut new, "email", "copy@example.com"),
            ResourceType::DestinationFilter | ResourceType::DestinationSubscription => {
                let d: &String = destination
                    .as_ref()
                    .unwrap_or_else(|| panic!("no destination"));
                set(&mut new, "destination_id", d);
            }
            _ => {}
        }
        if ty == ResourceType::Source {
            new.attributes
                .insert("settings".into(), Value::Json(json!({"location": "us"})));
        }
        let created = client
            .create(&new)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        if ty == ResourceType::Destination {
            destination = created.id.clone();
        }
        out.push((sample.clone(), created));
    }
    out
}

fn samples() -> Vec<(String, Resource)> {
    let mut tree = gitsync::sync::tree::read_dir(&util::fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    tree.extend(
        gitsync::sync::tree::read_dir(&util::fixture_dir("v2024"))
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter(|(_, r)| r.ty == ResourceType::UserGroup),
    );
    tree
}

/// A created resource's id has the shape of the ids Segment gave the same type in real Git Sync
/// output (22 base62 characters, 24 hex digits, a 27-character KSUID, `tp_`, `dfn_`), and the
/// audit trail names the API token as the actor of each change, without an email, as Segment's
/// does for token writes.
#[tokio::test(flavor = "multi_thread")]
async fn created_ids_have_segments_formats_and_changes_name_the_token() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let tree = samples();
    gitsync::workspace::embedded::seed(&ws.store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client(TOKEN);
    let start = gitsync::workspace::now_rfc3339();
    let created = create_one_of_each(&client, &tree).await;
    assert_eq!(created.len(), 12);
    for (sample, new) in &created {
        if sample.ty == ResourceType::Label {
            continue;
        }
        let (want, got) = (
            sample.id.clone().unwrap_or_default(),
            new.id.clone().unwrap_or_default(),
        );
        assert_eq!(
            id_shape(&got),
            id_shape(&want),
            "{}: {got} vs {want}",
            sample.ty
        );
        assert_ne!(got, want);
    }
    let events = client
        .audit_events(&start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(events.len() >= 12, "{events:#?}");
    for e in &events {
        assert_eq!(
            (e.actor.as_str(), e.actor_email.as_deref()),
            ("gitsync", None),
            "{e:?}"
        );
        assert_eq!(
            gitsync::sync::messages::actor(e),
            "Public API token 'gitsync'"
        );
    }
}

/// Every required attribute, at any depth, is checked on create: a create without one is
/// refused with 422 naming it, and stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_without_a_required_attribute_is_refused_naming_it() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let tree = samples();
    gitsync::workspace::embedded::seed(&ws.store, &tree).unwrap_or_else(|e| panic!("{e}"));
    let client = ws.client(TOKEN);
    let created = create_one_of_each(&client, &tree).await;
    let mut checked = 0;
    let mut unnamed = Vec::new();
    for (_, made) in &created {
        let ty = made.ty;
        let ep = gitsync::workspace::api::endpoint(ty).unwrap_or_else(|| panic!("{ty}"));
        for attr in ty.kind().attributes.iter().filter(|a| {
            a.presence == gitsync::model::Presence::Required
                && a.is_configurable()
                // The parent is the path, not the body.
                && Some(a.name) != ep.parent
                // Collections the API takes through their own writes start empty (a plan without
                // rules, a group without members): `validate` holds the HCL to them, the API
                // cannot. A warehouse's settings always hold its name.
                && !matches!(
                    a.ty,
                    gitsync::model::AttrType::Set(_)
                        | gitsync::model::AttrType::List(_)
                        | gitsync::model::AttrType::ObjectSet(_)
                        | gitsync::model::AttrType::ObjectList(_)
                )
                && (ty, a.name) != (ResourceType::Warehouse, "settings")
        }) {
            let mut bad = made.clone();
            bad.id = None;
            if ty == ResourceType::Label {
                bad.attributes
                    .insert("value".into(), Value::String("another".into()));
            }
            if ty == ResourceType::User {
                bad.attributes
                    .insert("email".into(), Value::String("other@example.com".into()));
            }
            bad.attributes.remove(attr.name);
            let before = ws
                .store
                .list(ty.terraform_type(), None, 0, 100_000)
                .map(|(r, _)| r.len());
            let e = client.create(&bad).await.err();
            let field = gitsync::workspace::api::camel_case(attr.name);
            let refused = match &e {
                Some(WorkspaceError::Rejected {
                    status: 422,
                    errors,
                    ..
                }) => errors.first().and_then(|e| e.field.clone()),
                _ => None,
            };
            // A user without an email is refused by the client (nothing would name them).
            let named = refused.as_deref() == Some(field.as_str())
                || refused.as_deref() == Some("invites[0].email")
                || matches!(e, Some(WorkspaceError::MissingId { field: "email", .. }));
            if !named {
                unnamed.push(format!("{ty} without `{}`: {e:?}", attr.name));
                continue;
            }
            let after = ws
                .store
                .list(ty.terraform_type(), None, 0, 100_000)
                .map(|(r, _)| r.len());
            assert_eq!(
                before.ok(),
                after.ok(),
                "{ty}: a refused create stored something"
            );
            checked += 1;
        }
    }
    assert!(unnamed.is_empty(), "{unnamed:#?}");
    assert!(checked >= 25, "{checked}");
    // Nested: a filter action without its type.
    let (_, filter) = created
        .iter()
        .find(|(s, _)| s.ty == ResourceType::DestinationFilter)
        .unwrap_or_else(|| panic!("no filter"));
    let mut bad = filter.clone();
    bad.id = None;
    if let Some(Value::List(actions)) = bad.attributes.get_mut("actions")
        && let Some(Value::Object(first)) = actions.first_mut()
    {
        first.remove("type");
    }
    let e = client
        .create(&bad)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("(field `actions[0].type`)"), "{e}");
}

/// The fault switch fails exactly the nth write from the moment it is set (reads and the switch
/// itself do not count), answers it with the status and Segment's error envelope, and the
/// refused write changes nothing; the writes after it succeed.
#[tokio::test(flavor = "multi_thread")]
async fn the_nth_write_fails_and_changes_nothing() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let client = ws.client_with(TOKEN, |c| c.max_attempts = 1);
    ws.faults(
        TOKEN,
        json!({"failWrite": {"nth": 3, "status": 422, "message": "refused on purpose"}}),
    )
    .await;
    let label = |v: &str| {
        resource(
            ResourceType::Label,
            None,
            json!({"key": "team", "value": v}),
        )
    };
    let mut outcomes = Vec::new();
    for v in ["a", "b", "c", "d", "e"] {
        client
            .list(ResourceType::Label)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        outcomes.push(client.create(&label(v)).await.map_err(|e| e.to_string()));
    }
    assert_eq!(
        outcomes.iter().map(Result::is_ok).collect::<Vec<_>>(),
        [true, true, false, true, true]
    );
    assert_eq!(
        outcomes[2],
        Err(
            "POST /labels: the workspace rejected the request (HTTP 422): refused on purpose"
                .into()
        )
    );
    let values: Vec<String> = client
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|l| format!("{:?}", l.get("value")))
        .collect();
    assert_eq!(values.len(), 4, "{values:?}");
    assert!(!values.iter().any(|v| v.contains("\"c\"")), "{values:?}");
    let events = ws
        .store
        .audit_events(&gitsync::workspace::embedded::store::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .map(|(e, _)| e.len())
        .unwrap_or_default();
    assert_eq!(events, 4);
}

/// With `rate_limits`, Segment's published per-operation limits hold (api::WRITE_LIMITS, the
/// table apply paces by): the 6th subscription update within the window gets Segment's 429
/// (`msBeforeNext`, `X-RateLimit-*`), other writes are not limited, and after the window the
/// next one passes. The client waits what the server says and succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn per_operation_write_limits_answer_429_as_segment_does() {
    use gitsync::workspace::api::{WriteOp, write_limit};
    assert_eq!(
        write_limit(ResourceType::DestinationSubscription, WriteOp::Update),
        Some(5)
    );
    assert_eq!(write_limit(ResourceType::Label, WriteOp::Create), Some(60));
    assert_eq!(
        write_limit(ResourceType::UserGroup, WriteOp::Update),
        Some(60)
    );
    assert_eq!(write_limit(ResourceType::Source, WriteOp::Update), None);
    let window = Duration::from_millis(1500);
    let ws = TestWorkspace::start_with(gitsync::workspace::embedded::ServerConfig {
        token: Some(TOKEN.into()),
        rate_limits: true,
        rate_limit_window: window,
        ..Default::default()
    })
    .await;
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, &util::fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let sub = "/destinations/6453f9766f569b75deac5705/subscriptions/7UPg4d5ZNnDzdiubU215Cr";
    let http = reqwest::Client::new();
    let patch = |path: String, body: serde_json::Value| {
        let request = http
            .patch(format!("{}{path}", ws.running.url()))
            .bearer_auth(TOKEN)
            .json(&body);
        async move { request.send().await.unwrap_or_else(|e| panic!("{e}")) }
    };
    for i in 0..5 {
        let r = patch(sub.into(), json!({"input": {"name": format!("n{i}")}})).await;
        assert_eq!(r.status().as_u16(), 200, "write {i}");
        assert_eq!(
            r.headers()
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok()),
            Some(format!("{}", 4 - i).as_str())
        );
    }
    let r = patch(sub.into(), json!({"input": {"name": "n5"}})).await;
    let refused_at = Instant::now();
    assert_eq!(r.status().as_u16(), 429);
    let headers = r.headers().clone();
    assert_eq!(
        headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    assert!(headers.get("x-ratelimit-reset").is_some(), "{headers:?}");
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let wait = body["errors"][0]["data"]["msBeforeNext"]
        .as_u64()
        .unwrap_or(0);
    assert!(wait > 0 && wait <= 1500, "{body}");
    assert_eq!(body["errors"][0]["message"], json!("Too many requests"));
    // Not limited: a source update.
    let r = patch(
        "/sources/2zuUSLNZqjUzDKb7QEFGfq".into(),
        json!({"name": "BQ"}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    // The refused write changed nothing.
    let stored = ws
        .store
        .get("segment_destination_subscription", "7UPg4d5ZNnDzdiubU215Cr")
        .ok()
        .flatten()
        .map(|s| s.object["name"].clone());
    assert_eq!(stored, Some(json!("n4")));
    // The window ends when the 429 said (`msBeforeNext`): it counts from the first write's
    // arrival, which a loaded machine can delay well past the moment the test sent it.
    tokio::time::sleep(Duration::from_millis(wait + 50).saturating_sub(refused_at.elapsed())).await;
    let r = patch(sub.into(), json!({"input": {"name": "n6"}})).await;
    assert_eq!(r.status().as_u16(), 200);

    // Through the client: five more updates pass in the window, the next waits and succeeds.
    let client = ws.client(TOKEN);
    let current = client
        .get(
            ResourceType::DestinationSubscription,
            "6453f9766f569b75deac5705:7UPg4d5ZNnDzdiubU215Cr",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no subscription"));
    for i in 0..6 {
        let mut changed = current.clone();
        changed
            .attributes
            .insert("name".into(), Value::String(format!("client {i}")));
        client
            .update(&changed)
            .await
            .unwrap_or_else(|e| panic!("{i}: {e}"));
    }
    assert!(client.stats().rate_limited_waits.load(Ordering::Relaxed) >= 1);
}
