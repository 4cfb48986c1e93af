//! The pull-request workflow (`gitsync::pulls`) end to end, without Kubernetes: the GitLab
//! double on loopback (its merge requests on a real bare repository), real Git, the embedded
//! workspace, and the forward sync writing the synced branch first. What a reviewer sees (the
//! notes, the commit statuses, the reactions), what the workspace holds and what the branch
//! holds are asserted.

use std::sync::Mutex;
use std::time::Duration;

use gitsync::forge::gitlab::GitLab;
use gitsync::git::remote::{Auth, Remote};
use gitsync::model::ResourceType;
use gitsync::pulls::comment::PLAN_MARK;
use gitsync::pulls::record::{PullRecord, Stage};
use gitsync::pulls::rules::Allowances;
use gitsync::pulls::{
    Happened, Journals, MemoryStash, Observer, Pass, PassOutcome, REWRITE_MESSAGE, Repository,
    Settings,
};
use gitsync::sync::apply::{MemoryJournal, MemoryJournals};
use gitsync::sync::runner::Syncer;
use gitsync::workspace::Workspace as _;

use crate::util::gitlab::{DEVELOPER, DoubleUser, GitLabDouble, REPORTER};
use crate::util::{TestWorkspace, git, sync_target, test_author};

const TOKEN: &str = "pulls-token";

struct Recorder {
    happened: Mutex<Vec<Happened>>,
    saved: Mutex<Vec<PullRecord>>,
}

impl Observer for Recorder {
    fn happened(&self, what: &Happened) {
        self.happened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what.clone());
    }
    async fn save(&self, record: &PullRecord) {
        self.saved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record.clone());
    }
}

struct OneJournal(MemoryJournals);

impl Journals for OneJournal {
    type Store = MemoryJournal;
    fn open(&self) -> MemoryJournal {
        self.0.journal("gitsync")
    }
}

/// What every world has: the embedded workspace synced into the forge's repository, and the
/// workflow's parts (cache, journal, stash, observer, settings, apply lock).
struct Parts {
    _ws: TestWorkspace,
    client: gitsync::workspace::Client,
    repository: Repository,
    journals: OneJournal,
    stash: MemoryStash,
    recorder: Recorder,
    settings: Settings,
    lock: std::sync::Arc<tokio::sync::RwLock<()>>,
    _root: tempfile::TempDir,
}

impl Parts {
    /// The seeded workspace, fully synced into `remote`'s `main`.
    async fn new(remote: Remote) -> Parts {
        let ws = TestWorkspace::seeded(Some(TOKEN)).await;
        let client = ws.client(TOKEN);
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = sync_target(root.path(), "sync-cache.git", remote.clone());
        let placeholders = target.placeholders.clone();
        let mut syncer = Syncer::new(
            client.clone(),
            target,
            ResourceType::git_sync_types().collect(),
        );
        syncer
            .start(false)
            .await
            .unwrap_or_else(|e| panic!("the forward sync: {e}"));
        let cache =
            gix::init_bare(root.path().join("pulls-cache.git")).unwrap_or_else(|e| panic!("{e}"));
        let cache_path = cache.path().to_path_buf();
        Parts {
            _ws: ws,
            client,
            repository: Repository {
                cache: cache.into_sync(),
                cache_path,
                remote,
                placeholders,
            },
            journals: OneJournal(MemoryJournals::new()),
            stash: MemoryStash::default(),
            recorder: Recorder {
                happened: Mutex::new(Vec::new()),
                saved: Mutex::new(Vec::new()),
            },
            settings: Settings {
                base_branch: "main".into(),
                apply_command: "segment apply".into(),
                allowances: Allowances::default(),
                merge_after_apply: false,
                holder: "the test".into(),
                author: test_author(),
                pace: None,
                mergeability_wait: Duration::from_secs(2),
            },
            lock: std::sync::Arc::new(tokio::sync::RwLock::new(())),
            _root: root,
        }
    }

