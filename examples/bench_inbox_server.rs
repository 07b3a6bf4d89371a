//! Server side of `benches/inbox_load.sh`: accepted deliveries per second into each inbox
//! backend against the bare handler and the in-request `Webhook<T>` extractor, one server, one
//! build, the same requests. Not a usage example; see `inbox.rs` for that.
//!
//! ```text
//! bench_inbox_server 127.0.0.1:3997 /tmp/template.json /tmp/inbox-dir
//! ```
//!
//! Writes the request template (the Standard Webhooks `message_received` fixture with its
//! `message_id` set to `msg_{{ID}}`) to the given file, prints
//! `SIGN=standard:<whsec_…>` for `examples/bench_load.rs` (each request gets its own signed
//! `webhook-id`, so each is a distinct delivery) and `ROUTES=…` (the inbox routes this build and
//! environment can serve), then serves:
//!
//! - `POST /bare`: reads the body with axum's `Bytes` extractor, nothing else (the baseline);
//! - `POST /webhook`: `Webhook<StandardEvent>` with an in-memory dedupe store: verify, claim,
//!   parse, handler, complete, all inside the request (today's path without an inbox);
//! - `POST /memory`: `inbox_route` into a `MemoryInbox` (not durable);
//! - `POST /memory-floor`: the bare handler plus, by hand, what storing a fresh delivery cannot
//!   skip: the Standard Webhooks HMAC-SHA256 over `id.timestamp.body` (keyed once, constant-time
//!   compare, timestamp window), the key from the signed id, and `MemoryInbox::put_now` of an
//!   entry with the body and signed id. No `Receiver`, route, metrics or span: its ratio to
//!   `/bare` is the ceiling for `/memory`;
//! - `POST /sqlite`: `inbox_route` into a `SqliteInbox` in the given directory with the default
//!   options (`synchronous=NORMAL`, durable across `kill -9`; group commit on);
//! - `POST /sqlite-single`: the same on a second file with `group_commit(false)` (one
//!   transaction per put), to show what group commit buys;
//! - `POST /redis` (feature `redis`, `REDIS_URL` set): `inbox_route` into a `RedisInbox` on a
//!   key prefix of this run's own;
//! - `POST /postgres` (feature `postgres`, `DATABASE_URL` set): `inbox_route` into a
//!   `PostgresInbox` in the schema `chathooks_inbox_bench` (dropped and migrated at start);
//! - `GET /stats`: `bare=N webhook.fresh=N webhook.duplicate=N memory.accepted=N
//!   memory.duplicate=N …`: per inbox route, the puts its inbox answered `Accepted` and
//!   `Duplicate` (counted by a wrapper around the inbox, so the script can check that every 2xx
//!   answer stored a fresh entry).
//!
//! No worker runs: this measures the receiving side only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chathooks::idempotency::{Dedupe, IdSource, IdempotencyKey};
use chathooks::inbox::{
    AfterFailure, Entry, EntryId, Inbox, InboxFuture, InboxStats, Lease, LeaseToken, ListFilter,
    MemoryInbox, NewEntry, PutOutcome, ReplaySelector, SqliteInbox,
};
use chathooks::integrations::axum::{inbox_route, Webhook, WebhookLayer, WebhookRejection};
use chathooks::platform::standard::StandardEvent;
use chathooks::verify::StandardWebhooks;
use chathooks::{MemoryStore, Receiver};

#[cfg(feature = "postgres")]
#[path = "shared/bench_pg.rs"]
mod bench_pg;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const FIXTURE: &str = include_str!("../tests/fixtures/standard/message_received.json");

/// An inbox that counts what its puts answered, and forwards everything else unchanged.
struct Counted {
    inner: Arc<dyn Inbox>,
    accepted: AtomicU64,
    duplicate: AtomicU64,
}

