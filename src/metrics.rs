//! Metrics users can alert on, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! Recording needs the feature `metrics`; without it this module's types still exist (so code
//! that names them builds either way) and every `record_*` call is a no-op.
//!
//! chathooks only *emits*; the service chooses where the numbers go by installing a recorder
//! (`metrics-exporter-prometheus` for a `/metrics` page, an OpenTelemetry or StatsD bridge…).
//! Without a recorder every call is a no-op. Names follow OpenTelemetry's conventions where one
//! exists (durations in seconds, `_total` counters, `http.response.status_code`-style status
//! values); every label value comes from a fixed set or from the configured vendors and
//! namespaces, never from an event id, so the number of series stays bounded.
//!
//! | metric | kind | labels | what it counts |
//! |---|---|---|---|
//! | `chathooks_deliveries_total` | counter | `vendor`, `outcome`, `status` | every delivery a receiver answered, by [`Outcome`] and HTTP status (in-request mode: the handler's status for accepted deliveries, 500 for a handler that panicked; inbox mode: the inbox route's answer for stored and duplicate ones) |
//! | `chathooks_unknown_events_total` | counter | `vendor`, `name` | verified deliveries of an event the typed parser does not know (schema drift); at most [`MAX_UNKNOWN_NAMES`] names per vendor, the rest as `name="other"` |
//! | `chathooks_stage_duration_seconds` | histogram | `vendor`, `stage` | time spent in each [`Stage`]: `verify`, `parse`, `dedupe`, `handler` (in-request mode), `inbox_put` (inbox mode, failed puts included) |
//! | `chathooks_inbox_entries` | gauge | `state` | entries per inbox state (`pending`, `leased`, `retrying`, `dead`, `done`), as of the last [`record_inbox_stats`] |
//! | `chathooks_inbox_oldest_pending_age_seconds` | gauge | — | how long the oldest pending entry has waited |
//! | `chathooks_worker_attempts_total` | counter | `namespace`, `outcome` | handler runs by the worker: `ok`, `retry`, `dead`; leases given back at shutdown as `released` (namespace `*`). Namespaces are the worker's routes (`unrouted` for the rest) |
//! | `chathooks_worker_retries_total` | counter | `namespace` | failed attempts scheduled for another try |
//! | `chathooks_worker_dead_letters_total` | counter | `namespace` | entries that went to the dead letters |
//!
//! Each metric's unit and description reach the recorder (`# HELP` lines on a Prometheus page,
//! units for an OpenTelemetry bridge) the first time chathooks records into it; [`describe`]
//! sends them at once.
//!
//! Each thread keeps the handles of the per-delivery series it registered with the
//! process-wide recorder, so a delivery pays a few atomic adds rather than a registry lookup
//! per series; with a thread-local recorder (`metrics::with_local_recorder`, in tests) every
//! call goes to that recorder as usual.
//!
//! Useful alerts: a rise of `outcome="rejected_signature"` for one vendor (a rotated or wrong
//! secret), any `store_unavailable`, `chathooks_unknown_events_total` increasing (a vendor
//! started sending an event you do not handle), `chathooks_inbox_oldest_pending_age_seconds`
//! above your latency budget, and `chathooks_worker_dead_letters_total` increasing.
//!
//! ```
//! // In the service's main, once (here with the Prometheus exporter):
//! // let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! // and serve `handle.render()` on GET /metrics.
//! use chathooks::metrics::{Outcome, Stage};
//! assert_eq!(Outcome::RejectedSignature.as_str(), "rejected_signature");
//! assert_eq!(Stage::InboxPut.as_str(), "inbox_put");
//! ```

#[cfg(feature = "metrics")]
mod handles;

#[cfg(feature = "metrics")]
use std::collections::{HashMap, HashSet};
#[cfg(feature = "metrics")]
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::inbox::InboxStats;
use crate::Error;

