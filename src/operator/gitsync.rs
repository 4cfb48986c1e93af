//! The GitSync controller: one workspace kept in sync with one branch.
//!
//! A reconcile is cut the way Flux's controllers are, one function per stage:
//!
//! ```text
//! stop_if_deleted_or_suspended → gate → ensure_runner (resolve) → run → summarize → write
//! ```
//!
//! - [`stop_if_deleted_or_suspended`]: a deleted GitSync is forgotten (the repository stays
//!   exactly as it is); a suspended one says so and waits for a change.
//! - [`gate`]: a wake-up before the next run is due, with no new waker (generation, the
//!   full-sync and reconcile annotations, a change of a Secret or the GitConnection it uses),
//!   returns before any API call.
//! - [`ensure_runner`]: reads the inputs (the workspace token, the GitConnection's credentials)
//!   when one of them changed, and keeps one [`Syncer`] per GitSync while they stay the same.
//! - [`run`]: one step of the sync, holding its workspace's lock shared: the first run resumes
//!   from the branch or runs a full sync, later runs poll; the
//!   `gitsync.dev/full-sync-requested-at` annotation asks for a full sync.
//! - [`summarize`]: pure; from the previous status, what was found and the time, the new
//!   status, the Events and when to run again. Table-tested below.
//! - [`write`]: the status by server-side apply (one field manager, never `.spec`), then the
//!   Events.
//!
//! Metrics are recorded beside summarize ([`record`]), never inside it. With
//! `spec.bidirectional.enabled`, the sync is followed by the pull-request pass
//! ([`review_pulls`], around [`super::pulls`]), and the `Bidirectional` condition says whether
//! pull requests are planned (True) or why not (False, with a Warning Event once, and `Ready`
//! saying the sync is one-way). A webhook delivery is a waker ([`Wakers::hooks`]).

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;
use kube::{Api, Resource as _, ResourceExt as _};

use super::conditions::{BIDIRECTIONAL, CONNECTION_ISSUES, State, condition, conditions};
use super::context::{Context, Runner, Slot, Wakers, WorkspaceKey, apply_status, not_due};
use super::crd::{
    FULL_SYNC_ANNOTATION, GitConnection, GitProvider, GitSync, GitSyncStatus, RECONCILE_ANNOTATION,
};
use super::credentials::{CredentialProblem, for_connection};
use super::error::{Controller, ReconcileError};
use crate::forge::any::{AnyForge, ForgeCredentials, ForgeSpec};
use crate::forge::{Forge as _, ForgeKind};
use crate::git::cache;
use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::model::ResourceType;
use crate::sync::full::{SyncError, Target};
use crate::sync::interval::Interval;
use crate::sync::runner::{Detection, Outcome, SyncWarning, Syncer};
use crate::telemetry::metrics::{GitSyncKey, SyncKind, SyncResult};
use crate::url::scrub_urls;
use crate::workspace::format_audit_time;
use crate::workspace::{Client as WorkspaceClient, ClientConfig};

/// What a GitSync needs to run, resolved from its spec and the objects it refers to.
struct Inputs {
    token: String,
    endpoint: String,
    auth: Auth,
    url: String,
    branch: String,
    author: Author,
    types: Vec<ResourceType>,
    interval: Duration,
    /// The forge pull requests are planned on, or why there is none; `None` when neither
    /// pull requests nor Git need one.
    forge: Option<Result<ForgeSpec, (&'static str, String)>>,
    /// Git authenticates with the forge's credentials (a GitHub App).
    git_from_forge: bool,
}

impl Inputs {
    /// Identifies the inputs, so a runner is rebuilt exactly when one of them changes (a
    /// rotated token, a new key, another branch).
    fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // Not the interval: a new interval needs no new runner.
        (
            &self.token,
            &self.endpoint,
            &self.auth,
            &self.url,
            &self.branch,
        )
            .hash(&mut h);
        // A new version of the Secret writes its key under a new path, which `auth` holds.
        (&self.author, &self.types, &self.forge, self.git_from_forge).hash(&mut h);
        h.finish()
    }

    /// `message` without the credentials that the repository URL or the workspace endpoint may
    /// carry: what every condition, Event and log line of this GitSync goes through.
    fn scrub(&self, message: &dyn std::fmt::Display) -> String {
        scrub_urls(&message.to_string(), &[&self.url, &self.endpoint])
    }
}

/// Why a GitSync's inputs could not be resolved: a Stalled condition with this reason and
/// message, until someone changes the object or what it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallReason {
    pub reason: &'static str,
    pub message: String,
}

impl From<CredentialProblem> for StallReason {
    fn from(p: CredentialProblem) -> StallReason {
        StallReason {
            reason: p.reason(),
            message: p.to_string(),
        }
    }
}

/// Reads what `gs` needs to run: `Err` when something it refers to is missing or unusable (a
/// condition for the user), `Err` of the outer result when the API could not be asked.
async fn resolve(
    ctx: &Context,
    gs: &GitSync,
    namespace: &str,
) -> Result<Result<Inputs, StallReason>, ReconcileError> {
    let spec = &gs.spec;
    let refs = gs.secret_refs();
    let token_ref = refs.workspace_token;
    let token = match ctx
        .secret_key(namespace, &token_ref.name, &token_ref.key)
        .await?
    {
        Ok(t) => t,
        Err(p) => return Ok(Err(p.into())),
    };
    let interval = match spec.interval.parse::<Interval>() {
        Ok(i) => i.duration(),
        Err(e) => {
            return Ok(Err(StallReason {
                reason: "InvalidInterval",
                message: format!("spec.interval: {e}"),
            }));
        }
    };
    if let Err(e) = crate::git::branch::validate(&spec.repository.branch) {
        return Ok(Err(StallReason {
            reason: "InvalidBranch",
            message: format!("spec.repository.branch: {e}"),
        }));
    }
    let types = match crate::sync::export::parse_types(&spec.resource_types) {
        Ok(types) => types,
        Err(e) => {
            return Ok(Err(StallReason {
                reason: "UnknownResourceType",
                message: format!("spec.resourceTypes: {e}"),
            }));
        }
    };
    let bidirectional = spec.bidirectional.enabled;
    let (auth, forge, git_from_forge) = match refs.connection {
        None => {
            let forge = bidirectional.then(|| {
                Err((
                    "NoGitConnection",
                    "spec.bidirectional needs spec.connectionRef: a GitConnection with provider github or gitlab, whose Secret has a token or a GitHub App".to_owned(),
                ))
            });
            (Auth::None, forge, false)
        }
        Some(connection_name) => {
            let connections = Api::<GitConnection>::namespaced(ctx.client.clone(), namespace);
            let Some(connection) = connections.get_opt(connection_name).await? else {
                return Ok(Err(StallReason {
                    reason: "GitConnectionNotFound",
                    message: format!(
                        "{CONNECTION_ISSUES}: GitConnection {connection_name} not found"
                    ),
                }));
            };
            let secret_name = &connection.spec.secret_ref.name;
            let Some(secret) = ctx.secret(namespace, secret_name).await? else {
                return Ok(Err(StallReason {
                    reason: "SecretNotFound",
                    message: format!(
                        "{CONNECTION_ISSUES}: Secret {secret_name} (of GitConnection {connection_name}) not found"
                    ),
                }));
            };
            match for_connection(
                &ctx.state_dir,
                namespace,
                connection_name,
                secret_name,
                secret,
            ) {
                Ok(c) => {
                    let app = matches!(c.forge, Some(ForgeCredentials::GitHubApp { .. }));
                    let forge = (bidirectional || app).then(|| {
                        forge_spec(&connection, connection_name, c.forge, &spec.repository.url)
                    });
                    (c.auth, forge, app)
                }
                Err(p) => {
                    return Ok(Err(StallReason {
                        reason: p.reason(),
                        message: format!("{CONNECTION_ISSUES}: {p}"),
                    }));
                }
            }
        }
    };
    Ok(Ok(Inputs {
        token,
        endpoint: spec.workspace.endpoint.clone(),
        auth,
        url: spec.repository.url.clone(),
        branch: spec.repository.branch.clone(),
        author: Author {
            name: spec.author.name.clone(),
            email: spec.author.email.clone(),
        },
        types,
        interval,
        forge,
        git_from_forge,
    }))
}

