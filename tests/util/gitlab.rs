//! A GitLab double: the REST API v4 endpoints gitsync's GitLab client calls, served by axum on
//! loopback (base path `[PREFIX]/api/v4`) for one project, with its merge requests pointing at
//! a real bare Git repository on disk; and GitLab's webhooks (`Merge Request Hook`,
//! `Note Hook`), sent to a URL a test gives.
//!
//! Endpoints: `GET /user`; `GET /projects/:id/merge_requests[/:iid]`, `PUT …/:iid/merge`;
//! `GET|POST …/:iid/notes`, `PUT …/notes/:note_id`, `POST …/notes/:note_id/award_emoji`;
//! `POST /projects/:id/statuses/:sha`; `GET /projects/:id/repository/commits/:sha/merge_requests`;
//! `GET /projects/:id/members/all/:user_id`.
//!
//! It follows GitLab's own description (`doc/api/merge_requests.md`, `notes.md`,
//! `emoji_reactions.md`, `commits.md`, `members.md`, `webhook_events.md`, as transcribed in the
//! project's forge reference): the paths, the `PRIVATE-TOKEN` header, the URL-encoded project
//! path as `:id`, the parameters each endpoint takes, the status codes and the response fields.
//! Every request is checked against that: an unknown path or method, a missing or unknown
//! parameter, a value out of range, a project path not URL-encoded or a missing token is
//! recorded as a violation (with the request line, never a header's value) and answered 400,
//! 401, 404 or 405. Tests assert [`GitLabDouble::violations`] is empty.
//!
//! What GitLab does that the double does too: opening a merge request writes
//! `refs/merge-requests/IID/head` in the repository; a push to its branch moves that ref and adds
//! a system note; `detailed_merge_status` is `checking` after an open or a push and becomes
//! `mergeable` once the single merge request has been read (or stays what a test set, e.g.
//! `need_rebase`); a merge is a real merge commit (`git merge-tree`, `git commit-tree`) on the
//! target branch, refused 409 when `sha` is not the head; notes list newest first unless
//! `sort=asc`; an emoji a user already gave is answered 404 "has already been taken"; a commit
//! status without `ref` on a commit no branch holds (a fork's) is answered 404 "References for
//! commit"; a non-member's membership is 404 "Not found", an unknown project's 404 "Project Not
//! Found".
//!
//! Helpers only: no test lives here, and nothing here changes process-wide state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use super::git;

/// The project's numeric id (`:id` may also be this number).
pub const PROJECT_ID: u64 = 42;

/// The id a fork's merge request has as `source_project_id`.
pub const FORK_PROJECT_ID: u64 = 4242;

/// GitLab's access levels (members.md).
pub const REPORTER: u64 = 20;
pub const DEVELOPER: u64 = 30;
pub const MAINTAINER: u64 = 40;
pub const OWNER: u64 = 50;

/// Emoji names the double knows (GitLab refuses names that are no emoji).
const EMOJI: &[&str] = &[
    "thumbsup",
    "thumbsdown",
    "eyes",
    "confused",
    "rocket",
    "tada",
    "heart",
    "smile",
    "laughing",
];

/// A user of the double and the token that acts as them.
#[derive(Debug, Clone)]
pub struct DoubleUser {
    pub username: String,
    pub id: u64,
    pub token: String,
}

impl DoubleUser {
    /// As the forge trait names a user.
    pub fn user(&self) -> gitsync::forge::User {
        gitsync::forge::User {
            login: self.username.clone(),
            id: self.id,
        }
    }
}

/// A note as the double holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleNote {
    pub id: u64,
    pub iid: u64,
    pub author: String,
    pub body: String,
    pub system: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A commit status as posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleStatus {
    pub sha: String,
    pub name: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    /// The ref of the pipeline it hangs on: as given, else the first branch holding the
    /// commit.
    pub ref_name: String,
    pub author: String,
}

/// An emoji on a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleAward {
    pub id: u64,
    pub note_id: u64,
    pub name: String,
    pub user: String,
}

/// `detailed_merge_status` as the double computes it.
#[derive(Debug, Clone)]
enum MergeStatus {
    /// `checking` until the single merge request is read once, then `mergeable`.
    Checking,
    Fixed(String),
}

#[derive(Debug, Clone)]
struct Mr {
    id: u64,
    iid: u64,
    title: String,
    author: u64,
    source_branch: String,
    target_branch: String,
    source_project_id: u64,
    state: String,
    draft: bool,
    head_sha: String,
    merge_status: MergeStatus,
    merge_commit_sha: Option<String>,
    /// Set: the next merge fails as GitLab's do after the checks (200, still `opened`).
    merge_error: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Clone)]
struct UserRecord {
    user: DoubleUser,
    access_level: Option<u64>,
}

struct State {
    /// `http://127.0.0.1:PORT[/PREFIX]`: GitLab's address, for `web_url` and `Link`.
    root: String,
    origin: String,
    api_prefix: String,
    project: String,
    repo: PathBuf,
    users: Vec<UserRecord>,
    mrs: BTreeMap<u64, Mr>,
    notes: Vec<DoubleNote>,
    awards: Vec<DoubleAward>,
    statuses: Vec<DoubleStatus>,
    violations: Vec<String>,
    requests: Vec<String>,
    /// How many of the next commit status posts are answered 409.
    status_conflicts: u32,
    /// Another origin to write in `Link` headers (a proxy that rewrites badly), and whether
    /// to send `x-next-page` at all.
    link_origin: Option<String>,
    next_page_header: bool,
    clock: u64,
    next_id: u64,
}

/// One answer.
struct Answer {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Json,
}

fn answer(status: u16, body: Json) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: Vec::new(),
        body,
    }
}

fn message(status: u16, text: &str) -> Answer {
    answer(status, json!({ "message": text }))
}

/// The double. Dropping it leaves the server running until the test's runtime ends; the
/// repository lives in a temporary directory removed with it.
pub struct GitLabDouble {
    origin: String,
    prefix: String,
    state: Arc<Mutex<State>>,
    repo: PathBuf,
    work: PathBuf,
    dir: tempfile::TempDir,
}

impl GitLabDouble {
    /// A double for `project` (`group/sub/project`) at `http://127.0.0.1:PORT/api/v4`, its
    /// repository holding one commit on `main`.
    pub async fn start(project: &str) -> GitLabDouble {
        GitLabDouble::start_under(project, "").await
    }

