//! Stage 1, **verify**: decide in constant time whether a delivery really came from the sender.
//!
//! Every scheme implements [`Verifier`]. Verification works on the exact body bytes of an
//! [`Inbound`], never on re-serialised JSON, and takes the current time as an argument
//! ([`Verifier::verify_at`]) so tests and platforms without a clock can inject it.
//!
//! | scheme | type | used by | errors for a bad delivery |
//! |---|---|---|---|
//! | Standard Webhooks v1 (HMAC) and v1a (Ed25519, feature `ed25519`) | [`StandardWebhooks`] (signer for v1a: `StandardWebhooksSigner`) | Svix and every Standard Webhooks sender | missing header 400, bad timestamp 400, no well-formed signature 400, stale/future 401, no match 401 |
//! | configurable HMAC-SHA256 | [`HmacSha256`] with presets `github`, `slack`, `stripe`, `sam`, `buzzi`, `conversalabs` | Sam, Buzzi, ConversaLabs (inferred), GitHub, Slack, Stripe | same as above |
//! | static shared token header | [`Token`] | SaleAssist custom headers | missing header 400, wrong token 401 |
//! | MD5 query-string signature | [`SaleSmartly`] | SaleSmartly | missing or non-hex parameter 400, bad timestamp 400, stale/future 401, no match 401 |
//!
//! # What each vendor's signature authenticates
//!
//! Only signed bytes are evidence; everything else in a request can be changed by whoever
//! replays or forges it. No scheme signs the other headers or the URL.
//!
//! | sender (verifier) | signed, so authenticated | **not** authenticated |
//! |---|---|---|
//! | Standard Webhooks ([`StandardWebhooks`]) | `webhook-id`, `webhook-timestamp`, the whole body | every other header |
//! | GitHub ([`HmacSha256::github`]) | the whole body | `X-GitHub-Delivery`, `X-GitHub-Event`; no timestamp, so replays verify forever |
//! | Slack, Stripe ([`HmacSha256::slack`], [`HmacSha256::stripe`]) | the timestamp and the whole body | other headers |
//! | Sam, Buzzi ([`HmacSha256::sam`], [`HmacSha256::buzzi`], inferred) | the whole body | every header but the signature; no timestamp, so replays verify forever |
//! | ConversaLabs ([`HmacSha256::conversalabs`], inferred) | `X-Chatwoot-Timestamp` and the whole body | `X-Chatwoot-Delivery` |
//! | SaleSmartly ([`SaleSmartly`]) | `event` and `data` (and the `timestamp` parameter only when the timestamped layout matched) | the envelope: other top-level keys, whitespace and key order outside `data`, escapes in `event`, `data` as object vs string; the timestamp under the untimestamped layout |
//! | SaleAssist ([`Token`]) | nothing: the token proves the sender knew it | the whole body and every header; anyone who saw one request can send any body |
//!
//! A compressed body (`Content-Encoding: gzip`/`deflate`) is verified over its decoded bytes:
//! every scheme above signs the payload before any HTTP compression
//! ([`encoding`](crate::encoding); a [`Receiver`](crate::Receiver) decodes it first).
//!
//! The later stages follow this table: dedupe keys come from signed content only
//! ([`Verified::signed_delivery_id`], [`Verified::signed_content_sha256`]), and parsers of
//! partly signed bodies (SaleSmartly) read only the signed parts. Where nothing signs a
//! timestamp, replay protection is the dedupe window alone: use a
//! [`Receiver`](crate::Receiver), not `verify` by itself.
//!
//! **400 or 401.** A signature entry that does not decode (another version, `v1,`, truncated,
//! not hex/base64, a required prefix missing) is skipped. When no entry is left that could be
//! a signature, the header is malformed: [`Error::InvalidHeader`] (400), naming the header and
//! the format expected, before any MAC is computed. Such a request cannot be authentic under
//! any key, and the usual cause is configuration (hex vs base64, a prefix), not the secret.
//! When at least one well-formed signature is there and none matches:
//! [`Error::SignatureMismatch`] (401). Format is checked before the timestamp's tolerance.
//!
//! **Secrets.** Every constructor and `add_secret` takes a parsed [`Secret`](crate::Secret)
//! (and returns the verifier) or the secret's text as the dashboard shows it (and returns a
//! `Result`): see [`SecretInput`](crate::secret::SecretInput).
//!
//! Rules every scheme follows:
//! - each candidate signature is decoded to exactly the digest length and compared in constant
//!   time (`v1,`, empty, truncated, over-long and badly encoded signatures fail);
//! - several secrets (rotation) and several signatures per header: any match passes;
//! - signature versions a scheme does not check are ignored, not errors;
//! - timestamps are parsed with checked arithmetic and checked in both directions.

