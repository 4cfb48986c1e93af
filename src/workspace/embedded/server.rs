//! The embedded workspace's HTTP API: the subset of Segment's Public API that gitsync uses, with
//! the same paths, envelopes, status codes, pagination, errors and rate-limit behaviour.
//!
//! Requests are checked against the provider schema (through [`api`]); a body that does not fit
//! gets 422 with the offending field. Every error answer, axum's own rejections included, is in
//! Segment's `{"errors": [...]}` envelope. Secrets are served masked by the one rule of
//! [`api::mask_secrets`], at any depth of `settings`, however they were stored. A change computed
//! from the stored state is read and written in one transaction ([`Store::modify`]). Created
//! resources get ids in Segment's formats, and the audit trail names the API token as the actor.
//! With [`ServerConfig::rate_limits`], Segment's published per-operation write limits
//! ([`api::WRITE_LIMITS`]) are enforced with Segment's 429. Test hooks under `/_gitsync/` inject
//! rate limiting, server errors and delays into the next requests, or fail the nth write; a
//! refused request never changes the store. Paths come from [`api::paths`] and [`api::ENDPOINTS`],
//! never written here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use super::store::{AuditQuery, AuditRecord, Store, StoreError, Stored, Write};
use crate::model::{AttrType, Attribute, Attributes, Presence, ResourceType, Value};
use crate::workspace::api::{self, Endpoint, paths};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The name of the API token, which the audit trail names as the actor of every change made
    /// through the API (with no `actorEmail`: only people have one), as Segment's does; commit
    /// messages then say `Public API token '<name>'`.
    pub actor: String,
    pub workspace_name: String,
    /// Whether `GET /audit-events` answers. Segment sells the audit trail with its Business tier;
    /// without it the endpoint answers 403, which is what this reproduces when `false`.
    pub audit_trail: bool,
    /// Whether Segment's published per-operation write limits ([`api::WRITE_LIMITS`]) are
    /// enforced: a write over its limit gets 429 as Segment answers it.
    pub rate_limits: bool,
    /// The window of those limits: a minute, as Segment's; shorter in tests.
    pub rate_limit_window: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            token: None,
            actor: DEFAULT_ACTOR.into(),
            workspace_name: DEFAULT_WORKSPACE_NAME.into(),
            audit_trail: true,
            rate_limits: false,
            rate_limit_window: Duration::from_secs(60),
        }
    }
}

/// The name of an embedded workspace whose name was not given (its id is added to it).
pub const DEFAULT_WORKSPACE_NAME: &str = "Embedded Workspace";

/// The token name the embedded workspace's audit trail gives API changes by default.
pub const DEFAULT_ACTOR: &str = "gitsync";

/// Faults injected into the next requests by the test hooks.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    /// The next `count` requests get 429 with `msBeforeNext`.
    #[serde(default)]
    pub rate_limit: Option<RateLimitFault>,
    /// The next `count` requests get this 5xx status.
    #[serde(default)]
    pub server_errors: Option<StatusFault>,
    /// The next `count` requests are held this long before being answered.
    #[serde(default)]
    pub delay: Option<DelayFault>,
    /// The `nth` write (POST, PATCH, PUT or DELETE) from now on is refused and changes nothing.
    #[serde(default)]
    pub fail_write: Option<FailWriteFault>,
    /// Writes seen since the faults were set.
    #[serde(skip)]
    writes_seen: u32,
}

