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
                let env = envelope_rest(early, map)?;
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

crate::vendor::inherent_vendor_methods!(BuzziEvent);

impl BuzziEvent {
    /// The reference parse: read the name, then the envelope it selects, tracking JSON paths.
    fn from_slice_tracked(body: &[u8]) -> Result<Self, ParseError> {
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
}

impl VendorEvent for BuzziEvent {
    const VENDOR: Vendor = Vendor::Buzzi;

    /// One pass without path tracking; when that fails, the body is parsed again the
    /// reference way (name first, then the envelope, with `serde_path_to_error`) so the error
    /// names the JSON path. Both ways accept exactly the same bodies.
    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        let mut json = serde_json::Deserializer::from_slice(body);
        let fast = serde::Deserializer::deserialize_map(&mut json, EventSeed)
            .and_then(|found| json.end().map(|()| found));
        match fast {
            Ok(Found::Known(event)) => Ok(event),
            Ok(Found::Unknown(name)) => Ok(BuzziEvent::Unknown {
                name: name.unwrap_or_default(),
                raw: open::raw_body(body)?,
            }),
            Err(_) => Self::from_slice_tracked(body),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one-pass parse and the reference parse agree: same event, or both fail.
    fn same_as_reference(body: &str) {
        let fast = BuzziEvent::from_slice(body.as_bytes());
        let reference = BuzziEvent::from_slice_tracked(body.as_bytes());
        assert_eq!(
            format!("{fast:?}"),
            format!("{reference:?}"),
            "body: {body}"
        );
    }

    #[test]
    fn one_pass_matches_the_reference_on_edge_cases() {
        for body in [
            r#"{"data":{"id":"c1","tags":["a"]},"company_id":7,"event":"conversation.created","x":[1]}"#,
            r#"{"type":"message.created","data":{"role":"user","content":"hi"}}"#,
            r#"{"type":"message.created","event":"message.sent","data":{"role":"user"}}"#,
            r#"{"type":"message.created","event":"message.created","data":{}}"#,
            r#"{"type":"message.created","event":null,"data":{}}"#,
            r#"{"type":"message.created","event":5}"#,
            r#"{"type":"something.new","event":"message.sent"}"#,
            r#"{"type":"something.new","event":"other.new"}"#,
            r#"{"type":"something.new","event":null,"event":"message.sent"}"#,
            r#"{"type":"something.new","type":5}"#,
            r#"{"event":"message.sent","type":5}"#,
            r#"{"event":"message.sent","type":"message.created"}"#,
            r#"{"event":null,"event":"feedback.received","data":null}"#,
            r#"{"event":"feedback.received","event":5,"data":{"rating":"4"}}"#,
            r#"{"event":"feedback.received","data":{"rating":"great"}}"#,
            r#"{"timestamp":{"bad":1},"event":"something.new"}"#,
            r#"{"timestamp":{"bad":1},"event":"conversation.created"}"#,
            r#"{"big":1e400,"event":"something.new"}"#,
            r#"{"big":1e400,"event":"conversation.created"}"#,
            r#"{"event":"conversation.created","big":1e400}"#,
            r#"{"data":{"escalation":{"priority":[1]}},"event":"conversation.escalated"}"#,
            r#"{"d\u0061ta":{"id":1},"event":"conversation.created"}"#,
            r#"{"chatbotId":"b","createdAt":1700000000,"deliveryId":3,"event":"message.sent"}"#,
            r#"{"event":"message.received","data":{"attachments":null,"endUser":{"ipAddress":"1.2.3.4","location":{"city":"X","k":1}}}}"#,
            r#"{"event":"message.received","data":{"attachments":{}}}"#,
            r#"{"event":"escalation.created","data":{"returnedToAi":"yes","waitTime":"30","z":null}}"#,
            r#"{"event":7}"#,
            r#"{"type":[]}"#,
            r#"{"company_id":1}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"event":"message.sent"} x"#,
            r#"{"event":"message.sent","data":{"id":"1"}"#,
            "  {\"event\":\"x.y\",\"a\":1}\n",
        ] {
            same_as_reference(body);
        }
    }

    #[test]
    fn fixtures_match_the_reference() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/buzzi");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let body = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            same_as_reference(&body);
            // The fast pass itself reads every fixture: no silent fallback.
            let mut json = serde_json::Deserializer::from_str(&body);
            let found = serde::Deserializer::deserialize_map(&mut json, EventSeed);
            assert!(found.is_ok(), "fast pass failed on {body}");
            n += 1;
        }
        assert!(n > 10, "only {n} fixtures");
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("1".to_owned()),
            Just("1e400".to_owned()),
            Just("\"\"".to_owned()),
            Just("\"2026-01-12T10:00:00Z\"".to_owned()),
            Just("{\"id\":3,\"role\":\"user\",\"z\":[true],\"endUser\":{\"id\":1}}".to_owned()),
            Just("{\"escalation\":{\"priority\":\"high\"},\"tags\":null}".to_owned()),
            Just("{\"rating\":\"x\"}".to_owned()),
            Just("[1,2]".to_owned()),
            Just("\"conversation.created\"".to_owned()),
            Just("\"message.created\"".to_owned()),
            Just("\"feedback.received\"".to_owned()),
            Just("\"other\"".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn one_pass_matches_the_reference(
            fields in proptest::collection::vec(
                (prop_oneof![
                    Just("event"), Just("type"), Just("data"), Just("company_id"),
                    Just("timestamp"), Just("createdAt"), Just("id"), Just("deliveryId"),
                    Just("other"),
                ], value()),
                0..7,
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
