//! The operator's Prometheus metrics: one registry (prefix `gitsync`) and the methods the
//! operator records through.
//!
//! It owns the metric families, their label sets and the OpenMetrics text they encode to. It
//! must never block or fail a caller: recording is a few atomic operations and short-lived
//! locks, and it never does I/O. It knows about GitSyncs only as label values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::workspace::client::RequestObserver;

/// Upper bounds of the sync duration buckets, in seconds: from a no-op poll (10 ms) to a full
/// sync of a large workspace (10 min); slower syncs land in `+Inf`.
const SYNC_DURATION_BUCKETS: [f64; 15] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Which GitSync a series belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GitSyncKey {
    pub namespace: String,
    pub name: String,
}

impl GitSyncKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> GitSyncKey {
        GitSyncKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// How a sync ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncKind {
    Full,
    Incremental,
    ListAndDiff,
}

impl SyncKind {
    pub const ALL: [SyncKind; 3] = [SyncKind::Full, SyncKind::Incremental, SyncKind::ListAndDiff];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Full => "full",
            SyncKind::Incremental => "incremental",
            SyncKind::ListAndDiff => "list_and_diff",
        }
    }
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncResult {
    Success,
    Failure,
}

impl SyncResult {
    pub const ALL: [SyncResult; 2] = [SyncResult::Success, SyncResult::Failure];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncResult::Success => "success",
            SyncResult::Failure => "failure",
        }
    }
}

/// What became of one webhook delivery (see [`crate::operator::webhook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryResult {
    /// Authenticated, about a pull request, a comment or a ping: its GitSyncs were woken.
    Accepted,
    /// Its delivery id was seen before: nothing woken.
    Duplicate,
    /// Authenticated, about something else (a push, an issue): dropped.
    Ignored,
    /// No GitSync's webhook secret matches it (or none syncs its repository).
    Unauthorized,
    /// The body is larger than the listener takes.
    TooLarge,
    /// Not a delivery the listener can read (no repository, not JSON, a header missing).
    BadRequest,
    /// The listener cannot check it now (a standby replica, or the API server did not answer).
    Unavailable,
}

impl DeliveryResult {
    pub const ALL: [DeliveryResult; 7] = [
        DeliveryResult::Accepted,
        DeliveryResult::Duplicate,
        DeliveryResult::Ignored,
        DeliveryResult::Unauthorized,
        DeliveryResult::TooLarge,
        DeliveryResult::BadRequest,
        DeliveryResult::Unavailable,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Accepted => "accepted",
            DeliveryResult::Duplicate => "duplicate",
            DeliveryResult::Ignored => "ignored",
            DeliveryResult::Unauthorized => "unauthorized",
            DeliveryResult::TooLarge => "too_large",
            DeliveryResult::BadRequest => "bad_request",
            DeliveryResult::Unavailable => "unavailable",
        }
    }
}

