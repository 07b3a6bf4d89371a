//! `Worker` throughput for a no-op handler, on every inbox backend this build has, each
//! against the bare database operation on the same server in the same run:
//!
//! - **memory**: `MemoryInbox` (the worker's own ceiling: no I/O at all);
//! - **sqlite** (feature `sqlite`): `SqliteInbox` on a temp file, against bare SQL on the same
//!   table: `BEGIN IMMEDIATE; UPDATE … SET state = 'done' WHERE id IN (SELECT … LIMIT BATCH);
//!   COMMIT` in a loop (one statement per batch, the same indexes touched);
//! - **redis** (feature `redis`, `REDIS_URL`): `RedisInbox`, against a bare Streams consumer
//!   (`XREADGROUP COUNT BATCH`, then one pipelined `XACK` per message);
//! - **postgres** (feature `postgres`, `DATABASE_URL`): `PostgresInbox`, against bare SQL on
//!   the same table from `LEASERS` connections: `UPDATE … SET state = 'done' WHERE id IN
//!   (SELECT … LIMIT BATCH FOR UPDATE SKIP LOCKED)`.
//!
//! Each case preloads `N` entries (puts, 64 in flight), then runs one `Worker` with a no-op
//! `RawBody` route (`CONCURRENCY` handlers, lease batches of `BATCH`) until all `N` are
//! handled and acknowledged; handled/s = N / the worker's run time.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6394/ DATABASE_URL=postgres://u@127.0.0.1:5446/db \
//!   cargo bench --bench inbox_worker --features sqlite,redis,postgres
//! N=50000 CONCURRENCY=16 BATCH=64 ONLY=sqlite cargo bench --bench inbox_worker --features sqlite
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimToken, IdempotencyKey};
use chathooks::inbox::{Inbox, MemoryInbox, NewEntry};
use chathooks::receiver::RawBody;
use chathooks::worker::{Job, Worker};
use tokio::task::JoinSet;

const NS: &str = "bench";
const BODY: &[u8] = br#"{"type":"contact.created","timestamp":"2026-11-21T09:00:00Z","data":{"id":"c_1","email":"ana@example.com","name":"Ana Lima"}}"#;
const IN_FLIGHT: usize = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Config {
    n: usize,
    concurrency: usize,
    batch: usize,
    leasers: usize,
}

fn wanted(name: &str) -> bool {
    std::env::var("ONLY").map_or(true, |only| only.split(',').any(|o| o == name))
}

