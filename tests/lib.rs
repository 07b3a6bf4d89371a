//! The one integration-test binary; each module below is one area of the crate.

mod lenient_repair;
#[cfg(feature = "sender")]
mod sender;
