//! [`Dedupe`] (a store plus its lease and window) and the [`Claim`] guard it hands out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{
    ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore, MemoryStore, DEFAULT_LEASE,
    DEFAULT_WINDOW,
};
use crate::Error;

/// Longest lease [`Dedupe::with_lease`] accepts.
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// Longest window [`Dedupe::with_window`] accepts.
const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);

/// A store with the lease and dedupe window to use: the dedupe stage of a receiver.
///
/// Cheap to clone (the store is shared).
#[derive(Clone)]
pub struct Dedupe {
    store: Arc<dyn IdempotencyStore>,
    lease: Duration,
    window: Duration,
}

impl Dedupe {
    /// Dedupe with `store`, the default lease ([`DEFAULT_LEASE`], 30 s) and window
    /// ([`DEFAULT_WINDOW`], 72 h).
    pub fn new(store: impl IdempotencyStore) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// Dedupe with a store that is already shared.
    pub fn from_arc(store: Arc<dyn IdempotencyStore>) -> Self {
        Dedupe {
            store,
            lease: DEFAULT_LEASE,
            window: DEFAULT_WINDOW,
        }
    }

    /// How long a claim holds its key when its worker neither completes nor releases it (a
    /// crash). Make it longer than your slowest handler: a handler still running when its lease
    /// ends can be started a second time by a retry. Zero is treated as 1 ms; more than a day
    /// is clamped to a day (so `Duration::MAX` cannot overflow a store's clock).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.min(MAX_LEASE);
        self
    }

    /// How long a completed key is remembered. Make it longer than the sender's retry horizon
    /// (Sam: 24 h; Standard Webhooks: about 3 days). Zero is treated as 1 ms; more than a year
    /// is clamped to a year.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window.min(MAX_WINDOW);
        self
    }

    /// The lease in use.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The dedupe window in use.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The shared store.
    pub fn store(&self) -> &Arc<dyn IdempotencyStore> {
        &self.store
    }

    /// Claim `key` before running the handler.
    ///
    /// - `Ok(Some(claim))`: run the handler, then [`Claim::complete`] (or release on failure).
    /// - `Ok(None)`: a duplicate of a completed delivery. Answer 200 without running it.
    ///
    /// # Errors
    /// - [`Error::InFlight`] (409): another worker holds the key; `retry_after` is the time left
    ///   on its lease, rounded up to whole seconds (at least 1 s) for `Retry-After`.
    /// - [`Error::StoreUnavailable`] (503): the store could not answer.
    pub async fn claim(&self, key: &IdempotencyKey) -> Result<Option<Claim>, Error> {
        let outcome = match as_memory(&*self.store) {
            Some(memory) => memory.claim_now(key, self.lease)?,
            None => self.store.claim(key, self.lease).await?,
        };
        match outcome {
            ClaimOutcome::Claimed(token) => Ok(Some(Claim {
                held: Some(Held {
                    store: Arc::clone(&self.store),
                    key: key.clone(),
                    token,
                    window: self.window,
                }),
            })),
            ClaimOutcome::AlreadyDone => Ok(None),
            ClaimOutcome::InFlight { retry_after } => Err(Error::InFlight {
                retry_after: whole_seconds(retry_after),
            }),
        }
    }
}

/// The in-memory store answers synchronously: calling it directly saves the boxed future (an
/// allocation and a virtual call) of each claim and completion on the request path.
fn as_memory(store: &dyn IdempotencyStore) -> Option<&MemoryStore> {
    (store as &dyn std::any::Any).downcast_ref::<MemoryStore>()
}

fn whole_seconds(d: Duration) -> Duration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

impl fmt::Debug for Dedupe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedupe")
            .field("lease", &self.lease)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// A held claim on one key: the guard that makes sure the key is completed or freed.
