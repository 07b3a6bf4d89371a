//! `chathooks doctor`: find the scheme and settings that verify a capture, or the closest reason
//! why none does.
//!
//! The search tries every scheme the crate knows over every signature-like value in the headers
//! and the query string:
//!
//! - HMAC-SHA256 over `body`, `{ts}.{body}`, `{id}.{ts}.{body}`, Slack's `v0:{ts}:{body}` and
//!   Stripe's `t=…,v1=…`, with each timestamp-like header (seconds or milliseconds) and id-like
//!   header, each secret used raw, base64-, `whsec_`- or hex-decoded; signatures in hex or base64,
//!   with or without a `name=` or `v1,` prefix (Standard Webhooks v1 is the `{id}.{ts}.{body}`
//!   case with its own headers);
//! - Standard Webhooks v1a (Ed25519) with `--public-key`;
//! - static tokens (a header equal to the secret);
//! - SaleSmartly's MD5 query signature, with and without the timestamp.
//!
//! **Cost.** The layouts differ only in a short prefix before the body, so each distinct
//! (key, prefix) pair is keyed and fed its prefix once, and one pass over the body per pair
//! finishes the exact body and both trailing-newline variants (clones of the state before and
//! after the final newline). Layouts with the same bytes (`{ts}.` from a timestamp header and
//! from Stripe's `t=`) share one pass, and one MAC is compared with every candidate signature
//! (every header, encoding and prefix). When nothing matches, the body is checked as JSON once
//! and each re-serialisation is written in 32 KiB chunks straight into every (key, prefix) state:
//! no copy of the body per style (the sorted styles share one sorted copy, as sorting parses the
//! body), and a style that writes the captured bytes unchanged costs no MAC. Other-length MACs (SHA-1, SHA-384, SHA-512, MD5) are computed once per (length, key,
//! prefix). The passes run on every core. `benches/doctor.rs` measures it against one raw HMAC.

use std::fmt::Write as _;
use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Sha384, Sha512};

use super::capture::Capture;
use crate::verify::{HmacSha256, SaleSmartly, SaleSmartlyLayout, SignatureEncoding, SignedContent};
use crate::verify::{StandardWebhooks, Token, Verifier};
use crate::{Inbound, Secret};

mod json_style;
mod passes;

/// Longest header value searched for signatures.
const MAX_VALUE_LEN: usize = 8 * 1024;
/// Most candidate signatures kept.
const MAX_CANDIDATES: usize = 128;
/// Most timestamp-like and id-like values each.
const MAX_STAMPS: usize = 4;
/// Most layouts tried per key.
const MAX_LAYOUTS: usize = 32;
/// Most secrets per run.
pub const MAX_SECRETS: usize = 8;
/// Largest decompressed body tried.
const MAX_DECOMPRESSED: u64 = 16 * 1024 * 1024;

/// What doctor is asked. `Debug` shows how many secrets and keys, never their text.
#[derive(Clone)]
pub struct Options {
    /// Secrets as typed (each is tried in every decoding).
    pub secrets: Vec<String>,
    /// Ed25519 public keys (`whpk_…`) for Standard Webhooks v1a.
    pub public_keys: Vec<String>,
    /// "Now", in unix seconds, for the timestamp checks.
    pub at: u64,
    /// Tolerance of the timestamp checks, in seconds.
    pub tolerance: u64,
    /// When nothing matches, also try re-serialised and decompressed bodies (more passes).
    pub near_misses: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("secrets", &self.secrets.len())
            .field("public_keys", &self.public_keys.len())
            .field("at", &self.at)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// How a secret's text becomes key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// The text's bytes.
    Raw,
    /// Base64-decoded.
    Base64,
    /// `whsec_` stripped, then base64-decoded.
    Whsec,
    /// Hex-decoded.
    Hex,
}

impl KeyEncoding {
    /// The `--json` name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyEncoding::Raw => "raw",
            KeyEncoding::Base64 => "base64",
            KeyEncoding::Whsec => "whsec",
            KeyEncoding::Hex => "hex",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KeyEncoding::Raw => "the secret used raw (its text as the key)",
            KeyEncoding::Base64 => "the secret base64-decoded",
            KeyEncoding::Whsec => "the secret `whsec_`-decoded",
            KeyEncoding::Hex => "the secret hex-decoded",
        }
    }

    fn constructor(self) -> &'static str {
        match self {
            KeyEncoding::Raw => "Secret::raw",
            KeyEncoding::Base64 => "Secret::from_base64",
            KeyEncoding::Whsec => "Secret::standard",
            KeyEncoding::Hex => "Secret::from_hex",
        }
    }

    fn secret(self, text: &str) -> Result<Secret, crate::Error> {
        match self {
            KeyEncoding::Raw => Secret::raw(text),
            KeyEncoding::Base64 => Secret::from_base64(text),
            KeyEncoding::Whsec => Secret::standard(text),
            KeyEncoding::Hex => Secret::from_hex(text),
        }
    }
}

/// How a signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigEncoding {
    /// Hex digits.
    Hex,
    /// Standard base64.
    Base64,
    /// URL-safe base64 (`-` and `_`), which no built-in verifier reads.
    Base64Url,
}

impl SigEncoding {
    fn as_str(self) -> &'static str {
        match self {
            SigEncoding::Hex => "hex",
            SigEncoding::Base64 => "base64",
            SigEncoding::Base64Url => "base64url",
        }
    }
}

/// Which bytes were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The body alone.
    Body,
    /// `{ts}.{body}`.
    TimestampBody,
    /// `{id}.{ts}.{body}`.
    IdTimestampBody,
    /// `v0:{ts}:{body}`.
    SlackV0,
    /// Stripe's `t=…,v1=…` header over `{t}.{body}`.
    Stripe,
}

impl Content {
    /// The `--json` name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Content::Body => "body",
            Content::TimestampBody => "timestamp.body",
            Content::IdTimestampBody => "id.timestamp.body",
            Content::SlackV0 => "slack-v0",
            Content::Stripe => "stripe",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Content::Body => "the body",
            Content::TimestampBody => "`{timestamp}.{body}`",
            Content::IdTimestampBody => "`{id}.{timestamp}.{body}`",
            Content::SlackV0 => "Slack's `v0:{timestamp}:{body}`",
            Content::Stripe => "Stripe's `{t}.{body}`",
        }
    }
}

/// How the body that matched differs from the captured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyVariant {
    /// The captured bytes.
    Exact,
    /// The captured bytes plus `\n`.
    NewlineAdded,
    /// The captured bytes without their final `\n` (or `\r\n`).
    NewlineRemoved,
    /// The same JSON serialised in another style.
    Restyled(Style),
    /// The body decompressed.
    Decompressed(Compression),
}

impl BodyVariant {
    /// The `--json` name.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyVariant::Exact => "exact",
            BodyVariant::NewlineAdded => "trailing-newline-missing",
            BodyVariant::NewlineRemoved => "trailing-newline-added",
            BodyVariant::Restyled(_) => "re-serialised-json",
            BodyVariant::Decompressed(_) => "compressed",
        }
    }
}

/// JSON serialisation styles a sender might sign while the body arrives in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No whitespace (`JSON.stringify`, serde_json, Go's `json.Marshal`).
    Compact,
    /// `", "` and `": "` with non-ASCII escaped (Python's `json.dumps` defaults).
    Python,
    /// `", "` and `": "` with UTF-8 kept (`json.dumps(…, ensure_ascii=False)`).
    Spaced,
    /// No whitespace, non-ASCII escaped.
    CompactAscii,
    /// Two-space indentation (`JSON.stringify(v, null, 2)`, serde_json's pretty printer).
    Pretty2,
    /// Four-space indentation (`json.dumps(…, indent=4, ensure_ascii=False)`).
    Pretty4,
    /// No whitespace, keys sorted
    /// (`json.dumps(…, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
    SortedCompact,
    /// [`Pretty2`](Style::Pretty2) with non-ASCII escaped (`json.dumps(…, indent=2)`).
    Pretty2Ascii,
    /// [`Pretty4`](Style::Pretty4) with non-ASCII escaped (`json.dumps(…, indent=4)`).
    Pretty4Ascii,
    /// [`SortedCompact`](Style::SortedCompact) with non-ASCII escaped
    /// (`json.dumps(…, sort_keys=True, separators=(",", ":"))`).
    SortedCompactAscii,
    /// [`Python`](Style::Python) with the keys sorted (`json.dumps(…, sort_keys=True)`).
    SortedPython,
}

