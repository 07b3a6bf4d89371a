//! The one integration-test binary: each stage's tests live in a module under `tests/`.

mod idempotency;
