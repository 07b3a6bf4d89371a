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
//! **Who is the contact.** The customer wherever the payload names one: a message's `contact`
//! (Chatwoot's documented `message_created` sample carries the agent in `sender` and the
//! customer in `contact`), the conversation's `contact` or `meta.sender`, a `sender` of type
//! `contact`. A `sender` without a `type` is the contact only on an incoming message that names
//! no other contact. Agents and bots (`type` `user`, `agent_bot`…) are never the contact: they
//! stay the message's sender and the conversation's assignee. The conversation id is
//! `conversation.id`, else `conversation.display_id` (the number the dashboard shows).
//! `normalize()` also finds the contact and the message text nested one level down (`data.lead`,
//! `data.contact`, `data.customer`, `data.visitor`, `data.user`, `data.person`, `data.message`),
//! in the order the [`platform`](crate::platform) module documents.
//!
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
//! use chathooks::platform::{conversalabs::ConversaLabsEvent, VendorEvent};
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

use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::open::{self, open_enum, push_unique, put, same_word};
use super::{from_json, VendorEvent};
use crate::event::{Contact, Conversation, Direction, Event, EventKind, Location, Message, Vendor};
use crate::lenient::de::{
    self, open_struct, Bool, NonEmpty, OrDefault, Plain, ReadField, StrNum, Ts, F64,
};
use crate::lenient::{self, Timestamp};
use crate::ParseError;

const NAME_KEYS: &[&str] = &["event", "event_type", "type"];

/// The envelope keys, each at its bit in the duplicate-key check (`data` last, [`DATA_BIT`]):
/// the one table the one pass and the members pass both read.
const HEAD_KEYS: [&str; 14] = [
    "event",
    "event_type",
    "type",
    "event_id",
    "delivery_id",
    "id",
    "timestamp",
    "occurred_at",
    "created_at",
    "account_id",
    "inbox_id",
    "account",
    "inbox",
    "data",
];

/// The bit of `data` in [`HEAD_KEYS`].
const DATA_BIT: u32 = 13;

/// The bit of an envelope key in the duplicate check, `None` for other keys.
fn head_bit(key: &str) -> Option<u32> {
    HEAD_KEYS.iter().position(|k| *k == key).map(|i| i as u32)
}

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

/// What the reference parse reads from the top level first.
#[derive(Default, Deserialize)]
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
    /// The reference parse: the head, then the record, each with its JSON path tracked.
    fn parse(body: &[u8]) -> Result<Box<Self>, ParseError> {
        let mut head: Head = from_json(body)?;
        let data = if head.data {
            from_json::<DataOf<D>>(body)?.data
        } else {
            // The record's fields are the top-level keys; they live in `data` now.
            head.extra.clear();
            from_json::<D>(body)?
        };
        Ok(ConversaLabsEnvelope::assemble(head, data))
    }
}

impl<D> ConversaLabsEnvelope<D> {
    fn assemble(head: Head, data: D) -> Box<Self> {
        let mut env = Box::new(ConversaLabsEnvelope::blank(data));
        env.set_head(head);
        env
    }

    /// An envelope around `data` with no envelope fields yet (see [`Self::set_head`]).
    fn blank(data: D) -> Self {
        ConversaLabsEnvelope {
            event: String::new(),
            event_id: None,
            delivery_id: None,
            id: None,
            timestamp: None,
            account_id: None,
            inbox_id: None,
            flat: true,
            data,
            extra: Map::new(),
        }
    }

    /// The envelope fields from `head` (`data` is left as it is).
    fn set_head(&mut self, mut head: Head) {
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
        self.event = head
            .event
            .or(head.event_type)
            .or(head.kind)
            .unwrap_or_default();
        self.event_id = head.event_id;
        self.delivery_id = head.delivery_id;
        self.id = head.id;
        self.timestamp = head.timestamp.or(head.occurred_at).or(head.created_at);
        self.account_id = head.account_id.or(account);
        self.inbox_id = head.inbox_id.or(inbox);
        self.flat = !head.data;
        self.extra = head.extra;
    }
}

/// The top-level members of a JSON object, in order, values as slices of the body. Reading
/// them is one pass over the body that allocates only for keys with escapes and the vector.
struct Members<'de>(Vec<(de::Key<'de>, &'de RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse one member's value from its slice.
fn member<'de, T: Deserialize<'de>>(raw: &'de RawValue) -> Result<T, serde_json::Error> {
    T::deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
}

