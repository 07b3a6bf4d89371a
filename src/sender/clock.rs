//! Time for the retry schedule, injectable so tests can run days of retries in milliseconds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A future that completes when a [`Clock::sleep`] is over.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the sender reads the time (for signature timestamps) and how it waits between attempts.
///
/// [`SystemClock`] is the default. [`VirtualClock`] jumps forward instead of waiting, for tests.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time; each attempt is signed with the value read just before it is sent.
    fn now(&self) -> SystemTime;

    /// Wait `duration` before the next attempt.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The system clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Most sleeps a [`VirtualClock`] remembers; older ones are dropped (the total keeps counting).
const MAX_RECORDED_SLEEPS: usize = 4096;

/// A clock that never waits: `sleep(d)` moves its time forward by `d` at once and records `d`.
///
/// Clones share the same time. Useful to test retry schedules (three days of retries run in
/// milliseconds) and anything else that signs with the current time.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use chathooks::sender::{Clock, VirtualClock};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = VirtualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// clock.sleep(Duration::from_secs(3600)).await;
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_700_003_600));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(3600)]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock {
    state: Arc<Mutex<VirtualState>>,
}

#[derive(Debug)]
struct VirtualState {
    now: SystemTime,
    slept: Duration,
    sleeps: Vec<Duration>,
}

impl VirtualClock {
    /// A clock that starts at `start`.
    pub fn new(start: SystemTime) -> Self {
        VirtualClock {
            state: Arc::new(Mutex::new(VirtualState {
                now: start,
                slept: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// A clock that starts at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// Move the time forward without recording a sleep.
    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        s.now = s.now.checked_add(by).unwrap_or(s.now);
    }

    /// Every sleep so far, oldest first (the most recent 4096).
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Total time slept so far.
    pub fn total_slept(&self) -> Duration {
        self.lock().slept
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        // The state stays consistent even if a holder panicked: every update is one assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> SystemTime {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        {
            let mut s = self.lock();
            s.now = s.now.checked_add(duration).unwrap_or(s.now);
            s.slept = s.slept.saturating_add(duration);
            if s.sleeps.len() >= MAX_RECORDED_SLEEPS {
                s.sleeps.remove(0);
            }
            s.sleeps.push(duration);
        }
        // Yield once so a virtual sleep is still a scheduling point, like a real one.
        Box::pin(tokio::task::yield_now())
    }
}
