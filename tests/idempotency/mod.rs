//! Idempotency stores: one behaviour suite run against every store, Redis outage, and a model
//! property test.

mod memory;
mod model;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod suite;
mod support;
