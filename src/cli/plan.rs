//! `gitsync plan`: what applying a tree of files would change in the workspace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::sync::plan::{self, Plan, PlanKey};
use crate::sync::secrets::{Chain, EnvSecrets, FileSecrets, SecretSource};
use crate::sync::tree::DirTree;
use crate::url::scrub_urls;
use crate::workspace::Workspace;
use crate::workspace::{Client, ClientConfig};

/// Where the workspace is and how to reach it: the flags plan and apply share.
#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    /// `us`, `eu`, or the base URL of a workspace API (such as the embedded workspace).
    #[arg(long, value_name = "URL")]
    pub workspace: String,
    /// File holding the Public API token (default: the PUBLIC_API_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// File of `name=value` lines giving the secrets that @@name@@ placeholders stand for; a
    /// placeholder it lacks is read from the environment variable GITSYNC_SECRET_<name>.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// When planning: send the secret of @@NAME@@ even where the plan cannot tell it from the one
    /// the workspace holds (Segment shows a secret only by its last four characters, none under
    /// 8 characters); repeatable.
    #[arg(long = "send-secret", value_name = "NAME")]
    pub send_secrets: Vec<String>,
}

impl WorkspaceArgs {
    pub fn client(&self) -> Result<Client, String> {
        let (token, source) = super::export::read_token(self.token_file.as_ref())?;
        Client::new(ClientConfig::new(
            ClientConfig::base_url_for(&self.workspace),
            token,
            source,
        ))
        .map_err(|e| e.to_string())
    }

    pub fn secrets(&self) -> Result<Box<dyn SecretSource>, String> {
        let mut sources: Vec<Box<dyn SecretSource>> = Vec::new();
        if let Some(path) = &self.secrets {
            sources.push(Box::new(
                FileSecrets::read(path).map_err(|e| e.to_string())?,
            ));
        }
        sources.push(Box::new(EnvSecrets));
        Ok(Box::new(Chain(sources)))
    }

    /// The client and the secrets: what every command that writes the workspace starts with.
    pub fn connect(&self) -> Result<(Client, Box<dyn SecretSource>), String> {
        Ok((self.client()?, self.secrets()?))
    }

    /// The workspace as a plan records it: without credentials.
    pub fn recorded(&self) -> String {
        crate::url::redacted(&ClientConfig::base_url_for(&self.workspace))
    }

    /// Scrubs the workspace URL's credentials out of a message.
    pub fn scrub(&self, text: &str) -> String {
        scrub_urls(text, &[self.workspace.as_str()])
    }
}

/// Show what applying the files in DIR would change in the workspace, without changing it.
///
/// Each resource file is compared with the workspace. With --base REV, only the files that
/// changed since that Git revision are planned, each three ways: the base file, the file now
/// and the workspace. A value the workspace changed since the base that the files change too is
/// a conflict (the plan refuses, showing both); a workspace change the files do not touch is kept.
///
/// A @@name@@ placeholder stands for a secret given with --secrets or GITSYNC_SECRET_<name>;
/// the plan never holds or prints a secret. --out writes the plan for `gitsync apply`; --json
/// prints the same document (format "gitsync-plan", version 1; see docs/plan-format.md), and
/// --format markdown prints the plan for a pull-request comment.
///
/// Exit status: 0 when the plan was made (with or without changes), 1 on conflicts or errors,
/// 2 on usage errors. With --detailed-exitcode, as Terraform's: 0 for no changes, 2 for
/// changes, 1 on conflicts or errors.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync plan --workspace us --token-file token --dir segment-config
  gitsync plan --workspace us --token-file token --dir . --base origin/main --out change.plan
  gitsync plan --workspace http://127.0.0.1:8420 --token-file token --dir . --json")]
#[command(verbatim_doc_comment)]
pub struct PlanArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// The tree of resource files (the root holding sources/, destinations/, ...).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// A Git revision of the repository holding DIR to compare against (three-way).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Write the plan to this file, for `gitsync apply PLAN`.
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// How to print the plan: `text` (as Terraform does), `markdown` (for a pull-request
    /// comment), or `json` (the plan document).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Print the plan as JSON (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when the plan has changes and 0 when it has none (as Terraform's
    /// -detailed-exitcode), for a CI step that acts only on a change.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// How `gitsync plan` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Markdown,
    Json,
}

