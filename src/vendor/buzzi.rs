//! Buzzi (chat.buzzi.ai) outbound webhooks.
//!
//! **Shape inferred from** three inconsistent Buzzi sources and its public repository
//! (github.com/cynerellc/chat.buzzi.ai): the integrations UI spec (`conversation.created`,
//! `conversation.updated`, `conversation.closed`, `message.received`, `message.sent`,
//! `escalation.triggered`), the database-schema doc (`escalation.created`,
//! `conversation.resolved`), the shipped UI code (`conversation.created`,
//! `conversation.resolved`, `conversation.escalated`, `message.created`,
//! `feedback.received`), and the Drizzle schema of the `conversations`, `messages`,
//! `escalations` and `end_users` tables plus its enums. The repository has **no delivery code**:
//! no envelope, payload or signature was ever published. This module therefore accepts the
//! union of the event names and assumes:
//!
//! - an envelope `{event | type, timestamp | created_at, data}` — both spellings of the name and
//!   of the time are read (`event` wins over `type`, `timestamp` over `created_at`), plus an
//!   optional delivery `id` (`webhook_deliveries.id`), `chatbot_id` and `company_id`;
//! - `data` holds the row the event is about with the table's column names, in `snake_case`
//!   (the SQL names) or `camelCase` (how Drizzle rows serialise in JavaScript) — both read;
//! - every enum column is an open set ([`BuzziConversationStatus`], [`BuzziMessageRole`],
//!   [`BuzziMessageType`], [`BuzziChannel`], [`BuzziEscalationStatus`],
//!   [`BuzziEscalationPriority`], [`BuzziResolutionType`]).
//!
//! Everything else is kept in `extra` maps.
//!
//! ## Dedupe
//!
//! No event id is documented. [`BuzziEvent::event_id`] returns the envelope `id` (or
//! `delivery_id`/`event_id`) when present, otherwise `None`: the dedupe key is then the hash of
//! the verified body. `data.id` is *not* used: it is the conversation's id on every
//! `conversation.*` event, so it would merge `conversation.updated` deliveries.
//!
//! ```
//! use chathooks::vendor::{buzzi::{BuzziEvent, BuzziMessageRole}, VendorEvent};
//! use chathooks::event::{Direction, EventKind};
//! let body = br#"{"type":"message.created","created_at":"2026-01-12T10:00:00Z",
//!   "data":{"id":"m1","conversationId":"c1","role":"user","content":"Hola"}}"#;
//! let ev = BuzziEvent::from_slice(body)?;
//! let BuzziEvent::MessageCreated(m) = &ev else { panic!() };
//! assert_eq!(m.data.role, Some(BuzziMessageRole::User));
//! let common = ev.normalize();
//! assert_eq!(common.kind, EventKind::MessageReceived);
//! assert_eq!(common.message.unwrap().direction, Some(Direction::Inbound));
//! # Ok::<(), chathooks::ParseError>(())
//! ```

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::open::{self, open_enum, push_unique, put};
use super::{from_json, VendorEvent};
use crate::event::{
    Attachment, Channel, Contact, Conversation, Direction, Event, EventKind, Location, Message,
    Vendor,
};
use crate::lenient::{self, de, Timestamp};
use crate::ParseError;

const NAME_KEYS: &[&str] = &["event", "type"];

/// A Buzzi webhook delivery: the union of every event name Buzzi's sources use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BuzziEvent {
    /// `conversation.created` (in every source).
    ConversationCreated(Box<BuzziEnvelope<BuzziConversation>>),
    /// `conversation.updated` (UI spec).
    ConversationUpdated(Box<BuzziEnvelope<BuzziConversation>>),
    /// `conversation.closed` (UI spec).
    ConversationClosed(Box<BuzziEnvelope<BuzziConversation>>),
    /// `conversation.resolved` (UI code, schema doc).
    ConversationResolved(Box<BuzziEnvelope<BuzziConversation>>),
    /// `conversation.escalated` (UI code).
    ConversationEscalated(Box<BuzziEnvelope<BuzziConversation>>),
    /// `message.received` (UI spec): from the end user.
    MessageReceived(Box<BuzziEnvelope<BuzziMessage>>),
    /// `message.sent` (UI spec): from the assistant or an agent.
    MessageSent(Box<BuzziEnvelope<BuzziMessage>>),
    /// `message.created` (UI code): any message; the role tells the direction.
    MessageCreated(Box<BuzziEnvelope<BuzziMessage>>),
    /// `escalation.triggered` (UI spec).
    EscalationTriggered(Box<BuzziEnvelope<BuzziEscalation>>),
    /// `escalation.created` (schema doc).
    EscalationCreated(Box<BuzziEnvelope<BuzziEscalation>>),
    /// `feedback.received` (UI code).
    FeedbackReceived(Box<BuzziEnvelope<BuzziFeedback>>),
    /// Any other event name, kept losslessly.
    Unknown {
        /// The `event` (or `type`) value as sent; empty when the body has neither.
        name: String,
        /// The whole body (surrounding whitespace trimmed).
        raw: Box<RawValue>,
    },
}

