//! Git credentials from a GitConnection's Secret, with Flux's key names.
//!
//! Turns the Secret's data into an [`Auth`] the Git side understands, and says precisely what is
//! wrong when it cannot (each problem has a `reason` for the `Ready` condition). An SSH key is
//! checked with `ssh-keygen` and written, with its known_hosts, to files only this process can
//! read, under the operator's state directory: once per version of the Secret, in a directory
//! named after its `resourceVersion`, so that every GitSync sharing a GitConnection and the
//! GitConnection controller use the same files without ever rewriting one that ssh may be
//! reading. Nothing here ever logs or returns a secret.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;

use crate::forge::any::ForgeCredentials;
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
        "Secret {name} has GitHub App credentials without {missing}; a GitHub App needs githubAppID and githubAppPrivateKey (githubAppInstallationID is optional: the installation is found from the repository)"
    )]
    IncompleteGithubApp { name: String, missing: &'static str },
    #[error("Secret {name}: githubAppInstallationID is not a number")]
    BadInstallationId { name: String },
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
            CredentialProblem::IncompleteGithubApp { .. } => "IncompleteCredentials",
            CredentialProblem::BadInstallationId { .. } => "InvalidCredentials",
            CredentialProblem::Write { .. } => "CredentialsNotWritten",
        }
    }
}

/// Credentials read from a Secret, and how they authenticate.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// How Git authenticates; for a GitHub App, [`Auth::None`] until an installation token
    /// is bought with [`Credentials::forge`] (see [`crate::forge::Forge::git_credentials`]).
    pub auth: Auth,
    /// ssh, basic, bearer, githubApp.
    pub method: &'static str,
    /// What the forge's API takes: the HTTPS token, or the GitHub App (`None` for SSH).
    pub forge: Option<ForgeCredentials>,
}

fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    data.get(key)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .filter(|s| !s.trim().is_empty())
}

/// Reads Git credentials from Secret `name` (at `version`, its `resourceVersion`). SSH keys are
/// written under `key_dir` (one directory per connection, created private).
pub fn from_secret(
    name: &str,
    version: &str,
    data: &BTreeMap<String, ByteString>,
    key_dir: &Path,
) -> Result<Credentials, CredentialProblem> {
    from_secret_with(name, version, data, key_dir, Path::new("ssh-keygen"))
}

/// The credentials of GitConnection `namespace/connection`, from its Secret `secret_name` as
/// read from the API: the one place that decides where a connection's key files live under the
/// operator's state directory, for the connection controller and every GitSync that uses it.
pub fn for_connection(
    state_dir: &Path,
    namespace: &str,
    connection: &str,
    secret_name: &str,
    secret: k8s_openapi::api::core::v1::Secret,
) -> Result<Credentials, CredentialProblem> {
    let key_dir = state_dir
        .join("credentials")
        .join(namespace)
        .join(connection);
    let version = secret.metadata.resource_version.unwrap_or_default();
    from_secret(
        secret_name,
        &version,
        &secret.data.unwrap_or_default(),
        &key_dir,
    )
}

