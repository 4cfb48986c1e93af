//! `gitsync operator` (run the controllers) and `gitsync full-sync` (ask a GitSync for a full
//! sync and wait for it, the way `flux reconcile` does).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::operator::runtime::{OperatorConfig, run};
use crate::telemetry::logs::{LogFormat, init};

/// Run the operator: the GitSync, GitConnection and SyncSecret controllers.
///
/// It reads the cluster from the in-cluster service account or from KUBECONFIG. Replicas elect a
/// leader on a Lease; only the leader syncs, the others stand by (and report ready). Health and
/// metrics are served on --listen: /healthz, /readyz, /metrics.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync operator --log-format text --state-dir /tmp/gitsync   # against the KUBECONFIG cluster
  gitsync operator --namespace team-a --label-selector shard=a --concurrency 4")]
#[command(verbatim_doc_comment)]
pub struct OperatorArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "GITSYNC_NAMESPACE")]
    namespace: Option<String>,
    /// Watch only GitSyncs, GitConnections and SyncSecrets with these labels (e.g. shard=a).
    #[arg(long, env = "GITSYNC_LABEL_SELECTOR")]
    label_selector: Option<String>,
    /// Directory for cache repositories and credential files.
    #[arg(long, env = "GITSYNC_STATE_DIR", default_value = "/var/lib/gitsync")]
    state_dir: PathBuf,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The Lease replicas compete for.
    #[arg(long, default_value = "gitsync-operator")]
    lease_name: String,
    /// The Lease's namespace (default: --namespace, or POD_NAMESPACE, or `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's name in the Lease (default: POD_NAME, or the host name and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid without renewal (how long a standby waits for a dead leader).
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// How many GitSyncs may sync at the same time (full syncs of large workspaces use memory).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Log format.
    #[arg(long, value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Log filter (RUST_LOG overrides it).
    #[arg(long, default_value = "info")]
    log_level: String,
}

pub fn run_operator(args: &OperatorArgs) -> ExitCode {
    if let Err(e) = init(args.log_format, &args.log_level) {
        return super::fail(e);
    }
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "gitsync".into());
        format!("{host}-{}", std::process::id())
    });
    let config = OperatorConfig {
        namespace: args.namespace.clone(),
        label_selector: args.label_selector.clone(),
        state_dir: args.state_dir.clone(),
        listen: args.listen,
        lease_name: args.lease_name.clone(),
        lease_namespace: args
            .lease_namespace
            .clone()
            .or_else(|| args.namespace.clone())
            .unwrap_or_else(|| "default".into()),
        identity,
        lease_seconds: args.lease_seconds,
        concurrency: args.concurrency,
    };
    super::block_on(async move {
        match run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "the operator stopped");
                super::fail(e)
            }
        }
    })
}

/// Ask a GitSync for a full sync now (sets the gitsync.dev/full-sync-requested-at annotation).
///
/// With --wait, waits until the operator has handled the request and prints the result; the exit
/// code is 0 when the sync succeeded.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync full-sync segment-production -n team-a --wait
  gitsync full-sync segment-production --wait --timeout 10m")]
#[command(verbatim_doc_comment)]
pub struct FullSyncArgs {
    /// The GitSync's name.
    name: String,
    /// Its namespace (default: the kubeconfig's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// Wait for the result.
    #[arg(long)]
    wait: bool,
    /// How long to wait, such as 30s or 5m.
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::sync::runner::parse_interval(s)
        .ok_or_else(|| format!("`{s}` is not a duration like 30s or 5m"))
}

pub fn run_full_sync(args: &FullSyncArgs) -> ExitCode {
    super::block_on(async move {
        match crate::operator::request::full_sync(
            &args.name,
            args.namespace.as_deref(),
            args.wait.then_some(args.timeout),
        )
        .await
        {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(e) => super::fail(e),
        }
    })
}