/// Refuses one write: the `nth` (1 = the next) after the fault is set, with `status` and
/// Segment's error envelope (`message`, or a default naming the fault).
#[derive(Debug, Clone, Deserialize)]
pub struct FailWriteFault {
    pub nth: u32,
    pub status: u16,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitFault {
    pub count: u32,
    pub ms_before_next: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatusFault {
    pub count: u32,
    pub status: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DelayFault {
    pub count: u32,
    pub ms: u64,
}

struct AppState {
    store: Store,
    config: ServerConfig,
    workspace_id: String,
    faults: Mutex<Faults>,
    /// When each kind of limited write was last accepted, within the window.
    limits: Mutex<HashMap<(ResourceType, api::WriteOp), std::collections::VecDeque<Instant>>>,
}

type Shared = Arc<AppState>;

/// An API error response.
struct ApiFailure {
    status: StatusCode,
    kind: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiFailure {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status,
            kind,
            message: message.into(),
            field: None,
        }
    }

    fn not_found(what: impl std::fmt::Display) -> ApiFailure {
        ApiFailure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Resource not found: {what}"),
        )
    }

    fn validation(field: impl Into<String>, message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "ValidationFailure",
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> ApiFailure {
        ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerError",
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut error =
            json!({ "type": self.kind, "message": self.message, "status": self.status.as_u16() });
        if let Some(field) = self.field {
            error["field"] = Json::String(field);
        }
        (self.status, axum::Json(json!({ "errors": [error] }))).into_response()
    }
}

type ApiResult = Result<Response, ApiFailure>;

fn data(status: StatusCode, data: Json) -> ApiResult {
    Ok((status, axum::Json(json!({ "data": data }))).into_response())
}

fn ok(data_value: Json) -> ApiResult {
    data(StatusCode::OK, data_value)
}

/// Builds the router over a store.
pub fn router(store: Store, config: ServerConfig) -> Router {
    // Each database is its own workspace, with its own id; a store that cannot say its id (a
    // broken database) still serves, named by its name, and fails on its first real request.
    let workspace_id = store
        .workspace_id()
        .unwrap_or_else(|_| slug(&config.workspace_name));
    let state: Shared = Arc::new(AppState {
        store,
        workspace_id,
        config,
        faults: Mutex::new(Faults::default()),
        limits: Mutex::new(HashMap::new()),
    });
    let mut app = Router::new()
        .route("/", get(workspace))
        .route(paths::AUDIT_EVENTS, get(audit_events))
        .route(
            paths::RULES,
            get(list_rules)
                .put(replace_rules)
                .patch(upsert_rules)
                .delete(remove_rules),
        )
        .route(paths::SOURCE_LABELS, put(replace_labels).post(add_labels))
        .route(paths::GROUP_USERS, get(group_users))
        .route(paths::GROUP_INVITES, get(group_invites))
        .route(paths::GROUP_USERS_REPLACE, put(replace_group_users))
        .route(
            paths::GROUP_PERMISSIONS,
            put(
                |State(s): State<Shared>, Path(id): Path<String>, b: Bytes| {
                    replace_permissions(ResourceType::UserGroup, s, id, b)
                },
            ),
        )
        .route(
            paths::USER_PERMISSIONS,
            put(
                |State(s): State<Shared>, Path(id): Path<String>, b: Bytes| {
                    replace_permissions(ResourceType::User, s, id, b)
                },
            ),
        )
        .route(paths::INVITES, get(list_invites).post(create_invites))
        .route(paths::USERS, axum::routing::delete(delete_users))
        .route(paths::LABEL, axum::routing::delete(delete_label))
        .route(paths::WAREHOUSE_SOURCES, get(warehouse_sources))
        .route(
            paths::WAREHOUSE_SOURCE,
            post(connect_warehouse).delete(disconnect_warehouse),
        )
        .route(
            paths::PLAN_SOURCES,
            get(plan_sources).post(connect_plan).delete(disconnect_plan),
        )
        .route(
            paths::SOURCE_SETTINGS,
            get(schema_settings).patch(update_schema_settings),
        )
        .route(paths::SPACES, get(spaces))
        .route("/_gitsync/faults", post(set_faults));
    for ep in api::ENDPOINTS.iter() {
        let collection = ep.collection.to_owned();
        let list_route = get(move |s, p, q| list(ep, s, p, q));
        let list_route = if ep.ty == ResourceType::User {
            list_route
        } else {
            list_route.post(move |s, p, b| create(ep, s, p, b))
        };
        app = app.route(&collection, list_route);
        if ep.ty != ResourceType::Label {
            let item = axum::routing::patch(move |s, p, b| update(ep, s, p, b))
                .delete(move |s, p| delete_one(ep, s, p));
            let item = if ep.read_by_id {
                item.get(move |s, p| get_one(ep, s, p))
            } else {
                item
            };
            app = app.route(&format!("{collection}/{{id}}"), item);
        }
    }
    app.fallback(|method: Method, uri: axum::http::Uri| async move {
        ApiFailure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no such operation: {method} {}", uri.path()),
        )
    })
    .layer(middleware::from_fn_with_state(state.clone(), guard))
    .layer(DefaultBodyLimit::max(MAX_BODY))
    .layer(middleware::from_fn(envelope))
    .with_state(state)
}

/// The longest request target (path and query) answered; a longer one gets 414. (hyper refuses
/// targets past 64 KiB itself, with a bare 414, before any of this runs.)
const MAX_URI: usize = 16 * 1024;
/// The largest request body taken (axum's default, stated here); a larger one gets 413.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Every error answer in Segment's `{"errors": [...]}` envelope, including those axum makes itself
/// (a method no route has: 405; a body over the limit: 413; a path parameter that is not UTF-8:
/// 400), which come as plain text or empty; and 414 for a target over [`MAX_URI`].
async fn envelope(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(path.len(), |pq| pq.as_str().len());
    if target_len > MAX_URI {
        return ApiFailure::new(
            StatusCode::URI_TOO_LONG,
            "URITooLong",
            format!("the request target is {target_len} bytes long; at most {MAX_URI} are taken"),
        )
        .into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // axum's rejection texts are short; anything past this is cut, not needed for the message.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let detail = if text.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned()
    } else {
        text.trim().to_owned()
    };
    let kind = match status {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        s if s.is_server_error() => "ServerError",
        _ => "RequestError",
    };
    let mut out =
        ApiFailure::new(status, kind, format!("{method} {path}: {detail}")).into_response();
    // The other headers stay (`Allow` on a 405, the rate-limit headers).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

/// Authentication, injected faults and rate-limit headers, for every request.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.config.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(&format!("Bearer {token}")) {
            let message = if given.is_none() {
                "Missing bearer token"
            } else {
                "Invalid bearer token"
            };
            return ApiFailure::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
                .into_response();
        }
    }
    let is_hook = request.uri().path().starts_with("/_gitsync/");
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    let mut remaining = 1000;
    if !is_hook {
        let (delay, fault) = take_fault(&state, is_write);
        if let Some(ms) = delay {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(response) = fault {
            return response;
        }
        if state.config.rate_limits
            && let Some((ty, op)) = api::write_class(request.method(), request.uri().path())
            && let Some(limit) = api::write_limit(ty, op)
        {
            match take_write_slot(&state, (ty, op), limit) {
                Ok(left) => remaining = left,
                Err(wait) => return rate_limited(wait, 0),
            }
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-consumed", HeaderValue::from_static("1"));
    response
}

/// Takes a place in the sliding window of a limited kind of write: the places left, or how long
/// until the oldest place frees.
fn take_write_slot(
    state: &AppState,
    class: (ResourceType, api::WriteOp),
    limit: u32,
) -> Result<u32, Duration> {
    let window = state.config.rate_limit_window;
    let now = Instant::now();
    let mut limits = state.limits.lock().unwrap_or_else(PoisonError::into_inner);
    let taken = limits.entry(class).or_default();
    while taken
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        taken.pop_front();
    }
    let used = u32::try_from(taken.len()).unwrap_or(u32::MAX);
    if used >= limit {
        let oldest = taken.front().copied().unwrap_or(now);
        return Err(window.saturating_sub(now.duration_since(oldest)));
    }
    taken.push_back(now);
    Ok(limit - used - 1)
}

/// Segment's 429: `msBeforeNext` in the error's data and the `X-RateLimit-*` headers.
fn rate_limited(wait: Duration, consumed: u64) -> Response {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let body = json!({ "errors": [{
        "type": "RequestError",
        "message": "Too many requests",
        "data": { "remainingPoints": 0, "msBeforeNext": ms, "consumedPoints": consumed }
    }]});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    headers.insert("x-ratelimit-consumed", HeaderValue::from(consumed));
    if let Some(v) = reset_header(ms) {
        headers.insert("x-ratelimit-reset", v);
    }
    response
}

/// The fault switches. A panic elsewhere while they were held leaves them as they were, so a
/// poisoned lock is taken over rather than silently turning every fault off.
fn faults(state: &AppState) -> MutexGuard<'_, Faults> {
    state.faults.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `X-RateLimit-Reset` time `ms` from now, if HTTP can state it: a date after 9999 (or
/// past `SystemTime`'s range) has no HTTP form, and the header is then left out.
fn reset_header(ms: u64) -> Option<HeaderValue> {
    // 9999-12-31T23:59:59Z, the last time an HTTP date can name.
    const LAST_HTTP_DATE: Duration = Duration::from_secs(253_402_300_799);
    let reset = std::time::SystemTime::now().checked_add(Duration::from_millis(ms))?;
    let since_epoch = reset.duration_since(std::time::UNIX_EPOCH).ok()?;
    if since_epoch > LAST_HTTP_DATE {
        return None;
    }
    HeaderValue::from_str(&httpdate::fmt_http_date(reset)).ok()
}

fn take_fault(state: &AppState, is_write: bool) -> (Option<u64>, Option<Response>) {
    let mut faults = faults(state);
    let mut delay = None;
    if let Some(d) = &mut faults.delay
        && d.count > 0
    {
        d.count -= 1;
        delay = Some(d.ms);
    }
    if is_write && faults.fail_write.is_some() {
        faults.writes_seen += 1;
        let seen = faults.writes_seen;
        if let Some(fail) = faults.fail_write.take_if(|f| f.nth == seen) {
            let status =
                StatusCode::from_u16(fail.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = match status.as_u16() {
                404 => "NotFound",
                422 => "ValidationFailure",
                429 => "RateLimited",
                s if s >= 500 => "ServerError",
                _ => "RequestError",
            };
            let message = fail
                .message
                .unwrap_or_else(|| format!("injected failure of write {seen}"));
            return (
                delay,
                Some(ApiFailure::new(status, kind, message).into_response()),
            );
        }
    }
    if let Some(rl) = &mut faults.rate_limit
        && rl.count > 0
    {
        rl.count -= 1;
        return (
            delay,
            Some(rate_limited(Duration::from_millis(rl.ms_before_next), 21)),
        );
    }
    if let Some(se) = &mut faults.server_errors
        && se.count > 0
    {
        se.count -= 1;
        let status = StatusCode::from_u16(se.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (
            delay,
            Some(ApiFailure::new(status, "ServerError", "injected server error").into_response()),
        );
    }
    (delay, None)
}

async fn set_faults(State(state): State<Shared>, body: Bytes) -> ApiResult {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|e| ApiFailure::validation("body", format!("not a fault description: {e}")))?;
    *self::faults(&state) = faults;
    ok(json!({ "status": "SUCCESS" }))
}

fn slug(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}

async fn workspace(State(state): State<Shared>) -> ApiResult {
    // The default name carries the id, so that two embedded workspaces are told apart by name too.
    let name = if state.config.workspace_name == DEFAULT_WORKSPACE_NAME {
        format!("{DEFAULT_WORKSPACE_NAME} {}", state.workspace_id)
    } else {
        state.config.workspace_name.clone()
    };
    ok(json!({ "workspace": {
        "id": state.workspace_id,
        "slug": slug(&name),
        "name": name,
    }}))
}

// ------------------------------------------------------------------------------------------
// Pagination

const DEFAULT_PAGE: usize = 200;
const MAX_PAGE: usize = 1000;

/// `pagination.count` / `pagination[count]` and the cursor (the last sequence number served).
fn pagination(query: &HashMap<String, String>) -> Result<(usize, i64), ApiFailure> {
    let get = |name: &str| {
        query
            .get(&format!("pagination.{name}"))
            .or_else(|| query.get(&format!("pagination[{name}]")))
    };
    let count = match get("count") {
        None => DEFAULT_PAGE,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiFailure::validation(
                    "pagination.count",
                    "count must be between 1 and 1000",
                ));
            }
        },
    };
    let after = match get("cursor") {
        None => 0,
        Some(c) => c
            .strip_prefix("c_")
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| ApiFailure::validation("pagination.cursor", "invalid cursor"))?,
    };
    Ok((count, after))
}

