//! Git over HTTP for the local forge's repositories, as github.com serves them: smart HTTP at
//! `http://HOST/{owner}/{repo}.git` (the `clone_url` of the API's repositories), by
//! `git http-backend` run as CGI, behind Basic authentication whose password is a token the API
//! takes (a user's, or an installation token under any user name, GitHub's `x-access-token`).
//! Fetching needs any valid token; pushing needs a role that may push. A push that moves the
//! head branch of an open pull request is noted at once, as GitHub notes one.
//!
//! Never logs a token; never serves a path outside the forge's repositories.

use std::process::{Command, Stdio};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::LocalForge;

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"GitHub\"")],
        "Invalid username or token. Password authentication is not supported for Git operations.\n",
    )
        .into_response()
}

/// The password of `Authorization: Basic`.
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// `/{owner}/{repo}.git/{rest}`: `git http-backend` on the repository's bare directory.
pub async fn serve(
    State(forge): State<LocalForge>,
    Path((owner, repo_git, rest)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Repository not found.\n").into_response();
    let Some(name) = repo_git.strip_suffix(".git") else {
        return not_found();
    };
    let full_name = format!("{owner}/{name}");
    let pushing = rest == "git-receive-pack"
        || uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "service=git-receive-pack"));
    let (path, login) = {
        let state = forge.lock();
        let Some(password) = basic_password(&headers) else {
            return unauthorized();
        };
        let mut bearer = HeaderMap::new();
        let Ok(value) = HeaderValue::from_str(&format!("Bearer {password}")) else {
            return unauthorized();
        };
        bearer.insert(header::AUTHORIZATION, value);
        let Ok(login) = super::server::actor(&state, &bearer) else {
            return unauthorized();
        };
        if super::server::reader(&state, &bearer).is_err() {
            return not_found();
        }
        let Some(repo) = state.repos.get(&full_name) else {
            return not_found();
        };
        if pushing && !state.users.get(&login).is_some_and(|u| u.role.may_push()) {
            return (
                StatusCode::FORBIDDEN,
                format!("Permission to {full_name}.git denied to {login}.\n"),
            )
                .into_response();
        }
        (repo.path.clone(), login)
    };
    let (Some(root), Some(dir)) = (path.parent(), path.file_name()) else {
        return not_found();
    };
    let path_info = format!("/{}/{rest}", dir.to_string_lossy());
    let query = uri.query().unwrap_or("").to_owned();
    let response = http_backend(
        root.to_owned(),
        path_info,
        method,
        query,
        &headers,
        body,
        login,
    )
    .await;
    if rest == "git-receive-pack"
        && let Err(e) = forge.sync_pushes()
    {
        tracing::warn!("local forge: noting a push to {full_name}: {e}");
    }
    response
}

/// One request to `git http-backend`, run as CGI on a blocking thread, for the bare
/// repositories under `root` (`path_info`: `/<directory>/<rest of the URL path>`), as
/// `remote_user` (which also lets it take pushes). A failure to run it is a 500 (and logged).
pub async fn http_backend(
    root: std::path::PathBuf,
    path_info: String,
    method: Method,
    query: String,
    headers: &HeaderMap,
    body: Bytes,
    remote_user: String,
) -> Response {
    let header_text = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let content_encoding = header_text(header::CONTENT_ENCODING);
    let protocol = header_text(HeaderName::from_static("git-protocol"));
    let ran = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", method.as_str())
            .env("PATH_INFO", path_info)
            .env("QUERY_STRING", query)
            .env("CONTENT_TYPE", content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", content_encoding)
            .env("GIT_PROTOCOL", protocol)
            .env("REMOTE_USER", remote_user)
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(&body)?;
        }
        child.wait_with_output()
    })
    .await;
    match ran {
        Ok(Ok(output)) => cgi_response(&output.stdout),
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&e),
    }
}

fn failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!("local forge: git http-backend: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "git failed\n").into_response()
}

/// A CGI answer (headers, a blank line, the body) as an HTTP response.
fn cgi_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return (StatusCode::BAD_GATEWAY, "bad CGI output\n").into_response();
    };
    let mut status = StatusCode::OK;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(&raw[..at]).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.eq_ignore_ascii_case("status") {
            status = v
                .trim()
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
        } else if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.trim()),
            HeaderValue::try_from(v.trim()),
        ) {
            headers.push((k, v));
        }
    }
    let mut response = (status, raw[at + sep..].to_vec()).into_response();
    for (k, v) in headers {
        response.headers_mut().insert(k, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_basic_authentication_is_the_token() {
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            (
                format!("Basic {}", encode("x-access-token:ghs_abc")),
                Some("ghs_abc"),
            ),
            (format!("basic {}", encode("anyone:tok:en")), Some("tok:en")),
            (format!("Basic {}", encode("no-colon")), None),
            ("Bearer ghs_abc".to_owned(), None),
            ("Basic !!!".to_owned(), None),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("")),
            );
            assert_eq!(basic_password(&headers).as_deref(), want, "{value}");
        }
    }
}
