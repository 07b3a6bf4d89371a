//! `RedisInbox`: the shared behaviour suite on the server at `REDIS_URL`, the documented data
//! layout and trimming policy, takeover between consumers through `XAUTOCLAIM`, bounded
//! batches, and an outage against a redis-server this test starts, kills and restarts.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chathooks::idempotency::ClaimToken;
use chathooks::inbox::redis::MAX_LEASE_BATCH;
use chathooks::inbox::{
    AfterFailure, EntryState, Inbox, ListFilter, NewEntry, PutOutcome, RedisInbox,
};
use chathooks::Error;
use redis::aio::MultiplexedConnection;

use super::suite::{accepted, entry, fresh_key, inbox_suite};
use crate::services::redis::url as redis_url;
use crate::services::redis::Server;
use crate::services::{free_port, in_ci, installed, loud};

const LONG: Duration = Duration::from_secs(60);

fn fresh_prefix(test: &str) -> String {
    format!(
        "chathooks-test:inbox:{test}:{}:",
        &ClaimToken::generate().to_hex()[..12]
    )
}

async fn make(test: &str) -> Option<Arc<dyn Inbox>> {
    let url = redis_url(test)?;
    let inbox = RedisInbox::connect(&url)
        .await
        .expect("REDIS_URL is set but Redis cannot be reached")
        .with_prefix(fresh_prefix(test));
    Some(Arc::new(inbox))
}

inbox_suite!(make);

/// Two instances (two consumers) on one fresh prefix, plus a raw connection to look inside.
async fn pair(test: &str) -> Option<(RedisInbox, RedisInbox, MultiplexedConnection)> {
    let url = redis_url(test)?;
    let prefix = fresh_prefix(test);
    let a = RedisInbox::connect(&url)
        .await
        .unwrap()
        .with_prefix(prefix.clone())
        .with_consumer("worker-a")
        .unwrap();
    let b = RedisInbox::connect(&url)
        .await
        .unwrap()
        .with_prefix(prefix)
        .with_consumer("worker-b")
        .unwrap();
    let raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Some((a, b, raw))
}

async fn q<T: redis::FromRedisValue>(raw: &MultiplexedConnection, cmd: &mut redis::Cmd) -> T {
    cmd.query_async(&mut raw.clone()).await.unwrap()
}

/// `(consumer, message id)` for every message in the group's pending list.
async fn pel(raw: &MultiplexedConnection, prefix: &str) -> Vec<(String, String)> {
    let rows: Vec<(String, String, u64, u64)> = q(
        raw,
        redis::cmd("XPENDING")
            .arg(format!("{prefix}q"))
            .arg("workers")
            .arg("-")
            .arg("+")
            .arg(10_000),
    )
    .await;
    rows.into_iter().map(|(id, c, _, _)| (c, id)).collect()
}

async fn xlen(raw: &MultiplexedConnection, key: String) -> u64 {
    q(raw, redis::cmd("XLEN").arg(key)).await
}

