//! `gitsync operator`: leader election, the three controllers, health and metrics, the webhook
//! listener, shutdown.
//!
//! Every replica serves `/healthz`, `/readyz` and `/metrics` and competes for one Lease; only the
//! holder runs controllers, so two replicas never both write to a branch or a status. A replica
//! that loses the Lease exits (its Deployment restarts it as a standby) rather than risk writing
//! beside the new leader. On SIGTERM or Ctrl-C, reconciles in flight finish, then the Lease is
//! released so that a standby takes over at once.
//!
//! With `--pod-name`, the leader labels its own Pod ([`super::leader_label`]) while it holds the
//! Lease, so that the webhook Service routes deliveries to it; every replica removes a stale
//! label from its Pod when it starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, ResourceExt as _};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::{mpsc, watch};

use super::connection::{reconcile_connection, reconcile_sync_secret};
use super::context::{Context, Stores};
use super::crd::{GitConnection, GitSync, SyncSecret};
use super::error::{self, error_policy, tracked};
use super::gitsync;
use super::leader_label::LeaderLabel;
use super::webhook::{self, ClusterTargets, Wake};
use crate::telemetry::http::Health;
use crate::telemetry::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    /// Watch only custom resources with these labels (for sharding across deployments).
    pub label_selector: Option<String>,
    /// Cache repositories and credential files.
    pub state_dir: PathBuf,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub listen: SocketAddr,
    pub lease_name: String,
    pub lease_namespace: String,
    /// This replica's name in the Lease.
    pub identity: String,
    /// Seconds a Lease stays valid without renewal: how long a standby waits for a dead leader.
    pub lease_seconds: u64,
    /// How many GitSyncs sync at the same time (full syncs of large workspaces use memory).
    pub concurrency: u16,
    /// Where forges' webhook deliveries are taken (`/hooks/github`, `/hooks/gitlab`); `None`:
    /// no listener.
    pub webhook_listen: Option<SocketAddr>,
    /// This replica's own Pod (`POD_NAME`), labelled `gitsync.dev/leader: "true"` while it holds
    /// the Lease; `None`: no label.
    pub pod_name: Option<String>,
    /// The Pod's namespace (`POD_NAMESPACE`); `None`: the Lease's (which is the Pod's unless
    /// `--lease-namespace` says otherwise).
    pub pod_namespace: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot serve health and metrics on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot take webhook deliveries on {addr}: {source}; give --webhook-listen a free address"
    )]
    WebhookListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the Lease {0}: stopping so that only the new leader writes")]
    LostLease(String),
    #[error(
        "cannot create the state directory {}: {source}; give the operator a writable directory (an emptyDir or a volume)",
        path.display()
    )]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn run(config: OperatorConfig) -> Result<(), OperatorError> {
    // Everything the controllers do on disk (cache repositories, key files, `git ls-remote` of
    // a connection check) happens under it: made before anything needs it, or the start fails.
    std::fs::create_dir_all(&config.state_dir).map_err(|source| OperatorError::StateDir {
        path: config.state_dir.clone(),
        source,
    })?;
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::new());
    let health = Health::new();
    health.set_not_ready("waiting for the Lease");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = {
        let rx = stop_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| OperatorError::Listen {
            addr: config.listen,
            source,
        })?;
    tokio::spawn(crate::telemetry::http::serve(
        listener,
        metrics.clone(),
        health.clone(),
        stopped(),
    ));

    // Every replica listens from the start, so that a bad address stops it at once; a standby
    // answers 503 until it holds the Lease and its controllers run (the webhook Service routes
    // to the leader's labelled Pod, so that is rare).
    let webhooks = match config.webhook_listen {
        Some(addr) => Some(start_webhooks(addr, metrics.clone(), stopped()).await?),
        None => None,
    };

    let lease = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
        .with_namespace(&config.lease_namespace)
        .with_identity(&config.identity)
        .with_duration(config.lease_seconds)
        .with_grace(config.lease_seconds.div_ceil(3).max(1))
        .with_field_manager(super::context::FIELD_MANAGER)
        .build()
        .await?;
    // A label left on this Pod by a container that was killed while leading goes first: a
    // standby must not take webhook deliveries.
    let label = config.pod_name.as_deref().map(|name| {
        let namespace = config
            .pod_namespace
            .as_deref()
            .unwrap_or(&config.lease_namespace);
        LeaderLabel::new(client.clone(), namespace, name)
    });
    if let Some(label) = &label {
        label.clear_or_warn("starting").await;
    }
    let (mut leader, lease_task) = lease.watch().await;
    // A standby is ready: it serves and can take over.
    health.set_standby();
    tracing::info!(identity = %config.identity, lease = %config.lease_name, "standing by for the Lease");
    loop {
        if *leader.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = leader.changed() => {
                if changed.is_err() {
                    return Err(OperatorError::LostLease(config.lease_name.clone()));
                }
            }
            _ = stopped() => return Ok(()),
        }
    }
    tracing::info!(identity = %config.identity, "holding the Lease; starting the controllers");
    metrics.set_leader(true);
    let marking = label.clone().map(|label| {
        tokio::spawn(async move {
            label.mark_until_done().await;
        })
    });

    let controllers = run_controllers(
        client,
        metrics.clone(),
        &config,
        health.clone(),
        webhooks,
        stopped,
    );
    let result = tokio::select! {
        _ = controllers => Ok(()),
        _ = async {
            while leader.changed().await.is_ok() {
                if !*leader.borrow() {
                    return;
                }
            }
        } => Err(OperatorError::LostLease(config.lease_name.clone())),
    };
    metrics.set_leader(false);
    // The label goes before the Lease, so that the Service stops routing to this replica before
    // a standby takes over.
    if let Some(marking) = marking {
        marking.abort();
        // Gone (cancelled or done) before the label is removed.
        let _ = marking.await;
    }
    if let Some(label) = &label {
        label
            .clear_or_warn(if result.is_ok() {
                "stopping"
            } else {
                "lost the Lease"
            })
            .await;
    }
    // Closing the channel makes the lease task release the Lease.
    drop(leader);
    let _ = lease_task.await;
    result
}

