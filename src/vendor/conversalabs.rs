//! ConversaLabs (conversalabs.com.br) webhooks.
//!
//! **Shape inferred from** ConversaLabs' "API & Developers" help articles (events "per module":
//! a conversation is created or resolved, a payment is confirmed/paid, a deal changes stage;
//! "Payload: contains the event context (ids and relevant data)"; "dedup by event
//! identifier"), its automation-rules article (conversation created / updated / resolved /
//! opened, message created incoming or outgoing), and its likely lineage from the open-source
//! helpdesk Chatwoot (inboxes, per-inbox/account webhooks, snake_case event names such as
//! `conversation_status_changed`, `message_created`, `contact_created`). ConversaLabs publishes
//! **no event slug, envelope or sample**: treat every field here as a guess that keeps
//! everything it does not understand in `extra`.
//!
//! Two layouts are read:
//!
//! - **enveloped**: `{event, id | event_id | delivery_id, timestamp, account_id, inbox_id,
//!   data: {...}}` — the record is `data`;
//! - **flat** (Chatwoot): `{event, id, content, conversation: {...}, sender: {...},
//!   account: {...}, inbox: {...}}` — the record *is* the top level, and `id` is the record's
//!   id. [`ConversaLabsEnvelope::flat`] tells which was received.
//!
//! Event names match with dots or underscores and in any case: `conversation.created`,
//! `conversation_created` and `CONVERSATION_CREATED` are the same event.
//!
//! | names | variant |
//! |---|---|
//! | `conversation.created` | [`ConversaLabsEvent::ConversationCreated`] |
//! | `conversation.updated`, `conversation_status_changed`, `conversation.opened` | [`ConversaLabsEvent::ConversationUpdated`] |
//! | `conversation.resolved` | [`ConversaLabsEvent::ConversationResolved`] |
//! | `message.created` | [`ConversaLabsEvent::MessageCreated`] |
//! | `message.updated` | [`ConversaLabsEvent::MessageUpdated`] |
//! | `contact.created`, `contact.updated` | [`ConversaLabsEvent::ContactCreated`], [`ConversaLabsEvent::ContactUpdated`] |
//! | `payment.confirmed`, `payment.paid`, `payment.received` | [`ConversaLabsEvent::PaymentConfirmed`] |
//! | `deal.stage_changed` | [`ConversaLabsEvent::DealStageChanged`] |
//!
//! ## Dedupe
//!
//! The docs say "dedup by event identifier" without naming the field. [`ConversaLabsEvent::event_id`]
//! reads `event_id`, then `delivery_id`, then — in the enveloped layout only — `id`. In the flat
//! layout `id` is the conversation's or message's id (Chatwoot), which would merge every
//! `conversation_updated` of one conversation, so it is not used and the dedupe key falls back
//! to the hash of the verified body.
//!
//! ```
//! use chathooks::vendor::{conversalabs::ConversaLabsEvent, VendorEvent};
//! use chathooks::event::EventKind;
//! let body = br#"{"event":"payment.confirmed","event_id":"evt_01J9","account_id":12,
//!   "data":{"id":"pay_77","amount":"149.90","currency":"BRL","method":"pix"}}"#;
//! let ev = ConversaLabsEvent::from_slice(body)?;
//! assert_eq!(ev.event_id().as_deref(), Some("evt_01J9"));
//! let common = ev.normalize();
//! assert_eq!(common.kind, EventKind::PaymentConfirmed);
//! assert_eq!(common.attributes["payment_amount"], 149.9);
//! # Ok::<(), chathooks::ParseError>(())
//! ```

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::open::{self, open_enum, push_unique, put, same_word};
use super::{from_json, VendorEvent};
use crate::event::{Contact, Conversation, Direction, Event, EventKind, Location, Message, Vendor};
use crate::lenient::{self, de, Timestamp};
use crate::ParseError;

const NAME_KEYS: &[&str] = &["event", "event_type", "type"];

