//! `gitsync validate` as a CI step runs it: the real binary on real trees.

use std::path::Path;

use crate::util::command::gitsync;
use crate::util::fixture_dir;

fn write(root: &Path, path: &str, text: impl AsRef<[u8]>) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap_or(root)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(file, text).unwrap_or_else(|e| panic!("{e}"));
}

/// A new source (no import block yet), with `extra` lines in its body.
fn source(extra: &str) -> String {
    format!(
        "resource \"segment_source\" \"web\" {{\n  enabled = true\n  metadata = {{\n    id = \"IqDTy1TpoU\"\n  }}\n  settings = jsonencode({{}})\n  slug     = \"web\"\n{extra}}}\n"
    )
}

#[test]
fn the_real_samples_validate_clean() {
    // Both trees at once: each is one tree, though both hold the same resources.
    let out = gitsync(&["validate", "v2025", "v2024"])
        .current_dir(fixture_dir("v2025").join(".."))
        .run();
    assert_eq!(
        (out.status.code(), out.stdout.clone()),
        (Some(0), "311 files valid.\n".to_owned()),
        "{}",
        out.stderr
    );
    for (form, count) in [("v2025", 52), ("v2024", 259)] {
        let out = gitsync(&["validate", form])
            .current_dir(fixture_dir(form).join(".."))
            .run();
        assert_eq!(
            (out.status.code(), out.stdout.clone()),
            (Some(0), format!("{count} files valid.\n")),
            "{form}: {}",
            out.stderr
        );
    }
}

