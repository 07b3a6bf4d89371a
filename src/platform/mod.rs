//! Stage 2, **parse**: one module per vendor, each with a typed event enum.
//!
//! Every vendor event type implements [`VendorEvent`]: parse from the verified bytes, name the
//! event, convert to the normalised [`Event`], and give the vendor's own event id
//! when it has one. Event enums are `#[non_exhaustive]` and have a lossless `Unknown` variant: an
//! event name the crate does not know is never an error.
//!
//! # Where `normalize()` finds the contact and the message
//!
//! Senders and automation tools (Zapier, n8n, Make, a CRM's own webhook) often put the person
//! one level down, under `lead`, `contact`, `customer`, `visitor`, `user` or `person`, and the
//! message under `message` (an object with `content`, `text` or `body`, or plain text),
//! sometimes next to the flat fields a vendor documents. The typed events keep every such member
//! in their `extra` maps (nothing is lost), and every vendor's `normalize()` reads them the same
//! way, first match winning in this order.
//!
//! **Contact** — name, emails, phones, company (`custom_fields["company"]`) and id:
//!
//! 1. the vendor's typed fields: its flat ones, then its typed person object (Sam's `visitor`,
//!    Buzzi's `end_user`, ConversaLabs' `contact` / `meta.sender`, SaleAssist's
//!    `people_detail`, SaleSmartly's `chat_user`);
//! 2. the record's other flat keys, where the record is the person itself (Sam's lead and
//!    callback, SaleSmartly's and ConversaLabs' customer records, SaleAssist's mapped webhooks,
//!    a Standard Webhooks `data` unless the event is a payment, a deal or unknown);
//! 3. the objects nested one level down in the record, in this order: `lead`, `contact`,
//!    `customer`, `visitor`, `user`, `person`.
//!
//! An object whose `type` names an agent (`user`, `agent`, `agent_bot`, `bot`, `human_agent`,
//! `assistant`, `member`, `operator`, `system`: Chatwoot-style payloads mark agents `user`) is
//! never the contact; an agent goes to the conversation's assignee or the message's sender.
//!
//! Within one object: name = `name`, `full_name`, `fullName`, `display_name`, `displayName`, else
//! `first_name`/`firstName` + `last_name`/`lastName`; emails = `email`, `email_address`,
//! `emailAddress`, `emails`; phones = `phone`, `phone_number`, `phoneNumber`, `mobile`,
//! `mobile_number`, `mobileNumber`, `mobile_phone`, `mobilePhone`, `phones`; company =
//! `company` (text, or an object's `name`), `company_name`, `companyName`, `organization`,
//! `organisation`; id = `id` (nested objects only: a record's own `id` is the record's). Values
//! may be text, numbers, arrays of them or arrays of `{"value": …}` objects. The name, company
//! and id come from the first place that has one; emails and phones collect every distinct
//! value in lookup order.
//!
//! **Message text** — the vendor's typed text field (`content`, `msg`, `message_content`…), then
//! the record's flat `content`, `text`, `body`, then `message`: its text when it is a string,
//! else its `content`, `text`, `body` (a nested `message` object also gives the message id when
//! the vendor's fields do not). Events whose vendor type has no message (a Sam lead, a Buzzi
//! conversation, a Standard event…) get one when the record carries such a message.
//!
//! ```
//! use chathooks::platform::sam::SamEvent;
//! let body = br#"{"event":"lead.captured","data":{"email":"a@example.com",
//!   "lead":{"first_name":"Ana","last_name":"Silva","phone_number":"+55 11 91234 5678"},
//!   "message":{"body":"Call me"}}}"#;
//! let ev = SamEvent::from_slice(body)?.normalize();
//! let c = ev.contact.unwrap();
//! assert_eq!(c.name.as_deref(), Some("Ana Silva"));
//! assert_eq!(c.emails, ["a@example.com"]);
//! assert_eq!(ev.message.unwrap().text.as_deref(), Some("Call me"));
//! # Ok::<(), chathooks::ParseError>(())
//! ```
//!
//! # Errors name the field
//!
//! A body that does not parse is a [`ParseError`] whose `path` names the field, also for a
//! syntax error inside a member the parser reads as raw JSON or skips (`data.email`, not
//! `data`). The fast one-pass parsers never track paths; the path is worked out only after a
//! parse has failed.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use crate::event::{Event, Vendor};
use crate::idempotency::{IdSource, IdempotencyKey};
use crate::{ParseError, Verified};

