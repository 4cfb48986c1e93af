//! `gitsync crds`: the custom resource definitions, as YAML for `kubectl apply -f -`.

use std::process::ExitCode;

/// Print the CustomResourceDefinitions (GitConnection, GitSync, SyncSecret) as YAML.
///
/// The same YAML is in the repository's crds/ directory:
///   gitsync crds | kubectl apply --server-side -f -
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  gitsync crds | kubectl apply --server-side -f -
  gitsync crds > crds/gitsync.dev.yaml")]
#[command(verbatim_doc_comment)]
pub struct CrdsArgs {}

pub fn run(_: &CrdsArgs) -> ExitCode {
    match crate::operator::crd::crds_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(format!("cannot write the CRDs as YAML: {e}")),
    }
}
