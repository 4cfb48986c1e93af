//! Git credentials from a GitConnection's Secret, with Flux's key names.
//!
//! Turns the Secret's data into an [`Auth`] the Git side understands, and says precisely what is
//! wrong when it cannot (each problem has a `reason` for the `Ready` condition). An SSH key is
//! checked with `ssh-keygen` and written, with its known_hosts, to files only this process can
//! read, under the operator's state directory; nothing here ever logs or returns a secret.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;

use crate::git::remote::Auth;

/// Why a Secret does not give usable credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialProblem {
    #[error("Secret {name} not found")]
    SecretNotFound { name: String },
    #[error("Secret {name} has no key {key}")]
    KeyNotFound { name: String, key: String },
    #[error("the `identity` in Secret {name} is not a private key ssh can use: {detail}")]
    InvalidKey { name: String, detail: String },
    #[error(
        "Secret {name} has an SSH `identity` but no `known_hosts`; add the host's public key (ssh-keyscan HOST) under known_hosts, as host keys are always checked"
    )]
    MissingKnownHosts { name: String },
    #[error("Secret {name} has `username` without `password` (or the reverse)")]
    IncompleteBasicAuth { name: String },
    #[error(
        "Secret {name} has none of: identity + known_hosts (SSH), username + password or bearerToken (HTTPS)"
    )]
    NoCredentials { name: String },
    #[error(
        "Secret {name} holds GitHub App credentials, which this version of gitsync cannot use for Git yet; use a token (username + password, or bearerToken) or an SSH key"
    )]
    GithubAppUnsupported { name: String },
    #[error("cannot write the credentials for {name} to {}: {detail}", path.display())]
    Write {
        name: String,
        path: PathBuf,
        detail: String,
    },
}

impl CredentialProblem {
    /// The `reason` of the condition that reports this problem (CamelCase, as Kubernetes wants).
    pub fn reason(&self) -> &'static str {
        match self {
            CredentialProblem::SecretNotFound { .. } => "SecretNotFound",
            CredentialProblem::KeyNotFound { .. } => "SecretKeyNotFound",
            CredentialProblem::InvalidKey { .. } => "InvalidKey",
            CredentialProblem::MissingKnownHosts { .. } => "MissingKnownHosts",
            CredentialProblem::IncompleteBasicAuth { .. } => "IncompleteCredentials",
            CredentialProblem::NoCredentials { .. } => "NoCredentials",
            CredentialProblem::GithubAppUnsupported { .. } => "UnsupportedCredentials",
            CredentialProblem::Write { .. } => "CredentialsNotWritten",
        }
    }
}

/// Credentials read from a Secret, and how they authenticate.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub auth: Auth,
    /// ssh, basic, bearer.
    pub method: &'static str,
}

fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    data.get(key)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .filter(|s| !s.trim().is_empty())
}

