//! Apply: carry out a [`Plan`] against the workspace, step by step, safely. This module is the
//! orchestration; its parts each have one job:
//!
//! - `preflight`: everything checked before the first write. Nothing stale: the tree (a
//!   directory or a commit, always checked) must be the one the plan was made from, or one this
//!   apply's own rewrites left; every resource a step touches must still be as the plan read
//!   it; the workspace must be the one the plan was made for; deletes only when allowed; every
//!   secret resolvable and every path a step will write a resource file path.
//! - Dependency order ([`steps`]): the plan's changes in [`plan::order`], which is the order
//!   the plan shows; a replace is its delete then its create.
//! - [`pace`]: writes paced to Segment's published per-operation limits.
//! - [`journal`] (kept in a [`store::JournalStore`]): each request announced before it is sent
//!   and confirmed after, so running the same apply again does only what remains; [`session`]
//!   opens, resumes and abandons an apply, one at a time.
//! - `recover`: a step whose answer was lost (a kill, a timeout) is reconciled against the
//!   workspace before anything is sent again; a create whose resource exists is adopted, never
//!   made twice.
//! - [`tree`]: each created or updated resource's file is rewritten ([`tree::TreeSink`]: a
//!   directory, or a new commit on a branch) as the workspace now holds it, under its id-based
//!   name, with the placeholders it was written with.
//! - [`show`]: the report as text.
//!
//! Stops at the first failure and reports what was applied, what failed and what was not
//! tried. Secrets are resolved here and only here, just before the request that carries them,
//! and scrubbed from every message that could quote them. This module never names a command-line
//! flag: callers add the remedy in their own terms.

pub mod journal;
pub mod pace;
mod preflight;
mod recover;
pub mod session;
pub mod show;
pub mod store;
pub mod tree;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{Resource, ResourceType};
use crate::sync::plan::{self, Action, Change, Plan};
use crate::sync::secrets::{self, MissingSecrets, SecretSource};
use crate::workspace::{Workspace, WorkspaceError, api};

pub use journal::{Entry, Journal, JournalError};
pub use session::Session;
pub use store::{FileJournal, JournalStore, MemoryJournal, MemoryJournals};
pub use tree::{CommitSink, DirSink, TreeSink};

/// What one step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
}

/// One request-sized step of an apply: a change, or half of a replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The position of the step in the apply (what the journal records).
    pub step: usize,
    /// The change of the plan it belongs to.
    pub change: usize,
    pub op: Op,
    pub address: String,
    pub file: String,
    #[serde(skip)]
    pub ty: ResourceType,
}

impl From<Op> for api::WriteOp {
    fn from(op: Op) -> api::WriteOp {
        match op {
            Op::Create => api::WriteOp::Create,
            Op::Update => api::WriteOp::Update,
            Op::Delete => api::WriteOp::Delete,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = match self.op {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        };
        write!(f, "{verb} {} ({})", self.address, self.file)
    }
}

/// A file the apply wrote into the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// The file the change came from, when it is gone now (a new resource's file, a rename).
    pub removed: Option<String>,
    pub path: String,
    #[serde(skip)]
    pub content: String,
}

/// How a step whose answer was lost turned out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovered {
    /// Found done in the workspace (a create found there, adopted; a delete found gone).
    FoundDone,
    /// A create found in the workspace half-made (its follow-up writes missing), finished.
    FinishedHalfMade,
}

/// What an apply did.
#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// How many steps the plan has (none: the plan has no changes).
    pub total: usize,
    /// Steps this run carried out.
    pub applied: Vec<Step>,
    /// Steps an earlier run of the same plan had finished.
    pub already_done: Vec<Step>,
    /// Steps an earlier run sent without hearing back, found done in the workspace.
    pub reconciled: Vec<(Step, Recovered)>,
    /// The step that failed, and why (secrets scrubbed).
    pub failed: Option<(Step, String)>,
    /// A create the failed step left half-made: the resource exists, by this import id.
    pub half_made: Option<String>,
    pub not_tried: Vec<Step>,
    pub rewritten: Vec<Rewrite>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failed.is_none()
    }
}

