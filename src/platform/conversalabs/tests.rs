use super::*;
use proptest::prelude::*;

/// The fast parse and the reference parse agree: same event, or both fail.
fn same_as_reference(body: &str) {
    let fast = ConversaLabsEvent::from_slice(body.as_bytes());
    let reference = ConversaLabsEvent::from_slice_tracked(body.as_bytes());
    assert_eq!(
        format!("{fast:?}"),
        format!("{reference:?}"),
        "body: {body}"
    );
}

#[test]
fn fast_parse_matches_the_reference_on_edge_cases() {
    for body in [
        r#"{"data":{"id":1,"x":[1]},"account":{"id":3},"inbox":null,"event":"deal_stage_changed","k":1}"#,
        r#"{"content":"hi","event":"message_created","id":4,"account":{"id":3},"k":{"a":1}}"#,
        r#"{"event_type":"message_created","type":"contact_created","id":4}"#,
        r#"{"type":"contact_created","event_type":"message_created","id":4}"#,
        r#"{"type":"contact_created","event":null,"event":"payment_paid","data":null}"#,
        r#"{"type":"something.new","event":"message_created"}"#,
        r#"{"event":"message_created","type":5}"#,
        r#"{"event":"x_new","type":5}"#,
        r#"{"event":"message_created","event":"x"}"#,
        r#"{"event":"message_created","data":{},"data":{}}"#,
        r#"{"event":"message_created","id":1,"id":2}"#,
        r#"{"event":"message_created","content":1,"content":"a"}"#,
        r#"{"event":"message_created","private":"maybe"}"#,
        r#"{"event":"payment_confirmed","data":{"amount":"abc"}}"#,
        r#"{"timestamp":{"bad":1},"event":"something.new"}"#,
        r#"{"timestamp":{"bad":1},"event":"contact_created"}"#,
        r#"{"big":1e400,"event":"something.new"}"#,
        r#"{"big":1e400,"event":"contact_created"}"#,
        r#"{"big":1e400,"event":"contact_created","data":{}}"#,
        r#"{"event":"contact_created","data":{"big":1e400}}"#,
        r#"{"d\u0061ta":{"id":1},"event":"contact_created"}"#,
        r#"{"event":"conversation_created","meta":{"sender":{"id":1},"assignee":null},"labels":null}"#,
        r#"{"event":7}"#,
        r#"{"type":[]}"#,
        r#"{"account_id":1}"#,
        r#"{}"#,
        r#"[]"#,
        r#"{"event":"message_created"} x"#,
        r#"{"event":"message_created","data":{"id":"1"}"#,
        "  {\"event\":\"x.y\",\"a\":1}\n",
        "  {\"a\":1}\n",
    ] {
        same_as_reference(body);
    }
}

#[test]
fn fixtures_match_the_reference() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conversalabs");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let body = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        same_as_reference(&body);
        // The fast parse itself reads every fixture: no silent fallback.
        let fast = ConversaLabsEvent::from_slice_fast(body.as_bytes());
        assert!(fast.is_ok(), "fast parse failed on {body}");
        n += 1;
    }
    assert!(n > 10, "only {n} fixtures");
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("1".to_owned()),
        Just("1e400".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"2026-06-27T16:10:02Z\"".to_owned()),
        Just("{\"id\":3,\"name\":\"n\",\"z\":[true],\"contact\":{\"id\":1}}".to_owned()),
        Just("{\"meta\":{\"sender\":{\"id\":2}},\"labels\":null}".to_owned()),
        Just("{\"display_id\":7,\"meta\":{\"sender\":{\"id\":2,\"type\":\"user\"}}}".to_owned()),
        Just("{\"id\":1,\"name\":\"a\",\"type\":\"contact\"}".to_owned()),
        Just("{\"customer\":{\"email\":\"e\"},\"message\":{\"text\":\"t\"}}".to_owned()),
        Just("{\"amount\":\"x\"}".to_owned()),
        Just("[1,2]".to_owned()),
        Just("\"message_created\"".to_owned()),
        Just("\"conversation_created\"".to_owned()),
        Just("\"payment.paid\"".to_owned()),
        Just("\"other\"".to_owned()),
    ]
}

proptest! {
    #[test]
    fn fast_parse_matches_the_reference(
        fields in proptest::collection::vec(
            (prop_oneof![
                Just("event"), Just("event_type"), Just("type"), Just("data"),
                Just("account"), Just("inbox_id"), Just("timestamp"), Just("id"),
                Just("content"), Just("status"), Just("private"), Just("other"),
                Just("contact"), Just("sender"), Just("conversation"),
            ], value()),
            0..7,
        )
    ) {
        let body = format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        same_as_reference(&body);
    }
}
