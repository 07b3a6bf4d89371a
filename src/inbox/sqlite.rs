//! [`SqliteInbox`]: the embedded, durable inbox for one machine (feature `sqlite`).
//!
//! One SQLite file (SQLite is compiled in: nothing to install) in WAL mode. Several processes
//! may share the file: every change runs in a `BEGIN IMMEDIATE` transaction, so leases are
//! exclusive across processes as well as across tasks.
//!
//! ## Durability
//!
//! [`Inbox::put`] answers only after its transaction committed, so the receiver never
//! acknowledges a delivery that is not in the file.
//!
//! - **Default, `synchronous=NORMAL` in WAL mode: durable across a crash or `kill -9` of the
//!   process.** A commit is in the operating system's page cache when `put` returns; the OS
//!   writes it out even if the process dies. A power loss or kernel crash can lose the last
//!   commits (the file stays consistent).
//! - **[`Synchronous::Full`]: durable across power loss.** Every commit waits for `fsync`. One
//!   call away: `SqliteInbox::options().synchronous(Synchronous::Full).open(path)`. Group
//!   commit (below) keeps this affordable under concurrency.
//!
//! ## Group commit
//!
//! A dedicated writer thread owns the writing connection. Every change is a request on a
//! bounded channel; the thread takes all requests waiting, and those that arrive while it runs
//! them (up to [`SqliteOptions::max_batch`] in all), in **one** transaction, then answers each.
//! Concurrent puts (and a worker's acks) therefore share one commit (one WAL append, one
//! `fsync` under `FULL`) instead of paying one each. Each request is atomic on its own (a
//! single statement, or a savepoint around a request of several writes), so one failing
//! request does not undo the others; if SQLite rolls the whole transaction back (disk full,
//! I/O error), every request of the batch gets the error and none is reported as stored.
//! Reads (`get`, `list`, `stats`) run on a second, read-only connection: in WAL mode they see
//! the last commit without waiting for the writer (of this process or another) or making it
//! wait.
//!
//! [`SqliteOptions::group_commit`]`(false)` runs one request
//! per transaction (for comparison; see BENCHMARKS.md).
//!
//! ## Errors
//!
//! - At open ([`Error::Config`], with the path): a file that is not an SQLite database
//!   (corrupt, or another kind of file), an SQLite database of another application, or an
//!   inbox written by a newer chathooks (schema version above [`SCHEMA_VERSION`]), a file it
//!   cannot write (read-only: "attempt to write a readonly database"); with
//!   [`SqliteOptions::create`]`(false)` also a missing file, an empty one or an older schema.
//!   Never a panic, and the file is not modified.
//! - Afterwards ([`Error::StoreUnavailable`], 503 with `Retry-After`): disk full (or over
//!   [`SqliteOptions::max_size`]), a read-only file, a lock held by another process for longer
//!   than the busy timeout, I/O errors. Nothing is answered stored that was not committed, and
//!   once the file is writable again the same inbox takes puts (no reopen). One exception is
//!   the operating system's, not an error: SQLite maps the `-shm` file into memory, so making
//!   that file unwritable under a running process (`chattr +i`, say) ends the process with
//!   `SIGBUS`. Keep the database, `-wal` and `-shm` files together and writable.
//!
//! ## Schema
//!
//! One table `inbox` (one row per delivery, the body as a BLOB, headers as JSON text) with a
//! unique index on the dedupe key, a partial index on `(due_ms, id)` over leasable rows (what
//! `lease` reads), and indexes for listing by state and purging. `PRAGMA application_id` marks
//! the file as a chathooks inbox and `PRAGMA user_version` holds the schema version; opening a
//! file of an older version migrates it in one transaction.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    truncate_error, AfterFailure, Entry, EntryId, EntryState, Inbox, InboxFuture, InboxStats,
    Lease, LeaseToken, ListFilter, NewEntry, PutOutcome, ReplaySelector,
};
use crate::idempotency::IdempotencyKey;
use crate::Error;

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA application_id` of a chathooks inbox file ("chk1").
const APPLICATION_ID: i64 = 0x6368_6B31;

/// Default bound on requests in one transaction.
pub const DEFAULT_MAX_BATCH: usize = 512;

/// Requests waiting for the writer thread; callers wait for room beyond this.
const QUEUE: usize = 4096;

/// Longest batch one `lease` call hands out, and most rows one `list` returns.
const MAX_ROWS: usize = 10_000;

const RETRY_AFTER: Duration = Duration::from_secs(1);

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// Durable across a crash or `kill -9` of the process; a power loss can lose the last
    /// commits. The default.
    #[default]
    Normal,
    /// Durable across power loss: every commit waits for `fsync`.
    Full,
}

/// How to open a [`SqliteInbox`]: [`SqliteInbox::options`], then [`open`](Self::open).
#[derive(Clone)]
pub struct SqliteOptions {
    synchronous: Synchronous,
    group_commit: bool,
    max_batch: usize,
    busy_timeout: Duration,
    max_size: Option<u64>,
    create: bool,
    clock: Clock,
}

impl fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("synchronous", &self.synchronous)
            .field("group_commit", &self.group_commit)
            .field("max_batch", &self.max_batch)
            .field("busy_timeout", &self.busy_timeout)
            .field("max_size", &self.max_size)
            .field("create", &self.create)
            .finish_non_exhaustive()
    }
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            group_commit: true,
            max_batch: DEFAULT_MAX_BATCH,
            busy_timeout: Duration::from_secs(5),
            max_size: None,
            create: true,
            clock: Arc::new(SystemTime::now),
        }
    }
}

impl SqliteOptions {
    /// `PRAGMA synchronous`: [`Synchronous::Normal`] (default, survives `kill -9`) or
    /// [`Synchronous::Full`] (survives power loss).
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Share one transaction among concurrent requests (default `true`). `false` commits
    /// each request on its own: only useful to measure what group commit buys.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = on;
        self
    }

    /// Most requests in one transaction (default [`DEFAULT_MAX_BATCH`], at least 1).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// How long to wait for another process's lock before answering
    /// [`Error::StoreUnavailable`] (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Refuse puts once the file holds about `bytes`: they answer [`Error::StoreUnavailable`]
    /// exactly like a full disk (a retry of a stored delivery is still answered `Duplicate`).
    /// The file may grow an eighth more (at least 1 MiB; SQLite's `max_page_count`) for
    /// leases, acks, failures, releases and replays, so workers can always drain a full inbox
    /// and `purge` make room again. Default: no bound but the disk.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Whether opening may create the inbox (default `true`): a new file, or the schema in an
    /// empty or older one. With `false` only a file that already is a chathooks inbox of this
    /// schema version opens, and opening writes nothing to it: for tools that look into an
    /// inbox (`chathooks inbox stats`), where a mistyped path must not become a new inbox.
    ///
    /// ```
    /// use chathooks::inbox::SqliteInbox;
    /// let dir = std::env::temp_dir().join(format!("chathooks-doc-create-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("inbox.sqlite");
    /// assert!(SqliteInbox::options().create(false).open(&path).is_err());
    /// drop(SqliteInbox::open(&path)?);
    /// assert!(SqliteInbox::options().create(false).open(&path).is_ok());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Read the time from `clock` instead of the system clock (tests that move time; every
    /// process sharing a file must agree on the time).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Open (or create) the inbox file at `path`. See the [module docs](self) for the errors.
    pub fn open(self, path: impl AsRef<Path>) -> Result<SqliteInbox, Error> {
        let path = path.as_ref().to_path_buf();
        let conn = open_connection(&path, &self)?;
        let put_pages = match self.max_size {
            Some(bytes) => {
                let page: i64 = conn
                    .query_row("PRAGMA page_size", [], |r| r.get(0))
                    .map_err(|e| open_error(&path, e))?;
                Some(page_limits(bytes, page).0)
            }
            None => None,
        };
        // Opened after the writer's connection set WAL mode up and migrated the schema.
        let reader = Arc::new(Reader {
            conn: std::sync::Mutex::new(open_reader(&path, &self)?),
            clock: self.clock.clone(),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            conn,
            clock: self.clock.clone(),
            max_batch: if self.group_commit { self.max_batch } else { 1 },
            put_pages,
        };
        std::thread::Builder::new()
            .name("chathooks-sqlite-inbox".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| {
                Error::Config(format!("cannot start the SQLite inbox thread: {e}").into())
            })?;
        Ok(SqliteInbox {
            tx,
            reader,
            path,
            synchronous: self.synchronous,
        })
    }
}