/// Why an apply did not start (nothing was written), or could not go on keeping its record.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "the plan deletes, which destroys what Segment keeps for these resources; deletes need an explicit allowance; nothing was applied:\n{}",
        .0.join("\n")
    )]
    DeletesNotAllowed(Vec<String>),
    #[error(
        "the plan is stale: the tree ({tree}) changed since the plan was made; nothing was applied. Make a new plan{}",
        .moved.iter().map(|m| format!("\n{m}")).collect::<String>()
    )]
    StaleTree { tree: String, moved: Vec<String> },
    #[error(
        "the plan is stale: the workspace changed since it was made; nothing was applied. Make a new plan:\n{}",
        .0.join("\n")
    )]
    StaleResources(Vec<String>),
    #[error("the plan has conflicts and cannot be applied; resolve them and plan again")]
    Conflicts,
    #[error(
        "the plan was made for the workspace {planned}, but this token reaches the workspace {now}; nothing was applied. Make a plan for this workspace"
    )]
    WrongWorkspace { planned: String, now: String },
    #[error(
        "the plan does not record the workspace it was made for, so it cannot be checked against this one; make a new plan"
    )]
    NoWorkspace,
    #[error("the plan is damaged: {0}")]
    BadPlan(String),
    #[error(
        "{address}: the workspace already holds a resource identical to the one this create asks for ({import_id}), which this apply did not make (made since the plan, perhaps by this plan applied elsewhere); creating it again would duplicate it. Make a new plan, or allow duplicates to create it anyway"
    )]
    Duplicate { address: String, import_id: String },
    #[error("{address}: {source}; nothing was applied")]
    BadPath {
        address: String,
        source: tree::BadPath,
    },
    #[error(transparent)]
    Secrets(#[from] MissingSecrets),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The tree the plan was made from cannot be read (to check it is still that tree).
    #[error(transparent)]
    Tree(#[from] crate::sync::tree::TreeReadError),
    #[error(transparent)]
    Rewrite(#[from] tree::TreeWriteError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// Another error, whose message quoted a secret: the message without it.
    #[error("{message}")]
    Quoted {
        reason: &'static str,
        message: String,
    },
}

impl ApplyError {
    /// A short CamelCase reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::DeletesNotAllowed(_) => "DeletesNotAllowed",
            ApplyError::StaleTree { .. } => "StaleTree",
            ApplyError::StaleResources(_) => "StaleResources",
            ApplyError::Conflicts => "Conflicts",
            ApplyError::WrongWorkspace { .. } => "WrongWorkspace",
            ApplyError::NoWorkspace => "NoWorkspaceRecorded",
            ApplyError::BadPlan(_) => "BadPlan",
            ApplyError::Duplicate { .. } => "DuplicateCreate",
            ApplyError::BadPath { .. } => "BadPath",
            ApplyError::Secrets(_) => "MissingSecrets",
            ApplyError::Journal(e) => e.reason(),
            ApplyError::Tree(_) => "TreeUnreadable",
            ApplyError::Rewrite(_) => "RewriteFailed",
            ApplyError::Workspace(_) => "WorkspaceError",
            ApplyError::Quoted { reason, .. } => reason,
        }
    }
}

/// Told about an apply as it goes.
pub trait ApplyProgress: Send {
    /// Step `n` of `total` is about to be sent.
    fn step(&mut self, _n: usize, _total: usize, _step: &Step) {}
    /// Waiting `wait` for the write limit of a type.
    fn waiting(&mut self, _wait: Duration, _ty: ResourceType) {}
}

/// No progress output.
pub struct Quiet;
impl ApplyProgress for Quiet {}

/// How to apply.
pub struct ApplyOptions<'a> {
    pub allow_deletes: bool,
    pub secrets: &'a dyn SecretSource,
    /// Pace writes to Segment's per-operation limits, counted over this window (Segment's is
    /// [`pace::WINDOW`], a minute); `None` for a workspace without them.
    pub pace: Option<std::time::Duration>,
    /// Create even when the workspace holds a resource identical to the one a create asks for
    /// that this apply's journal does not know (made since the plan: perhaps by this plan,
    /// applied from another checkout).
    pub allow_duplicates: bool,
}

