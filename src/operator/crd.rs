//! The custom resources (group `gitsync.dev`, version `v1alpha1`, all namespaced): their specs,
//! their status, and the schema the API server validates them with.
//!
//! These types are the operator's whole public contract with kubectl, Argo CD and kstatus: field
//! names, defaults, enums and patterns here become the CRD's OpenAPI schema (`gitsync crds`,
//! `crds/`), so a malformed object is refused by the API server with a message naming the field,
//! before any controller sees it. The schema stays within what a Kubernetes 1.20 API server
//! understands (no CEL rules). Nothing here talks to the cluster.

// kube's `printcolumn(...)` repeats `type_ = "string"` across columns, which clippy reads as a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::ResourceType;

/// The annotation that asks for a full sync: set it to any new value (a timestamp, by
/// convention); the value handled last is kept in `status.lastHandledFullSyncAt`.
pub const FULL_SYNC_ANNOTATION: &str = "gitsync.dev/full-sync-requested-at";
/// Flux's annotation asking for a reconcile now (`flux reconcile`, Argo CD's refresh hooks); the
/// value handled last is kept in `status.lastHandledReconcileAt`.
pub const RECONCILE_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// A reference to a key of a Secret in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The key in the Secret.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// A reference to an object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectRef {
    #[schemars(length(min = 1))]
    pub name: String,
}

// ------------------------------------------------------------------------------------------
// GitConnection

/// The kind of Git host, for the features beyond plain Git (pull requests, comments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    Github,
    Gitlab,
    Bitbucket,
    Gitea,
    #[default]
    Generic,
}

/// Reusable credentials for a Git host. The Secret uses Flux's keys: `identity` and
/// `known_hosts` for SSH; `username` and `password`, or `bearerToken`, for HTTPS; `githubAppID`,
/// `githubAppInstallationID` (or `githubAppInstallationOwner`), `githubAppPrivateKey` and
/// optionally `githubAppBaseURL` for a GitHub App.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gitsync.dev",
    version = "v1alpha1",
    kind = "GitConnection",
    namespaced,
    status = "GitConnectionStatus",
    shortname = "gitconn",
    category = "gitsync-all",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(name = "Auth", type_ = "string", json_path = ".status.authMethod"),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GitConnectionSpec {
    /// The Git host's kind.
    #[serde(default)]
    pub provider: GitProvider,
    /// The Secret holding the credentials (same namespace).
    pub secret_ref: LocalObjectRef,
    /// The host's API base URL, for self-hosted GitHub Enterprise, GitLab or Gitea.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "apiBaseURL"
    )]
    #[schemars(regex(pattern = r"^https?://"))]
    pub api_base_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitConnectionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// How the Secret authenticates: ssh, basic, bearer, githubApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
}

// ------------------------------------------------------------------------------------------
// GitSync

/// Where the workspace is and the token that reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRef {
    /// `us`, `eu`, or the base URL of a Public API (such as gitsync's embedded workspace).
    #[schemars(regex(pattern = r"^(us|eu|https?://\S+)$"))]
    pub endpoint: String,
    /// The Secret key holding the Public API token.
    pub token_secret_ref: SecretKeyRef,
}

/// The repository and branch the workspace is synced into.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRef {
    /// `https://`, `ssh://`, `git://` or `file://` URL.
    #[schemars(regex(pattern = r"^(https?|ssh|git|file)://\S+$"))]
    pub url: String,
    /// The branch gitsync writes, by its short name (main), as git check-ref-format --branch takes it.
    // The pattern has the rules of `git::branch::validate` that a regular expression without
    // look-ahead can say (characters; no leading `-`, `.` or `/`; no `..`, `//`, part starting
    // with `.`, trailing `/` or `.`); the operator applies the whole validator (HEAD, refs/...,
    // .lock, @{) and reports it as an InvalidBranch condition. No CEL rule: the API servers
    // gitsync supports include ones without x-kubernetes-validations.
    #[serde(default = "default_branch")]
    #[schemars(
        length(min = 1, max = 255),
        regex(
            pattern = r"^[^\x00-\x20\x7f~^:?*\[\\./-](?:[^\x00-\x20\x7f~^:?*\[\\./]|\.[^\x00-\x20\x7f~^:?*\[\\./])*(?:\.?/[^\x00-\x20\x7f~^:?*\[\\./](?:[^\x00-\x20\x7f~^:?*\[\\./]|\.[^\x00-\x20\x7f~^:?*\[\\./])*)*$"
        )
    )]
    pub branch: String,
}

