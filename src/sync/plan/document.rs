//! The plan as a file: the one JSON document `plan --out` writes and `apply` reads, checked for
//! its format and version, and sealed.
//!
//! A plan file travels (a CI artifact, a pull-request comment's attachment) and anyone who can
//! touch it could edit what apply writes (`desired`), or blank what apply checks (`workspace_id`,
//! `dir`). So a plan is sealed when it is written, with an HMAC-SHA256 keyed by a key derived from
//! the workspace token (as sync points are, [`crate::sync::point`]), over the document without its
//! seal; reading it back with the key refuses any document that does not verify. Only holders of
//! the token, who can change the workspace anyway, can make a plan apply will take.
//!
//! This module never talks to the workspace or the disk: it turns plans into text and back.

use hmac::Mac;
use sha2::Digest;

use super::{Action, Change, PLAN_FORMAT, PLAN_VERSION, Plan};
use crate::workspace::{HmacSha256, PointKey};

/// The key plans are sealed with: derived from the workspace's credentials, never printed.
#[derive(Clone)]
pub struct PlanKey(PointKey);

impl PlanKey {
    /// The key of the workspace the token in `point_key` reaches
    /// ([`crate::workspace::Workspace::point_key`]).
    pub fn new(point_key: PointKey) -> PlanKey {
        PlanKey(point_key)
    }

    fn mac(&self, document: &[u8]) -> HmacSha256 {
        let mut mac = self.0.mac();
        // Another domain than sync points': a seal of one can never pass for the other.
        for part in [b"gitsync plan seal v1".as_slice(), document] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

impl std::fmt::Debug for PlanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanKey(<redacted>)")
    }
}

/// Why a text is not a plan this gitsync applies.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("not a gitsync plan ({0})")]
    NotAPlan(String),
    #[error(
        "a `{format}` document version {version}; this gitsync applies `{PLAN_FORMAT}` version {PLAN_VERSION}: make a new plan"
    )]
    Version { format: String, version: String },
    #[error(
        "the plan has no seal: it was not written by gitsync plan, or written before plans were sealed; make a new plan"
    )]
    Unsealed,
    #[error(
        "the plan's seal does not verify: the plan was edited after it was made, or it was made with another workspace token; make a new plan"
    )]
    BadSeal,
}

impl PlanFileError {
    /// A short CamelCase reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanFileError::NotAPlan(_) => "NotAPlan",
            PlanFileError::Version { .. } => "PlanVersion",
            PlanFileError::Unsealed => "PlanUnsealed",
            PlanFileError::BadSeal => "PlanSealInvalid",
        }
    }
}

impl Plan {
    /// The document without its seal, as sealed and fingerprinted: the same plan always gives
    /// the same bytes, whether it was just made or read back from a file.
    pub(crate) fn canonical(&self) -> Vec<u8> {
        let mut unsealed = self.clone();
        unsealed.seal = None;
        serde_json::to_vec(&unsealed).unwrap_or_default()
    }