impl<'a> ApplyOptions<'a> {
    /// The careful defaults: no deletes, no duplicates, no pacing (for a workspace without
    /// Segment's limits); set a field to allow more.
    pub fn new(secrets: &'a dyn SecretSource) -> ApplyOptions<'a> {
        ApplyOptions {
            allow_deletes: false,
            secrets,
            pace: None,
            allow_duplicates: false,
        }
    }
}

/// The steps of a plan in the order they are applied: the plan's changes in [`plan::order`]
/// (the order a plan made by this gitsync already lists them in), a replace as its delete then
/// its create.
pub fn steps(plan: &Plan) -> Result<Vec<Step>, ApplyError> {
    let mut order: Vec<(usize, &Change)> = plan.changes.iter().enumerate().collect();
    order.sort_by_key(|(_, c)| plan::order_key(c));
    let mut out = Vec::new();
    for (i, change) in order {
        let ty = change.ty().ok_or_else(|| {
            ApplyError::BadPlan(format!("unknown resource type `{}`", change.resource_type))
        })?;
        let ops: &[Op] = match change.action {
            Action::Create => &[Op::Create],
            Action::Update => &[Op::Update],
            Action::Replace => &[Op::Delete, Op::Create],
            Action::Delete => &[Op::Delete],
        };
        for op in ops {
            out.push(Step {
                step: out.len(),
                change: i,
                op: *op,
                address: change.address.clone(),
                file: change.file.clone(),
                ty,
            });
        }
    }
    Ok(out)
}

/// The time Segment's write limits make the steps not done yet take, at least.
pub fn expected_duration<S: JournalStore>(steps: &[Step], journal: &Journal<S>) -> Duration {
    pace::expected_duration(
        steps
            .iter()
            .filter(|s| journal.done(s.step).is_none())
            .map(|s| (s.ty, s.op.into())),
    )
}

/// The resource a change asks for, as it was planned (placeholders unresolved).
fn desired(change: &Change) -> Result<Resource, ApplyError> {
    let text = change.desired.as_deref().ok_or_else(|| {
        ApplyError::BadPlan(format!("{} has no resource to write", change.address))
    })?;
    crate::hcl::parse(text, &change.file)
        .map_err(|e| ApplyError::BadPlan(format!("{}: {e}", change.address)))
}

/// What an apply keeps as it goes: its journal, its report, the tree it rewrites and that
/// tree's fingerprint (kept up to date file by file).
struct Record<'j, S: JournalStore> {
    journal: &'j mut Journal<S>,
    report: ApplyReport,
    sink: &'j mut dyn TreeSink,
    tree: plan::TreeFingerprint,
}

/// Applies the plan, rewriting the files of what it created or changed into `sink` (which is
/// also the tree checked against the plan's fingerprint). No message it returns holds a secret
/// the plan resolves.
pub async fn apply<W: Workspace + Sync, S: JournalStore>(
    workspace: &W,
    plan: &Plan,
    journal: &mut Journal<S>,
    sink: &mut dyn TreeSink,
    options: &ApplyOptions<'_>,
    progress: &mut dyn ApplyProgress,
) -> Result<ApplyReport, ApplyError> {
    run(workspace, plan, journal, sink, options, progress)
        .await
        .map_err(|e| scrubbed(e, plan, options.secrets))
}

/// An error whose message quotes a secret (a workspace's answer may), as that message without
/// it.
fn scrubbed(e: ApplyError, plan: &Plan, secrets: &dyn SecretSource) -> ApplyError {
    let text = e.to_string();
    let clean = plan.changes.iter().fold(text.clone(), |m, change| {
        without_secrets(&m, change, secrets)
    });
    if clean == text {
        e
    } else {
        ApplyError::Quoted {
            reason: e.reason(),
            message: clean,
        }
    }
}

