//! Files written by every provider release since 2023 (`tests/fixtures/provider-history/`, one
//! folder per release, made from the real Git Sync samples as `PROVENANCE.md` says): each parses
//! to the same model as today's form of the same resource, `fmt` turns it into exactly today's
//! bytes, and a workspace seeded from a tree that mixes them exports today's form. Every fixture
//! in the folders is covered; a new one needs no code change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::command::gitsync;
use crate::util::{TestWorkspace, exported_tree_of, fixture_dir, fixtures_root, tf_files, tree_of};
use gitsync::hcl::{canonicalize, parse, render};
use gitsync::model::diff::diff;
use gitsync::model::schema::{PROVIDER_VERSION, Version};
use gitsync::model::{AttrType, Attribute, ResourceType};
use gitsync::sync::export::{Quiet, render_workspace, write_tree};
use gitsync::workspace::embedded;

fn history_dir() -> PathBuf {
    fixtures_root().join("provider-history")
}

/// `v1.2.0` -> 1.2.0.
fn era_version(era: &str) -> Version {
    let parts: Vec<u8> = era
        .strip_prefix('v')
        .unwrap_or_else(|| panic!("era folder `{era}` is not named v<version>"))
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|e| panic!("era `{era}`: {e}")))
        .collect();
    match parts.as_slice() {
        [a, b, c] => Version::new(*a, *b, *c),
        _ => panic!("era folder `{era}` is not named v<major>.<minor>.<patch>"),
    }
}

/// One old-form fixture and today's form of the same resource.
struct Pair {
    era: String,
    path: String,
    old: String,
    today: String,
    /// Where today's form came from, for messages.
    today_from: String,
}

/// Every fixture of every release folder, with today's form of its resource: the hand-made one
/// in `today/` when the samples have none, else the real 2025 sample, else the real 2024 one.
fn pairs() -> Vec<Pair> {
    let root = history_dir();
    let mut eras: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")))
        .filter(|e| e.path().is_dir() && e.file_name() != "today")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    eras.sort_by_key(|e| era_version(e));
    let mut pairs = Vec::new();
    for era in eras {
        for (path, old) in tf_files(&root.join(&era)) {
            let candidates = [
                root.join("today").join(&path),
                fixture_dir("v2025").join(&path),
                fixture_dir("v2024").join(&path),
            ];
            let found = candidates.iter().find(|c| c.is_file()).unwrap_or_else(|| {
                panic!("{era}/{path}: no today's form in provider-history/today, v2025 or v2024")
            });
            let today = std::fs::read_to_string(found).unwrap_or_else(|e| panic!("{e}"));
            pairs.push(Pair {
                era: era.clone(),
                path,
                old,
                today,
                today_from: found.display().to_string(),
            });
        }
    }
    assert!(pairs.len() >= 40, "only {} fixtures", pairs.len());
    pairs
}

#[test]
fn every_old_form_is_the_model_of_todays_form_and_fmt_writes_todays_bytes() {
    let mut eras = BTreeSet::new();
    for p in pairs() {
        let at = format!("{}/{}", p.era, p.path);
        assert!(era_version(&p.era) <= PROVIDER_VERSION, "{at}");
        assert_ne!(
            p.old, p.today,
            "{at} is already today's form: it tests nothing"
        );
        let old = parse(&p.old, &p.path).unwrap_or_else(|e| panic!("{}: {e}", p.era));
        let today = parse(&p.today, &p.path).unwrap_or_else(|e| panic!("{}: {e}", p.today_from));
        assert_eq!(old, today, "{at} and {} differ in meaning", p.today_from);
        // What the plan compares: old form to new form is never a change.
        let difference = diff(old.ty, &old.attributes, &today.attributes);
        assert!(difference.is_empty(), "{at}: {difference:?}");
        let expected = render(&today).unwrap_or_else(|e| panic!("{e}"));
        let formatted = canonicalize(&p.old, &p.path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            formatted, expected,
            "fmt of {at} is not today's form ({})",
            p.today_from
        );
        eras.insert(p.era);
    }
    let eras: Vec<&str> = eras.iter().map(String::as_str).collect();
    assert_eq!(
        eras,
        [
            "v0.0.2", "v0.5.1", "v0.7.0", "v1.0.4", "v1.1.0", "v1.2.0", "v1.2.1", "v1.2.2"
        ]
    );
}

#[test]
fn the_hand_made_todays_forms_are_canonical() {
    for (path, text) in tf_files(&history_dir().join("today")) {
        let resource = parse(&text, &path).unwrap_or_else(|e| panic!("today/{e}"));
        assert_eq!(
            render(&resource).ok().as_deref(),
            Some(text.as_str()),
            "today/{path} is not what the renderer writes"
        );
    }
}

fn has_json(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.ty == AttrType::Json || a.ty.nested().is_some_and(has_json))
}

