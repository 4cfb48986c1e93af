//! The local forge: a stateful stand-in for GitHub, for the tests and the demo. A real HTTP
//! server for the part of GitHub's REST API that gitsync uses, under GitHub Enterprise's base
//! path `/api/v3`, with responses shaped by the schemas of GitHub's official OpenAPI description
//! (its own examples are the templates, `templates.json`), and every repository a real bare Git
//! repository on disk: opening a pull request writes `refs/pull/N/head` into it and merging one
//! makes a real merge commit on its base branch, as GitHub does.
//!
//! What it owns: users and their tokens, one GitHub App (JWTs checked RS256 against the App's
//! public key, installation tokens minted and expired), pull requests, conversation comments,
//! reactions, commit statuses, faults injected into the next requests (rate limits, a 502), and
//! webhook deliveries signed as GitHub signs them. The control API ([`LocalForge`]'s methods) is
//! Rust, not HTTP: what a person would do on github.com (open a pull request, push, comment) and
//! what a test asserts on (what was posted).
//!
//! It must never be written from gitsync's GitHub client ([`crate::forge::github`]): both follow
//! the published description, and the tests check this server's every answer against it, so a
//! shared mistake cannot pass. It holds no secret of anyone's: its keys and tokens are the test's.
//!
//! - `server`: the routes, authentication, faults and GitHub's error answers.
//! - `render`: the JSON of every object, from the description's examples.
//! - `git`: the `git` program on the bare repositories (refs, merges, counts).
//! - [`git_http`]: the repositories over Git's smart HTTP, with the API's tokens (and the
//!   `git http-backend` bridge the tests' own Git server uses too).
//! - `hooks`: webhook deliveries.

mod git;
pub mod git_http;
mod hooks;
mod render;
mod server;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use hooks::Delivery;

/// What a user may do in a repository: GitHub's roles. The collaborator-permission endpoint
/// answers the legacy `permission` (`maintain` as `write`, `triage` as `read`) and the
/// `role_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Role {
    /// The legacy base role, as `permission` says it.
    pub fn permission(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Read | Role::Triage => "read",
            Role::Write | Role::Maintain => "write",
            Role::Admin => "admin",
        }
    }

    /// The role's name, as `role_name` says it.
    pub fn role_name(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Read => "read",
            Role::Triage => "triage",
            Role::Write => "write",
            Role::Maintain => "maintain",
            Role::Admin => "admin",
        }
    }

    fn may_push(self) -> bool {
        self >= Role::Write
    }
}

/// The GitHub App the forge knows: JWTs must be signed with the private key whose public half
/// is here, and name the App (`iss`: its id, or its client id) .
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub id: u64,
    /// The App's slug; its bot acts as `<slug>[bot]`.
    pub slug: String,
    pub client_id: String,
    /// The App's public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// The id of its one installation, which covers every repository of the forge.
    pub installation_id: u64,
}

/// Settings of a local forge.
#[derive(Debug, Clone)]
pub struct LocalForgeConfig {
    pub app: Option<AppConfig>,
    /// How long a minted installation token lives: an hour, as GitHub's.
    pub token_lifetime: Duration,
    /// When set, [`LocalForge::serve`] also looks this often for pushes to the head branches
    /// of open pull requests ([`LocalForge::sync_pushes`]), as GitHub notices a push by itself:
    /// for the demo, where a person pushes with `git`. Tests leave it off and call
    /// [`LocalForge::note_push`].
    pub watch_pushes: Option<Duration>,
}

