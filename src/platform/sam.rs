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
//! `normalize()` also finds the contact and the message text nested one level down (`data.lead`,
//! `data.contact`, `data.customer`, `data.visitor`, `data.user`, `data.person`, `data.message`),
//! in the order the [`platform`](super) module documents.
//!
//! ## Dedupe
//!
//! Sam documents no event or delivery id, and retries for up to 24 hours. [`SamEvent::event_id`]
//! returns, in order: an envelope `id` or `event_id` if one is ever sent; otherwise
//! `"<event>:<data.id>@<timestamp>"` when both `data.id` and `timestamp` are present (the id
//! alone would merge two different handovers of one conversation); otherwise `None`, and
//! [`dedupe_key`](super::dedupe_key) falls back to the SHA-256 of the verified body.
//!
//! ```
//! use chathooks::platform::{sam::SamEvent, VendorEvent};
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
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::lookup::{self, Flat};
use super::open::{self, open_enum, push_unique, put};
use super::{from_json, VendorEvent};
use crate::event::{Contact, Conversation, Direction, Event, EventKind, Message, Vendor};
use crate::lenient::de::{self, open_struct, NonEmpty, OrDefault, Plain, StrNum, Ts, I64};
use crate::lenient::Timestamp;
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
///
/// `Deserialize` is hand-written rather than derived with `#[serde(flatten)]` for `extra`:
/// flatten buffers the whole object into serde's private `Content` tree first, which made this
/// the most expensive step of receiving a Sam delivery. The first non-`null` `event` wins; a
/// later duplicate `event` key is ignored (as when the name is read to choose the type).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SamEnvelope<D> {
    /// The event slug (`"lead.captured"`…).
    pub event: String,
    /// Your Sam account id ("tenant"); numbers are kept as their decimal text.
    pub tenant_id: Option<String>,
    /// The widget that triggered the event (Pro accounts have up to five).
    pub widget_id: Option<String>,
    /// When the event fired (documented as ISO 8601).
    pub timestamp: Option<Timestamp>,
    /// The event payload; default (all `None`) when absent or `null`.
    pub data: D,
    /// An event id at envelope level. Not documented by Sam; read in case it is sent.
    pub id: Option<String>,
    /// An `event_id` at envelope level. Not documented by Sam; read in case it is sent.
    pub event_id: Option<String>,
    /// Envelope fields this crate does not know.
    pub extra: Map<String, Value>,
}

/// A [`SamEnvelope`] being read, one field at a time (fields may come in any order).
struct EnvelopeAcc<D> {
    event: Option<String>,
    tenant_id: Option<String>,
    widget_id: Option<String>,
    timestamp: Option<Timestamp>,
    data: D,
    id: Option<String>,
    event_id: Option<String>,
    extra: Map<String, Value>,
}

impl<D: Default> EnvelopeAcc<D> {
    fn new(event: Option<String>) -> Self {
        EnvelopeAcc {
            event,
            tenant_id: None,
            widget_id: None,
            timestamp: None,
            data: D::default(),
            id: None,
            event_id: None,
            extra: Map::new(),
        }
    }

    fn finish<E: serde::de::Error>(self) -> Result<SamEnvelope<D>, E> {
        Ok(SamEnvelope {
            event: self.event.ok_or_else(|| E::missing_field("event"))?,
            tenant_id: self.tenant_id,
            widget_id: self.widget_id,
            timestamp: self.timestamp,
            data: self.data,
            id: self.id,
            event_id: self.event_id,
            extra: self.extra,
        })
    }
}

/// Reads the value of one envelope key into an [`EnvelopeAcc`].
struct FieldSeed<'a, D> {
    acc: &'a mut EnvelopeAcc<D>,
    key: de::Key<'a>,
}

