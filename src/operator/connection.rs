//! The GitConnection and SyncSecret controllers: they check what their Secrets hold and say so in
//! `Ready`, with a reason a person can act on.
//!
//! A GitConnection's credentials are read (and an SSH key checked with ssh-keygen); when a GitSync
//! uses the connection, the credentials are also tried against that GitSync's repository with
//! `git ls-remote`, which is how AuthenticationFailed, HostKeyVerificationFailed or
//! RepositoryNotFound show up before any sync runs; it is checked again when its generation or
//! its Secret changes, or after [`RECHECK`], and a wake-up for anything else (its own status
//! write) makes no API call. A SyncSecret's key is looked up, never read into a status, a log or
//! an Event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::{Api, Resource as _, ResourceExt as _};

use super::conditions::{CONNECTION_ISSUES, State, conditions};
use super::context::{Context, apply_status};
use super::crd::{GitConnection, GitConnectionStatus, SyncSecret, SyncSecretStatus};
use super::credentials::for_connection;
use super::error::{Controller, ReconcileError};
use crate::git::remote::Remote;

/// How often a healthy connection is checked again (credentials expire, keys get revoked).
const RECHECK: Duration = Duration::from_secs(600);

pub async fn reconcile_connection(
    conn: Arc<GitConnection>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let api = Api::<GitConnection>::namespaced(ctx.client.clone(), &namespace);
    let previous = conn.status.clone().unwrap_or_default();
    let generation = conn.metadata.generation;
    let secret_name = &conn.spec.secret_ref.name;
    // First, before any read: its own status write, or an annotation, is no reason to check again.
    let wakers = (
        generation,
        ctx.inputs_epoch::<GitConnection>(&namespace, &name),
    );
    if let Some(wait) = ctx.connections.not_due(&namespace, &name, &wakers) {
        return Ok(Action::requeue(wait));
    }

    let (state, method) = match ctx.secret(&namespace, secret_name).await? {
        None => (
            State::Stalled {
                reason: "SecretNotFound".into(),
                message: format!("{CONNECTION_ISSUES}: Secret {secret_name} not found"),
            },
            None,
        ),
        Some(secret) => {
            match for_connection(&ctx.state_dir, &namespace, &name, secret_name, secret) {
                Err(p) => (
                    State::Stalled {
                        reason: p.reason().into(),
                        message: format!("{CONNECTION_ISSUES}: {p}"),
                    },
                    None,
                ),
                Ok(credentials) => {
                    let method = credentials.method.to_owned();
                    let state =
                        check_against_users(&ctx, &conn, &namespace, &name, credentials).await?;
                    (state, Some(method))
                }
            }
        }
    };
    let stalled_reason = match &state {
        State::Stalled { reason, message } => Some((reason.clone(), message.clone())),
        _ => None,
    };
    let status = GitConnectionStatus {
        observed_generation: generation,
        conditions: conditions(
            &state,
            generation,
            &previous.conditions,
            jiff::Timestamp::now(),
        ),
        auth_method: method,
    };
    apply_status(&api, &name, &status).await?;
    if let Some((reason, message)) = stalled_reason {
        let was = previous.conditions.first().map(|c| c.reason.clone());
        if was.as_deref() != Some(reason.as_str()) {
            ctx.event(&conn.object_ref(&()), true, &reason, "Check", message)
                .await;
        }
        ctx.reconcile_error(Controller::GitConnection, &reason);
    }
    ctx.connections
        .checked(&namespace, &name, wakers, Instant::now() + RECHECK);
    Ok(Action::requeue(RECHECK))
}

