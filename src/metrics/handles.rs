//! Registered metric handles, kept per thread, for the per-delivery series.
//!
//! The `metrics` macros build a label set and ask the recorder for the handle on every call
//! (`metrics-exporter-prometheus` hashes the key and looks it up in its registry). A delivery
//! records up to five series, so that lookup was most of the recorder's cost per delivery.
//! Here each thread keeps the handles it registered, one per (vendor, stage) and per (vendor,
//! outcome, status): the label values come from fixed sets, so the cache is bounded.
//!
//! A handle belongs to the recorder it was registered with. The cache is used only while the
//! current recorder is the process-wide one — the global recorder, or the no-op recorder before
//! one is installed — which lives for the rest of the process, so a cached handle can never
//! outlive its recorder or meet another recorder at the same address. That recorder is what a
//! fresh thread sees (no thread-local recorder there); when the current recorder differs (a
//! recorder was installed since, or a test set a local one), the call goes through the macros
//! as before and the process-wide recorder is looked up again, at most once a second.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use ::metrics::{Counter, Histogram, Recorder};

use super::{Outcome, Stage, DELIVERIES_TOTAL, STAGE_DURATION_SECONDS};

/// Every `status` label value (the last one, `"other"`, stands for the rest).
pub(super) const STATUS_LABELS: [&str; 12] = [
    "200", "202", "204", "400", "401", "409", "413", "415", "422", "500", "503", "other",
];
const OUTCOMES: usize = 10;
const STAGES: usize = 5;

/// The address of the recorder the process-wide lookup found (0: not looked up yet).
static PROCESS_RECORDER: AtomicUsize = AtomicUsize::new(0);
/// When it was last looked up, in ms since [`epoch`] plus one (0: never).
static LOOKED_UP_AT: AtomicU64 = AtomicU64::new(0);
/// Between two lookups of the process-wide recorder.
const LOOKUP_INTERVAL_MS: u64 = 1000;

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { recorder: 0, vendors: Vec::new() }) };
}

struct Cache {
    /// The recorder every handle below was registered with.
    recorder: usize,
    vendors: Vec<(&'static str, Box<VendorHandles>)>,
}

struct VendorHandles {
    stages: [Option<Histogram>; STAGES],
    deliveries: [[Option<Counter>; STATUS_LABELS.len()]; OUTCOMES],
}

/// The current recorder's address (local, global or no-op).
pub(super) fn current() -> usize {
    ::metrics::with_recorder(|r| std::ptr::from_ref::<dyn Recorder>(r).cast::<()>() as usize)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `true` when `recorder` is the process-wide recorder, looking it up again (on a thread of
/// its own, where no local recorder is set) when it differs and the last lookup is over a
/// second old.
pub(super) fn is_process_wide(recorder: usize) -> bool {
    let known = PROCESS_RECORDER.load(Ordering::Acquire);
    if recorder == known {
        return true;
    }
    let now = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
    let last = LOOKED_UP_AT.load(Ordering::Relaxed);
    // Before the first lookup every caller looks (a handful of threads at start-up); after it,
    // one caller a second.
    if known != 0
        && (now.saturating_sub(last) < LOOKUP_INTERVAL_MS
            || LOOKED_UP_AT
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err())
    {
        return false;
    }
    LOOKED_UP_AT.store(now, Ordering::Relaxed);
    // A thread that cannot be started (a process at its limit) leaves the cache unused.
    let found = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("chathooks-metrics".into())
            .spawn_scoped(s, current)
            .ok()
            .and_then(|h| h.join().ok())
    })
    .unwrap_or(0);
    PROCESS_RECORDER.store(found, Ordering::Release);
    recorder == found
}

/// Run `f` on this thread's handles for `vendor`, or return `None` when the current recorder
/// is not the process-wide one (the caller then records through the macros).
fn with_vendor<R>(vendor: &'static str, f: impl FnOnce(&mut VendorHandles) -> R) -> Option<R> {
    let recorder = current();
    let process_wide = is_process_wide(recorder);
    super::describe_once(recorder, process_wide);
    if !process_wide {
        return None;
    }
    CACHE
        .try_with(|cache| {
            // A recorder that records chathooks metrics while registering one: no cache.
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.recorder != recorder {
                cache.vendors.clear();
                cache.recorder = recorder;
            }
            let index = match cache.vendors.iter().position(|(v, _)| *v == vendor) {
                Some(i) => i,
                None => {
                    cache.vendors.push((
                        vendor,
                        Box::new(VendorHandles {
                            stages: Default::default(),
                            deliveries: Default::default(),
                        }),
                    ));
                    cache.vendors.len() - 1
                }
            };
            Some(f(&mut cache.vendors[index].1))
        })
        .ok()
        .flatten()
}

const fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Accepted => 0,
        Outcome::Duplicate => 1,
        Outcome::RejectedSignature => 2,
        Outcome::RejectedTimestamp => 3,
        Outcome::RejectedParse => 4,
        Outcome::TooLarge => 5,
        Outcome::RejectedEncoding => 6,
        Outcome::InFlight => 7,
        Outcome::StoreUnavailable => 8,
        Outcome::Error => 9,
    }
}

