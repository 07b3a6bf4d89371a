//! SaleAssist: fixtures parse to the right variant and normalise as documented.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{Channel, EventKind, Vendor};
use chathooks::platform::saleassist::{
    MeetingStatus, MessageType, MetaItem, SaleAssistEvent, SourceType, WidgetNewConversation,
};
use chathooks::platform::VendorEvent;
use proptest::prelude::*;
use serde_json::{json, Value};

const WNC: &[u8] = include_bytes!("../fixtures/saleassist/widget_new_conversation.json");
const MESSY: &[u8] = include_bytes!("../fixtures/saleassist/widget_new_conversation_messy.json");
const WRAPPED: &[u8] = include_bytes!("../fixtures/saleassist/capture_wrapped.json");
const NO_KEY: &[u8] = include_bytes!("../fixtures/saleassist/capture_without_wrapper_key.json");
const BROKEN: &[u8] = include_bytes!("../fixtures/saleassist/doc_sample_broken.json");
const MAPPED: &[u8] = include_bytes!("../fixtures/saleassist/mapped.json");
const UNKNOWN: &[u8] = include_bytes!("../fixtures/saleassist/unknown_event.json");

fn wnc(body: &[u8]) -> Box<WidgetNewConversation> {
    match SaleAssistEvent::from_slice(body).expect("parses") {
        SaleAssistEvent::WidgetNewConversation(ev) => ev,
        other => panic!("expected widget_new_conversation, got {other:?}"),
    }
}

fn ms(v: u64) -> Option<std::time::SystemTime> {
    Some(UNIX_EPOCH + Duration::from_millis(v))
}

#[test]
fn doc_sample_payload_is_fully_typed() {
    let ev = wnc(WNC);
    assert_eq!(ev.event_type, "widget_new_conversation");
    assert!(ev.capture.is_none());
    assert_eq!(ev.metadata, Some(json!({})));
    let p = &ev.payload;
    assert_eq!(
        p.id.as_deref(),
        Some("dc60de93-d726-43cc-ad06-9cc7544cb8e5")
    );
    assert_eq!(p.message_type, Some(MessageType::ScheduleMeeting));
    assert_eq!(p.message_content, p.meeting_id);
    assert_eq!(p.source_type, Some(SourceType::LiveCall));
    assert_eq!(p.created_on.as_ref().unwrap().instant, ms(1720694558068));
    assert_eq!(p.created_on.as_ref().unwrap().original, "1720694558068");
    assert!(p.dropped_at.is_none(), "0 is not set");
    assert!(
        p.whatsapp_request_id.is_none() && p.chat_group_id.is_none(),
        "\"\" is not set"
    );
    assert_eq!(p.acknowledged, Some(false));
    assert_eq!(
        p.meeting_url.as_deref(),
        Some("https://meet.saleassist.ai/82dcc3da-8f70-45fb-ac26-c265af7838f4?user_identity=+918765875687")
    );
    assert!(
        p.extra.is_empty(),
        "every payload key is typed: {:?}",
        p.extra.keys()
    );

    let lead = p.people_detail.as_ref().unwrap();
    assert_eq!(lead.name.as_deref(), Some("Prakash Mudhaliyar"));
    assert_eq!(lead.mobile_number.as_deref(), Some("+910987654321"));
    assert_eq!(lead.email.as_deref(), Some("prakashm@athenabpo.in"));
    assert_eq!(lead.pincode.as_deref(), Some("400615"));
    assert_eq!(lead.utm_campaign.as_deref(), Some("Test"));
    assert_eq!(lead.otp_verified, Some(true));
    assert_eq!(lead.widget_city.as_deref(), Some("Faridabad"));
    assert_eq!(lead.widget_latitude, Some(28.4098));
    assert_eq!(lead.widget_longitude, Some(77.31));
    assert_eq!(
        lead.id.as_deref(),
        Some("9d438aaa-1eaa-496a-a8b3-b4f98367bb0d")
    );
    assert_eq!(lead.extra["product_sku"], json!("Test"));
    assert_eq!(lead.extra["day_of_week"], json!("4"));
    assert_eq!(lead.extra.len(), 11);

    // meta: the meeting object and the message object, typed and as sent.
    assert_eq!(p.meta.raw.len(), 2);
    assert!(matches!(p.meta.items[1], MetaItem::Message(None)));
    let m = p.meta.meeting().expect("meeting");
    assert_eq!(m.id, p.meeting_id);
    assert_eq!(m.meeting_status, Some(MeetingStatus::Scheduled));
    assert_eq!(m.moderators, ["chetan@saleassist.ai", "8373916383"]);
    assert_eq!(m.participants, ["+918765875687"]);
    // 7/11/2024 04:30 PM Asia/Calcutta = 11:00 UTC = scheduled_time.
    assert_eq!(m.starts_at(), ms(1720695600000));
    assert_eq!(
        m.scheduled_time.as_ref().unwrap().instant,
        ms(1720695600000)
    );
    assert_eq!(
        m.date_time.as_ref().unwrap().in_zone("Asia/Calcutta"),
        ms(1720695600000)
    );
    assert_eq!(m.duration(), Some(Duration::from_secs(30 * 60)));
    assert!(m.start_time.is_none() && m.confirmed_at.is_none());
    assert!(m.recording_url.is_none() && m.rrule.is_none());
    let form = m
        .registration_form
        .as_ref()
        .expect("decoded from the string");
    assert_eq!(form.len(), 4);
    assert_eq!(form[0].field_type.as_deref(), Some("paragraph"));
    assert_eq!(form[3].name.as_deref(), Some("mobile_number"));
    assert_eq!(form[3].required, Some(false));
    // Nothing is lost: the raw elements equal the input's.
    let input: Value = serde_json::from_slice(WNC).unwrap();
    assert_eq!(Value::Array(p.meta.values()), input["payload"]["meta"]);
}

