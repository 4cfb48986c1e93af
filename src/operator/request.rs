//! Asking a running operator for something through the API server, as `gitsync full-sync` does:
//! set an annotation, then wait for the status to say it was handled (the way `flux reconcile`
//! works). Only the annotation is written; the spec and status are never touched from here.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use serde_json::json;

use super::conditions::READY;
use super::crd::{FULL_SYNC_ANNOTATION, GitSync};
use crate::workspace::now_rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot reach the cluster: {0}")]
    Client(#[source] kube::Error),
    #[error("GitSync {name} not found in namespace {namespace}")]
    NotFound { name: String, namespace: String },
    #[error("cannot annotate GitSync {name}: {source}")]
    Annotate { name: String, source: kube::Error },
    #[error(
        "the operator has not handled the request within {0:?}; is it running (kubectl get pods), and is the GitSync suspended?"
    )]
    Timeout(Duration),
    #[error("watching GitSync {name}: {source}")]
    Watch {
        name: String,
        source: kube::runtime::wait::Error,
    },
    #[error("the full sync failed: {0}")]
    Failed(String),
}

/// Requests a full sync of GitSync `name`; with `wait`, waits for its result.
pub async fn full_sync(
    name: &str,
    namespace: Option<&str>,
    wait: Option<Duration>,
) -> Result<String, RequestError> {
    let client = Client::try_default().await.map_err(RequestError::Client)?;
    let namespace = namespace
        .map(str::to_owned)
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let api = Api::<GitSync>::namespaced(client, &namespace);
    let requested = now_rfc3339();
    let patch = json!({ "metadata": { "annotations": { FULL_SYNC_ANNOTATION: requested } } });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {
            return Err(RequestError::NotFound {
                name: name.to_owned(),
                namespace,
            });
        }
        Err(source) => {
            return Err(RequestError::Annotate {
                name: name.to_owned(),
                source,
            });
        }
    }
    let Some(timeout) = wait else {
        return Ok(format!(
            "full sync requested for GitSync {namespace}/{name} ({FULL_SYNC_ANNOTATION}={requested})"
        ));
    };
    let handled = {
        let requested = requested.clone();
        move |gs: Option<&GitSync>| {
            gs.and_then(|g| g.status.as_ref())
                .and_then(|s| s.last_handled_full_sync_at.as_deref())
                == Some(requested.as_str())
        }
    };
    let done = tokio::time::timeout(timeout, await_condition(api, name, handled))
        .await
        .map_err(|_| RequestError::Timeout(timeout))?
        .map_err(|source| RequestError::Watch {
            name: name.to_owned(),
            source,
        })?;
    let ready = done
        .as_ref()
        .and_then(|g| g.status.as_ref())
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY).cloned());
    match ready {
        Some(c) if c.status == "True" => Ok(format!("GitSync {namespace}/{name}: {}", c.message)),
        Some(c) => Err(RequestError::Failed(format!("{}: {}", c.reason, c.message))),
        None => Err(RequestError::Failed(
            "no Ready condition in the status".into(),
        )),
    }
}