use std::time::{Duration, SystemTime};

use crate::{Error, Inbound};

pub(crate) mod encoding;
pub mod hmac;
pub mod salesmartly;
pub mod standard;
pub(crate) mod timestamp;
pub mod token;

pub use self::hmac::{HmacSha256, HmacSha256Builder, SignatureEncoding, SignedContent};
pub use self::salesmartly::{SaleSmartly, SaleSmartlyLayout};
pub use self::standard::StandardWebhooks;
#[cfg(feature = "ed25519")]
pub use self::standard::StandardWebhooksSigner;
pub use self::token::Token;

/// Default tolerance between a delivery's timestamp and the receiver's clock, both directions.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A signature scheme that can check one delivery.
///
/// Implementations must be cheap to call concurrently (`&self`, `Send + Sync`). The built-in
/// schemes allocate nothing on their success path (rotated secrets included), except
/// [`SaleSmartly`] when `data` is sent as a JSON string (it decodes the string to hash what is
/// signed); `tests/alloc.rs` measures each.
pub trait Verifier: Send + Sync {
    /// Verify `inbound` as of `now`.
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error>;

    /// Verify `inbound` against the system clock.
    fn verify<'a>(&self, inbound: &Inbound<'a>) -> Result<Verified<'a>, Error> {
        self.verify_at(inbound, SystemTime::now())
    }
}

impl<V: Verifier + ?Sized> Verifier for &V {
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        (**self).verify_at(inbound, now)
    }
}

impl<V: Verifier + ?Sized> Verifier for Box<V> {
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        (**self).verify_at(inbound, now)
    }
}

impl<V: Verifier + ?Sized> Verifier for std::sync::Arc<V> {
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        (**self).verify_at(inbound, now)
    }
}

/// What verification learnt about a delivery, for the later stages (dedupe key, logging).
///
/// Borrows from the [`Inbound`] it came from; call [`Verified::delivery_id`] and copy what you
/// need to keep.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified<'a> {
    scheme: &'static str,
    delivery_id: Option<&'a str>,
    delivery_id_signed: bool,
    timestamp: Option<SystemTime>,
    key_index: Option<usize>,
    body: &'a [u8],
    signed_content: Option<[u8; 32]>,
}

