//! A generic event from any [Standard Webhooks](https://www.standardwebhooks.com) sender.
//!
//! The specification *recommends* (does not require) the payload
//! `{"type": "<dot.separated.name>", "timestamp": "<RFC 3339>", "data": {...}}`. [`StandardEvent`]
//! reads exactly that, keeps `type` as text and `data` as raw JSON (byte for byte: no number is
//! rounded), and keeps any other top-level key in `extra`. A missing `type` reads as `""`; a
//! missing `data` as `None`.
//!
//! [`normalize`](VendorEvent::normalize) maps the common names of this crate's vendors to an
//! [`EventKind`] (dots, underscores and case do not matter): `conversation.started` /
//! `.created`, `conversation.updated`, `conversation.closed` / `.resolved` / `.ended`,
//! `message.received`, `message.sent`, `lead.captured` / `lead.created`,
//! `callback.requested`, `handover.requested` / `conversation.escalated` /
//! `escalation.triggered`, `customer.created` / `contact.created`, `customer.updated` /
//! `contact.updated`, `payment.confirmed` / `.paid` / `.succeeded`, `deal.stage_changed`,
//! `feedback.received`. Every other type is [`EventKind::Other`]. From `data` it reads the
//! well-known id keys (`conversation_id`, `contact_id`/`customer_id`, `message_id`,
//! `tenant_id`/`account_id`, `widget_id`/`inbox_id`), the contact (flat in `data`, or nested
//! under `lead`, `contact`, `customer`, `visitor`, `user`, `person`) and the message text
//! (`data.text`…, `data.message`), in the order the [`platform`](super) module documents; use
//! [`StandardEvent::data_as`] for your own payload type.
//!
//! ## Dedupe
//!
//! The payload carries no event id ([`StandardEvent::event_id`] is `None`): the sender's
//! `webhook-id` header is the delivery id, which
//! [`StandardWebhooks`](crate::verify::StandardWebhooks) puts on the
//! [`Verified`](crate::Verified) value and [`dedupe_key`](super::dedupe_key) prefers.
//!
//! ```
//! use chathooks::platform::{standard::StandardEvent, VendorEvent};
//! use chathooks::event::EventKind;
//! let body = br#"{"type":"invoice.paid","timestamp":"2022-11-03T20:26:10.344522Z",
//!   "data":{"id":"inv_1","amount":12345678901234567890}}"#;
//! let ev = StandardEvent::from_slice(body)?;
//! assert_eq!(ev.event_type, "invoice.paid");
//! assert!(ev.data.as_ref().unwrap().get().contains("12345678901234567890"));
//! assert_eq!(ev.normalize().kind, EventKind::Other("invoice.paid".into()));
//! # Ok::<(), chathooks::ParseError>(())
//! ```

use std::borrow::Cow;

use std::fmt;

