//! Payloads no one on this project wrote (vendors' own samples, automation tools' shapes):
//! nested lead and message data for every vendor, who the contact is, SaleSmartly's published
//! n8n trigger payload, and precise 422 paths inside `data`.
//!
//! Sources of the vendor-published fixtures:
//! - `conversalabs/message_created_doc_sample.json`: the "sample webhook payload" of Chatwoot's
//!   webhook-events documentation (github.com/chatwoot/docs,
//!   `docs/product/others/webhook-events.md`, also on chatwoot.com's help center), made valid
//!   JSON (its `//` comments removed, a missing comma added, a trailing comma dropped);
//! - `salesmartly/message_n8n_trigger.json`: the trigger payload documented by SaleSmartly's own
//!   n8n node (github.com/Sale-Smartly/n8n, README "Trigger payload"; parsed by its
//!   `parseSalesmartlyMessageEvent.ts`: `chat_user.projectId ?? project_id`).

use std::time::{Duration, UNIX_EPOCH};

use chathooks::event::{Direction, Event, EventKind};
use chathooks::platform::buzzi::BuzziEvent;
use chathooks::platform::conversalabs::ConversaLabsEvent;
use chathooks::platform::saleassist::SaleAssistEvent;
use chathooks::platform::salesmartly::{SaleSmartlyEvent, SenderType};
use chathooks::platform::sam::SamEvent;
use chathooks::platform::standard::StandardEvent;
use chathooks::platform::VendorEvent;
use chathooks::{platform, Verified};

fn fixture(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse<T: VendorEvent>(path: &str) -> T {
    T::from_slice(&fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn company(e: &Event) -> Option<&str> {
    e.contact.as_ref()?.custom_fields.get("company")?.as_str()
}

// ---- nested lead and message data, every vendor ------------------------------------------

#[test]
fn sam_lead_nested_under_lead_contact_and_message() {
    let ev: SamEvent = parse("sam/lead_captured_nested.json");
    let SamEvent::LeadCaptured(lead) = &ev else {
        panic!("{ev:?}")
    };
    // Nothing lost: the typed event keeps every member it does not map.
    for key in ["lead", "contact", "message", "source", "utm"] {
        assert!(lead.data.extra.contains_key(key), "{key} lost");
    }
    let n = ev.normalize();
    let c = n.contact.as_ref().unwrap();
    // Flat first, then `lead`, then `contact`: first match wins.
    assert_eq!(c.id.as_deref(), Some("lead_77"));
    assert_eq!(c.name.as_deref(), Some("Arjun Mehta"));
    assert_eq!(c.emails, ["flat.first@example.in", "arjun@mehta.co"]);
    assert_eq!(c.phones, ["+91 99000 12345", "+91 80 4000 1000"]);
    assert_eq!(company(&n), Some("Mehta Tiles"));
    let m = n.message.as_ref().unwrap();
    assert_eq!(m.text.as_deref(), Some("Please call after 6pm"));
    assert_eq!(n.ids.message.as_deref(), Some("m_5"));
}

#[test]
fn sam_conversation_with_customer_and_message_body_skips_the_agent() {
    let ev: SamEvent = parse("sam/conversation_started_nested.json");
    let n = ev.normalize();
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.id.as_deref(), Some("vis_n1"));
    assert_eq!(c.name.as_deref(), Some("Lena Vogel"));
    assert_eq!(
        c.emails,
        ["lena@vogel.de"],
        "the agent under `user` is not the contact"
    );
    assert_eq!(c.phones, ["+49 151 2345678"]);
    assert_eq!(n.ids.contact.as_deref(), Some("vis_n1"));
    let m = n.message.as_ref().unwrap();
    assert_eq!(m.text.as_deref(), Some("Haben Sie am Samstag offen?"));
    assert_eq!(m.direction, Some(Direction::Inbound));
}

#[test]
fn buzzi_message_nested_under_message_and_visitor() {
    let ev: BuzziEvent = parse("buzzi/message_received_nested.json");
    let BuzziEvent::MessageReceived(e) = &ev else {
        panic!("{ev:?}")
    };
    assert!(e.data.extra.contains_key("message") && e.data.extra.contains_key("visitor"));
    let n = ev.normalize();
    let m = n.message.as_ref().unwrap();
    assert_eq!(m.text.as_deref(), Some("Do you ship to Lagos?"));
    assert_eq!(m.id.as_deref(), Some("m_n1"));
    assert_eq!(n.ids.message.as_deref(), Some("m_n1"));
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.name.as_deref(), Some("Chinedu Okafor"));
    assert_eq!(c.emails, ["chinedu@okafor.ng"]);
    assert_eq!(c.phones, ["+234 803 000 0000"]);
    assert_eq!(company(&n), Some("Okafor Foods"));
}

#[test]
fn buzzi_conversation_with_nested_lead_keeps_its_own_name_apart() {
    let ev: BuzziEvent = parse("buzzi/conversation_created_nested.json");
    let n = ev.normalize();
    let c = n.contact.as_ref().unwrap();
    // The conversation's flat `name` is the conversation's, not the person's.
    assert_eq!(c.name.as_deref(), Some("Amaka Eze"));
    assert_eq!(c.emails, ["amaka@eze.ng"]);
    assert_eq!(c.phones, ["+234 802 111 2222"]);
    assert_eq!(n.ids.contact.as_deref(), Some("eu_n2"));
    assert_eq!(n.ids.conversation.as_deref(), Some("c_n2"));
    assert_eq!(
        n.message.as_ref().and_then(|m| m.text.as_deref()),
        Some("Hi, is anyone there?")
    );
}

#[test]
fn conversalabs_payment_with_nested_customer_not_the_agent() {
    let ev: ConversaLabsEvent = parse("conversalabs/payment_confirmed_nested.json");
    let ConversaLabsEvent::PaymentConfirmed(e) = &ev else {
        panic!("{ev:?}")
    };
    for key in ["customer", "user", "message"] {
        assert!(e.data.extra.contains_key(key), "{key} lost");
    }
    let n = ev.normalize();
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.name.as_deref(), Some("Joana Lima"));
    assert_eq!(c.emails, ["joana@lima.com.br"]);
    assert_eq!(c.phones, ["+55 31 98888 7777"]);
    assert_eq!(n.attributes["payment_amount"], 99.9);
}

