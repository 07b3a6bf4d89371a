//! Standard Webhooks (<https://www.standardwebhooks.com>), the scheme Svix and many platforms use.
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (the `svix-` names are accepted
//! too). The signed content is `{id}.{timestamp}.{body}` over the exact body bytes; the signature
//! header is a space-separated list of `v1,<base64 HMAC-SHA256>` entries (and `v1a,<base64
//! Ed25519>` entries, checked with the `ed25519` feature). Entries of other versions are ignored.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::HeaderName;
use subtle::ConstantTimeEq;

use super::encoding::{base64_exact, BASE64};
use super::hmac::KeyedSecret;
use super::timestamp;
use super::{Verified, Verifier, DEFAULT_TOLERANCE};
use crate::error::Name;
use crate::secret::SecretInput;
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

// The header names, parsed at compile time: `HeaderName::from_static` called in `verify_at`
// ran its validation and standard-name lookup again on every call, six times per delivery.
static NAME_ID: HeaderName = HeaderName::from_static(HEADER_ID);
static NAME_SVIX_ID: HeaderName = HeaderName::from_static(SVIX_HEADER_ID);
static NAME_TS: HeaderName = HeaderName::from_static(HEADER_TIMESTAMP);
static NAME_SVIX_TS: HeaderName = HeaderName::from_static(SVIX_HEADER_TIMESTAMP);
static NAME_SIG: HeaderName = HeaderName::from_static(HEADER_SIGNATURE);
static NAME_SVIX_SIG: HeaderName = HeaderName::from_static(SVIX_HEADER_SIGNATURE);

/// Longest accepted `webhook-id`, in bytes.
const MAX_ID_LEN: usize = 256;
/// Most `v1a` entries read per delivery (rotation needs two); further entries are ignored.
#[cfg(feature = "ed25519")]
const MAX_V1A_CANDIDATES: usize = 4;

/// Ed25519 checks allowed per delivery and configured public key: two entries per key covers a
/// sender signing with an old and a new key during rotation. Each check hashes the whole body,
/// so this bounds what an unauthenticated header can cost at about twice the number of keys.
#[cfg(feature = "ed25519")]
const V1A_CHECKS_PER_KEY: usize = 2;
/// Longest accepted signature header, in bytes (room for many rotated keys).
const MAX_SIGNATURE_HEADER_LEN: usize = 8 * 1024;

/// Verifier (and signer, for tests and the sender) for Standard Webhooks.
///
/// Holds any number of `whsec_` secrets (`v1`, HMAC-SHA256) and, with the `ed25519` feature,
/// `whpk_` public keys (`v1a`, Ed25519; signed with [`StandardWebhooksSigner`]). A delivery
/// passes when any entry of its signature header verifies under any key.
/// [`Verified::key_index`] numbers the secrets first, then the public keys.
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
/// assert_eq!(verified.signed_delivery_id(), Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
/// # Ok::<(), chathooks::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    secrets: Vec<KeyedSecret>,
    tolerance: Duration,
    #[cfg(feature = "ed25519")]
    public_keys: Vec<ed25519_dalek::VerifyingKey>,
}

