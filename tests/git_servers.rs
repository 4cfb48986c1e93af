//! The sync against real Git servers on loopback: `git http-backend` behind Basic auth (through a
//! small CGI bridge) and `git daemon`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{TestWorkspace, bare_remote, fixture_dir, git, sync_target};
use gitsync::git::remote::{Auth, Remote, RemoteError};
use gitsync::model::ResourceType;
use gitsync::sync::full::{SyncError, full_sync};

/// `git http-backend` as CGI, behind Basic auth for `user:password`.
async fn cgi(root: PathBuf, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let expected = format!("Basic {}", base64_basic("gitsync", "s3cret"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"git\"")],
            "",
        )
            .into_response();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, content_encoding) = (header("content-type"), header("content-encoding"));
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", method.as_str())
            .env("PATH_INFO", uri.path())
            .env("QUERY_STRING", uri.query().unwrap_or(""))
            .env("CONTENT_TYPE", content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", content_encoding)
            .env("REMOTE_USER", "gitsync")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(&body);
        }
        child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // CGI output: headers, a blank line, the body.
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return (StatusCode::BAD_GATEWAY, "bad CGI output").into_response();
    };
    let mut status = StatusCode::OK;
    let mut response_headers: HashMap<String, String> = HashMap::new();
    for line in String::from_utf8_lossy(&raw[..at]).lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v
                    .trim()
                    .split(' ')
                    .next()
                    .and_then(|c| c.parse().ok())
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::OK);
            } else {
                response_headers.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    let mut response = (status, raw[at + sep..].to_vec()).into_response();
    for (k, v) in response_headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k),
            axum::http::HeaderValue::try_from(v),
        ) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn https_style_basic_auth_through_git_http_backend() {
    let ws = TestWorkspace::start(None).await;
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(&repos, "repo.git");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let serve_root = repos.clone();
    let app = axum::Router::new().fallback(move |m, u, h, b| cgi(serve_root.clone(), m, u, h, b));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://127.0.0.1:{port}/repo.git");
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let client = ws.client("");

    let right = sync_target(
        root.path(),
        "cache-1.git",
        Remote {
            url: url.clone(),
            branch: "main".into(),
            auth: Auth::Basic {
                username: "gitsync".into(),
                password: "s3cret".into(),
            },
        },
    );
    let report = full_sync(&client, &right, &types, "2026-01-01T00:00:00.000Z")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.commits.len(), 12);
    assert_eq!(
        git(&remote_path, &["rev-parse", "main"]),
        report.commits[11].to_string()
    );

    let wrong = sync_target(
        root.path(),
        "cache-2.git",
        Remote {
            url: url.clone(),
            branch: "main".into(),
            auth: Auth::Basic {
                username: "gitsync".into(),
                password: "nope".into(),
            },
        },
    );
    let e = full_sync(&client, &wrong, &types, "2026-01-01T00:00:00.000Z")
        .await
        .err();
    assert!(
        matches!(
            &e,
            Some(SyncError::Remote(RemoteError::AuthenticationFailed { .. }))
        ),
        "{e:?}"
    );
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!(
            "{url}: authentication failed; check the credentials in the GitConnection's Secret"
        ))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn git_daemon() {
    let ws = TestWorkspace::start(None).await;
    gitsync::workspace::embedded::seed_from_hcl(&ws.store, &fixture_dir("v2025"))
        .unwrap_or_else(|e| panic!("{e}"));
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(&repos, "repo.git");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    // `git daemon` runs `git-daemon` as a child; start that program itself so that killing it
    // stops the server.
    let exec_path = git(root.path(), &["--exec-path"]);
    let mut daemon = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args([
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", repos.display()))
        .arg(&repos)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let t = sync_target(
        root.path(),
        "cache-3.git",
        Remote {
            url: format!("git://127.0.0.1:{port}/repo.git"),
            branch: "main".into(),
            auth: Auth::None,
        },
    );
    let report = full_sync(&ws.client(""), &t, &types, "2026-01-01T00:00:00.000Z").await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.commits.len(), 12);
    assert_eq!(
        git(&remote_path, &["rev-parse", "main"]),
        report.commits[11].to_string()
    );
}
