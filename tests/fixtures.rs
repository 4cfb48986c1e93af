//! The codec against real Segment Git Sync output (`tests/fixtures/gitsync-output/`). Every file
//! in the folders is covered; a new fixture needs no code change.

use crate::util;
use crate::util::{fixture_dir, tf_files};
use gitsync::hcl::{parse, render};

#[test]
fn v2025_files_parse_and_render_back_byte_for_byte() {
    let files = tf_files(&fixture_dir("v2025"));
    let mut failures = Vec::new();
    for (path, text) in &files {
        let resource = parse(text, path).unwrap_or_else(|e| panic!("{e}"));
        let rendered = render(&resource).unwrap_or_else(|e| panic!("{path}: {e}"));
        if &rendered != text {
            failures.push(format!(
                "{path}:\n--- Git Sync\n{text}\n--- gitsync\n{rendered}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn v2024_files_parse_and_their_rendering_parses_back_to_the_same_model() {
    let files = tf_files(&fixture_dir("v2024"));
    for (path, text) in &files {
        let resource = parse(text, path).unwrap_or_else(|e| panic!("{e}"));
        let rendered = render(&resource).unwrap_or_else(|e| panic!("{path}: {e}"));
        let reparsed =
            parse(&rendered, path).unwrap_or_else(|e| panic!("rendering of {e}\n{rendered}"));
        // Value::Json holds parsed JSON, so this compares the JSON documents semantically.
        assert_eq!(
            reparsed, resource,
            "{path} changed meaning when rendered:\n{rendered}"
        );
        // And the rendering is already canonical.
        assert_eq!(
            render(&reparsed).ok().as_deref(),
            Some(rendered.as_str()),
            "{path}"
        );
    }
}

#[test]
fn v2024_json_strings_become_jsonencode_with_the_same_document() {
    let dir = fixture_dir("v2024");
    let path = "sources/7SfAMqPGrz.tf";
    let text = std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(text.contains(r#"settings = "{\"website_url\":\"https://sleeknote.com\"}""#));
    let rendered = render(&parse(&text, path).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rendered.contains(
            "  settings = jsonencode({\n    website_url = \"https://sleeknote.com\"\n  })\n"
        ),
        "{rendered}"
    );
}

#[test]
fn every_fixture_sits_at_the_path_its_identity_gives() {
    for form in ["v2025", "v2024"] {
        for (path, text) in tf_files(&fixture_dir(form)) {
            let resource = parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                resource.path().ok().as_deref(),
                Some(path.as_str()),
                "{form}/{path}"
            );
            assert_eq!(
                Some(resource.kind().directory),
                path.split('/').next(),
                "{form}/{path} is in the wrong directory for {}",
                resource.ty
            );
        }
    }
}

#[test]
fn fixtures_are_stable_under_hashicorp_hclfmt() {
    let Some(hclfmt) = util::hclfmt() else {
        return;
    };
    for form in ["v2025", "v2024"] {
        for (path, text) in tf_files(&fixture_dir(form)) {
            let rendered = render(&parse(&text, &path).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                util::run_hclfmt(&hclfmt, &rendered),
                rendered,
                "{form}/{path}"
            );
        }
    }
}
