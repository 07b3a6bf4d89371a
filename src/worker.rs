//! [`Worker`]: lease deliveries from an [`Inbox`], parse them and run typed handlers, with
//! retries, dead letters and a graceful stop (feature `worker`).
//!
//! ```text
//!  lease (batch, up to the free handler slots) ──► parse as the route's type ──► handler
//!     ▲                                                │                            │
//!     │                            parse error: dead at once (with the JSON path)  │
//!     │                                                      Ok ──► ack (done)      │
//!     └──── retrying at now + backoff (jitter) ◄── Err / panic / timeout ◄─────────┘
//!                                           └──► dead after the last attempt ──► hook
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), chathooks::Error> {
//! use std::sync::Arc;
//! use chathooks::inbox::{Inbox, MemoryInbox};
//! use chathooks::platform::sam::SamEvent;
//! use chathooks::worker::Worker;
//!
//! let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new()); // the receiver puts into it
//! let worker = Worker::from_arc(inbox)
//!     // `job` is a `Job<SamEvent>`: the route says so.
//!     .route::<SamEvent, _>(|job| async move {
//!         println!("{} {}", job.delivery_id(), job.event().name());
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .concurrency(32);
//! // Runs until ctrl-c, then finishes or releases what is in flight.
//! let report = worker.run(async { tokio::signal::ctrl_c().await.ok(); }).await;
//! println!("{report:?}");
//! # Ok(()) }
//! ```
//!
//! ## Routing
//!
//! Each entry carries the namespace its receiver used (the vendor's name by default, `"raw"`
//! for [`RawBody`]). [`Worker::route`] handles `T`'s default namespace
//! ([`Payload::NAMESPACE`]); [`Worker::route_namespace`] handles any other (a tenant's
//! `"sam:tenant-42"`, a `RawBody` endpoint's own name). `T` is any [`Payload`]: a vendor's
//! event enum, [`Normalized<E>`](crate::receiver::Normalized) for the cross-vendor
//! [`Event`](crate::Event), or [`RawBody`] to parse yourself. An entry whose namespace has no
//! route counts as a failed attempt (so a worker deployed before its route exists retries
//! rather than drops it) and ends in the dead letters if no route appears.
//!
//! ## Delivery semantics
//!
//! At least once: a handler that outlives its lease (default [`DEFAULT_LEASE`]) is stopped
//! (a timeout, counted as a failure), since another worker may take the entry over. A crash
//! leaves the lease to expire; the entry is then handled again. Make handlers idempotent on
//! [`Job::delivery_id`].
//!
//! Acknowledgements are batched: a handler that returned `Ok` hands its entry to the worker's
//! acker, which acknowledges what finished meanwhile with one [`Inbox::ack_many`] (at most 256
//! per call, two calls at a time) instead of one round trip per entry. The job keeps its
//! handler slot until its ack is answered, so at most [`concurrency`](Worker::concurrency)
//! entries are running or waiting for an ack: what a crash can make run again.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use crate::backoff::{Backoff, Rng};
use crate::inbox::{AfterFailure, Entry, EntryId, Inbox, Lease, LeaseToken, DEFAULT_LEASE};
use crate::metrics;
use crate::receiver::{Payload, RawBody};
use crate::Error;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Longest wait for more free handler slots before a lease call (see [`Worker::run`]).
const LINGER: Duration = Duration::from_millis(2);

/// Most entries one [`Inbox::ack_many`] call of the worker carries.
const ACK_BATCH: usize = 256;
/// `ack_many` calls one worker keeps in flight at once.
const ACKS_IN_FLIGHT: usize = 2;
/// `release` calls one worker keeps in flight at once while it stops.
const RELEASES_IN_FLIGHT: usize = 16;
/// Least time the acknowledgements of finished handlers get at shutdown, even when the
/// shutdown deadline has passed (about what an ack's own retries take).
const ACK_GRACE: Duration = Duration::from_secs(2);

pub use crate::backoff::{MAX_RETRIES, MAX_RETRY_DELAY};

/// The default handler retry schedule: after the first attempt, retry after 1 s, 5 s, 30 s,
/// 2 min, 10 min, 30 min, 1 h and 3 h (nine attempts over about 4 h 43 min), each ± 20 %.
pub const DEFAULT_SCHEDULE: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(3 * 3600),
];

