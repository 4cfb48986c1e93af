//! The GitLab client against the GitLab double (`util::gitlab`) over real HTTP on loopback,
//! with merge requests on a real bare repository: every [`Forge`] method, pages, note order,
//! mergeability while GitLab computes it, merges (a stale head refused, a real merge commit),
//! permissions by access level, a self-hosted GitLab under a path prefix, a subgroup project,
//! the refusals, and the webhooks the double sends. Every test ends with the double reporting
//! no request outside GitLab's description.

use std::error::Error;

use crate::util::git;
use crate::util::gitlab::{DEVELOPER, GitLabDouble, MAINTAINER, OWNER, PROJECT_ID, REPORTER};
use gitsync::forge::{
    CommentId, CommitStatus, Forge, ForgeError, ForgeKind, Mergeability, Permission, PullState,
    Reaction, StatusState,
};

type Result = std::result::Result<(), Box<dyn Error>>;

fn assert_clean(double: &GitLabDouble) {
    assert_eq!(
        double.violations(),
        Vec::<String>::new(),
        "requests outside GitLab's API description"
    );
}

/// A double with a bot (Developer) and an author (Developer) and one merge request !1 from
/// `feature` into `main`.
async fn with_mr(project: &str) -> (GitLabDouble, crate::util::gitlab::DoubleUser, u64) {
    let double = GitLabDouble::start(project).await;
    let bot = double.add_user("gitsync-bot", 90, Some(DEVELOPER));
    let alice = double.add_user("alice", 11, Some(DEVELOPER));
    double.commit_on("feature", "sources/web.tf", "resource \"x\" \"y\" {}\n");
    let iid = double.open_mr(&alice, "feature", "main", "Add the web source");
    (double, bot, iid)
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_and_a_merge_request_as_gitlab_computes_its_mergeability() -> Result {
    let (double, bot, iid) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    assert_eq!(gitlab.kind(), ForgeKind::GitLab);
    assert_eq!(gitlab.identity().await?, Some("gitsync-bot".to_owned()));

    let first = gitlab.pull(iid).await?;
    assert_eq!(first.number, iid);
    assert_eq!(first.title, "Add the web source");
    assert_eq!(first.state, PullState::Open);
    assert!(!first.draft);
    assert_eq!(
        (first.author.login.as_str(), first.author.id),
        ("alice", 11)
    );
    assert_eq!(first.head_sha, double.branch_head("feature"));
    assert_eq!(first.head_branch, "feature");
    assert_eq!(first.base_branch, "main");
    assert!(!first.from_fork);
    assert_eq!(
        first.web_url,
        format!("{}/acme/infra/-/merge_requests/{iid}", double.root())
    );
    // GitLab checks mergeability asynchronously: `checking` first, then `mergeable`.
    assert_eq!(first.mergeability, Mergeability::Computing);
    assert_eq!(
        gitlab.pull(iid).await?.mergeability,
        Mergeability::Mergeable
    );

    double.set_merge_status(iid, "need_rebase");
    assert_eq!(
        gitlab.pull(iid).await?.mergeability,
        Mergeability::Blocked {
            reason: "need_rebase".into()
        }
    );
    double.mark_from_fork(iid);
    double.set_draft(iid, true);
    let fork = gitlab.pull(iid).await?;
    assert!(fork.from_fork && fork.draft, "{fork:?}");

    let missing = gitlab.pull(999).await;
    assert!(
        matches!(missing, Err(ForgeError::NotFound { status: 404, .. })),
        "{missing:?}"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn open_merge_requests_are_those_into_the_branch_still_open() -> Result {
    let (double, bot, first) = with_mr("acme/infra").await;
    let alice = double.add_user("alice2", 12, Some(DEVELOPER));
    double.commit_on("other", "a.tf", "a");
    double.commit_on("release", "r.tf", "r");
    let into_release = double.open_mr(&alice, "other", "release", "Into release");
    let closed = double.open_mr(&alice, "other", "main", "Closed one");
    double.close(closed);
    let second = double.open_mr(&alice, "other", "main", "Second");

    let gitlab = double.client(&bot);
    let mut open: Vec<u64> = gitlab
        .open_pulls("main")
        .await?
        .iter()
        .map(|p| p.number)
        .collect();
    open.sort();
    assert_eq!(open, vec![first, second]);
    let release = gitlab.open_pulls("release").await?;
    assert_eq!(release.len(), 1);
    assert_eq!(release[0].number, into_release);
    assert_eq!(release[0].base_branch, "release");
    assert!(gitlab.open_pulls("nothing-here").await?.is_empty());
    let asked = double.requests();
    assert!(
        asked.iter().any(|r| r.contains("state=opened")
            && r.contains("target_branch=main")
            && r.contains("per_page=100")),
        "{asked:?}"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_note_comes_oldest_first_over_several_pages() -> Result {
    let (double, bot, iid) = with_mr("acme/infra").await;
    let alice = double.add_user("carol", 13, Some(REPORTER));
    let mut posted = Vec::new();
    for i in 0..230 {
        posted.push(double.post_note(iid, &alice, &format!("note {i}")));
    }
    double.commit_on("feature", "sources/web.tf", "changed");
    double.note_push(iid);
    let last = double.post_note(iid, &alice, "segment apply");
    double.edit_note(posted[5], "note 5, edited");

    let comments = double.client(&bot).comments(iid).await?;
    assert_eq!(comments.len(), 232);
    let ids: Vec<u64> = comments.iter().map(|c| c.id.0).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "not oldest first");
    assert_eq!(comments[0].body, "note 0");
    assert_eq!(comments[0].author.login, "carol");
    assert_eq!(comments[0].author.id, 13);
    assert_eq!(comments[231].id, CommentId(last));
    assert_eq!(comments[231].body, "segment apply");
    assert!(!comments[231].edited && !comments[231].system);
    assert!(comments[5].edited, "{:?}", comments[5]);
    assert_eq!(comments.iter().filter(|c| c.edited).count(), 1);
    let system: Vec<_> = comments.iter().filter(|c| c.system).collect();
    assert_eq!(system.len(), 1);
    assert!(system[0].body.starts_with("added 1 commit"), "{system:?}");
    assert_eq!(system[0].author.login, "alice");

    // Three pages of 100, asked oldest first (GitLab's default is newest first).
    let pages: Vec<String> = double
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET") && r.contains("/notes"))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages
            .iter()
            .all(|p| p.contains("sort=asc") && p.contains("per_page=100")),
        "{pages:?}"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_page_on_another_origin_never_gets_the_token() -> Result {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let trap = crate::util::serve(axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "[]" }
    }))
    .await;
    let (double, bot, iid) = with_mr("acme/infra").await;
    for i in 0..150 {
        double.post_note(iid, &bot, &format!("note {i}"));
    }
    double.set_link_origin(Some(&trap));
    let gitlab = double.client(&bot);
    // The Link points elsewhere; x-next-page, on the base URL, carries the listing on.
    assert_eq!(gitlab.comments(iid).await?.len(), 150);
    // Without x-next-page the listing fails instead of following the token out, or stopping
    // short.
    double.send_next_page_header(false);
    match gitlab.comments(iid).await {
        Err(e @ ForgeError::InvalidResponse { .. }) => {
            assert!(e.to_string().contains("another origin"), "{e}");
            assert!(!e.to_string().contains(&bot.token), "{e}");
        }
        other => panic!("a next page on another origin was not refused: {other:?}"),
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request went to the other origin"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_are_posted_edited_and_reacted_to() -> Result {
    let (double, bot, iid) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    let body = "### Plan\n\n```\n+ source web\n```\n".repeat(3);
    let posted = gitlab.create_comment(iid, &body).await?;
    assert_eq!(posted.body, body);
    assert_eq!(posted.author.login, "gitsync-bot");
    assert!(!posted.edited && !posted.system);
    let edited = gitlab
        .edit_comment(iid, posted.id, "### Plan\n\nnothing")
        .await?;
    assert_eq!(edited.id, posted.id);
    assert_eq!(edited.body, "### Plan\n\nnothing");
    assert!(edited.edited);
    let notes = double.notes(iid);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].body, "### Plan\n\nnothing");

    let alice = double.add_user("dave", 14, Some(DEVELOPER));
    let command = double.post_note(iid, &alice, "segment apply");
    let id = CommentId(command);
    gitlab.react(iid, id, Reaction::Eyes).await?;
    // GitLab answers 404 "has already been taken" to an emoji given twice: not an error.
    gitlab.react(iid, id, Reaction::Eyes).await?;
    gitlab.react(iid, id, Reaction::ThumbsUp).await?;
    gitlab.react(iid, id, Reaction::Confused).await?;
    let awards: Vec<(String, String)> = double
        .awards(command)
        .into_iter()
        .map(|a| (a.name, a.user))
        .collect();
    assert_eq!(
        awards,
        [
            ("eyes", "gitsync-bot"),
            ("thumbsup", "gitsync-bot"),
            ("confused", "gitsync-bot")
        ]
        .map(|(n, u)| (n.to_owned(), u.to_owned()))
    );
    let gone = gitlab.react(iid, CommentId(1), Reaction::Eyes).await;
    assert!(matches!(gone, Err(ForgeError::NotFound { .. })), "{gone:?}");
    let not_mine = gitlab.edit_comment(iid, id, "changed").await;
    assert!(
        matches!(not_mine, Err(ForgeError::Unauthorized { status: 403, .. })),
        "{not_mine:?}"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_statuses_are_set_cut_and_retried_through_a_conflict() -> Result {
    let (double, bot, iid) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    let head = gitlab.pull(iid).await?.head_sha;
    let long = "ü".repeat(400);
    gitlab
        .set_status(
            &head,
            &CommitStatus {
                context: "gitsync/plan",
                state: StatusState::Pending,
                description: "planning",
                target_url: None,
            },
        )
        .await?;
    // Two 409s ("an update is already in progress"), then it goes through.
    double.conflict_next_statuses(2);
    gitlab
        .set_status(
            &head,
            &CommitStatus {
                context: "gitsync/plan",
                state: StatusState::Failure,
                description: &long,
                target_url: Some("https://gitlab.example.com/acme/infra/-/merge_requests/1#note_9"),
            },
        )
        .await?;
    let statuses = double.statuses();
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        (statuses[0].name.as_str(), statuses[0].state.as_str()),
        ("gitsync/plan", "pending")
    );
    assert_eq!(statuses[0].sha, head);
    assert_eq!(statuses[1].state, "failed");
    assert_eq!(
        statuses[1].description.as_ref().map(|d| d.chars().count()),
        Some(255)
    );
    assert!(
        statuses[1]
            .description
            .as_ref()
            .is_some_and(|d| d.starts_with('ü'))
    );
    assert_eq!(
        statuses[1].target_url.as_deref(),
        Some("https://gitlab.example.com/acme/infra/-/merge_requests/1#note_9")
    );
    assert_eq!(statuses[1].author, "gitsync-bot");

    // A conflict that does not end is a refusal, after a few tries.
    double.conflict_next_statuses(10);
    let status = CommitStatus {
        context: "gitsync/plan",
        state: StatusState::Success,
        description: "ok",
        target_url: None,
    };
    let stuck = gitlab.set_status(&head, &status).await;
    assert!(
        matches!(stuck, Err(ForgeError::Rejected { status: 409, .. })),
        "{stuck:?}"
    );
    double.conflict_next_statuses(0);
    let unknown = gitlab.set_status(&"0".repeat(40), &status).await;
    assert!(
        matches!(unknown, Err(ForgeError::NotFound { .. })),
        "{unknown:?}"
    );
    let not_a_sha = gitlab.set_status("main; rm", &status).await;
    assert!(
        matches!(not_a_sha, Err(ForgeError::Config { .. })),
        "{not_a_sha:?}"
    );
    assert_eq!(double.statuses().len(), 2);
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forks_commit_gets_its_status_on_the_merge_request_ref() -> Result {
    let (double, bot, own) = with_mr("acme/infra").await;
    let mallory = double.add_user("mallory", 66, None);
    double.commit_on("mallory-patch", "sources/evil.tf", "x");
    let fork = double.open_fork_mr(&mallory, "mallory-patch", "main", "From a fork");
    let gitlab = double.client(&bot);
    let pull = gitlab.pull(fork).await?;
    assert!(pull.from_fork, "{pull:?}");
    let status = CommitStatus {
        context: "gitsync/plan",
        state: StatusState::Pending,
        description: "planning",
        target_url: None,
    };
    // The fork's head is on none of the project's branches: GitLab finds no ref for it until
    // the client names the merge request's.
    gitlab.set_status(&pull.head_sha, &status).await?;
    let own_head = gitlab.pull(own).await?.head_sha;
    gitlab.set_status(&own_head, &status).await?;
    let refs: Vec<(String, String)> = double
        .statuses()
        .into_iter()
        .map(|s| (s.sha, s.ref_name))
        .collect();
    assert_eq!(
        refs,
        vec![
            (
                pull.head_sha.clone(),
                format!("refs/merge-requests/{fork}/head")
            ),
            (own_head, "feature".to_owned()),
        ]
    );
    let asked = double.requests();
    assert_eq!(
        asked
            .iter()
            .filter(|r| r.contains("/repository/commits/") && r.contains("state=opened"))
            .count(),
        1,
        "{asked:?}"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_follow_the_inherited_access_level() -> Result {
    let (double, bot, _) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    let cases = [
        ("owner", Some(OWNER), Permission::Admin),
        ("maintainer", Some(MAINTAINER), Permission::Admin),
        ("developer", Some(DEVELOPER), Permission::Write),
        ("reporter", Some(REPORTER), Permission::Read),
        ("guest", Some(10), Permission::Read),
        ("stranger", None, Permission::Read),
    ];
    for (i, (name, level, want)) in cases.into_iter().enumerate() {
        let user = double.add_user(name, 500 + i as u64, level);
        assert_eq!(gitlab.permission(&user.user()).await?, want, "{name}");
    }
    // A project the token cannot see is an error, not a stranger.
    let elsewhere = gitsync::forge::gitlab::GitLab::new(gitsync::forge::gitlab::GitLabConfig {
        api_base_url: double.api_base(),
        project: "acme/other".into(),
        token: bot.token.clone(),
        http: gitsync::http::HttpConfig::default(),
    })?;
    match elsewhere.permission(&bot.user()).await {
        Err(e @ ForgeError::NotFound { .. }) => {
            assert!(e.to_string().contains("Project Not Found"), "{e}");
            assert!(
                e.to_string()
                    .contains("GET /api/v4/projects/acme%2Fother/members/all/90"),
                "{e}"
            );
        }
        other => panic!("an unknown project read as a stranger: {other:?}"),
    }
    assert!(
        double
            .requests()
            .iter()
            .any(|r| r.contains("/members/all/500")),
        "{:?}",
        double.requests()
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_needs_the_current_head_and_makes_a_real_merge_commit() -> Result {
    let (double, bot, iid) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    let planned = gitlab.pull(iid).await?.head_sha;
    assert_eq!(
        gitlab.pull(iid).await?.mergeability,
        Mergeability::Mergeable
    );
    // main moves on (no conflict), and the branch gets a new commit after the plan.
    let main_before = double.commit_on("main", "README.md", "moved on\n");
    double.commit_on("feature", "sources/app.tf", "resource \"a\" \"b\" {}\n");
    let head = double.note_push(iid);
    assert_ne!(head, planned);
    gitlab.pull(iid).await?; // GitLab rechecks after the push

    let stale = gitlab.merge(iid, &planned).await;
    match &stale {
        Err(e @ ForgeError::Rejected { status: 409, .. }) => {
            assert_eq!(e.status(), Some(409));
            assert!(e.to_string().contains("SHA does not match"), "{e}");
        }
        other => panic!("a merge with a stale head was not refused 409: {other:?}"),
    }
    assert_eq!(double.branch_head("main"), main_before);

    gitlab.merge(iid, &head).await?;
    let (state, merge_commit) = double.mr_state(iid);
    assert_eq!(state, "merged");
    let merged = double.branch_head("main");
    assert_eq!(merge_commit.as_deref(), Some(merged.as_str()));
    let parents = git(
        double.repo(),
        &["rev-list", "--parents", "-n", "1", &merged],
    );
    assert_eq!(parents, format!("{merged} {main_before} {head}"));
    let files = git(double.repo(), &["ls-tree", "-r", "--name-only", &merged]);
    assert_eq!(files, "README.md\nsources/app.tf\nsources/web.tf");
    let pull = gitlab.pull(iid).await?;
    assert_eq!(pull.state, PullState::Merged);
    assert!(matches!(pull.mergeability, Mergeability::Blocked { .. }));

    let again = gitlab.merge(iid, &head).await;
    assert!(
        matches!(again, Err(ForgeError::Rejected { status: 405, .. })),
        "{again:?}"
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_request_gitlab_will_not_merge_is_refused() -> Result {
    let (double, bot, iid) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    let head = gitlab.pull(iid).await?.head_sha;
    double.set_merge_status(iid, "need_rebase");
    let blocked = gitlab.merge(iid, &head).await;
    assert!(
        matches!(blocked, Err(ForgeError::Rejected { status: 405, .. })),
        "{blocked:?}"
    );
    double.set_merge_status(iid, "mergeable");
    double.fail_merges(
        iid,
        Some("Merge request is not mergeable: pre-receive hook declined"),
    );
    match gitlab.merge(iid, &head).await {
        Err(e @ ForgeError::Rejected { .. }) => {
            assert!(e.to_string().contains("still opened"), "{e}");
            assert!(e.to_string().contains("pre-receive hook declined"), "{e}");
        }
        other => panic!("a merge GitLab did not do was taken as done: {other:?}"),
    }
    double.fail_merges(iid, None);
    let reporter = double.add_user("reporter", 77, Some(REPORTER));
    double.set_merge_status(iid, "mergeable");
    let refused = double.client(&reporter).merge(iid, &head).await;
    assert!(
        matches!(refused, Err(ForgeError::Unauthorized { status: 401, .. })),
        "{refused:?}"
    );
    assert_eq!(double.mr_state(iid).0, "opened");
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merge_request_ref_fetches_its_head_with_the_git_credentials() -> Result {
    let (double, bot, first) = with_mr("acme/infra").await;
    let gitlab = double.client(&bot);
    let frank = double.add_user("frank", 15, None);
    double.commit_on("frank-fork", "f.tf", "f");
    let iid = double.open_fork_mr(&frank, "frank-fork", "main", "From a fork");
    assert!(iid > first);
    let pull = gitlab.pull(iid).await?;
    assert!(pull.from_fork);
    let branches = git(double.repo(), &["branch", "--format=%(refname:short)"]);
    assert!(!branches.contains("frank-fork"), "{branches}");
    assert_eq!(
        gitlab.pull_ref(iid),
        format!("refs/merge-requests/{iid}/head")
    );
    let clone = double.scratch().join("fetch");
    git(double.scratch(), &["init", "-q", &clone.to_string_lossy()]);
    let repo = double.repo().to_string_lossy().into_owned();
    git(&clone, &["fetch", "-q", &repo, &gitlab.pull_ref(iid)]);
    assert_eq!(git(&clone, &["rev-parse", "FETCH_HEAD"]), pull.head_sha);

    let credentials = gitlab.git_credentials().await?;
    assert_eq!(credentials.username, "oauth2");
    assert_eq!(credentials.password, bot.token);
    assert!(!format!("{credentials:?}").contains(&bot.token));
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_hosted_gitlab_under_a_path_prefix_and_a_subgroup_project() -> Result {
    let double = GitLabDouble::start_under("platform/data/segment-infra", "/gitlab").await;
    let bot = double.add_user("bot", 5, Some(MAINTAINER));
    double.commit_on("feature", "a.tf", "a");
    let iid = double.open_mr(&bot, "feature", "main", "Subgroup");
    // The base as a user may write it: without /api/v4, with a trailing slash.
    let gitlab = gitsync::forge::gitlab::GitLab::new(gitsync::forge::gitlab::GitLabConfig {
        api_base_url: format!("{}/", double.root()),
        project: "platform/data/segment-infra".into(),
        token: bot.token.clone(),
        http: gitsync::http::HttpConfig::default(),
    })?;
    assert_eq!(gitlab.api_base_url(), double.api_base());
    assert!(double.api_base().ends_with("/gitlab/api/v4"));
    assert_eq!(gitlab.identity().await?, Some("bot".into()));
    let pull = gitlab.pull(iid).await?;
    assert_eq!(
        pull.web_url,
        format!(
            "{}/platform/data/segment-infra/-/merge_requests/{iid}",
            double.root()
        )
    );
    for _ in 0..120 {
        double.post_note(iid, &bot, "n");
    }
    assert_eq!(gitlab.comments(iid).await?.len(), 120);
    assert_eq!(gitlab.permission(&bot.user()).await?, Permission::Admin);
    match gitlab.pull(99).await {
        Err(e @ ForgeError::NotFound { .. }) => assert!(
            e.to_string().contains(
                "GET /gitlab/api/v4/projects/platform%2Fdata%2Fsegment-infra/merge_requests/99"
            ),
            "{e}"
        ),
        other => panic!("a missing merge request was found: {other:?}"),
    }
    let requests = double.requests();
    assert!(
        requests.iter().all(|r| r
            .split(' ')
            .nth(1)
            .is_some_and(|p| p.starts_with("/gitlab/api/v4/"))),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/projects/platform%2Fdata%2Fsegment-infra/merge_requests/")),
        "{requests:?}"
    );
    assert_eq!(
        gitsync::forge::gitlab::parse_project_url(&format!(
            "{}/platform/data/segment-infra.git",
            "https://gitlab.example.com"
        ))
        .as_deref(),
        Some("platform/data/segment-infra")
    );
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_unauthorized_and_never_quoted() -> Result {
    let (double, _, iid) = with_mr("acme/infra").await;
    let intruder = crate::util::gitlab::DoubleUser {
        username: "nobody".into(),
        id: 1,
        token: "glpat-WRONG-TOKEN".into(),
    };
    let gitlab = double.client(&intruder);
    for result in [
        gitlab.identity().await.map(|_| ()),
        gitlab.pull(iid).await.map(|_| ()),
        gitlab.comments(iid).await.map(|_| ()),
        gitlab.create_comment(iid, "x").await.map(|_| ()),
    ] {
        match result {
            Err(e @ ForgeError::Unauthorized { status: 401, .. }) => {
                assert_eq!(e.reason(), "ForgeUnauthorized");
                assert!(!e.retryable());
                assert!(!e.to_string().contains("WRONG"), "{e}");
                assert!(!format!("{e:?}").contains("WRONG"), "{e:?}");
            }
            other => panic!("a wrong token was not refused as unauthorized: {other:?}"),
        }
    }
    assert!(double.notes(iid).is_empty());
    assert_clean(&double);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_double_flags_requests_outside_gitlabs_description() -> Result {
    let double = GitLabDouble::start("acme/infra").await;
    let bot = double.add_user("bot", 5, Some(DEVELOPER));
    let http = reqwest::Client::new();
    let base = double.api_base();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.header("private-token", t);
        }
        r.send()
    };
    let cases = [
        (
            get("/projects/acme/infra/merge_requests/1", Some(&bot.token)).await?,
            404,
        ),
        (
            get("/projects/acme%2Finfra/merge_requests/1", None).await?,
            401,
        ),
        (
            get(
                "/projects/acme%2Finfra/merge_requests?state=open",
                Some(&bot.token),
            )
            .await?,
            400,
        ),
        (
            get(
                "/projects/acme%2Finfra/merge_requests?colour=red",
                Some(&bot.token),
            )
            .await?,
            400,
        ),
        (
            get("/projects/acme%2Finfra/pulls", Some(&bot.token)).await?,
            404,
        ),
        (
            get(
                "/projects/acme%2Finfra/merge_requests/1/notes?sort=up",
                Some(&bot.token),
            )
            .await?,
            400,
        ),
        (
            http.delete(format!(
                "{base}/projects/acme%2Finfra/merge_requests/1/notes/3"
            ))
            .header("private-token", &bot.token)
            .send()
            .await?,
            405,
        ),
        (
            http.post(format!(
                "{base}/projects/acme%2Finfra/merge_requests/1/notes"
            ))
            .header("private-token", &bot.token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await?,
            400,
        ),
    ];
    let statuses: Vec<u16> = cases.iter().map(|(r, _)| r.status().as_u16()).collect();
    let wanted: Vec<u16> = cases.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, wanted);
    let violations = double.violations();
    assert_eq!(violations.len(), cases.len(), "{violations:#?}");
    assert!(
        violations[0].contains("not URL-encoded"),
        "{}",
        violations[0]
    );
    assert!(violations[1].contains("PRIVATE-TOKEN"), "{}", violations[1]);
    assert!(violations.iter().all(|v| !v.contains(&bot.token)));
    // A well-formed request for a project the double does not have is GitLab's 404, not a
    // violation.
    let other = get(
        "/projects/other%2Fproject/merge_requests/1",
        Some(&bot.token),
    )
    .await?;
    assert_eq!(other.status().as_u16(), 404);
    assert_eq!(double.violations().len(), cases.len());
    let numeric = get(
        &format!("/projects/{PROJECT_ID}/merge_requests"),
        Some(&bot.token),
    )
    .await?;
    assert_eq!(numeric.status().as_u16(), 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_sent_as_gitlab_sends_them() -> Result {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    type Received = Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>>;
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hooks/gitlab",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let json = serde_json::from_slice(&body).unwrap_or_default();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((headers, json));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let url = format!("{}/hooks/gitlab", crate::util::serve(app).await);

    let (double, _, iid) = with_mr("acme/infra").await;
    let alice = double.add_user("erin", 21, Some(DEVELOPER));
    let head = double.branch_head("feature");
    let opened = double.merge_request_hook(iid, "open", None);
    assert_eq!(opened.deliver(&url, Some("hook-secret")).await.status, 204);
    let note = double.post_note(iid, &alice, "segment apply");
    let noted = double.note_hook(note, "create");
    let first = noted.deliver(&url, Some("hook-secret")).await;
    let retry = noted.deliver(&url, None).await;
    assert_ne!(first.webhook_uuid, retry.webhook_uuid);

    let received = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(received.len(), 3);
    let header = |i: usize, name: &str| {
        received[i]
            .0
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header(0, "x-gitlab-event").as_deref(),
        Some("Merge Request Hook")
    );
    assert_eq!(header(0, "x-gitlab-token").as_deref(), Some("hook-secret"));
    assert_eq!(
        header(0, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(header(1, "x-gitlab-event").as_deref(), Some("Note Hook"));
    assert_eq!(header(2, "x-gitlab-token"), None);
    // A retry keeps its Idempotency-Key; each request has its own webhook UUID.
    assert_eq!(header(1, "idempotency-key"), header(2, "idempotency-key"));
    assert_ne!(header(0, "idempotency-key"), header(1, "idempotency-key"));
    assert_eq!(header(2, "x-gitlab-webhook-uuid"), Some(retry.webhook_uuid));

    let mr = &received[0].1;
    assert_eq!(mr["object_kind"], "merge_request");
    assert_eq!(mr["project"]["id"], PROJECT_ID);
    assert_eq!(mr["project"]["path_with_namespace"], "acme/infra");
    let a = &mr["object_attributes"];
    assert_eq!(a["iid"], iid);
    assert_eq!(a["action"], "open");
    assert_eq!(a["source_branch"], "feature");
    assert_eq!(a["target_branch"], "main");
    assert_eq!(a["last_commit"]["id"], head.as_str());
    assert_eq!(a["source_project_id"], a["target_project_id"]);
    assert_eq!(mr["user"]["username"], "alice");

    let n = &received[1].1;
    assert_eq!(n["object_kind"], "note");
    assert_eq!(n["object_attributes"]["noteable_type"], "MergeRequest");
    assert_eq!(n["object_attributes"]["id"], note);
    assert_eq!(n["object_attributes"]["note"], "segment apply");
    assert_eq!(n["object_attributes"]["action"], "create");
    assert_eq!(n["object_attributes"]["system"], false);
    assert_eq!(n["merge_request"]["iid"], iid);
    assert_eq!(n["merge_request"]["last_commit"]["id"], head.as_str());
    assert_eq!(n["user"]["username"], "erin");

    double.commit_on("feature", "b.tf", "b");
    let pushed = double.note_push(iid);
    let update = double.merge_request_hook(iid, "update", Some(&head));
    assert_eq!(update.body["object_attributes"]["oldrev"], head.as_str());
    assert_eq!(
        update.body["object_attributes"]["last_commit"]["id"],
        pushed.as_str()
    );
    assert_clean(&double);
    Ok(())
}
