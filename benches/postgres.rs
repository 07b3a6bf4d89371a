//! Postgres backends against Postgres itself, in one run on one server:
//!
//! - **claims/s**: `PostgresStore::claim` of fresh keys (one single-row `INSERT … ON CONFLICT`
//!   each) from 32 concurrent tasks, against `pgbench` running a comparable single-row insert
//!   (a random text primary key, a 16-byte token, a timestamp) with 32 clients; `ROUNDS`
//!   (default 2) alternations of the two, each with its own ratio;
//! - **puts/s**: `PostgresInbox::put` of 1 KiB bodies from 32 concurrent tasks;
//! - **handled/s**: workers draining a preloaded inbox with a no-op handler: `lease` batches
//!   of 100, then `ack` each entry;
//!
//! puts and handled/s each without and with group commit (`with_group_commit`), and handled/s
//! once more with one `ack_many` per leased batch (what `Worker` sends).
//!
//! ```sh
//! source .ci/services.sh   # or any DATABASE_URL you may write to
//! cargo bench --bench postgres --features postgres
//! SECONDS_PER_RUN=10 WORKERS=8 cargo bench --bench postgres --features postgres
//! ```
//!
//! It creates and drops the schema `chathooks_bench` and the table `chathooks_pgbench_insert`.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore};
use chathooks::inbox::{Inbox, NewEntry};
use chathooks::postgres::{PostgresInbox, PostgresPool, PostgresStore};

const SCHEMA: &str = "chathooks_bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn exec(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.expect(sql);
    drop(client);
    let _ = task.await;
}

fn key(i: u64) -> IdempotencyKey {
    IdempotencyKey::new("bench", &format!("{}-{i}", ClaimToken::generate().to_hex())).unwrap()
}