pub mod saleassist;
pub mod salesmartly;

/// A vendor's typed event.
pub trait VendorEvent: Sized + Send + 'static {
    /// The vendor this type parses.
    const VENDOR: Vendor;

    /// Parse the verified body bytes. Errors carry the JSON path of the bad field.
    fn from_slice(body: &[u8]) -> Result<Self, ParseError>;

    /// The vendor's event name as sent (`"lead.captured"`, `"message"`…).
    fn name(&self) -> &str;

    /// The vendor's own id for this event or delivery, if the payload carries one.
    fn event_id(&self) -> Option<Cow<'_, str>>;

    /// Convert into the cross-vendor model.
    fn normalize(&self) -> Event;

    /// [`normalize`](Self::normalize), consuming the typed event: where a vendor implements
    /// it, strings and maps move into the [`Event`] instead of being copied. Always the same
    /// event as `normalize` gives; [`Normalized`](crate::receiver::Normalized) receivers use
    /// it. The default calls `normalize`.
    fn into_event(self) -> Event {
        self.normalize()
    }

    /// `true` for an event the typed parser does not know (the lossless `Unknown` variant):
    /// schema drift worth counting (`chathooks_unknown_events_total`).
    fn is_unknown(&self) -> bool {
        false
    }
}

/// Inherent `from_slice`, `name`, `event_id` and `normalize` that forward to the
/// [`VendorEvent`] impl, so callers need no trait import (`SamEvent::from_slice(body)?`).
macro_rules! inherent_vendor_methods {
    ($ty:ty) => {
        impl $ty {
            /// Parse the verified body bytes (see [`VendorEvent::from_slice`]).
            pub fn from_slice(body: &[u8]) -> Result<Self, $crate::ParseError> {
                <Self as $crate::platform::VendorEvent>::from_slice(body)
            }
            /// The event name as sent (see [`VendorEvent::name`]).
            pub fn name(&self) -> &str {
                <Self as $crate::platform::VendorEvent>::name(self)
            }
            /// The vendor's own event id, if any (see [`VendorEvent::event_id`]).
            pub fn event_id(&self) -> Option<std::borrow::Cow<'_, str>> {
                <Self as $crate::platform::VendorEvent>::event_id(self)
            }
            /// Convert into the cross-vendor [`Event`](crate::Event) (see
            /// [`VendorEvent::normalize`]).
            pub fn normalize(&self) -> $crate::Event {
                <Self as $crate::platform::VendorEvent>::normalize(self)
            }
            /// Convert into the cross-vendor [`Event`](crate::Event), consuming the typed
            /// event (see [`VendorEvent::into_event`]).
            pub fn into_event(self) -> $crate::Event {
                <Self as $crate::platform::VendorEvent>::into_event(self)
            }
        }
    };
}
pub(crate) use inherent_vendor_methods;

/// The dedupe key of a verified delivery, under `namespace` (the receiver uses the vendor's
/// name or [`ReceiverBuilder::namespace`](crate::receiver::ReceiverBuilder::namespace)).
///
/// In order of preference, each with its own [`IdSource`] tag so ids from different sources
/// never collide:
/// 1. the delivery id when the signature covers it (stable across the sender's retries, e.g.
///    Standard Webhooks' `webhook-id`): `ns/id:<id>`;
/// 2. the vendor's event id from the verified payload ([`VendorEvent::event_id`]): `ns/ev:<id>`;
/// 3. the SHA-256 of exactly the signed content ([`Verified::signed_content_sha256`]; retries
///    of the same delivery carry the same content): `ns/sha256:<hex>`.
///
/// A delivery id from a header the signature does not cover (`X-GitHub-Delivery`) is never
/// used, and neither are unsigned parts of the body (SaleSmartly's envelope): a replay could
/// change them.
///
/// ```
/// use chathooks::{platform, Verified};
/// let v = Verified::new("test", b"{}").with_signed_delivery_id(Some("msg_1"));
/// assert_eq!(platform::dedupe_key("t", &v, Some("evt_9"))?.as_str(), "t/id:msg_1");
/// let v = Verified::new("test", b"{}").with_delivery_id(Some("unsigned"));
/// assert_eq!(platform::dedupe_key("t", &v, Some("evt_9"))?.as_str(), "t/ev:evt_9");
/// assert_eq!(
///     platform::dedupe_key("t", &v, None)?.as_str(),
///     "t/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
/// );
/// # Ok::<(), chathooks::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for a bad namespace (see [`IdempotencyKey`]).
pub fn dedupe_key(
    namespace: &str,
    verified: &Verified<'_>,
    event_id: Option<&str>,
) -> Result<IdempotencyKey, crate::Error> {
    if let Some(id) = verified.signed_delivery_id().filter(|s| !s.is_empty()) {
        return IdempotencyKey::with_source(namespace, IdSource::SignedDelivery, id);
    }
    if let Some(id) = event_id.filter(|s| !s.is_empty()) {
        return IdempotencyKey::with_source(namespace, IdSource::Event, id);
    }
    IdempotencyKey::content(namespace, &verified.signed_content_sha256())
}

