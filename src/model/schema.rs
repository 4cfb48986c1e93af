//! The `segmentio/segment` provider's resource schemas (release 1.6.0), written once.
//!
//! Everything that needs to know what a resource looks like — the HCL renderer and parser, the
//! workspace client, the plan — reads these tables. Nothing else in gitsync may spell out an
//! attribute list; add or change an attribute here and every layer follows.
//!
//! Each attribute records its type, whether it is required, optional or computed (computed
//! attributes are set by Segment, never written to HCL and rejected when a person writes them), and
//! whether changing it forces the resource to be replaced.
//!
//! Files written by older provider releases are described here too: [`ResourceType::history`]
//! gives, for every attribute of every release since 0.0.1, when it came, when it went and
//! whether it is deprecated, and names the legacy attributes that files may hold but the model
//! does not (read, checked and dropped by the parser; never rendered).

use std::fmt;

/// The type of an attribute, as the provider declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    Bool,
    Number,
    String,
    /// A JSON document held in a string (`jsontypes.Normalized`); written as `jsonencode({...})`.
    Json,
    /// A list of primitive values, order significant.
    List(&'static AttrType),
    /// A set of primitive values; gitsync keeps the order Segment returns them in.
    Set(&'static AttrType),
    /// A single nested object (`SingleNestedAttribute`).
    Object(&'static [Attribute]),
    /// A list of nested objects (`ListNestedAttribute`).
    ObjectList(&'static [Attribute]),
    /// A set of nested objects (`SetNestedAttribute`); rendered in the order Segment returns them.
    ObjectSet(&'static [Attribute]),
}

impl AttrType {
    /// The nested attributes of an object-shaped type.
    pub fn nested(&self) -> Option<&'static [Attribute]> {
        match *self {
            AttrType::Object(a) | AttrType::ObjectList(a) | AttrType::ObjectSet(a) => Some(a),
            _ => None,
        }
    }

    /// How the type is named in error messages: "a bool", "a list of strings", ...
    pub fn describe(&self) -> String {
        match self {
            AttrType::Bool => "a bool".into(),
            AttrType::Number => "a number".into(),
            AttrType::String => "a string".into(),
            AttrType::Json => "a JSON value (jsonencode({...}) or a JSON string)".into(),
            AttrType::List(e) => format!("a list of {}", e.plural()),
            AttrType::Set(e) => format!("a set of {}", e.plural()),
            AttrType::Object(_) => "an object".into(),
            AttrType::ObjectList(_) => "a list of objects".into(),
            AttrType::ObjectSet(_) => "a set of objects".into(),
        }
    }

    fn plural(&self) -> &'static str {
        match self {
            AttrType::Bool => "bools",
            AttrType::Number => "numbers",
            AttrType::String => "strings",
            _ => "values",
        }
    }
}

/// Whether a person may, must or must not write an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Set by Segment; never rendered, rejected in HCL written by a person.
    Computed,
}

/// One attribute of a resource or of a nested object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub presence: Presence,
    /// Changing the attribute destroys and re-creates the resource (`RequiresReplace`).
    pub forces_replacement: bool,
    /// The most items a set or list may hold, where the provider's validator has a limit
    /// (`setvalidator.SizeAtMost`); `gitsync validate` refuses more.
    pub max_items: Option<usize>,
}

impl Attribute {
    /// True when the attribute appears in HCL (required or optional).
    pub fn is_configurable(&self) -> bool {
        self.presence != Presence::Computed
    }
}

/// How the Terraform import id of a resource is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportId {
    /// The resource's own Segment id: `sources/<id>`.
    OwnId,
    /// `<parent attribute value>:<own id>`, as for destination filters (`<destination_id>:<id>`).
    ParentAndOwnId { parent: &'static str },
    /// Attribute values joined by `:`, for resources without an id of their own (labels:
    /// `<key>:<value>`).
    Attributes(&'static [&'static str]),
}

/// What a resource's file is called inside its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileName {
    /// `<own id>.tf` (destination filters use only the filter id).
    OwnId,
    /// The import id with `:` replaced by `_`, plus `.tf` (subscriptions, labels).
    ImportId,
}

/// Every resource type gitsync knows, in Git Sync's directory order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Source,
    Destination,
    Warehouse,
    DestinationFilter,
    DestinationSubscription,
    TrackingPlan,
    Function,
    Transformation,
    ReverseEtlModel,
    User,
    UserGroup,
    Label,
    SourceTrackingPlanConnection,
    SourceWarehouseConnection,
    InsertFunctionInstance,
    ProfilesWarehouse,
}

/// The static description of a resource type.
#[derive(Debug)]
pub struct Kind {
    pub ty: ResourceType,
    /// Terraform type name, `segment_source`.
    pub terraform_type: &'static str,
    /// Directory in the repository, `sources`.
    pub directory: &'static str,
    /// The name Segment uses in commit messages, "Source", "Destination Subscription".
    pub display_name: &'static str,
    pub import_id: ImportId,
    pub file_name: FileName,
    /// True for the twelve types Segment's Git Sync writes; the others exist in the provider
    /// and gitsync can handle them, but a Git Sync export does not include them.
    pub in_git_sync: bool,
    /// All attributes, sorted by name (the order they are rendered in).
    pub attributes: &'static [Attribute],
}

impl ResourceType {
    pub const ALL: [ResourceType; 16] = [
        ResourceType::Source,
        ResourceType::Destination,
        ResourceType::Warehouse,
        ResourceType::DestinationFilter,
        ResourceType::DestinationSubscription,
        ResourceType::TrackingPlan,
        ResourceType::Function,
        ResourceType::Transformation,
        ResourceType::ReverseEtlModel,
        ResourceType::User,
        ResourceType::UserGroup,
        ResourceType::Label,
        ResourceType::SourceTrackingPlanConnection,
        ResourceType::SourceWarehouseConnection,
        ResourceType::InsertFunctionInstance,
        ResourceType::ProfilesWarehouse,
    ];

