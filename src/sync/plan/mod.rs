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
//! Secrets: a `@@name@@` placeholder that agrees with the masked value the workspace serves is
//! no change; a masked value in a file means "what the workspace holds". No secret value ever
//! enters a [`Plan`]: it holds placeholders and masks only, and values under secret keys are
//! shown as `(sensitive)`. Placeholders are resolved again when the plan is applied.
//!
//! The plan reads from the workspace only the resources the change touches (one read each), so
//! its cost follows the size of the change, not of the workspace. This module decides; it never
//! writes to the workspace ([`super::apply`] does) and never touches files or Git: it is given
//! the files' bytes.

mod document;
mod show;
mod source;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::diff::{self, Difference, Side};
use crate::model::{Attributes, Resource, ResourceType, Value};
use crate::sync::secrets::{self, SecretSource};
use crate::workspace::{Workspace, WorkspaceError, api};

pub use document::{PlanFileError, PlanKey};
pub use show::{human, summary_line};
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
    /// A fingerprint of the head tree's resource files (see [`tree_fingerprint`]).
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
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

/// A fingerprint of a tree's files (see [`TreeFingerprint`]).
pub fn tree_fingerprint(files: &Files) -> String {
    TreeFingerprint::of(files).value()
}

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

/// Who a resource is, across the three states: its type and import id when it has one, or the
/// file that asks for it when it is new.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Existing(ResourceType, String),
    New(String),
}

fn key_of(path: &str, resource: &Resource) -> Key {
    // A resource named by its attributes (a label) has an import id with or without an import
    // block; one with an id of its own has one only when its file says which. A nested
    // resource (a filter, a subscription) is itself by its own id: moved to another parent,
    // it is the same resource, replaced, not one deleted and another created.
    match (resource.kind().import_id, &resource.id) {
        (crate::model::ImportId::ParentAndOwnId { .. }, Some(own)) => {
            Key::Existing(resource.ty, own.clone())
        }
        _ => match resource.import_id() {
            Ok(id) => Key::Existing(resource.ty, id),
            Err(_) => Key::New(path.to_owned()),
        },
    }
}

/// Reads live resources one at a time, counting the reads (each key is planned once, so each
/// resource is read at most once).
struct Live<'w, W> {
    workspace: &'w W,
    reads: usize,
}

impl<W: Workspace + Sync> Live<'_, W> {
    async fn get(
        &mut self,
        ty: ResourceType,
        import_id: &str,
    ) -> Result<Option<Resource>, WorkspaceError> {
        self.reads += 1;
        self.workspace.get(ty, import_id).await
    }
}

/// The files' bytes by path.
fn by_path<'f>(files: &[&'f (String, Vec<u8>)]) -> BTreeMap<&'f str, &'f [u8]> {
    files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect()
}

