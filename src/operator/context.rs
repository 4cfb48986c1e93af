//! What every controller shares: the cluster client, the Event recorder, metrics, where caches
//! and credentials live, and the sync runners kept between reconciles.
//!
//! The runners are only a cache of work in progress: each one's state is also in its branch (see
//! [`crate::sync::runner`]), so losing them (a restart, a new leader) loses nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource as _};

use super::crd::{GitConnection, GitSync};
use super::credentials::CredentialProblem;
use super::error::{Backoff, Controller};
use crate::sync::runner::Syncer;
use crate::telemetry::metrics::Metrics;
use crate::workspace::Client as WorkspaceClient;

/// The field manager that owns every status gitsync writes.
pub const FIELD_MANAGER: &str = "gitsync-operator";

/// The key under which webhook deliveries are counted beside the inputs' epochs (no object
/// kind has this name).
const HOOK_KIND: &str = "webhook-delivery";

/// Writes an object's whole status by server-side apply, as gitsync's one field manager. The
/// status is sent whole every time: with one owner, a field left out is a field removed. An
/// object deleted meanwhile is not an error.
pub async fn apply_status<K>(
    api: &Api<K>,
    name: &str,
    status: &impl serde::Serialize,
) -> Result<(), kube::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    match api
        .patch_status(
            name,
            &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
            &kube::api::Patch::Apply(&patch),
        )
        .await
    {
        // Deleted while the reconcile ran: there is nothing left to report to.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

/// What the operator keeps for one GitSync between reconciles.
#[derive(Default)]
pub struct Slot {
    /// The runner, once the GitSync's inputs resolved.
    pub runner: Option<Runner>,
    /// When the next reconcile is due, and the wakers seen when it was scheduled: a wake-up
    /// before then with the same wakers (such as the controller's own status write) does no
    /// work at all, not even an API call.
    pub next_due: Option<(Instant, Wakers)>,
}

/// One GitSync's runner, and what it was built from (rebuilt when that changes).
pub struct Runner {
    pub fingerprint: u64,
    pub syncer: Syncer<WorkspaceClient>,
    pub interval: Duration,
    pub branch: String,
    /// The repository URL and the workspace endpoint: every message of this GitSync is
    /// scrubbed of the credentials they may carry.
    pub urls: [String; 2],
    /// The workspace it syncs, whose lock each run holds shared.
    pub workspace: WorkspaceKey,
    /// The forge pull requests are planned on (`spec.bidirectional`), and whose credentials
    /// Git uses for a GitHub App; `Err`: why there is none (the `Bidirectional` condition).
    pub forge: Option<Result<crate::forge::any::AnyForge, (&'static str, String)>>,
    /// Git authenticates with the forge's credentials (a GitHub App's installation token,
    /// renewed before each run).
    pub git_from_forge: bool,
    /// Whether the placeholders of applied, unmerged pull requests were recalled into the
    /// sync's memory since this runner was built (once, before its first sync).
    pub placeholders_recalled: bool,
    /// The object's generation and [`Wakers::inputs`] when the inputs were read, and when: they
    /// are read again (Secrets, the GitConnection) only when one of those changes, or after a
    /// while in case a watch event was missed.
    pub resolved: (Option<i64>, u64, Instant),
}

/// What makes a GitSync's reconcile run before its interval is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wakers {
    pub generation: Option<i64>,
    pub full_sync_requested_at: Option<String>,
    pub reconcile_requested_at: Option<String>,
    /// Counts changes of the Secrets and the GitConnection the GitSync uses
    /// ([`Context::inputs_changed`]).
    pub inputs: u64,
    /// Counts webhook deliveries about the GitSync's pull requests
    /// ([`Context::hook_delivered`]): a delivery runs the pull-request pass now.
    pub hooks: u64,
}

/// What makes a GitConnection's check run before its recheck is due: its generation and
/// [`Context::inputs_epoch`] (changes of its Secret).
pub type ConnectionWakers = (Option<i64>, u64);

/// How long to wait when nothing is due: the wakers are the ones the next run was scheduled
/// under and its time has not come. `None`: run now.
pub fn not_due<W: PartialEq>(
    next_due: Option<&(Instant, W)>,
    wakers: &W,
    now: Instant,
) -> Option<Duration> {
    let (due, seen) = next_due?;
    if seen != wakers {
        return None;
    }
    due.checked_duration_since(now).filter(|d| !d.is_zero())
}

/// A GitSync's slot, locked while a reconcile of that GitSync uses it.
pub type SlotHandle = Arc<tokio::sync::Mutex<Slot>>;

/// Identifies one Segment workspace: its API base URL and which token reaches it (on `us` and
/// `eu` the token picks the workspace). Two GitSyncs with the same endpoint and token share a
/// workspace, and so its lock. Holds a SHA-256 of the token, never the token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceKey {
    base_url: String,
    token_sha256: String,
}

