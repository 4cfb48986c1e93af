//! The HTTP transport shared by the clients of external APIs (the forges; the workspace client
//! keeps its own copy of the same rules until it moves here): timeouts, retries with jittered
//! exponential backoff, the server's rate-limit hints, and never a blind repeat of a `POST`.
//!
//! It owns when to send again, not what an answer means: any answer that is not worth another
//! try (2xx, and every 4xx but a rate limit) is handed back as a [`Response`] for the caller to
//! read. It must never log or return a request's headers or body: they carry tokens, and the
//! bodies of writes may carry secrets.
//!
//! What is retried:
//! - 429, and GitHub's rate-limit 403 (`X-RateLimit-Remaining: 0`, or a `Retry-After`), after
//!   the wait the server asks: `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset`
//!   (Unix seconds or an HTTP date), else the backoff; never longer than [`MAX_RATE_LIMIT_WAIT`];
//! - 5xx and transport failures, for `GET`, `PUT`, `PATCH`, `DELETE` and `HEAD`;
//! - for a `POST` (which creates): only a rate limit or a connection that was never made, as
//!   the server certainly did not act on it.

use std::time::{Duration, SystemTime};

use backon::BackoffBuilder as _;
pub use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};

/// The longest one rate-limit wait may be, whatever the server says.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(600);

/// How a [`Http`] sends.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts per request, including the first.
    pub max_attempts: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// One request. Build it with [`Request::new`] and the `header`/`json` helpers.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

impl std::fmt::Debug for Request {
    // Never the headers or the body: they carry tokens and secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, crate::url::redacted(&self.url))
    }
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// Adds a header; a value that cannot be a header (a line break in a token) is an error
    /// that names the header, never its value.
    pub fn header(mut self, name: &'static str, value: &str) -> Result<Request, HttpError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| HttpError::BadHeader { name })?;
        if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("private-token")
        {
            value.set_sensitive(true);
        }
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Sets a JSON body (and its content type).
    pub fn json(mut self, body: &serde_json::Value) -> Request {
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn idempotent(&self) -> bool {
        self.method != Method::POST
    }
}

/// An answer the transport does not retry: any 2xx, 3xx or 4xx but a rate limit, or the last
/// 5xx of a request that may not be repeated.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value as text, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body read as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The URL of the `rel="next"` page in a `Link` header (GitHub's and GitLab's pagination).
    pub fn next_link(&self) -> Option<String> {
        next_link(self.header("link")?)
    }

    /// The body as text, cut to a length that fits a message. Only for answers to requests
    /// without a body: an answer may echo the request.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(300) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.to_owned(),
        }
    }
}

/// Why a request got no answer worth reading.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A header value that HTTP cannot carry; nothing was sent.
    #[error(
        "the {name} header cannot be sent: its value holds a line break or another control character"
    )]
    BadHeader { name: &'static str },
    /// The client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Retries ran out on rate limits.
    #[error("{request}: still rate-limited after {attempts} attempts")]
    RateLimited { request: String, attempts: usize },
    /// Retries ran out on server errors, or a `POST` got a 5xx (not repeated: it may have been
    /// acted on).
    #[error("{request}: the server failed with {status} after {attempts} attempt(s): {body}")]
    Server {
        request: String,
        status: u16,
        attempts: usize,
        body: String,
    },
    /// Retries ran out on transport failures, or a `POST` timed out after it was sent.
    #[error("{request}: {problem} (after {attempts} attempt(s))")]
    Transport {
        request: String,
        attempts: usize,
        problem: String,
    },
}