/// A ConversaLabs webhook delivery.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConversaLabsEvent {
    /// A conversation was created.
    ConversationCreated(Box<ConversaLabsEnvelope<ConversaLabsConversation>>),
    /// A conversation changed (status, assignee, labels…), or was reopened.
    ConversationUpdated(Box<ConversaLabsEnvelope<ConversaLabsConversation>>),
    /// A conversation was resolved.
    ConversationResolved(Box<ConversaLabsEnvelope<ConversaLabsConversation>>),
    /// A message was created (incoming or outgoing).
    MessageCreated(Box<ConversaLabsEnvelope<ConversaLabsMessage>>),
    /// A message was edited.
    MessageUpdated(Box<ConversaLabsEnvelope<ConversaLabsMessage>>),
    /// A contact was created.
    ContactCreated(Box<ConversaLabsEnvelope<ConversaLabsContact>>),
    /// A contact was updated.
    ContactUpdated(Box<ConversaLabsEnvelope<ConversaLabsContact>>),
    /// A payment was confirmed (paid).
    PaymentConfirmed(Box<ConversaLabsEnvelope<ConversaLabsPayment>>),
    /// A deal moved to another pipeline stage.
    DealStageChanged(Box<ConversaLabsEnvelope<ConversaLabsDeal>>),
    /// Any other event name, kept losslessly.
    Unknown {
        /// The event name as sent; empty when the body has none.
        name: String,
        /// The whole body (surrounding whitespace trimmed).
        raw: Box<RawValue>,
    },
}

/// The envelope fields of a ConversaLabs delivery, and its record in `data`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConversaLabsEnvelope<D> {
    /// The event name as sent (`event`, else `event_type`, else `type`).
    pub event: String,
    /// `event_id`, when sent.
    pub event_id: Option<String>,
    /// `delivery_id`, when sent.
    pub delivery_id: Option<String>,
    /// Top-level `id`: the event's id in the enveloped layout, the record's in the flat one.
    pub id: Option<String>,
    /// When the event happened: `timestamp`, else `occurred_at`, else `created_at`.
    pub timestamp: Option<Timestamp>,
    /// Account id: `account_id` or `account.id`.
    pub account_id: Option<String>,
    /// Inbox id: `inbox_id` or `inbox.id`.
    pub inbox_id: Option<String>,
    /// `true` when the record was the top level itself (Chatwoot layout), `false` when it came
    /// in `data`.
    pub flat: bool,
    /// The record the event is about. In the flat layout its `extra` also holds the envelope
    /// keys.
    pub data: D,
    /// Top-level keys this crate does not know (enveloped layout; in the flat layout they are in
    /// `data`'s `extra`).
    pub extra: Map<String, Value>,
}

/// What the first pass reads from the top level.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "de::string_or_number")]
    event_id: Option<String>,
    #[serde(default, deserialize_with = "de::string_or_number")]
    delivery_id: Option<String>,
    #[serde(default, deserialize_with = "de::string_or_number")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::timestamp")]
    timestamp: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::timestamp")]
    occurred_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::timestamp")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "de::string_or_number")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "de::string_or_number")]
    inbox_id: Option<String>,
    #[serde(default)]
    account: Option<Value>,
    #[serde(default)]
    inbox: Option<Value>,
    #[serde(default, deserialize_with = "open::present")]
    data: bool,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "D: Deserialize<'de> + Default"))]
struct DataOf<D> {
    #[serde(default, deserialize_with = "de::null_as_default")]
    data: D,
}

impl<D: DeserializeOwned + Default> ConversaLabsEnvelope<D> {
    fn parse(body: &[u8]) -> Result<Box<Self>, ParseError> {
        let mut head: Head = from_json(body)?;
        let data = if head.data {
            from_json::<DataOf<D>>(body)?.data
        } else {
            // The record's fields are the top-level keys; they live in `data` now.
            head.extra.clear();
            from_json::<D>(body)?
        };
        let account = head.account.as_ref().and_then(ref_id);
        let inbox = head.inbox.as_ref().and_then(ref_id);
        if head.data {
            // `account`/`inbox` objects are envelope members in this layout: keep them whole.
            for (key, v) in [("account", head.account), ("inbox", head.inbox)] {
                if let Some(v) = v {
                    head.extra.insert(key.to_owned(), v);
                }
            }
        }
        Ok(Box::new(ConversaLabsEnvelope {
            event: head
                .event
                .or(head.event_type)
                .or(head.kind)
                .unwrap_or_default(),
            event_id: head.event_id,
            delivery_id: head.delivery_id,
            id: head.id,
            timestamp: head.timestamp.or(head.occurred_at).or(head.created_at),
            account_id: head.account_id.or(account),
            inbox_id: head.inbox_id.or(inbox),
            flat: !head.data,
            data,
            extra: head.extra,
        }))
    }
}

