//! Hostile and careless files and names, tried as a user would: the real binary, a copy of the
//! real Git Sync sample, and the embedded workspace it was seeded into. `validate`, `plan` and
//! `apply` read a tree by one rule: what one refuses, all refuse; what one skips, each names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::command::Ran;
use crate::util::{TestWorkspace, copy_tree, fixture_dir};

const TOKEN: &str = "hostile-files-token";

/// The v2025 sample under `dir/<at>` and its workspace, with the binary pointed at both.
struct Trial {
    ws: TestWorkspace,
    home: tempfile::TempDir,
    root: tempfile::TempDir,
}

impl Trial {
    async fn new(at: &str) -> Trial {
        let ws = TestWorkspace::start(Some(TOKEN)).await;
        gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
            .unwrap_or_else(|e| panic!("{e}"));
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        copy_tree(&fixture_dir("v2025"), &root.path().join(at));
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(home.path().join("token"), TOKEN).unwrap_or_else(|e| panic!("{e}"));
        Trial { ws, home, root }
    }

    fn tree(&self) -> &Path {
        self.root.path()
    }

    fn write(&self, path: impl AsRef<Path>, text: &[u8]) {
        let full = self.tree().join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(self.tree()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&full, text).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.tree().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Runs gitsync in the tree's root; `workspace` adds the embedded workspace's flags.
    fn run(&self, args: &[&str], workspace: bool) -> Ran {
        let mut c = crate::util::command::gitsync(args);
        c.current_dir(self.tree())
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env_remove("PUBLIC_API_TOKEN");
        if workspace {
            c.args(["--workspace", &self.ws.running.url()])
                .arg("--token-file")
                .arg(self.home.path().join("token"));
        }
        c.run()
    }

    fn plan(&self, dir: &str) -> Ran {
        self.run(&["plan", "--dir", dir, "--json"], true)
    }

    fn apply(&self, dir: &str) -> Ran {
        self.run(
            &["apply", "--dir", dir, "--auto-approve", "--no-pace"],
            true,
        )
    }

    /// Everything the workspace holds, as an export renders it.
    async fn snapshot(&self) -> BTreeMap<String, String> {
        let types: Vec<_> = gitsync::model::ResourceType::git_sync_types().collect();
        let client = self.ws.client(TOKEN);
        let (tree, _) = gitsync::sync::export::render_workspace(
            &client,
            &types,
            &mut gitsync::sync::export::Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        tree.into_iter().collect()
    }
}

/// The first file of the sample's `directory`, as Git Sync wrote it.
fn sample(directory: &str) -> (String, String) {
    crate::util::tf_files(&fixture_dir("v2025"))
        .into_iter()
        .find(|(p, _)| p.starts_with(&format!("{directory}/")))
        .unwrap_or_else(|| panic!("no file in {directory}/"))
}

/// A new resource made the way users make them: a copy of an existing file, its import block
/// taken out and its resource renamed.
fn new_copy(directory: &str, name: &str) -> String {
    let (_, text) = sample(directory);
    let body = &text[text.find("resource ").unwrap_or(0)..];
    let (head, rest) = body.split_once('{').unwrap_or((body, ""));
    let ty = head.split('"').nth(1).unwrap_or_default();
    format!("resource \"{ty}\" \"{name}\" {{{rest}")
}

/// Defect 15: a CI job whose `--dir` names the wrong directory planned "No changes" forever.
/// A directory holding no resource directory is refused by validate, plan and apply alike, and
/// the error says where the tree is when it is one level down.
#[tokio::test(flavor = "multi_thread")]
async fn a_directory_that_is_no_tree_is_refused_by_validate_plan_and_apply() {
    let trial = Trial::new("segment").await;
    let before = trial.snapshot().await;
    // Something the tree would change, were it read.
    trial.write(
        "segment/labels/team_new.tf",
        new_label("mine", "team", "new").as_bytes(),
    );

    let validate = trial.run(&["validate", "."], false);
    assert_eq!(validate.code, Some(1), "{validate:?}");
    assert!(
        validate.stdout.starts_with(
            ".: holds no resource directory (sources/, destinations/, ...); segment/ holds them: give the root of a Git Sync tree"
        ),
        "{validate:?}"
    );
    for ran in [trial.plan("."), trial.apply(".")] {
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(
            ran.stderr.contains(
                ". holds none of the resource directories of a Git Sync tree (sources/, destinations/, warehouses/, ...), so it is not the root of one; its subdirectory segment/ is"
            ),
            "{ran:?}"
        );
        assert!(!ran.stdout.contains("No changes"), "{ran:?}");
    }
    // An empty directory, and a resource directory itself, are no trees either.
    std::fs::create_dir(trial.tree().join("empty")).unwrap_or_else(|e| panic!("{e}"));
    for dir in ["empty", "segment/sources"] {
        let ran = trial.plan(dir);
        assert_eq!(ran.code, Some(1), "{dir}: {ran:?}");
        assert!(
            ran.stderr
                .contains(&format!("{dir} holds none of the resource directories")),
            "{dir}: {ran:?}"
        );
    }
    assert_eq!(trial.snapshot().await, before);
    // The right path plans the change.
    let ran = trial.plan("segment");
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("\"create\""), "{}", ran.stdout);
}

/// Files that look like resource files but are not read were skipped without a word: a
/// directory in another case or with a Cyrillic letter, a subdirectory of a resource
/// directory, an upper-case extension. Each is named, by validate (a warning, on stderr) and
/// in the plan's notes, and none is planned.
#[tokio::test(flavor = "multi_thread")]
async fn files_that_look_like_resource_files_but_are_not_read_are_named() {
    let trial = Trial::new("").await;
    let source = new_copy("sources", "mine");
    let unread = [
        "Sources/new.tf",
        "\u{0455}ources/new.tf",
        "sources/team-a/new.tf",
        "sources/new.TF",
        "sources/.new.tf",
        "Destinations/sub/deep.tf",
    ];
    for path in unread {
        trial.write(path, source.as_bytes());
    }
    // Not resource files at all: not worth a word.
    trial.write("sources/README.md", b"notes");
    trial.write("providers.tf", b"terraform {}\n");
    trial.write("modules/x/main.tf", b"terraform {}\n");

    let validate = trial.run(&["validate", "."], false);
    assert_eq!(validate.code, Some(0), "{validate:?}");
    assert_eq!(validate.stdout, "52 files valid.\n");
    let warnings: Vec<&str> = validate
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), unread.len(), "{}", validate.stderr);
    for path in unread {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("warning: {path}: not read: "))),
            "{path}: {}",
            validate.stderr
        );
    }
    assert!(
        validate.stderr.contains(
            "warning: \u{0455}ources/new.tf: not read: `\u{0455}ources/` is not the resource directory `sources/`"
        ),
        "{}",
        validate.stderr
    );

    let ran = trial.plan(".");
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let plan: serde_json::Value =
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    assert_eq!(plan["changes"], serde_json::json!([]), "{plan}");
    let notes = plan["notes"].as_array().cloned().unwrap_or_default();
    let files: Vec<&str> = notes.iter().filter_map(|n| n["file"].as_str()).collect();
    let mut expected = unread.to_vec();
    expected.sort();
    assert_eq!(files, expected, "{plan}");
    assert!(
        notes.iter().all(|n| n["severity"] == "warning"
            && n["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("not read: "))),
        "{plan}"
    );
}

/// Defect 10: a file whose name is not UTF-8 was read under a lossy name, so every apply
/// created its resource again (the lossy name was "removed", the real file stayed). Such a
/// name is refused, escaped, by validate, plan and apply, and nothing is created.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_file_name_that_is_not_utf8_is_refused_everywhere_with_its_escaped_name() {
    use std::os::unix::ffi::OsStrExt;
    let trial = Trial::new("").await;
    let before = trial.snapshot().await;
    let name = std::ffi::OsStr::from_bytes(b"sources/caf\xe9.tf");
    trial.write(PathBuf::from(name), new_copy("sources", "mine").as_bytes());
    let shown = "sources/caf\\xe9.tf";
    let message = "the file name is not UTF-8, so a plan can neither name the file nor write it back: rename it";

    let validate = trial.run(&["validate", "."], false);
    assert_eq!(validate.code, Some(1), "{validate:?}");
    assert!(
        validate.stdout.starts_with(&format!("{shown}: {message}")),
        "{validate:?}"
    );
    // Named alone, too.
    let mut alone = std::ffi::OsString::from("./");
    alone.push(name);
    let out = crate::util::command::gitsync(&["validate"])
        .arg(&alone)
        .current_dir(trial.tree())
        .output();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("./{shown}: {message}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    for _ in 0..2 {
        for ran in [trial.plan("."), trial.apply(".")] {
            assert_eq!(ran.code, Some(1), "{ran:?}");
            assert!(
                ran.stderr.contains(&format!("{shown}: {message}")),
                "{ran:?}"
            );
        }
    }
    assert_eq!(trial.snapshot().await, before);
    assert!(trial.tree().join(name).is_file());
}

