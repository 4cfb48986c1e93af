//! The local forge's HTTP API, under `/api/v3` (GitHub Enterprise's base path): the operations
//! of `github-subset.openapi.json` that gitsync uses, with GitHub's paths, status codes,
//! pagination (`per_page` at most 100, a `Link` header) and error bodies (`basic-error`,
//! `validation-error`).
//!
//! Authentication as GitHub's: `GET /app`, `GET /repos/{o}/{r}/installation` and
//! `POST /app/installations/{id}/access_tokens` take only an App JWT (RS256, signed with the
//! App's key, `iss` the App, `exp` at most ten minutes ahead); every other route takes a user's
//! token or an installation token this server minted (which acts as `<slug>[bot]`, and is
//! refused with 401 `Bad credentials` once expired). Injected faults ([`super::Fault`]) answer
//! before anything else and change nothing. Anything else under `/api/v3` is 404 `Not Found`.
//! Beside the API, `/{owner}/{repo}.git/...` serves the repositories over Git's smart HTTP
//! ([`super::git_http`]).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use serde_json::{Value as Json, json};

use super::git::{self, Signature};
use super::{
    CommentRec, Fault, InstallationToken, LocalForge, Mergeable, Reaction, Role, State as Forge,
    StatusRec, now, render, timestamp,
};

type Params = Path<HashMap<String, String>>;
type QueryMap = Query<HashMap<String, String>>;

/// An error answer: GitHub's `basic-error` or `validation-error`, with extra headers.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Json,
    headers: Vec<(HeaderName, String)>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

const DOCS: &str = "https://docs.github.com/rest";

fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({
            "message": message,
            "documentation_url": DOCS,
            "status": status.as_u16().to_string(),
        }),
        headers: Vec::new(),
    }
}

fn not_found() -> ApiError {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// 422 `Validation Failed` naming the resource, field and code, as GitHub's.
fn invalid(resource: &str, field: &str, code: &str, message: Option<&str>) -> ApiError {
    let mut e = json!({ "resource": resource, "field": field, "code": code });
    if let Some(m) = message {
        e["message"] = json!(m);
    }
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        body: json!({
            "message": "Validation Failed",
            "errors": [e],
            "documentation_url": DOCS,
            "status": "422",
        }),
        headers: Vec::new(),
    }
}

type Answer = Result<Response, ApiError>;

fn answer(status: StatusCode, body: Json) -> Answer {
    Ok((status, axum::Json(body)).into_response())
}

/// The request's JSON body; an empty body is `None`. Malformed JSON is GitHub's 400.
fn body_json(body: &Bytes) -> Result<Option<Json>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "Problems parsing JSON"))
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    params
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(not_found)
}

fn full_name(params: &HashMap<String, String>) -> String {
    format!(
        "{}/{}",
        params.get("owner").map_or("", String::as_str),
        params.get("repo").map_or("", String::as_str)
    )
}

