//! `chathooks inbox` against real inboxes — a SQLite file, the Postgres server at
//! `DATABASE_URL` (a schema of the test's own) and the Redis server at `REDIS_URL` (a prefix
//! of the test's own): entries are put and driven to dead and done through the library, then
//! the binary reads and changes them.

use std::time::Duration;

use chathooks::idempotency::IdempotencyKey;
use chathooks::inbox::{AfterFailure, EntryId, Inbox, NewEntry};

use super::{run, TempDir};

/// Three entries: one dead, one done, one pending. Returns the dead one's id.
async fn populate(inbox: &dyn Inbox) -> EntryId {
    for i in 0..3 {
        let key = IdempotencyKey::new("sam", &format!("evt_{i}")).unwrap();
        let entry = NewEntry::new("sam", "sam", key, format!("{{\"n\":{i}}}").into_bytes())
            .with_header("x-sam-signature", "sha256=00");
        inbox.put(entry).await.unwrap();
    }
    let leases = inbox.lease(2, Duration::from_secs(30)).await.unwrap();
    assert_eq!(leases.len(), 2);
    assert!(inbox
        .fail(
            &leases[0].entry.id,
            leases[0].token,
            "handler said no",
            AfterFailure::Dead
        )
        .await
        .unwrap());
    assert!(inbox
        .ack(&leases[1].entry.id, leases[1].token)
        .await
        .unwrap());
    leases[0].entry.id.clone()
}

/// A SQLite inbox file in a new directory, [`populate`]d: the directory, the file, the dead id.
fn populated_sqlite(tag: &str) -> (TempDir, std::path::PathBuf, EntryId) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("inbox.sqlite");
    let inbox = chathooks::inbox::SqliteInbox::open(&path).unwrap();
    let dead = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(populate(&inbox));
    (dir, path, dead)
}

/// The binary's view of it, with `backend` the `--sqlite …`/`--postgres …`/`--redis …` args.
fn check(backend: &[&str], dead_id: &EntryId) {
    let args = |cmd: &[&str]| {
        let mut a = vec!["inbox", "--json"];
        a.extend_from_slice(backend);
        a.extend_from_slice(cmd);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let call = |cmd: &[&str]| {
        let a = args(cmd);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = run(&refs);
        assert_eq!(r.code, 0, "{backend:?} {cmd:?}: {}{}", r.stdout, r.stderr);
        r.json()
    };
    let s = call(&["stats"]);
    assert_eq!(
        (
            s["pending"].as_u64(),
            s["dead"].as_u64(),
            s["done"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{backend:?}: {s}"
    );

    let ls = call(&["ls", "--state", "dead"]);
    let dead = ls["entries"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], dead_id.as_str());
    assert_eq!(dead[0]["last_error"], "handler said no");
    assert_eq!(call(&["ls"])["entries"].as_array().unwrap().len(), 3);

    let show = call(&["show", dead_id.as_str()]);
    assert_eq!(show["state"], "dead");
    // The dedupe key as its text, not as a Rust `Debug` of the type.
    assert!(
        show["key"].as_str().unwrap().starts_with("sam"),
        "{backend:?}: {show}"
    );
    assert!(!show["key"].as_str().unwrap().contains("IdempotencyKey"));
    // The id as a user types it: Redis' zero padding may be left out.
    let unpadded = dead_id.as_str().trim_start_matches('0');
    assert_eq!(call(&["show", unpadded])["state"], "dead", "{backend:?}");
    assert!(show["body"].as_str().unwrap().starts_with("{\"n\":"));
    assert_eq!(show["headers"][0][0], "x-sam-signature");

    assert_eq!(call(&["retry", "--dead"])["replayed"], 1);
    let s = call(&["stats"]);
    assert_eq!(
        (s["pending"].as_u64(), s["dead"].as_u64()),
        (Some(2), Some(0)),
        "{backend:?}"
    );

    // Nothing done is older than a week; the done entry is older than one second.
    assert_eq!(call(&["purge", "--older-than", "7d"])["purged"], 0);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        call(&["purge", "--older-than", "1s"])["purged"],
        1,
        "{backend:?}"
    );
    assert_eq!(call(&["stats"])["done"], 0);
    // Below the senders' retry horizon purge still runs, with a warning on stderr only.
    let warned = |older: &str| {
        let a = args(&["purge", "--older-than", older]);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = run(&refs);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.json()["purged"].is_u64(),
            "stdout stays JSON: {}",
            r.stdout
        );
        r.stderr.contains("warning: --older-than is below 72 h")
    };
    assert!(warned("1h"), "{backend:?}");
    assert!(!warned("72h"), "{backend:?}");

    let a = args(&["show", "no-such-id"]);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    assert_eq!(run(&refs).code, 2, "{backend:?}: unknown id");
}

