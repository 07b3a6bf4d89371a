//! Regression tests for the hardening review (issue 13): each test names the finding it covers
//! and fails with the fix reverted.

use std::time::Duration;

use chathooks::idempotency::{
    ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore, StoreFuture,
};
use chathooks::Error;

#[cfg(all(feature = "axum", feature = "actix", feature = "compression"))]
mod compressed;
mod config;
#[cfg(all(feature = "axum", feature = "actix"))]
mod http;
mod keys;
mod log_flood;
mod logs;
mod misuse;
mod repair_bound;
mod salesmartly_replay;
#[cfg(feature = "sender")]
mod sender_debug;

pub(crate) use crate::support::logs::capture_logs;

/// An idempotency store that is always down (503).
pub(crate) struct Down;

impl IdempotencyStore for Down {
    fn claim<'a>(&'a self, _: &'a IdempotencyKey, _: Duration) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async {
            Err(Error::StoreUnavailable {
                reason: "connection refused".into(),
                retry_after: Duration::from_secs(2),
            })
        })
    }
    fn complete<'a>(
        &'a self,
        _: &'a IdempotencyKey,
        _: ClaimToken,
        _: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn release<'a>(&'a self, _: &'a IdempotencyKey, _: ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
}