pub fn router(forge: LocalForge) -> Router {
    let api = Router::new()
        .route("/app", get(get_app))
        .route(
            "/app/installations/{installation_id}/access_tokens",
            post(create_token),
        )
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/repos/{owner}/{repo}/installation", get(get_installation))
        .route("/repos/{owner}/{repo}/pulls", get(list_pulls))
        .route("/repos/{owner}/{repo}/pulls/{pull_number}", get(get_pull))
        .route(
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            put(merge),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            get(list_comments).post(create_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            get(get_comment)
                .patch(update_comment)
                .delete(delete_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            get(list_reactions).post(create_reaction),
        )
        .route("/repos/{owner}/{repo}/statuses/{sha}", post(create_status))
        .route(
            "/repos/{owner}/{repo}/commits/{*rest}",
            get(commit_resource),
        )
        .route(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            get(permission),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(middleware::from_fn_with_state(
            forge.clone(),
            faults_and_headers,
        ))
        .with_state(forge.clone());
    Router::new()
        .nest("/api/v3", api)
        .route("/{owner}/{repo}/{*rest}", any(super::git_http::serve))
        .fallback(unknown_route)
        .with_state(forge)
}

async fn unknown_route() -> ApiError {
    not_found()
}

/// Answers an injected fault, or passes the request on; adds GitHub's headers to every answer.
async fn faults_and_headers(
    State(forge): State<LocalForge>,
    request: Request,
    next: Next,
) -> Response {
    let fault = forge.lock().faults.pop_front();
    let reset = jiff::Timestamp::now().as_second() + 3600;
    let mut resp = match fault {
        None => next.run(request).await,
        Some(Fault::BadGateway) => error(StatusCode::BAD_GATEWAY, "Server Error").into_response(),
        Some(Fault::TooManyRequests { retry_after } | Fault::RateLimited { retry_after }) => {
            let wait = retry_after.as_secs();
            let reset = jiff::Timestamp::now().as_second() + i64::try_from(wait).unwrap_or(0);
            let (status, message) = match fault {
                Some(Fault::TooManyRequests { .. }) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                ),
                _ => (
                    StatusCode::FORBIDDEN,
                    "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.",
                ),
            };
            let mut e = error(status, message);
            e.headers = vec![
                (header::RETRY_AFTER, wait.to_string()),
                (HeaderName::from_static("x-ratelimit-remaining"), "0".into()),
                (
                    HeaderName::from_static("x-ratelimit-reset"),
                    reset.to_string(),
                ),
                (HeaderName::from_static("x-ratelimit-used"), "5000".into()),
            ];
            e.into_response()
        }
    };
    let headers = resp.headers_mut();
    let defaults = [
        ("x-github-media-type", "github.v3; format=json".to_owned()),
        ("x-github-api-version-selected", "2022-11-28".to_owned()),
        ("x-ratelimit-limit", "5000".to_owned()),
        ("x-ratelimit-remaining", "4999".to_owned()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-used", "1".to_owned()),
        ("x-ratelimit-resource", "core".to_owned()),
        (
            "x-github-request-id",
            crate::workspace::embedded::ids::random_hex(16).to_uppercase(),
        ),
    ];
    for (name, value) in defaults {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name)
            && let Ok(v) = HeaderValue::from_str(&value)
        {
            headers.insert(name, v);
        }
    }
    resp
}

/// The credentials of `Authorization: Bearer X` (or GitHub's older `token X`).
fn credentials(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

/// Who the request acts as: a user's login, or the App's bot for an installation token.
pub(crate) fn actor(state: &Forge, headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(token) = credentials(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Requires authentication"));
    };
    if let Some(login) = state.tokens.get(token) {
        return Ok(login.clone());
    }
    if let Some(t) = state.installation_tokens.get(token)
        && t.expires_at > jiff::Timestamp::now()
        && let Some(bot) = state.bot_login()
    {
        return Ok(bot);
    }
    Err(error(StatusCode::UNAUTHORIZED, "Bad credentials"))
}

/// Who the request acts as, if they may read the repositories; anyone else gets 404, as a
/// private repository answers someone without access.
pub(crate) fn reader(state: &Forge, headers: &HeaderMap) -> Result<String, ApiError> {
    let login = actor(state, headers)?;
    if state
        .users
        .get(&login)
        .is_some_and(|u| u.bot || u.role >= Role::Read)
    {
        Ok(login)
    } else {
        Err(not_found())
    }
}

fn role(state: &Forge, login: &str) -> Role {
    state.users.get(login).map_or(Role::None, |u| u.role)
}

/// Checks the App JWT of a request to an App endpoint.
fn app_jwt(state: &Forge, headers: &HeaderMap) -> Result<(), ApiError> {
    let undecodable = || {
        error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        )
    };
    let Some(token) = credentials(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Requires authentication"));
    };
    let Some(app) = &state.config.app else {
        return Err(undecodable());
    };
    let key =
        jsonwebtoken::DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes()).map_err(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the local forge's App public key is not PEM",
            )
        })?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat"]);
    let claims = jsonwebtoken::decode::<Json>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => error(
                StatusCode::UNAUTHORIZED,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            ),
            _ => undecodable(),
        })?
        .claims;
    let now = jiff::Timestamp::now().as_second();
    let exp = claims["exp"].as_i64().unwrap_or(i64::MAX);
    if exp > now + 600 {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    match claims["iat"].as_i64() {
        Some(iat) if iat <= now + 60 => {}
        _ => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            ));
        }
    }
    let iss_ok = match &claims["iss"] {
        Json::Number(n) => n.as_u64() == Some(app.id),
        Json::String(s) => *s == app.id.to_string() || *s == app.client_id,
        _ => false,
    };
    if !iss_ok {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "'Issuer' claim ('iss') must be the GitHub App's id or client id",
        ));
    }
    Ok(())
}