/// The `id` of an `{id, name}` object (`account`, `inbox`), or the value itself when scalar.
fn ref_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => open::scalar(m, "id"),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

open_enum! {
    /// Conversation status (Chatwoot's set; inferred).
    pub enum ConversaLabsConversationStatus {
        /// Open.
        Open => "open" | "opened",
        /// Resolved.
        Resolved => "resolved" | "closed",
        /// Pending (waiting on the bot or a triage step).
        Pending => "pending",
        /// Snoozed until later.
        Snoozed => "snoozed",
    }
}

open_enum! {
    /// Message type (Chatwoot's set, also as its integer codes 0–3; inferred).
    pub enum ConversaLabsMessageType {
        /// From the contact.
        Incoming => "incoming" | "0",
        /// From an agent or bot.
        Outgoing => "outgoing" | "1",
        /// A system activity line.
        Activity => "activity" | "2",
        /// A template message (outgoing).
        Template => "template" | "3",
    }
}

open_enum! {
    /// Payment status (inferred from the Payments module: Asaas / Mercado Pago).
    pub enum ConversaLabsPaymentStatus {
        /// Confirmed by the gateway.
        Confirmed => "confirmed" | "approved",
        /// Paid / received.
        Paid => "paid" | "received" | "succeeded",
        /// Waiting for payment.
        Pending => "pending",
        /// Past due.
        Overdue => "overdue",
        /// Refunded.
        Refunded => "refunded",
        /// Cancelled.
        Cancelled => "cancelled" | "canceled",
    }
}

open_enum! {
    /// Deal pipeline stage. Pipelines are user-defined, so most values land in `Other`.
    pub enum ConversaLabsDealStage {
        /// New lead.
        Lead => "lead" | "new",
        /// Qualified.
        Qualified => "qualified",
        /// Proposal sent.
        Proposal => "proposal",
        /// Negotiating.
        Negotiation => "negotiation",
        /// Won.
        Won => "won",
        /// Lost.
        Lost => "lost",
    }
}

/// A contact (Chatwoot `contact`/`sender` shape; inferred).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConversaLabsContact {
    /// Contact id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub name: Option<String>,
    /// Email.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub email: Option<String>,
    /// Phone, when sent as `phone_number` (Chatwoot).
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub phone_number: Option<String>,
    /// Phone, when sent as `phone`.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub phone: Option<String>,
    /// Your identifier for the contact.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub identifier: Option<String>,
    /// Sender kind for message senders (`contact`, `user`, `agent_bot`).
    #[serde(default, rename = "type", deserialize_with = "de::non_empty_string")]
    pub sender_type: Option<String>,
    /// Built-in attributes (city, country, company…).
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub additional_attributes: Map<String, Value>,
    /// Custom attributes.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub custom_attributes: Map<String, Value>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Chatwoot's `meta` block on a conversation.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConversaLabsMeta {
    /// The contact.
    #[serde(default)]
    pub sender: Option<ConversaLabsContact>,
    /// The assigned agent.
    #[serde(default)]
    pub assignee: Option<ConversaLabsContact>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A conversation (inferred).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConversaLabsConversation {
    /// Conversation id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<ConversaLabsConversationStatus>,
    /// Channel (`"whatsapp"`, or Chatwoot's `"Channel::Whatsapp"`).
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub channel: Option<String>,
    /// Inbox id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub inbox_id: Option<String>,
    /// Account id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub account_id: Option<String>,
    /// Contact id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub contact_id: Option<String>,
    /// The contact, when nested as `contact`.
    #[serde(default)]
    pub contact: Option<ConversaLabsContact>,
    /// Chatwoot's `meta` (`sender`, `assignee`).
    #[serde(default)]
    pub meta: Option<ConversaLabsMeta>,
    /// Assigned agent id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub assignee_id: Option<String>,
    /// Labels (usually strings).
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub labels: Vec<Value>,
    /// What changed (Chatwoot's `changed_attributes`), as sent.
    #[serde(default)]
    pub changed_attributes: Option<Value>,
    /// Custom attributes.
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub custom_attributes: Map<String, Value>,
    /// Created.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConversaLabsConversation {
    /// The contact, from `contact` or `meta.sender`.
    pub fn contact(&self) -> Option<&ConversaLabsContact> {
        self.contact
            .as_ref()
            .or_else(|| self.meta.as_ref()?.sender.as_ref())
    }

    /// The assigned agent id, from `assignee_id` or `meta.assignee.id`.
    pub fn assignee(&self) -> Option<&str> {
        self.assignee_id
            .as_deref()
            .or_else(|| self.meta.as_ref()?.assignee.as_ref()?.id.as_deref())
    }
}

