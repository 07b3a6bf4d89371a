//! The **inbox** stage: keep each verified delivery durably, answer the sender at once, and let
//! workers handle it later with retries, dead letters and replay.
//!
//! ```text
//!  receive:  verify ──► put (atomic with dedupe) ──► 2xx to the sender
//!  workers:  lease ──► parse ──► handler ──► ack            (done)
//!                                        └─► fail ──► retrying ──► … ──► dead
//!  operators: list / get / stats / replay (dead or done → pending) / purge
//! ```
//!
//! An [`Inbox`] is a small object-safe trait, like
//! [`IdempotencyStore`](crate::IdempotencyStore): receivers and workers hold an
//! `Arc<dyn Inbox>` chosen at run time, and every method returns a boxed [`InboxFuture`].
//!
//! # Guarantees every backend gives
//!
//! - **Acknowledged means durable.** [`Inbox::put`] returns only after the entry is stored as
//!   durably as the backend promises; only then does the receiver answer 2xx.
//! - **Stored once.** `put` is atomic with dedupe: of any number of puts (concurrent or not) of
//!   one [`IdempotencyKey`], exactly one answers [`PutOutcome::Accepted`]; the others answer
//!   [`PutOutcome::Duplicate`] for as long as the entry is kept (see [`Inbox::purge`]).
//! - **Leases.** [`Inbox::lease`] hands each due entry to one worker for a visibility timeout,
//!   with a fresh [`LeaseToken`]. An entry whose lease ran out (its worker died) is due again
//!   and is taken over by the next `lease` call; the first worker's late [`ack`](Inbox::ack),
//!   [`fail`](Inbox::fail) or [`release`](Inbox::release) then returns `false` and changes
//!   nothing.
//! - **At least once, done once.** Workers see each entry at least once; an acknowledged entry
//!   is never leased again unless an operator [replays](Inbox::replay) it.
//! - **Bytes kept.** The body is kept exactly as verified (never re-serialised; a compressed
//!   delivery decoded, as its signature covers the decoded bytes), with the few
//!   headers the parser and the dedupe key need.
//!
//! The retry schedule belongs to the worker, not the store: [`Inbox::fail`] is told what to do
//! next ([`AfterFailure`]), so every backend stores the same decision.
//!
//! # Which backend
//!
//! - [`MemoryInbox`]: one process, nothing survives a restart. Tests and demos.
//! - `SqliteInbox` (feature `sqlite`): one machine, nothing to run beside the service; the
//!   durable default. Several processes on that machine may share the file.
//! - `PostgresInbox` (feature `postgres`): the service already runs Postgres; several machines.
//! - `RedisInbox` (feature `redis`): receivers and workers on several machines sharing one
//!   Redis (6.2 or later) through a Streams consumer group; as durable as the server's
//!   persistence (`appendonly yes`), and `maxmemory-policy noeviction` is a must. See
//!   its module, `inbox::redis`, for the data layout and the trimming policy.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::idempotency::{ClaimToken, IdempotencyKey};
use crate::Error;

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

pub use self::memory::MemoryInbox;
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresInbox;
#[cfg(feature = "redis")]
pub use self::redis::RedisInbox;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteInbox, SqliteOptions, Synchronous};

