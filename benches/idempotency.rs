//! Idempotency store throughput and memory.
//!
//! ```text
//! cargo bench --bench idempotency -- --warm-up-time 1 --measurement-time 3
//! source .ci/services.sh && cargo bench --features redis --bench idempotency -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - Under `cargo test --benches` or `cargo bench -- --test` every part runs once, small.
//! - Before the timed groups, the memory of 1 million completed keys is measured with a counting
//!   global allocator (live bytes after minus before) and printed.
//! - `memory/*`: claim + complete pairs (criterion's elements/s = pairs/s). Keys cycle through a
//!   pool of 1 million with a 1 ms window, so the store is full-size and every claim finds its key
//!   free (absent, or expired and reused): steady state of a busy receiver.
//! - Redis (feature `redis`, `REDIS_URL`): first claims/s over the store's `ConnectionManager`
//!   with 64 concurrent callers against a plain `SET NX PX` through the same manager with the
//!   same concurrency, alternating for five rounds, printed as the ratio per round and its
//!   median (the figure to read); then `redis-benchmark -c 1 -P 64` (the same 64 commands in
//!   flight on one connection) for scale; then the same two as criterion groups `redis/*`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimOutcome, IdempotencyKey, IdempotencyStore, MemoryStore};
use criterion::{Criterion, Throughput};

/// Counts live heap bytes, to measure the store's memory.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const LEASE: Duration = Duration::from_secs(30);
const WINDOW: Duration = Duration::from_millis(1);
const POOL: usize = 1 << 20;

fn keys(tag: &str, n: usize) -> Vec<IdempotencyKey> {
    (0..n)
        .map(|i| IdempotencyKey::new("bench", &format!("{tag}_msg_{i:08}")).unwrap())
        .collect()
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and `cargo bench -- --test`
/// adds `--test`: then criterion runs each bench once and the preambles shrink to a smoke run.
fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

fn measure_memory(keys: u32) {
    for max_keys in [1_000_000, 1_200_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let store = MemoryStore::new(max_keys);
        for i in 0..keys {
            let key = IdempotencyKey::new("sam", &format!("msg_2KWPBgLlAfxdpx2A{i:010}")).unwrap();
            if let ClaimOutcome::Claimed(t) = store.claim_now(&key, LEASE).unwrap() {
                store
                    .complete_now(&key, t, Duration::from_secs(3600))
                    .unwrap();
            }
        }
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        let held = store.len();
        println!(
            "memory: MemoryStore::new({max_keys}) after {keys} completed keys: {:.1} MB live heap, \
             {held} entries held, {:.1} bytes/entry",
            bytes as f64 / 1e6,
            bytes as f64 / held as f64
        );
        drop(store);
    }
}

fn pair(store: &MemoryStore, key: &IdempotencyKey) -> bool {
    match store.claim_now(key, LEASE).unwrap() {
        ClaimOutcome::Claimed(t) => store.complete_now(key, t, WINDOW).unwrap(),
        _ => false,
    }
}

fn pair_via_trait(store: &dyn IdempotencyStore, key: &IdempotencyKey) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut claim = store.claim(key, LEASE);
    let std::task::Poll::Ready(Ok(ClaimOutcome::Claimed(t))) = claim.as_mut().poll(&mut cx) else {
        return false;
    };
    let mut complete = store.complete(key, t, WINDOW);
    matches!(
        complete.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Ok(true))
    )
}

