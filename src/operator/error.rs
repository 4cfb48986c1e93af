//! What ends a reconcile early, and how every controller retries it.
//!
//! It owns [`ReconcileError`] (the errors a controller returns instead of writing a condition),
//! the [`Controller`] names that label metrics and logs, and the one [`error_policy`] all
//! controllers share. It never decides a condition: problems a person can fix are conditions
//! written by the controllers, not errors.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;

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

/// Errors that end a reconcile early; the controller retries them after [`RETRY`].
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

/// How long a reconcile that ended in an error waits before it runs again.
pub const RETRY: Duration = Duration::from_secs(15);

/// The error policy of `controller`: log, count under that controller's label, retry after
/// [`RETRY`].
pub fn error_policy<K>(
    controller: Controller,
) -> impl Fn(Arc<K>, &ReconcileError, Arc<Context>) -> Action {
    move |_, error, ctx| {
        tracing::warn!(%error, controller = controller.label(), "reconcile failed");
        ctx.reconcile_error(controller, error.reason());
        Action::requeue(RETRY)
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
}