#[test]
fn inbox_commands_on_a_sqlite_file() {
    let (dir, path, dead) = populated_sqlite("inbox-sqlite");
    check(&["--sqlite", path.to_str().unwrap()], &dead);
    // A missing file is an input error, and is not created.
    let missing = dir.path().join("nope.sqlite");
    let r = run(&["inbox", "stats", "--sqlite", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(!missing.exists());
    // Nor does it turn an empty file, or another application's database, into an inbox.
    let empty = dir.file("empty.sqlite", b"");
    let foreign = dir.path().join("foreign.sqlite");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let before = std::fs::read(&foreign).unwrap();
    for (file, what) in [
        (empty.as_str(), "no inbox schema"),
        (foreign.to_str().unwrap(), "not a chathooks inbox"),
    ] {
        for cmd in [
            &["stats"][..],
            &["ls"],
            &["show", "1"],
            &["purge", "--older-than", "1s"],
        ] {
            let mut a = vec!["inbox", "--sqlite", file];
            a.extend_from_slice(cmd);
            let r = run(&a);
            assert_eq!(r.code, 2, "{a:?}: {}", r.stdout);
            assert!(r.stderr.contains(what), "{a:?}: {}", r.stderr);
        }
    }
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "the empty file stays empty"
    );
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        before,
        "the foreign file is untouched"
    );
}

/// A row this build cannot decode (edited by hand, or by a newer chathooks) is there: `show`
/// and `retry ID` say so, with the reason, instead of calling it absent.
#[test]
fn an_undecodable_sqlite_row_is_reported_as_existing() {
    let (_dir, path, dead) = populated_sqlite("inbox-undecodable");
    let id: i64 = dead.as_str().parse().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE inbox SET headers = 'x-sam-signature: sha256=00' WHERE id = ?1",
            [id],
        )
        .unwrap();
    let file = path.to_str().unwrap();
    for cmd in [&["show", dead.as_str()][..], &["retry", dead.as_str()]] {
        let mut a = vec!["inbox", "--sqlite", file];
        a.extend_from_slice(cmd);
        let r = run(&a);
        assert_eq!(r.code, 2, "{a:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "entry `{dead}` exists but cannot be decoded: the headers"
            )),
            "{a:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("no entry"), "{a:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("sha256=00"),
            "the column's content stays out: {}",
            r.stderr
        );
    }
    let r = run(&["inbox", "--sqlite", file, "show", "999"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no entry `999`"), "{}", r.stderr);
}

#[test]
fn inbox_help_names_the_real_postgres_default_schema() {
    let r = run(&["inbox", "--help"]);
    assert!(r.stdout.contains("(default: `public`)"), "{}", r.stdout);
}

#[cfg(feature = "redis")]
#[test]
fn inbox_commands_on_redis() {
    let Some(url) = crate::services::redis::url("cli_inbox_redis") else {
        return;
    };
    let prefix = format!("chathooks-cli-test-{}", std::process::id());
    let dead = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let inbox = chathooks::inbox::RedisInbox::connect(&url)
            .await
            .unwrap()
            .with_prefix(prefix.clone());
        populate(&inbox).await
    });
    check(&["--redis", &url, "--prefix", &prefix], &dead);
}

