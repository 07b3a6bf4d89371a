//! Fuzz target bodies, shared by the cargo-fuzz crate (`fuzz/`) and the stable test suite.
//!
//! Every `pub fn <target>(data: &[u8])` here is one fuzz target: `fuzz/fuzz_targets/<target>.rs`
//! calls it from libFuzzer, and `tests/fuzz_corpus.rs` (which includes this file with
//! `#[path]`) runs every checked-in file of `fuzz/corpus/<target>/` through it on stable Rust.
//! The functions use only chathooks' public API and panic exactly when an invariant breaks.
//!
//! Verification targets read the input as one delivery (see [`Delivery::split`]):
//!
//! ```text
//! webhook-id: msg_1          <- header lines `name: value`, until the first empty line
//! webhook-timestamp: 1700000000
//!
//! ?timestamp=1&signature=ab  <- optional query line, when the rest starts with `?`
//! {"the": "body"}            <- everything else, byte for byte
//! ```
//!
//! and check it against oracles written here with `hmac`/`sha2`/`md-5` directly, so a bug in
//! the library's signing code cannot hide the same bug in its verifying code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::{Error, Inbound};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha2::Sha256;

/// The fixed clock every verification target runs at (2023-11-14T22:13:20Z).
pub const NOW_SECS: u64 = 1_700_000_000;
/// Tolerance the verifiers use (the library default).
pub const TOLERANCE_SECS: u64 = 300;
/// Most header lines [`Delivery::split`] reads; the rest of the header block is dropped.
pub const MAX_HEADERS: usize = 32;

/// Standard Webhooks secrets the `verify_standard` target checks against (rotation: two keys).
pub const STANDARD_SECRETS: [&str; 2] = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
];

type HmacSha256 = Hmac<Sha256>;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// One delivery cut out of fuzz input.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Header lines that were a valid name and value, in order (repeats kept).
    pub headers: HeaderMap,
    /// The query line without its `?` (invalid UTF-8 replaced), if there was one.
    pub query: Option<String>,
    /// Everything after the header block and query line.
    pub body: Vec<u8>,
}

impl Delivery {
    /// Split `data` deterministically: header lines up to the first empty line, then an optional
    /// `?query` line, then the body. Lines end in `\n` (a trailing `\r` is dropped). Lines that
    /// are not `name: value` with a valid header name and value are skipped; input without an
    /// empty line is all headers and no body.
    pub fn split(data: &[u8]) -> Delivery {
        let mut d = Delivery::default();
        let mut rest = data;
        let mut lines = 0;
        loop {
            let (line, after) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                rest = after.unwrap_or(&[]);
                break;
            }
            if lines < MAX_HEADERS {
                lines += 1;
                if let Some((name, value)) = split_header(line) {
                    d.headers.append(name, value);
                }
            }
            match after {
                Some(a) => rest = a,
                None => return d,
            }
        }
        if let Some(q) = rest.strip_prefix(b"?") {
            let (line, body) = match q.iter().position(|&b| b == b'\n') {
                Some(i) => (&q[..i], &q[i + 1..]),
                None => (q, &[][..]),
            };
            d.query = Some(String::from_utf8_lossy(line).into_owned());
            rest = body;
        }
        d.body = rest.to_vec();
        d
    }

    /// The borrowed view the verifiers take.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound::new(&self.headers, &self.body).with_query(self.query.as_deref())
    }

    /// Encode back into the [`Delivery::split`] format (used to write seed corpora).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        if let Some(q) = &self.query {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(&self.body);
        out
    }
}

fn split_header(line: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = HeaderName::from_bytes(line[..colon].trim_ascii()).ok()?;
    let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
    Some((name, value))
}

/// A cheap deterministic choice from the input (FNV-1a), for picking which bit to flip.
fn pick(data: &[u8], n: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    if n == 0 {
        0
    } else {
        (h % n as u64) as usize
    }
}

fn flip_bit(bytes: &mut [u8], bit: usize) {
    if let Some(b) = bytes.get_mut(bit / 8) {
        *b ^= 1 << (bit % 8);
    }
}

/// Every rejection of a verifier is a 4xx client error of the verification kind, and its text
/// never quotes a secret or the expected MAC.
fn check_rejection(err: &Error, secrets: &[&str], expected: &[String]) {
    let status = err.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
        "verification error with status {status}: {err:?}"
    );
    assert!(err.is_verification(), "not a verification error: {err:?}");
    let text = format!("{err} {err:?}");
    for s in secrets
        .iter()
        .copied()
        .chain(expected.iter().map(String::as_str))
    {
        if s.len() >= 8 {
            assert!(
                !text.contains(s),
                "error text leaks secret material: {text}"
            );
        }
    }
}

fn first_str<'h>(headers: &'h HeaderMap, names: &[&str]) -> Option<&'h str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
}

fn within_tolerance(ts: u64) -> bool {
    ts.abs_diff(NOW_SECS) <= TOLERANCE_SECS
}

