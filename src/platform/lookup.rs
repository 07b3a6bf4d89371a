//! Where senders put the lead and the message when they do not follow a vendor's flat shape:
//! the one lookup every vendor's `normalize()` uses, so all vendors find the same things in the
//! same order.
//!
//! Senders and automation tools (Zapier, n8n, Make, a CRM's own webhook) often nest the person
//! one level down, under `lead`, `contact`, `customer`, `visitor`, `user` or `person`, and the
//! message under `message` (an object with `content`, `text` or `body`, or plain text),
//! sometimes next to the flat fields a vendor documents. The typed events keep those members in
//! their `extra` maps (nothing is lost); this module reads them for the normalised
//! [`Event`](crate::Event).
//!
//! The order is documented once, for users, in the [`platform`](super) module docs ("Where
//! `normalize()` finds the contact and the message"); keep the two in step.

use serde_json::{Map, Value};

use super::open::push_unique;
use crate::event::{Contact, Message};

/// Keys that hold the person one level down, in lookup order.
pub(crate) const PERSON_KEYS: &[&str] =
    &["lead", "contact", "customer", "visitor", "user", "person"];

const NAME: &[&str] = &[
    "name",
    "full_name",
    "fullName",
    "display_name",
    "displayName",
];
const FIRST_NAME: &[&str] = &["first_name", "firstName"];
const LAST_NAME: &[&str] = &["last_name", "lastName"];
const EMAIL: &[&str] = &["email", "email_address", "emailAddress", "emails"];
const PHONE: &[&str] = &[
    "phone",
    "phone_number",
    "phoneNumber",
    "mobile",
    "mobile_number",
    "mobileNumber",
    "mobile_phone",
    "mobilePhone",
    "phones",
];
const COMPANY: &[&str] = &[
    "company",
    "company_name",
    "companyName",
    "organization",
    "organisation",
];
const TEXT: &[&str] = &["content", "text", "body"];
/// `type` values that mark an agent, bot or system sender rather than the customer.
const AGENT_TYPES: &[&str] = &[
    "user",
    "agent",
    "agent_bot",
    "bot",
    "human_agent",
    "assistant",
    "member",
    "operator",
    "system",
];

/// `true` for the keys [`contact`], [`message_in`] and [`text_in`] read from a record: a
/// normaliser that parses a raw record only for them may skip every other member.
pub(crate) fn reads(key: &str) -> bool {
    key == "id"
        || key == "message"
        || [
            PERSON_KEYS,
            NAME,
            FIRST_NAME,
            LAST_NAME,
            EMAIL,
            PHONE,
            COMPANY,
            TEXT,
        ]
        .iter()
        .any(|keys| keys.contains(&key))
}

/// Whether the record's own flat keys describe the person (step 2 of the lookup order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flat {
    /// The record is the person (lead, callback, customer): its flat keys count.
    Person,
    /// The record is about something else (a conversation, a message, a deal): only the
    /// nested person objects count; a flat `name` would be the record's own name.
    Nested,
}

/// `true` when a sender or person object's `type` names an agent, bot or system (see the module
/// docs), `false` when it names the customer or says nothing.
pub(crate) fn is_agent_type(kind: Option<&str>) -> bool {
    kind.is_some_and(|k| AGENT_TYPES.iter().any(|a| super::open::same_word(k, a)))
}

/// `base` (the contact from the vendor's typed fields, if any) with its gaps filled from
/// `record` in the documented order; `None` when neither has anything.
pub(crate) fn contact(
    base: Option<Contact>,
    record: &Map<String, Value>,
    flat: Flat,
) -> Option<Contact> {
    let had = base.is_some();
    let mut c = base.unwrap_or_default();
    if flat == Flat::Person {
        merge(&mut c, record, false);
    }
    for key in PERSON_KEYS {
        if let Some(Value::Object(person)) = record.get(*key) {
            let kind = person.get("type").and_then(Value::as_str);
            if !is_agent_type(kind) {
                merge(&mut c, person, true);
            }
        }
    }
    (had || c != Contact::default()).then_some(c)
}

/// Fill the gaps of `c` from one person object (a vendor's typed person's `extra`, or a person
/// the vendor nests under its own name, such as SaleSmartly's `chat_user`).
pub(crate) fn merge_person(c: &mut Contact, person: &Map<String, Value>) {
    merge(c, person, true);
}