/// Rows one purge or replay-by-state request changes. One statement over a million done rows
/// held the writer for 8 s (every put of every process waiting, the WAL at 320 MB); chunks
/// let puts interleave and keep each commit small.
const CHUNK_ROWS: i64 = 5_000;

/// Most chunks one purge or replay runs (50 million rows); what is left waits for the next call.
const MAX_CHUNKS: usize = 10_000;

/// The durable [`Inbox`] for one machine, in one SQLite file. See the [module docs](self).
///
/// ```no_run
/// use chathooks::inbox::{SqliteInbox, Synchronous};
/// // Durable across kill -9 (WAL, synchronous=NORMAL):
/// let inbox = SqliteInbox::open("/var/lib/myapp/inbox.sqlite")?;
/// // Durable across power loss too:
/// let inbox = SqliteInbox::options()
///     .synchronous(Synchronous::Full)
///     .open("/var/lib/myapp/inbox.sqlite")?;
/// # Ok::<(), chathooks::Error>(())
/// ```
pub struct SqliteInbox {
    tx: mpsc::Sender<Request>,
    /// `get`, `list` and `stats` run here: in WAL mode a reader sees the last commit and
    /// neither waits for the writer nor makes it wait (a `stats` over a million rows held every
    /// put for ~140 ms when it ran in the writer's transaction).
    reader: Arc<Reader>,
    path: PathBuf,
    synchronous: Synchronous,
}