fn page_info(after: i64, last: Option<i64>, more: bool, total: Option<usize>) -> Json {
    let mut p = json!({ "current": format!("c_{after}"), "next": Json::Null });
    if more && let Some(last) = last {
        p["next"] = Json::String(format!("c_{last}"));
    }
    if after > 0 {
        p["previous"] = Json::String("c_0".into());
    }
    if let Some(total) = total {
        p["totalEntries"] = json!(total);
    }
    p
}

/// A list served whole, in one page: `{"<key>": [...], "pagination": {...}}`.
fn whole_list(key: &str, items: Vec<Json>) -> ApiResult {
    let total = items.len();
    let mut body = Map::new();
    body.insert(key.into(), Json::Array(items));
    body.insert("pagination".into(), page_info(0, None, false, Some(total)));
    ok(Json::Object(body))
}

// ------------------------------------------------------------------------------------------
// Generic resource operations

/// The path of a collection: a nested one names its parent (`/destination/{parent}/filters`).
#[derive(Debug, Deserialize)]
struct CollectionPath {
    parent: Option<String>,
}

/// The path of one resource: its id, under its parent for a nested type.
#[derive(Debug, Deserialize)]
struct ItemPath {
    parent: Option<String>,
    id: String,
}

fn type_key(ep: &Endpoint) -> &'static str {
    ep.ty.terraform_type()
}

/// Inserts the fields that are missing, keeping those present.
fn defaults(object: &mut Map<String, Json>, fields: Json) {
    if let Json::Object(fields) = fields {
        for (k, v) in fields {
            object.entry(k).or_insert(v);
        }
    }
}

fn defaults_in(object: &mut Map<String, Json>, key: &str, fields: Json) {
    if let Some(Json::Object(inner)) = object.get_mut(key) {
        defaults(inner, fields);
    }
}

/// The read-only fields Segment computes (catalog metadata, workspace id, timestamps), filled
/// with neutral values where the embedded workspace has none, so that responses have the
/// published shape.
fn complete_read_shape(ty: ResourceType, object: &mut Map<String, Json>, workspace_id: &str) {
    let metadata = |name: &str| {
        json!({
            "name": name, "slug": slug(name), "description": "",
            "logos": { "default": "" }, "options": [], "categories": []
        })
    };
    let name = object
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_owned();
    match ty {
        ResourceType::Source => {
            defaults(
                object,
                json!({ "workspaceId": workspace_id, "writeKeys": [], "labels": [] }),
            );
            let mut m = metadata(&name);
            if let Json::Object(m) = &mut m {
                m.insert("isCloudEventSource".into(), json!(false));
                m.insert("status".into(), json!("PUBLIC"));
            }
            defaults_in(object, "metadata", m);
        }
        ResourceType::Destination => {
            defaults(
                object,
                json!({ "enabled": false, "settings": {}, "metadata": { "id": "" } }),
            );
            let mut m = metadata(&name);
            if let Json::Object(m) = &mut m {
                for (k, v) in [
                    ("status", json!("PUBLIC")),
                    ("previousNames", json!([])),
                    ("website", json!("")),
                    ("components", json!([])),
                    ("supportedFeatures", json!({})),
                    ("supportedMethods", json!({})),
                    ("supportedPlatforms", json!({})),
                    ("actions", json!([])),
                    ("presets", json!([])),
                ] {
                    m.insert(k.into(), v);
                }
            }
            defaults_in(object, "metadata", m);
            if let Some(Json::Array(contacts)) = object
                .get_mut("metadata")
                .and_then(|m| m.get_mut("contacts"))
            {
                for contact in contacts.iter_mut().filter_map(Json::as_object_mut) {
                    defaults(
                        contact,
                        json!({ "email": "", "name": "", "role": "", "isPrimary": false }),
                    );
                }
            }
            if object.get(api::PLACEHOLDER).is_some() {
                defaults(object, json!({ "sourceId": "" }));
            }
        }
        ResourceType::Warehouse => {
            defaults(object, json!({ "workspaceId": workspace_id }));
            defaults_in(object, "metadata", metadata("Warehouse"));
        }
        ResourceType::DestinationFilter => {
            defaults(object, json!({ "createdAt": EPOCH, "updatedAt": EPOCH }));
        }
        ResourceType::User => defaults(object, json!({ "name": "" })),
        ResourceType::InsertFunctionInstance => {
            let class = object.get("functionId").cloned().unwrap_or(Json::Null);
            defaults(
                object,
                json!({ "classId": class, "encryptedSettings": {}, "createdAt": EPOCH, "updatedAt": EPOCH }),
            );
        }
        _ => {}
    }
    if let Some(Json::Array(permissions)) = object.get_mut("permissions") {
        for permission in permissions.iter_mut().filter_map(Json::as_object_mut) {
            defaults(permission, json!({ "roleName": "" }));
        }
    }
}