impl Style {
    /// Every style, in the order a match is reported when several write the same bytes.
    const ALL: [Style; 11] = [
        Style::Compact,
        Style::Python,
        Style::Spaced,
        Style::CompactAscii,
        Style::Pretty2,
        Style::Pretty4,
        Style::SortedCompact,
        Style::Pretty2Ascii,
        Style::Pretty4Ascii,
        Style::SortedCompactAscii,
        Style::SortedPython,
    ];

    /// Whether the keys are sorted (the body is parsed, not only re-spaced).
    fn sorted(self) -> bool {
        matches!(
            self,
            Style::SortedCompact | Style::SortedCompactAscii | Style::SortedPython
        )
    }

    /// The style that writes the same bytes as this one when the text has no non-ASCII
    /// characters and no `\u` escapes, listed earlier in [`ALL`](Style::ALL).
    fn ascii_twin(self) -> Option<Style> {
        match self {
            Style::Spaced => Some(Style::Python),
            Style::CompactAscii => Some(Style::Compact),
            Style::Pretty2Ascii => Some(Style::Pretty2),
            Style::Pretty4Ascii => Some(Style::Pretty4),
            Style::SortedCompactAscii => Some(Style::SortedCompact),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Style::Compact => "compact, without whitespace (JSON.stringify / serde_json style)",
            Style::Python => {
                "with `, ` and `: ` separators and non-ASCII escaped (Python json.dumps style)"
            }
            Style::Spaced => "with `, ` and `: ` separators",
            Style::CompactAscii => "compact with non-ASCII escaped as \\uXXXX",
            Style::Pretty2 => "pretty-printed with two-space indentation",
            Style::Pretty4 => "pretty-printed with four-space indentation",
            Style::SortedCompact => "compact with the keys sorted",
            Style::Pretty2Ascii => {
                "pretty-printed with two-space indentation and non-ASCII escaped (Python json.dumps(…, indent=2) style)"
            }
            Style::Pretty4Ascii => {
                "pretty-printed with four-space indentation and non-ASCII escaped (Python json.dumps(…, indent=4) style)"
            }
            Style::SortedCompactAscii => {
                "compact with the keys sorted and non-ASCII escaped (Python json.dumps(…, sort_keys=True, separators=(\",\", \":\")) style)"
            }
            Style::SortedPython => {
                "with `, ` and `: ` separators, the keys sorted and non-ASCII escaped (Python json.dumps(…, sort_keys=True) style)"
            }
        }
    }
}

/// Compression a body may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`1f 8b`).
    Gzip,
    /// zlib-wrapped deflate.
    Zlib,
    /// raw deflate.
    Deflate,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zlib => "deflate (zlib)",
            Compression::Deflate => "deflate",
        }
    }
}

/// The scheme of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks v1 or v1a.
    StandardWebhooks,
    /// Configurable HMAC-SHA256.
    HmacSha256,
    /// A static token header.
    Token,
    /// SaleSmartly's MD5 query signature.
    SaleSmartlyMd5,
}

impl Scheme {
    /// The `--json` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::HmacSha256 => "hmac-sha256",
            Scheme::Token => "token",
            Scheme::SaleSmartlyMd5 => "salesmartly-md5",
        }
    }
}

/// What matched (or nearly matched).
#[derive(Debug, Clone)]
pub struct Finding {
    /// The scheme.
    pub scheme: Scheme,
    /// Header holding the signature or token (`None` for query signatures).
    pub header: Option<String>,
    /// Query parameter holding the signature, when it is in the query string.
    pub query_param: Option<String>,
    /// Signature encoding.
    pub encoding: Option<SigEncoding>,
    /// Prefix before the signature (`sha256=`, `v1,`) or before a token (`Bearer `).
    pub prefix: Option<String>,
    /// Signed content.
    pub content: Option<Content>,
    /// How the secret became the key.
    pub secret_encoding: Option<KeyEncoding>,
    /// Which `--secret` (0 = first).
    pub secret_index: usize,
    /// Header (or `?param`) holding the timestamp.
    pub timestamp_header: Option<String>,
    /// The timestamp, unix seconds.
    pub timestamp: Option<u64>,
    /// Whether the timestamp was in milliseconds.
    pub timestamp_millis: bool,
    /// Header holding the id, for `{id}.{ts}.{body}`.
    pub id_header: Option<String>,
    /// v1a (Ed25519) rather than v1.
    pub v1a: bool,
    /// SaleSmartly: whether the timestamp is hashed.
    pub salesmartly_with_timestamp: Option<bool>,
    /// How the signed body differs from the captured one.
    pub variant: BodyVariant,
}

/// A near miss: why nothing verifies although something came close.
#[derive(Debug, Clone, PartialEq)]
pub enum NearMiss {
    /// The signature matches but the timestamp is outside the tolerance (`age` < 0: future).
    StaleTimestamp {
        /// Seconds between the timestamp and `at` (negative: in the future).
        age: i64,
    },
    /// The signature matches a variant of the body, not the body.
    BodyDiffers,
    /// A signature of another length is there (SHA-1, SHA-384, SHA-512, MD5).
    SignatureLength {
        /// Decoded length in bytes.
        bytes: usize,
        /// Which algorithm has that length.
        algorithm: &'static str,
        /// Whether an HMAC with that algorithm matched.
        confirmed: bool,
    },
}

/// The doctor's answer.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether a built-in verifier accepts the capture as of `at`.
    pub matched: bool,
    /// The match or the near match.
    pub finding: Option<Finding>,
    /// Why a near match does not verify.
    pub near_miss: Option<NearMiss>,
    /// The explanation, in sentences.
    pub explanation: String,
    /// Further remarks.
    pub notes: Vec<String>,
    /// Ready-to-paste Rust for the verifier.
    pub rust: Option<String>,
    /// The crate's preset that has exactly these settings, if any.
    pub preset: Option<&'static str>,
    /// Whether the emitted verifier, built and run on the capture, accepts it (tolerance aside).
    pub confirmed: bool,
    /// How many MACs were computed (one per distinct key, signed prefix and body variant).
    pub macs: usize,
    /// Candidate signatures considered.
    pub candidates: usize,
    /// Time the search took.
    pub elapsed: Duration,
}

/// Key bytes (no `Debug`: they are the secret).
struct Key {
    bytes: Vec<u8>,
    encoding: KeyEncoding,
    secret: usize,
}

#[derive(Debug, Clone)]
struct Candidate {
    /// Header name as captured, or the query parameter name.
    source: String,
    in_query: bool,
    prefix: Option<String>,
    encoding: SigEncoding,
    bytes: Vec<u8>,
    /// From a header whose name says it holds a signature.
    signature_like: bool,
}

#[derive(Debug, Clone)]
struct Stamp {
    /// Header name, `?param`, or the Stripe header.
    source: String,
    text: String,
    secs: u64,
    millis: bool,
    stripe: bool,
}

#[derive(Debug, Clone)]
struct Layout {
    content: Content,
    prefix: Vec<u8>,
    stamp: Option<usize>,
    id_header: Option<String>,
}

/// A body variant tried when nothing matched.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Decompressed,
    Style(Style),
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    key: usize,
    layout: usize,
    cand: usize,
    variant: BodyVariant,
}

/// Key bytes for every decoding of every secret, without duplicates.
fn keys(secrets: &[String]) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    let mut push = |bytes: Vec<u8>, encoding, secret| {
        if !bytes.is_empty() && !out.iter().any(|k| k.bytes == bytes) {
            out.push(Key {
                bytes,
                encoding,
                secret,
            });
        }
    };
    for (i, s) in secrets.iter().enumerate() {
        push(s.as_bytes().to_vec(), KeyEncoding::Raw, i);
        if let Some(rest) = s.strip_prefix("whsec_") {
            if let Some(b) = decode_base64(rest) {
                push(b, KeyEncoding::Whsec, i);
            }
        } else if let Some(b) = decode_base64(s) {
            push(b, KeyEncoding::Base64, i);
        }
        if s.len().is_multiple_of(2) {
            if let Ok(b) = hex::decode(s) {
                push(b, KeyEncoding::Hex, i);
            }
        }
    }
    out
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    crate::secret::decode_base64(text).or_else(|| {
        // URL-safe alphabet, as some dashboards show it.
        if text.contains(['-', '_']) {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .ok()
        } else {
            None
        }
    })
}

