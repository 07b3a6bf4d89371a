//! The **dedupe** stage: processed-once handling of at-least-once deliveries.
//!
//! Every vendor retries (Sam for up to 24 hours, Standard Webhooks senders for about three
//! days), so the same delivery can arrive twice, even at the same time on two replicas. This
//! module turns that into "the handler runs once, and is never lost":
//!
//! 1. [`Dedupe::claim`] asks the [`IdempotencyStore`] for the delivery's [`IdempotencyKey`]:
//!    - the first caller gets a [`Claim`] (a lease, 30 s by default) and runs the handler;
//!    - a duplicate of a completed delivery gets `Ok(None)`: answer 200 without running it;
//!    - a duplicate of a delivery still being processed gets [`Error::InFlight`] (409 with
//!      `Retry-After`), so the sender comes back later instead of the event being dropped;
//!    - a store that cannot answer gets [`Error::StoreUnavailable`] (503 with `Retry-After`).
//!      Nothing is ever accepted silently.
//! 2. When the handler succeeds, [`Claim::complete`] marks the key done for the dedupe window
//!    (72 h by default, longer than every vendor's retry horizon).
//! 3. When it fails, [`Claim::release`] frees the key so the sender's retry is processed. A
//!    claim dropped without either (a panic, a cancelled future) is released too; see
//!    [`Claim`] for exactly how.
//!
//! Every claim carries a fresh random [`ClaimToken`]. `complete` and `release` only act while
//! that token still holds the key, so a worker whose lease ran out (and whose key another worker
//! has claimed since) can never complete or free someone else's claim. An expired lease (a
//! crashed worker) simply lets the next delivery claim the key.
//!
//! ```
//! use chathooks::idempotency::{Dedupe, IdempotencyKey, MemoryStore};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! # block_on(async {
//! let dedupe = Dedupe::new(MemoryStore::default());
//! let key = IdempotencyKey::new("sam", "msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")?;
//!
//! match dedupe.claim(&key).await? {
//!     Some(claim) => {
//!         // run the handler; on success:
//!         claim.complete().await?;
//!         // (on failure: `claim.release().await?`, or just drop it)
//!     }
//!     None => { /* already processed: answer 200 without running the handler */ }
//! }
//! // A retry of the same delivery is recognised:
//! assert!(dedupe.claim(&key).await?.is_none());
//! # Ok::<(), chathooks::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Which store
//!
//! - [`MemoryStore`] (default, no extra dependency, no async runtime needed): per process. Fine
//!   for one replica; with several replicas a retry can reach another process.
//! - `RedisStore` (feature `redis`): shared by all replicas, one round trip per call.
//! - `PostgresStore` (feature `postgres`): shared by all replicas through the database they
//!   already run, one statement per call (see `chathooks::postgres`).
//!
//! ## Why boxed futures
//!
//! [`IdempotencyStore`] returns [`StoreFuture`] (a pinned, boxed, `Send` future) rather than
//! using `async fn` in the trait: receivers hold an `Arc<dyn IdempotencyStore>` chosen at run
//! time, and `async fn` in traits is not object-safe. Boxing by hand is exactly what the
//! `async-trait` crate would generate, without a proc-macro dependency and with the future type
//! visible in the docs. The cost is one small allocation per call, measured in
//! `benches/idempotency.rs` (the memory store also offers synchronous methods that skip it).

mod claim;
mod key;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;

pub use self::claim::{Claim, Dedupe};
pub(crate) use self::key::check_namespace;
pub use self::key::{IdSource, IdempotencyKey};
pub use self::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;