/// Creation and update times the embedded workspace does not track.
const EPOCH: &str = "1970-01-01T00:00:00.000Z";

/// The read shape served for a stored object: secrets masked, separately served parts removed,
/// computed fields present.
fn served(ep: &Endpoint, stored: &Stored, listing: bool, workspace_id: &str) -> Json {
    let mut object = stored.object.clone();
    complete_read_shape(ep.ty, &mut object, workspace_id);
    api::mask_object_secrets(&mut object);
    match ep.ty {
        ResourceType::TrackingPlan => {
            object.remove("rules");
        }
        ResourceType::UserGroup => {
            let members = object
                .remove("members")
                .and_then(|m| m.as_array().map(Vec::len))
                .unwrap_or(0);
            object.insert("memberCount".into(), json!(members));
        }
        ResourceType::Function if listing => {
            object.remove("code");
            object.remove("settings");
        }
        _ => {}
    }
    Json::Object(object)
}

async fn list(
    ep: &'static Endpoint,
    State(state): State<Shared>,
    Path(path): Path<CollectionPath>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let parent = path.parent.as_deref();
    check_parent(&state, ep, parent)?;
    if ep.ty == ResourceType::InsertFunctionInstance && !query.contains_key("functionId") {
        return Err(ApiFailure::validation(
            "functionId",
            "functionId is required",
        ));
    }
    if ep.ty == ResourceType::Function && !query.contains_key("resourceType") {
        return Err(ApiFailure::validation(
            "resourceType",
            "resourceType is required",
        ));
    }
    let (count, after) = if ep.paginated {
        pagination(&query)?
    } else {
        (usize::MAX / 2, 0)
    };
    // Listing filters: functions by kind, insert-function instances by function.
    let filter = match ep.ty {
        ResourceType::Function => query.get("resourceType").map(|v| ("resourceType", v)),
        ResourceType::InsertFunctionInstance => query.get("functionId").map(|v| ("functionId", v)),
        _ => None,
    };
    let mut items = Vec::new();
    let mut cursor = after;
    let mut more;
    // Filtering by function resourceType happens after paging the table; keep paging until the
    // page is full so that pages stay `count` long.
    loop {
        let (rows, has_more) = state.store.list(type_key(ep), parent, cursor, count)?;
        more = has_more;
        for row in &rows {
            cursor = row.seq;
            let keep = filter.is_none_or(|(field, value)| {
                row.object.get(field).and_then(Json::as_str) == Some(value.as_str())
            });
            if keep && items.len() < count {
                items.push(served(ep, row, true, &state.workspace_id));
            }
        }
        if !more || items.len() >= count || rows.is_empty() {
            break;
        }
    }
    let mut body = Map::new();
    body.insert(ep.list_key.into(), Json::Array(items));
    if ep.paginated {
        body.insert(
            "pagination".into(),
            page_info(after, Some(cursor), more, None),
        );
    }
    ok(Json::Object(body))
}

async fn get_one(
    ep: &'static Endpoint,
    State(state): State<Shared>,
    Path(path): Path<ItemPath>,
) -> ApiResult {
    let stored = find(ep, &state, &path)?;
    let mut body = Map::new();
    body.insert(
        ep.item_key.into(),
        served(ep, &stored, false, &state.workspace_id),
    );
    if ep.ty == ResourceType::Source {
        body.insert("trackingPlanId".into(), Json::Null);
    }
    ok(Json::Object(body))
}

/// A nested collection's parent must exist; destinations are stored, spaces are not modelled
/// (any space id is accepted).
fn check_parent(state: &AppState, ep: &Endpoint, parent: Option<&str>) -> Result<(), ApiFailure> {
    match (ep.parent, parent) {
        (Some("destination_id"), Some(p))
            if state.store.get("segment_destination", p)?.is_none() =>
        {
            Err(ApiFailure::not_found(format!("destination {p}")))
        }
        _ => Ok(()),
    }
}

fn find(ep: &Endpoint, state: &AppState, path: &ItemPath) -> Result<Stored, ApiFailure> {
    found(ep, path, state.store.get(type_key(ep), &path.id)?)
}

/// The resource a path names, if it is there and under the path's parent.
fn found(ep: &Endpoint, path: &ItemPath, stored: Option<Stored>) -> Result<Stored, ApiFailure> {
    let id = &path.id;
    let stored = stored.ok_or_else(|| ApiFailure::not_found(format!("{} {id}", ep.item_key)))?;
    if let (Some(parent), Some(attr)) = (&path.parent, ep.parent) {
        let field = api::camel_case(attr);
        if stored.object.get(&field).and_then(Json::as_str) != Some(parent.as_str()) {
            return Err(ApiFailure::not_found(format!(
                "{} {id} under {parent}",
                ep.item_key
            )));
        }
    }
    Ok(stored)
}

fn parse_body(body: &Bytes) -> Result<Json, ApiFailure> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiFailure::validation("body", format!("the body is not valid JSON: {e}")))
}

