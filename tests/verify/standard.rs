//! Standard Webhooks v1 (and v1a with the `ed25519` feature).

use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::{Error, Inbound};

use super::{at, bad_request, headers, unauthorized};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TS: u64 = 1649367553;
const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn check(sig: &str) -> Result<(), Error> {
    check_with(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &TS.to_string()),
        ("webhook-signature", sig),
    ])
}

fn check_with(pairs: &[(&str, &str)]) -> Result<(), Error> {
    let v = StandardWebhooks::new(SECRET).unwrap();
    let h = headers(pairs);
    v.verify_at(&Inbound::new(&h, BODY), at(TS)).map(|_| ())
}

#[test]
fn spec_vector_signs_and_verifies() {
    let v = StandardWebhooks::new(SECRET).unwrap();
    assert_eq!(v.sign(ID, at(TS), BODY), SIG);
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SIG),
    ]);
    let ok = v.verify_at(&Inbound::new(&h, BODY), at(TS)).unwrap();
    assert_eq!(ok.scheme(), "standard-v1");
    assert_eq!(ok.signed_delivery_id(), Some(ID));
    assert_eq!(ok.unsigned_delivery_id(), None);
    assert_eq!(ok.timestamp(), Some(at(TS)));
    assert_eq!(ok.key_index(), Some(0));
    assert_eq!(ok.body(), BODY);
}

#[test]
fn svix_header_names_are_accepted() {
    check_with(&[
        ("svix-id", ID),
        ("svix-timestamp", "1649367553"),
        ("svix-signature", SIG),
    ])
    .unwrap();
}

/// A header holding no `v1,` entry of exactly 32 bytes of base64 cannot be authentic under any
/// key: 400 (the format is wrong), before any MAC. A well-formed entry that does not match: 401.
#[test]
fn degenerate_signatures_fail() {
    let full = SIG.strip_prefix("v1,").unwrap();
    for bad in [
        "v1,".to_string(),
        String::new(),
        " ".to_string(),
        format!("v1,{}", &full[..8]),
        format!("v1,{}", &full[..full.len() - 2]),
        format!("v1,{full}AAAA"),
        format!("v1,{full}A"),
        format!("v1,{}", "!".repeat(44)),
        format!("v1,{}", hex::encode([0u8; 32])),
        format!("v2,{full}"),
        format!("v1a,{full}"),
        format!("V1,{full}"),
        format!("v1;{full}"),
        full.to_string(),
        format!("v2,{full} v1,{}", &full[..8]),
    ] {
        match bad_request(check(&bad)) {
            Error::InvalidHeader { name, reason } => {
                assert_eq!(name, "webhook-signature", "{bad:?}");
                assert!(reason.contains("32-byte"), "{bad:?}: {reason}");
            }
            e => panic!("{bad:?}: {e:?}"),
        }
    }
    // Well-formed but wrong: 401, also next to malformed or unknown entries.
    let wrong = format!("v1,{}", "A".repeat(43));
    for bad in [
        wrong.clone(),
        format!("v1,garbage {wrong}"),
        format!("v2,{full} {wrong}"),
    ] {
        let e = unauthorized(check(&bad));
        assert!(matches!(e, Error::SignatureMismatch(_)), "{bad:?}: {e:?}");
    }
}

/// Format before authenticity: a malformed signature on a stale delivery is a 400, a
/// well-formed one a 401 (stale).
#[test]
fn malformed_signature_is_reported_before_the_tolerance() {
    let v = StandardWebhooks::new(SECRET).unwrap();
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &TS.to_string()),
        ("webhook-signature", "v1,short"),
    ]);
    let late = at(TS + 3600);
    assert!(matches!(
        bad_request(v.verify_at(&Inbound::new(&h, BODY), late)),
        Error::InvalidHeader { .. }
    ));
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &TS.to_string()),
        ("webhook-signature", SIG),
    ]);
    assert!(matches!(
        unauthorized(v.verify_at(&Inbound::new(&h, BODY), late)),
        Error::TimestampTooOld { .. }
    ));
}

