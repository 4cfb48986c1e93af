//! The local GitHub (`gitsync::forge::local`), driven with raw HTTP requests (not gitsync's
//! client): every operation gitsync uses, authentication (App JWTs, installation tokens, user
//! tokens), pagination, mergeability, merges into the real bare repository, injected faults
//! and signed webhook deliveries, each exchange checked against GitHub's official description.

use std::time::Duration;

use gitsync::forge::local::{Fault, NewPull, Role};
use serde_json::{Value as Json, json};

use crate::util::github::{
    APP_CLIENT_ID, APP_ID, APP_SLUG, INSTALLATION_ID, TestGitHub, app_private_key,
    other_private_key, push_change,
};
use crate::util::openapi::Exchange;
use crate::util::{git, github::GITHUB_API};

const ALICE: &str = "alice-token";
const BOB: &str = "bob-token";
const REPO: &str = "acme/segment-config";

/// An answer: status, headers, JSON body (`Null` when empty).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Json,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(
    gh: &TestGitHub,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Json>,
) -> Answer {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", gh.api_url())
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut req = reqwest::Client::new()
        .request(method, &url)
        .header("Accept", "application/vnd.github+json")
        .header("User-Agent", "gitsync-tests");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let body = if bytes.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{url}: not JSON: {e}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// A JWT for the App, signed with `key`, with `exp` `ttl` seconds ahead and `iss` as given.
fn jwt(key: &str, iss: Json, ttl: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({ "iat": now - 60, "exp": now + ttl, "iss": iss });
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn app_jwt() -> String {
    jwt(&app_private_key(), json!(APP_ID), 540)
}

/// A forge with the owner `acme` (admin, token ALICE), `bob` (read, token BOB), the repository
/// and a pull request #1 from `feature` into `main`.
async fn forge_with_pull() -> (TestGitHub, std::path::PathBuf, std::path::PathBuf, String) {
    let gh = TestGitHub::start().await;
    gh.forge.add_user("acme", 1001, Role::Admin);
    gh.forge.add_user("bob", 1002, Role::Read);
    gh.forge
        .add_token(ALICE, "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    gh.forge
        .add_token(BOB, "bob")
        .unwrap_or_else(|e| panic!("{e}"));
    let (bare, work) = gh.repository("acme", "segment-config");
    let head = push_change(&work, "feature", "sources/web.tf", "# web\n");
    let n = gh
        .forge
        .open_pull(
            REPO,
            NewPull {
                author: "acme".into(),
                head: "feature".into(),
                base: "main".into(),
                title: "Add the web source".into(),
                body: Some("Adds it.".into()),
                draft: false,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, 1);
    (gh, bare, work, head)
}

fn assert_conforms(gh: &TestGitHub) {
    let v = gh.violations();
    assert!(v.is_empty(), "{} violations:\n{}", v.len(), v.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_comments_and_statuses_follow_the_description() {
    let (gh, bare, _work, head) = forge_with_pull().await;

    let list = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls?state=open&base=main",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body[0]["number"], 1);
    assert_eq!(list.body[0]["head"]["sha"], head.as_str());
    let none = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls?base=other",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(none.body, json!([]));

    // Mergeability: null on the first read after a push, then computed.
    let first = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["mergeable"], Json::Null);
    assert_eq!(first.body["head"]["ref"], "feature");
    assert_eq!(first.body["base"]["ref"], "main");
    assert_eq!(first.body["changed_files"], 1);
    let second = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(second.body["mergeable"], true);
    assert_eq!(second.body["mergeable_state"], "clean");
    let missing = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/9",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);

    // refs/pull/1/head is in the bare repository, as GitHub writes it.
    assert_eq!(git(&bare, &["rev-parse", "refs/pull/1/head"]), head);

    // Comments.
    let posted = call(
        &gh,
        "POST",
        "/repos/acme/segment-config/issues/1/comments",
        Some(ALICE),
        Some(json!({"body": "plan: 1 to add"})),
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(posted.body["user"]["login"], "acme");
    let id = posted.body["id"].as_u64().unwrap_or_default();
    assert_eq!(posted.header("location"), posted.body["url"].as_str());
    let got = call(
        &gh,
        "GET",
        &format!("/repos/acme/segment-config/issues/comments/{id}"),
        Some(BOB),
        None,
    )
    .await;
    assert_eq!(got.body["body"], "plan: 1 to add");
    let edited = call(
        &gh,
        "PATCH",
        &format!("/repos/acme/segment-config/issues/comments/{id}"),
        Some(ALICE),
        Some(json!({"body": "plan: 2 to add"})),
    )
    .await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["body"], "plan: 2 to add");
    let not_author = call(
        &gh,
        "PATCH",
        &format!("/repos/acme/segment-config/issues/comments/{id}"),
        Some(BOB),
        Some(json!({"body": "mine now"})),
    )
    .await;
    assert_eq!(not_author.status, 403);
    let too_long = call(
        &gh,
        "POST",
        "/repos/acme/segment-config/issues/1/comments",
        Some(ALICE),
        Some(json!({"body": "x".repeat(65_537)})),
    )
    .await;
    assert_eq!(too_long.status, 422);
    let comments = gh.forge.comments(REPO, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "plan: 2 to add");

    // Reactions: 201 new, 200 when the same one is there.
    let path = format!("/repos/acme/segment-config/issues/comments/{id}/reactions");
    let r1 = call(
        &gh,
        "POST",
        &path,
        Some(BOB),
        Some(json!({"content": "eyes"})),
    )
    .await;
    assert_eq!(r1.status, 201, "{}", r1.body);
    let r2 = call(
        &gh,
        "POST",
        &path,
        Some(BOB),
        Some(json!({"content": "eyes"})),
    )
    .await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.body["id"], r1.body["id"]);
    let bad = call(
        &gh,
        "POST",
        &path,
        Some(BOB),
        Some(json!({"content": "thumbsup"})),
    )
    .await;
    assert_eq!(bad.status, 422);
    let listed = call(&gh, "GET", &format!("{path}?content=eyes"), Some(BOB), None).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_eq!(gh.forge.reactions(REPO, id).unwrap_or_default().len(), 1);

    // Statuses: posted on the head, combined per context; a read-only user may not.
    let status_path = format!("/repos/acme/segment-config/statuses/{head}");
    let s1 = call(
        &gh,
        "POST",
        &status_path,
        Some(ALICE),
        Some(json!({"state": "pending", "context": "gitsync/plan", "description": "Planning", "target_url": null})),
    )
    .await;
    assert_eq!(s1.status, 201, "{}", s1.body);
    let s2 = call(
        &gh,
        "POST",
        &status_path,
        Some(ALICE),
        Some(json!({"state": "success", "context": "gitsync/plan", "description": "1 to add"})),
    )
    .await;
    assert_eq!(s2.status, 201);
    let refused = call(
        &gh,
        "POST",
        &status_path,
        Some(BOB),
        Some(json!({"state": "success"})),
    )
    .await;
    assert_eq!(refused.status, 403);
    let unknown_sha = call(
        &gh,
        "POST",
        "/repos/acme/segment-config/statuses/0123456789012345678901234567890123456789",
        Some(ALICE),
        Some(json!({"state": "success"})),
    )
    .await;
    assert_eq!(unknown_sha.status, 422);
    for reference in [head.as_str(), "feature", "heads/feature"] {
        let combined = call(
            &gh,
            "GET",
            &format!("/repos/acme/segment-config/commits/{reference}/status"),
            Some(BOB),
            None,
        )
        .await;
        assert_eq!(combined.status, 200, "{reference}: {}", combined.body);
        assert_eq!(combined.body["state"], "success");
        assert_eq!(combined.body["total_count"], 1);
        assert_eq!(combined.body["sha"], head.as_str());
    }
    let statuses = gh.forge.statuses(REPO).unwrap_or_default();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[1].creator, "acme");

    // Permissions: legacy permission and role name.
    let perm = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/collaborators/bob/permission",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(perm.status, 200);
    assert_eq!(perm.body["permission"], "read");
    let nobody = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/collaborators/carol/permission",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(nobody.status, 404);
    let repo = call(&gh, "GET", "/repos/acme/segment-config", Some(BOB), None).await;
    assert_eq!(repo.status, 200);
    assert_eq!(repo.body["default_branch"], "main");
    assert_eq!(repo.body["permissions"]["push"], false);

    let deleted = call(
        &gh,
        "DELETE",
        &format!("/repos/acme/segment-config/issues/comments/{id}"),
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let gone = call(
        &gh,
        "GET",
        &format!("/repos/acme/segment-config/issues/comments/{id}"),
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(gone.status, 404);

    // Every answer conforms; the one request that does not is the reaction sent on purpose
    // with a content GitHub does not have, and the check says so.
    let answers = gh.response_violations();
    assert!(answers.is_empty(), "{}", answers.join("\n"));
    let all = gh.violations();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].contains("request body") && all[0].contains("thumbsup"),
        "{all:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_jwt_buys_installation_tokens_that_act_as_the_bot_until_they_expire() {
    let (gh, _bare, _work, _head) = forge_with_pull().await;
    let app_token = app_jwt();

    let app = call(&gh, "GET", "/app", Some(&app_token), None).await;
    assert_eq!(app.status, 200, "{}", app.body);
    assert_eq!(app.body["slug"], APP_SLUG);
    assert_eq!(app.body["id"], APP_ID);
    // `iss` may be the client id too (GitHub recommends it).
    let by_client_id = jwt(&app_private_key(), json!(APP_CLIENT_ID), 540);
    assert_eq!(
        call(&gh, "GET", "/app", Some(&by_client_id), None)
            .await
            .status,
        200
    );

    // Refused JWTs: another key, another App, too long a life, and a user's token.
    let refused = [
        ("another key", jwt(&other_private_key(), json!(APP_ID), 540)),
        (
            "another app",
            jwt(&app_private_key(), json!(APP_ID + 1), 540),
        ),
        ("exp too far", jwt(&app_private_key(), json!(APP_ID), 900)),
        ("expired", jwt(&app_private_key(), json!(APP_ID), -5)),
        ("a user token", ALICE.to_owned()),
    ];
    for (what, token) in &refused {
        let a = call(&gh, "GET", "/app", Some(token), None).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert!(a.body["message"].is_string(), "{what}: {}", a.body);
    }
    assert_eq!(call(&gh, "GET", "/app", None, None).await.status, 401);

    let installation = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/installation",
        Some(&app_token),
        None,
    )
    .await;
    assert_eq!(installation.status, 200, "{}", installation.body);
    assert_eq!(installation.body["id"], INSTALLATION_ID);
    assert_eq!(installation.body["app_slug"], APP_SLUG);
    let elsewhere = call(
        &gh,
        "GET",
        "/repos/acme/other/installation",
        Some(&app_token),
        None,
    )
    .await;
    assert_eq!(elsewhere.status, 404);
    // The JWT-only endpoints do not take a user's token, and the others do not take a JWT.
    let user_on_app = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/installation",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(user_on_app.status, 401);
    let jwt_on_pulls = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls",
        Some(&app_token),
        None,
    )
    .await;
    assert_eq!(jwt_on_pulls.status, 401);

    let wrong = call(
        &gh,
        "POST",
        "/app/installations/1/access_tokens",
        Some(&app_token),
        None,
    )
    .await;
    assert_eq!(wrong.status, 404);
    let minted = call(
        &gh,
        "POST",
        &format!("/app/installations/{INSTALLATION_ID}/access_tokens"),
        Some(&app_token),
        Some(json!({"repositories": ["segment-config"]})),
    )
    .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    assert_eq!(minted.body["repositories"][0]["full_name"], REPO);
    let expires: jiff::Timestamp = minted.body["expires_at"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("expires_at: {e}"));
    let left = expires.as_second() - jiff::Timestamp::now().as_second();
    assert!(
        (3500..=3600).contains(&left),
        "an hour, as GitHub's: {left}s"
    );
    let token = minted.body["token"].as_str().unwrap_or_default().to_owned();
    let not_there = call(
        &gh,
        "POST",
        &format!("/app/installations/{INSTALLATION_ID}/access_tokens"),
        Some(&app_token),
        Some(json!({"repositories": ["nope"]})),
    )
    .await;
    assert_eq!(not_there.status, 422);

    // The installation token acts as the App's bot.
    let posted = call(
        &gh,
        "POST",
        "/repos/acme/segment-config/issues/1/comments",
        Some(&token),
        Some(json!({"body": "Plan: 1 to add."})),
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(posted.body["user"]["login"], format!("{APP_SLUG}[bot]"));
    assert_eq!(posted.body["user"]["type"], "Bot");
    assert_eq!(posted.body["performed_via_github_app"]["slug"], APP_SLUG);
    let pull = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(pull.status, 200);

    // Once expired: 401 Bad credentials, as GitHub answers.
    gh.forge.expire_installation_tokens();
    let expired = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body["message"], "Bad credentials");
    let unknown = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some("ghp_nobody"),
        None,
    )
    .await;
    assert_eq!(unknown.status, 401);
    let anonymous = call(&gh, "GET", "/repos/acme/segment-config/pulls/1", None, None).await;
    assert_eq!(anonymous.status, 401);
    // Someone without access to the (private) repository sees nothing there.
    gh.forge.add_user("carol", 1003, Role::None);
    gh.forge
        .add_token("carol-token", "carol")
        .unwrap_or_else(|e| panic!("{e}"));
    let outsider = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some("carol-token"),
        None,
    )
    .await;
    assert_eq!(outsider.status, 404);
    let as_none = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/collaborators/carol/permission",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(as_none.body["permission"], "none");

    let answers = gh.response_violations();
    assert!(answers.is_empty(), "{}", answers.join("\n"));
}