/// The webhook listener's side the controllers take over: the targets to activate once the
/// stores exist, and the GitSyncs its deliveries wake.
struct Webhooks {
    targets: ClusterTargets,
    wakes: mpsc::Receiver<ObjectRef<GitSync>>,
}

/// How many wakes may wait for the GitSync controller; beyond that a wake is dropped (the
/// workflow's poll still finds the pull request).
const PENDING_WAKES: usize = 1024;

/// Binds `addr` and serves the webhook listener on it until `shutdown`.
async fn start_webhooks(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Webhooks, OperatorError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| OperatorError::WebhookListen { addr, source })?;
    let targets = ClusterTargets::standby();
    let (tx, wakes) = mpsc::channel(PENDING_WAKES);
    let wake = move |wake: Wake| {
        let gitsync = ObjectRef::<GitSync>::new(&wake.target.name).within(&wake.target.namespace);
        if let Err(e) = tx.try_send(gitsync) {
            tracing::warn!(
                namespace = %wake.target.namespace,
                name = %wake.target.name,
                delivery = %wake.delivery,
                error = %e,
                "cannot wake a GitSync for a webhook delivery; its poll will find the pull request"
            );
        }
    };
    tracing::info!(%addr, "taking webhook deliveries on /hooks/github and /hooks/gitlab");
    tokio::spawn(webhook::serve(
        listener,
        targets.clone(),
        wake,
        metrics,
        shutdown,
    ));
    Ok(Webhooks { targets, wakes })
}

/// GitSyncs that read Secret `secret` (see [`GitSync::secret_refs`]): directly (the workspace
/// token, the webhook secret) or through their GitConnection.
fn gitsyncs_using_secret(
    gitsyncs: &Store<GitSync>,
    connections: &Store<GitConnection>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<GitSync>> {
    let ns = secret.namespace();
    let name = secret.name_any();
    gitsyncs
        .state()
        .iter()
        .filter(|gs| gs.namespace() == ns)
        .filter(|gs| {
            let refs = gs.secret_refs();
            let connection_secret = refs.connection.and_then(|c| {
                connections
                    .state()
                    .iter()
                    .find(|conn| conn.namespace() == ns && conn.name_any() == c)
                    .map(|conn| conn.spec.secret_ref.name.clone())
            });
            refs.include(&name, connection_secret.as_deref())
        })
        .map(|gs| ObjectRef::from_obj(gs.as_ref()))
        .collect()
}

/// GitSyncs that read SyncSecret `sync_secret`: every GitSync of its namespace that plans and
/// applies pull requests (a plan's placeholders may name any SyncSecret of the namespace).
fn gitsyncs_using_sync_secret<'a>(
    gitsyncs: impl IntoIterator<Item = &'a GitSync>,
    sync_secret: &SyncSecret,
) -> Vec<ObjectRef<GitSync>> {
    let ns = sync_secret.namespace();
    gitsyncs
        .into_iter()
        .filter(|gs| gs.namespace() == ns && gs.spec.bidirectional.enabled)
        .map(ObjectRef::from_obj)
        .collect()
}

