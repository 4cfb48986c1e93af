//! What the integration tests share (one copy each): fixtures, the embedded workspace, `git`
//! and bare repositories, tree copies, free ports, the tools a check needs and whether this is
//! CI; and in submodules the `gitsync` runner, the API server, the operator process, the
//! smart HTTP Git server and a GitLab double. Helpers only: no test lives here, and nothing
//! here changes process-wide state (every test shares this process under `cargo test`).

pub mod cluster;
pub mod command;
pub mod git_http;
pub mod github;
pub mod gitlab;
pub mod openapi;
pub mod operator;
mod repository;

pub use repository::{bare_remote, commit_all, git};

use std::path::{Path, PathBuf};

/// The fixtures the tests read, carried by the project (`tests/fixtures/`, see its
/// `PROVENANCE.md`).
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Real Git Sync output, `v2025` or `v2024`.
pub fn fixture_dir(form: &str) -> PathBuf {
    fixtures_root().join("gitsync-output").join(form)
}

/// Every `*.tf` file under `dir`, as (path relative to `dir`, contents), sorted by path.
pub fn tf_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap_or_else(|e| panic!("walking {}: {e}", dir.display())))
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "tf"))
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned());
            let rel = rel.unwrap_or_else(|_| e.path().display().to_string());
            let text = std::fs::read_to_string(e.path())
                .unwrap_or_else(|err| panic!("reading {}: {err}", e.path().display()));
            (rel, text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .tf files under {}", dir.display());
    files
}

/// Copies every `*.tf` file under `from` to the same place under `to` (a fixture tree into a
/// temp dir the test may change).
pub fn copy_tree(from: &Path, to: &Path) {
    for (rel, text) in tf_files(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(to))
            .unwrap_or_else(|e| panic!("creating the parent of {}: {e}", dest.display()));
        std::fs::write(&dest, text).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
    }
}

/// A loopback port nothing listens on right now (bound, then let go): for a server a test
/// starts, or as a closed port that refuses connections.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
}

/// Whether this run is CI (`CI` set, and not to `false` or `0`): there a missing tool fails
/// the test that needs it, instead of skipping its check with a note.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A missing tool: a note outside CI, a failure in CI.
pub fn missing_tool(what: &str, install: &str) {
    assert!(
        !in_ci(),
        "{what} is required when CI is set; install {install}"
    );
    eprintln!("note: skipping {what}: not installed (install {install})");
}

/// `cmd` on `PATH`, as the shell finds it.
pub fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(cmd))
        .find(|p| p.is_file())
}

/// HashiCorp's `hclfmt`, built by `scripts/install-test-tools.sh`. `None` when it is not
/// installed and the run is not CI; under CI (`CI` set) its absence fails the test.
pub fn hclfmt() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GITSYNC_HCLFMT").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gitsync/tools/bin/hclfmt")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !in_ci(),
            "hclfmt is required under CI; run scripts/install-test-tools.sh"
        );
        eprintln!(
            "note: hclfmt not installed; run scripts/install-test-tools.sh to enable this check"
        );
    }
    found
}

/// Prometheus's `promtool` (Debian package `prometheus`, installed by
/// `scripts/install-test-tools.sh`); `None` with a note when missing, except under CI.
pub fn promtool() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GITSYNC_PROMTOOL").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/promtool")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !in_ci(),
            "promtool is required under CI; run scripts/install-test-tools.sh"
        );
        eprintln!(
            "note: promtool not installed; run scripts/install-test-tools.sh to enable this check"
        );
    }
    found
}

/// Runs `promtool check metrics` on `text`; panics with what it printed unless it passes
/// silently (a lint problem is printed and fails).
pub fn promtool_check(promtool: &std::path::Path, text: &str) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("writing to promtool: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("promtool: {e}"));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && printed.trim().is_empty(),
        "promtool check metrics ({}):\n{printed}\non:\n{text}",
        out.status
    );
}

/// Formats `text` with `hclfmt` and returns its output.
pub fn run_hclfmt(hclfmt: &Path, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = dir.path().join("x.tf");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("write: {e}"));
    let out = std::process::Command::new(hclfmt)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", hclfmt.display()));
    assert!(
        out.status.success(),
        "hclfmt failed on:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("hclfmt output is not UTF-8: {e}"))
}

/// An embedded workspace serving on a free loopback port, with its database in a temp dir.
pub struct TestWorkspace {
    pub running: gitsync::workspace::embedded::Running,
    pub store: gitsync::workspace::embedded::Store,
    pub _dir: tempfile::TempDir,
}

impl TestWorkspace {
    pub async fn start(token: Option<&str>) -> TestWorkspace {
        TestWorkspace::start_with(gitsync::workspace::embedded::ServerConfig {
            token: token.map(str::to_owned),
            ..Default::default()
        })
        .await
    }