/// A message (inferred).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConversaLabsMessage {
    /// Message id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Text.
    #[serde(default)]
    pub content: Option<String>,
    /// Incoming / outgoing / activity / template.
    #[serde(default)]
    pub message_type: Option<ConversaLabsMessageType>,
    /// Content type (`text`, `input_select`…).
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub content_type: Option<String>,
    /// Private note (not shown to the contact).
    #[serde(default, deserialize_with = "de::boolish")]
    pub private: Option<bool>,
    /// Who wrote it.
    #[serde(default)]
    pub sender: Option<ConversaLabsContact>,
    /// Conversation id, when sent flat.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// The conversation, when nested.
    #[serde(default)]
    pub conversation: Option<ConversaLabsConversation>,
    /// Attachments, as sent (`data_url`/`file_type` objects in Chatwoot).
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub attachments: Vec<Value>,
    /// Created.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub created_at: Option<Timestamp>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A payment (inferred from the Payments module: PIX, boleto, card via Asaas / Mercado Pago).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConversaLabsPayment {
    /// Payment id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<ConversaLabsPaymentStatus>,
    /// Amount, when sent as `amount` (number or numeric text).
    #[serde(default, deserialize_with = "de::f64ish")]
    pub amount: Option<f64>,
    /// Amount, when sent as `value` (Asaas' name).
    #[serde(default, deserialize_with = "de::f64ish")]
    pub value: Option<f64>,
    /// Currency code.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub currency: Option<String>,
    /// Method (`pix`, `boleto`, `credit_card`…).
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub method: Option<String>,
    /// Gateway (`asaas`, `mercado_pago`…).
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub provider: Option<String>,
    /// Contact id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub contact_id: Option<String>,
    /// The contact, when nested.
    #[serde(default)]
    pub contact: Option<ConversaLabsContact>,
    /// Conversation id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// Deal id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub deal_id: Option<String>,
    /// When it was paid.
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub paid_at: Option<Timestamp>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConversaLabsPayment {
    /// The amount, whichever key carried it.
    pub fn total(&self) -> Option<f64> {
        self.amount.or(self.value)
    }
}

/// A CRM deal (inferred from the Contacts & CRM module).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConversaLabsDeal {
    /// Deal id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub id: Option<String>,
    /// Title.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub title: Option<String>,
    /// New stage, as sent: text, a number, or an object with `name`/`slug`/`id` (see
    /// [`ConversaLabsDeal::stage`]).
    #[serde(default)]
    pub stage: Option<Value>,
    /// Previous stage, as sent.
    #[serde(default)]
    pub previous_stage: Option<Value>,
    /// Pipeline, as sent (text, id or object).
    #[serde(default)]
    pub pipeline: Option<Value>,
    /// Deal value.
    #[serde(default, deserialize_with = "de::f64ish")]
    pub value: Option<f64>,
    /// Currency code.
    #[serde(default, deserialize_with = "de::non_empty_string")]
    pub currency: Option<String>,
    /// Contact id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub contact_id: Option<String>,
    /// The contact, when nested.
    #[serde(default)]
    pub contact: Option<ConversaLabsContact>,
    /// Conversation id.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub conversation_id: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A stage's name from text, a number, or an object's `slug`, `name` or `id`.
fn stage_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(m) => open::scalar(m, "slug")
            .or_else(|| open::scalar(m, "name"))
            .or_else(|| open::scalar(m, "id")),
        _ => None,
    }
}

