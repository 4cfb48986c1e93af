//! Where an apply's journal is kept: [`JournalStore`], with a file ([`FileJournal`]) and an
//! in-memory store with compare-and-swap ([`MemoryJournals`]).
//!
//! A store holds one journal: a list of [`Entry`]s that only grows, until it is replaced (a new
//! plan) or removed (abandoned). It also decides who may write it: one apply at a time. A file
//! is held with an OS lock, which the OS lets go when its process ends however it ends. A store
//! shared between machines (a Kubernetes object: the operator's `ConfigMapJournal`) cannot be
//! locked that way: it keeps its holder in the record and writes only by compare-and-swap on the
//! record's version (`resourceVersion`), so that an apply that lost the store (a leader that was
//! replaced) fails its next write instead of writing over its successor. [`MemoryJournals`] is
//! that design in memory.
//!
//! This module stores entries; what they mean is [`super::journal`]'s.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::journal::{Entry, JournalError};

/// A place that keeps one apply journal.
pub trait JournalStore: Send {
    /// Takes the store for this apply, or says who holds it ([`JournalError::Busy`]). `holder`
    /// names this apply to a second one that is refused (a process, a pod).
    fn acquire(&mut self, holder: &str) -> impl Future<Output = Result<(), JournalError>> + Send;
    /// Every entry kept, in order; empty when there is no journal.
    fn load(&mut self) -> impl Future<Output = Result<Vec<Entry>, JournalError>> + Send;
    /// Adds an entry, durably, before returning.
    fn append(&mut self, entry: &Entry) -> impl Future<Output = Result<(), JournalError>> + Send;
    /// Replaces the whole journal (another plan's finished journal, a cleaned-up one).
    fn replace(
        &mut self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<(), JournalError>> + Send;
    /// Removes the journal (an abandoned apply).
    fn remove(&mut self) -> impl Future<Output = Result<(), JournalError>> + Send;
    /// Where the journal is, for messages.
    fn describe(&self) -> String;
}

// ------------------------------------------------------------------------------------------
// A file

/// A journal in a file: one JSON entry per line, each flushed to the disk (`fsync`) before
/// [`JournalStore::append`] returns. A torn last line (a kill while it was written) is dropped
/// on load. Held with an OS lock on `<file>.lock`, which names its holder.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    file: Option<File>,
    lock: Option<File>,
}

impl FileJournal {
    pub fn new(path: impl Into<PathBuf>) -> FileJournal {
        FileJournal {
            path: path.into(),
            file: None,
            lock: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn sync_dir(&self) {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
    }

    fn write_whole(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        let mut text = String::new();
        for e in entries {
            text.push_str(&line(e));
        }
        // Never truncated in place: a kill then would lose every entry.
        crate::sync::export::write_atomically(&self.path, text.as_bytes(), None, true)
            .map_err(|e| self.io(e))?;
        self.sync_dir();
        self.file = None;
        Ok(())
    }

    fn appender(&mut self) -> Result<&mut File, JournalError> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| self.io(e))?;
            self.file = Some(f);
        }
        self.file.as_mut().ok_or_else(|| JournalError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other("journal not open"),
        })
    }
}