#[test]
fn widget_new_conversation_normalises() {
    let event = SaleAssistEvent::from_slice(WNC).unwrap();
    assert_eq!(
        event.event_id().as_deref(),
        Some("dc60de93-d726-43cc-ad06-9cc7544cb8e5")
    );
    let e = event.normalize();
    assert_eq!(e.kind, EventKind::ConversationStarted);
    assert_eq!(e.vendor, Vendor::SaleAssist);
    assert_eq!(e.name, "widget_new_conversation");
    assert_eq!(e.occurred_at, ms(1720694558068));
    assert_eq!(
        e.ids.event.as_deref(),
        Some("dc60de93-d726-43cc-ad06-9cc7544cb8e5")
    );
    assert_eq!(
        e.ids.tenant.as_deref(),
        Some("74c28198-7762-40d3-8925-5cc00dc99e98")
    );
    assert_eq!(
        e.ids.widget.as_deref(),
        Some("905002c3-9be6-43fa-8e3d-e71ab0c1d1b7")
    );
    assert_eq!(
        e.ids.conversation.as_deref(),
        Some("e8ebb379-75a9-41e5-8a14-9f8f0842830f")
    );
    assert_eq!(
        e.ids.contact.as_deref(),
        Some("9d438aaa-1eaa-496a-a8b3-b4f98367bb0d")
    );

    let c = e.contact.as_ref().unwrap();
    assert_eq!(
        c.id.as_deref(),
        Some("9d438aaa-1eaa-496a-a8b3-b4f98367bb0d")
    );
    assert_eq!(c.name.as_deref(), Some("Prakash Mudhaliyar"));
    assert_eq!(c.phones, ["+910987654321", "+918765875687"]);
    assert_eq!(c.emails, ["prakashm@athenabpo.in"]);
    let loc = c.location.as_ref().unwrap();
    assert_eq!(loc.city.as_deref(), Some("Faridabad"));
    assert_eq!(loc.state.as_deref(), Some("Haryana"));
    assert_eq!(loc.country.as_deref(), Some("India"));
    assert_eq!(loc.address.as_deref(), Some("Thane"));
    assert_eq!(loc.postal_code.as_deref(), Some("400615"));
    assert_eq!((loc.latitude, loc.longitude), (Some(28.4098), Some(77.31)));
    assert_eq!(loc.ip.as_deref(), Some("103.201.143.23"));
    assert_eq!(c.utm.as_ref().unwrap().campaign.as_deref(), Some("Test"));
    assert_eq!(c.custom_fields["otp_verified"], json!(true));
    assert_eq!(
        c.custom_fields["widget_location_source"],
        json!("IP ADDRESS")
    );
    assert_eq!(c.custom_fields["product_category"], json!("Water Purifier"));

    let conv = e.conversation.as_ref().unwrap();
    assert_eq!(conv.channel, Some(Channel::Call));
    assert_eq!(
        conv.assignee.as_deref(),
        Some("a184afcd-6d05-4052-a156-4c057ce723e8")
    );
    assert!(
        e.message.is_none(),
        "schedule_meeting content is a meeting id, not text"
    );
    assert_eq!(e.attributes["message_type"], json!("schedule_meeting"));
    assert_eq!(
        e.attributes["meeting_starts_at"],
        json!("2024-07-11T11:00:00Z")
    );
    assert_eq!(e.attributes["meeting_status"], json!("SCHEDULED"));
}

