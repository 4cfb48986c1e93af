//! The HTTP client for Segment's Public API (US, EU, or any base URL such as the embedded
//! workspace).
//!
//! It owns what Segment's answers mean: the bearer token, media types, the `{"data": ...}`
//! envelope, cursor pagination and typed errors. How to send (timeouts, retries with jittered
//! backoff on 429, 5xx and transport failures, the server's rate-limit waits, never a blind
//! repeat of a create) is [`crate::http`]'s, told only where Segment puts its wait
//! (`errors[0].data.msBeforeNext`, before `X-RateLimit-Reset`) and that its 403 only ever means
//! forbidden.
//!
//! It never hands on a clear secret: every full object it returns is masked by the rule of
//! [`api::mask_secrets`], whatever the workspace served. A listing whose cursors repeat or never
//! end fails instead of running forever. A token that cannot be an HTTP header fails
//! [`Client::new`], before anything is sent.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Map, Value as Json, json};

use super::api::{self, Endpoint, Media, paths};
use super::{ApiError, AuditEvent, Workspace, WorkspaceError};
use crate::http::{Http, HttpConfig, HttpError, RateLimits, Request, Response};
use crate::model::{ImportId, Resource, ResourceType, Value};

pub use crate::http::RequestObserver;

/// Segment's US endpoint.
pub const US_BASE_URL: &str = "https://api.segmentapis.com";
/// Segment's EU endpoint.
pub const EU_BASE_URL: &str = "https://eu1.api.segmentapis.com";

/// The most pages one listing follows by default: far more than any workspace has (at the
/// default page size, 20 million objects), few enough that a server whose cursors never end
/// is noticed.
const MAX_PAGES: usize = 100_000;

/// How Segment rate-limits: a 429 whose first error gives the wait (`msBeforeNext`); a 403 is
/// never a rate limit, only a token without the access.
const SEGMENT_RATE_LIMITS: RateLimits = RateLimits {
    forbidden_may_be_rate_limit: false,
    body_wait: Some(ms_before_next),
};

/// How to reach a workspace.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.segmentapis.com`, `https://eu1.api.segmentapis.com`, or any URL.
    pub base_url: String,
    pub token: String,
    /// Where the token came from (`--token-file /run/secrets/segment`), for error messages.
    pub token_source: String,
    /// Per request.
    pub timeout: Duration,
    /// Attempts per request, including the first.
    pub max_attempts: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// `pagination.count`, 1..=1000.
    pub page_size: usize,
    /// The most pages one listing follows before it fails as endless.
    pub max_pages: usize,
    /// Requests in flight at once when one listing needs many (per destination, per item).
    pub concurrency: usize,
    /// Told of every response and rate-limit wait (the operator's metrics); `None` by default.
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientConfig {
    pub fn new(
        base_url: impl Into<String>,
        token: impl Into<String>,
        token_source: impl Into<String>,
    ) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            token_source: token_source.into(),
            timeout: Duration::from_secs(30),
            max_attempts: 6,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            page_size: 200,
            max_pages: MAX_PAGES,
            concurrency: 8,
            observer: None,
        }
    }

    /// Resolves `us`, `eu` or a URL to a base URL.
    pub fn base_url_for(region_or_url: &str) -> String {
        match region_or_url {
            "us" | "US" => US_BASE_URL.to_owned(),
            "eu" | "EU" => EU_BASE_URL.to_owned(),
            url => url.trim_end_matches('/').to_owned(),
        }
    }
}

/// Counters for metrics and tests: requests (attempts), retries, rate-limited waits.
pub type ClientStats = crate::http::HttpStats;

/// A client for one workspace. Cheap to clone; clones share their [`ClientStats`].
#[derive(Clone)]
pub struct Client {
    http: Http,
    /// `Bearer <token>`, marked sensitive.
    auth: HeaderValue,
    config: Arc<ClientConfig>,
}

