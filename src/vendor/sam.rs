//! Sam (viasam.app) custom webhooks.
//!
//! **Shape inferred from** Sam's integrations page (docs.viasam.app/dashboard/integrations: the
//! five event slugs and the envelope `event`, `tenant_id`, `widget_id`, `data`, `timestamp`
//! "ISO 8601") and its handover page (docs.viasam.app/widget/handover: a handover flips the
//! conversation status to *Escalated*; after the wait threshold or outside working hours the
//! visitor gets a callback form). Sam publishes **no payload sample** and does not describe
//! `data` beyond "conversation, lead, or message data", so every `data` struct here is a
//! typed-but-open guess: all fields optional, unknown fields kept in `extra`, nothing lost.
//! `tenant_id` and `widget_id` are accepted as strings or numbers; `timestamp` as ISO 8601 with
//! or without offset, or epoch seconds/milliseconds ([`Timestamp`]).
//!
//! | event | variant | `data` |
//! |---|---|---|
//! | `conversation.started` | [`SamEvent::ConversationStarted`] | [`SamConversation`] |
//! | `conversation.closed` | [`SamEvent::ConversationClosed`] | [`SamConversation`] |
//! | `lead.captured` | [`SamEvent::LeadCaptured`] | [`SamLead`] |
//! | `callback.requested` | [`SamEvent::CallbackRequested`] | [`SamCallback`] |
//! | `handover.requested` | [`SamEvent::HandoverRequested`] | [`SamHandover`] |
//! | anything else | [`SamEvent::Unknown`] | the whole body, byte for byte |
//!
//! ## Dedupe
//!
//! Sam documents no event or delivery id, and retries for up to 24 hours. [`SamEvent::event_id`]
//! returns, in order: an envelope `id` or `event_id` if one is ever sent; otherwise
//! `"<event>:<data.id>@<timestamp>"` when both `data.id` and `timestamp` are present (the id
//! alone would merge two different handovers of one conversation); otherwise `None`, and
//! [`dedupe_id`](super::dedupe_id) falls back to the SHA-256 of the verified body.
//!
//! ```
//! use chathooks::vendor::{sam::SamEvent, VendorEvent};
//! use chathooks::event::EventKind;
//! let body = br#"{"event":"lead.captured","tenant_id":4021,"widget_id":"wgt_9f2c",
//!   "timestamp":"2025-03-14T09:26:53Z","data":{"name":"Priya Nair","email":"priya@example.in"}}"#;
//! let ev = SamEvent::from_slice(body)?;
//! let SamEvent::LeadCaptured(lead) = &ev else { panic!("not a lead") };
//! assert_eq!(lead.tenant_id.as_deref(), Some("4021"));
//! assert_eq!(lead.data.name.as_deref(), Some("Priya Nair"));
//! let common = ev.normalize();
//! assert_eq!(common.kind, EventKind::LeadCaptured);
//! assert_eq!(common.contact.unwrap().emails, ["priya@example.in"]);
//! # Ok::<(), chathooks::ParseError>(())
//! ```

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::open::{self, open_enum, push_unique, put};
use super::{from_json, VendorEvent};
use crate::event::{Contact, Conversation, Direction, Event, EventKind, Message, Vendor};
use crate::lenient::{self, de, Timestamp};
use crate::ParseError;

/// The keys that may carry the event name, in priority order.
const NAME_KEYS: &[&str] = &["event"];

/// A Sam webhook delivery.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SamEvent {
    /// `conversation.started`: a visitor conversation began.
    ConversationStarted(Box<SamEnvelope<SamConversation>>),
    /// `conversation.closed`: the conversation ended.
    ConversationClosed(Box<SamEnvelope<SamConversation>>),
    /// `lead.captured`: Sam captured the visitor's contact details.
    LeadCaptured(Box<SamEnvelope<SamLead>>),
    /// `callback.requested`: the visitor submitted a callback form (no agent available, outside
    /// working hours, or "Talk to a human").
    CallbackRequested(Box<SamEnvelope<SamCallback>>),
    /// `handover.requested`: the conversation was escalated to a human.
    HandoverRequested(Box<SamEnvelope<SamHandover>>),
    /// Any other event name, kept losslessly.
    Unknown {
        /// The `event` value as sent (empty when the body has none).
        name: String,
        /// The whole body (surrounding whitespace trimmed).
        raw: Box<RawValue>,
    },
}

