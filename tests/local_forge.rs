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
    assert!(all[0].contains("request body") && all[0].contains("thumbsup"), "{all:#?}");
}
