//! The behaviour every `IdempotencyStore` must have. `behaviour_suite!(make)` expands to one
//! test per behaviour; `make` is an async fn returning `Option<Arc<dyn IdempotencyStore>>`
//! (`None`: the store is not available here and the test was reported as skipped), and time
//! is real. `behaviour_suite!(clocked make)` takes `Option<(store, Time)>` instead, for a store
//! whose clock the test moves (the memory store): expiry is then checked to the millisecond,
//! with no sleeps at all.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chathooks::idempotency::{ClaimOutcome, ClaimToken, Dedupe, IdempotencyKey, IdempotencyStore};
use chathooks::Error;
use tokio::sync::Barrier;

use super::support::{claim_within, claimed, fresh_key};

const LONG: Duration = Duration::from_secs(60);

/// The clock a suite run uses.
#[derive(Clone)]
pub enum Time {
    /// Wall-clock time (Redis, Postgres): margins are wide, and expiry is awaited by polling.
    Real,
    /// A clock the test moves by hand, injected into the store.
    Manual(Arc<Mutex<SystemTime>>),
}

/// A point in a run's time, taken just before an operation that starts a lease or window.
pub enum Mark {
    Real(Instant),
    Manual(SystemTime),
}

impl Time {
    /// A manual clock, and the reader to inject into the store.
    pub fn manual() -> (Time, impl Fn() -> SystemTime + Send + Sync + 'static) {
        let t = Arc::new(Mutex::new(SystemTime::now()));
        let read = t.clone();
        (Time::Manual(t), move || *read.lock().unwrap())
    }

    /// A lease or window that must still hold for the next few store calls: seconds of real
    /// time (a loaded machine must never outlast it between two calls), any length on a
    /// manual clock.
    pub fn hold(&self) -> Duration {
        match self {
            Time::Real => Duration::from_secs(2),
            Time::Manual(_) => Duration::from_millis(500),
        }
    }

    pub fn mark(&self) -> Mark {
        match self {
            Time::Real => Mark::Real(Instant::now()),
            Time::Manual(t) => Mark::Manual(*t.lock().unwrap()),
        }
    }

    /// `key` was claimed or completed for `held` at `mark`: check it stays taken until then
    /// and is free after, and claim it (lease `LONG`). A manual clock checks the exact
    /// millisecond; real time polls and checks the key did not free itself early.
    pub async fn until_free(
        &self,
        store: &dyn IdempotencyStore,
        key: &IdempotencyKey,
        held: Duration,
        mark: Mark,
    ) -> ClaimToken {
        match (self, mark) {
            (Time::Manual(t), Mark::Manual(at)) => {
                *t.lock().unwrap() = at + held - Duration::from_millis(1);
                let before = store.claim(key, LONG).await.unwrap();
                assert!(
                    !matches!(before, ClaimOutcome::Claimed(_)),
                    "{key} free a millisecond before its {held:?} ended"
                );
                *t.lock().unwrap() = at + held;
                claimed(store.claim(key, LONG).await.unwrap())
            }
            (Time::Real, Mark::Real(at)) => {
                let token = claim_within(store, key, held + Duration::from_secs(15)).await;
                // Millisecond expiry on the server; allow for rounding, never for early expiry.
                assert!(
                    at.elapsed() + Duration::from_millis(50) >= held,
                    "{key} free after {:?}, before its {held:?} ended",
                    at.elapsed()
                );
                token
            }
            _ => unreachable!("a mark comes from the same Time"),
        }
    }
}

macro_rules! behaviour_suite {
    ($make:path) => {
        behaviour_suite!(@all real $make);
    };
    (clocked $make:path) => {
        behaviour_suite!(@all clocked $make);
    };
    (@all $how:ident $make:path) => {
        behaviour_suite!(@one $how $make, concurrent_claims_have_exactly_one_winner);
        behaviour_suite!(@one $how $make, release_lets_the_next_claim_in);
        behaviour_suite!(@one $how $make, complete_means_already_done_until_the_window_ends);
        behaviour_suite!(@one $how $make, an_expired_lease_is_reclaimable);
        behaviour_suite!(@one $how $make, a_stale_token_cannot_complete_or_release);
        behaviour_suite!(@one $how $make, dedupe_maps_outcomes_to_errors_and_none);
        behaviour_suite!(@one $how $make, dropped_guard_keeps_the_key_until_the_lease_ends);
        behaviour_suite!(@one $how $make, guard_in_a_panicking_task_releases_the_key);
        behaviour_suite!(@one $how $make, guard_in_a_cancelled_task_keeps_the_key_until_the_lease_ends);
        behaviour_suite!(@one $how $make, completed_or_released_guard_is_final);
    };
    (@one real $make:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some(store) = $make(stringify!($name)).await {
                $crate::idempotency::suite::$name(store, $crate::idempotency::suite::Time::Real)
                    .await;
            }
        }
    };
    (@one clocked $make:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some((store, time)) = $make(stringify!($name)).await {
                $crate::idempotency::suite::$name(store, time).await;
            }
        }
    };
}
pub(crate) use behaviour_suite;

