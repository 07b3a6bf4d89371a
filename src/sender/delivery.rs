//! [`Sender`]: signs and POSTs deliveries, retries on a schedule, reports every attempt.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT};
use http::HeaderMap;

use super::clock::{Clock, SystemClock};
use super::retry::{classify, fresh_seed, parse_retry_after, RetryPolicy, Verdict};
use super::signing::{Sign, Signing};
use super::ssrf::{is_blocked, AddressPolicy, GuardedResolver};
use crate::Error;

/// `User-Agent` of every request: `chathooks/<crate version>`.
pub const USER_AGENT_VALUE: &str = concat!("chathooks/", env!("CARGO_PKG_VERSION"));

/// Default request timeout (connect, send, response head and body), as the Standard Webhooks
/// specification recommends (15–30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Most response-body bytes read per attempt (the rest is dropped with the connection).
const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// Most response-body bytes kept in an [`Attempt`] for diagnostics.
const MAX_EXCERPT: usize = 512;
/// Most concurrent deliveries [`Sender::deliver_all`] runs, whatever it is asked for.
pub const MAX_IN_FLIGHT: usize = 4096;
/// Longest message id accepted (the verifier's limit for `webhook-id`).
const MAX_ID_LEN: usize = 256;

/// Called after every attempt, with the attempt and the delivery it belongs to.
pub type AttemptCallback = Arc<dyn Fn(&AttemptReport<'_>) + Send + Sync>;

/// One attempt, as passed to the [`SenderBuilder::on_attempt`] callback.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AttemptReport<'a> {
    /// The message (delivery) id, the same on every attempt.
    pub message_id: &'a str,
    /// The endpoint URL as it may be logged ([`Endpoint::url_for_logs`]).
    pub url: &'a str,
    /// What happened.
    pub attempt: &'a Attempt,
}

/// Builder for [`Sender`].
pub struct SenderBuilder {
    timeout: Duration,
    retry: RetryPolicy,
    addresses: AddressPolicy,
    clock: Arc<dyn Clock>,
    headers: HeaderMap,
    on_attempt: Option<AttemptCallback>,
    overrides: HashMap<String, Vec<SocketAddr>>,
}

impl fmt::Debug for SenderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderBuilder")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("addresses", &self.addresses)
            .field("clock", &self.clock)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for SenderBuilder {
    fn default() -> Self {
        SenderBuilder {
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            addresses: AddressPolicy::default(),
            clock: Arc::new(SystemClock),
            headers: HeaderMap::new(),
            on_attempt: None,
            overrides: HashMap::new(),
        }
    }
}

impl SenderBuilder {
    /// Timeout of each attempt, from connecting to the end of the response (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry schedule (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The SSRF guard's policy (default strict: https only, public addresses only).
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.addresses = policy;
        self
    }

    /// Accept plain `http://` endpoints. For tests and local development.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.addresses = self.addresses.allow_http(allow);
        self
    }

    /// Accept loopback, private and other non-public addresses. For tests and local development.
    pub fn allow_private_addresses(mut self, allow: bool) -> Self {
        self.addresses = self.addresses.allow_private_addresses(allow);
        self
    }

    /// Resolve `host` to `addrs` instead of asking DNS (like curl's `--resolve`). The SSRF guard
    /// still filters these addresses at connect time. At most 64 hosts and 16 addresses each.
    pub fn resolve(mut self, host: &str, addrs: &[SocketAddr]) -> Result<Self, Error> {
        if self.overrides.len() >= 64 || addrs.len() > 16 || addrs.is_empty() {
            return Err(Error::Config(
                "resolve: at most 64 hosts with 1 to 16 addresses each".into(),
            ));
        }
        self.overrides
            .insert(host.to_ascii_lowercase(), addrs.to_vec());
        Ok(self)
    }

    /// Where time comes from (default: the system clock and tokio's timer).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A header sent with every request (signature headers of the same name win).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let (name, value) = header_pair(name, value)?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Call `f` after every attempt (for logs and metrics). It runs on the delivering task:
    /// keep it quick.
    pub fn on_attempt(mut self, f: impl Fn(&AttemptReport<'_>) + Send + Sync + 'static) -> Self {
        self.on_attempt = Some(Arc::new(f));
        self
    }

    /// Build the sender. Fails only if the TLS backend cannot be initialised.
    pub fn build(self) -> Result<Sender, Error> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            // An environment proxy would connect on our behalf, past the guarded resolver.
            .no_proxy()
            .https_only(!self.addresses.allows_http())
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.addresses,
                overrides: Arc::new(self.overrides),
            }))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}").into()))?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers.extend(self.headers);
        Ok(Sender {
            inner: Arc::new(Inner {
                client,
                retry: self.retry,
                addresses: self.addresses,
                clock: self.clock,
                headers,
                on_attempt: self.on_attempt,
            }),
        })
    }
}