impl ConversaLabsDeal {
    /// The new stage, read from whichever shape was sent.
    pub fn stage(&self) -> Option<ConversaLabsDealStage> {
        stage_text(self.stage.as_ref()?).map(|t| ConversaLabsDealStage::from_text(&t))
    }

    /// The previous stage, read from whichever shape was sent.
    pub fn previous_stage(&self) -> Option<ConversaLabsDealStage> {
        stage_text(self.previous_stage.as_ref()?).map(|t| ConversaLabsDealStage::from_text(&t))
    }
}

#[derive(Clone, Copy)]
enum Which {
    ConvCreated,
    ConvUpdated,
    ConvResolved,
    MsgCreated,
    MsgUpdated,
    ContactCreated,
    ContactUpdated,
    Payment,
    Deal,
}

fn which(name: &str) -> Option<Which> {
    const TABLE: &[(&str, Which)] = &[
        ("conversation_created", Which::ConvCreated),
        ("conversation_updated", Which::ConvUpdated),
        ("conversation_status_changed", Which::ConvUpdated),
        ("conversation_opened", Which::ConvUpdated),
        ("conversation_resolved", Which::ConvResolved),
        ("message_created", Which::MsgCreated),
        ("message_updated", Which::MsgUpdated),
        ("contact_created", Which::ContactCreated),
        ("contact_updated", Which::ContactUpdated),
        ("payment_confirmed", Which::Payment),
        ("payment_paid", Which::Payment),
        ("payment_received", Which::Payment),
        ("deal_stage_changed", Which::Deal),
    ];
    TABLE
        .iter()
        .find(|(n, _)| same_word(name, n))
        .map(|(_, w)| *w)
}

crate::vendor::inherent_vendor_methods!(ConversaLabsEvent);

