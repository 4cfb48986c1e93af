//! Webhook deliveries from a forge: whether one is authentic, and which pull request it is about.
//!
//! It owns the checks (GitHub's `X-Hub-Signature-256` HMAC, GitLab's `X-Gitlab-Token`, both
//! compared in constant time) and the reading of the few fields a delivery is routed by. It is
//! pure: no I/O, no clock, no `kube`.
//!
//! A delivery is never trusted beyond "look at this pull request again": the workflow reads the
//! pull request and its comments from the forge's API before it does anything. So only the
//! repository, the pull request's number, the comment's id and the action are read here, never a
//! comment's text, an author or a head commit. Nothing here may put a body, a signature or a
//! secret in an error message: errors name the header or the field, never its value.

use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::ForgeKind;

/// GitHub's signature header: `sha256=` and the hex HMAC-SHA256 of the raw body.
pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
/// GitHub's event name header (`pull_request`, `issue_comment`, `ping`, ...).
pub const GITHUB_EVENT: &str = "x-github-event";
/// GitHub's delivery id header (a GUID; a redelivery from the UI has a new one).
pub const GITHUB_DELIVERY: &str = "x-github-delivery";
/// GitLab's secret token header (the hook's secret as it was configured).
pub const GITLAB_TOKEN: &str = "x-gitlab-token";
/// GitLab's event name header (`Merge Request Hook`, `Note Hook`, ...).
pub const GITLAB_EVENT: &str = "x-gitlab-event";
/// GitLab's id of one event, the same on every retry of it.
pub const GITLAB_IDEMPOTENCY_KEY: &str = "idempotency-key";
/// GitLab's event UUID (older GitLab without `Idempotency-Key`).
pub const GITLAB_EVENT_UUID: &str = "x-gitlab-event-uuid";

/// What is wrong with a delivery. Messages name the header or field, never a value from the
/// request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "the delivery has no {header} header; set a secret on the webhook (the same as in the GitSync's webhookSecretRef)"
    )]
    MissingCredential { header: &'static str },
    #[error("the {header} header is not `sha256=` and 64 hex digits")]
    MalformedSignature { header: &'static str },
    #[error(
        "the {header} header does not match the webhook secret; check that the webhook's secret is the one in the GitSync's webhookSecretRef"
    )]
    Mismatch { header: &'static str },
    #[error("the delivery has no {header} header (is it from {forge}?)")]
    MissingHeader {
        forge: ForgeKind,
        header: &'static str,
    },
    #[error(
        "the body is not JSON (at line {line}, column {column}); configure the webhook's content type as application/json"
    )]
    NotJson { line: usize, column: usize },
    #[error("the {event} delivery has no {field} ({expected})")]
    MissingField {
        event: String,
        field: &'static str,
        expected: &'static str,
    },
}

impl WebhookError {
    /// A short CamelCase reason for logs and messages.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookError::MissingCredential { .. } => "WebhookUnsigned",
            WebhookError::MalformedSignature { .. } => "WebhookSignatureMalformed",
            WebhookError::Mismatch { .. } => "WebhookSignatureMismatch",
            WebhookError::MissingHeader { .. } => "WebhookHeaderMissing",
            WebhookError::NotJson { .. } => "WebhookNotJson",
            WebhookError::MissingField { .. } => "WebhookFieldMissing",
        }
    }

    /// Whether the delivery failed authentication (401), as against being malformed (400).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            WebhookError::MissingCredential { .. }
                | WebhookError::MalformedSignature { .. }
                | WebhookError::Mismatch { .. }
        )
    }
}

/// Checks GitHub's `X-Hub-Signature-256` (`sha256=` + hex HMAC-SHA256 of the raw `body` keyed
/// with `secret`), in constant time.
pub fn verify_github(
    secret: &[u8],
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = GITHUB_SIGNATURE;
    let value = signature_header.ok_or(WebhookError::MissingCredential { header })?;
    let malformed = WebhookError::MalformedSignature { header };
    let digits = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(malformed.clone())?;
    if digits.len() != 64 {
        return Err(malformed);
    }
    let tag = hex::decode(digits).map_err(|_| malformed)?;
    // Any key length is valid for HMAC; the error cannot happen, but is not unwrapped.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::Mismatch { header })?;
    mac.update(body);
    mac.verify_slice(&tag)
        .map_err(|_| WebhookError::Mismatch { header })
}