#[test]
fn messy_variant_tolerated() {
    let event = SaleAssistEvent::from_slice(MESSY).unwrap();
    let SaleAssistEvent::WidgetNewConversation(ev) = &event else {
        panic!("{event:?}")
    };
    let p = &ev.payload;
    let lead = p.people_detail.as_ref().unwrap();
    assert_eq!(
        lead.pincode.as_deref(),
        Some("110001"),
        "number pincode kept as text"
    );
    assert_eq!(lead.otp_verified, Some(true), "1 is true");
    assert_eq!(lead.widget_longitude, Some(77.31), "string coordinate");
    assert!(lead.mobile_number.is_none() && lead.email.is_none());
    assert_eq!(p.created_on.as_ref().unwrap().instant, ms(1720694558068));
    assert_eq!(p.extra["brand_new_field"], json!({"nested": [1, 2]}));
    assert_eq!(p.meta.items.len(), 3);
    assert!(matches!(&p.meta.items[0], MetaItem::Message(Some(t)) if t.starts_with("Hi")));
    assert!(matches!(p.meta.items[1], MetaItem::Other));
    assert_eq!(ev.metadata, Some(json!({"trace": "abc"})));

    let e = event.normalize();
    let c = e.contact.unwrap();
    assert_eq!(
        c.phones,
        ["+918765875687"],
        "unique_field_value when no mobile"
    );
    let utm = c.utm.unwrap();
    assert_eq!(
        (utm.source.as_deref(), utm.medium.as_deref()),
        (Some("google"), Some("cpc"))
    );
    let msg = e.message.expect("text message type yields a message");
    assert_eq!(
        msg.text.as_deref(),
        Some("Hi, is the RO purifier in stock?")
    );
    assert_eq!(msg.channel, Some(Channel::WhatsApp));
}

#[test]
fn capture_wrapper_is_unwrapped() {
    let ev = wnc(WRAPPED);
    let cap = ev.capture.as_ref().expect("wrapper recorded");
    assert_eq!(cap.key.as_deref(), Some("body"));
    let headers: Value = serde_json::from_str(cap.headers.as_ref().unwrap().get()).unwrap();
    assert_eq!(headers["user-agent"], json!("python-requests/2.31.0"));
    assert_eq!(cap.query_string.as_ref().unwrap().get(), "{}");
    let plain = wnc(WNC);
    assert_eq!(ev.payload.people_detail, plain.payload.people_detail);
    assert_eq!(ev.payload.id, plain.payload.id);

    let ev = wnc(NO_KEY);
    let cap = ev.capture.as_ref().expect("wrapper recorded");
    assert_eq!(cap.key, None);
    assert!(cap.headers.is_some());
    assert_eq!(ev.payload.people_detail, plain.payload.people_detail);
}

#[test]
fn doc_sample_verbatim_is_a_syntax_error() {
    let err = SaleAssistEvent::from_slice(BROKEN).unwrap_err();
    assert!(err.syntax, "{err}");
    assert!(err.position.is_some());
}

