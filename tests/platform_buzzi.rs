//! Buzzi: every event name from the spec, the schema doc and the shipped UI code parses to its
//! variant and normalises; errors carry paths; unknown is lossless.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{Channel, Direction, EventKind, Vendor};
use chathooks::platform::buzzi::{
    BuzziChannel, BuzziConversationStatus, BuzziEscalationPriority, BuzziEscalationStatus,
    BuzziEvent, BuzziMessageRole, BuzziMessageType, BuzziResolutionType,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/buzzi/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> BuzziEvent {
    BuzziEvent::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn at(secs: u64, millis: u64) -> Option<std::time::SystemTime> {
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

const COMPANY: &str = "acme0000-aaaa-4bbb-8ccc-dddd00000001";
const CHATBOT: &str = "c0ffee00-1111-4222-8333-444455556666";

#[test]
fn conversation_created() {
    let ev = parse("conversation_created.json");
    let BuzziEvent::ConversationCreated(e) = &ev else {
        panic!("wrong variant: {ev:?}")
    };
    assert_eq!(e.data.channel, Some(BuzziChannel::WhatsApp));
    assert_eq!(e.data.status, Some(BuzziConversationStatus::Active));
    assert_eq!(e.data.page_url, None);

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationStarted);
    assert_eq!(n.vendor, Vendor::Buzzi);
    assert_eq!(n.name, "conversation.created");
    assert_eq!(n.occurred_at, at(1768205730, 512));
    assert_eq!(
        n.ids.event.as_deref(),
        Some("9b1f6c2e-3d4a-4e8b-a1c2-5f6e7d8c9b0a")
    );
    assert_eq!(n.ids.tenant.as_deref(), Some(COMPANY));
    assert_eq!(n.ids.widget.as_deref(), Some(CHATBOT));
    assert_eq!(
        n.ids.conversation.as_deref(),
        Some("5d2c1b0a-9e8f-4d7c-b6a5-948372615041")
    );
    assert_eq!(
        n.ids.contact.as_deref(),
        Some("e1d2c3b4-a5f6-4789-90ab-cdef01234567")
    );
    let conv = n.conversation.unwrap();
    assert_eq!(conv.channel, Some(Channel::WhatsApp));
    assert_eq!(conv.status.as_deref(), Some("active"));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Aisha Bello"));
    assert_eq!(c.phones, ["+2348031234567"]);
    assert_eq!(c.labels, ["pricing", "new-customer"]);
    let loc = c.location.unwrap();
    assert_eq!(
        (loc.city.as_deref(), loc.country.as_deref()),
        (Some("Lagos"), Some("NG"))
    );
    assert_eq!(c.custom_fields["plan"], "trial");
}

#[test]
fn conversation_updated_type_and_camel_case() {
    let ev = parse("conversation_updated.json");
    let BuzziEvent::ConversationUpdated(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.event, None);
    assert_eq!(e.event_type.as_deref(), Some("conversation.updated"));
    assert_eq!(e.data.message_count, Some(7));
    assert_eq!(e.data.extra["lastMessageAt"], "2026-01-12T08:19:58Z");

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationUpdated);
    assert_eq!(n.name, "conversation.updated");
    assert_eq!(n.occurred_at, at(1768206000, 0), "from createdAt");
    assert_eq!(n.ids.event, None);
    assert_eq!(
        n.ids.tenant.as_deref(),
        Some(COMPANY),
        "from data.companyId"
    );
    assert_eq!(n.ids.widget.as_deref(), Some(CHATBOT));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.status.as_deref(), Some("with_human"));
    assert_eq!(
        conv.channel,
        Some(Channel::WhatsApp),
        "\"WhatsApp\" matches any case"
    );
    assert_eq!(conv.assignee.as_deref(), Some("u-0042"));
}

#[test]
fn conversation_closed_epoch_seconds() {
    let ev = parse("conversation_closed.json");
    let BuzziEvent::ConversationClosed(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.resolution_type, Some(BuzziResolutionType::Ai));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationClosed);
    assert_eq!(n.occurred_at, at(1768206600, 0));
    assert_eq!(n.ids.conversation.as_deref(), Some("71aa"));
    assert_eq!(n.conversation.unwrap().channel, Some(Channel::Web));
    assert_eq!(n.attributes["resolution_type"], "ai");
    assert_eq!(n.attributes["satisfaction_rating"], 5.0);
    let c = n.contact.unwrap();
    assert_eq!(c.emails, ["k.tanaka@example.jp"]);
    assert_eq!(c.location.unwrap().ip.as_deref(), Some("203.0.113.9"));
}

