//! An apply journal kept in a ConfigMap ([`ConfigMapJournal`]), so that a new leader resumes an
//! apply its predecessor began and never applies a change twice.
//!
//! One ConfigMap per GitSync (`<gitsync>-apply-journal`, see [`journal_name`]) in the GitSync's
//! namespace, owned by it (an ownerReference, neither controller nor blocking its deletion) and
//! labelled `app.kubernetes.io/managed-by: gitsync`. Its data: `holder`, who holds the journal,
//! and `entries`, the journal's entries as the journal file keeps them (one JSON entry per
//! line, [`crate::sync::apply::journal::Entry`]).
//!
//! **Compare-and-swap.** Every write is a `replace` carrying the `resourceVersion` this store
//! last read or wrote; the API server refuses it (409 Conflict) when anyone wrote the object
//! since. The store then reads who holds it: another holder is
//! [`JournalError::TakenOver`] (naming it), the same holder is [`JournalError::Moved`]; either
//! way the apply stops instead of writing over its successor. A removal is a delete with the
//! same precondition.
//!
//! **Who may take it** ([`JournalStore::acquire`]): a journal with no holder, or whose holder is
//! the one asking (the same pod again), is taken. A journal another holder holds is refused
//! ([`JournalError::Busy`]) unless the store was made with [`Takeover::AsLeader`]: the operator
//! passes it when it holds its leader Lease, which is exclusive, so the other holder is a leader
//! that is gone (or that lost the Lease and will fail its next write, by the compare-and-swap
//! above). A holder is a name, not a lock: it is never let go, and stays recorded until the next
//! holder takes the journal.
//!
//! **Size.** A ConfigMap holds at most 1 MiB of data ([`CONFIGMAP_LIMIT`], counted as the API
//! server counts it: the bytes of every value); a write that would exceed it is refused
//! here ([`JournalError::TooLarge`]) before it is sent, with nothing written.
//!
//! This module keeps entries and never decides what they mean (that is
//! [`crate::sync::apply::journal`]'s), and never reads or writes any object but its ConfigMap.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Resource as _, ResourceExt as _};
use sha2::Digest as _;

use super::crd::GitSync;
use crate::sync::apply::journal::{Entry, JournalError};
use crate::sync::apply::store::{JournalStore, line};

/// The most data a ConfigMap holds: the API server refuses one whose values add up to more bytes
/// than this (its keys are not counted).
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

/// The data key naming who holds the journal.
pub const HOLDER_KEY: &str = "holder";
/// The data key holding the entries, one JSON entry per line.
pub const ENTRIES_KEY: &str = "entries";
/// The label every journal carries (its value: `gitsync`).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

const SUFFIX: &str = "-apply-journal";
/// The longest object name (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The name of the ConfigMap that keeps GitSync `gitsync`'s apply journal:
/// `<gitsync>-apply-journal`, or, when that is longer than a name may be, the GitSync's name cut
/// short and followed by a hash of the whole of it (so that two long names stay apart).
pub fn journal_name(gitsync: &str) -> String {
    if gitsync.len() + SUFFIX.len() <= MAX_NAME {
        return format!("{gitsync}{SUFFIX}");
    }
    let hash = hex::encode(sha2::Sha256::digest(gitsync.as_bytes()));
    let hash = &hash[..10];
    let mut keep = MAX_NAME - SUFFIX.len() - 1 - hash.len();
    while !gitsync.is_char_boundary(keep) {
        keep -= 1;
    }
    // A name part ends with a letter or a digit.
    let prefix = gitsync[..keep].trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}{SUFFIX}")
}

/// Whether [`JournalStore::acquire`] takes a journal that another holder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takeover {
    /// Only a journal with no holder, or held by the same holder.
    Never,
    /// Also one another holder holds. Only for a caller that holds the operator's leader Lease
    /// (exclusive): the other holder is a predecessor that is gone, or that fails its next
    /// write.
    AsLeader,
}

