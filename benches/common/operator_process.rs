//! The operator as a process for the operator benchmarks (`benches/operator.rs`,
//! `benches/operator_pulls.rs`): started against the test cluster, measured through
//! `/proc/PID` (memory, CPU with and without its `git` children) and its `/metrics`; with the
//! few kubectl and git helpers they share. One copy, included by both with `#[path]`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{self, TestCluster};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `kubectl apply -f -` with `yaml` on the test cluster; kubectl's words when it fails.
pub fn apply(cluster: &TestCluster, yaml: &str) -> Result<()> {
    match cluster.apply(yaml) {
        (true, _) => Ok(()),
        (false, said) => Err(format!("kubectl apply: {said}").into()),
    }
}

/// How many GitSyncs are Ready=True, and a line for each of the others.
pub fn readiness(cluster: &TestCluster) -> Result<(usize, Vec<String>)> {
    let text = cluster.kubectl_ok(&["get", "gitsyncs", "-n", "default", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&text)?;
    let mut ready = 0;
    let mut others = Vec::new();
    for item in list["items"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        match cluster::condition(item, "Ready") {
            Some(c) if c["status"] == "True" => ready += 1,
            Some(c) => others.push(format!(
                "  {}: Ready={} {}: {}",
                item["metadata"]["name"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or("?"),
                c["message"].as_str().unwrap_or("?")
            )),
            None => others.push(format!(
                "  {}: no Ready condition yet",
                item["metadata"]["name"].as_str().unwrap_or("?")
            )),
        }
    }
    Ok((ready, others))
}

/// `gitsync operator` as a process, killed when dropped.
pub struct Operator {
    pub child: Child,
    pub metrics_url: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
}

/// CPU seconds: the process's own, and with the children it has waited for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub own: f64,
    pub total: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, other: Cpu) -> Cpu {
        Cpu {
            own: self.own - other.own,
            total: self.total - other.total,
        }
    }
}

impl Operator {
    pub fn start(kubeconfig: &Path, state: &Path, log: &Path) -> Result<Operator> {
        std::fs::create_dir_all(state)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_gitsync"))
            .arg("operator")
            .arg("--state-dir")
            .arg(state)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--identity", "bench", "--lease-namespace", "default"])
            .args(["--log-format", "text", "--log-level", "warn"])
            .env("KUBECONFIG", kubeconfig)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        Ok(Operator {
            child,
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&self) -> Result<()> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .map_err(|e| format!("the operator is gone: {e}"))?;
        match stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z'))
        {
            Some(false) => Ok(()),
            _ => Err("the operator exited".into()),
        }
    }

    pub fn metrics(&self, rt: &tokio::runtime::Runtime) -> Result<String> {
        rt.block_on(async {
            let response = reqwest::Client::new()
                .get(&self.metrics_url)
                .header("Accept", "text/plain")
                .timeout(Duration::from_secs(10))
                .send()
                .await?
                .error_for_status()?;
            Ok(response.text().await?)
        })
    }

    pub fn wait_for_lease(&self, rt: &tokio::runtime::Runtime, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.alive()?;
            if let Ok(text) = self.metrics(rt)
                && text.lines().any(|l| l == "gitsync_leader 1")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the operator did not take the Lease in {timeout:?}").into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn memory(&self) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> Result<u64> {
            let line = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .ok_or_else(|| format!("{name} missing from /proc/PID/status"))?;
            Ok(line.trim().trim_end_matches("kB").trim().parse()?)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
            anon_kib: field("RssAnon:")?,
            file_kib: field("RssFile:")?,
            threads: field("Threads:")?,
        })
    }

    pub fn cpu(&self) -> Result<Cpu> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name: state is field 3, utime 14, stime 15, cutime 16,
        // cstime 17.
        let rest = stat
            .rsplit_once(") ")
            .map(|(_, r)| r)
            .ok_or("unexpected /proc/PID/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| -> Result<f64> {
            Ok(fields
                .get(i)
                .ok_or("short /proc/PID/stat")?
                .parse::<f64>()?
                / clock_ticks())
        };
        let own = tick(11)? + tick(12)?;
        Ok(Cpu {
            own,
            total: own + tick(13)? + tick(14)?,
        })
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of every series of `metric` whose labels contain all of `labels`.
pub fn metric_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(metric)?;
            let matches = (rest.is_empty() || rest.starts_with('{'))
                && labels.iter().all(|want| rest.contains(want));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The shared machine line, with the clock tick the CPU figures are counted in.
pub fn machine() -> String {
    format!("{}, CLK_TCK {}", crate::common::machine(), clock_ticks())
}
