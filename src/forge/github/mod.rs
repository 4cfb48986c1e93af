//! The GitHub client: github.com and GitHub Enterprise Server (`https://HOST/api/v3`), with a
//! token or a GitHub App, written against GitHub's published REST description (version
//! `2022-11-28`) for the few operations the pull-request workflow needs.
//!
//! It owns GitHub's side of [`Forge`]: the paths and bodies of those operations, the headers
//! GitHub asks for, `Link` pagination, reading GitHub's objects into the forge types, the App's
//! JWT and installation tokens (the `auth` submodule) and turning GitHub's refusals into
//! [`ForgeError`]s.
//! Every request goes through [`crate::http`], so the retry, rate-limit and no-blind-`POST`
//! rules are the ones every external API gets; this module adds only the one retry that is
//! GitHub's own: a 401 with an App renews the installation token and sends the call once more.
//!
//! It must never: show a token, JWT or private key (in an error, a log line or `Debug`); send
//! the credentials to another origin than the configured API (a `Link` to another host is
//! refused, redirects are never followed); decide anything about plans, commands or who may
//! apply (it fetches and posts what it is given); or check an installation token's length or
//! shape (GitHub's `ghs_APPID_JWT` tokens are long and may change again).
//!
//! Why not octocrab: it brings its own hyper/tower stack with its own retry policy (which
//! repeats a `POST` answered 5xx), where gitsync keeps one transport for every external API.

mod auth;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use self::auth::{AppKey, InstallationToken};
use super::{
    Comment, CommentId, CommitStatus, Forge, ForgeError, ForgeKind, GitCredentials, Mergeability,
    Permission, PullRequest, PullState, Reaction, StatusState, User,
};
use crate::http::{Http, HttpConfig, Method, Request, Response};

/// github.com's API.
pub const DEFAULT_API_BASE_URL: &str = "https://api.github.com";
/// The REST API version the client is written against (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";
/// The most characters a commit status's description may hold.
pub const STATUS_DESCRIPTION_LIMIT: usize = 140;
/// The most pages one listing follows by default (100 items a page): far more than a pull
/// request has comments, few enough that a server whose `next` links never end is noticed.
pub const DEFAULT_MAX_PAGES: usize = 1000;

const FORGE: ForgeKind = ForgeKind::GitHub;
const MEDIA_TYPE: &str = "application/vnd.github+json";
const PER_PAGE: &str = "100";
/// Git's user name for a token over HTTPS (GitHub: "any non-empty user name"; this is the one
/// GitHub documents for installation tokens).
const GIT_USERNAME: &str = "x-access-token";

/// How to reach one repository on GitHub.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// `https://api.github.com`, or GitHub Enterprise Server's `https://HOST/api/v3`.
    pub api_base_url: String,
    pub owner: String,
    pub repo: String,
    pub auth: GitHubAuth,
    pub http: HttpConfig,
}

/// GitHub credentials. `Debug` shows no secret.
#[derive(Clone)]
pub enum GitHubAuth {
    /// A personal access token, fine-grained token or any other bearer token, used as it is.
    Token(String),
    /// A GitHub App: JWTs signed with its private key buy installation tokens.
    App {
        /// The JWT's `iss`: the App's id or its client id.
        app_id: String,
        /// The App's RSA private key, PEM (PKCS#1 as GitHub generates it, or PKCS#8).
        private_key_pem: String,
        /// The installation on the repository's owner; found with
        /// `GET /repos/{owner}/{repo}/installation` when `None`.
        installation_id: Option<u64>,
    },
}

impl std::fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubAuth::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
            GitHubAuth::App {
                app_id,
                installation_id,
                ..
            } => f
                .debug_struct("App")
                .field("app_id", app_id)
                .field("private_key_pem", &"<redacted>")
                .field("installation_id", installation_id)
                .finish(),
        }
    }
}

/// A client for one GitHub repository. Cheap to clone: clones share the installation token.
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
    max_pages: usize,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_base_url", &self.inner.base.as_str())
            .field("owner", &self.inner.owner)
            .field("repo", &self.inner.repo)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// The API's base, always able to take path segments.
    base: Url,
    owner: String,
    repo: String,
    http: Http,
    credentials: Credentials,
}