/// The documented envelope around every Sam event.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "D: Deserialize<'de> + Default"))]
#[non_exhaustive]
pub struct SamEnvelope<D> {
    /// The event slug (`"lead.captured"`…).
    pub event: String,
    /// Your Sam account id ("tenant"); numbers are kept as their decimal text.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub tenant_id: Option<String>,
    /// The widget that triggered the event (Pro accounts have up to five).
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub widget_id: Option<String>,
    /// When the event fired (documented as ISO 8601).
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub timestamp: Option<Timestamp>,
    /// The event payload; default (all `None`) when absent or `null`.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub data: D,
    /// An event id at envelope level. Not documented by Sam; read in case it is sent.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// An `event_id` at envelope level. Not documented by Sam; read in case it is sent.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub event_id: Option<String>,
    /// Envelope fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_enum! {
    /// Conversation status. The handover page names *Escalated*; the others are inferred.
    pub enum SamStatus {
        /// The conversation is running with Sam.
        Active => "active" | "open" | "ongoing" | "started",
        /// Handed over to a human (waiting for or talking with an agent).
        Escalated => "escalated" | "handover" | "handed_over",
        /// The conversation ended.
        Closed => "closed" | "ended" | "resolved",
    }
}

open_enum! {
    /// Who wrote a message (inferred).
    pub enum SamRole {
        /// The website visitor.
        Visitor => "visitor" | "user" | "customer" | "contact",
        /// Sam, the AI assistant.
        Assistant => "assistant" | "bot" | "sam" | "ai",
        /// A human agent after a handover.
        Agent => "agent" | "human" | "human_agent" | "operator",
        /// A system notice ("no agent available"…).
        System => "system",
    }
}

/// The visitor, as far as Sam knows them (inferred).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SamVisitor {
    /// Visitor id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub name: Option<String>,
    /// Email address.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub email: Option<String>,
    /// Phone number (numbers kept as text).
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub phone: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One chat message (inferred).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SamMessage {
    /// Message id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub role: Option<SamRole>,
    /// Text, when sent as `text`.
    #[serde(default)]
    pub text: Option<String>,
    /// Text, when sent as `content`.
    #[serde(default)]
    pub content: Option<String>,
    /// When it was written.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SamMessage {
    /// The message text, whichever key carried it.
    pub fn body(&self) -> Option<&str> {
        self.text.as_deref().or(self.content.as_deref())
    }
}

/// `data` of `conversation.started` / `conversation.closed` (inferred).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SamConversation {
    /// Conversation id, when sent as `id`.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Conversation id, when sent as `conversation_id`.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// Status (`"Escalated"` per the handover page).
    #[serde(default)]
    pub status: Option<SamStatus>,
    /// The visitor.
    #[serde(default)]
    pub visitor: Option<SamVisitor>,
    /// Page the widget was opened on.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub page_url: Option<String>,
    /// When the conversation began.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub closed_at: Option<Timestamp>,
    /// Number of messages.
    #[serde(default, deserialize_with = "de::i64ish")]
    pub message_count: Option<i64>,
    /// A single message (e.g. the visitor's first one).
    #[serde(default)]
    pub message: Option<SamMessage>,
    /// The transcript, when sent.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub messages: Vec<SamMessage>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SamConversation {
    /// The conversation id, whichever key carried it.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation_id.as_deref().or(self.id.as_deref())
    }
}

/// `data` of `lead.captured` (inferred: the lead form's name, email, phone and notes).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SamLead {
    /// Lead id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// The conversation the lead came from.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub name: Option<String>,
    /// Email address.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub email: Option<String>,
    /// Phone number (numbers kept as text).
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub phone: Option<String>,
    /// Company.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub company: Option<String>,
    /// Notes or the visitor's message.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub notes: Option<String>,
    /// Page the lead was captured on.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub page_url: Option<String>,
    /// The visitor, when sent as a nested object.
    #[serde(default)]
    pub visitor: Option<SamVisitor>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `data` of `callback.requested` (inferred from the handover page's callback form).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SamCallback {
    /// Callback request id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// The conversation the request came from.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub name: Option<String>,
    /// Phone number to call (numbers kept as text).
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub email: Option<String>,
    /// Preferred time; free text is kept in [`Timestamp::original`].
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub preferred_time: Option<Timestamp>,
    /// IANA zone of the preferred time or of the working-hours schedule.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub timezone: Option<String>,
    /// Why a callback instead of a live agent (outside hours, no agent available…).
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub reason: Option<String>,
    /// Notes the visitor left.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub notes: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `data` of `handover.requested` (inferred from the handover page).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SamHandover {
    /// Handover id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// The conversation being escalated.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// Why: visitor asked for a human, frustration or off-topic talk detected, "Talk to a
    /// human" on a callback form. Free text; no values are documented.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub reason: Option<String>,
    /// The conversation status after the handover (*Escalated*).
    #[serde(default)]
    pub status: Option<SamStatus>,
    /// The visitor.
    #[serde(default)]
    pub visitor: Option<SamVisitor>,
    /// The message that triggered the handover.
    #[serde(default)]
    pub message: Option<SamMessage>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SamEvent {
    /// The envelope fields every known variant shares, as `(tenant, widget, timestamp)`.
    fn envelope(&self) -> Option<EnvelopeView<'_>> {
        Some(match self {
            SamEvent::ConversationStarted(e) | SamEvent::ConversationClosed(e) => {
                EnvelopeView::of(e, e.data.conversation_id())
            }
            SamEvent::LeadCaptured(e) => EnvelopeView::of(e, e.data.id.as_deref()),
            SamEvent::CallbackRequested(e) => EnvelopeView::of(e, e.data.id.as_deref()),
            SamEvent::HandoverRequested(e) => EnvelopeView::of(e, e.data.id.as_deref()),
            SamEvent::Unknown { .. } => return None,
        })
    }
}