///
/// - [`complete`](Self::complete) after the handler succeeded: the key is done for the window.
/// - [`release`](Self::release) after it failed: the sender's retry will be processed.
/// - Dropped without either **while a panic unwinds** (a panicking handler whose frame owns the
///   claim): released at once by [`IdempotencyStore::release_in_background`], because `Drop`
///   cannot await ([`MemoryStore`](super::MemoryStore) releases synchronously; the Redis store
///   spawns the release on the current Tokio runtime, a round trip later). The framework
///   adapters also release at once when the handler's future panics.
/// - Dropped without either **otherwise** — the future holding the claim was cancelled (the
///   client disconnected and the framework dropped the request future) or the claim was
///   forgotten — the key is **kept until its lease ends**, then frees itself. The sender's
///   retry meanwhile gets 409 with `Retry-After` and succeeds after the lease.
///
/// Why not release on cancellation: whoever holds a captured, not yet completed delivery could
/// otherwise start the handler again and again by sending it and disconnecting, each time
/// freeing the key for the next copy (issue 13). A cancelled handler may also still have side
/// effects in flight; holding the key for the lease keeps a second run from overlapping them.
/// A handler that fails should answer an error (the adapters then release) or call
/// [`release`](Self::release) itself.
///
/// In async code a panic usually surfaces as the future being dropped *after* the runtime
/// caught it, which looks like a cancellation: catch panics where you handle deliveries (the
/// adapters do; with your own framework use its panic-catching middleware) if you want them
/// released at once. Releases are token-guarded, so they can never free a later claim. If
/// `complete` or `release` returns an error, the key frees itself when the lease ends.
#[must_use = "a claim dropped without complete/release holds its key until the lease ends; complete it after the handler succeeds"]
pub struct Claim {
    held: Option<Held>,
}

struct Held {
    store: Arc<dyn IdempotencyStore>,
    key: IdempotencyKey,
    token: ClaimToken,
    window: Duration,
}

impl Claim {
    /// The claimed key.
    pub fn key(&self) -> &IdempotencyKey {
        // `held` is only taken by `complete`, `release` and `drop`, which consume the guard.
        match &self.held {
            Some(h) => &h.key,
            None => unreachable!("a Claim is settled only when consumed"),
        }
    }

    /// This claim's token.
    pub fn token(&self) -> ClaimToken {
        match &self.held {
            Some(h) => h.token,
            None => unreachable!("a Claim is settled only when consumed"),
        }
    }

    /// Mark the key done for the dedupe window: later deliveries of it are duplicates.
    ///
    /// Returns `Ok(false)` when the lease had already ended before completion (the handler ran
    /// longer than the lease): the key was not marked, and another worker may have claimed it
    /// and be running the handler again. Log it and consider a longer lease.
    pub async fn complete(mut self) -> Result<bool, Error> {
        let Some(h) = &self.held else {
            return Ok(false);
        };
        let done = match as_memory(&*h.store) {
            Some(memory) => memory.complete_now(&h.key, h.token, h.window)?,
            None => h.store.complete(&h.key, h.token, h.window).await?,
        };
        self.held = None;
        Ok(done)
    }

    /// Free the key now so the sender's next retry is processed.
    ///
    /// Returns `Ok(false)` when the lease had already ended (nothing to free).
    pub async fn release(mut self) -> Result<bool, Error> {
        let Some(h) = &self.held else {
            return Ok(false);
        };
        let freed = match as_memory(&*h.store) {
            Some(memory) => memory.release_now(&h.key, h.token)?,
            None => h.store.release(&h.key, h.token).await?,
        };
        self.held = None;
        Ok(freed)
    }
}

// Only the framework adapters release a claim they cannot await.
#[cfg(any(feature = "axum", feature = "actix", feature = "tower"))]
impl Claim {
    /// Release without waiting (for the adapters' panic path and replaced claims).
    pub(crate) fn release_detached(mut self) {
        if let Some(h) = self.held.take() {
            h.store.release_in_background(h.key, h.token);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(h) = self.held.take() {
            // Only a panic frees the key at once; a cancelled or forgotten claim keeps it until
            // the lease ends (see the type's docs for why).
            if std::thread::panicking() {
                h.store.release_in_background(h.key, h.token);
            }
        }
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Claim");
        if let Some(h) = &self.held {
            d.field("key", &h.key).field("token", &h.token);
        }
        d.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            whole_seconds(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
        assert_eq!(
            whole_seconds(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
    }
}