#[tokio::test]
async fn keys_and_streams_are_laid_out_as_documented() {
    let Some((a, _b, raw)) = pair("layout").await else {
        return;
    };
    let p = a.prefix().to_owned();
    let body = b"\x00\xffbinary\r\n".to_vec();
    let e = NewEntry::new("sam", "sam", fresh_key("layout"), body.clone())
        .with_header("X-Sam-Signature", "abc")
        .with_signed_delivery_id("d1");
    let key = e.key.clone();
    let id = accepted(&a, e).await;
    assert_eq!(id.as_str().len(), 12, "zero-padded counter id: {id}");
    assert!(id.as_str().bytes().all(|b| b.is_ascii_digit()));
    // The dedupe index and the hash.
    let indexed: String = q(
        &raw,
        redis::cmd("GET").arg(format!("{p}k:{}", key.as_str())),
    )
    .await;
    assert_eq!(indexed, id.as_str());
    let h = format!("{p}e:{id}");
    let (st, ns, k, sid): (String, String, String, String) = q(
        &raw,
        redis::cmd("HMGET").arg(&h).arg(&["st", "ns", "k", "sid"]),
    )
    .await;
    assert_eq!(
        (st.as_str(), ns.as_str(), sid.as_str()),
        ("pending", "sam", "d1")
    );
    assert_eq!(k, key.as_str());
    // Headers and body beside the hash: `<length of the headers' JSON>:<JSON><body>`.
    let data: Vec<u8> = q(&raw, redis::cmd("GET").arg(format!("{p}d:{id}"))).await;
    let headers = br#"[["x-sam-signature","abc"]]"#;
    let mut expected = format!("{}:", headers.len()).into_bytes();
    expected.extend_from_slice(headers);
    expected.extend_from_slice(&body);
    assert_eq!(
        data, expected,
        "body stored byte for byte after the headers"
    );
    let (hb, hh): (Option<Vec<u8>>, Option<String>) =
        q(&raw, redis::cmd("HMGET").arg(&h).arg(&["b", "h"])).await;
    assert_eq!((hb, hh), (None, None), "no body or headers in the hash");
    // One message in the work stream naming the entry; nothing leased yet.
    let msgs: Vec<(String, Vec<(String, String)>)> = q(
        &raw,
        redis::cmd("XRANGE").arg(format!("{p}q")).arg("-").arg("+"),
    )
    .await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].1, vec![("e".to_owned(), id.as_str().to_owned())]);
    let pending_ids: Vec<String> = q(
        &raw,
        redis::cmd("ZRANGE")
            .arg(format!("{p}s:pending"))
            .arg(0)
            .arg(-1),
    )
    .await;
    assert_eq!(pending_ids, vec![id.as_str().to_owned()]);

    // Leased: in the consumer group's pending list under this consumer, token in the hash.
    let l = a.lease(10, LONG).await.unwrap().remove(0);
    assert_eq!(
        pel(&raw, &p).await,
        vec![("worker-a".to_owned(), msgs[0].0.clone())]
    );
    let tok: String = q(&raw, redis::cmd("HGET").arg(&h).arg("tok")).await;
    assert_eq!(tok, l.token.to_hex());

    // Dead: out of the work stream, one message in the dead-letter stream.
    assert!(a
        .fail(&id, l.token, "bad", AfterFailure::Dead)
        .await
        .unwrap());
    assert!(pel(&raw, &p).await.is_empty());
    // The next lease trims the handled message away.
    assert!(a.lease(10, LONG).await.unwrap().is_empty());
    assert_eq!(xlen(&raw, format!("{p}q")).await, 0);
    let dead: Vec<(String, Vec<(String, String)>)> = q(
        &raw,
        redis::cmd("XRANGE")
            .arg(format!("{p}dead"))
            .arg("-")
            .arg("+"),
    )
    .await;
    assert_eq!(dead.len(), 1);
    let fields: std::collections::HashMap<_, _> = dead[0].1.iter().cloned().collect();
    assert_eq!(fields["e"], id.as_str());
    assert_eq!(fields["a"], "1");
    assert_eq!(fields["err"], "bad");
    assert_eq!(fields["ns"], "sam");
    // Replayed: the dead letter leaves the dead stream and the entry is back on the work stream.
    assert_eq!(
        a.replay(&chathooks::inbox::ReplaySelector::id(id.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(xlen(&raw, format!("{p}dead")).await, 0);
    assert_eq!(xlen(&raw, format!("{p}q")).await, 1);
}

/// The server's clock in milliseconds, as the scripts read it.
async fn server_ms(raw: &MultiplexedConnection) -> u64 {
    let (secs, micros): (u64, u64) = q(raw, &mut redis::cmd("TIME")).await;
    secs * 1000 + micros / 1000
}

/// Purge's cut-off is exclusive, as on every backend. The scripts read the server's clock,
/// which a test cannot stop, so each try reads `TIME` just before and after the purge: when
/// both fall in one millisecond the script's `now` was that millisecond, `older_than` put the
/// cut-off exactly on the entry's finishing time, and the entry must stay. Tries that straddle
/// a millisecond prove nothing and are not judged.
#[tokio::test]
async fn purge_spares_an_entry_that_finished_exactly_at_the_cut_off() {
    let Some((a, _b, raw)) = pair("purge-edge").await else {
        return;
    };
    let p = a.prefix().to_owned();
    for state in [EntryState::Done, EntryState::Dead] {
        let mut judged = 0;
        for i in 0..500 {
            let id = accepted(
                &a,
                entry(&format!("purge-edge-{state}-{i}"), Duration::ZERO),
            )
            .await;
            let l = a.lease(1, LONG).await.unwrap().remove(0);
            assert_eq!(l.entry.id, id);
            // When it finished, on the server's clock: the score of `t:done`, or the
            // millisecond part of the dead-letter message id.
            let finished: u64 = if state == EntryState::Done {
                assert!(a.ack(&id, l.token).await.unwrap());
                q(
                    &raw,
                    redis::cmd("ZSCORE")
                        .arg(format!("{p}t:done"))
                        .arg(id.as_str()),
                )
                .await
            } else {
                assert!(a.fail(&id, l.token, "x", AfterFailure::Dead).await.unwrap());
                let dx: String =
                    q(&raw, redis::cmd("HGET").arg(format!("{p}e:{id}")).arg("dx")).await;
                dx.split('-').next().unwrap().parse().unwrap()
            };
            let before = server_ms(&raw).await;
            a.purge(Duration::from_millis(before - finished))
                .await
                .unwrap();
            let after = server_ms(&raw).await;
            if before == after {
                let kept = a.get(&id).await.unwrap();
                assert!(
                    kept.is_some(),
                    "a {state} entry that finished exactly at the cut-off was purged"
                );
                judged += 1;
                if judged == 5 {
                    break;
                }
            }
        }
        assert!(
            judged > 0,
            "no {state} purge ran within one millisecond of the server clock"
        );
    }
    // A millisecond past the edge, everything goes.
    tokio::time::sleep(Duration::from_millis(2)).await;
    a.purge(Duration::ZERO).await.unwrap();
    let stats = a.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (0, 0));
}

#[tokio::test]
async fn handled_messages_are_trimmed_and_unhandled_ones_never() {
    let Some((a, _b, raw)) = pair("trim").await else {
        return;
    };
    let p = a.prefix().to_owned();
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(accepted(&a, entry(&format!("trim{i}"), Duration::ZERO)).await);
    }
    let leased = a.lease(40, LONG).await.unwrap();
    assert_eq!(leased.len(), 40);
    // 20 done, 10 retrying far in the future, 5 dead, 5 still leased; 20 never leased.
    let far = SystemTime::now() + Duration::from_secs(3600);
    for (i, l) in leased.iter().enumerate() {
        let id = &l.entry.id;
        match i {
            0..20 => assert!(a.ack(id, l.token).await.unwrap()),
            20..30 => assert!(a
                .fail(id, l.token, "later", AfterFailure::RetryAt(far))
                .await
                .unwrap()),
            30..35 => assert!(a
                .fail(id, l.token, "dead", AfterFailure::Dead)
                .await
                .unwrap()),
            _ => {}
        }
    }
    // Ending an attempt acknowledges its message at once.
    assert_eq!(pel(&raw, &p).await.len(), 5);
    assert_eq!(xlen(&raw, format!("{p}dead")).await, 5);
    // Purging everything done or dead touches nothing else. (Purge takes what finished
    // strictly before its cut-off: an attempt ended in the same millisecond would stay.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(a.purge(Duration::ZERO).await.unwrap(), 25);
    let s = a.stats().await.unwrap();
    assert_eq!(
        (s.pending, s.leased, s.retrying, s.dead, s.done),
        (20, 5, 10, 0, 0)
    );
    // Every unhandled entry is still there, whole.
    let mut left = HashSet::new();
    for id in &ids {
        if let Some(e) = a.get(id).await.unwrap() {
            assert_eq!(&e.body[..], br#"{"type":"t"}"#);
            left.insert(id.clone());
        }
    }
    assert_eq!(left.len(), 35);
    // The next lease trims what was handled: the stream now starts at the oldest message
    // still leased (the five kept), and holds those and every undelivered one.
    let first_kept: Vec<(String, Vec<(String, String)>)> = q(
        &raw,
        redis::cmd("XRANGE")
            .arg(format!("{p}q"))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1),
    )
    .await;
    let rest = a.lease(100, LONG).await.unwrap();
    assert_eq!(rest.len(), 20, "the never-leased ones");
    assert_eq!(xlen(&raw, format!("{p}q")).await, 5 + 20);
    let head: Vec<(String, Vec<(String, String)>)> = q(
        &raw,
        redis::cmd("XRANGE")
            .arg(format!("{p}q"))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1),
    )
    .await;
    assert_eq!(
        head[0].1[0].1,
        leased[35].entry.id.as_str(),
        "trimmed up to the oldest leased"
    );
    assert_ne!(head[0].0, first_kept[0].0, "handled messages were trimmed");
    for l in rest {
        assert!(a.ack(&l.entry.id, l.token).await.unwrap());
    }
    for l in leased.iter().skip(35) {
        assert!(a.ack(&l.entry.id, l.token).await.unwrap());
    }
    assert!(a.lease(100, LONG).await.unwrap().is_empty());
    assert_eq!(
        xlen(&raw, format!("{p}q")).await,
        0,
        "nothing left behind in the work stream once all is handled"
    );
}