/// `per_page` (default 30, at most 100) and `page` (from 1).
fn page_of(query: &HashMap<String, String>) -> (usize, usize) {
    let per_page = query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    (per_page, page)
}

/// One page of `items`, and the `Link` header GitHub sends with it (`prev`, `next`, `last`,
/// `first`, each the same URL with its `page` changed).
fn paginate<'a, T>(
    state: &Forge,
    uri: &Uri,
    query: &HashMap<String, String>,
    items: &'a [T],
) -> (&'a [T], Option<String>) {
    let (per_page, page) = page_of(query);
    let last = items.len().div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page).min(items.len());
    let end = start.saturating_add(per_page).min(items.len());
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page=") && !p.starts_with("per_page="))
        .collect();
    let url = |n: usize| {
        let mut q = kept.clone();
        let per = format!("per_page={per_page}");
        let pg = format!("page={n}");
        q.push(&per);
        q.push(&pg);
        format!("{}{}?{}", state.api(), uri.path(), q.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    (
        &items[start..end],
        (!links.is_empty()).then(|| links.join(", ")),
    )
}

fn with_link(body: Json, link: Option<String>) -> Answer {
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if let Some(link) = link
        && let Ok(v) = HeaderValue::from_str(&link)
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

fn created(body: Json, location: &str) -> Answer {
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn get_app(State(forge): State<LocalForge>, headers: HeaderMap) -> Answer {
    let state = forge.lock();
    app_jwt(&state, &headers)?;
    answer(StatusCode::OK, render::integration(&state))
}

async fn get_installation(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
) -> Answer {
    let state = forge.lock();
    app_jwt(&state, &headers)?;
    let repo = state.repos.get(&full_name(&p)).ok_or_else(not_found)?;
    answer(StatusCode::OK, render::installation(&state, repo))
}

async fn create_token(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
    body: Bytes,
) -> Answer {
    let mut state = forge.lock();
    app_jwt(&state, &headers)?;
    let installation = number(&p, "installation_id")?;
    let lifetime = state.config.token_lifetime;
    let Some(app) = &state.config.app else {
        return Err(not_found());
    };
    if app.installation_id != installation {
        return Err(not_found());
    }
    let body = body_json(&body)?.unwrap_or_else(|| json!({}));
    let mut repositories = Vec::new();
    if let Some(names) = body.get("repositories") {
        let Some(names) = names.as_array() else {
            return Err(invalid("Installation", "repositories", "invalid", None));
        };
        for name in names {
            let found = name
                .as_str()
                .and_then(|n| state.repos.values().find(|r| r.name == n));
            let Some(repo) = found else {
                return Err(invalid(
                    "Installation",
                    "repositories",
                    "invalid",
                    Some(
                        "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    ),
                ));
            };
            repositories.push(render::repository(&state, repo, None));
        }
    }
    let token = format!("ghs_{}", crate::workspace::embedded::ids::random_base62(36));
    let expires_at = jiff::Timestamp::now()
        + jiff::SignedDuration::try_from(lifetime).unwrap_or(jiff::SignedDuration::from_secs(3600));
    state
        .installation_tokens
        .insert(token.clone(), InstallationToken { expires_at });
    let mut out = json!({
        "token": token,
        "expires_at": timestamp(expires_at),
        "permissions": body.get("permissions").cloned().unwrap_or_else(render::app_permissions),
        "repository_selection": if repositories.is_empty() { "all" } else { "selected" },
    });
    if !repositories.is_empty() {
        out["repositories"] = json!(repositories);
    }
    answer(StatusCode::CREATED, out)
}

async fn get_repo(State(forge): State<LocalForge>, headers: HeaderMap, Path(p): Params) -> Answer {
    let state = forge.lock();
    let login = reader(&state, &headers)?;
    let repo = state.repos.get(&full_name(&p)).ok_or_else(not_found)?;
    let mut r = render::full_repository(&state, repo);
    let role = role(&state, &login);
    r["permissions"] = json!({
        "admin": role >= Role::Admin,
        "maintain": role >= Role::Maintain,
        "push": role >= Role::Write,
        "triage": role >= Role::Triage,
        "pull": true,
    });
    answer(StatusCode::OK, r)
}

async fn list_pulls(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    uri: Uri,
    Path(p): Params,
    Query(q): QueryMap,
) -> Answer {
    let state = forge.lock();
    reader(&state, &headers)?;
    let repo = state.repos.get(&full_name(&p)).ok_or_else(not_found)?;
    let wanted = q.get("state").map_or("open", String::as_str);
    if !matches!(wanted, "open" | "closed" | "all") {
        return Err(invalid("PullRequest", "state", "invalid", None));
    }
    let mut pulls: Vec<_> = repo
        .pulls
        .values()
        .filter(|pr| match wanted {
            "open" => pr.open,
            "closed" => !pr.open,
            _ => true,
        })
        .filter(|pr| q.get("base").is_none_or(|b| *b == pr.base_ref))
        .filter(|pr| {
            q.get("head").is_none_or(|h| {
                let owner = pr.fork_owner.as_deref().unwrap_or(&repo.owner);
                *h == format!("{owner}:{}", pr.head_ref)
            })
        })
        .collect();
    let sort = q.get("sort").map_or("created", String::as_str);
    let descending = match q.get("direction").map(String::as_str) {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort == "created",
    };
    if sort == "updated" {
        pulls.sort_by(|a, b| {
            a.updated_at
                .cmp(&b.updated_at)
                .then(a.number.cmp(&b.number))
        });
    } else {
        pulls.sort_by_key(|pr| pr.number);
    }
    if descending {
        pulls.reverse();
    }
    let (page, link) = paginate(&state, &uri, &q, &pulls);
    let body: Vec<Json> = page
        .iter()
        .map(|pr| render::pull(&state, repo, pr, false))
        .collect();
    with_link(json!(body), link)
}

async fn get_pull(State(forge): State<LocalForge>, headers: HeaderMap, Path(p): Params) -> Answer {
    let name = full_name(&p);
    let n = number(&p, "pull_number")?;
    let (body, compute) = {
        let state = forge.lock();
        reader(&state, &headers)?;
        let repo = state.repos.get(&name).ok_or_else(not_found)?;
        let pull = repo.pulls.get(&n).ok_or_else(not_found)?;
        let compute =
            (pull.open && matches!(pull.mergeable, Mergeable::Computed(None))).then(|| {
                (
                    repo.path.clone(),
                    pull.base_ref.clone(),
                    pull.head_sha.clone(),
                )
            });
        (render::pull(&state, repo, pull, true), compute)
    };
    // GitHub answers `null` and starts computing; the next read has the answer.
    if let Some((path, base_ref, head_sha)) = compute {
        let computed = match git::branch_tip(&path, &base_ref) {
            Ok(Some(base)) => git::merge_tree(&path, &base, &head_sha)
                .map(|tree| match tree {
                    Some(_) => (true, "clean".to_owned()),
                    None => (false, "dirty".to_owned()),
                })
                .ok(),
            _ => None,
        };
        if let Some(value) = computed {
            let mut state = forge.lock();
            if let Ok(pull) = state.pull_mut(&name, n)
                && pull.head_sha == head_sha
                && matches!(pull.mergeable, Mergeable::Computed(None))
            {
                pull.mergeable = Mergeable::Computed(Some(value));
            }
        }
    }
    answer(StatusCode::OK, body)
}

async fn merge(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
    body: Bytes,
) -> Answer {
    let name = full_name(&p);
    let n = number(&p, "pull_number")?;
    let body = body_json(&body)?.unwrap_or_else(|| json!({}));
    for field in ["commit_title", "commit_message", "sha", "merge_method"] {
        if body.get(field).is_some_and(|v| !v.is_string()) {
            return Err(invalid("PullRequest", field, "invalid", None));
        }
    }
    let text = |k: &str| body.get(k).and_then(Json::as_str).map(str::to_owned);
    let method = text("merge_method").unwrap_or_else(|| "merge".into());
    let (login, path, pull, actor_id) = {
        let state = forge.lock();
        let login = reader(&state, &headers)?;
        let repo = state.repos.get(&name).ok_or_else(not_found)?;
        let pull = repo.pulls.get(&n).ok_or_else(not_found)?.clone();
        if !role(&state, &login).may_push() {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Must have push access to repository",
            ));
        }
        let id = state.users.get(&login).map_or(0, |u| u.id);
        (login, repo.path.clone(), pull, id)
    };
    if !matches!(method.as_str(), "merge" | "squash" | "rebase") {
        return Err(invalid("PullRequest", "merge_method", "invalid", None));
    }
    if !pull.open {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Pull Request is not mergeable", "documentation_url": DOCS}),
        );
    }
    if let Some(sha) = text("sha")
        && sha != pull.head_sha
    {
        return answer(
            StatusCode::CONFLICT,
            json!({"message": "Head branch was modified. Review and try the merge again.", "documentation_url": DOCS}),
        );
    }
    let refused = match &pull.mergeable {
        Mergeable::Set(m, s) => *m == Some(false) || s == "dirty" || s == "blocked",
        Mergeable::Computed(Some((m, s))) => !m || s == "dirty" || s == "blocked",
        Mergeable::Computed(None) => false,
    };
    if refused {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Pull Request is not mergeable", "documentation_url": DOCS}),
        );
    }
    if method == "rebase" {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Rebase merges are not allowed on this repository.", "documentation_url": DOCS}),
        );
    }
    let git_err = |e: super::LocalForgeError| {
        tracing::error!("local forge: merging {name}#{n}: {e}");
        error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
    };
    let base = git::branch_tip(&path, &pull.base_ref)
        .map_err(git_err)?
        .ok_or_else(|| error(StatusCode::UNPROCESSABLE_ENTITY, "Base branch was deleted"))?;
    let Some(tree) = git::merge_tree(&path, &base, &pull.head_sha).map_err(git_err)? else {
        if let Ok(pr) = forge.lock().pull_mut(&name, n)
            && matches!(pr.mergeable, Mergeable::Computed(_))
        {
            pr.mergeable = Mergeable::Computed(Some((false, "dirty".into())));
        }
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Pull Request is not mergeable", "documentation_url": DOCS}),
        );
    };
    let head_owner = pull
        .fork_owner
        .as_deref()
        .unwrap_or(name.split('/').next().unwrap_or(""));
    let (title, parents) = if method == "squash" {
        (format!("{} (#{n})", pull.title), vec![base.as_str()])
    } else {
        (
            format!(
                "Merge pull request #{n} from {head_owner}/{}",
                pull.head_ref
            ),
            vec![base.as_str(), pull.head_sha.as_str()],
        )
    };
    let title = text("commit_title").unwrap_or(title);
    let message = text("commit_message").unwrap_or_else(|| pull.title.clone());
    let email = format!(
        "{actor_id}+{}@users.noreply.github.com",
        login.replace(['[', ']'], "")
    );
    let sha = git::commit_tree(
        &path,
        &tree,
        &parents,
        &format!("{title}\n\n{message}"),
        &Signature {
            name: &login,
            email: &email,
        },
        &Signature {
            name: "GitHub",
            email: "noreply@github.com",
        },
    )
    .map_err(git_err)?;
    if !git::advance_branch(&path, &pull.base_ref, &sha, &base).map_err(git_err)? {
        return answer(
            StatusCode::CONFLICT,
            json!({"message": "Base branch was modified. Review and try the merge again.", "documentation_url": DOCS}),
        );
    }
    {
        let mut state = forge.lock();
        if let Ok(pr) = state.pull_mut(&name, n) {
            let at = now();
            pr.open = false;
            pr.merged = true;
            pr.merged_by = Some(login.clone());
            pr.merged_at = Some(at.clone());
            pr.closed_at = Some(at.clone());
            pr.updated_at = at;
            pr.merge_commit_sha = Some(sha.clone());
        }
    }
    if let Err(e) = forge.deliver_pull(&name, n, "closed", &login, None) {
        tracing::warn!("local forge: no delivery for the merge of {name}#{n}: {e}");
    }
    answer(
        StatusCode::OK,
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    )
}

