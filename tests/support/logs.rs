//! Log capture for the tests that check what chathooks logs (and never logs).

use std::io::Write;
use std::sync::{Arc, Mutex};

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

/// Run `f` on a current-thread runtime with every log event (TRACE and up) captured, without
/// colours; returns its output and the log text.
///
/// One capture at a time, and every callsite's interest recomputed once its subscriber is in
/// place: tracing's maximum level and each callsite's cached interest are global, and a
/// callsite registered by another thread while a subscriber comes or goes can cache "never"
/// (seen as a handler line without its `webhook_job` span).
pub(crate) fn capture_logs<F: std::future::Future>(f: impl FnOnce() -> F) -> (F::Output, String) {
    capture(false, f)
}

/// [`capture_logs`], with a line for each span as it closes (its fields as recorded by then).
#[allow(dead_code)] // tests/metrics.rs includes this file and uses only `capture_logs`
pub(crate) fn capture_logs_and_span_closes<F: std::future::Future>(
    f: impl FnOnce() -> F,
) -> (F::Output, String) {
    capture(true, f)
}

fn capture<F: std::future::Future>(
    span_closes: bool,
    f: impl FnOnce() -> F,
) -> (F::Output, String) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    // tracing-core computes a new callsite's interest from the *registering thread's* default
    // subscriber alone while at most one dispatcher is alive: a callsite first hit on another
    // test's thread while this capture's subscriber was the only one cached "never" for good
    // (a worker's handler line without its `webhook_job` span). A second dispatcher, alive for
    // the whole run, makes it ask every live dispatcher, this one included.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_span_events(if span_closes {
            tracing_subscriber::fmt::format::FmtSpan::CLOSE
        } else {
            tracing_subscriber::fmt::format::FmtSpan::NONE
        })
        .finish();
    let out = tracing::subscriber::with_default(subscriber, || {
        // A callsite first hit on another thread while this subscriber was being registered
        // may have cached "never" (tracing-core computes its interest from the dispatchers it
        // saw): recompute every callsite's interest now that this one is in place.
        tracing::callsite::rebuild_interest_cache();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    });
    (out, buf.text())
}
