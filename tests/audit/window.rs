//! The dedupe window a completion actually sets, through `Receiver` (verify, claim, handler,
//! complete), for the default (`DEFAULT_WINDOW`, 72 h) and for `Dedupe::with_window`: on the
//! memory store through an injected clock, on Redis by `PTTL`, on Postgres by the row's
//! `expires_at`. A completion that kept the 30 s lease (or any other TTL) fails each of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chathooks::idempotency::{Dedupe, IdempotencyKey, DEFAULT_LEASE, DEFAULT_WINDOW};
use chathooks::receiver::RawBody;
use chathooks::verify::HmacSha256;
use chathooks::{Inbound, MemoryStore, Received, Receiver, Secret};

const SECRET: &str = "It's a Secret to Everybody";
const HOUR: Duration = Duration::from_secs(3600);

fn receiver(dedupe: Dedupe) -> Receiver<RawBody> {
    let github = HmacSha256::github(Secret::raw(SECRET).unwrap());
    Receiver::builder(github).dedupe(dedupe).build()
}

/// Send `body` signed through `rx`; returns the outcome, completing a fresh delivery.
async fn deliver(rx: &Receiver<RawBody>, body: &[u8]) -> (bool, IdempotencyKey) {
    let github = HmacSha256::github(Secret::raw(SECRET).unwrap());
    let h = github.sign(SystemTime::now(), body);
    match rx.receive(&Inbound::new(&h, body)).await.unwrap() {
        Received::Fresh(d) => {
            let key = d.key().clone();
            d.complete().await.unwrap();
            (true, key)
        }
        Received::Duplicate { key, .. } => (false, key),
    }
}

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
async fn memory_store_remembers_a_completion_for_exactly_the_window() {
    assert_eq!(DEFAULT_WINDOW, 72 * HOUR, "the documented default");
    for (window, dedupe_of) in [
        (
            DEFAULT_WINDOW,
            (|s| Dedupe::new(s)) as fn(MemoryStore) -> Dedupe,
        ),
        (HOUR, |s| Dedupe::new(s).with_window(HOUR)),
        (5 * 24 * HOUR, |s| Dedupe::new(s).with_window(5 * 24 * HOUR)),
    ] {
        let (time, clock) = manual_clock();
        let advance = |d: Duration| *time.lock().unwrap() += d;
        let rx = receiver(dedupe_of(MemoryStore::new(1000).with_clock(clock)));
        let body = br#"{"action":"window"}"#;
        assert!(deliver(&rx, body).await.0, "first copy is fresh");
        // Well past the lease, a second before the window ends: still a duplicate.
        advance(DEFAULT_LEASE + Duration::from_secs(1));
        assert!(
            !deliver(&rx, body).await.0,
            "{window:?}: duplicate after the lease"
        );
        advance(window - DEFAULT_LEASE - Duration::from_secs(2));
        assert!(
            !deliver(&rx, body).await.0,
            "{window:?}: duplicate 1 s before the end"
        );
        // A second after it ends: fresh again.
        advance(Duration::from_secs(2));
        assert!(
            deliver(&rx, body).await.0,
            "{window:?}: fresh after the window"
        );
    }
}

/// The injected clock drives leases too: an unfinished claim frees itself when it ends.
#[tokio::test]
async fn memory_store_lease_follows_the_injected_clock() {
    let (time, clock) = manual_clock();
    let dedupe = Dedupe::new(MemoryStore::new(1000).with_clock(clock));
    let key = IdempotencyKey::new("audit", "lease").unwrap();
    let claim = dedupe.claim(&key).await.unwrap().expect("fresh");
    match dedupe.claim(&key).await {
        Err(chathooks::Error::InFlight { retry_after }) => {
            assert_eq!(retry_after, DEFAULT_LEASE)
        }
        other => panic!("{other:?}"),
    }
    *time.lock().unwrap() += DEFAULT_LEASE - Duration::from_millis(1);
    assert!(dedupe.claim(&key).await.is_err(), "still held");
    *time.lock().unwrap() += Duration::from_millis(1);
    let again = dedupe
        .claim(&key)
        .await
        .unwrap()
        .expect("free after the lease");
    assert!(
        !claim.complete().await.unwrap(),
        "the old claim lost its lease"
    );
    assert!(again.complete().await.unwrap());
}

/// Remaining time, in ms, must be within `slack` below `window`.
fn assert_ttl(ms: i64, window: Duration, what: &str) {
    let window = i64::try_from(window.as_millis()).unwrap();
    // Wide margin for a loaded machine: a minute, still far from the 30 s lease.
    assert!(
        ms <= window && ms > window - 60_000,
        "{what}: TTL {ms} ms, window {window} ms"
    );
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_store_pttl_is_the_window() {
    use chathooks::idempotency::{ClaimToken, RedisStore};
    let Some(url) = crate::services::redis::url("redis_store_pttl_is_the_window") else {
        return;
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for window in [None, Some(HOUR), Some(7 * 24 * HOUR)] {
        let prefix = format!("chathooks-test:window:{}:", ClaimToken::generate().to_hex());
        let store = RedisStore::connect(&url)
            .await
            .unwrap()
            .with_prefix(prefix.clone());
        let dedupe = match window {
            None => Dedupe::new(store),
            Some(w) => Dedupe::new(store).with_window(w),
        };
        let rx = receiver(dedupe);
        let (fresh, key) = deliver(&rx, br#"{"action":"redis-window"}"#).await;
        assert!(fresh);
        let pttl: i64 = redis::cmd("PTTL")
            .arg(format!("{prefix}{}", key.as_str()))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_ttl(pttl, window.unwrap_or(DEFAULT_WINDOW), "redis");
        assert!(!deliver(&rx, br#"{"action":"redis-window"}"#).await.0);
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_store_expiry_is_the_window() {
    use chathooks::idempotency::PostgresStore;
    let test = "postgres_store_expiry_is_the_window";
    let Some(pool) = crate::postgres::service::fresh_schema_pool(test).await else {
        return;
    };
    let url = crate::postgres::service::database_url(test).unwrap();
    let schema = crate::postgres::service::schema_name(test);
    for (i, window) in [None, Some(HOUR), Some(7 * 24 * HOUR)]
        .into_iter()
        .enumerate()
    {
        let store = PostgresStore::new(&pool);
        let dedupe = match window {
            None => Dedupe::new(store),
            Some(w) => Dedupe::new(store).with_window(w),
        };
        let rx = receiver(dedupe);
        let body = format!(r#"{{"action":"pg-window-{i}"}}"#);
        let (fresh, key) = deliver(&rx, body.as_bytes()).await;
        assert!(fresh);
        let rows = crate::postgres::service::query_text(
            &url,
            &format!(
                "SELECT (extract(epoch FROM expires_at - now()) * 1000)::bigint::text \
                 FROM \"{schema}\".chathooks_idempotency WHERE key = '{}'",
                key.as_str()
            ),
        )
        .await;
        let ms: i64 = rows[0][0].as_deref().unwrap().parse().unwrap();
        assert_ttl(ms, window.unwrap_or(DEFAULT_WINDOW), "postgres");
        assert!(!deliver(&rx, body.as_bytes()).await.0);
    }
    crate::postgres::service::drop_schema(&url, &schema).await;
}
