//! gitsync keeps a Segment workspace and a Git repository in sync as the Terraform HCL that
//! Segment's own Git Sync writes: workspace -> Git by the forward sync, and Git -> workspace by
//! plan and apply, which the command line drives and the operator runs on pull requests.
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
//! - [`pulls`]: the pull-request workflow (plan every pull request, apply on command), without
//!   Kubernetes;
//! - [`operator`]: custom resources and controllers around the engine and the workflow;
//! - [`cli`]: the command-line front end, a thin layer over the modules above;
//! - [`url`]: the one redacted form of a URL (repository or workspace) that messages show;
//! - [`serve`]: a router served in the background, the handle the local servers return.

pub mod cli;
pub mod forge;
pub mod git;
pub mod hcl;
pub mod http;
pub mod model;
pub mod operator;
pub mod pulls;
pub mod serve;
pub mod sync;
pub mod telemetry;
pub mod url;
pub mod workspace;