/// The forge of a GitConnection, or why pull requests cannot be planned with it.
fn forge_spec(
    connection: &GitConnection,
    connection_name: &str,
    credentials: Option<ForgeCredentials>,
    repository_url: &str,
) -> Result<ForgeSpec, (&'static str, String)> {
    let kind = match connection.spec.provider {
        GitProvider::Github => ForgeKind::GitHub,
        GitProvider::Gitlab => ForgeKind::GitLab,
        other => {
            return Err((
                "UnsupportedProvider",
                format!(
                    "GitConnection {connection_name} has provider {}; pull requests are planned on github and gitlab",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            ));
        }
    };
    let Some(credentials) = credentials else {
        return Err((
            "NoForgeCredentials",
            format!(
                "the Secret of GitConnection {connection_name} holds an SSH key, which cannot reach the {kind} API; add bearerToken (or username and password) or GitHub App keys"
            ),
        ));
    };
    Ok(ForgeSpec {
        kind,
        api_base_url: connection.spec.api_base_url.clone(),
        repository_url: repository_url.to_owned(),
        credentials,
    })
}

fn build_syncer(
    ctx: &Context,
    namespace: &str,
    name: &str,
    inputs: &Inputs,
) -> Result<Syncer<WorkspaceClient>, ReconcileError> {
    let mut config = ClientConfig::new(
        ClientConfig::base_url_for(&inputs.endpoint),
        inputs.token.clone(),
        format!("the workspace token Secret of GitSync {namespace}/{name}"),
    );
    config.observer = Some(ctx.metrics.clone());
    let client = WorkspaceClient::new(config)
        .map_err(|e| ReconcileError::WorkspaceClient(inputs.scrub(&e)))?;
    let cache_dir = ctx.state_dir.join("cache").join(namespace).join(name);
    let repo = cache::open(&cache_dir, &inputs.url, &inputs.branch)
        .map_err(|e| ReconcileError::Cache(inputs.scrub(&e)))?;
    Ok(Syncer::new(
        client,
        Target {
            cache: repo.into_sync(),
            remote: Remote {
                url: inputs.url.clone(),
                branch: inputs.branch.clone(),
                auth: inputs.auth.clone(),
            },
            author: inputs.author.clone(),
            placeholders: Default::default(),
        },
        inputs.types.clone(),
    ))
}

/// How often inputs are read again although no watch event said they changed (one missed).
const RESOLVE_AGAIN: Duration = Duration::from_secs(600);

/// When a GitSync whose inputs do not resolve is looked at again without a change.
const PROBLEM_RECHECK: Duration = Duration::from_secs(60);

/// The longest a failure that may pass waits, and the shortest a stalled one does.
const RETRY_FAILED_SYNC: Duration = Duration::from_secs(30);

/// What the status says about the object itself, whatever ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub generation: Option<i64>,
    /// The repository URL without credentials (`status.repository`).
    pub repository: String,
    /// The `reconcile.fluxcd.io/requestedAt` annotation.
    pub reconcile_requested_at: Option<String>,
    /// Whether pull requests are planned (`spec.bidirectional.enabled`, and a forge to plan
    /// them on).
    pub bidirectional: Bidirectionality,
}

/// Where the Git -> workspace direction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bidirectionality {
    /// `spec.bidirectional.enabled` is false.
    Off,
    /// Pull requests are planned and applied on command.
    Planning,
    /// Enabled, but pull requests cannot be planned: why (the `Bidirectional` condition's
    /// reason and message).
    Unavailable {
        reason: &'static str,
        message: String,
    },
}

impl Observed {
    /// What the object says; a GitSync with `spec.bidirectional.enabled` starts as
    /// [`Bidirectionality::Unavailable`] until its forge resolves.
    pub fn of(gs: &GitSync) -> Observed {
        Observed {
            generation: gs.metadata.generation,
            repository: crate::url::redacted(&gs.spec.repository.url),
            reconcile_requested_at: gs.annotations().get(RECONCILE_ANNOTATION).cloned(),
            bidirectional: if gs.spec.bidirectional.enabled {
                Bidirectionality::Unavailable {
                    reason: BIDIRECTIONAL_NOT_RUNNING,
                    message: BIDIRECTIONAL_NOT_RUNNING_MESSAGE.to_owned(),
                }
            } else {
                Bidirectionality::Off
            },
        }
    }
}

/// What one stage of a reconcile found: what [`summarize`] turns into a status.
#[derive(Debug)]
pub enum Finding {
    /// `spec.suspend`: nothing runs.
    Suspended,
    /// The inputs did not resolve: nothing ran.
    Unresolved(StallReason),
    /// A full sync is about to start: the status says so first, so that kstatus and `kubectl
    /// wait` see that a long sync is under way.
    FullSyncStarting,
    /// One step of the sync ran.
    Ran(Box<Ran>),
}

/// One step of the sync, and what it was run with.
#[derive(Debug)]
pub struct Ran {
    pub result: Result<Outcome, SyncError>,
    /// The full-sync annotation value this step handled.
    pub full_sync_requested: Option<String>,
    /// Whether this was the runner's first step (a failure then counts as a full sync's).
    pub first_run: bool,
    /// How changes are found from now on.
    pub detection: Detection,
    pub branch: String,
    pub interval: Duration,
    /// The repository URL and the workspace endpoint, whose credentials no message may show.
    pub urls: [String; 2],
    /// What the sync said although it went on (an untrusted sync point).
    pub warnings: Vec<SyncWarning>,
    pub elapsed: Duration,
}

