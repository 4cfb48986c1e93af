//! `gitsync apply`: carry out a plan (a file from `gitsync plan --out`, or one made on the spot
//! with `--dir --auto-approve`), then rewrite the tree with what the workspace now holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::plan::{WorkspaceArgs, make_plan, write_plan};
use crate::model::ResourceType;
use crate::sync::apply::{self, ApplyOptions, ApplyProgress, ApplyReport, Journal, Op, Step};
use crate::sync::plan::{self, PLAN_FORMAT, PLAN_VERSION, Plan};
use crate::sync::secrets::SecretSource;
use crate::workspace::Client;

/// Apply a plan to the workspace, then rewrite the files of what it created or changed.
///
/// PLAN is a file written by `gitsync plan --out`. It is refused when it is stale: the files
/// changed since it was made, or a resource it touches changed in the workspace (make a new
/// plan). A plan that deletes (or replaces) needs --allow-deletes.
///
/// Every request is recorded in PLAN.journal before it is sent and after it is answered. If the
/// apply stops (a rejected request, a lost connection, a kill), run the same command again: it
/// does only what remains and never creates a resource twice.
///
/// Writes are paced to Segment's published limits (5 subscription writes and 60 label or IAM
/// writes a minute); the expected time is shown first. Afterwards each created resource's file
/// is written under its id-based name and the file that asked for it removed, as Segment's Git
/// Sync does; commit the result.
///
/// With --dir DIR --auto-approve, the plan is made and applied at once; its plan and journal
/// are kept under the cache directory until it completes, so that an interrupted run resumes.
///
/// Exit status: 0 when everything was applied, 1 when something was refused or failed (the
/// report says what was applied and what was not), 2 on usage errors.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  gitsync apply change.plan --workspace us --token-file token
  gitsync apply change.plan --workspace us --token-file token --allow-deletes --secrets prod.env
  gitsync apply --dir segment-config --auto-approve --workspace http://127.0.0.1:8420 \\
    --token-file token --no-pace")]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// The plan file `gitsync plan --out` wrote.
    #[arg(
        value_name = "PLAN",
        required_unless_present = "dir",
        conflicts_with = "dir"
    )]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Plan the tree in DIR and apply it at once (needs --auto-approve).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// With --dir: the Git revision to plan against, as `gitsync plan --base`.
    #[arg(long, value_name = "REV", requires = "dir")]
    pub base: Option<String>,
    /// With --dir: apply without showing the plan for approval first.
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow the deletes (and replaces) the plan holds.
    #[arg(long)]
    pub allow_deletes: bool,
    /// Do not pace writes to Segment's per-operation limits (for a workspace without them, such
    /// as the embedded one).
    #[arg(long)]
    pub no_pace: bool,
}

/// Progress on stderr: one line per step.
struct Lines;

impl ApplyProgress for Lines {
    fn step(&mut self, n: usize, total: usize, step: &Step) {
        eprintln!("[{n}/{total}] {step}");
    }

    fn waiting(&mut self, wait: Duration, ty: ResourceType) {
        eprintln!(
            "        waiting {:.0}s for Segment's write limit on {}",
            wait.as_secs_f64().ceil(),
            ty.kind().directory
        );
    }
}

fn read_plan(path: &Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    let made: Plan = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a gitsync plan ({e}); make one with `gitsync plan --out`",
            path.display()
        )
    })?;
    if made.format != PLAN_FORMAT || made.version != PLAN_VERSION {
        return Err(format!(
            "{} is a `{}` document version {}; this gitsync applies `{PLAN_FORMAT}` version {PLAN_VERSION}: make a new plan",
            path.display(),
            made.format,
            made.version
        ));
    }
    Ok(made)
}

/// Where `apply --dir` keeps the plan and journal of an apply in progress.
fn state_dir(dir: &Path) -> Result<PathBuf, String> {
    use sha2::Digest;
    let cache = crate::git::cache::default_dir().map_err(|e| e.to_string())?;
    let root = cache.parent().map(Path::to_path_buf).unwrap_or(cache);
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let hash = hex::encode(sha2::Sha256::digest(
        absolute.as_os_str().as_encoded_bytes(),
    ));
    Ok(root.join("applies").join(&hash[..16]))
}

fn print_report(report: &ApplyReport) {
    for r in &report.rewritten {
        match &r.removed {
            Some(old) => println!("rewrote {} (was {old})", r.path),
            None => println!("rewrote {}", r.path),
        }
    }
    if !report.already_done.is_empty() {
        println!(
            "{} step(s) were done by an earlier run of this plan.",
            report.already_done.len()
        );
    }
    for s in &report.reconciled {
        println!("found done in the workspace (its answer had been lost): {s}");
    }
    match &report.failed {
        None => {
            // What this run did (an earlier run's steps were reported by that run).
            let ran: Vec<&Step> = report.reconciled.iter().chain(&report.applied).collect();
            let count = |op: Op| ran.iter().filter(|s| s.op == op).count();
            if ran.is_empty() {
                println!("Nothing left to apply: an earlier run of this plan did every step.");
            } else {
                println!(
                    "Apply complete! Resources: {} added, {} changed, {} destroyed.",
                    count(Op::Create),
                    count(Op::Update),
                    count(Op::Delete)
                );
            }
        }
        Some((step, error)) => {
            eprintln!("error: {step} failed: {error}");
            let list = |title: &str, steps: &[&Step]| {
                eprintln!("{title} ({}):", steps.len());
                for s in steps {
                    eprintln!("  {s}");
                }
            };
            let applied: Vec<&Step> = report
                .already_done
                .iter()
                .chain(&report.reconciled)
                .chain(&report.applied)
                .collect();
            list("applied", &applied);
            list("failed", &[step]);
            list("not tried", &report.not_tried.iter().collect::<Vec<_>>());
            eprintln!(
                "Fix the cause and run the same command again: it does only what remains. If the files or the workspace changed meanwhile, make a new plan."
            );
        }
    }
}

