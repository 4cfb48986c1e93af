//! The pull-request workflow: plan every open pull request into the synced branch and apply it
//! on command. One [`Pass`] looks at every open pull request once:
//!
//! 1. it fetches the pull request's head (`refs/pull/N/head`, `refs/merge-requests/N/head`) and
//!    the base branch into the cache, and plans the head three-way against the live workspace,
//!    from the merge base ([`crate::sync::plan::plan_tree`]);
//! 2. it posts the plan as one comment, edited in place on every push (split into parts under
//!    the forge's limit), and sets the commit status `gitsync/plan`;
//! 3. it reads the comments newer than the last it read; a new, unedited comment whose first
//!    line is the apply command ([`crate::forge::command`]) is acknowledged with a reaction and
//!    either refused with a reply that says why ([`rules`]) or applied: the plan is made again
//!    and must be the one shown, it is stashed (so that a new leader resumes it), applied
//!    through an [`apply::Session`] whose journal the caller keeps, the renamed files are pushed
//!    to the pull request's branch in one commit, and the comment shows the results.
//!
//! Nothing here knows Kubernetes: the operator gives it the forge, the workspace, the cache,
//! a journal store and a stash, and keeps the [`record::PullRecord`]s in its status. Nothing a
//! forge says is trusted beyond what it is about: comments are found again by their author
//! (gitsync's own login), never by a mark anyone could copy; a webhook only starts a pass.

pub mod comment;
pub mod record;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::forge::command::parse_command;
use crate::forge::{
    Comment, CommentId, CommitStatus, Forge, ForgeError, Mergeability, PullRequest, Reaction,
    StatusState,
};
use crate::git::remote::{PushOutcome, Remote, RemoteError};
use crate::git::tree::Author;
use crate::sync::apply::{self, ApplyOptions, ApplyProgress, CommitSink, JournalStore, Session};
use crate::sync::plan::{Plan, PlanError, PlanKey, PlanTreeError, PlanView, ViewContext};
use crate::sync::secrets::SecretSource;
use crate::sync::tree::GitTree;
use crate::workspace::Workspace;

use comment::Frame;
use record::{PullRecord, Stage};
use rules::{Allowances, Asked, PlanFacts, Refusal};

/// The commit status gitsync sets on every planned head.
pub const STATUS_CONTEXT: &str = "gitsync/plan";

/// How long a command waits for the workspace while another sync or apply holds it.
const APPLY_LOCK_WAIT: Duration = Duration::from_secs(60);

/// The message of the commit that renames created resources' files, Segment's own words.
pub const REWRITE_MESSAGE: &str = "Updating created resources with actual generated files";

/// What the GitSync says about pull requests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The synced branch: pull requests into it are planned.
    pub base_branch: String,
    /// The comment that applies (`segment apply`).
    pub apply_command: String,
    pub allowances: Allowances,
    pub merge_after_apply: bool,
    /// Who applies, for a second apply that is refused and for the journal (a pod name).
    pub holder: String,
    /// The author of the renaming commit.
    pub author: Author,
    /// Pace writes to Segment's limits over this window (`None` for the embedded workspace).
    pub pace: Option<Duration>,
    /// How long to wait for the forge to compute mergeability before looking again later.
    pub mergeability_wait: Duration,
}

/// The repository: the bare cache that fetches and pushes, and the remote (its branch is the
/// synced branch; pushes to a pull request's branch use the same URL and credentials).
#[derive(Clone)]
pub struct Repository {
    pub cache: gix::ThreadSafeRepository,
    pub cache_path: PathBuf,
    pub remote: Remote,
    /// Shared with the forward sync of the same branch: the files an apply wrote with
    /// `@@name@@` placeholders, which the sync keeps until the pull request is merged.
    pub placeholders: crate::sync::export::PlaceholderHints,
}

impl Repository {
    /// Fetches `refs` of the remote into the cache, off the async runtime (Git blocks); each
    /// one's commit, `None` for a ref the remote lacks.
    pub async fn fetch(&self, refs: Vec<String>) -> Result<Vec<Option<gix::ObjectId>>, PullError> {
        let remote = self.remote.clone();
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || {
            let repo = cache.to_thread_local();
            let names: Vec<&str> = refs.iter().map(String::as_str).collect();
            remote.fetch_refs(&repo, &names)
        })
        .await
        .map_err(|e| PullError::Interrupted(e.to_string()))?
        .map_err(PullError::from)
    }
}

/// An apply that was accepted, kept until it finishes so that a new leader resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stashed {
    pub number: u64,
    /// The head commit the plan was made for.
    pub head: String,
    /// The pull request's branch, where the renamed files are pushed.
    pub head_branch: String,
    pub from_fork: bool,
    /// Who commented the command, and the comment.
    pub commenter: String,
    pub comment_id: u64,
    pub allow_deletes: bool,
    /// The plan document, sealed with the workspace's key ([`Plan::to_json`]).
    pub plan: String,
}

/// Why the stash could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the apply stash {place}: {problem}")]
pub struct StashError {
    pub place: String,
    pub problem: String,
}

