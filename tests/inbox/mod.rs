//! Inboxes: one behaviour suite (`suite.rs`) run against every backend.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod suite;
