//! Pull requests end to end through the operator: `gitsync operator` on a real kube-apiserver,
//! the embedded workspace, and the local GitHub (its API checked against GitHub's description,
//! its repositories over Git's smart HTTP) with a GitHub App: the forward sync over HTTPS with
//! the App's installation token, signed webhooks to `--webhook-listen`, the plan comment, the
//! apply on `segment apply`, and the merge afterwards.

use std::path::Path;
use std::time::{Duration, Instant};

use gitsync::forge::Forge as _;
use gitsync::forge::local::{NewPull, PostedComment, Role};
use gitsync::model::ResourceType;
use gitsync::pulls::REWRITE_MESSAGE;
use gitsync::pulls::comment::PLAN_MARK;
use gitsync::workspace::Workspace as _;

use crate::util::cluster::TestCluster;
use crate::util::github::{APP_ID, APP_SLUG, TestGitHub, app_private_key};
use crate::util::operator::{Operator, cluster_with_crds, tail};
use crate::util::{TestWorkspace, free_port, git};

const TOKEN: &str = "operator-pulls-token";
const HOOK_SECRET: &str = "hook-secret-4d1f9c";
const REPO: &str = "acme/segment";

fn bot() -> String {
    format!("{APP_SLUG}[bot]")
}

/// Waits (without blocking the runtime) until `done` gives `Some`, or panics naming `what`
/// with the end of the operator's log.
async fn wait_for<T>(what: &str, log: &Path, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; operator log:\n{}",
            tail(log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The objects both forges' scenes share: the workspace token and webhook secret Secrets, the
/// GitConnection (`provider` with `apiBaseURL` and its Secret) and a bidirectional GitSync of
/// `repository`'s `main`.
fn objects(ws_url: &str, provider: &str, api: &str, secret: &str, repository: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: ws, namespace: default}}
stringData: {{token: {TOKEN}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: default}}
stringData: {{secret: {HOOK_SECRET}}}
---
apiVersion: gitsync.dev/v1alpha1
kind: GitConnection
metadata: {{name: forge, namespace: default}}
spec:
  provider: {provider}
  secretRef: {{name: {secret}}}
  apiBaseURL: {api}
---
apiVersion: gitsync.dev/v1alpha1
kind: GitSync
metadata: {{name: segment, namespace: default}}
spec:
  workspace: {{endpoint: '{ws_url}', tokenSecretRef: {{name: ws, key: token}}}}
  connectionRef: {{name: forge}}
  repository: {{url: '{repository}', branch: main}}
  interval: 30s
  bidirectional:
    enabled: true
    webhookSecretRef: {{name: hook, key: secret}}
"#
    )
}

/// Waits until GitSync `segment` has synced once and plans pull requests.
async fn wait_for_planning(cluster: &TestCluster, log: &Path) {
    wait_for("pull requests planned after a first sync", log, || {
        let status = cluster.get_json("gitsync/segment")["status"].clone();
        let planning = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Bidirectional" && c["status"] == "True");
        (planning && status["lastCommit"].is_string()).then_some(())
    })
    .await;
}

struct Scene {
    hook_port: u16,
    cluster: TestCluster,
    ws: TestWorkspace,
    github: TestGitHub,
    work: std::path::PathBuf,
    operator: Operator,
    state: tempfile::TempDir,
}

impl Scene {
    async fn start() -> Scene {
        Scene::start_with(&[]).await
    }

