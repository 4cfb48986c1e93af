//! Talking to the remote: fetch the synced branch into the cache repository with gix, and push a
//! commit to it through the `git` program (gix cannot push yet).
//!
//! Credentials never touch the disk or a command line: for a fetch they live in gix's in-memory
//! configuration, for a push in the environment of the `git` process (an `http.extraHeader`
//! through `GIT_CONFIG_*`, or an SSH command with strict host-key checking). Credentials written
//! in an HTTP(S) URL are taken out of it and sent the same way; every URL in an error is
//! [`redacted`], and every text of git or gix quoted in one is scrubbed of the credentials.
//!
//! The `git` program runs with its messages in English (`LC_MESSAGES=C`, no `LC_ALL` or
//! `LANGUAGE`), as gitsync reads them, and without the host's system and global configuration
//! (an `url.insteadOf` or a credential helper there must not change where or how gitsync
//! pushes). A push's outcome is read from its `--porcelain` status line, by its flag.
//!
//! A push is never forced: when the remote moved (a non-fast-forward, or a concurrent push that
//! won the race for the ref's lock), the push is reported as [`PushOutcome::RemoteMoved`], for
//! the caller to fetch, rebuild and retry. Refusals that retrying cannot fix (branch protection,
//! a hook, no write access) are errors that quote the server and say what to do.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use gix::ObjectId;

use crate::url::{UrlCredentials, redacted, scrub, secrets_in, split_credentials};
/// The most packs the cache keeps before its objects are packed into one (see
/// `Remote::compact`).
const MAX_PACKS: usize = 12;

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
#[derive(Clone)]
pub struct Remote {
    /// The URL as configured; it may carry credentials, so it is never shown as it is (see
    /// [`Remote::shown_url`]).
    pub url: String,
    pub branch: String,
    pub auth: Auth,
}

impl std::fmt::Debug for Remote {
    // The URL may carry credentials: debug output shows it redacted, like every message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.shown_url())
            .field("branch", &self.branch)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Why the remote could not be reached or written. Every URL in it is redacted, and every
/// message of git quoted in it is scrubbed of credentials.
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
    #[error(
        "{url}: the server refused the push to {branch}: {detail}; the server's own words are above, ask its administrators what it expects"
    )]
    Refused {
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
    #[error("cannot run the `git` program ({detail}); install git (apt-get install git)")]
    NoGit { detail: String },
    #[error(
        "the cache repository {} was corrupt ({detail}) and was re-created; the next sync fetches the branch again", path.display()
    )]
    CorruptCache { path: PathBuf, detail: String },
    /// A ref to fetch that is not a full, valid ref name (`refs/pull/7/head`).
    #[error("`{name}` is not a ref that can be fetched: {detail}")]
    BadRef { name: String, detail: String },
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
            RemoteError::Refused { .. } => "PushRefused",
            RemoteError::Git { .. } => "GitError",
            RemoteError::NoGit { .. } => "GitNotInstalled",
            RemoteError::CorruptCache { .. } => "CacheCorrupt",
            RemoteError::BadRef { .. } => "BadRef",
        }
    }

    /// Whether only a change of configuration or permissions can fix it (retrying as is will
    /// not help); a generic Git failure may be a network hiccup, and a re-created cache works
    /// on the next try.
    pub fn needs_user_action(&self) -> bool {
        !matches!(
            self,
            RemoteError::Git { .. } | RemoteError::CorruptCache { .. }
        )
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The branch moved since the commit's parent was fetched; fetch, rebuild on top, retry.
    RemoteMoved,
}

/// The `Authorization` header for HTTPS, if the credentials are a token or password.
fn auth_header(auth: &Auth) -> Option<String> {
    match auth {
        Auth::Basic { username, password } => Some(format!(
            "Authorization: Basic {}",
            BASE64.encode(format!("{username}:{password}"))
        )),
        Auth::Bearer(token) => Some(format!("Authorization: Bearer {token}")),
        _ => None,
    }
}

