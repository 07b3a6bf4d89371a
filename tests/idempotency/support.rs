//! Helpers shared by the idempotency tests.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use chathooks::idempotency::{ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore};

/// Run a future that completes without waiting (the memory store's), without any runtime.
pub fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory store future was not ready on first poll"),
    }
}

/// A key no other test (or test run sharing the Redis server) uses.
pub fn fresh_key(label: &str) -> IdempotencyKey {
    IdempotencyKey::new(
        "test",
        &format!("{label}-{}", ClaimToken::generate().to_hex()),
    )
    .unwrap()
}

pub fn claimed(outcome: ClaimOutcome) -> ClaimToken {
    match outcome {
        ClaimOutcome::Claimed(t) => t,
        other => panic!("expected Claimed, got {other:?}"),
    }
}

/// Claim `key` until it is free, for at most `limit`. Returns the token, or panics.
pub async fn claim_within(
    store: &dyn IdempotencyStore,
    key: &IdempotencyKey,
    limit: Duration,
) -> ClaimToken {
    let start = Instant::now();
    loop {
        match store.claim(key, Duration::from_secs(30)).await.unwrap() {
            ClaimOutcome::Claimed(t) => return t,
            other if start.elapsed() > limit => {
                panic!("{key} still not free after {limit:?}: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The Redis URL (`REDIS_URL`, or this test binary's own throwaway server), or `None` after a
/// loud SKIPPED line. With `CI=true` a missing Redis fails. See `tests/services/`.
#[cfg(feature = "redis")]
pub fn redis_url(test: &str) -> Option<String> {
    crate::services::redis::url(test)
}

/// Print past the test harness's output capture, so a skip shows even when the test passes.
#[cfg(feature = "redis")]
pub fn loud(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n********** {message} **********\n");
}
