//! SaleSmartly: fixtures parse to the right variant and normalise as documented.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{Channel, Direction, EventKind, Vendor};
use chathooks::platform::salesmartly::{
    Customer, MessageKind, SaleSmartlyChannel, SaleSmartlyEvent, SaleSmartlyMessage, SenderType,
};
use chathooks::platform::VendorEvent;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::platform_saleassist::arb_json;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../fixtures/salesmartly/", $name, ".json")).as_slice()
    };
}

fn message(body: &[u8]) -> Box<SaleSmartlyMessage> {
    match SaleSmartlyEvent::from_slice(body).expect("parses") {
        SaleSmartlyEvent::Message(m) => m,
        other => panic!("expected message, got {other:?}"),
    }
}

fn ms(v: u64) -> Option<std::time::SystemTime> {
    Some(UNIX_EPOCH + Duration::from_millis(v))
}

#[test]
fn text_message_parses_and_normalises() {
    let body = fixture!("message_text");
    let m = message(body);
    assert_eq!(m.msg_type, Some(MessageKind::Text));
    assert_eq!(m.sequence_id.as_deref(), Some("1695787977126000"));
    assert_eq!(m.chat_session_id.as_deref(), Some("130925"));
    assert_eq!(m.channel, Some(SaleSmartlyChannel::WhatsAppApi));
    assert_eq!(m.sender_type, Some(SenderType::Customer));
    assert_eq!(m.assigned_agent(), Some(1024));
    assert_eq!(m.text(), Some("How much is the 30mg pack?"));
    assert!(m.quote_chat.is_none(), "\"\" is not set");
    assert_eq!(m.send_time.as_ref().unwrap().instant, ms(1695787977082));

    let event = SaleSmartlyEvent::from_slice(body).unwrap();
    assert_eq!(event.event_id().as_deref(), Some("130925:1695787977126000"));
    let e = event.normalize();
    assert_eq!(e.kind, EventKind::MessageReceived);
    assert_eq!(e.vendor, Vendor::SaleSmartly);
    assert_eq!(e.name, "message");
    assert_eq!(e.occurred_at, ms(1695787977082));
    assert_eq!(e.ids.event.as_deref(), Some("130925:1695787977126000"));
    assert_eq!(e.ids.message.as_deref(), Some("1695787977126000"));
    assert_eq!(e.ids.conversation.as_deref(), Some("130925"));
    assert_eq!(e.ids.contact.as_deref(), Some("65094291e106072b7e40ff21"));
    let msg = e.message.unwrap();
    assert_eq!(msg.text.as_deref(), Some("How much is the 30mg pack?"));
    assert_eq!(msg.message_type.as_deref(), Some("text"));
    assert_eq!(msg.channel, Some(Channel::WhatsApp));
    assert_eq!(msg.direction, Some(Direction::Inbound));
    assert_eq!(msg.sender.as_deref(), Some("65094291e106072b7e40ff21"));
    assert_eq!(msg.sent_at, ms(1695787977082));
    let conv = e.conversation.unwrap();
    assert_eq!(conv.assignee.as_deref(), Some("1024"));
    assert_eq!(e.attributes["channel_uid"], json!("8613800138000"));
}

#[test]
fn unofficial_sample_types() {
    let m = message(fixture!("message_text_unofficial"));
    assert_eq!(m.sequence_id.as_deref(), Some("1695787977126000"));
    assert_eq!(
        m.chat_session_id.as_deref(),
        Some("130925"),
        "int session id"
    );
    assert_eq!(m.sender_type, Some(SenderType::Customer), "int sender_type");
    assert_eq!(m.sys_user_id, Some(0));
    assert_eq!(m.assigned_agent(), None, "0 = unassigned");
    assert_eq!(m.channel, Some(SaleSmartlyChannel::Messenger));
    assert_eq!(m.channel_name.as_deref(), Some("Messenger Page Name"));
    assert_eq!(
        m.chat_session_encrypt_id.as_deref(),
        Some("optional_encrypted_id")
    );
    let e = SaleSmartlyEvent::from_slice(fixture!("message_text_unofficial"))
        .unwrap()
        .normalize();
    assert_eq!(e.message.unwrap().channel, Some(Channel::Messenger));
    assert_eq!(e.conversation.unwrap().assignee, None);
}

