//! The one integration-test binary; each module below is one area of the crate.

mod fuzz_corpus;
mod idempotency;
#[cfg(any(feature = "axum", feature = "actix"))]
mod integrations;
mod lenient_repair;
mod receiver;
#[cfg(all(feature = "sender", feature = "axum"))]
mod roundtrip;
#[cfg(feature = "sender")]
mod sender;
mod vendor_buzzi;
mod vendor_conversalabs;
mod vendor_never_panic;
mod vendor_saleassist;
mod vendor_salesmartly;
mod vendor_sam;
mod vendor_standard;
mod verify;
