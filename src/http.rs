//! The HTTP transport shared by the clients of external APIs (the forges and the Segment
//! workspace client): timeouts, retries with jittered exponential backoff, the server's
//! rate-limit hints, and never a blind repeat of a `POST`.
//!
//! It owns when to send again, not what an answer means: any answer that is not worth another
//! try (2xx, and every 4xx but a rate limit) is handed back as a [`Response`] for the caller to
//! read. It must never log or return a request's headers or body: they carry tokens, and the
//! bodies of writes may carry secrets.
//!
//! What is retried:
//! - 429, and (unless [`RateLimits::forbidden_may_be_rate_limit`] is off) GitHub's rate-limit
//!   403 (`X-RateLimit-Remaining: 0`, or a `Retry-After`), after the wait the server asks: the
//!   API's own body hint ([`RateLimits::body_wait`], e.g. Segment's `msBeforeNext`), else
//!   `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset` (Unix seconds or an HTTP
//!   date), else the backoff; never longer than [`MAX_RATE_LIMIT_WAIT`];
//! - 5xx and transport failures, for `GET`, `PUT`, `PATCH`, `DELETE` and `HEAD`;
//! - for a `POST` (which creates): only a rate limit or a connection that was never made, as
//!   the server certainly did not act on it.
//!
//! Every attempt is counted ([`HttpStats`]) and told to the [`RequestObserver`], if any, with
//! its status; so is every rate-limit wait, before it is waited.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// How an API says it is rate-limiting and where it puts the wait, beyond a 429 and the
/// standard headers: the parts that differ between APIs. The default suits GitHub and GitLab.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// A 403 with `X-RateLimit-Remaining: 0` or a `Retry-After` is a rate limit (GitHub's
    /// primary and secondary limits). Off for an API whose 403 only ever means forbidden.
    pub forbidden_may_be_rate_limit: bool,
    /// Reads the wait from a rate-limited answer's body; asked before the headers, capped like
    /// them (Segment's `errors[0].data.msBeforeNext`).
    pub body_wait: Option<fn(&Response) -> Option<Duration>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            forbidden_may_be_rate_limit: true,
            body_wait: None,
        }
    }
}

/// Watches the requests of a [`Http`], for metrics. Called inline on the request path, so an
/// implementation must return at once: no I/O, no waiting on locks held elsewhere.
pub trait RequestObserver: Send + Sync {
    /// An HTTP response arrived with this status; `None` when the request failed in transport
    /// (no connection, timeout) and there is no status. Once per attempt.
    fn response(&self, status: Option<u16>);
    /// The client is about to wait `wait` because the server rate-limited it.
    fn rate_limited_wait(&self, wait: Duration);
}

// So that configurations holding an observer keep deriving `Debug`.
impl std::fmt::Debug for dyn RequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestObserver")
    }
}

/// Counters for metrics and tests, shared by the clones of a [`Http`].
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Attempts sent, retries included.
    pub requests: AtomicU64,
    /// Attempts that were a retry.
    pub retries: AtomicU64,
    /// Retries that first waited out a rate limit.
    pub rate_limited_waits: AtomicU64,
}