impl Inbox for Counted {
    fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
        Box::pin(async move {
            let outcome = self.inner.put(entry).await?;
            let counter = match outcome {
                PutOutcome::Accepted(_) => &self.accepted,
                _ => &self.duplicate,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(outcome)
        })
    }
    fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
        self.inner.lease(max, lease)
    }
    fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        self.inner.ack(id, token)
    }
    // Forwarded, not left to the provided loop over `ack`: the backends batch it.
    fn ack_many<'a>(&'a self, leases: &'a [(EntryId, LeaseToken)]) -> InboxFuture<'a, Vec<bool>> {
        self.inner.ack_many(leases)
    }
    fn fail<'a>(
        &'a self,
        id: &'a EntryId,
        token: LeaseToken,
        error: &'a str,
        then: AfterFailure,
    ) -> InboxFuture<'a, bool> {
        self.inner.fail(id, token, error, then)
    }
    fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        self.inner.release(id, token)
    }
    fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
        self.inner.get(id)
    }
    fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
        self.inner.list(filter)
    }
    fn stats(&self) -> InboxFuture<'_, InboxStats> {
        self.inner.stats()
    }
    fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
        self.inner.replay(selector)
    }
    fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
        self.inner.purge(older_than)
    }
}

static BARE: AtomicU64 = AtomicU64::new(0);
static FRESH: AtomicU64 = AtomicU64::new(0);
static DUPLICATE: AtomicU64 = AtomicU64::new(0);

