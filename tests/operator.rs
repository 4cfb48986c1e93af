//! The operator end to end, on a real kube-apiserver (etcd + kube-apiserver from
//! `scripts/test-cluster`), with kubectl, the embedded workspace over HTTP and `git http-backend`
//! behind Basic auth: what a platform engineer does, and what they see.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util;
use crate::util::cluster::{TestCluster, crds_file, kube_client};
use crate::util::command::gitsync;
use crate::util::operator::{Operator, cluster_with_crds, tail, wait_for_ready, wait_until};
use crate::util::{TestWorkspace, git};
use gitsync::model::{ResourceType, Value};
use gitsync::operator::conditions::CONNECTION_ISSUES;
use gitsync::workspace::Workspace;

/// `kubectl wait --for=condition=Ready`, as a user would; on failure, kubectl's words and the
/// operator's log.
fn kubectl_wait_ready(cluster: &TestCluster, what: &str, timeout: &str, log: &Path) {
    let waited = cluster.kubectl(&[
        "wait",
        "--for=condition=Ready",
        what,
        &format!("--timeout={timeout}"),
    ]);
    assert!(
        waited.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&waited.stderr),
        tail(log)
    );
}

/// Asks for a poll now with `reconcile.fluxcd.io/requestedAt=at` on `what` (`gitsync/acme`), as
/// `flux reconcile` does, and waits until the status says it was handled.
fn request_reconcile(cluster: &TestCluster, what: &str, at: &str, log: &Path) {
    cluster.kubectl_ok(&[
        "annotate",
        "--overwrite",
        what,
        &format!("reconcile.fluxcd.io/requestedAt={at}"),
    ]);
    wait_until(
        "lastHandledReconcileAt",
        Duration::from_secs(15),
        || cluster.get_json(what)["status"]["lastHandledReconcileAt"] == at,
        log,
    );
}

