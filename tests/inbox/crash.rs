//! Crash test with real processes: the `inbox` example as a receiver process and worker
//! process(es) on one backend; 10 000 signed Standard Webhooks deliveries (see [`budget`])
//! plus duplicates, sent over HTTP on 127.0.0.1 by the reference sender (which retries
//! anything but 2xx);
//! SIGKILL the workers at random moments at least 5 times and the receiver at least twice,
//! restarting each. At the end every delivery answered 2xx must have been handled: zero lost.
//!
//! Backend-generic: [`crash_test`] takes the example's backend flags, so another backend runs
//! it with one call (`crash_test(&["--redis".into(), url], 3).await` below runs Redis with three
//! worker processes).

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::sender::{Endpoint, Message, RetryPolicy, Sender, Signing};
use chathooks::verify::StandardWebhooks;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Deliveries and worker kills per run: issue 10's 10 000 deliveries, and up to 12 worker kills
/// when run by hand; under `CI=true` at least 6 (still ≥ 5 worker and ≥ 2 receiver kills).
/// Both backends' runs at 10 000 take about 12 s together on the quiet two-core machine.
/// `CHATHOOKS_CRASH_DELIVERIES` overrides the count.
fn budget() -> (usize, usize) {
    let ci = crate::services::in_ci();
    let deliveries = std::env::var("CHATHOOKS_CRASH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    (deliveries, if ci { 6 } else { 12 })
}

/// What a crash run found.
#[derive(Debug)]
#[allow(dead_code)] // some fields are only read through Debug, in the run's summary line
pub struct CrashReport {
    /// Distinct deliveries sent (every tenth twice).
    pub deliveries: usize,
    /// Distinct deliveries answered 2xx by the receiver.
    pub acknowledged: usize,
    /// Of those, handled by a worker (must equal `acknowledged`).
    pub handled: usize,
    /// Handler runs beyond the first per delivery (bounded by kills × concurrency).
    pub repeats: usize,
    /// SIGKILLs sent to workers.
    pub worker_kills: usize,
    /// SIGKILLs sent to the receiver.
    pub receiver_kills: usize,
    /// From the first send to the last answer.
    pub send_time: Duration,
    /// From the last answer until every acknowledged delivery was handled.
    pub drain_time: Duration,
}

/// The `inbox` example binary, built by `cargo test` next to this test binary.
pub(crate) fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|p| p.parent()).unwrap();
    let bin = debug.join("examples").join("inbox");
    assert!(
        bin.exists(),
        "{} missing: build it with `cargo build --example inbox --features axum,sqlite`",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Procs {
    bin: PathBuf,
    backend: Vec<String>,
    port: u16,
    logs: PathBuf,
    spawned: usize,
}

impl Procs {
    fn spawn(&mut self, role: &str) -> Child {
        self.spawned += 1;
        let log = self.logs.join(format!("{role}-{}.log", self.spawned));
        let out = std::fs::File::create(&log).unwrap();
        let err = std::fs::File::create(log.with_extension("err")).unwrap();
        Command::new(&self.bin)
            .args([
                "--role",
                role,
                "--addr",
                &format!("127.0.0.1:{}", self.port),
            ])
            .args(["--concurrency", "8"])
            .args(&self.backend)
            .env("CHATHOOKS_QUIET", "1")
            .env("STANDARD_WEBHOOKS_SECRET", SECRET)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap()
    }

    /// Every `handled delivery_id=…` line all worker incarnations printed.
    fn handled(&self) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.logs).unwrap() {
            let path = entry.unwrap().path();
            if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("worker")
                || path.extension().is_none_or(|e| e != "log")
            {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                if let Some(rest) = line.strip_prefix("handled delivery_id=") {
                    // A line cut by SIGKILL mid-write has no trailing fields: ignore it.
                    if let Some((id, _)) = rest.split_once(' ') {
                        out.push(id.to_owned());
                    }
                }
            }
        }
        out
    }
}

fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no cleanup, no graceful shutdown.
    let _ = child.kill();
    let _ = child.wait();
}

/// What the processes wrote to stderr so far, for a failure message.
fn stderr_of(logs: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(logs).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "err") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.trim().is_empty() {
                out.push_str(&format!("\n{}: {}", path.display(), text.trim()));
            }
        }
    }
    out
}

