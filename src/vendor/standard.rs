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
//! `feedback.received`. Every other type is [`EventKind::Other`]. From `data` it reads only
//! well-known id keys (`conversation_id`, `contact_id`/`customer_id`, `message_id`,
//! `tenant_id`/`account_id`); use [`StandardEvent::data_as`] for your own payload type.
//!
//! ## Dedupe
//!
//! The payload carries no event id ([`StandardEvent::event_id`] is `None`): the sender's
//! `webhook-id` header is the delivery id, which
//! [`StandardWebhooks`](crate::verify::StandardWebhooks) puts on the
//! [`Verified`](crate::Verified) value and [`dedupe_id`](super::dedupe_id) prefers.
//!
//! ```
//! use chathooks::vendor::{standard::StandardEvent, VendorEvent};
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

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::open;
use super::{from_json, VendorEvent};
use crate::event::{Event, EventKind, Vendor};
use crate::lenient::{self, Timestamp};
use crate::ParseError;

/// A Standard Webhooks payload in the recommended `{type, timestamp, data}` shape.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct StandardEvent {
    /// The event type, e.g. `"user.created"` (`""` when the sender omitted it).
    #[serde(default, rename = "type")]
    pub event_type: String,
    /// When the event happened (RFC 3339 per the spec; epoch numbers also read).
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub timestamp: Option<Timestamp>,
    /// The event data, exactly as sent; `None` when absent or `null`.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
    /// Other top-level keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StandardEvent {
    /// Deserialize `data` into your own type. Errors carry the path, starting at `data`.
    ///
    /// ```
    /// # use chathooks::vendor::{standard::StandardEvent, VendorEvent};
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

crate::vendor::inherent_vendor_methods!(StandardEvent);

impl VendorEvent for StandardEvent {
    const VENDOR: Vendor = Vendor::StandardWebhooks;

    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        // `peek_name` first: it rejects non-objects (a derived struct would accept an array).
        open::peek_name(body, &["type"])?;
        from_json(body)
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
        let data: Option<Map<String, Value>> = self
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
        }
        ev
    }
}