#[tokio::test]
async fn a_dead_consumers_leases_are_taken_over_through_xautoclaim() {
    let Some((a, b, raw)) = pair("takeover").await else {
        return;
    };
    let p = a.prefix().to_owned();
    for i in 0..5 {
        accepted(&a, entry(&format!("takeover{i}"), Duration::ZERO)).await;
    }
    let short = Duration::from_secs(1);
    let held = a.lease(10, short).await.unwrap();
    assert_eq!(held.len(), 5);
    assert!(pel(&raw, &p).await.iter().all(|(c, _)| c == "worker-a"));
    // Held: b gets nothing yet.
    assert!(b.lease(10, LONG).await.unwrap().is_empty());
    // a "dies"; after its lease b takes everything over, even though b leases for longer.
    tokio::time::sleep(short + Duration::from_millis(500)).await;
    let taken = b.lease(10, LONG).await.unwrap();
    assert_eq!(taken.len(), 5);
    let owners = pel(&raw, &p).await;
    assert_eq!(owners.len(), 5);
    assert!(owners.iter().all(|(c, _)| c == "worker-b"), "{owners:?}");
    for (old, new) in held.iter().zip(&taken) {
        assert_eq!(old.entry.id, new.entry.id, "same order");
        assert_ne!(old.token, new.token);
        assert!(
            !a.ack(&old.entry.id, old.token).await.unwrap(),
            "the stale ack is refused"
        );
        assert!(!a.release(&old.entry.id, old.token).await.unwrap());
    }
    for l in &taken {
        assert!(b.ack(&l.entry.id, l.token).await.unwrap());
    }
    assert!(pel(&raw, &p).await.is_empty());
    assert_eq!(a.stats().await.unwrap().done, 5);
}

