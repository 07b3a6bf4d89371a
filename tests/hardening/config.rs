//! Finding 9: configuration values never panic (they are clamped or refused).

use std::time::Duration;

use chathooks::idempotency::{Dedupe, IdempotencyKey, MemoryStore};

#[tokio::test]
async fn extreme_store_and_dedupe_settings_do_not_panic() {
    for max_keys in [0, 1, usize::MAX] {
        let store = MemoryStore::new(max_keys);
        let dedupe = Dedupe::new(store)
            .with_lease(Duration::MAX)
            .with_window(Duration::MAX);
        let key = IdempotencyKey::new("cfg", "k").unwrap();
        let claim = dedupe.claim(&key).await.unwrap().expect("fresh");
        assert!(claim.complete().await.unwrap());
        assert!(dedupe.claim(&key).await.unwrap().is_none());
    }
    let _ = MemoryStore::with_shards(usize::MAX, usize::MAX);
}

#[cfg(feature = "sender")]
#[test]
fn a_huge_retry_delay_is_a_config_error() {
    use chathooks::sender::{RetryPolicy, MAX_RETRY_DELAY};
    let err = RetryPolicy::default()
        .schedule(vec![Duration::MAX])
        .unwrap_err();
    assert_eq!(err.status(), 500);
    assert!(RetryPolicy::default()
        .schedule(vec![MAX_RETRY_DELAY])
        .is_ok());
}
