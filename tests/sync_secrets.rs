//! SyncSecrets on a real kube-apiserver (`gitsync::operator::sync_secrets::resolve`): a
//! namespace's SyncSecrets give their placeholders the values of their Secret keys, as the
//! apply's secret source; a missing Secret, a missing key, an empty value and two SyncSecrets
//! giving one placeholder are errors that name the SyncSecret and never a value.

use gitsync::operator::sync_secrets::{SyncSecretError, resolve};
use gitsync::sync::secrets::SecretSource;

use crate::util::operator::cluster_with_crds;

fn sync_secret(name: &str, placeholder: &str, secret: &str, key: &str) -> String {
    format!(
        "---\napiVersion: gitsync.dev/v1alpha1\nkind: SyncSecret\nmetadata: {{name: {name}}}\nspec:\n  name: {placeholder}\n  secretRef: {{name: {secret}, key: {key}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_secrets_resolve_to_their_secret_keys_and_a_broken_one_is_named() {
    let cluster = cluster_with_crds().await;
    let client = cluster.client().await;
    for ns in ["team-a", "team-b"] {
        cluster.kubectl_ok(&["create", "namespace", ns]);
    }
    // A value from a file ends with its line break, which is no part of the secret.
    let key_file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(key_file.path(), "amp-VALUE-1\n").unwrap_or_else(|e| panic!("{e}"));
    cluster.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "keys",
        "-n",
        "team-a",
        &format!("--from-file=amplitude={}", key_file.path().display()),
        "--from-literal=webhook=hook-VALUE-2",
        "--from-literal=empty=",
    ]);
    let objects = sync_secret("amplitude", "amplitude_key", "keys", "amplitude")
        + &sync_secret("webhook", "webhook-token", "keys", "webhook");
    let (ok, out) = cluster.apply_with(&objects, &["-n", "team-a"]);
    assert!(ok, "{out}");

    let secrets = resolve(&client, "team-a")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        secrets.names().collect::<Vec<_>>(),
        ["amplitude_key", "webhook-token"]
    );
    let value = |name: &str| secrets.get(name).map(|s| s.expose().to_owned());
    // A placeholder name is what `@@...@@` can hold: the API server refuses any other.
    let (ok, out) = cluster.apply_with(
        &sync_secret("dotted", "a.b", "keys", "webhook"),
        &["-n", "team-a"],
    );
    assert!(!ok && out.contains("spec.name"), "{out}");
    assert_eq!(value("amplitude_key").as_deref(), Some("amp-VALUE-1"));
    assert_eq!(value("webhook-token").as_deref(), Some("hook-VALUE-2"));
    assert_eq!(value("amplitude"), None, "by placeholder, not by object");
    assert!(!format!("{secrets:?}").contains("VALUE"));
    // Another namespace's SyncSecrets are its own (none here).
    let other = resolve(&client, "team-b")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(other.is_empty());

    // Each broken SyncSecret, alone beside the good ones: the error names it, never a value.
    let cases: [(&str, String, &str, &[&str]); 4] = [
        (
            "no key",
            sync_secret("segment-writekey", "write_key", "keys", "writekey"),
            "SecretKeyNotFound",
            &["SyncSecret segment-writekey", "Secret keys", "key writekey"],
        ),
        (
            "no Secret",
            sync_secret("segment-writekey", "write_key", "gone", "writekey"),
            "SecretNotFound",
            &["SyncSecret segment-writekey", "Secret gone not found"],
        ),
        (
            "an empty value",
            sync_secret("segment-writekey", "write_key", "keys", "empty"),
            "SecretEmpty",
            &["SyncSecret segment-writekey", "key empty", "empty"],
        ),
        (
            "a placeholder given twice",
            sync_secret("segment-writekey", "amplitude_key", "keys", "webhook"),
            "DuplicateSyncSecret",
            &["amplitude", "segment-writekey", "@@amplitude_key@@"],
        ),
    ];
    for (what, object, reason, words) in cases {
        let (ok, out) = cluster.apply_with(&object, &["-n", "team-a"]);
        assert!(ok, "{what}: {out}");
        let e: SyncSecretError = match resolve(&client, "team-a").await {
            Err(e) => e,
            Ok(s) => panic!("{what}: resolved {:?}", s.names().collect::<Vec<_>>()),
        };
        let text = e.to_string();
        assert_eq!(e.reason(), reason, "{what}: {text}");
        for word in words {
            assert!(text.contains(word), "{what}: {text}");
        }
        assert!(!text.contains("VALUE"), "{what}: {text}");
        cluster.kubectl_ok(&["delete", "syncsecret", "-n", "team-a", "segment-writekey"]);
    }
}