#[test]
fn unknown_versions_are_ignored_and_rotation_lists_work() {
    check(&format!("v2,whatever v1a,AAAA v1,{} {SIG}", "A".repeat(43))).unwrap();
    check(&format!("{SIG} v1,")).unwrap();
    // Second secret matches: key_index says so.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let v = StandardWebhooks::new(other)
        .unwrap()
        .add_secret(SECRET)
        .unwrap();
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SIG),
    ]);
    assert_eq!(
        v.verify_at(&Inbound::new(&h, BODY), at(TS))
            .unwrap()
            .key_index(),
        Some(1)
    );
    // Signing with both secrets produces two entries, each verifiable alone.
    let both = v.sign(ID, at(TS), BODY);
    assert_eq!(both.split(' ').count(), 2);
    assert!(both.ends_with(SIG));
}

#[test]
fn hostile_timestamps_are_clear_400s() {
    for ts in [
        i64::MIN.to_string(),
        u64::MAX.to_string(),
        "-1".into(),
        "abc".into(),
        "1649367553.0".into(),
        "1649367553000".into(),
        "".into(),
        "1e9".into(),
        "99999999999999999999999999999999".into(),
    ] {
        let e = bad_request(check_with(&[
            ("webhook-id", ID),
            ("webhook-timestamp", &ts),
            ("webhook-signature", SIG),
        ]));
        assert!(matches!(e, Error::InvalidTimestamp { .. }), "{ts:?}: {e:?}");
    }
}

#[test]
fn tolerance_is_checked_both_ways() {
    let v = StandardWebhooks::new(SECRET).unwrap();
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SIG),
    ]);
    let i = Inbound::new(&h, BODY);
    assert!(v.verify_at(&i, at(TS + 300)).is_ok());
    assert!(v.verify_at(&i, at(TS - 300)).is_ok());
    assert!(matches!(
        unauthorized(v.verify_at(&i, at(TS + 301))),
        Error::TimestampTooOld { age_secs: 301, .. }
    ));
    assert!(matches!(
        unauthorized(v.verify_at(&i, at(TS - 301))),
        Error::TimestampInFuture {
            ahead_secs: 301,
            ..
        }
    ));
    let wide = v.tolerance(std::time::Duration::from_secs(3600));
    assert!(wide.verify_at(&i, at(TS + 3600)).is_ok());
}

#[test]
fn each_missing_header_is_named() {
    let ts = TS.to_string();
    let all = [
        ("webhook-id", ID),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", SIG),
    ];
    for skip in 0..3 {
        let pairs: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect();
        match bad_request(check_with(&pairs)) {
            Error::MissingHeader(name) => assert_eq!(name, all[skip].0),
            e => panic!("{e:?}"),
        }
    }
    // Present but unusable.
    assert!(matches!(
        bad_request(check_with(&[
            ("webhook-id", ""),
            ("webhook-timestamp", &ts),
            ("webhook-signature", SIG)
        ])),
        Error::InvalidHeader { .. }
    ));
    let long = "a".repeat(300);
    assert!(matches!(
        bad_request(check_with(&[
            ("webhook-id", &long),
            ("webhook-timestamp", &ts),
            ("webhook-signature", SIG)
        ])),
        Error::InvalidHeader { .. }
    ));
}

#[test]
fn tampering_fails() {
    let v = StandardWebhooks::new(SECRET).unwrap();
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SIG),
    ]);
    assert!(matches!(
        unauthorized(v.verify_at(&Inbound::new(&h, b"{}"), at(TS))),
        Error::SignatureMismatch(_)
    ));
    let h = headers(&[
        ("webhook-id", "msg_other"),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SIG),
    ]);
    unauthorized(v.verify_at(&Inbound::new(&h, BODY), at(TS)));
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", "1649367554"),
        ("webhook-signature", SIG),
    ]);
    unauthorized(v.verify_at(&Inbound::new(&h, BODY), at(TS)));
}

#[cfg(feature = "ed25519")]
mod v1a {
    use chathooks::verify::{StandardWebhooks, StandardWebhooksSigner, Verifier};
    use chathooks::{Error, Inbound};

