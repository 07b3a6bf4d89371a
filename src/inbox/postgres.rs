//! [`PostgresInbox`]: the transactional inbox on Postgres (feature `postgres`).
//!
//! One row per delivery in `chathooks_inbox` (see [`crate::postgres`] for the pool, the schema
//! and migrations). The dedupe key is a unique key of that table, so **dedupe and storage are one
//! statement**: `INSERT … ON CONFLICT (dedupe_key) DO NOTHING`. A delivery is stored exactly once
//! or not at all, and the receiver answers 2xx only after that statement committed.
//!
//! | operation | statement |
//! |---|---|
//! | put | `INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`, reading the holder's id in the same statement on a conflict; with [group commit](PostgresInbox::with_group_commit) (the default) concurrent puts share one `INSERT … SELECT FROM unnest(…)` |
//! | lease | `UPDATE … FROM (SELECT id … WHERE state IN (pending, leased, retrying) AND due_at <= now() ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED)`: a batch per statement, one fresh token per row |
//! | ack / fail / release | `UPDATE … WHERE id = $1 AND state = 'leased' AND lease_token = $2`; concurrent acks share one `UPDATE … FROM unnest(ids, tokens)` with group commit, and `ack_many` is one such statement per 256 leases |
//! | purge | `DELETE` of done/dead rows finished before the retention, 10 000 per statement |
//!
//! - **No sweeper.** A lease is a `due_at` in the future; the lease query treats a leased row
//!   whose `due_at` has passed as due, so a dead worker's entries are taken over by the next
//!   `lease` of any worker, with a new token. The old token then matches nothing.
//! - **Workers never block each other.** `FOR UPDATE SKIP LOCKED` hands concurrent `lease`
//!   calls disjoint rows.
//! - **Index scans at any size.** `lease` reads the partial index on `due_at` over the
//!   pending, leased and retrying rows only, so millions of kept done rows cost it nothing;
//!   `purge` has its own partial index over done and dead rows.
//! - **Bytes exact.** The body is a `bytea`, returned byte for byte.
//!
//! Every failure (connection lost, server restarting, timeout) is
//! [`Error::StoreUnavailable`]: a receiver answers 503 with `Retry-After`, and a worker backs
//! off and tries again on the same pool, which reconnects by itself.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio_postgres::Row;

use super::{
    copy_unavailable, truncate_error, AfterFailure, Entry, EntryId, EntryState, Inbox, InboxFuture,
    InboxStats, Lease, LeaseToken, ListFilter, NewEntry, PutOutcome, ReplaySelector,
};
use crate::idempotency::IdempotencyKey;
use crate::postgres::batch::{Batcher, RunBatch};
use crate::postgres::{millis, token_bytes, PostgresPool};
use crate::Error;

/// Most entries one `lease` call hands out, whatever `max` asks.
pub const MAX_LEASE_BATCH: usize = 1000;
/// Most entries one `list` call returns, whatever the filter's limit asks (the same bound
/// on every backend).
pub use crate::inbox::MAX_LIST;
/// Rows deleted per statement by `purge`.
const PURGE_BATCH: i64 = 10_000;
/// Statements one `purge` call runs at most (so at most 10 M rows per call).
const PURGE_ROUNDS: usize = 1000;

/// The columns every read returns, in the order [`entry_from_row`] reads them.
const COLS: &str = "e.id, e.namespace, e.vendor, e.dedupe_key, e.signed_delivery_id, \
    e.header_names, e.header_values, e.body, e.received_at, e.state, e.attempts, \
    e.last_error, e.due_at";

/// The durable inbox on Postgres: receivers on any number of machines put, workers on any
/// number of machines lease, all through one database.
///
/// ```no_run
/// # async fn demo() -> Result<(), chathooks::Error> {
/// use std::sync::Arc;
/// use chathooks::inbox::Inbox;
/// use chathooks::postgres::{PostgresInbox, PostgresPool};
///
/// let pool = PostgresPool::connect("postgres://app@127.0.0.1/app").await?;
/// pool.migrate().await?;
/// let inbox: Arc<dyn Inbox> = Arc::new(PostgresInbox::new(&pool));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresInbox {
    pool: PostgresPool,
    sql: Arc<Sql>,
    group_commit: bool,
    puts: Arc<Batcher<NewEntry, PutOutcome>>,
    acks: Arc<Batcher<(i64, [u8; 16]), bool>>,
}

/// Most puts, or acks, one group-commit statement carries.
pub const MAX_GROUP: usize = 256;
/// Group-commit statements of one kind (put, ack) one inbox runs at once.
const GROUP_STATEMENTS: usize = 4;