/// Whether a secret's text looks like an encoding rather than a password.
fn looks_encoded(text: &str) -> Option<&'static str> {
    if text.starts_with("whsec_") {
        return Some("a `whsec_` (base64) secret");
    }
    if text.len() >= 16
        && text.len().is_multiple_of(2)
        && text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Some("hex");
    }
    let b64_chars = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if text.len() >= 16
        && b64_chars
        && (text.contains(['+', '/', '=']) || text.len().is_multiple_of(4))
        && crate::secret::decode_base64(text).is_some()
    {
        return Some("base64");
    }
    None
}

fn sig_lengths_ok(n: usize) -> bool {
    matches!(n, 16 | 20 | 32 | 48 | 64)
}

fn signature_like_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["sig", "hmac", "hash", "digest", "auth", "token", "mac"]
        .iter()
        .any(|w| n.contains(w))
}

/// Decode one token as hex and as base64; push each decoding of a plausible signature length.
fn push_token(
    out: &mut Vec<Candidate>,
    source: &str,
    in_query: bool,
    prefix: Option<&str>,
    text: &str,
) {
    if text.len() < 16 || out.len() >= MAX_CANDIDATES {
        return;
    }
    let signature_like = signature_like_name(source) || prefix.is_some();
    let mut push = |encoding, bytes: Vec<u8>| {
        if sig_lengths_ok(bytes.len())
            && !out
                .iter()
                .any(|c| c.source == source && c.bytes == bytes && c.prefix.as_deref() == prefix)
        {
            out.push(Candidate {
                source: source.to_owned(),
                in_query,
                prefix: prefix.map(str::to_owned),
                encoding,
                bytes,
                signature_like,
            });
        }
    };
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(b) = hex::decode(text) {
            push(SigEncoding::Hex, b);
        }
    }
    if let Some(b) = crate::secret::decode_base64(text) {
        push(SigEncoding::Base64, b);
    } else if text.contains(['-', '_']) {
        // Only text that is not also standard base64: the same bytes found both ways would
        // be one signature reported twice.
        if let Ok(b) =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))
        {
            push(SigEncoding::Base64Url, b);
        }
    }
}

fn candidates(capture: &Capture) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (name, value) in &capture.headers {
        if value.len() > MAX_VALUE_LEN {
            continue;
        }
        for piece in value.split_ascii_whitespace() {
            // Standard Webhooks entries: `v1,<base64>` (and `v1a,`).
            if let Some((version, rest)) = piece.split_once(',') {
                let is_version = version.len() <= 4
                    && version.starts_with('v')
                    && version[1..].bytes().all(|b| b.is_ascii_alphanumeric())
                    && !rest.contains(',');
                if is_version {
                    let prefix = format!("{version},");
                    push_token(&mut out, name, false, Some(&prefix), rest);
                    continue;
                }
            }
            for part in piece.split([',', ';']) {
                if part.is_empty() {
                    continue;
                }
                push_token(&mut out, name, false, None, part);
                // `sha256=<sig>` and `sha256:<sig>` alike: `HmacSha256`'s prefix takes either.
                for sep in ['=', ':'] {
                    if let Some((k, v)) = part.split_once(sep) {
                        let key_ok = !k.is_empty()
                            && k.len() <= 24
                            && k.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                        if key_ok && !v.is_empty() {
                            push_token(&mut out, name, false, Some(&format!("{k}{sep}")), v);
                        }
                    }
                }
            }
        }
    }
    if let Some(q) = &capture.query {
        for (k, v) in crate::inbound::query_pairs(q).take(64) {
            push_token(&mut out, &k, true, None, &v);
        }
    }
    out
}

fn parse_stamp(text: &str) -> Option<(u64, bool)> {
    if !(9..=13).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = text.parse().ok()?;
    if v >= 100_000_000_000 {
        Some((v / 1000, true))
    } else {
        Some((v, false))
    }
}

fn stamps(capture: &Capture) -> Vec<Stamp> {
    let mut out: Vec<Stamp> = Vec::new();
    for (name, value) in &capture.headers {
        if out.len() >= MAX_STAMPS {
            break;
        }
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if let Some((secs, millis)) = parse_stamp(value) {
            out.push(Stamp {
                source: name.clone(),
                text: value.clone(),
                secs,
                millis,
                stripe: false,
            });
        } else if value.len() <= MAX_VALUE_LEN && value.contains("t=") {
            // Stripe-style `t=<ts>,v1=<sig>`.
            let t = value
                .split(',')
                .map(str::trim)
                .find_map(|e| e.strip_prefix("t="));
            if let Some((t, (secs, millis))) = t.and_then(|t| parse_stamp(t).map(|p| (t, p))) {
                out.push(Stamp {
                    source: name.clone(),
                    text: t.to_owned(),
                    secs,
                    millis,
                    stripe: true,
                });
            }
        }
    }
    if let Some(q) = &capture.query {
        for (k, v) in crate::inbound::query_pairs(q).take(64) {
            if out.len() >= MAX_STAMPS {
                break;
            }
            if let Some((secs, millis)) = parse_stamp(&v) {
                out.push(Stamp {
                    source: format!("?{k}"),
                    text: v.into_owned(),
                    secs,
                    millis,
                    stripe: false,
                });
            }
        }
    }
    out
}