/// When a failed handler runs again, and when an entry becomes a dead letter. The same shape
/// as the sender's `RetryPolicy`: a list of delays (the first attempt is immediate), a jitter
/// fraction, an optional seed.
///
/// ```
/// use std::time::Duration;
/// use chathooks::worker::RetryPolicy;
/// let quick = RetryPolicy::default()
///     .schedule(vec![Duration::from_millis(10), Duration::from_millis(50)])?
///     .jitter(0.0)?;
/// assert_eq!(quick.max_attempts(), 3);
/// let backoff = RetryPolicy::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60), 10)?;
/// assert_eq!(backoff.delays()[3], Duration::from_secs(8));
/// assert_eq!(backoff.delays()[9], Duration::from_secs(60));
/// # Ok::<(), chathooks::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff::new(&DEFAULT_SCHEDULE),
        }
    }
}

impl RetryPolicy {
    /// One attempt: a failure is a dead letter at once.
    pub fn no_retries() -> Self {
        RetryPolicy {
            backoff: Backoff::new(&[]),
        }
    }

    /// `retries` delays growing by `factor` from `first`, each capped at `max`. More than
    /// [`MAX_RETRIES`] retries, or a `factor` below 1, is an [`Error::Config`].
    pub fn exponential(
        first: Duration,
        factor: f64,
        max: Duration,
        retries: usize,
    ) -> Result<Self, Error> {
        if !(factor.is_finite() && factor >= 1.0) {
            return Err(Error::Config(
                "backoff factor must be finite and >= 1".into(),
            ));
        }
        let mut delays = Vec::with_capacity(retries.min(MAX_RETRIES));
        let mut d = first.min(max);
        for _ in 0..retries.min(MAX_RETRIES + 1) {
            delays.push(d);
            d = Duration::try_from_secs_f64(d.as_secs_f64() * factor)
                .unwrap_or(max)
                .min(max);
        }
        Self::default().schedule(delays)
    }

    /// Delays before each retry. At most [`MAX_RETRIES`], each at most [`MAX_RETRY_DELAY`].
    pub fn schedule(mut self, delays: Vec<Duration>) -> Result<Self, Error> {
        self.backoff.set_delays(delays)?;
        Ok(self)
    }

    /// Random spread applied to each delay: `0.2` (the default) waits between 80 % and 120 %
    /// of it, so entries that failed together do not all retry together. `0.0..=1.0`.
    pub fn jitter(mut self, fraction: f64) -> Result<Self, Error> {
        self.backoff.set_jitter(fraction)?;
        Ok(self)
    }

    /// Seed the jitter so runs are reproducible.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.backoff.set_seed(seed);
        self
    }

    /// Total attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.backoff.max_attempts()
    }

    /// The configured delays.
    pub fn delays(&self) -> &[Duration] {
        self.backoff.delays()
    }

    /// What to do after the `attempts`-th failed attempt (1 = the first), at `now`.
    pub fn after_failure(&self, attempts: u32, now: SystemTime, salt: u64) -> AfterFailure {
        let unit = Rng::seeded(self.backoff.seed() ^ salt ^ u64::from(attempts)).next_f64();
        let Some(delay) = attempts
            .checked_sub(1)
            .and_then(|i| self.backoff.delay(i as usize, unit))
        else {
            return AfterFailure::Dead;
        };
        AfterFailure::RetryAt(now.checked_add(delay).unwrap_or(now))
    }
}

/// One delivery for a handler: the parsed payload and the entry it came from.
#[derive(Debug)]
pub struct Job<T> {
    event: T,
    entry: Entry,
    attempt: u32,
}

impl<T> Job<T> {
    /// The parsed payload.
    pub fn event(&self) -> &T {
        &self.event
    }

    /// The parsed payload, moved out.
    pub fn into_event(self) -> T {
        self.event
    }

    /// The stored entry (body bytes, headers, namespace, key, receive time…).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delivery's id: the signed delivery id when the signature covered one, otherwise
    /// the dedupe key's id part (the vendor's event id or a body hash). Stable across the
    /// sender's retries and this worker's: key your side effects on it.
    pub fn delivery_id(&self) -> &str {
        delivery_id(&self.entry)
    }
}

fn delivery_id(entry: &Entry) -> &str {
    entry
        .signed_delivery_id
        .as_deref()
        .unwrap_or_else(|| entry.key.id())
}

/// A dead letter, as the [`DeadLetterHook`] sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The entry (state dead, attempts counted, `last_error` set).
    pub entry: Entry,
    /// Why it died: the parse error with its JSON path, or the last handler error.
    pub reason: String,
}

