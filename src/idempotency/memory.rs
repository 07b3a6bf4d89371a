//! [`MemoryStore`]: the default, in-process idempotency store.
//!
//! ## Layout and memory per key
//!
//! The store never keeps key strings. Each key is reduced to a 128-bit fingerprint (two outputs
//! of SipHash keyed at random per store, so nobody outside the process can construct two ids
//! with the same fingerprint; an accidental collision among a million keys has a probability
//! around 10^-27). An entry is that fingerprint (16 bytes), the claim token or the
//! "done" marker (16 bytes) and a deadline in milliseconds (8 bytes): 40 bytes plus one control
//! byte in the standard library's `HashMap`, with no heap allocation per key. Tables grow by
//! doubling, so a table is 44 % to 88 % full and the cost per key is about 47 to 94 bytes.
//! Measured: 1 million completed keys take **86.0 MB** of heap, 86 bytes per key (the
//! `benches/idempotency.rs` preamble counts live bytes with a counting allocator).
//!
//! ## Bounds
//!
//! - **Keys:** at most `max_keys` (default [`DEFAULT_MAX_KEYS`], one million), split evenly over
//!   the shards. When a shard is full, a claim of a new key first drops the shard's expired
//!   entries; if the shard is still above 7/8 full it evicts the completed entries that expire
//!   soonest (a late duplicate of an evicted key would run again; size `max_keys` for your
//!   traffic times the dedupe window). **In-flight claims are never evicted.** A shard full of
//!   live in-flight claims answers [`Error::StoreUnavailable`] (503) until leases end, and
//!   rescans at most every 100 ms, so a flood cannot turn every claim into a full scan.
//! - **Time:** expired entries are treated as absent as soon as their deadline passes, and are
//!   reclaimed when their key is claimed again or their shard fills up.
//!   [`MemoryStore::purge_expired`] reclaims them eagerly.
//!
//! ## Concurrency
//!
//! Shards are `std::sync::Mutex`es over the fingerprint's low bits; each operation locks one
//! shard for a hash-map lookup, without await points and without Tokio. Futures returned by the
//! [`IdempotencyStore`] methods are already complete when created.

use std::collections::hash_map::{Entry as MapEntry, HashMap, RandomState};
use std::fmt;
use std::future::ready;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::{ceil_millis, ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore, StoreFuture};
use crate::Error;

/// Default bound on the number of keys (about 86 MB when full, see the module docs).
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

const DONE: [u64; 2] = [0, 0];
const RESCAN_BACKOFF_MS: u64 = 100;

/// 128-bit fingerprint of a key; its first word is already a uniform hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint(u64, u64);

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Passes the fingerprint's first word through instead of hashing it a second time.
/// A hasher that passes on a hash already computed (keyed SipHash, so still HashDoS-resistant):
/// tables growing by doubling move the stored hashes instead of re-reading and re-hashing keys.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `Fingerprint`; fold anything else so the hasher is total.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Clone, Copy)]
struct Slot {
    /// The holder's token, or [`DONE`].
    token: [u64; 2],
    /// Milliseconds since the store's epoch after which the slot is free.
    deadline: u64,
}

struct Shard {
    map: HashMap<Fingerprint, Slot, BuildHasherDefault<PassThrough>>,
    /// No full scan before this time (ms since epoch): the last one freed too little.
    rescan_at: u64,
}

/// The default idempotency store: in process memory, sharded, bounded by key count and TTL.
///
/// Per process only: with several replicas behind a load balancer a retry can reach another
/// process; use the Redis store there. See the [module docs](self) for memory use and bounds.
///
/// Besides the async [`IdempotencyStore`] methods it offers the same operations synchronously
/// ([`claim_now`](Self::claim_now), [`complete_now`](Self::complete_now),
/// [`release_now`](Self::release_now)) for code without an async runtime.
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    shard_mask: u64,
    per_shard: usize,
    max_keys: usize,
    hasher: RandomState,
    epoch: Instant,
    /// An injected clock ([`MemoryStore::with_clock`]) and its reading when it was injected;
    /// `None` reads the monotonic clock.
    clock: Option<(Clock, SystemTime)>,
}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_KEYS)
    }
}

