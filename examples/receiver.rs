//! A webhook receiver for every supported vendor, on axum.
//!
//! ```text
//! cargo run --example receiver --features axum
//! ```
//!
//! Listens on `127.0.0.1:3000` (override with `CHATHOOKS_ADDR=0.0.0.0:8080` or `PORT=8080`)
//! and serves one route per vendor, each with its own [`Receiver`]:
//!
//! | route | scheme | secret from env (demo default) |
//! |---|---|---|
//! | `POST /webhooks/sam` | HMAC-SHA256 `X-Sam-Signature` | `SAM_SECRET` (`sam-demo-secret-0123456789`) |
//! | `POST /webhooks/saleassist` | static token header | `SALEASSIST_HEADER` (`X-SaleAssist-Token`), `SALEASSIST_TOKEN` (`saleassist-demo-token-0123456789`) |
//! | `POST /webhooks/salesmartly` | MD5 query signature | `SALESMARTLY_SECRET` (`salesmartly-demo-key-0123456789`) |
//! | `POST /webhooks/buzzi` | HMAC-SHA256 `X-Webhook-Signature` | `BUZZI_SECRET` (`buzzi-demo-secret-0123456789`) |
//! | `POST /webhooks/conversalabs` | HMAC-SHA256 `X-Chatwoot-Signature` + timestamp | `CONVERSALABS_SECRET` (`conversalabs-demo-secret-0123456789`) |
//! | `POST /webhooks/standard` | Standard Webhooks v1 | `STANDARD_WEBHOOKS_SECRET` (`whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`) |
//!
//! The demo defaults are public: set real secrets before exposing this anywhere. On startup it
//! prints ready-to-paste `curl` commands that send correctly signed deliveries; each verified
//! event is printed typed and normalised. Send the same command twice to see deduplication.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::{Error, Receiver, Secret};

// Both examples (and the tests that start them in one binary) load this file.
#[allow(clippy::duplicate_mod)]
#[path = "shared/demo.rs"]
mod demo;
pub use demo::{demos, Config};

/// Print the delivery, then answer 200 (the claim completes).
async fn handle<E: VendorEvent + std::fmt::Debug>(hook: Webhook<E>) -> StatusCode {
    demo::print_delivery(&hook);
    StatusCode::OK
}

fn route<E: VendorEvent + std::fmt::Debug>(receiver: Receiver<E>) -> axum::routing::MethodRouter {
    // The state of each route is its own `Arc<Receiver<E>>`, found by the extractor via `FromRef`.
    post(handle::<E>).with_state(Arc::new(receiver))
}

/// The router: one receiver per vendor route, all behind one `WebhookLayer`.
pub fn router(c: &Config) -> Result<Router, Error> {
    Ok(Router::new()
        .route(
            "/webhooks/sam",
            route(
                Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(&c.sam_secret)?)).build(),
            ),
        )
        .route(
            "/webhooks/saleassist",
            route(
                Receiver::<SaleAssistEvent>::builder(Token::new(
                    c.saleassist_header.clone(),
                    &c.saleassist_token,
                )?)
                // SaleAssist's own documentation sample is not valid JSON; repair is reported.
                .repair(true)
                .build(),
            ),
        )
        .route(
            "/webhooks/salesmartly",
            route(
                Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(&c.salesmartly_secret)?)
                    .build(),
            ),
        )
        .route(
            "/webhooks/buzzi",
            route(
                Receiver::<BuzziEvent>::builder(HmacSha256::buzzi(Secret::raw(&c.buzzi_secret)?))
                    .build(),
            ),
        )
        .route(
            "/webhooks/conversalabs",
            route(
                Receiver::<ConversaLabsEvent>::builder(HmacSha256::conversalabs(Secret::raw(
                    &c.conversalabs_secret,
                )?))
                .build(),
            ),
        )
        .route(
            "/webhooks/standard",
            route(
                Receiver::<StandardEvent>::builder(StandardWebhooks::new(&c.standard_secret)?)
                    .build(),
            ),
        )
        .layer(WebhookLayer::new()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env();
    let app = router(&config)?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    println!("chathooks receiver (axum) listening on http://{addr}/webhooks/{{sam,saleassist,salesmartly,buzzi,conversalabs,standard}}");
    println!("Try a signed delivery (send it twice: the second is answered 200 as a duplicate, the handler does not run):\n");
    for demo in demos(&config, SystemTime::now())? {
        println!("# {}\n{}\n", demo.vendor, demo.curl(addr));
    }
    axum::serve(listener, app).await?;
    Ok(())
}
