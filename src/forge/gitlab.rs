//! GitLab's REST API v4 (gitlab.com and self-hosted GitLab): merge requests, their notes, emoji
//! reactions on notes, commit statuses, project members and merges, behind [`Forge`].
//!
//! A thin client on [`crate::http`] (the `gitlab` crate was weighed and left out: see
//! [`GitLab`]). It owns GitLab's side of the mapping only: the `PRIVATE-TOKEN` header, the
//! URL-encoded project path as `:id`, pagination (`per_page=100`, then `Link: rel="next"` on
//! the base URL's own origin, else `x-next-page`), and GitLab's words turned into the trait's
//! types (`detailed_merge_status`, `access_level`, note times). It must never send the token to
//! another origin, put it in a URL, or show it in a message or a `Debug` output.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{
    Comment, CommentId, CommitStatus, Forge, ForgeError, ForgeKind, GitCredentials, Mergeability,
    Permission, PullRequest, PullState, Reaction, StatusState, User,
};
use crate::http::{Http, HttpConfig, Method, Request, Response};

/// gitlab.com's API.
pub const GITLAB_COM_API: &str = "https://gitlab.com/api/v4";

/// The page size asked for every listing (GitLab's largest).
const PER_PAGE: usize = 100;

/// The most pages one listing follows (100,000 items): a server whose pages never end is
/// noticed.
const MAX_PAGES: usize = 1_000;

/// The longest commit status `description` GitLab stores (commits.md: 255 characters).
pub const STATUS_DESCRIPTION_LIMIT: usize = 255;

/// The longest `target_url` GitLab stores (255 characters); a longer one is left out.
const STATUS_TARGET_URL_LIMIT: usize = 255;

/// Attempts at a commit status while GitLab answers 409 ("an update is already in progress for
/// this SHA": commits.md says to retry), and the first wait between them (doubled each time).
const STATUS_CONFLICT_ATTEMPTS: u32 = 4;
const STATUS_CONFLICT_BACKOFF: Duration = Duration::from_millis(250);

/// GitLab's access levels (`Gitlab::Access`, members.md).
const DEVELOPER: u64 = 30;
const MAINTAINER: u64 = 40;

/// How to reach one GitLab project.
#[derive(Clone)]
pub struct GitLabConfig {
    /// `https://gitlab.com/api/v4` or `https://HOST[/PREFIX]/api/v4`; a base without `/api/v4`
    /// has it added.
    pub api_base_url: String,
    /// The project's path with its namespace: `group/sub/project`.
    pub project: String,
    /// A personal, group or project access token (scope `api`).
    pub token: String,
    pub http: HttpConfig,
}

impl std::fmt::Debug for GitLabConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabConfig")
            .field("api_base_url", &crate::url::redacted(&self.api_base_url))
            .field("project", &self.project)
            .field("token", &"<redacted>")
            .field("http", &self.http)
            .finish()
    }
}

/// A client for one GitLab project.
///
/// Why not the `gitlab` crate (0.1905): it is about 84,000 lines and always brings `chrono`,
/// `derive_builder`, `backtrace`, `url`, `http-link` and a second `base64`; its default client
/// adds `graphql_client`, `cron`, `itertools`, `async-trait` and its own `reqwest` client
/// without our retry rules (its `AsyncClient` trait could wrap [`crate::http`], through
/// `async-trait`). gitsync calls a dozen endpoints, so a thin client on [`crate::http`] is less.
#[derive(Clone)]
pub struct GitLab {
    http: Http,
    /// `https://HOST[/PREFIX]/api/v4`, without a trailing `/`.
    base: String,
    base_url: Url,
    /// The project's path, as configured.
    project: String,
    /// `/projects/group%2Fsub%2Fproject`: the project's `:id`, URL-encoded.
    project_path: String,
    token: String,
}

