//! Webhook deliveries, as GitHub sends them: a `POST` of the JSON payload to every hook, with
//! `X-GitHub-Event`, a GUID in `X-GitHub-Delivery`, `X-Hub-Signature-256: sha256=<hex HMAC-SHA256
//! of the raw body keyed with the hook's secret>` and `User-Agent: GitHub-Hookshot/<id>`. Sent
//! from a spawned task; a failure is recorded and never retried (GitHub does not retry either).
//! Never logs a secret.

use std::sync::PoisonError;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use super::{LocalForge, LocalForgeError, render};

/// One delivery to one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// `X-GitHub-Event`: `pull_request`, `issue_comment`.
    pub event: String,
    /// The payload's `action`.
    pub action: String,
    pub url: String,
    /// The raw body sent.
    pub body: String,
    /// `X-Hub-Signature-256`.
    pub signature: String,
    /// The hook's answer, once it came.
    pub status: Option<u16>,
    /// Why it failed, if the request did not get an answer.
    pub error: Option<String>,
}

impl Delivery {
    /// Whether it was answered or failed.
    pub fn finished(&self) -> bool {
        self.status.is_some() || self.error.is_some()
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GUID, as `X-GitHub-Delivery` carries one.
fn guid() -> String {
    let h = crate::workspace::embedded::ids::random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl LocalForge {
    /// Delivers `pull_request` `action` for pull request `number`, sent by `sender`;
    /// `synchronize` carries `before` and `after`.
    pub(crate) fn deliver_pull(
        &self,
        repo: &str,
        number: u64,
        action: &str,
        sender: &str,
        moved: Option<(&str, &str)>,
    ) -> Result<(), LocalForgeError> {
        let payload = {
            let mut state = self.lock();
            let pull = state.pull_mut(repo, number)?.clone();
            let repo_rec = state.repo(repo)?;
            let mut p = json!({
                "action": action,
                "number": number,
                "pull_request": render::pull(&state, repo_rec, &pull, true),
            });
            if let Some((before, after)) = moved {
                p["before"] = json!(before);
                p["after"] = json!(after);
            }
            p["repository"] = render::webhook_repository(&state, repo_rec);
            if let Some(installation) = render::simple_installation(&state) {
                p["installation"] = installation;
            }
            p["sender"] = render::user(&state, sender);
            p
        };
        self.send("pull_request", action, &payload);
        Ok(())
    }

    /// Delivers `issue_comment` `action` for comment `id`; `edited` carries the body before.
    pub(crate) fn deliver_comment(
        &self,
        repo: &str,
        id: u64,
        action: &str,
        sender: &str,
        from: Option<&str>,
    ) -> Result<(), LocalForgeError> {
        let payload = {
            let state = self.lock();
            let repo_rec = state.repo(repo)?;
            let comment =
                repo_rec
                    .comments
                    .get(&id)
                    .ok_or_else(|| LocalForgeError::UnknownComment {
                        repo: repo.into(),
                        id,
                    })?;
            let pull = repo_rec.pulls.get(&comment.number).ok_or_else(|| {
                LocalForgeError::UnknownPull {
                    repo: repo.into(),
                    number: comment.number,
                }
            })?;
            let mut p = json!({ "action": action });
            if let Some(from) = from {
                p["changes"] = json!({ "body": { "from": from } });
            }
            p["issue"] = render::webhook_issue(&state, repo_rec, pull);
            p["comment"] = render::issue_comment(&state, repo_rec, comment);
            p["repository"] = render::webhook_repository(&state, repo_rec);
            if let Some(installation) = render::simple_installation(&state) {
                p["installation"] = installation;
            }
            p["sender"] = render::user(&state, sender);
            p
        };
        self.send("issue_comment", action, &payload);
        Ok(())
    }

    /// Sends `payload` to every hook from a spawned task, recording each delivery.
    fn send(&self, event: &str, action: &str, payload: &Json) {
        let target_id = payload["repository"]["id"].as_u64().unwrap_or_default();
        let hooks = self.lock().hooks.clone();
        let body = payload.to_string();
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok());
        for (hook_index, (url, secret)) in hooks.into_iter().enumerate() {
            let delivery = Delivery {
                guid: guid(),
                event: event.into(),
                action: action.into(),
                url: url.clone(),
                signature: signature(&secret, body.as_bytes()),
                body: body.clone(),
                status: None,
                error: None,
            };
            let index = {
                let mut all = self
                    .deliveries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                all.push(delivery.clone());
                all.len() - 1
            };
            let deliveries = self.deliveries.clone();
            let record = move |status: Option<u16>, error: Option<String>| {
                let mut all = deliveries.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(d) = all.get_mut(index) {
                    d.status = status;
                    d.error = error;
                }
            };
            let Some(runtime) = &runtime else {
                record(
                    None,
                    Some("the local forge is not running on a Tokio runtime".into()),
                );
                continue;
            };
            let hook_id = hook_index + 1;
            runtime.spawn(async move {
                let client = reqwest::Client::new();
                let sent = client
                    .post(&delivery.url)
                    .header("Content-Type", "application/json")
                    .header("User-Agent", "GitHub-Hookshot/local")
                    .header("X-GitHub-Event", &delivery.event)
                    .header("X-GitHub-Delivery", &delivery.guid)
                    .header("X-GitHub-Hook-ID", hook_id.to_string())
                    .header("X-GitHub-Hook-Installation-Target-Type", "repository")
                    .header(
                        "X-GitHub-Hook-Installation-Target-ID",
                        target_id.to_string(),
                    )
                    .header("X-Hub-Signature-256", &delivery.signature)
                    .body(delivery.body.clone())
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(resp) => record(Some(resp.status().as_u16()), None),
                    Err(e) => record(None, Some(e.to_string())),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of GitHub's "Validating webhook deliveries".
    #[test]
    fn signature_matches_githubs_published_vector() {
        assert_eq!(
            signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn guids_have_the_uuid_shape() {
        let g = guid();
        let lens: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12], "{g}");
    }
}