impl WorkspaceKey {
    pub fn new(endpoint: &str, token: &str) -> WorkspaceKey {
        use sha2::Digest as _;
        WorkspaceKey {
            base_url: crate::workspace::ClientConfig::base_url_for(endpoint),
            token_sha256: hex::encode(sha2::Sha256::digest(token.as_bytes())),
        }
    }
}

impl std::fmt::Debug for WorkspaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The base URL may carry a password (a self-hosted endpoint): only its host is shown.
        let shown = crate::url::redacted(&self.base_url);
        write!(f, "{shown} (token {}…)", &self.token_sha256[..8])
    }
}

/// One lock per workspace. A forward sync only reads the workspace and takes it shared, so
/// GitSyncs sharing a workspace still run side by side; whatever changes a workspace (an
/// apply) takes it exclusively, so that no other apply and no sync runs in it meanwhile: a sync
/// would commit a half-applied workspace, a second apply would plan against it.
#[derive(Default)]
pub struct WorkspaceLocks {
    locks: std::sync::Mutex<HashMap<WorkspaceKey, Arc<tokio::sync::RwLock<()>>>>,
}

impl WorkspaceLocks {
    fn lock_for(&self, key: &WorkspaceKey) -> Arc<tokio::sync::RwLock<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Workspaces nobody holds or waits for are dropped, so the map stays as small as the
        // set of workspaces in use.
        locks.retain(|k, lock| k == key || Arc::strong_count(lock) > 1);
        locks.entry(key.clone()).or_default().clone()
    }

    /// Shared access, for work that only reads the workspace (a forward sync).
    pub async fn read(&self, key: &WorkspaceKey) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.lock_for(key).read_owned().await
    }

    /// Exclusive access, for work that changes the workspace (an apply): waits for the syncs
    /// and applies that hold it.
    pub async fn write(&self, key: &WorkspaceKey) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.lock_for(key).write_owned().await
    }

    /// The lock itself, for work that takes it exclusively for a while (a pull request's
    /// apply) with `try_write_owned`.
    pub fn handle(&self, key: &WorkspaceKey) -> Arc<tokio::sync::RwLock<()>> {
        self.lock_for(key)
    }

    /// Exclusive access now, or `None` while anything else holds the workspace.
    pub fn try_write(&self, key: &WorkspaceKey) -> Option<tokio::sync::OwnedRwLockWriteGuard<()>> {
        self.lock_for(key).try_write_owned().ok()
    }
}

/// What only the GitSync controller keeps: one slot per GitSync.
#[derive(Default)]
pub struct GitSyncState {
    slots: std::sync::Mutex<HashMap<(String, String), SlotHandle>>,
}

impl GitSyncState {
    /// The runner slot of one GitSync (created empty on first use).
    pub fn slot(&self, namespace: &str, name: &str) -> SlotHandle {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default()
            .clone()
    }

    fn remove(&self, namespace: &str, name: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// The GitSyncs the operator keeps something for.
    pub fn known(&self) -> Vec<(String, String)> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.keys().cloned().collect()
    }
}

/// What only the GitConnection controller keeps: when each connection's next check is due,
/// and under which wakers the last one ran.
#[derive(Default)]
pub struct ConnectionState {
    checked: std::sync::Mutex<HashMap<(String, String), (Instant, ConnectionWakers)>>,
}

