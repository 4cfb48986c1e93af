//! The sync engine: workspace -> Git Sync tree -> branch, and Git -> workspace (plan and apply,
//! an API any driver calls: the CLI, the demo, the operator, the tests). Plain Rust over the [`crate::workspace::Workspace`] trait: the operator, the CLI and
//! the tests drive the same code. Nothing here knows about Kubernetes or HTTP.
//!
//! - [`export`]: the workspace rendered as the Git Sync tree, in memory or into a directory;
//! - [`full`]: full sync, one commit per resource directory;
//! - [`incremental`]: one commit per audit event;
//! - [`diff`]: list-and-diff, one commit per changed file, for workspaces without an audit trail;
//! - [`publish`]: build on the branch, push, rebuild when it moved (never force);
//! - [`messages`]: commit messages, in Segment's words;
//! - [`point`]: the sync point kept in commit trailers, sealed so that only gitsync's own count;
//! - [`interval`]: the one duration type of flags and `spec.interval`;
//! - [`runner`]: the loop the CLI and the operator drive: resume or full sync, then polls;
//! - [`plan`]: Git -> workspace: what a tree of files would change, three-way against a base;
//! - [`apply`]: carrying a plan out in a session, journaled in any store, paced, resumable, one
//!   at a time, with the rewritten tree in a directory or a new commit;
//! - [`diagnostic`]: what validate, plan and apply say about a place in the tree;
//! - [`secrets`]: `@@name@@` placeholders and where their values come from;
//! - [`tree`]: a Git Sync tree's files, from a directory, a Git revision or a commit of a bare
//!   repository ([`tree::TreeSource`]).

pub mod apply;
pub mod diagnostic;
pub mod diff;
pub mod export;
pub mod full;
pub mod incremental;
pub mod interval;
pub mod messages;
pub mod plan;
pub mod point;
pub mod publish;
pub mod runner;
pub mod secrets;
pub mod tree;
