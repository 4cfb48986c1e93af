//! Table tests of the GitHub client's pure parts: mapping GitHub's objects, checking URLs,
//! cutting descriptions, reading refusals. The client against a server is tested in
//! `tests/forge_github.rs`.

use super::*;
use reqwest::header::{HeaderMap, HeaderValue};

/// The official description's examples (tests/fixtures/forge/github-examples.json), by
/// operation and status.
fn example(operation: &str, status: &str) -> Json {
    let all: Json = serde_json::from_str(include_str!(
        "../../../tests/fixtures/forge/github-examples.json"
    ))
    .expect("the examples are JSON");
    let media = &all["operations"][operation][status]["application/json"];
    let first = media
        .as_object()
        .and_then(|m| m.values().next())
        .unwrap_or_else(|| panic!("no example for {operation} {status}"));
    first["value"].clone()
}

#[test]
fn mergeability_is_read_from_mergeable_and_its_state() {
    let blocked = |r: &str| Mergeability::Blocked {
        reason: r.to_owned(),
    };
    let cases = [
        (None, None, Mergeability::Computing),
        (None, Some("clean"), Mergeability::Computing),
        (Some(true), Some("unknown"), Mergeability::Computing),
        (Some(true), Some("clean"), Mergeability::Mergeable),
        (Some(true), Some("unstable"), Mergeability::Mergeable),
        (Some(true), Some("has_hooks"), Mergeability::Mergeable),
        (Some(true), Some("blocked"), blocked("blocked")),
        (Some(true), Some("behind"), blocked("behind")),
        (Some(true), Some("draft"), blocked("draft")),
        (Some(false), Some("dirty"), blocked("dirty")),
        (Some(false), None, blocked("conflicts")),
        (Some(false), Some(""), blocked("conflicts")),
        (Some(true), None, blocked("conflicts")),
    ];
    for (mergeable, state, want) in cases {
        assert_eq!(
            mergeability(mergeable, state),
            want,
            "{mergeable:?} {state:?}"
        );
    }
}

#[test]
fn permission_levels_map_to_what_applying_needs() {
    let cases = [
        ("admin", Permission::Admin),
        ("maintain", Permission::Write),
        ("write", Permission::Write),
        ("triage", Permission::Read),
        ("read", Permission::Read),
        ("none", Permission::Read),
        ("", Permission::Read),
        ("ADMIN", Permission::Read),
    ];
    for (level, want) in cases {
        assert_eq!(permission(level), want, "{level:?}");
    }
}

#[test]
fn repository_urls_give_owner_and_repository() {
    let some = |o: &str, r: &str| Some((o.to_owned(), r.to_owned()));
    let cases = [
        (
            "https://github.com/octocat/Hello-World",
            some("octocat", "Hello-World"),
        ),
        (
            "https://github.com/octocat/Hello-World.git",
            some("octocat", "Hello-World"),
        ),
        (
            "https://github.com/octocat/Hello-World/",
            some("octocat", "Hello-World"),
        ),
        (
            "https://github.com/octocat/Hello-World.git/",
            some("octocat", "Hello-World"),
        ),
        ("http://github.com/o/r.git", some("o", "r")),
        (
            "https://x-access-token:ghs_abc@github.com/o/r.git",
            some("o", "r"),
        ),
        (
            "https://ghe.example.com/team-a/infra.segment",
            some("team-a", "infra.segment"),
        ),
        ("https://github.com/o/r?tab=readme#top", some("o", "r")),
        ("ssh://git@github.com/o/r.git", some("o", "r")),
        ("ssh://git@github.com:22/o/r.git", some("o", "r")),
        ("git+ssh://git@github.com/o/r", some("o", "r")),
        (
            "git@github.com:octocat/Hello-World.git",
            some("octocat", "Hello-World"),
        ),
        ("git@github.com:o/r", some("o", "r")),
        ("github.com:o/r.git", some("o", "r")),
        ("  https://github.com/o/r.git\n", some("o", "r")),
        ("https://github.com/o/my_repo.v2", some("o", "my_repo.v2")),
        // Not owner/repo.
        ("https://github.com/octocat", None),
        ("https://github.com/", None),
        ("https://github.com", None),
        ("https://gitlab.com/group/subgroup/project.git", None),
        ("https://github.com/o/r/pull/1", None),
        ("https://github.com//r", None),
        ("https://github.com/o/.git", None),
        ("https://github.com/o/..", None),
        ("https://github.com/o%2Fx/r", None),
        ("https://github.com/o/r%20x", None),
        ("git@github.com:/o/r.git", None),
        ("ftp://github.com/o/r", None),
        ("file:///srv/git/o/r.git", None),
        ("/srv/git/o/r.git", None),
        ("o/r", None),
        ("", None),
    ];
    for (url, want) in cases {
        assert_eq!(parse_repository_url(url), want, "{url:?}");
    }
}