    /// The static description of this type.
    pub fn kind(self) -> &'static Kind {
        &KINDS[self as usize]
    }

    pub fn terraform_type(self) -> &'static str {
        self.kind().terraform_type
    }

    /// Looks a type up by its Terraform name (`segment_source`).
    pub fn from_terraform_type(name: &str) -> Option<ResourceType> {
        KINDS
            .iter()
            .find(|k| k.terraform_type == name)
            .map(|k| k.ty)
    }

    /// Looks a type up by its directory name (`sources`).
    pub fn from_directory(dir: &str) -> Option<ResourceType> {
        KINDS.iter().find(|k| k.directory == dir).map(|k| k.ty)
    }

    /// The twelve types Segment's Git Sync exports.
    pub fn git_sync_types() -> impl Iterator<Item = ResourceType> {
        Self::ALL.into_iter().filter(|t| t.kind().in_git_sync)
    }

    /// A list of types as people write it (CLI `--types`, a GitSync's `resourceTypes`): each
    /// by directory (`sources`) or Terraform name (`segment_source`), in the order given. An
    /// empty list is empty; what it defaults to is the caller's choice. A type named twice is
    /// refused rather than dropped: `sources,sources` is more likely a typo for another type.
    pub fn parse_list<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Vec<ResourceType>, TypeListError> {
        let mut types: Vec<(ResourceType, String)> = Vec::new();
        for name in names {
            let name = name.as_ref().trim();
            let ty = ResourceType::from_directory(name)
                .or_else(|| ResourceType::from_terraform_type(name))
                .ok_or_else(|| TypeListError::Unknown(name.to_owned()))?;
            if let Some((_, first)) = types.iter().find(|(t, _)| *t == ty) {
                return Err(TypeListError::Twice {
                    first: first.clone(),
                    again: name.to_owned(),
                });
            }
            types.push((ty, name.to_owned()));
        }
        Ok(types.into_iter().map(|(t, _)| t).collect())
    }

    /// A top-level attribute by name.
    pub fn attribute(self, name: &str) -> Option<&'static Attribute> {
        self.kind().attributes.iter().find(|a| a.name == name)
    }
}

/// Why [`ResourceType::parse_list`] refused a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeListError {
    #[error("unknown resource type `{0}`; known: {known}", known = known_directories())]
    Unknown(String),
    #[error("{}", twice(first, again))]
    Twice { first: String, again: String },
}

fn twice(first: &str, again: &str) -> String {
    if first == again {
        format!("the resource type `{first}` is listed twice; name each type once")
    } else {
        format!(
            "`{first}` and `{again}` are the same resource type, listed twice; name each type once"
        )
    }
}

fn known_directories() -> String {
    ResourceType::ALL
        .iter()
        .map(|t| t.kind().directory)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.terraform_type())
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute tables. Keep every list sorted by name: the renderer relies on it (see the test).

const fn req(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        presence: Presence::Required,
        forces_replacement: false,
        max_items: None,
    }
}
const fn req_new(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        presence: Presence::Required,
        forces_replacement: true,
        max_items: None,
    }
}
const fn opt(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        presence: Presence::Optional,
        forces_replacement: false,
        max_items: None,
    }
}
const fn opt_new(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        presence: Presence::Optional,
        forces_replacement: true,
        max_items: None,
    }
}
const fn computed(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        presence: Presence::Computed,
        forces_replacement: false,
        max_items: None,
    }
}

impl Attribute {
    /// The same attribute, holding at most `n` items.
    const fn at_most(self, n: usize) -> Attribute {
        Attribute {
            max_items: Some(n),
            ..self
        }
    }
}

/// The provider's limit on labels, permissions, their resources and group members.
const MAX_200: usize = 200;
/// The provider's limit on tracking plan rules since 1.5.0 (`MaxRules`; 200 before).
const MAX_RULES: usize = 2000;

use AttrType::{Bool, Json, Number, String as Str};

const STRINGS: AttrType = Str;

const LABEL_PAIR: &[Attribute] = &[req("key", Str), req("value", Str)];

const SOURCE_METADATA: &[Attribute] = &[
    computed("categories", AttrType::List(&STRINGS)),
    computed("description", Str),
    req_new("id", Str),
    computed("name", Str),
    computed("slug", Str),
];

const SOURCE: &[Attribute] = &[
    req("enabled", Bool),
    computed("id", Str),
    opt("labels", AttrType::ObjectSet(LABEL_PAIR)).at_most(MAX_200),
    req("metadata", AttrType::Object(SOURCE_METADATA)),
    opt("name", Str),
    req("settings", Json),
    req("slug", Str),
    computed("workspace_id", Str),
    computed("write_keys", AttrType::List(&STRINGS)),
];

const DESTINATION_CONTACT: &[Attribute] = &[
    computed("email", Str),
    computed("is_primary", Bool),
    computed("name", Str),
    computed("role", Str),
];

const DESTINATION_METADATA: &[Attribute] = &[
    opt("contacts", AttrType::ObjectList(DESTINATION_CONTACT)),
    computed("description", Str),
    req_new("id", Str),
    computed("name", Str),
    opt("partner_owned", Bool),
    opt("region_endpoints", AttrType::List(&STRINGS)),
    computed("slug", Str),
    opt("supported_regions", AttrType::List(&STRINGS)),
];

const DESTINATION: &[Attribute] = &[
    req("enabled", Bool),
    computed("id", Str),
    req("metadata", AttrType::Object(DESTINATION_METADATA)),
    opt("name", Str),
    req("settings", Json),
    req_new("source_id", Str),
];

const WAREHOUSE_METADATA: &[Attribute] = &[
    computed("description", Str),
    req_new("id", Str),
    computed("name", Str),
    computed("slug", Str),
];

