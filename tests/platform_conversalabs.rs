//! ConversaLabs: dot and snake names, enveloped and flat (Chatwoot) layouts, event ids,
//! payment and deal attributes; errors carry paths; unknown is lossless.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{Channel, Direction, EventKind, Vendor};
use chathooks::platform;
use chathooks::platform::conversalabs::{
    ConversaLabsConversationStatus, ConversaLabsDealStage, ConversaLabsEvent,
    ConversaLabsMessageType, ConversaLabsPaymentStatus,
};
use chathooks::Verified;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/conversalabs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> ConversaLabsEvent {
    ConversaLabsEvent::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn at(secs: u64, millis: u64) -> Option<std::time::SystemTime> {
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

#[test]
fn conversation_created_enveloped() {
    let ev = parse("conversation_created.json");
    let ConversaLabsEvent::ConversationCreated(e) = &ev else {
        panic!("wrong variant: {ev:?}")
    };
    assert!(!e.flat);
    assert_eq!(e.data.status, Some(ConversaLabsConversationStatus::Open));
    assert_eq!(
        ev.event_id().as_deref(),
        Some("evt_01JA7X3M9Q2V"),
        "envelope id"
    );

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationStarted);
    assert_eq!(n.vendor, Vendor::ConversaLabs);
    assert_eq!(n.occurred_at, at(1782576311, 0));
    assert_eq!(n.ids.event.as_deref(), Some("evt_01JA7X3M9Q2V"));
    assert_eq!(n.ids.tenant.as_deref(), Some("318"));
    assert_eq!(n.ids.widget.as_deref(), Some("27"));
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
    assert_eq!(n.ids.contact.as_deref(), Some("9921"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.status.as_deref(), Some("open"));
    assert_eq!(conv.channel, Some(Channel::WhatsApp));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Beatriz Souza"));
    assert_eq!(c.phones, ["+55 11 98765-4321"]);
    assert_eq!(c.emails, ["bia.souza@example.com.br"]);
    assert_eq!(c.labels, ["lead-quente"]);
    assert_eq!(c.location.unwrap().city.as_deref(), Some("São Paulo"));
    assert_eq!(c.custom_fields["cpf_verified"], true);
}

#[test]
fn conversation_updated_snake_case() {
    let ev = parse("conversation_updated.json");
    let ConversaLabsEvent::ConversationUpdated(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.event, "conversation_updated");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationUpdated);
    assert_eq!(n.occurred_at, at(1782577200, 0), "from occurred_at");
    assert_eq!(
        n.ids.event.as_deref(),
        Some("a7c1d0e2-55f3-4b1e-9a0a-3c2b1d4e5f60")
    );
    let conv = n.conversation.unwrap();
    assert_eq!(conv.status.as_deref(), Some("pending"));
    assert_eq!(conv.assignee.as_deref(), Some("12"));
    assert_eq!(n.contact.unwrap().custom_fields.len(), 0);
}

#[test]
fn conversation_status_changed_flat_chatwoot() {
    let body = fixture("conversation_status_changed.json");
    let ev = ConversaLabsEvent::from_slice(&body).unwrap();
    let ConversaLabsEvent::ConversationUpdated(e) = &ev else {
        panic!("wrong variant")
    };
    assert!(e.flat);
    assert_eq!(e.data.extra["contact_inbox"]["source_id"], "5511987654321");
    assert!(e.extra.is_empty(), "flat: unknown keys live in data.extra");
    // In the flat layout `id` is the conversation's id, not an event id.
    assert_eq!(ev.event_id(), None);
    let key = platform::dedupe_key("cl", &Verified::new("x", &body), None).unwrap();
    let want = format!(
        "cl/sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
    );
    assert_eq!(key.as_str(), want);

    let n = ev.normalize();
    assert_eq!(
        n.kind,
        EventKind::ConversationClosed,
        "status changed to resolved"
    );
    assert_eq!(
        n.occurred_at,
        at(1782598800, 0),
        "`timestamp` wins over `created_at`"
    );
    assert_eq!(n.ids.tenant.as_deref(), Some("318"), "from account.id");
    assert_eq!(n.ids.widget.as_deref(), Some("27"));
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
    assert_eq!(n.ids.contact.as_deref(), Some("9921"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.channel, Some(Channel::WhatsApp), "Channel::Whatsapp");
    assert_eq!(conv.assignee.as_deref(), Some("12"), "from meta.assignee");
    assert_eq!(conv.status.as_deref(), Some("resolved"));
    assert_eq!(n.contact.unwrap().phones, ["+5511987654321"]);
}

#[test]
fn conversation_resolved_any_case_with_delivery_id() {
    let ev = parse("conversation_resolved.json");
    let ConversaLabsEvent::ConversationResolved(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.event, "Conversation.Resolved");
    assert_eq!(ev.event_id().as_deref(), Some("dlv_000183"));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::ConversationClosed);
    assert_eq!(n.name, "Conversation.Resolved");
    assert_eq!(n.occurred_at, at(1782586800, 0));
    assert_eq!(n.ids.tenant.as_deref(), Some("318"), "from data.account_id");
    assert_eq!(n.ids.widget.as_deref(), Some("31"));
    let conv = n.conversation.unwrap();
    assert_eq!(conv.channel, Some(Channel::Web));
    assert_eq!(conv.assignee, None);
    assert_eq!(n.contact.unwrap().emails, ["carlos@mendes.dev"]);
}

#[test]
fn message_created_flat_incoming() {
    let ev = parse("message_created.json");
    let ConversaLabsEvent::MessageCreated(e) = &ev else {
        panic!("wrong variant")
    };
    assert!(e.flat);
    assert_eq!(e.data.message_type, Some(ConversaLabsMessageType::Incoming));
    assert_eq!(e.data.private, Some(false));
    assert_eq!(ev.event_id(), None, "771204 is the message id");

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    assert_eq!(n.occurred_at, at(1782576602, 311));
    assert_eq!(n.ids.tenant.as_deref(), Some("318"));
    assert_eq!(n.ids.widget.as_deref(), Some("27"));
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
    assert_eq!(n.ids.message.as_deref(), Some("771204"));
    assert_eq!(n.ids.contact.as_deref(), Some("9921"));
    let m = n.message.unwrap();
    assert_eq!(m.text.as_deref(), Some("Oi! Vocês aceitam PIX parcelado?"));
    assert_eq!(m.direction, Some(Direction::Inbound));
    assert_eq!(m.channel, Some(Channel::WhatsApp));
    assert_eq!(m.sender.as_deref(), Some("9921"));
    assert_eq!(m.message_type.as_deref(), Some("text"));
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].kind.as_deref(), Some("image"));
    assert_eq!(
        m.attachments[0].url.as_deref(),
        Some("https://cdn.conversalabs.example/a/5.jpg")
    );
    assert_eq!(n.contact.unwrap().name.as_deref(), Some("Beatriz Souza"));
}