fn decode_secret(whsec: &str) -> Vec<u8> {
    let b64 = whsec.strip_prefix("whsec_").unwrap_or(whsec);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("test secret is base64")
}

fn standard_mac(key: &[u8], id: &str, ts: &str, body: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(ts.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Decode one base64 signature the way the Standard Webhooks spec allows (standard alphabet,
/// padding optional) into exactly 32 bytes.
fn b64_32(text: &str) -> Option<[u8; 32]> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text).ok()?.try_into().ok()
}

/// Ed25519 secret key (seed and public key) of the `v1a` signer the `verify_standard` target
/// trusts, from the Standard Webhooks test vectors.
#[cfg(feature = "ed25519")]
pub const STANDARD_SIGNING_KEY: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";

#[cfg(feature = "ed25519")]
fn standard_signer() -> chathooks::verify::StandardWebhooksSigner {
    chathooks::verify::StandardWebhooksSigner::new(STANDARD_SIGNING_KEY).expect("valid test key")
}

/// The `verify_standard` verifier: both HMAC secrets (key indexes 0 and 1) and, with the
/// `ed25519` feature, the signer's public key (key index 2).
pub fn standard_verifier() -> StandardWebhooks {
    let v = StandardWebhooks::new(STANDARD_SECRETS[0])
        .and_then(|v| v.add_secret(STANDARD_SECRETS[1]))
        .expect("valid test secrets")
        .tolerance(Duration::from_secs(TOLERANCE_SECS));
    #[cfg(feature = "ed25519")]
    let v = v
        .add_public_key(&standard_signer().public_key())
        .expect("valid public key");
    v
}

/// Standard Webhooks verification of an arbitrary delivery, plus a sign/verify round trip of the
/// input as a body and a one-bit flip that must fail.
///
/// Invariants: never panics; `Ok` only when `webhook-id` (or `svix-id`) is 1..=256 bytes, the
/// timestamp is decimal seconds within the tolerance of the fixed clock, and some `v1,` entry
/// of the signature header decodes to the HMAC of `id.ts.body` under the secret that
/// [`chathooks::Verified::key_index`] names; every error is a 400/401 that leaks nothing.
pub fn verify_standard(data: &[u8]) {
    let v = standard_verifier();
    let keys: Vec<Vec<u8>> = STANDARD_SECRETS.iter().map(|s| decode_secret(s)).collect();
    let d = Delivery::split(data);
    let inbound = d.inbound();
    let id = first_str(&d.headers, &["webhook-id", "svix-id"]);
    let ts = first_str(&d.headers, &["webhook-timestamp", "svix-timestamp"]);
    let sigs = first_str(&d.headers, &["webhook-signature", "svix-signature"]);
    let expected: Vec<String> = match (id, ts) {
        (Some(id), Some(ts)) => keys
            .iter()
            .map(|k| {
                base64::engine::general_purpose::STANDARD.encode(standard_mac(k, id, ts, &d.body))
            })
            .collect(),
        _ => Vec::new(),
    };
    match v.verify_at(&inbound, now()) {
        Ok(verified) => {
            let (id, ts, sigs) = (id.unwrap(), ts.unwrap(), sigs.unwrap());
            assert!(!id.is_empty() && id.len() <= 256, "accepted id {id:?}");
            assert_eq!(verified.signed_delivery_id(), Some(id));
            assert_eq!(verified.body(), &d.body[..]);
            let secs: u64 = ts.parse().expect("accepted timestamp is decimal seconds");
            assert!(within_tolerance(secs), "accepted timestamp {secs}");
            assert_eq!(
                verified.timestamp(),
                Some(UNIX_EPOCH + Duration::from_secs(secs))
            );
            let k = verified.key_index().expect("a match names its key");
            if k < keys.len() {
                assert_eq!(verified.scheme(), "standard-v1");
                let want = standard_mac(&keys[k], id, ts, &d.body);
                assert!(
                    sigs.split(' ')
                        .filter_map(|e| e.strip_prefix("v1,"))
                        .any(|c| b64_32(c) == Some(want)),
                    "accepted without a matching v1 signature: {sigs:?}"
                );
            } else {
                assert_eq!(verified.scheme(), "standard-v1a");
                assert_v1a_is_the_signers(id, ts, &d.body, sigs);
            }
        }
        Err(err) => check_rejection(&err, &STANDARD_SECRETS, &expected),
    }

    // Round trip: the input as a body, signed by the library, verifies; one flipped bit of the
    // body, the id or the timestamp does not.
    let id = "msg_fuzz";
    let ts = now();
    let sig = v.sign(id, ts, data);
    let mut h = HeaderMap::new();
    h.insert("webhook-id", HeaderValue::from_static(id));
    h.insert("webhook-timestamp", HeaderValue::from(NOW_SECS));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&sig).expect("signature is ASCII"),
    );
    let ok = v
        .verify_at(&Inbound::new(&h, data), ts)
        .expect("own signature verifies");
    assert_eq!(ok.key_index(), Some(0));
    if !data.is_empty() {
        let mut flipped = data.to_vec();
        flip_bit(&mut flipped, pick(data, data.len() * 8));
        let err = v
            .verify_at(&Inbound::new(&h, &flipped), ts)
            .expect_err("one flipped body bit must fail");
        assert!(matches!(err, Error::SignatureMismatch(_)), "{err:?}");
    }
    h.insert("webhook-timestamp", HeaderValue::from(NOW_SECS + 1));
    assert!(v.verify_at(&Inbound::new(&h, data), ts).is_err());

    // The same for a v1a signature alone.
    #[cfg(feature = "ed25519")]
    {
        let sig = standard_signer().sign(id, ts, data);
        h.insert("webhook-timestamp", HeaderValue::from(NOW_SECS));
        h.insert(
            "webhook-signature",
            HeaderValue::from_str(&sig).expect("signature is ASCII"),
        );
        let ok = v
            .verify_at(&Inbound::new(&h, data), ts)
            .expect("own v1a signature verifies");
        assert_eq!((ok.scheme(), ok.key_index()), ("standard-v1a", Some(2)));
        if !data.is_empty() {
            let mut flipped = data.to_vec();
            flip_bit(&mut flipped, pick(data, data.len() * 8));
            assert!(
                v.verify_at(&Inbound::new(&h, &flipped), ts).is_err(),
                "one flipped body bit verified under v1a"
            );
        }
    }
}

