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
/// everything after the first `=`). An empty value, and one that starts or ends with a space,
/// are refused: one would wipe the setting it is sent to, the other would send a space nobody
/// sees as part of the secret.
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
    #[error(
        "{path}:{line}: `{name}` has an empty value, which would wipe the setting it is sent to; refused (give its value after `=`, or remove the line)"
    )]
    Empty {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error(
        "{path}:{line}: the value of `{name}` starts or ends with a space, which would be sent as part of the secret; refused, not trimmed (write `{name}=value`, with no space after `=` or at the end)"
    )]
    Spaced {
        path: PathBuf,
        line: usize,
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
        // An editor's byte order mark is not part of the first name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
            let value = value.trim_end_matches(['\r']);
            if value.trim().is_empty() {
                return Err(SecretsFileError::Empty {
                    path: path.to_path_buf(),
                    line: line_no,
                    name: name.to_owned(),
                });
            }
            if value.trim() != value {
                return Err(SecretsFileError::Spaced {
                    path: path.to_path_buf(),
                    line: line_no,
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

/// Placeholders that no source can answer. The message says which; the caller says how its
/// user gives secrets (a flag, an environment variable, a Kubernetes Secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}", self.problem())]
pub struct MissingSecrets {
    pub file: String,
    /// Placeholders no source answers.
    pub names: Vec<String>,
    /// Placeholders whose secret is empty (a variable that expanded to nothing): sent, it
    /// would wipe the setting.
    pub empty: Vec<String>,
}

impl MissingSecrets {
    /// What is wrong, without the file: `no secret for @@a@@, @@b@@`.
    pub fn problem(&self) -> String {
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("@@{n}@@"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self.names.is_empty(), self.empty.is_empty()) {
            (false, true) => format!("no secret for {}", list(&self.names)),
            (true, _) => format!(
                "the secret for {} is empty, which would wipe the setting; refused",
                list(&self.empty)
            ),
            (false, false) => format!(
                "no secret for {}, and the secret for {} is empty, which would wipe the setting",
                list(&self.names),
                list(&self.empty)
            ),
        }
    }
}

/// The placeholders of a resource that `secrets` cannot answer.
pub fn check(
    resource: &Resource,
    file: &str,
    secrets: &dyn SecretSource,
) -> Result<(), MissingSecrets> {
    let (mut names, mut empty) = (Vec::new(), Vec::new());
    for name in resource.secret_placeholders() {
        match secrets.get(&name) {
            None => names.push(name),
            Some(secret) if secret.expose().is_empty() => empty.push(name),
            Some(_) => {}
        }
    }
    if names.is_empty() && empty.is_empty() {
        Ok(())
    } else {
        Err(MissingSecrets {
            file: file.to_owned(),
            names,
            empty,
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

/// What a string holding placeholders, resolved, is to the value the workspace serves at the
/// same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// The workspace serves exactly the resolved value.
    Same,
    /// The workspace's value, or its mask, is not the resolved value's.
    Differs,
    /// The workspace serves a mask, and the resolved value masks to it too: the same last four
    /// characters, or (under eight characters) none at all. Whether the secrets are the same
    /// cannot be known from here.
    CannotTell,
    /// A placeholder has no secret.
    Missing,
}

/// Compares the resolved value of `written` with what the workspace serves. Only resolved
/// values are compared: the placeholder text itself is never masked and compared.
pub fn compare(written: &str, served: &str, secrets: &dyn SecretSource) -> Agreement {
    match resolve_str(written, secrets) {
        None => Agreement::Missing,
        Some(resolved) if served == resolved => Agreement::Same,
        Some(resolved) if api::is_masked(served) && api::mask(&resolved) == served => {
            Agreement::CannotTell
        }
        Some(_) => Agreement::Differs,
    }
}

/// Whether a string holding placeholders and the value the workspace serves at the same place
/// may mean the same: the workspace's value is the resolved string itself, or Segment's mask
/// of it.
pub fn agrees_with_mask(written: &str, served: &str, secrets: &dyn SecretSource) -> bool {
    matches!(
        compare(written, served, secrets),
        Agreement::Same | Agreement::CannotTell
    )
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
        let s = source("api_key=abc123secret\n# comment\n\nurl-part =x=y\n");
        assert_eq!(
            resolve_str("Bearer @@api_key@@ and @@nope @@ @@", &s).as_deref(),
            Some("Bearer abc123secret and @@nope @@ @@")
        );
        assert_eq!(resolve_str("@@url-part@@", &s).as_deref(), Some("x=y"));
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
    fn an_empty_or_spaced_value_is_refused_naming_the_line_and_never_the_value() {
        let cases = [
            ("k=\n", "s.env:1: `k` has an empty value"),
            ("a=1\nk=   \n", "s.env:2: `k` has an empty value"),
            (
                "k = hunter2\n",
                "s.env:1: the value of `k` starts or ends with a space",
            ),
            (
                "k=hunter2 \n",
                "s.env:1: the value of `k` starts or ends with a space",
            ),
            (
                "k=\thunter2\n",
                "s.env:1: the value of `k` starts or ends with a space",
            ),
        ];
        for (text, want) in cases {
            let e = FileSecrets::parse(text, Path::new("s.env"))
                .map(|_| ())
                .map_err(|e| e.to_string());
            let Err(message) = e else {
                panic!("{text:?} was accepted")
            };
            assert!(message.starts_with(want), "{text:?}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        // Windows line ends and an editor's byte order mark are not part of a name or value.
        assert_eq!(
            resolve_str("@@k@@", &source("k=v\r\n")).as_deref(),
            Some("v")
        );
        assert_eq!(
            resolve_str("@@k@@", &source("\u{feff}k=v\n")).as_deref(),
            Some("v")
        );
    }

    struct Env(&'static str);

    impl SecretSource for Env {
        fn get(&self, _: &str) -> Option<Secret> {
            Some(Secret::new(self.0))
        }
    }

    #[test]
    fn a_secret_that_expanded_to_nothing_is_refused() {
        let mut r = Resource::new(
            crate::model::ResourceType::Source,
            Some("a".into()),
            Default::default(),
        );
        r.attributes.insert(
            "settings".into(),
            crate::model::Value::Json(serde_json::json!({"token": "@@t@@"})),
        );
        let e = check(&r, "sources/a.tf", &Env("")).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("sources/a.tf: the secret for @@t@@ is empty, which would wipe the setting; refused".into())
        );
        assert!(check(&r, "sources/a.tf", &Env("x")).is_ok());
    }

    #[test]
    fn only_resolved_values_are_compared_and_a_mask_that_cannot_tell_says_so() {
        let short = source("k=abc\n");
        let long = source("k=0123456789abcd\n");
        let cases = [
            // The placeholder text itself is short, and masks to ten bullets: never compared.
            ("@@k@@", api::mask("zz"), &long, Agreement::Differs),
            ("@@k@@", api::mask("xyz"), &short, Agreement::CannotTell),
            (
                "@@k@@",
                api::mask("0123456789abcd"),
                &long,
                Agreement::CannotTell,
            ),
            (
                "@@k@@",
                api::mask("9999999999abcd"),
                &long,
                Agreement::CannotTell,
            ),
            (
                "@@k@@",
                api::mask("0123456789wxyz"),
                &long,
                Agreement::Differs,
            ),
            ("@@k@@", "abc".to_owned(), &short, Agreement::Same),
            ("@@other@@", api::mask("zz"), &short, Agreement::Missing),
        ];
        for (written, served, secrets, want) in cases {
            assert_eq!(
                compare(written, &served, secrets),
                want,
                "{written} {served}"
            );
        }
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
