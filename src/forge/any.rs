//! One type for "the forge of this repository", whichever it is, so that callers hold one
//! value and the workflow stays generic over [`Forge`] without boxing futures.

use super::github::{GitHub, GitHubAuth, GitHubConfig};
use super::gitlab::{GitLab, GitLabConfig};
use super::{
    Comment, CommentId, CommitStatus, Forge, ForgeError, ForgeKind, GitCredentials, Permission,
    PullRequest, Reaction, User,
};
use crate::http::HttpConfig;

/// The forge of one repository.
#[derive(Clone)]
pub enum AnyForge {
    GitHub(GitHub),
    GitLab(Box<GitLab>),
}

/// Credentials for a forge's API (and, through [`Forge::git_credentials`], for Git).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum ForgeCredentials {
    Token(String),
    GitHubApp {
        app_id: String,
        private_key_pem: String,
        installation_id: Option<u64>,
    },
}

impl std::fmt::Debug for ForgeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForgeCredentials::Token(_) => f.write_str("Token(<redacted>)"),
            ForgeCredentials::GitHubApp {
                app_id,
                installation_id,
                ..
            } => write!(
                f,
                "GitHubApp {{ app_id: {app_id:?}, installation_id: {installation_id:?}, private_key_pem: <redacted> }}"
            ),
        }
    }
}

/// Everything needed to reach a repository's forge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ForgeSpec {
    pub kind: ForgeKind,
    /// The API's base URL; `None` for github.com or gitlab.com.
    pub api_base_url: Option<String>,
    /// The repository's URL (its owner and name are read from it).
    pub repository_url: String,
    pub credentials: ForgeCredentials,
}

impl AnyForge {
    /// The client for `spec`; fails, before anything is sent, when the repository URL names no
    /// repository or the credentials cannot be used.
    pub fn new(spec: &ForgeSpec) -> Result<AnyForge, ForgeError> {
        let config_error = |problem: String| ForgeError::Config {
            forge: spec.kind,
            problem,
        };
        match spec.kind {
            ForgeKind::GitHub => {
                let (owner, repo) = super::github::parse_repository_url(&spec.repository_url)
                    .ok_or_else(|| {
                        config_error(format!(
                            "the repository URL {} names no GitHub owner/repository",
                            crate::url::redacted(&spec.repository_url)
                        ))
                    })?;
                let auth = match &spec.credentials {
                    ForgeCredentials::Token(t) => GitHubAuth::Token(t.clone()),
                    ForgeCredentials::GitHubApp {
                        app_id,
                        private_key_pem,
                        installation_id,
                    } => GitHubAuth::App {
                        app_id: app_id.clone(),
                        private_key_pem: private_key_pem.clone(),
                        installation_id: *installation_id,
                    },
                };
                Ok(AnyForge::GitHub(GitHub::new(GitHubConfig {
                    api_base_url: spec
                        .api_base_url
                        .clone()
                        .unwrap_or_else(|| "https://api.github.com".to_owned()),
                    owner,
                    repo,
                    auth,
                    http: HttpConfig::default(),
                })?))
            }
            ForgeKind::GitLab => {
                let project =
                    super::gitlab::parse_project_url(&spec.repository_url).ok_or_else(|| {
                        config_error(format!(
                            "the repository URL {} names no GitLab project",
                            crate::url::redacted(&spec.repository_url)
                        ))
                    })?;
                let ForgeCredentials::Token(token) = &spec.credentials else {
                    return Err(config_error(
                        "GitLab takes a token (bearerToken or password), not GitHub App credentials"
                            .into(),
                    ));
                };
                Ok(AnyForge::GitLab(Box::new(GitLab::new(GitLabConfig {
                    api_base_url: spec
                        .api_base_url
                        .clone()
                        .unwrap_or_else(|| "https://gitlab.com/api/v4".to_owned()),
                    project,
                    token: token.clone(),
                    http: HttpConfig::default(),
                })?)))
            }
        }
    }
}

macro_rules! each {
    ($self:ident, $f:ident => $call:expr) => {
        match $self {
            AnyForge::GitHub($f) => $call,
            AnyForge::GitLab($f) => $call,
        }
    };
}

impl Forge for AnyForge {
    fn kind(&self) -> ForgeKind {
        each!(self, f => f.kind())
    }
    async fn identity(&self) -> Result<Option<String>, ForgeError> {
        each!(self, f => f.identity().await)
    }
    async fn pull(&self, number: u64) -> Result<PullRequest, ForgeError> {
        each!(self, f => f.pull(number).await)
    }
    async fn open_pulls(&self, base_branch: &str) -> Result<Vec<PullRequest>, ForgeError> {
        each!(self, f => f.open_pulls(base_branch).await)
    }
    async fn comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError> {
        each!(self, f => f.comments(number).await)
    }
    async fn create_comment(&self, number: u64, body: &str) -> Result<Comment, ForgeError> {
        each!(self, f => f.create_comment(number, body).await)
    }
    async fn edit_comment(
        &self,
        number: u64,
        id: CommentId,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        each!(self, f => f.edit_comment(number, id, body).await)
    }
    async fn react(
        &self,
        number: u64,
        id: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        each!(self, f => f.react(number, id, reaction).await)
    }
    async fn set_status(&self, sha: &str, status: &CommitStatus<'_>) -> Result<(), ForgeError> {
        each!(self, f => f.set_status(sha, status).await)
    }
    async fn permission(&self, user: &User) -> Result<Permission, ForgeError> {
        each!(self, f => f.permission(user).await)
    }
    async fn merge(&self, number: u64, head_sha: &str) -> Result<(), ForgeError> {
        each!(self, f => f.merge(number, head_sha).await)
    }
    fn pull_ref(&self, number: u64) -> String {
        each!(self, f => f.pull_ref(number))
    }
    async fn git_credentials(&self) -> Result<GitCredentials, ForgeError> {
        each!(self, f => f.git_credentials().await)
    }
}