fn bench_memory(c: &mut Criterion) {
    let pool = keys("single", POOL);
    let mut g = c.benchmark_group("memory");
    g.throughput(Throughput::Elements(1));

    let store = MemoryStore::default();
    let mut i = 0usize;
    g.bench_function("claim_complete/1_thread/sync_api", |b| {
        b.iter(|| {
            i = (i + 1) & (POOL - 1);
            black_box(pair(&store, &pool[i]))
        })
    });

    // A smaller working set (2.7 MB table) that mostly stays in cache: the cost of the code more
    // than of memory latency. Still more keys than one 1 ms window of pairs, so claims succeed.
    let hot = keys("hot", 1 << 16);
    let store_hot = MemoryStore::default();
    let mut i = 0usize;
    g.bench_function("claim_complete/1_thread/sync_api/65536_keys", |b| {
        b.iter(|| {
            i = (i + 1) & ((1 << 16) - 1);
            black_box(pair(&store_hot, &hot[i]))
        })
    });

    let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryStore::default());
    let mut i = 0usize;
    g.bench_function("claim_complete/1_thread/dyn_trait", |b| {
        b.iter(|| {
            i = (i + 1) & (POOL - 1);
            black_box(pair_via_trait(&*store, &pool[i]))
        })
    });

    // Two threads: each pair counts as one element, so elements/s is the total of both threads.
    let two_pools = [keys("a", POOL / 2), keys("b", POOL / 2)];
    let store = MemoryStore::default();
    g.throughput(Throughput::Elements(2));
    g.bench_function("claim_complete/2_threads/distinct_keys", |b| {
        b.iter_custom(|iters| two_threads(&store, [&two_pools[0], &two_pools[1]], iters))
    });
    let store = MemoryStore::default();
    g.bench_function("claim_complete/2_threads/shared_keys", |b| {
        b.iter_custom(|iters| two_threads(&store, [&two_pools[0], &two_pools[0]], iters))
    });
    g.finish();
}

