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
//! `normalize()` also finds the contact and the message text nested one level down (`data.lead`,
//! `data.contact`, `data.customer`, `data.visitor`, `data.user`, `data.person`, `data.message`),
//! in the order the [`platform`](super) module documents.
//!
//! ## Dedupe
//!
//! No event id is documented. [`BuzziEvent::event_id`] returns the envelope `id` (or
//! `delivery_id`/`event_id`) when present, otherwise `None`: the dedupe key is then the hash of
//! the verified body. `data.id` is *not* used: it is the conversation's id on every
//! `conversation.*` event, so it would merge `conversation.updated` deliveries.
//!
//! ```
//! use chathooks::platform::{buzzi::{BuzziEvent, BuzziMessageRole}, VendorEvent};
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
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::open::{self, open_enum, push_unique, put};
use super::{from_json, VendorEvent};
use crate::event::{
    Attachment, Channel, Contact, Conversation, Direction, Event, EventKind, Location, Message,
    Vendor,
};
use crate::lenient::de::NonEmpty;
use crate::lenient::de::{self, open_struct, Bool, OrDefault, Plain, StrNum, Ts, F64, I64};
use crate::lenient::Timestamp;
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
///
/// `Deserialize` is hand-written rather than derived with `#[serde(flatten)]` for `extra`:
/// flatten buffers the whole object into serde's private `Content` tree first. The first
/// non-`null` `event` and the first non-`null` `type` win; a later duplicate of either key is
/// ignored (as when the name is read to choose the type).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuzziEnvelope<D> {
    /// Event name, when sent as `event`.
    pub event: Option<String>,
    /// Event name, when sent as `type`.
    pub event_type: Option<String>,
    /// Delivery or event id, when sent as `id`.
    pub id: Option<String>,
    /// Delivery id, when sent as `delivery_id` (or `deliveryId`).
    pub delivery_id: Option<String>,
    /// Event id, when sent as `event_id` (or `eventId`).
    pub event_id: Option<String>,
    /// When the event happened, when sent as `timestamp`.
    pub timestamp: Option<Timestamp>,
    /// When the event happened, when sent as `created_at` (or `createdAt`).
    pub created_at: Option<Timestamp>,
    /// The chatbot (agent) the webhook belongs to (`chatbot_id` or `chatbotId`).
    pub chatbot_id: Option<String>,
    /// The company (tenant) (`company_id` or `companyId`).
    pub company_id: Option<String>,
    /// The event payload; default (all `None`) when absent or `null`.
    pub data: D,
    /// Envelope fields this crate does not know.
    pub extra: Map<String, Value>,
}

impl<D: Default> BuzziEnvelope<D> {
    fn empty() -> Self {
        BuzziEnvelope {
            event: None,
            event_type: None,
            id: None,
            delivery_id: None,
            event_id: None,
            timestamp: None,
            created_at: None,
            chatbot_id: None,
            company_id: None,
            data: D::default(),
            extra: Map::new(),
        }
    }
}

/// Reads the value of one envelope key into a [`BuzziEnvelope`].
struct FieldSeed<'a, D> {
    env: &'a mut BuzziEnvelope<D>,
    key: de::Key<'a>,
}

impl<'de, D: Deserialize<'de> + Default> DeserializeSeed<'de> for FieldSeed<'_, D> {
    type Value = ();
    fn deserialize<De: Deserializer<'de>>(self, d: De) -> Result<(), De::Error> {
        let env = self.env;
        match self.key.as_str() {
            "event" if env.event.is_none() => env.event = Option::<String>::deserialize(d)?,
            "type" if env.event_type.is_none() => {
                env.event_type = Option::<String>::deserialize(d)?
            }
            "event" | "type" => {
                IgnoredAny::deserialize(d)?;
            }
            "id" => env.id = StrNum::deserialize(d)?.0,
            "delivery_id" | "deliveryId" => env.delivery_id = StrNum::deserialize(d)?.0,
            "event_id" | "eventId" => env.event_id = StrNum::deserialize(d)?.0,
            "timestamp" => env.timestamp = Ts::deserialize(d)?.0,
            "created_at" | "createdAt" => env.created_at = Ts::deserialize(d)?.0,
            "chatbot_id" | "chatbotId" => env.chatbot_id = StrNum::deserialize(d)?.0,
            "company_id" | "companyId" => env.company_id = StrNum::deserialize(d)?.0,
            "data" => env.data = OrDefault::<D>::deserialize(d)?.0,
            _ => {
                let value = Value::deserialize(d)?;
                env.extra.insert(self.key.into_string(), value);
            }
        }
        Ok(())
    }
}