#[test]
fn conversation_resolved() {
    let ev = parse("conversation_resolved.json");
    let BuzziEvent::ConversationResolved(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.sentiment, Some(35));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationClosed);
    assert_eq!(n.name, "conversation.resolved");
    assert_eq!(n.occurred_at, at(1768207512, 0));
    assert_eq!(n.ids.widget.as_deref(), Some(CHATBOT));
    assert_eq!(n.ids.contact.as_deref(), Some("eu-31"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.channel, Some(Channel::Telegram));
    assert_eq!(conv.assignee.as_deref(), Some("u-0042"));
    assert_eq!(n.attributes["resolution_type"], "human");
}

#[test]
fn conversation_escalated() {
    let ev = parse("conversation_escalated.json");
    let BuzziEvent::ConversationEscalated(e) = &ev else {
        panic!("wrong variant")
    };
    let esc = e.data.escalation.as_ref().unwrap();
    assert_eq!(esc.priority, Some(BuzziEscalationPriority::High));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::HandoverRequested);
    assert_eq!(n.ids.tenant.as_deref(), Some(COMPANY));
    assert_eq!(n.ids.conversation.as_deref(), Some("c-778"));
    assert_eq!(n.ids.contact.as_deref(), Some("eu-77"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.status.as_deref(), Some("waiting_human"));
    assert_eq!(conv.channel, Some(Channel::Instagram));
    assert_eq!(n.contact.unwrap().name.as_deref(), Some("Léa Moreau"));
    assert_eq!(n.attributes["escalation_id"], "esc-501");
    assert_eq!(n.attributes["escalation_priority"], "high");
    assert_eq!(n.attributes["escalation_trigger"], "keyword");
    assert_eq!(
        n.attributes["handover_reason"],
        "Customer asked for a refund over the AI limit"
    );
}

#[test]
fn message_received_with_attachments() {
    let ev = parse("message_received.json");
    let BuzziEvent::MessageReceived(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.message_type, Some(BuzziMessageType::Image));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    assert_eq!(
        n.ids.conversation.as_deref(),
        Some("5d2c1b0a-9e8f-4d7c-b6a5-948372615041")
    );
    assert_eq!(n.ids.message.as_deref(), Some("m-1001"));
    assert_eq!(
        n.ids.contact.as_deref(),
        Some("e1d2c3b4-a5f6-4789-90ab-cdef01234567")
    );
    let m = n.message.unwrap();
    assert_eq!(m.text.as_deref(), Some("Here is the error I get"));
    assert_eq!(m.message_type.as_deref(), Some("image"));
    assert_eq!(m.channel, Some(Channel::WhatsApp));
    assert_eq!(m.direction, Some(Direction::Inbound));
    assert_eq!(
        m.sender.as_deref(),
        Some("e1d2c3b4-a5f6-4789-90ab-cdef01234567")
    );
    assert_eq!(m.sent_at, at(1768205730, 900));
    assert_eq!(m.attachments.len(), 2);
    assert_eq!(m.attachments[0].mime_type.as_deref(), Some("image/png"));
    assert_eq!(m.attachments[0].name.as_deref(), Some("err.png"));
    assert_eq!(
        m.attachments[1].url.as_deref(),
        Some("https://cdn.example.com/u/log.txt")
    );
    assert_eq!(n.contact.unwrap().phones, ["+2348031234567"]);
}

#[test]
fn message_sent() {
    let ev = parse("message_sent.json");
    let BuzziEvent::MessageSent(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.role, Some(BuzziMessageRole::Assistant));
    assert_eq!(e.data.extra["token_count"], 42);
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageSent);
    let m = n.message.unwrap();
    assert_eq!(m.direction, Some(Direction::Outbound));
    assert_eq!(m.message_type.as_deref(), Some("text"));
    assert_eq!(n.attributes["message_role"], "assistant");
}

