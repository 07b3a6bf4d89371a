//! Rate-limited rejection warnings: a flood of forged requests must not become a flood of log
//! lines (disk, log shipping bills, and the one real warning lost among a million).
//!
//! Each [`Receiver`](crate::Receiver) (one per route) keeps, for each rejection reason, a window
//! of [`WINDOW`]: the first [`BURST`] rejections in it are logged at WARN as usual, the rest are
//! only counted, and the first line of the next window says how many were left out:
//! `rejected (995 similar suppressed in the last 10 s)`. The state is one small counter per
//! reason: bounded whatever the traffic. Metrics (feature `metrics`) still count every
//! rejection.
//!
//! The clock is the `now` the receiver was called with (`receive_at`, `accept_at`), so the
//! windows follow injected time like the rest of the flow.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::Error;

/// Length of one window.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Rejections logged per reason and window before the rest are only counted.
pub(crate) const BURST: u32 = 5;

/// One slot per reason below, plus one for reasons added later.
const REASONS: usize = 17;

fn reason(err: &Error) -> usize {
    match err {
        Error::MissingHeader(_) => 0,
        Error::InvalidHeader { .. } => 1,
        Error::MissingQueryParam(_) => 2,
        Error::InvalidQueryParam { .. } => 3,
        Error::InvalidTimestamp { .. } => 4,
        Error::TimestampTooOld { .. } => 5,
        Error::TimestampInFuture { .. } => 6,
        Error::SignatureMismatch(_) => 7,
        Error::TokenMismatch(_) => 8,
        Error::InvalidSecret(_) | Error::Config(_) => 9,
        Error::BodyTooLarge { .. } => 10,
        Error::Parse(_) => 11,
        Error::InFlight { .. } => 12,
        Error::StoreUnavailable { .. } => 13,
        Error::UnsupportedEncoding(_) => 14,
        Error::InvalidEncoding { .. } => 15,
        #[allow(unreachable_patterns)]
        _ => REASONS - 1,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    /// Start of the current window; `None` before the first rejection.
    started: Option<SystemTime>,
    logged: u32,
    suppressed: u64,
}

/// The per-receiver state: see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct RejectionLog {
    slots: [Mutex<Slot>; REASONS],
}

/// What to do with one rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it; `suppressed` rejections of this reason were left out in the `over` before it.
    Log { suppressed: u64, over: Duration },
    /// Count it only.
    Suppress,
}

impl RejectionLog {
    pub(crate) fn verdict(&self, err: &Error, now: SystemTime) -> Verdict {
        let mut slot = self.slots[reason(err)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A clock that went backwards stays in the current window.
        let elapsed = slot
            .started
            .map(|s| now.duration_since(s).unwrap_or(Duration::ZERO));
        match elapsed {
            Some(elapsed) if elapsed < WINDOW => {
                if slot.logged < BURST {
                    slot.logged += 1;
                    Verdict::Log {
                        suppressed: 0,
                        over: Duration::ZERO,
                    }
                } else {
                    slot.suppressed = slot.suppressed.saturating_add(1);
                    Verdict::Suppress
                }
            }
            _ => {
                let suppressed = std::mem::take(&mut slot.suppressed);
                *slot = Slot {
                    started: Some(now),
                    logged: 1,
                    suppressed: 0,
                };
                Verdict::Log {
                    suppressed,
                    over: elapsed.unwrap_or(Duration::ZERO),
                }
            }
        }
    }

    /// Log `err` at WARN unless its reason is over its budget (see the [module docs](self)).
    /// Called inside the receiver's span, which names the vendor.
    pub(crate) fn warn(&self, err: &Error, now: SystemTime, latency_us: u64) {
        match self.verdict(err, now) {
            Verdict::Suppress => {}
            Verdict::Log { suppressed: 0, .. } => tracing::warn!(target: "chathooks::receiver",
                status = err.status().as_u16(), error = %err, latency_us, "rejected"),
            Verdict::Log { suppressed, over } => {
                let secs = over.as_secs().max(1);
                tracing::warn!(target: "chathooks::receiver",
                    status = err.status().as_u16(), error = %err, latency_us, suppressed,
                    "rejected ({suppressed} similar suppressed in the last {secs} s)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_reason_and_window_then_a_count() {
        let log = RejectionLog::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mismatch = Error::SignatureMismatch("x-sig".into());
        let missing = Error::MissingHeader("x-sig".into());
        let logged = (0..100)
            .filter(|_| log.verdict(&mismatch, t0) != Verdict::Suppress)
            .count();
        assert_eq!(logged, BURST as usize);
        // Another reason has its own budget.
        assert_ne!(log.verdict(&missing, t0), Verdict::Suppress);
        // Still inside the window, a clock gone backwards included.
        assert_eq!(
            log.verdict(&mismatch, t0 + Duration::from_secs(9)),
            Verdict::Suppress
        );
        assert_eq!(
            log.verdict(&mismatch, t0 - Duration::from_secs(5)),
            Verdict::Suppress
        );
        assert_eq!(
            log.verdict(&mismatch, t0 + Duration::from_secs(12)),
            Verdict::Log {
                suppressed: 97,
                over: Duration::from_secs(12)
            }
        );
        assert_eq!(
            log.verdict(&mismatch, t0 + Duration::from_secs(13)),
            Verdict::Log {
                suppressed: 0,
                over: Duration::ZERO
            }
        );
    }
}