impl std::fmt::Debug for GitLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLab")
            .field("base", &self.base)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl GitLab {
    /// Checks the configuration (nothing is sent): the base URL must be an `http(s)` URL
    /// without credentials, the project `namespace/project`, the token one line.
    pub fn new(config: GitLabConfig) -> Result<GitLab, ForgeError> {
        let problem = |problem: String| ForgeError::Config {
            forge: ForgeKind::GitLab,
            problem,
        };
        let base = normalize_base(&config.api_base_url).map_err(problem)?;
        let base_url = Url::parse(&base).map_err(|e| problem(format!("api base URL: {e}")))?;
        let project = config.project.trim().trim_matches('/').to_owned();
        let segments: Vec<&str> = project.split('/').collect();
        if segments.len() < 2 || segments.iter().any(|s| s.is_empty() || s.trim() != *s) {
            return Err(problem(format!(
                "project {:?} is not a path with its namespace (group/project or group/sub/project)",
                config.project
            )));
        }
        if config.token.is_empty() {
            return Err(problem("the token is empty".into()));
        }
        if config.token.chars().any(char::is_control) {
            return Err(problem(
                "the token holds a line break or another control character; check the Secret"
                    .into(),
            ));
        }
        let http = Http::new(config.http).map_err(|source| ForgeError::Http {
            forge: ForgeKind::GitLab,
            source,
        })?;
        Ok(GitLab {
            http,
            project_path: format!("/projects/{}", encode_component(&project)),
            project,
            base,
            base_url,
            token: config.token,
        })
    }

    /// The API base URL requests go to (`.../api/v4`).
    pub fn api_base_url(&self) -> &str {
        &self.base
    }

    /// The project's path with its namespace.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Where a request went, for messages: the URL's path (`/api/v4/projects/g%2Fp/...`, with
    /// a self-hosted GitLab's prefix), as the GitHub client shows its requests.
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.path().trim_end_matches('/'))
    }

    fn mr_path(&self, iid: u64) -> String {
        format!("{}/merge_requests/{iid}", self.project_path)
    }

    fn request(&self, method: Method, url: &str) -> Result<Request, ForgeError> {
        Request::new(method, url)
            .header("private-token", &self.token)
            .and_then(|r| r.header("accept", "application/json"))
            .map_err(|source| ForgeError::Http {
                forge: ForgeKind::GitLab,
                source,
            })
    }

    /// Sends one request to `path` (below the base URL) and returns GitLab's answer, whatever
    /// its status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Json>,
    ) -> Result<Response, ForgeError> {
        let url = with_query(&format!("{}{path}", self.base), query);
        let mut request = self.request(method, &url)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        self.http
            .send(&request)
            .await
            .map_err(|source| ForgeError::Http {
                forge: ForgeKind::GitLab,
                source,
            })
    }

    /// [`GitLab::send`], then a 2xx answer read as `T`; anything else is an error.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Json>,
    ) -> Result<T, ForgeError> {
        let response = self.send(method.clone(), path, query, body).await?;
        read(&method, &self.at(path), body.is_some(), &response)
    }

    /// Posts a commit status, again while GitLab answers 409 ("an update is already in
    /// progress for this SHA": commits.md says to retry; nothing was written), a few times.
    async fn post_status(&self, path: &str, body: &Json) -> Result<Response, ForgeError> {
        let mut wait = STATUS_CONFLICT_BACKOFF;
        let mut attempt = 1;
        loop {
            let response = self.send(Method::POST, path, &[], Some(body)).await?;
            if response.status != 409 || attempt >= STATUS_CONFLICT_ATTEMPTS {
                return Ok(response);
            }
            tracing::debug!(
                path,
                attempt,
                ?wait,
                "GitLab: commit status conflict, retrying"
            );
            tokio::time::sleep(wait).await;
            wait *= 2;
            attempt += 1;
        }
    }

    /// The open merge request whose head is `sha` (commits.md: "List merge requests
    /// associated with a commit"), if there is one.
    async fn open_merge_request_at(&self, sha: &str) -> Result<Option<u64>, ForgeError> {
        let path = format!(
            "{}/repository/commits/{sha}/merge_requests",
            self.project_path
        );
        let mrs: Vec<ApiMergeRequest> = self.list(&path, &[("state", "opened")]).await?;
        Ok(mrs
            .into_iter()
            .find(|mr| mr.sha.as_deref() == Some(sha))
            .map(|mr| mr.iid))
    }

    /// Every item of a listing, following GitLab's pages.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, ForgeError> {
        let per_page = PER_PAGE.to_string();
        let mut query = query.to_vec();
        query.push(("per_page", &per_page));
        let place = self.at(path);
        let first = with_query(&format!("{}{path}", self.base), &query);
        let mut url = first.clone();
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(url.clone()) {
                return Err(invalid(
                    &Method::GET,
                    &place,
                    format!("the pages loop: {url} came twice"),
                ));
            }
            let request = self.request(Method::GET, &url)?;
            let response = self
                .http
                .send(&request)
                .await
                .map_err(|source| ForgeError::Http {
                    forge: ForgeKind::GitLab,
                    source,
                })?;
            let page: Vec<T> = read(&Method::GET, &place, false, &response)?;
            items.extend(page);
            match next_page(&self.base_url, &first, &response) {
                Ok(Some(next)) => url = next,
                Ok(None) => return Ok(items),
                Err(problem) => return Err(invalid(&Method::GET, &place, problem)),
            }
        }
        Err(invalid(
            &Method::GET,
            &place,
            format!("more than {MAX_PAGES} pages of {PER_PAGE}; the listing does not end"),
        ))
    }
}

