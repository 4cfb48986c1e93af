//! Sync points: where in the workspace's audit trail a commit brings the branch, kept in the
//! commit itself so that it survives the loss of any cache, and sealed so that gitsync only
//! ever continues from a point it wrote.
//!
//! A point is two trailers at the end of a commit message:
//!
//! ```text
//! Gitsync-Audit-Point: 2026-11-24T03:11:08.123Z ae_1,ae_2
//! Gitsync-Audit-Point-Seal: 5be1…(HMAC-SHA256, hex)
//! ```
//!
//! Anyone who can push to the branch can write trailers, and a point that lies (in the future,
//! say) would make every later sync skip the changes before it. So a point is trusted only when
//! its seal verifies: an HMAC, keyed by a secret only the holders of the workspace token have
//! ([`crate::workspace::PointKey`]), over the point, the commit's tree, the branch and the
//! synced types. A copied trailer on another tree (a squash merge, a cherry-pick onto other
//! content), a point of another branch or type set, a hand-written or an unsealed one (written
//! before points were sealed) all fail. A point that does not parse, or lies in the future, is
//! refused even when sealed. When a branch holds points but none can be trusted, the runner finds
//! the changes by listing the workspace and comparing it with the branch instead of skipping
//! them. A new workspace token means a new key: the first run after a rotation compares once.
//!
//! This module never talks to the network or the workspace; it reads commits of the cache only.

use std::fmt;
use std::str::FromStr;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use hmac::Mac;
use jiff::{SignedDuration, Timestamp};

use crate::model::ResourceType;
use crate::workspace::{AuditPoint, HmacSha256, PointKey};

/// The trailer that carries the audit point.
pub const POINT_TRAILER: &str = "Gitsync-Audit-Point";
/// The trailer that carries the point's seal.
pub const SEAL_TRAILER: &str = "Gitsync-Audit-Point-Seal";
/// How far in the future (by this machine's clock) a sealed point may lie before it is refused:
/// points taken from the audit trail carry the workspace's clock, which may run a little ahead.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(10);
/// How many commits back from the head the search for a point goes.
pub const SEARCH_DEPTH: usize = 1000;

/// Seals and opens the points of one branch synced with one set of types.
#[derive(Clone)]
pub struct Sealer {
    key: PointKey,
    /// The branch and the synced types, sealed with every point: a point is only good for the
    /// sync that wrote it.
    scope: String,
}

impl fmt::Debug for Sealer {
    // The key never appears in output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a point found in a commit is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error("it has no seal (written by hand, or by a gitsync from before points were sealed)")]
    Unsealed,
    #[error(
        "its seal does not verify (not written by gitsync for this branch, these types and this tree, or the workspace token changed)"
    )]
    BadSeal,
    #[error("`{0}` is not a point (expected an RFC 3339 time, then event ids)")]
    Malformed(String),
    #[error("it lies in the future ({0})")]
    InFuture(String),
}

/// A commit whose point was not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredPoint {
    pub commit: ObjectId,
    pub why: Untrusted,
}

impl fmt::Display for IgnoredPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ignored the sync point in commit {}: {}",
            self.commit.to_hex_with_len(12),
            self.why
        )
    }
}

/// What a search of the branch found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// The newest trusted point, and the commit that carries it.
    pub trusted: Option<(ObjectId, AuditPoint)>,
    /// Points newer than the trusted one (or all of them, when none is trusted) that were not
    /// trusted, newest first.
    pub ignored: Vec<IgnoredPoint>,
}

impl Sealer {
    pub fn new(key: PointKey, branch: &str, types: &[ResourceType]) -> Self {
        let mut names: Vec<&str> = types.iter().map(|t| t.terraform_type()).collect();
        names.sort_unstable();
        names.dedup();
        Sealer {
            key,
            scope: format!("{branch}\n{}", names.join(",")),
        }
    }

    /// `message` with `point` (for a commit of `tree`) and its seal as trailers.
    pub fn message(&self, message: &str, point: &AuditPoint, tree: ObjectId) -> String {
        let value = point_value(point);
        let seal = self.seal(&value, tree);
        format!("{message}\n\n{POINT_TRAILER}: {value}\n{SEAL_TRAILER}: {seal}")
    }