/// The SSH command: this key only, this known_hosts only, strict host-key checking, and never a
/// prompt. `quiet` silences ssh's own messages (gix would pass the ones it does not understand
/// straight to our stderr); the `git` program's runs keep them, to classify them.
fn ssh_command(auth: &Auth, quiet: bool) -> Option<String> {
    let Auth::Ssh {
        identity,
        known_hosts,
    } = auth
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

/// Variables of the caller's environment that would make `git` work on another repository or
/// with other configuration than gitsync's.
const INHERITED_GIT_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_SYSTEM",
    "GIT_SSH",
    "GIT_SSH_VARIANT",
    "GIT_PROXY_COMMAND",
    "GIT_EXEC_PATH",
    "LC_ALL",
    "LANGUAGE",
];

impl Remote {
    /// The URL as gitsync shows it: without credentials.
    pub fn shown_url(&self) -> String {
        redacted(&self.url)
    }

    /// The URL to connect to and the credentials to send: credentials written in an HTTP(S)
    /// URL are taken out of it (and used when no other credentials are configured), so that
    /// they reach the server as a header, never through a command line or a log.
    fn transport(&self) -> (String, Auth) {
        let (url, in_url) = split_credentials(&self.url);
        let auth = match (&self.auth, in_url) {
            (Auth::None, Some(UrlCredentials { username, password })) => {
                Auth::Basic { username, password }
            }
            (auth, _) => auth.clone(),
        };
        (url, auth)
    }