async fn run<W: Workspace + Sync, S: JournalStore>(
    workspace: &W,
    plan: &Plan,
    journal: &mut Journal<S>,
    sink: &mut dyn TreeSink,
    options: &ApplyOptions<'_>,
    progress: &mut dyn ApplyProgress,
) -> Result<ApplyReport, ApplyError> {
    let steps = steps(plan)?;
    preflight::plan_itself(plan, &steps, journal, options)?;
    preflight::same_workspace(workspace, plan).await?;
    // The tree first, before anything (a pending rewrite included) is written into it.
    let tree = preflight::same_tree(plan, journal, &*sink)?;
    let mut record = Record {
        journal,
        report: ApplyReport {
            total: steps.len(),
            ..ApplyReport::default()
        },
        sink,
        tree,
    };
    // A run killed between a step's answer and its file leaves the rewrite to finish (it is
    // idempotent).
    for step in &steps {
        if step.op != Op::Delete
            && let Some(created) = record.journal.done(step.step)
            && !record.journal.rewritten(step.step)
        {
            let change = &plan.changes[step.change];
            rewrite(
                workspace,
                change,
                step,
                created.as_deref(),
                None,
                &mut record,
                options,
            )
            .await?;
        }
    }
    preflight::nothing_moved(workspace, plan, &steps, record.journal).await?;

    let mut state = Pending {
        pacer: pace::Pacer::new(options.pace),
        listings: recover::Listings::default(),
    };
    let total = steps.len();
    let mut remaining = steps.into_iter();
    while let Some(step) = remaining.next() {
        if record.journal.done(step.step).is_some() {
            record.report.already_done.push(step);
            continue;
        }
        progress.step(step.step + 1, total, &step);
        let at = Here {
            workspace,
            plan,
            step: &step,
            options,
        };
        match run_step(&at, &mut record, &mut state, progress).await? {
            Stepped::Applied => record.report.applied.push(step),
            Stepped::Reconciled(how) => record.report.reconciled.push((step, how)),
            Stepped::Failed { error, half_made } => {
                let change = &plan.changes[step.change];
                return Ok(failed(
                    record, step, remaining, &error, change, options, half_made,
                ));
            }
        }
    }
    record.journal.record(Entry::Complete).await?;
    Ok(record.report)
}

/// What a run keeps from step to step: the pacing windows, and the listings looked at before
/// creates.
struct Pending {
    pacer: pace::Pacer,
    listings: recover::Listings,
}

/// The step being run, and what it is run against.
struct Here<'a, W> {
    workspace: &'a W,
    plan: &'a Plan,
    step: &'a Step,
    options: &'a ApplyOptions<'a>,
}

/// How a step ended.
enum Stepped {
    Applied,
    /// Found done in the workspace (an earlier run's request).
    Reconciled(Recovered),
    /// Refused; the apply stops here.
    Failed {
        error: ApplyError,
        half_made: Option<String>,
    },
}

/// Runs one step not done yet: what an earlier run did is looked for first (and, before a
/// create, an identical resource made since the plan), then the request is announced, paced,
/// sent, recorded and its file rewritten. `Err`: the journal or the tree could not be kept.
async fn run_step<W: Workspace + Sync, S: JournalStore>(
    at: &Here<'_, W>,
    record: &mut Record<'_, S>,
    state: &mut Pending,
    progress: &mut dyn ApplyProgress,
) -> Result<Stepped, ApplyError> {
    let (workspace, plan, step, options) = (at.workspace, at.plan, at.step, at.options);
    let change = &plan.changes[step.change];
    // An earlier run sent this step and never heard back, or its create was refused after it
    // made the resource: what it did is looked for before anything is sent again.
    let resumed = record.journal.answer_lost(step.step)
        || record.journal.failed(step.step).flatten().is_some();
    let known: Vec<String> = record.journal.created().map(str::to_owned).collect();
    if let Some(ended) = look_first(at, record, state, &known, resumed).await? {
        return Ok(ended);
    }
    let wait = state
        .pacer
        .wait_for(step.ty, step.op.into(), Instant::now());
    if !wait.is_zero() {
        progress.waiting(wait, step.ty);
        tokio::time::sleep(wait).await;
    }
    if !record.journal.answer_lost(step.step) {
        record
            .journal
            .record(Entry::Intent { step: step.step })
            .await?;
    }
    let sent = send(workspace, change, step, options).await;
    // Counted from the answer, not the sending: the workspace counts the write from its
    // arrival, which lies between the two, so the window never closes early on our side.
    state.pacer.sent(step.ty, step.op.into(), Instant::now());
    match sent {
        Ok((created, now)) => {
            record
                .journal
                .record(Entry::Done {
                    step: step.step,
                    import_id: created.clone(),
                })
                .await?;
            if step.op != Op::Delete {
                rewrite(
                    workspace,
                    change,
                    step,
                    created.as_deref(),
                    now,
                    record,
                    options,
                )
                .await?;
            }
            Ok(Stepped::Applied)
        }
        Err(error) => {
            // A create may have made its resource before it failed (a follow-up write
            // refused): say so, so that no one makes it again by hand.
            let half_made = if step.op == Op::Create {
                let fresh = None;
                match recover::find_done(
                    workspace,
                    plan,
                    step,
                    &known,
                    &*record.sink,
                    options,
                    fresh,
                )
                .await
                {
                    Ok(Some(found)) => found.import_id,
                    _ => None,
                }
            } else {
                None
            };
            record
                .journal
                .record(Entry::Failed {
                    step: step.step,
                    half_made: half_made.clone(),
                })
                .await?;
            Ok(Stepped::Failed { error, half_made })
        }
    }
}

