//! Versioned migrations: explicit, idempotent, safe to run concurrently, and a database from a
//! newer chathooks is refused with a clear error.

use std::time::Duration;

use chathooks::idempotency::{IdempotencyStore, PostgresStore};
use chathooks::inbox::{Inbox, NewEntry};
use chathooks::postgres::{PostgresInbox, PostgresPool, SCHEMA_VERSION};
use chathooks::Error;

use super::service::{database_url, drop_schema, query_text, schema_name, sql};

async fn unmigrated(test: &str) -> Option<(String, String, PostgresPool)> {
    let url = database_url(test)?;
    let schema = schema_name(test);
    drop_schema(&url, &schema).await;
    let pool = PostgresPool::options(&url)
        .unwrap()
        .schema(schema.clone())
        .connect()
        .await
        .unwrap();
    Some((url, schema, pool))
}

#[tokio::test]
async fn migrate_applies_once_then_is_a_no_op() {
    let Some((url, schema, pool)) = unmigrated("migrate_applies_once").await else {
        return;
    };
    assert_eq!(pool.schema_version().await.unwrap(), 0);
    assert_eq!(pool.migrate().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(pool.schema_version().await.unwrap(), SCHEMA_VERSION);
    pool.check_schema().await.unwrap();
    assert_eq!(pool.migrate().await.unwrap(), 0);
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_each_step_once() {
    let Some((url, schema, pool)) = unmigrated("concurrent_migrations").await else {
        return;
    };
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.migrate().await })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap().unwrap();
    }
    assert_eq!(applied, SCHEMA_VERSION);
    pool.check_schema().await.unwrap();
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    let Some((url, schema, pool)) = unmigrated("newer_schema_refused").await else {
        return;
    };
    pool.migrate().await.unwrap();
    let newer = SCHEMA_VERSION + 1;
    sql(
        &url,
        &format!("INSERT INTO \"{schema}\".chathooks_schema_version (version) VALUES ({newer})"),
    )
    .await;
    for err in [
        pool.migrate().await.unwrap_err(),
        pool.check_schema().await.unwrap_err(),
    ] {
        let Error::Config(msg) = &err else {
            panic!("expected Error::Config, got {err:?}");
        };
        assert!(msg.contains(&format!("version {newer}")), "{msg}");
        assert!(
            msg.contains("newer") && msg.contains("upgrade chathooks"),
            "{msg}"
        );
    }
    // A process that calls neither: its store and inbox refuse to write into the newer
    // tables, with the same error, and nothing is written.
    let fresh = PostgresPool::options(&url)
        .unwrap()
        .schema(schema.clone())
        .connect()
        .await
        .unwrap();
    let key = chathooks::IdempotencyKey::new("test", "newer-schema").unwrap();
    let entry = NewEntry::new("test", "standard", key.clone(), &b"{}"[..]);
    let refusals = [
        PostgresInbox::new(&fresh)
            .put(entry)
            .await
            .map(drop)
            .unwrap_err(),
        PostgresStore::new(&fresh)
            .claim(&key, Duration::from_secs(1))
            .await
            .map(drop)
            .unwrap_err(),
    ];
    for err in refusals {
        assert!(
            matches!(&err, Error::Config(m) if m.contains(&format!("version {newer}"))),
            "{err:?}"
        );
    }
    let rows = query_text(
        &url,
        &format!("SELECT count(*) FROM \"{schema}\".chathooks_inbox"),
    )
    .await;
    assert_eq!(rows, [[Some("0".to_owned())]], "nothing stored");
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn an_unmigrated_database_answers_unavailable_naming_migrate() {
    let Some((url, schema, pool)) = unmigrated("unmigrated_database").await else {
        return;
    };
    let err = pool.check_schema().await.unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("version 0") && m.contains("migrate()")),
        "{err:?}"
    );
    // No DDL on the hot path: the store does not create its table, it says what is missing.
    let store = PostgresStore::new(&pool);
    let key = chathooks::IdempotencyKey::new("test", "unmigrated").unwrap();
    match store.claim(&key, Duration::from_secs(1)).await {
        Err(err @ Error::StoreUnavailable { .. }) => {
            assert_eq!(err.status(), 503);
            assert!(err.to_string().contains("migrate()"), "{err}");
        }
        other => panic!("expected StoreUnavailable, got {other:?}"),
    }
    assert_eq!(pool.schema_version().await.unwrap(), 0);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_errors_not_panics() {
    // Config errors never repeat the URL (it may hold a password).
    let err = PostgresPool::connect("postgres://u:s3cret@[::1/db")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)) && !err.to_string().contains("s3cret"));
    // Nothing listens on port 1.
    let err = PostgresPool::options("postgres://u:s3cret@127.0.0.1:1/db")
        .unwrap()
        .op_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 503, "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