impl StandardWebhooks {
    /// A verifier for one secret: `whsec_…` text (base64 without the prefix is accepted too),
    /// returning `Result`, or a parsed [`Secret`], returning the verifier (see [`SecretInput`]).
    pub fn new<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::standard, Self::with_secret)
    }

    /// A verifier for one already-parsed secret (the same as [`new`](Self::new) with a `Secret`).
    pub fn with_secret(secret: Secret) -> Self {
        StandardWebhooks {
            secrets: vec![KeyedSecret::new(secret)],
            tolerance: DEFAULT_TOLERANCE,
            #[cfg(feature = "ed25519")]
            public_keys: Vec::new(),
        }
    }

    /// Also accept signatures made with another secret (key rotation): `whsec_…` text, returning
    /// `Result`, or a parsed [`Secret`], returning the verifier (see [`SecretInput`]). Order is
    /// kept: [`Verified::key_index`] reports which one matched.
    pub fn add_secret<S: SecretInput>(self, secret: S) -> S::Output<Self> {
        secret.resolve(Secret::standard, |secret| {
            let mut v = self;
            v.secrets.push(KeyedSecret::new(secret));
            v
        })
    }

    /// A verifier that accepts only `v1a` (Ed25519) signatures from this `whpk_…` public key.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use chathooks::verify::{StandardWebhooks, StandardWebhooksSigner, Verifier};
    ///
    /// let signer = StandardWebhooksSigner::new(
    ///     "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
    /// )?;
    /// let v = StandardWebhooks::with_public_key(&signer.public_key())?;
    /// let ts = UNIX_EPOCH + Duration::from_secs(1614265330);
    /// let body = br#"{"test": 2432232314}"#;
    /// let sig = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body);
    /// assert_eq!(sig, "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==");
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
    /// headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
    /// headers.insert("webhook-signature", sig.parse().unwrap());
    /// let verified = v.verify_at(&chathooks::Inbound::new(&headers, body), ts)?;
    /// assert_eq!(verified.scheme(), "standard-v1a");
    /// # Ok::<(), chathooks::Error>(())
    /// ```
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    pub fn with_public_key(public_key: &str) -> Result<Self, Error> {
        StandardWebhooks {
            secrets: Vec::new(),
            tolerance: DEFAULT_TOLERANCE,
            public_keys: Vec::new(),
        }
        .add_public_key(public_key)
    }

    /// Also accept `v1a` (Ed25519) signatures from this public key: `whpk_` followed by the
    /// base64 of the 32-byte key (the prefix may be omitted). Keys come from your trust list,
    /// never from the request. [`Verified::key_index`] counts secrets first, then public keys,
    /// each in the order added.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    pub fn add_public_key(mut self, public_key: &str) -> Result<Self, Error> {
        self.public_keys
            .push(ed25519::parse_public_key(public_key)?);
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

    /// The header's text, under its name or its Svix alias. The names are pre-parsed
    /// `HeaderName`s: looking a header up by `&str` parses and lowercases the name on every
    /// call, three times per delivery.
    fn header<'a>(
        inbound: &Inbound<'a>,
        name: &'static str,
        primary: &HeaderName,
        alias: &HeaderName,
    ) -> Result<&'a str, Error> {
        let headers = inbound.headers();
        let value = headers
            .get(primary)
            .or_else(|| headers.get(alias))
            .ok_or(Error::MissingHeader(Name::Borrowed(name)))?;
        value.to_str().map_err(|_| Error::InvalidHeader {
            name: Name::Borrowed(name),
            reason: "not visible ASCII",
        })
    }
}

impl Verifier for StandardWebhooks {
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        let id = Self::header(inbound, HEADER_ID, &NAME_ID, &NAME_SVIX_ID)?;
        let ts_text = Self::header(inbound, HEADER_TIMESTAMP, &NAME_TS, &NAME_SVIX_TS)?;
        let sigs = Self::header(inbound, HEADER_SIGNATURE, &NAME_SIG, &NAME_SVIX_SIG)?;
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
        // Format first (400), then authenticity (401): tolerance, then the signatures.
        let v1 = V1Candidates::decode(sigs, !self.secrets.is_empty());
        self.check_shape(sigs, &v1)?;
        timestamp::check_tolerance(ts, now, self.tolerance)?;

        let body = inbound.body();
        let matched = self
            .match_v1(id, ts_text, body, sigs, &v1)
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
            .with_signed_delivery_id(Some(id))
            .with_timestamp(timestamp::to_system_time(ts))
            .with_key_index(Some(key_index))),
            None => Err(Error::SignatureMismatch(Name::Borrowed(HEADER_SIGNATURE))),
        }
    }
}

impl StandardWebhooks {
    /// `Err` (400) unless some entry is a signature this verifier can check: `v1,` with 32
    /// bytes of base64 when it has secrets, `v1a,` with 64 when it has public keys. Entries of
    /// other versions are skipped (the specification says to ignore them), but a header with
    /// nothing checkable cannot be authentic under any key.
    fn check_shape(&self, sigs: &str, v1: &V1Candidates) -> Result<(), Error> {
        #[cfg(feature = "ed25519")]
        let checkable = v1.any()
            || (!self.public_keys.is_empty()
                && sigs.split(' ').any(|entry| match entry.split_once(',') {
                    Some(("v1a", sig)) => base64_exact::<64>(sig.as_bytes()).is_some(),
                    _ => false,
                }));
        #[cfg(not(feature = "ed25519"))]
        let checkable = {
            let _ = sigs;
            v1.any()
        };
        if checkable {
            return Ok(());
        }
        #[cfg(feature = "ed25519")]
        let reason = match (self.secrets.is_empty(), self.public_keys.is_empty()) {
            (false, true) => "no `v1,` entry holds a 32-byte base64 signature",
            (true, false) => "no `v1a,` entry holds a 64-byte base64 signature",
            _ => "no `v1,` or `v1a,` entry holds a signature of the right length",
        };
        #[cfg(not(feature = "ed25519"))]
        let reason = "no `v1,` entry holds a 32-byte base64 signature";
        Err(Error::InvalidHeader {
            name: Name::Borrowed(HEADER_SIGNATURE),
            reason,
        })
    }