/// The inferred envelope around a Buzzi event.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "D: Deserialize<'de> + Default"))]
#[non_exhaustive]
pub struct BuzziEnvelope<D> {
    /// Event name, when sent as `event`.
    #[serde(default)]
    pub event: Option<String>,
    /// Event name, when sent as `type`.
    #[serde(default, rename = "type")]
    pub event_type: Option<String>,
    /// Delivery or event id, when sent as `id`.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Delivery id, when sent as `delivery_id`.
    #[serde(
        default,
        alias = "deliveryId",
        deserialize_with = "de::string_or_number"
    )]
    pub delivery_id: Option<String>,
    /// Event id, when sent as `event_id`.
    #[serde(default, alias = "eventId", deserialize_with = "de::string_or_number")]
    pub event_id: Option<String>,
    /// When the event happened, when sent as `timestamp`.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub timestamp: Option<Timestamp>,
    /// When the event happened, when sent as `created_at`.
    #[serde(default, alias = "createdAt", deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// The chatbot (agent) the webhook belongs to.
    #[serde(
        default,
        alias = "chatbotId",
        deserialize_with = "de::string_or_number"
    )]
    pub chatbot_id: Option<String>,
    /// The company (tenant).
    #[serde(
        default,
        alias = "companyId",
        deserialize_with = "de::string_or_number"
    )]
    pub company_id: Option<String>,
    /// The event payload; default (all `None`) when absent or `null`.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub data: D,
    /// Envelope fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<D> BuzziEnvelope<D> {
    /// The event name: `event`, else `type`.
    pub fn name(&self) -> &str {
        self.event
            .as_deref()
            .or(self.event_type.as_deref())
            .unwrap_or("")
    }

    /// When the event happened: `timestamp`, else `created_at`.
    pub fn occurred_at(&self) -> Option<&Timestamp> {
        self.timestamp.as_ref().or(self.created_at.as_ref())
    }
}

open_enum! {
    /// `conversation_status` (Buzzi enum).
    pub enum BuzziConversationStatus {
        /// The AI is handling it.
        Active => "active",
        /// Escalated, waiting for a human.
        WaitingHuman => "waiting_human",
        /// A human agent is handling it.
        WithHuman => "with_human",
        /// Resolved.
        Resolved => "resolved",
        /// The end user left.
        Abandoned => "abandoned",
    }
}

open_enum! {
    /// `message_role` (Buzzi enum).
    pub enum BuzziMessageRole {
        /// The end user.
        User => "user",
        /// The AI assistant.
        Assistant => "assistant",
        /// A system notice.
        System => "system",
        /// A human agent.
        HumanAgent => "human_agent",
        /// A tool call result.
        Tool => "tool",
    }
}

open_enum! {
    /// `message_type` (Buzzi enum).
    pub enum BuzziMessageType {
        /// Text.
        Text => "text",
        /// Image.
        Image => "image",
        /// File.
        File => "file",
        /// Audio.
        Audio => "audio",
        /// A system event shown in the conversation.
        SystemEvent => "system_event",
    }
}

open_enum! {
    /// `channel_type` (Buzzi enum).
    pub enum BuzziChannel {
        /// Website widget.
        Web => "web",
        /// WhatsApp.
        WhatsApp => "whatsapp",
        /// Telegram.
        Telegram => "telegram",
        /// Facebook Messenger.
        Messenger => "messenger",
        /// Instagram.
        Instagram => "instagram",
        /// Slack.
        Slack => "slack",
        /// Microsoft Teams.
        Teams => "teams",
        /// A custom channel.
        Custom => "custom",
    }
}