impl Client {
    /// Fails, before anything is sent, when the token cannot be an HTTP header value (a line
    /// break or another control character in it): no retry could ever fix that.
    pub fn new(config: ClientConfig) -> Result<Client, WorkspaceError> {
        let config_error = |problem: String| WorkspaceError::Config {
            base_url: crate::url::redacted(&config.base_url),
            problem,
        };
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token)).map_err(|_| {
            config_error(format!(
                "the token from {} cannot be sent in an HTTP header: it holds a line break or another control character; check that {} holds the token alone, on one line",
                config.token_source, config.token_source
            ))
        })?;
        // Kept out of debug output and marked for HTTP/2 header compression to never index.
        auth.set_sensitive(true);
        let mut http = Http::new(HttpConfig {
            timeout: config.timeout,
            max_attempts: config.max_attempts,
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff,
        })
        .map_err(|e| config_error(e.to_string()))?
        .with_rate_limits(SEGMENT_RATE_LIMITS);
        if let Some(observer) = &config.observer {
            http = http.with_observer(Arc::clone(observer));
        }
        Ok(Client {
            http,
            auth,
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn stats(&self) -> &ClientStats {
        self.http.stats()
    }

    /// One API call with retries; returns the `data` member of the response.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Json>,
        media: Media,
    ) -> Result<Json, WorkspaceError> {
        let url = format!("{}{path}", self.config.base_url);
        let mut request = Request::new(method.clone(), url)
            .header(
                "accept",
                &format!("{}, application/json", media.content_type()),
            )
            .map_err(|e| self.http_error(&method, path, e))?
            .query(query);
        request.headers.insert(AUTHORIZATION, self.auth.clone());
        if let Some(body) = body {
            request = request.json_as(body, media.content_type());
        }
        let response = self
            .http
            .send(&request)
            .await
            .map_err(|e| self.http_error(&method, path, e))?;
        let json = self.read(&method, path, &request, &response)?;
        Ok(json.get("data").cloned().unwrap_or(json))
    }

    /// What an answer [`Http`] does not retry means: the JSON of a 2xx, else the typed error.
    fn read(
        &self,
        method: &Method,
        path: &str,
        request: &Request,
        response: &Response,
    ) -> Result<Json, WorkspaceError> {
        let status = response.status;
        let json: Option<Json> = response.json().ok();
        let errors = || -> Vec<ApiError> {
            json.as_ref()
                .and_then(|j| j.get("errors"))
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_else(|| {
                    // Not the API's error document: it may echo the request (see `shown`).
                    vec![ApiError {
                        kind: "Unknown".into(),
                        message: Some(response.shown(request)),
                        field: None,
                    }]
                })
        };
        match status {
            200..=299 => match json {
                Some(j) => Ok(j),
                None if response.body.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
                None => Err(WorkspaceError::InvalidResponse {
                    method: method.to_string(),
                    path: path.to_owned(),
                    problem: format!("the body is not JSON: {}", response.shown(request)),
                }),
            },
            401 | 403 => Err(WorkspaceError::Unauthorized {
                base_url: crate::url::redacted(&self.config.base_url),
                token_source: self.config.token_source.clone(),
                status,
                message: errors()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            404 => Err(WorkspaceError::NotFound {
                method: method.to_string(),
                path: path.to_owned(),
                errors: errors(),
            }),
            _ => Err(WorkspaceError::Rejected {
                method: method.to_string(),
                path: path.to_owned(),
                status,
                errors: errors(),
            }),
        }
    }

    /// The workspace's error for a request [`Http`] gave up on.
    fn http_error(&self, method: &Method, path: &str, error: HttpError) -> WorkspaceError {
        let (method, path) = (method.to_string(), path.to_owned());
        match error {
            HttpError::RateLimited { attempts, .. } => WorkspaceError::RateLimited {
                method,
                path,
                attempts,
            },
            HttpError::Server {
                status,
                attempts,
                body,
                ..
            } => WorkspaceError::Server {
                method,
                path,
                status,
                attempts,
                body,
            },
            HttpError::Transport {
                attempts,
                problem,
                may_have_acted,
                ..
            } => WorkspaceError::Transport {
                method,
                path,
                base_url: crate::url::redacted(&self.config.base_url),
                attempts,
                problem: if may_have_acted {
                    format!(
                        "{problem}; the create may or may not have happened, so it was not repeated"
                    )
                } else {
                    problem
                },
            },
            e @ (HttpError::BadHeader { .. } | HttpError::Client(_)) => WorkspaceError::Config {
                base_url: crate::url::redacted(&self.config.base_url),
                problem: e.to_string(),
            },
        }
    }

    /// Every object of a list endpoint, following `pagination.next`. A cursor that comes back (a
    /// server whose cursors cycle) or more than `max_pages` pages fail the listing rather than
    /// read it forever.
    pub async fn list_objects(
        &self,
        path: &str,
        list_key: &str,
        paginated: bool,
        extra_query: &[(String, String)],
        media: Media,
    ) -> Result<Vec<Map<String, Json>>, WorkspaceError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut query = extra_query.to_vec();
            if paginated {
                query.push(("pagination.count".into(), self.config.page_size.to_string()));
                if let Some(c) = &cursor {
                    query.push(("pagination.cursor".into(), c.clone()));
                }
            }
            let data = self.call(Method::GET, path, &query, None, media).await?;
            let items = data.get(list_key).and_then(Json::as_array).ok_or_else(|| {
                WorkspaceError::InvalidResponse {
                    method: "GET".into(),
                    path: path.to_owned(),
                    problem: format!("no `{list_key}` array under `data`"),
                }
            })?;
            out.extend(items.iter().filter_map(|i| i.as_object().cloned()));
            let next = data
                .pointer("/pagination/next")
                .and_then(Json::as_str)
                .map(str::to_owned);
            let next = match next {
                Some(n) if paginated && !items.is_empty() => n,
                _ => return Ok(out),
            };
            let pages = seen.len() + 1;
            if !seen.insert(next.clone()) {
                return Err(WorkspaceError::EndlessPagination {
                    path: path.to_owned(),
                    problem: format!("page {pages} points back to a page already read"),
                    cursor: next,
                });
            }
            if pages >= self.config.max_pages {
                return Err(WorkspaceError::EndlessPagination {
                    path: path.to_owned(),
                    problem: format!("more pages follow after {pages}, the most one listing reads"),
                    cursor: next,
                });
            }
            cursor = Some(next);
        }
    }

    /// Adds the parts a type's API serves from separate endpoints to its object.
    async fn complete(
        &self,
        ty: ResourceType,
        object: &mut Map<String, Json>,
    ) -> Result<(), WorkspaceError> {
        let Some(id) = object.get("id").and_then(Json::as_str).map(str::to_owned) else {
            return Ok(());
        };
        let id = id.as_str();
        match ty {
            ResourceType::TrackingPlan => {
                let rules = self
                    .list_objects(
                        &paths::fill(paths::RULES, &[id]),
                        "rules",
                        true,
                        &[],
                        Media::V1,
                    )
                    .await?;
                object.insert(
                    "rules".into(),
                    Json::Array(rules.into_iter().map(Json::Object).collect()),
                );
            }
            ResourceType::UserGroup => {
                let users = self
                    .list_objects(
                        &paths::fill(paths::GROUP_USERS, &[id]),
                        "users",
                        true,
                        &[],
                        Media::V1,
                    )
                    .await?;
                let mut members: Vec<Json> = users
                    .iter()
                    .filter_map(|u| u.get("email").cloned())
                    .collect();
                let invites = self
                    .call(
                        Method::GET,
                        &paths::fill(paths::GROUP_INVITES, &[id]),
                        &[],
                        None,
                        Media::V1,
                    )
                    .await?;
                members.extend(
                    invites
                        .get("emails")
                        .and_then(Json::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
                object.insert("members".into(), Json::Array(members));
                if !object.contains_key("permissions") {
                    let full = self
                        .call(
                            Method::GET,
                            &item(ResourceType::UserGroup, id)?,
                            &[],
                            None,
                            Media::V1,
                        )
                        .await?;
                    if let Some(p) = full.pointer("/userGroup/permissions") {
                        object.insert("permissions".into(), p.clone());
                    }
                }
            }
            ResourceType::Function if !object.contains_key("code") => {
                let full = self
                    .call(
                        Method::GET,
                        &item(ResourceType::Function, id)?,
                        &[],
                        None,
                        Media::V1,
                    )
                    .await?;
                if let Some(Json::Object(f)) = full.get("function") {
                    *object = f.clone();
                }
            }
            ResourceType::User if !object.contains_key("permissions") => {
                let full = self
                    .call(
                        Method::GET,
                        &item(ResourceType::User, id)?,
                        &[],
                        None,
                        Media::V1,
                    )
                    .await?;
                if let Some(Json::Object(u)) = full.get("user") {
                    *object = u.clone();
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The full objects of a type, across parents and function kinds.
    pub async fn list_full(
        &self,
        ty: ResourceType,
    ) -> Result<Vec<Map<String, Json>>, WorkspaceError> {
        let ep = endpoint(ty)?;
        let mut objects = Vec::new();
        if let Some(parent_attr) = ep.parent {
            let ids = self.parent_ids(parent_attr).await?;
            let parent_field = api::camel_case(parent_attr);
            let parent_field = &parent_field;
            // One list per parent, a few at a time, results in parent order.
            let per_parent: Vec<Vec<Map<String, Json>>> =
                stream::iter(ids.into_iter().map(|did| async move {
                    let path = ep.collection_path(Some(&did));
                    let mut items = self
                        .list_objects(&path, ep.list_key, ep.paginated, &[], ep.media)
                        .await?;
                    for item in &mut items {
                        item.entry(parent_field.clone())
                            .or_insert_with(|| Json::String(did.clone()));
                    }
                    Ok::<_, WorkspaceError>(items)
                }))
                .buffered(self.config.concurrency)
                .try_collect()
                .await?;
            objects = per_parent.into_iter().flatten().collect();
        } else if ty == ResourceType::InsertFunctionInstance {
            // Instances are listed per function (`?functionId=`), of the insert kinds.
            let mut function_ids = Vec::new();
            for kind in ["INSERT_DESTINATION", "INSERT_SOURCE"] {
                let query = [("resourceType".to_owned(), kind.to_owned())];
                let functions = endpoint(ResourceType::Function)?;
                for f in self
                    .list_objects(
                        functions.collection,
                        functions.list_key,
                        true,
                        &query,
                        functions.media,
                    )
                    .await?
                {
                    function_ids.extend(f.get("id").and_then(Json::as_str).map(str::to_owned));
                }
            }
            for fid in function_ids {
                let query = [("functionId".to_owned(), fid)];
                objects.extend(
                    self.list_objects(ep.collection, ep.list_key, true, &query, ep.media)
                        .await?,
                );
            }
        } else if ty == ResourceType::Function {
            for kind in api::FUNCTION_RESOURCE_TYPES {
                let query = [("resourceType".to_owned(), kind.to_owned())];
                objects.extend(
                    self.list_objects(ep.collection, ep.list_key, true, &query, ep.media)
                        .await?,
                );
            }
        } else {
            objects = self
                .list_objects(ep.collection, ep.list_key, ep.paginated, &[], ep.media)
                .await?;
        }
        objects.retain(|o| o.get(api::PLACEHOLDER) != Some(&Json::Bool(true)));
        // Types whose objects need more calls (rules, members, function code) make them a few at
        // a time, keeping the order.
        stream::iter(objects.into_iter().map(|mut object| async move {
            self.complete(ty, &mut object).await?;
            api::mask_object_secrets(&mut object);
            Ok::<_, WorkspaceError>(object)
        }))
        .buffered(self.config.concurrency)
        .try_collect()
        .await
    }

    /// The ids of the parents of a nested type: destinations, or Segment's (alpha) spaces.
    async fn parent_ids(&self, parent_attr: &str) -> Result<Vec<String>, WorkspaceError> {
        let objects = if parent_attr == "space_id" {
            self.list_objects(paths::SPACES, "spaces", true, &[], Media::Alpha)
                .await?
        } else {
            let dest = endpoint(ResourceType::Destination)?;
            self.list_objects(
                &dest.collection_path(None),
                dest.list_key,
                true,
                &[],
                dest.media,
            )
            .await?
        };
        Ok(objects
            .iter()
            .filter_map(|o| o.get("id").and_then(Json::as_str).map(str::to_owned))
            .collect())
    }

    /// One full object by id, its secrets masked (as every object the client hands on is, so no
    /// clear secret reaches HCL even from a workspace that serves one).
    pub async fn get_full(
        &self,
        ty: ResourceType,
        parent: Option<&str>,
        id: &str,
    ) -> Result<Map<String, Json>, WorkspaceError> {
        let mut object = self.get_served(ty, parent, id).await?;
        api::mask_object_secrets(&mut object);
        Ok(object)
    }

    /// One full object by id as the workspace serves it, secrets included if it serves them.
    async fn get_served(
        &self,
        ty: ResourceType,
        parent: Option<&str>,
        id: &str,
    ) -> Result<Map<String, Json>, WorkspaceError> {
        let ep = endpoint(ty)?;
        let path = ep.item_path(parent, id);
        let mut object = if ep.read_by_id {
            let data = self.call(Method::GET, &path, &[], None, ep.media).await?;
            data.get(ep.item_key)
                .and_then(Json::as_object)
                .cloned()
                .ok_or_else(|| WorkspaceError::InvalidResponse {
                    method: "GET".into(),
                    path: path.clone(),
                    problem: format!("no `{}` under `data`", ep.item_key),
                })?
        } else {
            // No read of one object: find it in its parent's (small) collection.
            let collection = ep.collection_path(parent);
            self.list_objects(&collection, ep.list_key, ep.paginated, &[], ep.media)
                .await?
                .into_iter()
                .find(|o| o.get("id").and_then(Json::as_str) == Some(id))
                .ok_or_else(|| WorkspaceError::NotFound {
                    method: "GET".into(),
                    path: collection.clone(),
                    errors: vec![ApiError {
                        kind: "NotFound".into(),
                        message: Some(format!("no {} `{id}` in the listing", ep.item_key)),
                        field: None,
                    }],
                })?
        };
        if let (Some(p), Some(attr)) = (parent, ep.parent) {
            object
                .entry(api::camel_case(attr))
                .or_insert_with(|| Json::String(p.to_owned()));
        }
        self.complete(ty, &mut object).await?;
        Ok(object)
    }

    /// The extra writes of a create or update; with `current` (an update), only those whose
    /// field differs from what the workspace holds.
    async fn follow_ups(
        &self,
        ty: ResourceType,
        id: &str,
        object: &Map<String, Json>,
        current: Option<&Map<String, Json>>,
    ) -> Result<(), WorkspaceError> {
        let media = endpoint(ty)?.media;
        if ty == ResourceType::TrackingPlan {
            let rules = |o: Option<&Map<String, Json>>| {
                o.and_then(|o| o.get("rules"))
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let path = api::paths::fill(api::paths::RULES, &[id]);
            for write in api::rule_writes(&rules(Some(object)), &rules(current)) {
                match write {
                    api::RuleWrite::Upsert(body) => {
                        self.call(Method::PATCH, &path, &[], Some(&body), media)
                            .await?
                    }
                    api::RuleWrite::Remove(query) => {
                        self.call(Method::DELETE, &path, &query, None, media)
                            .await?
                    }
                };
            }
        }
        for w in api::follow_up_writes(ty, id, object, current.is_none()) {
            if current.is_some_and(|c| c.get(w.field) == object.get(w.field)) {
                continue;
            }
            self.call(w.method, &w.path, &[], Some(&w.body), media)
                .await?;
        }
        Ok(())
    }
}

fn endpoint(ty: ResourceType) -> Result<&'static Endpoint, WorkspaceError> {
    api::endpoint(ty).ok_or(WorkspaceError::Unsupported { ty })
}

/// The path of one object of a top-level type.
fn item(ty: ResourceType, id: &str) -> Result<String, WorkspaceError> {
    Ok(endpoint(ty)?.item_path(None, id))
}

/// The id of a resource to update or delete; without one the request would name no resource.
fn id_of(resource: &Resource, operation: &'static str) -> Result<String, WorkspaceError> {
    resource
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(WorkspaceError::MissingId {
            ty: resource.ty,
            operation,
            field: "id",
        })
}

/// The parent id of a resource of a nested type (a filter's destination, a profiles
/// warehouse's space); without one the request would go to a path naming no parent.
fn parent_of(
    resource: &Resource,
    ep: &Endpoint,
    operation: &'static str,
) -> Result<Option<String>, WorkspaceError> {
    ep.parent
        .map(|p| naming_attr(resource, p, operation))
        .transpose()
}

/// Segment's wait in a 429: `errors[0].data.msBeforeNext`, in milliseconds.
fn ms_before_next(response: &Response) -> Option<Duration> {
    response
        .json::<Json>()
        .ok()?
        .pointer("/errors/0/data/msBeforeNext")
        .and_then(Json::as_u64)
        .map(Duration::from_millis)
}

/// The two connection types have no endpoints of their own: they are read and written through
/// the warehouse's connected sources and the tracking plan's sources (plus the source's schema
/// settings).
fn is_connection(ty: ResourceType) -> bool {
    matches!(
        ty,
        ResourceType::SourceWarehouseConnection | ResourceType::SourceTrackingPlanConnection
    )
}

/// A string attribute that names (part of) a resource in a path; missing or empty, it is an
/// error rather than an empty path segment.
fn naming_attr(
    resource: &Resource,
    name: &'static str,
    operation: &'static str,
) -> Result<String, WorkspaceError> {
    match resource.get(name) {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(WorkspaceError::MissingId {
            ty: resource.ty,
            operation,
            field: name,
        }),
    }
}

/// Where a connection type lives: its parent type, the parent's field in the connection object,
/// and the parent's sub-collection listing the connected sources.
fn connection_parent(ty: ResourceType) -> (ResourceType, &'static str, &'static str) {
    match ty {
        ResourceType::SourceWarehouseConnection => (
            ResourceType::Warehouse,
            "warehouseId",
            paths::WAREHOUSE_SOURCES,
        ),
        _ => (
            ResourceType::TrackingPlan,
            "trackingPlanId",
            paths::PLAN_SOURCES,
        ),
    }
}

/// The parts of an import id, checked against its type's shape: `[id]`, `[parent, id]`, or the
/// attribute values (`[key, value]`, `[source_id, warehouse_id]`). Split at the first colons: the
/// last part may hold a colon (a label value), no id does.
fn import_parts(ty: ResourceType, import_id: &str) -> Result<Vec<&str>, WorkspaceError> {
    let (n, expected) = match ty.kind().import_id {
        ImportId::OwnId => (1, "<id>".to_owned()),
        ImportId::ParentAndOwnId { parent } => (2, format!("<{parent}>:<id>")),
        ImportId::Attributes(names) => (
            names.len(),
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(":"),
        ),
    };
    let parts: Vec<&str> = import_id.splitn(n, ':').collect();
    if parts.len() != n || parts.iter().any(|p| p.is_empty()) {
        return Err(WorkspaceError::BadImportId {
            ty,
            import_id: import_id.chars().take(200).collect(),
            expected,
        });
    }
    Ok(parts)
}

/// A read that found nothing is `None`; every other failure stays an error.
fn found<T>(result: Result<T, WorkspaceError>) -> Result<Option<T>, WorkspaceError> {
    match result {
        Ok(t) => Ok(Some(t)),
        Err(WorkspaceError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Client {
    async fn list_connections(&self, ty: ResourceType) -> Result<Vec<Resource>, WorkspaceError> {
        let (parent_ty, _, _) = connection_parent(ty);
        let parents = endpoint(parent_ty)?;
        let mut out = Vec::new();
        for parent in self
            .list_objects(
                parents.collection,
                parents.list_key,
                true,
                &[],
                parents.media,
            )
            .await?
        {
            let Some(pid) = parent.get("id").and_then(Json::as_str) else {
                continue;
            };
            for sid in self.connected_sources(ty, pid).await? {
                out.push(self.connection(ty, &sid, pid).await?);
            }
        }
        Ok(out)
    }

    /// The ids of the sources connected to one warehouse or tracking plan.
    async fn connected_sources(
        &self,
        ty: ResourceType,
        parent: &str,
    ) -> Result<Vec<String>, WorkspaceError> {
        let (_, _, sources) = connection_parent(ty);
        let list_path = paths::fill(sources, &[parent]);
        Ok(self
            .list_objects(&list_path, "sources", true, &[], Media::V1)
            .await?
            .iter()
            .filter_map(|s| s.get("id").and_then(Json::as_str).map(str::to_owned))
            .collect())
    }

    /// One connection, complete: a tracking plan's with the source's schema settings.
    async fn connection(
        &self,
        ty: ResourceType,
        source: &str,
        parent: &str,
    ) -> Result<Resource, WorkspaceError> {
        let (_, parent_field, _) = connection_parent(ty);
        let mut object = Map::new();
        object.insert("sourceId".into(), Json::String(source.to_owned()));
        object.insert(parent_field.into(), Json::String(parent.to_owned()));
        if ty == ResourceType::SourceTrackingPlanConnection {
            let path = paths::fill(paths::SOURCE_SETTINGS, &[source]);
            let data = self.call(Method::GET, &path, &[], None, Media::V1).await?;
            if let Some(settings) = data
                .get("settings")
                .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
            {
                object.insert("schemaSettings".into(), settings.clone());
            }
        }
        Ok(api::from_api(ty, &object)?)
    }

    /// One connection by its parts: the API has no read of one connection, so this lists the
    /// sources of its one warehouse or tracking plan.
    async fn get_connection(
        &self,
        ty: ResourceType,
        source: &str,
        parent: &str,
    ) -> Result<Option<Resource>, WorkspaceError> {
        let Some(sources) = found(self.connected_sources(ty, parent).await)? else {
            return Ok(None);
        };
        if !sources.iter().any(|s| s == source) {
            return Ok(None);
        }
        found(self.connection(ty, source, parent).await)
    }

    /// One label: the API reads labels only as one (unpaginated, small) listing.
    async fn get_label(&self, import_id: &str) -> Result<Option<Resource>, WorkspaceError> {
        let ep = endpoint(ResourceType::Label)?;
        let labels = self
            .list_objects(ep.collection, ep.list_key, ep.paginated, &[], ep.media)
            .await?;
        let text = |o: &Map<String, Json>, k: &str| {
            o.get(k)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        labels
            .iter()
            .find(|o| format!("{}:{}", text(o, "key"), text(o, "value")) == import_id)
            .map(|o| api::from_api(ResourceType::Label, o).map_err(WorkspaceError::from))
            .transpose()
    }

    /// The id of the user an invitation just made: the user's id once the workspace lists them,
    /// the email while the invitation is pending (as the provider has it, `is_invite`). Neither
    /// is an error: a guessed id would send the later update or delete to the wrong place.
    async fn invited_user_id(&self, email: &str) -> Result<String, WorkspaceError> {
        let ep = endpoint(ResourceType::User)?;
        let users = self
            .list_objects(ep.collection, ep.list_key, true, &[], ep.media)
            .await?;
        if let Some(id) = users
            .iter()
            .find(|u| u.get("email").and_then(Json::as_str) == Some(email))
            .and_then(|u| u.get("id").and_then(Json::as_str))
        {
            return Ok(id.to_owned());
        }
        let pending = self
            .call(Method::GET, paths::INVITES, &[], None, ep.media)
            .await?;
        let is_pending = pending
            .get("invites")
            .and_then(Json::as_array)
            .is_some_and(|emails| emails.iter().any(|e| e.as_str() == Some(email)));
        if is_pending {
            return Ok(email.to_owned());
        }
        Err(WorkspaceError::InvalidResponse {
            method: "POST".into(),
            path: paths::INVITES.into(),
            problem: format!(
                "the workspace accepted the invitation of {email} but lists them neither among its users nor among its pending invitations, so the new user's id is unknown; check the workspace's users before retrying, the invitation may have been made"
            ),
        })
    }

    /// One resource with an id of its own, by a read of that id (and its separately served parts).
    async fn get_by_id(
        &self,
        ty: ResourceType,
        parent: Option<&str>,
        id: &str,
    ) -> Result<Option<Resource>, WorkspaceError> {
        let Some(object) = found(self.get_full(ty, parent, id).await)? else {
            return Ok(None);
        };
        // A placeholder parent is no resource (listings skip it too).
        if object.get(api::PLACEHOLDER) == Some(&Json::Bool(true)) {
            return Ok(None);
        }
        Ok(Some(api::from_api(ty, &object)?))
    }

    async fn write_schema_settings(&self, resource: &Resource) -> Result<(), WorkspaceError> {
        let object = api::to_api(resource);
        if let Some(settings) = object.get("schemaSettings") {
            let path = paths::fill(
                paths::SOURCE_SETTINGS,
                &[&naming_attr(resource, "source_id", "write")?],
            );
            self.call(Method::PATCH, &path, &[], Some(settings), Media::V1)
                .await?;
        }
        Ok(())
    }

    /// The path that creates or deletes a connection, and the query of a deletion.
    fn connection_path(
        resource: &Resource,
        operation: &'static str,
    ) -> Result<(String, Vec<(String, String)>), WorkspaceError> {
        let source = naming_attr(resource, "source_id", operation)?;
        Ok(if resource.ty == ResourceType::SourceWarehouseConnection {
            let warehouse = naming_attr(resource, "warehouse_id", operation)?;
            (
                paths::fill(paths::WAREHOUSE_SOURCE, &[&warehouse, &source]),
                Vec::new(),
            )
        } else {
            let plan = naming_attr(resource, "tracking_plan_id", operation)?;
            (
                paths::fill(paths::PLAN_SOURCES, &[&plan]),
                vec![("sourceId".to_owned(), source)],
            )
        })
    }

    async fn create_connection(&self, resource: &Resource) -> Result<Resource, WorkspaceError> {
        let (path, source_query) = Self::connection_path(resource, "create")?;
        // A warehouse takes the source in the path; a tracking plan in the body.
        let body = source_query
            .first()
            .map(|(_, source)| json!({ "sourceId": source }));
        self.call(Method::POST, &path, &[], body.as_ref(), Media::V1)
            .await?;
        if resource.ty == ResourceType::SourceTrackingPlanConnection {
            self.write_schema_settings(resource).await?;
        }
        Ok(resource.clone())
    }

    async fn delete_connection(&self, resource: &Resource) -> Result<(), WorkspaceError> {
        let (path, query) = Self::connection_path(resource, "delete")?;
        self.call(Method::DELETE, &path, &query, None, Media::V1)
            .await?;
        Ok(())
    }
}

impl Workspace for Client {
    async fn identity(&self) -> Result<crate::workspace::WorkspaceIdentity, WorkspaceError> {
        let data = self.call(Method::GET, "/", &[], None, Media::V1).await?;
        let workspace = data.get("workspace").cloned().unwrap_or(Json::Null);
        serde_json::from_value(workspace).map_err(|e| WorkspaceError::InvalidResponse {
            method: "GET".into(),
            path: "/".into(),
            problem: format!("the answer names no workspace: {e}"),
        })
    }

    fn point_key(&self) -> crate::workspace::PointKey {
        crate::workspace::PointKey::derive(&self.config.token)
    }

    async fn list(&self, ty: ResourceType) -> Result<Vec<Resource>, WorkspaceError> {
        if is_connection(ty) {
            return self.list_connections(ty).await;
        }
        let objects = self.list_full(ty).await?;
        objects
            .iter()
            .map(|o| api::from_api(ty, o).map_err(WorkspaceError::from))
            .collect()
    }

    async fn get(
        &self,
        ty: ResourceType,
        import_id: &str,
    ) -> Result<Option<Resource>, WorkspaceError> {
        let parts = import_parts(ty, import_id)?;
        match (ty.kind().import_id, parts.as_slice()) {
            (ImportId::OwnId, [id]) => self.get_by_id(ty, None, id).await,
            (ImportId::ParentAndOwnId { .. }, [parent, id]) => {
                self.get_by_id(ty, Some(parent), id).await
            }
            _ if ty == ResourceType::Label => self.get_label(import_id).await,
            (_, [source, parent]) if is_connection(ty) => {
                self.get_connection(ty, source, parent).await
            }
            _ => Err(WorkspaceError::Unsupported { ty }),
        }
    }

    async fn create(&self, resource: &Resource) -> Result<Resource, WorkspaceError> {
        if is_connection(resource.ty) {
            return self.create_connection(resource).await;
        }
        let ep = endpoint(resource.ty)?;
        let object = api::to_api(resource);
        let body = api::create_body(resource.ty, &object);
        let parent = parent_of(resource, ep, "create")?;
        let id = if resource.ty == ResourceType::User {
            self.call(Method::POST, paths::INVITES, &[], Some(&body), ep.media)
                .await?;
            let email = naming_attr(resource, "email", "create")?;
            self.invited_user_id(&email).await?
        } else {
            let path = ep.collection_path(parent.as_deref());
            let data = self
                .call(Method::POST, &path, &[], Some(&body), ep.media)
                .await?;
            match resource.ty.kind().import_id {
                ImportId::Attributes(_) => resource.import_id().unwrap_or_default(),
                _ => data
                    .get(ep.create_key)
                    .and_then(|c| c.get("id"))
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| WorkspaceError::InvalidResponse {
                        method: "POST".into(),
                        path,
                        problem: format!("no `{}.id` in the create response", ep.create_key),
                    })?,
            }
        };
        self.follow_ups(resource.ty, &id, &object, None).await?;
        if resource.ty == ResourceType::Label {
            return Ok(resource.clone());
        }
        if resource.ty == ResourceType::User && id.contains('@') {
            // A pending invitation has no user to read back yet: it is what was asked for.
            let mut invited = resource.clone();
            invited.id = Some(id);
            return Ok(invited);
        }
        let full = self.get_full(resource.ty, parent.as_deref(), &id).await?;
        Ok(api::from_api(resource.ty, &full)?)
    }

    async fn update(&self, resource: &Resource) -> Result<Resource, WorkspaceError> {
        if is_connection(resource.ty) {
            // Every attribute of a connection forces replacement but the schema settings.
            self.write_schema_settings(resource).await?;
            return Ok(resource.clone());
        }
        if resource.ty == ResourceType::Label {
            return Err(WorkspaceError::NotUpdatable { ty: resource.ty });
        }
        let ep = endpoint(resource.ty)?;
        let id = id_of(resource, "update")?;
        let parent = parent_of(resource, ep, "update")?;
        let path = ep.item_path(parent.as_deref(), &id);
        // What the workspace holds now, as it serves it and in the same normal form, so that only
        // real changes are written (each write is an audit event, and so a commit, downstream).
        let served = self.get_served(resource.ty, parent.as_deref(), &id).await?;
        let current = api::to_api(&api::from_api(resource.ty, &served)?);
        let mut object = api::to_api(resource);
        // A masked secret that masks what the workspace holds means "unchanged" (it is what an
        // export wrote): send back what the workspace served, so that one serving the secret in
        // clear does not take its mask for a new value.
        if let (Some(old), Some(new)) = (current.get("settings"), object.get_mut("settings")) {
            api::unmask_unchanged(old, new);
        }
        let body = api::update_body(resource.ty, &object);
        let before = api::update_body(resource.ty, &current);
        let unchanged = body == before;
        let body = api::changed_fields(resource.ty, &body, &before);
        if resource.ty != ResourceType::User && !unchanged {
            self.call(Method::PATCH, &path, &[], Some(&body), ep.media)
                .await?;
        }
        self.follow_ups(resource.ty, &id, &object, Some(&current))
            .await?;
        let full = self.get_full(resource.ty, parent.as_deref(), &id).await?;
        Ok(api::from_api(resource.ty, &full)?)
    }

    async fn delete(&self, resource: &Resource) -> Result<(), WorkspaceError> {
        if is_connection(resource.ty) {
            return self.delete_connection(resource).await;
        }
        let ep = endpoint(resource.ty)?;
        match resource.ty {
            ResourceType::Label => {
                let key = naming_attr(resource, "key", "delete")?;
                let value = naming_attr(resource, "value", "delete")?;
                let path = paths::fill(paths::LABEL, &[&key, &value]);
                self.call(Method::DELETE, &path, &[], None, ep.media)
                    .await?;
            }
            ResourceType::User if id_of(resource, "delete")?.contains('@') => {
                // A pending invitation: its id is the invited email, as the provider has it.
                let email = id_of(resource, "delete")?;
                self.call(
                    Method::DELETE,
                    paths::INVITES,
                    &[("emails.0".into(), email)],
                    None,
                    ep.media,
                )
                .await?;
            }
            ResourceType::User => {
                let id = id_of(resource, "delete")?;
                self.call(
                    Method::DELETE,
                    paths::USERS,
                    &[("userIds.0".into(), id)],
                    None,
                    ep.media,
                )
                .await?;
            }
            _ => {
                let id = id_of(resource, "delete")?;
                let path = ep.item_path(parent_of(resource, ep, "delete")?.as_deref(), &id);
                self.call(Method::DELETE, &path, &[], None, ep.media)
                    .await?;
            }
        }
        Ok(())
    }

    async fn audit_events(&self, start_time: &str) -> Result<Vec<AuditEvent>, WorkspaceError> {
        let query = [("startTime".to_owned(), start_time.to_owned())];
        let objects = self
            .list_objects(paths::AUDIT_EVENTS, "events", true, &query, Media::V1)
            .await?;
        objects
            .into_iter()
            .map(|o| {
                serde_json::from_value(Json::Object(o)).map_err(|e| {
                    WorkspaceError::InvalidResponse {
                        method: "GET".into(),
                        path: paths::AUDIT_EVENTS.into(),
                        problem: format!("malformed audit event: {e}"),
                    }
                })
            })
            .collect()
    }
}
