//! The JSON of every object the local forge answers with, shaped by the schemas of GitHub's
//! description. Each starts from the description's own example (`templates.json`: the examples
//! of `github-examples.json`, with the invalid bits that github.md §8.16 lists fixed), with its
//! URLs moved to this server and its fields set from the state. Never reads or changes state.

use std::sync::LazyLock;

use base64::Engine;
use serde_json::{Value as Json, json};

use super::{CommentRec, Mergeable, Pull, Reaction, Repo, State, StatusRec};

static TEMPLATES: LazyLock<Json> =
    LazyLock::new(|| serde_json::from_str(include_str!("templates.json")).unwrap_or(Json::Null));

fn template(name: &str) -> Json {
    TEMPLATES.get(name).cloned().unwrap_or_else(|| json!({}))
}

/// `text` as it sits inside a JSON string.
fn json_text(text: &str) -> String {
    let quoted = Json::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The template with the example's URLs and names replaced (`from` -> `to`, in order).
fn substituted(value: &Json, pairs: &[(&str, String)]) -> Json {
    let mut text = value.to_string();
    for (from, to) in pairs {
        text = text.replace(from, &json_text(to));
    }
    serde_json::from_str(&text).unwrap_or_else(|_| value.clone())
}

/// The replacements that move an example to this server and to `full_name`.
fn urls(state: &State, full_name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("octocat/Hello-World", full_name.to_owned()),
        ("Codertocat/Hello-World", full_name.to_owned()),
        ("https://api.github.com", state.api()),
        ("https://uploads.github.com", state.root.clone()),
        ("https://github.com", state.root.clone()),
        (
            "git:github.com/",
            format!("{}/", state.root.replacen("http", "git", 1)),
        ),
        ("git@github.com:", format!("{}/", state.root)),
    ]
}