/// Checks a full object against the provider schema: every field the right type, every required
/// attribute present. The 422 names the field.
fn validate(ty: ResourceType, object: &Map<String, Json>) -> Result<(), ApiFailure> {
    let resource = api::from_api(ty, object)
        .map_err(|e| ApiFailure::validation(e.field.clone(), e.to_string()))?;
    // The limit the renderer and the parser hold too: what is stored can be exported and read.
    resource
        .check_nesting()
        .map_err(|e| ApiFailure::validation(api::camel_case(&e.attribute), e.to_string()))?;
    if let Some(field) = missing_required(ty.kind().attributes, &resource.attributes, "") {
        return Err(ApiFailure::validation(
            field.clone(),
            format!("`{field}` is required"),
        ));
    }
    Ok(())
}

/// The first required attribute missing at any depth (`actions[0].type`), as the API names it.
fn missing_required(schema: &[Attribute], attrs: &Attributes, prefix: &str) -> Option<String> {
    for attr in schema.iter().filter(|a| a.is_configurable()) {
        let field = format!("{prefix}{}", api::camel_case(attr.name));
        let missing = match (attrs.get(attr.name), &attr.ty) {
            (None | Some(Value::Null), _) if attr.presence == Presence::Required => Some(field),
            (Some(Value::Object(nested)), AttrType::Object(schema)) => {
                missing_required(schema, nested, &format!("{field}."))
            }
            (
                Some(Value::List(items)),
                AttrType::ObjectList(schema) | AttrType::ObjectSet(schema),
            ) => items.iter().enumerate().find_map(|(i, item)| match item {
                Value::Object(nested) => {
                    missing_required(schema, nested, &format!("{field}[{i}]."))
                }
                _ => None,
            }),
            _ => None,
        };
        if missing.is_some() {
            return missing;
        }
    }
    None
}

fn display_name(object: &Map<String, Json>) -> String {
    ["name", "title", "displayName", "email", "key"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Json::as_str))
        .unwrap_or_default()
        .to_owned()
}

fn audit(
    state: &AppState,
    ty: ResourceType,
    id: &str,
    verb: &str,
    object: &Map<String, Json>,
) -> AuditRecord {
    let (resource_type, noun) = api::audit_names(ty);
    AuditRecord {
        kind: format!("{noun} {verb}"),
        actor: state.config.actor.clone(),
        resource_id: id.to_owned(),
        resource_type: resource_type.to_owned(),
        resource_name: display_name(object),
    }
}

fn new_id(ty: ResourceType, object: &Map<String, Json>) -> String {
    match ty {
        ResourceType::Destination => super::ids::random_hex(24),
        ResourceType::TrackingPlan => format!("tp_{}", super::ids::ksuid()),
        ResourceType::DestinationFilter
        | ResourceType::Transformation
        | ResourceType::UserGroup => super::ids::ksuid(),
        ResourceType::Function => {
            let prefix = match object.get("resourceType").and_then(Json::as_str) {
                Some("SOURCE") => "sfnc",
                Some("DESTINATION") => "dfn",
                Some("INSERT_SOURCE") => "ifns",
                _ => "ifnd",
            };
            format!("{prefix}_{}", super::ids::random_hex(24))
        }
        ResourceType::Label => {
            let key = object.get("key").and_then(Json::as_str).unwrap_or_default();
            let value = object
                .get("value")
                .and_then(Json::as_str)
                .unwrap_or_default();
            format!("{key}:{value}")
        }
        _ => super::ids::random_base62(22),
    }
}

async fn create(
    ep: &'static Endpoint,
    State(state): State<Shared>,
    Path(path): Path<CollectionPath>,
    body: Bytes,
) -> ApiResult {
    let parent = path.parent;
    check_parent(&state, ep, parent.as_deref())?;
    let body = parse_body(&body)?;
    let mut object = api::object_from_create(ep.ty, parent.as_deref(), &body);
    // Segment fills a new resource's metadata from its catalog; the embedded workspace's
    // catalog is what it already holds.
    let metadata_id = object
        .get("metadata")
        .and_then(|m| m.get("id"))
        .and_then(Json::as_str)
        .map(str::to_owned);
    if let Some(metadata_id) = metadata_id
        && let Some(metadata) = state.store.catalog_metadata(type_key(ep), &metadata_id)?
    {
        object.insert("metadata".into(), metadata);
    }
    let id = new_id(ep.ty, &object);
    if ep.ty != ResourceType::Label {
        object.insert("id".into(), Json::String(id.clone()));
    }
    validate(ep.ty, &object)?;
    let record = audit(&state, ep.ty, &id, "Created", &object);
    // A label's id is its key and value: whether it exists is checked in the transaction that
    // writes it, so two concurrent creates cannot both succeed.
    state.store.modify(type_key(ep), &id, |current| {
        if ep.ty == ResourceType::Label && current.is_some() {
            return Err(ApiFailure::validation(
                "label",
                format!("the label {id} already exists"),
            ));
        }
        let write = Write {
            parent: parent.clone(),
            object: object.clone(),
            audit: record,
        };
        Ok((write, ()))
    })?;
    let stored = Stored { seq: 0, object };
    let mut out = Map::new();
    out.insert(
        ep.create_key.into(),
        served(ep, &stored, false, &state.workspace_id),
    );
    data(
        StatusCode::from_u16(ep.create_status).unwrap_or(StatusCode::OK),
        Json::Object(out),
    )
}

async fn update(
    ep: &'static Endpoint,
    State(state): State<Shared>,
    Path(path): Path<ItemPath>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let id = path.id.clone();
    let parent = path.parent.clone();
    // Read, change and write in one transaction: a concurrent PATCH of another field of the same
    // resource must not be lost between the read and the write.
    let stored = state.store.modify(type_key(ep), &id, |current| {
        let stored = found(ep, &path, current)?;
        let mut object = stored.object.clone();
        api::apply_update(ep.ty, &mut object, &body)
            .map_err(|e| ApiFailure::validation(e.field.clone(), e.to_string()))?;
        keep_masked_secrets(&stored.object, &mut object);
        validate(ep.ty, &object)?;
        let verb = match (stored.object.get("enabled"), object.get("enabled")) {
            // Segment records every change of a transformation, a toggle too, as "Updated".
            _ if ep.ty == ResourceType::Transformation => "Updated",
            (Some(Json::Bool(false)), Some(Json::Bool(true))) => "Enabled",
            (Some(Json::Bool(true)), Some(Json::Bool(false))) => "Disabled",
            _ => "Modified",
        };
        let write = Write {
            parent,
            audit: audit(&state, ep.ty, &id, verb, &object),
            object: object.clone(),
        };
        Ok::<_, ApiFailure>((
            write,
            Stored {
                seq: stored.seq,
                object,
            },
        ))
    })?;
    if ep.ty == ResourceType::TrackingPlan {
        return ok(json!({ "status": "SUCCESS" }));
    }
    let mut out = Map::new();
    out.insert(
        ep.item_key.into(),
        served(ep, &stored, false, &state.workspace_id),
    );
    ok(Json::Object(out))
}

