//! URLs (of repositories and workspaces): the one form gitsync shows, and the credentials a URL carries.
//!
//! A URL may carry credentials (`https://user:token@host/x.git`); a user may rely on them, so they
//! must keep working for the fetch and the push. They must never be shown or stored: every
//! error, log line, condition, Event and file name uses [`redacted`], and the transport takes the
//! credentials out of the URL ([`split_credentials`]) to send them the way it sends any other
//! credentials (a header in memory or in the environment), never on a command line.
//!
//! This module owns the URL's syntax only; it never connects anywhere.

/// Whether `scheme` is SSH, where the user in a URL (`ssh://git@host/...`) is a login name and
/// not a secret; for every other scheme a lone user is often a token (`https://TOKEN@host/...`).
fn is_ssh(scheme: &str) -> bool {
    matches!(
        scheme.to_ascii_lowercase().as_str(),
        "ssh" | "git+ssh" | "ssh+git"
    )
}

/// The parts of `scheme://[userinfo@]rest`, or `None` for a URL without `://` (scp-like
/// `user@host:path`, or a path).
fn parts(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let (scheme, after) = url.split_once("://")?;
    // The authority ends at the first `/`, `?` or `#`; a userinfo is before its last `@`.
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    match after[..end].rfind('@') {
        Some(at) => Some((scheme, Some(&after[..at]), &after[at + 1..])),
        None => Some((scheme, None, after)),
    }
}

/// `url` as gitsync shows it: without a password, and without any user name except SSH's login
/// name. `https://user:PASS@host/x.git` is shown as `https://host/x.git`,
/// `ssh://git:PASS@host/x.git` as `ssh://git@host/x.git`.
pub fn redacted(url: &str) -> String {
    match parts(url) {
        Some((scheme, Some(userinfo), rest)) if is_ssh(scheme) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{rest}")
        }
        Some((scheme, Some(_), rest)) => format!("{scheme}://{rest}"),
        Some((_, None, _)) => url.to_owned(),
        // scp-like `user:password@host:path` (the password is not something ssh takes, but it
        // must not be shown either).
        None => match url.split_once('@') {
            Some((userinfo, rest)) if userinfo.contains(':') && !userinfo.contains('/') => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                format!("{user}@{rest}")
            }
            _ => url.to_owned(),
        },
    }
}

/// A user name and password taken out of an HTTP(S) URL (percent-decoded; the password is empty
/// for `https://TOKEN@host/...`).
#[derive(Clone, PartialEq, Eq)]
pub struct UrlCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for UrlCredentials {
    // Never print a secret, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlCredentials(<redacted>)")
    }
}

/// For an HTTP(S) URL with credentials: the URL without them, and the credentials. Other URLs
/// are returned as they are (an SSH URL's user is the login name the transport needs).
pub fn split_credentials(url: &str) -> (String, Option<UrlCredentials>) {
    match parts(url) {
        Some((scheme, Some(userinfo), rest)) if !is_ssh(scheme) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (
                format!("{scheme}://{rest}"),
                Some(UrlCredentials {
                    username: percent_decode(user),
                    password: percent_decode(password),
                }),
            )
        }
        _ => (url.to_owned(), None),
    }
}

/// Every secret spelled in `url`, raw and percent-decoded, for scrubbing texts that might quote
/// them: the password, or, for a non-SSH URL with a user and no password, the user (a token).
pub fn secrets_in(url: &str) -> Vec<String> {
    let Some((scheme, Some(userinfo), _)) = parts(url) else {
        return Vec::new();
    };
    let secret = match userinfo.split_once(':') {
        Some((_, password)) => password,
        None if !is_ssh(scheme) => userinfo,
        None => "",
    };
    let mut secrets = vec![secret.to_owned(), percent_decode(secret)];
    secrets.retain(|s| !s.is_empty());
    secrets.dedup();
    secrets
}

/// `text` with every occurrence of `url` replaced by its [`redacted`] form and every secret of
/// `secrets` (at least 4 characters long: shorter ones would blank out ordinary words) replaced
/// by `<redacted>`: for messages of programs (git, gix) that may quote the URL as given.
pub fn scrub(text: &str, url: &str, secrets: &[String]) -> String {
    let mut out = text.replace(url, &redacted(url));
    for secret in secrets {
        if secret.chars().count() >= 4 {
            out = out.replace(secret.as_str(), "<redacted>");
        }
    }
    out
}

/// `text` with each of `urls` [`redacted`] and the secrets they carry removed: for messages
/// that quote URLs a user gave (a repository, a workspace endpoint) at the edge where they are
/// shown.
pub fn scrub_urls(text: &str, urls: &[&str]) -> String {
    urls.iter().fold(text.to_owned(), |text, url| {
        scrub(&text, url, &secrets_in(url))
    })
}

/// `%40` -> `@`; a `%` not followed by two hex digits is kept as it is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_carry_no_secret() {
        for (url, shown) in [
            (
                "https://user:PASS@host.example/x.git",
                "https://host.example/x.git",
            ),
            (
                "https://TOKEN@host.example/x.git",
                "https://host.example/x.git",
            ),
            (
                "http://u:p%40ss@127.0.0.1:8080/r.git",
                "http://127.0.0.1:8080/r.git",
            ),
            ("ssh://git@host/x.git", "ssh://git@host/x.git"),
            ("ssh://git:PASS@host:22/x.git", "ssh://git@host:22/x.git"),
            ("git:PASS@host:x.git", "git@host:x.git"),
            ("git@host:x.git", "git@host:x.git"),
            ("file:///srv/a@b/x.git", "file:///srv/a@b/x.git"),
            ("https://host/x.git?u=a@b", "https://host/x.git?u=a@b"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }

    #[test]
    fn credentials_come_out_of_http_urls_only() {
        let (url, creds) = split_credentials("https://us%3Aer:p%40ss@host/x.git");
        assert_eq!(url, "https://host/x.git");
        assert_eq!(
            creds,
            Some(UrlCredentials {
                username: "us:er".into(),
                password: "p@ss".into()
            })
        );
        assert_eq!(
            split_credentials("ssh://git@host/x.git"),
            ("ssh://git@host/x.git".into(), None)
        );
        assert_eq!(
            split_credentials("file:///tmp/x.git"),
            ("file:///tmp/x.git".into(), None)
        );
        assert!(!format!("{creds:?}").contains("p@ss"));
    }

    #[test]
    fn scrub_removes_the_url_and_its_secrets() {
        let url = "https://user:Sup%3Dr@host/x.git";
        let text = format!("fatal: unable to access '{url}/': Sup=r and Sup%3Dr");
        let scrubbed = scrub(&text, url, &secrets_in(url));
        assert_eq!(
            scrubbed,
            "fatal: unable to access 'https://host/x.git/': <redacted> and <redacted>"
        );
    }
}
