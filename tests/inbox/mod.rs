//! Inboxes: one behaviour suite (`suite.rs`) run against every backend.

mod memory;
pub mod suite;
