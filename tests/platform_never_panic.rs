//! Property tests: arbitrary JSON values and arbitrary bytes never panic the Sam, Buzzi,
//! ConversaLabs and Standard Webhooks parsers (nor `normalize`/`event_id` on what they accept),
//! and unknown events stay byte-for-byte.

use chathooks::platform::buzzi::BuzziEvent;
use chathooks::platform::conversalabs::ConversaLabsEvent;
use chathooks::platform::sam::SamEvent;
use chathooks::platform::standard::StandardEvent;
use chathooks::platform::VendorEvent;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Event names that reach every typed path of the four parsers, plus noise.
const NAMES: &[&str] = &[
    "conversation.started",
    "conversation.closed",
    "lead.captured",
    "callback.requested",
    "handover.requested",
    "conversation.created",
    "conversation.updated",
    "conversation.resolved",
    "conversation.escalated",
    "message.received",
    "message.sent",
    "message.created",
    "escalation.triggered",
    "escalation.created",
    "feedback.received",
    "conversation_status_changed",
    "message_created",
    "contact_created",
    "contact.updated",
    "PAYMENT_RECEIVED",
    "payment.confirmed",
    "deal.stage_changed",
    "something.else",
];

/// Keys the typed structs read, so generated objects collide with real fields.
const KEYS: &[&str] = &[
    "event",
    "type",
    "data",
    "id",
    "event_id",
    "delivery_id",
    "tenant_id",
    "widget_id",
    "timestamp",
    "created_at",
    "status",
    "role",
    "channel",
    "visitor",
    "end_user",
    "message",
    "messages",
    "conversation",
    "escalation",
    "sender",
    "meta",
    "contact",
    "rating",
    "amount",
    "value",
    "stage",
    "previous_stage",
    "labels",
    "tags",
    "attachments",
    "phone",
    "email",
    "name",
    "account",
    "inbox",
    "message_type",
    "priority",
    "preferred_time",
    "metadata",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9 ._:-]{0,12}".prop_map(Value::String),
        prop::sample::select(NAMES).prop_map(Value::from),
        Just(Value::from("")),
        Just(Value::from("2025-03-14T09:26:53Z")),
        Just(Value::from("1720694558068")),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with a known event name at top level and arbitrary members, under both envelope
/// layouts.
fn event_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["event", "type", "event_type"][..]),
        prop::sample::select(NAMES),
        prop::collection::vec((prop::sample::select(KEYS), json()), 0..8),
    )
        .prop_map(|(key, name, members)| {
            let mut m: Map<String, Value> = members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            m.insert(key.to_owned(), Value::from(name));
            Value::Object(m)
        })
}

fn exercise<E: VendorEvent + std::fmt::Debug>(body: &[u8]) {
    if let Ok(ev) = E::from_slice(body) {
        let n = ev.normalize();
        assert_eq!(n.name, ev.name());
        let _ = ev.event_id();
        let _ = format!("{ev:?}");
    }
}

fn all(body: &[u8]) {
    exercise::<SamEvent>(body);
    exercise::<BuzziEvent>(body);
    exercise::<ConversaLabsEvent>(body);
    exercise::<StandardEvent>(body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        all(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn event_shaped_json_never_panics(v in event_like()) {
        all(&serde_json::to_vec(&v).unwrap());
        all(&serde_json::to_vec_pretty(&v).unwrap());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        all(&bytes);
    }

    #[test]
    fn unknown_names_stay_byte_for_byte(v in json(), name in "[a-z]{1,8}\\.[a-z]{1,8}x") {
        let mut m = Map::new();
        m.insert("event".into(), Value::from(name.clone()));
        m.insert("data".into(), v);
        let body = serde_json::to_vec_pretty(&Value::Object(m)).unwrap();
        match SamEvent::from_slice(&body).unwrap() {
            SamEvent::Unknown { name: n, raw } => {
                prop_assert_eq!(n, name.clone());
                prop_assert_eq!(raw.get().as_bytes(), &body[..]);
            }
            other => prop_assert!(false, "not unknown: {:?}", other),
        }
        let buzzi = BuzziEvent::from_slice(&body).unwrap();
        prop_assert!(matches!(buzzi, BuzziEvent::Unknown { .. }), "buzzi: {:?}", buzzi);
        let cl = ConversaLabsEvent::from_slice(&body).unwrap();
        prop_assert!(matches!(cl, ConversaLabsEvent::Unknown { .. }), "conversalabs: {:?}", cl);
    }
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    // Typed fields go through serde_json's recursion limit: an error with a path, not a crash.
    let mut body = br#"{"event":"lead.captured","data":{"notes":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', 100_000));
    assert!(SamEvent::from_slice(&body).is_err());
    // Unknown events and raw `data` are skipped/captured without recursion (serde_json ignores
    // values iteratively), so a deep but well-formed body is kept, byte for byte.
    let depth = 100_000;
    let mut body = br#"{"event":"nope","type":"nope","data":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    let BuzziEvent::Unknown { raw, .. } = BuzziEvent::from_slice(&body).unwrap() else {
        panic!("not unknown")
    };
    assert_eq!(raw.get().len(), body.len());
    let ev = StandardEvent::from_slice(&body).unwrap();
    assert_eq!(ev.data.unwrap().get().len(), 2 * depth);
}
