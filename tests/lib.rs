//! The one integration-test binary; each module below is one area of the crate.

mod fuzz_corpus;
mod lenient_repair;
