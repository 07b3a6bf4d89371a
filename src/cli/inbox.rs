//! `chathooks inbox`: look into and manage a durable inbox (stats, ls, show, retry, purge).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{Failure, Out, Outcome};
use crate::inbox::{Entry, EntryId, EntryState, Inbox, ListFilter, ReplaySelector};

/// `chathooks inbox` arguments.
#[derive(Args)]
pub struct InboxArgs {
    /// A SQLite inbox file.
    #[arg(long, value_name = "PATH", global = true, group = "backend")]
    sqlite: Option<String>,
    /// A Redis inbox (`redis://127.0.0.1:6379/0`).
    #[arg(long, value_name = "URL", global = true, group = "backend")]
    redis: Option<String>,
    /// A Postgres inbox (`postgres://user@127.0.0.1/db`).
    #[arg(long, value_name = "URL", global = true, group = "backend")]
    postgres: Option<String>,
    /// Redis: the key prefix of the inbox (default: the crate's).
    #[arg(long, value_name = "PREFIX", global = true)]
    prefix: Option<String>,
    /// Postgres: the schema holding the inbox tables (default: `public`).
    #[arg(long, value_name = "NAME", global = true)]
    schema: Option<String>,
    #[command(subcommand)]
    command: InboxCommand,
}

#[derive(Subcommand)]
enum InboxCommand {
    /// Counts per state and the age of the oldest pending entry.
    #[command(after_help = super::EXIT_CODES)]
    Stats,
    /// List entries, oldest first.
    #[command(after_help = super::EXIT_CODES)]
    Ls {
        /// Only entries in this state: pending, leased, retrying, dead or done.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Only entries of this namespace.
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: usize,
    },
    /// One entry in full: headers and body.
    #[command(after_help = super::EXIT_CODES)]
    Show {
        /// The entry id.
        id: String,
    },
    /// Send dead (or done) entries back to pending: one by id, or every dead (or done) entry,
    /// optionally only those received within a time range.
    #[command(after_help = super::EXIT_CODES)]
    Retry {
        /// The entry id.
        #[arg(required_unless_present_any = ["dead", "done"], conflicts_with_all = ["dead", "done"])]
        id: Option<String>,
        /// Every dead entry.
        #[arg(long, conflicts_with = "done")]
        dead: bool,
        /// Every done entry (to run handled deliveries again, after a handler fix).
        #[arg(long)]
        done: bool,
        /// Only entries received less than this long ago (`7d`, `12h`, `30m`, `90s`).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "id")]
        newer_than: Option<Duration>,
        /// Only entries received more than this long ago.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "id")]
        older_than: Option<Duration>,
    },
    /// Delete done and dead entries older than a duration.
    #[command(after_help = super::EXIT_CODES)]
    Purge {
        /// `7d`, `12h`, `30m` or `90s`.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: Duration,
    },
}

super::opaque_debug!(InboxArgs);

/// `7d`, `12h`, `30m`, `90s` (or bare seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 7d, 12h, 30m or 90s"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60).ok_or("duration too large")?,
        "h" => n.checked_mul(3600).ok_or("duration too large")?,
        "d" => n.checked_mul(86_400).ok_or("duration too large")?,
        "w" => n.checked_mul(604_800).ok_or("duration too large")?,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use s, m, h, d or w)"
            ))
        }
    };
    Ok(Duration::from_secs(secs))
}

