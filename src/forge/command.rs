//! Placeholder: filled by the command work.
