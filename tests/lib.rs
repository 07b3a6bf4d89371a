//! The one integration-test binary: each stage's tests live in a module below.

mod verify;
