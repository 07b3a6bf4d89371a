//! `Worker`: typed routes, retries with backoff, dead letters (parse failures at once, poison
//! entries after the last attempt), panics, unrouted namespaces, graceful shutdown, inbox
//! outages, and the handler span.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chathooks::idempotency::IdempotencyKey;
use chathooks::inbox::{EntryState, Inbox, ListFilter, MemoryInbox, NewEntry};
use chathooks::platform::sam::SamEvent;
use chathooks::platform::standard::StandardEvent;
use chathooks::receiver::Payload;
use chathooks::receiver::RawBody;
use chathooks::verify::HmacSha256;
use chathooks::worker::{DeadLetter, Job, RetryPolicy, Worker, WorkerReport};
use chathooks::{Inbound, Receiver, Secret};

/// `StandardEvent`'s default namespace (the vendor's name).
const NS: &str = "standard_webhooks";
const BODY: &[u8] = br#"{"type":"contact.created","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;

fn standard(id: &str) -> NewEntry {
    NewEntry::new(NS, NS, IdempotencyKey::new(NS, id).unwrap(), BODY).with_signed_delivery_id(id)
}

fn quick_retries(n: usize) -> RetryPolicy {
    RetryPolicy::default()
        .schedule(vec![Duration::from_millis(20); n])
        .unwrap()
        .jitter(0.0)
        .unwrap()
}

