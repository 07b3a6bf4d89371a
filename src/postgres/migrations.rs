//! The versioned schema: migration `n` brings the database from version `n - 1` to `n`.
//!
//! Migrations are append-only: a released one is never edited, a change is a new one. `{s}`
//! stands for the quoted schema name.

use super::PostgresPool;
use crate::Error;

/// The schema version this version of chathooks reads and writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const MIGRATIONS: &[&str] = &[
    // 1: the idempotency store and the inbox.
    r#"
CREATE TABLE {s}.chathooks_idempotency (
    key         text PRIMARY KEY,
    -- the holder's 16-byte token while in flight; NULL once done
    token       bytea,
    -- in flight: end of the lease; done: end of the dedupe window
    expires_at  timestamptz NOT NULL
);
CREATE INDEX chathooks_idempotency_expires ON {s}.chathooks_idempotency (expires_at);

CREATE TABLE {s}.chathooks_inbox (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key         text NOT NULL,
    namespace          text NOT NULL,
    vendor             text NOT NULL,
    signed_delivery_id text,
    header_names       text[] NOT NULL,
    header_values      text[] NOT NULL,
    body               bytea NOT NULL,
    received_at        timestamptz NOT NULL,
    state              text NOT NULL
        CHECK (state IN ('pending', 'leased', 'retrying', 'dead', 'done')),
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    -- pending/retrying: next attempt; leased: end of the lease; done/dead: when it got there
    due_at             timestamptz NOT NULL,
    lease_token        bytea,
    CONSTRAINT chathooks_inbox_dedupe_key UNIQUE (dedupe_key)
);
-- `lease`: the due work only, so it stays a short index scan however many done rows are kept.
CREATE INDEX chathooks_inbox_due ON {s}.chathooks_inbox (due_at)
    WHERE state IN ('pending', 'leased', 'retrying');
-- `purge`: finished rows by when they finished.
CREATE INDEX chathooks_inbox_finished ON {s}.chathooks_inbox (due_at)
    WHERE state IN ('done', 'dead');
-- `list` and `replay` by state, in receive order.
CREATE INDEX chathooks_inbox_state ON {s}.chathooks_inbox (state, received_at, id);
"#,
];

fn version_table(pool: &PostgresPool) -> String {
    pool.table("schema_version")
}

pub(super) async fn current_version(pool: &PostgresPool) -> Result<u32, Error> {
    let schema = pool.schema().to_owned();
    let table = version_table(pool);
    pool.run_unchecked("schema version", |client| async move {
        // to_regclass: NULL (not an error) when the table does not exist yet.
        let exists = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("\"{schema}\".chathooks_schema_version")],
            )
            .await?
            .get::<_, bool>(0);
        if !exists {
            return Ok(0);
        }
        let row = client
            .query_one(
                &format!("SELECT COALESCE(max(version), 0) FROM {table}"),
                &[],
            )
            .await?;
        Ok(u32::try_from(row.get::<_, i32>(0)).unwrap_or(0))
    })
    .await
}

pub(super) fn check_version(found: u32) -> Result<(), Error> {
    if found > SCHEMA_VERSION {
        Err(newer(found))
    } else if found < SCHEMA_VERSION {
        Err(Error::Config(
            format!(
                "the database's chathooks schema is at version {found}, this version of chathooks \
                 needs {SCHEMA_VERSION}: call PostgresPool::migrate()"
            )
            .into(),
        ))
    } else {
        Ok(())
    }
}

pub(super) fn newer(found: u32) -> Error {
    Error::Config(
        format!(
            "the database's chathooks schema is at version {found}, newer than this version of \
             chathooks supports ({SCHEMA_VERSION}); upgrade chathooks (databases are never \
             downgraded)"
        )
        .into(),
    )
}

/// What one migration run found.
enum Outcome {
    Applied(u32),
    Newer(u32),
}

pub(super) async fn migrate(pool: &PostgresPool) -> Result<u32, Error> {
    let schema = pool.schema().to_owned();
    let quoted = format!("\"{schema}\"");
    let table = version_table(pool);
    let outcome = pool
        .run_unchecked("migrate", |mut client| async move {
            let tx = client.transaction().await?;
            // One migrator at a time per schema; the lock ends with the transaction.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('chathooks migrate ' || $1))",
                &[&schema],
            )
            .await?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {quoted};
                 CREATE TABLE IF NOT EXISTS {table} (
                     version    integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 );"
            ))
            .await?;
            let found: i32 = tx
                .query_one(
                    &format!("SELECT COALESCE(max(version), 0) FROM {table}"),
                    &[],
                )
                .await?
                .get(0);
            let found = u32::try_from(found).unwrap_or(0);
            if found > SCHEMA_VERSION {
                tx.rollback().await?;
                return Ok(Outcome::Newer(found));
            }
            let mut applied = 0;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
                tx.batch_execute(&sql.replace("{s}", &quoted)).await?;
                tx.execute(
                    &format!("INSERT INTO {table} (version) VALUES ($1)"),
                    &[&version],
                )
                .await?;
                applied += 1;
            }
            tx.commit().await?;
            Ok(Outcome::Applied(applied))
        })
        .await?;
    match outcome {
        Outcome::Applied(n) => {
            if n > 0 {
                tracing::info!(
                    schema = pool.schema(),
                    applied = n,
                    version = SCHEMA_VERSION,
                    "chathooks postgres schema migrated"
                );
            }
            Ok(n)
        }
        Outcome::Newer(found) => Err(newer(found)),
    }
}