/// Delivers webhooks: signs each attempt, POSTs it, retries on the schedule, reports attempts.
///
/// Cheap to clone (the HTTP connection pool is shared). Needs a tokio runtime.
///
/// ```no_run
/// use chathooks::sender::{Endpoint, Message, Sender, Signing};
/// # async fn run() -> Result<(), chathooks::Error> {
/// let sender = Sender::builder().build()?;
/// let endpoint = Endpoint::new(
///     "https://hooks.example.com/webhooks",
///     Signing::standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?,
/// )?;
/// let delivery = sender.deliver(&endpoint, &Message::new(&br#"{"type":"ping"}"#[..])).await;
/// println!("{:?} after {} attempt(s)", delivery.outcome, delivery.attempts.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    retry: RetryPolicy,
    addresses: AddressPolicy,
    clock: Arc<dyn Clock>,
    headers: HeaderMap,
    on_attempt: Option<AttemptCallback>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("retry", &self.inner.retry)
            .field("addresses", &self.inner.addresses)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// Where deliveries go and how they are signed. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<EndpointInner>,
}

#[derive(Clone)]
struct EndpointInner {
    url: reqwest::Url,
    log_url: String,
    signing: Signing,
    headers: HeaderMap,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.inner.log_url)
            .field("signing", &self.inner.signing)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint at `url`, signed with `signing`. Only the URL's syntax is checked here; the
    /// [`Sender`]'s SSRF guard checks the destination when delivering.
    pub fn new(url: &str, signing: impl Into<Signing>) -> Result<Self, Error> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| Error::Config("endpoint URL is not a valid absolute URL".into()))?;
        let log_url = without_userinfo(&url);
        Ok(Endpoint {
            inner: Arc::new(EndpointInner {
                url,
                log_url,
                signing: signing.into(),
                headers: HeaderMap::new(),
            }),
        })
    }

    /// A header sent with every request to this endpoint (signature headers of the same name
    /// win; endpoint headers win over the sender's).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let (name, value) = header_pair(name, value)?;
        Arc::make_mut(&mut self.inner).headers.insert(name, value);
        Ok(self)
    }

    /// The URL itself is a credential (Slack incoming webhooks, URLs with tokens): logs,
    /// `Debug` and reports show only its origin.
    pub fn secret_url(mut self) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.log_url = format!("{}/…", inner.url.origin().ascii_serialization());
        self
    }

    /// The URL as it may appear in logs: without credentials, and only the origin for a
    /// [`secret_url`](Self::secret_url).
    pub fn url_for_logs(&self) -> &str {
        &self.inner.log_url
    }

    /// How deliveries to this endpoint are signed.
    pub fn signing(&self) -> &Signing {
        &self.inner.signing
    }
}

/// `url` as text without its credentials: no `user:pass@`, and every query value shown as
/// `…` (endpoints that authenticate with `?token=`, `?code=`, `?key=` put the credential
/// there); parameter names stay. What logs, reports and output may show.
pub(crate) fn without_userinfo(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    // Both only fail for URLs that cannot have credentials, which then have none to remove.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    let query = u.query().filter(|q| !q.is_empty()).map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}=…"),
                // A bare value (`?s3cr3t`) may be the credential itself.
                None => "…".to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    // A fragment is never sent; it goes too.
    u.set_query(None);
    u.set_fragment(None);
    let mut out = u.to_string();
    if let Some(q) = query {
        // Appended as text: `set_query` would percent-encode the ellipsis.
        out.push('?');
        out.push_str(&q);
    }
    out
}

