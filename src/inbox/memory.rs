//! [`MemoryInbox`]: an inbox in process memory, for tests, demos and development.
//!
//! **No persistence.** Everything it holds is lost when the process exits or crashes, so a
//! delivery it acknowledged can be lost: it does not keep DESIGN rule 11 ("acknowledged means
//! durable") across restarts. Use `SqliteInbox` (feature `sqlite`) on one machine, or a
//! Redis/Postgres inbox across machines, for anything that must survive a crash.
//!
//! ## Bounds
//!
//! At most `max_entries` entries (default [`DEFAULT_MAX_ENTRIES`]) and `max_body_bytes` bytes of
//! bodies (default [`DEFAULT_MAX_BODY_BYTES`]). When a put would pass either bound, the oldest
//! **done** entries are evicted first (a late duplicate of an evicted delivery would be stored
//! again); entries that still need handling and dead letters are never evicted. If that is not
//! enough, `put` answers [`Error::StoreUnavailable`] (the receiver answers 503, the sender
//! retries later) until workers or [`Inbox::purge`] make room.
//!
//! ## Concurrency and time
//!
//! One `std::sync::Mutex` over the whole state, held for map and B-tree operations only, never
//! across an await: futures are complete when created, and no async runtime is needed.
//! `lease` finds due entries through an index ordered by due time, so it costs
//! O(batch × log n) however many entries wait for later. The clock is injectable
//! ([`MemoryInbox::with_clock`]) so tests can move time without sleeping.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::ready;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::{
    truncate_error, AfterFailure, Entry, EntryId, EntryState, Inbox, InboxFuture, InboxStats,
    Lease, LeaseToken, ListFilter, NewEntry, PutOutcome, ReplaySelector,
};
use crate::idempotency::memory::PassThrough;
use crate::idempotency::IdempotencyKey;
use crate::Error;

/// Default bound on the number of entries.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// Default bound on the bytes of bodies held (256 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Longest batch one `lease` call hands out, whatever `max` it is given.
const MAX_BATCH: usize = 10_000;

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

struct Slot {
    namespace: String,
    vendor: String,
    key: IdempotencyKey,
    /// `key`'s hash in `by_key`, so removing the slot does not hash the key again.
    key_hash: u64,
    signed_delivery_id: Option<String>,
    headers: Vec<(String, String)>,
    body: Bytes,
    received_at: SystemTime,
    state: EntryState,
    attempts: u32,
    last_error: Option<String>,
    /// Due time (pending, retrying), lease end (leased), or when it got there (done, dead).
    at: SystemTime,
    token: Option<LeaseToken>,
}

/// A dedupe key with its hash computed once. Growing `by_key` then moves stored hashes: with
/// the key itself as the map's key, each doubling re-read every key string (a cache miss per
/// entry) and re-hashed it, 4-8 % of a put's profile in an inbox that only grows.
struct HashedKey {
    hash: u64,
    key: IdempotencyKey,
}

impl Hash for HashedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for HashedKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for HashedKey {}

#[derive(Default)]
struct State {
    next_id: u64,
    /// By id. Ids are handed out in order, so a put appends at the right edge of the tree and
    /// touches the same few nodes as the previous one; a hash map scattered each new slot
    /// (240 bytes) over a table of every entry, a cache and TLB miss per put that grew with the
    /// inbox, plus a rehash moving every slot at each doubling.
    /// Boxed (allocated before the lock): a node of 11 inline slots of about 250 bytes is 2.8 KB that
    /// every insert at the edge writes into and every split copies half of.
    slots: BTreeMap<u64, Box<Slot>>,
    by_key: HashMap<HashedKey, u64, BuildHasherDefault<PassThrough>>,
    /// Pending, retrying and leased entries by the time they are (or become again) due.
    due: BTreeSet<(SystemTime, u64)>,
    /// Done entries by when they were done: eviction and purge order.
    done: BTreeSet<(SystemTime, u64)>,
    /// Dead entries by when they died: purge order.
    dead: BTreeSet<(SystemTime, u64)>,
    body_bytes: usize,
    counts: [u64; 5],
}

fn state_index(s: EntryState) -> usize {
    EntryState::ALL
        .iter()
        .position(|x| *x == s)
        .unwrap_or_default()
}