struct EnvelopeView<'a> {
    event: &'a str,
    tenant: Option<&'a str>,
    widget: Option<&'a str>,
    timestamp: Option<&'a Timestamp>,
    id: Option<&'a str>,
    data_id: Option<&'a str>,
}

impl<'a> EnvelopeView<'a> {
    fn of<D>(e: &'a SamEnvelope<D>, data_id: Option<&'a str>) -> Self {
        EnvelopeView {
            event: &e.event,
            tenant: e.tenant_id.as_deref(),
            widget: e.widget_id.as_deref(),
            timestamp: e.timestamp.as_ref(),
            id: e.event_id.as_deref().or(e.id.as_deref()),
            data_id,
        }
    }
}

crate::vendor::inherent_vendor_methods!(SamEvent);

impl VendorEvent for SamEvent {
    const VENDOR: Vendor = Vendor::Sam;

    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        let name = open::peek_name(body, NAME_KEYS)?;
        Ok(match name.as_deref() {
            Some("conversation.started") => SamEvent::ConversationStarted(from_json(body)?),
            Some("conversation.closed") => SamEvent::ConversationClosed(from_json(body)?),
            Some("lead.captured") => SamEvent::LeadCaptured(from_json(body)?),
            Some("callback.requested") => SamEvent::CallbackRequested(from_json(body)?),
            Some("handover.requested") => SamEvent::HandoverRequested(from_json(body)?),
            _ => SamEvent::Unknown {
                name: name.unwrap_or_default(),
                raw: open::raw_body(body)?,
            },
        })
    }

    fn name(&self) -> &str {
        match self {
            SamEvent::ConversationStarted(e) | SamEvent::ConversationClosed(e) => &e.event,
            SamEvent::LeadCaptured(e) => &e.event,
            SamEvent::CallbackRequested(e) => &e.event,
            SamEvent::HandoverRequested(e) => &e.event,
            SamEvent::Unknown { name, .. } => name,
        }
    }

    /// See the module docs: envelope `event_id`/`id`, else `"<event>:<data.id>@<timestamp>"`,
    /// else `None` (body hash).
    fn event_id(&self) -> Option<Cow<'_, str>> {
        let v = self.envelope()?;
        if let Some(id) = v.id {
            return Some(Cow::Borrowed(id));
        }
        let (data_id, ts) = (v.data_id?, v.timestamp?);
        Some(Cow::Owned(format!(
            "{}:{}@{}",
            v.event, data_id, ts.original
        )))
    }

    fn normalize(&self) -> Event {
        let kind = match self {
            SamEvent::ConversationStarted(_) => EventKind::ConversationStarted,
            SamEvent::ConversationClosed(_) => EventKind::ConversationClosed,
            SamEvent::LeadCaptured(_) => EventKind::LeadCaptured,
            SamEvent::CallbackRequested(_) => EventKind::CallbackRequested,
            SamEvent::HandoverRequested(_) => EventKind::HandoverRequested,
            SamEvent::Unknown { name, .. } => EventKind::Other(name.clone()),
        };
        let mut ev = Event::new(Vendor::Sam, kind, self.name());
        ev.ids.event = self.event_id().map(Cow::into_owned);
        if let Some(v) = self.envelope() {
            ev.ids.tenant = v.tenant.map(str::to_owned);
            ev.ids.widget = v.widget.map(str::to_owned);
            ev.occurred_at = v.timestamp.and_then(|t| t.instant);
        }
        match self {
            SamEvent::ConversationStarted(e) | SamEvent::ConversationClosed(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id().map(str::to_owned);
                ev.conversation = Some(conversation(
                    d.conversation_id(),
                    d.status.as_ref(),
                    &d.extra,
                ));
                ev.contact = d.visitor.as_ref().map(visitor_contact);
                ev.message = d.message.as_ref().map(message);
                put(&mut ev.attributes, "page_url", d.page_url.clone());
                put(&mut ev.attributes, "message_count", d.message_count);
            }
            SamEvent::LeadCaptured(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                let mut c = d.visitor.as_ref().map(visitor_contact).unwrap_or_default();
                c.id = d.id.clone().or(c.id);
                c.name = d.name.clone().or(c.name);
                // The form's values come first: they are what the visitor just typed.
                prepend(&mut c.emails, d.email.as_deref());
                prepend(&mut c.phones, d.phone.as_deref());
                custom(&mut c, "company", d.company.as_deref());
                custom(&mut c, "notes", d.notes.as_deref());
                ev.ids.contact = c.id.clone();
                ev.contact = Some(c);
                put(&mut ev.attributes, "page_url", d.page_url.clone());
            }
            SamEvent::CallbackRequested(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                let mut c = Contact {
                    name: d.name.clone(),
                    ..Contact::default()
                };
                push_unique(&mut c.emails, d.email.as_deref());
                push_unique(&mut c.phones, d.phone.as_deref());
                custom(&mut c, "notes", d.notes.as_deref());
                ev.contact = Some(c);
                put(&mut ev.attributes, "callback_id", d.id.clone());
                put(
                    &mut ev.attributes,
                    "callback_preferred_time",
                    d.preferred_time.as_ref().map(|t| t.original.clone()),
                );
                put(&mut ev.attributes, "callback_timezone", d.timezone.clone());
                put(&mut ev.attributes, "callback_reason", d.reason.clone());
            }
            SamEvent::HandoverRequested(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                ev.conversation = Some(conversation(
                    d.conversation_id.as_deref(),
                    d.status.as_ref(),
                    &d.extra,
                ));
                ev.contact = d.visitor.as_ref().map(visitor_contact);
                ev.message = d.message.as_ref().map(message);
                put(&mut ev.attributes, "handover_id", d.id.clone());
                put(&mut ev.attributes, "handover_reason", d.reason.clone());
            }
            SamEvent::Unknown { .. } => {}
        }
        if let Some(c) = &ev.contact {
            if ev.ids.contact.is_none() {
                ev.ids.contact = c.id.clone();
            }
        }
        if let Some(m) = &ev.message {
            ev.ids.message = m.id.clone();
        }
        ev
    }
}