/// Before a step is sent: what an earlier run did (`resumed`: its answer was lost, or its create
/// was refused after making the resource), and before a create, an identical resource made
/// since the plan. `Some`: the step ends here.
async fn look_first<W: Workspace + Sync, S: JournalStore>(
    at: &Here<'_, W>,
    record: &mut Record<'_, S>,
    state: &mut Pending,
    known: &[String],
    resumed: bool,
) -> Result<Option<Stepped>, ApplyError> {
    let (workspace, plan, step, options) = (at.workspace, at.plan, at.step, at.options);
    let change = &plan.changes[step.change];
    let found = if resumed || (step.op == Op::Create && !options.allow_duplicates) {
        let listings = Some(&mut state.listings);
        recover::find_done(
            workspace,
            plan,
            step,
            known,
            &*record.sink,
            options,
            listings,
        )
        .await
    } else {
        Ok(None)
    };
    let found = match found {
        Ok(found) => found,
        Err(error) => {
            return Ok(Some(Stepped::Failed {
                error,
                half_made: None,
            }));
        }
    };
    match found {
        Some(found) if resumed => {
            let how = found.how();
            if let Some(half) = &found.half_made
                && let Err(error) = recover::finish(workspace, plan, step, half, options).await
            {
                return Ok(Some(Stepped::Failed {
                    error,
                    half_made: found.import_id,
                }));
            }
            record
                .journal
                .record(Entry::Done {
                    step: step.step,
                    import_id: found.import_id.clone(),
                })
                .await?;
            let created = found.import_id.as_deref();
            rewrite(workspace, change, step, created, None, record, options).await?;
            Ok(Some(Stepped::Reconciled(how)))
        }
        // Not this apply's: an identical resource made since the plan, by someone else or by
        // this plan applied from another checkout (with another journal).
        Some(found) => Ok(Some(Stepped::Failed {
            error: ApplyError::Duplicate {
                address: change.address.clone(),
                import_id: found.import_id.unwrap_or_default(),
            },
            half_made: None,
        })),
        None => Ok(None),
    }
}

/// The report of an apply stopped at `step`.
fn failed<S: JournalStore>(
    mut record: Record<'_, S>,
    step: Step,
    remaining: std::vec::IntoIter<Step>,
    error: &ApplyError,
    change: &Change,
    options: &ApplyOptions<'_>,
    half_made: Option<String>,
) -> ApplyReport {
    let message = without_secrets(&error.to_string(), change, options.secrets);
    record.report.failed = Some((step, message));
    record.report.half_made = half_made;
    record.report.not_tried = remaining.collect();
    record.report
}

/// A message with every secret the change resolves taken out, in every form a message can
/// quote it: as sent, and JSON-escaped (a secret holding `"`, `\` or a tab is quoted escaped by
/// a JSON error body). A workspace may quote what it was sent in its refusal.
fn without_secrets(message: &str, change: &Change, secrets: &dyn SecretSource) -> String {
    // The placeholders as the plan's text holds them: a desired that does not parse still
    // names its secrets.
    let text = change.desired.as_deref().unwrap_or_default();
    let mut names: Vec<String> = crate::model::secret_placeholders(text)
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    let mut out = message.to_owned();
    for name in names {
        let Some(secret) = secrets.get(&name) else {
            continue;
        };
        let clear = secret.expose();
        if clear.is_empty() {
            continue;
        }
        let escaped = serde_json::to_string(clear).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        let twice = serde_json::to_string(escaped).unwrap_or_default();
        let twice = twice.trim_matches('"');
        let shown = format!("(the secret @@{name}@@)");
        for form in [clear, escaped, twice] {
            if !form.is_empty() {
                out = out.replace(form, &shown);
            }
        }
    }
    out
}

