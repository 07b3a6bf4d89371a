//! SaleSmartly's MD5 query-string signature.
//!
//! SaleSmartly POSTs `{"event": "...", "data": ...}` to
//! `https://your.host/path?timestamp=<ts>&signature=<md5 hex>`.
//!
//! # Exactly which bytes are hashed
//!
//! For each configured secret, the verifier computes the lowercase-insensitive 32-hex MD5 of
//!
//! ```text
//! <secret bytes> "&data=" <data> "&event=" <event>                      (WithoutTimestamp)
//! <secret bytes> "&data=" <data> "&event=" <event> "&timestamp=" <ts>   (WithTimestamp)
//! ```
//!
//! - `<secret bytes>`: the secret exactly as configured ([`Secret::raw`] of the dashboard text).
//! - `<data>`: the **raw bytes of the body's `data` value**, exactly as they appear in the body
//!   (for `"data":{"a": 1}` that is `{"a": 1}`, whitespace and escapes included). When `data` is
//!   a JSON string, its **decoded** content is used instead (for `"data":"123"` that is `123`).
//! - `<event>`: the decoded value of the body's `event` string.
//! - `<ts>`: the `timestamp` query parameter as received (after percent-decoding).
//! - Parameter names are in dictionary order (`data` < `event` < `timestamp`), joined with `&`
//!   and `=`, values not URL-encoded. Other top-level body keys are not hashed, so they are
//!   **not authenticated**.
//!
//! # What that means for the later stages
//!
//! Only `event` and `data` are authenticated (and `timestamp` only when the timestamped layout
//! matched). The rest of the body — whitespace and key order outside `data`, escapes in
//! `event`, extra top-level keys, whether `data` is an object or a string holding it — can be
//! changed by whoever replays a captured request without breaking the signature. So:
//! - the verifier records the SHA-256 of `event` and `data`
//!   ([`Verified::signed_content_sha256`]), and a delivery without an event id (`add_user`,
//!   `update_user`, unknown events) is deduplicated on that, never on the whole body;
//! - [`SaleSmartlyEvent`](crate::platform::salesmartly::SaleSmartlyEvent) reads only `event`
//!   and `data`; an unknown event's `raw` holds `{"event": …, "data": …}` rebuilt from the two
//!   signed values (`data` byte for byte), never the unsigned top-level keys.
//!
//! # What is documented and what is inferred
//!
//! Documented (SaleSmartly's Apifox pages): the `timestamp` and `signature` query parameters, the
//! `{event, data}` body, and the rule "sort the parameter names in dictionary order, append them
//! to the secret, and MD5 the result", with the example `md5(secret&data=123&event=message)`. The
//! vendor's own REST signing helpers use the same `key=value` joining with raw values and
//! lowercase hex.
//!
//! **Inferred** (not documented, unconfirmed until checked against a captured request):
//! - how `data` is serialised: this verifier uses its raw bytes in the body, which is what a
//!   sender that signs the string it sends would produce;
//! - whether `timestamp` is hashed: the example omits it, sorted order would put it last; the
//!   default [`SaleSmartlyLayout::Either`] accepts both;
//! - the timestamp unit: seconds and milliseconds are both accepted (told apart by magnitude);
//! - the hex case: compared case-insensitively.
//!
//! MD5 is not a MAC and the signature travels in the URL, where proxies log it. With
//! [`SaleSmartlyLayout::WithoutTimestamp`] the timestamp is not authenticated at all, so the
//! tolerance check only stops naive replays.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

use super::encoding::hex_exact;
use super::timestamp;
use super::{Verified, Verifier, DEFAULT_TOLERANCE};
use crate::error::Name;
use crate::secret::SecretInput;
use crate::{Error, Inbound, Secret};

/// Query parameter carrying the signature.
pub const PARAM_SIGNATURE: &str = "signature";
/// Query parameter carrying the timestamp.
pub const PARAM_TIMESTAMP: &str = "timestamp";

/// Whether the timestamp is part of the hashed string (SaleSmartly does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SaleSmartlyLayout {
    /// `secret&data=..&event=..`, as in the vendor's example.
    WithoutTimestamp,
    /// `secret&data=..&event=..&timestamp=..`, as the sorting rule suggests.
    WithTimestamp,
    /// Accept either (the default until a captured request settles it).
    #[default]
    Either,
}

/// The two signed fields of the body, borrowed from it.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// `event` and the `data` bytes that are hashed (see the module docs).
struct Signed<'a> {
    event: Cow<'a, str>,
    data: Cow<'a, str>,
}

