//! The HCL codec: Git Sync files to the model and back.
//!
//! - [`render`]: model -> the exact bytes Segment's Git Sync writes.
//! - [`parse`]: bytes (2025 or 2024 form) -> model, with `file:line:column` errors.
//! - [`tree`]: a whole tree's files -> resources, with every bad file reported.
//! - [`canonicalize`]: parse then render, the heart of `gitsync fmt`; refuses a file with
//!   comments, which the model cannot hold.
//!
//! Contract: for every file Git Sync writes in its current form, `render(parse(f)) == f`, byte
//! for byte, and the output is stable under HashiCorp's `hclfmt`. This module owns HCL syntax
//! and layout; it never touches the filesystem, the network or Git.

mod error;
mod format;
mod guard;
mod literal;
mod parse;
mod render;
mod syntax;
pub mod tree;

pub use error::{ParseError, Problem};
pub use parse::{Dropped, dropped_attributes, parse, parse_with_comments, stated_attributes};
pub use render::{RenderError, render, render_value};

/// Why a file cannot be put in canonical form.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalizeError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{file}: {source}")]
    Render { file: String, source: RenderError },
    /// The canonical form has no comments (Git Sync writes none), so rewriting the file would
    /// drop this one without a word.
    #[error(
        "{file}:{line}:{column}: a comment; the canonical form Git Sync writes has none, so formatting would drop it: remove it, then format"
    )]
    Comment {
        file: String,
        line: usize,
        column: usize,
    },
}

/// Parses a file and renders it back: the canonical (2025) form of its resource.
pub fn canonicalize(source: &str, file: &str) -> Result<String, CanonicalizeError> {
    let (resource, comment) = parse_with_comments(source, file)?;
    if let Some((line, column)) = comment {
        return Err(CanonicalizeError::Comment {
            file: file.to_owned(),
            line,
            column,
        });
    }
    render(&resource).map_err(|source| CanonicalizeError::Render {
        file: file.to_owned(),
        source,
    })
}