async fn wait_listening(port: u16, logs: &std::path::Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            // Generous: the whole test binary runs beside it on two cores.
            start.elapsed() < Duration::from_secs(60),
            "receiver did not start; the processes' stderr:{}",
            stderr_of(logs)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run the crash test against the backend the example selects with `backend_args`, with
/// `workers` worker processes, and assert that nothing acknowledged was lost.
pub async fn crash_test(backend_args: &[String], workers: usize) -> CrashReport {
    let (deliveries, max_worker_kills) = budget();
    let logs = std::env::temp_dir().join(format!(
        "chathooks-crash-{}",
        chathooks::idempotency::ClaimToken::generate().to_hex()
    ));
    std::fs::create_dir_all(&logs).unwrap();
    let mut procs = Procs {
        bin: example_binary(),
        backend: backend_args.to_vec(),
        port: free_port(),
        logs: logs.clone(),
        spawned: 0,
    };
    let port = procs.port;
    let mut receiver = procs.spawn("receiver");
    let mut pool: Vec<Child> = (0..workers).map(|_| procs.spawn("worker")).collect();
    wait_listening(port, &logs).await;

    // Deliveries, with every tenth sent twice (a sender's duplicate).
    let ids: Vec<String> = (0..deliveries)
        .map(|i| format!("msg_crash_{i:05}"))
        .collect();
    let mut jobs = Vec::new();
    let endpoint = Endpoint::new(
        &format!("http://127.0.0.1:{port}/webhooks/standard"),
        Signing::Standard(StandardWebhooks::new(SECRET).unwrap()),
    )
    .unwrap();
    for (i, id) in ids.iter().enumerate() {
        let body = format!(
            r#"{{"type":"contact.created","timestamp":"2026-12-01T12:00:00Z","data":{{"n":{i}}}}}"#
        );
        let msg = Message::with_id(id, body.into_bytes()).unwrap();
        jobs.push((endpoint.clone(), msg.clone()));
        if i.is_multiple_of(10) {
            jobs.push((endpoint.clone(), msg));
        }
    }
    let sender = Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
        .timeout(Duration::from_secs(5))
        .retry_policy(
            RetryPolicy::default()
                .schedule(vec![Duration::from_millis(200); 40])
                .unwrap()
                .jitter(0.5)
                .unwrap(),
        )
        .build()
        .unwrap();

    // The killer: SIGKILL workers and the receiver at random moments while deliveries flow.
    let sending = Arc::new(AtomicBool::new(true));
    let killer = {
        let sending = sending.clone();
        std::thread::spawn(move || {
            let mut rng = chathooks::idempotency::ClaimToken::generate().to_hex();
            let mut next = || {
                rng = chathooks::idempotency::ClaimToken::generate().to_hex();
                u64::from_str_radix(&rng[..8], 16).unwrap()
            };
            let (mut worker_kills, mut receiver_kills) = (0, 0);
            let mut round = 0usize;
            while sending.load(Ordering::SeqCst) || worker_kills < 5 || receiver_kills < 2 {
                std::thread::sleep(Duration::from_millis(150 + next() % 350));
                round += 1;
                if round.is_multiple_of(3) && receiver_kills < 2 {
                    kill(&mut receiver);
                    receiver_kills += 1;
                    std::thread::sleep(Duration::from_millis(next() % 300));
                    receiver = procs.spawn("receiver");
                } else {
                    let i = (next() as usize) % pool.len();
                    kill(&mut pool[i]);
                    worker_kills += 1;
                    std::thread::sleep(Duration::from_millis(next() % 200));
                    pool[i] = procs.spawn("worker");
                }
                // Enough faults: let the rest of the run go quickly.
                if round > 200 || (worker_kills >= max_worker_kills && receiver_kills >= 2) {
                    break;
                }
            }
            (procs, receiver, pool, worker_kills, receiver_kills)
        })
    };
    let started = Instant::now();
    let results = sender.deliver_all(jobs.clone(), 64).await;
    let send_time = started.elapsed();
    sending.store(false, Ordering::SeqCst);
    let (procs, mut receiver, mut pool, worker_kills, receiver_kills) = killer.join().unwrap();

    let mut acknowledged = HashSet::new();
    for ((_, msg), d) in jobs.iter().zip(&results) {
        if d.is_delivered() {
            acknowledged.insert(msg.id().to_owned());
        }
    }
    // Let the surviving workers drain what is stored.
    let start = Instant::now();
    let handled = loop {
        let handled = procs.handled();
        let set: HashSet<_> = handled.iter().cloned().collect();
        if acknowledged.iter().all(|id| set.contains(id))
            || start.elapsed() > Duration::from_secs(40)
        {
            break handled;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    kill(&mut receiver);
    for w in &mut pool {
        kill(w);
    }
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for id in &handled {
        *runs.entry(id.as_str()).or_default() += 1;
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !runs.contains_key(id.as_str()))
        .take(10)
        .collect();
    let report = CrashReport {
        deliveries,
        acknowledged: acknowledged.len(),
        handled: acknowledged
            .iter()
            .filter(|id| runs.contains_key(id.as_str()))
            .count(),
        repeats: runs.values().map(|n| n - 1).sum(),
        worker_kills,
        receiver_kills,
        send_time,
        drain_time: start.elapsed(),
    };
    eprintln!("crash test: {report:?}");
    assert!(
        lost.is_empty(),
        "acknowledged but never handled: {lost:?} ({report:?})"
    );
    assert!(worker_kills >= 5 && receiver_kills >= 2, "{report:?}");
    // A killed worker had at most its concurrency (8) in flight; only those run again.
    assert!(report.repeats <= worker_kills * 8, "{report:?}");
    assert!(
        report.acknowledged >= deliveries * 9 / 10,
        "most deliveries get through despite the kills: {report:?}"
    );
    let _ = std::fs::remove_dir_all(&logs);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_nothing_across_sigkill() {
    let dir = std::env::temp_dir().join(format!(
        "chathooks-crash-sqlite-{}",
        chathooks::idempotency::ClaimToken::generate().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("inbox.sqlite");
    // A 5 s lease, as for Redis: what a killed worker held comes back within the drain
    // window even when the last kill lands after the last answer (the default 30 s did not
    // always fit in the 40 s the drain is given).
    let args = vec![
        "--sqlite".to_owned(),
        path.display().to_string(),
        "--lease".to_owned(),
        "5".to_owned(),
    ];
    let report = crash_test(&args, 1).await;
    assert_eq!(report.handled, report.acknowledged);
    assert!(report.worker_kills >= 5 && report.receiver_kills >= 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 10's Redis run: one receiver process and THREE worker processes sharing one Redis
/// (each worker its own consumer in the group), on a prefix of this run's own. Entries a killed
/// worker held come back to the others through `XAUTOCLAIM` once their lease ends (5 s here,
/// so the run does not wait out the default 30 s).
///
/// Uncapped runs by hand (10 000 deliveries + 1 000 duplicates, load average 12–15): 10 000
/// acknowledged, 10 000 handled, 15 and 2 repeated handler runs, 12 worker and 2 receiver
/// kills, 76 s and 115 s. Under `CI=true` with 4 000 (before every run sent 10 000): 4 000 of
/// 4 000, 0–7 repeats, 16–50 s; with 10 000 on a quiet machine (2026-12-04): 10 000 of 10 000,
/// 5 repeats, 6 worker and 2 receiver kills, 11 s sending, 36 ms draining.
/// Broken on purpose (the example's handler answering Ok before it recorded the delivery,
/// i.e. ack before handling), it failed with 39 of 4 000 acknowledged deliveries lost.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_three_workers_lose_nothing_across_sigkill() {
    let Some(url) = crate::services::redis::url("inbox::crash::redis_three_workers") else {
        return;
    };
    let prefix = format!(
        "chathooks-test:crash:{}:",
        &chathooks::idempotency::ClaimToken::generate().to_hex()[..12]
    );
    let args: Vec<String> = vec![
        "--redis".into(),
        url.clone(),
        "--prefix".into(),
        prefix.clone(),
        "--lease".into(),
        "5".into(),
    ];
    let report = crash_test(&args, 3).await;
    assert_eq!(report.handled, report.acknowledged);
    assert!(report.worker_kills >= 5 && report.receiver_kills >= 2);
    // Leave the shared server as it was, best effort (a busy server may time the scan out):
    // this run's keys only.
    let Ok(client) = redis::Client::open(url.as_str()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
    }
}
