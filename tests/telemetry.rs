//! The telemetry endpoints over real HTTP on loopback: metrics recorded through the API and by a
//! real workspace client (against the embedded workspace) as a scraper sees them, checked by
//! Prometheus's own `promtool`; liveness, readiness and unknown paths.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::util;
use crate::util::TestWorkspace;
use gitsync::telemetry::http::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};
use gitsync::telemetry::{GitSyncKey, Health, Metrics, SyncKind, SyncResult, serve};
use gitsync::workspace::api::Media;
use gitsync::workspace::client::RequestObserver;
use gitsync::workspace::{Client, ClientConfig, WorkspaceError};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TOKEN: &str = "test-token";

/// The endpoints on a free loopback port, stopped by dropping or sending `shutdown`.
struct Served {
    base: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(metrics: Arc<Metrics>, health: Health) -> Served {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    let (shutdown, stop) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, metrics, health, async move {
        // A dropped sender stops the server as well as a sent ().
        let _ = stop.await;
    }));
    Served {
        base: format!("http://{addr}"),
        shutdown,
        task,
    }
}

impl Served {
    async fn get(&self, path: &str, accept: Option<&str>) -> (StatusCode, String, String) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: body: {e}"));
        (status, content_type, body)
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap_or_else(|_| panic!("the server did not stop within 10s of shutdown"))
            .unwrap_or_else(|e| panic!("server task: {e}"))
            .unwrap_or_else(|e| panic!("serve: {e}"));
    }
}

/// The value of the series `name{labels}` (exactly those labels, in any order), if exported.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, mut found) = match series.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)?),
                None => (series, Vec::new()),
            };
            found.sort();
            (series_name == name && found == wanted).then(|| value.parse::<f64>().ok())?
        })
}

