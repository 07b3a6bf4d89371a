//! Server side of `benches/http_load.sh`: the extractor against a bare handler, same build,
//! same requests. Not a usage example; see `receiver.rs` for that.
//!
//! ```text
//! bench_server 127.0.0.1:3999 /tmp/template.json [--prefill N] [--count-allocs]
//! ```
//!
//! Writes the request template (the Sam `lead.captured` fixture with `data.id` set to
//! `lead_{{ID}}`) to the given file, prints `SIGN=hmac-hex:X-Sam-Signature:<secret>` for
//! `examples/bench_load.rs`, then serves:
//!
//! - `POST /bare`: reads the body with axum's `Bytes` extractor, nothing else (the baseline);
//! - `POST /hook`: `Webhook<SamEvent>` with the Sam preset: the load generator sends the same
//!   delivery every time (`--fixed`), so after the first request every one is a duplicate
//!   (verify, claim attempt, 200 from the extractor, handler not run);
//! - `POST /fresh`: `Webhook<SamEvent>` with the Sam preset. Sam signs only the body and its
//!   dedupe key comes from the payload (`event`, `data.id`, `timestamp`), so each request of
//!   the load generator, with its own `data.id` and its own signature, is a new delivery:
//!   verify, claim, parse, handler, complete;
//! - `POST /fresh-raw`: the same with `Webhook<RawBody>` (no JSON parse; key = SHA-256 of the
//!   body), to tell the adapter's own cost from the cost of parsing;
//! - `POST /fresh-floor`: the bare handler plus, by hand, the work no receiver of a fresh Sam
//!   delivery can skip: HMAC-SHA256 of the body against `X-Sam-Signature` (keyed once, constant
//!   time compare), the typed `SamEvent` parse, its dedupe key, and claim + complete in a
//!   `MemoryStore`. No `Receiver`, extractor, metrics, span or log: its ratio to `/bare` is the
//!   ceiling for `/fresh`, and `/fresh` minus `/fresh-floor` is what the library adds;
//! - `GET /stats`: `bare=N hook.fresh=N hook.duplicate=N fresh.fresh=N …` (handlers run and
//!   duplicates answered per route since start, plus `allocs=N` with `--count-allocs`); the
//!   line is also printed on stdout.
//!
//! All routes sit behind the same [`WebhookLayer`] and every handler bumps one counter, so the
//! bare route pays for the same layer and bookkeeping.
//!
//! `--prefill N` first fills the stores of `/fresh` and `/fresh-raw` with N completed keys
//! each, to show whether a store holding a day of deliveries slows fresh ones down.
//! `--count-allocs` counts heap allocations (a counting global allocator; off by default so the
//! timed runs pay nothing for it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chathooks::idempotency::{ClaimOutcome, Dedupe, IdempotencyKey, DEFAULT_WINDOW};
use chathooks::integrations::axum::{Webhook, WebhookLayer, WebhookRejection};
use chathooks::platform::sam::SamEvent;
use chathooks::receiver::{Payload, RawBody};
use chathooks::verify::HmacSha256;
use chathooks::{MemoryStore, Receiver, Secret};

const SECRET: &str = "bench-secret-0123456789abcdef";
const FIXTURE: &str = include_str!("../tests/fixtures/sam/lead_captured.json");

/// Counts allocations when switched on; one relaxed load per allocation otherwise.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Per route: handlers run (fresh deliveries) and duplicates the extractor answered.
struct Counts {
    fresh: AtomicU64,
    duplicate: AtomicU64,
}

impl Counts {
    const fn new() -> Self {
        Counts {
            fresh: AtomicU64::new(0),
            duplicate: AtomicU64::new(0),
        }
    }
}

static BARE: AtomicU64 = AtomicU64::new(0);
static HOOK: Counts = Counts::new();
static FRESH: Counts = Counts::new();
static FRESH_RAW: Counts = Counts::new();
static FLOOR: Counts = Counts::new();

type HmacSha256Raw = hmac::Hmac<sha2::Sha256>;

/// What `/fresh-floor` keeps: the HMAC keyed once (its inner and outer pads) and the store.
struct Floor {
    mac: HmacSha256Raw,
    store: MemoryStore,
}