const WAREHOUSE: &[Attribute] = &[
    opt("enabled", Bool),
    computed("id", Str),
    req("metadata", AttrType::Object(WAREHOUSE_METADATA)),
    opt("name", Str),
    req("settings", Json),
    computed("workspace_id", Str),
];

const FILTER_ACTION: &[Attribute] = &[
    opt("fields", Json),
    opt("path", Str),
    opt("percent", Number),
    req("type", Str),
];

const DESTINATION_FILTER: &[Attribute] = &[
    req("actions", AttrType::ObjectSet(FILTER_ACTION)),
    opt("description", Str),
    req_new("destination_id", Str),
    req("enabled", Bool),
    computed("id", Str),
    req("if", Str),
    req_new("source_id", Str),
    req("title", Str),
];

const RETL_SCHEDULE: &[Attribute] = &[opt("config", Json), req("strategy", Str)];

const DESTINATION_SUBSCRIPTION: &[Attribute] = &[
    req_new("action_id", Str),
    computed("action_slug", Str),
    req_new("destination_id", Str),
    req("enabled", Bool),
    computed("id", Str),
    opt_new("model_id", Str),
    req("name", Str),
    opt("reverse_etl_schedule", AttrType::Object(RETL_SCHEDULE)),
    req("settings", Json),
    req("trigger", Str),
];

const TRACKING_PLAN_RULE: &[Attribute] = &[
    req("json_schema", Json),
    opt("key", Str),
    req("type", Str),
    req("version", Number),
];

const TRACKING_PLAN: &[Attribute] = &[
    computed("created_at", Str),
    opt("description", Str),
    computed("id", Str),
    req("name", Str),
    req("rules", AttrType::ObjectSet(TRACKING_PLAN_RULE)).at_most(MAX_RULES),
    computed("slug", Str),
    req_new("type", Str),
    computed("updated_at", Str),
];

const FUNCTION_SETTING: &[Attribute] = &[
    req("description", Str),
    req("label", Str),
    req("name", Str),
    req("required", Bool),
    req("sensitive", Bool),
    req("type", Str),
];

const FUNCTION: &[Attribute] = &[
    computed("catalog_id", Str),
    req("code", Str),
    opt("description", Str),
    opt("display_name", Str),
    computed("id", Str),
    opt("logo_url", Str),
    computed("preview_webhook_url", Str),
    req_new("resource_type", Str),
    opt("settings", AttrType::ObjectSet(FUNCTION_SETTING)),
];

const PROPERTY_RENAME: &[Attribute] = &[req("new_name", Str), req("old_name", Str)];
const PROPERTY_VALUE_TRANSFORMATION: &[Attribute] = &[
    req("property_paths", AttrType::Set(&STRINGS)),
    req("property_value", Str),
];
const FQL_DEFINED_PROPERTY: &[Attribute] = &[req("fql", Str), req("property_name", Str)];

const TRANSFORMATION: &[Attribute] = &[
    opt("destination_metadata_id", Str),
    req("enabled", Bool),
    req(
        "fql_defined_properties",
        AttrType::ObjectSet(FQL_DEFINED_PROPERTY),
    ),
    computed("id", Str),
    req("if", Str),
    req("name", Str),
    opt("new_event_name", Str),
    req("property_renames", AttrType::ObjectSet(PROPERTY_RENAME)),
    req(
        "property_value_transformations",
        AttrType::ObjectSet(PROPERTY_VALUE_TRANSFORMATION),
    ),
    req("source_id", Str),
];

// `schedule_strategy` and `schedule_config` are deprecated since provider 1.2.0 (the schedule
// moved to the destination subscription) and Git Sync does not write them: they are legacy
// attributes (`REVERSE_ETL_MODEL_HISTORY`), read from old files and dropped.
const REVERSE_ETL_MODEL: &[Attribute] = &[
    req("description", Str),
    req("enabled", Bool),
    computed("id", Str),
    req("name", Str),
    req("query", Str),
    req("query_identifier_column", Str),
    req_new("source_id", Str),
];

const LABEL: &[Attribute] = &[
    opt_new("description", Str),
    req_new("key", Str),
    req_new("value", Str),
];

const PERMISSION_RESOURCE: &[Attribute] = &[
    req("id", Str),
    opt("labels", AttrType::ObjectSet(LABEL_PAIR)).at_most(MAX_200),
    req("type", Str),
];

const PERMISSION: &[Attribute] = &[
    opt("resources", AttrType::ObjectSet(PERMISSION_RESOURCE)).at_most(MAX_200),
    req("role_id", Str),
];

const USER: &[Attribute] = &[
    req_new("email", Str),
    computed("id", Str),
    computed("is_invite", Bool),
    computed("name", Str),
    req("permissions", AttrType::ObjectSet(PERMISSION)).at_most(MAX_200),
];

const USER_GROUP: &[Attribute] = &[
    computed("id", Str),
    req("members", AttrType::Set(&STRINGS)).at_most(MAX_200),
    req("name", Str),
    req("permissions", AttrType::ObjectSet(PERMISSION)).at_most(MAX_200),
];

const TRAIT_VIOLATIONS: &[Attribute] = &[
    opt("allow_traits_on_violations", Bool),
    opt("allow_unplanned_traits", Bool),
    opt("common_event_on_violations", Str),
];

const TRACK_VIOLATIONS: &[Attribute] = &[
    opt("allow_event_on_violations", Bool),
    opt("allow_properties_on_violations", Bool),
    opt("allow_unplanned_event_properties", Bool),
    opt("allow_unplanned_events", Bool),
    opt("common_event_on_violations", Str),
];

