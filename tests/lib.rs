//! The one integration-test binary; each module below is one area of the crate.

mod audit;
#[cfg(feature = "cli")]
mod cli;
mod fuzz_corpus;
mod hardening;
mod idempotency;
mod inbox;
#[cfg(any(feature = "axum", feature = "actix"))]
mod integrations;
mod lenient_repair;
mod platform_buzzi;
mod platform_conversalabs;
mod platform_never_panic;
mod platform_real_payloads;
mod platform_saleassist;
mod platform_salesmartly;
mod platform_sam;
mod platform_standard;
#[cfg(feature = "postgres")]
mod postgres;
mod receiver;
#[cfg(all(feature = "sender", feature = "axum"))]
mod roundtrip;
#[cfg(feature = "sender")]
mod sender;
mod services;
mod support;
mod verify;
#[cfg(feature = "worker")]
mod worker;
