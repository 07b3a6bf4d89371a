//! Property tests for every scheme: sign -> verify succeeds; any single bit flip in body,
//! signature, id or timestamp fails; every strict prefix of a signature fails; arbitrary header
//! and query values never panic.

use std::time::Duration;

use chathooks::verify::{
    HmacSha256, SaleSmartly, SaleSmartlyLayout, SignatureEncoding, SignedContent, StandardWebhooks,
    Token, Verifier,
};
use chathooks::{Inbound, Secret};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;

use super::at;

const NOW: u64 = 1_700_000_000;

/// `text` with bit `bit` of byte `at` flipped; `None` when it is no longer a valid header value.
fn flip(text: &[u8], at: &Index, bit: u8) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    let mut out = text.to_vec();
    out[at.index(text.len())] ^= 1 << (bit % 8);
    HeaderValue::from_bytes(&out).ok().map(|_| out)
}

/// A flip that only changes the case of a hex letter denotes the same signature.
fn same_hex(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn with(h: &HeaderMap, name: &str, value: &[u8]) -> HeaderMap {
    let mut h = h.clone();
    h.insert(
        HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_bytes(value).unwrap(),
    );
    h
}

fn ok<V: Verifier>(v: &V, h: &HeaderMap, body: &[u8]) -> bool {
    v.verify_at(&Inbound::new(h, body), at(NOW)).is_ok()
}

fn flipped_body(body: &[u8], at: &Index, bit: u8) -> Option<Vec<u8>> {
    if body.is_empty() {
        return None;
    }
    let mut b = body.to_vec();
    b[at.index(body.len())] ^= 1 << (bit % 8);
    Some(b)
}

fn hmac_verifier(secrets: &[Vec<u8>], layout: u8, encoding: u8) -> HmacSha256 {
    let mut b = HmacSha256::builder("X-Sig").encoding(match encoding % 3 {
        0 => SignatureEncoding::Hex,
        1 => SignatureEncoding::Base64,
        _ => SignatureEncoding::HexOrBase64,
    });
    b = match layout % 5 {
        0 => b.signed_content(SignedContent::Body),
        1 => b
            .signed_content(SignedContent::Body)
            .optional_prefix("sha256="),
        2 => b
            .signed_content(SignedContent::timestamp_dot_body("X-Ts"))
            .prefix("sha256="),
        3 => b
            .signed_content(SignedContent::slack_v0("X-Ts"))
            .prefix("v0="),
        _ => b.signed_content(SignedContent::StripeHeader),
    };
    for s in secrets {
        b = b.secret(Secret::from_bytes(s.clone()).unwrap());
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn standard_v1(
        key in prop::collection::vec(any::<u8>(), 24..64),
        id in "[a-zA-Z0-9_]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..512),
        at_i in any::<Index>(), bit in any::<u8>(),
    ) {
        use base64::Engine as _;
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let v = StandardWebhooks::new(&secret).unwrap();
        let sig = v.sign(&id, at(NOW), &body);
        let ts = NOW.to_string();
        let h = super::headers(&[("webhook-id", &id), ("webhook-timestamp", &ts), ("webhook-signature", &sig)]);
        prop_assert!(ok(&v, &h, &body));
        if let Some(b) = flipped_body(&body, &at_i, bit) {
            prop_assert!(!ok(&v, &h, &b));
        }
        for (name, value) in [("webhook-signature", sig.as_bytes()), ("webhook-id", id.as_bytes()), ("webhook-timestamp", ts.as_bytes())] {
            if let Some(f) = flip(value, &at_i, bit) {
                prop_assert!(!ok(&v, &with(&h, name, &f), &body), "{} flipped", name);
            }
        }
        // Dropping only the `=` padding is the same signature (padding is optional).
        let unpadded = sig.trim_end_matches('=');
        for n in 0..unpadded.len() {
            prop_assert!(!ok(&v, &with(&h, "webhook-signature", &sig.as_bytes()[..n]), &body), "prefix {}", n);
        }
    }

    #[test]
    fn hmac_sha256_every_layout_and_encoding(
        secrets in prop::collection::vec(prop::collection::vec(any::<u8>(), 16..64), 1..3),
        layout in any::<u8>(), encoding in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        at_i in any::<Index>(), bit in any::<u8>(),
    ) {
        let v = hmac_verifier(&secrets, layout, encoding);
        let h = v.sign(at(NOW), &body);
        prop_assert!(ok(&v, &h, &body));
        if let Some(b) = flipped_body(&body, &at_i, bit) {
            prop_assert!(!ok(&v, &h, &b));
        }
        // The timestamp lives in its own header, or inside Stripe's signature header (covered by
        // the signature flips below).
        if let Some(ts) = h.get("x-ts") {
            if let Some(f) = flip(ts.as_bytes(), &at_i, bit) {
                prop_assert!(!ok(&v, &with(&h, "X-Ts", &f), &body));
            }
        }
        // With one secret, a changed signature has no rotated sibling to fall back on.
        let single = hmac_verifier(&secrets[..1], layout, encoding);
        let h1 = single.sign(at(NOW), &body);
        let sig = h1.get("x-sig").unwrap().as_bytes().to_vec();
        if let Some(f) = flip(&sig, &at_i, bit) {
            if !(encoding % 3 != 1 && same_hex(&f, &sig)) {
                prop_assert!(!ok(&single, &with(&h1, "X-Sig", &f), &body));
            }
        }
        // Strict prefixes (dropping only the `=` padding is the same signature).
        let sig1 = h1.get("x-sig").unwrap().to_str().unwrap().trim_end_matches('=').to_string();
        for n in 0..sig1.len() {
            prop_assert!(!ok(&single, &with(&h1, "X-Sig", &sig1.as_bytes()[..n]), &body), "prefix {}", n);
        }
    }

    #[test]
    fn token(value in "[!-~]{16,48}", at_i in any::<Index>(), bit in any::<u8>()) {
        let v = Token::new("X-Token", &value).unwrap();
        let h = super::headers(&[("X-Token", &value)]);
        prop_assert!(ok(&v, &h, b""));
        if let Some(f) = flip(value.as_bytes(), &at_i, bit) {
            prop_assert!(!ok(&v, &with(&h, "X-Token", &f), b""));
        }
        for n in 0..value.len() {
            prop_assert!(!ok(&v, &with(&h, "X-Token", &value.as_bytes()[..n]), b""));
        }
    }

    #[test]
    fn salesmartly(
        secret in "[!-~]{16,48}",
        event in "[a-z_]{1,20}",
        data in prop::collection::btree_map("[a-z]{1,8}", any::<String>(), 0..4),
        data_as_string in any::<bool>(),
        at_i in any::<Index>(), bit in any::<u8>(),
    ) {
        let data = serde_json::to_value(&data).unwrap();
        let data = if data_as_string { serde_json::Value::String(data.to_string()) } else { data };
        let body = serde_json::to_vec(&serde_json::json!({"event": event, "data": data})).unwrap();
        let v = SaleSmartly::new(&secret).unwrap().layout(SaleSmartlyLayout::WithTimestamp);
        let query = v.sign(&body, at(NOW)).unwrap();
        let run = |q: &str, b: &[u8]| {
            let h = HeaderMap::new();
            v.verify_at(&Inbound::new(&h, b).with_query(q), at(NOW)).is_ok()
        };
        prop_assert!(run(&query, &body));
        if let Some(b) = flipped_body(&body, &at_i, bit) {
            prop_assert!(!run(&query, &b), "{}", String::from_utf8_lossy(&b));
        }
        let (ts_part, sig_part) = query.split_once('&').unwrap();
        let sig = sig_part.strip_prefix("signature=").unwrap();
        let ts = ts_part.strip_prefix("timestamp=").unwrap();
        if let Some(f) = flip(sig.as_bytes(), &at_i, bit) {
            if !same_hex(&f, sig.as_bytes()) {
                if let Ok(f) = std::str::from_utf8(&f) {
                    let q = format!("{ts_part}&signature={f}");
                    prop_assert!(!run(&q, &body));
                }
            }
        }
        if let Some(f) = flip(ts.as_bytes(), &at_i, bit) {
            if let Ok(f) = std::str::from_utf8(&f) {
                if !f.contains(['&', '#', '%']) {
                    let q = format!("timestamp={f}&{sig_part}");
                    prop_assert!(!run(&q, &body));
                }
            }
        }
        for n in 0..sig.len() {
            let q = format!("{ts_part}&signature={}", &sig[..n]);
            prop_assert!(!run(&q, &body));
        }
    }

    #[test]
    fn garbage_never_panics(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 4),
        query in ".{0,200}",
        body in prop::collection::vec(any::<u8>(), 0..200),
        layout in any::<u8>(), encoding in any::<u8>(),
    ) {
        let mut h = HeaderMap::new();
        let names = ["webhook-id", "webhook-timestamp", "webhook-signature", "x-sig", "x-ts", "x-token", "x-hub-signature-256", "stripe-signature"];
        for (i, v) in values.iter().enumerate() {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                h.insert(names[i], v.clone());
                h.insert(names[i + 4], v);
            }
        }
        let i = Inbound::new(&h, &body).with_query(query.as_str());
        let verifiers: Vec<Box<dyn Verifier>> = vec![
            Box::new(StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap().tolerance(Duration::MAX)),
            Box::new(hmac_verifier(&[vec![1; 16]], layout, encoding)),
            Box::new(HmacSha256::github(Secret::raw("0123456789abcdef").unwrap())),
            Box::new(HmacSha256::stripe(Secret::raw("0123456789abcdef").unwrap())),
            Box::new(Token::new("x-token", "0123456789abcdef").unwrap()),
            Box::new(SaleSmartly::new("0123456789abcdef").unwrap()),
        ];
        for v in &verifiers {
            for now in [0, NOW, u64::MAX / 4] {
                if let Err(e) = v.verify_at(&i, at(now)) {
                    prop_assert!(e.is_verification(), "{:?}", e);
                }
            }
        }
    }
}

