//! One normalised, cross-vendor event model for services that do not care which vendor sent it.
//!
//! Every vendor event converts into [`Event`] with `normalize()`. Fields are filled only from
//! what the vendor actually sent; nothing is invented. What does not fit the common model stays
//! in [`Event::attributes`] (vendor-specific scalars such as a deal stage or a payment amount), and
//! the typed vendor event is always available for the rest.
//!
//! ```
//! use chathooks::event::{Event, EventKind, Vendor};
//! let e = Event::new(Vendor::Sam, EventKind::LeadCaptured, "lead.captured");
//! assert_eq!(e.kind, EventKind::LeadCaptured);
//! assert!(e.contact.is_none());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

/// Who sent the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Vendor {
    /// Sam (viasam.app).
    Sam,
    /// SaleAssist (saleassist.ai).
    SaleAssist,
    /// SaleSmartly.
    SaleSmartly,
    /// Buzzi (chat.buzzi.ai).
    Buzzi,
    /// ConversaLabs (conversalabs.com.br).
    ConversaLabs,
    /// Any Standard Webhooks sender.
    StandardWebhooks,
}

impl Vendor {
    /// Stable lowercase name, used in dedupe keys and logs (`"sam"`, `"saleassist"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Vendor::Sam => "sam",
            Vendor::SaleAssist => "saleassist",
            Vendor::SaleSmartly => "salesmartly",
            Vendor::Buzzi => "buzzi",
            Vendor::ConversaLabs => "conversalabs",
            Vendor::StandardWebhooks => "standard_webhooks",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, across vendors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A visitor conversation began.
    ConversationStarted,
    /// A conversation changed (status, assignee, labels…).
    ConversationUpdated,
    /// A conversation ended or was resolved.
    ConversationClosed,
    /// A message arrived from the customer/visitor.
    MessageReceived,
    /// A message was sent by an agent or bot.
    MessageSent,
    /// A lead (contact details) was captured.
    LeadCaptured,
    /// A visitor asked to be called back.
    CallbackRequested,
    /// The conversation was escalated to a human.
    HandoverRequested,
    /// A customer/contact record was created.
    CustomerCreated,
    /// A customer/contact record was updated.
    CustomerUpdated,
    /// A payment was confirmed.
    PaymentConfirmed,
    /// A deal moved to another pipeline stage.
    DealStageChanged,
    /// A customer left feedback or a rating.
    FeedbackReceived,
    /// Anything else; carries the vendor's event name.
    Other(String),
}

/// Ids that tie the event to the vendor's records. All optional: vendors carry different ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Ids {
    /// The vendor's id for this event or delivery (the best dedupe key).
    pub event: Option<String>,
    /// Account / tenant / client / project id.
    pub tenant: Option<String>,
    /// Widget, inbox or chatbot id.
    pub widget: Option<String>,
    /// Conversation / session id.
    pub conversation: Option<String>,
    /// Contact / customer / visitor id.
    pub contact: Option<String>,
    /// Message id.
    pub message: Option<String>,
}

/// Most emails (and, apart, most phone numbers) a normalised [`Contact`] keeps: a person has a
/// few, and the bound keeps normalising a body that lists thousands linear.
pub const MAX_CONTACT_VALUES: usize = 64;

/// A person: lead, visitor, customer or contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Contact {
    /// The vendor's id for the person.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Email addresses, as sent, without repeats: at most [`MAX_CONTACT_VALUES`] (the
    /// vendor's typed event keeps them all).
    pub emails: Vec<String>,
    /// Phone numbers, as sent (not reformatted), without repeats: at most
    /// [`MAX_CONTACT_VALUES`].
    pub phones: Vec<String>,
    /// Where the person is.
    pub location: Option<Location>,
    /// Campaign attribution.
    pub utm: Option<Utm>,
    /// Labels / tags.
    pub labels: Vec<String>,
    /// Form fields and custom attributes that have no common slot, by the vendor's field name.
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// Location of a contact, as far as the vendor knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Location {
    /// Street address or free-form address text.
    pub address: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Postal code / PIN code, as text (leading zeros matter).
    pub postal_code: Option<String>,
    /// Latitude in degrees.
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    pub longitude: Option<f64>,
    /// IP address the location was derived from.
    pub ip: Option<String>,
}

/// UTM campaign parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Utm {
    /// `utm_source`.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
    /// `utm_term`.
    pub term: Option<String>,
    /// `utm_content`.
    pub content: Option<String>,
}

