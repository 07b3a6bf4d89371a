//! Static shared-token header.

use chathooks::verify::{Token, Verifier};
use chathooks::{Error, Inbound};

use super::{at, bad_request, headers, unauthorized};

const VALUE: &str = "sa-token-0123456789abcdef";

#[test]
fn accepts_exact_values_and_rotation() {
    let v = Token::new("X-SaleAssist-Token", VALUE)
        .unwrap()
        .add_value("the-next-token-value-xyz")
        .unwrap();
    let h = headers(&[("x-saleassist-token", VALUE)]);
    let ok = v.verify_at(&Inbound::new(&h, b"{}"), at(0)).unwrap();
    assert_eq!(
        (ok.scheme(), ok.key_index(), ok.body()),
        ("token", Some(0), &b"{}"[..])
    );
    let h = headers(&[("X-SALEASSIST-TOKEN", "the-next-token-value-xyz")]);
    assert_eq!(
        v.verify_at(&Inbound::new(&h, b""), at(0))
            .unwrap()
            .key_index(),
        Some(1)
    );
}

#[test]
fn near_misses_fail() {
    let v = Token::new("X-Token", VALUE).unwrap();
    let upper = VALUE.to_uppercase();
    let longer = format!("{VALUE}x");
    let spaced = format!(" {VALUE}");
    for bad in ["", "x", &VALUE[..VALUE.len() - 1], &upper, &longer, &spaced] {
        let h = headers(&[("X-Token", bad)]);
        assert!(
            matches!(
                unauthorized(v.verify_at(&Inbound::new(&h, b""), at(0))),
                Error::TokenMismatch(_)
            ),
            "{bad:?}"
        );
    }
    match bad_request(v.verify_at(&Inbound::new(&headers(&[("X-Other", VALUE)]), b""), at(0))) {
        Error::MissingHeader(n) => assert_eq!(n, "X-Token"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn bad_configuration_is_rejected() {
    assert!(matches!(
        Token::new("X-Token", "short"),
        Err(Error::InvalidSecret(_))
    ));
    assert!(matches!(
        Token::new("X-Token", ""),
        Err(Error::InvalidSecret(_))
    ));
    assert!(matches!(
        Token::new("bad name", VALUE),
        Err(Error::Config(_))
    ));
    let mut t = Token::new("X-Token", VALUE).unwrap();
    for i in 1..16 {
        t = t.add_value(&format!("{VALUE}-{i}")).unwrap();
    }
    assert!(matches!(t.add_value(VALUE), Err(Error::Config(_))));
}

/// Every value of a repeated header counts (a proxy may add its own copy before the sender's);
/// more than eight copies is a malformed request, not a reason to hash without bound.
#[test]
fn every_value_of_the_header_is_checked() {
    let v = Token::new("X-Token", VALUE).unwrap();
    for pairs in [
        &[("X-Token", "added-by-a-proxy-0123"), ("X-Token", VALUE)][..],
        &[("X-Token", VALUE), ("X-Token", "added-by-a-proxy-0123")][..],
    ] {
        let h = headers(pairs);
        let ok = v.verify_at(&Inbound::new(&h, b""), at(0)).unwrap();
        assert_eq!(ok.key_index(), Some(0), "{pairs:?}");
    }
    let h = headers(&[
        ("X-Token", "wrong-one-0123456789"),
        ("X-Token", "wrong-two"),
    ]);
    assert!(matches!(
        unauthorized(v.verify_at(&Inbound::new(&h, b""), at(0))),
        Error::TokenMismatch(_)
    ));
    let many: Vec<(&str, &str)> = (0..9)
        .map(|_| ("X-Token", "x"))
        .chain([("X-Token", VALUE)])
        .collect();
    assert!(matches!(
        bad_request(v.verify_at(&Inbound::new(&headers(&many), b""), at(0))),
        Error::InvalidHeader { .. }
    ));
}
