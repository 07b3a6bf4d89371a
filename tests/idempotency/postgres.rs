//! The behaviour suite on `PostgresStore` (the server at `DATABASE_URL`), and what the rows look
//! like. The outage test (a cluster this test binary starts and restarts) is in
//! `tests/postgres/faults.rs`.

use std::sync::Arc;
use std::time::Duration;

use chathooks::idempotency::{ClaimOutcome, IdempotencyStore, PostgresStore};
use chathooks::postgres::PostgresPool;
use tokio::sync::OnceCell;

use super::suite::behaviour_suite;
use super::support::{claimed, fresh_key};
use crate::postgres::service::{database_url, query_text};

const SCHEMA: &str = "chathooks_test_store";

/// A pool per test (each `#[tokio::test]` has its own runtime, and a pooled connection lives
/// on the runtime that opened it), on one schema migrated once: keys are random, so store tests
/// can share a table.
async fn pool(test: &str) -> Option<PostgresPool> {
    static MIGRATED: OnceCell<()> = OnceCell::const_new();
    let url = database_url(test)?;
    let pool = PostgresPool::options(&url)
        .unwrap()
        .schema(SCHEMA)
        .connect()
        .await
        .expect("DATABASE_URL is set but Postgres cannot be reached");
    MIGRATED
        .get_or_init(|| async {
            pool.migrate().await.unwrap();
        })
        .await;
    Some(pool)
}

async fn make(test: &str) -> Option<Arc<dyn IdempotencyStore>> {
    Some(Arc::new(PostgresStore::new(&pool(test).await?)))
}

behaviour_suite!(make);

#[tokio::test]
async fn rows_hold_the_documented_values() {
    let test = "rows_hold_the_documented_values";
    let Some(pool) = pool(test).await else { return };
    let url = database_url(test).unwrap();
    let store = PostgresStore::new(&pool);
    let key = fresh_key("layout");
    let token = claimed(store.claim(&key, Duration::from_secs(30)).await.unwrap());
    let row = |key: String| {
        let url = url.clone();
        async move {
            query_text(
                &url,
                &format!(
                    "SELECT encode(token, 'hex'), \
                     round(extract(epoch FROM expires_at - now()))::text \
                     FROM {SCHEMA}.chathooks_idempotency WHERE key = '{key}'"
                ),
            )
            .await
        }
    };
    let rows = row(key.as_str().to_owned()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0].as_deref(), Some(token.to_hex().as_str()));
    assert_eq!(rows[0][1].as_deref(), Some("30"));
    assert!(store
        .complete(&key, token, Duration::from_secs(3600))
        .await
        .unwrap());
    let rows = row(key.as_str().to_owned()).await;
    assert_eq!(rows[0][0], None, "a done key has no token");
    assert_eq!(rows[0][1].as_deref(), Some("3600"));
    assert!(store.release(&key, token).await.is_ok_and(|r| !r));
}

#[tokio::test]
async fn purge_expired_deletes_only_ended_rows() {
    let test = "purge_expired_deletes_only_ended_rows";
    let Some(pool) = pool(test).await else { return };
    let store = PostgresStore::new(&pool);
    let short = fresh_key("purge-short");
    let long = fresh_key("purge-long");
    claimed(
        store
            .claim(&short, Duration::from_millis(50))
            .await
            .unwrap(),
    );
    let t = claimed(store.claim(&long, Duration::from_secs(60)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Other tests run at the same time: at least our expired row goes, our live one stays.
    assert!(store.purge_expired().await.unwrap() >= 1);
    let url = database_url(test).unwrap();
    let left = query_text(
        &url,
        &format!(
            "SELECT key FROM {SCHEMA}.chathooks_idempotency WHERE key IN ('{}', '{}')",
            short.as_str(),
            long.as_str()
        ),
    )
    .await;
    assert_eq!(left, vec![vec![Some(long.as_str().to_owned())]]);
    assert!(matches!(
        store.claim(&long, Duration::from_secs(60)).await.unwrap(),
        ClaimOutcome::InFlight { .. }
    ));
    assert!(store
        .complete(&long, t, Duration::from_secs(60))
        .await
        .unwrap());
    claimed(store.claim(&short, Duration::from_secs(60)).await.unwrap());
}