/// One webhook message: a delivery id (the same on every attempt) and the exact body bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    id: String,
    body: Bytes,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies carry personal data: show their size only.
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Message {
    /// A message with a fresh id (`msg_` followed by 22 base62 characters).
    pub fn new(body: impl Into<Bytes>) -> Self {
        Message {
            id: new_message_id(),
            body: body.into(),
        }
    }

    /// A message with a given id: 1 to 256 bytes of `[A-Za-z0-9_-]` (no `.`, which would make
    /// the Standard Webhooks signed content ambiguous).
    pub fn with_id(id: &str, body: impl Into<Bytes>) -> Result<Self, Error> {
        let ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(Error::Config(
                "message id must be 1-256 characters of [A-Za-z0-9_-]".into(),
            ));
        }
        Ok(Message {
            id: id.to_owned(),
            body: body.into(),
        })
    }

    /// A message whose body is `value` serialised as JSON, with a fresh id.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::Config(format!("cannot serialise message: {e}").into()))?;
        Ok(Self::new(body))
    }

    /// The delivery id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The body bytes, exactly as sent and signed.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

fn new_message_id() -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = (u128::from(fresh_seed()) << 64) | u128::from(fresh_seed());
    let mut out = String::with_capacity(26);
    out.push_str("msg_");
    for _ in 0..22 {
        out.push(char::from(ALPHABET[(n % 62) as usize]));
        n /= 62;
    }
    out
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Clock time of the attempt; its signature carries this timestamp.
    pub at: SystemTime,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Wall-clock time from sending to the end of the response (or the failure).
    pub latency: Duration,
    /// Why the attempt failed; `None` when it delivered.
    pub error: Option<AttemptError>,
    /// The response's `Retry-After`, parsed.
    pub retry_after: Option<Duration>,
    /// Wait before the next attempt; `None` when this was the last.
    pub next_retry_in: Option<Duration>,
    /// Up to 512 bytes of the response body (lossy UTF-8), for diagnostics.
    pub response_excerpt: String,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptError {
    /// No complete response within the timeout.
    #[error("timed out")]
    Timeout,
    /// The SSRF guard refused the destination (the URL, or every address its host resolved to).
    #[error("{0}")]
    Refused(String),
    /// Connecting, TLS, or the HTTP exchange failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The receiver answered with a redirect, which is never followed.
    #[error("redirect ({status}) not followed{}", location.as_deref().map(|l| format!(" (to {l})")).unwrap_or_default())]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, if any (at most 512 bytes).
        location: Option<String>,
    },
    /// The receiver answered with a non-2xx status.
    #[error("HTTP {0}")]
    Status(u16),
    /// The message could not be signed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A 2xx response.
    Delivered {
        /// The status.
        status: u16,
    },
    /// 410 Gone: the receiver asks not to send to this endpoint any more. Disable it.
    Gone,
    /// The receiver kept rejecting the request (3xx or non-retryable 4xx) for as many attempts as
    /// [`RetryPolicy::client_error_attempts`] allows.
    Rejected {
        /// The last status.
        status: u16,
    },
    /// Every attempt of the schedule failed with retryable errors.
    Exhausted,
    /// The SSRF guard refused the destination; nothing was sent.
    Refused {
        /// Why.
        reason: String,
    },
    /// The message could not be signed; nothing was sent.
    SigningFailed {
        /// Why.
        reason: String,
    },
}

/// Everything that happened to one message sent to one endpoint.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery {
    /// The message id (the same on every attempt).
    pub message_id: String,
    /// The endpoint URL as it may be logged.
    pub url: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Every attempt, in order (bounded by the retry schedule).
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// `true` if a 2xx response was received.
    pub fn is_delivered(&self) -> bool {
        matches!(self.outcome, Outcome::Delivered { .. })
    }
}

