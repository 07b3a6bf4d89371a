//! Verification stage: known-answer vectors, regression tests, property tests, redaction.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::Error;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

mod debug;
mod hmac;
mod props;
mod salesmartly;
mod standard;
mod token;

/// Unix seconds as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Headers from `(name, value)` text pairs.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Assert the error is a 400 (malformed/missing) and return it.
#[track_caller]
pub fn bad_request<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    let e = r.expect_err("expected a 400");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e:?}");
    e
}

/// Assert the error is a 401 (mismatch/stale) and return it.
#[track_caller]
pub fn unauthorized<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    let e = r.expect_err("expected a 401");
    assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{e:?}");
    e
}

/// Every verifier's constructor and `add_secret` take a parsed `Secret` (infallible) or the
/// secret's text (`Result`), decoded the way the scheme expects.
#[test]
fn builders_read_alike() {
    use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Verifier};
    use chathooks::{Inbound, Secret};

    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const WHSEC2: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = b"{}";
    let now = SystemTime::now();

    // Standard Webhooks: text is `whsec_` base64; a `Secret` is taken as is.
    let by_text = StandardWebhooks::new(WHSEC)
        .unwrap()
        .add_secret(WHSEC2)
        .unwrap();
    let by_secret = StandardWebhooks::new(Secret::standard(WHSEC).unwrap())
        .add_secret(Secret::standard(WHSEC2).unwrap());
    let owned: String = WHSEC2.into();
    let by_string = StandardWebhooks::new(&owned)
        .unwrap()
        .add_secret(owned)
        .unwrap();
    let second_only = StandardWebhooks::new(WHSEC2).unwrap();
    let sig = second_only.sign("msg_1", now, body);
    let h = headers(&[
        ("webhook-id", "msg_1"),
        (
            "webhook-timestamp",
            &now.duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string(),
        ),
        ("webhook-signature", &sig),
    ]);
    for (v, index) in [(&by_text, 1), (&by_secret, 1), (&by_string, 0)] {
        let ok = v.verify_at(&Inbound::new(&h, body), now).unwrap();
        assert_eq!(ok.key_index(), Some(index));
    }
    assert!(matches!(
        StandardWebhooks::new(WHSEC)
            .unwrap()
            .add_secret("not base64!"),
        Err(Error::InvalidSecret(_))
    ));

    // HMAC presets: text is the key as is, the same key as `Secret::raw`.
    let text = "sam-secret-0123456789";
    let a = HmacSha256::sam(text)
        .unwrap()
        .add_secret("another-secret-0123456")
        .unwrap();
    let b = HmacSha256::sam(Secret::raw("another-secret-0123456").unwrap())
        .add_secret(Secret::raw(text).unwrap());
    let signed = HmacSha256::sam(text).unwrap().sign(now, body);
    assert_eq!(
        a.verify_at(&Inbound::new(&signed, body), now)
            .unwrap()
            .key_index(),
        Some(0)
    );
    assert_eq!(
        b.verify_at(&Inbound::new(&signed, body), now)
            .unwrap()
            .key_index(),
        Some(1)
    );
    assert!(matches!(
        HmacSha256::github("short"),
        Err(Error::InvalidSecret(_))
    ));
    let built = HmacSha256::builder("X-Sig")
        .secret(text)
        .unwrap()
        .build()
        .unwrap();
    let hex = HmacSha256::builder("X-Sig")
        .secret(Secret::raw(text).unwrap())
        .build()
        .unwrap();
    assert_eq!(built.signature(now, body), hex.signature(now, body));

    // SaleSmartly: the same two forms.
    let s = SaleSmartly::new("salesmartly-key-0123456")
        .unwrap()
        .add_secret("salesmartly-key-6543210")
        .unwrap();
    let t = SaleSmartly::new(Secret::raw("salesmartly-key-6543210").unwrap());
    let body = br#"{"event":"message","data":{"msg":"hi"}}"#;
    let query = t.sign(body, now).unwrap();
    let h = HeaderMap::new();
    let ok = s
        .verify_at(&Inbound::new(&h, body).with_query(query.as_str()), now)
        .unwrap();
    assert_eq!(ok.key_index(), Some(1));
}
