//! The plan: what writing a tree of Git Sync files into the workspace would change, resource by
//! resource, decided by comparing three states of each: the base file (what the branch held
//! before the change under review), the new file, and the live workspace.
//!
//! - **create**: a new file (any name) whose resource has no id the workspace knows;
//! - **update**: attributes that differ, path by path (nested JSON too);
//! - **replace**: a difference in an attribute that forces replacement (delete, then create);
//! - **delete**: a file removed since the base;
//! - **no change**: a rename, a reformat, the 2024 form for the 2025 form, computed attributes;
//! - **conflict**: the workspace changed an attribute since the base and the change edits that
//!   same attribute to something else. Never overwritten: the plan refuses, showing both values.
//!   A workspace change to another attribute is kept and noted (a three-way merge).
//!
//! Identity ([`keys`]): a file is the resource its import block's `id` names; a `to` that names
//! another address (a copied file) is ignored, with a note. A file without an import block that
//! is named or labelled after a resource the workspace holds is that resource, with a note.
//!
//! Secrets: a `@@name@@` placeholder is compared with the workspace by its secret; where the
//! workspace's mask cannot tell (the same last four characters, or two secrets under 8), it is
//! no change, with a note, unless the caller asks to send it. A masked value in a file means
//! "what the workspace holds"; one that is not the workspace's gets a note. No secret value ever
//! enters a [`Plan`]: it holds placeholders and masks only (a secret written in clear is
//! refused), and values under secret keys are shown as `(sensitive)` ([`sensitive`] holds the
//! one rule). Placeholders are resolved again when the plan is applied.
//!
//! Every refusal and note is a [`Diagnostic`] with its place; none names a command-line flag.
//!
//! The plan is made in three steps: select the files to look at, validate every one of them
//! (all problems at once, before any read), then decide resource by resource ([`merge`] does the
//! three-way merge of one). The plan reads from the workspace only the resources the change touches (one read each), so
//! its cost follows the size of the change, not of the workspace. This module decides; it never
//! writes to the workspace ([`super::apply`] does) and never touches files or Git: it is given
//! the files' bytes.

mod document;
mod keys;
mod merge;
mod sensitive;
mod show;
mod source;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::diff::{self, Difference, Side};
use crate::model::{Resource, ResourceType};
use crate::sync::diagnostic::{Diagnostic, Remedy};
use crate::sync::secrets::{self, SecretSource};
use crate::workspace::{Workspace, WorkspaceError};
use keys::{Key, Retargeted, identify, key_of};

pub use keys::ignoring_import_targets;
use merge::FileState;

pub use document::{PlanFileError, PlanKey};
pub use merge::comparable;
pub use show::{
    GITHUB_COMMENT_LIMIT, MANY_DELETES, PlanView, RoleNames, ViewContext, human, markdown,
    markdown_parts, markdown_problems, summary_line, text,
};
pub use source::{PlanTreeError, plan_tree};

/// What a plan file says it is, so that no other JSON is taken for one.
pub const PLAN_FORMAT: &str = "gitsync-plan";
/// The version of the plan document; bumped on any change of its meaning.
pub const PLAN_VERSION: u32 = 1;

/// The files of a tree: path (relative to the tree root, `/`-separated) and bytes.
pub type Files = [(String, Vec<u8>)];

/// What a plan is made from.
pub struct PlanInput<'a> {
    /// The tree before the change, when known (`--base`): only files that differ are planned,
    /// and the base is the third state of the merge.
    pub base: Option<&'a Files>,
    /// How the base was named (a revision), for the record.
    pub base_name: Option<String>,
    /// The tree to make the workspace match.
    pub head: &'a Files,
    pub secrets: &'a dyn SecretSource,
    /// Placeholders to send even where the plan cannot tell their secret from the one the
    /// workspace holds (the workspace shows only a mask: its last four characters, or none for
    /// a secret under 8 characters). Each such placeholder otherwise gets a note.
    pub send_secrets: BTreeSet<String>,
}

/// What a plan does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

/// One value of a difference as a plan shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeChange {
    /// `settings.apiKey`, `labels`, `rules[2]`.
    pub path: String,
    /// The value before (absent: not set). Never a secret: `null` when `sensitive`.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// A secret, a placeholder or a masked value: the values are not shown.
    pub sensitive: bool,
    pub forces_replacement: bool,
}

/// One change the plan makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    /// The Terraform type, `segment_source`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `segment_source.id-abc`, or the name a person gave a new resource.
    pub address: String,
    /// The file the change comes from (the removed file for a delete).
    pub file: String,
    /// The resource's import id in the workspace; `None` for a create.
    pub import_id: Option<String>,
    pub attributes: Vec<AttributeChange>,
    /// A fingerprint of the workspace's resource as the plan read it; apply refuses to touch a
    /// resource whose fingerprint moved since.
    pub live_fingerprint: Option<String>,
    /// The resource to write, as a Git Sync file (placeholders and masks, never secrets);
    /// `None` for a delete.
    pub desired: Option<String>,
    /// For a delete or a replace: what the workspace holds that depends on the resource (a
    /// destination's filters and subscriptions), as addresses.
    #[serde(default)]
    pub dependents: Vec<String>,
}

impl Change {
    pub fn ty(&self) -> Option<ResourceType> {
        ResourceType::from_terraform_type(&self.resource_type)
    }
}

/// A workspace edit and a file edit of the same value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub address: String,
    pub file: String,
    pub path: String,
    pub base: Option<serde_json::Value>,
    /// What the workspace holds now.
    pub workspace: Option<serde_json::Value>,
    /// What the file asks for.
    pub file_value: Option<serde_json::Value>,
    pub sensitive: bool,
}