pub(super) async fn run_plan(
    client: &Client,
    made: &Plan,
    journal_path: &Path,
    tree: Option<&Path>,
    args: &ApplyArgs,
    secrets: &dyn SecretSource,
) -> Result<bool, String> {
    let mut journal =
        Journal::open(journal_path, &apply::plan_fingerprint(made)).map_err(|e| e.to_string())?;
    let steps = apply::steps(made).map_err(|e| e.to_string())?;
    if !args.no_pace {
        let writes = steps
            .iter()
            .filter(|s| journal.done(s.step).is_none())
            .map(|s| (s.ty, s.op.into()));
        let expected = apply::pace::expected_duration(writes);
        if !expected.is_zero() {
            eprintln!(
                "Segment's write limits make this apply take at least {} minute(s).",
                expected.as_secs().div_ceil(60)
            );
        }
    }
    let options = ApplyOptions {
        allow_deletes: args.allow_deletes,
        secrets,
        tree,
        pace: (!args.no_pace).then_some(apply::pace::WINDOW),
    };
    let mut progress = Lines;
    let report = apply::apply(client, made, &mut journal, &options, &mut progress)
        .await
        .map_err(|e| e.to_string())?;
    print_report(&report);
    Ok(report.succeeded())
}

pub fn run(args: &ApplyArgs) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| super::fail(args.workspace.scrub(&e.to_string()));
    let (client, secrets) = match args.workspace.connect() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    super::block_on(async move {
        let outcome = match (&args.plan, &args.dir) {
            (Some(path), _) => {
                let made = match read_plan(path) {
                    Ok(p) => p,
                    Err(e) => return fail(&e),
                };
                if let Some(recorded) = &made.workspace
                    && *recorded != args.workspace.recorded()
                {
                    return fail(&format!(
                        "the plan was made against the workspace {recorded}, not {}; make a plan for this workspace",
                        args.workspace.recorded()
                    ));
                }
                let tree = made.dir.as_deref().map(Path::new);
                let mut journal = path.as_os_str().to_owned();
                journal.push(".journal");
                run_plan(
                    &client,
                    &made,
                    Path::new(&journal),
                    tree,
                    args,
                    secrets.as_ref(),
                )
                .await
            }
            (None, Some(dir)) => {
                if !args.auto_approve {
                    return fail(
                        &"apply --dir makes a plan and applies it without showing it first: pass --auto-approve to confirm, or review `gitsync plan --out PLAN` and apply that",
                    );
                }
                apply_dir(&client, dir, args, secrets.as_ref()).await
            }
            (None, None) => return fail(&"give a PLAN file or --dir DIR"),
        };
        match outcome {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(&e),
        }
    })
}

async fn apply_dir(
    client: &Client,
    dir: &Path,
    args: &ApplyArgs,
    secrets: &dyn SecretSource,
) -> Result<bool, String> {
    let state = state_dir(dir)?;
    let plan_path = state.join("plan.json");
    let journal_path = state.join("journal");
    if plan_path.exists() {
        eprintln!(
            "Resuming the interrupted apply of {} (its plan is {}).",
            dir.display(),
            plan_path.display()
        );
        let made = read_plan(&plan_path)?;
        match run_plan(client, &made, &journal_path, Some(dir), args, secrets).await {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) if !apply::journal::has_begun(&journal_path) => {
                let _ = std::fs::remove_dir_all(&state);
                return Err(e);
            }
            Err(e) => {
                return Err(format!(
                    "{e}\nThe interrupted apply cannot go on. To abandon it (what it applied stays applied; a new plan shows the rest), remove {}",
                    state.display()
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&state);
    }
    let made = make_plan(client, &args.workspace, dir, args.base.as_deref(), secrets).await?;
    print!("{}", plan::human(&made));
    if !made.conflicts.is_empty() {
        return Ok(false);
    }
    if made.changes.is_empty() {
        return Ok(true);
    }
    std::fs::create_dir_all(&state)
        .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    write_plan(&plan_path, &made)?;
    match run_plan(client, &made, &journal_path, Some(dir), args, secrets).await {
        Ok(true) => {
            let _ = std::fs::remove_dir_all(&state);
            Ok(true)
        }
        Ok(false) => Ok(false),
        // Refused before any request was sent: there is nothing to resume.
        Err(e) if !apply::journal::has_begun(&journal_path) => {
            let _ = std::fs::remove_dir_all(&state);
            Err(e)
        }
        Err(e) => Err(e),
    }
}