#[test]
fn message_created_by_a_human_agent() {
    let ev = parse("message_created.json");
    let BuzziEvent::MessageCreated(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.role, Some(BuzziMessageRole::HumanAgent));
    assert_eq!(e.data.extra["agentDetails"]["agentName"], "Sam Okafor");
    let n = ev.normalize();
    assert_eq!(
        n.kind,
        EventKind::MessageSent,
        "role decides for message.created"
    );
    assert_eq!(n.name, "message.created");
    assert_eq!(n.occurred_at, at(1768215600, 0));
    assert_eq!(n.ids.conversation.as_deref(), Some("c-778"));
    let m = n.message.unwrap();
    assert_eq!(m.direction, Some(Direction::Outbound));
    assert_eq!(m.sender.as_deref(), Some("u-0042"));
    assert_eq!(
        m.channel,
        Some(Channel::Instagram),
        "from the nested conversation"
    );
    assert_eq!(
        n.conversation.unwrap().status.as_deref(),
        Some("with_human")
    );
}

#[test]
fn message_created_by_the_system_has_no_direction() {
    let ev = parse("message_created_system.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::Other("message.created".into()));
    let m = n.message.unwrap();
    assert_eq!(m.direction, None);
    assert_eq!(m.message_type.as_deref(), Some("system_event"));
    assert_eq!(
        m.text.as_deref(),
        Some("Sam Okafor joined the conversation")
    );
}

#[test]
fn escalation_triggered() {
    let ev = parse("escalation_triggered.json");
    let BuzziEvent::EscalationTriggered(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.status, Some(BuzziEscalationStatus::Pending));
    assert_eq!(e.data.returned_to_ai, Some(false), "\"false\" is a boolean");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::HandoverRequested);
    assert_eq!(n.ids.conversation.as_deref(), Some("c-778"));
    assert_eq!(n.ids.contact.as_deref(), Some("eu-77"));
    assert_eq!(n.contact.unwrap().emails, ["lea.moreau@example.fr"]);
    assert_eq!(n.attributes["escalation_status"], "pending");
    assert_eq!(n.attributes["escalation_priority"], "high");
}

#[test]
fn escalation_created_with_unknown_status() {
    let ev = parse("escalation_created.json");
    let BuzziEvent::EscalationCreated(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(
        e.data.status,
        Some(BuzziEscalationStatus::Other("SNOOZED".into()))
    );
    assert_eq!(e.data.priority, Some(BuzziEscalationPriority::Urgent));
    assert_eq!(e.data.wait_time, Some(45));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::HandoverRequested);
    assert_eq!(n.ids.conversation.as_deref(), Some("c-990"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.channel, Some(Channel::Other("line".into())));
    assert_eq!(conv.assignee.as_deref(), Some("u-0007"));
    assert_eq!(n.attributes["escalation_status"], "SNOOZED");
    assert_eq!(n.attributes["escalation_priority"], "urgent");
}

#[test]
fn feedback_received() {
    let ev = parse("feedback_received.json");
    let BuzziEvent::FeedbackReceived(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.score(), Some(4.0));
    assert_eq!(e.data.extra["thumbs"], "up");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::FeedbackReceived);
    assert_eq!(n.occurred_at, at(1768206660, 0));
    assert_eq!(n.ids.conversation.as_deref(), Some("71aa"));
    assert_eq!(n.ids.message.as_deref(), Some("m-1002"));
    assert_eq!(n.ids.contact.as_deref(), Some("eu-9"));
    assert_eq!(n.attributes["feedback_rating"], 4.0);
    assert_eq!(
        n.attributes["feedback_comment"],
        "Quick and helpful, but the first answer was off."
    );
}

#[test]
fn unknown_event_is_lossless() {
    let body = fixture("unknown_event.json");
    let ev = BuzziEvent::from_slice(&body).unwrap();
    let BuzziEvent::Unknown { name, raw } = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(name, "webhook.test");
    assert_eq!(raw.get().as_bytes(), body.trim_ascii());
    assert_eq!(ev.normalize().kind, EventKind::Other("webhook.test".into()));
    // No name at all is unknown too, not an error.
    let ev = BuzziEvent::from_slice(br#"{"data":{}}"#).unwrap();
    assert!(matches!(ev, BuzziEvent::Unknown { ref name, .. } if name.is_empty()));
}

#[test]
fn errors_carry_the_json_path() {
    let err = BuzziEvent::from_slice(
        br#"{"event":"message.sent","data":{"role":"user","attachments":{"a":1}}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "data.attachments");
    let err = BuzziEvent::from_slice(br#"{"event":"feedback.received","data":{"rating":"great"}}"#)
        .unwrap_err();
    assert_eq!(err.path, "data.rating");
    let err = BuzziEvent::from_slice(
        br#"{"type":"conversation.escalated","data":{"escalation":{"priority":["high"]}}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "data.escalation.priority");
}