/// A client that writes back the masked value it read means "unchanged", as the provider does.
fn keep_masked_secrets(old: &Map<String, Json>, object: &mut Map<String, Json>) {
    if let (Some(old), Some(new)) = (old.get("settings"), object.get_mut("settings")) {
        api::unmask_unchanged(old, new);
    }
}

async fn delete_one(
    ep: &'static Endpoint,
    State(state): State<Shared>,
    Path(path): Path<ItemPath>,
) -> ApiResult {
    let stored = find(ep, &state, &path)?;
    let id = path.id.clone();
    let record = audit(&state, ep.ty, &id, "Deleted", &stored.object);
    state.store.delete(type_key(ep), &id, &record)?;
    ok(json!({ "status": "SUCCESS" }))
}

// ------------------------------------------------------------------------------------------
// Operations outside the generic pattern

/// The endpoint of a type an operation serves. A type without one is a bug in the router, and
/// answered as a server error naming it, never with another type's data.
fn endpoint_of(ty: ResourceType) -> Result<&'static Endpoint, ApiFailure> {
    api::endpoint(ty).ok_or_else(|| {
        ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerError",
            format!("the embedded workspace has no endpoint for {ty}"),
        )
    })
}

/// Replaces one field of a stored object (labels, rules, members, permissions) and records it.
fn replace_field(
    state: &AppState,
    ty: ResourceType,
    id: &str,
    field: &str,
    value: Json,
) -> Result<Stored, ApiFailure> {
    change_field(state, ty, id, |object| {
        object.insert(field.into(), value);
    })
}

/// Changes a stored object in one transaction (read, change, validate, write, audit event).
fn change_field(
    state: &AppState,
    ty: ResourceType,
    id: &str,
    change: impl FnOnce(&mut Map<String, Json>),
) -> Result<Stored, ApiFailure> {
    let ep = endpoint_of(ty)?;
    state.store.modify(type_key(ep), id, |current| {
        let mut stored =
            current.ok_or_else(|| ApiFailure::not_found(format!("{} {id}", ep.item_key)))?;
        change(&mut stored.object);
        validate(ty, &stored.object)?;
        let parent = ep
            .parent
            .and_then(|p| {
                stored
                    .object
                    .get(&api::camel_case(p))
                    .and_then(Json::as_str)
            })
            .map(str::to_owned);
        let write = Write {
            parent,
            audit: audit(state, ty, id, "Modified", &stored.object),
            object: stored.object.clone(),
        };
        Ok((write, stored))
    })
}

fn array_field(body: &Json, name: &str) -> Result<Json, ApiFailure> {
    match body.get(name) {
        Some(v @ Json::Array(_)) => Ok(v.clone()),
        _ => Err(ApiFailure::validation(
            name,
            format!("`{name}` must be an array"),
        )),
    }
}

/// Replaces one array field of a stored object with the array `body_key` of a request body;
/// returns the stored object and the array.
fn replace_from_body(
    state: &AppState,
    ty: ResourceType,
    id: &str,
    body: &Bytes,
    body_key: &str,
    field: &str,
) -> Result<(Stored, Json), ApiFailure> {
    let value = array_field(&parse_body(body)?, body_key)?;
    let stored = replace_field(state, ty, id, field, value.clone())?;
    Ok((stored, value))
}

async fn list_rules(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let ep = endpoint_of(ResourceType::TrackingPlan)?;
    let stored = state
        .store
        .get(type_key(ep), &id)?
        .ok_or_else(|| ApiFailure::not_found(format!("tracking plan {id}")))?;
    let (count, after) = pagination(&query)?;
    let rules = stored
        .object
        .get("rules")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let start = usize::try_from(after).unwrap_or(0).min(rules.len());
    let end = (start + count).min(rules.len());
    let page = &rules[start..end];
    let more = end < rules.len();
    ok(
        json!({ "rules": page, "pagination": page_info(after, Some(end as i64), more, Some(rules.len())) }),
    )
}

async fn replace_rules(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    // As Segment: a replace of more than one page of rules is refused.
    let count = parse_body(&body)?
        .get("rules")
        .and_then(Json::as_array)
        .map_or(0, Vec::len);
    if count > api::MAX_RULES_PER_REQUEST {
        return Err(ApiFailure::validation(
            "rules",
            format!("at most {} rules per request", api::MAX_RULES_PER_REQUEST),
        ));
    }
    replace_from_body(
        &state,
        ResourceType::TrackingPlan,
        &id,
        &body,
        "rules",
        "rules",
    )?;
    ok(json!({ "status": "SUCCESS" }))
}

/// `PATCH .../rules`: adds the rules whose (type, key) is new, replaces the others.
async fn upsert_rules(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let upserts = array_field(&parse_body(&body)?, "rules")?;
    let upserts = upserts.as_array().cloned().unwrap_or_default();
    if upserts.len() > api::MAX_RULES_PER_REQUEST {
        return Err(ApiFailure::validation(
            "rules",
            format!("at most {} rules per request", api::MAX_RULES_PER_REQUEST),
        ));
    }
    change_field(&state, ResourceType::TrackingPlan, &id, |object| {
        let rules = object.entry("rules").or_insert_with(|| json!([]));
        if let Json::Array(rules) = rules {
            for rule in upserts {
                let key = api::rule_key(&rule);
                match rules.iter_mut().find(|r| api::rule_key(r) == key) {
                    Some(existing) => *existing = rule,
                    None => rules.push(rule),
                }
            }
        }
    })?;
    ok(json!({ "status": "SUCCESS" }))
}

/// `DELETE .../rules?rules.0.type=TRACK&rules.0.key=...`: removes rules by (type, key).
async fn remove_rules(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let mut keys = Vec::new();
    for i in 0.. {
        let Some(ty) = query.get(&format!("rules.{i}.type")) else {
            break;
        };
        let key = query
            .get(&format!("rules.{i}.key"))
            .cloned()
            .unwrap_or_default();
        keys.push((ty.clone(), key));
    }
    if keys.is_empty() {
        return Err(ApiFailure::validation("rules", "rules is required"));
    }
    change_field(&state, ResourceType::TrackingPlan, &id, |object| {
        if let Some(Json::Array(rules)) = object.get_mut("rules") {
            rules.retain(|r| !keys.contains(&api::rule_key(r)));
        }
    })?;
    ok(json!({ "status": "SUCCESS" }))
}

async fn replace_labels(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let (stored, _) =
        replace_from_body(&state, ResourceType::Source, &id, &body, "labels", "labels")?;
    ok(json!({ "labels": stored.object.get("labels") }))
}