open_enum! {
    /// `escalation_status` (Buzzi enum).
    pub enum BuzziEscalationStatus {
        /// Waiting for an agent.
        Pending => "pending",
        /// Assigned to an agent.
        Assigned => "assigned",
        /// An agent is working on it.
        InProgress => "in_progress",
        /// Resolved by the agent.
        Resolved => "resolved",
        /// Handed back to the AI.
        ReturnedToAi => "returned_to_ai",
        /// The end user left.
        Abandoned => "abandoned",
    }
}

open_enum! {
    /// `escalation_priority` (Buzzi enum).
    pub enum BuzziEscalationPriority {
        /// Low.
        Low => "low",
        /// Medium (the default).
        Medium => "medium",
        /// High.
        High => "high",
        /// Urgent.
        Urgent => "urgent",
    }
}

open_enum! {
    /// `resolution_type` (Buzzi enum).
    pub enum BuzziResolutionType {
        /// Resolved by the AI.
        Ai => "ai",
        /// Resolved by a human.
        Human => "human",
        /// The end user left.
        Abandoned => "abandoned",
        /// Ended by escalation.
        Escalated => "escalated",
    }
}

/// The end user (visitor/customer), from the `end_users` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BuzziEndUser {
    /// End-user id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Your id for the user, from an integration.
    #[serde(
        default,
        alias = "externalId",
        deserialize_with = "de::string_or_number"
    )]
    pub external_id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub name: Option<String>,
    /// Email.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub email: Option<String>,
    /// Phone (numbers kept as text).
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub phone: Option<String>,
    /// Channel the user came through.
    #[serde(default)]
    pub channel: Option<BuzziChannel>,
    /// The user's id on that channel (WhatsApp number, Telegram id…).
    #[serde(
        default,
        alias = "channelUserId",
        deserialize_with = "de::string_or_number"
    )]
    pub channel_user_id: Option<String>,
    /// IP address.
    #[serde(
        default,
        alias = "ipAddress",
        deserialize_with = "de::non_empty_string"
    )]
    pub ip_address: Option<String>,
    /// `{country, city, timezone}` per the schema comment.
    #[serde(default)]
    pub location: Option<BuzziLocation>,
    /// Custom attributes.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: Map<String, Value>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `end_users.location`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BuzziLocation {
    /// Country.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub country: Option<String>,
    /// City.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub city: Option<String>,
    /// IANA time zone.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub timezone: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A conversation, from the `conversations` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BuzziConversation {
    /// Conversation id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Company (tenant).
    #[serde(
        default,
        alias = "companyId",
        deserialize_with = "de::string_or_number"
    )]
    pub company_id: Option<String>,
    /// Chatbot (agent).
    #[serde(
        default,
        alias = "chatbotId",
        deserialize_with = "de::string_or_number"
    )]
    pub chatbot_id: Option<String>,
    /// End user.
    #[serde(
        default,
        alias = "endUserId",
        deserialize_with = "de::string_or_number"
    )]
    pub end_user_id: Option<String>,
    /// Channel.
    #[serde(default)]
    pub channel: Option<BuzziChannel>,
    /// Status.
    #[serde(default)]
    pub status: Option<BuzziConversationStatus>,
    /// Subject line.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub subject: Option<String>,
    /// Assigned human agent (`null` = the AI).
    #[serde(
        default,
        alias = "assignedUserId",
        deserialize_with = "de::string_or_number"
    )]
    pub assigned_user_id: Option<String>,
    /// Number of messages.
    #[serde(default, alias = "messageCount", deserialize_with = "de::i64ish")]
    pub message_count: Option<i64>,
    /// How it was resolved.
    #[serde(default, alias = "resolutionType")]
    pub resolution_type: Option<BuzziResolutionType>,
    /// When it was resolved.
    #[serde(default, alias = "resolvedAt", deserialize_with = "lenient::timestamp")]
    pub resolved_at: Option<Timestamp>,
    /// Satisfaction rating, 1–5.
    #[serde(default, alias = "satisfactionRating", deserialize_with = "de::f64ish")]
    pub satisfaction_rating: Option<f64>,
    /// Sentiment, −100 to 100.
    #[serde(default, deserialize_with = "de::i64ish")]
    pub sentiment: Option<i64>,
    /// Browser session id.
    #[serde(
        default,
        alias = "sessionId",
        deserialize_with = "de::string_or_number"
    )]
    pub session_id: Option<String>,
    /// Page the conversation started on.
    #[serde(default, alias = "pageUrl", deserialize_with = "de::non_empty_string")]
    pub page_url: Option<String>,
    /// Tags (JSON array; usually strings).
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub tags: Vec<Value>,
    /// Custom metadata.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: Map<String, Value>,
    /// Created.
    #[serde(default, alias = "createdAt", deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// Last updated.
    #[serde(default, alias = "updatedAt", deserialize_with = "lenient::timestamp")]
    pub updated_at: Option<Timestamp>,
    /// The end user, when nested.
    #[serde(default, alias = "endUser")]
    pub end_user: Option<BuzziEndUser>,
    /// The escalation, when nested (`conversation.escalated`).
    #[serde(default)]
    pub escalation: Option<Box<BuzziEscalation>>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A message, from the `messages` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BuzziMessage {
    /// Message id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Conversation id.
    #[serde(
        default,
        alias = "conversationId",
        deserialize_with = "de::string_or_number"
    )]
    pub conversation_id: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub role: Option<BuzziMessageRole>,
    /// Message type (the column is named `type`).
    #[serde(default, rename = "type")]
    pub message_type: Option<BuzziMessageType>,
    /// Text content.
    #[serde(default)]
    pub content: Option<String>,
    /// The human agent who wrote it (`human_agent` messages).
    #[serde(default, alias = "userId", deserialize_with = "de::string_or_number")]
    pub user_id: Option<String>,
    /// Attachments (JSON array; shape not published). Objects with `url`, `name`, `type` or
    /// `mimeType`, and plain URL strings, are mapped by `normalize`.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub attachments: Vec<Value>,
    /// Channel, when sent with the message.
    #[serde(default)]
    pub channel: Option<BuzziChannel>,
    /// Created.
    #[serde(default, alias = "createdAt", deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// The conversation, when nested.
    #[serde(default)]
    pub conversation: Option<BuzziConversation>,
    /// The end user, when nested.
    #[serde(default, alias = "endUser")]
    pub end_user: Option<BuzziEndUser>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An escalation to a human, from the `escalations` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BuzziEscalation {
    /// Escalation id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Conversation id.
    #[serde(
        default,
        alias = "conversationId",
        deserialize_with = "de::string_or_number"
    )]
    pub conversation_id: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<BuzziEscalationStatus>,
    /// Priority.
    #[serde(default)]
    pub priority: Option<BuzziEscalationPriority>,
    /// Assigned agent.
    #[serde(
        default,
        alias = "assignedUserId",
        deserialize_with = "de::string_or_number"
    )]
    pub assigned_user_id: Option<String>,
    /// Why it was escalated.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub reason: Option<String>,
    /// What triggered it (`manual`, `sentiment`, `keyword`, `turns` per the schema comment).
    #[serde(
        default,
        alias = "triggerType",
        deserialize_with = "de::non_empty_string"
    )]
    pub trigger_type: Option<String>,
    /// Whether it was handed back to the AI (`true`, `1`, `"yes"`…).
    #[serde(default, alias = "returnedToAi", deserialize_with = "de::boolish")]
    pub returned_to_ai: Option<bool>,
    /// Seconds from creation to assignment.
    #[serde(default, alias = "waitTime", deserialize_with = "de::i64ish")]
    pub wait_time: Option<i64>,
    /// Created.
    #[serde(default, alias = "createdAt", deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// The conversation, when nested.
    #[serde(default)]
    pub conversation: Option<BuzziConversation>,
    /// The end user, when nested.
    #[serde(default, alias = "endUser")]
    pub end_user: Option<BuzziEndUser>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `feedback.received`: a rating and comment (no table published; inferred from
/// `conversations.satisfaction_rating`).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BuzziFeedback {
    /// Feedback id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Conversation id.
    #[serde(
        default,
        alias = "conversationId",
        deserialize_with = "de::string_or_number"
    )]
    pub conversation_id: Option<String>,
    /// The message rated, for per-message thumbs.
    #[serde(
        default,
        alias = "messageId",
        deserialize_with = "de::string_or_number"
    )]
    pub message_id: Option<String>,
    /// Rating, when sent as `rating` (number or numeric text).
    #[serde(default, deserialize_with = "de::f64ish")]
    pub rating: Option<f64>,
    /// Rating, when sent as `satisfaction_rating` (the conversation column).
    #[serde(default, alias = "satisfactionRating", deserialize_with = "de::f64ish")]
    pub satisfaction_rating: Option<f64>,
    /// Free-text comment.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub comment: Option<String>,
    /// End user id.
    #[serde(
        default,
        alias = "endUserId",
        deserialize_with = "de::string_or_number"
    )]
    pub end_user_id: Option<String>,
    /// The end user, when nested.
    #[serde(default, alias = "endUser")]
    pub end_user: Option<BuzziEndUser>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BuzziFeedback {
    /// The rating, whichever key carried it.
    pub fn score(&self) -> Option<f64> {
        self.rating.or(self.satisfaction_rating)
    }
}

