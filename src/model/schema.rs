//! The `segmentio/segment` provider's resource schemas (release 1.6.0), written once.
//!
//! Everything that needs to know what a resource looks like — the HCL renderer and parser, the
//! workspace client, the plan — reads these tables. Nothing else in gitsync may spell out an
//! attribute list; add or change an attribute here and every layer follows.
//!
//! Each attribute records its type, whether it is required, optional or computed (computed
//! attributes are set by Segment, never written to HCL and rejected when a person writes them), and
//! whether changing it forces the resource to be replaced.

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
// moved to the destination subscription) and Git Sync does not write them; gitsync leaves them out.
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
}
