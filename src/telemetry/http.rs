//! The operator's own HTTP endpoints: `/healthz` (liveness), `/readyz` (readiness) and
//! `/metrics` (Prometheus).
//!
//! It owns the [`Health`] handle the operator flips and the axum server around it. It must never
//! hold anything the operator's reconciles wait on: a scrape reads atomics and takes the
//! registry's read locks for as long as one encoding takes, nothing more.

use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::metrics::Metrics;

/// The content type of `/metrics` by default and whenever a scraper accepts it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of `/metrics` for clients that ask for `text/plain` only.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the operator can do its work, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The leader, with its watches synced.
    Ready,
    /// A replica without the lease: ready, because it can take over at once.
    Standby,
    /// Not yet (or no longer) ready, and why.
    NotReady(String),
}

/// The readiness the operator sets and `/readyz` reads. Cheap to clone; every clone is the
/// same state.
#[derive(Debug, Clone)]
pub struct Health {
    state: Arc<RwLock<Readiness>>,
}

impl Default for Health {
    fn default() -> Health {
        Health::new()
    }
}

impl Health {
    /// Not ready: the operator has not synced its watches yet.
    pub fn new() -> Health {
        Health {
            state: Arc::new(RwLock::new(Readiness::NotReady(
                "starting: the watches have not synced yet".into(),
            ))),
        }
    }

    /// The watches have synced (the leader is working).
    pub fn set_ready(&self) {
        self.set(Readiness::Ready);
    }

    /// This replica stands by without the lease.
    pub fn set_standby(&self) {
        self.set(Readiness::Standby);
    }

    /// Not ready, saying why (shown by `/readyz`).
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.set(Readiness::NotReady(reason.into()));
    }

    pub fn readiness(&self) -> Readiness {
        match self.state.read() {
            Ok(state) => state.clone(),
            // A panic elsewhere cannot leave a half-written enum behind an assignment.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn is_ready(&self) -> bool {
        !matches!(self.readiness(), Readiness::NotReady(_))
    }

    fn set(&self, readiness: Readiness) {
        match self.state.write() {
            Ok(mut state) => *state = readiness,
            Err(poisoned) => *poisoned.into_inner() = readiness,
        }
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// The endpoints, for embedding in another server or testing without a socket.
pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { metrics, health })
}

/// Serves the endpoints on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Liveness: answering at all proves the process and its runtime are alive; anything slower
/// to check belongs in readiness, lest a busy operator be restarted.
async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.health.readiness() {
        Readiness::Ready => (StatusCode::OK, "ok\n").into_response(),
        Readiness::Standby => {
            (StatusCode::OK, "ok: standing by without the lease\n").into_response()
        }
        Readiness::NotReady(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn metrics_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let prometheus_text = wants_prometheus_text(&headers);
    let (encoded, content_type) = if prometheus_text {
        (
            state.metrics.encode_prometheus(),
            PROMETHEUS_TEXT_CONTENT_TYPE,
        )
    } else {
        (state.metrics.encode(), OPENMETRICS_CONTENT_TYPE)
    };
    match encoded {
        Ok(body) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the metrics: {e}\n"),
            )
                .into_response()
        }
    }
}

/// OpenMetrics unless the client asks for `text/plain` and not for OpenMetrics: Prometheus
/// itself accepts both and prefers OpenMetrics, while `promtool check metrics` and older
/// scrapers only parse the Prometheus text format.
fn wants_prometheus_text(headers: &HeaderMap) -> bool {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mentions = |media: &str| {
        accept
            .iter()
            .flat_map(|v| v.split(','))
            .any(|item| item.trim().to_ascii_lowercase().starts_with(media))
    };
    mentions("text/plain") && !mentions("application/openmetrics-text")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn openmetrics_unless_only_text_plain_is_accepted() {
        assert!(!wants_prometheus_text(&HeaderMap::new()));
        assert!(!wants_prometheus_text(&accept("*/*")));
        assert!(!wants_prometheus_text(&accept(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(wants_prometheus_text(&accept("text/plain;version=0.0.4")));
        assert!(wants_prometheus_text(&accept("Text/Plain, */*;q=0.1")));
    }

    #[test]
    fn standby_is_ready_and_readiness_is_shared_by_clones() {
        let health = Health::new();
        let clone = health.clone();
        assert!(!clone.is_ready());
        health.set_standby();
        assert!(clone.is_ready());
        health.set_not_ready("lost the API server");
        assert_eq!(
            clone.readiness(),
            Readiness::NotReady("lost the API server".into())
        );
        health.set_ready();
        assert_eq!(clone.readiness(), Readiness::Ready);
    }
}
