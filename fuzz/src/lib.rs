//! Fuzz target bodies for chathooks. See `README.md`.

pub mod targets;