    /// Every secret that a text of git or gix might quote.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = secrets_in(&self.url);
        match &self.auth {
            Auth::Basic { password, .. } => secrets.push(password.clone()),
            Auth::Bearer(token) => secrets.push(token.clone()),
            Auth::None | Auth::Ssh { .. } => {}
        }
        secrets
    }

    /// `text` without the URL's credentials or any other secret of this remote.
    fn scrub(&self, text: &str) -> String {
        let (bare, _) = split_credentials(&self.url);
        scrub(&scrub(text, &self.url, &self.secrets()), &bare, &[])
    }

    /// The environment of a `git` run: the credentials, English messages, no prompt, and none
    /// of the host's system or global configuration.
    fn env(&self, auth: &Auth) -> Vec<(String, String)> {
        let mut env = vec![
            ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
            ("GIT_ASKPASS".to_owned(), "true".to_owned()),
            ("SSH_ASKPASS".to_owned(), "true".to_owned()),
            ("LC_MESSAGES".to_owned(), "C".to_owned()),
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
            ("GIT_CONFIG_GLOBAL".to_owned(), "/dev/null".to_owned()),
        ];
        let mut config = vec![
            // Never ask a credential helper of the cache's (or any other) configuration.
            ("credential.helper", String::new()),
        ];
        if let Some(header) = auth_header(auth) {
            config.push(("http.extraHeader", header));
        }
        env.push(("GIT_CONFIG_COUNT".into(), config.len().to_string()));
        for (i, (key, value)) in config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), key.to_owned()));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), value));
        }
        if let Some(command) = ssh_command(auth, false) {
            env.push(("GIT_SSH_COMMAND".into(), command));
        }
        env
    }

    fn git(
        &self,
        cache: &Path,
        auth: &Auth,
        args: &[&str],
    ) -> Result<std::process::Output, RemoteError> {
        let mut command = Command::new("git");
        for name in INHERITED_GIT_VARIABLES {
            command.env_remove(name);
        }
        command
            .arg("-C")
            .arg(cache)
            .args(args)
            .envs(self.env(auth))
            .output()
            .map_err(|e| RemoteError::NoGit {
                detail: e.to_string(),
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
    ///
    /// When gix fails but the remote answers `git ls-remote` and the cache's own commits cannot
    /// be read, the cache is at fault, not the remote: it is re-created and fetched into again.
    pub fn fetch(&self, cache: &gix::Repository) -> Result<Option<ObjectId>, RemoteError> {
        let branch = format!("refs/heads/{}", self.branch);
        let mut heads = self.fetch_refs(cache, &[branch.as_str()])?;
        Ok(heads.pop().flatten())
    }

    /// Where a fetched remote ref is kept in the cache: a branch `refs/heads/main` at
    /// `refs/remotes/gitsync/main` ([`Remote::tracking_ref`]); any other ref (a pull request's
    /// `refs/pull/7/head`) at `refs/gitsync/pull/7/head`, apart from branches so that no branch
    /// name can stand for it.
    pub fn tracking_ref_of(remote_ref: &str) -> String {
        match remote_ref.strip_prefix("refs/heads/") {
            Some(branch) => format!("refs/remotes/gitsync/{branch}"),
            None => format!(
                "refs/gitsync/{}",
                remote_ref.strip_prefix("refs/").unwrap_or(remote_ref)
            ),
        }
    }

    /// Fetches any refs of the remote (`refs/heads/main`, `refs/pull/7/head`,
    /// `refs/merge-requests/7/head`) into the cache, each at [`Remote::tracking_ref_of`], in one
    /// fetch; returns each one's commit, `None` for a ref the remote does not have. As
    /// [`Remote::fetch`], with the same credentials handling and cache repair.
    pub fn fetch_refs(
        &self,
        cache: &gix::Repository,
        remote_refs: &[&str],
    ) -> Result<Vec<Option<ObjectId>>, RemoteError> {
        for name in remote_refs {
            let valid = gix::refs::FullName::try_from(*name)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    if name.starts_with("refs/") && !name.contains(['*', ':', '+']) {
                        Ok(())
                    } else {
                        Err("a full ref name, such as refs/pull/7/head, without patterns".into())
                    }
                });
            if let Err(detail) = valid {
                return Err(RemoteError::BadRef {
                    name: self.scrub(name),
                    detail,
                });
            }
        }
        match self.fetch_once(cache, remote_refs) {
            Ok(heads) => Ok(heads),
            Err(gix_error) => {
                let diagnosed = self.diagnose(cache.path(), &gix_error);
                let none = || vec![None; remote_refs.len()];
                let Err(RemoteError::Git { .. }) = &diagnosed else {
                    return diagnosed.map(|()| none());
                };
                let Err(damage) = super::cache::check(cache) else {
                    return diagnosed.map(|()| none());
                };
                let path = cache.path().to_owned();
                let corrupt = |detail: String| RemoteError::CorruptCache {
                    path: path.clone(),
                    detail,
                };
                let detail = self.scrub(&format!("{damage}; {gix_error}"));
                super::cache::recreate(&path, &detail).map_err(|e| corrupt(e.to_string()))?;
                let fresh = super::cache::create_at(&path).map_err(|e| corrupt(e.to_string()))?;
                self.fetch_once(&fresh, remote_refs)
                    .map_err(|e| corrupt(format!("{detail}; fetching again: {}", self.scrub(&e))))
            }
        }
    }

    /// Packs the cache's objects into one pack when fetches and pushes have left more than
    /// [`MAX_PACKS`]: gix gives an open repository a fixed number of pack slots (32), and a
    /// cache the operator keeps open would otherwise stop fetching after as many fetches that
    /// bring commits. `git repack -a -d` keeps every object (the cache's refs hold them all).
    fn compact(&self, cache: &gix::Repository) -> Result<(), String> {
        let packs = std::fs::read_dir(cache.path().join("objects").join("pack"))
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                    .count()
            })
            .unwrap_or(0);
        if packs <= MAX_PACKS {
            return Ok(());
        }
        let out = self
            .git(cache.path(), &Auth::None, &["repack", "-a", "-d", "-q"])
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "git repack of the cache failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// One fetch with gix; its error as text.
    fn fetch_once(
        &self,
        cache: &gix::Repository,
        remote_refs: &[&str],
    ) -> Result<Vec<Option<ObjectId>>, String> {
        let fail = |e: &dyn std::fmt::Display| e.to_string();
        self.compact(cache)?;
        let (url, auth) = self.transport();
        let mut repo = cache.clone();
        let mut config = repo.config_snapshot_mut();
        if let Some(header) = auth_header(&auth) {
            config
                .set_value(&gix::config::tree::Http::EXTRA_HEADER, header.as_str())
                .map_err(|e| fail(&e))?;
        }
        if let Some(command) = ssh_command(&auth, true) {
            config
                .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
                .map_err(|e| fail(&e))?;
        }
        config.commit().map_err(|e| fail(&e))?;

        let tracking: Vec<String> = remote_refs
            .iter()
            .map(|r| Self::tracking_ref_of(r))
            .collect();
        let refspecs: Vec<String> = remote_refs
            .iter()
            .zip(&tracking)
            .map(|(r, t)| format!("+{r}:{t}"))
            .collect();
        let remote = repo
            .remote_at(url.as_str())
            .and_then(|r| {
                r.with_refspecs(
                    refspecs.iter().map(String::as_str),
                    gix::remote::Direction::Fetch,
                )
            })
            .map_err(|e| fail(&e))?
            .with_fetch_tags(gix::remote::fetch::Tags::None);
        let connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| fail(&e))?
            .with_credentials(|_| Ok(None));
        let prepared = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fail(&e))?;
        let heads: Vec<Option<ObjectId>> = tracking
            .iter()
            .map(|t| {
                prepared
                    .ref_map()
                    .mappings
                    .iter()
                    .find(|m| m.local.as_ref().is_some_and(|l| *l == t.as_str()))
                    .and_then(|m| m.remote.as_id())
                    .map(ToOwned::to_owned)
            })
            .collect();
        if heads.iter().all(Option::is_none) {
            // None of them exists (a new, empty repository): nothing to fetch.
            return Ok(heads);
        }
        let interrupt = std::sync::atomic::AtomicBool::new(false);
        prepared
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fail(&e))?;
        Ok(heads)
    }

    /// Checks that the remote can be read with these credentials (`git ls-remote`), without
    /// fetching anything: what a GitConnection reports before any sync runs.
    pub fn check(&self, scratch: &Path) -> Result<(), RemoteError> {
        self.ls_remote(scratch, "ls-remote")
    }

    /// `git ls-remote` of the branch; a refusal is classified as part of `operation`.
    fn ls_remote(&self, dir: &Path, operation: &'static str) -> Result<(), RemoteError> {
        let (url, auth) = self.transport();
        let branch = format!("refs/heads/{}", self.branch);
        let out = self.git(dir, &auth, &["ls-remote", "--heads", &url, &branch])?;
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
        let (url, auth) = self.transport();
        let destination = format!("refs/heads/{}", self.branch);
        let refspec = format!("{commit}:{destination}");
        let out = self.git(
            cache.path(),
            &auth,
            &["push", "--porcelain", "--quiet", &url, &refspec],
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(PushOutcome::Pushed);
        }
        // `--quiet` prints the status lines of refs that were not updated only.
        match porcelain_status(&stdout, &destination) {
            Some(Status::Updated) => Ok(PushOutcome::Pushed),
            Some(Status::Rejected(reason)) if moved(reason) => Ok(PushOutcome::RemoteMoved),
            Some(Status::RemoteRejected(reason)) if moved(reason) || lost_lock_race(&stderr) => {
                Ok(PushOutcome::RemoteMoved)
            }
            Some(Status::RemoteRejected(reason)) => {
                Err(self.refused(&format!("{stderr}\n[remote rejected] ({reason})")))
            }
            Some(Status::Rejected(reason)) => {
                Err(self.classify("push", &format!("{stderr}\n[rejected] ({reason})")))
            }
            None => Err(self.classify("push", &format!("{stderr}{stdout}"))),
        }
    }

    /// A push the server turned down (`[remote rejected]`), for a reason other than a race.
    fn refused(&self, output: &str) -> RemoteError {
        let lower = output.to_lowercase();
        let detail = self.summary(output);
        if lower.contains("protected branch") || lower.contains("gh006") {
            RemoteError::BranchProtection {
                url: self.shown_url(),
                branch: self.branch.clone(),
                detail,
            }
        } else if permission_denied(&lower) {
            RemoteError::NoWriteAccess {
                url: self.shown_url(),
                branch: self.branch.clone(),
            }
        } else {
            RemoteError::Refused {
                url: self.shown_url(),
                branch: self.branch.clone(),
                detail,
            }
        }
    }

    /// Why a fetch failed. gix reports transport failures tersely ("failed to fill whole
    /// buffer" when ssh gave up, "no credentials" for any refusal), so the `git` program is asked
    /// the same question with the same credentials (`git ls-remote`), and what the server or ssh
    /// told it is classified. If `git` succeeds, the failure was gix's own and is reported as
    /// `Err(Git)` with gix's words.
    fn diagnose(&self, cache: &Path, gix_error: &str) -> Result<(), RemoteError> {
        let gix_failed = || RemoteError::Git {
            url: self.shown_url(),
            operation: "fetch",
            detail: self.scrub(gix_error),
        };
        match self.ls_remote(cache, "fetch") {
            // `git` succeeded, or could not be run: gix's own error is the one to report.
            Ok(()) | Err(RemoteError::NoGit { .. }) => Err(gix_failed()),
            Err(refused) => Err(refused),
        }
    }

    /// git's whole message, one line per line it printed (without porcelain framing), scrubbed.
    fn summary(&self, output: &str) -> String {
        let lines: Vec<&str> = output
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "Done" && !l.starts_with("To "))
            .collect();
        self.scrub(&lines.join("; "))
    }

    fn classify(&self, operation: &'static str, output: &str) -> RemoteError {
        let url = self.shown_url();
        let lower = output.to_lowercase();
        let detail = self.summary(output);
        let reading = operation != "push";
        if lower.contains("host key verification failed") || lower.contains("no matching host key")
        {
            RemoteError::HostKey { url }
        } else if lower.contains("protected branch") || lower.contains("gh006") {
            RemoteError::BranchProtection {
                url,
                branch: self.branch.clone(),
                detail,
            }
        } else if lower.contains("repository not found")
            || lower.contains("does not appear to be a git repository")
            || lower.contains("returned error: 404")
            // Forges answer 403 for a repository the identity cannot see; only a push's 403
            // is about writing.
            || reading && lower.contains("returned error: 403")
        {
            RemoteError::NotFound { url }
        } else if !reading && permission_denied(&lower) {
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
        } else if lower.contains("not found") {
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

/// Whether git's (lowercased) output says the identity may not write.
fn permission_denied(lower: &str) -> bool {
    lower.contains("permission to") && lower.contains("denied")
        || lower.contains("write access")
        || lower.contains("the requested url returned error: 403")
}

/// The status of one ref in `git push --porcelain` output.
#[derive(Debug, PartialEq, Eq)]
enum Status<'a> {
    /// Flags ` ` (fast-forward), `*` (new), `+` (forced), `=` (up to date), `-` (deleted).
    Updated,
    /// `!` with `[rejected] (reason)`: refused by git itself (not a fast-forward).
    Rejected(&'a str),
    /// `!` with `[remote rejected] (reason)`: refused by the server (a hook, a lost race).
    RemoteRejected(&'a str),
}

/// The status line of `destination` in `git push --porcelain` output:
/// `<flag>\t<from>:<to>\t<summary> (<reason>)`.
fn porcelain_status<'a>(stdout: &'a str, destination: &str) -> Option<Status<'a>> {
    stdout.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        let flag = fields.next()?;
        let (_, to) = fields.next()?.split_once(':')?;
        if to != destination {
            return None;
        }
        let summary = fields.next().unwrap_or("");
        let reason = summary
            .split_once('(')
            .map_or("", |(_, r)| r.trim_end().trim_end_matches(')'));
        match flag {
            "!" if summary.starts_with("[remote rejected]") => Some(Status::RemoteRejected(reason)),
            "!" => Some(Status::Rejected(reason)),
            " " | "*" | "+" | "=" | "-" => Some(Status::Updated),
            _ => None,
        }
    })
}

