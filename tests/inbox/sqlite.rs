//! The behaviour suite on `SqliteInbox` (real files), plus what only a file can do: survive a
//! reopen, be shared by two inboxes, refuse corrupt, foreign and newer files, and refuse puts
//! when full without losing acknowledged ones.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chathooks::idempotency::{ClaimToken, IdempotencyKey};
use chathooks::inbox::{
    AfterFailure, EntryState, Inbox, ListFilter, PutOutcome, SqliteInbox, SqliteOptions,
    Synchronous,
};
use chathooks::Error;

use super::suite::{accepted, entry, inbox_suite};

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "chathooks-{label}-{}",
            ClaimToken::generate().to_hex()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn make(test: &str) -> Option<Arc<dyn Inbox>> {
    // The directory outlives the test (the inbox is handed away); it is small and under the
    // temp dir.
    let dir = std::env::temp_dir().join(format!(
        "chathooks-suite-{test}-{}",
        ClaimToken::generate().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Some(Arc::new(
        SqliteInbox::open(dir.join("inbox.sqlite")).unwrap(),
    ))
}

inbox_suite!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_cut_off_is_exclusive() {
    let dir = TempDir::new("purge-edge");
    let time = Arc::new(std::sync::Mutex::new(std::time::SystemTime::now()));
    let read = time.clone();
    let inbox = SqliteInbox::options()
        .clock(move || *read.lock().unwrap())
        .open(dir.file("inbox.sqlite"))
        .unwrap();
    let set = async |t: std::time::SystemTime| *time.lock().unwrap() = t;
    super::suite::purge_cut_off_is_exclusive(Arc::new(inbox), set).await;
}

fn config_error(result: Result<SqliteInbox, Error>) -> String {
    match result {
        Err(Error::Config(msg)) => msg.into_owned(),
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn entries_survive_a_reopen_and_synchronous_full_opens() {
    let dir = TempDir::new("reopen");
    let path = dir.file("inbox.sqlite");
    let e = entry("reopen", Duration::ZERO);
    let id = {
        let inbox = SqliteInbox::open(&path).unwrap();
        accepted(&inbox, e.clone()).await
    };
    let inbox = SqliteInbox::options()
        .synchronous(Synchronous::Full)
        .open(&path)
        .unwrap();
    let got = inbox.get(&id).await.unwrap().expect("kept across reopen");
    assert_eq!(got.body, e.body);
    assert_eq!(inbox.put(e).await.unwrap(), PutOutcome::Duplicate(id));
    // WAL mode is a property of the file.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn two_inboxes_on_one_file_share_dedupe_and_leases() {
    // Two inboxes on one file have separate connections and writer threads, exactly like two
    // processes (the crash test covers real processes).
    let dir = TempDir::new("shared");
    let path = dir.file("inbox.sqlite");
    let a: Arc<dyn Inbox> = Arc::new(SqliteInbox::open(&path).unwrap());
    let b: Arc<dyn Inbox> = Arc::new(SqliteInbox::open(&path).unwrap());
    let mut ids = std::collections::HashSet::new();
    for i in 0..200 {
        let e = entry(&format!("shared{i}"), Duration::ZERO);
        let id = accepted(&*a, e.clone()).await;
        assert_eq!(b.put(e).await.unwrap(), PutOutcome::Duplicate(id.clone()));
        ids.insert(id);
    }
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let inbox = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = inbox.lease(7, Duration::from_secs(60)).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    for l in batch {
                        assert!(inbox.ack(&l.entry.id, l.token).await.unwrap());
                        got.push(l.entry.id);
                    }
                }
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} leased by two inboxes");
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(b.stats().await.unwrap().done, 200);
}

#[test]
fn corrupt_foreign_and_newer_files_are_refused_at_open() {
    let dir = TempDir::new("refuse");
    // Not a database at all.
    let junk = dir.file("junk.sqlite");
    std::fs::write(&junk, vec![0x5au8; 8192]).unwrap();
    let msg = config_error(SqliteInbox::open(&junk));
    assert!(msg.contains("not an SQLite database"), "{msg}");
    assert!(msg.contains("junk.sqlite"), "names the file: {msg}");
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        vec![0x5au8; 8192],
        "left untouched"
    );
    // A valid SQLite header followed by garbage.
    let torn = dir.file("torn.sqlite");
    {
        let conn = rusqlite::Connection::open(&torn).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let mut bytes = std::fs::read(&torn).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b ^= 0xa5;
    }
    std::fs::write(&torn, &bytes).unwrap();
    let msg = config_error(SqliteInbox::open(&torn));
    assert!(msg.contains("torn.sqlite"), "{msg}");
    // Another application's database.
    let foreign = dir.file("foreign.sqlite");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let msg = config_error(SqliteInbox::open(&foreign));
    assert!(msg.contains("not a chathooks inbox"), "{msg}");
    let other_app = dir.file("other-app.sqlite");
    rusqlite::Connection::open(&other_app)
        .unwrap()
        .execute_batch("PRAGMA application_id = 1234;")
        .unwrap();
    let msg = config_error(SqliteInbox::open(&other_app));
    assert!(msg.contains("another application"), "{msg}");
    // An inbox from a newer chathooks.
    let newer = dir.file("newer.sqlite");
    drop(SqliteInbox::open(&newer).unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let msg = config_error(SqliteInbox::open(&newer));
    assert!(
        msg.contains("newer chathooks") && msg.contains("99"),
        "{msg}"
    );
    // A directory where the file should be.
    let msg = config_error(SqliteInbox::open(dir.file("")));
    assert!(!msg.is_empty());
}

/// Fill the file to its bound: every put answered Accepted is in the file afterwards, every
/// refused one is not, and the refusals are 503s.
#[tokio::test]
async fn a_full_file_answers_503_and_never_acknowledges_what_it_did_not_store() {
    let dir = TempDir::new("full");
    let path = dir.file("inbox.sqlite");
    let inbox = Arc::new(
        SqliteInbox::options()
            .max_size(256 * 1024)
            .open(&path)
            .unwrap(),
    );
    let mut accepted_keys = Vec::new();
    let mut refused_keys = Vec::new();
    // Concurrent puts, so refusals also hit batches that share a transaction.
    for round in 0..20 {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let inbox = inbox.clone();
                let mut e = entry(&format!("full{round}-{i}"), Duration::ZERO);
                e.body = vec![b'x'; 4000].into();
                tokio::spawn(async move {
                    let key = e.key.clone();
                    (key, inbox.put(e).await)
                })
            })
            .collect();
        for t in tasks {
            match t.await.unwrap() {
                (key, Ok(PutOutcome::Accepted(_))) => accepted_keys.push(key),
                (key, Err(e)) => {
                    assert_eq!(e.status(), 503, "{e}");
                    assert!(e.retry_after().is_some());
                    refused_keys.push(key);
                }
                (_, Ok(other)) => panic!("{other:?}"),
            }
        }
    }
    assert!(!accepted_keys.is_empty() && !refused_keys.is_empty());
    drop(inbox);
    assert_stored_exactly(&path, &accepted_keys, &refused_keys).await;
}