/// Default lease of a claim: how long a key stays "in flight" when its worker neither completes
/// nor releases it (a crash). Long enough for a typical handler, short enough that a crashed
/// worker's delivery is retried soon after the sender's next attempt.
///
/// The lease is not renewed while the handler runs: a handler that takes longer than the lease
/// can overlap with a retry of the same delivery (the late completion is then refused and
/// logged). Set a lease longer than your slowest handler plus the sender's request timeout
/// (`Dedupe::with_lease`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Default dedupe window: how long a completed key is remembered. 72 hours covers Standard
/// Webhooks' retry schedule (about 75.5 h counting from the first attempt is the longest
/// documented; most senders stop after 24 h to 3 days).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// The future every [`IdempotencyStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// What a claim attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// The key was free (never seen, released, or its lease or window ended): the caller now
    /// holds it until the lease ends and must [`complete`](IdempotencyStore::complete) or
    /// [`release`](IdempotencyStore::release) it with this token.
    Claimed(ClaimToken),
    /// The key was completed within the dedupe window: a duplicate, do not run the handler.
    AlreadyDone,
    /// Another worker holds the key right now.
    InFlight {
        /// Time left on the current holder's lease.
        retry_after: Duration,
    },
}

/// A storage backend for claims. Implementations must make `claim` atomic: of any number of
/// concurrent claims of one free key, exactly one returns [`ClaimOutcome::Claimed`].
///
/// Errors are [`Error::StoreUnavailable`] (answer 503): a store that cannot answer must never
/// report a key as free or as done.
///
/// The trait is object-safe; receivers hold an `Arc<dyn IdempotencyStore>`. (`Any` lets
/// [`Dedupe`] recognise the in-memory store and call it without boxing a future per call.)
pub trait IdempotencyStore: std::any::Any + Send + Sync + 'static {
    /// Claim `key` for `lease`, unless it is done or held by someone else.
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome>;

    /// Mark `key` done for `window` if `token` still holds it. Returns `false` (and changes
    /// nothing) when the token no longer holds the key: its lease ended, and the key may have
    /// been claimed by another worker since.
    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: ClaimToken,
        window: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Free `key` if `token` still holds it, so the next delivery claims it. Returns `false`
    /// (and changes nothing) when the token no longer holds the key.
    fn release<'a>(&'a self, key: &'a IdempotencyKey, token: ClaimToken) -> StoreFuture<'a, bool>;

    /// Release `key` without waiting for the answer; called by [`Claim`]'s `Drop`, which cannot
    /// await.
    ///
    /// The default implementation spawns [`release`](Self::release) on the current Tokio
    /// runtime when there is one (and this crate was built with a feature that brings Tokio:
    /// `redis`, `axum`, `actix` or `sender`). Otherwise it does nothing and the key frees itself
    /// when its lease ends. Stores that can release synchronously (like [`MemoryStore`])
    /// override it to release immediately.
    fn release_in_background(self: Arc<Self>, key: IdempotencyKey, token: ClaimToken) {
        spawn_release(self, key, token);
    }
}

#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "axum",
    feature = "actix",
    feature = "sender"
))]
fn spawn_release<S: IdempotencyStore + ?Sized>(
    store: Arc<S>,
    key: IdempotencyKey,
    token: ClaimToken,
) {
    // Spawning (rather than polling the future once here) keeps store futures that need the
    // runtime's reactor or timers from ever being polled outside it.
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            if let Err(err) = store.release(&key, token).await {
                tracing::warn!(key = key.as_str(), error = %err,
                    "release of a dropped claim failed; the key frees itself when its lease ends");
            }
        });
    } else {
        tracing::debug!(
            key = key.as_str(),
            "claim dropped outside a Tokio runtime; the key frees itself when its lease ends"
        );
    }
}

#[cfg(not(any(
    feature = "redis",
    feature = "postgres",
    feature = "axum",
    feature = "actix",
    feature = "sender"
)))]
fn spawn_release<S: IdempotencyStore + ?Sized>(
    _store: Arc<S>,
    key: IdempotencyKey,
    _token: ClaimToken,
) {
    tracing::debug!(
        key = key.as_str(),
        "claim dropped and this store cannot release synchronously; the key frees itself when its lease ends"
    );
}

impl<S: IdempotencyStore + ?Sized> IdempotencyStore for Arc<S> {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        (**self).claim(key, lease)
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: ClaimToken,
        window: Duration,
    ) -> StoreFuture<'a, bool> {
        (**self).complete(key, token, window)
    }

    fn release<'a>(&'a self, key: &'a IdempotencyKey, token: ClaimToken) -> StoreFuture<'a, bool> {
        (**self).release(key, token)
    }

    fn release_in_background(self: Arc<Self>, key: IdempotencyKey, token: ClaimToken) {
        Arc::clone(&*self).release_in_background(key, token);
    }
}

