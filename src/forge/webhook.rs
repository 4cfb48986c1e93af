//! Placeholder: filled by the webhook work.
