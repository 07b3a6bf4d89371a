//! `lenient::repair` on the SaleAssist documentation sample and on generated JSON.

use chathooks::lenient::{repair, FixKind, Repaired, WRAPPER_KEY};
use proptest::prelude::*;
use serde_json::Value;

const SALEASSIST_DOC_SAMPLE: &[u8] = include_bytes!("fixtures/saleassist/doc_sample_broken.json");

#[test]
fn saleassist_doc_sample_is_broken_then_repaired() {
    let strict = serde_json::from_slice::<Value>(SALEASSIST_DOC_SAMPLE).expect_err("broken");
    assert!(strict.is_syntax(), "{strict}");

    let Repaired { bytes, fixes, .. } = repair(SALEASSIST_DOC_SAMPLE).expect("repairable");
    assert_eq!(fixes.len(), 2, "{fixes:?}");

    // Q2: the wrapper goes right after the opening brace and closes where the body did.
    let wrapper = &fixes[0];
    assert_eq!(wrapper.offset, 1);
    let FixKind::InsertedWrapper { key, closed_at } = &wrapper.kind else {
        panic!("expected a wrapper first: {fixes:?}");
    };
    assert_eq!(key, WRAPPER_KEY);
    let after_close = &SALEASSIST_DOC_SAMPLE[*closed_at..];
    assert!(after_close.starts_with(b"},\n  \"headers\": {"));

    // Q1: the comma goes after `"IP ADDRESS"`, before `"id": "9d438aaa-…"`.
    let comma = &fixes[1];
    assert_eq!(comma.kind, FixKind::InsertedComma);
    assert!(SALEASSIST_DOC_SAMPLE[..comma.offset].ends_with(b"\"IP ADDRESS\""));
    let next = String::from_utf8_lossy(&SALEASSIST_DOC_SAMPLE[comma.offset..]);
    assert!(next
        .trim_start()
        .starts_with("\"id\": \"9d438aaa-1eaa-496a-a8b3-b4f98367bb0d\""));

    // Exactly the two insertions, nothing else changed.
    let wrapper_text = format!("\"{WRAPPER_KEY}\":{{");
    let mut expected = SALEASSIST_DOC_SAMPLE.to_vec();
    expected.insert(comma.offset, b',');
    expected.splice(1..1, wrapper_text.bytes());
    assert_eq!(bytes, expected);

    let value: Value = serde_json::from_slice(&bytes).expect("valid after repair");
    let keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3);
    for key in ["body", "headers", "queryString"] {
        assert!(keys.contains(&key), "{keys:?}");
    }
    let body = &value["body"];
    assert_eq!(body["event_type"], "widget_new_conversation");
    assert_eq!(body["metadata"], serde_json::json!({}));
    let lead = &body["payload"]["people_detail"];
    assert_eq!(lead["name"], "Prakash Mudhaliyar");
    assert_eq!(lead["mobile_number"], "+910987654321");
    assert_eq!(lead["email"], "prakashm@athenabpo.in");
    assert_eq!(lead["address"], "Thane");
    assert_eq!(lead["pincode"], "400615");
    assert_eq!(lead["utm_campaign"], "Test");
    assert_eq!(lead["otp_verified"], "Yes");
    assert_eq!(lead["widget_city"], "Faridabad");
    assert_eq!(lead["widget_latitude"], 28.4098);
    assert_eq!(lead["widget_longitude"], 77.31);
    assert_eq!(lead["id"], "9d438aaa-1eaa-496a-a8b3-b4f98367bb0d");
    assert_eq!(value["headers"]["user-agent"], "python-requests/2.31.0");
    assert_eq!(value["headers"]["cf-visitor"], "{\"scheme\":\"https\"}");
    assert_eq!(value["queryString"], serde_json::json!({}));

    // Repair is idempotent: the repaired document is valid and stays as it is.
    let again = repair(&bytes).expect("valid");
    assert!(again.is_unchanged());
    assert_eq!(again.bytes, bytes);
}

/// Grammar-level check: `IgnoredAny` walks the syntax without decoding strings or numbers, so
/// it accepts non-UTF-8 string bytes (which repair passes through) and huge exponents.
fn well_formed(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[ ,:{}\\[\\]\"\\\\a-z0-9]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z,:\"{}]{0,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn serialized() -> impl Strategy<Value = Vec<u8>> {
    (json_value(), any::<bool>()).prop_map(|(v, pretty)| {
        if pretty {
            serde_json::to_vec_pretty(&v)
        } else {
            serde_json::to_vec(&v)
        }
        .expect("a Value always serializes")
    })
}

/// Serialized JSON with at least one comma a repair can see (after the first member's value,
/// before the second key) and one non-empty container, so the properties below never run dry.
fn serialized_container() -> impl Strategy<Value = Vec<u8>> {
    (json_value(), json_value(), any::<bool>()).prop_map(|(a, b, pretty)| {
        let v = serde_json::json!({ "k": a, "l": b });
        if pretty {
            serde_json::to_vec_pretty(&v)
        } else {
            serde_json::to_vec(&v)
        }
        .expect("a Value always serializes")
    })
}

/// Offsets of structural bytes (outside strings) matching `pred`.
fn structural(bytes: &[u8], pred: impl Fn(u8) -> bool) -> Vec<usize> {
    let (mut in_string, mut escaped) = (false, false);
    let mut found = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if pred(b) {
            found.push(i);
        }
    }
    found
}

