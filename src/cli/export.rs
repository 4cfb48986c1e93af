//! `gitsync export`: write a whole workspace into a directory, in the Git Sync layout.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::model::ResourceType;
use crate::sync::export::{Progress, render_workspace, write_tree};
use crate::url::scrub_urls;
use crate::workspace::{Client, ClientConfig};

/// Export a workspace into DIR as Terraform HCL, exactly as Segment's Git Sync writes it.
///
/// Only the resource directories (sources/, destinations/, ...) of the exported types are
/// written: files of resources that no longer exist are removed, and anything else in DIR
/// (README, providers.tf, CI files) is left alone.
///
/// Export never follows a symbolic link out of DIR: a resource directory or resource file that
/// is a link is an error that names it, and then nothing is written or removed. Files are
/// written through temporary files named .gitsync-tmp-*; leftovers of an interrupted export are
/// removed by the next one. New files get the usual permissions (0666 less the umask).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync export --workspace us --token-file token --out segment-config
  gitsync export --workspace http://127.0.0.1:8420 --token-file token --out repo \\
    --types sources,destinations")]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// `us`, `eu`, or the base URL of a workspace API (such as the embedded workspace).
    #[arg(long, value_name = "URL")]
    workspace: String,
    /// File holding the Public API token (default: the PUBLIC_API_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Resource types to export, by directory or Terraform name (default: all that Git Sync
    /// exports): --types sources,destinations
    #[arg(long, value_delimiter = ',', value_name = "TYPES")]
    types: Vec<String>,
}

/// Reads the token: from a file (trimmed) or from PUBLIC_API_TOKEN; names the source.
pub fn read_token(token_file: Option<&PathBuf>) -> Result<(String, String), String> {
    match token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
            let token = token.trim().to_owned();
            if token.is_empty() {
                return Err(format!("the token file {} is empty", path.display()));
            }
            Ok((token, format!("--token-file {}", path.display())))
        }
        None => match std::env::var("PUBLIC_API_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Ok((t.trim().to_owned(), "PUBLIC_API_TOKEN".into())),
            _ => Err("no token: pass --token-file FILE or set PUBLIC_API_TOKEN".into()),
        },
    }
}

/// A progress line on a terminal, nothing otherwise.
struct Line {
    tty: bool,
    total: usize,
}

impl Progress for Line {
    fn listed(&mut self, ty: ResourceType, count: usize) {
        self.total += count;
        if self.tty {
            eprint!(
                "\r\x1b[2Kexporting: {} {} ({} so far)",
                count,
                ty.kind().directory,
                self.total
            );
        }
    }
}

pub fn run(args: &ExportArgs) -> ExitCode {
    // Messages may quote the workspace URL as given; never with the credentials it carries.
    let urls = [args.workspace.as_str()];
    let fail = |e: &dyn std::fmt::Display| super::fail(scrub_urls(&e.to_string(), &urls));
    let types = match crate::sync::export::parse_types(&args.types) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let (token, source) = match read_token(args.token_file.as_ref()) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let client = match Client::new(ClientConfig::new(
        ClientConfig::base_url_for(&args.workspace),
        token,
        source,
    )) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    super::block_on(async move {
        let mut progress = Line { tty, total: 0 };
        let (tree, counts) = match render_workspace(&client, &types, &mut progress).await {
            Ok(r) => r,
            Err(e) => {
                if tty {
                    eprintln!();
                }
                return fail(&e);
            }
        };
        if tty {
            eprint!("\r\x1b[2K");
        }
        // Placeholders the files already hold stay placeholders.
        let mut tree = tree;
        crate::sync::export::keep_placeholders(&mut tree, |path| {
            std::fs::read_to_string(args.out.join(path)).ok()
        });
        let written = match write_tree(&args.out, &types, &tree) {
            Ok(w) => w,
            Err(e) => return fail(&e),
        };
        for (ty, n) in &counts {
            println!("{:>8}  {}", n, ty.kind().directory);
        }
        println!(
            "{:>8}  resources exported to {} in {:.1}s ({} written, {} unchanged, {} removed)",
            tree.len(),
            args.out.display(),
            started.elapsed().as_secs_f64(),
            written.written,
            written.unchanged,
            written.removed
        );
        ExitCode::SUCCESS
    })
}
