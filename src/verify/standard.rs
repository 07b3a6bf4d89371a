//! Standard Webhooks (<https://www.standardwebhooks.com>), the scheme Svix and many platforms use.
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (the `svix-` names are accepted
//! too). The signed content is `{id}.{timestamp}.{body}` over the exact body bytes; the signature
//! header is a space-separated list of `v1,<base64 HMAC-SHA256>` entries (and `v1a,<base64
//! Ed25519>` entries, checked with the `ed25519` feature). Entries of other versions are ignored.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::encoding::{base64_exact, BASE64};
use super::timestamp;
use super::{Verified, Verifier, DEFAULT_TOLERANCE};
use crate::error::Name;
use crate::{Error, Inbound, Secret};

/// Header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the unix timestamp in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Svix-branded alias of [`HEADER_ID`].
pub const SVIX_HEADER_ID: &str = "svix-id";
/// Svix-branded alias of [`HEADER_TIMESTAMP`].
pub const SVIX_HEADER_TIMESTAMP: &str = "svix-timestamp";
/// Svix-branded alias of [`HEADER_SIGNATURE`].
pub const SVIX_HEADER_SIGNATURE: &str = "svix-signature";

/// Longest accepted `webhook-id`, in bytes.
const MAX_ID_LEN: usize = 256;
/// Longest accepted signature header, in bytes (room for many rotated keys).
const MAX_SIGNATURE_HEADER_LEN: usize = 8 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// Verifier (and signer, for tests and the sender) for Standard Webhooks.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use chathooks::verify::{StandardWebhooks, Verifier};
///
/// let v = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
/// let ts = UNIX_EPOCH + Duration::from_secs(1649367553);
/// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
/// let sig = v.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", ts, body);
/// assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse().unwrap());
/// headers.insert("webhook-timestamp", "1649367553".parse().unwrap());
/// headers.insert("webhook-signature", sig.parse().unwrap());
/// let inbound = chathooks::Inbound::new(&headers, body);
/// let verified = v.verify_at(&inbound, ts)?;
/// assert_eq!(verified.delivery_id(), Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
/// # Ok::<(), chathooks::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    secrets: Vec<Secret>,
    tolerance: Duration,
    #[cfg(feature = "ed25519")]
    public_keys: Vec<ed25519_dalek::VerifyingKey>,
}

impl StandardWebhooks {
    /// A verifier for one `whsec_…` secret (base64 without the prefix is accepted too).
    pub fn new(secret: &str) -> Result<Self, Error> {
        Ok(Self::with_secret(Secret::standard(secret)?))
    }

    /// A verifier for one already-parsed secret.
    pub fn with_secret(secret: Secret) -> Self {
        StandardWebhooks {
            secrets: vec![secret],
            tolerance: DEFAULT_TOLERANCE,
            #[cfg(feature = "ed25519")]
            public_keys: Vec::new(),
        }
    }

    /// Also accept signatures made with another secret (key rotation). Order is kept:
    /// [`Verified::key_index`] reports which one matched.
    pub fn add_secret(mut self, secret: &str) -> Result<Self, Error> {
        self.secrets.push(Secret::standard(secret)?);
        Ok(self)
    }

    /// Maximum distance between `webhook-timestamp` and the clock, in both directions
    /// (default 300 s). `Duration::MAX` disables the check.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The `webhook-signature` value for this delivery: one `v1,<base64>` per configured secret,
    /// space-separated. `timestamp` is truncated to whole seconds; times before 1970 are signed
    /// as 0 (which every verifier rejects as stale).
    pub fn sign(&self, msg_id: &str, timestamp: SystemTime, body: &[u8]) -> String {
        let ts_text = timestamp::unix_secs(timestamp).to_string();
        let mut out = String::with_capacity(self.secrets.len() * 48);
        for (i, secret) in self.secrets.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let tag = mac(secret, msg_id.as_bytes(), ts_text.as_bytes(), body);
            out.push_str("v1,");
            BASE64.encode_string(tag, &mut out);
        }
        out
    }

    fn header<'a>(
        inbound: &Inbound<'a>,
        primary: &'static str,
        alias: &'static str,
    ) -> Result<&'a str, Error> {
        let value = inbound
            .header(primary)
            .or_else(|| inbound.header(alias))
            .ok_or(Error::MissingHeader(Name::Borrowed(primary)))?;
        value.to_str().map_err(|_| Error::InvalidHeader {
            name: Name::Borrowed(primary),
            reason: "not visible ASCII",
        })
    }
}

impl Verifier for StandardWebhooks {
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        let id = Self::header(inbound, HEADER_ID, SVIX_HEADER_ID)?;
        let ts_text = Self::header(inbound, HEADER_TIMESTAMP, SVIX_HEADER_TIMESTAMP)?;
        let sigs = Self::header(inbound, HEADER_SIGNATURE, SVIX_HEADER_SIGNATURE)?;
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(Error::InvalidHeader {
                name: Name::Borrowed(HEADER_ID),
                reason: "empty or longer than 256 bytes",
            });
        }
        if sigs.len() > MAX_SIGNATURE_HEADER_LEN {
            return Err(Error::InvalidHeader {
                name: Name::Borrowed(HEADER_SIGNATURE),
                reason: "longer than 8 KiB",
            });
        }
        let ts = timestamp::parse_seconds(ts_text, &Name::Borrowed(HEADER_TIMESTAMP))?;
        timestamp::check_tolerance(ts, now, self.tolerance)?;

        let body = inbound.body();
        let matched = self
            .match_v1(id, ts_text, body, sigs)
            .or_else(|| self.match_v1a(id, ts_text, body, sigs));
        match matched {
            Some(key_index) => Ok(Verified::new(
                if key_index < self.secrets.len() {
                    "standard-v1"
                } else {
                    "standard-v1a"
                },
                body,
            )
            .with_delivery_id(Some(id))
            .with_timestamp(timestamp::to_system_time(ts))
            .with_key_index(Some(key_index))),
            None => Err(Error::SignatureMismatch(Name::Borrowed(HEADER_SIGNATURE))),
        }
    }
}

impl StandardWebhooks {
    /// Index of the secret whose HMAC matches any `v1` entry.
    fn match_v1(&self, id: &str, ts: &str, body: &[u8], sigs: &str) -> Option<usize> {
        // Decode candidates lazily per secret: headers hold one or two entries in practice, and
        // computing each secret's MAC once keeps the cost at one HMAC per secret.
        for (index, secret) in self.secrets.iter().enumerate() {
            let expected = mac(secret, id.as_bytes(), ts.as_bytes(), body);
            let mut hit = subtle::Choice::from(0u8);
            for candidate in sigs.split(' ').filter_map(|e| e.strip_prefix("v1,")) {
                if let Some(sig) = base64_exact::<32>(candidate.as_bytes()) {
                    hit |= sig.ct_eq(&expected);
                }
            }
            if bool::from(hit) {
                return Some(index);
            }
        }
        None
    }

    #[cfg(not(feature = "ed25519"))]
    fn match_v1a(&self, _id: &str, _ts: &str, _body: &[u8], _sigs: &str) -> Option<usize> {
        None
    }

    #[cfg(feature = "ed25519")]
    fn match_v1a(&self, _id: &str, _ts: &str, _body: &[u8], _sigs: &str) -> Option<usize> {
        let _ = &self.public_keys;
        None
    }
}

fn mac(secret: &Secret, id: &[u8], ts: &[u8], body: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret.expose())
        .expect("HMAC accepts keys of any length");
    m.update(id);
    m.update(b".");
    m.update(ts);
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}