fn ids(capture: &Capture) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in &capture.headers {
        let n = name.to_ascii_lowercase();
        let id_like = n == "id"
            || n.ends_with("-id")
            || n.ends_with("_id")
            || n.contains("delivery")
            || n.contains("request-id");
        if id_like && !value.is_empty() && value.len() <= 256 && out.len() < MAX_STAMPS {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

fn layouts(stamps: &[Stamp], ids: &[(String, String)], cands: &[Candidate]) -> Vec<Layout> {
    // Slack's layout goes with its `v0=` signature prefix; without one it is not worth a pass.
    let slack = cands.iter().any(|c| c.prefix.as_deref() == Some("v0="));
    let mut out = vec![Layout {
        content: Content::Body,
        prefix: Vec::new(),
        stamp: None,
        id_header: None,
    }];
    for (i, s) in stamps.iter().enumerate() {
        if s.stripe {
            out.push(Layout {
                content: Content::Stripe,
                prefix: format!("{}.", s.text).into_bytes(),
                stamp: Some(i),
                id_header: None,
            });
            continue;
        }
        out.push(Layout {
            content: Content::TimestampBody,
            prefix: format!("{}.", s.text).into_bytes(),
            stamp: Some(i),
            id_header: None,
        });
        if slack {
            out.push(Layout {
                content: Content::SlackV0,
                prefix: format!("v0:{}:", s.text).into_bytes(),
                stamp: Some(i),
                id_header: None,
            });
        }
        if s.source.starts_with('?') {
            continue;
        }
        for (name, id) in ids {
            out.push(Layout {
                content: Content::IdTimestampBody,
                prefix: format!("{id}.{}.", s.text).into_bytes(),
                stamp: Some(i),
                id_header: Some(name.clone()),
            });
        }
    }
    out.truncate(MAX_LAYOUTS);
    out
}

fn mac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(prefix);
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Re-serialise JSON `body` in `style`; `None` when it is not JSON or nothing changes.
pub fn restyle(body: &[u8], style: Style) -> Option<Vec<u8>> {
    let text = json_style::json_text(body)?;
    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    json_style::write_style(text, style, &mut out)?;
    (out != body).then_some(out)
}

fn decompress(capture: &Capture) -> Option<(Compression, Vec<u8>)> {
    let body = &capture.body;
    let declared = capture
        .header("content-encoding")
        .map(|v| v.to_ascii_lowercase());
    let mut out = Vec::new();
    let read = |r: &mut dyn std::io::Read, out: &mut Vec<u8>| {
        r.take(MAX_DECOMPRESSED).read_to_end(out).ok().map(|_| ())
    };
    if body.starts_with(&[0x1f, 0x8b]) {
        read(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)?;
        return Some((Compression::Gzip, out));
    }
    if declared.as_deref().is_some_and(|d| d.contains("deflate")) || looks_zlib(body) {
        if read(&mut flate2::read::ZlibDecoder::new(&body[..]), &mut out).is_some() {
            return Some((Compression::Zlib, out));
        }
        out.clear();
        if declared.is_some() {
            read(&mut flate2::read::DeflateDecoder::new(&body[..]), &mut out)?;
            return Some((Compression::Deflate, out));
        }
    }
    None
}

fn looks_zlib(body: &[u8]) -> bool {
    body.len() > 2 && body[0] == 0x78 && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0
}

/// Run the whole search.
pub fn diagnose(capture: &Capture, opts: &Options) -> Result<Report, String> {
    let started = Instant::now();
    let keys = keys(&opts.secrets);
    let cands = candidates(capture);
    let stamps = stamps(capture);
    let ids = ids(capture);
    let layouts = layouts(&stamps, &ids, &cands);
    let body = &capture.body;
    let headers = capture.header_map();
    let inbound = Inbound::new(&headers, body).with_query(capture.query.as_deref());
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(opts.at))
        .ok_or_else(|| format!("--at {} is not a time this system can represent", opts.at))?;
    let mut macs = 0usize;
    let mut notes = Vec::new();

    // 1. HMAC-SHA256, exact body and newline variants: one body pass per (key, distinct
    // prefix), each MAC compared with every candidate, hits listed per (key, layout).
    let sha256_cands = cands.iter().any(|c| c.bytes.len() == 32);
    let (prefixes, prefix_of) = passes::distinct(layouts.iter().map(|l| l.prefix.as_slice()));
    let bases = if sha256_cands {
        passes::Bases::new(keys.iter().map(|k| k.bytes.as_slice()), &prefixes)
    } else {
        passes::Bases::new(std::iter::empty(), &prefixes)
    };
    let jobs: Vec<usize> = (0..bases.len()).collect();
    let main = passes::parallel(&jobs, |&i| passes::pass_with_newlines(bases.state(i), body));
    macs += main.iter().map(passes::NewlineMacs::count).sum::<usize>();
    let mut hits: Vec<Hit> = Vec::new();
    if !main.is_empty() {
        let mut found = Vec::new();
        for ki in 0..keys.len() {
            for (li, &pi) in prefix_of.iter().enumerate() {
                let m = &main[bases.at(ki, pi)];
                let finished = [
                    (m.stripped.as_ref(), BodyVariant::NewlineRemoved),
                    (Some(&m.added), BodyVariant::NewlineAdded),
                    (Some(&m.exact), BodyVariant::Exact),
                ];
                for (mac, variant) in finished {
                    let Some(mac) = mac else { continue };
                    passes::compare(mac, &cands, &mut found);
                    hits.extend(found.drain(..).map(|cand| Hit {
                        key: ki,
                        layout: li,
                        cand,
                        variant,
                    }));
                }
            }
        }
    }
    let mut findings: Vec<Finding> = hits
        .iter()
        .filter_map(|h| hmac_finding(h, &keys, &cands, &layouts, &stamps))
        .collect();

    // 2. Ed25519 (v1a).
    for pk in &opts.public_keys {
        let v = StandardWebhooks::with_public_key(pk)
            .map_err(|e| format!("--public-key: {e}"))?
            .tolerance(Duration::MAX);
        macs += 1;
        if let Ok(verified) = v.verify_at(&inbound, at) {
            let ts = verified.timestamp().map(unix);
            findings.push(Finding {
                scheme: Scheme::StandardWebhooks,
                header: Some(
                    header_name(capture, &["webhook-signature", "svix-signature"])
                        .unwrap_or("webhook-signature")
                        .to_owned(),
                ),
                query_param: None,
                encoding: Some(SigEncoding::Base64),
                prefix: Some("v1a,".into()),
                content: Some(Content::IdTimestampBody),
                secret_encoding: None,
                secret_index: 0,
                timestamp_header: header_name(capture, &["webhook-timestamp", "svix-timestamp"])
                    .map(str::to_owned),
                timestamp: ts,
                timestamp_millis: false,
                id_header: header_name(capture, &["webhook-id", "svix-id"]).map(str::to_owned),
                v1a: true,
                salesmartly_with_timestamp: None,
                variant: BodyVariant::Exact,
            });
        }
    }

    // 3. Static tokens.
    for (si, secret) in opts.secrets.iter().enumerate() {
        for (name, value) in &capture.headers {
            let bearer = value
                .strip_prefix("Bearer ")
                .or(value.strip_prefix("bearer "));
            if value == secret || bearer == Some(secret.as_str()) {
                let prefix = bearer.map(|_| &value[..value.len() - secret.len()]);
                if bearer.is_some() {
                    notes.push(format!(
                        "`{name}` carries the secret as a bearer token: the verifier below expects the whole value `Bearer <secret>`"
                    ));
                }
                findings.push(token_finding(name, si, prefix));
            }
        }
        if let Some(q) = &capture.query {
            for (k, v) in crate::inbound::query_pairs(q) {
                if v == secret.as_str() {
                    notes.push(format!(
                        "the query parameter `{k}` holds the secret itself: chathooks' `Token` checks headers only, and a secret in a URL ends up in logs"
                    ));
                }
            }
        }
    }

    // 4. SaleSmartly's MD5 query signature.
    let has_ss = inbound.query_param("signature").is_some();
    if has_ss {
        for (si, secret) in opts.secrets.iter().enumerate() {
            let Ok(s) = Secret::raw(secret) else { continue };
            for with_ts in [true, false] {
                let layout = if with_ts {
                    SaleSmartlyLayout::WithTimestamp
                } else {
                    SaleSmartlyLayout::WithoutTimestamp
                };
                let v = SaleSmartly::with_secret(s.clone())
                    .layout(layout)
                    .tolerance(Duration::MAX);
                macs += 1;
                if v.verify_at(&inbound, at).is_ok() {
                    let ts_text = inbound.query_param("timestamp");
                    let parsed = ts_text.as_deref().and_then(parse_stamp);
                    findings.push(Finding {
                        scheme: Scheme::SaleSmartlyMd5,
                        header: None,
                        query_param: Some("signature".into()),
                        encoding: Some(SigEncoding::Hex),
                        prefix: None,
                        content: None,
                        secret_encoding: Some(KeyEncoding::Raw),
                        secret_index: si,
                        timestamp_header: ts_text.as_ref().map(|_| "?timestamp".to_owned()),
                        timestamp: parsed.map(|p| p.0),
                        timestamp_millis: parsed.is_some_and(|p| p.1),
                        id_header: None,
                        v1a: false,
                        salesmartly_with_timestamp: Some(with_ts),
                        variant: BodyVariant::Exact,
                    });
                    break;
                }
            }
        }
    }

    findings.sort_by_key(rank);
    let exact = findings
        .iter()
        .find(|f| f.variant == BodyVariant::Exact)
        .cloned();
    let mut report = Report {
        matched: false,
        finding: None,
        near_miss: None,
        explanation: String::new(),
        notes,
        rust: None,
        preset: None,
        confirmed: false,
        macs,
        candidates: cands.len(),
        elapsed: Duration::ZERO,
    };

    if let Some(f) = exact {
        describe_match(&mut report, f, capture, opts, &inbound, at);
    } else if let Some(f) = findings.first().cloned() {
        // Only newline variants matched (found for free in the main pass).
        describe_body_variant(&mut report, f, capture, opts, None);
    } else {
        // 5. Near misses that need more passes: re-serialised or decompressed bodies, each
        // written once and fed to every (key, prefix) state as it is produced.
        let mut jobs: Vec<Variant> = Vec::new();
        let wanted = opts.near_misses && !bases.is_empty();
        let text = if wanted {
            json_style::json_text(body)
        } else {
            None
        };
        if wanted {
            jobs.push(Variant::Decompressed);
        }
        if let Some(text) = text {
            // Without non-ASCII characters or `\u` escapes (which the UTF-8 styles turn into
            // characters) an escaping style writes what its twin writes.
            let plain = text.is_ascii() && !text.contains("\\u");
            let (sorted, other): (Vec<Style>, Vec<Style>) = Style::ALL
                .into_iter()
                .filter(|s| !(plain && s.ascii_twin().is_some()))
                .partition(|s| s.sorted());
            // Sorting parses the whole body, once for the sorted styles: the first sorted job
            // writes the sorted text, so it starts first and the others that wait for it go last.
            if let Some((first, rest)) = sorted.split_first() {
                jobs.insert(0, Variant::Style(*first));
                jobs.extend(
                    other
                        .into_iter()
                        .chain(rest.iter().copied())
                        .map(Variant::Style),
                );
            }
        }
        let sorted_text = std::sync::OnceLock::new();
        let mut results = passes::parallel(&jobs, |job| match *job {
            Variant::Decompressed => decompress(capture).and_then(|(c, bytes)| {
                let mut feed = bases.feed(body);
                json_style::Sink::put(&mut feed, &bytes);
                Some((BodyVariant::Decompressed(c), feed.finish()?))
            }),
            Variant::Style(style) if style.sorted() => {
                let sorted: &Option<Vec<u8>> =
                    sorted_text.get_or_init(|| text.and_then(json_style::sorted_compact));
                let mut feed = bases.feed(body);
                json_style::write_sorted_style(sorted.as_deref()?, style, &mut feed)?;
                Some((BodyVariant::Restyled(style), feed.finish()?))
            }
            Variant::Style(style) => {
                let mut feed = bases.feed(body);
                json_style::write_style(text?, style, &mut feed)?;
                Some((BodyVariant::Restyled(style), feed.finish()?))
            }
        });
        // Report in the documented order: decompressed first, then `Style::ALL`.
        results.sort_by_key(|r| match r {
            Some((BodyVariant::Restyled(style), _)) => {
                1 + Style::ALL.iter().position(|s| s == style).unwrap_or(0)
            }
            _ => 0,
        });
        macs += results
            .iter()
            .flatten()
            .map(|(_, m)| m.len())
            .sum::<usize>();
        let mut found_at = Vec::new();
        let mut found = None;
        'search: for (variant, variant_macs) in results.iter().flatten() {
            for ki in 0..keys.len() {
                for (li, &pi) in prefix_of.iter().enumerate() {
                    passes::compare(&variant_macs[bases.at(ki, pi)], &cands, &mut found_at);
                    for cand in found_at.drain(..) {
                        let hit = Hit {
                            key: ki,
                            layout: li,
                            cand,
                            variant: *variant,
                        };
                        found = hmac_finding(&hit, &keys, &cands, &layouts, &stamps);
                        if found.is_some() {
                            break 'search;
                        }
                    }
                }
            }
        }
        report.macs = macs;
        if let Some(f) = found {
            describe_body_variant(&mut report, f, capture, opts, None);
        } else if let Some(miss) = other_lengths(&keys, &cands, &layouts, body, &mut macs) {
            report.macs = macs;
            describe_length(&mut report, miss, capture);
        } else {
            describe_nothing(&mut report, capture, opts, &keys, &cands, &stamps);
        }
    }
    report.macs = report.macs.max(macs);
    report.elapsed = started.elapsed();
    Ok(report)
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header_name<'c>(capture: &'c Capture, names: &[&str]) -> Option<&'c str> {
    capture
        .headers
        .iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(k, _)| k.as_str())
}