/// Where accepted applies are kept until they finish (the operator: a ConfigMap per pull
/// request; tests and the demo: memory).
pub trait Stash: Send + Sync {
    fn save(&self, stashed: &Stashed) -> impl Future<Output = Result<(), StashError>> + Send;
    fn load(&self, number: u64)
    -> impl Future<Output = Result<Option<Stashed>, StashError>> + Send;
    fn remove(&self, number: u64) -> impl Future<Output = Result<(), StashError>> + Send;
    /// Every pull request with a stashed apply.
    fn numbers(&self) -> impl Future<Output = Result<Vec<u64>, StashError>> + Send;
}

/// A stash in memory.
#[derive(Default, Clone)]
pub struct MemoryStash(Arc<Mutex<BTreeMap<u64, Stashed>>>);

impl MemoryStash {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Stashed>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Stash for MemoryStash {
    async fn save(&self, stashed: &Stashed) -> Result<(), StashError> {
        self.map().insert(stashed.number, stashed.clone());
        Ok(())
    }
    async fn load(&self, number: u64) -> Result<Option<Stashed>, StashError> {
        Ok(self.map().get(&number).cloned())
    }
    async fn remove(&self, number: u64) -> Result<(), StashError> {
        self.map().remove(&number);
        Ok(())
    }
    async fn numbers(&self) -> Result<Vec<u64>, StashError> {
        Ok(self.map().keys().copied().collect())
    }
}

/// Opens the store of the apply journal (one per GitSync: one apply at a time).
pub trait Journals: Send + Sync {
    type Store: JournalStore + 'static;
    fn open(&self) -> Self::Store;
}

/// What happened, for Events and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    Planned {
        number: u64,
        /// `planned`, `no_changes`, `conflicted`, `invalid` or `error`.
        result: &'static str,
        duration: Duration,
        message: String,
    },
    Refused {
        number: u64,
        login: String,
        reason: &'static str,
        message: String,
    },
    ApplyStarted {
        number: u64,
        login: String,
        resumed: bool,
    },
    Applied {
        number: u64,
        /// `succeeded` or `failed`.
        result: &'static str,
        message: String,
    },
}

/// Told what a pass does, as it does it.
pub trait Observer: Send + Sync {
    /// Something worth an Event and a metric. Must return at once.
    fn happened(&self, what: &Happened);
    /// A record changed in a way that must be visible before the pass goes on (an apply
    /// starts): the operator writes the status.
    fn save(&self, record: &PullRecord) -> impl Future<Output = ()> + Send;
}

/// Why a pull request could not be handled in this pass (the next one tries again).
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Stash(#[from] StashError),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error("the stashed plan of #{number} cannot be used: {problem}")]
    BadStash { number: u64, problem: String },
    #[error("the Git work stopped before it finished: {0}")]
    Interrupted(String),
    #[error("the forge has no {reference} for #{number}")]
    NoHead { number: u64, reference: String },
}

impl PullError {
    pub fn reason(&self) -> &'static str {
        match self {
            PullError::Forge(e) => e.reason(),
            PullError::Remote(e) => e.reason(),
            PullError::Stash(_) => "StashError",
            PullError::Apply(e) => e.reason(),
            PullError::BadStash { .. } => "BadStash",
            PullError::Interrupted(_) => "Interrupted",
            PullError::NoHead { .. } => "NoPullHead",
        }
    }
}

/// What a pass leaves.
#[derive(Debug, Default)]
pub struct PassOutcome {
    /// One record per open pull request (and per unfinished apply).
    pub records: Vec<PullRecord>,
    /// Pull requests that could not be handled, and why.
    pub errors: Vec<(u64, PullError)>,
    /// Something waits on the forge (mergeability being computed): look again soon, not at the
    /// next interval.
    pub look_again_soon: bool,
}

/// One pass over a repository's open pull requests.
pub struct Pass<'a, F, W, J, S, O> {
    pub forge: &'a F,
    pub workspace: &'a W,
    pub repository: &'a Repository,
    pub journals: &'a J,
    pub stash: &'a S,
    pub observer: &'a O,
    pub secrets: &'a dyn SecretSource,
    pub settings: &'a Settings,
    /// Held exclusively while an apply runs, so that one apply at a time reaches a workspace
    /// from this process (the journal's holder guards across processes).
    pub apply_lock: Option<Arc<tokio::sync::RwLock<()>>>,
}