impl Forge for GitLab {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitLab
    }

    async fn identity(&self) -> Result<Option<String>, ForgeError> {
        let user: ApiUser = self.call(Method::GET, "/user", &[], None).await?;
        Ok(Some(user.username))
    }

    async fn pull(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let path = self.mr_path(number);
        let mr: ApiMergeRequest = self.call(Method::GET, &path, &[], None).await?;
        mr.into_pull()
            .map_err(|problem| invalid(&Method::GET, &self.at(&path), problem))
    }

    async fn open_pulls(&self, base_branch: &str) -> Result<Vec<PullRequest>, ForgeError> {
        let path = format!("{}/merge_requests", self.project_path);
        let mrs: Vec<ApiMergeRequest> = self
            .list(
                &path,
                &[("state", "opened"), ("target_branch", base_branch)],
            )
            .await?;
        mrs.into_iter()
            .map(|mr| {
                mr.into_pull()
                    .map_err(|problem| invalid(&Method::GET, &self.at(&path), problem))
            })
            .collect()
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError> {
        let path = format!("{}/notes", self.mr_path(number));
        let notes: Vec<ApiNote> = self
            .list(&path, &[("sort", "asc"), ("order_by", "created_at")])
            .await?;
        let mut comments = notes
            .into_iter()
            .map(|n| {
                n.into_comment()
                    .map_err(|problem| invalid(&Method::GET, &self.at(&path), problem))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Oldest first even if a server ignored `sort=asc`: notes come in id order.
        comments.sort_by_key(|c| c.id);
        Ok(comments)
    }

    async fn create_comment(&self, number: u64, body: &str) -> Result<Comment, ForgeError> {
        let path = format!("{}/notes", self.mr_path(number));
        let note: ApiNote = self
            .call(Method::POST, &path, &[], Some(&json!({ "body": body })))
            .await?;
        note.into_comment()
            .map_err(|problem| invalid(&Method::POST, &self.at(&path), problem))
    }

    async fn edit_comment(
        &self,
        number: u64,
        id: CommentId,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        let path = format!("{}/notes/{id}", self.mr_path(number));
        let note: ApiNote = self
            .call(Method::PUT, &path, &[], Some(&json!({ "body": body })))
            .await?;
        note.into_comment()
            .map_err(|problem| invalid(&Method::PUT, &self.at(&path), problem))
    }

    async fn react(
        &self,
        number: u64,
        id: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        let path = format!("{}/notes/{id}/award_emoji", self.mr_path(number));
        let body = json!({ "name": emoji_name(reaction) });
        let response = self.send(Method::POST, &path, &[], Some(&body)).await?;
        if already_awarded(&response) {
            return Ok(());
        }
        read::<Json>(&Method::POST, &self.at(&path), true, &response).map(|_| ())
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus<'_>) -> Result<(), ForgeError> {
        if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ForgeError::Config {
                forge: ForgeKind::GitLab,
                problem: format!("cannot set a commit status on {sha:?}: not a commit SHA"),
            });
        }
        let path = format!("{}/statuses/{sha}", self.project_path);
        let mut body = status_body(status);
        let mut response = self.post_status(&path, &body).await?;
        // GitLab hangs a status on a pipeline for a ref; without `ref` it takes the first
        // branch that holds the commit, and a fork's commit is on none of the project's
        // branches ("404 References for commit Not Found"). Then the ref is the merge
        // request's own, as GitLab's merge request pipelines have it.
        if response.status == 404
            && message_says(&response, "References for commit")
            && let Some(iid) = self.open_merge_request_at(sha).await?
        {
            body["ref"] = json!(self.pull_ref(iid));
            response = self.post_status(&path, &body).await?;
        }
        read::<Json>(&Method::POST, &self.at(&path), true, &response).map(|_| ())
    }

    async fn permission(&self, user: &User) -> Result<Permission, ForgeError> {
        let path = format!("{}/members/all/{}", self.project_path, user.id);
        let response = self.send(Method::GET, &path, &[], None).await?;
        // 404 "Not found": no member, not even through a group. A project GitLab cannot find
        // (or the token cannot see) is an error, not a stranger.
        if response.status == 404 && !message_says(&response, "Project Not Found") {
            return Ok(Permission::Read);
        }
        let member: ApiMember = read(&Method::GET, &self.at(&path), false, &response)?;
        Ok(permission_of(member.access_level))
    }

    async fn merge(&self, number: u64, head_sha: &str) -> Result<(), ForgeError> {
        let path = format!("{}/merge", self.mr_path(number));
        let merged: ApiMerged = self
            .call(Method::PUT, &path, &[], Some(&json!({ "sha": head_sha })))
            .await?;
        // GitLab answers 200 with the merge request even when the merge itself failed: then
        // it is still `opened` and `merge_error` says why.
        if merged.state == "merged" {
            return Ok(());
        }
        Err(ForgeError::Rejected {
            forge: ForgeKind::GitLab,
            method: Method::PUT.to_string(),
            path: self.at(&path),
            status: 200,
            message: format!(
                "the merge request is still {} after the merge: {}",
                merged.state,
                merged
                    .merge_error
                    .as_deref()
                    .map_or("GitLab gave no reason".to_owned(), |e| cut(e, 300))
            ),
        })
    }

    fn pull_ref(&self, number: u64) -> String {
        format!("refs/merge-requests/{number}/head")
    }

    async fn git_credentials(&self) -> Result<GitCredentials, ForgeError> {
        Ok(GitCredentials {
            username: "oauth2".into(),
            password: self.token.clone(),
        })
    }
}

