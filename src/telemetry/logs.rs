//! Process-wide logging: the `tracing` subscriber, as JSON lines or human-readable text, on
//! standard error.
//!
//! It owns the subscriber's format and filter. It must never write to standard output (that
//! belongs to the CLI's results) and never panic: a second initialization is an error the caller
//! can ignore.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

/// The variable that overrides the configured filter, as everywhere in the Rust ecosystem.
const FILTER_ENV: &str = "RUST_LOG";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, colored on a terminal.
    Text,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "invalid log filter `{directives}` (from {origin}): {source}; use directives such as `info` or `gitsync=debug,kube=warn`"
    )]
    Filter {
        directives: String,
        /// `RUST_LOG` or `the configuration`.
        origin: &'static str,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("logging is already set up in this process: {0}")]
    AlreadyInitialized(#[source] TryInitError),
}

/// Installs the global subscriber: `format` on standard error, filtered by `RUST_LOG` when it is
/// set and not empty, else by `filter` (`info`, `gitsync=debug,kube=warn`).
pub fn init(format: LogFormat, filter: &str) -> Result<(), LogError> {
    let (directives, origin) = match std::env::var(FILTER_ENV) {
        Ok(value) if !value.trim().is_empty() => (value, FILTER_ENV),
        _ => (filter.to_owned(), "the configuration"),
    };
    let env_filter = EnvFilter::try_new(&directives).map_err(|source| LogError::Filter {
        directives: directives.clone(),
        origin,
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        // Fields at the top level of each object, where log collectors index them.
        LogFormat::Json => builder.json().flatten_event(true).finish().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .finish()
            .try_init(),
    };
    installed.map_err(LogError::AlreadyInitialized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_is_an_error_naming_it() {
        // Only the filter is checked here: installing the global subscriber would leak into
        // every other test of this binary.
        if std::env::var_os(FILTER_ENV).is_some() {
            return;
        }
        match init(LogFormat::Json, "gitsync=loud") {
            Err(e @ LogError::Filter { .. }) => {
                assert!(e.to_string().contains("gitsync=loud"), "{e}")
            }
            other => panic!("expected a filter error, got {other:?}"),
        }
    }
}