enum Credentials {
    Token(String),
    App {
        key: AppKey,
        /// The configured installation, the one found, and its current token. One lock, held
        /// while a token is bought, so that concurrent calls buy one token, not one each.
        state: tokio::sync::Mutex<AppState>,
    },
}

struct AppState {
    /// The installation the configuration names, if it does.
    configured_installation: Option<u64>,
    /// The installation in use: the configured one, or the one found.
    installation_id: Option<u64>,
    token: Option<InstallationToken>,
}

impl GitHub {
    /// Checks the configuration; nothing is sent. Fails with [`ForgeError::Config`] on a base
    /// URL that is not an HTTP(S) URL, an empty owner or repository, a token that cannot be an
    /// HTTP header, or an App private key that cannot sign (naming the Secret key
    /// `githubAppPrivateKey`, never the value).
    pub fn new(config: GitHubConfig) -> Result<GitHub, ForgeError> {
        let base = api_base(&config.api_base_url)?;
        for (what, value) in [("owner", &config.owner), ("repository", &config.repo)] {
            if value.is_empty() || value.contains('/') {
                return Err(ForgeError::Config {
                    forge: FORGE,
                    problem: format!(
                        "the repository {what} {value:?} is not a GitHub {what} name (owner/repo from the repository URL)"
                    ),
                });
            }
        }
        let credentials = match config.auth {
            GitHubAuth::Token(token) => {
                // A Secret written from a file often ends with a line break; no token has
                // white space.
                let token = token.trim();
                if token.is_empty() {
                    return Err(ForgeError::Config {
                        forge: FORGE,
                        problem: "the GitHub token is empty".to_owned(),
                    });
                }
                if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                    return Err(ForgeError::Config {
                        forge: FORGE,
                        problem: "the GitHub token cannot be sent in an HTTP header: it holds a line break or another control character; check that the Secret holds the token alone, on one line".to_owned(),
                    });
                }
                Credentials::Token(token.to_owned())
            }
            GitHubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => Credentials::App {
                key: AppKey::new(&app_id, &private_key_pem)?,
                state: tokio::sync::Mutex::new(AppState {
                    configured_installation: installation_id,
                    installation_id,
                    token: None,
                }),
            },
        };
        let http = Http::new(config.http).map_err(|e| ForgeError::Config {
            forge: FORGE,
            problem: e.to_string(),
        })?;
        Ok(GitHub {
            inner: Arc::new(Inner {
                base,
                owner: config.owner,
                repo: config.repo,
                http,
                credentials,
            }),
            max_pages: DEFAULT_MAX_PAGES,
        })
    }

    /// The same client, following at most `max_pages` pages per listing (at least 1).
    pub fn with_max_pages(mut self, max_pages: usize) -> GitHub {
        self.max_pages = max_pages.max(1);
        self
    }

    /// `owner/repo`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.inner.owner, self.inner.repo)
    }

    /// The API's URL for `segments` under the base, each percent-encoded as one path segment.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        // `api_base` made sure the base can take path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The URL for `segments` under `/repos/{owner}/{repo}`.
    fn repo_url(&self, segments: &[&str]) -> Url {
        let mut all = vec!["repos", self.inner.owner.as_str(), self.inner.repo.as_str()];
        all.extend_from_slice(segments);
        self.url(&all)
    }

    /// A bearer for the repository's endpoints: the token, or the App's installation token,
    /// renewed when it is near its end or when it is `stale` (GitHub refused it).
    async fn bearer(&self, stale: Option<&str>) -> Result<String, ForgeError> {
        let (key, state) = match &self.inner.credentials {
            Credentials::Token(token) => return Ok(token.clone()),
            Credentials::App { key, state } => (key, state),
        };
        let mut state = state.lock().await;
        if let Some(current) = &state.token
            && current.fresh(SystemTime::now())
            && stale != Some(current.token.as_str())
        {
            return Ok(current.token.clone());
        }
        let installation_id = match state.installation_id {
            Some(id) => id,
            None => {
                let id = self.find_installation(key).await?;
                state.installation_id = Some(id);
                id
            }
        };
        let url = self.url(&[
            "app",
            "installations",
            &installation_id.to_string(),
            "access_tokens",
        ]);
        let response = match self.app_call(key, Method::POST, &url).await {
            Err(ForgeError::NotFound {
                method,
                path,
                status,
                message,
                ..
            }) => {
                // An installation that was found may have been replaced (the App uninstalled
                // and installed again): look it up again next time.
                if state.configured_installation.is_none() {
                    state.installation_id = None;
                }
                return Err(ForgeError::NotFound {
                    forge: FORGE,
                    method,
                    path,
                    status,
                    message: format!(
                        "{message}; the GitHub App {} has no installation {installation_id} (check githubAppInstallationID, or leave it out to look it up)",
                        key.app_id()
                    ),
                });
            }
            other => other?,
        };
        let token = auth::parse_installation_token(&response.body).map_err(|problem| {
            ForgeError::InvalidResponse {
                forge: FORGE,
                method: "POST".to_owned(),
                path: shown(&url),
                problem,
            }
        })?;
        tracing::debug!(
            installation_id,
            expires_at = ?token.expires_at,
            "bought a GitHub App installation token"
        );
        let bearer = token.token.clone();
        state.token = Some(token);
        Ok(bearer)
    }

    /// `GET /repos/{owner}/{repo}/installation` with the App's JWT: the installation id.
    async fn find_installation(&self, key: &AppKey) -> Result<u64, ForgeError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let url = self.repo_url(&["installation"]);
        let response = match self.app_call(key, Method::GET, &url).await {
            Err(ForgeError::NotFound {
                method,
                path,
                status,
                message,
                ..
            }) => {
                return Err(ForgeError::NotFound {
                    forge: FORGE,
                    method,
                    path,
                    status,
                    message: format!(
                        "{message}; the GitHub App {} is not installed on {} (install it there, or check githubAppID)",
                        key.app_id(),
                        self.full_name()
                    ),
                });
            }
            other => other?,
        };
        let installation: Installation = read(&Method::GET, &url, &response, "")?;
        Ok(installation.id)
    }

    /// A call to one of the App's own endpoints, with a fresh JWT.
    async fn app_call(
        &self,
        key: &AppKey,
        method: Method,
        url: &Url,
    ) -> Result<Response, ForgeError> {
        let jwt = key.jwt(SystemTime::now()).map_err(|_| ForgeError::Config {
            forge: FORGE,
            problem:
                "the GitHub App private key (Secret key githubAppPrivateKey) cannot sign a JWT"
                    .to_owned(),
        })?;
        let response = self.send_once(&method, url, None, &jwt).await?;
        accept(&method, url, false, response, &jwt)
    }

    /// One request to the repository's endpoints; a 401 with an App renews the installation
    /// token and sends it once more (a 401 was not acted on).
    async fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Json>,
    ) -> Result<Response, ForgeError> {
        let mut bearer = self.bearer(None).await?;
        let mut response = self.send_once(&method, url, body, &bearer).await?;
        if response.status == 401 && matches!(self.inner.credentials, Credentials::App { .. }) {
            tracing::debug!(%method, path = %shown(url), "GitHub refused the installation token; renewing it once");
            bearer = self.bearer(Some(&bearer)).await?;
            response = self.send_once(&method, url, body, &bearer).await?;
        }
        accept(&method, url, body.is_some(), response, &bearer)
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Json>,
        bearer: &str,
    ) -> Result<Response, ForgeError> {
        let http = |source| ForgeError::Http {
            forge: FORGE,
            source,
        };
        let mut request = Request::new(method.clone(), url.as_str())
            .header("accept", MEDIA_TYPE)
            .and_then(|r| r.header("authorization", &format!("Bearer {bearer}")))
            .and_then(|r| r.header("x-github-api-version", API_VERSION))
            .map_err(http)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        self.inner.http.send(&request).await.map_err(http)
    }

    /// One JSON object from a call.
    async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Json>,
    ) -> Result<T, ForgeError> {
        let response = self.call(method.clone(), url, body).await?;
        read(&method, url, &response, &self.current_secret().await)
    }

    /// Every item of a listing: `per_page=100`, then each `Link: rel="next"` on the API's own
    /// origin, up to the page cap.
    async fn list<T: DeserializeOwned>(&self, mut url: Url) -> Result<Vec<T>, ForgeError> {
        url.query_pairs_mut().append_pair("per_page", PER_PAGE);
        let first = url.clone();
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            let response = self.call(Method::GET, &url, None).await?;
            let page: Vec<T> = read(&Method::GET, &url, &response, &self.current_secret().await)?;
            items.extend(page);
            let Some(next) = response.next_link() else {
                return Ok(items);
            };
            if pages >= self.max_pages {
                return Err(ForgeError::InvalidResponse {
                    forge: FORGE,
                    method: "GET".to_owned(),
                    path: shown(&first),
                    problem: format!(
                        "the listing has more than {} pages of {PER_PAGE}; stopped there (a server whose next links never end?)",
                        self.max_pages
                    ),
                });
            }
            url = next_page(&self.inner.base, &url, &next).map_err(|problem| {
                ForgeError::InvalidResponse {
                    forge: FORGE,
                    method: "GET".to_owned(),
                    path: shown(&url),
                    problem,
                }
            })?;
        }
    }

    /// The installation token in use, to scrub from messages (empty for a token: a token that
    /// GitHub echoed would be scrubbed by [`accept`] already).
    async fn current_secret(&self) -> String {
        match &self.inner.credentials {
            Credentials::Token(token) => token.clone(),
            Credentials::App { state, .. } => state
                .lock()
                .await
                .token
                .as_ref()
                .map(|t| t.token.clone())
                .unwrap_or_default(),
        }
    }
}

impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        FORGE
    }

    async fn identity(&self) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct App {
            slug: Option<String>,
        }
        let Credentials::App { key, .. } = &self.inner.credentials else {
            return Ok(None);
        };
        let url = self.url(&["app"]);
        let response = self.app_call(key, Method::GET, &url).await?;
        let app: App = read(&Method::GET, &url, &response, "")?;
        match app.slug {
            Some(slug) if !slug.is_empty() => Ok(Some(format!("{slug}[bot]"))),
            _ => Err(ForgeError::InvalidResponse {
                forge: FORGE,
                method: "GET".to_owned(),
                path: shown(&url),
                problem: "the App has no slug".to_owned(),
            }),
        }
    }

    async fn pull(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let url = self.repo_url(&["pulls", &number.to_string()]);
        let pull: PullJson = self.fetch(Method::GET, &url, None).await?;
        pull_request(pull, true).map_err(|problem| invalid(&Method::GET, &url, problem))
    }

    async fn open_pulls(&self, base_branch: &str) -> Result<Vec<PullRequest>, ForgeError> {
        let mut url = self.repo_url(&["pulls"]);
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("base", base_branch);
        let pulls: Vec<PullJson> = self.list(url.clone()).await?;
        pulls
            .into_iter()
            .map(|p| pull_request(p, false))
            .collect::<Result<_, _>>()
            .map_err(|problem| invalid(&Method::GET, &url, problem))
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError> {
        let url = self.repo_url(&["issues", &number.to_string(), "comments"]);
        let comments: Vec<CommentJson> = self.list(url).await?;
        Ok(comments.into_iter().map(comment).collect())
    }

    async fn create_comment(&self, number: u64, body: &str) -> Result<Comment, ForgeError> {
        let url = self.repo_url(&["issues", &number.to_string(), "comments"]);
        let created: CommentJson = self
            .fetch(Method::POST, &url, Some(&json!({ "body": body })))
            .await?;
        Ok(comment(created))
    }

    async fn edit_comment(
        &self,
        _number: u64,
        id: CommentId,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        let url = self.repo_url(&["issues", "comments", &id.to_string()]);
        let edited: CommentJson = self
            .fetch(Method::PATCH, &url, Some(&json!({ "body": body })))
            .await?;
        Ok(comment(edited))
    }

    async fn react(
        &self,
        _number: u64,
        id: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        let url = self.repo_url(&["issues", "comments", &id.to_string(), "reactions"]);
        let body = json!({ "content": reaction_content(reaction) });
        // 201 created, 200 already there: both are success.
        self.call(Method::POST, &url, Some(&body)).await?;
        Ok(())
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus<'_>) -> Result<(), ForgeError> {
        let url = self.repo_url(&["statuses", sha]);
        let body = json!({
            "state": match status.state {
                StatusState::Pending => "pending",
                StatusState::Success => "success",
                StatusState::Failure => "failure",
            },
            "context": status.context,
            "description": cut(status.description, STATUS_DESCRIPTION_LIMIT),
            "target_url": status.target_url,
        });
        self.call(Method::POST, &url, Some(&body)).await?;
        Ok(())
    }

    async fn permission(&self, user: &User) -> Result<Permission, ForgeError> {
        #[derive(Deserialize)]
        struct Level {
            permission: String,
        }
        let url = self.repo_url(&["collaborators", &user.login, "permission"]);
        match self.fetch::<Level>(Method::GET, &url, None).await {
            Ok(level) => Ok(permission(&level.permission)),
            // No such user, or no collaborator: no right to apply.
            Err(ForgeError::NotFound { .. }) => Ok(Permission::Read),
            Err(e) => Err(e),
        }
    }

    async fn merge(&self, number: u64, head_sha: &str) -> Result<(), ForgeError> {
        #[derive(Deserialize)]
        struct Merged {
            merged: bool,
            #[serde(default)]
            message: Option<String>,
        }
        let url = self.repo_url(&["pulls", &number.to_string(), "merge"]);
        let body = json!({ "sha": head_sha, "merge_method": "merge" });
        // 409 (the head moved) and 405 (not mergeable) come back as `Rejected` with the status.
        let merged: Merged = self.fetch(Method::PUT, &url, Some(&body)).await?;
        if merged.merged {
            Ok(())
        } else {
            Err(invalid(
                &Method::PUT,
                &url,
                format!(
                    "it answered merged: false ({})",
                    merged.message.unwrap_or_default()
                ),
            ))
        }
    }

    fn pull_ref(&self, number: u64) -> String {
        format!("refs/pull/{number}/head")
    }

    async fn git_credentials(&self) -> Result<GitCredentials, ForgeError> {
        Ok(GitCredentials {
            username: GIT_USERNAME.to_owned(),
            password: self.bearer(None).await?,
        })
    }
}