#[cfg(feature = "ed25519")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn standard_v1a(
        seed in any::<[u8; 32]>(),
        id in "[a-zA-Z0-9_]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        at_i in any::<Index>(), bit in any::<u8>(),
    ) {
        use base64::Engine as _;
        use chathooks::verify::StandardWebhooksSigner;
        let signer = StandardWebhooksSigner::new(&format!("whsk_{}", base64::engine::general_purpose::STANDARD.encode(seed))).unwrap();
        let v = StandardWebhooks::with_public_key(&signer.public_key()).unwrap();
        let sig = signer.sign(&id, at(NOW), &body);
        let ts = NOW.to_string();
        let h = super::headers(&[("webhook-id", &id), ("webhook-timestamp", &ts), ("webhook-signature", &sig)]);
        prop_assert!(ok(&v, &h, &body));
        if let Some(b) = flipped_body(&body, &at_i, bit) {
            prop_assert!(!ok(&v, &h, &b));
        }
        for (name, value) in [("webhook-signature", sig.as_bytes()), ("webhook-id", id.as_bytes()), ("webhook-timestamp", ts.as_bytes())] {
            if let Some(f) = flip(value, &at_i, bit) {
                prop_assert!(!ok(&v, &with(&h, name, &f), &body), "{} flipped", name);
            }
        }
        let unpadded = sig.trim_end_matches('=');
        for n in 0..unpadded.len() {
            prop_assert!(!ok(&v, &with(&h, "webhook-signature", &sig.as_bytes()[..n]), &body), "prefix {}", n);
        }
    }
}
