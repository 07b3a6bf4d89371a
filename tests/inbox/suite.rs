//! The behaviour every `Inbox` must have.
//!
//! A backend plugs in with one line: `inbox_suite!(make);` where `make` is an
//! `async fn(&str) -> Option<Arc<dyn Inbox>>` returning a fresh, empty inbox for the named test
//! (`None`: the backend is not available here and the test printed a SKIPPED line). It expands
//! to one `#[tokio::test]` per behaviour; each is also a plain `pub async fn(Arc<dyn Inbox>)`
//! below.
//!
//! Backends use the real clock, so the few tests about time (lease expiry, retry due time,
//! purge age) use leases and delays of at least a second and check only the side of each
//! deadline that cannot be reached by a slow machine.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::idempotency::{ClaimToken, IdempotencyKey};
use chathooks::inbox::{
    AfterFailure, Entry, EntryId, EntryState, Inbox, Lease, ListFilter, NewEntry, PutOutcome,
    ReplaySelector, MAX_ERROR_LEN,
};
use tokio::sync::Barrier;

const LONG: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

macro_rules! inbox_suite {
    ($make:path) => {
        inbox_suite!(@one $make, put_then_duplicate_is_recognised);
        inbox_suite!(@one $make, concurrent_puts_of_one_delivery_store_one_entry);
        inbox_suite!(@one $make, body_headers_and_metadata_are_kept_exactly);
        inbox_suite!(@one $make, lease_then_ack_is_done_for_good);
        inbox_suite!(@one $make, lease_respects_max_and_hands_each_entry_once);
        inbox_suite!(@one $make, ack_many_answers_each_lease_as_ack_would);
        inbox_suite!(@one $make, expired_lease_is_taken_over_and_the_stale_token_is_refused);
        inbox_suite!(@one $make, fail_retries_at_the_scheduled_time_then_dies);
        inbox_suite!(@one $make, a_retry_time_past_ten_years_is_cut_to_ten_years);
        inbox_suite!(@one $make, release_makes_the_entry_due_again_without_an_attempt);
        inbox_suite!(@one $make, release_after_a_failure_leaves_the_entry_retrying);
        inbox_suite!(@one $make, replay_by_id_and_by_state_and_time_range);
        inbox_suite!(@one $make, replay_time_range_edges_are_exact);
        inbox_suite!(@one $make, replay_since_a_noted_time_finds_what_came_after);
        inbox_suite!(@one $make, replay_gives_the_whole_retry_schedule_again);
        inbox_suite!(@one $make, purge_and_replay_cover_more_than_one_chunk);
        inbox_suite!(@one $make, purge_deletes_only_old_done_and_dead_entries);
        inbox_suite!(@one $make, stats_count_each_state_and_the_oldest_pending_age);
        inbox_suite!(@one $make, list_and_get_by_state_and_namespace);
        inbox_suite!(@one $make, list_returns_at_most_max_list_entries);
        inbox_suite!(@one $make, last_error_is_truncated);
        inbox_suite!(@one $make, unknown_ids_are_absent_not_errors);
    };
    (@one $make:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some(inbox) = $make(stringify!($name)).await {
                $crate::inbox::suite::$name(inbox).await;
            }
        }
    };
}
pub(crate) use inbox_suite;

/// `t` cut to whole milliseconds: the precision every backend keeps.
pub fn ms(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64)
}

/// A key no other test (or run sharing a server) uses.
pub fn fresh_key(label: &str) -> IdempotencyKey {
    IdempotencyKey::new(
        "test",
        &format!("{label}-{}", ClaimToken::generate().to_hex()),
    )
    .unwrap()
}

/// A small entry under a fresh key, received `ago` before now.
pub fn entry(label: &str, ago: Duration) -> NewEntry {
    NewEntry::new(
        "test",
        "standard",
        fresh_key(label),
        &br#"{"type":"t"}"#[..],
    )
    .with_received_at(ms(SystemTime::now() - ago))
}

pub async fn accepted(inbox: &dyn Inbox, e: NewEntry) -> EntryId {
    match inbox.put(e).await.unwrap() {
        PutOutcome::Accepted(id) => id,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

async fn get(inbox: &dyn Inbox, id: &EntryId) -> Entry {
    inbox.get(id).await.unwrap().expect("entry exists")
}

async fn lease_one(inbox: &dyn Inbox, lease: Duration) -> Lease {
    let mut l = inbox.lease(1, lease).await.unwrap();
    assert_eq!(l.len(), 1, "expected one due entry");
    l.remove(0)
}

/// Lease `id` for a long time: it must be due. Other due entries leased on the way are
/// released again.
async fn lease_id(inbox: &dyn Inbox, id: &EntryId) -> Lease {
    let mut found = None;
    for l in inbox.lease(1000, LONG).await.unwrap() {
        if &l.entry.id == id {
            found = Some(l);
        } else {
            assert!(inbox.release(&l.entry.id, l.token).await.unwrap());
        }
    }
    found.unwrap_or_else(|| panic!("{id} is not due"))
}

async fn nothing_due(inbox: &dyn Inbox) {
    let l = inbox.lease(100, LONG).await.unwrap();
    assert!(l.is_empty(), "nothing should be due, got {l:?}");
}

/// Drive the entry to `state` through the public API (done: ack; dead: fail with Dead).
async fn finish(inbox: &dyn Inbox, id: &EntryId, state: EntryState) {
    let l = lease_id(inbox, id).await;
    let ok = match state {
        EntryState::Done => inbox.ack(id, l.token).await.unwrap(),
        EntryState::Dead => inbox
            .fail(id, l.token, "boom", AfterFailure::Dead)
            .await
            .unwrap(),
        other => panic!("finish to {other}"),
    };
    assert!(ok);
    assert_eq!(get(inbox, id).await.state, state);
}

pub async fn put_then_duplicate_is_recognised(inbox: Arc<dyn Inbox>) {
    let e = entry("dup", Duration::ZERO);
    let id = accepted(&*inbox, e.clone()).await;
    // The same key with a different body is still the same delivery.
    let mut again = e.clone();
    again.body = b"other bytes".to_vec().into();
    assert_eq!(
        inbox.put(again).await.unwrap(),
        PutOutcome::Duplicate(id.clone())
    );
    let stored = get(&*inbox, &id).await;
    assert_eq!(stored.state, EntryState::Pending);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.last_error, None);
    assert_eq!(
        stored.body, e.body,
        "the duplicate did not overwrite the body"
    );
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.done), (1, 0, 0));
    // Still a duplicate once handled (until purged).
    finish(&*inbox, &id, EntryState::Done).await;
    assert_eq!(inbox.put(e).await.unwrap(), PutOutcome::Duplicate(id));
}