/// Borrowed view of the envelope fields every known variant shares.
struct Head<'a> {
    name: &'a str,
    id: Option<&'a str>,
    at: Option<&'a Timestamp>,
    chatbot: Option<&'a str>,
    company: Option<&'a str>,
}

impl<'a> Head<'a> {
    fn of<D>(e: &'a BuzziEnvelope<D>) -> Self {
        Head {
            name: e.name(),
            id: e
                .id
                .as_deref()
                .or(e.delivery_id.as_deref())
                .or(e.event_id.as_deref()),
            at: e.occurred_at(),
            chatbot: e.chatbot_id.as_deref(),
            company: e.company_id.as_deref(),
        }
    }
}

impl BuzziEvent {
    fn head(&self) -> Option<Head<'_>> {
        use BuzziEvent as B;
        Some(match self {
            B::ConversationCreated(e)
            | B::ConversationUpdated(e)
            | B::ConversationClosed(e)
            | B::ConversationResolved(e)
            | B::ConversationEscalated(e) => Head::of(e),
            B::MessageReceived(e) | B::MessageSent(e) | B::MessageCreated(e) => Head::of(e),
            B::EscalationTriggered(e) | B::EscalationCreated(e) => Head::of(e),
            B::FeedbackReceived(e) => Head::of(e),
            B::Unknown { .. } => return None,
        })
    }
}

