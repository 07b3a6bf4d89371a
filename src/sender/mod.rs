//! Reference sender (feature `sender`): sign, deliver with retries, guard against SSRF.
//!
//! Receivers are only as testable as the traffic they get. This module sends correctly signed
//! deliveries the way a well-behaved platform would, so you can fire them at your endpoint (like
//! `stripe trigger`) or use it as the webhook sender of your own service.
//!
//! - **Signing** ([`Signing`]): every scheme the verifier accepts, produced by the verifier
//!   types' own signing code, so sign → verify round-trips by construction. Each attempt is
//!   signed again with a fresh timestamp under the same delivery id.
//! - **Delivery** ([`Sender`]): reqwest with rustls, 15 s timeout, redirects never followed,
//!   `User-Agent: chathooks/<version>`, `Content-Type: application/json`. Retries on the Standard
//!   Webhooks schedule with ±20 % jitter ([`RetryPolicy`]); every attempt is reported
//!   ([`Delivery::attempts`], [`SenderBuilder::on_attempt`]).
//! - **SSRF guard** ([`AddressPolicy`]): https only and public addresses only by default,
//!   enforced on the URL and again at connect time for every resolved address.
//! - **Time** ([`Clock`]): injectable; [`VirtualClock`] runs three days of retries in
//!   milliseconds.
//! - **Concurrency** ([`Sender::deliver_all`]): many messages to many endpoints with a bounded
//!   number in flight.
//! - **Samples** ([`samples`]): realistic, seeded payloads for every documented event of every
//!   vendor, to fire at your receiver.
//! - **Slack** ([`SlackNotifier`]): Block Kit notifications for new leads, callback requests and
//!   escalations, posted through the same delivery path.
//!
//! ```no_run
//! use chathooks::sender::{Endpoint, Message, Sender, Signing};
//! # async fn run() -> Result<(), chathooks::Error> {
//! let sender = Sender::builder()
//!     .allow_http(true) // local development only
//!     .allow_private_addresses(true)
//!     .build()?;
//! let endpoint = Endpoint::new(
//!     "http://127.0.0.1:3000/webhooks",
//!     Signing::standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?,
//! )?;
//! let delivery = sender
//!     .deliver(&endpoint, &Message::new(&br#"{"type":"ping"}"#[..]))
//!     .await;
//! assert!(delivery.is_delivered());
//! # Ok(()) }
//! ```

mod clock;
mod delivery;
mod retry;
pub mod samples;
mod signing;
mod slack;
mod ssrf;

pub use self::clock::{Clock, Sleep, SystemClock, VirtualClock};
#[cfg(feature = "cli")]
pub(crate) use self::delivery::without_userinfo;
pub use self::delivery::{
    Attempt, AttemptCallback, AttemptError, AttemptReport, Delivery, Endpoint, Message, Outcome,
    Sender, SenderBuilder, DEFAULT_TIMEOUT, MAX_IN_FLIGHT, USER_AGENT_VALUE,
};
pub use self::retry::{
    parse_retry_after, RetryPolicy, DEFAULT_SCHEDULE, MAX_RETRIES, MAX_RETRY_DELAY,
};
pub use self::signing::{
    Sign, Signature, Signing, CONVERSALABS_DELIVERY_HEADER, SALEASSIST_TOKEN_HEADER,
};
pub use self::slack::SlackNotifier;
pub use self::ssrf::{is_public, AddressPolicy, Refused};
