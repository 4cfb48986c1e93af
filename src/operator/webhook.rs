//! The webhook listener (`gitsync operator --webhook-listen ADDR`): `POST /hooks/github` and
//! `POST /hooks/gitlab` take a forge's deliveries and wake the GitSyncs they concern.
//!
//! A delivery is checked, never trusted: its body is read (at most [`MAX_BODY`]), the
//! repository it names is looked up among the GitSyncs ([`HookTargets`]), and it must verify
//! against the webhook secret of at least one of them ([`crate::forge::webhook`], constant
//! time). Only then is it read, de-duplicated by its delivery id, and, when it is about a pull
//! request, a comment or a ping, each GitSync whose secret it verified against is woken. A wake
//! only says "look at this repository's pull requests again": the workflow reads the forge.
//!
//! Answers: 200 `accepted` (woken), 200 `duplicate`, 202 `ignored` (authentic, about something
//! else), 400 (no repository, not JSON, a header missing), 401 (no secret matches: also when no
//! GitSync syncs the repository, so that the answer does not tell which repositories are
//! synced), 413 (body too large), 503 (a standby replica, or the API server did not answer), 404
//! for any other path. Each is counted in `gitsync_webhook_deliveries_total{forge,result}`.
//!
//! Deliveries reach the leader: it labels its own Pod `gitsync.dev/leader: "true"`
//! ([`super::leader_label`]) and the webhook Service selects that label. The 503 of a standby
//! is the fallback for a delivery that reaches one anyway (during a takeover, or without the
//! label's RBAC).
//!
//! It must never log or answer with a body, a signature, a token or a secret: logs name the
//! forge, the delivery id, the repository, the event and the result. The listener itself needs
//! no cluster ([`router`], [`serve`]); [`ClusterTargets`] is the operator's [`HookTargets`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt as _};

use super::context::Stores;
use super::crd::{GitProvider, GitSync};
use crate::forge::ForgeKind;
use crate::forge::webhook::{self, Event};
use crate::telemetry::metrics::{DeliveryResult, Metrics};

/// The largest body taken: 5 MiB. A GitHub delivery about a pull request or a comment is tens
/// to hundreds of kilobytes (a comment or a description holds at most 65,536 characters); a
/// GitLab note hook carries the note
/// and the merge request's description, each up to 1,000,000 characters, so 1 MiB would refuse
/// real ones. The forges' own caps (25 MB) are far above what gitsync needs, and every
/// connection may hold this much in memory while it is read. A larger delivery gets 413; the
/// workflow's poll of open pull requests still finds what it was about.
pub const MAX_BODY: usize = 5 * 1024 * 1024;

/// How many delivery ids are remembered per forge to drop repeated deliveries (GitLab's
/// retries carry the same `Idempotency-Key`; a GitHub redelivery from its UI has a new id and
/// is taken again, which is harmless: a wake only makes the workflow look again).
pub const REMEMBERED_DELIVERIES: usize = 10_000;

/// How long a client may take to send its body (and wait for a turn) before it gets 408.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How many deliveries are handled at once; more wait. Bounds the memory bodies take
/// (`MAX_BODY` each) and the Secret reads an unauthenticated flood can cause.
const CONCURRENT_DELIVERIES: usize = 16;

/// How long a delivery waits for the controllers' first list of GitSyncs before it gets 503.
const STORES_WAIT: Duration = Duration::from_secs(5);

/// Which GitSync a delivery is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub namespace: String,
    pub name: String,
}

impl TargetKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> TargetKey {
        TargetKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// A GitSync that syncs the repository a delivery names, and the secret its deliveries are
/// signed with (GitHub) or carry (GitLab).
#[derive(Clone, PartialEq, Eq)]
pub struct HookTarget {
    pub key: TargetKey,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for HookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookTarget")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why the listener cannot say now which GitSyncs a delivery is for: it answers 503, and the
/// forge shows the delivery as failed (it can be redelivered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetsError {
    #[error(
        "this replica is standing by: only the replica holding the Lease takes webhook deliveries"
    )]
    Standby,
    #[error("cannot read the webhook secrets now: {0}")]
    Unavailable(String),
}

impl TargetsError {
    /// A short CamelCase reason for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            TargetsError::Standby => "Standby",
            TargetsError::Unavailable(_) => "SecretUnavailable",
        }
    }
}

