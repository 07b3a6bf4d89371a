//! The retry schedule the sender and the worker share: a bounded list of delays, a jitter
//! fraction and an optional seed, validated in one place, and the jitter arithmetic that
//! never panics or overflows the clock.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use crate::Error;

/// Most retries a schedule may hold (attempts = retries + 1). A bound, not a recommendation.
pub const MAX_RETRIES: usize = 64;

/// Longest delay a retry schedule may hold: 30 days.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Delays before each retry (the first attempt is immediate), jitter and seed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backoff {
    delays: Vec<Duration>,
    jitter: f64,
    seed: Option<u64>,
}

impl Backoff {
    /// `delays` (trusted: a constant schedule), ± 20 % jitter, a fresh seed per use.
    pub(crate) fn new(delays: &[Duration]) -> Self {
        Backoff {
            delays: delays.to_vec(),
            jitter: 0.2,
            seed: None,
        }
    }

    /// At most [`MAX_RETRIES`] delays, each at most [`MAX_RETRY_DELAY`].
    pub(crate) fn set_delays(&mut self, delays: Vec<Duration>) -> Result<(), Error> {
        if delays.len() > MAX_RETRIES {
            return Err(Error::Config(
                "a retry schedule holds at most 64 delays".into(),
            ));
        }
        if delays.iter().any(|d| *d > MAX_RETRY_DELAY) {
            return Err(Error::Config(
                "a retry delay is at most 30 days (Duration::MAX would overflow the clock)".into(),
            ));
        }
        self.delays = delays;
        Ok(())
    }

    /// `0.0..=1.0`.
    pub(crate) fn set_jitter(&mut self, fraction: f64) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::Config("jitter must be between 0.0 and 1.0".into()));
        }
        self.jitter = fraction;
        Ok(())
    }

    pub(crate) fn set_seed(&mut self, seed: u64) {
        self.seed = Some(seed);
    }

    pub(crate) fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Total attempts, the first included.
    pub(crate) fn max_attempts(&self) -> u32 {
        // Bounded by MAX_RETRIES, so this never truncates.
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX - 1) + 1
    }

    /// The configured seed, or a fresh one.
    pub(crate) fn seed(&self) -> u64 {
        self.seed.unwrap_or_else(fresh_seed)
    }

    /// The wait before retry number `retry` (0 = the first retry), spread by `unit` in
    /// `[0, 1)` (a random draw): between `1 - jitter` and `1 + jitter` times the delay.
    /// `None` when the schedule is exhausted.
    pub(crate) fn delay(&self, retry: usize, unit: f64) -> Option<Duration> {
        let base = *self.delays.get(retry)?;
        if self.jitter <= 0.0 {
            return Some(base);
        }
        let factor = (1.0 + (unit * 2.0 - 1.0) * self.jitter).max(0.0);
        // Checked: a huge base times 1.2 must not panic.
        Some(
            Duration::try_from_secs_f64(base.as_secs_f64() * factor)
                .unwrap_or(MAX_RETRY_DELAY)
                .min(MAX_RETRY_DELAY.saturating_mul(2)),
        )
    }
}

/// SplitMix64: tiny, fast and good enough for jitter (not for anything secret).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed from std's per-process random hasher keys, the time and a counter: unpredictable
/// enough for jitter and message ids without another dependency.
pub(crate) fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_fraction_and_never_overflows() {
        let mut b = Backoff::new(&[Duration::from_secs(100)]);
        b.set_jitter(0.2).unwrap();
        for unit in [0.0, 0.25, 0.5, 0.999_999] {
            let d = b.delay(0, unit).unwrap();
            assert!((80.0..=120.0).contains(&d.as_secs_f64()), "{unit}: {d:?}");
        }
        assert_eq!(b.delay(1, 0.5), None);
        let mut huge = Backoff::new(&[MAX_RETRY_DELAY]);
        huge.set_jitter(1.0).unwrap();
        assert!(huge.delay(0, 0.999_999).unwrap() <= MAX_RETRY_DELAY.saturating_mul(2));
    }

    #[test]
    fn schedules_are_bounded() {
        let mut b = Backoff::new(&[]);
        assert!(b
            .set_delays(vec![Duration::from_secs(1); MAX_RETRIES + 1])
            .is_err());
        assert!(b.set_delays(vec![Duration::MAX]).is_err());
        assert!(b.set_jitter(1.5).is_err());
        assert!(b
            .set_delays(vec![Duration::from_secs(1); MAX_RETRIES])
            .is_ok());
        assert_eq!(b.max_attempts(), MAX_RETRIES as u32 + 1);
    }
}
