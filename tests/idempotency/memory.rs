//! The behaviour suite on `MemoryStore`, plus what it does without any async runtime.

use std::sync::Arc;
use std::time::Duration;

use chathooks::idempotency::{ClaimOutcome, Dedupe, IdempotencyStore, MemoryStore};

use super::suite::{behaviour_suite, Time};
use super::support::{claimed, fresh_key, now};

/// The memory store on a clock the suite moves: leases and windows end to the millisecond,
/// without sleeping.
async fn make(_test: &str) -> Option<(Arc<dyn IdempotencyStore>, Time)> {
    let (time, clock) = Time::manual();
    Some((Arc::new(MemoryStore::default().with_clock(clock)), time))
}

behaviour_suite!(clocked make);

#[test]
fn guard_dropped_by_a_panicking_thread_releases_without_a_runtime() {
    let store = Arc::new(MemoryStore::default());
    let dedupe = Dedupe::from_arc(store.clone());
    let key = fresh_key("thread-panic");
    let worker = {
        let (dedupe, key) = (dedupe.clone(), key.clone());
        std::thread::spawn(move || {
            let _claim = now(dedupe.claim(&key)).unwrap().expect("first claim");
            panic!("handler panicked (expected by the test)");
        })
    };
    assert!(worker.join().is_err());
    // Released synchronously inside Drop: free at once, no lease wait, no runtime.
    claimed(store.claim_now(&key, Duration::from_secs(30)).unwrap());
}

#[test]
fn sync_api_matches_the_trait() {
    let store = MemoryStore::new(1000);
    let key = fresh_key("sync");
    let t = claimed(store.claim_now(&key, Duration::from_secs(30)).unwrap());
    assert!(matches!(
        now(store.claim(&key, Duration::from_secs(30))).unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    assert!(store
        .complete_now(&key, t, Duration::from_secs(60))
        .unwrap());
    assert_eq!(
        now(store.claim(&key, Duration::from_secs(30))).unwrap(),
        ClaimOutcome::AlreadyDone
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn many_threads_on_one_key_have_one_winner() {
    let store = Arc::new(MemoryStore::default());
    let key = fresh_key("threads");
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..100)
                    .filter(|_| {
                        matches!(
                            store.claim_now(&key, Duration::from_secs(60)).unwrap(),
                            ClaimOutcome::Claimed(_)
                        )
                    })
                    .count()
            })
        })
        .collect();
    let wins: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(wins, 1);
}