/// One request. Build it with [`Request::new`] and the `header`/`json` helpers.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// Appended to `url`, form-encoded.
    pub query: Vec<(String, String)>,
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
            query: Vec::new(),
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

    /// Adds query parameters (after those already there).
    pub fn query(mut self, pairs: &[(String, String)]) -> Request {
        self.query.extend_from_slice(pairs);
        self
    }

    /// Sets a JSON body (and its content type).
    pub fn json(self, body: &serde_json::Value) -> Request {
        self.json_as(body, "application/json")
    }

    /// Sets a JSON body sent as a JSON media type of the API's own
    /// (`application/vnd.segment.v1+json`).
    pub fn json_as(mut self, body: &serde_json::Value, content_type: &'static str) -> Request {
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
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

    /// The body for a message about `request`: its [`excerpt`](Response::excerpt), or, when
    /// the request had a body, only its size. An answer may echo the request, whose body may
    /// carry secrets, and a cut excerpt could hold a secret's start, which no scrubbing (it
    /// looks for whole secrets) would find.
    pub fn shown(&self, request: &Request) -> String {
        if request.body.is_none() {
            self.excerpt()
        } else if self.body.iter().all(u8::is_ascii_whitespace) {
            "(an empty body)".to_owned()
        } else {
            format!(
                "(a {}-byte body, not shown: it may echo the request, which can carry secrets)",
                self.body.len()
            )
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
    #[error("{request}: {problem} (after {attempts} attempt(s)){}", if *.may_have_acted { "; the server may or may not have acted on it, so it was not repeated" } else { "" })]
    Transport {
        request: String,
        attempts: usize,
        problem: String,
        /// The request may have reached the server and been acted on, and was not repeated (a
        /// `POST` that timed out): check before trying it again.
        may_have_acted: bool,
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

/// A sender with retries. Cheap to clone; clones share their [`HttpStats`].
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    config: HttpConfig,
    rate_limits: RateLimits,
    observer: Option<Arc<dyn RequestObserver>>,
    stats: Arc<HttpStats>,
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
    /// A sender with `config`. Every `Http` of the process shares one connection pool and one
    /// TLS setup (each client would otherwise hold its own root store: about 110 KiB, times the
    /// GitSyncs and forges an operator serves); the timeout is set per request.
    pub fn new(config: HttpConfig) -> Result<Http, HttpError> {
        static SHARED: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let client = match SHARED.get() {
            Some(client) => client.clone(),
            None => {
                let built = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .user_agent(concat!("gitsync/", env!("CARGO_PKG_VERSION")))
                    // A redirect would carry the Authorization header to wherever it points.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| HttpError::Client(e.to_string()))?;
                SHARED.get_or_init(|| built).clone()
            }
        };
        Ok(Http {
            client,
            config,
            rate_limits: RateLimits::default(),
            observer: None,
            stats: Arc::new(HttpStats::default()),
        })
    }

    /// The same sender, reading rate limits by the API's own `rules`.
    pub fn with_rate_limits(mut self, rules: RateLimits) -> Http {
        self.rate_limits = rules;
        self
    }

    /// The same sender, telling `observer` of every attempt and rate-limit wait.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Http {
        self.observer = Some(observer);
        self
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    pub fn stats(&self) -> &HttpStats {
        &self.stats
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
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
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
            if matches!(failure, HttpError::RateLimited { .. }) {
                self.stats
                    .rate_limited_waits
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(observer) = &self.observer {
                    observer.rate_limited_wait(delay);
                }
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(request = ?request, attempts, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, request: &Request, attempts: usize) -> Attempt {
        let name = format!("{request:?}");
        let mut builder = self
            .client
            .request(request.method.clone(), &request.url)
            .timeout(self.config.timeout)
            .headers(request.headers.clone());
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let sent = builder.send().await;
        if let Some(observer) = &self.observer {
            observer.response(sent.as_ref().ok().map(|r| r.status().as_u16()));
        }
        let transport = |e: &reqwest::Error, repeatable: bool| {
            let failure = HttpError::Transport {
                request: name.clone(),
                attempts,
                problem: describe(e, self.config.timeout),
                may_have_acted: !repeatable,
            };
            if repeatable {
                Attempt::Retry {
                    wait: None,
                    failure,
                }
            } else {
                Attempt::Fatal(failure)
            }
        };
        let response = match sent {
            Ok(r) => r,
            // A request that never reached the server can always be repeated; one that timed
            // out may have been acted on, and a create must not be repeated blindly.
            Err(e) => return transport(&e, request.idempotent() || e.is_connect()),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return transport(&e, request.idempotent()),
        };
        let response = Response {
            status,
            headers,
            body,
        };
        if is_rate_limited(&response, &self.rate_limits) {
            return Attempt::Retry {
                wait: rate_limit_wait_for(&response, &self.rate_limits, SystemTime::now()),
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
                body: response.shown(request),
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

/// 429, or (when `rules` allow it) a 403 that GitHub sends for its primary
/// (`X-RateLimit-Remaining: 0`) and secondary (`Retry-After`) rate limits.
fn is_rate_limited(response: &Response, rules: &RateLimits) -> bool {
    match response.status {
        429 => true,
        403 if rules.forbidden_may_be_rate_limit => {
            response.header("x-ratelimit-remaining") == Some("0")
                || response.header("retry-after").is_some()
        }
        _ => false,
    }
}

/// How long the server asks to wait after a rate-limited `response`: the API's body hint, else
/// the headers ([`rate_limit_wait`]); capped at [`MAX_RATE_LIMIT_WAIT`].
fn rate_limit_wait_for(
    response: &Response,
    rules: &RateLimits,
    now: SystemTime,
) -> Option<Duration> {
    rules
        .body_wait
        .and_then(|read| read(response))
        .map(|d| d.min(MAX_RATE_LIMIT_WAIT))
        .or_else(|| rate_limit_wait(&response.headers, now))
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
        return format!("no answer within {}s (timed out)", timeout.as_secs_f32());
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

    /// Header names and values.
    type Pairs = &'static [(&'static str, &'static str)];

    fn response(status: u16, headers: Pairs, body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_static(v));
        }
        Response {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    /// An API's own body hint, as a test double of Segment's: `{"waitMs": N}`.
    fn wait_ms(response: &Response) -> Option<Duration> {
        let json: serde_json::Value = response.json().ok()?;
        json.get("waitMs")?.as_u64().map(Duration::from_millis)
    }

    const GITHUB: RateLimits = RateLimits {
        forbidden_may_be_rate_limit: true,
        body_wait: None,
    };
    const BODY_HINTED: RateLimits = RateLimits {
        forbidden_may_be_rate_limit: false,
        body_wait: Some(wait_ms),
    };

    #[test]
    fn a_403_is_a_rate_limit_only_where_the_api_says_so() {
        const REMAINING_0: Pairs = &[("x-ratelimit-remaining", "0")];
        const RETRY_AFTER: Pairs = &[("retry-after", "3")];
        let cases: [(u16, Pairs, RateLimits, bool); 8] = [
            (429, &[], GITHUB, true),
            (429, &[], BODY_HINTED, true),
            (403, REMAINING_0, GITHUB, true),
            (403, RETRY_AFTER, GITHUB, true),
            (403, &[], GITHUB, false),
            (403, REMAINING_0, BODY_HINTED, false),
            (403, RETRY_AFTER, BODY_HINTED, false),
            (503, RETRY_AFTER, GITHUB, false),
        ];
        for (status, headers, rules, want) in cases {
            assert_eq!(
                is_rate_limited(&response(status, headers, ""), &rules),
                want,
                "{status} {headers:?} {rules:?}"
            );
        }
    }

    #[test]
    fn the_body_hint_comes_before_the_headers_and_is_capped_too() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        const RESET: Pairs = &[("x-ratelimit-reset", "1000030")];
        let cases: [(&str, Pairs, RateLimits, Option<Duration>); 7] = [
            (
                r#"{"waitMs": 250}"#,
                RESET,
                BODY_HINTED,
                Some(Duration::from_millis(250)),
            ),
            (
                r#"{"waitMs": 250}"#,
                RESET,
                GITHUB,
                Some(Duration::from_secs(30)),
            ),
            (
                r#"{"other": 1}"#,
                RESET,
                BODY_HINTED,
                Some(Duration::from_secs(30)),
            ),
            (
                "not json",
                RESET,
                BODY_HINTED,
                Some(Duration::from_secs(30)),
            ),
            ("not json", &[], BODY_HINTED, None),
            (
                r#"{"waitMs": 300000000000000}"#,
                &[],
                BODY_HINTED,
                Some(MAX_RATE_LIMIT_WAIT),
            ),
            (
                r#"{"waitMs": 5}"#,
                &[("retry-after", "9")],
                BODY_HINTED,
                Some(Duration::from_millis(5)),
            ),
        ];
        for (body, headers, rules, want) in cases {
            let got = rate_limit_wait_for(&response(429, headers, body), &rules, now);
            assert_eq!(got, want, "{body} {headers:?} {rules:?}");
        }
    }

    #[test]
    fn a_body_is_quoted_only_for_a_request_without_one() {
        let get = Request::new(Method::GET, "https://h/x");
        let post = Request::new(Method::POST, "https://h/x").json(&serde_json::json!({"k": 1}));
        let long = "x".repeat(400);
        let cases = [
            (&get, " oops \n", "oops".to_owned()),
            (&get, long.as_str(), format!("{}...", "x".repeat(300))),
            (&post, "  \n", "(an empty body)".to_owned()),
            (
                &post,
                "echo: secret-token",
                "(a 18-byte body, not shown: it may echo the request, which can carry secrets)"
                    .to_owned(),
            ),
        ];
        for (request, body, want) in cases {
            assert_eq!(
                response(500, &[], body).shown(request),
                want,
                "{request:?} {body:?}"
            );
        }
    }

    #[test]
    fn a_request_carries_its_query_and_media_type_but_never_shows_them() {
        let request = Request::new(Method::PATCH, "https://user:pw@h/x")
            .query(&[("a".into(), "1".into())])
            .query(&[("b".into(), "two words".into())])
            .json_as(&serde_json::json!({"s": 1}), "application/vnd.x.v1+json");
        assert_eq!(
            request.query,
            [("a".into(), "1".into()), ("b".into(), "two words".into())]
        );
        assert_eq!(
            request
                .headers
                .get("content-type")
                .map(HeaderValue::as_bytes),
            Some(&b"application/vnd.x.v1+json"[..])
        );
        assert_eq!(request.body.as_deref(), Some(&br#"{"s":1}"#[..]));
        let shown = format!("{request:?}");
        assert!(!shown.contains("pw") && !shown.contains("two"), "{shown}");
    }

    #[test]
    fn a_transport_failure_says_whether_the_request_may_have_been_acted_on() {
        let failure = |may_have_acted| HttpError::Transport {
            request: "POST https://h/x".into(),
            attempts: 1,
            problem: "no answer within 0.3s (timed out)".into(),
            may_have_acted,
        };
        let cases = [
            (
                false,
                "POST https://h/x: no answer within 0.3s (timed out) (after 1 attempt(s))",
            ),
            (
                true,
                "POST https://h/x: no answer within 0.3s (timed out) (after 1 attempt(s)); the server may or may not have acted on it, so it was not repeated",
            ),
        ];
        for (may_have_acted, want) in cases {
            assert_eq!(failure(may_have_acted).to_string(), want);
        }
    }

    /// Records what a [`Http`] tells its observer, in order.
    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);

    impl RequestObserver for Seen {
        fn response(&self, status: Option<u16>) {
            let seen = status.map_or("transport".to_owned(), |s| s.to_string());
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
        }
        fn rate_limited_wait(&self, wait: Duration) {
            let seen = format!("wait {}ms", wait.as_millis());
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
        }
    }

    impl Seen {
        fn taken(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
        }
    }

    /// One scripted answer of the loopback server.
    #[derive(Debug, Clone, Copy)]
    struct Answer {
        status: u16,
        headers: &'static [(&'static str, &'static str)],
        body: &'static str,
        /// Waits this long before answering (past the client's timeout: a timeout).
        delay_ms: u64,
    }

    const fn answer(status: u16) -> Answer {
        Answer {
            status,
            headers: &[],
            body: "",
            delay_ms: 0,
        }
    }

    type Script = Arc<std::sync::Mutex<std::collections::VecDeque<Answer>>>;

    /// A real HTTP server on loopback that answers from `answers` in turn (a 418 once they run
    /// out) and records each request as `METHOD /path?query`.
    async fn serve(
        answers: &[Answer],
    ) -> Result<(String, Arc<std::sync::Mutex<Vec<String>>>), std::io::Error> {
        let script: Script = Arc::new(std::sync::Mutex::new(answers.iter().copied().collect()));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let script = Arc::clone(&script);
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
                    "{} {}",
                    request.method(),
                    request.uri()
                ));
                let next = script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let answer = next.unwrap_or(answer(418));
                tokio::time::sleep(Duration::from_millis(answer.delay_ms)).await;
                let mut builder = axum::http::Response::builder().status(answer.status);
                for (k, v) in answer.headers {
                    builder = builder.header(*k, *v);
                }
                builder
                    .body(axum::body::Body::from(answer.body))
                    .unwrap_or_default()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok((url, received))
    }

    fn quick() -> HttpConfig {
        HttpConfig {
            timeout: Duration::from_millis(300),
            max_attempts: 3,
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        }
    }

    /// What one request came to: the final status or error reason, then the attempts' statuses
    /// and waits as the observer saw them, then the counters (requests, retries, rate-limited
    /// waits).
    type Outcome = (String, Vec<&'static str>, [u64; 3]);

    #[tokio::test(flavor = "multi_thread")]
    async fn the_retry_rules_hold_against_a_real_server() -> Result<(), Box<dyn std::error::Error>>
    {
        const SLOW: Answer = Answer {
            delay_ms: 1_500,
            ..answer(201)
        };
        const LIMITED_403: Answer = Answer {
            headers: &[("x-ratelimit-remaining", "0")],
            ..answer(403)
        };
        const SECONDARY_403: Answer = Answer {
            headers: &[("retry-after", "0")],
            ..answer(403)
        };
        const HINTED_429: Answer = Answer {
            body: r#"{"waitMs": 20}"#,
            headers: &[("retry-after", "5")],
            ..answer(429)
        };
        let cases: Vec<(Method, Vec<Answer>, RateLimits, Outcome)> = vec![
            (
                Method::GET,
                vec![answer(503), answer(502), answer(200)],
                GITHUB,
                ("200".into(), vec!["503", "502", "200"], [3, 2, 0]),
            ),
            (
                Method::GET,
                vec![answer(503), answer(503), answer(503), answer(200)],
                GITHUB,
                ("ServerError".into(), vec!["503", "503", "503"], [3, 2, 0]),
            ),
            (
                Method::POST,
                vec![answer(503), answer(201)],
                GITHUB,
                ("ServerError".into(), vec!["503"], [1, 0, 0]),
            ),
            (
                Method::POST,
                vec![HINTED_429, answer(201)],
                BODY_HINTED,
                ("201".into(), vec!["429", "wait 20ms", "201"], [2, 1, 1]),
            ),
            (
                Method::GET,
                vec![answer(429), answer(429), answer(429)],
                GITHUB,
                (
                    "RateLimited".into(),
                    vec!["429", "wait", "429", "wait", "429"],
                    [3, 2, 2],
                ),
            ),
            (
                Method::GET,
                vec![SECONDARY_403, answer(200)],
                GITHUB,
                ("200".into(), vec!["403", "wait 0ms", "200"], [2, 1, 1]),
            ),
            (
                Method::GET,
                vec![LIMITED_403, answer(200)],
                BODY_HINTED,
                ("403".into(), vec!["403"], [1, 0, 0]),
            ),
            (
                Method::POST,
                vec![SLOW, answer(201)],
                GITHUB,
                ("TransportError".into(), vec!["transport"], [1, 0, 0]),
            ),
            (
                Method::PUT,
                vec![SLOW, answer(200)],
                GITHUB,
                ("200".into(), vec!["transport", "200"], [2, 1, 0]),
            ),
        ];
        for (method, answers, rules, want) in cases {
            let (url, received) = serve(&answers).await?;
            let seen = Arc::new(Seen::default());
            let http = Http::new(quick())?
                .with_rate_limits(rules)
                .with_observer(seen.clone());
            let request = Request::new(method.clone(), format!("{url}/x"))
                .query(&[("q".into(), "a b".into())]);
            let request = if method == Method::POST {
                request.json(&serde_json::json!({}))
            } else {
                request
            };
            let result = match http.send(&request).await {
                Ok(r) => r.status.to_string(),
                Err(e) => e.reason().to_owned(),
            };
            let mut seen = seen.taken();
            // A backoff's length is random: only that it was waited is checked.
            for s in &mut seen {
                if s.starts_with("wait") && !want.1.contains(&s.as_str()) {
                    *s = "wait".into();
                }
            }
            let stats = http.stats();
            let counted = [
                stats.requests.load(Ordering::Relaxed),
                stats.retries.load(Ordering::Relaxed),
                stats.rate_limited_waits.load(Ordering::Relaxed),
            ];
            let case = format!("{method} {answers:?}");
            assert_eq!(
                (result, seen, counted),
                (
                    want.0,
                    want.1.iter().map(|s| s.to_string()).collect(),
                    want.2
                ),
                "{case}"
            );
            let received = received.lock().map(|r| r.clone()).unwrap_or_default();
            assert_eq!(received.len() as u64, want.2[0], "{case}: {received:?}");
            assert!(
                received.iter().all(|r| r == &format!("{method} /x?q=a+b")),
                "{case}: {received:?}"
            );
        }
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_connection_never_made_is_retried_even_for_a_post()
    -> Result<(), Box<dyn std::error::Error>> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let seen = Arc::new(Seen::default());
        let http = Http::new(quick())?.with_observer(seen.clone());
        let request = Request::new(Method::POST, format!("http://127.0.0.1:{port}/x"))
            .json(&serde_json::json!({}));
        match http.send(&request).await {
            Err(HttpError::Transport {
                attempts: 3,
                may_have_acted: false,
                problem,
                ..
            }) => assert!(problem.starts_with("cannot connect"), "{problem}"),
            other => panic!("not a transport failure after 3 attempts: {other:?}"),
        }
        assert_eq!(seen.taken(), ["transport", "transport", "transport"]);
        Ok(())
    }
}
