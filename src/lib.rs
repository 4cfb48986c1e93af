//! gitsync keeps a Segment workspace and a Git repository in sync as the Terraform HCL that
//! Segment's own Git Sync writes. Workspace -> Git is built, and so is Git -> workspace as an
//! engine (plan and apply) that the command line drives; the operator does not yet plan pull
//! requests or apply on command.
//!
//! The crate is laid out along the data flow, `workspace -> model -> HCL -> git` and back:
//! - [`model`]: resource types and their attributes (the provider schema, once) and values;
//! - [`hcl`]: the codec between the model and Git Sync's files;
//! - [`workspace`]: the Segment Public API: client, and the embedded workspace server;
//! - [`forge`]: Git hosts' review APIs (GitHub, GitLab): pull requests, comments, statuses;
//! - [`http`]: the transport the external API clients share (retries, rate limits);
//! - [`git`]: the bare cache, tree edits and commits, fetch and push;
//! - [`sync`]: the engine: full, incremental and list-and-diff sync, the runner, and plan and
//!   apply (Git -> workspace);
//! - [`operator`]: custom resources and controllers around the engine;
//! - [`cli`]: the command-line front end, a thin layer over the modules above;
//! - [`url`]: the one redacted form of a URL (repository or workspace) that messages show.

pub mod cli;
pub mod forge;
pub mod git;
pub mod hcl;
pub mod http;
pub mod model;
pub mod operator;
pub mod pulls;
pub mod sync;
pub mod telemetry;
pub mod url;
pub mod workspace;