async fn bare(body: Bytes) -> StatusCode {
    std::hint::black_box(body.len());
    BARE.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

async fn webhook(hook: Result<Webhook<StandardEvent>, WebhookRejection>) -> Response {
    match hook {
        Ok(hook) => {
            std::hint::black_box(&hook.event);
            FRESH.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK.into_response()
        }
        Err(rejection) => {
            if rejection.duplicate_key().is_some() {
                DUPLICATE.fetch_add(1, Ordering::Relaxed);
            }
            rejection.into_response()
        }
    }
}

static FLOOR_ACCEPTED: AtomicU64 = AtomicU64::new(0);
static FLOOR_DUPLICATE: AtomicU64 = AtomicU64::new(0);

/// What `/memory-floor` keeps: the HMAC keyed once and the inbox it puts into directly.
struct MemoryFloor {
    mac: hmac::Hmac<sha2::Sha256>,
    inbox: MemoryInbox,
}

/// `/memory-floor` (see the module docs): verify and put, nothing else.
async fn memory_floor(State(floor): State<Arc<MemoryFloor>>, req: Request) -> StatusCode {
    use base64::Engine as _;
    use hmac::Mac;
    use subtle::ConstantTimeEq;
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST;
    };
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sigs)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return StatusCode::BAD_REQUEST;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if ts.parse::<i64>().map_or(true, |t| (now - t).abs() > 300) {
        return StatusCode::UNAUTHORIZED;
    }
    let mut mac = floor.mac.clone();
    for part in [id.as_bytes(), b".", ts.as_bytes(), b".", &body] {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    let signed = sigs
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|b64| {
            let mut sig = [0u8; 32];
            base64::engine::general_purpose::STANDARD
                .decode_slice(b64, &mut sig)
                .is_ok_and(|n| n == 32 && bool::from(sig.ct_eq(&tag)))
        });
    if !signed {
        return StatusCode::UNAUTHORIZED;
    }
    let ns = <StandardEvent as chathooks::receiver::Payload>::NAMESPACE;
    let Ok(key) = IdempotencyKey::with_source(ns, IdSource::SignedDelivery, id) else {
        return StatusCode::BAD_REQUEST;
    };
    let entry = NewEntry::new(ns, ns, key, body).with_signed_delivery_id(id);
    match floor.inbox.put_now(entry) {
        Ok(PutOutcome::Accepted(_)) => {
            FLOOR_ACCEPTED.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Ok(_) => {
            FLOOR_DUPLICATE.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn receiver(inbox: Arc<Counted>) -> Result<Arc<Receiver<StandardEvent>>, chathooks::Error> {
    Ok(Arc::new(
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(SECRET)?)
            .inbox_arc(inbox)
            .build(),
    ))
}

fn counted(inner: Arc<dyn Inbox>) -> Arc<Counted> {
    Arc::new(Counted {
        inner,
        accepted: AtomicU64::new(0),
        duplicate: AtomicU64::new(0),
    })
}

#[cfg(feature = "redis")]
async fn redis_inbox() -> Result<Option<Arc<dyn Inbox>>, Box<dyn std::error::Error>> {
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    // A prefix of this run's own: earlier runs' keys are never duplicates of this one's.
    let prefix = format!(
        "chathooks-bench:inbox:{}:",
        &chathooks::idempotency::ClaimToken::generate().to_hex()[..12]
    );
    let inbox = chathooks::inbox::RedisInbox::connect(&url)
        .await?
        .with_prefix(prefix);
    Ok(Some(Arc::new(inbox)))
}

#[cfg(not(feature = "redis"))]
async fn redis_inbox() -> Result<Option<Arc<dyn Inbox>>, Box<dyn std::error::Error>> {
    Ok(None)
}

#[cfg(feature = "postgres")]
async fn postgres_inbox() -> Result<Option<Arc<dyn Inbox>>, Box<dyn std::error::Error>> {
    use chathooks::postgres::PostgresInbox;
    const SCHEMA: &str = "chathooks_inbox_bench";
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let pool = bench_pg::fresh_schema_pool(&url, SCHEMA, |o| o).await?;
    Ok(Some(Arc::new(PostgresInbox::new(&pool))))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_inbox() -> Result<Option<Arc<dyn Inbox>>, Box<dyn std::error::Error>> {
    Ok(None)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3997".into());
    let template_out = args
        .next()
        .unwrap_or_else(|| "bench_inbox_template.json".into());
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let template =
        FIXTURE
            .trim_end()
            .replacen(r#""message_id":"msg_1""#, r#""message_id":"msg_{{ID}}""#, 1);
    if !template.contains("{{ID}}") {
        return Err("the Standard Webhooks fixture changed: no message_id to vary".into());
    }
    std::fs::write(&template_out, &template)?;
    println!("SIGN=standard:{SECRET}");

    // Room for every delivery of a long run.
    let memory: Arc<dyn Inbox> = Arc::new(MemoryInbox::with_limits(8_000_000, 8 << 30));
    let mut inboxes: Vec<(&str, Arc<Counted>)> = vec![
        ("memory", counted(memory)),
        (
            "sqlite",
            counted(Arc::new(SqliteInbox::open(dir.join("bench.sqlite"))?)),
        ),
        (
            "sqlite-single",
            counted(Arc::new(
                SqliteInbox::options()
                    .group_commit(false)
                    .open(dir.join("bench-single.sqlite"))?,
            )),
        ),
    ];
    if let Some(inbox) = redis_inbox().await? {
        inboxes.push(("redis", counted(inbox)));
    }
    if let Some(inbox) = postgres_inbox().await? {
        inboxes.push(("postgres", counted(inbox)));
    }
    let mut names: Vec<&str> = inboxes.iter().map(|(n, _)| *n).collect();
    names.insert(1, "memory-floor");
    println!("ROUTES={}", names.join(" "));
    let whsec = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        SECRET.trim_start_matches("whsec_"),
    )?;
    let floor = Arc::new(MemoryFloor {
        mac: <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&whsec)?,
        inbox: MemoryInbox::with_limits(8_000_000, 8 << 30),
    });

    let fresh = Arc::new(
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(SECRET)?)
            .dedupe(Dedupe::from_arc(Arc::new(MemoryStore::new(8_000_000))))
            .build(),
    );
    let mut app = Router::new()
        .route("/bare", post(bare))
        .route("/webhook", post(webhook).with_state(fresh))
        .route("/memory-floor", post(memory_floor).with_state(floor));
    for (name, inbox) in &inboxes {
        app = app.route(&format!("/{name}"), inbox_route(receiver(inbox.clone())?));
    }
    let app = app
        .route(
            "/stats",
            get(move || {
                let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
                let mut line = format!(
                    "bare={} webhook.fresh={} webhook.duplicate={} memory-floor.accepted={} \
                     memory-floor.duplicate={}",
                    c(&BARE),
                    c(&FRESH),
                    c(&DUPLICATE),
                    c(&FLOOR_ACCEPTED),
                    c(&FLOOR_DUPLICATE)
                );
                for (name, inbox) in &inboxes {
                    line.push_str(&format!(
                        " {name}.accepted={} {name}.duplicate={}",
                        c(&inbox.accepted),
                        c(&inbox.duplicate)
                    ));
                }
                line.push('\n');
                async move { line }
            }),
        )
        // Every route pays for the same layer; only /webhook uses it.
        .layer(WebhookLayer::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