#[test]
fn doc_sample_parses_in_repair_mode() {
    // Strict first; repair only on a syntax error (DESIGN rule 8).
    let err = SaleAssistEvent::from_slice(BROKEN).unwrap_err();
    assert!(err.syntax);
    let fixed = chathooks::lenient::repair(BROKEN).unwrap();
    assert!(!fixed.fixes.is_empty());
    let ev = wnc(&fixed.bytes);
    assert!(ev.capture.is_some(), "headers/queryString set aside");
    let lead = ev.payload.people_detail.as_ref().unwrap();
    assert_eq!(lead.name.as_deref(), Some("Prakash Mudhaliyar"));
    assert_eq!(lead.mobile_number.as_deref(), Some("+910987654321"));
    assert_eq!(lead.email.as_deref(), Some("prakashm@athenabpo.in"));
    assert_eq!(lead.widget_city.as_deref(), Some("Faridabad"));
    assert_eq!(lead.pincode.as_deref(), Some("400615"));
    assert_eq!(lead.utm_campaign.as_deref(), Some("Test"));
    assert_eq!(lead.otp_verified, Some(true));
    assert_eq!(
        (lead.widget_latitude, lead.widget_longitude),
        (Some(28.4098), Some(77.31))
    );
    assert_eq!(ev.payload.people_detail, wnc(WNC).payload.people_detail);
}