/// Makes the plan.
pub async fn plan<W: Workspace + Sync>(
    workspace: &W,
    input: PlanInput<'_>,
) -> Result<Plan, PlanError> {
    let head: BTreeMap<&str, &Vec<u8>> = input.head.iter().map(|(p, b)| (p.as_str(), b)).collect();
    let base: Option<BTreeMap<&str, &Vec<u8>>> = input
        .base
        .map(|files| files.iter().map(|(p, b)| (p.as_str(), b)).collect());

    // Which files to look at: with a base, those whose bytes differ; without, all.
    type Picked<'f> = Vec<&'f (String, Vec<u8>)>;
    let (head_changed, base_changed): (Picked, Picked) = match (&base, input.base) {
        (Some(base_map), Some(base_files)) => (
            input
                .head
                .iter()
                .filter(|(p, b)| base_map.get(p.as_str()) != Some(&b))
                .collect(),
            base_files
                .iter()
                .filter(|(p, b)| head.get(p.as_str()) != Some(&b))
                .collect(),
        ),
        _ => (input.head.iter().collect(), Vec::new()),
    };

    // Every problem of every changed file, each with its place, before anything is read.
    let mut problems = Vec::new();
    let texts = by_path(&head_changed);
    let head_resources =
        match crate::hcl::tree::validate_files(head_changed.iter().map(|f| (*f).clone()).collect())
        {
            Ok(r) => r,
            Err(e) => {
                problems.extend(e.into_errors().iter().map(ToString::to_string));
                // The files that are fine on their own still get their secrets checked, so that
                // one run names every problem.
                for file in &head_changed {
                    if let Ok(r) = crate::hcl::tree::parse_files(vec![(*file).clone()]) {
                        for (path, resource) in r {
                            if let Err(e) = secrets::check(&resource, &path, input.secrets) {
                                problems.push(missing_at(&e, texts.get(path.as_str()).copied()));
                            }
                        }
                    }
                }
                Vec::new()
            }
        };
    // A base file that does not parse is the base's problem, not the change's: it is planned as
    // if it had not been there.
    let base_texts = by_path(&base_changed);
    let mut base_resources = Vec::new();
    for file in base_changed {
        match crate::hcl::tree::parse_files(vec![file.clone()]) {
            Ok(r) => base_resources.extend(r),
            Err(e) => tracing::warn!("{e}: the base file is left out of the merge"),
        }
    }

    let mut head_by_key: BTreeMap<Key, (String, Resource)> = BTreeMap::new();
    for (path, resource) in head_resources {
        if let Err(e) = secrets::check(&resource, &path, input.secrets) {
            problems.push(missing_at(&e, texts.get(path.as_str()).copied()));
        }
        let exposed = placeholders_in_the_open(&resource);
        if !exposed.is_empty() {
            problems.push(format!(
                "{path}: a @@name@@ placeholder at `{}`, which is not a secret Segment masks: the secret would be stored there in clear and come back into Git on the next sync; placeholders stand only under secret settings keys (apiKey, password, token, credentials, ...)",
                exposed.join("`, `")
            ));
        }
        let key = key_of(&path, &resource);
        if let Some((other, _)) = head_by_key.get(&key) {
            problems.push(format!(
                "{path}: {} is also in {other}; a resource has one file",
                address(&resource)
            ));
            continue;
        }
        head_by_key.insert(key, (path, resource));
    }
    if !problems.is_empty() {
        return Err(PlanError::Invalid(problems));
    }
    let base_by_key: BTreeMap<Key, (String, Resource)> = base_resources
        .into_iter()
        .map(|(path, r)| (key_of(&path, &r), (path, r)))
        .collect();

    let mut live = Live {
        workspace,
        reads: 0,
    };
    let mut out = Plan {
        format: PLAN_FORMAT.to_owned(),
        version: PLAN_VERSION,
        workspace: None,
        workspace_id: Some(workspace.identity().await?.id),
        dir: None,
        tree: tree_fingerprint(input.head),
        tree_files: TreeFingerprint::of(input.head).digests(),
        base: input.base_name.clone(),
        changes: Vec::new(),
        conflicts: Vec::new(),
        kept: Vec::new(),
        unchanged: 0,
        workspace_reads: 0,
        notes: Vec::new(),
        seal: None,
    };
    // Changes that cannot be written as they stand, every one of them.
    let mut refused = Vec::new();
    let keys: BTreeSet<&Key> = head_by_key.keys().chain(base_by_key.keys()).collect();
    for key in keys {
        let old = base_by_key.get(key);
        let new = head_by_key.get(key);
        match (key, new) {
            (Key::New(_), Some((path, resource))) => {
                out.record(create(path, resource)?, &mut refused);
            }
            (Key::New(_), None) => {
                // A file that asked for a resource that was never created, now gone: nothing.
                out.unchanged += 1;
            }
            (Key::Existing(ty, _), None) => {
                let Some((path, gone)) = old else { continue };
                let Ok(id) = gone.import_id() else { continue };
                match live.get(*ty, &id).await? {
                    Some(l) => out.changes.push(Change {
                        action: Action::Delete,
                        resource_type: ty.terraform_type().to_owned(),
                        address: address(&l),
                        file: path.clone(),
                        import_id: Some(id.clone()),
                        attributes: Vec::new(),
                        live_fingerprint: Some(resource_fingerprint(&l)),
                        desired: None,
                        dependents: Vec::new(),
                    }),
                    // Already gone from the workspace: nothing to do.
                    None => out.unchanged += 1,
                }
            }
            (Key::Existing(ty, _), Some((path, resource))) => {
                // Where the resource is now: as the base file names it, if there was one.
                let named = old.map(|(_, r)| r).unwrap_or(resource);
                let id = named.import_id().unwrap_or_default();
                match live.get(*ty, &id).await? {
                    None => {
                        if old.is_some() {
                            // The file existed at the base and the workspace has since deleted the
                            // resource: re-creating it would silently undo that deletion.
                            out.conflicts.push(Conflict {
                                address: address(resource),
                                file: path.clone(),
                                path: "(the resource)".to_owned(),
                                base: Some(serde_json::Value::String("exists".into())),
                                workspace: None,
                                file_value: Some(serde_json::Value::String("changed".into())),
                                sensitive: false,
                            });
                        } else {
                            // An import block naming an id the workspace does not have: a new
                            // resource, which gets its own id.
                            let mut fresh = resource.clone();
                            fresh.new_name = Some(resource.terraform_name().unwrap_or_default());
                            if !matches!(
                                resource.ty.kind().import_id,
                                crate::model::ImportId::Attributes(_)
                            ) {
                                fresh.id = None;
                            }
                            out.record(create(path, &fresh)?, &mut refused);
                        }
                    }
                    Some(l) => {
                        let merged = merge(
                            old.map(|(p, r)| FileState {
                                resource: r,
                                text: base_texts.get(p.as_str()).copied(),
                            }),
                            FileState {
                                resource,
                                text: texts.get(path.as_str()).copied(),
                            },
                            &l,
                            path,
                            input.secrets,
                            &mut out,
                        );
                        // `None`: conflicts, recorded by the merge.
                        if let Some(merged) = merged {
                            let outcome =
                                in_place((path, resource), &id, &l, merged, input.secrets)?;
                            out.record(outcome, &mut refused);
                        }
                    }
                }
            }
        }
    }
    if !refused.is_empty() {
        return Err(PlanError::Invalid(refused));
    }
    out.workspace_reads = live.reads;
    order(&mut out.changes);
    Ok(out)
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
    /// It cannot be written as it stands (the message says why and what to do).
    Refused(String),
    Change(Change),
}