impl<'de, D: Deserialize<'de> + Default> DeserializeSeed<'de> for FieldSeed<'_, D> {
    type Value = ();
    fn deserialize<De: Deserializer<'de>>(self, d: De) -> Result<(), De::Error> {
        let acc = self.acc;
        match self.key.as_str() {
            "event" if acc.event.is_none() => acc.event = Option::<String>::deserialize(d)?,
            "event" => {
                IgnoredAny::deserialize(d)?;
            }
            "tenant_id" => acc.tenant_id = StrNum::deserialize(d)?.0,
            "widget_id" => acc.widget_id = StrNum::deserialize(d)?.0,
            "timestamp" => acc.timestamp = Ts::deserialize(d)?.0,
            "data" => acc.data = OrDefault::<D>::deserialize(d)?.0,
            "id" => acc.id = StrNum::deserialize(d)?.0,
            "event_id" => acc.event_id = StrNum::deserialize(d)?.0,
            _ => {
                let value = Value::deserialize(d)?;
                acc.extra.insert(self.key.into_string(), value);
            }
        }
        Ok(())
    }
}

/// Read the rest of an envelope from `map`, after `early` (keys seen before the event name,
/// kept as raw JSON until the name chose `D`).
fn envelope_rest<'de, D, A>(
    mut acc: EnvelopeAcc<D>,
    early: Vec<(de::Key<'de>, &'de RawValue)>,
    mut map: A,
) -> Result<SamEnvelope<D>, A::Error>
where
    D: Deserialize<'de> + Default,
    A: MapAccess<'de>,
{
    for (key, raw) in early {
        let mut json = serde_json::Deserializer::from_str(raw.get());
        FieldSeed { acc: &mut acc, key }
            .deserialize(&mut json)
            .map_err(serde::de::Error::custom)?;
    }
    while let Some(key) = map.next_key::<de::Key<'de>>()? {
        map.next_value_seed(FieldSeed { acc: &mut acc, key })?;
    }
    acc.finish()
}

impl<'de, D: Deserialize<'de> + Default> Deserialize<'de> for SamEnvelope<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<D>(PhantomData<D>);
        impl<'de, D: Deserialize<'de> + Default> Visitor<'de> for V<D> {
            type Value = SamEnvelope<D>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Sam event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                envelope_rest(EnvelopeAcc::new(None), Vec::new(), map)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The one-pass reader behind [`SamEvent::from_slice`]: reads keys until the event name turns
/// up (keeping earlier values as raw JSON slices), then reads the rest straight into the
/// envelope type that name selects. Unknown names skip the rest; the caller keeps the body.
struct EventSeed;

/// What [`EventSeed`] found: a typed event, or the name of an unknown one.
enum Found {
    Known(SamEvent),
    Unknown(Option<String>),
}

impl<'de> Visitor<'de> for EventSeed {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut early = Vec::new();
        let name = loop {
            let Some(key) = map.next_key::<de::Key<'de>>()? else {
                return Ok(Found::Unknown(None));
            };
            if key.as_str() == "event" {
                if let Some(name) = map.next_value::<Option<String>>()? {
                    break name;
                }
            } else {
                early.push((key, map.next_value::<&'de RawValue>()?));
            }
        };
        macro_rules! known {
            ($variant:ident) => {{
                let acc = EnvelopeAcc::new(Some(name));
                SamEvent::$variant(Box::new(envelope_rest(acc, early, map)?))
            }};
        }
        Ok(Found::Known(match name.as_str() {
            "conversation.started" => known!(ConversationStarted),
            "conversation.closed" => known!(ConversationClosed),
            "lead.captured" => known!(LeadCaptured),
            "callback.requested" => known!(CallbackRequested),
            "handover.requested" => known!(HandoverRequested),
            _ => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(Found::Unknown(Some(name)));
            }
        }))
    }
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

open_struct! {
    /// The visitor, as far as Sam knows them (inferred).
    #[derive(Debug, Clone)]
    pub struct SamVisitor expecting "the visitor object" {
        /// Visitor id.
        "id" => id: Option<String> = StrNum,
        /// Name.
        "name" => name: Option<String> = NonEmpty,
        /// Email address.
        "email" => email: Option<String> = NonEmpty,
        /// Phone number (numbers kept as text).
        "phone" => phone: Option<String> = StrNum,
    }
}