#[test]
fn saleassist_payload_with_nested_lead_and_message() {
    let ev: SaleAssistEvent = parse("saleassist/widget_new_conversation_nested.json");
    let SaleAssistEvent::WidgetNewConversation(w) = &ev else {
        panic!("{ev:?}")
    };
    assert!(w.payload.extra.contains_key("lead") && w.payload.extra.contains_key("message"));
    let n = ev.normalize();
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.id.as_deref(), Some("p_n1"));
    assert_eq!(c.name.as_deref(), Some("Meera Iyer"));
    assert_eq!(c.emails, ["meera@iyer.in"]);
    assert_eq!(c.phones, ["+91 90000 11111"]);
    assert_eq!(company(&n), Some("Iyer Textiles"));
    assert_eq!(c.custom_fields["extra1"], "diwali");
    let m = n.message.as_ref().unwrap();
    assert_eq!(m.text.as_deref(), Some("Need bulk pricing for 200 sarees"));
    assert_eq!(m.sender.as_deref(), Some("p_n1"));
}

#[test]
fn saleassist_mapped_webhook_with_nested_contact_is_a_lead() {
    let ev: SaleAssistEvent = parse("saleassist/mapped_nested.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::LeadCaptured);
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.name.as_deref(), Some("Ravi Kumar"));
    assert_eq!(c.emails, ["ravi@kumar.in"]);
    assert_eq!(c.phones, ["9876543210"]);
    // Every mapped field is still there.
    assert_eq!(c.custom_fields["form"], "Diwali offer");
    assert!(c.custom_fields.contains_key("contact"));
    assert_eq!(
        n.message.as_ref().and_then(|m| m.text.as_deref()),
        Some("Call me after 5")
    );
}

#[test]
fn salesmartly_message_and_customer_nested() {
    let ev: SaleSmartlyEvent = parse("salesmartly/message_nested.json");
    let SaleSmartlyEvent::Message(m) = &ev else {
        panic!("{ev:?}")
    };
    assert!(m.extra.contains_key("message") && m.extra.contains_key("customer"));
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    assert_eq!(
        n.message.as_ref().and_then(|m| m.text.as_deref()),
        Some("Quanto custa o frete?")
    );
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.id.as_deref(), Some("65094291e106072b7e40ff22"));
    assert_eq!(c.name.as_deref(), Some("Paulo Souza"));
    assert_eq!(c.emails, ["paulo@souza.com.br"]);
    assert_eq!(c.phones, ["+55 21 99999 0000"]);

    let ev: SaleSmartlyEvent = parse("salesmartly/add_user_nested.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::CustomerCreated);
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.id.as_deref(), Some("u_n1"));
    assert_eq!(c.name.as_deref(), Some("Aiko Tanaka"));
    assert_eq!(c.emails, ["aiko@tanaka.jp"]);
    assert_eq!(c.phones, ["+81 90 1234 5678"]);
    assert_eq!(company(&n), Some("Tanaka KK"));
}