/// Reopened, the file at `path` holds every `accepted` key, none of the `refused` ones, and
/// nothing else.
async fn assert_stored_exactly(
    path: &std::path::Path,
    accepted: &[IdempotencyKey],
    refused: &[IdempotencyKey],
) {
    let reopened = SqliteInbox::open(path).unwrap();
    let kept: std::collections::HashSet<_> = reopened
        .list(&ListFilter::all().limit(10_000))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    for k in accepted {
        assert!(kept.contains(k), "{k} was acknowledged but is not stored");
    }
    for k in refused {
        assert!(!kept.contains(k), "{k} was refused but stored");
    }
    assert_eq!(kept.len(), accepted.len());
}

/// A file filled to its bound by puts can still be drained: leases, acks, failures and
/// releases keep working (the bound stops puts, with room kept for the rest), a retry of a
/// stored delivery is still `Duplicate`, and once `purge` removed done entries puts are
/// accepted again.
#[tokio::test]
async fn a_full_file_still_leases_acks_and_fails_so_workers_drain_it() {
    let dir = TempDir::new("drain");
    let path = dir.file("inbox.sqlite");
    let inbox = SqliteInbox::options()
        .max_size(256 * 1024)
        .open(&path)
        .unwrap();
    let mut first = None;
    let mut stored = 0u64;
    for i in 0.. {
        let mut e = entry(&format!("drain-{i}"), Duration::ZERO);
        e.body = vec![b'x'; 4000].into();
        match inbox.put(e.clone()).await {
            Ok(PutOutcome::Accepted(_)) => {
                stored += 1;
                first.get_or_insert(e);
            }
            Err(err) => {
                assert_eq!(err.status(), 503, "{err}");
                break;
            }
            Ok(other) => panic!("{other:?}"),
        }
        assert!(i < 10_000, "max_size never refused a put");
    }
    assert!(stored > 10, "{stored} stored");
    // Full: a retry of a stored delivery is recognised, not refused.
    assert!(matches!(
        inbox.put(first.unwrap()).await.unwrap(),
        PutOutcome::Duplicate(_)
    ));
    // Everything drains: lease it all, fail one, release one, ack the rest.
    let leases = inbox.lease(10_000, Duration::from_secs(60)).await.unwrap();
    assert_eq!(leases.len() as u64, stored);
    let (failed, rest) = leases.split_first().unwrap();
    let (released, rest) = rest.split_first().unwrap();
    assert!(inbox
        .fail(
            &failed.entry.id,
            failed.token,
            &"e".repeat(900),
            AfterFailure::Dead
        )
        .await
        .unwrap());
    assert!(inbox
        .release(&released.entry.id, released.token)
        .await
        .unwrap());
    for l in rest {
        assert!(inbox.ack(&l.entry.id, l.token).await.unwrap());
    }
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead, stats.pending), (stored - 2, 1, 1));
    // Purged, the file takes new deliveries again.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(inbox.purge(Duration::ZERO).await.unwrap(), stored - 1);
    let mut e = entry("drain-after", Duration::ZERO);
    e.body = vec![b'x'; 4000].into();
    assert!(matches!(
        inbox.put(e).await.unwrap(),
        PutOutcome::Accepted(_)
    ));
}