/// Defect 14: apply's rewrite dropped comments without a word, though `fmt` refused to. One
/// rule for every command: a resource file with a comment is refused at its place by validate,
/// plan and fmt, and apply sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_comment_is_refused_at_its_place_by_validate_plan_apply_and_fmt() {
    let trial = Trial::new("").await;
    let before = trial.snapshot().await;
    let (path, text) = sample("destinations");
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("enabled"))
        .unwrap_or_else(|| panic!("no enabled in {path}"))
        + 1;
    let flipped = if text.contains("enabled = true") {
        text.replacen("enabled = true", "enabled = false # paused until Monday", 1)
    } else {
        text.replacen("enabled = false", "enabled = true # back on", 1)
    };
    assert_ne!(flipped, text);
    trial.write(&path, flipped.as_bytes());
    let column = flipped
        .lines()
        .nth(line - 1)
        .and_then(|l| l.find('#'))
        .unwrap_or(0)
        + 1;
    let place = format!("{path}:{line}:{column}: a comment;");

    let validate = trial.run(&["validate", "."], false);
    assert_eq!(validate.code, Some(1), "{validate:?}");
    assert!(validate.stdout.starts_with(&place), "{validate:?}");
    for ran in [trial.plan("."), trial.apply(".")] {
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(ran.stderr.contains(&place), "{place}: {ran:?}");
    }
    let fmt = trial.run(&["fmt", "--check", &path], false);
    assert_eq!(fmt.code, Some(2), "{fmt:?}");
    assert!(
        fmt.stderr
            .contains(&format!("{path}:{line}:{column}: a comment;")),
        "{fmt:?}"
    );
    assert_eq!(trial.snapshot().await, before);
    assert_eq!(trial.read(&path), flipped);
}