/// The future every [`Inbox`] method returns.
pub type InboxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The proof of one lease: 128 random bits, fresh for every lease (the same generator as the
/// dedupe stage's claim tokens). `ack`, `fail` and `release` act only while the entry is still
/// leased under this token.
pub type LeaseToken = ClaimToken;

/// Longest `last_error` an entry keeps, in bytes; longer messages are cut at a character
/// boundary by [`truncate_error`].
pub const MAX_ERROR_LEN: usize = 1024;

/// Default visibility timeout of a lease.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Cut `error` to at most [`MAX_ERROR_LEN`] bytes at a character boundary. Every backend stores
/// `last_error` through this, so an entry never grows with a handler's error text.
pub fn truncate_error(error: &str) -> &str {
    if error.len() <= MAX_ERROR_LEN {
        return error;
    }
    let mut end = MAX_ERROR_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// The identity of one entry in one inbox: a row id, a stream id… Opaque to callers; stable for
/// the entry's life and printable (the CLI shows and takes it).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(Box<str>);

impl EntryId {
    /// Wrap a backend's id.
    pub fn new(id: impl Into<Box<str>>) -> Self {
        EntryId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.0)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryState {
    /// Stored, never attempted (or replayed): due now.
    Pending,
    /// Held by a worker until its lease ends.
    Leased,
    /// Failed at least once; due again at `next_attempt_at`.
    Retrying,
    /// Failed its last allowed attempt, or could not be parsed: kept for inspection and
    /// [`replay`](Inbox::replay), never leased.
    Dead,
    /// Handled: acknowledged by a worker. Kept (and still deduplicating) until purged.
    Done,
}

impl EntryState {
    /// Every state, in life order.
    pub const ALL: [EntryState; 5] = [
        EntryState::Pending,
        EntryState::Leased,
        EntryState::Retrying,
        EntryState::Dead,
        EntryState::Done,
    ];

    /// Stable lowercase name (`"pending"`, `"leased"`, …), what backends store and the CLI
    /// prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryState::Pending => "pending",
            EntryState::Leased => "leased",
            EntryState::Retrying => "retrying",
            EntryState::Dead => "dead",
            EntryState::Done => "done",
        }
    }

    /// The state named `name` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(name: &str) -> Option<Self> {
        EntryState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for EntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified delivery to store: what [`Inbox::put`] takes.
#[derive(Clone)]
#[non_exhaustive]
pub struct NewEntry {
    /// The receiver's namespace (the vendor's name unless the receiver was given another); the
    /// worker routes on it.
    pub namespace: String,
    /// The vendor's stable name ([`Vendor::as_str`](crate::event::Vendor::as_str)).
    pub vendor: String,
    /// The dedupe key: `put` stores one entry per key.
    pub key: IdempotencyKey,
    /// The delivery id, only when the signature covers it.
    pub signed_delivery_id: Option<String>,
    /// The headers the parser and dedupe key need (names lowercase). Values that are not UTF-8
    /// are not kept.
    pub headers: Vec<(String, String)>,
    /// The body exactly as verified: the bytes received, or for a compressed delivery
    /// (`Content-Encoding: gzip`/`deflate`) the decoded bytes its signature covers.
    pub body: Bytes,
    /// When the receiver got it.
    pub received_at: SystemTime,
}

impl NewEntry {
    /// An entry for `body` under `key`, received now, with no headers and no signed delivery id.
    pub fn new(
        namespace: impl Into<String>,
        vendor: impl Into<String>,
        key: IdempotencyKey,
        body: impl Into<Bytes>,
    ) -> Self {
        NewEntry {
            namespace: namespace.into(),
            vendor: vendor.into(),
            key,
            signed_delivery_id: None,
            headers: Vec::new(),
            body: body.into(),
            received_at: SystemTime::now(),
        }
    }

    /// Set the signed delivery id.
    pub fn with_signed_delivery_id(mut self, id: impl Into<String>) -> Self {
        self.signed_delivery_id = Some(id.into());
        self
    }

    /// Add a header to keep.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Set the receive time.
    pub fn with_received_at(mut self, at: SystemTime) -> Self {
        self.received_at = at;
        self
    }
}

impl fmt::Debug for NewEntry {
    // The body is the sender's data: its length, never its content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEntry")
            .field("namespace", &self.namespace)
            .field("vendor", &self.vendor)
            .field("key", &self.key)
            .field("signed_delivery_id", &self.signed_delivery_id)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// One stored entry, as [`Inbox::get`], [`Inbox::list`] and [`Inbox::lease`] return it.
#[derive(Clone)]
#[non_exhaustive]
pub struct Entry {
    /// The entry's id in this inbox.
    pub id: EntryId,
    /// See [`NewEntry::namespace`].
    pub namespace: String,
    /// See [`NewEntry::vendor`].
    pub vendor: String,
    /// See [`NewEntry::key`].
    pub key: IdempotencyKey,
    /// See [`NewEntry::signed_delivery_id`].
    pub signed_delivery_id: Option<String>,
    /// See [`NewEntry::headers`].
    pub headers: Vec<(String, String)>,
    /// The body exactly as verified (see [`NewEntry::body`]).
    pub body: Bytes,
    /// When the receiver got it.
    pub received_at: SystemTime,
    /// The state when read.
    pub state: EntryState,
    /// Attempts made so far. An attempt counts when it is leased, so one whose worker never
    /// answered (the process crashed, or the handler outlived its lease) still uses one up; a
    /// [release](Inbox::release) gives it back.
    pub attempts: u32,
    /// The last failure's message, at most [`MAX_ERROR_LEN`] bytes.
    pub last_error: Option<String>,
    /// When the entry is due: for pending and retrying entries the next attempt, for a leased
    /// one the end of its lease, for done and dead ones when they got there.
    pub next_attempt_at: SystemTime,
}

impl Entry {
    /// A header kept with the entry, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("namespace", &self.namespace)
            .field("vendor", &self.vendor)
            .field("key", &self.key)
            .field("signed_delivery_id", &self.signed_delivery_id)
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("next_attempt_at", &self.next_attempt_at)
            .finish()
    }
}

/// One leased entry: the entry and the token that proves the lease.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Lease {
    /// The entry (state [`EntryState::Leased`]; `attempts` counts this lease's attempt: 1 on
    /// the first lease).
    pub entry: Entry,
    /// Pass it to `ack`, `fail` or `release`.
    pub token: LeaseToken,
    /// When the lease ends and another worker may take the entry over.
    pub expires_at: SystemTime,
}

impl Lease {
    /// Build a lease (for backends).
    pub fn new(entry: Entry, token: LeaseToken, expires_at: SystemTime) -> Self {
        Lease {
            entry,
            token,
            expires_at,
        }
    }
}

/// What [`Inbox::put`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutOutcome {
    /// Stored: answer the sender 2xx.
    Accepted(EntryId),
    /// An entry with this key is already kept (in any state): answer 2xx, store nothing.
    Duplicate(EntryId),
}