#[test]
fn message_created_outgoing_numeric_type() {
    let ev = parse("message_created_outgoing.json");
    let ConversaLabsEvent::MessageCreated(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(
        e.data.message_type,
        Some(ConversaLabsMessageType::Outgoing),
        "1"
    );
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageSent);
    assert_eq!(n.ids.event.as_deref(), Some("evt_01JA7Y0000AA"));
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
    assert!(n.contact.is_none(), "the agent is not the contact");
    let m = n.message.unwrap();
    assert_eq!(m.direction, Some(Direction::Outbound));
    assert_eq!(m.sender.as_deref(), Some("12"));
}

#[test]
fn contact_created_flat() {
    let ev = parse("contact_created.json");
    assert!(matches!(ev, ConversaLabsEvent::ContactCreated(_)));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::CustomerCreated);
    assert_eq!(n.ids.contact.as_deref(), Some("10044"));
    assert_eq!(n.ids.tenant.as_deref(), Some("318"));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Carlos Mendes"));
    assert_eq!(c.emails, ["carlos@mendes.dev"]);
    assert!(c.phones.is_empty());
    assert_eq!(c.location.unwrap().city.as_deref(), Some("Recife"));
    assert_eq!(c.custom_fields["origem"], "instagram");
    assert_eq!(c.custom_fields["identifier"], "crm-58812");
}

