//! Server side of `benches/http_load_postgres.sh`: accepted deliveries per second into
//! `PostgresInbox` against a bare handler, same build, same payload. Not a usage example.
//!
//! ```text
//! DATABASE_URL=postgres://… cargo run --release --example bench_pg_server \
//!     --features axum,postgres -- 127.0.0.1:3998 /tmp/body.json
//! ```
//!
//! Writes the payload (the Sam `lead.captured` fixture) to the given file, prints its
//! `X-Sam-Signature` as `SIGNATURE=<hex>`, migrates the schema `chathooks_http_bench` (dropped
//! first), then serves:
//!
//! - `POST /bare`: reads the body with axum's `Bytes` extractor, nothing else (the baseline);
//! - `POST /inbox`: verify (HMAC-SHA256, Sam preset layout), then `PostgresInbox::put` under the
//!   delivery id of the `X-Delivery-Id` header, answering 200 only after the insert committed
//!   (503 + Retry-After when Postgres cannot answer).
//!
//! The dedupe id from an unsigned header is a benchmarking device (a load generator counts in
//! it); in production it must be signed or come from the payload.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chathooks::idempotency::{IdSource, IdempotencyKey};
use chathooks::inbox::{Inbox, NewEntry};
use chathooks::postgres::PostgresInbox;
use chathooks::verify::{HmacSha256, SignatureEncoding, Verifier};

#[path = "shared/bench_pg.rs"]
mod bench_pg;
use chathooks::{Inbound, Secret};

const SECRET: &str = "bench-secret-0123456789abcdef";
const BODY_FILE: &str = include_str!("../tests/fixtures/sam/lead_captured.json");
const SCHEMA: &str = "chathooks_http_bench";

struct App {
    verifier: HmacSha256,
    inbox: PostgresInbox,
}

async fn bare(body: Bytes) -> StatusCode {
    std::hint::black_box(body.len());
    StatusCode::OK
}

async fn inbox(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = match app.verifier.verify(&Inbound::new(&headers, &body)) {
        Ok(v) => v,
        Err(e) => return e.status().into_response(),
    };
    let Some(id) = verified.unsigned_delivery_id() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let key = match IdempotencyKey::with_source("sam", IdSource::Custom, id) {
        Ok(k) => k,
        Err(e) => return e.status().into_response(),
    };
    let entry = NewEntry::new("sam", "sam", key, body.clone());
    match app.inbox.put(entry).await {
        Ok(_) => (StatusCode::OK, "{\"ok\":true}").into_response(),
        Err(e) => {
            let after = e.retry_after().unwrap_or(Duration::from_secs(1)).as_secs();
            (e.status(), [("retry-after", after.max(1).to_string())]).into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3998".into());
    let body_out = args.next().unwrap_or_else(|| "bench_body.json".into());
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let body = BODY_FILE.trim_end();
    std::fs::write(&body_out, body)?;

    let sam = HmacSha256::sam(Secret::raw(SECRET)?);
    println!(
        "SIGNATURE={}",
        sam.signature(std::time::SystemTime::now(), body.as_bytes())
    );
    let verifier = HmacSha256::builder("X-Sam-Signature")
        .secret(Secret::raw(SECRET)?)
        .optional_prefix("sha256=")
        .encoding(SignatureEncoding::HexOrBase64)
        .delivery_id_header("X-Delivery-Id")
        .scheme_name("sam")
        .build()?;

    let connections: usize = std::env::var("PG_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let pool =
        bench_pg::fresh_schema_pool(&url, SCHEMA, |o| o.max_connections(connections)).await?;
    let app = Arc::new(App {
        verifier,
        inbox: PostgresInbox::new(&pool),
    });

    let router = Router::new()
        .route("/bare", post(bare))
        .route("/inbox", post(inbox).with_state(app));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