// Written by hand: the derive would print the variant names (`ListAndDiff`), and label values
// are snake_case.
impl EncodeLabelValue for SyncKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for DeliveryResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for SyncResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GitSyncLabels {
    namespace: String,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    namespace: String,
    name: String,
    kind: SyncKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SyncLabels {
    namespace: String,
    name: String,
    kind: SyncKind,
    result: SyncResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    namespace: String,
    name: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    namespace: String,
    name: String,
    r#type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeliveryLabels {
    forge: String,
    result: DeliveryResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
    reason: String,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn sync_duration_histogram() -> Histogram {
    Histogram::new(SYNC_DURATION_BUCKETS)
}

/// The label values of one GitSync's series whose values are open-ended, remembered so that
/// [`Metrics::forget`] can remove them and [`Metrics::set_resources`] can zero types that went
/// away (a `Family` cannot be listed).
#[derive(Debug, Default)]
struct Seen {
    push_failure_reasons: BTreeSet<String>,
    resource_types: BTreeSet<String>,
}

/// The operator's metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sync_duration: HistogramFamily<KindLabels>,
    syncs: Family<SyncLabels, Counter>,
    commits_pushed: Family<GitSyncLabels, Counter>,
    push_failures: Family<ReasonLabels, Counter>,
    workspace_requests: Family<StatusLabels, Counter>,
    rate_limited_waits: Counter,
    resources: Family<ResourceLabels, Gauge>,
    last_success: Family<GitSyncLabels, Gauge<f64, AtomicU64>>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    plans: Family<ResultLabels, Counter>,
    plan_duration: Histogram,
    applies: Family<ResultLabels, Counter>,
    leader: Gauge,
    webhook_deliveries: Family<DeliveryLabels, Counter>,
    seen: Mutex<HashMap<GitSyncKey, Seen>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family registered, none with a series yet but `gitsync_leader` (0) and the
    /// rate-limit counter (0).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gitsync");
        let sync_duration: HistogramFamily<KindLabels> =
            Family::new_with_constructor(sync_duration_histogram);
        registry.register_with_unit(
            "sync_duration",
            "How long one sync took, by kind (full, incremental, list_and_diff)",
            Unit::Seconds,
            sync_duration.clone(),
        );
        let syncs = Family::<SyncLabels, Counter>::default();
        registry.register(
            "syncs",
            "Syncs run, by kind and result (success, failure)",
            syncs.clone(),
        );
        let commits_pushed = Family::<GitSyncLabels, Counter>::default();
        registry.register(
            "commits_pushed",
            "Commits pushed to the Git remote",
            commits_pushed.clone(),
        );
        let push_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "push_failures",
            "Pushes the Git remote refused or that failed, by reason",
            push_failures.clone(),
        );
        let workspace_requests = Family::<StatusLabels, Counter>::default();
        registry.register(
            "workspace_requests",
            "Requests to the Segment Public API, by HTTP status (error: no response)",
            workspace_requests.clone(),
        );
        let rate_limited_waits = Counter::default();
        registry.register(
            "workspace_rate_limited_waits",
            "Waits because the Segment Public API rate-limited a request",
            rate_limited_waits.clone(),
        );
        let resources = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "resources",
            "Resources in the workspace at the last sync, by Terraform type",
            resources.clone(),
        );
        let last_success = Family::<GitSyncLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "last_successful_sync_timestamp",
            "When the last successful sync ended, in seconds since the Unix epoch",
            Unit::Seconds,
            last_success.clone(),
        );
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by controller and reason",
            reconcile_errors.clone(),
        );
        let plans = Family::<ResultLabels, Counter>::default();
        registry.register(
            "plans",
            "Pull-request plans made, by result (planned, no_changes, conflicted, invalid, error)",
            plans.clone(),
        );
        let plan_duration = Histogram::new(SYNC_DURATION_BUCKETS);
        registry.register_with_unit(
            "plan_duration",
            "How long planning one pull request took (fetch, plan, comment, status)",
            Unit::Seconds,
            plan_duration.clone(),
        );
        let applies = Family::<ResultLabels, Counter>::default();
        registry.register(
            "applies",
            "Applies of pull requests, by result (succeeded, failed, refused)",
            applies.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease, else 0",
            leader.clone(),
        );
        let webhook_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries received, by forge (github, gitlab) and result (accepted, duplicate, ignored, unauthorized, too_large, bad_request, unavailable)",
            webhook_deliveries.clone(),
        );
        Metrics {
            registry,
            sync_duration,
            syncs,
            commits_pushed,
            push_failures,
            workspace_requests,
            rate_limited_waits,
            resources,
            last_success,
            reconcile_errors,
            plans,
            plan_duration,
            applies,
            leader,
            webhook_deliveries,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// One sync ended: its duration and its outcome.
    pub fn observe_sync(
        &self,
        gitsync: &GitSyncKey,
        kind: SyncKind,
        result: SyncResult,
        duration: Duration,
    ) {
        self.sync_duration
            .get_or_create(&KindLabels {
                namespace: gitsync.namespace.clone(),
                name: gitsync.name.clone(),
                kind,
            })
            .observe(duration.as_secs_f64());
        self.syncs
            .get_or_create(&SyncLabels {
                namespace: gitsync.namespace.clone(),
                name: gitsync.name.clone(),
                kind,
                result,
            })
            .inc();
    }

    /// `n` commits reached the remote.
    pub fn commits_pushed(&self, gitsync: &GitSyncKey, n: u64) {
        self.commits_pushed
            .get_or_create(&gitsync_labels(gitsync))
            .inc_by(n);
    }

    /// A push failed; `reason` is a short snake_case word (`authentication_failed`, `host_key`,
    /// `not_found`, `no_write_access`, `branch_protection`, `remote_kept_moving`, `other`), never
    /// a message: every distinct value is a series.
    pub fn push_failure(&self, gitsync: &GitSyncKey, reason: &str) {
        self.with_seen(gitsync, |seen| {
            seen.push_failure_reasons.insert(reason.to_owned());
        });
        self.push_failures
            .get_or_create(&ReasonLabels {
                namespace: gitsync.namespace.clone(),
                name: gitsync.name.clone(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The workspace's resources by Terraform type (`segment_source`); types counted before but
    /// absent now are set to 0, so a dashboard sees them go rather than freeze.
    pub fn set_resources(&self, gitsync: &GitSyncKey, counts: &BTreeMap<String, u64>) {
        let gone: Vec<String> = self.with_seen(gitsync, |seen| {
            let gone = seen
                .resource_types
                .iter()
                .filter(|t| !counts.contains_key(*t))
                .cloned()
                .collect();
            seen.resource_types.extend(counts.keys().cloned());
            gone
        });
        let labels = |ty: &str| ResourceLabels {
            namespace: gitsync.namespace.clone(),
            name: gitsync.name.clone(),
            r#type: ty.to_owned(),
        };
        for ty in &gone {
            self.resources.get_or_create(&labels(ty)).set(0);
        }
        for (ty, n) in counts {
            // A workspace with more than i64::MAX resources does not exist; saturate anyway
            // rather than wrap.
            let n = i64::try_from(*n).unwrap_or(i64::MAX);
            self.resources.get_or_create(&labels(ty)).set(n);
        }
    }

    /// The last successful sync ended at `unix_seconds`.
    pub fn set_last_success(&self, gitsync: &GitSyncKey, unix_seconds: f64) {
        self.last_success
            .get_or_create(&gitsync_labels(gitsync))
            .set(unix_seconds);
    }

    /// A reconcile of `controller` ended in an error; `reason` is a short snake_case word.
    pub fn reconcile_error(&self, controller: &str, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ControllerLabels {
                controller: controller.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A pull request was planned, with `result` (a short snake_case word) in `seconds`.
    pub fn observe_plan(&self, result: &str, seconds: f64) {
        self.plans
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
        self.plan_duration.observe(seconds);
    }

    /// An apply command ended with `result`: succeeded, failed or refused.
    pub fn observe_apply(&self, result: &str) {
        self.applies
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Whether this replica holds the leader lease.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// A webhook delivery from `forge` (`github`, `gitlab`) ended in `result`.
    pub fn webhook_delivery(&self, forge: &str, result: DeliveryResult) {
        self.webhook_deliveries
            .get_or_create(&DeliveryLabels {
                forge: forge.to_owned(),
                result,
            })
            .inc();
    }

    /// Removes every series of a deleted GitSync, so that it stops being exported.
    pub fn forget(&self, gitsync: &GitSyncKey) {
        let seen = match self.seen.lock() {
            Ok(mut map) => map.remove(gitsync),
            // Poisoned only if a panic hit the few lines holding the lock; the sets are
            // still usable.
            Err(poisoned) => poisoned.into_inner().remove(gitsync),
        }
        .unwrap_or_default();
        let (namespace, name) = (&gitsync.namespace, &gitsync.name);
        for kind in SyncKind::ALL {
            self.sync_duration.remove(&KindLabels {
                namespace: namespace.clone(),
                name: name.clone(),
                kind,
            });
            for result in SyncResult::ALL {
                self.syncs.remove(&SyncLabels {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    kind,
                    result,
                });
            }
        }
        self.commits_pushed.remove(&gitsync_labels(gitsync));
        self.last_success.remove(&gitsync_labels(gitsync));
        for reason in seen.push_failure_reasons {
            self.push_failures.remove(&ReasonLabels {
                namespace: namespace.clone(),
                name: name.clone(),
                reason,
            });
        }
        for ty in seen.resource_types {
            self.resources.remove(&ResourceLabels {
                namespace: namespace.clone(),
                name: name.clone(),
                r#type: ty,
            });
        }
    }

    /// Every family in the OpenMetrics text format (ending in `# EOF`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Every family in the Prometheus text format 0.0.4, for scrapers and linters (`promtool
    /// check metrics`) that predate OpenMetrics.
    pub fn encode_prometheus(&self) -> Result<String, std::fmt::Error> {
        self.encode().map(|om| to_prometheus_text(&om))
    }

    fn with_seen<T>(&self, gitsync: &GitSyncKey, f: impl FnOnce(&mut Seen) -> T) -> T {
        let mut map = match self.seen.lock() {
            Ok(map) => map,
            // See `forget`: a poisoned map is still consistent enough for label bookkeeping.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(map.entry(gitsync.clone()).or_default())
    }
}

fn gitsync_labels(gitsync: &GitSyncKey) -> GitSyncLabels {
    GitSyncLabels {
        namespace: gitsync.namespace.clone(),
        name: gitsync.name.clone(),
    }
}

impl RequestObserver for Metrics {
    fn response(&self, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.workspace_requests
            .get_or_create(&StatusLabels { status })
            .inc();
    }

    fn rate_limited_wait(&self, _wait: Duration) {
        self.rate_limited_waits.inc();
    }
}

/// `text` (this registry's OpenMetrics output) in the Prometheus text format 0.0.4, for scrapers
/// and linters (`promtool check metrics`) that predate OpenMetrics. The two differ, for what this
/// registry emits (counters, gauges and histograms, without exemplars or created timestamps),
/// only in that a counter's `HELP` and `TYPE` name its `_total` series, there is no `# UNIT`,
/// and there is no `# EOF`.
fn to_prometheus_text(text: &str) -> String {
    let counters: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match descriptor {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    // Writing to a String cannot fail.
                    let _ = writeln!(out, "{prefix}{name}_total {tail}");
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counters_by_their_series() {
        let metrics = Metrics::new();
        let key = GitSyncKey::new("ns", "a");
        metrics.commits_pushed(&key, 3);
        metrics.observe_sync(
            &key,
            SyncKind::Full,
            SyncResult::Success,
            Duration::from_millis(20),
        );
        let om = metrics.encode().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            om.contains("# TYPE gitsync_commits_pushed counter\n"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"), "{om}");
        let text = to_prometheus_text(&om);
        assert!(
            text.contains("# HELP gitsync_commits_pushed_total Commits pushed"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gitsync_commits_pushed_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gitsync_sync_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
    }

    #[test]
    fn resources_that_went_away_read_zero_and_forget_removes_everything() {
        let metrics = Metrics::new();
        let key = GitSyncKey::new("ns", "a");
        let other = GitSyncKey::new("ns", "b");
        let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
        };
        metrics.set_resources(
            &key,
            &counts(&[("segment_source", 4), ("segment_label", 2)]),
        );
        metrics.set_resources(&key, &counts(&[("segment_source", 5)]));
        metrics.set_resources(&other, &counts(&[("segment_source", 1)]));
        metrics.push_failure(&key, "host_key");
        metrics.set_last_success(&key, 1_700_000_000.5);
        let text = metrics.encode().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains(r#"gitsync_resources{namespace="ns",name="a",type="segment_source"} 5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gitsync_resources{namespace="ns",name="a",type="segment_label"} 0"#),
            "{text}"
        );
        metrics.forget(&key);
        let text = metrics.encode().unwrap_or_else(|e| panic!("{e}"));
        assert!(!text.contains(r#"name="a""#), "{text}");
        assert!(
            text.contains(r#"gitsync_resources{namespace="ns",name="b",type="segment_source"} 1"#),
            "{text}"
        );
    }
}