/// `https://HOST[/PREFIX]/api/v4` from what a user wrote: trailing `/` dropped, `/api/v4`
/// added when missing. Refuses what is not an `http(s)` URL, and credentials in the URL.
fn normalize_base(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|e| {
        format!(
            "api base URL {:?} is not a URL ({e}); write https://gitlab.com/api/v4 or https://HOST/api/v4",
            crate::url::redacted(trimmed)
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "api base URL {} is not an http(s) URL; write https://gitlab.com/api/v4 or https://HOST/api/v4",
            crate::url::redacted(trimmed)
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "api base URL {} carries credentials; give the token as the token, not in the URL",
            crate::url::redacted(trimmed)
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Not quoted: a query may hold a token (`?private_token=...`).
        return Err(
            "the api base URL has a query or a fragment; write https://HOST/api/v4".to_owned(),
        );
    }
    Ok(if trimmed.ends_with("/api/v4") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/api/v4")
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a project path as `:id`
/// (`group/project` → `group%2Fproject`), a query value.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn with_query(url: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    format!("{url}?{}", pairs.join("&"))
}

/// A URL for a message: only its path (a query may hold a branch name, never a secret, but a
/// message needs no more).
fn redact_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

/// The next page of a listing: the `Link: rel="next"` URL when it is on the base URL's origin
/// (the token goes with it), else `x-next-page` applied to the first page's URL; `None` at the
/// end. A next link to another origin without an `x-next-page` is an error, not the end.
fn next_page(base: &Url, first: &str, response: &Response) -> Result<Option<String>, String> {
    let link = response.next_link();
    if let Some(link) = &link
        && Url::parse(link).is_ok_and(|u| same_origin(base, &u))
    {
        return Ok(Some(link.clone()));
    }
    if let Some(page) = response.header("x-next-page").map(str::trim)
        && !page.is_empty()
    {
        let page: u64 = page
            .parse()
            .map_err(|_| format!("x-next-page {page:?} is not a page number"))?;
        return Ok(Some(format!("{first}&page={page}")));
    }
    match link {
        Some(link) => Err(format!(
            "the next page is on another origin ({}); the token is only sent to {}",
            redact_query(&crate::url::redacted(&link)),
            base.origin().ascii_serialization()
        )),
        None => Ok(None),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A 2xx answer read as `T`; any other answer as the error it means. `sent_body` says whether
/// the request had a body (an answer to it may echo it, so its text is not quoted).
fn read<T: serde::de::DeserializeOwned>(
    method: &Method,
    path: &str,
    sent_body: bool,
    response: &Response,
) -> Result<T, ForgeError> {
    if response.is_success() {
        return response.json().map_err(|e| {
            invalid(
                method,
                path,
                format!("the body is not the JSON expected: {e}"),
            )
        });
    }
    Err(refusal(method, path, sent_body, response))
}

/// What a non-2xx answer means: 401/403 Unauthorized, 404 NotFound, anything else Rejected;
/// the message is GitLab's `message` or `error`.
fn refusal(method: &Method, path: &str, sent_body: bool, response: &Response) -> ForgeError {
    let message = error_message(response, sent_body);
    let (forge, method, path, status) = (
        ForgeKind::GitLab,
        method.to_string(),
        path.to_owned(),
        response.status,
    );
    match status {
        401 | 403 => ForgeError::Unauthorized {
            forge,
            method,
            path,
            status,
            message,
        },
        404 => ForgeError::NotFound {
            forge,
            method,
            path,
            status,
            message,
        },
        _ => ForgeError::Rejected {
            forge,
            method,
            path,
            status,
            message,
        },
    }
}

/// GitLab's own words for a refusal: `message` (a string, or an object of field errors) or
/// `error`; else the body's text (withheld for an answer to a request with a body); for a
/// redirect, where it points.
fn error_message(response: &Response, sent_body: bool) -> String {
    if (300..400).contains(&response.status) {
        let to = response.header("location").unwrap_or("nowhere");
        return format!(
            "redirected to {}; set the API base URL to where GitLab is",
            redact_query(&crate::url::redacted(to))
        );
    }
    let field = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    };
    if let Ok(body) = response.json::<Json>()
        && let Some(text) = body
            .get("message")
            .and_then(field)
            .or_else(|| body.get("error").and_then(field))
    {
        return cut(&text, 300);
    }
    if sent_body {
        format!("{} bytes withheld", response.body.len())
    } else {
        response.excerpt()
    }
}

fn invalid(method: &Method, path: &str, problem: String) -> ForgeError {
    ForgeError::InvalidResponse {
        forge: ForgeKind::GitLab,
        method: method.to_string(),
        path: path.to_owned(),
        problem,
    }
}

/// `text` cut to at most `max` characters, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// Whether GitLab's `message` in an answer holds `text`.
fn message_says(response: &Response, text: &str) -> bool {
    response
        .json::<Json>()
        .ok()
        .and_then(|b| b.get("message").map(Json::to_string))
        .is_some_and(|m| m.contains(text))
}

/// The answer to an emoji GitLab already has from this user on this note: 404 (or 422 on
/// some versions) with "has already been taken" (`API::AwardEmoji`: `not_found!("Award Emoji
/// Name has already been taken")`).
fn already_awarded(response: &Response) -> bool {
    matches!(response.status, 404 | 422) && message_says(response, "has already been taken")
}

/// GitLab's emoji names (without colons).
pub fn emoji_name(reaction: Reaction) -> &'static str {
    match reaction {
        Reaction::Eyes => "eyes",
        Reaction::ThumbsUp => "thumbsup",
        Reaction::Confused => "confused",
    }
}

/// GitLab's commit status states.
pub fn status_state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure => "failed",
    }
}