#[tokio::test]
async fn a_longer_lease_is_not_stolen_by_a_worker_with_a_shorter_one() {
    let Some((a, b, raw)) = pair("mixed").await else {
        return;
    };
    let p = a.prefix().to_owned();
    let id = accepted(&a, entry("mixed-long", Duration::ZERO)).await;
    let long = a.lease(1, LONG).await.unwrap().remove(0);
    // b leases with a short lease: its XAUTOCLAIM looks at a's message once it is idle
    // past b's lease, must see that a's lease still runs, and give it back.
    let short_id = accepted(&a, entry("mixed-short", Duration::ZERO)).await;
    let s = b
        .lease(1, Duration::from_millis(300))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(s.entry.id, short_id);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let again = b.lease(10, Duration::from_millis(300)).await.unwrap();
    let ids: Vec<_> = again.iter().map(|l| l.entry.id.clone()).collect();
    assert_eq!(
        ids,
        vec![short_id.clone()],
        "only b's own expired lease comes back"
    );
    let owners: std::collections::HashMap<_, _> = pel(&raw, &p)
        .await
        .into_iter()
        .map(|(c, m)| (m, c))
        .collect();
    assert_eq!(
        owners.values().filter(|c| *c == "worker-a").count(),
        1,
        "{owners:?}"
    );
    assert!(a.ack(&id, long.token).await.unwrap());
    assert!(b.ack(&short_id, again[0].token).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_consumers_share_the_work_without_overlap() {
    let Some(url) = redis_url("three_consumers") else {
        return;
    };
    let prefix = fresh_prefix("three");
    let mut inboxes = Vec::new();
    for i in 0..3 {
        inboxes.push(
            RedisInbox::connect(&url)
                .await
                .unwrap()
                .with_prefix(prefix.clone())
                .with_consumer(format!("w{i}"))
                .unwrap(),
        );
    }
    let n = 600;
    for i in 0..n {
        accepted(&inboxes[i % 3], entry(&format!("three{i}"), Duration::ZERO)).await;
    }
    let tasks: Vec<_> = inboxes
        .iter()
        .cloned()
        .map(|inbox| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = inbox.lease(25, LONG).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    for l in batch {
                        assert!(inbox.ack(&l.entry.id, l.token).await.unwrap());
                        mine.push(l.entry.id);
                    }
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id.clone()), "handled twice: {id}");
        }
    }
    assert_eq!(seen.len(), n);
    assert_eq!(inboxes[0].stats().await.unwrap().done, n as u64);
}