fn new_label(name: &str, key: &str, value: &str) -> String {
    format!(
        "resource \"segment_label\" \"{name}\" {{\n  description = null\n  key         = \"{key}\"\n  value       = \"{value}\"\n}}\n"
    )
}

/// Defect 7: labels `cost_center:eu` and `cost:center_eu` had one file name, so the rewrite
/// after apply wrote one over the other, and the lost one later planned as a destroy. Both are
/// created, each gets a file of its own, and the tree then plans no changes.
#[tokio::test(flavor = "multi_thread")]
async fn labels_git_sync_would_name_alike_get_files_of_their_own() {
    let trial = Trial::new("").await;
    trial.write(
        "labels/a.tf",
        new_label("a", "cost_center", "eu").as_bytes(),
    );
    trial.write(
        "labels/b.tf",
        new_label("b", "cost", "center_eu").as_bytes(),
    );
    let ran = trial.apply(".");
    assert_eq!(ran.code, Some(0), "{ran:?}");
    // Git Sync's name for the first, byte for byte; an unambiguous one for the second.
    let first = trial.read("labels/cost_center_eu.tf");
    let second = trial.read("labels/cost__center_5feu.tf");
    assert!(first.contains("id = \"cost_center:eu\""), "{first}");
    assert!(
        second.contains("to = segment_label.id-cost__center_5feu\n  id = \"cost:center_eu\""),
        "{second}"
    );
    assert!(!trial.tree().join("labels/a.tf").exists());
    assert!(!trial.tree().join("labels/b.tf").exists());
    let again = trial.plan(".");
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(again.stdout.contains("\"changes\": []"), "{}", again.stdout);
    // The export writes what the tree holds.
    let exported = trial.snapshot().await;
    assert_eq!(exported.get("labels/cost_center_eu.tf"), Some(&first));
    assert_eq!(exported.get("labels/cost__center_5feu.tf"), Some(&second));
    assert_eq!(trial.run(&["validate", "."], false).code, Some(0));
}

