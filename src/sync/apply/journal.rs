//! The apply journal: what an apply set out to do and what it finished, kept (in a
//! [`JournalStore`]) before and after each write, so that a run killed at any moment can be
//! resumed without doing a step twice.
//!
//! Entries: a header naming the plan (its fingerprint), then `intent` before a step's request
//! and `done` after its answer (with the id a create got), `rewritten` once the step's file is
//! in the tree, and `complete` when every step is done. A journal belongs to one plan. Another
//! plan's journal is replaced when its apply completed or never sent anything; an unfinished one
//! is refused (its apply must be finished or abandoned first).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::store::JournalStore;

/// One entry of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "lowercase")]
pub enum Entry {
    /// The plan this journal belongs to.
    Header { plan: String },
    /// A step's request is about to be sent.
    Intent { step: usize },
    /// A step's request succeeded; a create names the import id the resource got.
    Done {
        step: usize,
        import_id: Option<String>,
    },
    /// A step's request was answered with a refusal; a create that made its resource before
    /// failing names it. A later `intent` of the step clears it.
    Failed {
        step: usize,
        half_made: Option<String>,
    },
    /// A step's file is about to be written into the tree, which its writes leave with these
    /// fingerprints (after each write, in order): a run killed part way through the rewrite
    /// finds the tree at one of them, which is this apply's, not an edit made in between.
    Rewriting { step: usize, trees: Vec<String> },
    /// A step's file was written into the tree, leaving it with this fingerprint.
    Rewritten { step: usize, tree: String },
    /// Every step is done and its file written: the apply is over.
    Complete,
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the apply journal {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{journal} is the journal of an unfinished apply of another plan ({found}); finish that apply, or abandon it"
    )]
    OtherPlan { journal: String, found: String },
    #[error("{journal}:{line}: not a journal entry ({problem}); the journal is damaged")]
    Damaged {
        journal: String,
        line: usize,
        problem: String,
    },
    #[error("another apply is running with {journal}: {holder}; one apply at a time")]
    Busy { journal: String, holder: String },
    #[error(
        "{journal} was written by another apply since this one read it; this apply stops so as not to write over it"
    )]
    Moved { journal: String },
    #[error(
        "{journal} was taken over by {holder}; this apply stops so as not to write beside it (the new holder resumes it)"
    )]
    TakenOver { journal: String, holder: String },
    #[error(
        "{journal} would hold {bytes} bytes, more than the {limit} bytes it can hold; this apply stops rather than go on without a record of its steps (split the change into smaller plans)"
    )]
    TooLarge {
        journal: String,
        bytes: usize,
        limit: usize,
    },
}

impl JournalError {
    /// A short CamelCase reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            JournalError::Io { .. } => "JournalUnavailable",
            JournalError::OtherPlan { .. } => "JournalOfAnotherPlan",
            JournalError::Damaged { .. } => "JournalDamaged",
            JournalError::Busy { .. } => "ApplyInProgress",
            JournalError::Moved { .. } => "JournalMoved",
            JournalError::TakenOver { .. } => "JournalTakenOver",
            JournalError::TooLarge { .. } => "JournalTooLarge",
        }
    }
}

/// An open journal, held by this apply.
#[derive(Debug)]
pub struct Journal<S: JournalStore> {
    store: S,
    entries: Vec<Entry>,
    /// Where each step stands, from `entries`: asked after every step, so not a scan.
    steps: HashMap<usize, StepRecord>,
}

/// What the journal says of one step.
#[derive(Debug, Default)]
struct StepRecord {
    intended: bool,
    /// Refused, and what a create made anyway.
    failed: Option<Option<String>>,
    done: Option<Option<String>>,
    rewritten: bool,
}

impl<S: JournalStore> Journal<S> {
    /// Takes the store for `holder` and opens the journal of `plan` (a plan's fingerprint) in
    /// it, starting one if there is none (or replacing another plan's finished one).
    pub async fn open(mut store: S, plan: &str, holder: &str) -> Result<Journal<S>, JournalError> {
        store.acquire(holder).await?;
        let mut entries = store.load().await?;
        match entries.first() {
            Some(Entry::Header { plan: found }) if found != plan => {
                let finished = entries.contains(&Entry::Complete);
                let begun = entries.iter().any(|e| matches!(e, Entry::Intent { .. }));
                if finished || !begun {
                    entries.clear();
                } else {
                    return Err(JournalError::OtherPlan {
                        journal: store.describe(),
                        found: found.clone(),
                    });
                }
            }
            Some(Entry::Header { .. }) => {}
            Some(_) => {
                return Err(JournalError::Damaged {
                    journal: store.describe(),
                    line: 1,
                    problem: "no header".into(),
                });
            }
            None => {}
        }
        if entries.is_empty() {
            entries.push(Entry::Header {
                plan: plan.to_owned(),
            });
            store.replace(&entries).await?;
        }
        let mut journal = Journal {
            store,
            entries: Vec::new(),
            steps: HashMap::new(),
        };
        for entry in entries {
            journal.note(entry);
        }
        Ok(journal)
    }

    fn note(&mut self, entry: Entry) {
        match &entry {
            Entry::Header { .. } | Entry::Complete | Entry::Rewriting { .. } => {}
            Entry::Intent { step } => {
                let record = self.steps.entry(*step).or_default();
                record.intended = true;
                record.failed = None;
            }
            Entry::Failed { step, half_made } => {
                self.steps.entry(*step).or_default().failed = Some(half_made.clone());
            }
            Entry::Done { step, import_id } => {
                self.steps.entry(*step).or_default().done = Some(import_id.clone());
            }
            Entry::Rewritten { step, .. } => self.steps.entry(*step).or_default().rewritten = true,
        }
        self.entries.push(entry);
    }