/// `/fresh-floor` (see the module docs): the stages of a fresh delivery and nothing else.
async fn floor(State(floor): State<Arc<Floor>>, req: Request) -> StatusCode {
    use hmac::Mac;
    // The request taken apart as `Bytes` does it (axum's `HeaderMap` extractor would clone
    // the headers: work no receiver needs).
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST;
    };
    let mut sig = [0u8; 32];
    let signed = parts
        .headers
        .get("x-sam-signature")
        .is_some_and(|v| hex::decode_to_slice(v.as_bytes(), &mut sig).is_ok());
    let mut mac = floor.mac.clone();
    mac.update(&body);
    if !signed || mac.verify_slice(&sig).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(event) = <SamEvent as Payload>::parse(&body) else {
        return StatusCode::UNPROCESSABLE_ENTITY;
    };
    let Some(Ok(key)) = event
        .event_id()
        .map(|id| IdempotencyKey::new(SamEvent::NAMESPACE, &id))
    else {
        return StatusCode::UNPROCESSABLE_ENTITY;
    };
    let lease = Duration::from_secs(30);
    match floor.store.claim_now(&key, lease) {
        Ok(ClaimOutcome::Claimed(token)) => {
            std::hint::black_box(&event);
            let _ = floor.store.complete_now(&key, token, DEFAULT_WINDOW);
            FLOOR.fresh.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Ok(_) => {
            FLOOR.duplicate.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn bare(body: Bytes) -> StatusCode {
    std::hint::black_box(body.len());
    BARE.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// The handler of every webhook route: count, and answer 200 (or the extractor's rejection).
fn handle<T>(counts: &Counts, hook: Result<Webhook<T>, WebhookRejection>) -> Response {
    match hook {
        Ok(hook) => {
            std::hint::black_box(&hook.event);
            counts.fresh.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK.into_response()
        }
        Err(rejection) => {
            if rejection.duplicate_key().is_some() {
                counts.duplicate.fetch_add(1, Ordering::Relaxed);
            }
            rejection.into_response()
        }
    }
}

fn stats() -> String {
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut line = format!(
        "bare={} hook.fresh={} hook.duplicate={} fresh.fresh={} fresh.duplicate={} \
         fresh-raw.fresh={} fresh-raw.duplicate={} fresh-floor.fresh={} fresh-floor.duplicate={}",
        c(&BARE),
        c(&HOOK.fresh),
        c(&HOOK.duplicate),
        c(&FRESH.fresh),
        c(&FRESH.duplicate),
        c(&FRESH_RAW.fresh),
        c(&FRESH_RAW.duplicate),
        c(&FLOOR.fresh),
        c(&FLOOR.duplicate),
    );
    if COUNTING.load(Ordering::Relaxed) {
        line.push_str(&format!(" allocs={}", c(&ALLOCS)));
    }
    println!("stats: {line}");
    line.push('\n');
    line
}

/// An in-memory store with room for every delivery of a long run on top of `prefill`
/// completed keys.
fn prefilled_store(namespace: &str, prefill: u64) -> Result<MemoryStore, chathooks::Error> {
    let store = MemoryStore::new(8_000_000);
    let lease = Duration::from_secs(30);
    for i in 0..prefill {
        let key = IdempotencyKey::new(namespace, &format!("prefill-{i}"))?;
        if let ClaimOutcome::Claimed(token) = store.claim_now(&key, lease)? {
            store.complete_now(&key, token, DEFAULT_WINDOW)?;
        }
    }
    Ok(store)
}

/// A receiver with its own in-memory store, pre-filled with `prefill` completed keys.
fn fresh_receiver<T: Payload>(prefill: u64) -> Result<Arc<Receiver<T>>, chathooks::Error> {
    let store = Arc::new(prefilled_store(T::NAMESPACE, prefill)?);
    let receiver = Receiver::<T>::builder(HmacSha256::sam(Secret::raw(SECRET)?))
        .dedupe(Dedupe::from_arc(store))
        .build();
    Ok(Arc::new(receiver))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3999".into());
    let template_out = args.next().unwrap_or_else(|| "bench_template.json".into());
    let mut prefill = 0u64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prefill" => prefill = args.next().ok_or("--prefill N")?.parse()?,
            "--count-allocs" => COUNTING.store(true, Ordering::Relaxed),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    // Trimmed: a final newline is not part of what senders sign here.
    let template =
        FIXTURE
            .trim_end()
            .replacen(r#""id": "lead_2bd4e0""#, r#""id": "lead_{{ID}}""#, 1);
    if !template.contains("{{ID}}") {
        return Err("the Sam fixture changed: no data.id to vary".into());
    }
    std::fs::write(&template_out, &template)?;
    println!("SIGN=hmac-hex:X-Sam-Signature:{SECRET}");

    let duplicates =
        Arc::new(Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(SECRET)?)).build());
    let started = std::time::Instant::now();
    let fresh = fresh_receiver::<SamEvent>(prefill)?;
    let fresh_raw = fresh_receiver::<RawBody>(prefill)?;
    let floor_state = Arc::new(Floor {
        mac: <HmacSha256Raw as hmac::Mac>::new_from_slice(SECRET.as_bytes())?,
        store: prefilled_store(SamEvent::NAMESPACE, prefill)?,
    });
    if prefill > 0 {
        println!(
            "prefilled {prefill} completed keys per fresh store in {:?}",
            started.elapsed()
        );
    }

    let app = Router::new()
        .route("/bare", post(bare))
        .route(
            "/hook",
            post(|h: Result<Webhook<SamEvent>, WebhookRejection>| async move { handle(&HOOK, h) })
                .with_state(duplicates),
        )
        .route(
            "/fresh",
            post(|h: Result<Webhook<SamEvent>, WebhookRejection>| async move { handle(&FRESH, h) })
                .with_state(fresh),
        )
        .route(
            "/fresh-raw",
            post(|h: Result<Webhook<RawBody>, WebhookRejection>| async move {
                handle(&FRESH_RAW, h)
            })
            .with_state(fresh_raw),
        )
        .route("/fresh-floor", post(floor).with_state(floor_state))
        .route("/stats", get(|| async { stats() }))
        .layer(WebhookLayer::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