/// Both threads run `iters` claim+complete attempts; on shared keys one of two concurrent
/// claims of a key loses (InFlight or AlreadyDone), which is the contention being measured.
fn two_threads(store: &MemoryStore, pools: [&Vec<IdempotencyKey>; 2], iters: u64) -> Duration {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        for pool in pools {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                let mask = pool.len() - 1;
                let mut won = 0u64;
                for i in 0..iters as usize {
                    won += u64::from(pair(store, &pool[i & mask]));
                }
                black_box(won);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// What the Redis benches share: a runtime, the store, a bare connection manager to the same
/// server, and a counter that keeps every key new.
#[cfg(feature = "redis")]
struct RedisRig {
    rt: tokio::runtime::Runtime,
    store: Arc<chathooks::idempotency::RedisStore>,
    manager: redis::aio::ConnectionManager,
    counter: Arc<std::sync::atomic::AtomicU64>,
    prefix: String,
    url: String,
}

#[cfg(feature = "redis")]
const CONCURRENCY: u64 = 64;

#[cfg(feature = "redis")]
fn redis_rig() -> Option<RedisRig> {
    use chathooks::idempotency::{ClaimToken, RedisStore};
    let Ok(url) = std::env::var("REDIS_URL") else {
        println!("redis: SKIPPED (REDIS_URL not set; run `source .ci/services.sh`)");
        return None;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("chathooks-bench:{}:", ClaimToken::generate().to_hex());
    let client = redis::Client::open(url.as_str()).unwrap();
    let manager = rt
        .block_on(redis::aio::ConnectionManager::new(client))
        .unwrap();
    // One connection manager (one connection) for both: claims and the plain SETs it is
    // measured against travel the same way.
    let store = Arc::new(RedisStore::from_manager(manager.clone()).with_prefix(prefix.clone()));
    Some(RedisRig {
        rt,
        store,
        manager,
        counter: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        prefix,
        url,
    })
}

#[cfg(feature = "redis")]
impl RedisRig {
    /// `n` claims of new keys by 64 concurrent callers through the store's one connection
    /// manager; the elapsed time.
    fn claims(&self, n: u64) -> Duration {
        let (store, counter) = (self.store.clone(), self.counter.clone());
        self.rt.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|t| {
                    let (store, counter) = (store.clone(), counter.clone());
                    let n = n / CONCURRENCY + u64::from(t < n % CONCURRENCY);
                    tokio::spawn(async move {
                        for _ in 0..n {
                            let i = counter.fetch_add(1, Ordering::Relaxed);
                            let key = IdempotencyKey::new("bench", &format!("c{i}")).unwrap();
                            let out = store.claim(&key, Duration::from_secs(5)).await.unwrap();
                            assert!(matches!(out, ClaimOutcome::Claimed(_)));
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed()
        })
    }

    /// The same with a plain `SET key value NX PX 5000` per caller through the same connection
    /// manager: the floor a claim is measured against, with the key and value lengths the
    /// store writes.
    fn sets(&self, n: u64) -> Duration {
        let (manager, counter, prefix) = (
            self.manager.clone(),
            self.counter.clone(),
            self.prefix.clone(),
        );
        self.rt.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|t| {
                    let (mut conn, counter, prefix) =
                        (manager.clone(), counter.clone(), prefix.clone());
                    let n = n / CONCURRENCY + u64::from(t < n % CONCURRENCY);
                    tokio::spawn(async move {
                        for _ in 0..n {
                            let i = counter.fetch_add(1, Ordering::Relaxed);
                            let ok: Option<String> = redis::cmd("SET")
                                .arg(format!("{prefix}bench:c{i}"))
                                .arg("inflight:0123456789abcdef0123456789abcdef")
                                .arg("NX")
                                .arg("PX")
                                .arg(5000)
                                .query_async(&mut conn)
                                .await
                                .unwrap();
                            assert!(ok.is_some());
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed()
        })
    }
}

/// Claims against `SET NX PX` through a connection manager, alternating, `rounds` rounds of
/// `n` operations each: the ratio per round, then its median and spread. Printed before the
/// criterion groups so it stands on its own; plus `redis-benchmark` with the same pipelining
/// (64 commands in flight on one connection) for scale.
#[cfg(feature = "redis")]
fn redis_ratio(rounds: usize, n: u64) {
    let Some(rig) = redis_rig() else { return };
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let claim = n as f64 / rig.claims(n).as_secs_f64();
        let set = n as f64 / rig.sets(n).as_secs_f64();
        println!(
            "redis round {round}: {claim:.0} claims/s, {set:.0} SET NX PX/s through a connection \
             manager, 64 callers: claims = {:.2}x SET",
            claim / set
        );
        ratios.push(claim / set);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "redis: claims vs SET NX PX, median of {rounds} rounds {:.2}x (min {:.2}x, max {:.2}x)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    let addr = rig
        .url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let (host, port) = addr.rsplit_once(':').unwrap_or((&addr, "6379"));
    let count = n.max(10_000).to_string();
    let args = [
        "-h", host, "-p", port, "-t", "set", "-n", &count, "-c", "1", "-P", "64", "-q",
    ];
    match std::process::Command::new("redis-benchmark")
        .args(args)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let last = text.rsplit('\r').next().unwrap_or(&text).trim();
            println!("redis-benchmark {}: {last}", args.join(" "));
        }
        Err(e) => println!("redis-benchmark not run: {e}"),
    }
}

#[cfg(feature = "redis")]
fn bench_redis(c: &mut Criterion) {
    let Some(rig) = redis_rig() else { return };
    let mut g = c.benchmark_group("redis");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("claim/64_concurrent/one_connection_manager", |b| {
        b.iter_custom(|iters| rig.claims(iters))
    });
    g.bench_function("set_nx_px/64_concurrent/one_connection_manager", |b| {
        b.iter_custom(|iters| rig.sets(iters))
    });
    g.finish();
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), so that pairs per CPU-second
/// can be reported on a machine shared with other jobs, where wall-clock rates undercount.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn measure_cpu_rate(pairs: usize) {
    for (label, n_keys) in [("1M-key pool", POOL), ("65536-key pool", 1 << 16)] {
        let n_keys = n_keys.min(pairs.next_power_of_two());
        let pool = keys("cpu", n_keys);
        let store = MemoryStore::default();
        let (Some(cpu0), wall0) = (thread_cpu_ns(), Instant::now()) else {
            println!("cpu-rate: /proc/thread-self/schedstat unavailable");
            return;
        };
        let mut won = 0usize;
        for i in 0..pairs {
            won += usize::from(pair(&store, &pool[i & (n_keys - 1)]));
        }
        let cpu = thread_cpu_ns().unwrap_or(cpu0) - cpu0;
        let wall = wall0.elapsed();
        println!(
            "cpu-rate: {label}: {pairs} claim+complete pairs ({won} completed) in {:.0} ms on CPU \
             ({:?} wall): {:.2} M pairs per CPU-second",
            cpu as f64 / 1e6,
            wall,
            pairs as f64 / (cpu as f64 / 1e9) / 1e6
        );
    }
}

fn main() {
    let test = test_mode();
    measure_memory(if test { 10_000 } else { 1_000_000 });
    measure_cpu_rate(if test { 10_000 } else { 4_000_000 });
    #[cfg(feature = "redis")]
    redis_ratio(if test { 1 } else { 5 }, if test { 640 } else { 50_000 });
    let mut c = Criterion::default().configure_from_args();
    bench_memory(&mut c);
    #[cfg(feature = "redis")]
    bench_redis(&mut c);
    c.final_summary();
}