#[cfg(feature = "postgres")]
#[test]
fn inbox_commands_on_postgres() {
    use crate::postgres::service::{database_url, fresh_schema_pool, schema_name};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test = "cli_inbox";
    let Some(pool) = rt.block_on(fresh_schema_pool(test)) else {
        return;
    };
    let url = database_url(test).unwrap();
    let schema = schema_name(test);
    let inbox = chathooks::postgres::PostgresInbox::new(&pool);
    let dead = rt.block_on(populate(&inbox));
    check(&["--postgres", &url, "--schema", &schema], &dead);
    let r = run(&[
        "inbox",
        "stats",
        "--postgres",
        &url,
        "--schema",
        "chathooks_t_never_migrated",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no chathooks inbox"), "{}", r.stderr);
    // A schema written by a newer chathooks is refused, not read as if it were this one's.
    rt.block_on(crate::postgres::service::sql(
        &url,
        &format!("INSERT INTO \"{schema}\".chathooks_schema_version (version) VALUES (999)"),
    ));
    let r = run(&["inbox", "stats", "--postgres", &url, "--schema", &schema]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("newer than this version"), "{}", r.stderr);
    // A server that does not answer is named as such.
    let r = run(&[
        "inbox",
        "stats",
        "--postgres",
        "postgres://chathooks@127.0.0.1:1/x",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("no chathooks inbox"), "{}", r.stderr);
}

/// `retry --dead|--done` with a received-time range (`--newer-than`, `--older-than`) maps onto
/// `ReplaySelector::State`; a range with an id, or without a state, is a usage error.
#[test]
fn retry_by_state_and_time_range() {
    let (_dir, path, dead) = populated_sqlite("inbox-retry-range");
    let file = path.to_str().unwrap();
    let retry = |args: &[&str]| {
        let mut a = vec!["inbox", "--json", "--sqlite", file, "retry"];
        a.extend_from_slice(args);
        run(&a)
    };
    let replayed = |args: &[&str]| {
        let r = retry(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.json()["replayed"].as_u64().unwrap()
    };
    // Everything was received just now.
    assert_eq!(replayed(&["--done", "--older-than", "1h"]), 0);
    assert_eq!(replayed(&["--dead", "--older-than", "1h"]), 0);
    assert_eq!(replayed(&["--done", "--newer-than", "1h"]), 1);
    assert_eq!(
        replayed(&["--dead", "--newer-than", "1h", "--older-than", "0s"]),
        1
    );
    let stats = run(&["inbox", "--json", "--sqlite", file, "stats"]).json();
    assert_eq!(
        (stats["pending"].as_u64(), stats["done"].as_u64()),
        (Some(3), Some(0))
    );
    for bad in [
        &["--newer-than", "1h"][..],
        &[dead.as_str(), "--newer-than", "1h"],
        &["--dead", "--done"],
    ] {
        assert_eq!(retry(bad).code, 2, "{bad:?}");
    }
}

/// `ls` lists a row it cannot decode as such (id, state and why) instead of dropping it: the
/// listing said "(no entries)" while `stats` counted the rows.
#[test]
fn ls_lists_an_undecodable_sqlite_row_with_its_reason() {
    let (_dir, path, dead) = populated_sqlite("inbox-ls-undecodable");
    let id: i64 = dead.as_str().parse().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE inbox SET key = 'not-a-stored-key' WHERE id = ?1",
            [id],
        )
        .unwrap();
    let file = path.to_str().unwrap();
    let r = run(&["inbox", "--json", "--sqlite", file, "ls"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the two good rows stay listed: {v:#}");
    assert!(entries.iter().all(|e| e["id"] != dead.as_str()), "{v:#}");
    let bad = v["undecodable"].as_array().expect("an `undecodable` list");
    assert_eq!(bad.len(), 1, "{v:#}");
    assert_eq!(bad[0]["id"], dead.as_str());
    assert_eq!(bad[0]["state"], "dead");
    assert!(
        bad[0]["reason"].as_str().unwrap().contains("dedupe key"),
        "{v:#}"
    );
    // Filtered by its state, it is the only row, and not "(no entries)".
    let r = run(&["inbox", "--sqlite", file, "ls", "--state", "dead"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("(no entries)"), "{}", r.stdout);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with(dead.as_str()))
        .unwrap_or_else(|| panic!("a line for entry {dead}: {}", r.stdout));
    assert!(
        line.contains("dead") && line.contains("cannot be decoded") && line.contains("dedupe key"),
        "{line}"
    );
    assert!(
        !r.stdout.contains("not-a-stored-key"),
        "the column stays out: {}",
        r.stdout
    );
}