/// Deepest nesting of objects and arrays in JSON text (strings skipped; escapes honoured).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Ed25519 signatures are deterministic, so the only `v1a` entry the signer's key can have
/// made for this content is the one the signer makes now.
#[cfg(feature = "ed25519")]
fn assert_v1a_is_the_signers(id: &str, ts: &str, body: &[u8], sigs: &str) {
    let secs: u64 = ts.parse().expect("decimal seconds");
    let want = standard_signer().sign(id, UNIX_EPOCH + Duration::from_secs(secs), body);
    let want = want
        .strip_prefix("v1a,")
        .and_then(b64_64)
        .expect("signer output");
    assert!(
        sigs.split(' ')
            .filter_map(|e| e.strip_prefix("v1a,"))
            .any(|c| b64_64(c) == Some(want)),
        "accepted a v1a signature the key did not make: {sigs:?}"
    );
}

#[cfg(not(feature = "ed25519"))]
fn assert_v1a_is_the_signers(_id: &str, _ts: &str, _body: &[u8], sigs: &str) {
    panic!("v1a accepted without the ed25519 feature: {sigs:?}");
}

#[cfg(feature = "ed25519")]
fn b64_64(text: &str) -> Option<[u8; 64]> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text).ok()?.try_into().ok()
}

/// `lenient::repair` on arbitrary bytes.
///
/// Invariants: never panics; `Ok` output is grammatical JSON (serde_json reads it as
/// `IgnoredAny`, which checks grammar but neither number range nor UTF-8 inside strings, as the
/// repair docs promise) nested at most `MAX_REPAIR_DEPTH` deep, repairing it again changes
/// nothing, fixes are in input order with offsets inside the input; input that serde_json
/// parses into a `Value` comes back byte for byte with no fixes.
pub fn repair(data: &[u8]) {
    use chathooks::lenient::{repair, MAX_REPAIR_DEPTH, MAX_REPAIR_INPUT};
    use serde::de::IgnoredAny;

    let strict_ok =
        data.len() <= MAX_REPAIR_INPUT && serde_json::from_slice::<serde_json::Value>(data).is_ok();
    match repair(data) {
        Ok(fixed) => {
            assert!(data.len() <= MAX_REPAIR_INPUT);
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(&fixed.bytes) {
                panic!(
                    "repaired output is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&fixed.bytes)
                );
            }
            let depth = json_depth(&fixed.bytes);
            assert!(
                depth <= MAX_REPAIR_DEPTH,
                "repaired output nests {depth} deep"
            );
            let again = repair(&fixed.bytes).expect("repaired output repairs");
            assert!(
                again.is_unchanged(),
                "second repair made fixes: {:?}",
                again.fixes
            );
            assert_eq!(again.bytes, fixed.bytes);
            assert!(
                fixed.fixes.windows(2).all(|w| w[0].offset <= w[1].offset),
                "fixes out of order: {:?}",
                fixed.fixes
            );
            assert!(fixed.fixes.iter().all(|f| f.offset <= data.len()));
            if strict_ok || fixed.is_unchanged() {
                assert!(
                    fixed.is_unchanged(),
                    "valid JSON was changed: {:?}",
                    fixed.fixes
                );
                assert_eq!(fixed.bytes, data);
            }
        }
        Err(err) => {
            assert!(
                !strict_ok,
                "repair rejected JSON that serde_json parses: {err}"
            );
            if let Some(off) = err.offset() {
                assert!(off <= data.len(), "{err:?} points past the input");
            }
        }
    }
}

