//! Secret placeholders: `@@name@@` in a resource file stands for a secret kept outside Git.
//!
//! A [`SecretSource`] answers a placeholder's name with its value: a file of `name=value` lines
//! or the environment for the CLI ([`FileSecrets`], [`EnvSecrets`]), SyncSecret objects in the
//! operator. This module resolves placeholders in a resource ([`resolve`]) just before it is
//! written to the workspace, and decides whether a placeholder and the masked value the
//! workspace serves agree ([`agrees_with_mask`]).
//!
//! It must never let a secret value reach anything that is printed, logged or stored: a
//! [`Secret`] has no `Display`, its `Debug` is redacted, and errors name placeholders, never
//! values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::{Resource, secret_placeholders};
use crate::workspace::api;

/// A secret value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that needs it: the request that writes it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where placeholders get their values.
pub trait SecretSource: Send + Sync {
    /// The secret a placeholder names, `None` when this source has none by that name.
    fn get(&self, name: &str) -> Option<Secret>;
}

/// No secrets at all: every placeholder is missing.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn get(&self, _: &str) -> Option<Secret> {
        None
    }
}

/// Secrets from the environment: `@@name@@` is `GITSYNC_SECRET_name`.
pub struct EnvSecrets;

/// The environment variable a placeholder is read from.
pub fn env_name(placeholder: &str) -> String {
    format!("GITSYNC_SECRET_{placeholder}")
}

impl SecretSource for EnvSecrets {
    fn get(&self, name: &str) -> Option<Secret> {
        std::env::var(env_name(name)).ok().map(Secret)
    }
}

/// Secrets from a file of `name=value` lines (blank lines and `#` comments ignored; the value is
/// everything after the first `=`, as written).
#[derive(Debug)]
pub struct FileSecrets {
    values: BTreeMap<String, Secret>,
}

/// Why a secrets file cannot be used. Never quotes a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsFileError {
    #[error("cannot read the secrets file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: not a `name=value` line (names are letters, digits, `_` and `-`, as in @@name@@)"
    )]
    Malformed { path: PathBuf, line: usize },
    #[error("{path}:{line}: `{name}` is defined a second time (first on line {first})")]
    Duplicate {
        path: PathBuf,
        line: usize,
        first: usize,
        name: String,
    },
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl FileSecrets {
    pub fn read(path: &Path) -> Result<FileSecrets, SecretsFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretsFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<FileSecrets, SecretsFileError> {
        let mut values = BTreeMap::new();
        let mut lines_of: BTreeMap<String, usize> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((name, value)) = trimmed.split_once('=') else {
                return Err(SecretsFileError::Malformed {
                    path: path.to_path_buf(),
                    line: line_no,
                });
            };
            let name = name.trim();
            if !is_placeholder_name(name) {
                return Err(SecretsFileError::Malformed {
                    path: path.to_path_buf(),
                    line: line_no,
                });
            }
            if let Some(first) = lines_of.insert(name.to_owned(), line_no) {
                return Err(SecretsFileError::Duplicate {
                    path: path.to_path_buf(),
                    line: line_no,
                    first,
                    name: name.to_owned(),
                });
            }
            values.insert(name.to_owned(), Secret(value.to_owned()));
        }
        Ok(FileSecrets { values })
    }
}

impl SecretSource for FileSecrets {
    fn get(&self, name: &str) -> Option<Secret> {
        self.values.get(name).cloned()
    }
}

/// The first source that has a secret wins.
pub struct Chain(pub Vec<Box<dyn SecretSource>>);

impl SecretSource for Chain {
    fn get(&self, name: &str) -> Option<Secret> {
        self.0.iter().find_map(|s| s.get(name))
    }
}

/// Placeholders that no source can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file}: no secret for {}; give each in the secrets file (`name=value`) or as GITSYNC_SECRET_<name>",
    .names.iter().map(|n| format!("@@{n}@@")).collect::<Vec<_>>().join(", ")
)]
pub struct MissingSecrets {
    pub file: String,
    pub names: Vec<String>,
}

/// The placeholders of a resource that `secrets` cannot answer.
pub fn check(
    resource: &Resource,
    file: &str,
    secrets: &dyn SecretSource,
) -> Result<(), MissingSecrets> {
    let names: Vec<String> = resource
        .secret_placeholders()
        .into_iter()
        .filter(|n| secrets.get(n).is_none())
        .collect();
    if names.is_empty() {
        Ok(())
    } else {
        Err(MissingSecrets {
            file: file.to_owned(),
            names,
        })
    }
}

