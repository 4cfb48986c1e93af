//! The embedded workspace's storage: resources as full API objects and the audit trail, in
//! SQLite.
//!
//! Every change and its audit event are written in one transaction, so a crash leaves either both
//! or neither. A change computed from the stored state (a PATCH, a replaced field) reads that
//! state in the same transaction ([`Store::modify`]), so two concurrent changes cannot lose each
//! other. The database runs in WAL mode. Audit events get a sequence number in commit order
//! (SQLite has one writer at a time), so a reader that remembers the last number it saw can never
//! miss an event committed later. This module knows nothing of HTTP.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value as Json};

use crate::workspace::AuditEvent;

/// Storage errors; all of them are bugs or a broken database file, reported as 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("corrupt stored object: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// One stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub seq: i64,
    pub object: Map<String, Json>,
}

/// One resource of a seed, stored as given. (What is secret is decided when serving, by the one
/// rule of [`crate::workspace::api::is_secret_key`], so a seed holding clear secrets is still
/// served masked.)
#[derive(Debug, Clone)]
pub struct SeedRow {
    pub ty: String,
    pub id: String,
    pub parent: Option<String>,
    pub object: Map<String, Json>,
}

/// What a change records in the audit trail.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub kind: String,
    pub actor: String,
    pub resource_id: String,
    pub resource_type: String,
    pub resource_name: String,
}

/// What a [`Store::modify`] change writes: the new state of the resource and its audit event.
#[derive(Debug, Clone)]
pub struct Write {
    pub parent: Option<String>,
    pub object: Map<String, Json>,
    pub audit: AuditRecord,
}

/// A filter on the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub after_seq: i64,
    pub limit: usize,
}

/// The store; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS resources (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    parent  TEXT,
    body    TEXT NOT NULL,
    UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (type, parent, seq);
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (type, seq);
CREATE TABLE IF NOT EXISTS audit_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    timestamp     TEXT NOT NULL,
    type          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_events (timestamp, seq);
CREATE TABLE IF NOT EXISTS workspace (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    id  TEXT NOT NULL
);
"#;

impl Store {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The id of the workspace this database is: made when the database is created and kept, so
    /// that two databases are two workspaces (a plan made against one is refused by the other).
    pub fn workspace_id(&self) -> Result<String, StoreError> {
        let conn = self.lock()?;
        let fresh = super::ids::random_base62(22);
        conn.execute(
            "INSERT OR IGNORE INTO workspace (one, id) VALUES (1, ?1)",
            params![fresh],
        )?;
        Ok(conn.query_row("SELECT id FROM workspace WHERE one = 1", [], |r| r.get(0))?)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        // A panic under the lock unwinds through the open transaction, whose drop rolls it back:
        // the connection is consistent, so one panicking request must not disable the store.
        Ok(self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Resources of a type (optionally under one parent), in creation order, after `after_seq`.
    /// Returns up to `limit` and whether more follow.
    pub fn list(
        &self,
        ty: &str,
        parent: Option<&str>,
        after_seq: i64,
        limit: usize,
    ) -> Result<(Vec<Stored>, bool), StoreError> {
        let conn = self.lock()?;
        // Two statements rather than `(?2 IS NULL OR parent = ?2)`, which SQLite cannot answer
        // from the (type, parent, seq) index.
        let mut stmt = match parent {
            Some(_) => conn.prepare_cached(
                "SELECT seq, body FROM resources
                 WHERE type = ?1 AND parent = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
            )?,
            None => conn.prepare_cached(
                "SELECT seq, body FROM resources
                 WHERE type = ?1 AND ?2 IS NULL AND seq > ?3 ORDER BY seq LIMIT ?4",
            )?,
        };
        let rows = stmt.query_map(
            params![ty, parent, after_seq, sql_limit(limit)],
            row_to_parts,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(parts_to_stored(row?)?);
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }

    pub fn get(&self, ty: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare_cached("SELECT seq, body FROM resources WHERE type = ?1 AND id = ?2")?;
        let row = stmt.query_row(params![ty, id], row_to_parts).optional()?;
        row.map(parts_to_stored).transpose()
    }

    /// The `metadata` object of some stored resource of this type with this metadata id: the
    /// embedded workspace's catalog, learned from what it holds.
    pub fn catalog_metadata(
        &self,
        ty: &str,
        metadata_id: &str,
    ) -> Result<Option<Json>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT json_extract(body, '$.metadata') FROM resources
             WHERE type = ?1 AND json_extract(body, '$.metadata.id') = ?2 LIMIT 1",
        )?;
        let text: Option<String> = stmt
            .query_row(params![ty, metadata_id], |r| r.get(0))
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    /// Inserts or replaces a resource, recording the audit event in the same transaction
    /// (`audit` is `None` for seeding, which is the workspace's starting state, not a change).
    pub fn put(
        &self,
        ty: &str,
        id: &str,
        parent: Option<&str>,
        object: &Map<String, Json>,
        audit: Option<&AuditRecord>,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        upsert(&tx, ty, id, parent, object)?;
        if let Some(audit) = audit {
            record(&tx, audit)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Reads a resource (`None` if there is none), lets `change` compute what to write from it,
    /// and writes that with its audit event, all in one `BEGIN IMMEDIATE` transaction: no other
    /// writer, in this process or another one on the same file, can come between the read and
    /// the write, so two concurrent changes of different fields both survive. An error from
    /// `change` writes nothing. `change` runs under the store's lock and must not call the store.
    pub fn modify<T, E: From<StoreError>>(
        &self,
        ty: &str,
        id: &str,
        change: impl FnOnce(Option<Stored>) -> Result<(Write, T), E>,
    ) -> Result<T, E> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let current = tx
            .prepare_cached("SELECT seq, body FROM resources WHERE type = ?1 AND id = ?2")
            .and_then(|mut stmt| stmt.query_row(params![ty, id], row_to_parts).optional())
            .map_err(StoreError::from)?
            .map(parts_to_stored)
            .transpose()?;
        let (write, out) = change(current)?;
        upsert(&tx, ty, id, write.parent.as_deref(), &write.object)?;
        record(&tx, &write.audit)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Seeds many resources in one transaction (no audit events).
    pub fn seed(&self, rows: &[SeedRow]) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            for row in rows {
                upsert(&tx, &row.ty, &row.id, row.parent.as_deref(), &row.object)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a resource and records the audit event; `false` if there was none.
    pub fn delete(&self, ty: &str, id: &str, audit: &AuditRecord) -> Result<bool, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM resources WHERE type = ?1 AND id = ?2",
            params![ty, id],
        )?;
        if n > 0 {
            record(&tx, audit)?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Audit events matching the query, oldest first, with their sequence numbers.
    pub fn audit_events(
        &self,
        q: &AuditQuery,
    ) -> Result<(Vec<(i64, AuditEvent)>, bool), StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, id, timestamp, type, actor, resource_id, resource_type, resource_name
             FROM audit_events
             WHERE seq > ?1 AND (?2 IS NULL OR timestamp >= ?2) AND (?3 IS NULL OR timestamp < ?3)
               AND (?4 IS NULL OR resource_id = ?4) AND (?5 IS NULL OR resource_type = ?5)
             ORDER BY seq LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                q.after_seq,
                q.start_time,
                q.end_time,
                q.resource_id,
                q.resource_type,
                sql_limit(q.limit)
            ],
            |r| {
                let actor: String = r.get(4)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    AuditEvent {
                        id: r.get(1)?,
                        timestamp: r.get(2)?,
                        kind: r.get(3)?,
                        actor_email: actor.contains('@').then(|| actor.clone()),
                        actor,
                        resource_id: r.get(5)?,
                        resource_type: r.get(6)?,
                        resource_name: r.get(7)?,
                    },
                ))
            },
        )?;
        let mut out = rows.collect::<Result<Vec<_>, _>>()?;
        let more = out.len() > q.limit;
        out.truncate(q.limit);
        Ok((out, more))
    }

