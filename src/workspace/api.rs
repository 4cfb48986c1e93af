//! How each resource type appears in Segment's Public API: paths, envelope keys, media types, and
//! the mapping between the model and the API's JSON objects.
//!
//! The HTTP client and the embedded workspace server both read this module, so they cannot
//! disagree about a path or a field. The mapping is driven by the provider schema in
//! [`crate::model::schema`]: an attribute `source_id` is the API field `sourceId`, a nested
//! object is a nested object, a JSON attribute is the JSON value itself. The few places where the
//! API differs from that rule are listed here, by name ([`FIELD_NAMES`] and the hooks in
//! [`from_api`] / [`to_api`]).
//!
//! It also holds what both ends must agree on about writes: the create / update / follow-up
//! bodies (what an update may carry derived from the schema's `forces_replacement`), the paths
//! outside the collection pattern ([`paths`]), and Segment's per-operation write limits
//! ([`WRITE_LIMITS`]), which the embedded workspace enforces and apply paces by.
//!
//! A "full object" here is the API's read shape of a resource plus the parts the API serves from
//! separate endpoints (tracking plan `rules`, user group `members`, function `code` and
//! `settings`), so that one JSON object carries everything the model needs.

use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use crate::model::{
    AttrType, Attribute, Attributes, ImportId, Resource, ResourceType, Value, canonical_number,
};

/// Versioned media types (`Accept` / `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    V1,
    Alpha,
}

impl Media {
    pub fn content_type(self) -> &'static str {
        match self {
            Media::V1 => "application/vnd.segment.v1+json",
            Media::Alpha => "application/vnd.segment.v1alpha+json",
        }
    }
}

/// One resource type's place in the API.
#[derive(Debug)]
pub struct Endpoint {
    pub ty: ResourceType,
    /// Collection path. For nested collections `{parent}` stands for the parent's id.
    pub collection: &'static str,
    /// The attribute holding the parent id, for nested collections.
    pub parent: Option<&'static str>,
    /// Key of the array under `data` in list responses.
    pub list_key: &'static str,
    /// Key of the object under `data` in get / update responses.
    pub item_key: &'static str,
    /// Key of the object under `data` in the create response.
    pub create_key: &'static str,
    pub media: Media,
    /// Whether list takes `pagination.count` / `pagination.cursor` (labels do not).
    pub paginated: bool,
    /// Status of a successful create: 201 for some operations since v73, else 200.
    pub create_status: u16,
    /// Whether the API reads one object by id (`GET <collection>/{id}`); profiles warehouses
    /// are read only in their space's listing.
    pub read_by_id: bool,
}

impl Endpoint {
    /// The collection path for a parent id (ignored for top-level collections).
    pub fn collection_path(&self, parent: Option<&str>) -> String {
        match parent {
            Some(p) => self.collection.replace("{parent}", &encode_segment(p)),
            None => self.collection.to_owned(),
        }
    }

    /// The path of one resource.
    pub fn item_path(&self, parent: Option<&str>, id: &str) -> String {
        format!("{}/{}", self.collection_path(parent), encode_segment(id))
    }
}

/// The paths outside the generic collection / item pattern of [`ENDPOINTS`], written once: the
/// router routes these templates (`{id}` parameters, as axum takes them) and the client fills
/// them ([`paths::fill`]), so the two cannot disagree about one.
pub mod paths {
    pub const RULES: &str = "/tracking-plans/{id}/rules";
    pub const SOURCE_LABELS: &str = "/sources/{id}/labels";
    /// A source's schema settings (a tracking plan connection's `schema_settings`).
    pub const SOURCE_SETTINGS: &str = "/sources/{id}/settings";
    pub const GROUP_USERS: &str = "/groups/{id}/users";
    pub const GROUP_INVITES: &str = "/groups/{id}/invites";
    /// Replacing a group's users: singular `/group/` in Segment's API.
    pub const GROUP_USERS_REPLACE: &str = "/group/{id}/users";
    pub const GROUP_PERMISSIONS: &str = "/groups/{id}/permissions";
    pub const USER_PERMISSIONS: &str = "/users/{id}/permissions";
    /// Users are created by invitation; a pending invitation is listed here until accepted.
    pub const INVITES: &str = "/invites";
    /// Users are deleted in bulk, `?userIds.0=`.
    pub const USERS: &str = "/users";
    pub const LABEL: &str = "/labels/{key}/{value}";
    pub const WAREHOUSE_SOURCES: &str = "/warehouses/{id}/connected-sources";
    pub const WAREHOUSE_SOURCE: &str = "/warehouses/{id}/connected-sources/{source}";
    pub const PLAN_SOURCES: &str = "/tracking-plans/{id}/sources";
    pub const SPACES: &str = "/spaces";
    pub const AUDIT_EVENTS: &str = "/audit-events";

    /// Whether a path (as sent, parameters percent-encoded) fits a template: the same segments,
    /// each `{...}` standing for one non-empty segment.
    pub fn matches(template: &str, path: &str) -> bool {
        let (mut t, mut p) = (template.split('/'), path.split('/'));
        loop {
            match (t.next(), p.next()) {
                (None, None) => return true,
                (Some(t), Some(p)) if t.starts_with('{') && t.ends_with('}') => {
                    if p.is_empty() {
                        return false;
                    }
                }
                (Some(t), Some(p)) if t == p => {}
                _ => return false,
            }
        }
    }