async fn open(a: &InboxArgs) -> Result<Box<dyn Inbox>, String> {
    if let Some(path) = &a.sqlite {
        return open_sqlite(path);
    }
    if let Some(url) = &a.redis {
        return open_redis(url, a.prefix.as_deref()).await;
    }
    if let Some(url) = &a.postgres {
        return open_postgres(url, a.schema.as_deref()).await;
    }
    Err("choose an inbox: --sqlite PATH, --redis URL or --postgres URL".into())
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &str) -> Result<Box<dyn Inbox>, String> {
    // Opening creates a missing file: an inspection tool must not, so a typo is an error.
    if !std::path::Path::new(path).is_file() {
        return Err(format!("cannot open `{path}`: no such file"));
    }
    // Nor may it turn an empty or foreign file into an inbox.
    let inbox = crate::inbox::SqliteInbox::options()
        .create(false)
        .open(path)
        .map_err(|e| format!("--sqlite {path}: {e}"))?;
    Ok(Box::new(inbox))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(path: &str) -> Result<Box<dyn Inbox>, String> {
    let _ = path;
    Err("this build has no SQLite inbox: install with `--features cli,sqlite`".into())
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, prefix: Option<&str>) -> Result<Box<dyn Inbox>, String> {
    let mut inbox = crate::inbox::RedisInbox::connect(url)
        .await
        .map_err(|e| format!("--redis: {e}"))?;
    if let Some(p) = prefix {
        inbox = inbox.with_prefix(p);
    }
    Ok(Box::new(inbox))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(url: &str, prefix: Option<&str>) -> Result<Box<dyn Inbox>, String> {
    let _ = (url, prefix);
    Err("this build has no Redis inbox: install with `--features cli,redis`".into())
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Box<dyn Inbox>, String> {
    use crate::postgres::{PostgresInbox, PostgresPool};
    let mut options = PostgresPool::options(url).map_err(|e| format!("--postgres: {e}"))?;
    if let Some(s) = schema {
        options = options.schema(s);
    }
    let pool = options
        .connect()
        .await
        .map_err(|e| format!("--postgres: {e}"))?;
    // An inspection tool does not create tables: an unmigrated schema is an input error.
    match pool.schema_version().await {
        Ok(0) => {
            return Err(format!(
                "no chathooks inbox in schema `{}` (the service runs `PostgresPool::migrate` first; pass --schema if it uses another)",
                pool.schema()
            ))
        }
        // The server did not answer: say so, not that the schema is missing.
        Err(e) => return Err(format!("--postgres: {e}")),
        // A schema from another chathooks version (newer: its rows may mean something else).
        Ok(_) => pool.check_schema().await.map_err(|e| format!("--postgres: {e}"))?,
    }
    Ok(Box::new(PostgresInbox::new(&pool)))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Box<dyn Inbox>, String> {
    let _ = (url, schema);
    Err("this build has no Postgres inbox: install with `--features cli,postgres`".into())
}

/// The entry id a user typed: Redis ids are a counter zero-padded to 12 digits, so `42` there
/// means `000000000042` (as listed by `ls`).
fn entry_id(a: &InboxArgs, typed: &str) -> EntryId {
    let digits = !typed.is_empty() && typed.bytes().all(|b| b.is_ascii_digit());
    if a.redis.is_some() && digits && typed.len() < 12 {
        EntryId::new(format!("{typed:0>12}"))
    } else {
        EntryId::new(typed)
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs(t).to_string())
}

fn entry_json(e: &Entry, full: bool) -> Value {
    let mut v = json!({
        "id": e.id.as_str(),
        "namespace": e.namespace,
        "vendor": e.vendor,
        "key": e.key.as_str(),
        "signed_delivery_id": e.signed_delivery_id,
        "state": e.state.as_str(),
        "attempts": e.attempts,
        "last_error": e.last_error,
        "received_at": rfc3339(e.received_at),
        "next_attempt_at": rfc3339(e.next_attempt_at),
        "bytes": e.body.len(),
    });
    if full {
        v["headers"] = json!(e.headers);
        v["body_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&e.body));
        if let Ok(text) = std::str::from_utf8(&e.body) {
            v["body"] = json!(text);
        }
    }
    v
}

/// Run `inbox`.
pub fn run(a: InboxArgs, out: Out) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let inbox = open(&a).await?;
        match &a.command {
            InboxCommand::Stats => {
                let s = inbox.stats().await?;
                if out.json {
                    out.print_json(&json!({
                        "pending": s.pending, "leased": s.leased, "retrying": s.retrying,
                        "dead": s.dead, "done": s.done,
                        "oldest_pending_age_secs": s.oldest_pending_age.map(|d| d.as_secs()),
                    }));
                } else {
                    for st in EntryState::ALL {
                        outln!("{:<9} {}", st.as_str(), s.count(st));
                    }
                    if let Some(age) = s.oldest_pending_age {
                        outln!(
                            "oldest pending: {}",
                            super::doctor::human_duration(age.as_secs())
                        );
                    }
                }
                Ok(())
            }
            InboxCommand::Ls {
                state,
                namespace,
                limit,
            } => {
                let mut filter = match state {
                    Some(s) => ListFilter::state(EntryState::parse(s).ok_or_else(|| {
                        Failure::Input(format!(
                            "unknown state `{s}` (pending, leased, retrying, dead, done)"
                        ))
                    })?),
                    None => ListFilter::all(),
                };
                if let Some(ns) = namespace {
                    filter = filter.namespace(ns.clone());
                }
                filter = filter.limit(*limit);
                let entries = inbox.list(&filter).await?;
                let undecodable = match &a.sqlite {
                    Some(path) => Some(undecodable_sqlite(path, &filter, &*inbox, &entries).await?),
                    None => None,
                };
                let bad = undecodable.as_deref().unwrap_or_default();
                if out.json {
                    let mut v = json!({
                        "entries": entries.iter().map(|e| entry_json(e, false)).collect::<Vec<_>>(),
                    });
                    if undecodable.is_some() {
                        v["undecodable"] = bad
                            .iter()
                            .map(|(_, u)| json!({ "id": u.id, "state": u.state, "reason": u.reason }))
                            .collect();
                    }
                    out.print_json(&v);
                } else if entries.is_empty() && bad.is_empty() {
                    outln!("(no entries)");
                } else {
                    // In the listing's order: each undecodable row where the backend skipped it.
                    let mut bad = bad.iter().peekable();
                    for (i, e) in entries.iter().enumerate() {
                        while let Some((_, u)) = bad.next_if(|(before, _)| *before <= i) {
                            print_undecodable(u);
                        }
                        outln!(
                            "{}  {:<8}  {:<12}  {} attempt(s)  {}{}",
                            e.id,
                            e.state.as_str(),
                            e.vendor,
                            e.attempts,
                            rfc3339(e.received_at),
                            e.last_error
                                .as_deref()
                                .map(|l| format!("  last error: {l}"))
                                .unwrap_or_default()
                        );
                    }
                    for (_, u) in bad {
                        print_undecodable(u);
                    }
                }
                Ok(())
            }
            InboxCommand::Show { id } => {
                let id = entry_id(&a, id);
                let Some(e) = inbox.get(&id).await? else {
                    return Err(Failure::Input(format!("no entry `{id}`")));
                };
                if out.json {
                    out.print_json(&entry_json(&e, true));
                } else {
                    let v = entry_json(&e, false);
                    if let Value::Object(map) = v {
                        for (k, v) in map {
                            outln!(
                                "{k:<19} {}",
                                v.as_str().map(str::to_owned).unwrap_or(v.to_string())
                            );
                        }
                    }
                    outln!("headers:");
                    for (k, v) in &e.headers {
                        outln!("  {k}: {v}");
                    }
                    outln!("body:");
                    outln!("{}", String::from_utf8_lossy(&e.body));
                }
                Ok(())
            }
            InboxCommand::Retry {
                id,
                done,
                newer_than,
                older_than,
                ..
            } => {
                let selector = match id {
                    Some(id) => {
                        let id = entry_id(&a, id);
                        match inbox.get(&id).await? {
                            None => return Err(Failure::Input(format!("no entry `{id}`"))),
                            Some(e) if !matches!(e.state, EntryState::Dead | EntryState::Done) => {
                                return Err(Failure::Input(format!(
                                    "entry `{id}` is {}: only dead or done entries go back to pending",
                                    e.state.as_str()
                                )))
                            }
                            Some(_) => {}
                        }
                        ReplaySelector::id(id)
                    }
                    None => {
                        let now = SystemTime::now();
                        let ago = |d: &Option<Duration>| {
                            d.map(|d| now.checked_sub(d).unwrap_or(UNIX_EPOCH))
                        };
                        ReplaySelector::State {
                            state: if *done {
                                EntryState::Done
                            } else {
                                EntryState::Dead
                            },
                            received_after: ago(newer_than),
                            received_before: ago(older_than),
                        }
                    }
                };
                let n = inbox.replay(&selector).await?;
                if out.json {
                    out.print_json(&json!({ "replayed": n }));
                } else {
                    outln!(
                        "{n} entr{} back to pending",
                        if n == 1 { "y" } else { "ies" }
                    );
                }
                Ok(())
            }
            InboxCommand::Purge { older_than } => {
                if *older_than < RETRY_HORIZON {
                    // Allowed (tests and demos purge at once), but a purged key stops
                    // deduplicating: say what it costs.
                    eprintln!(
                        "warning: --older-than is below 72 h, the senders' retry horizon: a \
                         sender's retry of a purged delivery is stored and handled again"
                    );
                }
                let n = inbox.purge(*older_than).await?;
                if out.json {
                    out.print_json(
                        &json!({ "purged": n, "older_than_secs": older_than.as_secs() }),
                    );
                } else {
                    outln!("{n} entr{} purged", if n == 1 { "y" } else { "ies" });
                }
                Ok(())
            }
        }
    })
}

/// A stored row that does not decode as an entry: its id, its state as stored, and why.
struct Undecodable {
    id: String,
    state: String,
    reason: String,
}

fn print_undecodable(u: &Undecodable) {
    outln!("{}  {:<8}  cannot be decoded: {}", u.id, u.state, u.reason);
}

/// The rows of `filter`'s window that `list` left out because they do not decode, each with
/// how many of `listed` come before it. `SqliteInbox::list` skips them so that one hand-edited
/// row cannot break a service's listing; an inspection tool must show them, or `ls` says
/// "(no entries)" while `stats` counts them. Read from the file with the listing's own order and
/// limit, and the reason is `get`'s.
#[cfg(feature = "sqlite")]
async fn undecodable_sqlite(
    path: &str,
    filter: &ListFilter,
    inbox: &dyn Inbox,
    listed: &[Entry],
) -> Result<Vec<(usize, Undecodable)>, Failure> {
    use rusqlite::{params, Connection, OpenFlags};
    let cannot = |e: rusqlite::Error| format!("--sqlite {path}: listing the undecodable rows: {e}");
    let rows: Vec<(i64, String)> = {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(cannot)?;
        let mut stmt = conn
            .prepare(crate::inbox::sqlite::LIST_WINDOW_IDS_SQL)
            .map_err(cannot)?;
        let limit = i64::try_from(filter.limit.min(crate::inbox::MAX_LIST)).unwrap_or(0);
        stmt.query_map(
            params![
                filter.state.map(EntryState::as_str),
                filter.namespace,
                limit
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .and_then(|rows| rows.collect::<Result<_, _>>())
        .map_err(cannot)?
    };
    let mut out = Vec::new();
    let mut before = 0;
    for (id, state) in rows {
        let id = EntryId::new(id.to_string());
        if listed.iter().any(|e| e.id == id) {
            before += 1;
            continue;
        }
        // Decoded (written since the listing) or gone (purged since): not undecodable.
        let Err(e) = inbox.get(&id).await else {
            continue;
        };
        let text = e.to_string();
        let reason = match text.split_once("cannot be decoded: ") {
            Some((_, why)) => why.to_owned(),
            None => text,
        };
        out.push((
            before,
            Undecodable {
                id: id.as_str().to_owned(),
                state,
                reason,
            },
        ));
    }
    Ok(out)
}

#[cfg(not(feature = "sqlite"))]
async fn undecodable_sqlite(
    _path: &str,
    _filter: &ListFilter,
    _inbox: &dyn Inbox,
    _listed: &[Entry],
) -> Result<Vec<(usize, Undecodable)>, Failure> {
    Ok(Vec::new())
}

/// How long senders here retry a delivery (Sam gives up after 24 h, Standard Webhooks senders
/// after about 3 days): a key purged sooner may come back as a fresh delivery.
const RETRY_HORIZON: Duration = Duration::from_secs(72 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("7x").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
