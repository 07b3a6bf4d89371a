//! `chathooks inbox` against a real Postgres inbox (the server at `DATABASE_URL`), on a schema
//! of the test's own: entries are put and driven to dead and done through the library, then the
//! binary reads and changes them.

use std::time::Duration;

use chathooks::idempotency::IdempotencyKey;
use chathooks::inbox::{AfterFailure, Inbox, NewEntry};
use chathooks::postgres::PostgresInbox;

use super::run;
use crate::postgres::service::{database_url, fresh_schema_pool, schema_name};

#[test]
fn stats_ls_show_retry_purge_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test = "cli_inbox";
    let Some(pool) = rt.block_on(fresh_schema_pool(test)) else {
        return;
    };
    let url = database_url(test).unwrap();
    let schema = schema_name(test);
    let inbox = PostgresInbox::new(&pool);
    let ids = rt.block_on(async {
        let mut ids = Vec::new();
        for i in 0..3 {
            let key = IdempotencyKey::new("sam", &format!("evt_{i}")).unwrap();
            let entry = NewEntry::new("sam", "sam", key, format!("{{\"n\":{i}}}").into_bytes())
                .with_header("x-sam-signature", "sha256=00");
            ids.push(inbox.put(entry).await.unwrap().id().clone());
        }
        // One dead, one done, one pending.
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
        (ids, leases[0].entry.id.clone())
    });
    let (_, dead_id) = ids;
    let args = |cmd: &[&str]| {
        let mut a = vec!["inbox", "--json", "--postgres", &url, "--schema", &schema];
        a.extend_from_slice(cmd);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let call = |cmd: &[&str]| {
        let a = args(cmd);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = run(&refs);
        assert_eq!(r.code, 0, "{cmd:?}: {}{}", r.stdout, r.stderr);
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
        "{s}"
    );

    let ls = call(&["ls", "--state", "dead"]);
    let dead = ls["entries"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], dead_id.as_str());
    assert_eq!(dead[0]["last_error"], "handler said no");
    assert_eq!(call(&["ls"])["entries"].as_array().unwrap().len(), 3);

    let show = call(&["show", dead_id.as_str()]);
    assert_eq!(show["state"], "dead");
    assert!(show["body"].as_str().unwrap().starts_with("{\"n\":"));
    assert_eq!(show["headers"][0][0], "x-sam-signature");

    assert_eq!(call(&["retry", "--dead"])["replayed"], 1);
    let s = call(&["stats"]);
    assert_eq!(
        (s["pending"].as_u64(), s["dead"].as_u64()),
        (Some(2), Some(0))
    );

    // Nothing done is older than a week; everything done is older than zero seconds.
    assert_eq!(call(&["purge", "--older-than", "7d"])["purged"], 0);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(call(&["purge", "--older-than", "1s"])["purged"], 1);
    assert_eq!(call(&["stats"])["done"], 0);

    // An unknown id and an unmigrated schema are input errors.
    let a = args(&["show", "no-such-id"]);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    assert_eq!(run(&refs).code, 2);
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
}