/// Raw secret text every HMAC preset of `verify_hmac` is built with, plus a rotated second one.
pub const HMAC_SECRETS: [&str; 2] = [
    "fuzz-hmac-secret-0123456789",
    "rotated-hmac-secret-abcdefgh",
];

/// The HMAC presets `verify_hmac` picks from with the first input byte, in order.
pub const HMAC_PRESETS: [&str; 6] = ["github", "slack", "stripe", "sam", "buzzi", "conversalabs"];

/// The HMAC preset the `verify_hmac` target uses for selector byte `index` (two secrets).
pub fn hmac_preset(index: usize) -> chathooks::verify::HmacSha256 {
    use chathooks::verify::HmacSha256 as V;
    use chathooks::Secret;
    let s = || Secret::raw(HMAC_SECRETS[0]).expect("valid secret");
    let v = match index % HMAC_PRESETS.len() {
        0 => V::github(s()),
        1 => V::slack(s()),
        2 => V::stripe(s()),
        3 => V::sam(s()),
        4 => V::buzzi(s()),
        _ => V::conversalabs(s()),
    };
    v.add_secret(Secret::raw(HMAC_SECRETS[1]).expect("valid secret"))
        .tolerance(Duration::from_secs(TOLERANCE_SECS))
}

/// Header names and prefixes of each preset, as the vendors (or the inferred profiles) define
/// them: (signature header, timestamp header, prefix, required prefix).
fn hmac_layout(
    index: usize,
) -> (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    bool,
) {
    match index % HMAC_PRESETS.len() {
        0 => ("x-hub-signature-256", None, Some("sha256="), true),
        1 => (
            "x-slack-signature",
            Some("x-slack-request-timestamp"),
            Some("v0="),
            true,
        ),
        2 => ("stripe-signature", None, Some("v1="), true),
        3 => ("x-sam-signature", None, Some("sha256="), false),
        4 => ("x-webhook-signature", None, Some("sha256="), false),
        _ => (
            "x-chatwoot-signature",
            Some("x-chatwoot-timestamp"),
            Some("sha256="),
            true,
        ),
    }
}

fn hmac_oracle(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn hex_or_b64_32(text: &str, hex_allowed: bool, b64_allowed: bool) -> Option<[u8; 32]> {
    if hex_allowed && text.len() == 64 {
        let mut out = [0u8; 32];
        return hex::decode_to_slice(text, &mut out).ok().map(|()| out);
    }
    if b64_allowed {
        return b64_32(text);
    }
    None
}

/// Configurable HMAC-SHA256 verification (the GitHub, Slack, Stripe, Sam, Buzzi and
/// ConversaLabs presets; the first input byte picks one, the rest is the delivery).
///
/// Invariants: never panics; `Ok` only when a signature entry of the preset's header (after its
/// prefix) decodes to the HMAC of the preset's signed content under the key `key_index` names,
/// with a timestamp within tolerance for the timestamped layouts; errors are 400/401 and leak
/// nothing. Round trip: the input signed by the library verifies, one flipped body bit fails.
pub fn verify_hmac(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector);
    let v = hmac_preset(index);
    let (sig_name, ts_name, prefix, required) = hmac_layout(index);
    let preset = HMAC_PRESETS[index % HMAC_PRESETS.len()];
    let d = Delivery::split(rest);
    match v.verify_at(&d.inbound(), now()) {
        Ok(verified) => {
            let k = verified.key_index().expect("HMAC match names its key");
            let key = HMAC_SECRETS[k].as_bytes();
            let sigs = first_str(&d.headers, &[sig_name]).expect("accepted without signature");
            let (ts, entries): (Option<&str>, Vec<&str>) = if preset == "stripe" {
                let parts: Vec<&str> = sigs.split(',').map(str::trim).collect();
                let t = parts.iter().find_map(|p| p.strip_prefix("t="));
                (
                    t,
                    parts.iter().filter_map(|p| p.strip_prefix("v1=")).collect(),
                )
            } else {
                let ts = ts_name.map(|n| first_str(&d.headers, &[n]).expect("timestamp"));
                let entries = sigs
                    .split([',', ' ', '\t'])
                    .filter(|e| !e.is_empty())
                    .filter_map(|e| match prefix {
                        Some(p) => e.strip_prefix(p).or(if required { None } else { Some(e) }),
                        None => Some(e),
                    })
                    .collect();
                (ts, entries)
            };
            let want = match (preset, ts) {
                ("slack", Some(ts)) => hmac_oracle(key, &[b"v0:", ts.as_bytes(), b":", &d.body]),
                (_, Some(ts)) => hmac_oracle(key, &[ts.as_bytes(), b".", &d.body]),
                (_, None) => hmac_oracle(key, &[&d.body]),
            };
            if let Some(ts) = ts {
                let secs: u64 = ts.parse().expect("accepted timestamp is decimal seconds");
                assert!(within_tolerance(secs), "accepted timestamp {secs}");
            }
            let b64 = matches!(preset, "sam" | "buzzi");
            assert!(
                entries
                    .iter()
                    .any(|e| hex_or_b64_32(e, true, b64) == Some(want)),
                "{preset} accepted without a matching signature: {sigs:?}"
            );
            assert_eq!(verified.body(), &d.body[..]);
        }
        Err(err) => check_rejection(&err, &HMAC_SECRETS, &[]),
    }

    // Round trip through the library's signer, then one flipped body bit.
    let mut h = v.sign(now(), rest);
    let ok = v
        .verify_at(&Inbound::new(&h, rest), now())
        .expect("own signature verifies");
    assert_eq!(ok.key_index(), Some(0));
    if !rest.is_empty() {
        let mut flipped = rest.to_vec();
        flip_bit(&mut flipped, pick(data, rest.len() * 8));
        let err = v
            .verify_at(&Inbound::new(&h, &flipped), now())
            .expect_err("one flipped body bit must fail");
        assert!(
            matches!(err, Error::SignatureMismatch(_)),
            "{preset}: {err:?}"
        );
    }
    // Every entry with its last hex digit changed matches nothing (for Stripe that changes
    // `t=` too, which the MACs then no longer cover).
    let sig = h
        .get(sig_name)
        .and_then(|v| v.to_str().ok())
        .expect("signed header")
        .to_owned();
    let flipped: Vec<String> = sig
        .split(',')
        .map(|e| {
            let mut chars: Vec<char> = e.chars().collect();
            if let Some(last) = chars.last_mut() {
                *last = flip_hex_digit(*last);
            }
            chars.into_iter().collect()
        })
        .collect();
    h.insert(
        HeaderName::from_static(sig_name),
        HeaderValue::from_str(&flipped.join(",")).expect("ASCII"),
    );
    assert!(
        v.verify_at(&Inbound::new(&h, rest), now()).is_err(),
        "{preset}: altered signatures {flipped:?} verified"
    );
}