impl PutOutcome {
    /// The id of the entry that holds the key.
    pub fn id(&self) -> &EntryId {
        match self {
            PutOutcome::Accepted(id) | PutOutcome::Duplicate(id) => id,
        }
    }

    /// Whether this put stored a new entry.
    pub fn is_accepted(&self) -> bool {
        matches!(self, PutOutcome::Accepted(_))
    }
}

/// What to do with an entry whose attempt failed: decided by the worker's retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AfterFailure {
    /// Due again at this time (state [`EntryState::Retrying`]).
    RetryAt(SystemTime),
    /// No more attempts (state [`EntryState::Dead`]).
    Dead,
}

/// Which entries [`Inbox::list`] returns. Built with [`ListFilter::state`] or
/// [`ListFilter::all`]; results are ordered by `received_at`, then id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only entries in this state (`None`: any).
    pub state: Option<EntryState>,
    /// Only entries of this namespace.
    pub namespace: Option<String>,
    /// At most this many entries (and never more than [`MAX_LIST`]).
    pub limit: usize,
}

/// Longest lease or retry delay a backend stores (ten years): longer ones are cut to it, which
/// keeps every stored time in range (a 13-digit millisecond count on Redis, a `timestamptz` on
/// Postgres) and a lease end from overflowing `SystemTime`.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A retry time `at` no later than [`MAX_DELAY`] after `now`, as every backend stores it.
pub(crate) fn capped_retry_at(at: SystemTime, now: SystemTime) -> SystemTime {
    now.checked_add(MAX_DELAY).map_or(at, |cap| at.min(cap))
}

/// Most entries one [`Inbox::list`] call returns on every backend, whatever the filter's limit
/// asks: a listing holds the bodies, so an unbounded one could read a whole inbox into memory.
pub const MAX_LIST: usize = 10_000;

impl ListFilter {
    /// Default page size.
    pub const DEFAULT_LIMIT: usize = 100;

    /// Entries in any state.
    pub fn all() -> Self {
        ListFilter {
            state: None,
            namespace: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// Entries in `state`.
    pub fn state(state: EntryState) -> Self {
        ListFilter {
            state: Some(state),
            ..ListFilter::all()
        }
    }

    /// Only entries of `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// At most `limit` entries (cut to [`MAX_LIST`]).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.min(MAX_LIST);
        self
    }
}

/// Which entries [`Inbox::replay`] sends back to pending. Only dead and done entries are
/// replayed; selected entries in other states are left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplaySelector {
    /// These entries.
    Ids(Vec<EntryId>),
    /// Every entry in `state` (dead or done) received in `[received_after, received_before)`:
    /// `received_after <= received_at < received_before`, on every backend. `received_at` is
    /// the time as the backend keeps it, which is what [`Inbox::get`] reports (nanoseconds in
    /// memory, SQLite and Redis, microseconds in Postgres); the bounds are compared at full
    /// precision.
    State {
        /// [`EntryState::Dead`] or [`EntryState::Done`].
        state: EntryState,
        /// Lower bound on `received_at`, inclusive.
        received_after: Option<SystemTime>,
        /// Upper bound on `received_at`, exclusive.
        received_before: Option<SystemTime>,
    },
}