open_struct! {
    /// One chat message (inferred).
    #[derive(Debug, Clone)]
    pub struct SamMessage expecting "a message object" {
        /// Message id.
        "id" => id: Option<String> = StrNum,
        /// Who wrote it.
        "role" => role: Option<SamRole> = Plain<Option<SamRole>>,
        /// Text, when sent as `text`.
        "text" => text: Option<String> = Plain<Option<String>>,
        /// Text, when sent as `content`.
        "content" => content: Option<String> = Plain<Option<String>>,
        /// When it was written.
        "created_at" => created_at: Option<Timestamp> = Ts,
    }
}

impl SamMessage {
    /// The message text, whichever key carried it.
    pub fn body(&self) -> Option<&str> {
        self.text.as_deref().or(self.content.as_deref())
    }
}

open_struct! {
    /// `data` of `conversation.started` / `conversation.closed` (inferred).
    #[derive(Debug, Clone)]
    pub struct SamConversation expecting "the conversation object" {
        /// Conversation id, when sent as `id`.
        "id" => id: Option<String> = StrNum,
        /// Conversation id, when sent as `conversation_id`.
        "conversation_id" => conversation_id: Option<String> = StrNum,
        /// Status (`"Escalated"` per the handover page).
        "status" => status: Option<SamStatus> = Plain<Option<SamStatus>>,
        /// The visitor.
        "visitor" => visitor: Option<SamVisitor> = Plain<Option<SamVisitor>>,
        /// Page the widget was opened on.
        "page_url" => page_url: Option<String> = NonEmpty,
        /// When the conversation began.
        "started_at" => started_at: Option<Timestamp> = Ts,
        /// When it ended.
        "closed_at" => closed_at: Option<Timestamp> = Ts,
        /// Number of messages.
        "message_count" => message_count: Option<i64> = I64,
        /// A single message (e.g. the visitor's first one).
        "message" => message: Option<SamMessage> = Plain<Option<SamMessage>>,
        /// The transcript, when sent.
        "messages" => messages: Vec<SamMessage> = OrDefault<Vec<SamMessage>>,
    }
}

impl SamConversation {
    /// The conversation id, whichever key carried it.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation_id.as_deref().or(self.id.as_deref())
    }
}

open_struct! {
    /// `data` of `lead.captured` (inferred: the lead form's name, email, phone and notes).
    #[derive(Debug, Clone)]
    pub struct SamLead expecting "the lead object" {
        /// Lead id.
        "id" => id: Option<String> = StrNum,
        /// The conversation the lead came from.
        "conversation_id" => conversation_id: Option<String> = StrNum,
        /// Name.
        "name" => name: Option<String> = NonEmpty,
        /// Email address.
        "email" => email: Option<String> = NonEmpty,
        /// Phone number (numbers kept as text).
        "phone" => phone: Option<String> = StrNum,
        /// Company.
        "company" => company: Option<String> = NonEmpty,
        /// Notes or the visitor's message.
        "notes" => notes: Option<String> = NonEmpty,
        /// Page the lead was captured on.
        "page_url" => page_url: Option<String> = NonEmpty,
        /// The visitor, when sent as a nested object.
        "visitor" => visitor: Option<SamVisitor> = Plain<Option<SamVisitor>>,
    }
}

open_struct! {
    /// `data` of `callback.requested` (inferred from the handover page's callback form).
    #[derive(Debug, Clone)]
    pub struct SamCallback expecting "the callback object" {
        /// Callback request id.
        "id" => id: Option<String> = StrNum,
        /// The conversation the request came from.
        "conversation_id" => conversation_id: Option<String> = StrNum,
        /// Name.
        "name" => name: Option<String> = NonEmpty,
        /// Phone number to call (numbers kept as text).
        "phone" => phone: Option<String> = StrNum,
        /// Email address.
        "email" => email: Option<String> = NonEmpty,
        /// Preferred time; free text is kept in [`Timestamp::original`].
        "preferred_time" => preferred_time: Option<Timestamp> = Ts,
        /// IANA zone of the preferred time or of the working-hours schedule.
        "timezone" => timezone: Option<String> = NonEmpty,
        /// Why a callback instead of a live agent (outside hours, no agent available…).
        "reason" => reason: Option<String> = NonEmpty,
        /// Notes the visitor left.
        "notes" => notes: Option<String> = NonEmpty,
    }
}