pub async fn concurrent_claims_have_exactly_one_winner(
    store: Arc<dyn IdempotencyStore>,
    _time: Time,
) {
    let key = fresh_key("race");
    let barrier = Arc::new(Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim(&key, LONG).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap() {
            ClaimOutcome::Claimed(_) => winners += 1,
            ClaimOutcome::InFlight { retry_after } => {
                assert!(retry_after > Duration::ZERO && retry_after <= LONG)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1, "exactly one of 64 concurrent claims must win");
}

pub async fn release_lets_the_next_claim_in(store: Arc<dyn IdempotencyStore>, _time: Time) {
    let key = fresh_key("release");
    let first = claimed(store.claim(&key, LONG).await.unwrap());
    assert!(matches!(
        store.claim(&key, LONG).await.unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    assert!(store.release(&key, first).await.unwrap());
    let second = claimed(store.claim(&key, LONG).await.unwrap());
    assert_ne!(first, second, "every claim gets a fresh token");
    // Releasing twice is a no-op the second time.
    assert!(store.release(&key, second).await.unwrap());
    assert!(!store.release(&key, second).await.unwrap());
}

pub async fn complete_means_already_done_until_the_window_ends(
    store: Arc<dyn IdempotencyStore>,
    time: Time,
) {
    let key = fresh_key("done");
    let token = claimed(store.claim(&key, LONG).await.unwrap());
    let window = time.hold();
    let mark = time.mark();
    assert!(store.complete(&key, token, window).await.unwrap());
    for _ in 0..3 {
        assert_eq!(
            store.claim(&key, LONG).await.unwrap(),
            ClaimOutcome::AlreadyDone
        );
    }
    // A done key cannot be released or completed again, even with the token that completed it.
    assert!(!store.release(&key, token).await.unwrap());
    assert!(!store.complete(&key, token, LONG).await.unwrap());
    time.until_free(&*store, &key, window, mark).await;
}

pub async fn an_expired_lease_is_reclaimable(store: Arc<dyn IdempotencyStore>, time: Time) {
    let key = fresh_key("lease");
    let lease = time.hold();
    let mark = time.mark();
    claimed(store.claim(&key, lease).await.unwrap());
    match store.claim(&key, lease).await.unwrap() {
        ClaimOutcome::InFlight { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= lease)
        }
        other => panic!("expected InFlight, got {other:?}"),
    }
    time.until_free(&*store, &key, lease, mark).await;
}

pub async fn a_stale_token_cannot_complete_or_release(
    store: Arc<dyn IdempotencyStore>,
    time: Time,
) {
    let key = fresh_key("stale");
    let lease = time.hold();
    let mark = time.mark();
    let stale = claimed(store.claim(&key, lease).await.unwrap());
    // The crashed worker's lease ended: another worker takes over.
    let current = time.until_free(&*store, &key, lease, mark).await;
    assert!(!store.complete(&key, stale, LONG).await.unwrap());
    assert!(!store.release(&key, stale).await.unwrap());
    // A token that was never issued for this key is just as powerless.
    let forged = ClaimToken::generate();
    assert!(!store.complete(&key, forged, LONG).await.unwrap());
    assert!(!store.release(&key, forged).await.unwrap());
    // The current holder is untouched.
    assert!(matches!(
        store.claim(&key, LONG).await.unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    assert!(store.complete(&key, current, LONG).await.unwrap());
    assert_eq!(
        store.claim(&key, LONG).await.unwrap(),
        ClaimOutcome::AlreadyDone
    );
    // A stale token does not work on a key that is not held at all either.
    let other = fresh_key("stale-absent");
    assert!(!store.complete(&other, stale, LONG).await.unwrap());
    assert!(!store.release(&other, stale).await.unwrap());
}

pub async fn dedupe_maps_outcomes_to_errors_and_none(store: Arc<dyn IdempotencyStore>, time: Time) {
    // On a manual clock the time left is exactly the lease; in real time a loaded machine may
    // take seconds between two calls, so the lease is long and the bound loose.
    let (lease, least) = match time {
        Time::Manual(_) => (Duration::from_millis(1500), Duration::from_secs(2)),
        Time::Real => (Duration::from_secs(20), Duration::from_secs(1)),
    };
    let dedupe = Dedupe::from_arc(store).with_lease(lease);
    let key = fresh_key("dedupe");
    let claim = dedupe.claim(&key).await.unwrap().expect("first claim");
    assert_eq!(claim.key(), &key);
    match dedupe.claim(&key).await {
        Err(err @ Error::InFlight { .. }) => {
            assert_eq!(err.status(), 409);
            // Rounded up to whole seconds for Retry-After (1.5 s left reads 2 s).
            let after = err.retry_after().unwrap();
            let most = Duration::from_secs(lease.as_millis().div_ceil(1000) as u64);
            assert!(after >= least && after <= most, "{after:?}");
            assert_eq!(after.subsec_nanos(), 0);
        }
        other => panic!("expected Error::InFlight, got {other:?}"),
    }
    assert!(claim.complete().await.unwrap());
    assert!(dedupe.claim(&key).await.unwrap().is_none());
}

/// Issue 13 finding 7: a guard dropped without a panic (cancelled, forgotten) is not
/// released; the key frees itself when the lease ends.
pub async fn dropped_guard_keeps_the_key_until_the_lease_ends(
    store: Arc<dyn IdempotencyStore>,
    time: Time,
) {
    let lease = time.hold();
    let dedupe = Dedupe::from_arc(store.clone()).with_lease(lease);
    let key = fresh_key("drop");
    let mark = time.mark();
    let claim = dedupe.claim(&key).await.unwrap().expect("first claim");
    drop(claim);
    // Give a (wrong) background release every chance to run first (a real task, so real time).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        store.claim(&key, LONG).await.unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    time.until_free(&*store, &key, lease, mark).await;
}

pub async fn guard_in_a_panicking_task_releases_the_key(
    store: Arc<dyn IdempotencyStore>,
    _time: Time,
) {
    let dedupe = Dedupe::from_arc(store.clone());
    let key = fresh_key("panic");
    let task = {
        let (dedupe, key) = (dedupe.clone(), key.clone());
        tokio::spawn(async move {
            let _claim = dedupe.claim(&key).await.unwrap().expect("first claim");
            panic!("handler panicked (expected by the test)");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    claim_within(&*store, &key, Duration::from_secs(2)).await;
}

/// Issue 13 finding 7: cancelling the task that holds a claim (a client disconnecting
/// mid-handler) keeps the key until the lease ends, so a captured delivery cannot be started
/// again and again by sending it and hanging up.
pub async fn guard_in_a_cancelled_task_keeps_the_key_until_the_lease_ends(
    store: Arc<dyn IdempotencyStore>,
    time: Time,
) {
    let lease = time.hold();
    let dedupe = Dedupe::from_arc(store.clone()).with_lease(lease);
    let key = fresh_key("cancel");
    let mark = time.mark();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = {
        let (dedupe, key) = (dedupe.clone(), key.clone());
        tokio::spawn(async move {
            let _claim = dedupe.claim(&key).await.unwrap().expect("first claim");
            let _ = tx.send(());
            std::future::pending::<()>().await;
        })
    };
    rx.await.unwrap();
    assert!(matches!(
        store.claim(&key, LONG).await.unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        matches!(
            store.claim(&key, LONG).await.unwrap(),
            ClaimOutcome::InFlight { .. }
        ),
        "a cancelled claim must hold its key until the lease ends"
    );
    time.until_free(&*store, &key, lease, mark).await;
}

pub async fn completed_or_released_guard_is_final(store: Arc<dyn IdempotencyStore>, _time: Time) {
    let dedupe = Dedupe::from_arc(store.clone());
    let done = fresh_key("guard-done");
    assert!(dedupe
        .claim(&done)
        .await
        .unwrap()
        .unwrap()
        .complete()
        .await
        .unwrap());
    // Give a (wrong) background release every chance to run: the key must stay done.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(dedupe.claim(&done).await.unwrap().is_none());

    let freed = fresh_key("guard-release");
    assert!(dedupe
        .claim(&freed)
        .await
        .unwrap()
        .unwrap()
        .release()
        .await
        .unwrap());
    let again = dedupe
        .claim(&freed)
        .await
        .unwrap()
        .expect("released key is free");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The first guard's release must not have freed the second claim.
    assert!(matches!(
        dedupe.claim(&freed).await,
        Err(Error::InFlight { .. })
    ));
    assert!(again.complete().await.unwrap());
}
