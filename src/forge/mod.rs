//! Git hosts' review APIs ("forges"): GitHub and GitLab pull requests, their comments,
//! reactions, commit statuses, permissions and merges, behind one [`Forge`] trait.
//!
//! This is the second external API beside [`crate::workspace`], and it is kept as plain: a forge
//! only fetches and posts. It must never import `kube`, [`crate::operator`] or [`crate::sync`]:
//! what a plan says, whether a comment is a command and whether an apply may run are decided by
//! the pull-request workflow ([`crate::pulls`]); the forge posts the strings it is given. So a
//! command-line `gitsync plan --comment` could drive it without a cluster.
//!
//! - [`github`]: github.com and GitHub Enterprise (`https://HOST/api/v3`), with a token or a
//!   GitHub App (a JWT signed RS256, then installation tokens, refreshed before they expire).
//! - [`gitlab`]: gitlab.com and self-hosted GitLab (`https://HOST/api/v4`), with a token.
//! - [`webhook`]: pure functions that check a delivery (GitHub's `X-Hub-Signature-256`, GitLab's
//!   `X-Gitlab-Token`, both compared in constant time) and read what it is about.
//! - [`any`]: [`any::AnyForge`], the forge of one repository whichever it is, built from a
//!   [`any::ForgeSpec`];
//! - [`command`]: a pure parser that says whether a comment is the apply command.
//!
//! All requests go through [`crate::http`], the transport shared with the workspace client:
//! retries with jitter, the server's rate-limit hints, and no blind repeat of a `POST`.

pub mod any;
pub mod command;
pub mod github;
pub mod gitlab;
#[cfg(feature = "embedded-workspace")]
pub mod local;
pub mod webhook;

use std::future::Future;

/// Which kind of forge, for messages, metrics labels and webhook paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForgeKind {
    GitHub,
    GitLab,
}

impl ForgeKind {
    /// `github` or `gitlab`: the metrics label and the webhook path (`/hooks/github`).
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
        }
    }

    /// How the forge calls a pull request, for messages: "pull request" or "merge request".
    pub fn pull_noun(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "pull request",
            ForgeKind::GitLab => "merge request",
        }
    }

    /// The most characters one comment may hold (GitHub 65,536; GitLab 1,000,000), less a
    /// margin for what the workflow adds around a part.
    pub fn comment_limit(self) -> usize {
        match self {
            ForgeKind::GitHub => 65_536 - 512,
            ForgeKind::GitLab => 1_000_000 - 512,
        }
    }
}

impl std::fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ForgeKind::GitHub => "GitHub",
            ForgeKind::GitLab => "GitLab",
        })
    }
}

/// A user of the forge. `id` is the forge's numeric id (GitLab's permission check needs it);
/// `login` is GitHub's login or GitLab's username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub id: u64,
}

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullState {
    Open,
    Closed,
    Merged,
}

/// Whether the forge would merge the pull request now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mergeability {
    /// GitHub: `mergeable: true` and a `mergeable_state` of `clean`, `unstable` or `has_hooks`;
    /// GitLab: `detailed_merge_status: mergeable`.
    Mergeable,
    /// The forge is still computing it (GitHub `mergeable: null`; GitLab `unchecked`,
    /// `checking`, `preparing`, `approvals_syncing`): read the pull request again later.
    Computing,
    /// It cannot be merged now; `reason` is the forge's own word (`dirty`, `blocked`,
    /// `need_rebase`, `conflict`, `not_approved`, ...).
    Blocked { reason: String },
}

/// One pull request (GitHub) or merge request (GitLab), as the forge says it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// GitHub's number, GitLab's `iid`.
    pub number: u64,
    pub title: String,
    pub state: PullState,
    pub draft: bool,
    pub author: User,
    /// The commit at the head of the pull request's branch.
    pub head_sha: String,
    /// The branch it comes from (in the fork, for a fork's pull request).
    pub head_branch: String,
    /// The branch it would merge into.
    pub base_branch: String,
    /// Whether it comes from another repository (a fork).
    pub from_fork: bool,
    pub mergeability: Mergeability,
    /// Its page, for links in messages.
    pub web_url: String,
}