#[derive(Clone)]
struct Sql {
    put: String,
    put_many: String,
    holders: String,
    ack_many: String,
    holder: String,
    lease: String,
    ack: String,
    fail: String,
    release: String,
    get: String,
    list_state: String,
    list_any: String,
    stats: String,
    replay_ids: String,
    replay_state: String,
    purge: String,
}

impl fmt::Debug for PostgresInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresInbox")
            .field("pool", &self.pool)
            .field("group_commit", &self.group_commit)
            .finish_non_exhaustive()
    }
}

impl PostgresInbox {
    /// The inbox on `pool`'s schema (migrate it first: [`PostgresPool::migrate`]).
    pub fn new(pool: &PostgresPool) -> Self {
        let t = pool.table("inbox");
        let leasable = "state IN ('pending', 'leased', 'retrying')";
        let held = "e.id = $1 AND e.state = 'leased' AND e.lease_token = $2";
        let sql = Sql {
            // On a conflict the row's id comes from the same statement when the snapshot shows
            // it; a row committed after the snapshot is read by `holder`.
            put: format!(
                "WITH ins AS (
                    INSERT INTO {t} (dedupe_key, namespace, vendor, signed_delivery_id,
                                     header_names, header_values, body, received_at,
                                     state, due_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', now())
                    ON CONFLICT (dedupe_key) DO NOTHING
                    RETURNING id
                 )
                 SELECT id, true FROM ins
                 UNION ALL
                 SELECT id, false FROM {t} WHERE dedupe_key = $1 AND NOT EXISTS (SELECT 1 FROM ins)"
            ),
            holder: format!("SELECT id FROM {t} WHERE dedupe_key = $1"),
            // Headers travel as one flat array of names and one of values for the whole batch
            // (arrays of arrays must be rectangular in Postgres); row i's are the slice
            // [lo, hi] of both, empty when hi < lo. A slice is a plain array operation, where
            // decoding a JSON array per row ran a subquery per row.
            put_many: format!(
                "INSERT INTO {t} (dedupe_key, namespace, vendor, signed_delivery_id,
                                  header_names, header_values, body, received_at, state, due_at)
                 SELECT i.k, i.ns, i.v, i.sid, ($5::text[])[i.lo:i.hi], ($6::text[])[i.lo:i.hi],
                        i.body, i.at, 'pending', now()
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $7::int4[],
                             $8::int4[], $9::bytea[], $10::timestamptz[])
                      AS i(k, ns, v, sid, lo, hi, body, at)
                 ON CONFLICT (dedupe_key) DO NOTHING
                 RETURNING id, dedupe_key"
            ),
            holders: format!("SELECT id, dedupe_key FROM {t} WHERE dedupe_key = ANY($1::text[])"),
            // The rows are locked in id order first: two batches holding the same rows (a
            // worker's batch and a late duplicate ack) would otherwise lock them in whatever
            // order each plan meets them, and deadlock (40P01).
            ack_many: format!(
                "WITH a AS (SELECT * FROM unnest($1::int8[], $2::bytea[]) AS a(id, tok)),
                      l AS (SELECT e.id FROM {t} AS e WHERE e.id IN (SELECT id FROM a)
                            ORDER BY e.id FOR UPDATE)
                 UPDATE {t} AS e SET state = 'done', due_at = now(), lease_token = NULL
                 FROM a, l
                 WHERE e.id = a.id AND e.id = l.id AND e.state = 'leased' AND e.lease_token = a.tok
                 RETURNING e.id, a.tok"
            ),
            lease: format!(
                "WITH due AS (
                    SELECT id, due_at FROM {t}
                    WHERE {leasable} AND due_at <= now()
                    ORDER BY due_at
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED
                 ), numbered AS (
                    SELECT id, row_number() OVER (ORDER BY due_at, id) AS n FROM due
                 )
                 UPDATE {t} AS e
                 SET state = 'leased', lease_token = ($2::bytea[])[numbered.n],
                     attempts = e.attempts + 1,
                     due_at = now() + $3::int8 * interval '1 millisecond'
                 FROM numbered WHERE e.id = numbered.id
                 RETURNING numbered.n, {COLS}"
            ),
            ack: format!(
                "UPDATE {t} AS e SET state = 'done', due_at = now(), lease_token = NULL
                 WHERE {held}"
            ),
            fail: format!(
                "UPDATE {t} AS e SET state = $4, last_error = $3,
                     due_at = now() + COALESCE($5::int8, 0) * interval '1 millisecond',
                     lease_token = NULL
                 WHERE {held}"
            ),
            release: format!(
                "UPDATE {t} AS e
                 SET state = CASE WHEN e.attempts > 1 THEN 'retrying' ELSE 'pending' END,
                     attempts = GREATEST(e.attempts - 1, 0), due_at = now(), lease_token = NULL
                 WHERE {held}"
            ),
            get: format!("SELECT {COLS} FROM {t} AS e WHERE e.id = $1"),
            list_state: format!(
                "SELECT {COLS} FROM {t} AS e
                 WHERE e.state = $1 AND ($2::text IS NULL OR e.namespace = $2)
                 ORDER BY e.received_at, e.id LIMIT $3"
            ),
            list_any: format!(
                "SELECT {COLS} FROM {t} AS e
                 WHERE ($1::text IS NULL OR e.namespace = $1)
                 ORDER BY e.received_at, e.id LIMIT $2"
            ),
            // One count per state, each over `chathooks_inbox_state (state, …)`: index-only
            // scans of that state's rows, instead of one scan of the whole table (done rows
            // included) every time a worker refreshes its gauges.
            stats: format!(
                "SELECT (SELECT count(*) FROM {t} WHERE state = 'pending'),
                        (SELECT count(*) FROM {t} WHERE state = 'leased'),
                        (SELECT count(*) FROM {t} WHERE state = 'retrying'),
                        (SELECT count(*) FROM {t} WHERE state = 'dead'),
                        (SELECT count(*) FROM {t} WHERE state = 'done'),
                        (SELECT min(received_at) FROM {t} WHERE state = 'pending')"
            ),
            replay_ids: format!(
                "UPDATE {t} SET state = 'pending', attempts = 0, due_at = now(), lease_token = NULL
                 WHERE id = ANY($1::int8[]) AND state IN ('dead', 'done')"
            ),
            replay_state: format!(
                "UPDATE {t} SET state = 'pending', attempts = 0, due_at = now(), lease_token = NULL
                 WHERE state = $1
                   AND ($2::timestamptz IS NULL OR received_at >= $2)
                   AND ($3::timestamptz IS NULL OR received_at < $3)"
            ),
            // The predicate stands on the outer DELETE too: under READ COMMITTED a row that a
            // concurrent replay sent back to pending is re-checked against the outer
            // conditions only, and `id IN (…)` alone would still delete it.
            purge: format!(
                "DELETE FROM {t} WHERE id IN (
                     SELECT id FROM {t}
                     WHERE state IN ('done', 'dead')
                       AND due_at < now() - $1::int8 * interval '1 microsecond'
                     LIMIT $2)
                   AND state IN ('done', 'dead')
                   AND due_at < now() - $1::int8 * interval '1 microsecond'"
            ),
        };
        PostgresInbox {
            pool: pool.clone(),
            sql: Arc::new(sql),
            group_commit: true,
            puts: Arc::new(Batcher::new(MAX_GROUP, GROUP_STATEMENTS)),
            acks: Arc::new(Batcher::new(MAX_GROUP, GROUP_STATEMENTS)),
        }
    }

    /// Group commit (on by default): concurrent `put`s of this inbox share one `INSERT`
    /// statement, and concurrent `ack`s one `UPDATE`, so under load many deliveries cost one
    /// transaction and one WAL flush. Each caller still gets its own answer only after the
    /// statement carrying its item committed. A lone call is not delayed: a batch is whatever
    /// arrived while the previous statement ran. Off, every call is its own statement.
    ///
    /// Needs a Tokio runtime with the time driver (the statements run on a task of the
    /// runtime that made the first call).
    #[must_use]
    pub fn with_group_commit(mut self, on: bool) -> Self {
        self.group_commit = on;
        self
    }

    /// The pool this inbox uses.
    pub fn pool(&self) -> &PostgresPool {
        &self.pool
    }

    /// Store a batch with one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`, then read
    /// the holders of the keys that were already taken. Items the batch statement could not
    /// settle (a data error in one of them, a conflicting row gone meanwhile) are put one by
    /// one, so one bad item never fails the others.
    async fn put_group(&self, mut items: Vec<NewEntry>) -> Vec<Result<PutOutcome, Error>> {
        if items.len() == 1 {
            return vec![self.put_entry(items.remove(0)).await];
        }
        // One lock order for every batch: two receivers' batches never deadlock on each
        // other's keys.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| items[a].key.as_str().cmp(items[b].key.as_str()));
        let keys: Vec<&str> = order.iter().map(|&i| items[i].key.as_str()).collect();
        let namespaces: Vec<&str> = order.iter().map(|&i| items[i].namespace.as_str()).collect();
        let vendors: Vec<&str> = order.iter().map(|&i| items[i].vendor.as_str()).collect();
        let signed: Vec<Option<&str>> = order
            .iter()
            .map(|&i| items[i].signed_delivery_id.as_deref())
            .collect();
        let headers: usize = items.iter().map(|e| e.headers.len()).sum();
        let (mut names, mut values) = (Vec::with_capacity(headers), Vec::with_capacity(headers));
        let (mut lo, mut hi) = (
            Vec::with_capacity(items.len()),
            Vec::with_capacity(items.len()),
        );
        for &i in &order {
            // 1-based, inclusive; a batch holds at most MAX_GROUP entries of bounded headers.
            lo.push(i32::try_from(names.len() + 1).unwrap_or(i32::MAX));
            for (n, v) in &items[i].headers {
                names.push(n.as_str());
                values.push(v.as_str());
            }
            hi.push(i32::try_from(names.len()).unwrap_or(i32::MAX));
        }
        let bodies: Vec<&[u8]> = order.iter().map(|&i| &items[i].body[..]).collect();
        let received: Vec<SystemTime> = order
            .iter()
            .map(|&i| in_range(items[i].received_at, Duration::ZERO))
            .collect();
        let sql = &self.sql;
        let params = (
            &keys,
            &namespaces,
            &vendors,
            &signed,
            (&names, &values, &lo, &hi),
            &bodies,
            &received,
        );
        let result = self
            .pool
            .run("put", |client| async move {
                let (k, ns, v, sid, (hn, hv, lo, hi), b, at) = params;
                let st = client.prepare_cached(&sql.put_many).await?;
                let args: [&(dyn tokio_postgres::types::ToSql + Sync); 10] =
                    [k, ns, v, sid, hn, hv, lo, hi, b, at];
                let inserted = match client.query(&st, &args).await {
                    Ok(rows) => rows,
                    // A value Postgres refuses (class 22: data exception): settle one by one.
                    Err(e) if e.code().is_some_and(|c| c.code().starts_with("22")) => {
                        return Ok(None)
                    }
                    Err(e) => return Err(e),
                };
                // Every key new (the usual case): no holder to read, one statement per batch.
                if inserted.len() == k.len() {
                    return Ok(Some((inserted, Vec::new())));
                }
                let st = client.prepare_cached(&sql.holders).await?;
                let held = client.query(&st, &[k]).await?;
                Ok(Some((inserted, held)))
            })
            .await;
        let (inserted, held) = match result {
            Ok(Some(rows)) => rows,
            Ok(None) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.put_entry(item).await);
                }
                return out;
            }
            Err(err) => return self.copies(&err, items.len()),
        };
        let mut fresh: HashMap<&str, i64> = HashMap::with_capacity(inserted.len());
        for row in &inserted {
            if let (Ok(id), Ok(key)) = (row.try_get::<_, i64>(0), row.try_get::<_, &str>(1)) {
                fresh.insert(key, id);
            }
        }
        let mut holders: HashMap<&str, i64> = HashMap::with_capacity(held.len());
        for row in &held {
            if let (Ok(id), Ok(key)) = (row.try_get::<_, i64>(0), row.try_get::<_, &str>(1)) {
                holders.insert(key, id);
            }
        }
        let mut out: Vec<Option<Result<PutOutcome, Error>>> =
            (0..items.len()).map(|_| None).collect();
        let mut retry = Vec::new();
        // In the callers' order: the first put of a key this statement inserted is the one
        // accepted; every other put of it is a duplicate, as if they had run one after another.
        for (i, item) in items.iter().enumerate() {
            let key = item.key.as_str();
            if let Some(id) = fresh.remove(key) {
                out[i] = Some(Ok(PutOutcome::Accepted(entry_id(id))));
            } else if let Some(id) = holders.get(key) {
                out[i] = Some(Ok(PutOutcome::Duplicate(entry_id(*id))));
            } else {
                retry.push(i);
            }
        }
        drop((fresh, holders));
        let mut items: Vec<Option<NewEntry>> = items.into_iter().map(Some).collect();
        for i in retry {
            if let Some(item) = items[i].take() {
                out[i] = Some(self.put_entry(item).await);
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(self.corrupt(&"a put got no answer"))))
            .collect()
    }

    async fn ack_group(&self, items: Vec<(i64, [u8; 16])>) -> Vec<Result<bool, Error>> {
        let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
        let tokens: Vec<&[u8]> = items.iter().map(|(_, t)| &t[..]).collect();
        let sql = &self.sql.ack_many;
        let (ids_ref, tokens_ref) = (&ids, &tokens);
        let result = self
            .pool
            .run("ack", |client| async move {
                let st = client.prepare_cached(sql).await?;
                client.query(&st, &[ids_ref, tokens_ref]).await
            })
            .await;
        match result {
            Ok(rows) => {
                let mut acked: HashSet<(i64, Vec<u8>)> = rows
                    .iter()
                    .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
                    .collect();
                // Each acked row answers `true` once: a second ack of the same lease in the
                // same batch answers `false`, as it would one statement later.
                items
                    .iter()
                    .map(|(id, t)| Ok(acked.remove(&(*id, t.to_vec()))))
                    .collect()
            }
            Err(err) => self.copies(&err, items.len()),
        }
    }

    async fn put_entry(&self, entry: NewEntry) -> Result<PutOutcome, Error> {
        let (names, values): (Vec<String>, Vec<String>) = entry.headers.into_iter().unzip();
        let body: &[u8] = &entry.body;
        let key = entry.key.as_str();
        // A conflicting row that commits after this statement's snapshot, or one purged between
        // the insert and the read, makes a try answer nothing; the next try sees it settled.
        for _ in 0..3 {
            let sql = &self.sql;
            let (names, values) = (&names, &values);
            let (namespace, vendor) = (&entry.namespace, &entry.vendor);
            let signed = &entry.signed_delivery_id;
            let received_at = in_range(entry.received_at, Duration::ZERO);
            let found: Option<(i64, bool)> = self
                .pool
                .run("put", |client| async move {
                    let st = client.prepare_cached(&sql.put).await?;
                    let rows = client
                        .query(
                            &st,
                            &[
                                &key,
                                namespace,
                                vendor,
                                signed,
                                names,
                                values,
                                &body,
                                &received_at,
                            ],
                        )
                        .await?;
                    if let Some(row) = rows.first() {
                        return Ok(Some((row.try_get(0)?, row.try_get(1)?)));
                    }
                    let st = client.prepare_cached(&sql.holder).await?;
                    let row = client.query_opt(&st, &[&key]).await?;
                    row.map(|r| r.try_get(0).map(|id| (id, false))).transpose()
                })
                .await?;
            match found {
                Some((id, true)) => return Ok(PutOutcome::Accepted(entry_id(id))),
                Some((id, false)) => return Ok(PutOutcome::Duplicate(entry_id(id))),
                None => continue,
            }
        }
        Err(Error::StoreUnavailable {
            reason: "postgres put: the dedupe key changed hands under every try".into(),
            retry_after: self.pool.retry_after(),
        })
    }

    async fn lease_batch(&self, max: usize, lease: Duration) -> Result<Vec<Lease>, Error> {
        let max = max.min(MAX_LEASE_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let tokens: Vec<LeaseToken> = (0..max).map(|_| LeaseToken::generate()).collect();
        let token_rows: Vec<Vec<u8>> = tokens.iter().map(|t| token_bytes(*t).to_vec()).collect();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let ms = millis(lease);
        let sql = &self.sql.lease;
        let token_rows = &token_rows;
        let rows = self
            .pool
            .run("lease", |client| async move {
                let st = client.prepare_cached(sql).await?;
                client.query(&st, &[&limit, token_rows, &ms]).await
            })
            .await?;
        let mut leases = Vec::with_capacity(rows.len());
        for row in &rows {
            let n: i64 = row.try_get(0).map_err(|e| self.corrupt(&e))?;
            let token = usize::try_from(n - 1)
                .ok()
                .and_then(|i| tokens.get(i))
                .copied()
                .ok_or_else(|| self.corrupt(&"lease row number out of range"))?;
            let entry = self.entry_from_row(row, 1)?;
            let expires_at = entry.next_attempt_at;
            leases.push((n, Lease::new(entry, token, expires_at)));
        }
        // Oldest due first, as the rows were picked.
        leases.sort_by_key(|(n, _)| *n);
        Ok(leases.into_iter().map(|(_, l)| l).collect())
    }

    async fn settle(
        &self,
        op: &'static str,
        sql: &str,
        id: &EntryId,
        token: LeaseToken,
        failure: Option<(&str, AfterFailure)>,
    ) -> Result<bool, Error> {
        let Some(id) = parse_id(id) else {
            return Ok(false);
        };
        let token = token_bytes(token);
        let token: &[u8] = &token;
        let n = self
            .pool
            .run(op, |client| async move {
                let st = client.prepare_cached(sql).await?;
                match failure {
                    None => client.execute(&st, &[&id, &token]).await,
                    Some((error, then)) => {
                        // The retry time as a delay from now on the database's clock, which
                        // lease ends and `due_at <= now()` use: a worker whose clock runs
                        // ahead or behind does not shift its retries by the skew.
                        let (state, delay_ms) = match then {
                            AfterFailure::RetryAt(at) => {
                                let delay = at
                                    .duration_since(SystemTime::now())
                                    .unwrap_or(Duration::ZERO)
                                    .min(crate::inbox::MAX_DELAY);
                                ("retrying", Some(delay.as_millis() as i64))
                            }
                            _ => ("dead", None),
                        };
                        let error = truncate_error(error);
                        client
                            .execute(&st, &[&id, &token, &error, &state, &delay_ms])
                            .await
                    }
                }
            })
            .await?;
        Ok(n == 1)
    }

    async fn get_entry(&self, id: &EntryId) -> Result<Option<Entry>, Error> {
        let Some(id) = parse_id(id) else {
            return Ok(None);
        };
        let sql = &self.sql.get;
        let row = self
            .pool
            .run("get", |client| async move {
                let st = client.prepare_cached(sql).await?;
                client.query_opt(&st, &[&id]).await
            })
            .await?;
        row.map(|r| self.entry_from_row(&r, 0)).transpose()
    }

    async fn list_entries(&self, filter: &ListFilter) -> Result<Vec<Entry>, Error> {
        let limit = i64::try_from(filter.limit.min(MAX_LIST)).unwrap_or(0);
        let namespace = filter.namespace.as_deref();
        let state = filter.state.map(EntryState::as_str);
        let sql = &self.sql;
        let rows = self
            .pool
            .run("list", |client| async move {
                match state {
                    Some(state) => {
                        let st = client.prepare_cached(&sql.list_state).await?;
                        client.query(&st, &[&state, &namespace, &limit]).await
                    }
                    None => {
                        let st = client.prepare_cached(&sql.list_any).await?;
                        client.query(&st, &[&namespace, &limit]).await
                    }
                }
            })
            .await?;
        rows.iter().map(|r| self.entry_from_row(r, 0)).collect()
    }

    async fn stats_now(&self) -> Result<InboxStats, Error> {
        let sql = &self.sql.stats;
        let row = self
            .pool
            .run("stats", |client| async move {
                let st = client.prepare_cached(sql).await?;
                client.query_one(&st, &[]).await
            })
            .await?;
        let count = |i: usize| -> Result<u64, Error> {
            let n: i64 = row.try_get(i).map_err(|e| self.corrupt(&e))?;
            Ok(n.unsigned_abs())
        };
        let oldest: Option<SystemTime> = row.try_get(5).map_err(|e| self.corrupt(&e))?;
        Ok(InboxStats {
            pending: count(0)?,
            leased: count(1)?,
            retrying: count(2)?,
            dead: count(3)?,
            done: count(4)?,
            oldest_pending_age: oldest.map(|at| {
                SystemTime::now()
                    .duration_since(at)
                    .unwrap_or(Duration::ZERO)
            }),
        })
    }

    async fn replay_selected(&self, selector: &ReplaySelector) -> Result<u64, Error> {
        let sql = &self.sql;
        match selector {
            ReplaySelector::Ids(ids) => {
                let ids: Vec<i64> = ids.iter().filter_map(parse_id).collect();
                if ids.is_empty() {
                    return Ok(0);
                }
                let ids = &ids;
                self.pool
                    .run("replay", |client| async move {
                        let st = client.prepare_cached(&sql.replay_ids).await?;
                        client.execute(&st, &[ids]).await
                    })
                    .await
            }
            ReplaySelector::State {
                state,
                received_after,
                received_before,
            } => {
                if !matches!(state, EntryState::Dead | EntryState::Done) {
                    return Ok(0);
                }
                let state = state.as_str();
                let bound = |t: SystemTime| in_range(ceil_us(t), BOUND_MARGIN);
                let (after, before) = (received_after.map(bound), received_before.map(bound));
                self.pool
                    .run("replay", |client| async move {
                        let st = client.prepare_cached(&sql.replay_state).await?;
                        client.execute(&st, &[&state, &after, &before]).await
                    })
                    .await
            }
        }
    }

    async fn purge_finished(&self, older_than: Duration) -> Result<u64, Error> {
        let us = purge_micros(older_than);
        let mut total = 0;
        for _ in 0..PURGE_ROUNDS {
            let sql = &self.sql.purge;
            let n = self
                .pool
                .run("purge", |client| async move {
                    let st = client.prepare_cached(sql).await?;
                    client.execute(&st, &[&us, &PURGE_BATCH]).await
                })
                .await?;
            total += n;
            if n < PURGE_BATCH.unsigned_abs() {
                break;
            }
        }
        Ok(total)
    }

    /// Read an entry from `row`, starting at column `at` (the [`COLS`] order).
    fn entry_from_row(&self, row: &Row, at: usize) -> Result<Entry, Error> {
        let c = |e: tokio_postgres::Error| self.corrupt(&e);
        let id: i64 = row.try_get(at).map_err(c)?;
        let key: &str = row.try_get(at + 3).map_err(c)?;
        let key = IdempotencyKey::from_stored(key).map_err(|e| self.corrupt(&e))?;
        let names: Vec<String> = row.try_get(at + 5).map_err(c)?;
        let values: Vec<String> = row.try_get(at + 6).map_err(c)?;
        let body: Vec<u8> = row.try_get(at + 7).map_err(c)?;
        let state: &str = row.try_get(at + 9).map_err(c)?;
        let state = EntryState::parse(state).ok_or_else(|| self.corrupt(&"unknown state"))?;
        let attempts: i32 = row.try_get(at + 10).map_err(c)?;
        Ok(Entry {
            id: entry_id(id),
            namespace: row.try_get(at + 1).map_err(c)?,
            vendor: row.try_get(at + 2).map_err(c)?,
            key,
            signed_delivery_id: row.try_get(at + 4).map_err(c)?,
            headers: names.into_iter().zip(values).collect(),
            body: Bytes::from(body),
            received_at: row.try_get(at + 8).map_err(c)?,
            state,
            attempts: u32::try_from(attempts).unwrap_or(0),
            last_error: row.try_get(at + 11).map_err(c)?,
            next_attempt_at: row.try_get(at + 12).map_err(c)?,
        })
    }

    /// One copy of `err` for each of the `n` callers of a failed statement.
    fn copies<T>(&self, err: &Error, n: usize) -> Vec<Result<T, Error>> {
        let retry_after = self.pool.retry_after();
        (0..n)
            .map(|_| Err(copy_unavailable(err, "postgres inbox", retry_after)))
            .collect()
    }

    fn corrupt(&self, detail: &dyn fmt::Display) -> Error {
        Error::StoreUnavailable {
            reason: format!("postgres inbox: unreadable row: {detail}"),
            retry_after: self.pool.retry_after(),
        }
    }
}