/// Turn the last hex digit into a different hex digit (0 <-> 1, a <-> b...), keeping the case.
fn flip_hex_digit(c: char) -> char {
    match c.to_digit(16) {
        Some(d) => std::char::from_digit(d ^ 1, 16).expect("hex digit"),
        None => c,
    }
}

/// Values the `verify_token` target's verifier accepts on `x-hook-token` (rotation: two).
pub const TOKENS: [&str; 2] = [
    "fuzz-token-value-0123456789",
    "rotated-token-value-abcdefgh",
];

/// Static shared-token verification of an arbitrary delivery.
///
/// Invariants: never panics; `Ok` exactly when one of at most eight `x-hook-token` headers
/// equals one of [`TOKENS`] byte for byte (and `key_index` says which, the lowest when several
/// match); errors are 400/401 and never quote a
/// token. Round trip: each token verifies, and each one-bit flip of it that is still a valid
/// header value fails.
pub fn verify_token(data: &[u8]) {
    use chathooks::verify::Token;
    let v = Token::new("X-Hook-Token", TOKENS[0])
        .and_then(|v| v.add_value(TOKENS[1]))
        .expect("valid tokens");
    let d = Delivery::split(data);
    let presented: Vec<&[u8]> = d
        .headers
        .get_all("x-hook-token")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let want = TOKENS
        .iter()
        .position(|t| presented.contains(&t.as_bytes()))
        .filter(|_| presented.len() <= 8);
    match v.verify_at(&d.inbound(), now()) {
        Ok(verified) => {
            assert_eq!(verified.key_index(), want, "accepted {presented:?}");
            assert!(want.is_some());
            assert_eq!(verified.body(), &d.body[..]);
        }
        Err(err) => {
            assert_eq!(want, None, "rejected a configured token: {err:?}");
            check_rejection(&err, &TOKENS, &[]);
        }
    }

    let token = TOKENS[pick(data, 2)];
    let mut h = HeaderMap::new();
    h.insert("x-hook-token", HeaderValue::from_static(token));
    assert!(v.verify_at(&Inbound::new(&h, data), now()).is_ok());
    let mut flipped = token.as_bytes().to_vec();
    flip_bit(&mut flipped, pick(data, token.len() * 8));
    if let Ok(value) = HeaderValue::from_bytes(&flipped) {
        h.insert("x-hook-token", value);
        assert!(
            v.verify_at(&Inbound::new(&h, data), now()).is_err(),
            "flipped token verified"
        );
    }
}

/// Secret of the `verify_salesmartly` target (used as raw text), plus a rotated second one.
pub const SALESMARTLY_SECRETS: [&str; 2] = [
    "fuzz-salesmartly-key-01234567",
    "rotated-salesmartly-key-abcdef",
];

/// The `event` string and the bytes of `data` SaleSmartly signs, read independently of the
/// library: `data` raw, or decoded when it is a JSON string.
fn salesmartly_fields(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Env<'a> {
        event: String,
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let env: Env<'_> = serde_json::from_slice(body).ok()?;
    let raw = env.data.get();
    let data = if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).ok()?
    } else {
        raw.to_owned()
    };
    Some((env.event, data))
}

