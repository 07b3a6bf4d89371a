//! Never-panic properties for the timestamped schemes, starting from a valid signed delivery.
//!
//! The older property (`verify::props::garbage_never_panics`) feeds random headers, which are
//! almost never decimal seconds near the clock, so every run stopped at timestamp parsing and
//! nothing past it was exercised. Here each case starts from a delivery that verifies and
//! replaces exactly one header (or query parameter) with arbitrary bytes, timestamps near
//! `NOW` included, or exactly one body byte: the check must run to the signature comparison,
//! never panic, fail with a verification error, and accept nothing that changed a signed part.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::verify::{
    HmacSha256, SaleSmartly, SaleSmartlyLayout, SignatureEncoding, SignedContent, StandardWebhooks,
    Verifier,
};
use chathooks::{Inbound, Secret};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;

const NOW: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Arbitrary bytes, and values that get past the first checks of each header: decimal seconds
/// and milliseconds inside and just outside the tolerance, and signature-shaped text.
fn replacement() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..96),
        (NOW - 400..NOW + 400).prop_map(|t| t.to_string().into_bytes()),
        (NOW * 1000 - 400_000..NOW * 1000 + 400_000).prop_map(|t| t.to_string().into_bytes()),
        "[0-9]{0,24}".prop_map(String::into_bytes),
        "(v1,|v1a,|v0=|sha256=)?[A-Za-z0-9+/=_-]{0,96}".prop_map(String::into_bytes),
        "(t=[0-9]{9,11},)?(v1=[0-9a-f]{0,66},?){0,3}".prop_map(String::into_bytes),
        "( ?v1,[A-Za-z0-9+/]{43}=){1,3}".prop_map(String::into_bytes),
        // A further entry, for appending to a valid signature header (rotation lists).
        "( v1,| v1a,| v0=| sha256=| |,v1=|,t=)[A-Za-z0-9+/=]{0,60}".prop_map(String::into_bytes),
        "[ -~]{0,96}".prop_map(String::into_bytes),
    ]
}

/// `h` with header `name` set to `value`, or removed when `value` is no valid header value.
fn replaced(h: &HeaderMap, name: &HeaderName, value: &[u8]) -> HeaderMap {
    let mut h = h.clone();
    match HeaderValue::from_bytes(value) {
        Ok(v) => {
            h.insert(name.clone(), v);
        }
        Err(_) => {
            h.remove(name);
        }
    }
    h
}

/// One valid delivery of one scheme, and which of its headers the signature covers.
struct Case {
    name: &'static str,
    verifier: Box<dyn Verifier>,
    headers: HeaderMap,
    unsigned: &'static [&'static str],
}

fn cases(body: &[u8], id: &str, key: &[u8]) -> Vec<Case> {
    use base64::Engine as _;
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let standard = StandardWebhooks::new(&whsec).unwrap();
    let mut std_h = HeaderMap::new();
    std_h.insert("webhook-id", id.parse().unwrap());
    std_h.insert("webhook-timestamp", NOW.into());
    std_h.insert(
        "webhook-signature",
        standard.sign(id, at(NOW), body).parse().unwrap(),
    );
    let secret = || Secret::from_bytes(key.to_vec()).unwrap();
    let hmac = |v: HmacSha256, unsigned: &'static [&'static str], name| {
        let mut headers = v.sign(at(NOW), body);
        for u in unsigned {
            headers.insert(*u, id.parse().unwrap());
        }
        Case {
            name,
            verifier: Box::new(v),
            headers,
            unsigned,
        }
    };
    let mut out = vec![
        Case {
            name: "standard v1",
            verifier: Box::new(standard),
            headers: std_h,
            unsigned: &[],
        },
        hmac(HmacSha256::slack(secret()), &[], "slack"),
        hmac(HmacSha256::stripe(secret()), &[], "stripe"),
        hmac(
            HmacSha256::conversalabs(secret()),
            &["x-chatwoot-delivery"],
            "conversalabs",
        ),
        hmac(
            HmacSha256::builder("X-Sig")
                .secret(secret())
                .encoding(SignatureEncoding::Base64)
                .signed_content(SignedContent::timestamp_dot_body("X-Ts"))
                .build()
                .unwrap(),
            &[],
            "timestamp.body base64",
        ),
    ];
    #[cfg(feature = "ed25519")]
    {
        use chathooks::verify::StandardWebhooksSigner;
        let seed: [u8; 32] = std::array::from_fn(|i| key[i % key.len()]);
        let signer = StandardWebhooksSigner::new(&format!(
            "whsk_{}",
            base64::engine::general_purpose::STANDARD.encode(seed)
        ))
        .unwrap();
        let v = StandardWebhooks::with_public_key(&signer.public_key()).unwrap();
        let mut h = HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", NOW.into());
        h.insert(
            "webhook-signature",
            signer.sign(id, at(NOW), body).parse().unwrap(),
        );
        out.push(Case {
            name: "standard v1a",
            verifier: Box::new(v),
            headers: h,
            unsigned: &[],
        });
    }
    out
}

