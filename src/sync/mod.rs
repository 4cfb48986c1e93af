//! The sync engine: workspace -> Git Sync tree (export), and later Git -> workspace (plan and
//! apply). Plain Rust over the [`crate::workspace::Workspace`] trait: the operator, the CLI and
//! the tests drive the same code. Nothing here knows about Kubernetes or HTTP.

pub mod export;
pub mod full;
pub mod incremental;
pub mod messages;