impl State {
    fn index_of(&mut self, state: EntryState) -> Option<&mut BTreeSet<(SystemTime, u64)>> {
        match state {
            EntryState::Pending | EntryState::Retrying | EntryState::Leased => Some(&mut self.due),
            EntryState::Done => Some(&mut self.done),
            EntryState::Dead => Some(&mut self.dead),
        }
    }

    /// Move slot `id` to `state` at time `at`, keeping the indexes and counts in step.
    fn set(&mut self, id: u64, state: EntryState, at: SystemTime, token: Option<LeaseToken>) {
        let Some(slot) = self.slots.get(&id) else {
            return;
        };
        let (old_state, old_at) = (slot.state, slot.at);
        if let Some(ix) = self.index_of(old_state) {
            ix.remove(&(old_at, id));
        }
        self.counts[state_index(old_state)] -= 1;
        if let Some(ix) = self.index_of(state) {
            ix.insert((at, id));
        }
        self.counts[state_index(state)] += 1;
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.state = state;
            slot.at = at;
            slot.token = token;
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(slot) = self.slots.remove(&id) else {
            return;
        };
        if let Some(ix) = self.index_of(slot.state) {
            ix.remove(&(slot.at, id));
        }
        self.counts[state_index(slot.state)] -= 1;
        self.by_key.remove(&HashedKey {
            hash: slot.key_hash,
            key: slot.key,
        });
        self.body_bytes -= slot.body.len();
    }

    /// The slot `id` if `token` holds its lease.
    fn leased_by(&self, id: &EntryId, token: LeaseToken) -> Option<u64> {
        let n = parse_id(id)?;
        let slot = self.slots.get(&n)?;
        (slot.state == EntryState::Leased && slot.token == Some(token)).then_some(n)
    }

    fn entry(&self, id: u64) -> Option<Entry> {
        let s = self.slots.get(&id)?;
        Some(Entry {
            id: entry_id(id),
            namespace: s.namespace.clone(),
            vendor: s.vendor.clone(),
            key: s.key.clone(),
            signed_delivery_id: s.signed_delivery_id.clone(),
            headers: s.headers.clone(),
            body: s.body.clone(),
            received_at: s.received_at,
            state: s.state,
            attempts: s.attempts,
            last_error: s.last_error.clone(),
            next_attempt_at: s.at,
        })
    }
}

fn parse_id(id: &EntryId) -> Option<u64> {
    id.as_str().parse().ok()
}

/// `id` in decimal, in one allocation of the exact size (`to_string` goes through the
/// formatter and may reallocate when boxed).
fn entry_id(mut id: u64) -> EntryId {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (id % 10) as u8;
        id /= 10;
        if id == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    EntryId::new(std::str::from_utf8(&buf[at..]).unwrap_or("0"))
}

/// An [`Inbox`] in process memory: **not durable** (see the [module docs](self)), bounded,
/// for tests, demos and development.
///
/// ```
/// use std::time::Duration;
/// use chathooks::idempotency::IdempotencyKey;
/// use chathooks::inbox::{Inbox, MemoryInbox, NewEntry, PutOutcome};
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// # block_on(async {
/// let inbox = MemoryInbox::new();
/// let key = IdempotencyKey::new("sam", "msg_1")?;
/// let entry = NewEntry::new("sam", "sam", key, &b"{}"[..]);
/// assert!(inbox.put(entry.clone()).await?.is_accepted());
/// assert!(matches!(inbox.put(entry).await?, PutOutcome::Duplicate(_)));
///
/// let leases = inbox.lease(10, Duration::from_secs(30)).await?;
/// assert_eq!(leases.len(), 1);
/// assert!(inbox.ack(&leases[0].entry.id, leases[0].token).await?);
/// # Ok::<(), chathooks::Error>(())
/// # }).unwrap();
/// ```
pub struct MemoryInbox {
    state: Mutex<State>,
    max_entries: usize,
    max_body_bytes: usize,
    clock: Clock,
    /// Keyed per inbox: senders choose the ids, so they must not be able to choose collisions.
    hasher: RandomState,
}

impl Default for MemoryInbox {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("MemoryInbox")
            .field("entries", &st.slots.len())
            .field("body_bytes", &st.body_bytes)
            .field("max_entries", &self.max_entries)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl MemoryInbox {
    /// An empty inbox with the default bounds.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BODY_BYTES)
    }

