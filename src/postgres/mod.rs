//! Postgres backends (feature `postgres`): one connection pool and one versioned schema shared by
//! [`PostgresStore`] (the dedupe stage's [`IdempotencyStore`](crate::IdempotencyStore)) and
//! [`PostgresInbox`] (the durable [`Inbox`](crate::inbox::Inbox)), for services that already run
//! Postgres and no Redis.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chathooks::Error> {
//! use chathooks::postgres::{PostgresInbox, PostgresPool, PostgresStore};
//!
//! let pool = PostgresPool::connect("postgres://app@127.0.0.1:5432/app").await?;
//! pool.migrate().await?;                      // explicit: never DDL on the hot path
//! let store = PostgresStore::new(&pool);      // claim / complete / release
//! let inbox = PostgresInbox::new(&pool);      // put / lease / ack / fail / ...
//! # Ok(()) }
//! ```
//!
//! # Schema and migrations
//!
//! Every table lives in one schema (default `public`, see [`PostgresOptions::schema`]) under a
//! `chathooks_` prefix:
//!
//! | table | what it holds |
//! |---|---|
//! | `chathooks_schema_version` | one row per applied migration |
//! | `chathooks_idempotency` | one row per claimed or completed [`IdempotencyKey`](crate::IdempotencyKey) |
//! | `chathooks_inbox` | one row per stored delivery (the "transactional inbox") |
//!
//! [`PostgresPool::migrate`] applies the migrations this version knows, in order, all in one
//! transaction (a failure leaves the schema as it was) under an advisory lock (so several
//! processes starting at once are safe), and
//! refuses a database whose schema is newer than this version of chathooks ([`Error::Config`]).
//! Nothing else ever runs DDL: the stores only read and write rows, and a database that was not
//! migrated answers with a [`StoreUnavailable`](Error::StoreUnavailable) naming `migrate()`.
//! A pool reads the schema version before its first store or inbox call (and before each one
//! until it has seen the version this chathooks uses): a newer schema is refused with the same
//! [`Error::Config`] as `migrate()`'s, so a process that calls neither `migrate()` nor
//! `check_schema()` never writes into tables a later chathooks laid out.
//! [`PostgresPool::check_schema`] checks the version at startup without changing anything.
//!
//! # Failures
//!
//! Every call is bounded by the operation timeout (default 2 s, including the wait for a pooled
//! connection). A lost connection, a server that is restarting or down, or a timeout is
//! [`Error::StoreUnavailable`] (a receiver answers 503 with `Retry-After`, default 1 s). The pool
//! drops broken connections and opens new ones on the next call, so the same pool recovers by
//! itself when the server comes back.
//!
//! # Durability
//!
//! Every write is a single statement committed with the server's `synchronous_commit` (on by
//! default): an entry the inbox reports as accepted is in the WAL on disk. Postgres commits
//! concurrent transactions with one WAL flush, and [`PostgresInbox`] goes further: concurrent
//! `put`s, and concurrent `ack`s, share one statement ([`PostgresInbox::with_group_commit`], on
//! by default), so a batch of leases is acknowledged with one commit instead of one per entry.
//! Each caller is answered only after the statement carrying its item committed.
//!
//! # Connections
//!
//! Each pooled connection is driven by a task on the Tokio runtime that opened it: use a pool
//! from the runtime it was created on (one pool per `#[tokio::test]`, for example).
//!
//! Plain TCP (or a Unix socket via `host=/path`) without TLS: run the database on the same host
//! or a private network, or put a TLS proxy in front. The URL's password is never logged or
//! shown by `Debug`.

pub(crate) mod batch;
mod migrations;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use self::migrations::SCHEMA_VERSION;
pub use crate::idempotency::postgres::PostgresStore;
pub use crate::inbox::postgres::PostgresInbox;
use crate::Error;

/// Default schema holding the tables.
pub const DEFAULT_SCHEMA: &str = "public";
/// Default bound on one operation, including the wait for a pooled connection.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `Retry-After` suggested when Postgres cannot answer.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Default number of pooled connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How to connect: built by [`PostgresPool::options`], finished by
/// [`connect`](PostgresOptions::connect).
#[derive(Clone)]
pub struct PostgresOptions {
    config: tokio_postgres::Config,
    schema: String,
    max_connections: usize,
    op_timeout: Duration,
    retry_after: Duration,
}