    fn mac(&self, value: &str, tree: ObjectId) -> HmacSha256 {
        let mut mac = self.key.mac();
        for part in [
            "gitsync audit point v1",
            &self.scope,
            &tree.to_string(),
            value,
        ] {
            // Length-prefixed, so that no two different inputs hash the same.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn seal(&self, value: &str, tree: ObjectId) -> String {
        hex::encode(self.mac(value, tree).finalize().into_bytes())
    }

    /// The point a commit message carries, if it has one: trusted, or why not. Only the
    /// message's last trailer block counts.
    pub fn open(
        &self,
        message: &[u8],
        tree: ObjectId,
        now: Timestamp,
    ) -> Option<Result<AuditPoint, Untrusted>> {
        let (value, seal) = trailers(message)?;
        Some(self.verify(&value, seal.as_deref(), tree, now))
    }

    fn verify(
        &self,
        value: &str,
        seal: Option<&str>,
        tree: ObjectId,
        now: Timestamp,
    ) -> Result<AuditPoint, Untrusted> {
        let seal = seal.ok_or(Untrusted::Unsealed)?;
        let bytes = hex::decode(seal).map_err(|_| Untrusted::BadSeal)?;
        // Constant-time comparison.
        self.mac(value, tree)
            .verify_slice(&bytes)
            .map_err(|_| Untrusted::BadSeal)?;
        let point = parse_value(value)?;
        let since = parse_time(&point.since)?;
        if since > now + MAX_CLOCK_SKEW {
            return Err(Untrusted::InFuture(point.since));
        }
        Ok(point)
    }

    /// Walks the branch from `head` (at most [`SEARCH_DEPTH`] commits) for the newest trusted
    /// point, noting every untrusted one on the way.
    pub fn search(&self, repo: &gix::Repository, head: Option<ObjectId>, now: Timestamp) -> Search {
        let mut search = Search::default();
        let Some(head) = head else { return search };
        let Ok(walk) = repo.rev_walk([head]).all() else {
            return search;
        };
        for info in walk.take(SEARCH_DEPTH).filter_map(Result::ok) {
            let Ok(commit) = info.object() else { continue };
            let (Ok(raw), Ok(tree)) = (commit.message_raw(), commit.tree_id()) else {
                continue;
            };
            match self.open(raw, tree.detach(), now) {
                None => {}
                Some(Ok(point)) => {
                    search.trusted = Some((info.id, point));
                    break;
                }
                Some(Err(why)) => search.ignored.push(IgnoredPoint {
                    commit: info.id,
                    why,
                }),
            }
        }
        search
    }
}

/// `2026-11-24T03:11:08.123Z ae_1,ae_2` (no ids: just the time).
fn point_value(point: &AuditPoint) -> String {
    if point.seen_at_since.is_empty() {
        point.since.clone()
    } else {
        format!("{} {}", point.since, point.seen_at_since.join(","))
    }
}

fn parse_value(value: &str) -> Result<AuditPoint, Untrusted> {
    let malformed = || Untrusted::Malformed(value.chars().take(80).collect());
    let mut parts = value.split(' ');
    let since = parts
        .next()
        .filter(|s| !s.is_empty())
        .ok_or_else(malformed)?;
    let ids = parts.next().unwrap_or("");
    if parts.next().is_some() {
        return Err(malformed());
    }
    Ok(AuditPoint {
        since: since.to_owned(),
        seen_at_since: ids
            .split(',')
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

fn parse_time(text: &str) -> Result<Timestamp, Untrusted> {
    Timestamp::from_str(text).map_err(|_| Untrusted::Malformed(text.chars().take(80).collect()))
}

/// The point and seal trailers of the message's last trailer block (the last of each).
fn trailers(message: &[u8]) -> Option<(String, Option<String>)> {
    let message = gix::objs::commit::MessageRef::from_bytes(message);
    let body = message.body()?;
    let (mut point, mut seal) = (None, None);
    for trailer in body.trailers() {
        let value = trailer.value.to_str_lossy().into_owned();
        if trailer.token == POINT_TRAILER.as_bytes() {
            point = Some(value);
        } else if trailer.token == SEAL_TRAILER.as_bytes() {
            seal = Some(value);
        }
    }
    point.map(|p| (p, seal))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    const OTHER_TREE: &str = "1111111111111111111111111111111111111111";

    fn sealer() -> Sealer {
        Sealer::new(
            PointKey::derive("token"),
            "main",
            &[ResourceType::Source, ResourceType::Destination],
        )
    }

    fn point(since: &str) -> AuditPoint {
        AuditPoint {
            since: since.into(),
            seen_at_since: vec!["ae_1".into(), "ae_2".into()],
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_str("2026-12-01T00:00:00Z").unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn tree(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).unwrap_or_else(|_| ObjectId::null(gix::hash::Kind::Sha1))
    }

    #[test]
    fn a_sealed_point_round_trips_through_a_message() {
        let p = point("2026-11-24T03:11:08.123Z");
        let message = sealer().message("Source 'abc' modified by a@b.c", &p, tree(TREE));
        assert_eq!(
            sealer().open(message.as_bytes(), tree(TREE), now()),
            Some(Ok(p))
        );
        assert_eq!(sealer().open(b"Full sync", tree(TREE), now()), None);
        let empty = AuditPoint {
            since: "2026-11-24T03:11:08Z".into(),
            seen_at_since: vec![],
        };
        let message = sealer().message("Full sync", &empty, tree(TREE));
        assert!(message.ends_with(&format!(
            "{POINT_TRAILER}: 2026-11-24T03:11:08Z\n{SEAL_TRAILER}: {}",
            sealer().seal("2026-11-24T03:11:08Z", tree(TREE))
        )));
        assert_eq!(
            sealer().open(message.as_bytes(), tree(TREE), now()),
            Some(Ok(empty))
        );
    }

    #[test]
    fn hand_written_and_copied_points_are_not_trusted() {
        let s = sealer();
        let forged = format!("Nothing to see\n\n{POINT_TRAILER}: 2099-01-01T00:00:00.000Z");
        assert_eq!(
            s.open(forged.as_bytes(), tree(TREE), now()),
            Some(Err(Untrusted::Unsealed))
        );
        let garbage = format!("x\n\n{POINT_TRAILER}: not-a-time\n{SEAL_TRAILER}: zz");
        assert_eq!(
            s.open(garbage.as_bytes(), tree(TREE), now()),
            Some(Err(Untrusted::BadSeal))
        );
        let real = s.message("Full sync", &point("2026-11-24T03:11:08.123Z"), tree(TREE));
        // The same trailers on another tree (a squash merge that carries them along).
        assert_eq!(
            s.open(real.as_bytes(), tree(OTHER_TREE), now()),
            Some(Err(Untrusted::BadSeal))
        );
        // Another branch, another set of types, another workspace token.
        for other in [
            Sealer::new(
                PointKey::derive("token"),
                "staging",
                &[ResourceType::Source, ResourceType::Destination],
            ),
            Sealer::new(PointKey::derive("token"), "main", &[ResourceType::Source]),
            Sealer::new(
                PointKey::derive("other token"),
                "main",
                &[ResourceType::Source, ResourceType::Destination],
            ),
        ] {
            assert_eq!(
                other.open(real.as_bytes(), tree(TREE), now()),
                Some(Err(Untrusted::BadSeal))
            );
        }
        // A changed time under the old seal.
        let moved = real.replace("2026-11-24T03:11:08.123Z", "2099-01-01T00:00:00.000Z");
        assert_eq!(
            s.open(moved.as_bytes(), tree(TREE), now()),
            Some(Err(Untrusted::BadSeal))
        );
    }

    #[test]
    fn sealed_points_in_the_future_or_malformed_are_refused() {
        let s = sealer();
        let future = s.message("x", &point("2099-01-01T00:00:00.000Z"), tree(TREE));
        assert_eq!(
            s.open(future.as_bytes(), tree(TREE), now()),
            Some(Err(Untrusted::InFuture("2099-01-01T00:00:00.000Z".into())))
        );
        let bad = s.message("x", &point("not-a-time"), tree(TREE));
        assert_eq!(
            s.open(bad.as_bytes(), tree(TREE), now()),
            Some(Err(Untrusted::Malformed("not-a-time".into())))
        );
        // A few minutes ahead (the workspace's clock) is fine.
        let soon = s.message("x", &point("2026-12-01T00:05:00Z"), tree(TREE));
        assert!(matches!(
            s.open(soon.as_bytes(), tree(TREE), now()),
            Some(Ok(_))
        ));
    }

    #[test]
    fn only_the_last_trailer_block_counts() {
        let s = sealer();
        let real = s.message("Full sync", &point("2026-11-24T03:11:08.123Z"), tree(TREE));
        // A squash merge lists the old messages, then its own trailer block.
        let squashed = format!("Squashed (#12)\n\n* {real}\n\nSigned-off-by: a <a@b.c>");
        assert_eq!(s.open(squashed.as_bytes(), tree(TREE), now()), None);
    }

    #[test]
    fn the_key_never_appears_in_debug_output() {
        let s = Sealer::new(PointKey::derive("s3cr3t-token"), "main", &[]);
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("main"));
    }
}
