//! The GitSync controller: one workspace kept in sync with one branch.
//!
//! Each reconcile first decides whether anything is due: a wake-up before the next poll with no
//! new waker (generation, the full-sync and reconcile annotations, a change of a Secret or the
//! GitConnection it uses) returns before any API call. Then it resolves the object's inputs (the
//! workspace token, the GitConnection's credentials) when one of those changed, keeps one
//! [`Syncer`] per GitSync while the inputs stay the same, and makes it take one step: the first run resumes from the branch or runs a full sync, later runs poll;
//! the `gitsync.dev/full-sync-requested-at` annotation asks for a full sync. Then it writes the
//! outcome into `status` by server-side apply (never `.spec`), publishes Events for full syncs,
//! pushes and failures, updates metrics, and asks to be called again after `spec.interval`.
//! Deleting a GitSync stops its syncs and leaves the repository exactly as it is.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::{Api, Resource as _, ResourceExt as _};

use super::conditions::{CONNECTION_ISSUES, State, conditions};
use super::context::{Context, Runner, Slot, Wakers, apply_status, not_due};
use super::crd::{FULL_SYNC_ANNOTATION, GitConnection, GitSync, RECONCILE_ANNOTATION};
use super::credentials::{CredentialProblem, for_connection};
use crate::git::cache;
use crate::git::remote::{Auth, Remote};
use crate::git::tree::Author;
use crate::model::ResourceType;
use crate::sync::full::{SyncError, Target};
use crate::sync::interval::Interval;
use crate::sync::runner::{Detection, Outcome, Syncer};
use crate::telemetry::metrics::{GitSyncKey, SyncKind, SyncResult};
use crate::url::scrub_urls;
use crate::workspace::now_rfc3339;
use crate::workspace::{Client as WorkspaceClient, ClientConfig};

/// Errors that end a reconcile early; the controller retries them with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Setup(String),
}

impl ReconcileError {
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "KubernetesApi",
            ReconcileError::Setup(_) => "Setup",
        }
    }
}

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
        (&self.author, &self.types).hash(&mut h);
        h.finish()
    }

    /// `message` without the credentials that the repository URL or the workspace endpoint may
    /// carry: what every condition, Event and log line of this GitSync goes through.
    fn scrub(&self, message: &dyn std::fmt::Display) -> String {
        scrub_urls(&message.to_string(), &[&self.url, &self.endpoint])
    }
}

/// Why inputs could not be resolved: a Stalled condition with this reason and message.
struct Problem {
    reason: &'static str,
    message: String,
}

impl From<CredentialProblem> for Problem {
    fn from(p: CredentialProblem) -> Problem {
        Problem {
            reason: p.reason(),
            message: p.to_string(),
        }
    }
}