/// A workspace change since the base that the plan keeps (the file did not touch it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub address: String,
    pub file: String,
    pub path: String,
}

/// A plan: what to change, and what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    /// The workspace the plan was made against (its URL without credentials), when the caller
    /// records it; apply refuses another.
    #[serde(default)]
    pub workspace: Option<String>,
    /// The id of the workspace the plan was made against (`GET /` names it): behind one URL,
    /// the token picks the workspace, so apply compares ids, not URLs.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The directory the plan was made from, when the caller records it.
    #[serde(default)]
    pub dir: Option<String>,
    /// A fingerprint of the head tree's resource files (see [`TreeFingerprint`]).
    pub tree: String,
    /// Each resource file of the head tree and the SHA-256 of its bytes (hex): what lets a
    /// refusal of a stale plan name the files that moved.
    #[serde(default)]
    pub tree_files: BTreeMap<String, String>,
    pub base: Option<String>,
    /// In the order apply runs them ([`order_key`]).
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
    pub kept: Vec<Kept>,
    /// Resources planned that need no change.
    pub unchanged: usize,
    /// Resources read from the workspace to make the plan.
    pub workspace_reads: usize,
    /// What a reviewer should know that is not a change: warnings and notes, each with its
    /// place (an import block whose `to` names another resource, a file that is not read).
    #[serde(default)]
    pub notes: Vec<crate::sync::diagnostic::Diagnostic>,
    /// The seal of a plan file ([`Plan::to_json`]); `None` in a plan not read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.conflicts.is_empty()
    }

    /// Adds, changes and destroys, counted as Terraform does (a replace is one add and one
    /// destroy).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for c in &self.changes {
            match c.action {
                Action::Create => counts.0 += 1,
                Action::Update => counts.1 += 1,
                Action::Replace => {
                    counts.0 += 1;
                    counts.2 += 1;
                }
                Action::Delete => counts.2 += 1,
            }
        }
        counts
    }
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Files that cannot be planned, every one of them, each with its place.
    #[error("{}", lines(.0))]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl PlanError {
    /// A short CamelCase word for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanError::Invalid(d) if d.iter().any(|d| d.remedy == Some(Remedy::GiveSecret)) => {
                "SecretsNeeded"
            }
            PlanError::Invalid(_) => "InvalidFiles",
            PlanError::Workspace(_) => "WorkspaceUnavailable",
        }
    }

    /// Whether giving secrets (values for `@@name@@` placeholders) is part of the remedy: the
    /// caller says how, in its own terms.
    pub fn asks_for_secrets(&self) -> bool {
        self.reason() == "SecretsNeeded"
    }
}

/// The words a note ends with when a placeholder the plan cannot compare may be sent anyway
/// ([`PlanInput::send_secrets`], [`Remedy::SendSecretAnyway`]); a caller adds how.
const SEND_ANYWAY: &str = "among the secrets to send";

/// The words every refusal that a secret would remedy ends with; a caller adds how secrets are
/// given (see [`PlanError::asks_for_secrets`]).
const ASKS_FOR_SECRETS: &str = "give its value as a secret";

/// A fingerprint of a tree's files that follows edits one file at a time: SHA-256 over every
/// path and the SHA-256 of its bytes, in path order. Rewriting one file of a 10,000-file tree
/// re-hashes that file and the list of hashes, not the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeFingerprint {
    files: BTreeMap<String, [u8; 32]>,
}

impl TreeFingerprint {
    pub fn of(files: &Files) -> TreeFingerprint {
        TreeFingerprint {
            files: files
                .iter()
                .map(|(path, bytes)| (path.clone(), Sha256::digest(bytes).into()))
                .collect(),
        }
    }

    pub fn set(&mut self, path: &str, bytes: &[u8]) {
        self.files
            .insert(path.to_owned(), Sha256::digest(bytes).into());
    }

    pub fn remove(&mut self, path: &str) {
        self.files.remove(path);
    }

    /// Each file's SHA-256, hex, by path.
    pub fn digests(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|(path, digest)| (path.clone(), hex::encode(digest)))
            .collect()
    }

    pub fn value(&self) -> String {
        let mut hash = Sha256::new();
        for (path, file) in &self.files {
            hash.update((path.len() as u64).to_be_bytes());
            hash.update(path.as_bytes());
            hash.update(file);
        }
        hex::encode(hash.finalize())
    }
}

/// A fingerprint of a resource as the workspace holds it: of its canonical file.
pub fn resource_fingerprint(resource: &Resource) -> String {
    let text = match crate::hcl::render(resource) {
        Ok(t) => t,
        Err(_) => format!("{:?}", resource.attributes),
    };
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `segment_source.id-abc`.
pub fn address(resource: &Resource) -> String {
    let name = resource
        .terraform_name()
        .unwrap_or_else(|_| "(unnamed)".to_owned());
    format!("{}.{name}", resource.ty.terraform_type())
}

/// The order creates are applied in (deletes go in reverse): what others point at first.
pub fn create_rank(ty: ResourceType) -> usize {
    use ResourceType as T;
    const ORDER: [ResourceType; 16] = [
        T::Label,
        T::Source,
        T::Warehouse,
        T::Destination,
        T::DestinationFilter,
        T::DestinationSubscription,
        T::TrackingPlan,
        T::SourceTrackingPlanConnection,
        T::SourceWarehouseConnection,
        T::Function,
        T::InsertFunctionInstance,
        T::Transformation,
        T::ReverseEtlModel,
        T::ProfilesWarehouse,
        T::User,
        T::UserGroup,
    ];
    ORDER.iter().position(|t| *t == ty).unwrap_or(ORDER.len())
}

/// Reads live resources, each at most once (a resource asked for twice, by its file and by a
/// file that names it otherwise, is read once), counting the reads.
struct Live<'w, W> {
    workspace: &'w W,
    read: BTreeMap<(ResourceType, String), Option<Resource>>,
}