    /// A template with its `{...}` parameters replaced, in order, by `args`, each
    /// percent-encoded. A parameter without an argument stays as written (a bug in the caller,
    /// which the path then shows rather than hides).
    pub fn fill(template: &str, args: &[&str]) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut args = args.iter();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            out.push_str(&rest[..start]);
            match args.next() {
                Some(a) => out.push_str(&super::encode_segment(a)),
                None => out.push_str(&rest[start..start + len + 1]),
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Percent-encodes a path segment (ids are URL-safe in practice; label keys may not be).
pub fn encode_segment(s: &str) -> String {
    // `.` and `..` as a whole segment are "this" and "the parent" to every URL parser, and so
    // are `%2E` and `%2E%2E` (a delete of subscription `..` would reach its destination). Their
    // dots are sent as the text `%2E`, which names nothing.
    if s == "." || s == ".." {
        return s.replace('.', "%252E");
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const fn ep(
    ty: ResourceType,
    collection: &'static str,
    list_key: &'static str,
    item_key: &'static str,
    media: Media,
    create_status: u16,
) -> Endpoint {
    Endpoint {
        ty,
        collection,
        parent: None,
        list_key,
        item_key,
        create_key: item_key,
        media,
        paginated: true,
        create_status,
        read_by_id: true,
    }
}

/// The types gitsync reads and writes through the API, in export order.
pub static ENDPOINTS: [Endpoint; 14] = [
    ep(
        ResourceType::Source,
        "/sources",
        "sources",
        "source",
        Media::V1,
        201,
    ),
    ep(
        ResourceType::Destination,
        "/destinations",
        "destinations",
        "destination",
        Media::V1,
        200,
    ),
    ep(
        ResourceType::Warehouse,
        "/warehouses",
        "warehouses",
        "warehouse",
        Media::V1,
        201,
    ),
    Endpoint {
        parent: Some("destination_id"),
        ..ep(
            ResourceType::DestinationFilter,
            "/destination/{parent}/filters",
            "filters",
            "filter",
            Media::V1,
            200,
        )
    },
    Endpoint {
        parent: Some("destination_id"),
        create_key: "destinationSubscription",
        ..ep(
            ResourceType::DestinationSubscription,
            "/destinations/{parent}/subscriptions",
            "subscriptions",
            "subscription",
            Media::Alpha,
            200,
        )
    },
    ep(
        ResourceType::TrackingPlan,
        "/tracking-plans",
        "trackingPlans",
        "trackingPlan",
        Media::V1,
        200,
    ),
    ep(
        ResourceType::Function,
        "/functions",
        "functions",
        "function",
        Media::V1,
        200,
    ),
    ep(
        ResourceType::Transformation,
        "/transformations",
        "transformations",
        "transformation",
        Media::V1,
        200,
    ),
    ep(
        ResourceType::ReverseEtlModel,
        "/reverse-etl-models",
        "models",
        "reverseEtlModel",
        Media::Alpha,
        201,
    ),
    ep(
        ResourceType::User,
        "/users",
        "users",
        "user",
        Media::V1,
        201,
    ),
    ep(
        ResourceType::UserGroup,
        "/groups",
        "userGroups",
        "userGroup",
        Media::V1,
        200,
    ),
    ep(
        ResourceType::InsertFunctionInstance,
        "/insert-function-instances",
        "instances",
        "insertFunctionInstance",
        Media::Alpha,
        200,
    ),
    Endpoint {
        parent: Some("space_id"),
        read_by_id: false,
        ..ep(
            ResourceType::ProfilesWarehouse,
            "/spaces/{parent}/profiles-warehouses",
            "profilesWarehouses",
            "profilesWarehouse",
            Media::Alpha,
            201,
        )
    },
    Endpoint {
        paginated: false,
        ..ep(
            ResourceType::Label,
            "/labels",
            "labels",
            "label",
            Media::V1,
            201,
        )
    },
];

/// The endpoint of a type, if gitsync talks to the API about it.
pub fn endpoint(ty: ResourceType) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.ty == ty)
}

/// The kind of a write, for Segment's per-operation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WriteOp {
    Create,
    Update,
    Delete,
}

/// Segment's published per-operation write limits, in requests per minute: 5 for subscription
/// create, update and remove; 60 for label create and delete and for every IAM write (users and
/// their invitations and permissions; user groups, their members and permissions). Each
/// (type, operation) has its own window. The embedded workspace enforces this table when asked
/// (`--rate-limits`) and apply paces its writes by it, so the two cannot disagree. A limit counts
/// requests: one change of a user group may take up to three (its name, members, permissions).
pub const WRITE_LIMITS: &[(ResourceType, WriteOp, u32)] = &[
    (ResourceType::DestinationSubscription, WriteOp::Create, 5),
    (ResourceType::DestinationSubscription, WriteOp::Update, 5),
    (ResourceType::DestinationSubscription, WriteOp::Delete, 5),
    (ResourceType::Label, WriteOp::Create, 60),
    (ResourceType::Label, WriteOp::Delete, 60),
    (ResourceType::User, WriteOp::Create, 60),
    (ResourceType::User, WriteOp::Update, 60),
    (ResourceType::User, WriteOp::Delete, 60),
    (ResourceType::UserGroup, WriteOp::Create, 60),
    (ResourceType::UserGroup, WriteOp::Update, 60),
    (ResourceType::UserGroup, WriteOp::Delete, 60),
];

/// The published limit of a kind of write, in requests per minute; `None` when Segment
/// publishes none (it still limits every token by request complexity).
pub fn write_limit(ty: ResourceType, op: WriteOp) -> Option<u32> {
    WRITE_LIMITS
        .iter()
        .find(|(t, o, _)| *t == ty && *o == op)
        .map(|(_, _, n)| *n)
}

/// What a write request (method and path, as sent) does to which type, by the paths of this
/// module: `PATCH /destinations/d/subscriptions/s` is (subscription, update), `PUT
/// /group/g/users` (user group, update), `POST /invites` (user, create). `None` for a read, and
/// for a path this module does not know.
pub fn write_class(method: &Method, path: &str) -> Option<(ResourceType, WriteOp)> {
    use ResourceType as T;
    let op = match *method {
        Method::POST => WriteOp::Create,
        Method::PATCH | Method::PUT => WriteOp::Update,
        Method::DELETE => WriteOp::Delete,
        _ => return None,
    };
    // Writes to a part of a resource change the resource.
    let parts = [
        (paths::USER_PERMISSIONS, T::User),
        (paths::GROUP_PERMISSIONS, T::UserGroup),
        (paths::GROUP_USERS, T::UserGroup),
        (paths::GROUP_USERS_REPLACE, T::UserGroup),
        (paths::SOURCE_LABELS, T::Source),
        (paths::SOURCE_SETTINGS, T::Source),
        (paths::RULES, T::TrackingPlan),
        (paths::WAREHOUSE_SOURCE, T::SourceWarehouseConnection),
        (paths::PLAN_SOURCES, T::SourceTrackingPlanConnection),
    ];
    if let Some((template, ty)) = parts.iter().find(|(t, _)| paths::matches(t, path)) {
        let op = match (*template, op) {
            (paths::WAREHOUSE_SOURCE | paths::PLAN_SOURCES, op) => op,
            _ => WriteOp::Update,
        };
        return Some((*ty, op));
    }
    match (op, path) {
        (WriteOp::Create, paths::INVITES) => return Some((T::User, WriteOp::Create)),
        (WriteOp::Delete, paths::INVITES | paths::USERS) => {
            return Some((T::User, WriteOp::Delete));
        }
        (WriteOp::Delete, _) if paths::matches(paths::LABEL, path) => {
            return Some((T::Label, WriteOp::Delete));
        }
        _ => {}
    }
    ENDPOINTS.iter().find_map(|ep| {
        let item = format!("{}/{{id}}", ep.collection);
        let fits = match op {
            WriteOp::Create => paths::matches(ep.collection, path),
            _ => paths::matches(&item, path),
        };
        fits.then_some((ep.ty, op))
    })
}

/// Marks a placeholder destination in the embedded workspace: the parent of filters or
/// subscriptions seeded without their destination. Segment's API never sends it; exports skip
/// such objects, and they serve only as parents.
pub const PLACEHOLDER: &str = "gitsyncPlaceholder";

/// The audit trail's resource type and event noun for each type, Segment's own names where its
/// documentation gives them: destinations are "Integration", warehouses "Storage Destination",
/// Reverse ETL models "Model". Events are named "<noun> <verb>": "Integration Disabled".
pub fn audit_names(ty: ResourceType) -> (&'static str, &'static str) {
    match ty {
        ResourceType::Source => ("source", "Source"),
        ResourceType::Destination => ("integration", "Integration"),
        ResourceType::Warehouse => ("warehouse", "Storage Destination"),
        ResourceType::DestinationFilter => ("destination_filter", "Destination Filter"),
        ResourceType::DestinationSubscription => {
            ("destination_subscription", "Destination Subscription")
        }
        ResourceType::TrackingPlan => ("tracking_plan", "Tracking Plan"),
        ResourceType::Function => ("function", "Function"),
        ResourceType::Transformation => ("transformation", "Transformation"),
        ResourceType::ReverseEtlModel => ("reverse_etl_model", "Model"),
        ResourceType::User => ("user", "User"),
        ResourceType::UserGroup => ("user_group", "User Group"),
        ResourceType::Label => ("label", "Label"),
        _ => ("other", "Resource"),
    }
}

/// What an audit event says happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditChange {
    Created,
    Modified,
    Enabled,
    Disabled,
    Deleted,
}