    /// Index of the secret whose HMAC matches any `v1` entry.
    fn match_v1(
        &self,
        id: &str,
        ts: &str,
        body: &[u8],
        sigs: &str,
        v1: &V1Candidates,
    ) -> Option<usize> {
        // Each secret's MAC once, compared with every candidate: one HMAC per secret.
        for (index, secret) in self.secrets.iter().enumerate() {
            let expected = mac(secret, id.as_bytes(), ts.as_bytes(), body);
            let mut hit = subtle::Choice::from(0u8);
            if v1.more {
                for candidate in v1_entries(sigs) {
                    if let Some(sig) = base64_exact::<32>(candidate.as_bytes()) {
                        hit |= sig.ct_eq(&expected);
                    }
                }
            } else {
                for sig in &v1.sigs[..v1.len] {
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

    /// Index (after the secrets) of the public key that verifies any `v1a` entry.
    #[cfg(feature = "ed25519")]
    fn match_v1a(&self, id: &str, ts: &str, body: &[u8], sigs: &str) -> Option<usize> {
        if self.public_keys.is_empty() {
            return None;
        }
        let candidates = || {
            sigs.split(' ')
                .filter_map(|e| e.strip_prefix("v1a,"))
                .filter_map(|c| base64_exact::<64>(c.as_bytes()))
                .map(|b| ed25519_dalek::Signature::from_bytes(&b))
                // Each check hashes the whole body with SHA-512: an unauthenticated header full
                // of well-formed `v1a` entries must not multiply that work.
                .take(MAX_V1A_CANDIDATES)
        };
        candidates().next()?;
        let mut budget = V1A_CHECKS_PER_KEY * self.public_keys.len();
        for (i, key) in self.public_keys.iter().enumerate() {
            for sig in candidates() {
                if budget == 0 {
                    return None;
                }
                budget -= 1;
                if ed25519::verify_strict_parts(
                    key,
                    &sig,
                    &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
                ) {
                    return Some(self.secrets.len() + i);
                }
            }
        }
        None
    }
}

/// The signatures of the `v1,` entries of a header.
fn v1_entries(sigs: &str) -> impl Iterator<Item = &str> {
    sigs.split(' ').filter_map(|e| e.strip_prefix("v1,"))
}

/// How many decoded `v1` signatures [`V1Candidates`] keeps: a header holds one, or two during
/// a key rotation.
const DECODED: usize = 4;

/// The `v1` signatures of a header, each decoded once: the shape check asks whether there is
/// one, and the comparison with each secret's MAC reuses them (decoding the base64 twice cost
/// about as much as the rest of the header handling).
struct V1Candidates {
    sigs: [[u8; 32]; DECODED],
    len: usize,
    /// More than [`DECODED`] entries decoded: compare by decoding every entry again.
    more: bool,
}

impl V1Candidates {
    /// The decoded `v1` entries of `sigs`; none when the verifier has no secret to check them.
    fn decode(sigs: &str, wanted: bool) -> Self {
        let mut out = V1Candidates {
            sigs: [[0; 32]; DECODED],
            len: 0,
            more: false,
        };
        if !wanted {
            return out;
        }
        for sig in v1_entries(sigs).filter_map(|c| base64_exact::<32>(c.as_bytes())) {
            if out.len == DECODED {
                out.more = true;
                break;
            }
            out.sigs[out.len] = sig;
            out.len += 1;
        }
        out
    }

    /// Whether any `v1` entry holds a 32-byte signature.
    fn any(&self) -> bool {
        self.len > 0
    }
}

fn mac(secret: &KeyedSecret, id: &[u8], ts: &[u8], body: &[u8]) -> [u8; 32] {
    secret.mac(&[id, b".", ts, b".", body])
}

#[cfg(feature = "ed25519")]
mod ed25519 {
    use std::fmt;
    use std::time::SystemTime;

    use base64::Engine as _;
    use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
    use zeroize::Zeroizing;

    use super::super::encoding::BASE64;
    use super::super::timestamp;
    use crate::Error;

    /// `{id}.{ts}.{body}` in one buffer, as Ed25519 signs and verifies whole messages.
    /// `verify_strict` over the concatenation of `parts`, without copying them into one buffer:
    /// the same checks (canonical `s`, neither `R` nor the key of small order, `R` recomputed
    /// from SHA-512 of `R ‖ A ‖ message`), the message streamed into the hash.
    pub(super) fn verify_strict_parts(
        key: &VerifyingKey,
        sig: &ed25519_dalek::Signature,
        parts: &[&[u8]],
    ) -> bool {
        let r = curve25519_dalek::edwards::CompressedEdwardsY(sig.r_bytes().to_owned());
        match r.decompress() {
            Some(point) if !point.is_small_order() && !key.is_weak() => {}
            _ => return false,
        }
        // `verify_stream` refuses a non-canonical `s`, like `verify_strict`.
        let Ok(mut stream) = key.verify_stream(sig) else {
            return false;
        };
        for part in parts {
            stream.update(part);
        }
        stream.finalize_and_verify().is_ok()
    }

    /// The signed message in one piece, for signing (the signer's own input, not network input).
    pub(super) fn message(id: &str, ts: &str, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
        m.extend_from_slice(id.as_bytes());
        m.push(b'.');
        m.extend_from_slice(ts.as_bytes());
        m.push(b'.');
        m.extend_from_slice(body);
        m
    }

    pub(super) fn parse_public_key(text: &str) -> Result<VerifyingKey, Error> {
        let text = text.trim();
        let b64 = text.strip_prefix("whpk_").unwrap_or(text);
        let bytes = BASE64
            .decode(b64)
            .map_err(|_| Error::InvalidSecret("a public key is `whpk_` followed by base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidSecret("an Ed25519 public key is 32 bytes"))?;
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| Error::InvalidSecret("not a valid Ed25519 public key"))
    }

    /// Signs Standard Webhooks `v1a` (Ed25519) signatures, for the sender and for tests.
    ///
    /// `Debug` shows only the public key. The key is wiped on drop.
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    pub struct StandardWebhooksSigner {
        key: SigningKey,
    }

    impl fmt::Debug for StandardWebhooksSigner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("StandardWebhooksSigner")
                .field("public_key", &self.public_key())
                .finish_non_exhaustive()
        }
    }

    impl StandardWebhooksSigner {
        /// A signer for a `whsk_…` secret key (the prefix may be omitted). The base64 holds
        /// either the 32-byte seed or the 64-byte keypair (seed followed by public key, the form
        /// Svix uses); a keypair whose public half does not match its seed is rejected.
        pub fn new(secret_key: &str) -> Result<Self, Error> {
            let text = secret_key.trim();
            let b64 = text.strip_prefix("whsk_").unwrap_or(text);
            let bytes =
                Zeroizing::new(BASE64.decode(b64).map_err(|_| {
                    Error::InvalidSecret("a secret key is `whsk_` followed by base64")
                })?);
            let key = match bytes.len() {
                32 => {
                    let mut seed = Zeroizing::new([0u8; 32]);
                    seed.copy_from_slice(&bytes);
                    SigningKey::from_bytes(&seed)
                }
                64 => {
                    let mut pair = Zeroizing::new([0u8; 64]);
                    pair.copy_from_slice(&bytes);
                    SigningKey::from_keypair_bytes(&pair).map_err(|_| {
                        Error::InvalidSecret("keypair's public half does not match its seed")
                    })?
                }
                _ => {
                    return Err(Error::InvalidSecret(
                        "an Ed25519 secret key is a 32-byte seed or a 64-byte keypair",
                    ))
                }
            };
            Ok(StandardWebhooksSigner { key })
        }

        /// The matching public key as `whpk_<base64>`, for
        /// [`StandardWebhooks::add_public_key`](super::StandardWebhooks::add_public_key).
        pub fn public_key(&self) -> String {
            format!(
                "whpk_{}",
                BASE64.encode(self.key.verifying_key().as_bytes())
            )
        }

        /// The `v1a,<base64>` signature of `{msg_id}.{timestamp}.{body}`; `timestamp` is
        /// truncated to whole seconds (times before 1970 are signed as 0). Join it with `v1`
        /// entries by a space to send both.
        pub fn sign(&self, msg_id: &str, timestamp: SystemTime, body: &[u8]) -> String {
            let ts = timestamp::unix_secs(timestamp).to_string();
            let sig = self.key.sign(&message(msg_id, &ts, body));
            let mut out = String::from("v1a,");
            BASE64.encode_string(sig.to_bytes(), &mut out);
            out
        }
    }
}

#[cfg(feature = "ed25519")]
pub use self::ed25519::StandardWebhooksSigner;
