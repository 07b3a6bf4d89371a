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
        .map(|s| *s)
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

fn standard_verifier() -> StandardWebhooks {
    StandardWebhooks::new(STANDARD_SECRETS[0])
        .and_then(|v| v.add_secret(STANDARD_SECRETS[1]))
        .expect("valid test secrets")
        .tolerance(Duration::from_secs(TOLERANCE_SECS))
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
            assert_eq!(verified.delivery_id(), Some(id));
            assert_eq!(verified.body(), &d.body[..]);
            let secs: u64 = ts.parse().expect("accepted timestamp is decimal seconds");
            assert!(within_tolerance(secs), "accepted timestamp {secs}");
            assert_eq!(
                verified.timestamp(),
                Some(UNIX_EPOCH + Duration::from_secs(secs))
            );
            let k = verified.key_index().expect("HMAC match names its key");
            assert_eq!(verified.scheme(), "standard-v1");
            let want = standard_mac(&keys[k], id, ts, &d.body);
            assert!(
                sigs.split(' ')
                    .filter_map(|e| e.strip_prefix("v1,"))
                    .any(|c| b64_32(c) == Some(want)),
                "accepted without a matching v1 signature: {sigs:?}"
            );
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