#[tokio::test]
async fn a_lock_held_past_the_busy_timeout_is_503_not_accepted() {
    let dir = TempDir::new("locked");
    let path = dir.file("inbox.sqlite");
    let inbox = SqliteOptions::default()
        .busy_timeout(Duration::from_millis(200))
        .open(&path)
        .unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let e = entry("locked", Duration::ZERO);
    let err = inbox.put(e.clone()).await.unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    blocker.execute_batch("ROLLBACK").unwrap();
    // Once the lock is gone the same delivery is accepted: the refusal stored nothing.
    assert!(inbox.put(e).await.unwrap().is_accepted());
    assert_eq!(inbox.stats().await.unwrap().count(EntryState::Pending), 1);
}

/// `get`, `list` and `stats` read on their own connection: a write transaction held by
/// another process (a second worker, a long purge) delays none of them, and none of them
/// holds up the writer. Through the writer they waited for the lock, and failed with 503 at
/// the busy timeout.
#[tokio::test]
async fn reads_answer_while_another_connection_holds_the_write_lock() {
    let dir = TempDir::new("reads-under-lock");
    let path = dir.file("inbox.sqlite");
    let inbox = SqliteOptions::default()
        .busy_timeout(Duration::from_secs(3))
        .open(&path)
        .unwrap();
    let id = accepted(&inbox, entry("read-me", Duration::ZERO)).await;
    let blocker = rusqlite::Connection::open(&path).unwrap();
    // A writer of another process, mid-transaction with a change not yet committed.
    blocker
        .execute_batch("BEGIN IMMEDIATE; UPDATE inbox SET last_error = 'uncommitted'")
        .unwrap();
    let started = std::time::Instant::now();
    let stats = inbox.stats().await.unwrap();
    let listed = inbox.list(&ListFilter::all()).await.unwrap();
    let got = inbox.get(&id).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "reads waited for the lock: {:?}",
        started.elapsed()
    );
    assert_eq!(stats.count(EntryState::Pending), 1);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        got.last_error, None,
        "the last commit, not the open transaction"
    );
    blocker.execute_batch("COMMIT").unwrap();
    // And a read sees the next commit at once.
    assert_eq!(
        inbox.get(&id).await.unwrap().unwrap().last_error.as_deref(),
        Some("uncommitted")
    );
}