fn default_branch() -> String {
    "main".into()
}

/// Who gitsync's commits are by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitAuthor {
    #[serde(default = "default_author_name")]
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default = "default_author_email")]
    #[schemars(regex(pattern = r"^[^@\s]+@[^@\s]+$"))]
    pub email: String,
}

impl Default for CommitAuthor {
    fn default() -> Self {
        CommitAuthor {
            name: default_author_name(),
            email: default_author_email(),
        }
    }
}

fn default_author_name() -> String {
    "gitsync".into()
}

fn default_author_email() -> String {
    "gitsync@gitsync.dev".into()
}

/// Git -> workspace: every pull request to the branch is planned, and its plan applied on
/// command. The operator plans each pull request (opened, or pushed to) against the live
/// workspace and posts the plan as a comment; a comment holding `applyCommand` (such as
/// `segment apply`) from a user allowed to apply (`allowedUsers`, or anyone with write access to
/// the repository) applies the plan of the commit that was planned, and nothing else: a push or
/// a workspace edit since makes it stale, and it is planned again. One apply at a time per
/// workspace, journaled in a ConfigMap so that a new leader resumes an apply its predecessor
/// began and never applies a change twice. What each pull request's plan is at is in
/// `status.pullRequests`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bidirectional {
    /// Plan pull requests and apply them on command.
    #[serde(default)]
    pub enabled: bool,
    /// The pull-request comment that applies the plan.
    #[serde(default = "default_apply_command")]
    #[schemars(length(min = 1))]
    pub apply_command: String,
    /// Git host logins allowed to apply (empty: anyone with write access to the repository).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_users: Vec<String>,
    /// Whether a plan may delete workspace resources.
    #[serde(default)]
    pub allow_deletes: bool,
    /// Whether a plan that changes who has access (users' roles, user groups and their members,
    /// invitations) is applied. Without it, such a plan is applied only when the apply command
    /// says `--allow-access-changes` and comes from a user listed in `allowedUsers`.
    #[serde(default)]
    pub allow_access_changes: bool,
    /// Merge the pull request once its plan is applied.
    #[serde(default)]
    pub merge_after_apply: bool,
    /// Whether a pull request from a fork is applied. A fork's pull request is always planned;
    /// without this it is never applied.
    #[serde(default)]
    pub allow_forks: bool,
    /// The Secret key holding the webhook secret the Git host signs deliveries with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_ref: Option<SecretKeyRef>,
}

impl Default for Bidirectional {
    fn default() -> Self {
        Bidirectional {
            enabled: false,
            apply_command: default_apply_command(),
            allowed_users: Vec::new(),
            allow_deletes: false,
            allow_access_changes: false,
            merge_after_apply: false,
            allow_forks: false,
            webhook_secret_ref: None,
        }
    }
}

fn default_apply_command() -> String {
    "segment apply".into()
}

/// One Segment workspace kept in sync with one repository branch.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gitsync.dev",
    version = "v1alpha1",
    kind = "GitSync",
    namespaced,
    status = "GitSyncStatus",
    shortname = "gs",
    category = "gitsync-all",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Repository",
        type_ = "string",
        json_path = ".status.repository"
    ),
    printcolumn(
        name = "Branch",
        type_ = "string",
        json_path = ".spec.repository.branch"
    ),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.lastSyncTime"),
    printcolumn(
        name = "Commit",
        type_ = "string",
        json_path = ".status.lastCommitShort"
    ),
    printcolumn(name = "Plans", type_ = "integer", json_path = ".status.openPlans"),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GitSyncSpec {
    pub workspace: WorkspaceRef,
    /// The GitConnection with the credentials for the repository. Not needed for `file://` and
    /// unauthenticated `git://` or `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<LocalObjectRef>,
    pub repository: RepositoryRef,
    /// The resource types to sync, as Terraform types (default: all that Segment's Git Sync
    /// writes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "resource_types_schema")]
    pub resource_types: Vec<String>,
    /// How often the workspace's changes are polled, in Flux's syntax: 30s, 1m, 1m30s or 1h
    /// (more than zero, at most 24h).
    // Text with the schema of `Interval`, read where it is used: a value the pattern lets
    // through but the bounds refuse (0s, 48h) is a Stalled condition on its object, not a
    // deserialization error that stops the watch of every GitSync.
    #[serde(default = "default_interval")]
    #[schemars(with = "crate::sync::interval::Interval")]
    pub interval: String,
    #[serde(default)]
    pub author: CommitAuthor,
    /// Stop syncing (the repository and the status stay as they are).
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub bidirectional: Bidirectional,
}