fn merge(c: &mut Contact, obj: &Map<String, Value>, with_id: bool) {
    // Most typed records' `extra` maps are empty: skip the key lookups.
    if obj.is_empty() {
        return;
    }
    let f = PersonFields::of(obj);
    if with_id && c.id.is_none() {
        c.id = f.id.and_then(scalar);
    }
    if c.name.is_none() {
        c.name = first_text(&f.name).or_else(|| {
            let first = first_text(&f.first);
            let last = first_text(&f.last);
            match (first, last) {
                (Some(f), Some(l)) => Some(format!("{f} {l}")),
                (one, other) => one.or(other),
            }
        });
    }
    for v in f.email.into_iter().flatten() {
        for v in texts(Some(v)) {
            push_unique(&mut c.emails, Some(&v));
        }
    }
    for v in f.phone.into_iter().flatten() {
        for v in texts(Some(v)) {
            push_unique(&mut c.phones, Some(&v));
        }
    }
    if !c.custom_fields.contains_key("company") {
        let company = f.company.into_iter().flatten().find_map(|v| match v {
            Value::Object(o) => super::open::scalar(o, "name"),
            v => text(v),
        });
        if let Some(company) = company {
            c.custom_fields
                .insert("company".to_owned(), Value::String(company));
        }
    }
}