impl JournalStore for FileJournal {
    async fn acquire(&mut self, holder: &str) -> Result<(), JournalError> {
        if self.lock.is_some() {
            return Ok(());
        }
        let path = self.lock_path();
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        // A lock just let go can still be held for a moment by a copy of its descriptor in a
        // child process another thread forked (until that child execs): a held lock is asked
        // again a few times before the apply holding it is named.
        let mut tries = 0;
        let mut locked = lock.try_lock();
        while matches!(locked, Err(std::fs::TryLockError::WouldBlock)) && tries < 10 {
            tries += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            locked = lock.try_lock();
        }
        match locked {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let named = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(JournalError::Busy {
                    journal: self.describe(),
                    holder: if named.trim().is_empty() {
                        "another process".to_owned()
                    } else {
                        named.trim().to_owned()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Who holds it, for the one refused (the lock itself is what counts).
        lock.set_len(0).map_err(io)?;
        lock.write_all(holder.as_bytes()).map_err(io)?;
        let _ = lock.sync_data();
        self.lock = Some(lock);
        Ok(())
    }

    async fn load(&mut self) -> Result<Vec<Entry>, JournalError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let lines: Vec<String> = BufReader::new(text.as_slice())
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| self.io(e))?;
        let count = lines.len();
        let mut entries = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            match serde_json::from_str::<Entry>(l) {
                Ok(e) => entries.push(e),
                // The last line may be torn by a kill while it was written.
                Err(_) if i + 1 == count => {}
                Err(e) => {
                    return Err(JournalError::Damaged {
                        journal: self.describe(),
                        line: i + 1,
                        problem: e.to_string(),
                    });
                }
            }
        }
        // What was read, without a torn line, replaces the file, so that appends start on a
        // clean line.
        let clean: String = entries.iter().map(line).collect();
        if clean.as_bytes() != text.as_slice() {
            self.write_whole(&entries)?;
        }
        Ok(entries)
    }

    async fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let text = line(entry);
        let file = self.appender()?;
        let done = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_data());
        done.map_err(|e| self.io(e))
    }

    async fn replace(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        self.write_whole(entries)
    }

    async fn remove(&mut self) -> Result<(), JournalError> {
        self.file = None;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Whether the journal file at `path` records a request announced (an apply that sent
/// something), read without taking it. A missing or unreadable journal has begun nothing.
pub fn has_begun(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
            .any(|e| matches!(e, Entry::Intent { .. }))
    })
}

/// An entry as the journal keeps it: one line of JSON (a file's line; a ConfigMap's `entries`
/// holds the same lines).
pub(crate) fn line(entry: &Entry) -> String {
    let mut s = serde_json::to_string(entry).unwrap_or_default();
    s.push('\n');
    s
}

// ------------------------------------------------------------------------------------------
// Compare-and-swap, in memory

/// One stored journal: its entries, its version (bumped on every write) and its holder.
#[derive(Debug, Default, Clone)]
struct Record {
    entries: Vec<Entry>,
    version: u64,
    holder: Option<String>,
}

/// In-memory journals by name, shared by every handle (clones share them): a store with
/// compare-and-swap, as a Kubernetes object is, for tests and for a driver that keeps its
/// journals itself.
#[derive(Debug, Clone, Default)]
pub struct MemoryJournals {
    records: Arc<Mutex<std::collections::HashMap<String, Record>>>,
}

impl MemoryJournals {
    pub fn new() -> MemoryJournals {
        MemoryJournals::default()
    }

    /// A handle on the journal named `name`.
    pub fn journal(&self, name: &str) -> MemoryJournal {
        MemoryJournal {
            records: self.records.clone(),
            name: name.to_owned(),
            seen: None,
            holder: None,
        }
    }