impl VendorEvent for ConversaLabsEvent {
    const VENDOR: Vendor = Vendor::ConversaLabs;

    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        use ConversaLabsEvent as C;
        let name = open::peek_name(body, NAME_KEYS)?;
        Ok(match name.as_deref().and_then(which) {
            Some(Which::ConvCreated) => C::ConversationCreated(ConversaLabsEnvelope::parse(body)?),
            Some(Which::ConvUpdated) => C::ConversationUpdated(ConversaLabsEnvelope::parse(body)?),
            Some(Which::ConvResolved) => {
                C::ConversationResolved(ConversaLabsEnvelope::parse(body)?)
            }
            Some(Which::MsgCreated) => C::MessageCreated(ConversaLabsEnvelope::parse(body)?),
            Some(Which::MsgUpdated) => C::MessageUpdated(ConversaLabsEnvelope::parse(body)?),
            Some(Which::ContactCreated) => C::ContactCreated(ConversaLabsEnvelope::parse(body)?),
            Some(Which::ContactUpdated) => C::ContactUpdated(ConversaLabsEnvelope::parse(body)?),
            Some(Which::Payment) => C::PaymentConfirmed(ConversaLabsEnvelope::parse(body)?),
            Some(Which::Deal) => C::DealStageChanged(ConversaLabsEnvelope::parse(body)?),
            None => C::Unknown {
                name: name.unwrap_or_default(),
                raw: open::raw_body(body)?,
            },
        })
    }

    fn name(&self) -> &str {
        match self.head() {
            Some(h) => h.event,
            None => match self {
                ConversaLabsEvent::Unknown { name, .. } => name,
                _ => "",
            },
        }
    }

    /// `event_id`, else `delivery_id`, else `id` in the enveloped layout only (module docs).
    fn event_id(&self) -> Option<Cow<'_, str>> {
        let h = self.head()?;
        h.event_id
            .or(h.delivery_id)
            .or(if h.flat { None } else { h.id })
            .map(Cow::Borrowed)
    }

    fn normalize(&self) -> Event {
        use ConversaLabsEvent as C;
        let mut ev = Event::new(
            Vendor::ConversaLabs,
            EventKind::Other(String::new()),
            self.name(),
        );
        ev.ids.event = self.event_id().map(Cow::into_owned);
        if let Some(h) = self.head() {
            ev.occurred_at = h.timestamp.and_then(|t| t.instant);
            ev.ids.tenant = h.account.map(str::to_owned);
            ev.ids.widget = h.inbox.map(str::to_owned);
        }
        ev.kind = match self {
            C::ConversationCreated(e) => {
                fill_conversation(&mut ev, &e.data);
                EventKind::ConversationStarted
            }
            C::ConversationUpdated(e) => {
                fill_conversation(&mut ev, &e.data);
                // A status change *to* resolved is the conversation closing.
                let resolved = e.data.status == Some(ConversaLabsConversationStatus::Resolved);
                if resolved && same_word(&e.event, "conversation_status_changed") {
                    EventKind::ConversationClosed
                } else {
                    EventKind::ConversationUpdated
                }
            }
            C::ConversationResolved(e) => {
                fill_conversation(&mut ev, &e.data);
                EventKind::ConversationClosed
            }
            C::MessageCreated(e) | C::MessageUpdated(e) => {
                let d = &e.data;
                if let Some(c) = &d.conversation {
                    fill_conversation(&mut ev, c);
                }
                ev.ids.conversation = ev.ids.conversation.take().or(d.conversation_id.clone());
                let m = Message {
                    id: d.id.clone(),
                    text: d.content.clone(),
                    message_type: d.content_type.clone(),
                    direction: match d.message_type {
                        Some(ConversaLabsMessageType::Incoming) => Some(Direction::Inbound),
                        Some(
                            ConversaLabsMessageType::Outgoing | ConversaLabsMessageType::Template,
                        ) => Some(Direction::Outbound),
                        _ => None,
                    },
                    channel: ev.conversation.as_ref().and_then(|c| c.channel.clone()),
                    sender: d.sender.as_ref().and_then(|s| s.id.clone()),
                    attachments: d.attachments.iter().filter_map(attachment).collect(),
                    sent_at: d.created_at.as_ref().and_then(|t| t.instant),
                };
                if m.direction == Some(Direction::Inbound) {
                    if let Some(s) = &d.sender {
                        ev.contact = Some(contact(s));
                        ev.ids.contact = s.id.clone();
                    }
                }
                put(
                    &mut ev.attributes,
                    "message_type",
                    d.message_type.as_ref().map(|t| t.as_str().to_owned()),
                );
                put(&mut ev.attributes, "private", d.private);
                ev.ids.message = m.id.clone();
                let direction = m.direction;
                ev.message = Some(m);
                match (self, direction) {
                    (C::MessageCreated(_), Some(Direction::Inbound)) => EventKind::MessageReceived,
                    (C::MessageCreated(_), Some(Direction::Outbound)) => EventKind::MessageSent,
                    _ => EventKind::Other(e.event.clone()),
                }
            }
            C::ContactCreated(e) | C::ContactUpdated(e) => {
                ev.ids.contact = e.data.id.clone();
                ev.contact = Some(contact(&e.data));
                if matches!(self, C::ContactCreated(_)) {
                    EventKind::CustomerCreated
                } else {
                    EventKind::CustomerUpdated
                }
            }
            C::PaymentConfirmed(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                ev.ids.contact = d.contact_id.clone();
                if let Some(c) = &d.contact {
                    ev.contact = Some(contact(c));
                    ev.ids.contact = ev.ids.contact.take().or(c.id.clone());
                }
                let a = &mut ev.attributes;
                put(a, "payment_id", d.id.clone());
                put(a, "payment_amount", d.total());
                put(a, "payment_currency", d.currency.clone());
                put(a, "payment_method", d.method.clone());
                put(a, "payment_provider", d.provider.clone());
                put(
                    a,
                    "payment_status",
                    d.status.as_ref().map(|s| s.as_str().to_owned()),
                );
                put(a, "deal_id", d.deal_id.clone());
                EventKind::PaymentConfirmed
            }
            C::DealStageChanged(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                ev.ids.contact = d.contact_id.clone();
                if let Some(c) = &d.contact {
                    ev.contact = Some(contact(c));
                    ev.ids.contact = ev.ids.contact.take().or(c.id.clone());
                }
                let a = &mut ev.attributes;
                put(a, "deal_id", d.id.clone());
                put(a, "deal_title", d.title.clone());
                put(a, "deal_stage", d.stage().map(|s| s.as_str().to_owned()));
                put(
                    a,
                    "deal_previous_stage",
                    d.previous_stage().map(|s| s.as_str().to_owned()),
                );
                put(a, "deal_pipeline", d.pipeline.as_ref().and_then(stage_text));
                put(a, "deal_value", d.value);
                put(a, "deal_currency", d.currency.clone());
                EventKind::DealStageChanged
            }
            C::Unknown { name, .. } => EventKind::Other(name.clone()),
        };
        ev
    }
}

