//! Inboxes: one behaviour suite (`suite.rs`) run against every backend.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "redis")]
mod redis;
pub mod suite;