impl ReplaySelector {
    /// Every dead entry.
    pub fn dead() -> Self {
        ReplaySelector::State {
            state: EntryState::Dead,
            received_after: None,
            received_before: None,
        }
    }

    /// One entry.
    pub fn id(id: EntryId) -> Self {
        ReplaySelector::Ids(vec![id])
    }
}

/// Counts per state and the age of the oldest pending work, as [`Inbox::stats`] returns them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxStats {
    /// Entries never attempted (or replayed).
    pub pending: u64,
    /// Entries held by a worker.
    pub leased: u64,
    /// Entries waiting for another attempt.
    pub retrying: u64,
    /// Dead letters.
    pub dead: u64,
    /// Handled entries not yet purged.
    pub done: u64,
    /// How long the oldest pending entry has waited since it was received (`None`: nothing
    /// pending).
    pub oldest_pending_age: Option<Duration>,
}

impl InboxStats {
    /// The count for `state`.
    pub fn count(&self, state: EntryState) -> u64 {
        match state {
            EntryState::Pending => self.pending,
            EntryState::Leased => self.leased,
            EntryState::Retrying => self.retrying,
            EntryState::Dead => self.dead,
            EntryState::Done => self.done,
        }
    }
}

/// A durable store of verified deliveries. See the [module docs](self) for what every
/// implementation guarantees; the shared behaviour suite in `tests/inbox/` checks it.
///
/// Errors are [`Error::StoreUnavailable`] (a receiver answers 503 with `Retry-After`): a
/// backend that cannot answer never reports a put as accepted.
pub trait Inbox: Send + Sync + 'static {
    /// Store `entry` unless an entry with its key is kept already.
    fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome>;

    /// Lease up to `max` due entries (pending, retrying past `next_attempt_at`, or leased past
    /// the lease's end) for `lease`, oldest due first. Each lease counts an attempt
    /// (`attempts + 1`), so an entry whose handler keeps taking the worker down cannot be
    /// leased forever: the worker dead-letters it once its attempts exceed the retry policy.
    fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>>;

    /// Mark the entry done if `token` still holds its lease. `false`: the lease was lost (it
    /// ended and the entry may be someone else's now); nothing changed.
    fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool>;

    /// [`ack`](Self::ack) each `(id, token)` of `leases`: one answer per lease, in order, each
    /// what `ack` would have answered had they run one after another (so a lease listed twice
    /// answers `true` once). A worker acknowledges the entries its handlers finished together
    /// through this; the SQLite, Postgres and Redis backends do it in one request (one
    /// transaction, one statement, one script call) instead of one per entry.
    ///
    /// The provided implementation calls `ack` for each lease in turn, so an implementation
    /// written before this method existed keeps working unchanged. On an error the call gives
    /// no answers: some of the leases may have been acknowledged and the others not (an entry
    /// not acknowledged is leased again once its lease ends, as after any lost ack).
    fn ack_many<'a>(&'a self, leases: &'a [(EntryId, LeaseToken)]) -> InboxFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(leases.len());
            for (id, token) in leases {
                out.push(self.ack(id, *token).await?);
            }
            Ok(out)
        })
    }

    /// Record the failure of the attempt `token` holds, if it still holds the lease:
    /// `last_error` kept (cut by [`truncate_error`]), then retry at the given time or dead.
    /// The attempt was counted when it was leased.
    fn fail<'a>(
        &'a self,
        id: &'a EntryId,
        token: LeaseToken,
        error: &'a str,
        then: AfterFailure,
    ) -> InboxFuture<'a, bool>;

    /// Give the lease back without using up an attempt (a worker shutting down): the attempt
    /// the lease counted is taken back (`attempts - 1`) and the entry is due again at once,
    /// `retrying` if it had failed before, else `pending`.
    fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool>;

    /// One entry by id.
    fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>>;

    /// Entries matching `filter`.
    fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>>;

    /// Counts per state and the oldest pending entry's age.
    fn stats(&self) -> InboxFuture<'_, InboxStats>;

    /// Send the selected dead or done entries back to pending; returns how many were
    /// replayed. Attempts start again from zero, so a replayed entry gets the whole retry
    /// schedule again (a dead entry had used it up); the last error is kept for the record.
    fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64>;

    /// Delete done and dead entries that reached that state more than `older_than` ago;
    /// returns how many were deleted. Their keys stop deduplicating, so keep `older_than` at
    /// least as long as the senders' retry horizon (72 h covers every vendor here).
    ///
    /// The cut-off is exclusive on every backend: an entry goes when the time it finished is
    /// strictly before `now - older_than`, so one that finished exactly `older_than` ago stays.
    /// Both times are on the backend's clock (the system clock or an injected one for memory
    /// and SQLite, the server's for Postgres and Redis), at the precision it keeps them:
    /// nanoseconds in memory, microseconds in Postgres, milliseconds in SQLite and Redis (the
    /// time an entry finished; SQLite keeps receive times in nanoseconds).
    fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64>;
}