#[test]
fn contact_updated_enveloped() {
    let ev = parse("contact_updated.json");
    assert!(matches!(ev, ConversaLabsEvent::ContactUpdated(_)));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::CustomerUpdated);
    assert_eq!(n.ids.event.as_deref(), Some("evt_01JA7Z"));
    let c = n.contact.unwrap();
    assert_eq!(c.name.as_deref(), Some("Beatriz Souza Alves"));
    assert_eq!(c.phones, ["11987654321"]);
    assert_eq!(c.custom_fields["plano"], "anual");
}

#[test]
fn payment_confirmed() {
    let ev = parse("payment_confirmed.json");
    let ConversaLabsEvent::PaymentConfirmed(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.status, Some(ConversaLabsPaymentStatus::Confirmed));
    assert_eq!(e.data.extra["installments"], 1);
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::PaymentConfirmed);
    assert_eq!(n.occurred_at, at(1782592925, 0));
    assert_eq!(n.ids.event.as_deref(), Some("evt_01JA8P4Y7ZK3"));
    assert_eq!(n.ids.tenant.as_deref(), Some("318"));
    assert_eq!(n.ids.contact.as_deref(), Some("9921"));
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
    assert_eq!(n.attributes["payment_id"], "pay_3fB9x21");
    assert_eq!(n.attributes["payment_amount"], 149.9);
    assert_eq!(n.attributes["payment_currency"], "BRL");
    assert_eq!(n.attributes["payment_method"], "pix");
    assert_eq!(n.attributes["payment_provider"], "asaas");
    assert_eq!(n.attributes["payment_status"], "confirmed");
}

#[test]
fn payment_received_uppercase_asaas_style() {
    let ev = parse("payment_received_asaas.json");
    let ConversaLabsEvent::PaymentConfirmed(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.event, "PAYMENT_RECEIVED");
    assert_eq!(e.data.status, Some(ConversaLabsPaymentStatus::Paid));
    assert_eq!(e.data.extra["billingType"], "BOLETO");
    // Asaas-style `dateCreated` is not an envelope time this crate knows: kept, not guessed.
    assert_eq!(e.extra["dateCreated"], "2026-06-27 18:02:11");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::PaymentConfirmed);
    assert_eq!(n.occurred_at, None);
    assert_eq!(
        n.ids.event.as_deref(),
        Some("evt_05b708f961d739ea7eba7e4db318f621&368604920"),
        "enveloped: top-level id is the event id"
    );
    assert_eq!(n.attributes["payment_amount"], 1200.0);
    assert_eq!(n.attributes["payment_status"], "paid");
    assert_eq!(n.ids.contact.as_deref(), Some("10044"));
}

#[test]
fn deal_stage_changed_with_stage_objects() {
    let ev = parse("deal_stage_changed.json");
    let ConversaLabsEvent::DealStageChanged(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.stage(), Some(ConversaLabsDealStage::Negotiation));
    assert_eq!(
        e.data.previous_stage(),
        Some(ConversaLabsDealStage::Other("Orçamento enviado".into()))
    );
    assert_eq!(e.data.extra["owner"]["name"], "Rafael Lima");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::DealStageChanged);
    assert_eq!(n.occurred_at, at(1782648900, 0));
    assert_eq!(n.ids.contact.as_deref(), Some("9921"));
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
    assert_eq!(n.attributes["deal_id"], "5567");
    assert_eq!(n.attributes["deal_stage"], "negotiation");
    assert_eq!(n.attributes["deal_previous_stage"], "Orçamento enviado");
    assert_eq!(n.attributes["deal_pipeline"], "Tratamentos");
    assert_eq!(n.attributes["deal_value"], 8500.0);
    assert_eq!(n.attributes["deal_currency"], "BRL");
}

#[test]
fn deal_stage_changed_snake_with_text_stages() {
    let ev = parse("deal_stage_changed_snake.json");
    let ConversaLabsEvent::DealStageChanged(e) = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(e.data.stage(), Some(ConversaLabsDealStage::Won));
    let n = ev.normalize();
    assert_eq!(n.attributes["deal_stage"], "won");
    assert_eq!(n.attributes["deal_previous_stage"], "negotiation");
}