/// The comment `id` of `name`, or 404.
fn comment_of<'a>(
    state: &'a Forge,
    name: &str,
    p: &HashMap<String, String>,
) -> Result<&'a CommentRec, ApiError> {
    let id = number(p, "comment_id")?;
    state
        .repos
        .get(name)
        .and_then(|r| r.comments.get(&id))
        .ok_or_else(not_found)
}

/// The id of the comment the path names, if `login` wrote it (only its author may `verb` it:
/// 403 otherwise).
fn own_comment(
    state: &Forge,
    name: &str,
    p: &HashMap<String, String>,
    login: &str,
    verb: &str,
) -> Result<u64, ApiError> {
    let comment = comment_of(state, name, p)?;
    if comment.author != login {
        return Err(error(
            StatusCode::FORBIDDEN,
            &format!("You must be the author of this comment to {verb} it"),
        ));
    }
    Ok(comment.id)
}

async fn list_comments(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    uri: Uri,
    Path(p): Params,
    Query(q): QueryMap,
) -> Answer {
    let state = forge.lock();
    reader(&state, &headers)?;
    let n = number(&p, "issue_number")?;
    let repo = state.repos.get(&full_name(&p)).ok_or_else(not_found)?;
    repo.pulls.get(&n).ok_or_else(not_found)?;
    let since = match q.get("since") {
        Some(s) => Some(
            s.parse::<jiff::Timestamp>()
                .map_err(|_| invalid("IssueComment", "since", "invalid", None))?,
        ),
        None => None,
    };
    let comments: Vec<&CommentRec> = repo
        .comments
        .values()
        .filter(|c| c.number == n)
        .filter(|c| {
            since.is_none_or(|since| {
                c.updated_at
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|u| u >= since)
            })
        })
        .collect();
    let (page, link) = paginate(&state, &uri, &q, &comments);
    let body: Vec<Json> = page
        .iter()
        .map(|c| render::issue_comment(&state, repo, c))
        .collect();
    with_link(json!(body), link)
}