pub async fn concurrent_puts_of_one_delivery_store_one_entry(inbox: Arc<dyn Inbox>) {
    let e = entry("race", Duration::ZERO);
    let barrier = Arc::new(Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (inbox, e, barrier) = (inbox.clone(), e.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                inbox.put(e).await.unwrap()
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut winners = 0;
    for t in tasks {
        let out = t.await.unwrap();
        winners += usize::from(out.is_accepted());
        ids.insert(out.id().clone());
    }
    assert_eq!(winners, 1, "exactly one of 64 concurrent puts is accepted");
    assert_eq!(ids.len(), 1, "every put names the same entry");
    assert_eq!(inbox.list(&ListFilter::all()).await.unwrap().len(), 1);
    assert_eq!(inbox.stats().await.unwrap().pending, 1);
}

pub async fn body_headers_and_metadata_are_kept_exactly(inbox: Arc<dyn Inbox>) {
    // Every byte value, NUL and invalid UTF-8 included, plus a body large enough to matter.
    let mut body: Vec<u8> = (0..=255u8).collect();
    body.extend_from_slice(&[0xff, 0xfe, 0x00, 0xc3, 0x28]);
    body.extend((0..256 * 1024).map(|i| (i * 7 % 251) as u8));
    let received = ms(SystemTime::now() - Duration::from_secs(90));
    let key = fresh_key("bytes");
    let e = NewEntry::new("standard:billing", "standard", key.clone(), body.clone())
        .with_signed_delivery_id("msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")
        .with_header("Webhook-Id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")
        .with_header("content-type", "application/json; charset=utf-8")
        .with_received_at(received);
    let id = accepted(&*inbox, e).await;
    let check = |got: &Entry| {
        assert_eq!(got.id, id);
        assert_eq!(&got.body[..], &body[..], "body bytes kept exactly");
        assert_eq!(got.namespace, "standard:billing");
        assert_eq!(got.vendor, "standard");
        assert_eq!(got.key, key);
        assert_eq!(
            got.signed_delivery_id.as_deref(),
            Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")
        );
        assert_eq!(
            got.header("webhook-id"),
            Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")
        );
        assert_eq!(
            got.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(got.headers.len(), 2);
        assert_eq!(
            got.received_at, received,
            "received_at kept to the millisecond"
        );
    };
    check(&get(&*inbox, &id).await);
    let l = lease_id(&*inbox, &id).await;
    check(&l.entry);
    // An empty body and no headers are fine too.
    let empty = NewEntry::new("test", "standard", fresh_key("empty"), Vec::new());
    let eid = accepted(&*inbox, empty).await;
    let got = get(&*inbox, &eid).await;
    assert!(got.body.is_empty() && got.headers.is_empty() && got.signed_delivery_id.is_none());
}

pub async fn lease_then_ack_is_done_for_good(inbox: Arc<dyn Inbox>) {
    let id = accepted(&*inbox, entry("ack", Duration::ZERO)).await;
    let before = SystemTime::now();
    let l = lease_one(&*inbox, LONG).await;
    let after = SystemTime::now();
    assert_eq!(l.entry.id, id);
    assert_eq!(l.entry.state, EntryState::Leased);
    assert_eq!(l.entry.attempts, 1, "a lease counts its attempt");
    let slack = Duration::from_secs(1);
    assert!(
        l.expires_at >= before + LONG - slack && l.expires_at <= after + LONG + slack,
        "lease ends about `lease` from now"
    );
    let leased = get(&*inbox, &id).await;
    assert_eq!(leased.state, EntryState::Leased);
    assert_eq!(inbox.stats().await.unwrap().leased, 1);
    // Held: no one else gets it.
    nothing_due(&*inbox).await;
    assert!(inbox.ack(&id, l.token).await.unwrap());
    let done = get(&*inbox, &id).await;
    assert_eq!(done.state, EntryState::Done);
    assert_eq!(done.attempts, 1);
    // A second ack, or any other use of the spent token, changes nothing.
    assert!(!inbox.ack(&id, l.token).await.unwrap());
    assert!(!inbox.release(&id, l.token).await.unwrap());
    assert!(!inbox
        .fail(&id, l.token, "late", AfterFailure::Dead)
        .await
        .unwrap());
    assert_eq!(get(&*inbox, &id).await.state, EntryState::Done);
    nothing_due(&*inbox).await;
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.done), (0, 0, 1));
}

pub async fn lease_respects_max_and_hands_each_entry_once(inbox: Arc<dyn Inbox>) {
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(accepted(&*inbox, entry(&format!("batch{i}"), Duration::ZERO)).await);
    }
    let first = inbox.lease(3, LONG).await.unwrap();
    assert_eq!(first.len(), 3);
    let firsts: Vec<_> = first.iter().map(|l| l.entry.id.clone()).collect();
    assert_eq!(firsts, ids[..3], "oldest due first");
    let rest = inbox.lease(100, LONG).await.unwrap();
    assert_eq!(rest.len(), 4);
    let all: HashSet<_> = first
        .iter()
        .chain(&rest)
        .map(|l| l.entry.id.clone())
        .collect();
    assert_eq!(all.len(), 7, "no entry is leased twice");
    let tokens: HashSet<_> = first.iter().chain(&rest).map(|l| l.token).collect();
    assert_eq!(tokens.len(), 7, "every lease has its own token");
    nothing_due(&*inbox).await;
    assert!(inbox.lease(0, LONG).await.unwrap().is_empty());
    // Concurrent leasers split the work without overlap.
    let more: Vec<_> = {
        let mut v = Vec::new();
        for i in 0..40 {
            v.push(accepted(&*inbox, entry(&format!("split{i}"), Duration::ZERO)).await);
        }
        v
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.lease(10, LONG).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        for l in t.await.unwrap() {
            assert!(
                seen.insert(l.entry.id.clone()),
                "leased twice: {}",
                l.entry.id
            );
        }
    }
    assert_eq!(seen, more.into_iter().collect::<HashSet<_>>());
}