    /// One pass with `forge`; fails the test on any error.
    async fn pass<F: gitsync::forge::Forge>(
        &self,
        forge: &F,
        records: Vec<PullRecord>,
    ) -> PassOutcome {
        let pass = Pass {
            forge,
            workspace: &self.client,
            repository: &self.repository,
            journals: &self.journals,
            stash: &self.stash,
            observer: &self.recorder,
            secrets: &gitsync::sync::secrets::NoSecrets,
            settings: &self.settings,
            apply_lock: Some(self.lock.clone()),
        };
        let outcome = pass.run(records).await;
        assert!(
            outcome.errors.is_empty(),
            "{:?}",
            outcome
                .errors
                .iter()
                .map(|(n, e)| format!("#{n}: {e}"))
                .collect::<Vec<_>>()
        );
        outcome
    }
}

/// The GitLab double with a merge-request author with Developer access, a Reporter, and
/// gitsync's own user.
struct World {
    parts: Parts,
    double: GitLabDouble,
    bot: DoubleUser,
    alice: DoubleUser,
    reporter: DoubleUser,
}

impl std::ops::Deref for World {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.parts
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut Parts {
        &mut self.parts
    }
}

impl World {
    async fn new() -> World {
        let double = GitLabDouble::start("acme/segment").await;
        let bot = double.add_user("gitsync-bot", 90, Some(DEVELOPER));
        let alice = double.add_user("alice", 11, Some(DEVELOPER));
        let reporter = double.add_user("rita", 12, Some(REPORTER));
        let parts = Parts::new(Remote {
            url: format!("file://{}", double.repo().display()),
            branch: "main".into(),
            auth: Auth::None,
        })
        .await;
        World {
            parts,
            bot,
            alice,
            reporter,
            double,
        }
    }

    fn forge(&self) -> GitLab {
        self.double.client(&self.bot)
    }

    async fn pass(&self, records: Vec<PullRecord>) -> PassOutcome {
        let outcome = self.parts.pass(&self.forge(), records).await;
        assert_eq!(self.double.violations(), Vec::<String>::new());
        outcome
    }

    /// A path of the synced branch holding a resource of `dir` (`destinations`).
    fn file_in(&self, dir: &str) -> String {
        let listed = git(
            self.double.repo(),
            &["ls-tree", "-r", "--name-only", "main", &format!("{dir}/")],
        );
        listed
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no file under {dir}/"))
            .to_owned()
    }

    fn file_on(&self, branch: &str, path: &str) -> String {
        git(self.double.repo(), &["show", &format!("{branch}:{path}")])
    }

    /// The notes gitsync's user wrote.
    fn bot_notes(&self, iid: u64) -> Vec<crate::util::gitlab::DoubleNote> {
        self.double
            .notes(iid)
            .into_iter()
            .filter(|n| n.author == self.bot.username)
            .collect()
    }
}

/// A merge request that renames a destination and adds a label.
fn change(world: &World) -> u64 {
    let destination = world.file_in("destinations");
    let text = world.file_on("main", &destination);
    let renamed = rename(&text, "Renamed in review");
    world.double.commit_on("feature", &destination, &renamed);
    world.double.commit_on(
        "feature",
        "labels/team-growth.tf",
        "resource \"segment_label\" \"team_growth\" {\n  key   = \"team\"\n  value = \"growth\"\n}\n",
    );
    world.double.open_mr(
        &world.alice,
        "feature",
        "main",
        "Rename a destination, add a label",
    )
}