/// The `body` of a comment request: a string of at most 65,536 characters.
fn comment_body(body: &Bytes) -> Result<String, ApiError> {
    let json = body_json(body)?.unwrap_or(Json::Null);
    let Some(text) = json.get("body").and_then(Json::as_str) else {
        return Err(invalid("IssueComment", "body", "missing_field", None));
    };
    if text.chars().count() > 65_536 {
        return Err(invalid(
            "IssueComment",
            "body",
            "custom",
            Some("body is too long (maximum is 65536 characters)"),
        ));
    }
    if text.trim().is_empty() {
        return Err(invalid("IssueComment", "body", "missing_field", None));
    }
    Ok(text.to_owned())
}

async fn create_comment(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
    body: Bytes,
) -> Answer {
    let name = full_name(&p);
    let (out, location, id, login) = {
        let mut state = forge.lock();
        let login = reader(&state, &headers)?;
        let n = number(&p, "issue_number")?;
        state
            .repos
            .get(&name)
            .and_then(|r| r.pulls.get(&n))
            .ok_or_else(not_found)?;
        let text = comment_body(&body)?;
        let id = state.fresh_id();
        let at = now();
        let comment = CommentRec {
            id,
            number: n,
            author: login.clone(),
            body: text,
            created_at: at.clone(),
            updated_at: at,
            reactions: Vec::new(),
        };
        let repo = state.repo_mut(&name).map_err(|_| not_found())?;
        repo.comments.insert(id, comment);
        let repo = state.repo(&name).map_err(|_| not_found())?;
        let out = render::issue_comment(&state, repo, &repo.comments[&id]);
        let location = out["url"].as_str().unwrap_or_default().to_owned();
        (out, location, id, login)
    };
    if let Err(e) = forge.deliver_comment(&name, id, "created", &login, None) {
        tracing::warn!("local forge: no delivery for comment {id}: {e}");
    }
    created(out, &location)
}

