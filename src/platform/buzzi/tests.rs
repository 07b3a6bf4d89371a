use super::*;
use proptest::prelude::*;

/// The fast pass alone (no fallback) and the reference parse agree: the same event, or both
/// fail; it defers only when a later `event` overrides `type`. And `from_slice` answers exactly
/// what the reference answers, errors included.
fn same_as_reference(body: &str) {
    let reference = BuzziEvent::from_slice_tracked(body.as_bytes());
    match BuzziEvent::from_slice_fast(body.as_bytes()) {
        Ok(Some(fast)) => crate::platform::fast_agrees(&Ok(fast), &reference, body),
        Ok(None) => assert!(
            body.contains(r#""type":"#) && body.contains(r#""event":"#),
            "deferred without a name override: {body}"
        ),
        Err(e) => crate::platform::fast_agrees(&Err(e), &reference, body),
    }
    let public = BuzziEvent::from_slice(body.as_bytes());
    assert_eq!(
        format!("{public:?}"),
        format!("{reference:?}"),
        "body: {body}"
    );
}

#[test]
fn one_pass_matches_the_reference_on_edge_cases() {
    for body in [
        r#"{"data":{"id":"c1","tags":["a"]},"company_id":7,"event":"conversation.created","x":[1]}"#,
        r#"{"type":"message.created","data":{"role":"user","content":"hi"}}"#,
        r#"{"type":"message.created","event":"message.sent","data":{"role":"user"}}"#,
        r#"{"type":"message.created","event":"message.created","data":{}}"#,
        r#"{"type":"message.created","event":null,"data":{}}"#,
        r#"{"type":"message.created","event":5}"#,
        r#"{"type":"something.new","event":"message.sent"}"#,
        r#"{"type":"something.new","event":"other.new"}"#,
        r#"{"type":"something.new","event":null,"event":"message.sent"}"#,
        r#"{"type":"something.new","type":5}"#,
        r#"{"event":"message.sent","type":5}"#,
        r#"{"event":"message.sent","type":"message.created"}"#,
        r#"{"event":null,"event":"feedback.received","data":null}"#,
        r#"{"event":"feedback.received","event":5,"data":{"rating":"4"}}"#,
        r#"{"event":"feedback.received","data":{"rating":"great"}}"#,
        r#"{"timestamp":{"bad":1},"event":"something.new"}"#,
        r#"{"timestamp":{"bad":1},"event":"conversation.created"}"#,
        r#"{"big":1e400,"event":"something.new"}"#,
        r#"{"big":1e400,"event":"conversation.created"}"#,
        r#"{"event":"conversation.created","big":1e400}"#,
        r#"{"data":{"escalation":{"priority":[1]}},"event":"conversation.escalated"}"#,
        r#"{"d\u0061ta":{"id":1},"event":"conversation.created"}"#,
        r#"{"chatbotId":"b","createdAt":1700000000,"deliveryId":3,"event":"message.sent"}"#,
        r#"{"event":"message.received","data":{"attachments":null,"endUser":{"ipAddress":"1.2.3.4","location":{"city":"X","k":1}}}}"#,
        r#"{"event":"message.received","data":{"attachments":{}}}"#,
        r#"{"event":"escalation.created","data":{"returnedToAi":"yes","waitTime":"30","z":null}}"#,
        r#"{"event":7}"#,
        r#"{"type":[]}"#,
        r#"{"company_id":1}"#,
        r#"{}"#,
        r#"[]"#,
        r#"{"event":"message.sent"} x"#,
        r#"{"event":"message.sent","data":{"id":"1"}"#,
        r#"{"data":{"message":{"text":"t"},"visitor":{"name":"v"}},"event":"message.received"}"#,
        r#"{"data":{"content":"hi",},"event":"message.sent"}"#,
        r#"{"type":"message.created","data":{"endUser":{"email":01}}}"#,
        "  {\"event\":\"x.y\",\"a\":1}\n",
    ] {
        same_as_reference(body);
    }
}

#[test]
fn fixtures_match_the_reference() {
    for body in crate::platform::fixtures("buzzi", 11) {
        same_as_reference(&body);
        // The fast pass itself reads every fixture: no silent fallback.
        assert!(
            matches!(BuzziEvent::from_slice_fast(body.as_bytes()), Ok(Some(_))),
            "fast pass failed on {body}"
        );
    }
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("1".to_owned()),
        Just("1e400".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"2026-01-12T10:00:00Z\"".to_owned()),
        Just("{\"id\":3,\"role\":\"user\",\"z\":[true],\"endUser\":{\"id\":1}}".to_owned()),
        Just("{\"escalation\":{\"priority\":\"high\"},\"tags\":null}".to_owned()),
        Just("{\"rating\":\"x\"}".to_owned()),
        Just("{\"lead\":{\"email\":\"e\"},\"message\":\"m\"}".to_owned()),
        Just("{\"content\":\"a\" \"x\":1}".to_owned()),
        Just("[1,2]".to_owned()),
        Just("\"conversation.created\"".to_owned()),
        Just("\"message.created\"".to_owned()),
        Just("\"feedback.received\"".to_owned()),
        Just("\"other\"".to_owned()),
    ]
}

proptest! {
    #[test]
    fn one_pass_matches_the_reference(
        fields in proptest::collection::vec(
            (prop_oneof![
                Just("event"), Just("type"), Just("data"), Just("company_id"),
                Just("timestamp"), Just("createdAt"), Just("id"), Just("deliveryId"),
                Just("other"),
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
