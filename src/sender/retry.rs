//! The retry schedule and how each response is classified.

use std::time::{Duration, SystemTime};

use crate::backoff::Backoff;
pub(crate) use crate::backoff::{fresh_seed, Rng};
pub use crate::backoff::{MAX_RETRIES, MAX_RETRY_DELAY};
use crate::Error;

/// The Standard Webhooks example schedule: after the immediate first attempt, retry after 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h (75 h 35 min 5 s in total, ten attempts).
pub const DEFAULT_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// When to retry a delivery, and when to give up.
///
/// - 2xx: delivered. 410: the endpoint is gone, stop.
/// - 408, 409, 425, 429, 5xx, timeouts and connection errors: retry on the schedule; a
///   `Retry-After` header (seconds or HTTP date) makes the wait at least that long, clamped to
///   [`RetryPolicy::max_retry_after`].
/// - 3xx (redirects are never followed) and other 4xx: the receiver rejected the request; retry
///   on the schedule until [`RetryPolicy::client_error_attempts`] attempts have failed this way.
///
/// ```
/// use std::time::Duration;
/// use chathooks::sender::RetryPolicy;
/// let quick = RetryPolicy::default()
///     .schedule(vec![Duration::from_millis(10), Duration::from_millis(50)])?
///     .jitter(0.0)?
///     .client_error_attempts(1);
/// assert_eq!(quick.max_attempts(), 3);
/// # Ok::<(), chathooks::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    backoff: Backoff,
    client_error_attempts: u32,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff::new(&DEFAULT_SCHEDULE),
            client_error_attempts: 3,
            max_retry_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: one attempt.
    pub fn no_retries() -> Self {
        RetryPolicy {
            backoff: Backoff::new(&[]),
            ..Self::default()
        }
    }

    /// Delays before each retry (the first attempt is always immediate). At most
    /// [`MAX_RETRIES`] entries.
    pub fn schedule(mut self, delays: Vec<Duration>) -> Result<Self, Error> {
        self.backoff.set_delays(delays)?;
        Ok(self)
    }

    /// Random spread applied to each scheduled delay: `0.2` (the default) waits between 80 % and
    /// 120 % of it, so endpoints that failed together do not all retry together. `0.0..=1.0`.
    pub fn jitter(mut self, fraction: f64) -> Result<Self, Error> {
        self.backoff.set_jitter(fraction)?;
        Ok(self)
    }

    /// Seed the jitter so runs are reproducible (by default each delivery draws a fresh seed).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.backoff.set_seed(seed);
        self
    }

    /// How many attempts may end in a 3xx or a non-retryable 4xx before the delivery stops
    /// (default 3; at least 1).
    pub fn client_error_attempts(mut self, attempts: u32) -> Self {
        self.client_error_attempts = attempts.max(1);
        self
    }

    /// Longest wait a `Retry-After` header can impose (default 24 h; at most
    /// [`MAX_RETRY_DELAY`]).
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max.min(MAX_RETRY_DELAY);
        self
    }

    /// Total attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.backoff.max_attempts()
    }

    /// The configured delays.
    pub fn delays(&self) -> &[Duration] {
        self.backoff.delays()
    }

    pub(crate) fn client_error_limit(&self) -> u32 {
        self.client_error_attempts
    }

    pub(crate) fn rng(&self) -> Rng {
        Rng::seeded(self.backoff.seed())
    }

    /// Wait before retry number `retry` (0 = the first retry), or `None` when the schedule is
    /// exhausted.
    pub(crate) fn delay(
        &self,
        retry: usize,
        retry_after: Option<Duration>,
        rng: &mut Rng,
    ) -> Option<Duration> {
        let jittered = self.backoff.delay(retry, rng.next_f64())?;
        Some(match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        })
    }
}

/// What one response means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    Gone,
    Retry,
    ClientError,
}

pub(crate) fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        410 => Verdict::Gone,
        408 | 409 | 425 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::ClientError,
    }
}

/// Longest `Retry-After` value read, in bytes.
const MAX_RETRY_AFTER_LEN: usize = 64;

/// Parse a `Retry-After` value: delay-seconds or an HTTP date (IMF-fixdate / RFC 2822), relative
/// to `now`. Dates in the past mean "now" (zero). Garbage yields `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_RETRY_AFTER_LEN {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Overlong digit strings saturate: the policy clamps anyway.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(200), Verdict::Delivered);
        assert_eq!(classify(204), Verdict::Delivered);
        assert_eq!(classify(410), Verdict::Gone);
        for s in [408, 409, 425, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Verdict::Retry, "{s}");
        }
        for s in [301, 302, 307, 308, 400, 401, 403, 404, 422] {
            assert_eq!(classify(s), Verdict::ClientError, "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 99 Nov 1994 08:51:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn jitter_stays_in_bounds_and_retry_after_is_clamped() {
        let p = RetryPolicy::default().jitter_seed(7);
        let mut rng = p.rng();
        for (i, base) in DEFAULT_SCHEDULE.iter().enumerate() {
            for _ in 0..50 {
                let d = p.delay(i, None, &mut rng).unwrap();
                assert!(
                    d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2),
                    "{d:?} vs {base:?}"
                );
            }
        }
        assert_eq!(p.delay(DEFAULT_SCHEDULE.len(), None, &mut rng), None);
        let exact = RetryPolicy::default().jitter(0.0).unwrap();
        let mut rng = exact.rng();
        assert_eq!(
            exact.delay(0, Some(Duration::from_secs(120)), &mut rng),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            exact.delay(0, Some(Duration::from_secs(1)), &mut rng),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            exact.delay(0, Some(Duration::MAX), &mut rng),
            Some(Duration::from_secs(24 * 3600))
        );
        assert!(RetryPolicy::default().jitter(1.5).is_err());
        assert!(RetryPolicy::default()
            .schedule(vec![Duration::ZERO; MAX_RETRIES + 1])
            .is_err());
    }
}
