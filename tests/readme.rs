//! The documents against the project: every command in a fenced `sh` block of README.md is run
//! here, or, when it needs a cluster or a long tool run, checked against what it names (files,
//! flags, resource names); a command the test has no rule for fails it, so a new README command
//! cannot go unchecked. Also: BENCHMARKS.md has one section per benchmark, and the command-line
//! surface the README promises (`--version` with the commit, shell completions).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::util;
use crate::util::command::{bin, gitsync};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced ```sh blocks of README.md, each as its lines.
fn sh_blocks() -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in read("README.md").lines() {
        match &mut current {
            None if line.trim_start() == "```sh" => current = Some(Vec::new()),
            Some(block) if line.trim_start().starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => block.push(line.to_owned()),
            None => {}
        }
    }
    assert!(current.is_none(), "README.md: an unclosed ```sh block");
    blocks
}

/// The line the CLI session starts with; the test puts its own binary there instead.
const SESSION_PATH_LINE: &str = "export PATH=\"$PWD/target/release:$PATH\"";

/// A command line without its trailing comment.
fn strip_comment(line: &str) -> &str {
    line.find(" #").map_or(line, |i| &line[..i]).trim()
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_readme_cli_session_runs_as_shown() {
    let blocks = sh_blocks();
    let session = blocks
        .iter()
        .find(|b| b.first().is_some_and(|l| l.starts_with(SESSION_PATH_LINE)))
        .unwrap_or_else(|| {
            panic!("README.md has no ```sh block starting with {SESSION_PATH_LINE}")
        });
    let bin_dir = bin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no directory for {}", bin().display()));
    // The README's fixed port, replaced by a free one so that nothing else on the machine (or a
    // parallel test run) can collide with it.
    let port = util::free_port().to_string();
    let mut script = String::from("set -eu\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    for line in &session[1..] {
        script.push_str(&line.replace("8420", &port));
        script.push('\n');
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(root())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "the README's CLI session failed:\n{text}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "gitsync 0.1.0 (commit ",
        "52  resources exported to export",
        " Full sync",
        "all canonical",
        // The other way: validate, plan, apply, the rerun the journal makes a no-op, the
        // journal's lines, and nothing left to plan.
        "52 files valid.",
        "      ~ enabled = true -> false\n      ~ settings.apiKey = (sensitive)\n",
        "Plan: 0 to add, 1 to change, 0 to destroy.",
        "rewrote destinations/624233e0fec27b0d4b1b66b4.tf",
        "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.",
        "1 step(s) were done by an earlier run of this plan.",
        "Nothing left to apply: an earlier run of this plan did every step.",
        "{\"entry\":\"intent\",\"step\":0}",
        "No changes. The workspace matches the files.",
    ] {
        assert!(stdout.contains(expected), "no `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains("a1b2c3d4e5f6"),
        "the secret was printed:\n{text}"
    );
    // `diff -r ... | grep '^>'`: what the export writes differently from Git Sync is only the
    // secrets it wrote in clear, masked.
    let changed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('>')).collect();
    assert!(
        !changed.is_empty() && changed.iter().all(|l| l.contains("••••••••••")),
        "the export differs from Git Sync's output in more than masked secrets:\n{text}"
    );
    // `gitsync fmt --check old | wc -l`: the 2024-form files that need rewriting.
    let rewritten = stdout
        .lines()
        .find_map(|l| l.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no file count from `gitsync fmt --check`:\n{text}"));
    assert!(rewritten > 100, "{rewritten} files to rewrite:\n{text}");
}

#[test]
fn the_demo_script_runs_from_any_directory() {
    // The README's first command. GITSYNC_BIN skips its release build (the test binary is
    // there already); everything after the build runs as a user sees it, from another directory.
    let cwd = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(root().join("scripts/demo"))
        .current_dir(cwd.path())
        .env("GITSYNC_BIN", bin())
        .output()
        .unwrap_or_else(|e| panic!("scripts/demo: {e}"));
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for stage in 1..=5 {
        assert!(
            stdout.contains(&format!("== [{stage}/5] ")),
            "no stage {stage}:\n{text}"
        );
    }
    assert!(
        stdout
            .contains("is byte for byte what Segment's Git Sync wrote (52 files), except 4 files"),
        "{text}"
    );
    assert!(stdout.contains("all files canonical now"), "{text}");
    // Stage 3 shows the reverse direction: a pull request's plan comment, its apply on
    // `segment apply`, the renaming commit, and nothing left to plan after the merge.
    for expected in [
        "### gitsync plan for `",
        "Plan: 1 to add, 2 to change, 0 to destroy.",
        "Apply complete! Resources: 1 added, 2 changed, 0 destroyed.",
        "Updating created resources with actual generated files",
        "Merge pull request #1 from acme/demo-change",
        "(3 file(s) the merge changed): No changes.",
    ] {
        assert!(stdout.contains(expected), "no `{expected}` in:\n{text}");
    }
}

/// Whether `help` lists `flag` (as a whole word: `--wait` is not `--wait-for`).
fn names_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().next_back();
        let after = help[i + flag.len()..].chars().next();
        before.is_none_or(|c| c.is_whitespace() || c == ',')
            && after.is_none_or(|c| !(c.is_alphanumeric() || c == '-'))
    })
}