/// Whether a rejection's reason says that the branch moved since it was fetched.
fn moved(reason: &str) -> bool {
    [
        "non-fast-forward",
        "fetch first",
        "stale info",
        "already exists",
        "cannot lock ref",
        "incorrect old value",
    ]
    .iter()
    .any(|r| reason.contains(r))
}

/// Whether the server failed to update the ref because another push took it meanwhile
/// ("cannot lock ref 'refs/heads/main': is at X but expected Y", or "reference already exists"
/// for two first pushes): `[remote rejected] (failed to update ref)` with git's reason in the
/// server's messages.
fn lost_lock_race(stderr: &str) -> bool {
    stderr.contains("cannot lock ref")
        && (stderr.contains("but expected") || stderr.contains("already exists"))
        || stderr.contains("reference already exists")
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

    #[test]
    fn porcelain_lines_are_read_by_flag() {
        let dst = "refs/heads/main";
        let out = "To file:///r.git\n!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n";
        assert_eq!(
            porcelain_status(out, dst),
            Some(Status::RemoteRejected("pre-receive hook declined"))
        );
        let out = "To x\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        assert_eq!(
            porcelain_status(out, dst),
            Some(Status::Rejected("fetch first"))
        );
        let out = "To x\n*\tabc:refs/heads/main\t[new branch]\nDone\n";
        assert_eq!(porcelain_status(out, dst), Some(Status::Updated));
        let out = "To x\n \tabc:refs/heads/other\t1..2\nDone\n";
        assert_eq!(porcelain_status(out, dst), None);
    }

    #[test]
    fn a_403_on_a_fetch_is_not_found_and_on_a_push_no_write_access() {
        let remote = Remote {
            url: "https://github.com/acme/private.git".into(),
            branch: "main".into(),
            auth: Auth::None,
        };
        // What git prints for GitHub's answer to a token that cannot see the repository.
        let said = "remote: Repository not found.\nfatal: unable to access 'https://github.com/acme/private.git/': The requested URL returned error: 403\n";
        assert_eq!(
            remote.classify("fetch", said).reason(),
            "RepositoryNotFound"
        );
        let said = "remote: Permission to acme/private.git denied to bot.\nfatal: unable to access 'https://github.com/acme/private.git/': The requested URL returned error: 403\n";
        assert_eq!(remote.classify("push", said).reason(), "NoWriteAccess");
    }

    #[test]
    fn git_runs_in_english_without_host_configuration() {
        let remote = Remote {
            url: "https://host/x.git".into(),
            branch: "main".into(),
            auth: Auth::Bearer("tok".into()),
        };
        let env = remote.env(&remote.auth);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("LC_MESSAGES"), Some("C"));
        assert_eq!(get("GIT_CONFIG_NOSYSTEM"), Some("1"));
        assert_eq!(get("GIT_CONFIG_GLOBAL"), Some("/dev/null"));
        for removed in ["LC_ALL", "LANGUAGE", "GIT_DIR", "GIT_CONFIG_PARAMETERS"] {
            assert!(INHERITED_GIT_VARIABLES.contains(&removed), "{removed}");
        }
    }

    #[test]
    fn url_credentials_are_sent_as_a_header_and_never_shown() {
        let remote = Remote {
            url: "https://user:Sekr1t@host.example/x.git".into(),
            branch: "main".into(),
            auth: Auth::None,
        };
        let (url, auth) = remote.transport();
        assert_eq!(url, "https://host.example/x.git");
        assert!(
            matches!(&auth, Auth::Basic { username, password } if username == "user" && password == "Sekr1t")
        );
        assert_eq!(remote.shown_url(), "https://host.example/x.git");
        assert!(!format!("{remote:?}").contains("Sekr1t"));
        let e = remote.classify(
            "fetch",
            "fatal: unable to access 'https://user:Sekr1t@host.example/x.git/': boom\n",
        );
        assert!(!e.to_string().contains("Sekr1t"), "{e}");
    }
}