/// Reads Git credentials from Secret `name`'s data. SSH keys are written under `key_dir` (one
/// directory per connection, created private).
pub fn from_secret(
    name: &str,
    data: &BTreeMap<String, ByteString>,
    key_dir: &Path,
) -> Result<Credentials, CredentialProblem> {
    if let Some(identity) = text(data, "identity") {
        let known_hosts =
            text(data, "known_hosts").ok_or_else(|| CredentialProblem::MissingKnownHosts {
                name: name.to_owned(),
            })?;
        let (identity_path, known_hosts_path) =
            write_ssh_files(name, key_dir, &identity, &known_hosts)?;
        check_key(name, &identity_path)?;
        return Ok(Credentials {
            auth: Auth::Ssh {
                identity: identity_path,
                known_hosts: known_hosts_path,
            },
            method: "ssh",
        });
    }
    if let Some(token) = text(data, "bearerToken") {
        return Ok(Credentials {
            auth: Auth::Bearer(token.trim().to_owned()),
            method: "bearer",
        });
    }
    match (text(data, "username"), text(data, "password")) {
        (Some(username), Some(password)) => {
            return Ok(Credentials {
                auth: Auth::Basic {
                    username: username.trim().to_owned(),
                    password: password.trim().to_owned(),
                },
                method: "basic",
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(CredentialProblem::IncompleteBasicAuth {
                name: name.to_owned(),
            });
        }
        (None, None) => {}
    }
    if data.contains_key("githubAppID") || data.contains_key("githubAppPrivateKey") {
        return Err(CredentialProblem::GithubAppUnsupported {
            name: name.to_owned(),
        });
    }
    Err(CredentialProblem::NoCredentials {
        name: name.to_owned(),
    })
}

/// Writes the key and known_hosts with mode 0600 in a 0700 directory, each through a temporary
/// file renamed into place, so that a concurrent ssh never reads half a key.
fn write_ssh_files(
    name: &str,
    key_dir: &Path,
    identity: &str,
    known_hosts: &str,
) -> Result<(PathBuf, PathBuf), CredentialProblem> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let fail = |path: &Path, e: std::io::Error| CredentialProblem::Write {
        name: name.to_owned(),
        path: path.to_owned(),
        detail: e.to_string(),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(key_dir)
        .map_err(|e| fail(key_dir, e))?;
    let mut written = Vec::new();
    for (file, content) in [("identity", identity), ("known_hosts", known_hosts)] {
        let path = key_dir.join(file);
        let tmp = key_dir.join(format!(".{file}.tmp"));
        let mut content = content.to_owned();
        if !content.ends_with('\n') {
            // ssh refuses a private key without its final newline.
            content.push('\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| fail(&tmp, e))?;
        f.write_all(content.as_bytes()).map_err(|e| fail(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    let known_hosts = written.pop().unwrap_or_default();
    let identity = written.pop().unwrap_or_default();
    Ok((identity, known_hosts))
}

/// Asks `ssh-keygen` to derive the public key: it fails for anything ssh could not use.
fn check_key(name: &str, identity: &Path) -> Result<(), CredentialProblem> {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-y")
        .arg("-P")
        .arg("")
        .arg("-f")
        .arg(identity)
        .output()
        .map_err(|e| CredentialProblem::InvalidKey {
            name: name.to_owned(),
            detail: format!("cannot run ssh-keygen to check it: {e}"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = if stderr.contains("incorrect passphrase") || stderr.contains("passphrase") {
        "it is protected by a passphrase; use a key without one".to_owned()
    } else {
        stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ssh-keygen cannot read it")
            .replace(&identity.display().to_string(), "identity")
    };
    Err(CredentialProblem::InvalidKey {
        name: name.to_owned(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn token_secrets_give_basic_or_bearer_auth() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let basic = from_secret(
            "s",
            &data(&[("username", "u"), ("password", "p\n")]),
            dir.path(),
        );
        assert!(
            matches!(basic, Ok(Credentials { method: "basic", auth: Auth::Basic { ref password, .. } }) if password == "p")
        );
        let bearer = from_secret("s", &data(&[("bearerToken", "t")]), dir.path());
        assert!(matches!(
            bearer,
            Ok(Credentials {
                method: "bearer",
                ..
            })
        ));
    }

    #[test]
    fn each_problem_names_the_secret_and_has_its_reason() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            (data(&[("identity", "x")]), "MissingKnownHosts"),
            (data(&[("username", "u")]), "IncompleteCredentials"),
            (data(&[("other", "u")]), "NoCredentials"),
            (data(&[("githubAppID", "1")]), "UnsupportedCredentials"),
            (
                data(&[
                    ("identity", "not a key"),
                    ("known_hosts", "h ssh-ed25519 AAAA"),
                ]),
                "InvalidKey",
            ),
        ];
        for (secret, reason) in cases {
            let err = from_secret("git-creds", &secret, &dir.path().join("k"))
                .err()
                .unwrap_or_else(|| panic!("{reason} expected"));
            assert_eq!(err.reason(), reason, "{err}");
            assert!(err.to_string().contains("git-creds"), "{err}");
        }
    }
}
