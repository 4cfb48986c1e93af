//! The values SyncSecret objects give `@@name@@` placeholders: [`resolve`] reads a namespace's
//! SyncSecrets and the Secret key each one names, into [`SyncSecrets`], the
//! [`SecretSource`] an apply takes (`ApplyOptions::new(&secrets)`).
//!
//! It must never let a value out: values are kept as [`Secret`]s (no `Display`, a redacted
//! `Debug`), nothing here logs, and errors name the SyncSecret, the Secret and the key, never
//! what the key holds.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::api::ListParams;
use kube::{Api, ResourceExt as _};

use super::crd::SyncSecret;
use crate::sync::secrets::{Secret, SecretSource};

/// The secrets of one namespace's SyncSecrets, by placeholder name (`name` of `@@name@@`).
#[derive(Debug, Default, Clone)]
pub struct SyncSecrets {
    values: BTreeMap<String, Secret>,
}

impl SyncSecrets {
    /// The placeholder names there are secrets for, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl SecretSource for SyncSecrets {
    fn get(&self, name: &str) -> Option<Secret> {
        self.values.get(name).cloned()
    }
}

/// Why a namespace's SyncSecrets do not resolve. Never holds a value.
#[derive(Debug, thiserror::Error)]
pub enum SyncSecretError {
    #[error("cannot list the SyncSecrets of namespace {namespace}: {source}")]
    List {
        namespace: String,
        source: kube::Error,
    },
    #[error("SyncSecret {sync_secret}: cannot read Secret {secret}: {source}")]
    Read {
        sync_secret: String,
        secret: String,
        source: kube::Error,
    },
    #[error("SyncSecret {sync_secret}: Secret {secret} not found (in the SyncSecret's namespace)")]
    SecretNotFound { sync_secret: String, secret: String },
    #[error("SyncSecret {sync_secret}: Secret {secret} has no key {key}")]
    KeyNotFound {
        sync_secret: String,
        secret: String,
        key: String,
    },
    #[error("SyncSecret {sync_secret}: key {key} of Secret {secret} is not UTF-8 text")]
    NotText {
        sync_secret: String,
        secret: String,
        key: String,
    },
    #[error(
        "SyncSecret {sync_secret}: key {key} of Secret {secret} is empty, which would wipe the setting it is sent to; refused"
    )]
    Empty {
        sync_secret: String,
        secret: String,
        key: String,
    },
    #[error(
        "SyncSecret {sync_secret}: key {key} of Secret {secret} starts or ends with a space, which would be sent as part of the secret; refused, not trimmed"
    )]
    Spaced {
        sync_secret: String,
        secret: String,
        key: String,
    },
    #[error(
        "SyncSecrets {first} and {second} both give @@{name}@@; which one is meant cannot be told (delete one, or rename it)"
    )]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
}

impl SyncSecretError {
    /// A CamelCase word for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncSecretError::List { .. } | SyncSecretError::Read { .. } => "KubernetesApi",
            SyncSecretError::SecretNotFound { .. } => "SecretNotFound",
            SyncSecretError::KeyNotFound { .. } => "SecretKeyNotFound",
            SyncSecretError::NotText { .. } => "SecretNotText",
            SyncSecretError::Empty { .. } => "SecretEmpty",
            SyncSecretError::Spaced { .. } => "SecretSpaced",
            SyncSecretError::Duplicate { .. } => "DuplicateSyncSecret",
        }
    }
}

/// The secrets of every SyncSecret in `namespace`, each read from its Secret key now. The value
/// is the key's text without the line break a file's last line ends with; an empty value, one
/// that starts or ends with a space, and one that is not text are refused (as a secrets file's
/// are), and so are two SyncSecrets that give the same placeholder. The first problem, by
/// SyncSecret name, is the error.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
) -> Result<SyncSecrets, SyncSecretError> {
    let list = Api::<SyncSecret>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|source| SyncSecretError::List {
            namespace: namespace.to_owned(),
            source,
        })?;
    let mut sync_secrets = list.items;
    sync_secrets.sort_by_key(|s| s.name_any());
    let api = Api::<KubeSecret>::namespaced(client.clone(), namespace);
    // Each Secret read once, however many SyncSecrets name it.
    let mut read: BTreeMap<String, Option<KubeSecret>> = BTreeMap::new();
    let mut values = BTreeMap::new();
    let mut given_by: BTreeMap<String, String> = BTreeMap::new();
    for s in &sync_secrets {
        let sync_secret = s.name_any();
        let placeholder = &s.spec.name;
        if let Some(first) = given_by.get(placeholder) {
            return Err(SyncSecretError::Duplicate {
                name: placeholder.clone(),
                first: first.clone(),
                second: sync_secret,
            });
        }
        let r = &s.spec.secret_ref;
        if !read.contains_key(&r.name) {
            let got = api
                .get_opt(&r.name)
                .await
                .map_err(|source| SyncSecretError::Read {
                    sync_secret: sync_secret.clone(),
                    secret: r.name.clone(),
                    source,
                })?;
            read.insert(r.name.clone(), got);
        }
        let secret = read.get(&r.name).and_then(Option::as_ref).ok_or_else(|| {
            SyncSecretError::SecretNotFound {
                sync_secret: sync_secret.clone(),
                secret: r.name.clone(),
            }
        })?;
        let value = value_of(secret, &r.key)
            .map_err(|problem| problem.error(sync_secret.clone(), r.name.clone(), r.key.clone()))?;
        given_by.insert(placeholder.clone(), sync_secret);
        values.insert(placeholder.clone(), value);
    }
    Ok(SyncSecrets { values })
}