pub async fn ack_many_answers_each_lease_as_ack_would(inbox: Arc<dyn Inbox>) {
    assert!(inbox.ack_many(&[]).await.unwrap().is_empty());
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(accepted(&*inbox, entry(&format!("many{i}"), Duration::ZERO)).await);
    }
    let leases = inbox.lease(10, LONG).await.unwrap();
    assert_eq!(leases.len(), 4);
    let token = |id: &EntryId| leases.iter().find(|l| &l.entry.id == id).unwrap().token;
    let batch = vec![
        (ids[0].clone(), token(&ids[0])),
        // Someone else's token: refused, the entry stays leased.
        (ids[1].clone(), ClaimToken::generate()),
        (ids[2].clone(), token(&ids[2])),
        // The same lease twice in one batch: acknowledged once.
        (ids[0].clone(), token(&ids[0])),
        (EntryId::new("not-an-id"), token(&ids[3])),
        (EntryId::new("999999999"), token(&ids[3])),
    ];
    assert_eq!(
        inbox.ack_many(&batch).await.unwrap(),
        [true, false, true, false, false, false]
    );
    assert_eq!(get(&*inbox, &ids[0]).await.state, EntryState::Done);
    assert_eq!(get(&*inbox, &ids[1]).await.state, EntryState::Leased);
    assert_eq!(get(&*inbox, &ids[2]).await.state, EntryState::Done);
    assert_eq!(get(&*inbox, &ids[3]).await.state, EntryState::Leased);
    // A spent token stays spent; the held ones still work.
    let again = [
        (ids[2].clone(), token(&ids[2])),
        (ids[1].clone(), token(&ids[1])),
        (ids[3].clone(), token(&ids[3])),
    ];
    assert_eq!(inbox.ack_many(&again).await.unwrap(), [false, true, true]);
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.leased, stats.done), (0, 4));
    nothing_due(&*inbox).await;
}

pub async fn expired_lease_is_taken_over_and_the_stale_token_is_refused(inbox: Arc<dyn Inbox>) {
    let short = Duration::from_secs(1);
    let id = accepted(&*inbox, entry("expiry", Duration::ZERO)).await;
    let first = lease_one(&*inbox, short).await;
    // The lease ends after `short`: wait past it (a slow machine only makes this later).
    tokio::time::sleep(short + Duration::from_millis(600)).await;
    let second = lease_one(&*inbox, LONG).await;
    assert_eq!(second.entry.id, id, "the expired lease is taken over");
    assert_ne!(first.token, second.token);
    assert_eq!(
        second.entry.attempts, 2,
        "an expired lease used up its attempt: its worker may have died in the handler"
    );
    // The first worker comes back late: nothing it does counts.
    assert!(!inbox.ack(&id, first.token).await.unwrap());
    assert_eq!(
        inbox.ack_many(&[(id.clone(), first.token)]).await.unwrap(),
        [false]
    );
    assert!(!inbox
        .fail(&id, first.token, "late", AfterFailure::Dead)
        .await
        .unwrap());
    assert!(!inbox.release(&id, first.token).await.unwrap());
    let e = get(&*inbox, &id).await;
    assert_eq!(e.state, EntryState::Leased);
    assert_eq!(e.attempts, 2);
    assert_eq!(e.last_error, None);
    nothing_due(&*inbox).await;
    assert!(inbox.ack(&id, second.token).await.unwrap());
    assert_eq!(get(&*inbox, &id).await.state, EntryState::Done);
}