impl RunBatch<NewEntry, PutOutcome> for PostgresInbox {
    fn run(
        &self,
        items: Vec<NewEntry>,
    ) -> impl std::future::Future<Output = Vec<Result<PutOutcome, Error>>> + Send {
        self.put_group(items)
    }
    fn retry_after(&self) -> Duration {
        self.pool.retry_after()
    }
    fn op_timeout(&self) -> Duration {
        self.pool.op_timeout()
    }
}

impl RunBatch<(i64, [u8; 16]), bool> for PostgresInbox {
    fn run(
        &self,
        items: Vec<(i64, [u8; 16])>,
    ) -> impl std::future::Future<Output = Vec<Result<bool, Error>>> + Send {
        self.ack_group(items)
    }
    fn retry_after(&self) -> Duration {
        self.pool.retry_after()
    }
    fn op_timeout(&self) -> Duration {
        self.pool.op_timeout()
    }
}

fn entry_id(id: i64) -> EntryId {
    EntryId::new(id.to_string())
}

/// A row id from an [`EntryId`]; `None` for ids this inbox never hands out.
fn parse_id(id: &EntryId) -> Option<i64> {
    let s = id.as_str();
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Inbox for PostgresInbox {
    fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
        if !self.group_commit {
            return Box::pin(self.put_entry(entry));
        }
        Box::pin(self.puts.submit(self, entry))
    }

    fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
        Box::pin(self.lease_batch(max, lease))
    }

    fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        if !self.group_commit {
            return Box::pin(self.settle("ack", &self.sql.ack, id, token, None));
        }
        Box::pin(async move {
            let Some(n) = parse_id(id) else {
                return Ok(false);
            };
            self.acks.submit(self, (n, token_bytes(token))).await
        })
    }

    fn ack_many<'a>(&'a self, leases: &'a [(EntryId, LeaseToken)]) -> InboxFuture<'a, Vec<bool>> {
        // Already a batch: one `UPDATE … FROM unnest(ids, tokens)` per MAX_GROUP leases,
        // whether or not group commit is on (it is one statement either way).
        Box::pin(async move {
            let mut out = vec![false; leases.len()];
            let parsed: Vec<(usize, (i64, [u8; 16]))> = leases
                .iter()
                .enumerate()
                .filter_map(|(i, (id, token))| Some((i, (parse_id(id)?, token_bytes(*token)))))
                .collect();
            for chunk in parsed.chunks(MAX_GROUP) {
                let items = chunk.iter().map(|(_, item)| *item).collect();
                for ((i, _), answer) in chunk.iter().zip(self.ack_group(items).await) {
                    out[*i] = answer?;
                }
            }
            Ok(out)
        })
    }

    fn fail<'a>(
        &'a self,
        id: &'a EntryId,
        token: LeaseToken,
        error: &'a str,
        then: AfterFailure,
    ) -> InboxFuture<'a, bool> {
        Box::pin(self.settle("fail", &self.sql.fail, id, token, Some((error, then))))
    }

    fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(self.settle("release", &self.sql.release, id, token, None))
    }

    fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
        Box::pin(self.get_entry(id))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
        Box::pin(self.list_entries(filter))
    }

    fn stats(&self) -> InboxFuture<'_, InboxStats> {
        Box::pin(self.stats_now())
    }

    fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
        Box::pin(self.replay_selected(selector))
    }

    fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
        Box::pin(self.purge_finished(older_than))
    }
}