fn salesmartly_md5(secret: &str, event: &str, data: &str, ts: Option<&str>) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(secret.as_bytes());
    h.update(b"&data=");
    h.update(data.as_bytes());
    h.update(b"&event=");
    h.update(event.as_bytes());
    if let Some(ts) = ts {
        h.update(b"&timestamp=");
        h.update(ts.as_bytes());
    }
    h.finalize().into()
}

/// SaleSmartly's MD5 query-string signature on an arbitrary delivery (the query line carries
/// `timestamp` and `signature`).
///
/// Invariants: never panics; `Ok` only when the body has an `event` string and a `data` value,
/// the timestamp (seconds or milliseconds) is within tolerance, and `signature` is the MD5 of
/// `secret&data=..&event=..` with or without `&timestamp=..` under the key `key_index` names;
/// errors are 400/401 and leak nothing. Round trip: a body built from the input, signed by the
/// library, verifies; one flipped bit inside its `data` value, or in the MD5, fails.
pub fn verify_salesmartly(data: &[u8]) {
    use chathooks::verify::SaleSmartly;
    use chathooks::Secret;
    let v = SaleSmartly::new(SALESMARTLY_SECRETS[0])
        .expect("valid secret")
        .add_secret(Secret::raw(SALESMARTLY_SECRETS[1]).expect("valid secret"))
        .tolerance(Duration::from_secs(TOLERANCE_SECS));
    let d = Delivery::split(data);
    let inbound = d.inbound();
    match v.verify_at(&inbound, now()) {
        Ok(verified) => {
            let k = verified.key_index().expect("match names its key");
            let sig = inbound.query_param("signature").expect("signature");
            let ts = inbound.query_param("timestamp").expect("timestamp");
            let mut secs: u64 = ts.parse().expect("decimal timestamp");
            if secs >= 100_000_000_000 {
                secs /= 1000;
            }
            assert!(within_tolerance(secs), "accepted timestamp {ts}");
            let (event, body_data) =
                salesmartly_fields(&d.body).expect("accepted body has event and data");
            let mut got = [0u8; 16];
            hex::decode_to_slice(sig.as_bytes(), &mut got).expect("accepted signature is hex");
            let secret = SALESMARTLY_SECRETS[k];
            assert!(
                got == salesmartly_md5(secret, &event, &body_data, None)
                    || got == salesmartly_md5(secret, &event, &body_data, Some(&ts)),
                "accepted a wrong MD5"
            );
        }
        Err(err) => check_rejection(&err, &SALESMARTLY_SECRETS, &[]),
    }

    // Round trip on `{"event":"fuzz","data":{"hex":"<input as hex>"}}`: `data` is hashed as its
    // raw bytes, so any one-bit change inside it fails (by mismatch or by breaking the JSON).
    let prefix = br#"{"event":"fuzz","data":"#;
    let mut body = prefix.to_vec();
    let data_start = body.len();
    body.extend_from_slice(br#"{"hex":""#);
    body.extend_from_slice(hex::encode(data).as_bytes());
    body.extend_from_slice(br#""}"#);
    let data_end = body.len();
    body.push(b'}');
    let query = v.sign(&body, now()).expect("signable body");
    let empty = HeaderMap::new();
    let ok = v
        .verify_at(
            &Inbound::new(&empty, &body).with_query(query.as_str()),
            now(),
        )
        .expect("own signature verifies");
    assert_eq!(ok.key_index(), Some(0));
    let mut flipped = body.clone();
    flip_bit(
        &mut flipped,
        data_start * 8 + pick(data, (data_end - data_start) * 8),
    );
    assert!(
        v.verify_at(
            &Inbound::new(&empty, &flipped).with_query(query.as_str()),
            now()
        )
        .is_err(),
        "flipped data verified: {:?}",
        String::from_utf8_lossy(&flipped)
    );
    let (head, sig) = query.rsplit_once("signature=").expect("signature param");
    let mut mac = [0u8; 16];
    hex::decode_to_slice(sig, &mut mac).expect("hex");
    flip_bit(&mut mac, pick(data, 128));
    let bad = format!("{head}signature={}", hex::encode(mac));
    assert!(
        v.verify_at(&Inbound::new(&empty, &body).with_query(bad.as_str()), now())
            .is_err(),
        "flipped MD5 verified"
    );
}

/// The body with JSON's insignificant whitespace trimmed from both ends: what a `RawValue` of
/// the whole body holds.
fn json_trim(data: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = data.iter().position(|b| !ws(b)).unwrap_or(data.len());
    let end = data.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &data[start..end]
}

/// `needle` occurs in `hay` as a contiguous run of bytes.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Shared invariants of every vendor parser: parsing is deterministic; an event names itself,
/// normalises into an [`chathooks::Event`] of its vendor and name that serialises, and yields a
/// dedupe id; a failure is a 422 parse error with a path.
fn parse_vendor<T: chathooks::platform::VendorEvent>(data: &[u8]) -> Option<T> {
    use chathooks::{platform, Verified};
    match T::from_slice(data) {
        Ok(ev) => {
            let common = ev.normalize();
            assert_eq!(common.vendor, T::VENDOR);
            assert_eq!(common.name, ev.name(), "normalised name differs");
            let again = T::from_slice(data).expect("parsing is deterministic");
            assert_eq!(again.normalize(), common, "normalising is deterministic");
            if let Err(e) = serde_json::to_vec(&common) {
                panic!("normalised event does not serialise ({e}): {common:?}");
            }
            let id = ev.event_id();
            let dedupe = platform::dedupe_key("fuzz", &Verified::new("fuzz", data), id.as_deref())
                .expect("a valid namespace always gives a key");
            assert!(dedupe.as_str().starts_with("fuzz/"));
            Some(ev)
        }
        Err(err) => {
            // No check on `path`: a failure under a key named `""` has the path `""`.
            let status = Error::from(err).status();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            None
        }
    }
}

/// Unknown events keep the whole body (whitespace-trimmed) byte for byte.
fn assert_lossless(data: &[u8], name: &str, raw: &serde_json::value::RawValue) {
    assert_eq!(
        raw.get().as_bytes(),
        json_trim(data),
        "unknown event {name:?} lost bytes"
    );
}

/// SaleAssist parsing (strict; the capture-tool wrapper unwrapped). Unknown events keep their
/// body, inside the wrapper when there is one, byte for byte.
pub fn parse_saleassist(data: &[u8]) {
    use chathooks::platform::saleassist::SaleAssistEvent;
    if let Some(SaleAssistEvent::Unknown { name, raw }) = parse_vendor::<SaleAssistEvent>(data) {
        assert!(
            contains(data, raw.get().as_bytes()),
            "unknown event {name:?} is not a part of the body"
        );
    }
}

/// SaleSmartly parsing. Unknown events keep only the signed `event` and `data`, `data` byte
/// for byte; no other top-level key of the body.
pub fn parse_salesmartly(data: &[u8]) {
    use chathooks::platform::salesmartly::SaleSmartlyEvent;
    use serde_json::value::RawValue;
    if let Some(SaleSmartlyEvent::Unknown { name, raw }) = parse_vendor::<SaleSmartlyEvent>(data) {
        let kept: std::collections::BTreeMap<String, &RawValue> =
            serde_json::from_str(raw.get()).expect("raw is a JSON object");
        assert!(
            kept.keys().all(|k| k == "event" || k == "data"),
            "unsigned keys kept: {:?}",
            kept.keys()
        );
        let event: String = serde_json::from_str(kept["event"].get()).expect("event string");
        assert_eq!(event, name);
        if let Some(d) = kept.get("data") {
            assert!(
                contains(data, d.get().as_bytes()),
                "unknown event {name:?}: data is not a part of the body"
            );
        }
    }
}

/// Sam parsing. Unknown events keep the whole body byte for byte.
pub fn parse_sam(data: &[u8]) {
    use chathooks::platform::sam::SamEvent;
    if let Some(SamEvent::Unknown { name, raw }) = parse_vendor::<SamEvent>(data) {
        assert_lossless(data, &name, &raw);
    }
}

/// Buzzi parsing. Unknown events keep the whole body byte for byte.
pub fn parse_buzzi(data: &[u8]) {
    use chathooks::platform::buzzi::BuzziEvent;
    if let Some(BuzziEvent::Unknown { name, raw }) = parse_vendor::<BuzziEvent>(data) {
        assert_lossless(data, &name, &raw);
    }
}

/// ConversaLabs parsing. Unknown events keep the whole body byte for byte.
pub fn parse_conversalabs(data: &[u8]) {
    use chathooks::platform::conversalabs::ConversaLabsEvent;
    if let Some(ConversaLabsEvent::Unknown { name, raw }) = parse_vendor::<ConversaLabsEvent>(data)
    {
        assert_lossless(data, &name, &raw);
    }
}

/// Generic Standard Webhooks event parsing: `data` is kept byte for byte.
pub fn parse_standard(data: &[u8]) {
    use chathooks::platform::standard::StandardEvent;
    if let Some(ev) = parse_vendor::<StandardEvent>(data) {
        if let Some(d) = &ev.data {
            assert!(
                contains(data, d.get().as_bytes()),
                "`data` is not a part of the body"
            );
        }
    }
}

/// The input through every vendor parser, then (when it is not JSON) through
/// `lenient::repair` and every parser again: whatever parses normalises without panicking.
pub fn normalize_all(data: &[u8]) {
    fn all(data: &[u8]) {
        parse_saleassist(data);
        parse_salesmartly(data);
        parse_sam(data);
        parse_buzzi(data);
        parse_conversalabs(data);
        parse_standard(data);
    }
    all(data);
    if serde_json::from_slice::<serde::de::IgnoredAny>(data).is_err() {
        if let Ok(fixed) = chathooks::lenient::repair(data) {
            all(&fixed.bytes);
        }
    }
}

/// Poll a future that needs no I/O (the memory store's) to completion without a runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..64 {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("an in-memory future did not complete");
}

/// Body limit of the `receive` target's receiver (small, so 413 is reachable by the fuzzer).
pub const RECEIVE_BODY_LIMIT: usize = 4096;

fn receiver() -> chathooks::Receiver<chathooks::platform::standard::StandardEvent> {
    chathooks::Receiver::builder(standard_verifier())
        .store(chathooks::idempotency::MemoryStore::new(64))
        .body_limit(RECEIVE_BODY_LIMIT)
        .repair(true)
        .build()
}

/// The body a receiver with repair on parses: the body itself, or its repair when the strict
/// parse fails with a syntax error. `None` when neither parses.
fn receivable(body: &[u8]) -> Option<Vec<chathooks::lenient::Fix>> {
    use chathooks::platform::standard::StandardEvent;
    match StandardEvent::from_slice(body) {
        Ok(_) => Some(Vec::new()),
        Err(e) if e.syntax => {
            let fixed = chathooks::lenient::repair(body).ok()?;
            if fixed.fixes.is_empty() {
                return None;
            }
            StandardEvent::from_slice(&fixed.bytes).ok()?;
            Some(fixed.fixes)
        }
        Err(_) => None,
    }
}

/// The whole receive path (`Receiver<StandardEvent>` with repair on and a memory store) on an
/// arbitrary delivery, then on the input signed as a body.
///
/// Invariants: never panics; a fresh receiver never reports a duplicate; `Fresh` only when the
/// body is within the limit, the verifier alone accepts the delivery and the body parses
/// (strictly, or after exactly the repairs reported); every rejection has the status of the
/// stage that failed (413, then the verifier's 400/401, then 422); a completed delivery's
/// retry is a `Duplicate`, and a delivery dropped without completing is received again.
pub fn receive(data: &[u8]) {
    use chathooks::Received;
    let rx = receiver();
    let d = Delivery::split(data);
    let inbound = d.inbound();
    let direct = standard_verifier().verify_at(&inbound, now());
    let parses = receivable(&d.body);
    match block_on(rx.receive_at(&inbound, now())) {
        Ok(Received::Fresh(delivery)) => {
            assert!(
                d.body.len() <= RECEIVE_BODY_LIMIT,
                "accepted an oversized body"
            );
            let verified = direct.expect("receiver accepted what the verifier rejects");
            assert_eq!(delivery.signed_delivery_id(), verified.signed_delivery_id());
            assert_eq!(delivery.key_index(), verified.key_index());
            assert_eq!(Some(delivery.repairs()), parses.as_deref());
            block_on(delivery.complete()).expect("memory store completes");
            match block_on(rx.receive_at(&inbound, now())) {
                Ok(Received::Duplicate { .. }) => {}
                other => panic!("retry of a completed delivery: {other:?}"),
            }
        }
        Ok(Received::Duplicate { key }) => panic!("fresh receiver saw a duplicate: {key:?}"),
        Err(err) => {
            let status = err.status();
            if d.body.len() > RECEIVE_BODY_LIMIT {
                assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err:?}");
            } else if let Err(verr) = &direct {
                assert_eq!(status, verr.status(), "{err:?} vs verifier's {verr:?}");
            } else {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err:?}");
                assert!(parses.is_none(), "rejected a parseable body: {err:?}");
            }
        }
    }

    // The input as a body, correctly signed.
    let id = "msg_fuzz_receive";
    let sig = standard_verifier().sign(id, now(), data);
    let mut h = HeaderMap::new();
    h.insert("webhook-id", HeaderValue::from_static(id));
    h.insert("webhook-timestamp", HeaderValue::from(NOW_SECS));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&sig).expect("ASCII"),
    );
    let inbound = Inbound::new(&h, data);
    let rx = receiver();
    let first = block_on(rx.receive_at(&inbound, now()));
    if data.len() > RECEIVE_BODY_LIMIT {
        let err = first.expect_err("oversized body");
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        return;
    }
    match (first, receivable(data)) {
        (Ok(Received::Fresh(delivery)), Some(fixes)) => {
            assert_eq!(delivery.repairs(), &fixes[..]);
            assert_eq!(delivery.signed_delivery_id(), Some(id));
            block_on(delivery.release()).expect("memory store releases"); // the handler failed
            match block_on(rx.receive_at(&inbound, now())) {
                Ok(Received::Fresh(again)) => {
                    block_on(again.complete()).expect("memory store completes");
                }
                other => panic!("retry after a failed handler: {other:?}"),
            }
            assert!(matches!(
                block_on(rx.receive_at(&inbound, now())),
                Ok(Received::Duplicate { .. })
            ));
        }
        (Err(err), None) => assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{err:?}"),
        (got, parses) => panic!("signed body: receiver said {got:?}, parser said {parses:?}"),
    }
}