#[test]
fn mapped_webhook_is_open() {
    let event = SaleAssistEvent::from_slice(MAPPED).unwrap();
    assert_eq!(event.name(), "mapped");
    let SaleAssistEvent::Mapped(m) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(m.name().as_deref(), Some("Asha Verma"));
    assert_eq!(m.email().as_deref(), Some("asha@example.in"));
    assert_eq!(m.mobile_number().as_deref(), Some("+919812345678"));
    assert_eq!(
        m.get("payload.session_id"),
        Some(&json!("e8ebb379-75a9-41e5-8a14-9f8f0842830f"))
    );
    let input: Value = serde_json::from_slice(MAPPED).unwrap();
    assert_eq!(Value::Object(m.fields.clone()), input);
    assert_eq!(serde_json::from_str::<Value>(m.raw.get()).unwrap(), input);
    assert_eq!(
        event.event_id().as_deref(),
        Some("0b7e1d8e-5c4a-4f7e-9a65-3d2f1c0b9a88")
    );

    let e = event.normalize();
    assert_eq!(e.kind, EventKind::LeadCaptured);
    let c = e.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Asha Verma"));
    assert_eq!(c.phones, ["+919812345678"]);
    assert_eq!(c.custom_fields["utm_campaign"], json!("diwali_sale"));

    // A mapping with no lead fields is not a lead.
    let e = SaleAssistEvent::from_slice(br#"{"score": 7}"#)
        .unwrap()
        .normalize();
    assert_eq!(e.kind, EventKind::Other("mapped".into()));
}

#[test]
fn unknown_event_is_lossless() {
    let event = SaleAssistEvent::from_slice(UNKNOWN).unwrap();
    let SaleAssistEvent::Unknown { name, raw } = &event else {
        panic!("{event:?}")
    };
    assert_eq!(name, "widget_call_ended");
    assert_eq!(
        raw.get().as_bytes(),
        std::str::from_utf8(UNKNOWN).unwrap().trim().as_bytes()
    );
    assert_eq!(
        event.event_id().as_deref(),
        Some("5f1c2a77-0c2e-4c55-bb3f-0d8e61f0b111")
    );
    let e = event.normalize();
    assert_eq!(e.kind, EventKind::Other("widget_call_ended".into()));
    assert_eq!(
        e.ids.event.as_deref(),
        Some("5f1c2a77-0c2e-4c55-bb3f-0d8e61f0b111")
    );
}

#[test]
fn errors_carry_the_json_path() {
    let mut v: Value = serde_json::from_slice(WNC).unwrap();
    v["payload"]["people_detail"]["otp_verified"] = json!("maybe");
    let err = SaleAssistEvent::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(err.path, "payload.people_detail.otp_verified");
    assert!(!err.syntax);

    // Payload before event_type (second pass) and inside the capture wrapper.
    let body = json!({"payload": {"created_on": [1]}, "event_type": "widget_new_conversation"});
    let err = SaleAssistEvent::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(err.path, "payload.created_on");
    let body = json!({"body": {"event_type": "widget_new_conversation",
        "payload": {"people_detail": {"widget_latitude": "north"}}}, "headers": {}});
    let err = SaleAssistEvent::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(err.path, "body.payload.people_detail.widget_latitude");

    let err = SaleAssistEvent::from_slice(b"[1,2]").unwrap_err();
    assert_eq!(err.path, ".");
    let err =
        SaleAssistEvent::from_slice(br#"{"event_type":"widget_new_conversation"}"#).unwrap_err();
    assert_eq!(err.path, "payload");
}

#[test]
fn vendor_event_trait() {
    let e = <SaleAssistEvent as VendorEvent>::from_slice(WNC).unwrap();
    assert_eq!(VendorEvent::name(&e), "widget_new_conversation");
    assert_eq!(SaleAssistEvent::VENDOR, Vendor::SaleAssist);
}

pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9 +@.:/-]{0,12}".prop_map(Value::String),
        // Numbers, booleans and JSON inside strings: what the lenient readers look at.
        prop_oneof![
            Just("Yes"),
            Just("0"),
            Just("1720694558068"),
            Just("[1]"),
            Just("{}")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("event_type".to_owned()),
            Just("payload".to_owned()),
            Just("people_detail".to_owned()),
            Just("meta".to_owned()),
            Just("id".to_owned()),
            Just("headers".to_owned()),
            Just("body".to_owned()),
            Just("data".to_owned()),
            Just("event".to_owned()),
            Just("labels".to_owned()),
            "[a-z_]{1,10}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let _ = SaleAssistEvent::from_slice(&serde_json::to_vec(&v).unwrap()).map(|e| e.normalize());
    }

    #[test]
    fn arbitrary_payload_fields_never_panic(payload in arb_json(), lead in arb_json(),
                                            meta in arb_json(), wrap in any::<bool>()) {
        let mut body = json!({"event_type": "widget_new_conversation", "payload": payload});
        if let Some(p) = body["payload"].as_object_mut() {
            p.insert("people_detail".into(), lead);
            p.insert("meta".into(), meta);
        }
        if wrap {
            body = json!({"body": body, "headers": {}, "queryString": {}});
        }
        if let Ok(e) = SaleAssistEvent::from_slice(&serde_json::to_vec(&body).unwrap()) {
            let _ = (e.normalize(), e.event_id());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SaleAssistEvent::from_slice(&bytes);
    }
}

#[test]
fn capture_debug_hides_header_values() {
    let body = json!({"body": {"event_type": "widget_new_conversation", "payload": {}},
        "headers": {"x-saleassist-token": "s3cr3t-static-token"}, "queryString": {}});
    let ev = wnc(&serde_json::to_vec(&body).unwrap());
    let dbg = format!("{ev:?}");
    assert!(dbg.contains("x-saleassist-token"), "{dbg}");
    assert!(!dbg.contains("s3cr3t-static-token"), "{dbg}");
}

/// Local meeting times in a process whose time-zone database is empty or lacks the zone (a
/// scratch or distroless image, or a trimmed `/usr/share/zoneinfo`). jiff opens its database
/// once per process, so each case runs in a child process with its own `TZDIR`. An empty
/// `TZDIR` makes jiff fall through to the system directories (where this machine has them); a
/// `TZDIR` holding only `UTC` is a database without the zone, which only the bundled fallback
/// can answer.
#[test]
fn meeting_times_resolve_without_a_system_tz_database() {
    let base = std::env::temp_dir().join(format!("chathooks-tzdir-{}", std::process::id()));
    let empty = base.join("empty");
    let utc_only = base.join("utc-only");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&utc_only).unwrap();
    let mut dirs = vec![empty];
    if std::fs::copy("/usr/share/zoneinfo/UTC", utc_only.join("UTC")).is_ok() {
        dirs.push(utc_only);
    }
    for dir in &dirs {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "platform_saleassist::tz_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("TZDIR", dir)
            .env("CHATHOOKS_TZ_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "TZDIR={}: {stdout}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// The child of the test above (ignored in normal runs: it needs the parent's `TZDIR`).
#[test]
#[ignore = "run by meeting_times_resolve_without_a_system_tz_database in a child process"]
fn tz_child() {
    assert!(
        std::env::var_os("CHATHOOKS_TZ_CHILD").is_some(),
        "run by the parent test"
    );
    let at = chathooks::lenient::local_date_time("7/11/2024", "04:30 PM", "Asia/Calcutta");
    assert_eq!(at, ms(1720695600000));
    let at = chathooks::lenient::local_date_time("1/15/2025", "09:00", "America/New_York");
    assert_eq!(at, ms(1736949600000));
}