/// Resolves once the inbox holds `done` done and `dead` dead entries.
async fn settled(inbox: Arc<dyn Inbox>, done: u64, dead: u64) {
    loop {
        // An unavailable inbox (the outage test) is simply asked again.
        if let Ok(s) = inbox.stats().await {
            if s.done == done && s.dead == dead {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn run_until(worker: Worker, inbox: Arc<dyn Inbox>, done: u64, dead: u64) -> WorkerReport {
    tokio::time::timeout(
        Duration::from_secs(20),
        worker.run(settled(inbox, done, dead)),
    )
    .await
    .expect("worker settled in time")
}

/// One `#[tokio::test]` per backend this build has (memory; SQLite on a temp file; Redis and
/// Postgres when their services run), each running `$test(inbox)`; `$label` names the Redis
/// prefix and the Postgres schema.
macro_rules! on_every_backend {
    ($test:ident, $label:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn memory() {
            $test(Arc::new(MemoryInbox::new())).await;
        }

        #[cfg(feature = "sqlite")]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            let dir = crate::inbox::sqlite::TempDir::new($label);
            let inbox = chathooks::inbox::SqliteInbox::open(dir.file("inbox.sqlite")).unwrap();
            $test(Arc::new(inbox)).await;
        }

        #[cfg(feature = "redis")]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn redis() {
            let Some(url) = crate::services::redis::url($label) else {
                return;
            };
            let prefix = format!(
                "chathooks-test:{}:{}:",
                $label,
                &chathooks::idempotency::ClaimToken::generate().to_hex()[..12]
            );
            let inbox = chathooks::inbox::RedisInbox::connect(&url)
                .await
                .unwrap()
                .with_prefix(prefix);
            $test(Arc::new(inbox)).await;
        }

        #[cfg(feature = "postgres")]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            let Some(pool) = crate::postgres::service::fresh_schema_pool($label).await else {
                return;
            };
            $test(Arc::new(chathooks::postgres::PostgresInbox::new(&pool))).await;
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_route_handles_and_acks_each_entry_once() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    for i in 0..50 {
        inbox.put(standard(&format!("msg_{i}"))).await.unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(move |job: Job<StandardEvent>| {
            let s = s.clone();
            async move {
                assert_eq!(job.event().event_type, "contact.created");
                assert_eq!(job.attempt(), 1);
                s.lock().unwrap().push(job.delivery_id().to_owned());
                Ok::<(), String>(())
            }
        })
        .concurrency(8);
    let report = run_until(worker, inbox.clone(), 50, 0).await;
    assert_eq!(report.handled, 50);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50, "each entry handled once");
    assert_eq!(inbox.stats().await.unwrap().done, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_retry_on_the_schedule_then_succeed() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let id = inbox.put(standard("flaky")).await.unwrap().id().clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(|job: Job<StandardEvent>| async move {
            if job.attempt() < 3 {
                Err(format!("attempt {} failed", job.attempt()))
            } else {
                Ok(())
            }
        })
        .retry(quick_retries(5))
        .idle_poll(Duration::from_millis(5));
    let report = run_until(worker, inbox.clone(), 1, 0).await;
    assert_eq!((report.handled, report.retried, report.dead), (1, 2, 0));
    let e = inbox.get(&id).await.unwrap().unwrap();
    assert_eq!(e.state, EntryState::Done);
    assert_eq!(e.attempts, 3, "two failed, the third handled");
    assert_eq!(e.last_error.as_deref(), Some("attempt 2 failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_dies_after_max_attempts_without_blocking_the_others() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let poison = inbox.put(standard("poison")).await.unwrap().id().clone();
    for i in 0..20 {
        inbox.put(standard(&format!("ok_{i}"))).await.unwrap();
    }
    let letters = Arc::new(Mutex::new(Vec::<DeadLetter>::new()));
    let l = letters.clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(|job: Job<StandardEvent>| async move {
            if job.delivery_id() == "poison" {
                Err("downstream rejected it")
            } else {
                Ok(())
            }
        })
        .retry(quick_retries(2))
        .idle_poll(Duration::from_millis(5))
        .concurrency(1)
        .on_dead_letter(move |letter: DeadLetter| {
            let l = l.clone();
            async move { l.lock().unwrap().push(letter) }
        });
    let report = run_until(worker, inbox.clone(), 20, 1).await;
    assert_eq!((report.handled, report.dead, report.retried), (20, 1, 2));
    let dead = inbox.get(&poison).await.unwrap().unwrap();
    assert_eq!(dead.state, EntryState::Dead);
    assert_eq!(dead.attempts, 3, "max attempts = 1 + 2 retries");
    let letters = letters.lock().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].entry.id, poison);
    assert_eq!(letters[0].reason, "downstream rejected it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_entries_are_dead_at_once_with_the_json_path() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let bad = NewEntry::new(
        NS,
        NS,
        IdempotencyKey::new(NS, "bad").unwrap(),
        &br#"{"type":"x","timestamp":"2023-11-14T22:13:20Z","data":{},"#[..],
    );
    let typed = NewEntry::new(
        NS,
        NS,
        IdempotencyKey::new(NS, "typed").unwrap(),
        &br#"{"type":"x","timestamp":{"not":"a time"},"data":{}}"#[..],
    );
    let bad = inbox.put(bad).await.unwrap().id().clone();
    let typed = inbox.put(typed).await.unwrap().id().clone();
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(move |_job: Job<StandardEvent>| {
            r.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), String>(()) }
        })
        .retry(quick_retries(5));
    let report = run_until(worker, inbox.clone(), 0, 2).await;
    assert_eq!(report.dead, 2);
    assert_eq!(report.retried, 0, "a parse failure is never retried");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler never ran");
    for id in [&bad, &typed] {
        let e = inbox.get(id).await.unwrap().unwrap();
        assert_eq!((e.state, e.attempts), (EntryState::Dead, 1));
        assert!(e.last_error.as_deref().unwrap().starts_with("cannot parse"));
    }
    let err = inbox
        .get(&typed)
        .await
        .unwrap()
        .unwrap()
        .last_error
        .unwrap();
    assert!(err.contains("timestamp"), "names the bad field: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_failed_attempt() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let id = inbox
        .put(standard("panics-once"))
        .await
        .unwrap()
        .id()
        .clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(|job: Job<StandardEvent>| async move {
            if job.attempt() == 1 {
                panic!("boom in the handler (expected by the test)");
            }
            Ok::<(), String>(())
        })
        .retry(quick_retries(3))
        .idle_poll(Duration::from_millis(5));
    let report = run_until(worker, inbox.clone(), 1, 0).await;
    assert_eq!((report.panics, report.retried, report.handled), (1, 1, 1));
    let e = inbox.get(&id).await.unwrap().unwrap();
    assert!(e.last_error.unwrap().contains("handler panicked: boom"));
    // An error that merely reads like a panic is not counted as one.
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    inbox.put(standard("says-panicked")).await.unwrap();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(|job: Job<StandardEvent>| async move {
            if job.attempt() == 1 {
                return Err("handler panicked: no, it only says so".to_owned());
            }
            Ok(())
        })
        .retry(quick_retries(3))
        .idle_poll(Duration::from_millis(5));
    let report = run_until(worker, inbox.clone(), 1, 0).await;
    assert_eq!((report.panics, report.retried, report.handled), (0, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_namespaces_retry_then_die_and_custom_namespaces_route() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let orphan = NewEntry::new(
        "nobody",
        "standard",
        IdempotencyKey::new("nobody", "1").unwrap(),
        BODY,
    );
    let orphan = inbox.put(orphan).await.unwrap().id().clone();
    let tenant = NewEntry::new(
        "standard:billing",
        "standard",
        IdempotencyKey::new("standard:billing", "t1").unwrap(),
        &b"\xff not json"[..],
    );
    inbox.put(tenant).await.unwrap();
    let raw = Arc::new(Mutex::new(Vec::new()));
    let r = raw.clone();
    let worker = Worker::from_arc(inbox.clone())
        .route_raw("standard:billing", move |job: Job<RawBody>| {
            r.lock().unwrap().push(job.event().0.clone());
            async { Ok::<(), String>(()) }
        })
        .retry(quick_retries(1))
        .idle_poll(Duration::from_millis(5));
    run_until(worker, inbox.clone(), 1, 1).await;
    assert_eq!(&raw.lock().unwrap()[0][..], b"\xff not json");
    let e = inbox.get(&orphan).await.unwrap().unwrap();
    assert_eq!((e.state, e.attempts), (EntryState::Dead, 2));
    assert!(e
        .last_error
        .unwrap()
        .contains("no route for namespace `nobody`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_quick_handlers_finish_and_releases_slow_ones() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let slow = inbox.put(standard("slow")).await.unwrap().id().clone();
    let quick = inbox.put(standard("quick")).await.unwrap().id().clone();
    let started = Arc::new(AtomicU32::new(0));
    let s = started.clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(move |job: Job<StandardEvent>| {
            s.fetch_add(1, Ordering::SeqCst);
            async move {
                let secs = if job.delivery_id() == "slow" { 30 } else { 1 };
                tokio::time::sleep(Duration::from_millis(secs * 300)).await;
                Ok::<(), String>(())
            }
        })
        .shutdown_deadline(Duration::from_millis(1500));
    let st = started.clone();
    let report = worker
        .run(async move {
            while st.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    assert_eq!((report.handled, report.released), (1, 1));
    assert_eq!(
        inbox.get(&quick).await.unwrap().unwrap().state,
        EntryState::Done
    );
    let e = inbox.get(&slow).await.unwrap().unwrap();
    assert_eq!(
        (e.state, e.attempts),
        (EntryState::Pending, 0),
        "released, not failed"
    );
    // Nothing is leased any more, and the released entry is due at once.
    assert_eq!(inbox.stats().await.unwrap().leased, 0);
    assert_eq!(
        inbox.lease(10, Duration::from_secs(5)).await.unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_outliving_its_timeout_is_stopped_and_retried() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let id = inbox
        .put(standard("hangs-once"))
        .await
        .unwrap()
        .id()
        .clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(|job: Job<StandardEvent>| async move {
            if job.attempt() == 1 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<(), String>(())
        })
        .handler_timeout(Duration::from_millis(200))
        .retry(quick_retries(2))
        .idle_poll(Duration::from_millis(5));
    let report = run_until(worker, inbox.clone(), 1, 0).await;
    assert_eq!((report.retried, report.handled), (1, 1));
    let e = inbox.get(&id).await.unwrap().unwrap();
    assert!(e.last_error.unwrap().contains("timed out"));
}

/// A handler timeout longer than the lease is cut to the lease less a tenth: otherwise the
/// worker's own next lease would take the entry over and run it a second time alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_timeout_past_the_lease_stops_at_the_lease() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let id = inbox.put(standard("outlives")).await.unwrap().id().clone();
    let (running, most) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (r, m) = (running.clone(), most.clone());
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(move |job: Job<StandardEvent>| {
            let (r, m) = (r.clone(), m.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                // Decremented on return and when the timeout drops this future.
                struct Done(Arc<AtomicU32>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let _done = Done(r);
                if job.attempt() == 1 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok::<(), String>(())
            }
        })
        .lease(Duration::from_secs(1))
        .handler_timeout(Duration::from_secs(3600))
        .retry(quick_retries(2))
        .idle_poll(Duration::from_millis(5));
    let report = run_until(worker, inbox.clone(), 1, 0).await;
    assert_eq!((report.retried, report.handled), (1, 1), "{report:?}");
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "never two runs of one entry at once"
    );
    let e = inbox.get(&id).await.unwrap().unwrap();
    let err = e.last_error.unwrap();
    assert!(err.contains("timed out after 0.9 s"), "{err}");
}

/// A `Payload` is user code: one whose parse panics is a failed attempt (retried, then dead),
/// not a job task lost with its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_panics_while_parsing_is_a_failed_attempt() {
    struct Panics;
    impl Payload for Panics {
        const VENDOR: chathooks::event::Vendor = chathooks::event::Vendor::StandardWebhooks;
        fn parse(_body: &[u8]) -> Result<Self, chathooks::ParseError> {
            panic!("parse panicked (expected by the test)")
        }
        fn event_id(&self) -> Option<std::borrow::Cow<'_, str>> {
            None
        }
        fn name(&self) -> std::borrow::Cow<'_, str> {
            "panics".into()
        }
    }
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let id = inbox
        .put(standard("bad-parser"))
        .await
        .unwrap()
        .id()
        .clone();
    let worker = Worker::from_arc(inbox.clone())
        .route::<Panics, _>(|_job: Job<Panics>| async { Ok::<(), String>(()) })
        .retry(quick_retries(1))
        .idle_poll(Duration::from_millis(5));
    let report = run_until(worker, inbox.clone(), 0, 1).await;
    assert_eq!(
        (report.retried, report.dead, report.panics),
        (1, 1, 2),
        "{report:?}"
    );
    let e = inbox.get(&id).await.unwrap().unwrap();
    assert_eq!((e.state, e.attempts), (EntryState::Dead, 2));
    assert!(e.last_error.unwrap().contains("parse panicked"));
}

#[test]
fn the_handler_span_carries_the_delivery_id() {
    let ((), out) = crate::support::logs::capture_logs(|| async {
        let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
        inbox.put(standard("msg_span_42")).await.unwrap();
        let worker = Worker::from_arc(inbox.clone()).route::<StandardEvent, _>(
            |_job: Job<StandardEvent>| async {
                tracing::info!("inside the handler");
                Ok::<(), String>(())
            },
        );
        run_until(worker, inbox, 1, 0).await;
    });
    let line = out
        .lines()
        .find(|l| l.contains("inside the handler"))
        .unwrap_or_else(|| panic!("no handler line in {out}"));
    assert!(line.contains("webhook_job{"), "{line}");
    assert!(line.contains("delivery_id=msg_span_42"), "{line}");
    assert!(out
        .lines()
        .any(|l| l.contains("handled") && l.contains("msg_span_42")));
}

/// For a sender that signs no delivery id (Sam), the receive span and the handler span carry
/// the same `delivery_id`: the event id the dedupe key came from.
#[test]
fn receive_and_handler_spans_tie_for_an_unsigned_sender() {
    let (expected, out) = crate::support::logs::capture_logs(|| async {
        let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
        let expected = accept_sam(&inbox).await;
        let worker =
            Worker::from_arc(inbox.clone()).route::<SamEvent, _>(|_job: Job<SamEvent>| async {
                tracing::info!("inside the handler");
                Ok::<(), String>(())
            });
        run_until(worker, inbox, 1, 0).await;
        expected
    });
    // The receive span records a `&str` (quoted by the formatter), the worker's a `Display`.
    let tied = |line: &str| {
        line.contains(&format!("delivery_id={expected}"))
            || line.contains(&format!("delivery_id=\"{expected}\""))
    };
    let received = out
        .lines()
        .find(|l| l.contains("webhook{") && l.contains("stored"))
        .unwrap_or_else(|| panic!("no receive-span line in {out}"));
    assert!(tied(received), "{received}");
    let handled = out
        .lines()
        .find(|l| l.contains("inside the handler"))
        .unwrap_or_else(|| panic!("no handler line in {out}"));
    assert!(tied(handled), "{handled}");
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_inbox_is_waited_out_and_work_resumes() {
    use chathooks::inbox::SqliteInbox;
    let dir = std::env::temp_dir().join(format!(
        "chathooks-worker-locked-{}",
        chathooks::idempotency::ClaimToken::generate().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("inbox.sqlite");
    let inbox: Arc<dyn Inbox> = Arc::new(
        SqliteInbox::options()
            .busy_timeout(Duration::from_millis(50))
            .open(&path)
            .unwrap(),
    );
    for i in 0..5 {
        inbox.put(standard(&format!("locked_{i}"))).await.unwrap();
    }
    // Another process holds the write lock for a second: every lease fails meanwhile.
    let blocker = std::thread::spawn({
        let path = path.clone();
        move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            std::thread::sleep(Duration::from_millis(1200));
            conn.execute_batch("ROLLBACK").unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let worker = Worker::from_arc(inbox.clone())
        .route::<StandardEvent, _>(|_job: Job<StandardEvent>| async { Ok::<(), String>(()) })
        .max_backoff(Duration::from_millis(200));
    let report = run_until(worker, inbox.clone(), 5, 0).await;
    blocker.join().unwrap();
    assert!(report.inbox_errors >= 2, "{report:?}");
    assert_eq!(report.handled, 5);
    let all = inbox.list(&ListFilter::all()).await.unwrap();
    assert!(all.iter().all(|e| e.state == EntryState::Done));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An inbox over a `MemoryInbox` counting how the worker acknowledges: through `ack_many`
/// batches (here the provided one, as any inbox written before it existed has), never one
/// `ack` call of its own per entry. It can also answer leases late and hang on one release,
/// for the shutdown tests.
mod acks_in_batches {
    use std::sync::atomic::AtomicU64;

    use chathooks::inbox::{
        AfterFailure, Entry, EntryId, InboxFuture, InboxStats, Lease, LeaseToken, PutOutcome,
        ReplaySelector,
    };

    use super::*;

    #[derive(Default)]
    struct Counting {
        inner: MemoryInbox,
        acks: AtomicU64,
        ack_calls: AtomicU64,
        acked: AtomicU64,
        /// Leases are taken at once but answered this much later (a slow network).
        late_lease_answers: Option<Duration>,
        /// A release of this entry never answers.
        stuck_release: Option<EntryId>,
    }

    impl Inbox for Counting {
        fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
            self.inner.put(entry)
        }
        fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
            let Some(late) = self.late_lease_answers else {
                return self.inner.lease(max, lease);
            };
            Box::pin(async move {
                let leased = self.inner.lease(max, lease).await;
                tokio::time::sleep(late).await;
                leased
            })
        }
        fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
            self.acks.fetch_add(1, Ordering::SeqCst);
            self.inner.ack(id, token)
        }
        fn ack_many<'a>(
            &'a self,
            leases: &'a [(EntryId, LeaseToken)],
        ) -> InboxFuture<'a, Vec<bool>> {
            self.ack_calls.fetch_add(1, Ordering::SeqCst);
            self.acked.fetch_add(leases.len() as u64, Ordering::SeqCst);
            Box::pin(async move {
                // A round trip to a real store: what finishes meanwhile joins the next call.
                tokio::time::sleep(Duration::from_millis(5)).await;
                // MemoryInbox keeps the provided `ack_many`: one `ack` per lease.
                self.inner.ack_many(leases).await
            })
        }
        fn fail<'a>(
            &'a self,
            id: &'a EntryId,
            token: LeaseToken,
            error: &'a str,
            then: AfterFailure,
        ) -> InboxFuture<'a, bool> {
            self.inner.fail(id, token, error, then)
        }
        fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
            if self.stuck_release.as_ref() == Some(id) {
                return Box::pin(std::future::pending());
            }
            self.inner.release(id, token)
        }
        fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
            self.inner.get(id)
        }
        fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
            self.inner.list(filter)
        }
        fn stats(&self) -> InboxFuture<'_, InboxStats> {
            self.inner.stats()
        }
        fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
            self.inner.replay(selector)
        }
        fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
            self.inner.purge(older_than)
        }
    }

    /// Shutdown while a lease call is on its way back: what the store leased is released,
    /// not left invisible for a whole lease.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_answered_after_shutdown_is_released() {
        let counting = Arc::new(Counting {
            late_lease_answers: Some(Duration::from_millis(600)),
            ..Counting::default()
        });
        let inbox: Arc<dyn Inbox> = counting.clone();
        let id = inbox
            .put(standard("in-transit"))
            .await
            .unwrap()
            .id()
            .clone();
        let worker = Worker::from_arc(inbox.clone())
            .route::<StandardEvent, _>(|_job: Job<StandardEvent>| async { Ok::<(), String>(()) });
        let report = worker
            .run(tokio::time::sleep(Duration::from_millis(100)))
            .await;
        assert_eq!((report.handled, report.released), (0, 1), "{report:?}");
        let e = inbox.get(&id).await.unwrap().unwrap();
        assert_eq!((e.state, e.attempts), (EntryState::Pending, 0));
    }

    /// Releases at shutdown run side by side within a bound: one release that never answers
    /// neither blocks the others nor keeps `run` from returning.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_release_that_never_answers_does_not_hold_up_shutdown() {
        let stuck = EntryId::new("1");
        let counting = Arc::new(Counting {
            stuck_release: Some(stuck.clone()),
            ..Counting::default()
        });
        let inbox: Arc<dyn Inbox> = counting.clone();
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(
                inbox
                    .put(standard(&format!("slow_{i}")))
                    .await
                    .unwrap()
                    .id()
                    .clone(),
            );
        }
        assert!(ids.contains(&stuck), "{ids:?}");
        let started = Arc::new(AtomicU32::new(0));
        let s = started.clone();
        let worker = Worker::from_arc(inbox.clone())
            .route::<StandardEvent, _>(move |_job: Job<StandardEvent>| {
                s.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), String>>()
            })
            .shutdown_deadline(Duration::from_millis(200));
        let st = started.clone();
        let stop = async move {
            while st.load(Ordering::SeqCst) < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let began = std::time::Instant::now();
        let report = tokio::time::timeout(Duration::from_secs(20), worker.run(stop))
            .await
            .expect("run returned although one release never answers");
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{:?}",
            began.elapsed()
        );
        assert_eq!(report.released, 3, "{report:?}");
        for id in ids.iter().filter(|id| **id != stuck) {
            assert_eq!(
                inbox.get(id).await.unwrap().unwrap().state,
                EntryState::Pending
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_worker_acks_finished_entries_together() {
        let counting = Arc::new(Counting::default());
        let inbox: Arc<dyn Inbox> = counting.clone();
        const N: u64 = 2000;
        for i in 0..N {
            inbox.put(standard(&format!("many_{i}"))).await.unwrap();
        }
        let worker = Worker::from_arc(inbox.clone())
            .route::<StandardEvent, _>(|_job: Job<StandardEvent>| async { Ok::<(), String>(()) })
            .concurrency(64)
            .batch(64);
        let report = run_until(worker, inbox.clone(), N, 0).await;
        assert_eq!((report.handled, report.lost_leases), (N, 0), "{report:?}");
        let (calls, acked) = (
            counting.ack_calls.load(Ordering::SeqCst),
            counting.acked.load(Ordering::SeqCst),
        );
        assert_eq!(acked, N, "each entry acknowledged once, through ack_many");
        // The worker never calls this inbox's `ack` itself (MemoryInbox's provided
        // `ack_many` calls its own).
        assert_eq!(counting.acks.load(Ordering::SeqCst), 0);
        assert!(
            calls * 4 <= N,
            "{calls} ack_many calls for {N} entries: acks are not batched"
        );
    }
}

/// The worker's schedule is validated like the sender's (one shared mechanism): a delay past
/// 30 days is refused instead of overflowing the clock (an entry retried at once) or panicking
/// in the jitter arithmetic.
#[test]
fn retry_delays_past_thirty_days_are_refused() {
    use chathooks::worker::MAX_RETRY_DELAY;
    assert!(RetryPolicy::default()
        .schedule(vec![Duration::MAX])
        .is_err());
    assert!(RetryPolicy::default()
        .schedule(vec![MAX_RETRY_DELAY + Duration::from_secs(1)])
        .is_err());
    let longest = RetryPolicy::default()
        .schedule(vec![MAX_RETRY_DELAY])
        .unwrap()
        .jitter(1.0)
        .unwrap();
    let now = std::time::SystemTime::now();
    match longest.after_failure(1, now, 7) {
        chathooks::inbox::AfterFailure::RetryAt(at) => {
            assert!(at > now && at <= now + MAX_RETRY_DELAY * 2)
        }
        other => panic!("a retry was scheduled: {other:?}"),
    }
}

/// Every backend under a busy worker: leases in batches, acks queued and sent together (one
/// statement, one script call, one transaction for many). A batch that lost an entry, handed
/// one to two handlers, or acknowledged one twice or not at all fails here.
mod every_backend_exactly_once {
    use std::collections::HashMap;

    use super::*;

    const N: usize = 3000;

    async fn exactly_once(inbox: Arc<dyn Inbox>) {
        let mut ids = Vec::with_capacity(N);
        for start in (0..N).step_by(100) {
            let puts = (start..(start + 100).min(N)).map(|i| {
                let inbox = inbox.clone();
                tokio::spawn(async move {
                    let key = IdempotencyKey::new("once", &format!("d{i}")).unwrap();
                    let e = NewEntry::new("once", "standard", key, BODY)
                        .with_signed_delivery_id(format!("d{i}"));
                    inbox.put(e).await.unwrap().id().clone()
                })
            });
            for p in puts.collect::<Vec<_>>() {
                ids.push(p.await.unwrap());
            }
        }
        let seen = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let s = seen.clone();
        let worker = Worker::from_arc(inbox.clone())
            .route_raw("once", move |job: Job<RawBody>| {
                *s.lock()
                    .unwrap()
                    .entry(job.delivery_id().to_owned())
                    .or_default() += 1;
                async { Ok::<(), String>(()) }
            })
            .concurrency(48)
            .batch(64)
            .idle_poll(Duration::from_millis(5));
        let report = run_until(worker, inbox.clone(), N as u64, 0).await;
        assert_eq!(report.handled, N as u64, "{report:?}");
        assert_eq!(report.lost_leases, 0, "{report:?}");
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), N, "every entry reached a handler");
            let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
            assert!(twice.is_empty(), "handled more than once: {twice:?}");
        }
        for id in &ids {
            let e = inbox.get(id).await.unwrap().unwrap();
            assert_eq!((e.state, e.attempts), (EntryState::Done, 1), "{id}");
        }
        let stats = inbox.stats().await.unwrap();
        assert_eq!((stats.done, stats.leased, stats.pending), (N as u64, 0, 0));
    }

    on_every_backend!(exactly_once, "worker_exactly_once");
}