#[test]
fn descriptions_are_cut_to_140_characters_on_a_character_boundary() {
    let long_ascii = "a".repeat(200);
    let long_wide = "é🚀".repeat(100);
    let exactly = "ü".repeat(140);
    let cases: [(&str, usize, String); 5] = [
        ("plan: 3 to add", 14, "plan: 3 to add".to_owned()),
        (&exactly, 140, exactly.clone()),
        (&long_ascii, 140, format!("{}…", "a".repeat(139))),
        (&long_wide, 140, format!("{}é…", "é🚀".repeat(69))),
        ("", 0, String::new()),
    ];
    for (text, chars, want) in cases {
        let got = cut(text, STATUS_DESCRIPTION_LIMIT);
        assert_eq!(got, want, "{text:?}");
        assert_eq!(got.chars().count(), chars, "{text:?}");
        assert!(got.chars().count() <= STATUS_DESCRIPTION_LIMIT);
    }
}

#[test]
fn next_links_are_followed_only_on_the_api_itself() {
    let bases = [
        "https://api.github.com",
        "https://ghe.example.com/api/v3",
        "http://127.0.0.1:8080/api/v3",
    ];
    let cases: [(usize, &str, bool); 14] = [
        (
            0,
            "https://api.github.com/repositories/1296269/issues/1/comments?page=2",
            true,
        ),
        (
            0,
            "https://api.github.com/repos/o/r/pulls?page=3&per_page=100",
            true,
        ),
        (0, "/repos/o/r/pulls?page=2", true),
        (0, "https://evil.example.com/repos/o/r/pulls?page=2", false),
        (0, "http://api.github.com/repos/o/r/pulls?page=2", false),
        (
            0,
            "https://api.github.com:8443/repos/o/r/pulls?page=2",
            false,
        ),
        (0, "https://api.github.com.evil.example.com/x?page=2", false),
        (
            0,
            "https://token@api.github.com/repos/o/r/pulls?page=2",
            false,
        ),
        (
            1,
            "https://ghe.example.com/api/v3/repositories/7/issues/1/comments?page=2",
            true,
        ),
        (1, "https://ghe.example.com/other/api?page=2", false),
        (1, "https://ghe.example.com/api/v3x/repos?page=2", false),
        (
            2,
            "http://127.0.0.1:8080/api/v3/repos/o/r/issues/1/comments?page=2",
            true,
        ),
        (
            2,
            "http://localhost:8080/api/v3/repos/o/r/issues/1/comments?page=2",
            false,
        ),
        (
            2,
            "http://127.0.0.1:8081/api/v3/repos/o/r/issues/1/comments?page=2",
            false,
        ),
    ];
    for (base, link, followed) in cases {
        let base = api_base(bases[base]).expect("base");
        let current = base.join("repos/o/r/pulls?per_page=100").expect("current");
        match next_page(&base, &current, link) {
            Ok(next) => assert!(followed, "{link} was followed from {base}: {next}"),
            Err(problem) => {
                assert!(!followed, "{link} was refused from {base}: {problem}");
                assert!(problem.contains("not followed"), "{problem}");
                assert!(!problem.contains("token@"), "{problem}");
            }
        }
    }
}

#[test]
fn base_urls_are_checked_and_normalised() {
    let ok = [
        ("https://api.github.com", "https://api.github.com/"),
        ("https://api.github.com/", "https://api.github.com/"),
        (
            "https://ghe.example.com/api/v3/",
            "https://ghe.example.com/api/v3",
        ),
        (
            "http://127.0.0.1:1234/api/v3",
            "http://127.0.0.1:1234/api/v3",
        ),
    ];
    for (text, want) in ok {
        assert_eq!(api_base(text).expect(text).as_str(), want);
    }
    let bad = [
        "api.github.com",
        "ftp://api.github.com",
        "https://user:hunter2@api.github.com",
        "https://api.github.com/?x=1",
        "mailto:someone@example.com",
        "",
    ];
    for text in bad {
        match api_base(text) {
            Err(e @ ForgeError::Config { .. }) => {
                let message = e.to_string();
                assert!(message.contains("api/v3"), "{message}");
                assert!(!message.contains("hunter2"), "{message}");
            }
            other => panic!("{text:?} was taken: {other:?}"),
        }
    }
}