    /// An empty inbox holding at most `max_entries` entries and `max_body_bytes` bytes of
    /// bodies (each at least 1).
    pub fn with_limits(max_entries: usize, max_body_bytes: usize) -> Self {
        MemoryInbox {
            state: Mutex::new(State::default()),
            max_entries: max_entries.max(1),
            max_body_bytes: max_body_bytes.max(1),
            clock: Arc::new(SystemTime::now),
            hasher: RandomState::new(),
        }
    }

    /// Read the time from `clock` instead of the system clock (tests that move time).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Number of entries held, in every state.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether the inbox holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update keeps the state consistent before any call that could panic, so a
        // poisoned lock still guards usable data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// The synchronous body of [`Inbox::put`].
    pub fn put_now(&self, entry: NewEntry) -> Result<PutOutcome, Error> {
        let now = self.now();
        let size = entry.body.len();
        // Everything that allocates or moves is done before the lock: under it, only the
        // map and index updates.
        let key_hash = self.hasher.hash_one(entry.key.as_str());
        let key = HashedKey {
            hash: key_hash,
            key: entry.key.clone(),
        };
        let slot = Box::new(Slot {
            namespace: entry.namespace,
            vendor: entry.vendor,
            key: entry.key,
            key_hash,
            signed_delivery_id: entry.signed_delivery_id,
            headers: entry.headers,
            // The HTTP adapters hand over the body as a slice of the connection's read buffer;
            // kept as is it would pin that whole buffer for the entry's life, past the byte
            // bound. A copy of exactly its bytes keeps the bound honest.
            body: Bytes::copy_from_slice(&entry.body),
            received_at: entry.received_at,
            state: EntryState::Pending,
            attempts: 0,
            last_error: None,
            at: now,
            token: None,
        });
        let outcome = {
            let mut st = self.lock();
            self.insert(&mut st, key, slot, size)
        };
        // The id is formatted outside the lock, and a refused slot is dropped outside it too.
        outcome.map(|(id, fresh)| {
            let id = entry_id(id);
            if fresh {
                PutOutcome::Accepted(id)
            } else {
                PutOutcome::Duplicate(id)
            }
        })
    }

    /// Store `slot` under `key` unless the key is held: `(id, stored)`.
    fn insert(
        &self,
        st: &mut State,
        key: HashedKey,
        slot: Box<Slot>,
        size: usize,
    ) -> Result<(u64, bool), Error> {
        if let Some(&id) = st.by_key.get(&key) {
            return Ok((id, false));
        }
        if size > self.max_body_bytes {
            return Err(full("body larger than the inbox's byte bound"));
        }
        while st.slots.len() >= self.max_entries || st.body_bytes + size > self.max_body_bytes {
            let Some(&(_, oldest)) = st.done.iter().next() else {
                return Err(full("inbox full of unhandled or dead entries"));
            };
            st.remove(oldest);
        }
        st.next_id += 1;
        let id = st.next_id;
        let at = slot.at;
        st.by_key.insert(key, id);
        st.body_bytes += size;
        st.slots.insert(id, slot);
        st.due.insert((at, id));
        st.counts[state_index(EntryState::Pending)] += 1;
        Ok((id, true))
    }