impl fmt::Debug for PostgresOptions {
    // tokio-postgres' Config Debug redacts the password, but the host list and user are enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("op_timeout", &self.op_timeout)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// Keep the tables in `schema` (default [`DEFAULT_SCHEMA`], `public`): 1 to 63 bytes of
    /// lowercase ASCII letters, digits and `_`, not starting with a digit. [`migrate`] creates
    /// it when missing.
    ///
    /// [`migrate`]: PostgresPool::migrate
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// At most this many pooled connections (default [`DEFAULT_MAX_CONNECTIONS`]; at least 1).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Bound each operation, including the wait for a connection (default
    /// [`DEFAULT_OP_TIMEOUT`]). Past it the call fails with [`Error::StoreUnavailable`].
    #[must_use]
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// The `Retry-After` to suggest when Postgres cannot answer (default
    /// [`DEFAULT_RETRY_AFTER`]).
    #[must_use]
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Build the pool and check that one connection can be opened.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid schema name; [`Error::StoreUnavailable`] when the server
    /// cannot be reached now (the message never holds the password).
    pub async fn connect(self) -> Result<PostgresPool, Error> {
        let pool = self.build()?;
        pool.run_unchecked("connect", |client| async move {
            client.simple_query("SELECT 1").await.map(drop)
        })
        .await?;
        Ok(pool)
    }

    /// Build the pool without connecting: the first call opens the first connection. Useful
    /// when the service must start while the database is still down (calls answer
    /// [`Error::StoreUnavailable`] until it is up).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid schema name.
    pub fn build(self) -> Result<PostgresPool, Error> {
        if !valid_identifier(&self.schema) {
            return Err(Error::Config(
                "Postgres schema name must be 1-63 bytes of lowercase ASCII letters, digits and `_`, not starting with a digit"
                    .into(),
            ));
        }
        let manager = Manager::from_config(
            self.config,
            NoTls,
            ManagerConfig {
                // `Fast` checks only that the connection is open; a server restart closes every
                // connection, so the next call gets a fresh one.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.op_timeout))
            .create_timeout(Some(self.op_timeout))
            .recycle_timeout(Some(self.op_timeout))
            .build()
            .map_err(|e| Error::Config(format!("Postgres pool: {e}").into()))?;
        Ok(PostgresPool {
            inner: Arc::new(Inner {
                pool,
                schema: self.schema,
                op_timeout: self.op_timeout,
                retry_after: self.retry_after,
                schema_current: AtomicBool::new(false),
            }),
        })
    }
}

fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.as_bytes()[0].is_ascii_digit()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A pool of Postgres connections and the schema the chathooks tables live in: what
/// [`PostgresStore`] and [`PostgresInbox`] share. Cheap to clone.
#[derive(Clone)]
pub struct PostgresPool {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: String,
    op_timeout: Duration,
    retry_after: Duration,
    /// The database was seen holding exactly [`SCHEMA_VERSION`]: calls stop checking.
    schema_current: AtomicBool,
}

impl fmt::Debug for PostgresPool {
    // The pool's own Debug would show the connection config; keep to what is safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresPool")
            .field("schema", &self.inner.schema)
            .field("max_connections", &status.max_size)
            .field("connections", &status.size)
            .field("op_timeout", &self.inner.op_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresPool {
    /// Options for `url`: a `postgres://user[:password]@host[:port]/db[?...]` URL or a
    /// `host=... user=... dbname=...` string (both as libpq takes them). A connect timeout of
    /// 2 s is set unless the URL names one.
    ///
    /// # Errors
    /// [`Error::Config`] when `url` cannot be parsed (the URL is not repeated: it may hold a
    /// password).
    pub fn options(url: &str) -> Result<PostgresOptions, Error> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| Error::Config("Postgres URL is not valid".into()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(2));
        }
        if config.get_application_name().is_none() {
            config.application_name("chathooks");
        }
        Ok(PostgresOptions {
            config,
            schema: DEFAULT_SCHEMA.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            op_timeout: DEFAULT_OP_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
        })
    }

    /// Connect to `url` with the default options (schema `public`, 16 connections, 2 s per
    /// operation). See [`options`](Self::options) for the URL and the errors.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL; [`Error::StoreUnavailable`] when the server cannot
    /// be reached now.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::options(url)?.connect().await
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// `"schema".chathooks_<name>`, for building queries.
    pub(crate) fn table(&self, name: &str) -> String {
        format!("\"{}\".chathooks_{name}", self.inner.schema)
    }

    /// Bring the schema to [`SCHEMA_VERSION`]: apply every migration not applied yet (none when
    /// it is current). Returns how many were applied. Safe to call from several processes at
    /// once, and on every start.
    ///
    /// # Errors
    /// [`Error::Config`] when the database holds a schema newer than this version of chathooks
    /// (from a later release: upgrade chathooks, never downgrade a database);
    /// [`Error::StoreUnavailable`] when the server cannot be reached or refuses the DDL (the
    /// user needs `CREATE` on the schema).
    pub async fn migrate(&self) -> Result<u32, Error> {
        migrations::migrate(self).await
    }

    /// The schema version the database holds (0: never migrated).
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] when the server cannot be reached.
    pub async fn schema_version(&self) -> Result<u32, Error> {
        migrations::current_version(self).await
    }

    /// Check, without changing anything, that the database holds exactly the schema this
    /// version of chathooks uses. Call it at startup in processes that do not migrate.
    ///
    /// # Errors
    /// [`Error::Config`] naming both versions when the schema is older (call
    /// [`migrate`](Self::migrate)) or newer (upgrade chathooks); [`Error::StoreUnavailable`]
    /// when the server cannot be reached.
    pub async fn check_schema(&self) -> Result<(), Error> {
        let found = self.schema_version().await?;
        migrations::check_version(found)
    }

    /// Run `f` on a pooled connection, bounded by the operation timeout; every failure is
    /// [`Error::StoreUnavailable`]. Until the pool has seen the schema at [`SCHEMA_VERSION`],
    /// each call first reads the version and refuses a newer schema ([`Error::Config`]), so a
    /// service that never calls `migrate()` or `check_schema()` does not write into tables a
    /// later chathooks laid out (as a newer SQLite file is refused at open); after that, one
    /// atomic load.
    pub(crate) async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, Error>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        if !self.inner.schema_current.load(Ordering::Acquire) {
            let found = migrations::current_version(self).await?;
            if found > SCHEMA_VERSION {
                return Err(migrations::newer(found));
            }
            if found == SCHEMA_VERSION {
                self.inner.schema_current.store(true, Ordering::Release);
            }
        }
        self.run_unchecked(op, f).await
    }