/// Sends one step. Answers with the import id a create gave the resource, and the resource as
/// the workspace now holds it (for the rewrite; none for a delete).
async fn send<W: Workspace + Sync>(
    workspace: &W,
    change: &Change,
    step: &Step,
    options: &ApplyOptions<'_>,
) -> Result<(Option<String>, Option<Resource>), ApplyError> {
    match step.op {
        Op::Delete => {
            let import_id = change.import_id.as_deref().unwrap_or_default();
            // Already gone: nothing to delete.
            if let Some(live) = workspace.get(step.ty, import_id).await? {
                workspace.delete(&live).await?;
            }
            Ok((None, None))
        }
        Op::Update => {
            let resolved = secrets::resolve(&desired(change)?, &change.file, options.secrets)?;
            let now = workspace.update(&resolved).await?;
            Ok((None, Some(now)))
        }
        Op::Create => {
            let mut wanted = desired(change)?;
            if change.action == Action::Replace {
                wanted.id = None;
                wanted.new_name = Some(wanted.terraform_name().unwrap_or_default());
            }
            let resolved = secrets::resolve(&wanted, &change.file, options.secrets)?;
            let created = workspace.create(&resolved).await?;
            let id = created.import_id().map_err(|e| {
                ApplyError::BadPlan(format!(
                    "{}: the created resource has no import id: {e}",
                    change.address
                ))
            })?;
            Ok((Some(id), Some(created)))
        }
    }
}

