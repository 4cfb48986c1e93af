//! `gitsync operator` as a process for the integration tests: started against a kubeconfig with
//! its own state dir, identity and a free loopback port for `--listen`, its stdout and stderr in a
//! log file; stopped gracefully with SIGTERM by `stop()`, killed when dropped otherwise. And the
//! waits for what it does (`wait_until`, `wait_for_ready`), which show the end of its log when
//! they time out.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::cluster::TestCluster;

/// A running `gitsync operator`; see the module docs.
pub struct Operator {
    child: Child,
    metrics_port: u16,
    /// stdout and stderr of the operator (`<state>/<identity>.log`).
    pub log: PathBuf,
}

impl Operator {
    /// Starts `gitsync operator` with `KUBECONFIG=kubeconfig`, `--state-dir state` (created),
    /// `--identity identity` and `--listen` on a free port, then `extra`. Unless `extra` sets them,
    /// `--lease-namespace default` and `--log-level info,gitsync=debug`. The environment's
    /// `POD_NAMESPACE`, `POD_NAME`, `GITSYNC_NAMESPACE` and `GITSYNC_LABEL_SELECTOR` are removed.
    pub fn start(kubeconfig: &Path, state: &Path, identity: &str, extra: &[&str]) -> Operator {
        Operator::start_with_state_dir(kubeconfig, state, state, identity, extra)
    }

    /// As [`Operator::start`], with the log in `dir` (created) and `--state-dir state_dir`,
    /// which is left as it is (it may not exist yet).
    pub fn start_with_state_dir(
        kubeconfig: &Path,
        dir: &Path,
        state_dir: &Path,
        identity: &str,
        extra: &[&str],
    ) -> Operator {
        let metrics_port = super::free_port();
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let log = dir.join(format!("{identity}.log"));
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let stdout = file
            .try_clone()
            .unwrap_or_else(|e| panic!("duplicating {}: {e}", log.display()));
        let default = |flag: &'static str, value: &'static str| {
            if extra.contains(&flag) {
                Vec::new()
            } else {
                vec![flag, value]
            }
        };
        let child = super::command::gitsync(&["operator", "--state-dir"])
            .arg(state_dir)
            .args(["--listen", &format!("127.0.0.1:{metrics_port}")])
            .args(["--identity", identity])
            .args(default("--lease-namespace", "default"))
            .args(default("--log-level", "info,gitsync=debug"))
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("POD_NAMESPACE")
            .env_remove("POD_NAME")
            .env_remove("GITSYNC_NAMESPACE")
            .env_remove("GITSYNC_LABEL_SELECTOR")
            .stdout(stdout)
            .stderr(file)
            .spawn();
        Operator {
            child,
            metrics_port,
            log,
        }
    }

    /// `/metrics`, in the format `accept` asks for (Prometheus text for promtool); empty when
    /// the operator does not answer (yet).
    pub fn metrics(&self, accept: &str) -> String {
        let out = Command::new("curl")
            .args(["-sf", "-H", &format!("Accept: {accept}")])
            .arg(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `/readyz`: the HTTP status (0 when the operator does not answer) and the body.
    pub fn readyz(&self) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{}/readyz", self.metrics_port))
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// Waits up to `timeout` for the operator to exit on its own: its exit status, or `None`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("waiting for gitsync operator: {e}"))
            {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.log.display()))
    }

    /// Kills the operator outright (SIGKILL: no Lease release) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (through the `kill` command), then the exit status and the log; panics when it
    /// has not exited 30 s later.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("waiting for gitsync operator: {e}"))
            {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        };
        (status, self.log_text())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A test cluster with gitsync's CRDs established, started on a blocking thread (it takes
/// seconds) so that the test's async runtime keeps serving meanwhile.
pub async fn cluster_with_crds() -> TestCluster {
    tokio::task::spawn_blocking(|| {
        let cluster = TestCluster::start();
        cluster.install_crds();
        cluster
    })
    .await
    .unwrap_or_else(|e| panic!("starting the test cluster: {e}"))
}

/// Polls `done` every 100 ms for up to `timeout`; on timeout, panics naming `what` with the end
/// of the operator's log `log`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool, log: &Path) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; operator log:\n{}",
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the Ready condition of `what` (`gitsync/acme`), as (status, reason, message),
/// satisfies `want`; on timeout, panics with the last one seen and the end of the operator's log.
pub fn wait_for_ready(
    cluster: &TestCluster,
    what: &str,
    timeout: Duration,
    log: &Path,
    want: impl Fn(&(String, String, String)) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let ready = cluster.ready(what);
        if ready.as_ref().is_some_and(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for the Ready condition of {what}; last seen: \
             {ready:?}; operator log:\n{}",
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last 40 lines of the operator's log `log`.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