/// What is wrong with a Secret key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Missing,
    NotText,
    Empty,
    Spaced,
}

impl Problem {
    fn error(self, sync_secret: String, secret: String, key: String) -> SyncSecretError {
        match self {
            Problem::Missing => SyncSecretError::KeyNotFound {
                sync_secret,
                secret,
                key,
            },
            Problem::NotText => SyncSecretError::NotText {
                sync_secret,
                secret,
                key,
            },
            Problem::Empty => SyncSecretError::Empty {
                sync_secret,
                secret,
                key,
            },
            Problem::Spaced => SyncSecretError::Spaced {
                sync_secret,
                secret,
                key,
            },
        }
    }
}

/// The text of key `key` of `secret` (`data`, or `stringData` of an object not stored yet).
fn value_of(secret: &KubeSecret, key: &str) -> Result<Secret, Problem> {
    let bytes: Vec<u8> = match secret.data.as_ref().and_then(|d| d.get(key)) {
        Some(b) => b.0.clone(),
        None => match secret.string_data.as_ref().and_then(|d| d.get(key)) {
            Some(s) => s.clone().into_bytes(),
            None => return Err(Problem::Missing),
        },
    };
    let text = String::from_utf8(bytes).map_err(|_| Problem::NotText)?;
    // A value written from a file (`kubectl create secret --from-file`) ends with its line
    // break, which is no part of the secret.
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.trim().is_empty() {
        return Err(Problem::Empty);
    }
    if value.trim() != value {
        return Err(Problem::Spaced);
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_read_as_text_without_its_last_line_break() {
        let secret = |bytes: &[u8]| KubeSecret {
            data: Some(
                [("k".to_owned(), k8s_openapi::ByteString(bytes.to_vec()))]
                    .into_iter()
                    .collect(),
            ),
            ..KubeSecret::default()
        };
        let cases: [(&[u8], Result<&str, Problem>); 9] = [
            (b"s3cret", Ok("s3cret")),
            (b"s3cret\n", Ok("s3cret")),
            (b"s3cret\r\n", Ok("s3cret")),
            (b"two\nlines", Ok("two\nlines")),
            (b"s3cret\n\n", Err(Problem::Spaced)),
            (b"", Err(Problem::Empty)),
            (b"\n", Err(Problem::Empty)),
            (b" s3cret", Err(Problem::Spaced)),
            (b"\xff\xfe", Err(Problem::NotText)),
        ];
        for (bytes, expected) in cases {
            let got = value_of(&secret(bytes), "k");
            assert_eq!(
                got.as_ref().map(Secret::expose).map_err(|p| *p),
                expected,
                "{bytes:?}"
            );
        }
        assert_eq!(
            value_of(&secret(b"x"), "other").err(),
            Some(Problem::Missing)
        );
    }

    #[test]
    fn an_error_names_the_sync_secret_and_key_and_never_holds_a_value() {
        let e = Problem::Empty.error("amplitude".into(), "keys".into(), "api".into());
        let text = e.to_string();
        assert!(
            text.contains("SyncSecret amplitude")
                && text.contains("Secret keys")
                && text.contains("key api"),
            "{text}"
        );
        assert_eq!(e.reason(), "SecretEmpty");
        let values = SyncSecrets {
            values: [("a".to_owned(), Secret::new("hunter2"))]
                .into_iter()
                .collect(),
        };
        assert!(!format!("{values:?}").contains("hunter2"));
        assert_eq!(
            values.get("a").as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert_eq!(values.names().collect::<Vec<_>>(), ["a"]);
    }
}