fn token_byte(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
}

fn json_alphabet() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop::sample::select(b" \n{}[],:\"\\0123456789-.eEtruefalsn\xff".to_vec());
    prop::collection::vec(byte, 0..256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(r) = repair(&data) {
            prop_assert!(well_formed(&r.bytes), "{:?}", String::from_utf8_lossy(&r.bytes));
        }
    }

    #[test]
    fn json_like_bytes_repair_to_well_formed_json(data in json_alphabet()) {
        if let Ok(r) = repair(&data) {
            prop_assert!(well_formed(&r.bytes), "{:?} -> {:?}",
                String::from_utf8_lossy(&data), String::from_utf8_lossy(&r.bytes));
            if r.fixes.is_empty() {
                prop_assert_eq!(&r.bytes, &data);
            }
        } else {
            // Repair declines only what is not JSON already.
            prop_assert!(!well_formed(&data));
        }
    }

    #[test]
    fn mangled_json_never_panics(
        doc in serialized(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..4),
    ) {
        let mut data = doc;
        for (at, with) in cuts {
            if data.is_empty() { break; }
            let i = at.index(data.len());
            let replacement = b",}]{[\":"[with.index(7)];
            if with.index(2) == 0 { data.remove(i); } else { data.insert(i, replacement); }
        }
        if let Ok(r) = repair(&data) {
            prop_assert!(well_formed(&r.bytes), "{:?}", String::from_utf8_lossy(&r.bytes));
        }
    }

    #[test]
    fn valid_json_is_returned_byte_for_byte(doc in serialized()) {
        let r = repair(&doc).expect("valid JSON");
        prop_assert!(r.fixes.is_empty(), "{:?}", r.fixes);
        prop_assert_eq!(r.bytes, doc);
    }

    #[test]
    fn one_deleted_comma_is_restored(doc in serialized_container(), pick in any::<prop::sample::Index>()) {
        // In compact output `[1,2]` minus its comma is the number `12`: that is not repairable
        // and not a defect repair claims to fix, so only boundaries it can see are picked.
        let commas = structural(&doc, |b| b == b',');
        let commas: Vec<usize> = commas
            .into_iter()
            .filter(|&i| !(i > 0 && token_byte(doc.get(i - 1)) && token_byte(doc.get(i + 1))))
            .collect();
        let at = commas[pick.index(commas.len())];
        let mut broken = doc.clone();
        broken.remove(at);
        let r = repair(&broken).expect("repairable");
        prop_assert_eq!(r.fixes.len(), 1, "{:?}", r.fixes);
        prop_assert_eq!(&r.fixes[0].kind, &FixKind::InsertedComma);
        prop_assert_eq!(r.fixes[0].offset, at);
        prop_assert_eq!(&r.bytes, &doc);
        let original: Value = serde_json::from_slice(&doc).expect("valid");
        let restored: Value = serde_json::from_slice(&r.bytes).expect("repaired");
        prop_assert_eq!(restored, original);
    }

    #[test]
    fn one_trailing_comma_is_removed(doc in serialized_container(), pick in any::<prop::sample::Index>()) {
        // Closers of non-empty containers: the last non-blank byte before them is a value.
        let closers: Vec<usize> = structural(&doc, |b| b == b'}' || b == b']')
            .into_iter()
            .filter(|&i| {
                let before = doc[..i].iter().rev().find(|b| !b" \n".contains(b));
                !matches!(before, Some(b'{' | b'['))
            })
            .collect();
        let at = closers[pick.index(closers.len())];
        let mut broken = doc.clone();
        broken.insert(at, b',');
        let r = repair(&broken).expect("repairable");
        prop_assert_eq!(r.fixes.len(), 1, "{:?}", r.fixes);
        prop_assert_eq!(&r.fixes[0].kind, &FixKind::RemovedTrailingComma);
        prop_assert_eq!(r.fixes[0].offset, at);
        prop_assert_eq!(&r.bytes, &doc);
    }

    #[test]
    fn truncated_json_gets_its_closers(doc in serialized_container(), pick in any::<prop::sample::Index>()) {
        // Cut right after a value or closer: only closers are missing.
        let ends = structural(&doc, |b| b == b'}' || b == b']');
        let at = ends[pick.index(ends.len())] + 1;
        let r = repair(&doc[..at]).expect("closable");
        let only_closers = r
            .fixes
            .iter()
            .all(|f| matches!(f.kind, FixKind::InsertedCloser { .. }) && f.offset == at);
        prop_assert!(only_closers, "{:?}", r.fixes);
        prop_assert!(well_formed(&r.bytes));
        prop_assert!(r.bytes.starts_with(&doc[..at]));
    }
}