crate::vendor::inherent_vendor_methods!(BuzziEvent);

impl VendorEvent for BuzziEvent {
    const VENDOR: Vendor = Vendor::Buzzi;

    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        use BuzziEvent as B;
        let name = open::peek_name(body, NAME_KEYS)?;
        Ok(match name.as_deref() {
            Some("conversation.created") => B::ConversationCreated(from_json(body)?),
            Some("conversation.updated") => B::ConversationUpdated(from_json(body)?),
            Some("conversation.closed") => B::ConversationClosed(from_json(body)?),
            Some("conversation.resolved") => B::ConversationResolved(from_json(body)?),
            Some("conversation.escalated") => B::ConversationEscalated(from_json(body)?),
            Some("message.received") => B::MessageReceived(from_json(body)?),
            Some("message.sent") => B::MessageSent(from_json(body)?),
            Some("message.created") => B::MessageCreated(from_json(body)?),
            Some("escalation.triggered") => B::EscalationTriggered(from_json(body)?),
            Some("escalation.created") => B::EscalationCreated(from_json(body)?),
            Some("feedback.received") => B::FeedbackReceived(from_json(body)?),
            _ => B::Unknown {
                name: name.unwrap_or_default(),
                raw: open::raw_body(body)?,
            },
        })
    }

    fn name(&self) -> &str {
        match (self, self.head()) {
            (_, Some(h)) => h.name,
            (BuzziEvent::Unknown { name, .. }, None) => name,
            _ => "",
        }
    }

    /// The envelope `id`, `delivery_id` or `event_id`; `None` otherwise (see module docs).
    fn event_id(&self) -> Option<Cow<'_, str>> {
        self.head()?.id.map(Cow::Borrowed)
    }

    fn normalize(&self) -> Event {
        use BuzziEvent as B;
        let kind = match self {
            B::ConversationCreated(_) => EventKind::ConversationStarted,
            B::ConversationUpdated(_) => EventKind::ConversationUpdated,
            B::ConversationClosed(_) | B::ConversationResolved(_) => EventKind::ConversationClosed,
            B::ConversationEscalated(_) | B::EscalationTriggered(_) | B::EscalationCreated(_) => {
                EventKind::HandoverRequested
            }
            B::MessageReceived(_) => EventKind::MessageReceived,
            B::MessageSent(_) => EventKind::MessageSent,
            B::MessageCreated(e) => match role_direction(e.data.role.as_ref()) {
                Some(Direction::Inbound) => EventKind::MessageReceived,
                Some(Direction::Outbound) => EventKind::MessageSent,
                _ => EventKind::Other(e.name().to_owned()),
            },
            B::FeedbackReceived(_) => EventKind::FeedbackReceived,
            B::Unknown { name, .. } => EventKind::Other(name.clone()),
        };
        let mut ev = Event::new(Vendor::Buzzi, kind, self.name());
        let Some(head) = self.head() else {
            return ev;
        };
        ev.ids.event = head.id.map(str::to_owned);
        ev.occurred_at = head.at.and_then(|t| t.instant);
        ev.ids.tenant = head.company.map(str::to_owned);
        ev.ids.widget = head.chatbot.map(str::to_owned);
        match self {
            B::ConversationCreated(e)
            | B::ConversationUpdated(e)
            | B::ConversationClosed(e)
            | B::ConversationResolved(e)
            | B::ConversationEscalated(e) => {
                let d = &e.data;
                fill_from_conversation(&mut ev, d);
                put(
                    &mut ev.attributes,
                    "resolution_type",
                    d.resolution_type.as_ref().map(|r| r.as_str().to_owned()),
                );
                put(
                    &mut ev.attributes,
                    "satisfaction_rating",
                    d.satisfaction_rating,
                );
                if let Some(esc) = &d.escalation {
                    escalation_attributes(&mut ev, esc);
                }
            }
            B::MessageReceived(e) | B::MessageSent(e) | B::MessageCreated(e) => {
                let d = &e.data;
                if let Some(c) = &d.conversation {
                    fill_from_conversation(&mut ev, c);
                }
                ev.ids.conversation = d.conversation_id.clone().or(ev.ids.conversation);
                if let Some(u) = &d.end_user {
                    ev.contact = Some(end_user_contact(u));
                    ev.ids.contact = u.id.clone().or(ev.ids.contact);
                }
                let mut m = Message::default();
                m.id = d.id.clone();
                m.text = d.content.clone();
                m.message_type = d.message_type.as_ref().map(|t| t.as_str().to_owned());
                m.channel = d
                    .channel
                    .as_ref()
                    .map(channel)
                    .or_else(|| ev.conversation.as_ref().and_then(|c| c.channel.clone()));
                m.direction = match self {
                    B::MessageReceived(_) => Some(Direction::Inbound),
                    B::MessageSent(_) => Some(Direction::Outbound),
                    _ => role_direction(d.role.as_ref()),
                };
                m.sender = d.user_id.clone().or_else(|| {
                    (m.direction == Some(Direction::Inbound))
                        .then(|| ev.ids.contact.clone())
                        .flatten()
                });
                m.attachments = d.attachments.iter().filter_map(attachment).collect();
                m.sent_at = d.created_at.as_ref().and_then(|t| t.instant);
                ev.ids.message = m.id.clone();
                ev.message = Some(m);
                put(
                    &mut ev.attributes,
                    "message_role",
                    d.role.as_ref().map(|r| r.as_str().to_owned()),
                );
            }
            B::EscalationTriggered(e) | B::EscalationCreated(e) => {
                let d = &e.data;
                if let Some(c) = &d.conversation {
                    fill_from_conversation(&mut ev, c);
                }
                ev.ids.conversation = d.conversation_id.clone().or(ev.ids.conversation);
                if let Some(u) = &d.end_user {
                    ev.contact = Some(end_user_contact(u));
                    ev.ids.contact = u.id.clone().or(ev.ids.contact);
                }
                escalation_attributes(&mut ev, d);
            }
            B::FeedbackReceived(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                ev.ids.message = d.message_id.clone();
                ev.ids.contact = d.end_user_id.clone();
                if let Some(u) = &d.end_user {
                    ev.contact = Some(end_user_contact(u));
                    ev.ids.contact = ev.ids.contact.take().or(u.id.clone());
                }
                put(&mut ev.attributes, "feedback_id", d.id.clone());
                put(&mut ev.attributes, "feedback_rating", d.score());
                put(&mut ev.attributes, "feedback_comment", d.comment.clone());
            }
            B::Unknown { .. } => {}
        }
        ev
    }
}