/// Checks a README command that is not run here against what it names.
fn check_static(command: &str, dir: &Path) -> Result<(), String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let exists = |p: &str| {
        let path = dir.join(p);
        path.exists()
            .then_some(())
            .ok_or_else(|| format!("`{command}` names {}, which does not exist", path.display()))
    };
    match words.as_slice() {
        // Run by the_demo_script_runs_from_any_directory.
        ["./scripts/demo"] => exists("scripts/demo"),
        // The test command itself (running it here would run this test again): CI must run
        // exactly it.
        ["./scripts/test"] => {
            exists("scripts/test")?;
            let ci = read(".ci/run");
            let last = ci.lines().rev().find(|l| !l.trim().is_empty());
            (last == Some("./scripts/test"))
                .then_some(())
                .ok_or_else(|| format!(".ci/run does not end with ./scripts/test: {last:?}"))
        }
        ["kubectl", rest @ ..] => {
            for pair in rest.windows(2) {
                if pair[0] == "-f" {
                    exists(pair[1])?;
                }
            }
            for word in rest {
                if let Some(name) = word.strip_prefix("gitsync/") {
                    let examples = read("deploy/examples/30-gitsync.yaml");
                    if !examples.contains(&format!("name: {name}")) {
                        return Err(format!("no GitSync {name} in deploy/examples"));
                    }
                }
                if *word == "gitsyncs"
                    && !read("crds/gitsync.dev.yaml").contains("plural: gitsyncs")
                {
                    return Err("the CRDs have no plural `gitsyncs`".into());
                }
            }
            Ok(())
        }
        ["helm", "install", _name, chart, ..] => exists(&format!("{chart}/Chart.yaml")),
        ["gitsync", sub, rest @ ..] => {
            let out = gitsync(&[sub, "--help"]).output();
            let help = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                return Err(format!(
                    "`gitsync {sub} --help` failed: {}",
                    output_text(&out)
                ));
            }
            for flag in rest.iter().filter(|w| w.starts_with('-')) {
                let flag = flag.split('=').next().unwrap_or(flag);
                if !names_flag(&help, flag) {
                    return Err(format!("`gitsync {sub}` has no {flag}:\n{help}"));
                }
            }
            Ok(())
        }
        ["cargo", "bench", "--bench", name] => {
            exists(&format!("benches/{name}.rs"))?;
            read("Cargo.toml")
                .contains(&format!("name = \"{name}\""))
                .then_some(())
                .ok_or_else(|| format!("no [[bench]] {name} in Cargo.toml"))
        }
        ["cargo", "fuzz", "run", rest @ ..] => {
            let target = rest
                .iter()
                .scan(false, |skip, w| {
                    let this = (!*skip && !w.starts_with('-')).then_some(*w);
                    *skip = *w == "-s";
                    Some(this)
                })
                .flatten()
                .next()
                .ok_or_else(|| format!("`{command}` names no fuzz target"))?;
            exists(&format!("fuzz_targets/{target}.rs"))?;
            for word in rest {
                if let Some(dict) = word.strip_prefix("-dict=") {
                    exists(dict)?;
                }
            }
            Ok(())
        }
        _ => Err(format!(
            "README.md shows `{command}`, which tests/readme.rs neither runs nor checks: add a rule"
        )),
    }
}