fn secret_yaml(name: &str, pairs: &[(&str, &str)]) -> String {
    let data: String = pairs
        .iter()
        .map(|(k, v)| format!("  {k}: \"{v}\"\n"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\nstringData:\n{data}"
    )
}

fn subjects(remote: &Path) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(remote)
        .args(["log", "--format=%s", "main"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines().map(str::to_owned).collect()
}

async fn rename_first_source(client: &gitsync::workspace::Client, name: &str) -> String {
    let mut source = client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"))[0]
        .clone();
    source
        .attributes
        .insert("name".into(), Value::String(name.into()));
    client
        .update(&source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    source.id.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_syncs_reacts_to_annotations_suspend_and_secret_fixes() {
    let cluster = cluster_with_crds().await;

    let ws = TestWorkspace::seeded(Some("ws-token")).await;
    let client = ws.client("ws-token");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(&repos, "repo.git");
    let port = util::git_http::serve(repos.clone()).await;

    let resources = format!(
        r#"apiVersion: gitsync.dev/v1alpha1
kind: GitConnection
metadata: {{name: http, namespace: default}}
spec:
  provider: generic
  secretRef: {{name: git-creds}}
---
apiVersion: gitsync.dev/v1alpha1
kind: GitSync
metadata: {{name: acme, namespace: default}}
spec:
  workspace:
    endpoint: {ws_url}
    tokenSecretRef: {{name: workspace-token, key: token}}
  connectionRef: {{name: http}}
  repository:
    url: http://127.0.0.1:{port}/repo.git
  interval: 1s
"#,
        ws_url = ws.running.url()
    );
    let secrets = [
        secret_yaml("workspace-token", &[("token", "ws-token")]),
        secret_yaml(
            "git-creds",
            &[
                ("username", util::git_http::USER),
                ("password", util::git_http::PASSWORD),
            ],
        ),
    ];
    let (ok, out) = cluster.apply(&format!(
        "{}---\n{}---\n{resources}",
        secrets[0], secrets[1]
    ));
    assert!(ok, "{out}");

    let state = root.path().join("state");
    let operator = Operator::start(cluster.kubeconfig(), &state, "op-1", &[]);
    let log = operator.log.clone();

    // kubectl wait, as a user would.
    kubectl_wait_ready(&cluster, "gitsync/acme", "90s", &log);
    // The files are on the branch: all 52 of the sample, and the Git Sync commits.
    let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(files.lines().count(), 52, "{files}");
    let history = subjects(&remote);
    assert_eq!(
        history.last().map(String::as_str),
        Some("Verify write permission for gitsync ✅")
    );
    let status = cluster.get_json("gitsync/acme")["status"].clone();
    assert_eq!(status["resources"]["segment_source"], 10, "{status}");
    let head = git(&remote, &["rev-parse", "main"]);
    assert_eq!(status["lastCommit"], head.as_str(), "{status}");
    // kubectl get shows the printer columns.
    let table = cluster.kubectl_ok(&["get", "gitsyncs"]);
    let header = table.lines().next().unwrap_or("");
    for column in [
        "READY",
        "REPOSITORY",
        "BRANCH",
        "LAST SYNC",
        "COMMIT",
        "PLANS",
        "AGE",
    ] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains(&head[..7]), "{table}");
    // The connection was checked against the repository.
    let conn = cluster.ready("gitconnection/http");
    assert_eq!(
        conn.as_ref().map(|c| (c.0.as_str(), c.1.as_str())),
        Some(("True", "Connected")),
        "{conn:?}"
    );

    // A workspace change becomes a commit within the interval.
    let id = rename_first_source(&client, "Renamed by the operator test").await;
    let expected = format!("Source '{id}' modified by Public API token 'gitsync'");
    wait_until(
        "the change's commit",
        Duration::from_secs(15),
        || subjects(&remote).first() == Some(&expected),
        &log,
    );

    // The full-sync annotation, through `gitsync full-sync --wait`.
    let full = gitsync(&[
        "full-sync",
        "acme",
        "-n",
        "default",
        "--wait",
        "--timeout",
        "60s",
    ])
    .env("KUBECONFIG", cluster.kubeconfig())
    .output();
    let full_out = String::from_utf8_lossy(&full.stdout);
    assert!(
        full.status.success(),
        "{full_out}{}\n{}",
        String::from_utf8_lossy(&full.stderr),
        tail(&log)
    );
    assert!(full_out.contains("Full sync of 52 resources"), "{full_out}");
    let status = cluster.get_json("gitsync/acme")["status"].clone();
    let annotations = cluster.get_json("gitsync/acme")["metadata"]["annotations"].clone();
    assert_eq!(
        status["lastHandledFullSyncAt"],
        annotations["gitsync.dev/full-sync-requested-at"]
    );
    let events = cluster.kubectl_ok(&["get", "events", "-o", "json"]);
    assert!(events.contains("FullSync"), "{events}");

    // Flux's reconcile annotation is recorded.
    request_reconcile(&cluster, "gitsync/acme", "2026-11-24T10:00:00Z", &log);

    // Suspend stops commits.
    cluster.kubectl_ok(&[
        "patch",
        "gitsync/acme",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    wait_for_ready(
        &cluster,
        "gitsync/acme",
        Duration::from_secs(15),
        &log,
        |r| r.1 == "Suspended",
    );
    let before = git(&remote, &["rev-parse", "main"]);
    let suspended_id = rename_first_source(&client, "Changed while suspended").await;
    // The operator has looked at the suspended GitSync since the change (it recorded the
    // request), and made no commit.
    request_reconcile(&cluster, "gitsync/acme", "while-suspended", &log);
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        before,
        "no commit while suspended"
    );
    cluster.kubectl_ok(&[
        "patch",
        "gitsync/acme",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    let resumed = format!("Source '{suspended_id}' modified by Public API token 'gitsync'");
    wait_until(
        "the change made while suspended, after resuming",
        Duration::from_secs(20),
        || subjects(&remote).first() == Some(&resumed),
        &log,
    );

    // A bad Secret: Ready=False with Segment's message and the precise cause.
    let (ok, out) = cluster.apply(&secret_yaml(
        "git-creds",
        &[("username", util::git_http::USER), ("password", "wrong")],
    ));
    assert!(ok, "{out}");
    wait_for_ready(
        &cluster,
        "gitsync/acme",
        Duration::from_secs(30),
        &log,
        |(status, reason, message)| {
            status == "False"
                && reason == "AuthenticationFailed"
                && message.starts_with(CONNECTION_ISSUES)
                && message.contains("authentication failed")
        },
    );
    let stalled = cluster.get_json("gitsync/acme")["status"]["conditions"].clone();
    assert!(
        stalled.as_array().is_some_and(|cs| cs
            .iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True")),
        "{stalled}"
    );
    wait_for_ready(
        &cluster,
        "gitconnection/http",
        Duration::from_secs(30),
        &log,
        |r| r.1 == "AuthenticationFailed",
    );
    // A deleted Secret is named.
    cluster.kubectl_ok(&["delete", "secret", "git-creds"]);
    wait_for_ready(
        &cluster,
        "gitsync/acme",
        Duration::from_secs(30),
        &log,
        |(_, reason, message)| reason == "SecretNotFound" && message.contains("git-creds"),
    );
    // Fixing the Secret recovers, without restarting anything.
    let (ok, out) = cluster.apply(&secret_yaml(
        "git-creds",
        &[
            ("username", util::git_http::USER),
            ("password", util::git_http::PASSWORD),
        ],
    ));
    assert!(ok, "{out}");
    let fixed_id = rename_first_source(&client, "After the fix").await;
    let fixed = format!("Source '{fixed_id}' modified by Public API token 'gitsync'");
    wait_until(
        "recovery after fixing the Secret",
        Duration::from_secs(30),
        || {
            cluster.ready("gitsync/acme").is_some_and(|r| r.0 == "True")
                && subjects(&remote).first() == Some(&fixed)
        },
        &log,
    );

    // Metrics: the families an SRE alerts on, with this GitSync's numbers.
    let metrics = operator.metrics("application/openmetrics-text");
    for family in [
        "gitsync_sync_duration_seconds_bucket{",
        "gitsync_syncs_total{",
        "gitsync_commits_pushed_total{",
        "gitsync_push_failures_total{",
        "gitsync_workspace_requests_total{",
        "gitsync_resources{",
        "gitsync_last_successful_sync_timestamp_seconds{",
        "gitsync_reconcile_errors_total{",
        "gitsync_leader 1",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    assert!(
        metrics.contains(r#"reason="authentication_failed""#),
        "{metrics}"
    );
    if let Some(promtool) = util::promtool() {
        util::promtool_check(&promtool, &operator.metrics("text/plain"));
    }

    // Deleting the GitSync leaves the repository as it is.
    let head = git(&remote, &["rev-parse", "main"]);
    let cache = state.join("cache/default/acme");
    assert!(cache.exists(), "no cache at {}", cache.display());
    cluster.kubectl_ok(&["delete", "gitsync/acme"]);
    // A witness: another GitSync of the same workspace, into another repository. Once it has
    // committed the change, the deleted one would have had every chance to.
    let witness_remote = util::bare_remote(&repos, "witness.git").0;
    let (ok, out) = cluster.apply(&sync_objects(
        &ws.running.url(),
        &format!("file://{}", witness_remote.display()),
        "witness",
    ));
    assert!(ok, "{out}");
    kubectl_wait_ready(&cluster, "gitsync/witness", "90s", &log);
    let after_id = rename_first_source(&client, "After the delete").await;
    let after = format!("Source '{after_id}' modified by Public API token 'gitsync'");
    wait_until(
        "the witness to commit the change made after the delete",
        Duration::from_secs(20),
        || subjects(&witness_remote).first() == Some(&after),
        &log,
    );
    assert_eq!(git(&remote, &["rev-parse", "main"]), head);
    assert_eq!(
        git(&remote, &["ls-tree", "-r", "--name-only", "main"])
            .lines()
            .count(),
        52
    );
    // ...and the operator lets go of it: metrics series and the cache repository go.
    wait_until(
        "the deleted GitSync's metrics and cache to go",
        Duration::from_secs(25),
        || {
            !operator.metrics("text/plain").lines().any(|l| {
                l.starts_with("gitsync_last_successful_sync_timestamp_seconds{")
                    && l.contains(r#"name="acme""#)
            }) && !cache.exists()
        },
        &log,
    );
}

/// The GitSync, GitConnection and Secret objects of a test, pointing at `ws_url` and `repo_url`.
fn sync_objects(ws_url: &str, repo_url: &str, name: &str) -> String {
    format!(
        r#"{}---
apiVersion: gitsync.dev/v1alpha1
kind: GitSync
metadata: {{name: {name}, namespace: default}}
spec:
  workspace:
    endpoint: {ws_url}
    tokenSecretRef: {{name: workspace-token, key: token}}
  repository:
    url: {repo_url}
  interval: 1s
"#,
        secret_yaml("workspace-token", &[("token", "ws-token")])
    )
}

/// The embedded workspace seeded with the v2025 sample, a bare repository, and a GitSync `name`
/// (with its token Secret) syncing one into the other over file:// every second.
async fn synced_workspace(
    cluster: &TestCluster,
    name: &str,
) -> (
    TestWorkspace,
    gitsync::workspace::Client,
    tempfile::TempDir,
    PathBuf,
) {
    let ws = TestWorkspace::seeded(Some("ws-token")).await;
    let client = ws.client("ws-token");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(root.path(), "repo.git");
    let (ok, out) = cluster.apply(&sync_objects(
        &ws.running.url(),
        &format!("file://{}", remote.display()),
        name,
    ));
    assert!(ok, "{out}");
    (ws, client, root, remote)
}

#[test]
fn the_crds_in_the_repository_are_what_gitsync_crds_prints() {
    let out = gitsync(&["crds"]).output();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(crds_file()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "crds/gitsync.dev.yaml is stale: run `cargo run -- crds > crds/gitsync.dev.yaml`"
    );
}

#[test]
fn the_api_server_refuses_invalid_custom_resources_with_the_schema_message() {
    let cluster = TestCluster::start();
    cluster.install_crds();
    let cases = [
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: a, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n",
            "spec.repository: Required value",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: b, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n  interval: soon\n",
            "spec.interval",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: b2, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n  interval: 1d\n",
            "spec.interval",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: c, namespace: default}\nspec:\n  workspace: {endpoint: moon, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n",
            "spec.workspace.endpoint",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: d, namespace: default}\nspec:\n  workspace: {endpoint: eu, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n  resourceTypes: [segment_source, segment_spaceship]\n",
            "Unsupported value: \"segment_spaceship\"",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: b1, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git', branch: '-x'}\n",
            "spec.repository.branch",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: b2, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git', branch: 'a..b'}\n",
            "spec.repository.branch",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitConnection\nmetadata: {name: e, namespace: default}\nspec:\n  provider: sourceforge\n  secretRef: {name: s}\n",
            "Unsupported value: \"sourceforge\"",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: GitConnection\nmetadata: {name: f, namespace: default}\nspec:\n  provider: github\n",
            "spec.secretRef: Required value",
        ),
        (
            "apiVersion: gitsync.dev/v1alpha1\nkind: SyncSecret\nmetadata: {name: g, namespace: default}\nspec:\n  name: 'has spaces'\n  secretRef: {name: s, key: k}\n",
            "spec.name",
        ),
    ];
    for (yaml, expected) in cases {
        // Without kubectl's own checks: the API server's schema is what refuses.
        let (ok, out) = cluster.apply_with(yaml, &["--validate=false"]);
        assert!(!ok, "accepted:\n{yaml}");
        assert!(out.contains(expected), "expected `{expected}` in:\n{out}");
    }
    // Defaults are filled in by the API server.
    let (ok, out) = cluster.apply("apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: ok, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n",
    );
    assert!(ok, "{out}");
    let spec = cluster.get_json("gitsync/ok")["spec"].clone();
    assert_eq!(spec["repository"]["branch"], "main", "{spec}");
    assert_eq!(spec["interval"], "1m", "{spec}");
    assert_eq!(spec["suspend"], false, "{spec}");
    assert_eq!(spec["author"]["name"], "gitsync", "{spec}");
    // Flux's durations are accepted, as Flux's own CRDs accept them (this pattern refused them).
    for (name, interval) in [("flux-a", "1m30s"), ("flux-b", "1.5h"), ("flux-c", "10m0s")] {
        let (ok, out) = cluster.apply(&format!(
                "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  workspace: {{endpoint: us, tokenSecretRef: {{name: t, key: token}}}}\n  repository: {{url: 'https://example.com/r.git'}}\n  interval: {interval}\n"
            ),
        );
        assert!(ok, "{interval}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_operators_only_the_leader_writes_and_the_standby_takes_over() {
    let cluster = cluster_with_crds().await;
    let (_ws, client, root, remote) = synced_workspace(&cluster, "acme").await;

    let lease = ["--lease-seconds", "4"];
    let mut first = Operator::start(
        cluster.kubeconfig(),
        &root.path().join("one"),
        "one",
        &lease,
    );
    kubectl_wait_ready(&cluster, "gitsync/acme", "60s", &first.log);
    let second = Operator::start(
        cluster.kubeconfig(),
        &root.path().join("two"),
        "two",
        &lease,
    );
    let log = second.log.clone();
    wait_until(
        "both replicas serving metrics",
        Duration::from_secs(20),
        || {
            first.metrics("text/plain").contains("gitsync_leader 1")
                && second.metrics("text/plain").contains("gitsync_leader 0")
        },
        &log,
    );
    let holder = cluster.get_json("lease/gitsync-operator")["spec"]["holderIdentity"].clone();
    assert_eq!(holder, "one");

    // Changes while "one" leads: each arrives once, and "two" made no commit.
    let mut expected = Vec::new();
    let sources = client
        .list(ResourceType::Source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (i, source) in sources.iter().take(2).enumerate() {
        let mut s = source.clone();
        s.attributes
            .insert("name".into(), Value::String(format!("Led by one {i}")));
        client.update(&s).await.unwrap_or_else(|e| panic!("{e}"));
        expected.push(format!(
            "Source '{}' modified by Public API token 'gitsync'",
            s.id.clone().unwrap_or_default()
        ));
        let want = expected.last().cloned().unwrap_or_default();
        wait_until(
            "a commit from the leader",
            Duration::from_secs(15),
            || subjects(&remote).first() == Some(&want),
            &first.log,
        );
    }
    assert!(
        !second
            .metrics("text/plain")
            .contains("gitsync_commits_pushed_total{"),
        "the standby pushed:\n{}",
        second.metrics("text/plain")
    );

    // Kill the leader outright (no release), change the workspace right away: the standby takes
    // the Lease once it expires and brings the change over, once.
    first.kill();
    // Meanwhile someone pushes a commit claiming a sync point in 2099 (issue 9, defect 1): the
    // standby must not trust it, must say so in an Event, and must still bring the change.
    util::commit_readme(
        root.path(),
        &remote.to_string_lossy(),
        "Harmless\n\nGitsync-Audit-Point: 2099-01-01T00:00:00.000Z",
    );
    let mut s = sources[2].clone();
    s.attributes
        .insert("name".into(), Value::String("While nobody leads".into()));
    client.update(&s).await.unwrap_or_else(|e| panic!("{e}"));
    let want = format!(
        "Source '{}' modified by Public API token 'gitsync'",
        s.id.clone().unwrap_or_default()
    );
    expected.push(want.clone());
    wait_until(
        "the standby to take over and push the change",
        Duration::from_secs(40),
        || subjects(&remote).first() == Some(&want),
        &log,
    );
    assert!(second.metrics("text/plain").contains("gitsync_leader 1"));
    let events = cluster.kubectl_ok(&["get", "events", "-o", "json"]);
    assert!(
        events.contains("UntrustedSyncPoint") && events.contains("it has no seal"),
        "{events}"
    );
    // Nothing lost, nothing pushed twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let history = subjects(&remote);
    let changes: Vec<&String> = history.iter().filter(|s| s.contains(" by ")).collect();
    let mut wanted: Vec<&String> = expected.iter().rev().collect();
    wanted.dedup();
    assert_eq!(changes, wanted, "{history:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_works_with_exactly_the_rbac_in_deploy() {
    let cluster = cluster_with_crds().await;
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for file in [
        "00-namespace.yaml",
        "10-serviceaccount.yaml",
        "20-clusterrole.yaml",
        "30-leader-election.yaml",
    ] {
        cluster.kubectl_ok(&["apply", "-f", &deploy.join(file).to_string_lossy()]);
    }
    // The test's non-admin user gets exactly the operator's roles (the ServiceAccount's token
    // cannot be minted without a controller-manager, so a user stands in for it).
    let (ok, out) = cluster.apply(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: test-user-gitsync-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitsync-operator}
subjects: [{kind: User, name: gitsync-operator-test, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: test-user-leader-election, namespace: gitsync-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gitsync-operator-leader-election}
subjects: [{kind: User, name: gitsync-operator-test, apiGroup: rbac.authorization.k8s.io}]
"#,
    );
    assert!(ok, "{out}");

    // No broader than needed: the user cannot write specs, delete, or touch pods.
    let can = |args: &[&str]| {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        String::from_utf8_lossy(&cluster.kubectl_as_user(&full).stdout)
            .trim()
            .to_owned()
    };
    assert_eq!(
        can(&["patch", "gitsyncs.gitsync.dev", "--subresource=status"]),
        "yes"
    );
    assert_eq!(can(&["watch", "secrets", "--all-namespaces"]), "yes");
    for denied in [
        vec!["patch", "gitsyncs.gitsync.dev"],
        vec!["delete", "gitsyncs.gitsync.dev"],
        vec!["create", "secrets"],
        vec!["delete", "secrets"],
        vec!["list", "pods"],
        vec!["create", "deployments.apps"],
        vec!["create", "leases.coordination.k8s.io", "-n", "default"],
    ] {
        assert_eq!(can(&denied), "no", "{denied:?}");
    }

    let (_ws, client, root, remote) = synced_workspace(&cluster, "rbac").await;
    let operator = Operator::start(
        cluster.user_kubeconfig(),
        &root.path().join("state"),
        "restricted",
        &["--lease-namespace", "gitsync-system"],
    );
    kubectl_wait_ready(&cluster, "gitsync/rbac", "60s", &operator.log);
    let id = rename_first_source(&client, "Under least privilege").await;
    let expected = format!("Source '{id}' modified by Public API token 'gitsync'");
    wait_until(
        "a commit from the restricted operator",
        Duration::from_secs(15),
        || subjects(&remote).first() == Some(&expected),
        &operator.log,
    );
    let events = cluster.kubectl_ok(&["get", "events", "-n", "default", "-o", "json"]);
    assert!(
        events.contains("FullSync"),
        "the Event was not allowed:\n{events}"
    );
    let log = operator.log_text();
    assert!(!log.contains("forbidden"), "{log}");
}

/// The API calls the operator (user `admin`) made so far, from the API server's audit log:
/// `verb resource[/subresource] name` for each completed request that is not kubectl's (the
/// tests' own, as the same user), a watch or list (the controllers' streams) or the Lease (leader
/// election).
fn operator_calls(cluster: &TestCluster) -> Vec<String> {
    let text = std::fs::read_to_string(cluster.audit_log()).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == "admin")
        .filter(|e| !e["userAgent"].as_str().unwrap_or("").starts_with("kubectl"))
        .filter(|e| !matches!(e["verb"].as_str(), Some("watch" | "list")))
        .filter(|e| e["objectRef"]["resource"] != "leases")
        .map(|e| {
            let r = &e["objectRef"];
            let sub = r["subresource"]
                .as_str()
                .map(|s| format!("/{s}"))
                .unwrap_or_default();
            format!(
                "{} {}{sub} {}",
                e["verb"].as_str().unwrap_or(""),
                r["resource"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Wake-ups with nothing due (the controllers' own status writes, an annotation that asks for
/// nothing) make no API call at all: no GET of the token Secret, the GitConnection or its Secret,
/// for any of the GitSyncs sharing the connection or for the GitConnection itself; and a due run
/// does not read them again either while they are unchanged. Counted in the API server's audit
/// log.
#[tokio::test(flavor = "multi_thread")]
async fn a_wake_up_with_nothing_due_makes_no_api_call() {
    let cluster = cluster_with_crds().await;
    let ws = TestWorkspace::seeded(Some("ws-token")).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    for repo in ["a.git", "b.git"] {
        util::bare_remote(&repos, repo);
    }
    let port = util::git_http::serve(repos.clone()).await;
    let mut objects = format!(
        "{}---\n{}---\napiVersion: gitsync.dev/v1alpha1\nkind: GitConnection\nmetadata: {{name: http, namespace: default}}\nspec:\n  secretRef: {{name: git-creds}}\n",
        secret_yaml("workspace-token", &[("token", "ws-token")]),
        secret_yaml(
            "git-creds",
            &[
                ("username", util::git_http::USER),
                ("password", util::git_http::PASSWORD),
            ],
        ),
    );
    for name in ["a", "b"] {
        objects.push_str(&format!(
            "---\napiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  workspace:\n    endpoint: {}\n    tokenSecretRef: {{name: workspace-token, key: token}}\n  connectionRef: {{name: http}}\n  repository:\n    url: http://127.0.0.1:{port}/{name}.git\n  interval: 1h\n",
            ws.running.url()
        ));
    }
    let (ok, out) = cluster.apply(&objects);
    assert!(ok, "{out}");
    let state = root.path().join("state");
    let operator = Operator::start(cluster.kubeconfig(), &state, "op-quiet", &[]);
    let log = operator.log.clone();
    for name in ["a", "b"] {
        kubectl_wait_ready(&cluster, &format!("gitsync/{name}"), "90s", &log);
    }
    // The first runs and the wake-ups their status writes cause are over once nothing new is
    // logged for three seconds.
    let mut settled = operator_calls(&cluster).len();
    let mut quiet_since = Instant::now();
    wait_until(
        "the operator to settle",
        Duration::from_secs(60),
        || {
            let now = operator_calls(&cluster).len();
            if now != settled {
                settled = now;
                quiet_since = Instant::now();
            }
            quiet_since.elapsed() > Duration::from_secs(3)
        },
        &log,
    );
    let before = operator_calls(&cluster);
    assert!(
        before.iter().any(|c| c == "get secrets git-creds"),
        "the audit log counts the operator's calls: {before:#?}"
    );

    // Wake-ups with nothing due: annotations that are no waker, on both GitSyncs; then a due
    // run of each (Flux's reconcile annotation). Once both are handled, the operator has been
    // woken by every annotation before them (a reconcile reads the object as it is by then).
    // The due runs write their status, and that is all: neither they nor the wake-ups before
    // them read a Secret or the GitConnection (nothing they use changed).
    for round in 0..5 {
        for name in ["gitsync/a", "gitsync/b"] {
            cluster.kubectl_ok(&[
                "annotate",
                "--overwrite",
                name,
                &format!("example.com/touched={round}"),
            ]);
        }
    }
    for name in ["gitsync/a", "gitsync/b"] {
        request_reconcile(&cluster, name, "2026-12-01T09:00:00Z", &log);
    }
    let mut calls = Vec::new();
    wait_until(
        "the due runs' status writes in the audit log",
        Duration::from_secs(15),
        || {
            calls = operator_calls(&cluster)[before.len()..].to_vec();
            calls.len() >= 2
        },
        &log,
    );
    calls.sort();
    assert_eq!(
        calls,
        ["patch gitsyncs/status a", "patch gitsyncs/status b"],
        "calls made on wake-ups with nothing due, or by a due run; operator log:\n{}",
        tail(&log)
    );
    let after = operator_calls(&cluster);

    // The GitConnection's controller does not check it again for a change of its annotations
    // (that it writes its status is what shows a check). The GitSyncs using it read it again:
    // a change of an object they refer to is theirs to look at; that both have is the sign
    // that the change reached the operator.
    for round in 0..5 {
        cluster.kubectl_ok(&[
            "annotate",
            "--overwrite",
            "gitconnection/http",
            &format!("example.com/touched={round}"),
        ]);
    }
    wait_until(
        "both GitSyncs to read the annotated GitConnection again",
        Duration::from_secs(30),
        || {
            operator_calls(&cluster)[after.len()..]
                .iter()
                .filter(|c| *c == "get gitconnections http")
                .count()
                >= 2
        },
        &log,
    );
    let touched = operator_calls(&cluster);
    let checks = touched[after.len()..]
        .iter()
        .filter(|c| c.starts_with("patch gitconnections/status"))
        .count();
    assert_eq!(checks, 0, "{:#?}", &touched[after.len()..]);
    let run = touched;

    // Secrets are watched by their metadata only: the operator's lists of Secrets (a watch
    // starts with one) carried no Secret's data.
    let audit = std::fs::read_to_string(cluster.audit_log()).unwrap_or_default();
    let secret_lists: Vec<String> = audit
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == "admin")
        .filter(|e| !e["userAgent"].as_str().unwrap_or("").starts_with("kubectl"))
        .filter(|e| e["verb"] == "list" && e["objectRef"]["resource"] == "secrets")
        .map(|e| {
            e["responseObject"]["kind"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        !secret_lists.is_empty()
            && secret_lists
                .iter()
                .all(|kind| kind == "PartialObjectMetadataList"),
        "{secret_lists:?}"
    );

    // A changed Secret is read again, once per GitSync using it.
    let (ok, out) = cluster.apply(&secret_yaml(
        "git-creds",
        &[
            ("username", util::git_http::USER),
            ("password", util::git_http::PASSWORD),
            ("note", "rotated"),
        ],
    ));
    assert!(ok, "{out}");
    wait_until(
        "both GitSyncs to read the changed Secret",
        Duration::from_secs(30),
        || {
            operator_calls(&cluster)[run.len()..]
                .iter()
                .filter(|c| *c == "get secrets git-creds")
                .count()
                >= 3
        },
        &log,
    );
}

/// No password written in a URL reaches the operator's log, a condition or an Event, while the
/// credentials still work; a branch name git would refuse is a condition, not a broken branch.
#[tokio::test(flavor = "multi_thread")]
async fn no_password_from_a_url_in_the_log_conditions_or_events() {
    const REPO_PASSWORD: &str = "RepoPassw0rdInUrl";
    const WS_PASSWORD: &str = "WsPassw0rdInUrl";
    let cluster = cluster_with_crds().await;
    let ws = TestWorkspace::seeded(Some("ws-token")).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(&repos, "repo.git");
    let port = util::git_http::serve(repos.clone()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let ws_url = ws.running.url();
    let ws_with_password = ws_url.replacen("http://", &format!("http://ws-user:{WS_PASSWORD}@"), 1);
    let gitsync = |name: &str, endpoint: &str, url: &str, extra: &str| {
        format!(
            r#"---
apiVersion: gitsync.dev/v1alpha1
kind: GitSync
metadata: {{name: {name}, namespace: default}}
spec:
  workspace:
    endpoint: {endpoint}
    tokenSecretRef: {{name: workspace-token, key: token}}
  repository:
    url: {url}
{extra}  interval: 1s
"#
        )
    };
    let objects = [
        secret_yaml("workspace-token", &[("token", "ws-token")]),
        secret_yaml(
            "git-creds",
            &[("username", util::git_http::USER), ("password", "other")],
        ),
        r#"---
apiVersion: gitsync.dev/v1alpha1
kind: GitConnection
metadata: {name: conn, namespace: default}
spec:
  provider: generic
  secretRef: {name: git-creds}
"#
        .to_owned(),
        // The right credentials, in the URL only: they must work.
        gitsync(
            "in-url",
            &ws_url,
            &format!(
                "http://{}:{}@127.0.0.1:{port}/repo.git",
                util::git_http::USER,
                util::git_http::PASSWORD
            ),
            "",
        ),
        // A host that does not answer, through a GitConnection (which checks it too).
        gitsync(
            "unreachable",
            &ws_url,
            &format!("http://someone:{REPO_PASSWORD}@127.0.0.1:{closed}/repo.git"),
            "  connectionRef: {name: conn}\n",
        ),
        // A workspace endpoint with a password in it.
        gitsync(
            "ws-in-url",
            &ws_with_password,
            &format!("http://someone:{REPO_PASSWORD}@127.0.0.1:{closed}/other.git"),
            "",
        ),
        // A full ref name: git would write refs/heads/refs/heads/main.
        gitsync(
            "full-ref",
            &ws_url,
            &format!("file://{}", remote.display()),
            "    branch: refs/heads/main\n",
        ),
    ];
    let (ok, out) = cluster.apply(&objects.join("---\n"));
    assert!(ok, "{out}");
    let operator = Operator::start(
        cluster.kubeconfig(),
        &root.path().join("state"),
        "redact",
        &[],
    );
    let log = operator.log.clone();
    kubectl_wait_ready(&cluster, "gitsync/in-url", "90s", &log);
    assert_eq!(
        git(&remote, &["ls-tree", "-r", "--name-only", "main"])
            .lines()
            .count(),
        52
    );
    let failed = |name: &str| {
        cluster
            .ready(&format!("gitsync/{name}"))
            .is_some_and(|(status, reason, _)| {
                status == "False" && !reason.is_empty() && reason != "FullSyncRunning"
            })
    };
    wait_until(
        "the unreachable and ws-in-url GitSyncs to fail",
        Duration::from_secs(60),
        || failed("unreachable") && failed("ws-in-url"),
        &log,
    );
    wait_for_ready(
        &cluster,
        "gitconnection/conn",
        Duration::from_secs(30),
        &log,
        |r| r.0 == "False",
    );
    wait_for_ready(
        &cluster,
        "gitsync/full-ref",
        Duration::from_secs(30),
        &log,
        |(_, reason, message)| reason == "InvalidBranch" && message.contains("`main`"),
    );
    assert!(
        !git(&remote, &["for-each-ref", "--format=%(refname)"]).contains("refs/heads/refs/"),
        "a refs/heads/refs/... branch was created"
    );
    // Let a few more reconciles (retries, Events) happen before scanning.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The condition names the repository (between two attempts it says "Full sync in progress").
    wait_for_ready(
        &cluster,
        "gitsync/unreachable",
        Duration::from_secs(30),
        &log,
        |r| r.2.contains(&format!("127.0.0.1:{closed}/repo.git")),
    );

    let mut texts = vec![("the operator's log".to_owned(), operator.log_text())];
    for kind in ["gitsyncs", "gitconnections"] {
        let list = cluster.get_json(kind);
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            texts.push((
                format!("the status of {kind}/{}", item["metadata"]["name"]),
                item["status"].to_string(),
            ));
        }
    }
    texts.push((
        "the Events".to_owned(),
        cluster.kubectl_ok(&["get", "events", "-n", "default", "-o", "json"]),
    ));
    // `kubectl get` shows the repository as status.repository, without the password.
    let table = cluster.kubectl_ok(&["get", "gitsyncs", "-n", "default"]);
    assert!(
        table.contains(&format!("http://127.0.0.1:{port}/repo.git")),
        "{table}"
    );
    texts.push(("`kubectl get gitsyncs`".to_owned(), table));
    for (place, text) in &texts {
        for secret in [REPO_PASSWORD, WS_PASSWORD, util::git_http::PASSWORD] {
            assert!(
                !text.contains(secret),
                "{place} shows a password from a URL ({secret}):\n{text}"
            );
        }
    }
}

/// The conditions of `what`, as (type, status, reason, message).
fn conditions_of(cluster: &TestCluster, what: &str) -> Vec<(String, String, String, String)> {
    let object = cluster.get_json(what);
    object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or("").to_owned();
            (
                field("type"),
                field("status"),
                field("reason"),
                field("message"),
            )
        })
        .collect()
}

/// The Events with `reason` about `name`, from `kubectl get events`, each with its count.
fn events_with_reason(cluster: &TestCluster, name: &str, reason: &str) -> Vec<i64> {
    let events = cluster.get_json("events");
    events["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["reason"] == reason && e["involvedObject"]["name"] == name)
        .map(|e| e["count"].as_i64().unwrap_or(1))
        .collect()
}

/// `spec.bidirectional.enabled: true` on a GitSync that has no forge to plan pull requests on
/// (a `file://` repository, no GitConnection) is not silently ignored: a `Bidirectional`
/// condition (False, NoGitConnection) that says what is missing, one Warning Event, and a
/// `Ready` that says the sync runs one way only. Turned off, all of it goes.
#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_without_a_forge_says_why_and_ready_says_one_way() {
    let cluster = tokio::task::spawn_blocking(TestCluster::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.install_crds();
    let ws = TestWorkspace::seeded(Some("ws-token")).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote, _) = util::bare_remote(root.path(), "repo.git");
    let objects = sync_objects(
        &ws.running.url(),
        &format!("file://{}", remote.display()),
        "both-ways",
    ) + "  bidirectional: {enabled: true}\n";
    let (ok, out) = cluster.apply(&objects);
    assert!(ok, "{out}");
    let operator = Operator::start(
        cluster.kubeconfig(),
        &root.path().join("state"),
        "bidi",
        &[],
    );
    let log = operator.log.clone();
    // The forward direction works, and `kubectl wait` still sees it.
    kubectl_wait_ready(&cluster, "gitsync/both-ways", "90s", &log);
    assert_eq!(
        git(&remote, &["ls-tree", "-r", "--name-only", "main"])
            .lines()
            .count(),
        52
    );
    let generation = cluster.get_json("gitsync/both-ways")["metadata"]["generation"].clone();
    let conditions = conditions_of(&cluster, "gitsync/both-ways");
    let ready = conditions.iter().find(|c| c.0 == "Ready");
    assert!(
        ready.is_some_and(|c| c.1 == "True"
            && c.2 == "SyncedOneWay"
            && c.3.contains("One way only")),
        "{conditions:#?}"
    );
    let bidirectional = conditions.iter().find(|c| c.0 == "Bidirectional");
    assert!(
        bidirectional.is_some_and(|c| c.1 == "False"
            && c.2 == "NoGitConnection"
            && c.3.contains("spec.bidirectional needs spec.connectionRef")),
        "{conditions:#?}"
    );
    let object = cluster.get_json("gitsync/both-ways");
    let observed = object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Bidirectional"))
        .map(|c| c["observedGeneration"].clone());
    assert_eq!(observed, Some(generation), "{object}");
    // One Warning Event, not one per poll: the operator has run again since (it handled a
    // request), and there is still one.
    wait_until(
        "the BidirectionalUnavailable Event",
        Duration::from_secs(15),
        || !events_with_reason(&cluster, "both-ways", "BidirectionalUnavailable").is_empty(),
        &log,
    );
    request_reconcile(&cluster, "gitsync/both-ways", "after-the-event", &log);
    let events = cluster.get_json("events");
    let warning = events["items"].as_array().and_then(|items| {
        items
            .iter()
            .find(|e| e["reason"] == "BidirectionalUnavailable")
            .cloned()
    });
    assert!(
        warning.as_ref().is_some_and(|e| e["type"] == "Warning"),
        "{warning:?}"
    );
    assert_eq!(
        events_with_reason(&cluster, "both-ways", "BidirectionalUnavailable"),
        [1],
        "{events}"
    );

    // Turned off: a plain Ready, no Bidirectional condition.
    cluster.kubectl_ok(&[
        "patch",
        "gitsync/both-ways",
        "--type=merge",
        "-p",
        r#"{"spec":{"bidirectional":{"enabled":false}}}"#,
    ]);
    wait_until(
        "Ready=True (Synced) without a Bidirectional condition",
        Duration::from_secs(20),
        || {
            let conditions = conditions_of(&cluster, "gitsync/both-ways");
            conditions.iter().any(|c| c.0 == "Ready" && c.2 == "Synced")
                && !conditions.iter().any(|c| c.0 == "Bidirectional")
        },
        &log,
    );
}

/// Defect 16: an operator given a `--state-dir` that does not exist yet makes it at start, so
/// that its first connection check (`git ls-remote`, run in that directory) passes at once
/// instead of failing with "cannot change to" and waiting ten minutes. A directory it cannot
/// make stops it with a message naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_dir_that_does_not_exist_yet_is_made_at_start() {
    let cluster = tokio::task::spawn_blocking(TestCluster::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.install_crds();
    let ws = TestWorkspace::seeded(Some("ws-token")).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    util::bare_remote(&repos, "repo.git");
    let port = util::git_http::serve(repos.clone()).await;
    // Suspended: only the connection check touches the state directory, as it did in the defect.
    let objects = format!(
        "{}---\n{}---\napiVersion: gitsync.dev/v1alpha1\nkind: GitConnection\nmetadata: {{name: http, namespace: default}}\nspec:\n  secretRef: {{name: git-creds}}\n---\napiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {{name: fresh, namespace: default}}\nspec:\n  workspace:\n    endpoint: {}\n    tokenSecretRef: {{name: workspace-token, key: token}}\n  connectionRef: {{name: http}}\n  repository:\n    url: http://127.0.0.1:{port}/repo.git\n  interval: 1s\n  suspend: true\n",
        secret_yaml("workspace-token", &[("token", "ws-token")]),
        secret_yaml(
            "git-creds",
            &[
                ("username", util::git_http::USER),
                ("password", util::git_http::PASSWORD),
            ],
        ),
        ws.running.url(),
    );
    let (ok, out) = cluster.apply(&objects);
    assert!(ok, "{out}");
    let state = root.path().join("not/there/yet");
    let operator = Operator::start_with_state_dir(
        cluster.kubeconfig(),
        &root.path().join("logs"),
        &state,
        "fresh",
        &[],
    );
    let log = operator.log.clone();
    wait_until(
        "the GitConnection's first check to pass",
        Duration::from_secs(30),
        || {
            cluster
                .ready("gitconnection/http")
                .is_some_and(|r| r.0 == "True" && r.1 == "Connected")
        },
        &log,
    );
    assert!(state.is_dir(), "{} was not made", state.display());
    cluster.kubectl_ok(&[
        "patch",
        "gitsync/fresh",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    kubectl_wait_ready(&cluster, "gitsync/fresh", "90s", &log);
    drop(operator);

    // A state directory that cannot be made (a file is in the way).
    let file = root.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap_or_else(|e| panic!("{e}"));
    let blocked = file.join("state");
    let mut refused = Operator::start_with_state_dir(
        cluster.kubeconfig(),
        &root.path().join("logs"),
        &blocked,
        "blocked",
        &[],
    );
    let status = refused.wait_exit(Duration::from_secs(30));
    let text = refused.log_text();
    assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{text}");
    assert!(
        text.contains("cannot create the state directory")
            && text.contains(&blocked.display().to_string()),
        "{text}"
    );
}

/// Defect 16: a status written without `resources` after one with them was refused (422,
/// "status.resources in body must be of type object: null": the API server's merge leaves
/// `null` behind when a field manager drops every key of a map it wrote). The operator's own
/// status write, on the real API server with the CRDs in `crds/`, is accepted, and the object
/// still reads.
#[tokio::test(flavor = "multi_thread")]
async fn a_status_that_drops_the_resources_is_accepted_and_reads_back() {
    use gitsync::operator::context::apply_status;
    use gitsync::operator::crd::{GitSync, GitSyncStatus};
    let cluster = tokio::task::spawn_blocking(TestCluster::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.install_crds();
    let (ok, out) = cluster.apply(
        "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: counted, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n",
    );
    assert!(ok, "{out}");
    let api = kube::Api::<GitSync>::namespaced(kube_client(cluster.kubeconfig()).await, "default");
    let counted = GitSyncStatus {
        observed_generation: Some(1),
        resources: Some([("segment_source".to_owned(), 10)].into_iter().collect()),
        ..GitSyncStatus::default()
    };
    apply_status(&api, "counted", &counted)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let without = GitSyncStatus {
        observed_generation: Some(1),
        last_sync_time: Some("2026-12-06T04:00:00.000Z".into()),
        ..GitSyncStatus::default()
    };
    apply_status(&api, "counted", &without)
        .await
        .unwrap_or_else(|e| panic!("the status without resources was refused: {e}"));
    let read = api.get("counted").await.unwrap_or_else(|e| panic!("{e}"));
    let status = read.status.unwrap_or_default();
    assert_eq!(status.resources.unwrap_or_default().len(), 0);
    assert_eq!(status.last_sync_time, without.last_sync_time);
    // And counted again.
    apply_status(&api, "counted", &counted)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read = api.get("counted").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.status.and_then(|s| s.resources), counted.resources);
}

/// `status.pullRequests` is a list keyed by `number`: a server-side apply merges it per pull
/// request (another field manager's entry stays beside gitsync's), each field of an entry reads
/// back, and a status that drops every entry it wrote is accepted (as `resources` is).
#[tokio::test(flavor = "multi_thread")]
async fn pull_request_statuses_merge_per_pull_request_and_can_all_be_dropped() {
    use gitsync::operator::context::apply_status;
    use gitsync::operator::crd::{GitSync, GitSyncStatus};
    use gitsync::pulls::record::{PullRecord, Stage};
    let cluster = util::operator::cluster_with_crds().await;
    let (ok, out) = cluster.apply(
        "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {name: pulls, namespace: default}\nspec:\n  workspace: {endpoint: us, tokenSecretRef: {name: t, key: token}}\n  repository: {url: 'https://example.com/r.git'}\n  bidirectional: {enabled: true, allowAccessChanges: true, mergeAfterApply: true, allowForks: true}\n",
    );
    assert!(ok, "{out}");
    let api = kube::Api::<GitSync>::namespaced(cluster.client().await, "default");
    let pull = |number: u64, stage: Stage| PullRecord {
        number,
        head: format!("{number:040x}"),
        stage,
        plan_digest: Some("sha256:abc".into()),
        changes: Some("+2 ~1 -1".into()),
        comment_ids: vec![number * 10, number * 10 + 1],
        bot_login: Some("gitsync[bot]".into()),
        last_comment_id: Some(number * 100),
        pending_command_id: None,
        message: Some("one line".into()),
        updated: Some("2026-12-06T04:00:00Z".into()),
    };
    let ours = GitSyncStatus {
        pull_requests: Some(vec![pull(1, Stage::Planned), pull(2, Stage::Applied)]),
        open_plans: Some(1),
        ..GitSyncStatus::default()
    };
    apply_status(&api, "pulls", &ours)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let theirs = serde_json::json!({
        "apiVersion": "gitsync.dev/v1alpha1", "kind": "GitSync",
        "status": { "pullRequests": [{ "number": 9, "head": "h", "state": "failed" }] },
    });
    api.patch_status(
        "pulls",
        &kube::api::PatchParams::apply("another-manager"),
        &kube::api::Patch::Apply(&theirs),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let read = api.get("pulls").await.unwrap_or_else(|e| panic!("{e}"));
    let status = read.spec.bidirectional.clone();
    assert!(status.allow_access_changes && status.merge_after_apply && status.allow_forks);
    let pulls = read
        .status
        .and_then(|s| s.pull_requests)
        .unwrap_or_default();
    let numbers: Vec<u64> = pulls.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 9], "merged per pull request");
    assert_eq!(pulls[0], pull(1, Stage::Planned));
    // kubectl shows the open plans in the PLANS column (columns line up with the header).
    let table = cluster.kubectl_ok(&["get", "gitsyncs", "pulls"]);
    let header = table.lines().next().unwrap_or("");
    let row = table.lines().nth(1).unwrap_or("");
    let shown = header
        .find("PLANS")
        .and_then(|at| row.get(at..))
        .and_then(|rest| rest.split_whitespace().next());
    assert_eq!(shown, Some("1"), "{table}");
    // Our entries dropped: the other manager's stays; then none at all is accepted.
    apply_status(&api, "pulls", &GitSyncStatus::default())
        .await
        .unwrap_or_else(|e| panic!("the status without pull requests was refused: {e}"));
    let read = api.get("pulls").await.unwrap_or_else(|e| panic!("{e}"));
    let left: Vec<u64> = read
        .status
        .and_then(|s| s.pull_requests)
        .unwrap_or_default()
        .iter()
        .map(|p| p.number)
        .collect();
    assert_eq!(left, [9]);
    let none = serde_json::json!({
        "apiVersion": "gitsync.dev/v1alpha1", "kind": "GitSync", "status": {},
    });
    api.patch_status(
        "pulls",
        &kube::api::PatchParams::apply("another-manager"),
        &kube::api::Patch::Apply(&none),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let read = api.get("pulls").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        read.status
            .and_then(|s| s.pull_requests)
            .unwrap_or_default()
            .is_empty()
    );
}

/// `/readyz` says ready only once the watches the controllers map events through have synced:
/// a leader whose watches are refused (no RBAC yet) is not ready, and becomes ready once they
/// are allowed.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_waits_until_the_watches_have_synced() {
    let cluster = tokio::task::spawn_blocking(TestCluster::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.install_crds();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for file in [
        "00-namespace.yaml",
        "20-clusterrole.yaml",
        "30-leader-election.yaml",
    ] {
        cluster.kubectl_ok(&["apply", "-f", &deploy.join(file).to_string_lossy()]);
    }
    // Only the Lease, at first.
    let (ok, out) = cluster.apply(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: test-user-leader-election, namespace: gitsync-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gitsync-operator-leader-election}
subjects: [{kind: User, name: gitsync-operator-test, apiGroup: rbac.authorization.k8s.io}]
"#,
    );
    assert!(ok, "{out}");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let operator = Operator::start(
        cluster.user_kubeconfig(),
        &root.path().join("state"),
        "unsynced",
        &["--lease-namespace", "gitsync-system"],
    );
    let log = operator.log.clone();
    // It leads, and its controllers have tried to watch and been refused.
    wait_until(
        "the Lease and a refused watch",
        Duration::from_secs(30),
        || {
            let holder = cluster.kubectl(&[
                "get",
                "lease/gitsync-operator",
                "-n",
                "gitsync-system",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ]);
            String::from_utf8_lossy(&holder.stdout) == "unsynced"
                && operator.log_text().to_lowercase().contains("forbidden")
        },
        &log,
    );
    let (code, body) = operator.readyz();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("watches"), "{body}");

    let (ok, out) = cluster.apply(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: test-user-gitsync-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitsync-operator}
subjects: [{kind: User, name: gitsync-operator-test, apiGroup: rbac.authorization.k8s.io}]
"#,
    );
    assert!(ok, "{out}");
    wait_until(
        "ready once the watches are allowed",
        Duration::from_secs(90),
        || operator.readyz().0 == 200,
        &log,
    );
}
