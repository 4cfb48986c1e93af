//! Seed the embedded workspace from a Git Sync tree, export it over HTTP, get the same tree.

mod common;

use std::process::{Command, Stdio};

use common::{TestWorkspace, exported_tree_of, fixture_dir, tree_of};
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
    let bin = env!("CARGO_BIN_EXE_gitsync");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let mut server = Command::new(bin)
        .args([
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
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{port}");
    wait_for_port(port);

    let out = dir.path().join("repo");
    std::fs::create_dir_all(out.join("sources")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("README.md"), "ours").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("sources/deleted-long-ago.tf"), "stale")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap_or_else(|e| panic!("{e}"));

    let export = Command::new(bin)
        .args(["export", "--workspace", &url, "--token-file"])
        .arg(dir.path().join("token"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
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
    let bad = Command::new(bin)
        .args(["export", "--workspace", &url, "--token-file"])
        .arg(dir.path().join("bad"))
        .arg("--out")
        .arg(dir.path().join("other"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
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
    let bin = env!("CARGO_BIN_EXE_gitsync");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("no-such-tree");
    let db = dir.path().join("ws.db");
    let mut server = Command::new(bin)
        .args(["workspace", "serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--seed-hcl")
        .arg(&missing)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
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
