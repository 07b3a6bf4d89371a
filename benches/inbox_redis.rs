//! Worker throughput of `RedisInbox` for a no-op handler, against a bare Redis Streams
//! consumer on the same server in the same run.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6392/ cargo bench --bench inbox_redis --features redis
//! N=100000 BATCH=256 LEASERS=2 cargo bench --bench inbox_redis --features redis
//! ```
//!
//! - **inbox**: `N` entries are put (64 puts in flight), then `LEASERS` loops each lease
//!   `BATCH` entries and acknowledge them with one `ack_many`: what a `Worker` does for a
//!   handler that returns at once.
//! - **baseline**: the same number of bare stream messages (`XADD`, 64 in flight), consumed by
//!   `LEASERS` loops of `XREADGROUP COUNT BATCH` followed by one pipelined `XACK` per message,
//!   through the same kind of connection manager: the floor of what Redis Streams cost
//!   without dedupe, tokens, entry hashes or indexes.
//!
//! Prints handled/s for both and their ratio. Each run uses a fresh key prefix and deletes
//! its keys afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimToken, IdempotencyKey};
use chathooks::inbox::{Inbox, NewEntry, RedisInbox};
use redis::aio::ConnectionManager;
use tokio::task::JoinSet;

#[path = "common/bare_streams.rs"]
mod bare_streams;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const BODY: &[u8] = br#"{"type":"contact.created","timestamp":"2026-11-21T09:00:00Z","data":{"id":"c_1","email":"ana@example.com","name":"Ana Lima"}}"#;
const IN_FLIGHT: usize = 64;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("SKIPPED inbox_redis bench: REDIS_URL is not set");
        return;
    };
    let n = env_usize("N", 60_000);
    let batch = env_usize("BATCH", 256);
    let leasers = env_usize("LEASERS", 2);
    let rounds = env_usize("ROUNDS", 2);
    println!("inbox_redis: N={n} BATCH={batch} LEASERS={leasers} ROUNDS={rounds}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let raw = ConnectionManager::new(client).await.unwrap();

    for round in 1..=rounds {
        let tag = &ClaimToken::generate().to_hex()[..10];
        let prefix = format!("chathooks-bench:{tag}:");
        let inbox = Arc::new(
            RedisInbox::connect(&url)
                .await
                .unwrap()
                .with_prefix(prefix.clone()),
        );

        // --- baseline: bare stream ---
        let stream = format!("{prefix}bare");
        bare_streams::create_group(&raw, &stream).await;
        let t = Instant::now();
        run_in_flight(n, |_| {
            let (mut c, s) = (raw.clone(), stream.clone());
            async move {
                let _: String = redis::cmd("XADD")
                    .arg(&s)
                    .arg("*")
                    .arg("b")
                    .arg(BODY)
                    .query_async(&mut c)
                    .await
                    .unwrap();
            }
        })
        .await;
        let bare_add = rate(n, t.elapsed());
        let t = Instant::now();
        let bare_handled = bare_streams::consume(&raw, &stream, leasers, batch).await;
        let bare = rate(bare_handled, t.elapsed());
        assert_eq!(bare_handled, n);

        // --- the inbox ---
        let t = Instant::now();
        run_in_flight(n, |i| {
            let inbox = inbox.clone();
            async move {
                let key = IdempotencyKey::new("bench", &format!("d{i}")).unwrap();
                let e = NewEntry::new("standard", "standard", key, BODY)
                    .with_header("webhook-id", format!("d{i}"));
                assert!(inbox.put(e).await.unwrap().is_accepted());
            }
        })
        .await;
        let put = rate(n, t.elapsed());
        let t = Instant::now();
        let mut set = JoinSet::new();
        for _ in 0..leasers {
            let inbox = inbox.clone();
            set.spawn(async move {
                let mut handled = 0usize;
                loop {
                    let leases = inbox.lease(batch, Duration::from_secs(60)).await.unwrap();
                    if leases.is_empty() {
                        return handled;
                    }
                    // The no-op handler, then the batch's acks in one call, as the Worker
                    // sends them.
                    let acks: Vec<_> = leases
                        .iter()
                        .map(|l| (l.entry.id.clone(), l.token))
                        .collect();
                    let answers = inbox.ack_many(&acks).await.unwrap();
                    handled += answers.into_iter().filter(|ok| *ok).count();
                }
            });
        }
        let handled: usize = set.join_all().await.into_iter().sum();
        let worker = rate(handled, t.elapsed());
        assert_eq!(handled, n, "every entry handled once");

        println!(
            "round {round}: inbox worker {worker:>8.0} handled/s | bare streams {bare:>8.0} handled/s | ratio {:.2}",
            worker / bare
        );
        println!(
            "round {round}: inbox put    {put:>8.0} puts/s    | bare XADD    {bare_add:>8.0} adds/s    | ratio {:.2}",
            put / bare_add
        );
        bare_streams::cleanup(&raw, &prefix).await;
    }
}

/// Run `n` calls of `f`, `IN_FLIGHT` at a time.
async fn run_in_flight<F, Fut>(n: usize, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..n {
        if set.len() >= IN_FLIGHT {
            set.join_next().await.unwrap().unwrap();
        }
        set.spawn(f(i));
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}
