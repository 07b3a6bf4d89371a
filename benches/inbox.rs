//! Inbox store throughput, as ratios within one run (no HTTP; `benches/inbox_load.sh` measures
//! over HTTP):
//!
//! - puts/s from 64 concurrent tasks: `MemoryInbox`, and `SqliteInbox` with and without group
//!   commit, under `synchronous=NORMAL` (the default) and `FULL`;
//! - worker-style drain: lease batches of 256 and ack each, entries/s.
//!
//! `cargo bench --bench inbox --features sqlite` (`INBOX_BENCH_N` puts per case, default
//! 20 000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::idempotency::IdempotencyKey;
use chathooks::inbox::{Inbox, MemoryInbox, NewEntry, SqliteInbox, Synchronous};

const TASKS: usize = 64;

fn body() -> Vec<u8> {
    // A typical Standard Webhooks message (~600 bytes).
    let mut b =
        br#"{"type":"message.created","timestamp":"2026-12-01T12:00:00Z","data":{"#.to_vec();
    b.extend(std::iter::repeat_n(b'x', 560));
    b.extend_from_slice(br#""}}"#);
    b
}

async fn puts(inbox: Arc<dyn Inbox>, n: usize, label: &str) -> f64 {
    let body = bytes::Bytes::from(body());
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (inbox, body, label) = (inbox.clone(), body.clone(), label.to_owned());
            tokio::spawn(async move {
                for i in (t..n).step_by(TASKS) {
                    let key = IdempotencyKey::new("bench", &format!("{label}-{i}")).unwrap();
                    let e = NewEntry::new("standard", "standard", key, body.clone())
                        .with_signed_delivery_id(format!("msg_{i}"))
                        .with_header("webhook-id", format!("msg_{i}"));
                    assert!(inbox.put(e).await.unwrap().is_accepted());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn drain(inbox: Arc<dyn Inbox>, n: usize) -> f64 {
    let start = Instant::now();
    let mut handled = 0;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let mut done = 0usize;
                loop {
                    let batch = inbox.lease(256, Duration::from_secs(60)).await.unwrap();
                    if batch.is_empty() {
                        return done;
                    }
                    let acks: Vec<_> = batch
                        .into_iter()
                        .map(|l| {
                            let inbox = inbox.clone();
                            tokio::spawn(async move { inbox.ack(&l.entry.id, l.token).await })
                        })
                        .collect();
                    for a in acks {
                        assert!(a.await.unwrap().unwrap());
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        handled += w.await.unwrap();
    }
    assert_eq!(handled, n);
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; nothing to run here.
    }
    let n: usize = std::env::var("INBOX_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("chathooks-inbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    rt.block_on(async {
        let mem = puts(Arc::new(MemoryInbox::new()), n, "mem").await;
        println!("puts/s  memory                          {mem:>10.0}  (1.00)");
        let mut drain_file = None;
        for (sync, name) in [(Synchronous::Normal, "NORMAL"), (Synchronous::Full, "FULL")] {
            let mut grouped = 0.0;
            for group in [true, false] {
                let path = dir.join(format!("{name}-{group}.sqlite"));
                let inbox = SqliteInbox::options()
                    .synchronous(sync)
                    .group_commit(group)
                    .open(&path)
                    .unwrap();
                // Without group commit, FULL is one fsync per put: fewer puts keep it short.
                let count = if group || sync == Synchronous::Normal {
                    n
                } else {
                    n / 10
                };
                let rate = puts(Arc::new(inbox), count, &format!("{name}{group}")).await;
                if group {
                    grouped = rate;
                    if sync == Synchronous::Normal {
                        drain_file = Some(path.clone());
                    }
                }
                println!(
                    "puts/s  sqlite {name:<6} group commit {:<5} {rate:>10.0}  ({:.2} of memory{})",
                    group,
                    rate / mem,
                    if group {
                        String::new()
                    } else {
                        format!("; group commit is {:.1}x", grouped / rate)
                    }
                );
            }
        }
        let mem_inbox = Arc::new(MemoryInbox::new());
        puts(mem_inbox.clone(), n, "drain").await;
        let mem_drain = drain(mem_inbox, n).await;
        println!("lease+ack/s  memory                     {mem_drain:>10.0}");
        let path = drain_file.unwrap();
        let sq = drain(Arc::new(SqliteInbox::open(&path).unwrap()), n).await;
        println!("lease+ack/s  sqlite NORMAL              {sq:>10.0}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