    /// The synchronous body of [`Inbox::lease`].
    pub fn lease_now(&self, max: usize, lease: Duration) -> Vec<Lease> {
        let now = self.now();
        // Saturate far in the future, as the other backends do: falling back to `now` would
        // let the next call lease the entry again while its handler runs.
        let until = now.checked_add(lease.min(super::MAX_DELAY)).unwrap_or(now);
        let mut st = self.lock();
        let due: Vec<u64> = st
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max.min(MAX_BATCH))
            .map(|&(_, id)| id)
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for id in due {
            let token = LeaseToken::generate();
            st.set(id, EntryState::Leased, until, Some(token));
            if let Some(slot) = st.slots.get_mut(&id) {
                slot.attempts = slot.attempts.saturating_add(1);
            }
            if let Some(entry) = st.entry(id) {
                out.push(Lease::new(entry, token, until));
            }
        }
        out
    }

    /// The synchronous body of [`Inbox::ack`].
    pub fn ack_now(&self, id: &EntryId, token: LeaseToken) -> bool {
        let now = self.now();
        let mut st = self.lock();
        let Some(n) = st.leased_by(id, token) else {
            return false;
        };
        st.set(n, EntryState::Done, now, None);
        true
    }

    /// The synchronous body of [`Inbox::fail`].
    pub fn fail_now(
        &self,
        id: &EntryId,
        token: LeaseToken,
        error: &str,
        then: AfterFailure,
    ) -> bool {
        let now = self.now();
        let mut st = self.lock();
        let Some(n) = st.leased_by(id, token) else {
            return false;
        };
        if let Some(slot) = st.slots.get_mut(&n) {
            slot.last_error = Some(truncate_error(error).to_owned());
        }
        match then {
            AfterFailure::RetryAt(at) => st.set(
                n,
                EntryState::Retrying,
                super::capped_retry_at(at, now),
                None,
            ),
            _ => st.set(n, EntryState::Dead, now, None),
        }
        true
    }

    /// The synchronous body of [`Inbox::release`].
    pub fn release_now(&self, id: &EntryId, token: LeaseToken) -> bool {
        let now = self.now();
        let mut st = self.lock();
        let Some(n) = st.leased_by(id, token) else {
            return false;
        };
        // The lease counted an attempt that never ran: give it back.
        let attempted = st.slots.get_mut(&n).is_some_and(|s| {
            s.attempts = s.attempts.saturating_sub(1);
            s.attempts > 0
        });
        let state = if attempted {
            EntryState::Retrying
        } else {
            EntryState::Pending
        };
        st.set(n, state, now, None);
        true
    }

    /// The synchronous body of [`Inbox::get`].
    pub fn get_now(&self, id: &EntryId) -> Option<Entry> {
        self.lock().entry(parse_id(id)?)
    }

    /// The synchronous body of [`Inbox::list`].
    pub fn list_now(&self, filter: &ListFilter) -> Vec<Entry> {
        let st = self.lock();
        let mut hits: Vec<(SystemTime, u64)> = st
            .slots
            .iter()
            .filter(|(_, s)| filter.state.is_none_or(|want| s.state == want))
            .filter(|(_, s)| {
                filter
                    .namespace
                    .as_deref()
                    .is_none_or(|ns| s.namespace == ns)
            })
            .map(|(&id, s)| (s.received_at, id))
            .collect();
        // The first `limit` in O(n), then only those sorted: the lock `put` needs is held
        // for the scan, not for sorting the whole inbox.
        let limit = filter.limit.min(super::MAX_LIST);
        if hits.len() > limit {
            if limit == 0 {
                return Vec::new();
            }
            hits.select_nth_unstable(limit - 1);
            hits.truncate(limit);
        }
        hits.sort_unstable();
        hits.into_iter()
            .filter_map(|(_, id)| st.entry(id))
            .collect()
    }

    /// The synchronous body of [`Inbox::stats`].
    pub fn stats_now(&self) -> InboxStats {
        let now = self.now();
        let st = self.lock();
        let oldest = st
            .slots
            .values()
            .filter(|s| s.state == EntryState::Pending)
            .map(|s| s.received_at)
            .min();
        let c = st.counts;
        InboxStats {
            pending: c[0],
            leased: c[1],
            retrying: c[2],
            dead: c[3],
            done: c[4],
            oldest_pending_age: oldest.map(|at| now.duration_since(at).unwrap_or(Duration::ZERO)),
        }
    }

    /// The synchronous body of [`Inbox::replay`].
    pub fn replay_now(&self, selector: &ReplaySelector) -> u64 {
        let now = self.now();
        let mut st = self.lock();
        let chosen: Vec<u64> = match selector {
            ReplaySelector::Ids(ids) => ids.iter().filter_map(parse_id).collect(),
            ReplaySelector::State {
                state,
                received_after,
                received_before,
            } => {
                let set = match state {
                    EntryState::Dead => &st.dead,
                    EntryState::Done => &st.done,
                    _ => return 0,
                };
                set.iter()
                    .map(|&(_, id)| id)
                    .filter(|id| {
                        st.slots.get(id).is_some_and(|s| {
                            received_after.is_none_or(|a| s.received_at >= a)
                                && received_before.is_none_or(|b| s.received_at < b)
                        })
                    })
                    .collect()
            }
        };
        let mut n = 0;
        for id in chosen {
            let replayable = st
                .slots
                .get(&id)
                .is_some_and(|s| matches!(s.state, EntryState::Dead | EntryState::Done));
            if replayable {
                st.set(id, EntryState::Pending, now, None);
                if let Some(slot) = st.slots.get_mut(&id) {
                    slot.attempts = 0;
                }
                n += 1;
            }
        }
        n
    }

    /// The synchronous body of [`Inbox::purge`].
    pub fn purge_now(&self, older_than: Duration) -> u64 {
        let now = self.now();
        let Some(cutoff) = now.checked_sub(older_than) else {
            return 0;
        };
        let mut st = self.lock();
        let old: Vec<u64> = st
            .done
            .iter()
            .take_while(|(at, _)| *at < cutoff)
            .chain(st.dead.iter().take_while(|(at, _)| *at < cutoff))
            .map(|&(_, id)| id)
            .collect();
        for &id in &old {
            st.remove(id);
        }
        old.len() as u64
    }
}