/// Told about every entry that becomes a dead letter (after the inbox recorded it): page
/// someone, post to Slack… Implemented for closures `Fn(DeadLetter) -> impl Future<Output =
/// ()>` and, with feature `sender`, for [`SlackNotifier`](crate::sender::SlackNotifier).
pub trait DeadLetterHook: Send + Sync + 'static {
    /// Handle one dead letter. The worker waits for it (bounded by the shutdown deadline when
    /// stopping), so keep it short.
    fn dead_letter(&self, letter: DeadLetter) -> BoxFuture<'_, ()>;
}

impl<F, Fut> DeadLetterHook for F
where
    F: Fn(DeadLetter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn dead_letter(&self, letter: DeadLetter) -> BoxFuture<'_, ()> {
        Box::pin(self(letter))
    }
}

#[cfg(feature = "sender")]
impl DeadLetterHook for crate::sender::SlackNotifier {
    fn dead_letter(&self, letter: DeadLetter) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let text = format!(
                "Webhook dead letter: {} delivery {} (entry {}) failed {} time(s): {}",
                letter.entry.namespace,
                delivery_id(&letter.entry),
                letter.entry.id,
                letter.entry.attempts,
                letter.reason
            );
            let _ = self.notify_text(&text).await;
        })
    }
}

/// A handler for payload `T`: every `Fn(Job<T>) -> impl Future<Output = Result<(), E>>` whose
/// error `E` is `Display` (async fns and closures) is one.
///
/// `Fn` is a supertrait, so a closure's argument type comes from the route:
/// `.route::<SamEvent, _>(|job| async move { … })` needs no `job: Job<SamEvent>` annotation
/// (only the error type, as in any `async` block that returns `Ok(())`).
pub trait Handler<T>: Fn(Job<T>) -> <Self as Handler<T>>::Future + Send + Sync + 'static {
    /// What the handler's call returns.
    type Future: Future<Output = Result<(), Self::Error>> + Send + 'static;
    /// The handler's error: `Err` counts as a failed attempt, with the error's text kept as
    /// the entry's `last_error`.
    type Error: fmt::Display + Send + 'static;
}

impl<T, F, Fut, E> Handler<T> for F
where
    T: Send + 'static,
    F: Fn(Job<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    type Future = Fut;
    type Error = E;
}

/// One call of `handler`, its error as text.
fn call_handler<T, H: Handler<T>>(
    handler: &H,
    job: Job<T>,
) -> BoxFuture<'static, Result<(), String>> {
    let fut = handler(job);
    Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
}

/// What a route decided for one entry.
enum Outcome {
    Handled,
    /// Cannot ever succeed (unparseable): dead at once.
    Poison(String),
    /// Failed this attempt.
    Failed(String),
    /// Failed this attempt by panicking (counted in [`WorkerReport::panics`] too).
    Panicked(String),
    /// Leased past the last attempt (this one, the most allowed) and not run: dead at once.
    Exhausted(u32, u32),
}

/// Record `leases` in `in_flight`: what the worker releases at shutdown unless acknowledged or
/// failed first.
fn hold(inner: &Inner, leases: &[Lease]) {
    let mut in_flight = inner
        .in_flight
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for lease in leases {
        in_flight.insert(lease.entry.id.clone(), lease.token);
    }
}

/// Drop an entry from `in_flight` if `token` is still the lease recorded there (an entry
/// taken over by a later lease of this worker keeps its newer record).
fn forget(in_flight: &mut HashMap<EntryId, LeaseToken>, id: &EntryId, token: LeaseToken) {
    if in_flight.get(id) == Some(&token) {
        in_flight.remove(id);
    }
}

trait Route: Send + Sync {
    fn run(
        &self,
        entry: Entry,
        attempt: u32,
        timeout: Duration,
        repair: bool,
    ) -> BoxFuture<'static, Outcome>;
}

struct Typed<T, H> {
    handler: Arc<H>,
    _payload: PhantomData<fn() -> T>,
}