/// The Sam `lead.captured` fixture, signed and stored into `inbox` through a `Receiver`, as an
/// inbox route stores it; returns the event id its dedupe key comes from.
async fn accept_sam(inbox: &Arc<dyn Inbox>) -> String {
    let signer = HmacSha256::sam(Secret::raw("sam-worker-secret-0123456789").unwrap());
    let receiver = Receiver::<SamEvent>::builder(signer.clone())
        .inbox_arc(inbox.clone())
        .build();
    let body = include_bytes!("../fixtures/sam/lead_captured.json");
    let headers = signer.sign(std::time::SystemTime::now(), body);
    receiver
        .accept(&Inbound::new(&headers, body))
        .await
        .unwrap();
    SamEvent::parse(body)
        .unwrap()
        .event_id()
        .unwrap()
        .into_owned()
}

/// A sender whose signature covers no delivery id (Sam): the job's delivery id is the event id
/// the receiver keyed the delivery on, not the whole dedupe key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_senders_delivery_id_is_its_event_id() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let expected = accept_sam(&inbox).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let worker = Worker::from_arc(inbox.clone()).route::<SamEvent, _>(move |job: Job<SamEvent>| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(job.delivery_id().to_owned());
            Ok::<(), String>(())
        }
    });
    run_until(worker, inbox, 1, 0).await;
    assert_eq!(*seen.lock().unwrap(), vec![expected]);
}