/// `older_than` in whole microseconds, cut down: `due_at` and `now()` are whole microseconds,
/// so `due_at < now() - floor(older_than)` holds exactly when the entry finished more than
/// `older_than` before `now()` (rounding up, as [`millis`] does for deadlines, would keep an
/// entry up to a millisecond past its time).
fn purge_micros(older_than: Duration) -> i64 {
    // 100 years, as for `millis`: `now() - interval` stays inside timestamptz.
    const CAP: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    i64::try_from(older_than.min(CAP).as_micros()).unwrap_or(i64::MAX)
}

/// `t` rounded up to a whole microsecond, the precision `timestamptz` keeps: `received_at >=
/// ceil_us(t)` and `received_at < ceil_us(t)` then say what comparing `t` itself says
/// (postgres-types would cut a bound's nanoseconds off, taking in an entry just before
/// `received_after` and leaving out one just before `received_before`).
fn ceil_us(t: SystemTime) -> SystemTime {
    let sub = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (1000 - d.subsec_nanos() % 1000) % 1000,
        // Before the epoch, up is toward it.
        Err(e) => {
            return t
                .checked_add(Duration::from_nanos(u64::from(
                    e.duration().subsec_nanos() % 1000,
                )))
                .unwrap_or(t)
        }
    };
    t.checked_add(Duration::from_nanos(u64::from(sub)))
        .unwrap_or(t)
}

