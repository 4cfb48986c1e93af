//! `git http-backend` behind Basic auth (user `gitsync`, password `s3cret`), served on loopback
//! through the local forge's CGI bridge (`gitsync::forge::local::git_http::http_backend`): the
//! smart HTTP server the HTTPS tests push to.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub const USER: &str = "gitsync";
pub const PASSWORD: &str = "s3cret";

/// Serves the bare repositories under `root` on a free loopback port, returned.
pub async fn serve(root: PathBuf) -> u16 {
    serve_as(root, USER, PASSWORD).await
}

/// As [`serve`], behind Basic auth for `user:password` (a forge's token, for the tests whose
/// Git and API credentials are one).
pub async fn serve_as(root: PathBuf, user: &str, password: &str) -> u16 {
    let expected = format!("Basic {}", base64_basic(user, password));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let app = axum::Router::new()
        .fallback(move |m, u, h, b| cgi(root.clone(), expected.clone(), m, u, h, b));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// `git http-backend` as CGI, behind Basic auth (`expected`: the whole header value).
async fn cgi(
    root: PathBuf,
    expected: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"git\"")],
            "",
        )
            .into_response();
    }
    gitsync::forge::local::git_http::http_backend(
        root,
        uri.path().to_owned(),
        method,
        uri.query().unwrap_or("").to_owned(),
        &headers,
        body,
        USER.to_owned(),
    )
    .await
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}
