//! `gitsync fmt` as a user runs it: the real binary on real files.

use crate::util;
use crate::util::command::gitsync;
use crate::util::{copy_tree, fixture_dir, tf_files};

#[test]
fn check_on_git_sync_2025_output_finds_nothing_to_change() {
    let out = gitsync(&["fmt", "--check", "v2025"])
        .current_dir(fixture_dir("v2025").join(".."))
        .run();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_lines(), Vec::<String>::new());
}

#[test]
fn check_on_2024_output_lists_exactly_the_files_that_would_change_and_touches_none() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_tree(&fixture_dir("v2024"), dir.path());
    let before = tf_files(dir.path());

    let out = gitsync(&["fmt", "--check", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.status.code(), Some(1), "stderr: {}", out.stderr);

    // Expected: every file whose canonical form differs, as the library sees it.
    let expected: Vec<String> = before
        .iter()
        .filter(|(rel, text)| {
            gitsync::hcl::canonicalize(text, rel).ok().as_deref() != Some(text.as_str())
        })
        .map(|(rel, _)| format!("./{rel}"))
        .collect();
    assert!(
        expected.iter().any(|f| f == "./sources/7SfAMqPGrz.tf"),
        "{expected:?}"
    );
    assert_eq!(out.stdout_lines(), expected);
    assert_eq!(tf_files(dir.path()), before, "--check must change nothing");
}

#[test]
fn fmt_rewrites_2024_files_into_the_2025_form_keeping_their_meaning() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_tree(&fixture_dir("v2024"), dir.path());
    let before = tf_files(dir.path());

    let out = gitsync(&["fmt", "."]).current_dir(dir.path()).run();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", out.stderr);
    assert!(
        !out.stdout_lines().is_empty(),
        "fmt should list the files it rewrote"
    );

    let after = tf_files(dir.path());
    for ((rel, old), (_, new)) in before.iter().zip(&after) {
        let old_model = gitsync::hcl::parse(old, rel).unwrap_or_else(|e| panic!("{e}"));
        let new_model = gitsync::hcl::parse(new, rel).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new_model, old_model, "{rel} changed meaning");
        assert!(
            !new.contains("settings = \"{"),
            "{rel} still holds JSON in a string:\n{new}"
        );
    }
    let again = gitsync(&["fmt", "--check", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(again.status.code(), Some(0), "second run: {}", again.stdout);
}

#[test]
fn a_file_that_does_not_parse_is_reported_with_its_place_left_untouched_and_exits_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good_src = fixture_dir("v2024").join("sources/7SfAMqPGrz.tf");
    let good = std::fs::read_to_string(&good_src).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("sources")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("sources/good.tf"), &good).unwrap_or_else(|e| panic!("{e}"));
    let bad = good.replace("enabled = true", "enabled = var.enabled");
    std::fs::write(dir.path().join("sources/bad.tf"), &bad).unwrap_or_else(|e| panic!("{e}"));

    let out = gitsync(&["fmt", "sources"]).current_dir(dir.path()).run();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        out.stderr.trim(),
        "error: sources/bad.tf:7:13: `var.enabled` is a variable; Git Sync files hold literal values only"
    );
    let bad_after = std::fs::read_to_string(dir.path().join("sources/bad.tf"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bad_after, bad,
        "a file that does not parse must be left as it was"
    );
    // The good file is still formatted: one bad file does not hold the others back.
    assert_eq!(out.stdout_lines(), vec!["sources/good.tf".to_string()]);
}

/// Issue 9 item 10: fmt dropped comments without a word. It refuses the file, naming the place
/// of its first comment, and leaves it as it was.
#[test]
fn a_file_with_comments_is_refused_with_the_place_of_the_first_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = fixture_dir("v2024").join("sources/7SfAMqPGrz.tf");
    let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{e}"));
    for (i, comment) in ["# why", "// why", "/* why */"].iter().enumerate() {
        let commented = text.replacen("enabled = true", &format!("enabled = true {comment}"), 1);
        let file = format!("c{i}.tf");
        std::fs::write(dir.path().join(&file), &commented).unwrap_or_else(|e| panic!("{e}"));
        let out = gitsync(&["fmt", &file]).current_dir(dir.path()).run();
        assert_eq!(out.status.code(), Some(2), "{comment}");
        assert_eq!(
            out.stderr.trim(),
            format!(
                "error: {file}:7:18: a comment; the canonical form Git Sync writes has none, so formatting would drop it: remove it, then format"
            )
        );
        let after = std::fs::read_to_string(dir.path().join(&file)).unwrap_or_default();
        assert_eq!(after, commented, "{comment}");
    }
}