fn full(reason: &str) -> Error {
    Error::StoreUnavailable {
        reason: reason.into(),
        retry_after: Duration::from_secs(5),
    }
}

impl Inbox for MemoryInbox {
    fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
        Box::pin(ready(self.put_now(entry)))
    }

    fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
        Box::pin(ready(Ok(self.lease_now(max, lease))))
    }

    fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(ready(Ok(self.ack_now(id, token))))
    }

    fn fail<'a>(
        &'a self,
        id: &'a EntryId,
        token: LeaseToken,
        error: &'a str,
        then: AfterFailure,
    ) -> InboxFuture<'a, bool> {
        Box::pin(ready(Ok(self.fail_now(id, token, error, then))))
    }

    fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(ready(Ok(self.release_now(id, token))))
    }

    fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
        Box::pin(ready(Ok(self.get_now(id))))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
        Box::pin(ready(Ok(self.list_now(filter))))
    }

    fn stats(&self) -> InboxFuture<'_, InboxStats> {
        Box::pin(ready(Ok(self.stats_now())))
    }

    fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
        Box::pin(ready(Ok(self.replay_now(selector))))
    }

    fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
        Box::pin(ready(Ok(self.purge_now(older_than))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> IdempotencyKey {
        IdempotencyKey::new("t", &format!("k{n}")).unwrap()
    }

    #[test]
    fn full_inbox_evicts_done_entries_first_then_refuses() {
        let inbox = MemoryInbox::with_limits(2, 1 << 20);
        for n in 0..2 {
            inbox
                .put_now(NewEntry::new("t", "t", key(n), &b"x"[..]))
                .unwrap();
        }
        // Two unhandled entries: a third is refused, nothing evicted.
        let err = inbox
            .put_now(NewEntry::new("t", "t", key(2), &b"x"[..]))
            .unwrap_err();
        assert!(matches!(err, Error::StoreUnavailable { .. }));
        assert_eq!(inbox.len(), 2);
        // Handle one: now it makes room.
        let l = inbox.lease_now(1, Duration::from_secs(30)).remove(0);
        assert!(inbox.ack_now(&l.entry.id, l.token));
        assert!(inbox
            .put_now(NewEntry::new("t", "t", key(2), &b"x"[..]))
            .unwrap()
            .is_accepted());
        assert!(inbox.get_now(&l.entry.id).is_none(), "done entry evicted");
        assert_eq!(inbox.stats_now().pending, 2);
    }

    #[test]
    fn entry_ids_are_plain_decimal() {
        for n in [0, 1, 9, 10, 42, 1_000_000, u64::MAX] {
            assert_eq!(entry_id(n).as_str(), n.to_string());
            assert_eq!(parse_id(&entry_id(n)), Some(n));
        }
    }

    #[test]
    fn byte_bound_counts_bodies() {
        let inbox = MemoryInbox::with_limits(100, 10);
        inbox
            .put_now(NewEntry::new("t", "t", key(0), vec![0u8; 8]))
            .unwrap();
        assert!(inbox
            .put_now(NewEntry::new("t", "t", key(1), vec![0u8; 3]))
            .is_err());
        assert!(inbox
            .put_now(NewEntry::new("t", "t", key(2), vec![0u8; 11]))
            .is_err());
        assert_eq!(inbox.len(), 1);
    }
}
