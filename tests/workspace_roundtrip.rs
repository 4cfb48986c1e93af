//! Seed the embedded workspace from a Git Sync tree, export it over HTTP, get the same tree.

use crate::util;
use crate::util::command::gitsync;
use std::process::Stdio;

use crate::util::{TestWorkspace, exported_tree_of, fixture_dir, tree_of};
use gitsync::model::{ResourceType, synthetic};
use gitsync::sync::export::{Quiet, render_workspace, write_tree};
use gitsync::workspace::embedded;

#[tokio::test(flavor = "multi_thread")]
async fn seeding_2025_output_and_exporting_gives_the_same_files() {
    let ws = TestWorkspace::start(Some("t0ken")).await;
    let counts =
        embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.values().sum::<usize>(), 52);

    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (tree, _) = render_workspace(&ws.client("t0ken"), &types, &mut Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_tree(out.path(), &types, &tree).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree_of(out.path()), exported_tree_of(&fixture_dir("v2025")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_10000_resource_workspace_round_trips() {
    let ws = TestWorkspace::start(None).await;
    let resources = synthetic::workspace(10_000, 11);
    let expected: std::collections::BTreeMap<String, String> = resources
        .iter()
        .map(|r| {
            let path = r.path().unwrap_or_else(|e| panic!("{e}"));
            (
                path,
                gitsync::hcl::render(r).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    let seed: Vec<(String, gitsync::model::Resource)> = resources
        .into_iter()
        .map(|r| (r.path().unwrap_or_default(), r))
        .collect();
    embedded::seed(&ws.store, &seed).unwrap_or_else(|e| panic!("{e}"));

    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let client = ws.client_with("", |c| c.page_size = 1000);
    let (tree, counts) = render_workspace(&client, &types, &mut Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.values().sum::<usize>(), 10_000);
    assert_eq!(tree.len(), expected.len());
    for (path, text) in &expected {
        assert_eq!(tree.get(path), Some(text), "{path}");
    }
}

/// A workspace holding clear secrets at any depth of `settings` (objects, arrays, keys Segment
/// serves in clear such as `token`, values that merely contain a bullet) exports without one of
/// them in the HCL: each is written in Segment's mask.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_never_writes_a_clear_secret() {
    let ws = TestWorkspace::start(None).await;
    let secrets = [
        "hunter2-source-pass",
        "api-key-in-array-0001",
        "api-key-in-array-0002",
        "destination-token-c4fe",
        "EAAF6MStoCFsBAJcA9Dj",
        "deep-private-key-9z9z",
        "clear•with•bullets-77",
        "warehouse-password-w1",
        "service-account-key-5d5d",
    ];
    let resource = |ty: ResourceType, object: serde_json::Value| {
        let r = gitsync::workspace::api::from_api(
            ty,
            object.as_object().unwrap_or(&Default::default()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (r.path().unwrap_or_else(|e| panic!("{e}")), r)
    };
    let seed = vec![
        resource(
            ResourceType::Source,
            serde_json::json!({"id": "src1", "slug": "web", "enabled": true, "metadata": {"id": "IqDTy1TpoU"},
                "settings": {"credentials": {"user": "ana", "password": secrets[0]},
                             "apiKeys": [secrets[1], secrets[2]]}}),
        ),
        resource(
            ResourceType::Destination,
            serde_json::json!({"id": "dst1", "enabled": true, "sourceId": "src1", "metadata": {"id": "54521fd525e721e32a72ee8f"},
                "settings": {"token": secrets[3], "accessToken": secrets[4],
                             "connections": [{"host": "h", "auth": {"privateKey": secrets[5]}}],
                             "apiKey": secrets[6], "region": "us"}}),
        ),
        resource(
            ResourceType::Warehouse,
            serde_json::json!({"id": "wh1", "enabled": true, "metadata": {"id": "m"},
                "settings": {"name": "WH", "host": "db", "password": secrets[7],
                             "credentials": secrets[8]}}),
        ),
    ];
    embedded::seed(&ws.store, &seed).unwrap_or_else(|e| panic!("{e}"));

    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (tree, _) = render_workspace(&ws.client(""), &types, &mut Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree.len(), 3, "{tree:#?}");
    let all: String = tree.values().cloned().collect();
    for secret in secrets {
        // The whole value, and its start: the mask keeps only the last four characters.
        let head = &secret[..12];
        assert!(
            !all.contains(secret) && !all.contains(head),
            "`{secret}` is in the exported HCL:\n{all}"
        );
    }
    for mask in [
        "••••••••••pass",
        "••••••••••0002",
        "••••••••••c4fe",
        "••••••••••s-77",
        "••••••••••d-w1",
        "••••••••••5d5d",
    ] {
        assert!(all.contains(mask), "no `{mask}` in:\n{all}");
    }
}

#[test]
fn the_commands_a_user_runs_round_trip_and_leave_other_files_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = util::free_port();
    let mut server = gitsync(&[
        "workspace",
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--db",
    ])
    .arg(dir.path().join("ws.db"))
    .args(["--token", "s3cret", "--seed-hcl"])
    .arg(fixture_dir("v2025"))
    .stderr(Stdio::piped())
    .spawn();
    let url = format!("http://127.0.0.1:{port}");
    wait_for_port(port);

    let out = dir.path().join("repo");
    std::fs::create_dir_all(out.join("sources")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("README.md"), "ours").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("sources/deleted-long-ago.tf"), "stale")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap_or_else(|e| panic!("{e}"));

    let export = gitsync(&["export", "--workspace", &url, "--token-file"])
        .arg(dir.path().join("token"))
        .arg("--out")
        .arg(&out)
        .output();
    let stdout = String::from_utf8_lossy(&export.stdout);
    assert!(
        export.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(stdout.contains("      10  sources"), "{stdout}");
    assert!(stdout.contains("52  resources exported"), "{stdout}");
    assert!(stdout.contains("1 removed"), "{stdout}");

    assert_eq!(
        std::fs::read_to_string(out.join("README.md"))
            .ok()
            .as_deref(),
        Some("ours")
    );
    std::fs::remove_file(out.join("README.md")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree_of(&out), exported_tree_of(&fixture_dir("v2025")));

    // A wrong token: a clear error that names where the token came from.
    std::fs::write(dir.path().join("bad"), "nope").unwrap_or_else(|e| panic!("{e}"));
    let bad = gitsync(&["export", "--workspace", &url, "--token-file"])
        .arg(dir.path().join("bad"))
        .arg("--out")
        .arg(dir.path().join("other"))
        .output();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("refused the token from --token-file"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(
        !dir.path().join("other").exists(),
        "nothing is written when the export fails"
    );

    let _ = server.kill();
    let _ = server.wait();
}

/// `--seed-hcl` with a path that does not exist used to serve an empty workspace; it must fail
/// at once, naming the path, and create nothing.
#[test]
fn serving_with_a_missing_seed_tree_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("no-such-tree");
    let db = dir.path().join("ws.db");
    let mut server = gitsync(&["workspace", "serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--seed-hcl")
        .arg(&missing)
        .stderr(Stdio::piped())
        .spawn();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = server.kill();
            let _ = server.wait();
            panic!(
                "`workspace serve --seed-hcl {}` kept serving",
                missing.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = server.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "error: cannot seed from --seed-hcl {0}: cannot read {0}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert!(!db.exists(), "no database is created for a failed start");
}

fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the embedded workspace did not start listening on port {port}");
}

fn git_sync_types() -> Vec<ResourceType> {
    ResourceType::git_sync_types().collect()
}

#[cfg(unix)]
fn symlink(target: &str, link: &std::path::Path) {
    std::os::unix::fs::symlink(target, link).unwrap_or_else(|e| panic!("{e}"));
}

/// Issue 9 item 9: `out/sources -> ../elsewhere` made export delete `elsewhere/important.tf`.
/// A linked resource directory or file is refused by name, and nothing is written or removed.
#[cfg(unix)]
#[test]
fn export_refuses_symlinks_in_the_output_and_changes_nothing() {
    let tree = tree_of(&fixture_dir("v2025"));
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (out, elsewhere) = (root.path().join("out"), root.path().join("elsewhere"));
    for d in [&out, &elsewhere] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(elsewhere.join("important.tf"), "keep").unwrap_or_else(|e| panic!("{e}"));
    symlink("../elsewhere", &out.join("sources"));

    let e = write_tree(&out, &git_sync_types(), &tree)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let expected = format!(
        "{} is a symbolic link; export writes only inside the output directory and never follows links, so nothing was written: replace the link with a real directory",
        out.join("sources").display()
    );
    assert_eq!(e, Err(expected));
    assert!(elsewhere.join("important.tf").exists());
    assert_eq!(std::fs::read_dir(&out).map(|d| d.count()).ok(), Some(1));

    // A linked file among the resource files: refused too, its target kept.
    std::fs::remove_file(out.join("sources")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(out.join("sources")).unwrap_or_else(|e| panic!("{e}"));
    symlink("../../elsewhere/important.tf", &out.join("sources/gone.tf"));
    let e = write_tree(&out, &git_sync_types(), &tree).map_err(|e| e.to_string());
    assert!(
        e.as_ref().is_err_and(|e| e.starts_with(&format!(
            "{} is a symbolic link",
            out.join("sources/gone.tf").display()
        ))),
        "{e:?}"
    );
    assert!(elsewhere.join("important.tf").exists());
    assert_eq!(std::fs::read_dir(&out).map(|d| d.count()).ok(), Some(1));
}

/// The process umask, from the kernel (Linux).
fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}

/// Issue 9 item 15: export wrote files 0600 whatever the umask (tempfile's default), and a
/// killed export left `.tmpXXXX` files that no later export removed.
#[cfg(unix)]
#[test]
fn export_writes_files_with_the_umask_and_removes_its_own_leftovers() {
    use std::os::unix::fs::PermissionsExt;
    let tree = tree_of(&fixture_dir("v2025"));
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = out.path().join("sources");
    std::fs::create_dir_all(&sources).unwrap_or_else(|e| panic!("{e}"));
    let leftover = sources.join(".gitsync-tmp-Ab12Cd");
    std::fs::write(&leftover, "half a file").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(sources.join(".someone-elses"), "theirs").unwrap_or_else(|e| panic!("{e}"));

    let summary =
        write_tree(out.path(), &git_sync_types(), &tree).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((summary.written, summary.removed), (tree.len(), 0));
    assert!(!leftover.exists(), "the leftover temporary file is removed");
    assert!(sources.join(".someone-elses").exists());

    let Some(umask) = umask() else { return };
    for rel in tree.keys() {
        let mode = std::fs::metadata(out.path().join(rel))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(mode, 0o666 & !umask, "{rel}: {mode:o}");
    }
}

/// Issue 9 item 15: `--types sources,sources` failed later with "two resources map to the
/// same file"; the duplicate is refused up front, by name.
#[test]
fn export_refuses_a_type_listed_twice() {
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let run = |types: &str| {
        gitsync(&[
            "export",
            "--workspace",
            "http://127.0.0.1:9",
            "--types",
            types,
        ])
        .arg("--out")
        .arg(out.path().join("x"))
        .env("PUBLIC_API_TOKEN", "t")
        .output()
    };
    let twice = run("sources,sources");
    assert_eq!(twice.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(
        stderr.contains("the resource type `sources` is listed twice; name each type once"),
        "{stderr}"
    );
    let stderr = String::from_utf8_lossy(&run("sources,segment_source").stderr).into_owned();
    assert!(
        stderr.contains("`sources` and `segment_source` are the same resource type, listed twice"),
        "{stderr}"
    );
    assert!(!out.path().join("x").exists());
}

/// Issue 9 item 8: one nesting limit. The embedded workspace stored (and export wrote) values
/// nested 100 deep that fmt and seeding then refused; now what it stores reads back.
#[tokio::test(flavor = "multi_thread")]
async fn the_workspace_stores_values_nested_to_the_limit_and_refuses_deeper_ones() {
    use gitsync::model::{Attributes, MAX_NESTING, Resource, Value};
    use gitsync::workspace::Workspace;
    let ws = TestWorkspace::start(Some("t0ken")).await;
    let client = ws.client("t0ken");
    let nested =
        |depth: usize| (0..depth).fold(serde_json::json!(1), |v, _| serde_json::json!([v]));
    let source = |depth: usize| {
        let mut attrs = Attributes::new();
        attrs.insert("enabled".into(), Value::Bool(true));
        attrs.insert("slug".into(), Value::String("javascript".into()));
        attrs.insert("settings".into(), Value::Json(nested(depth)));
        let metadata = [("id".to_owned(), Value::String("IqDTy1TpoU".into()))];
        attrs.insert(
            "metadata".into(),
            Value::Object(metadata.into_iter().collect()),
        );
        Resource::new(ResourceType::Source, None, attrs)
    };
    let refused = client
        .create(&source(MAX_NESTING + 1))
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        refused
            .as_ref()
            .is_some_and(|e| e
                .contains("`settings` nests lists and objects deeper than the 64 levels allowed")),
        "{refused:?}"
    );
    client
        .create(&source(MAX_NESTING))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (tree, _) = render_workspace(&client, &[ResourceType::Source], &mut Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (path, text) in &tree {
        gitsync::hcl::canonicalize(text, path).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(tree.len(), 1);
}

/// A seed tree with three bad files used to fail on the first alone (fix one, find the next);
/// now every bad file is named with its place, and nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn seeding_a_tree_with_three_bad_files_names_all_three() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (rel, text) in util::tf_files(&fixture_dir("v2025")) {
        let dest = dir.path().join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&dest, text).unwrap_or_else(|e| panic!("{e}"));
    }
    let sources = dir.path().join("sources");
    std::fs::write(sources.join("broken.tf"), "resource \"segment_source\" {\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(sources.join("latin1.tf"), b"# caf\xe9\n").unwrap_or_else(|e| panic!("{e}"));
    // A label (another one than labels/ holds: the same one twice is a problem of its own).
    let label = std::fs::read_to_string(dir.path().join("labels/environment_dev.tf"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("dev", "moved");
    std::fs::write(sources.join("label.tf"), label).unwrap_or_else(|e| panic!("{e}"));

    let ws = TestWorkspace::start(None).await;
    let err = embedded::seed_from_hcl(&ws.store, dir.path())
        .map(|_| ())
        .map_err(|e| e.to_string());
    let lines: Vec<String> = err
        .err()
        .unwrap_or_else(|| panic!("a tree with bad files seeded"))
        .lines()
        .map(|l| l.split(": ").next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "sources/broken.tf:2:1",
            "sources/label.tf:6:10",
            "sources/latin1.tf:1:6"
        ]
    );
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let (tree, _) = render_workspace(&ws.client("any"), &types, &mut Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tree.is_empty(), "a failed seed stored {} files", tree.len());
}