/// An apply journal in a ConfigMap, written by compare-and-swap (see the module docs). Give each
/// apply its own store (they are not shared, or cloned): a store is one holder's view.
pub struct ConfigMapJournal {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
    owner: Option<OwnerReference>,
    takeover: Takeover,
    /// The object as this store last read or wrote it: the next write is made over its
    /// `resourceVersion`.
    seen: Option<ConfigMap>,
    /// The entries `seen` holds.
    entries: Vec<Entry>,
    /// Who this store holds the journal as, once it took it.
    holder: Option<String>,
}

impl std::fmt::Debug for ConfigMapJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigMapJournal")
            .field("configmap", &self.describe())
            .field("takeover", &self.takeover)
            .field("holder", &self.holder)
            .field(
                "resource_version",
                &self.seen.as_ref().and_then(|c| c.resource_version()),
            )
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl ConfigMapJournal {
    /// The journal of `gitsync` (in its namespace, named by [`journal_name`]), reached with
    /// `client`; nothing is read until it is used. The ownerReference needs the GitSync's uid:
    /// a GitSync that was not read from the API server has none, and its journal no owner.
    pub fn new(client: kube::Client, gitsync: &GitSync, takeover: Takeover) -> ConfigMapJournal {
        let namespace = gitsync.namespace().unwrap_or_else(|| "default".to_owned());
        let owner = gitsync.uid().map(|uid| OwnerReference {
            api_version: GitSync::api_version(&()).into_owned(),
            kind: GitSync::kind(&()).into_owned(),
            name: gitsync.name_any(),
            uid,
            controller: Some(false),
            block_owner_deletion: Some(false),
        });
        ConfigMapJournal {
            api: Api::namespaced(client, &namespace),
            name: journal_name(&gitsync.name_any()),
            namespace,
            owner,
            takeover,
            seen: None,
            entries: Vec::new(),
            holder: None,
        }
    }

    /// The ConfigMap's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ConfigMap's namespace (the GitSync's).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// An API error, as this journal's.
    fn unavailable(&self, error: kube::Error) -> JournalError {
        JournalError::Io {
            path: PathBuf::from(self.describe()),
            source: std::io::Error::other(error),
        }
    }

    async fn read(&self) -> Result<Option<ConfigMap>, JournalError> {
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.unavailable(e))
    }

    /// The entries a ConfigMap holds; a line that is not an entry is damage (a ConfigMap is
    /// written whole, so unlike a file's last line it is never torn).
    fn entries_of(&self, cm: &ConfigMap) -> Result<Vec<Entry>, JournalError> {
        let text = data_of(cm).get(ENTRIES_KEY).map_or("", String::as_str);
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str::<Entry>(l).map_err(|e| JournalError::Damaged {
                    journal: self.describe(),
                    line: i + 1,
                    problem: e.to_string(),
                })
            })
            .collect()
    }

    /// A ConfigMap with this journal's name, labels and owner, holding `data`.
    fn fresh(&self, data: BTreeMap<String, String>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(
                    [(MANAGED_BY_LABEL.to_owned(), "gitsync".to_owned())]
                        .into_iter()
                        .collect(),
                ),
                owner_references: self.owner.clone().map(|o| vec![o]),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..ConfigMap::default()
        }
    }

    /// Refuses data a ConfigMap cannot hold.
    fn fits(&self, cm: &ConfigMap) -> Result<(), JournalError> {
        let bytes = data_bytes(cm);
        if bytes > CONFIGMAP_LIMIT {
            return Err(JournalError::TooLarge {
                journal: self.describe(),
                bytes,
                limit: CONFIGMAP_LIMIT,
            });
        }
        Ok(())
    }

    /// After a write was refused as a conflict: who wrote it, as an error.
    async fn lost(&self) -> JournalError {
        let moved = JournalError::Moved {
            journal: self.describe(),
        };
        match self.read().await {
            Ok(Some(cm)) => match holder_of(&cm) {
                Some(other) if Some(other) != self.holder.as_deref() => JournalError::TakenOver {
                    journal: self.describe(),
                    holder: other.to_owned(),
                },
                _ => moved,
            },
            // Gone, or unreadable: someone else changed it; who cannot be said.
            _ => moved,
        }
    }

    /// Writes `cm` over the version this store saw; on success it is what the store saw last.
    async fn swap(&mut self, cm: ConfigMap, entries: Vec<Entry>) -> Result<(), JournalError> {
        self.fits(&cm)?;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &cm)
            .await
        {
            Ok(written) => {
                self.seen = Some(written);
                self.entries = entries;
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Err(self.lost().await),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(JournalError::Moved {
                journal: self.describe(),
            }),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    /// The object this store holds, to write over: an error unless it took the journal.
    fn held(&self) -> Result<&ConfigMap, JournalError> {
        match (&self.holder, &self.seen) {
            (Some(_), Some(cm)) => Ok(cm),
            (Some(_), None) => Err(JournalError::Moved {
                journal: self.describe(),
            }),
            (None, _) => Err(JournalError::Busy {
                journal: self.describe(),
                holder: self
                    .seen
                    .as_ref()
                    .and_then(holder_of)
                    .unwrap_or("nobody (this apply does not hold it)")
                    .to_owned(),
            }),
        }
    }

    /// Writes `entries` as the whole journal, over the version this store saw.
    async fn write(&mut self, entries: Vec<Entry>) -> Result<(), JournalError> {
        let mut cm = self.held()?.clone();
        let text: String = entries.iter().map(line).collect();
        cm.data
            .get_or_insert_with(BTreeMap::new)
            .insert(ENTRIES_KEY.to_owned(), text);
        self.swap(cm, entries).await
    }
}

/// The data of a ConfigMap (none: empty).
fn data_of(cm: &ConfigMap) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    cm.data.as_ref().unwrap_or(&EMPTY)
}