impl Sender {
    /// A builder with the defaults: 15 s timeout, the Standard Webhooks retry schedule with
    /// ±20 % jitter, strict SSRF guard, system clock.
    pub fn builder() -> SenderBuilder {
        SenderBuilder::default()
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Deliver `message` to `endpoint`, retrying on the schedule, and report every attempt.
    ///
    /// Never panics and never loops unbounded: at most [`RetryPolicy::max_attempts`] attempts.
    pub async fn deliver(&self, endpoint: &Endpoint, message: &Message) -> Delivery {
        let inner = &*self.inner;
        let ep = &*endpoint.inner;
        let mut delivery = Delivery {
            message_id: message.id.clone(),
            url: ep.log_url.clone(),
            outcome: Outcome::Exhausted,
            attempts: Vec::new(),
        };
        if let Err(refused) = inner.addresses.check_parsed(&ep.url) {
            delivery.outcome = Outcome::Refused {
                reason: refused.to_string(),
            };
            return delivery;
        }
        let mut rng = inner.retry.rng();
        let mut client_errors = 0u32;
        let max_attempts = inner.retry.max_attempts();
        for number in 1..=max_attempts {
            let at = inner.clock.now();
            let signature = match ep.signing.sign(&message.id, at, &message.body) {
                Ok(s) => s,
                Err(e) => {
                    delivery.outcome = Outcome::SigningFailed {
                        reason: e.to_string(),
                    };
                    return delivery;
                }
            };
            let mut url = ep.url.clone();
            if !signature.query.is_empty() {
                url.query_pairs_mut().extend_pairs(signature.query.iter());
            }
            let mut headers = inner.headers.clone();
            headers.extend(ep.headers.clone());
            headers.extend(signature.headers);

            let started = Instant::now();
            let result = inner
                .client
                .post(url)
                .headers(headers)
                .body(message.body.clone())
                .send()
                .await;
            let mut attempt = Attempt {
                number,
                at,
                status: None,
                latency: Duration::ZERO,
                error: None,
                retry_after: None,
                next_retry_in: None,
                response_excerpt: String::new(),
            };
            let verdict = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    attempt.status = Some(status);
                    attempt.retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, at));
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(|l| truncate(l, MAX_EXCERPT));
                    attempt.response_excerpt = read_excerpt(response).await;
                    let verdict = classify(status);
                    if verdict != Verdict::Delivered {
                        attempt.error = Some(if (300..400).contains(&status) {
                            AttemptError::Redirect { status, location }
                        } else {
                            AttemptError::Status(status)
                        });
                    }
                    verdict
                }
                Err(e) if is_blocked(&e) => {
                    attempt.latency = started.elapsed();
                    attempt.error = Some(AttemptError::Refused(
                        "destination refused: host resolves only to addresses the SSRF guard forbids"
                            .into(),
                    ));
                    delivery.outcome = Outcome::Refused {
                        reason: "host resolves only to non-public addresses".into(),
                    };
                    self.report(&delivery, &attempt);
                    delivery.attempts.push(attempt);
                    return delivery;
                }
                Err(e) => {
                    attempt.error = Some(if e.is_timeout() {
                        AttemptError::Timeout
                    } else {
                        AttemptError::Transport(describe(e))
                    });
                    Verdict::Retry
                }
            };
            attempt.latency = started.elapsed();

            let stop = match verdict {
                Verdict::Delivered => Some(Outcome::Delivered {
                    status: attempt.status.unwrap_or(200),
                }),
                Verdict::Gone => Some(Outcome::Gone),
                Verdict::ClientError => {
                    client_errors += 1;
                    (client_errors >= inner.retry.client_error_limit()).then(|| Outcome::Rejected {
                        status: attempt.status.unwrap_or(400),
                    })
                }
                Verdict::Retry => None,
            };
            let retry_index = usize::try_from(number - 1).unwrap_or(usize::MAX);
            let next = match stop {
                Some(_) => None,
                None => inner
                    .retry
                    .delay(retry_index, attempt.retry_after, &mut rng),
            };
            attempt.next_retry_in = next;
            self.report(&delivery, &attempt);
            delivery.attempts.push(attempt);
            match (stop, next) {
                (Some(outcome), _) => {
                    delivery.outcome = outcome;
                    return delivery;
                }
                (None, Some(wait)) => inner.clock.sleep(wait).await,
                (None, None) => break,
            }
        }
        // Schedule exhausted: report the last rejection as such when it was a client error.
        if let Some(Attempt {
            status: Some(status),
            ..
        }) = delivery.attempts.last()
        {
            if classify(*status) == Verdict::ClientError {
                delivery.outcome = Outcome::Rejected { status: *status };
                return delivery;
            }
        }
        delivery.outcome = Outcome::Exhausted;
        delivery
    }

    /// Deliver many messages, each to its endpoint, with at most `max_in_flight` deliveries
    /// (each with its own retries) running at once. Results come back in input order.
    ///
    /// `max_in_flight` is clamped to `1..=`[`MAX_IN_FLIGHT`]. Must be called within a tokio
    /// runtime (deliveries run as tasks).
    pub async fn deliver_all<I>(&self, jobs: I, max_in_flight: usize) -> Vec<Delivery>
    where
        I: IntoIterator<Item = (Endpoint, Message)>,
    {
        let limit = max_in_flight.clamp(1, MAX_IN_FLIGHT);
        let mut tasks = tokio::task::JoinSet::new();
        let mut slots: Vec<Option<Delivery>> = Vec::new();
        let mut keys: Vec<(String, String)> = Vec::new();
        for (i, (endpoint, message)) in jobs.into_iter().enumerate() {
            while tasks.len() >= limit {
                collect(tasks.join_next().await, &mut slots);
            }
            slots.push(None);
            keys.push((message.id.clone(), endpoint.inner.log_url.clone()));
            let sender = self.clone();
            tasks.spawn(async move { (i, sender.deliver(&endpoint, &message).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            collect(Some(joined), &mut slots);
        }
        slots
            .into_iter()
            .zip(keys)
            .map(|(slot, (message_id, url))| {
                // A delivery task only ends without a result if it panicked (a bug): say so.
                slot.unwrap_or(Delivery {
                    message_id,
                    url,
                    outcome: Outcome::Exhausted,
                    attempts: Vec::new(),
                })
            })
            .collect()
    }

    fn report(&self, delivery: &Delivery, attempt: &Attempt) {
        if let Some(cb) = &self.inner.on_attempt {
            cb(&AttemptReport {
                message_id: &delivery.message_id,
                url: &delivery.url,
                attempt,
            });
        }
        tracing::debug!(
            message_id = %delivery.message_id,
            url = %delivery.url,
            attempt = attempt.number,
            status = attempt.status,
            latency_ms = attempt.latency.as_millis() as u64,
            error = attempt.error.as_ref().map(|e| e.to_string()),
            "webhook attempt"
        );
    }
}

type Joined = Option<Result<(usize, Delivery), tokio::task::JoinError>>;

fn collect(joined: Joined, slots: &mut [Option<Delivery>]) {
    if let Some(Ok((i, d))) = joined {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(d);
        }
    }
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::Config(format!("invalid header name `{name}`").into()))?;
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| Error::Config(format!("invalid value for header `{name}`").into()))?;
    // An `Authorization` or API-key header set here is as much a secret as a signature: kept
    // out of `http`'s `Debug` and out of HTTP/2 header compression's index.
    if crate::credential::is_credential(name) {
        v.set_sensitive(true);
    }
    Ok((n, v))
}