/// One tree with every kind of bad input, each in its own file: one run reports them all, each
/// at its exact place, and exits 1.
#[test]
fn every_kind_of_bad_input_is_reported_with_its_place_in_one_run() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    write(root, "sources/good.tf", source(""));
    write(root, "sources/good_copy.tf", source(""));
    write(
        root,
        "sources/malformed.tf",
        "resource \"segment_source\" \"web\" {\n  enabled =\n}\n",
    );
    write(
        root,
        "sources/two.tf",
        format!("{}\n{}", source(""), source("")),
    );
    write(root, "sources/variable.tf", source("  name = var.name\n"));
    write(
        root,
        "sources/reference.tf",
        source("  name = segment_source.other.name\n"),
    );
    write(
        root,
        "sources/provider.tf",
        format!("provider \"segment\" {{\n}}\n\n{}", source("")),
    );
    write(
        root,
        "sources/unknown_type.tf",
        "resource \"segment_sorce\" \"web\" {\n}\n",
    );
    write(
        root,
        "sources/unknown_attribute.tf",
        source("  colour = \"red\"\n"),
    );
    write(
        root,
        "sources/missing.tf",
        "resource \"segment_source\" \"web\" {\n  enabled = true\n}\n",
    );
    write(root, "sources/wrong_type.tf", source("  name = true\n"));
    write(
        root,
        "sources/a_label.tf",
        "resource \"segment_label\" \"env\" {\n  key   = \"env\"\n  value = \"dev\"\n}\n",
    );
    let labels: String = (0..201)
        .map(|i| format!("    {{ key = \"k{i}\", value = \"v\" }},\n"))
        .collect();
    // Named apart from good.tf's `web`: one address twice in a tree is an error of its own.
    let many = source(&format!("  labels = [\n{labels}  ]\n")).replace("\"web\"", "\"many\"");
    write(root, "sources/labels.tf", many);
    write(
        root,
        "destinations/placeholder.tf",
        "resource \"segment_destination\" \"d\" {\n  enabled = true\n  metadata = {\n    id = \"54521fd725e721e32a72eec1\"\n  }\n  settings = jsonencode({\n    apiKey = \"@@api key@@\"\n  })\n  source_id = \"abc\"\n}\n",
    );
    // Several problems in one file: each is reported, not only the first.
    write(
        root,
        "sources/several.tf",
        "resource \"segment_source\" \"web\" {\n  enabled = \"yes\"\n  colour = 1\n  metadata = {\n    id = var.x\n  }\n}\nvariable \"y\" {}\n",
    );
    write(root, "sources/latin1.tf", b"# caf\xe9\n".as_slice());
    // Outside the resource directories: not read (a README, providers.tf, CI files).
    write(root, "providers.tf", "provider \"segment\" {}\n");

    let out = gitsync(&["validate", "."]).current_dir(root).run();
    assert_eq!(out.status.code(), Some(1), "{}", out.stdout);
    let expected = [
        "destinations/placeholder.tf:6:3: `settings.apiKey` holds `@@api key@@`, which is not a secret placeholder; a placeholder is `@@name@@` with a name of letters, digits, `_` and `-`",
        "sources/a_label.tf:1:10: a `segment_label` resource in `sources/`; it belongs in `labels/` (each directory holds one resource type)",
        "sources/good_copy.tf:1:10: `segment_source.web` is also defined in sources/good.tf; a tree defines each resource once",
        "sources/labels.tf:8:3: `labels` has 201 items; the provider allows at most 200",
        "sources/latin1.tf:1:6: the file is not UTF-8 text; resource files are UTF-8 (save it as UTF-8)",
        "sources/malformed.tf:2:12: not valid HCL: expected an expression",
        "sources/missing.tf:1:1: `segment_source` is missing the required attribute `metadata`",
        "sources/missing.tf:1:1: `segment_source` is missing the required attribute `settings`",
        "sources/missing.tf:1:1: `segment_source` is missing the required attribute `slug`",
        "sources/provider.tf:1:1: a `provider` block does not belong in a resource file; only `import` and `resource` blocks do",
        "sources/reference.tf:8:10: `segment_source.other.name` is a reference to another object; Git Sync files hold literal values only",
        "sources/several.tf:1:1: `segment_source` is missing the required attribute `settings`",
        "sources/several.tf:1:1: `segment_source` is missing the required attribute `slug`",
        "sources/several.tf:2:13: `enabled` must be a bool, not a string",
        "sources/several.tf:3:3: `segment_source` has no attribute `colour`",
        "sources/several.tf:5:10: `var.x` is a variable; Git Sync files hold literal values only",
        "sources/several.tf:8:1: a `variable` block does not belong in a resource file",
        "sources/two.tf:10:1: a second `resource` block; a file holds exactly one resource (the first is on line 1)",
        "sources/unknown_attribute.tf:8:3: `segment_source` has no attribute `colour`",
        "sources/unknown_type.tf:1:10: unknown resource type `segment_sorce`; the segment provider has: ",
        "sources/variable.tf:8:10: `var.name` is a variable; Git Sync files hold literal values only",
        "sources/wrong_type.tf:8:10: `name` must be a string, not a bool",
        "22 errors in 15 of 16 files.",
    ];
    let text = out.stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.starts_with(want), "expected `{want}`, got `{line}`");
    }

    // The same problems as JSON, for tools.
    let out = gitsync(&["validate", "--json", "."])
        .current_dir(root)
        .run();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let problems = json.as_array().map_or(0, Vec::len);
    assert_eq!(problems, expected.len() - 1, "{json}");
    assert_eq!(
        json[3],
        serde_json::json!({
            "file": "sources/labels.tf",
            "line": 8,
            "column": 3,
            "severity": "error",
            "message": "`labels` has 201 items; the provider allows at most 200",
        })
    );

    // A single file is checked against the directory it is in, too.
    let out = gitsync(&["validate", "sources/good.tf", "sources/a_label.tf"])
        .current_dir(root)
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout
            .starts_with("sources/a_label.tf:1:10: a `segment_label` resource in `sources/`"),
        "{}",
        out.stdout
    );
    let out = gitsync(&["validate", "sources/good.tf"])
        .current_dir(root)
        .run();
    assert_eq!(
        (out.status.code(), out.stdout.clone()),
        (Some(0), "1 file valid.\n".to_owned())
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = gitsync(&["validate"]).current_dir(dir.path()).run();
    assert_eq!(out.status.code(), Some(2));
    let out = gitsync(&["validate", "no-such-tree"])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.starts_with("error: no-such-tree: "),
        "{}",
        out.stderr
    );
    // A directory that is no tree (a typo, or `sources/` itself) is an error, not "0 files valid".
    let out = gitsync(&["validate", "."]).current_dir(dir.path()).run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.starts_with(".: holds no resource directory"),
        "{}",
        out.stdout
    );
}