const fn stage_index(stage: Stage) -> usize {
    match stage {
        Stage::Verify => 0,
        Stage::Parse => 1,
        Stage::Dedupe => 2,
        Stage::Handler => 3,
        Stage::InboxPut => 4,
    }
}

/// The index of `status`'s label in [`STATUS_LABELS`].
pub(super) const fn status_index(status: u16) -> usize {
    match status {
        200 => 0,
        202 => 1,
        204 => 2,
        400 => 3,
        401 => 4,
        409 => 5,
        413 => 6,
        415 => 7,
        422 => 8,
        500 => 9,
        503 => 10,
        _ => 11,
    }
}

fn delivery_counter(vendor: &'static str, outcome: Outcome, status: usize) -> Counter {
    ::metrics::counter!(DELIVERIES_TOTAL,
        "vendor" => vendor, "outcome" => outcome.as_str(), "status" => STATUS_LABELS[status])
}

fn stage_histogram(vendor: &'static str, stage: Stage) -> Histogram {
    ::metrics::histogram!(STAGE_DURATION_SECONDS, "vendor" => vendor, "stage" => stage.as_str())
}

/// Add one to `chathooks_deliveries_total{vendor, outcome, status}`.
pub(super) fn count_delivery(vendor: &'static str, outcome: Outcome, status: u16) {
    let status = status_index(status);
    let cached = with_vendor(vendor, |h| {
        h.deliveries[outcome_index(outcome)][status]
            .get_or_insert_with(|| delivery_counter(vendor, outcome, status))
            .increment(1);
    });
    if cached.is_none() {
        delivery_counter(vendor, outcome, status).increment(1);
    }
}

/// Record `seconds` in `chathooks_stage_duration_seconds{vendor, stage}`.
pub(super) fn record_stage(vendor: &'static str, stage: Stage, seconds: f64) {
    let cached = with_vendor(vendor, |h| {
        h.stages[stage_index(stage)]
            .get_or_insert_with(|| stage_histogram(vendor, stage))
            .record(seconds);
    });
    if cached.is_none() {
        stage_histogram(vendor, stage).record(seconds);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    use ::metrics::{Gauge, Key, KeyName, Metadata, SharedString, Unit};

    use super::*;

    /// Counts every counter increment, whatever the series.
    #[derive(Default)]
    struct Local(Arc<AtomicU64>);

    impl Recorder for Local {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::clone(&self.0))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// `n` deliveries counted with a new local recorder (in the same stack slot every call).
    fn counted_by_a_new_local_recorder(n: u64) -> u64 {
        let local = Local::default();
        ::metrics::with_local_recorder(&local, || {
            for _ in 0..n {
                count_delivery("test-local", Outcome::Accepted, 200);
            }
        });
        local.0.load(Ordering::Relaxed)
    }

    #[test]
    fn local_recorders_get_every_count_and_no_stale_handle() {
        assert_eq!(counted_by_a_new_local_recorder(3), 3);
        assert_eq!(counted_by_a_new_local_recorder(5), 5);
        assert_eq!(counted_by_a_new_local_recorder(1), 1);
    }

    #[test]
    fn the_process_wide_recorder_is_cached_and_a_local_one_is_not() {
        // No global recorder in this test binary: the no-op recorder is the process-wide one.
        assert!(with_vendor("test-cache", |_| ()).is_some());
        let local = Local::default();
        ::metrics::with_local_recorder(&local, || {
            assert!(with_vendor("test-cache", |_| ()).is_none());
        });
        assert!(with_vendor("test-cache", |_| ()).is_some());
    }

    #[test]
    fn every_status_has_its_own_label() {
        for (i, label) in STATUS_LABELS
            .iter()
            .enumerate()
            .take(STATUS_LABELS.len() - 1)
        {
            assert_eq!(status_index(label.parse().unwrap()), i);
        }
        assert_eq!(STATUS_LABELS[status_index(418)], "other");
        assert_eq!(STATUS_LABELS[status_index(0)], "other");
    }
}