use serde::de::{DeserializeOwned, Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::lookup::{self, Flat};
use super::open;
use super::{from_json, VendorEvent};
use crate::event::{Contact, Event, EventKind, Vendor};
use crate::lenient::de::{self, Ts};
use crate::lenient::Timestamp;
use crate::ParseError;

/// A Standard Webhooks payload in the recommended `{type, timestamp, data}` shape.
///
/// `Deserialize` is hand-written rather than derived with `#[serde(flatten)]` for `extra`
/// (flatten buffers the whole object into serde's private `Content` tree first); it reads what
/// the derive read: `type` must be a string when present, and a repeated `type`, `timestamp` or
/// `data` is an error.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StandardEvent {
    /// The event type, e.g. `"user.created"` (`""` when the sender omitted it).
    pub event_type: String,
    /// When the event happened (RFC 3339 per the spec; epoch numbers also read).
    pub timestamp: Option<Timestamp>,
    /// The event data, exactly as sent; `None` when absent or `null`.
    pub data: Option<Box<RawValue>>,
    /// Other top-level keys.
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for StandardEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StandardEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct StandardEvent")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StandardEvent, A::Error> {
                let mut event_type = None;
                let mut timestamp = None;
                let mut data = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<de::Key<'de>>()? {
                    match key.as_str() {
                        "type" if event_type.is_some() => {
                            return Err(A::Error::duplicate_field("type"))
                        }
                        "type" => event_type = Some(map.next_value::<String>()?),
                        "timestamp" if timestamp.is_some() => {
                            return Err(A::Error::duplicate_field("timestamp"))
                        }
                        "timestamp" => timestamp = Some(map.next_value::<Ts>()?.0),
                        "data" if data.is_some() => return Err(A::Error::duplicate_field("data")),
                        "data" => data = Some(map.next_value::<Option<Box<RawValue>>>()?),
                        _ => {
                            let value = map.next_value::<Value>()?;
                            extra.insert(key.into_string(), value);
                        }
                    }
                }
                Ok(StandardEvent {
                    event_type: event_type.unwrap_or_default(),
                    timestamp: timestamp.flatten(),
                    data: data.flatten(),
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl StandardEvent {
    /// Deserialize `data` into your own type. Errors carry the path, starting at `data`.
    ///
    /// ```
    /// # use chathooks::platform::{standard::StandardEvent, VendorEvent};
    /// #[derive(serde::Deserialize)]
    /// struct User { email: String }
    /// let ev = StandardEvent::from_slice(br#"{"type":"user.created","data":{"email":"a@b.co"}}"#)?;
    /// assert_eq!(ev.data_as::<User>()?.email, "a@b.co");
    /// let err = ev.data_as::<Vec<u8>>().unwrap_err();
    /// assert_eq!(err.path, "data");
    /// # Ok::<(), chathooks::ParseError>(())
    /// ```
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, ParseError> {
        let raw = self.data.as_ref().map_or("null", |r| r.get());
        from_json::<T>(raw.as_bytes()).map_err(|mut e| {
            e.path = match e.path.as_str() {
                "." | "" => "data".to_owned(),
                p => format!("data.{p}"),
            };
            e
        })
    }
}

impl StandardEvent {
    /// The reference parse, tracking JSON paths.
    fn from_slice_tracked(body: &[u8]) -> Result<Self, ParseError> {
        // `peek_name` first: its errors name the path of a bad `type`.
        open::peek_name(body, &["type"])?;
        from_json(body)
    }

    /// The one pass alone, with no fallback (the tests hold it to the reference parse).
    fn from_slice_fast(body: &[u8]) -> Result<Self, ParseError> {
        Ok(serde_json::from_slice(body)?)
    }
}

crate::platform::inherent_vendor_methods!(StandardEvent);

impl VendorEvent for StandardEvent {
    const VENDOR: Vendor = Vendor::StandardWebhooks;

    /// One pass without path tracking; when that fails, the body is parsed again the
    /// reference way (with `serde_path_to_error`) so the error names the JSON path. Both ways
    /// accept exactly the same bodies.
    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        Self::from_slice_fast(body).or_else(|_| Self::from_slice_tracked(body))
    }

    fn name(&self) -> &str {
        &self.event_type
    }

    /// Always `None`: the delivery id is the `webhook-id` header (see the module docs).
    fn event_id(&self) -> Option<Cow<'_, str>> {
        None
    }

    fn normalize(&self) -> Event {
        let kind = open::common_kind(&self.event_type)
            .unwrap_or_else(|| EventKind::Other(self.event_type.clone()));
        let mut ev = Event::new(Vendor::StandardWebhooks, kind, self.event_type.clone());
        ev.occurred_at = self.timestamp.as_ref().and_then(|t| t.instant);
        let data = self
            .data
            .as_ref()
            .and_then(|r| serde_json::from_str::<DataView>(r.get()).ok());
        if let Some(DataView { mut ids, record: d }) = data {
            let mut first = |slot: IdSlot| ids[slot as usize].iter_mut().find_map(Option::take);
            ev.ids.conversation = first(IdSlot::Conversation);
            ev.ids.contact = first(IdSlot::Contact);
            ev.ids.message = first(IdSlot::Message);
            ev.ids.tenant = first(IdSlot::Tenant);
            ev.ids.widget = first(IdSlot::Widget);
            person_and_message(&mut ev, &d);
        }
        ev
    }
}