impl<W: Workspace + Sync> Live<'_, W> {
    async fn get(
        &mut self,
        ty: ResourceType,
        import_id: &str,
    ) -> Result<Option<Resource>, WorkspaceError> {
        let key = (ty, import_id.to_owned());
        if let Some(known) = self.read.get(&key) {
            return Ok(known.clone());
        }
        let found = self.workspace.get(ty, import_id).await?;
        self.read.insert(key, found.clone());
        Ok(found)
    }

    fn reads(&self) -> usize {
        self.read.len()
    }
}

/// A file of a tree: its path and bytes.
type File = (String, Vec<u8>);

/// The files' bytes by path.
fn by_path<'f>(files: &[&'f File]) -> BTreeMap<&'f str, &'f [u8]> {
    files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect()
}

/// The files a plan looks at: with a base, those whose bytes differ (in the head, and in the
/// base for the removed or changed ones); without, every head file.
struct Selected<'f> {
    head: Vec<&'f File>,
    base: Vec<&'f File>,
}

fn select<'f>(input: &PlanInput<'f>) -> Selected<'f> {
    let Some(base_files) = input.base else {
        return Selected {
            head: input.head.iter().collect(),
            base: Vec::new(),
        };
    };
    let head: BTreeMap<&str, &Vec<u8>> = input.head.iter().map(|(p, b)| (p.as_str(), b)).collect();
    let base: BTreeMap<&str, &Vec<u8>> = base_files.iter().map(|(p, b)| (p.as_str(), b)).collect();
    Selected {
        head: input
            .head
            .iter()
            .filter(|(p, b)| base.get(p.as_str()) != Some(&b))
            .collect(),
        base: base_files
            .iter()
            .filter(|(p, b)| head.get(p.as_str()) != Some(&b))
            .collect(),
    }
}

/// The selected files, parsed and checked, each resource under its key.
struct Checked<'f> {
    head: BTreeMap<Key, (String, Resource)>,
    base: BTreeMap<Key, (String, Resource)>,
    head_texts: BTreeMap<&'f str, &'f [u8]>,
    base_texts: BTreeMap<&'f str, &'f [u8]>,
    /// Head files whose import block's `to` named another address, by path (see
    /// [`Retargeted`]), and their text with `to` naming their resource.
    retargeted: BTreeMap<String, Retargeted>,
    patched: BTreeMap<String, Vec<u8>>,
    /// What the reviewer should know about the files (a base file that does not parse).
    notes: Vec<Diagnostic>,
}

impl Checked<'_> {
    /// A head file's text as it was planned (with an ignored `to` made to name its resource).
    fn head_text(&self, path: &str) -> Option<&[u8]> {
        match self.patched.get(path) {
            Some(bytes) => Some(bytes),
            None => self.head_texts.get(path).copied(),
        }
    }
}

/// Every problem of every selected head file, each with its place, before anything is read
/// from the workspace; the files parsed otherwise.
fn validate<'f>(
    selected: &Selected<'f>,
    tree: &'f Files,
    secrets: &dyn SecretSource,
) -> Result<Checked<'f>, PlanError> {
    let head_texts = by_path(&selected.head);
    // The whole tree, not only the changed files: a rewrite may land on any file.
    let whole: BTreeMap<&str, &[u8]> = tree
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let mut problems = Vec::new();
    let (files, retargeted) = keys::ignore_import_targets(&selected.head);
    let head_resources = parse_head(&files, &head_texts, secrets, &mut problems);
    let mut head: BTreeMap<Key, (String, Resource)> = BTreeMap::new();
    for (path, resource) in head_resources {
        check_resource(
            &path,
            &resource,
            head_texts.get(path.as_str()).copied(),
            secrets,
            &mut problems,
        );
        if let Some(why) =
            crate::hcl::tree::overwrites_another(&path, &resource, |p| whole.get(p).copied())
        {
            let why = why.strip_prefix(&format!("{path}: ")).unwrap_or(&why);
            problems.push(Diagnostic::error(path.clone(), why));
        }
        let key = key_of(&path, &resource);
        if let Some((other, _)) = head.get(&key) {
            problems.push(Diagnostic::error(
                path.clone(),
                format!(
                    "{} is also in {other}; a resource has one file",
                    address(&resource)
                ),
            ));
            continue;
        }
        head.insert(key, (path, resource));
    }
    let mut notes = Vec::new();
    let base_resources = parse_base(&selected.base, &head_texts, &mut notes, &mut problems);
    if !problems.is_empty() {
        return Err(PlanError::Invalid(problems));
    }
    let base = base_resources
        .into_iter()
        .map(|(path, r)| (key_of(&path, &r), (path, r)))
        .collect();
    let patched = files
        .into_iter()
        .filter(|(path, _)| retargeted.contains_key(path))
        .collect();
    Ok(Checked {
        head,
        base,
        head_texts,
        base_texts: by_path(&selected.base),
        retargeted,
        patched,
        notes,
    })
}

