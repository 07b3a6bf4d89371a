//! # chathooks
//!
//! Receive webhooks from chat and sales-assistant platforms — Sam, SaleAssist, SaleSmartly,
//! Buzzi, ConversaLabs — and from any [Standard Webhooks](https://www.standardwebhooks.com)
//! sender: **verify** each delivery in constant time, **parse** it into typed events,
//! **dedupe** at-least-once deliveries, and **respond** with the right HTTP status.
//!
//! ```text
//!  bytes + headers + query ──► verify ──► parse ──► dedupe ──► your handler ──► 2xx / 4xx / 5xx
//!         (Inbound)           (Verified)  (typed     (Claim)
//!                                          event)
//! ```
//!
//! The core is sans-IO and framework-free: [`verify`] takes an [`Inbound`] (a borrowed view of
//! headers, query string and body bytes) and returns a [`Verified`] or an [`Error`] that knows
//! its HTTP status. Framework and storage adapters are optional features.
//!
//! ## Verify a Standard Webhooks delivery
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use chathooks::{Inbound, verify::{StandardWebhooks, Verifier}};
//!
//! let verifier = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
//! let body = br#"{"email":"test@example.com","username":"test_user"}"#;
//! let mut headers = http::HeaderMap::new();
//! headers.insert("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse().unwrap());
//! headers.insert("webhook-timestamp", "1649367553".parse().unwrap());
//! headers.insert(
//!     "webhook-signature",
//!     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".parse().unwrap(),
//! );
//! let now = UNIX_EPOCH + Duration::from_secs(1649367553);
//! let verified = verifier.verify_at(&Inbound::new(&headers, body), now)?;
//! assert_eq!(verified.signed_delivery_id(), Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
//! # Ok::<(), chathooks::Error>(())
//! ```
//!
//! ## Cookbook
//!
//! ### Verify and parse a vendor's delivery
//!
//! Each vendor has a verifier preset and a typed event enum. Sam signs with HMAC-SHA256 in
//! `X-Sam-Signature` (the exact layout is inferred; see [`verify::HmacSha256::sam`]):
//!
//! ```
//! use std::time::SystemTime;
//! use chathooks::{Inbound, Secret, verify::{HmacSha256, Verifier}};
//! use chathooks::platform::{VendorEvent, sam::SamEvent};
//!
//! let verifier = HmacSha256::sam(Secret::raw("sam-signing-secret-from-the-dashboard")?);
//! let body = br#"{"event":"lead.captured","tenant_id":42,"widget_id":"w_1",
//!   "timestamp":"2026-11-21T09:00:00Z","data":{"name":"Ana Lima","email":"ana@example.com"}}"#;
//! # let headers = verifier.sign(SystemTime::now(), body);
//! // `headers` are the request's headers; `body` its exact bytes.
//! let verified = verifier.verify(&Inbound::new(&headers, body))?;
//! match SamEvent::from_slice(verified.body())? {
//!     SamEvent::LeadCaptured(lead) => assert_eq!(lead.data.email.as_deref(), Some("ana@example.com")),
//!     other => println!("not handled: {}", other.name()),
//! }
//! # assert!(matches!(SamEvent::from_slice(body)?, SamEvent::LeadCaptured(_)), "the arm above ran");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ### One event model for every vendor
//!
//! `normalize()` turns any vendor event into [`Event`]: a kind, ids, the contact (lead), the
//! conversation and the message, whatever the vendor carries.
//!
//! ```
//! use chathooks::event::EventKind;
//! use chathooks::platform::{VendorEvent, salesmartly::SaleSmartlyEvent};
//!
//! let body = br#"{"event":"message","data":{"msg_type":"text","msg":"How much is it?",
//!   "chat_user_id":"u1","sequence_id":"1695787977126000","chat_session_id":130925,
//!   "channel":7,"sender_type":1,"send_time":"1695787977082","sys_user_id":0}}"#;
//! let event = SaleSmartlyEvent::from_slice(body)?.normalize();
//! assert_eq!(event.kind, EventKind::MessageReceived);
//! assert_eq!(event.message.unwrap().text.as_deref(), Some("How much is it?"));
//! # Ok::<(), chathooks::ParseError>(())
//! ```
//!
//! ### Verify, parse and dedupe in one call
//!
//! A [`Receiver`] runs the whole flow and hands back a [`Delivery`] to
//! [`complete`](Delivery::complete) when the handler succeeds; dropping it instead releases the
//! claim so the sender's retry is processed. See [`receiver`] for a full example, and the
//! `axum` / `actix` features for extractors that do this for you.
//!
//! ### axum
//!
//! The `Webhook<T>` extractor runs the whole flow before your handler; `WebhookLayer` completes
//! the claim when the handler answers 2xx and releases it otherwise (also on panic). One
//! receiver per route, several vendors per router:
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use std::sync::Arc;
//! use axum::{http::StatusCode, routing::post, Router};
//! use chathooks::integrations::axum::{Webhook, WebhookLayer};
//! use chathooks::platform::{sam::SamEvent, standard::StandardEvent};
//! use chathooks::{Receiver, Secret, verify::{HmacSha256, StandardWebhooks}};
//!
//! async fn sam(hook: Webhook<SamEvent>) -> StatusCode {
//!     println!("{:?}", hook.event.normalize().kind);
//!     StatusCode::OK
//! }
//! async fn standard(hook: Webhook<StandardEvent>) -> StatusCode {
//!     println!("{}", hook.event.event_type);
//!     StatusCode::OK
//! }
//!
//! let sam_rx = Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw("sam-secret-0123456789")?)).build();
//! let std_rx = Receiver::<StandardEvent>::builder(StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?).build();
//! let app: Router = Router::new()
//!     .route("/webhooks/sam", post(sam).with_state(Arc::new(sam_rx)))
//!     .route("/webhooks/standard", post(standard).with_state(Arc::new(std_rx)))
//!     .layer(WebhookLayer::new());
//! # }
//! # Ok::<(), chathooks::Error>(())
//! ```
//!
//! ### actix-web
//!
//! The same extractor with `web::Data<Receiver<T>>` and `WebhookMiddleware`; see
//! `integrations::actix` (feature `actix`) and `examples/actix_receiver.rs`.
//!
//! ### Any tower stack, plain hyper
//!
//! `integrations::tower::ReceiverLayer` (feature `tower`) does what the axum extractor does for
//! any `http::Request<B>` service: rejections and duplicates are answered by the layer, and the
//! inner service gets the verified body and `Webhook<T>` in the request extensions. See
//! `examples/hyper_receiver.rs`.
//!
//! ### Metrics and traces
//!
//! With feature `metrics`, receivers, adapters and workers emit through the
//! [`metrics`](https://docs.rs/metrics) facade: install a recorder (Prometheus, OpenTelemetry,
//! StatsD…) and `chathooks_deliveries_total{vendor,outcome,status}`, stage durations, unknown
//! events and inbox gauges appear; [`metrics`] lists every series and what to alert on.
//! Every delivery runs in a `webhook` tracing span with `vendor`, `delivery_id` (the signed
//! delivery id, or the event id the dedupe key came from: the worker's handler span carries the
//! same), `outcome` and `http.response.status_code`, names an OpenTelemetry exporter maps as
//! they are. Through the adapters the span stays open until the handler has answered and closes
//! with the handler's status; the handler (tower layer) and the line that settles the claim run
//! inside it. Install a `tracing` subscriber (`tracing-subscriber` with `RUST_LOG`, or
//! `tracing-opentelemetry`) to see them. No field ever holds a secret, a signature or a body.
//!
//! ### Deduplicate across replicas with Redis
//!
//! The in-memory store is per process; with several replicas, share a Redis store (feature
//! `redis`, one round trip per claim, auto-reconnecting):
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn run() -> Result<(), chathooks::Error> {
//! use std::time::Duration;
//! use chathooks::idempotency::{Dedupe, RedisStore};
//! use chathooks::{Receiver, verify::StandardWebhooks, platform::standard::StandardEvent};
//!
//! let store = RedisStore::connect("redis://127.0.0.1:6379/").await?.with_prefix("myapp:");
//! let receiver = Receiver::<StandardEvent>::builder(StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?)
//!     .dedupe(Dedupe::new(store).with_lease(Duration::from_secs(60)))
//!     .build();
//! # let _ = receiver; Ok(()) }
//! ```
//!
//! ### Send test events
//!
//! `sender::samples` generates realistic payloads for every documented event of every vendor and
//! `sender::Sender` signs and delivers them (feature `sender`); `examples/send.rs` does it from
//! the command line (`cargo run --example send --features sender -- --list`):
//!
//! ```no_run
//! # #[cfg(feature = "sender")]
//! # async fn run() -> Result<(), chathooks::Error> {
//! use chathooks::event::Vendor;
//! use chathooks::sender::{samples, Endpoint, Message, Sender, Signing};
//!
//! let sample = samples::generate(Vendor::Sam, "lead.captured", 7)?;
//! let sender = Sender::builder().allow_http(true).allow_private_addresses(true).build()?;
//! let endpoint = Endpoint::new(
//!     "http://127.0.0.1:3000/webhooks/sam",
//!     Signing::for_vendor(Vendor::Sam, &["sam-demo-secret-0123456789"])?,
//! )?;
//! let delivery = sender.deliver(&endpoint, &Message::new(sample.body)).await;
//! println!("delivered: {}", delivery.is_delivered());
//! # Ok(()) }
//! ```
//!
//! ### Logs: one line per delivery
//!
//! The receiver emits one `tracing` event per delivery, inside a `webhook{vendor=…}` span:
//! `accepted` (INFO, with the event name and dedupe key), `duplicate of a completed delivery`
//! (INFO) or `rejected` (WARN, with the HTTP status and the reason). They never hold a
//! secret, a signature or the body. Nothing is printed until the service installs a
//! subscriber; with `tracing-subscriber` (features `fmt`, `env-filter`), `RUST_LOG` picks the
//! level:
//!
//! ```ignore
//! tracing_subscriber::fmt()
//!     .with_env_filter(
//!         tracing_subscriber::EnvFilter::try_from_default_env()
//!             .unwrap_or_else(|_| "info".into()),
//!     )
//!     .init();
//! // INFO webhook{vendor=sam}: accepted event=lead.captured key=… latency_us=412
//! // WARN webhook{vendor=sam}: rejected status=401 error=no signature in `X-Sam-Signature` matches
//! ```
//!
//! `RUST_LOG=warn` keeps only the rejections; the examples do exactly this.
//!
//! A flood of forged requests does not become a flood of lines: each receiver logs at most 5
//! `rejected` lines per reason (bad signature, missing header, stale timestamp, 413, …) every
//! 10 s, and the first line of the next window says how many it left out:
//! `rejected (995 similar suppressed in the last 10 s)`. The state is one counter per reason,
//! and the windows follow the `now` the receiver is called with. Metrics (feature `metrics`)
//! still count every rejection.
//!
//! ### Key rotation
//!
//! Every verifier takes several secrets (and every signature header several signatures); any
//! match passes and [`Verified::key_index`] says which key matched, so you can tell when the
//! old key has stopped being used:
//!
//! ```
//! use chathooks::verify::StandardWebhooks;
//! let v = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?
//!     .add_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! # Ok::<(), chathooks::Error>(())
//! ```
//!
//! ### Unknown events
//!
//! An event name the crate does not know is never an error: every event enum has an
//! `Unknown { name, raw }` variant holding the body byte for byte, and every open set of
//! strings (channel, message type, status, stage) has an `Other(..)` variant.
//!
//! ```
//! use chathooks::platform::sam::SamEvent;
//! let body = br#"{"event":"visitor.typing","data":{"x":1}}"#;
//! let SamEvent::Unknown { name, raw } = SamEvent::from_slice(body)? else { unreachable!() };
//! assert_eq!(name, "visitor.typing");
//! assert_eq!(raw.get().as_bytes(), body);
//! # Ok::<(), chathooks::ParseError>(())
//! ```
//!
//! ### Messy and broken JSON
//!
//! Vendors send numbers as strings, `"Yes"` for booleans, JSON inside strings, `""` or `0` for
//! "not set" and several date formats; the parsers accept them ([`lenient`] has the helpers).
//! SaleAssist's own documentation sample is not even valid JSON: [`lenient::repair`] (opt-in,
//! also `ReceiverBuilder::repair(true)`) fixes missing and trailing commas, unbalanced closers
//! and a lost wrapper key, and reports every fix with its byte offset.
//!
//! ## HTTP status of every outcome
//!
//! | outcome | status |
//! |---|---|
//! | missing/malformed signature headers or timestamp | 400 |
//! | `Content-Encoding: gzip`/`deflate` body that does not decode (truncated, corrupt) | 400 |
//! | signature mismatch, stale or future timestamp, wrong token | 401 |
//! | body over limit (as sent, or once decoded) | 413 |
//! | `Content-Encoding` other than gzip, deflate or identity (`br`, `zstd`, a list) | 415 |
//! | body verified but unparseable for the vendor | 422 (body says where: path of the bad field) |
//! | duplicate of a completed delivery | 200 (handler not run) |
//! | duplicate still in flight | 409 with `Retry-After` |
//! | idempotency store or inbox unavailable | 503 with `Retry-After` |
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `ed25519` | Standard Webhooks `v1a` (Ed25519) signatures |
//! | `redis` | Redis idempotency store, and the Redis Streams inbox ([`inbox::RedisInbox`]), for receivers and workers on several machines; implies `worker` |
//! | `postgres` | Postgres idempotency store and inbox sharing one pool and one versioned schema ([`postgres`]); implies `worker` |
//! | `sqlite` | the durable inbox on one machine ([`inbox::SqliteInbox`]: bundled SQLite, WAL, group commit); implies `worker` |
//! | `worker` | the [`worker::Worker`]: leases from an inbox, typed handlers, retries with backoff, dead letters, graceful stop |
//! | `cli` | the `chathooks` binary: doctor, verify, parse, send, listen, replay, inbox |
//! | `axum` | axum 0.8 extractor |
//! | `actix` | actix-web 4 extractor |
//! | `tower` | a tower `Layer`/`Service` for any tower stack, plain hyper included ([`integrations::tower`]) |
//! | `metrics` | counters and histograms through the `metrics` facade ([`metrics`]) |
//! | `sender` | reference sender: signing, delivery with retries, SSRF guard, sample events |
//! | `compression` (**on by default**) | decode `Content-Encoding: gzip`/`deflate` bodies before verification, bounded by the body limit ([`encoding`]) |
//!
//! Only `compression` is on by default (`default-features = false` turns it off: compressed
//! bodies are then refused with 415).
//!
//! ## Security model
//!
//! - **Bytes in, bytes signed.** Signatures are checked over the exact body bytes; the body is
//!   never required to be UTF-8 and never re-serialised.
//! - **Constant time, length first.** Each candidate signature is decoded to exactly the digest
//!   length (`v1,`, empty, truncated and over-long signatures fail before any comparison) and
//!   compared with `subtle`. Static tokens are compared as SHA-256 digests, so neither their
//!   content nor their length leaks through timing.
//! - **Replay window.** Schemes with a timestamp check it in both directions (default 300 s,
//!   configurable) with checked arithmetic; the dedupe stage remembers completed deliveries for
//!   72 h by default, longer than every vendor's retry horizon.
//! - **Secrets never leak.** [`Secret`] has a redacted `Debug`, no `Display`, and its own bytes
//!   are zeroised on drop (clones included); errors name the header that was wrong, never the
//!   expected signature. Copies the crate cannot wipe without `unsafe` code, above all the
//!   HMAC/MD5 hasher states derived from the key (per check, and the keyed state a
//!   `StandardWebhooks` verifier keeps per secret), are listed in
//!   [`secret`](crate::secret#what-is-and-is-not-wiped).
//! - **Compressed bodies.** `gzip` and `deflate` are decoded before verification, the limit
//!   applying to the decoded bytes (a zip bomb is 413 and costs at most the limit); any other
//!   coding is 415; nothing is ever verified against compressed bytes ([`encoding`]).
//! - **What is inferred.** Only Standard Webhooks, GitHub, Slack and Stripe document their
//!   schemes completely. Sam, Buzzi and ConversaLabs document little or nothing of theirs and
//!   SaleSmartly leaves the signed bytes open: those presets pick the most likely scheme, say so
//!   in their docs, and stay configurable. SaleAssist does not sign at all; use a static token
//!   header ([`verify::Token`]).
//! - **Bounded.** Body size, JSON depth (serde_json's 128), repair input (1 MiB), signature
//!   header length, the in-memory store and every retry loop have limits.
//!
//! ## Deploying
//!
//! Forward the body byte for byte through proxies and TLS terminators (signatures cover the
//! exact bytes; leave `Content-Encoding` and the bytes as the sender made them, or decode both
//! together), give the platform a health-check route outside the webhook middleware, and share
//! a Redis or Postgres store (or the inbox) between replicas. `examples/receiver.rs` does all
//! of it.
//!
//! ### Put a body-read timeout in front of the receiver
//!
//! The receiver bounds how *much* it reads (the body limit), not how *long*: a sender (or an
//! attacker) that opens 40 uploads and then stalls would hold their connections and buffers
//! for as long as the server lets it. Bound the time in the server, in front of the webhook
//! routes; the examples use 10 s (`CHATHOOKS_BODY_TIMEOUT`). On axum (tower-http, feature
//! `timeout`):
//!
//! ```ignore
//! use std::time::Duration;
//! use axum::http::StatusCode;
//! use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
//!
//! let app = app
//!     .layer(WebhookLayer::new())
//!     // a gap of more than 10 s between body frames fails the read (408)…
//!     .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(10)))
//!     // …and the whole request, body included, must be answered within 10 s.
//!     .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(10)));
//! ```
//!
//! On actix-web, `HttpServer::client_request_timeout` bounds the request head, and a timeout
//! around the webhook scope bounds the body (see `examples/actix_receiver.rs`):
//!
//! ```ignore
//! HttpServer::new(move || {
//!     App::new().service(
//!         web::scope("/webhooks")
//!             .wrap(WebhookMiddleware::new())
//!             .wrap_fn(|req, srv| {
//!                 let call = srv.call(req);
//!                 async move {
//!                     match actix_web::rt::time::timeout(Duration::from_secs(10), call).await {
//!                         Ok(response) => response,
//!                         Err(_) => Err(actix_web::error::ErrorRequestTimeout("body too slow")),
//!                     }
//!                 }
//!             }),
//!             // … routes
//!     )
//! })
//! .client_request_timeout(Duration::from_secs(10))
//! ```
//!
//! With plain hyper and the tower layer, wrap the service in the same tower-http layers (or
//! `tokio::time::timeout` around each request) and set hyper's `header_read_timeout`.
//!
//! ## Versioning and MSRV
//!
//! The minimum supported Rust version is 1.89 (actix-web 4 needs it; the rest builds on 1.88).
//! Raising it is a minor-version change. Types of crates that have not reached 1.0 (hmac,
//! sha2, base64, redis, reqwest…) are kept out of the public API so they can be upgraded in
//! patch releases; `http`, `bytes`, `serde` and `serde_json` (all 1.x) appear in it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "sender", feature = "worker"))]
mod backoff;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(any(feature = "sender", feature = "cli"))]
mod credential;
pub mod encoding;
pub mod error;
pub mod event;
pub mod idempotency;
pub mod inbound;
pub mod inbox;
#[cfg(any(feature = "axum", feature = "actix", feature = "tower"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "axum", feature = "actix", feature = "tower")))
)]
pub mod integrations;
pub mod lenient;
pub mod metrics;
pub mod platform;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
pub mod receiver;
mod rejection_log;
pub mod secret;
#[cfg(feature = "sender")]
pub mod sender;
mod span;
pub mod verify;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker;

/// The parse stage's old name, kept for one release: use [`platform`] instead.
///
/// "vendor/" is the usual name for vendored third-party code, which tools skip; the module
/// was renamed to `platform` in 0.2.
#[deprecated(since = "0.2.0", note = "renamed to `chathooks::platform`")]
pub mod vendor {
    pub use crate::platform::*;
}

/// The `http` crate (1.x), re-exported so code using chathooks needs no `http = "1"` line of
/// its own: `chathooks::http::HeaderMap`, `chathooks::http::StatusCode`.
pub use http;

pub use crate::error::{Error, ParseError};
pub use crate::event::Event;
pub use crate::idempotency::{
    Claim, ClaimOutcome, Dedupe, IdempotencyKey, IdempotencyStore, MemoryStore,
};
pub use crate::inbound::Inbound;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use crate::inbox::RedisInbox;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use crate::inbox::SqliteInbox;
pub use crate::inbox::{Inbox, MemoryInbox, PutOutcome};
pub use crate::receiver::{Delivery, Received, Receiver};
pub use crate::secret::Secret;
pub use crate::verify::{Verified, Verifier};
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use crate::worker::{Job, Worker};

// The README's Rust snippets compile as doc tests (they use the axum integration).
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
