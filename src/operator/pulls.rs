//! The pull-request pass of a GitSync, around the workflow of [`crate::pulls`]: builds the
//! forge from the GitConnection, hands the workflow the Kubernetes-backed parts (the apply
//! journal in a ConfigMap, the stash of accepted applies, SyncSecrets), and turns what it did
//! into `status.pullRequests`, Events and metrics.
//!
//! It owns no logic of the workflow: which pull request is planned, whether a command may
//! apply, what a comment says, are all decided in [`crate::pulls`]. It must never put a secret
//! in a status field, an Event or a log line: messages come from the workflow, which has none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{Api, ResourceExt as _};

use super::context::{Context, apply_status};
use super::crd::{GitSync, GitSyncStatus};
use super::gitsync::EventSpec;
use super::journal::{ConfigMapJournal, Takeover};
use super::stash::ConfigMapStash;
use crate::forge::Forge as _;
use crate::forge::any::AnyForge;
use crate::pulls::record::{PullRecord, open_plans};
use crate::pulls::rules::Allowances;
use crate::pulls::{Happened, Journals, Observer, Pass, Repository, Settings};
use crate::sync::secrets::SecretSource;
use crate::workspace::Client as WorkspaceClient;

/// How soon a pass runs again when it waits on the forge (mergeability being computed).
pub const LOOK_AGAIN: Duration = Duration::from_secs(5);

/// What a pass leaves for the reconcile.
pub struct Reviewed {
    /// The status with `pullRequests` and `openPlans` as they are now.
    pub status: GitSyncStatus,
    pub events: Vec<EventSpec>,
    /// Run again soon rather than at the interval.
    pub look_again_soon: bool,
}

/// The journal of this GitSync, taken over as the leader: the operator runs controllers only
/// while it holds the leader lease, so a journal another holder holds was left by a replica
/// that lost it.
struct GitSyncJournals {
    client: kube::Client,
    gitsync: GitSync,
}

impl Journals for GitSyncJournals {
    type Store = ConfigMapJournal;
    fn open(&self) -> ConfigMapJournal {
        ConfigMapJournal::new(self.client.clone(), &self.gitsync, Takeover::AsLeader)
    }
}

/// Collects what happened, for Events and metrics after the pass, and writes the status when
/// an apply starts (so that `kubectl get` says "applying" while it runs).
struct StatusObserver<'a> {
    ctx: &'a Context,
    api: &'a Api<GitSync>,
    name: String,
    base: GitSyncStatus,
    records: Mutex<Vec<PullRecord>>,
    happened: Mutex<Vec<Happened>>,
}

impl Observer for StatusObserver<'_> {
    fn happened(&self, what: &Happened) {
        match what {
            Happened::Planned {
                result, duration, ..
            } => self
                .ctx
                .metrics
                .observe_plan(result, duration.as_secs_f64()),
            Happened::Refused { .. } => self.ctx.metrics.observe_apply("refused"),
            Happened::Applied { result, .. } => self.ctx.metrics.observe_apply(result),
            Happened::ApplyStarted { .. } => {}
        }
        self.happened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what.clone());
    }

    async fn save(&self, record: &PullRecord) {
        let status = {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            match records.iter_mut().find(|r| r.number == record.number) {
                Some(r) => *r = record.clone(),
                None => records.push(record.clone()),
            }
            with_records(&self.base, records.clone())
        };
        if let Err(e) = apply_status(self.api, &self.name, &status).await {
            tracing::warn!(error = %e, "cannot write the status of an apply that starts");
        }
    }
}

fn with_records(base: &GitSyncStatus, mut records: Vec<PullRecord>) -> GitSyncStatus {
    records.sort_by_key(|r| r.number);
    let mut status = base.clone();
    status.open_plans = Some(open_plans(&records) as u32);
    status.pull_requests = Some(records);
    status
}

/// What the workflow needs that the reconcile already has.
pub struct PassInputs<'a> {
    pub forge: &'a AnyForge,
    pub workspace: &'a WorkspaceClient,
    pub repository: Repository,
    pub apply_lock: Arc<tokio::sync::RwLock<()>>,
    pub pace: Option<Duration>,
}

