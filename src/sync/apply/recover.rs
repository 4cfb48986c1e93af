//! Lost answers: a step an earlier run sent without hearing back (a kill, a timeout) is looked
//! for in the workspace before anything is sent again, and a create is never made twice.
//!
//! This module reads the workspace to find what a step did; the one write it makes is finishing
//! a create it found half-made (its follow-up writes missing), with what the create would have
//! written. It never records anything: the caller journals what it found.

use crate::model::{Resource, diff};
use crate::sync::plan::{self, Plan};
use crate::sync::secrets;
use crate::workspace::{Workspace, api};

use super::tree::TreeSink;
use super::{ApplyError, ApplyOptions, Op, Recovered, Step, desired};

/// The resources of each type as listed once in this run: what existed before it (resources
/// this run makes are known by its journal), so that looking before every create costs one
/// listing per type, not one per create.
#[derive(Default)]
pub(super) struct Listings(std::collections::HashMap<crate::model::ResourceType, Vec<Resource>>);

/// A step found done in the workspace.
pub(super) struct Found {
    /// The import id a create's resource has (none for a delete).
    pub import_id: Option<String>,
    /// The resource a create made, when it still lacks what its follow-up writes set.
    pub half_made: Option<Resource>,
}

impl Found {
    pub fn how(&self) -> Recovered {
        if self.half_made.is_some() {
            Recovered::FinishedHalfMade
        } else {
            Recovered::FoundDone
        }
    }
}

/// Whether `step` is done in the workspace. For a create, the resource is looked for among those
/// of its type that no file of the tree and no step of this apply (`known`) accounts for, by
/// what the create request itself carries (the run may have died between the create and its
/// follow-up writes). `None`: not done.
/// `listings`: `None` to list afresh (a create that just failed may have made its resource).
pub(super) async fn find_done<W: Workspace + Sync>(
    workspace: &W,
    plan: &Plan,
    step: &Step,
    known: &[String],
    tree: &dyn TreeSink,
    options: &ApplyOptions<'_>,
    listings: Option<&mut Listings>,
) -> Result<Option<Found>, ApplyError> {
    let change = &plan.changes[step.change];
    match step.op {
        Op::Delete => {
            let import_id = change.import_id.as_deref().unwrap_or_default();
            Ok(match workspace.get(step.ty, import_id).await? {
                None => Some(Found {
                    import_id: None,
                    half_made: None,
                }),
                Some(_) => None,
            })
        }
        // An update sets what the plan says; sending it again is harmless.
        Op::Update => Ok(None),
        Op::Create => {
            let wanted = desired(change)?;
            let fresh;
            let candidates = match listings {
                Some(Listings(cache)) => match cache.entry(step.ty) {
                    std::collections::hash_map::Entry::Occupied(listed) => {
                        listed.into_mut().as_slice()
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(workspace.list(step.ty).await?).as_slice()
                    }
                },
                None => {
                    fresh = workspace.list(step.ty).await?;
                    fresh.as_slice()
                }
            };
            for candidate in candidates {
                let Ok(id) = candidate.import_id() else {
                    continue;
                };
                if known.contains(&id) || Some(&id) == change.import_id.as_ref() {
                    continue;
                }
                // A resource that has its own file in the tree existed before this apply.
                if candidate.path().is_ok_and(|path| tree.exists(&path)) {
                    continue;
                }
                let comparable = plan::comparable(&wanted, candidate, options.secrets);
                let created_as = |r: &Resource| api::create_body(r.ty, &api::to_api(r));
                if created_as(&comparable) != created_as(candidate) {
                    continue;
                }
                let whole =
                    diff::diff(step.ty, &candidate.attributes, &comparable.attributes).is_empty();
                return Ok(Some(Found {
                    import_id: Some(id),
                    half_made: (!whole).then(|| candidate.clone()),
                }));
            }
            Ok(None)
        }
    }
}

/// Finishes a create found half-made with what the create would have written.
pub(super) async fn finish<W: Workspace + Sync>(
    workspace: &W,
    plan: &Plan,
    step: &Step,
    half_made: &Resource,
    options: &ApplyOptions<'_>,
) -> Result<(), ApplyError> {
    let change = &plan.changes[step.change];
    let mut rest = secrets::resolve(&desired(change)?, &change.file, options.secrets)?;
    rest.id.clone_from(&half_made.id);
    rest.new_name = None;
    workspace.update(&rest).await?;
    Ok(())
}
