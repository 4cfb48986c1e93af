//! The integration tests: one test binary (Cargo.toml: `autotests = false`, one `[[test]]`), so
//! the crate is linked once for all of them, as ripgrep lays out its tests.
//!
//! Each `tests/<area>.rs` below is one capability, tested from outside through the real parts: the
//! built `gitsync` binary, the embedded workspace over HTTP, the `git` program and real Git
//! servers, and a real kube-apiserver. What the areas share is in `util/` (start there), one
//! copy each: `util::command` runs the built binary (`gitsync(&["fmt", "."]).run()`),
//! `util::cluster` starts an API server and drives kubectl, `util::operator` runs `gitsync
//! operator` against it and waits for what it does, `util::git_http` serves repositories over
//! smart HTTP, and `util` itself holds the fixtures, the embedded workspace, `git`, bare
//! repositories, tree copies and free ports.
//!
//! Run one area with `cargo test --test integration <area>::` (or `cargo nextest run <area>::`),
//! one test by its name. A new area is a new `tests/<area>.rs` and a `mod` line here. Nothing in
//! any area may change process-wide state (environment variables, the current directory, a global
//! tracing subscriber): under `cargo test` every test of every area shares this one process;
//! set such things on the child `Command` instead.

mod util;

// The HCL codec and the model.
mod fixtures;
mod fuzz_regressions;
mod parse_errors;
mod provider_history;
mod roundtrip_props;

// The embedded workspace and the client that talks to it.
mod audit_trail;
mod conformance;
mod telemetry;
mod workspace_client;
mod workspace_roundtrip;

// The forges' clients against their doubles.
mod forge_gitlab;

// Git: trees, commits, remotes and servers.
mod git_remote;
mod git_servers;
mod git_tree;

// Workspace -> Git: the sync engine.
mod commit_messages;
mod full_sync;
mod sync_runner;

// Git -> workspace: plan and apply.
mod hostile_files;
mod plan_apply;
mod plan_show;
mod pull_journal;
mod pulls;
mod webhooks;

// The command line as a user runs it, and the documents that show it.
mod fmt_cli;
mod readme;
mod sync_cli;
mod validate_cli;

// The forges: the local GitHub, and the clients against it.
mod forge_github;
mod local_forge;

// The operator on a real API server, and what deploys it.
mod deploy_manifests;
mod operator;
mod operator_pulls;
mod sync_secrets;
mod test_cluster;