impl ConnectionState {
    /// Whether GitConnection `namespace/name` was checked under `wakers` and its next check is
    /// not due yet: how long until it is.
    pub fn not_due(
        &self,
        namespace: &str,
        name: &str,
        wakers: &ConnectionWakers,
    ) -> Option<Duration> {
        let checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        not_due(
            checked.get(&(namespace.to_owned(), name.to_owned())),
            wakers,
            Instant::now(),
        )
    }

    /// Records that GitConnection `namespace/name` was checked under `wakers`, next due at `due`.
    pub fn checked(&self, namespace: &str, name: &str, wakers: ConnectionWakers, due: Instant) {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.insert((namespace.to_owned(), name.to_owned()), (due, wakers));
    }
}

/// The controllers' caches of the objects they watch (kept up to date by their watches): read
/// these rather than listing from the API server.
#[derive(Clone)]
pub struct Stores {
    pub gitsyncs: Store<GitSync>,
    pub connections: Store<GitConnection>,
}

/// What the controllers share, and what each keeps for itself.
///
/// Shared: the cluster client, the Event recorder, metrics, the state directory, the watched
/// objects' [`Stores`], the input epochs (watches of one controller note changes for objects of
/// another) and the workspace locks (a GitSync and, next, a pull request's apply may reach the
/// same workspace). Per controller: [`GitSyncState`], [`ConnectionState`]; a new controller adds
/// its own.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Cache repositories and credential files live under here.
    pub state_dir: PathBuf,
    pub stores: Stores,
    /// One lock per workspace, whichever controller or object reaches it.
    pub workspaces: WorkspaceLocks,
    /// Failed reconciles in a row per object, for the error policy.
    pub backoff: Backoff,
    /// (kind, namespace, name) -> [`Context::inputs_epoch`].
    inputs: std::sync::Mutex<HashMap<(String, String, String), u64>>,
    pub gitsyncs: GitSyncState,
    pub connections: ConnectionState,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        state_dir: PathBuf,
        stores: Stores,
    ) -> Context {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            state_dir,
            stores,
            workspaces: WorkspaceLocks::default(),
            backoff: Backoff::default(),
            inputs: std::sync::Mutex::new(HashMap::new()),
            gitsyncs: GitSyncState::default(),
            connections: ConnectionState::default(),
        }
    }

    /// Notes that a Secret (or GitConnection) that object `r` (a GitSync or a GitConnection)
    /// uses has changed; the watches that map such changes to objects call it, so that the
    /// object's next reconcile runs and reads its inputs again.
    pub fn inputs_changed<K: kube::Resource<DynamicType = ()>>(&self, r: &ObjectRef<K>) {
        let key = (
            K::kind(&()).into_owned(),
            r.namespace.clone().unwrap_or_default(),
            r.name.clone(),
        );
        let mut inputs = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        *inputs.entry(key).or_default() += 1;
    }

    /// Notes that a verified webhook delivery is about GitSync `r`'s pull requests, so that its
    /// next reconcile runs (the gate sees a new [`Wakers::hooks`]) although nothing else is due.
    pub fn hook_delivered(&self, r: &ObjectRef<GitSync>) {
        let key = (
            HOOK_KIND.to_owned(),
            r.namespace.clone().unwrap_or_default(),
            r.name.clone(),
        );
        let mut inputs = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        *inputs.entry(key).or_default() += 1;
    }

    /// How many webhook deliveries [`Context::hook_delivered`] noted for GitSync
    /// `namespace/name`.
    pub fn hook_epoch(&self, namespace: &str, name: &str) -> u64 {
        let key = (HOOK_KIND.to_owned(), namespace.to_owned(), name.to_owned());
        let inputs = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        inputs.get(&key).copied().unwrap_or(0)
    }

    /// How many times [`Context::inputs_changed`] was called for this object.
    pub fn inputs_epoch<K: kube::Resource<DynamicType = ()>>(
        &self,
        namespace: &str,
        name: &str,
    ) -> u64 {
        let key = (
            K::kind(&()).into_owned(),
            namespace.to_owned(),
            name.to_owned(),
        );
        let inputs = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        inputs.get(&key).copied().unwrap_or(0)
    }

    /// Counts a reconcile of `controller` that ended in `reason`.
    pub fn reconcile_error(&self, controller: Controller, reason: &str) {
        self.metrics.reconcile_error(controller.label(), reason);
    }

    /// Drops what the operator keeps for a GitSync that is gone: its runner, its metric series
    /// and its cache repository (the repository itself is left exactly as it is).
    pub fn forget(&self, namespace: &str, name: &str) {
        self.gitsyncs.remove(namespace, name);
        self.backoff.forget(Controller::GitSync, namespace, name);
        if let Ok(mut inputs) = self.inputs.lock() {
            inputs.remove(&(
                GitSync::kind(&()).into_owned(),
                namespace.to_owned(),
                name.to_owned(),
            ));
        }
        self.metrics
            .forget(&crate::telemetry::metrics::GitSyncKey::new(namespace, name));
        let cache = self.state_dir.join("cache").join(namespace).join(name);
        if let Err(e) = std::fs::remove_dir_all(&cache)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, cache = %cache.display(), "cannot remove the cache of a deleted GitSync");
        }
    }

    /// Publishes an Event about `object`; a failure to do so is logged, never fatal.
    pub async fn event(
        &self,
        object: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, object).await {
            tracing::warn!(error = %e, reason, "cannot publish an Event");
        }
    }

    /// Reads a Secret in `namespace`; `None` if it does not exist.
    pub async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, kube::Error> {
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
    }

    /// One key of a Secret, as text.
    pub async fn secret_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> Result<Result<String, CredentialProblem>, kube::Error> {
        let Some(secret) = self.secret(namespace, name).await? else {
            return Ok(Err(CredentialProblem::SecretNotFound {
                name: name.to_owned(),
            }));
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_owned())
            .filter(|v| !v.is_empty());
        Ok(value.ok_or_else(|| CredentialProblem::KeyNotFound {
            name: name.to_owned(),
            key: key.to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_is_its_endpoint_and_token_not_the_object() {
        let a = WorkspaceKey::new("us", "token-1");
        assert_eq!(
            a,
            WorkspaceKey::new("https://api.segmentapis.com/", "token-1")
        );
        assert_ne!(
            a,
            WorkspaceKey::new("us", "token-2"),
            "the token picks the workspace"
        );
        assert_ne!(a, WorkspaceKey::new("eu", "token-1"));
        let shown = format!(
            "{:?}",
            WorkspaceKey::new("http://u:hunter2@ws.example/", "token-1")
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("token-1"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn syncs_share_a_workspace_and_an_apply_excludes_them() {
        let locks = WorkspaceLocks::default();
        let ws = WorkspaceKey::new("us", "token-1");
        let other = WorkspaceKey::new("us", "token-2");
        // Two GitSyncs of one workspace sync side by side.
        let first = locks.read(&ws).await;
        let second = locks.read(&ws).await;
        // No apply while they run; another workspace is free.
        assert!(locks.try_write(&ws).is_none());
        assert!(locks.try_write(&other).is_some());
        drop((first, second));
        let apply = locks.try_write(&ws);
        assert!(apply.is_some());
        // While the apply runs, a second apply is refused and a sync waits.
        assert!(locks.try_write(&ws).is_none());
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.read(&ws)).await;
        assert!(waiting.is_err(), "a sync ran during an apply");
        drop(apply);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), locks.read(&ws))
                .await
                .is_ok()
        );
    }

    #[test]
    fn locks_nobody_holds_are_dropped() {
        let locks = WorkspaceLocks::default();
        for i in 0..100 {
            drop(locks.try_write(&WorkspaceKey::new("us", &format!("token-{i}"))));
        }
        let held = locks.try_write(&WorkspaceKey::new("eu", "kept"));
        drop(locks.try_write(&WorkspaceKey::new("us", "last")));
        let count = locks.locks.lock().map(|l| l.len()).unwrap_or(0);
        assert!(count <= 2, "{count} locks kept");
        drop(held);
    }
}
