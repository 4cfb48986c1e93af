//! Git -> workspace: plans and applies against the embedded workspace over HTTP, checked by what
//! the workspace holds afterwards (a full export) and by what the tree holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util;
use crate::util::command::{Gitsync, Ran, gitsync};
use crate::util::{
    TestWorkspace, commit_all, copy_tree, exported_tree_of, fixture_dir, git, tree_of,
};
use gitsync::model::{Resource, ResourceType, Value};
use gitsync::sync::apply::{
    self, ApplyOptions, ApplyReport, DirSink, FileJournal, Journal, Quiet, Session,
};
use gitsync::sync::export::render_workspace;
use gitsync::sync::plan::{self, Action, Plan, PlanInput};
use gitsync::sync::secrets::{FileSecrets, NoSecrets, SecretSource};
use gitsync::workspace::Client;

const TOKEN: &str = "plan-apply-token";

/// A copy of a fixture tree to edit, with its workspace (tests/pull_journal.rs applies with it
/// too).
pub(crate) struct Setup {
    ws: TestWorkspace,
    pub(crate) client: Client,
    dir: tempfile::TempDir,
}

impl Setup {
    pub(crate) async fn new(forms: &[&str]) -> Setup {
        let ws = TestWorkspace::start(Some(TOKEN)).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for form in forms {
            copy_tree(&fixture_dir(form), dir.path());
        }
        gitsync::workspace::embedded::seed_from_hcl(&ws.store, dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        let client = ws.client(TOKEN);
        Setup { ws, client, dir }
    }

    fn tree(&self) -> &Path {
        self.dir.path()
    }

    fn files(&self) -> Vec<(String, Vec<u8>)> {
        gitsync::sync::tree::read_dir_files(self.tree()).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn plan(&self, base: Option<&[(String, Vec<u8>)]>, secrets: &dyn SecretSource) -> Plan {
        self.try_plan(base, secrets)
            .await
            .unwrap_or_else(|e| panic!("planning: {e}"))
    }

    async fn try_plan(
        &self,
        base: Option<&[(String, Vec<u8>)]>,
        secrets: &dyn SecretSource,
    ) -> Result<Plan, plan::PlanError> {
        let head = self.files();
        plan::plan(
            &self.client,
            PlanInput {
                base,
                base_name: None,
                head: &head,
                secrets,
                send_secrets: Default::default(),
            },
        )
        .await
    }

    async fn apply(&self, made: &Plan, journal: &Path, secrets: &dyn SecretSource) -> ApplyReport {
        self.try_apply(made, journal, secrets, true)
            .await
            .unwrap_or_else(|e| panic!("applying: {e}"))
    }

    async fn try_apply(
        &self,
        made: &Plan,
        journal: &Path,
        secrets: &dyn SecretSource,
        allow_deletes: bool,
    ) -> Result<ApplyReport, apply::ApplyError> {
        let mut session =
            Session::open(made.clone(), FileJournal::new(journal), "the test").await?;
        session
            .run(
                &self.client,
                &mut DirSink::new(self.tree()),
                &ApplyOptions {
                    allow_deletes,
                    secrets,
                    pace: None,
                    allow_duplicates: false,
                },
                &mut Quiet,
            )
            .await
    }

    /// The workspace, exported, against the tree: byte for byte (secrets Segment wrote in clear
    /// are masked on both sides).
    async fn assert_export_equals_tree(&self, what: &str) {
        let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
        let (exported, _) =
            render_workspace(&self.client, &types, &mut gitsync::sync::export::Quiet)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        let mut exported = exported;
        // As an export into the tree (or a sync onto its branch) writes it.
        gitsync::sync::export::keep_placeholders(&mut exported, |path| {
            std::fs::read_to_string(self.tree().join(path)).ok()
        });
        let exported: BTreeMap<String, String> = exported.into_iter().collect();
        let tree = exported_tree_of(self.tree());
        let only_export: Vec<&String> =
            exported.keys().filter(|k| !tree.contains_key(*k)).collect();
        let only_tree: Vec<&String> = tree.keys().filter(|k| !exported.contains_key(*k)).collect();
        assert!(
            only_export.is_empty() && only_tree.is_empty(),
            "{what}: only in the export: {only_export:?}; only in the tree: {only_tree:?}"
        );
        for (path, text) in &tree {
            assert_eq!(
                &exported[path], text,
                "{what}: {path} differs from the export"
            );
        }
    }

    fn read(&self, path: &str) -> Resource {
        let text = std::fs::read_to_string(self.tree().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        gitsync::hcl::parse(&text, path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn write(&self, path: &str, resource: &Resource) {
        let text = gitsync::hcl::render(resource).unwrap_or_else(|e| panic!("{path}: {e}"));
        self.write_text(path, &text);
    }

    fn write_text(&self, path: &str, text: &str) {
        let full = self.tree().join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(self.tree()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&full, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.tree().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    fn paths_of(&self, ty: ResourceType) -> Vec<String> {
        tree_of(self.tree())
            .into_keys()
            .filter(|p| p.starts_with(&format!("{}/", ty.kind().directory)))
            .collect()
    }

    /// The key `gitsync plan --out` seals plans for this workspace with.
    fn plan_key(&self) -> plan::PlanKey {
        use gitsync::workspace::Workspace;
        plan::PlanKey::new(self.client.point_key())
    }

    fn journal(&self, name: &str) -> PathBuf {
        // Beside the tree, not in it.
        self.dir.path().join(format!(".{name}.journal"))
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn set(resource: &mut Resource, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().unwrap_or_else(|| panic!("empty path"));
    let mut map = &mut resource.attributes;
    for p in parents {
        map = match map.get_mut(*p) {
            Some(Value::Object(m)) => m,
            other => panic!("{p} is not an object: {other:?}"),
        };
    }
    map.insert((*last).to_owned(), value);
}

/// The types of the 2025 sample, each with one change of each kind a person could make.
fn new_copy(ty: ResourceType, mut r: Resource) -> Resource {
    r.id = None;
    // A mask cannot be written; a new resource's secrets are placeholders.
    if let Some(Value::Json(settings)) = r.attributes.get_mut("settings") {
        unmask(settings);
    }
    r.new_name = Some(format!("new_{}", ty.kind().directory));
    match ty {
        ResourceType::Label => set(&mut r, &["value"], s("created-by-a-file")),
        ResourceType::User => set(&mut r, &["email"], s("new.person@example.com")),
        ResourceType::Source => set(&mut r, &["slug"], s("created-by-a-file")),
        _ => {}
    }
    r
}

fn unmask(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::String(text) if gitsync::workspace::api::is_masked(text) => {
            *text = "@@copy_secret@@".into();
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unmask),
        serde_json::Value::Object(map) => map.values_mut().for_each(unmask),
        _ => {}
    }
}

/// The secrets file of the tests.
fn secrets(dir: &Path) -> FileSecrets {
    let path = dir.join("secrets.env");
    std::fs::write(&path, "copy_secret=a-new-secret-0123456789\n")
        .unwrap_or_else(|e| panic!("{e}"));
    FileSecrets::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A change that forces replacement, per type: an attribute the schema says forces it (at the
/// top or a catalog entry's `id`), given another resource's value of it; a label's description
/// and a user's email get new ones. False for types without one (transformations, groups).
fn replace_edit(ty: ResourceType, r: &mut Resource, others: &[Resource]) -> bool {
    for attribute in ty.kind().attributes.iter().filter(|a| a.is_configurable()) {
        let nested = attribute
            .ty
            .nested()
            .is_some_and(|n| n.iter().any(|n| n.name == "id" && n.forces_replacement));
        if !(attribute.forces_replacement || nested) {
            continue;
        }
        match attribute.name {
            "email" => {
                set(r, &["email"], s("replaced.person@example.com"));
                return true;
            }
            "description" => {
                set(r, &["description"], s("now described"));
                return true;
            }
            name => {
                let current = r.get(name).clone();
                if let Some(other) = others
                    .iter()
                    .map(|o| o.get(name).clone())
                    .find(|v| !v.is_null() && *v != current)
                {
                    r.attributes.insert(name.to_owned(), other);
                    return true;
                }
            }
        }
    }
    false
}

/// An attribute change that updates in place, per type (labels have none: every attribute of
/// a label forces replacement).
fn update(ty: ResourceType, r: &mut Resource) -> bool {
    match ty {
        ResourceType::Source
        | ResourceType::Destination
        | ResourceType::Warehouse
        | ResourceType::DestinationSubscription
        | ResourceType::Transformation
        | ResourceType::ReverseEtlModel
        | ResourceType::TrackingPlan => set(r, &["name"], s("renamed by a pull request")),
        ResourceType::DestinationFilter => set(r, &["title"], s("retitled by a pull request")),
        ResourceType::Function => set(r, &["description"], s("described by a pull request")),
        ResourceType::User => {
            let Value::List(permissions) = r.get("permissions").clone() else {
                return false;
            };
            let mut permissions = permissions;
            if let Some(Value::Object(first)) = permissions.first_mut() {
                first.insert("role_id".into(), s("2TSCYxV9AqFDwOFtLeU6bTtlNdN"));
            }
            set(r, &["permissions"], Value::List(permissions));
        }
        _ => return false,
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_samples_plan_no_changes_in_either_form_or_both_mixed() {
    for forms in [&["v2025"][..], &["v2024"], &["v2025", "v2024"]] {
        let setup = Setup::new(forms).await;
        let made = setup.plan(None, &NoSecrets).await;
        assert!(
            made.changes.is_empty() && made.conflicts.is_empty(),
            "{forms:?}: {}",
            plan::human(&made)
        );
        assert_eq!(made.unchanged, setup.files().len(), "{forms:?}");
        assert_eq!(
            plan::summary_line(&made),
            "No changes. The workspace matches the files."
        );
    }
}

/// For every type of the sample: create (a new file with an arbitrary name), update, replace and
/// delete through plan + apply, each round followed by a full export that equals the tree byte
/// for byte, new resources under their id names.
#[tokio::test(flavor = "multi_thread")]
async fn every_type_is_created_updated_replaced_and_deleted_from_files() {
    // Both samples (the 2024 one has the user groups), the 2024 files brought into today's form
    // first, as `gitsync fmt` does, so that the export can equal the tree byte for byte.
    let setup = Setup::new(&["v2025", "v2024"]).await;
    for (path, text) in util::tf_files(setup.tree()) {
        let canonical = gitsync::hcl::canonicalize(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        setup.write_text(&path, &canonical);
    }
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets(keep.path());
    let types: Vec<ResourceType> = ResourceType::git_sync_types()
        .filter(|ty| !setup.paths_of(*ty).is_empty())
        .collect();
    assert_eq!(types.len(), 12, "{types:?}");

    // Round 1: one new resource of each type, in a file with a name of the person's choosing.
    let base = setup.files();
    for ty in &types {
        let existing = setup.paths_of(*ty)[0].clone();
        let fresh = new_copy(*ty, setup.read(&existing));
        setup.write(
            &format!("{}/a file someone added.tf", ty.kind().directory),
            &fresh,
        );
    }
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.counts(), (types.len(), 0, 0), "{}", plan::human(&made));
    let report = setup.apply(&made, &setup.journal("create"), &secrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    assert_eq!(report.applied.len(), types.len());
    for ty in &types {
        let asked = format!("{}/a file someone added.tf", ty.kind().directory);
        assert!(
            !setup.tree().join(&asked).exists(),
            "{asked} is still there"
        );
    }
    setup.assert_export_equals_tree("after the creates").await;
    assert!(setup.plan(None, &secrets).await.is_empty());

    // Round 2: an in-place change of each type that has one.
    let base = setup.files();
    let mut updated = Vec::new();
    for ty in &types {
        let path = setup.paths_of(*ty)[0].clone();
        let mut r = setup.read(&path);
        if update(*ty, &mut r) {
            setup.write(&path, &r);
            updated.push(path);
        }
    }
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(
        made.counts(),
        (0, updated.len(), 0),
        "{}",
        plan::human(&made)
    );
    assert!(made.changes.iter().all(|c| c.action == Action::Update));
    let report = setup.apply(&made, &setup.journal("update"), &secrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    setup.assert_export_equals_tree("after the updates").await;

    // Round 3: for each type that has one, a change that forces replacement (a label's
    // description, a source's catalog entry, a destination's source, a user's email, ...): the
    // resource is deleted and created again under a new id.
    let base = setup.files();
    let mut replaced = Vec::new();
    for ty in &types {
        let paths = setup.paths_of(*ty);
        let others: Vec<Resource> = paths.iter().map(|p| setup.read(p)).collect();
        let mut r = setup.read(&paths[0]);
        if let Some(Value::Json(settings)) = r.attributes.get_mut("settings") {
            unmask(settings);
        }
        if replace_edit(*ty, &mut r, &others) {
            setup.write(&paths[0], &r);
            replaced.push(paths[0].clone());
        }
    }
    assert!(
        replaced.len() >= 8,
        "only {} types replaced: {replaced:?}",
        replaced.len()
    );
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.changes.len(), replaced.len(), "{}", plan::human(&made));
    assert!(
        made.changes.iter().all(|c| c.action == Action::Replace),
        "{}",
        plan::human(&made)
    );
    assert!(plan::human(&made).contains("possible data loss"));
    let refused = setup
        .try_apply(&made, &setup.journal("replace"), &secrets, false)
        .await;
    assert!(
        matches!(refused, Err(apply::ApplyError::DeletesNotAllowed(ref d)) if d.len() == replaced.len()),
        "{refused:?}"
    );
    let report = setup
        .apply(&made, &setup.journal("replace"), &secrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    for path in replaced.iter().filter(|p| !p.starts_with("labels/")) {
        // (A label is named by its key and value, which stay: its file keeps its name.)
        assert!(!setup.tree().join(path).exists(), "{path} kept its old id");
    }
    setup.assert_export_equals_tree("after the replaces").await;

    // Round 4: the resources round 1 created, deleted by removing their files.
    let base = setup.files();
    let mut removed = 0;
    for ty in &types {
        let mut paths = setup.paths_of(*ty);
        paths.sort_by_key(|p| {
            std::fs::metadata(setup.tree().join(p))
                .and_then(|m| m.modified())
                .ok()
        });
        // The newest file of each type is the one created in round 1 (or rewritten in round 3).
        if let Some(path) = paths.last() {
            setup.remove(path);
            removed += 1;
        }
    }
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.counts(), (0, 0, removed), "{}", plan::human(&made));
    let report = setup.apply(&made, &setup.journal("delete"), &secrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    setup.assert_export_equals_tree("after the deletes").await;
    assert!(setup.plan(None, &secrets).await.is_empty());
    let _ = &setup.ws;
}

/// The first source of the sample, by path, and its resource.
fn first_source(setup: &Setup) -> (String, Resource) {
    let path = setup.paths_of(ResourceType::Source)[0].clone();
    let r = setup.read(&path);
    (path, r)
}

async fn live(setup: &Setup, r: &Resource) -> Resource {
    use gitsync::workspace::Workspace;
    let id = r.import_id().unwrap_or_else(|e| panic!("{e}"));
    setup
        .client
        .get(r.ty, &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{id} is not in the workspace"))
}

/// Someone edits a resource in the app (through the API, as the app does).
async fn edit_in_the_app(setup: &Setup, r: &Resource, edit: impl FnOnce(&mut Resource)) {
    use gitsync::workspace::Workspace;
    let mut now = live(setup, r).await;
    edit(&mut now);
    setup
        .client
        .update(&now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_edit_of_the_same_value_is_a_conflict_and_nothing_is_applied() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let (path, source) = first_source(&setup);
    edit_in_the_app(&setup, &source, |r| {
        set(r, &["name"], s("named in the app"))
    })
    .await;
    let mut edited = source.clone();
    set(&mut edited, &["name"], s("named in a file"));
    setup.write(&path, &edited);
    // Another, independent change in the same plan.
    let (other_path, mut other) = {
        let p = setup.paths_of(ResourceType::Destination)[0].clone();
        let r = setup.read(&p);
        (p, r)
    };
    set(&mut other, &["enabled"], Value::Bool(false));
    setup.write(&other_path, &other);

    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.conflicts.len(), 1, "{}", plan::human(&made));
    let conflict = &made.conflicts[0];
    assert_eq!(
        (conflict.path.as_str(), &conflict.file),
        ("name", &path),
        "{conflict:?}"
    );
    assert_eq!(
        conflict.workspace,
        Some(serde_json::json!("named in the app"))
    );
    assert_eq!(
        conflict.file_value,
        Some(serde_json::json!("named in a file"))
    );
    assert_eq!(conflict.base, source.get("name").to_json().into());
    let text = plan::human(&made);
    assert!(
        text.contains("workspace: \"named in the app\"")
            && text.contains("file:      \"named in a file\""),
        "{text}"
    );
    let refused = setup
        .try_apply(&made, &setup.journal("c"), &NoSecrets, true)
        .await;
    assert!(
        matches!(refused, Err(apply::ApplyError::Conflicts)),
        "{refused:?}"
    );
    assert_eq!(
        live(&setup, &source).await.get("name"),
        &s("named in the app")
    );
    assert_eq!(
        live(&setup, &other).await.get("enabled"),
        &Value::Bool(true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_edit_of_another_value_is_kept_noted_and_still_there_after_the_apply() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    // A destination: the app turns it off and changes one setting; the file renames it and
    // changes another setting. (One without masked secrets: writing its settings would send
    // them, which a plan refuses.)
    let path = setup
        .paths_of(ResourceType::Destination)
        .into_iter()
        .find(|p| {
            let text = std::fs::read_to_string(setup.tree().join(p)).unwrap_or_default();
            let keys = gitsync::hcl::parse(&text, p)
                .ok()
                .and_then(|r| match r.get("settings") {
                    Value::Json(j) => j.as_object().map(|m| m.len()),
                    _ => None,
                })
                .unwrap_or(0);
            !text.contains(gitsync::workspace::api::MASK_BULLETS) && keys >= 2
        })
        .unwrap_or_else(|| panic!("no destination without secrets"));
    let dest = setup.read(&path);
    let Value::Json(settings) = dest.get("settings").clone() else {
        panic!("no settings in {path}")
    };
    let keys: Vec<String> = settings
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert!(keys.len() >= 2, "{path} has too few settings");
    let (app_key, file_key) = (keys[0].clone(), keys[1].clone());
    // A value that is surely not the one there.
    let flip = |s: &serde_json::Value, k: &str| {
        let mut s = s.clone();
        s[k] = serde_json::json!(format!("changed {k}"));
        s
    };
    let app_settings = flip(&settings, &app_key);
    edit_in_the_app(&setup, &dest, |r| {
        set(r, &["enabled"], Value::Bool(false));
        let Value::Json(now) = r.get("settings").clone() else {
            return;
        };
        set(r, &["settings"], Value::Json(flip(&now, &app_key)));
    })
    .await;
    let mut edited = dest.clone();
    set(&mut edited, &["name"], s("renamed in a file"));
    set(
        &mut edited,
        &["settings"],
        Value::Json(flip(&settings, &file_key)),
    );
    setup.write(&path, &edited);

    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert!(made.conflicts.is_empty(), "{}", plan::human(&made));
    assert_eq!(made.counts(), (0, 1, 0), "{}", plan::human(&made));
    let changed: Vec<&str> = made.changes[0]
        .attributes
        .iter()
        .map(|a| a.path.as_str())
        .collect();
    assert_eq!(changed, ["name".to_owned(), format!("settings.{file_key}")]);
    let kept: Vec<&str> = made.kept.iter().map(|k| k.path.as_str()).collect();
    assert!(
        kept.contains(&"enabled") && kept.contains(&format!("settings.{app_key}").as_str()),
        "{kept:?}"
    );
    assert!(plan::human(&made).contains("Kept: the workspace changed these"));

    let report = setup.apply(&made, &setup.journal("k"), &NoSecrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    let now = live(&setup, &dest).await;
    assert_eq!(now.get("name"), &s("renamed in a file"));
    assert_eq!(
        now.get("enabled"),
        &Value::Bool(false),
        "the app's change was lost"
    );
    let Value::Json(now_settings) = now.get("settings") else {
        panic!()
    };
    assert_eq!(
        now_settings[&app_key], app_settings[&app_key],
        "the app's setting was lost"
    );
    assert_eq!(
        now_settings[&file_key],
        flip(&settings, &file_key)[&file_key]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_plan_is_refused_and_nothing_is_applied() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let (path, source) = first_source(&setup);
    let mut edited = source.clone();
    set(&mut edited, &["name"], s("renamed in a file"));
    setup.write(&path, &edited);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (0, 1, 0));

    // The tree moved on after the plan was made.
    let other = setup.paths_of(ResourceType::Source)[1].clone();
    let mut r = setup.read(&other);
    set(&mut r, &["name"], s("another edit"));
    setup.write(&other, &r);
    let refused = setup
        .try_apply(&made, &setup.journal("t"), &NoSecrets, true)
        .await;
    let message = refused.as_ref().map(|_| ()).map_err(ToString::to_string);
    assert!(
        matches!(refused, Err(apply::ApplyError::StaleTree { .. })),
        "{message:?}"
    );
    assert!(
        format!("{message:?}").contains("Make a new plan"),
        "{message:?}"
    );
    assert_eq!(live(&setup, &source).await.get("name"), source.get("name"));

    // The workspace moved on after the plan was made.
    let made = setup.plan(Some(&base), &NoSecrets).await;
    edit_in_the_app(&setup, &source, |r| {
        set(r, &["enabled"], Value::Bool(false))
    })
    .await;
    let refused = setup
        .try_apply(&made, &setup.journal("w"), &NoSecrets, true)
        .await;
    match refused {
        Err(apply::ApplyError::StaleResources(names)) => {
            assert_eq!(names.len(), 1, "{names:?}");
            assert!(names[0].contains(&plan::address(&source)), "{names:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(live(&setup, &source).await.get("name"), source.get("name"));
}

/// The command line, as a person runs it, against the test workspace.
struct Cli<'s> {
    setup: &'s Setup,
    home: tempfile::TempDir,
}

impl<'s> Cli<'s> {
    fn new(setup: &'s Setup) -> Cli<'s> {
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(home.path().join("token"), TOKEN).unwrap_or_else(|e| panic!("{e}"));
        Cli { setup, home }
    }

    fn command(&self, args: &[&str]) -> Gitsync {
        let mut c = gitsync(args);
        c.args(["--workspace", &self.setup.ws.running.url()])
            .arg("--token-file")
            .arg(self.home.path().join("token"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("RUST_LOG", "debug")
            .env_remove("PUBLIC_API_TOKEN");
        c
    }

    fn run(&self, args: &[&str]) -> Ran {
        self.command(args).run()
    }
}

/// Everything the workspace holds, as an export renders it.
async fn snapshot(setup: &Setup) -> BTreeMap<String, String> {
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (tree, _) = render_workspace(&setup.client, &types, &mut gitsync::sync::export::Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tree.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_its_place_and_nothing_is_changed() {
    let setup = Setup::new(&["v2025"]).await;
    let before = snapshot(&setup).await;
    let cli = Cli::new(&setup);
    let label = |name: &str| {
        format!(
            "resource \"segment_label\" \"{name}\" {{\n  description = null\n  key         = \"team\"\n  value       = \"{name}\"\n}}\n"
        )
    };
    let bad = [
        (
            "labels/malformed.tf",
            "resource \"segment_label\" \"x\" {\n  key = \n}\n".to_owned(),
            "labels/malformed.tf:2:",
        ),
        (
            "labels/two.tf",
            format!("{}{}", label("a"), label("b")),
            "labels/two.tf:6:1",
        ),
        (
            "labels/variable.tf",
            label("v").replace("\"team\"", "var.team"),
            "labels/variable.tf:3:17",
        ),
        (
            "labels/reference.tf",
            label("r").replace("\"team\"", "segment_label.x.key"),
            "labels/reference.tf:3:17",
        ),
        (
            "labels/provider.tf",
            format!("provider \"segment\" {{\n}}\n{}", label("p")),
            "labels/provider.tf:1:1",
        ),
        (
            "labels/unknown-type.tf",
            "resource \"segment_nonsense\" \"x\" {\n}\n".to_owned(),
            "labels/unknown-type.tf:1:10",
        ),
        (
            "labels/unknown-attribute.tf",
            label("u").replace("  key", "  colour = \"red\"\n  key"),
            "labels/unknown-attribute.tf:3:3",
        ),
        (
            "labels/missing-secret.tf",
            label("s").replace("description = null", "description = \"@@not_given@@\""),
            "labels/missing-secret.tf",
        ),
    ];
    for (path, text, _) in &bad {
        setup.write_text(path, text);
    }
    let ran = cli.run(&["plan", "--dir", &setup.tree().display().to_string()]);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    for (path, _, place) in &bad {
        assert!(
            ran.stderr.contains(place),
            "{path}: no `{place}` in:\n{}",
            ran.stderr
        );
    }
    assert!(ran.stderr.contains("@@not_given@@"), "{}", ran.stderr);
    // Nothing was written, and apply refuses the same tree.
    let ran = cli.run(&[
        "apply",
        "--dir",
        &setup.tree().display().to_string(),
        "--auto-approve",
        "--no-pace",
    ]);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(snapshot(&setup).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_resolved_on_write_and_never_printed_logged_or_stored() {
    const SECRET: &str = "s3cr3t-value-nobody-may-see-9f8e";
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let secrets_file = cli.home.path().join("prod.env");
    std::fs::write(&secrets_file, format!("dest_key={SECRET}\n")).unwrap_or_else(|e| panic!("{e}"));
    // A new destination whose key is a placeholder, and a source update that adds one.
    let path = setup.paths_of(ResourceType::Destination)[0].clone();
    let mut fresh = new_copy(ResourceType::Destination, setup.read(&path));
    if let Some(Value::Json(settings)) = fresh.attributes.get_mut("settings") {
        settings["apiKey"] = serde_json::json!("@@dest_key@@");
    }
    setup.write("destinations/new-with-a-secret.tf", &fresh);
    let (source_path, mut source) = first_source(&setup);
    if let Some(Value::Json(settings)) = source.attributes.get_mut("settings") {
        settings["token"] = serde_json::json!("Bearer @@dest_key@@");
    }
    setup.write(&source_path, &source);
    let dir = setup.tree().display().to_string();
    let plan_file = cli.home.path().join("change.plan");
    let plan_path = plan_file.display().to_string();
    let secrets_arg = secrets_file.display().to_string();

    // Without the secret, nothing can be planned.
    let ran = cli.run(&["plan", "--dir", &dir]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("no secret for @@dest_key@@"),
        "{}",
        ran.stderr
    );

    let runs = [
        cli.run(&[
            "plan",
            "--dir",
            &dir,
            "--secrets",
            &secrets_arg,
            "--out",
            &plan_path,
        ]),
        cli.run(&["plan", "--dir", &dir, "--secrets", &secrets_arg, "--json"]),
        cli.run(&["apply", &plan_path, "--secrets", &secrets_arg, "--no-pace"]),
    ];
    for (i, ran) in runs.iter().enumerate() {
        assert_eq!(ran.code, Some(0), "run {i}: {}\n{}", ran.stdout, ran.stderr);
    }
    assert!(runs[0].stdout.contains("(sensitive)"), "{}", runs[0].stdout);
    let mut scanned = vec![(
        "plan file",
        std::fs::read_to_string(&plan_file).unwrap_or_default(),
    )];
    let mut journal = plan_file.as_os_str().to_owned();
    journal.push(".journal");
    scanned.push((
        "journal",
        std::fs::read_to_string(&journal).unwrap_or_default(),
    ));
    for (i, ran) in runs.iter().enumerate() {
        scanned.push(("stdout", ran.stdout.clone()));
        scanned.push(("stderr", ran.stderr.clone()));
        let _ = i;
    }
    for (path, text) in tree_of(setup.tree()) {
        scanned.push(("tree", format!("{path}\n{text}")));
    }
    for (what, text) in &scanned {
        assert!(!text.is_empty() || *what == "stderr", "{what} is empty");
        assert!(
            !text.contains(SECRET),
            "the secret is in the {what}:\n{text}"
        );
        assert!(
            !text.contains(&SECRET[..12]),
            "part of the secret is in the {what}"
        );
    }
    // It reached the workspace: what it serves is the mask of exactly that secret.
    let served = snapshot(&setup).await;
    let mask = gitsync::workspace::api::mask(SECRET);
    let created: Vec<&String> = served
        .iter()
        .filter(|(p, t)| p.starts_with("destinations/") && t.contains(&mask))
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "the new destination does not hold the secret"
    );
    let source_now = live(&setup, &source).await;
    let Value::Json(settings) = source_now.get("settings") else {
        panic!()
    };
    assert_eq!(
        settings["token"],
        serde_json::json!(gitsync::workspace::api::mask(&format!("Bearer {SECRET}")))
    );
    // The rewritten files keep the placeholders, and a new plan sees no change.
    let tree = tree_of(setup.tree());
    assert!(
        tree.values().any(|t| t.contains("\"@@dest_key@@\"")),
        "placeholder lost"
    );
    assert!(
        tree[&source_path].contains("Bearer @@dest_key@@"),
        "{}",
        tree[&source_path]
    );
    let again = cli.run(&["plan", "--dir", &dir, "--secrets", &secrets_arg]);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_with_base_plans_only_the_changed_files_and_sees_removed_ones() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree();
    git(dir, &["init", "-q", "-b", "main"]);
    commit_all(dir, "base");
    let (path, mut source) = first_source(&setup);
    set(&mut source, &["enabled"], Value::Bool(false));
    setup.write(&path, &source);
    let removed = setup.paths_of(ResourceType::DestinationSubscription)[0].clone();
    setup.remove(&removed);
    // A rename and a reformat are no change.
    let renamed = setup.paths_of(ResourceType::Warehouse)[0].clone();
    std::fs::rename(dir.join(&renamed), dir.join("warehouses/renamed.tf"))
        .unwrap_or_else(|e| panic!("{e}"));
    let d = dir.display().to_string();
    let ran = cli.run(&["plan", "--dir", &d, "--base", "HEAD", "--json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let made: Plan =
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    assert_eq!(made.base.as_deref(), Some("HEAD"));
    let actions: Vec<(Action, &str)> = made
        .changes
        .iter()
        .map(|c| (c.action, c.file.as_str()))
        .collect();
    assert_eq!(
        actions,
        // In the order apply runs them: deletes last.
        [
            (Action::Update, path.as_str()),
            (Action::Delete, removed.as_str())
        ]
    );
    // Only the changed files were read from the workspace: one each.
    assert_eq!(made.workspace_reads, 3, "{made:?}");
    let text = cli.run(&["plan", "--dir", &d, "--base", "HEAD"]).stdout;
    assert!(
        text.contains("Plan: 0 to add, 1 to change, 1 to destroy."),
        "{text}"
    );
    let detailed = cli.run(&["plan", "--dir", &d, "--base", "HEAD", "--detailed-exitcode"]);
    assert_eq!(
        detailed.code,
        Some(2),
        "changes, detailed: {}",
        detailed.stderr
    );
    git(dir, &["checkout", "-q", "--", "."]);
    git(dir, &["clean", "-qfd"]);
    let none = cli.run(&["plan", "--dir", &d, "--base", "HEAD", "--detailed-exitcode"]);
    assert_eq!(none.code, Some(0), "no changes, detailed: {}", none.stdout);
    assert!(none.stdout.contains("No changes."), "{}", none.stdout);
    let bad = cli.run(&["plan", "--dir", &d, "--base", "no-such-revision"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("no-such-revision"), "{}", bad.stderr);
}

/// `kill -9` at 20 random moments of one apply: each run picks up where the last was killed,
/// and at the end the workspace is what the files say, with no resource created twice.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_at_random_moments_converges_without_duplicates() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let base = setup.files();
    write_a_change_of_28(&setup);
    let mut made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (20, 8, 0), "{}", plan::human(&made));
    // As `gitsync plan --out` records them.
    made.dir = Some(setup.tree().display().to_string());
    made.workspace = Some(setup.ws.running.url());
    let plan_file = cli.home.path().join("kill.plan");
    std::fs::write(&plan_file, made.to_json(&setup.plan_key())).unwrap_or_else(|e| panic!("{e}"));
    let plan_arg = plan_file.display().to_string();
    // Slow every request down, so that kills land inside requests too.
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"delay": {"count": 1_000_000, "ms": 15}}),
        )
        .await;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    eprintln!("kill moments seed: {seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % 700
    };
    let mut finished_early = 0;
    for _ in 0..20 {
        let mut child = cli
            .command(&["apply", &plan_arg, "--no-pace"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        tokio::time::sleep(std::time::Duration::from_millis(40 + next())).await;
        // SIGKILL: no chance to clean up.
        if child.try_wait().ok().flatten().is_some() {
            finished_early += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let last = cli.run(&["apply", &plan_arg, "--no-pace"]);
    assert_eq!(last.code, Some(0), "{}\n{}", last.stdout, last.stderr);
    assert!(finished_early < 20, "no run was killed mid-apply");
    setup.ws.faults(TOKEN, serde_json::json!({})).await;

    // Converged: the workspace is the tree, each new resource exists once.
    setup
        .assert_export_equals_tree("after the killed applies")
        .await;
    let served = snapshot(&setup).await;
    for i in 0..12 {
        let slug = format!("\"killed-{i}\"");
        let copies = served.values().filter(|t| t.contains(&slug)).count();
        assert_eq!(
            copies, 1,
            "source killed-{i} exists {copies} times (seed {seed})"
        );
    }
    for i in 0..8 {
        assert!(
            served.contains_key(&format!("labels/team_t{i}.tf")),
            "label t{i} missing"
        );
    }
    assert!(setup.plan(None, &NoSecrets).await.is_empty());
}

/// A tracking plan of 450 rules is created and changed rule by rule: the API refuses to replace
/// more than 200 rules at once, so rules go by difference (upserts and removals by type and key).
#[tokio::test(flavor = "multi_thread")]
async fn tracking_plan_rules_are_applied_by_difference_not_replaced() {
    let setup = Setup::new(&["v2025"]).await;
    let path = setup.paths_of(ResourceType::TrackingPlan)[0].clone();
    let template = setup.read(&path);
    let Value::List(rules) = template.get("rules").clone() else {
        panic!("no rules in {path}")
    };
    let first = rules.first().cloned().unwrap_or_else(|| panic!("no rule"));
    let rule = |i: usize, version: i64| {
        let mut r = first.clone();
        if let Value::Object(m) = &mut r {
            m.insert("key".into(), s(&format!("Event {i}")));
            m.insert("type".into(), s("TRACK"));
            m.insert("version".into(), Value::Number(version.into()));
        }
        r
    };
    let base = setup.files();
    let mut fresh = new_copy(ResourceType::TrackingPlan, template.clone());
    set(&mut fresh, &["name"], s("Big plan"));
    set(
        &mut fresh,
        &["rules"],
        Value::List((0..450).map(|i| rule(i, 1)).collect()),
    );
    setup.write("tracking_plans/big.tf", &fresh);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (1, 0, 0));
    let report = setup.apply(&made, &setup.journal("big"), &NoSecrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    setup
        .assert_export_equals_tree("after creating 450 rules")
        .await;

    let base = setup.files();
    let created = setup
        .paths_of(ResourceType::TrackingPlan)
        .into_iter()
        .find(|p| setup.read(p).get("name") == &s("Big plan"))
        .unwrap_or_else(|| panic!("the big plan's file is gone"));
    let mut r = setup.read(&created);
    let mut changed: Vec<Value> = (0..450).filter(|i| *i != 9).map(|i| rule(i, 1)).collect();
    changed[7] = rule(7, 2);
    set(&mut r, &["rules"], Value::List(changed));
    setup.write(&created, &r);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (0, 1, 0), "{}", plan::human(&made));
    let report = setup.apply(&made, &setup.journal("big2"), &NoSecrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    let now = live(&setup, &r).await;
    let Value::List(rules) = now.get("rules") else {
        panic!()
    };
    assert_eq!(rules.len(), 449);
    setup
        .assert_export_equals_tree("after changing one rule and removing one")
        .await;
}

/// Five changes, the third rejected by the workspace: the report names two applied, one failed
/// and two not tried; a new plan shows the three left; the same apply run again completes, and
/// nothing exists twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_stops_the_apply_and_running_it_again_does_only_what_remains() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let sources = setup.paths_of(ResourceType::Source);
    for (i, path) in sources.iter().take(4).enumerate() {
        let mut r = setup.read(path);
        set(&mut r, &["name"], s(&format!("step {i}")));
        setup.write(path, &r);
    }
    let fresh = new_copy(ResourceType::Source, setup.read(&sources[5]));
    setup.write("sources/brand-new.tf", &fresh);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (1, 4, 0), "{}", plan::human(&made));
    let order: Vec<String> = apply::steps(&made)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|s| s.address.clone())
        .collect();

    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"failWrite": {"nth": 3, "status": 422, "message": "name is not allowed"}}),
        )
        .await;
    let journal = setup.journal("partial");
    let report = setup.apply(&made, &journal, &NoSecrets).await;
    let names = |steps: &[apply::Step]| steps.iter().map(|s| s.address.clone()).collect::<Vec<_>>();
    assert_eq!(names(&report.applied), order[..2]);
    let (failed, why) = report
        .failed
        .clone()
        .unwrap_or_else(|| panic!("nothing failed"));
    assert_eq!(failed.address, order[2]);
    assert!(
        why.contains("name is not allowed") && why.contains("422"),
        "{why}"
    );
    assert_eq!(names(&report.not_tried), order[3..]);

    let again = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(again.changes.len(), 3, "{}", plan::human(&again));

    let report = setup.apply(&made, &journal, &NoSecrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    assert_eq!(names(&report.already_done), order[..2]);
    assert_eq!(report.applied.len(), 3);
    setup
        .assert_export_equals_tree("after the second run")
        .await;
    let served = snapshot(&setup).await;
    let copies = served
        .values()
        .filter(|t| t.contains("\"created-by-a-file\""))
        .count();
    assert_eq!(copies, 1, "the new source exists {copies} times");
    // A third run has nothing left to do.
    let report = setup.apply(&made, &journal, &NoSecrets).await;
    assert!(report.applied.is_empty() && report.already_done.len() == 5);
}

/// Changing the settings of a destination whose key is known only masked would send the mask
/// back as the key: the plan refuses, naming it; with the key as a placeholder, it goes through
/// and the workspace holds the real key.
#[tokio::test(flavor = "multi_thread")]
async fn a_masked_secret_is_never_written_back_as_a_value() {
    let setup = Setup::new(&["v2025"]).await;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets(keep.path());
    let base = setup.files();
    let path = setup
        .paths_of(ResourceType::Destination)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(setup.tree().join(p)).is_ok_and(|t| {
                t.contains("apiKey") && t.contains(gitsync::workspace::api::MASK_BULLETS)
            })
        })
        .unwrap_or_else(|| panic!("no destination with a masked apiKey"));
    let mut r = setup.read(&path);
    let Value::Json(mut settings) = r.get("settings").clone() else {
        panic!()
    };
    settings["endpoint"] = serde_json::json!("https://changed.example.com");
    set(&mut r, &["settings"], Value::Json(settings.clone()));
    setup.write(&path, &r);
    let refused = setup.try_plan(Some(&base), &secrets).await;
    let message = refused.map(|_| ()).map_err(|e| e.to_string());
    let text = format!("{message:?}");
    assert!(
        text.contains(&path) && text.contains("settings.apiKey") && text.contains("@@name@@"),
        "{text}"
    );

    settings["apiKey"] = serde_json::json!("@@copy_secret@@");
    set(&mut r, &["settings"], Value::Json(settings));
    setup.write(&path, &r);
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.counts(), (0, 1, 0), "{}", plan::human(&made));
    let report = setup.apply(&made, &setup.journal("mask"), &secrets).await;
    assert!(report.succeeded(), "{:?}", report.failed);
    let Value::Json(now) = live(&setup, &r).await.get("settings").clone() else {
        panic!()
    };
    assert_eq!(
        now["apiKey"],
        serde_json::json!(gitsync::workspace::api::mask("a-new-secret-0123456789"))
    );
    assert!(
        std::fs::read_to_string(setup.tree().join(&path))
            .is_ok_and(|t| t.contains("@@copy_secret@@"))
    );
}

/// A repository holding files of every provider release (2023 on) beside 2024- and 2025-form
/// files, planned against the workspace seeded from it: the old forms read as what they mean, so
/// there is nothing to change.
#[tokio::test(flavor = "multi_thread")]
async fn files_of_every_provider_release_plan_no_changes() {
    let ws = TestWorkspace::start(Some(TOKEN)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_tree(&fixture_dir("v2025"), dir.path());
    copy_tree(&fixture_dir("v2024"), dir.path());
    let history = util::fixtures_root().join("provider-history");
    let mut replaced = 0;
    for era in std::fs::read_dir(&history).unwrap_or_else(|e| panic!("{e}")) {
        let era = era.unwrap_or_else(|e| panic!("{e}")).path();
        if !era.is_dir() {
            continue;
        }
        // (A tracking plan connection from before 0.8.0 has no import block: it cannot have
        // been exported, and seeds nothing.)
        for (path, text) in util::tf_files(&era) {
            if text.contains("import {") {
                let target = dir.path().join(&path);
                std::fs::create_dir_all(target.parent().unwrap_or(dir.path()))
                    .unwrap_or_else(|e| panic!("{e}"));
                std::fs::write(target, text).unwrap_or_else(|e| panic!("{e}"));
                replaced += 1;
            }
        }
    }
    assert!(replaced >= 25, "only {replaced} old-release files");
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let setup = Setup {
        client: ws.client(TOKEN),
        ws,
        dir,
    };
    // The fixtures' own placeholders (the seeded workspace holds them as written).
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets_file = keep.path().join("s.env");
    std::fs::write(&secrets_file, "enrich_api_key=0123456789abcdef\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let secrets = FileSecrets::read(&secrets_file).unwrap_or_else(|e| panic!("{e}"));
    let made = setup.plan(None, &secrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));
    assert_eq!(made.unchanged, setup.files().len());
}

/// A subscription file from before provider 1.2.0 has no `reverse_etl_schedule` line: it says
/// nothing of the schedule, which stays as the workspace has it (no change, nothing removed),
/// whereas today's file that writes `reverse_etl_schedule = null` does remove it.
#[tokio::test(flavor = "multi_thread")]
async fn an_attribute_older_files_never_had_is_not_removed_by_them() {
    let setup = Setup::new(&["v2025"]).await;
    let path = "destination_subscriptions/664e6725381460d53f764718_t6KZT8cFg7FLNgDPCzJCNQ.tf";
    let old = util::fixtures_root()
        .join("provider-history/v1.1.0")
        .join(path);
    let old = std::fs::read_to_string(&old).unwrap_or_else(|e| panic!("{e}"));
    assert!(!old.contains("reverse_etl_schedule"));
    let today = setup.read(path);
    assert!(
        !today.get("reverse_etl_schedule").is_null(),
        "the sample has a schedule"
    );
    setup.write_text(path, &old);
    let made = setup.plan(None, &NoSecrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));

    let mut unset = today.clone();
    unset.attributes.remove("reverse_etl_schedule");
    setup.write(path, &unset);
    let made = setup.plan(None, &NoSecrets).await;
    let paths: Vec<&str> = made
        .changes
        .iter()
        .flat_map(|c| c.attributes.iter().map(|a| a.path.as_str()))
        .collect();
    assert_eq!(paths, ["reverse_etl_schedule"], "{}", plan::human(&made));
}

/// A placeholder where Segment keeps no secret (a label's description, a plain setting) would
/// store the secret in clear and bring it into Git with the next sync: refused, naming the place.
#[tokio::test(flavor = "multi_thread")]
async fn a_placeholder_outside_a_secret_setting_is_refused() {
    let setup = Setup::new(&["v2025"]).await;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets(keep.path());
    let (path, mut source) = first_source(&setup);
    set(&mut source, &["name"], s("leak @@copy_secret@@"));
    if let Some(Value::Json(settings)) = source.attributes.get_mut("settings") {
        settings["region"] = serde_json::json!("@@copy_secret@@");
        settings["password"] = serde_json::json!("@@copy_secret@@");
    }
    setup.write(&path, &source);
    let refused = setup
        .try_plan(None, &secrets)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let text = format!("{refused:?}");
    assert!(
        text.contains(&path) && text.contains("`name`") && text.contains("`settings.region`"),
        "{text}"
    );
    assert!(
        !text.contains("settings.password"),
        "a secret setting is refused: {text}"
    );
    assert!(
        !text.contains("a-new-secret"),
        "the secret is in the message: {text}"
    );
}

/// Counts the waits a client makes because the workspace answered 429.
#[derive(Default)]
struct RateLimited(std::sync::atomic::AtomicUsize);

impl gitsync::workspace::client::RequestObserver for RateLimited {
    fn response(&self, _: Option<u16>) {}
    fn rate_limited_wait(&self, _: std::time::Duration) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Against a workspace that enforces Segment's write limits (5 subscription writes per window;
/// a 2 s window here), an apply of 7 subscription changes paces itself and is never answered
/// 429; without pacing the same apply runs into the limit.
#[tokio::test(flavor = "multi_thread")]
async fn writes_are_paced_to_the_published_limits_instead_of_running_into_429s() {
    use gitsync::workspace::embedded::ServerConfig;
    let window = std::time::Duration::from_secs(2);
    for paced in [true, false] {
        let ws = TestWorkspace::start_with(ServerConfig {
            token: Some(TOKEN.into()),
            rate_limits: true,
            rate_limit_window: window,
            ..Default::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        copy_tree(&fixture_dir("v2025"), dir.path());
        gitsync::workspace::embedded::seed_from_hcl(&ws.store, dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        let waits = std::sync::Arc::new(RateLimited::default());
        let observer = waits.clone();
        let client = ws.client_with(TOKEN, |c| c.observer = Some(observer));
        let setup = Setup { ws, client, dir };
        let base = setup.files();
        for path in setup
            .paths_of(ResourceType::DestinationSubscription)
            .iter()
            .take(7)
        {
            let mut r = setup.read(path);
            set(&mut r, &["name"], s("paced"));
            setup.write(path, &r);
        }
        let made = setup.plan(Some(&base), &NoSecrets).await;
        assert_eq!(made.counts(), (0, 7, 0));
        let mut journal = Journal::open(
            FileJournal::new(setup.journal("paced")),
            &made.fingerprint(),
            "the test",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let started = std::time::Instant::now();
        let report = apply::apply(
            &setup.client,
            &made,
            &mut journal,
            &mut DirSink::new(setup.tree()),
            &ApplyOptions {
                allow_deletes: false,
                secrets: &NoSecrets,
                pace: paced.then_some(window),
                allow_duplicates: false,
            },
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.succeeded(), "{:?}", report.failed);
        let rate_limited = waits.0.load(std::sync::atomic::Ordering::Relaxed);
        if paced {
            assert_eq!(rate_limited, 0, "a paced apply was answered 429");
            let took = started.elapsed();
            assert!(took >= window / 2, "the sixth write did not wait");
            assert!(
                took < window * 4,
                "paced by another window than the workspace's: {took:?}"
            );
        } else {
            assert!(
                rate_limited > 0,
                "the workspace did not limit: the test shows nothing"
            );
        }
    }
}

/// The four types Git Sync does not export (warehouse and tracking plan connections, insert
/// function instances, profiles warehouses), on a workspace seeded from the samples: each
/// created from a new file with a name of its own (no import block), updated in place where it
/// has an attribute that does not force replacement (not a warehouse connection), replaced, and
/// deleted by removing its file. After each round the workspace holds what the files say, read
/// back one by one and listed and rendered as an export of these types writes them, and a new
/// plan is empty.
#[tokio::test(flavor = "multi_thread")]
async fn the_types_git_sync_does_not_export_are_created_updated_replaced_and_deleted_from_files() {
    use gitsync::workspace::Workspace;
    let setup = Setup::new(&["v2025", "v2024"]).await;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets(keep.path());
    let extra = [
        ResourceType::SourceWarehouseConnection,
        ResourceType::SourceTrackingPlanConnection,
        ResourceType::InsertFunctionInstance,
        ResourceType::ProfilesWarehouse,
    ];
    for ty in extra {
        assert!(!ty.kind().in_git_sync, "{ty:?}");
        assert!(setup.paths_of(ty).is_empty(), "{ty:?} in the samples");
    }
    assert_extra_types_match(&setup, &extra, "the seeded workspace").await;
    let ids = |ty: ResourceType| -> Vec<String> {
        setup
            .paths_of(ty)
            .iter()
            .map(|p| setup.read(p).id.unwrap_or_else(|| panic!("{p} has no id")))
            .collect()
    };
    let (sources, warehouses, destinations) = (
        ids(ResourceType::Source),
        ids(ResourceType::Warehouse),
        ids(ResourceType::Destination),
    );
    let plans = ids(ResourceType::TrackingPlan);
    let today = |path: &str| {
        let path = format!("provider-history/today/{path}");
        let text = std::fs::read_to_string(util::fixtures_root().join(&path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        gitsync::hcl::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"))
    };
    let fresh = |ty: ResourceType, name: &str, attributes: Vec<(&str, Value)>, template| {
        let mut r = match template {
            Some(t) => t,
            None => Resource {
                ty,
                id: None,
                new_name: None,
                attributes: Default::default(),
            },
        };
        r.id = None;
        r.new_name = Some(name.to_owned());
        for (k, v) in attributes {
            r.attributes.insert(k.to_owned(), v);
        }
        r
    };

    // Round 1: one of each, in a file with a name of the person's choosing.
    let base = setup.files();
    let connection = fresh(
        ResourceType::SourceWarehouseConnection,
        "web_to_the_warehouse",
        vec![
            ("source_id", s(&sources[0])),
            ("warehouse_id", s(&warehouses[0])),
        ],
        None,
    );
    // (The hand-made files point at resources of the samples: the tracking plan and source of
    // the 2024 one, the function and destination of the 2025 one.)
    let plan_connection = fresh(
        ResourceType::SourceTrackingPlanConnection,
        "web_to_the_plan",
        vec![],
        Some(today("source_tracking_plan_connections/drip_javascript.tf")),
    );
    assert!(
        sources.contains(
            &plan_connection
                .get("source_id")
                .to_json()
                .as_str()
                .unwrap_or_default()
                .to_owned()
        )
    );
    assert!(
        plans.contains(
            &plan_connection
                .get("tracking_plan_id")
                .to_json()
                .as_str()
                .unwrap_or_default()
                .to_owned()
        )
    );
    let mut instance = fresh(
        ResourceType::InsertFunctionInstance,
        "enrich",
        vec![],
        Some(today(
            "insert_function_instances/ifi_2xRBQ4HVc2oBnnq8jDZXk1pqNkP.tf",
        )),
    );
    if let Some(Value::Json(settings)) = instance.attributes.get_mut("settings") {
        settings["apiKey"] = serde_json::json!("@@copy_secret@@");
    }
    let profiles = fresh(
        ResourceType::ProfilesWarehouse,
        "profiles",
        vec![],
        Some(today(
            "profiles_warehouses/spa_9aQ1Lj62S4bomZKLF4DPqW_2yD4kGpJcBbz1AbXc9HzQe.tf",
        )),
    );
    let asked = |ty: ResourceType| format!("{}/added by hand.tf", ty.kind().directory);
    for r in [&connection, &plan_connection, &instance, &profiles] {
        setup.write(&asked(r.ty), r);
    }
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.counts(), (4, 0, 0), "{}", plan::human(&made));
    let report = setup
        .apply(&made, &setup.journal("extra-create"), &secrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    for ty in extra {
        assert!(
            !setup.tree().join(asked(ty)).exists(),
            "{} is still there",
            asked(ty)
        );
        assert_eq!(setup.paths_of(ty).len(), 1, "{ty:?}");
    }
    assert_extra_types_match(&setup, &extra, "after the creates").await;
    let made = setup.plan(None, &secrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));

    // Round 2: in place, where a type has an attribute that does not force replacement.
    let base = setup.files();
    let path_of = |ty: ResourceType| setup.paths_of(ty)[0].clone();
    let mut r = setup.read(&path_of(ResourceType::SourceTrackingPlanConnection));
    let track: BTreeMap<String, Value> = [
        ("allow_unplanned_events", Value::Bool(false)),
        ("allow_event_on_violations", Value::Bool(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    set(
        &mut r,
        &["schema_settings"],
        Value::Object([("track".to_owned(), Value::Object(track))].into()),
    );
    setup.write(&path_of(r.ty), &r);
    for ty in [
        ResourceType::InsertFunctionInstance,
        ResourceType::ProfilesWarehouse,
    ] {
        let mut r = setup.read(&path_of(ty));
        set(&mut r, &["name"], s("renamed by a pull request"));
        // A settings change beside a placeholder that stands for the secret the workspace
        // holds: the settings are written whole, the secret as its placeholder.
        if let Some(Value::Json(settings)) = r.attributes.get_mut("settings")
            && settings.get("apiKey").is_some()
        {
            settings["retries"] = serde_json::json!(5);
        }
        setup.write(&path_of(ty), &r);
    }
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.counts(), (0, 3, 0), "{}", plan::human(&made));
    assert!(made.changes.iter().all(|c| c.action == Action::Update));
    let report = setup
        .apply(&made, &setup.journal("extra-update"), &secrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    let now = live(&setup, &r).await;
    assert_eq!(now.get("schema_settings"), r.get("schema_settings"));
    // The rewritten file keeps the secret's placeholder (not the mask the workspace serves).
    let instance_path = path_of(ResourceType::InsertFunctionInstance);
    assert!(
        std::fs::read_to_string(setup.tree().join(&instance_path))
            .is_ok_and(|t| t.contains("\"@@copy_secret@@\"")),
        "{instance_path} lost its placeholder"
    );
    let instance = setup.read(&instance_path);
    let Value::Json(settings) = live(&setup, &instance).await.get("settings").clone() else {
        panic!("no settings")
    };
    assert_eq!(
        (&settings["retries"], &settings["apiKey"]),
        (
            &serde_json::json!(5),
            &serde_json::json!(gitsync::workspace::api::mask("a-new-secret-0123456789"))
        )
    );
    assert_extra_types_match(&setup, &extra, "after the updates").await;
    let made = setup.plan(None, &secrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));

    // Round 3: a change that forces replacement, for each: another source for the connections,
    // another destination for the instance, another metadata for the profiles warehouse.
    let base = setup.files();
    let before: Vec<String> = extra.iter().map(|ty| path_of(*ty)).collect();
    let mut r = setup.read(&before[0]);
    set(&mut r, &["source_id"], s(&sources[1]));
    setup.write(&before[0], &r);
    let mut r = setup.read(&before[1]);
    let other = sources
        .iter()
        .find(|s| Value::String((*s).clone()) != *r.get("source_id"))
        .unwrap_or_else(|| panic!("one source only"));
    set(&mut r, &["source_id"], s(other));
    setup.write(&before[1], &r);
    let mut r = setup.read(&before[2]);
    let other = destinations
        .iter()
        .find(|d| Value::String((*d).clone()) != *r.get("integration_id"))
        .unwrap_or_else(|| panic!("one destination only"));
    set(&mut r, &["integration_id"], s(other));
    setup.write(&before[2], &r);
    let mut r = setup.read(&before[3]);
    set(&mut r, &["metadata_id"], s("bf4c9a1e07"));
    setup.write(&before[3], &r);
    let made = setup.plan(Some(&base), &secrets).await;
    // A connection is named by its source and parent: another source is another connection,
    // the old one deleted and the new one created (as a label with another value is).
    let mut actions: Vec<(String, String)> = made
        .changes
        .iter()
        .map(|c| (c.resource_type.clone(), format!("{:?}", c.action)))
        .collect();
    actions.sort();
    let mut expected: Vec<(String, String)> = [
        (ResourceType::SourceWarehouseConnection, Action::Delete),
        (ResourceType::SourceWarehouseConnection, Action::Create),
        (ResourceType::SourceTrackingPlanConnection, Action::Delete),
        (ResourceType::SourceTrackingPlanConnection, Action::Create),
        (ResourceType::InsertFunctionInstance, Action::Replace),
        (ResourceType::ProfilesWarehouse, Action::Replace),
    ]
    .into_iter()
    .map(|(ty, a)| (ty.terraform_type().to_owned(), format!("{a:?}")))
    .collect();
    expected.sort();
    assert_eq!(actions, expected, "{}", plan::human(&made));
    assert!(plan::human(&made).contains("possible data loss"));
    let report = setup
        .apply(&made, &setup.journal("extra-replace"), &secrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    for (ty, path) in extra.iter().zip(&before) {
        assert!(
            !setup.tree().join(path).exists(),
            "{path} kept its old name"
        );
        assert_eq!(setup.paths_of(*ty).len(), 1, "{ty:?}");
    }
    // The replacement holds the secret the placeholder stands for.
    let replacement = setup.read(&path_of(ResourceType::InsertFunctionInstance));
    let Value::Json(settings) = live(&setup, &replacement).await.get("settings").clone() else {
        panic!("no settings")
    };
    assert_eq!(
        settings["apiKey"],
        serde_json::json!(gitsync::workspace::api::mask("a-new-secret-0123456789"))
    );
    assert_extra_types_match(&setup, &extra, "after the replaces").await;
    let made = setup.plan(None, &secrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));

    // Round 4: each deleted by removing its file.
    let base = setup.files();
    for ty in extra {
        setup.remove(&path_of(ty));
    }
    let made = setup.plan(Some(&base), &secrets).await;
    assert_eq!(made.counts(), (0, 0, 4), "{}", plan::human(&made));
    let refused = setup
        .try_apply(&made, &setup.journal("extra-delete"), &secrets, false)
        .await;
    assert!(
        matches!(refused, Err(apply::ApplyError::DeletesNotAllowed(ref d)) if d.len() == 4),
        "{refused:?}"
    );
    let report = setup
        .apply(&made, &setup.journal("extra-delete"), &secrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    for ty in extra {
        let left = setup
            .client
            .list(ty)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(left.is_empty(), "{ty:?}: {left:?}");
    }
    assert_extra_types_match(&setup, &extra, "after the deletes").await;
    let made = setup.plan(None, &secrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));
}

/// The files of `types` against the workspace: each file's resource read back by its import id
/// holds the file's values (secrets aside: the workspace serves them masked), the workspace
/// lists as many as there are files, and an export of these types renders the same files.
async fn assert_extra_types_match(setup: &Setup, types: &[ResourceType], what: &str) {
    use gitsync::workspace::Workspace;
    for &ty in types {
        let paths = setup.paths_of(ty);
        for path in &paths {
            let file = setup.read(path);
            let now = live(setup, &file).await;
            for attribute in ty.kind().attributes.iter().filter(|a| a.is_configurable()) {
                if attribute.name == "settings" {
                    continue;
                }
                assert_eq!(
                    now.get(attribute.name),
                    file.get(attribute.name),
                    "{what}: {path}: `{}`",
                    attribute.name
                );
            }
        }
        let listed = setup
            .client
            .list(ty)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), paths.len(), "{what}: {ty:?}: {listed:?}");
    }
    let (mut exported, _) =
        render_workspace(&setup.client, types, &mut gitsync::sync::export::Quiet)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    gitsync::sync::export::keep_placeholders(&mut exported, |path| {
        std::fs::read_to_string(setup.tree().join(path)).ok()
    });
    let exported: BTreeMap<String, String> = exported.into_iter().collect();
    let directories: Vec<String> = types
        .iter()
        .map(|ty| format!("{}/", ty.kind().directory))
        .collect();
    let tree: BTreeMap<String, String> = exported_tree_of(setup.tree())
        .into_iter()
        .filter(|(p, _)| directories.iter().any(|d| p.starts_with(d)))
        .collect();
    assert_eq!(exported, tree, "{what}: the export of these types");
}

/// A workspace that quotes the secret it was sent in its refusal does not get it printed: the
/// report names the placeholder instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_that_quotes_a_secret_is_reported_without_it() {
    let setup = Setup::new(&["v2025"]).await;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets(keep.path());
    let base = setup.files();
    let path = setup.paths_of(ResourceType::Destination)[0].clone();
    let mut fresh = new_copy(ResourceType::Destination, setup.read(&path));
    if let Some(Value::Json(settings)) = fresh.attributes.get_mut("settings") {
        settings["apiKey"] = serde_json::json!("@@copy_secret@@");
    }
    setup.write("destinations/quoted.tf", &fresh);
    let made = setup.plan(Some(&base), &secrets).await;
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"failWrite": {"nth": 1, "status": 422,
                "message": "apiKey a-new-secret-0123456789 is not a valid key"}}),
        )
        .await;
    let report = setup.apply(&made, &setup.journal("quoted"), &secrets).await;
    let (_, why) = report.failed.unwrap_or_else(|| panic!("nothing failed"));
    assert!(!why.contains("a-new-secret"), "{why}");
    assert!(
        why.contains("apiKey (the secret @@copy_secret@@) is not a valid key"),
        "{why}"
    );
}

/// A plan file edited so that an update would write another resource than the one it names
/// (and was checked for staleness) is refused before anything is sent.
#[tokio::test(flavor = "multi_thread")]
async fn an_edited_plan_that_writes_another_resource_is_refused() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let sources = setup.paths_of(ResourceType::Source);
    let mut r = setup.read(&sources[0]);
    set(&mut r, &["name"], s("renamed"));
    setup.write(&sources[0], &r);
    let mut made = setup.plan(Some(&base), &NoSecrets).await;
    let other = setup.read(&sources[1]);
    made.changes[0].desired = Some(
        gitsync::hcl::render(&Resource {
            attributes: r.attributes.clone(),
            ..other.clone()
        })
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let refused = setup
        .try_apply(&made, &setup.journal("edited"), &NoSecrets, true)
        .await;
    assert!(
        matches!(refused, Err(apply::ApplyError::BadPlan(_))),
        "{refused:?}"
    );
    assert_eq!(live(&setup, &other).await.get("name"), other.get("name"));
}

// ------------------------------------------------------------------------------------------
// Real inputs the plan must get right (issue 15: 2a, 2b, defects 3, 11, 12, secrets, dependents).

/// The text of a file of the tree.
fn text_of(setup: &Setup, path: &str) -> String {
    std::fs::read_to_string(setup.tree().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The one-based line of the first occurrence of `needle` in a file of the tree.
fn line_of(setup: &Setup, path: &str, needle: &str) -> usize {
    let text = text_of(setup, path);
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle} in {path}"));
    text[..at].matches('\n').count() + 1
}

/// The notes of a plan about one file.
fn notes_of<'p>(made: &'p Plan, path: &str) -> Vec<&'p gitsync::sync::diagnostic::Diagnostic> {
    made.notes.iter().filter(|n| n.file == path).collect()
}

/// The path of a destination whose file holds a masked `apiKey`.
fn destination_with_masked_key(setup: &Setup) -> String {
    setup
        .paths_of(ResourceType::Destination)
        .into_iter()
        .find(|p| {
            let t = text_of(setup, p);
            t.contains("apiKey") && t.contains(gitsync::workspace::api::MASK_BULLETS)
        })
        .unwrap_or_else(|| panic!("no destination with a masked apiKey"))
}

/// A refused plan gives every problem as a diagnostic with its file, line and column, a reason
/// for conditions and metrics, and no flag of the command line in its words: the command line
/// adds its own remedy.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_plan_gives_each_problem_its_place_a_reason_and_no_flag() {
    let setup = Setup::new(&["v2025"]).await;
    setup.write_text(
        "labels/malformed.tf",
        "resource \"segment_label\" \"x\" {\n  key = \n}\n",
    );
    let (path, mut source) = first_source(&setup);
    if let Some(Value::Json(settings)) = source.attributes.get_mut("settings") {
        settings["token"] = serde_json::json!("@@not_given@@");
    }
    setup.write(&path, &source);
    let token_line = line_of(&setup, &path, "@@not_given@@");
    let Err(e) = setup.try_plan(None, &NoSecrets).await else {
        panic!("planned")
    };
    assert_eq!(e.reason(), "SecretsNeeded");
    assert!(e.asks_for_secrets());
    let plan::PlanError::Invalid(found) = &e else {
        panic!("{e}")
    };
    let places: Vec<(&str, Option<usize>, bool)> = found
        .iter()
        .map(|d| (d.file.as_str(), d.line, d.column.is_some()))
        .collect();
    assert!(
        places.contains(&("labels/malformed.tf", Some(2), true)),
        "{places:?}"
    );
    assert!(
        places.contains(&(path.as_str(), Some(token_line), true)),
        "{places:?}"
    );
    for d in found {
        for flag in ["--secrets", "--base", "--allow-deletes", "GITSYNC_SECRET"] {
            assert!(!d.message.contains(flag), "{flag} in {d}");
        }
    }
    // Only a missing secret asks for secrets.
    setup.remove(&path);
    let Err(e) = setup.try_plan(None, &NoSecrets).await else {
        panic!("planned")
    };
    assert_eq!(e.reason(), "InvalidFiles");
    // The command line says how to give secrets, in its own terms.
    setup.write(&path, &source);
    let ran = Cli::new(&setup).run(&["plan", "--dir", &setup.tree().display().to_string()]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains(&format!("{path}:{token_line}:"))
            && ran.stderr.contains("--secrets")
            && ran.stderr.contains("GITSYNC_SECRET_"),
        "{}",
        ran.stderr
    );
}

/// 2a: a new file made by copying another (a user group) and editing its `id`, its label and
/// its name, with `to` still naming the group it was copied from: created, as Segment's own
/// bidirectional sync does, with a note that `to` was ignored. A file whose `id` names an
/// existing resource is that resource, whatever `to` says, with a note.
#[tokio::test(flavor = "multi_thread")]
async fn a_copied_file_whose_import_to_names_the_original_is_created_with_a_note() {
    use gitsync::workspace::Workspace;
    let setup = Setup::new(&["v2024"]).await;
    let original = setup.paths_of(ResourceType::UserGroup)[0].clone();
    let id = original
        .trim_start_matches("user_groups/")
        .trim_end_matches(".tf")
        .to_owned();
    let made_up = "2NewGroupMadeUpByAPerson";
    let text = text_of(&setup, &original);
    let copy = text
        .replace(&format!("id = \"{id}\""), &format!("id = \"{made_up}\""))
        .replace(&format!("\"id-{id}\" {{"), &format!("\"id-{made_up}\" {{"))
        .replace("\"Contribute\"", "\"Contribute, copied\"");
    assert!(copy.contains(&format!("to = segment_user_group.id-{id}")) && copy != text);
    let path = format!("user_groups/{made_up}.tf");
    setup.write_text(&path, &copy);
    let groups_before = setup
        .client
        .list(ResourceType::UserGroup)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .len();

    // `validate` ignores it as plan does, with a note.
    let validated = gitsync(&["validate", "."])
        .current_dir(setup.tree())
        .output();
    let said = String::from_utf8_lossy(&validated.stderr);
    assert!(
        validated.status.success() && said.contains(&format!("note: {path}:")),
        "{said}\n{}",
        String::from_utf8_lossy(&validated.stdout)
    );

    let made = setup.plan(None, &NoSecrets).await;
    let actions: Vec<(Action, &str)> = made
        .changes
        .iter()
        .map(|c| (c.action, c.file.as_str()))
        .collect();
    assert_eq!(
        actions,
        [(Action::Create, path.as_str())],
        "{}",
        plan::human(&made)
    );
    let notes = notes_of(&made, &path);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0].line,
        Some(line_of(&setup, &path, "segment_user_group.id-"))
    );
    assert!(
        notes[0]
            .message
            .contains(&format!("segment_user_group.id-{id}"))
            && notes[0].message.contains("new resource")
            && notes[0].message.contains("`to` is ignored"),
        "{}",
        notes[0]
    );
    let report = setup
        .apply(&made, &setup.journal("copied"), &NoSecrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    let groups = setup
        .client
        .list(ResourceType::UserGroup)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(groups.len(), groups_before + 1);
    let names: Vec<&Value> = groups.iter().map(|g| g.get("name")).collect();
    assert!(
        names.contains(&&s("Contribute")) && names.contains(&&s("Contribute, copied")),
        "{names:?}"
    );

    // `to` naming another source, `id` an existing one: the file is the one its id names.
    let sources = setup.paths_of(ResourceType::Source);
    let (path, other) = (&sources[0], setup.read(&sources[1]));
    let mut r = setup.read(&sources[0]);
    set(&mut r, &["enabled"], Value::Bool(false));
    let edited = gitsync::hcl::render(&r)
        .unwrap_or_else(|e| panic!("{e}"))
        .replace(
            &format!("  to = {}", plan::address(&r)),
            &format!("  to = {}", plan::address(&other)),
        );
    setup.write_text(path, &edited);
    let made = setup.plan(None, &NoSecrets).await;
    let changed: Vec<(Action, Option<&str>)> = made
        .changes
        .iter()
        .map(|c| (c.action, c.import_id.as_deref()))
        .collect();
    let own = r.import_id().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        changed,
        [(Action::Update, Some(own.as_str()))],
        "{}",
        plan::human(&made)
    );
    let notes = notes_of(&made, path);
    assert!(
        notes.len() == 1
            && notes[0].message.contains(&plan::address(&other))
            && notes[0].message.contains("the file is that resource"),
        "{notes:?}"
    );
}

/// 2b: a file whose secret setting holds another mask than the workspace's (the secret was
/// rotated in the app, or the file was copied from another workspace). The plan says, for that
/// key, that a mask cannot be applied, what the workspace holds, and how to set the secret: as a
/// note when nothing else changes, and beside the update when one carries other settings.
#[tokio::test(flavor = "multi_thread")]
async fn a_mask_the_workspace_does_not_hold_is_said_per_key_and_never_silently_kept() {
    use gitsync::workspace::api;
    let setup = Setup::new(&["v2025"]).await;
    let path = destination_with_masked_key(&setup);
    let mut r = setup.read(&path);
    let served = match live(&setup, &r).await.get("settings") {
        Value::Json(j) => j["apiKey"].as_str().unwrap_or_default().to_owned(),
        other => panic!("{other:?}"),
    };
    let foreign = api::mask("from-another-workspace-zz99");
    assert_ne!(served, foreign);
    let Value::Json(mut settings) = r.get("settings").clone() else {
        panic!()
    };
    settings["apiKey"] = serde_json::json!(foreign);
    set(&mut r, &["settings"], Value::Json(settings));
    setup.write(&path, &r);
    let key_line = line_of(&setup, &path, &foreign);

    let made = setup.plan(None, &NoSecrets).await;
    assert!(made.changes.is_empty(), "{}", plan::human(&made));
    let notes = notes_of(&made, &path);
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = notes[0];
    assert_eq!(note.severity, gitsync::sync::diagnostic::Severity::Note);
    assert_eq!(note.line, Some(key_line));
    for part in [
        "settings.apiKey",
        served.as_str(),
        foreign.as_str(),
        "cannot be applied",
        "@@name@@",
    ] {
        assert!(note.message.contains(part), "no {part} in {note}");
    }

    // A change of another setting would send the settings whole, with a mask: refused, and the
    // refusal says what the workspace holds instead.
    let Value::Json(mut settings) = r.get("settings").clone() else {
        panic!()
    };
    settings["endpoint"] = serde_json::json!("https://changed.example.com");
    let mut with_setting = r.clone();
    set(&mut with_setting, &["settings"], Value::Json(settings));
    setup.write(&path, &with_setting);
    let refused = setup
        .try_plan(None, &NoSecrets)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let text = format!("{refused:?}");
    assert!(
        text.contains(&foreign) && text.contains(&served) && text.contains("@@name@@"),
        "{text}"
    );

    // An update that carries another attribute says it beside the change.
    set(&mut r, &["enabled"], Value::Bool(false));
    setup.write(&path, &r);
    let made = setup.plan(None, &NoSecrets).await;
    assert_eq!(made.counts(), (0, 1, 0), "{}", plan::human(&made));
    let notes = notes_of(&made, &path);
    assert!(
        notes.len() == 1
            && notes[0].severity == gitsync::sync::diagnostic::Severity::Warning
            && notes[0].message.contains("the update leaves this secret"),
        "{notes:?}"
    );
}

/// Defect 3: a file without its import block, named (`<id>.tf`) and labelled (`id-<id>`) after
/// an existing resource, is that resource: an update, with or without a base, never a create
/// that duplicates it (nor a delete and a create). A copy that names it while its own file
/// still does is refused, saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_without_its_import_block_named_after_an_existing_id_is_that_resource() {
    use gitsync::workspace::Workspace;
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let (path, mut source) = first_source(&setup);
    let original = text_of(&setup, &path);
    set(&mut source, &["name"], s("renamed without an import block"));
    let rendered = gitsync::hcl::render(&source).unwrap_or_else(|e| panic!("{e}"));
    let without = rendered[rendered
        .find("resource \"")
        .unwrap_or_else(|| panic!("{rendered}"))..]
        .to_owned();
    assert!(!without.contains("import {"));

    // A copy under another name that still names the original, beside the original's file.
    setup.write_text("sources/copy-of-a-source.tf", &without);
    let refused = setup
        .try_plan(None, &NoSecrets)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let text = format!("{refused:?}");
    assert!(
        text.contains("sources/copy-of-a-source.tf") && text.contains(&path),
        "{text}"
    );
    setup.remove("sources/copy-of-a-source.tf");

    // A file named after one source and labelled after another, both in the workspace: which
    // one it is cannot be told, and the plan says both.
    let other_path = setup.paths_of(ResourceType::Source)[1].clone();
    let other = setup.read(&other_path);
    let other_text = text_of(&setup, &other_path);
    let other_label = plan::address(&other);
    let other_label = other_label.trim_start_matches("segment_source.");
    setup.remove(&other_path);
    setup.write_text(
        &path,
        &without.replace(
            &format!(
                "\"{}\" {{",
                plan::address(&source).trim_start_matches("segment_source.")
            ),
            &format!("\"{other_label}\" {{"),
        ),
    );
    let refused = setup
        .try_plan(None, &NoSecrets)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let text = format!("{refused:?}");
    assert!(
        text.contains(&path)
            && text.contains("two resources")
            && text.contains(other_label.trim_start_matches("id-")),
        "{text}"
    );
    setup.write_text(&other_path, &other_text);

    setup.write_text(&path, &without);
    let own = source.import_id().unwrap_or_else(|e| panic!("{e}"));
    for with_base in [false, true] {
        let made = setup
            .plan(with_base.then_some(base.as_slice()), &NoSecrets)
            .await;
        let changed: Vec<(Action, Option<&str>)> = made
            .changes
            .iter()
            .map(|c| (c.action, c.import_id.as_deref()))
            .collect();
        assert_eq!(
            changed,
            [(Action::Update, Some(own.as_str()))],
            "base {with_base}: {}",
            plan::human(&made)
        );
        assert!(
            notes_of(&made, &path)
                .iter()
                .any(|n| n.message.contains("no import block") && n.line == Some(1)),
            "{:?}",
            made.notes
        );
    }
    let count = setup
        .client
        .list(ResourceType::Source)
        .await
        .map(|l| l.len());
    let made = setup.plan(None, &NoSecrets).await;
    let report = setup
        .apply(&made, &setup.journal("noimport"), &NoSecrets)
        .await;
    assert!(report.succeeded(), "{:?}", report.failed);
    assert_eq!(
        setup
            .client
            .list(ResourceType::Source)
            .await
            .map(|l| l.len())
            .ok(),
        count.ok()
    );
    assert_eq!(
        live(&setup, &source).await.get("name"),
        &s("renamed without an import block")
    );
    assert!(!original.is_empty());
}

/// Defect 11: a placeholder is compared with the workspace by its secret, never by its own
/// text: `@@k@@` is under 8 characters and masks like any short secret, so a new long secret was never
/// sent. Where the mask cannot tell two secrets apart (both under 8 characters), the plan says
/// so for that placeholder and sends it only when asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_placeholder_is_compared_by_its_secret_and_an_uncomparable_one_is_said() {
    let setup = Setup::new(&["v2025"]).await;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = setup
        .paths_of(ResourceType::Destination)
        .into_iter()
        .find(|p| {
            text_of(&setup, p).contains(&format!("\"{}\"", gitsync::workspace::api::MASK_BULLETS))
        })
        .unwrap_or_else(|| panic!("no destination with a short secret"));
    let text = text_of(&setup, &path).replace(
        &format!("\"{}\"", gitsync::workspace::api::MASK_BULLETS),
        "\"@@k@@\"",
    );
    setup.write_text(&path, &text);
    let given = |value: &str| {
        let file = keep.path().join("s.env");
        std::fs::write(&file, format!("k={value}\n")).unwrap_or_else(|e| panic!("{e}"));
        FileSecrets::read(&file).unwrap_or_else(|e| panic!("{e}"))
    };
    let on = &setup;
    let plan_with = |secrets: FileSecrets, send: &[&str]| {
        let head = on.files();
        let send = send.iter().map(|s| (*s).to_owned()).collect();
        async move {
            plan::plan(
                &on.client,
                PlanInput {
                    base: None,
                    base_name: None,
                    head: &head,
                    secrets: &secrets,
                    send_secrets: send,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        }
    };

    // A long secret where the workspace holds a short one: its mask shows four characters.
    let made = plan_with(given("a-long-new-secret-0123"), &[]).await;
    let changed: Vec<&str> = made.changes.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(changed, [path.as_str()], "{}", plan::human(&made));

    // Two short secrets: the plan cannot tell, says so, and sends only when asked.
    let made = plan_with(given("xyz"), &[]).await;
    assert!(made.changes.is_empty(), "{}", plan::human(&made));
    let notes = notes_of(&made, &path);
    assert!(
        notes.len() == 1
            && notes[0].line == Some(line_of(&setup, &path, "@@k@@"))
            && notes[0].message.contains("@@k@@")
            && notes[0].message.contains("cannot tell")
            && notes[0].message.contains("under 8 characters"),
        "{notes:?}"
    );
    let made = plan_with(given("xyz"), &["k"]).await;
    assert_eq!(made.counts(), (0, 1, 0), "{}", plan::human(&made));
    assert!(notes_of(&made, &path).is_empty(), "{:?}", made.notes);
    let cli = Cli::new(&setup);
    let secrets_file = keep.path().join("s.env");
    let without = cli.run(&[
        "plan",
        "--dir",
        &setup.tree().display().to_string(),
        "--secrets",
        &secrets_file.display().to_string(),
    ]);
    assert!(
        without.code == Some(0)
            && without.stdout.contains("No changes")
            && without.stdout.contains(&format!("{path}:"))
            && without
                .stdout
                .contains("note: cannot tell whether the secret of @@k@@")
            && without.stdout.contains("(--send-secret NAME)"),
        "{}\n{}",
        without.stdout,
        without.stderr
    );
    let ran = cli.run(&[
        "plan",
        "--dir",
        &setup.tree().display().to_string(),
        "--secrets",
        &secrets_file.display().to_string(),
        "--send-secret",
        "k",
    ]);
    assert!(
        ran.code == Some(0) && ran.stdout.contains("1 to change"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
}

/// Defect 12: a base file that does not parse cannot be the third state of its merge. A changed
/// file is then planned two ways, and a warning says so (the command line prints it); a removed
/// one is refused with its place, rather than its delete silently dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_base_file_that_does_not_parse_is_said_or_refused_never_silently_dropped() {
    let setup = Setup::new(&["v2025"]).await;
    let (path, mut source) = first_source(&setup);
    let broken = b"import {\n  to = \n}\n".to_vec();
    let mut base = setup.files();
    for (p, bytes) in &mut base {
        if *p == path {
            bytes.clone_from(&broken);
        }
    }
    set(&mut source, &["enabled"], Value::Bool(false));
    setup.write(&path, &source);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (0, 1, 0), "{}", plan::human(&made));
    let notes = notes_of(&made, &path);
    assert!(
        notes.len() == 1
            && notes[0].severity == gitsync::sync::diagnostic::Severity::Warning
            && notes[0].line == Some(2)
            && notes[0].message.contains("not three ways"),
        "{notes:?}"
    );

    // A removed file whose base does not parse: which resource goes cannot be known.
    let gone = setup.paths_of(ResourceType::DestinationSubscription)[0].clone();
    for (p, bytes) in &mut base {
        if *p == gone {
            bytes.clone_from(&broken);
        }
    }
    setup.remove(&gone);
    let refused = setup.try_plan(Some(&base), &NoSecrets).await;
    let Err(plan::PlanError::Invalid(found)) = refused else {
        panic!("{refused:?}")
    };
    assert!(
        found
            .iter()
            .any(|d| d.file == gone && d.line == Some(2) && d.message.contains("removed")),
        "{found:?}"
    );

    // The command line prints the warning.
    let dir = setup.tree();
    let good = text_of(&setup, &path);
    std::fs::write(dir.join(&path), &broken).unwrap_or_else(|e| panic!("{e}"));
    git(dir, &["init", "-q", "-b", "main"]);
    commit_all(dir, "broken base");
    std::fs::write(dir.join(&path), good).unwrap_or_else(|e| panic!("{e}"));
    let ran = Cli::new(&setup).run(&[
        "plan",
        "--dir",
        &dir.display().to_string(),
        "--base",
        "HEAD",
    ]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains(&format!("{path}:2:")) && ran.stdout.contains("warning"),
        "{}",
        ran.stdout
    );
    // A JSON plan holds the note, and says it on stderr to the person running the command.
    let ran = Cli::new(&setup).run(&[
        "plan",
        "--dir",
        &dir.display().to_string(),
        "--base",
        "HEAD",
        "--json",
    ]);
    assert!(
        ran.stderr.contains(&format!("warning: {path}:2:")),
        "{}",
        ran.stderr
    );
}

/// Secrets a careless user gives: an empty value (`k=`, or a variable that expanded to
/// nothing) and a value with a space after `=` are refused, naming the line and not the value;
/// a placeholder in a settings key is refused; a secret written in clear never reaches the
/// plan document.
#[tokio::test(flavor = "multi_thread")]
async fn empty_spaced_misplaced_and_clear_secrets_are_refused_and_never_in_the_plan() {
    const CLEAR: &str = "written-in-clear-9f8e7d6c";
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree().display().to_string();
    let (path, mut source) = first_source(&setup);
    let original = text_of(&setup, &path);
    if let Some(Value::Json(settings)) = source.attributes.get_mut("settings") {
        settings["token"] = serde_json::json!("@@k@@");
    }
    setup.write(&path, &source);
    let file = cli.home.path().join("s.env");
    let secrets_arg = file.display().to_string();
    for (text, said) in [
        ("k=\n", "s.env:1: `k` has an empty value"),
        (
            "# a comment\nk = value-0123456789\n",
            "s.env:2: the value of `k` starts or ends with a space",
        ),
    ] {
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        let ran = cli.run(&["plan", "--dir", &dir, "--secrets", &secrets_arg]);
        assert_eq!(ran.code, Some(1), "{text:?}: {}", ran.stdout);
        assert!(ran.stderr.contains(said), "{text:?}: {}", ran.stderr);
        assert!(!ran.stderr.contains("value-0123456789"), "{}", ran.stderr);
    }
    let ran = {
        let out = cli
            .command(&["plan", "--dir", &dir])
            .env("GITSYNC_SECRET_k", "")
            .output();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(ran.contains("the secret for @@k@@ is empty"), "{ran}");

    // A placeholder as a settings key.
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets(keep.path());
    let (_, mut source) = first_source(&setup);
    if let Some(Value::Json(settings)) = source.attributes.get_mut("settings") {
        settings["token"] = serde_json::json!("@@copy_secret@@");
        settings["@@copy_secret@@"] = serde_json::json!("value");
    }
    setup.write(&path, &source);
    let refused = setup
        .try_plan(None, &secrets)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let text = format!("{refused:?}");
    assert!(
        text.contains(&path) && text.contains("settings key") && !text.contains("a-new-secret"),
        "{text}"
    );

    // A secret in clear, changed and new: refused, and no plan holds it.
    setup.write_text(&path, &original);
    let dest = destination_with_masked_key(&setup);
    let mut r = setup.read(&dest);
    let Value::Json(mut settings) = r.get("settings").clone() else {
        panic!()
    };
    settings["apiKey"] = serde_json::json!(CLEAR);
    set(&mut r, &["settings"], Value::Json(settings));
    setup.write(&dest, &r);
    setup.write(
        "destinations/new-in-clear.tf",
        &new_copy(ResourceType::Destination, r.clone()),
    );
    let refused = setup.try_plan(None, &secrets).await;
    let Err(plan::PlanError::Invalid(found)) = &refused else {
        panic!("{refused:?}")
    };
    let files: Vec<(&str, Option<usize>)> = found
        .iter()
        .filter(|d| d.message.contains("in clear") && d.message.contains("settings.apiKey"))
        .map(|d| (d.file.as_str(), d.line))
        .collect();
    let key_line = |p: &str| Some(line_of(&setup, p, "apiKey "));
    assert_eq!(
        files,
        [
            (dest.as_str(), key_line(&dest)),
            (
                "destinations/new-in-clear.tf",
                key_line("destinations/new-in-clear.tf")
            )
        ],
        "{found:?}"
    );
    assert!(!format!("{found:?}").contains(CLEAR));
    let ran = cli.run(&["plan", "--dir", &dir, "--json"]);
    assert!(
        ran.code == Some(1) && !ran.stdout.contains(CLEAR) && !ran.stderr.contains(CLEAR),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
}

/// A delete (or a replace) lists what the workspace holds that depends on the resource: a
/// destination's subscriptions and filters, read from the workspace.
#[tokio::test(flavor = "multi_thread")]
async fn a_delete_lists_what_depends_on_it() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let filter = setup.paths_of(ResourceType::DestinationFilter)[0].clone();
    let filter = setup.read(&filter);
    let Value::String(parent) = filter.get("destination_id").clone() else {
        panic!()
    };
    let subscriptions: Vec<String> = setup
        .paths_of(ResourceType::DestinationSubscription)
        .iter()
        .map(|p| setup.read(p))
        .filter(|r| r.get("destination_id") == &s(&parent))
        .map(|r| plan::address(&r))
        .collect();
    setup.remove(&format!("destinations/{parent}.tf"));
    let made = setup.plan(Some(&base), &NoSecrets).await;
    let [change] = made.changes.as_slice() else {
        panic!("{}", plan::human(&made))
    };
    assert_eq!(change.action, Action::Delete);
    let mut expected = subscriptions;
    expected.push(plan::address(&filter));
    let mut got = change.dependents.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    // A source: its destinations (and what else points at it).
    let source_id = match setup
        .paths_of(ResourceType::Destination)
        .iter()
        .map(|p| setup.read(p).get("source_id").clone())
        .next()
    {
        Some(Value::String(id)) => id,
        other => panic!("{other:?}"),
    };
    let destinations: Vec<String> = setup
        .paths_of(ResourceType::Destination)
        .iter()
        .map(|p| setup.read(p))
        .filter(|r| r.get("source_id") == &s(&source_id))
        .map(|r| plan::address(&r))
        .collect();
    let with_source = setup.files();
    setup.remove(&format!("sources/{source_id}.tf"));
    let made = setup.plan(Some(&with_source), &NoSecrets).await;
    let [change] = made.changes.as_slice() else {
        panic!("{}", plan::human(&made))
    };
    assert!(
        !destinations.is_empty() && destinations.iter().all(|d| change.dependents.contains(d)),
        "{destinations:?} not all in {:?}",
        change.dependents
    );
    setup.write_text(
        &format!("sources/{source_id}.tf"),
        &String::from_utf8_lossy(
            &with_source
                .iter()
                .find(|(p, _)| *p == format!("sources/{source_id}.tf"))
                .unwrap_or_else(|| panic!("no source file"))
                .1,
        ),
    );

    // A destination nothing depends on lists nothing.
    let lonely = setup
        .paths_of(ResourceType::Destination)
        .into_iter()
        .find(|p| {
            let id = p
                .trim_start_matches("destinations/")
                .trim_end_matches(".tf");
            !base.iter().any(|(q, b)| {
                (q.starts_with("destination_subscriptions/")
                    || q.starts_with("destination_filters/"))
                    && String::from_utf8_lossy(b).contains(id)
            })
        })
        .unwrap_or_else(|| panic!("every destination has dependents"));
    let base = setup.files();
    setup.remove(&lonely);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert!(
        made.changes.iter().all(|c| c.dependents.is_empty()),
        "{made:?}"
    );
}

// ------------------------------------------------------------------------------------------
// The engine's API with no directory: a tree by commit id in a bare repository, rewrites as a
// new commit on a branch, journals in a file or in memory.

/// The change the kill tests interrupt: 12 new sources and 8 new labels (20 creates, the
/// sources with a follow-up name write each) and 8 renamed destinations (8 updates).
fn write_a_change_of_28(setup: &Setup) {
    let template = setup.read(&setup.paths_of(ResourceType::Source)[0]);
    for i in 0..12 {
        let mut fresh = new_copy(ResourceType::Source, template.clone());
        fresh.new_name = Some(format!("killed_{i}"));
        set(&mut fresh, &["slug"], s(&format!("killed-{i}")));
        set(&mut fresh, &["name"], s(&format!("Killed {i}")));
        setup.write(&format!("sources/killed-{i}.tf"), &fresh);
    }
    for i in 0..8 {
        let label = Resource {
            ty: ResourceType::Label,
            id: None,
            new_name: Some(format!("team_{i}")),
            attributes: [("key", s("team")), ("value", s(&format!("t{i}")))]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        setup.write(&format!("labels/team-{i}.tf"), &label);
    }
    for path in setup.paths_of(ResourceType::Destination).iter().take(8) {
        let mut r = setup.read(path);
        set(&mut r, &["name"], s("renamed while being killed"));
        setup.write(path, &r);
    }
}

/// Commits the tree as `base`, makes a change of 12 new sources, 8 new labels and 8 renamed
/// destinations, commits it, and clones both into a bare repository. Returns the bare
/// repository and the two commits.
pub(crate) fn bare_repository_with_a_change(
    setup: &Setup,
) -> (tempfile::TempDir, gix::ObjectId, gix::ObjectId) {
    let dir = setup.tree();
    git(dir, &["init", "-q", "-b", "main"]);
    let base = commit_all(dir, "base");
    write_a_change_of_28(setup);
    let head = commit_all(dir, "change");
    let bare = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    git(
        bare.path(),
        &["clone", "-q", "--bare", &dir.display().to_string(), "."],
    );
    let id = |hex: &str| gix::ObjectId::from_hex(hex.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    (bare, id(&base), id(&head))
}

/// The files of a commit of the bare repository, path -> text.
fn commit_files(bare: &Path, commit: gix::ObjectId) -> BTreeMap<String, String> {
    gitsync::sync::tree::read_rev_files(bare, &commit.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
        .collect()
}

/// A saved plan of the bare repository's change, read back as an apply reads it.
pub(crate) async fn saved_plan_of_commit(
    setup: &Setup,
    bare: &Path,
    base: gix::ObjectId,
    head: gix::ObjectId,
) -> Plan {
    let source = gitsync::sync::tree::GitTree {
        repository: bare.to_path_buf(),
        commit: head,
    };
    let made = plan::plan_tree(
        &setup.client,
        &source,
        Some(&base.to_string()),
        &NoSecrets,
        &Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.counts(), (20, 8, 0), "{}", plan::human(&made));
    assert_eq!(made.dir, None, "a commit is no directory");
    let text = made.to_json(&setup.plan_key());
    Plan::from_json(&text, &setup.plan_key()).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn sink(bare: &Path, head: gix::ObjectId) -> apply::CommitSink {
    apply::CommitSink::open(
        bare,
        head,
        "gitsync/applied",
        gitsync::git::tree::Author {
            name: "gitsync".into(),
            email: "gitsync@example.com".into(),
        },
        "Updating created resources with actual generated files",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// After the applies: each new source exists once, every label and rename is there, and the
/// branch's one new commit holds exactly what the workspace holds.
async fn assert_applied_once_into_the_branch(
    setup: &Setup,
    bare: &Path,
    head: gix::ObjectId,
    what: &str,
) {
    let served = snapshot(setup).await;
    for i in 0..12 {
        let slug = format!("\"killed-{i}\"");
        let copies = served.values().filter(|t| t.contains(&slug)).count();
        assert_eq!(copies, 1, "{what}: source killed-{i} exists {copies} times");
    }
    let branch = sink(bare, head);
    let commit = branch.commit();
    assert_ne!(commit, head, "{what}: nothing was committed");
    let repo = gix::open(bare).unwrap_or_else(|e| panic!("{e}"));
    let parents: Vec<gix::ObjectId> = repo
        .find_commit(commit)
        .unwrap_or_else(|e| panic!("{e}"))
        .parent_ids()
        .map(|id| id.detach())
        .collect();
    assert_eq!(parents, [head], "{what}: one commit on top of the plan's");
    // As an export masks the secrets the fixture holds in clear.
    let checkout = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (path, text) in commit_files(bare, commit) {
        let full = checkout.path().join(&path);
        std::fs::create_dir_all(full.parent().unwrap_or(checkout.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(full, text).unwrap_or_else(|e| panic!("{e}"));
    }
    let files = exported_tree_of(checkout.path());
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (mut exported, _) =
        render_workspace(&setup.client, &types, &mut gitsync::sync::export::Quiet)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    // As an export into the branch writes it.
    gitsync::sync::export::keep_placeholders(&mut exported, |path| files.get(path).cloned());
    let exported: BTreeMap<String, String> = exported.into_iter().collect();
    let differ: Vec<&String> = exported
        .keys()
        .chain(files.keys())
        .filter(|p| exported.get(*p) != files.get(*p))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: the branch and the workspace differ in {differ:?}"
    );
    for i in 0..8 {
        assert!(
            files.contains_key(&format!("labels/team_t{i}.tf")),
            "{what}: label t{i} not rewritten"
        );
        assert!(!files.contains_key(&format!("labels/team-{i}.tf")));
    }
}

/// Applies `made` into the branch `head` of `bare` again and again, each run dropped at a random
/// moment (a leader that stops in the middle of a request) until one finishes, each run with a
/// session `open(round)` opens anew on the same journal; then checks that every change landed
/// once. Requests are slowed so that drops land inside them.
pub(crate) async fn apply_dropped_at_random_moments<S: apply::JournalStore>(
    setup: &Setup,
    bare: &Path,
    head: gix::ObjectId,
    mut open: impl AsyncFnMut(usize) -> Session<S>,
) {
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"delay": {"count": 1_000_000, "ms": 15}}),
        )
        .await;
    let options = ApplyOptions::new(&NoSecrets);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    eprintln!("drop moments seed: {seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % 400
    };
    let mut dropped = 0;
    let mut round = 0;
    let report = loop {
        round += 1;
        assert!(round < 200, "no progress after 200 rounds (seed {seed})");
        let mut branch = sink(bare, head);
        let mut session = open(round).await;
        let budget =
            std::time::Duration::from_millis(if round > 25 { 60_000 } else { 20 + next() });
        let mut quiet = Quiet;
        let run = session.run(&setup.client, &mut branch, &options, &mut quiet);
        match tokio::time::timeout(budget, run).await {
            Ok(Ok(report)) => break report,
            Ok(Err(e)) => panic!("round {round} (seed {seed}): {e}"),
            Err(_) => dropped += 1,
        }
    };
    assert!(report.succeeded(), "{:?}", report.failed);
    assert!(dropped > 0, "no run was dropped mid-apply");
    setup.ws.faults(TOKEN, serde_json::json!({})).await;
    assert_applied_once_into_the_branch(setup, bare, head, &format!("seed {seed}")).await;
}

/// In memory: each run is a new "leader" resuming from the same store; once complete, running
/// it again sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_of_a_commit_applied_into_a_branch_with_a_memory_journal_survives_being_dropped()
 {
    let setup = Setup::new(&["v2025"]).await;
    let (bare, base, head) = bare_repository_with_a_change(&setup);
    let made = saved_plan_of_commit(&setup, bare.path(), base, head).await;
    let journals = apply::MemoryJournals::new();
    apply_dropped_at_random_moments(&setup, bare.path(), head, async |round| {
        Session::open(
            made.clone(),
            journals.journal("pull-1"),
            &format!("leader {round}"),
        )
        .await
        .unwrap_or_else(|e| panic!("round {round}: {e}"))
    })
    .await;
    assert!(
        journals.entries("pull-1").contains(&apply::Entry::Complete),
        "the journal is not complete"
    );
    let mut session = Session::open(made.clone(), journals.journal("pull-1"), "leader last")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = session
        .run(
            &setup.client,
            &mut sink(bare.path(), head),
            &ApplyOptions::new(&NoSecrets),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.applied.is_empty() && again.reconciled.is_empty());
}

/// With a file journal: each run its own future on the same journal file.
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_of_a_commit_applied_into_a_branch_with_a_file_journal_survives_being_dropped()
{
    let setup = Setup::new(&["v2025"]).await;
    let (bare, base, head) = bare_repository_with_a_change(&setup);
    let made = saved_plan_of_commit(&setup, bare.path(), base, head).await;
    let journal = bare.path().join("pull-1.journal");
    apply_dropped_at_random_moments(&setup, bare.path(), head, async |round| {
        // The lock of the dropped run is let go when its descriptor closes; a child process
        // another test forks in that moment holds a copy until it execs.
        let mut tries = 0;
        loop {
            match Session::open(made.clone(), FileJournal::new(&journal), "the test").await {
                Ok(session) => break session,
                Err(apply::ApplyError::Journal(apply::JournalError::Busy { .. }))
                    if tries < 100 =>
                {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        }
    })
    .await;
}

/// A plan whose commit is not the one the branch holds (another commit of the pull request, a
/// tree edited since) is refused with no directory anywhere, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_whose_tree_moved_is_refused_without_a_directory() {
    let setup = Setup::new(&["v2025"]).await;
    let (bare, base, head) = bare_repository_with_a_change(&setup);
    let made = saved_plan_of_commit(&setup, bare.path(), base, head).await;
    let before = snapshot(&setup).await;
    // The plan's tree, applied onto the base commit instead: another tree.
    let mut moved = sink(bare.path(), base);
    let mut session = Session::open(
        made.clone(),
        apply::MemoryJournals::new().journal("moved"),
        "the test",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = session
        .run(
            &setup.client,
            &mut moved,
            &ApplyOptions::new(&NoSecrets),
            &mut Quiet,
        )
        .await;
    assert!(
        matches!(refused, Err(apply::ApplyError::StaleTree { .. })),
        "{refused:?}"
    );
    assert_eq!(moved.commit(), base, "the branch was written");
    assert_eq!(snapshot(&setup).await, before, "the workspace was written");
}

/// The README's flow, twice: plan --out p; apply p; edit; plan --out p; apply p. The first
/// apply's finished journal does not block the second plan written to the same path.
#[tokio::test(flavor = "multi_thread")]
async fn a_completed_apply_does_not_block_the_next_plan_saved_to_the_same_file() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree().display().to_string();
    let plan_file = cli.home.path().join("change.plan").display().to_string();
    let sources = setup.paths_of(ResourceType::Source);
    for (round, path) in sources.iter().take(2).enumerate() {
        let mut r = setup.read(path);
        set(&mut r, &["name"], s(&format!("round {round}")));
        setup.write(path, &r);
        let planned = cli.run(&["plan", "--dir", &dir, "--out", &plan_file]);
        assert_eq!(planned.code, Some(0), "round {round}: {}", planned.stderr);
        let applied = cli.run(&["apply", &plan_file, "--no-pace"]);
        assert_eq!(
            applied.code,
            Some(0),
            "round {round}: {}\n{}",
            applied.stdout,
            applied.stderr
        );
        assert!(
            applied
                .stdout
                .contains("Apply complete! Resources: 0 added, 1 changed, 0 destroyed."),
            "round {round}: {}",
            applied.stdout
        );
        assert_eq!(live(&setup, &r).await.get("name"), r.get("name"));
    }
}

/// Two applies of the same plan at once (a saved plan, and `apply --dir`): one applies, the
/// other is refused naming the first, and nothing is created twice.
#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_one_applies_and_the_other_is_refused_naming_it() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree().display().to_string();
    let template = setup.read(&setup.paths_of(ResourceType::Source)[0]);
    let write_new = |name: &str| {
        let mut fresh = new_copy(ResourceType::Source, template.clone());
        fresh.new_name = Some(name.replace('-', "_"));
        set(&mut fresh, &["slug"], s(name));
        set(&mut fresh, &["name"], s(name));
        setup.write(&format!("sources/{name}.tf"), &fresh);
    };
    // Every request slowed down, so that the two runs overlap.
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"delay": {"count": 1_000_000, "ms": 300}}),
        )
        .await;
    write_new("twice-saved");
    let plan_file = cli.home.path().join("twice.plan").display().to_string();
    let planned = cli.run(&["plan", "--dir", &dir, "--out", &plan_file]);
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let both = |args: &[&str]| {
        let first = cli
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        std::thread::sleep(std::time::Duration::from_millis(150));
        let second = cli.run(args);
        let first = first.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        (first, second)
    };
    let (first, second) = both(&["apply", &plan_file, "--no-pace"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(second.code, Some(1), "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("another apply is running") && second.stderr.contains("process "),
        "{}",
        second.stderr
    );

    write_new("twice-dir");
    let (first, second) = both(&["apply", "--dir", &dir, "--auto-approve", "--no-pace"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(second.code, Some(1), "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("another apply is running"),
        "{}",
        second.stderr
    );
    setup.ws.faults(TOKEN, serde_json::json!({})).await;
    let served = snapshot(&setup).await;
    for name in ["twice-saved", "twice-dir"] {
        let slug = format!("\"{name}\"");
        let copies = served.values().filter(|t| t.contains(&slug)).count();
        assert_eq!(copies, 1, "{name} exists {copies} times");
    }
}

/// A plan made against one embedded workspace is refused by another behind the same kind of
/// URL with a token that works there: the workspace is recorded by id.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_is_refused_by_another_workspace() {
    let setup = Setup::new(&["v2025"]).await;
    let other = Setup::new(&["v2025"]).await;
    let (path, mut r) = first_source(&setup);
    set(&mut r, &["name"], s("for the first workspace only"));
    setup.write(&path, &r);
    other.write(&path, &r);
    let made = setup.plan(None, &NoSecrets).await;
    let refused = other
        .try_apply(&made, &other.journal("other"), &NoSecrets, true)
        .await;
    assert!(
        matches!(refused, Err(apply::ApplyError::WrongWorkspace { .. })),
        "{refused:?}"
    );
    assert_ne!(live(&other, &r).await.get("name"), r.get("name"));
}

/// The operator's way in: a pull request's head is fetched by its ref (`refs/pull/N/head`, not
/// a branch) into a bare cache, and planned from there by commit id, three-way from the merge
/// base with the synced branch.
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_ref_is_fetched_into_a_bare_cache_and_planned_by_commit() {
    let setup = Setup::new(&["v2025"]).await;
    let (origin, base, head) = bare_repository_with_a_change(&setup);
    // As a forge keeps it: the change under refs/pull/7/head, main at the base.
    git(
        origin.path(),
        &["update-ref", "refs/pull/7/head", &head.to_string()],
    );
    git(
        origin.path(),
        &["update-ref", "refs/heads/main", &base.to_string()],
    );
    let cache_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("file://{}", origin.path().display());
    let cache =
        gitsync::git::cache::open(cache_dir.path(), &url, "main").unwrap_or_else(|e| panic!("{e}"));
    let remote = gitsync::git::remote::Remote {
        url,
        branch: "main".into(),
        auth: gitsync::git::remote::Auth::None,
    };
    let fetched = remote
        .fetch_refs(
            &cache,
            &[
                "refs/pull/7/head",
                "refs/heads/main",
                "refs/merge-requests/9/head",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fetched, [Some(head), Some(base), None]);
    let bad = remote.fetch_refs(&cache, &["+refs/pull/*:refs/x/*"]);
    assert!(
        matches!(bad, Err(gitsync::git::remote::RemoteError::BadRef { .. })),
        "{bad:?}"
    );
    let source = gitsync::sync::tree::GitTree {
        repository: cache.path().to_path_buf(),
        commit: head,
    };
    let tracking = gitsync::git::remote::Remote::tracking_ref_of("refs/heads/main");
    let made = plan::plan_tree(
        &setup.client,
        &source,
        Some(&tracking),
        &NoSecrets,
        &Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.counts(), (20, 8, 0), "{}", plan::human(&made));
    assert!(made.notes.is_empty(), "{:?}", made.notes);
}

/// `--base REV` plans from where the branch left REV (three dots): a branch behind main does
/// not undo main's later work, and says that REV is not its ancestor.
#[tokio::test(flavor = "multi_thread")]
async fn a_base_ahead_of_the_branch_plans_from_the_merge_base_and_says_so() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree();
    git(dir, &["init", "-q", "-b", "main"]);
    commit_all(dir, "base");
    git(dir, &["checkout", "-q", "-b", "change"]);
    let (path, mut source) = first_source(&setup);
    set(&mut source, &["name"], s("the branch's own edit"));
    setup.write(&path, &source);
    commit_all(dir, "the change");
    // Main moves on: a label deleted there (the workspace followed: the label is gone).
    git(dir, &["checkout", "-q", "main"]);
    let label = setup.paths_of(ResourceType::Label)[0].clone();
    {
        use gitsync::workspace::Workspace;
        setup
            .client
            .delete(&setup.read(&label))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    setup.remove(&label);
    commit_all(dir, "main's own work");
    git(dir, &["checkout", "-q", "change"]);
    let d = dir.display().to_string();
    let ran = cli.run(&["plan", "--dir", &d, "--base", "main", "--json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let made: Plan =
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    let actions: Vec<(Action, &str)> = made
        .changes
        .iter()
        .map(|c| (c.action, c.file.as_str()))
        .collect();
    // Two dots would also create the label main deleted (it is in the branch, not in main).
    assert_eq!(actions, [(Action::Update, path.as_str())]);
    assert!(
        made.notes
            .iter()
            .any(|n| n.message.contains("is not an ancestor")),
        "{:?}",
        made.notes
    );
}

/// Defect 8: a run killed between a step's answer and its file's rewrite, then an edit of
/// another file: the rerun compares the tree first and refuses, naming the edited file; it does
/// not finish the rewrite, record the result as its own, and take the edit with it.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_made_after_an_interrupted_rewrite_is_refused_not_laundered() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let sources = setup.paths_of(ResourceType::Source);
    let mut r = setup.read(&sources[0]);
    set(&mut r, &["name"], s("applied, then killed before its file"));
    setup.write(&sources[0], &r);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (0, 1, 0));
    // The update went through, and the run died before the rewrite.
    {
        use gitsync::workspace::Workspace;
        let resolved = gitsync::hcl::parse(made.changes[0].desired.as_deref().unwrap_or(""), "x")
            .unwrap_or_else(|e| panic!("{e}"));
        setup
            .client
            .update(&resolved)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let journals = apply::MemoryJournals::new();
    {
        use apply::JournalStore;
        let mut store = journals.journal("killed");
        store
            .acquire("the killed run")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.load().await.unwrap_or_else(|e| panic!("{e}"));
        store
            .replace(&[
                apply::Entry::Header {
                    plan: made.fingerprint(),
                },
                apply::Entry::Intent { step: 0 },
                apply::Entry::Done {
                    step: 0,
                    import_id: None,
                },
            ])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Meanwhile, someone edits another file.
    let mut other = setup.read(&sources[1]);
    set(&mut other, &["name"], s("an edit made in between"));
    setup.write(&sources[1], &other);
    let edited = std::fs::read_to_string(setup.tree().join(&sources[1])).unwrap_or_default();
    let mut session = Session::open(made, journals.journal("killed"), "the rerun")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = session
        .run(
            &setup.client,
            &mut DirSink::new(setup.tree()),
            &ApplyOptions::new(&NoSecrets),
            &mut Quiet,
        )
        .await;
    match refused {
        Err(e @ apply::ApplyError::StaleTree { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("~ {} (changed since the plan)", sources[1])),
                "{text}"
            );
            assert!(!text.contains("sha"), "{text}");
        }
        other => panic!("not refused as stale: {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(setup.tree().join(&sources[1])).unwrap_or_default(),
        edited,
        "the edit was overwritten"
    );
}

/// Defect 13: a create whose file could never be written (a label's file under a hidden name)
/// is never sent: the workspace is unchanged, and no rerun trips over a half-done apply. (Every
/// path a step needs is checked before the first request: `apply::tree::check_path`.)
#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_file_cannot_be_written_is_refused_before_anything_is_sent() {
    let label = |key: &str, value: &str| Resource {
        ty: ResourceType::Label,
        id: None,
        new_name: Some("odd".into()),
        attributes: [("key", s(key)), ("value", s(value))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    };
    // A hidden file is not read (a note names it); a label whose key or value no file name
    // could hold is named by the escaping rule (hostile_files tests it is created and written).
    let (what, path, resource) = (
        "a hidden file",
        "labels/.hidden.tf",
        label("team", "hidden"),
    );
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let before = snapshot(&setup).await;
    setup.write(path, &resource);
    // Refused by the plan, or by apply before its first request, or not planned at all (and
    // said): either way nothing is sent.
    if let Ok(made) = setup.try_plan(Some(&base), &NoSecrets).await {
        assert!(
            made.changes.iter().all(|c| c.file != path),
            "{what}: planned"
        );
        let refused = setup
            .try_apply(&made, &setup.journal("odd"), &NoSecrets, false)
            .await;
        if let Ok(report) = &refused {
            assert!(report.applied.is_empty(), "{what}: {report:?}");
        }
    }
    assert_eq!(
        snapshot(&setup).await,
        before,
        "{what}: the workspace changed"
    );
}

/// Applied again from a fresh checkout (the same plan, another journal): the create is not
/// made twice; the refusal names the resource that is there, and says how to go on.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_applied_again_from_a_fresh_checkout_does_not_create_twice() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let fresh_checkout = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut source = new_copy(
        ResourceType::Source,
        setup.read(&setup.paths_of(ResourceType::Source)[0]),
    );
    set(&mut source, &["slug"], s("made-once"));
    set(&mut source, &["name"], s("Made once"));
    setup.write("sources/made-once.tf", &source);
    copy_tree(setup.tree(), fresh_checkout.path());
    let made = setup.plan(Some(&base), &NoSecrets).await;
    let first = setup
        .apply(&made, &setup.journal("first"), &NoSecrets)
        .await;
    assert!(first.succeeded(), "{:?}", first.failed);
    let mut session = Session::open(
        made.clone(),
        FileJournal::new(fresh_checkout.path().join(".again.journal")),
        "the other checkout",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let again = session
        .run(
            &setup.client,
            &mut DirSink::new(fresh_checkout.path()),
            &ApplyOptions::new(&NoSecrets),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, why) = again.failed.unwrap_or_else(|| panic!("created again"));
    assert!(
        why.contains("already holds a resource identical") && why.contains("allow duplicates"),
        "{why}"
    );
    let copies = snapshot(&setup)
        .await
        .values()
        .filter(|t| t.contains("\"made-once\""))
        .count();
    assert_eq!(copies, 1);
}

/// A create whose follow-up write fails leaves the resource made: the report says it exists,
/// and the rerun finishes it (reported as such), never making it twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_half_made_create_is_reported_as_made_and_finished_by_the_rerun() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let existing = setup.read(&setup.paths_of(ResourceType::Label)[0]);
    let mut source = new_copy(
        ResourceType::Source,
        setup.read(&setup.paths_of(ResourceType::Source)[0]),
    );
    set(&mut source, &["slug"], s("half-made"));
    set(&mut source, &["name"], s("Half made"));
    let label: BTreeMap<String, Value> = ["key", "value"]
        .into_iter()
        .map(|k| {
            (
                k.to_owned(),
                existing.attributes.get(k).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    source
        .attributes
        .insert("labels".into(), Value::List(vec![Value::Object(label)]));
    setup.write("sources/half-made.tf", &source);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    assert_eq!(made.counts(), (1, 0, 0), "{}", plan::human(&made));
    // The create's second write (its labels) is refused.
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"failWrite": {"nth": 2, "status": 422, "message": "labels refused"}}),
        )
        .await;
    let journal = setup.journal("half");
    let first = setup.apply(&made, &journal, &NoSecrets).await;
    let shown = apply::show::text(&first);
    let id = first
        .half_made
        .clone()
        .unwrap_or_else(|| panic!("the half-made resource is not reported:\n{shown}"));
    assert!(
        shown.contains(&format!("{id} exists in the workspace")),
        "{shown}"
    );
    let again = setup.apply(&made, &journal, &NoSecrets).await;
    assert!(again.succeeded(), "{:?}", again.failed);
    assert_eq!(
        again
            .reconciled
            .iter()
            .map(|(_, how)| how.clone())
            .collect::<Vec<_>>(),
        [apply::Recovered::FinishedHalfMade]
    );
    assert!(
        apply::show::text(&again).contains("found half-made in the workspace"),
        "{}",
        apply::show::text(&again)
    );
    let copies = snapshot(&setup)
        .await
        .values()
        .filter(|t| t.contains("\"half-made\""))
        .count();
    assert_eq!(copies, 1);
}

/// Under `--detailed-exitcode`, 2 means "changes": a usage error must not exit 2 there.
#[tokio::test(flavor = "multi_thread")]
async fn a_usage_error_under_detailed_exitcode_is_not_taken_for_changes() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree().display().to_string();
    let usage = cli.run(&[
        "plan",
        "--dir",
        &dir,
        "--detailed-exitcode",
        "--no-such-flag",
    ]);
    assert_eq!(usage.code, Some(1), "{}", usage.stderr);
    assert!(usage.stderr.contains("--no-such-flag"), "{}", usage.stderr);
    let plain = cli.run(&["plan", "--dir", &dir, "--no-such-flag"]);
    assert_eq!(plain.code, Some(2), "{}", plain.stderr);
    let none = cli.run(&["plan", "--dir", &dir, "--detailed-exitcode"]);
    assert_eq!(none.code, Some(0), "{}", none.stderr);
}

/// Applying a plan with no changes says so, not that an earlier run did the work.
#[tokio::test(flavor = "multi_thread")]
async fn applying_an_empty_plan_says_it_has_no_changes() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree().display().to_string();
    let plan_file = cli.home.path().join("empty.plan").display().to_string();
    let planned = cli.run(&["plan", "--dir", &dir, "--out", &plan_file]);
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let applied = cli.run(&["apply", &plan_file, "--no-pace"]);
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    assert!(
        applied.stdout.contains("The plan has no changes"),
        "{}",
        applied.stdout
    );
    assert!(
        !applied.stdout.contains("earlier run"),
        "{}",
        applied.stdout
    );
}

/// After a refused write, `apply --dir` says what is true and offers the way on: the rerun
/// resumes; when the files changed meanwhile it cannot, and `--abandon` gives the interrupted
/// apply up (no cache directory to delete by hand); the next apply plans afresh.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_apply_dir_is_resumed_or_given_up_with_abandon() {
    let setup = Setup::new(&["v2025"]).await;
    let cli = Cli::new(&setup);
    let dir = setup.tree().display().to_string();
    let sources = setup.paths_of(ResourceType::Source);
    for (i, path) in sources.iter().take(2).enumerate() {
        let mut r = setup.read(path);
        set(&mut r, &["name"], s(&format!("first try {i}")));
        setup.write(path, &r);
    }
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"failWrite": {"nth": 2, "status": 422, "message": "refused"}}),
        )
        .await;
    let apply_dir = ["apply", "--dir", &dir, "--auto-approve", "--no-pace"];
    let refused = cli.run(&apply_dir);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("not tried") || refused.stderr.contains("failed"));
    // The files change meanwhile: the interrupted plan is stale.
    let mut r = setup.read(&sources[2]);
    set(&mut r, &["name"], s("edited meanwhile"));
    setup.write(&sources[2], &r);
    let stale = cli.run(&apply_dir);
    assert_eq!(stale.code, Some(1), "{}", stale.stderr);
    assert!(
        stale.stderr.contains("is stale")
            && stale.stderr.contains(&sources[2])
            && stale.stderr.contains("--abandon"),
        "{}",
        stale.stderr
    );
    assert!(!stale.stderr.contains("remove "), "{}", stale.stderr);
    let abandoned = cli.run(&["apply", "--dir", &dir, "--abandon"]);
    assert_eq!(abandoned.code, Some(0), "{}", abandoned.stderr);
    assert!(
        abandoned.stdout.contains("Abandoned"),
        "{}",
        abandoned.stdout
    );
    let fresh = cli.run(&apply_dir);
    assert_eq!(fresh.code, Some(0), "{}\n{}", fresh.stdout, fresh.stderr);
    assert!(setup.plan(None, &NoSecrets).await.is_empty());
}

/// A create the workspace refused (it made nothing) is not taken for a lost answer on the
/// rerun: an identical resource someone made meanwhile is not adopted as this apply's, it is
/// named and the create refused unless duplicates are allowed.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_create_is_not_adopted_as_a_lost_answer_on_the_rerun() {
    let setup = Setup::new(&["v2025"]).await;
    let base = setup.files();
    let mut source = new_copy(
        ResourceType::Source,
        setup.read(&setup.paths_of(ResourceType::Source)[0]),
    );
    set(&mut source, &["slug"], s("refused-once"));
    set(&mut source, &["name"], s("Refused once"));
    setup.write("sources/refused-once.tf", &source);
    let made = setup.plan(Some(&base), &NoSecrets).await;
    setup
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"failWrite": {"nth": 1, "status": 422, "message": "not now"}}),
        )
        .await;
    let journal = setup.journal("refused");
    let first = setup.apply(&made, &journal, &NoSecrets).await;
    assert!(
        first.failed.is_some() && first.half_made.is_none(),
        "{first:?}"
    );
    // Someone makes the same source by hand meanwhile.
    {
        use gitsync::workspace::Workspace;
        let mut by_hand =
            gitsync::hcl::parse(made.changes[0].desired.as_deref().unwrap_or(""), "x")
                .unwrap_or_else(|e| panic!("{e}"));
        by_hand.id = None;
        setup
            .client
            .create(&by_hand)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let again = setup.apply(&made, &journal, &NoSecrets).await;
    assert!(again.reconciled.is_empty(), "{again:?}");
    let (_, why) = again
        .failed
        .clone()
        .unwrap_or_else(|| panic!("adopted: {again:?}"));
    assert!(why.contains("already holds a resource identical"), "{why}");
}

/// The demo, the operator and the tests drive plan and apply through the engine's API: no
/// clap argument struct is built by hand anywhere (it would make the command line's parsing
/// the engine's interface).
#[test]
fn no_command_line_argument_struct_is_built_outside_parsing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut parsed: Vec<String> = Vec::new();
    let mut sources: Vec<(PathBuf, String)> = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            if entry.path().extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_else(|e| panic!("{e}"));
                sources.push((entry.path().to_path_buf(), text));
            }
        }
    }
    // The argument structs: what follows a derive of clap's Args.
    for (_, text) in &sources {
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim_start().starts_with("#[derive(") && line.contains("Args)") {
                let name = lines
                    .find_map(|l| l.trim_start().strip_prefix("pub struct "))
                    .and_then(|rest| rest.split([' ', '{']).next())
                    .map(str::to_owned);
                parsed.extend(name);
            }
        }
    }
    assert!(parsed.contains(&"ApplyArgs".to_owned()), "{parsed:?}");
    let mut built = Vec::new();
    for (path, text) in &sources {
        for (n, line) in text.lines().enumerate() {
            for name in &parsed {
                let literal = format!("{name} {{");
                if line.contains(&literal) && !line.contains("struct ") && !line.contains("impl ") {
                    built.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        built.is_empty(),
        "argument structs built by hand:\n{}",
        built.join("\n")
    );
}

/// 2a with a file of an older provider release: its ignored `to` does not keep the plan from
/// reading what the file says, so the attribute the release never had is still left as the
/// workspace holds it (no change, and a note about `to`).
#[tokio::test(flavor = "multi_thread")]
async fn a_copied_older_file_with_another_to_still_leaves_what_it_never_had() {
    let setup = Setup::new(&["v2025"]).await;
    let path = "destination_subscriptions/664e6725381460d53f764718_t6KZT8cFg7FLNgDPCzJCNQ.tf";
    let old = util::fixtures_root()
        .join("provider-history/v1.1.0")
        .join(path);
    let old = std::fs::read_to_string(&old).unwrap_or_else(|e| panic!("{e}"));
    let own = plan::address(&setup.read(path));
    let other = setup
        .paths_of(ResourceType::DestinationSubscription)
        .into_iter()
        .find(|p| p != path)
        .map(|p| plan::address(&setup.read(&p)))
        .unwrap_or_else(|| panic!("one subscription only"));
    let copied = old.replacen(&format!("to = {own}"), &format!("to = {other}"), 1);
    assert_ne!(copied, old);
    setup.write_text(path, &copied);
    let made = setup.plan(None, &NoSecrets).await;
    assert!(made.is_empty(), "{}", plan::human(&made));
    let notes = notes_of(&made, path);
    assert!(
        notes.len() == 1 && notes[0].message.contains(&other),
        "{notes:?}"
    );
}