impl Plan {
    fn record(&mut self, outcome: Outcome, refused: &mut Vec<String>) {
        match outcome {
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Refused(why) => refused.push(why),
            Outcome::Change(change) => self.changes.push(change),
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
    let masks = masks_sent(&merged, &d);
    if !masks.is_empty() {
        return Ok(Outcome::Refused(format!(
            "{path}: {}: writing the change sends `{}` back as the mask the workspace serves, which Segment would store as the secret itself; put a @@name@@ placeholder there and give its value with --secrets (or GITSYNC_SECRET_<name>)",
            address(live),
            masks.join("`, `")
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
fn missing_at(e: &secrets::MissingSecrets, text: Option<&[u8]>) -> String {
    let text = text
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or_default();
    let first = e
        .names
        .iter()
        .filter_map(|n| text.find(&format!("@@{n}@@")))
        .min();
    match first {
        Some(at) => {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let message = e.to_string();
            let rest = message
                .strip_prefix(&format!("{}: ", e.file))
                .unwrap_or(&message);
            format!("{}:{line}:{column}: {rest}", e.file)
        }
        None => e.to_string(),
    }
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
    crate::hcl::render(resource).map_err(|e| PlanError::Invalid(vec![format!("{file}: {e}")]))
}

/// The create a new file asks for, or a refusal when it holds a mask (which cannot be written
/// as the secret it hides).
fn create(path: &str, resource: &Resource) -> Result<Outcome, PlanError> {
    let masked: Vec<String> = masked_paths(resource);
    if !masked.is_empty() {
        return Ok(Outcome::Refused(format!(
            "{path}: {} holds a masked value (`{}`) and is new: a mask cannot be written as a secret; put a @@name@@ placeholder there and give its value in the secrets file",
            address(resource),
            masked.join("`, `")
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
            let sensitive = is_sensitive_name(name) || json_has_secret(&after, false);
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
    fn walk_json(j: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match j {
            serde_json::Value::String(s) if api::is_masked(s) => out.push(path),
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk_json(v, format!("{path}[{i}]"), out);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    walk_json(v, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (name, value) in &resource.attributes {
        walk_json(&value.to_json(), name.clone(), &mut out);
    }
    out
}

/// The places in a resource that hold a placeholder where Segment keeps no secret (a name, a
/// plain settings key): a secret resolved there would be stored and served in clear.
fn placeholders_in_the_open(resource: &Resource) -> Vec<String> {
    fn walk(j: &serde_json::Value, path: String, secret: bool, out: &mut Vec<String>) {
        match j {
            serde_json::Value::String(s)
                if !secret && crate::model::secret_placeholders(s).next().is_some() =>
            {
                out.push(path);
            }
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, format!("{path}[{i}]"), secret, out);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    walk(
                        v,
                        format!("{path}.{k}"),
                        secret || api::is_secret_under(k, v),
                        out,
                    );
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (name, value) in &resource.attributes {
        // Only JSON settings hold secrets; every other attribute is shown in clear.
        let json = match value {
            Value::Json(j) => j.clone(),
            other => {
                let j = other.to_json();
                if crate::model::secret_placeholders(&j.to_string())
                    .next()
                    .is_some()
                {
                    out.push(name.clone());
                }
                continue;
            }
        };
        walk(&json, name.clone(), false, &mut out);
    }
    out
}

fn is_sensitive_name(key: &str) -> bool {
    api::is_secret_key(key) || key.to_ascii_lowercase().contains("credential")
}

/// Whether a JSON value holds a secret: a placeholder, a mask, or anything under a secret key.
fn json_has_secret(j: &serde_json::Value, under_secret: bool) -> bool {
    match j {
        serde_json::Value::String(s) => {
            under_secret
                || api::is_masked(s)
                || crate::model::secret_placeholders(s).next().is_some()
        }
        serde_json::Value::Array(a) => a.iter().any(|v| json_has_secret(v, under_secret)),
        serde_json::Value::Object(m) => m
            .iter()
            .any(|(k, v)| json_has_secret(v, under_secret || is_sensitive_name(k))),
        _ => false,
    }
}

fn side_json(side: &Side) -> Option<serde_json::Value> {
    match side {
        Side::Absent => None,
        Side::Value(v) => Some(v.to_json()),
        Side::Json(j) => Some(j.clone()),
    }
}

fn path_is_sensitive(path: &diff::Path) -> bool {
    path.0.iter().any(|s| match s {
        diff::Step::Attribute(k) | diff::Step::Key(k) => is_sensitive_name(k),
        diff::Step::Index(_) => false,
    })
}

fn shown(d: &Difference) -> AttributeChange {
    let (before, after) = (side_json(&d.old), side_json(&d.new));
    let sensitive = path_is_sensitive(&d.path)
        || before.as_ref().is_some_and(|v| json_has_secret(v, false))
        || after.as_ref().is_some_and(|v| json_has_secret(v, false));
    AttributeChange {
        path: d.path.to_string(),
        before: if sensitive { None } else { before },
        after: if sensitive { None } else { after },
        sensitive,
        forces_replacement: d.forces_replacement,
    }
}

/// A file's value made comparable with the workspace's: a masked value means what the
/// workspace holds there; a placeholder that agrees with the workspace's (masked) value is that
/// value.
/// A file's resource made comparable with a workspace resource (see [`settle`]): what
/// [`super::apply`] uses to recognise a resource it created when the answer was lost.
pub fn comparable(file: &Resource, live: &Resource, secrets: &dyn SecretSource) -> Resource {
    let mut out = file.clone();
    settle(&mut out, live, secrets);
    out
}

fn settle(resource: &mut Resource, live: &Resource, secrets: &dyn SecretSource) {
    for (name, value) in resource.attributes.iter_mut() {
        if let Some(served) = live.attributes.get(name) {
            value.zip_strings(served, &mut |s, l| settle_str(s, l, secrets));
        }
    }
}

fn settle_str(s: &mut String, served: &str, secrets: &dyn SecretSource) {
    // A secret written in clear (Segment's own export sometimes does) agrees with its mask: the
    // workspace cannot show more, so it is no change.
    let clear_agrees = api::is_masked(served) && api::mask(s) == served;
    if api::is_masked(s)
        || clear_agrees
        || (s.contains("@@") && secrets::agrees_with_mask(s, served, secrets))
    {
        served.clone_into(s);
    }
}

/// An attribute that came in a later provider release than its type, absent from a file (not
/// even `= null`): the file was written before it existed and says nothing about it, so the
/// workspace's value stands (a 2024 subscription file has no `reverse_etl_schedule`; it must
/// not remove the schedule).
fn keep_unstated(resource: &mut Resource, text: Option<&[u8]>, live: &Resource) {
    let Some(text) = text.and_then(|t| std::str::from_utf8(t).ok()) else {
        return;
    };
    let history = resource.ty.history();
    let later: Vec<&str> = history
        .attributes
        .iter()
        .filter(|h| !h.path.contains(['.', '[']) && h.lifetime.since > history.since)
        .map(|h| h.path)
        .collect();
    if later.iter().all(|a| !live.attributes.contains_key(*a)) {
        return;
    }
    let Some(stated) = crate::hcl::stated_attributes(text, "") else {
        return;
    };
    for name in later {
        if !stated.iter().any(|s| s == name)
            && let Some(value) = live.attributes.get(name)
        {
            resource.attributes.insert(name.to_owned(), value.clone());
        }
    }
}

/// One side of the merge as a file holds it: the resource and the file's bytes (which tell
/// what the file writes at all, see [`keep_unstated`]).
struct FileState<'a> {
    resource: &'a Resource,
    text: Option<&'a [u8]>,
}

/// The three-way merge of one resource: the workspace's state with the file's changes since
/// the base applied. `None` when they conflict (the conflicts are recorded in `plan`).
fn merge(
    base: Option<FileState<'_>>,
    new: FileState<'_>,
    live: &Resource,
    file: &str,
    secrets: &dyn SecretSource,
    plan: &mut Plan,
) -> Option<Resource> {
    let (new_text, base_text) = (new.text, base.as_ref().and_then(|b| b.text));
    let base = base.map(|b| b.resource);
    let mut new = new.resource.clone();
    settle(&mut new, live, secrets);
    keep_unstated(&mut new, new_text, live);
    let mut merged = live.clone();
    let Some(base) = base else {
        // No base: the file is the whole truth (a two-way comparison).
        merged.attributes = new.attributes;
        return Some(merged);
    };
    let mut base = base.clone();
    settle(&mut base, live, secrets);
    keep_unstated(&mut base, base_text, live);
    let address = address(live);
    let ty = live.ty;
    let names: BTreeSet<&String> = base
        .attributes
        .keys()
        .chain(new.attributes.keys())
        .chain(live.attributes.keys())
        .collect();
    let null = Value::Null;
    let mut conflicts = Vec::new();
    let mut attributes = Attributes::new();
    for name in names {
        let Some(attribute) = ty.attribute(name) else {
            continue;
        };
        if !attribute.is_configurable() {
            continue;
        }
        let b = base.attributes.get(name).unwrap_or(&null);
        let n = new.attributes.get(name).unwrap_or(&null);
        let l = live.attributes.get(name).unwrap_or(&null);
        let same = |x: &Value, y: &Value| diff::same(&attribute.ty, x, y);
        let user_changed = !same(b, n);
        let workspace_changed = !same(b, l);
        let value = if !user_changed {
            if workspace_changed {
                plan.kept.push(Kept {
                    address: address.clone(),
                    file: file.to_owned(),
                    path: name.clone(),
                });
            }
            l.clone()
        } else if !workspace_changed || same(n, l) {
            n.clone()
        } else if let (Value::Json(bj), Value::Json(nj), Value::Json(lj)) = (b, n, l) {
            let mut at = Merge3 {
                address: &address,
                file,
                conflicts: &mut conflicts,
                kept: &mut plan.kept,
            };
            Value::Json(
                at.json(name.clone(), Some(bj), Some(nj), Some(lj))
                    .unwrap_or(serde_json::Value::Null),
            )
        } else {
            let (bj, lj, nj) = (b.to_json(), l.to_json(), n.to_json());
            let sensitive = is_sensitive_name(name)
                || [&bj, &lj, &nj].iter().any(|v| json_has_secret(v, false));
            conflicts.push(Conflict {
                address: address.clone(),
                file: file.to_owned(),
                path: name.clone(),
                base: (!sensitive).then_some(bj).filter(|v| !v.is_null()),
                workspace: (!sensitive).then_some(lj).filter(|v| !v.is_null()),
                file_value: (!sensitive).then_some(nj).filter(|v| !v.is_null()),
                sensitive,
            });
            l.clone()
        };
        if !value.is_null() {
            attributes.insert(name.clone(), value);
        }
    }
    if !conflicts.is_empty() {
        plan.conflicts.extend(conflicts);
        return None;
    }
    merged.attributes = attributes;
    Some(merged)
}

/// Key-by-key three-way merge of JSON documents.
struct Merge3<'a> {
    address: &'a str,
    file: &'a str,
    conflicts: &'a mut Vec<Conflict>,
    kept: &'a mut Vec<Kept>,
}

impl Merge3<'_> {
    fn json(
        &mut self,
        path: String,
        b: Option<&serde_json::Value>,
        n: Option<&serde_json::Value>,
        l: Option<&serde_json::Value>,
    ) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        let null = J::Null;
        let (bv, nv, lv) = (b.unwrap_or(&null), n.unwrap_or(&null), l.unwrap_or(&null));
        if nv == bv {
            if lv != bv {
                self.kept.push(Kept {
                    address: self.address.to_owned(),
                    file: self.file.to_owned(),
                    path: path.clone(),
                });
            }
            return l.cloned();
        }
        if lv == bv || nv == lv {
            return n.cloned();
        }
        if let (J::Object(bo), J::Object(no), J::Object(lo)) = (bv, nv, lv) {
            let keys: BTreeSet<&String> = bo.keys().chain(no.keys()).chain(lo.keys()).collect();
            let mut out = serde_json::Map::new();
            for k in keys {
                if let Some(v) = self.json(format!("{path}.{k}"), bo.get(k), no.get(k), lo.get(k))
                    && !v.is_null()
                {
                    out.insert(k.clone(), v);
                }
            }
            return Some(J::Object(out));
        }
        let last = path.rsplit('.').next().unwrap_or_default();
        let sensitive = path.split('.').any(is_sensitive_name)
            || [bv, nv, lv]
                .iter()
                .any(|v| json_has_secret(v, is_sensitive_name(last)));
        self.conflicts.push(Conflict {
            address: self.address.to_owned(),
            file: self.file.to_owned(),
            path,
            base: (!sensitive).then(|| b.cloned()).flatten(),
            workspace: (!sensitive).then(|| l.cloned()).flatten(),
            file_value: (!sensitive).then(|| n.cloned()).flatten(),
            sensitive,
        });
        l.cloned()
    }
}