/// Which GitSyncs take deliveries for a repository, with their webhook secrets. The operator's
/// is [`ClusterTargets`]; tests give a fixed list.
pub trait HookTargets: Send + Sync + 'static {
    /// The GitSyncs with pull requests enabled and a webhook secret that sync `repository`
    /// (GitHub `owner/repo`, GitLab `group/project`, as the delivery names it) on `forge`.
    fn targets(
        &self,
        forge: ForgeKind,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<HookTarget>, TargetsError>> + Send;
}

/// One GitSync to wake for one authentic delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    pub target: TargetKey,
    pub forge: ForgeKind,
    /// The delivery's id (for logs).
    pub delivery: String,
    /// What it is about: the pull request to look at again.
    pub event: Event,
}

/// One forge's delivery ids seen last: to look up, and in the order they came.
type Recent = (HashSet<String>, VecDeque<String>);

/// The delivery ids seen last, per forge, at most [`REMEMBERED_DELIVERIES`] each.
#[derive(Default)]
struct Seen {
    forges: Mutex<HashMap<ForgeKind, Recent>>,
}

impl Seen {
    /// Whether `id` is new for `forge`; remembers it (forgetting the oldest beyond the bound).
    fn first_time(&self, forge: ForgeKind, id: &str) -> bool {
        let mut forges = self.forges.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = forges.entry(forge).or_default();
        if set.contains(id) {
            return false;
        }
        set.insert(id.to_owned());
        order.push_back(id.to_owned());
        while order.len() > REMEMBERED_DELIVERIES {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

type WakeFn = Box<dyn Fn(Wake) + Send + Sync>;

struct Listener<T> {
    targets: T,
    wake: WakeFn,
    metrics: Arc<Metrics>,
    seen: Seen,
    turns: tokio::sync::Semaphore,
}

/// The routes, for serving or testing without a socket: `targets` says which GitSyncs a
/// delivery may be for, `wake` is called once per GitSync an authentic delivery concerns (it
/// must not block: the operator's sends on a channel), `metrics` counts each delivery.
pub fn router<T: HookTargets>(
    targets: T,
    wake: impl Fn(Wake) + Send + Sync + 'static,
    metrics: Arc<Metrics>,
) -> Router {
    let listener = Arc::new(Listener {
        targets,
        wake: Box::new(wake),
        metrics,
        seen: Seen::default(),
        turns: tokio::sync::Semaphore::new(CONCURRENT_DELIVERIES),
    });
    Router::new()
        .route(
            "/hooks/github",
            post(|State(l): State<Arc<Listener<T>>>, r: Request| async move {
                l.handle(ForgeKind::GitHub, r).await
            }),
        )
        .route(
            "/hooks/gitlab",
            post(|State(l): State<Arc<Listener<T>>>, r: Request| async move {
                l.handle(ForgeKind::GitLab, r).await
            }),
        )
        .with_state(listener)
}

/// Serves [`router`] on `listener` until `shutdown` resolves, then lets deliveries in flight
/// finish.
pub async fn serve<T: HookTargets>(
    listener: tokio::net::TcpListener,
    targets: T,
    wake: impl Fn(Wake) + Send + Sync + 'static,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(targets, wake, metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

/// What a delivery's handling ended in: the answer, and what is logged and counted.
struct Outcome {
    result: DeliveryResult,
    status: StatusCode,
    message: String,
}

impl Outcome {
    fn new(result: DeliveryResult, status: StatusCode, message: impl Into<String>) -> Outcome {
        Outcome {
            result,
            status,
            message: message.into(),
        }
    }
}

/// What is known of a delivery when its handling ends, for the log line: the repository once
/// read, the event and the delivery id once authenticated (before that, the headers' values).
#[derive(Default)]
struct Known {
    repository: Option<String>,
    event: Option<String>,
    delivery: Option<String>,
}

impl Known {
    fn repository(repository: String) -> Known {
        Known {
            repository: Some(repository),
            ..Known::default()
        }
    }
}

/// A header's value for a log line: text, cut short (it may come from anyone).
fn loggable(headers: &HeaderMap, name: &str) -> String {
    let value = headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    value.chars().take(80).collect()
}

/// Reads `body`, at most `limit` bytes: `None` once it is larger (nothing more is read).
async fn read_limited(body: Body, limit: usize) -> Result<Option<Vec<u8>>, axum::Error> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

impl<T: HookTargets> Listener<T> {
    async fn handle(&self, forge: ForgeKind, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let id_header = match forge {
            ForgeKind::GitHub => webhook::GITHUB_DELIVERY,
            ForgeKind::GitLab => webhook::GITLAB_IDEMPOTENCY_KEY,
        };
        let event_header = match forge {
            ForgeKind::GitHub => webhook::GITHUB_EVENT,
            ForgeKind::GitLab => webhook::GITLAB_EVENT,
        };
        let (outcome, known) = self.check(forge, &parts.headers, body).await;
        let woken = match outcome.result {
            DeliveryResult::Accepted => outcome.message.as_str(),
            _ => "",
        };
        tracing::info!(
            forge = forge.as_str(),
            delivery = %known
                .delivery
                .unwrap_or_else(|| loggable(&parts.headers, id_header)),
            event = %known
                .event
                .unwrap_or_else(|| loggable(&parts.headers, event_header)),
            repository = known.repository.as_deref().unwrap_or(""),
            result = outcome.result.as_str(),
            status = outcome.status.as_u16(),
            woken,
            "webhook delivery"
        );
        self.metrics
            .webhook_delivery(forge.as_str(), outcome.result);
        let mut message = outcome.message;
        message.push('\n');
        (
            outcome.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response()
    }

    /// The outcome, and what is known of the delivery for the log line.
    async fn check(&self, forge: ForgeKind, headers: &HeaderMap, body: Body) -> (Outcome, Known) {
        let too_large = || {
            Outcome::new(
                DeliveryResult::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} MiB", MAX_BODY >> 20),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return (too_large(), Known::default());
        }
        let read = tokio::time::timeout(READ_TIMEOUT, async {
            let turn = self.turns.acquire().await;
            (turn, read_limited(body, MAX_BODY).await)
        })
        .await;
        let (_turn, body) = match read {
            Err(_) => {
                let outcome = Outcome::new(
                    DeliveryResult::BadRequest,
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body was not received within {}s",
                        READ_TIMEOUT.as_secs()
                    ),
                );
                return (outcome, Known::default());
            }
            Ok((_, Ok(None))) => return (too_large(), Known::default()),
            Ok((_, Err(e))) => {
                let outcome = Outcome::new(
                    DeliveryResult::BadRequest,
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                );
                return (outcome, Known::default());
            }
            Ok((turn, Ok(Some(body)))) => (turn, body),
        };

        let Some(repository) = webhook::repository_hint(forge, &body) else {
            let outcome = Outcome::new(
                DeliveryResult::BadRequest,
                StatusCode::BAD_REQUEST,
                format!(
                    "the delivery names no repository ({}); gitsync takes {} deliveries about a repository, as JSON",
                    match forge {
                        ForgeKind::GitHub => "repository.full_name",
                        ForgeKind::GitLab => "project.path_with_namespace",
                    },
                    forge
                ),
            );
            return (outcome, Known::default());
        };
        let targets = match self.targets.targets(forge, &repository).await {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(forge = forge.as_str(), reason = e.reason(), error = %e, "cannot check a webhook delivery");
                let outcome = Outcome::new(
                    DeliveryResult::Unavailable,
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                );
                return (outcome, Known::repository(repository));
            }
        };
        let verified: Vec<TargetKey> = targets
            .into_iter()
            .filter(|t| verify(forge, &t.secret, &body, headers).is_ok())
            .map(|t| t.key)
            .collect();
        if verified.is_empty() {
            let outcome = Outcome::new(
                DeliveryResult::Unauthorized,
                StatusCode::UNAUTHORIZED,
                format!(
                    "the delivery matches no webhook secret; set the webhook's secret to the one in the webhookSecretRef of the GitSync that syncs this repository (its {} must be set)",
                    match forge {
                        ForgeKind::GitHub => "X-Hub-Signature-256",
                        ForgeKind::GitLab => "X-Gitlab-Token",
                    }
                ),
            );
            return (outcome, Known::repository(repository));
        }

        let delivery = match webhook::parse(forge, headers, &body) {
            Ok(d) => d,
            Err(e) => {
                let outcome = Outcome::new(
                    DeliveryResult::BadRequest,
                    StatusCode::BAD_REQUEST,
                    e.to_string(),
                );
                return (outcome, Known::repository(repository));
            }
        };
        let known = Known {
            repository: Some(repository),
            event: Some(delivery.event.kind().to_owned()),
            delivery: Some(delivery.id.clone()),
        };
        if !self.seen.first_time(forge, &delivery.id) {
            let outcome = Outcome::new(
                DeliveryResult::Duplicate,
                StatusCode::OK,
                "duplicate: this delivery was taken before",
            );
            return (outcome, known);
        }
        if let Event::Other(name) = &delivery.event {
            let outcome = Outcome::new(
                DeliveryResult::Ignored,
                StatusCode::ACCEPTED,
                format!(
                    "ignored: gitsync acts on pull requests and their comments, not on `{}` events",
                    name.chars().take(80).collect::<String>()
                ),
            );
            return (outcome, known);
        }
        let woken: Vec<String> = verified
            .iter()
            .map(|k| format!("{}/{}", k.namespace, k.name))
            .collect();
        for key in verified {
            (self.wake)(Wake {
                target: key,
                forge,
                delivery: delivery.id.clone(),
                event: delivery.event.clone(),
            });
        }
        let outcome = Outcome::new(
            DeliveryResult::Accepted,
            StatusCode::OK,
            format!("accepted: {}", woken.join(", ")),
        );
        (outcome, known)
    }
}

fn verify(
    forge: ForgeKind,
    secret: &[u8],
    body: &[u8],
    headers: &HeaderMap,
) -> Result<(), webhook::WebhookError> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match forge {
        ForgeKind::GitHub => webhook::verify_github(secret, body, value(webhook::GITHUB_SIGNATURE)),
        ForgeKind::GitLab => webhook::verify_gitlab(secret, value(webhook::GITLAB_TOKEN)),
    }
}

// ------------------------------------------------------------------------------------------
// The operator's targets.

/// The path of a repository URL (`https://host/owner/repo.git` -> `owner/repo`;
/// `ssh://git@host:22/group/sub/project` -> `group/sub/project`): without the scheme, the
/// authority, a query, a fragment, slashes at either end and a final `.git`.
fn repository_path(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let rest = &rest[rest.find('/')?..];
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let path = rest.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    (!path.is_empty()).then_some(path)
}

/// The URL's host, lower case, without user or port.
fn repository_host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

/// Whether `url` (a GitSync's repository) is `repository` as `forge` names it. Names are
/// compared case-insensitively (both forges route them so). On GitLab the URL's path may end
/// with the project's (an instance under a relative URL root: `https://host/gitlab/group/p`).
fn syncs_repository(url: &str, forge: ForgeKind, repository: &str) -> bool {
    let Some(path) = repository_path(url) else {
        return false;
    };
    let repository = repository.trim_matches('/');
    if path.eq_ignore_ascii_case(repository) {
        return true;
    }
    if forge != ForgeKind::GitLab || repository.is_empty() || path.len() <= repository.len() {
        return false;
    }
    let start = path.len() - repository.len();
    path.get(start..)
        .is_some_and(|tail| tail.eq_ignore_ascii_case(repository))
        && path.get(..start).is_some_and(|head| head.ends_with('/'))
}

/// Which forge a GitSync's repository is on, when it can be told: its GitConnection's provider,
/// else github.com or gitlab.com by host. `None`: unknown (a self-hosted host without a
/// connection saying which), which any forge's deliveries may be for.
fn forge_of(provider: Option<GitProvider>, url: &str) -> Option<ForgeKind> {
    match provider {
        Some(GitProvider::Github) => return Some(ForgeKind::GitHub),
        Some(GitProvider::Gitlab) => return Some(ForgeKind::GitLab),
        Some(GitProvider::Bitbucket | GitProvider::Gitea) => return None,
        Some(GitProvider::Generic) | None => {}
    }
    match repository_host(url)?.as_str() {
        "github.com" => Some(ForgeKind::GitHub),
        "gitlab.com" => Some(ForgeKind::GitLab),
        _ => None,
    }
}

struct Cluster {
    client: Client,
    stores: Stores,
}

/// The operator's [`HookTargets`]: the GitSyncs of the controller's store with
/// `bidirectional.enabled` and a `webhookSecretRef`, whose repository is the delivery's; their
/// secrets are read from the API server for each delivery (deliveries are few; a Secret's new
/// value counts at once), trimmed of surrounding whitespace (a file's trailing newline). Until [`ClusterTargets::activate`] (a standby replica, or a leader
/// whose controllers are not started yet), every delivery gets 503.
#[derive(Clone, Default)]
pub struct ClusterTargets {
    cluster: Arc<OnceLock<Cluster>>,
}

impl ClusterTargets {
    /// Targets that answer [`TargetsError::Standby`] until activated.
    pub fn standby() -> ClusterTargets {
        ClusterTargets::default()
    }

    /// Starts looking GitSyncs up in `stores` (the controllers' own). A second call changes
    /// nothing.
    pub fn activate(&self, client: Client, stores: Stores) {
        let _ = self.cluster.set(Cluster { client, stores });
    }
}

impl HookTargets for ClusterTargets {
    async fn targets(
        &self,
        forge: ForgeKind,
        repository: &str,
    ) -> Result<Vec<HookTarget>, TargetsError> {
        let Some(cluster) = self.cluster.get() else {
            return Err(TargetsError::Standby);
        };
        // Right after the Lease is taken the stores are still being filled: an empty store
        // would refuse a good delivery with 401.
        let listed = async {
            cluster.stores.gitsyncs.wait_until_ready().await.is_ok()
                && cluster.stores.connections.wait_until_ready().await.is_ok()
        };
        if !tokio::time::timeout(STORES_WAIT, listed)
            .await
            .unwrap_or(false)
        {
            return Err(TargetsError::Unavailable(
                "the GitSyncs and GitConnections are not listed yet".into(),
            ));
        }
        let connections = cluster.stores.connections.state();
        let candidates: Vec<(TargetKey, crate::operator::crd::SecretKeyRef)> = cluster
            .stores
            .gitsyncs
            .state()
            .iter()
            .filter(|gs| gs.spec.bidirectional.enabled)
            .filter_map(|gs: &Arc<GitSync>| {
                let secret = gs.spec.bidirectional.webhook_secret_ref.clone()?;
                let namespace = gs.namespace().unwrap_or_default();
                let url = &gs.spec.repository.url;
                let provider = gs.spec.connection_ref.as_ref().and_then(|c| {
                    connections
                        .iter()
                        .find(|conn| {
                            conn.namespace().as_deref() == Some(namespace.as_str())
                                && conn.name_any() == c.name
                        })
                        .map(|conn| conn.spec.provider)
                });
                let on_forge = forge_of(provider, url).is_none_or(|f| f == forge);
                (on_forge && syncs_repository(url, forge, repository))
                    .then(|| (TargetKey::new(namespace, gs.name_any()), secret))
            })
            .collect();
        let mut targets = Vec::with_capacity(candidates.len());
        for (key, secret_ref) in candidates {
            let api = Api::<Secret>::namespaced(cluster.client.clone(), &key.namespace);
            let secret = api.get_opt(&secret_ref.name).await.map_err(|e| {
                TargetsError::Unavailable(format!(
                    "reading Secret {}/{}: {e}",
                    key.namespace, secret_ref.name
                ))
            })?;
            let value = secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get(&secret_ref.key))
                .map(|v| v.0.trim_ascii().to_vec())
                .filter(|v| !v.is_empty());
            match value {
                Some(secret) => targets.push(HookTarget { key, secret }),
                // The GitSync's reconcile reports a missing Secret or key in its status.
                None => tracing::debug!(
                    namespace = %key.namespace,
                    name = %key.name,
                    secret = %secret_ref.name,
                    key = %secret_ref.key,
                    "the webhook Secret or its key is missing"
                ),
            }
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths_of_urls() {
        let cases: &[(&str, Option<&str>)] = &[
            ("https://github.com/acme/infra.git", Some("acme/infra")),
            ("https://github.com/acme/infra", Some("acme/infra")),
            ("https://github.com/acme/infra/", Some("acme/infra")),
            (
                "https://x-access-token:t@github.com/acme/infra.git",
                Some("acme/infra"),
            ),
            ("ssh://git@github.com/acme/infra.git", Some("acme/infra")),
            (
                "ssh://git@gitlab.example:2222/group/sub/project.git",
                Some("group/sub/project"),
            ),
            (
                "https://gitlab.example/group/project.git?x=1#y",
                Some("group/project"),
            ),
            ("https://github.com", None),
            ("https://github.com/", None),
            ("git@github.com:acme/infra.git", None),
        ];
        for (url, want) in cases {
            assert_eq!(repository_path(url), *want, "{url}");
        }
        assert_eq!(
            repository_host("https://u:p@GitHub.com:443/a/b").as_deref(),
            Some("github.com")
        );
    }

    #[test]
    fn which_gitsync_syncs_a_delivered_repository() {
        use ForgeKind::{GitHub, GitLab};
        let cases: &[(&str, ForgeKind, &str, bool)] = &[
            (
                "https://github.com/acme/infra.git",
                GitHub,
                "acme/infra",
                true,
            ),
            (
                "https://github.com/Acme/Infra.git",
                GitHub,
                "acme/infra",
                true,
            ),
            (
                "https://github.com/acme/infra.git",
                GitHub,
                "acme/infra2",
                false,
            ),
            ("https://github.com/acme/infra.git", GitHub, "acme", false),
            (
                "https://github.com/acme/infra.git",
                GitHub,
                "other/acme/infra",
                false,
            ),
            (
                "https://ghe.example/x/acme/infra.git",
                GitHub,
                "acme/infra",
                false,
            ),
            (
                "https://gitlab.example/group/sub/project.git",
                GitLab,
                "group/sub/project",
                true,
            ),
            (
                "https://gitlab.example/gitlab/group/project.git",
                GitLab,
                "group/project",
                true,
            ),
            (
                "https://gitlab.example/group/xproject.git",
                GitLab,
                "project",
                false,
            ),
            (
                "https://gitlab.example/group/project.git",
                GitLab,
                "sub/group/project",
                false,
            ),
        ];
        for (url, forge, repository, want) in cases {
            assert_eq!(
                syncs_repository(url, *forge, repository),
                *want,
                "{url} {repository}"
            );
        }
    }

    #[test]
    fn the_forge_of_a_repository() {
        use ForgeKind::{GitHub, GitLab};
        let cases: &[(Option<GitProvider>, &str, Option<ForgeKind>)] = &[
            (
                Some(GitProvider::Github),
                "https://ghe.example/a/b",
                Some(GitHub),
            ),
            (
                Some(GitProvider::Gitlab),
                "https://git.example/a/b",
                Some(GitLab),
            ),
            (Some(GitProvider::Gitea), "https://github.com/a/b", None),
            (
                Some(GitProvider::Generic),
                "https://github.com/a/b",
                Some(GitHub),
            ),
            (None, "https://gitlab.com/a/b", Some(GitLab)),
            (None, "https://git.example/a/b", None),
        ];
        for (provider, url, want) in cases {
            assert_eq!(forge_of(*provider, url), *want, "{provider:?} {url}");
        }
    }

    #[test]
    fn seen_ids_are_bounded_per_forge() {
        let seen = Seen::default();
        assert!(seen.first_time(ForgeKind::GitHub, "a"));
        assert!(!seen.first_time(ForgeKind::GitHub, "a"));
        assert!(seen.first_time(ForgeKind::GitLab, "a"), "per forge");
        for i in 0..REMEMBERED_DELIVERIES {
            assert!(seen.first_time(ForgeKind::GitHub, &i.to_string()));
        }
        assert!(
            seen.first_time(ForgeKind::GitHub, "a"),
            "the oldest is forgotten"
        );
        assert!(!seen.first_time(ForgeKind::GitHub, &(REMEMBERED_DELIVERIES - 1).to_string()));
        let forges = seen.forges.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &forges[&ForgeKind::GitHub];
        assert_eq!(
            (set.len(), order.len()),
            (REMEMBERED_DELIVERIES, REMEMBERED_DELIVERIES)
        );
    }

    #[test]
    fn a_target_never_shows_its_secret() {
        let t = HookTarget {
            key: TargetKey::new("ns", "a"),
            secret: b"hunter2".to_vec(),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