/// The head files' resources; on any error, none, and every problem in `problems`.
fn parse_head(
    files: &[File],
    texts: &BTreeMap<&str, &[u8]>,
    secrets: &dyn SecretSource,
    problems: &mut Vec<Diagnostic>,
) -> Vec<(String, Resource)> {
    match crate::hcl::tree::validate_files(files.to_vec()) {
        Ok(r) => r,
        Err(e) => {
            problems.extend(e.errors().iter().map(Diagnostic::from));
            // The files that are fine on their own still get their secrets checked, so that
            // one run names every problem.
            for file in files {
                if let Ok(r) = crate::hcl::tree::parse_files(vec![file.clone()]) {
                    for (path, resource) in r {
                        if let Err(e) = secrets::check(&resource, &path, secrets) {
                            problems.push(missing_at(&e, texts.get(path.as_str()).copied()));
                        }
                    }
                }
            }
            Vec::new()
        }
    }
}

/// The base files' resources. A base file that does not parse cannot be the third state of
/// its merge: when the head still has the file, it is planned two ways (the file against the
/// workspace) and a warning says so, since a workspace change the file does not repeat is then
/// reverted; when the head removed it, which resource the removal deletes cannot be known, and
/// the plan refuses rather than drop the delete.
fn parse_base(
    files: &[&File],
    head_texts: &BTreeMap<&str, &[u8]>,
    notes: &mut Vec<Diagnostic>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    for file in files {
        let errors = match crate::hcl::tree::parse_files(vec![(*file).clone()]) {
            Ok(r) => {
                out.extend(r);
                continue;
            }
            Err(e) => e.into_errors(),
        };
        for e in &errors {
            let mut d = Diagnostic::from(e);
            if head_texts.contains_key(file.0.as_str()) {
                d.severity = crate::sync::diagnostic::Severity::Warning;
                d.message = format!(
                    "the base's version of this file does not parse ({}): the file is planned against the workspace alone, not three ways, so a workspace change since the base that the file does not repeat is reverted",
                    d.message
                );
                notes.push(d);
            } else {
                d.message = format!(
                    "the base's version of this removed file does not parse ({}): which resource its removal deletes cannot be known; plan against a base where it parses, or restore the file",
                    d.message
                );
                problems.push(d);
            }
        }
    }
    out
}

/// What one head resource must satisfy beyond parsing: its secrets given, its placeholders
/// only where Segment keeps secrets.
fn check_resource(
    path: &str,
    resource: &Resource,
    text: Option<&[u8]>,
    secrets: &dyn SecretSource,
    problems: &mut Vec<Diagnostic>,
) {
    if let Err(e) = secrets::check(resource, path, secrets) {
        problems.push(missing_at(&e, text));
    }
    let exposed: Vec<String> = sensitive::places(resource)
        .into_iter()
        .filter(|p| p.kind == sensitive::Kind::Placeholder && !p.secret)
        .map(|p| p.path)
        .collect();
    let in_keys: Vec<String> = sensitive::places(resource)
        .into_iter()
        .filter(|p| p.kind == sensitive::Kind::PlaceholderInKey)
        .map(|p| p.text)
        .collect();
    if !in_keys.is_empty() {
        problems.push(at_first(
            Diagnostic::error(
                path,
                format!(
                    "a @@name@@ placeholder in the settings key `{}`: keys are sent as written, so it would be sent literally, never as a secret; placeholders stand only in values",
                    in_keys.join("`, `")
                ),
            ),
            text,
            in_keys.first().map(String::as_str),
        ));
    }
    if !exposed.is_empty() {
        problems.push(Diagnostic::error(path, format!(
            "a @@name@@ placeholder at `{}`, which is not a secret Segment masks: the secret would be stored there in clear and come back into Git on the next sync; placeholders stand only under secret settings keys (apiKey, password, token, credentials, ...)",
            exposed.join("`, `")
        )));
    }
}

/// Makes the plan: selects the files to look at, checks them all, then decides each resource.
pub async fn plan<W: Workspace + Sync>(
    workspace: &W,
    input: PlanInput<'_>,
) -> Result<Plan, PlanError> {
    let selected = select(&input);
    let mut checked = validate(&selected, input.head, input.secrets)?;
    let mut live = Live {
        workspace,
        read: BTreeMap::new(),
    };
    identify(&mut checked, &mut live).await?;
    let mut plan = Plan::new(input.head, input.base_name.clone());
    plan.workspace_id = Some(workspace.identity().await?.id);
    plan.notes = std::mem::take(&mut checked.notes);
    let mut decider = Decider {
        live,
        settle: merge::Settle {
            secrets: input.secrets,
            send: &input.send_secrets,
        },
        checked: &checked,
        plan,
        lists: BTreeMap::new(),
    };
    // Changes that cannot be written as they stand, every one of them.
    let mut refused = Vec::new();
    let keys: BTreeSet<&Key> = checked.head.keys().chain(checked.base.keys()).collect();
    for key in keys {
        let outcome = decider.decide(key).await?;
        decider.plan.record(outcome, &mut refused);
    }
    if !refused.is_empty() {
        return Err(PlanError::Invalid(refused));
    }
    let mut out = decider.plan;
    out.workspace_reads = decider.live.reads() + decider.lists.len();
    order(&mut out.changes);
    Ok(out)
}