const SCHEMA_SETTINGS: &[Attribute] = &[
    opt("forwarding_blocked_events_to", Str),
    opt("forwarding_violations_to", Str),
    opt("group", AttrType::Object(TRAIT_VIOLATIONS)),
    opt("identify", AttrType::Object(TRAIT_VIOLATIONS)),
    opt("track", AttrType::Object(TRACK_VIOLATIONS)),
];

const SOURCE_TRACKING_PLAN_CONNECTION: &[Attribute] = &[
    opt("schema_settings", AttrType::Object(SCHEMA_SETTINGS)),
    req_new("source_id", Str),
    req_new("tracking_plan_id", Str),
];

const SOURCE_WAREHOUSE_CONNECTION: &[Attribute] =
    &[req_new("source_id", Str), req_new("warehouse_id", Str)];

const INSERT_FUNCTION_INSTANCE: &[Attribute] = &[
    req("enabled", Bool),
    req_new("function_id", Str),
    computed("id", Str),
    req_new("integration_id", Str),
    req("name", Str),
    req("settings", Json),
];

const PROFILES_WAREHOUSE: &[Attribute] = &[
    opt("enabled", Bool),
    computed("id", Str),
    req_new("metadata_id", Str),
    opt("name", Str),
    opt("schema_name", Str),
    req("settings", Json),
    req_new("space_id", Str),
];

use FileName as F;
use ImportId as I;
use ResourceType as T;

/// Indexed by `ResourceType as usize`.
static KINDS: [Kind; 16] = [
    Kind {
        ty: T::Source,
        terraform_type: "segment_source",
        directory: "sources",
        display_name: "Source",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: SOURCE,
    },
    Kind {
        ty: T::Destination,
        terraform_type: "segment_destination",
        directory: "destinations",
        display_name: "Destination",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: DESTINATION,
    },
    Kind {
        ty: T::Warehouse,
        terraform_type: "segment_warehouse",
        directory: "warehouses",
        display_name: "Warehouse",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: WAREHOUSE,
    },
    Kind {
        ty: T::DestinationFilter,
        terraform_type: "segment_destination_filter",
        directory: "destination_filters",
        display_name: "Destination Filter",
        import_id: I::ParentAndOwnId {
            parent: "destination_id",
        },
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: DESTINATION_FILTER,
    },
    Kind {
        ty: T::DestinationSubscription,
        terraform_type: "segment_destination_subscription",
        directory: "destination_subscriptions",
        display_name: "Destination Subscription",
        import_id: I::ParentAndOwnId {
            parent: "destination_id",
        },
        file_name: F::ImportId,
        in_git_sync: true,
        attributes: DESTINATION_SUBSCRIPTION,
    },
    Kind {
        ty: T::TrackingPlan,
        terraform_type: "segment_tracking_plan",
        directory: "tracking_plans",
        display_name: "Tracking Plan",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: TRACKING_PLAN,
    },
    Kind {
        ty: T::Function,
        terraform_type: "segment_function",
        directory: "functions",
        display_name: "Function",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: FUNCTION,
    },
    Kind {
        ty: T::Transformation,
        terraform_type: "segment_transformation",
        directory: "transformations",
        display_name: "Transformation",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: TRANSFORMATION,
    },
    Kind {
        ty: T::ReverseEtlModel,
        terraform_type: "segment_reverse_etl_model",
        directory: "reverse_etl_models",
        display_name: "Reverse ETL Model",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: REVERSE_ETL_MODEL,
    },
    Kind {
        ty: T::User,
        terraform_type: "segment_user",
        directory: "users",
        display_name: "User",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: USER,
    },
    Kind {
        ty: T::UserGroup,
        terraform_type: "segment_user_group",
        directory: "user_groups",
        display_name: "User Group",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: true,
        attributes: USER_GROUP,
    },
    Kind {
        ty: T::Label,
        terraform_type: "segment_label",
        directory: "labels",
        display_name: "Label",
        import_id: I::Attributes(&["key", "value"]),
        file_name: F::ImportId,
        in_git_sync: true,
        attributes: LABEL,
    },
    Kind {
        ty: T::SourceTrackingPlanConnection,
        terraform_type: "segment_source_tracking_plan_connection",
        directory: "source_tracking_plan_connections",
        display_name: "Source Tracking Plan Connection",
        import_id: I::Attributes(&["source_id", "tracking_plan_id"]),
        file_name: F::ImportId,
        in_git_sync: false,
        attributes: SOURCE_TRACKING_PLAN_CONNECTION,
    },
    Kind {
        ty: T::SourceWarehouseConnection,
        terraform_type: "segment_source_warehouse_connection",
        directory: "source_warehouse_connections",
        display_name: "Source Warehouse Connection",
        import_id: I::Attributes(&["source_id", "warehouse_id"]),
        file_name: F::ImportId,
        in_git_sync: false,
        attributes: SOURCE_WAREHOUSE_CONNECTION,
    },
    Kind {
        ty: T::InsertFunctionInstance,
        terraform_type: "segment_insert_function_instance",
        directory: "insert_function_instances",
        display_name: "Insert Function Instance",
        import_id: I::OwnId,
        file_name: F::OwnId,
        in_git_sync: false,
        attributes: INSERT_FUNCTION_INSTANCE,
    },
    Kind {
        ty: T::ProfilesWarehouse,
        terraform_type: "segment_profiles_warehouse",
        directory: "profiles_warehouses",
        display_name: "Profiles Warehouse",
        import_id: I::ParentAndOwnId { parent: "space_id" },
        file_name: F::ImportId,
        in_git_sync: false,
        attributes: PROFILES_WAREHOUSE,
    },
];

// ---------------------------------------------------------------------------------------------
// Provider history: when each attribute came, went or was deprecated, for every release from
// 0.0.1 to 1.6.0 (`provider-history.md` §3-5, read from the provider's release tags). Users'
// repositories hold files written by all of them; the parser reads every one through this table
// and the renderer writes only today's form (the attribute tables above).