/// Checks GitLab's `X-Gitlab-Token` against `secret`, in constant time (both are hashed first,
/// so that not even the secret's length shows in the time taken). GitLab removes line breaks
/// from the token it sends; so are they from `secret` here.
pub fn verify_gitlab(secret: &[u8], token_header: Option<&str>) -> Result<(), WebhookError> {
    let header = GITLAB_TOKEN;
    let token = token_header.ok_or(WebhookError::MissingCredential { header })?;
    let secret: Vec<u8> = secret
        .iter()
        .copied()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let expected = hmac::digest::CtOutput::<Sha256>::new(Sha256::digest(&secret));
    let given = hmac::digest::CtOutput::<Sha256>::new(Sha256::digest(token.as_bytes()));
    // An empty secret would let any empty token through.
    if expected == given && !secret.is_empty() {
        Ok(())
    } else {
        Err(WebhookError::Mismatch { header })
    }
}

/// One delivery, authenticated, as far as it is read: which repository and which pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub forge: ForgeKind,
    /// GitHub's `X-GitHub-Delivery`; GitLab's `Idempotency-Key` (the same on every retry of one
    /// event), else `X-Gitlab-Event-UUID`. What repeated deliveries are recognised by.
    pub id: String,
    /// GitHub's `repository.full_name` (`owner/repo`); GitLab's `project.path_with_namespace`
    /// (`group/subgroup/project`).
    pub repository: String,
    pub event: Event,
}

/// What a delivery is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A pull request (merge request) was opened, pushed to, closed, ... `action` is the
    /// forge's word (`opened`, `synchronize`, `closed`; GitLab `open`, `update`, `merge`, or
    /// empty when the payload has none).
    PullRequest { number: u64, action: String },
    /// A comment on a pull request's conversation was created, edited or deleted (GitHub
    /// `created`, `edited`, `deleted`; GitLab `create`, `update`, or empty).
    Comment {
        number: u64,
        comment_id: u64,
        action: String,
    },
    /// The forge checks that the hook works.
    Ping,
    /// Anything else (a push, a comment on an issue or a commit, an installation, ...), by
    /// the forge's event name: accepted and dropped.
    Other(String),
}

impl Event {
    /// A short word for logs and metrics: `pull_request`, `comment`, `ping`, `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PullRequest { .. } => "pull_request",
            Event::Comment { .. } => "comment",
            Event::Ping => "ping",
            Event::Other(_) => "other",
        }
    }

    /// The pull request it is about, if any.
    pub fn pull(&self) -> Option<u64> {
        match self {
            Event::PullRequest { number, .. } | Event::Comment { number, .. } => Some(*number),
            Event::Ping | Event::Other(_) => None,
        }
    }
}

/// The header `name`, when it is present and text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The repository a delivery names, read from a body that is not verified yet: only to find
/// which secrets to verify it against. `None` when the body is not JSON or names none (a
/// GitHub App's or an organization's `ping`).
pub fn repository_hint(kind: ForgeKind, body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    repository_of(kind, &value).map(str::to_owned)
}