/// Runs one pull-request pass for `gs`, from the status on the server (`base`).
pub async fn review(
    ctx: &Context,
    gs: &GitSync,
    api: &Api<GitSync>,
    base: &GitSyncStatus,
    inputs: PassInputs<'_>,
) -> Reviewed {
    let namespace = gs.namespace().unwrap_or_default();
    let spec = &gs.spec.bidirectional;
    let secrets: Box<dyn SecretSource> = match super::sync_secrets::resolve(&ctx.client, &namespace)
        .await
    {
        Ok(s) => Box::new(s),
        Err(e) => {
            tracing::warn!(reason = e.reason(), error = %e, "SyncSecrets do not resolve; placeholders stay unresolved");
            Box::new(crate::sync::secrets::NoSecrets)
        }
    };
    let settings = Settings {
        base_branch: gs.spec.repository.branch.clone(),
        apply_command: spec.apply_command.clone(),
        allowances: Allowances {
            allowed_users: spec.allowed_users.clone(),
            allow_deletes: spec.allow_deletes,
            allow_access_changes: spec.allow_access_changes,
            allow_forks: spec.allow_forks,
        },
        merge_after_apply: spec.merge_after_apply,
        holder: holder(),
        author: crate::git::tree::Author {
            name: gs.spec.author.name.clone(),
            email: gs.spec.author.email.clone(),
        },
        pace: inputs.pace,
        mergeability_wait: Duration::from_secs(10),
    };
    let journals = GitSyncJournals {
        client: ctx.client.clone(),
        gitsync: gs.clone(),
    };
    let stash = ConfigMapStash::new(ctx.client.clone(), gs);
    let previous = base.pull_requests.clone().unwrap_or_default();
    let observer = StatusObserver {
        ctx,
        api,
        name: gs.name_any(),
        base: base.clone(),
        records: Mutex::new(previous.clone()),
        happened: Mutex::new(Vec::new()),
    };
    let pass = Pass {
        forge: inputs.forge,
        workspace: inputs.workspace,
        repository: &inputs.repository,
        journals: &journals,
        stash: &stash,
        observer: &observer,
        secrets: secrets.as_ref(),
        settings: &settings,
        apply_lock: Some(inputs.apply_lock),
    };
    let outcome = pass.run(previous).await;
    let mut events: Vec<EventSpec> = observer
        .happened
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|h| event(inputs.forge.kind().pull_noun(), h))
        .collect();
    for (number, error) in &outcome.errors {
        let what = if *number == 0 {
            format!("the {}s", inputs.forge.kind().pull_noun())
        } else {
            format!("{} #{number}", inputs.forge.kind().pull_noun())
        };
        events.push(EventSpec {
            warning: true,
            reason: "PullRequestError".to_owned(),
            action: "Review",
            note: format!("{what}: {error}"),
        });
    }
    Reviewed {
        status: with_records(base, outcome.records),
        events,
        look_again_soon: outcome.look_again_soon,
    }
}

fn event(noun: &str, what: &Happened) -> EventSpec {
    let (warning, reason, action, note) = match what {
        Happened::Planned {
            number,
            result,
            message,
            ..
        } => (
            matches!(*result, "invalid" | "error" | "conflicted"),
            "Planned",
            "Plan",
            format!("{noun} #{number} ({result}): {message}"),
        ),
        Happened::Refused {
            number,
            login,
            reason,
            message,
        } => (
            true,
            "ApplyRefused",
            "Apply",
            format!(
                "{noun} #{number}: the apply command of {login} was refused ({reason}): {message}"
            ),
        ),
        Happened::ApplyStarted {
            number,
            login,
            resumed,
        } => (
            false,
            "ApplyStarted",
            "Apply",
            format!(
                "{noun} #{number}: {} the plan for {login}",
                if *resumed { "resuming" } else { "applying" }
            ),
        ),
        Happened::Applied {
            number,
            result,
            message,
        } => (
            *result != "succeeded",
            if *result == "succeeded" {
                "Applied"
            } else {
                "ApplyFailed"
            },
            "Apply",
            format!("{noun} #{number}: {message}"),
        ),
    };
    EventSpec {
        warning,
        reason: reason.to_owned(),
        action,
        note,
    }
}

/// This replica, as the journal and a refused second apply name it.
fn holder() -> String {
    match std::env::var("POD_NAME") {
        Ok(pod) if !pod.is_empty() => format!("pod {pod}"),
        _ => crate::sync::apply::session::this_process(),
    }
}

/// The object reference Events of a pass are about.
pub fn object_ref(gs: &GitSync) -> ObjectReference {
    use kube::Resource as _;
    gs.object_ref(&())
}
