//! Configurable HMAC-SHA256: one verifier for every "HMAC of the body in a header" scheme.
//!
//! Vendors that sign with HMAC-SHA256 differ in five details, each a setting of
//! [`HmacSha256Builder`]:
//!
//! | setting | choices |
//! |---|---|
//! | signature header | any name (`X-Hub-Signature-256`, `X-Sam-Signature`, …) |
//! | prefix | none, optional or required (`sha256=`, `v0=`) |
//! | encoding | [`SignatureEncoding::Hex`], [`Base64`](SignatureEncoding::Base64), or [`HexOrBase64`](SignatureEncoding::HexOrBase64) (told apart by length) |
//! | signed content | [`SignedContent::Body`], `{ts}.{body}`, Slack's `v0:{ts}:{body}`, Stripe's `t=..,v1=..` header |
//! | tolerance | for timestamped layouts, default 300 s, both directions |
//!
//! Several secrets (rotation) and several signatures per header (separated by commas or spaces)
//! are accepted: any match passes, and [`Verified::key_index`] tells which secret matched.
//!
//! The presets ([`HmacSha256::github`], [`HmacSha256::slack`], [`HmacSha256::stripe`],
//! [`HmacSha256::sam`], [`HmacSha256::buzzi`], [`HmacSha256::conversalabs`]) say in their docs
//! which parts the vendor documents and which are inferred. Every preset can be adjusted through
//! [`HmacSha256::into_builder`].
//!
//! [`HmacSha256::sign`] produces the headers through the same MAC code the verifier runs, so a
//! test that signs and verifies exercises the real path.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::encoding::{base64_exact, hex_exact, BASE64};
use super::timestamp;
use super::{Verified, Verifier, DEFAULT_TOLERANCE};
use crate::error::Name;
use crate::secret::SecretInput;
use crate::{Error, Inbound, Secret};

/// Longest accepted signature header, in bytes (room for many rotated keys).
const MAX_SIGNATURE_HEADER_LEN: usize = 8 * 1024;
/// Longest accepted delivery id, in bytes.
const MAX_DELIVERY_ID_LEN: usize = 256;
/// Length of hex-encoded SHA-256 output.
const HEX_LEN: usize = 64;

/// HMAC-SHA256 over a sequence of byte slices, fed in order without concatenating them.
///
/// The one MAC routine behind [`HmacSha256`]'s verifier and signer (and Standard Webhooks).
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

/// A secret with its HMAC-SHA256 key schedule done once, when the verifier is built: each MAC
/// then starts from a copy of the keyed state instead of hashing the padded key twice more
/// (two of the ~84 SHA-256 blocks of a 5 KiB delivery). The keyed state is as sensitive as the
/// key (it computes MACs) and, like the key, never appears in `Debug`.
#[derive(Clone)]
pub(crate) struct KeyedSecret {
    secret: Secret,
    keyed: Hmac<Sha256>,
}

impl KeyedSecret {
    pub(crate) fn new(secret: Secret) -> Self {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose())
            .expect("HMAC accepts keys of any length");
        KeyedSecret { secret, keyed }
    }

    /// HMAC-SHA256 over `parts` in order, as [`hmac_sha256`] computes it with this key.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.keyed.clone();
        for part in parts {
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }
}

impl fmt::Debug for KeyedSecret {
    // Exactly the secret's own redacted form: the keyed state says no more.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.secret, f)
    }
}

/// How the signature bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureEncoding {
    /// 64 hex digits, either case.
    #[default]
    Hex,
    /// Standard base64 (43 characters unpadded, 44 padded).
    Base64,
    /// Either of the above, told apart by length (64 characters is hex, anything else is tried
    /// as base64). For vendors that do not say which they use. Signing writes hex.
    HexOrBase64,
}

