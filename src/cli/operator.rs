//! `gitsync operator` (run the controllers) and `gitsync full-sync` (ask a GitSync for a full
//! sync and wait for it, the way `flux reconcile` does).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::operator::runtime::{OperatorConfig, run};
use crate::sync::interval::Interval;
use crate::telemetry::logs::{LogFormat, init};

/// Run the operator: the GitSync, GitConnection and SyncSecret controllers.
///
/// It reads the cluster from the in-cluster service account or from KUBECONFIG. Replicas elect a
/// leader on a Lease; only the leader syncs, the others stand by (and report ready). Health and
/// metrics are served on --listen: /healthz, /readyz, /metrics.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync operator --log-format text --state-dir /tmp/gitsync   # against the KUBECONFIG cluster
  gitsync operator --namespace team-a --label-selector shard=a --concurrency 4
  gitsync operator --webhook-listen 0.0.0.0:8081   # GitHub/GitLab webhooks to http://HOST:8081/hooks/github")]
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
    /// Take GitHub and GitLab webhook deliveries on this address (POST /hooks/github and
    /// /hooks/gitlab; default: no listener). A delivery must verify against the webhookSecretRef
    /// of a GitSync with bidirectional.enabled that syncs its repository, and wakes that GitSync
    /// to look at the pull request again. Only the replica holding the Lease takes deliveries
    /// (the others answer 503).
    #[arg(long, value_name = "ADDR")]
    webhook_listen: Option<SocketAddr>,
    /// This replica's own Pod (in POD_NAMESPACE, else the Lease's namespace): labelled gitsync.dev/leader=true while it
    /// holds the Lease, so that a Service selecting the label (the webhook Service) routes to
    /// the leader only (default: no label). Needs `patch` on pods in that namespace.
    #[arg(long, env = "POD_NAME", value_name = "NAME")]
    pod_name: Option<String>,
    /// The Lease replicas compete for.
    #[arg(long, default_value = "gitsync-operator")]
    lease_name: String,
    /// The Lease's namespace (default: --namespace, or POD_NAMESPACE, or `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's name in the Lease (default: POD_NAME, or the host name and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long a Lease stays valid without renewal (how long a standby waits for a dead
    /// leader): whole seconds, such as 15 or 1m.
    #[arg(long, value_name = "DURATION", default_value = "15", value_parser = lease_seconds)]
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
        webhook_listen: args.webhook_listen,
        pod_name: args.pod_name.clone().filter(|n| !n.is_empty()),
        pod_namespace: std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty()),
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
    /// How long to wait, such as 30s, 5m or 1m30s, at most 24h.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = Interval::from_flag)]
    timeout: Interval,
}

/// `--lease-seconds`: a duration flag, in whole seconds (the Lease counts nothing finer).
fn lease_seconds(s: &str) -> Result<u64, String> {
    let d = Interval::from_flag(s)
        .map_err(|e| e.to_string())?
        .duration();
    if d.subsec_nanos() != 0 {
        return Err(format!(
            "`{s}` is not a whole number of seconds, which is what a Lease counts"
        ));
    }
    Ok(d.as_secs())
}

pub fn run_full_sync(args: &FullSyncArgs) -> ExitCode {
    super::block_on(async move {
        match crate::operator::request::full_sync(
            &args.name,
            args.namespace.as_deref(),
            args.wait.then_some(args.timeout.duration()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_seconds_take_bare_seconds_or_a_duration_in_whole_seconds() {
        assert_eq!(lease_seconds("15"), Ok(15));
        assert_eq!(lease_seconds("1m"), Ok(60));
        assert!(lease_seconds("1500ms").is_err());
        assert!(lease_seconds("0").is_err());
        // Was a u64 handed to the Lease as it was.
        assert!(lease_seconds("3381903080180084463").is_err_and(|e| e.contains("longer than 24h")));
    }
}
