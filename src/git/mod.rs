//! The Git side: the repository as gitsync writes it.
//!
//! - [`tree`]: the rendered workspace applied to a commit's tree, touching only the resource
//!   directories, and commits made from it.
//!
//! This module owns Git objects and never talks to a workspace. Fetch, push and credentials are
//! still to come (issue 4); pushing goes through the `git` program, as gix cannot push yet.

pub mod remote;
pub mod tree;