/// Every placeholder of a string replaced by its secret; `None` when one is missing.
pub fn resolve_str(s: &str, secrets: &dyn SecretSource) -> Option<String> {
    crate::model::replace_placeholders(s, |name| {
        secrets.get(name).map(|secret| secret.expose().to_owned())
    })
}

/// The resource with every placeholder replaced by its secret, ready to be written.
pub fn resolve(
    resource: &Resource,
    file: &str,
    secrets: &dyn SecretSource,
) -> Result<Resource, MissingSecrets> {
    check(resource, file, secrets)?;
    let mut out = resource.clone();
    for value in out.attributes.values_mut() {
        value.for_each_string(&mut |s| {
            if let Some(resolved) = resolve_str(s, secrets) {
                *s = resolved;
            }
        });
    }
    Ok(out)
}

/// Whether a string holding placeholders and the value the workspace serves at the same place
/// mean the same: the workspace's value is the resolved string itself, or Segment's mask of it.
pub fn agrees_with_mask(written: &str, served: &str, secrets: &dyn SecretSource) -> bool {
    match resolve_str(written, secrets) {
        Some(resolved) => {
            served == resolved || (api::is_masked(served) && api::mask(&resolved) == served)
        }
        None => false,
    }
}

/// Puts back the placeholders a file was written with where the workspace now serves what they
/// stand for (the secret's mask): the forward direction and an apply's rewrite both write what
/// the workspace holds, and a secret must come back as its placeholder, not as its mask.
pub fn keep_placeholders(written: &Resource, served: &mut Resource, secrets: &dyn SecretSource) {
    for (name, value) in served.attributes.iter_mut() {
        if let Some(w) = written.attributes.get(name) {
            value.zip_strings(w, &mut |s, w| keep_in_str(w, s, secrets));
        }
    }
}

fn keep_in_str(written: &str, served: &mut String, secrets: &dyn SecretSource) {
    if secret_placeholders(written).next().is_none() {
        return;
    }
    // With the secret at hand, its mask must match; without it (the forward sync never has
    // it), a masked value is all that can be checked: the workspace still hides a secret there.
    let agrees = match resolve_str(written, secrets) {
        Some(_) => agrees_with_mask(written, served, secrets),
        None => api::is_masked(served),
    };
    if agrees {
        written.clone_into(served);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> FileSecrets {
        match FileSecrets::parse(text, Path::new("s.env")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn placeholders_resolve_inside_strings_and_lookalikes_stay() {
        let s = source("api_key=abc123secret\n# comment\n\nurl-part = x=y\n");
        assert_eq!(
            resolve_str("Bearer @@api_key@@ and @@nope @@ @@", &s).as_deref(),
            Some("Bearer abc123secret and @@nope @@ @@")
        );
        assert_eq!(resolve_str("@@url-part@@", &s).as_deref(), Some(" x=y"));
        assert_eq!(resolve_str("@@missing@@", &s), None);
    }

    #[test]
    fn a_secrets_file_names_the_bad_line_and_never_a_value() {
        let e = FileSecrets::parse("a=1\nnot a line\n", Path::new("s.env"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("s.env:2: not a `name=value` line (names are letters, digits, `_` and `-`, as in @@name@@)".into())
        );
        let e = FileSecrets::parse("a=hunter2\na=hunter3\n", Path::new("s.env"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("s.env:2: `a` is defined a second time (first on line 1)".into())
        );
        assert!(!format!("{:?}", source("a=hunter2")).contains("hunter2"));
    }

    #[test]
    fn a_placeholder_agrees_with_the_mask_of_its_secret_only() {
        let s = source("k=0123456789abcd\n");
        assert!(agrees_with_mask("@@k@@", &api::mask("0123456789abcd"), &s));
        assert!(agrees_with_mask("@@k@@", "0123456789abcd", &s));
        assert!(!agrees_with_mask("@@k@@", &api::mask("0123456789zzzz"), &s));
        assert!(!agrees_with_mask(
            "@@other@@",
            &api::mask("0123456789abcd"),
            &s
        ));
    }
}