/// The reader connection and the clock (for the oldest pending entry's age).
struct Reader {
    conn: std::sync::Mutex<Connection>,
    clock: Clock,
}

impl fmt::Debug for SqliteInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteInbox")
            .field("path", &self.path)
            .field("synchronous", &self.synchronous)
            .finish()
    }
}

impl SqliteInbox {
    /// Open (or create) the inbox at `path` with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        SqliteOptions::default().open(path)
    }

    /// Options to open an inbox with.
    pub fn options() -> SqliteOptions {
        SqliteOptions::default()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn call<T>(&self, op: Op, unpack: fn(Reply) -> Option<T>) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { op, reply })
            .await
            .map_err(|_| unavailable("the SQLite inbox writer thread stopped".into()))?;
        let out = answer
            .await
            .map_err(|_| unavailable("the SQLite inbox writer thread stopped".into()))??;
        unpack(out).ok_or_else(|| unavailable("SQLite inbox: mismatched reply".into()))
    }

    /// Run `read` on the reader connection, on tokio's blocking pool (inline outside a
    /// runtime).
    async fn read<T>(&self, read: Read, unpack: fn(Reply) -> Option<T>) -> Result<T, Error> {
        let reader = Arc::clone(&self.reader);
        let run = move || {
            let now = to_ns((reader.clock)());
            let conn = reader
                .conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            read_sql(&conn, &read, now).map_err(store_error)
        };
        let out = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(run)
                .await
                .map_err(|_| unavailable("the SQLite inbox reader stopped".into()))??,
            Err(_) => run()?,
        };
        unpack(out).ok_or_else(|| unavailable("SQLite inbox: mismatched reply".into()))
    }

    /// Send `op()` until a chunk changes fewer than [`CHUNK_ROWS`] rows (at most
    /// [`MAX_CHUNKS`] times); the total changed.
    async fn in_chunks(&self, op: impl Fn() -> Op) -> Result<u64, Error> {
        let mut total = 0;
        for _ in 0..MAX_CHUNKS {
            let n = self.call(op(), unpack_count).await?;
            total += n;
            if n < CHUNK_ROWS as u64 {
                break;
            }
        }
        Ok(total)
    }
}

fn unavailable(reason: String) -> Error {
    Error::StoreUnavailable {
        reason,
        retry_after: RETRY_AFTER,
    }
}

fn store_error(e: rusqlite::Error) -> Error {
    unavailable(format!("SQLite inbox: {e}"))
}

fn open_error(path: &Path, what: impl fmt::Display) -> Error {
    Error::Config(format!("SQLite inbox {}: {what}", path.display()).into())
}

/// Pages of `page` bytes for [`SqliteOptions::max_size`]: `(puts stop here, the file stops
/// here)`. The gap is what the writes that drain an inbox need when puts filled it.
fn page_limits(bytes: u64, page: i64) -> (i64, i64) {
    let page = u64::try_from(page).unwrap_or(4096).max(512);
    let puts = (bytes / page).max(1);
    let reserve = (puts / 8).max((1 << 20) / page);
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (clamp(puts), clamp(puts.saturating_add(reserve)))
}

fn open_connection(path: &Path, opts: &SqliteOptions) -> Result<Connection, Error> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if opts.create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| open_error(path, format_args!("cannot open: {e}")))?;
    conn.busy_timeout(opts.busy_timeout)
        .map_err(|e| open_error(path, e))?;
    // Every statement the writer runs stays prepared (rusqlite keeps 16 by default; the
    // writer uses about 20).
    conn.set_prepared_statement_cache_capacity(64);
    let not_db = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => open_error(
            path,
            "is not an SQLite database (corrupt, or another kind of file)",
        ),
        _ => open_error(path, e),
    };
    let pragma = |name: &str| -> Result<i64, Error> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(not_db)
    };
    // One statement, so one read snapshot: read one by one, a file another opener is creating
    // can show its tables before its application id and look foreign.
    let (app, version, tables): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), \
                    (SELECT user_version FROM pragma_user_version), \
                    (SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(not_db)?;
    check_identity(path, app, version, tables)?;
    if !opts.create && version < SCHEMA_VERSION {
        return Err(open_error(
            path,
            if version == 0 {
                "is not a chathooks inbox (it holds no inbox schema); nothing was written to it"
                    .to_owned()
            } else {
                format!(
                    "holds an older inbox schema (version {version}; this chathooks writes \
                     {SCHEMA_VERSION}): open it once from a receiver or worker to migrate it"
                )
            },
        ));
    }
    // WAL first: it is a property of the file, and migrations should run under it.
    let mode: String = until_not_busy(opts.busy_timeout, || {
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
    })
    .map_err(not_db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_error(
            path,
            format_args!("cannot use WAL mode (journal_mode is {mode})"),
        ));
    }
    let sync = match opts.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA foreign_keys=OFF;"
    ))
    .map_err(not_db)?;
    if let Some(bytes) = opts.max_size {
        let page: i64 = pragma("page_size")?;
        let (_, hard) = page_limits(bytes, page);
        conn.query_row(&format!("PRAGMA max_page_count={hard}"), [], |_| Ok(()))
            .map_err(not_db)?;
    }
    if opts.create {
        migrate(&conn).map_err(|e| match e {
            Checked::Err(e) => e,
            Checked::Sql(e) => not_db(e),
        })?;
    }
    Ok(conn)
}