/// The 2024 form (JSON in escaped strings, written by Terraform's own `jsonencode`) and the
/// 2025 form (`jsonencode({...})`) of one resource are one model, for every type that has a
/// JSON attribute.
#[test]
fn the_2024_and_2025_forms_of_a_resource_are_one_model_for_every_type_with_json() {
    let mut covered = BTreeSet::new();
    for p in pairs() {
        if p.old.contains("jsonencode(") || !p.today.contains("jsonencode(") {
            continue;
        }
        let old = parse(&p.old, &p.path).unwrap_or_else(|e| panic!("{}: {e}", p.era));
        assert_eq!(
            Ok(&old),
            parse(&p.today, &p.path).as_ref(),
            "{}/{}",
            p.era,
            p.path
        );
        covered.insert(old.ty);
    }
    let json_types: BTreeSet<ResourceType> = ResourceType::ALL
        .into_iter()
        .filter(|t| has_json(t.kind().attributes))
        .collect();
    assert_eq!(json_types.len(), 8, "{json_types:?}");
    assert_eq!(covered, json_types);
}

/// Each legacy attribute of the schema is in some fixture of a release that had it, so none of
/// them is accepted on faith.
#[test]
fn every_legacy_attribute_is_exercised_by_a_fixture_of_a_release_that_had_it() {
    let pairs = pairs();
    for ty in ResourceType::ALL {
        for h in ty
            .history()
            .attributes
            .iter()
            .filter(|h| h.legacy.is_some())
        {
            let leaf = h.path.rsplit('.').next().unwrap_or(h.path);
            let found = pairs.iter().any(|p| {
                let body = p.old.split_once("resource \"").map_or("", |(_, b)| b);
                p.path.starts_with(&format!("{}/", ty.kind().directory))
                    && h.lifetime.exists_in(era_version(&p.era))
                    && body.lines().any(|l| {
                        l.trim_start()
                            .strip_prefix(leaf)
                            .is_some_and(|r| r.trim_start().starts_with('='))
                    })
            });
            assert!(found, "no fixture of {ty} holds `{}`", h.path);
        }
    }
}

fn fixture(era: &str, path: &str) -> String {
    std::fs::read_to_string(history_dir().join(era).join(path))
        .unwrap_or_else(|e| panic!("{era}/{path}: {e}"))
}