/// What the printed plan can say beyond the plan itself: which top-level directories of the
/// tree still hold files (a plan that empties one says so), and the text of the files with
/// conflicts (each is placed at its line).
fn view_context(made: &Plan, dir: &Path) -> plan::ViewContext {
    let dirs = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| f.path().extension().is_some_and(|e| e == "tf"))
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    let sources = made
        .conflicts
        .iter()
        .filter_map(|c| {
            let text = std::fs::read_to_string(dir.join(&c.file)).ok()?;
            Some((c.file.clone(), text))
        })
        .collect();
    plan::ViewContext {
        tree_dirs: Some(dirs),
        sources,
        ..plan::ViewContext::default()
    }
}

/// The plan as `format` prints it.
fn printed(made: &Plan, format: OutputFormat, dir: &Path, key: &PlanKey) -> Result<String, String> {
    match format {
        OutputFormat::Json => Ok(format!("{}\n", made.to_json(key))),
        OutputFormat::Text => Ok(plan::text(made, &view_context(made, dir))),
        OutputFormat::Markdown => Ok(plan::markdown(made, &view_context(made, dir))),
    }
}

/// How a user of the command line gives the secrets a plan asks for.
const SECRETS_REMEDY: &str = "Give each secret in the --secrets file (`name=value` lines) or as the environment variable GITSYNC_SECRET_<name>.";

/// Makes the plan for a directory (the engine's [`plan::plan_tree`]), recording the workspace
/// as given: the one way both `plan` and `apply --dir` make theirs.
pub async fn plan_dir(
    client: &Client,
    workspace: &WorkspaceArgs,
    dir: &Path,
    base: Option<&str>,
    secrets: &dyn SecretSource,
) -> Result<Plan, String> {
    let send: std::collections::BTreeSet<String> = workspace.send_secrets.iter().cloned().collect();
    let mut made = plan::plan_tree(client, &DirTree::new(dir), base, secrets, &send)
        .await
        .map_err(|e| match &e {
            plan::PlanTreeError::Plan(p) if p.asks_for_secrets() => {
                format!("{e}\n{SECRETS_REMEDY}")
            }
            _ => e.to_string(),
        })?;
    // A note that offers to send a placeholder anyway says how, in the command line's terms.
    for note in &mut made.notes {
        if note.remedy == Some(crate::sync::diagnostic::Remedy::SendSecretAnyway) {
            note.message.push_str(" (--send-secret NAME)");
        }
    }
    made.workspace = Some(workspace.recorded());
    Ok(made)
}

/// Writes a plan file, sealed (through a temporary file: a reader never sees half a plan).
pub fn write_plan(path: &Path, made: &Plan, key: &PlanKey) -> Result<(), String> {
    crate::sync::export::write_atomically(path, made.to_json(key).as_bytes(), None, true)
        .map_err(|e| format!("cannot write the plan {}: {e}", path.display()))
}

pub fn run(args: &PlanArgs) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| super::fail(args.workspace.scrub(&e.to_string()));
    let (client, secrets) = match args.workspace.connect() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    super::block_on(async move {
        let made = match plan_dir(
            &client,
            &args.workspace,
            &args.dir,
            args.base.as_deref(),
            secrets.as_ref(),
        )
        .await
        {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        let key = PlanKey::new(client.point_key());
        let format = if args.json {
            OutputFormat::Json
        } else {
            args.format
        };
        match printed(&made, format, &args.dir, &key) {
            Ok(text) => print!("{text}"),
            Err(e) => return fail(&e),
        }
        // The text shows the notes among the plan; a document for a machine or a comment holds
        // them too, and the person running the command reads them on stderr.
        if format != OutputFormat::Text {
            for note in &made.notes {
                eprintln!("{}: {note}", note.severity);
            }
        }
        if !made.conflicts.is_empty() {
            return ExitCode::FAILURE;
        }
        if let Some(out) = &args.out {
            if let Err(e) = write_plan(out, &made, &key) {
                return fail(&e);
            }
            if format == OutputFormat::Text {
                println!(
                    "\nSaved the plan to {}. To apply it: gitsync apply {} --workspace {}{}",
                    out.display(),
                    out.display(),
                    args.workspace.recorded(),
                    if made.deletes().next().is_some() {
                        " --allow-deletes"
                    } else {
                        ""
                    }
                );
            }
        }
        if args.detailed_exitcode && !made.changes.is_empty() {
            return ExitCode::from(2);
        }
        ExitCode::SUCCESS
    })
}
