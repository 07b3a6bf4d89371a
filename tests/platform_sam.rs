//! Sam: every fixture parses to its variant and normalises; errors carry paths; unknown is
//! lossless.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{Channel, Direction, EventKind, Vendor};
use chathooks::platform;
use chathooks::platform::sam::{SamEvent, SamRole, SamStatus};
use chathooks::Verified;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sam/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> SamEvent {
    SamEvent::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn at(secs: u64, millis: u64) -> Option<std::time::SystemTime> {
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

#[test]
fn conversation_started() {
    let ev = parse("conversation_started.json");
    let SamEvent::ConversationStarted(e) = &ev else {
        panic!("wrong variant: {ev:?}")
    };
    assert_eq!(e.tenant_id.as_deref(), Some("4021"));
    assert_eq!(e.data.status, Some(SamStatus::Active));
    assert_eq!(
        e.data.message.as_ref().unwrap().role,
        Some(SamRole::Visitor)
    );

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationStarted);
    assert_eq!(n.vendor, Vendor::Sam);
    assert_eq!(n.name, "conversation.started");
    assert_eq!(n.occurred_at, at(1741944413, 0));
    assert_eq!(n.ids.tenant.as_deref(), Some("4021"));
    assert_eq!(n.ids.widget.as_deref(), Some("wgt_9f2c81"));
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_01HQZ8K2M4"));
    assert_eq!(n.ids.contact.as_deref(), Some("vis_7c1e"));
    assert_eq!(n.ids.message.as_deref(), Some("msg_001"));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Priya Nair"));
    assert_eq!(c.emails, ["priya.nair@example.in"]);
    let conv = n.conversation.unwrap();
    assert_eq!(conv.status.as_deref(), Some("active"));
    let m = n.message.unwrap();
    assert_eq!(
        m.text.as_deref(),
        Some("Hi, do you take walk-ins on Saturdays?")
    );
    assert_eq!(m.direction, Some(Direction::Inbound));
    assert_eq!(m.sent_at, at(1741944412, 0));
    assert_eq!(
        n.attributes["page_url"],
        "https://www.lakeviewdental.com/pricing"
    );
    // data.id + timestamp form the event id (no envelope id is documented).
    assert_eq!(
        n.ids.event.as_deref(),
        Some("conversation.started:conv_01HQZ8K2M4@2025-03-14T09:26:53Z")
    );
}

#[test]
fn conversation_started_without_data_and_numeric_ids() {
    let ev = parse("conversation_started_no_data.json");
    let SamEvent::ConversationStarted(e) = &ev else {
        panic!("wrong variant")
    };
    assert!(e.data.conversation_id().is_none());
    let n = ev.normalize();
    assert_eq!(n.ids.tenant.as_deref(), Some("4021"));
    assert_eq!(n.ids.widget.as_deref(), Some("7"));
    // Epoch milliseconds.
    assert_eq!(n.occurred_at, at(1741944413, 0));
    assert_eq!(n.ids.event, None);
    assert_eq!(n.ids.conversation, None);
    assert!(n.contact.is_none());
}

#[test]
fn conversation_closed() {
    let ev = parse("conversation_closed.json");
    let SamEvent::ConversationClosed(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.messages.len(), 3);
    assert_eq!(e.data.messages[1].role, Some(SamRole::Assistant));
    assert_eq!(e.data.message_count, Some(6));
    assert_eq!(
        e.data.extra["summary"],
        "Shipping question, answered by Sam"
    );
    assert_eq!(e.extra["api_version"], "2025-01");

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationClosed);
    // 15:02:10.481 at +05:30.
    assert_eq!(n.occurred_at, at(1741944730, 481));
    assert_eq!(n.ids.tenant.as_deref(), Some("ten_5531"));
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_01HQZ9TT0B"));
    assert_eq!(n.ids.contact.as_deref(), Some("88213"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.status.as_deref(), Some("closed"));
    assert_eq!(conv.channel, Some(Channel::Web));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Tomás Herrera"));
    assert_eq!(c.phones, ["5215512345678"]);
    assert_eq!(n.attributes["message_count"], 6);
}

#[test]
fn lead_captured() {
    let ev = parse("lead_captured.json");
    assert!(matches!(ev, SamEvent::LeadCaptured(_)));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::LeadCaptured);
    assert_eq!(n.occurred_at, at(1741944667, 0));
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_01HQZ8K2M4"));
    assert_eq!(n.ids.contact.as_deref(), Some("lead_2bd4e0"));
    let c = n.contact.unwrap();
    assert_eq!(c.id.as_deref(), Some("lead_2bd4e0"));
    assert_eq!(c.name.as_deref(), Some("Priya Nair"));
    assert_eq!(c.emails, ["priya.nair@example.in"]);
    assert_eq!(c.phones, ["+91 98200 11223"]);
    assert_eq!(c.custom_fields["company"], "Nair Orthodontics");
    assert_eq!(
        c.custom_fields["notes"],
        "Wants a quote for 3 aligner cases"
    );
}

#[test]
fn lead_captured_messy() {
    let ev = parse("lead_captured_messy.json");
    let SamEvent::LeadCaptured(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.widget_id, None, "\"\" is not set");
    assert_eq!(e.data.email, None, "\"\" is not set");
    assert_eq!(e.data.extra["consent"]["marketing"], true);
    assert_eq!(e.data.extra["source"], "exit-intent");
    assert_eq!(e.extra["attempt"], 2);
    // A local time without offset keeps its text but denotes no instant.
    let ts = e.timestamp.as_ref().unwrap();
    assert_eq!(
        (ts.instant, ts.original.as_str()),
        (None, "2025-03-14T09:31:07")
    );

    let n = ev.normalize();
    assert_eq!(n.occurred_at, None);
    assert_eq!(n.ids.widget, None);
    let c = n.contact.unwrap();
    assert_eq!(
        c.id.as_deref(),
        Some("99017"),
        "the lead id wins over the visitor id"
    );
    assert_eq!(c.name.as_deref(), Some("Jonas Lindqvist"));
    assert_eq!(
        c.emails,
        ["jonas@lindqvist.se"],
        "falls back to the visitor's email"
    );
    assert_eq!(c.phones, ["46701234567"]);
    assert!(!c.custom_fields.contains_key("notes"));
}