/// An Event to publish about the GitSync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: String,
    pub action: &'static str,
    pub note: String,
}

impl EventSpec {
    fn normal(reason: &str, action: &'static str, note: String) -> EventSpec {
        EventSpec {
            warning: false,
            reason: reason.to_owned(),
            action,
            note,
        }
    }

    fn warning(reason: &str, action: &'static str, note: String) -> EventSpec {
        EventSpec {
            warning: true,
            ..EventSpec::normal(reason, action, note)
        }
    }
}

/// What [`summarize`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub status: GitSyncStatus,
    pub events: Vec<EventSpec>,
    /// When to run again without a new waker; `None`: only on a change of the object.
    pub requeue: Option<Duration>,
    /// Whether the runner must be rebuilt (its cache repository may be damaged: a new runner
    /// opens it again, which checks it and re-creates it when it is damaged).
    pub new_runner: bool,
}

/// The `Ready` reason of a GitSync that syncs one way although `spec.bidirectional.enabled`
/// (pull requests cannot be planned: see the `Bidirectional` condition).
pub const SYNCED_ONE_WAY: &str = "SyncedOneWay";
/// The `Bidirectional` condition's reason while pull requests are planned.
pub const BIDIRECTIONAL_PLANNING: &str = "PlanningPullRequests";
/// The `Bidirectional` condition's reason while the GitSync does not run (suspended, or its
/// inputs do not resolve).
pub const BIDIRECTIONAL_NOT_RUNNING: &str = "NotRunning";
const BIDIRECTIONAL_NOT_RUNNING_MESSAGE: &str =
    "pull requests are planned only while the GitSync syncs";

/// From the previous status, what was found and the time: the new status, the Events, and when
/// to run again. Pure.
pub fn summarize(
    previous: &GitSyncStatus,
    observed: &Observed,
    finding: &Finding,
    now: Timestamp,
) -> Summary {
    let generation = observed.generation;
    let at = format_audit_time(now);
    let mut status = previous.clone();
    status.observed_generation = generation;
    status.repository = Some(observed.repository.clone());
    if let Some(requested) = &observed.reconcile_requested_at {
        status.last_handled_reconcile_at = Some(requested.clone());
    }
    let mut events = Vec::new();
    let state_of = |state: &State| conditions(state, generation, &previous.conditions, now);
    let (requeue, new_runner) = match finding {
        Finding::Suspended => {
            status.conditions = state_of(&State::Suspended);
            (None, false)
        }
        Finding::Unresolved(problem) => {
            status.conditions = state_of(&State::Stalled {
                reason: problem.reason.to_owned(),
                message: problem.message.clone(),
            });
            // An Event when the cause changes, not on every recheck.
            let was = ready_reason(&previous.conditions);
            if was != Some(problem.reason) {
                events.push(EventSpec::warning(
                    problem.reason,
                    "Configure",
                    problem.message.clone(),
                ));
            }
            (Some(PROBLEM_RECHECK), false)
        }
        Finding::FullSyncStarting => {
            status.conditions = state_of(&State::Progressing {
                reason: "FullSyncRunning".into(),
                message: "Full sync in progress".into(),
            });
            (Some(Duration::ZERO), false)
        }
        Finding::Ran(ran) => {
            for warning in &ran.warnings {
                events.push(EventSpec::warning(
                    warning.reason(),
                    "Sync",
                    warning.to_string(),
                ));
            }
            if let Some(requested) = &ran.full_sync_requested {
                // A failed request is handled too: asking again (a new value) retries it.
                status.last_handled_full_sync_at = Some(requested.clone());
            }
            match &ran.result {
                Ok(outcome) => {
                    let message = synced(&mut status, &mut events, ran, outcome, &at);
                    let (reason, message) = match &observed.bidirectional {
                        Bidirectionality::Unavailable { .. } => (
                            SYNCED_ONE_WAY,
                            format!(
                                "{message}. One way only: pull requests are not planned (see the Bidirectional condition)"
                            ),
                        ),
                        _ => ("Synced", message),
                    };
                    status.conditions = state_of(&State::Ready {
                        reason: reason.into(),
                        message,
                    });
                    (Some(ran.interval), false)
                }
                Err(error) => {
                    let (reason, message, stalled) = describe(error);
                    let message = scrub_urls(&message, &[&ran.urls[0], &ran.urls[1]]);
                    let state = if stalled {
                        State::Stalled {
                            reason: reason.into(),
                            message: message.clone(),
                        }
                    } else {
                        State::Progressing {
                            reason: reason.into(),
                            message: message.clone(),
                        }
                    };
                    status.conditions = state_of(&state);
                    events.push(EventSpec::warning(reason, "Sync", message));
                    // Retry sooner than the interval for what may pass; stalled ones wait for
                    // a change (Secrets and GitConnections wake the object) or the interval.
                    let retry = if stalled {
                        ran.interval.max(RETRY_FAILED_SYNC)
                    } else {
                        ran.interval.min(RETRY_FAILED_SYNC)
                    };
                    (Some(retry), damages_cache(error))
                }
            }
        }
    };
    match &observed.bidirectional {
        Bidirectionality::Off => {}
        Bidirectionality::Planning => status.conditions.push(condition(
            BIDIRECTIONAL,
            true,
            BIDIRECTIONAL_PLANNING,
            "pull requests into the branch are planned, and applied on the apply command",
            generation,
            &previous.conditions,
            now,
        )),
        Bidirectionality::Unavailable { reason, message } => {
            status.conditions.push(condition(
                BIDIRECTIONAL,
                false,
                reason,
                message,
                generation,
                &previous.conditions,
                now,
            ));
            let said = previous
                .conditions
                .iter()
                .any(|c| c.type_ == BIDIRECTIONAL && c.reason == *reason);
            if !said {
                events.push(EventSpec::warning(
                    "BidirectionalUnavailable",
                    "Configure",
                    format!("pull requests are not planned: {message}"),
                ));
            }
        }
    }
    Summary {
        status,
        events,
        requeue,
        new_runner,
    }
}

/// The `Ready` condition's reason in `conditions`.
fn ready_reason(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == super::conditions::READY)
        .map(|c| c.reason.as_str())
}