/// Every backend keeps a retry time at most ten years out (it keeps every stored time in range):
/// one asked for 400 years from now is due in ten.
pub async fn a_retry_time_past_ten_years_is_cut_to_ten_years(inbox: Arc<dyn Inbox>) {
    let id = accepted(&*inbox, entry("retry-far", Duration::ZERO)).await;
    let l = lease_one(&*inbox, LONG).await;
    let year = Duration::from_secs(365 * 24 * 3600);
    let now = SystemTime::now();
    assert!(inbox
        .fail(&id, l.token, "far", AfterFailure::RetryAt(now + 400 * year))
        .await
        .unwrap());
    let e = get(&*inbox, &id).await;
    assert_eq!(e.state, EntryState::Retrying);
    let ten_years = now + 10 * year;
    let day = Duration::from_secs(24 * 3600);
    assert!(
        e.next_attempt_at > ten_years - day && e.next_attempt_at < ten_years + day,
        "due {:?} after now, not ten years",
        e.next_attempt_at.duration_since(now)
    );
    nothing_due(&*inbox).await;
}

pub async fn fail_retries_at_the_scheduled_time_then_dies(inbox: Arc<dyn Inbox>) {
    let id = accepted(&*inbox, entry("retry", Duration::ZERO)).await;
    let l = lease_one(&*inbox, LONG).await;
    let delay = Duration::from_millis(1500);
    let due = SystemTime::now() + delay;
    assert!(inbox
        .fail(&id, l.token, "first failure", AfterFailure::RetryAt(due))
        .await
        .unwrap());
    // A failure spends the token.
    assert!(!inbox.ack(&id, l.token).await.unwrap());
    let e = get(&*inbox, &id).await;
    assert_eq!(e.state, EntryState::Retrying);
    assert_eq!(e.attempts, 1);
    assert_eq!(e.last_error.as_deref(), Some("first failure"));
    let slack = Duration::from_secs(1);
    assert!(e.next_attempt_at + slack >= due && e.next_attempt_at <= due + slack);
    assert_eq!(inbox.stats().await.unwrap().retrying, 1);
    // Not due before the scheduled time…
    nothing_due(&*inbox).await;
    // …and due after it.
    tokio::time::sleep(delay + Duration::from_millis(500)).await;
    let l = lease_one(&*inbox, LONG).await;
    assert_eq!((l.entry.id.clone(), l.entry.attempts), (id.clone(), 2));
    // A retry time in the past means due now.
    let past = SystemTime::now() - Duration::from_secs(1);
    assert!(inbox
        .fail(&id, l.token, "second failure", AfterFailure::RetryAt(past))
        .await
        .unwrap());
    let l = lease_id(&*inbox, &id).await;
    assert_eq!(l.entry.attempts, 3);
    assert!(inbox
        .fail(&id, l.token, "last failure", AfterFailure::Dead)
        .await
        .unwrap());
    let e = get(&*inbox, &id).await;
    assert_eq!(e.state, EntryState::Dead);
    assert_eq!(e.attempts, 3);
    assert_eq!(e.last_error.as_deref(), Some("last failure"));
    nothing_due(&*inbox).await;
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.dead, stats.retrying, stats.leased), (1, 0, 0));
    // A dead letter stays a duplicate: a retry of it is not stored again.
    let again = inbox.put(NewEntry::new("test", "standard", e.key.clone(), Vec::new()));
    assert_eq!(again.await.unwrap(), PutOutcome::Duplicate(id));
}

pub async fn release_makes_the_entry_due_again_without_an_attempt(inbox: Arc<dyn Inbox>) {
    let id = accepted(&*inbox, entry("release", Duration::ZERO)).await;
    let l = lease_one(&*inbox, LONG).await;
    assert!(inbox.release(&id, l.token).await.unwrap());
    assert!(!inbox.release(&id, l.token).await.unwrap(), "released once");
    assert!(!inbox.ack(&id, l.token).await.unwrap());
    let e = get(&*inbox, &id).await;
    assert_eq!(e.state, EntryState::Pending);
    assert_eq!(e.attempts, 0);
    let again = lease_id(&*inbox, &id).await;
    assert_ne!(again.token, l.token);
    assert_eq!(
        again.entry.attempts, 1,
        "the released attempt was given back"
    );
    assert!(inbox.ack(&id, again.token).await.unwrap());
}

/// A graceful stop releases an entry that already failed once: it stays `retrying` (due now)
/// on every backend, with its attempt kept.
pub async fn release_after_a_failure_leaves_the_entry_retrying(inbox: Arc<dyn Inbox>) {
    let id = accepted(&*inbox, entry("release-retrying", Duration::ZERO)).await;
    let l = lease_one(&*inbox, LONG).await;
    let now = SystemTime::now();
    assert!(inbox
        .fail(&id, l.token, "first", AfterFailure::RetryAt(now))
        .await
        .unwrap());
    let again = lease_id(&*inbox, &id).await;
    assert_eq!(again.entry.attempts, 2);
    assert!(inbox.release(&id, again.token).await.unwrap());
    let e = get(&*inbox, &id).await;
    assert_eq!((e.state, e.attempts), (EntryState::Retrying, 1));
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.retrying), (0, 1));
    let third = lease_id(&*inbox, &id).await;
    assert_eq!(third.entry.attempts, 2);
    assert!(inbox.ack(&id, third.token).await.unwrap());
}