#[test]
fn callback_requested() {
    let ev = parse("callback_requested.json");
    let SamEvent::CallbackRequested(e) = &ev else {
        panic!("wrong variant")
    };
    let pt = e.data.preferred_time.as_ref().unwrap();
    assert_eq!(
        (pt.instant, pt.original.as_str()),
        (None, "Tomorrow after 3pm")
    );

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::CallbackRequested);
    assert_eq!(n.occurred_at, at(1741995900, 0));
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_01HR0A7YQE"));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Marcus Webb"));
    assert_eq!(c.phones, ["+1 (617) 555-0142"]);
    assert_eq!(c.emails, ["marcus.webb@example.com"]);
    assert_eq!(
        n.attributes["callback_preferred_time"],
        "Tomorrow after 3pm"
    );
    assert_eq!(n.attributes["callback_timezone"], "America/New_York");
    assert_eq!(n.attributes["callback_reason"], "outside_working_hours");
    assert_eq!(n.attributes["callback_id"], "cb_5511");
}

#[test]
fn handover_requested() {
    let ev = parse("handover_requested.json");
    let SamEvent::HandoverRequested(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.status, Some(SamStatus::Escalated));
    assert_eq!(e.data.extra["wait_threshold_seconds"], 120);

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::HandoverRequested);
    assert_eq!(n.occurred_at, at(1741946564, 120));
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_01HQZ8K2M4"));
    assert_eq!(n.ids.contact.as_deref(), Some("vis_7c1e"));
    assert_eq!(n.ids.message.as_deref(), Some("msg_014"));
    assert_eq!(n.conversation.unwrap().status.as_deref(), Some("escalated"));
    assert_eq!(n.attributes["handover_reason"], "visitor_requested_human");
    let m = n.message.unwrap();
    assert_eq!(
        m.text.as_deref(),
        Some("Can I talk to a real person please?")
    );
    assert_eq!(m.direction, Some(Direction::Inbound));
}

#[test]
fn unknown_event_is_lossless() {
    let body = fixture("unknown_event.json");
    let ev = SamEvent::from_slice(&body).unwrap();
    let SamEvent::Unknown { name, raw } = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(name, "widget.published");
    assert_eq!(raw.get().as_bytes(), body.trim_ascii());
    assert_eq!(ev.name(), "widget.published");
    assert_eq!(ev.event_id(), None);
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::Other("widget.published".into()));
    assert_eq!(n.ids, Default::default());
}

#[test]
fn errors_carry_the_json_path() {
    let err = SamEvent::from_slice(
        br#"{"event":"lead.captured","data":{"name":"A","visitor":{"email":["x"]}}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "data.visitor.email");
    assert!(!err.syntax);
    let err = SamEvent::from_slice(br#"{"event":"conversation.closed","tenant_id":{"a":1}}"#)
        .unwrap_err();
    assert_eq!(err.path, "tenant_id");
    let err = SamEvent::from_slice(br#"{"event":"lead.captured","data":[1]}"#).unwrap_err();
    assert_eq!(err.path, "data");
    let err = SamEvent::from_slice(br#"{"event":12}"#).unwrap_err();
    assert_eq!(err.path, "event");
    let err = SamEvent::from_slice(br#"{"event":"lead.captured","#).unwrap_err();
    assert!(err.syntax);
    assert!(SamEvent::from_slice(b"[]").is_err());
    assert_eq!(
        chathooks::Error::from(err).status(),
        http::StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[test]
fn dedupe_keys() {
    let body = fixture("lead_captured.json");
    let ev = SamEvent::from_slice(&body).unwrap();
    let verified = Verified::new("hmac-sha256", &body);
    let id = ev.event_id();
    assert_eq!(
        platform::dedupe_key("sam", &verified, id.as_deref())
            .unwrap()
            .as_str(),
        "sam/ev:lead.captured:lead_2bd4e0@2025-03-14T09:31:07Z"
    );
    let with_id = br#"{"event":"lead.captured","event_id":"evt_1","data":{"id":"l"}}"#;
    let ev = SamEvent::from_slice(with_id).unwrap();
    assert_eq!(ev.event_id().as_deref(), Some("evt_1"));
    // No data id: the body hash.
    let body = fixture("conversation_started_no_data.json");
    let ev = SamEvent::from_slice(&body).unwrap();
    let key = platform::dedupe_key("sam", &Verified::new("x", &body), None).unwrap();
    assert_eq!(ev.event_id(), None);
    // The exact key, computed independently (a constant or truncated hash must fail).
    let want = format!(
        "sam/sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
    );
    assert_eq!(key.as_str(), want);
}

/// The module's old name still works for one release (deprecated, same items).
#[test]
#[allow(deprecated)]
fn deprecated_vendor_alias_still_resolves() {
    use chathooks::vendor::sam::SamEvent as OldName;
    let body = br#"{"event":"lead.captured","data":{"email":"ana@example.com"}}"#;
    let old: OldName = OldName::from_slice(body).unwrap();
    let new: chathooks::platform::sam::SamEvent = old;
    assert_eq!(new.name(), "lead.captured");
}