impl<T: Payload, H: Handler<T>> Route for Typed<T, H> {
    fn run(
        &self,
        entry: Entry,
        attempt: u32,
        timeout: Duration,
        repair: bool,
    ) -> BoxFuture<'static, Outcome> {
        let handler = self.handler.clone();
        Box::pin(async move {
            // A `Payload` is user code too: a panic while parsing is a failed attempt.
            let parsed = std::panic::catch_unwind(|| parse::<T>(&entry.body, repair));
            let event = match parsed {
                Ok(Ok(event)) => event,
                Ok(Err(e)) => return Outcome::Poison(format!("cannot parse: {e}")),
                Err(payload) => {
                    let msg = panic_message(payload);
                    return Outcome::Panicked(format!("{msg} (while parsing the payload)"));
                }
            };
            let job = Job {
                event,
                entry,
                attempt,
            };
            // Run in this job's task (no second spawn per job): a panic, in the handler's
            // call or in its future, is caught and counted as a failure, and a timeout drops
            // (cancels) the future.
            let run = CatchUnwind(Some(Box::new(move || call_handler(&*handler, job))), None);
            match tokio::time::timeout(timeout, run).await {
                Err(_) => Outcome::Failed(format!(
                    "handler timed out after {:.1} s",
                    timeout.as_secs_f64()
                )),
                Ok(Ok(Ok(()))) => Outcome::Handled,
                Ok(Ok(Err(e))) => Outcome::Failed(e),
                Ok(Err(payload)) => Outcome::Panicked(panic_message(payload)),
            }
        })
    }
}

type PanicPayload = Box<dyn std::any::Any + Send>;
type Start = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), String>> + Send>;

/// A handler's call, then its future, with panics caught at every step (what `tokio::spawn`
/// would give, without a task per job).
struct CatchUnwind(
    Option<Start>,
    Option<BoxFuture<'static, Result<(), String>>>,
);

impl Future for CatchUnwind {
    type Output = Result<Result<(), String>, PanicPayload>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(start) = this.0.take() {
                this.1 = Some(start());
            }
            match this.1.as_mut() {
                Some(fut) => fut.as_mut().poll(cx),
                None => Poll::Ready(Err("handler polled after it finished".into())),
            }
        }));
        match step {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => {
                this.1 = None;
                Poll::Ready(Ok(r))
            }
            Err(payload) => {
                // Never poll a future that panicked again.
                this.1 = None;
                Poll::Ready(Err(payload))
            }
        }
    }
}

fn parse<T: Payload>(body: &[u8], repair: bool) -> Result<T, Error> {
    crate::receiver::parse_payload(body, repair).map(|(event, _)| event)
}

fn panic_message(payload: PanicPayload) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    format!("handler panicked: {msg}")
}

/// What a [`Worker::run`] did, returned when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Entries handled and acknowledged.
    pub handled: u64,
    /// Failed attempts scheduled for a retry (handler errors, panics, timeouts, no route).
    pub retried: u64,
    /// Entries that became dead letters (parse failures and last attempts).
    pub dead: u64,
    /// Handler panics (also counted in `retried` or `dead`).
    pub panics: u64,
    /// Acks or fails the inbox refused because the lease had been lost (another worker took
    /// the entry over after the lease ran out).
    pub lost_leases: u64,
    /// Leases given back at shutdown (handlers still running at the deadline, or leased by a
    /// call that was under way when shutdown began).
    pub released: u64,
    /// Times the inbox was unavailable while leasing.
    pub inbox_errors: u64,
}

#[derive(Default)]
struct Counters(Mutex<WorkerReport>);