/// A row edited into something this build cannot decode: `get` says it is there and why it
/// cannot be read (not `None`, as if it never existed); `list` steps over it; a lease
/// dead-letters it with the reason rather than handing it out or leasing it forever.
#[tokio::test]
async fn an_undecodable_row_is_an_error_for_get_and_dead_for_lease() {
    let dir = TempDir::new("undecodable");
    let path = dir.file("inbox.sqlite");
    let inbox = SqliteInbox::open(&path).unwrap();
    let id = accepted(&inbox, entry("undecodable", Duration::ZERO)).await;
    let bad_headers = accepted(&inbox, entry("bad-headers", Duration::ZERO)).await;
    let ok = accepted(&inbox, entry("decodable", Duration::ZERO)).await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    let row = |id: &chathooks::inbox::EntryId| id.as_str().parse::<i64>().unwrap();
    raw.execute(
        "UPDATE inbox SET state = 'paused' WHERE id = ?1",
        [row(&id)],
    )
    .unwrap();
    raw.execute(
        "UPDATE inbox SET headers = '{' WHERE id = ?1",
        [row(&bad_headers)],
    )
    .unwrap();
    let leased = inbox.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        leased.iter().map(|l| &l.entry.id).collect::<Vec<_>>(),
        [&ok]
    );
    let (state, last_error): (String, String) = raw
        .query_row(
            "SELECT state, last_error FROM inbox WHERE id = ?1",
            [row(&bad_headers)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (state.as_str(), last_error.as_str()),
        (
            "dead",
            "row unreadable by this chathooks: the headers are not a JSON list of name-value pairs"
        )
    );
    match inbox.get(&id).await {
        Err(Error::StoreUnavailable { reason, .. }) => assert_eq!(
            reason,
            format!("SQLite inbox: entry `{id}` exists but cannot be decoded: the state is not one this build knows")
        ),
        other => panic!("expected an error for an undecodable row, got {other:?}"),
    }
    let listed = inbox.list(&ListFilter::all()).await.unwrap();
    assert_eq!(listed.iter().map(|e| &e.id).collect::<Vec<_>>(), [&ok]);
    assert!(inbox.get(&ok).await.unwrap().is_some());
}

