//! Garbage in never panics; the SSRF guard judges embedded IPv4 like the IPv4 itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::Vendor;
use chathooks::sender::{is_public, parse_retry_after, samples, AddressPolicy};
use proptest::prelude::*;

proptest! {
    #[test]
    fn retry_after_never_panics(s in "\\PC{0,80}", now in 0u64..4_000_000_000) {
        let _ = parse_retry_after(&s, UNIX_EPOCH + Duration::from_secs(now));
    }

    #[test]
    fn retry_after_seconds_are_exact(n in 0u64..10_000_000) {
        prop_assert_eq!(parse_retry_after(&n.to_string(), UNIX_EPOCH), Some(Duration::from_secs(n)));
    }

    #[test]
    fn url_check_never_panics(s in "\\PC{0,120}") {
        let _ = AddressPolicy::default().check_url(&s);
        let _ = AddressPolicy::default().allow_http(true).allow_private_addresses(true).check_url(&s);
    }

    #[test]
    fn mapped_and_nat64_v4_are_judged_as_v4(a: u8, b: u8, c: u8, d: u8) {
        let v4 = Ipv4Addr::new(a, b, c, d);
        let public = is_public(IpAddr::V4(v4));
        prop_assert_eq!(is_public(IpAddr::V6(v4.to_ipv6_mapped())), public);
        let [o0, o1, o2, o3] = v4.octets();
        let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0,
            u16::from_be_bytes([o0, o1]), u16::from_be_bytes([o2, o3]));
        prop_assert_eq!(is_public(IpAddr::V6(nat64)), public);
        // A URL with the literal gets the same answer from the strict policy.
        let url = format!("https://{v4}/");
        prop_assert_eq!(AddressPolicy::default().check_url(&url).is_ok(), public);
    }

    #[test]
    fn samples_are_deterministic_json_for_any_seed(seed: u64) {
        for vendor in samples::VENDORS {
            for event in samples::events(vendor) {
                let a = samples::generate(vendor, event, seed).unwrap();
                prop_assert_eq!(&a.body, &samples::generate(vendor, event, seed).unwrap().body);
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&a.body).is_ok());
            }
        }
        prop_assert!(samples::generate(Vendor::Sam, "no.such.event", seed).is_err());
    }
}