    use super::super::{at, bad_request, headers, unauthorized};

    // svix-server `test_asymmetric_key_signing` (anchors-signing.md §1.3); the same value is the
    // spec's example `v1a` signature.
    const KEYPAIR: &str = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";

    fn h(sig: &str) -> http::HeaderMap {
        headers(&[
            ("webhook-id", ID),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", sig),
        ])
    }

    #[test]
    fn svix_vector_signs_and_verifies() {
        let signer = StandardWebhooksSigner::new(KEYPAIR).unwrap();
        assert_eq!(signer.sign(ID, at(TS), BODY), SIG);
        // The 32-byte seed alone is the same key.
        let seed = &chathooks_b64(KEYPAIR.strip_prefix("whsk_").unwrap())[..32];
        let from_seed = StandardWebhooksSigner::new(&format!("whsk_{}", b64(seed))).unwrap();
        assert_eq!(from_seed.sign(ID, at(TS), BODY), SIG);
        assert_eq!(from_seed.public_key(), signer.public_key());

        let v = StandardWebhooks::with_public_key(&signer.public_key()).unwrap();
        let hs = h(SIG);
        let ok = v.verify_at(&Inbound::new(&hs, BODY), at(TS)).unwrap();
        assert_eq!(ok.scheme(), "standard-v1a");
        assert_eq!(ok.key_index(), Some(0));
        // Mixed header as in the spec's example; key_index counts secrets first.
        let mixed = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
            .unwrap()
            .add_public_key(&signer.public_key())
            .unwrap();
        let header = format!("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= {SIG}");
        assert_eq!(
            mixed
                .verify_at(&Inbound::new(&h(&header), BODY), at(TS))
                .unwrap()
                .key_index(),
            Some(1)
        );
    }

    #[test]
    fn v1a_tampering_and_garbage_fail() {
        let signer = StandardWebhooksSigner::new(KEYPAIR).unwrap();
        let v = StandardWebhooks::with_public_key(&signer.public_key()).unwrap();
        let full = SIG.strip_prefix("v1a,").unwrap();
        // Nothing a public-key-only verifier can check: 400.
        for bad in [
            "v1a,".to_string(),
            format!("v1a,{}", &full[..20]),
            format!("v1a,{full}AAAA"),
            format!("v1,{full}"),
            format!("v1a,{}", "A".repeat(88)),
            format!("v1a,{}", "/".repeat(86)),
        ] {
            assert!(
                matches!(
                    bad_request(v.verify_at(&Inbound::new(&h(&bad), BODY), at(TS))),
                    Error::InvalidHeader { .. }
                ),
                "{bad}"
            );
        }
        // 64 bytes of base64 that do not verify: 401.
        for bad in [
            format!("v1a,{}", b64(&[7u8; 64])),
            format!("v1a,{} v1,{}", b64(&[0u8; 64]), &full[..10]),
        ] {
            assert!(
                matches!(
                    unauthorized(v.verify_at(&Inbound::new(&h(&bad), BODY), at(TS))),
                    Error::SignatureMismatch(_)
                ),
                "{bad}"
            );
        }
        unauthorized(v.verify_at(&Inbound::new(&h(SIG), b"{\"test\": 2432232315}"), at(TS)));
        // Another key does not verify it.
        let other = StandardWebhooksSigner::new(&format!("whsk_{}", b64(&[7u8; 32]))).unwrap();
        let v = StandardWebhooks::with_public_key(&other.public_key()).unwrap();
        unauthorized(v.verify_at(&Inbound::new(&h(SIG), BODY), at(TS)));
    }