/// The Secrets a GitSync reads, all in its namespace: the one place that lists them, for
/// resolving its inputs and for the watch that wakes it when one of them changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretRefs<'a> {
    /// The workspace token.
    pub workspace_token: &'a SecretKeyRef,
    /// The secret the Git host signs webhook deliveries with.
    pub webhook: Option<&'a SecretKeyRef>,
    /// The GitConnection whose Secret holds the Git credentials.
    pub connection: Option<&'a str>,
}

impl SecretRefs<'_> {
    /// Whether Secret `secret` is one of them; `connection_secret` names the Secret of
    /// [`SecretRefs::connection`] when that GitConnection is known.
    pub fn include(&self, secret: &str, connection_secret: Option<&str>) -> bool {
        self.workspace_token.name == secret
            || self.webhook.is_some_and(|w| w.name == secret)
            || (self.connection.is_some() && connection_secret == Some(secret))
    }
}

impl GitSync {
    /// The Secrets this GitSync reads (see [`SecretRefs`]).
    pub fn secret_refs(&self) -> SecretRefs<'_> {
        SecretRefs {
            workspace_token: &self.spec.workspace.token_secret_ref,
            webhook: self.spec.bidirectional.webhook_secret_ref.as_ref(),
            connection: self.spec.connection_ref.as_ref().map(|c| c.name.as_str()),
        }
    }
}

fn default_interval() -> String {
    "1m".into()
}

fn resource_types_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = ResourceType::ALL
        .iter()
        .map(|t| t.terraform_type())
        .collect();
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "string", "enum": names },
    })
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSyncStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The repository URL without any credentials it carries (what `kubectl get` shows:
    /// `spec.repository.url` may hold a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The `reconcile.fluxcd.io/requestedAt` value handled last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The `gitsync.dev/full-sync-requested-at` value handled last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_full_sync_at: Option<String>,
    /// When the branch was last brought up to date (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// When the last full sync finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_sync_time: Option<String>,
    /// The last commit gitsync pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<String>,
    /// Its first 7 characters, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit_short: Option<String>,
    /// When it was pushed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<String>,
    /// How changes are found: auditTrail or listAndDiff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_detection: Option<String>,
    /// Resources per Terraform type at the last full listing.
    // Optional and nullable in the schema: when a server-side apply leaves out every key its
    // field manager wrote before, the API server stores `null` for the map (a known defect of
    // its structured merge), which a non-nullable schema refuses with a 422 and `null` would
    // not deserialize into a map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<BTreeMap<String, u64>>,
    /// Each open pull request's plan and apply (bidirectional), one entry per pull request.
    // Optional and nullable for the reason `resources` is: a status written without it, after
    // one with it, must not be refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "pull_requests_schema")]
    pub pull_requests: Option<Vec<crate::pulls::record::PullRecord>>,
    /// How many pull requests have a plan waiting to be applied (what `kubectl get` shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_plans: Option<u32>,
}

/// `status.pullRequests`: a list keyed by `number` (a server-side apply merges it per pull
/// request), optional and nullable as `resources` is.
fn pull_requests_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = generator.subschema_for::<crate::pulls::record::PullRecord>();
    schemars::json_schema!({
        "type": "array",
        "nullable": true,
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["number"],
    })
}

// ------------------------------------------------------------------------------------------
// SyncSecret

/// A secret value that HCL refers to as `@@name@@`, read from a Secret key. The value never
/// reaches the repository, a comment, a log or an event.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gitsync.dev",
    version = "v1alpha1",
    kind = "SyncSecret",
    namespaced,
    status = "SyncSecretStatus",
    shortname = "syncsecret",
    category = "gitsync-all",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Placeholder",
        type_ = "string",
        json_path = ".status.placeholder"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SyncSecretSpec {
    /// The name used in HCL, between `@@` and `@@`: ASCII letters, digits, `_` and `-` (what a
    /// placeholder is made of).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub name: String,
    pub secret_ref: SecretKeyRef,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSecretStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `@@name@@`, as written in HCL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
}

/// The three CRDs, in the order `gitsync crds` prints them.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![GitConnection::crd(), GitSync::crd(), SyncSecret::crd()]
}

/// The CRDs as one multi-document YAML stream, as `crds/` holds them.
pub fn crds_yaml() -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&crd)?);
    }
    Ok(out)
}
