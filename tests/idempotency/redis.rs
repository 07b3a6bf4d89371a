//! The behaviour suite on `RedisStore` (`REDIS_URL`, or the test binary's own server: see
//! `tests/services/redis.rs`), and an outage test against
//! a redis-server this test starts, kills and restarts itself.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimOutcome, ClaimToken, IdempotencyStore, RedisStore};
use chathooks::Error;

use super::suite::behaviour_suite;
use super::support::{claimed, fresh_key, loud, redis_url};
use crate::services::redis::Server;

async fn make(test: &str) -> Option<Arc<dyn IdempotencyStore>> {
    let url = redis_url(test)?;
    let store = RedisStore::connect(&url)
        .await
        .expect("REDIS_URL is set but Redis cannot be reached")
        .with_prefix(format!(
            "chathooks-test:{test}:{}:",
            ClaimToken::generate().to_hex()
        ));
    Some(Arc::new(store))
}

behaviour_suite!(make);

#[tokio::test]
async fn keys_live_under_the_prefix_with_the_documented_values() {
    let Some(url) = redis_url("keys_live_under_the_prefix_with_the_documented_values") else {
        return;
    };
    let prefix = format!("chathooks-test:layout:{}:", ClaimToken::generate().to_hex());
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_prefix(prefix.clone());
    let key = fresh_key("layout");
    let token = claimed(store.claim(&key, Duration::from_secs(30)).await.unwrap());
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let full = format!("{prefix}{}", key.as_str());
    let value: Option<String> = redis::cmd("GET")
        .arg(&full)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, Some(format!("inflight:{}", token.to_hex())));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&full)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "{pttl}");
    assert!(store
        .complete(&key, token, Duration::from_secs(3600))
        .await
        .unwrap());
    let value: Option<String> = redis::cmd("GET")
        .arg(&full)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("done"));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&full)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 3_500_000 && pttl <= 3_600_000, "{pttl}");
}

fn redis_server_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server is not on PATH and CI=true (run `source .ci/services.sh`)"
        );
        loud("SKIPPED redis outage test: redis-server is not on PATH");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_then_restarted_errors_then_recovers() {
    if !redis_server_available() {
        return;
    }
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Server::start(port);
    let url = format!("redis://127.0.0.1:{port}/");
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_op_timeout(Duration::from_secs(2));

    let before = fresh_key("outage-before");
    let token = claimed(store.claim(&before, Duration::from_secs(30)).await.unwrap());

    server.kill();
    // Every call now fails as StoreUnavailable (503) within the operation timeout: no panic, no
    // silent "free" or "done".
    for round in 0..3 {
        let key = fresh_key("outage-down");
        let started = Instant::now();
        match store.claim(&key, Duration::from_secs(30)).await {
            Err(err @ Error::StoreUnavailable { .. }) => {
                assert_eq!(err.status(), 503);
                assert!(err.retry_after().is_some());
                eprintln!("round {round}: {err} after {:?}", started.elapsed());
            }
            other => panic!("round {round}: expected StoreUnavailable, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    assert!(matches!(
        store
            .complete(&before, token, Duration::from_secs(60))
            .await,
        Err(Error::StoreUnavailable { .. })
    ));
    assert!(matches!(
        store.release(&before, token).await,
        Err(Error::StoreUnavailable { .. })
    ));

    let _server = Server::start(port);
    // The same store (same connection manager) reconnects on its own.
    let key = fresh_key("outage-after");
    let started = Instant::now();
    let token = loop {
        match store.claim(&key, Duration::from_secs(30)).await {
            Ok(ClaimOutcome::Claimed(t)) => break t,
            Ok(other) => panic!("fresh key after restart: {other:?}"),
            Err(err) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "store did not recover within 10 s: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    eprintln!("recovered {:?} after restart", started.elapsed());
    assert!(store
        .complete(&key, token, Duration::from_secs(60))
        .await
        .unwrap());
    assert_eq!(
        store.claim(&key, Duration::from_secs(30)).await.unwrap(),
        ClaimOutcome::AlreadyDone
    );
}