/// Follows `Link: <...>; rel="next"` from `first`, collecting every page's items.
async fn every_page(gh: &TestGitHub, first: &str, token: &str) -> (Vec<Json>, usize) {
    let mut url = first.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let a = call(gh, "GET", &url, Some(token), None).await;
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        pages += 1;
        items.extend(a.body.as_array().cloned().unwrap_or_default());
        let next = a.header("link").and_then(|l| {
            l.split(", ")
                .find(|p| p.ends_with("rel=\"next\""))
                .and_then(|p| p.split_once('>'))
                .map(|(u, _)| u.trim_start_matches('<').to_owned())
        });
        match next {
            Some(n) => url = n,
            None => return (items, pages),
        }
        assert!(pages < 100, "the pages do not end");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_are_paged_with_link_headers_and_at_most_100_a_page() {
    let (gh, _bare, work, _head) = forge_with_pull().await;
    for i in 0..235 {
        gh.forge
            .post_comment(
                REPO,
                1,
                if i % 2 == 0 { "acme" } else { "bob" },
                &format!("comment {i}"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let (items, pages) = every_page(
        &gh,
        "/repos/acme/segment-config/issues/1/comments?per_page=50",
        ALICE,
    )
    .await;
    assert_eq!(pages, 5);
    let bodies: Vec<&str> = items.iter().filter_map(|c| c["body"].as_str()).collect();
    let expected: Vec<String> = (0..235).map(|i| format!("comment {i}")).collect();
    assert_eq!(bodies, expected, "every comment once, oldest first");

    // Default 30 a page; more than 100 asked is 100.
    let (_, pages) = every_page(&gh, "/repos/acme/segment-config/issues/1/comments", ALICE).await;
    assert_eq!(pages, 8);
    let big = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/issues/1/comments?per_page=500",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(big.body.as_array().map(Vec::len), Some(100));
    let link = big.header("link").unwrap_or_default().to_owned();
    assert!(
        link.contains("rel=\"next\"") && link.contains("rel=\"last\""),
        "{link}"
    );
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    let middle = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/issues/1/comments?per_page=100&page=2",
        Some(ALICE),
        None,
    )
    .await;
    let link = middle.header("link").unwrap_or_default();
    for rel in ["prev", "next", "last", "first"] {
        assert!(link.contains(&format!("rel=\"{rel}\"")), "{rel}: {link}");
    }
    let past = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/issues/1/comments?page=99",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(past.body, json!([]));

    // Pull requests too, with the filters kept in the links.
    for branch in ["b1", "b2", "b3", "b4"] {
        push_change(&work, branch, &format!("{branch}.tf"), "# x\n");
        gh.forge
            .open_pull(
                REPO,
                NewPull {
                    author: "bob".into(),
                    head: branch.into(),
                    base: "main".into(),
                    title: branch.into(),
                    body: None,
                    draft: false,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let (pulls, pages) = every_page(
        &gh,
        "/repos/acme/segment-config/pulls?state=open&base=main&per_page=2",
        BOB,
    )
    .await;
    assert_eq!(pages, 3);
    let numbers: Vec<u64> = pulls.iter().filter_map(|p| p["number"].as_u64()).collect();
    assert_eq!(
        numbers,
        [5, 4, 3, 2, 1],
        "newest first, as GitHub sorts by default"
    );
    let first_page = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls?state=open&base=main&per_page=2",
        Some(BOB),
        None,
    )
    .await;
    assert!(
        first_page
            .header("link")
            .unwrap_or_default()
            .contains("state=open&base=main")
    );

    assert_conforms(&gh);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_checks_the_head_then_makes_a_real_merge_commit() {
    let (gh, bare, work, head) = forge_with_pull().await;
    let main_before = git(&bare, &["rev-parse", "refs/heads/main"]);
    let merge_path = "/repos/acme/segment-config/pulls/1/merge";

    let stale = call(
        &gh,
        "PUT",
        merge_path,
        Some(ALICE),
        Some(json!({"sha": main_before})),
    )
    .await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    let read_only = call(
        &gh,
        "PUT",
        merge_path,
        Some(BOB),
        Some(json!({"sha": head})),
    )
    .await;
    assert_eq!(read_only.status, 403);
    gh.forge
        .set_mergeable(REPO, 1, Some(false), "dirty")
        .unwrap_or_else(|e| panic!("{e}"));
    let dirty = call(
        &gh,
        "PUT",
        merge_path,
        Some(ALICE),
        Some(json!({"sha": head})),
    )
    .await;
    assert_eq!(dirty.status, 405);
    gh.forge
        .set_mergeable(REPO, 1, Some(true), "blocked")
        .unwrap_or_else(|e| panic!("{e}"));
    let pr = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(
        (
            pr.body["mergeable"].clone(),
            pr.body["mergeable_state"].clone()
        ),
        (json!(true), json!("blocked"))
    );
    let blocked = call(
        &gh,
        "PUT",
        merge_path,
        Some(ALICE),
        Some(json!({"sha": head})),
    )
    .await;
    assert_eq!(blocked.status, 405);
    gh.forge
        .compute_mergeable(REPO, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    // Nothing moved.
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), main_before);

    // A push moves refs/pull/1/head and makes mergeability unknown again; the old head is stale.
    let new_head = push_change(&work, "feature", "sources/web.tf", "# web, v2\n");
    assert_eq!(gh.forge.note_push(REPO, 1).unwrap_or_default(), new_head);
    assert_eq!(git(&bare, &["rev-parse", "refs/pull/1/head"]), new_head);
    let after_push = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(after_push.body["mergeable"], Json::Null);
    assert_eq!(after_push.body["head"]["sha"], new_head.as_str());
    let old = call(
        &gh,
        "PUT",
        merge_path,
        Some(ALICE),
        Some(json!({"sha": head})),
    )
    .await;
    assert_eq!(old.status, 409);

    let merged = call(
        &gh,
        "PUT",
        merge_path,
        Some(ALICE),
        Some(json!({"sha": new_head, "merge_method": "merge"})),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["merged"], true);
    let sha = merged.body["sha"].as_str().unwrap_or_default().to_owned();
    // A real merge commit on main: the old main and the head as parents, the head's file.
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), sha);
    assert_eq!(git(&bare, &["rev-parse", &format!("{sha}^1")]), main_before);
    assert_eq!(git(&bare, &["rev-parse", &format!("{sha}^2")]), new_head);
    assert_eq!(
        git(&bare, &["show", &format!("{sha}:sources/web.tf")]),
        "# web, v2"
    );
    assert!(
        git(&bare, &["log", "-1", "--format=%s", &sha])
            .starts_with("Merge pull request #1 from acme/feature")
    );

    let closed = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls/1",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(closed.body["state"], "closed");
    assert_eq!(closed.body["merged"], true);
    assert_eq!(closed.body["merged_by"]["login"], "acme");
    assert_eq!(closed.body["merge_commit_sha"], sha.as_str());
    let again = call(&gh, "PUT", merge_path, Some(ALICE), None).await;
    assert_eq!(again.status, 405);
    let open = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(open.body, json!([]));
    let all = call(
        &gh,
        "GET",
        "/repos/acme/segment-config/pulls?state=closed",
        Some(ALICE),
        None,
    )
    .await;
    assert!(all.body[0]["merged_at"].is_string());
    let snapshot = gh.forge.pull(REPO, 1).unwrap_or_else(|e| panic!("{e}"));
    assert!(snapshot.merged && snapshot.state == "closed");

    assert_conforms(&gh);
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicting_branches_read_as_dirty_and_do_not_merge() {
    let (gh, bare, work, _head) = forge_with_pull().await;
    // main changes the same file the pull request adds.
    push_change(&work, "main", "sources/web.tf", "# web, from main\n");
    gh.forge
        .note_push(REPO, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let main_before = git(&bare, &["rev-parse", "refs/heads/main"]);
    let path = "/repos/acme/segment-config/pulls/1";
    assert_eq!(
        call(&gh, "GET", path, Some(ALICE), None).await.body["mergeable"],
        Json::Null
    );
    let read = call(&gh, "GET", path, Some(ALICE), None).await;
    assert_eq!(read.body["mergeable"], false);
    assert_eq!(read.body["mergeable_state"], "dirty");
    let refused = call(&gh, "PUT", &format!("{path}/merge"), Some(ALICE), None).await;
    assert_eq!(refused.status, 405);
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), main_before);

    // A fork's pull request names the fork as its head repository.
    gh.forge
        .set_from_fork(REPO, 1, "mallory")
        .unwrap_or_else(|e| panic!("{e}"));
    let fork = call(&gh, "GET", path, Some(ALICE), None).await;
    assert_eq!(
        fork.body["head"]["repo"]["full_name"],
        "mallory/segment-config"
    );
    assert_eq!(fork.body["head"]["repo"]["fork"], true);
    assert_eq!(fork.body["head"]["label"], "mallory:feature");
    assert_eq!(fork.body["base"]["repo"]["full_name"], REPO);

    assert_conforms(&gh);
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_faults_answer_as_github_does_and_change_nothing() {
    let (gh, _bare, _work, _head) = forge_with_pull().await;
    let path = "/repos/acme/segment-config/issues/1/comments";
    gh.forge.inject(
        Fault::TooManyRequests {
            retry_after: Duration::from_secs(7),
        },
        2,
    );
    for _ in 0..2 {
        let a = call(&gh, "POST", path, Some(ALICE), Some(json!({"body": "x"}))).await;
        assert_eq!(a.status, 429);
        assert_eq!(a.header("retry-after"), Some("7"));
        assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
    }
    gh.forge.inject(
        Fault::RateLimited {
            retry_after: Duration::from_secs(30),
        },
        1,
    );
    let limited = call(&gh, "GET", path, Some(ALICE), None).await;
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("retry-after"), Some("30"));
    let reset: i64 = limited
        .header("x-ratelimit-reset")
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    assert!(reset >= jiff::Timestamp::now().as_second() + 25, "{reset}");
    gh.forge.inject(Fault::BadGateway, 1);
    assert_eq!(call(&gh, "GET", path, Some(ALICE), None).await.status, 502);

    let ok = call(&gh, "GET", path, Some(ALICE), None).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body,
        json!([]),
        "no refused request left anything behind"
    );
    assert_eq!(ok.header("x-ratelimit-limit"), Some("5000"));

    // Not JSON: GitHub's 400.
    let not_json = reqwest::Client::new()
        .post(format!("{}{path}", gh.api_url()))
        .bearer_auth(ALICE)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(not_json.status().as_u16(), 400);

    let answers = gh.response_violations();
    assert!(answers.is_empty(), "{}", answers.join("\n"));
}

/// What a webhook receiver got: headers and the raw body.
#[derive(Clone, Debug)]
struct Received {
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_deliveries_shaped_like_githubs() {
    use hmac::{KeyInit, Mac};
    let (gh, _bare, work, _head) = forge_with_pull().await;
    let received: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hooks/github",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(Received { headers, body });
                    "ok"
                }
            },
        ),
    );
    let receiver = crate::util::serve(app).await;
    let secret = "It's a Secret to Everybody";
    gh.forge
        .add_hook(&format!("{receiver}/hooks/github"), secret);
    // A hook nobody listens on: its deliveries fail, are recorded, and are not retried.
    gh.forge.add_hook(
        &format!("http://127.0.0.1:{}/gone", crate::util::free_port()),
        "s",
    );

    push_change(&work, "second", "sources/app.tf", "# app\n");
    let second = gh
        .forge
        .open_pull(
            REPO,
            NewPull {
                author: "bob".into(),
                head: "second".into(),
                base: "main".into(),
                title: "Add the app source".into(),
                body: None,
                draft: true,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let new_head = push_change(&work, "feature", "sources/web.tf", "# v2\n");
    gh.forge
        .note_push(REPO, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let id = gh
        .forge
        .post_comment(REPO, 1, "bob", "segment apply")
        .unwrap_or_else(|e| panic!("{e}"));
    gh.forge
        .edit_comment(REPO, id, "segment apply please")
        .unwrap_or_else(|e| panic!("{e}"));
    let merged = call(
        &gh,
        "PUT",
        "/repos/acme/segment-config/pulls/1/merge",
        Some(ALICE),
        Some(json!({"sha": new_head})),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.body);

    // #1's opening (at setup, before the hooks) is not delivered; these five are, to both hooks.
    let deliveries = gh
        .forge
        .wait_for_deliveries(10, Duration::from_secs(20))
        .await;
    assert_eq!(deliveries.len(), 10, "{deliveries:#?}");
    let failed: Vec<_> = deliveries
        .iter()
        .filter(|d| d.url.ends_with("/gone"))
        .collect();
    assert_eq!(failed.len(), 5);
    assert!(
        failed
            .iter()
            .all(|d| d.status.is_none() && d.error.is_some()),
        "{failed:#?}"
    );

    let mut got = received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(got.len(), 5);
    // Deliveries race each other (GitHub promises no order either): put them in event order.
    let order = ["opened", "synchronize", "created", "edited", "closed"];
    got.sort_by_key(|r| {
        let payload: Json = serde_json::from_slice(&r.body).unwrap_or_default();
        order.iter().position(|a| payload["action"] == *a)
    });
    let expected = [
        (
            "pull_request",
            "opened",
            "pull-request-opened",
            "pull_request/opened.payload.json",
        ),
        (
            "pull_request",
            "synchronize",
            "pull-request-synchronize",
            "pull_request/synchronize.payload.json",
        ),
        (
            "issue_comment",
            "created",
            "issue-comment-created",
            "issue_comment/created.with-installation.payload.json",
        ),
        (
            "issue_comment",
            "edited",
            "issue-comment-edited",
            "issue_comment/edited.payload.json",
        ),
        (
            "pull_request",
            "closed",
            "pull-request-closed",
            "pull_request/closed.payload.json",
        ),
    ];
    let mut guids = std::collections::BTreeSet::new();
    for (r, (event, action, schema, real)) in got.iter().zip(expected) {
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-github-event"), event);
        assert!(header("user-agent").starts_with("GitHub-Hookshot/"));
        let guid = header("x-github-delivery");
        let shape: Vec<usize> = guid.split('-').map(str::len).collect();
        assert_eq!(shape, [8, 4, 4, 4, 12], "{guid}");
        assert!(guids.insert(guid), "each delivery has its own GUID");
        // The signature, computed here from the raw body as a receiver must.
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        mac.update(&r.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header("x-hub-signature-256"), want);

        let payload: Json = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload["action"], action);
        // Every top-level key of GitHub's real delivery is there (but `organization`, which
        // only an organisation's repository has).
        let real: Json = serde_json::from_str(
            &std::fs::read_to_string(
                crate::util::fixtures_root()
                    .join("forge/github-webhooks")
                    .join(real),
            )
            .unwrap_or_else(|e| panic!("{real}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{real}: {e}"));
        for key in real.as_object().into_iter().flat_map(|m| m.keys()) {
            if key != "organization" {
                assert!(payload.get(key).is_some(), "{event}.{action}: no `{key}`");
            }
        }
        let violations = GITHUB_API.check_webhook(schema, &payload);
        assert!(violations.is_empty(), "{}", violations.join("\n"));
        assert_eq!(payload["repository"]["full_name"], REPO);
        assert_eq!(payload["installation"]["id"], INSTALLATION_ID);
        match event {
            "pull_request" => {
                let n = if action == "opened" { second } else { 1 };
                assert_eq!(payload["number"], n);
                assert_eq!(payload["pull_request"]["number"], n);
            }
            _ => {
                assert_eq!(payload["issue"]["number"], 1);
                assert!(payload["issue"]["pull_request"]["url"].is_string());
                assert_eq!(payload["comment"]["id"], id);
                assert_eq!(payload["comment"]["user"]["login"], "bob");
                assert_eq!(payload["sender"]["login"], "bob");
            }
        }
    }
    let opened: Json = serde_json::from_slice(&got[0].body).unwrap_or_default();
    assert_eq!(opened["pull_request"]["draft"], true);
    assert_eq!(opened["pull_request"]["mergeable"], Json::Null);
    assert_eq!(opened["sender"]["login"], "bob");
    let got = &got[1..];
    let sync: Json = serde_json::from_slice(&got[0].body).unwrap_or_default();
    assert_eq!(sync["after"], new_head.as_str());
    assert_eq!(sync["pull_request"]["head"]["sha"], new_head.as_str());
    let created: Json = serde_json::from_slice(&got[1].body).unwrap_or_default();
    assert_eq!(created["comment"]["body"], "segment apply");
    assert_eq!(
        created["comment"]["created_at"],
        created["comment"]["updated_at"]
    );
    let edited: Json = serde_json::from_slice(&got[2].body).unwrap_or_default();
    assert_eq!(edited["changes"]["body"]["from"], "segment apply");
    assert_eq!(edited["comment"]["body"], "segment apply please");
    assert!(
        edited["comment"]["updated_at"].as_str() > edited["comment"]["created_at"].as_str(),
        "an edit is dated after the comment"
    );
    let closed: Json = serde_json::from_slice(&got[3].body).unwrap_or_default();
    assert_eq!(closed["pull_request"]["merged"], true);
    assert_eq!(closed["sender"]["login"], "acme");
}

/// The check itself: it refuses what breaks the description, so that a passing conformance test
/// means something.
#[test]
fn the_check_catches_answers_and_requests_that_break_the_description() {
    let template = crate::util::openapi::template_of;
    let spec = &GITHUB_API.spec;
    assert_eq!(
        template(spec, "get", "/repos/o/r/commits/feature/x/status").as_deref(),
        Some("/repos/{owner}/{repo}/commits/{ref}/status"),
        "`{{ref}}` spans segments"
    );
    assert_eq!(
        template(spec, "get", "/repos/o/r/issues/comments/5").as_deref(),
        Some("/repos/{owner}/{repo}/issues/comments/{comment_id}")
    );
    assert_eq!(template(spec, "get", "/repos/o/r/nothing"), None);

    let reaction = json!({
        "id": 1, "node_id": "R", "content": "eyes", "created_at": "2026-01-01T00:00:00Z",
        "user": null,
    });
    let ex = |method: &str,
              path: &str,
              query: Option<&str>,
              request: Option<Json>,
              status: u16,
              body: Option<Json>| Exchange {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_owned),
        request_body: request,
        status,
        response_body: body,
    };
    let reactions = "/repos/o/r/issues/comments/5/reactions";
    let good = ex(
        "POST",
        reactions,
        None,
        Some(json!({"content": "eyes"})),
        201,
        Some(reaction.clone()),
    );
    assert_eq!(GITHUB_API.check(&good), Vec::<String>::new());

    let mut missing = reaction.clone();
    if let Some(m) = missing.as_object_mut() {
        m.remove("node_id");
    }
    let cases = [
        (
            "a missing required field",
            ex(
                "POST",
                reactions,
                None,
                Some(json!({"content": "eyes"})),
                201,
                Some(missing),
            ),
            "node_id",
        ),
        (
            "a wrong type",
            ex(
                "POST",
                reactions,
                None,
                Some(json!({"content": "eyes"})),
                201,
                Some(
                    json!({"id": "1", "node_id": "R", "content": "eyes", "created_at": "x", "user": null}),
                ),
            ),
            "\"1\"",
        ),
        (
            "an undeclared status",
            ex(
                "POST",
                reactions,
                None,
                Some(json!({"content": "eyes"})),
                418,
                None,
            ),
            "418",
        ),
        (
            "a bad request body",
            ex(
                "POST",
                reactions,
                None,
                Some(json!({"content": "smile"})),
                201,
                Some(reaction.clone()),
            ),
            "request body",
        ),
        (
            "a missing request body",
            ex("POST", reactions, None, None, 201, Some(reaction.clone())),
            "requires a body",
        ),
        (
            "an unknown query parameter",
            ex(
                "GET",
                reactions,
                Some("per_page=10&colour=red"),
                None,
                200,
                Some(json!([])),
            ),
            "colour",
        ),
        (
            "a query parameter of the wrong type",
            ex(
                "GET",
                reactions,
                Some("per_page=many"),
                None,
                200,
                Some(json!([])),
            ),
            "per_page",
        ),
        (
            "an unknown operation",
            ex("GET", "/repos/o/r/nothing", None, None, 200, None),
            "no such operation",
        ),
        (
            "a body on 204",
            ex(
                "DELETE",
                "/repos/o/r/issues/comments/5",
                None,
                None,
                204,
                Some(json!({})),
            ),
            "no JSON body",
        ),
        (
            "a pull request without `mergeable`",
            ex(
                "GET",
                "/repos/o/r/pulls/1",
                None,
                None,
                200,
                Some(json!({"number": 1})),
            ),
            "mergeable",
        ),
    ];
    for (what, exchange, needle) in cases {
        let v = GITHUB_API.check(&exchange);
        assert!(v.iter().any(|e| e.contains(needle)), "{what}: {v:#?}");
    }
    // Webhook payloads against `x-webhooks`.
    let no_sender = json!({"action": "opened", "number": 1, "pull_request": {}, "repository": {}});
    let v = GITHUB_API.check_webhook("pull-request-opened", &no_sender);
    assert!(v.iter().any(|e| e.contains("sender")), "{v:#?}");
    // GitHub's undeclared-everywhere answers still must be `basic-error`s.
    let unauthorized = ex(
        "GET",
        "/repos/o/r/pulls",
        None,
        None,
        401,
        Some(json!({"message": 401})),
    );
    assert!(!GITHUB_API.check(&unauthorized).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forge_that_watches_for_pushes_notices_one_by_itself() {
    let gh = TestGitHub::start_with(gitsync::forge::local::LocalForgeConfig {
        app: Some(crate::util::github::app_config()),
        watch_pushes: Some(Duration::from_millis(50)),
        ..Default::default()
    })
    .await;
    gh.forge.add_user("acme", 1001, Role::Admin);
    let (bare, work) = gh.repository("acme", "segment-config");
    push_change(&work, "feature", "a.tf", "# a\n");
    gh.forge
        .open_pull(
            REPO,
            NewPull {
                author: "acme".into(),
                head: "feature".into(),
                base: "main".into(),
                title: "A".into(),
                body: None,
                draft: false,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let pushed = push_change(&work, "feature", "a.tf", "# a, again\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gh
        .forge
        .pull(REPO, 1)
        .map(|p| p.head_sha)
        .unwrap_or_default()
        != pushed
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the push was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(git(&bare, &["rev-parse", "refs/pull/1/head"]), pushed);
}

/// Runs `git` in `dir` without prompting for credentials; returns whether it succeeded and
/// its stderr.
fn git_quiet(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .output()
        .unwrap_or_else(|e| panic!("git: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repositories_are_served_over_git_http_with_the_apis_tokens() {
    let (gh, bare, _work, head) = forge_with_pull().await;
    let minted = call(
        &gh,
        "POST",
        &format!("/app/installations/{INSTALLATION_ID}/access_tokens"),
        Some(&app_jwt()),
        None,
    )
    .await;
    let token = minted.body["token"].as_str().unwrap_or_default().to_owned();
    let repo = call(&gh, "GET", "/repos/acme/segment-config", Some(&token), None).await;
    let clone_url = repo.body["clone_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let with = |user: &str, password: &str| {
        clone_url.replacen("http://", &format!("http://{user}:{password}@"), 1)
    };

    // The installation token fetches the pull request's head ref, as the operator does.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clone = dir.path().join("clone");
    let (ok, err) = git_quiet(
        dir.path(),
        &[
            "clone",
            "-q",
            &with("x-access-token", &token),
            &clone.to_string_lossy(),
        ],
    );
    assert!(ok, "{err}");
    let (ok, err) = git_quiet(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/pull/1/head:refs/remotes/origin/pr-1",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        git(&clone, &["rev-parse", "refs/remotes/origin/pr-1"]),
        head
    );

    // It pushes too; a push to a pull request's branch is noted at once.
    git(
        &clone,
        &[
            "checkout",
            "-q",
            "-b",
            "feature",
            "refs/remotes/origin/pr-1",
        ],
    );
    std::fs::write(clone.join("b.tf"), "# b\n").unwrap_or_else(|e| panic!("{e}"));
    let pushed = crate::util::commit_all(&clone, "b");
    let (ok, err) = git_quiet(&clone, &["push", "-q", "origin", "feature"]);
    assert!(ok, "{err}");
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/feature"]), pushed);
    assert_eq!(
        gh.forge
            .pull(REPO, 1)
            .map(|p| p.head_sha)
            .unwrap_or_default(),
        pushed
    );
    assert_eq!(git(&bare, &["rev-parse", "refs/pull/1/head"]), pushed);

    // A read-only user fetches but may not push; no token, a wrong one or an expired one: nothing.
    let (ok, _) = git_quiet(&clone, &["fetch", "-q", &with("bob", BOB), "main"]);
    assert!(ok, "a reader fetches");
    let (ok, err) = git_quiet(
        &clone,
        &["push", "-q", &with("bob", BOB), "feature:refs/heads/bob"],
    );
    assert!(!ok && err.contains("403"), "{err}");
    gh.forge.add_user("carol", 1003, Role::None);
    gh.forge
        .add_token("carol-token", "carol")
        .unwrap_or_else(|e| panic!("{e}"));
    let (ok, _) = git_quiet(&clone, &["ls-remote", &with("carol", "carol-token")]);
    assert!(!ok, "no access, no fetch");
    for url in [clone_url.clone(), with("x-access-token", "ghs_wrong")] {
        let (ok, err) = git_quiet(&clone, &["ls-remote", &url]);
        assert!(!ok, "{url}: {err}");
    }
    gh.forge.expire_installation_tokens();
    let (ok, _) = git_quiet(&clone, &["ls-remote", &with("x-access-token", &token)]);
    assert!(!ok, "an expired installation token does not fetch");
}