/// The event name as [`open::peek_name`] reads it, from the members.
fn name_of(members: &[(de::Key<'_>, &RawValue)]) -> Result<Option<String>, serde_json::Error> {
    let mut best: Option<(usize, String)> = None;
    for (key, raw) in members {
        let Some(rank) = NAME_KEYS.iter().position(|k| *k == key.as_str()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| rank < *b) {
            if let Some(name) = member::<Option<String>>(raw)? {
                best = Some((rank, name));
            }
        }
    }
    Ok(best.map(|(_, name)| name))
}

/// The fast parse from the body's members: what [`ConversaLabsEnvelope::parse`] reads, without
/// reading the body three times or buffering it into serde's `Content`. Any error (including a
/// duplicate head key, which the derived `Head` rejects) sends the caller to the reference
/// parse, which reports it with its path.
fn from_members<D: DeserializeOwned + Default + ReadField>(
    members: Vec<(de::Key<'_>, &RawValue)>,
) -> Result<Box<ConversaLabsEnvelope<D>>, serde_json::Error> {
    use serde::de::Error as _;
    let enveloped = members.iter().any(|(k, _)| k.as_str() == "data");
    let mut head = Head::default();
    let mut seen = 0u32;
    let mut data_raw = None;
    for (key, raw) in &members {
        let Some(bit) = head_bit(key.as_str()) else {
            // In the flat layout the record reads every member; its reader fails where this
            // one would.
            if enveloped {
                head.extra.insert(key.as_str().to_owned(), member(raw)?);
            }
            continue;
        };
        if seen & (1 << bit) != 0 {
            return Err(serde_json::Error::custom("duplicate head key"));
        }
        seen |= 1 << bit;
        if bit == DATA_BIT {
            head.data = true;
            data_raw = Some(*raw);
        } else {
            parse::read_head(&mut head, bit, raw)?;
        }
    }
    let data = match data_raw {
        Some(raw) => member::<OrDefault<D>>(raw)?.0,
        None => {
            let mut data = D::default();
            for (key, raw) in members {
                data.read_field(key, &mut serde_json::Deserializer::from_str(raw.get()))?;
            }
            data
        }
    };
    Ok(ConversaLabsEnvelope::assemble(head, data))
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

open_struct! {
    /// A contact (Chatwoot `contact`/`sender` shape; inferred).
    #[derive(Debug, Clone)]
    pub struct ConversaLabsContact expecting "struct ConversaLabsContact" {
        /// Contact id.
        "id" => id: Option<String> = StrNum,
        /// Name.
        "name" => name: Option<String> = NonEmpty,
        /// Email.
        "email" => email: Option<String> = NonEmpty,
        /// Phone, when sent as `phone_number` (Chatwoot).
        "phone_number" => phone_number: Option<String> = StrNum,
        /// Phone, when sent as `phone`.
        "phone" => phone: Option<String> = StrNum,
        /// Your identifier for the contact.
        "identifier" => identifier: Option<String> = StrNum,
        /// Sender kind for message senders (`contact`, `user`, `agent_bot`).
        "type" => sender_type: Option<String> = NonEmpty,
        /// Built-in attributes (city, country, company…).
        "additional_attributes" => additional_attributes: Map<String, Value>
            = OrDefault<Map<String, Value>>,
        /// Custom attributes.
        "custom_attributes" => custom_attributes: Map<String, Value>
            = OrDefault<Map<String, Value>>,
    }
}

impl ConversaLabsContact {
    /// `false` when `type` names an agent, bot or system sender (`user`, `agent_bot`…:
    /// Chatwoot marks agents `user`), `true` for `contact` or no `type`.
    pub fn is_person(&self) -> bool {
        !crate::platform::lookup::is_agent_type(self.sender_type.as_deref())
    }
}

open_struct! {
    /// Chatwoot's `meta` block on a conversation.
    #[derive(Debug, Clone)]
    pub struct ConversaLabsMeta expecting "struct ConversaLabsMeta" {
        /// The contact.
        "sender" => sender: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
        /// The assigned agent.
        "assignee" => assignee: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
    }
}

open_struct! {
    /// A conversation (inferred).
    #[derive(Debug, Clone)]
    pub struct ConversaLabsConversation expecting "struct ConversaLabsConversation" {
        /// Conversation id.
        "id" => id: Option<String> = StrNum,
        /// The conversation number shown in the dashboard (Chatwoot's `display_id`; its
        /// documented `message_created` sample sends only this one).
        "display_id" => display_id: Option<String> = StrNum,
        /// Status.
        "status" => status: Option<ConversaLabsConversationStatus>
            = Plain<Option<ConversaLabsConversationStatus>>,
        /// Channel (`"whatsapp"`, or Chatwoot's `"Channel::Whatsapp"`).
        "channel" => channel: Option<String> = NonEmpty,
        /// Inbox id.
        "inbox_id" => inbox_id: Option<String> = StrNum,
        /// Account id.
        "account_id" => account_id: Option<String> = StrNum,
        /// Contact id.
        "contact_id" => contact_id: Option<String> = StrNum,
        /// The contact, when nested as `contact`.
        "contact" => contact: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
        /// Chatwoot's `meta` (`sender`, `assignee`). Boxed, like a message's `conversation`:
        /// it holds two contacts, and inline it made every conversation half a kilobyte larger.
        "meta" => meta: Option<Box<ConversaLabsMeta>>
            = Plain<Option<Box<ConversaLabsMeta>>> => in_place,
        /// Assigned agent id.
        "assignee_id" => assignee_id: Option<String> = StrNum,
        /// Labels (usually strings).
        "labels" => labels: Vec<Value> = OrDefault<Vec<Value>>,
        /// What changed (Chatwoot's `changed_attributes`), as sent.
        "changed_attributes" => changed_attributes: Option<Value> = Plain<Option<Value>>,
        /// Custom attributes.
        "custom_attributes" => custom_attributes: Map<String, Value>
            = OrDefault<Map<String, Value>>,
        /// Created.
        "created_at" => created_at: Option<Timestamp> = Ts,
    }
}

impl ConversaLabsConversation {
    /// The conversation id: `id`, else `display_id`.
    pub fn conversation_id(&self) -> Option<&str> {
        self.id.as_deref().or(self.display_id.as_deref())
    }

    /// The contact (the customer), from `contact` or `meta.sender`; one whose `type` names an
    /// agent (`user`, `agent_bot`…) is not the contact.
    pub fn contact(&self) -> Option<&ConversaLabsContact> {
        self.contact
            .as_ref()
            .or_else(|| self.meta.as_ref()?.sender.as_ref())
            .filter(|c| c.is_person())
    }

    /// The assigned agent id, from `assignee_id` or `meta.assignee.id`.
    pub fn assignee(&self) -> Option<&str> {
        self.assignee_id
            .as_deref()
            .or_else(|| self.meta.as_ref()?.assignee.as_ref()?.id.as_deref())
    }
}

open_struct! {
    /// A message (inferred).
    #[derive(Debug, Clone)]
    pub struct ConversaLabsMessage expecting "struct ConversaLabsMessage" {
        /// Message id.
        "id" => id: Option<String> = StrNum,
        /// Text.
        "content" => content: Option<String> = Plain<Option<String>>,
        /// Incoming / outgoing / activity / template.
        "message_type" => message_type: Option<ConversaLabsMessageType>
            = Plain<Option<ConversaLabsMessageType>>,
        /// Content type (`text`, `input_select`…).
        "content_type" => content_type: Option<String> = NonEmpty,
        /// Private note (not shown to the contact).
        "private" => private: Option<bool> = Bool,
        /// Who wrote it: the contact, an agent (`type: "user"`) or a bot. Chatwoot's documented
        /// sample sends the agent here and the customer in `contact`.
        "sender" => sender: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
        /// The customer the message belongs to, when named apart from the sender.
        "contact" => contact: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
        /// Conversation id, when sent flat.
        "conversation_id" => conversation_id: Option<String> = StrNum,
        /// The conversation, when nested. Boxed: inline it made a message envelope about 2 KB,
        /// which glibc's allocator serves on its slow path for "large" requests (no per-thread
        /// cache, and a consolidation of its fast bins first) on every parse.
        "conversation" => conversation: Option<Box<ConversaLabsConversation>>
            = Plain<Option<Box<ConversaLabsConversation>>> => in_place,
        /// Attachments, as sent (`data_url`/`file_type` objects in Chatwoot).
        "attachments" => attachments: Vec<Value> = OrDefault<Vec<Value>>,
        /// Created.
        "created_at" => created_at: Option<Timestamp> = Ts,
    }
}

open_struct! {
    /// A payment (inferred from the Payments module: PIX, boleto, card via Asaas / Mercado Pago).
    #[derive(Debug, Clone)]
    pub struct ConversaLabsPayment expecting "struct ConversaLabsPayment" {
        /// Payment id.
        "id" => id: Option<String> = StrNum,
        /// Status.
        "status" => status: Option<ConversaLabsPaymentStatus>
            = Plain<Option<ConversaLabsPaymentStatus>>,
        /// Amount, when sent as `amount` (number or numeric text).
        "amount" => amount: Option<f64> = F64,
        /// Amount, when sent as `value` (Asaas' name).
        "value" => value: Option<f64> = F64,
        /// Currency code.
        "currency" => currency: Option<String> = NonEmpty,
        /// Method (`pix`, `boleto`, `credit_card`…).
        "method" => method: Option<String> = NonEmpty,
        /// Gateway (`asaas`, `mercado_pago`…).
        "provider" => provider: Option<String> = NonEmpty,
        /// Contact id.
        "contact_id" => contact_id: Option<String> = StrNum,
        /// The contact, when nested.
        "contact" => contact: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
        /// Conversation id.
        "conversation_id" => conversation_id: Option<String> = StrNum,
        /// Deal id.
        "deal_id" => deal_id: Option<String> = StrNum,
        /// When it was paid.
        "paid_at" => paid_at: Option<Timestamp> = Ts,
    }
}

impl ConversaLabsPayment {
    /// The amount, whichever key carried it.
    pub fn total(&self) -> Option<f64> {
        self.amount.or(self.value)
    }
}

open_struct! {
    /// A CRM deal (inferred from the Contacts & CRM module).
    #[derive(Debug, Clone)]
    pub struct ConversaLabsDeal expecting "struct ConversaLabsDeal" {
        /// Deal id.
        "id" => id: Option<String> = StrNum,
        /// Title.
        "title" => title: Option<String> = NonEmpty,
        /// New stage, as sent: text, a number, or an object with `name`/`slug`/`id` (see
        /// [`ConversaLabsDeal::stage`]).
        "stage" => stage: Option<Value> = Plain<Option<Value>>,
        /// Previous stage, as sent.
        "previous_stage" => previous_stage: Option<Value> = Plain<Option<Value>>,
        /// Pipeline, as sent (text, id or object).
        "pipeline" => pipeline: Option<Value> = Plain<Option<Value>>,
        /// Deal value.
        "value" => value: Option<f64> = F64,
        /// Currency code.
        "currency" => currency: Option<String> = NonEmpty,
        /// Contact id.
        "contact_id" => contact_id: Option<String> = StrNum,
        /// The contact, when nested.
        "contact" => contact: Option<ConversaLabsContact>
            = Plain<Option<ConversaLabsContact>> => in_place,
        /// Conversation id.
        "conversation_id" => conversation_id: Option<String> = StrNum,
    }
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
    let name = name.trim();
    TABLE
        .iter()
        .find(|(n, _)| open::same_trimmed_word(name, n))
        .map(|(_, w)| *w)
}

impl ConversaLabsEvent {
    /// The reference parse: read the name, then the envelope it selects, tracking JSON paths.
    fn from_slice_tracked(body: &[u8]) -> Result<Self, ParseError> {
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

    /// The fast parse, without path tracking: the one pass, or the members pass where the one
    /// pass declines. `Ok(None)` for an unknown event without a name (the caller keeps the
    /// body); an unknown event with a name is returned whole.
    fn from_slice_fast(body: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        match Self::from_one_pass(body) {
            Err(e) if parse::declined(&e) => Self::from_members_pass(body),
            found => found,
        }
    }

    /// The members pass: every top-level member read as a raw slice, then parsed from it once
    /// the layout is known (what the one pass falls back to).
    fn from_members_pass(body: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        use ConversaLabsEvent as C;
        let mut json = serde_json::Deserializer::from_slice(body);
        let Members(members) = Members::deserialize(&mut json)?;
        json.end()?;
        let name = name_of(&members)?;
        Ok(Some(match name.as_deref().and_then(which) {
            Some(Which::ConvCreated) => C::ConversationCreated(from_members(members)?),
            Some(Which::ConvUpdated) => C::ConversationUpdated(from_members(members)?),
            Some(Which::ConvResolved) => C::ConversationResolved(from_members(members)?),
            Some(Which::MsgCreated) => C::MessageCreated(from_members(members)?),
            Some(Which::MsgUpdated) => C::MessageUpdated(from_members(members)?),
            Some(Which::ContactCreated) => C::ContactCreated(from_members(members)?),
            Some(Which::ContactUpdated) => C::ContactUpdated(from_members(members)?),
            Some(Which::Payment) => C::PaymentConfirmed(from_members(members)?),
            Some(Which::Deal) => C::DealStageChanged(from_members(members)?),
            None => match name {
                Some(name) => C::Unknown {
                    name,
                    raw: serde_json::from_slice(body)?,
                },
                None => return Ok(None),
            },
        }))
    }
}

mod normalize;
mod parse;
#[allow(unused_imports)]
use self::normalize::*;

#[cfg(test)]
mod tests;
