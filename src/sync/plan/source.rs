//! Planning a tree where it is: a directory or a commit ([`TreeSource`]), against a base
//! revision of its repository. The one way every driver makes a plan of a tree.
//!
//! A base is where the change left its branch, not the revision named: `--base main` on a
//! branch that is behind main plans the branch's own work from the merge base (three dots, as a
//! pull request's diff is), so that main's later work is not undone. A base that is not an
//! ancestor of the tree's commit is said in the plan's notes.
//!
//! This module reads trees and asks [`super::plan`]; it writes nothing.

use std::collections::BTreeSet;

use crate::sync::diagnostic::Diagnostic;
use crate::sync::secrets::SecretSource;
use crate::sync::tree::{TreeReadError, TreeSource, merge_base, read_rev_files};
use crate::workspace::Workspace;

use super::{Plan, PlanError, PlanInput};

/// Why a tree cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanTreeError {
    #[error(transparent)]
    Tree(#[from] TreeReadError),
    #[error(
        "{tree} is not in a Git repository with a commit, so there is no base revision `{rev}` to plan against"
    )]
    NoCommit { tree: String, rev: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
}

impl PlanTreeError {
    /// A short CamelCase reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanTreeError::Tree(_) => "TreeUnreadable",
            PlanTreeError::NoCommit { .. } => "NoBaseCommit",
            PlanTreeError::Plan(PlanError::Invalid(_)) => "InvalidFiles",
            PlanTreeError::Plan(_) => "WorkspaceError",
        }
    }
}

/// Plans the tree `source` holds, three-way from `base` (a revision of its repository) when
/// given, and records where the tree is (a directory's absolute path). `send_secrets` names the
/// placeholders to send even where the plan cannot tell them from the workspace's secret.
pub async fn plan_tree<W: Workspace + Sync>(
    workspace: &W,
    source: &dyn TreeSource,
    base: Option<&str>,
    secrets: &dyn SecretSource,
    send_secrets: &BTreeSet<String>,
) -> Result<Plan, PlanTreeError> {
    let (head, mut notes) = source.scan()?;
    let base_files = match base {
        None => None,
        Some(rev) => {
            let no_commit = || PlanTreeError::NoCommit {
                tree: source.describe(),
                rev: rev.to_owned(),
            };
            let repository = source.repository().ok_or_else(no_commit)?;
            let commit = source.commit().ok_or_else(no_commit)?;
            let (rev_id, met) = merge_base(repository, rev, commit)?;
            let from = match met {
                Some(met) if met == rev_id => met,
                Some(met) => {
                    notes.push(Diagnostic::note(
                        "",
                        format!(
                            "the base `{rev}` ({}) is not an ancestor of the tree's commit {}: the plan is made from where they last met, {}, so that what `{rev}` changed since is not undone",
                            short(rev_id),
                            short(commit),
                            short(met)
                        ),
                    ));
                    met
                }
                None => {
                    notes.push(Diagnostic::warning(
                        "",
                        format!(
                            "the base `{rev}` ({}) shares no history with the tree's commit {}: the plan is made from `{rev}` itself, and undoes whatever `{rev}` has that the tree has not",
                            short(rev_id),
                            short(commit)
                        ),
                    ));
                    rev_id
                }
            };
            Some(read_rev_files(repository, &from.to_string())?)
        }
    };
    let mut made = super::plan(
        workspace,
        PlanInput {
            base: base_files.as_deref(),
            base_name: base.map(str::to_owned),
            head: &head,
            secrets,
            send_secrets: send_secrets.clone(),
        },
    )
    .await?;
    made.notes.extend(notes);
    made.dir = source.directory().map(|d| {
        std::path::absolute(d)
            .unwrap_or_else(|_| d.to_path_buf())
            .display()
            .to_string()
    });
    Ok(made)
}

fn short(id: gix::ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}