#[tokio::test]
async fn batches_and_scans_are_bounded_but_complete() {
    let Some((a, _b, _raw)) = pair("bounded").await else {
        return;
    };
    // More entries than one script call examines (256) and than one lease returns (1000).
    let n = MAX_LEASE_BATCH + 100;
    for i in 0..n {
        let ns = if i == n - 1 { "last" } else { "test" };
        let e = NewEntry::new(ns, "standard", fresh_key(&format!("b{i}")), &b"{}"[..]);
        assert!(a.put(e).await.unwrap().is_accepted());
    }
    // A namespace filter finds the one match past many chunks.
    let last = a.list(&ListFilter::all().namespace("last")).await.unwrap();
    assert_eq!(last.len(), 1);
    let page = a
        .list(&ListFilter::state(EntryState::Pending).limit(700))
        .await
        .unwrap();
    assert_eq!(page.len(), 700);
    let batch = a.lease(usize::MAX, LONG).await.unwrap();
    assert_eq!(
        batch.len(),
        MAX_LEASE_BATCH,
        "lease is cut to MAX_LEASE_BATCH"
    );
    for l in &batch {
        assert!(a.ack(&l.entry.id, l.token).await.unwrap());
    }
    let rest = a.lease(usize::MAX, LONG).await.unwrap();
    assert_eq!(rest.len(), 100);
    for l in &rest {
        assert!(a.ack(&l.entry.id, l.token).await.unwrap());
    }
    // Purge deletes in chunks until nothing old is left (past the last ack's millisecond).
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(a.purge(Duration::ZERO).await.unwrap(), n as u64);
    assert_eq!(a.stats().await.unwrap().done, 0);
}

#[tokio::test]
async fn consumer_names_are_validated_and_idle_empty_consumers_pruned() {
    let Some((a, b, _raw)) = pair("consumers").await else {
        return;
    };
    for bad in ["", "two words", &"x".repeat(129), "tab\t"] {
        let r = a.clone().with_consumer(bad);
        assert!(matches!(r, Err(Error::Config(_))), "{bad:?}");
    }
    assert!(matches!(
        RedisInbox::connect("redis://127.0.0.1:1/").await,
        Err(Error::StoreUnavailable { .. })
    ));
    assert!(matches!(
        RedisInbox::connect("not a url").await,
        Err(Error::Config(_))
    ));
    // Nothing to prune before the group exists.
    assert_eq!(a.prune_consumers(Duration::ZERO).await.unwrap(), 0);
    let id = accepted(&a, entry("prune", Duration::ZERO)).await;
    let l = a.lease(1, LONG).await.unwrap().remove(0);
    // b joins the group by reading one entry, then holds nothing.
    accepted(&b, entry("prune-b", Duration::ZERO)).await;
    let lb = b.lease(1, LONG).await.unwrap().remove(0);
    assert!(b.ack(&lb.entry.id, lb.token).await.unwrap());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // b is pruned by a; a (holding a lease) is never pruned, by b or anyone.
    assert_eq!(
        a.prune_consumers(Duration::from_millis(10)).await.unwrap(),
        1
    );
    assert_eq!(
        b.prune_consumers(Duration::from_millis(10)).await.unwrap(),
        0
    );
    assert!(a.ack(&id, l.token).await.unwrap());
    let dbg = format!("{a:?}");
    assert!(
        dbg.contains("worker-a") && !dbg.contains("redis://"),
        "{dbg}"
    );
}