/// A comment's id (GitHub issue comment id, GitLab note id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommentId(pub u64);

impl std::fmt::Display for CommentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A comment on a pull request's conversation (not a review comment on a line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: CommentId,
    pub author: User,
    pub body: String,
    /// RFC 3339, as the forge wrote it.
    pub created_at: String,
    /// Whether it was edited after it was posted (`updated_at` later than `created_at`). An
    /// edited comment is never taken as a command.
    pub edited: bool,
    /// A note the forge itself wrote (GitLab's system notes: "added 1 commit"); never a
    /// command.
    pub system: bool,
}

/// A reaction on a comment. The forges name them differently (GitHub `eyes`, `+1`; GitLab
/// `eyes`, `thumbsup`); each client maps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// "Seen, working on it": the acknowledgement of an apply command.
    Eyes,
    /// Done.
    ThumbsUp,
    /// Refused or failed.
    Confused,
}

/// A commit status's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
}

/// A commit status (GitHub `POST /repos/{o}/{r}/statuses/{sha}`, GitLab
/// `POST /projects/:id/statuses/:sha`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus<'a> {
    /// The status's name: `gitsync/plan`.
    pub context: &'a str,
    pub state: StatusState,
    /// One line; the client cuts it to what the forge accepts (GitHub 140, GitLab 255).
    pub description: &'a str,
    /// Where it links (the plan comment); `None` for none.
    pub target_url: Option<&'a str>,
}

/// What a user may do in the repository, as far as applying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Not a member, or read only (GitHub `none`/`read`; GitLab below Developer).
    Read,
    /// May push (GitHub `write`/`maintain`; GitLab Developer).
    Write,
    /// Administers the repository (GitHub `admin`; GitLab Maintainer and Owner).
    Admin,
}

/// How Git reaches the repository with the forge's credentials: HTTPS basic authentication
/// (GitHub `x-access-token` with a token; GitLab `oauth2`). The same token serves the API and
/// Git, so a GitHub App's installation token also fetches and pushes.
#[derive(Clone, PartialEq, Eq)]
pub struct GitCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What went wrong talking to a forge. Messages name the forge, the request and what to check;
/// they never carry a token.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The configuration cannot work (a private key that is not PEM, a base URL that is not a
    /// URL, a token with a line break): nothing was sent.
    #[error("{forge}: {problem}")]
    Config { forge: ForgeKind, problem: String },
    /// 401, or 403 that is not a rate limit: the credentials are wrong, expired or lack a
    /// permission.
    #[error(
        "{forge} refused the credentials for {method} {path} ({status}): {message}; check the token or the GitHub App's installation and permissions"
    )]
    Unauthorized {
        forge: ForgeKind,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// 404 (or GitHub's 410 on disabled issues).
    #[error("{forge}: {method} {path} was not found ({status}): {message}")]
    NotFound {
        forge: ForgeKind,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// Any other refusal (409 head moved, 405 not mergeable, 422 validation).
    #[error("{forge} refused {method} {path} ({status}): {message}")]
    Rejected {
        forge: ForgeKind,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// The transport gave up: retries ran out on 429/5xx or on connection failures.
    #[error("{forge}: {source}")]
    Http {
        forge: ForgeKind,
        #[source]
        source: crate::http::HttpError,
    },
    /// A 2xx answer that is not what the API describes.
    #[error("{forge}: {method} {path} answered with something unexpected: {problem}")]
    InvalidResponse {
        forge: ForgeKind,
        method: String,
        path: String,
        problem: String,
    },
}

impl ForgeError {
    /// A short CamelCase reason for conditions, Events and metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ForgeError::Config { .. } => "ForgeConfigInvalid",
            ForgeError::Unauthorized { .. } => "ForgeUnauthorized",
            ForgeError::NotFound { .. } => "ForgeNotFound",
            ForgeError::Rejected { .. } => "ForgeRejected",
            ForgeError::Http { source, .. } => source.reason(),
            ForgeError::InvalidResponse { .. } => "ForgeInvalidResponse",
        }
    }

    /// Whether trying again later may work (a network failure, a rate limit, a 5xx), as
    /// against a refusal that waits for a person.
    pub fn retryable(&self) -> bool {
        matches!(self, ForgeError::Http { .. })
    }

    /// The HTTP status of a refusal, when there was one (409: the head moved; 405: cannot be
    /// merged).
    pub fn status(&self) -> Option<u16> {
        match self {
            ForgeError::Unauthorized { status, .. }
            | ForgeError::NotFound { status, .. }
            | ForgeError::Rejected { status, .. } => Some(*status),
            ForgeError::Http { source, .. } => source.status(),
            _ => None,
        }
    }
}