/// `ev`'s contact and message from `data`, after its ids: the contact keeps `ev.ids.contact`
/// and the message `ev.ids.message` when the record names none of its own.
fn person_and_message<O: lookup::Obj>(ev: &mut Event, d: &O) {
    // A payment's or deal's own `name` is not a person's; nor, unknown, an event's.
    let flat = match ev.kind {
        EventKind::PaymentConfirmed | EventKind::DealStageChanged | EventKind::Other(_) => {
            Flat::Nested
        }
        _ => Flat::Person,
    };
    let base = ev.ids.contact.clone().map(|id| Contact {
        id: Some(id),
        ..Contact::default()
    });
    ev.contact = lookup::contact(base, d, flat);
    ev.ids.contact = ev.contact.as_ref().and_then(|c| c.id.clone());
    if let Some(mut m) = lookup::message_in(d) {
        m.id = ev.ids.message.clone().or(m.id);
        ev.ids.message = m.id.clone();
        ev.message = Some(m);
    }
}

/// The id slots `normalize()` fills from `data`, and the keys of each in preference order.
#[derive(Clone, Copy)]
enum IdSlot {
    Conversation,
    Contact,
    Message,
    Tenant,
    Widget,
}

const ID_KEYS: [&[&str]; 5] = [
    &["conversation_id", "conversationId"],
    &["contact_id", "customer_id", "contactId", "customerId"],
    &["message_id", "messageId"],
    &["tenant_id", "account_id", "tenantId", "accountId"],
    &["widget_id", "inbox_id", "widgetId", "inboxId"],
];

/// What `normalize()` reads from `data`, parsed from the raw JSON in one pass: each id key's
/// value as text (what [`open::scalar`] makes of it), and the members the contact and message
/// lookup reads ([`lookup::reads`]). Every other member is skipped without being built, so a
/// large `data` (a transcript, a cart) costs a scan, not a `Value` tree.
struct DataView<'a> {
    /// `ids[slot][i]`: the text of `ID_KEYS[slot][i]`.
    ids: [[Option<String>; 4]; 5],
    /// Borrowed from `data` (strings and keys without escapes are not copied): the lookup
    /// copies only what ends up in the event.
    record: lookup::TreeObj<'a>,
}

impl<'de> Deserialize<'de> for DataView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataView<'de>, A::Error> {
                let mut view = DataView {
                    ids: Default::default(),
                    record: lookup::TreeObj::default(),
                };
                while let Some(key) = map.next_key::<de::Key<'de>>()? {
                    let k = key.as_str();
                    let slot = ID_KEYS.iter().enumerate().find_map(|(slot, keys)| {
                        keys.iter().position(|x| *x == k).map(|i| (slot, i))
                    });
                    if let Some((slot, i)) = slot {
                        // A repeated key: the last one counts, as in a `Map`.
                        view.ids[slot][i] = map.next_value::<ScalarText>()?.0;
                    } else if lookup::reads(k) {
                        let value = map.next_value::<lookup::Tree<'de>>()?;
                        let key = match key {
                            de::Key::Borrowed(k) => Cow::Borrowed(k),
                            de::Key::Owned(k) => Cow::Owned(k),
                        };
                        view.record.push(key, value);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(view)
            }
        }
        d.deserialize_map(V)
    }
}