impl<F, W, J, S, O> Pass<'_, F, W, J, S, O>
where
    F: Forge,
    W: Workspace + Sync,
    J: Journals,
    S: Stash,
    O: Observer,
{
    /// Looks at every open pull request into the synced branch once, and finishes any apply
    /// a previous leader left unfinished.
    pub async fn run(&self, previous: Vec<PullRecord>) -> PassOutcome {
        let mut outcome = PassOutcome::default();
        let mut previous: BTreeMap<u64, PullRecord> =
            previous.into_iter().map(|r| (r.number, r)).collect();
        let pulls = match self.forge.open_pulls(&self.settings.base_branch).await {
            Ok(p) => p,
            Err(e) => {
                outcome.records = previous.into_values().collect();
                outcome.errors.push((0, e.into()));
                return outcome;
            }
        };
        let me = self.forge.identity().await.ok().flatten();
        let mut numbers: BTreeSet<u64> = pulls.iter().map(|p| p.number).collect();
        match self.stash.numbers().await {
            Ok(stashed) => numbers.extend(stashed),
            Err(e) => outcome.errors.push((0, e.into())),
        }
        for number in numbers {
            let mut record = previous
                .remove(&number)
                .unwrap_or_else(|| PullRecord::new(number));
            let listed = pulls.iter().find(|p| p.number == number);
            match self.one(number, listed, &mut record, me.as_deref()).await {
                Ok(again) => outcome.look_again_soon |= again,
                Err(e) => {
                    tracing::warn!(pull = number, reason = e.reason(), error = %e, "pull request not handled");
                    record.message = Some(one_line(&e.to_string()));
                    outcome.errors.push((number, e));
                }
            }
            // A pull request that is no longer open leaves no record once its apply is done.
            if listed.is_some() || record.stage == Stage::Applying {
                outcome.records.push(record);
            }
        }
        outcome
    }

    /// One pull request; `Ok(true)` when it waits on the forge.
    async fn one(
        &self,
        number: u64,
        listed: Option<&PullRequest>,
        record: &mut PullRecord,
        me: Option<&str>,
    ) -> Result<bool, PullError> {
        if let Some(stashed) = self.stash.load(number).await? {
            // The command that started it is answered by the apply's results.
            if record.pending_command_id == Some(stashed.comment_id) {
                record.pending_command_id = None;
            }
            self.resume(record, stashed).await?;
            return Ok(false);
        }
        let Some(listed) = listed else {
            return Ok(false);
        };
        let me = me.map(str::to_owned).or_else(|| record.bot_login.clone());
        let head = self.fetch_head(listed).await?;
        let comments = self.forge.comments(number).await?;
        let newest = comments.iter().map(|c| c.id.0).max();
        let first_sight = record.head.is_empty();
        // Commands to look at: a pending one first, then comments newer than the last read.
        let mut commands: Vec<(&Comment, crate::forge::command::Command)> = Vec::new();
        let mut bad_flags: Vec<(&Comment, String)> = Vec::new();
        if !first_sight {
            let after = record.last_comment_id.unwrap_or(0);
            for c in &comments {
                let pending = record.pending_command_id == Some(c.id.0);
                if !(pending || c.id.0 > after) || !is_candidate(c, me.as_deref(), record) {
                    continue;
                }
                match parse_command(&c.body, &self.settings.apply_command) {
                    Ok(Some(command)) => commands.push((c, command)),
                    Ok(None) => {}
                    Err(e) => bad_flags.push((c, e.to_string())),
                }
            }
        } else {
            // Comments from before gitsync saw the pull request are history, not commands.
            self.adopt_comments(record, &comments, me.as_deref());
        }
        record.last_comment_id = newest.max(record.last_comment_id);
        record.pending_command_id = None;
        for (c, problem) in bad_flags {
            self.reply(
                number,
                c,
                &comment::refused(
                    &c.author.login,
                    &self.settings.apply_command,
                    &problem,
                    &format!(
                        "comment `{}` with only --allow-deletes or --allow-access-changes",
                        self.settings.apply_command
                    ),
                ),
            )
            .await?;
        }
        if record.head != head {
            for (c, _) in &commands {
                self.refuse(
                    number,
                    c,
                    "HeadMoved",
                    "the pull request changed since the plan shown",
                    &format!(
                        "read the new plan, then comment `{}` again",
                        self.settings.apply_command
                    ),
                )
                .await?;
            }
            self.plan_and_post(listed, &head, record, me.as_deref())
                .await?;
            return Ok(false);
        }
        let mut waiting = false;
        for (c, command) in commands {
            match self
                .command(listed, record, c, command, me.as_deref())
                .await
            {
                Ok(false) => {}
                Ok(true) => {
                    record.pending_command_id = Some(c.id.0);
                    waiting = true;
                    break;
                }
                Err(e) => {
                    // A forge or Git failure is no answer to the commenter: the command is
                    // looked at again at the next pass instead of being dropped.
                    record.pending_command_id = Some(c.id.0);
                    return Err(e);
                }
            }
        }
        Ok(waiting)
    }

    /// Fetches the pull request's head and the base branch; the head's commit id.
    async fn fetch_head(&self, pull: &PullRequest) -> Result<String, PullError> {
        let pull_ref = self.forge.pull_ref(pull.number);
        let base_ref = format!("refs/heads/{}", self.settings.base_branch);
        let fetched = self
            .repository
            .fetch(vec![base_ref, pull_ref.clone()])
            .await?;
        match fetched.get(1).copied().flatten() {
            Some(id) => Ok(id.to_string()),
            None => Err(PullError::NoHead {
                number: pull.number,
                reference: pull_ref,
            }),
        }
    }

    /// Plans `head`; `Err` is the comment to post instead of a plan.
    async fn make_plan(&self, head: &str) -> Result<Plan, PlanTreeError> {
        let commit = gix::ObjectId::from_hex(head.as_bytes()).map_err(|e| {
            PlanTreeError::Tree(crate::sync::tree::TreeReadError::Git {
                rev: head.to_owned(),
                path: self.repository.cache_path.display().to_string(),
                message: e.to_string(),
            })
        })?;
        let tree = GitTree {
            repository: self.repository.cache_path.clone(),
            commit,
        };
        let base = Remote::tracking_ref_of(&format!("refs/heads/{}", self.settings.base_branch));
        crate::sync::plan::plan_tree(
            self.workspace,
            &tree,
            Some(&base),
            self.secrets,
            &BTreeSet::new(),
        )
        .await
    }

    fn frame<'f>(&'f self, head: &'f str) -> Frame<'f> {
        Frame {
            head,
            command: &self.settings.apply_command,
            noun: self.forge.kind().pull_noun(),
        }
    }

    /// Plans the head, posts the plan comment and the status, and records them.
    async fn plan_and_post(
        &self,
        pull: &PullRequest,
        head: &str,
        record: &mut PullRecord,
        me: Option<&str>,
    ) -> Result<(), PullError> {
        let started = Instant::now();
        self.status(head, StatusState::Pending, "planning").await;
        let planned = self.make_plan(head).await;
        let frame = self.frame(head);
        let limit = self.forge.kind().comment_limit();
        let (parts, stage, result, digest, changes) = match &planned {
            Ok(plan) => {
                let context = ViewContext::default()
                    .with_tree_paths(plan.tree_files.keys().map(String::as_str));
                let (add, change, destroy) = plan.counts();
                let (stage, result) = if !plan.conflicts.is_empty() {
                    (Stage::Conflicted, "conflicted")
                } else if plan.is_empty() {
                    (Stage::NoChanges, "no_changes")
                } else {
                    (Stage::Planned, "planned")
                };
                (
                    comment::plan(&frame, plan, &context, limit),
                    stage,
                    result,
                    Some(plan.fingerprint()),
                    Some(format!("+{add} ~{change} -{destroy}")),
                )
            }
            Err(PlanTreeError::Plan(PlanError::Invalid(diagnostics))) => (
                vec![comment::invalid(&frame, diagnostics)],
                Stage::Invalid,
                "invalid",
                None,
                None,
            ),
            Err(e) => (
                vec![comment::failed(&frame, &e.to_string())],
                Stage::Invalid,
                "error",
                None,
                None,
            ),
        };
        self.post_parts(pull.number, &parts, record, me).await?;
        let summary = match &planned {
            Ok(plan) => crate::sync::plan::summary_line(plan),
            Err(e) => one_line(&e.to_string()),
        };
        let state = match stage {
            Stage::Planned | Stage::NoChanges => StatusState::Success,
            _ => StatusState::Failure,
        };
        self.status(head, state, &summary).await;
        record.head = head.to_owned();
        record.stage = stage;
        record.plan_digest = digest;
        record.changes = changes;
        record.message = Some(one_line(&summary));
        record.updated = Some(now());
        self.observer.happened(&Happened::Planned {
            number: pull.number,
            result,
            duration: started.elapsed(),
            message: summary,
        });
        Ok(())
    }

    /// Edits the plan comment's parts in place (creating what is missing), and empties parts an
    /// earlier, longer plan left.
    async fn post_parts(
        &self,
        number: u64,
        parts: &[String],
        record: &mut PullRecord,
        me: Option<&str>,
    ) -> Result<(), PullError> {
        let mut ids = Vec::with_capacity(parts.len());
        let known = std::mem::take(&mut record.comment_ids);
        for (i, part) in parts.iter().enumerate() {
            let edited = match (known.get(i), me.or(record.bot_login.as_deref())) {
                (Some(id), Some(_)) => {
                    match self.forge.edit_comment(number, CommentId(*id), part).await {
                        Ok(c) => Some(c),
                        // Deleted by someone: post it again.
                        Err(ForgeError::NotFound { .. }) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => None,
            };
            let posted = match edited {
                Some(c) => c,
                None => self.forge.create_comment(number, part).await?,
            };
            record.bot_login = Some(posted.author.login.clone());
            ids.push(posted.id.0);
        }
        for id in known.iter().skip(parts.len()) {
            let _ = self
                .forge
                .edit_comment(
                    number,
                    CommentId(*id),
                    &format!(
                        "{}\n_(part of an earlier plan; see above)_",
                        comment::PLAN_MARK
                    ),
                )
                .await;
            ids.push(*id);
        }
        // gitsync's own notes are never commands: read past them.
        record.last_comment_id = ids.iter().copied().max().max(record.last_comment_id);
        record.comment_ids = ids;
        Ok(())
    }

    /// On first sight: an earlier plan comment of gitsync's own login (status lost) is edited
    /// again rather than posted twice.
    fn adopt_comments(&self, record: &mut PullRecord, comments: &[Comment], me: Option<&str>) {
        let Some(me) = me.or(record.bot_login.as_deref()) else {
            return;
        };
        if record.comment_ids.is_empty() {
            record.comment_ids = comments
                .iter()
                .filter(|c| c.author.login.eq_ignore_ascii_case(me))
                .filter(|c| c.body.starts_with(comment::PLAN_MARK))
                .map(|c| c.id.0)
                .collect();
        }
    }

    async fn status(&self, head: &str, state: StatusState, description: &str) {
        let status = CommitStatus {
            context: STATUS_CONTEXT,
            state,
            description,
            target_url: None,
        };
        if let Err(e) = self.forge.set_status(head, &status).await {
            tracing::warn!(reason = e.reason(), error = %e, "could not set the commit status");
        }
    }

    async fn reply(&self, number: u64, to: &Comment, text: &str) -> Result<(), PullError> {
        let _ = self.forge.react(number, to.id, Reaction::Confused).await;
        self.forge.create_comment(number, text).await?;
        Ok(())
    }

    async fn refuse(
        &self,
        number: u64,
        to: &Comment,
        reason: &'static str,
        why: &str,
        remedy: &str,
    ) -> Result<(), PullError> {
        let text = comment::refused(&to.author.login, &self.settings.apply_command, why, remedy);
        self.observer.happened(&Happened::Refused {
            number,
            login: to.author.login.clone(),
            reason,
            message: one_line(why),
        });
        self.reply(number, to, &text).await
    }

    /// Handles one command comment; `Ok(true)` when it must wait for the forge to compute
    /// mergeability.
    async fn command(
        &self,
        listed: &PullRequest,
        record: &mut PullRecord,
        c: &Comment,
        command: crate::forge::command::Command,
        me: Option<&str>,
    ) -> Result<bool, PullError> {
        let number = listed.number;
        let _ = self.forge.react(number, c.id, Reaction::Eyes).await;
        match record.stage {
            Stage::Applied | Stage::NoChanges => {
                let why = if record.stage == Stage::Applied {
                    "this plan was already applied"
                } else {
                    "the plan has no changes"
                };
                self.refuse(
                    number,
                    c,
                    "NothingToApply",
                    why,
                    "push a change to make a new plan",
                )
                .await?;
                return Ok(false);
            }
            _ => {}
        }
        let pull = self.settle_mergeability(number).await?;
        let permission = self.forge.permission(&c.author).await?;
        // The plan is made again: it must be the one the comment shows.
        let plan = match self.make_plan(&record.head).await {
            Ok(plan) => plan,
            Err(e) => {
                self.refuse(
                    number,
                    c,
                    "PlanFailed",
                    &e.to_string(),
                    "fix what the plan comment says and push",
                )
                .await?;
                return Ok(false);
            }
        };
        if record.plan_digest.as_deref() != Some(plan.fingerprint().as_str()) {
            let why = "the workspace changed since the plan shown was made";
            self.refuse_stale(&pull, record, c, why, me).await?;
            return Ok(false);
        }
        let facts = facts(&plan, &record.head, &self.settings.base_branch);
        let asked = Asked {
            allow_deletes: command.allow_deletes,
            allow_access_changes: command.allow_access_changes,
        };
        match rules::may_apply(
            &pull,
            &c.author,
            permission,
            &self.settings.allowances,
            &facts,
            asked,
            &self.settings.apply_command,
        ) {
            Ok(()) => {}
            Err(Refusal::MergeabilityPending) => return Ok(true),
            Err(Refusal::Refused {
                reason,
                why,
                remedy,
            }) => {
                self.refuse(number, c, reason, &why, &remedy).await?;
                return Ok(false);
            }
        }
        // A sync reading the workspace holds it for seconds: wait for it; an apply holds it for
        // as long as Segment's write limits make it take: refuse after a while.
        let (guard, waited) = match &self.apply_lock {
            Some(lock) => match lock.clone().try_write_owned() {
                Ok(g) => (Some(g), false),
                Err(_) => {
                    match tokio::time::timeout(APPLY_LOCK_WAIT, lock.clone().write_owned()).await {
                        Ok(g) => (Some(g), true),
                        Err(_) => {
                            self.refuse(
                                number,
                                c,
                                "ApplyRunning",
                                "another apply to this workspace is running",
                                "comment again when it is done",
                            )
                            .await?;
                            return Ok(false);
                        }
                    }
                }
            },
            None => (None, false),
        };
        // What held the workspace may have changed it: the plan must still be the one shown.
        let plan = if waited {
            match self.make_plan(&record.head).await {
                Ok(again) if again.fingerprint() == plan.fingerprint() => again,
                _ => {
                    drop(guard);
                    let why = "the workspace changed while the command waited for another apply";
                    self.refuse_stale(&pull, record, c, why, me).await?;
                    return Ok(false);
                }
            }
        } else {
            plan
        };
        let key = PlanKey::new(self.workspace.point_key());
        let stashed = Stashed {
            number,
            head: record.head.clone(),
            head_branch: pull.head_branch.clone(),
            from_fork: pull.from_fork,
            commenter: c.author.login.clone(),
            comment_id: c.id.0,
            allow_deletes: self.settings.allowances.allow_deletes || command.allow_deletes,
            plan: plan.to_json(&key),
        };
        self.stash.save(&stashed).await?;
        self.observer.happened(&Happened::ApplyStarted {
            number,
            login: c.author.login.clone(),
            resumed: false,
        });
        self.apply(record, &stashed, plan).await?;
        drop(guard);
        Ok(false)
    }

    /// Refuses a command whose plan is no longer the one shown, and shows the new one.
    async fn refuse_stale(
        &self,
        pull: &PullRequest,
        record: &mut PullRecord,
        c: &Comment,
        why: &str,
        me: Option<&str>,
    ) -> Result<(), PullError> {
        let remedy = format!(
            "read the new plan, then comment `{}` again",
            self.settings.apply_command
        );
        self.refuse(pull.number, c, "StalePlan", why, &remedy)
            .await?;
        let head = record.head.clone();
        self.plan_and_post(pull, &head, record, me).await
    }

    /// Reads the pull request until the forge has computed whether it can be merged, for at
    /// most the configured wait.
    async fn settle_mergeability(&self, number: u64) -> Result<PullRequest, PullError> {
        let deadline = Instant::now() + self.settings.mergeability_wait;
        let mut pause = Duration::from_millis(250);
        loop {
            let pull = self.forge.pull(number).await?;
            if pull.mergeability != Mergeability::Computing || Instant::now() >= deadline {
                return Ok(pull);
            }
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Finishes an apply a previous pass (or leader) accepted.
    async fn resume(&self, record: &mut PullRecord, stashed: Stashed) -> Result<(), PullError> {
        let key = PlanKey::new(self.workspace.point_key());
        let plan = match Plan::from_json(&stashed.plan, &key) {
            Ok(plan) => plan,
            Err(e) => {
                // The seal does not verify (the workspace token changed, or someone edited the
                // stash): nothing of it can be trusted. The apply ends here, its journal too, so
                // that the next plan can be applied; what was applied stays, and the next plan
                // reads it from the workspace.
                let why = format!(
                    "the interrupted apply cannot be resumed: its stashed plan does not verify ({e})"
                );
                self.abandon_journal().await;
                let first = record.comment_ids.first().copied();
                self.fail_apply(record, &stashed, first, &why).await?;
                return Ok(());
            }
        };
        // A new leader's cache may not have the commit yet.
        self.repository
            .fetch(vec![self.forge.pull_ref(stashed.number)])
            .await?;
        self.observer.happened(&Happened::ApplyStarted {
            number: stashed.number,
            login: stashed.commenter.clone(),
            resumed: true,
        });
        record.head = stashed.head.clone();
        self.apply(record, &stashed, plan).await
    }

    /// Applies a stashed plan, pushes the renamed files, and reports on the pull request.
    async fn apply(
        &self,
        record: &mut PullRecord,
        stashed: &Stashed,
        plan: Plan,
    ) -> Result<(), PullError> {
        let number = stashed.number;
        record.stage = Stage::Applying;
        record.message = Some(format!("applying for @{}", stashed.commenter));
        record.updated = Some(now());
        self.observer.save(record).await;
        let head =
            gix::ObjectId::from_hex(stashed.head.as_bytes()).map_err(|e| PullError::BadStash {
                number,
                problem: e.to_string(),
            })?;
        let first = record.comment_ids.first().copied();
        let opened = async {
            let session = Session::open(plan, self.journals.open(), &self.settings.holder).await?;
            let sink = CommitSink::open(
                &self.repository.cache_path,
                head,
                &format!("gitsync/pulls/{number}"),
                self.settings.author.clone(),
                REWRITE_MESSAGE,
            )?;
            Ok::<_, apply::ApplyError>((session, sink))
        }
        .await;
        let (mut session, mut sink) = match opened {
            Ok(opened) => opened,
            Err(e) => return self.apply_failed(record, stashed, first, e).await,
        };
        let mut options = ApplyOptions::new(self.secrets);
        options.allow_deletes = stashed.allow_deletes;
        options.pace = self.settings.pace;
        let counter = Arc::new(Mutex::new((0usize, 0usize)));
        let mut progress = Counter(counter.clone());
        let frame = self.frame(&stashed.head);
        let report = {
            let run = session.run(self.workspace, &mut sink, &options, &mut progress);
            tokio::pin!(run);
            let mut tick = tokio::time::interval(Duration::from_secs(3));
            let mut shown = (usize::MAX, 0);
            loop {
                tokio::select! {
                    report = &mut run => break report,
                    _ = tick.tick() => {
                        let now = *counter.lock().unwrap_or_else(|p| p.into_inner());
                        if let (Some(id), true) = (first, now != shown) {
                            shown = now;
                            let text = comment::applying(&frame, &stashed.commenter, now.0, now.1);
                            let _ = self.forge.edit_comment(number, CommentId(id), &text).await;
                        }
                    }
                }
            }
        };
        let report = match report {
            Ok(r) => r,
            Err(e) => return self.apply_failed(record, stashed, first, e).await,
        };
        // The forward sync may write these files to the synced branch before the pull request
        // is merged: with the placeholders the pull request has, so that the merge is clean.
        for rewrite in &report.rewritten {
            self.repository
                .placeholders
                .remember(&rewrite.path, &rewrite.content);
        }
        let pushed = if sink.commit() != head && !stashed.from_fork {
            self.push_rewrite(&stashed.head_branch, sink.commit()).await
        } else {
            None
        };
        let succeeded = report.succeeded();
        if let Some(id) = first {
            let text = comment::applied(&frame, &stashed.commenter, &report, pushed.as_deref());
            self.forge
                .edit_comment(number, CommentId(id), &text)
                .await?;
        }
        let comment_id = CommentId(stashed.comment_id);
        let _ = self
            .forge
            .react(
                number,
                comment_id,
                if succeeded {
                    Reaction::ThumbsUp
                } else {
                    Reaction::Confused
                },
            )
            .await;
        let new_head = pushed.clone().unwrap_or_else(|| stashed.head.clone());
        let summary = match &report.failed {
            None => format!("applied for @{}", stashed.commenter),
            Some((step, why)) => format!("apply failed at {}: {}", step.address, one_line(why)),
        };
        self.status(
            &new_head,
            if succeeded {
                StatusState::Success
            } else {
                StatusState::Failure
            },
            &summary,
        )
        .await;
        self.stash.remove(number).await?;
        record.head = new_head.clone();
        record.stage = if succeeded {
            Stage::Applied
        } else {
            Stage::Failed
        };
        record.message = Some(summary.clone());
        record.updated = Some(now());
        self.observer.happened(&Happened::Applied {
            number,
            result: if succeeded { "succeeded" } else { "failed" },
            message: summary,
        });
        if succeeded && self.settings.merge_after_apply {
            self.merge(number, &new_head, record).await;
        }
        Ok(())
    }

    /// An apply that stopped with an error instead of a report. A journal another holder took
    /// over (a new leader) is that holder's to finish: the stash stays, and this process stops.
    /// Any other error ends the apply: the stash goes, so that the next plan can be applied.
    async fn apply_failed(
        &self,
        record: &mut PullRecord,
        stashed: &Stashed,
        first: Option<u64>,
        error: apply::ApplyError,
    ) -> Result<(), PullError> {
        if matches!(
            error,
            apply::ApplyError::Journal(
                apply::JournalError::TakenOver { .. } | apply::JournalError::Busy { .. }
            )
        ) {
            return Err(error.into());
        }
        let why = match &error {
            apply::ApplyError::Journal(apply::JournalError::OtherPlan { .. }) => format!(
                "{error}; another pull request's interrupted apply holds the workspace's journal and is finished first"
            ),
            _ => error.to_string(),
        };
        self.fail_apply(record, stashed, first, &why).await
    }

    /// Ends an apply that did not complete: the stash goes, the status fails, the comment
    /// says why.
    async fn fail_apply(
        &self,
        record: &mut PullRecord,
        stashed: &Stashed,
        first: Option<u64>,
        why: &str,
    ) -> Result<(), PullError> {
        let number = stashed.number;
        self.stash.remove(number).await?;
        record.stage = Stage::Failed;
        record.message = Some(one_line(why));
        record.updated = Some(now());
        self.status(&stashed.head, StatusState::Failure, &one_line(why))
            .await;
        if let Some(id) = first {
            let text = comment::apply_stopped(&self.frame(&stashed.head), why);
            let _ = self.forge.edit_comment(number, CommentId(id), &text).await;
        }
        self.observer.happened(&Happened::Applied {
            number,
            result: "failed",
            message: one_line(why),
        });
        Ok(())
    }

    /// Removes the journal of an apply that cannot be resumed.
    async fn abandon_journal(&self) {
        let mut store = self.journals.open();
        let removed = async {
            store.acquire(&self.settings.holder).await?;
            store.remove().await
        }
        .await;
        if let Err(e) = removed {
            tracing::warn!(reason = e.reason(), error = %e, "cannot remove the journal of an apply that cannot be resumed");
        }
    }

    /// Pushes the renaming commit to the pull request's branch; its id when it was pushed.
    async fn push_rewrite(&self, branch: &str, commit: gix::ObjectId) -> Option<String> {
        // The branch name comes from the forge: never let it be anything but a branch.
        if let Err(e) = crate::git::branch::validate(branch) {
            tracing::warn!(error = %e, "the pull request's branch is no branch name gitsync pushes to");
            return None;
        }
        let mut remote = self.repository.remote.clone();
        remote.branch = branch.to_owned();
        let cache = self.repository.cache.clone();
        let pushed = tokio::task::spawn_blocking(move || {
            let repo = cache.to_thread_local();
            remote.push(&repo, commit)
        })
        .await;
        match pushed {
            Ok(Ok(PushOutcome::Pushed)) => Some(commit.to_string()),
            Ok(Ok(PushOutcome::RemoteMoved)) => {
                tracing::warn!(
                    branch,
                    "the pull request's branch moved: the renamed files were not pushed"
                );
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(branch, reason = e.reason(), error = %e, "the renamed files were not pushed");
                None
            }
            Err(e) => {
                tracing::warn!(branch, error = %e, "the push stopped");
                None
            }
        }
    }

    /// Merges after an apply, waiting a little for the forge to see the pushed commit.
    async fn merge(&self, number: u64, head: &str, record: &mut PullRecord) {
        for attempt in 0..5u32 {
            match self.forge.merge(number, head).await {
                Ok(()) => {
                    record.message = Some(format!(
                        "{} and merged",
                        record.message.clone().unwrap_or_default()
                    ));
                    return;
                }
                Err(e) if e.status() == Some(405) || e.retryable() => {
                    tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
                }
                Err(e) => {
                    record.message = Some(one_line(&format!("applied; not merged: {e}")));
                    return;
                }
            }
        }
        record.message = Some("applied; not merged: the forge did not find it mergeable".into());
    }
}

/// Gives the forward sync back, after a restart, the placeholders of pull requests applied but
/// not merged ([`Repository::placeholders`] is kept in memory): for each record in state applied,
/// the files its head changed since it left the synced branch that hold `@@name@@`. Best effort:
/// a pull request that cannot be read is skipped (its merge may then conflict on a placeholder).
/// How many files it remembered.
pub async fn recall_placeholders<F: Forge>(
    forge: &F,
    repository: &Repository,
    base_branch: &str,
    records: &[PullRecord],
) -> usize {
    let mut remembered = 0;
    for record in records.iter().filter(|r| r.stage == Stage::Applied) {
        let base_ref = format!("refs/heads/{base_branch}");
        let fetched = repository
            .fetch(vec![base_ref.clone(), forge.pull_ref(record.number)])
            .await;
        let head = match fetched.map(|f| f.get(1).copied().flatten()) {
            Ok(Some(head)) => head,
            Ok(None) => {
                tracing::warn!(
                    pull = record.number,
                    "an applied pull request has no head left"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(pull = record.number, reason = e.reason(), error = %e, "cannot recall the placeholders of an applied pull request");
                continue;
            }
        };
        let path = repository.cache_path.clone();
        let found = tokio::task::spawn_blocking(move || {
            let base = Remote::tracking_ref_of(&base_ref);
            let (_, met) =
                crate::sync::tree::merge_base(&path, &base, head).map_err(|e| e.to_string())?;
            let before: BTreeMap<String, Vec<u8>> = match met {
                Some(met) => crate::sync::tree::read_rev_files(&path, &met.to_string())
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .collect(),
                None => BTreeMap::new(),
            };
            let after = crate::sync::tree::read_rev_files(&path, &head.to_string())
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                after
                    .into_iter()
                    .filter(|(p, bytes)| before.get(p) != Some(bytes))
                    .filter_map(|(p, bytes)| String::from_utf8(bytes).ok().map(|t| (p, t)))
                    .filter(|(_, text)| text.contains("@@"))
                    .collect::<Vec<_>>(),
            )
        })
        .await;
        match found {
            Ok(Ok(files)) => {
                for (path, text) in files {
                    repository.placeholders.remember(&path, &text);
                    remembered += 1;
                }
            }
            Ok(Err(problem)) => {
                tracing::warn!(
                    pull = record.number,
                    problem,
                    "cannot recall the placeholders of an applied pull request"
                );
            }
            Err(e) => {
                tracing::warn!(pull = record.number, error = %e, "cannot recall the placeholders of an applied pull request");
            }
        }
    }
    remembered
}

/// Counts steps for the progress line.
struct Counter(Arc<Mutex<(usize, usize)>>);

impl ApplyProgress for Counter {
    fn step(&mut self, n: usize, total: usize, _step: &apply::Step) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = (n.saturating_sub(1), total);
    }
}

/// Whether a comment may be a command: not gitsync's own, not edited, not the forge's.
fn is_candidate(c: &Comment, me: Option<&str>, record: &PullRecord) -> bool {
    let mine = me.is_some_and(|me| c.author.login.eq_ignore_ascii_case(me))
        || record
            .bot_login
            .as_deref()
            .is_some_and(|me| c.author.login.eq_ignore_ascii_case(me))
        || record.comment_ids.contains(&c.id.0);
    !mine && !c.edited && !c.system
}

/// What the rules need from a plan.
fn facts(plan: &Plan, head: &str, base_branch: &str) -> PlanFacts {
    let view = PlanView::new(plan, &ViewContext::default());
    PlanFacts {
        deletes: plan.deletes().map(|c| c.address.clone()).collect(),
        access_changes: view.access.iter().map(|a| a.text.clone()).collect(),
        blocked: (!plan.conflicts.is_empty()).then(|| {
            format!(
                "the plan has {} conflict(s) with the workspace",
                plan.conflicts.len()
            )
        }),
        head: head.to_owned(),
        base_branch: base_branch.to_owned(),
    }
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}