pub fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// A login as it sits in a URL path (`app[bot]` -> `app%5Bbot%5D`).
fn login_path(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

/// A stable id for a login the forge does not know as a user (an owner that is an
/// organisation, a fork's owner).
fn derived_id(login: &str) -> u64 {
    login.bytes().fold(1_469_598_103u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 1_000_000_000
}

/// `simple-user`.
pub fn user(state: &State, login: &str) -> Json {
    let (id, bot) = state
        .users
        .get(login)
        .map_or((derived_id(login), false), |u| (u.id, u.bot));
    let path = login_path(login);
    let mut u = template("simple_user");
    let api = state.api();
    let root = &state.root;
    let fields: [(&str, String); 13] = [
        ("avatar_url", format!("{root}/avatars/u/{id}")),
        ("url", format!("{api}/users/{path}")),
        (
            "html_url",
            match (bot, login.strip_suffix("[bot]")) {
                (true, Some(slug)) => format!("{root}/apps/{slug}"),
                _ => format!("{root}/{path}"),
            },
        ),
        ("followers_url", format!("{api}/users/{path}/followers")),
        (
            "following_url",
            format!("{api}/users/{path}/following{{/other_user}}"),
        ),
        ("gists_url", format!("{api}/users/{path}/gists{{/gist_id}}")),
        (
            "starred_url",
            format!("{api}/users/{path}/starred{{/owner}}{{/repo}}"),
        ),
        (
            "subscriptions_url",
            format!("{api}/users/{path}/subscriptions"),
        ),
        ("organizations_url", format!("{api}/users/{path}/orgs")),
        ("repos_url", format!("{api}/users/{path}/repos")),
        (
            "events_url",
            format!("{api}/users/{path}/events{{/privacy}}"),
        ),
        (
            "received_events_url",
            format!("{api}/users/{path}/received_events"),
        ),
        ("gravatar_id", String::new()),
    ];
    for (k, v) in fields {
        u[k] = json!(v);
    }
    u["login"] = json!(login);
    u["id"] = json!(id);
    u["node_id"] = json!(node_id(if bot { "Bot" } else { "User" }, id));
    u["type"] = json!(if bot { "Bot" } else { "User" });
    u["site_admin"] = json!(false);
    u
}

fn repo_fields(state: &State, repo: &Repo, owner: &str, mut r: Json, fork: bool) -> Json {
    let full_name = format!("{owner}/{}", repo.name);
    r = substituted(&r, &urls(state, &full_name));
    let id = if fork {
        derived_id(&full_name)
    } else {
        repo.id
    };
    r["id"] = json!(id);
    r["node_id"] = json!(node_id("Repository", id));
    r["name"] = json!(repo.name);
    r["full_name"] = json!(full_name);
    r["owner"] = user(state, owner);
    // Private, so that everything asks for credentials, as a private repository on GitHub does.
    r["private"] = json!(true);
    r["visibility"] = json!("private");
    r["fork"] = json!(fork);
    r["description"] = Json::Null;
    r["homepage"] = Json::Null;
    r["default_branch"] = json!(repo.default_branch);
    r["html_url"] = json!(format!("{}/{full_name}", state.root));
    r["clone_url"] = json!(format!("{}/{full_name}.git", state.root));
    r["created_at"] = json!(repo.created_at);
    r["updated_at"] = json!(repo.created_at);
    r["pushed_at"] = json!(repo.created_at);
    r["language"] = Json::Null;
    r["license"] = Json::Null;
    r["topics"] = json!([]);
    r["open_issues_count"] = json!(repo.pulls.values().filter(|p| p.open).count());
    // Rebase merges are refused here (the local forge merges and squashes only), as a
    // repository that disallows them.
    r["allow_rebase_merge"] = json!(false);
    r["allow_merge_commit"] = json!(true);
    r["allow_squash_merge"] = json!(true);
    if let Some(map) = r.as_object_mut() {
        map.remove("temp_clone_token");
    }
    r
}

/// `repository` (a pull request's `head.repo` and `base.repo`); `fork_owner` for a fork's.
pub fn repository(state: &State, repo: &Repo, fork_owner: Option<&str>) -> Json {
    let owner = fork_owner.unwrap_or(&repo.owner);
    repo_fields(
        state,
        repo,
        owner,
        template("repository"),
        fork_owner.is_some(),
    )
}

/// `full-repository` (`GET /repos/{owner}/{repo}`).
pub fn full_repository(state: &State, repo: &Repo) -> Json {
    let mut r = repo_fields(state, repo, &repo.owner, template("full_repository"), false);
    if let Some(map) = r.as_object_mut() {
        for k in ["parent", "source", "organization"] {
            map.remove(k);
        }
    }
    r["template_repository"] = Json::Null;
    r["network_count"] = json!(0);
    r["subscribers_count"] = json!(0);
    r
}

/// `repository-webhooks` (a delivery's `repository`).
pub fn webhook_repository(state: &State, repo: &Repo) -> Json {
    repo_fields(
        state,
        repo,
        &repo.owner,
        template("webhook_repository"),
        false,
    )
}

fn author_association(state: &State, repo: &Repo, login: &str) -> &'static str {
    match state.users.get(login) {
        _ if login == repo.owner => "OWNER",
        Some(u) if u.bot => "NONE",
        Some(u) if u.role > super::Role::None => "COLLABORATOR",
        _ => "NONE",
    }
}

/// `mergeable` and `mergeable_state` as the state says them now (reading them does not
/// compute them: [`super::server`] does, after the first read).
pub fn mergeability(pull: &Pull) -> (Json, String) {
    if pull.merged {
        return (Json::Null, "unknown".into());
    }
    match &pull.mergeable {
        Mergeable::Computed(None) => (Json::Null, "unknown".into()),
        Mergeable::Computed(Some((m, s))) => (json!(m), s.clone()),
        Mergeable::Set(m, s) => (json!(m), s.clone()),
    }
}

/// `pull-request` (`full`) or `pull-request-simple`.
pub fn pull(state: &State, repo: &Repo, pull: &Pull, full: bool) -> Json {
    let full_name = repo.full_name();
    let n = pull.number;
    let mut pairs = urls(state, &full_name);
    pairs.extend([
        ("pulls/1347", format!("pulls/{n}")),
        ("issues/1347", format!("issues/{n}")),
        ("pull/1347", format!("pull/{n}")),
        (
            "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            pull.head_sha.clone(),
        ),
    ]);
    let tmpl = template(if full {
        "pull_request"
    } else {
        "pull_request_simple"
    });
    let mut p = substituted(&tmpl, &pairs);
    p["id"] = json!(pull.id);
    p["node_id"] = json!(node_id("PullRequest", pull.id));
    p["number"] = json!(n);
    p["state"] = json!(if pull.open { "open" } else { "closed" });
    p["locked"] = json!(false);
    p["title"] = json!(pull.title);
    p["body"] = json!(pull.body);
    p["user"] = user(state, &pull.author);
    p["labels"] = json!([]);
    p["milestone"] = Json::Null;
    p["active_lock_reason"] = Json::Null;
    p["created_at"] = json!(pull.created_at);
    p["updated_at"] = json!(pull.updated_at);
    p["closed_at"] = json!(pull.closed_at);
    p["merged_at"] = json!(pull.merged_at);
    p["merge_commit_sha"] = json!(pull.merge_commit_sha);
    p["assignee"] = Json::Null;
    p["assignees"] = json!([]);
    p["requested_reviewers"] = json!([]);
    p["requested_teams"] = json!([]);
    p["author_association"] = json!(author_association(state, repo, &pull.author));
    p["auto_merge"] = Json::Null;
    p["draft"] = json!(pull.draft);
    let head_owner = pull.fork_owner.as_deref().unwrap_or(&repo.owner);
    p["head"] = json!({
        "label": format!("{head_owner}:{}", pull.head_ref),
        "ref": pull.head_ref,
        "sha": pull.head_sha,
        "user": user(state, head_owner),
        "repo": repository(state, repo, pull.fork_owner.as_deref()),
    });
    p["base"] = json!({
        "label": format!("{}:{}", repo.owner, pull.base_ref),
        "ref": pull.base_ref,
        "sha": pull.base_sha,
        "user": user(state, &repo.owner),
        "repo": repository(state, repo, None),
    });
    if full {
        let (mergeable, mergeable_state) = mergeability(pull);
        p["merged"] = json!(pull.merged);
        p["mergeable"] = mergeable;
        p["rebaseable"] = Json::Null;
        p["mergeable_state"] = json!(mergeable_state);
        p["merged_by"] = pull
            .merged_by
            .as_deref()
            .map_or(Json::Null, |login| user(state, login));
        p["comments"] = json!(repo.comments.values().filter(|c| c.number == n).count());
        p["review_comments"] = json!(0);
        p["maintainer_can_modify"] = json!(false);
        p["commits"] = json!(pull.commits);
        p["additions"] = json!(pull.additions);
        p["deletions"] = json!(pull.deletions);
        p["changed_files"] = json!(pull.changed_files);
    }
    p
}

/// `issue-comment`.
pub fn issue_comment(state: &State, repo: &Repo, c: &CommentRec) -> Json {
    let api = state.api();
    let full_name = repo.full_name();
    let bot = state.users.get(&c.author).is_some_and(|u| u.bot);
    let mut j = template("issue_comment");
    j["id"] = json!(c.id);
    j["node_id"] = json!(node_id("IssueComment", c.id));
    j["url"] = json!(format!("{api}/repos/{full_name}/issues/comments/{}", c.id));
    j["html_url"] = json!(format!(
        "{}/{full_name}/pull/{}#issuecomment-{}",
        state.root, c.number, c.id
    ));
    j["body"] = json!(c.body);
    j["user"] = user(state, &c.author);
    j["created_at"] = json!(c.created_at);
    j["updated_at"] = json!(c.updated_at);
    j["issue_url"] = json!(format!("{api}/repos/{full_name}/issues/{}", c.number));
    j["author_association"] = json!(author_association(state, repo, &c.author));
    j["performed_via_github_app"] = if bot { integration(state) } else { Json::Null };
    let count = |content: &str| c.reactions.iter().filter(|r| r.content == content).count();
    j["reactions"] = json!({
        "url": format!("{api}/repos/{full_name}/issues/comments/{}/reactions", c.id),
        "total_count": c.reactions.len(),
        "+1": count("+1"), "-1": count("-1"), "laugh": count("laugh"),
        "confused": count("confused"), "heart": count("heart"), "hooray": count("hooray"),
        "eyes": count("eyes"), "rocket": count("rocket"),
    });
    j
}

/// `reaction`.
pub fn reaction(state: &State, r: &Reaction) -> Json {
    json!({
        "id": r.id,
        "node_id": node_id("Reaction", r.id),
        "user": user(state, &r.user),
        "content": r.content,
        "created_at": r.created_at,
    })
}

/// `status` (`full`, the answer to a create) or `simple-commit-status`.
pub fn status(state: &State, repo: &Repo, s: &StatusRec, full: bool) -> Json {
    let mut j = json!({
        "url": format!("{}/repos/{}/statuses/{}", state.api(), repo.full_name(), s.sha),
        "avatar_url": format!("{}/avatars/u/{}", state.root, state.users.get(&s.creator).map_or(0, |u| u.id)),
        "id": s.id,
        "node_id": node_id("StatusContext", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": s.created_at,
        "updated_at": s.created_at,
    });
    if full {
        j["creator"] = user(state, &s.creator);
    }
    j
}

/// `combined-commit-status` of `sha`: the latest status of each context, `page` of them.
pub fn combined_status(
    state: &State,
    repo: &Repo,
    sha: &str,
    page: &[&StatusRec],
    total: usize,
    combined: &str,
) -> Json {
    let mut r = substituted(
        &template("combined_status")["repository"],
        &urls(state, &repo.full_name()),
    );
    r["id"] = json!(repo.id);
    r["node_id"] = json!(node_id("Repository", repo.id));
    r["name"] = json!(repo.name);
    r["full_name"] = json!(repo.full_name());
    r["owner"] = user(state, &repo.owner);
    r["html_url"] = json!(format!("{}/{}", state.root, repo.full_name()));
    json!({
        "state": combined,
        "statuses": page.iter().map(|s| status(state, repo, s, false)).collect::<Vec<_>>(),
        "sha": sha,
        "total_count": total,
        "repository": r,
        "commit_url": format!("{}/repos/{}/commits/{sha}", state.api(), repo.full_name()),
        "url": format!("{}/repos/{}/commits/{sha}/status", state.api(), repo.full_name()),
    })
}

/// The App's `permissions`.
pub fn app_permissions() -> Json {
    json!({
        "contents": "write",
        "issues": "write",
        "metadata": "read",
        "pull_requests": "write",
        "statuses": "write",
    })
}

/// `integration` (`GET /app`, a comment's `performed_via_github_app`).
pub fn integration(state: &State) -> Json {
    let Some(app) = &state.config.app else {
        return Json::Null;
    };
    let mut j = substituted(&template("integration"), &urls(state, ""));
    j["id"] = json!(app.id);
    j["slug"] = json!(app.slug);
    j["client_id"] = json!(app.client_id);
    j["node_id"] = json!(node_id("Integration", app.id));
    j["name"] = json!(app.slug);
    j["owner"] = user(
        state,
        state.repos.values().next().map_or("octocat", |r| &r.owner),
    );
    j["html_url"] = json!(format!("{}/apps/{}", state.root, app.slug));
    j["external_url"] = json!(state.root);
    j["permissions"] = app_permissions();
    j["events"] = json!(["issue_comment", "pull_request"]);
    j
}

/// `installation` (`GET /repos/{owner}/{repo}/installation`).
pub fn installation(state: &State, repo: &Repo) -> Json {
    let Some(app) = &state.config.app else {
        return Json::Null;
    };
    let mut j = substituted(&template("installation"), &urls(state, ""));
    let api = state.api();
    j["id"] = json!(app.installation_id);
    j["account"] = user(state, &repo.owner);
    j["repository_selection"] = json!("all");
    j["access_tokens_url"] = json!(format!(
        "{api}/app/installations/{}/access_tokens",
        app.installation_id
    ));
    j["repositories_url"] = json!(format!("{api}/installation/repositories"));
    j["html_url"] = json!(format!(
        "{}/settings/installations/{}",
        state.root, app.installation_id
    ));
    j["app_id"] = json!(app.id);
    j["client_id"] = json!(app.client_id);
    j["app_slug"] = json!(app.slug);
    j["target_id"] = json!(
        state
            .users
            .get(&repo.owner)
            .map_or(derived_id(&repo.owner), |u| u.id)
    );
    j["target_type"] = json!("User");
    j["permissions"] = app_permissions();
    j["events"] = json!(["issue_comment", "pull_request"]);
    j["single_file_name"] = Json::Null;
    j["suspended_by"] = Json::Null;
    j["suspended_at"] = Json::Null;
    j
}

/// A webhook's `issue`: the pull request as an issue, with `pull_request` links.
pub fn webhook_issue(state: &State, repo: &Repo, pull: &Pull) -> Json {
    let full_name = repo.full_name();
    let n = pull.number;
    let api = state.api();
    let mut pairs = urls(state, &full_name);
    pairs.push(("issues/1", format!("issues/{n}")));
    let mut j = substituted(&template("webhook_issue"), &pairs);
    j["id"] = json!(pull.id);
    j["node_id"] = json!(node_id("PullRequest", pull.id));
    j["number"] = json!(n);
    j["title"] = json!(pull.title);
    j["body"] = json!(pull.body);
    j["user"] = user(state, &pull.author);
    j["state"] = json!(if pull.open { "open" } else { "closed" });
    j["html_url"] = json!(format!("{}/{full_name}/pull/{n}", state.root));
    j["comments"] = json!(repo.comments.values().filter(|c| c.number == n).count());
    j["created_at"] = json!(pull.created_at);
    j["updated_at"] = json!(pull.updated_at);
    j["closed_at"] = json!(pull.closed_at);
    j["author_association"] = json!(author_association(state, repo, &pull.author));
    j["draft"] = json!(pull.draft);
    j["pull_request"] = json!({
        "url": format!("{api}/repos/{full_name}/pulls/{n}"),
        "html_url": format!("{}/{full_name}/pull/{n}", state.root),
        "diff_url": format!("{}/{full_name}/pull/{n}.diff", state.root),
        "patch_url": format!("{}/{full_name}/pull/{n}.patch", state.root),
        "merged_at": pull.merged_at,
    });
    j
}

/// `simple-installation`, present in every delivery to an App.
pub fn simple_installation(state: &State) -> Option<Json> {
    state.config.app.as_ref().map(|app| {
        json!({
            "id": app.installation_id,
            "node_id": node_id("IntegrationInstallation", app.installation_id),
        })
    })
}