/// Defect 7, misnamed and swapped files: a file named as another resource's file was
/// overwritten by the rewrite after an apply, and the lost resource later planned as a destroy.
/// validate warns of the misnamed file; plan and apply refuse, before anything is sent, a
/// change whose rewrite would write over it, and name both files.
#[tokio::test(flavor = "multi_thread")]
async fn a_rewrite_never_overwrites_a_file_that_holds_another_resource() {
    let trial = Trial::new("").await;
    let before = trial.snapshot().await;
    // environment:dev's file, renamed to what team:growth's file will be called.
    let (dev_path, dev) = sample("labels");
    std::fs::rename(
        trial.tree().join(&dev_path),
        trial.tree().join("labels/team_growth.tf"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let validate = trial.run(&["validate", "."], false);
    assert_eq!(validate.code, Some(0), "{validate:?}");
    assert!(
        validate.stderr.contains(&format!(
            "warning: labels/team_growth.tf: holds `segment_label.id-environment_dev`, whose file is {dev_path}"
        )),
        "{validate:?}"
    );

    trial.write(
        "labels/new.tf",
        new_label("mine", "team", "growth").as_bytes(),
    );
    let refusal = "labels/new.tf: `segment_label.mine` is written back to labels/team_growth.tf after an apply, but labels/team_growth.tf holds `segment_label.id-environment_dev`, which would be lost";
    for ran in [trial.plan("."), trial.apply(".")] {
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(ran.stderr.contains(refusal), "{ran:?}");
    }
    assert_eq!(trial.read("labels/team_growth.tf"), dev);
    assert_eq!(trial.snapshot().await, before);

    // Two destinations' files swapped, and one of them edited.
    std::fs::remove_file(trial.tree().join("labels/new.tf")).unwrap_or_else(|e| panic!("{e}"));
    let destinations: Vec<(String, String)> = crate::util::tf_files(&fixture_dir("v2025"))
        .into_iter()
        .filter(|(p, _)| p.starts_with("destinations/"))
        .take(2)
        .collect();
    let [(a, a_text), (b, b_text)] = &destinations[..] else {
        panic!("fewer than two destinations")
    };
    let mut flipped = a_text.replacen("enabled = true", "enabled = false", 1);
    if &flipped == a_text {
        flipped = a_text.replacen("enabled = false", "enabled = true", 1);
    }
    assert_ne!(&flipped, a_text, "no `enabled =` in {a}");
    trial.write(b, flipped.as_bytes());
    trial.write(a, b_text.as_bytes());
    for ran in [trial.plan("."), trial.apply(".")] {
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(
            ran.stderr.contains(&format!("{b}: "))
                && ran.stderr.contains(&format!(
                    "is written back to {a} after an apply, but {a} holds"
                )),
            "{ran:?}"
        );
    }
    assert_eq!(trial.read(a), *b_text);
    assert_eq!(trial.snapshot().await, before);
}

/// Labels whose Git Sync names are no file or Terraform name (a key beginning with `.` made a
/// hidden file, a value with `/` a path, a space an invalid name): the create was sent, then
/// the rewrite failed and every rerun said "the plan is damaged". Each now gets a name that is
/// both, and the tree plans no changes afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn labels_whose_git_sync_names_are_no_file_names_are_created_and_written() {
    let trial = Trial::new("").await;
    let labels = [
        (".hidden", "x", "labels/_2ehidden__x.tf"),
        ("team", "a/b", "labels/team__a_2fb.tf"),
        ("test 2", "x", "labels/test_202__x.tf"),
    ];
    for (i, (key, value, _)) in labels.iter().enumerate() {
        trial.write(
            format!("labels/new{i}.tf"),
            new_label(&format!("new{i}"), key, value).as_bytes(),
        );
    }
    let ran = trial.apply(".");
    assert_eq!(ran.code, Some(0), "{ran:?}");
    for (key, value, path) in labels {
        let text = trial.read(path);
        assert!(
            text.contains(&format!("id = \"{key}:{value}\"")),
            "{path}: {text}"
        );
    }
    let again = trial.plan(".");
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(again.stdout.contains("\"changes\": []"), "{}", again.stdout);
    let validate = trial.run(&["validate", "."], false);
    assert_eq!(validate.code, Some(0), "{validate:?}");
    assert!(!validate.stderr.contains("warning"), "{validate:?}");
}
