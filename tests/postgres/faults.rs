//! The server goes away and comes back: a throwaway cluster of this test's own, stopped with
//! `pg_ctl stop -m immediate` (every backend killed, like a crash) and started again.

use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimOutcome, IdempotencyKey, IdempotencyStore, PostgresStore};
use chathooks::postgres::PostgresPool;
use chathooks::Error;

use super::service::Cluster;

fn key(label: &str) -> IdempotencyKey {
    IdempotencyKey::new(
        "faults",
        &format!(
            "{label}-{}",
            chathooks::idempotency::ClaimToken::generate().to_hex()
        ),
    )
    .unwrap()
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, r: Result<T, Error>) {
    match r {
        Err(err @ Error::StoreUnavailable { .. }) => {
            assert_eq!(err.status(), 503);
            assert!(err.retry_after().is_some());
        }
        other => panic!("{what}: expected StoreUnavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_answers_unavailable_while_down_then_recovers_on_the_same_pool() {
    let Some(cluster) = Cluster::start("store_outage") else {
        return;
    };
    let pool = PostgresPool::options(&cluster.url())
        .unwrap()
        .op_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    pool.migrate().await.unwrap();
    let store = PostgresStore::new(&pool);
    let before = key("before");
    let token = match store.claim(&before, Duration::from_secs(30)).await.unwrap() {
        ClaimOutcome::Claimed(t) => t,
        other => panic!("{other:?}"),
    };
    let done = key("done");
    match store.claim(&done, Duration::from_secs(30)).await.unwrap() {
        ClaimOutcome::Claimed(t) => {
            assert!(store
                .complete(&done, t, Duration::from_secs(600))
                .await
                .unwrap())
        }
        other => panic!("{other:?}"),
    }

    cluster.stop_immediate();
    for round in 0..3 {
        let started = Instant::now();
        assert_unavailable(
            "claim",
            store.claim(&key("down"), Duration::from_secs(30)).await,
        );
        // Bounded by the operation timeout (1 s) plus slack: a dead server never hangs a call.
        assert!(started.elapsed() < Duration::from_secs(3), "round {round}");
    }
    assert_unavailable(
        "complete",
        store
            .complete(&before, token, Duration::from_secs(60))
            .await,
    );
    assert_unavailable("release", store.release(&before, token).await);

    cluster.start_again();
    let started = Instant::now();
    let fresh = key("after");
    let token = loop {
        match store.claim(&fresh, Duration::from_secs(30)).await {
            Ok(ClaimOutcome::Claimed(t)) => break t,
            Ok(other) => panic!("fresh key after restart: {other:?}"),
            Err(err) => {
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "store did not recover within 15 s: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    eprintln!("recovered {:?} after the restart", started.elapsed());
    assert!(store
        .complete(&fresh, token, Duration::from_secs(60))
        .await
        .unwrap());
    // What was committed before the crash is still there: the done key stays done.
    assert_eq!(
        store.claim(&done, Duration::from_secs(30)).await.unwrap(),
        ClaimOutcome::AlreadyDone
    );
}
