//! `gitsync operator` as a process for the integration tests: started against a kubeconfig with
//! its own state dir, identity and a free loopback port for `--listen`, its stdout and stderr in a
//! log file; stopped gracefully with SIGTERM by `stop()`, killed when dropped otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A running `gitsync operator`; see the module docs.
pub struct Operator {
    child: Child,
    metrics_port: u16,
    /// stdout and stderr of the operator (`<state>/<identity>.log`).
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
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
        let metrics_port = free_port();
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
        let child = Command::new(env!("CARGO_BIN_EXE_gitsync"))
            .arg("operator")
            .arg("--state-dir")
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
            .spawn()
            .unwrap_or_else(|e| panic!("starting gitsync operator: {e}"));
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