impl Plan {
    /// An empty plan of the tree `head`, from `base` (a revision's name) when there is one.
    pub fn new(head: &Files, base: Option<String>) -> Plan {
        // One pass over the tree's bytes gives both the fingerprint and the per-file digests.
        let fingerprint = TreeFingerprint::of(head);
        Plan {
            format: PLAN_FORMAT.to_owned(),
            version: PLAN_VERSION,
            workspace: None,
            workspace_id: None,
            dir: None,
            tree: fingerprint.value(),
            tree_files: fingerprint.digests(),
            base,
            changes: Vec::new(),
            conflicts: Vec::new(),
            kept: Vec::new(),
            unchanged: 0,
            workspace_reads: 0,
            notes: Vec::new(),
            seal: None,
        }
    }
}

/// Decides, resource by resource, what the plan does; reads the workspace as it goes.
struct Decider<'a, 'w, W> {
    live: Live<'w, W>,
    settle: merge::Settle<'a>,
    checked: &'a Checked<'a>,
    plan: Plan,
    /// Whole listings read to find what depends on a resource, by type.
    lists: BTreeMap<ResourceType, Vec<Resource>>,
}

impl<W: Workspace + Sync> Decider<'_, '_, W> {
    async fn decide(&mut self, key: &Key) -> Result<Outcome, PlanError> {
        let checked = self.checked;
        let old = checked.base.get(key);
        let new = checked.head.get(key);
        let text = new.and_then(|(path, _)| checked.head_text(path));
        match (key, new) {
            (Key::New(_), Some((path, resource))) => create(path, resource, text),
            // A file that asked for a resource that was never created, now gone: nothing.
            (Key::New(_), None) => Ok(Outcome::Unchanged),
            (Key::Existing(ty, _), None) => match old {
                Some((path, gone)) => self.delete(*ty, path, gone).await,
                None => Ok(Outcome::Unchanged),
            },
            (Key::Existing(ty, _), Some((path, resource))) => {
                // Where the resource is now: as the base file names it, if there was one.
                let named = old.map(|(_, r)| r).unwrap_or(resource);
                let id = named.import_id().unwrap_or_default();
                let found = self.live.get(*ty, &id).await?;
                self.note_retargeted(path, resource, found.is_some());
                match found {
                    Some(live) => {
                        let mut outcome = self.update(old, (path, resource), &id, &live)?;
                        self.note_dependents(&mut outcome, &live).await?;
                        Ok(outcome)
                    }
                    None if old.is_some() => Ok(Outcome::Conflict(Conflict {
                        // The file existed at the base and the workspace has since deleted the
                        // resource: re-creating it would silently undo that deletion.
                        address: address(resource),
                        file: path.clone(),
                        path: "(the resource)".to_owned(),
                        base: Some(serde_json::Value::String("exists".into())),
                        workspace: None,
                        file_value: Some(serde_json::Value::String("changed".into())),
                        sensitive: false,
                    })),
                    // An import block naming an id the workspace does not have: a new
                    // resource, which gets its own id.
                    None => create(path, &fresh(resource), text),
                }
            }
        }
    }

    /// The note a file whose import block's `to` was ignored gets: which resource it is.
    fn note_retargeted(&mut self, path: &str, resource: &Resource, exists: bool) {
        let Some(r) = self.checked.retargeted.get(path) else {
            return;
        };
        let id = resource.import_id().unwrap_or_default();
        let message = if exists {
            format!(
                "the import block's `to` names `{}`, but its `id` names `{id}`, which the workspace holds: the file is that resource, {}; `to` is ignored",
                r.to,
                address(resource)
            )
        } else {
            format!(
                "the import block's `to` names `{}` and its `id` names `{id}`, which the workspace does not hold: the file is a new resource (as a copied file is), and `to` is ignored",
                r.to
            )
        };
        self.plan
            .notes
            .push(Diagnostic::warning(path, message).at(r.line, r.column));
    }

    async fn delete(
        &mut self,
        ty: ResourceType,
        path: &str,
        gone: &Resource,
    ) -> Result<Outcome, PlanError> {
        let Ok(id) = gone.import_id() else {
            return Ok(Outcome::Skipped);
        };
        let Some(l) = self.live.get(ty, &id).await? else {
            // Already gone from the workspace: nothing to do.
            return Ok(Outcome::Unchanged);
        };
        let mut outcome = Outcome::Change(Change {
            action: Action::Delete,
            resource_type: ty.terraform_type().to_owned(),
            address: address(&l),
            file: path.to_owned(),
            import_id: Some(id.clone()),
            attributes: Vec::new(),
            live_fingerprint: Some(resource_fingerprint(&l)),
            desired: None,
            dependents: Vec::new(),
        });
        self.note_dependents(&mut outcome, &l).await?;
        Ok(outcome)
    }

    fn update(
        &mut self,
        old: Option<&(String, Resource)>,
        (path, resource): (&String, &Resource),
        id: &str,
        live: &Resource,
    ) -> Result<Outcome, PlanError> {
        let merged = merge::merge(
            old.map(|(p, r)| FileState {
                resource: r,
                text: self.checked.base_texts.get(p.as_str()).copied(),
            }),
            FileState {
                resource,
                text: self.checked.head_text(path),
            },
            live,
            path,
            &self.settle,
            &mut self.plan,
        );
        let text = self.checked.head_text(path);
        let outcome = match merged {
            Some(merged) => in_place(
                (path, resource),
                id,
                live,
                merged,
                self.settle.secrets,
                text,
            )?,
            // Conflicts, recorded by the merge.
            None => Outcome::Conflicted,
        };
        let updated = matches!(outcome, Outcome::Change(_));
        let foreign = sensitive::foreign_masks(resource, live);
        if let Outcome::Refused(mut refusal) = outcome {
            // The refusal ends the plan, and its notes with it: it says what they would have.
            for f in &foreign {
                refusal.message.push_str(&format!(
                    ". `{}` holds the mask `{}`, but the workspace holds {}",
                    f.path,
                    f.mask,
                    served_words(&f.served)
                ));
            }
            return Ok(Outcome::Refused(refusal));
        }
        for f in &foreign {
            self.plan
                .notes
                .push(foreign_mask(path, text, &address(live), f, updated));
        }
        Ok(outcome)
    }

