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
//! assert_eq!(verified.delivery_id(), Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
//! # Ok::<(), chathooks::Error>(())
//! ```
//!
//! ## HTTP status of every outcome
//!
//! | outcome | status |
//! |---|---|
//! | missing/malformed signature headers or timestamp | 400 |
//! | signature mismatch, stale or future timestamp, wrong token | 401 |
//! | body over limit | 413 |
//! | body verified but unparseable for the vendor | 422 (body says where: path of the bad field) |
//! | duplicate of a completed delivery | 200 (handler not run) |
//! | duplicate still in flight | 409 with `Retry-After` |
//! | idempotency store unavailable | 503 with `Retry-After` |
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `ed25519` | Standard Webhooks `v1a` (Ed25519) signatures |
//! | `redis` | Redis idempotency store for receivers on several replicas |
//! | `axum` | axum 0.8 extractor |
//! | `actix` | actix-web 4 extractor |
//! | `sender` | reference sender: signing, delivery with retries, SSRF guard, sample events |
//!
//! None is on by default.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod event;
pub mod idempotency;
pub mod inbound;
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix"))))]
pub mod integrations;
pub mod lenient;
pub mod receiver;
pub mod secret;
pub mod vendor;
pub mod verify;

pub use crate::error::{Error, ParseError};
pub use crate::event::Event;
pub use crate::idempotency::{
    Claim, ClaimOutcome, Dedupe, IdempotencyKey, IdempotencyStore, MemoryStore,
};
pub use crate::inbound::Inbound;
pub use crate::receiver::{Delivery, Received, Receiver};
pub use crate::secret::Secret;
pub use crate::verify::{Verified, Verifier};