/// `Ok` only for the untouched delivery; otherwise a verification error, never a panic.
fn check(case: &Case, h: &HeaderMap, body: &[u8], changed: bool) -> Result<(), TestCaseError> {
    // At the signing time, and at the edges of the tolerance for the untouched delivery.
    let times: &[u64] = if changed {
        &[NOW]
    } else {
        &[NOW, NOW + 299, NOW - 299]
    };
    for &now in times {
        match case.verifier.verify_at(&Inbound::new(h, body), at(now)) {
            Ok(_) => prop_assert!(!changed, "{}: a changed signed part verified", case.name),
            Err(e) => {
                prop_assert!(!changed || e.is_verification(), "{}: {:?}", case.name, e);
                prop_assert!(changed, "{}: the valid delivery failed: {:?}", case.name, e);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Exactly one header of a valid delivery replaced by arbitrary bytes (or removed).
    #[test]
    fn one_header_replaced(
        key in prop::collection::vec(any::<u8>(), 24..48),
        id in "[a-zA-Z0-9_]{1,32}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        which in any::<Index>(),
        value in replacement(),
        mode in 0..3u8,
    ) {
        for case in cases(&body, &id, &key) {
            let names: Vec<HeaderName> = case.headers.keys().cloned().collect();
            let name = &names[which.index(names.len())];
            // The new value: arbitrary, or the valid one with arbitrary bytes after or before
            // it (a further signature entry, a second timestamp).
            let original = case.headers[name].as_bytes();
            let value = match mode {
                0 => value.clone(),
                1 => [original, &value].concat(),
                _ => [&value, original].concat(),
            };
            let h = replaced(&case.headers, name, &value);
            let changed = !case.unsigned.contains(&name.as_str())
                && h.get(name).map(HeaderValue::as_bytes) != case.headers.get(name).map(HeaderValue::as_bytes);
            // Bytes around the valid signature may just be another entry of a rotation list:
            // such a header may still verify. Any other change to a signed part must not.
            if mode != 0 || case.unsigned.contains(&name.as_str()) {
                // The delivery verifies, or is refused with a verification error; never a panic.
                if let Err(e) = case.verifier.verify_at(&Inbound::new(&h, &body), at(NOW)) {
                    prop_assert!(e.is_verification(), "{}: {:?}", case.name, e);
                }
            } else {
                check(&case, &h, &body, changed)?;
            }
        }
    }

    /// Exactly one body byte of a valid delivery replaced by an arbitrary byte.
    #[test]
    fn one_body_byte_replaced(
        key in prop::collection::vec(any::<u8>(), 24..48),
        id in "[a-zA-Z0-9_]{1,32}",
        body in prop::collection::vec(any::<u8>(), 1..256),
        which in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let mut changed_body = body.clone();
        let i = which.index(body.len());
        changed_body[i] = byte;
        for case in cases(&body, &id, &key) {
            check(&case, &case.headers, &body, false)?;
            check(&case, &case.headers, &changed_body, body[i] != byte)?;
        }
    }

    /// SaleSmartly's timestamped layout signs through the query string: exactly one of
    /// `timestamp` and `signature` replaced by arbitrary text, or one body byte replaced.
    #[test]
    fn salesmartly_one_part_replaced(
        secret in "[!-~]{16,48}",
        event in prop_oneof![Just("message"), Just("add_user"), Just("session_closed")],
        msg in "[ -~]{0,40}",
        which in 0..3usize,
        value in replacement(),
        at_byte in any::<Index>(),
    ) {
        let body = serde_json::to_vec(&serde_json::json!({"event": event, "data": {"msg": msg}})).unwrap();
        let v = SaleSmartly::new(&secret).unwrap().layout(SaleSmartlyLayout::WithTimestamp);
        let query = v.sign(&body, at(NOW)).unwrap();
        let (ts, sig) = query.split_once('&').unwrap();
        let run = |q: &str, b: &[u8]| {
            let h = HeaderMap::new();
            v.verify_at(&Inbound::new(&h, b).with_query(q), at(NOW)).map(|_| ())
        };
        prop_assert!(run(&query, &body).is_ok());
        let text = String::from_utf8_lossy(&value).into_owned();
        let (q, b) = match which {
            0 => (format!("timestamp={text}&{sig}"), body.clone()),
            1 => (format!("{ts}&signature={text}"), body.clone()),
            _ => {
                let mut b = body.clone();
                let i = at_byte.index(b.len());
                b[i] = value.first().copied().unwrap_or(0);
                (query.clone(), b)
            }
        };
        match run(&q, &b) {
            // Only the untouched delivery verifies (a replaced part equal to the original).
            Ok(_) => prop_assert!(q == query && b == body, "changed delivery verified: {}", q),
            Err(e) => prop_assert!(e.is_verification(), "{:?}", e),
        }
    }
}