#[test]
fn button_image_file_email_messages() {
    let m = message(fixture!("message_button"));
    assert_eq!(m.msg_type, Some(MessageKind::Button));
    assert_eq!(m.channel, Some(SaleSmartlyChannel::Line));
    let e = SaleSmartlyEvent::from_slice(fixture!("message_button"))
        .unwrap()
        .normalize();
    let msg = e.message.unwrap();
    assert_eq!(msg.text.as_deref(), Some("Talk to sales"));
    assert_eq!(
        (msg.message_type.as_deref(), msg.channel),
        (Some("button"), Some(Channel::Line))
    );

    let e = SaleSmartlyEvent::from_slice(fixture!("message_image"))
        .unwrap()
        .normalize();
    let msg = e.message.unwrap();
    assert_eq!(msg.channel, Some(Channel::Web));
    assert_eq!(msg.text, None);
    assert_eq!(msg.attachments.len(), 1);
    assert_eq!(msg.attachments[0].kind.as_deref(), Some("image"));
    assert_eq!(
        msg.attachments[0].url.as_deref(),
        Some("https://cdn.salesmartly.com/chat/2023/09/27/abc123.jpg")
    );

    let m = message(fixture!("message_file"));
    assert_eq!(m.msg_type, Some(MessageKind::File));
    assert_eq!(m.channel, Some(SaleSmartlyChannel::TelegramApp));
    assert_eq!(m.msg.as_ref().unwrap()["name"], json!("quote.pdf"));
    let e = SaleSmartlyEvent::from_slice(fixture!("message_file"))
        .unwrap()
        .normalize();
    let msg = e.message.unwrap();
    assert_eq!(msg.channel, Some(Channel::Telegram));
    assert_eq!(
        msg.attachments[0].url.as_deref(),
        Some("https://cdn.salesmartly.com/chat/2023/09/27/quote.pdf")
    );

    let m = message(fixture!("message_email"));
    assert_eq!(m.msg_type, Some(MessageKind::Email));
    let e = SaleSmartlyEvent::from_slice(fixture!("message_email"))
        .unwrap()
        .normalize();
    let msg = e.message.unwrap();
    assert_eq!(msg.channel, Some(Channel::Email));
    assert_eq!(msg.text.as_deref(), Some("Hello, please send the invoice."));
}

#[test]
fn agent_message_with_unknown_type_and_channel() {
    let body = fixture!("message_agent_unknown_type");
    let m = message(body);
    assert_eq!(m.msg_type, Some(MessageKind::Other("sticker".into())));
    assert_eq!(m.channel, Some(SaleSmartlyChannel::Other(14)));
    assert_eq!(m.sender_type, Some(SenderType::Member));
    assert_eq!(m.sys_user_id, Some(-1));
    assert_eq!(m.assigned_agent(), None, "negative = bot/unassigned");
    // `mid` (the n8n trigger payload's message id) is typed; `sequence_id` still wins.
    assert_eq!(m.mid.as_deref(), Some("m_abc"));
    assert_eq!(m.message_id(), Some("1695788000005000"));
    let e = SaleSmartlyEvent::from_slice(body).unwrap().normalize();
    assert_eq!(e.kind, EventKind::MessageSent);
    let msg = e.message.unwrap();
    assert_eq!(msg.direction, Some(Direction::Outbound));
    assert_eq!(msg.channel, Some(Channel::Other("14".into())));
    assert_eq!(msg.message_type.as_deref(), Some("sticker"));
    assert_eq!(msg.text, None);
}

#[test]
fn data_as_a_json_string() {
    let m = message(fixture!("message_data_as_string"));
    assert_eq!(m.msg_type, Some(MessageKind::Text));
    assert_eq!(m.text(), Some("Is shipping free?"));
    assert_eq!(m.sequence_id.as_deref(), Some("1695788000006000"));
}