async fn add_labels(State(state): State<Shared>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let added = array_field(&parse_body(&body)?, "labels")?;
    let stored = change_field(&state, ResourceType::Source, &id, |object| {
        let mut labels = object
            .get("labels")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        for label in added.as_array().into_iter().flatten() {
            if !labels.contains(label) {
                labels.push(label.clone());
            }
        }
        object.insert("labels".into(), Json::Array(labels));
    })?;
    ok(json!({ "labels": stored.object.get("labels") }))
}

fn group(state: &AppState, id: &str) -> Result<Stored, ApiFailure> {
    state
        .store
        .get(type_key(endpoint_of(ResourceType::UserGroup)?), id)?
        .ok_or_else(|| ApiFailure::not_found(format!("user group {id}")))
}

async fn group_users(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let stored = group(&state, &id)?;
    let users: Vec<Json> = stored
        .object
        .get("members")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .map(|email| json!({ "id": format!("u_{}", api::encode_segment(email)), "name": email, "email": email }))
        .collect();
    whole_list("users", users)
}

async fn group_invites(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult {
    group(&state, &id)?;
    // The embedded workspace accepts invitations at once: every member is a user.
    whole_list("emails", Vec::new())
}

async fn replace_group_users(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let (stored, _) = replace_from_body(
        &state,
        ResourceType::UserGroup,
        &id,
        &body,
        "emails",
        "members",
    )?;
    let group = served(
        endpoint_of(ResourceType::UserGroup)?,
        &stored,
        false,
        &state.workspace_id,
    );
    ok(json!({ "userGroup": group }))
}

/// `PUT /users/{id}/permissions` and `PUT /groups/{id}/permissions`.
async fn replace_permissions(
    ty: ResourceType,
    state: Shared,
    id: String,
    body: Bytes,
) -> ApiResult {
    let (_, permissions) = replace_from_body(&state, ty, &id, &body, "permissions", "permissions")?;
    ok(json!({ "permissions": permissions }))
}

/// `GET /invites`: the pending invitations. The embedded workspace accepts every invitation at
/// once (the invited user is a user), so none is pending.
async fn list_invites(Query(query): Query<HashMap<String, String>>) -> ApiResult {
    let (_, after) = pagination(&query)?;
    ok(json!({ "invites": [], "pagination": page_info(after, None, false, Some(0)) }))
}

async fn create_invites(State(state): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let invites = array_field(&body, "invites")?;
    let ep = endpoint_of(ResourceType::User)?;
    let mut emails = Vec::new();
    for (i, invite) in invites.as_array().into_iter().flatten().enumerate() {
        let email = invite
            .get("email")
            .and_then(Json::as_str)
            .filter(|e| e.contains('@'));
        let email = email.ok_or_else(|| {
            ApiFailure::validation(format!("invites[{i}].email"), "a valid email is required")
        })?;
        let (users, _) = state.store.list(type_key(ep), None, 0, usize::MAX / 2)?;
        if users
            .iter()
            .any(|u| u.object.get("email").and_then(Json::as_str) == Some(email))
        {
            return Err(ApiFailure::validation(
                format!("invites[{i}].email"),
                format!("{email} is already a member of the workspace"),
            ));
        }
        let id = super::ids::random_base62(22);
        let mut object = Map::new();
        object.insert("id".into(), Json::String(id.clone()));
        object.insert("email".into(), Json::String(email.to_owned()));
        object.insert("name".into(), Json::String(String::new()));
        object.insert(
            "permissions".into(),
            api::permissions_from_invite(invite.get("permissions").unwrap_or(&json!([]))),
        );
        validate(ResourceType::User, &object)?;
        let record = audit(&state, ResourceType::User, &id, "Created", &object);
        state
            .store
            .put(type_key(ep), &id, None, &object, Some(&record))?;
        emails.push(Json::String(email.to_owned()));
    }
    data(StatusCode::CREATED, json!({ "emails": emails }))
}

/// `DELETE /users?userIds.0=a&userIds.1=b`
async fn delete_users(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let ep = endpoint_of(ResourceType::User)?;
    let mut ids: Vec<(usize, &String)> = query
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("userIds.")
                .and_then(|i| i.parse().ok())
                .map(|i| (i, v))
        })
        .collect();
    if ids.is_empty() {
        return Err(ApiFailure::validation("userIds", "userIds is required"));
    }
    ids.sort();
    for (_, id) in ids {
        let stored = state
            .store
            .get(type_key(ep), id)?
            .ok_or_else(|| ApiFailure::not_found(format!("user {id}")))?;
        let record = audit(&state, ResourceType::User, id, "Deleted", &stored.object);
        state.store.delete(type_key(ep), id, &record)?;
    }
    ok(json!({ "status": "SUCCESS" }))
}

async fn delete_label(
    State(state): State<Shared>,
    Path((key, value)): Path<(String, String)>,
) -> ApiResult {
    let ep = endpoint_of(ResourceType::Label)?;
    let id = format!("{key}:{value}");
    let stored = state
        .store
        .get(type_key(ep), &id)?
        .ok_or_else(|| ApiFailure::not_found(format!("label {id}")))?;
    let record = audit(&state, ResourceType::Label, &id, "Deleted", &stored.object);
    state.store.delete(type_key(ep), &id, &record)?;
    ok(json!({ "status": "SUCCESS" }))
}

async fn audit_events(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    if !state.config.audit_trail {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The Audit Trail is not available on this workspace's plan",
        ));
    }
    let (count, after) = pagination(&query)?;
    let q = AuditQuery {
        start_time: query.get("startTime").cloned(),
        end_time: query.get("endTime").cloned(),
        resource_id: query.get("resourceId").cloned(),
        resource_type: query.get("resourceType").cloned(),
        after_seq: after,
        limit: count,
    };
    let (events, more) = state.store.audit_events(&q)?;
    let last = events.last().map(|(seq, _)| *seq);
    let events = events
        .into_iter()
        .map(|(_, e)| serde_json::to_value(e))
        .collect::<Result<Vec<Json>, _>>()
        .map_err(|e| {
            ApiFailure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerError",
                format!("an audit event cannot be served: {e}"),
            )
        })?;
    ok(json!({ "events": events, "pagination": page_info(after, last, more, None) }))
}

// ------------------------------------------------------------------------------------------
// Connections (source <-> warehouse, source <-> tracking plan) and source schema settings

const WAREHOUSE_CONNECTION: &str = "segment_source_warehouse_connection";
const PLAN_CONNECTION: &str = "segment_source_tracking_plan_connection";
/// Storage type of a source's schema settings (`/sources/{id}/settings`).
const SCHEMA_SETTINGS: &str = "source_schema_settings";

