//! `gitsync apply`: carry out a plan (a file from `gitsync plan --out`, or one made on the spot
//! with `--dir --auto-approve`), then rewrite the tree with what the workspace now holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::plan::{WorkspaceArgs, plan_dir, write_plan};
use crate::model::ResourceType;
use crate::sync::apply::{
    self, ApplyError, ApplyOptions, ApplyProgress, DirSink, FileJournal, JournalError,
    JournalStore, Session, Step,
};
use crate::sync::plan::{self, Plan, PlanKey};
use crate::sync::secrets::SecretSource;
use crate::workspace::{Client, Workspace};

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
/// One apply of a plan (or of a directory) runs at a time: a second one is refused, naming the
/// first. --abandon gives an interrupted apply up.
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
    /// Create a resource even when the workspace already holds an identical one this apply did
    /// not make (by default such a create is refused: it may be this plan, applied before from
    /// another checkout).
    #[arg(long)]
    pub allow_duplicates: bool,
    /// Give up the interrupted apply of PLAN (or of --dir DIR): its journal is removed; what it
    /// applied stays applied, and a new plan shows what is left.
    #[arg(long)]
    pub abandon: bool,
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

/// Reads a plan file, sealed for this workspace token.
fn read_plan(path: &Path, key: &PlanKey) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    Plan::from_json(&text, key).map_err(|e| match e {
        plan::PlanFileError::NotAPlan(_) => format!(
            "{}: {e}; make one with `gitsync plan --out`",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })
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

/// An engine error with the remedy this command line offers.
fn explained(e: &ApplyError, again: &str) -> String {
    match e {
        ApplyError::DeletesNotAllowed(_) => {
            format!("{e}\nCheck the plan, then apply with --allow-deletes.")
        }
        ApplyError::Duplicate { .. } => {
            format!("{e}\nTo create it anyway: {again} --allow-duplicates")
        }
        ApplyError::Journal(JournalError::OtherPlan { .. }) => format!(
            "{e}\nTo finish it, apply that plan again; to abandon it (what it applied stays applied; a new plan shows what is left): {again} --abandon"
        ),
        ApplyError::Journal(JournalError::Busy { .. }) => {
            format!("{e}\nWait for it to end, then run this again.")
        }
        _ => e.to_string(),
    }
}

/// Applies `made` with the journal in `store`, rewriting `tree`; prints the report. `again` is
/// the command that runs this apply again, for the remedies offered.
pub(super) async fn run_session<S: JournalStore>(
    client: &Client,
    made: Plan,
    store: S,
    tree: &Path,
    args: &ApplyArgs,
    secrets: &dyn SecretSource,
    again: &str,
) -> Result<bool, String> {
    let mut session = Session::open(made, store, &apply::session::this_process())
        .await
        .map_err(|e| explained(&e, again))?;
    if session.is_resuming() {
        eprintln!(
            "Resuming the interrupted apply recorded in {}.",
            session.journal()
        );
    }
    if !args.no_pace {
        let expected = session.expected_duration();
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
        pace: (!args.no_pace).then_some(apply::pace::WINDOW),
        allow_duplicates: args.allow_duplicates,
    };
    let mut sink = DirSink::new(tree);
    let report = session
        .run(client, &mut sink, &options, &mut Lines)
        .await
        .map_err(|e| explained(&e, again))?;
    let text = apply::show::text(&report);
    if report.succeeded() {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
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
            (Some(path), _) => apply_file(&client, path, args, secrets.as_ref()).await,
            (None, Some(dir)) => {
                if !args.auto_approve && !args.abandon {
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

fn journal_of(plan: &Path) -> PathBuf {
    let mut journal = plan.as_os_str().to_owned();
    journal.push(".journal");
    PathBuf::from(journal)
}

async fn apply_file(
    client: &Client,
    path: &Path,
    args: &ApplyArgs,
    secrets: &dyn SecretSource,
) -> Result<bool, String> {
    let journal = journal_of(path);
    if args.abandon {
        return abandon(FileJournal::new(&journal), None).await;
    }
    let made = read_plan(path, &PlanKey::new(client.point_key()))?;
    let Some(tree) = made.dir.clone() else {
        return Err(format!(
            "{}: the plan does not record the directory it was made from; make it with `gitsync plan --dir DIR --out PLAN`",
            path.display()
        ));
    };
    let again = format!("gitsync apply {}", path.display());
    run_session(
        client,
        made,
        FileJournal::new(journal),
        Path::new(&tree),
        args,
        secrets,
        &again,
    )
    .await
}

/// Removes an interrupted apply's journal (and, for `--dir`, its plan).
async fn abandon(mut store: FileJournal, plan: Option<&Path>) -> Result<bool, String> {
    store
        .acquire(&apply::session::this_process())
        .await
        .map_err(|e| e.to_string())?;
    store.remove().await.map_err(|e| e.to_string())?;
    if let Some(plan) = plan {
        match std::fs::remove_file(plan) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", plan.display())),
        }
    }
    println!(
        "Abandoned the apply recorded in {}: what it applied stays applied; a new plan shows what is left.",
        store.path().display()
    );
    Ok(true)
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
    std::fs::create_dir_all(&state)
        .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    let mut store = FileJournal::new(&journal_path);
    if args.abandon {
        return abandon(store, Some(&plan_path)).await;
    }
    // Held from before the plan is made: a second `apply --dir` of the same tree is refused
    // here, naming this one.
    let holder = apply::session::this_process();
    store
        .acquire(&holder)
        .await
        .map_err(|e| explained(&ApplyError::Journal(e), ""))?;
    let key = PlanKey::new(client.point_key());
    let again = format!("gitsync apply --dir {} --auto-approve", dir.display());
    let finished = |state: &Path| {
        let _ = std::fs::remove_file(state.join("plan.json"));
        let _ = std::fs::remove_file(state.join("journal"));
    };
    if plan_path.exists() {
        eprintln!(
            "Resuming the interrupted apply of {} (its plan is {}).",
            dir.display(),
            plan_path.display()
        );
        let made = read_plan(&plan_path, &key)?;
        match run_session(client, made, store, dir, args, secrets, &again).await {
            Ok(true) => finished(&state),
            Ok(false) => return Ok(false),
            Err(e) => {
                return Err(format!(
                    "{e}\nThe interrupted apply of {} cannot go on as planned. To give it up (what it applied stays applied; a new plan shows what is left): gitsync apply --dir {} --abandon",
                    dir.display(),
                    dir.display()
                ));
            }
        }
        store = FileJournal::new(&journal_path);
        store.acquire(&holder).await.map_err(|e| e.to_string())?;
    }
    let mut made = plan_dir(client, &args.workspace, dir, args.base.as_deref(), secrets).await?;
    made.workspace = Some(args.workspace.recorded());
    print!("{}", plan::human(&made));
    if !made.conflicts.is_empty() {
        return Ok(false);
    }
    if made.changes.is_empty() {
        return Ok(true);
    }
    write_plan(&plan_path, &made, &key)?;
    match run_session(client, made, store, dir, args, secrets, &again).await {
        Ok(true) => {
            finished(&state);
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => {
            // Refused before any request was sent: there is nothing to resume.
            if !apply::store::has_begun(&journal_path) {
                finished(&state);
            }
            Err(e)
        }
    }
}