/// The body's length, not the body (personal data).
impl std::fmt::Debug for Verified<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("delivery_id", &self.delivery_id)
            .field("delivery_id_signed", &self.delivery_id_signed)
            .field("timestamp", &self.timestamp)
            .field("key_index", &self.key_index)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Verified<'a> {
    /// A verified delivery of `body` under `scheme` (a short stable name such as `"standard-v1"`).
    /// Custom [`Verifier`]s build their result with this and the `with_*` methods.
    pub fn new(scheme: &'static str, body: &'a [u8]) -> Self {
        Verified {
            scheme,
            delivery_id: None,
            delivery_id_signed: false,
            timestamp: None,
            key_index: None,
            body,
            signed_content: None,
        }
    }

    /// Record that the signature covers only part of the body, by the SHA-256 of exactly the
    /// signed content (SaleSmartly signs `event` and `data`, not the envelope). Dedupe keys of
    /// deliveries without an id are derived from it instead of from the whole body, so
    /// re-encoding the unsigned parts cannot make a replay look new. Verifiers that sign the
    /// whole body do not call this.
    pub fn with_signed_content_sha256(mut self, sha256: [u8; 32]) -> Self {
        self.signed_content = Some(sha256);
        self
    }

    /// Record the sender's delivery or message id, taken from a header the signature does **not**
    /// cover (e.g. `X-GitHub-Delivery`). It is reported for logs and correlation, but not used
    /// as the dedupe key: anyone replaying a captured request could change it.
    pub fn with_delivery_id(mut self, id: Option<&'a str>) -> Self {
        self.delivery_id = id;
        self.delivery_id_signed = false;
        self
    }

    /// Record a delivery id that is part of the signed content (Standard Webhooks' `webhook-id`):
    /// it identifies the delivery across retries and is the preferred dedupe key.
    pub fn with_signed_delivery_id(mut self, id: Option<&'a str>) -> Self {
        self.delivery_id = id;
        self.delivery_id_signed = id.is_some();
        self
    }

    /// Record the signed timestamp.
    pub fn with_timestamp(mut self, ts: Option<SystemTime>) -> Self {
        self.timestamp = ts;
        self
    }

    /// Record which configured key matched (0 = the first).
    pub fn with_key_index(mut self, index: Option<usize>) -> Self {
        self.key_index = index;
        self
    }

    /// Short name of the scheme that verified the delivery, e.g. `"standard-v1"`, `"hmac-sha256"`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The sender's delivery id, signed or not.
    ///
    /// Deprecated because the name hid the difference that matters: an id from a header the
    /// signature does not cover (`X-GitHub-Delivery`, `X-Chatwoot-Delivery`) can be changed by
    /// anyone replaying a captured request, so it must never be used to deduplicate. Use
    /// [`signed_delivery_id`](Self::signed_delivery_id) for dedupe and
    /// [`unsigned_delivery_id`](Self::unsigned_delivery_id) for logs and correlation only.
    #[deprecated(
        since = "0.2.0",
        note = "use `signed_delivery_id()` (safe to deduplicate on) or `unsigned_delivery_id()` (logs only)"
    )]
    pub fn delivery_id(&self) -> Option<&'a str> {
        self.delivery_id
    }

    /// The delivery id, only if the signature covers it (Standard Webhooks' `webhook-id`): it
    /// identifies the delivery across the sender's retries and is safe to deduplicate on.
    pub fn signed_delivery_id(&self) -> Option<&'a str> {
        self.delivery_id.filter(|_| self.delivery_id_signed)
    }

    /// The delivery id, only if it came from a header the signature does **not** cover
    /// (`X-GitHub-Delivery`, `X-Chatwoot-Delivery`…).
    ///
    /// **Not authenticated**: whoever replays a captured request can set it to anything, so a
    /// new value per copy would make every replay look new. Use it for logs and for correlating
    /// with the sender's dashboard, never as a dedupe key; [`Receiver`](crate::Receiver) never
    /// does.
    pub fn unsigned_delivery_id(&self) -> Option<&'a str> {
        self.delivery_id.filter(|_| !self.delivery_id_signed)
    }

    /// The signed timestamp, when the scheme has one.
    pub fn timestamp(&self) -> Option<SystemTime> {
        self.timestamp
    }

    /// Index of the configured key that matched (0 = the first passed to the builder). `None`
    /// when the scheme uses no key. For [`StandardWebhooks`] secrets come first, then Ed25519
    /// public keys; for [`Token`] it is the index of the accepted value.
    pub fn key_index(&self) -> Option<usize> {
        self.key_index
    }

    /// The verified body bytes.
    ///
    /// Verified means *signed* only where the scheme signs the whole body (every scheme but
    /// SaleSmartly's, whose signature covers `event` and `data` only; see the table in
    /// [`crate::verify`]).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// SHA-256 of exactly the content the signature covers, minus any signed timestamp or id:
    /// the body for schemes that sign the whole body, the value recorded with
    /// [`with_signed_content_sha256`](Self::with_signed_content_sha256) otherwise. The dedupe
    /// key of a delivery without an id ([`IdempotencyKey::content`](crate::idempotency::IdempotencyKey::content)).
    pub fn signed_content_sha256(&self) -> [u8; 32] {
        use sha2::Digest;
        self.signed_content
            .unwrap_or_else(|| sha2::Sha256::digest(self.body).into())
    }
}

/// Accepts every delivery. For local development and tests only; the scheme name
/// `"unverified"` shows up in logs so it cannot go unnoticed.
///
/// ```
/// use chathooks::{platform::sam::SamEvent, verify::Unverified, Receiver};
/// let receiver = Receiver::<SamEvent>::builder(Unverified).build(); // warns at build
/// # let _ = receiver;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Unverified;

impl Verifier for Unverified {
    fn verify_at<'a>(
        &self,
        inbound: &Inbound<'a>,
        _now: SystemTime,
    ) -> Result<Verified<'a>, Error> {
        Ok(Verified::new("unverified", inbound.body()))
    }
}