/// Run `tasks` copies of `op` for `secs`; returns operations per second.
async fn rate<F, Fut>(tasks: usize, secs: f64, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = (t as u64) << 40;
                while Instant::now() < deadline {
                    op(i).await;
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn pgbench(url: &str, clients: usize, secs: u64) -> Option<f64> {
    let script = std::env::temp_dir().join("chathooks_pgbench_insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO chathooks_pgbench_insert (key, token, expires_at) \
         VALUES ('bench/delivery:' || md5(random()::text || clock_timestamp()::text), \
                 '\\x000102030405060708090a0b0c0d0e0f'::bytea, \
                 now() + interval '30 seconds');\n",
    )
    .ok()?;
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
        ])
        .args(["-T", &secs.to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps ="))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok();
    if tps.is_none() {
        eprintln!("pgbench: {}", String::from_utf8_lossy(&out.stderr));
    }
    tps
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments of its own.
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED postgres bench: DATABASE_URL is not set (run `source .ci/services.sh`)");
        return;
    };
    let secs: f64 = env_or("SECONDS_PER_RUN", 5.0);
    let conc: usize = env_or("CONCURRENCY", 32);
    let workers: usize = env_or("WORKERS", 4);
    let batch: usize = env_or("BATCH", 100);
    let preload: u64 = env_or("PRELOAD", 50_000);
    let rounds: usize = env_or("ROUNDS", 2);

    exec(&url, &format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).await;
    exec(
        &url,
        "DROP TABLE IF EXISTS chathooks_pgbench_insert;
         CREATE TABLE chathooks_pgbench_insert (
             key text PRIMARY KEY, token bytea, expires_at timestamptz NOT NULL);
         CREATE INDEX ON chathooks_pgbench_insert (expires_at);",
    )
    .await;
    let pool = PostgresPool::options(&url)
        .unwrap()
        .schema(SCHEMA)
        .max_connections(conc.min(32))
        .connect()
        .await
        .unwrap();
    pool.migrate().await.unwrap();

    // 1. claims/s against pgbench's single-row insert (same table shape, same indexes),
    //    alternated so that both see the same machine.
    let store = Arc::new(PostgresStore::new(&pool));
    let mut claim_rounds = Vec::new();
    for _ in 0..rounds.max(1) {
        let s = store.clone();
        let claims = rate(conc, secs, move |i| {
            let s = s.clone();
            async move {
                let k = key(i);
                match s.claim(&k, Duration::from_secs(30)).await {
                    Ok(ClaimOutcome::Claimed(_)) => {}
                    other => panic!("claim: {other:?}"),
                }
            }
        })
        .await;
        let pg = pgbench(&url, conc, secs.round().max(1.0) as u64);
        claim_rounds.push((claims, pg));
    }

    // 2. puts/s and 3. handled/s, each without and with group commit.
    let mut results = Vec::new();
    for group in [false, true] {
        let inbox = Arc::new(PostgresInbox::new(&pool).with_group_commit(group));
        let puts = put_rate(&inbox, conc, secs).await;
        let tag = if group { "g" } else { "s" };
        let (handled, rate) = drain_rate(&url, &inbox, tag, preload, workers, batch, secs).await;
        results.push((group, puts, handled, rate));
    }
    let inbox = Arc::new(PostgresInbox::new(&pool));
    let many = drain_rate_many(&url, &inbox, preload, workers, batch, secs).await;

    println!("postgres bench ({secs} s per run, {conc} concurrent tasks, {workers} workers x batch {batch}):");
    for (round, (claims, pg)) in claim_rounds.iter().enumerate() {
        println!("  round {}:", round + 1);
        println!("    PostgresStore::claim        {claims:>9.0} claims/s");
        match pg {
            Some(tps) => println!(
                "    pgbench single-row insert   {tps:>9.0} tps   -> claims at {:.0} % of pgbench",
                100.0 * claims / tps
            ),
            None => println!("    pgbench: not run (pgbench not installed or failed)"),
        }
    }
    for (group, puts, handled, rate) in results {
        let mode = if group {
            "group commit"
        } else {
            "one statement per call"
        };
        println!("  {mode}:");
        println!("    PostgresInbox::put (1 KiB)  {puts:>9.0} puts/s");
        println!("    worker lease+ack (no-op)    {rate:>9.0} handled/s  ({handled} handled)");
    }
    let (handled, rate) = many;
    println!("  group commit, one ack_many per leased batch:");
    println!("    worker lease+ack_many       {rate:>9.0} handled/s  ({handled} handled)");

    exec(&url, &format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).await;
    exec(&url, "DROP TABLE IF EXISTS chathooks_pgbench_insert").await;
}

async fn put_rate(inbox: &Arc<PostgresInbox>, conc: usize, secs: f64) -> f64 {
    let body = Arc::new(vec![b'x'; 1024]);
    let ib = inbox.clone();
    rate(conc, secs, move |i| {
        let (ib, b) = (ib.clone(), body.clone());
        async move {
            let e = NewEntry::new("bench", "standard", key(i), b.to_vec());
            assert!(ib.put(e).await.unwrap().is_accepted());
        }
    })
    .await
}

/// Preload `preload` pending rows, then let `workers` drain them (lease `batch`, a no-op
/// handler, ack each) for at most twice `secs`; returns (handled, handled/s).
async fn drain_rate(
    url: &str,
    inbox: &Arc<PostgresInbox>,
    tag: &str,
    preload: u64,
    workers: usize,
    batch: usize,
    secs: f64,
) -> (u64, f64) {
    preload_rows(url, tag, preload).await;
    let handled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs * 2.0);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (inbox, handled) = (inbox.clone(), handled.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let leases = inbox.lease(batch, Duration::from_secs(60)).await.unwrap();
                    if leases.is_empty() {
                        return;
                    }
                    // A no-op handler per entry, then its ack; the batch's acks run at once,
                    // as a worker with that much concurrency would send them.
                    let acks = leases.iter().map(|l| inbox.ack(&l.entry.id, l.token));
                    for ok in futures_join_all(acks).await {
                        assert!(ok.unwrap());
                    }
                    handled.fetch_add(leases.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n = handled.load(Ordering::Relaxed);
    (n, n as f64 / started.elapsed().as_secs_f64())
}

/// As [`drain_rate`], acknowledging each leased batch with one `ack_many`.
async fn drain_rate_many(
    url: &str,
    inbox: &Arc<PostgresInbox>,
    preload: u64,
    workers: usize,
    batch: usize,
    secs: f64,
) -> (u64, f64) {
    preload_rows(url, "m", preload).await;
    let handled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs * 2.0);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (inbox, handled) = (inbox.clone(), handled.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let leases = inbox.lease(batch, Duration::from_secs(60)).await.unwrap();
                    if leases.is_empty() {
                        return;
                    }
                    let acks: Vec<_> = leases
                        .iter()
                        .map(|l| (l.entry.id.clone(), l.token))
                        .collect();
                    assert!(inbox.ack_many(&acks).await.unwrap().iter().all(|ok| *ok));
                    handled.fetch_add(leases.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n = handled.load(Ordering::Relaxed);
    (n, n as f64 / started.elapsed().as_secs_f64())
}

async fn preload_rows(url: &str, tag: &str, preload: u64) {
    exec(
        url,
        &format!(
            "INSERT INTO {SCHEMA}.chathooks_inbox (dedupe_key, namespace, vendor, header_names,
                 header_values, body, received_at, state, due_at)
             SELECT 'bench/key:pre-{tag}-' || g, 'bench', 'standard', '{{}}', '{{}}',
                    convert_to(repeat('x', 1024), 'UTF8'), now(), 'pending', now()
             FROM generate_series(1, {preload}) AS g;
             ANALYZE {SCHEMA}.chathooks_inbox;"
        ),
    )
    .await;
}

/// Await every future of `futs` concurrently (a tiny `join_all`, to need no extra crate).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
