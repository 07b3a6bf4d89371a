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

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::open::push_unique;
use crate::event::{Contact, Message};
use crate::lenient::de::Key;

/// Keys that hold the person one level down, in lookup order.
pub(crate) const PERSON_KEYS: &[&str; 6] =
    &["lead", "contact", "customer", "visitor", "user", "person"];

#[cfg(test)]
const NAME: &[&str] = &[
    "name",
    "full_name",
    "fullName",
    "display_name",
    "displayName",
];
#[cfg(test)]
const FIRST_NAME: &[&str] = &["first_name", "firstName"];
#[cfg(test)]
const LAST_NAME: &[&str] = &["last_name", "lastName"];
#[cfg(test)]
const EMAIL: &[&str] = &["email", "email_address", "emailAddress", "emails"];
#[cfg(test)]
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
#[cfg(test)]
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
    role(key).is_some()
}

/// What a key means to the lookup: its list and its rank in it (`Name(1)` is `NAME[1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Id,
    Message,
    Person(u8),
    Name(u8),
    First(u8),
    Last(u8),
    Email(u8),
    Phone(u8),
    Company(u8),
    Text(u8),
}

/// The [`Role`] of `key`, in one `match`: comparing each key with the lists in turn (up to 36
/// comparisons for a key the lookup skips) was most of `merge`'s own time. The lists stay the
/// documented order; `roles_match_the_lists` keeps the two in step.
fn role(key: &str) -> Option<Role> {
    use Role::*;
    Some(match key {
        "id" => Id,
        "message" => Message,
        "lead" => Person(0),
        "contact" => Person(1),
        "customer" => Person(2),
        "visitor" => Person(3),
        "user" => Person(4),
        "person" => Person(5),
        "name" => Name(0),
        "full_name" => Name(1),
        "fullName" => Name(2),
        "display_name" => Name(3),
        "displayName" => Name(4),
        "first_name" => First(0),
        "firstName" => First(1),
        "last_name" => Last(0),
        "lastName" => Last(1),
        "email" => Email(0),
        "email_address" => Email(1),
        "emailAddress" => Email(2),
        "emails" => Email(3),
        "phone" => Phone(0),
        "phone_number" => Phone(1),
        "phoneNumber" => Phone(2),
        "mobile" => Phone(3),
        "mobile_number" => Phone(4),
        "mobileNumber" => Phone(5),
        "mobile_phone" => Phone(6),
        "mobilePhone" => Phone(7),
        "phones" => Phone(8),
        "company" => Company(0),
        "company_name" => Company(1),
        "companyName" => Company(2),
        "organization" => Company(3),
        "organisation" => Company(4),
        "content" => Text(0),
        "text" => Text(1),
        "body" => Text(2),
        _ => return None,
    })
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
    // The text is compared with every word of the list: trim it once, not per word.
    kind.map(str::trim).is_some_and(|k| {
        AGENT_TYPES
            .iter()
            .any(|a| super::open::same_trimmed_word(k, a))
    })
}

/// A JSON object as the lookup reads it: a `serde_json` [`Map`] (the typed events' `extra`
/// maps), or a [`TreeObj`] borrowed from the body (what Standard's `normalize()` reads from the
/// raw `data`, which no typed field holds).
pub(crate) trait Obj {
    /// Its values.
    type V: Val<O = Self>;
    /// The value of `key` (the last one, where a key is repeated, as a `Map` keeps it).
    fn get(&self, key: &str) -> Option<&Self::V>;
    /// Every member; a repeated key may come more than once, the last one last.
    fn entries(&self) -> impl Iterator<Item = (&str, &Self::V)>;
    /// No members.
    fn is_empty(&self) -> bool;
}

/// A JSON value as the lookup reads it (see [`Obj`]).
pub(crate) trait Val: Sized {
    /// Its objects.
    type O: Obj<V = Self>;
    /// The text of a string.
    fn str(&self) -> Option<&str>;
    /// A number's text, as `serde_json::Value::Number` prints it.
    fn number_text(&self) -> Option<String>;
    /// A boolean.
    fn boolean(&self) -> Option<bool>;
    /// An object.
    fn object(&self) -> Option<&Self::O>;
    /// An array's items.
    fn array(&self) -> Option<&[Self]>;
}