/// Reads an audit event's type: `Integration Disabled` -> (Destination, Disabled). Knows the
/// names gitsync's embedded workspace writes and the ones Segment documents ("Transformation
/// Updated", "Model Settings Saved", "Source Settings Modified", IAM invitations, ...). `None` for
/// events about nothing gitsync syncs.
pub fn parse_audit_kind(kind: &str) -> Option<(ResourceType, AuditChange)> {
    let documented: &[(&str, ResourceType, AuditChange)] = &[
        (
            "Transformation Updated",
            ResourceType::Transformation,
            AuditChange::Modified,
        ),
        (
            "Model Settings Saved",
            ResourceType::ReverseEtlModel,
            AuditChange::Modified,
        ),
        (
            "Model State Change Toggled",
            ResourceType::ReverseEtlModel,
            AuditChange::Modified,
        ),
        (
            "Source Settings Modified",
            ResourceType::Source,
            AuditChange::Modified,
        ),
        (
            "New Segment User Invited to Workspace",
            ResourceType::User,
            AuditChange::Created,
        ),
        (
            "Non-Segment User Invited to Workspace",
            ResourceType::User,
            AuditChange::Created,
        ),
        (
            "User Policy Updated",
            ResourceType::User,
            AuditChange::Modified,
        ),
        (
            "User Group Updated",
            ResourceType::UserGroup,
            AuditChange::Modified,
        ),
        (
            "User Group Policy Updated",
            ResourceType::UserGroup,
            AuditChange::Modified,
        ),
        (
            "User Added To User Group",
            ResourceType::UserGroup,
            AuditChange::Modified,
        ),
        (
            "User Removed From User Group",
            ResourceType::UserGroup,
            AuditChange::Modified,
        ),
        (
            "Subjects Added to Group",
            ResourceType::UserGroup,
            AuditChange::Modified,
        ),
        (
            "Group Memberships Deleted",
            ResourceType::UserGroup,
            AuditChange::Modified,
        ),
        (
            "Source Connected to Tracking Plan",
            ResourceType::Source,
            AuditChange::Modified,
        ),
    ];
    if let Some((_, ty, change)) = documented.iter().find(|(k, _, _)| *k == kind) {
        return Some((*ty, *change));
    }
    let (noun, verb) = kind.rsplit_once(' ')?;
    let change = match verb {
        "Created" => AuditChange::Created,
        "Modified" | "Updated" => AuditChange::Modified,
        "Enabled" => AuditChange::Enabled,
        "Disabled" => AuditChange::Disabled,
        "Deleted" => AuditChange::Deleted,
        _ => return None,
    };
    let ty = ResourceType::git_sync_types().find(|t| audit_names(*t).1 == noun)?;
    Some((ty, change))
}

/// Function resource types; `GET /functions` needs one of them.
pub const FUNCTION_RESOURCE_TYPES: [&str; 5] = [
    "DESTINATION",
    "INSERT_DESTINATION",
    "INSERT_SOURCE",
    "INSERT_TRANSFORMATION",
    "SOURCE",
];

/// Attribute paths whose API field is not the camelCase of the attribute name.
const FIELD_NAMES: &[(ResourceType, &str, &str)] = &[(
    ResourceType::DestinationSubscription,
    "reverse_etl_schedule",
    "reverseETLSchedule",
)];

fn field_name(ty: ResourceType, attr: &str) -> String {
    FIELD_NAMES
        .iter()
        .find(|(t, a, _)| *t == ty && *a == attr)
        .map(|(_, _, f)| (*f).to_owned())
        .unwrap_or_else(|| camel_case(attr))
}

/// `query_identifier_column` -> `queryIdentifierColumn`.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Why an API object does not fit the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ty} `{id}`: field `{field}` {problem}")]
pub struct MappingError {
    pub ty: ResourceType,
    pub id: String,
    pub field: String,
    pub problem: String,
}

/// The id of an API object (labels have none; their identity is `key:value`).
pub fn object_id(ty: ResourceType, object: &Map<String, Json>) -> Option<String> {
    match ty.kind().import_id {
        ImportId::Attributes(_) => None,
        _ => object.get("id").and_then(Json::as_str).map(str::to_owned),
    }
}

/// A full API object -> the model.
pub fn from_api(ty: ResourceType, object: &Map<String, Json>) -> Result<Resource, MappingError> {
    let id = object_id(ty, object);
    let mut object = object.clone();
    if ty == ResourceType::Warehouse {
        warehouse_name::out_of_settings(&mut object);
    }
    if ty == ResourceType::InsertFunctionInstance && !object.contains_key("functionId") {
        // The API reads an instance's function as `classId`.
        if let Some(class) = object.get("classId").cloned() {
            object.insert("functionId".into(), class);
        }
    }
    if ty == ResourceType::Source
        && object
            .get("labels")
            .and_then(Json::as_array)
            .is_some_and(Vec::is_empty)
    {
        // The provider reads a source without labels as `labels = null`.
        object.remove("labels");
    }
    let ctx = Ctx {
        ty,
        id: id.clone().unwrap_or_default(),
    };
    let attributes = ctx.object(ty.kind().attributes, &object, "", true)?;
    Ok(Resource::new(ty, id, attributes))
}

/// The model -> a full API object (read shape, without server-assigned read-only fields other
/// than the id).
pub fn to_api(resource: &Resource) -> Map<String, Json> {
    let mut object = attributes_to_api(
        resource.ty,
        resource.kind().attributes,
        &resource.attributes,
        true,
    );
    if let Some(id) = &resource.id {
        object.insert("id".into(), Json::String(id.clone()));
    }
    if resource.ty == ResourceType::Warehouse {
        warehouse_name::into_settings(&mut object);
    }
    object
}

/// A warehouse's name: the API's read shape keeps it in `settings.name`, its writes take it as a
/// top-level `name`, and the provider has it top-level. The one rule, both ways, for the mapping
/// to the model, the write bodies and the embedded server's decoding of them.
mod warehouse_name {
    use serde_json::{Map, Value as Json, json};

    /// `settings.name` -> `name` (to the model, to a write body).
    pub fn out_of_settings(object: &mut Map<String, Json>) {
        if let Some(Json::Object(settings)) = object.get_mut("settings")
            && let Some(name) = settings.remove("name")
        {
            object.insert("name".into(), name);
        }
    }

    /// `name` -> `settings.name` (to the read shape).
    pub fn into_settings(object: &mut Map<String, Json>) {
        if let Some(name) = object.remove("name") {
            let settings = object.entry("settings").or_insert_with(|| json!({}));
            if let Json::Object(settings) = settings {
                settings.insert("name".into(), name);
            }
        }
    }
}

fn attributes_to_api(
    ty: ResourceType,
    schema: &[Attribute],
    attributes: &Attributes,
    top: bool,
) -> Map<String, Json> {
    let mut out = Map::new();
    for attr in schema.iter().filter(|a| a.is_configurable()) {
        let Some(value) = attributes.get(attr.name) else {
            continue;
        };
        let key = if top {
            field_name(ty, attr.name)
        } else {
            camel_case(attr.name)
        };
        out.insert(key, value_to_api(ty, &attr.ty, value));
    }
    out
}

fn value_to_api(ty: ResourceType, attr_ty: &AttrType, value: &Value) -> Json {
    match (attr_ty, value) {
        (_, Value::Null) => Json::Null,
        (_, Value::Bool(b)) => Json::Bool(*b),
        (_, Value::Number(n)) => Json::Number(n.clone()),
        (_, Value::String(s)) => Json::String(s.clone()),
        (_, Value::Json(j)) => j.clone(),
        (AttrType::Object(nested), Value::Object(map)) => {
            Json::Object(attributes_to_api(ty, nested, map, false))
        }
        (AttrType::ObjectList(nested) | AttrType::ObjectSet(nested), Value::List(items)) => {
            Json::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Object(map) => {
                            Json::Object(attributes_to_api(ty, nested, map, false))
                        }
                        other => value_to_api(ty, &AttrType::Object(nested), other),
                    })
                    .collect(),
            )
        }
        (AttrType::List(e) | AttrType::Set(e), Value::List(items)) => {
            Json::Array(items.iter().map(|v| value_to_api(ty, e, v)).collect())
        }
        (_, Value::List(items)) => Json::Array(
            items
                .iter()
                .map(|v| value_to_api(ty, &AttrType::String, v))
                .collect(),
        ),
        (_, Value::Object(map)) => Json::Object(attributes_to_api(ty, &[], map, false)),
    }
}

struct Ctx {
    ty: ResourceType,
    id: String,
}