/// Bucket boundaries (seconds) suited to [`STAGE_DURATION_SECONDS`]: 10 µs to 10 s.
///
/// Give them to the recorder so the stage durations are recorded as bucketed histograms,
/// which cost a few atomic adds per sample. Without buckets, `metrics-exporter-prometheus`
/// records summaries, and their quantile sketches cost far more per delivery (see
/// BENCHMARKS.md):
///
/// ```
/// # #[cfg(any())] {
/// metrics_exporter_prometheus::PrometheusBuilder::new()
///     .set_buckets_for_metric(
///         metrics_exporter_prometheus::Matcher::Full(chathooks::metrics::STAGE_DURATION_SECONDS.into()),
///         chathooks::metrics::STAGE_DURATION_BUCKETS,
///     )?
///     .install_recorder()?;
/// # }
/// assert!(chathooks::metrics::STAGE_DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
/// ```
pub const STAGE_DURATION_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Name of the deliveries counter.
pub const DELIVERIES_TOTAL: &str = "chathooks_deliveries_total";
/// Name of the unknown-events counter.
pub const UNKNOWN_EVENTS_TOTAL: &str = "chathooks_unknown_events_total";
/// Name of the stage-duration histogram.
pub const STAGE_DURATION_SECONDS: &str = "chathooks_stage_duration_seconds";
/// Name of the inbox entries gauge.
pub const INBOX_ENTRIES: &str = "chathooks_inbox_entries";
/// Name of the oldest-pending-age gauge.
pub const INBOX_OLDEST_PENDING_AGE_SECONDS: &str = "chathooks_inbox_oldest_pending_age_seconds";
/// Name of the worker attempts counter.
pub const WORKER_ATTEMPTS_TOTAL: &str = "chathooks_worker_attempts_total";
/// Name of the worker retries counter.
pub const WORKER_RETRIES_TOTAL: &str = "chathooks_worker_retries_total";
/// Name of the dead-letters counter.
pub const WORKER_DEAD_LETTERS_TOTAL: &str = "chathooks_worker_dead_letters_total";

/// At most this many distinct unknown event names are counted per vendor; later names count as
/// `"other"`. Names are also cut to 64 bytes of `[A-Za-z0-9._:-]`.
pub const MAX_UNKNOWN_NAMES: usize = 64;

/// How a receiver answered one delivery: the `outcome` label of `chathooks_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Verified, fresh, and handed to the handler or stored in the inbox.
    Accepted,
    /// A retry of a delivery already processed (or stored): answered 200, nothing run.
    Duplicate,
    /// Missing, malformed or wrong signature or token (400/401).
    RejectedSignature,
    /// Missing, malformed, stale or future timestamp (400/401).
    RejectedTimestamp,
    /// Verified but unparseable for the vendor (422).
    RejectedParse,
    /// Body over the limit (413).
    TooLarge,
    /// A `Content-Encoding` that is not decoded (415) or a body that does not decode (400).
    RejectedEncoding,
    /// The same delivery is being processed right now (409).
    InFlight,
    /// The idempotency store or inbox did not answer (503).
    StoreUnavailable,
    /// A configuration mistake on the receiving side (500).
    Error,
}

impl Outcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::RejectedSignature => "rejected_signature",
            Outcome::RejectedTimestamp => "rejected_timestamp",
            Outcome::RejectedParse => "rejected_parse",
            Outcome::TooLarge => "too_large",
            Outcome::RejectedEncoding => "rejected_encoding",
            Outcome::InFlight => "in_flight",
            Outcome::StoreUnavailable => "store_unavailable",
            Outcome::Error => "error",
        }
    }

    /// The outcome a rejection with `error` stands for.
    pub fn of_error(error: &Error) -> Self {
        match error {
            Error::InvalidTimestamp { .. }
            | Error::TimestampTooOld { .. }
            | Error::TimestampInFuture { .. } => Outcome::RejectedTimestamp,
            Error::BodyTooLarge { .. } => Outcome::TooLarge,
            Error::UnsupportedEncoding(_) | Error::InvalidEncoding { .. } => {
                Outcome::RejectedEncoding
            }
            Error::Parse(_) => Outcome::RejectedParse,
            Error::InFlight { .. } => Outcome::InFlight,
            Error::StoreUnavailable { .. } => Outcome::StoreUnavailable,
            Error::InvalidSecret(_) | Error::Config(_) => Outcome::Error,
            _ => Outcome::RejectedSignature,
        }
    }
}

/// A stage of the flow: the `stage` label of `chathooks_stage_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Signature or token check.
    Verify,
    /// Typed parse (and repair, when allowed).
    Parse,
    /// Idempotency claim.
    Dedupe,
    /// The service's handler, from the claim to its answer.
    Handler,
    /// Storing the delivery in the inbox.
    InboxPut,
}

impl Stage {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Verify => "verify",
            Stage::Parse => "parse",
            Stage::Dedupe => "dedupe",
            Stage::Handler => "handler",
            Stage::InboxPut => "inbox_put",
        }
    }
}