async fn get_comment(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
) -> Answer {
    let state = forge.lock();
    reader(&state, &headers)?;
    let name = full_name(&p);
    let comment = comment_of(&state, &name, &p)?;
    let repo = state.repo(&name).map_err(|_| not_found())?;
    answer(StatusCode::OK, render::issue_comment(&state, repo, comment))
}

async fn update_comment(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
    body: Bytes,
) -> Answer {
    let name = full_name(&p);
    let (out, id, login, from) = {
        let mut state = forge.lock();
        let login = reader(&state, &headers)?;
        let id = own_comment(&state, &name, &p, &login, "edit")?;
        let text = comment_body(&body)?;
        let comment = state
            .repo_mut(&name)
            .ok()
            .and_then(|r| r.comments.get_mut(&id))
            .ok_or_else(not_found)?;
        let from = std::mem::replace(&mut comment.body, text);
        comment.updated_at = now();
        let repo = state.repo(&name).map_err(|_| not_found())?;
        (
            render::issue_comment(&state, repo, &repo.comments[&id]),
            id,
            login,
            from,
        )
    };
    if let Err(e) = forge.deliver_comment(&name, id, "edited", &login, Some(&from)) {
        tracing::warn!("local forge: no delivery for comment {id}: {e}");
    }
    answer(StatusCode::OK, out)
}