fn status_body(status: &CommitStatus<'_>) -> Json {
    let mut body = json!({
        "state": status_state(status.state),
        "name": status.context,
        "description": cut(status.description, STATUS_DESCRIPTION_LIMIT),
    });
    match status.target_url {
        Some(url) if url.chars().count() <= STATUS_TARGET_URL_LIMIT => {
            body["target_url"] = json!(url);
        }
        Some(url) => tracing::warn!(
            chars = url.chars().count(),
            "GitLab: the commit status link is longer than GitLab stores (255); left out"
        ),
        None => {}
    }
    body
}

/// `access_level` → what the user may do: Maintainer (40) and Owner (50) administer,
/// Developer (30) pushes, anything lower reads.
pub fn permission_of(access_level: u64) -> Permission {
    match access_level {
        l if l >= MAINTAINER => Permission::Admin,
        l if l >= DEVELOPER => Permission::Write,
        _ => Permission::Read,
    }
}

/// `state` → [`PullState`]: `opened`, `merged`, and `closed` or `locked` (a locked merge
/// request is closed to changes).
pub fn pull_state(state: &str) -> Option<PullState> {
    match state {
        "opened" => Some(PullState::Open),
        "merged" => Some(PullState::Merged),
        "closed" | "locked" => Some(PullState::Closed),
        _ => None,
    }
}

/// `detailed_merge_status` (merge_requests.md, "Merge status") → [`Mergeability`]: only
/// `mergeable` merges now; `unchecked`, `checking`, `preparing` and `approvals_syncing` are
/// still being computed; every other value blocks, with GitLab's word as the reason. Without
/// it (GitLab before 15.6), the deprecated `merge_status`.
pub fn mergeability(detailed: Option<&str>, merge_status: Option<&str>) -> Mergeability {
    match (detailed, merge_status) {
        (Some("mergeable"), _) => Mergeability::Mergeable,
        (Some("unchecked" | "checking" | "preparing" | "approvals_syncing"), _) => {
            Mergeability::Computing
        }
        (Some(other), _) => Mergeability::Blocked {
            reason: other.to_owned(),
        },
        (None, Some("can_be_merged")) => Mergeability::Mergeable,
        (None, Some("unchecked" | "checking" | "cannot_be_merged_recheck")) | (None, None) => {
            Mergeability::Computing
        }
        (None, Some(other)) => Mergeability::Blocked {
            reason: other.to_owned(),
        },
    }
}

/// Whether a note was edited: `updated_at` later than `created_at` (ISO 8601 with
/// milliseconds and a zone, as GitLab writes them: `2016-06-08T21:20:42.470Z`,
/// `2016-06-08T23:20:42.470+02:00`).
pub fn edited(created_at: &str, updated_at: &str) -> Result<bool, String> {
    let parse = |what: &str, text: &str| {
        text.parse::<jiff::Timestamp>()
            .map_err(|e| format!("the note's {what} {text:?} is not a time: {e}"))
    };
    Ok(parse("updated_at", updated_at)? > parse("created_at", created_at)?)
}

/// The project path (`group/sub/project`) of a GitLab repository URL: `https://HOST/PATH[.git]`
/// (a page below it, `/-/...`, is cut off), `ssh://git@HOST[:PORT]/PATH.git`, or scp-like
/// `git@HOST:PATH.git`. `None` for anything else, or a path without a namespace. (A GitLab
/// installed under a relative URL, `https://HOST/gitlab/...`, cannot be told from a group: give
/// the project explicitly there.)
pub fn parse_project_url(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "https" | "http" | "ssh" | "git+ssh" | "ssh+git"
        ) {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        if host.is_empty() {
            return None;
        }
        path
    } else {
        // scp-like: `[user@]host:path`, where the host has no `/`.
        let (host, path) = url.split_once(':')?;
        let host = host.rsplit('@').next()?;
        if host.is_empty() || host.contains('/') || path.starts_with("//") {
            return None;
        }
        path
    };
    let path = path.split(['?', '#']).next()?;
    let path = path.split("/-/").next()?;
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let valid = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
    };
    (segments.len() >= 2 && segments.iter().all(valid)).then(|| segments.join("/"))
}

#[derive(Debug, Deserialize)]
struct ApiUser {
    id: u64,
    username: String,
}

