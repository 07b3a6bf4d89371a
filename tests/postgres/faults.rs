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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_answers_unavailable_while_down_and_keeps_every_accepted_put() {
    use chathooks::inbox::{Inbox, NewEntry, PutOutcome};
    use chathooks::postgres::PostgresInbox;

    let Some(cluster) = Cluster::start("inbox_outage") else {
        return;
    };
    let pool = PostgresPool::options(&cluster.url())
        .unwrap()
        .op_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    pool.migrate().await.unwrap();
    let inbox = PostgresInbox::new(&pool);
    let mut accepted = Vec::new();
    for i in 0..50 {
        let e = NewEntry::new(
            "faults",
            "standard",
            key(&format!("put{i}")),
            vec![i as u8; 64],
        );
        match inbox.put(e).await.unwrap() {
            PutOutcome::Accepted(id) => accepted.push(id),
            other => panic!("{other:?}"),
        }
    }
    let held = inbox.lease(5, Duration::from_secs(60)).await.unwrap();
    assert!(inbox.ack(&held[0].entry.id, held[0].token).await.unwrap());

    // A crash: every backend killed at once, nothing flushed on the way out.
    cluster.stop_immediate();
    let e = NewEntry::new("faults", "standard", key("down"), &b"{}"[..]);
    assert_unavailable("put", inbox.put(e).await);
    assert_unavailable("lease", inbox.lease(10, Duration::from_secs(60)).await);
    assert_unavailable("ack", inbox.ack(&held[1].entry.id, held[1].token).await);
    assert_unavailable("stats", inbox.stats().await);

    cluster.start_again();
    let started = Instant::now();
    let stats = loop {
        match inbox.stats().await {
            Ok(s) => break s,
            Err(err) => {
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "no recovery: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Every put that answered Accepted survived the crash; the acked one stayed done; the
    // other four leases are still held (their tokens still work).
    assert_eq!(stats.done, 1);
    assert_eq!(stats.leased, 4);
    assert_eq!(stats.pending, 45);
    for id in &accepted {
        let got = inbox
            .get(id)
            .await
            .unwrap()
            .expect("accepted entry survived");
        assert_eq!(got.body.len(), 64);
    }
    assert!(inbox.ack(&held[1].entry.id, held[1].token).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_built_while_the_server_is_down_works_once_it_is_up() {
    let Some(cluster) = Cluster::start("pool_before_server") else {
        return;
    };
    cluster.stop_immediate();
    let pool = PostgresPool::options(&cluster.url())
        .unwrap()
        .op_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert_unavailable("migrate", pool.migrate().await);
    cluster.start_again();
    let started = Instant::now();
    while let Err(err) = pool.migrate().await {
        assert!(started.elapsed() < Duration::from_secs(15), "{err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.check_schema().await.unwrap();
}
