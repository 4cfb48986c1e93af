//! `git http-backend` behind Basic auth (user `gitsync`, password `s3cret`), served on loopback
//! through a small CGI bridge: the smart HTTP server the HTTPS tests push to.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub const USER: &str = "gitsync";
pub const PASSWORD: &str = "s3cret";

/// Serves the bare repositories under `root` on a free loopback port, returned.
pub async fn serve(root: PathBuf) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let app = axum::Router::new().fallback(move |m, u, h, b| cgi(root.clone(), m, u, h, b));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// `git http-backend` as CGI, behind Basic auth for `user:password`.
async fn cgi(root: PathBuf, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let expected = format!("Basic {}", base64_basic(USER, PASSWORD));
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