fn token_finding(name: &str, secret_index: usize, prefix: Option<&str>) -> Finding {
    Finding {
        scheme: Scheme::Token,
        header: Some(name.to_owned()),
        query_param: None,
        encoding: None,
        prefix: prefix.map(str::to_owned),
        content: None,
        secret_encoding: Some(KeyEncoding::Raw),
        secret_index,
        timestamp_header: None,
        timestamp: None,
        timestamp_millis: false,
        id_header: None,
        v1a: false,
        salesmartly_with_timestamp: None,
        variant: BodyVariant::Exact,
    }
}

/// Lower is better: exact bodies, signed schemes before tokens, headers named like signatures.
fn rank(f: &Finding) -> (u8, u8, u8) {
    let variant = match f.variant {
        BodyVariant::Exact => 0,
        BodyVariant::NewlineAdded | BodyVariant::NewlineRemoved => 1,
        _ => 2,
    };
    let scheme = match f.scheme {
        Scheme::StandardWebhooks => 0,
        Scheme::HmacSha256 | Scheme::SaleSmartlyMd5 => 1,
        Scheme::Token => 2,
    };
    let content = match f.content {
        Some(Content::Stripe) => 0,
        Some(Content::IdTimestampBody) => 1,
        Some(Content::SlackV0) => 2,
        Some(Content::TimestampBody) => 3,
        _ => 4,
    };
    (variant, scheme, content)
}

fn hmac_finding(
    h: &Hit,
    keys: &[Key],
    cands: &[Candidate],
    layouts: &[Layout],
    stamps: &[Stamp],
) -> Option<Finding> {
    let key = &keys[h.key];
    let cand = &cands[h.cand];
    let layout = &layouts[h.layout];
    let stamp = layout.stamp.map(|i| &stamps[i]);
    // Stripe signatures live in the Stripe header itself.
    if layout.content == Content::Stripe && stamp.is_some_and(|s| s.source != cand.source) {
        return None;
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    let standard = layout.content == Content::IdTimestampBody
        && matches!(
            lower(&cand.source).as_str(),
            "webhook-signature" | "svix-signature"
        )
        && cand.prefix.as_deref() == Some("v1,")
        && cand.encoding == SigEncoding::Base64
        && layout
            .id_header
            .as_deref()
            .is_some_and(|n| matches!(lower(n).as_str(), "webhook-id" | "svix-id"))
        && stamp.is_some_and(|s| {
            matches!(
                lower(&s.source).as_str(),
                "webhook-timestamp" | "svix-timestamp"
            )
        });
    Some(Finding {
        scheme: if standard {
            Scheme::StandardWebhooks
        } else {
            Scheme::HmacSha256
        },
        header: (!cand.in_query).then(|| cand.source.clone()),
        query_param: cand.in_query.then(|| cand.source.clone()),
        encoding: Some(cand.encoding),
        prefix: if layout.content == Content::Stripe {
            Some("v1=".into())
        } else {
            cand.prefix.clone()
        },
        content: Some(layout.content.clone()),
        secret_encoding: Some(key.encoding),
        secret_index: key.secret,
        timestamp_header: stamp.map(|s| s.source.clone()),
        timestamp: stamp.map(|s| s.secs),
        timestamp_millis: stamp.is_some_and(|s| s.millis),
        id_header: layout.id_header.clone(),
        v1a: false,
        salesmartly_with_timestamp: None,
        variant: h.variant,
    })
}

/// The crate's preset with exactly these settings.
fn preset_of(f: &Finding) -> Option<&'static str> {
    if f.scheme != Scheme::HmacSha256 || f.encoding == Some(SigEncoding::Base64Url) {
        return None;
    }
    let header = f.header.as_deref()?.to_ascii_lowercase();
    let prefix = f.prefix.as_deref();
    let ts = f.timestamp_header.as_deref().map(str::to_ascii_lowercase);
    let hex = f.encoding == Some(SigEncoding::Hex);
    match (header.as_str(), f.content.as_ref()?) {
        ("x-sam-signature", Content::Body) if matches!(prefix, None | Some("sha256=")) => {
            Some("sam")
        }
        ("x-webhook-signature", Content::Body) if matches!(prefix, None | Some("sha256=")) => {
            Some("buzzi")
        }
        ("x-hub-signature-256", Content::Body) if prefix == Some("sha256=") && hex => {
            Some("github")
        }
        ("x-chatwoot-signature", Content::TimestampBody)
            if prefix == Some("sha256=")
                && hex
                && ts.as_deref() == Some("x-chatwoot-timestamp") =>
        {
            Some("conversalabs")
        }
        ("x-slack-signature", Content::SlackV0)
            if prefix == Some("v0=")
                && hex
                && ts.as_deref() == Some("x-slack-request-timestamp") =>
        {
            Some("slack")
        }
        ("stripe-signature", Content::Stripe) if hex => Some("stripe"),
        _ => None,
    }
}

/// Why a base64url signature gets no verifier to paste.
const BASE64URL_UNSUPPORTED: &str = "the signature is base64url (`-` and `_`), and chathooks' `HmacSha256` reads hex or standard base64 (`+` and `/`) only: wrap a custom `Verifier`, or ask the sender for hex or standard base64";

