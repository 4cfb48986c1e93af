//! The operator's telemetry: Prometheus metrics, the health and readiness endpoints, and logs.
//!
//! - [`metrics`]: the metric families and the methods the operator records through;
//! - [`http`]: `/healthz`, `/readyz` and `/metrics`, and the [`http::Health`] handle;
//! - [`logs`]: the `tracing` subscriber (JSON lines or text on standard error).
//!
//! Telemetry must never block or fail a reconcile: recording is cheap and infallible, and the
//! endpoints only read. It knows nothing about Git or Segment beyond label values.

pub mod http;
pub mod logs;
pub mod metrics;

pub use http::{Health, Readiness, serve};
pub use metrics::{DeliveryResult, GitSyncKey, Metrics, SyncKind, SyncResult};