#[test]
fn standard_data_with_nested_person_contact_and_message() {
    let ev: StandardEvent = parse("standard/lead_captured_nested.json");
    let n = ev.normalize();
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.name.as_deref(), Some("Mei Chen"));
    assert_eq!(c.emails, ["mei@chen.sg"]);
    assert_eq!(c.phones, ["+65 8123 4567"]);
    assert_eq!(company(&n), Some("Chen Pte"));
    assert_eq!(
        n.message.as_ref().and_then(|m| m.text.as_deref()),
        Some("Interested in the annual plan")
    );
    // `data` itself is kept byte for byte.
    assert!(ev
        .data
        .unwrap()
        .get()
        .contains("\"companyName\":\"Chen Pte\""));

    let ev: StandardEvent = parse("standard/message_received_nested.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    let m = n.message.as_ref().unwrap();
    assert_eq!(m.text.as_deref(), Some("Is the red one back in stock?"));
    assert_eq!(n.ids.message.as_deref(), Some("msg_9"));
    assert_eq!(n.ids.contact.as_deref(), Some("ct_9"));
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.name.as_deref(), Some("Olu Adeyemi"));
    assert_eq!(c.emails, ["olu@adeyemi.ng"]);
}

// ---- who is the contact -------------------------------------------------------------------

#[test]
fn chatwoot_documented_sample_contact_is_the_customer_not_the_agent() {
    let ev: ConversaLabsEvent = parse("conversalabs/message_created_doc_sample.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.id.as_deref(), Some("1"));
    assert_eq!(c.name.as_deref(), Some("contact-name"));
    assert!(
        c.emails.is_empty(),
        "the agent's email is not the contact's: {c:?}"
    );
    assert_eq!(n.ids.contact.as_deref(), Some("1"));
    // The agent stays the message's sender.
    let m = n.message.as_ref().unwrap();
    assert_eq!(m.sender.as_deref(), Some("1"));
    assert_eq!(m.text.as_deref(), Some("Hi"));
    // `conversation.display_id` is the conversation id when `id` is absent.
    assert_eq!(n.ids.conversation.as_deref(), Some("1"));
    assert_eq!(n.conversation.as_ref().unwrap().id.as_deref(), Some("1"));
    assert_eq!(n.ids.tenant.as_deref(), Some("1"));
}

#[test]
fn agent_senders_go_to_the_sender_and_assignee_never_the_contact() {
    let ev: ConversaLabsEvent = parse("conversalabs/message_created_agent_sender.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageSent);
    let c = n.contact.as_ref().unwrap();
    assert_eq!(c.id.as_deref(), Some("40"), "meta.sender of type contact");
    assert_eq!(c.phones, ["+55 11 91234 5678"]);
    assert_eq!(n.message.as_ref().unwrap().sender.as_deref(), Some("3"));
    let conv = n.conversation.as_ref().unwrap();
    assert_eq!(conv.assignee.as_deref(), Some("3"));
    assert_eq!(conv.id.as_deref(), Some("77"));

    // An incoming message whose only person is an agent (`type: "user"`): no contact at all.
    let body = br#"{"event":"message_created","id":9,"content":"note","message_type":"incoming",
        "sender":{"id":3,"name":"Bia","type":"user"},"conversation":{"id":5}}"#;
    let n = ConversaLabsEvent::from_slice(body).unwrap().normalize();
    assert_eq!(n.contact, None);
    assert_eq!(n.ids.contact, None);
    assert_eq!(n.message.unwrap().sender.as_deref(), Some("3"));

    // A `meta.sender` that is an agent is not the contact either; a sender of type contact is.
    let body = br#"{"event":"message_created","id":9,"content":"oi","message_type":"incoming",
        "sender":{"id":41,"name":"Caio","type":"contact"},
        "conversation":{"id":5,"meta":{"sender":{"id":3,"type":"user"}}}}"#;
    let n = ConversaLabsEvent::from_slice(body).unwrap().normalize();
    assert_eq!(n.contact.unwrap().name.as_deref(), Some("Caio"));
    assert_eq!(n.ids.contact.as_deref(), Some("41"));
}

