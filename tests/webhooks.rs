//! The webhook listener over real HTTP on loopback, alone (no cluster): real GitHub and GitLab
//! payloads, signed or forged, replayed, oversized, about other events or other repositories;
//! which GitSyncs each wakes, what it answers, and what it counts in
//! `gitsync_webhook_deliveries_total`. And, on a real API server, which of two operator
//! replicas the webhook Service routes to: the leader, whose Pod carries `gitsync.dev/leader`.

use std::sync::{Arc, Mutex};

use gitsync::forge::ForgeKind;
use gitsync::forge::webhook::Event;
use gitsync::operator::webhook::{
    HookTarget, HookTargets, MAX_BODY, TargetKey, TargetsError, Wake, serve,
};
use gitsync::telemetry::Metrics;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

const REPO: &str = "Codertocat/Hello-World";
const GROUP_PROJECT: &str = "gitlab-org/gitlab-test";
const SECRET: &[u8] = b"gh-webhook-secret-1";
const OTHER_SECRET: &[u8] = b"gh-webhook-secret-2";
const GITLAB_SECRET: &[u8] = b"gl-webhook-token-1";

fn fixture(path: &str) -> Vec<u8> {
    let path = crate::util::fixtures_root().join("forge").join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// GitSyncs by forge and repository, as a test sets them; or a standby's answer.
#[derive(Clone, Default)]
struct Targets {
    by_repo: Vec<(ForgeKind, &'static str, HookTarget)>,
    standby: bool,
}

impl HookTargets for Targets {
    async fn targets(
        &self,
        forge: ForgeKind,
        repository: &str,
    ) -> Result<Vec<HookTarget>, TargetsError> {
        if self.standby {
            return Err(TargetsError::Standby);
        }
        Ok(self
            .by_repo
            .iter()
            .filter(|(f, r, _)| *f == forge && r.eq_ignore_ascii_case(repository))
            .map(|(_, _, t)| t.clone())
            .collect())
    }
}

fn target(
    forge: ForgeKind,
    repo: &'static str,
    name: &str,
    secret: &[u8],
) -> (ForgeKind, &'static str, HookTarget) {
    (
        forge,
        repo,
        HookTarget {
            key: TargetKey::new("team-a", name),
            secret: secret.to_vec(),
        },
    )
}

/// The usual GitSyncs: two on the GitHub repository with one secret (`a`, `c`), one there with
/// another (`b`), one on the GitLab project (`gl`).
fn usual() -> Targets {
    Targets {
        by_repo: vec![
            target(ForgeKind::GitHub, REPO, "a", SECRET),
            target(ForgeKind::GitHub, REPO, "b", OTHER_SECRET),
            target(ForgeKind::GitHub, REPO, "c", SECRET),
            target(ForgeKind::GitLab, GROUP_PROJECT, "gl", GITLAB_SECRET),
        ],
        standby: false,
    }
}

/// The listener on a free loopback port, with what it woke and counted.
struct Hooks {
    base: String,
    addr: std::net::SocketAddr,
    wakes: Arc<Mutex<Vec<Wake>>>,
    metrics: Arc<Metrics>,
    _stop: oneshot::Sender<()>,
    http: reqwest::Client,
}

async fn start(targets: Targets) -> Hooks {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let wakes = Arc::new(Mutex::new(Vec::new()));
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let recorder = wakes.clone();
    tokio::spawn(serve(
        listener,
        targets,
        move |w: Wake| recorder.lock().unwrap_or_else(|p| p.into_inner()).push(w),
        metrics.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Hooks {
        base: format!("http://{addr}"),
        addr,
        wakes,
        metrics,
        _stop: stop,
        http: reqwest::Client::new(),
    }
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|e| panic!("{e}"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Hooks {
    async fn post(&self, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
        (status, text)
    }

    /// A GitHub delivery of `event`, signed with `secret` (`None`: unsigned).
    async fn github(
        &self,
        event: &str,
        id: &str,
        body: Vec<u8>,
        secret: Option<&[u8]>,
    ) -> (u16, String) {
        let mut headers = vec![
            ("x-github-event", event.to_owned()),
            ("x-github-delivery", id.to_owned()),
            ("user-agent", "GitHub-Hookshot/044aadd".to_owned()),
        ];
        if let Some(secret) = secret {
            headers.push(("x-hub-signature-256", sign(secret, &body)));
        }
        self.post("/hooks/github", &headers, body).await
    }

    async fn gitlab(
        &self,
        event: &str,
        key: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut headers = vec![
            ("x-gitlab-event", event.to_owned()),
            ("idempotency-key", key.to_owned()),
            ("x-gitlab-event-uuid", format!("uuid-{key}")),
        ];
        if let Some(token) = token {
            headers.push(("x-gitlab-token", token.to_owned()));
        }
        self.post("/hooks/gitlab", &headers, body).await
    }

    fn wakes(&self) -> Vec<Wake> {
        self.wakes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn woken(&self) -> Vec<String> {
        self.wakes().iter().map(|w| w.target.name.clone()).collect()
    }

    /// `gitsync_webhook_deliveries_total{forge,result}` as scraped (0 when absent).
    fn count(&self, forge: &str, result: &str) -> u64 {
        let text = self.metrics.encode().unwrap_or_else(|e| panic!("{e}"));
        let series =
            format!("gitsync_webhook_deliveries_total{{forge=\"{forge}\",result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map(|v| v.parse().unwrap_or_else(|e| panic!("{v}: {e}")))
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn a_signed_pull_request_wakes_the_gitsyncs_whose_secret_signed_it() {
    let hooks = start(usual()).await;
    let body = fixture("github-webhooks/pull_request/opened.payload.json");
    let (status, text) = hooks
        .github("pull_request", "d-1", body, Some(SECRET))
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, "accepted: team-a/a, team-a/c\n");
    let pr = Event::PullRequest {
        number: 2,
        action: "opened".into(),
    };
    assert_eq!(
        hooks.wakes(),
        ["a", "c"]
            .map(|name| Wake {
                target: TargetKey::new("team-a", name),
                forge: ForgeKind::GitHub,
                delivery: "d-1".into(),
                event: pr.clone(),
            })
            .to_vec(),
        "b has another secret: not woken"
    );
    // The other secret wakes only b.
    let body = fixture("github-webhooks/pull_request/synchronize.payload.json");
    let (status, _) = hooks
        .github("pull_request", "d-2", body, Some(OTHER_SECRET))
        .await;
    assert_eq!(status, 200);
    assert_eq!(hooks.woken(), ["a", "c", "b"]);
    assert_eq!(hooks.count("github", "accepted"), 2);
}

#[tokio::test]
async fn a_pull_requests_comment_and_a_ping_wake_an_issues_comment_and_a_push_do_not() {
    let hooks = start(usual()).await;
    let comment = fixture("github-webhooks/issue_comment/created.on-pull-request.payload.json");
    assert_eq!(
        hooks
            .github("issue_comment", "c-1", comment, Some(SECRET))
            .await
            .0,
        200
    );
    let ping = fixture("github-webhooks/ping/payload.json");
    let ping_targets = Targets {
        by_repo: vec![target(
            ForgeKind::GitHub,
            "Octocoders/Hello-World",
            "p",
            SECRET,
        )],
        standby: false,
    };
    let ping_hooks = start(ping_targets).await;
    assert_eq!(
        ping_hooks.github("ping", "p-1", ping, Some(SECRET)).await.0,
        200
    );
    assert_eq!(ping_hooks.wakes()[0].event, Event::Ping);

    let issue = fixture("github-webhooks/issue_comment/created.payload.json");
    let (status, text) = hooks
        .github("issue_comment", "c-2", issue, Some(SECRET))
        .await;
    assert_eq!(
        (status, text.as_str()),
        (
            202,
            "ignored: gitsync acts on pull requests and their comments, not on `issue_comment` events\n"
        )
    );
    let push = fixture("github-webhooks/push/payload.json");
    assert_eq!(hooks.github("push", "c-3", push, Some(SECRET)).await.0, 202);
    let events: Vec<Event> = hooks.wakes().into_iter().map(|w| w.event).collect();
    let comment = Event::Comment {
        number: 1,
        comment_id: 492_700_400,
        action: "created".into(),
    };
    assert_eq!(
        events,
        [comment.clone(), comment],
        "a and c, for the comment only"
    );
    assert_eq!(hooks.count("github", "accepted"), 1);
    assert_eq!(hooks.count("github", "ignored"), 2);
}

#[tokio::test]
async fn forged_unsigned_and_unknown_repository_deliveries_are_refused_alike() {
    let hooks = start(usual()).await;
    let body = fixture("github-webhooks/pull_request/opened.payload.json");
    let mut answers = Vec::new();
    answers.push(
        hooks
            .github("pull_request", "f-1", body.clone(), Some(b"guessed"))
            .await,
    );
    answers.push(
        hooks
            .github("pull_request", "f-2", body.clone(), None)
            .await,
    );
    // Signed for one body, sent with another.
    let mut tampered = body.clone();
    let signature = sign(SECRET, &body);
    tampered.extend_from_slice(b" ");
    answers.push(
        hooks
            .post(
                "/hooks/github",
                &[
                    ("x-github-event", "pull_request".into()),
                    ("x-github-delivery", "f-3".into()),
                    ("x-hub-signature-256", signature),
                ],
                tampered,
            )
            .await,
    );
    // No GitSync syncs it: the same answer, so that it does not tell which are synced.
    let elsewhere = String::from_utf8_lossy(&body)
        .replace(REPO, "someone/else")
        .into_bytes();
    answers.push(
        hooks
            .github("pull_request", "f-4", elsewhere, Some(SECRET))
            .await,
    );
    let first = answers[0].clone();
    assert_eq!(first.0, 401);
    assert!(first.1.contains("matches no webhook secret"), "{}", first.1);
    for answer in &answers {
        assert_eq!(answer, &first);
        assert!(!answer.1.contains("gh-webhook-secret"), "{}", answer.1);
    }
    assert!(hooks.wakes().is_empty());
    assert_eq!(hooks.count("github", "unauthorized"), 4);
    assert_eq!(hooks.count("github", "accepted"), 0);
}

#[tokio::test]
async fn a_replayed_delivery_wakes_nobody_again() {
    let hooks = start(usual()).await;
    let body = fixture("github-webhooks/pull_request/opened.payload.json");
    assert_eq!(
        hooks
            .github("pull_request", "r-1", body.clone(), Some(SECRET))
            .await
            .0,
        200
    );
    let (status, text) = hooks
        .github("pull_request", "r-1", body.clone(), Some(SECRET))
        .await;
    assert_eq!(
        (status, text.as_str()),
        (200, "duplicate: this delivery was taken before\n")
    );
    // A forged replay is refused before its id is looked at.
    assert_eq!(
        hooks
            .github("pull_request", "r-1", body.clone(), Some(b"x"))
            .await
            .0,
        401
    );
    // A forged delivery cannot spoil an id for the real one either.
    assert_eq!(
        hooks
            .github("pull_request", "r-2", body.clone(), Some(b"x"))
            .await
            .0,
        401
    );
    assert_eq!(
        hooks
            .github("pull_request", "r-2", body, Some(SECRET))
            .await
            .0,
        200
    );
    assert_eq!(hooks.woken(), ["a", "c", "a", "c"]);
    assert_eq!(hooks.count("github", "duplicate"), 1);
    assert_eq!(hooks.count("github", "accepted"), 2);
    assert_eq!(hooks.count("github", "unauthorized"), 2);
}

#[tokio::test]
async fn gitlab_tokens_merge_requests_and_notes() {
    let hooks = start(usual()).await;
    let token = std::str::from_utf8(GITLAB_SECRET).unwrap_or_else(|e| panic!("{e}"));
    let mr = fixture("gitlab-webhooks/merge_request_hook.example.json");
    // The merge request example is about gitlabhq/gitlab-test: no GitSync, refused.
    assert_eq!(
        hooks
            .gitlab("Merge Request Hook", "k-0", mr.clone(), Some(token))
            .await
            .0,
        401
    );
    let mr = String::from_utf8_lossy(&mr)
        .replace("gitlabhq/gitlab-test", GROUP_PROJECT)
        .into_bytes();
    let (status, text) = hooks
        .gitlab("Merge Request Hook", "k-1", mr.clone(), Some(token))
        .await;
    assert_eq!((status, text.as_str()), (200, "accepted: team-a/gl\n"));
    let note = fixture("gitlab-webhooks/note_hook_merge_request.example.json");
    assert_eq!(
        hooks
            .gitlab("Note Hook", "k-2", note.clone(), Some(token))
            .await
            .0,
        200
    );
    // GitLab's retry of one event carries the same Idempotency-Key.
    assert_eq!(
        hooks
            .gitlab("Note Hook", "k-2", note.clone(), Some(token))
            .await
            .0,
        200
    );
    assert_eq!(
        hooks
            .gitlab("Note Hook", "k-3", note.clone(), Some("gl-webhook-token-2"))
            .await
            .0,
        401
    );
    assert_eq!(
        hooks.gitlab("Note Hook", "k-4", note.clone(), None).await.0,
        401
    );
    // A GitHub signature of the right secret is not a GitLab token.
    let signed = sign(GITLAB_SECRET, &note);
    assert_eq!(
        hooks
            .gitlab("Note Hook", "k-5", note.clone(), Some(&signed))
            .await
            .0,
        401
    );
    assert_eq!(
        hooks.gitlab("Push Hook", "k-6", mr, Some(token)).await.0,
        202
    );
    let events: Vec<Event> = hooks.wakes().into_iter().map(|w| w.event).collect();
    assert_eq!(
        events,
        [
            Event::PullRequest {
                number: 1,
                action: "open".into()
            },
            Event::Comment {
                number: 1,
                comment_id: 1244,
                action: "create".into()
            },
        ]
    );
    assert_eq!(hooks.count("gitlab", "accepted"), 2);
    assert_eq!(hooks.count("gitlab", "duplicate"), 1);
    assert_eq!(hooks.count("gitlab", "unauthorized"), 4);
    assert_eq!(hooks.count("gitlab", "ignored"), 1);
    assert_eq!(hooks.count("github", "accepted"), 0, "counted per forge");
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_being_read() {
    let hooks = start(usual()).await;
    // Declared too large: refused at once.
    let big = vec![b' '; MAX_BODY + 1];
    let (status, text) = hooks
        .github("pull_request", "big-1", big, Some(SECRET))
        .await;
    assert_eq!(
        (status, text.as_str()),
        (413, "the body is larger than 5 MiB\n")
    );
    // Chunked, without a length: refused once the limit is passed; the rest is never read.
    let mut stream = tokio::net::TcpStream::connect(hooks.addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = "POST /hooks/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: big-2\r\ntransfer-encoding: chunked\r\n\r\n";
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let chunk = vec![b' '; 1 << 20];
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // 64 MiB offered; the server stops reading after 5.
        for _ in 0..64 {
            let size = format!("{:x}\r\n", chunk.len());
            if write.write_all(size.as_bytes()).await.is_err()
                || write.write_all(&chunk).await.is_err()
                || write.write_all(b"\r\n").await.is_err()
            {
                return false;
            }
        }
        true
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), read.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no answer to an oversized chunked body"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    drop(read);
    let sent_everything = writer.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!sent_everything, "the server read all 64 MiB");
    assert!(hooks.wakes().is_empty());
    assert_eq!(hooks.count("github", "too_large"), 2);
}

#[tokio::test]
async fn bad_requests_other_paths_and_a_standby() {
    let hooks = start(usual()).await;
    // An App's installation event names no repository: nothing to verify against.
    let install = fixture("github-webhooks/installation/created.payload.json");
    let (status, text) = hooks
        .github("installation", "b-1", install, Some(SECRET))
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("names no repository"), "{text}");
    // A form-encoded ping is not JSON.
    let (status, _) = hooks
        .github("ping", "b-2", b"payload=%7B%7D".to_vec(), Some(SECRET))
        .await;
    assert_eq!(status, 400);
    // Authentic but without a delivery id.
    let body = fixture("github-webhooks/pull_request/opened.payload.json");
    let signature = sign(SECRET, &body);
    let (status, text) = hooks
        .post(
            "/hooks/github",
            &[
                ("x-github-event", "pull_request".into()),
                ("x-hub-signature-256", signature),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "the delivery has no x-github-delivery header (is it from GitHub?)\n"
        )
    );
    assert_eq!(hooks.count("github", "bad_request"), 3);

    let (status, _) = hooks.post("/hooks/bitbucket", &[], body.clone()).await;
    assert_eq!(status, 404);
    let (status, _) = hooks.post("/", &[], body.clone()).await;
    assert_eq!(status, 404);
    let get = hooks
        .http
        .get(format!("{}/hooks/github", hooks.base))
        .send()
        .await;
    assert_eq!(get.map(|r| r.status().as_u16()).ok(), Some(405));
    assert!(hooks.wakes().is_empty());

    let standby = start(Targets {
        by_repo: usual().by_repo,
        standby: true,
    })
    .await;
    let (status, text) = standby
        .github("pull_request", "s-1", body, Some(SECRET))
        .await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("standing by"), "{text}");
    assert!(standby.wakes().is_empty());
    assert_eq!(standby.count("github", "unavailable"), 1);
}

// ---------------------------------------------------------------------------------------------
// The operator: its own targets, read from a real API server.

/// GitSyncs on the GitHub repository of the payloads (and one elsewhere), each reaching an
/// unreachable workspace: only their webhook settings matter here.
fn hooked_objects() -> String {
    let gitsync = |name: &str, repo: &str, bidirectional: &str| {
        format!(
            r#"---
apiVersion: gitsync.dev/v1alpha1
kind: GitSync
metadata: {{name: {name}, namespace: default}}
spec:
  workspace:
    endpoint: http://127.0.0.1:9
    tokenSecretRef: {{name: workspace-token, key: token}}
  repository:
    url: {repo}
  interval: 1h
  bidirectional: {bidirectional}
"#
        )
    };
    let hook = "{enabled: true, webhookSecretRef: {name: hook-secret, key: secret}}";
    [
        r#"apiVersion: v1
kind: Secret
metadata: {name: workspace-token, namespace: default}
stringData: {token: ws-token}
---
apiVersion: v1
kind: Secret
metadata: {name: hook-secret, namespace: default}
stringData: {secret: "first-secret\n"}
"#
        .to_owned(),
        gitsync(
            "hooked",
            "https://github.com/codertocat/hello-world.git",
            hook,
        ),
        gitsync(
            "no-secret",
            "https://github.com/Codertocat/Hello-World.git",
            "{enabled: true}",
        ),
        gitsync(
            "disabled",
            "https://github.com/Codertocat/Hello-World.git",
            "{enabled: false, webhookSecretRef: {name: hook-secret, key: secret}}",
        ),
        gitsync("elsewhere", "https://github.com/acme/other.git", hook),
        gitsync(
            "on-gitlab",
            "https://gitlab.com/Codertocat/Hello-World.git",
            hook,
        ),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_wakes_the_gitsync_whose_webhook_secret_signed_a_delivery() {
    use crate::util::operator::{Operator, cluster_with_crds, tail, wait_until};
    let cluster = cluster_with_crds().await;
    let (ok, out) = cluster.apply(&hooked_objects());
    assert!(ok, "{out}");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = crate::util::free_port();
    let operator = Operator::start(
        cluster.kubeconfig(),
        &root.path().join("state"),
        "hooks",
        &["--webhook-listen", &format!("127.0.0.1:{port}")],
    );
    let log = operator.log.clone();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let body = fixture("github-webhooks/pull_request/opened.payload.json");
    let send = |id: String, secret: &'static [u8]| {
        let request = http
            .post(format!("{base}/hooks/github"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", id)
            .header("x-hub-signature-256", sign(secret, &body))
            .body(body.clone());
        async move {
            match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap_or_default())
                }
                Err(_) => (0, String::new()),
            }
        }
    };

    // Until the operator holds the Lease and has listed the GitSyncs: 503 (or no answer).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        let answer = send(format!("w-{attempt}"), b"first-secret").await;
        if answer.0 != 0 && answer.0 != 503 {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the operator never took a delivery (last: {answer:?}); log:\n{}",
            tail(&log)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    // The GitSync without a secret, the disabled one, the one on another repository and the one
    // on GitLab are not woken; the URL's case does not matter.
    assert_eq!(
        answer,
        (200, "accepted: default/hooked\n".to_owned()),
        "{}",
        tail(&log)
    );
    wait_until(
        "the GitSync controller to take the wake",
        std::time::Duration::from_secs(20),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("a webhook delivery wakes the GitSync") && l.contains("hooked"))
        },
        &log,
    );
    assert_eq!(send("w-forged".into(), b"other-secret").await.0, 401);
    assert_eq!(
        send(format!("w-{attempt}"), b"first-secret").await.0,
        200,
        "a duplicate is 200"
    );

    // A new secret counts at once; the old one no longer does.
    cluster.kubectl_ok(&[
        "patch",
        "secret/hook-secret",
        "--type=merge",
        "-p",
        r#"{"stringData":{"secret":"second-secret"}}"#,
    ]);
    assert_eq!(send("w-old".into(), b"first-secret").await.0, 401);
    assert_eq!(
        send("w-new".into(), b"second-secret").await,
        (200, "accepted: default/hooked\n".to_owned())
    );

    let text = operator.metrics("text/plain");
    for (result, n) in [("accepted", 2), ("duplicate", 1), ("unauthorized", 2)] {
        let series =
            format!("gitsync_webhook_deliveries_total{{forge=\"github\",result=\"{result}\"}} {n}");
        assert!(text.contains(&series), "no {series} in:\n{text}");
    }
    let log_text = operator.log_text();
    for secret in ["first-secret", "second-secret", "sha256="] {
        assert!(!log_text.contains(secret), "the log shows {secret}");
    }
    let woken: Vec<&str> = log_text
        .lines()
        .filter(|l| l.contains("a webhook delivery wakes the GitSync"))
        .collect();
    assert!(woken.iter().all(|l| l.contains("\"hooked\"")), "{woken:#?}");
}

// ---------------------------------------------------------------------------------------------
// Two replicas: deliveries reach the leader.

/// A Pod object for replica `name` (no kubelet runs it: the label on the object is what a
/// Service's selector reads), with `labels`.
fn replica_pod(name: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels: {{app.kubernetes.io/name: gitsync, {labels}}}
spec:
  containers: [{{name: operator, image: registry.example.com/platform/gitsync:0.1.0}}]
"#
    )
}

/// The Pods of `default` the webhook Service's selector picks (`gitsync.dev/leader=true`),
/// by name, space-separated.
fn webhook_endpoints(cluster: &crate::util::cluster::TestCluster) -> String {
    cluster.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        "default",
        "-l",
        "app.kubernetes.io/name=gitsync,gitsync.dev/leader=true",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
}

/// What the listener on `port` answers to an unsigned ping: its status, 0 without an answer.
async fn answer(port: u16) -> u16 {
    let body = fixture("github-webhooks/ping/payload.json");
    let sent = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/github"))
        .header("x-github-event", "ping")
        .header("x-github-delivery", "two-replicas")
        .body(body)
        .send()
        .await;
    sent.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leaders_pod_alone_carries_the_label_the_webhook_service_selects() {
    use crate::util::operator::{Operator, cluster_with_crds, tail, wait_until};
    use std::time::Duration;
    let cluster = cluster_with_crds().await;
    // replica-b carries a stale label: its container was killed while it led.
    let pods = [
        replica_pod("replica-a", "gitsync.dev/other: kept"),
        replica_pod("replica-b", "gitsync.dev/leader: \"true\""),
    ]
    .join("---\n");
    let (ok, out) = cluster.apply(&pods);
    assert!(ok, "{out}");
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (port_a, port_b) = (crate::util::free_port(), crate::util::free_port());
    let start = |name: &str, port: u16| {
        Operator::start(
            cluster.kubeconfig(),
            &root.path().join(name),
            name,
            &[
                "--pod-name",
                name,
                "--lease-seconds",
                "4",
                "--webhook-listen",
                &format!("127.0.0.1:{port}"),
            ],
        )
    };
    let a = start("replica-a", port_a);
    let log_a = a.log.clone();
    let holder = || {
        cluster.get_or_null(&["lease", "-n", "default", "gitsync-operator"])["spec"]
            ["holderIdentity"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    wait_until(
        "replica-a to lead and label its Pod",
        Duration::from_secs(60),
        || holder() == "replica-a" && webhook_endpoints(&cluster) == "replica-a replica-b",
        &log_a,
    );
    let b = start("replica-b", port_b);
    let log_b = b.log.clone();
    wait_until(
        "the standby replica-b to remove its stale label",
        Duration::from_secs(60),
        || webhook_endpoints(&cluster) == "replica-a",
        &log_b,
    );
    assert_eq!(holder(), "replica-a", "{}", tail(&log_b));
    // Only the leader's label changed: another label on its Pod is kept.
    let pod_a = cluster.get_json("pod/replica-a");
    assert_eq!(
        pod_a["metadata"]["labels"]["gitsync.dev/other"], "kept",
        "{pod_a}"
    );
    // The fallback: a delivery that reaches the standby anyway gets 503; the leader checks it
    // (an unsigned one: 401).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (at_a, at_b) = (answer(port_a).await, answer(port_b).await);
        if at_a == 401 && at_b == 503 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "leader answered {at_a}, standby {at_b}; leader's log:\n{}",
            tail(&log_a)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The leader stops: its label goes, and the standby takes over, label and all.
    let (status, log) = a.stop();
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
    assert!(
        log.contains("removed the leader label from this replica's Pod"),
        "{log}"
    );
    wait_until(
        "replica-b to lead and label its Pod",
        Duration::from_secs(60),
        || holder() == "replica-b" && webhook_endpoints(&cluster) == "replica-b",
        &log_b,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while answer(port_b).await != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new leader does not take deliveries; its log:\n{}",
            tail(&log_b)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, log) = b.stop();
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
    assert_eq!(webhook_endpoints(&cluster), "", "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_without_its_pod_says_so_and_still_takes_deliveries() {
    use crate::util::operator::{Operator, cluster_with_crds, tail, wait_until};
    use std::time::Duration;
    let cluster = cluster_with_crds().await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = crate::util::free_port();
    let operator = Operator::start(
        cluster.kubeconfig(),
        &root.path().join("ghost"),
        "ghost",
        &[
            "--pod-name",
            "ghost",
            "--webhook-listen",
            &format!("127.0.0.1:{port}"),
        ],
    );
    let log = operator.log.clone();
    wait_until(
        "the warning that names the missing Pod",
        Duration::from_secs(60),
        || {
            operator.log_text().lines().any(|l| {
                l.contains("PodNotFound")
                    && l.contains("cannot label Pod default/ghost: there is no Pod of that name")
            })
        },
        &log,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while answer(port).await != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader does not take deliveries; its log:\n{}",
            tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, log) = operator.stop();
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
}