fn existing(state: &AppState, ty: ResourceType, id: &str) -> Result<Stored, ApiFailure> {
    let ep = endpoint_of(ty)?;
    state
        .store
        .get(ty.terraform_type(), id)?
        .ok_or_else(|| ApiFailure::not_found(format!("{} {id}", ep.item_key)))
}

/// The sources connected to a parent, as full source objects.
fn connected_sources(
    state: &AppState,
    connection: &str,
    parent: &str,
) -> Result<Vec<Json>, ApiFailure> {
    let (rows, _) = state
        .store
        .list(connection, Some(parent), 0, usize::MAX / 2)?;
    let mut sources = Vec::new();
    for row in rows {
        let sid = row
            .object
            .get("sourceId")
            .and_then(Json::as_str)
            .unwrap_or_default();
        if let Some(source) = state.store.get("segment_source", sid)? {
            sources.push(served(
                endpoint_of(ResourceType::Source)?,
                &source,
                true,
                &state.workspace_id,
            ));
        }
    }
    Ok(sources)
}

fn connect(
    state: &AppState,
    connection: &str,
    (parent_ty, parent_field, parent): (ResourceType, &str, &str),
    source: &str,
) -> Result<(), ApiFailure> {
    existing(state, parent_ty, parent)?;
    let record = source_modified(state, source)?;
    let mut object = Map::new();
    object.insert("sourceId".into(), json!(source));
    object.insert(parent_field.into(), json!(parent));
    state.store.put(
        connection,
        &format!("{source}:{parent}"),
        Some(parent),
        &object,
        Some(&record),
    )?;
    Ok(())
}

/// The audit event of a source whose connections change (Segment records it as the source being
/// modified); the source must exist.
fn source_modified(state: &AppState, source: &str) -> Result<AuditRecord, ApiFailure> {
    let stored_source = existing(state, ResourceType::Source, source)?;
    Ok(audit(
        state,
        ResourceType::Source,
        source,
        "Modified",
        &stored_source.object,
    ))
}

fn disconnect(
    state: &AppState,
    connection: &str,
    parent: &str,
    source: &str,
) -> Result<(), ApiFailure> {
    let record = source_modified(state, source)?;
    if !state
        .store
        .delete(connection, &format!("{source}:{parent}"), &record)?
    {
        return Err(ApiFailure::not_found(format!(
            "connection of source {source} to {parent}"
        )));
    }
    Ok(())
}

/// `GET /warehouses/{id}/connected-sources` and `GET /tracking-plans/{id}/sources`.
fn sources_of(state: &AppState, parent_ty: ResourceType, connection: &str, id: &str) -> ApiResult {
    existing(state, parent_ty, id)?;
    whole_list("sources", connected_sources(state, connection, id)?)
}

async fn warehouse_sources(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult {
    sources_of(&state, ResourceType::Warehouse, WAREHOUSE_CONNECTION, &id)
}

async fn connect_warehouse(
    State(state): State<Shared>,
    Path((id, source)): Path<(String, String)>,
) -> ApiResult {
    connect(
        &state,
        WAREHOUSE_CONNECTION,
        (ResourceType::Warehouse, "warehouseId", &id),
        &source,
    )?;
    data(StatusCode::CREATED, json!({ "status": "CONNECTED" }))
}

async fn disconnect_warehouse(
    State(state): State<Shared>,
    Path((id, source)): Path<(String, String)>,
) -> ApiResult {
    disconnect(&state, WAREHOUSE_CONNECTION, &id, &source)?;
    ok(json!({ "status": "SUCCESS" }))
}

async fn plan_sources(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult {
    sources_of(&state, ResourceType::TrackingPlan, PLAN_CONNECTION, &id)
}

async fn connect_plan(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let source = body
        .get("sourceId")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiFailure::validation("sourceId", "sourceId is required"))?;
    connect(
        &state,
        PLAN_CONNECTION,
        (ResourceType::TrackingPlan, "trackingPlanId", &id),
        source,
    )?;
    ok(json!({ "status": "SUCCESS" }))
}

async fn disconnect_plan(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let source = query
        .get("sourceId")
        .ok_or_else(|| ApiFailure::validation("sourceId", "sourceId is required"))?;
    disconnect(&state, PLAN_CONNECTION, &id, source)?;
    ok(json!({ "status": "SUCCESS" }))
}

async fn schema_settings(State(state): State<Shared>, Path(id): Path<String>) -> ApiResult {
    existing(&state, ResourceType::Source, &id)?;
    let settings = state
        .store
        .get(SCHEMA_SETTINGS, &id)?
        .map(|s| Json::Object(s.object))
        .unwrap_or_else(|| json!({}));
    ok(json!({ "sourceId": id, "settings": settings }))
}

async fn update_schema_settings(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let source = existing(&state, ResourceType::Source, &id)?;
    let Json::Object(patch) = parse_body(&body)? else {
        return Err(ApiFailure::validation("body", "the body must be an object"));
    };
    let record = audit(
        &state,
        ResourceType::Source,
        &id,
        "Settings Modified",
        &source.object,
    );
    let settings = state.store.modify(SCHEMA_SETTINGS, &id, |current| {
        let mut settings = current.map(|s| s.object).unwrap_or_default();
        for (k, v) in patch {
            settings.insert(k, v);
        }
        // Checked against the provider's schema_settings attribute.
        let mut probe = Map::new();
        probe.insert("sourceId".into(), json!(id));
        probe.insert("trackingPlanId".into(), json!(""));
        probe.insert("schemaSettings".into(), Json::Object(settings.clone()));
        api::from_api(ResourceType::SourceTrackingPlanConnection, &probe)
            .map_err(|e| ApiFailure::validation(e.field.clone(), e.to_string()))?;
        let write = Write {
            parent: None,
            object: settings.clone(),
            audit: record,
        };
        Ok::<_, ApiFailure>((write, settings))
    })?;
    ok(json!({ "sourceId": id, "settings": settings }))
}

/// The spaces the embedded workspace knows: those its profiles warehouses name.
async fn spaces(State(state): State<Shared>) -> ApiResult {
    let (rows, _) = state.store.list(
        ResourceType::ProfilesWarehouse.terraform_type(),
        None,
        0,
        usize::MAX / 2,
    )?;
    let mut ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.object.get("spaceId").and_then(Json::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let spaces: Vec<Json> = ids
        .iter()
        .map(|id| json!({ "id": id, "name": id, "slug": id }))
        .collect();
    whole_list("spaces", spaces)
}
