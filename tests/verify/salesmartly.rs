//! SaleSmartly MD5 query-string signature.

use std::time::Duration;

use chathooks::verify::{SaleSmartly, SaleSmartlyLayout, Verifier};
use chathooks::{Error, Inbound, Secret};

use super::{at, bad_request, unauthorized};

const SECRET: &str = "salesmartly-secret-01";
const BODY: &[u8] = br#"{"event":"message","data":{"msg":"hi", "n": 1}}"#;
// md5(secret&data={"msg":"hi", "n": 1}&event=message[&timestamp=1700000000]), computed with
// Python's hashlib over the exact bytes.
const WITHOUT_TS: &str = "b86babc957a6282f587c5fa3d77dd11f";
const WITH_TS: &str = "c863571aee8312e55a037ffc408bdc54";
const NOW: u64 = 1_700_000_000;

fn run(v: &SaleSmartly, query: &str, body: &[u8]) -> Result<Option<usize>, Error> {
    let h = http::HeaderMap::new();
    v.verify_at(&Inbound::new(&h, body).with_query(query), at(NOW))
        .map(|ok| ok.key_index())
}

#[test]
fn known_answers_for_both_layouts() {
    let v = SaleSmartly::new(SECRET).unwrap();
    assert_eq!(
        run(
            &v,
            &format!("timestamp=1700000000&signature={WITHOUT_TS}"),
            BODY
        )
        .unwrap(),
        Some(0)
    );
    assert_eq!(
        run(
            &v,
            &format!("signature={WITH_TS}&timestamp=1700000000"),
            BODY
        )
        .unwrap(),
        Some(0)
    );
    // Uppercase hex with a millisecond timestamp, untimestamped layout (nothing of the
    // timestamp is hashed; it is only range-checked).
    assert_eq!(
        run(
            &v,
            &format!(
                "timestamp=1700000000123&signature={}",
                WITHOUT_TS.to_uppercase()
            ),
            BODY
        )
        .unwrap(),
        Some(0)
    );
    // Timestamped layout with a millisecond timestamp: the ms text as received is hashed
    // (md5 of `…&event=message&timestamp=1700000000123`, computed with Python's hashlib), so
    // the seconds signature does not match it.
    let with_ms = "048ab85a204cc7a37d20b26e26a6eb64";
    let timestamped = SaleSmartly::new(SECRET)
        .unwrap()
        .layout(SaleSmartlyLayout::WithTimestamp);
    assert_eq!(
        run(
            &timestamped,
            &format!("timestamp=1700000000123&signature={with_ms}"),
            BODY
        )
        .unwrap(),
        Some(0)
    );
    assert!(run(
        &timestamped,
        &format!("timestamp=1700000000123&signature={WITH_TS}"),
        BODY
    )
    .is_err());
    // `data` as a JSON string: its decoded content is hashed (the vendor's example).
    let body = br#"{"event":"message","data":"123"}"#;
    assert_eq!(
        run(
            &v,
            "timestamp=1700000000&signature=d19f5ed13871be6ab66fb1e55c08b502",
            body
        )
        .unwrap(),
        Some(0)
    );

    let only_without = SaleSmartly::new(SECRET)
        .unwrap()
        .layout(SaleSmartlyLayout::WithoutTimestamp);
    unauthorized(run(
        &only_without,
        &format!("timestamp=1700000000&signature={WITH_TS}"),
        BODY,
    ));
    let only_with = SaleSmartly::new(SECRET)
        .unwrap()
        .layout(SaleSmartlyLayout::WithTimestamp);
    unauthorized(run(
        &only_with,
        &format!("timestamp=1700000000&signature={WITHOUT_TS}"),
        BODY,
    ));
    // With the timestamp hashed, another timestamp fails.
    unauthorized(run(
        &only_with,
        &format!("timestamp=1700000001&signature={WITH_TS}"),
        BODY,
    ));
}

