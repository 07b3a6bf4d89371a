//! [`PostgresStore`]: the idempotency store on Postgres (feature `postgres`).
//!
//! One row per key in `chathooks_idempotency` (see [`crate::postgres`] for the pool, the schema
//! and migrations). Each operation is one statement, so one round trip:
//!
//! | operation | statement | row afterwards |
//! |---|---|---|
//! | claim | `INSERT … ON CONFLICT (key) DO UPDATE … WHERE expires_at <= now()`: a new key, or one whose lease or window ended, is taken; otherwise the same statement reads whether it is done or in flight and for how long | `token = <16 bytes>`, `expires_at = now() + lease` |
//! | complete | `UPDATE … WHERE key = $1 AND token = $2 AND expires_at > now()` | `token = NULL`, `expires_at = now() + window` |
//! | release | `DELETE … WHERE key = $1 AND token = $2 AND expires_at > now()` | — |
//!
//! The unique key makes `claim` atomic across every replica: of concurrent claims of one free
//! key, the one whose insert wins holds it; the others wait for its commit and then see it held.
//! Expired rows are not swept: a claim takes them over, and
//! [`purge_expired`](PostgresStore::purge_expired) deletes the rest when you call it.

use std::fmt;
use std::time::Duration;

use super::{ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore, StoreFuture};
use crate::postgres::{millis, token_bytes, PostgresPool};
use crate::Error;

/// Idempotency store on Postgres, shared by every replica that uses the database.
///
/// ```no_run
/// # async fn demo() -> Result<(), chathooks::Error> {
/// use chathooks::idempotency::Dedupe;
/// use chathooks::postgres::{PostgresPool, PostgresStore};
/// let pool = PostgresPool::connect("postgres://app@127.0.0.1/app").await?;
/// pool.migrate().await?;
/// let dedupe = Dedupe::new(PostgresStore::new(&pool));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PostgresPool,
    claim_sql: String,
    complete_sql: String,
    release_sql: String,
    purge_sql: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Claims tried again when a concurrent release or takeover changed the row between the
/// statement's snapshot and its insert (rare; each try is one statement).
const CLAIM_TRIES: usize = 3;
/// Rows deleted per statement by [`PostgresStore::purge_expired`].
const PURGE_BATCH: i64 = 10_000;

impl PostgresStore {
    /// The store on `pool`'s schema (migrate it first: [`PostgresPool::migrate`]).
    pub fn new(pool: &PostgresPool) -> Self {
        let t = pool.table("idempotency");
        PostgresStore {
            pool: pool.clone(),
            // One row always comes back: whether this statement claimed the key, and if not,
            // the row as the statement's snapshot saw it.
            claim_sql: format!(
                "WITH claimed AS (
                    INSERT INTO {t} AS c (key, token, expires_at)
                    VALUES ($1, $2, now() + $3::int8 * interval '1 millisecond')
                    ON CONFLICT (key) DO UPDATE
                        SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
                        WHERE c.expires_at <= now()
                    RETURNING 1
                 )
                 SELECT EXISTS (SELECT 1 FROM claimed),
                        c.key IS NOT NULL AND c.token IS NULL,
                        CEIL(EXTRACT(EPOCH FROM (c.expires_at - now())) * 1000)::int8
                 FROM (SELECT 1) AS one LEFT JOIN {t} AS c ON c.key = $1"
            ),
            complete_sql: format!(
                "UPDATE {t} SET token = NULL, expires_at = now() + $3::int8 * interval '1 millisecond'
                 WHERE key = $1 AND token = $2 AND expires_at > now()"
            ),
            release_sql: format!(
                "DELETE FROM {t} WHERE key = $1 AND token = $2 AND expires_at > now()"
            ),
            purge_sql: format!(
                "DELETE FROM {t} WHERE key IN (
                     SELECT key FROM {t} WHERE expires_at < now() LIMIT $1)"
            ),
        }
    }

    /// Delete the rows whose lease or dedupe window has ended (they no longer mean anything: a
    /// claim would take them over). Call it now and then (hourly is plenty) to keep the table
    /// at about one dedupe window of keys; returns how many rows were deleted. Works in
    /// batches of 10 000 rows, each its own statement, and stops after 100 batches.
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] when Postgres cannot answer.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let mut total = 0;
        for _ in 0..100 {
            let sql = &self.purge_sql;
            let n = self
                .pool
                .run("purge", |client| async move {
                    let st = client.prepare_cached(sql).await?;
                    client.execute(&st, &[&PURGE_BATCH]).await
                })
                .await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok(total)
    }

    async fn claim_once(
        &self,
        key: &IdempotencyKey,
        token: ClaimToken,
        lease: Duration,
    ) -> Result<(bool, bool, Option<i64>), Error> {
        let sql = &self.claim_sql;
        let token = token_bytes(token);
        let lease = millis(lease);
        self.pool
            .run("claim", |client| async move {
                let st = client.prepare_cached(sql).await?;
                let row = client
                    .query_one(&st, &[&key.as_str(), &&token[..], &lease])
                    .await?;
                Ok((row.get(0), row.get(1), row.get(2)))
            })
            .await
    }

    async fn change(
        &self,
        op: &'static str,
        sql: &str,
        key: &IdempotencyKey,
        token: ClaimToken,
        window: Option<Duration>,
    ) -> Result<bool, Error> {
        let token = token_bytes(token);
        let n = self
            .pool
            .run(op, |client| async move {
                let st = client.prepare_cached(sql).await?;
                match window {
                    Some(w) => {
                        client
                            .execute(&st, &[&key.as_str(), &&token[..], &millis(w)])
                            .await
                    }
                    None => client.execute(&st, &[&key.as_str(), &&token[..]]).await,
                }
            })
            .await?;
        Ok(n == 1)
    }
}

impl IdempotencyStore for PostgresStore {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async move {
            for _ in 0..CLAIM_TRIES {
                let token = ClaimToken::generate();
                let (claimed, done, remaining_ms) = self.claim_once(key, token, lease).await?;
                if claimed {
                    return Ok(ClaimOutcome::Claimed(token));
                }
                // Not claimed, so the row was held (or done) when the insert looked. The
                // snapshot may predate a concurrent claim or release; only a live row answers.
                match remaining_ms {
                    Some(ms) if ms > 0 => {
                        let left = Duration::from_millis(ms.unsigned_abs());
                        return Ok(if done {
                            ClaimOutcome::AlreadyDone
                        } else {
                            ClaimOutcome::InFlight { retry_after: left }
                        });
                    }
                    _ => continue,
                }
            }
            // The key changed hands under every try: someone holds it right now.
            Ok(ClaimOutcome::InFlight {
                retry_after: self.pool.retry_after(),
            })
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: ClaimToken,
        window: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.change("complete", &self.complete_sql, key, token, Some(window)))
    }

    fn release<'a>(&'a self, key: &'a IdempotencyKey, token: ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(self.change("release", &self.release_sql, key, token, None))
    }
}
