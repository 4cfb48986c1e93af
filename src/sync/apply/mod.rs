//! Apply: carry out a [`Plan`] against the workspace, step by step, safely.
//!
//! - **Nothing stale.** Before the first write, the tree must be the one the plan was made from
//!   (or the one this apply's own rewrites left), and every resource a step touches must still
//!   be as the plan read it; otherwise nothing is written and the caller is told to re-plan,
//!   naming what moved.
//! - **Deletes only when allowed.** A plan that deletes (a delete or a replace) is refused
//!   unless the caller allows deletes.
//! - **Dependency order.** Creates and updates in [`create_rank`] order (labels and sources
//!   before what points at them), a replace as a delete then a create at its type's place,
//!   deletes last and in reverse.
//! - **Paced** to Segment's published per-operation limits ([`pace`]).
//! - **Stops at the first failure** and reports what was applied, what failed and what was not
//!   tried. Each request is announced in the [`journal`] before it is sent and confirmed after,
//!   so running the same apply again does only what remains; a step whose answer was lost (a
//!   kill, a timeout) is reconciled against the workspace before anything is sent again, and a
//!   create whose resource exists is adopted, never made twice.
//! - **The rewritten tree.** Each created or updated resource's file is rewritten as the
//!   workspace now holds it, under its id-based name, with the placeholders it was written with;
//!   a file that asked for a new resource is removed (as Segment's own Git Sync does on the pull
//!   request branch).
//!
//! Secrets are resolved here and only here, just before the request that carries them.

pub mod journal;
pub mod pace;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{Resource, ResourceType, diff};
use crate::sync::plan::{self, Action, Change, Plan, create_rank, resource_fingerprint};
use crate::sync::secrets::{self, MissingSecrets, SecretSource};
use crate::workspace::{Workspace, WorkspaceError, api};

pub use journal::{Entry, Journal, JournalError};

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