#[test]
fn chatwoot_events_page_message_created_still_normalises_completely() {
    let ev: ConversaLabsEvent = parse("conversalabs/message_created.json");
    let n = ev.normalize();
    let c = n.contact.unwrap();
    assert_eq!(c.id.as_deref(), Some("9921"));
    assert_eq!(c.phones, ["+5511987654321"]);
    assert_eq!(n.ids.conversation.as_deref(), Some("48213"));
}

// ---- SaleSmartly's published trigger payload -----------------------------------------------

#[test]
fn salesmartly_n8n_trigger_payload_is_a_message_with_its_id_and_tenant() {
    let body = fixture("salesmartly/message_n8n_trigger.json");
    let ev = SaleSmartlyEvent::from_slice(&body).unwrap();
    assert_eq!(ev.event_id().as_deref(), Some("m1"));
    let v = Verified::new("salesmartly", &body);
    let key = platform::dedupe_key("ss", &v, ev.event_id().as_deref()).unwrap();
    assert_eq!(
        key.as_str(),
        "ss/ev:m1",
        "deduped by `mid`, not by a body hash"
    );

    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::MessageReceived);
    assert_eq!(n.ids.event.as_deref(), Some("m1"));
    assert_eq!(n.ids.message.as_deref(), Some("m1"));
    assert_eq!(n.ids.tenant.as_deref(), Some("1"));
    assert_eq!(n.ids.contact.as_deref(), Some("xxx"));
    assert_eq!(
        n.occurred_at,
        Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    );
    let msg = n.message.unwrap();
    assert_eq!(msg.id.as_deref(), Some("m1"));
    assert_eq!(msg.text.as_deref(), Some("hi"));
    assert_eq!(msg.direction, Some(Direction::Inbound));

    // `project_id` flat, the other spelling the vendor's node reads.
    let body =
        br#"{"event":"message","data":{"chat_user_id":"u","project_id":77,"mid":5,"msg":"x"}}"#;
    let n = SaleSmartlyEvent::from_slice(body).unwrap().normalize();
    assert_eq!(n.ids.tenant.as_deref(), Some("77"));
    assert_eq!(n.ids.event.as_deref(), Some("5"));
}

#[test]
fn salesmartly_system_sender_is_neither_customer_nor_agent() {
    let ev: SaleSmartlyEvent = parse("salesmartly/message_system.json");
    let n = ev.normalize();
    assert_eq!(n.kind, EventKind::Other("message".into()));
    let msg = n.message.unwrap();
    assert_eq!(msg.direction, None);
    assert_eq!(msg.text.as_deref(), Some("Conversation assigned to Linh"));
    assert_eq!(n.ids.message.as_deref(), Some("1695787999000000"));
}

// ---- precise 422 paths inside `data` --------------------------------------------------------

fn path_sam(body: &str) -> String {
    SamEvent::from_slice(body.as_bytes()).unwrap_err().path
}
fn path_buzzi(body: &str) -> String {
    BuzziEvent::from_slice(body.as_bytes()).unwrap_err().path
}
fn path_standard(body: &str) -> String {
    StandardEvent::from_slice(body.as_bytes()).unwrap_err().path
}