impl Default for LocalForgeConfig {
    fn default() -> Self {
        LocalForgeConfig {
            app: None,
            token_lifetime: Duration::from_secs(3600),
            watch_pushes: None,
        }
    }
}

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalForgeError {
    #[error("the local forge has no repository `{0}`; add it with LocalForge::add_repository")]
    UnknownRepository(String),
    #[error("{repo} has no pull request #{number}")]
    UnknownPull { repo: String, number: u64 },
    #[error("{repo} has no comment {id}")]
    UnknownComment { repo: String, id: u64 },
    #[error("the local forge has no user `{0}`; add it with LocalForge::add_user")]
    UnknownUser(String),
    #[error("{repo}: the bare repository has no branch `{branch}`; push it first")]
    NoBranch { repo: String, branch: String },
    #[error("{0} is already a repository of the local forge")]
    DuplicateRepository(String),
    #[error("git {args} in {path}: {message}")]
    Git {
        path: PathBuf,
        args: String,
        message: String,
    },
    #[error("the local forge: {0}")]
    Io(#[from] std::io::Error),
}

impl LocalForgeError {
    /// A short CamelCase reason.
    pub fn reason(&self) -> &'static str {
        match self {
            LocalForgeError::UnknownRepository(_) => "UnknownRepository",
            LocalForgeError::UnknownPull { .. } => "UnknownPull",
            LocalForgeError::UnknownComment { .. } => "UnknownComment",
            LocalForgeError::UnknownUser(_) => "UnknownUser",
            LocalForgeError::NoBranch { .. } => "NoBranch",
            LocalForgeError::DuplicateRepository(_) => "DuplicateRepository",
            LocalForgeError::Git { .. } => "GitFailed",
            LocalForgeError::Io(_) => "Io",
        }
    }
}

/// A pull request to open: from `head` (a branch of the bare repository) into `base`.
#[derive(Debug, Clone)]
pub struct NewPull {
    pub author: String,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: Option<String>,
    pub draft: bool,
}

/// A fault the next requests to `/api/v3` get, before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After`, `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset`.
    TooManyRequests { retry_after: Duration },
    /// GitHub's primary rate limit: 403 with `X-RateLimit-Remaining: 0`, `X-RateLimit-Reset`
    /// and `Retry-After`.
    RateLimited { retry_after: Duration },
    /// 502 Bad Gateway, as GitHub's front end answers when a backend is slow.
    BadGateway,
}

/// A comment as the forge stores it, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedComment {
    pub id: u64,
    pub number: u64,
    pub author: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A reaction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedReaction {
    pub id: u64,
    pub comment_id: u64,
    pub user: String,
    pub content: String,
}

/// A commit status as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedStatus {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: String,
}

/// A pull request's state, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSnapshot {
    pub number: u64,
    pub state: String,
    pub merged: bool,
    pub head_sha: String,
    pub merge_commit_sha: Option<String>,
    pub merged_by: Option<String>,
}

/// A forge user.
#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub login: String,
    pub id: u64,
    pub role: Role,
    pub bot: bool,
}

/// How a pull request's mergeability is decided.
#[derive(Debug, Clone)]
pub(crate) enum Mergeable {
    /// As GitHub: unknown (`null`) until read once after a push, then computed with a real
    /// `git merge-tree`: `true`/`clean`, or `false`/`dirty` on conflicts.
    Computed(Option<(bool, String)>),
    /// Set by a test.
    Set(Option<bool>, String),
}

#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub author: String,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    /// The owner of the fork it comes from.
    pub fork_owner: Option<String>,
    pub open: bool,
    pub draft: bool,
    pub merged: bool,
    pub merged_by: Option<String>,
    pub merged_at: Option<String>,
    pub merge_commit_sha: Option<String>,
    pub closed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub mergeable: Mergeable,
    pub commits: u64,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    pub id: u64,
    pub user: String,
    pub content: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct CommentRec {
    pub id: u64,
    pub number: u64,
    pub author: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
    pub reactions: Vec<Reaction>,
}