fn repository_of(kind: ForgeKind, value: &Value) -> Option<&str> {
    let pointer = match kind {
        ForgeKind::GitHub => "/repository/full_name",
        ForgeKind::GitLab => "/project/path_with_namespace",
    };
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Reads an authenticated delivery: its id, its repository and what it is about. Call it only
/// after [`verify_github`] or [`verify_gitlab`] passed.
pub fn parse(kind: ForgeKind, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, WebhookError> {
    let missing = |header| WebhookError::MissingHeader {
        forge: kind,
        header,
    };
    let (event_name, id) = match kind {
        ForgeKind::GitHub => (
            header(headers, GITHUB_EVENT).ok_or(missing(GITHUB_EVENT))?,
            header(headers, GITHUB_DELIVERY).ok_or(missing(GITHUB_DELIVERY))?,
        ),
        ForgeKind::GitLab => (
            header(headers, GITLAB_EVENT).ok_or(missing(GITLAB_EVENT))?,
            header(headers, GITLAB_IDEMPOTENCY_KEY)
                .or_else(|| header(headers, GITLAB_EVENT_UUID))
                .ok_or(missing(GITLAB_IDEMPOTENCY_KEY))?,
        ),
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| WebhookError::NotJson {
        line: e.line(),
        column: e.column(),
    })?;
    let fields = Fields {
        event: event_name,
        value: &value,
    };
    let repository = match kind {
        ForgeKind::GitHub => fields.str("/repository/full_name", "repository.full_name")?,
        ForgeKind::GitLab => fields.str(
            "/project/path_with_namespace",
            "project.path_with_namespace",
        )?,
    };
    let event = match kind {
        ForgeKind::GitHub => github_event(&fields)?,
        ForgeKind::GitLab => gitlab_event(&fields)?,
    };
    Ok(Delivery {
        forge: kind,
        id: id.to_owned(),
        repository: repository.to_owned(),
        event,
    })
}

/// A payload and its event's name, for errors that say which field is missing.
struct Fields<'a> {
    event: &'a str,
    value: &'a Value,
}

impl Fields<'_> {
    fn missing(&self, field: &'static str, expected: &'static str) -> WebhookError {
        WebhookError::MissingField {
            event: self.event.to_owned(),
            field,
            expected,
        }
    }

    fn str(&self, pointer: &str, field: &'static str) -> Result<&str, WebhookError> {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.missing(field, "a string"))
    }

    fn u64(&self, pointer: &str, field: &'static str) -> Result<u64, WebhookError> {
        self.value
            .pointer(pointer)
            .and_then(Value::as_u64)
            .ok_or_else(|| self.missing(field, "a positive integer"))
    }

    /// An action: a string, or empty when the payload has none.
    fn action(&self, pointer: &str) -> String {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }
}

fn github_event(f: &Fields<'_>) -> Result<Event, WebhookError> {
    Ok(match f.event {
        "pull_request" => Event::PullRequest {
            number: f.u64("/number", "number")?,
            action: f.str("/action", "action")?.to_owned(),
        },
        // An issue's comment has the same event; only a pull request's issue has
        // `issue.pull_request`.
        "issue_comment" if f.value.pointer("/issue/pull_request").is_some() => Event::Comment {
            number: f.u64("/issue/number", "issue.number")?,
            comment_id: f.u64("/comment/id", "comment.id")?,
            action: f.str("/action", "action")?.to_owned(),
        },
        "ping" => Event::Ping,
        other => Event::Other(other.to_owned()),
    })
}