/// Issue 9 item 9: fmt on a symbolic link replaced the link with a formatted copy and left the
/// file it pointed to unformatted. It formats the file through the link, named or found in a
/// directory, and the link stays.
#[cfg(unix)]
#[test]
fn a_symlink_to_a_file_is_formatted_through_the_link_which_stays() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(fixture_dir("v2024").join("sources/7SfAMqPGrz.tf"))
        .unwrap_or_else(|e| panic!("{e}"));
    let canonical = gitsync::hcl::canonicalize(&text, "x").unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(canonical, text, "test bug: the 2024 file should change");
    for d in ["real", "work"] {
        std::fs::create_dir(dir.path().join(d)).unwrap_or_else(|e| panic!("{e}"));
    }
    for (name, how) in [("named.tf", "named.tf"), ("found.tf", ".")] {
        std::fs::write(dir.path().join("real").join(name), &text).unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("work").join(name);
        std::os::unix::fs::symlink(format!("../real/{name}"), &link)
            .unwrap_or_else(|e| panic!("{e}"));
        let out = gitsync(&["fmt", how])
            .current_dir(dir.path().join("work"))
            .run();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", out.stderr);
        let meta = std::fs::symlink_metadata(&link).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            meta.file_type().is_symlink(),
            "{name}: the link was replaced"
        );
        let after = std::fs::read_to_string(dir.path().join("real").join(name)).unwrap_or_default();
        assert_eq!(after, canonical, "{name}");
    }
    // A link to a directory named like a resource file is no file to format.
    std::os::unix::fs::symlink("../real", dir.path().join("work/dir.tf"))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = gitsync(&["fmt", "--check", "dir.tf"])
        .current_dir(dir.path().join("work"))
        .run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a directory is searched, not formatted"
    );
}

#[test]
fn missing_paths_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("README.md"), "not hcl").unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join(".terraform")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(".terraform/x.tf"), "junk").unwrap_or_else(|e| panic!("{e}"));
    let out = gitsync(&["fmt", "--check", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "README.md and hidden directories are not ours to read"
    );

    let out = gitsync(&["fmt", "nowhere"]).current_dir(dir.path()).run();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        out.stderr.trim(),
        "error: nowhere: no such file or directory"
    );
}

#[test]
fn help_explains_the_command() {
    let out = gitsync(&["fmt", "--help"]).run();
    let help = out.stdout;
    assert!(help.contains("--check"), "{help}");
    assert!(help.contains("Exit status"), "{help}");
    assert!(help.contains("symbolic link"), "{help}");
    assert!(help.contains("Comments"), "{help}");
}

/// What formatting leaves out of a file of an older provider release is said, with its place;
/// `validate` says it too, and neither counts it as an error.
#[test]
fn fmt_and_validate_say_what_an_old_release_attribute_left_out() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_tree(
        &util::fixtures_root().join("provider-history/v1.1.0"),
        dir.path(),
    );
    let file = "reverse_etl_models/nEX3pqJtFvoHosGRYac4Fa.tf";
    let validated = gitsync(&["validate", "."]).current_dir(dir.path()).run();
    let notes = validated.stderr.clone();
    assert_eq!(validated.status.code(), Some(0), "{notes}");
    for expected in [
        format!("note: {file}:12:3: `schedule_config` is left out"),
        format!("note: {file}:13:3: `schedule_strategy` is left out"),
    ] {
        assert!(notes.contains(&expected), "no `{expected}` in:\n{notes}");
    }
    let formatted = gitsync(&["fmt", file]).current_dir(dir.path()).run();
    let notes = formatted.stderr.clone();
    assert_eq!(formatted.status.code(), Some(0), "{notes}");
    assert!(
        notes.contains(&format!("note: {file}:13:3: `schedule_strategy`")),
        "{notes}"
    );
    let now = std::fs::read_to_string(dir.path().join(file)).unwrap_or_default();
    assert!(!now.contains("schedule_strategy"), "{now}");
    // Formatted, there is nothing left to say.
    let again = gitsync(&["fmt", file]).current_dir(dir.path()).run();
    assert!(again.stderr.is_empty());
}