#[test]
fn every_other_readme_command_names_what_exists() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for block in sh_blocks() {
        if block
            .first()
            .is_some_and(|l| l.starts_with(SESSION_PATH_LINE))
        {
            continue;
        }
        for line in &block {
            let line = strip_comment(line);
            if line.is_empty() {
                continue;
            }
            // `cd DIR && ...`: the rest is checked in DIR.
            let mut dir = root().to_path_buf();
            for command in line.split("&&").map(str::trim) {
                if let Some(to) = command.strip_prefix("cd ") {
                    dir = dir.join(to.trim());
                    if !dir.is_dir() {
                        problems.push(format!("`{line}`: no directory {}", dir.display()));
                    }
                    continue;
                }
                checked += 1;
                if let Err(e) = check_static(command, &dir) {
                    problems.push(e);
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 10, "only {checked} README commands found");
}

#[test]
fn benchmarks_md_has_one_section_per_benchmark() {
    let benches: BTreeSet<String> = std::fs::read_dir(root().join("benches"))
        .unwrap_or_else(|e| panic!("benches/: {e}"))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    let text = read("BENCHMARKS.md");
    let sections: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    let mut seen = Vec::new();
    for section in &sections {
        let name = section
            .split("`cargo bench --bench ")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_else(|| panic!("BENCHMARKS.md section without its command: {section}"));
        seen.push(name.to_owned());
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        seen.len(),
        unique.len(),
        "a benchmark with two sections: {seen:?}"
    );
    assert_eq!(unique, benches, "sections {seen:?} against benches/*.rs");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = gitsync(&["--version"]).output();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(out.status.success(), "{}", output_text(&out));
    let commit = version
        .strip_prefix(concat!("gitsync ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line: {version}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match (std::env::var("GITSYNC_BUILD_COMMIT"), head) {
        (Ok(set), _) if !set.trim().is_empty() => assert_eq!(commit, set.trim()),
        (_, Some(head)) => assert_eq!(commit, head, "built from {commit}, HEAD is {head}"),
        (_, None) => assert_eq!(commit, "unknown", "not a git checkout"),
    }
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    let subcommands = [
        "fmt",
        "validate",
        "plan",
        "apply",
        "export",
        "sync",
        "demo",
        "crds",
        "operator",
        "full-sync",
        "workspace",
        "completions",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = gitsync(&["completions", shell]).output();
        assert!(out.status.success(), "{shell}: {}", output_text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for sub in subcommands {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(script.contains("token-file"), "{shell}: no flags");
    }
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({} completions bash) && complete -p gitsync",
            bin().display()
        ))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        bash.status.success(),
        "bash does not load it: {}",
        output_text(&bash)
    );
    let unknown = gitsync(&["completions", "tcsh"]).output();
    assert_eq!(unknown.status.code(), Some(2), "{}", output_text(&unknown));
}

/// Every field of the plan document (`--json`, `--out`) is documented in docs/plan-format.md,
/// and the document names no field the plan does not have: the schema the docs promise is the
/// one gitsync writes.
#[test]
fn the_plan_format_doc_names_exactly_the_fields_of_the_plan() {
    use gitsync::sync::plan::{Action, AttributeChange, Change, Conflict, Kept, Plan};
    fn keys(value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    out.insert(k.clone());
                    keys(v, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let attribute = AttributeChange {
        path: "name".into(),
        before: None,
        after: None,
        sensitive: false,
        forces_replacement: false,
    };
    let plan = Plan {
        format: "gitsync-plan".into(),
        version: 1,
        workspace: None,
        workspace_id: None,
        dir: None,
        tree: String::new(),
        tree_files: Default::default(),
        base: None,
        changes: vec![Change {
            action: Action::Update,
            resource_type: "segment_source".into(),
            address: String::new(),
            file: String::new(),
            import_id: None,
            attributes: vec![attribute],
            live_fingerprint: None,
            desired: None,
            dependents: vec![String::new()],
        }],
        conflicts: vec![Conflict {
            address: String::new(),
            file: String::new(),
            path: String::new(),
            base: None,
            workspace: None,
            file_value: None,
            sensitive: false,
        }],
        kept: vec![Kept {
            address: String::new(),
            file: String::new(),
            path: String::new(),
        }],
        unchanged: 0,
        workspace_reads: 0,
        notes: vec![gitsync::sync::diagnostic::Diagnostic::note("", "")],
        seal: Some(String::new()),
    };
    let mut fields = BTreeSet::new();
    keys(
        &serde_json::to_value(&plan).unwrap_or_else(|e| panic!("{e}")),
        &mut fields,
    );
    let doc = read("docs/plan-format.md");
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        fields, documented,
        "the plan's fields against the docs' tables"
    );
}