    /// How many resources of each type are stored.
    pub fn counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare("SELECT type, COUNT(*) FROM resources GROUP BY type ORDER BY type")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

type Parts = (i64, String);

fn row_to_parts(r: &rusqlite::Row<'_>) -> rusqlite::Result<Parts> {
    Ok((r.get(0)?, r.get(1)?))
}

fn parts_to_stored((seq, body): Parts) -> Result<Stored, StoreError> {
    Ok(Stored {
        seq,
        object: serde_json::from_str(&body)?,
    })
}

fn upsert(
    tx: &rusqlite::Transaction<'_>,
    ty: &str,
    id: &str,
    parent: Option<&str>,
    object: &Map<String, Json>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO resources (type, id, parent, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (type, id) DO UPDATE SET parent = excluded.parent, body = excluded.body",
    )?
    .execute(params![ty, id, parent, serde_json::to_string(object)?])?;
    Ok(())
}

/// Appends an audit event. Timestamps never go backwards in sequence order, even if the clock
/// does, so "since time T" and "after sequence N" agree.
fn record(tx: &rusqlite::Transaction<'_>, audit: &AuditRecord) -> Result<(), StoreError> {
    let last: Option<String> = tx
        .query_row(
            "SELECT timestamp FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let now = crate::workspace::now_rfc3339();
    let timestamp = match last {
        Some(last) if last > now => last,
        _ => now,
    };
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO audit_events (id, timestamp, type, actor, resource_id, resource_type, resource_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            format!("ae_{seq:010}_{}", super::ids::random_base62(8)),
            timestamp,
            audit.kind,
            audit.actor,
            audit.resource_id,
            audit.resource_type,
            audit.resource_name
        ],
    )?;
    Ok(())
}

/// SQLite's LIMIT for "up to `limit`, and one more to tell whether more follow": a limit past
/// SQLite's range reads everything, instead of wrapping to a negative number (which SQLite also
/// reads as "no limit", but only by accident).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    /// C7: "no limit" (`usize::MAX / 2` from the handlers, or more) stays positive for SQLite.
    #[test]
    fn a_huge_limit_is_no_limit_not_a_wrapped_number() {
        assert_eq!(super::sql_limit(usize::MAX), i64::MAX);
        assert_eq!(super::sql_limit(usize::MAX / 2), i64::MAX);
        assert_eq!(super::sql_limit(200), 201);
    }
}