    /// What the workspace holds that depends on a resource a change deletes or replaces: a
    /// destination's filters and subscriptions, a source's destinations and connections, ...
    async fn dependents(
        &mut self,
        ty: ResourceType,
        own_id: &str,
    ) -> Result<Vec<String>, PlanError> {
        let mut out = Vec::new();
        for (child, parent) in dependent_types(ty) {
            if !self.lists.contains_key(child) {
                let listed = self.live.workspace.list(*child).await?;
                self.lists.insert(*child, listed);
            }
            let children = self.lists.get(child).map(Vec::as_slice).unwrap_or_default();
            out.extend(
                children
                    .iter()
                    .filter(
                        |c| matches!(c.get(parent), crate::model::Value::String(p) if p == own_id),
                    )
                    .map(address),
            );
        }
        Ok(out)
    }

    /// Lists what depends on a resource that a change deletes or replaces.
    async fn note_dependents(
        &mut self,
        outcome: &mut Outcome,
        live: &Resource,
    ) -> Result<(), PlanError> {
        if let Outcome::Change(change) = outcome
            && matches!(change.action, Action::Delete | Action::Replace)
            && let Some(own) = &live.id
        {
            change.dependents = self.dependents(live.ty, own).await?;
        }
        Ok(())
    }
}

/// A file naming an id the workspace does not have, as the new resource it asks for.
fn fresh(resource: &Resource) -> Resource {
    let mut fresh = resource.clone();
    fresh.new_name = Some(resource.terraform_name().unwrap_or_default());
    if !matches!(
        resource.ty.kind().import_id,
        crate::model::ImportId::Attributes(_)
    ) {
        fresh.id = None;
    }
    fresh
}

/// The masked values a change would send: those inside an attribute it writes (an update sends
/// a changed attribute whole, `settings` with every key; a replace sends everything).
fn masks_sent(desired: &Resource, d: &diff::Diff) -> Vec<String> {
    let written: BTreeSet<&str> = d.attributes().into_iter().collect();
    masked_paths(desired)
        .into_iter()
        .filter(|p| {
            d.forces_replacement()
                || written.contains(p.split(['.', '[']).next().unwrap_or_default())
        })
        .collect()
}

/// What planning one resource comes to.
enum Outcome {
    Unchanged,
    /// Nothing to plan and nothing to count (a removed file without an id).
    Skipped,
    /// It cannot be written as it stands (the message says why and what to do).
    Refused(Diagnostic),
    Change(Change),
    /// The workspace deleted what the file changes.
    Conflict(Conflict),
    /// Conflicts, already recorded in the plan by the merge.
    Conflicted,
}

impl Plan {
    fn record(&mut self, outcome: Outcome, refused: &mut Vec<Diagnostic>) {
        match outcome {
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped | Outcome::Conflicted => {}
            Outcome::Refused(why) => refused.push(why),
            Outcome::Change(change) => self.changes.push(change),
            Outcome::Conflict(conflict) => self.conflicts.push(conflict),
        }
    }
}

/// The change that brings `live` to `merged`: an update, a replace, nothing, or a refusal when
/// it would send a mask back as a secret. `head` is the file asking for it.
fn in_place(
    head: (&str, &Resource),
    import_id: &str,
    live: &Resource,
    mut merged: Resource,
    secrets: &dyn SecretSource,
    text: Option<&[u8]>,
) -> Result<Outcome, PlanError> {
    let (path, resource) = head;
    let d = diff::diff(live.ty, &live.attributes, &merged.attributes);
    if d.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    // The merge compared the file's placeholders as the masks they agree with; what is written
    // keeps the placeholders (apply resolves them, and its rewrite puts them back in the file),
    // since a mask cannot be sent as the secret.
    secrets::keep_placeholders(resource, &mut merged, secrets);
    let clear = clear_secrets(&merged, Some(&d));
    if !clear.is_empty() {
        return Ok(Outcome::Refused(in_clear(
            path,
            text,
            &address(live),
            &clear,
        )));
    }
    let masks = masks_sent(&merged, &d);
    if !masks.is_empty() {
        let first = masked_value_at(&merged, &masks[0]);
        return Ok(Outcome::Refused(at_first(
            Diagnostic::error(
                path,
                format!(
                    "{}: writing the change sends `{}` back as the mask the workspace serves, which Segment would store as the secret itself; put a @@name@@ placeholder there and {ASKS_FOR_SECRETS}",
                    address(live),
                    masks.join("`, `")
                ),
            ).with_remedy(Remedy::GiveSecret),
            text,
            first.as_deref(),
        )));
    }
    Ok(Outcome::Change(Change {
        action: if d.forces_replacement() {
            Action::Replace
        } else {
            Action::Update
        },
        resource_type: live.ty.terraform_type().to_owned(),
        address: address(live),
        file: path.to_owned(),
        import_id: Some(import_id.to_owned()),
        attributes: d.differences.iter().map(shown).collect(),
        live_fingerprint: Some(resource_fingerprint(live)),
        desired: Some(render_desired(&merged, path)?),
        dependents: Vec::new(),
    }))
}