/// Read an envelope: first `early` (keys seen before the event name, kept as raw JSON until the
/// name chose `D`), then the rest of `map`.
fn envelope_rest<'de, D, A>(
    early: Vec<(de::Key<'de>, &'de RawValue)>,
    mut map: A,
) -> Result<BuzziEnvelope<D>, A::Error>
where
    D: Deserialize<'de> + Default,
    A: MapAccess<'de>,
{
    let mut env = BuzziEnvelope::empty();
    for (key, raw) in early {
        let mut json = serde_json::Deserializer::from_str(raw.get());
        FieldSeed { env: &mut env, key }
            .deserialize(&mut json)
            .map_err(serde::de::Error::custom)?;
    }
    while let Some(key) = map.next_key::<de::Key<'de>>()? {
        map.next_value_seed(FieldSeed { env: &mut env, key })?;
    }
    Ok(env)
}

impl<'de, D: Deserialize<'de> + Default> Deserialize<'de> for BuzziEnvelope<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<D>(PhantomData<D>);
        impl<'de, D: Deserialize<'de> + Default> Visitor<'de> for V<D> {
            type Value = BuzziEnvelope<D>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct BuzziEnvelope")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                envelope_rest(Vec::new(), map)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The one-pass reader behind [`BuzziEvent::from_slice`]: reads keys until a name key (`event`
/// or `type`) holds a string (keeping earlier values as raw JSON slices), then reads the rest
/// straight into the envelope type that name selects. `event` outranks `type`: when a `type`
/// chose the type and a later `event` names another event, this pass fails and the reference
/// parse decides. Unknown names skip the rest; the caller keeps the body.
struct EventSeed;

/// What [`EventSeed`] found: a typed event, or the name of an unknown one.
enum Found {
    Known(BuzziEvent),
    Unknown(Option<String>),
}

/// Raised inside the fast pass when a later, higher-priority name key overrides the name that
/// chose the type; never returned to callers (the reference parse runs instead).
const NAME_OVERRIDDEN: &str = "a later `event` overrides `type`";

/// Prefixed to a failure after `type` chose the envelope: the caller defers to the reference
/// when the body has an `event` key, which may name another envelope or none.
const MAYBE_OVERRIDDEN: &str = "failed under a name from `type`: ";

impl<'de> Visitor<'de> for EventSeed {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        use serde::de::Error as _;
        let mut early = Vec::new();
        let (rank, name) = loop {
            let Some(key) = map.next_key::<de::Key<'de>>()? else {
                return Ok(Found::Unknown(None));
            };
            let raw = map.next_value::<&'de RawValue>()?;
            let rank = NAME_KEYS.iter().position(|k| *k == key.as_str());
            early.push((key, raw));
            if let Some(rank) = rank {
                let name =
                    serde_json::from_str::<Option<String>>(raw.get()).map_err(A::Error::custom)?;
                if let Some(name) = name {
                    break (rank, name);
                }
            }
        };
        macro_rules! known {
            ($variant:ident) => {{
                // A name from `type` may still be overridden by a later `event`, and then the
                // reference reads another envelope, or none: a failure here defers to it.
                let env = envelope_rest(early, map).map_err(|e| match rank {
                    0 => e,
                    _ => A::Error::custom(format_args!("{MAYBE_OVERRIDDEN}{e}")),
                })?;
                if env.name() != name {
                    return Err(A::Error::custom(NAME_OVERRIDDEN));
                }
                BuzziEvent::$variant(Box::new(env))
            }};
        }
        Ok(Found::Known(match name.as_str() {
            "conversation.created" => known!(ConversationCreated),
            "conversation.updated" => known!(ConversationUpdated),
            "conversation.closed" => known!(ConversationClosed),
            "conversation.resolved" => known!(ConversationResolved),
            "conversation.escalated" => known!(ConversationEscalated),
            "message.received" => known!(MessageReceived),
            "message.sent" => known!(MessageSent),
            "message.created" => known!(MessageCreated),
            "escalation.triggered" => known!(EscalationTriggered),
            "escalation.created" => known!(EscalationCreated),
            "feedback.received" => known!(FeedbackReceived),
            _ => {
                // Only a higher-ranked name key can still change the name.
                while let Some(key) = map.next_key::<de::Key<'de>>()? {
                    let outranks = NAME_KEYS[..rank].contains(&key.as_str());
                    if outranks && map.next_value::<Option<String>>()?.is_some() {
                        return Err(A::Error::custom(NAME_OVERRIDDEN));
                    } else if !outranks {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                return Ok(Found::Unknown(Some(name)));
            }
        }))
    }
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