#[test]
fn the_description_example_pull_request_is_read() -> Result<(), String> {
    let json = example("pulls/get", "200");
    let pull: PullJson = serde_json::from_value(json).map_err(|e| e.to_string())?;
    let pull = pull_request(pull, true)?;
    assert_eq!(
        pull,
        PullRequest {
            number: 1347,
            title: "Amazing new feature".to_owned(),
            state: PullState::Open,
            draft: false,
            author: User {
                login: "octocat".to_owned(),
                id: 1
            },
            head_sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e".to_owned(),
            head_branch: "new-topic".to_owned(),
            base_branch: "master".to_owned(),
            from_fork: false,
            mergeability: Mergeability::Mergeable,
            web_url: "https://github.com/octocat/Hello-World/pull/1347".to_owned(),
        }
    );
    Ok(())
}

#[test]
fn pull_request_state_fork_and_author_are_mapped() -> Result<(), String> {
    let base = example("pulls/get", "200");
    type Edit = fn(&mut Json);
    let cases: [(&str, Edit, PullState, bool, bool, &str); 8] = [
        ("as given", |_| {}, PullState::Open, false, false, "octocat"),
        (
            "draft",
            |j| j["draft"] = json!(true),
            PullState::Open,
            true,
            false,
            "octocat",
        ),
        (
            "closed",
            |j| j["state"] = json!("closed"),
            PullState::Closed,
            false,
            false,
            "octocat",
        ),
        (
            "merged",
            |j| {
                j["state"] = json!("closed");
                j["merged"] = json!(true);
            },
            PullState::Merged,
            false,
            false,
            "octocat",
        ),
        (
            "merged, from a list (merged_at only)",
            |j| {
                j["state"] = json!("closed");
                j.as_object_mut().map(|o| o.remove("merged"));
                j["merged_at"] = json!("2011-01-26T19:01:12Z");
            },
            PullState::Merged,
            false,
            false,
            "octocat",
        ),
        (
            "from a fork",
            |j| j["head"]["repo"]["full_name"] = json!("mallory/Hello-World"),
            PullState::Open,
            false,
            true,
            "octocat",
        ),
        (
            "from a deleted fork",
            |j| j["head"]["repo"] = Json::Null,
            PullState::Open,
            false,
            true,
            "octocat",
        ),
        (
            "by a deleted user, no draft field",
            |j| {
                j["user"] = Json::Null;
                j.as_object_mut().map(|o| o.remove("draft"));
            },
            PullState::Open,
            false,
            false,
            "ghost",
        ),
    ];
    for (what, edit, state, draft, fork, author) in cases {
        let mut json = base.clone();
        edit(&mut json);
        let pull: PullJson = serde_json::from_value(json).map_err(|e| format!("{what}: {e}"))?;
        let pull = pull_request(pull, true)?;
        assert_eq!(
            (
                pull.state,
                pull.draft,
                pull.from_fork,
                pull.author.login.as_str()
            ),
            (state, draft, fork, author),
            "{what}"
        );
    }
    let mut weird = base.clone();
    weird["state"] = json!("locked");
    let pull: PullJson = serde_json::from_value(weird).map_err(|e| e.to_string())?;
    let refused = pull_request(pull, true).expect_err("an unknown state was taken");
    assert!(refused.contains("locked"), "{refused}");
    Ok(())
}

#[test]
fn listed_pull_requests_are_computing_until_read_alone() -> Result<(), String> {
    let list = example("pulls/list", "200");
    let pulls: Vec<PullJson> = serde_json::from_value(list).map_err(|e| e.to_string())?;
    assert!(!pulls.is_empty());
    for pull in pulls {
        assert_eq!(
            pull_request(pull, false)?.mergeability,
            Mergeability::Computing
        );
    }
    Ok(())
}