/// Fills in what a successful step changes in `status`, adds its Events, and returns the
/// `Ready` message.
fn synced(
    status: &mut GitSyncStatus,
    events: &mut Vec<EventSpec>,
    ran: &Ran,
    outcome: &Outcome,
    at: &str,
) -> String {
    let commits = outcome.commits();
    if let Some(last) = commits.last() {
        let id = last.to_string();
        status.last_commit_short = Some(id.chars().take(7).collect());
        status.last_commit = Some(id);
        status.last_push_time = Some(at.to_owned());
    }
    if let Some(resources) = outcome.resources() {
        status.resources = Some(
            resources
                .iter()
                .map(|(t, n)| (t.terraform_type().to_owned(), *n as u64))
                .collect(),
        );
    }
    status.last_sync_time = Some(at.to_owned());
    status.change_detection = Some(
        match ran.detection {
            Detection::ListAndDiff => "listAndDiff",
            _ => "auditTrail",
        }
        .into(),
    );
    let branch = &ran.branch;
    match outcome {
        Outcome::Full(r) => {
            status.last_full_sync_time = Some(at.to_owned());
            let total: usize = r.resources.values().sum();
            let note = format!(
                "Full sync of {total} resources: {} commit(s) pushed to {branch}",
                commits.len()
            );
            events.push(EventSpec::normal("FullSync", "Sync", note.clone()));
            note
        }
        Outcome::Resumed(point) => {
            format!(
                "Continuing from the point stored in {branch} ({})",
                point.since
            )
        }
        _ if commits.is_empty() => format!("Up to date with {branch}"),
        _ => {
            let note = format!("{} commit(s) pushed to {branch}", commits.len());
            events.push(EventSpec::normal("Pushed", "Sync", note.clone()));
            note
        }
    }
}

/// Records what a reconcile found in the metrics (what [`summarize`] must not do: it is pure).
fn record(ctx: &Context, key: &GitSyncKey, finding: &Finding, status: &GitSyncStatus) {
    match finding {
        Finding::Suspended | Finding::FullSyncStarting => {}
        Finding::Unresolved(problem) => ctx.reconcile_error(Controller::GitSync, problem.reason),
        Finding::Ran(ran) => match &ran.result {
            Ok(outcome) => {
                let kind = match outcome {
                    Outcome::Full(_) | Outcome::Resumed(_) => SyncKind::Full,
                    Outcome::Incremental(_) => SyncKind::Incremental,
                    Outcome::ListAndDiff(_) => SyncKind::ListAndDiff,
                };
                if !matches!(outcome, Outcome::Resumed(_)) {
                    ctx.metrics
                        .observe_sync(key, kind, SyncResult::Success, ran.elapsed);
                }
                ctx.metrics
                    .commits_pushed(key, outcome.commits().len() as u64);
                if let (Some(_), Some(counts)) = (outcome.resources(), &status.resources) {
                    ctx.metrics.set_resources(key, counts);
                }
                ctx.metrics.set_last_success(key, unix_now());
            }
            Err(error) => {
                let kind = if ran.full_sync_requested.is_some() || ran.first_run {
                    SyncKind::Full
                } else {
                    SyncKind::Incremental
                };
                ctx.metrics
                    .observe_sync(key, kind, SyncResult::Failure, ran.elapsed);
                if let SyncError::Remote(remote) = error {
                    ctx.metrics.push_failure(key, &snake(remote.reason()));
                } else if matches!(error, SyncError::RemoteKeptMoving { .. }) {
                    ctx.metrics.push_failure(key, "remote_kept_moving");
                }
                ctx.reconcile_error(Controller::GitSync, describe(error).0);
            }
        },
    }
}

/// The reconcile of one GitSync: the stages in order (see the module docs).
pub async fn reconcile(gs: Arc<GitSync>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = gs.namespace().unwrap_or_default();
    let name = gs.name_any();
    let api = Api::<GitSync>::namespaced(ctx.client.clone(), &namespace);
    let object_ref = gs.object_ref(&());
    let mut observed = Observed::of(&gs);
    let previous = gs.status.clone().unwrap_or_default();

    if let Some(action) =
        stop_if_deleted_or_suspended(&ctx, &gs, &api, &object_ref, &observed, &previous).await?
    {
        return Ok(action);
    }

    let wakers = wakers(&ctx, &gs);
    let slot = ctx.gitsyncs.slot(&namespace, &name);
    let mut slot = slot.lock().await;
    if let Some(wait) = gate(&slot, &wakers, Instant::now()) {
        return Ok(Action::requeue(wait));
    }

    let (finding, on_server) = match ensure_runner(&ctx, &gs, &mut slot, &wakers).await? {
        Err(problem) => (Finding::Unresolved(problem), previous.clone()),
        Ok(()) => {
            let Some(runner) = slot.runner.as_mut() else {
                // ensure_runner leaves a runner whenever it returns Ok(Ok).
                return Ok(Action::requeue(super::error::RETRY));
            };
            if gs.spec.bidirectional.enabled {
                observed.bidirectional = match &runner.forge {
                    Some(Ok(_)) => Bidirectionality::Planning,
                    Some(Err((reason, message))) => Bidirectionality::Unavailable {
                        reason,
                        message: message.clone(),
                    },
                    None => Bidirectionality::Unavailable {
                        reason: "NoForge",
                        message: "no forge is configured".into(),
                    },
                };
            }
            renew_git_credentials(runner).await;
            if observed.bidirectional == Bidirectionality::Planning && !runner.placeholders_recalled
            {
                runner.placeholders_recalled = true;
                if let Some(Ok(forge)) = &runner.forge {
                    let records = previous.pull_requests.clone().unwrap_or_default();
                    crate::pulls::recall_placeholders(
                        forge,
                        &pull_repository(runner),
                        &runner.branch,
                        &records,
                    )
                    .await;
                }
            }
            let full_sync_requested = gs
                .annotations()
                .get(FULL_SYNC_ANNOTATION)
                .filter(|v| previous.last_handled_full_sync_at.as_ref() != Some(*v))
                .cloned();
            let first_run = *runner.syncer.detection() == Detection::NotStarted;
            let mut on_server = previous.clone();
            if full_sync_requested.is_some() || (first_run && previous.last_sync_time.is_none()) {
                let starting = summarize(
                    &previous,
                    &observed,
                    &Finding::FullSyncStarting,
                    Timestamp::now(),
                );
                write(&ctx, &api, &name, &object_ref, &on_server, &starting).await?;
                on_server = starting.status;
            }
            (
                Finding::Ran(Box::new(run(&ctx, runner, full_sync_requested).await)),
                on_server,
            )
        }
    };
    let (action, written) = finish(
        &ctx,
        &api,
        &name,
        &object_ref,
        &observed,
        &previous,
        &on_server,
        finding,
        &mut slot,
        wakers,
    )
    .await?;
    if observed.bidirectional != Bidirectionality::Planning {
        return Ok(action);
    }
    review_pulls(&ctx, &gs, &api, &object_ref, &mut slot, written, action).await
}