#[derive(Debug, Clone)]
pub(crate) struct StatusRec {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub path: PathBuf,
    pub default_branch: String,
    pub created_at: String,
    pub pulls: BTreeMap<u64, Pull>,
    pub comments: BTreeMap<u64, CommentRec>,
    pub statuses: Vec<StatusRec>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// A minted installation token.
#[derive(Debug, Clone)]
pub(crate) struct InstallationToken {
    pub expires_at: jiff::Timestamp,
}

#[derive(Debug)]
pub(crate) struct State {
    pub config: LocalForgeConfig,
    /// `http://HOST:PORT`, once serving: the web root; the API is under `/api/v3`.
    pub root: String,
    pub users: BTreeMap<String, UserRec>,
    /// Personal tokens: token -> login.
    pub tokens: HashMap<String, String>,
    pub installation_tokens: HashMap<String, InstallationToken>,
    pub repos: BTreeMap<String, Repo>,
    pub next_id: u64,
    pub faults: VecDeque<Fault>,
    pub hooks: Vec<(String, String)>,
}

impl State {
    pub fn api(&self) -> String {
        format!("{}/api/v3", self.root)
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn bot_login(&self) -> Option<String> {
        self.config.app.as_ref().map(|a| format!("{}[bot]", a.slug))
    }

    pub fn repo(&self, full_name: &str) -> Result<&Repo, LocalForgeError> {
        self.repos
            .get(full_name)
            .ok_or_else(|| LocalForgeError::UnknownRepository(full_name.into()))
    }

    pub fn repo_mut(&mut self, full_name: &str) -> Result<&mut Repo, LocalForgeError> {
        self.repos
            .get_mut(full_name)
            .ok_or_else(|| LocalForgeError::UnknownRepository(full_name.into()))
    }

    pub fn pull_mut(&mut self, full_name: &str, number: u64) -> Result<&mut Pull, LocalForgeError> {
        self.repo_mut(full_name)?
            .pulls
            .get_mut(&number)
            .ok_or_else(|| LocalForgeError::UnknownPull {
                repo: full_name.into(),
                number,
            })
    }
}

/// Now, to the second, in GitHub's form (`2026-12-06T06:30:00Z`).
pub(crate) fn now() -> String {
    timestamp(jiff::Timestamp::now())
}

pub(crate) fn timestamp(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// The local forge: its state, shared by the server and the control API. Cheap to clone.
#[derive(Clone)]
pub struct LocalForge {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) deliveries: Arc<Mutex<Vec<Delivery>>>,
    pub(crate) runtime: Arc<Mutex<Option<tokio::runtime::Handle>>>,
}

impl std::fmt::Debug for LocalForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalForge")
            .field("root", &self.lock().root)
            .finish_non_exhaustive()
    }
}

/// A running local forge: serves until dropped or stopped.
pub struct Running {
    server: crate::serve::Served,
    pub addr: SocketAddr,
    /// Stops the push watcher when dropped.
    _watch: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// The web root, `http://127.0.0.1:PORT`: pages, and the repositories' `clone_url`s
    /// (`{url}/{owner}/{repo}.git`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The API's base URL, `http://127.0.0.1:PORT/api/v3`: what a GitHub Enterprise client
    /// is given.
    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.server.url())
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

