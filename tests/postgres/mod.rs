//! Postgres backends: schema and migrations, the server going away and coming back. The shared
//! store suite runs on `PostgresStore` from `tests/idempotency/postgres.rs`.

#[cfg(feature = "axum")]
mod crash;
mod faults;
mod inbox;
mod schema;
pub mod service;
