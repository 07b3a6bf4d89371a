//! Integration tests: one binary, one module per area.

#[cfg(feature = "sender")]
mod sender;
