//! The leader's Pod label: while a replica holds the Lease, its own Pod carries
//! `gitsync.dev/leader: "true"` ([`LEADER_LABEL`]), so that a Service selecting it (the webhook
//! Service, `deploy/55-webhook-service.yaml`) routes only to the leader.
//!
//! It owns that one label on that one Pod (`--pod-name`, the downward API's `POD_NAME`): set
//! when the Lease is taken, removed when it is lost or released, and removed by every replica
//! when it starts (a stale label left by a container that was killed while leading, and
//! restarted as a standby in the same Pod). It writes by JSON merge patch, so it needs only
//! `patch` on pods; Kubernetes cannot limit that grant to the replica's own Pod in a static
//! manifest (the Pod's name is made by its ReplicaSet), so the Role allows it in the
//! operator's namespace only.
//!
//! It must never touch another label, another Pod, or anything but `metadata.labels`, and a
//! failure never stops the operator: without the label, the standby's listener still answers
//! 503 and the leader's poll finds every pull request.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::context::FIELD_MANAGER;

/// The label the leader's Pod carries, with the value `"true"`.
pub const LEADER_LABEL: &str = "gitsync.dev/leader";

/// How long removing the label may take on the way out (the API server may be why the Lease
/// was lost).
pub const CLEAR_TIMEOUT: Duration = Duration::from_secs(5);

/// The first wait before setting the label again after a failure; it doubles up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LeaderLabelError {
    #[error(
        "cannot label Pod {namespace}/{name}: there is no Pod of that name; --pod-name (POD_NAME, from the downward API's metadata.name) must name this replica's own Pod"
    )]
    NoPod { namespace: String, name: String },
    #[error(
        "cannot label Pod {namespace}/{name}: forbidden; grant the operator's ServiceAccount `patch` on pods in namespace {namespace} (deploy/30-leader-election.yaml)"
    )]
    Forbidden { namespace: String, name: String },
    #[error("cannot label Pod {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

impl LeaderLabelError {
    /// A short CamelCase reason for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            LeaderLabelError::NoPod { .. } => "PodNotFound",
            LeaderLabelError::Forbidden { .. } => "Forbidden",
            LeaderLabelError::Api { .. } => "ApiError",
        }
    }
}

/// This replica's Pod, and the label on it.
#[derive(Clone)]
pub struct LeaderLabel {
    pods: Api<Pod>,
    namespace: String,
    name: String,
}

impl LeaderLabel {
    /// The Pod `name` in `namespace` (this replica's own).
    pub fn new(client: Client, namespace: &str, name: &str) -> LeaderLabel {
        LeaderLabel {
            pods: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The Pod, as `namespace/name`.
    pub fn pod(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Labels the Pod as the leader's.
    pub async fn mark(&self) -> Result<(), LeaderLabelError> {
        self.patch(Some("true")).await
    }

    /// Removes the label (nothing changes when the Pod has none).
    pub async fn clear(&self) -> Result<(), LeaderLabelError> {
        self.patch(None).await
    }

    /// [`LeaderLabel::mark`] until it succeeds, waiting longer after each failure (the first
    /// failure of a kind is a warning, repeats are debug lines). Meant to run beside the
    /// controllers for as long as the Lease is held.
    pub async fn mark_until_done(&self) {
        let mut wait = RETRY_FIRST;
        let mut last_reason = None;
        loop {
            match self.mark().await {
                Ok(()) => {
                    tracing::info!(pod = %self.pod(), label = LEADER_LABEL, "labelled this replica's Pod as the leader's");
                    return;
                }
                Err(e) => {
                    if last_reason != Some(e.reason()) {
                        tracing::warn!(reason = e.reason(), error = %e, "cannot label this replica's Pod as the leader's; webhook deliveries may reach the standby, which answers 503");
                    } else {
                        tracing::debug!(reason = e.reason(), error = %e, "cannot label this replica's Pod as the leader's");
                    }
                    last_reason = Some(e.reason());
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    /// [`LeaderLabel::clear`] within [`CLEAR_TIMEOUT`], logging a failure (the next start of a
    /// replica in this Pod removes it).
    pub async fn clear_or_warn(&self, when: &'static str) {
        match tokio::time::timeout(CLEAR_TIMEOUT, self.clear()).await {
            Ok(Ok(())) => {
                tracing::info!(pod = %self.pod(), label = LEADER_LABEL, when, "removed the leader label from this replica's Pod");
            }
            Ok(Err(e)) => {
                tracing::warn!(reason = e.reason(), error = %e, when, "cannot remove the leader label from this replica's Pod");
            }
            Err(_) => {
                tracing::warn!(pod = %self.pod(), when, timeout_seconds = CLEAR_TIMEOUT.as_secs(), "the API server did not answer in time; the leader label stays on this replica's Pod until it restarts");
            }
        }
    }

    async fn patch(&self, value: Option<&str>) -> Result<(), LeaderLabelError> {
        let patch = label_patch(value);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        match self
            .pods
            .patch(&self.name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(LeaderLabelError::NoPod {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            }),
            Err(kube::Error::Api(s)) if s.code == 403 => Err(LeaderLabelError::Forbidden {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            }),
            Err(source) => Err(LeaderLabelError::Api {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            }),
        }
    }
}

/// The JSON merge patch that sets the label to `value`, or removes it (`null`).
fn label_patch(value: Option<&str>) -> serde_json::Value {
    serde_json::json!({ "metadata": { "labels": { LEADER_LABEL: value } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_touches_only_the_leader_label() {
        assert_eq!(
            label_patch(Some("true")).to_string(),
            r#"{"metadata":{"labels":{"gitsync.dev/leader":"true"}}}"#
        );
        assert_eq!(
            label_patch(None).to_string(),
            r#"{"metadata":{"labels":{"gitsync.dev/leader":null}}}"#
        );
    }
}
