//! Inboxes: one behaviour suite (`suite.rs`) run against every backend.

#[cfg(all(feature = "sqlite", feature = "axum", feature = "sender"))]
mod crash;
#[cfg(all(feature = "sqlite", feature = "axum", feature = "sender"))]
mod example_cli;
#[cfg(all(feature = "axum", feature = "actix"))]
mod http;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod suite;