/// The repository as the pull-request workflow works on it: the sync's own cache, remote and
/// placeholder memory.
fn pull_repository(runner: &Runner) -> crate::pulls::Repository {
    let target = runner.syncer.target();
    crate::pulls::Repository {
        cache: target.cache.clone(),
        cache_path: target.cache.to_thread_local().path().to_path_buf(),
        remote: target.remote.clone(),
        placeholders: target.placeholders.clone(),
    }
}

/// A GitHub App's installation token expires within the hour: Git gets a fresh one (the forge
/// renews it only when it runs low) before each run.
async fn renew_git_credentials(runner: &mut Runner) {
    if !runner.git_from_forge {
        return;
    }
    let Some(Ok(forge)) = &runner.forge else {
        return;
    };
    match forge.git_credentials().await {
        Ok(c) => {
            runner.syncer.target_mut().remote.auth = Auth::Basic {
                username: c.username,
                password: c.password,
            };
        }
        Err(e) => {
            tracing::warn!(reason = e.reason(), error = %e, "cannot renew the GitHub App's token for Git");
        }
    }
}

/// The pull-request pass after the sync: plans, comments, applies on command; then the status
/// with `pullRequests`, and the Events. Runs again soon while the forge computes mergeability.
async fn review_pulls(
    ctx: &Context,
    gs: &GitSync,
    api: &Api<GitSync>,
    object_ref: &ObjectReference,
    slot: &mut Slot,
    written: GitSyncStatus,
    action: Action,
) -> Result<Action, ReconcileError> {
    let Some(runner) = slot.runner.as_ref() else {
        return Ok(action);
    };
    let Some(Ok(forge)) = &runner.forge else {
        return Ok(action);
    };
    let pace = matches!(gs.spec.workspace.endpoint.as_str(), "us" | "eu")
        .then_some(crate::sync::apply::pace::WINDOW);
    let reviewed = super::pulls::review(
        ctx,
        gs,
        api,
        &written,
        super::pulls::PassInputs {
            forge,
            workspace: runner.syncer.workspace(),
            repository: pull_repository(runner),
            apply_lock: ctx.workspaces.handle(&runner.workspace),
            pace,
        },
    )
    .await;
    let scrub = |text: &str| scrub_urls(text, &[&runner.urls[0], &runner.urls[1]]);
    let events = reviewed
        .events
        .into_iter()
        .map(|mut e| {
            e.note = scrub(&e.note);
            e
        })
        .collect();
    let mut status = reviewed.status;
    for record in status.pull_requests.iter_mut().flatten() {
        record.message = record.message.as_deref().map(scrub);
    }
    let summary = Summary {
        status,
        events,
        requeue: None,
        new_runner: false,
    };
    write(ctx, api, &gs.name_any(), object_ref, &written, &summary).await?;
    if reviewed.look_again_soon {
        slot.next_due = None;
        return Ok(Action::requeue(super::pulls::LOOK_AGAIN));
    }
    Ok(action)
}

/// summarize, record and write; then schedules the next run under `wakers`.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &Context,
    api: &Api<GitSync>,
    name: &str,
    object_ref: &ObjectReference,
    observed: &Observed,
    previous: &GitSyncStatus,
    on_server: &GitSyncStatus,
    finding: Finding,
    slot: &mut Slot,
    wakers: Wakers,
) -> Result<(Action, GitSyncStatus), ReconcileError> {
    let namespace = object_ref.namespace.clone().unwrap_or_default();
    let summary = summarize(previous, observed, &finding, Timestamp::now());
    record(
        ctx,
        &GitSyncKey::new(namespace, name),
        &finding,
        &summary.status,
    );
    if summary.new_runner {
        slot.runner = None;
    }
    write(ctx, api, name, object_ref, on_server, &summary).await?;
    let action = match summary.requeue {
        Some(after) => {
            slot.next_due = Some((Instant::now() + after, wakers));
            Action::requeue(after)
        }
        None => Action::await_change(),
    };
    Ok((action, summary.status))
}

/// A deleted GitSync: forget it. A suspended one: say so (once) and wait for a change.
async fn stop_if_deleted_or_suspended(
    ctx: &Context,
    gs: &GitSync,
    api: &Api<GitSync>,
    object_ref: &ObjectReference,
    observed: &Observed,
    previous: &GitSyncStatus,
) -> Result<Option<Action>, ReconcileError> {
    let namespace = gs.namespace().unwrap_or_default();
    let name = gs.name_any();
    if gs.metadata.deletion_timestamp.is_some() {
        ctx.forget(&namespace, &name);
        return Ok(Some(Action::await_change()));
    }
    if !gs.spec.suspend {
        return Ok(None);
    }
    let summary = summarize(previous, observed, &Finding::Suspended, Timestamp::now());
    // Its own status write wakes it again: write only a change (write does not write the same
    // status twice).
    write(ctx, api, &name, object_ref, previous, &summary).await?;
    Ok(Some(Action::await_change()))
}

/// What makes this GitSync's reconcile run before its interval is up, as they are now.
fn wakers(ctx: &Context, gs: &GitSync) -> Wakers {
    let annotations = gs.annotations();
    Wakers {
        generation: gs.metadata.generation,
        full_sync_requested_at: annotations.get(FULL_SYNC_ANNOTATION).cloned(),
        reconcile_requested_at: annotations.get(RECONCILE_ANNOTATION).cloned(),
        inputs: ctx.inputs_epoch::<GitSync>(&gs.namespace().unwrap_or_default(), &gs.name_any()),
        hooks: ctx.hook_epoch(&gs.namespace().unwrap_or_default(), &gs.name_any()),
    }
}

/// Before any read: a wake-up with nothing due (the controller's own status write, an
/// annotation that is not a waker) makes no API call and spawns nothing. `Some`: how long
/// until the next run is due.
fn gate(slot: &Slot, wakers: &Wakers, now: Instant) -> Option<Duration> {
    not_due(slot.next_due.as_ref(), wakers, now)
}

