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

/// `fast` (one of the untracked passes, run alone) against the reference parse: both accept
/// or both reject, and agree on what they accept.
fn agrees(pass: &str, body: &str, fast: Result<Option<ConversaLabsEvent>, serde_json::Error>) {
    let reference = ConversaLabsEvent::from_slice_tracked(body.as_bytes());
    // `Ok(None)`: an unknown event without a name, which `from_slice` keeps whole.
    let fast = fast.map(|found| {
        found.unwrap_or_else(|| ConversaLabsEvent::Unknown {
            name: String::new(),
            raw: open::raw_body(body.as_bytes()).expect("the fast pass accepted it"),
        })
    });
    assert_eq!(
        fast.is_ok(),
        reference.is_ok(),
        "{pass}: {:?} vs reference {:?}, body: {body}",
        fast.as_ref().err(),
        reference.as_ref().err()
    );
    if let (Ok(fast), Ok(reference)) = (fast, reference) {
        assert_eq!(
            format!("{fast:?}"),
            format!("{reference:?}"),
            "{pass}, body: {body}"
        );
    }
}

/// Every untracked pass alone, without the tracked fallback: the fast parse `from_slice` uses
/// (one pass, members pass where it declines), the one pass itself (unless it declines) and the
/// members pass itself.
fn passes_agree(body: &str) {
    let bytes = body.as_bytes();
    agrees("fast", body, ConversaLabsEvent::from_slice_fast(bytes));
    match ConversaLabsEvent::from_one_pass(bytes) {
        Err(e) if parse::declined(&e) => {}
        one => agrees("one pass", body, one),
    }
    agrees("members", body, ConversaLabsEvent::from_members_pass(bytes));
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
        // The one pass's layout bet: a nested or escaped `data` (declines), `data` after a
        // record member, before it, or never.
        r#"{"event":"message_created","content_attributes":{"data":1},"content":"x"}"#,
        r#"{"event":"message_created","content":"x","d\u0061ta":{"content":"y"}}"#,
        r#"{"event":"message_created","content":"x","d\u0061ta":null,"k":1}"#,
        // Envelope members the flat record reads at once, then an escaped `data`.
        r#"{"event":"message_created","id":5,"d\u0061ta":{"content":"y"}}"#,
        r#"{"event":"message_created","account":{"id":2},"d\u0061ta":{"id":1}}"#,
        r#"{"event":"conversation_created","created_at":"2026-06-27T16:10:02Z","d\u0061ta":{}}"#,
        r#"{"event":"message_created","content":"\"data\"","id":3}"#,
        r#"{"event":"message_created","content":"hi","data":{"content":"x"}}"#,
        r#"{"content":"hi","event":"message_created","data":null}"#,
        r#"{"event":"message_created","data":{"content":"x"},"content":"hi","k":[1]}"#,
        r#"{"data":{"content":"x"},"id":5,"event":"message_created","account":{"id":2}}"#,
        r#"{"event":"message_created","data":{"content":"x"},"id":5,"id":6}"#,
        r#"{"event":"contact_created","created_at":"2026-06-27T16:10:02Z","name":"n","type":"contact"}"#,
        // A later, higher-ranked name key than the one that chose the type.
        r#"{"type":"contact","event":"contact_created","name":"n"}"#,
        r#"{"type":"message_created","event":"message.created","content":"c"}"#,
        r#"{"type":"message_created","event":"conversation_created","id":1}"#,
        r#"{"type":"x.new","event":"message_created"}"#,
        r#"{"type":"x.new","event":null,"event_type":"y"}"#,
        r#"{"event_type":"x.new","type":7}"#,
        r#"{"type":"x.new","event":5}"#,
        r#"{"event":"message_created","sender":{"id":1},"sender":{"id":2},"private":"yes"}"#,
        r#"{"event":"message_created","content":"a","content":"b"}"#,
        r#"{"event":"message_created","account":{"id":1},"inbox":"in_7","account_id":null}"#,
        r#"{"event":"payment_paid","data":{"value":"149.90"},"account":{"id":9,"id":10},"z":1e400}"#,
        r#"{"event":"payment_paid","data":{"value":"149.90"},"z":{"a":1e400}}"#,
        r#"{"event":"message_created","conversation":{"id":1e400}}"#,
        r#"{"event":"message_created","created_at":{"x":1}}"#,
        r#"{"event":"message_created","data":{},"timestamp":"yesterday"}"#,
    ] {
        same_as_reference(body);
        passes_agree(body);
    }
}

#[test]
fn fixtures_match_the_reference() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conversalabs");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let body = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        same_as_reference(&body);
        passes_agree(&body);
        // The one pass itself reads every fixture: no silent fallback to the members pass or
        // to the reference.
        let one = ConversaLabsEvent::from_one_pass(body.as_bytes());
        assert!(matches!(one, Ok(Some(_))), "one pass: {one:?} on {body}");
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
        Just("{\"id\":1,\"id\":2}".to_owned()),
        Just("{\"content\":\"c\",\"sender\":{\"type\":\"user\"}}".to_owned()),
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
                Just("created_at"), Just("delivery_id"), Just("inbox"),
            ], value()),
            0..8,
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
        passes_agree(&body);
    }
}