#[test]
fn unknown_event_is_lossless() {
    let body = fixture("unknown_event.json");
    let ev = ConversaLabsEvent::from_slice(&body).unwrap();
    let ConversaLabsEvent::Unknown { name, raw } = &ev else {
        panic!("wrong variant")
    };
    assert_eq!(name, "task.completed");
    assert_eq!(raw.get().as_bytes(), body.trim_ascii());
    assert_eq!(
        ev.normalize().kind,
        EventKind::Other("task.completed".into())
    );
}

#[test]
fn errors_carry_the_json_path() {
    let err = ConversaLabsEvent::from_slice(
        br#"{"event":"payment.confirmed","data":{"amount":"R$ 10"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "data.amount");
    let err = ConversaLabsEvent::from_slice(
        br#"{"event":"message_created","id":1,"sender":{"email":{}}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "sender.email");
    let err = ConversaLabsEvent::from_slice(
        br#"{"event":"conversation.created","account_id":[1],"data":{}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "account_id");
}

/// A message whose typed `id` or `content` is missing takes it from a nested `message` (the
/// lookup every vendor shares); one that has both keeps its own.
#[test]
fn message_text_and_id_from_a_nested_message_where_the_typed_ones_are_missing() {
    let normalized = |body: &str| {
        ConversaLabsEvent::from_slice(body.as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {e}"))
            .normalize()
            .message
            .expect("a message")
    };
    let m = normalized(
        r#"{"event":"message_created","message_type":"incoming",
            "message":{"id":"m-9","content":"nested text"}}"#,
    );
    assert_eq!(m.id.as_deref(), Some("m-9"));
    assert_eq!(m.text.as_deref(), Some("nested text"));
    let m = normalized(
        r#"{"event":"message_created","id":5,"message":{"id":"m-9","content":"nested text"}}"#,
    );
    assert_eq!(
        (m.id.as_deref(), m.text.as_deref()),
        (Some("5"), Some("nested text"))
    );
    let m = normalized(
        r#"{"event":"message_created","content":"own","message":{"id":"m-9","content":"x"}}"#,
    );
    assert_eq!(
        (m.id.as_deref(), m.text.as_deref()),
        (Some("m-9"), Some("own"))
    );
    let m =
        normalized(r#"{"event":"message_created","id":5,"content":"own","message":{"id":"m-9"}}"#);
    assert_eq!(
        (m.id.as_deref(), m.text.as_deref()),
        (Some("5"), Some("own"))
    );
}

/// Each attachment field reads Chatwoot's key first and the generic one where that is absent
/// or empty; numbers read as their text.
#[test]
fn attachment_fields_prefer_chatwoot_keys_and_fall_back() {
    let body = r#"{"event":"message_created","id":1,"content":"see files","attachments":[
        {"data_url":"https://cdn.example/a.jpg","url":"https://other.example/a.jpg",
         "file_type":"image","type":"file","name":"a.jpg","file_name":"other.jpg",
         "content_type":"image/jpeg","mime_type":"image/png"},
        {"url":"https://cdn.example/b.pdf","data_url":"","type":"file","file_name":"b.pdf",
         "mime_type":"application/pdf"},
        {"file_type":7},
        {"data_url":null,"url":true,"file_type":["image"],"type":"file","name":{},"file_name":""},
        "not an object"]}"#;
    let m = ConversaLabsEvent::from_slice(body.as_bytes())
        .unwrap()
        .normalize()
        .message
        .unwrap();
    let got: Vec<_> = m
        .attachments
        .iter()
        .map(|a| {
            (
                a.url.as_deref(),
                a.kind.as_deref(),
                a.name.as_deref(),
                a.mime_type.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some("https://cdn.example/a.jpg"),
                Some("image"),
                Some("a.jpg"),
                Some("image/jpeg")
            ),
            (
                Some("https://cdn.example/b.pdf"),
                Some("file"),
                Some("b.pdf"),
                Some("application/pdf")
            ),
            (None, Some("7"), None, None),
            (Some("true"), Some("file"), None, None),
        ]
    );
}

/// An event name with blanks around it selects its type as the bare name does.
#[test]
fn an_event_name_with_blanks_around_it_selects_its_type() {
    let ev = ConversaLabsEvent::from_slice(br#"{"event":" Message.Created ","id":1}"#).unwrap();
    assert!(matches!(ev, ConversaLabsEvent::MessageCreated(_)), "{ev:?}");
}