#[test]
fn every_documented_channel_code() {
    let all = [
        (1, Channel::Messenger),
        (2, Channel::Web),
        (3, Channel::Email),
        (4, Channel::Telegram),
        (5, Channel::Instagram),
        (6, Channel::Line),
        (7, Channel::WhatsApp),
        (8, Channel::FacebookComments),
        (10, Channel::Slack),
        (11, Channel::WeCom),
        (12, Channel::WhatsApp),
        (13, Channel::InstagramComments),
        (15, Channel::Telegram),
        (16, Channel::TikTok),
        (17, Channel::TikTokComments),
        (18, Channel::VKontakte),
    ];
    for (code, channel) in all {
        let c = SaleSmartlyChannel::from_code(code);
        assert!(!matches!(c, SaleSmartlyChannel::Other(_)), "{code}");
        assert_eq!(c.code(), code);
        assert_eq!(c.channel(), channel, "{code}");
    }
    for code in [0, 9, 14, 19, -3] {
        assert_eq!(
            SaleSmartlyChannel::from_code(code),
            SaleSmartlyChannel::Other(code)
        );
    }
}

fn customer(body: &[u8]) -> (bool, Box<Customer>) {
    match SaleSmartlyEvent::from_slice(body).expect("parses") {
        SaleSmartlyEvent::AddUser(c) => (true, c),
        SaleSmartlyEvent::UpdateUser(c) => (false, c),
        other => panic!("expected a customer event, got {other:?}"),
    }
}

#[test]
fn add_user_parses_and_normalises() {
    let body = fixture!("add_user");
    let (added, c) = customer(body);
    assert!(added);
    assert_eq!(c.name.as_deref(), Some("Nguyen Van An"));
    assert_eq!(c.channel, Some(SaleSmartlyChannel::WhatsApp));
    let labels = c.labels.as_ref().unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[0].id.as_deref(), Some("36577"));
    assert_eq!(labels[0].label_name.as_deref(), Some("3"));
    let cf = c.custom_field.as_ref().unwrap();
    assert_eq!(cf["custom_field1"], json!(36577));
    assert_eq!(cf["custom_field2"], json!([36577, 36566]));
    let ad = c.ad_referral.as_ref().unwrap();
    assert_eq!(
        (ad.ad_id.as_deref(), ad.ad_title.as_deref()),
        (Some("123"), Some("title"))
    );

    let event = SaleSmartlyEvent::from_slice(body).unwrap();
    assert_eq!(
        event.event_id(),
        None,
        "customer events have no id: body hash dedupe"
    );
    let e = event.normalize();
    assert_eq!(e.kind, EventKind::CustomerCreated);
    assert_eq!(e.name, "add_user");
    assert_eq!(e.ids.contact.as_deref(), Some("65094291e106072b7e40ff21"));
    let contact = e.contact.unwrap();
    assert_eq!(contact.id.as_deref(), Some("65094291e106072b7e40ff21"));
    assert_eq!(contact.name.as_deref(), Some("Nguyen Van An"));
    assert_eq!(contact.phones, ["+84901234567"]);
    assert_eq!(contact.emails, ["an.nguyen@example.vn"]);
    assert_eq!(contact.labels, ["3", "wholesale"]);
    assert_eq!(
        contact.custom_fields["custom_field2"],
        json!([36577, 36566])
    );
    assert_eq!(
        contact.custom_fields["remark"],
        json!("Asked for bulk pricing")
    );
    assert_eq!(contact.custom_fields["remark_name"], json!("An (VIP)"));
    assert_eq!(
        contact.custom_fields["ad_referral"],
        json!({"ad_id": "123", "ad_title": "title"})
    );
    assert_eq!(e.attributes["channel"], json!(12));
}