/// A release of the `segmentio/segment` provider, `1.2.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub patch: u8,
}

impl Version {
    pub const fn new(major: u8, minor: u8, patch: u8) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The release the attribute tables above describe: what Git Sync writes today.
pub const PROVIDER_VERSION: Version = Version::new(1, 6, 0);

/// When an attribute was part of the provider's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// The first release that had it.
    pub since: Version,
    /// The first release without it; `None` while [`PROVIDER_VERSION`] still has it.
    pub removed_in: Option<Version>,
    /// The release that marked it deprecated (`DeprecationMessage`).
    pub deprecated_since: Option<Version>,
}

impl Lifetime {
    const fn since(since: Version) -> Lifetime {
        Lifetime {
            since,
            removed_in: None,
            deprecated_since: None,
        }
    }

    /// True when the attribute is in the schema of `version`.
    pub fn exists_in(&self, version: Version) -> bool {
        self.since <= version && self.removed_in.is_none_or(|r| version < r)
    }
}

/// An attribute that files may hold but the model does not: removed from the schema, or still
/// in it but carrying nothing to the workspace. The parser checks a value against `ty` (a file
/// with a malformed one is still refused, with its place) and then drops it, so the old form and
/// today's form of a resource are the same model, and `fmt` writes today's form without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legacy {
    /// Its type in the releases that had it.
    pub ty: AttrType,
    /// Its mode in the last release that had it (or today, for a deprecated one).
    pub presence: Presence,
    /// Why dropping it on read loses nothing.
    pub why: &'static str,
}

/// One attribute whose lifetime is not that of its resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeHistory {
    /// Nested names joined by `.`, with `[]` after a list or set of objects:
    /// `permissions[].resources[].labels[].description`. An entry covers the subtree below it.
    pub path: &'static str,
    pub lifetime: Lifetime,
    /// Set for an attribute the attribute tables above do not hold.
    pub legacy: Option<Legacy>,
    /// Its mode from each release on, oldest first, when the mode changed over its lifetime
    /// (a reverse ETL model's schedule was Required until 1.2.0); empty when it never did.
    pub modes: &'static [(Version, Presence)],
}

/// The history of one resource type.
#[derive(Debug)]
pub struct TypeHistory {
    pub ty: ResourceType,
    /// The release that added the type (`provider.go` `Resources()`).
    pub since: Version,
    /// Every attribute that came after the type, changed its mode, was deprecated or was
    /// removed. Any other attribute of the type has the type's own lifetime and today's mode.
    /// Validator changes (a regex that gained `_`, the rules limit) are not schema changes and
    /// are not listed.
    pub attributes: &'static [AttributeHistory],
}

impl ResourceType {
    /// When this type and its attributes came and went.
    pub fn history(self) -> &'static TypeHistory {
        &HISTORY[self as usize]
    }

    /// The attribute of today's schema at `path` (`labels[].key`; an index such as `[3]` is
    /// read as `[]`).
    pub fn attribute_at(self, path: &str) -> Option<&'static Attribute> {
        let mut schema = self.kind().attributes;
        let mut found = None;
        for name in history_path(path).split('.') {
            let name = name.strip_suffix("[]").unwrap_or(name);
            let attr = schema.iter().find(|a| a.name == name)?;
            schema = attr.ty.nested().unwrap_or(&[]);
            found = Some(attr);
        }
        found
    }

    /// When the attribute at `path` existed, whether today's schema has it or an older one
    /// did; `None` for a path that no release ever had.
    pub fn lifetime(self, path: &str) -> Option<Lifetime> {
        let history = self.history();
        let path = history_path(path);
        let entry = history
            .attributes
            .iter()
            .filter(|h| covers(h.path, &path))
            .max_by_key(|h| h.path.len());
        match entry {
            Some(h) if h.legacy.is_some() => legacy_covers(h, &path).then_some(h.lifetime),
            Some(h) => self.attribute_at(&path).map(|_| h.lifetime),
            None => self
                .attribute_at(&path)
                .map(|_| Lifetime::since(history.since)),
        }
    }

    /// The mode of the attribute at `path` in the release `version`; `None` when that release
    /// did not have it.
    pub fn presence_in(self, path: &str, version: Version) -> Option<Presence> {
        if !self.lifetime(path)?.exists_in(version) {
            return None;
        }
        let path = history_path(path);
        let entries = self.history().attributes;
        if let Some(entry) = entries.iter().find(|h| h.path == path) {
            if let Some((_, mode)) = entry.modes.iter().rev().find(|(v, _)| *v <= version) {
                return Some(*mode);
            }
            if let Some(legacy) = entry.legacy {
                return Some(legacy.presence);
            }
        }
        // Inside a legacy object (`schema_settings.track.allow_unplanned_events`).
        if let Some(nested) = entries
            .iter()
            .find_map(|h| legacy_nested(h, &path).flatten())
        {
            return Some(nested.presence);
        }
        self.attribute_at(&path).map(|a| a.presence)
    }

    /// The legacy attribute at `path` (an index such as `[3]` is read as `[]`), if some
    /// release had one there that the model does not hold.
    pub fn legacy(self, path: &str) -> Option<&'static Legacy> {
        let path = history_path(path);
        self.history()
            .attributes
            .iter()
            .find(|h| h.path == path)
            .and_then(|h| h.legacy.as_ref())
    }
}

/// `a[3].b` -> `a[].b`: the schema does not care which element.
fn history_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('[') {
        return path.into();
    }
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out.into()
}

/// True when `path` is `entry` or lies below it.
fn covers(entry: &str, path: &str) -> bool {
    path.strip_prefix(entry)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with("[]."))
}

/// True when `path` is a legacy entry itself or an attribute of its (object-typed) subtree.
fn legacy_covers(entry: &AttributeHistory, path: &str) -> bool {
    legacy_nested(entry, path).is_some()
}