#[test]
fn syntax_errors_inside_data_name_the_field() {
    for (event, data_first) in [("lead.captured", false), ("lead.captured", true)] {
        let body = |data: &str| match data_first {
            false => format!(r#"{{"event":"{event}","data":{data}}}"#),
            true => format!(r#"{{"data":{data},"event":"{event}"}}"#),
        };
        assert_eq!(
            path_sam(&body(r#"{"email":"a@b.c" "phone":1}"#)),
            "data.email"
        );
        assert_eq!(path_sam(&body(r#"{"name":"A","email":tru}"#)), "data.email");
        assert_eq!(
            path_sam(&body(r#"{"visitor":{"email":"a\q"}}"#)),
            "data.visitor.email"
        );
        assert_eq!(
            path_buzzi(&body(r#"{"content":"hi",}"#).replace(event, "message.sent")),
            "data.content"
        );
        assert_eq!(
            path_buzzi(&body(r#"{"endUser":{"email":01}}"#).replace(event, "message.sent")),
            "data.endUser.email"
        );
    }
    assert_eq!(
        path_standard(r#"{"type":"lead.captured","data":{"email":"a@b.c" "phone":1}}"#),
        "data.email"
    );
    assert_eq!(
        path_standard(r#"{"data":{"lines":[{"sku":nope}]},"type":"invoice.paid"}"#),
        "data.lines[0].sku"
    );
    // Still a syntax error the receiver's repair may fix.
    assert!(
        SamEvent::from_slice(br#"{"event":"lead.captured","data":{"email":"a" "b":1}}"#)
            .unwrap_err()
            .syntax
    );
}

#[test]
fn type_errors_inside_data_name_the_field() {
    assert_eq!(
        path_sam(r#"{"event":"lead.captured","data":{"email":["x"]}}"#),
        "data.email"
    );
    assert_eq!(
        path_sam(r#"{"data":{"email":["x"]},"event":"lead.captured"}"#),
        "data.email"
    );
    assert_eq!(
        path_buzzi(r#"{"data":{"endUser":{"email":{}}},"type":"message.created"}"#),
        "data.endUser.email"
    );
    assert_eq!(
        path_buzzi(r#"{"event":"feedback.received","data":{"rating":"great"}}"#),
        "data.rating"
    );
}

// ---- the typed fields behind the above ----------------------------------------------------

#[test]
fn typed_fields_for_the_new_shapes() {
    let ev: ConversaLabsEvent = parse("conversalabs/message_created_doc_sample.json");
    let ConversaLabsEvent::MessageCreated(e) = &ev else {
        panic!("{ev:?}")
    };
    let d = &e.data;
    assert_eq!(
        d.contact.as_ref().unwrap().name.as_deref(),
        Some("contact-name")
    );
    assert!(
        d.sender.as_ref().unwrap().is_person(),
        "untyped: could be anyone"
    );
    let conv = d.conversation.as_ref().unwrap();
    assert_eq!(
        (conv.id.as_deref(), conv.display_id.as_deref()),
        (None, Some("1"))
    );
    assert_eq!(conv.conversation_id(), Some("1"));

    let ev: SaleSmartlyEvent = parse("salesmartly/message_n8n_trigger.json");
    let SaleSmartlyEvent::Message(m) = &ev else {
        panic!("{ev:?}")
    };
    assert_eq!(m.sender_type, None);
    assert_eq!(m.mid.as_deref(), Some("m1"));
    assert_eq!(m.message_id(), Some("m1"));
    assert_eq!(m.project_id(), Some("1"));
    assert_eq!(
        m.chat_user.as_ref().unwrap().project_id.as_deref(),
        Some("1")
    );

    let ev: SaleSmartlyEvent = parse("salesmartly/message_system.json");
    let SaleSmartlyEvent::Message(m) = &ev else {
        panic!("{ev:?}")
    };
    assert_eq!(m.sender_type, Some(SenderType::System));
}

// ---- into_event ------------------------------------------------------------------------

/// Every fixture of one vendor that parses: `into_event()` (consuming) gives exactly the
/// event `normalize()` (borrowing) gives. Returns how many were checked.
fn into_event_is_normalize<T: VendorEvent>(vendor: &str) -> usize {
    let dir = format!("{}/tests/fixtures/{vendor}", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(typed) = T::from_slice(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        let borrowed = typed.normalize();
        assert_eq!(typed.into_event(), borrowed, "{}", path.display());
        checked += 1;
    }
    checked
}

#[test]
fn into_event_is_normalize_for_every_vendor() {
    for (vendor, checked) in [
        ("buzzi", into_event_is_normalize::<BuzziEvent>("buzzi")),
        (
            "conversalabs",
            into_event_is_normalize::<ConversaLabsEvent>("conversalabs"),
        ),
        (
            "saleassist",
            into_event_is_normalize::<SaleAssistEvent>("saleassist"),
        ),
        (
            "salesmartly",
            into_event_is_normalize::<SaleSmartlyEvent>("salesmartly"),
        ),
        ("sam", into_event_is_normalize::<SamEvent>("sam")),
        (
            "standard",
            into_event_is_normalize::<StandardEvent>("standard"),
        ),
    ] {
        assert!(checked >= 3, "{vendor}: only {checked} fixtures parsed");
    }
}