#[test]
fn comments_are_edited_when_updated_after_they_were_created() -> Result<(), String> {
    let listed = example("issues/list-comments", "200");
    let first: CommentJson =
        serde_json::from_value(listed[0].clone()).map_err(|e| e.to_string())?;
    let read = comment(first);
    assert_eq!(read.id, CommentId(1));
    assert_eq!(read.author.login, "octocat");
    assert_eq!(read.body, "Me too");
    assert!(!read.system);
    let cases = [
        ("2011-04-14T16:00:49Z", "2011-04-14T16:00:49Z", false),
        ("2011-04-14T16:00:49Z", "2011-04-14T16:00:50Z", true),
    ];
    for (created, updated, edited) in cases {
        let c = CommentJson {
            id: 2,
            user: None,
            body: None,
            created_at: created.to_owned(),
            updated_at: updated.to_owned(),
        };
        let c = comment(c);
        assert_eq!(c.edited, edited, "{created} {updated}");
        assert_eq!((c.author.login.as_str(), c.body.as_str()), ("ghost", ""));
    }
    Ok(())
}

fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, HeaderValue::from_str(v).expect("header"));
    }
    Response {
        status,
        headers: map,
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn refusals_map_to_errors_with_githubs_message_and_never_the_token() {
    let url = Url::parse("https://api.github.com/repos/o/r/pulls/1/merge").expect("url");
    let token = "ghs_SECRET_token_value";
    let cases: [(u16, &str, bool, &str, &str); 9] = [
        (
            401,
            r#"{"message":"Bad credentials"}"#,
            false,
            "ForgeUnauthorized",
            "Bad credentials",
        ),
        (
            403,
            r#"{"message":"Resource not accessible by integration"}"#,
            false,
            "ForgeUnauthorized",
            "not accessible",
        ),
        (
            404,
            r#"{"message":"Not Found"}"#,
            false,
            "ForgeNotFound",
            "Not Found",
        ),
        (
            410,
            r#"{"message":"Issues are disabled for this repo"}"#,
            false,
            "ForgeNotFound",
            "disabled",
        ),
        (
            409,
            r#"{"message":"Head branch was modified. Review and try the merge again."}"#,
            true,
            "ForgeRejected",
            "Head branch was modified",
        ),
        (
            405,
            r#"{"message":"Pull Request is not mergeable"}"#,
            true,
            "ForgeRejected",
            "not mergeable",
        ),
        (
            422,
            r#"{"message":"Validation Failed","errors":[{"resource":"IssueComment","code":"custom","field":"body","message":"Body is too long (maximum is 65536 characters)"}]}"#,
            true,
            "ForgeRejected",
            "Validation Failed (Body is too long (maximum is 65536 characters))",
        ),
        (
            401,
            r#"{"message":"token ghs_SECRET_token_value is expired"}"#,
            false,
            "ForgeUnauthorized",
            "token <redacted> is expired",
        ),
        (
            400,
            "<html>your request echoed ghs_SECRET_token_value</html>",
            true,
            "ForgeRejected",
            "bytes withheld",
        ),
    ];
    for (status, body, had_body, reason, says) in cases {
        let refused = accept(
            &Method::PUT,
            &url,
            had_body,
            response(status, &[], body),
            token,
        )
        .expect_err("a refusal was accepted");
        let message = refused.to_string();
        assert_eq!(refused.reason(), reason, "{status}: {message}");
        assert_eq!(refused.status(), Some(status));
        assert!(message.contains(says), "{status}: {message}");
        assert!(
            message.contains("PUT /repos/o/r/pulls/1/merge"),
            "{message}"
        );
        assert!(!message.contains(token), "{status}: {message}");
    }
    let moved = accept(
        &Method::GET,
        &url,
        false,
        response(
            301,
            &[("location", "https://api.github.com/repositories/42")],
            "",
        ),
        token,
    )
    .expect_err("a redirect was accepted");
    assert!(moved.to_string().contains("not followed"), "{moved}");
    for status in [200, 201, 204] {
        assert!(accept(&Method::POST, &url, true, response(status, &[], ""), token).is_ok());
    }
}

#[test]
fn reactions_are_githubs_words() {
    let cases = [
        (Reaction::Eyes, "eyes"),
        (Reaction::ThumbsUp, "+1"),
        (Reaction::Confused, "confused"),
    ];
    for (reaction, word) in cases {
        assert_eq!(reaction_content(reaction), word);
    }
}

fn config(auth: GitHubAuth) -> GitHubConfig {
    GitHubConfig {
        api_base_url: DEFAULT_API_BASE_URL.to_owned(),
        owner: "octocat".to_owned(),
        repo: "Hello-World".to_owned(),
        auth,
        http: HttpConfig::default(),
    }
}

#[test]
fn configurations_that_cannot_work_fail_before_anything_is_sent() {
    let key = auth::test_key::generate();
    let app = |pem: &str| GitHubAuth::App {
        app_id: "42".to_owned(),
        private_key_pem: pem.to_owned(),
        installation_id: None,
    };
    let cases: [(&str, GitHubConfig, &str); 6] = [
        (
            "token with a line break",
            config(GitHubAuth::Token("ghp_ab\ncd".to_owned())),
            "line break",
        ),
        (
            "empty token",
            config(GitHubAuth::Token(" \n".to_owned())),
            "empty",
        ),
        (
            "bad key",
            config(app("ghp_abcd not a key")),
            "githubAppPrivateKey",
        ),
        (
            "bad base",
            GitHubConfig {
                api_base_url: "github.com".to_owned(),
                ..config(GitHubAuth::Token("ghp_abcd".to_owned()))
            },
            "not a URL",
        ),
        (
            "no owner",
            GitHubConfig {
                owner: String::new(),
                ..config(GitHubAuth::Token("ghp_abcd".to_owned()))
            },
            "owner",
        ),
        (
            "slash in repo",
            GitHubConfig {
                repo: "a/b".to_owned(),
                ..config(GitHubAuth::Token("ghp_abcd".to_owned()))
            },
            "repository",
        ),
    ];
    for (what, config, says) in cases {
        match GitHub::new(config) {
            Err(e @ ForgeError::Config { .. }) => {
                let message = e.to_string();
                assert!(message.contains(says), "{what}: {message}");
                assert!(!message.contains("ghp_ab"), "{what}: {message}");
            }
            other => panic!("{what}: taken: {other:?}"),
        }
    }
    let fine = [
        config(GitHubAuth::Token("ghp_abcd\n".to_owned())),
        config(app(&key.pkcs1_pem)),
        config(app(&key.pkcs8_pem)),
    ];
    for config in fine {
        GitHub::new(config).expect("a good configuration");
    }
}

#[test]
fn debug_output_shows_no_secret() {
    let key = auth::test_key::generate();
    let configs = [
        config(GitHubAuth::Token("ghp_SECRET".to_owned())),
        config(GitHubAuth::App {
            app_id: "42".to_owned(),
            private_key_pem: key.pkcs1_pem.clone(),
            installation_id: Some(7),
        }),
    ];
    for config in configs {
        let shown = format!("{config:?}");
        assert!(!shown.contains("ghp_SECRET"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let client = GitHub::new(config).expect("client");
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("ghp_SECRET") && !shown.contains("PRIVATE"),
            "{shown}"
        );
    }
}

#[test]
fn urls_percent_encode_what_comes_from_input() {
    let client = GitHub::new(GitHubConfig {
        api_base_url: "https://ghe.example.com/api/v3/".to_owned(),
        ..config(GitHubAuth::Token("t".to_owned()))
    })
    .expect("client");
    let cases = [
        (
            vec!["collaborators", "octo cat/../x?y#z", "permission"],
            "https://ghe.example.com/api/v3/repos/octocat/Hello-World/collaborators/octo%20cat%2F..%2Fx%3Fy%23z/permission",
        ),
        (
            vec!["pulls", "1347"],
            "https://ghe.example.com/api/v3/repos/octocat/Hello-World/pulls/1347",
        ),
        (
            vec!["statuses", "6dcb09b5b57875f334f61aebed695e2e4193db5e"],
            "https://ghe.example.com/api/v3/repos/octocat/Hello-World/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e",
        ),
    ];
    for (segments, want) in cases {
        assert_eq!(client.repo_url(&segments).as_str(), want);
    }
    let mut query = client.repo_url(&["pulls"]);
    query
        .query_pairs_mut()
        .append_pair("state", "open")
        .append_pair("base", "release/2026 & more");
    assert_eq!(
        query.as_str(),
        "https://ghe.example.com/api/v3/repos/octocat/Hello-World/pulls?state=open&base=release%2F2026+%26+more"
    );
    assert_eq!(client.pull_ref(7), "refs/pull/7/head");
}
