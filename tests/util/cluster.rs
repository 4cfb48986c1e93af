//! A real Kubernetes API server for the integration tests: etcd and kube-apiserver 1.20 on free
//! loopback ports, started by `scripts/test-cluster` in a temp dir (no kubelet, controller-manager
//! or scheduler: nothing runs pods, deleted namespaces stay `Terminating`, owner references do
//! not cascade). The apiserver is built once per machine by `scripts/install-kube-apiserver.sh`
//! (`scripts/install-test-tools.sh` runs it).
//!
//! Two users: `admin` (system:masters) and `gitsync-operator-test`, which has no rights beyond
//! those of `system:authenticated` until a test binds it to a Role, so RBAC is checked for real.
//! Dropping the `TestCluster` stops both servers; a test process killed before that leaks none
//! either (the script stops them when the process is gone).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running test cluster; see the module docs.
pub struct TestCluster {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    user_kubeconfig: PathBuf,
    server: String,
    admin_token: String,
    user_token: String,
}

impl TestCluster {
    /// Starts a cluster and waits until it is ready (a few seconds). Panics with the script's
    /// output when it cannot (e.g. kube-apiserver not built yet).
    pub fn start() -> TestCluster {
        let dir = tempfile::Builder::new()
            .prefix("gitsync-test-cluster.")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let out = Command::new(script())
            .arg("start")
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script().display()));
        assert!(
            out.status.success(),
            "scripts/test-cluster start failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env_file = dir.path().join("env");
        let env = std::fs::read_to_string(&env_file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", env_file.display()));
        let var = |name: &str| {
            env.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{name} missing from {}", env_file.display()))
                .to_owned()
        };
        TestCluster {
            kubeconfig: PathBuf::from(var("KUBECONFIG")),
            user_kubeconfig: dir.path().join("user-kubeconfig"),
            server: var("GITSYNC_TEST_APISERVER"),
            admin_token: var("GITSYNC_TEST_ADMIN_TOKEN"),
            user_token: var("GITSYNC_TEST_USER_TOKEN"),
            dir,
        }
    }

    /// The admin kubeconfig (system:masters, token auth, TLS verification off).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The kubeconfig of the non-admin user `gitsync-operator-test`.
    pub fn user_kubeconfig(&self) -> &Path {
        &self.user_kubeconfig
    }

    /// `https://127.0.0.1:PORT` (a self-signed certificate).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Bearer token of `admin` (group system:masters).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Bearer token of `gitsync-operator-test` (only system:authenticated).
    pub fn user_token(&self) -> &str {
        &self.user_token
    }

    /// The cluster's directory: kubeconfigs, `etcd.log` and `kube-apiserver.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The API server's audit log: every request at level Metadata, one JSON event a line.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    /// Runs `kubectl --kubeconfig <admin kubeconfig> ARGS` and returns what it did.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl(&self.kubeconfig, args)
    }

    /// Runs `kubectl` as the non-admin user `gitsync-operator-test`.
    pub fn kubectl_as_user(&self, args: &[&str]) -> Output {
        kubectl(&self.user_kubeconfig, args)
    }

    /// Runs `kubectl` as the admin with `stdin` as its standard input (`apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running kubectl (apt-get install kubernetes-client): {e}"));
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .unwrap_or_else(|e| panic!("writing to kubectl {args:?}: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }
}

impl TestCluster {
    /// A kube client as the admin, made from the kubeconfig as the operator makes one.
    pub async fn client(&self) -> kube::Client {
        kube_client(&self.kubeconfig).await
    }

    /// A kube client as the non-admin user `gitsync-operator-test`.
    pub async fn user_client(&self) -> kube::Client {
        kube_client(&self.user_kubeconfig).await
    }
}

/// A kube client for `kubeconfig`, as the operator makes one.
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    kube::Client::try_from(config).unwrap_or_else(|e| panic!("{e}"))
}

/// The custom resource definitions gitsync installs (`crds/gitsync.dev.yaml`).
pub const CRDS: [&str; 3] = [
    "gitsyncs.gitsync.dev",
    "gitconnections.gitsync.dev",
    "syncsecrets.gitsync.dev",
];

/// What the tests do through kubectl, as the admin.
impl TestCluster {
    /// `kubectl ARGS`; panics with kubectl's words unless it succeeds; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        ok(args, self.kubectl(args))
    }

    /// `kubectl ARGS` with `stdin` as its standard input; as [`TestCluster::kubectl_ok`].
    pub fn kubectl_stdin_ok(&self, args: &[&str], stdin: &str) -> String {
        ok(args, self.kubectl_stdin(args, stdin))
    }

    /// `kubectl apply -f -` with `yaml`: (success, stdout + stderr), for tests that expect a
    /// refusal as well as for those that do not.
    pub fn apply(&self, yaml: &str) -> (bool, String) {
        self.apply_with(yaml, &[])
    }

    /// [`TestCluster::apply`] with more flags (`--server-side`, `-n`, ...).
    pub fn apply_with(&self, yaml: &str, flags: &[&str]) -> (bool, String) {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(flags);
        let out = self.kubectl_stdin(&args, yaml);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Applies `crds/gitsync.dev.yaml` and waits until each of [`CRDS`] is Established.
    pub fn install_crds(&self) {
        let path = crds_file();
        self.kubectl_ok(&["apply", "-f", &path.to_string_lossy()]);
        for crd in CRDS {
            self.kubectl_ok(&[
                "wait",
                "--for=condition=Established",
                &format!("crd/{crd}"),
                "--timeout=30s",
            ]);
        }
    }

    /// `kubectl get WHAT -o json` (`gitsync/acme`); panics when kubectl fails.
    pub fn get_json(&self, what: &str) -> serde_json::Value {
        let text = self.kubectl_ok(&["get", what, "-o", "json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("kubectl get {what}: {e}: {text}"))
    }

    /// `kubectl get -o json ARGS`; `Null` when kubectl fails (the object is not there yet).
    pub fn get_or_null(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get", "-o", "json"];
        all.extend_from_slice(args);
        let out = self.kubectl(&all);
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("kubectl {}: not JSON: {e}\n{text}", all.join(" ")))
    }

    /// The Ready condition of `what` (`gitsync/acme`) as (status, reason, message); `None`
    /// while it has none.
    pub fn ready(&self, what: &str) -> Option<(String, String, String)> {
        let object = self.get_json(what);
        let c = condition(&object, "Ready")?;
        let field = |name: &str| c[name].as_str().unwrap_or("").to_owned();
        Some((field("status"), field("reason"), field("message")))
    }
}

/// The condition of type `type_` in an object's `status.conditions`.
pub fn condition<'a>(object: &'a serde_json::Value, type_: &str) -> Option<&'a serde_json::Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The CRDs as committed (`gitsync crds` prints the same).
pub fn crds_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/gitsync.dev.yaml")
}

fn ok(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "kubectl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap_or_else(|e| panic!("kubectl {}: stdout is not UTF-8: {e}", args.join(" ")))
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        match Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "scripts/test-cluster stop failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("running {}: {e}", script().display()),
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-cluster")
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running kubectl (apt-get install kubernetes-client): {e}"))
}
