//! Placeholder: filled by the github work.
