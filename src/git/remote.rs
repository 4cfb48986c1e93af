//! Talking to the remote: fetch the synced branch into the cache repository with gix, and push a
//! commit to it through the `git` program (gix cannot push yet).
//!
//! Credentials never touch the disk or a command line: for a fetch they live in gix's in-memory
//! configuration, for a push in the environment of the `git` process (an `http.extraHeader`
//! through `GIT_CONFIG_*`, or an SSH command with strict host-key checking).
//! A push is never forced: when the remote moved, the push is refused as a non-fast-forward and
//! reported as [`PushOutcome::RemoteMoved`], for the caller to fetch, rebuild and retry. Refusals
//! that retrying cannot fix (branch protection, no write access) are errors that say what to do.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use gix::ObjectId;

/// How to authenticate to the remote.
#[derive(Clone, Default, Hash)]
pub enum Auth {
    /// `file://`, `git://`, or a URL that needs nothing.
    #[default]
    None,
    /// HTTPS with a username and password or token (Basic).
    Basic { username: String, password: String },
    /// HTTPS with a bearer token.
    Bearer(String),
    /// SSH with a private key file and a known_hosts file; host keys are checked strictly.
    Ssh {
        identity: PathBuf,
        known_hosts: PathBuf,
    },
}

impl std::fmt::Debug for Auth {
    // Never print a secret, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(
                f,
                "Basic {{ username: {username:?}, password: <redacted> }}"
            ),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Ssh {
                identity,
                known_hosts,
            } => write!(
                f,
                "Ssh {{ identity: {identity:?}, known_hosts: {known_hosts:?} }}"
            ),
        }
    }
}

/// The synced branch of a remote repository.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub branch: String,
    pub auth: Auth,
}

/// Why the remote could not be reached or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    #[error(
        "{url}: authentication failed; check the credentials (the GitConnection's Secret, or the --git-* flags)"
    )]
    AuthenticationFailed { url: String },
    #[error(
        "{url}: the host key is unknown or does not match known_hosts; add the host's key to known_hosts"
    )]
    HostKey { url: String },
    #[error("{url}: repository not found (or not visible with these credentials)")]
    NotFound { url: String },
    #[error(
        "{url}: no write access to {branch}; grant gitsync's identity write access to the repository"
    )]
    NoWriteAccess { url: String, branch: String },
    #[error(
        "{url}: pushing to {branch} was refused by branch protection ({detail}); add gitsync's identity to the branch protection bypass list"
    )]
    BranchProtection {
        url: String,
        branch: String,
        detail: String,
    },
    #[error("{url}: git {operation} failed: {detail}")]
    Git {
        url: String,
        operation: &'static str,
        detail: String,
    },
}

impl RemoteError {
    /// A short CamelCase name for the problem, for a Kubernetes condition's `reason` and for
    /// metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            RemoteError::AuthenticationFailed { .. } => "AuthenticationFailed",
            RemoteError::HostKey { .. } => "HostKeyVerificationFailed",
            RemoteError::NotFound { .. } => "RepositoryNotFound",
            RemoteError::NoWriteAccess { .. } => "NoWriteAccess",
            RemoteError::BranchProtection { .. } => "BranchProtected",
            RemoteError::Git { .. } => "GitError",
        }
    }

    /// Whether only a change of configuration or permissions can fix it (retrying as is will
    /// not help); a generic Git failure may be a network hiccup.
    pub fn needs_user_action(&self) -> bool {
        !matches!(self, RemoteError::Git { .. })
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The branch moved since the commit's parent was fetched; fetch, rebuild on top, retry.
    RemoteMoved,
}

impl Remote {
    /// The `Authorization` header for HTTPS, if the credentials are a token or password.
    fn auth_header(&self) -> Option<String> {
        match &self.auth {
            Auth::Basic { username, password } => Some(format!(
                "Authorization: Basic {}",
                BASE64.encode(format!("{username}:{password}"))
            )),
            Auth::Bearer(token) => Some(format!("Authorization: Bearer {token}")),
            _ => None,
        }
    }

    /// The SSH command: this key only, this known_hosts only, strict host-key checking, and
    /// never a prompt. `quiet` silences ssh's own messages (gix would pass the ones it does not
    /// understand straight to our stderr); the `git` program's runs keep them, to classify them.
    fn ssh_command(&self, quiet: bool) -> Option<String> {
        let Auth::Ssh {
            identity,
            known_hosts,
        } = &self.auth
        else {
            return None;
        };
        Some(format!(
            "ssh -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes -o BatchMode=yes{}",
            identity.display(),
            known_hosts.display(),
            if quiet { " -o LogLevel=QUIET" } else { "" }
        ))
    }

