//! The test cluster itself (`scripts/test-cluster` through `util::cluster`): a real
//! kube-apiserver that kubectl talks to, whose RBAC denies the non-admin user what no Role grants
//! it, and that is gone once dropped.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::util::cluster::TestCluster;

/// stdout of a kubectl run that must have succeeded.
fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of a kubectl run that must have been forbidden.
fn forbidden(out: Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && stderr.contains("forbidden"),
        "{what}: expected forbidden, got {} with stdout {} and stderr {stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn kubectl_works_and_rbac_is_enforced() {
    let cluster = TestCluster::start();
    assert!(
        cluster.server().starts_with("https://127.0.0.1:"),
        "{}",
        cluster.server()
    );
    assert_ne!(cluster.admin_token(), cluster.user_token());
    assert!(cluster.kubeconfig().is_file());
    assert!(cluster.user_kubeconfig().is_file());

    let namespaces = ok(
        cluster.kubectl(&["get", "namespaces", "-o", "name"]),
        "get namespaces",
    );
    assert!(
        namespaces.lines().any(|l| l == "namespace/default"),
        "{namespaces}"
    );

    ok(
        cluster.kubectl(&[
            "create",
            "configmap",
            "gitsync-test",
            "--namespace=default",
            "--from-literal=key=value",
        ]),
        "create configmap",
    );
    let value = ok(
        cluster.kubectl(&[
            "get",
            "configmap",
            "gitsync-test",
            "--namespace=default",
            "-o",
            "jsonpath={.data.key}",
        ]),
        "get configmap",
    );
    assert_eq!(value, "value");

    let denied = forbidden(
        cluster.kubectl_as_user(&["get", "secrets", "--namespace=default"]),
        "user lists secrets",
    );
    assert!(denied.contains("gitsync-operator-test"), "{denied}");
    forbidden(
        cluster.kubectl_as_user(&["get", "configmaps", "--namespace=default"]),
        "user lists configmaps before the Role",
    );

    // A Role for configmaps lets the user list those, and still not secrets.
    ok(
        cluster.kubectl(&[
            "create",
            "role",
            "read-configmaps",
            "--namespace=default",
            "--verb=get,list",
            "--resource=configmaps",
        ]),
        "create role",
    );
    ok(
        cluster.kubectl(&[
            "create",
            "rolebinding",
            "read-configmaps",
            "--namespace=default",
            "--role=read-configmaps",
            "--user=gitsync-operator-test",
        ]),
        "create rolebinding",
    );
    // The authorizer sees the binding through an informer: allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let names = loop {
        let out =
            cluster.kubectl_as_user(&["get", "configmaps", "--namespace=default", "-o", "name"]);
        if out.status.success() || Instant::now() > deadline {
            break ok(out, "user lists configmaps with the Role");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        names.lines().any(|l| l == "configmap/gitsync-test"),
        "{names}"
    );
    forbidden(
        cluster.kubectl_as_user(&["get", "secrets", "--namespace=default"]),
        "user lists secrets with the Role",
    );

    // Dropping stops the servers: nothing listens on the port any more, and the dir is gone.
    let port: u16 = cluster
        .server()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", cluster.server()));
    let dir = cluster.dir().to_owned();
    drop(cluster);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the apiserver still listens on {port}"
    );
    assert!(!dir.exists(), "{} is still there", dir.display());
}