/// Who holds the journal in `cm`, if anyone.
fn holder_of(cm: &ConfigMap) -> Option<&str> {
    data_of(cm)
        .get(HOLDER_KEY)
        .map(String::as_str)
        .filter(|h| !h.trim().is_empty())
}

/// The bytes of a ConfigMap's data as the API server counts them against its limit: each value
/// of `data` and `binaryData` (not the keys).
fn data_bytes(cm: &ConfigMap) -> usize {
    let text: usize = data_of(cm).values().map(String::len).sum();
    let binary: usize = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(_, v)| v.0.len())
        .sum();
    text + binary
}

impl JournalStore for ConfigMapJournal {
    async fn acquire(&mut self, holder: &str) -> Result<(), JournalError> {
        if self.holder.as_deref() == Some(holder) && self.seen.is_some() {
            return Ok(());
        }
        // Each turn reads the object and writes it over what it read; a write refused because
        // the object changed in between (another store took it, or made it first) reads again.
        for _ in 0..5 {
            let Some(found) = self.read().await? else {
                let data = [
                    (HOLDER_KEY.to_owned(), holder.to_owned()),
                    (ENTRIES_KEY.to_owned(), String::new()),
                ];
                let cm = self.fresh(data.into_iter().collect());
                self.fits(&cm)?;
                match self.api.create(&PostParams::default(), &cm).await {
                    Ok(made) => {
                        self.seen = Some(made);
                        self.entries = Vec::new();
                        self.holder = Some(holder.to_owned());
                        return Ok(());
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => return Err(self.unavailable(e)),
                }
            };
            let entries = self.entries_of(&found)?;
            let previous = holder_of(&found).map(str::to_owned);
            if let Some(other) = previous.as_deref().filter(|o| *o != holder) {
                if self.takeover == Takeover::Never {
                    return Err(JournalError::Busy {
                        journal: self.describe(),
                        holder: other.to_owned(),
                    });
                }
                tracing::info!(
                    journal = %self.describe(),
                    previous = other,
                    holder,
                    "taking the apply journal over from the previous leader"
                );
            }
            let mut cm = found;
            cm.data
                .get_or_insert_with(BTreeMap::new)
                .insert(HOLDER_KEY.to_owned(), holder.to_owned());
            // Its label and owner, should someone have removed them.
            cm.labels_mut()
                .insert(MANAGED_BY_LABEL.to_owned(), "gitsync".to_owned());
            if let Some(owner) = &self.owner
                && !cm.owner_references().iter().any(|o| o.uid == owner.uid)
            {
                cm.owner_references_mut().push(owner.clone());
            }
            self.fits(&cm)?;
            match self
                .api
                .replace(&self.name, &PostParams::default(), &cm)
                .await
            {
                Ok(written) => {
                    self.seen = Some(written);
                    self.entries = entries;
                    self.holder = Some(holder.to_owned());
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => continue,
                Err(e) => return Err(self.unavailable(e)),
            }
        }
        Err(JournalError::Moved {
            journal: self.describe(),
        })
    }

    /// Reads the journal. Without [`JournalStore::acquire`] first, it only reads (for a look at
    /// an apply someone else holds); once held, a journal found taken over is an error, and the
    /// version read is the one the next write is made over.
    async fn load(&mut self) -> Result<Vec<Entry>, JournalError> {
        let found = self.read().await?;
        let Some(cm) = found else {
            if self.holder.is_some() {
                return Err(JournalError::Moved {
                    journal: self.describe(),
                });
            }
            self.seen = None;
            self.entries.clear();
            return Ok(Vec::new());
        };
        if let Some(me) = self.holder.as_deref() {
            match holder_of(&cm) {
                Some(other) if other != me => {
                    return Err(JournalError::TakenOver {
                        journal: self.describe(),
                        holder: other.to_owned(),
                    });
                }
                Some(_) => {}
                None => {
                    return Err(JournalError::Moved {
                        journal: self.describe(),
                    });
                }
            }
        }
        let entries = self.entries_of(&cm)?;
        self.seen = Some(cm);
        self.entries = entries.clone();
        Ok(entries)
    }

    async fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut entries = self.entries.clone();
        entries.push(entry.clone());
        self.write(entries).await
    }

    async fn replace(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        self.write(entries.to_vec()).await
    }

    /// Deletes the ConfigMap, if it is still the version this store saw.
    async fn remove(&mut self) -> Result<(), JournalError> {
        let version = self.held()?.resource_version();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: version,
                uid: None,
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&self.name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(kube::Error::Api(s)) if s.code == 409 => return Err(self.lost().await),
            Err(e) => return Err(self.unavailable(e)),
        }
        self.seen = None;
        self.entries.clear();
        Ok(())
    }