fn error_of(text: &str, path: &str) -> String {
    match parse(text, path) {
        Ok(r) => panic!("expected an error, got {r:?} from:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Only what some release had is accepted: a name no release ever had is an error with its
/// place, also beside (or inside) a legacy attribute, and a legacy attribute's value must
/// still be a literal of its old type.
#[test]
fn what_no_release_ever_had_is_still_an_error_with_its_place() {
    let src = fixture("v0.5.1", "sources/7SfAMqPGrz.tf");
    let path = "sources/7SfAMqPGrz.tf";
    let replaced = |from: &str, to: &str| {
        assert!(src.contains(from), "test bug: {from:?}");
        src.replacen(from, to, 1)
    };
    assert_eq!(
        error_of(&replaced("description = null", "colour      = null"), path),
        "sources/7SfAMqPGrz.tf:10:7: `segment_source` has no attribute `labels[0].colour`"
    );
    assert_eq!(
        error_of(&replaced("description = null", "description = 7"), path),
        "sources/7SfAMqPGrz.tf:10:21: `labels[0].description` must be a string, not a number"
    );
    assert_eq!(
        error_of(&replaced("description = null", "description = var.d"), path),
        "sources/7SfAMqPGrz.tf:10:21: `var.d` is a variable; Git Sync files hold literal values only"
    );

    let old = fixture("v0.7.0", "sources/2KM7jErEzz7FXKxEB5pg7m.tf");
    let e = error_of(
        &old.replacen("group                        = null", "grup = null", 1),
        "sources/2KM7jErEzz7FXKxEB5pg7m.tf",
    );
    assert_eq!(
        e,
        "sources/2KM7jErEzz7FXKxEB5pg7m.tf:25:5: `segment_source` has no attribute `schema_settings.grup`"
    );

    let retl = fixture("v1.1.0", "reverse_etl_models/nEX3pqJtFvoHosGRYac4Fa.tf");
    let path = "reverse_etl_models/nEX3pqJtFvoHosGRYac4Fa.tf";
    let e = error_of(
        &retl.replacen(r#""{\"days\":[1,3],"#, r#""{\"days\":[1,3"#, 1),
        path,
    );
    assert!(
        e.starts_with(
            "reverse_etl_models/nEX3pqJtFvoHosGRYac4Fa.tf:12:29: `schedule_config` holds a string that is not valid JSON: "
        ),
        "{e}"
    );
    let e = error_of(
        &retl.replacen("schedule_strategy       =", "schedule_strategyy      =", 1),
        path,
    );
    assert_eq!(
        e,
        "reverse_etl_models/nEX3pqJtFvoHosGRYac4Fa.tf:13:3: `segment_reverse_etl_model` has no attribute `schedule_strategyy`"
    );
    // Today's computed attributes stay refused, in old files as in new ones.
    assert_eq!(
        error_of(
            &replaced("  enabled = true", "  enabled    = true\n  write_keys = []"),
            "sources/7SfAMqPGrz.tf"
        ),
        "sources/7SfAMqPGrz.tf:8:3: `write_keys` is set by Segment and cannot be written; remove it"
    );
}

/// A pre-1.2.0 subscription of a reverse ETL model has no `reverse_etl_schedule`: it reads as
/// unset (null), and `fmt` writes `reverse_etl_schedule = null` as Git Sync does today.
#[test]
fn a_subscription_from_before_reverse_etl_schedule_reads_as_unset() {
    let path = "destination_subscriptions/664e6725381460d53f764718_t6KZT8cFg7FLNgDPCzJCNQ.tf";
    let old = fixture("v1.1.0", path);
    assert!(!old.contains("reverse_etl_schedule") && old.contains("model_id       = \"nEX3"));
    let resource = parse(&old, path).unwrap_or_else(|e| panic!("{e}"));
    assert!(resource.get("reverse_etl_schedule").is_null());
    let formatted = canonicalize(&old, path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        formatted.contains("\n  reverse_etl_schedule = null\n"),
        "{formatted}"
    );
}

/// `gitsync fmt` on a tree of every release's files rewrites each into today's form.
#[test]
fn fmt_turns_a_tree_of_every_release_into_todays_form() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut expected = BTreeMap::new();
    for p in pairs() {
        let rel = format!("{}/{}", p.era, p.path);
        let dest = dir.path().join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&dest, &p.old).unwrap_or_else(|e| panic!("{e}"));
        let today = parse(&p.today, &p.path).unwrap_or_else(|e| panic!("{e}"));
        expected.insert(rel, render(&today).unwrap_or_else(|e| panic!("{e}")));
    }
    let out = gitsync(&["fmt", "."]).current_dir(dir.path()).output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree_of(dir.path()), expected);
}

/// A tree as users have it: the 2025 sample, the 2024 sample and files of older releases side
/// by side (an old file in place of the sample it was made from). Seeded into the embedded
/// workspace (what `workspace serve --seed-hcl` does) and exported, it is today's form.
#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_seeded_from_a_tree_of_every_release_exports_todays_form() {
    let mixed = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let expected = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let put = |root: &Path, rel: &str, text: &str| {
        let dest = root.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(root)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&dest, text).unwrap_or_else(|e| panic!("{e}"));
    };
    let canonical = |rel: &str, text: &str| {
        render(&parse(text, rel).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    for form in ["v2024", "v2025"] {
        for (rel, text) in tf_files(&fixture_dir(form)) {
            put(mixed.path(), &rel, &text);
            put(expected.path(), &rel, &canonical(&rel, &text));
        }
    }
    let git_sync_dirs: BTreeSet<&str> = ResourceType::git_sync_types()
        .map(|t| t.kind().directory)
        .collect();
    let mut old_files = 0;
    for (i, p) in pairs().into_iter().enumerate() {
        let dir = p.path.split('/').next().unwrap_or_default();
        // Every other 2024-form copy of a 2025 sample, so that both forms stay in the tree.
        if !git_sync_dirs.contains(dir) || (p.era == "v1.2.0" && i % 2 == 0) {
            continue;
        }
        put(mixed.path(), &p.path, &p.old);
        put(expected.path(), &p.path, &canonical(&p.path, &p.today));
        old_files += 1;
    }
    assert!(old_files >= 25, "{old_files}");
    let mixed_tree = tree_of(mixed.path());
    assert!(mixed_tree.values().any(|t| t.contains("schedule_strategy")));
    assert!(mixed_tree.values().any(|t| t.contains("settings = \"{")));
    assert!(
        mixed_tree
            .values()
            .any(|t| t.contains("settings = jsonencode("))
    );

    let ws = TestWorkspace::start(Some("t0ken")).await;
    let counts = embedded::seed_from_hcl(&ws.store, mixed.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.values().sum::<usize>(), mixed_tree.len());
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (tree, _) = render_workspace(&ws.client("t0ken"), &types, &mut Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_tree(out.path(), &types, &tree).unwrap_or_else(|e| panic!("{e}"));
    let exported = tree_of(out.path());
    let wanted = exported_tree_of(expected.path());
    let differing: Vec<&String> = wanted
        .iter()
        .filter(|(path, text)| exported.get(*path) != Some(*text))
        .map(|(path, _)| path)
        .collect();
    assert!(differing.is_empty(), "differ: {differing:?}");
    assert_eq!(exported.len(), wanted.len());
}