/// One repository on one forge, with credentials. Every method reads the forge again (no
/// cache of pull requests or comments): a webhook only says "look again".
///
/// Declared with `impl Future + Send` (as [`crate::workspace::Workspace`] is) so that the
/// workflow can run on a spawned task.
pub trait Forge: Send + Sync {
    /// Which forge this is.
    fn kind(&self) -> ForgeKind;

    /// The login the credentials act as, when the forge says it without a user-only endpoint:
    /// a GitHub App's bot (`<slug>[bot]`, from `GET /app`), GitLab's `GET /user`. `None` for a
    /// GitHub token: the workflow then learns its login from the first comment it posts.
    fn identity(&self) -> impl Future<Output = Result<Option<String>, ForgeError>> + Send;

    /// One pull request, as it is now (mergeability included: on GitHub this `GET` is what
    /// starts the computation).
    fn pull(&self, number: u64) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;

    /// The open pull requests into `base_branch`, every page. The poll behind lost deliveries.
    fn open_pulls(
        &self,
        base_branch: &str,
    ) -> impl Future<Output = Result<Vec<PullRequest>, ForgeError>> + Send;

    /// Every conversation comment of a pull request, oldest first, every page.
    fn comments(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Vec<Comment>, ForgeError>> + Send;

    /// Posts a comment; returns it as the forge stored it (with the author the credentials act
    /// as).
    fn create_comment(
        &self,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<Comment, ForgeError>> + Send;

    /// Replaces a comment's body.
    fn edit_comment(
        &self,
        number: u64,
        id: CommentId,
        body: &str,
    ) -> impl Future<Output = Result<Comment, ForgeError>> + Send;

    /// Adds a reaction to a comment; a reaction already there is not an error.
    fn react(
        &self,
        number: u64,
        id: CommentId,
        reaction: Reaction,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Sets a commit status on `sha`.
    fn set_status(
        &self,
        sha: &str,
        status: &CommitStatus<'_>,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// What `user` may do in the repository (GitHub's collaborator permission, GitLab's
    /// inherited member access level); a user who is no member is [`Permission::Read`].
    fn permission(
        &self,
        user: &User,
    ) -> impl Future<Output = Result<Permission, ForgeError>> + Send;

    /// Merges the pull request if its head is still `head_sha` (409 otherwise).
    fn merge(
        &self,
        number: u64,
        head_sha: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// The ref that holds the pull request's head in the base repository, fetchable even for a
    /// fork: `refs/pull/N/head` or `refs/merge-requests/N/head`.
    fn pull_ref(&self, number: u64) -> String;

    /// Credentials for Git over HTTPS, fresh (a GitHub App's installation token is renewed
    /// before it expires).
    fn git_credentials(&self) -> impl Future<Output = Result<GitCredentials, ForgeError>> + Send;
}