/// Checks and normalises the API's base URL: HTTP(S), a host, no credentials, query or
/// fragment; a trailing `/` is dropped.
fn api_base(text: &str) -> Result<Url, ForgeError> {
    let problem = |why: &str| ForgeError::Config {
        forge: FORGE,
        problem: format!(
            "the GitHub API URL {} {why}; use {DEFAULT_API_BASE_URL}, or https://HOST/api/v3 for GitHub Enterprise Server",
            crate::url::redacted(text)
        ),
    };
    let url = Url::parse(text.trim()).map_err(|_| problem("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(problem("is not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem("names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(problem(
            "carries credentials (give them as the token or the App instead)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(problem("has a query or a fragment"));
    }
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The next page's URL from a `Link` header, if it stays on the API: the same scheme, host and
/// port as the base, under the base's path, with no credentials. Anything else would carry the
/// token to wherever a server (or a proxy) points.
fn next_page(base: &Url, current: &Url, link: &str) -> Result<Url, String> {
    let next = current
        .join(link)
        .map_err(|_| format!("the next page's link {link:?} is not a URL"))?;
    let prefix = format!("{}/", base.path().trim_end_matches('/'));
    let same_api = next.origin() == base.origin()
        && next.path().starts_with(&prefix)
        && next.username().is_empty()
        && next.password().is_none();
    if same_api {
        Ok(next)
    } else {
        Err(format!(
            "the next page's link points outside {} ({}); not followed, as it would carry the credentials there",
            base,
            crate::url::redacted(next.as_str())
        ))
    }
}

/// A URL as messages show it: its path and query (never credentials; the host is the
/// configured one).
fn shown(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

fn invalid(method: &Method, url: &Url, problem: String) -> ForgeError {
    ForgeError::InvalidResponse {
        forge: FORGE,
        method: method.to_string(),
        path: shown(url),
        problem,
    }
}

/// A 2xx answer, or the error its status means.
fn accept(
    method: &Method,
    url: &Url,
    had_body: bool,
    response: Response,
    secret: &str,
) -> Result<Response, ForgeError> {
    if response.is_success() {
        return Ok(response);
    }
    let (method, path, status) = (method.to_string(), shown(url), response.status);
    let message = scrub(error_message(&response, had_body), secret);
    Err(match status {
        401 | 403 => ForgeError::Unauthorized {
            forge: FORGE,
            method,
            path,
            status,
            message,
        },
        404 | 410 => ForgeError::NotFound {
            forge: FORGE,
            method,
            path,
            status,
            message,
        },
        _ => ForgeError::Rejected {
            forge: FORGE,
            method,
            path,
            status,
            message,
        },
    })
}

/// What GitHub said in a refusal: `basic-error`'s `message`, and a `validation-error`'s
/// `errors` (422: "Body is too long (maximum is 65536 characters)"). Not JSON: the start of the
/// body, unless the request had one (the answer may echo it).
fn error_message(response: &Response, had_body: bool) -> String {
    #[derive(Deserialize)]
    struct Refusal {
        message: Option<String>,
        #[serde(default)]
        errors: Vec<Json>,
    }
    if (300..400).contains(&response.status) {
        return match response.header("location") {
            Some(to) => format!(
                "redirected to {}, which is not followed; check the API URL and the repository's name",
                crate::url::redacted(to)
            ),
            None => "redirected, which is not followed".to_owned(),
        };
    }
    match serde_json::from_slice::<Refusal>(&response.body) {
        Ok(refusal) => {
            let mut message = refusal.message.unwrap_or_default();
            let details: Vec<String> = refusal
                .errors
                .iter()
                .filter_map(|e| match e {
                    Json::String(s) => Some(s.clone()),
                    Json::Object(o) => o
                        .get("message")
                        .and_then(Json::as_str)
                        .map(str::to_owned)
                        .or_else(|| {
                            let part = |k| o.get(k).and_then(Json::as_str).unwrap_or("");
                            let code = part("code");
                            (!code.is_empty()).then(|| {
                                format!("{} {} {code}", part("resource"), part("field"))
                                    .trim()
                                    .to_owned()
                            })
                        }),
                    _ => None,
                })
                .collect();
            if !details.is_empty() {
                message = format!("{message} ({})", details.join("; "));
            }
            if message.is_empty() {
                "no message".to_owned()
            } else {
                message
            }
        }
        Err(_) if had_body => format!("{} bytes withheld", response.body.len()),
        Err(_) if response.body.is_empty() => "no message".to_owned(),
        Err(_) => response.excerpt(),
    }
}

/// `text` without `secret` in it.
fn scrub(text: String, secret: &str) -> String {
    if secret.is_empty() || !text.contains(secret) {
        text
    } else {
        text.replace(secret, "<redacted>")
    }
}

/// A 2xx body read as `T`; a body that is not is [`ForgeError::InvalidResponse`].
fn read<T: DeserializeOwned>(
    method: &Method,
    url: &Url,
    response: &Response,
    secret: &str,
) -> Result<T, ForgeError> {
    response.json().map_err(|e| {
        invalid(
            method,
            url,
            scrub(
                format!("the body is not what the API describes: {e}"),
                secret,
            ),
        )
    })
}

/// `text` cut to at most `limit` characters, on a character boundary, with `…` when cut.
fn cut(text: &str, limit: usize) -> Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let end = text
                .char_indices()
                .nth(limit.saturating_sub(1))
                .map_or(text.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", &text[..end]))
        }
    }
}

/// GitHub's legacy base role (`admin`, `write`, `read`, `none`; `maintain` is sent as `write`
/// and `triage` as `read`, but both are mapped in case a server sends them).
fn permission(level: &str) -> Permission {
    match level {
        "admin" => Permission::Admin,
        "write" | "maintain" => Permission::Write,
        _ => Permission::Read,
    }
}

/// `mergeable` and `mergeable_state` as one [`Mergeability`]. `null` (or the state `unknown`)
/// means GitHub is still computing it; `true` with `clean`, `unstable` or `has_hooks` is
/// mergeable (as Atlantis reads it); anything else is blocked, by the state GitHub names
/// (`dirty`, `blocked`, `behind`, `draft`) or by conflicts.
fn mergeability(mergeable: Option<bool>, state: Option<&str>) -> Mergeability {
    let state = state.unwrap_or("");
    match (mergeable, state) {
        (None, _) | (_, "unknown") => Mergeability::Computing,
        (Some(true), "clean" | "unstable" | "has_hooks") => Mergeability::Mergeable,
        (Some(_), "") => Mergeability::Blocked {
            reason: "conflicts".to_owned(),
        },
        (Some(_), state) => Mergeability::Blocked {
            reason: state.to_owned(),
        },
    }
}

fn reaction_content(reaction: Reaction) -> &'static str {
    match reaction {
        Reaction::Eyes => "eyes",
        Reaction::ThumbsUp => "+1",
        Reaction::Confused => "confused",
    }
}

/// `simple-user` (nullable in lists and comments: a deleted account, which GitHub shows as
/// `ghost`).
#[derive(Deserialize)]
struct UserJson {
    login: String,
    id: u64,
}

fn user(user: Option<UserJson>) -> User {
    match user {
        Some(u) => User {
            login: u.login,
            id: u.id,
        },
        None => User {
            login: "ghost".to_owned(),
            id: 0,
        },
    }
}

/// The parts of `pull-request` and `pull-request-simple` the workflow reads.
#[derive(Deserialize)]
struct PullJson {
    number: u64,
    title: String,
    state: String,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    user: Option<UserJson>,
    head: BranchJson,
    base: BranchJson,
    #[serde(default)]
    mergeable: Option<bool>,
    #[serde(default)]
    mergeable_state: Option<String>,
    html_url: String,
}

#[derive(Deserialize)]
struct BranchJson {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
    /// `null` when the fork was deleted.
    #[serde(default)]
    repo: Option<RepoJson>,
}

#[derive(Deserialize)]
struct RepoJson {
    full_name: String,
}

/// A pull request from `pulls/get` (`detailed`: it carries `mergeable`) or `pulls/list`
/// (`pull-request-simple`, without it: [`Mergeability::Computing`] until read alone).
fn pull_request(pull: PullJson, detailed: bool) -> Result<PullRequest, String> {
    // `pulls/get` says `merged`; `pull-request-simple` has only `merged_at`.
    let merged = pull.merged.unwrap_or(pull.merged_at.is_some());
    let state = match pull.state.as_str() {
        "open" => PullState::Open,
        "closed" if merged => PullState::Merged,
        "closed" => PullState::Closed,
        other => {
            return Err(format!(
                "pull request #{} has the state {other:?}, not open or closed",
                pull.number
            ));
        }
    };
    let from_fork = match (&pull.head.repo, &pull.base.repo) {
        (Some(head), Some(base)) => !head.full_name.eq_ignore_ascii_case(&base.full_name),
        // A deleted fork, or no repository named: not the base repository's own branch.
        _ => true,
    };
    Ok(PullRequest {
        number: pull.number,
        title: pull.title,
        state,
        draft: pull.draft.unwrap_or(false),
        author: user(pull.user),
        head_sha: pull.head.sha,
        head_branch: pull.head.name,
        base_branch: pull.base.name,
        from_fork,
        mergeability: if detailed {
            mergeability(pull.mergeable, pull.mergeable_state.as_deref())
        } else {
            Mergeability::Computing
        },
        web_url: pull.html_url,
    })
}

/// The parts of `issue-comment` the workflow reads.
#[derive(Deserialize)]
struct CommentJson {
    id: u64,
    #[serde(default)]
    user: Option<UserJson>,
    #[serde(default)]
    body: Option<String>,
    created_at: String,
    updated_at: String,
}

fn comment(c: CommentJson) -> Comment {
    Comment {
        id: CommentId(c.id),
        author: user(c.user),
        body: c.body.unwrap_or_default(),
        edited: c.updated_at != c.created_at,
        created_at: c.created_at,
        system: false,
    }
}

/// The owner and repository (without `.git`) of a GitHub repository's URL, whatever the host
/// (github.com or a GitHub Enterprise Server): `https://github.com/o/r(.git)`,
/// `ssh://git@github.com[:22]/o/r.git`, `git@github.com:o/r.git`, with or without credentials
/// or a trailing `/`. `None` for anything else (a path that is not exactly `owner/repo`).
pub fn parse_repository_url(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let path = match url.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(
                scheme.to_ascii_lowercase().as_str(),
                "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git"
            ) {
                return None;
            }
            let (authority, path) = rest.split_once('/')?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() || host.starts_with(':') {
                return None;
            }
            path
        }
        None => {
            // scp-like `[user@]host:owner/repo.git`.
            let (authority, path) = url.split_once(':')?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() || host.contains('/') || path.starts_with('/') {
                return None;
            }
            path
        }
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_suffix('/').unwrap_or(path);
    let (owner, repo) = path.split_once('/')?;
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let owner_ok = !owner.is_empty()
        && owner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let repo_ok = !repo.is_empty()
        && repo != "."
        && repo != ".."
        && repo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (owner_ok && repo_ok).then(|| (owner.to_owned(), repo.to_owned()))
}

#[cfg(test)]
mod tests;