/// `Error` is not `Clone`: a batch (one statement, one script call) that failed as a whole
/// answers each of its callers with a copy of its error. A `StoreUnavailable` is copied as it
/// is; anything else becomes `StoreUnavailable` ("`context`: error", `retry_after`), since
/// the callers' own operations did not get an answer.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn copy_unavailable(err: &Error, context: &str, retry_after: Duration) -> Error {
    match err {
        Error::StoreUnavailable {
            reason,
            retry_after: theirs,
        } => Error::StoreUnavailable {
            reason: reason.clone(),
            retry_after: *theirs,
        },
        other => Error::StoreUnavailable {
            reason: format!("{context}: {other}"),
            retry_after,
        },
    }
}

macro_rules! forward_inbox {
    ($($ty:ty),*) => {$(
        impl<I: Inbox + ?Sized> Inbox for $ty {
            fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
                (**self).put(entry)
            }
            fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
                (**self).lease(max, lease)
            }
            fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
                (**self).ack(id, token)
            }
            fn ack_many<'a>(
                &'a self,
                leases: &'a [(EntryId, LeaseToken)],
            ) -> InboxFuture<'a, Vec<bool>> {
                (**self).ack_many(leases)
            }
            fn fail<'a>(
                &'a self,
                id: &'a EntryId,
                token: LeaseToken,
                error: &'a str,
                then: AfterFailure,
            ) -> InboxFuture<'a, bool> {
                (**self).fail(id, token, error, then)
            }
            fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
                (**self).release(id, token)
            }
            fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
                (**self).get(id)
            }
            fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
                (**self).list(filter)
            }
            fn stats(&self) -> InboxFuture<'_, InboxStats> {
                (**self).stats()
            }
            fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
                (**self).replay(selector)
            }
            fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
                (**self).purge(older_than)
            }
        }
    )*};
}

forward_inbox!(Arc<I>, Box<I>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_error_cuts_at_a_char_boundary() {
        assert_eq!(truncate_error("short"), "short");
        let long = "é".repeat(MAX_ERROR_LEN); // 2 bytes each
        let cut = truncate_error(&long);
        assert!(cut.len() <= MAX_ERROR_LEN && cut.len() >= MAX_ERROR_LEN - 1);
        assert!(long.starts_with(cut));
    }

    #[cfg(any(feature = "redis", feature = "postgres"))]
    #[test]
    fn copies_keep_store_errors_and_wrap_the_others() {
        let down = Error::StoreUnavailable {
            reason: "connection refused".into(),
            retry_after: Duration::from_secs(7),
        };
        match copy_unavailable(&down, "redis inbox", Duration::from_secs(1)) {
            Error::StoreUnavailable {
                reason,
                retry_after,
            } => {
                assert_eq!(reason, "connection refused");
                assert_eq!(retry_after, Duration::from_secs(7));
            }
            other => panic!("{other:?}"),
        }
        let config = Error::Config("bad headers".into());
        match copy_unavailable(&config, "postgres inbox", Duration::from_secs(3)) {
            Error::StoreUnavailable {
                reason,
                retry_after,
            } => {
                assert!(reason.starts_with("postgres inbox: "), "{reason}");
                assert!(reason.contains("bad headers"), "{reason}");
                assert_eq!(retry_after, Duration::from_secs(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in EntryState::ALL {
            assert_eq!(EntryState::parse(s.as_str()), Some(s));
        }
        assert_eq!(EntryState::parse("nope"), None);
    }
}