    fn describe(&self) -> String {
        format!("configmap {}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_subdomain(name: &str) -> bool {
        name.len() <= MAX_NAME
            && name.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    }

    #[test]
    fn a_journal_name_is_a_valid_name_for_any_gitsync_name() {
        let long = "a".repeat(253);
        let dashed = format!("{}-{}", "b".repeat(237), "c".repeat(15));
        let dotted = format!("{}.{}", "d".repeat(238), "e".repeat(14));
        let cases: [(&str, Option<&str>); 5] = [
            ("acme", Some("acme-apply-journal")),
            ("team.a-b", Some("team.a-b-apply-journal")),
            (
                &long[..239],
                Some(&format!("{}-apply-journal", &long[..239])),
            ),
            (&long, None),
            (&dashed, None),
        ];
        for (gitsync, expected) in cases {
            let name = journal_name(gitsync);
            assert!(is_dns_subdomain(&name), "{gitsync} -> {name}");
            if let Some(expected) = expected {
                assert_eq!(name, expected);
            } else {
                assert!(name.ends_with(SUFFIX), "{name}");
            }
        }
        // Two long names that share their first 228 characters stay apart.
        assert_ne!(journal_name(&long), journal_name(&long[..252]));
        assert_ne!(
            journal_name(&dotted),
            journal_name(&format!("{}.{}", "d".repeat(238), "f".repeat(14)))
        );
        assert!(is_dns_subdomain(&journal_name(&dotted)));
    }

    #[test]
    fn data_is_counted_as_the_api_server_counts_it() {
        let cm = ConfigMap {
            data: Some(
                [("holder".to_owned(), "é".to_owned())]
                    .into_iter()
                    .collect(),
            ),
            binary_data: Some(
                [("b".to_owned(), k8s_openapi::ByteString(vec![0; 3]))]
                    .into_iter()
                    .collect(),
            ),
            ..ConfigMap::default()
        };
        assert_eq!(data_bytes(&cm), 2 + 3, "the values' bytes, not the keys'");
        assert_eq!(data_bytes(&ConfigMap::default()), 0);
    }
}