async fn read_excerpt(mut response: reqwest::Response) -> String {
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0usize;
    // Drain (bounded) so the connection can be reused; keep only the first bytes.
    while read < MAX_RESPONSE_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                read += chunk.len();
                if buf.len() < MAX_EXCERPT {
                    let take = (MAX_EXCERPT - buf.len()).min(chunk.len());
                    buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// A transport error's causes, without the URL (which may hold credentials or tokens).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut cur = std::error::Error::source(&e);
    for _ in 0..8 {
        match cur {
            Some(s) => {
                out.push_str(": ");
                out.push_str(&s.to_string());
                cur = s.source();
            }
            None => break,
        }
    }
    truncate(&out, MAX_EXCERPT)
}

#[cfg(test)]
mod tests {
    use super::header_pair;

    #[test]
    fn credential_headers_are_sensitive() {
        for name in ["Authorization", "X-Api-Key", "x-auth-token", "Cookie"] {
            assert!(
                header_pair(name, "s3cr3t").unwrap().1.is_sensitive(),
                "{name}"
            );
        }
        assert!(!header_pair("x-team", "growth").unwrap().1.is_sensitive());
    }

    /// Names that only the CLI's list had before the two lists became one.
    #[test]
    fn the_clis_credential_names_are_sensitive_too() {
        for name in ["sig", "sign", "key", "code", "api_key"] {
            assert!(
                header_pair(name, "s3cr3t").unwrap().1.is_sensitive(),
                "{name}"
            );
        }
    }
}