/// The text with its top-level `name = "..."` replaced.
fn rename(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if !done && line.starts_with("  name ") && trimmed.starts_with("name") {
            let indent = &line[..line.find("name").unwrap_or(0)];
            let eq = line.find('=').unwrap_or(0);
            out.push_str(&format!(
                "{indent}{}= \"{name}\"\n",
                &line[indent.len()..eq]
            ));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(done, "no name line in\n{text}");
    out
}

async fn labels(world: &World) -> Vec<String> {
    world
        .client
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| format!("{:?}", r.attributes.get("value")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_request_gets_one_plan_note_edited_on_every_push() {
    let world = World::new().await;
    let iid = change(&world);
    let first = world.pass(Vec::new()).await;
    let record = &first.records[0];
    assert_eq!(record.stage, Stage::Planned, "{record:?}");
    assert_eq!(record.changes.as_deref(), Some("+1 ~1 -0"), "{record:?}");
    let notes = world.bot_notes(iid);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].body.starts_with(PLAN_MARK), "{}", notes[0].body);
    assert!(notes[0].body.contains("segment apply"), "{}", notes[0].body);
    let head = world.double.branch_head("feature");
    assert!(notes[0].body.contains(&head[..12]), "{}", notes[0].body);
    let statuses: Vec<(String, String)> = world
        .double
        .statuses()
        .into_iter()
        .filter(|s| s.sha == head)
        .map(|s| (s.name, s.state))
        .collect();
    assert_eq!(
        statuses,
        [
            ("gitsync/plan".to_owned(), "pending".to_owned()),
            ("gitsync/plan".to_owned(), "success".to_owned())
        ]
    );

    // Nothing new: the note is left as it is.
    let again = world.pass(first.records.clone()).await;
    assert_eq!(again.records, first.records);

    // A push: the same note, edited, names the new head.
    world.double.commit_on(
        "feature",
        "labels/team-search.tf",
        "resource \"segment_label\" \"team_search\" {\n  key   = \"team\"\n  value = \"search\"\n}\n",
    );
    let pushed = world.double.note_push(iid);
    let after = world.pass(again.records).await;
    assert_eq!(after.records[0].head, pushed);
    assert_eq!(after.records[0].changes.as_deref(), Some("+2 ~1 -0"));
    let notes = world.bot_notes(iid);
    assert_eq!(notes.len(), 1, "still one plan note: {notes:?}");
    assert!(notes[0].body.contains(&pushed[..12]), "{}", notes[0].body);
    assert_eq!(labels(&world).await.len(), labels_before(&world).await);
}

/// The labels of the seeded workspace (the plan applies nothing).
async fn labels_before(world: &World) -> usize {
    labels(world).await.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn segment_apply_applies_renames_the_new_file_in_one_commit_and_reports() {
    let world = World::new().await;
    let iid = change(&world);
    let planned = world.pass(Vec::new()).await;
    let head = world.double.branch_head("feature");
    let before = labels(&world).await.len();
    let command = world.double.post_note(iid, &world.alice, "segment apply");
    let applied = world.pass(planned.records).await;
    let record = &applied.records[0];
    assert_eq!(record.stage, Stage::Applied, "{record:?}");
    assert_eq!(labels(&world).await.len(), before + 1);

    // One commit on the branch, on top of the planned head, in Segment's words.
    let tip = world.double.branch_head("feature");
    assert_ne!(tip, head);
    assert_eq!(
        git(world.double.repo(), &["log", "-1", "--format=%s%n%P", &tip]),
        format!("{REWRITE_MESSAGE}\n{head}")
    );
    let renamed = git(world.double.repo(), &["diff", "--name-status", &head, &tip]);
    assert!(
        renamed.contains("labels/team-growth.tf") && renamed.lines().count() >= 2,
        "{renamed}"
    );
    assert_eq!(record.head, tip);

    // The note shows the results; the command got 👀 then 👍.
    let notes = world.bot_notes(iid);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].body.contains("apply succeeded"),
        "{}",
        notes[0].body
    );
    let awards: Vec<String> = world
        .double
        .awards(command)
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(awards, ["eyes", "thumbsup"]);
    let last = world.double.statuses().into_iter().last();
    assert!(
        last.as_ref()
            .is_some_and(|s| s.sha == tip && s.state == "success"),
        "{last:?}"
    );

    // GitLab sees the push; a pass over the pushed head keeps the results, and applies
    // nothing more.
    assert_eq!(world.double.note_push(iid), tip);
    let quiet = world.pass(applied.records.clone()).await;
    assert_eq!(quiet.records[0].stage, Stage::Applied);
    assert_eq!(labels(&world).await.len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_that_may_not_apply_are_refused_with_a_reply_and_apply_nothing() {
    let world = World::new().await;
    let iid = change(&world);
    let records = world.pass(Vec::new()).await.records;
    let before = labels(&world).await.len();

    // A Reporter: no write access.
    world
        .double
        .post_note(iid, &world.reporter, "segment apply");
    let records = world.pass(records).await.records;
    let replies: Vec<String> = world
        .bot_notes(iid)
        .into_iter()
        .filter(|n| !n.body.starts_with(PLAN_MARK))
        .map(|n| n.body)
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].starts_with(
            "@rita `segment apply` was not applied: @\u{200b}rita has no write access"
        ),
        "{}",
        replies[0]
    );

    // Not commands: quoted, in a code block, edited, later line.
    world.double.post_note(iid, &world.alice, "> segment apply");
    world
        .double
        .post_note(iid, &world.alice, "```\nsegment apply\n```");
    world
        .double
        .post_note(iid, &world.alice, "LGTM\nsegment apply");
    let old = world.double.post_note(iid, &world.alice, "looks good");
    let records = world.pass(records).await.records;
    world.double.edit_note(old, "segment apply");
    let records = world.pass(records).await.records;
    assert_eq!(records[0].stage, Stage::Planned, "{:?}", records[0]);

    // Needs a rebase: refused.
    world.double.set_merge_status(iid, "need_rebase");
    world.double.post_note(iid, &world.alice, "segment apply");
    let records = world.pass(records).await.records;
    let last = world.bot_notes(iid).into_iter().last().map(|n| n.body);
    assert!(
        last.as_deref()
            .is_some_and(|b| b.contains("cannot be merged now (need_rebase)")),
        "{last:?}"
    );
    assert_eq!(records[0].stage, Stage::Planned);
    assert_eq!(labels(&world).await.len(), before, "nothing was applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_plan_is_refused_and_planned_again() {
    let world = World::new().await;
    let iid = change(&world);
    let records = world.pass(Vec::new()).await.records;
    let planned = records[0].plan_digest.clone();

    // A push after the plan, then the command: refused, planned again.
    world.double.commit_on(
        "feature",
        "labels/team-search.tf",
        "resource \"segment_label\" \"team_search\" {\n  key   = \"team\"\n  value = \"search\"\n}\n",
    );
    world.double.note_push(iid);
    world.double.post_note(iid, &world.alice, "segment apply");
    let records = world.pass(records).await.records;
    assert_ne!(records[0].plan_digest, planned);
    let replies: Vec<String> = world
        .bot_notes(iid)
        .into_iter()
        .filter(|n| !n.body.starts_with(PLAN_MARK))
        .map(|n| n.body)
        .collect();
    assert!(
        replies
            .iter()
            .any(|r| r.contains("changed since the plan shown")),
        "{replies:?}"
    );

    // The workspace edits the destination the plan renames: refused, planned again.
    let destinations = world
        .client
        .list(ResourceType::Destination)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let path = world.file_in("destinations");
    let text = world.file_on("main", &path);
    let mut edited = destinations
        .into_iter()
        .find(|d| {
            matches!(
                d.attributes.get("name"),
                Some(gitsync::model::Value::String(n)) if text.contains(&format!("\"{n}\""))
            )
        })
        .unwrap_or_else(|| panic!("the destination of {path}"));
    edited
        .attributes
        .insert("enabled".into(), gitsync::model::Value::Bool(false));
    world
        .client
        .update(&edited)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = labels(&world).await.len();
    world.double.post_note(iid, &world.alice, "segment apply");
    let again = world.pass(records.clone()).await.records;
    assert_eq!(labels(&world).await.len(), before, "nothing was applied");
    let last = world.bot_notes(iid).into_iter().last().map(|n| n.body);
    assert!(
        last.as_deref()
            .is_some_and(|b| b.contains("the workspace changed since the plan shown")),
        "{last:?}"
    );
    assert_ne!(again[0].plan_digest, records[0].plan_digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_passes_at_once_apply_one_command_once() {
    let world = World::new().await;
    let iid = change(&world);
    let records = world.pass(Vec::new()).await.records;
    let before = labels(&world).await.len();
    world.double.post_note(iid, &world.alice, "segment apply");
    world.double.post_note(iid, &world.alice, "segment apply");
    let (a, b) = tokio::join!(world.pass(records.clone()), world.pass(records));
    assert_eq!(labels(&world).await.len(), before + 1, "applied once");
    let stages = [a.records[0].stage, b.records[0].stage];
    assert!(stages.contains(&Stage::Applied), "{stages:?}");
    let applies = world
        .recorder
        .happened
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|h| {
            matches!(
                h,
                Happened::Applied {
                    result: "succeeded",
                    ..
                }
            )
        })
        .count();
    assert_eq!(applies, 1);
    let replies = world
        .bot_notes(iid)
        .into_iter()
        .filter(|n| !n.body.starts_with(PLAN_MARK))
        .count();
    assert!(replies >= 1, "the other commands got a reply");
}

/// A user invited with a role, as a pull request would add one.
const BAD_ACTOR: &str = r#"resource "segment_user" "bad_actor" {
  email = "bad.actor@hacking.com"
  permissions = [
    {
      resources = [
        {
          id     = "fBZpJYpdxcKa4qgtnbW5b6"
          labels = []
          type   = "WORKSPACE"
        },
      ]
      role_id = "1Mc8DFMmZbyzdEWmE6k8JVgKAiE"
    },
  ]
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_access_change_is_shown_first_and_needs_an_allowed_users_allowance() {
    let mut world = World::new().await;
    world
        .double
        .commit_on("access", "users/bad-actor.tf", BAD_ACTOR);
    let iid = world
        .double
        .open_mr(&world.alice, "access", "main", "Invite a contractor");
    let records = world.pass(Vec::new()).await.records;
    let plan = world.bot_notes(iid).remove(0).body;
    let shown = plan.find("bad.actor@hacking.com");
    let change = plan.find("segment_user.bad_actor");
    assert!(
        shown.is_some() && shown < change,
        "the access change comes before the changes:\n{plan}"
    );

    // A writer, even asking for it: refused, as the allowance is only for allowedUsers.
    world
        .double
        .post_note(iid, &world.alice, "segment apply --allow-access-changes");
    let records = world.pass(records).await.records;
    let reply = world.bot_notes(iid).into_iter().last().map(|n| n.body);
    assert!(
        reply
            .as_deref()
            .is_some_and(|r| r.contains("changes who has access to the workspace")
                && r.contains("spec.bidirectional.allowedUsers")),
        "{reply:?}"
    );
    let users = |world: &World| {
        let client = world.client.clone();
        async move {
            client
                .list(ResourceType::User)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .filter(|u| {
                    matches!(u.attributes.get("email"),
                        Some(gitsync::model::Value::String(e)) if e == "bad.actor@hacking.com")
                })
                .count()
        }
    };
    assert_eq!(users(&world).await, 0);

    // Listed in allowedUsers, without the flag: still refused; with it: applied.
    world.settings.allowances.allowed_users = vec!["alice".into()];
    world.double.post_note(iid, &world.alice, "segment apply");
    let records = world.pass(records).await.records;
    assert_eq!(users(&world).await, 0);
    world
        .double
        .post_note(iid, &world.alice, "segment apply --allow-access-changes");
    let records = world.pass(records).await.records;
    assert_eq!(records[0].stage, Stage::Applied, "{:?}", records[0]);
    assert_eq!(users(&world).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_need_the_flag_and_a_fork_is_planned_but_never_applied() {
    let world = World::new().await;
    let label = world.file_in("labels");
    let work_delete = |branch: &str| {
        world.double.commit_on(branch, "README.gitsync-test", "x\n");
        // Remove the label file on the branch through the double's work tree.
        let work = world.double.scratch().join("delete");
        if !work.exists() {
            git(
                world.double.scratch(),
                &[
                    "clone",
                    "-q",
                    &world.double.repo().display().to_string(),
                    &work.display().to_string(),
                ],
            );
        }
        git(&work, &["fetch", "-q", "origin"]);
        git(
            &work,
            &["checkout", "-q", "-B", branch, &format!("origin/{branch}")],
        );
        git(&work, &["rm", "-q", &label]);
        crate::util::commit_all(&work, "Remove a label");
        git(
            &work,
            &["push", "-q", "origin", &format!("{branch}:{branch}")],
        );
    };
    work_delete("cleanup");
    let iid = world
        .double
        .open_mr(&world.alice, "cleanup", "main", "Remove a label");
    let records = world.pass(Vec::new()).await.records;
    assert_eq!(
        records[0].changes.as_deref(),
        Some("+0 ~0 -1"),
        "{:?}",
        records[0]
    );
    let before = labels(&world).await.len();
    world.double.post_note(iid, &world.alice, "segment apply");
    let records = world.pass(records).await.records;
    assert_eq!(labels(&world).await.len(), before);
    let reply = world.bot_notes(iid).into_iter().last().map(|n| n.body);
    assert!(
        reply
            .as_deref()
            .is_some_and(|r| r.contains("Comment `segment apply --allow-deletes` to apply them.")),
        "{reply:?}"
    );
    world
        .double
        .post_note(iid, &world.alice, "segment apply --allow-deletes");
    let records = world.pass(records).await.records;
    assert_eq!(records[0].stage, Stage::Applied, "{:?}", records[0]);
    assert_eq!(labels(&world).await.len(), before - 1);

    // A fork's merge request: planned, never applied.
    world.double.commit_on(
        "fork-branch",
        "labels/team-fork.tf",
        "resource \"segment_label\" \"team_fork\" {\n  key   = \"team\"\n  value = \"fork\"\n}\n",
    );
    let fork = world
        .double
        .open_fork_mr(&world.alice, "fork-branch", "main", "From a fork");
    let records = world.pass(records).await.records;
    let planned = records.iter().find(|r| r.number == fork);
    assert_eq!(
        planned.map(|r| r.stage),
        Some(Stage::Planned),
        "{records:?}"
    );
    world.double.post_note(fork, &world.alice, "segment apply");
    let before = labels(&world).await.len();
    let records = world.pass(records).await.records;
    assert_eq!(labels(&world).await.len(), before);
    let reply = world.bot_notes(fork).into_iter().last().map(|n| n.body);
    assert!(
        reply
            .as_deref()
            .is_some_and(|r| r.contains("comes from a fork")),
        "{reply:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.number == fork && r.stage == Stage::Planned)
    );
}

/// The local GitHub with the test App as gitsync's identity, alice (Write) and mallory (Write,
/// who copies gitsync's mark).
struct GitHubWorld {
    parts: Parts,
    github: crate::util::github::TestGitHub,
    work: std::path::PathBuf,
    forge: gitsync::forge::github::GitHub,
}

const GH_REPO: &str = "acme/segment";

impl GitHubWorld {
    async fn new() -> GitHubWorld {
        use gitsync::forge::local::Role;
        let github = crate::util::github::TestGitHub::start().await;
        let (bare, work) = github.repository("acme", "segment");
        github.forge.add_user("alice", 11, Role::Write);
        github.forge.add_user("mallory", 13, Role::Write);
        let parts = Parts::new(Remote {
            url: format!("file://{}", bare.display()),
            branch: "main".into(),
            auth: Auth::None,
        })
        .await;
        let forge = gitsync::forge::github::GitHub::new(gitsync::forge::github::GitHubConfig {
            api_base_url: github.api_url(),
            owner: "acme".into(),
            repo: "segment".into(),
            auth: gitsync::forge::github::GitHubAuth::App {
                app_id: crate::util::github::APP_ID.to_string(),
                private_key_pem: crate::util::github::app_private_key(),
                installation_id: None,
            },
            http: gitsync::http::HttpConfig::default(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        GitHubWorld {
            parts,
            github,
            work,
            forge,
        }
    }

    async fn pass(&self, records: Vec<PullRecord>) -> PassOutcome {
        let outcome = self.parts.pass(&self.forge, records).await;
        assert_eq!(self.github.violations(), Vec::<String>::new());
        outcome
    }

    /// Pushes a branch adding a label, opens a pull request from it as alice.
    fn open(&self, branch: &str, value: &str) -> u64 {
        git(&self.work, &["fetch", "-q", "origin"]);
        git(&self.work, &["checkout", "-q", "-B", "main", "origin/main"]);
        crate::util::github::push_change(
            &self.work,
            branch,
            &format!("labels/team-{value}.tf"),
            &format!(
                "resource \"segment_label\" \"team_{value}\" {{\n  key   = \"team\"\n  value = \"{value}\"\n}}\n"
            ),
        );
        self.github
            .forge
            .open_pull(
                GH_REPO,
                gitsync::forge::local::NewPull {
                    author: "alice".into(),
                    head: branch.into(),
                    base: "main".into(),
                    title: format!("Add team {value}"),
                    body: None,
                    draft: false,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn comments(&self, number: u64) -> Vec<gitsync::forge::local::PostedComment> {
        self.github
            .forge
            .comments(GH_REPO, number)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_waits_while_github_computes_mergeability_and_applies_once_it_is_true() {
    let mut world = GitHubWorld::new().await;
    world.parts.settings.mergeability_wait = Duration::from_millis(300);
    let number = world.open("growth", "growth");
    let records = world.pass(Vec::new()).await.records;
    assert_eq!(records[0].stage, Stage::Planned, "{:?}", records[0]);
    let before = labels_of(&world.parts.client).await;

    // GitHub has not computed it yet: the command waits, and is looked at again soon.
    world
        .github
        .forge
        .set_mergeable(GH_REPO, number, None, "unknown")
        .unwrap_or_else(|e| panic!("{e}"));
    world
        .github
        .forge
        .post_comment(GH_REPO, number, "alice", "segment apply")
        .unwrap_or_else(|e| panic!("{e}"));
    let waiting = world.pass(records).await;
    assert!(waiting.look_again_soon);
    assert!(waiting.records[0].pending_command_id.is_some());
    assert_eq!(labels_of(&world.parts.client).await, before);
    let again = world.pass(waiting.records).await;
    assert!(again.look_again_soon, "still computing");

    // Now it says true: applied, once.
    world
        .github
        .forge
        .set_mergeable(GH_REPO, number, Some(true), "clean")
        .unwrap_or_else(|e| panic!("{e}"));
    let applied = world.pass(again.records).await;
    assert!(!applied.look_again_soon);
    assert_eq!(
        applied.records[0].stage,
        Stage::Applied,
        "{:?}",
        applied.records[0]
    );
    assert_eq!(labels_of(&world.parts.client).await, before + 1);
    let refusals = world
        .comments(number)
        .into_iter()
        .filter(|c| c.body.contains("was not applied"))
        .count();
    assert_eq!(refusals, 0, "waiting is no refusal");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copied_plan_mark_is_never_edited_nor_trusted() {
    let world = GitHubWorld::new().await;
    let number = world.open("copied", "copied");
    // Before gitsync looks: someone posts a fake plan with gitsync's mark, and a command.
    let fake = format!("{PLAN_MARK}\n### gitsync plan\nNo changes. Comment `segment apply`.");
    let forged = world
        .github
        .forge
        .post_comment(GH_REPO, number, "mallory", &fake)
        .unwrap_or_else(|e| panic!("{e}"));
    let records = world.pass(Vec::new()).await.records;
    let bot = format!("{}[bot]", crate::util::github::APP_SLUG);
    let comments = world.comments(number);
    let ours: Vec<_> = comments.iter().filter(|c| c.author == bot).collect();
    assert_eq!(ours.len(), 1, "gitsync posted its own plan: {comments:?}");
    assert_ne!(ours[0].id, forged);
    let theirs = comments.iter().find(|c| c.id == forged);
    assert_eq!(
        theirs.map(|c| c.body.as_str()),
        Some(fake.as_str()),
        "never edited"
    );
    assert_eq!(records[0].comment_ids, [ours[0].id]);

    // A push: gitsync edits its own comment, never the copy.
    crate::util::github::push_change(
        &world.work,
        "copied",
        "labels/team-more.tf",
        "resource \"segment_label\" \"team_more\" {\n  key   = \"team\"\n  value = \"more\"\n}\n",
    );
    world
        .github
        .forge
        .note_push(GH_REPO, number)
        .unwrap_or_else(|e| panic!("{e}"));
    let records = world.pass(records).await.records;
    let comments = world.comments(number);
    assert_eq!(
        comments
            .iter()
            .find(|c| c.id == forged)
            .map(|c| c.body.as_str()),
        Some(fake.as_str())
    );
    assert_eq!(comments.iter().filter(|c| c.author == bot).count(), 1);
    assert_eq!(records[0].changes.as_deref(), Some("+2 ~0 -0"));
}

async fn labels_of(client: &gitsync::workspace::Client) -> usize {
    client
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn files_that_cannot_be_planned_are_shown_with_their_place_and_fail_the_status() {
    let world = World::new().await;
    world.double.commit_on(
        "broken",
        "labels/broken.tf",
        "resource \"segment_label\" \"broken\" {\n  key   = \"team\"\n  value = \n}\n",
    );
    let iid = world
        .double
        .open_mr(&world.alice, "broken", "main", "A broken file");
    let records = world.pass(Vec::new()).await.records;
    assert_eq!(records[0].stage, Stage::Invalid, "{:?}", records[0]);
    let note = world.bot_notes(iid).remove(0).body;
    assert!(note.contains("cannot plan"), "{note}");
    assert!(
        note.contains("labels/broken.tf:3:"),
        "the file and line: {note}"
    );
    let head = world.double.branch_head("broken");
    let last = world
        .double
        .statuses()
        .into_iter()
        .rfind(|s| s.sha == head)
        .map(|s| s.state);
    assert_eq!(last.as_deref(), Some("failed"));
    world.double.post_note(iid, &world.alice, "segment apply");
    let records = world.pass(records).await.records;
    assert_eq!(records[0].stage, Stage::Invalid);
    let reply = world.bot_notes(iid).into_iter().last().map(|n| n.body);
    assert!(
        reply
            .as_deref()
            .is_some_and(|r| r.contains("was not applied")),
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stashed_apply_that_does_not_verify_ends_and_the_next_command_applies() {
    use gitsync::pulls::{Stash as _, Stashed};
    let world = World::new().await;
    let iid = change(&world);
    let records = world.pass(Vec::new()).await.records;
    // A stash someone edited (or sealed with a token since rotated).
    world
        .stash
        .save(&Stashed {
            number: iid,
            head: records[0].head.clone(),
            head_branch: "feature".into(),
            from_fork: false,
            commenter: "alice".into(),
            comment_id: 1,
            allow_deletes: true,
            plan: "{\"format\": \"gitsync-plan\", \"version\": 1, \"changes\": []}".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = labels(&world).await.len();
    let records = world.pass(records).await.records;
    assert_eq!(records[0].stage, Stage::Failed, "{:?}", records[0]);
    assert!(
        world
            .stash
            .load(iid)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "the stash is gone"
    );
    let note = world.bot_notes(iid).remove(0).body;
    assert!(note.contains("cannot be resumed"), "{note}");
    assert_eq!(labels(&world).await.len(), before);

    // A new command: the plan is made again and applied.
    world.double.post_note(iid, &world.alice, "segment apply");
    let records = world.pass(records).await.records;
    assert_eq!(records[0].stage, Stage::Applied, "{:?}", records[0]);
    assert_eq!(labels(&world).await.len(), before + 1);
}
