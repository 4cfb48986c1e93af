//! The embedded workspace: `gitsync workspace serve`. A real HTTP server for the part of Segment's
//! Public API that gitsync uses, backed by SQLite; the default workspace of the demo and the
//! backend of every test. The same client code talks to it and to Segment.

pub(crate) mod ids;
pub mod server;
pub mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value as Json;

pub use server::{ServerConfig, router};
pub use store::Store;

use crate::model::{Resource, ResourceType};
use crate::sync::tree::{TreeReadError, read_dir};
use crate::workspace::api;

/// Why a Git Sync tree cannot seed the workspace.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The tree cannot be read, or some of its files do not parse (all of them are named).
    #[error(transparent)]
    Tree(#[from] TreeReadError),
    #[error(
        "{path}: `{name}` has no import block, so it has no id to keep; seed files must be exported files"
    )]
    NoId { path: String, name: String },
    #[error("{path}: gitsync does not serve {ty} through the API")]
    Unsupported { path: String, ty: ResourceType },
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Loads every resource file under the resource directories of `dir` into the store, keeping
/// ids and attributes, so that exporting the workspace gives the same tree back. Returns the
/// number of resources per type. Nothing is stored unless every file parses; the error names
/// every file that does not.
pub fn seed_from_hcl(
    store: &Store,
    dir: &Path,
) -> Result<BTreeMap<ResourceType, usize>, SeedError> {
    let resources = read_dir(dir)?;
    seed(store, &resources)
}

/// Stores resources as they are (no audit events: this is the starting state).
pub fn seed(
    store: &Store,
    resources: &[(String, Resource)],
) -> Result<BTreeMap<ResourceType, usize>, SeedError> {
    let mut rows = Vec::with_capacity(resources.len());
    let mut counts = BTreeMap::new();
    for (path, resource) in resources {
        // Connections are stored under their parent (the warehouse or tracking plan) with the id
        // `<source>:<parent>`, as the server keeps them.
        let connection_parent = match resource.ty {
            ResourceType::SourceWarehouseConnection => Some("warehouse_id"),
            ResourceType::SourceTrackingPlanConnection => Some("tracking_plan_id"),
            _ => None,
        };
        let parent_attr = match (connection_parent, api::endpoint(resource.ty)) {
            (Some(p), _) => Some(p),
            (None, Some(ep)) => ep.parent,
            (None, None) => {
                return Err(SeedError::Unsupported {
                    path: path.clone(),
                    ty: resource.ty,
                });
            }
        };
        let id = match &resource.id {
            Some(id) => id.clone(),
            None => resource.import_id().map_err(|_| SeedError::NoId {
                path: path.clone(),
                name: resource.new_name.clone().unwrap_or_default(),
            })?,
        };
        if resource.new_name.is_some() {
            return Err(SeedError::NoId {
                path: path.clone(),
                name: resource.new_name.clone().unwrap_or_default(),
            });
        }
        let parent = parent_attr.and_then(|p| match resource.get(p) {
            crate::model::Value::String(s) => Some(s.clone()),
            _ => None,
        });
        let mut object = api::to_api(resource);
        if resource.ty == ResourceType::SourceTrackingPlanConnection
            && let Some(Json::Object(settings)) = object.remove("schemaSettings")
        {
            let source = object
                .get("sourceId")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            rows.push(store::SeedRow {
                ty: "source_schema_settings".into(),
                id: source,
                parent: None,
                object: settings,
            });
        }
        if resource.ty == ResourceType::User {
            object
                .entry("name")
                .or_insert_with(|| Json::String(String::new()));
        }
        rows.push(store::SeedRow {
            ty: resource.ty.terraform_type().to_owned(),
            id,
            parent,
            object,
        });
        *counts.entry(resource.ty).or_insert(0) += 1;
    }
    // A partial tree (a sample of a repository) can hold filters and subscriptions whose
    // destination file is missing. The API reaches those only through their destination, so the
    // seed keeps a placeholder parent for them, marked so that exports skip it.
    let destinations: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.ty == "segment_destination")
        .map(|r| r.id.as_str())
        .collect();
    let orphan_parents: std::collections::BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r.parent.as_deref())
        .filter(|p| !destinations.contains(p))
        .map(str::to_owned)
        .collect();
    for parent in orphan_parents {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), Json::String(parent.clone()));
        object.insert(api::PLACEHOLDER.into(), Json::Bool(true));
        rows.push(store::SeedRow {
            ty: "segment_destination".into(),
            id: parent,
            parent: None,
            object,
        });
    }
    store.seed(&rows)?;
    Ok(counts)
}

/// A running embedded workspace (for tests, benchmarks and the demo): serves until dropped.
pub type Running = crate::serve::Served;

/// Starts serving `store` on `listen` (use port 0 for any free port) in the current runtime.
pub async fn start(
    listen: SocketAddr,
    store: Store,
    config: ServerConfig,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    Ok(crate::serve::Served::spawn(
        listener,
        router(store, config),
        "embedded workspace",
    ))
}
