//! What ends a reconcile early, and how every controller retries it.
//!
//! It owns [`ReconcileError`] (the errors a controller returns instead of writing a condition),
//! the [`Controller`] names that label metrics and logs, and the one [`error_policy`] all
//! controllers share, with a backoff per object. It never decides a condition: problems a person can fix are conditions
//! written by the controllers, not errors.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt as _};

use super::context::Context;

/// The operator's controllers, as metric labels and log fields name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    GitSync,
    GitConnection,
    SyncSecret,
}

impl Controller {
    /// The `controller` label value of `gitsync_reconcile_errors_total`.
    pub fn label(self) -> &'static str {
        match self {
            Controller::GitSync => "gitsync",
            Controller::GitConnection => "gitconnection",
            Controller::SyncSecret => "syncsecret",
        }
    }
}

/// Errors that end a reconcile early; the controller retries them with a backoff per object
/// ([`retry_after`]).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The workspace client could not be made (the message is scrubbed of credentials).
    #[error("cannot set up the workspace client: {0}")]
    WorkspaceClient(String),
    /// The cache repository could not be opened or created (scrubbed of credentials).
    #[error("cannot open the cache repository: {0}")]
    Cache(String),
    /// A watch's cache was closed (the operator is stopping).
    #[error("the cache of watched objects was closed")]
    StoreClosed,
    /// A blocking task (a connection check) panicked or was cancelled.
    #[error("the {task} stopped before it finished: {source}")]
    TaskStopped {
        task: &'static str,
        source: tokio::task::JoinError,
    },
}

impl ReconcileError {
    /// A CamelCase word for logs and the `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "KubernetesApi",
            ReconcileError::WorkspaceClient(_) => "WorkspaceClient",
            ReconcileError::Cache(_) => "CacheError",
            ReconcileError::StoreClosed => "StoreClosed",
            ReconcileError::TaskStopped { .. } => "TaskStopped",
        }
    }
}

/// How long a reconcile that ended in an error first waits before it runs again.
pub const RETRY: Duration = Duration::from_secs(15);

/// The longest wait between failed reconciles of one object.
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// How long to wait after the `failures`-th failed reconcile in a row of one object: [`RETRY`],
/// doubled for each failure before it, at most [`MAX_RETRY`]. An API server that refuses or
/// fails every request is asked less and less often, not every 15 s by every object.
pub fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// Which object of which controller.
type ObjectKey = (Controller, String, String);

/// Failed reconciles in a row, per object: what [`error_policy`] backs off by.
#[derive(Default)]
pub struct Backoff {
    failures: std::sync::Mutex<HashMap<ObjectKey, u32>>,
}

impl Backoff {
    /// Counts a failure of `key`; how long to wait before its next reconcile.
    fn failed(&self, key: ObjectKey) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key).or_default();
        *n = n.saturating_add(1);
        retry_after(*n)
    }

    /// A reconcile of `key` succeeded: its next failure waits [`RETRY`] again.
    fn succeeded(&self, key: &ObjectKey) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(key);
    }

    /// Forgets an object that is gone.
    pub fn forget(&self, controller: Controller, namespace: &str, name: &str) {
        self.succeeded(&(controller, namespace.to_owned(), name.to_owned()));
    }
}

fn key_of<K: Resource>(controller: Controller, object: &K) -> ObjectKey {
    (
        controller,
        object.namespace().unwrap_or_default(),
        object.name_any(),
    )
}

/// Runs `reconcile` of `controller` on `object`, and resets the object's backoff when it
/// succeeds. Every controller's reconcile runs through it.
pub async fn tracked<K, F, Fut>(
    controller: Controller,
    object: Arc<K>,
    ctx: Arc<Context>,
    reconcile: F,
) -> Result<Action, ReconcileError>
where
    K: Resource,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, ReconcileError>>,
{
    let key = key_of(controller, object.as_ref());
    let result = reconcile(object, ctx.clone()).await;
    if result.is_ok() {
        ctx.backoff.succeeded(&key);
    }
    result
}

/// The error policy of `controller`: log, count under that controller's label, retry after
/// [`retry_after`] the object's failures in a row.
pub fn error_policy<K: Resource>(
    controller: Controller,
) -> impl Fn(Arc<K>, &ReconcileError, Arc<Context>) -> Action {
    move |object, error, ctx| {
        let key = key_of(controller, object.as_ref());
        let wait = ctx.backoff.failed(key.clone());
        tracing::warn!(
            %error,
            controller = controller.label(),
            namespace = %key.1,
            name = %key.2,
            retry_in = ?wait,
            "reconcile failed"
        );
        ctx.reconcile_error(controller, error.reason());
        Action::requeue(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_controller_has_its_own_label() {
        let labels: std::collections::BTreeSet<&str> = [
            Controller::GitSync,
            Controller::GitConnection,
            Controller::SyncSecret,
        ]
        .iter()
        .map(|c| c.label())
        .collect();
        assert_eq!(labels.len(), 3, "{labels:?}");
    }

    #[test]
    fn failures_in_a_row_wait_longer_and_longer_up_to_the_most() {
        let cases = [
            (1, 15),
            (2, 30),
            (3, 60),
            (4, 120),
            (5, 240),
            (6, 300),
            (40, 300),
            (u32::MAX, 300),
        ];
        for (failures, seconds) in cases {
            assert_eq!(
                retry_after(failures),
                Duration::from_secs(seconds),
                "{failures}"
            );
        }
    }

    #[test]
    fn a_success_resets_one_object_and_no_other() {
        let backoff = Backoff::default();
        let a = (Controller::GitSync, "ns".to_owned(), "a".to_owned());
        let b = (Controller::GitConnection, "ns".to_owned(), "a".to_owned());
        assert_eq!(backoff.failed(a.clone()), RETRY);
        assert_eq!(backoff.failed(a.clone()), RETRY * 2);
        assert_eq!(
            backoff.failed(b.clone()),
            RETRY,
            "another controller's object"
        );
        backoff.succeeded(&a);
        assert_eq!(backoff.failed(a.clone()), RETRY);
        assert_eq!(backoff.failed(b), RETRY * 2);
        backoff.forget(Controller::GitSync, "ns", "a");
        assert_eq!(backoff.failed(a), RETRY);
    }
}