/// Tries the credentials on the repository of the first GitSync that uses this connection.
async fn check_against_users(
    ctx: &Context,
    connection: &GitConnection,
    namespace: &str,
    name: &str,
    credentials: super::credentials::Credentials,
) -> Result<State, ReconcileError> {
    // From the GitSync controller's store, not a list from the API server; the first by name,
    // so that the same repository is tried every time. Until the store has synced, it would
    // say that no GitSync uses the connection.
    if ctx.stores.gitsyncs.wait_until_ready().await.is_err() {
        return Err(ReconcileError::StoreClosed);
    }
    let user = ctx
        .stores
        .gitsyncs
        .state()
        .into_iter()
        .filter(|gs| {
            gs.namespace().as_deref() == Some(namespace)
                && gs.secret_refs().connection == Some(name)
        })
        .min_by_key(|gs| gs.name_any());
    let Some(user) = user else {
        return Ok(State::Ready {
            reason: "CredentialsValid".into(),
            message: "The Secret holds usable credentials (no GitSync uses this connection yet)"
                .into(),
        });
    };
    // A GitHub App authenticates Git with an installation token for the repository: buy one.
    let auth = match (&credentials.auth, credentials.forge) {
        (
            crate::git::remote::Auth::None,
            Some(forge @ crate::forge::any::ForgeCredentials::GitHubApp { .. }),
        ) => {
            use crate::forge::Forge as _;
            let spec = crate::forge::any::ForgeSpec {
                kind: crate::forge::ForgeKind::GitHub,
                api_base_url: connection.spec.api_base_url.clone(),
                repository_url: user.spec.repository.url.clone(),
                credentials: forge,
            };
            let bought = match crate::forge::any::AnyForge::new(&spec) {
                Ok(forge) => forge.git_credentials().await,
                Err(e) => Err(e),
            };
            match bought {
                Ok(c) => crate::git::remote::Auth::Basic {
                    username: c.username,
                    password: c.password,
                },
                Err(e) => {
                    return Ok(State::Stalled {
                        reason: e.reason().into(),
                        message: format!(
                            "{CONNECTION_ISSUES}: {}",
                            crate::url::scrub_urls(&e.to_string(), &[&user.spec.repository.url])
                        ),
                    });
                }
            }
        }
        (auth, _) => auth.clone(),
    };
    let remote = Remote {
        url: user.spec.repository.url.clone(),
        branch: user.spec.repository.branch.clone(),
        auth,
    };
    let scratch = ctx.state_dir.clone();
    let url = remote.shown_url();
    let checked = tokio::task::spawn_blocking(move || remote.check(&scratch))
        .await
        .map_err(|source| ReconcileError::TaskStopped {
            task: "connection check",
            source,
        })?;
    Ok(match checked {
        Ok(()) => State::Ready {
            reason: "Connected".into(),
            message: format!("Credentials accepted by {url}"),
        },
        Err(e) => State::Stalled {
            reason: e.reason().into(),
            message: format!("{CONNECTION_ISSUES}: {e}"),
        },
    })
}

pub async fn reconcile_sync_secret(
    secret: Arc<SyncSecret>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    let api = Api::<SyncSecret>::namespaced(ctx.client.clone(), &namespace);
    let previous = secret.status.clone().unwrap_or_default();
    let generation = secret.metadata.generation;
    let r = &secret.spec.secret_ref;
    let state = match ctx.secret_key(&namespace, &r.name, &r.key).await? {
        Ok(_) => State::Ready {
            reason: "Resolved".into(),
            message: format!(
                "@@{}@@ resolves to key {} of Secret {}",
                secret.spec.name, r.key, r.name
            ),
        },
        Err(p) => State::Stalled {
            reason: p.reason().into(),
            message: p.to_string(),
        },
    };
    let status = SyncSecretStatus {
        observed_generation: generation,
        conditions: conditions(
            &state,
            generation,
            &previous.conditions,
            jiff::Timestamp::now(),
        ),
        placeholder: Some(format!("@@{}@@", secret.spec.name)),
    };
    apply_status(&api, &name, &status).await?;
    if let State::Stalled { reason, .. } = &state {
        ctx.reconcile_error(Controller::SyncSecret, reason);
    }
    Ok(Action::await_change())
}