fn signed_fields(body: &[u8]) -> Option<Signed<'_>> {
    let env: Envelope<'_> = serde_json::from_slice(body).ok()?;
    let raw = env.data.get();
    let data = if raw.starts_with('"') {
        serde_json::from_str::<Cow<'_, str>>(raw).ok()?
    } else {
        Cow::Borrowed(raw)
    };
    Some(Signed {
        event: env.event,
        data,
    })
}

/// SHA-256 of the signed content (`event` and `data`, without the timestamp), length-prefixed
/// so that no two `(event, data)` pairs hash the same input. The dedupe key of a delivery with
/// no event id: re-encoding the unsigned envelope (whitespace, key order, escapes, extra keys,
/// `data` as a string or as an object) cannot make a replay look new.
fn content_sha256(fields: &Signed<'_>) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update((fields.event.len() as u64).to_be_bytes());
    h.update(fields.event.as_bytes());
    h.update(fields.data.as_bytes());
    h.finalize().into()
}

fn digest(secret: &Secret, fields: &Signed<'_>, ts: Option<&str>) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(secret.expose());
    h.update(b"&data=");
    h.update(fields.data.as_bytes());
    h.update(b"&event=");
    h.update(fields.event.as_bytes());
    if let Some(ts) = ts {
        h.update(b"&timestamp=");
        h.update(ts.as_bytes());
    }
    h.finalize().into()
}

/// Verifier (and signer, for tests) of SaleSmartly's query-string signature. See the module docs
/// for exactly what is hashed.
///
/// ```
/// use std::time::SystemTime;
/// use chathooks::{Inbound, verify::{SaleSmartly, Verifier}};
///
/// let v = SaleSmartly::new("the-webhook-key-from-the-dashboard")?;
/// let body = br#"{"event":"message","data":{"msg":"hi"}}"#;
/// let now = SystemTime::now();
/// let query = v.sign(body, now)?;   // "timestamp=…&signature=…"
/// let headers = http::HeaderMap::new();
/// let inbound = Inbound::new(&headers, body).with_query(query.as_str());
/// assert_eq!(v.verify_at(&inbound, now)?.scheme(), "salesmartly-md5");
/// # Ok::<(), chathooks::Error>(())
/// ```
#[derive(Clone)]
pub struct SaleSmartly {
    secrets: Vec<Secret>,
    layout: SaleSmartlyLayout,
    tolerance: Duration,
}

impl fmt::Debug for SaleSmartly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaleSmartly")
            .field("secrets", &self.secrets)
            .field("layout", &self.layout)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl SaleSmartly {
    /// A verifier for the webhook secret: its text (used as-is; at least 16 bytes), returning
    /// `Result`, or a parsed [`Secret`], returning the verifier (see [`SecretInput`]).
    pub fn new<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, Self::with_secret)
    }

    /// A verifier for an already-parsed secret (the same as [`new`](Self::new) with a `Secret`).
    pub fn with_secret(secret: Secret) -> Self {
        SaleSmartly {
            secrets: vec![secret],
            layout: SaleSmartlyLayout::Either,
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Also accept signatures made with `secret` (rotation): a parsed [`Secret`], returning the
    /// verifier, or text (used as-is), returning `Result` (see [`SecretInput`]).
    /// [`Verified::key_index`] is its position, 0 being the first.
    pub fn add_secret<S: SecretInput>(self, secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            let mut v = self;
            v.secrets.push(secret);
            v
        })
    }

    /// Whether the timestamp is hashed (default [`SaleSmartlyLayout::Either`]).
    pub fn layout(mut self, layout: SaleSmartlyLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Maximum distance between `timestamp` and the clock, both directions (default 300 s).
    /// `Duration::MAX` disables the check.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The query string (`timestamp=<unix seconds>&signature=<md5 hex>`) SaleSmartly would append
    /// for `body`, signed with the first secret. [`SaleSmartlyLayout::Either`] signs with the
    /// timestamp included. Fails with [`Error::SignatureMismatch`] when `body` has no `event`
    /// string and `data` value, like verification.
    pub fn sign(&self, body: &[u8], timestamp: SystemTime) -> Result<String, Error> {
        let fields =
            signed_fields(body).ok_or(Error::SignatureMismatch(Name::Borrowed(PARAM_SIGNATURE)))?;
        let ts = timestamp::unix_secs(timestamp).to_string();
        let with_ts = !matches!(self.layout, SaleSmartlyLayout::WithoutTimestamp);
        let tag = digest(&self.secrets[0], &fields, with_ts.then_some(ts.as_str()));
        Ok(format!(
            "{PARAM_TIMESTAMP}={ts}&{PARAM_SIGNATURE}={}",
            hex::encode(tag)
        ))
    }
}