/// Which bytes the sender signs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedContent {
    /// The raw body alone (GitHub, and the inferred default of Sam and Buzzi). No timestamp, so
    /// no replay protection from the signature itself.
    Body,
    /// `{timestamp}.{body}`, with the unix-seconds timestamp taken from a header (Chatwoot-style).
    TimestampDotBody {
        /// Header holding the unix timestamp in seconds, e.g. `X-Chatwoot-Timestamp`.
        timestamp_header: Cow<'static, str>,
    },
    /// Slack's `v0:{timestamp}:{body}`, timestamp from a header (`X-Slack-Request-Timestamp`).
    SlackV0 {
        /// Header holding the unix timestamp in seconds.
        timestamp_header: Cow<'static, str>,
    },
    /// Stripe's layout: the signature header itself reads `t=<ts>,v1=<sig>,v1=<sig>,…`, and each
    /// `v1` signs `{t}.{body}`. Entries other than `t` and `v1` (Stripe's test-mode `v0`) are
    /// ignored, which prevents downgrades. The prefix setting does not apply.
    StripeHeader,
}

impl SignedContent {
    /// `{timestamp}.{body}` with the timestamp in `header`.
    pub fn timestamp_dot_body(header: impl Into<Cow<'static, str>>) -> Self {
        SignedContent::TimestampDotBody {
            timestamp_header: header.into(),
        }
    }

    /// Slack's `v0:{timestamp}:{body}` with the timestamp in `header`.
    pub fn slack_v0(header: impl Into<Cow<'static, str>>) -> Self {
        SignedContent::SlackV0 {
            timestamp_header: header.into(),
        }
    }
}

/// Builder for [`HmacSha256`]. Start from [`HmacSha256::builder`] or from a preset with
/// [`HmacSha256::into_builder`].
///
/// `Debug` shows the settings and the number of secrets, never their bytes.
#[derive(Debug, Clone)]
pub struct HmacSha256Builder {
    scheme: &'static str,
    signature_header: Cow<'static, str>,
    prefix: Option<Cow<'static, str>>,
    prefix_required: bool,
    encoding: SignatureEncoding,
    content: SignedContent,
    tolerance: Duration,
    delivery_id_header: Option<Cow<'static, str>>,
    secrets: Vec<Secret>,
}

impl HmacSha256Builder {
    /// Add a secret: a parsed [`Secret`], returning the builder, or text (used as-is, like
    /// [`Secret::raw`]), returning `Result` (see [`SecretInput`]). Call it several times to
    /// accept several (key rotation); [`Verified::key_index`] is the position in this order,
    /// starting at 0.
    pub fn secret<S: SecretInput>(self, secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            let mut b = self;
            b.secrets.push(secret);
            b
        })
    }

    /// The header that carries the signature(s).
    pub fn signature_header(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.signature_header = name.into();
        self
    }

    /// A prefix every signature must start with, e.g. `sha256=` or `v0=`. Entries without it
    /// are ignored (treated as other signature versions).
    pub fn prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.prefix = Some(prefix.into());
        self.prefix_required = true;
        self
    }

    /// A prefix that is stripped when present and tolerated when absent. Signing writes it.
    pub fn optional_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.prefix = Some(prefix.into());
        self.prefix_required = false;
        self
    }

    /// No prefix.
    pub fn no_prefix(mut self) -> Self {
        self.prefix = None;
        self.prefix_required = false;
        self
    }

    /// How signatures are encoded (default hex).
    pub fn encoding(mut self, encoding: SignatureEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// What the sender signs (default the raw body).
    pub fn signed_content(mut self, content: SignedContent) -> Self {
        self.content = content;
        self
    }

    /// Maximum distance between the signed timestamp and the clock, in both directions (default
    /// 300 s). Ignored for [`SignedContent::Body`]. `Duration::MAX` disables the check.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// A header whose value is recorded as [`Verified::unsigned_delivery_id`] when present (for
    /// example `X-GitHub-Delivery`). The signature does not cover it, so it is for logs and
    /// correlation only: never deduplicate on it (a replay can change it). Values longer than 256 bytes are rejected with
    /// [`Error::InvalidHeader`].
    pub fn delivery_id_header(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.delivery_id_header = Some(name.into());
        self
    }

    /// The short name reported by [`Verified::scheme`] (default `"hmac-sha256"`).
    pub fn scheme_name(mut self, name: &'static str) -> Self {
        self.scheme = name;
        self
    }

    /// Check the settings and build the verifier.
    ///
    /// Fails with [`Error::Config`] for an invalid header name or an empty prefix, and with
    /// [`Error::InvalidSecret`] when no secret was given.
    pub fn build(self) -> Result<HmacSha256, Error> {
        if self.secrets.is_empty() {
            return Err(Error::InvalidSecret("no secret configured"));
        }
        if matches!(&self.prefix, Some(p) if p.is_empty()) {
            return Err(Error::Config("empty signature prefix".into()));
        }
        let signature = HeaderSpec::new(self.signature_header.clone())?;
        let layout = match &self.content {
            SignedContent::Body => Layout::Body,
            SignedContent::TimestampDotBody { timestamp_header } => {
                Layout::TimestampDotBody(HeaderSpec::new(timestamp_header.clone())?)
            }
            SignedContent::SlackV0 { timestamp_header } => {
                Layout::SlackV0(HeaderSpec::new(timestamp_header.clone())?)
            }
            SignedContent::StripeHeader => Layout::Stripe,
        };
        let delivery_id = self
            .delivery_id_header
            .clone()
            .map(HeaderSpec::new)
            .transpose()?;
        Ok(HmacSha256 {
            signature,
            layout,
            delivery_id,
            config: self,
        })
    }
}