/// Writes a created or updated resource's file into the tree as the workspace holds it.
async fn rewrite<W: Workspace + Sync, S: JournalStore>(
    workspace: &W,
    change: &Change,
    step: &Step,
    created: Option<&str>,
    now: Option<Resource>,
    record: &mut Record<'_, S>,
    options: &ApplyOptions<'_>,
) -> Result<(), ApplyError> {
    let import_id = match (step.op, created, &change.import_id) {
        (Op::Create, Some(id), _) => id.to_owned(),
        (Op::Update, _, Some(id)) => id.clone(),
        _ => return Ok(()),
    };
    let now = match now {
        Some(now) => Some(now),
        None => workspace.get(step.ty, &import_id).await?,
    };
    let Some(mut now) = now else {
        return Ok(());
    };
    // In the workspace a resource is named by its import id, whatever the file called it.
    now.new_name = None;
    secrets::keep_placeholders(&desired(change)?, &mut now, options.secrets);
    let path = now
        .path()
        .map_err(|e| ApplyError::BadPlan(format!("{}: {e}", change.address)))?;
    tree::check_path(&path).map_err(|source| ApplyError::BadPath {
        address: change.address.clone(),
        source,
    })?;
    let content = crate::hcl::render(&now)
        .map_err(|e| ApplyError::BadPlan(format!("{}: {e}", change.address)))?;
    let removed = (path != change.file).then(|| change.file.clone());
    // Never over another resource's file (two labels Git Sync names alike, a misnamed file).
    if removed.is_some()
        && let Some(existing) = record.sink.read(&path)
        && crate::hcl::tree::holds_another_resource(&path, &existing, &now)
    {
        return Err(ApplyError::Rewrite(tree::TreeWriteError {
            sink: record.sink.describe(),
            path,
            message: "the file holds another resource, which writing would lose; rename it"
                .to_owned(),
        }));
    }
    // The fingerprints the writes leave, journaled before the first: a kill in between leaves
    // a tree this apply knows as its own.
    let mut after = record.tree.clone();
    after.set(&path, content.as_bytes());
    let mut trees = vec![after.value()];
    if let Some(old) = &removed {
        after.remove(old);
        trees.push(after.value());
    }
    let tree = trees.last().cloned().unwrap_or_default();
    record
        .journal
        .record(Entry::Rewriting {
            step: step.step,
            trees,
        })
        .await?;
    record.sink.rewrite(&path, &content, removed.as_deref())?;
    record.tree = after;
    record
        .journal
        .record(Entry::Rewritten {
            step: step.step,
            tree,
        })
        .await?;
    record.report.rewritten.push(Rewrite {
        removed,
        path,
        content,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: Action, ty: ResourceType, file: &str) -> Change {
        Change {
            action,
            resource_type: ty.terraform_type().to_owned(),
            address: format!("{}.{file}", ty.terraform_type()),
            file: file.to_owned(),
            import_id: None,
            attributes: Vec::new(),
            live_fingerprint: None,
            desired: None,
            dependents: Vec::new(),
        }
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            changes,
            ..Plan::new(&[], None)
        }
    }

    /// The order apply runs, step by step, for plans in any order: what others point at first,
    /// a replace as its delete then its create at its type's place, deletes last in reverse;
    /// and a plan made in that order runs exactly in its own order.
    #[test]
    fn steps_run_in_the_one_order_and_a_plan_lists_them_so() {
        use Action as A;
        use ResourceType as T;
        type Case = (
            &'static str,
            Vec<(A, T, &'static str)>,
            Vec<(Op, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            (
                "creates by dependency",
                vec![
                    (A::Create, T::Destination, "d.tf"),
                    (A::Create, T::Source, "s.tf"),
                    (A::Create, T::Label, "l.tf"),
                ],
                vec![
                    (Op::Create, "l.tf"),
                    (Op::Create, "s.tf"),
                    (Op::Create, "d.tf"),
                ],
            ),
            (
                "deletes last, in reverse dependency",
                vec![
                    (A::Delete, T::Label, "l.tf"),
                    (A::Delete, T::Destination, "d.tf"),
                    (A::Update, T::Source, "s.tf"),
                ],
                vec![
                    (Op::Update, "s.tf"),
                    (Op::Delete, "d.tf"),
                    (Op::Delete, "l.tf"),
                ],
            ),
            (
                "a replace at its type's place, its delete first",
                vec![
                    (A::Create, T::DestinationFilter, "f.tf"),
                    (A::Replace, T::Destination, "d.tf"),
                    (A::Create, T::Source, "s.tf"),
                ],
                vec![
                    (Op::Create, "s.tf"),
                    (Op::Delete, "d.tf"),
                    (Op::Create, "d.tf"),
                    (Op::Create, "f.tf"),
                ],
            ),
            (
                "by file within a type",
                vec![
                    (A::Update, T::Source, "b.tf"),
                    (A::Create, T::Source, "a.tf"),
                    (A::Delete, T::Source, "d.tf"),
                    (A::Delete, T::Source, "c.tf"),
                ],
                vec![
                    (Op::Create, "a.tf"),
                    (Op::Update, "b.tf"),
                    (Op::Delete, "c.tf"),
                    (Op::Delete, "d.tf"),
                ],
            ),
        ];
        for (what, changes, want) in cases {
            let mut changes: Vec<Change> = changes
                .into_iter()
                .map(|(a, t, f)| change(a, t, f))
                .collect();
            let got = |changes: Vec<Change>| -> Vec<(Op, String)> {
                steps(&plan_of(changes))
                    .unwrap_or_else(|e| panic!("{e}"))
                    .into_iter()
                    .map(|s| (s.op, s.file))
                    .collect()
            };
            let want: Vec<(Op, String)> = want.into_iter().map(|(o, f)| (o, f.into())).collect();
            assert_eq!(got(changes.clone()), want, "{what}");
            // A plan lists its changes in that order, so its steps follow the list.
            plan::order(&mut changes);
            let listed: Vec<String> = changes.iter().map(|c| c.file.clone()).collect();
            let mut ran: Vec<String> = got(changes).into_iter().map(|(_, f)| f).collect();
            ran.dedup();
            assert_eq!(ran, listed, "{what}: the plan's order is not the order run");
        }
    }

    #[test]
    fn secrets_are_scrubbed_in_every_form_a_message_quotes_them() {
        struct One;
        impl SecretSource for One {
            fn get(&self, name: &str) -> Option<secrets::Secret> {
                (name == "k").then(|| secrets::Secret::new("a\"b\\c\td-0123456789"))
            }
        }
        let mut c = change(
            Action::Create,
            ResourceType::Destination,
            "destinations/x.tf",
        );
        c.desired = Some(
            "resource \"segment_destination\" \"x\" {\n  settings = jsonencode({ \"apiKey\" = \"@@k@@\" })\n}\n"
                .into(),
        );
        let forms = [
            "a\"b\\c\td-0123456789".to_owned(),
            serde_json::to_string("a\"b\\c\td-0123456789").unwrap_or_default(),
            serde_json::to_string(
                &serde_json::to_string("a\"b\\c\td-0123456789").unwrap_or_default(),
            )
            .unwrap_or_default(),
        ];
        for form in forms {
            let message = format!("refused: apiKey {form} is wrong");
            let out = without_secrets(&message, &c, &One);
            assert!(!out.contains("0123456789"), "{form}: {out}");
            assert!(out.contains("(the secret @@k@@)"), "{form}: {out}");
        }
    }
}
