//! Regression tests for the hardening review (issue 13): each test names the finding it covers
//! and fails with the fix reverted.

use std::io::Write;
use std::sync::{Arc, Mutex};
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

/// Everything written by the `tracing` subscriber installed by [`capture_logs`].
#[derive(Clone, Default)]
pub(crate) struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Run `f` on a current-thread runtime with every log event (TRACE and up) captured.
pub(crate) fn capture_logs<F: std::future::Future>(f: impl FnOnce() -> F) -> (F::Output, String) {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    });
    (out, buf.text())
}

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
