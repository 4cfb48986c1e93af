//! What gitsync remembers about each open pull request between passes: the head it planned,
//! the plan's digest, its comments, where it stands, and the newest comment it read for
//! commands. The operator keeps these in `status.pullRequests` (this type is that schema, once);
//! nothing here is trusted from the forge: a record is only ever written by gitsync.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a pull request stands with gitsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Planned; can be applied by command.
    Planned,
    /// Planned with no changes: nothing to apply.
    NoChanges,
    /// The plan has conflicts with the workspace: cannot be applied.
    Conflicted,
    /// The files cannot be planned (syntax, unknown attributes...).
    Invalid,
    /// An apply runs (or was interrupted, and is resumed).
    Applying,
    /// Applied.
    Applied,
    /// The apply failed midway (what was applied stays; the report says what).
    Failed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Planned => "planned",
            Stage::NoChanges => "noChanges",
            Stage::Conflicted => "conflicted",
            Stage::Invalid => "invalid",
            Stage::Applying => "applying",
            Stage::Applied => "applied",
            Stage::Failed => "failed",
        }
    }

    /// Whether the record shows a plan waiting for a command (what `kubectl get` counts).
    pub fn is_open_plan(self) -> bool {
        matches!(self, Stage::Planned | Stage::Applying)
    }
}

/// One pull request, as gitsync last handled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRecord {
    /// GitHub's pull request number, GitLab's merge request iid.
    pub number: u64,
    /// The head commit last planned (or the commit an apply pushed on top of it).
    pub head: String,
    /// planned, noChanges, conflicted, invalid, applying, applied or failed.
    #[serde(rename = "state")]
    pub stage: Stage,
    /// The fingerprint of the plan shown (`None` for files that cannot be planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// `+2 ~1 -1`: to add, to change, to destroy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<String>,
    /// The plan comment's parts, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comment_ids: Vec<u64>,
    /// The login the plan comments were posted as (the only author whose comments gitsync
    /// edits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_login: Option<String>,
    /// The newest comment read for commands; only newer ones can be commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_comment_id: Option<u64>,
    /// A command accepted but waiting for the forge to say whether the pull request can be
    /// merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_command_id: Option<u64>,
    /// One line on what happened last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the record last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

impl PullRecord {
    pub fn new(number: u64) -> PullRecord {
        PullRecord {
            number,
            head: String::new(),
            stage: Stage::Planned,
            plan_digest: None,
            changes: None,
            comment_ids: Vec::new(),
            bot_login: None,
            last_comment_id: None,
            pending_command_id: None,
            message: None,
            updated: None,
        }
    }
}

/// How many records hold a plan waiting for a command.
pub fn open_plans(records: &[PullRecord]) -> usize {
    records.iter().filter(|r| r.stage.is_open_plan()).count()
}