/// What a worker did with one attempt: the `outcome` label of `chathooks_worker_attempts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerOutcome {
    /// The handler succeeded; the entry was acknowledged.
    Ok,
    /// The handler failed; another attempt is scheduled.
    Retry,
    /// The handler failed for the last time, or the body did not parse: dead letter.
    Dead,
    /// The lease was given back unhandled (shutdown).
    Released,
}

impl WorkerOutcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkerOutcome::Ok => "ok",
            WorkerOutcome::Retry => "retry",
            WorkerOutcome::Dead => "dead",
            WorkerOutcome::Released => "released",
        }
    }
}

/// Register each metric's unit and description with the current recorder, so a Prometheus
/// page shows `# HELP` lines and an OpenTelemetry bridge gets the units (seconds for the
/// durations and the pending age).
///
/// chathooks calls this itself the first time it records into the process-wide recorder, and
/// on every call into a thread-local one (`metrics::with_local_recorder`); call it after
/// installing a recorder to have the descriptions before the first delivery.
///
/// ```
/// chathooks::metrics::describe(); // a no-op without a recorder or without feature `metrics`
/// ```
pub fn describe() {
    #[cfg(feature = "metrics")]
    {
        use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
        describe_counter!(
            DELIVERIES_TOTAL,
            Unit::Count,
            "Deliveries a chathooks receiver answered, by vendor, outcome and HTTP status."
        );
        describe_counter!(
            UNKNOWN_EVENTS_TOTAL,
            Unit::Count,
            "Verified deliveries of an event the typed parser does not know (schema drift)."
        );
        describe_histogram!(
            STAGE_DURATION_SECONDS,
            Unit::Seconds,
            "Time spent in each stage of receiving a delivery: verify, parse, dedupe, handler, \
             inbox_put."
        );
        describe_gauge!(
            INBOX_ENTRIES,
            Unit::Count,
            "Inbox entries per state (pending, leased, retrying, dead, done)."
        );
        describe_gauge!(
            INBOX_OLDEST_PENDING_AGE_SECONDS,
            Unit::Seconds,
            "How long the oldest pending inbox entry has waited."
        );
        describe_counter!(
            WORKER_ATTEMPTS_TOTAL,
            Unit::Count,
            "Handler runs by the inbox worker, by namespace and outcome (ok, retry, dead, \
             released)."
        );
        describe_counter!(
            WORKER_RETRIES_TOTAL,
            Unit::Count,
            "Failed worker attempts scheduled for another try."
        );
        describe_counter!(
            WORKER_DEAD_LETTERS_TOTAL,
            Unit::Count,
            "Inbox entries that went to the dead letters."
        );
    }
}

/// [`describe`] into the current recorder unless the process-wide recorder at this address
/// was described already: one atomic load on the path of every record.
#[cfg(feature = "metrics")]
pub(crate) fn describe_once(recorder: usize, process_wide: bool) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DESCRIBED: AtomicUsize = AtomicUsize::new(0);
    if !process_wide {
        // A thread-local recorder may reuse a dropped one's address: always described.
        describe();
    } else if DESCRIBED.load(Ordering::Relaxed) != recorder
        && DESCRIBED.swap(recorder, Ordering::Relaxed) != recorder
    {
        describe();
    }
}

/// [`describe_once`] for the current recorder.
#[cfg(feature = "metrics")]
fn describe_current() {
    let recorder = handles::current();
    describe_once(recorder, handles::is_process_wide(recorder));
}