#[test]
fn sign_produces_a_verifiable_query() {
    let v = SaleSmartly::new("another-secret-000")
        .unwrap()
        .add_secret(Secret::raw(SECRET).unwrap());
    let signer = SaleSmartly::new(SECRET).unwrap();
    let q = signer.sign(BODY, at(NOW)).unwrap();
    assert_eq!(q, format!("timestamp=1700000000&signature={WITH_TS}"));
    assert_eq!(run(&v, &q, BODY).unwrap(), Some(1));
    let q = signer
        .layout(SaleSmartlyLayout::WithoutTimestamp)
        .sign(BODY, at(NOW))
        .unwrap();
    assert_eq!(q, format!("timestamp=1700000000&signature={WITHOUT_TS}"));
    assert!(matches!(
        SaleSmartly::new(SECRET).unwrap().sign(b"[]", at(NOW)),
        Err(Error::SignatureMismatch(_))
    ));
}

#[test]
fn malformed_input_gets_the_right_status() {
    let v = SaleSmartly::new(SECRET).unwrap();
    let ok_sig = format!("signature={WITHOUT_TS}");
    match bad_request(run(&v, "timestamp=1700000000", BODY)) {
        Error::MissingQueryParam(n) => assert_eq!(n, "signature"),
        e => panic!("{e:?}"),
    }
    match bad_request(run(&v, &ok_sig, BODY)) {
        Error::MissingQueryParam(n) => assert_eq!(n, "timestamp"),
        e => panic!("{e:?}"),
    }
    let truncated = &WITHOUT_TS[..31];
    let long = format!("{WITHOUT_TS}0");
    for sig in [
        "",
        truncated,
        &long,
        "zz",
        &"g".repeat(32),
        &format!("{}==", &WITHOUT_TS[..30]),
    ] {
        let e = bad_request(run(
            &v,
            &format!("timestamp=1700000000&signature={sig}"),
            BODY,
        ));
        assert!(matches!(e, Error::InvalidQueryParam { .. }), "{sig}: {e:?}");
    }
    for ts in [
        i64::MIN.to_string(),
        "18446744073709551616".into(),
        "-1".into(),
        "17e8".into(),
        "".into(),
    ] {
        let e = bad_request(run(&v, &format!("timestamp={ts}&{ok_sig}"), BODY));
        assert!(matches!(e, Error::InvalidTimestamp { .. }), "{ts}: {e:?}");
    }
    assert!(matches!(
        unauthorized(run(&v, &format!("timestamp={}&{ok_sig}", NOW - 301), BODY)),
        Error::TimestampTooOld { .. }
    ));
    assert!(matches!(
        unauthorized(run(&v, &format!("timestamp={}&{ok_sig}", NOW + 301), BODY)),
        Error::TimestampInFuture { .. }
    ));
    // u64::MAX parses as milliseconds, far in the future.
    let e = unauthorized(run(&v, &format!("timestamp={}&{ok_sig}", u64::MAX), BODY));
    assert!(matches!(e, Error::TimestampInFuture { .. }), "{e:?}");
    let lax = SaleSmartly::new(SECRET).unwrap().tolerance(Duration::MAX);
    assert!(run(&lax, &format!("timestamp=1&{ok_sig}"), BODY).is_ok());
    // Bodies without the signed fields cannot match.
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        br#"{"event":"message"}"#,
        br#"{"data":{}}"#,
        b"\xff\xfe",
    ] {
        assert!(matches!(
            unauthorized(run(&v, &format!("timestamp=1700000000&{ok_sig}"), body)),
            Error::SignatureMismatch(_)
        ));
    }
    // Whitespace in `data` is hashed: a re-serialised body fails.
    unauthorized(run(
        &v,
        &format!("timestamp=1700000000&{ok_sig}"),
        br#"{"event":"message","data":{"msg":"hi","n":1}}"#,
    ));
}

/// Review finding: with the default `Either` layout, a signature made *with* the timestamp
/// equals one made *without* it for `event = "E&timestamp=T"`. Replaying a captured delivery
/// with that event name and a fresh timestamp must fail.
#[test]
fn timestamp_cannot_be_moved_into_the_event_name() {
    let v = SaleSmartly::new(SECRET).unwrap();
    // Captured at NOW, signed with the timestamp (WITH_TS).
    let replay = br#"{"event":"message&timestamp=1700000000","data":{"msg":"hi", "n": 1}}"#;
    let later = NOW + 86_400;
    let h = http::HeaderMap::new();
    let query = format!("timestamp={later}&signature={WITH_TS}");
    let got = v.verify_at(
        &Inbound::new(&h, replay).with_query(query.as_str()),
        at(later),
    );
    assert!(matches!(got, Err(Error::SignatureMismatch(_))), "{got:?}");
}
