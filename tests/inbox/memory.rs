//! The behaviour suite on `MemoryInbox`, plus its own clock and bounds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chathooks::inbox::{AfterFailure, EntryState, Inbox, MemoryInbox};

use super::suite::{accepted, entry, inbox_suite};

async fn make(_test: &str) -> Option<Arc<dyn Inbox>> {
    Some(Arc::new(MemoryInbox::new()))
}

inbox_suite!(make);

/// A clock the test moves by hand.
fn manual_clock() -> (
    Arc<Mutex<SystemTime>>,
    impl Fn() -> SystemTime + Send + Sync,
) {
    let t = Arc::new(Mutex::new(SystemTime::now()));
    let read = t.clone();
    (t, move || *read.lock().unwrap())
}

#[tokio::test]
async fn an_injected_clock_drives_lease_expiry_retries_and_purge() {
    let (time, clock) = manual_clock();
    let inbox = MemoryInbox::new().with_clock(clock);
    let advance = |d: Duration| *time.lock().unwrap() += d;
    let id = accepted(&inbox, entry("clock", Duration::ZERO)).await;
    let l = inbox
        .lease(1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    advance(Duration::from_secs(29));
    assert!(inbox
        .lease(1, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
    advance(Duration::from_secs(2));
    let l2 = inbox
        .lease(1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    assert!(!inbox.ack(&id, l.token).await.unwrap());
    let due = *time.lock().unwrap() + Duration::from_secs(3600);
    assert!(inbox
        .fail(&id, l2.token, "x", AfterFailure::RetryAt(due))
        .await
        .unwrap());
    advance(Duration::from_secs(3599));
    assert!(inbox
        .lease(1, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
    advance(Duration::from_secs(1));
    let l3 = inbox
        .lease(1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    assert!(inbox.ack(&id, l3.token).await.unwrap());
    advance(Duration::from_secs(72 * 3600));
    assert_eq!(
        inbox
            .purge(Duration::from_secs(72 * 3600 + 1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        inbox
            .purge(Duration::from_secs(72 * 3600 - 1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(inbox.stats().await.unwrap().count(EntryState::Done), 0);
}

#[tokio::test]
async fn purge_cut_off_is_exclusive() {
    let (time, clock) = manual_clock();
    let inbox = MemoryInbox::new().with_clock(clock);
    let set = async |t: SystemTime| *time.lock().unwrap() = t;
    super::suite::purge_cut_off_is_exclusive(Arc::new(inbox), set).await;
}

#[test]
fn futures_are_ready_without_a_runtime() {
    let inbox = MemoryInbox::with_limits(10, 1024);
    let out = inbox.put_now(entry("sync", Duration::ZERO)).unwrap();
    assert!(out.is_accepted());
    assert_eq!(inbox.lease_now(5, Duration::from_secs(1)).len(), 1);
    assert_eq!(inbox.len(), 1);
}

/// The inbox flow's main names are at the crate root, as `Receiver` is: put through one, lease
/// through the trait, and a `Worker` over the same inbox.
#[cfg(feature = "worker")]
#[tokio::test]
async fn the_inbox_flow_is_reachable_from_the_crate_root() {
    let _: fn(chathooks::Job<chathooks::receiver::RawBody>) = |_| {};
    let inbox: Arc<dyn chathooks::Inbox> = Arc::new(chathooks::MemoryInbox::new());
    let put = inbox.put(entry("root", Duration::ZERO)).await.unwrap();
    assert!(matches!(put, chathooks::PutOutcome::Accepted(_)), "{put:?}");
    let worker = chathooks::Worker::from_arc(inbox.clone()).route_raw(
        "test",
        // No annotation: the route gives the closure its `Job<RawBody>` (without `Fn` as
        // `Handler`'s supertrait, `job.delivery_id()` does not compile: E0282).
        |job| async move {
            assert!(!job.delivery_id().is_empty());
            Ok::<(), String>(())
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while inbox.stats().await.unwrap().done == 0 {
        assert!(std::time::Instant::now() < deadline, "never handled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    run.await.unwrap();
}
