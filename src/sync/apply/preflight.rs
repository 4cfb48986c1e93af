//! Everything an apply checks before its first write, so that a refusal leaves the workspace and
//! the tree exactly as they were.
//!
//! This module only reads (the plan, the tree, the workspace); it never writes anything.

use crate::sync::plan::{self, Action, Plan, resource_fingerprint};
use crate::sync::secrets;
use crate::workspace::Workspace;

use super::journal::Journal;
use super::store::JournalStore;
use super::tree::{TreeSink, check_path};
use super::{ApplyError, ApplyOptions, Op, Step, desired};

/// What the plan itself must be: no conflicts, deletes allowed when it has any left to do,
/// every placeholder resolvable, every change writing the resource it names, and every path a
/// step will write a resource file path (a create refused after it was sent leaves a resource
/// every rerun trips over).
pub(super) fn plan_itself<S: JournalStore>(
    plan: &Plan,
    steps: &[Step],
    journal: &Journal<S>,
    options: &ApplyOptions<'_>,
) -> Result<(), ApplyError> {
    if !plan.conflicts.is_empty() {
        return Err(ApplyError::Conflicts);
    }
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
    for change in &plan.changes {
        let bad_path = |source| ApplyError::BadPath {
            address: change.address.clone(),
            source,
        };
        check_path(&change.file).map_err(bad_path)?;
        if change.desired.is_none() {
            continue;
        }
        let wanted = desired(change)?;
        secrets::check(&wanted, &change.file, options.secrets)?;
        // A resource named by its attributes (a label) has its file name before it exists; a
        // key or value that no file name could hold is escaped by the naming rule, so the
        // path it gives is checked like any other.
        if let Ok(path) = wanted.path() {
            check_path(&path).map_err(bad_path)?;
        }
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
    Ok(())
}

/// The workspace this token reaches must be the one the plan was made for.
pub(super) async fn same_workspace<W: Workspace + Sync>(
    workspace: &W,
    plan: &Plan,
) -> Result<(), ApplyError> {
    let planned = plan
        .workspace_id
        .as_deref()
        .ok_or(ApplyError::NoWorkspace)?;
    let now = workspace.identity().await?;
    if now.id != planned {
        return Err(ApplyError::WrongWorkspace {
            planned: planned.to_owned(),
            now: if now.name.is_empty() {
                now.id
            } else {
                format!("{} ({})", now.id, now.name)
            },
        });
    }
    Ok(())
}

/// The tree must be the one the plan was made from, or one this apply's own rewrites left
/// (checked before any pending rewrite is finished, so that an edit made in between is never
/// taken for one of them). Returns its fingerprint, for the rewrites to follow.
pub(super) fn same_tree<S: JournalStore>(
    plan: &Plan,
    journal: &Journal<S>,
    tree: &dyn TreeSink,
) -> Result<plan::TreeFingerprint, ApplyError> {
    let fingerprint = plan::TreeFingerprint::of(&tree.files()?);
    let now = fingerprint.value();
    if now != plan.tree && !journal.trees().any(|t| t == now) {
        return Err(ApplyError::StaleTree {
            tree: tree.describe(),
            moved: moved(&plan.tree_files, &fingerprint.digests()),
        });
    }
    Ok(fingerprint)
}

/// The files that differ between the plan's tree and the tree now, one line each.
fn moved(
    planned: &std::collections::BTreeMap<String, String>,
    now: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    if planned.is_empty() {
        // A plan that does not list its files (made before it did): nothing to compare.
        return Vec::new();
    }
    let mut out = Vec::new();
    for (path, digest) in now {
        match planned.get(path) {
            None => out.push(format!("  + {path} (added since the plan)")),
            Some(d) if d != digest => out.push(format!("  ~ {path} (changed since the plan)")),
            Some(_) => {}
        }
    }
    for path in planned.keys().filter(|p| !now.contains_key(*p)) {
        out.push(format!("  - {path} (removed since the plan)"));
    }
    out.sort_by(|a, b| a[4..].cmp(&b[4..]));
    out
}

/// Nothing a step updates or deletes may have moved since the plan read it (steps an earlier
/// run began are reconciled instead: they may have moved because of that run).
pub(super) async fn nothing_moved<W: Workspace + Sync, S: JournalStore>(
    workspace: &W,
    plan: &Plan,
    steps: &[Step],
    journal: &Journal<S>,
) -> Result<(), ApplyError> {
    let mut stale = Vec::new();
    for step in steps {
        let change = &plan.changes[step.change];
        if journal.done(step.step).is_some() || journal.intended(step.step) {
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
    Ok(())
}