/// Replaying a dead entry starts its attempts from zero: the worker's schedule (which counts
/// from `attempts`) runs in full again instead of dead-lettering at the next failure.
pub async fn replay_gives_the_whole_retry_schedule_again(inbox: Arc<dyn Inbox>) {
    let by_id = accepted(&*inbox, entry("replay-attempts-id", Duration::ZERO)).await;
    let by_state = accepted(&*inbox, entry("replay-attempts-state", Duration::ZERO)).await;
    for id in [&by_id, &by_state] {
        for _ in 0..2 {
            let l = lease_id(&*inbox, id).await;
            let due = SystemTime::now();
            assert!(inbox
                .fail(id, l.token, "down", AfterFailure::RetryAt(due))
                .await
                .unwrap());
        }
        finish(&*inbox, id, EntryState::Dead).await;
        assert_eq!(get(&*inbox, id).await.attempts, 3);
    }
    assert_eq!(
        inbox
            .replay(&ReplaySelector::id(by_id.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(inbox.replay(&ReplaySelector::dead()).await.unwrap(), 1);
    for id in [&by_id, &by_state] {
        let e = get(&*inbox, id).await;
        assert_eq!((e.state, e.attempts), (EntryState::Pending, 0), "{id}");
        assert_eq!(e.last_error.as_deref(), Some("boom"), "kept for the record");
        let l = lease_id(&*inbox, id).await;
        assert_eq!(l.entry.attempts, 1);
        assert!(inbox.ack(id, l.token).await.unwrap());
    }
}

/// Put `n` entries, `make(i)` each, 200 at a time: concurrent enough to exercise group
/// commit, without more calls at once than a backend takes (Postgres' bounded queue, a pool
/// slot within its timeout) while the rest of the suite runs on two cores.
async fn put_many(inbox: &Arc<dyn Inbox>, n: usize, make: impl Fn(usize) -> NewEntry) {
    for wave in (0..n).step_by(200) {
        let mut puts = tokio::task::JoinSet::new();
        for i in wave..(wave + 200).min(n) {
            let (inbox, e) = (inbox.clone(), make(i));
            puts.spawn(async move { accepted(&*inbox, e).await });
        }
        puts.join_all().await;
    }
}

/// More entries than one SQLite chunk (5 000): purge and replay by state take them all.
pub async fn purge_and_replay_cover_more_than_one_chunk(inbox: Arc<dyn Inbox>) {
    const N: usize = 5_300;
    put_many(&inbox, N, |i| entry(&format!("chunk-{i}"), Duration::ZERO)).await;
    let mut done = 0;
    while done < N {
        let leases = inbox.lease(1000, LONG).await.unwrap();
        assert!(!leases.is_empty(), "{done} of {N} done, nothing due");
        let acks: Vec<(EntryId, _)> = leases.into_iter().map(|l| (l.entry.id, l.token)).collect();
        done += acks.len();
        for ok in inbox.ack_many(&acks).await.unwrap() {
            assert!(ok);
        }
    }
    let all_done = ReplaySelector::State {
        state: EntryState::Done,
        received_after: None,
        received_before: None,
    };
    assert_eq!(inbox.replay(&all_done).await.unwrap(), N as u64);
    assert_eq!(inbox.stats().await.unwrap().pending, N as u64);
    let mut done = 0;
    while done < N {
        let leases = inbox.lease(1000, LONG).await.unwrap();
        assert!(!leases.is_empty());
        let acks: Vec<(EntryId, _)> = leases.into_iter().map(|l| (l.entry.id, l.token)).collect();
        done += acks.len();
        inbox.ack_many(&acks).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(inbox.purge(Duration::from_secs(1)).await.unwrap(), N as u64);
    assert_eq!(inbox.stats().await.unwrap().done, 0);
}

pub async fn replay_by_id_and_by_state_and_time_range(inbox: Arc<dyn Inbox>) {
    let now = ms(SystemTime::now());
    let a = accepted(&*inbox, entry("replay-a", 3 * HOUR)).await;
    let b = accepted(&*inbox, entry("replay-b", 2 * HOUR)).await;
    let c = accepted(&*inbox, entry("replay-c", HOUR)).await;
    let d = accepted(&*inbox, entry("replay-d", HOUR)).await;
    let p = accepted(&*inbox, entry("replay-p", HOUR)).await;
    // a, b, c dead; d done; p stays pending (leased and released).
    for id in [&a, &b, &c] {
        finish(&*inbox, id, EntryState::Dead).await;
    }
    finish(&*inbox, &d, EntryState::Done).await;
    // Only dead and done entries are replayed: a pending one is left alone.
    assert_eq!(
        inbox.replay(&ReplaySelector::id(p.clone())).await.unwrap(),
        0
    );

    assert_eq!(
        inbox.replay(&ReplaySelector::id(a.clone())).await.unwrap(),
        1
    );
    let e = get(&*inbox, &a).await;
    assert_eq!(e.state, EntryState::Pending);
    assert_eq!(e.attempts, 0, "attempts start again; the last error stays");
    assert_eq!(e.last_error.as_deref(), Some("boom"));
    // Replaying it again does nothing: it is pending now.
    assert_eq!(
        inbox.replay(&ReplaySelector::id(a.clone())).await.unwrap(),
        0
    );

    // Dead entries received in [now - 2h30m, now - 90m): b only.
    let window = ReplaySelector::State {
        state: EntryState::Dead,
        received_after: Some(now - Duration::from_secs(9000)),
        received_before: Some(now - Duration::from_secs(5400)),
    };
    assert_eq!(inbox.replay(&window).await.unwrap(), 1);
    assert_eq!(get(&*inbox, &b).await.state, EntryState::Pending);
    assert_eq!(get(&*inbox, &c).await.state, EntryState::Dead);
    // The bounds: `received_after` inclusive, `received_before` exclusive.
    let c_at = get(&*inbox, &c).await.received_at;
    let excl = ReplaySelector::State {
        state: EntryState::Dead,
        received_after: None,
        received_before: Some(c_at),
    };
    assert_eq!(inbox.replay(&excl).await.unwrap(), 0);
    let incl = ReplaySelector::State {
        state: EntryState::Dead,
        received_after: Some(c_at),
        received_before: None,
    };
    assert_eq!(inbox.replay(&incl).await.unwrap(), 1);
    // Done entries by state; several ids at once.
    let done = ReplaySelector::State {
        state: EntryState::Done,
        received_after: None,
        received_before: None,
    };
    assert_eq!(inbox.replay(&done).await.unwrap(), 1);
    assert_eq!(get(&*inbox, &d).await.state, EntryState::Pending);
    assert_eq!(inbox.replay(&ReplaySelector::dead()).await.unwrap(), 0);
    // Everything is due again.
    let leased: HashSet<_> = inbox
        .lease(100, LONG)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.entry.id)
        .collect();
    assert_eq!(leased, HashSet::from([a.clone(), b, c, d, p]));
    // Ids: dead again, then replayed by a list of ids.
    let stats = inbox.stats().await.unwrap();
    assert_eq!(stats.leased, 5);
}

/// The received-time range is `[received_after, received_before)` to the nanosecond on every
/// backend, whatever precision it keeps: the entry is received at a whole millisecond (kept
/// exactly everywhere) and the bounds sit on it or a nanosecond to either side of it.
pub async fn replay_time_range_edges_are_exact(inbox: Arc<dyn Inbox>) {
    let x = accepted(&*inbox, entry("range-edge", HOUR)).await;
    finish(&*inbox, &x, EntryState::Dead).await;
    let t = get(&*inbox, &x).await.received_at;
    let ns = Duration::from_nanos(1);
    let range = |after: Option<SystemTime>, before: Option<SystemTime>| ReplaySelector::State {
        state: EntryState::Dead,
        received_after: after,
        received_before: before,
    };
    let outside = [
        ("before = t", range(None, Some(t))),
        ("before = t - 1 ns", range(None, Some(t - ns))),
        ("after = t + 1 ns", range(Some(t + ns), None)),
        (
            "[t + 1 ns, t + 1 ms)",
            range(Some(t + ns), Some(t + Duration::from_millis(1))),
        ),
    ];
    for (what, sel) in &outside {
        assert_eq!(inbox.replay(sel).await.unwrap(), 0, "{what}");
        assert_eq!(get(&*inbox, &x).await.state, EntryState::Dead, "{what}");
    }
    let inside = [
        ("before = t + 1 ns", range(None, Some(t + ns))),
        ("after = t", range(Some(t), None)),
        ("after = t - 1 ns", range(Some(t - ns), None)),
        ("[t, t + 1 ns)", range(Some(t), Some(t + ns))),
    ];
    for (what, sel) in &inside {
        assert_eq!(inbox.replay(sel).await.unwrap(), 1, "{what}");
        assert_eq!(get(&*inbox, &x).await.state, EntryState::Pending, "{what}");
        finish(&*inbox, &x, EntryState::Dead).await;
    }
}

/// "Note the time, put, replay what was received since": an entry put right after the noted
/// time (its receive time taken by `NewEntry::new`, usually in the same millisecond) is in the
/// range, one put before it is not. SQLite kept whole milliseconds and found nothing.
pub async fn replay_since_a_noted_time_finds_what_came_after(inbox: Arc<dyn Inbox>) {
    let new = |label: &str| NewEntry::new("test", "standard", fresh_key(label), &b"{}"[..]);
    let before = accepted(&*inbox, new("since-before")).await;
    finish(&*inbox, &before, EntryState::Done).await;
    let noted = SystemTime::now();
    let after = accepted(&*inbox, new("since-after")).await;
    finish(&*inbox, &after, EntryState::Done).await;
    let range = |after: Option<SystemTime>, before: Option<SystemTime>| ReplaySelector::State {
        state: EntryState::Done,
        received_after: after,
        received_before: before,
    };
    assert_eq!(inbox.replay(&range(Some(noted), None)).await.unwrap(), 1);
    assert_eq!(get(&*inbox, &after).await.state, EntryState::Pending);
    assert_eq!(get(&*inbox, &before).await.state, EntryState::Done);
    assert_eq!(inbox.replay(&range(None, Some(noted))).await.unwrap(), 1);
    assert_eq!(get(&*inbox, &before).await.state, EntryState::Pending);
}

/// Purge's cut-off is exclusive: an entry that finished exactly `older_than` ago stays, one a
/// millisecond older goes, including for a sub-millisecond `older_than`. Only a backend whose
/// clock a test can set can put `now` on the edge, so this is not in `inbox_suite!`:
/// `set_clock` sets the time the inbox reads.
pub async fn purge_cut_off_is_exclusive(
    inbox: Arc<dyn Inbox>,
    set_clock: impl AsyncFn(SystemTime),
) {
    let t0 = ms(SystemTime::now());
    set_clock(t0).await;
    let done = accepted(&*inbox, entry("purge-edge-done", Duration::ZERO)).await;
    let dead = accepted(&*inbox, entry("purge-edge-dead", Duration::ZERO)).await;
    finish(&*inbox, &done, EntryState::Done).await;
    finish(&*inbox, &dead, EntryState::Dead).await;
    let ms1 = Duration::from_millis(1);
    set_clock(t0 + HOUR).await;
    assert_eq!(
        inbox.purge(HOUR).await.unwrap(),
        0,
        "finished exactly 1 h ago"
    );
    set_clock(t0 + HOUR + ms1).await;
    assert_eq!(
        inbox.purge(HOUR + ms1).await.unwrap(),
        0,
        "exactly 1 h 1 ms ago"
    );
    let half = Duration::from_micros(500);
    assert_eq!(
        inbox.purge(HOUR + half).await.unwrap(),
        2,
        "more than 1 h 0.5 ms ago"
    );
    assert!(inbox.get(&done).await.unwrap().is_none());
    assert!(inbox.get(&dead).await.unwrap().is_none());
}

pub async fn purge_deletes_only_old_done_and_dead_entries(inbox: Arc<dyn Inbox>) {
    let done = entry("purge-done", Duration::ZERO);
    let done_key = done.key.clone();
    let d = accepted(&*inbox, done).await;
    let x = accepted(&*inbox, entry("purge-dead", Duration::ZERO)).await;
    let p = accepted(&*inbox, entry("purge-pending", 48 * HOUR)).await;
    let r = accepted(&*inbox, entry("purge-retrying", 48 * HOUR)).await;
    finish(&*inbox, &d, EntryState::Done).await;
    finish(&*inbox, &x, EntryState::Dead).await;
    let l = lease_id(&*inbox, &r).await;
    let far = SystemTime::now() + 24 * HOUR;
    assert!(inbox
        .fail(&r, l.token, "later", AfterFailure::RetryAt(far))
        .await
        .unwrap());
    // Nothing reached done or dead an hour ago. (Received-at does not count: `p` and `r` were
    // received two days ago and must survive any purge while they wait.)
    assert_eq!(inbox.purge(HOUR).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(inbox.purge(Duration::from_secs(1)).await.unwrap(), 2);
    assert!(inbox.get(&d).await.unwrap().is_none());
    assert!(inbox.get(&x).await.unwrap().is_none());
    assert_eq!(get(&*inbox, &p).await.state, EntryState::Pending);
    assert_eq!(get(&*inbox, &r).await.state, EntryState::Retrying);
    let stats = inbox.stats().await.unwrap();
    assert_eq!(
        (stats.done, stats.dead, stats.pending, stats.retrying),
        (0, 0, 1, 1)
    );
    // A purged key no longer deduplicates.
    let again = NewEntry::new("test", "standard", done_key, Vec::new());
    assert!(inbox.put(again).await.unwrap().is_accepted());
    assert_eq!(inbox.purge(Duration::ZERO).await.unwrap(), 0);
}

pub async fn stats_count_each_state_and_the_oldest_pending_age(inbox: Arc<dyn Inbox>) {
    let empty = inbox.stats().await.unwrap();
    assert_eq!(empty.oldest_pending_age, None);
    assert_eq!(
        empty.pending + empty.leased + empty.retrying + empty.dead + empty.done,
        0
    );
    // Leased, retrying, dead and done entries, each received long ago: none counts as pending.
    let ids: Vec<_> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(accepted(&*inbox, entry(&format!("st{i}"), 10 * HOUR)).await);
        }
        v
    };
    finish(&*inbox, &ids[0], EntryState::Done).await;
    finish(&*inbox, &ids[1], EntryState::Dead).await;
    let l = lease_id(&*inbox, &ids[2]).await;
    let far = SystemTime::now() + HOUR;
    assert!(inbox
        .fail(&ids[2], l.token, "x", AfterFailure::RetryAt(far))
        .await
        .unwrap());
    let _held = lease_id(&*inbox, &ids[3]).await;
    let none_pending = inbox.stats().await.unwrap();
    assert_eq!(none_pending.oldest_pending_age, None);
    // Two pending: the older one (received 60 s ago) sets the age.
    accepted(&*inbox, entry("st-new", Duration::from_secs(10))).await;
    accepted(&*inbox, entry("st-old", Duration::from_secs(60))).await;
    let s = inbox.stats().await.unwrap();
    assert_eq!(
        (s.pending, s.leased, s.retrying, s.dead, s.done),
        (2, 1, 1, 1, 1)
    );
    for state in EntryState::ALL {
        let want = if state == EntryState::Pending { 2 } else { 1 };
        assert_eq!(s.count(state), want, "{state}");
    }
    let age = s.oldest_pending_age.expect("something pending");
    assert!(
        age >= Duration::from_secs(59) && age < Duration::from_secs(120),
        "oldest pending age {age:?}"
    );
}

pub async fn list_and_get_by_state_and_namespace(inbox: Arc<dyn Inbox>) {
    let a = accepted(&*inbox, entry("list-a", Duration::from_secs(30))).await;
    let b = accepted(&*inbox, entry("list-b", Duration::from_secs(20))).await;
    let other = NewEntry::new("sam", "sam", fresh_key("list-c"), &b"{}"[..])
        .with_received_at(ms(SystemTime::now() - Duration::from_secs(10)));
    let c = accepted(&*inbox, other).await;
    finish(&*inbox, &b, EntryState::Dead).await;

    let ids = |v: Vec<Entry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = inbox.list(&ListFilter::all()).await.unwrap();
    assert_eq!(
        ids(all),
        vec![a.clone(), b.clone(), c.clone()],
        "by received_at"
    );
    let dead = inbox
        .list(&ListFilter::state(EntryState::Dead))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, b);
    assert_eq!(dead[0].state, EntryState::Dead);
    assert_eq!(dead[0].attempts, 1);
    let pending = inbox
        .list(&ListFilter::state(EntryState::Pending))
        .await
        .unwrap();
    assert_eq!(ids(pending), vec![a.clone(), c.clone()]);
    let sam = inbox
        .list(&ListFilter::all().namespace("sam"))
        .await
        .unwrap();
    assert_eq!(ids(sam), vec![c.clone()]);
    assert_eq!(sam_vendor(&inbox, &c).await, "sam");
    let both = ListFilter::state(EntryState::Pending).namespace("test");
    assert_eq!(ids(inbox.list(&both).await.unwrap()), vec![a.clone()]);
    let first = inbox.list(&ListFilter::all().limit(2)).await.unwrap();
    assert_eq!(ids(first), vec![a.clone(), b.clone()]);
    assert!(inbox
        .list(&ListFilter::state(EntryState::Done))
        .await
        .unwrap()
        .is_empty());
    // A leased entry lists as leased.
    let l = lease_id(&*inbox, &a).await;
    let leased = inbox
        .list(&ListFilter::state(EntryState::Leased))
        .await
        .unwrap();
    assert_eq!(ids(leased), vec![a.clone()]);
    assert_eq!(get(&*inbox, &a).await.state, EntryState::Leased);
    assert!(inbox.ack(&a, l.token).await.unwrap());
}

async fn sam_vendor(inbox: &Arc<dyn Inbox>, id: &EntryId) -> String {
    get(&**inbox, id).await.vendor
}

/// A listing holds the bodies: however large the limit asked, one call returns at most
/// `MAX_LIST` entries, in order, on every backend.
pub async fn list_returns_at_most_max_list_entries(inbox: Arc<dyn Inbox>) {
    use chathooks::inbox::MAX_LIST;
    const N: usize = MAX_LIST + 50;
    put_many(&inbox, N, |i| {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(i as u64 + 1);
        NewEntry::new(
            "big",
            "standard",
            fresh_key(&format!("big-{i}")),
            &b"{}"[..],
        )
        .with_received_at(ms(at))
    })
    .await;
    assert_eq!(ListFilter::all().limit(usize::MAX).limit, MAX_LIST);
    let mut wide = ListFilter::state(EntryState::Pending);
    // The field is public: a backend must bound it itself too.
    wide.limit = usize::MAX;
    for filter in [wide, ListFilter::all().limit(usize::MAX)] {
        let got = inbox.list(&filter).await.unwrap();
        assert_eq!(got.len(), MAX_LIST, "{filter:?}");
        assert!(got.windows(2).all(|w| w[0].received_at < w[1].received_at));
        assert_eq!(
            got[0].received_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1)
        );
    }
}

