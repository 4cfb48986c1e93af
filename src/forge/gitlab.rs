//! Placeholder: filled by the gitlab work.
