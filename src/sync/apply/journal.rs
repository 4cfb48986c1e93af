//! The apply journal: what an apply set out to do and what it finished, on disk before and after
//! each write, so that a run killed at any moment can be resumed without doing a step twice.
//!
//! One JSON document per line, each line flushed to the disk (`fsync`) before the write it
//! announces is sent: a header naming the plan, then `intent` before a step's request and
//! `done` after its answer (with the id a create got), and `rewritten` once the step's file is
//! in the tree. A torn last line (the process died while writing it) is ignored: its step is
//! then simply not begun. The journal belongs to one plan; another plan's journal is refused.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of the journal.
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
    /// A step's file was written into the tree, leaving it with this fingerprint.
    Rewritten { step: usize, tree: String },
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the apply journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is the journal of another plan; it belongs to the apply of plan {found}. Finish that apply, or remove the journal if that plan is abandoned"
    )]
    OtherPlan { path: PathBuf, found: String },
    #[error("{path}:{line}: not a journal entry ({problem}); the journal is damaged")]
    Damaged {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    entries: Vec<Entry>,
    /// Where each step stands, from `entries`: asked after every step, so not a scan.
    steps: std::collections::HashMap<usize, StepRecord>,
}

/// What the journal says of one step.
#[derive(Debug, Default)]
struct StepRecord {
    intended: bool,
    done: Option<Option<String>>,
    rewritten: bool,
}

impl Journal {
    /// Opens the journal for `plan` (a fingerprint of the plan document), creating it if needed.
    pub fn open(path: &Path, plan: &str) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut entries = Vec::new();
        match File::open(path) {
            Ok(f) => {
                let lines: Vec<String> = BufReader::new(f)
                    .lines()
                    .collect::<Result<_, _>>()
                    .map_err(io)?;
                let count = lines.len();
                for (i, line) in lines.iter().enumerate() {
                    match serde_json::from_str::<Entry>(line) {
                        Ok(e) => entries.push(e),
                        // The last line may be torn by a kill while it was written.
                        Err(_) if i + 1 == count => {}
                        Err(e) => {
                            return Err(JournalError::Damaged {
                                path: path.to_path_buf(),
                                line: i + 1,
                                problem: e.to_string(),
                            });
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        match entries.first() {
            Some(Entry::Header { plan: found }) if found != plan => {
                return Err(JournalError::OtherPlan {
                    path: path.to_path_buf(),
                    found: found.clone(),
                });
            }
            Some(Entry::Header { .. }) => {}
            Some(_) => {
                return Err(JournalError::Damaged {
                    path: path.to_path_buf(),
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
        }
        // What was read, without a torn line, replaces the file in one rename (never truncated
        // in place: a kill then would lose every entry), so that appends start on a clean line.
        let mut text = String::new();
        for e in &entries {
            text.push_str(&line(e));
        }
        let unchanged = std::fs::read(path).is_ok_and(|old| old == text.as_bytes());
        if !unchanged {
            crate::sync::export::write_atomically(path, text.as_bytes(), None, true).map_err(io)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
        }
        let file = OpenOptions::new().append(true).open(path).map_err(io)?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            entries: Vec::new(),
            steps: std::collections::HashMap::new(),
        };
        for entry in entries {
            journal.note(entry);
        }
        Ok(journal)
    }

    fn note(&mut self, entry: Entry) {
        match &entry {
            Entry::Header { .. } => {}
            Entry::Intent { step } => self.steps.entry(*step).or_default().intended = true,
            Entry::Done { step, import_id } => {
                self.steps.entry(*step).or_default().done = Some(import_id.clone());
            }
            Entry::Rewritten { step, .. } => self.steps.entry(*step).or_default().rewritten = true,
        }
        self.entries.push(entry);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry and waits until it is on the disk.
    pub fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(line(&entry).as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.note(entry);
        Ok(())
    }

    /// Whether a step's request was announced.
    pub fn intended(&self, step: usize) -> bool {
        self.steps.get(&step).is_some_and(|s| s.intended)
    }

    /// A step that finished: `Some(import id of a create)`.
    pub fn done(&self, step: usize) -> Option<Option<String>> {
        self.steps.get(&step).and_then(|s| s.done.clone())
    }

    pub fn rewritten(&self, step: usize) -> bool {
        self.steps.get(&step).is_some_and(|s| s.rewritten)
    }

    /// Every tree fingerprint the apply's own rewrites left.
    pub fn trees(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Rewritten { tree, .. } => Some(tree.as_str()),
            _ => None,
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

/// Whether the journal at `path` records a request announced (an apply that sent something),
/// without opening it for writing. A missing or unreadable journal has begun nothing.
pub fn has_begun(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
            .any(|e| matches!(e, Entry::Intent { .. }))
    })
}

fn line(entry: &Entry) -> String {
    let mut s = serde_json::to_string(entry).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_survives_a_torn_last_line_and_refuses_another_plan() -> Result<(), JournalError> {
        let dir = tempfile::tempdir().map_err(|source| JournalError::Io {
            path: PathBuf::from("tmp"),
            source,
        })?;
        let path = dir.path().join("plan.journal");
        let mut j = Journal::open(&path, "p1")?;
        assert!(
            !has_begun(&path),
            "a journal with only its header has sent nothing"
        );
        j.record(Entry::Intent { step: 0 })?;
        assert!(has_begun(&path));
        j.record(Entry::Done {
            step: 0,
            import_id: Some("abc".into()),
        })?;
        j.record(Entry::Intent { step: 1 })?;
        drop(j);
        // A kill in the middle of a line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|source| JournalError::Io {
                path: path.clone(),
                source,
            })?;
        let _ = f.write_all(b"{\"entry\":\"done\",\"st");
        drop(f);
        let j = Journal::open(&path, "p1")?;
        assert_eq!(j.done(0), Some(Some("abc".into())));
        assert!(j.intended(1));
        assert_eq!(j.done(1), None);
        assert_eq!(j.created().collect::<Vec<_>>(), ["abc"]);
        assert!(matches!(
            Journal::open(&path, "p2"),
            Err(JournalError::OtherPlan { .. })
        ));
        Ok(())
    }
}