    /// A fingerprint of the plan (without its seal): what names its apply and its journal.
    pub fn fingerprint(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.canonical()))
    }

    /// The plan file's text, sealed with `key`.
    pub fn to_json(&self, key: &PlanKey) -> String {
        let mut sealed = self.clone();
        sealed.seal = Some(hex::encode(
            key.mac(&self.canonical()).finalize().into_bytes(),
        ));
        serde_json::to_string_pretty(&sealed).unwrap_or_default()
    }

    /// Reads a plan file's text: a `gitsync-plan` document of this version, whose seal verifies
    /// with `key`.
    pub fn from_json(text: &str, key: &PlanKey) -> Result<Plan, PlanFileError> {
        let plan = Plan::from_json_unverified(text)?;
        let seal = plan.seal.as_deref().ok_or(PlanFileError::Unsealed)?;
        let bytes = hex::decode(seal).map_err(|_| PlanFileError::BadSeal)?;
        // Constant-time comparison.
        key.mac(&plan.canonical())
            .verify_slice(&bytes)
            .map_err(|_| PlanFileError::BadSeal)?;
        Ok(plan)
    }

    /// Reads a plan document without verifying its seal: for showing one, never for applying.
    pub fn from_json_unverified(text: &str) -> Result<Plan, PlanFileError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PlanFileError::NotAPlan(e.to_string()))?;
        let shown = |v: Option<&serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "(none)".to_owned(),
        };
        let format = value.get("format");
        if format.and_then(|f| f.as_str()) != Some(PLAN_FORMAT) {
            return Err(match format {
                None => PlanFileError::NotAPlan("it has no `format`".into()),
                Some(_) => PlanFileError::Version {
                    format: shown(format),
                    version: shown(value.get("version")),
                },
            });
        }
        if value.get("version").and_then(|v| v.as_u64()) != Some(u64::from(PLAN_VERSION)) {
            return Err(PlanFileError::Version {
                format: PLAN_FORMAT.to_owned(),
                version: shown(value.get("version")),
            });
        }
        serde_json::from_value(value).map_err(|e| PlanFileError::NotAPlan(e.to_string()))
    }

    /// The changes that destroy what the workspace holds: deletes and replaces, in the order
    /// apply runs them.
    pub fn deletes(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            format: PLAN_FORMAT.into(),
            version: PLAN_VERSION,
            workspace: Some("http://127.0.0.1:1".into()),
            workspace_id: Some("ws1".into()),
            dir: Some("/tmp/tree".into()),
            tree: "ab".repeat(32),
            tree_files: Default::default(),
            base: None,
            changes: vec![Change {
                action: Action::Update,
                resource_type: "segment_source".into(),
                address: "segment_source.id-a".into(),
                file: "sources/a.tf".into(),
                import_id: Some("a".into()),
                attributes: Vec::new(),
                live_fingerprint: Some("f".into()),
                desired: Some("resource \"segment_source\" \"id-a\" {}\n".into()),
                dependents: Vec::new(),
            }],
            conflicts: Vec::new(),
            kept: Vec::new(),
            unchanged: 0,
            workspace_reads: 1,
            notes: Vec::new(),
            seal: None,
        }
    }

    fn key(token: &str) -> PlanKey {
        PlanKey::new(PointKey::derive(token))
    }

    #[test]
    fn a_plan_reads_back_as_written_and_its_fingerprint_ignores_the_seal() {
        let made = plan();
        let text = made.to_json(&key("t"));
        let read = Plan::from_json(&text, &key("t")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.fingerprint(), made.fingerprint());
        assert!(read.seal.is_some());
        assert_eq!(Plan { seal: None, ..read }, made);
    }

    #[test]
    fn an_edited_or_unsealed_or_foreign_plan_is_refused() {
        let text = plan().to_json(&key("t"));
        let edit = |from: &str, to: &str| {
            assert!(text.contains(from), "{from}");
            text.replacen(from, to, 1)
        };
        let cases: [(&str, String); 5] = [
            ("desired", edit("id-a\\\" {}", "id-b\\\" {}")),
            ("workspace_id", edit("\"ws1\"", "null")),
            ("dir", edit("\"/tmp/tree\"", "null")),
            ("another token", text.clone()),
            ("tree", edit(&"ab".repeat(32), &"cd".repeat(32))),
        ];
        for (what, edited) in cases {
            let k = if what == "another token" {
                key("other")
            } else {
                key("t")
            };
            assert!(
                matches!(Plan::from_json(&edited, &k), Err(PlanFileError::BadSeal)),
                "{what}"
            );
        }
        let unsealed = serde_json::to_string(&plan()).unwrap_or_default();
        assert!(matches!(
            Plan::from_json(&unsealed, &key("t")),
            Err(PlanFileError::Unsealed)
        ));
    }

    #[test]
    fn other_documents_and_versions_are_named_for_what_they_are() {
        let cases = [
            ("[]", "NotAPlan"),
            ("{\"a\":1}", "NotAPlan"),
            ("{\"format\":\"terraform\",\"version\":4}", "PlanVersion"),
            ("{\"format\":\"gitsync-plan\",\"version\":2}", "PlanVersion"),
            ("not json", "NotAPlan"),
        ];
        for (text, reason) in cases {
            let got = Plan::from_json(text, &key("t")).map(|_| ());
            assert_eq!(got.err().map(|e| e.reason()), Some(reason), "{text}");
        }
    }

    #[test]
    fn deletes_are_the_deletes_and_replaces() {
        let mut p = plan();
        let mut c = p.changes[0].clone();
        for action in [Action::Delete, Action::Create, Action::Replace] {
            c.action = action;
            p.changes.push(c.clone());
        }
        let got: Vec<Action> = p.deletes().map(|c| c.action).collect();
        assert_eq!(got, [Action::Delete, Action::Replace]);
    }
}