impl From<ApiUser> for User {
    fn from(u: ApiUser) -> User {
        User {
            login: u.username,
            id: u.id,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ApiMerged {
    state: String,
    merge_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiMember {
    access_level: u64,
}

#[derive(Debug, Deserialize)]
struct ApiMergeRequest {
    iid: u64,
    title: String,
    state: String,
    #[serde(default)]
    draft: bool,
    author: ApiUser,
    sha: Option<String>,
    source_branch: String,
    target_branch: String,
    source_project_id: u64,
    target_project_id: u64,
    detailed_merge_status: Option<String>,
    merge_status: Option<String>,
    web_url: String,
}

impl ApiMergeRequest {
    fn into_pull(self) -> Result<PullRequest, String> {
        let iid = self.iid;
        let state = pull_state(&self.state)
            .ok_or_else(|| format!("merge request !{iid} has an unknown state {:?}", self.state))?;
        let head_sha = self
            .sha
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("merge request !{iid} has no head commit (`sha`)"))?;
        Ok(PullRequest {
            number: iid,
            title: self.title,
            state,
            draft: self.draft,
            author: self.author.into(),
            head_sha,
            head_branch: self.source_branch,
            base_branch: self.target_branch,
            from_fork: self.source_project_id != self.target_project_id,
            mergeability: mergeability(
                self.detailed_merge_status.as_deref(),
                self.merge_status.as_deref(),
            ),
            web_url: self.web_url,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ApiNote {
    id: u64,
    body: String,
    author: ApiUser,
    created_at: String,
    updated_at: Option<String>,
    #[serde(default)]
    system: bool,
}

impl ApiNote {
    fn into_comment(self) -> Result<Comment, String> {
        let edited = match &self.updated_at {
            Some(updated) => edited(&self.created_at, updated)
                .map_err(|problem| format!("note {}: {problem}", self.id))?,
            None => false,
        };
        Ok(Comment {
            id: CommentId(self.id),
            author: self.author.into(),
            body: self.body,
            created_at: self.created_at,
            edited,
            system: self.system,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_read_from_every_url_form() {
        let cases = [
            (
                "https://gitlab.com/group/project.git",
                Some("group/project"),
            ),
            ("https://gitlab.com/group/project", Some("group/project")),
            ("https://gitlab.com/group/project/", Some("group/project")),
            (
                "https://gitlab.com/group/sub/project.git",
                Some("group/sub/project"),
            ),
            ("https://gitlab.com/a/b/c/d", Some("a/b/c/d")),
            (
                "https://oauth2:glpat-x@gitlab.example.com/group/project.git",
                Some("group/project"),
            ),
            (
                "https://gitlab.example.com:8443/group/project.git",
                Some("group/project"),
            ),
            (
                "https://gitlab.com/group/project/-/merge_requests/3",
                Some("group/project"),
            ),
            (
                "https://gitlab.com/group/sub/project/-/tree/main?x=1",
                Some("group/sub/project"),
            ),
            (
                "http://gitlab.internal/group/project",
                Some("group/project"),
            ),
            (
                "ssh://git@gitlab.com/group/sub/project.git",
                Some("group/sub/project"),
            ),
            (
                "ssh://git@gitlab.example.com:2222/group/project.git",
                Some("group/project"),
            ),
            (
                "git@gitlab.com:group/sub/project.git",
                Some("group/sub/project"),
            ),
            ("git@gitlab.com:group/project", Some("group/project")),
            (
                "gitlab.com:my.group/my-project_1.git",
                Some("my.group/my-project_1"),
            ),
            (
                "  https://gitlab.com/group/project.git\n",
                Some("group/project"),
            ),
            // No namespace, no path, not a repository URL.
            ("https://gitlab.com/project.git", None),
            ("https://gitlab.com/", None),
            ("https://gitlab.com", None),
            ("git@gitlab.com:project.git", None),
            ("file:///srv/git/group/project.git", None),
            ("/srv/git/group/project.git", None),
            ("group/project", None),
            ("https://gitlab.com/group//project", None),
            ("https://gitlab.com/group/../project", None),
            ("https://gitlab.com/group/pro ject", None),
            ("", None),
        ];
        for (url, want) in cases {
            assert_eq!(parse_project_url(url).as_deref(), want, "{url:?}");
        }
    }

    #[test]
    fn detailed_merge_status_maps_to_mergeability() {
        let blocked = |r: &str| Mergeability::Blocked { reason: r.into() };
        let cases = [
            (Some("mergeable"), None, Mergeability::Mergeable),
            (
                Some("mergeable"),
                Some("cannot_be_merged"),
                Mergeability::Mergeable,
            ),
            (Some("unchecked"), None, Mergeability::Computing),
            (
                Some("checking"),
                Some("can_be_merged"),
                Mergeability::Computing,
            ),
            (Some("preparing"), None, Mergeability::Computing),
            (Some("approvals_syncing"), None, Mergeability::Computing),
            (
                Some("need_rebase"),
                Some("can_be_merged"),
                blocked("need_rebase"),
            ),
            (Some("conflict"), None, blocked("conflict")),
            (Some("not_approved"), None, blocked("not_approved")),
            (Some("ci_must_pass"), None, blocked("ci_must_pass")),
            (Some("draft_status"), None, blocked("draft_status")),
            (Some("not_open"), None, blocked("not_open")),
            (
                Some("some_future_value"),
                None,
                blocked("some_future_value"),
            ),
            // GitLab before 15.6: only `merge_status`.
            (None, Some("can_be_merged"), Mergeability::Mergeable),
            (None, Some("unchecked"), Mergeability::Computing),
            (None, Some("checking"), Mergeability::Computing),
            (None, Some("cannot_be_merged"), blocked("cannot_be_merged")),
            (None, None, Mergeability::Computing),
        ];
        for (detailed, legacy, want) in cases {
            assert_eq!(
                mergeability(detailed, legacy),
                want,
                "{detailed:?} {legacy:?}"
            );
        }
    }

    #[test]
    fn states_access_levels_emoji_and_status_states_map() {
        for (state, want) in [
            ("opened", Some(PullState::Open)),
            ("merged", Some(PullState::Merged)),
            ("closed", Some(PullState::Closed)),
            ("locked", Some(PullState::Closed)),
            ("open", None),
            ("", None),
        ] {
            assert_eq!(pull_state(state), want, "{state:?}");
        }
        for (level, want) in [
            (0, Permission::Read),
            (5, Permission::Read),
            (10, Permission::Read),
            (15, Permission::Read),
            (20, Permission::Read),
            (25, Permission::Read),
            (30, Permission::Write),
            (40, Permission::Admin),
            (50, Permission::Admin),
            (60, Permission::Admin),
        ] {
            assert_eq!(permission_of(level), want, "{level}");
        }
        assert_eq!(
            [Reaction::Eyes, Reaction::ThumbsUp, Reaction::Confused].map(emoji_name),
            ["eyes", "thumbsup", "confused"]
        );
        assert_eq!(
            [
                StatusState::Pending,
                StatusState::Success,
                StatusState::Failure
            ]
            .map(status_state),
            ["pending", "success", "failed"]
        );
    }

    #[test]
    fn a_note_is_edited_when_updated_after_it_was_created() {
        let cases = [
            (
                "2016-06-08T21:20:42.470Z",
                "2016-06-08T21:20:42.470Z",
                Ok(false),
            ),
            (
                "2016-06-08T21:20:42.470Z",
                "2016-06-08T21:20:42.471Z",
                Ok(true),
            ),
            ("2016-06-08T21:20:42Z", "2016-06-08T21:20:43Z", Ok(true)),
            // The same instant in two zones is not an edit; a later one in another zone is.
            (
                "2016-06-08T21:20:42.470Z",
                "2016-06-08T23:20:42.470+02:00",
                Ok(false),
            ),
            (
                "2016-06-08T21:20:42.470Z",
                "2016-06-08T23:20:43.000+02:00",
                Ok(true),
            ),
            (
                "2016-06-08T23:20:42.470+02:00",
                "2016-06-08T21:20:42.470Z",
                Ok(false),
            ),
            (
                "2016-06-08T21:20:42.470Z",
                "2016-06-08T20:00:00.000Z",
                Ok(false),
            ),
        ];
        for (created, updated, want) in cases {
            assert_eq!(edited(created, updated), want, "{created} {updated}");
        }
        let bad = edited("2016-06-08T21:20:42.470Z", "yesterday");
        assert!(
            bad.as_ref()
                .is_err_and(|e| e.contains("updated_at") && e.contains("yesterday")),
            "{bad:?}"
        );
    }

    #[test]
    fn base_urls_are_normalized_and_bad_ones_refused() {
        let cases = [
            ("https://gitlab.com/api/v4", Ok("https://gitlab.com/api/v4")),
            (
                "https://gitlab.com/api/v4/",
                Ok("https://gitlab.com/api/v4"),
            ),
            ("https://gitlab.com", Ok("https://gitlab.com/api/v4")),
            ("https://gitlab.com/", Ok("https://gitlab.com/api/v4")),
            (
                "https://h.example/gitlab",
                Ok("https://h.example/gitlab/api/v4"),
            ),
            (
                "http://127.0.0.1:8080/gitlab/api/v4",
                Ok("http://127.0.0.1:8080/gitlab/api/v4"),
            ),
            ("gitlab.com", Err("not a URL")),
            ("ftp://gitlab.com/api/v4", Err("not an http(s) URL")),
            (
                "https://user:secret@gitlab.com/api/v4",
                Err("carries credentials"),
            ),
            (
                "https://gitlab.com/api/v4?private_token=secret",
                Err("query"),
            ),
        ];
        for (raw, want) in cases {
            let got = normalize_base(raw);
            match (&got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{raw}"),
                (Err(e), Err(w)) => {
                    assert!(e.contains(w), "{raw}: {e}");
                    assert!(!e.contains("secret"), "{raw}: {e}");
                }
                _ => panic!("{raw}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn project_paths_are_encoded_as_one_segment() {
        let cases = [
            ("group/project", "group%2Fproject"),
            ("group/sub/project", "group%2Fsub%2Fproject"),
            ("my.group/my-project_1~x", "my.group%2Fmy-project_1~x"),
            ("a b/c+d", "a%20b%2Fc%2Bd"),
            ("grüppe/p", "gr%C3%BCppe%2Fp"),
        ];
        for (path, want) in cases {
            assert_eq!(encode_component(path), want, "{path}");
        }
    }

    #[test]
    fn status_descriptions_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        let body = status_body(&CommitStatus {
            context: "gitsync/plan",
            state: StatusState::Failure,
            description: &long,
            target_url: Some("https://gitlab.com/g/p/-/merge_requests/1#note_1"),
        });
        assert_eq!(body["state"], "failed");
        assert_eq!(body["name"], "gitsync/plan");
        assert_eq!(
            body["description"].as_str().map(|d| d.chars().count()),
            Some(255)
        );
        assert!(body.get("target_url").is_some());
        let too_long = format!("https://h/{}", "x".repeat(300));
        let body = status_body(&CommitStatus {
            context: "c",
            state: StatusState::Pending,
            description: "short",
            target_url: Some(&too_long),
        });
        assert_eq!(body["description"], "short");
        assert!(body.get("target_url").is_none(), "{body}");
    }

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(v) {
                map.insert(*k, v);
            }
        }
        Response {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_next_page_stays_on_the_base_origin() {
        let base =
            Url::parse("https://gitlab.example.com/api/v4").unwrap_or_else(|e| panic!("{e}"));
        let first =
            "https://gitlab.example.com/api/v4/projects/g%2Fp/merge_requests/1/notes?per_page=100";
        let next = "https://gitlab.example.com/api/v4/projects/g%2Fp/merge_requests/1/notes?page=2&per_page=100";
        let link = format!("<{next}>; rel=\"next\"");
        let evil = "<https://evil.example/api/v4/x?page=2>; rel=\"next\"";
        type Case<'a> = (
            &'a [(&'static str, &'a str)],
            Result<Option<String>, &'a str>,
        );
        let cases: [Case; 6] = [
            (&[("link", &link)], Ok(Some(next.to_owned()))),
            (&[("x-next-page", "3")], Ok(Some(format!("{first}&page=3")))),
            (&[("x-next-page", "")], Ok(None)),
            (&[], Ok(None)),
            (
                &[("link", evil), ("x-next-page", "2")],
                Ok(Some(format!("{first}&page=2"))),
            ),
            (&[("link", evil)], Err("another origin")),
        ];
        for (headers, want) in cases {
            let got = next_page(&base, first, &response(200, headers, "[]"));
            match (&got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, &w, "{headers:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                _ => panic!("{headers:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn refusals_carry_gitlabs_message_and_the_right_kind() {
        let cases = [
            (
                401,
                r#"{"message":"401 Unauthorized"}"#,
                "ForgeUnauthorized",
                "401 Unauthorized",
            ),
            (
                403,
                r#"{"message":"403 Forbidden"}"#,
                "ForgeUnauthorized",
                "403 Forbidden",
            ),
            (
                404,
                r#"{"message":"404 Project Not Found"}"#,
                "ForgeNotFound",
                "Project Not Found",
            ),
            (
                409,
                r#"{"message":"SHA does not match HEAD of source branch"}"#,
                "ForgeRejected",
                "SHA does not match",
            ),
            (
                405,
                r#"{"message":"405 Method Not Allowed"}"#,
                "ForgeRejected",
                "405",
            ),
            (
                400,
                r#"{"error":"body is missing"}"#,
                "ForgeRejected",
                "body is missing",
            ),
            (
                400,
                r#"{"message":{"body":["is too long"]}}"#,
                "ForgeRejected",
                "is too long",
            ),
            (422, "not json", "ForgeRejected", "not json"),
        ];
        for (status, body, reason, says) in cases {
            let e = refusal(
                &Method::GET,
                "/projects/g%2Fp",
                false,
                &response(status, &[], body),
            );
            assert_eq!(e.reason(), reason, "{status} {body}");
            assert_eq!(e.status(), Some(status));
            assert!(e.to_string().contains(says), "{e}");
        }
        let withheld = refusal(
            &Method::POST,
            "/x",
            true,
            &response(422, &[], "echo: secret"),
        );
        assert!(!withheld.to_string().contains("secret"), "{withheld}");
        let moved = refusal(
            &Method::GET,
            "/user",
            false,
            &response(
                301,
                &[("location", "https://gitlab.example.com/api/v4/user")],
                "",
            ),
        );
        assert!(
            moved
                .to_string()
                .contains("redirected to https://gitlab.example.com"),
            "{moved}"
        );
    }

    #[test]
    fn an_emoji_already_there_is_recognized() {
        let taken = r#"{"message":"404 Award Emoji Name has already been taken Not Found"}"#;
        assert!(already_awarded(&response(404, &[], taken)));
        assert!(!already_awarded(&response(
            404,
            &[],
            r#"{"message":"404 Note Not Found"}"#
        )));
        assert!(!already_awarded(&response(201, &[], taken)));
    }

    #[test]
    fn the_configuration_is_checked_and_never_shows_the_token() {
        let config = |base: &str, project: &str, token: &str| GitLabConfig {
            api_base_url: base.into(),
            project: project.into(),
            token: token.into(),
            http: HttpConfig::default(),
        };
        let ok = GitLab::new(config("https://gitlab.com", "g/sub/p", "glpat-SECRET"));
        let ok = ok.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.api_base_url(), "https://gitlab.com/api/v4");
        assert_eq!(ok.project_path, "/projects/g%2Fsub%2Fp");
        assert_eq!(ok.pull_ref(7), "refs/merge-requests/7/head");
        for shown in [
            format!("{ok:?}"),
            format!("{:?}", config("https://gitlab.com", "g/p", "glpat-SECRET")),
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        let refused = [
            config("https://gitlab.com", "project", "t"),
            config("https://gitlab.com", "g//p", "t"),
            config("https://gitlab.com", "g/p", ""),
            config("https://gitlab.com", "g/p", "glpat-SECRET\n"),
            config("not a url", "g/p", "t"),
        ];
        for c in refused {
            match GitLab::new(c.clone()) {
                Err(e @ ForgeError::Config { .. }) => {
                    assert!(!e.to_string().contains("SECRET"), "{e}")
                }
                other => panic!("{c:?} was not refused: {other:?}"),
            }
        }
    }
}