fn fill_from_conversation(ev: &mut Event, d: &BuzziConversation) {
    ev.ids.conversation = d.id.clone();
    ev.ids.tenant = ev.ids.tenant.take().or(d.company_id.clone());
    ev.ids.widget = ev.ids.widget.take().or(d.chatbot_id.clone());
    ev.ids.contact = d.end_user_id.clone();
    ev.conversation = Some(Conversation {
        id: d.id.clone(),
        status: d.status.as_ref().map(|s| s.as_str().to_owned()),
        channel: d.channel.as_ref().map(channel),
        assignee: d.assigned_user_id.clone(),
    });
    if let Some(u) = &d.end_user {
        ev.contact = Some(end_user_contact(u));
        ev.ids.contact = ev.ids.contact.take().or(u.id.clone());
    }
    let labels: Vec<String> = d
        .tags
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if !labels.is_empty() {
        ev.contact.get_or_insert_with(Contact::default).labels = labels;
    }
    put(&mut ev.attributes, "page_url", d.page_url.clone());
}

fn escalation_attributes(ev: &mut Event, d: &BuzziEscalation) {
    put(&mut ev.attributes, "escalation_id", d.id.clone());
    put(
        &mut ev.attributes,
        "escalation_status",
        d.status.as_ref().map(|s| s.as_str().to_owned()),
    );
    put(
        &mut ev.attributes,
        "escalation_priority",
        d.priority.as_ref().map(|s| s.as_str().to_owned()),
    );
    put(&mut ev.attributes, "handover_reason", d.reason.clone());
    put(
        &mut ev.attributes,
        "escalation_trigger",
        d.trigger_type.clone(),
    );
    if let (Some(conv), Some(agent)) = (ev.conversation.as_mut(), &d.assigned_user_id) {
        conv.assignee.get_or_insert_with(|| agent.clone());
    }
}

