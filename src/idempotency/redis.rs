//! [`RedisStore`]: an idempotency store shared by every replica (feature `redis`).
//!
//! Each operation is one round trip: a small Lua script run with `EVALSHA` (redis-rs loads it
//! on the first `NOSCRIPT`), over a redis-rs [`ConnectionManager`] that multiplexes concurrent
//! calls over one connection and reconnects in the background.
//!
//! | operation | script (one key) | value afterwards |
//! |---|---|---|
//! | claim | `SET key inflight:<token> NX PX lease`; when that fails, `GET` + `PTTL` to say whether the key is done or in flight and for how long | `inflight:<32 hex digits>` |
//! | complete | if `GET key == inflight:<token>`: `SET key done XX PX window` | `done` |
//! | release | if `GET key == inflight:<token>`: `DEL key` (the unlock script of the Redis docs) | — |
//!
//! Keys are the [`IdempotencyKey`] behind a configurable prefix (default `chathooks:idem:`).
//! Every script touches only its one key (passed as `KEYS[1]`), so it also runs on a cluster.
//!
//! ## Failures
//!
//! Any Redis error, and any call taking longer than the operation timeout (default 2 s), is
//! [`Error::StoreUnavailable`] (503 with `Retry-After`, default 1 s); nothing is assumed about
//! the key. The connection manager reconnects on the next call after an I/O error, so the
//! same store recovers when the server comes back, without a restart.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

use super::{ceil_millis, ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore, StoreFuture};
use crate::Error;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "chathooks:idem:";
/// Default bound on one operation, including waiting for a reconnection.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `Retry-After` suggested when Redis cannot answer.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

const CLAIM_LUA: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, 0}
end
local state = 2
if redis.call('GET', KEYS[1]) == 'done' then state = 1 end
return {state, redis.call('PTTL', KEYS[1])}
";

const COMPLETE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], 'done', 'XX', 'PX', ARGV[2])
  return 1
end
return 0
";

const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Idempotency store on Redis, for receivers running on several replicas.
///
/// ```no_run
/// # async fn demo() -> Result<(), chathooks::Error> {
/// use chathooks::idempotency::{Dedupe, RedisStore};
/// let store = RedisStore::connect("redis://127.0.0.1:6379/")
///     .await?
///     .with_prefix("myapp:webhooks:");
/// let dedupe = Dedupe::new(store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    op_timeout: Duration,
    retry_after: Duration,
    claim: Script,
    complete: Script,
    release: Script,
}

impl RedisStore {
    /// Connect to `url` (`redis://[user:password@]host:port/db`, or `rediss://` when redis-rs
    /// is built with TLS) with a connection manager tuned for request paths: 1 s to connect,
    /// 2 s per response, one quick reconnection retry per call (a call never waits long for a
    /// dead server; the next call tries again).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL (the URL itself is not repeated: it may hold a
    /// password); [`Error::StoreUnavailable`] when the server cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let client =
            Client::open(url).map_err(|_| Error::Config("Redis URL is not valid".into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unavailable("connect", &e, DEFAULT_RETRY_AFTER))?;
        Ok(Self::from_manager(conn))
    }

    /// Use an existing connection manager (your own timeouts, TLS, retry policy).
    pub fn from_manager(conn: ConnectionManager) -> Self {
        RedisStore {
            conn,
            prefix: DEFAULT_PREFIX.to_owned(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            claim: Script::new(CLAIM_LUA),
            complete: Script::new(COMPLETE_LUA),
            release: Script::new(RELEASE_LUA),
        }
    }

    /// Put every key under `prefix` (default [`DEFAULT_PREFIX`]), e.g. one per application
    /// sharing a Redis.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound each operation, including any wait for a reconnection (default
    /// [`DEFAULT_OP_TIMEOUT`]). Past it the call fails with [`Error::StoreUnavailable`].
    #[must_use]
    pub fn with_op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// The `Retry-After` to suggest when Redis cannot answer (default [`DEFAULT_RETRY_AFTER`]).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn redis_key(&self, key: &IdempotencyKey) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.as_str().len());
        k.push_str(&self.prefix);
        k.push_str(key.as_str());
        k
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        script: &Script,
        key: String,
        args: (&str, u64),
    ) -> Result<T, Error> {
        let mut conn = self.conn.clone();
        let mut invocation = script.key(key);
        invocation.arg(args.0).arg(args.1);
        match tokio::time::timeout(self.op_timeout, invocation.invoke_async(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(op, &e, self.retry_after)),
            Err(_) => Err(Error::StoreUnavailable {
                reason: format!("redis {op}: no answer within {:?}", self.op_timeout),
                retry_after: self.retry_after,
            }),
        }
    }
}

fn inflight_value(token: ClaimToken) -> String {
    format!("inflight:{}", token.to_hex())
}

pub(crate) fn unavailable(op: &'static str, e: &RedisError, retry_after: Duration) -> Error {
    // redis-rs errors name the failure (I/O error, server reply), never the URL or password.
    let mut detail = e.to_string();
    if detail.len() > 200 {
        let mut cut = 200;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    Error::StoreUnavailable {
        reason: format!("redis {op}: {detail}"),
        retry_after,
    }
}

impl fmt::Debug for RedisStore {
    // The connection manager's Debug includes the connection info (and so a password, if any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for RedisStore {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async move {
            let token = ClaimToken::generate();
            let value = inflight_value(token);
            let reply: (i64, i64) = self
                .run(
                    "claim",
                    &self.claim,
                    self.redis_key(key),
                    (&value, ceil_millis(lease)),
                )
                .await?;
            // PTTL is -1 (no expiry) or -2 (gone) only if something else wrote the key; the
            // lease is then the best estimate of when to retry.
            let remaining = u64::try_from(reply.1)
                .map(Duration::from_millis)
                .unwrap_or(lease);
            match reply.0 {
                0 => Ok(ClaimOutcome::Claimed(token)),
                1 => Ok(ClaimOutcome::AlreadyDone),
                _ => Ok(ClaimOutcome::InFlight {
                    retry_after: remaining,
                }),
            }
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: ClaimToken,
        window: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let value = inflight_value(token);
            let n: i64 = self
                .run(
                    "complete",
                    &self.complete,
                    self.redis_key(key),
                    (&value, ceil_millis(window)),
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn release<'a>(&'a self, key: &'a IdempotencyKey, token: ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let value = inflight_value(token);
            // The script ignores ARGV[2]; it keeps one argument layout for all three.
            let n: i64 = self
                .run("release", &self.release, self.redis_key(key), (&value, 0))
                .await?;
            Ok(n == 1)
        })
    }
}