fn gitlab_event(f: &Fields<'_>) -> Result<Event, WebhookError> {
    Ok(match f.event {
        "Merge Request Hook" => Event::PullRequest {
            number: f.u64("/object_attributes/iid", "object_attributes.iid")?,
            action: f.action("/object_attributes/action"),
        },
        "Note Hook"
            if f.value.pointer("/object_attributes/noteable_type")
                == Some(&Value::from("MergeRequest")) =>
        {
            Event::Comment {
                number: f.u64("/merge_request/iid", "merge_request.iid")?,
                comment_id: f.u64("/object_attributes/id", "object_attributes.id")?,
                action: f.action("/object_attributes/action"),
            }
        }
        other => Event::Other(other.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    macro_rules! fixture {
        ($path:literal) => {
            include_bytes!(concat!("../../tests/fixtures/forge/", $path)).as_slice()
        };
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{name}: {e}")),
            );
        }
        map
    }

    type Checked = Result<(), WebhookError>;
    /// A name, the secret, the body, the signature header and the outcome.
    type Signed<'a> = (&'a str, &'a [u8], &'a [u8], Option<&'a str>, Checked);
    type Parsed = Result<Delivery, WebhookError>;
    /// A name, the forge, the headers, the body, and the repository and event it is about.
    type Case<'a> = (&'a str, ForgeKind, HeaderMap, &'a [u8], &'a str, Event);

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|e| panic!("{e}"));
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn github_signature_matches_the_documented_vector() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(secret, body), good);
        assert_eq!(verify_github(secret, body, Some(good)), Ok(()));
        let header = GITHUB_SIGNATURE;
        let mismatch = Err(WebhookError::Mismatch { header });
        let malformed = Err(WebhookError::MalformedSignature { header });
        let cases: &[Signed<'_>] = &[
            (
                "the body changed",
                secret,
                b"Hello, World?",
                Some(good),
                mismatch.clone(),
            ),
            (
                "another secret",
                b"It's a secret to everybody",
                body,
                Some(good),
                mismatch.clone(),
            ),
            (
                "a body with a trailing newline",
                secret,
                b"Hello, World!\n",
                Some(good),
                mismatch.clone(),
            ),
            (
                "no header",
                secret,
                body,
                None,
                Err(WebhookError::MissingCredential { header }),
            ),
            (
                "sha1, GitHub's old header form",
                secret,
                body,
                Some("sha1=0123456789abcdef0123456789abcdef01234567"),
                malformed.clone(),
            ),
            (
                "no prefix",
                secret,
                body,
                Some(&good[7..]),
                malformed.clone(),
            ),
            (
                "truncated",
                secret,
                body,
                Some(&good[..good.len() - 2]),
                malformed.clone(),
            ),
            (
                "not hex",
                secret,
                body,
                Some("sha256=z57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
                malformed.clone(),
            ),
            (
                "one digit off",
                secret,
                body,
                Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"),
                mismatch.clone(),
            ),
            (
                "upper-case hex is the same bytes",
                secret,
                body,
                Some("sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"),
                Ok(()),
            ),
            (
                "an empty secret signs too, but not this",
                b"",
                body,
                Some(good),
                mismatch.clone(),
            ),
        ];
        for (name, secret, body, header, want) in cases {
            assert_eq!(&verify_github(secret, body, *header), want, "{name}");
        }
    }

    #[test]
    fn gitlab_token_is_compared_whole() {
        let header = GITLAB_TOKEN;
        let mismatch = Err(WebhookError::Mismatch { header });
        let cases: &[(&str, &[u8], Option<&str>, Checked)] = &[
            ("equal", b"s3cret-token", Some("s3cret-token"), Ok(())),
            (
                "a secret file's trailing newline",
                b"s3cret-token\n",
                Some("s3cret-token"),
                Ok(()),
            ),
            (
                "a prefix",
                b"s3cret-token",
                Some("s3cret"),
                mismatch.clone(),
            ),
            (
                "longer",
                b"s3cret-token",
                Some("s3cret-token2"),
                mismatch.clone(),
            ),
            (
                "case",
                b"s3cret-token",
                Some("S3cret-token"),
                mismatch.clone(),
            ),
            ("empty token", b"s3cret-token", Some(""), mismatch.clone()),
            ("empty secret and token", b"", Some(""), mismatch.clone()),
            (
                "no header",
                b"s3cret-token",
                None,
                Err(WebhookError::MissingCredential { header }),
            ),
        ];
        for (name, secret, token, want) in cases {
            assert_eq!(&verify_gitlab(secret, *token), want, "{name}");
        }
    }

    #[test]
    fn errors_never_carry_what_was_sent() {
        let secret = b"hunter2-secret";
        let e = verify_github(secret, b"body", Some("sha256=deadbeef")).unwrap_err();
        let e2 = verify_gitlab(secret, Some("guessed-token")).unwrap_err();
        for shown in [e.to_string(), e2.to_string(), format!("{e:?}{e2:?}")] {
            assert!(
                !shown.contains("deadbeef")
                    && !shown.contains("guessed")
                    && !shown.contains("hunter2"),
                "{shown}"
            );
        }
        assert!(e.is_unauthorized() && e2.is_unauthorized());
        assert_eq!(e2.reason(), "WebhookSignatureMismatch");
    }

    const GH_ID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    fn github(event: &str) -> HeaderMap {
        headers(&[(GITHUB_EVENT, event), (GITHUB_DELIVERY, GH_ID)])
    }

    fn gitlab(event: &str) -> HeaderMap {
        headers(&[
            (GITLAB_EVENT, event),
            (GITLAB_IDEMPOTENCY_KEY, "idem-1"),
            (GITLAB_EVENT_UUID, "uuid-1"),
        ])
    }

    #[test]
    fn real_payloads_are_read() {
        let hello = "Codertocat/Hello-World";
        let pr = |action: &str| Event::PullRequest {
            number: 2,
            action: action.into(),
        };
        let cases: Vec<Case<'_>> = vec![
            (
                "opened",
                ForgeKind::GitHub,
                github("pull_request"),
                fixture!("github-webhooks/pull_request/opened.payload.json"),
                hello,
                pr("opened"),
            ),
            (
                "synchronize",
                ForgeKind::GitHub,
                github("pull_request"),
                fixture!("github-webhooks/pull_request/synchronize.payload.json"),
                hello,
                pr("synchronize"),
            ),
            (
                "reopened",
                ForgeKind::GitHub,
                github("pull_request"),
                fixture!("github-webhooks/pull_request/reopened.payload.json"),
                hello,
                pr("reopened"),
            ),
            (
                "closed",
                ForgeKind::GitHub,
                github("pull_request"),
                fixture!("github-webhooks/pull_request/closed.payload.json"),
                hello,
                pr("closed"),
            ),
            (
                "a pull request's comment",
                ForgeKind::GitHub,
                github("issue_comment"),
                fixture!("github-webhooks/issue_comment/created.on-pull-request.payload.json"),
                hello,
                Event::Comment {
                    number: 1,
                    comment_id: 492_700_400,
                    action: "created".into(),
                },
            ),
            (
                "an issue's comment",
                ForgeKind::GitHub,
                github("issue_comment"),
                fixture!("github-webhooks/issue_comment/created.payload.json"),
                hello,
                Event::Other("issue_comment".into()),
            ),
            (
                "an issue's edited comment",
                ForgeKind::GitHub,
                github("issue_comment"),
                fixture!("github-webhooks/issue_comment/edited.payload.json"),
                hello,
                Event::Other("issue_comment".into()),
            ),
            (
                "ping",
                ForgeKind::GitHub,
                github("ping"),
                fixture!("github-webhooks/ping/payload.json"),
                "Octocoders/Hello-World",
                Event::Ping,
            ),
            (
                "push",
                ForgeKind::GitHub,
                github("push"),
                fixture!("github-webhooks/push/payload.json"),
                hello,
                Event::Other("push".into()),
            ),
            (
                "check_run",
                ForgeKind::GitHub,
                github("check_run"),
                fixture!("github-webhooks/check_run/created.payload.json"),
                hello,
                Event::Other("check_run".into()),
            ),
            (
                "merge request",
                ForgeKind::GitLab,
                gitlab("Merge Request Hook"),
                fixture!("gitlab-webhooks/merge_request_hook.example.json"),
                "gitlabhq/gitlab-test",
                Event::PullRequest {
                    number: 1,
                    action: "open".into(),
                },
            ),
            (
                "merge request note",
                ForgeKind::GitLab,
                gitlab("Note Hook"),
                fixture!("gitlab-webhooks/note_hook_merge_request.example.json"),
                "gitlab-org/gitlab-test",
                Event::Comment {
                    number: 1,
                    comment_id: 1244,
                    action: "create".into(),
                },
            ),
            (
                "push hook",
                ForgeKind::GitLab,
                gitlab("Push Hook"),
                fixture!("gitlab-webhooks/merge_request_hook.example.json"),
                "gitlabhq/gitlab-test",
                Event::Other("Push Hook".into()),
            ),
        ];
        for (name, kind, headers, body, repository, event) in cases {
            let got = parse(kind, &headers, body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.repository, repository, "{name}");
            assert_eq!(got.event, event, "{name}");
            assert_eq!(got.forge, kind, "{name}");
            assert_eq!(
                got.id,
                if kind == ForgeKind::GitHub {
                    GH_ID
                } else {
                    "idem-1"
                },
                "{name}"
            );
            assert_eq!(
                repository_hint(kind, body).as_deref(),
                Some(repository),
                "{name}"
            );
        }
    }

    #[test]
    fn a_gitlab_note_elsewhere_is_other() {
        let body = String::from_utf8_lossy(fixture!(
            "gitlab-webhooks/note_hook_merge_request.example.json"
        ))
        .replace(
            "\"noteable_type\": \"MergeRequest\"",
            "\"noteable_type\": \"Issue\"",
        );
        let got = parse(ForgeKind::GitLab, &gitlab("Note Hook"), body.as_bytes());
        assert_eq!(got.map(|d| d.event), Ok(Event::Other("Note Hook".into())));
    }

    #[test]
    fn gitlab_without_an_idempotency_key_uses_the_event_uuid() {
        let body = fixture!("gitlab-webhooks/merge_request_hook.example.json");
        let h = headers(&[
            (GITLAB_EVENT, "Merge Request Hook"),
            (GITLAB_EVENT_UUID, "uuid-7"),
        ]);
        assert_eq!(
            parse(ForgeKind::GitLab, &h, body).map(|d| d.id),
            Ok("uuid-7".into())
        );
        let h = headers(&[(GITLAB_EVENT, "Merge Request Hook")]);
        assert_eq!(
            parse(ForgeKind::GitLab, &h, body),
            Err(WebhookError::MissingHeader {
                forge: ForgeKind::GitLab,
                header: GITLAB_IDEMPOTENCY_KEY
            })
        );
    }

    #[test]
    fn malformed_deliveries_name_what_is_missing() {
        let pr = fixture!("github-webhooks/pull_request/opened.payload.json");
        let missing = |event: &str, field, expected| {
            Err(WebhookError::MissingField {
                event: event.into(),
                field,
                expected,
            })
        };
        let cases: Vec<(&str, ForgeKind, HeaderMap, &[u8], Parsed)> = vec![
            ("no event header", ForgeKind::GitHub, headers(&[(GITHUB_DELIVERY, GH_ID)]), pr, Err(WebhookError::MissingHeader { forge: ForgeKind::GitHub, header: GITHUB_EVENT })),
            ("no delivery header", ForgeKind::GitHub, headers(&[(GITHUB_EVENT, "pull_request")]), pr, Err(WebhookError::MissingHeader { forge: ForgeKind::GitHub, header: GITHUB_DELIVERY })),
            ("a form-encoded body", ForgeKind::GitHub, github("ping"), b"payload=%7B%7D", Err(WebhookError::NotJson { line: 1, column: 1 })),
            ("no repository", ForgeKind::GitHub, github("ping"), br#"{"zen":"x","hook_id":1}"#, missing("ping", "repository.full_name", "a string")),
            ("a number that is text", ForgeKind::GitHub, github("pull_request"), br#"{"action":"opened","number":"2","repository":{"full_name":"a/b"}}"#, missing("pull_request", "number", "a positive integer")),
            ("a negative number", ForgeKind::GitHub, github("pull_request"), br#"{"action":"opened","number":-2,"repository":{"full_name":"a/b"}}"#, missing("pull_request", "number", "a positive integer")),
            ("no comment id", ForgeKind::GitHub, github("issue_comment"), br#"{"action":"created","issue":{"number":1,"pull_request":{}},"comment":{},"repository":{"full_name":"a/b"}}"#, missing("issue_comment", "comment.id", "a positive integer")),
            ("gitlab: no iid", ForgeKind::GitLab, gitlab("Merge Request Hook"), br#"{"project":{"path_with_namespace":"g/p"},"object_attributes":{"id":5}}"#, missing("Merge Request Hook", "object_attributes.iid", "a positive integer")),
            ("gitlab: a github payload", ForgeKind::GitLab, gitlab("Merge Request Hook"), pr, missing("Merge Request Hook", "project.path_with_namespace", "a string")),
        ];
        for (name, kind, headers, body, want) in cases {
            assert_eq!(parse(kind, &headers, body), want, "{name}");
        }
        assert_eq!(repository_hint(ForgeKind::GitHub, b"payload=%7B%7D"), None);
        assert_eq!(
            repository_hint(ForgeKind::GitHub, br#"{"repository":{"full_name":""}}"#),
            None
        );
        assert_eq!(
            repository_hint(
                ForgeKind::GitHub,
                fixture!("github-webhooks/installation/created.payload.json")
            ),
            None
        );
    }

    #[test]
    fn an_error_never_quotes_the_body() {
        let body = br#"{"action":"opened","number":"hunter2","repository":{"full_name":"a/b"}}"#;
        let e = parse(ForgeKind::GitHub, &github("pull_request"), body).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse(
            ForgeKind::GitHub,
            &github("pull_request"),
            b"{\"hunter2\" 1}",
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