/// Run `step` again while SQLite answers busy, for up to `timeout`. Openers of a fresh file
/// each switch it to WAL, which takes the exclusive lock from a shared one; SQLite answers
/// the second of two such connections busy at once rather than wait on its busy handler
/// (that wait could deadlock), so the wait is here, bounded like the busy handler's.
fn until_not_busy<T>(
    timeout: Duration,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match step() {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// The reader connection: read-only, on a file [`open_connection`] already checked.
fn open_reader(path: &Path, opts: &SqliteOptions) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| open_error(path, format_args!("cannot open for reading: {e}")))?;
    conn.busy_timeout(opts.busy_timeout)
        .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

enum Checked {
    Err(Error),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Checked {
    fn from(e: rusqlite::Error) -> Self {
        Checked::Sql(e)
    }
}

fn check_identity(path: &Path, app: i64, version: i64, tables: i64) -> Result<(), Error> {
    if app != 0 && app != APPLICATION_ID {
        return Err(open_error(
            path,
            format_args!("is the SQLite database of another application (application_id {app:#x})"),
        ));
    }
    if app == 0 && (tables > 0 || version != 0) {
        return Err(open_error(
            path,
            "is an SQLite database that is not a chathooks inbox (it holds other tables)",
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(newer(path, version));
    }
    Ok(())
}

fn newer(path: &Path, version: i64) -> Error {
    open_error(
        path,
        format_args!(
            "was written by a newer chathooks (inbox schema version {version}; this version \
             reads up to {SCHEMA_VERSION}): upgrade chathooks, or use another file"
        ),
    )
}

/// Schema steps: `MIGRATIONS[n]` takes a file from version `n` to `n + 1`.
const MIGRATIONS: [&str; 3] = [
    "
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        namespace TEXT NOT NULL,
        vendor TEXT NOT NULL,
        signed_delivery_id TEXT,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        received_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        due_ms INTEGER NOT NULL,
        token TEXT
    );
    CREATE INDEX inbox_leasable ON inbox (due_ms, id)
        WHERE state IN ('pending', 'retrying', 'leased');
    CREATE INDEX inbox_state_received ON inbox (state, received_ms, id);
    CREATE INDEX inbox_finished ON inbox (due_ms) WHERE state IN ('done', 'dead');
",
    "
    -- Version 2: the leasable index's condition without a three-value IN. SQLite evaluates a
    -- partial index's condition on every insert and update of a row, and an IN over more than
    -- two constants builds (and frees) an ephemeral table each time a statement runs: that was
    -- half the writer's time per put, lease and ack. `lease` spells the condition the same way,
    -- or the index could not serve it.
    DROP INDEX inbox_leasable;
    CREATE INDEX inbox_leasable ON inbox (due_ms, id)
        WHERE state = 'pending' OR state = 'retrying' OR state = 'leased';
",
    "
    -- Version 3: receive times in nanoseconds, as the memory and Redis inboxes keep them. In
    -- whole milliseconds an entry received after a replay's lower bound but in the same
    -- millisecond fell before it ('note the time, put, replay what came since' found
    -- nothing). The rename rewrites the index on the column; a time too far out to scale is
    -- pinned to the end of the range rather than turned into a REAL.
    ALTER TABLE inbox RENAME COLUMN received_ms TO received_ns;
    UPDATE inbox SET received_ns = CASE
        WHEN received_ns > 9223372036854 THEN 9223372036854775807
        WHEN received_ns < -9223372036854 THEN -9223372036854775808
        ELSE received_ns * 1000000 END;
",
];

fn migrate(conn: &Connection) -> Result<(), Checked> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<(), Checked> {
        // Read again under the write lock: another process may have migrated meanwhile.
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            let path = conn.path().map(PathBuf::from).unwrap_or_default();
            return Err(Checked::Err(newer(&path, version)));
        }
        for step in MIGRATIONS.iter().skip(version.max(0) as usize) {
            conn.execute_batch(step)?;
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION};"
        ))?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(Checked::Sql),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The writer thread

enum Op {
    Put(Box<NewEntry>),
    Lease(usize, Duration),
    Ack(i64, LeaseToken),
    /// Many acks in one request (`None`: an id this inbox never hands out).
    AckMany(Vec<Option<(i64, LeaseToken)>>),
    Fail(i64, LeaseToken, String, AfterFailure),
    Release(i64, LeaseToken),
    Replay(ReplaySelector),
    Purge(Duration),
}

enum Reply {
    Put(PutOutcome),
    Leases(Vec<Lease>),
    Bool(bool),
    Bools(Vec<bool>),
    Entry(Option<Result<Entry, &'static str>>),
    Entries(Vec<Entry>),
    Stats(InboxStats),
    Count(u64),
}

impl Op {
    /// Whether the request runs more than one writing statement.
    fn writes_several(&self) -> bool {
        matches!(
            self,
            Op::Lease(..) | Op::AckMany(_) | Op::Replay(ReplaySelector::Ids(_))
        )
    }
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply, Error>>,
}

struct Writer {
    conn: Connection,
    clock: Clock,
    max_batch: usize,
    /// Pages in use past which puts are refused ([`SqliteOptions::max_size`]).
    put_pages: Option<i64>,
}

const ACK_SQL: &str = "UPDATE inbox SET state = 'done', token = NULL, due_ms = ?1 \
                       WHERE id = ?2 AND state = 'leased' AND token = ?3";

/// The ids and states of a [`ListFilter`]'s window, in `list`'s order (`?1` state or NULL,
/// `?2` namespace or NULL, `?3` limit): what `chathooks inbox ls` reads to show the rows `list`
/// skips because they do not decode. Kept here, beside the schema it names.
#[cfg(feature = "cli")]
pub(crate) const LIST_WINDOW_IDS_SQL: &str = "SELECT id, state FROM inbox \
     WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR namespace = ?2) \
     ORDER BY received_ns, id LIMIT ?3";

const COLUMNS: &str = "id, namespace, vendor, key, signed_delivery_id, headers, body, \
                       received_ns, state, attempts, last_error, due_ms";

impl Writer {
    fn run(self, mut rx: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            self.run_batch(&mut batch, &mut rx);
        }
    }

    fn run_batch(&self, batch: &mut Vec<Request>, rx: &mut mpsc::Receiver<Request>) {
        let mut results: Vec<Result<Reply, Error>> = Vec::with_capacity(batch.len());
        let outcome = self.in_transaction(batch, rx, &mut results);
        let mut results = results.into_iter();
        for req in batch.drain(..) {
            let answer = match (&outcome, results.next()) {
                (Ok(()), Some(r)) => r,
                (Err(e), _) => Err(unavailable(e.clone())),
                (Ok(()), None) => Err(unavailable("SQLite inbox: request not run".into())),
            };
            // The caller may have given up (a cancelled request); its answer is dropped.
            let _ = req.reply.send(answer);
        }
    }

    /// Run every request in one transaction. `Err`: the transaction did not commit, and no
    /// request of the batch may report success.
    ///
    /// Requests that arrive while the transaction runs join it (up to `max_batch`): the commit
    /// happens once the queue is empty. A worker's acks come in one by one as its handlers
    /// finish; without this each commit carried the few acks queued at its start, and the
    /// commits' WAL writes (every touched page, again for each commit) were the largest cost.
    fn in_transaction(
        &self,
        batch: &mut Vec<Request>,
        rx: &mut mpsc::Receiver<Request>,
        results: &mut Vec<Result<Reply, Error>>,
    ) -> Result<(), String> {
        let conn = &self.conn;
        let sql_err = |e: rusqlite::Error| format!("SQLite inbox: {e}");
        conn.prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(sql_err)?;
        let mut next = 0;
        loop {
            if next == batch.len() {
                if batch.len() >= self.max_batch {
                    break;
                }
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let req = &batch[next];
            next += 1;
            // One statement is atomic on its own (SQLite rolls back just the failing
            // statement); only requests of several writes need a savepoint so that a failure
            // undoes them without undoing the others.
            let savepoint = req.op.writes_several();
            if savepoint && self.exec_cached("SAVEPOINT op").is_err() {
                break;
            }
            let result = self.run_op(&req.op);
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (disk full, I/O error): the
                // requests run so far are undone too.
                let why = match result {
                    Err(e) => e.to_string(),
                    Ok(_) => "transaction rolled back".into(),
                };
                return Err(why);
            }
            match result {
                Ok(reply) => {
                    if savepoint {
                        let _ = self.exec_cached("RELEASE op");
                    }
                    results.push(Ok(reply));
                }
                Err(e) => {
                    if savepoint {
                        let _ = self.exec_cached("ROLLBACK TO op");
                        let _ = self.exec_cached("RELEASE op");
                    }
                    results.push(Err(e));
                }
            }
            if conn.is_autocommit() {
                return Err("SQLite inbox: transaction rolled back".into());
            }
        }
        if let Err(e) = self.exec_cached("COMMIT") {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(format!("SQLite inbox: {e}"));
        }
        Ok(())
    }

    fn now_ms(&self) -> i64 {
        to_ms((self.clock)())
    }

    /// The entry holding dedupe key `key`, if any.
    fn id_of(&self, key: &IdempotencyKey) -> rusqlite::Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT id FROM inbox WHERE key = ?1")?
            .query_row([key.as_str()], |r| r.get(0))
            .optional()
    }

    /// Whether the pages in use (not counting free ones) reached the put limit.
    fn full(&self) -> rusqlite::Result<bool> {
        let Some(limit) = self.put_pages else {
            return Ok(false);
        };
        let used: i64 = self
            .conn
            .prepare_cached(
                "SELECT p.page_count - f.freelist_count                  FROM pragma_page_count() AS p, pragma_freelist_count() AS f",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(used >= limit)
    }

    /// Run a parameterless statement through the statement cache (no parse per call).
    fn exec_cached(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    fn run_op(&self, op: &Op) -> Result<Reply, Error> {
        self.run_sql(op).map_err(store_error)
    }

    fn run_sql(&self, op: &Op) -> Result<Reply, rusqlite::Error> {
        let conn = &self.conn;
        let now = self.now_ms();
        Ok(match op {
            Op::Put(e) => {
                if self.full()? {
                    // Full: a retry of a stored delivery is still a duplicate; a new one waits.
                    return match self.id_of(&e.key)? {
                        Some(id) => Ok(Reply::Put(PutOutcome::Duplicate(entry_id(id)))),
                        None => Err(rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                            Some("inbox full: over SqliteOptions::max_size".into()),
                        )),
                    };
                }
                let headers = serde_json::to_string(&e.headers).unwrap_or_else(|_| "[]".to_owned());
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO inbox (key, namespace, vendor, signed_delivery_id, \
                         headers, body, received_ns, state, attempts, due_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8) \
                         ON CONFLICT (key) DO NOTHING",
                    )?
                    .execute(params![
                        e.key.as_str(),
                        e.namespace,
                        e.vendor,
                        e.signed_delivery_id,
                        headers,
                        &e.body[..],
                        to_ns(e.received_at),
                        now
                    ])?;
                if inserted == 1 {
                    Reply::Put(PutOutcome::Accepted(entry_id(conn.last_insert_rowid())))
                } else {
                    let id = self
                        .id_of(&e.key)?
                        .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                    Reply::Put(PutOutcome::Duplicate(entry_id(id)))
                }
            }
            Op::Lease(max, lease) => {
                let until =
                    now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
                // Read the rows, then update each without `RETURNING`: SQLite buffers a
                // `RETURNING` statement's rows in an ephemeral table whose page cache is built
                // and freed on every run, and with bodies in those rows the allocator gave the
                // pages back to the OS each time (page faults and `madvise` were half of the
                // writer's time in the worker bench).
                let rows: Vec<(i64, Result<Entry, &'static str>)> = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM inbox INDEXED BY inbox_leasable \
                         WHERE (state = 'pending' OR state = 'retrying' OR state = 'leased') \
                         AND due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2"
                    ))?
                    .query_map(params![now, (*max).min(MAX_ROWS) as i64], |r| {
                        Ok((r.get(0)?, read_entry(r)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut stmt = conn.prepare_cached(
                    "UPDATE inbox SET state = 'leased', token = ?1, due_ms = ?2, \
                     attempts = attempts + 1 WHERE id = ?3",
                )?;
                let mut leases = Vec::with_capacity(rows.len());
                for (id, row) in rows {
                    match row {
                        Ok(mut entry) => {
                            let token = LeaseToken::generate();
                            stmt.execute(params![token.to_hex(), until, id])?;
                            // What the row now holds.
                            entry.state = EntryState::Leased;
                            entry.attempts = entry.attempts.saturating_add(1);
                            entry.next_attempt_at = from_ms(until);
                            leases.push(Lease::new(entry, token, from_ms(until)));
                        }
                        // A row edited into something unreadable would be leased forever:
                        // dead-letter it with the reason instead.
                        Err(reason) => {
                            conn.prepare_cached(
                                "UPDATE inbox SET state = 'dead', token = NULL, due_ms = ?1, \
                                 last_error = 'row unreadable by this chathooks: ' || ?3 \
                                 WHERE id = ?2",
                            )?
                            .execute(params![now, id, reason])?;
                        }
                    }
                }
                Reply::Leases(leases)
            }
            Op::Ack(id, token) => Reply::Bool(
                conn.prepare_cached(ACK_SQL)?
                    .execute(params![now, id, token.to_hex()])?
                    == 1,
            ),
            Op::AckMany(leases) => {
                // One request (inside the writer's transaction) for the whole batch: the
                // statement is prepared once, and the writer wakes once, not per ack.
                let mut stmt = conn.prepare_cached(ACK_SQL)?;
                let mut out = Vec::with_capacity(leases.len());
                for lease in leases {
                    out.push(match lease {
                        Some((id, token)) => stmt.execute(params![now, id, token.to_hex()])? == 1,
                        None => false,
                    });
                }
                Reply::Bools(out)
            }
            Op::Fail(id, token, error, then) => {
                let (state, due) = match then {
                    AfterFailure::RetryAt(at) => {
                        ("retrying", to_ms(super::capped_retry_at(*at, from_ms(now))))
                    }
                    _ => ("dead", now),
                };
                Reply::Bool(
                    conn.prepare_cached(
                        "UPDATE inbox SET state = ?1, due_ms = ?2, token = NULL, \
                         last_error = ?3 \
                         WHERE id = ?4 AND state = 'leased' AND token = ?5",
                    )?
                    .execute(params![
                        state,
                        due,
                        truncate_error(error),
                        id,
                        token.to_hex()
                    ])? == 1,
                )
            }
            Op::Release(id, token) => Reply::Bool(
                conn.prepare_cached(
                    "UPDATE inbox SET token = NULL, due_ms = ?1, \
                     state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'pending' END, \
                     attempts = MAX(attempts - 1, 0) \
                     WHERE id = ?2 AND state = 'leased' AND token = ?3",
                )?
                .execute(params![now, id, token.to_hex()])?
                    == 1,
            ),
            Op::Replay(selector) => {
                let n = match selector {
                    ReplaySelector::Ids(ids) => {
                        let mut stmt = conn.prepare_cached(
                            "UPDATE inbox SET state = 'pending', attempts = 0, due_ms = ?1, \
                             token = NULL WHERE id = ?2 AND state IN ('dead', 'done')",
                        )?;
                        let mut n = 0;
                        for id in ids.iter().filter_map(parse_id) {
                            n += stmt.execute(params![now, id])?;
                        }
                        n
                    }
                    ReplaySelector::State {
                        state,
                        received_after,
                        received_before,
                    } => {
                        if !matches!(state, EntryState::Dead | EntryState::Done) {
                            return Ok(Reply::Count(0));
                        }
                        // One chunk per request (`replay` sends as many as it takes), so
                        // puts go on between them and each commit stays small.
                        conn.prepare_cached(
                            "UPDATE inbox SET state = 'pending', attempts = 0, due_ms = ?1, \
                             token = NULL WHERE id IN (\
                               SELECT id FROM inbox INDEXED BY inbox_state_received \
                               WHERE state = ?2 AND received_ns >= ?3 AND received_ns < ?4 \
                               LIMIT ?5)",
                        )?
                        .execute(params![
                            now,
                            state.as_str(),
                            received_after.map_or(i64::MIN, to_ns),
                            received_before.map_or(i64::MAX, to_ns),
                            CHUNK_ROWS
                        ])?
                    }
                };
                Reply::Count(n as u64)
            }
            Op::Purge(older_than) => {
                let cutoff =
                    now.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
                // One chunk per request, as for replays.
                let n = conn
                    .prepare_cached(
                        "DELETE FROM inbox WHERE id IN (\
                           SELECT id FROM inbox INDEXED BY inbox_finished \
                           WHERE state IN ('done', 'dead') AND due_ms < ?1 LIMIT ?2)",
                    )?
                    .execute([cutoff, CHUNK_ROWS])?;
                Reply::Count(n as u64)
            }
        })
    }
}

/// The read-only requests: run on the inbox's reader connection, never through the writer.
enum Read {
    Get(i64),
    List(ListFilter),
    Stats,
}

/// Run `read` on `conn` (the reader's), `now` in ns for the oldest pending entry's age.
fn read_sql(conn: &Connection, read: &Read, now: i64) -> Result<Reply, rusqlite::Error> {
    Ok(match read {
        Read::Get(id) => Reply::Entry(
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM inbox WHERE id = ?1"))?
                .query_row([id], read_entry)
                .optional()?,
        ),
        Read::List(filter) => {
            // With a state, the (state, received_ns, id) index gives the order; `?1 IS
            // NULL OR` would hide it from the planner.
            let state_test = if filter.state.is_some() {
                "state = ?1"
            } else {
                "?1 IS NULL"
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM inbox \
                     WHERE {state_test} AND (?2 IS NULL OR namespace = ?2) \
                     ORDER BY received_ns, id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.state.map(EntryState::as_str),
                    filter.namespace,
                    filter.limit.min(super::MAX_LIST) as i64
                ],
                read_entry,
            )?;
            let mut out = Vec::new();
            for row in rows {
                // A row this build cannot read (edited by hand) is skipped, not fatal.
                if let Ok(entry) = row? {
                    out.push(entry);
                }
            }
            Reply::Entries(out)
        }
        Read::Stats => {
            let mut stats = InboxStats::default();
            let mut stmt =
                conn.prepare_cached("SELECT state, count(*) FROM inbox GROUP BY state")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                let n: i64 = row.get(1)?;
                let n = n.max(0) as u64;
                match EntryState::parse(&state) {
                    Some(EntryState::Pending) => stats.pending = n,
                    Some(EntryState::Leased) => stats.leased = n,
                    Some(EntryState::Retrying) => stats.retrying = n,
                    Some(EntryState::Dead) => stats.dead = n,
                    Some(EntryState::Done) => stats.done = n,
                    _ => {}
                }
            }
            let oldest: Option<i64> = conn
                .prepare_cached("SELECT min(received_ns) FROM inbox WHERE state = 'pending'")?
                .query_row([], |r| r.get(0))?;
            stats.oldest_pending_age =
                oldest.map(|at| Duration::from_nanos(now.saturating_sub(at).max(0) as u64));
            Reply::Stats(stats)
        }
    })
}

fn entry_id(id: i64) -> EntryId {
    EntryId::new(id.to_string())
}

fn parse_id(id: &EntryId) -> Option<i64> {
    id.as_str().parse::<i64>().ok().filter(|n| *n > 0)
}

fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// `t` in nanoseconds: how rows keep receive times, exactly, from 1678 to 2262 (times
/// outside are pinned to the ends of that range).
fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn from_ns(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

fn from_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// One row, or `Err(reason)` for a row whose text columns this build cannot read (edited by
/// hand, or written by a newer chathooks). The reason names the column, never its content.
fn read_entry(r: &Row<'_>) -> rusqlite::Result<Result<Entry, &'static str>> {
    let id: i64 = r.get(0)?;
    let key: String = r.get(3)?;
    let headers: String = r.get(5)?;
    let state: String = r.get(8)?;
    let attempts: i64 = r.get(9)?;
    let Ok(key) = IdempotencyKey::from_stored(&key) else {
        return Ok(Err("the dedupe key is not a stored key"));
    };
    let Ok(headers) = serde_json::from_str::<Vec<(String, String)>>(&headers) else {
        return Ok(Err("the headers are not a JSON list of name-value pairs"));
    };
    let Some(state) = EntryState::parse(&state) else {
        return Ok(Err("the state is not one this build knows"));
    };
    let body: Vec<u8> = r.get(6)?;
    Ok(Ok(Entry {
        id: entry_id(id),
        namespace: r.get(1)?,
        vendor: r.get(2)?,
        key,
        signed_delivery_id: r.get(4)?,
        headers,
        body: body.into(),
        received_at: from_ns(r.get(7)?),
        state,
        attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
        last_error: r.get(10)?,
        next_attempt_at: from_ms(r.get(11)?),
    }))
}

impl Inbox for SqliteInbox {
    fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
        Box::pin(self.call(Op::Put(Box::new(entry)), |r| match r {
            Reply::Put(p) => Some(p),
            _ => None,
        }))
    }

    fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
        Box::pin(async move {
            if max == 0 {
                return Ok(Vec::new());
            }
            self.call(Op::Lease(max, lease), |r| match r {
                Reply::Leases(l) => Some(l),
                _ => None,
            })
            .await
        })
    }

    fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(async move {
            let Some(id) = parse_id(id) else {
                return Ok(false);
            };
            self.call(Op::Ack(id, token), unpack_bool).await
        })
    }

    fn ack_many<'a>(&'a self, leases: &'a [(EntryId, LeaseToken)]) -> InboxFuture<'a, Vec<bool>> {
        Box::pin(async move {
            if leases.is_empty() {
                return Ok(Vec::new());
            }
            let mut out = Vec::with_capacity(leases.len());
            // At most MAX_ROWS acks per request, so one request never holds the writer long.
            for chunk in leases.chunks(MAX_ROWS) {
                let op = Op::AckMany(
                    chunk
                        .iter()
                        .map(|(id, token)| parse_id(id).map(|id| (id, *token)))
                        .collect(),
                );
                out.extend(
                    self.call(op, |r| match r {
                        Reply::Bools(b) => Some(b),
                        _ => None,
                    })
                    .await?,
                );
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
        Box::pin(async move {
            let Some(id) = parse_id(id) else {
                return Ok(false);
            };
            let error = truncate_error(error).to_owned();
            self.call(Op::Fail(id, token, error, then), unpack_bool)
                .await
        })
    }

    fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(async move {
            let Some(id) = parse_id(id) else {
                return Ok(false);
            };
            self.call(Op::Release(id, token), unpack_bool).await
        })
    }

    fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
        Box::pin(async move {
            let Some(id) = parse_id(id) else {
                return Ok(None);
            };
            let found = self
                .read(Read::Get(id), |r| match r {
                    Reply::Entry(e) => Some(e),
                    _ => None,
                })
                .await?;
            // An entry that is there but unreadable is an error, not an absence: `None` would
            // tell an operator (or a caller deciding whether to put again) it never existed.
            found.transpose().map_err(|reason| {
                unavailable(format!(
                    "SQLite inbox: entry `{id}` exists but cannot be decoded: {reason}"
                ))
            })
        })
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
        Box::pin(self.read(Read::List(filter.clone()), |r| match r {
            Reply::Entries(e) => Some(e),
            _ => None,
        }))
    }

    fn stats(&self) -> InboxFuture<'_, InboxStats> {
        Box::pin(self.read(Read::Stats, |r| match r {
            Reply::Stats(s) => Some(s),
            _ => None,
        }))
    }

    fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
        Box::pin(async move {
            if let ReplaySelector::Ids(_) = selector {
                return self.call(Op::Replay(selector.clone()), unpack_count).await;
            }
            self.in_chunks(|| Op::Replay(selector.clone())).await
        })
    }

    fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
        Box::pin(self.in_chunks(move || Op::Purge(older_than)))
    }
}

fn unpack_bool(r: Reply) -> Option<bool> {
    match r {
        Reply::Bool(b) => Some(b),
        _ => None,
    }
}

fn unpack_count(r: Reply) -> Option<u64> {
    match r {
        Reply::Count(n) => Some(n),
        _ => None,
    }
}
