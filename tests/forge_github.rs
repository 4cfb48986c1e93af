//! gitsync's GitHub client (`gitsync::forge::github`) against the local GitHub
//! (`gitsync::forge::local`, served on loopback at a GitHub Enterprise base URL
//! `http://127.0.0.1:PORT/api/v3`): every `Forge` method, a token and a GitHub App (its JWT
//! checked with the App's public key, the installation found, tokens bought, renewed before they
//! end and once after a 401), pagination, mergeability, merges, permissions, rate limits and a
//! 502 on a create. Every exchange the client had is checked against GitHub's official
//! description, so the client is held to the published API, not to the double.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gitsync::forge::github::{GitHub, GitHubAuth, GitHubConfig};
use gitsync::forge::local::{Fault, LocalForge, LocalForgeConfig, NewPull, Role};
use gitsync::forge::{
    CommentId, CommitStatus, Forge, ForgeError, Mergeability, Permission, PullState, Reaction,
    StatusState, User,
};
use gitsync::http::HttpConfig;

use crate::util::github::{
    APP_CLIENT_ID, APP_ID, APP_SLUG, GITHUB_API, INSTALLATION_ID, TestGitHub, app_config,
    app_private_key, other_private_key, push_change,
};

const OWNER: &str = "acme";
const NAME: &str = "segment-config";
const REPO: &str = "acme/segment-config";
const TOKEN: &str = "acme-token";
const PULL: &str = "/repos/acme/segment-config/pulls/1";
const COMMENTS: &str = "/repos/acme/segment-config/issues/1/comments";
const INSTALLATION: &str = "/repos/acme/segment-config/installation";
const ACCESS_TOKENS: &str = "/app/installations/777/access_tokens";

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Quick retries: the tests wait for what the server asks, not for a production backoff.
fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(10),
        max_attempts: 3,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

fn client(api_base_url: &str, auth: GitHubAuth) -> Result<GitHub> {
    Ok(GitHub::new(GitHubConfig {
        api_base_url: api_base_url.to_owned(),
        owner: OWNER.to_owned(),
        repo: NAME.to_owned(),
        auth,
        http: http(),
    })?)
}

fn token() -> GitHubAuth {
    GitHubAuth::Token(TOKEN.to_owned())
}

fn app(installation_id: Option<u64>) -> GitHubAuth {
    GitHubAuth::App {
        app_id: APP_ID.to_string(),
        private_key_pem: app_private_key(),
        installation_id,
    }
}

/// The local GitHub with `acme` (admin, token [`TOKEN`]), the repository, and pull request #1
/// from `feature` into `main`; the head's sha.
async fn forge_with_pull(config: LocalForgeConfig) -> Result<(TestGitHub, PathBuf, String)> {
    let gh = TestGitHub::start_with(config).await;
    gh.forge.add_user(OWNER, 1001, Role::Admin);
    gh.forge.add_token(TOKEN, OWNER)?;
    let (_bare, work) = gh.repository(OWNER, NAME);
    let head = push_change(&work, "feature", "sources/web.tf", "# web\n");
    let number = gh.forge.open_pull(
        REPO,
        NewPull {
            author: OWNER.into(),
            head: "feature".into(),
            base: "main".into(),
            title: "Add the web source".into(),
            body: None,
            draft: false,
        },
    )?;
    assert_eq!(number, 1);
    Ok((gh, work, head))
}

fn with_app() -> LocalForgeConfig {
    LocalForgeConfig {
        app: Some(app_config()),
        ..LocalForgeConfig::default()
    }
}

/// How many requests `method path` the forge received (any query).
fn count(gh: &TestGitHub, method: &str, path: &str) -> usize {
    gh.exchanges()
        .iter()
        .filter(|ex| ex.method == method && ex.path == path)
        .count()
}