async fn delete_comment(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
) -> Answer {
    let name = full_name(&p);
    let mut state = forge.lock();
    let login = reader(&state, &headers)?;
    let id = own_comment(&state, &name, &p, &login, "delete")?;
    if let Ok(repo) = state.repo_mut(&name) {
        repo.comments.remove(&id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

async fn list_reactions(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    uri: Uri,
    Path(p): Params,
    Query(q): QueryMap,
) -> Answer {
    let state = forge.lock();
    reader(&state, &headers)?;
    let comment = comment_of(&state, &full_name(&p), &p)?;
    let reactions: Vec<&Reaction> = comment
        .reactions
        .iter()
        .filter(|r| q.get("content").is_none_or(|c| *c == r.content))
        .collect();
    let (page, link) = paginate(&state, &uri, &q, &reactions);
    let body: Vec<Json> = page.iter().map(|r| render::reaction(&state, r)).collect();
    with_link(json!(body), link)
}

async fn create_reaction(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
    body: Bytes,
) -> Answer {
    let name = full_name(&p);
    let mut state = forge.lock();
    let login = reader(&state, &headers)?;
    let id = comment_of(&state, &name, &p)?.id;
    let body = body_json(&body)?.unwrap_or(Json::Null);
    let content = body
        .get("content")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    if !REACTIONS.contains(&content.as_str()) {
        return Err(invalid("Reaction", "content", "invalid", None));
    }
    let existing = state.repo(&name).ok().and_then(|r| {
        r.comments[&id]
            .reactions
            .iter()
            .find(|r| r.user == login && r.content == content)
            .cloned()
    });
    if let Some(r) = existing {
        return answer(StatusCode::OK, render::reaction(&state, &r));
    }
    let reaction = Reaction {
        id: state.fresh_id(),
        user: login,
        content,
        created_at: now(),
    };
    if let Ok(repo) = state.repo_mut(&name)
        && let Some(c) = repo.comments.get_mut(&id)
    {
        c.reactions.push(reaction.clone());
    }
    answer(StatusCode::CREATED, render::reaction(&state, &reaction))
}

async fn create_status(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
    body: Bytes,
) -> Answer {
    let name = full_name(&p);
    let path = {
        let state = forge.lock();
        let login = reader(&state, &headers)?;
        let repo = state.repos.get(&name).ok_or_else(not_found)?;
        if !role(&state, &login).may_push() {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Must have push access to repository",
            ));
        }
        repo.path.clone()
    };
    let given = p.get("sha").cloned().unwrap_or_default();
    let body = body_json(&body)?.unwrap_or(Json::Null);
    let state_field = body
        .get("state")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    if !matches!(
        state_field.as_str(),
        "error" | "failure" | "pending" | "success"
    ) {
        return Err(invalid("Status", "state", "invalid", None));
    }
    let optional = |k: &str| -> Result<Option<String>, ApiError> {
        match body.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid("Status", k, "invalid", None)),
        }
    };
    let target_url = optional("target_url")?;
    let description = optional("description")?;
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return Err(invalid(
            "Status",
            "description",
            "custom",
            Some("description is too long (maximum is 140 characters)"),
        ));
    }
    let context = optional("context")?.unwrap_or_else(|| "default".into());
    let sha = match git::resolve(&path, &given) {
        Ok(Some(sha)) if sha.starts_with(&given.to_lowercase()) => sha,
        _ => {
            return Err(invalid(
                "Status",
                "sha",
                "custom",
                Some(&format!("No commit found for SHA: {given}")),
            ));
        }
    };
    let mut state = forge.lock();
    let login = reader(&state, &headers)?;
    let id = state.fresh_id();
    let repo = state.repo_mut(&name).map_err(|_| not_found())?;
    let same = repo
        .statuses
        .iter()
        .filter(|s| s.sha == sha && s.context == context)
        .count();
    if same >= 1000 {
        return Err(invalid(
            "Status",
            "context",
            "custom",
            Some("This SHA and context has reached the maximum number of statuses."),
        ));
    }
    let status = StatusRec {
        id,
        sha,
        state: state_field,
        context,
        description,
        target_url,
        creator: login,
        created_at: now(),
    };
    repo.statuses.push(status.clone());
    let repo = state.repo(&name).map_err(|_| not_found())?;
    let out = render::status(&state, repo, &status, true);
    let location = out["url"].as_str().unwrap_or_default().to_owned();
    created(out, &location)
}