    /// [`run`](Self::run) without the schema check: for reading the version and migrating.
    pub(crate) async fn run_unchecked<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, Error>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let work = async {
            let client = self
                .inner
                .pool
                .get()
                .await
                .map_err(|e| self.unavailable(op, &e.to_string()))?;
            f(client).await.map_err(|e| self.db_error(op, &e))
        };
        match tokio::time::timeout(self.inner.op_timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                Err(self.unavailable(op, &format!("no answer within {:?}", self.inner.op_timeout)))
            }
        }
    }

    pub(crate) fn retry_after(&self) -> Duration {
        self.inner.retry_after
    }

    pub(crate) fn op_timeout(&self) -> Duration {
        self.inner.op_timeout
    }

    fn db_error(&self, op: &'static str, e: &tokio_postgres::Error) -> Error {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
            return self.unavailable(
                op,
                "the chathooks tables are missing: call PostgresPool::migrate() first",
            );
        }
        // tokio-postgres errors name the failure (I/O error, server message), never the
        // password; `{:#}`-less Display keeps the server's message, which is what helps.
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        self.unavailable(op, &detail)
    }

    fn unavailable(&self, op: &'static str, detail: &str) -> Error {
        let mut detail = detail.to_owned();
        if detail.len() > 200 {
            let mut cut = 200;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        Error::StoreUnavailable {
            reason: format!("postgres {op}: {detail}"),
            retry_after: self.inner.retry_after,
        }
    }
}

/// Milliseconds as Postgres takes them (`$n * interval '1 millisecond'`), rounded up and at
/// least 1, saturating far beyond any sensible lease or window.
pub(crate) fn millis(d: Duration) -> i64 {
    // 100 years is far past any window, and keeps `now() + interval` inside timestamptz.
    const CAP: u64 = 100 * 365 * 24 * 3600 * 1000;
    i64::try_from(crate::idempotency::ceil_millis(d).min(CAP)).unwrap_or(i64::MAX)
}

/// A token as the 16 bytes stored in `bytea` columns.
pub(crate) fn token_bytes(token: crate::idempotency::ClaimToken) -> [u8; 16] {
    let [a, b] = token.words();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        for ok in ["public", "chathooks", "app_1", "_x"] {
            assert!(valid_identifier(ok), "{ok}");
        }
        for bad in ["", "Public", "1abc", "a-b", "a\"b", "a b", &"x".repeat(64)] {
            assert!(!valid_identifier(bad), "{bad}");
        }
        let err = PostgresPool::options("postgres://u@127.0.0.1/db")
            .unwrap()
            .schema("bad\"name")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }

    #[test]
    fn bad_urls_are_config_errors_without_the_url() {
        let err = PostgresPool::options("postgres://u:hunter2@[::1:5432/db").unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let opts = PostgresPool::options("postgres://u:hunter2@127.0.0.1/db").unwrap();
        assert!(!format!("{opts:?}").contains("hunter2"));
        let pool = opts.build().unwrap();
        assert!(!format!("{pool:?}").contains("hunter2"));
    }

    #[test]
    fn millis_round_up_and_saturate() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::MAX), 100 * 365 * 24 * 3600 * 1000);
    }
}