/// Count one answered delivery.
pub fn record_delivery(vendor: &'static str, outcome: Outcome, status: u16) {
    #[cfg(feature = "metrics")]
    {
        handles::count_delivery(vendor, outcome, status);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (vendor, outcome, status);
}

/// Count one rejection by its error (outcome and status from the error).
pub fn record_rejection(vendor: &'static str, error: &Error) {
    record_delivery(vendor, Outcome::of_error(error), error.status().as_u16());
}

/// Record how long `stage` took.
pub fn record_stage(vendor: &'static str, stage: Stage, took: Duration) {
    #[cfg(feature = "metrics")]
    {
        handles::record_stage(vendor, stage, took.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (vendor, stage, took);
}

/// Count a verified delivery of an event the typed parser does not know.
pub fn record_unknown_event(vendor: &'static str, name: &str) {
    #[cfg(feature = "metrics")]
    {
        describe_current();
        let name = bounded_name(vendor, name);
        ::metrics::counter!(UNKNOWN_EVENTS_TOTAL, "vendor" => vendor, "name" => name).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (vendor, name);
}

/// Set the inbox gauges from `stats` (the worker does this on its own schedule; call it from
/// your own task when you run receivers without a worker).
pub fn record_inbox_stats(stats: &InboxStats) {
    #[cfg(feature = "metrics")]
    {
        describe_current();
        use crate::inbox::EntryState;
        for state in EntryState::ALL {
            ::metrics::gauge!(INBOX_ENTRIES, "state" => state.as_str())
                .set(stats.count(state) as f64);
        }
        ::metrics::gauge!(INBOX_OLDEST_PENDING_AGE_SECONDS)
            .set(stats.oldest_pending_age.map_or(0.0, |d| d.as_secs_f64()));
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (stats,);
}

/// Count one worker attempt (and a retry or a dead letter where it is one).
pub fn record_worker_attempt(namespace: &str, outcome: WorkerOutcome) {
    #[cfg(feature = "metrics")]
    {
        describe_current();
        let namespace = namespace.to_owned();
        ::metrics::counter!(WORKER_ATTEMPTS_TOTAL,
            "namespace" => namespace.clone(), "outcome" => outcome.as_str())
        .increment(1);
        match outcome {
            WorkerOutcome::Retry => {
                ::metrics::counter!(WORKER_RETRIES_TOTAL, "namespace" => namespace).increment(1)
            }
            WorkerOutcome::Dead => {
                ::metrics::counter!(WORKER_DEAD_LETTERS_TOTAL, "namespace" => namespace)
                    .increment(1)
            }
            WorkerOutcome::Ok | WorkerOutcome::Released => {}
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (namespace, outcome);
}

/// The start of a stage, read from the clock only when metrics are recorded.
#[inline]
pub(crate) fn start() -> Option<std::time::Instant> {
    #[cfg(feature = "metrics")]
    {
        Some(std::time::Instant::now())
    }
    #[cfg(not(feature = "metrics"))]
    None
}

/// Record `stage` as lasting since `start` (nothing when `start` is `None`).
#[inline]
pub(crate) fn stage_since(vendor: &'static str, stage: Stage, start: Option<std::time::Instant>) {
    if let Some(start) = start {
        record_stage(vendor, stage, start.elapsed());
    }
}

/// The label value for an unknown event name: cleaned, cut, and `"other"` past the per-vendor
/// bound, so a sender (even a verified one) cannot grow the number of series without limit.
#[cfg(feature = "metrics")]
fn bounded_name(vendor: &'static str, name: &str) -> String {
    static SEEN: OnceLock<Mutex<HashMap<&'static str, HashSet<String>>>> = OnceLock::new();
    let clean: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "unnamed".to_owned()
    } else {
        clean
    };
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let names = seen.entry(vendor).or_default();
    if names.contains(&clean) {
        return clean;
    }
    if names.len() >= MAX_UNKNOWN_NAMES {
        return "other".to_owned();
    }
    names.insert(clean.clone());
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_error() {
        use std::time::Duration;
        assert_eq!(
            Outcome::of_error(&Error::SignatureMismatch("x".into())),
            Outcome::RejectedSignature
        );
        assert_eq!(
            Outcome::of_error(&Error::MissingHeader("x".into())),
            Outcome::RejectedSignature
        );
        assert_eq!(
            Outcome::of_error(&Error::TimestampTooOld {
                age_secs: 900,
                tolerance_secs: 300
            }),
            Outcome::RejectedTimestamp
        );
        assert_eq!(
            Outcome::of_error(&Error::BodyTooLarge { limit: 1 }),
            Outcome::TooLarge
        );
        assert_eq!(
            Outcome::of_error(&Error::InFlight {
                retry_after: Duration::from_secs(1)
            }),
            Outcome::InFlight
        );
    }

    #[test]
    #[cfg(feature = "metrics")]
    fn unknown_names_are_bounded_and_cleaned() {
        assert_eq!(bounded_name("test-a", "lead.created"), "lead.created");
        assert_eq!(bounded_name("test-a", "a b/c"), "a_b_c");
        assert_eq!(bounded_name("test-a", ""), "unnamed");
        assert_eq!(bounded_name("test-a", &"x".repeat(500)).len(), 64);
        for i in 0..1000 {
            let label = bounded_name("test-b", &format!("evt_{i}"));
            assert!(i < MAX_UNKNOWN_NAMES || label == "other", "{i}: {label}");
        }
        // Names seen before the bound keep their own series.
        assert_eq!(bounded_name("test-b", "evt_0"), "evt_0");
    }
}