/// Where `path` lies in a legacy entry: `Some(None)` for the entry itself, `Some(Some(a))` for
/// an attribute of its subtree, `None` outside it.
fn legacy_nested(entry: &AttributeHistory, path: &str) -> Option<Option<&'static Attribute>> {
    let legacy = entry.legacy?;
    let rest = path.strip_prefix(entry.path)?;
    if rest.is_empty() {
        return Some(None);
    }
    let rest = rest.trim_start_matches("[]").strip_prefix('.')?;
    let mut schema = legacy.ty.nested()?;
    let mut found = None;
    for name in rest.split('.') {
        let name = name.strip_suffix("[]").unwrap_or(name);
        let attr = schema.iter().find(|a| a.name == name)?;
        schema = attr.ty.nested().unwrap_or(&[]);
        found = Some(attr);
    }
    Some(found)
}

const fn v(major: u8, minor: u8, patch: u8) -> Version {
    Version::new(major, minor, patch)
}

const fn added(path: &'static str, since: Version) -> AttributeHistory {
    AttributeHistory {
        path,
        lifetime: Lifetime::since(since),
        legacy: None,
        modes: &[],
    }
}

/// An attribute whose mode changed: `modes` gives it from each release on.
const fn changed(
    path: &'static str,
    since: Version,
    modes: &'static [(Version, Presence)],
) -> AttributeHistory {
    AttributeHistory {
        path,
        lifetime: Lifetime::since(since),
        legacy: None,
        modes,
    }
}

const fn removed(
    path: &'static str,
    since: Version,
    removed_in: Version,
    ty: AttrType,
    presence: Presence,
    why: &'static str,
) -> AttributeHistory {
    AttributeHistory {
        path,
        lifetime: Lifetime {
            since,
            removed_in: Some(removed_in),
            deprecated_since: None,
        },
        legacy: Some(Legacy { ty, presence, why }),
        modes: &[],
    }
}

const COMPUTED_LABEL_DESCRIPTION: &str = "it was computed (Segment's description of the label, \
     read back from the workspace), so it never carried configuration; the label itself is a \
     segment_label resource";

const RETL_SCHEDULE_MOVED: &str = "since provider 1.2.0 the schedule is the destination \
     subscription's `reverse_etl_schedule`; the model attribute is no longer sent to the API \
     (whose SDK dropped `scheduleStrategy` and `scheduleConfig` from reverse ETL models in 55.2.0, \
     2024-10-31) and since 1.2.2 it is always read back as null, so it holds no workspace state";

const COMPUTED_THEN_OPTIONAL: &[(Version, Presence)] = &[
    (v(0, 0, 1), Presence::Computed),
    (v(0, 2, 0), Presence::Optional),
];
const COMPUTED_THEN_REQUIRED: &[(Version, Presence)] = &[
    (v(0, 0, 1), Presence::Computed),
    (v(0, 2, 0), Presence::Required),
];
const REQUIRED_THEN_OPTIONAL: &[(Version, Presence)] = &[
    (v(0, 5, 0), Presence::Required),
    (v(1, 2, 0), Presence::Optional),
];

// Destination `name` went from Optional+Computed to Optional in 0.2.0: the same mode here
// (`Presence` does not tell them apart), so no entry.
const SOURCE_HISTORY: &[AttributeHistory] = &[
    // A computed `list(object)` until 0.1.0, so no file could set it; an optional set from
    // 0.2.0, its `key` and `value` required.
    changed("labels", v(0, 0, 1), COMPUTED_THEN_OPTIONAL),
    changed("labels[].key", v(0, 0, 1), COMPUTED_THEN_REQUIRED),
    changed("labels[].value", v(0, 0, 1), COMPUTED_THEN_REQUIRED),
    removed(
        "labels[].description",
        v(0, 0, 1),
        v(0, 6, 0),
        Str,
        Presence::Computed,
        COMPUTED_LABEL_DESCRIPTION,
    ),
    removed(
        "schema_settings",
        v(0, 6, 0),
        v(0, 8, 0),
        AttrType::Object(SCHEMA_SETTINGS),
        Presence::Optional,
        "moved to segment_source_tracking_plan_connection in provider 0.8.0 (a breaking \
         change): the source's schema settings are that connection's, which Git Sync does not \
         export, so a source file cannot carry them; a file that still has them was written \
         for 0.6.0 or 0.7.0 (October-November 2023) and is refused by every release since",
    ),
];

const DESTINATION_SUBSCRIPTION_HISTORY: &[AttributeHistory] =
    &[added("reverse_etl_schedule", v(1, 2, 0))];

const REVERSE_ETL_MODEL_HISTORY: &[AttributeHistory] = &[
    // Required in 0.5.0-1.1.0, Optional and deprecated from 1.2.0, still in 1.6.0's schema;
    // Git Sync stopped writing them with 1.2.2, which reads them back as null.
    AttributeHistory {
        path: "schedule_config",
        lifetime: Lifetime {
            since: v(0, 5, 0),
            removed_in: None,
            deprecated_since: Some(v(1, 2, 0)),
        },
        legacy: Some(Legacy {
            ty: Json,
            presence: Presence::Optional,
            why: RETL_SCHEDULE_MOVED,
        }),
        modes: REQUIRED_THEN_OPTIONAL,
    },
    AttributeHistory {
        path: "schedule_strategy",
        lifetime: Lifetime {
            since: v(0, 5, 0),
            removed_in: None,
            deprecated_since: Some(v(1, 2, 0)),
        },
        legacy: Some(Legacy {
            ty: Str,
            presence: Presence::Optional,
            why: RETL_SCHEDULE_MOVED,
        }),
        modes: REQUIRED_THEN_OPTIONAL,
    },
];