/// The proof of one claim: 128 random bits, fresh for every claim.
///
/// `complete` and `release` only act while the stored token equals this one, so a stale worker
/// cannot touch a key someone else claimed after its lease ended. Tokens are unguessable (see
/// [`ClaimToken::generate`]) so another process sharing the store cannot forge one either.
///
/// `Debug` shows only the first 8 hex digits (enough to correlate log lines).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken([u64; 2]);

impl ClaimToken {
    /// A fresh token.
    ///
    /// Built without an extra dependency from the standard library's `RandomState`, whose
    /// SipHash keys are 128 bits from the operating system's random source (drawn per thread).
    /// Each thread keeps two such keyed hashers and a counter; a token is the two SipHash-1-3
    /// outputs of the next counter value. SipHash is a pseudo-random function, so tokens are
    /// unpredictable without the keys, and distinct counter values (and independent keys in
    /// other threads and processes) make a repeat a 2^-128 event. Tokens guard against stale
    /// workers and mistakes, not against an attacker who can already write to the store, so a
    /// CSPRNG crate would add a dependency without adding safety. Thread-local state keeps
    /// token generation free of shared atomics (it is on the hot path of every claim).
    pub fn generate() -> Self {
        thread_local! {
            static GENERATOR: (RandomState, RandomState, Cell<u64>) =
                (RandomState::new(), RandomState::new(), const { Cell::new(0) });
        }
        GENERATOR.with(|(a, b, counter)| {
            let n = counter.get();
            counter.set(n.wrapping_add(1));
            let mut ha = a.build_hasher();
            ha.write_u64(n);
            let mut hb = b.build_hasher();
            hb.write_u64(n);
            // The low bit is forced on so that no token is all zeros, which the memory store
            // uses as its "done" marker.
            ClaimToken([ha.finish(), hb.finish() | 1])
        })
    }

    /// The token as 32 lowercase hex digits (what the Redis store writes).
    pub fn to_hex(&self) -> String {
        format!("{:016x}{:016x}", self.0[0], self.0[1])
    }

    /// The token written by [`to_hex`](Self::to_hex), read back (for stores that keep tokens as
    /// text). `None` unless `hex` is exactly 32 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let hi = u64::from_str_radix(&hex[..16], 16).ok()?;
        let lo = u64::from_str_radix(&hex[16..], 16).ok()?;
        Some(ClaimToken([hi, lo]))
    }

    pub(crate) fn words(self) -> [u64; 2] {
        self.0
    }
}

impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimToken({:08x}…)", self.0[0] >> 32)
    }
}

/// Milliseconds for a store, rounded up so that a sub-millisecond lease is not zero.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    let ms = d.as_millis();
    let ms = if Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)) < d {
        ms.saturating_add(1)
    } else {
        ms
    };
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_hex() {
        let t = ClaimToken::generate();
        assert_eq!(ClaimToken::from_hex(&t.to_hex()), Some(t));
        assert_eq!(ClaimToken::from_hex("abc"), None);
        assert_eq!(ClaimToken::from_hex(&"g".repeat(32)), None);
        assert_eq!(ClaimToken::from_hex(&"+".repeat(32)), None);
    }

    #[test]
    fn tokens_are_distinct_and_never_zero() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let t = ClaimToken::generate();
            assert_ne!(t.words(), [0, 0]);
            assert!(seen.insert(t), "duplicate token");
        }
        let hex = ClaimToken::generate().to_hex();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn debug_shows_a_prefix_only() {
        let t = ClaimToken::generate();
        let dbg = format!("{t:?}");
        assert!(dbg.len() < 24, "{dbg}");
        assert!(t
            .to_hex()
            .starts_with(&dbg["ClaimToken(".len().."ClaimToken(".len() + 8]));
    }

    #[test]
    fn ceil_millis_rounds_up_and_is_never_zero() {
        assert_eq!(ceil_millis(Duration::ZERO), 1);
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ceil_millis(Duration::from_millis(30_000)), 30_000);
        assert_eq!(ceil_millis(Duration::MAX), u64::MAX);
    }
}