    /// The same under a path prefix (`/gitlab`: a self-hosted GitLab at a relative URL).
    pub async fn start_under(project: &str, prefix: &str) -> GitLabDouble {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let repo = dir.path().join("repo.git");
        git(
            dir.path(),
            &[
                "init",
                "--bare",
                "-q",
                "-b",
                "main",
                &repo.to_string_lossy(),
            ],
        );
        let work = dir.path().join("work");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                &repo.to_string_lossy(),
                &work.to_string_lossy(),
            ],
        );
        git(&work, &["checkout", "-q", "-b", "main"]);
        std::fs::write(work.join("README.md"), "project\n").unwrap_or_else(|e| panic!("{e}"));
        super::commit_all(&work, "Initial commit");
        git(&work, &["push", "-q", "origin", "main"]);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the GitLab double: {e}"));
        let origin = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let prefix = prefix.trim_end_matches('/').to_owned();
        let state = Arc::new(Mutex::new(State {
            root: format!("{origin}{prefix}"),
            origin: origin.clone(),
            api_prefix: format!("{prefix}/api/v4"),
            project: project.to_owned(),
            repo: repo.clone(),
            users: Vec::new(),
            mrs: BTreeMap::new(),
            notes: Vec::new(),
            awards: Vec::new(),
            statuses: Vec::new(),
            violations: Vec::new(),
            requests: Vec::new(),
            status_conflicts: 0,
            link_origin: None,
            next_page_header: true,
            clock: 0,
            next_id: 1000,
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { serve(&shared, &method, &uri, &headers, &body) }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        GitLabDouble {
            origin,
            prefix,
            state,
            repo,
            work,
            dir,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT[/PREFIX]/api/v4`.
    pub fn api_base(&self) -> String {
        format!("{}{}/api/v4", self.origin, self.prefix)
    }

    /// `http://127.0.0.1:PORT[/PREFIX]`: where GitLab is, without `/api/v4`.
    pub fn root(&self) -> String {
        format!("{}{}", self.origin, self.prefix)
    }

    /// The bare repository the project's merge requests point at.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// A scratch directory that lives as long as the double.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A client for the double acting as `user`.
    pub fn client(&self, user: &DoubleUser) -> gitsync::forge::gitlab::GitLab {
        let project = self.state().project.clone();
        gitsync::forge::gitlab::GitLab::new(gitsync::forge::gitlab::GitLabConfig {
            api_base_url: self.api_base(),
            project,
            token: user.token.clone(),
            http: gitsync::http::HttpConfig {
                timeout: std::time::Duration::from_secs(10),
                max_attempts: 3,
                min_backoff: std::time::Duration::from_millis(10),
                max_backoff: std::time::Duration::from_millis(100),
            },
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Adds a user with a token; `access_level` is their (inherited) membership of the project,
    /// `None` for no member.
    pub fn add_user(&self, username: &str, id: u64, access_level: Option<u64>) -> DoubleUser {
        let user = DoubleUser {
            username: username.to_owned(),
            id,
            token: format!("glpat-{username}-{id:x}-{:x}", random()),
        };
        self.state().users.push(UserRecord {
            user: user.clone(),
            access_level,
        });
        user
    }

    /// A commit on `branch` (made from `main` when the branch is new) that writes `file`, pushed
    /// to the repository; its id.
    pub fn commit_on(&self, branch: &str, file: &str, text: &str) -> String {
        let work = &self.work;
        git(work, &["fetch", "-q", "origin"]);
        let remote = format!("refs/remotes/origin/{branch}");
        let exists = std::process::Command::new("git")
            .arg("-C")
            .arg(work)
            .args(["rev-parse", "-q", "--verify", &remote])
            .output()
            .is_ok_and(|o| o.status.success());
        let start = if exists {
            format!("origin/{branch}")
        } else {
            "origin/main".into()
        };
        git(work, &["checkout", "-q", "-B", branch, &start]);
        let path = work.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let sha = super::commit_all(work, &format!("Change {file}"));
        git(
            work,
            &["push", "-q", "origin", &format!("{branch}:{branch}")],
        );
        sha
    }

    /// The commit a branch of the repository points at.
    pub fn branch_head(&self, branch: &str) -> String {
        git(&self.repo, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    /// Opens a merge request by `author` from `source_branch` (which must exist) into
    /// `target_branch`; writes `refs/merge-requests/IID/head`; returns the IID.
    pub fn open_mr(
        &self,
        author: &DoubleUser,
        source_branch: &str,
        target_branch: &str,
        title: &str,
    ) -> u64 {
        let head = self.branch_head(source_branch);
        let mut s = self.state();
        let iid = s.mrs.keys().max().map_or(1, |m| m + 1);
        let id = s.next();
        let now = s.tick();
        git(
            &self.repo,
            &[
                "update-ref",
                &format!("refs/merge-requests/{iid}/head"),
                &head,
            ],
        );
        s.mrs.insert(
            iid,
            Mr {
                id,
                iid,
                title: title.to_owned(),
                author: author.id,
                source_branch: source_branch.to_owned(),
                target_branch: target_branch.to_owned(),
                source_project_id: PROJECT_ID,
                state: "opened".into(),
                draft: title.starts_with("Draft:"),
                head_sha: head,
                merge_status: MergeStatus::Checking,
                merge_commit_sha: None,
                merge_error: None,
                created_at: now.clone(),
                updated_at: now,
            },
        );
        iid
    }

    /// Opens a merge request from a fork: its branch `fork_branch` (made with
    /// [`GitLabDouble::commit_on`]) leaves the project's branches, as a fork's branch is not
    /// one of them; its head stays reachable only as `refs/merge-requests/IID/head`.
    pub fn open_fork_mr(
        &self,
        author: &DoubleUser,
        fork_branch: &str,
        target_branch: &str,
        title: &str,
    ) -> u64 {
        let iid = self.open_mr(author, fork_branch, target_branch, title);
        git(
            &self.repo,
            &["update-ref", "-d", &format!("refs/heads/{fork_branch}")],
        );
        git(
            &self.work,
            &[
                "update-ref",
                "-d",
                &format!("refs/remotes/origin/{fork_branch}"),
            ],
        );
        self.mark_from_fork(iid);
        iid
    }

    /// What GitLab does after a push to the merge request's branch: the head and
    /// `refs/merge-requests/IID/head` move, a system note says so, mergeability is checked
    /// again. Returns the new head.
    pub fn note_push(&self, iid: u64) -> String {
        let branch = self.mr(iid, |mr| mr.source_branch.clone());
        let head = self.branch_head(&branch);
        git(
            &self.repo,
            &[
                "update-ref",
                &format!("refs/merge-requests/{iid}/head"),
                &head,
            ],
        );
        let mut s = self.state();
        let now = s.tick();
        let author = {
            let mr = s.mrs.get_mut(&iid).unwrap_or_else(|| panic!("no !{iid}"));
            mr.head_sha = head.clone();
            mr.updated_at = now;
            if matches!(mr.merge_status, MergeStatus::Fixed(ref m) if m == "mergeable") {
                mr.merge_status = MergeStatus::Checking;
            }
            mr.author
        };
        let short: String = head.chars().take(8).collect();
        s.add_note(
            iid,
            author,
            &format!("added 1 commit\n\n* {short} - push"),
            true,
        );
        head
    }

    fn mr<T>(&self, iid: u64, f: impl FnOnce(&mut Mr) -> T) -> T {
        let mut s = self.state();
        let mr = s
            .mrs
            .get_mut(&iid)
            .unwrap_or_else(|| panic!("the double has no merge request !{iid}"));
        f(mr)
    }

    /// Sets `detailed_merge_status` for good (`need_rebase`, `conflict`, `mergeable`, ...), or
    /// back to `checking` then `mergeable` with `"checking"`.
    pub fn set_merge_status(&self, iid: u64, status: &str) {
        self.mr(iid, |mr| {
            mr.merge_status = match status {
                "checking" => MergeStatus::Checking,
                other => MergeStatus::Fixed(other.to_owned()),
            }
        });
    }

    /// Makes its next merge fail after GitLab's checks, with `merge_error` (a failed rebase,
    /// a hook that refused the push); `None` lets merges through again.
    pub fn fail_merges(&self, iid: u64, merge_error: Option<&str>) {
        self.mr(iid, |mr| mr.merge_error = merge_error.map(str::to_owned));
    }

    /// Makes the merge request come from a fork (`source_project_id` another project's).
    pub fn mark_from_fork(&self, iid: u64) {
        self.mr(iid, |mr| mr.source_project_id = FORK_PROJECT_ID);
    }

    /// Marks it draft or ready.
    pub fn set_draft(&self, iid: u64, draft: bool) {
        self.mr(iid, |mr| mr.draft = draft);
    }

    /// Closes it.
    pub fn close(&self, iid: u64) {
        self.mr(iid, |mr| mr.state = "closed".into());
    }

    /// A note by `user` on the merge request; its id.
    pub fn post_note(&self, iid: u64, user: &DoubleUser, body: &str) -> u64 {
        let mut s = self.state();
        assert!(s.mrs.contains_key(&iid), "no merge request !{iid}");
        s.add_note(iid, user.id, body, false)
    }

    /// Edits a note's body (its `updated_at` moves).
    pub fn edit_note(&self, note_id: u64, body: &str) {
        let mut s = self.state();
        let now = s.tick();
        let note = s
            .notes
            .iter_mut()
            .find(|n| n.id == note_id)
            .unwrap_or_else(|| panic!("no note {note_id}"));
        note.body = body.to_owned();
        note.updated_at = now;
    }

    /// The merge request's notes, oldest first.
    pub fn notes(&self, iid: u64) -> Vec<DoubleNote> {
        let s = self.state();
        s.notes.iter().filter(|n| n.iid == iid).cloned().collect()
    }

    /// Every commit status posted, in order.
    pub fn statuses(&self) -> Vec<DoubleStatus> {
        self.state().statuses.clone()
    }

    /// The emoji on a note, in order.
    pub fn awards(&self, note_id: u64) -> Vec<DoubleAward> {
        let s = self.state();
        s.awards
            .iter()
            .filter(|a| a.note_id == note_id)
            .cloned()
            .collect()
    }

    /// The merge request's `state` (`opened`, `merged`, ...) and merge commit.
    pub fn mr_state(&self, iid: u64) -> (String, Option<String>) {
        self.mr(iid, |mr| (mr.state.clone(), mr.merge_commit_sha.clone()))
    }

    /// Answers the next `n` commit status posts 409, as GitLab does while another update of the
    /// commit is in progress.
    pub fn conflict_next_statuses(&self, n: u32) {
        self.state().status_conflicts = n;
    }

    /// Writes `Link` headers with another origin (`None`: the double's own), as a GitLab
    /// behind a proxy with a wrong `external_url` does; `x-next-page` stays right unless
    /// [`GitLabDouble::send_next_page_header`] turns it off.
    pub fn set_link_origin(&self, origin: Option<&str>) {
        self.state().link_origin = origin.map(str::to_owned);
    }

    /// Whether pages carry `x-next-page` (on by default).
    pub fn send_next_page_header(&self, on: bool) {
        self.state().next_page_header = on;
    }

    /// Every request that broke GitLab's description.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Every request received, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// A `Merge Request Hook` delivery about the merge request (`action`: `open`, `update`,
    /// `merge`, ...; `oldrev`: the head before a push, which GitLab sends only when the code
    /// changed), shaped as `webhook_events.md`'s example.
    pub fn merge_request_hook(&self, iid: u64, action: &str, oldrev: Option<&str>) -> Hook {
        let s = self.state();
        let mr = s.mrs.get(&iid).unwrap_or_else(|| panic!("no !{iid}"));
        let mut body = fixture("merge_request_hook.example.json");
        body["user"] = s.hook_user(mr.author);
        body["project"] = s.hook_project();
        let a = &mut body["object_attributes"];
        a["id"] = json!(mr.id);
        a["iid"] = json!(mr.iid);
        a["title"] = json!(mr.title);
        a["author_id"] = json!(mr.author);
        a["source_branch"] = json!(mr.source_branch);
        a["target_branch"] = json!(mr.target_branch);
        a["source_project_id"] = json!(mr.source_project_id);
        a["target_project_id"] = json!(PROJECT_ID);
        a["state"] = json!(mr.state);
        a["draft"] = json!(mr.draft);
        a["work_in_progress"] = json!(mr.draft);
        a["detailed_merge_status"] = json!(s.detailed(mr));
        a["merge_status"] = json!(legacy_merge_status(&s.detailed(mr)));
        a["url"] = json!(s.mr_url(iid));
        a["action"] = json!(action);
        a["last_commit"]["id"] = json!(mr.head_sha);
        a["created_at"] = json!(hook_time(&mr.created_at));
        a["updated_at"] = json!(hook_time(&mr.updated_at));
        if let Some(oldrev) = oldrev {
            a["oldrev"] = json!(oldrev);
        }
        Hook::new("Merge Request Hook", body)
    }

    /// A `Note Hook` delivery about a note on a merge request (`action`: `create` or
    /// `update`), shaped as `webhook_events.md`'s example.
    pub fn note_hook(&self, note_id: u64, action: &str) -> Hook {
        let s = self.state();
        let note = s
            .notes
            .iter()
            .find(|n| n.id == note_id)
            .unwrap_or_else(|| panic!("no note {note_id}"));
        let mr = s
            .mrs
            .get(&note.iid)
            .unwrap_or_else(|| panic!("no !{}", note.iid));
        let author = s
            .users
            .iter()
            .find(|u| u.user.username == note.author)
            .map_or(0, |u| u.user.id);
        let mut body = fixture("note_hook_merge_request.example.json");
        body["user"] = s.hook_user(author);
        body["project_id"] = json!(PROJECT_ID);
        body["project"] = s.hook_project();
        let a = &mut body["object_attributes"];
        a["id"] = json!(note.id);
        a["note"] = json!(note.body);
        a["noteable_type"] = json!("MergeRequest");
        a["author_id"] = json!(author);
        a["project_id"] = json!(PROJECT_ID);
        a["noteable_id"] = json!(mr.id);
        a["system"] = json!(note.system);
        a["action"] = json!(action);
        a["created_at"] = json!(note_hook_time(&note.created_at));
        a["updated_at"] = json!(note_hook_time(&note.updated_at));
        a["url"] = json!(format!("{}#note_{}", s.mr_url(note.iid), note.id));
        let m = &mut body["merge_request"];
        m["id"] = json!(mr.id);
        m["iid"] = json!(mr.iid);
        m["title"] = json!(mr.title);
        m["source_branch"] = json!(mr.source_branch);
        m["target_branch"] = json!(mr.target_branch);
        m["source_project_id"] = json!(mr.source_project_id);
        m["target_project_id"] = json!(PROJECT_ID);
        m["author_id"] = json!(mr.author);
        m["state"] = json!(mr.state);
        m["draft"] = json!(mr.draft);
        m["work_in_progress"] = json!(mr.draft);
        m["detailed_merge_status"] = json!(s.detailed(mr));
        m["merge_status"] = json!(legacy_merge_status(&s.detailed(mr)));
        m["last_commit"]["id"] = json!(mr.head_sha);
        Hook::new("Note Hook", body)
    }
}

/// A webhook delivery: the event, its body, and the `Idempotency-Key` kept across retries.
#[derive(Debug, Clone)]
pub struct Hook {
    pub event: &'static str,
    pub body: Json,
    pub idempotency_key: String,
}

/// What the receiver answered, and the per-request UUID the delivery carried.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub status: u16,
    pub webhook_uuid: String,
}

impl Hook {
    fn new(event: &'static str, body: Json) -> Hook {
        Hook {
            event,
            body,
            idempotency_key: uuid(),
        }
    }

    /// Sends it to `url` as GitLab's `WebHookService` does: JSON, `X-Gitlab-Event`,
    /// `X-Gitlab-Token` (when a secret is set), a new `X-Gitlab-Webhook-UUID` each time, the
    /// same `Idempotency-Key` on every retry, `X-Gitlab-Instance`, `X-Gitlab-Event-UUID`.
    pub async fn deliver(&self, url: &str, secret: Option<&str>) -> Delivered {
        let webhook_uuid = uuid();
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "GitLab/18.0.0")
            .header("idempotency-key", &self.idempotency_key)
            .header("x-gitlab-event", self.event)
            .header("x-gitlab-webhook-uuid", &webhook_uuid)
            .header("x-gitlab-instance", "https://gitlab.example.com")
            .header("x-gitlab-event-uuid", uuid())
            .body(self.body.to_string());
        if let Some(secret) = secret {
            request = request.header("x-gitlab-token", secret);
        }
        let status = request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| panic!("delivering a {} to {url}: {e}", self.event));
        Delivered {
            status,
            webhook_uuid,
        }
    }
}

fn fixture(name: &str) -> Json {
    let path = super::fixtures_root()
        .join("forge/gitlab-webhooks")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A merge request hook's time: ISO without milliseconds (`2013-12-03T17:23:34Z`), as its
/// example has it.
fn hook_time(api_time: &str) -> String {
    api_time.replace(".000Z", "Z")
}

/// A note hook's time: `2015-05-17 18:21:36 UTC`, as its example has it.
fn note_hook_time(api_time: &str) -> String {
    api_time
        .parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|e| panic!("{api_time}: {e}"))
}

fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A random UUID (version 4 layout).
pub fn uuid() -> String {
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn legacy_merge_status(detailed: &str) -> &'static str {
    match detailed {
        "mergeable" => "can_be_merged",
        "checking" => "checking",
        "unchecked" | "preparing" => "unchecked",
        _ => "cannot_be_merged",
    }
}

/// Percent-decodes a path segment or query part; `None` for a broken escape or non-UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn serve(
    shared: &Arc<Mutex<State>>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    let line = format!(
        "{method} {}{}",
        uri.path(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    s.requests.push(line.clone());
    let answer = s.route(&line, method, uri, headers, body);
    let mut response = (answer.status, answer.body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            h.insert(name, value);
        }
    }
    response
}

/// A request's parameters: query and JSON body together, as Grape reads them.
struct Params(BTreeMap<String, Json>);

impl Params {
    fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Json::as_str)
    }
}

impl State {
    fn tick(&mut self) -> String {
        self.clock += 1;
        let at = jiff::Timestamp::from_second(1_767_225_600 + self.clock as i64)
            .unwrap_or_else(|e| panic!("{e}"));
        at.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn add_note(&mut self, iid: u64, author: u64, body: &str, system: bool) -> u64 {
        let id = self.next();
        let now = self.tick();
        let author = self.username(author);
        self.notes.push(DoubleNote {
            id,
            iid,
            author,
            body: body.to_owned(),
            system,
            created_at: now.clone(),
            updated_at: now,
        });
        id
    }

    fn username(&self, id: u64) -> String {
        self.users
            .iter()
            .find(|u| u.user.id == id)
            .map_or_else(|| format!("user{id}"), |u| u.user.username.clone())
    }

    fn api_user(&self, id: u64) -> Json {
        let username = self.username(id);
        json!({
            "id": id,
            "username": username,
            "name": username,
            "state": "active",
            "locked": false,
            "avatar_url": null,
            "web_url": format!("{}/{username}", self.root),
        })
    }

    fn hook_user(&self, id: u64) -> Json {
        let username = self.username(id);
        json!({ "id": id, "name": username, "username": username, "avatar_url": null, "email": "[REDACTED]" })
    }

    fn hook_project(&self) -> Json {
        let web = format!("{}/{}", self.root, self.project);
        json!({
            "id": PROJECT_ID,
            "name": self.project.rsplit('/').next(),
            "description": "",
            "web_url": web,
            "avatar_url": null,
            "git_ssh_url": format!("git@127.0.0.1:{}.git", self.project),
            "git_http_url": format!("{web}.git"),
            "namespace": self.project.rsplit_once('/').map(|(n, _)| n),
            "visibility_level": 0,
            "path_with_namespace": self.project,
            "default_branch": "main",
            "homepage": web,
            "url": format!("{web}.git"),
            "ssh_url": format!("git@127.0.0.1:{}.git", self.project),
            "http_url": format!("{web}.git"),
        })
    }

    fn mr_url(&self, iid: u64) -> String {
        format!("{}/{}/-/merge_requests/{iid}", self.root, self.project)
    }

    fn detailed(&self, mr: &Mr) -> String {
        if mr.state != "opened" {
            return "not_open".into();
        }
        match &mr.merge_status {
            MergeStatus::Checking => "checking".into(),
            MergeStatus::Fixed(s) => s.clone(),
        }
    }

    fn api_mr(&self, mr: &Mr) -> Json {
        let detailed = self.detailed(mr);
        let short = format!("!{}", mr.iid);
        let references = json!({
            "short": short,
            "relative": short,
            "full": format!("{}!{}", self.project, mr.iid),
        });
        let user_notes_count = self
            .notes
            .iter()
            .filter(|n| n.iid == mr.iid && !n.system)
            .count();
        let mut body = json!({
            "id": mr.id,
            "iid": mr.iid,
            "project_id": PROJECT_ID,
            "title": mr.title,
            "description": "",
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_by": null,
            "merge_user": null,
            "merged_at": null,
            "closed_by": null,
            "closed_at": null,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": user_notes_count,
            "upvotes": 0,
            "downvotes": 0,
            "author": self.api_user(mr.author),
            "assignees": [],
            "assignee": null,
            "reviewers": [],
            "source_project_id": mr.source_project_id,
            "target_project_id": PROJECT_ID,
        });
        let more = json!({
            "labels": [],
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "milestone": null,
            "merge_when_pipeline_succeeds": false,
            "merge_status": legacy_merge_status(&detailed),
            "detailed_merge_status": detailed,
            "sha": mr.head_sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": null,
            "merge_error": null,
            "discussion_locked": null,
            "should_remove_source_branch": null,
            "force_remove_source_branch": false,
            "prepared_at": mr.created_at,
            "reference": short,
            "references": references,
            "web_url": self.mr_url(mr.iid),
            "squash": false,
            "squash_on_merge": false,
            "has_conflicts": detailed == "conflict",
            "blocking_discussions_resolved": true,
        });
        if let (Json::Object(body), Json::Object(more)) = (&mut body, more) {
            body.extend(more);
        }
        body
    }

    fn api_note(&self, note: &DoubleNote) -> Json {
        let author = self
            .users
            .iter()
            .find(|u| u.user.username == note.author)
            .map_or(0, |u| u.user.id);
        let mr_id = self.mrs.get(&note.iid).map_or(0, |m| m.id);
        json!({
            "id": note.id,
            "type": null,
            "body": note.body,
            "attachment": null,
            "author": self.api_user(author),
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "system": note.system,
            "noteable_id": mr_id,
            "noteable_type": "MergeRequest",
            "project_id": PROJECT_ID,
            "noteable_iid": note.iid,
            "resolvable": false,
            "confidential": false,
            "internal": false,
            "imported": false,
            "imported_from": "none",
        })
    }

    fn violation(&mut self, line: &str, problem: &str, status: u16) -> Answer {
        self.violations.push(format!("{line}: {problem}"));
        match status {
            400 => answer(400, json!({ "error": problem })),
            401 => message(401, "401 Unauthorized"),
            405 => message(405, "405 Method Not Allowed"),
            _ => answer(status, json!({ "error": "404 Not Found" })),
        }
    }

    fn route(
        &mut self,
        line: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Answer {
        let Some(rest) = uri
            .path()
            .strip_prefix(&self.api_prefix)
            .and_then(|r| r.strip_prefix('/'))
        else {
            let problem = format!("not under {}", self.api_prefix);
            return self.violation(line, &problem, 404);
        };
        let raw: Vec<&str> = rest.split('/').collect();
        // Which endpoint, and the methods it has.
        let shape: Vec<&str> = raw
            .iter()
            .enumerate()
            .map(|(i, s)| match (i, *s) {
                (1, _) if raw[0] == "projects" => ":id",
                (3, _) if raw.get(2) == Some(&"statuses") => ":sha",
                (4, _) if raw.get(3) == Some(&"commits") => ":sha",
                (_, s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => ":n",
                (_, s) => s,
            })
            .collect();
        let endpoint = match shape.as_slice() {
            ["user"] => Endpoint::User,
            ["projects", ":id", "merge_requests"] => Endpoint::Mrs,
            ["projects", ":id", "merge_requests", ":n"] => Endpoint::Mr,
            ["projects", ":id", "merge_requests", ":n", "merge"] => Endpoint::Merge,
            ["projects", ":id", "merge_requests", ":n", "notes"] => Endpoint::Notes,
            ["projects", ":id", "merge_requests", ":n", "notes", ":n"] => Endpoint::Note,
            [
                "projects",
                ":id",
                "merge_requests",
                ":n",
                "notes",
                ":n",
                "award_emoji",
            ] => Endpoint::Awards,
            ["projects", ":id", "statuses", ":sha"] => Endpoint::Statuses,
            ["projects", ":id", "members", "all", ":n"] => Endpoint::Member,
            [
                "projects",
                ":id",
                "repository",
                "commits",
                ":sha",
                "merge_requests",
            ] => Endpoint::CommitMrs,
            _ => {
                let unencoded = format!("projects/{}/", self.project);
                let problem = if rest.starts_with(&unencoded) {
                    "the project path is not URL-encoded as one segment (group%2Fproject)"
                        .to_owned()
                } else {
                    format!("no such endpoint in GitLab's API description: {rest}")
                };
                return self.violation(line, &problem, 404);
            }
        };
        if !endpoint.methods().contains(method) {
            return self.violation(line, &format!("{endpoint:?} has no {method}"), 405);
        }

        // PRIVATE-TOKEN, the header every example in the docs uses.
        let Some(token) = headers.get("private-token").and_then(|v| v.to_str().ok()) else {
            return self.violation(line, "no PRIVATE-TOKEN header", 401);
        };
        let Some(me) = self
            .users
            .iter()
            .find(|u| u.user.token == token)
            .map(|u| u.user.clone())
        else {
            return message(401, "401 Unauthorized");
        };

        // The project: its numeric id, or its path URL-encoded as one segment.
        if raw[0] == "projects" {
            match decode(raw[1]) {
                Some(p) if p == self.project || p == PROJECT_ID.to_string() => {}
                Some(_) => return message(404, "404 Project Not Found"),
                None => return self.violation(line, "the project :id is badly encoded", 400),
            }
        }

        // Parameters: the query, and a JSON body.
        let mut params = BTreeMap::new();
        if let Some(query) = uri.query() {
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let (Some(k), Some(v)) = (decode(k), decode(&v.replace('+', " "))) else {
                    return self.violation(line, "a query parameter is badly encoded", 400);
                };
                params.insert(k, Json::String(v));
            }
        }
        if !body.is_empty() {
            let json_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("application/json"));
            if !json_type {
                return self.violation(line, "a body without Content-Type: application/json", 400);
            }
            match serde_json::from_slice::<Json>(body) {
                Ok(Json::Object(map)) => params.extend(map),
                _ => return self.violation(line, "the body is not a JSON object", 400),
            }
        }
        let params = Params(params);
        if let Some(unknown) = params
            .0
            .keys()
            .find(|k| !endpoint.params(method).contains(&k.as_str()))
        {
            let problem = format!("{endpoint:?} {method} takes no parameter {unknown:?}");
            return self.violation(line, &problem, 400);
        }
        let n = |i: usize| raw[i].parse::<u64>().unwrap_or(0);
        match (endpoint, method.as_str()) {
            (Endpoint::User, _) => {
                let mut user = self.api_user(me.id);
                user["bot"] = json!(false);
                answer(200, user)
            }
            (Endpoint::Mrs, _) => self.list_mrs(line, uri, &params),
            (Endpoint::Mr, _) => self.get_mr(line, n(3), &params),
            (Endpoint::Merge, _) => self.merge(line, n(3), &me, &params),
            (Endpoint::Notes, "GET") => self.list_notes(line, uri, n(3), &params),
            (Endpoint::Notes, _) => self.create_note(line, n(3), &me, &params),
            (Endpoint::Note, _) => self.update_note(line, n(3), n(5), &me, &params),
            (Endpoint::Awards, _) => self.award(line, n(3), n(5), &me, &params),
            (Endpoint::Statuses, _) => self.post_status(line, raw[3], &me, &params),
            (Endpoint::Member, _) => self.member(n(4)),
            (Endpoint::CommitMrs, _) => self.commit_mrs(line, uri, raw[4], &params),
        }
    }

    /// `page`/`per_page` (default 20, at most 100), with GitLab's headers: `x-page`,
    /// `x-per-page`, `x-total`, `x-total-pages`, `x-next-page`, `x-prev-page`, and a `Link`
    /// with `prev`, `next`, `first`, `last`.
    fn paginate(&mut self, line: &str, uri: &Uri, params: &Params, items: Vec<Json>) -> Answer {
        let number = |name: &str, default: usize| match params.str(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(name.to_owned()),
        };
        let (page, per_page) = match (number("page", 1), number("per_page", 20)) {
            (Ok(p), Ok(pp)) => (p, pp.min(100)),
            (Err(name), _) | (_, Err(name)) => {
                let problem = format!("{name} is not a positive integer");
                return self.violation(line, &problem, 400);
            }
        };
        let total = items.len();
        let pages = total.div_ceil(per_page).max(1);
        let page_items: Vec<Json> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let others: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page="))
            .map(str::to_owned)
            .collect();
        let link_to = |p: usize| {
            let mut query = vec![format!("page={p}")];
            query.extend(others.iter().cloned());
            let origin = self.link_origin.as_deref().unwrap_or(&self.origin);
            format!("{origin}{}?{}", uri.path(), query.join("&"))
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
        }
        if page < pages {
            links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        }
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(pages)));
        let next = if page < pages {
            (page + 1).to_string()
        } else {
            String::new()
        };
        let prev = if page > 1 {
            (page - 1).to_string()
        } else {
            String::new()
        };
        let mut a = answer(200, Json::Array(page_items));
        a.headers = vec![
            ("link", links.join(", ")),
            ("x-page", page.to_string()),
            ("x-per-page", per_page.to_string()),
            ("x-total", total.to_string()),
            ("x-total-pages", pages.to_string()),
            ("x-prev-page", prev),
        ];
        if self.next_page_header {
            a.headers.push(("x-next-page", next));
        }
        a
    }

    fn list_mrs(&mut self, line: &str, uri: &Uri, params: &Params) -> Answer {
        let state = params.str("state").unwrap_or("all");
        if !["opened", "closed", "locked", "merged", "all"].contains(&state) {
            return self.violation(line, &format!("state {state:?} is not a state"), 400);
        }
        let target = params.str("target_branch");
        // Newest first (order_by created_at, sort desc: the defaults). The list does not
        // recheck mergeability (merge_requests.md).
        let items: Vec<Json> = self
            .mrs
            .values()
            .rev()
            .filter(|m| state == "all" || m.state == state)
            .filter(|m| target.is_none_or(|t| m.target_branch == t))
            .map(|m| self.api_mr(m))
            .collect();
        self.paginate(line, uri, params, items)
    }

    fn get_mr(&mut self, line: &str, iid: u64, params: &Params) -> Answer {
        for flag in [
            "include_diverged_commits_count",
            "include_rebase_in_progress",
            "render_html",
        ] {
            if params
                .str(flag)
                .is_some_and(|v| v != "true" && v != "false")
            {
                return self.violation(line, &format!("{flag} is not a boolean"), 400);
            }
        }
        let Some(mr) = self.mrs.get(&iid).cloned() else {
            return message(404, "404 Not found");
        };
        let body = self.api_mr(&mr);
        // This read starts (and here finishes) the asynchronous mergeability check.
        if let Some(mr) = self.mrs.get_mut(&iid)
            && matches!(mr.merge_status, MergeStatus::Checking)
        {
            mr.merge_status = MergeStatus::Fixed("mergeable".into());
        }
        answer(200, body)
    }

    fn merge(&mut self, line: &str, iid: u64, me: &DoubleUser, params: &Params) -> Answer {
        for flag in ["should_remove_source_branch", "squash", "auto_merge"] {
            if params
                .0
                .get(flag)
                .is_some_and(|v| !v.is_boolean() && v != "true" && v != "false")
            {
                return self.violation(line, &format!("{flag} is not a boolean"), 400);
            }
        }
        let Some(mr) = self.mrs.get(&iid).cloned() else {
            return message(404, "404 Not found");
        };
        let level = self.access_level(me.id).unwrap_or(0);
        if level < DEVELOPER {
            return message(401, "401 Unauthorized");
        }
        if mr.state != "opened" {
            return message(405, "405 Method Not Allowed");
        }
        if let Some(sha) = params.0.get("sha")
            && sha.as_str() != Some(mr.head_sha.as_str())
        {
            return message(409, "SHA does not match HEAD of source branch");
        }
        if self.detailed(&mr) != "mergeable" {
            return message(405, "405 Method Not Allowed");
        }
        if mr.merge_error.is_some() {
            // `MergeService` failed after the API's checks: GitLab still answers 200, with
            // the merge request as it is and its `merge_error`.
            let mut body = self.api_mr(&mr);
            body["merge_error"] = json!(mr.merge_error);
            return answer(200, body);
        }
        let target = git(
            &self.repo,
            &["rev-parse", &format!("refs/heads/{}", mr.target_branch)],
        );
        let merged = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["merge-tree", "--write-tree", &target, &mr.head_sha])
            .output()
            .unwrap_or_else(|e| panic!("git merge-tree: {e}"));
        if !merged.status.success() {
            return message(422, "Branch cannot be merged");
        }
        let tree = String::from_utf8_lossy(&merged.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        let text = format!(
            "Merge branch '{}' into '{}'\n\n{}\n\nSee merge request {}!{}",
            mr.source_branch, mr.target_branch, mr.title, self.project, iid
        );
        let commit = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args([
                "commit-tree",
                &tree,
                "-p",
                &target,
                "-p",
                &mr.head_sha,
                "-m",
                &text,
            ])
            .env("GIT_AUTHOR_NAME", &me.username)
            .env("GIT_AUTHOR_EMAIL", format!("{}@example.com", me.username))
            .env("GIT_COMMITTER_NAME", &me.username)
            .env(
                "GIT_COMMITTER_EMAIL",
                format!("{}@example.com", me.username),
            )
            .output()
            .unwrap_or_else(|e| panic!("git commit-tree: {e}"));
        assert!(commit.status.success(), "git commit-tree: {commit:?}");
        let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
        git(
            &self.repo,
            &[
                "update-ref",
                &format!("refs/heads/{}", mr.target_branch),
                &commit,
                &target,
            ],
        );
        let now = self.tick();
        let Some(stored) = self.mrs.get_mut(&iid) else {
            return message(404, "404 Not found");
        };
        stored.state = "merged".into();
        stored.merge_commit_sha = Some(commit);
        stored.updated_at = now;
        let stored = stored.clone();
        let mut body = self.api_mr(&stored);
        body["merged_by"] = self.api_user(me.id);
        body["merge_user"] = self.api_user(me.id);
        answer(200, body)
    }

    fn list_notes(&mut self, line: &str, uri: &Uri, iid: u64, params: &Params) -> Answer {
        let sort = params.str("sort").unwrap_or("desc");
        let order_by = params.str("order_by").unwrap_or("created_at");
        if !["asc", "desc"].contains(&sort) {
            return self.violation(line, &format!("sort {sort:?} is not asc or desc"), 400);
        }
        if !["created_at", "updated_at"].contains(&order_by) {
            let problem = format!("order_by {order_by:?} is not created_at or updated_at");
            return self.violation(line, &problem, 400);
        }
        if !self.mrs.contains_key(&iid) {
            return message(404, "404 Not found");
        }
        let mut notes: Vec<DoubleNote> = self
            .notes
            .iter()
            .filter(|n| n.iid == iid)
            .cloned()
            .collect();
        notes.sort_by(|a, b| {
            let key = |n: &DoubleNote| {
                let at = if order_by == "updated_at" {
                    n.updated_at.clone()
                } else {
                    n.created_at.clone()
                };
                (at, n.id)
            };
            key(a).cmp(&key(b))
        });
        if sort == "desc" {
            notes.reverse();
        }
        let items = notes.iter().map(|n| self.api_note(n)).collect();
        self.paginate(line, uri, params, items)
    }

    fn note_body<'p>(&mut self, line: &str, params: &'p Params) -> Result<&'p str, Answer> {
        match params.0.get("body") {
            Some(Json::String(b)) if b.chars().count() > 1_000_000 => {
                Err(self.violation(line, "body is longer than 1,000,000 characters", 400))
            }
            Some(Json::String(b)) if !b.trim().is_empty() => Ok(b),
            Some(_) => Err(self.violation(line, "body is empty or not a string", 400)),
            None => Err(self.violation(line, "body is missing", 400)),
        }
    }

    fn create_note(&mut self, line: &str, iid: u64, me: &DoubleUser, params: &Params) -> Answer {
        let body = match self.note_body(line, params) {
            Ok(b) => b.to_owned(),
            Err(a) => return a,
        };
        if !self.mrs.contains_key(&iid) {
            return message(404, "404 Not found");
        }
        let id = self.add_note(iid, me.id, &body, false);
        let note = self.notes.iter().find(|n| n.id == id).cloned();
        match note {
            Some(note) => answer(201, self.api_note(&note)),
            None => message(500, "500 Internal Server Error"),
        }
    }

    fn update_note(
        &mut self,
        line: &str,
        iid: u64,
        note_id: u64,
        me: &DoubleUser,
        params: &Params,
    ) -> Answer {
        let body = match self.note_body(line, params) {
            Ok(b) => b.to_owned(),
            Err(a) => return a,
        };
        let now = self.tick();
        let Some(note) = self
            .notes
            .iter_mut()
            .find(|n| n.id == note_id && n.iid == iid)
        else {
            return message(404, "404 Note Not Found");
        };
        if note.author != me.username {
            return message(403, "403 Forbidden");
        }
        note.body = body;
        note.updated_at = now;
        let note = note.clone();
        answer(200, self.api_note(&note))
    }

    fn award(
        &mut self,
        line: &str,
        iid: u64,
        note_id: u64,
        me: &DoubleUser,
        params: &Params,
    ) -> Answer {
        let Some(name) = params.str("name").map(str::to_owned) else {
            return self.violation(line, "name is missing", 400);
        };
        if !self.notes.iter().any(|n| n.id == note_id && n.iid == iid) {
            return message(404, "404 Note Not Found");
        }
        if !EMOJI.contains(&name.as_str()) {
            self.violation(line, &format!("{name:?} is not an emoji name"), 404);
            return message(
                404,
                "404 Award Emoji Name is not a valid emoji name Not Found",
            );
        }
        if self
            .awards
            .iter()
            .any(|a| a.note_id == note_id && a.name == name && a.user == me.username)
        {
            return message(404, "404 Award Emoji Name has already been taken Not Found");
        }
        let id = self.next();
        let now = self.tick();
        self.awards.push(DoubleAward {
            id,
            note_id,
            name: name.clone(),
            user: me.username.clone(),
        });
        answer(
            201,
            json!({
                "id": id,
                "name": name,
                "user": self.api_user(me.id),
                "created_at": now,
                "updated_at": now,
                "awardable_id": note_id,
                "awardable_type": "Note",
            }),
        )
    }

    fn post_status(&mut self, line: &str, sha: &str, me: &DoubleUser, params: &Params) -> Answer {
        let states = [
            "pending", "running", "success", "failed", "canceled", "skipped",
        ];
        let Some(state) = params.str("state").map(str::to_owned) else {
            return self.violation(line, "state is missing", 400);
        };
        if !states.contains(&state.as_str()) {
            let problem = format!("state {state:?} is not one of {states:?}");
            return self.violation(line, &problem, 400);
        }
        for field in ["target_url", "description", "ref", "name", "context"] {
            match params.0.get(field) {
                None | Some(Json::Null) => {}
                Some(Json::String(v)) if v.chars().count() <= 255 => {}
                Some(Json::String(_)) => {
                    let problem = format!("{field} is longer than 255 characters");
                    return self.violation(line, &problem, 400);
                }
                Some(_) => return self.violation(line, &format!("{field} is not a string"), 400),
            }
        }
        if self.access_level(me.id).unwrap_or(0) < DEVELOPER {
            return message(403, "403 Forbidden");
        }
        let exists = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !exists || sha.len() < 7 {
            return message(404, "404 Commit Not Found");
        }
        // commits.md / `API::CommitStatuses`: `ref`, else the ref of a pipeline the commit
        // has, else the first branch that holds it; none is a 404.
        let full = git(&self.repo, &["rev-parse", &format!("{sha}^{{commit}}")]);
        let ref_name = params
            .str("ref")
            .map(str::to_owned)
            .or_else(|| {
                self.statuses
                    .iter()
                    .find(|s| s.sha == full)
                    .map(|s| s.ref_name.clone())
            })
            .or_else(|| {
                let branches = git(
                    &self.repo,
                    &[
                        "for-each-ref",
                        "--contains",
                        &full,
                        "--format=%(refname:short)",
                        "refs/heads",
                    ],
                );
                branches.lines().next().map(str::to_owned)
            });
        let Some(ref_name) = ref_name else {
            return message(404, "404 References for commit Not Found");
        };
        if self.status_conflicts > 0 {
            self.status_conflicts -= 1;
            return message(409, "409 Conflict");
        }
        let name = params
            .str("name")
            .or(params.str("context"))
            .unwrap_or("default")
            .to_owned();
        let status = DoubleStatus {
            sha: full.clone(),
            name: name.clone(),
            state: state.clone(),
            description: params.str("description").map(str::to_owned),
            target_url: params.str("target_url").map(str::to_owned),
            ref_name: ref_name.clone(),
            author: me.username.clone(),
        };
        self.statuses.push(status.clone());
        let id = self.next();
        let now = self.tick();
        answer(
            201,
            json!({
                "id": id,
                "sha": full,
                "ref": ref_name,
                "status": state,
                "name": name,
                "target_url": status.target_url,
                "description": status.description,
                "created_at": now,
                "started_at": null,
                "finished_at": null,
                "allow_failure": false,
                "coverage": null,
                "author": self.api_user(me.id),
            }),
        )
    }

    /// The merge requests whose commits include `sha` (here: whose head it is).
    fn commit_mrs(&mut self, line: &str, uri: &Uri, sha: &str, params: &Params) -> Answer {
        let state = params.str("state");
        if state.is_some_and(|s| !["opened", "closed", "locked", "merged"].contains(&s)) {
            return self.violation(line, &format!("state {state:?} is not a state"), 400);
        }
        let items: Vec<Json> = self
            .mrs
            .values()
            .filter(|m| m.head_sha == sha || m.head_sha.starts_with(sha) && sha.len() >= 7)
            .filter(|m| state.is_none_or(|s| m.state == s))
            .map(|m| self.api_mr(m))
            .collect();
        self.paginate(line, uri, params, items)
    }

    fn access_level(&self, user_id: u64) -> Option<u64> {
        self.users
            .iter()
            .find(|u| u.user.id == user_id)
            .and_then(|u| u.access_level)
    }

    fn member(&mut self, user_id: u64) -> Answer {
        match self.access_level(user_id) {
            Some(level) => {
                let mut member = self.api_user(user_id);
                member["access_level"] = json!(level);
                member["expires_at"] = Json::Null;
                member["created_at"] = json!("2026-01-01T00:00:00.000Z");
                member["membership_state"] = json!("active");
                answer(200, member)
            }
            None => message(404, "404 Not found"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    User,
    Mrs,
    Mr,
    Merge,
    Notes,
    Note,
    Awards,
    Statuses,
    Member,
    CommitMrs,
}

impl Endpoint {
    fn methods(self) -> &'static [Method] {
        match self {
            Endpoint::User
            | Endpoint::Mrs
            | Endpoint::Mr
            | Endpoint::Member
            | Endpoint::CommitMrs => &[Method::GET],
            Endpoint::Merge => &[Method::PUT],
            Endpoint::Notes => &[Method::GET, Method::POST],
            Endpoint::Note => &[Method::PUT],
            Endpoint::Awards | Endpoint::Statuses => &[Method::POST],
        }
    }

    /// The parameters the docs list for it (the path's own aside).
    fn params(self, method: &Method) -> &'static [&'static str] {
        match (self, *method == Method::GET) {
            (Endpoint::User, _) => &[],
            (Endpoint::Mrs, _) => &[
                "state",
                "target_branch",
                "source_branch",
                "order_by",
                "sort",
                "page",
                "per_page",
            ],
            (Endpoint::Mr, _) => &[
                "include_diverged_commits_count",
                "include_rebase_in_progress",
                "render_html",
            ],
            (Endpoint::Merge, _) => &[
                "auto_merge",
                "merge_commit_message",
                "merge_when_pipeline_succeeds",
                "sha",
                "should_remove_source_branch",
                "squash_commit_message",
                "squash",
            ],
            (Endpoint::Notes, true) => &["sort", "order_by", "page", "per_page"],
            (Endpoint::Notes, false) => &[
                "body",
                "created_at",
                "merge_request_diff_head_sha",
                "internal",
            ],
            (Endpoint::Note, _) => &["body"],
            (Endpoint::Awards, _) => &["name"],
            (Endpoint::Statuses, _) => &[
                "state",
                "ref",
                "name",
                "context",
                "target_url",
                "description",
                "coverage",
                "pipeline_id",
            ],
            (Endpoint::Member, _) => &[],
            (Endpoint::CommitMrs, _) => &["state", "page", "per_page"],
        }
    }
}