/// Build the verifier the emitted code describes (same calls), with no tolerance limit.
fn build_verifier(f: &Finding, secret: &str) -> Result<Box<dyn Verifier>, String> {
    let e = |e: crate::Error| e.to_string();
    let key = |enc: Option<KeyEncoding>| enc.unwrap_or(KeyEncoding::Raw).secret(secret).map_err(e);
    Ok(match f.scheme {
        Scheme::StandardWebhooks => {
            let v = match f.secret_encoding {
                Some(KeyEncoding::Whsec | KeyEncoding::Base64) => {
                    StandardWebhooks::new(secret).map_err(e)?
                }
                other => StandardWebhooks::with_secret(key(other)?),
            };
            Box::new(v.tolerance(Duration::MAX))
        }
        Scheme::Token => {
            let value = format!("{}{secret}", f.prefix.as_deref().unwrap_or(""));
            Box::new(Token::new(f.header.clone().unwrap_or_default(), &value).map_err(e)?)
        }
        Scheme::SaleSmartlyMd5 => Box::new(
            SaleSmartly::new(secret)
                .map_err(e)?
                .layout(if f.salesmartly_with_timestamp == Some(true) {
                    SaleSmartlyLayout::WithTimestamp
                } else {
                    SaleSmartlyLayout::WithoutTimestamp
                })
                .tolerance(Duration::MAX),
        ),
        Scheme::HmacSha256 => {
            if f.encoding == Some(SigEncoding::Base64Url) {
                return Err(BASE64URL_UNSUPPORTED.into());
            }
            let secret = key(f.secret_encoding)?;
            let v = match preset_of(f) {
                Some("sam") => HmacSha256::sam(secret),
                Some("buzzi") => HmacSha256::buzzi(secret),
                Some("github") => HmacSha256::github(secret),
                Some("conversalabs") => HmacSha256::conversalabs(secret),
                Some("slack") => HmacSha256::slack(secret),
                Some("stripe") => HmacSha256::stripe(secret),
                _ => {
                    let header = f
                        .header
                        .clone()
                        .ok_or("the signature is in the query string")?;
                    let mut b = HmacSha256::builder(header).secret(secret);
                    if let Some(p) = &f.prefix {
                        if f.content != Some(Content::Stripe) {
                            b = b.prefix(p.clone());
                        }
                    }
                    if f.encoding == Some(SigEncoding::Base64) {
                        b = b.encoding(SignatureEncoding::Base64);
                    }
                    let ts = f.timestamp_header.clone().unwrap_or_default();
                    b = match f.content {
                        Some(Content::TimestampBody) => {
                            b.signed_content(SignedContent::timestamp_dot_body(ts))
                        }
                        Some(Content::SlackV0) => b.signed_content(SignedContent::slack_v0(ts)),
                        Some(Content::Stripe) => b.signed_content(SignedContent::StripeHeader),
                        Some(Content::IdTimestampBody) => {
                            return Err("no built-in verifier signs `{id}.{timestamp}.{body}` outside Standard Webhooks' headers".into())
                        }
                        _ => b,
                    };
                    b.build().map_err(e)?
                }
            };
            Box::new(v.tolerance(Duration::MAX))
        }
    })
}

/// Ready-to-paste Rust for the verifier; the secret comes from the environment.
pub fn rust_code(f: &Finding, public_key: Option<&str>) -> Option<String> {
    let env = "let secret = std::env::var(\"WEBHOOK_SECRET\")?;\n";
    let secret_expr = |enc: Option<KeyEncoding>| {
        format!(
            "{}(&secret)?",
            enc.unwrap_or(KeyEncoding::Raw).constructor()
        )
    };
    Some(match f.scheme {
        Scheme::StandardWebhooks if f.v1a => format!(
            "use chathooks::verify::StandardWebhooks;\n\nlet verifier = StandardWebhooks::with_public_key({:?})?;\n",
            public_key.unwrap_or("whpk_…")
        ),
        Scheme::StandardWebhooks => match f.secret_encoding {
            Some(KeyEncoding::Whsec | KeyEncoding::Base64) => format!(
                "use chathooks::verify::StandardWebhooks;\n\n{env}let verifier = StandardWebhooks::new(&secret)?;\n"
            ),
            other => format!(
                "use chathooks::{{verify::StandardWebhooks, Secret}};\n\n{env}let verifier = StandardWebhooks::with_secret({});\n",
                secret_expr(other)
            ),
        },
        Scheme::Token => format!(
            "use chathooks::verify::Token;\n\n{env}let verifier = Token::new({:?}, {})?;\n",
            f.header.as_deref()?,
            match f.prefix.as_deref() {
                Some(p) => format!("&format!(\"{p}{{secret}}\")"),
                None => "&secret".to_owned(),
            }
        ),
        Scheme::SaleSmartlyMd5 => format!(
            "use chathooks::verify::{{SaleSmartly, SaleSmartlyLayout}};\n\n{env}let verifier = SaleSmartly::new(&secret)?\n    .layout(SaleSmartlyLayout::{});\n",
            if f.salesmartly_with_timestamp == Some(true) {
                "WithTimestamp"
            } else {
                "WithoutTimestamp"
            }
        ),
        Scheme::HmacSha256 => {
            if let Some(p) = preset_of(f) {
                return Some(format!(
                    "use chathooks::{{verify::HmacSha256, Secret}};\n\n{env}let verifier = HmacSha256::{p}({});\n",
                    secret_expr(f.secret_encoding)
                ));
            }
            let header = f.header.as_deref()?;
            if f.content == Some(Content::IdTimestampBody)
                || f.encoding == Some(SigEncoding::Base64Url)
            {
                return None;
            }
            let mut imports = vec!["HmacSha256"];
            let mut code = format!(
                "let verifier = HmacSha256::builder({header:?})\n    .secret({})\n",
                secret_expr(f.secret_encoding)
            );
            if let Some(p) = &f.prefix {
                if f.content != Some(Content::Stripe) {
                    let _ = writeln!(code, "    .prefix({p:?})");
                }
            }
            if f.encoding == Some(SigEncoding::Base64) {
                imports.push("SignatureEncoding");
                code.push_str("    .encoding(SignatureEncoding::Base64)\n");
            }
            let ts = f.timestamp_header.as_deref().unwrap_or_default();
            match f.content {
                Some(Content::TimestampBody) => {
                    imports.push("SignedContent");
                    let _ = writeln!(
                        code,
                        "    .signed_content(SignedContent::timestamp_dot_body({ts:?}))"
                    );
                }
                Some(Content::SlackV0) => {
                    imports.push("SignedContent");
                    let _ = writeln!(code, "    .signed_content(SignedContent::slack_v0({ts:?}))");
                }
                Some(Content::Stripe) => {
                    imports.push("SignedContent");
                    code.push_str("    .signed_content(SignedContent::StripeHeader)\n");
                }
                _ => {}
            }
            code.push_str("    .build()?;\n");
            format!(
                "use chathooks::{{verify::{{{}}}, Secret}};\n\n{env}{code}",
                imports.join(", ")
            )
        }
    })
}

fn summary(f: &Finding) -> String {
    match f.scheme {
        Scheme::Token => format!(
            "a static token: `{}` holds the secret{}",
            f.header.as_deref().unwrap_or("?"),
            match f.prefix.as_deref() {
                Some(p) => format!(" after `{}`", p.trim_end()),
                None => String::new(),
            }
        ),
        Scheme::SaleSmartlyMd5 => format!(
            "SaleSmartly's MD5 query signature (`?signature=`), {} the timestamp, secret used raw",
            if f.salesmartly_with_timestamp == Some(true) {
                "with"
            } else {
                "without"
            }
        ),
        Scheme::StandardWebhooks if f.v1a => {
            "Standard Webhooks v1a (Ed25519) in `webhook-signature`".to_owned()
        }
        Scheme::StandardWebhooks | Scheme::HmacSha256 => {
            let mut s = if f.scheme == Scheme::StandardWebhooks {
                "Standard Webhooks v1: ".to_owned()
            } else {
                String::new()
            };
            let _ = write!(
                s,
                "HMAC-SHA256 of {}, {}",
                f.content.as_ref().map_or("the body", Content::describe),
                f.encoding.map_or("", SigEncoding::as_str)
            );
            match &f.prefix {
                Some(p) => {
                    let _ = write!(s, " with prefix `{p}`");
                }
                None => s.push_str(" without prefix"),
            }
            match (&f.header, &f.query_param) {
                (Some(h), _) => {
                    let _ = write!(s, ", in `{h}`");
                }
                (None, Some(q)) => {
                    let _ = write!(s, ", in the query parameter `{q}`");
                }
                _ => {}
            }
            if let Some(ts) = &f.timestamp_header {
                let _ = write!(
                    s,
                    ", timestamp from `{ts}` ({})",
                    if f.timestamp_millis {
                        "milliseconds"
                    } else {
                        "seconds"
                    }
                );
            }
            if let Some(id) = &f.id_header {
                let _ = write!(s, ", id from `{id}`");
            }
            if let Some(enc) = f.secret_encoding {
                let _ = write!(s, ", with {}", enc.describe());
            }
            s
        }
    }
}