    /// The environment that carries the credentials to `git`.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
            ("GIT_ASKPASS".to_owned(), "true".to_owned()),
            ("SSH_ASKPASS".to_owned(), "true".to_owned()),
        ];
        if let Some(header) = self.auth_header() {
            env.push(("GIT_CONFIG_COUNT".into(), "1".into()));
            env.push(("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()));
            env.push(("GIT_CONFIG_VALUE_0".into(), header));
        }
        if let Some(command) = self.ssh_command(false) {
            env.push(("GIT_SSH_COMMAND".into(), command));
        }
        env
    }

    fn git(&self, cache: &Path, args: &[&str]) -> Result<std::process::Output, RemoteError> {
        Command::new("git")
            .arg("-C")
            .arg(cache)
            .args(args)
            .envs(self.env())
            .output()
            .map_err(|e| RemoteError::Git {
                url: self.url.clone(),
                operation: "run",
                detail: format!("cannot run git: {e}"),
            })
    }

    /// The ref in the cache that mirrors the remote branch.
    pub fn tracking_ref(&self) -> String {
        format!("refs/remotes/gitsync/{}", self.branch)
    }

    /// Fetches the branch into the cache (with gix, incrementally: only the objects the cache
    /// lacks); returns its commit, or `None` when the remote has no such branch yet (a new, empty
    /// repository).
    ///
    /// The credentials go into this fetch's in-memory configuration only (`http.extraHeader`,
    /// `core.sshCommand`); the cache's config file never sees them, and gix is told never to
    /// ask a credential helper or a person for anything else.
    pub fn fetch(&self, cache: &gix::Repository) -> Result<Option<ObjectId>, RemoteError> {
        let fail = |e: &dyn std::fmt::Display| self.diagnose(cache.path(), &e.to_string());
        let mut repo = cache.clone();
        let mut config = repo.config_snapshot_mut();
        if let Some(header) = self.auth_header() {
            config
                .set_value(&gix::config::tree::Http::EXTRA_HEADER, header.as_str())
                .map_err(|e| fail(&e))?;
        }
        if let Some(command) = self.ssh_command(true) {
            config
                .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
                .map_err(|e| fail(&e))?;
        }
        config.commit().map_err(|e| fail(&e))?;

        let tracking = self.tracking_ref();
        let refspec = format!("+refs/heads/{}:{tracking}", self.branch);
        let remote = repo
            .remote_at(self.url.as_str())
            .and_then(|r| r.with_refspecs([refspec.as_str()], gix::remote::Direction::Fetch))
            .map_err(|e| fail(&e))?
            .with_fetch_tags(gix::remote::fetch::Tags::None);
        let connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| fail(&e))?
            .with_credentials(|_| Ok(None));
        let prepared = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fail(&e))?;
        let head = prepared
            .ref_map()
            .mappings
            .iter()
            .find(|m| m.local.as_ref().is_some_and(|l| *l == tracking.as_str()))
            .and_then(|m| m.remote.as_id())
            .map(ToOwned::to_owned);
        if head.is_none() {
            // The branch does not exist yet: nothing to fetch.
            return Ok(None);
        }
        let interrupt = std::sync::atomic::AtomicBool::new(false);
        prepared
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fail(&e))?;
        Ok(head)
    }

    /// Checks that the remote can be read with these credentials (`git ls-remote`), without
    /// fetching anything: what a GitConnection reports before any sync runs.
    pub fn check(&self, scratch: &Path) -> Result<(), RemoteError> {
        self.ls_remote(scratch, "ls-remote")
    }

    /// `git ls-remote` of the branch; a refusal is classified as part of `operation`.
    fn ls_remote(&self, dir: &Path, operation: &'static str) -> Result<(), RemoteError> {
        let branch = format!("refs/heads/{}", self.branch);
        let out = self.git(dir, &["ls-remote", "--heads", &self.url, &branch])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.classify(operation, &String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Pushes `commit` to the branch, as a fast-forward only.
    pub fn push(
        &self,
        cache: &gix::Repository,
        commit: ObjectId,
    ) -> Result<PushOutcome, RemoteError> {
        let refspec = format!("{commit}:refs/heads/{}", self.branch);
        let out = self.git(
            cache.path(),
            &["push", "--porcelain", "--quiet", &self.url, &refspec],
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(PushOutcome::Pushed);
        }
        if stdout.contains("non-fast-forward")
            || stdout.contains("fetch first")
            || stderr.contains("non-fast-forward")
        {
            return Ok(PushOutcome::RemoteMoved);
        }
        Err(self.classify("push", &format!("{stdout}{stderr}")))
    }

    /// Why a fetch failed. gix reports transport failures tersely ("failed to fill whole
    /// buffer" when ssh gave up, "no credentials" for any refusal), so the `git` program is asked
    /// the same question with the same credentials (`git ls-remote`), and what the server or ssh
    /// told it is classified. If `git` succeeds, the failure was gix's own and is reported as is.
    fn diagnose(&self, cache: &Path, gix_error: &str) -> RemoteError {
        match self.ls_remote(cache, "fetch") {
            // `git` succeeded, or could not be run: gix's own error is the one to report.
            Ok(())
            | Err(RemoteError::Git {
                operation: "run", ..
            }) => RemoteError::Git {
                url: self.url.clone(),
                operation: "fetch",
                detail: gix_error.to_owned(),
            },
            Err(refused) => refused,
        }
    }

    fn classify(&self, operation: &'static str, output: &str) -> RemoteError {
        let url = self.url.clone();
        let lower = output.to_lowercase();
        let detail = output
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned();
        if lower.contains("host key verification failed") || lower.contains("no matching host key")
        {
            RemoteError::HostKey { url }
        } else if lower.contains("protected branch")
            || lower.contains("gh006")
            || lower.contains("hook declined")
        {
            RemoteError::BranchProtection {
                url,
                branch: self.branch.clone(),
                detail,
            }
        } else if lower.contains("permission to") && lower.contains("denied")
            || lower.contains("write access")
            || lower.contains("the requested url returned error: 403")
        {
            RemoteError::NoWriteAccess {
                url,
                branch: self.branch.clone(),
            }
        } else if lower.contains("authentication failed")
            || lower.contains("returned error: 401")
            || lower.contains("could not read username")
            || lower.contains("permission denied (publickey")
        {
            RemoteError::AuthenticationFailed { url }
        } else if lower.contains("not found")
            || lower.contains("does not appear to be a git repository")
        {
            RemoteError::NotFound { url }
        } else {
            RemoteError::Git {
                url,
                operation,
                detail,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let auth = Auth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!format!("{:?}", Auth::Bearer("tok".into())).contains("tok"));
    }
}