async fn resolve(
    ctx: &Context,
    gs: &GitSync,
    namespace: &str,
) -> Result<Result<Inputs, Problem>, ReconcileError> {
    let spec = &gs.spec;
    let token_ref = &spec.workspace.token_secret_ref;
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
            return Ok(Err(Problem {
                reason: "InvalidInterval",
                message: format!("spec.interval: {e}"),
            }));
        }
    };
    if let Err(e) = crate::git::branch::validate(&spec.repository.branch) {
        return Ok(Err(Problem {
            reason: "InvalidBranch",
            message: format!("spec.repository.branch: {e}"),
        }));
    }
    let types = match crate::sync::export::parse_types(&spec.resource_types) {
        Ok(types) => types,
        Err(e) => {
            return Ok(Err(Problem {
                reason: "UnknownResourceType",
                message: format!("spec.resourceTypes: {e}"),
            }));
        }
    };
    let auth = match &spec.connection_ref {
        None => Auth::None,
        Some(conn_ref) => {
            let connections = Api::<GitConnection>::namespaced(ctx.client.clone(), namespace);
            let Some(connection) = connections.get_opt(&conn_ref.name).await? else {
                return Ok(Err(Problem {
                    reason: "GitConnectionNotFound",
                    message: format!(
                        "{CONNECTION_ISSUES}: GitConnection {} not found",
                        conn_ref.name
                    ),
                }));
            };
            let secret_name = &connection.spec.secret_ref.name;
            let Some(secret) = ctx.secret(namespace, secret_name).await? else {
                return Ok(Err(Problem {
                    reason: "SecretNotFound",
                    message: format!(
                        "{CONNECTION_ISSUES}: Secret {secret_name} (of GitConnection {}) not found",
                        conn_ref.name
                    ),
                }));
            };
            match for_connection(
                &ctx.state_dir,
                namespace,
                &conn_ref.name,
                secret_name,
                secret,
            ) {
                Ok(c) => c.auth,
                Err(p) => {
                    return Ok(Err(Problem {
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
    }))
}

fn build_syncer(
    ctx: &Context,
    namespace: &str,
    name: &str,
    inputs: &Inputs,
) -> Result<Syncer<WorkspaceClient>, String> {
    let mut config = ClientConfig::new(
        ClientConfig::base_url_for(&inputs.endpoint),
        inputs.token.clone(),
        format!("the workspace token Secret of GitSync {namespace}/{name}"),
    );
    config.observer = Some(ctx.metrics.clone());
    let client = WorkspaceClient::new(config).map_err(|e| inputs.scrub(&e))?;
    let cache_dir = ctx.state_dir.join("cache").join(namespace).join(name);
    let repo =
        cache::open(&cache_dir, &inputs.url, &inputs.branch).map_err(|e| inputs.scrub(&e))?;
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
        },
        inputs.types.clone(),
    ))
}

/// How often inputs are read again although no watch event said they changed (one missed).
const RESOLVE_AGAIN: Duration = Duration::from_secs(600);

/// When a GitSync whose inputs do not resolve is looked at again without a change.
const PROBLEM_RECHECK: Duration = Duration::from_secs(60);