impl Ctx {
    fn err(&self, field: &str, problem: impl Into<String>) -> MappingError {
        MappingError {
            ty: self.ty,
            id: self.id.clone(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    fn object(
        &self,
        schema: &[Attribute],
        object: &Map<String, Json>,
        prefix: &str,
        top: bool,
    ) -> Result<Attributes, MappingError> {
        let mut out = Attributes::new();
        for attr in schema.iter().filter(|a| a.is_configurable()) {
            let key = if top {
                field_name(self.ty, attr.name)
            } else {
                camel_case(attr.name)
            };
            let path = format!("{prefix}{key}");
            let value = match object.get(&key) {
                None | Some(Json::Null) => continue,
                Some(json) => self.value(&attr.ty, json, &path)?,
            };
            out.insert(attr.name.to_owned(), value);
        }
        Ok(out)
    }

    fn value(&self, ty: &AttrType, json: &Json, path: &str) -> Result<Value, MappingError> {
        let wrong = || {
            self.err(
                path,
                format!("must be {}, found {}", ty.describe(), json_kind(json)),
            )
        };
        Ok(match ty {
            AttrType::Bool => Value::Bool(json.as_bool().ok_or_else(wrong)?),
            AttrType::Number => match json {
                Json::Number(n) => Value::Number(canonical_number(n.clone())),
                _ => return Err(wrong()),
            },
            AttrType::String => Value::String(json.as_str().ok_or_else(wrong)?.to_owned()),
            AttrType::Json => {
                let mut j = json.clone();
                crate::model::canonicalize_json(&mut j);
                Value::Json(j)
            }
            AttrType::List(e) | AttrType::Set(e) => {
                let items = json.as_array().ok_or_else(wrong)?;
                Value::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| self.value(e, item, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                )
            }
            AttrType::Object(nested) => Value::Object(self.object(
                nested,
                json.as_object().ok_or_else(wrong)?,
                &format!("{path}."),
                false,
            )?),
            AttrType::ObjectList(nested) | AttrType::ObjectSet(nested) => {
                let items = json.as_array().ok_or_else(wrong)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    let map = item
                        .as_object()
                        .ok_or_else(|| self.err(&item_path, "must be an object"))?;
                    out.push(Value::Object(self.object(
                        nested,
                        map,
                        &format!("{item_path}."),
                        false,
                    )?));
                }
                Value::List(out)
            }
        })
    }
}

/// The body of a create request for a resource, from its full object. The parts the API takes
/// through separate calls (source labels, tracking plan rules, group members and permissions,
/// user permissions) are left out; [`follow_up_writes`] lists them.
pub fn create_body(ty: ResourceType, object: &Map<String, Json>) -> Json {
    let mut body = write_body(ty, object);
    if let Json::Object(map) = &mut body {
        match ty {
            // A new source or warehouse is connected to nothing, as the provider creates them
            // since 1.1.0 (connections are resources of their own).
            ResourceType::Source => {
                map.insert("disconnectAllWarehouses".into(), Json::Bool(true));
            }
            ResourceType::Warehouse => {
                map.insert("disconnectAllSources".into(), Json::Bool(true));
            }
            // The API requires `displayName` on create, the provider's `display_name` is
            // optional: the provider (through Segment's SDK, where the field is required) sends
            // "" for none.
            ResourceType::Function => {
                map.entry("displayName")
                    .or_insert_with(|| Json::String(String::new()));
            }
            _ => {}
        }
    }
    body
}

/// What a create and an update body share: the full object in the write shape.
fn write_body(ty: ResourceType, object: &Map<String, Json>) -> Json {
    let mut body = object.clone();
    body.remove("id");
    let metadata_id = |body: &mut Map<String, Json>| {
        if let Some(Json::Object(metadata)) = body.remove("metadata")
            && let Some(id) = metadata.get("id")
        {
            body.insert("metadataId".into(), id.clone());
        }
    };
    match ty {
        ResourceType::Source => {
            metadata_id(&mut body);
            body.remove("labels");
            body.remove("name");
        }
        ResourceType::Destination => metadata_id(&mut body),
        ResourceType::Warehouse => {
            metadata_id(&mut body);
            warehouse_name::out_of_settings(&mut body);
        }
        ResourceType::DestinationFilter | ResourceType::DestinationSubscription => {
            body.remove("destinationId");
            if ty == ResourceType::DestinationSubscription {
                body.remove("reverseETLSchedule");
            }
        }
        ResourceType::TrackingPlan => {
            body.remove("rules");
        }
        ResourceType::UserGroup => {
            body.retain(|k, _| k == "name");
        }
        ResourceType::Label => return json!({ "label": body }),
        ResourceType::User => {
            let permissions = body.remove("permissions").unwrap_or_else(|| json!([]));
            let email = body.remove("email").unwrap_or(Json::Null);
            return json!({ "invites": [{ "email": email, "permissions": invite_permissions(&permissions) }] });
        }
        _ => {}
    }
    Json::Object(body)
}

/// The body of an update request (PATCH) for a resource, from its full object. Fields that
/// cannot change in place (those that force replacement) are left out.
pub fn update_body(ty: ResourceType, object: &Map<String, Json>) -> Json {
    let mut body = write_body(ty, object);
    let Json::Object(map) = &mut body else {
        return body;
    };
    for key in fixed_on_update(ty) {
        map.remove(&key);
    }
    match ty {
        ResourceType::Source => {
            if let Some(name) = object.get("name") {
                map.insert("name".into(), name.clone());
            }
        }
        ResourceType::DestinationSubscription => {
            if let Some(model) = object.get("modelId") {
                map.insert("reverseETLModelId".into(), model.clone());
            }
            if let Some(schedule) = object.get("reverseETLSchedule") {
                map.insert("reverseETLSchedule".into(), schedule.clone());
            }
            return json!({ "input": body });
        }
        _ => {}
    }
    body
}

/// What the API requires in an update body whatever changed (its `required` fields):
/// `settings` for warehouses and insert function instances, `name` for user groups.
fn required_on_update(ty: ResourceType) -> &'static [&'static str] {
    match ty {
        ResourceType::Warehouse | ResourceType::InsertFunctionInstance => &["settings"],
        ResourceType::UserGroup => &["name"],
        _ => &[],
    }
}

/// An update body (from [`update_body`]) with only what changes against `current` (the
/// [`update_body`] of what the workspace holds): a PATCH reads a field it does not carry as
/// "unchanged", and an unchanged `settings` sent back whole carries its secrets as the API
/// served them, masked, for the API to take as the new value. Fields the API requires stay
/// (a warehouse's `settings`); a subscription's fields are those of its `input`.
pub fn changed_fields(ty: ResourceType, body: &Json, current: &Json) -> Json {
    let keep = |body: &Json, current: &Json| match (body, current) {
        (Json::Object(fields), Json::Object(old)) => Json::Object(
            fields
                .iter()
                .filter(|(k, v)| {
                    required_on_update(ty).contains(&k.as_str()) || old.get(k.as_str()) != Some(v)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => body.clone(),
    };
    match (ty, body.get("input"), current.get("input")) {
        (ResourceType::DestinationSubscription, Some(input), Some(old)) => {
            json!({ "input": keep(input, old) })
        }
        _ => keep(body, current),
    }
}

/// The body fields an update must not carry: those of the attributes that force replacement
/// ([`Attribute::forces_replacement`], the flag the plan's diff reads too, so a plan's "update"
/// and the PATCH it sends agree on what changes in place). An object attribute whose `id` forces
/// replacement (a catalog `metadata`) is written as `<name>Id` (`metadataId`).
fn fixed_on_update(ty: ResourceType) -> impl Iterator<Item = String> {
    ty.kind().attributes.iter().filter_map(move |a| {
        if a.forces_replacement {
            return Some(field_name(ty, a.name));
        }
        match &a.ty {
            AttrType::Object(nested)
                if nested
                    .iter()
                    .any(|n| n.name == "id" && n.forces_replacement) =>
            {
                Some(format!("{}Id", camel_case(a.name)))
            }
            _ => None,
        }
    })
}

/// Server side of [`create_body`]: the full object a create request describes (without its id).
pub fn object_from_create(
    ty: ResourceType,
    parent: Option<&str>,
    body: &Json,
) -> Map<String, Json> {
    let mut object = match (ty, body) {
        (ResourceType::Label, Json::Object(b)) => b
            .get("label")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default(),
        (_, Json::Object(b)) => b.clone(),
        _ => Map::new(),
    };
    // Types with a `metadata` object take its id as `metadataId` on create.
    if ty.attribute("metadata").is_some()
        && let Some(metadata_id) = object.remove("metadataId")
    {
        object.insert("metadata".into(), json!({ "id": metadata_id }));
    }
    object.remove("disconnectAllWarehouses");
    object.remove("disconnectAllSources");
    match ty {
        ResourceType::Source => {
            object.entry("labels").or_insert_with(|| json!([]));
        }
        ResourceType::Warehouse => warehouse_name::into_settings(&mut object),
        ResourceType::DestinationFilter | ResourceType::DestinationSubscription => {
            if let Some(p) = parent {
                object.insert("destinationId".into(), Json::String(p.to_owned()));
            }
        }
        ResourceType::ProfilesWarehouse => {
            if let Some(p) = parent {
                object.insert("spaceId".into(), Json::String(p.to_owned()));
            }
        }
        ResourceType::TrackingPlan => {
            object.entry("rules").or_insert_with(|| json!([]));
        }
        // The "" the provider sends for no display name is no display name: Segment reads such a
        // function back with none (Git Sync writes `display_name = null`).
        ResourceType::Function if object.get("displayName") == Some(&json!("")) => {
            object.remove("displayName");
        }
        ResourceType::UserGroup => {
            object.entry("members").or_insert_with(|| json!([]));
            object.entry("permissions").or_insert_with(|| json!([]));
        }
        _ => {}
    }
    object
}

/// Server side of [`update_body`]: applies a PATCH body to a stored full object. A body that is
/// not an object (`null`, `[1,2]`), or a subscription's without its `input` object, is refused
/// with the field to fix, rather than read as "no change".
pub fn apply_update(
    ty: ResourceType,
    object: &mut Map<String, Json>,
    body: &Json,
) -> Result<(), MappingError> {
    let refuse = |field: &str, found: &Json| MappingError {
        ty,
        id: object_id(ty, object).unwrap_or_default(),
        field: field.to_owned(),
        problem: format!("must be an object, found {}", json_kind(found)),
    };
    let mut body = body
        .as_object()
        .cloned()
        .ok_or_else(|| refuse("body", body))?;
    if ty == ResourceType::DestinationSubscription {
        let input = body.get("input").unwrap_or(&Json::Null);
        body = input
            .as_object()
            .cloned()
            .ok_or_else(|| refuse("input", input))?;
        if let Some(model) = body.remove("reverseETLModelId") {
            body.insert("modelId".into(), model);
        }
    }
    // The body is in the write shape: apply it to the object in that shape (a PATCH of the
    // settings alone keeps the warehouse's name).
    if ty == ResourceType::Warehouse {
        warehouse_name::out_of_settings(object);
    }
    for (key, value) in body {
        object.insert(key, value);
    }
    if ty == ResourceType::Warehouse {
        warehouse_name::into_settings(object);
    }
    Ok(())
}

/// A user's permissions (`[{roleId, resources: [{id, type, labels}]}]`) in an invite's shape
/// (`InvitePermissionV1`: `[{roleId, resources: [{id, type}], labels}]`): an invite takes labels
/// per permission, not per resource ("labels are exclusive to Workspace-level permissions"), so
/// the resources' labels are gathered onto their permission, each once.
pub fn invite_permissions(permissions: &Json) -> Json {
    let Some(permissions) = permissions.as_array() else {
        return permissions.clone();
    };
    let invite = |permission: &Json| {
        let Some(p) = permission.as_object() else {
            return permission.clone();
        };
        let mut out = Map::new();
        if let Some(role) = p.get("roleId") {
            out.insert("roleId".into(), role.clone());
        }
        let mut labels: Vec<Json> = Vec::new();
        let mut resources = Vec::new();
        for r in p
            .get("resources")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let mut resource = Map::new();
            for k in ["id", "type"] {
                if let Some(v) = r.get(k) {
                    resource.insert(k.into(), v.clone());
                }
            }
            resources.push(Json::Object(resource));
            for label in r
                .get("labels")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                if !labels.contains(label) {
                    labels.push(label.clone());
                }
            }
        }
        out.insert("resources".into(), Json::Array(resources));
        if !labels.is_empty() {
            out.insert("labels".into(), Json::Array(labels));
        }
        Json::Object(out)
    };
    Json::Array(permissions.iter().map(invite).collect())
}

/// Permissions as a permission write takes them (`PermissionInputV1`, whose `resources` is
/// required): a permission the HCL states without resources has none, `[]`.
fn permission_inputs(mut permissions: Json) -> Json {
    for p in permissions.as_array_mut().into_iter().flatten() {
        if let Json::Object(p) = p {
            p.entry("resources").or_insert_with(|| json!([]));
        }
    }
    permissions
}

/// Server side of [`invite_permissions`]: an invite's permissions as the user then holds them,
/// each resource with its permission's labels (none: `[]`, as Segment reads them back).
pub fn permissions_from_invite(permissions: &Json) -> Json {
    let Some(permissions) = permissions.as_array() else {
        return permissions.clone();
    };
    let user = |permission: &Json| {
        let Some(p) = permission.as_object() else {
            return permission.clone();
        };
        let labels = p.get("labels").cloned().unwrap_or_else(|| json!([]));
        let mut out = Map::new();
        if let Some(role) = p.get("roleId") {
            out.insert("roleId".into(), role.clone());
        }
        let resources: Vec<Json> = p
            .get("resources")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|r| {
                let mut r = r.clone();
                if let Json::Object(m) = &mut r {
                    m.insert("labels".into(), labels.clone());
                }
                r
            })
            .collect();
        out.insert("resources".into(), Json::Array(resources));
        Json::Object(out)
    };
    Json::Array(permissions.iter().map(user).collect())
}

/// A write the API takes through its own call after a create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// The field of the full object this write carries; unchanged fields need no write.
    pub field: &'static str,
    pub method: Method,
    pub path: String,
    pub body: Json,
}

