//! The Kubernetes operator: custom resources, their controllers, leader election.
//!
//! A thin layer around the sync engine ([`crate::sync`]): controllers read custom resources and
//! Secrets, turn them into a [`crate::sync::runner::Syncer`], and write what happened into
//! `status` (server-side apply, one field manager, never `.spec`), Events and metrics. No sync
//! logic lives here; what the CLI does with flags, the operator does with objects.
//!
//! - [`crd`]: the custom resources and their schema;
//! - [`conditions`]: kstatus conditions;
//! - [`credentials`]: Git credentials from a Secret (Flux's keys);
//! - [`context`]: what the controllers share (and the per-workspace lock), what each keeps, and
//!   status writes by server-side apply;
//! - [`error`]: what ends a reconcile early, the controllers' names, the shared error policy;
//! - [`gitsync`]: the GitSync controller;
//! - [`connection`]: the GitConnection and SyncSecret controllers;
//! - [`leader_label`]: the leader's Pod label, which routes webhook deliveries to it;
//! - [`journal`]: an apply's journal in a ConfigMap, written by compare-and-swap;
//! - [`stash`]: accepted pull-request applies, kept until they finish (a ConfigMap each);
//! - [`sync_secrets`]: the values SyncSecret objects give `@@name@@` placeholders;
//! - [`request`]: `gitsync full-sync`: annotate, then wait for the status;
//! - [`runtime`]: leader election, the controllers' wiring, shutdown;
//! - [`webhook`]: the webhook listener: forges' deliveries wake the GitSyncs they concern.

pub mod conditions;
pub mod connection;
pub mod context;
pub mod crd;
pub mod credentials;
pub mod error;
pub mod gitsync;
pub mod journal;
pub mod leader_label;
pub mod pulls;
pub mod request;
pub mod runtime;
pub mod stash;
pub mod sync_secrets;
pub mod webhook;
