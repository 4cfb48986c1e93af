//! An apply session: one plan's apply, from its journal. Any driver (the CLI, the demo, the
//! operator, the tests) opens one the same way and renders its report in its own terms.
//!
//! - **Open** by the plan's fingerprint in a [`JournalStore`]: the store is held for this apply
//!   (a second apply of the same journal is refused, naming the first), and an earlier run's
//!   journal is picked up (**resume**). Another plan's journal is replaced when its apply
//!   completed, so the next plan written to the same place applies; an unfinished one is
//!   refused.
//! - **Run** the apply; a run that did every step records the journal complete.
//! - **Abandon**: the journal is removed; what was applied stays applied, and a new plan shows
//!   what is left.
//!
//! This module owns the journal's life; what a step does is [`super::apply`]'s.

use std::time::Duration;

use crate::sync::plan::Plan;
use crate::workspace::Workspace;

use super::journal::Journal;
use super::store::JournalStore;
use super::tree::TreeSink;
use super::{ApplyError, ApplyOptions, ApplyProgress, ApplyReport, Step};

/// One plan's apply, holding its journal.
#[derive(Debug)]
pub struct Session<S: JournalStore> {
    plan: Plan,
    steps: Vec<Step>,
    journal: Journal<S>,
}

impl<S: JournalStore> Session<S> {
    /// Opens the apply of `plan` in `store`, for `holder` (who this apply is, as a second one
    /// would be told: a process, a pod).
    pub async fn open(plan: Plan, store: S, holder: &str) -> Result<Session<S>, ApplyError> {
        let steps = super::steps(&plan)?;
        let journal = Journal::open(store, &plan.fingerprint(), holder).await?;
        Ok(Session {
            plan,
            steps,
            journal,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether an earlier run of this plan sent something and did not complete.
    pub fn is_resuming(&self) -> bool {
        self.journal.has_begun() && !self.journal.is_complete()
    }

    /// Whether an earlier run of this plan completed it.
    pub fn is_complete(&self) -> bool {
        self.journal.is_complete()
    }

    /// Where the journal is kept, for messages.
    pub fn journal(&self) -> String {
        self.journal.describe()
    }

    /// At least how long Segment's write limits make what is left take.
    pub fn expected_duration(&self) -> Duration {
        super::expected_duration(&self.steps, &self.journal)
    }

    /// Runs (or resumes) the apply.
    pub async fn run<W: Workspace + Sync>(
        &mut self,
        workspace: &W,
        tree: &mut dyn TreeSink,
        options: &ApplyOptions<'_>,
        progress: &mut dyn ApplyProgress,
    ) -> Result<ApplyReport, ApplyError> {
        if self.journal.is_complete() {
            return Ok(ApplyReport {
                total: self.steps.len(),
                already_done: self.steps.clone(),
                ..ApplyReport::default()
            });
        }
        super::apply(
            workspace,
            &self.plan,
            &mut self.journal,
            tree,
            options,
            progress,
        )
        .await
    }

    /// Gives the apply up: its journal is removed (what it applied stays applied).
    pub async fn abandon(self) -> Result<(), ApplyError> {
        Ok(self.journal.abandon().await?)
    }
}

/// Who this process is, as a second apply refused while it runs is told.
pub fn this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".to_owned());
    format!(
        "process {} on {host}, started {}",
        std::process::id(),
        crate::workspace::now_rfc3339()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::apply::{CommitSink, MemoryJournal, Quiet};

    /// The operator runs an apply on a spawned task: its future must be `Send`. (Checked when
    /// this compiles; never run.)
    #[allow(dead_code)]
    fn an_apply_can_run_on_a_spawned_task(
        client: &crate::workspace::Client,
        session: &mut Session<MemoryJournal>,
        sink: &mut CommitSink,
        options: &ApplyOptions<'_>,
    ) {
        fn spawnable<T: Send>(_: T) {}
        spawnable(session.run(client, sink, options, &mut Quiet));
        spawnable(Session::open(
            Plan::from_json_unverified("{}").unwrap_or_else(|e| panic!("{e}")),
            crate::sync::apply::MemoryJournals::new().journal("j"),
            "x",
        ));
    }
}