impl Obj for Map<String, Value> {
    type V = Value;
    fn get(&self, key: &str) -> Option<&Value> {
        Map::get(self, key)
    }
    fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.iter().map(|(k, v)| (k.as_str(), v))
    }
    fn is_empty(&self) -> bool {
        Map::is_empty(self)
    }
}

impl Val for Value {
    type O = Map<String, Value>;
    fn str(&self) -> Option<&str> {
        self.as_str()
    }
    fn number_text(&self) -> Option<String> {
        match self {
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn object(&self) -> Option<&Map<String, Value>> {
        self.as_object()
    }
    fn array(&self) -> Option<&[Value]> {
        self.as_array().map(Vec::as_slice)
    }
}

/// A JSON value whose strings and keys borrow from the input where they have no escapes: what
/// `serde_json::Value` holds, without a copy of every string and a `BTreeMap` per object.
/// Numbers are `serde_json::Number`s read as `Value` reads them, so they print the same.
#[derive(Debug)]
pub(crate) enum Tree<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array(Vec<Tree<'a>>),
    Object(TreeObj<'a>),
}

/// A [`Tree`] object: its members in the order sent, repeated keys included (lookups take the
/// last, as a `Map` keeps it).
#[derive(Debug, Default)]
pub(crate) struct TreeObj<'a>(Vec<(Cow<'a, str>, Tree<'a>)>);

impl<'a> TreeObj<'a> {
    /// Add a member.
    pub(crate) fn push(&mut self, key: Cow<'a, str>, value: Tree<'a>) {
        self.0.push((key, value));
    }
}

impl<'a> Obj for TreeObj<'a> {
    type V = Tree<'a>;
    fn get(&self, key: &str) -> Option<&Tree<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn entries(&self) -> impl Iterator<Item = (&str, &Tree<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> Val for Tree<'a> {
    type O = TreeObj<'a>;
    fn str(&self) -> Option<&str> {
        match self {
            Tree::Str(s) => Some(s),
            _ => None,
        }
    }
    fn number_text(&self) -> Option<String> {
        match self {
            Tree::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn boolean(&self) -> Option<bool> {
        match self {
            Tree::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn object(&self) -> Option<&TreeObj<'a>> {
        match self {
            Tree::Object(o) => Some(o),
            _ => None,
        }
    }
    fn array(&self) -> Option<&[Tree<'a>]> {
        match self {
            Tree::Array(items) => Some(items),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Tree<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Tree<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Tree<'de>, E> {
                Ok(Tree::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tree<'de>, E> {
                Ok(Tree::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Tree<'de>, E> {
                Ok(Tree::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Tree<'de>, E> {
                // As `Value` reads it: a float JSON cannot hold is `null`.
                Ok(serde_json::Number::from_f64(v).map_or(Tree::Null, Tree::Number))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Tree<'de>, E> {
                Ok(Tree::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Tree<'de>, E> {
                Ok(Tree::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Tree<'de>, E> {
                Ok(Tree::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Tree<'de>, E> {
                Ok(Tree::Null)
            }
            fn visit_none<E>(self) -> Result<Tree<'de>, E> {
                Ok(Tree::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Tree<'de>, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Tree<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Tree<'de>, A::Error> {
                let mut obj = TreeObj::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    // Person objects hold a handful of members: one allocation, not a regrowth
                    // past the fourth (and none for an empty object).
                    if obj.0.capacity() == 0 {
                        obj.0.reserve_exact(8);
                    }
                    let key = match key {
                        Key::Borrowed(k) => Cow::Borrowed(k),
                        Key::Owned(k) => Cow::Owned(k),
                    };
                    obj.push(key, map.next_value()?);
                }
                Ok(Tree::Object(obj))
            }
        }
        d.deserialize_any(V)
    }
}

/// The values of `keys` in `obj`, in the order of `keys` (the last of a repeated key, as
/// [`Obj::get`] finds it), found in one pass over its members: a lookup by name per key cost
/// more.
pub(crate) fn members<'a, O: Obj, const N: usize>(
    obj: &'a O,
    keys: &[&str; N],
) -> [Option<&'a O::V>; N] {
    let mut found = [None; N];
    for (key, value) in obj.entries() {
        if let Some(i) = keys.iter().position(|k| *k == key) {
            found[i] = Some(value);
        }
    }
    found
}

/// `base` (the contact from the vendor's typed fields, if any) with its gaps filled from
/// `record` in the documented order; `None` when neither has anything.
pub(crate) fn contact<O: Obj>(base: Option<Contact>, record: &O, flat: Flat) -> Option<Contact> {
    // Most typed records' `extra` maps are empty: nothing to fill the gaps from.
    if record.is_empty() {
        return base;
    }
    let had = base.is_some();
    let mut c = base.unwrap_or_default();
    if flat == Flat::Person {
        merge(&mut c, record, false);
    }
    // In the lookup order, whatever order the record sends them in.
    for person in members(record, PERSON_KEYS) {
        if let Some(person) = person.and_then(Val::object) {
            let kind = person.get("type").and_then(Val::str);
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

fn merge<O: Obj>(c: &mut Contact, obj: &O, with_id: bool) {
    // Most typed records' `extra` maps are empty: skip the key lookups.
    if obj.is_empty() {
        return;
    }
    let f = PersonFields::of(obj);
    if with_id && c.id.is_none() {
        c.id = f.id.and_then(scalar);
    }
    if c.name.is_none() {
        // Borrowed until the name is chosen: one allocation for it, none for the parts.
        c.name = first_text_ref(&f.name).map(Cow::into_owned).or_else(|| {
            let first = first_text_ref(&f.first);
            let last = first_text_ref(&f.last);
            match (first, last) {
                (Some(f), Some(l)) => Some(join_name(&f, &l)),
                (one, other) => one.or(other).map(Cow::into_owned),
            }
        });
    }
    for v in f.email.into_iter().flatten() {
        push_texts(&mut c.emails, v);
    }
    for v in f.phone.into_iter().flatten() {
        push_texts(&mut c.phones, v);
    }
    if !c.custom_fields.contains_key("company") {
        let company = f
            .company
            .into_iter()
            .flatten()
            .find_map(|v| match v.object() {
                Some(o) => o.get("name").and_then(scalar),
                None => text(v),
            });
        if let Some(company) = company {
            c.custom_fields
                .insert("company".to_owned(), Value::String(company));
        }
    }
}

/// `"{first} {last}"`, sized once: `format!` went through the formatting machinery and grew
/// the string (3 % of a Standard `normalize()`).
fn join_name(first: &str, last: &str) -> String {
    let mut name = String::with_capacity(first.len() + 1 + last.len());
    name.push_str(first);
    name.push(' ');
    name.push_str(last);
    name
}

/// The members of one person object that [`merge`] reads, each in the slot of its name's rank
/// in `NAME`, `EMAIL`…, found in one pass over the object. Looking each of the 27 names up in
/// the map in turn cost more than the rest of a `normalize()`.
struct PersonFields<'a, V> {
    id: Option<&'a V>,
    name: [Option<&'a V>; 5],
    first: [Option<&'a V>; 2],
    last: [Option<&'a V>; 2],
    email: [Option<&'a V>; 4],
    phone: [Option<&'a V>; 9],
    company: [Option<&'a V>; 5],
}

impl<'a, V: Val> PersonFields<'a, V> {
    fn of<O: Obj<V = V>>(obj: &'a O) -> Self {
        let mut f = PersonFields {
            id: None,
            name: [None; 5],
            first: [None; 2],
            last: [None; 2],
            email: [None; 4],
            phone: [None; 9],
            company: [None; 5],
        };
        // A repeated key comes again later: the last one stays, as in a `Map`.
        for (key, value) in obj.entries() {
            let slot = match role(key) {
                Some(Role::Id) => &mut f.id,
                Some(Role::Name(i)) => &mut f.name[usize::from(i)],
                Some(Role::First(i)) => &mut f.first[usize::from(i)],
                Some(Role::Last(i)) => &mut f.last[usize::from(i)],
                Some(Role::Email(i)) => &mut f.email[usize::from(i)],
                Some(Role::Phone(i)) => &mut f.phone[usize::from(i)],
                Some(Role::Company(i)) => &mut f.company[usize::from(i)],
                _ => continue,
            };
            *slot = Some(value);
        }
        f
    }
}

/// What [`super::open::scalar`] reads from a value: non-empty text, a number, a boolean.
fn scalar<V: Val>(v: &V) -> Option<String> {
    if let Some(s) = v.str() {
        return (!s.is_empty()).then(|| s.to_owned());
    }
    v.number_text()
        .or_else(|| v.boolean().map(|b| b.to_string()))
}

/// The message text in `record` after the vendor's typed text field (see the module docs).
pub(crate) fn text_in<O: Obj>(record: &O) -> Option<String> {
    // Message text is kept as sent (not trimmed); only blank text counts as absent.
    fn first<O: Obj>(obj: &O) -> Option<String> {
        TEXT.iter().find_map(|k| message_text(obj.get(k)?))
    }
    first(record).or_else(|| {
        let message = record.get("message")?;
        match message.object() {
            Some(m) => first(m),
            None => message_text(message),
        }
    })
}

fn message_text<V: Val>(v: &V) -> Option<String> {
    v.str().filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

/// A message found only in `record`'s untyped members (a nested `message`, or flat text), for
/// records whose vendor type has no message of its own; `None` when there is none.
pub(crate) fn message_in<O: Obj>(record: &O) -> Option<Message> {
    let text = text_in(record);
    let id = record
        .get("message")
        .and_then(Val::object)
        .and_then(|m| m.get("id"))
        .and_then(scalar);
    (text.is_some() || id.is_some()).then(|| Message {
        id,
        text,
        ..Message::default()
    })
}

/// The first value that holds non-empty text (numbers as their decimal text), borrowed where
/// it is a string.
fn first_text_ref<'a, V: Val>(values: &[Option<&'a V>]) -> Option<Cow<'a, str>> {
    values.iter().flatten().find_map(|v| text_ref(*v))
}

/// Non-empty text, trimmed (numbers as their decimal text), borrowed where it is a string.
fn text_ref<V: Val>(v: &V) -> Option<Cow<'_, str>> {
    match v.str() {
        Some(s) => Some(s.trim()).filter(|t| !t.is_empty()).map(Cow::Borrowed),
        None => v.number_text().map(Cow::Owned),
    }
}

/// [`text_ref`], owned.
fn text<V: Val>(v: &V) -> Option<String> {
    text_ref(v).map(Cow::into_owned)
}

/// Push every text in `v` onto `list` (once each): `v` may be one text, an array of texts, or
/// an array of `{"value": …}` objects. Each string is copied once, not collected first.
fn push_texts<V: Val>(list: &mut Vec<String>, v: &V) {
    fn item<V: Val>(v: &V) -> Option<Cow<'_, str>> {
        match v.object() {
            Some(o) => o.get("value").and_then(text_ref),
            None => text_ref(v),
        }
    }
    match v.array() {
        Some(items) => {
            for t in items.iter().filter_map(item) {
                push_unique(list, Some(&*t));
            }
        }
        None => push_unique(list, item(v).as_deref()),
    }
}

/// Every text in a value that may be one text, an array of texts, or an array of
/// `{"value": …}` objects.
#[cfg(test)]
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

    /// `role` is the lists' order written as one `match`: every name of every list has its
    /// list and rank, and no other key has a role.
    #[test]
    fn roles_match_the_lists() {
        type Make = fn(u8) -> Role;
        let lists: [(&[&str], Make); 8] = [
            (PERSON_KEYS, Role::Person),
            (NAME, Role::Name),
            (FIRST_NAME, Role::First),
            (LAST_NAME, Role::Last),
            (EMAIL, Role::Email),
            (PHONE, Role::Phone),
            (COMPANY, Role::Company),
            (TEXT, Role::Text),
        ];
        let mut named = 2;
        assert_eq!(role("id"), Some(Role::Id));
        assert_eq!(role("message"), Some(Role::Message));
        for (list, make) in lists {
            for (i, key) in list.iter().enumerate() {
                assert_eq!(role(key), Some(make(i as u8)), "{key}");
                named += 1;
            }
        }
        // Each arm is a list's name: a `match` arm the lists lack would be counted here.
        let arms = include_str!("lookup.rs")
            .split("fn role(key: &str)")
            .nth(1)
            .and_then(|s| s.split("_ => return None").next())
            .unwrap()
            .matches("\" => ")
            .count();
        assert_eq!(arms, named);
        for key in [
            "", "ID", "Name", "e-mail", "contacts", "messages", "type", "value",
        ] {
            assert_eq!(role(key), None, "{key}");
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

    /// A record as JSON text: `members` in order, repeated keys kept, each key written with
    /// an escape when `escaped` (so the tree holds an owned key, the map the same text).
    fn record_text(members: &[(String, Value)], escaped: bool) -> String {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| {
                let key = match k.split_at_checked(1) {
                    Some((first, rest)) if escaped => {
                        format!(
                            "\"\\u{:04x}{rest}\"",
                            u32::from(first.chars().next().unwrap())
                        )
                    }
                    _ => serde_json::to_string(k).unwrap(),
                };
                format!("{key}:{}", serde_json::to_string(v).unwrap())
            })
            .collect();
        format!("{{{}}}", body.join(","))
    }

    fn record_member() -> impl proptest::strategy::Strategy<Value = (String, Value)> {
        use proptest::prelude::*;
        prop_oneof![
            person_member(),
            (
                proptest::sample::select(vec![
                    "lead", "contact", "person", "user", "message", "text", "body", "content",
                ]),
                proptest::collection::vec(person_member(), 0..4),
                prop_oneof![Just(None), Just(Some("user")), Just(Some("contact"))],
            )
                .prop_map(|(k, members, kind)| {
                    let mut obj: Map<String, Value> = members.into_iter().collect();
                    if let Some(kind) = kind {
                        obj.insert("type".into(), json!(kind));
                    }
                    obj.insert("text".into(), json!(" hi "));
                    (k.to_owned(), Value::Object(obj))
                }),
            (
                proptest::sample::select(vec!["message", "text", "body"]),
                prop_oneof![
                    Just(json!("a\"b")),
                    Just(json!("  ")),
                    Just(json!({"id": 2}))
                ],
            )
                .prop_map(|(k, v)| (k.to_owned(), v)),
        ]
    }

    proptest::proptest! {
        /// The borrowed tree (Standard's `data`) gives the same contact and message as the
        /// `Map` of the same text: repeated keys (the last one counts), escaped keys and
        /// strings, numbers printed the same.
        #[test]
        fn tree_reads_as_the_map(
            members in proptest::collection::vec(record_member(), 0..8),
            escaped in proptest::bool::ANY,
            person in proptest::bool::ANY,
        ) {
            let text = record_text(&members, escaped);
            let map: Map<String, Value> = serde_json::from_str(&text).unwrap();
            let Tree::Object(tree) = serde_json::from_str::<Tree>(&text).unwrap() else {
                panic!("{text}");
            };
            let flat = if person { Flat::Person } else { Flat::Nested };
            proptest::prop_assert_eq!(contact(None, &tree, flat), contact(None, &map, flat));
            proptest::prop_assert_eq!(message_in(&tree), message_in(&map));
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