impl MemoryStore {
    /// A store bounded to about `max_keys` keys (at least one per shard), with one shard per
    /// 8192 keys, between 1 and 64 shards (a power of two).
    pub fn new(max_keys: usize) -> Self {
        let wanted = (max_keys / 8192).clamp(1, 64);
        Self::with_shards(max_keys, wanted)
    }

    /// A store with an explicit shard count (rounded up to a power of two, at most 1024). More
    /// shards mean less lock contention between threads; each holds `max_keys / shards` keys.
    pub fn with_shards(max_keys: usize, shards: usize) -> Self {
        let shards = shards.clamp(1, 1024).next_power_of_two();
        // `max_keys` is configuration: `usize::MAX` must not overflow `per_shard * shards`.
        let per_shard = max_keys.div_ceil(shards).clamp(1, usize::MAX / shards);
        let shards_vec: Vec<Mutex<Shard>> = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::default(),
                    rescan_at: 0,
                })
            })
            .collect();
        MemoryStore {
            shards: shards_vec.into_boxed_slice(),
            shard_mask: (shards as u64) - 1,
            per_shard,
            max_keys: per_shard * shards,
            hasher: RandomState::new(),
            epoch: Instant::now(),
            clock: None,
        }
    }

    /// Read the time from `clock` instead of the monotonic clock (tests that move time:
    /// leases and the dedupe window then end when `clock` says so, without sleeping). A clock
    /// that goes backwards reads as the time it was injected. Call it before the store is
    /// used: entries already held keep deadlines from the old clock.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        let start = clock();
        self.clock = Some((Arc::new(clock), start));
        self
    }

    /// The bound on the number of keys (rounded up to a multiple of the shard count).
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Number of entries held, including expired ones not yet reclaimed.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// `true` when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every expired entry now (they are otherwise reclaimed lazily). Locks one shard at a
    /// time. Returns how many entries were dropped.
    pub fn purge_expired(&self) -> usize {
        let now = self.now_ms();
        self.shards
            .iter()
            .map(|s| {
                let mut shard = lock(s);
                let before = shard.map.len();
                shard.map.retain(|_, slot| slot.deadline > now);
                before - shard.map.len()
            })
            .sum()
    }

    /// [`IdempotencyStore::claim`], synchronously.
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] when the key's shard is full of in-flight claims.
    pub fn claim_now(&self, key: &IdempotencyKey, lease: Duration) -> Result<ClaimOutcome, Error> {
        let fp = self.fingerprint(key);
        let now = self.now_ms();
        let deadline = now.saturating_add(ceil_millis(lease));
        let mut shard = self.shard(fp);
        let full = shard.map.len() >= self.per_shard;
        match shard.map.entry(fp) {
            MapEntry::Occupied(mut e) => {
                let slot = e.get_mut();
                if slot.deadline > now {
                    return Ok(if slot.token == DONE {
                        ClaimOutcome::AlreadyDone
                    } else {
                        ClaimOutcome::InFlight {
                            retry_after: Duration::from_millis(slot.deadline - now),
                        }
                    });
                }
                let token = ClaimToken::generate();
                *slot = Slot {
                    token: token.words(),
                    deadline,
                };
                Ok(ClaimOutcome::Claimed(token))
            }
            MapEntry::Vacant(_) if full => {
                self.make_room(&mut shard, now)?;
                let token = ClaimToken::generate();
                shard.map.insert(
                    fp,
                    Slot {
                        token: token.words(),
                        deadline,
                    },
                );
                Ok(ClaimOutcome::Claimed(token))
            }
            MapEntry::Vacant(e) => {
                let token = ClaimToken::generate();
                e.insert(Slot {
                    token: token.words(),
                    deadline,
                });
                Ok(ClaimOutcome::Claimed(token))
            }
        }
    }

    /// [`IdempotencyStore::complete`], synchronously. Never fails; the `Result` mirrors the
    /// trait.
    pub fn complete_now(
        &self,
        key: &IdempotencyKey,
        token: ClaimToken,
        window: Duration,
    ) -> Result<bool, Error> {
        let fp = self.fingerprint(key);
        let now = self.now_ms();
        let mut shard = self.shard(fp);
        Ok(match shard.map.get_mut(&fp) {
            Some(slot) if slot.token == token.words() && slot.deadline > now => {
                *slot = Slot {
                    token: DONE,
                    deadline: now.saturating_add(ceil_millis(window)),
                };
                true
            }
            _ => false,
        })
    }

    /// [`IdempotencyStore::release`], synchronously. Never fails; the `Result` mirrors the
    /// trait.
    pub fn release_now(&self, key: &IdempotencyKey, token: ClaimToken) -> Result<bool, Error> {
        let fp = self.fingerprint(key);
        let now = self.now_ms();
        let mut shard = self.shard(fp);
        Ok(match shard.map.get(&fp) {
            Some(slot) if slot.token == token.words() && slot.deadline > now => {
                shard.map.remove(&fp);
                true
            }
            _ => false,
        })
    }

    /// Free space in a full shard without ever dropping a live in-flight claim.
    fn make_room(&self, shard: &mut Shard, now: u64) -> Result<(), Error> {
        if now < shard.rescan_at {
            return Err(full_error());
        }
        shard.map.retain(|_, slot| slot.deadline > now);
        let low_water = self.per_shard - self.per_shard / 8;
        if shard.map.len() > low_water {
            // Evict the completed entries that would expire first, down to the low-water mark.
            let excess = shard.map.len() - low_water;
            let mut done: Vec<u64> = shard
                .map
                .values()
                .filter(|s| s.token == DONE)
                .map(|s| s.deadline)
                .collect();
            if done.len() > excess {
                // Exactly `excess` go: all below the cut, and as many as needed at the cut
                // (many entries completed in the same millisecond share a deadline).
                let cut = *done.select_nth_unstable(excess - 1).1;
                let below = done.iter().filter(|&&d| d < cut).count();
                let mut at_cut = excess - below;
                shard.map.retain(|_, slot| {
                    if slot.token != DONE || slot.deadline > cut {
                        true
                    } else if slot.deadline < cut {
                        false
                    } else if at_cut > 0 {
                        at_cut -= 1;
                        false
                    } else {
                        true
                    }
                });
            } else {
                shard.map.retain(|_, slot| slot.token != DONE);
            }
        }
        let len = shard.map.len();
        if len > low_water {
            // Mostly live in-flight claims: do not rescan on every claim while that lasts.
            shard.rescan_at = now.saturating_add(RESCAN_BACKOFF_MS);
        }
        if len >= self.per_shard {
            return Err(full_error());
        }
        Ok(())
    }

    fn fingerprint(&self, key: &IdempotencyKey) -> Fingerprint {
        // One keyed SipHash pass over the key, finished twice: the second output absorbs one
        // more word, so it costs a block instead of a second pass over the key.
        let mut h = self.hasher.build_hasher();
        h.write(key.as_str().as_bytes());
        let first = h.finish();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        Fingerprint(first, h.finish())
    }

    fn shard(&self, fp: Fingerprint) -> MutexGuard<'_, Shard> {
        // The mask keeps the index below the shard count, a power of two.
        let index = usize::try_from(fp.1 & self.shard_mask).unwrap_or(0);
        lock(&self.shards[index])
    }

    fn now_ms(&self) -> u64 {
        let elapsed = match &self.clock {
            None => self.epoch.elapsed(),
            Some((clock, start)) => clock().duration_since(*start).unwrap_or_default(),
        };
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}