/// "3 days", "2 h 5 min", "40 s".
pub fn human_duration(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => {
            let m = (secs % 3600) / 60;
            if m == 0 {
                format!("{} h", secs / 3600)
            } else {
                format!("{} h {m} min", secs / 3600)
            }
        }
        _ => format!("{} days", secs / 86_400),
    }
}

fn finish_with_code(report: &mut Report, f: &Finding, opts: &Options, inbound: &Inbound<'_>) {
    report.preset = preset_of(f);
    report.rust = rust_code(f, opts.public_keys.first().map(String::as_str));
    let secret = opts.secrets.get(f.secret_index).map(String::as_str);
    report.confirmed = match (f.v1a, secret) {
        (true, _) => true,
        (false, Some(s)) if f.variant == BodyVariant::Exact => match build_verifier(f, s) {
            Ok(v) => {
                let at = UNIX_EPOCH + Duration::from_secs(f.timestamp.unwrap_or(0));
                match v.verify_at(inbound, at) {
                    Ok(_) => true,
                    Err(e) => {
                        report
                            .notes
                            .push(format!("the verifier below rejects this capture: {e}"));
                        false
                    }
                }
            }
            Err(e) => {
                report
                    .notes
                    .push(format!("no built-in verifier can be built for it: {e}"));
                false
            }
        },
        _ => false,
    };
    if f.timestamp_millis {
        report.notes.push(
            "the timestamp is in milliseconds; chathooks' timestamped verifiers read seconds (SaleSmartly aside), so the built-in verifier rejects it: ask the sender for seconds or wrap a custom `Verifier`".into(),
        );
    }
    if let (Some(enc), Some(s)) = (f.secret_encoding, secret) {
        match (enc, looks_encoded(s)) {
            (KeyEncoding::Raw, Some(kind)) if f.scheme != Scheme::Token => report.notes.push(format!(
                "the secret looks {kind} but the sender uses it raw (its text is the key): keep `Secret::raw`; decoding it (`Secret::standard`, `from_base64`, `from_hex`) would not verify"
            )),
            (KeyEncoding::Base64 | KeyEncoding::Whsec | KeyEncoding::Hex, _) => report.notes.push(format!(
                "the sender uses the decoded bytes of the secret ({}), not its text: `Secret::raw` would not verify",
                enc.as_str()
            )),
            _ => {}
        }
        if s.len() < crate::secret::MIN_SECRET_LEN && enc == KeyEncoding::Raw {
            report.notes.push(
                "the secret is shorter than 16 bytes; chathooks refuses such short secrets".into(),
            );
        }
    }
    if let Some(q) = &f.query_param {
        if f.scheme == Scheme::HmacSha256 {
            report.notes.push(format!(
                "the signature travels in the query parameter `{q}`; `HmacSha256` reads headers only"
            ));
        }
    }
    if f.content == Some(Content::Body) && f.scheme == Scheme::HmacSha256 {
        report.notes.push(
            "nothing time-bound is signed: a captured request can be replayed forever; deduplicate (the `Receiver`) to refuse replays".into(),
        );
    }
}

fn describe_match(
    report: &mut Report,
    f: Finding,
    capture: &Capture,
    opts: &Options,
    inbound: &Inbound<'_>,
    _at: SystemTime,
) {
    finish_with_code(report, &f, opts, inbound);
    let mut text = format!("Match: {}", summary(&f));
    if let Some(p) = report.preset {
        let _ = write!(text, ". This is chathooks' `HmacSha256::{p}` preset");
    }
    text.push('.');
    if let Some(ts) = f.timestamp {
        let age = opts.at as i64 - ts as i64;
        if age.unsigned_abs() > opts.tolerance {
            let when = if age >= 0 {
                format!("{} old", human_duration(age.unsigned_abs()))
            } else {
                format!("{} in the future", human_duration(age.unsigned_abs()))
            };
            report.near_miss = Some(NearMiss::StaleTimestamp { age });
            report.explanation = format!(
                "The signature matches ({}), but the timestamp in `{}` is {when} ({} s; tolerance {} s) as of {}: every verifier rejects it as {}. {}",
                summary(&f),
                f.timestamp_header.as_deref().unwrap_or("?"),
                age,
                opts.tolerance,
                rfc3339(opts.at),
                if age >= 0 { "stale (a replay, or a retry from long ago)" } else { "from the future (the sender's clock is ahead)" },
                match capture.received_at {
                    Some(r) => format!("The capture was received at {} (`--at {r}` checks it as of then).", rfc3339(r)),
                    None => "If the capture is old, check it as of when it was received with `--at UNIX_SECONDS`; otherwise the sender's clock is off or this is a replay.".to_owned(),
                }
            );
            report.finding = Some(f);
            return;
        }
    }
    report.matched = true;
    report.explanation = text;
    report.finding = Some(f);
}

fn describe_body_variant(
    report: &mut Report,
    f: Finding,
    capture: &Capture,
    opts: &Options,
    _inbound: Option<&Inbound<'_>>,
) {
    report.near_miss = Some(NearMiss::BodyDiffers);
    report.preset = preset_of(&f);
    report.rust = rust_code(&f, opts.public_keys.first().map(String::as_str));
    let why = match f.variant {
        BodyVariant::NewlineAdded => "the signed bytes end with a newline the captured body lacks: something stripped it (a `-d` curl upload, a text editor, `.trim()`); keep the body exactly as received".to_owned(),
        BodyVariant::NewlineRemoved => "the captured body ends with a newline that was not signed: it was added after signing (an editor, `echo`, or a tool that saved the capture); verify the exact bytes received and send files with `curl --data-binary @file`".to_owned(),
        BodyVariant::Restyled(style) => format!(
            "the sender signed the same JSON serialised {}; the body here was parsed and re-serialised on the way (a JSON body parser, a proxy, a logging tool): verify the raw request bytes, before any JSON parsing",
            style.describe()
        ),
        BodyVariant::Decompressed(c) => format!(
            "the body is {}-compressed{} and the signature covers the decompressed bytes: decompress before verifying",
            c.as_str(),
            capture
                .header("content-encoding")
                .map(|e| format!(" (Content-Encoding: {e})"))
                .unwrap_or_default()
        ),
        BodyVariant::Exact => String::new(),
    };
    report.explanation = format!(
        "No signature matches the body as captured, but one matches a variant of it ({}): the body differs from the signed bytes — {why}.",
        summary(&f)
    );
    report.finding = Some(f);
}

/// SaleSmartly's MD5 in `?signature=`: tried by its own pass, so not "another length".
fn salesmartly_shaped(c: &Candidate) -> bool {
    c.in_query && c.source == "signature" && c.bytes.len() == 16
}

fn other_lengths(
    keys: &[Key],
    cands: &[Candidate],
    layouts: &[Layout],
    body: &[u8],
    macs: &mut usize,
) -> Option<NearMiss> {
    // A 64-hex-digit SHA-256 signature also reads as 48 bytes of base64: a header that holds a
    // 32-byte candidate is not a signature of another length.
    let has_sha256 = |c: &Candidate| {
        cands
            .iter()
            .any(|d| d.source == c.source && d.bytes.len() == 32)
    };
    let odd: Vec<&Candidate> = cands
        .iter()
        .filter(|c| {
            c.bytes.len() != 32 && c.signature_like && !has_sha256(c) && !salesmartly_shaped(c)
        })
        .collect();
    let first = odd.first()?;
    // One MAC per (length, key, distinct prefix), however many candidates share that length.
    let timestamped = layouts
        .iter()
        .filter(|l| matches!(l.content, Content::Body | Content::TimestampBody));
    let (prefixes, _) = passes::distinct(timestamped.map(|l| l.prefix.as_slice()));
    let mut cache: Vec<((usize, usize, usize), Vec<u8>)> = Vec::new();
    for c in &odd {
        let len = c.bytes.len();
        if !matches!(len, 16 | 20 | 48 | 64) {
            continue;
        }
        for (ki, key) in keys.iter().enumerate() {
            for (pi, &prefix) in prefixes.iter().enumerate() {
                let id = (len, ki, pi);
                let mac = match cache.iter().position(|(k, _)| *k == id) {
                    Some(i) => &cache[i].1,
                    None => {
                        *macs += 1;
                        let key = key.bytes.as_slice();
                        let mac = match len {
                            20 => mac_with::<Hmac<sha1::Sha1>>(key, prefix, body),
                            48 => mac_with::<Hmac<Sha384>>(key, prefix, body),
                            64 => mac_with::<Hmac<Sha512>>(key, prefix, body),
                            _ => mac_with::<Hmac<md5::Md5>>(key, prefix, body),
                        };
                        cache.push((id, mac));
                        &cache[cache.len() - 1].1
                    }
                };
                if *mac == c.bytes {
                    return Some(NearMiss::SignatureLength {
                        bytes: len,
                        algorithm: algorithm_of(len),
                        confirmed: true,
                    });
                }
            }
        }
    }
    Some(NearMiss::SignatureLength {
        bytes: first.bytes.len(),
        algorithm: algorithm_of(first.bytes.len()),
        confirmed: false,
    })
}