struct HeadView<'a> {
    event: &'a str,
    event_id: Option<&'a str>,
    delivery_id: Option<&'a str>,
    id: Option<&'a str>,
    flat: bool,
    timestamp: Option<&'a Timestamp>,
    account: Option<&'a str>,
    inbox: Option<&'a str>,
}

impl<'a> HeadView<'a> {
    fn of<D>(e: &'a ConversaLabsEnvelope<D>) -> Self {
        HeadView {
            event: &e.event,
            event_id: e.event_id.as_deref(),
            delivery_id: e.delivery_id.as_deref(),
            id: e.id.as_deref(),
            flat: e.flat,
            timestamp: e.timestamp.as_ref(),
            account: e.account_id.as_deref(),
            inbox: e.inbox_id.as_deref(),
        }
    }
}

impl ConversaLabsEvent {
    fn head(&self) -> Option<HeadView<'_>> {
        use ConversaLabsEvent as C;
        Some(match self {
            C::ConversationCreated(e) | C::ConversationUpdated(e) | C::ConversationResolved(e) => {
                HeadView::of(e)
            }
            C::MessageCreated(e) | C::MessageUpdated(e) => HeadView::of(e),
            C::ContactCreated(e) | C::ContactUpdated(e) => HeadView::of(e),
            C::PaymentConfirmed(e) => HeadView::of(e),
            C::DealStageChanged(e) => HeadView::of(e),
            C::Unknown { .. } => return None,
        })
    }
}

fn fill_conversation(ev: &mut Event, d: &ConversaLabsConversation) {
    ev.ids.conversation = d.id.clone();
    ev.ids.tenant = ev.ids.tenant.take().or(d.account_id.clone());
    ev.ids.widget = ev.ids.widget.take().or(d.inbox_id.clone());
    ev.conversation = Some(Conversation {
        id: d.id.clone(),
        status: d.status.as_ref().map(|s| s.as_str().to_owned()),
        channel: d.channel.as_deref().map(open::channel_from_name),
        assignee: d.assignee().map(str::to_owned),
    });
    ev.ids.contact = d.contact_id.clone();
    if let Some(p) = d.contact() {
        ev.contact = Some(contact(p));
        ev.ids.contact = ev.ids.contact.take().or(p.id.clone());
    }
    let labels: Vec<String> = d
        .labels
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if !labels.is_empty() {
        ev.contact.get_or_insert_with(Contact::default).labels = labels;
    }
}

fn contact(p: &ConversaLabsContact) -> Contact {
    let mut c = Contact {
        id: p.id.clone(),
        name: p.name.clone(),
        ..Contact::default()
    };
    push_unique(&mut c.emails, p.email.as_deref());
    push_unique(&mut c.phones, p.phone_number.as_deref());
    push_unique(&mut c.phones, p.phone.as_deref());
    let attr = &p.additional_attributes;
    let (city, country) = (open::scalar(attr, "city"), open::scalar(attr, "country"));
    if city.is_some() || country.is_some() {
        c.location = Some(Location {
            city,
            country,
            ..Location::default()
        });
    }
    for (k, v) in &p.custom_attributes {
        c.custom_fields.insert(k.clone(), v.clone());
    }
    if let Some(x) = &p.identifier {
        c.custom_fields
            .insert("identifier".into(), Value::String(x.clone()));
    }
    c
}

fn attachment(v: &Value) -> Option<crate::event::Attachment> {
    let m = v.as_object()?;
    Some(crate::event::Attachment {
        url: open::scalar(m, "data_url").or_else(|| open::scalar(m, "url")),
        kind: open::scalar(m, "file_type").or_else(|| open::scalar(m, "type")),
        name: open::scalar(m, "name").or_else(|| open::scalar(m, "file_name")),
        mime_type: open::scalar(m, "content_type").or_else(|| open::scalar(m, "mime_type")),
    })
}