/// A header name checked once at build time, plus the label used in errors.
#[derive(Debug, Clone)]
struct HeaderSpec {
    name: HeaderName,
    label: Name,
}

impl HeaderSpec {
    fn new(label: Cow<'static, str>) -> Result<Self, Error> {
        let name = HeaderName::from_bytes(label.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name `{label}`").into()))?;
        Ok(HeaderSpec { name, label })
    }
}

#[derive(Debug, Clone)]
enum Layout {
    Body,
    TimestampDotBody(HeaderSpec),
    SlackV0(HeaderSpec),
    Stripe,
}

/// Configurable HMAC-SHA256 verifier and signer.
///
/// ```
/// use std::time::SystemTime;
/// use chathooks::{Inbound, Secret, verify::{HmacSha256, Verifier}};
///
/// // GitHub's documented example.
/// let v = HmacSha256::github(Secret::raw("It's a Secret to Everybody")?);
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "x-hub-signature-256",
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".parse().unwrap(),
/// );
/// headers.insert("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap());
/// let verified = v.verify_at(&Inbound::new(&headers, b"Hello, World!"), SystemTime::now())?;
/// assert_eq!(verified.unsigned_delivery_id(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
/// assert_eq!(verified.key_index(), Some(0));
/// # Ok::<(), chathooks::Error>(())
/// ```
///
/// `Debug` never shows secret bytes.
#[derive(Clone)]
pub struct HmacSha256 {
    signature: HeaderSpec,
    layout: Layout,
    delivery_id: Option<HeaderSpec>,
    config: HmacSha256Builder,
}

impl fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The builder's Debug prints each Secret redacted.
        f.debug_struct("HmacSha256")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HmacSha256 {
    /// Start a verifier reading signatures from `signature_header`: no prefix, hex, signed
    /// content = raw body, tolerance 300 s. Add at least one secret before [`build`](HmacSha256Builder::build).
    ///
    /// ```
    /// use chathooks::{Secret, verify::{HmacSha256, SignatureEncoding, SignedContent}};
    /// let v = HmacSha256::builder("X-Signature")
    ///     .secret(Secret::raw("a-long-enough-secret")?)
    ///     .optional_prefix("sha256=")
    ///     .encoding(SignatureEncoding::HexOrBase64)
    ///     .signed_content(SignedContent::timestamp_dot_body("X-Timestamp"))
    ///     .build()?;
    /// # let _ = v;
    /// # Ok::<(), chathooks::Error>(())
    /// ```
    pub fn builder(signature_header: impl Into<Cow<'static, str>>) -> HmacSha256Builder {
        HmacSha256Builder {
            scheme: "hmac-sha256",
            signature_header: signature_header.into(),
            prefix: None,
            prefix_required: false,
            encoding: SignatureEncoding::Hex,
            content: SignedContent::Body,
            tolerance: DEFAULT_TOLERANCE,
            delivery_id_header: None,
            secrets: Vec::new(),
        }
    }

    /// The builder this verifier was made from, to adjust a preset (header names, encoding,
    /// extra secrets) and [`build`](HmacSha256Builder::build) again.
    pub fn into_builder(self) -> HmacSha256Builder {
        self.config
    }

    /// Also accept signatures made with `secret` (key rotation): a parsed [`Secret`], returning
    /// the verifier, or text (used as-is, like [`Secret::raw`]), returning `Result` (see
    /// [`SecretInput`]).
    pub fn add_secret<S: SecretInput>(self, secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            let mut v = self;
            v.config.secrets.push(secret);
            v
        })
    }

    /// Change the timestamp tolerance (see [`HmacSha256Builder::tolerance`]).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.config.tolerance = tolerance;
        self
    }

    fn preset(builder: HmacSha256Builder) -> Self {
        builder
            .build()
            .expect("presets use valid header names and one secret")
    }

    /// **GitHub** (documented): `X-Hub-Signature-256: sha256=<hex HMAC of the raw body>`, delivery
    /// id from `X-GitHub-Delivery` (unsigned: reported, never used as the dedupe key). No
    /// timestamp: the signature alone gives no replay protection; a [`Receiver`](crate::Receiver)
    /// deduplicates on the signed body. Pass the webhook's secret text (used as-is) or a
    /// [`Secret`].
    pub fn github<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            Self::preset(
                Self::builder("X-Hub-Signature-256")
                    .secret(secret)
                    .prefix("sha256=")
                    .delivery_id_header("X-GitHub-Delivery")
                    .scheme_name("github"),
            )
        })
    }

    /// **Slack** (documented): `X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`, where `ts` is
    /// `X-Slack-Request-Timestamp` (unix seconds). Pass the signing secret's text or a [`Secret`].
    pub fn slack<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            Self::preset(
                Self::builder("X-Slack-Signature")
                    .secret(secret)
                    .prefix("v0=")
                    .signed_content(SignedContent::slack_v0("X-Slack-Request-Timestamp"))
                    .scheme_name("slack-v0"),
            )
        })
    }

    /// **Stripe** (documented): `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]`, each `v1` over
    /// `{t}.{body}`; `v0` and other entries are ignored. The `whsec_…` text is the key as-is
    /// (pass the text, or [`Secret::raw`], not [`Secret::standard`]).
    pub fn stripe<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            Self::preset(
                Self::builder("Stripe-Signature")
                    .secret(secret)
                    .signed_content(SignedContent::StripeHeader)
                    .scheme_name("stripe-v1"),
            )
        })
    }

    /// **Sam** (viasam.app). Documented: HMAC-SHA256 in `X-Sam-Signature`, secret optional in
    /// the dashboard. **Inferred** (not documented): the MAC is over the raw body, hex or base64
    /// (both accepted), an optional `sha256=` prefix is tolerated, no timestamp and no delivery
    /// id. Unconfirmed until checked against a captured request; adjust with
    /// [`into_builder`](Self::into_builder).
    pub fn sam<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            Self::preset(
                Self::builder("X-Sam-Signature")
                    .secret(secret)
                    .optional_prefix("sha256=")
                    .encoding(SignatureEncoding::HexOrBase64)
                    .scheme_name("sam"),
            )
        })
    }

    /// **Buzzi** (chat.buzzi.ai). Public sources name the `X-Webhook-Signature` header and an
    /// HMAC-SHA256 signing secret; everything else is **inferred**: raw body, hex or base64,
    /// optional `sha256=` prefix, no timestamp. Buzzi generates 64-hex-character secrets; whether
    /// the key is that text ([`Secret::raw`]) or its decoded bytes ([`Secret::from_hex`]) is not
    /// known either.
    pub fn buzzi<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            Self::preset(
                Self::builder("X-Webhook-Signature")
                    .secret(secret)
                    .optional_prefix("sha256=")
                    .encoding(SignatureEncoding::HexOrBase64)
                    .scheme_name("buzzi"),
            )
        })
    }

    /// **ConversaLabs**: the vendor only says to "validate the webhook signature/secret". This
    /// preset is **inferred** from its apparent Chatwoot lineage:
    /// `X-Chatwoot-Signature: sha256=<hex HMAC>` over `{X-Chatwoot-Timestamp}.{body}`, delivery id
    /// from `X-Chatwoot-Delivery`. ConversaLabs may rename the headers; reconfigure like this:
    ///
    /// ```
    /// use chathooks::{Secret, verify::{HmacSha256, SignedContent}};
    /// let v = HmacSha256::conversalabs(Secret::raw("a-long-enough-secret")?)
    ///     .into_builder()
    ///     .signature_header("X-ConversaLabs-Signature")
    ///     .signed_content(SignedContent::timestamp_dot_body("X-ConversaLabs-Timestamp"))
    ///     .delivery_id_header("X-ConversaLabs-Delivery")
    ///     .build()?;
    /// # let _ = v;
    /// # Ok::<(), chathooks::Error>(())
    /// ```
    pub fn conversalabs<S: SecretInput>(secret: S) -> S::Output<Self> {
        secret.resolve(Secret::raw, |secret| {
            Self::preset(
                Self::builder("X-Chatwoot-Signature")
                    .secret(secret)
                    .prefix("sha256=")
                    .signed_content(SignedContent::timestamp_dot_body("X-Chatwoot-Timestamp"))
                    .delivery_id_header("X-Chatwoot-Delivery")
                    .scheme_name("conversalabs"),
            )
        })
    }

    /// The signature header value for `body` signed at `timestamp` with every configured secret
    /// (comma-separated; for Stripe, `t=<ts>,v1=…,v1=…`). Hex is written lowercase; `timestamp`
    /// is truncated to whole seconds and ignored for [`SignedContent::Body`].
    pub fn signature(&self, timestamp: SystemTime, body: &[u8]) -> String {
        let ts = timestamp::unix_secs(timestamp).to_string();
        let mut out = String::new();
        if matches!(self.layout, Layout::Stripe) {
            out.push_str("t=");
            out.push_str(&ts);
        }
        for (i, secret) in self.config.secrets.iter().enumerate() {
            let tag = self.mac(secret, ts.as_bytes(), body);
            if matches!(self.layout, Layout::Stripe) {
                out.push_str(",v1=");
            } else {
                if i > 0 {
                    out.push(',');
                }
                if let Some(p) = &self.config.prefix {
                    out.push_str(p);
                }
            }
            match self.config.encoding {
                SignatureEncoding::Base64 => BASE64.encode_string(tag, &mut out),
                SignatureEncoding::Hex | SignatureEncoding::HexOrBase64 => {
                    out.push_str(&hex::encode(tag))
                }
            }
        }
        out
    }

    /// The headers a sender would attach: the signature header and, for the timestamped layouts
    /// that use a separate header, the timestamp header. Same code path as verification.
    pub fn sign(&self, timestamp: SystemTime, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let sig = self.signature(timestamp, body);
        headers.insert(
            self.signature.name.clone(),
            HeaderValue::try_from(sig).expect("hex, base64 and digits are valid header text"),
        );
        if let Layout::TimestampDotBody(h) | Layout::SlackV0(h) = &self.layout {
            headers.insert(
                h.name.clone(),
                HeaderValue::from(timestamp::unix_secs(timestamp)),
            );
        }
        headers
    }

    fn mac(&self, secret: &Secret, ts: &[u8], body: &[u8]) -> [u8; 32] {
        let key = secret.expose();
        match self.layout {
            Layout::Body => hmac_sha256(key, &[body]),
            Layout::TimestampDotBody(_) | Layout::Stripe => hmac_sha256(key, &[ts, b".", body]),
            Layout::SlackV0(_) => hmac_sha256(key, &[b"v0:", ts, b":", body]),
        }
    }

    fn decode(&self, text: &str) -> Option<[u8; 32]> {
        let bytes = text.as_bytes();
        match self.config.encoding {
            SignatureEncoding::Hex => hex_exact::<32>(bytes),
            SignatureEncoding::Base64 => base64_exact::<32>(bytes),
            SignatureEncoding::HexOrBase64 if bytes.len() == HEX_LEN => hex_exact::<32>(bytes),
            SignatureEncoding::HexOrBase64 => base64_exact::<32>(bytes),
        }
    }

    /// Strip the prefix from one list entry; `None` when a required prefix is missing.
    fn unprefixed<'s>(&self, entry: &'s str) -> Option<&'s str> {
        match &self.config.prefix {
            None => Some(entry),
            Some(p) => match entry.strip_prefix(p.as_ref()) {
                Some(rest) => Some(rest),
                None if self.config.prefix_required => None,
                None => Some(entry),
            },
        }
    }

    /// `Err` (400) unless some candidate decodes to a 32-byte signature: a header holding none
    /// cannot be authentic under any key, and saying why (the encoding or prefix this verifier
    /// expects) points at the configuration instead of the secret. No MAC is computed for it.
    fn check_shape<'s>(&self, mut candidates: impl Iterator<Item = &'s str>) -> Result<(), Error> {
        if candidates.any(|c| self.decode(c).is_some()) {
            return Ok(());
        }
        let reason = match (self.config.encoding, self.config.prefix_required) {
            _ if matches!(self.layout, Layout::Stripe) => {
                "no `v1=` entry holds a 32-byte signature"
            }
            (SignatureEncoding::Hex, false) => "no entry holds a 32-byte signature in hex",
            (SignatureEncoding::Hex, true) => {
                "no entry holds the required prefix and a 32-byte signature in hex"
            }
            (SignatureEncoding::Base64, false) => "no entry holds a 32-byte signature in base64",
            (SignatureEncoding::Base64, true) => {
                "no entry holds the required prefix and a 32-byte signature in base64"
            }
            (SignatureEncoding::HexOrBase64, false) => {
                "no entry holds a 32-byte signature in hex or base64"
            }
            (SignatureEncoding::HexOrBase64, true) => {
                "no entry holds the required prefix and a 32-byte signature in hex or base64"
            }
        };
        Err(Error::InvalidHeader {
            name: self.signature.label.clone(),
            reason,
        })
    }

    /// Index of the first secret whose MAC equals any candidate.
    fn match_candidates<'s>(
        &self,
        ts: &[u8],
        body: &[u8],
        candidates: impl Iterator<Item = &'s str> + Clone,
    ) -> Option<usize> {
        for (index, secret) in self.config.secrets.iter().enumerate() {
            let expected = self.mac(secret, ts, body);
            let mut hit = subtle::Choice::from(0u8);
            for candidate in candidates.clone() {
                if let Some(sig) = self.decode(candidate) {
                    hit |= sig.ct_eq(&expected);
                }
            }
            if bool::from(hit) {
                return Some(index);
            }
        }
        None
    }

    fn header_text<'a>(inbound: &Inbound<'a>, spec: &HeaderSpec) -> Result<&'a str, Error> {
        let value = inbound
            .headers()
            .get(&spec.name)
            .ok_or_else(|| Error::MissingHeader(spec.label.clone()))?;
        value.to_str().map_err(|_| Error::InvalidHeader {
            name: spec.label.clone(),
            reason: "not visible ASCII",
        })
    }
}