impl Verifier for SaleSmartly {
    /// Errors: missing `signature`/`timestamp` → [`Error::MissingQueryParam`] (400); a signature
    /// that is not 32 hex digits → [`Error::InvalidQueryParam`] (400); a bad timestamp →
    /// [`Error::InvalidTimestamp`] (400); out of tolerance → 401; a body without an `event`
    /// string and a `data` value (nothing to check the signature against) or no match →
    /// [`Error::SignatureMismatch`] (401).
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        let sig_text = inbound
            .query_param(PARAM_SIGNATURE)
            .ok_or(Error::MissingQueryParam(Name::Borrowed(PARAM_SIGNATURE)))?;
        let ts_text = inbound
            .query_param(PARAM_TIMESTAMP)
            .ok_or(Error::MissingQueryParam(Name::Borrowed(PARAM_TIMESTAMP)))?;
        let sig = hex_exact::<16>(sig_text.as_bytes()).ok_or(Error::InvalidQueryParam {
            name: Name::Borrowed(PARAM_SIGNATURE),
            reason: "not 32 hex digits",
        })?;
        let ts = timestamp::parse_seconds_or_millis(&ts_text, &Name::Borrowed(PARAM_TIMESTAMP))?;
        timestamp::check_tolerance(ts, now, self.tolerance)?;

        let mismatch = || Error::SignatureMismatch(Name::Borrowed(PARAM_SIGNATURE));
        let fields = signed_fields(inbound.body()).ok_or_else(mismatch)?;
        // The hashed text joins raw values with `&`: an event name holding `&` could turn a
        // signature made with the timestamp into one without it (`event = "E&timestamp=T"`),
        // letting a captured delivery be replayed after the tolerance. Event names are words.
        if fields.event.contains('&') {
            return Err(mismatch());
        }
        let (without, with) = match self.layout {
            SaleSmartlyLayout::WithoutTimestamp => (true, false),
            SaleSmartlyLayout::WithTimestamp => (false, true),
            SaleSmartlyLayout::Either => (true, true),
        };
        for (index, secret) in self.secrets.iter().enumerate() {
            let mut hit = subtle::Choice::from(0u8);
            if without {
                hit |= digest(secret, &fields, None).ct_eq(&sig);
            }
            if with {
                hit |= digest(secret, &fields, Some(&ts_text)).ct_eq(&sig);
            }
            if bool::from(hit) {
                return Ok(Verified::new("salesmartly-md5", inbound.body())
                    .with_timestamp(timestamp::to_system_time(ts))
                    .with_key_index(Some(index))
                    .with_signed_content_sha256(content_sha256(&fields)));
            }
        }
        Err(mismatch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_bytes_follow_the_documented_example() {
        // md5(secret&data=123&event=message), the vendor's own example, with data as a JSON
        // string and as a raw number.
        let secret = Secret::raw("0123456789abcdef").unwrap();
        let want: [u8; 16] = Md5::digest(b"0123456789abcdef&data=123&event=message").into();
        for body in [
            &br#"{"event":"message","data":"123"}"#[..],
            br#"{"data":123,"event":"message"}"#,
            br#" { "event" : "message" , "data" : 123 } "#,
        ] {
            let f = signed_fields(body).unwrap();
            assert_eq!(
                digest(&secret, &f, None),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Objects are hashed as their exact bytes, whitespace included.
        let f = signed_fields(br#"{"event":"e","data":{ "a" : [1, 2] }}"#).unwrap();
        assert_eq!(f.data, r#"{ "a" : [1, 2] }"#);
        // Escapes in a string `data` are decoded.
        let f = signed_fields(br#"{"event":"e","data":"{\"a\":\u0031}"}"#).unwrap();
        assert_eq!(f.data, r#"{"a":1}"#);
        assert!(signed_fields(br#"{"event":"e"}"#).is_none());
        assert!(signed_fields(br#"{"event":1,"data":1}"#).is_none());
        assert!(signed_fields(br#"{"event":"e","data":1,"data":2}"#).is_none());
    }
}