/// A conversation (chat session, ticket, call).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Conversation {
    /// The vendor's conversation/session id.
    pub id: Option<String>,
    /// Status as the vendor names it (`"open"`, `"resolved"`, `"escalated"`…).
    pub status: Option<String>,
    /// Channel the conversation runs on.
    pub channel: Option<Channel>,
    /// Assigned agent id, when any.
    pub assignee: Option<String>,
}

/// A chat message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Message {
    /// The vendor's message id.
    pub id: Option<String>,
    /// Text content, when the message has text.
    pub text: Option<String>,
    /// Message type as the vendor names it (`"text"`, `"button"`, `"image"`…).
    pub message_type: Option<String>,
    /// Channel the message came through.
    pub channel: Option<Channel>,
    /// Who sent it relative to the business.
    pub direction: Option<Direction>,
    /// Sender id as the vendor gives it.
    pub sender: Option<String>,
    /// Files and media.
    pub attachments: Vec<Attachment>,
    /// When the message was sent.
    #[serde(serialize_with = "rfc3339")]
    pub sent_at: Option<SystemTime>,
}

/// Direction of a message relative to the business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// From the customer/visitor to the business.
    Inbound,
    /// From an agent or bot to the customer.
    Outbound,
}

/// A file or media item attached to a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Attachment {
    /// Kind (`"image"`, `"file"`, `"audio"`…).
    pub kind: Option<String>,
    /// Where to fetch it.
    pub url: Option<String>,
    /// File name.
    pub name: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
}

/// Messaging channel, across vendors. Open: unknown channels are kept in `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// Website chat widget / plugin.
    Web,
    /// WhatsApp (Business API or app).
    WhatsApp,
    /// Facebook Messenger.
    Messenger,
    /// Facebook page comments.
    FacebookComments,
    /// Instagram direct messages.
    Instagram,
    /// Instagram comments.
    InstagramComments,
    /// Telegram.
    Telegram,
    /// LINE.
    Line,
    /// TikTok.
    TikTok,
    /// TikTok comments.
    TikTokComments,
    /// Email.
    Email,
    /// Slack.
    Slack,
    /// Microsoft Teams.
    Teams,
    /// WeCom (企业微信).
    WeCom,
    /// VKontakte.
    VKontakte,
    /// Voice or video call.
    Call,
    /// Anything else, as the vendor named or numbered it.
    Other(String),
}

/// A delivery from any vendor in one shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Who sent it.
    pub vendor: Vendor,
    /// The vendor's own event name (`"lead.captured"`, `"widget_new_conversation"`…).
    pub name: String,
    /// When it happened, if the vendor said.
    #[serde(serialize_with = "rfc3339")]
    pub occurred_at: Option<SystemTime>,
    /// Ids of the records involved.
    pub ids: Ids,
    /// The person involved.
    pub contact: Option<Contact>,
    /// The conversation involved.
    pub conversation: Option<Conversation>,
    /// The message involved.
    pub message: Option<Message>,
    /// Vendor-specific values with no common slot (deal stage, payment amount, rating…).
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl Event {
    /// An event with only its kind, vendor and name set.
    pub fn new(vendor: Vendor, kind: EventKind, name: impl Into<String>) -> Self {
        Event {
            kind,
            vendor,
            name: name.into(),
            occurred_at: None,
            ids: Ids::default(),
            contact: None,
            conversation: None,
            message: None,
            attributes: BTreeMap::new(),
        }
    }
}

/// Times serialise as RFC 3339 text (`"2024-07-11T11:00:00Z"`), which every consumer reads and
/// which, unlike serde's own `SystemTime` format, also covers instants before 1970.
fn rfc3339<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t.map(jiff::Timestamp::try_from) {
        Some(Ok(ts)) => s.collect_str(&ts),
        // Outside jiff's range (years beyond ±9999): no faithful text exists.
        Some(Err(_)) | None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_serialise_as_rfc3339_even_before_1970() {
        let mut e = Event::new(Vendor::Sam, EventKind::LeadCaptured, "lead.captured");
        e.occurred_at = Some(UNIX_EPOCH + Duration::from_secs(1_720_695_600));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["occurred_at"], "2024-07-11T11:00:00Z");
        e.occurred_at = Some(UNIX_EPOCH - Duration::from_secs(86_400));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["occurred_at"], "1969-12-31T00:00:00Z");
        e.occurred_at = None;
        assert!(serde_json::to_value(&e).unwrap()["occurred_at"].is_null());
    }
}
