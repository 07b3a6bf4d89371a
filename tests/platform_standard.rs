//! Standard Webhooks generic payload `{type, timestamp, data}`.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{EventKind, Vendor};
use chathooks::platform;
use chathooks::platform::standard::StandardEvent;
use chathooks::Verified;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/standard/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> StandardEvent {
    StandardEvent::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn conversation_started() {
    let ev = parse("conversation_started.json");
    assert_eq!(ev.name(), "conversation.started");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationStarted);
    assert_eq!(n.vendor, Vendor::StandardWebhooks);
    assert_eq!(
        n.occurred_at,
        Some(UNIX_EPOCH + Duration::from_secs(1769940000))
    );
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_88"));
    assert_eq!(n.ids.tenant.as_deref(), Some("t_1"));
    assert_eq!(n.ids.widget.as_deref(), Some("w_2"));
    assert_eq!(n.ids.contact.as_deref(), Some("ct_9"));
    assert_eq!(n.ids.event, None);
}

#[test]
fn message_received_snake_name_and_camel_ids() {
    let n = parse("message_received.json").normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    assert_eq!(n.name, "message_received");
    assert_eq!(n.ids.message.as_deref(), Some("msg_1"));
    assert_eq!(n.ids.conversation.as_deref(), Some("conv_88"));
}

#[test]
fn lead_captured_epoch_timestamp_and_extra() {
    let ev = parse("lead_captured.json");
    assert_eq!(ev.extra["version"], "1");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::LeadCaptured);
    assert_eq!(
        n.occurred_at,
        Some(UNIX_EPOCH + Duration::from_secs(1769940000))
    );
    assert_eq!(n.ids.tenant.as_deref(), Some("42"));
}

#[test]
fn custom_type_keeps_data_exact() {
    let ev = parse("custom_type.json");
    assert_eq!(ev.event_type, "invoice.paid");
    // Raw data: the 20-digit number is not rounded through f64.
    assert_eq!(
        ev.data.as_ref().unwrap().get(),
        r#"{"id":"inv_1","amount":12345678901234567890,"lines":[{"sku":"A-1","qty":2}]}"#
    );
    assert_eq!(ev.normalize().kind, EventKind::Other("invoice.paid".into()));
    #[derive(serde::Deserialize)]
    struct Invoice {
        id: String,
        lines: Vec<Line>,
    }
    #[derive(serde::Deserialize)]
    struct Line {
        qty: u32,
    }
    let inv: Invoice = ev.data_as().unwrap();
    assert_eq!((inv.id.as_str(), inv.lines[0].qty), ("inv_1", 2));
    #[derive(Debug, serde::Deserialize)]
    struct Strict {
        #[allow(dead_code)]
        lines: Vec<StrictLine>,
    }
    #[derive(Debug, serde::Deserialize)]
    struct StrictLine {
        #[allow(dead_code)]
        qty: String,
    }
    let err = ev.data_as::<Strict>().unwrap_err();
    assert_eq!(err.path, "data.lines[0].qty");
}

#[test]
fn no_data() {
    let ev = parse("no_data.json");
    assert!(ev.data.is_none());
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::Other("ping".into()));
    assert_eq!(n.ids, Default::default());
}

#[test]
fn dedupe_uses_the_webhook_id_header() {
    let body = fixture("conversation_started.json");
    let ev = StandardEvent::from_slice(&body).unwrap();
    assert_eq!(ev.event_id(), None);
    let verified = Verified::new("standard-v1", &body).with_signed_delivery_id(Some("msg_2KWPBgL"));
    assert_eq!(
        platform::dedupe_key("standard", &verified, Some("evt_ignored"))
            .unwrap()
            .as_str(),
        "standard/id:msg_2KWPBgL"
    );
}

#[test]
fn errors_carry_the_json_path() {
    let err = StandardEvent::from_slice(br#"{"type":3}"#).unwrap_err();
    assert_eq!(err.path, "type");
    let err = StandardEvent::from_slice(br#"{"type":"a","timestamp":{}}"#).unwrap_err();
    assert_eq!(err.path, "timestamp");
    assert!(StandardEvent::from_slice(br#"["type"]"#).is_err());
    assert!(
        StandardEvent::from_slice(br#"{"type":"a""#)
            .unwrap_err()
            .syntax
    );
    // A missing type is not an error: it reads as "".
    let ev = StandardEvent::from_slice(br#"{"data":{"x":1}}"#).unwrap();
    assert_eq!(ev.name(), "");
}

/// A body listing thousands of emails and phones: the contact keeps the first
/// `MAX_CONTACT_VALUES` distinct ones (each one checked against a bounded list, so the work
/// stays linear; it was quadratic).
#[test]
fn contact_lists_are_bounded() {
    use chathooks::event::MAX_CONTACT_VALUES;
    let emails: Vec<String> = (0..20_000).map(|i| format!("p{i}@example.com")).collect();
    let phones: Vec<String> = (0..20_000).map(|i| format!("+1555{i:07}")).collect();
    let body = serde_json::json!({
        "type": "contact.created",
        "timestamp": "2023-11-14T22:13:20Z",
        "data": { "emails": emails, "phones": phones },
    });
    let n = StandardEvent::from_slice(body.to_string().as_bytes())
        .unwrap()
        .normalize();
    let c = n.contact.expect("a contact");
    assert_eq!(c.emails.len(), MAX_CONTACT_VALUES);
    assert_eq!(c.phones.len(), MAX_CONTACT_VALUES);
    assert_eq!(c.emails[..], emails[..MAX_CONTACT_VALUES]);
    assert_eq!(c.phones[0], "+15550000000");
}