/// The id part of the dedupe key: the signed delivery id, else the event id, else
/// `sha256:<hex>` of the signed content.
#[deprecated(
    since = "0.2.0",
    note = "use `dedupe_key`: ids from different sources need different tags in the key"
)]
pub fn dedupe_id(verified: &Verified<'_>, event_id: Option<&str>) -> String {
    if let Some(id) = verified
        .signed_delivery_id()
        .or(event_id)
        .filter(|s| !s.is_empty())
    {
        return id.to_owned();
    }
    format!("sha256:{}", hex::encode(verified.signed_content_sha256()))
}

/// Evaluate `$run` with `$json` bound to a `serde_json::Deserializer` over `$body`: one reading
/// `&str` when the body is valid UTF-8 (checked once, for the whole body), else one reading the
/// bytes. Reading bytes, serde_json checks UTF-8 again string by string (`from_utf8` was 4 % of
/// ConversaLabs' typed parse); reading `&str` it need not. A body that is not UTF-8 is read from
/// the bytes exactly as before, so its errors are unchanged.
macro_rules! with_json {
    ($body:expr, |$json:ident| $run:expr) => {{
        let body: &[u8] = $body;
        match std::str::from_utf8(body) {
            Ok(text) => {
                let mut $json = serde_json::Deserializer::from_str(text);
                $run
            }
            Err(_) => {
                let mut $json = serde_json::Deserializer::from_slice(body);
                $run
            }
        }
    }};
}
pub(crate) use with_json;

/// Deserialize `T` from JSON bytes in one pass, without tracking the path (serde_json's depth
/// limit on). Errors name no path: parsers that use it re-run [`from_json`] on failure.
pub(crate) fn from_json_untracked<T: DeserializeOwned>(body: &[u8]) -> Result<T, ParseError> {
    with_json!(body, |de| {
        let value = T::deserialize(&mut de).map_err(ParseError::from)?;
        de.end().map_err(ParseError::from)?;
        Ok(value)
    })
}

/// Deserialize `T` from JSON bytes with serde_json's depth limit on and the path of any bad field
/// (of a syntax error too, also inside members `T` keeps raw or skips: see [`path::precise`]).
pub(crate) fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| path::precise(body, ParseError::from_json(e)))?;
    de.end().map_err(ParseError::from)?;
    Ok(value)
}

/// Every fixture body under `tests/fixtures/<vendor>/`, for the tests that check a fast parser
/// against its reference parse; panics when there are fewer than `at_least`.
#[cfg(test)]
pub(crate) fn fixtures(vendor: &str, at_least: usize) -> Vec<String> {
    let dir = format!("{}/tests/fixtures/{vendor}", env!("CARGO_MANIFEST_DIR"));
    let bodies: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert!(
        bodies.len() >= at_least,
        "only {} fixtures in {dir}",
        bodies.len()
    );
    bodies
}

/// A fast parse checked alone against its reference: both succeed with the same event, or
/// both fail (the error texts may differ: only the reference names the path).
#[cfg(test)]
#[track_caller]
pub(crate) fn fast_agrees<T: std::fmt::Debug>(
    fast: &Result<T, ParseError>,
    reference: &Result<T, ParseError>,
    body: &str,
) {
    match (fast, reference) {
        (Ok(f), Ok(r)) => assert_eq!(format!("{f:?}"), format!("{r:?}"), "body: {body}"),
        (Err(_), Err(_)) => {}
        _ => panic!("fast pass {fast:?} but reference {reference:?}; body: {body}"),
    }
}

pub mod buzzi;
pub mod conversalabs;
pub(crate) mod lookup;
pub(crate) mod open;
pub(crate) mod path;
pub mod sam;
pub mod standard;
