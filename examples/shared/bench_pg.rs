//! The Postgres set-up the inbox bench servers share (not a usage example).

use chathooks::postgres::{PostgresOptions, PostgresPool};

/// A pool on `schema`, dropped first and migrated anew, so the figures never depend on the
/// previous run's rows. `options` tunes the pool (connections) before it connects.
pub async fn fresh_schema_pool(
    url: &str,
    schema: &str,
    options: impl FnOnce(PostgresOptions) -> PostgresOptions,
) -> Result<PostgresPool, Box<dyn std::error::Error>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    drop(client);
    let _ = driver.await;
    let pool = options(PostgresPool::options(url)?.schema(schema))
        .connect()
        .await?;
    pool.migrate().await?;
    Ok(pool)
}