/// The members of one person object that [`merge`] reads, each in the slot of its name's rank
/// in `NAME`, `EMAIL`…, found in one pass over the object. Looking each of the 27 names up in
/// the map in turn cost more than the rest of a `normalize()`.
#[derive(Default)]
struct PersonFields<'a> {
    id: Option<&'a Value>,
    name: [Option<&'a Value>; 5],
    first: [Option<&'a Value>; 2],
    last: [Option<&'a Value>; 2],
    email: [Option<&'a Value>; 4],
    phone: [Option<&'a Value>; 9],
    company: [Option<&'a Value>; 5],
}

impl<'a> PersonFields<'a> {
    fn of(obj: &'a Map<String, Value>) -> Self {
        let mut f = PersonFields::default();
        for (key, value) in obj {
            let key = key.as_str();
            let rank = |names: &[&str]| names.iter().position(|n| *n == key);
            let slot = if key == "id" {
                &mut f.id
            } else if let Some(i) = rank(NAME) {
                &mut f.name[i]
            } else if let Some(i) = rank(FIRST_NAME) {
                &mut f.first[i]
            } else if let Some(i) = rank(LAST_NAME) {
                &mut f.last[i]
            } else if let Some(i) = rank(EMAIL) {
                &mut f.email[i]
            } else if let Some(i) = rank(PHONE) {
                &mut f.phone[i]
            } else if let Some(i) = rank(COMPANY) {
                &mut f.company[i]
            } else {
                continue;
            };
            *slot = Some(value);
        }
        f
    }
}

/// What [`super::open::scalar`] reads from a value: non-empty text, a number, a boolean.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The message text in `record` after the vendor's typed text field (see the module docs).
pub(crate) fn text_in(record: &Map<String, Value>) -> Option<String> {
    // Message text is kept as sent (not trimmed); only blank text counts as absent.
    let first = |obj: &Map<String, Value>| TEXT.iter().find_map(|k| message_text(obj.get(*k)?));
    first(record).or_else(|| match record.get("message")? {
        Value::Object(m) => first(m),
        v => message_text(v),
    })
}

fn message_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A message found only in `record`'s untyped members (a nested `message`, or flat text), for
/// records whose vendor type has no message of its own; `None` when there is none.
pub(crate) fn message_in(record: &Map<String, Value>) -> Option<Message> {
    let text = text_in(record);
    let id = match record.get("message") {
        Some(Value::Object(m)) => super::open::scalar(m, "id"),
        _ => None,
    };
    (text.is_some() || id.is_some()).then(|| Message {
        id,
        text,
        ..Message::default()
    })
}

/// The first value that holds non-empty text (numbers as their decimal text).
fn first_text(values: &[Option<&Value>]) -> Option<String> {
    values.iter().flatten().find_map(|v| text(v))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every text in a value that may be one text, an array of texts, or an array of
/// `{"value": …}` objects.
fn texts(v: Option<&Value>) -> Vec<String> {
    let item = |v: &Value| match v {
        Value::Object(o) => o.get("value").and_then(text),
        other => text(other),
    };
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(item).collect(),
        Some(v) => item(v).into_iter().collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flat_then_nested_in_order_first_match_wins() {
        let record = map(json!({
            "email": "flat@example.com",
            "person": {"name": "Last", "email": "p@example.com"},
            "lead": {"id": 7, "first_name": "Ana", "last_name": "Silva",
                     "phones": [{"value": "+55 11 9999"}, "+55 11 9999"], "company": {"name": "Acme"}},
            "contact": {"full_name": "Not me", "email_address": "c@example.com", "company_name": "Other"}
        }));
        let c = contact(None, &record, Flat::Person).unwrap();
        assert_eq!(c.id.as_deref(), Some("7"));
        assert_eq!(c.name.as_deref(), Some("Ana Silva"));
        assert_eq!(
            c.emails,
            ["flat@example.com", "c@example.com", "p@example.com"]
        );
        assert_eq!(c.phones, ["+55 11 9999"]);
        assert_eq!(c.custom_fields["company"], "Acme");
        // A record that is not the person: its flat keys do not count.
        let c = contact(None, &record, Flat::Nested).unwrap();
        assert_eq!(c.emails[0], "c@example.com");
    }

    #[test]
    fn agents_are_never_the_contact() {
        let record = map(json!({"user": {"type": "user", "name": "Agent", "email": "a@x.io"}}));
        assert_eq!(contact(None, &record, Flat::Nested), None);
        let base = Contact {
            name: Some("Typed".into()),
            ..Contact::default()
        };
        let c = contact(Some(base), &record, Flat::Nested).unwrap();
        assert_eq!(c.name.as_deref(), Some("Typed"));
        assert!(c.emails.is_empty());
        assert!(!is_agent_type(Some("contact")) && !is_agent_type(None));
        assert!(is_agent_type(Some("Agent-Bot")));
    }

    /// `merge` as it was before `PersonFields`: each name looked up in the map in turn.
    fn merge_by_lookups(c: &mut Contact, obj: &Map<String, Value>, with_id: bool) {
        let first_text = |keys: &[&str]| keys.iter().find_map(|k| text(obj.get(*k)?));
        if with_id && c.id.is_none() {
            c.id = super::super::open::scalar(obj, "id");
        }
        if c.name.is_none() {
            c.name = first_text(NAME).or_else(|| {
                match (first_text(FIRST_NAME), first_text(LAST_NAME)) {
                    (Some(f), Some(l)) => Some(format!("{f} {l}")),
                    (one, other) => one.or(other),
                }
            });
        }
        for key in EMAIL.iter().chain(PHONE) {
            let list = if EMAIL.contains(key) {
                &mut c.emails
            } else {
                &mut c.phones
            };
            for v in texts(obj.get(*key)) {
                push_unique(list, Some(&v));
            }
        }
        if !c.custom_fields.contains_key("company") {
            let company = COMPANY.iter().find_map(|k| match obj.get(*k)? {
                Value::Object(o) => super::super::open::scalar(o, "name"),
                v => text(v),
            });
            if let Some(company) = company {
                c.custom_fields
                    .insert("company".to_owned(), Value::String(company));
            }
        }
    }

    fn person_member() -> impl proptest::strategy::Strategy<Value = (String, Value)> {
        use proptest::prelude::*;
        let keys: Vec<&str> = [
            NAME,
            FIRST_NAME,
            LAST_NAME,
            EMAIL,
            PHONE,
            COMPANY,
            &["id", "x"],
        ]
        .concat();
        (
            proptest::sample::select(keys),
            prop_oneof![
                Just(json!(null)),
                Just(json!("")),
                Just(json!(" Ana ")),
                Just(json!("b@x.io")),
                Just(json!(42)),
                Just(json!(1.5)),
                Just(json!(true)),
                Just(json!(["+1 555", {"value": "+1 555"}, {"value": 7}, 8])),
                Just(json!({"name": "Acme"})),
                Just(json!({"name": ""})),
            ],
        )
            .prop_map(|(k, v)| (k.to_owned(), v))
    }

    proptest::proptest! {
        #[test]
        fn merge_in_one_pass_matches_the_lookups(
            members in proptest::collection::vec(person_member(), 0..8),
            with_id in proptest::bool::ANY,
            named in proptest::bool::ANY,
        ) {
            let obj: Map<String, Value> = members.into_iter().collect();
            let start = Contact {
                name: named.then(|| "Typed".to_owned()),
                emails: vec!["b@x.io".to_owned()],
                ..Contact::default()
            };
            let (mut one, mut reference) = (start.clone(), start);
            merge(&mut one, &obj, with_id);
            merge_by_lookups(&mut reference, &obj, with_id);
            proptest::prop_assert_eq!(one, reference);
        }
    }

    #[test]
    fn message_text_flat_then_nested() {
        let m = message_in(&map(json!({"message": {"id": 5, "body": "hi"}}))).unwrap();
        assert_eq!(
            (m.id.as_deref(), m.text.as_deref()),
            (Some("5"), Some("hi"))
        );
        let t = text_in(&map(json!({"text": " flat ", "message": "nested"})));
        assert_eq!(t.as_deref(), Some(" flat "));
        assert_eq!(
            text_in(&map(json!({"message": "plain"}))).as_deref(),
            Some("plain")
        );
        assert_eq!(message_in(&map(json!({"message": {}, "text": ""}))), None);
    }
}