/// The reconcile of one GitSync.
pub async fn reconcile(gs: Arc<GitSync>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = gs.namespace().unwrap_or_default();
    let name = gs.name_any();
    let key = GitSyncKey::new(&namespace, &name);
    let api = Api::<GitSync>::namespaced(ctx.client.clone(), &namespace);
    let object_ref = gs.object_ref(&());
    let previous = gs.status.clone().unwrap_or_default();
    let generation = gs.metadata.generation;

    if gs.metadata.deletion_timestamp.is_some() {
        ctx.forget(&namespace, &name);
        return Ok(Action::await_change());
    }

    let mut status = previous.clone();
    status.observed_generation = generation;
    status.repository = Some(crate::url::redacted(&gs.spec.repository.url));
    let annotations = gs.annotations();
    if let Some(requested) = annotations.get(RECONCILE_ANNOTATION) {
        status.last_handled_reconcile_at = Some(requested.clone());
    }

    if gs.spec.suspend {
        status.conditions = conditions(&State::Suspended, generation, &previous.conditions);
        // Its own status write wakes it again: write only a change.
        if status != previous {
            apply_status(&api, &name, &status).await?;
        }
        return Ok(Action::await_change());
    }

    let wakers = Wakers {
        generation,
        full_sync_requested_at: annotations.get(FULL_SYNC_ANNOTATION).cloned(),
        reconcile_requested_at: annotations.get(RECONCILE_ANNOTATION).cloned(),
        inputs: ctx.inputs_epoch::<GitSync>(&namespace, &name),
    };
    let slot = ctx.slot(&namespace, &name);
    let mut slot = slot.lock().await;
    // First, before any read: a wake-up with nothing due (the controller's own status write, an
    // annotation that is not a waker) makes no API call and spawns nothing.
    if let Some(wait) = not_due(slot.next_due.as_ref(), &wakers, Instant::now()) {
        return Ok(Action::requeue(wait));
    }

    let resolved_under = (generation, wakers.inputs);
    let fresh = slot.runner.as_ref().is_some_and(|r| {
        (r.resolved.0, r.resolved.1) == resolved_under && r.resolved.2.elapsed() < RESOLVE_AGAIN
    });
    if !fresh {
        let inputs = match resolve(&ctx, &gs, &namespace).await? {
            Ok(i) => i,
            Err(problem) => {
                let state = State::Stalled {
                    reason: problem.reason.to_owned(),
                    message: problem.message.clone(),
                };
                let changed =
                    previous.conditions.first().map(|c| c.reason.as_str()) != Some(problem.reason);
                status.conditions = conditions(&state, generation, &previous.conditions);
                apply_status(&api, &name, &status).await?;
                if changed {
                    ctx.event(
                        &object_ref,
                        true,
                        problem.reason,
                        "Configure",
                        problem.message,
                    )
                    .await;
                }
                ctx.metrics.reconcile_error("gitsync", problem.reason);
                // Secret and GitConnection changes wake this object up; this is a safety net.
                slot.next_due = Some((Instant::now() + PROBLEM_RECHECK, wakers));
                return Ok(Action::requeue(PROBLEM_RECHECK));
            }
        };
        let fingerprint = inputs.fingerprint();
        let resolved = (generation, wakers.inputs, Instant::now());
        match slot.runner.as_mut() {
            Some(runner) if runner.fingerprint == fingerprint => {
                runner.interval = inputs.interval;
                runner.urls = [inputs.url.clone(), inputs.endpoint.clone()];
                runner.resolved = resolved;
            }
            _ => {
                let syncer = build_syncer(&ctx, &namespace, &name, &inputs)
                    .map_err(ReconcileError::Setup)?;
                slot.runner = Some(Runner {
                    fingerprint,
                    syncer,
                    interval: inputs.interval,
                    branch: inputs.branch.clone(),
                    urls: [inputs.url.clone(), inputs.endpoint.clone()],
                    resolved,
                });
            }
        }
    }
    let Slot { runner, next_due } = &mut *slot;
    let Some(Runner {
        syncer,
        interval,
        branch,
        urls,
        ..
    }) = runner.as_mut()
    else {
        return Err(ReconcileError::Setup("no sync runner".into()));
    };
    let (interval, branch, urls) = (*interval, branch.clone(), urls.clone());

    let full_requested = annotations
        .get(FULL_SYNC_ANNOTATION)
        .filter(|v| previous.last_handled_full_sync_at.as_ref() != Some(*v))
        .cloned();
    let first_run = *syncer.detection() == Detection::NotStarted;
    if full_requested.is_some() || (first_run && previous.last_sync_time.is_none()) {
        // Let kstatus (and `kubectl wait`) see that a long full sync is under way.
        let mut progressing = status.clone();
        progressing.conditions = conditions(
            &State::Progressing {
                reason: "FullSyncRunning".into(),
                message: "Full sync in progress".into(),
            },
            generation,
            &previous.conditions,
        );
        apply_status(&api, &name, &progressing).await?;
    }

    let started = Instant::now();
    let result = match &full_requested {
        Some(_) => syncer.full_sync().await.map(Outcome::Full),
        None => syncer.poll().await,
    };
    // A resumed runner has not looked at the workspace yet: do that now, not an interval later.
    let result = match result {
        Ok(Outcome::Resumed(_)) => syncer.poll().await,
        other => other,
    };
    let elapsed = started.elapsed();
    for warning in syncer.take_warnings() {
        ctx.event(
            &object_ref,
            true,
            warning.reason(),
            "Sync",
            warning.to_string(),
        )
        .await;
    }
    let now = now_rfc3339();
    match result {
        Ok(outcome) => {
            let kind = match &outcome {
                Outcome::Full(_) | Outcome::Resumed(_) => SyncKind::Full,
                Outcome::Incremental(_) => SyncKind::Incremental,
                Outcome::ListAndDiff(_) => SyncKind::ListAndDiff,
            };
            if !matches!(outcome, Outcome::Resumed(_)) {
                ctx.metrics
                    .observe_sync(&key, kind, SyncResult::Success, elapsed);
            }
            let commits = outcome.commits();
            ctx.metrics.commits_pushed(&key, commits.len() as u64);
            if let Some(last) = commits.last() {
                let id = last.to_string();
                status.last_commit_short = Some(id.chars().take(7).collect());
                status.last_commit = Some(id);
                status.last_push_time = Some(now.clone());
            }
            if let Some(resources) = outcome.resources() {
                status.resources = resources
                    .iter()
                    .map(|(t, n)| (t.terraform_type().to_owned(), *n as u64))
                    .collect();
                ctx.metrics.set_resources(&key, &status.resources);
            }
            status.last_sync_time = Some(now.clone());
            ctx.metrics.set_last_success(&key, unix_now());
            status.change_detection = Some(
                match syncer.detection() {
                    Detection::ListAndDiff => "listAndDiff",
                    _ => "auditTrail",
                }
                .into(),
            );
            if let Some(requested) = &full_requested {
                status.last_handled_full_sync_at = Some(requested.clone());
            }
            let message = match &outcome {
                Outcome::Full(r) => {
                    status.last_full_sync_time = Some(now.clone());
                    let total: usize = r.resources.values().sum();
                    let note = format!(
                        "Full sync of {total} resources: {} commit(s) pushed to {}",
                        commits.len(),
                        branch
                    );
                    ctx.event(&object_ref, false, "FullSync", "Sync", note.clone())
                        .await;
                    note
                }
                Outcome::Resumed(point) => {
                    format!(
                        "Continuing from the point stored in {} ({})",
                        branch, point.since
                    )
                }
                _ if commits.is_empty() => format!("Up to date with {}", branch),
                _ => {
                    let note = format!("{} commit(s) pushed to {}", commits.len(), branch);
                    ctx.event(&object_ref, false, "Pushed", "Sync", note.clone())
                        .await;
                    note
                }
            };
            status.conditions = conditions(
                &State::Ready {
                    reason: "Synced".into(),
                    message,
                },
                generation,
                &previous.conditions,
            );
            apply_status(&api, &name, &status).await?;
            *next_due = Some((Instant::now() + interval, wakers));
            Ok(Action::requeue(interval))
        }
        Err(error) => {
            let kind = if full_requested.is_some() || first_run {
                SyncKind::Full
            } else {
                SyncKind::Incremental
            };
            ctx.metrics
                .observe_sync(&key, kind, SyncResult::Failure, elapsed);
            let (reason, message, stalled) = describe(&error);
            let message = scrub_urls(&message, &[&urls[0], &urls[1]]);
            if let SyncError::Remote(remote) = &error {
                ctx.metrics.push_failure(&key, &snake(remote.reason()));
            } else if matches!(error, SyncError::RemoteKeptMoving { .. }) {
                ctx.metrics.push_failure(&key, "remote_kept_moving");
            }
            ctx.metrics.reconcile_error("gitsync", reason);
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
            status.conditions = conditions(&state, generation, &previous.conditions);
            if let Some(requested) = &full_requested {
                // A failed request is handled too: asking again (a new value) retries it.
                status.last_handled_full_sync_at = Some(requested.clone());
            }
            apply_status(&api, &name, &status).await?;
            ctx.event(&object_ref, true, reason, "Sync", message).await;
            // Retry sooner than the interval for what may pass; stalled ones wait for a change
            // (Secrets and GitConnections wake the object) or the interval.
            let retry = if stalled {
                interval.max(Duration::from_secs(30))
            } else {
                interval.min(Duration::from_secs(30))
            };
            *next_due = Some((Instant::now() + retry, wakers));
            if damages_cache(&error) {
                // A new runner opens the cache again, which checks it and re-creates it when it
                // is damaged; this one's handle may still hold the damaged objects.
                *runner = None;
            }
            Ok(Action::requeue(retry))
        }
    }
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

/// How failed reconciles are retried: with a pause, counted in metrics.
pub fn error_policy(_: Arc<GitSync>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "GitSync reconcile failed");
    ctx.metrics.reconcile_error("gitsync", error.reason());
    Action::requeue(Duration::from_secs(15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_waker_or_the_due_time_runs_a_reconcile() {
        let wakers = Wakers {
            generation: Some(1),
            full_sync_requested_at: None,
            reconcile_requested_at: None,
            inputs: 0,
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