    /// The entries kept under `name` (for inspection).
    pub fn entries(&self, name: &str) -> Vec<Entry> {
        self.lock()
            .get(name)
            .map(|r| r.entries.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A handle on one in-memory journal. It writes only over the version it last saw; its hold
/// ends when the handle is dropped (as a process's OS lock ends with it).
#[derive(Debug)]
pub struct MemoryJournal {
    records: Arc<Mutex<std::collections::HashMap<String, Record>>>,
    name: String,
    /// The version this handle last read or wrote; `None` before its first load.
    seen: Option<u64>,
    holder: Option<String>,
}

impl MemoryJournal {
    /// A write: `change` applied to the record only if it is still at the version this handle
    /// saw, and this handle holds it.
    fn swap(&mut self, change: impl FnOnce(&mut Record)) -> Result<(), JournalError> {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = records.entry(self.name.clone()).or_default();
        if self.holder.is_none() || record.holder != self.holder {
            return Err(JournalError::Busy {
                journal: format!("the journal {}", self.name),
                holder: record
                    .holder
                    .clone()
                    .unwrap_or_else(|| "nobody (this apply does not hold it)".into()),
            });
        }
        if Some(record.version) != self.seen {
            return Err(JournalError::Moved {
                journal: format!("the journal {}", self.name),
            });
        }
        change(record);
        record.version += 1;
        self.seen = Some(record.version);
        Ok(())
    }
}

impl Drop for MemoryJournal {
    fn drop(&mut self) {
        if self.holder.is_none() {
            return;
        }
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(record) = records.get_mut(&self.name)
            && record.holder == self.holder
        {
            record.holder = None;
            record.version += 1;
        }
    }
}

impl JournalStore for MemoryJournal {
    async fn acquire(&mut self, holder: &str) -> Result<(), JournalError> {
        if self.holder.as_deref() == Some(holder) {
            return Ok(());
        }
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = records.entry(self.name.clone()).or_default();
        if let Some(other) = &record.holder {
            return Err(JournalError::Busy {
                journal: format!("the journal {}", self.name),
                holder: other.clone(),
            });
        }
        record.holder = Some(holder.to_owned());
        record.version += 1;
        self.holder = Some(holder.to_owned());
        self.seen = Some(record.version);
        Ok(())
    }

    async fn load(&mut self) -> Result<Vec<Entry>, JournalError> {
        let records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = records.get(&self.name).cloned().unwrap_or_default();
        drop(records);
        self.seen = Some(record.version);
        Ok(record.entries)
    }

    async fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let entry = entry.clone();
        self.swap(|r| r.entries.push(entry))
    }

    async fn replace(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        let entries = entries.to_vec();
        self.swap(|r| r.entries = entries)
    }

    async fn remove(&mut self) -> Result<(), JournalError> {
        self.swap(|r| r.entries.clear())
    }

    fn describe(&self) -> String {
        format!("the journal {}", self.name)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Runs a future to its end on a runtime of its own (the journal tests use it too).
    pub(in crate::sync::apply) fn block<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(f)
    }

    #[test]
    fn a_file_journal_is_held_by_one_apply_and_drops_a_torn_line() {
        block(async {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join("p.journal");
            let mut first = FileJournal::new(&path);
            first
                .acquire("apply 1")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut second = FileJournal::new(&path);
            match second.acquire("apply 2").await {
                Err(JournalError::Busy { holder, .. }) => assert_eq!(holder, "apply 1"),
                other => panic!("{other:?}"),
            }
            first
                .append(&Entry::Intent { step: 0 })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut f = OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = f.write_all(b"{\"entry\":\"done\",\"st");
            drop(first);
            // Another test's child process may hold a copy of the descriptor for the moment
            // between its fork and its exec: the lock is let go when that copy closes.
            let mut tries = 0;
            while let Err(e) = second.acquire("apply 2").await {
                tries += 1;
                assert!(tries < 100, "{e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let entries = second.load().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(entries, [Entry::Intent { step: 0 }]);
            second
                .append(&Entry::Intent { step: 1 })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                second.load().await.unwrap_or_else(|e| panic!("{e}")).len(),
                2
            );
        });
    }

    #[test]
    fn a_memory_journal_refuses_a_second_holder_and_a_write_over_a_newer_version() {
        block(async {
            let journals = MemoryJournals::new();
            let mut a = journals.journal("j");
            a.acquire("a").await.unwrap_or_else(|e| panic!("{e}"));
            a.load().await.unwrap_or_else(|e| panic!("{e}"));
            let mut b = journals.journal("j");
            assert!(matches!(
                b.acquire("b").await,
                Err(JournalError::Busy { holder, .. }) if holder == "a"
            ));
            a.append(&Entry::Intent { step: 0 })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // A handle that never acquired cannot write.
            assert!(b.append(&Entry::Intent { step: 9 }).await.is_err());
            drop(a);
            b.acquire("b").await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                b.load().await.unwrap_or_else(|e| panic!("{e}")),
                [Entry::Intent { step: 0 }]
            );
            // Someone else wrote since b read: b's write is refused, not lost over theirs.
            if let Some(r) = journals.lock().get_mut("j") {
                r.version += 1;
            }
            assert!(matches!(
                b.append(&Entry::Intent { step: 1 }).await,
                Err(JournalError::Moved { .. })
            ));
        });
    }
}