/// A handler that takes the whole worker down (abort, OOM kill, a stuck pod killed by its
/// liveness probe) never reaches `fail`. Each lease counts its attempt, so once the retry
/// policy's attempts are used up the next worker dead-letters the entry without running it,
/// instead of crashing again forever.
mod attempts_without_an_answer {
    use super::*;

    /// Workers that died in the handler: lease the entry and never answer, `times` times.
    async fn die_in_the_handler(inbox: &dyn Inbox, id: &chathooks::inbox::EntryId, times: u32) {
        let lease = Duration::from_millis(200);
        for n in 1..=times {
            let l = loop {
                let got = inbox.lease(1, lease).await.unwrap();
                if let Some(l) = got.into_iter().next() {
                    break l;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert_eq!((&l.entry.id, l.entry.attempts), (id, n));
            // The lease runs out: the worker is gone.
            tokio::time::sleep(lease + Duration::from_millis(100)).await;
        }
    }

    async fn dead_without_running_again(inbox: Arc<dyn Inbox>) {
        let id = inbox.put(standard("takes-the-worker-down")).await.unwrap();
        let id = id.id().clone();
        die_in_the_handler(&*inbox, &id, 3).await;
        inbox.put(standard("fine")).await.unwrap();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let r = ran.clone();
        let letters = Arc::new(Mutex::new(Vec::<DeadLetter>::new()));
        let l = letters.clone();
        let worker = Worker::from_arc(inbox.clone())
            .route::<StandardEvent, _>(move |job: Job<StandardEvent>| {
                r.lock().unwrap().push(job.delivery_id().to_owned());
                async { Ok::<(), String>(()) }
            })
            .retry(quick_retries(2))
            .idle_poll(Duration::from_millis(5))
            .on_dead_letter(move |letter: DeadLetter| {
                let l = l.clone();
                async move { l.lock().unwrap().push(letter) }
            });
        let report = run_until(worker, inbox.clone(), 1, 1).await;
        assert_eq!((report.handled, report.dead, report.retried), (1, 1, 0));
        assert_eq!(
            *ran.lock().unwrap(),
            ["fine"],
            "the poison entry never ran again"
        );
        let e = inbox.get(&id).await.unwrap().unwrap();
        assert_eq!((e.state, e.attempts), (EntryState::Dead, 4));
        let err = e.last_error.unwrap();
        assert!(err.contains("attempt 4 of at most 3"), "{err}");
        assert!(err.contains("without an answer"), "{err}");
        assert_eq!(letters.lock().unwrap()[0].entry.id, id);
    }

    on_every_backend!(dead_without_running_again, "worker_no_answer");

    /// The same with real processes: a worker whose handler calls `std::process::abort()`,
    /// restarted after each crash, on one SQLite file. The handler runs exactly as many times
    /// as the policy allows attempts; the next worker dead-letters the entry and exits cleanly.
    #[cfg(feature = "sqlite")]
    #[test]
    fn a_handler_that_aborts_the_process_runs_max_attempts_times() {
        const CHILD: &str = "CHATHOOKS_TEST_ABORTING_WORKER";
        if let Some(file) = std::env::var_os(CHILD) {
            return aborting_worker(file.into());
        }
        let dir = crate::inbox::sqlite::TempDir::new("worker-abort");
        let file = dir.file("inbox.sqlite");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let id = rt.block_on(async {
            let inbox = chathooks::inbox::SqliteInbox::open(&file).unwrap();
            inbox.put(standard("aborts")).await.unwrap().id().clone()
        });
        let mut crashes = 0;
        let clean = (0..8).any(|_| {
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "worker::attempts_without_an_answer::a_handler_that_aborts_the_process_runs_max_attempts_times",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(CHILD, &file)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            if !status.success() {
                crashes += 1;
            }
            status.success()
        });
        assert!(clean, "a worker exited cleanly, after {crashes} crashes");
        let runs = std::fs::read_to_string(file.with_extension("runs")).unwrap();
        assert_eq!(runs.lines().count(), 3, "max attempts = 1 + 2 retries");
        assert_eq!(crashes, 3);
        let e = rt.block_on(async {
            let inbox = chathooks::inbox::SqliteInbox::open(&file).unwrap();
            inbox.get(&id).await.unwrap().unwrap()
        });
        assert_eq!((e.state, e.attempts), (EntryState::Dead, 4));
        assert!(e.last_error.unwrap().contains("without an answer"));
    }

    /// The child: work the file until the entry is dead; the handler records its run and
    /// aborts the process.
    fn aborting_worker(file: std::path::PathBuf) {
        let runs = file.with_extension("runs");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let inbox: Arc<dyn Inbox> =
                Arc::new(chathooks::inbox::SqliteInbox::open(&file).unwrap());
            let worker = Worker::from_arc(inbox.clone())
                .route::<StandardEvent, _>(move |_job: Job<StandardEvent>| {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&runs)
                        .unwrap();
                    writeln!(f, "ran").unwrap();
                    f.sync_all().unwrap();
                    std::process::abort();
                    #[allow(unreachable_code)]
                    async {
                        Ok::<(), String>(())
                    }
                })
                .retry(quick_retries(2))
                .lease(Duration::from_secs(1))
                .idle_poll(Duration::from_millis(20));
            run_until(worker, inbox, 0, 1).await;
        });
    }
}