fn full_error() -> Error {
    Error::StoreUnavailable {
        reason: "in-memory idempotency store is full of in-flight claims".into(),
        retry_after: Duration::from_secs(1),
    }
}

/// Lock a shard. Critical sections never panic, so a poisoned lock only means another thread
/// panicked elsewhere while holding it; the map is consistent and usable.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for MemoryStore {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(ready(self.claim_now(key, lease)))
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: ClaimToken,
        window: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(ready(self.complete_now(key, token, window)))
    }

    fn release<'a>(&'a self, key: &'a IdempotencyKey, token: ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(ready(self.release_now(key, token)))
    }

    /// Releases synchronously, inside `Drop`, with or without an async runtime.
    fn release_in_background(self: Arc<Self>, key: IdempotencyKey, token: ClaimToken) {
        // Cannot fail (the Result only mirrors the trait).
        let _ = self.release_now(&key, token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> IdempotencyKey {
        IdempotencyKey::new("t", &format!("k{i}")).unwrap()
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn full_shard_evicts_done_entries_but_never_in_flight_claims() {
        let store = MemoryStore::with_shards(64, 1);
        // 32 live in-flight claims, then 32 completed keys: full.
        let mut held = Vec::new();
        for i in 0..32 {
            let ClaimOutcome::Claimed(t) = store.claim_now(&key(i), LONG).unwrap() else {
                panic!("fresh key not claimed")
            };
            held.push(t);
        }
        for i in 32..64 {
            let ClaimOutcome::Claimed(t) = store.claim_now(&key(i), LONG).unwrap() else {
                panic!("fresh key not claimed")
            };
            assert!(store.complete_now(&key(i), t, LONG).unwrap());
        }
        assert_eq!(store.len(), 64);
        // One more key forces eviction down to 7/8 (56): 9 completed entries go.
        assert!(matches!(
            store.claim_now(&key(1000), LONG).unwrap(),
            ClaimOutcome::Claimed(_)
        ));
        assert_eq!(store.len(), 57);
        for (i, t) in held.iter().enumerate() {
            assert!(
                matches!(
                    store.claim_now(&key(i), LONG).unwrap(),
                    ClaimOutcome::InFlight { .. }
                ),
                "in-flight claim {i} was evicted"
            );
            // And its holder can still complete it.
            assert!(store.complete_now(&key(i), *t, LONG).unwrap());
        }
    }

    #[test]
    fn shard_full_of_in_flight_claims_refuses_with_503() {
        let store = MemoryStore::with_shards(8, 1);
        for i in 0..8 {
            assert!(matches!(
                store.claim_now(&key(i), LONG).unwrap(),
                ClaimOutcome::Claimed(_)
            ));
        }
        let err = store.claim_now(&key(99), LONG).unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(err.retry_after().is_some());
        assert_eq!(store.len(), 8);
        // Existing keys still answer while full.
        assert!(matches!(
            store.claim_now(&key(3), LONG).unwrap(),
            ClaimOutcome::InFlight { .. }
        ));
    }

    #[test]
    fn expired_entries_are_reclaimed_when_full_and_by_purge() {
        let store = MemoryStore::with_shards(4, 1);
        for i in 0..4 {
            assert!(matches!(
                store.claim_now(&key(i), Duration::from_millis(1)).unwrap(),
                ClaimOutcome::Claimed(_)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            store.claim_now(&key(10), LONG).unwrap(),
            ClaimOutcome::Claimed(_)
        ));
        assert_eq!(store.len(), 1);
        assert!(matches!(
            store.claim_now(&key(11), Duration::from_millis(1)).unwrap(),
            ClaimOutcome::Claimed(_)
        ));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(store.purge_expired(), 1);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn shard_counts_are_powers_of_two() {
        assert_eq!(MemoryStore::with_shards(100, 3).shards.len(), 4);
        assert_eq!(MemoryStore::with_shards(100, 0).shards.len(), 1);
        assert_eq!(MemoryStore::new(DEFAULT_MAX_KEYS).shards.len(), 64);
        assert_eq!(MemoryStore::new(10).max_keys(), 10);
    }
}