/// A value as [`open::scalar`] reads it from a `Value`: non-empty text, a number's or a
/// boolean's text; `None` for anything else (which is read and dropped).
struct ScalarText(Option<String>);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText((!v.is_empty()).then(|| v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ScalarText, E> {
                Ok(ScalarText((!v.is_empty()).then_some(v)))
            }
            // Numbers as `Value::Number` prints them (floats the way serde_json writes them).
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(Some(serde_json::Number::from(v).to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(Some(serde_json::Number::from(v).to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(
                    serde_json::Number::from_f64(v).map(|n| n.to_string()),
                ))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(Some(v.to_string())))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<ScalarText, E> {
                Ok(ScalarText(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ScalarText, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(ScalarText(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScalarText, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ScalarText(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one pass alone (no fallback) and the reference parse agree: the same event, or both
    /// fail; and `from_slice` answers exactly what the reference answers, errors included.
    fn same_as_reference(body: &str) {
        let fast = StandardEvent::from_slice_fast(body.as_bytes());
        let reference = StandardEvent::from_slice_tracked(body.as_bytes());
        crate::platform::fast_agrees(&fast, &reference, body);
        let public = StandardEvent::from_slice(body.as_bytes());
        assert_eq!(
            format!("{public:?}"),
            format!("{reference:?}"),
            "body: {body}"
        );
    }

    #[test]
    fn one_pass_matches_the_reference_on_edge_cases() {
        for body in [
            r#"{"data":{"id":1,"n":12345678901234567890},"type":"a.b","x":[1]}"#,
            r#"{"type":null}"#,
            r#"{"type":5}"#,
            r#"{"type":"a","type":"b"}"#,
            r#"{"type":"a","type":5}"#,
            r#"{"data":null,"data":1}"#,
            r#"{"timestamp":1700000000,"timestamp":null}"#,
            r#"{"timestamp":{"bad":1},"type":"a"}"#,
            r#"{"big":1e400,"type":"a"}"#,
            r#"{"data":1e400,"type":"a"}"#,
            r#"{"t\u0079pe":"a"}"#,
            r#"{}"#,
            r#"[]"#,
            r#"["type","a"]"#,
            r#"{"type":"a"} x"#,
            r#"{"type":"a","data":{"id":"1"}"#,
            r#"{"type":"lead.captured","data":{"person":{"email":"e"},"message":{"text":"t"}}}"#,
            r#"{"data":{"email":"a" "x":1},"type":"lead.captured"}"#,
            r#"{"type":"a","data":{"lines":[{"sku":nope}]}}"#,
            "  {\"type\":\"x.y\",\"a\":1}\n",
        ] {
            same_as_reference(body);
        }
    }

    #[test]
    fn fixtures_match_the_reference() {
        for body in crate::platform::fixtures("standard", 5) {
            same_as_reference(&body);
            // The one pass itself reads every fixture: no silent fallback.
            assert!(
                StandardEvent::from_slice_fast(body.as_bytes()).is_ok(),
                "{body}"
            );
        }
    }

    /// `normalize()` as it was before [`DataView`], reading `data` through a whole `Map`: the
    /// reference the view is checked against.
    fn normalize_with_map(e: &StandardEvent) -> Event {
        let mut ev = e.normalize();
        ev.ids = Default::default();
        ev.contact = None;
        ev.message = None;
        let data: Option<Map<String, Value>> = e
            .data
            .as_ref()
            .and_then(|r| serde_json::from_str(r.get()).ok());
        if let Some(d) = data {
            let first = |keys: &[&str]| keys.iter().find_map(|k| open::scalar(&d, k));
            ev.ids.conversation = first(&["conversation_id", "conversationId"]);
            ev.ids.contact = first(&["contact_id", "customer_id", "contactId", "customerId"]);
            ev.ids.message = first(&["message_id", "messageId"]);
            ev.ids.tenant = first(&["tenant_id", "account_id", "tenantId", "accountId"]);
            ev.ids.widget = first(&["widget_id", "inbox_id", "widgetId", "inboxId"]);
            person_and_message(&mut ev, &d);
        }
        ev
    }

    fn same_normalize_as_with_map(body: &str) {
        let Ok(e) = StandardEvent::from_slice(body.as_bytes()) else {
            return;
        };
        assert_eq!(
            format!("{:?}", e.normalize()),
            format!("{:?}", normalize_with_map(&e)),
            "body: {body}"
        );
    }

    #[test]
    fn data_view_normalizes_as_the_whole_map_did() {
        for body in crate::platform::fixtures("standard", 5) {
            same_normalize_as_with_map(&body);
        }
        for body in [
            r#"{"type":"lead.captured","data":{"contact_id":"","customer_id":7,"contactId":"x"}}"#,
            r#"{"type":"lead.captured","data":{"contact_id":"a","contact_id":{"x":1}}}"#,
            r#"{"type":"lead.captured","data":{"tenant_id":1.5e300,"inbox_id":true,"message_id":[1]}}"#,
            r#"{"type":"lead.captured","data":{"message_id":-0.0,"widget_id":1e21,"messageId":3}}"#,
            r#"{"type":"lead.captured","data":{"name":"n","email":["a","b"],"lead":{"id":3}}}"#,
            r#"{"type":"message.received","data":{"message":{"id":5,"text":"t"},"text":" "}}"#,
            r#"{"type":"x","data":[1,2]}"#,
            r#"{"type":"x","data":"text"}"#,
            r#"{"type":"x","data":null}"#,
        ] {
            same_normalize_as_with_map(body);
        }
    }

    fn data_member() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                Just("conversation_id"),
                Just("conversationId"),
                Just("contact_id"),
                Just("customer_id"),
                Just("customerId"),
                Just("message_id"),
                Just("tenant_id"),
                Just("accountId"),
                Just("inbox_id"),
                Just("widget_id"),
                Just("id"),
                Just("name"),
                Just("first_name"),
                Just("last_name"),
                Just("email"),
                Just("phones"),
                Just("company"),
                Just("lead"),
                Just("visitor"),
                Just("person"),
                Just("text"),
                Just("body"),
                Just("message"),
                Just("other"),
            ],
            prop_oneof![
                Just("null"),
                Just("\"\""),
                Just("\"v\""),
                Just("\" x \""),
                Just("0"),
                Just("-7"),
                Just("2.5"),
                Just("1e21"),
                Just("18446744073709551615"),
                Just("true"),
                Just("[\"a\",{\"value\":\"b\"}]"),
                Just("{\"name\":\"n\",\"type\":\"user\"}"),
                Just("{\"id\":4,\"email\":\"e\",\"text\":\"t\"}"),
            ],
        )
            .prop_map(|(k, v)| format!("\"{k}\":{v}"))
    }

    proptest! {
        #[test]
        fn data_view_normalizes_as_the_whole_map_did_on_generated_data(
            kind in prop_oneof![
                Just("lead.captured"), Just("message.received"), Just("payment.paid"),
                Just("x.y"),
            ],
            members in proptest::collection::vec(data_member(), 0..8),
        ) {
            let body = format!(r#"{{"type":"{kind}","data":{{{}}}}}"#, members.join(","));
            same_normalize_as_with_map(&body);
        }
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("1".to_owned()),
            Just("1e400".to_owned()),
            Just("\"\"".to_owned()),
            Just("\"2022-11-03T20:26:10.344522Z\"".to_owned()),
            Just("{\"id\":3,\"z\":[true]}".to_owned()),
            Just("{\"contact\":{\"name\":\"n\"},\"message\":{\"body\":\"b\"}}".to_owned()),
            Just("{\"email\":\"a\",}".to_owned()),
            Just("[1,2]".to_owned()),
            Just("\"user.created\"".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn one_pass_matches_the_reference(
            fields in proptest::collection::vec(
                (prop_oneof![
                    Just("type"), Just("data"), Just("timestamp"), Just("other"),
                ], value()),
                0..6,
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
}