/// Notes each of `refs` as having changed inputs, and hands them on to be reconciled.
fn inputs_changed<K: kube::Resource<DynamicType = ()>>(
    ctx: &Context,
    refs: Vec<ObjectRef<K>>,
) -> Vec<ObjectRef<K>> {
    for r in &refs {
        ctx.inputs_changed(r);
    }
    refs
}

async fn run_controllers<F, Fut>(
    client: Client,
    metrics: Arc<Metrics>,
    config: &OperatorConfig,
    health: Health,
    webhooks: Option<Webhooks>,
    stopped: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let crs = watcher::Config {
        label_selector: config.label_selector.clone(),
        ..Default::default()
    };
    fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let ns = &config.namespace;
    // Secrets are watched by their metadata only: a change of one is all the controllers need
    // to know (its resourceVersion moves), and they read the few they use when they run. A
    // cluster-wide watch with data would keep every Secret of the cluster in memory.
    fn secrets(client: &Client, namespace: &Option<String>) -> Api<PartialObjectMeta<Secret>> {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }

    // Status writes wake a controller too (they change the object); a GitSync's reconcile
    // decides first whether work is due, so such wake-ups cost no API call and no sync.
    let gitsync_controller = Controller::new(api::<GitSync>(&client, ns), crs.clone());
    let gitsyncs = gitsync_controller.store();
    let connection_controller = Controller::new(api::<GitConnection>(&client, ns), crs.clone());
    let connections = connection_controller.store();
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        config.state_dir.clone(),
        Stores {
            gitsyncs: gitsyncs.clone(),
            connections: connections.clone(),
        },
    ));

    // A changed Secret or GitConnection is also noted for the GitSyncs using it: their inputs
    // are read again, which is the only time a reconcile reads them.
    let by_secret = {
        let gitsyncs = gitsyncs.clone();
        let connections = connections.clone();
        let ctx = ctx.clone();
        move |secret: PartialObjectMeta<Secret>| {
            inputs_changed(
                &ctx,
                gitsyncs_using_secret(&gitsyncs, &connections, &secret),
            )
        }
    };
    let by_connection = {
        let gitsyncs = gitsyncs.clone();
        let ctx = ctx.clone();
        move |conn: GitConnection| {
            let ns = conn.namespace();
            let name = conn.name_any();
            let refs = gitsyncs
                .state()
                .iter()
                .filter(|gs| {
                    gs.namespace() == ns
                        && gs
                            .spec
                            .connection_ref
                            .as_ref()
                            .is_some_and(|c| c.name == name)
                })
                .map(|gs| ObjectRef::from_obj(gs.as_ref()))
                .collect::<Vec<_>>();
            inputs_changed(&ctx, refs)
        }
    };
    // A SyncSecret made, changed or deleted: a pull request's plan that named its placeholder is
    // planned again.
    let by_sync_secret = {
        let gitsyncs = gitsyncs.clone();
        let ctx = ctx.clone();
        move |sync_secret: SyncSecret| {
            let state = gitsyncs.state();
            inputs_changed(
                &ctx,
                gitsyncs_using_sync_secret(state.iter().map(|gs| gs.as_ref()), &sync_secret),
            )
        }
    };
    // Deleted GitSyncs are not reconciled (there is no finalizer: deleting one must never wait
    // for the operator); a sweep drops what is kept for them instead.
    let sweep = {
        let gitsyncs = gitsyncs.clone();
        let ctx = ctx.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tick.tick().await;
                if gitsyncs.wait_until_ready().await.is_err() {
                    continue;
                }
                let live: std::collections::HashSet<(String, String)> = gitsyncs
                    .state()
                    .iter()
                    .map(|gs| (gs.namespace().unwrap_or_default(), gs.name_any()))
                    .collect();
                for (namespace, name) in ctx.gitsyncs.known() {
                    if !live.contains(&(namespace.clone(), name.clone())) {
                        tracing::info!(%namespace, %name, "GitSync deleted; dropping its runner, metrics and cache");
                        ctx.forget(&namespace, &name);
                    }
                }
            }
        }
    };
    let controller_config =
        kube::runtime::controller::Config::default().concurrency(config.concurrency);
    // Webhook deliveries wake the GitSyncs they verified against.
    let gitsync_controller = match webhooks {
        Some(Webhooks { targets, wakes }) => {
            targets.activate(
                client.clone(),
                Stores {
                    gitsyncs: gitsyncs.clone(),
                    connections: connections.clone(),
                },
            );
            let noted = ctx.clone();
            gitsync_controller.reconcile_on(futures_util::stream::unfold(
                (wakes, noted),
                |(mut wakes, noted)| async move {
                    let gitsync = wakes.recv().await?;
                    // The gate runs a reconcile only for a new waker: this one.
                    noted.hook_delivered(&gitsync);
                    tracing::debug!(
                        namespace = gitsync.namespace.as_deref().unwrap_or_default(),
                        name = %gitsync.name,
                        "a webhook delivery wakes the GitSync"
                    );
                    Some((gitsync, (wakes, noted)))
                },
            ))
        }
        None => gitsync_controller,
    };
    let gitsync_controller = gitsync_controller
        .with_config(controller_config)
        .watches(secrets(&client, ns), Default::default(), by_secret)
        .watches(
            api::<GitConnection>(&client, ns),
            crs.clone(),
            by_connection,
        )
        .watches(api::<SyncSecret>(&client, ns), crs.clone(), by_sync_secret)
        .graceful_shutdown_on(stopped())
        .run(
            |gs, ctx| tracked(error::Controller::GitSync, gs, ctx, gitsync::reconcile),
            error_policy(error::Controller::GitSync),
            ctx.clone(),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "GitSync controller");
            }
        });

    let connections_by_secret = {
        let connections = connections.clone();
        let ctx = ctx.clone();
        move |secret: PartialObjectMeta<Secret>| {
            let ns = secret.namespace();
            let name = secret.name_any();
            let refs = connections
                .state()
                .iter()
                .filter(|c| c.namespace() == ns && c.spec.secret_ref.name == name)
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>();
            inputs_changed(&ctx, refs)
        }
    };
    let connection_controller = connection_controller
        .watches(
            secrets(&client, ns),
            Default::default(),
            connections_by_secret,
        )
        .graceful_shutdown_on(stopped())
        .run(
            |conn, ctx| {
                tracked(
                    error::Controller::GitConnection,
                    conn,
                    ctx,
                    reconcile_connection,
                )
            },
            error_policy(error::Controller::GitConnection),
            ctx.clone(),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "GitConnection controller");
            }
        });

    let secret_controller = Controller::new(api::<SyncSecret>(&client, ns), crs.clone())
        .graceful_shutdown_on(stopped())
        .run(
            |secret, ctx| {
                tracked(
                    error::Controller::SyncSecret,
                    secret,
                    ctx,
                    reconcile_sync_secret,
                )
            },
            error_policy(error::Controller::SyncSecret),
            ctx.clone(),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "SyncSecret controller");
            }
        });

    // Ready once the stores the controllers map watch events through hold the cluster's
    // objects: before that, a Secret's change would wake nobody.
    let synced = {
        let gitsyncs = gitsyncs.clone();
        let connections = connections.clone();
        async move {
            health.set_not_ready("the watches of GitSyncs and GitConnections have not synced yet");
            if gitsyncs.wait_until_ready().await.is_ok()
                && connections.wait_until_ready().await.is_ok()
            {
                tracing::info!("watches synced; ready");
                health.set_ready();
            }
            std::future::pending::<()>().await
        }
    };
    tokio::select! {
        _ = async {
            futures_util::join!(gitsync_controller, connection_controller, secret_controller)
        } => {}
        _ = sweep => {}
        _ = synced => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::crd::{GitSyncSpec, SecretKeyRef, SyncSecretSpec};

    fn gitsync(namespace: &str, name: &str, bidirectional: bool) -> GitSync {
        let mut spec = GitSyncSpec {
            workspace: Default::default(),
            connection_ref: None,
            repository: Default::default(),
            resource_types: Vec::new(),
            interval: "1m".into(),
            author: Default::default(),
            suspend: false,
            bidirectional: Default::default(),
        };
        spec.bidirectional.enabled = bidirectional;
        let mut gs = GitSync::new(name, spec);
        gs.metadata.namespace = Some(namespace.into());
        gs
    }

    #[test]
    fn a_sync_secret_wakes_the_bidirectional_gitsyncs_of_its_namespace_only() {
        let gitsyncs = [
            gitsync("team-a", "planned", true),
            gitsync("team-a", "one-way", false),
            gitsync("team-b", "elsewhere", true),
            gitsync("team-a", "also-planned", true),
        ];
        let mut sync_secret = SyncSecret::new(
            "amplitude",
            SyncSecretSpec {
                name: "amplitude_key".into(),
                secret_ref: SecretKeyRef {
                    name: "keys".into(),
                    key: "amplitude".into(),
                },
            },
        );
        sync_secret.metadata.namespace = Some("team-a".into());
        let woken: Vec<String> = gitsyncs_using_sync_secret(&gitsyncs, &sync_secret)
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
            .collect();
        assert_eq!(woken, ["team-a/planned", "team-a/also-planned"]);
        sync_secret.metadata.namespace = Some("team-c".into());
        assert!(gitsyncs_using_sync_secret(&gitsyncs, &sync_secret).is_empty());
    }
}