    /// As [`Scene::start`], the operator started with `extra` flags too.
    async fn start_with(extra: &[&str]) -> Scene {
        let cluster = cluster_with_crds().await;
        let ws = TestWorkspace::seeded(Some(TOKEN)).await;
        let github = TestGitHub::start().await;
        let (_bare, work) = github.repository("acme", "segment");
        github.forge.add_user("acme", 1, Role::Admin);
        github.forge.add_user("alice", 11, Role::Write);
        github.forge.add_user("rita", 12, Role::Read);
        let hook_port = free_port();
        github.forge.add_hook(
            &format!("http://127.0.0.1:{hook_port}/hooks/github"),
            HOOK_SECRET,
        );
        let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let listen = format!("127.0.0.1:{hook_port}");
        let mut flags = vec!["--webhook-listen", listen.as_str()];
        flags.extend_from_slice(extra);
        let operator = Operator::start(cluster.kubeconfig(), state.path(), "op-a", &flags);
        let root = github.api_url().trim_end_matches("/api/v3").to_owned();
        let key = indent(&app_private_key(), "    ");
        let yaml = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: github-app, namespace: default}}\nstringData:\n  githubAppID: \"{APP_ID}\"\n  githubAppPrivateKey: |\n{key}\n---\n{}",
            objects(
                &ws.running.url(),
                "github",
                &github.api_url(),
                "github-app",
                &format!("{root}/{REPO}.git"),
            )
        );
        let (ok, out) = cluster.apply(&yaml);
        assert!(ok, "{out}");
        Scene {
            hook_port,
            cluster,
            ws,
            github,
            work,
            operator,
            state,
        }
    }

    fn comments(&self, number: u64) -> Vec<PostedComment> {
        self.github
            .forge
            .comments(REPO, number)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn plan_comment(&self, number: u64) -> Option<PostedComment> {
        self.comments(number)
            .into_iter()
            .find(|c| c.author == bot() && c.body.starts_with(PLAN_MARK))
    }

    fn status(&self) -> serde_json::Value {
        self.cluster.get_json("gitsync/segment")["status"].clone()
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A branch off the synced main that renames a destination and adds a label, pushed.
fn push_change(work: &Path) -> String {
    git(work, &["fetch", "-q", "origin"]);
    git(work, &["checkout", "-q", "-B", "feature", "origin/main"]);
    let listed = git(work, &["ls-files", "destinations/"]);
    let destination = listed
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no destination on main"))
        .to_owned();
    let text = std::fs::read_to_string(work.join(&destination)).unwrap_or_else(|e| panic!("{e}"));
    let line = text
        .lines()
        .find(|l| l.starts_with("  name "))
        .unwrap_or_else(|| panic!("{destination}: no name"))
        .to_owned();
    let renamed = text.replacen(&line, "  name = \"Renamed in review\"", 1);
    std::fs::write(work.join(&destination), renamed).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(work.join("labels")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        work.join("labels/team-growth.tf"),
        "resource \"segment_label\" \"team_growth\" {\n  key   = \"team\"\n  value = \"growth\"\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let head = crate::util::commit_all(work, "Rename a destination, add a label");
    git(work, &["push", "-q", "origin", "feature:feature"]);
    head
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_is_planned_applied_on_command_and_merged_cleanly() {
    let scene = Scene::start().await;
    let log = scene.operator.log.clone();

    // The forward sync ran over HTTPS with the App's installation token, and pull requests
    // are planned.
    wait_for_planning(&scene.cluster, &log).await;
    // The GitConnection's check tries the repository of the GitSync that uses it: checked again
    // now that one does (an edit of its spec; it may have been checked before the GitSync
    // existed), it buys an installation token too.
    let api = format!("{}/", scene.github.api_url());
    scene.cluster.kubectl_ok(&[
        "patch",
        "gitconnection/forge",
        "--type=merge",
        "-p",
        &serde_json::json!({"spec": {"apiBaseURL": api}}).to_string(),
    ]);
    wait_for("the GitConnection's check", &log, || {
        scene
            .cluster
            .ready("gitconnection/forge")
            .filter(|r| r.0 == "True" && r.1 == "Connected")
    })
    .await;

    let head = push_change(&scene.work);
    let bare = scene.github.dir.path().join("acme-segment.git");
    let main_at_open = git(&bare, &["rev-parse", "main"]);
    let number = scene
        .github
        .forge
        .open_pull(
            REPO,
            NewPull {
                author: "alice".into(),
                head: "feature".into(),
                base: "main".into(),
                title: "Rename a destination, add a label".into(),
                body: None,
                draft: false,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let planned = wait_for("the plan comment", &log, || scene.plan_comment(number)).await;
    assert!(planned.body.contains(&head[..12]), "{}", planned.body);
    assert!(
        planned.body.contains("1 to add, 1 to change, 0 to destroy"),
        "{}",
        planned.body
    );
    let statuses = || {
        scene
            .github
            .forge
            .statuses(REPO)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    wait_for("the success status", &log, || {
        statuses()
            .iter()
            .any(|s| s.sha == head && s.context == "gitsync/plan" && s.state == "success")
            .then_some(())
    })
    .await;
    let on_head: Vec<String> = statuses()
        .into_iter()
        .filter(|s| s.sha == head)
        .map(|s| s.state)
        .collect();
    assert_eq!(
        on_head.first().map(String::as_str),
        Some("pending"),
        "{on_head:?}"
    );
    let plans = wait_for("status.pullRequests", &log, || {
        let pulls = scene.status()["pullRequests"].clone();
        (pulls[0]["state"] == "planned").then_some(pulls)
    })
    .await;
    assert_eq!(plans[0]["number"], number);
    assert_eq!(scene.status()["openPlans"], 1);

    // Someone with read access only: a reply, nothing applied.
    let labels = || async {
        scene
            .ws
            .client(TOKEN)
            .list(ResourceType::Label)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .len()
    };
    let before = labels().await;
    scene
        .github
        .forge
        .post_comment(REPO, number, "rita", "segment apply")
        .unwrap_or_else(|e| panic!("{e}"));
    let reply = wait_for("the refusal", &log, || {
        scene
            .comments(number)
            .into_iter()
            .find(|c| c.author == bot() && c.body.starts_with("@rita"))
    })
    .await;
    assert!(reply.body.contains("no write access"), "{}", reply.body);
    assert_eq!(labels().await, before);

    // alice, who may write: applied, the new file renamed on the branch in one commit.
    let command = scene
        .github
        .forge
        .post_comment(REPO, number, "alice", "segment apply")
        .unwrap_or_else(|e| panic!("{e}"));
    let done = wait_for("the apply's results", &log, || {
        scene
            .plan_comment(number)
            .filter(|c| c.body.contains("apply succeeded"))
    })
    .await;
    assert!(
        done.body.contains("Updating created resources"),
        "{}",
        done.body
    );
    assert_eq!(labels().await, before + 1);
    let pulled = scene
        .github
        .forge
        .pull(REPO, number)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(pulled.head_sha, head);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s%n%P", &pulled.head_sha]),
        format!("{REWRITE_MESSAGE}\n{head}")
    );
    let reactions: Vec<String> = scene
        .github
        .forge
        .reactions(REPO, command)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| r.content)
        .collect();
    assert_eq!(reactions, ["eyes", "+1"]);
    wait_for("the status of the applied head", &log, || {
        statuses()
            .iter()
            .any(|s| s.sha == pulled.head_sha && s.state == "success")
            .then_some(())
    })
    .await;

    // The forward sync brings the applied changes to main; then the merge conflicts with
    // nothing, and no empty or duplicate commit follows.
    let main_before = git(&bare, &["rev-parse", "main"]);
    wait_for("the forward sync of the applied changes", &log, || {
        let main = git(&bare, &["rev-parse", "main"]);
        (main != main_before).then_some(())
    })
    .await;
    let alice_token = "alice-token-e2e";
    scene
        .github
        .forge
        .add_token(alice_token, "alice")
        .unwrap_or_else(|e| panic!("{e}"));
    let as_alice = gitsync::forge::github::GitHub::new(gitsync::forge::github::GitHubConfig {
        api_base_url: scene.github.api_url(),
        owner: "acme".into(),
        repo: "segment".into(),
        auth: gitsync::forge::github::GitHubAuth::Token(alice_token.into()),
        http: gitsync::http::HttpConfig::default(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut merged = false;
    for _ in 0..50 {
        let pull = as_alice
            .pull(number)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if pull.mergeability == gitsync::forge::Mergeability::Mergeable {
            as_alice
                .merge(number, &pull.head_sha)
                .await
                .unwrap_or_else(|e| panic!("the merge: {e}"));
            merged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(merged, "the pull request never became mergeable");
    let merge = git(&bare, &["rev-parse", "main"]);
    // A few more syncs: nothing to commit.
    let synced = scene.status()["lastSyncTime"].clone();
    scene.cluster.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "gitsync/segment",
        &format!("reconcile.fluxcd.io/requestedAt={}", jiff::Timestamp::now()),
    ]);
    wait_for("another sync", &log, || {
        (scene.status()["lastSyncTime"] != synced).then_some(())
    })
    .await;
    assert_eq!(
        git(&bare, &["rev-parse", "main"]),
        merge,
        "no commit after the merge"
    );
    // Since the pull request was opened: the forward sync's two commits, the pull request's
    // two, and the merge; none of them empty.
    let since = format!("{main_at_open}..main");
    assert_eq!(
        git(&bare, &["rev-list", "--count", &since]),
        "5",
        "{}",
        git(&bare, &["log", "--format=%h %p %s", &since])
    );
    let empty: Vec<String> = git(&bare, &["log", "--format=%H", "--no-merges", &since])
        .lines()
        .filter(|c| git(&bare, &["diff-tree", "--root", "--no-commit-id", "-r", c]).is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        empty.is_empty(),
        "empty commits on main: {empty:?}\n{}",
        git(&bare, &["log", "--format=%h %p %s", "main"])
    );
    assert_eq!(
        scene.github.violations(),
        Vec::<String>::new(),
        "every exchange follows GitHub's description"
    );

    // No secret anywhere a person can read.
    let mut seen = String::new();
    for c in scene.comments(number) {
        seen.push_str(&c.body);
    }
    seen.push_str(&git(&bare, &["log", "-p", "--all"]));
    seen.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
    seen.push_str(&scene.cluster.kubectl_ok(&["get", "events", "-o", "yaml"]));
    seen.push_str(&scene.status().to_string());
    let key_line = app_private_key()
        .lines()
        .nth(3)
        .unwrap_or_default()
        .to_owned();
    for secret in [TOKEN, HOOK_SECRET, key_line.as_str()] {
        assert!(!seen.contains(secret), "a secret was shown: {secret}");
    }
    drop(scene.state);
}

/// Opens a pull request as alice from `branch` of the work tree.
fn open_pull(scene: &Scene, branch: &str, title: &str) -> u64 {
    scene
        .github
        .forge
        .open_pull(
            REPO,
            NewPull {
                author: "alice".into(),
                head: branch.into(),
                base: "main".into(),
                title: title.into(),
                body: None,
                draft: false,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_leader_resumes_an_apply_its_predecessor_began_and_applies_each_change_once() {
    let lease = ["--lease-seconds", "4"];
    let mut scene = Scene::start_with(&lease).await;
    let log = scene.operator.log.clone();
    wait_for_planning(&scene.cluster, &log).await;
    // The standby, on another port for the webhooks (the local GitHub delivers to the first
    // only: the new leader finds the command by its poll).
    let standby_state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let other_port = free_port().to_string();
    let listen = format!("127.0.0.1:{other_port}");
    let standby = Operator::start(
        scene.cluster.kubeconfig(),
        standby_state.path(),
        "op-b",
        &["--webhook-listen", &listen, "--lease-seconds", "4"],
    );

    // 30 new labels, one file each.
    git(&scene.work, &["fetch", "-q", "origin"]);
    git(
        &scene.work,
        &["checkout", "-q", "-B", "many", "origin/main"],
    );
    std::fs::create_dir_all(scene.work.join("labels")).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..30 {
        std::fs::write(
            scene.work.join(format!("labels/batch-{i}.tf")),
            format!(
                "resource \"segment_label\" \"batch_{i}\" {{\n  key   = \"batch\"\n  value = \"b{i}\"\n}}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    crate::util::commit_all(&scene.work, "Thirty labels");
    git(&scene.work, &["push", "-q", "origin", "many:many"]);
    let number = open_pull(&scene, "many", "Thirty labels");
    wait_for("the plan comment", &log, || {
        scene
            .plan_comment(number)
            .filter(|c| c.body.contains("30 to add"))
    })
    .await;

    // Every workspace request from now on takes 200 ms: the apply takes seconds.
    scene
        .ws
        .faults(
            TOKEN,
            serde_json::json!({"delay": {"count": 400, "ms": 200}}),
        )
        .await;
    scene
        .github
        .forge
        .post_comment(REPO, number, "alice", "segment apply")
        .unwrap_or_else(|e| panic!("{e}"));
    let journal = || {
        scene
            .cluster
            .get_or_null(&["configmap", "segment-apply-journal"])
    };
    wait_for("a journal with a few changes sent", &log, || {
        let entries = journal()["data"]["entries"]
            .as_str()
            .map(|e| e.lines().count())
            .unwrap_or(0);
        (entries >= 8).then_some(())
    })
    .await;
    assert_eq!(scene.status()["pullRequests"][0]["state"], "applying");
    scene.operator.kill();

    // The standby takes the Lease, finds the stashed apply, and finishes it.
    let done = wait_for("the resumed apply's results", &standby.log, || {
        scene
            .plan_comment(number)
            .filter(|c| c.body.contains("apply succeeded"))
    })
    .await;
    assert!(done.body.contains("30 of 30"), "{}", done.body);
    let labels = scene
        .ws
        .client(TOKEN)
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut batch: Vec<String> = labels
        .iter()
        .filter(|l| {
            matches!(l.attributes.get("key"), Some(gitsync::model::Value::String(k)) if k == "batch")
        })
        .map(|l| format!("{:?}", l.attributes.get("value")))
        .collect();
    let all = batch.len();
    batch.sort();
    batch.dedup();
    assert_eq!((all, batch.len()), (30, 30), "each label created once");
    let events = scene.cluster.kubectl_ok(&["get", "events", "-o", "json"]);
    assert!(
        events.contains(&format!(
            "pull request #{number}: resuming the plan for alice"
        )),
        "the new leader says it resumed: {events}"
    );
    assert_eq!(scene.status()["pullRequests"][0]["state"], "applied");
    assert!(
        scene
            .cluster
            .get_or_null(&["configmap", "segment-pull-1"])
            .is_null(),
        "the stash is gone once the apply finished"
    );
    let _ = scene.hook_port;
}

/// A GitLab merge request through the operator: a GitConnection of provider gitlab whose
/// token serves the API and Git (HTTP Basic `oauth2`), Merge Request and Note hooks with
/// `X-Gitlab-Token`, a merge request that needs a rebase refused, and an apply that resolves a
/// `@@placeholder@@` from a SyncSecret, whose value appears nowhere a person can read.
#[tokio::test(flavor = "multi_thread")]
async fn a_gitlab_merge_request_is_planned_refused_while_it_needs_a_rebase_then_applied() {
    use crate::util::gitlab::{DEVELOPER, GitLabDouble};
    const SECRET_VALUE: &str = "sk-live-9f3e1c77-b7e1";
    let cluster = cluster_with_crds().await;
    let ws = TestWorkspace::seeded(Some(TOKEN)).await;
    let double = GitLabDouble::start("acme/segment").await;
    let bot = double.add_user("gitsync-bot", 90, Some(DEVELOPER));
    let alice = double.add_user("alice", 11, Some(DEVELOPER));
    // Git over HTTP at /acme/segment.git, with the bot's token.
    let served = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(served.path().join("acme")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(double.repo(), served.path().join("acme/segment.git"))
        .unwrap_or_else(|e| panic!("{e}"));
    let git_port =
        crate::util::git_http::serve_as(served.path().to_path_buf(), "oauth2", &bot.token).await;
    let hook_port = free_port();
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let operator = Operator::start(
        cluster.kubeconfig(),
        state.path(),
        "op-gl",
        &["--webhook-listen", &format!("127.0.0.1:{hook_port}")],
    );
    let log = operator.log.clone();
    let yaml = format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: gitlab-token, namespace: default}}
stringData: {{username: oauth2, password: {token}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: webhook-key, namespace: default}}
stringData: {{value: {SECRET_VALUE}}}
---
apiVersion: gitsync.dev/v1alpha1
kind: SyncSecret
metadata: {{name: webhook-key, namespace: default}}
spec:
  name: webhook_key
  secretRef: {{name: webhook-key, key: value}}
---
{objects}"#,
        token = bot.token,
        objects = objects(
            &ws.running.url(),
            "gitlab",
            &double.api_base(),
            "gitlab-token",
            &format!("http://127.0.0.1:{git_port}/acme/segment.git"),
        ),
    );
    let (ok, out) = cluster.apply(&yaml);
    assert!(ok, "{out}");
    let status = || cluster.get_json("gitsync/segment")["status"].clone();
    wait_for_planning(&cluster, &log).await;

    // The merge request: a destination's API key given as a placeholder, and a new label.
    let masked = "\"••••••••••adce\"";
    let destination = "destinations/624233e0fec27b0d4b1b66b4.tf";
    let text = git(double.repo(), &["show", &format!("main:{destination}")]);
    assert!(text.contains(masked), "{text}");
    double.commit_on(
        "feature",
        destination,
        &text.replacen(masked, "\"@@webhook_key@@\"", 1),
    );
    double.commit_on(
        "feature",
        "labels/team-growth.tf",
        "resource \"segment_label\" \"team_growth\" {\n  key   = \"team\"\n  value = \"growth\"\n}\n",
    );
    let iid = double.open_mr(
        &alice,
        "feature",
        "main",
        "Rotate the webhook key, add a label",
    );
    let hooks = format!("http://127.0.0.1:{hook_port}/hooks/gitlab");
    double
        .merge_request_hook(iid, "open", None)
        .deliver(&hooks, Some(HOOK_SECRET))
        .await;
    let plan = wait_for("the plan note", &log, || {
        double
            .notes(iid)
            .into_iter()
            .find(|n| n.author == bot.username && n.body.starts_with(PLAN_MARK))
    })
    .await;
    assert!(plan.body.contains("1 to add, 1 to change"), "{}", plan.body);

    // Needs a rebase: refused with a reply.
    double.set_merge_status(iid, "need_rebase");
    let command = double.post_note(iid, &alice, "segment apply");
    double
        .note_hook(command, "create")
        .deliver(&hooks, Some(HOOK_SECRET))
        .await;
    let refusal = wait_for("the refusal", &log, || {
        double
            .notes(iid)
            .into_iter()
            .find(|n| n.author == bot.username && n.body.contains("need_rebase"))
    })
    .await;
    assert!(
        refusal
            .body
            .starts_with("@alice `segment apply` was not applied"),
        "{}",
        refusal.body
    );

    // Mergeable: applied; the workspace holds the secret the SyncSecret gives.
    double.set_merge_status(iid, "mergeable");
    let command = double.post_note(iid, &alice, "segment apply");
    double
        .note_hook(command, "create")
        .deliver(&hooks, Some(HOOK_SECRET))
        .await;
    let done = wait_for("the apply's results", &log, || {
        double
            .notes(iid)
            .into_iter()
            .find(|n| n.id == plan.id && n.body.contains("apply succeeded"))
    })
    .await;
    assert!(done.body.contains("2 of 2"), "{}", done.body);
    let stored = ws
        .store
        .get("segment_destination", "624233e0fec27b0d4b1b66b4")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the destination is gone"));
    assert!(
        format!("{stored:?}").contains(SECRET_VALUE),
        "the workspace holds the SyncSecret's value"
    );
    // The operator restarts (a new process, a new cache: what it kept in memory is gone), and
    // its forward sync writes the applied files to main before the merge, with the merge
    // request's placeholder (not the workspace's mask): the merge then conflicts with nothing.
    drop(operator);
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let operator = Operator::start(cluster.kubeconfig(), state.path(), "op-gl-2", &[]);
    let log = operator.log.clone();
    let main_before = double.branch_head("main");
    cluster.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "gitsync/segment",
        &format!("reconcile.fluxcd.io/requestedAt={}", jiff::Timestamp::now()),
    ]);
    wait_for("the forward sync of the applied changes", &log, || {
        (double.branch_head("main") != main_before).then_some(())
    })
    .await;
    let on_main = git(double.repo(), &["show", &format!("main:{destination}")]);
    assert!(on_main.contains("\"@@webhook_key@@\""), "{on_main}");
    let head = double.note_push(iid);
    let as_alice = double.client(&alice);
    let mut merged = false;
    for _ in 0..50 {
        let mr = as_alice.pull(iid).await.unwrap_or_else(|e| panic!("{e}"));
        if mr.mergeability == gitsync::forge::Mergeability::Mergeable {
            as_alice
                .merge(iid, &head)
                .await
                .unwrap_or_else(|e| panic!("the merge: {e}"));
            merged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(merged, "the merge request never became mergeable");
    assert_eq!(double.violations(), Vec::<String>::new());

    // The value is nowhere a person reads.
    let mut seen = String::new();
    for n in double.notes(iid) {
        seen.push_str(&n.body);
    }
    seen.push_str(&git(double.repo(), &["log", "-p", "--all"]));
    seen.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
    seen.push_str(&cluster.kubectl_ok(&["get", "events", "-o", "yaml"]));
    seen.push_str(&status().to_string());
    for secret in [SECRET_VALUE, TOKEN, HOOK_SECRET, bot.token.as_str()] {
        assert!(!seen.contains(secret), "a secret was shown: {secret}");
    }
}
