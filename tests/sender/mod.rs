//! The reference sender against real sockets on loopback.

mod delivery;
mod props;
mod samples;
mod server;
mod signing;
mod slack;
mod ssrf;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use chathooks::sender::{RetryPolicy, Sender, SenderBuilder, VirtualClock};

/// Fixed start of the virtual clock: 2023-11-14T22:13:20Z.
pub const START: u64 = 1_700_000_000;

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

pub fn clock() -> VirtualClock {
    VirtualClock::new(UNIX_EPOCH + Duration::from_secs(START))
}

/// A sender for loopback tests: http and private addresses allowed, virtual clock, no jitter.
pub fn local(clock: &VirtualClock) -> SenderBuilder {
    Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::default().jitter(0.0).unwrap())
}

pub fn clock_now() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(START)
}
