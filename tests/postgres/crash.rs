//! Crash test on Postgres with real processes: one receiver process (HTTP on 127.0.0.1, puts
//! into `PostgresInbox`, answers 200 only after the put committed, 503 + Retry-After when the
//! database cannot answer) and three worker processes (lease batches, a no-op handler that
//! records each delivery id in its own append-only log, then ack), all sharing one throwaway
//! cluster. While signed deliveries (duplicates mixed in) are sent by retrying senders, the
//! test SIGKILLs workers and the receiver and restarts them, and restarts Postgres itself with
//! `pg_ctl restart -m immediate`. At the end every delivery answered 2xx must have been
//! handled: zero lost.
//!
//! The child processes are this test binary itself, re-run with `CHATHOOKS_PG_CRASH_ROLE` set
//! (see [`crash_child_process`]), so no extra binary has to be built.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chathooks::idempotency::{IdSource, IdempotencyKey};
use chathooks::inbox::{Inbox, NewEntry};
use chathooks::postgres::{PostgresInbox, PostgresPool};
use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::Inbound;

use super::service::Cluster;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ROLE: &str = "CHATHOOKS_PG_CRASH_ROLE";
const DELIVERIES: usize = 3000;
const SENDERS: usize = 16;
const WORKERS: usize = 3;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

/// Entry point of the receiver and worker processes. Run normally (without
/// `CHATHOOKS_PG_CRASH_ROLE`) it has nothing to do and returns at once.
#[test]
fn crash_child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    // Never outlive the test that started this process (it may itself be killed).
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(300));
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(1);
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let pool = PostgresPool::options(&env("CHATHOOKS_PG_CRASH_URL"))
            .unwrap()
            .schema(env("CHATHOOKS_PG_CRASH_SCHEMA"))
            .op_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let inbox = Arc::new(PostgresInbox::new(&pool));
        match role.as_str() {
            "receiver" => receiver(inbox, &env("CHATHOOKS_PG_CRASH_ADDR")).await,
            "worker" => worker(inbox, &env("CHATHOOKS_PG_CRASH_LOG")).await,
            other => panic!("unknown role {other}"),
        }
    });
}

