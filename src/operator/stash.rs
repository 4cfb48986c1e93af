//! Where the operator keeps accepted applies until they finish ([`crate::pulls::Stash`]): one
//! ConfigMap per pull request, `<gitsync>-pull-<n>`, owned by the GitSync, holding the sealed
//! plan and who asked. A new leader finds it and resumes the apply (its journal, in
//! [`super::journal`], says what was already sent). The plan document is sealed with the
//! workspace token's key, so an edited ConfigMap is refused, never applied.
//!
//! It never holds a secret: a plan carries `@@name@@` placeholders, never their values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, Resource as _, ResourceExt as _};

use super::crd::GitSync;
use crate::pulls::{Stash, StashError, Stashed};

const LABEL_GITSYNC: &str = "gitsync.dev/gitsync";
const LABEL_KIND: &str = "gitsync.dev/kind";
const KIND: &str = "pull-apply";
const LABEL_PULL: &str = "gitsync.dev/pull";
const KEY: &str = "stash.json";

/// The stash of one GitSync's pull requests.
pub struct ConfigMapStash {
    api: Api<ConfigMap>,
    gitsync: String,
    owner: Option<OwnerReference>,
}

impl ConfigMapStash {
    pub fn new(client: kube::Client, gitsync: &GitSync) -> ConfigMapStash {
        let namespace = gitsync.namespace().unwrap_or_default();
        ConfigMapStash {
            api: Api::namespaced(client, &namespace),
            gitsync: gitsync.name_any(),
            owner: gitsync.controller_owner_ref(&()).map(|mut o| {
                o.controller = Some(false);
                o.block_owner_deletion = Some(false);
                o
            }),
        }
    }

    fn name(&self, number: u64) -> String {
        object_name(&self.gitsync, &format!("pull-{number}"))
    }

    fn error(&self, number: Option<u64>, problem: impl std::fmt::Display) -> StashError {
        StashError {
            place: match number {
                Some(n) => format!("configmap {}", self.name(n)),
                None => format!("configmaps of GitSync {}", self.gitsync),
            },
            problem: problem.to_string(),
        }
    }
}

/// A DNS-subdomain object name from a base and a suffix: `<base>-<suffix>`, or, when that is
/// longer than 253 characters, a cut base with a hash of the whole so that names stay distinct.
pub fn object_name(base: &str, suffix: &str) -> String {
    let whole = format!("{base}-{suffix}");
    if whole.len() <= 253 {
        return whole;
    }
    use sha2::Digest as _;
    let hash = hex::encode(&sha2::Sha256::digest(whole.as_bytes())[..6]);
    let room = 253 - suffix.len() - hash.len() - 2;
    let cut: String = base.chars().take(room).collect();
    format!("{}-{hash}-{suffix}", cut.trim_end_matches(['-', '.']))
}

impl Stash for ConfigMapStash {
    async fn save(&self, stashed: &Stashed) -> Result<(), StashError> {
        let number = Some(stashed.number);
        let text = serde_json::to_string(stashed).map_err(|e| self.error(number, e))?;
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name(stashed.number)),
                labels: Some(BTreeMap::from([
                    (LABEL_GITSYNC.to_owned(), label_value(&self.gitsync)),
                    (LABEL_KIND.to_owned(), KIND.to_owned()),
                    (LABEL_PULL.to_owned(), stashed.number.to_string()),
                    (
                        "app.kubernetes.io/managed-by".to_owned(),
                        "gitsync".to_owned(),
                    ),
                ])),
                owner_references: self.owner.clone().map(|o| vec![o]),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(KEY.to_owned(), text)])),
            ..ConfigMap::default()
        };
        // Created once per accepted apply: an existing one is an apply already accepted, which
        // must not be replaced by another plan.
        match self.api.create(&PostParams::default(), &map).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Err(self.error(
                number,
                "an apply of this pull request is already stashed; it is resumed first",
            )),
            Err(e) => Err(self.error(number, e)),
        }
    }

    async fn load(&self, number: u64) -> Result<Option<Stashed>, StashError> {
        let Some(map) = self
            .api
            .get_opt(&self.name(number))
            .await
            .map_err(|e| self.error(Some(number), e))?
        else {
            return Ok(None);
        };
        let text = map
            .data
            .as_ref()
            .and_then(|d| d.get(KEY))
            .ok_or_else(|| self.error(Some(number), format!("it has no key {KEY}")))?;
        let stashed: Stashed =
            serde_json::from_str(text).map_err(|e| self.error(Some(number), e))?;
        if stashed.number != number {
            return Err(self.error(
                Some(number),
                format!("it is for pull request {}", stashed.number),
            ));
        }
        Ok(Some(stashed))
    }

    async fn remove(&self, number: u64) -> Result<(), StashError> {
        match self
            .api
            .delete(&self.name(number), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(self.error(Some(number), e)),
        }
    }

    async fn numbers(&self) -> Result<Vec<u64>, StashError> {
        let selector = format!(
            "{LABEL_GITSYNC}={},{LABEL_KIND}={KIND}",
            label_value(&self.gitsync)
        );
        let list = self
            .api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| self.error(None, e))?;
        Ok(list
            .items
            .iter()
            .filter_map(|m| m.metadata.labels.as_ref()?.get(LABEL_PULL)?.parse().ok())
            .collect())
    }
}

/// A label value (at most 63 characters): the name, or its hash when longer.
fn label_value(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_owned();
    }
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(name.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_stay_valid_and_distinct() {
        let long = "a".repeat(250);
        let other = format!("{}b", "a".repeat(249));
        for (base, suffix) in [
            ("gs", "pull-7"),
            (long.as_str(), "pull-7"),
            (other.as_str(), "pull-7"),
        ] {
            let name = object_name(base, suffix);
            assert!(name.len() <= 253, "{name}");
            assert!(name.ends_with(suffix), "{name}");
        }
        assert_eq!(object_name("gs", "pull-7"), "gs-pull-7");
        assert_ne!(object_name(&long, "pull-7"), object_name(&other, "pull-7"));
        assert!(label_value(&long).len() <= 63);
    }
}