impl HttpError {
    pub fn reason(&self) -> &'static str {
        match self {
            HttpError::BadHeader { .. } | HttpError::Client(_) => "HttpConfigInvalid",
            HttpError::RateLimited { .. } => "RateLimited",
            HttpError::Server { .. } => "ServerError",
            HttpError::Transport { .. } => "TransportError",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Server { status, .. } => Some(*status),
            HttpError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

/// A sender with retries. Cheap to clone.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    config: HttpConfig,
}

/// One attempt's verdict.
enum Attempt {
    Answer(Response),
    Retry {
        wait: Option<Duration>,
        failure: HttpError,
    },
    Fatal(HttpError),
}

impl Http {
    pub fn new(config: HttpConfig) -> Result<Http, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("gitsync/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the Authorization header to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(Http { client, config })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Sends `request`, again while that is safe and useful (see the module's rules), and
    /// returns the first answer not worth another try.
    pub async fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let mut backoff = backon::ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_max_times(self.config.max_attempts.saturating_sub(1))
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (wait, failure) = match self.attempt(request, attempts).await {
                Attempt::Answer(response) => return Ok(response),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry { wait, failure } => (wait, failure),
            };
            let next = backoff.next();
            let delay = match (wait, next) {
                (_, None) => None,
                (Some(hint), Some(_)) => Some(hint),
                (None, Some(d)) => Some(d),
            };
            let Some(delay) = delay.filter(|_| attempts < self.config.max_attempts) else {
                return Err(failure);
            };
            tracing::debug!(request = ?request, attempts, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, request: &Request, attempts: usize) -> Attempt {
        let name = format!("{request:?}");
        let mut builder = self
            .client
            .request(request.method.clone(), &request.url)
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                let failure = HttpError::Transport {
                    request: name,
                    attempts,
                    problem: describe(&e, self.config.timeout),
                };
                // A request that never reached the server can always be repeated; one that
                // timed out may have been acted on, and a create must not be repeated blindly.
                return if request.idempotent() || e.is_connect() {
                    Attempt::Retry {
                        wait: None,
                        failure,
                    }
                } else {
                    Attempt::Fatal(failure)
                };
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                let failure = HttpError::Transport {
                    request: name,
                    attempts,
                    problem: describe(&e, self.config.timeout),
                };
                return if request.idempotent() {
                    Attempt::Retry {
                        wait: None,
                        failure,
                    }
                } else {
                    Attempt::Fatal(failure)
                };
            }
        };
        let response = Response {
            status,
            headers,
            body,
        };
        if is_rate_limited(&response) {
            return Attempt::Retry {
                wait: rate_limit_wait(&response.headers, SystemTime::now()),
                failure: HttpError::RateLimited {
                    request: name,
                    attempts,
                },
            };
        }
        if (500..600).contains(&status) {
            let failure = HttpError::Server {
                request: name,
                status,
                attempts,
                body: if request.body.is_some() {
                    format!("{} bytes withheld", response.body.len())
                } else {
                    response.excerpt()
                },
            };
            return if request.idempotent() {
                Attempt::Retry {
                    wait: None,
                    failure,
                }
            } else {
                Attempt::Fatal(failure)
            };
        }
        Attempt::Answer(response)
    }
}

/// 429, or a 403 that GitHub sends for its primary (`X-RateLimit-Remaining: 0`) and secondary
/// (`Retry-After`) rate limits.
fn is_rate_limited(response: &Response) -> bool {
    match response.status {
        429 => true,
        403 => {
            response.header("x-ratelimit-remaining") == Some("0")
                || response.header("retry-after").is_some()
        }
        _ => false,
    }
}

/// How long the server asks to wait: `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset` (Unix seconds, or an HTTP date); capped at [`MAX_RATE_LIMIT_WAIT`].
pub fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let until = |at: SystemTime| at.duration_since(now).unwrap_or(Duration::ZERO);
    let from_retry_after = text("retry-after").and_then(|v| match v.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(v).ok().map(until),
    });
    let from_reset = || {
        text("x-ratelimit-reset").and_then(|v| match v.parse::<u64>() {
            Ok(epoch) => Some(until(SystemTime::UNIX_EPOCH + Duration::from_secs(epoch))),
            Err(_) => httpdate::parse_http_date(v).ok().map(until),
        })
    };
    from_retry_after
        .or_else(from_reset)
        .map(|d| d.min(MAX_RATE_LIMIT_WAIT))
}

/// The `rel="next"` URL of a `Link` header (RFC 8288, as GitHub and GitLab write it).
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", timeout.as_secs());
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    if e.is_connect() {
        format!("cannot connect: {deepest}")
    } else {
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_read_from_a_link_header() {
        let cases = [
            (
                r#"<https://api.github.com/resource?page=2>; rel="next", <https://api.github.com/resource?page=5>; rel="last""#,
                Some("https://api.github.com/resource?page=2"),
            ),
            (
                r#"<https://h/api/v4/x?page=1>; rel="prev", <https://h/api/v4/x?page=3>; rel="next""#,
                Some("https://h/api/v4/x?page=3"),
            ),
            (r#"<https://h/x?page=1>; rel="first""#, None),
            ("", None),
            ("garbage", None),
        ];
        for (header, want) in cases {
            assert_eq!(next_link(header).as_deref(), want, "{header}");
        }
    }

    #[test]
    fn the_wait_is_what_the_server_asks_and_never_unbounded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    *k,
                    HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
                );
            }
            h
        };
        type Headers<'a> = &'a [(&'static str, &'a str)];
        let cases: [(Headers, Option<Duration>); 6] = [
            (&[("retry-after", "7")], Some(Duration::from_secs(7))),
            (
                &[("x-ratelimit-reset", "1000030")],
                Some(Duration::from_secs(30)),
            ),
            (
                &[("retry-after", "2"), ("x-ratelimit-reset", "1000030")],
                Some(Duration::from_secs(2)),
            ),
            (&[("x-ratelimit-reset", "999000")], Some(Duration::ZERO)),
            (&[("retry-after", "99999")], Some(MAX_RATE_LIMIT_WAIT)),
            (&[], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(rate_limit_wait(&headers(pairs), now), want, "{pairs:?}");
        }
    }

    #[test]
    fn a_token_with_a_line_break_is_refused_without_quoting_it() {
        let refused = Request::new(Method::GET, "https://h/x").header("authorization", "a\nb");
        match refused {
            Err(
                e @ HttpError::BadHeader {
                    name: "authorization",
                },
            ) => {
                assert!(!e.to_string().contains("a\nb"), "{e}")
            }
            other => panic!("a header value with a line break was not refused: {other:?}"),
        }
    }
}