/// Makes sure the slot holds a runner built from the current inputs: reads them again when the
/// generation or an input changed since they were read (or after [`RESOLVE_AGAIN`]), and
/// rebuilds the runner only when they differ.
async fn ensure_runner(
    ctx: &Context,
    gs: &GitSync,
    slot: &mut Slot,
    wakers: &Wakers,
) -> Result<Result<(), StallReason>, ReconcileError> {
    let resolved_under = (wakers.generation, wakers.inputs);
    let fresh = slot.runner.as_ref().is_some_and(|r| {
        (r.resolved.0, r.resolved.1) == resolved_under && r.resolved.2.elapsed() < RESOLVE_AGAIN
    });
    if fresh {
        return Ok(Ok(()));
    }
    let namespace = gs.namespace().unwrap_or_default();
    let name = gs.name_any();
    let inputs = match resolve(ctx, gs, &namespace).await? {
        Ok(inputs) => inputs,
        Err(problem) => return Ok(Err(problem)),
    };
    let fingerprint = inputs.fingerprint();
    let resolved = (wakers.generation, wakers.inputs, Instant::now());
    match slot.runner.as_mut() {
        Some(runner) if runner.fingerprint == fingerprint => {
            runner.interval = inputs.interval;
            runner.urls = [inputs.url.clone(), inputs.endpoint.clone()];
            runner.resolved = resolved;
        }
        _ => {
            let syncer = build_syncer(ctx, &namespace, &name, &inputs)?;
            slot.runner = Some(Runner {
                fingerprint,
                syncer,
                interval: inputs.interval,
                branch: inputs.branch.clone(),
                urls: [inputs.url.clone(), inputs.endpoint.clone()],
                workspace: WorkspaceKey::new(&inputs.endpoint, &inputs.token),
                forge: inputs.forge.clone().map(|spec| {
                    spec.and_then(|spec| {
                        AnyForge::new(&spec).map_err(|e| (e.reason(), inputs.scrub(&e)))
                    })
                }),
                git_from_forge: inputs.git_from_forge,
                placeholders_recalled: false,
                resolved,
            });
        }
    }
    Ok(Ok(()))
}

/// One step of the sync: a full sync when `full_sync_requested`, else a poll (which starts with
/// a full sync or a resume on a new runner). Holds the workspace shared meanwhile: an apply to
/// it waits, and this waits for one.
async fn run(ctx: &Context, runner: &mut Runner, full_sync_requested: Option<String>) -> Ran {
    let _workspace = ctx.workspaces.read(&runner.workspace).await;
    let syncer = &mut runner.syncer;
    let first_run = *syncer.detection() == Detection::NotStarted;
    let started = Instant::now();
    let result = match &full_sync_requested {
        Some(_) => syncer.full_sync().await.map(Outcome::Full),
        None => syncer.poll().await,
    };
    // A resumed runner has not looked at the workspace yet: do that now, not an interval later.
    let result = match result {
        Ok(Outcome::Resumed(_)) => syncer.poll().await,
        other => other,
    };
    Ran {
        result,
        full_sync_requested,
        first_run,
        detection: syncer.detection().clone(),
        branch: runner.branch.clone(),
        interval: runner.interval,
        urls: runner.urls.clone(),
        warnings: syncer.take_warnings(),
        elapsed: started.elapsed(),
    }
}

/// Writes `summary`'s status when it differs from `on_server` (what the object holds), by
/// server-side apply as gitsync's one field manager, then publishes its Events.
async fn write(
    ctx: &Context,
    api: &Api<GitSync>,
    name: &str,
    object_ref: &ObjectReference,
    on_server: &GitSyncStatus,
    summary: &Summary,
) -> Result<(), ReconcileError> {
    if summary.status != *on_server {
        apply_status(api, name, &summary.status).await?;
    }
    for event in &summary.events {
        ctx.event(
            object_ref,
            event.warning,
            &event.reason,
            event.action,
            event.note.clone(),
        )
        .await;
    }
    Ok(())
}

/// Whether `error` may come from a damaged cache repository rather than from the remote or the
/// workspace.
fn damages_cache(error: &SyncError) -> bool {
    matches!(
        error,
        SyncError::Tree(_)
            | SyncError::Pack(_)
            | SyncError::Cache { .. }
            | SyncError::Remote(crate::git::remote::RemoteError::CorruptCache { .. })
    )
}

/// The condition reason and message for a failed sync, and whether only a person can fix it.
fn describe(error: &SyncError) -> (&'static str, String, bool) {
    match error {
        SyncError::Remote(remote) => (
            remote.reason(),
            format!("{CONNECTION_ISSUES}: {remote}"),
            remote.needs_user_action(),
        ),
        SyncError::RemoteKeptMoving { .. } => ("RemoteKeptMoving", error.to_string(), false),
        SyncError::AuditTrail(crate::workspace::WorkspaceError::Unauthorized { .. })
        | SyncError::Export(crate::sync::export::ExportError::Workspace {
            source: crate::workspace::WorkspaceError::Unauthorized { .. },
            ..
        }) => ("WorkspaceUnauthorized", error.to_string(), true),
        SyncError::AuditTrail(_) | SyncError::Export(_) => {
            ("WorkspaceError", error.to_string(), false)
        }
        SyncError::Tree(_) | SyncError::Pack(_) | SyncError::Cache { .. } => {
            ("CacheError", error.to_string(), false)
        }
        SyncError::Interrupted(_) => ("Interrupted", error.to_string(), false),
    }
}

