//! The local GitHub for the tests: [`gitsync::forge::local::LocalForge`] served on loopback
//! behind a layer that records every exchange with `/api/v3` as it went over the wire, so a test
//! can check all of them against GitHub's official description
//! ([`super::openapi::OpenApi::github`]) with [`TestGitHub::violations`]. Also the test GitHub
//! App (its key pair is a fixture made for the tests) and repositories to open pull requests in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use gitsync::forge::local::{AppConfig, LocalForge, LocalForgeConfig, Running};
use serde_json::Value as Json;

use super::openapi::{Exchange, OpenApi};
use super::{fixtures_root, git};

/// GitHub's description, read once for every test.
pub static GITHUB_API: LazyLock<OpenApi> = LazyLock::new(OpenApi::github);

/// The test App's id, slug, client id and installation.
pub const APP_ID: u64 = 4242;
pub const APP_SLUG: &str = "gitsync-test";
pub const APP_CLIENT_ID: &str = "Iv23liTestClient";
pub const INSTALLATION_ID: u64 = 777;

/// The test App's private key (PKCS#1 PEM, as GitHub hands them out), made for the tests.
pub fn app_private_key() -> String {
    read(&fixtures_root().join("forge/app-private-key.pem"))
}

/// Another key, which the forge does not know.
pub fn other_private_key() -> String {
    read(&fixtures_root().join("forge/other-private-key.pem"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The local forge's settings for the test App.
pub fn app_config() -> AppConfig {
    AppConfig {
        id: APP_ID,
        slug: APP_SLUG.into(),
        client_id: APP_CLIENT_ID.into(),
        public_key_pem: read(&fixtures_root().join("forge/app-public-key.pem")),
        installation_id: INSTALLATION_ID,
    }
}

type Log = Arc<Mutex<Vec<Exchange>>>;

/// A running local GitHub, its recorded exchanges, and a directory for its repositories.
pub struct TestGitHub {
    pub forge: LocalForge,
    pub running: Running,
    log: Log,
    pub dir: tempfile::TempDir,
}

impl TestGitHub {
    /// Serves a local forge with the test App on a free loopback port.
    pub async fn start() -> TestGitHub {
        TestGitHub::start_with(LocalForgeConfig {
            app: Some(app_config()),
            ..LocalForgeConfig::default()
        })
        .await
    }

    pub async fn start_with(config: LocalForgeConfig) -> TestGitHub {
        let forge = LocalForge::new(config);
        let log: Log = Arc::default();
        let recorder = log.clone();
        let running = forge
            .serve_with(([127, 0, 0, 1], 0).into(), move |router| {
                router.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let recorder = recorder.clone();
                        async move { record(recorder, request, next).await }
                    },
                ))
            })
            .await
            .unwrap_or_else(|e| panic!("serving the local forge: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        TestGitHub {
            forge,
            running,
            log,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT/api/v3`.
    pub fn api_url(&self) -> String {
        self.running.api_url()
    }

    /// Every exchange with `/api/v3` so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Everything in the exchanges so far that GitHub's description does not allow.
    pub fn violations(&self) -> Vec<String> {
        self.exchanges()
            .iter()
            .flat_map(|ex| GITHUB_API.check(ex))
            .collect()
    }

    /// What is wrong with the forge's answers so far (statuses and bodies), leaving out what is
    /// wrong with the requests: for a test that sends bad requests on purpose.
    pub fn response_violations(&self) -> Vec<String> {
        self.exchanges()
            .iter()
            .flat_map(|ex| GITHUB_API.check_response(ex))
            .collect()
    }

    /// A bare repository `owner/name` on the forge, with `main` holding one commit, and a
    /// work tree (a clone) to make branches in with [`push_change`].
    pub fn repository(&self, owner: &str, name: &str) -> (PathBuf, PathBuf) {
        let root = self.dir.path();
        let (bare, _) = super::bare_remote(root, &format!("{owner}-{name}.git"));
        let work = root.join(format!("{owner}-{name}-work"));
        git(root, &["init", "-q", "-b", "main", &work.to_string_lossy()]);
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()]);
        push_change(&work, "main", "README.md", "# test\n");
        self.forge
            .add_repository(owner, name, &bare, "main")
            .unwrap_or_else(|e| panic!("{e}"));
        (bare, work)
    }
}

/// Commits `file` with `contents` on `branch` of the work tree `work` (made from `main` when new)
/// and pushes it; returns the commit.
pub fn push_change(work: &Path, branch: &str, file: &str, contents: &str) -> String {
    let exists = std::process::Command::new("git")
        .arg("-C")
        .arg(work)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    let has_main = std::process::Command::new("git")
        .arg("-C")
        .arg(work)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()
        .is_ok_and(|o| o.status.success());
    if exists {
        git(work, &["checkout", "-q", branch]);
    } else if has_main {
        git(work, &["checkout", "-q", "-b", branch, "main"]);
    }
    let path = work.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sha = super::commit_all(work, &format!("change {file} on {branch}"));
    git(
        work,
        &["push", "-q", "origin", &format!("{branch}:{branch}")],
    );
    sha
}

/// Records one exchange: the request as it arrived, the answer as it left.
async fn record(
    log: Log,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let method = parts.method.to_string();
    let request_body = json_of(&bytes);
    let response = next
        .run(axum::extract::Request::from_parts(parts, bytes.into()))
        .await;
    let Some(api_path) = path.strip_prefix("/api/v3") else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Exchange {
            method,
            path: api_path.to_owned(),
            query,
            request_body,
            status: parts.status.as_u16(),
            response_body: json_of(&bytes),
        });
    axum::response::Response::from_parts(parts, bytes.into())
}

/// The body as JSON; an empty body is `None`, one that is not JSON is kept as a string (so
/// that the check reports it).
fn json_of(bytes: &[u8]) -> Option<Json> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(bytes).into_owned())),
    )
}
