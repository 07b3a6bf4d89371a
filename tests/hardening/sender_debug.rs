//! Finding 5: a `sender::Signature` never shows a token or a signature in `Debug`, and marks
//! those header values sensitive.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::Vendor;
use chathooks::sender::{Sign, Signing};

const RAW: &str = "a-long-enough-shared-secret";

#[test]
fn signature_debug_redacts_tokens_and_signatures() {
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = br#"{"event":"message","data":{}}"#;
    let mut checked = 0;
    for vendor in [
        Vendor::SaleAssist,
        Vendor::Sam,
        Vendor::Buzzi,
        Vendor::ConversaLabs,
        Vendor::SaleSmartly,
    ] {
        let signing = Signing::for_vendor(vendor, &[RAW]).unwrap();
        let sig = signing.sign("dlv_1", at, body).unwrap();
        let dbg = format!("{sig:?}");
        let mut credentials: Vec<String> = sig
            .headers
            .iter()
            .filter(|(k, _)| !k.as_str().contains("timestamp") && !k.as_str().contains("delivery"))
            .map(|(k, v)| {
                assert!(v.is_sensitive(), "{vendor}: {k} not marked sensitive");
                v.to_str().unwrap().to_owned()
            })
            .collect();
        credentials.extend(
            sig.query
                .iter()
                .filter(|(k, _)| k == "signature")
                .map(|(_, v)| v.clone()),
        );
        assert!(!credentials.is_empty(), "{vendor}: nothing to check");
        for c in &credentials {
            assert!(!dbg.contains(c.as_str()), "{vendor}: {c:?} in {dbg}");
        }
        assert!(!dbg.contains(RAW), "{vendor}: token in {dbg}");
        assert!(dbg.contains("[redacted]"), "{dbg}");
        // What is not a credential stays readable.
        if vendor == Vendor::ConversaLabs {
            assert!(dbg.contains("dlv_1"), "{dbg}");
            assert!(dbg.contains("1700000000"), "{dbg}");
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}