impl Counters {
    fn add(&self, f: impl FnOnce(&mut WorkerReport)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
    fn get(&self) -> WorkerReport {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inner {
    inbox: Arc<dyn Inbox>,
    routes: HashMap<String, Arc<dyn Route>>,
    retry: RetryPolicy,
    lease: Duration,
    timeout: Option<Duration>,
    repair: bool,
    hook: Option<Arc<dyn DeadLetterHook>>,
    counters: Counters,
    in_flight: Mutex<HashMap<EntryId, LeaseToken>>,
}

/// Leases entries from an inbox and runs the handler routed to each one's namespace. See the
/// [module docs](self).
pub struct Worker {
    inner: Inner,
    concurrency: usize,
    batch: usize,
    idle_poll: Duration,
    max_backoff: Duration,
    shutdown_deadline: Duration,
    stats_every: Duration,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<_> = self.inner.routes.keys().collect();
        routes.sort();
        f.debug_struct("Worker")
            .field("routes", &routes)
            .field("concurrency", &self.concurrency)
            .field("batch", &self.batch)
            .field("lease", &self.inner.lease)
            .field("retry", &self.inner.retry)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker on `inbox`, with no routes yet.
    pub fn new(inbox: impl Inbox) -> Self {
        Self::from_arc(Arc::new(inbox))
    }

    /// A worker on a shared inbox.
    pub fn from_arc(inbox: Arc<dyn Inbox>) -> Self {
        Worker {
            inner: Inner {
                inbox,
                routes: HashMap::new(),
                retry: RetryPolicy::default(),
                lease: DEFAULT_LEASE,
                timeout: None,
                repair: false,
                hook: None,
                counters: Counters::default(),
                in_flight: Mutex::new(HashMap::new()),
            },
            concurrency: 16,
            batch: 64,
            idle_poll: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            shutdown_deadline: Duration::from_secs(10),
            stats_every: Duration::from_secs(10),
        }
    }

    /// Handle entries of `T`'s default namespace ([`Payload::NAMESPACE`]: the vendor's name,
    /// `"raw"` for [`RawBody`]) with `handler`. A later route for the same namespace replaces
    /// an earlier one.
    pub fn route<T: Payload, H: Handler<T>>(self, handler: H) -> Self {
        self.route_namespace::<T, H>(T::NAMESPACE, handler)
    }

    /// Handle entries of `namespace` (what the receiver's
    /// [`namespace`](crate::receiver::ReceiverBuilder::namespace) was) as `T` with `handler`.
    pub fn route_namespace<T: Payload, H: Handler<T>>(
        mut self,
        namespace: impl Into<String>,
        handler: H,
    ) -> Self {
        let route: Arc<dyn Route> = Arc::new(Typed {
            handler: Arc::new(handler),
            _payload: PhantomData::<fn() -> T>,
        });
        let namespace = namespace.into();
        if let Err(e) = crate::idempotency::check_namespace(&namespace) {
            // No receiver can store such a namespace: this route would never run.
            tracing::error!(namespace = %namespace, error = %e, "no entry can ever match this route");
        }
        self.inner.routes.insert(namespace, route);
        self
    }

    /// Handle entries of `namespace` as the raw verified bytes.
    pub fn route_raw<H: Handler<RawBody>>(self, namespace: impl Into<String>, handler: H) -> Self {
        self.route_namespace::<RawBody, H>(namespace, handler)
    }

    /// The retry schedule for failed attempts (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.inner.retry = policy;
        self
    }

    /// Most handlers running at once (default 16, at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Most entries leased per call (default 64, at least 1); never more than the free
    /// handler slots. One lease call is one round trip whatever its size, so while handlers
    /// run the worker waits (at most 2 ms) for half a batch of slots to be free before it
    /// leases again, rather than leasing for each slot as it frees.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// How long each lease lasts (default [`DEFAULT_LEASE`], at least 1 s). A handler still
    /// running at the end of it is stopped and the attempt counts as failed, because another
    /// worker may take the entry over.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.inner.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// Stop a handler after `timeout`. The default, and the most it can be, is the lease
    /// less a tenth: a handler stops before another worker (or this one) can take its entry
    /// over, so one entry never runs twice at once.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout = Some(timeout);
        self
    }

    /// Allow [`lenient::repair`](crate::lenient::repair) when a body is not well-formed JSON (off by default).
    pub fn repair(mut self, allow: bool) -> Self {
        self.inner.repair = allow;
        self
    }

    /// How long to wait before leasing again when nothing was due (default 100 ms).
    pub fn idle_poll(mut self, every: Duration) -> Self {
        self.idle_poll = every;
        self
    }

    /// Longest wait between lease attempts while the inbox is unavailable (default 5 s; the
    /// wait starts at 100 ms and doubles).
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// How long in-flight handlers may run on after shutdown begins (default 10 s); the leases
    /// of those still running then are released (due again at once, their attempt given back).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// Told about every dead letter.
    pub fn on_dead_letter(mut self, hook: impl DeadLetterHook) -> Self {
        self.inner.hook = Some(Arc::new(hook));
        self
    }

    /// How often the worker reads [`Inbox::stats`] into the inbox gauges of
    /// [`metrics`] (`chathooks_inbox_entries{state}`, the oldest pending
    /// entry's age); default 10 s. Only with feature `metrics`.
    pub fn stats_every(mut self, every: Duration) -> Self {
        self.stats_every = every.max(Duration::from_millis(10));
        self
    }

    /// Lease and handle until `shutdown` completes; then stop leasing, let in-flight handlers
    /// finish within the [shutdown deadline](Self::shutdown_deadline), release the leases of
    /// the rest, and return what was done. Inbox outages are waited out (with backoff), never
    /// returned.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> WorkerReport {
        let Worker {
            inner,
            concurrency,
            batch,
            idle_poll,
            max_backoff,
            shutdown_deadline,
            stats_every,
        } = self;
        let inner = Arc::new(inner);
        let gauges = spawn_gauges(Arc::clone(&inner.inbox), stats_every);
        // Finished handlers hand their entry to the acker, which acknowledges what finished
        // together (one `ack_many` per batch) instead of one round trip per entry. A job keeps
        // its slot until its ack is answered, so a crash repeats at most `concurrency`
        // entries (those running or waiting for their ack).
        let (acks, ack_rx) = mpsc::channel::<Finished>(concurrency);
        let mut acker = tokio::spawn(ack_loop(Arc::clone(&inner), ack_rx));
        // Each job is one task; the set's size is the number of busy handler slots.
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        let lease_for = inner.lease;
        // A lease call is one round trip (one statement, one script) whatever its size, so
        // the worker leases for many free slots at once: it waits (up to LINGER) until at
        // least half a batch of slots is free before leasing again, instead of one call per
        // freed slot. Nothing is leased that has no slot to run in.
        let low_water = (batch.min(concurrency) / 2).max(1);
        'run: loop {
            while tasks.try_join_next().is_some() {}
            if tasks.len() >= concurrency {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break 'run,
                    _ = tasks.join_next() => continue 'run,
                }
            }
            if concurrency - tasks.len() < low_water && !tasks.is_empty() {
                let linger = tokio::time::sleep(LINGER);
                tokio::pin!(linger);
                while concurrency - tasks.len() < low_water && !tasks.is_empty() {
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break 'run,
                        _ = &mut linger => break,
                        _ = tasks.join_next() => {}
                    }
                }
            }
            let want = (concurrency - tasks.len()).min(batch);
            let call = inner.inbox.lease(want, lease_for);
            tokio::pin!(call);
            let leased = tokio::select! {
                biased;
                r = &mut call => r,
                _ = &mut shutdown => {
                    // The store may complete the lease anyway (a writer thread, a statement
                    // already sent): wait for it, bounded, and give back what it leased
                    // rather than leave it invisible for a whole lease.
                    if let Ok(Ok(leases)) = tokio::time::timeout(ACK_GRACE, call).await {
                        hold(&inner, &leases);
                    }
                    break 'run;
                }
            };
            let leases = match leased {
                Ok(l) => {
                    backoff = Duration::from_millis(100);
                    l
                }
                Err(e) => {
                    inner.counters.add(|c| c.inbox_errors += 1);
                    let wait = backoff.min(max_backoff);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                        "inbox unavailable while leasing; backing off");
                    backoff = (backoff * 2).min(max_backoff);
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break 'run,
                        _ = tokio::time::sleep(wait) => continue 'run,
                    }
                }
            };
            if leases.is_empty() {
                // Nothing due. Jobs finishing meanwhile are reaped on the next turn.
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break 'run,
                    _ = tokio::time::sleep(idle_poll) => continue 'run,
                }
            }
            hold(&inner, &leases);
            // `want` never exceeds the free slots, so the set stays within `concurrency`.
            for lease in leases {
                let (inner, acks) = (inner.clone(), acks.clone());
                tasks.spawn(async move { run_job(&inner, &acks, lease).await });
            }
        }
        if let Some(gauges) = gauges {
            gauges.abort();
        }
        // Stop: in-flight handlers get until the deadline, then their leases go back.
        let deadline = Instant::now() + shutdown_deadline;
        let drained = tokio::time::timeout_at(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        // Every job is over: the acker ends once it has sent what they handed it (given at
        // least ACK_GRACE, the work is done already). Entries it could not acknowledge in
        // time stay in `in_flight` and are released below.
        drop(acks);
        let ack_deadline = deadline.max(Instant::now() + ACK_GRACE);
        if tokio::time::timeout_at(ack_deadline, &mut acker)
            .await
            .is_err()
        {
            acker.abort();
            let _ = acker.await;
        }
        let left: Vec<_> = inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        // Released a few at a time, all within the grace: an entry not released by then comes
        // back when its lease ends.
        let release_deadline = ack_deadline.max(Instant::now() + ACK_GRACE);
        let mut releases = JoinSet::new();
        let mut left = left.into_iter();
        let _ = tokio::time::timeout_at(release_deadline, async {
            loop {
                while releases.len() < RELEASES_IN_FLIGHT {
                    let Some((id, token)) = left.next() else {
                        break;
                    };
                    let inbox = Arc::clone(&inner.inbox);
                    releases.spawn(async move { inbox.release(&id, token).await });
                }
                match releases.join_next().await {
                    Some(Ok(Ok(true))) => {
                        inner.counters.add(|c| c.released += 1);
                        metrics::record_worker_attempt("*", metrics::WorkerOutcome::Released);
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        })
        .await;
        releases.abort_all();
        inner.counters.get()
    }
}

async fn run_job(inner: &Inner, acks: &mpsc::Sender<Finished>, lease: Lease) {
    let Lease { entry, token, .. } = lease;
    let id = entry.id.clone();
    // The lease counted this attempt (`max(1)`: an inbox written before leases counted).
    let attempt = entry.attempts.max(1);
    let span = crate::span::observed(tracing::Level::INFO, || {
        tracing::info_span!(
            "webhook_job",
            vendor = %entry.vendor,
            namespace = %entry.namespace,
            delivery_id = %delivery_id(&entry),
            entry_id = %entry.id,
            attempt,
        )
    });
    async {
        let most = inner.lease.saturating_sub(inner.lease / 10);
        let timeout = inner.timeout.map_or(most, |t| t.min(most));
        let max = inner.retry.max_attempts();
        let route = inner.routes.get_key_value(entry.namespace.as_str());
        // Metric labels: routed namespaces only (configured, so bounded), never stored text.
        let label = route.map_or_else(|| "unrouted".to_owned(), |(ns, _)| ns.clone());
        let outcome = match route {
            // Past the last attempt: the earlier ones were leased and never answered. Running
            // it again would repeat whatever took the worker down.
            _ if attempt > max => Outcome::Exhausted(attempt, max),
            Some((_, route)) => route.run(entry, attempt, timeout, inner.repair).await,
            None => Outcome::Failed(format!("no route for namespace `{}`", entry.namespace)),
        };
        let panicked = matches!(outcome, Outcome::Panicked(_));
        match outcome {
            Outcome::Handled => {
                let (settled, answered) = oneshot::channel();
                let done = Finished {
                    lease: (id.clone(), token),
                    label,
                    span: tracing::Span::current(),
                    settled,
                };
                // The acker removes the entry from `in_flight` once its ack is answered, then
                // drops `settled`: this job's slot frees only then.
                match acks.send(done).await {
                    Ok(()) => {
                        let _ = answered.await;
                    }
                    // The acker is gone (it only stops after the jobs): ack it here.
                    Err(mpsc::error::SendError(done)) => ack_batch(inner, vec![done]).await,
                }
                return;
            }
            Outcome::Poison(reason) => {
                tracing::warn!(error = %reason, "dead letter: cannot parse");
                fail(inner, &id, token, reason, AfterFailure::Dead, &label).await;
            }
            Outcome::Exhausted(attempt, max) => {
                let reason = format!(
                    "attempt {attempt} of at most {max}: the earlier attempts ended without an \
                     answer (the worker process died, or the handler outlived its lease); \
                     not run again"
                );
                tracing::error!(error = %reason, "dead letter: attempts used up without an answer");
                fail(inner, &id, token, reason, AfterFailure::Dead, &label).await;
            }
            Outcome::Failed(reason) | Outcome::Panicked(reason) => {
                if panicked {
                    inner.counters.add(|c| c.panics += 1);
                }
                let salt = fnv1a(id.as_str());
                let then = inner.retry.after_failure(attempt, SystemTime::now(), salt);
                tracing::warn!(error = %reason, dead = matches!(then, AfterFailure::Dead),
                    "handler failed");
                fail(inner, &id, token, reason, then, &label).await;
            }
        }
        forget(
            &mut inner
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            &id,
            token,
        );
    }
    .instrument(span)
    .await;
}

/// A handled entry waiting for its ack.
struct Finished {
    lease: (EntryId, LeaseToken),
    /// The route's metric label.
    label: String,
    /// The job's span, so that the ack's log lines carry the delivery id.
    span: tracing::Span,
    /// Dropped once the ack is answered and counted: the job waiting on it ends then.
    settled: oneshot::Sender<()>,
}

/// Acknowledge what finished handlers hand over, many per [`Inbox::ack_many`] call: each
/// call takes what queued while the previous ones ran (at most [`ACK_BATCH`]), with at most
/// [`ACKS_IN_FLIGHT`] calls at once. Ends once every sender is gone and all is sent.
async fn ack_loop(inner: Arc<Inner>, mut rx: mpsc::Receiver<Finished>) {
    let mut calls = JoinSet::new();
    while let Some(first) = rx.recv().await {
        while calls.len() >= ACKS_IN_FLIGHT {
            calls.join_next().await;
        }
        let mut batch = vec![first];
        while batch.len() < ACK_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let inner = Arc::clone(&inner);
        calls.spawn(async move { ack_batch(&inner, batch).await });
    }
    while calls.join_next().await.is_some() {}
}

async fn ack_batch(inner: &Inner, batch: Vec<Finished>) {
    let (leases, rest): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|f| (f.lease, (f.label, f.span, f.settled)))
        .unzip();
    let answers = match with_retries(|| inner.inbox.ack_many(&leases)).await {
        Ok(answers) if answers.len() == leases.len() => Ok(answers),
        Ok(answers) => Err(Error::StoreUnavailable {
            reason: format!(
                "the inbox answered {} of {} acks",
                answers.len(),
                leases.len()
            ),
            retry_after: Duration::from_secs(1),
        }),
        Err(e) => Err(e),
    };
    let (mut handled, mut lost) = (0, 0);
    for (i, (label, span, _)) in rest.iter().enumerate() {
        span.in_scope(|| match &answers {
            Ok(answers) if answers[i] => {
                handled += 1;
                metrics::record_worker_attempt(label, metrics::WorkerOutcome::Ok);
                tracing::info!("handled");
            }
            Ok(_) => {
                lost += 1;
                tracing::warn!("handled, but the lease was lost: it may run again");
            }
            Err(e) => tracing::warn!(error = %e,
                "handled, but the ack failed: it runs again when the lease ends"),
        });
    }
    inner.counters.add(|c| {
        c.handled += handled;
        c.lost_leases += lost;
    });
    let mut in_flight = inner
        .in_flight
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for (id, token) in &leases {
        forget(&mut in_flight, id, *token);
    }
    // Only now do the jobs end (`settled` dropped with `rest`), once all is counted.
    drop(in_flight);
    drop(rest);
}

async fn fail(
    inner: &Inner,
    id: &EntryId,
    token: LeaseToken,
    reason: String,
    then: AfterFailure,
    label: &str,
) {
    match with_retries(|| inner.inbox.fail(id, token, &reason, then)).await {
        Ok(true) => {
            if then == AfterFailure::Dead {
                inner.counters.add(|c| c.dead += 1);
                metrics::record_worker_attempt(label, metrics::WorkerOutcome::Dead);
                if let Some(hook) = &inner.hook {
                    if let Ok(Some(entry)) = inner.inbox.get(id).await {
                        hook.dead_letter(DeadLetter { entry, reason }).await;
                    }
                }
            } else {
                inner.counters.add(|c| c.retried += 1);
                metrics::record_worker_attempt(label, metrics::WorkerOutcome::Retry);
            }
        }
        Ok(false) => inner.counters.add(|c| c.lost_leases += 1),
        Err(e) => tracing::warn!(error = %e,
            "recording the failure failed: the entry runs again when the lease ends"),
    }
}

/// The inbox gauges, refreshed every `every` while the worker runs (with feature `metrics`).
fn spawn_gauges(inbox: Arc<dyn Inbox>, every: Duration) -> Option<JoinHandle<()>> {
    if !cfg!(feature = "metrics") {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            match inbox.stats().await {
                Ok(stats) => metrics::record_inbox_stats(&stats),
                Err(e) => tracing::debug!(error = %e, "inbox stats unavailable for the gauges"),
            }
            tokio::time::sleep(every).await;
        }
    }))
}

/// An ack or fail that meets an unavailable inbox is tried three times in about a second; after
/// that the lease's expiry brings the entry back (at least once, never lost).
async fn with_retries<'a, T, F>(mut call: F) -> Result<T, Error>
where
    F: FnMut() -> crate::inbox::InboxFuture<'a, T>,
{
    let mut wait = Duration::from_millis(100);
    for _ in 0..2 {
        match call().await {
            Err(Error::StoreUnavailable { .. }) => {
                tokio::time::sleep(wait).await;
                wait *= 4;
            }
            other => return other,
        }
    }
    call().await
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
