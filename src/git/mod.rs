//! The Git side: the repository as gitsync writes it.
//!
//! - [`branch`]: which branch names gitsync accepts;
//! - [`cache`]: the bare repository per remote and branch that gitsync fetches into and commits in;
//! - [`pack`]: many new objects written as one pack rather than loose files;
//! - [`tree`]: the rendered workspace applied to a commit's tree, touching only the resource
//!   directories, and commits made from it;
//! - [`remote`]: fetch and push, credentials, and what a refusal means;
//!
//! This module owns Git objects and never talks to a workspace. Pushing goes through the `git`
//! program, as gix cannot push yet; credentials reach it through the environment only.

pub mod branch;
pub mod cache;
pub mod pack;
pub mod remote;
pub mod tree;
