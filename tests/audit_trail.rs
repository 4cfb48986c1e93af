//! The audit trail under concurrent writers: a reader that remembers where it stands sees every
//! change exactly once, in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::TestWorkspace;
use gitsync::model::{Attributes, Resource, ResourceType, Value};
use gitsync::workspace::embedded::store::AuditQuery;
use gitsync::workspace::{AuditPoint, Workspace};
use serde_json::json;

const TOKEN: &str = "audit";
const WRITERS: usize = 8;
const ROUNDS: usize = 12;

fn source(slug: String) -> Resource {
    let mut attrs = Attributes::new();
    attrs.insert("enabled".into(), Value::Bool(true));
    attrs.insert("slug".into(), Value::String(slug));
    attrs.insert("settings".into(), Value::Json(json!({})));
    let mut metadata = BTreeMap::new();
    metadata.insert("id".to_string(), Value::String("IqDTy1TpoU".into()));
    attrs.insert("metadata".into(), Value::Object(metadata));
    Resource::new(ResourceType::Source, None, attrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_sees_every_change_once_under_concurrent_writers() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let client = ws.client(TOKEN);
        let done = done.clone();
        tokio::spawn(async move {
            let mut point = AuditPoint {
                since: "1970-01-01T00:00:00.000Z".into(),
                seen_at_since: vec![],
            };
            let mut seen = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let events = client
                    .audit_events(&point.since)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                seen.extend(point.advance(events).unwrap_or_else(|e| panic!("{e}")));
                if finished {
                    return seen;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let client = ws.client(TOKEN);
        writers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let created = client
                    .create(&source(format!("w{w}-r{round}")))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut disabled = created.clone();
                disabled
                    .attributes
                    .insert("enabled".into(), Value::Bool(false));
                client
                    .update(&disabled)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                if round % 3 == 0 {
                    client
                        .delete(&created)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap_or_else(|e| panic!("writer: {e}"));
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap_or_else(|e| panic!("reader: {e}"));

    let (all, more) = ws
        .store
        .audit_events(&AuditQuery {
            limit: 100_000,
            ..AuditQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!more);
    // Per round: the create, the update (one PATCH; unchanged labels are not rewritten), and a
    // delete every third round.
    let expected = WRITERS * (ROUNDS * 2 + ROUNDS.div_ceil(3));
    assert_eq!(all.len(), expected, "the store recorded every change");
    let all_ids: Vec<&str> = all.iter().map(|(_, e)| e.id.as_str()).collect();
    let seen_ids: Vec<&str> = seen.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        seen_ids, all_ids,
        "the reader saw every event once, in commit order"
    );
    assert_eq!(
        seen.iter().filter(|e| e.kind == "Source Disabled").count(),
        WRITERS * ROUNDS
    );
}

/// Two concurrent PATCHes of different fields of one source both answer 200 and both record an
/// event; both changes must be kept (the read-modify-write used to happen outside the write's
/// transaction, and about 3 in 100 pairs lost one change).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_fields_keep_both_changes() {
    const SOURCES: usize = 8;
    const PAIRS: usize = 40;
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let client = ws.client(TOKEN);
    let mut ids = Vec::new();
    for i in 0..SOURCES {
        let created = client
            .create(&source(format!("lost-{i}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ids.push(created.id.unwrap_or_default());
    }
    let patch = |client: gitsync::workspace::Client, id: String, body: serde_json::Value| async move {
        client
            .call(
                reqwest::Method::PATCH,
                &format!("/sources/{id}"),
                &[],
                Some(&body),
                gitsync::workspace::api::Media::V1,
            )
            .await
            .unwrap_or_else(|e| panic!("PATCH {id}: {e}"));
    };
    let mut lost = Vec::new();
    for round in 0..PAIRS {
        let mut pairs = Vec::new();
        for id in &ids {
            pairs.push(tokio::spawn(patch(
                client.clone(),
                id.clone(),
                json!({"name": format!("name-{round}")}),
            )));
            pairs.push(tokio::spawn(patch(
                client.clone(),
                id.clone(),
                json!({"slug": format!("slug-{round}")}),
            )));
        }
        for p in pairs {
            p.await.unwrap_or_else(|e| panic!("{e}"));
        }
        for id in &ids {
            let object = ws
                .store
                .get("segment_source", id)
                .ok()
                .flatten()
                .map(|s| s.object)
                .unwrap_or_default();
            if object.get("name") != Some(&json!(format!("name-{round}")))
                || object.get("slug") != Some(&json!(format!("slug-{round}")))
            {
                lost.push(format!("round {round}, source {id}: {object:?}"));
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} pairs lost a change: {lost:#?}",
        lost.len(),
        SOURCES * PAIRS
    );
    let (events, _) = ws
        .store
        .audit_events(&AuditQuery {
            limit: 100_000,
            ..AuditQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let modified = events
        .iter()
        .filter(|(_, e)| e.kind == "Source Modified")
        .count();
    assert_eq!(modified, 2 * SOURCES * PAIRS, "one event per PATCH");
}