const PERMISSION_LABEL_DESCRIPTION: AttributeHistory = removed(
    "permissions[].resources[].labels[].description",
    v(0, 1, 0),
    v(0, 6, 0),
    Str,
    Presence::Computed,
    COMPUTED_LABEL_DESCRIPTION,
);

const USER_HISTORY: &[AttributeHistory] = &[PERMISSION_LABEL_DESCRIPTION];
const USER_GROUP_HISTORY: &[AttributeHistory] = &[PERMISSION_LABEL_DESCRIPTION];

const LABEL_HISTORY: &[AttributeHistory] = &[removed(
    "id",
    v(0, 0, 1),
    v(0, 1, 0),
    Str,
    Presence::Computed,
    "it was computed (import set it to the whole `key:value` string, which the import id \
     already gives), so it never carried configuration",
)];

const SOURCE_TRACKING_PLAN_CONNECTION_HISTORY: &[AttributeHistory] =
    &[added("schema_settings", v(0, 8, 0))];

const fn type_history(
    ty: ResourceType,
    since: Version,
    attributes: &'static [AttributeHistory],
) -> TypeHistory {
    TypeHistory {
        ty,
        since,
        attributes,
    }
}

/// Indexed by `ResourceType as usize`. `reverse_etl_model` was first tagged as the misrelease
/// `v0.0.5`, the same commit as `v0.5.0`.
static HISTORY: [TypeHistory; 16] = [
    type_history(T::Source, v(0, 0, 1), SOURCE_HISTORY),
    type_history(T::Destination, v(0, 0, 1), &[]),
    type_history(T::Warehouse, v(0, 0, 1), &[]),
    type_history(T::DestinationFilter, v(0, 2, 0), &[]),
    type_history(
        T::DestinationSubscription,
        v(0, 4, 0),
        DESTINATION_SUBSCRIPTION_HISTORY,
    ),
    type_history(T::TrackingPlan, v(0, 0, 1), &[]),
    type_history(T::Function, v(0, 2, 0), &[]),
    type_history(T::Transformation, v(0, 9, 0), &[]),
    type_history(T::ReverseEtlModel, v(0, 5, 0), REVERSE_ETL_MODEL_HISTORY),
    type_history(T::User, v(0, 1, 0), USER_HISTORY),
    type_history(T::UserGroup, v(0, 1, 0), USER_GROUP_HISTORY),
    type_history(T::Label, v(0, 0, 1), LABEL_HISTORY),
    type_history(
        T::SourceTrackingPlanConnection,
        v(0, 4, 0),
        SOURCE_TRACKING_PLAN_CONNECTION_HISTORY,
    ),
    type_history(T::SourceWarehouseConnection, v(0, 0, 1), &[]),
    type_history(T::InsertFunctionInstance, v(0, 7, 0), &[]),
    type_history(T::ProfilesWarehouse, v(0, 3, 0), &[]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_lists_take_directories_and_terraform_names_once_each() {
        assert_eq!(
            ResourceType::parse_list(["sources", " segment_destination"]),
            Ok(vec![ResourceType::Source, ResourceType::Destination])
        );
        assert_eq!(
            ResourceType::parse_list(["sources", "segment_source"]),
            Err(TypeListError::Twice {
                first: "sources".into(),
                again: "segment_source".into()
            })
        );
        let unknown = ResourceType::parse_list(["sorces"]).map_err(|e| e.to_string());
        assert!(
            unknown
                .as_ref()
                .is_err_and(|e| e.starts_with("unknown resource type `sorces`; known: sources, ")),
            "{unknown:?}"
        );
    }

    fn check_sorted(path: &str, attrs: &[Attribute]) {
        for pair in attrs.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{path}: `{}` must come after `{}`",
                pair[0].name,
                pair[1].name
            );
        }
        for a in attrs {
            if let Some(nested) = a.ty.nested() {
                check_sorted(&format!("{path}.{}", a.name), nested);
            }
        }
    }

    #[test]
    fn tables_are_indexed_by_type_and_sorted_by_name() {
        for ty in ResourceType::ALL {
            assert_eq!(ty.kind().ty, ty, "KINDS is out of order at {ty:?}");
            check_sorted(ty.terraform_type(), ty.kind().attributes);
        }
    }

    #[test]
    fn git_sync_exports_twelve_types() {
        assert_eq!(ResourceType::git_sync_types().count(), 12);
    }

    #[test]
    fn import_id_attributes_exist_and_are_required() {
        for ty in ResourceType::ALL {
            let names: Vec<&str> = match ty.kind().import_id {
                ImportId::OwnId => vec![],
                ImportId::ParentAndOwnId { parent } => vec![parent],
                ImportId::Attributes(a) => a.to_vec(),
            };
            for n in names {
                let attr = ty
                    .attribute(n)
                    .unwrap_or_else(|| panic!("{ty}: no attribute {n}"));
                assert_eq!(attr.presence, Presence::Required, "{ty}.{n}");
            }
        }
    }

    #[test]
    fn history_is_indexed_by_type_and_its_paths_resolve() {
        for ty in ResourceType::ALL {
            let history = ty.history();
            assert_eq!(history.ty, ty, "HISTORY is out of order at {ty:?}");
            for h in history.attributes {
                let l = h.lifetime;
                assert!(l.since >= history.since, "{ty}.{}", h.path);
                assert!(
                    l.removed_in
                        .is_none_or(|r| r > l.since && r <= PROVIDER_VERSION)
                );
                assert!(l.deprecated_since.is_none_or(|d| d > l.since));
                match h.legacy {
                    // The model does not hold it: gone from today's tables, and either removed
                    // or deprecated, which is what lets the parser drop it.
                    Some(_) => {
                        assert!(ty.attribute_at(h.path).is_none(), "{ty}.{}", h.path);
                        assert!(l.removed_in.is_some() || l.deprecated_since.is_some());
                        assert_eq!(ty.legacy(h.path).map(|x| x.ty), h.legacy.map(|x| x.ty));
                        // Its parent is an object in today's schema, so the parser reaches it.
                        if let Some((parent, _)) = h.path.rsplit_once('.') {
                            assert!(
                                ty.attribute_at(parent)
                                    .is_some_and(|a| a.ty.nested().is_some()),
                                "{ty}.{}",
                                h.path
                            );
                        }
                    }
                    None => {
                        assert!(ty.attribute_at(h.path).is_some(), "{ty}.{}", h.path);
                        assert_eq!(l.removed_in, None, "{ty}.{}", h.path);
                    }
                }
                assert_eq!(ty.lifetime(h.path), Some(l), "{ty}.{}", h.path);
                // Modes run oldest first, from within the lifetime, and end in today's mode.
                for pair in h.modes.windows(2) {
                    assert!(pair[0].0 < pair[1].0, "{ty}.{}", h.path);
                }
                if let (Some(first), Some(last)) = (h.modes.first(), h.modes.last()) {
                    assert_eq!(first.0, l.since, "{ty}.{}", h.path);
                    let today = ty.attribute_at(h.path).map(|a| a.presence);
                    let today = today.or(h.legacy.map(|x| x.presence));
                    assert_eq!(Some(last.1), today, "{ty}.{}", h.path);
                }
            }
        }
    }

    #[test]
    fn history_knows_every_change_of_provider_history_section_3() {
        let v = Version::new;
        let life = |ty: ResourceType, path: &str| {
            ty.lifetime(path)
                .unwrap_or_else(|| panic!("{ty}.{path} has no lifetime"))
        };
        let (src, retl, sub) = (T::Source, T::ReverseEtlModel, T::DestinationSubscription);
        for name in ["schedule_strategy", "schedule_config"] {
            let l = life(retl, name);
            assert_eq!((l.since, l.removed_in), (v(0, 5, 0), None), "{name}");
            assert_eq!(l.deprecated_since, Some(v(1, 2, 0)), "{name}");
            assert!(l.exists_in(PROVIDER_VERSION) && retl.legacy(name).is_some());
        }
        assert_eq!(
            life(src, "labels[3].description").removed_in,
            Some(v(0, 6, 0))
        );
        assert!(life(src, "labels[].description").exists_in(v(0, 5, 1)));
        assert_eq!(life(src, "labels[].key").since, v(0, 0, 1));
        let mode = |ty: ResourceType, path: &str, at: Version| ty.presence_in(path, at);
        assert_eq!(mode(src, "labels", v(0, 1, 0)), Some(Presence::Computed));
        assert_eq!(mode(src, "labels", v(0, 2, 0)), Some(Presence::Optional));
        assert_eq!(
            mode(src, "labels[0].key", v(0, 0, 2)),
            Some(Presence::Computed)
        );
        assert_eq!(
            mode(src, "labels[0].key", v(1, 6, 0)),
            Some(Presence::Required)
        );
        assert_eq!(
            mode(src, "labels[0].description", v(0, 5, 1)),
            Some(Presence::Computed)
        );
        assert_eq!(mode(src, "labels[0].description", v(0, 6, 0)), None);
        assert_eq!(mode(retl, "schedule_strategy", v(0, 4, 0)), None);
        assert_eq!(
            mode(retl, "schedule_strategy", v(1, 1, 0)),
            Some(Presence::Required)
        );
        assert_eq!(
            mode(retl, "schedule_config", v(1, 2, 0)),
            Some(Presence::Optional)
        );
        assert_eq!(mode(retl, "query", v(0, 5, 0)), Some(Presence::Required));
        assert_eq!(
            mode(src, "schema_settings.group", v(0, 7, 0)),
            Some(Presence::Optional)
        );
        assert_eq!(mode(src, "schema_settings.group", v(0, 8, 0)), None);
        assert_eq!(mode(src, "id", v(0, 0, 1)), Some(Presence::Computed));
        assert_eq!(mode(T::Transformation, "if", v(0, 8, 0)), None);
        assert_eq!(mode(sub, "reverse_etl_schedule.strategy", v(1, 1, 0)), None);
        assert_eq!(
            mode(sub, "reverse_etl_schedule.strategy", v(1, 2, 0)),
            Some(Presence::Required)
        );
        for ty in [T::User, T::UserGroup] {
            let l = life(ty, "permissions[0].resources[1].labels[2].description");
            assert_eq!((l.since, l.removed_in), (v(0, 1, 0), Some(v(0, 6, 0))));
            assert_eq!(
                life(ty, "permissions[].role_id"),
                Lifetime::since(v(0, 1, 0))
            );
        }
        assert_eq!(life(T::Label, "id").removed_in, Some(v(0, 1, 0)));
        let settings = life(src, "schema_settings.track.allow_unplanned_events");
        assert_eq!(
            (settings.since, settings.removed_in),
            (v(0, 6, 0), Some(v(0, 8, 0)))
        );
        assert!(!settings.exists_in(v(0, 8, 0)) && settings.exists_in(v(0, 7, 0)));
        assert_eq!(life(sub, "reverse_etl_schedule.config").since, v(1, 2, 0));
        assert_eq!(life(sub, "settings"), Lifetime::since(v(0, 4, 0)));
        let connection = T::SourceTrackingPlanConnection;
        assert_eq!(life(connection, "schema_settings.group").since, v(0, 8, 0));
        assert_eq!(life(T::Transformation, "if").since, v(0, 9, 0));
        // Never in any release.
        assert_eq!(src.lifetime("schema_settings.nonsense"), None);
        assert_eq!(src.lifetime("labels[].colour"), None);
        assert_eq!(T::Label.lifetime("name"), None);
        assert!(src.legacy("labels[].key").is_none());
    }
}