    /// Issue 13 finding 2: each `v1a` check hashes the whole body, so an unauthenticated
    /// header full of well-formed bogus entries may cost at most two Ed25519 checks per
    /// configured key (not entries × keys).
    #[test]
    fn v1a_checks_are_capped_at_two_per_key() {
        let signer = StandardWebhooksSigner::new(KEYPAIR).unwrap();
        let v = StandardWebhooks::with_public_key(&signer.public_key()).unwrap();
        // Well-formed and bogus: the real R (a valid point of large order), another s.
        let mut bytes = chathooks_b64(SIG.strip_prefix("v1a,").unwrap());
        bytes[32] ^= 1;
        let decoy = format!("v1a,{}", b64(&bytes));
        let within = format!("{decoy} {SIG}");
        assert!(v
            .verify_at(&Inbound::new(&h(&within), BODY), at(TS))
            .is_ok());
        let beyond = format!("{decoy} {decoy} {SIG}");
        unauthorized(v.verify_at(&Inbound::new(&h(&beyond), BODY), at(TS)));
        // Rotation on both sides still verifies: two entries, two keys, the match last.
        let other = StandardWebhooksSigner::new(&format!("whsk_{}", b64(&[7u8; 32]))).unwrap();
        let third = StandardWebhooksSigner::new(&format!("whsk_{}", b64(&[9u8; 32]))).unwrap();
        let two = StandardWebhooks::with_public_key(&third.public_key())
            .unwrap()
            .add_public_key(&signer.public_key())
            .unwrap();
        let header = format!("{} {SIG}", other.sign(ID, at(TS), BODY));
        assert_eq!(
            two.verify_at(&Inbound::new(&h(&header), BODY), at(TS))
                .unwrap()
                .key_index(),
            Some(1)
        );
    }

    #[test]
    fn bad_keys_are_config_errors() {
        let long_pk = format!("whpk_{}", b64(&[0u8; 33]));
        for bad in ["whpk_", "whpk_!!", "whpk_AAAA", &long_pk] {
            assert!(
                matches!(
                    StandardWebhooks::with_public_key(bad),
                    Err(Error::InvalidSecret(_))
                ),
                "{bad}"
            );
        }
        let odd_sk = format!("whsk_{}", b64(&[1u8; 48]));
        for bad in ["whsk_", "whsk_AAAA", &odd_sk] {
            assert!(
                matches!(
                    StandardWebhooksSigner::new(bad),
                    Err(Error::InvalidSecret(_))
                ),
                "{bad}"
            );
        }
        // A keypair whose public half is not its seed's.
        let mut pair = chathooks_b64(KEYPAIR.strip_prefix("whsk_").unwrap());
        pair[40] ^= 1;
        assert!(StandardWebhooksSigner::new(&b64(&pair)).is_err());
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn chathooks_b64(text: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }
}

/// Interoperability with the reference implementation (the `standardwebhooks` crate, by the
/// spec's authors), both ways, on a 5 KB body and on bodies with every byte value that is valid
/// UTF-8 (the reference signs `str`s). It reads the system clock, so both sign for "now".
#[test]
fn reference_standardwebhooks_crate_accepts_our_signatures_and_we_accept_its() {
    let ours = StandardWebhooks::new(SECRET).unwrap();
    let theirs = standardwebhooks::Webhook::new(SECRET).unwrap();
    let now = std::time::SystemTime::now();
    let ts = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let unit = r#"{"type":"message.created","data":{"text":"h\u00e9llo ☃","n":12345}},"#.as_bytes();
    // Whole units only: the reference signs `str`s, so the body must stay UTF-8.
    let big: Vec<u8> = unit.repeat(5 * 1024 / unit.len() + 1);
    for body in [&big[..], BODY, b"", "ünïcødé ✓".as_bytes()] {
        let sig = ours.sign(ID, now, body);
        let h = headers(&[
            ("webhook-id", ID),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", &sig),
        ]);
        theirs
            .verify(body, &h)
            .unwrap_or_else(|e| panic!("reference rejects our signature: {e:?}"));
        let reference = theirs.sign(ID, ts as i64, body).unwrap();
        assert_eq!(reference, sig, "same bytes, same signature");
        let h = headers(&[
            ("webhook-id", ID),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", &reference),
        ]);
        ours.verify_at(&Inbound::new(&h, body), now).unwrap();
    }
    // And the reference refuses a tampered body signed by us, so the check above can fail.
    let sig = ours.sign(ID, now, BODY);
    let h = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", &sig),
    ]);
    assert!(theirs.verify(b"{\"tampered\":true}", &h).is_err());
}