pub async fn last_error_is_truncated(inbox: Arc<dyn Inbox>) {
    let id = accepted(&*inbox, entry("long-error", Duration::ZERO)).await;
    let l = lease_one(&*inbox, LONG).await;
    let long = "é".repeat(5 * MAX_ERROR_LEN);
    assert!(inbox
        .fail(&id, l.token, &long, AfterFailure::Dead)
        .await
        .unwrap());
    let kept = get(&*inbox, &id).await.last_error.unwrap();
    assert!(
        kept.len() <= MAX_ERROR_LEN && kept.len() >= MAX_ERROR_LEN - 1,
        "{}",
        kept.len()
    );
    assert!(long.starts_with(&kept));
}

pub async fn unknown_ids_are_absent_not_errors(inbox: Arc<dyn Inbox>) {
    let real = accepted(&*inbox, entry("unknown", Duration::ZERO)).await;
    let token = ClaimToken::generate();
    for raw in ["no-such-entry", "999999999", "", "1-0", "-1"] {
        let id = EntryId::new(raw);
        if id == real {
            continue;
        }
        assert!(inbox.get(&id).await.unwrap().is_none(), "{raw:?}");
        assert!(!inbox.ack(&id, token).await.unwrap(), "{raw:?}");
        assert!(!inbox.release(&id, token).await.unwrap(), "{raw:?}");
        assert!(!inbox
            .fail(&id, token, "x", AfterFailure::Dead)
            .await
            .unwrap());
        assert_eq!(inbox.replay(&ReplaySelector::id(id)).await.unwrap(), 0);
    }
    // A random token never acts on a real lease.
    let l = lease_one(&*inbox, LONG).await;
    assert!(!inbox.ack(&real, token).await.unwrap());
    assert!(inbox.ack(&real, l.token).await.unwrap());
}