/// A missing secret, placed at the first use of its placeholder in the file.
fn missing_at(e: &secrets::MissingSecrets, text: Option<&[u8]>) -> Diagnostic {
    let d = Diagnostic::error(
        e.file.clone(),
        format!("{}; {ASKS_FOR_SECRETS}", e.problem()),
    )
    .with_remedy(Remedy::GiveSecret);
    let first = e
        .names
        .iter()
        .map(|n| format!("@@{n}@@"))
        .filter_map(|p| Some((text_of(text)?.find(&p)?, p)))
        .min();
    at_first(d, text, first.map(|(_, p)| p).as_deref())
}

fn text_of(text: Option<&[u8]>) -> Option<&str> {
    text.and_then(|t| std::str::from_utf8(t).ok())
}

/// The diagnostic placed at the first occurrence of `needle` in the file, when there is one.
fn at_first(d: Diagnostic, text: Option<&[u8]>, needle: Option<&str>) -> Diagnostic {
    match (text_of(text), needle) {
        (Some(text), Some(needle)) => match place_of(text, needle) {
            Some((line, column)) => d.at(line, column),
            None => d,
        },
        _ => d,
    }
}

/// One-based line and column (in characters) of the first occurrence of `needle`.
fn place_of(text: &str, needle: &str) -> Option<(usize, usize)> {
    let at = text.find(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

/// The masked string at a place of a resource (`settings.apiKey`), to find it in the file.
fn masked_value_at(resource: &Resource, path: &str) -> Option<String> {
    sensitive::places(resource)
        .into_iter()
        .find(|p| p.path == path && p.kind == sensitive::Kind::Mask)
        .map(|p| p.text)
}

/// The order apply runs changes in, which is the order a plan lists (and shows) them: creates,
/// updates and replaces in dependency order (what others point at first: labels, sources,
/// warehouses, destinations, ...), a replace at its type's place (its delete right before its
/// create); then deletes, in reverse dependency order (what points at others first). By file
/// within a type. Deletes go last so that nothing is destroyed before everything that can be
/// written was: a failure part way leaves data in place.
pub fn order_key(change: &Change) -> (u8, usize, String) {
    let rank = change.ty().map(create_rank).unwrap_or(usize::MAX);
    match change.action {
        Action::Delete => (1, usize::MAX - rank, change.file.clone()),
        Action::Create | Action::Update | Action::Replace => (0, rank, change.file.clone()),
    }
}

/// Sorts changes into the order apply runs them ([`order_key`]).
pub fn order(changes: &mut [Change]) {
    changes.sort_by_key(order_key);
}

fn render_desired(resource: &Resource, file: &str) -> Result<String, PlanError> {
    crate::hcl::render(resource)
        .map_err(|e| PlanError::Invalid(vec![Diagnostic::error(file, e.to_string())]))
}

/// The create a new file asks for, or a refusal when it holds a mask (which cannot be written
/// as the secret it hides).
fn create(path: &str, resource: &Resource, text: Option<&[u8]>) -> Result<Outcome, PlanError> {
    let masked: Vec<String> = masked_paths(resource);
    if !masked.is_empty() {
        let first = masked_value_at(resource, &masked[0]);
        return Ok(Outcome::Refused(at_first(
            Diagnostic::error(
                path,
                format!(
                    "{} holds a masked value (`{}`) and is new: a mask cannot be written as a secret; put a @@name@@ placeholder there and {ASKS_FOR_SECRETS}",
                    address(resource),
                    masked.join("`, `")
                ),
            ).with_remedy(Remedy::GiveSecret),
            text,
            first.as_deref(),
        )));
    }
    let clear = clear_secrets(resource, None);
    if !clear.is_empty() {
        return Ok(Outcome::Refused(in_clear(
            path,
            text,
            &address(resource),
            &clear,
        )));
    }
    let mut named = resource.clone();
    if named.new_name.is_none() {
        named.new_name = Some(resource.terraform_name().unwrap_or_default());
    }
    let attributes = resource
        .attributes
        .iter()
        .map(|(name, value)| {
            let after = value.to_json();
            let sensitive = sensitive::change_is_sensitive(&[name.as_str()], None, Some(&after));
            AttributeChange {
                path: name.clone(),
                before: None,
                after: (!sensitive).then_some(after),
                sensitive,
                forces_replacement: false,
            }
        })
        .collect();
    Ok(Outcome::Change(Change {
        action: Action::Create,
        resource_type: resource.ty.terraform_type().to_owned(),
        address: address(&named),
        file: path.to_owned(),
        import_id: None,
        attributes,
        live_fingerprint: None,
        desired: Some(render_desired(&named, path)?),
        dependents: Vec::new(),
    }))
}

/// The places in a resource that hold a masked value.
fn masked_paths(resource: &Resource) -> Vec<String> {
    sensitive::places(resource)
        .into_iter()
        .filter(|p| p.kind == sensitive::Kind::Mask)
        .map(|p| p.path)
        .collect()
}

fn side_json(side: &Side) -> Option<serde_json::Value> {
    match side {
        Side::Absent => None,
        Side::Value(v) => Some(v.to_json()),
        Side::Json(j) => Some(j.clone()),
    }
}

/// One difference as the plan shows it: its values hidden where a secret could be.
fn shown(d: &Difference) -> AttributeChange {
    let (before, after) = (side_json(&d.old), side_json(&d.new));
    let sensitive = sensitive::change_is_sensitive(
        &sensitive::diff_keys(&d.path),
        before.as_ref(),
        after.as_ref(),
    );
    AttributeChange {
        path: d.path.to_string(),
        before: if sensitive { None } else { before },
        after: if sensitive { None } else { after },
        sensitive,
        forces_replacement: d.forces_replacement,
    }
}

/// The types whose resources point at a resource of `ty`, and the attribute that does: what
/// Segment deletes with it, or leaves pointing at nothing.
fn dependent_types(ty: ResourceType) -> &'static [(ResourceType, &'static str)] {
    use ResourceType as T;
    match ty {
        T::Destination => &[
            (T::DestinationFilter, "destination_id"),
            (T::DestinationSubscription, "destination_id"),
            (T::InsertFunctionInstance, "integration_id"),
        ],
        T::Function => &[(T::InsertFunctionInstance, "function_id")],
        T::Source => &[
            (T::Destination, "source_id"),
            (T::DestinationFilter, "source_id"),
            (T::Transformation, "source_id"),
            (T::ReverseEtlModel, "source_id"),
            (T::SourceTrackingPlanConnection, "source_id"),
            (T::SourceWarehouseConnection, "source_id"),
        ],
        T::TrackingPlan => &[(T::SourceTrackingPlanConnection, "tracking_plan_id")],
        T::Warehouse => &[(T::SourceWarehouseConnection, "warehouse_id")],
        T::ReverseEtlModel => &[(T::DestinationSubscription, "model_id")],
        _ => &[],
    }
}