/// A file of schema version 1 (the leasable index's condition as a three-value `IN`, receive
/// times in milliseconds) is migrated when a receiver or worker opens it: its entries lease
/// and acknowledge, the index is the version-2 one, receive times are kept in nanoseconds
/// (version 3), and an open that may not migrate refuses it, untouched.
#[tokio::test]
async fn a_version_1_file_is_migrated_and_its_entries_lease() {
    let dir = TempDir::new("migrate-v1");
    let path = dir.file("inbox.sqlite");
    let a = entry("v1-a", Duration::ZERO);
    let (first, second) = {
        let inbox = SqliteInbox::open(&path).unwrap();
        (
            accepted(&inbox, a.clone()).await,
            accepted(&inbox, entry("v1-b", Duration::ZERO)).await,
        )
    };
    // Version 1 differed in this index, and kept receive times in whole milliseconds.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP INDEX inbox_leasable;
         CREATE INDEX inbox_leasable ON inbox (due_ms, id)
             WHERE state IN ('pending', 'retrying', 'leased');
         ALTER TABLE inbox RENAME COLUMN received_ns TO received_ms;
         UPDATE inbox SET received_ms = received_ms / 1000000;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    let received_ms: i64 = raw
        .query_row(
            "SELECT received_ms FROM inbox WHERE id = ?1",
            [first.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    let index_sql = || -> String {
        raw.query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'inbox_leasable'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let msg = config_error(SqliteInbox::options().create(false).open(&path));
    assert!(
        msg.contains("older inbox schema (version 1; this chathooks writes 3)"),
        "{msg}"
    );
    assert!(index_sql().contains("IN ('pending'"), "left untouched");

    let inbox = SqliteInbox::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, chathooks::inbox::sqlite::SCHEMA_VERSION);
    assert_eq!(version, 3);
    // The receive time went from milliseconds to nanoseconds unchanged.
    let received = inbox.get(&first).await.unwrap().unwrap().received_at;
    assert_eq!(
        received,
        std::time::UNIX_EPOCH + Duration::from_millis(received_ms as u64)
    );
    assert!(
        index_sql().contains("state = 'pending' OR state = 'retrying' OR state = 'leased'"),
        "{}",
        index_sql()
    );
    let leased = inbox.lease(10, Duration::from_secs(60)).await.unwrap();
    let mut ids: Vec<_> = leased.iter().map(|l| l.entry.id.clone()).collect();
    ids.sort_by_key(|id| id.as_str().parse::<i64>().unwrap());
    assert_eq!(ids, [first.clone(), second]);
    assert!(leased
        .iter()
        .all(|l| l.entry.state == EntryState::Leased && l.entry.attempts == 1));
    for l in leased {
        assert!(inbox.ack(&l.entry.id, l.token).await.unwrap());
    }
    assert_eq!(inbox.stats().await.unwrap().done, 2);
    assert_eq!(inbox.put(a).await.unwrap(), PutOutcome::Duplicate(first));
}

/// Receivers and workers start together on a file that does not exist yet: every one of them
/// opens it, whichever creates the schema. (Reading the application id, the version and the
/// table list in separate statements let one opener see another's half-finished view: "holds
/// other tables", and a receiver that never started.)
#[test]
fn openers_racing_on_a_fresh_file_all_succeed() {
    let dir = TempDir::new("open-race");
    for round in 0..40 {
        let path = dir.file(&format!("race-{round}.sqlite"));
        let start = Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    SqliteInbox::open(&path).map(drop)
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}

/// `chattr +i` on the inbox's files (and their directory) while it runs: the file turns
/// read-only under the open connections, even for root (existing descriptors get `EPERM` on
/// write). Puts are then refused with 503 and `Retry-After`; none is answered Accepted that is
/// not stored, and opening the file meanwhile is a clear error; once the file is writable again
/// the same inbox accepts puts without a reopen.
/// Needs `chattr` and a file system with the immutable flag (ext4, xfs…); says SKIPPED without.
#[tokio::test]
async fn a_file_turned_read_only_answers_503_and_recovers() {
    fn chattr(flag: &str, paths: &[PathBuf]) -> bool {
        paths.iter().all(|p| {
            !p.exists()
                || std::process::Command::new("chattr")
                    .arg(flag)
                    .arg(p)
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
    }
    /// Writable again on every way out of the test, so the directory can be removed.
    struct Unfreeze(Vec<PathBuf>);
    impl Drop for Unfreeze {
        fn drop(&mut self) {
            chattr("-i", &self.0);
        }
    }

    let dir = TempDir::new("readonly");
    let path = dir.file("inbox.sqlite");
    let inbox = Arc::new(SqliteInbox::open(&path).unwrap());
    let mut accepted_keys = Vec::new();
    for i in 0..20 {
        let e = entry(&format!("ro-before-{i}"), Duration::ZERO);
        let key = e.key.clone();
        accepted(&*inbox, e).await;
        accepted_keys.push(key);
    }
    // Not the `-shm` file: SQLite maps it, and a write fault on an immutable mapping is a
    // SIGBUS that no library can turn into an error. Writes to the WAL and the database go
    // through write(2), which fails.
    let files: Vec<PathBuf> = ["inbox.sqlite", "inbox.sqlite-wal", ""]
        .iter()
        .map(|f| dir.file(f))
        .collect();
    let guard = Unfreeze(files.clone());
    if !chattr("+i", &files) {
        eprintln!(
            "SKIPPED a_file_turned_read_only_answers_503_and_recovers: `chattr +i` is not \
             available here (needs CAP_LINUX_IMMUTABLE and ext4/xfs)"
        );
        return;
    }

    let mut refused = Vec::new();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let inbox = inbox.clone();
            let e = entry(&format!("ro-during-{i}"), Duration::ZERO);
            tokio::spawn(async move {
                let outcome = inbox.put(e.clone()).await;
                (e, outcome)
            })
        })
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            (e, Err(err)) => {
                assert_eq!(err.status(), 503, "{err}");
                assert!(err.retry_after().is_some(), "{err}");
                refused.push(e);
            }
            (_, Ok(other)) => panic!("a put into a read-only file was answered {other:?}"),
        }
    }

    // Opening the read-only file meanwhile: a clear error naming the file, never a panic.
    let msg = config_error(SqliteInbox::open(&path));
    assert!(
        msg.contains("readonly") && msg.contains(&*path.to_string_lossy()),
        "{msg}"
    );
    drop(guard);
    // Writable again: the same inbox takes puts, and the sender's retry of a refused delivery
    // is stored as new (the refusal left no dedupe key behind).
    for i in 0..4 {
        let e = entry(&format!("ro-after-{i}"), Duration::ZERO);
        let key = e.key.clone();
        accepted(&*inbox, e).await;
        accepted_keys.push(key);
    }
    let retried = refused.pop().unwrap();
    accepted_keys.push(retried.key.clone());
    accepted(&*inbox, retried).await;
    drop(inbox);
    let refused_keys: Vec<_> = refused.into_iter().map(|e| e.key).collect();
    assert_stored_exactly(&path, &accepted_keys, &refused_keys).await;
}