    /// An embedded workspace seeded with the real Git Sync sample (`fixtures/.../v2025`: 52
    /// resources).
    pub async fn seeded(token: Option<&str>) -> TestWorkspace {
        let ws = TestWorkspace::start(token).await;
        gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
            .unwrap_or_else(|e| panic!("{e}"));
        ws
    }

    pub async fn start_with(config: gitsync::workspace::embedded::ServerConfig) -> TestWorkspace {
        use gitsync::workspace::embedded::{Store, start};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(&dir.path().join("ws.db")).unwrap_or_else(|e| panic!("{e}"));
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let running = start(addr, store.clone(), config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        TestWorkspace {
            running,
            store,
            _dir: dir,
        }
    }

    pub fn client(&self, token: &str) -> gitsync::workspace::Client {
        self.client_with(token, |_| {})
    }

    pub fn client_with(
        &self,
        token: &str,
        adjust: impl FnOnce(&mut gitsync::workspace::ClientConfig),
    ) -> gitsync::workspace::Client {
        let mut config =
            gitsync::workspace::ClientConfig::new(self.running.url(), token, "the test token");
        config.min_backoff = std::time::Duration::from_millis(10);
        config.max_backoff = std::time::Duration::from_millis(200);
        adjust(&mut config);
        gitsync::workspace::Client::new(config).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Injects faults into the next requests (see `server::Faults`).
    pub async fn faults(&self, token: &str, faults: serde_json::Value) {
        let client = self.client(token);
        client
            .call(
                reqwest::Method::POST,
                "/_gitsync/faults",
                &[],
                Some(&faults),
                gitsync::workspace::api::Media::V1,
            )
            .await
            .unwrap_or_else(|e| panic!("setting faults: {e}"));
    }
}

/// Every file under `dir`, relative path -> contents (for whole-tree comparisons).
pub fn tree_of(dir: &Path) -> std::collections::BTreeMap<String, String> {
    tf_files(dir).into_iter().collect()
}

/// What gitsync exports of a Git Sync tree seeded into a workspace: the same files, except for
/// secrets Segment's Git Sync wrote in clear, which gitsync writes masked (the v2025 sample has
/// four files with one: a mapping's `X-Workflow-Api-Key` header and a Postgres `credentials`
/// string in a source and two warehouses).
pub fn exported_tree_of(dir: &Path) -> std::collections::BTreeMap<String, String> {
    tf_files(dir)
        .into_iter()
        .map(|(path, text)| {
            let mut resource = gitsync::hcl::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            let Some(gitsync::model::Value::Json(settings)) =
                resource.attributes.get_mut("settings")
            else {
                return (path, text);
            };
            let clear = settings.clone();
            gitsync::workspace::api::mask_secrets(settings);
            if *settings == clear {
                return (path, text);
            }
            let masked = gitsync::hcl::render(&resource).unwrap_or_else(|e| panic!("{e}"));
            (path, masked)
        })
        .collect()
}

/// A person's commit adding README.md (text "ours") on `main` of `remote` (a path or URL),
/// made in a clone at `<root>/work` and pushed; returns the branch's new head.
pub fn commit_readme(root: &Path, remote: &str, message: &str) -> String {
    let work = root.join("work");
    git(root, &["clone", "-q", remote, &work.to_string_lossy()]);
    std::fs::write(work.join("README.md"), "ours").unwrap_or_else(|e| panic!("{e}"));
    git(&work, &["add", "README.md"]);
    git(
        &work,
        &[
            "-c",
            "user.name=P",
            "-c",
            "user.email=p@example.com",
            "commit",
            "-qm",
            message,
        ],
    );
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
    git(&work, &["rev-parse", "HEAD"])
}

/// The directories the Git tests manage.
pub const MANAGED: &[&str] = &["sources", "destinations"];

/// A rendered tree from (path, text) pairs.
pub fn files(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// The author of the tests' commits.
pub fn test_author() -> gitsync::git::tree::Author {
    gitsync::git::tree::Author {
        name: "gitsync".into(),
        email: "gitsync@example.com".into(),
    }
}

/// A sync target: a new bare cache repository `<root>/<cache>` writing to `remote`.
pub fn sync_target(
    root: &Path,
    cache: &str,
    remote: gitsync::git::remote::Remote,
) -> gitsync::sync::full::Target {
    gitsync::sync::full::Target {
        cache: gix::init_bare(root.join(cache))
            .unwrap_or_else(|e| panic!("{e}"))
            .into_sync(),
        remote,
        author: test_author(),
        placeholders: Default::default(),
    }
}

/// Serves `app` on a free loopback port for the rest of the test; its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