/// The extra writes that carry the parts of a resource its create / update body cannot. After a
/// create, that includes what the create body cannot take at all (a source's name, a
/// subscription's Reverse ETL schedule), as the provider does.
pub fn follow_up_writes(
    ty: ResourceType,
    id: &str,
    object: &Map<String, Json>,
    after_create: bool,
) -> Vec<FollowUp> {
    let field = |k: &str| object.get(k).cloned().unwrap_or_else(|| json!([]));
    let mut writes = Vec::new();
    match ty {
        ResourceType::Source => {
            if after_create && object.contains_key("name") {
                writes.push(FollowUp {
                    field: "name",
                    method: Method::PATCH,
                    path: format!("/sources/{}", encode_segment(id)),
                    body: json!({ "name": object["name"] }),
                });
            }
            // A new source has no labels; only set them when there are some to set.
            let has_labels = object
                .get("labels")
                .and_then(Json::as_array)
                .is_some_and(|l| !l.is_empty());
            if !after_create || has_labels {
                writes.push(FollowUp {
                    field: "labels",
                    method: Method::PUT,
                    path: paths::fill(paths::SOURCE_LABELS, &[id]),
                    body: json!({ "labels": field("labels") }),
                });
            }
        }
        ResourceType::DestinationSubscription
            if after_create && object.contains_key("reverseETLSchedule") =>
        {
            let destination = object
                .get("destinationId")
                .and_then(Json::as_str)
                .unwrap_or_default();
            writes.push(FollowUp {
                field: "reverseETLSchedule",
                method: Method::PATCH,
                path: format!(
                    "/destinations/{}/subscriptions/{}",
                    encode_segment(destination),
                    encode_segment(id)
                ),
                body: json!({ "input": { "reverseETLSchedule": object["reverseETLSchedule"] } }),
            });
        }
        // Tracking plan rules are written by difference: see [`rule_writes`].
        ResourceType::UserGroup => {
            writes.push(FollowUp {
                field: "members",
                method: Method::PUT,
                path: paths::fill(paths::GROUP_USERS_REPLACE, &[id]),
                body: json!({ "emails": field("members") }),
            });
            writes.push(FollowUp {
                field: "permissions",
                method: Method::PUT,
                path: paths::fill(paths::GROUP_PERMISSIONS, &[id]),
                body: json!({ "permissions": permission_inputs(field("permissions")) }),
            });
        }
        ResourceType::User if !after_create => writes.push(FollowUp {
            field: "permissions",
            method: Method::PUT,
            path: paths::fill(paths::USER_PERMISSIONS, &[id]),
            body: json!({ "permissions": permission_inputs(field("permissions")) }),
        }),
        _ => {}
    }
    writes
}

