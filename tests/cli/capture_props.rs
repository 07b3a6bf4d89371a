//! The capture parser never panics, whatever the bytes, and what it accepts round-trips.

use chathooks::cli::capture::Capture;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Capture::parse(&bytes);
    }

    #[test]
    fn http_like_bytes_never_panic(
        head in "(POST|GET|PUT) /[a-z?=&%]{0,12} HTTP/1\\.[01]",
        headers in proptest::collection::vec("[A-Za-z-]{1,12}: [ -~]{0,20}", 0..6),
        sep in prop_oneof![Just("\r\n"), Just("\n")],
        chunked in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut text = format!("{head}{sep}");
        for h in &headers {
            text.push_str(h);
            text.push_str(sep);
        }
        if chunked {
            text.push_str("Transfer-Encoding: chunked");
            text.push_str(sep);
        }
        text.push_str(sep);
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&body);
        if let Ok(c) = Capture::parse(&bytes) {
            // What parses survives both writers.
            let again = Capture::parse(&c.to_http()).expect("to_http re-parses");
            prop_assert_eq!(&again.body, &c.body);
            let json = Capture::parse(c.to_json().to_string().as_bytes()).expect("to_json re-parses");
            prop_assert_eq!(json, c);
        }
    }

    #[test]
    fn json_captures_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..128),
        value in "[ -~]{0,30}",
        query in proptest::option::of("[a-z]=[0-9]{1,4}"),
    ) {
        let c = Capture {
            method: "POST".into(),
            path: "/x".into(),
            query,
            headers: vec![("x-sig".into(), value)],
            body,
            received_at: None,
        };
        let parsed = Capture::parse(c.to_json().to_string().as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &c);
        let raw = Capture::parse(&c.to_http()).unwrap();
        prop_assert_eq!(raw.body, c.body);
    }
}
