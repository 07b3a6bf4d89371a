//! The behaviour every `IdempotencyStore` must have. `behaviour_suite!(make)` expands to one
//! test per behaviour; `make` is an async fn returning `Option<Arc<dyn IdempotencyStore>>`
//! (`None`: the store is not available here and the test was reported as skipped).

use std::sync::Arc;
use std::time::Duration;

use chathooks::idempotency::{ClaimOutcome, ClaimToken, Dedupe, IdempotencyStore};
use chathooks::Error;
use tokio::sync::Barrier;

use super::support::{claim_within, claimed, fresh_key};

const LONG: Duration = Duration::from_secs(60);

macro_rules! behaviour_suite {
    ($make:path) => {
        behaviour_suite!(@one $make, concurrent_claims_have_exactly_one_winner);
        behaviour_suite!(@one $make, release_lets_the_next_claim_in);
        behaviour_suite!(@one $make, complete_means_already_done_until_the_window_ends);
        behaviour_suite!(@one $make, an_expired_lease_is_reclaimable);
        behaviour_suite!(@one $make, a_stale_token_cannot_complete_or_release);
        behaviour_suite!(@one $make, dedupe_maps_outcomes_to_errors_and_none);
        behaviour_suite!(@one $make, dropped_guard_keeps_the_key_until_the_lease_ends);
        behaviour_suite!(@one $make, guard_in_a_panicking_task_releases_the_key);
        behaviour_suite!(@one $make, guard_in_a_cancelled_task_keeps_the_key_until_the_lease_ends);
        behaviour_suite!(@one $make, completed_or_released_guard_is_final);
    };
    (@one $make:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some(store) = $make(stringify!($name)).await {
                $crate::idempotency::suite::$name(store).await;
            }
        }
    };
}
pub(crate) use behaviour_suite;

pub async fn concurrent_claims_have_exactly_one_winner(store: Arc<dyn IdempotencyStore>) {
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

pub async fn release_lets_the_next_claim_in(store: Arc<dyn IdempotencyStore>) {
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

pub async fn complete_means_already_done_until_the_window_ends(store: Arc<dyn IdempotencyStore>) {
    let key = fresh_key("done");
    let token = claimed(store.claim(&key, LONG).await.unwrap());
    assert!(store
        .complete(&key, token, Duration::from_millis(800))
        .await
        .unwrap());
    for _ in 0..3 {
        assert_eq!(
            store.claim(&key, LONG).await.unwrap(),
            ClaimOutcome::AlreadyDone
        );
    }
    // A done key cannot be released or completed again, even with the token that completed it.
    assert!(!store.release(&key, token).await.unwrap());
    assert!(!store.complete(&key, token, LONG).await.unwrap());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    claimed(store.claim(&key, LONG).await.unwrap());
}

pub async fn an_expired_lease_is_reclaimable(store: Arc<dyn IdempotencyStore>) {
    let key = fresh_key("lease");
    let lease = Duration::from_millis(500);
    claimed(store.claim(&key, lease).await.unwrap());
    match store.claim(&key, lease).await.unwrap() {
        ClaimOutcome::InFlight { retry_after } => assert!(retry_after <= lease),
        other => panic!("expected InFlight, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    claimed(store.claim(&key, lease).await.unwrap());
}

pub async fn a_stale_token_cannot_complete_or_release(store: Arc<dyn IdempotencyStore>) {
    let key = fresh_key("stale");
    let stale = claimed(store.claim(&key, Duration::from_millis(300)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(450)).await;
    // The crashed worker's lease ended: another worker takes over.
    let current = claimed(store.claim(&key, LONG).await.unwrap());
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

pub async fn dedupe_maps_outcomes_to_errors_and_none(store: Arc<dyn IdempotencyStore>) {
    let dedupe = Dedupe::from_arc(store).with_lease(Duration::from_millis(1500));
    let key = fresh_key("dedupe");
    let claim = dedupe.claim(&key).await.unwrap().expect("first claim");
    assert_eq!(claim.key(), &key);
    match dedupe.claim(&key).await {
        Err(err @ Error::InFlight { .. }) => {
            assert_eq!(err.status(), 409);
            // Rounded up to whole seconds for Retry-After.
            let after = err.retry_after().unwrap();
            assert!(after >= Duration::from_secs(1) && after <= Duration::from_secs(2));
            assert_eq!(after.subsec_nanos(), 0);
        }
        other => panic!("expected Error::InFlight, got {other:?}"),
    }
    assert!(claim.complete().await.unwrap());
    assert!(dedupe.claim(&key).await.unwrap().is_none());
}

/// Issue 13 finding 7: a guard dropped without a panic (cancelled, forgotten) is not
/// released; the key frees itself when the lease ends.
pub async fn dropped_guard_keeps_the_key_until_the_lease_ends(store: Arc<dyn IdempotencyStore>) {
    let dedupe = Dedupe::from_arc(store.clone()).with_lease(Duration::from_secs(1));
    let key = fresh_key("drop");
    let claim = dedupe.claim(&key).await.unwrap().expect("first claim");
    drop(claim);
    // Give a (wrong) background release every chance to run first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        store.claim(&key, LONG).await.unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    claim_within(&*store, &key, Duration::from_secs(5)).await;
}

pub async fn guard_in_a_panicking_task_releases_the_key(store: Arc<dyn IdempotencyStore>) {
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
) {
    let dedupe = Dedupe::from_arc(store.clone()).with_lease(Duration::from_secs(1));
    let key = fresh_key("cancel");
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
    claim_within(&*store, &key, Duration::from_secs(5)).await;
}

pub async fn completed_or_released_guard_is_final(store: Arc<dyn IdempotencyStore>) {
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