async fn preload(inbox: &Arc<dyn Inbox>, n: usize) {
    let tag = ClaimToken::generate().to_hex();
    let mut set = JoinSet::new();
    for i in 0..n {
        if set.len() >= IN_FLIGHT {
            set.join_next().await.unwrap().unwrap();
        }
        let (inbox, tag) = (inbox.clone(), tag.clone());
        set.spawn(async move {
            let key = IdempotencyKey::new(NS, &format!("{}-{i}", &tag[..8])).unwrap();
            let e = NewEntry::new(NS, "standard", key, BODY).with_header("webhook-id", "x");
            assert!(inbox.put(e).await.unwrap().is_accepted());
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

/// Preload `n` entries, then run a `Worker` with a no-op handler until it handled them all;
/// returns handled/s.
async fn worker_rate(inbox: Arc<dyn Inbox>, cfg: &Config) -> f64 {
    preload(&inbox, cfg.n).await;
    let seen = Arc::new(AtomicU64::new(0));
    let all = Arc::new(tokio::sync::Notify::new());
    let (s, a, n) = (seen.clone(), all.clone(), cfg.n as u64);
    let worker = Worker::from_arc(inbox.clone())
        .route_raw(NS, move |_job: Job<RawBody>| {
            if s.fetch_add(1, Ordering::Relaxed) + 1 == n {
                a.notify_one();
            }
            async { Ok::<(), Infallible>(()) }
        })
        .concurrency(cfg.concurrency)
        .batch(cfg.batch)
        .idle_poll(Duration::from_millis(5));
    let t = Instant::now();
    // After the last handler returns, shutdown lets the in-flight acks finish.
    let report = worker.run(async move { all.notified().await }).await;
    let elapsed = t.elapsed();
    assert_eq!(report.handled, n, "{report:?}");
    let stats = inbox.stats().await.unwrap();
    assert_eq!(stats.done, n, "every entry done: {stats:?}");
    n as f64 / elapsed.as_secs_f64()
}

fn line(name: &str, worker: f64, bare_name: &str, bare: f64) {
    println!(
        "{name:<9} Worker {worker:>8.0} handled/s | {bare_name:<22} {bare:>8.0}/s | ratio {:.2}",
        worker / bare
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`, CI) a few hundred
    // entries check that every case still runs.
    let default_n = if std::env::args().any(|a| a == "--bench") {
        20_000
    } else {
        300
    };
    let cfg = Config {
        n: env_usize("N", default_n),
        concurrency: env_usize("CONCURRENCY", 64),
        batch: env_usize("BATCH", 256),
        leasers: env_usize("LEASERS", 2),
    };
    println!(
        "inbox_worker: N={} CONCURRENCY={} BATCH={} (bare: LEASERS={})",
        cfg.n, cfg.concurrency, cfg.batch, cfg.leasers
    );
    if wanted("memory") {
        let rate = worker_rate(Arc::new(MemoryInbox::new()), &cfg).await;
        println!("memory    Worker {rate:>8.0} handled/s");
    }
    #[cfg(feature = "sqlite")]
    if wanted("sqlite") {
        sqlite::run(&cfg).await;
    }
    #[cfg(feature = "redis")]
    if wanted("redis") {
        match std::env::var("REDIS_URL") {
            Ok(url) => redis_case::run(&url, &cfg).await,
            Err(_) => eprintln!("SKIPPED redis: REDIS_URL is not set"),
        }
    }
    #[cfg(feature = "postgres")]
    if wanted("postgres") {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => pg::run(&url, &cfg).await,
            _ => eprintln!("SKIPPED postgres: DATABASE_URL is not set"),
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use chathooks::inbox::SqliteInbox;

    pub async fn run(cfg: &Config) {
        let dir =
            std::env::temp_dir().join(format!("chathooks-worker-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Bare: the same schema (made by SqliteInbox), drained by plain SQL.
        let bare_path = dir.join("bare.sqlite");
        {
            let inbox: Arc<dyn Inbox> = Arc::new(SqliteInbox::open(&bare_path).unwrap());
            preload(&inbox, cfg.n).await;
        }
        let (n, batch) = (cfg.n, cfg.batch);
        let bare = tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open(&bare_path).unwrap();
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
                .unwrap();
            let t = Instant::now();
            let mut done = 0;
            loop {
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let changed = conn
                    .execute(
                        "UPDATE inbox SET state = 'done', token = NULL, due_ms = ?1 WHERE id IN \
                         (SELECT id FROM inbox INDEXED BY inbox_leasable \
                          WHERE (state = 'pending' OR state = 'retrying' OR state = 'leased') \
                          AND due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2)",
                        rusqlite::params![now, batch as i64],
                    )
                    .unwrap();
                conn.execute_batch("COMMIT").unwrap();
                if changed == 0 {
                    break;
                }
                done += changed;
            }
            assert_eq!(done, n);
            n as f64 / t.elapsed().as_secs_f64()
        })
        .await
        .unwrap();
        let inbox = Arc::new(SqliteInbox::open(dir.join("worker.sqlite")).unwrap());
        let rate = worker_rate(inbox, cfg).await;
        line("sqlite", rate, "bare SQL UPDATE batch", bare);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(feature = "redis")]
#[path = "common/bare_streams.rs"]
mod bare_streams;

#[cfg(feature = "redis")]
mod redis_case {
    use super::*;
    use chathooks::inbox::RedisInbox;
    use redis::aio::ConnectionManager;

    pub async fn run(url: &str, cfg: &Config) {
        let client = redis::Client::open(url).unwrap();
        let raw = ConnectionManager::new(client).await.unwrap();
        let tag = &ClaimToken::generate().to_hex()[..10];
        let prefix = format!("chathooks-worker-bench:{tag}:");
        let bare = bare_rate(&raw, &format!("{prefix}bare"), cfg).await;
        let inbox = Arc::new(
            RedisInbox::connect(url)
                .await
                .unwrap()
                .with_prefix(prefix.clone()),
        );
        let rate = worker_rate(inbox, cfg).await;
        line("redis", rate, "bare Streams consumer", bare);
        bare_streams::cleanup(&raw, &prefix).await;
    }

    async fn bare_rate(raw: &ConnectionManager, stream: &str, cfg: &Config) -> f64 {
        bare_streams::create_group(raw, stream).await;
        let mut set = JoinSet::new();
        for _ in 0..cfg.n {
            if set.len() >= IN_FLIGHT {
                set.join_next().await.unwrap().unwrap();
            }
            let (mut c, s) = (raw.clone(), stream.to_owned());
            set.spawn(async move {
                let _: String = redis::cmd("XADD")
                    .arg(&s)
                    .arg("*")
                    .arg("b")
                    .arg(BODY)
                    .query_async(&mut c)
                    .await
                    .unwrap();
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let t = Instant::now();
        let handled = bare_streams::consume(raw, stream, cfg.leasers, cfg.batch).await;
        assert_eq!(handled, cfg.n);
        handled as f64 / t.elapsed().as_secs_f64()
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use chathooks::postgres::{PostgresInbox, PostgresPool};

    const SCHEMA: &str = "chathooks_worker_bench";

    async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    pub async fn run(url: &str, cfg: &Config) {
        connect(url)
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            .await
            .unwrap();
        let pool = PostgresPool::options(url)
            .unwrap()
            .schema(SCHEMA)
            .max_connections(16)
            .connect()
            .await
            .unwrap();
        pool.migrate().await.unwrap();
        let inbox: Arc<dyn Inbox> = Arc::new(PostgresInbox::new(&pool));

        // Bare: the same table, drained by plain SQL from `leasers` connections.
        preload(&inbox, cfg.n).await;
        connect(url)
            .await
            .batch_execute(&format!("ANALYZE {SCHEMA}.chathooks_inbox"))
            .await
            .unwrap();
        let sql = format!(
            "UPDATE {SCHEMA}.chathooks_inbox SET state = 'done', due_at = now(), lease_token = NULL
             WHERE id IN (SELECT id FROM {SCHEMA}.chathooks_inbox
                          WHERE state IN ('pending', 'leased', 'retrying') AND due_at <= now()
                          ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        );
        let t = Instant::now();
        let mut set = JoinSet::new();
        for _ in 0..cfg.leasers {
            let (url, sql, batch) = (url.to_owned(), sql.clone(), cfg.batch as i64);
            set.spawn(async move {
                let client = connect(&url).await;
                let st = client.prepare(&sql).await.unwrap();
                let mut done = 0u64;
                loop {
                    let n = client.execute(&st, &[&batch]).await.unwrap();
                    if n == 0 {
                        return done;
                    }
                    done += n;
                }
            });
        }
        let done: u64 = set.join_all().await.into_iter().sum();
        assert_eq!(done, cfg.n as u64);
        let bare = done as f64 / t.elapsed().as_secs_f64();
        connect(url)
            .await
            .batch_execute(&format!("TRUNCATE {SCHEMA}.chathooks_inbox"))
            .await
            .unwrap();

        let rate = worker_rate(inbox, cfg).await;
        line("postgres", rate, "bare SQL UPDATE batch", bare);
        connect(url)
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            .await
            .unwrap();
    }
}