/// Every exchange fits GitHub's description, but those answered with one of `faults` (a
/// status the test made the forge answer, which the description does not list for every
/// operation).
fn assert_conforms(gh: &TestGitHub, faults: &[u16]) {
    let violations: Vec<String> = gh
        .exchanges()
        .iter()
        .filter(|ex| !faults.contains(&ex.status))
        .flat_map(|ex| GITHUB_API.check(ex))
        .collect();
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_reads_pull_requests_as_github_computes_them() -> Result {
    let (gh, _work, head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let github = client(&gh.api_url(), token())?;

    // GitHub answers `mergeable: null` on the first read after a push, then computes it.
    let first = github.pull(1).await?;
    assert_eq!(first.mergeability, Mergeability::Computing);
    assert_eq!(first.number, 1);
    assert_eq!(first.title, "Add the web source");
    assert_eq!(first.state, PullState::Open);
    assert!(!first.draft);
    assert_eq!(first.author.login, OWNER);
    assert_eq!(first.author.id, 1001);
    assert_eq!(first.head_sha, head);
    assert_eq!(
        (first.head_branch.as_str(), first.base_branch.as_str()),
        ("feature", "main")
    );
    assert!(!first.from_fork);
    assert!(
        first.web_url.ends_with("/acme/segment-config/pull/1"),
        "{}",
        first.web_url
    );
    assert_eq!(github.pull(1).await?.mergeability, Mergeability::Mergeable);

    // The list has no mergeability: computing until read alone.
    let open = github.open_pulls("main").await?;
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].number, open[0].head_sha.as_str()),
        (1, head.as_str())
    );
    assert_eq!(open[0].mergeability, Mergeability::Computing);
    assert!(github.open_pulls("release/2026").await?.is_empty());
    let listed = gh
        .exchanges()
        .into_iter()
        .filter(|ex| ex.path == "/repos/acme/segment-config/pulls")
        .map(|ex| ex.query.unwrap_or_default())
        .collect::<Vec<_>>();
    assert_eq!(
        listed,
        [
            "state=open&base=main&per_page=100",
            "state=open&base=release%2F2026&per_page=100"
        ]
    );

    gh.forge.set_from_fork(REPO, 1, "mallory")?;
    assert!(github.pull(1).await?.from_fork);
    gh.forge.close_pull(REPO, 1, OWNER)?;
    assert_eq!(github.pull(1).await?.state, PullState::Closed);
    assert!(github.open_pulls("main").await?.is_empty());

    match github.pull(9).await {
        Err(e @ ForgeError::NotFound { .. }) => {
            assert!(e.to_string().contains("/pulls/9"), "{e}")
        }
        other => panic!("a missing pull request: {other:?}"),
    }

    // A token has no identity to ask for; Git gets the same token.
    assert_eq!(github.identity().await?, None);
    let git = github.git_credentials().await?;
    assert_eq!(
        (git.username.as_str(), git.password.as_str()),
        ("x-access-token", TOKEN)
    );
    assert_eq!(github.pull_ref(1), "refs/pull/1/head");
    assert_conforms(&gh, &[]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_reactions_and_statuses_are_posted_as_described() -> Result {
    let (gh, _work, head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let github = client(&gh.api_url(), token())?;

    let posted = github.create_comment(1, "plan: 1 to add").await?;
    assert_eq!(posted.author.login, OWNER);
    assert_eq!(posted.body, "plan: 1 to add");
    assert!(!posted.edited && !posted.system);
    let edited = github.edit_comment(1, posted.id, "plan: 2 to add").await?;
    assert_eq!(
        (edited.id, edited.body.as_str()),
        (posted.id, "plan: 2 to add")
    );
    let stored = gh.forge.comments(REPO, 1)?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, "plan: 2 to add");

    // A person's comment, then their edit of it: read as edited.
    gh.forge.add_user("bob", 1002, Role::Write);
    let theirs = gh.forge.post_comment(REPO, 1, "bob", "segment apply")?;
    let read = github.comments(1).await?;
    assert_eq!(read.len(), 2);
    assert_eq!(read[1].id, CommentId(theirs));
    assert_eq!(
        (read[1].author.login.as_str(), read[1].body.as_str()),
        ("bob", "segment apply")
    );
    assert!(!read[1].edited);
    gh.forge
        .edit_comment(REPO, theirs, "segment apply -- now")?;
    let read = github.comments(1).await?;
    assert!(read[1].edited, "{:?}", read[1]);

    // Reactions: a second `eyes` is GitHub's 200 "already there", not an error.
    github.react(1, CommentId(theirs), Reaction::Eyes).await?;
    github.react(1, CommentId(theirs), Reaction::Eyes).await?;
    github
        .react(1, CommentId(theirs), Reaction::ThumbsUp)
        .await?;
    github
        .react(1, CommentId(theirs), Reaction::Confused)
        .await?;
    let reactions: Vec<String> = gh
        .forge
        .reactions(REPO, theirs)?
        .into_iter()
        .map(|r| r.content)
        .collect();
    assert_eq!(reactions, ["eyes", "+1", "confused"]);

    // A status: the description cut to GitHub's 140 characters.
    let long = "Plan: 3 to add, 1 to change. ".repeat(10);
    let cases = [
        (StatusState::Pending, "planning", None),
        (
            StatusState::Failure,
            long.as_str(),
            Some("https://github.example/acme/pull/1#c"),
        ),
        (StatusState::Success, "Plan: no changes.", None),
    ];
    for (state, description, target_url) in cases {
        github
            .set_status(
                &head,
                &CommitStatus {
                    context: "gitsync/plan",
                    state,
                    description,
                    target_url,
                },
            )
            .await?;
    }
    let statuses = gh.forge.statuses(REPO)?;
    let seen: Vec<_> = statuses
        .iter()
        .map(|s| {
            (
                s.sha.as_str(),
                s.state.as_str(),
                s.context.as_str(),
                s.target_url.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (head.as_str(), "pending", "gitsync/plan", None),
            (
                head.as_str(),
                "failure",
                "gitsync/plan",
                Some("https://github.example/acme/pull/1#c")
            ),
            (head.as_str(), "success", "gitsync/plan", None),
        ]
    );
    let cut = statuses[1].description.as_deref().unwrap_or_default();
    assert_eq!(cut.chars().count(), 140, "{cut}");
    assert!(
        cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')),
        "{cut}"
    );
    assert_conforms(&gh, &[]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_a_hundred_comments_are_read_across_pages_up_to_the_cap() -> Result {
    let (gh, _work, _head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let mut posted = Vec::new();
    for i in 0..250 {
        posted.push(
            gh.forge
                .post_comment(REPO, 1, OWNER, &format!("comment {i}"))?,
        );
    }
    let github = client(&gh.api_url(), token())?;
    let read = github.comments(1).await?;
    let ids: Vec<u64> = read.iter().map(|c| c.id.0).collect();
    assert_eq!(ids, posted, "every comment, oldest first");
    assert_eq!(read[249].body, "comment 249");
    let pages: Vec<String> = gh
        .exchanges()
        .into_iter()
        .filter(|ex| ex.path == COMMENTS)
        .map(|ex| ex.query.unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages.iter().all(|q| q.contains("per_page=100")),
        "{pages:?}"
    );

    match github.clone().with_max_pages(2).comments(1).await {
        Err(e @ ForgeError::InvalidResponse { .. }) => {
            assert!(e.to_string().contains("more than 2 pages"), "{e}")
        }
        other => panic!("the page cap was not kept: {other:?}"),
    }
    assert_eq!(
        count(&gh, "GET", COMMENTS),
        5,
        "the capped listing stopped at 2 pages"
    );
    assert_conforms(&gh, &[]);
    Ok(())
}

/// One request as a test's own front saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: axum::http::HeaderMap,
}

/// A front a test puts before the local GitHub: it records every request with its headers
/// (which the shared recorder leaves out), and, when `hostile_links`, rewrites every `Link` to
/// name `localhost` where the client was given 127.0.0.1: the same machine, another origin.
#[derive(Clone, Default)]
struct Front {
    seen: Arc<Mutex<Vec<Seen>>>,
    hostile_links: bool,
}

impl Front {
    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn pass(
        self,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
                headers: request.headers().clone(),
            });
        let mut response = next.run(request).await;
        let link = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.replace("http://127.0.0.1:", "http://localhost:"));
        if self.hostile_links
            && let Some(link) = link
            && let Ok(value) = axum::http::HeaderValue::from_str(&link)
        {
            response.headers_mut().insert("link", value);
        }
        response
    }
}

/// The local GitHub of [`forge_with_pull`], served behind `front`.
async fn forge_behind(
    front: &Front,
    config: LocalForgeConfig,
) -> Result<(
    LocalForge,
    gitsync::forge::local::Running,
    tempfile::TempDir,
)> {
    let forge = LocalForge::new(config);
    forge.add_user(OWNER, 1001, Role::Admin);
    forge.add_token(TOKEN, OWNER)?;
    let dir = tempfile::tempdir()?;
    let (bare, work) = (dir.path().join("bare.git"), dir.path().join("work"));
    let (bare_path, work_path) = (bare.to_string_lossy(), work.to_string_lossy());
    crate::util::git(
        dir.path(),
        &["init", "--bare", "-q", "-b", "main", &bare_path],
    );
    crate::util::git(dir.path(), &["init", "-q", "-b", "main", &work_path]);
    crate::util::git(&work, &["remote", "add", "origin", &bare_path]);
    push_change(&work, "main", "README.md", "# test\n");
    push_change(&work, "feature", "a.tf", "# a\n");
    forge.add_repository(OWNER, NAME, &bare, "main")?;
    forge.open_pull(
        REPO,
        NewPull {
            author: OWNER.into(),
            head: "feature".into(),
            base: "main".into(),
            title: "t".into(),
            body: None,
            draft: false,
        },
    )?;
    let front = front.clone();
    let running = forge
        .serve_with(([127, 0, 0, 1], 0).into(), move |router| {
            router.layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    front.clone().pass(request, next)
                },
            ))
        })
        .await?;
    Ok((forge, running, dir))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_link_to_another_host_is_not_followed() -> Result {
    let front = Front {
        hostile_links: true,
        ..Front::default()
    };
    let (forge, running, _dir) = forge_behind(&front, LocalForgeConfig::default()).await?;
    for i in 0..150 {
        forge.post_comment(REPO, 1, OWNER, &format!("comment {i}"))?;
    }
    let github = client(&running.api_url(), token())?;
    match github.comments(1).await {
        Err(e @ ForgeError::InvalidResponse { .. }) => {
            let message = e.to_string();
            assert!(message.contains("not followed"), "{message}");
            assert!(message.contains("localhost"), "{message}");
            assert!(!message.contains(TOKEN), "{message}");
        }
        other => panic!("a Link to another host was followed: {other:?}"),
    }
    // Had it been followed, `localhost` would have reached this same front.
    assert_eq!(front.seen().len(), 1, "only the first page was asked for");
    running.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_githubs_headers_a_verifiable_jwt_and_the_installation_token() -> Result {
    let front = Front::default();
    let (_forge, running, _dir) = forge_behind(
        &front,
        LocalForgeConfig {
            app: Some(app_config()),
            ..LocalForgeConfig::default()
        },
    )
    .await?;
    let github = client(&running.api_url(), app(None))?;
    github.pull(1).await?;
    github.create_comment(1, "plan").await?;
    let installation_token = github.git_credentials().await?.password;

    let public_key = std::fs::read(crate::util::fixtures_root().join("forge/app-public-key.pem"))?;
    let public_key = jsonwebtoken::DecodingKey::from_rsa_pem(&public_key)?;
    let seen = front.seen();
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/api/v3/repos/acme/segment-config/installation"),
            ("POST", "/api/v3/app/installations/777/access_tokens"),
            ("GET", "/api/v3/repos/acme/segment-config/pulls/1"),
            (
                "POST",
                "/api/v3/repos/acme/segment-config/issues/1/comments"
            ),
        ]
    );
    for s in &seen {
        let header = |name: &str| s.headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            header("accept"),
            Some("application/vnd.github+json"),
            "{s:?}"
        );
        assert_eq!(header("x-github-api-version"), Some("2022-11-28"));
        assert!(header("user-agent").is_some_and(|ua| ua.starts_with("gitsync/")));
        let bearer = header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_else(|| panic!("no bearer: {:?}", s.path));
        if s.path.contains("/installation") {
            // The App's JWT: RS256, verified with the App's public key, GitHub's claims.
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_required_spec_claims(&["iat", "exp", "iss"]);
            let claims =
                jsonwebtoken::decode::<serde_json::Value>(bearer, &public_key, &validation)?.claims;
            let now = jiff::Timestamp::now().as_second();
            let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
            assert!(
                iat.is_some_and(|iat| iat <= now - 55 && iat >= now - 70),
                "{claims}"
            );
            assert!(
                exp.is_some_and(|exp| exp > now && exp <= now + 600),
                "{claims}"
            );
            assert_eq!(claims["iss"], APP_ID.to_string());
        } else {
            assert_eq!(bearer, installation_token, "{}", s.path);
        }
    }
    assert_eq!(
        seen[1].headers.get("content-type"),
        None,
        "no body with the token request"
    );
    assert_eq!(
        seen[3]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    running.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_installation_is_named_in_the_error() -> Result {
    let (gh, _work, _head) = forge_with_pull(with_app()).await?;
    let github = client(&gh.api_url(), app(Some(INSTALLATION_ID + 1)))?;
    match github.pull(1).await {
        Err(e @ ForgeError::NotFound { status: 404, .. }) => {
            let message = e.to_string();
            assert!(message.contains("no installation 778"), "{message}");
            assert!(message.contains("githubAppInstallationID"), "{message}");
        }
        other => panic!("a wrong installation: {other:?}"),
    }
    assert_eq!(count(&gh, "GET", PULL), 0);
    assert_conforms(&gh, &[]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn merges_need_the_planned_head_and_a_mergeable_pull_request() -> Result {
    let (gh, work, head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let github = client(&gh.api_url(), token())?;

    // Someone pushes after the plan: a merge of the planned head is refused with 409.
    let moved = push_change(&work, "feature", "sources/web.tf", "# web, changed\n");
    gh.forge.note_push(REPO, 1)?;
    match github.merge(1, &head).await {
        Err(e @ ForgeError::Rejected { status: 409, .. }) => {
            assert!(e.to_string().contains("Head branch was modified"), "{e}");
            assert_eq!(e.status(), Some(409));
            assert!(!e.retryable());
        }
        other => panic!("a stale head was merged: {other:?}"),
    }
    assert!(!gh.forge.pull(REPO, 1)?.merged);

    // Not mergeable: read as blocked, and a merge is refused with 405.
    gh.forge.set_mergeable(REPO, 1, Some(false), "dirty")?;
    assert_eq!(
        github.pull(1).await?.mergeability,
        Mergeability::Blocked {
            reason: "dirty".into()
        }
    );
    match github.merge(1, &moved).await {
        Err(ForgeError::Rejected { status: 405, .. }) => {}
        other => panic!("an unmergeable pull request was merged: {other:?}"),
    }

    gh.forge.compute_mergeable(REPO, 1)?;
    assert_eq!(github.pull(1).await?.mergeability, Mergeability::Computing);
    assert_eq!(github.pull(1).await?.mergeability, Mergeability::Mergeable);
    github.merge(1, &moved).await?;
    let merged = gh.forge.pull(REPO, 1)?;
    assert!(merged.merged);
    assert_eq!(merged.head_sha, moved);
    assert_eq!(github.pull(1).await?.state, PullState::Merged);
    let merges: Vec<_> = gh
        .exchanges()
        .into_iter()
        .filter(|ex| ex.path == "/repos/acme/segment-config/pulls/1/merge")
        .map(|ex| ex.request_body)
        .collect();
    assert_eq!(
        merges.last().cloned().flatten(),
        Some(serde_json::json!({"sha": moved, "merge_method": "merge"}))
    );
    assert_conforms(&gh, &[]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_are_githubs_base_roles() -> Result {
    let (gh, _work, _head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let github = client(&gh.api_url(), token())?;
    let roles = [
        ("admin-user", Role::Admin, Permission::Admin),
        ("maintainer", Role::Maintain, Permission::Write),
        ("writer", Role::Write, Permission::Write),
        ("triager", Role::Triage, Permission::Read),
        ("reader", Role::Read, Permission::Read),
        ("outsider", Role::None, Permission::Read),
    ];
    for (i, (login, role, _)) in roles.iter().enumerate() {
        gh.forge.add_user(login, 2000 + i as u64, *role);
    }
    for (i, (login, _, want)) in roles.iter().enumerate() {
        let user = User {
            login: (*login).to_owned(),
            id: 2000 + i as u64,
        };
        assert_eq!(github.permission(&user).await?, *want, "{login}");
    }
    // No such user: GitHub's 404, read as no right to apply.
    let ghost = User {
        login: "no-such-user".to_owned(),
        id: 9,
    };
    assert_eq!(github.permission(&ghost).await?, Permission::Read);
    assert_conforms(&gh, &[]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_finds_its_installation_and_buys_one_token_for_every_call() -> Result {
    let (gh, _work, _head) = forge_with_pull(with_app()).await?;
    let github = client(&gh.api_url(), app(None))?;

    assert_eq!(github.identity().await?, Some(format!("{APP_SLUG}[bot]")));
    github.pull(1).await?;
    let posted = github.create_comment(1, "plan: 1 to add").await?;
    assert_eq!(posted.author.login, format!("{APP_SLUG}[bot]"));
    let comments = github.clone().comments(1).await?;
    assert_eq!(comments.len(), 1);
    let git = github.git_credentials().await?;
    assert_eq!(git.username, "x-access-token");
    assert!(!git.password.is_empty());
    assert!(!format!("{git:?}").contains(&git.password), "{git:?}");

    assert_eq!(count(&gh, "GET", "/app"), 1);
    assert_eq!(
        count(&gh, "GET", INSTALLATION),
        1,
        "the installation is found once"
    );
    assert_eq!(
        count(&gh, "POST", ACCESS_TOKENS),
        1,
        "one token serves every call"
    );
    assert!(!format!("{github:?}").contains(&git.password));

    // By client id, with the installation given: no lookup.
    let by_client_id = client(
        &gh.api_url(),
        GitHubAuth::App {
            app_id: APP_CLIENT_ID.to_owned(),
            private_key_pem: app_private_key(),
            installation_id: Some(INSTALLATION_ID),
        },
    )?;
    by_client_id.pull(1).await?;
    assert_eq!(count(&gh, "GET", INSTALLATION), 1);
    assert_eq!(count(&gh, "POST", ACCESS_TOKENS), 2);
    assert_conforms(&gh, &[]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_token_is_renewed_near_its_end_and_once_after_a_401() -> Result {
    // Tokens that live 4 minutes are always within the 5-minute margin: renewed every call.
    let (gh, _work, _head) = forge_with_pull(LocalForgeConfig {
        token_lifetime: Duration::from_secs(240),
        ..with_app()
    })
    .await?;
    let github = client(&gh.api_url(), app(Some(INSTALLATION_ID)))?;
    github.pull(1).await?;
    github.pull(1).await?;
    assert_eq!(count(&gh, "POST", ACCESS_TOKENS), 2);
    assert_eq!(count(&gh, "GET", PULL), 2, "no 401 on the way");

    // An hour's token, refused (expired early): renewed once, and the call sent once more.
    let (gh, _work, _head) = forge_with_pull(with_app()).await?;
    let github = client(&gh.api_url(), app(Some(INSTALLATION_ID)))?;
    github.pull(1).await?;
    let before = github.git_credentials().await?.password;
    gh.forge.expire_installation_tokens();
    let posted = github.create_comment(1, "after the 401").await?;
    assert_eq!(posted.body, "after the 401");
    let statuses: Vec<u16> = gh
        .exchanges()
        .iter()
        .filter(|ex| ex.method == "POST" && ex.path == COMMENTS)
        .map(|ex| ex.status)
        .collect();
    assert_eq!(statuses, [401, 201]);
    assert_eq!(count(&gh, "POST", ACCESS_TOKENS), 2);
    assert_ne!(github.git_credentials().await?.password, before);
    assert_eq!(gh.forge.comments(REPO, 1)?.len(), 1);
    assert_conforms(&gh, &[401]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_key_the_forge_does_not_know_is_refused_without_showing_it() -> Result {
    let (gh, _work, _head) = forge_with_pull(with_app()).await?;
    let key = other_private_key();
    let github = client(
        &gh.api_url(),
        GitHubAuth::App {
            app_id: APP_ID.to_string(),
            private_key_pem: key.clone(),
            installation_id: None,
        },
    )?;
    match github.pull(1).await {
        Err(e @ ForgeError::Unauthorized { status: 401, .. }) => {
            let message = e.to_string();
            assert!(message.contains("/installation"), "{message}");
            assert!(message.contains("GitHub App"), "{message}");
            let body = key.lines().nth(1).unwrap_or("-----");
            assert!(!message.contains(body), "{message}");
            assert_eq!(e.reason(), "ForgeUnauthorized");
        }
        other => panic!("a JWT from an unknown key was taken: {other:?}"),
    }
    assert_eq!(
        count(&gh, "GET", PULL),
        0,
        "nothing was asked without a token"
    );
    assert_conforms(&gh, &[401]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_is_waited_out_and_the_call_sent_again() -> Result {
    let (gh, _work, _head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let github = client(&gh.api_url(), token())?;

    gh.forge.inject(
        Fault::TooManyRequests {
            retry_after: Duration::from_secs(1),
        },
        1,
    );
    let started = Instant::now();
    github.pull(1).await?;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not waited"
    );
    assert_eq!(count(&gh, "GET", PULL), 2);

    // GitHub's rate-limit 403 on a create: the server did not act, so it is sent again.
    gh.forge.inject(
        Fault::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    );
    github.create_comment(1, "once").await?;
    assert_eq!(count(&gh, "POST", COMMENTS), 2);
    assert_eq!(gh.forge.comments(REPO, 1)?.len(), 1);
    assert_conforms(&gh, &[429, 403]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_502_is_not_sent_again_but_a_read_is() -> Result {
    let (gh, _work, _head) = forge_with_pull(LocalForgeConfig::default()).await?;
    let github = client(&gh.api_url(), token())?;

    gh.forge.inject(Fault::BadGateway, 1);
    match github.create_comment(1, "plan: 1 to add").await {
        Err(e @ ForgeError::Http { .. }) => {
            assert_eq!(e.status(), Some(502), "{e}");
            assert!(e.retryable(), "{e}");
            assert!(!e.to_string().contains(TOKEN), "{e}");
        }
        other => panic!("a 502 on a create: {other:?}"),
    }
    assert_eq!(
        count(&gh, "POST", COMMENTS),
        1,
        "a create that may have acted is not repeated"
    );

    gh.forge.inject(Fault::BadGateway, 1);
    github.pull(1).await?;
    assert_eq!(count(&gh, "GET", PULL), 2, "a read is repeated");
    assert_conforms(&gh, &[502]);
    Ok(())
}