fn from_secret_with(
    name: &str,
    version: &str,
    data: &BTreeMap<String, ByteString>,
    key_dir: &Path,
    ssh_keygen: &Path,
) -> Result<Credentials, CredentialProblem> {
    if let Some(identity) = text(data, "identity") {
        let known_hosts =
            text(data, "known_hosts").ok_or_else(|| CredentialProblem::MissingKnownHosts {
                name: name.to_owned(),
            })?;
        let (identity, known_hosts) =
            ssh_files(name, key_dir, version, &identity, &known_hosts, ssh_keygen)?;
        return Ok(Credentials {
            auth: Auth::Ssh {
                identity,
                known_hosts,
            },
            method: "ssh",
            forge: None,
        });
    }
    if let Some(token) = text(data, "bearerToken") {
        return Ok(Credentials {
            auth: Auth::Bearer(token.trim().to_owned()),
            method: "bearer",
            forge: Some(ForgeCredentials::Token(token.trim().to_owned())),
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
                forge: Some(ForgeCredentials::Token(password.trim().to_owned())),
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
        let missing = |missing| CredentialProblem::IncompleteGithubApp {
            name: name.to_owned(),
            missing,
        };
        let app_id = text(data, "githubAppID").ok_or_else(|| missing("githubAppID"))?;
        let private_key_pem =
            text(data, "githubAppPrivateKey").ok_or_else(|| missing("githubAppPrivateKey"))?;
        let installation_id = match text(data, "githubAppInstallationID") {
            None => None,
            Some(id) => Some(id.trim().parse::<u64>().map_err(|_| {
                CredentialProblem::BadInstallationId {
                    name: name.to_owned(),
                }
            })?),
        };
        return Ok(Credentials {
            auth: Auth::None,
            method: "githubApp",
            forge: Some(ForgeCredentials::GitHubApp {
                app_id: app_id.trim().to_owned(),
                private_key_pem,
                installation_id,
            }),
        });
    }
    Err(CredentialProblem::NoCredentials {
        name: name.to_owned(),
    })
}

/// Serializes the writers of this process: with it, a Secret version's key is checked and
/// written exactly once however many reconciles ask for it at the same time (the rename below
/// keeps writers in other processes safe too).
static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How long the files of an older Secret version stay (a sync started with them may still run).
const KEEP_OLD_VERSIONS: std::time::Duration = std::time::Duration::from_secs(600);

/// The key and known_hosts of Secret version `version`, at `<key_dir>/<version>/identity` and
/// `known_hosts`: written once, with mode 0600 in 0700 directories, into a private temporary
/// directory that is renamed into place only after `ssh-keygen` accepted the key. A file in place
/// is never written again, so a concurrent ssh never reads half a key.
fn ssh_files(
    name: &str,
    key_dir: &Path,
    version: &str,
    identity: &str,
    known_hosts: &str,
    ssh_keygen: &Path,
) -> Result<(PathBuf, PathBuf), CredentialProblem> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let fail = |path: &Path, e: std::io::Error| CredentialProblem::Write {
        name: name.to_owned(),
        path: path.to_owned(),
        detail: e.to_string(),
    };
    // A resourceVersion is opaque: keep it from naming anything outside key_dir.
    let safe: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = key_dir.join(format!("v{safe}"));
    let paths = (dir.join("identity"), dir.join("known_hosts"));
    let _writing = WRITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if paths.0.is_file() && paths.1.is_file() {
        return Ok(paths);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(key_dir)
        .map_err(|e| fail(key_dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(key_dir)
        .map_err(|e| fail(key_dir, e))?;
    for (file, content) in [("identity", identity), ("known_hosts", known_hosts)] {
        let path = tmp.path().join(file);
        let mut content = content.to_owned();
        if !content.ends_with('\n') {
            // ssh refuses a private key without its final newline.
            content.push('\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| fail(&path, e))?;
        f.write_all(content.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| fail(&path, e))?;
    }
    check_key(name, &tmp.path().join("identity"), ssh_keygen)?;
    if let Err(e) = std::fs::rename(tmp.path(), &dir) {
        // Another process put the same version in place first: its files are as good.
        if !(paths.0.is_file() && paths.1.is_file()) {
            return Err(fail(&dir, e));
        }
    }
    remove_old_versions(key_dir, &dir);
    Ok(paths)
}

/// Removes the files of other Secret versions (and temporary directories a crash left behind)
/// once they are older than [`KEEP_OLD_VERSIONS`]; a failure only leaves files behind.
fn remove_old_versions(key_dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(key_dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > KEEP_OLD_VERSIONS);
        if path != current && old && path.is_dir() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Asks `ssh-keygen` to derive the public key: it fails for anything ssh could not use.
fn check_key(name: &str, identity: &Path, ssh_keygen: &Path) -> Result<(), CredentialProblem> {
    let out = std::process::Command::new(ssh_keygen)
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
            "1",
            &data(&[("username", "u"), ("password", "p\n")]),
            dir.path(),
        );
        assert!(
            matches!(basic, Ok(Credentials { method: "basic", auth: Auth::Basic { ref password, .. }, .. }) if password == "p")
        );
        let bearer = from_secret("s", "1", &data(&[("bearerToken", "t")]), dir.path());
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
            (data(&[("githubAppID", "1")]), "IncompleteCredentials"),
            (
                data(&[
                    ("githubAppID", "1"),
                    ("githubAppPrivateKey", "k"),
                    ("githubAppInstallationID", "x"),
                ]),
                "InvalidCredentials",
            ),
            (
                data(&[
                    ("identity", "not a key"),
                    ("known_hosts", "h ssh-ed25519 AAAA"),
                ]),
                "InvalidKey",
            ),
        ];
        for (secret, reason) in cases {
            let err = from_secret("git-creds", "1", &secret, &dir.path().join("k"))
                .err()
                .unwrap_or_else(|| panic!("{reason} expected"));
            assert_eq!(err.reason(), reason, "{err}");
            assert!(err.to_string().contains("git-creds"), "{err}");
        }
    }

    /// A real key, made by ssh-keygen, and an `ssh-keygen` that counts its runs in `runs`.
    fn key_and_counting_keygen(dir: &Path) -> (String, PathBuf, PathBuf) {
        let key = dir.join("key");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status();
        assert!(made.is_ok_and(|s| s.success()), "ssh-keygen -t ed25519");
        let runs = dir.join("runs");
        let keygen = dir.join("counting-ssh-keygen");
        std::fs::write(
            &keygen,
            format!(
                "#!/bin/sh\necho run >> '{}'\nexec ssh-keygen \"$@\"\n",
                runs.display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&keygen, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&key).unwrap_or_else(|e| panic!("{e}"));
        (text, keygen, runs)
    }

    fn runs(path: &Path) -> usize {
        std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    #[test]
    fn concurrent_readers_of_one_secret_version_share_one_checked_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (key, keygen, counted) = key_and_counting_keygen(dir.path());
        let secret = data(&[("identity", &key), ("known_hosts", "h ssh-ed25519 AAAA")]);
        let key_dir = dir.path().join("credentials/default/conn");
        // As many GitSyncs sharing the connection, and the connection's controller, at once.
        let results: Vec<Result<Credentials, CredentialProblem>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| from_secret_with("git", "4711", &secret, &key_dir, &keygen))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("a writer panicked")))
                .collect()
        });
        let mut paths = std::collections::BTreeSet::new();
        for r in results {
            match r {
                Ok(Credentials {
                    auth:
                        Auth::Ssh {
                            identity,
                            known_hosts,
                        },
                    ..
                }) => {
                    paths.insert((identity, known_hosts));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(paths.len(), 1, "{paths:?}");
        let (identity, known_hosts) = paths.pop_first().unwrap_or_default();
        assert_eq!(std::fs::read_to_string(&identity).ok(), Some(key.clone()));
        assert_eq!(
            std::fs::read_to_string(&known_hosts).ok().as_deref(),
            Some("h ssh-ed25519 AAAA\n")
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .ok()
        };
        assert_eq!(mode(&identity), Some(0o600));
        assert_eq!(mode(identity.parent().unwrap_or(&identity)), Some(0o700));
        assert_eq!(runs(&counted), 1, "the key is checked once");
        // One directory for the version, no temporary one left.
        let entries: Vec<String> = std::fs::read_dir(&key_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(entries, ["v4711"]);

        // Asked again for the same version: no write, no ssh-keygen.
        let modified = std::fs::metadata(&identity).and_then(|m| m.modified()).ok();
        let again = from_secret_with("git", "4711", &secret, &key_dir, &keygen);
        assert!(
            matches!(again, Ok(Credentials { auth: Auth::Ssh { identity: ref i, .. }, .. }) if *i == identity)
        );
        assert_eq!(
            std::fs::metadata(&identity).and_then(|m| m.modified()).ok(),
            modified
        );
        assert_eq!(runs(&counted), 1);

        // A new version of the Secret (a rotated key) gets files of its own, checked once; the
        // files of the old version stay for a sync still using them.
        let rotated_dir = dir.path().join("rotated");
        std::fs::create_dir_all(&rotated_dir).unwrap_or_else(|e| panic!("{e}"));
        let (rotated, _, _) = key_and_counting_keygen(&rotated_dir);
        let secret = data(&[
            ("identity", &rotated),
            ("known_hosts", "h ssh-ed25519 AAAA"),
        ]);
        let new = from_secret_with("git", "4712", &secret, &key_dir, &keygen);
        let Ok(Credentials {
            auth:
                Auth::Ssh {
                    identity: new_identity,
                    ..
                },
            ..
        }) = new
        else {
            panic!("{new:?}")
        };
        assert_ne!(new_identity, identity);
        assert_eq!(std::fs::read_to_string(&new_identity).ok(), Some(rotated));
        assert_eq!(std::fs::read_to_string(&identity).ok(), Some(key));
        assert_eq!(runs(&counted), 2);
    }

    #[test]
    fn a_key_ssh_cannot_use_is_never_put_in_place() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key_dir = dir.path().join("k");
        let secret = data(&[
            ("identity", "not a key"),
            ("known_hosts", "h ssh-ed25519 AAAA"),
        ]);
        let err = from_secret("git", "1", &secret, &key_dir);
        assert!(
            matches!(err, Err(CredentialProblem::InvalidKey { .. })),
            "{err:?}"
        );
        let left: Vec<_> = std::fs::read_dir(&key_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }
}
