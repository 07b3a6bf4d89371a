//! Server side of `benches/http_load.sh`: the extractor against a bare handler, same build,
//! same payload. Not a usage example; see `receiver.rs` for that.
//!
//! ```text
//! cargo run --release --example bench_server --features axum -- 127.0.0.1:3999 /tmp/body.json
//! ```
//!
//! Writes the payload (the Sam `lead.captured` fixture) to the given file, prints its
//! `X-Sam-Signature` as `SIGNATURE=<hex>`, then serves:
//!
//! - `POST /bare`: reads the body with axum's `Bytes` extractor, nothing else (the baseline);
//! - `POST /hook`: `Webhook<SamEvent>` (verify → parse → claim) with the Sam preset: the same
//!   body every time, so after the first request every one is a duplicate (answered 200 by the
//!   extractor, handler not run);
//! - `POST /fresh`: `Webhook<SamEvent>` whose delivery id comes from an unsigned
//!   `X-Delivery-Id` header, so a load generator that counts in that header makes every request
//!   a new delivery: verify, parse, claim, handler, complete;
//! - `POST /fresh-raw`: the same as `/fresh` with `Webhook<RawBody>` (no JSON parse), to tell
//!   the adapter's own cost from the cost of parsing.
//!
//! The dedupe id from a header is a benchmarking device: in production it must be signed or
//! come from the payload, or anyone replaying a captured request with a new header value would
//! pass as a fresh delivery.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::platform::sam::SamEvent;
use chathooks::receiver::RawBody;
use chathooks::verify::{HmacSha256, SignatureEncoding};
use chathooks::{MemoryStore, Receiver, Secret};

const SECRET: &str = "bench-secret-0123456789abcdef";
// Trimmed: the load script embeds the file with `$(cat ..)`, which drops a final newline.
const BODY_FILE: &str = include_str!("../tests/fixtures/sam/lead_captured.json");

async fn bare(body: Bytes) -> StatusCode {
    std::hint::black_box(body.len());
    StatusCode::OK
}

async fn hook(hook: Webhook<SamEvent>) -> StatusCode {
    std::hint::black_box(&hook.event);
    StatusCode::OK
}

async fn raw(hook: Webhook<RawBody>) -> StatusCode {
    std::hint::black_box(hook.event.0.len());
    StatusCode::OK
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3999".into());
    let body_out = args.next().unwrap_or_else(|| "bench_body.json".into());
    let body = BODY_FILE.trim_end();
    std::fs::write(&body_out, body)?;

    let sam = HmacSha256::sam(Secret::raw(SECRET)?);
    println!(
        "SIGNATURE={}",
        sam.signature(std::time::SystemTime::now(), body.as_bytes())
    );

    let duplicates = Arc::new(Receiver::<SamEvent>::builder(sam).build());
    let fresh_verifier = HmacSha256::builder("X-Sam-Signature")
        .secret(Secret::raw(SECRET)?)
        .optional_prefix("sha256=")
        .encoding(SignatureEncoding::HexOrBase64)
        .delivery_id_header("X-Delivery-Id")
        .scheme_name("sam")
        .build()?;
    let fresh_verifier_raw = fresh_verifier.clone();
    // Room for every delivery of a long run; the default (one million keys) could fill up.
    let fresh = Arc::new(
        Receiver::<SamEvent>::builder(fresh_verifier)
            .store(MemoryStore::new(8_000_000))
            .build(),
    );

    // Same verifier and store layout, no JSON parse: separates the adapter's cost from parsing.
    let fresh_raw = Arc::new(
        Receiver::<RawBody>::builder(fresh_verifier_raw)
            .store(MemoryStore::new(8_000_000))
            .build(),
    );

    let app = Router::new()
        .route("/bare", post(bare))
        .route("/hook", post(hook).with_state(duplicates))
        .route("/fresh", post(hook).with_state(fresh.clone()))
        .route("/fresh-raw", post(raw).with_state(fresh_raw))
        .layer(WebhookLayer::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