#[test]
fn update_user_with_partial_custom_field() {
    let body = fixture!("update_user");
    let (added, c) = customer(body);
    assert!(!added);
    assert_eq!(
        c.channel,
        Some(SaleSmartlyChannel::WhatsApp),
        "\"12\" as a string"
    );
    assert_eq!(c.labels.as_deref(), Some(&[][..]));
    assert!(c.email.is_none() && c.remark_name.is_none() && c.ad_referral.is_none());
    let cf = c.custom_field.as_ref().unwrap();
    assert_eq!(cf.len(), 1, "only the changed field");
    assert_eq!(cf["custom_field2"], json!([36566]));
    assert_eq!(c.sys_user_id, Some(0));
    let e = SaleSmartlyEvent::from_slice(body).unwrap().normalize();
    assert_eq!(e.kind, EventKind::CustomerUpdated);
    let contact = e.contact.unwrap();
    assert!(contact.emails.is_empty());
    assert_eq!(
        contact.custom_fields["remark"],
        json!("Bulk order confirmed")
    );
    assert!(!contact.custom_fields.contains_key("custom_field1"));
}

#[test]
fn unknown_event_keeps_the_signed_content_losslessly() {
    let body = fixture!("unknown_event");
    let event = SaleSmartlyEvent::from_slice(body).unwrap();
    let SaleSmartlyEvent::Unknown { name, raw } = &event else {
        panic!("{event:?}")
    };
    assert_eq!(name, "session_closed");
    // `event` and `data` (byte for byte), the only signed parts of the body.
    let text = std::str::from_utf8(body).unwrap();
    let data = &text[text.find("{\n    \"chat").unwrap()..text.rfind('}').unwrap()];
    let data = data.trim_end();
    assert_eq!(
        raw.get(),
        format!(r#"{{"event":"session_closed","data":{data}}}"#)
    );
    assert_eq!(
        event.normalize().kind,
        EventKind::Other("session_closed".into())
    );
    assert_eq!(event.event_id(), None);
}

#[test]
fn errors_carry_the_json_path() {
    let mut v: Value = serde_json::from_slice(fixture!("message_text")).unwrap();
    v["data"]["sequence_id"] = json!([1]);
    let err = SaleSmartlyEvent::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(err.path, "data.sequence_id");

    // Inside a string-encoded `data` too.
    let inner = json!({"msg_type": "text", "sender_type": "customer"}).to_string();
    let body = json!({"event": "message", "data": inner});
    let err = SaleSmartlyEvent::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(err.path, "data.sender_type");

    let body = json!({"event": "add_user", "data": {"labels": "[{broken"}});
    let err = SaleSmartlyEvent::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(err.path, "data.labels");

    let err = SaleSmartlyEvent::from_slice(br#"{"data":{}}"#).unwrap_err();
    assert_eq!(err.path, "event");
    let err = SaleSmartlyEvent::from_slice(br#"{"event":"message"}"#).unwrap_err();
    assert_eq!(err.path, "data");
    let err = SaleSmartlyEvent::from_slice(br#"{"event":"message","data":"nope"}"#).unwrap_err();
    assert_eq!(err.path, "data");
}

#[test]
fn vendor_event_trait() {
    let e = <SaleSmartlyEvent as VendorEvent>::from_slice(fixture!("add_user")).unwrap();
    assert_eq!(VendorEvent::name(&e), "add_user");
    assert_eq!(SaleSmartlyEvent::VENDOR, Vendor::SaleSmartly);
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let _ = SaleSmartlyEvent::from_slice(&serde_json::to_vec(&v).unwrap()).map(|e| e.normalize());
    }

    #[test]
    fn arbitrary_data_never_panics(data in arb_json(), event in 0usize..4, as_string in any::<bool>()) {
        let name = ["message", "add_user", "update_user", "other"][event];
        let data = if as_string { Value::String(data.to_string()) } else { data };
        let body = json!({"event": name, "data": data});
        if let Ok(e) = SaleSmartlyEvent::from_slice(&serde_json::to_vec(&body).unwrap()) {
            let _ = (e.normalize(), e.event_id());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SaleSmartlyEvent::from_slice(&bytes);
    }
}

#[test]
fn msg_type_spelled_as_in_the_vendor_headings() {
    let m = message(br#"{"event":"message","data":{"msgType":"button","msg":"Yes"}}"#);
    assert_eq!(m.msg_type, Some(MessageKind::Button));
}