open_struct! {
    /// The end user (visitor/customer), from the `end_users` table.
    #[derive(Debug, Clone)]
    pub struct BuzziEndUser expecting "struct BuzziEndUser" {
        /// End-user id.
        "id" => id: Option<String> = StrNum,
        /// Your id for the user, from an integration.
        "external_id" | "externalId" => external_id: Option<String> = StrNum,
        /// Name.
        "name" => name: Option<String> = NonEmpty,
        /// Email.
        "email" => email: Option<String> = NonEmpty,
        /// Phone (numbers kept as text).
        "phone" => phone: Option<String> = StrNum,
        /// Channel the user came through.
        "channel" => channel: Option<BuzziChannel> = Plain<Option<BuzziChannel>>,
        /// The user's id on that channel (WhatsApp number, Telegram id…).
        "channel_user_id" | "channelUserId" => channel_user_id: Option<String> = StrNum,
        /// IP address.
        "ip_address" | "ipAddress" => ip_address: Option<String> = NonEmpty,
        /// `{country, city, timezone}` per the schema comment.
        "location" => location: Option<BuzziLocation> = Plain<Option<BuzziLocation>>,
        /// Custom attributes.
        "metadata" => metadata: Map<String, Value> = OrDefault<Map<String, Value>>,
    }
}

open_struct! {
    /// `end_users.location`.
    #[derive(Debug, Clone)]
    pub struct BuzziLocation expecting "struct BuzziLocation" {
        /// Country.
        "country" => country: Option<String> = NonEmpty,
        /// City.
        "city" => city: Option<String> = NonEmpty,
        /// IANA time zone.
        "timezone" => timezone: Option<String> = NonEmpty,
    }
}

open_struct! {
    /// A conversation, from the `conversations` table.
    #[derive(Debug, Clone)]
    pub struct BuzziConversation expecting "struct BuzziConversation" {
        /// Conversation id.
        "id" => id: Option<String> = StrNum,
        /// Company (tenant).
        "company_id" | "companyId" => company_id: Option<String> = StrNum,
        /// Chatbot (agent).
        "chatbot_id" | "chatbotId" => chatbot_id: Option<String> = StrNum,
        /// End user.
        "end_user_id" | "endUserId" => end_user_id: Option<String> = StrNum,
        /// Channel.
        "channel" => channel: Option<BuzziChannel> = Plain<Option<BuzziChannel>>,
        /// Status.
        "status" => status: Option<BuzziConversationStatus>
            = Plain<Option<BuzziConversationStatus>>,
        /// Subject line.
        "subject" => subject: Option<String> = NonEmpty,
        /// Assigned human agent (`null` = the AI).
        "assigned_user_id" | "assignedUserId" => assigned_user_id: Option<String> = StrNum,
        /// Number of messages.
        "message_count" | "messageCount" => message_count: Option<i64> = I64,
        /// How it was resolved.
        "resolution_type" | "resolutionType" => resolution_type: Option<BuzziResolutionType>
            = Plain<Option<BuzziResolutionType>>,
        /// When it was resolved.
        "resolved_at" | "resolvedAt" => resolved_at: Option<Timestamp> = Ts,
        /// Satisfaction rating, 1–5.
        "satisfaction_rating" | "satisfactionRating" => satisfaction_rating: Option<f64> = F64,
        /// Sentiment, −100 to 100.
        "sentiment" => sentiment: Option<i64> = I64,
        /// Browser session id.
        "session_id" | "sessionId" => session_id: Option<String> = StrNum,
        /// Page the conversation started on.
        "page_url" | "pageUrl" => page_url: Option<String> = NonEmpty,
        /// Tags (JSON array; usually strings).
        "tags" => tags: Vec<Value> = OrDefault<Vec<Value>>,
        /// Custom metadata.
        "metadata" => metadata: Map<String, Value> = OrDefault<Map<String, Value>>,
        /// Created.
        "created_at" | "createdAt" => created_at: Option<Timestamp> = Ts,
        /// Last updated.
        "updated_at" | "updatedAt" => updated_at: Option<Timestamp> = Ts,
        /// The end user, when nested.
        "end_user" | "endUser" => end_user: Option<BuzziEndUser> = Plain<Option<BuzziEndUser>>,
        /// The escalation, when nested (`conversation.escalated`).
        "escalation" => escalation: Option<Box<BuzziEscalation>>
            = Plain<Option<Box<BuzziEscalation>>>,
    }
}