/// The `t=` value and the `v1=` entries of a Stripe-style header.
fn stripe_parts(header: &str) -> Result<(&str, impl Iterator<Item = &str> + Clone), &'static str> {
    let entries = header.split(',').map(str::trim);
    let mut t = None;
    for entry in entries.clone() {
        if let Some(v) = entry.strip_prefix("t=") {
            if t.replace(v).is_some() {
                return Err("more than one `t=` entry");
            }
        }
    }
    let t = t.ok_or("no `t=` timestamp entry")?;
    let v1 = entries.filter_map(|e| e.strip_prefix("v1="));
    Ok((t, v1))
}

impl Verifier for HmacSha256 {
    fn verify_at<'a>(&self, inbound: &Inbound<'a>, now: SystemTime) -> Result<Verified<'a>, Error> {
        let sigs = Self::header_text(inbound, &self.signature)?;
        if sigs.len() > MAX_SIGNATURE_HEADER_LEN {
            return Err(Error::InvalidHeader {
                name: self.signature.label.clone(),
                reason: "longer than 8 KiB",
            });
        }
        let delivery_id = match &self.delivery_id {
            None => None,
            Some(spec) => match inbound.headers().get(&spec.name) {
                None => None,
                Some(v) => {
                    let id = v.to_str().map_err(|_| Error::InvalidHeader {
                        name: spec.label.clone(),
                        reason: "not visible ASCII",
                    })?;
                    if id.is_empty() || id.len() > MAX_DELIVERY_ID_LEN {
                        return Err(Error::InvalidHeader {
                            name: spec.label.clone(),
                            reason: "empty or longer than 256 bytes",
                        });
                    }
                    Some(id)
                }
            },
        };
        let body = inbound.body();
        let list = |s: &'a str| {
            s.split([',', ' ', '\t'])
                .filter(|e| !e.is_empty())
                .filter_map(|e| self.unprefixed(e))
        };

        // Format first (400), then authenticity (401): tolerance, then the MACs.
        let (ts, matched) = match &self.layout {
            Layout::Body => {
                self.check_shape(list(sigs))?;
                (None, self.match_candidates(b"", body, list(sigs)))
            }
            Layout::TimestampDotBody(spec) | Layout::SlackV0(spec) => {
                let ts_text = Self::header_text(inbound, spec)?;
                let ts = timestamp::parse_seconds(ts_text, &spec.label)?;
                self.check_shape(list(sigs))?;
                timestamp::check_tolerance(ts, now, self.config.tolerance)?;
                let m = self.match_candidates(ts_text.as_bytes(), body, list(sigs));
                (Some(ts), m)
            }
            Layout::Stripe => {
                let (ts_text, v1) = stripe_parts(sigs).map_err(|reason| Error::InvalidHeader {
                    name: self.signature.label.clone(),
                    reason,
                })?;
                let ts = timestamp::parse_seconds(ts_text, &self.signature.label)?;
                self.check_shape(v1.clone())?;
                timestamp::check_tolerance(ts, now, self.config.tolerance)?;
                (
                    Some(ts),
                    self.match_candidates(ts_text.as_bytes(), body, v1),
                )
            }
        };
        match matched {
            Some(index) => Ok(Verified::new(self.config.scheme, body)
                .with_delivery_id(delivery_id)
                .with_timestamp(ts.and_then(timestamp::to_system_time))
                .with_key_index(Some(index))),
            None => Err(Error::SignatureMismatch(self.signature.label.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 §4 test cases 1–4, 6 and 7 (case 5 is a truncated output, not applicable).
    #[test]
    fn rfc4231_vectors() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                (1u8..=25).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            assert_eq!(hex::encode(hmac_sha256(&key, &[&data])), expected);
            // Feeding the message in pieces must not change the MAC.
            let (a, b) = data.split_at(data.len() / 2);
            assert_eq!(hex::encode(hmac_sha256(&key, &[a, b])), expected);
        }
    }

    #[test]
    fn stripe_header_parts() {
        let (t, v1) = stripe_parts("t=1, v1=aa,v0=bb,v1=cc,x").unwrap();
        assert_eq!(t, "1");
        assert_eq!(v1.collect::<Vec<_>>(), ["aa", "cc"]);
        assert!(stripe_parts("v1=aa").is_err());
        assert!(stripe_parts("t=1,t=2,v1=aa").is_err());
    }
}