/// The most rules one rules request may carry (the API's page size; a replace of more is refused).
pub const MAX_RULES_PER_REQUEST: usize = 200;

/// One request that changes a tracking plan's rules.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleWrite {
    /// `PATCH /tracking-plans/{id}/rules`: add or change these rules (matched by type and key).
    Upsert(Json),
    /// `DELETE /tracking-plans/{id}/rules?rules.0.type=..&rules.0.key=..`: remove these rules.
    Remove(Vec<(String, String)>),
}

/// What identifies a rule within its tracking plan: its type and key (`COMMON`, `IDENTIFY`
/// and `GROUP` rules have no key).
pub fn rule_key(rule: &Json) -> (String, String) {
    let text = |k: &str| {
        rule.get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("type"), text("key"))
}

/// A rule as the upsert and replace requests take it: no timestamps.
fn rule_input(rule: &Json) -> Json {
    let mut rule = rule.clone();
    if let Json::Object(map) = &mut rule {
        for k in ["createdAt", "updatedAt", "deprecatedAt"] {
            map.remove(k);
        }
    }
    rule
}

/// The requests that turn the rules `current` into `wanted`, never a replace of them all: rules
/// that are new or changed are upserted, rules whose (type, key) is gone are removed, each in
/// requests of at most [`MAX_RULES_PER_REQUEST`]. Unchanged rules cost nothing.
pub fn rule_writes(wanted: &[Json], current: &[Json]) -> Vec<RuleWrite> {
    let current_by_key: std::collections::BTreeMap<(String, String), Json> = current
        .iter()
        .map(|r| (rule_key(r), rule_input(r)))
        .collect();
    let wanted_keys: std::collections::BTreeSet<(String, String)> =
        wanted.iter().map(rule_key).collect();
    let upserts: Vec<Json> = wanted
        .iter()
        .map(rule_input)
        .filter(|r| current_by_key.get(&rule_key(r)) != Some(r))
        .collect();
    let removals: Vec<&Json> = current
        .iter()
        .filter(|r| !wanted_keys.contains(&rule_key(r)))
        .collect();
    let mut writes = Vec::new();
    for chunk in upserts.chunks(MAX_RULES_PER_REQUEST) {
        writes.push(RuleWrite::Upsert(json!({ "rules": chunk })));
    }
    for chunk in removals.chunks(MAX_RULES_PER_REQUEST) {
        let mut query = Vec::new();
        for (i, rule) in chunk.iter().enumerate() {
            let (ty, key) = rule_key(rule);
            query.push((format!("rules.{i}.type"), ty));
            if !key.is_empty() {
                query.push((format!("rules.{i}.key"), key));
            }
            if let Some(version) = rule.get("version") {
                query.push((format!("rules.{i}.version"), version.to_string()));
            }
        }
        writes.push(RuleWrite::Remove(query));
    }
    writes
}

// ------------------------------------------------------------------------------------------
// Secrets: one rule for both ends. The embedded workspace serves secrets masked as Segment does,
// and the client masks what it reads by the same rule, so no clear secret reaches HCL even from a
// workspace that serves one.

/// Segment's mask: ten bullets, then the last four characters of a secret of at least
/// [`MASK_TAIL_FROM`] characters (`••••••••••adce`); ten bullets alone for a shorter one
/// (`auth_token = "••••••••••"` in the real Git Sync output).
/// The start of every value Segment masks.
pub const MASK_BULLETS: &str = "••••••••••";
const MASK_TAIL: usize = 4;
const MASK_TAIL_FROM: usize = 8;

/// Segment's mask of a secret value. An empty value has nothing to hide, and a value already in
/// the mask's shape is kept, so masking twice changes nothing.
pub fn mask(value: &str) -> String {
    if value.is_empty() || is_masked(value) {
        return value.to_owned();
    }
    let chars: Vec<char> = value.chars().collect();
    let tail: String = if chars.len() >= MASK_TAIL_FROM {
        chars[chars.len() - MASK_TAIL..].iter().collect()
    } else {
        String::new()
    };
    format!("{MASK_BULLETS}{tail}")
}

/// Whether a value has exactly the shape of Segment's mask: ten bullets, then nothing or the
/// four last characters of the secret (whatever they are). A value that merely contains a
/// bullet is a clear value.
pub fn is_masked(value: &str) -> bool {
    value.strip_prefix(MASK_BULLETS).is_some_and(|tail| {
        let n = tail.chars().count();
        n == 0 || n == MASK_TAIL
    })
}

/// Whether a settings key names a secret, at any depth: `password`, `credentials.password`,
/// `apiKey`, `X-Api-Key`, `secretKey`, `sharedSecret`, `privateKey`, and any `...token`
/// (`token`, `authToken`, `accessToken`, `privateAppToken`), the keys Segment masks in real Git
/// Sync output plus those it serves in clear but are secrets all the same. Compared on the
/// lowercase letters and digits, so `api_key`, `apiKey` and `Api-Key` are one key.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    const PARTS: [&str; 5] = ["password", "passwd", "secret", "apikey", "privatekey"];
    PARTS.iter().any(|p| k.contains(p)) || k.ends_with("token") || k.ends_with("tokens")
}

/// A value that is exactly one `@@name@@` placeholder refers to a secret kept elsewhere; it is
/// not a secret itself and stays readable.
fn is_placeholder(value: &str) -> bool {
    crate::model::secret_placeholders(value)
        .next()
        .is_some_and(|name| name.len() + 4 == value.len())
}

/// Whether the value under `key` is secret: everything under a secret key, and a string (not an
/// object, whose own keys say what they hold) under a `credentials` key, which is how sources and
/// warehouses hold a database credential or a service-account key.
pub fn is_secret_under(key: &str, value: &Json) -> bool {
    is_secret_key(key) || (value.is_string() && key.to_ascii_lowercase().contains("credential"))
}

/// Masks every secret in a JSON value: every string under a secret key, at any depth, through
/// objects and arrays (`{"credentials": {"password": ..}}`, `{"apiKeys": [..]}`).
pub fn mask_secrets(value: &mut Json) {
    fn walk(value: &mut Json, secret: bool) {
        match value {
            Json::String(s) if secret && !is_placeholder(s) => *s = mask(s),
            Json::Array(items) => items.iter_mut().for_each(|v| walk(v, secret)),
            Json::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let secret = secret || is_secret_under(k, v);
                    walk(v, secret);
                }
            }
            _ => {}
        }
    }
    walk(value, false);
}

/// Masks the secrets of a full API object, which live in its `settings`.
pub fn mask_object_secrets(object: &mut Map<String, Json>) {
    if let Some(settings) = object.get_mut("settings") {
        mask_secrets(settings);
    }
}