impl LocalForge {
    pub fn new(config: LocalForgeConfig) -> LocalForge {
        let mut users = BTreeMap::new();
        if let Some(app) = &config.app {
            let login = format!("{}[bot]", app.slug);
            users.insert(
                login.clone(),
                UserRec {
                    login,
                    id: 100_000_000 + app.id,
                    role: Role::Write,
                    bot: true,
                },
            );
        }
        LocalForge {
            state: Arc::new(Mutex::new(State {
                config,
                root: "http://localhost".into(),
                users,
                tokens: HashMap::new(),
                installation_tokens: HashMap::new(),
                repos: BTreeMap::new(),
                next_id: 1000,
                faults: VecDeque::new(),
                hooks: Vec::new(),
            })),
            deliveries: Arc::default(),
            runtime: Arc::default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The routes, for a caller that serves them itself (behind its own layers). Call
    /// [`LocalForge::set_root`] with the address they are served at.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }

    /// Where the forge is served (`http://127.0.0.1:PORT`): the URLs in its answers and
    /// webhooks start with it. Also remembers the current Tokio runtime, on which webhook
    /// deliveries are sent.
    pub fn set_root(&self, root: &str) {
        self.lock().root = root.trim_end_matches('/').to_owned();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            *self.runtime.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
    }

    /// Serves on `listen` (port 0: any free port) in the current runtime.
    pub async fn serve(&self, listen: SocketAddr) -> std::io::Result<Running> {
        self.serve_with(listen, |r| r).await
    }

    /// Serves the routes wrapped by `wrap` (a recording layer, in the tests).
    pub async fn serve_with(
        &self,
        listen: SocketAddr,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        self.set_root(&format!("http://{addr}"));
        let app = wrap(self.router());
        // Dropping (or sending on) `watch` with the Running stops the watcher.
        let (watch, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let every = self.lock().config.watch_pushes;
        if let Some(every) = every {
            let forge = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = &mut stopped => return,
                    }
                    if let Err(e) = forge.sync_pushes() {
                        tracing::warn!("local forge: looking for pushes: {e}");
                    }
                }
            });
        }
        Ok(Running {
            server: crate::serve::Served::spawn(listener, app, "local forge"),
            addr,
            _watch: watch,
        })
    }

    /// Adds a user with a role in every repository of the forge. The repositories' owners are
    /// users too (add them, with [`Role::Admin`]).
    pub fn add_user(&self, login: &str, id: u64, role: Role) {
        self.lock().users.insert(
            login.to_owned(),
            UserRec {
                login: login.to_owned(),
                id,
                role,
                bot: false,
            },
        );
    }

    /// Gives `login` a personal access token: requests with `Authorization: Bearer <token>` act
    /// as that user.
    pub fn add_token(&self, token: &str, login: &str) -> Result<(), LocalForgeError> {
        let mut state = self.lock();
        if !state.users.contains_key(login) {
            return Err(LocalForgeError::UnknownUser(login.into()));
        }
        state.tokens.insert(token.to_owned(), login.to_owned());
        Ok(())
    }

    /// Adds `owner/name`, served from the bare repository at `path`.
    pub fn add_repository(
        &self,
        owner: &str,
        name: &str,
        path: &Path,
        default_branch: &str,
    ) -> Result<(), LocalForgeError> {
        let mut state = self.lock();
        let full_name = format!("{owner}/{name}");
        if state.repos.contains_key(&full_name) {
            return Err(LocalForgeError::DuplicateRepository(full_name));
        }
        let id = state.fresh_id();
        state.repos.insert(
            full_name,
            Repo {
                id,
                owner: owner.to_owned(),
                name: name.to_owned(),
                path: path.to_owned(),
                default_branch: default_branch.to_owned(),
                created_at: now(),
                pulls: BTreeMap::new(),
                comments: BTreeMap::new(),
                statuses: Vec::new(),
            },
        );
        Ok(())
    }

    /// Opens a pull request in `repo` (`owner/name`) and writes `refs/pull/N/head`; returns
    /// its number. Delivers `pull_request` `opened`.
    pub fn open_pull(&self, repo: &str, new: NewPull) -> Result<u64, LocalForgeError> {
        let path = self.lock().repo(repo)?.path.clone();
        if !self.lock().users.contains_key(&new.author) {
            return Err(LocalForgeError::UnknownUser(new.author));
        }
        let head_sha = git::branch_tip(&path, &new.head)?.ok_or(LocalForgeError::NoBranch {
            repo: repo.into(),
            branch: new.head.clone(),
        })?;
        let base_sha = git::branch_tip(&path, &new.base)?.ok_or(LocalForgeError::NoBranch {
            repo: repo.into(),
            branch: new.base.clone(),
        })?;
        let counts = git::counts(&path, &base_sha, &head_sha)?;
        let number = {
            let mut state = self.lock();
            let id = state.fresh_id();
            let repo_rec = state.repo_mut(repo)?;
            // Pull requests and issues share numbers; this forge has only pull requests.
            let number = repo_rec.pulls.keys().next_back().map_or(1, |n| n + 1);
            let created = now();
            repo_rec.pulls.insert(
                number,
                Pull {
                    number,
                    id,
                    title: new.title,
                    body: new.body,
                    author: new.author.clone(),
                    head_ref: new.head,
                    head_sha: head_sha.clone(),
                    base_ref: new.base,
                    base_sha,
                    fork_owner: None,
                    open: true,
                    draft: new.draft,
                    merged: false,
                    merged_by: None,
                    merged_at: None,
                    merge_commit_sha: None,
                    closed_at: None,
                    created_at: created.clone(),
                    updated_at: created,
                    mergeable: Mergeable::Computed(None),
                    commits: counts.commits,
                    additions: counts.additions,
                    deletions: counts.deletions,
                    changed_files: counts.changed_files,
                },
            );
            number
        };
        git::update_ref(&path, &format!("refs/pull/{number}/head"), &head_sha)?;
        self.deliver_pull(repo, number, "opened", &new.author, None)?;
        Ok(number)
    }

    /// Notes a push to the pull request's head branch: reads the branch again, moves
    /// `refs/pull/N/head`, and makes mergeability unknown again. Delivers `synchronize` when
    /// the head moved. Returns the new head.
    pub fn note_push(&self, repo: &str, number: u64) -> Result<String, LocalForgeError> {
        let (path, head_ref, base_ref, before, author) = {
            let mut state = self.lock();
            let path = state.repo(repo)?.path.clone();
            let pull = state.pull_mut(repo, number)?;
            (
                path,
                pull.head_ref.clone(),
                pull.base_ref.clone(),
                pull.head_sha.clone(),
                pull.author.clone(),
            )
        };
        let after = git::branch_tip(&path, &head_ref)?.ok_or(LocalForgeError::NoBranch {
            repo: repo.into(),
            branch: head_ref.clone(),
        })?;
        let base_sha = git::branch_tip(&path, &base_ref)?.ok_or(LocalForgeError::NoBranch {
            repo: repo.into(),
            branch: base_ref.clone(),
        })?;
        let counts = git::counts(&path, &base_sha, &after)?;
        git::update_ref(&path, &format!("refs/pull/{number}/head"), &after)?;
        {
            let mut state = self.lock();
            let pull = state.pull_mut(repo, number)?;
            pull.head_sha = after.clone();
            pull.base_sha = base_sha;
            pull.commits = counts.commits;
            pull.additions = counts.additions;
            pull.deletions = counts.deletions;
            pull.changed_files = counts.changed_files;
            pull.updated_at = now();
            if let Mergeable::Computed(_) = pull.mergeable {
                pull.mergeable = Mergeable::Computed(None);
            }
        }
        if after != before {
            self.deliver_pull(
                repo,
                number,
                "synchronize",
                &author,
                Some((&before, &after)),
            )?;
        }
        Ok(after)
    }

    /// Notes every push to the head branch of an open pull request since the last look (what
    /// [`LocalForge::note_push`] does, for each one whose branch moved); returns them.
    pub fn sync_pushes(&self) -> Result<Vec<(String, u64)>, LocalForgeError> {
        let open: Vec<(String, PathBuf, u64, String, String)> = {
            let state = self.lock();
            state
                .repos
                .iter()
                .flat_map(|(name, repo)| {
                    repo.pulls.values().filter(|p| p.open).map(|p| {
                        (
                            name.clone(),
                            repo.path.clone(),
                            p.number,
                            p.head_ref.clone(),
                            p.head_sha.clone(),
                        )
                    })
                })
                .collect()
        };
        let mut moved = Vec::new();
        for (name, path, number, head_ref, head_sha) in open {
            if git::branch_tip(&path, &head_ref)?.is_some_and(|tip| tip != head_sha) {
                self.note_push(&name, number)?;
                moved.push((name, number));
            }
        }
        Ok(moved)
    }

    /// Closes a pull request without merging it. Delivers `closed`.
    pub fn close_pull(&self, repo: &str, number: u64, by: &str) -> Result<(), LocalForgeError> {
        {
            let mut state = self.lock();
            let pull = state.pull_mut(repo, number)?;
            pull.open = false;
            pull.closed_at = Some(now());
            pull.updated_at = now();
        }
        self.deliver_pull(repo, number, "closed", by, None)
    }

    /// Fixes what the pull request's mergeability reads as (`mergeable`, `mergeable_state`:
    /// `clean`, `dirty`, `blocked`, `unstable`, ...), until [`LocalForge::compute_mergeable`].
    /// A merge is refused (405) when `mergeable` is `Some(false)` or the state is `dirty` or
    /// `blocked`.
    pub fn set_mergeable(
        &self,
        repo: &str,
        number: u64,
        mergeable: Option<bool>,
        state: &str,
    ) -> Result<(), LocalForgeError> {
        self.lock().pull_mut(repo, number)?.mergeable = Mergeable::Set(mergeable, state.into());
        Ok(())
    }

    /// Goes back to GitHub's behaviour: `null` on the next read, then computed.
    pub fn compute_mergeable(&self, repo: &str, number: u64) -> Result<(), LocalForgeError> {
        self.lock().pull_mut(repo, number)?.mergeable = Mergeable::Computed(None);
        Ok(())
    }

    /// Makes the pull request come from `fork_owner`'s fork of the repository.
    pub fn set_from_fork(
        &self,
        repo: &str,
        number: u64,
        fork_owner: &str,
    ) -> Result<(), LocalForgeError> {
        self.lock().pull_mut(repo, number)?.fork_owner = Some(fork_owner.into());
        Ok(())
    }

    /// Posts a comment as `login` on pull request `number`, as a person on github.com would;
    /// returns its id. Delivers `issue_comment` `created`.
    pub fn post_comment(
        &self,
        repo: &str,
        number: u64,
        login: &str,
        body: &str,
    ) -> Result<u64, LocalForgeError> {
        let id = {
            let mut state = self.lock();
            if !state.users.contains_key(login) {
                return Err(LocalForgeError::UnknownUser(login.into()));
            }
            state.pull_mut(repo, number)?;
            let id = state.fresh_id();
            let created = now();
            state.repo_mut(repo)?.comments.insert(
                id,
                CommentRec {
                    id,
                    number,
                    author: login.into(),
                    body: body.into(),
                    created_at: created.clone(),
                    updated_at: created,
                    reactions: Vec::new(),
                },
            );
            id
        };
        self.deliver_comment(repo, id, "created", login, None)?;
        Ok(id)
    }

    /// Edits a comment as its author would (`updated_at` moves on; GitHub's times are to the
    /// second, so the edit is dated at least a second after the comment). Delivers `edited`.
    pub fn edit_comment(&self, repo: &str, id: u64, body: &str) -> Result<(), LocalForgeError> {
        let (author, from) = {
            let mut state = self.lock();
            let comment = state.repo_mut(repo)?.comments.get_mut(&id).ok_or_else(|| {
                LocalForgeError::UnknownComment {
                    repo: repo.into(),
                    id,
                }
            })?;
            let from = std::mem::replace(&mut comment.body, body.into());
            comment.updated_at = later_than(&comment.created_at);
            (comment.author.clone(), from)
        };
        self.deliver_comment(repo, id, "edited", &author, Some(&from))
    }

    /// Every comment of pull request `number`, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Result<Vec<PostedComment>, LocalForgeError> {
        let state = self.lock();
        Ok(state
            .repo(repo)?
            .comments
            .values()
            .filter(|c| c.number == number)
            .map(|c| PostedComment {
                id: c.id,
                number: c.number,
                author: c.author.clone(),
                body: c.body.clone(),
                created_at: c.created_at.clone(),
                updated_at: c.updated_at.clone(),
            })
            .collect())
    }

    /// The reactions on a comment, oldest first.
    pub fn reactions(
        &self,
        repo: &str,
        comment_id: u64,
    ) -> Result<Vec<PostedReaction>, LocalForgeError> {
        let state = self.lock();
        let comment = state.repo(repo)?.comments.get(&comment_id).ok_or_else(|| {
            LocalForgeError::UnknownComment {
                repo: repo.into(),
                id: comment_id,
            }
        })?;
        Ok(comment
            .reactions
            .iter()
            .map(|r| PostedReaction {
                id: r.id,
                comment_id,
                user: r.user.clone(),
                content: r.content.clone(),
            })
            .collect())
    }

    /// Every status posted in `repo`, oldest first.
    pub fn statuses(&self, repo: &str) -> Result<Vec<PostedStatus>, LocalForgeError> {
        let state = self.lock();
        Ok(state
            .repo(repo)?
            .statuses
            .iter()
            .map(|s| PostedStatus {
                id: s.id,
                sha: s.sha.clone(),
                state: s.state.clone(),
                context: s.context.clone(),
                description: s.description.clone(),
                target_url: s.target_url.clone(),
                creator: s.creator.clone(),
            })
            .collect())
    }

    /// A pull request's state.
    pub fn pull(&self, repo: &str, number: u64) -> Result<PullSnapshot, LocalForgeError> {
        let mut state = self.lock();
        let pull = state.pull_mut(repo, number)?;
        Ok(PullSnapshot {
            number,
            state: if pull.open { "open" } else { "closed" }.into(),
            merged: pull.merged,
            head_sha: pull.head_sha.clone(),
            merge_commit_sha: pull.merge_commit_sha.clone(),
            merged_by: pull.merged_by.clone(),
        })
    }

    /// The next `count` API requests get `fault` (before authentication; nothing changes).
    pub fn inject(&self, fault: Fault, count: usize) {
        let mut state = self.lock();
        for _ in 0..count {
            state.faults.push_back(fault);
        }
    }

    /// Makes every installation token minted so far expired: the next request with one gets
    /// 401 `Bad credentials`, as GitHub answers an expired token.
    pub fn expire_installation_tokens(&self) {
        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        for token in self.lock().installation_tokens.values_mut() {
            token.expires_at = past;
        }
    }

    /// Adds a webhook: every event is delivered to `url`, signed with `secret`.
    pub fn add_hook(&self, url: &str, secret: &str) {
        self.lock().hooks.push((url.into(), secret.into()));
    }

    /// Every delivery so far, oldest first (one per hook per event), with how it went.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `count` deliveries have finished (answered or failed), at most `timeout`;
    /// returns them all.
    pub async fn wait_for_deliveries(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let all = self.deliveries();
            let done = all.iter().filter(|d| d.finished()).count();
            if done >= count || tokio::time::Instant::now() >= deadline {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A time a second later than `t` or now, whichever is later (an edit is never dated with its
/// comment's second).
fn later_than(t: &str) -> String {
    let now = jiff::Timestamp::now();
    match t.parse::<jiff::Timestamp>() {
        Ok(before) if before.as_second() >= now.as_second() => {
            timestamp(before + jiff::SignedDuration::from_secs(1))
        }
        _ => timestamp(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The collaborator-permission endpoint's legacy mapping: `maintain` reads as `write`,
    /// `triage` as `read`.
    #[test]
    fn roles_map_to_githubs_legacy_permissions() {
        let cases = [
            (Role::Admin, "admin", "admin"),
            (Role::Maintain, "write", "maintain"),
            (Role::Write, "write", "write"),
            (Role::Triage, "read", "triage"),
            (Role::Read, "read", "read"),
            (Role::None, "none", "none"),
        ];
        for (role, permission, name) in cases {
            assert_eq!((role.permission(), role.role_name()), (permission, name));
        }
    }

    #[test]
    fn an_edit_is_dated_after_its_comment() {
        let now = jiff::Timestamp::now();
        let same_second = timestamp(now);
        let edited: jiff::Timestamp = later_than(&same_second).parse().unwrap_or(now);
        assert!(edited.as_second() > now.as_second());
        let long_ago = "2020-01-01T00:00:00Z";
        let edited: jiff::Timestamp = later_than(long_ago).parse().unwrap_or(now);
        assert!(edited.as_second() >= now.as_second());
    }
}