/// `AuthenticationFailed` -> `authentication_failed`, for metric labels.
fn snake(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use crate::git::remote::RemoteError;
    use crate::sync::full::FullSyncReport;
    use crate::sync::incremental::IncrementalReport;
    use crate::workspace::AuditPoint;

    const NOW: &str = "2026-12-06T04:00:00Z";
    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const MINUTE: Duration = Duration::from_secs(60);

    fn now() -> Timestamp {
        NOW.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn observed(bidirectional: bool) -> Observed {
        Observed {
            generation: Some(3),
            repository: "https://git.example/acme.git".into(),
            reconcile_requested_at: None,
            bidirectional: if bidirectional {
                Bidirectionality::Unavailable {
                    reason: "NoForge",
                    message: "no forge".into(),
                }
            } else {
                Bidirectionality::Off
            },
        }
    }

    fn point() -> AuditPoint {
        AuditPoint {
            since: "2026-12-06T03:00:00.000Z".into(),
            seen_at_since: Vec::new(),
        }
    }

    fn commit() -> gix::ObjectId {
        gix::ObjectId::from_hex(COMMIT.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ran(result: Result<Outcome, SyncError>) -> Finding {
        Finding::Ran(Box::new(Ran {
            result,
            full_sync_requested: None,
            first_run: false,
            detection: Detection::AuditTrail(point()),
            branch: "main".into(),
            interval: MINUTE,
            urls: [
                "https://bot:s3cret@git.example/acme.git".into(),
                "us".into(),
            ],
            warnings: Vec::new(),
            elapsed: Duration::from_millis(5),
        }))
    }

    fn full(commits: usize) -> Finding {
        let mut resources = BTreeMap::new();
        resources.insert(ResourceType::Source, 10);
        resources.insert(ResourceType::Destination, 2);
        let Finding::Ran(mut r) = ran(Ok(Outcome::Full(FullSyncReport {
            commits: vec![commit(); commits],
            resources,
            point: point(),
        }))) else {
            unreachable!()
        };
        r.full_sync_requested = Some("req-1".into());
        Finding::Ran(r)
    }

    fn incremental(commits: usize) -> Finding {
        ran(Ok(Outcome::Incremental(IncrementalReport {
            commits: vec![commit(); commits],
            point: point(),
            did_git_work: commits > 0,
        })))
    }

    fn ready_since(reason: &str, since: Timestamp) -> GitSyncStatus {
        GitSyncStatus {
            conditions: vec![condition(
                super::super::conditions::READY,
                true,
                reason,
                "ok",
                Some(2),
                &[],
                since,
            )],
            last_sync_time: Some("2026-12-06T03:59:00.000Z".into()),
            last_commit: Some("f".repeat(40)),
            ..GitSyncStatus::default()
        }
    }

    /// (type, status, reason) of each condition, in order.
    fn shape(status: &GitSyncStatus) -> Vec<(String, String, String)> {
        status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn conds(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        list.iter()
            .map(|(t, s, r)| (t.to_string(), s.to_string(), r.to_string()))
            .collect()
    }

    /// (warning, reason) of each Event.
    fn event_shape(summary: &Summary) -> Vec<(bool, String)> {
        summary
            .events
            .iter()
            .map(|e| (e.warning, e.reason.clone()))
            .collect()
    }

    #[test]
    fn summarize_turns_each_finding_into_conditions_events_and_the_next_run() {
        let auth = || {
            ran(Err(SyncError::Remote(RemoteError::AuthenticationFailed {
                url: "https://bot:s3cret@git.example/acme.git".into(),
            })))
        };
        let unresolved = |reason: &'static str| {
            Finding::Unresolved(StallReason {
                reason,
                message: format!("{reason} happened"),
            })
        };
        let earlier = now() - jiff::SignedDuration::from_hours(1);
        let ready = ready_since("Synced", earlier);
        let stalled_secret = GitSyncStatus {
            conditions: conditions(
                &State::Stalled {
                    reason: "SecretNotFound".into(),
                    message: "x".into(),
                },
                Some(2),
                &[],
                earlier,
            ),
            ..GitSyncStatus::default()
        };
        type Case<'a> = (
            &'a str,
            &'a GitSyncStatus,
            bool,
            Finding,
            &'a [(&'a str, &'a str, &'a str)],
            &'a [(bool, &'a str)],
            Option<Duration>,
        );
        let none = GitSyncStatus::default();
        let cases: Vec<Case> = vec![
            (
                "suspended",
                &ready,
                false,
                Finding::Suspended,
                &[("Ready", "False", "Suspended")],
                &[],
                None,
            ),
            (
                "inputs missing: stalled, one Event",
                &ready,
                false,
                unresolved("SecretNotFound"),
                &[
                    ("Ready", "False", "SecretNotFound"),
                    ("Stalled", "True", "SecretNotFound"),
                ],
                &[(true, "SecretNotFound")],
                Some(PROBLEM_RECHECK),
            ),
            (
                "the same problem again: no second Event",
                &stalled_secret,
                false,
                unresolved("SecretNotFound"),
                &[
                    ("Ready", "False", "SecretNotFound"),
                    ("Stalled", "True", "SecretNotFound"),
                ],
                &[],
                Some(PROBLEM_RECHECK),
            ),
            (
                "another problem: an Event",
                &stalled_secret,
                false,
                unresolved("InvalidBranch"),
                &[
                    ("Ready", "False", "InvalidBranch"),
                    ("Stalled", "True", "InvalidBranch"),
                ],
                &[(true, "InvalidBranch")],
                Some(PROBLEM_RECHECK),
            ),
            (
                "a full sync starts",
                &none,
                false,
                Finding::FullSyncStarting,
                &[
                    ("Ready", "False", "FullSyncRunning"),
                    ("Reconciling", "True", "FullSyncRunning"),
                ],
                &[],
                Some(Duration::ZERO),
            ),
            (
                "a full sync",
                &none,
                false,
                full(1),
                &[("Ready", "True", "Synced")],
                &[(false, "FullSync")],
                Some(MINUTE),
            ),
            (
                "a poll with nothing new",
                &ready,
                false,
                incremental(0),
                &[("Ready", "True", "Synced")],
                &[],
                Some(MINUTE),
            ),
            (
                "a poll that pushed",
                &ready,
                false,
                incremental(2),
                &[("Ready", "True", "Synced")],
                &[(false, "Pushed")],
                Some(MINUTE),
            ),
            (
                "refused credentials: stalled, retried no sooner than 30 s",
                &ready,
                false,
                auth(),
                &[
                    ("Ready", "False", "AuthenticationFailed"),
                    ("Stalled", "True", "AuthenticationFailed"),
                ],
                &[(true, "AuthenticationFailed")],
                Some(MINUTE),
            ),
            (
                "a remote that kept moving: progressing, retried within 30 s",
                &ready,
                false,
                ran(Err(SyncError::RemoteKeptMoving {
                    branch: "main".into(),
                    attempts: 3,
                })),
                &[
                    ("Ready", "False", "RemoteKeptMoving"),
                    ("Reconciling", "True", "RemoteKeptMoving"),
                ],
                &[(true, "RemoteKeptMoving")],
                Some(RETRY_FAILED_SYNC),
            ),
            (
                "bidirectional: one way, said once",
                &ready,
                true,
                incremental(0),
                &[
                    ("Ready", "True", SYNCED_ONE_WAY),
                    ("Bidirectional", "False", "NoForge"),
                ],
                &[(true, "BidirectionalUnavailable")],
                Some(MINUTE),
            ),
            (
                "bidirectional and suspended",
                &none,
                true,
                Finding::Suspended,
                &[
                    ("Ready", "False", "Suspended"),
                    ("Bidirectional", "False", "NoForge"),
                ],
                &[(true, "BidirectionalUnavailable")],
                None,
            ),
            (
                "bidirectional and stalled",
                &none,
                true,
                auth(),
                &[
                    ("Ready", "False", "AuthenticationFailed"),
                    ("Stalled", "True", "AuthenticationFailed"),
                    ("Bidirectional", "False", "NoForge"),
                ],
                &[
                    (true, "AuthenticationFailed"),
                    (true, "BidirectionalUnavailable"),
                ],
                Some(MINUTE),
            ),
        ];
        for (name, previous, bidirectional, finding, want, events, requeue) in cases {
            let summary = summarize(previous, &observed(bidirectional), &finding, now());
            assert_eq!(shape(&summary.status), conds(want), "{name}");
            let events: Vec<(bool, String)> =
                events.iter().map(|(w, r)| (*w, r.to_string())).collect();
            assert_eq!(event_shape(&summary), events, "{name}");
            assert_eq!(summary.requeue, requeue, "{name}");
            assert_eq!(summary.status.observed_generation, Some(3), "{name}");
            assert_eq!(
                summary.status.repository.as_deref(),
                Some("https://git.example/acme.git"),
                "{name}"
            );
            for c in &summary.status.conditions {
                assert_eq!(c.observed_generation, Some(3), "{name}: {c:?}");
                assert!(!c.message.is_empty(), "{name}: {c:?}");
            }
            // Nothing any finding writes shows the password of the repository URL.
            let text = format!("{:?}", summary);
            assert!(!text.contains("s3cret"), "{name}: {text}");
        }
    }

    #[test]
    fn a_sync_fills_in_what_it_did_and_keeps_what_it_did_not_touch() {
        let previous = ready_since("Synced", now());
        let summary = summarize(&previous, &observed(false), &full(1), now());
        let status = &summary.status;
        assert_eq!(status.last_commit.as_deref(), Some(COMMIT));
        assert_eq!(status.last_commit_short.as_deref(), Some("0123456"));
        assert_eq!(
            status.last_push_time.as_deref(),
            Some("2026-12-06T04:00:00.000Z")
        );
        assert_eq!(status.last_full_sync_time, status.last_push_time);
        assert_eq!(status.last_sync_time, status.last_push_time);
        assert_eq!(status.last_handled_full_sync_at.as_deref(), Some("req-1"));
        assert_eq!(
            status
                .resources
                .as_ref()
                .and_then(|r| r.get("segment_source")),
            Some(&10)
        );
        assert_eq!(status.change_detection.as_deref(), Some("auditTrail"));
        assert_eq!(
            summary.events[0].note,
            "Full sync of 12 resources: 1 commit(s) pushed to main"
        );

        // A poll with nothing new leaves the last commit and the resources as they were.
        let poll = summarize(status, &observed(false), &incremental(0), now());
        assert_eq!(poll.status.last_commit.as_deref(), Some(COMMIT));
        assert_eq!(poll.status.resources, status.resources);
        assert_eq!(poll.status.conditions[0].message, "Up to date with main");

        // A failed full-sync request is handled too: only a new value asks again.
        let Finding::Ran(mut failed) = ran(Err(SyncError::Interrupted("stopped".into()))) else {
            unreachable!()
        };
        failed.full_sync_requested = Some("req-2".into());
        let failed = summarize(status, &observed(false), &Finding::Ran(failed), now());
        assert_eq!(
            failed.status.last_handled_full_sync_at.as_deref(),
            Some("req-2")
        );
        assert_eq!(failed.status.last_commit.as_deref(), Some(COMMIT));

        // The reconcile annotation is recorded whatever ran.
        let mut asked = observed(false);
        asked.reconcile_requested_at = Some("2026-12-06T03:59:59Z".into());
        for finding in [Finding::Suspended, incremental(0)] {
            let s = summarize(status, &asked, &finding, now());
            assert_eq!(
                s.status.last_handled_reconcile_at.as_deref(),
                Some("2026-12-06T03:59:59Z")
            );
        }
    }

    #[test]
    fn transition_times_move_only_when_a_condition_changes_status() {
        let earlier = now() - jiff::SignedDuration::from_hours(1);
        let previous = ready_since("Synced", earlier);
        let again = summarize(&previous, &observed(false), &incremental(0), now());
        assert_eq!(
            again.status.conditions[0].last_transition_time,
            Time(earlier)
        );
        let failed = summarize(
            &previous,
            &observed(false),
            &Finding::Unresolved(StallReason {
                reason: "SecretNotFound",
                message: "gone".into(),
            }),
            now(),
        );
        assert_eq!(
            failed.status.conditions[0].last_transition_time,
            Time(now())
        );

        // The Bidirectional condition keeps its time, and its Event is not repeated.
        let first = summarize(&previous, &observed(true), &incremental(0), earlier);
        let later = summarize(&first.status, &observed(true), &incremental(0), now());
        let bidi = |s: &Summary| {
            s.status
                .conditions
                .iter()
                .find(|c| c.type_ == BIDIRECTIONAL)
                .map(|c| c.last_transition_time.clone())
        };
        assert_eq!(bidi(&later), Some(Time(earlier)));
        assert!(later.events.is_empty(), "{:?}", later.events);
        assert!(
            later.status.conditions[0].message.contains("One way only"),
            "{:?}",
            later.status.conditions[0]
        );
        // Turned off: the condition goes.
        let off = summarize(&later.status, &observed(false), &incremental(0), now());
        assert_eq!(shape(&off.status), conds(&[("Ready", "True", "Synced")]));
    }

    #[test]
    fn a_damaged_cache_asks_for_a_new_runner_and_nothing_else_does() {
        let previous = GitSyncStatus::default();
        let damaged = ran(Err(SyncError::Remote(RemoteError::CorruptCache {
            path: "/state/cache/x".into(),
            detail: "bad object".into(),
        })));
        assert!(summarize(&previous, &observed(false), &damaged, now()).new_runner);
        for finding in [
            incremental(1),
            ran(Err(SyncError::Interrupted("x".into()))),
            Finding::Suspended,
        ] {
            assert!(!summarize(&previous, &observed(false), &finding, now()).new_runner);
        }
    }

    #[test]
    fn sync_warnings_become_warning_events() {
        let Finding::Ran(mut r) = incremental(0) else {
            unreachable!()
        };
        r.warnings = vec![SyncWarning::NoTrustedPoint {
            branch: "main".into(),
        }];
        let summary = summarize(
            &GitSyncStatus::default(),
            &observed(false),
            &Finding::Ran(r),
            now(),
        );
        assert_eq!(
            event_shape(&summary),
            [(true, "NoTrustedSyncPoint".to_string())]
        );
    }

    #[test]
    fn only_a_new_waker_or_the_due_time_runs_a_reconcile() {
        let wakers = Wakers {
            generation: Some(1),
            full_sync_requested_at: None,
            reconcile_requested_at: None,
            inputs: 0,
            hooks: 0,
        };
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let scheduled = (now + minute, wakers.clone());
        assert_eq!(not_due(Some(&scheduled), &wakers, now), Some(minute));
        assert_eq!(not_due(Some(&scheduled), &wakers, now + minute), None);
        assert_eq!(not_due(None, &wakers, now), None);
        let changed = [
            Wakers {
                generation: Some(2),
                ..wakers.clone()
            },
            Wakers {
                full_sync_requested_at: Some("now".into()),
                ..wakers.clone()
            },
            Wakers {
                reconcile_requested_at: Some("now".into()),
                ..wakers.clone()
            },
            Wakers {
                inputs: 1,
                ..wakers.clone()
            },
            Wakers {
                hooks: 1,
                ..wakers.clone()
            },
        ];
        for w in changed {
            assert_eq!(not_due(Some(&scheduled), &w, now), None, "{w:?}");
        }
    }

    #[test]
    fn reason_labels_are_snake_case() {
        assert_eq!(snake("AuthenticationFailed"), "authentication_failed");
        assert_eq!(snake("NoWriteAccess"), "no_write_access");
    }
}