/// Writing back the masked value one read means "unchanged": wherever `new` holds, at a secret
/// place, exactly the mask of what `old` holds at the same place, `old`'s value is put back.
pub fn unmask_unchanged(old: &Json, new: &mut Json) {
    fn walk(old: &Json, new: &mut Json, secret: bool) {
        match (old, new) {
            (Json::String(o), Json::String(n)) if secret && is_masked(n) && *n == mask(o) => {
                n.clone_from(o);
            }
            (Json::Array(o), Json::Array(n)) => {
                for (o, n) in o.iter().zip(n.iter_mut()) {
                    walk(o, n, secret);
                }
            }
            (Json::Object(o), Json::Object(n)) => {
                for (k, nv) in n.iter_mut() {
                    if let Some(ov) = o.get(k) {
                        walk(ov, nv, secret || is_secret_under(k, ov));
                    }
                }
            }
            _ => {}
        }
    }
    walk(old, new, false);
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dot_segment_cannot_climb_out_of_its_collection() {
        let ep = endpoint(ResourceType::Source).unwrap_or_else(|| panic!("no endpoint"));
        let url = |path: String| {
            reqwest::Url::parse(&format!("http://h{path}"))
                .map(|u| u.path().to_owned())
                .unwrap_or_default()
        };
        let sub = endpoint(ResourceType::DestinationSubscription)
            .unwrap_or_else(|| panic!("no endpoint"));
        assert_eq!(
            url(sub.item_path(Some("d1"), "..")),
            "/destinations/d1/subscriptions/%252E%252E"
        );
        assert_eq!(url(ep.item_path(None, ".")), "/sources/%252E");
        assert_eq!(encode_segment("v1.2"), "v1.2");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
    }

    #[test]
    fn rules_are_written_by_difference_in_requests_of_at_most_200() {
        let rule = |key: &str, version: u64| {
            json!({"type": "TRACK", "key": key, "jsonSchema": {"type": "object"}, "version": version,
                   "createdAt": "2026-01-01T00:00:00Z"})
        };
        let many: Vec<Json> = (0..450).map(|i| rule(&format!("e{i}"), 1)).collect();
        let writes = rule_writes(&many, &[]);
        let sizes: Vec<usize> = writes
            .iter()
            .map(|w| match w {
                RuleWrite::Upsert(b) => b["rules"].as_array().map_or(0, Vec::len),
                RuleWrite::Remove(_) => 0,
            })
            .collect();
        assert_eq!(sizes, [200, 200, 50]);
        assert!(
            rule_writes(&many, &many).is_empty(),
            "unchanged rules cost requests"
        );
        let mut changed = many.clone();
        changed[7] = rule("e7", 2);
        changed.remove(9);
        let writes = rule_writes(&changed, &many);
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(
            writes[0],
            RuleWrite::Upsert(
                json!({"rules": [{"type": "TRACK", "key": "e7", "jsonSchema": {"type": "object"}, "version": 2}]})
            )
        );
        assert_eq!(
            writes[1],
            RuleWrite::Remove(vec![
                ("rules.0.type".into(), "TRACK".into()),
                ("rules.0.key".into(), "e9".into()),
                ("rules.0.version".into(), "1".into()),
            ])
        );
    }

    #[test]
    fn audit_kinds_read_back_to_their_type_and_change() {
        for ty in ResourceType::git_sync_types() {
            for (verb, change) in [
                ("Created", AuditChange::Created),
                ("Modified", AuditChange::Modified),
                ("Enabled", AuditChange::Enabled),
                ("Disabled", AuditChange::Disabled),
                ("Deleted", AuditChange::Deleted),
            ] {
                let kind = format!("{} {verb}", audit_names(ty).1);
                assert_eq!(parse_audit_kind(&kind), Some((ty, change)), "{kind}");
            }
        }
        assert_eq!(
            parse_audit_kind("Transformation Updated"),
            Some((ResourceType::Transformation, AuditChange::Modified))
        );
        assert_eq!(
            parse_audit_kind("Non-Segment User Invited to Workspace"),
            Some((ResourceType::User, AuditChange::Created))
        );
        assert_eq!(
            parse_audit_kind("Subjects Added to Group"),
            Some((ResourceType::UserGroup, AuditChange::Modified))
        );
        assert_eq!(
            parse_audit_kind("Source Connected to Tracking Plan"),
            Some((ResourceType::Source, AuditChange::Modified))
        );
        assert_eq!(
            parse_audit_kind("Storage Destination Settings Validation"),
            None
        );
        assert_eq!(parse_audit_kind("Space Created"), None);
    }

    /// A value of every configurable attribute of a schema, in the API's shape.
    fn dummy(top: Option<ResourceType>, schema: &[Attribute]) -> Map<String, Json> {
        schema
            .iter()
            .filter(|a| a.is_configurable())
            .map(|a| {
                let v = match &a.ty {
                    AttrType::Bool => json!(true),
                    AttrType::Number => json!(1),
                    AttrType::String => json!("x"),
                    AttrType::Json => json!({"k": "v"}),
                    AttrType::Object(nested) => Json::Object(dummy(None, nested)),
                    AttrType::ObjectList(nested) | AttrType::ObjectSet(nested) => {
                        json!([Json::Object(dummy(None, nested))])
                    }
                    AttrType::List(_) | AttrType::Set(_) => json!(["x"]),
                };
                let key = top.map_or_else(|| camel_case(a.name), |ty| field_name(ty, a.name));
                (key, v)
            })
            .collect()
    }

    /// C5: what an update may send is derived from the schema's `forces_replacement`, the flag
    /// the plan reads. No update body of any type carries a replace-forcing field, and every
    /// in-place attribute reaches the PATCH body or a follow-up write.
    #[test]
    fn an_update_body_carries_what_changed_and_what_the_api_requires() {
        use ResourceType as T;
        let masked = json!({"apiKey": "••••••••••abcd", "region": "eu"});
        let cases = [
            // Defect 5: a toggle sends no settings, so no masked secret.
            (
                T::Destination,
                json!({"enabled": false, "name": "D", "settings": masked}),
                json!({"enabled": true, "name": "D", "settings": masked}),
                json!({"enabled": false}),
            ),
            (
                T::Source,
                json!({"enabled": true, "name": "New", "slug": "s", "settings": {}}),
                json!({"enabled": true, "name": "Old", "slug": "s", "settings": {}}),
                json!({"name": "New"}),
            ),
            // A settings change sends the settings, whole.
            (
                T::Destination,
                json!({"enabled": true, "settings": {"apiKey": "k", "region": "us"}}),
                json!({"enabled": true, "settings": masked}),
                json!({"settings": {"apiKey": "k", "region": "us"}}),
            ),
            // Required by the API: sent whatever changed.
            (
                T::Warehouse,
                json!({"enabled": false, "settings": masked}),
                json!({"enabled": true, "settings": masked}),
                json!({"enabled": false, "settings": masked}),
            ),
            (
                T::InsertFunctionInstance,
                json!({"enabled": false, "name": "n", "settings": {}}),
                json!({"enabled": true, "name": "n", "settings": {}}),
                json!({"enabled": false, "settings": {}}),
            ),
            (
                T::UserGroup,
                json!({"name": "G"}),
                json!({"name": "G"}),
                json!({"name": "G"}),
            ),
            (
                T::DestinationSubscription,
                json!({"input": {"enabled": false, "name": "s", "settings": masked}}),
                json!({"input": {"enabled": true, "name": "s", "settings": masked}}),
                json!({"input": {"enabled": false}}),
            ),
        ];
        for (ty, body, current, sent) in cases {
            assert_eq!(changed_fields(ty, &body, &current), sent, "{ty}");
        }
    }

    #[test]
    fn update_bodies_carry_exactly_the_attributes_that_change_in_place() {
        for ep in ENDPOINTS.iter() {
            let ty = ep.ty;
            let mut object = dummy(Some(ty), ty.kind().attributes);
            object.insert("id".into(), json!("the-id"));
            let Json::Object(body) = update_body(ty, &object) else {
                panic!("{ty}: the update body is not an object");
            };
            let body = match body.get("input") {
                Some(Json::Object(input)) if ty == ResourceType::DestinationSubscription => {
                    input.clone()
                }
                _ => body,
            };
            let follow_ups: Vec<&str> = follow_up_writes(ty, "the-id", &object, false)
                .iter()
                .map(|w| w.field)
                .collect();
            for a in ty.kind().attributes.iter().filter(|a| a.is_configurable()) {
                let field = field_name(ty, a.name);
                let forced = a.forces_replacement
                    || matches!(&a.ty, AttrType::Object(n) if n.iter().any(|n| n.name == "id" && n.forces_replacement));
                let sent = body.contains_key(&field)
                    || follow_ups.contains(&field.as_str())
                    || (ty == ResourceType::Warehouse && field == "name")
                    // Rules go by difference (`rule_writes`), tested on their own.
                    || (ty == ResourceType::TrackingPlan && field == "rules");
                // The one renamed field: a subscription's model is `reverseETLModelId` in a PATCH.
                let renamed = ty == ResourceType::DestinationSubscription && field == "modelId";
                if forced && !renamed {
                    assert!(
                        !sent,
                        "{ty}: `{field}` forces replacement but an update sends it"
                    );
                } else if !renamed && !matches!(ty, ResourceType::Label | ResourceType::User) {
                    assert!(
                        sent,
                        "{ty}: `{field}` changes in place but no update sends it"
                    );
                }
            }
            for fixed in [
                "metadataId",
                "disconnectAllWarehouses",
                "disconnectAllSources",
            ] {
                assert!(!body.contains_key(fixed), "{ty}: an update sends `{fixed}`");
            }
        }
    }

    /// Every write the client sends is classed as the operation it is, so the limits table
    /// (and the pacing by it) applies to the requests Segment counts.
    #[test]
    fn writes_are_classed_by_type_and_operation() {
        use ResourceType as T;
        use WriteOp as W;
        type Case = (Method, &'static str, Option<(T, W)>);
        let cases: &[Case] = &[
            (
                Method::POST,
                "/destinations/d1/subscriptions",
                Some((T::DestinationSubscription, W::Create)),
            ),
            (
                Method::PATCH,
                "/destinations/d1/subscriptions/s1",
                Some((T::DestinationSubscription, W::Update)),
            ),
            (
                Method::DELETE,
                "/destinations/d1/subscriptions/s1",
                Some((T::DestinationSubscription, W::Delete)),
            ),
            (Method::POST, "/labels", Some((T::Label, W::Create))),
            (
                Method::DELETE,
                "/labels/team/a%3Ab",
                Some((T::Label, W::Delete)),
            ),
            (Method::POST, "/invites", Some((T::User, W::Create))),
            (Method::DELETE, "/invites", Some((T::User, W::Delete))),
            (Method::DELETE, "/users", Some((T::User, W::Delete))),
            (
                Method::PUT,
                "/users/u1/permissions",
                Some((T::User, W::Update)),
            ),
            (Method::POST, "/groups", Some((T::UserGroup, W::Create))),
            (Method::PATCH, "/groups/g1", Some((T::UserGroup, W::Update))),
            (
                Method::PUT,
                "/group/g1/users",
                Some((T::UserGroup, W::Update)),
            ),
            (
                Method::PUT,
                "/groups/g1/permissions",
                Some((T::UserGroup, W::Update)),
            ),
            (
                Method::DELETE,
                "/groups/g1",
                Some((T::UserGroup, W::Delete)),
            ),
            (Method::PATCH, "/sources/s1", Some((T::Source, W::Update))),
            (
                Method::PUT,
                "/sources/s1/labels",
                Some((T::Source, W::Update)),
            ),
            (
                Method::PUT,
                "/tracking-plans/t1/rules",
                Some((T::TrackingPlan, W::Update)),
            ),
            (
                Method::POST,
                "/warehouses/w1/connected-sources/s1",
                Some((T::SourceWarehouseConnection, W::Create)),
            ),
            (Method::GET, "/destinations/d1/subscriptions", None),
            (Method::POST, "/nowhere", None),
        ];
        for (method, path, class) in cases {
            assert_eq!(write_class(method, path), *class, "{method} {path}");
        }
        for (ty, op, n) in WRITE_LIMITS {
            assert_eq!(write_limit(*ty, *op), Some(*n));
        }
    }

    #[test]
    fn camel_case_matches_the_api() {
        assert_eq!(
            camel_case("query_identifier_column"),
            "queryIdentifierColumn"
        );
        assert_eq!(camel_case("source_id"), "sourceId");
        assert_eq!(
            field_name(
                ResourceType::DestinationSubscription,
                "reverse_etl_schedule"
            ),
            "reverseETLSchedule"
        );
    }

    #[test]
    fn every_synthetic_resource_survives_the_api_shape() {
        for r in crate::model::synthetic::workspace(400, 3) {
            let api = to_api(&r);
            assert_eq!(
                from_api(r.ty, &api).as_ref(),
                Ok(&r),
                "{}",
                serde_json::Value::Object(api)
            );
        }
    }

    #[test]
    fn warehouse_name_lives_in_settings() {
        let api = json!({"id": "w1", "enabled": true, "metadata": {"id": "m"}, "settings": {"name": "WH", "host": "h"}});
        let r = from_api(
            ResourceType::Warehouse,
            api.as_object().unwrap_or(&Map::new()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.get("name"), &Value::String("WH".into()));
        assert_eq!(r.get("settings"), &Value::Json(json!({"host": "h"})));
        assert_eq!(Json::Object(to_api(&r)), api);
    }

    /// B3: a PATCH of a warehouse's settings alone keeps its name (which the read shape keeps
    /// inside the settings); a PATCH of its name alone keeps the settings.
    #[test]
    fn a_warehouse_patch_keeps_what_it_does_not_name() {
        let stored = json!({"id": "w1", "enabled": true, "metadata": {"id": "m"},
                            "settings": {"name": "WH", "host": "h"}});
        let mut object = stored.as_object().cloned().unwrap_or_default();
        apply_update(
            ResourceType::Warehouse,
            &mut object,
            &json!({"settings": {"host": "h2"}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(object["settings"], json!({"name": "WH", "host": "h2"}));
        apply_update(
            ResourceType::Warehouse,
            &mut object,
            &json!({"name": "New"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(object["settings"], json!({"name": "New", "host": "h2"}));
        assert!(!object.contains_key("name"));
    }

    #[test]
    fn wrong_shapes_are_named() {
        let api = json!({"id": "s1", "enabled": "yes"});
        let e = from_api(ResourceType::Source, api.as_object().unwrap_or(&Map::new()));
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("segment_source `s1`: field `enabled` must be a bool, found a string".into())
        );
    }

    #[test]
    fn masked_means_exactly_segments_mask() {
        assert_eq!(mask("abcdefgh1234"), "••••••••••1234");
        assert_eq!(mask("short"), "••••••••••");
        assert_eq!(mask(""), "");
        for masked in ["••••••••••1234", "••••••••••", "••••••••••12•4"]
        {
            assert!(is_masked(masked), "{masked}");
            assert_eq!(mask(masked), masked);
        }
        for clear in [
            "pass•word",
            "•",
            "•••••••••1234",
            "••••••••••12345",
            "•••••••••••",
            "x••••••••••1234",
        ] {
            assert!(!is_masked(clear), "{clear}");
            assert!(is_masked(&mask(clear)), "{clear}");
        }
    }

    #[test]
    fn secret_keys_are_found_at_any_depth_and_in_arrays() {
        for key in [
            "password",
            "apiKey",
            "api_key",
            "X-Api-Key",
            "secretKey",
            "sharedSecret",
            "privateKey",
            "token",
            "accessToken",
            "authToken",
            "auth_token",
            "privateAppToken",
            "refreshTokens",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["region", "tokenUrl", "writeKeys", "host", "name"] {
            assert!(!is_secret_key(key), "{key}");
        }
        let mut settings = json!({
            "credentials": {"user": "ana", "password": "hunter2-clear"},
            "servers": [{"host": "h", "privateKey": "k-123456789"}],
            "apiKeys": ["one-1234567", {"nested": "two-7654321"}],
            "headers": {"X-Api-Key": "@@webhook_key@@"},
            "apiKey": "••••••••••adce",
            "token": "",
            "db": {"credentials": "p3a1177142867741"},
        });
        let clear = settings.clone();
        mask_secrets(&mut settings);
        assert_eq!(
            settings,
            json!({
                "credentials": {"user": "ana", "password": "••••••••••lear"},
                "servers": [{"host": "h", "privateKey": "••••••••••6789"}],
                "apiKeys": ["••••••••••4567", {"nested": "••••••••••4321"}],
                "headers": {"X-Api-Key": "@@webhook_key@@"},
                "apiKey": "••••••••••adce",
                "token": "",
                "db": {"credentials": "••••••••••7741"},
            })
        );
        // Written back as read: every clear value returns; a new value stays new.
        let mut back = settings.clone();
        back["servers"][0]["privateKey"] = json!("new-private-key");
        unmask_unchanged(&clear, &mut back);
        let mut expected = clear;
        expected["servers"][0]["privateKey"] = json!("new-private-key");
        assert_eq!(back, expected);
    }
}