/// The note for a mask in a file that is not the one the workspace serves there.
fn foreign_mask(
    path: &str,
    text: Option<&[u8]>,
    address: &str,
    foreign: &sensitive::ForeignMask,
    updated: bool,
) -> Diagnostic {
    let holds = served_words(&foreign.served);
    let what = if updated {
        "the update leaves this secret as the workspace holds it"
    } else {
        "the plan leaves it as the workspace holds it"
    };
    let message = format!(
        "{address}: `{}` holds the mask `{}`, but the workspace holds {holds}. A mask cannot be applied, so {what}. To set the secret, put a @@name@@ placeholder there and {ASKS_FOR_SECRETS}",
        foreign.path, foreign.mask
    );
    let d = if updated {
        Diagnostic::warning(path, message)
    } else {
        Diagnostic::note(path, message)
    };
    at_first(d.with_remedy(Remedy::GiveSecret), text, Some(&foreign.mask))
}

/// What the workspace holds where a file holds a mask that is not its own, in words.
fn served_words(served: &sensitive::Served) -> String {
    match served {
        sensitive::Served::Mask(mask) => format!(
            "its own mask `{mask}`, another secret (rotated in the app, or the file came from another workspace)"
        ),
        sensitive::Served::Other => "a value of its own (not shown)".to_owned(),
        sensitive::Served::Nothing => "no value there".to_owned(),
    }
}

/// The places a change would write that hold a secret in clear: those inside an attribute it
/// writes (see [`masks_sent`]), or every one for a create (`d` is `None`).
fn clear_secrets(desired: &Resource, d: Option<&diff::Diff>) -> Vec<String> {
    let written: Option<BTreeSet<&str>> = d
        .filter(|d| !d.forces_replacement())
        .map(|d| d.attributes().into_iter().collect());
    sensitive::places(desired)
        .into_iter()
        .filter(|p| p.kind == sensitive::Kind::Clear)
        .filter(|p| {
            written
                .as_ref()
                .is_none_or(|w| w.contains(p.path.split(['.', '[']).next().unwrap_or_default()))
        })
        .map(|p| p.path)
        .collect()
}

/// The refusal of a secret written in clear: the plan document would hold it.
/// It is placed at the first line that sets the key, when one does.
fn in_clear(path: &str, text: Option<&[u8]>, address: &str, places: &[String]) -> Diagnostic {
    let d = Diagnostic::error(
        path,
        format!(
            "{address}: `{}` holds a secret in clear, which the plan would then hold and show to every reviewer (a plan never holds a secret); put a @@name@@ placeholder there and {ASKS_FOR_SECRETS}",
            places.join("`, `")
        ),
    )
    .with_remedy(Remedy::GiveSecret);
    let key = places
        .first()
        .and_then(|p| p.rsplit(['.', '[']).next())
        .unwrap_or_default();
    match text_of(text).and_then(|t| place_of_key(t, key)) {
        Some((line, column)) => d.at(line, column),
        None => d,
    }
}

/// One-based line and column of the first line that sets `key` (`key = `, `"key" = `).
fn place_of_key(text: &str, key: &str) -> Option<(usize, usize)> {
    if key.is_empty() {
        return None;
    }
    text.lines().enumerate().find_map(|(i, line)| {
        let start = line.len() - line.trim_start().len();
        let rest = &line[start..];
        let after = rest
            .strip_prefix(key)
            .or_else(|| rest.strip_prefix(&format!("\"{key}\"")))?;
        after
            .trim_start()
            .starts_with('=')
            .then(|| (i + 1, line[..start].chars().count() + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_found_by_line_and_column_in_characters() {
        let text = "a\n  é = 1\n  key = \"x\"\n";
        assert_eq!(place_of(text, "key"), Some((3, 3)));
        assert_eq!(place_of_key(text, "key"), Some((3, 3)));
        assert_eq!(place_of_key("  \"key\" = 1\n", "key"), Some((1, 3)));
        assert_eq!(place_of_key("  keys = 1\n", "key"), None);
    }
}