/// What an apply did.
#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Steps this run carried out.
    pub applied: Vec<Step>,
    /// Steps an earlier run of the same plan had finished.
    pub already_done: Vec<Step>,
    /// Steps found done in the workspace although their answer was lost (adopted creates).
    pub reconciled: Vec<Step>,
    /// The step that failed, and why.
    pub failed: Option<(Step, String)>,
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
        "the plan deletes, which destroys what Segment keeps for these resources; nothing was applied. Check the plan, then apply with --allow-deletes:\n{}",
        .0.join("\n")
    )]
    DeletesNotAllowed(Vec<String>),
    #[error(
        "the plan is stale: the files changed since it was made (tree {now}, the plan was made from {planned}); nothing was applied. Make a new plan"
    )]
    StaleTree { planned: String, now: String },
    #[error(
        "the plan is stale: the workspace changed since it was made; nothing was applied. Make a new plan:\n{}",
        .0.join("\n")
    )]
    StaleResources(Vec<String>),
    #[error("the plan has conflicts and cannot be applied; resolve them and plan again")]
    Conflicts,
    #[error("the plan is damaged: {0}")]
    BadPlan(String),
    #[error(transparent)]
    Secrets(#[from] MissingSecrets),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The tree the plan was made from cannot be read (to check it is still that tree).
    #[error(transparent)]
    Tree(#[from] crate::sync::tree::TreeReadError),
    #[error("cannot rewrite {path} in the tree: {source}")]
    Rewrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

/// Told about an apply as it goes.
pub trait ApplyProgress {
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
    /// The tree the plan was made from: checked against the plan's fingerprint, and rewritten.
    /// `None`: neither checked nor rewritten (the caller commits [`ApplyReport::rewritten`]).
    pub tree: Option<&'a Path>,
    /// Pace writes to Segment's per-operation limits, counted over this window (Segment's is
    /// [`pace::WINDOW`], a minute); `None` for a workspace without them.
    pub pace: Option<std::time::Duration>,
}

/// The steps of a plan in the order they are applied.
pub fn steps(plan: &Plan) -> Result<Vec<Step>, ApplyError> {
    let mut order: Vec<(usize, &Change, ResourceType)> = Vec::new();
    for (i, change) in plan.changes.iter().enumerate() {
        let ty = change.ty().ok_or_else(|| {
            ApplyError::BadPlan(format!("unknown resource type `{}`", change.resource_type))
        })?;
        order.push((i, change, ty));
    }
    order.sort_by_key(|(i, c, ty)| match c.action {
        Action::Delete => (1, usize::MAX - create_rank(*ty), *i),
        _ => (0, create_rank(*ty), *i),
    });
    let mut out = Vec::new();
    for (i, change, ty) in order {
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

/// A fingerprint of the plan document, which names its journal.
pub fn plan_fingerprint(plan: &Plan) -> String {
    use sha2::Digest;
    let text = serde_json::to_string(plan).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The resource a change asks for, as it was planned (placeholders unresolved).
fn desired(change: &Change) -> Result<Resource, ApplyError> {
    let text = change.desired.as_deref().ok_or_else(|| {
        ApplyError::BadPlan(format!("{} has no resource to write", change.address))
    })?;
    crate::hcl::parse(text, &change.file)
        .map_err(|e| ApplyError::BadPlan(format!("{}: {e}", change.address)))
}

/// What an apply keeps as it goes: its journal, its report, and the fingerprint of the tree it
/// rewrites (kept up to date file by file).
struct Record<'j> {
    journal: &'j mut Journal,
    report: ApplyReport,
    tree: Option<plan::TreeFingerprint>,
}

/// Applies the plan.
pub async fn apply<W: Workspace + Sync>(
    workspace: &W,
    plan: &Plan,
    journal: &mut Journal,
    options: &ApplyOptions<'_>,
    progress: &mut dyn ApplyProgress,
) -> Result<ApplyReport, ApplyError> {
    if !plan.conflicts.is_empty() {
        return Err(ApplyError::Conflicts);
    }
    let steps = steps(plan)?;
    if !options.allow_deletes {
        let deletes: Vec<String> = steps
            .iter()
            .filter(|s| s.op == Op::Delete && journal.done(s.step).is_none())
            .map(|s| format!("  - {} ({})", s.address, s.file))
            .collect();
        if !deletes.is_empty() {
            return Err(ApplyError::DeletesNotAllowed(deletes));
        }
    }
    // Every placeholder must resolve before anything is sent, and what a change writes must be
    // the resource it names (a plan file is a file: it may have been edited).
    for change in &plan.changes {
        if change.desired.is_none() {
            continue;
        }
        let wanted = desired(change)?;
        secrets::check(&wanted, &change.file, options.secrets)?;
        // (A replace deletes what `import_id` names and creates anew; an update writes in place.)
        if change.action == Action::Update && wanted.import_id().ok() != change.import_id {
            return Err(ApplyError::BadPlan(format!(
                "{} names {} but would write {}",
                change.address,
                change.import_id.as_deref().unwrap_or("nothing"),
                wanted.import_id().unwrap_or_default()
            )));
        }
    }
    let tree = match options.tree {
        Some(dir) => Some(plan::TreeFingerprint::of(
            &crate::sync::tree::read_dir_files(dir)?,
        )),
        None => None,
    };
    let mut record = Record {
        journal,
        report: ApplyReport::default(),
        tree,
    };
    // A run killed between a step's answer and its file leaves the rewrite to finish first
    // (it is idempotent), so that the tree is again one this apply's record knows.
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
    if let Some(tree) = &record.tree {
        let now = tree.value();
        if now != plan.tree && !record.journal.trees().any(|t| t == now) {
            return Err(ApplyError::StaleTree {
                planned: plan.tree.clone(),
                now,
            });
        }
    }
    // Nothing touched may have moved since the plan read it (steps an earlier run began are
    // reconciled instead: they may have moved because of that run).
    let mut stale = Vec::new();
    for step in &steps {
        let change = &plan.changes[step.change];
        if record.journal.done(step.step).is_some() || record.journal.intended(step.step) {
            continue;
        }
        if !(step.op == Op::Update || step.op == Op::Delete) {
            continue;
        }
        let Some(import_id) = &change.import_id else {
            return Err(ApplyError::BadPlan(format!(
                "{} has no import id",
                change.address
            )));
        };
        match workspace.get(step.ty, import_id).await? {
            Some(live) if Some(resource_fingerprint(&live)) == change.live_fingerprint => {}
            Some(_) => stale.push(format!(
                "  ~ {} was changed in the workspace",
                change.address
            )),
            None => stale.push(format!(
                "  - {} was deleted in the workspace",
                change.address
            )),
        }
    }
    if !stale.is_empty() {
        return Err(ApplyError::StaleResources(stale));
    }

    let mut pacer = pace::Pacer::new(options.pace);
    let total = steps.len();
    let mut remaining = steps.into_iter();
    while let Some(step) = remaining.next() {
        let change = &plan.changes[step.change];
        if record.journal.done(step.step).is_some() {
            record.report.already_done.push(step);
            continue;
        }
        progress.step(step.step + 1, total, &step);
        let resumed = record.journal.intended(step.step);
        if resumed
            && let Some(found) = reconcile(workspace, plan, &step, record.journal, options).await?
        {
            record.journal.record(Entry::Done {
                step: step.step,
                import_id: found.clone(),
            })?;
            rewrite(
                workspace,
                change,
                &step,
                found.as_deref(),
                None,
                &mut record,
                options,
            )
            .await?;
            record.report.reconciled.push(step);
            continue;
        }
        let wait = pacer.wait_for(step.ty, step.op.into(), Instant::now());
        if !wait.is_zero() {
            progress.waiting(wait, step.ty);
            tokio::time::sleep(wait).await;
        }
        if !resumed {
            record.journal.record(Entry::Intent { step: step.step })?;
        }
        let sent = send(workspace, change, &step, options).await;
        // Counted from the answer, not the sending: the workspace counts the write from its
        // arrival, which lies between the two, so the window never closes early on our side.
        pacer.sent(step.ty, step.op.into(), Instant::now());
        match sent {
            Ok((created, now)) => {
                record.journal.record(Entry::Done {
                    step: step.step,
                    import_id: created.clone(),
                })?;
                if step.op != Op::Delete {
                    rewrite(
                        workspace,
                        change,
                        &step,
                        created.as_deref(),
                        now,
                        &mut record,
                        options,
                    )
                    .await?;
                }
                record.report.applied.push(step);
            }
            Err(e) => {
                let message = without_secrets(&e.to_string(), change, options.secrets);
                record.report.failed = Some((step, message));
                record.report.not_tried = remaining.collect();
                return Ok(record.report);
            }
        }
    }
    Ok(record.report)
}

/// A message with every secret the change resolves taken out: a workspace may quote what it
/// was sent in its refusal ("invalid apiKey 's3cr3t'"), and the report is printed.
fn without_secrets(message: &str, change: &Change, secrets: &dyn SecretSource) -> String {
    let Ok(wanted) = desired(change) else {
        return message.to_owned();
    };
    let mut out = message.to_owned();
    for name in wanted.secret_placeholders() {
        if let Some(secret) = secrets.get(&name)
            && !secret.expose().is_empty()
        {
            out = out.replace(secret.expose(), &format!("(the secret @@{name}@@)"));
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

/// A step whose request was sent by an earlier run that never heard back: is it done? For a
/// create, the resource is looked for among those of its type that no file and no earlier step
/// accounts for; found, it is adopted (`Some(Some(import id))`). `None`: not done, send it.
async fn reconcile<W: Workspace + Sync>(
    workspace: &W,
    plan: &Plan,
    step: &Step,
    journal: &Journal,
    options: &ApplyOptions<'_>,
) -> Result<Option<Option<String>>, ApplyError> {
    let change = &plan.changes[step.change];
    match step.op {
        Op::Delete => {
            let import_id = change.import_id.as_deref().unwrap_or_default();
            Ok(match workspace.get(step.ty, import_id).await? {
                None => Some(None),
                Some(_) => None,
            })
        }
        // An update sets what the plan says; sending it again is harmless.
        Op::Update => Ok(None),
        Op::Create => {
            let wanted = desired(change)?;
            let known: Vec<&str> = journal.created().collect();
            for candidate in workspace.list(step.ty).await? {
                let Ok(id) = candidate.import_id() else {
                    continue;
                };
                if known.contains(&id.as_str()) || Some(&id) == change.import_id.as_ref() {
                    continue;
                }
                // A resource that has its own file in the tree existed before this apply.
                if let (Some(dir), Ok(path)) = (options.tree, candidate.path())
                    && dir.join(&path).exists()
                {
                    continue;
                }
                // The run may have died between the create and its follow-up writes (a
                // source's name is one), so what identifies the resource is what the create
                // request itself carries.
                let comparable = plan::comparable(&wanted, &candidate, options.secrets);
                let created_as = |r: &Resource| api::create_body(r.ty, &api::to_api(r));
                if created_as(&comparable) != created_as(&candidate) {
                    continue;
                }
                if !diff::diff(step.ty, &candidate.attributes, &comparable.attributes).is_empty() {
                    // Adopted half-made: finish it with what the create would have written.
                    let mut rest = secrets::resolve(&wanted, &change.file, options.secrets)?;
                    rest.id.clone_from(&candidate.id);
                    rest.new_name = None;
                    workspace.update(&rest).await?;
                }
                return Ok(Some(Some(id)));
            }
            Ok(None)
        }
    }
}

/// Writes a created or updated resource's file into the tree as the workspace holds it.
async fn rewrite<W: Workspace + Sync>(
    workspace: &W,
    change: &Change,
    step: &Step,
    created: Option<&str>,
    now: Option<Resource>,
    record: &mut Record<'_>,
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
    let content = crate::hcl::render(&now)
        .map_err(|e| ApplyError::BadPlan(format!("{}: {e}", change.address)))?;
    let removed = (path != change.file).then(|| change.file.clone());
    if let Some(dir) = options.tree {
        let target = safe_path(dir, &path)?;
        std::fs::create_dir_all(target.parent().unwrap_or(dir)).map_err(|source| {
            ApplyError::Rewrite {
                path: target.clone(),
                source,
            }
        })?;
        // Never over another resource's file (two labels Git Sync names alike, a misnamed file).
        if path != change.file
            && let Ok(existing) = std::fs::read(&target)
            && crate::hcl::tree::holds_another_resource(&path, &existing, &now)
        {
            let held = "the file holds another resource, which writing would lose; rename it";
            let source = std::io::Error::other(held);
            return Err(ApplyError::Rewrite {
                path: target,
                source,
            });
        }
        crate::sync::export::write_atomically(&target, content.as_bytes(), None, true).map_err(
            |source| ApplyError::Rewrite {
                path: target.clone(),
                source,
            },
        )?;
        if let Some(old) = &removed {
            let old = safe_path(dir, old)?;
            match std::fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ApplyError::Rewrite { path: old, source }),
            }
        }
    }
    let tree = match &mut record.tree {
        Some(tree) => {
            if let Some(old) = &removed {
                tree.remove(old);
            }
            tree.set(&path, content.as_bytes());
            tree.value()
        }
        None => String::new(),
    };
    record.journal.record(Entry::Rewritten {
        step: step.step,
        tree,
    })?;
    record.report.rewritten.push(Rewrite {
        removed,
        path,
        content,
    });
    Ok(())
}

/// `dir/<resource directory>/<name>.tf`, refusing anything else: a path from a plan file or an
/// id from the workspace must not reach outside the tree, or through a link.
fn safe_path(dir: &Path, path: &str) -> Result<PathBuf, ApplyError> {
    let bad =
        |why: &str| ApplyError::BadPlan(format!("`{path}` is not a resource file path: {why}"));
    let (sub, name) = path.split_once('/').ok_or_else(|| bad("no directory"))?;
    if ResourceType::from_directory(sub).is_none() {
        return Err(bad("not a resource directory"));
    }
    if name.is_empty()
        || name.contains('/')
        || name.contains('\\')
        || name.starts_with('.')
        || !name.ends_with(".tf")
    {
        return Err(bad("not a `.tf` file name"));
    }
    let sub_dir = dir.join(sub);
    if let Ok(meta) = std::fs::symlink_metadata(&sub_dir)
        && meta.file_type().is_symlink()
    {
        return Err(bad("its directory is a symbolic link"));
    }
    Ok(sub_dir.join(name))
}