open_struct! {
    /// `data` of `handover.requested` (inferred from the handover page).
    #[derive(Debug, Clone)]
    pub struct SamHandover expecting "the handover object" {
        /// Handover id.
        "id" => id: Option<String> = StrNum,
        /// The conversation being escalated.
        "conversation_id" => conversation_id: Option<String> = StrNum,
        /// Why: visitor asked for a human, frustration or off-topic talk detected, "Talk to a
        /// human" on a callback form. Free text; no values are documented.
        "reason" => reason: Option<String> = NonEmpty,
        /// The conversation status after the handover (*Escalated*).
        "status" => status: Option<SamStatus> = Plain<Option<SamStatus>>,
        /// The visitor.
        "visitor" => visitor: Option<SamVisitor> = Plain<Option<SamVisitor>>,
        /// The message that triggered the handover.
        "message" => message: Option<SamMessage> = Plain<Option<SamMessage>>,
    }
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

crate::platform::inherent_vendor_methods!(SamEvent);

impl SamEvent {
    /// The reference parse: read the name, then the envelope it selects, tracking JSON paths.
    fn from_slice_tracked(body: &[u8]) -> Result<Self, ParseError> {
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
}

impl SamEvent {
    /// The one pass alone, with no fallback (the tests hold it to the reference parse).
    fn from_slice_fast(body: &[u8]) -> Result<Self, ParseError> {
        let found = crate::platform::with_json!(body, |json| {
            serde::Deserializer::deserialize_map(&mut json, EventSeed)
                .and_then(|found| json.end().map(|()| found))
        })?;
        Ok(match found {
            Found::Known(event) => event,
            Found::Unknown(name) => SamEvent::Unknown {
                name: name.unwrap_or_default(),
                raw: open::raw_body(body)?,
            },
        })
    }
}

impl VendorEvent for SamEvent {
    const VENDOR: Vendor = Vendor::Sam;

    fn is_unknown(&self) -> bool {
        matches!(self, SamEvent::Unknown { .. })
    }

    /// One pass without path tracking; when that fails, the body is parsed again the
    /// reference way (name first, then the envelope, with `serde_path_to_error`) so the error
    /// names the JSON path. Both ways accept exactly the same bodies.
    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        Self::from_slice_fast(body).or_else(|_| Self::from_slice_tracked(body))
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
        // Sized up front: `format!` would grow the string three times (this runs for every
        // delivery, to build its dedupe key).
        let mut id = String::with_capacity(v.event.len() + data_id.len() + ts.original.len() + 2);
        for part in [v.event, ":", data_id, "@", &ts.original] {
            id.push_str(part);
        }
        Some(Cow::Owned(id))
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
                ev.contact = lookup::contact(
                    d.visitor.as_ref().map(visitor_contact),
                    &d.extra,
                    Flat::Nested,
                );
                ev.message = message_or_nested(d.message.as_ref(), &d.extra);
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
                ev.contact = lookup::contact(Some(c), &d.extra, Flat::Person);
                ev.ids.contact = ev.contact.as_ref().and_then(|c| c.id.clone());
                ev.message = lookup::message_in(&d.extra);
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
                ev.contact = lookup::contact(Some(c), &d.extra, Flat::Person);
                ev.message = lookup::message_in(&d.extra);
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
                ev.contact = lookup::contact(
                    d.visitor.as_ref().map(visitor_contact),
                    &d.extra,
                    Flat::Nested,
                );
                ev.message = message_or_nested(d.message.as_ref(), &d.extra);
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
    lookup::merge_person(&mut c, &v.extra);
    c
}

/// The typed `message`, else one nested in the record's other members (see
/// [`lookup`](super::lookup)).
fn message_or_nested(m: Option<&SamMessage>, extra: &Map<String, Value>) -> Option<Message> {
    m.map(message).or_else(|| lookup::message_in(extra))
}

fn message(m: &SamMessage) -> Message {
    Message {
        id: m.id.clone(),
        text: m
            .body()
            .map(str::to_owned)
            .or_else(|| lookup::text_in(&m.extra)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one pass alone (no fallback) and the reference parse agree: the same event, or both
    /// fail; and `from_slice` answers exactly what the reference answers, errors included.
    fn same_as_reference(body: &str) {
        let fast = SamEvent::from_slice_fast(body.as_bytes());
        let reference = SamEvent::from_slice_tracked(body.as_bytes());
        crate::platform::fast_agrees(&fast, &reference, body);
        let public = SamEvent::from_slice(body.as_bytes());
        assert_eq!(
            format!("{public:?}"),
            format!("{reference:?}"),
            "body: {body}"
        );
    }

    #[test]
    fn one_pass_matches_the_reference_on_edge_cases() {
        for body in [
            r#"{"data":{"id":"l1","name":"A"},"tenant_id":7,"event":"lead.captured","x":[1]}"#,
            r#"{"event":null,"event":"lead.captured","data":null}"#,
            r#"{"event":"lead.captured","event":5,"data":{}}"#,
            r#"{"event":"lead.captured","event":"handover.requested"}"#,
            r#"{"timestamp":{"bad":1},"event":"something.new"}"#,
            r#"{"timestamp":{"bad":1},"event":"lead.captured"}"#,
            r#"{"big":1e400,"event":"something.new"}"#,
            r#"{"big":1e400,"event":"lead.captured"}"#,
            r#"{"event":"lead.captured","big":1e400}"#,
            r#"{"data":{"phone":[1]},"event":"lead.captured"}"#,
            r#"{"d\u0061ta":{"id":1},"event":"lead.captured"}"#,
            r#"{"event":"conversation.started","data":{"messages":[{"role":"bot"}],"k":1}}"#,
            r#"{"event":7}"#,
            r#"{"tenant_id":1}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"event":"lead.captured"} x"#,
            r#"{"event":"lead.captured","data":{"id":"1"}"#,
            "  {\"event\":\"x.y\",\"a\":1}\n",
            // Nested lead and message data (kept in `extra`), and syntax errors inside `data`.
            r#"{"data":{"lead":{"email":"a@b.c"},"message":{"body":"hi"}},"event":"lead.captured"}"#,
            r#"{"event":"conversation.started","data":{"customer":{"id":1},"message":{"body":"b"}}}"#,
            r#"{"data":{"email":"a" "phone":1},"event":"lead.captured"}"#,
            r#"{"event":"lead.captured","data":{"visitor":{"email":tru}}}"#,
            r#"{"event":"something.new","data":{"email":"a",}}"#,
        ] {
            same_as_reference(body);
        }
    }

    #[test]
    fn fixtures_match_the_reference() {
        for body in crate::platform::fixtures("sam", 8) {
            same_as_reference(&body);
            // The one pass itself reads every fixture: no silent fallback.
            assert!(
                SamEvent::from_slice_fast(body.as_bytes()).is_ok(),
                "one pass failed on {body}"
            );
        }
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("1".to_owned()),
            Just("1e400".to_owned()),
            Just("\"\"".to_owned()),
            Just("\"2025-03-14T09:31:07Z\"".to_owned()),
            Just("{\"id\":3,\"name\":\"n\",\"z\":[true]}".to_owned()),
            Just("{\"messages\":[{\"id\":1},null]}".to_owned()),
            Just("{\"lead\":{\"email\":\"e\"},\"message\":{\"text\":\"t\"}}".to_owned()),
            Just("{\"email\":tru}".to_owned()),
            Just("[1,2]".to_owned()),
            Just("\"lead.captured\"".to_owned()),
            Just("\"handover.requested\"".to_owned()),
            Just("\"other\"".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn one_pass_matches_the_reference(
            fields in proptest::collection::vec(
                (prop_oneof![
                    Just("event"), Just("data"), Just("tenant_id"), Just("timestamp"),
                    Just("id"), Just("event_id"), Just("widget_id"), Just("other"),
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