async fn receiver(inbox: Arc<PostgresInbox>, addr: &str) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let verifier = Arc::new(StandardWebhooks::new(SECRET).unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (inbox, verifier) = (inbox.clone(), verifier.clone());
            async move {
                let verified = match verifier.verify(&Inbound::new(&headers, &body)) {
                    Ok(v) => v,
                    Err(e) => return (e.status(), e.to_string()).into_response(),
                };
                let id = verified.signed_delivery_id().unwrap_or_default().to_owned();
                let key =
                    match IdempotencyKey::with_source("standard", IdSource::SignedDelivery, &id) {
                        Ok(k) => k,
                        Err(e) => return (e.status(), e.to_string()).into_response(),
                    };
                let entry = NewEntry::new("standard", "standard", key, body.clone())
                    .with_signed_delivery_id(id);
                match inbox.put(entry).await {
                    Ok(_) => (StatusCode::OK, "{\"ok\":true}").into_response(),
                    Err(err) => {
                        let after = err.retry_after().unwrap_or(Duration::from_secs(1));
                        let mut resp = (err.status(), err.to_string()).into_response();
                        resp.headers_mut().insert(
                            "retry-after",
                            after.as_secs().max(1).to_string().parse().unwrap(),
                        );
                        resp
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    axum::serve(listener, app).await.unwrap();
}

async fn worker(inbox: Arc<PostgresInbox>, log: &str) {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut backoff = Duration::from_millis(50);
    println!("worker up");
    let _ = std::io::stdout().flush();
    loop {
        match inbox.lease(50, Duration::from_secs(2)).await {
            Ok(leases) if leases.is_empty() => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(leases) => {
                backoff = Duration::from_millis(50);
                // The no-op handler: record the delivery id (one write per entry, unbuffered,
                // so a SIGKILL loses nothing that was "handled").
                for l in &leases {
                    let id = l.entry.signed_delivery_id.as_deref().unwrap_or("?");
                    log.write_all(format!("{id}\n").as_bytes()).unwrap();
                }
                let acks = leases.iter().map(|l| inbox.ack(&l.entry.id, l.token));
                for r in join_all(acks).await {
                    if let Err(e) = r {
                        eprintln!("ack failed (the entry will be leased again): {e}");
                    }
                }
            }
            Err(err) => {
                // The database is away: back off (bounded) and try again on the same pool.
                eprintln!("lease failed, retrying in {backoff:?}: {err}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Await every future at once (no extra crate for `join_all`).
async fn join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
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
    out.into_iter().flatten().collect()
}

/// One child process of this test binary in `role`.
struct Node {
    role: &'static str,
    envs: Vec<(String, String)>,
    child: Option<Child>,
    starts: usize,
}

impl Node {
    fn new(role: &'static str, envs: Vec<(String, String)>) -> Node {
        let mut n = Node {
            role,
            envs,
            child: None,
            starts: 0,
        };
        n.start();
        n
    }

    fn start(&mut self) {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            "postgres::crash::crash_child_process",
            "--nocapture",
        ])
        .arg("--test-threads=1")
        .env(ROLE, self.role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        // Wait for its ready line, so a kill never lands before it could work.
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("listening on") || l.contains("worker up"));
        assert!(ready, "{} did not start", self.role);
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL (std's `Child::kill` on Unix) and wait for it to be gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Default)]
struct Sent {
    acknowledged: std::sync::Mutex<HashSet<String>>,
    unavailable: AtomicU64,
    other_errors: AtomicU64,
    posts: AtomicU64,
}

/// Send delivery `id` until it is answered 2xx (the reference sender's behaviour: retry every
/// non-2xx), for at most `give_up`.
async fn send_until_ok(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    sent: &Sent,
    give_up: Instant,
) {
    let signer = StandardWebhooks::new(SECRET).unwrap();
    let body = format!(r#"{{"type":"crash.test","data":{{"id":"{id}"}}}}"#);
    let mut delay = Duration::from_millis(20);
    while Instant::now() < give_up {
        let now = SystemTime::now();
        let ts = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let sig = signer.sign(id, now, body.as_bytes());
        sent.posts.fetch_add(1, Ordering::Relaxed);
        let resp = client
            .post(url)
            .header("webhook-id", id)
            .header("webhook-timestamp", ts)
            .header("webhook-signature", sig)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                sent.acknowledged.lock().unwrap().insert(id.to_owned());
                return;
            }
            Ok(r) if r.status() == 503 => {
                sent.unavailable.fetch_add(1, Ordering::Relaxed);
                assert!(
                    r.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
            }
            // Connection refused or reset: the receiver is being killed and restarted.
            _ => {
                sent.other_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

fn handled_ids(dir: &Path) -> (HashMap<String, usize>, usize) {
    let mut counts = HashMap::new();
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "log") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                // A SIGKILL can cut the last write short; a cut id was not handled.
                if line.starts_with("crash-") && line.len() == "crash-000000".len() {
                    *counts.entry(line.to_owned()).or_insert(0) += 1;
                    total += 1;
                }
            }
        }
    }
    (counts, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_workers_and_postgres_killed_zero_acknowledged_lost() {
    let Some(cluster) = Cluster::start("pg_crash") else {
        return;
    };
    let url = cluster.url();
    let schema = "crash";
    let pool = PostgresPool::options(&url)
        .unwrap()
        .schema(schema)
        .connect()
        .await
        .unwrap();
    pool.migrate().await.unwrap();
    let inbox = PostgresInbox::new(&pool);

    let dir: PathBuf = std::env::temp_dir().join(format!(
        "chathooks-pg-crash-{}",
        &chathooks::idempotency::ClaimToken::generate().to_hex()[..10]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let base = vec![
        ("CHATHOOKS_PG_CRASH_URL".to_owned(), url.clone()),
        ("CHATHOOKS_PG_CRASH_SCHEMA".to_owned(), schema.to_owned()),
    ];
    let mut recv_env = base.clone();
    recv_env.push(("CHATHOOKS_PG_CRASH_ADDR".to_owned(), addr.clone()));
    let mut receiver = Node::new("receiver", recv_env);
    let worker_env = |i: usize, gen: usize| {
        let mut e = base.clone();
        e.push((
            "CHATHOOKS_PG_CRASH_LOG".to_owned(),
            dir.join(format!("worker{i}-{gen}.log"))
                .display()
                .to_string(),
        ));
        e
    };
    let mut workers: Vec<Node> = (0..WORKERS)
        .map(|i| Node::new("worker", worker_env(i, 0)))
        .collect();

    // Senders: every delivery until 2xx; every tenth is sent twice (a duplicate delivery).
    let sent = Arc::new(Sent::default());
    let give_up = Instant::now() + Duration::from_secs(90);
    let hook = format!("http://{addr}/hook");
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (sent, hook, next) = (sent.clone(), hook.clone(), next.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().build().unwrap();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if n >= DELIVERIES {
                        return;
                    }
                    let id = format!("crash-{n:06}");
                    send_until_ok(&client, &hook, &id, &sent, give_up).await;
                    if n.is_multiple_of(10) {
                        send_until_ok(&client, &hook, &id, &sent, give_up).await;
                    }
                }
            })
        })
        .collect();

    // Chaos while the senders run: 6 worker kills, 2 receiver kills, 1 Postgres crash-restart.
    let progress = |next: &AtomicU64| next.load(Ordering::Relaxed) as usize;
    let mut worker_kills = 0;
    let mut receiver_kills = 0;
    let mut pg_restarts = 0;
    let mut unavailable_before_pg = 0;
    let mut unavailable_during_pg = 0;
    for step in 0..9 {
        // Spread the faults over the run: wait for the next slice of deliveries.
        let target = DELIVERIES * (step + 1) / 11;
        while progress(&next) < target && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match step {
            1 | 6 => {
                receiver.kill();
                tokio::time::sleep(Duration::from_millis(200)).await;
                receiver.start();
                receiver_kills += 1;
            }
            4 => {
                unavailable_before_pg = sent.unavailable.load(Ordering::Relaxed);
                let took = tokio::task::block_in_place(|| cluster.restart_immediate());
                // Senders back off up to 500 ms: give the ones that hit the outage time to
                // report it before reading the count.
                tokio::time::sleep(Duration::from_millis(600)).await;
                unavailable_during_pg = sent.unavailable.load(Ordering::Relaxed);
                eprintln!("postgres restarted (-m immediate) in {took:?}");
                pg_restarts += 1;
            }
            _ => {
                let w = &mut workers[step % WORKERS];
                w.kill();
                let gen = w.starts;
                w.envs = worker_env(step % WORKERS, gen);
                w.start();
                worker_kills += 1;
            }
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    let send_time = started.elapsed();

    // Drain: wait until nothing is left to handle.
    let drained_by = Instant::now() + Duration::from_secs(60);
    loop {
        let s = inbox.stats().await.unwrap();
        if s.pending + s.leased + s.retrying == 0 {
            break;
        }
        assert!(Instant::now() < drained_by, "inbox not drained: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in &mut workers {
        w.kill();
    }
    receiver.kill();

    let acknowledged = sent.acknowledged.lock().unwrap().clone();
    let (handled, runs) = handled_ids(&dir);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let repeats = runs - handled.len();
    let stats = inbox.stats().await.unwrap();
    eprintln!(
        "postgres crash test: {DELIVERIES} deliveries (+{} duplicates) in {send_time:?}, \
         {} POSTs, {} acknowledged, {} answered 503 ({} during the Postgres restart), {} connection \
         errors; {worker_kills} worker kills, {receiver_kills} receiver kills, {pg_restarts} \
         Postgres restart; {} handled, {repeats} repeated handler runs, {} lost; done rows {}",
        DELIVERIES.div_ceil(10),
        sent.posts.load(Ordering::Relaxed),
        acknowledged.len(),
        sent.unavailable.load(Ordering::Relaxed),
        unavailable_during_pg - unavailable_before_pg,
        sent.other_errors.load(Ordering::Relaxed),
        handled.len(),
        lost.len(),
        stats.done,
    );
    assert_eq!(
        acknowledged.len(),
        DELIVERIES,
        "every delivery was acknowledged in the end"
    );
    assert!(lost.is_empty(), "acknowledged but never handled: {lost:?}");
    assert_eq!(
        stats.done as usize, DELIVERIES,
        "one entry per delivery, duplicates stored once"
    );
    assert!(worker_kills >= 5 && receiver_kills >= 2 && pg_restarts == 1);
    assert!(
        unavailable_during_pg > unavailable_before_pg,
        "receivers must answer 503 while Postgres restarts"
    );
    // Repeats come only from kills and the restart: bounded by kills x lease batch.
    assert!(
        repeats <= (worker_kills + 1) * 50 * WORKERS,
        "{repeats} repeats"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