fn algorithm_of(len: usize) -> &'static str {
    match len {
        16 => "MD5",
        20 => "SHA-1",
        48 => "SHA-384",
        64 => "SHA-512",
        _ => "unknown",
    }
}

fn describe_length(report: &mut Report, miss: NearMiss, capture: &Capture) {
    let NearMiss::SignatureLength {
        bytes,
        algorithm,
        confirmed,
    } = &miss
    else {
        return;
    };
    let sources: Vec<String> = candidates(capture)
        .into_iter()
        .filter(|c| c.bytes.len() == *bytes && c.signature_like)
        .map(|c| format!("`{}`", c.source))
        .collect();
    let mut sources_dedup = sources.clone();
    sources_dedup.dedup();
    report.explanation = format!(
        "No SHA-256 signature is there: {} holds a {bytes}-byte signature, the length of {algorithm} ({}), not SHA-256's 32 bytes. {}",
        sources_dedup.join(", "),
        if *bytes == 20 { "SHA-1?" } else if *bytes == 64 { "SHA-512?" } else { "another hash" },
        if *confirmed {
            format!("HMAC-{algorithm} with this secret matches it: the sender signs with {algorithm}, which chathooks does not verify; ask the sender for HMAC-SHA256 (GitHub, for one, sends `X-Hub-Signature-256` beside the SHA-1 `X-Hub-Signature`).")
        } else {
            format!("HMAC-{algorithm} with this secret does not match it either, so the secret may be wrong too.")
        }
    );
    report.near_miss = Some(miss);
}

fn describe_nothing(
    report: &mut Report,
    capture: &Capture,
    opts: &Options,
    keys: &[Key],
    cands: &[Candidate],
    stamps: &[Stamp],
) {
    let mut sources: Vec<&str> = cands
        .iter()
        .filter(|c| c.bytes.len() == 32)
        .map(|c| c.source.as_str())
        .collect();
    sources.dedup();
    let mut text = if sources.is_empty() && cands.iter().any(salesmartly_shaped) {
        format!(
            "Nothing matches. The query carries SaleSmartly's MD5 signature (`?signature=`, 32 hex digits), and no secret ({} tried) reproduces it, with or without the timestamp: the secret is the likeliest culprit (SaleSmartly signs with the project's key from its webhook settings, as text), or the body or query was changed on the way.",
            opts.secrets.len()
        )
    } else if sources.is_empty() {
        "Nothing matches, and no header or query parameter holds a 32-byte signature (64 hex digits or 43–44 base64 characters): check that the capture includes the sender's headers.".to_owned()
    } else {
        format!(
            "Nothing matches. Tried HMAC-SHA256 over the body{} with {} key(s) ({}), against {} candidate signature(s) in {}{}. The secret is the likeliest culprit: another environment's, a rotated one, or copied with extra characters.",
            if stamps.is_empty() { "" } else { " and the timestamped layouts" },
            keys.len(),
            keys.iter().map(|k| k.encoding.as_str()).collect::<Vec<_>>().join(", "),
            cands.iter().filter(|c| c.bytes.len() == 32).count(),
            sources.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
            ", plus static tokens and SaleSmartly's MD5",
        )
    };
    for s in &opts.secrets {
        if let Some(kind) = looks_encoded(s) {
            let _ = write!(
                text,
                " The secret looks {kind}; it was tried both raw and decoded."
            );
        }
        if s.trim() != s {
            text.push_str(" The secret has leading or trailing whitespace.");
        }
    }
    if capture.header("content-encoding").is_some() && decompress(capture).is_none() {
        text.push_str(" The request declares a Content-Encoding but the body is not compressed: something decompressed it on the way, and the signature may cover the compressed bytes.");
    }
    report.explanation = text;
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| secs.to_string())
}

impl Report {
    /// The explanation followed by the notes.
    pub fn full_explanation(&self) -> String {
        let mut e = self.explanation.clone();
        for n in &self.notes {
            e.push_str(" Note: ");
            e.push_str(n);
            e.push('.');
        }
        e
    }

    /// The `--json` object.
    pub fn to_json(&self) -> Value {
        let f = self.finding.as_ref();
        let mut v = json!({
            "matched": self.matched,
            "scheme": f.map(|f| f.scheme.as_str()),
            "header": f.and_then(|f| f.header.clone()),
            "query_param": f.and_then(|f| f.query_param.clone()),
            "encoding": f.and_then(|f| f.encoding.map(SigEncoding::as_str)),
            "prefix": f.and_then(|f| f.prefix.clone()),
            "signed_content": f.and_then(|f| f.content.as_ref().map(Content::as_str)),
            "secret_encoding": f.and_then(|f| f.secret_encoding.map(KeyEncoding::as_str)),
            "secret_index": f.map(|f| f.secret_index),
            "timestamp_header": f.and_then(|f| f.timestamp_header.clone()),
            "timestamp": f.and_then(|f| f.timestamp),
            "timestamp_unit": f.and_then(|f| f.timestamp_header.as_ref().map(|_| if f.timestamp_millis { "milliseconds" } else { "seconds" })),
            "id_header": f.and_then(|f| f.id_header.clone()),
            "v1a": f.map(|f| f.v1a),
            "body_variant": f.map(|f| f.variant.as_str()),
            "preset": self.preset,
            "near_miss": self.near_miss.as_ref().map(|m| match m {
                NearMiss::StaleTimestamp { .. } => "stale-timestamp",
                NearMiss::BodyDiffers => "body-differs",
                NearMiss::SignatureLength { .. } => "signature-length",
            }),
            "explanation": self.full_explanation(),
            "notes": self.notes,
            "rust": self.rust,
            "confirmed": self.confirmed,
            "macs": self.macs,
            "candidates": self.candidates,
            "elapsed_ms": self.elapsed.as_secs_f64() * 1000.0,
        });
        if let Some(f) = f {
            if let Some(layout) = f.salesmartly_with_timestamp {
                v["salesmartly_layout"] = json!(if layout {
                    "with-timestamp"
                } else {
                    "without-timestamp"
                });
            }
            if let BodyVariant::Restyled(s) = f.variant {
                v["json_style"] = json!(format!("{s:?}").to_ascii_lowercase());
            }
            if let BodyVariant::Decompressed(c) = f.variant {
                v["compression"] = json!(c.as_str());
            }
        }
        match &self.near_miss {
            Some(NearMiss::StaleTimestamp { age }) => v["age_secs"] = json!(age),
            Some(NearMiss::SignatureLength {
                bytes,
                algorithm,
                confirmed,
            }) => {
                v["signature_bytes"] = json!(bytes);
                v["algorithm"] = json!(algorithm);
                v["algorithm_confirmed"] = json!(confirmed);
            }
            _ => {}
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restyles_preserve_order_and_escape() {
        let body = r#"{"b": 1, "a": ["é", {}], "c": {"d": null}}"#.as_bytes();
        assert_eq!(
            restyle(body, Style::Compact).unwrap(),
            r#"{"b":1,"a":["é",{}],"c":{"d":null}}"#.as_bytes()
        );
        assert_eq!(
            restyle(body, Style::SortedCompact).unwrap(),
            r#"{"a":["é",{}],"b":1,"c":{"d":null}}"#.as_bytes()
        );
        let compact = br#"{"b":1,"a":["\u00e9"]}"#;
        assert_eq!(
            restyle(r#"{"b":1,"a":["é"]}"#.as_bytes(), Style::CompactAscii).unwrap(),
            compact
        );
        assert_eq!(
            restyle(br#"{"a":[1,2]}"#, Style::Pretty2).unwrap(),
            b"{\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
        assert!(restyle(b"not json", Style::Compact).is_none());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(40), "40 s");
        assert_eq!(human_duration(259_200), "3 days");
        assert_eq!(human_duration(7_500), "2 h 5 min");
    }
}