/// A free loopback port and a fresh data directory, or `None` (loudly) without redis-server.
fn own_server_setup(test: &str) -> Option<(u16, PathBuf)> {
    if !installed("redis-server") {
        assert!(
            !in_ci(),
            "{test}: redis-server is not on PATH and CI=true (`apt-get install redis-server`)"
        );
        loud(&format!("SKIPPED {test}: redis-server is not on PATH"));
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "chathooks-inbox-{test}-{}",
        &ClaimToken::generate().to_hex()[..12]
    ));
    Some((free_port(), dir))
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, r: Result<T, Error>) {
    match r {
        Err(err @ Error::StoreUnavailable { .. }) => {
            assert_eq!(err.status(), 503, "{what}");
            assert!(err.retry_after().is_some(), "{what}");
        }
        other => panic!("{what}: expected StoreUnavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_store_unavailable_then_the_same_inbox_recovers() {
    let Some((port, dir)) = own_server_setup("inbox-outage") else {
        return;
    };
    let mut server = Server::durable(port, dir);
    let inbox = RedisInbox::connect(&format!("redis://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .with_op_timeout(Duration::from_secs(1));
    let kept = accepted(&inbox, entry("outage-before", Duration::ZERO)).await;
    let l = inbox.lease(1, LONG).await.unwrap().remove(0);

    server.kill();
    let started = Instant::now();
    assert_unavailable("put", inbox.put(entry("outage-down", Duration::ZERO)).await);
    assert_unavailable("lease", inbox.lease(10, LONG).await);
    assert_unavailable("ack", inbox.ack(&kept, l.token).await);
    assert_unavailable(
        "fail",
        inbox.fail(&kept, l.token, "x", AfterFailure::Dead).await,
    );
    assert_unavailable("release", inbox.release(&kept, l.token).await);
    assert_unavailable("get", inbox.get(&kept).await);
    assert_unavailable("list", inbox.list(&ListFilter::all()).await);
    assert_unavailable("stats", inbox.stats().await);
    assert_unavailable("purge", inbox.purge(Duration::ZERO).await);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "each call gave up within its timeout"
    );

    server.restart();
    // The same inbox (same connection manager) reconnects on its own; the entry and its lease
    // survived in the append-only file.
    let started = Instant::now();
    let acked = loop {
        match inbox.ack(&kept, l.token).await {
            Ok(done) => break done,
            Err(err) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "no recovery: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(acked, "the lease taken before the outage still holds");
    let again = inbox
        .put(entry("outage-before", Duration::ZERO))
        .await
        .unwrap();
    assert!(again.is_accepted(), "a fresh key");
    let e = inbox.get(&kept).await.unwrap().unwrap();
    assert_eq!(e.state, EntryState::Done);
    assert!(matches!(
        inbox
            .put(NewEntry::new("test", "standard", e.key.clone(), Vec::new()))
            .await
            .unwrap(),
        PutOutcome::Duplicate(_)
    ));
}

/// A `Worker` on a `RedisInbox` keeps going through a Redis outage: while the server is
/// down its leases fail (it backs off), and when the server is back (with what its
/// append-only file kept) it handles everything that was stored, each entry done.
#[cfg(feature = "worker")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_backs_off_while_redis_is_down_and_resumes_when_it_returns() {
    use std::sync::Mutex;

    use chathooks::idempotency::IdempotencyKey;
    use chathooks::receiver::RawBody;
    use chathooks::worker::{Job, Worker};

    let Some((port, dir)) = own_server_setup("inbox-worker-outage") else {
        return;
    };
    let mut server = Server::durable(port, dir);
    let inbox = RedisInbox::connect(&format!("redis://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .with_op_timeout(Duration::from_millis(500));
    let n = 300;
    for i in 0..n {
        let key = IdempotencyKey::new("raw", &format!("outage-{i}")).unwrap();
        let e = NewEntry::new("raw", "standard", key, format!("{i}").into_bytes());
        assert!(inbox.put(e).await.unwrap().is_accepted());
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let worker = Worker::new(inbox.clone())
        .route_raw("raw", move |job: Job<RawBody>| {
            let s = s.clone();
            async move {
                // Slow enough that the outage lands in the middle of the run.
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.lock().unwrap().push(job.event().0.clone());
                Ok::<(), String>(())
            }
        })
        .concurrency(4)
        .batch(4)
        .lease(Duration::from_secs(2))
        .idle_poll(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(500));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run(async {
        let _ = stop_rx.await;
    }));
    let started = Instant::now();
    while seen.lock().unwrap().len() < n / 4 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "worker never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let at_kill = seen.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();
    let started = Instant::now();
    loop {
        let s = inbox.stats().await;
        if matches!(s, Ok(s) if s.done == n as u64) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "not everything handled after the restart: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    let report = run.await.unwrap();
    eprintln!("worker through the outage: {report:?}; {at_kill} handled before the kill");
    assert!(
        report.inbox_errors > 0,
        "the worker saw the outage: {report:?}"
    );
    let seen = seen.lock().unwrap();
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), n, "every stored entry handled");
    assert!(at_kill < n, "the outage came mid-run");
}

/// A typical entry's hash stays a listpack (Redis' compact encoding): every value is under
/// `hash-max-listpack-value`, because the body and headers live in `P d:<id>`. One long value
/// turns the hash into a table of separately allocated fields (a third more memory per entry).
#[tokio::test]
async fn entry_hash_stays_compact_with_a_large_body() {
    let Some((a, _b, raw)) = pair("compact").await else {
        return;
    };
    let p = a.prefix().to_owned();
    let e = NewEntry::new(
        "standard",
        "standard",
        fresh_key("compact"),
        vec![b'x'; 4096],
    )
    .with_header("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    .with_header("webhook-timestamp", "1764620000")
    .with_header("content-type", "application/json")
    .with_signed_delivery_id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    let id = accepted(&a, e).await;
    let limit: (String, u64) = q(
        &raw,
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("hash-max-listpack-value"),
    )
    .await;
    if limit.1 < 64 {
        loud(&format!(
            "compact: skipped, this server's {} is {}",
            limit.0, limit.1
        ));
        return;
    }
    let encoding: String = q(
        &raw,
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(format!("{p}e:{id}")),
    )
    .await;
    assert_eq!(encoding, "listpack");
    // Leased through a worker's path as well: body and headers come back from `P d:<id>`.
    let l = a.lease(1, LONG).await.unwrap().remove(0);
    assert_eq!(l.entry.body.len(), 4096);
    assert_eq!(l.entry.header("webhook-timestamp"), Some("1764620000"));
    // Purged with its hash.
    assert!(a.ack(&id, l.token).await.unwrap());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(a.purge(Duration::ZERO).await.unwrap(), 1);
    let left: u64 = q(
        &raw,
        redis::cmd("EXISTS")
            .arg(format!("{p}e:{id}"))
            .arg(format!("{p}d:{id}")),
    )
    .await;
    assert_eq!(left, 0, "hash and data both purged");
}

/// Entries written before headers and body moved out of the hash (`h` and `b` fields, no
/// `P d:<id>`) are still read whole by `get`, `list` and `lease`, and purged with their keys.
#[tokio::test]
async fn entries_of_the_earlier_layout_read_as_before() {
    let Some((a, _b, raw)) = pair("oldlayout").await else {
        return;
    };
    let p = a.prefix().to_owned();
    let body = b"{\"old\":true}\x00\xff".to_vec();
    let e = NewEntry::new("sam", "sam", fresh_key("oldlayout"), body.clone())
        .with_header("x-delivery-id", "d9");
    let id = accepted(&a, e).await;
    // Rewrite it as the earlier layout wrote it.
    let h = format!("{p}e:{id}");
    let _: () = q(
        &raw,
        redis::cmd("HSET")
            .arg(&h)
            .arg("h")
            .arg(r#"[["x-delivery-id","d9"]]"#)
            .arg("b")
            .arg(&body[..]),
    )
    .await;
    let _: () = q(&raw, redis::cmd("DEL").arg(format!("{p}d:{id}"))).await;

    let got = a.get(&id).await.unwrap().expect("entry");
    assert_eq!(got.body.as_ref(), &body[..]);
    assert_eq!(got.header("x-delivery-id"), Some("d9"));
    let listed = a
        .list(&ListFilter::state(EntryState::Pending))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].body.as_ref(), &body[..]);
    let l = a.lease(1, LONG).await.unwrap().remove(0);
    assert_eq!(l.entry.body.as_ref(), &body[..]);
    assert_eq!(l.entry.header("x-delivery-id"), Some("d9"));
    assert!(a.ack(&id, l.token).await.unwrap());
}

/// `connect` warns when the server would lose acknowledged puts on a restart (no append-only
/// file) and stays quiet on a durable one. Two real servers, one of each.
#[test]
fn connect_warns_when_redis_is_not_durable() {
    let Some((port, dir)) = own_server_setup("inbox-durability") else {
        return;
    };
    let warned = |port: u16| {
        let ((), logs) = crate::support::logs::capture_logs(|| async move {
            RedisInbox::connect(&format!("redis://127.0.0.1:{port}/"))
                .await
                .unwrap();
        });
        logs.contains("WARN") && logs.contains("appendonly yes")
    };
    let durable = Server::durable(port, dir);
    assert!(!warned(port), "an append-only server draws no warning");
    drop(durable);
    let volatile_port = free_port();
    let _volatile = Server::start(volatile_port);
    assert!(
        warned(volatile_port),
        "a server without appendonly is warned about"
    );
}

/// Redis keeps what a script wrote before an error. With a foreign key under the prefix, a put
/// fails without leaving its dedupe key behind (its retry is stored once the key is gone, not
/// answered as a duplicate of nothing), and a failed dead-lettering leaves the entry leased
/// and in the pending list, so it is taken over instead of trimmed unhandled.
#[tokio::test]
async fn a_script_that_fails_midway_leaves_no_half_written_state() {
    let Some((a, _b, raw)) = pair("half-written").await else {
        return;
    };
    let p = a.prefix().to_owned();
    // `P q` is not a stream.
    let _: () = q(&raw, redis::cmd("SET").arg(format!("{p}q")).arg("foreign")).await;
    let e = entry("half-put", Duration::ZERO);
    let key = e.key.clone();
    assert_unavailable("put over a foreign stream key", a.put(e.clone()).await);
    let left: Option<String> = q(
        &raw,
        redis::cmd("GET").arg(format!("{p}k:{}", key.as_str())),
    )
    .await;
    assert_eq!(left, None, "no dedupe key for an entry never stored");
    let _: () = q(&raw, redis::cmd("DEL").arg(format!("{p}q"))).await;
    let id = match a.put(e).await.unwrap() {
        PutOutcome::Accepted(id) => id,
        other => panic!("the retry is stored: {other:?}"),
    };
    // `P dead` is not a stream: dead-lettering fails; the entry stays leased and pending.
    let short = Duration::from_millis(300);
    let l = a.lease(1, short).await.unwrap().remove(0);
    let _: () = q(
        &raw,
        redis::cmd("SET").arg(format!("{p}dead")).arg("foreign"),
    )
    .await;
    assert_unavailable(
        "fail over a foreign dead key",
        a.fail(&id, l.token, "poison", AfterFailure::Dead).await,
    );
    assert_eq!(a.get(&id).await.unwrap().unwrap().state, EntryState::Leased);
    assert_eq!(pel(&raw, &p).await.len(), 1, "still in the pending list");
    let _: () = q(&raw, redis::cmd("DEL").arg(format!("{p}dead"))).await;
    tokio::time::sleep(short + Duration::from_millis(300)).await;
    let again = a.lease(1, LONG).await.unwrap();
    assert_eq!(again.len(), 1, "taken over after the lease");
    assert!(a
        .fail(&id, again[0].token, "poison", AfterFailure::Dead)
        .await
        .unwrap());
    assert_eq!(a.get(&id).await.unwrap().unwrap().state, EntryState::Dead);
}

/// An entry hand-edited into something this build cannot read is never handed to a worker; it
/// is dead-lettered with the reason at its lease instead of coming back after every lease.
#[tokio::test]
async fn a_malformed_entry_is_dead_lettered_not_leased_forever() {
    let Some((a, _b, raw)) = pair("malformed").await else {
        return;
    };
    let p = a.prefix().to_owned();
    let bad = accepted(&a, entry("malformed", Duration::ZERO)).await;
    let _: () = q(
        &raw,
        redis::cmd("HSET")
            .arg(format!("{p}e:{bad}"))
            .arg("r")
            .arg("not a time"),
    )
    .await;
    let good = accepted(&a, entry("fine", Duration::ZERO)).await;
    let leased = a.lease(10, Duration::from_millis(200)).await.unwrap();
    let ids: Vec<_> = leased.iter().map(|l| l.entry.id.clone()).collect();
    assert_eq!(ids, [good], "only the readable entry reaches a worker");
    let (st, err): (String, String) = q(
        &raw,
        redis::cmd("HMGET")
            .arg(format!("{p}e:{bad}"))
            .arg(&["st", "err"]),
    )
    .await;
    assert_eq!(st, "dead");
    assert!(
        err.contains("unreadable by this chathooks (received_at)"),
        "{err}"
    );
    assert_eq!(a.stats().await.unwrap().dead, 1);
    // It does not come back after the lease time.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = a.lease(10, LONG).await.unwrap();
    assert!(again.iter().all(|l| l.entry.id != bad), "{again:?}");
}
