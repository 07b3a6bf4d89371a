//! Configurable HMAC-SHA256 and its presets.

use std::time::Duration;

use chathooks::verify::{HmacSha256, SignatureEncoding, SignedContent, Verifier};
use chathooks::{Error, Inbound, Secret};

use super::{at, bad_request, headers, unauthorized};

fn secret(s: &str) -> Secret {
    Secret::raw(s).unwrap()
}

/// GitHub's documented example (validating-webhook-deliveries).
#[test]
fn github_documented_vector() {
    let v = HmacSha256::github(secret("It's a Secret to Everybody"));
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let h = headers(&[
        ("X-Hub-Signature-256", sig),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    let ok = v
        .verify_at(&Inbound::new(&h, b"Hello, World!"), at(0))
        .unwrap();
    assert_eq!(ok.scheme(), "github");
    assert_eq!(
        ok.unsigned_delivery_id(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(
        ok.signed_delivery_id(),
        None,
        "X-GitHub-Delivery is not signed"
    );
    assert_eq!(ok.timestamp(), None);
    assert_eq!(v.signature(at(0), b"Hello, World!"), sig);
    // Uppercase hex is the same signature.
    let upper = format!("sha256={}", sig[7..].to_uppercase());
    let h = headers(&[("X-Hub-Signature-256", &upper)]);
    assert_eq!(
        v.verify_at(&Inbound::new(&h, b"Hello, World!"), at(0))
            .unwrap()
            .unsigned_delivery_id(),
        None
    );
    // The prefix is required for GitHub; legacy sha1= entries are ignored. A header with no
    // entry that could be a signature is malformed: 400, naming the header.
    for bad in [
        &sig[7..],
        "sha1=0123",
        "sha256=",
        "sha256",
        "",
        "sha256=abc",
    ] {
        let h = headers(&[("X-Hub-Signature-256", bad)]);
        match bad_request(v.verify_at(&Inbound::new(&h, b"Hello, World!"), at(0))) {
            Error::InvalidHeader { name, reason } => {
                assert_eq!(name, "X-Hub-Signature-256");
                assert!(reason.contains("prefix"), "{reason}");
            }
            e => panic!("{bad}: {e:?}"),
        }
    }
    // Well-formed and wrong: 401.
    let wrong = format!("sha256={}", "0".repeat(64));
    for bad in [wrong.as_str(), &format!("sha1=0123,{wrong}")] {
        let h = headers(&[("X-Hub-Signature-256", bad)]);
        assert!(
            matches!(
                unauthorized(v.verify_at(&Inbound::new(&h, b"Hello, World!"), at(0))),
                Error::SignatureMismatch(_)
            ),
            "{bad}"
        );
    }
    unauthorized(v.verify_at(
        &Inbound::new(&headers(&[("X-Hub-Signature-256", sig)]), b"Hello, World?"),
        at(0),
    ));
    // Missing signature header: 400 naming it.
    match bad_request(v.verify_at(&Inbound::new(&headers(&[]), b""), at(0))) {
        Error::MissingHeader(n) => assert_eq!(n, "X-Hub-Signature-256"),
        e => panic!("{e:?}"),
    }
    // A delivery id that cannot be a dedupe key.
    let long = "d".repeat(257);
    let h = headers(&[("X-Hub-Signature-256", sig), ("X-GitHub-Delivery", &long)]);
    assert!(matches!(
        bad_request(v.verify_at(&Inbound::new(&h, b"Hello, World!"), at(0))),
        Error::InvalidHeader { .. }
    ));
}

/// Slack's published example ("Verifying requests from Slack": the `/webhook-collect` slash
/// command, secret `8f742231b10e8888abcd99yyyzzz85a5`, timestamp 1531420618), byte for byte.
#[test]
fn slack_documented_vector() {
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    let v = HmacSha256::slack(secret("8f742231b10e8888abcd99yyyzzz85a5"));
    let h = headers(&[
        ("X-Slack-Signature", SIG),
        ("X-Slack-Request-Timestamp", "1531420618"),
    ]);
    let ok = v
        .verify_at(&Inbound::new(&h, BODY), at(1531420618))
        .unwrap();
    assert_eq!(ok.scheme(), "slack-v0");
    assert_eq!(ok.timestamp(), Some(at(1531420618)));
    assert_eq!(v.sign(at(1531420618), BODY), h);
    // One byte of the body changed: no match.
    let mut tampered = BODY.to_vec();
    tampered[6] ^= 1;
    assert!(matches!(
        unauthorized(v.verify_at(&Inbound::new(&h, &tampered), at(1531420618))),
        Error::SignatureMismatch(_)
    ));
}

/// Expected values cross-checked with Python's `hmac` module.
#[test]
fn slack_v0_layout() {
    let v = HmacSha256::slack(secret("8f742231b10e8888abcd99yyyzzz85a5"));
    let body = b"token=abc&text=hi";
    let sig = "v0=2f91acd988f5856896084cb880b2cec71e40f294561294161ef4318d521be91d";
    let h = headers(&[
        ("X-Slack-Signature", sig),
        ("X-Slack-Request-Timestamp", "1531420618"),
    ]);
    let ok = v
        .verify_at(&Inbound::new(&h, body), at(1531420618 + 60))
        .unwrap();
    assert_eq!(ok.timestamp(), Some(at(1531420618)));
    assert_eq!(v.sign(at(1531420618), body), h);
    // Stale, future, missing and hostile timestamps.
    assert!(matches!(
        unauthorized(v.verify_at(&Inbound::new(&h, body), at(1531420618 + 301))),
        Error::TimestampTooOld { .. }
    ));
    assert!(matches!(
        unauthorized(v.verify_at(&Inbound::new(&h, body), at(1531420618 - 301))),
        Error::TimestampInFuture { .. }
    ));
    match bad_request(v.verify_at(
        &Inbound::new(&headers(&[("X-Slack-Signature", sig)]), body),
        at(0),
    )) {
        Error::MissingHeader(n) => assert_eq!(n, "X-Slack-Request-Timestamp"),
        e => panic!("{e:?}"),
    }
    for ts in [
        i64::MIN.to_string(),
        u64::MAX.to_string(),
        "-1".into(),
        "12a".into(),
        "1531420618000".into(),
    ] {
        let h = headers(&[
            ("X-Slack-Signature", sig),
            ("X-Slack-Request-Timestamp", &ts),
        ]);
        assert!(
            matches!(
                bad_request(v.verify_at(&Inbound::new(&h, body), at(1531420618))),
                Error::InvalidTimestamp { .. }
            ),
            "{ts}"
        );
    }
}

#[test]
fn stripe_header_layout() {
    let old = secret("whsec_old_secret_for_stripe_12345");
    let new = secret("whsec_test_secret_for_stripe_1234");
    let body = br#"{"id":"evt_1"}"#;
    let good = "c56f89526a296bd340388487880df8d6df6a69068c445cd52b53549064df4b0e";
    let v = HmacSha256::stripe(old).add_secret(new);
    let ok_header = |h: &str| {
        let hm = headers(&[("Stripe-Signature", h)]);
        v.verify_at(&Inbound::new(&hm, body), at(1_700_000_000))
            .map(|ok| ok.key_index())
    };
    // Test-mode v0 and unknown entries are ignored; several v1 (rotation) are all tried.
    assert_eq!(
        ok_header(&format!(
            "t=1700000000,v1={},v0={good},v1={good}",
            "0".repeat(64)
        ))
        .unwrap(),
        Some(1)
    );
    assert_eq!(
        ok_header(&format!("t=1700000000, v1={good}")).unwrap(),
        Some(1)
    );
    // A v0 alone does not pass (no downgrade): nothing to check is a malformed header.
    bad_request(ok_header(&format!("t=1700000000,v0={good}")));
    unauthorized(ok_header(&format!("t=1700000001,v1={good}")));
    bad_request(ok_header("t=1700000000"));
    bad_request(ok_header("t=1700000000,v1=abc"));
    assert!(matches!(
        bad_request(ok_header(&format!("v1={good}"))),
        Error::InvalidHeader { .. }
    ));
    assert!(matches!(
        bad_request(ok_header(&format!("t=1,t=1700000000,v1={good}"))),
        Error::InvalidHeader { .. }
    ));
    assert!(matches!(
        bad_request(ok_header(&format!("t=-1,v1={good}"))),
        Error::InvalidTimestamp { .. }
    ));
    assert!(matches!(
        bad_request(ok_header(&format!("t={},v1={good}", u64::MAX))),
        Error::InvalidTimestamp { .. }
    ));
    // Signing writes t= once and one v1 per secret.
    let signed = v.signature(at(1_700_000_000), body);
    assert!(signed.starts_with("t=1700000000,v1="));
    assert!(signed.ends_with(good));
    assert_eq!(ok_header(&signed).unwrap(), Some(0));
}

#[test]
fn sam_accepts_hex_or_base64_with_or_without_prefix() {
    let v = HmacSha256::sam(secret("sam-secret-0123456789"));
    let body = br#"{"event":"lead.captured"}"#;
    let hex = "acf19921d76ac6ba0ef672c0189f52b0e49a6d571b44bde42d09707b04b20a61";
    let b64 = "rPGZIddqxroO9nLAGJ9SsOSabVcbRL3kLQlwewSyCmE=";
    for sig in [
        hex.to_string(),
        format!("sha256={hex}"),
        b64.into(),
        b64.trim_end_matches('=').into(),
        format!("sha256={b64}"),
    ] {
        let h = headers(&[("X-Sam-Signature", &sig)]);
        assert_eq!(
            v.verify_at(&Inbound::new(&h, body), at(0))
                .unwrap()
                .scheme(),
            "sam",
            "{sig}"
        );
    }
    for sig in [&hex[..63], &b64[..40], "sha256=", "md5=abc"] {
        let h = headers(&[("X-Sam-Signature", sig)]);
        bad_request(v.verify_at(&Inbound::new(&h, body), at(0)));
    }
    let h = headers(&[("X-Sam-Signature", &"0".repeat(64))]);
    unauthorized(v.verify_at(&Inbound::new(&h, body), at(0)));
    // Buzzi: same inference, its own header.
    let b = HmacSha256::buzzi(secret("sam-secret-0123456789"));
    let h = headers(&[("X-Webhook-Signature", b64)]);
    assert_eq!(
        b.verify_at(&Inbound::new(&h, body), at(0))
            .unwrap()
            .scheme(),
        "buzzi"
    );
}

#[test]
fn conversalabs_inferred_chatwoot_layout() {
    let v = HmacSha256::conversalabs(secret("chatwoot-secret-0123456789"));
    let body = br#"{"event":"message_created"}"#;
    let sig = "sha256=e59725c1a08a6c1c1c1399910e46231b290af4c5d201299aab5967e21ecfd750";
    let h = headers(&[
        ("X-Chatwoot-Signature", sig),
        ("X-Chatwoot-Timestamp", "1700000000"),
        ("X-Chatwoot-Delivery", "d-1"),
    ]);
    let ok = v
        .verify_at(&Inbound::new(&h, body), at(1_700_000_000))
        .unwrap();
    assert_eq!(
        (
            ok.unsigned_delivery_id(),
            ok.signed_delivery_id(),
            ok.scheme()
        ),
        (Some("d-1"), None, "conversalabs")
    );
    // Reconfigured header names.
    let renamed = v
        .into_builder()
        .signature_header("X-CL-Signature")
        .signed_content(SignedContent::timestamp_dot_body("X-CL-Timestamp"))
        .build()
        .unwrap();
    let h2 = renamed.sign(at(1_700_000_000), body);
    assert_eq!(h2.get("x-cl-signature").unwrap(), sig);
    assert_eq!(h2.get("x-cl-timestamp").unwrap(), "1700000000");
    assert!(renamed
        .verify_at(&Inbound::new(&h2, body), at(1_700_000_000))
        .is_ok());
}

#[test]
fn several_signatures_per_header_and_rotation() {
    let a = secret("first-secret-abcdefgh");
    let b = secret("second-secret-abcdefg");
    let v = HmacSha256::builder("X-Sig")
        .secret(a)
        .secret(b.clone())
        .encoding(SignatureEncoding::Base64)
        .build()
        .unwrap();
    let only_b = HmacSha256::builder("X-Sig")
        .secret(b)
        .encoding(SignatureEncoding::Base64)
        .build()
        .unwrap();
    let sig_b = only_b.signature(at(0), b"x");
    for header in [
        format!("junk, {sig_b}"),
        format!("{sig_b} junk"),
        format!("a,b,,  {sig_b}"),
    ] {
        let h = headers(&[("X-Sig", &header)]);
        assert_eq!(
            v.verify_at(&Inbound::new(&h, b"x"), at(0))
                .unwrap()
                .key_index(),
            Some(1),
            "{header}"
        );
    }
    // Header length bound.
    let h = headers(&[("X-Sig", &format!("{} {sig_b}", "A".repeat(9000)))]);
    assert!(matches!(
        bad_request(v.verify_at(&Inbound::new(&h, b"x"), at(0))),
        Error::InvalidHeader { .. }
    ));
}

#[test]
fn builder_rejects_bad_settings() {
    assert!(matches!(
        HmacSha256::builder("X-Sig").build(),
        Err(Error::InvalidSecret(_))
    ));
    assert!(matches!(
        HmacSha256::builder("bad header")
            .secret(secret("0123456789abcdef"))
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        HmacSha256::builder("X-Sig")
            .secret(secret("0123456789abcdef"))
            .signed_content(SignedContent::slack_v0("no\nway"))
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        HmacSha256::builder("X-Sig")
            .secret(secret("0123456789abcdef"))
            .prefix("")
            .build(),
        Err(Error::Config(_))
    ));
    // Non-ASCII signature header: 400.
    let v = HmacSha256::builder("X-Sig")
        .secret(secret("0123456789abcdef"))
        .tolerance(Duration::MAX)
        .build()
        .unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("x-sig", http::HeaderValue::from_bytes(b"\xff\xfe").unwrap());
    assert!(matches!(
        bad_request(v.verify_at(&Inbound::new(&h, b""), at(0))),
        Error::InvalidHeader { .. }
    ));
}