    /// Where the journal is kept, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Appends an entry; returns once it is kept.
    pub async fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        self.store.append(&entry).await?;
        self.note(entry);
        Ok(())
    }

    /// Removes the journal: the apply is abandoned (what it applied stays applied).
    pub async fn abandon(mut self) -> Result<(), JournalError> {
        self.store.remove().await
    }

    /// Whether any request was announced (the apply sent something).
    pub fn has_begun(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::Intent { .. }))
    }

    /// Whether the apply completed.
    pub fn is_complete(&self) -> bool {
        self.entries.contains(&Entry::Complete)
    }

    /// Whether a step's request was announced.
    pub fn intended(&self, step: usize) -> bool {
        self.steps.get(&step).is_some_and(|s| s.intended)
    }

    /// Whether the step's last request was sent without an answer (a kill, a lost connection):
    /// announced, and neither done nor refused.
    pub fn answer_lost(&self, step: usize) -> bool {
        self.steps
            .get(&step)
            .is_some_and(|s| s.intended && s.done.is_none() && s.failed.is_none())
    }

    /// A step whose last request was refused: `Some(the import id a create made anyway)`.
    pub fn failed(&self, step: usize) -> Option<Option<String>> {
        self.steps.get(&step).and_then(|s| s.failed.clone())
    }

    /// A step that finished: `Some(import id of a create)`.
    pub fn done(&self, step: usize) -> Option<Option<String>> {
        self.steps.get(&step).and_then(|s| s.done.clone())
    }

    pub fn rewritten(&self, step: usize) -> bool {
        self.steps.get(&step).is_some_and(|s| s.rewritten)
    }

    /// Every tree fingerprint the apply's own rewrites left, or may have left part way.
    pub fn trees(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().flat_map(|e| match e {
            Entry::Rewritten { tree, .. } => vec![tree.as_str()],
            Entry::Rewriting { trees, .. } => trees.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
    }

    /// Import ids of resources this apply created.
    pub fn created(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Done {
                import_id: Some(id),
                ..
            } => Some(id.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::MemoryJournals;
    use super::super::store::tests::block;
    use super::*;

    #[test]
    fn a_finished_or_unbegun_journal_of_another_plan_is_replaced_an_unfinished_one_refused() {
        block(async {
            let journals = MemoryJournals::new();
            let open = |plan: &'static str| {
                let store = journals.journal("j");
                async move { Journal::open(store, plan, "me").await }
            };
            // p1 only opened (nothing sent): p2 takes its place.
            drop(open("p1").await.unwrap_or_else(|e| panic!("{e}")));
            let mut j = open("p2").await.unwrap_or_else(|e| panic!("{e}"));
            j.record(Entry::Intent { step: 0 })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            j.record(Entry::Done {
                step: 0,
                import_id: Some("abc".into()),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            drop(j);
            // p2 sent something and did not complete: p3 is refused, naming p2.
            match open("p3").await {
                Err(JournalError::OtherPlan { found, .. }) => assert_eq!(found, "p2"),
                other => panic!("{other:?}"),
            }
            let mut j = open("p2").await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(j.done(0), Some(Some("abc".into())));
            assert_eq!(j.created().collect::<Vec<_>>(), ["abc"]);
            j.record(Entry::Complete)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            drop(j);
            // p2 completed: p3 starts afresh.
            let j = open("p3").await.unwrap_or_else(|e| panic!("{e}"));
            assert!(!j.has_begun() && j.done(0).is_none());
            assert_eq!(journals.entries("j"), [Entry::Header { plan: "p3".into() }]);
        });
    }

    /// Where a step stands after each sequence of entries: a lost answer is told from a
    /// refusal, and a new intent after a refusal is a new request.
    #[test]
    fn a_lost_answer_is_told_from_a_refusal() {
        use Entry as E;
        let failed = |half: Option<&str>| E::Failed {
            step: 0,
            half_made: half.map(str::to_owned),
        };
        let done = E::Done {
            step: 0,
            import_id: None,
        };
        type Case = (
            &'static str,
            Vec<Entry>,
            bool,
            Option<Option<&'static str>>,
            bool,
        );
        let cases: Vec<Case> = vec![
            ("never sent", vec![], false, None, false),
            (
                "sent, no answer",
                vec![E::Intent { step: 0 }],
                true,
                None,
                false,
            ),
            (
                "refused",
                vec![E::Intent { step: 0 }, failed(None)],
                false,
                Some(None),
                false,
            ),
            (
                "refused, half made",
                vec![E::Intent { step: 0 }, failed(Some("id1"))],
                false,
                Some(Some("id1")),
                false,
            ),
            (
                "refused, then sent again without an answer",
                vec![E::Intent { step: 0 }, failed(None), E::Intent { step: 0 }],
                true,
                None,
                false,
            ),
            ("done", vec![E::Intent { step: 0 }, done], false, None, true),
        ];
        for (what, entries, lost, refused, finished) in cases {
            block(async {
                let journals = MemoryJournals::new();
                let mut j = Journal::open(journals.journal("j"), "p", "me")
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                for e in entries {
                    j.record(e).await.unwrap_or_else(|e| panic!("{e}"));
                }
                assert_eq!(j.answer_lost(0), lost, "{what}");
                assert_eq!(j.failed(0), refused.map(|h| h.map(str::to_owned)), "{what}");
                assert_eq!(j.done(0).is_some(), finished, "{what}");
            });
        }
    }
}