/// `GET /repos/{o}/{r}/commits/{ref}/status`: `ref` may hold slashes (a branch `a/b`).
async fn commit_resource(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    uri: Uri,
    Path(p): Params,
    Query(q): QueryMap,
) -> Answer {
    let name = full_name(&p);
    let rest = p.get("rest").cloned().unwrap_or_default();
    let Some(reference) = rest.strip_suffix("/status") else {
        return Err(not_found());
    };
    let path = {
        let state = forge.lock();
        reader(&state, &headers)?;
        state.repos.get(&name).ok_or_else(not_found)?.path.clone()
    };
    let sha = match git::resolve(&path, reference) {
        Ok(Some(sha)) => sha,
        _ => {
            return Err(error(
                StatusCode::NOT_FOUND,
                &format!("No commit found for SHA: {reference}"),
            ));
        }
    };
    let state = forge.lock();
    let repo = state.repos.get(&name).ok_or_else(not_found)?;
    // The latest status of each context, newest first.
    let mut latest: Vec<&StatusRec> = Vec::new();
    for s in repo.statuses.iter().rev().filter(|s| s.sha == sha) {
        if !latest.iter().any(|l| l.context == s.context) {
            latest.push(s);
        }
    }
    let combined = if latest
        .iter()
        .any(|s| s.state == "error" || s.state == "failure")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let (page, link) = paginate(&state, &uri, &q, &latest);
    let body = render::combined_status(&state, repo, &sha, page, latest.len(), combined);
    with_link(body, link)
}

async fn permission(
    State(forge): State<LocalForge>,
    headers: HeaderMap,
    Path(p): Params,
) -> Answer {
    let state = forge.lock();
    reader(&state, &headers)?;
    state.repos.get(&full_name(&p)).ok_or_else(not_found)?;
    let username = p.get("username").cloned().unwrap_or_default();
    let Some(user) = state.users.get(&username) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("{username} is not a user"),
        ));
    };
    let mut u = render::user(&state, &user.login);
    u["permissions"] = json!({
        "admin": user.role >= Role::Admin,
        "maintain": user.role >= Role::Maintain,
        "push": user.role >= Role::Write,
        "triage": user.role >= Role::Triage,
        "pull": user.role >= Role::Read,
    });
    u["role_name"] = json!(user.role.role_name());
    answer(
        StatusCode::OK,
        json!({
            "permission": user.role.permission(),
            "role_name": user.role.role_name(),
            "user": u,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query, and the (per_page, page) it asks for.
    type PageCase = (&'static [(&'static str, &'static str)], (usize, usize));

    #[test]
    fn pages_default_to_30_and_hold_at_most_100() {
        let cases: [PageCase; 6] = [
            (&[], (30, 1)),
            (&[("per_page", "10"), ("page", "3")], (10, 3)),
            (&[("per_page", "500")], (100, 1)),
            (&[("per_page", "0")], (1, 1)),
            (&[("page", "0")], (30, 1)),
            (&[("per_page", "many"), ("page", "x")], (30, 1)),
        ];
        for (query, want) in cases {
            let q: HashMap<String, String> = query
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            assert_eq!(page_of(&q), want, "{query:?}");
        }
    }

    #[test]
    fn credentials_come_from_bearer_or_token_authorization() {
        let cases = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("token abc", Some("abc")),
            ("Basic abc", None),
            ("abc", None),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(credentials(&headers), want, "{value}");
        }
        assert_eq!(credentials(&HeaderMap::new()), None);
    }
}