fn role_direction(role: Option<&BuzziMessageRole>) -> Option<Direction> {
    match role? {
        BuzziMessageRole::User => Some(Direction::Inbound),
        BuzziMessageRole::Assistant | BuzziMessageRole::HumanAgent => Some(Direction::Outbound),
        _ => None,
    }
}

fn channel(c: &BuzziChannel) -> Channel {
    match c {
        BuzziChannel::Web => Channel::Web,
        BuzziChannel::WhatsApp => Channel::WhatsApp,
        BuzziChannel::Telegram => Channel::Telegram,
        BuzziChannel::Messenger => Channel::Messenger,
        BuzziChannel::Instagram => Channel::Instagram,
        BuzziChannel::Slack => Channel::Slack,
        BuzziChannel::Teams => Channel::Teams,
        other => Channel::Other(other.as_str().to_owned()),
    }
}

fn end_user_contact(u: &BuzziEndUser) -> Contact {
    let mut c = Contact {
        id: u.id.clone(),
        name: u.name.clone(),
        ..Contact::default()
    };
    push_unique(&mut c.emails, u.email.as_deref());
    push_unique(&mut c.phones, u.phone.as_deref());
    if u.location.is_some() || u.ip_address.is_some() {
        let l = u.location.as_ref();
        c.location = Some(Location {
            city: l.and_then(|l| l.city.clone()),
            country: l.and_then(|l| l.country.clone()),
            ip: u.ip_address.clone(),
            ..Location::default()
        });
    }
    for (k, v) in &u.metadata {
        c.custom_fields.insert(k.clone(), v.clone());
    }
    if let Some(x) = &u.external_id {
        c.custom_fields
            .insert("external_id".into(), Value::String(x.clone()));
    }
    c
}

fn attachment(v: &Value) -> Option<Attachment> {
    let mut a = Attachment::default();
    match v {
        Value::String(url) if !url.is_empty() => a.url = Some(url.clone()),
        Value::Object(m) => {
            a.url = open::scalar(m, "url");
            a.name = open::scalar(m, "name").or_else(|| open::scalar(m, "filename"));
            a.kind = open::scalar(m, "type");
            a.mime_type = open::scalar(m, "mime_type").or_else(|| open::scalar(m, "mimeType"));
        }
        _ => return None,
    }
    Some(a)
}