/// `k="v",k2="v2"` into pairs (values unescaped).
fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()? {
                    (_, 'n') => value.push('\n'),
                    (_, c) => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.push((key.to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(out)
}

fn expect(text: &str, name: &str, labels: &[(&str, &str)], value: f64) {
    match sample(text, name, labels) {
        Some(v) => assert!(
            (v - value).abs() < 1e-9,
            "{name}{labels:?} is {v}, expected {value}\n{text}"
        ),
        None => panic!("no {name}{labels:?} in:\n{text}"),
    }
}

/// A workspace client reporting to `observer`, retrying fast and never for long.
fn client(base_url: &str, token: &str, observer: Arc<dyn RequestObserver>) -> Client {
    let mut config = ClientConfig::new(base_url, token, "the test token");
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(200);
    config.timeout = Duration::from_secs(10);
    config.observer = Some(observer);
    Client::new(config).unwrap_or_else(|e| panic!("{e}"))
}

async fn get(client: &Client, path: &str) -> Result<serde_json::Value, WorkspaceError> {
    client.call(Method::GET, path, &[], None, Media::V1).await
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_recorded_and_observed_are_scraped_and_pass_promtool() {
    let metrics = Arc::new(Metrics::new());
    let served = start(metrics.clone(), Health::new()).await;

    // What the operator records.
    let main = GitSyncKey::new("team-a", "main");
    let gone = GitSyncKey::new("team-a", "deleted");
    let ms = Duration::from_millis;
    metrics.observe_sync(&main, SyncKind::Full, SyncResult::Success, ms(1500));
    metrics.observe_sync(&main, SyncKind::Incremental, SyncResult::Success, ms(20));
    metrics.observe_sync(&main, SyncKind::Incremental, SyncResult::Success, ms(20));
    metrics.observe_sync(&main, SyncKind::Incremental, SyncResult::Failure, ms(3000));
    metrics.observe_sync(
        &main,
        SyncKind::ListAndDiff,
        SyncResult::Success,
        ms(700_000),
    );
    metrics.commits_pushed(&main, 3);
    metrics.commits_pushed(&main, 2);
    metrics.push_failure(&main, "remote_kept_moving");
    metrics.push_failure(&main, "remote_kept_moving");
    metrics.push_failure(&main, "authentication_failed");
    let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    };
    metrics.set_resources(
        &main,
        &counts(&[
            ("segment_source", 4),
            ("segment_destination", 2),
            ("segment_label", 1),
        ]),
    );
    // The label went away: it reads 0 rather than its last count.
    metrics.set_resources(
        &main,
        &counts(&[("segment_source", 5), ("segment_destination", 2)]),
    );
    metrics.set_last_success(&main, 1_767_225_600.25);
    metrics.reconcile_error("gitsync", "workspace_unreachable");
    metrics.reconcile_error("gitsync", "workspace_unreachable");
    metrics.reconcile_error("gitconnection", "secret_missing");
    metrics.set_leader(true);
    // A GitSync that was deleted: every series of it goes.
    metrics.observe_sync(&gone, SyncKind::Full, SyncResult::Failure, ms(50));
    metrics.commits_pushed(&gone, 1);
    metrics.push_failure(&gone, "host_key");
    metrics.set_resources(&gone, &counts(&[("segment_source", 9)]));
    metrics.set_last_success(&gone, 1.0);
    metrics.forget(&gone);

    // What a real client reports, against the embedded workspace.
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let observer: Arc<dyn RequestObserver> = metrics.clone();
    let good = client(&ws.running.url(), TOKEN, observer.clone());
    ws.faults(
        TOKEN,
        json!({"rateLimit": {"count": 1, "msBeforeNext": 20}}),
    )
    .await;
    // A 429, a wait, then a 200; then another 200.
    get(&good, "/sources")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    get(&good, "/sources")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    match get(&good, "/sources/no-such-source").await {
        Err(WorkspaceError::NotFound { .. }) => {}
        other => panic!("expected a 404, got {other:?}"),
    }
    let bad = client(&ws.running.url(), "wrong-token", observer.clone());
    match get(&bad, "/sources").await {
        Err(WorkspaceError::Unauthorized { status: 401, .. }) => {}
        other => panic!("expected a 401, got {other:?}"),
    }
    // Nothing listens on a port just freed: a transport error, with no status.
    let closed: SocketAddr = {
        let l =
            std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap_or_else(|e| panic!("bind: {e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let unreachable = {
        let mut config = ClientConfig::new(format!("http://{closed}"), TOKEN, "the test token");
        config.max_attempts = 1;
        config.observer = Some(observer.clone());
        Client::new(config).unwrap_or_else(|e| panic!("{e}"))
    };
    match get(&unreachable, "/sources").await {
        Err(WorkspaceError::Transport { .. }) => {}
        other => panic!("expected a transport error, got {other:?}"),
    }

    // As Prometheus scrapes it (it prefers OpenMetrics) and as a plain client gets it.
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for accept in [Some(prometheus_accept), None] {
        let (status, content_type, body) = served.get("/metrics", accept).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(content_type, OPENMETRICS_CONTENT_TYPE, "Accept: {accept:?}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
    let (_, _, om) = served.get("/metrics", None).await;
    for descriptor in [
        "# TYPE gitsync_sync_duration_seconds histogram",
        "# UNIT gitsync_sync_duration_seconds seconds",
        "# TYPE gitsync_syncs counter",
        "# TYPE gitsync_commits_pushed counter",
        "# TYPE gitsync_push_failures counter",
        "# TYPE gitsync_workspace_requests counter",
        "# TYPE gitsync_workspace_rate_limited_waits counter",
        "# TYPE gitsync_resources gauge",
        "# TYPE gitsync_last_successful_sync_timestamp_seconds gauge",
        "# UNIT gitsync_last_successful_sync_timestamp_seconds seconds",
        "# TYPE gitsync_reconcile_errors counter",
        "# TYPE gitsync_leader gauge",
    ] {
        assert!(
            om.lines().any(|l| l == descriptor),
            "no `{descriptor}` in:\n{om}"
        );
    }

    // The Prometheus text format, for promtool (which predates OpenMetrics); same samples.
    let (status, content_type, text) = served
        .get("/metrics", Some("text/plain;version=0.0.4"))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, PROMETHEUS_TEXT_CONTENT_TYPE);
    assert!(
        text.contains("# TYPE gitsync_syncs_total counter\n"),
        "{text}"
    );

    for body in [&om, &text] {
        let g = [("namespace", "team-a"), ("name", "main")];
        let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
            g.iter().chain(extra).copied().collect()
        };
        expect(
            body,
            "gitsync_syncs_total",
            &with(&[("kind", "incremental"), ("result", "success")]),
            2.0,
        );
        expect(
            body,
            "gitsync_syncs_total",
            &with(&[("kind", "incremental"), ("result", "failure")]),
            1.0,
        );
        expect(
            body,
            "gitsync_syncs_total",
            &with(&[("kind", "full"), ("result", "success")]),
            1.0,
        );
        expect(
            body,
            "gitsync_syncs_total",
            &with(&[("kind", "list_and_diff"), ("result", "success")]),
            1.0,
        );
        let incremental = with(&[("kind", "incremental")]);
        expect(
            body,
            "gitsync_sync_duration_seconds_count",
            &incremental,
            3.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_sum",
            &incremental,
            3.04,
        );
        let bucket = |le: &'static str| with(&[("kind", "incremental"), ("le", le)]);
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &bucket("0.01"),
            0.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &bucket("0.025"),
            2.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &bucket("2.5"),
            2.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &bucket("5.0"),
            3.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &bucket("600.0"),
            3.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &bucket("+Inf"),
            3.0,
        );
        // Longer than the last bucket: counted only in +Inf.
        let slow = |le: &'static str| with(&[("kind", "list_and_diff"), ("le", le)]);
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &slow("600.0"),
            0.0,
        );
        expect(
            body,
            "gitsync_sync_duration_seconds_bucket",
            &slow("+Inf"),
            1.0,
        );
        expect(body, "gitsync_commits_pushed_total", &g, 5.0);
        expect(
            body,
            "gitsync_push_failures_total",
            &with(&[("reason", "remote_kept_moving")]),
            2.0,
        );
        expect(
            body,
            "gitsync_push_failures_total",
            &with(&[("reason", "authentication_failed")]),
            1.0,
        );
        expect(
            body,
            "gitsync_resources",
            &with(&[("type", "segment_source")]),
            5.0,
        );
        expect(
            body,
            "gitsync_resources",
            &with(&[("type", "segment_destination")]),
            2.0,
        );
        expect(
            body,
            "gitsync_resources",
            &with(&[("type", "segment_label")]),
            0.0,
        );
        expect(
            body,
            "gitsync_last_successful_sync_timestamp_seconds",
            &g,
            1_767_225_600.25,
        );
        expect(
            body,
            "gitsync_reconcile_errors_total",
            &[
                ("controller", "gitsync"),
                ("reason", "workspace_unreachable"),
            ],
            2.0,
        );
        expect(
            body,
            "gitsync_reconcile_errors_total",
            &[
                ("controller", "gitconnection"),
                ("reason", "secret_missing"),
            ],
            1.0,
        );
        expect(body, "gitsync_leader", &[], 1.0);
        expect(
            body,
            "gitsync_workspace_requests_total",
            &[("status", "200")],
            2.0,
        );
        for status in ["429", "404", "401", "error"] {
            expect(
                body,
                "gitsync_workspace_requests_total",
                &[("status", status)],
                1.0,
            );
        }
        expect(body, "gitsync_workspace_rate_limited_waits_total", &[], 1.0);
        assert!(
            !body.contains(r#"name="deleted""#),
            "a forgotten GitSync is still exported:\n{body}"
        );
    }

    if let Some(promtool) = util::promtool() {
        util::promtool_check(&promtool, &text);
    }
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_registry_passes_promtool_too() {
    // Before the first sync every labelled family is empty: the descriptors alone must lint.
    let served = start(Arc::new(Metrics::new()), Health::new()).await;
    let (status, _, text) = served
        .get("/metrics", Some("text/plain;version=0.0.4"))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    expect(&text, "gitsync_leader", &[], 0.0);
    if let Some(promtool) = util::promtool() {
        util::promtool_check(&promtool, &text);
    }
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_unknown_paths() {
    let health = Health::new();
    let served = start(Arc::new(Metrics::new()), health.clone()).await;

    let (status, _, body) = served.get("/healthz", None).await;
    assert_eq!((status, body.trim()), (StatusCode::OK, "ok"));

    // Not ready until the operator says so, and says why.
    let (status, _, body) = served.get("/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("watches have not synced"), "{body}");

    health.set_ready();
    let (status, _, body) = served.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A standby replica is ready: it can take over.
    health.set_standby();
    let (status, _, body) = served.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("standing by"), "{body}");

    health.set_not_ready("lost the watch on GitSyncs");
    let (status, _, body) = served.get("/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("lost the watch on GitSyncs"), "{body}");

    // Liveness does not follow readiness: a not-ready operator must not be restarted.
    let (status, _, _) = served.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, _) = served.get("/no-such-path", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    served.stop().await;
}