fn conversation(
    id: Option<&str>,
    status: Option<&SamStatus>,
    extra: &Map<String, Value>,
) -> Conversation {
    Conversation {
        id: id.map(str::to_owned),
        status: status.map(|s| s.as_str().to_owned()),
        channel: open::scalar(extra, "channel").map(|n| open::channel_from_name(&n)),
        assignee: open::scalar(extra, "agent_id").or_else(|| open::scalar(extra, "assignee_id")),
    }
}

fn visitor_contact(v: &SamVisitor) -> Contact {
    let mut c = Contact {
        id: v.id.clone(),
        name: v.name.clone(),
        ..Contact::default()
    };
    push_unique(&mut c.emails, v.email.as_deref());
    push_unique(&mut c.phones, v.phone.as_deref());
    c
}

fn message(m: &SamMessage) -> Message {
    Message {
        id: m.id.clone(),
        text: m.body().map(str::to_owned),
        direction: match m.role {
            Some(SamRole::Visitor) => Some(Direction::Inbound),
            Some(SamRole::Assistant | SamRole::Agent) => Some(Direction::Outbound),
            _ => None,
        },
        sender: open::scalar(&m.extra, "sender_id"),
        channel: open::scalar(&m.extra, "channel").map(|n| open::channel_from_name(&n)),
        sent_at: m.created_at.as_ref().and_then(|t| t.instant),
        ..Message::default()
    }
}

fn prepend(list: &mut Vec<String>, value: Option<&str>) {
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        list.retain(|x| x != v);
        list.insert(0, v.to_owned());
    }
}

fn custom(c: &mut Contact, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        c.custom_fields
            .insert(key.to_owned(), Value::String(v.to_owned()));
    }
}