/// How far past the stored range a query bound may sit: every kept time is inside
/// `[0001, 9999]`, so a bound just outside it selects as one anywhere further out would
/// (`received_after` past year 9999 takes in nothing, `received_before` past it everything),
/// where one cut onto the limit itself would wrongly take in or leave out a time kept there.
const BOUND_MARGIN: Duration = Duration::from_micros(1);

/// `at`, kept within `margin` of years 0001..=9999: the one clamp every `SystemTime` bound to
/// a query goes through (stored values with no margin, range bounds with
/// [`BOUND_MARGIN`]). postgres-types turns a `SystemTime` into microseconds with an unchecked
/// multiply, which panics in debug builds for times more than ~584 000 years from 2000 (and
/// the database refuses anything past 294 276 AD or before 4713 BC). Only a direct API caller
/// can pass such a time.
fn in_range(at: SystemTime, margin: Duration) -> SystemTime {
    const FIRST: Duration = Duration::from_secs(62_135_596_800); // 0001-01-01T00:00:00Z, before the epoch
    const LAST: Duration = Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59Z
                                                                 // A platform whose clock starts after year 1 (Windows: 1601) has nothing below to clamp.
    let at = match SystemTime::UNIX_EPOCH.checked_sub(FIRST + margin) {
        Some(first) => at.max(first),
        None => at,
    };
    at.min(SystemTime::UNIX_EPOCH + LAST + margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_row_ids_parse() {
        assert_eq!(parse_id(&EntryId::new("42")), Some(42));
        for bad in ["", "-1", "1e3", "abc", "99999999999999999999", " 1"] {
            assert_eq!(parse_id(&EntryId::new(bad)), None, "{bad:?}");
        }
    }
}