open_struct! {
    /// A message, from the `messages` table.
    #[derive(Debug, Clone)]
    pub struct BuzziMessage expecting "struct BuzziMessage" {
        /// Message id.
        "id" => id: Option<String> = StrNum,
        /// Conversation id.
        "conversation_id" | "conversationId" => conversation_id: Option<String> = StrNum,
        /// Who wrote it.
        "role" => role: Option<BuzziMessageRole> = Plain<Option<BuzziMessageRole>>,
        /// Message type (the column is named `type`).
        "type" => message_type: Option<BuzziMessageType> = Plain<Option<BuzziMessageType>>,
        /// Text content.
        "content" => content: Option<String> = Plain<Option<String>>,
        /// The human agent who wrote it (`human_agent` messages).
        "user_id" | "userId" => user_id: Option<String> = StrNum,
        /// Attachments (JSON array; shape not published). Objects with `url`, `name`, `type` or
        /// `mimeType`, and plain URL strings, are mapped by `normalize`.
        "attachments" => attachments: Vec<Value> = OrDefault<Vec<Value>>,
        /// Channel, when sent with the message.
        "channel" => channel: Option<BuzziChannel> = Plain<Option<BuzziChannel>>,
        /// Created.
        "created_at" | "createdAt" => created_at: Option<Timestamp> = Ts,
        /// The conversation, when nested.
        "conversation" => conversation: Option<BuzziConversation>
            = Plain<Option<BuzziConversation>>,
        /// The end user, when nested.
        "end_user" | "endUser" => end_user: Option<BuzziEndUser> = Plain<Option<BuzziEndUser>>,
    }
}

open_struct! {
    /// An escalation to a human, from the `escalations` table.
    #[derive(Debug, Clone)]
    pub struct BuzziEscalation expecting "struct BuzziEscalation" {
        /// Escalation id.
        "id" => id: Option<String> = StrNum,
        /// Conversation id.
        "conversation_id" | "conversationId" => conversation_id: Option<String> = StrNum,
        /// Status.
        "status" => status: Option<BuzziEscalationStatus> = Plain<Option<BuzziEscalationStatus>>,
        /// Priority.
        "priority" => priority: Option<BuzziEscalationPriority>
            = Plain<Option<BuzziEscalationPriority>>,
        /// Assigned agent.
        "assigned_user_id" | "assignedUserId" => assigned_user_id: Option<String> = StrNum,
        /// Why it was escalated.
        "reason" => reason: Option<String> = NonEmpty,
        /// What triggered it (`manual`, `sentiment`, `keyword`, `turns` per the schema comment).
        "trigger_type" | "triggerType" => trigger_type: Option<String> = NonEmpty,
        /// Whether it was handed back to the AI (`true`, `1`, `"yes"`…).
        "returned_to_ai" | "returnedToAi" => returned_to_ai: Option<bool> = Bool,
        /// Seconds from creation to assignment.
        "wait_time" | "waitTime" => wait_time: Option<i64> = I64,
        /// Created.
        "created_at" | "createdAt" => created_at: Option<Timestamp> = Ts,
        /// The conversation, when nested.
        "conversation" => conversation: Option<BuzziConversation>
            = Plain<Option<BuzziConversation>>,
        /// The end user, when nested.
        "end_user" | "endUser" => end_user: Option<BuzziEndUser> = Plain<Option<BuzziEndUser>>,
    }
}

open_struct! {
    /// `feedback.received`: a rating and comment (no table published; inferred from
    /// `conversations.satisfaction_rating`).
    #[derive(Debug, Clone)]
    pub struct BuzziFeedback expecting "struct BuzziFeedback" {
        /// Feedback id.
        "id" => id: Option<String> = StrNum,
        /// Conversation id.
        "conversation_id" | "conversationId" => conversation_id: Option<String> = StrNum,
        /// The message rated, for per-message thumbs.
        "message_id" | "messageId" => message_id: Option<String> = StrNum,
        /// Rating, when sent as `rating` (number or numeric text).
        "rating" => rating: Option<f64> = F64,
        /// Rating, when sent as `satisfaction_rating` (the conversation column).
        "satisfaction_rating" | "satisfactionRating" => satisfaction_rating: Option<f64> = F64,
        /// Free-text comment.
        "comment" => comment: Option<String> = NonEmpty,
        /// End user id.
        "end_user_id" | "endUserId" => end_user_id: Option<String> = StrNum,
        /// The end user, when nested.
        "end_user" | "endUser" => end_user: Option<BuzziEndUser> = Plain<Option<BuzziEndUser>>,
    }
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

mod normalize;
#[allow(unused_imports)]
use self::normalize::*;

#[cfg(test)]
mod tests;
