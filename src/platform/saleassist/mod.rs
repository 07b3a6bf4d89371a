//! SaleAssist (saleassist.ai): `widget_new_conversation`, mapped ("Get Schema") webhooks, and
//! any other event losslessly.
//!
//! SaleAssist documents one event, `widget_new_conversation`, with one sample body
//! `{"event_type", "payload", "metadata"}`. The lead sits in `payload.people_detail`; `payload.meta`
//! is a heterogeneous array holding the meeting object and a `{"message": …}` object. The full
//! list of event names was never published (the vendor page's list is empty), so every other
//! `event_type` parses to [`SaleAssistEvent::Unknown`] with the body kept byte for byte.
//!
//! SaleAssist does not sign deliveries: the only mechanism is a static "custom header" the user
//! configures (see [`crate::verify`]'s token check).
//!
//! # What the parser tolerates
//!
//! - **Capture wrapper.** The vendor's sample was captured by an automation tool and is wrapped
//!   as `{"<key>": {…real body…}, "headers": {…}, "queryString": {…}}`. When the top-level object
//!   has `headers` and/or `queryString` and exactly one other member holding an object, that
//!   member is unwrapped (whatever its key; `"body"` in practice). When the wrapper key is missing
//!   and `event_type`/`payload` sit next to `headers`/`queryString`, the extra members are set
//!   aside. Either way [`CaptureWrapper`] records what was unwrapped, and error paths name the
//!   wrapper key (`body.payload.people_detail.otp_verified`).
//! - **Messy values** (vendor-notes §2.8): ids and pincode as strings or numbers (pincode stays
//!   text), `otp_verified: "Yes"`, coordinates as numbers or strings, epoch-millisecond times,
//!   `0` and `""` meaning "not set", the meeting's `registration_form` as JSON inside a string,
//!   `date` `"7/11/2024"` + `time` `"04:30 PM"` + legacy zone `"Asia/Calcutta"`.
//! - **Unknown fields** are kept: [`Lead::extra`] holds the form-dependent lead fields
//!   (`product_sku`, `extra1`…), [`Payload::extra`] any new payload field, and every `meta`
//!   element is kept as sent in [`Meta::raw`].
//!
//! `normalize()` also finds the lead and the message nested one level down in `payload`
//! (`payload.lead`, `payload.contact`…, `payload.message`) and in mapped webhooks, in the order
//! the [`platform`](crate::platform) module documents.
//!
//! The sample published by SaleAssist is not valid JSON (a missing comma and a missing wrapper
//! line); run it through [`crate::lenient::repair`] first when you must accept such bodies.
//!
//! # Dedupe key
//!
//! `payload.id` (the record id) when present, otherwise a hash of the body
//! ([`crate::platform::dedupe_key`]).
//!
//! ```
//! use chathooks::platform::saleassist::SaleAssistEvent;
//! let body = br#"{"event_type":"widget_new_conversation","payload":{"id":"dc60",
//!   "people_detail":{"name":"Prakash","pincode":"400615","otp_verified":"Yes"}},"metadata":{}}"#;
//! let SaleAssistEvent::WidgetNewConversation(ev) = SaleAssistEvent::from_slice(body)? else {
//!     panic!("expected widget_new_conversation")
//! };
//! let lead = ev.payload.people_detail.as_ref().unwrap();
//! assert_eq!(lead.pincode.as_deref(), Some("400615"));
//! assert_eq!(lead.otp_verified, Some(true));
//! # Ok::<(), chathooks::ParseError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{
    Channel, Contact, Conversation, Direction, Event, EventKind, Ids, Location, Message, Utm,
    Vendor,
};
use crate::lenient::de::{self as lde, open_struct, Bool, Key, Plain, StrNum, Ts, F64};
use crate::lenient::{local_date_time, Timestamp};
use crate::platform::{from_json, VendorEvent};
use crate::ParseError;

/// The event name SaleAssist documents.
pub const WIDGET_NEW_CONVERSATION: &str = "widget_new_conversation";
/// The name [`SaleAssistEvent::name`] reports for mapped webhooks (they carry no event name).
pub const MAPPED: &str = "mapped";

/// A SaleAssist webhook delivery.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SaleAssistEvent {
    /// `widget_new_conversation`: a visitor started a conversation (or booked a meeting) through
    /// a widget; carries the lead.
    WidgetNewConversation(Box<WidgetNewConversation>),
    /// A webhook created with "Webhooks - mapping" / "Get Schema": a user-chosen set of fields
    /// (an object without `event_type`). Its shape is not documented; see [`MappedWebhook`].
    Mapped(Box<MappedWebhook>),
    /// Any other `event_type`, kept losslessly.
    Unknown {
        /// The `event_type` as sent.
        name: String,
        /// The SaleAssist body exactly as sent (inside the capture wrapper, if there was one).
        raw: Box<RawValue>,
    },
}

/// What the capture-tool wrapper around the real body looked like (vendor-notes §2.6).
///
/// `Debug` shows only the captured header *names*: the values may include the static token
/// the user configured as a SaleAssist custom header.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct CaptureWrapper {
    /// The member that held the real body (`"body"`), or `None` when the body's members sat
    /// at the top level next to `headers`/`queryString`.
    pub key: Option<String>,
    /// The captured HTTP request headers, as sent.
    pub headers: Option<Box<RawValue>>,
    /// The captured query string, as sent.
    pub query_string: Option<Box<RawValue>>,
}

impl fmt::Debug for CaptureWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Option<Vec<String>> = self.headers.as_ref().map(|h| {
            serde_json::from_str::<std::collections::BTreeMap<String, de::IgnoredAny>>(h.get())
                .map(|m| m.into_keys().collect())
                .unwrap_or_default()
        });
        f.debug_struct("CaptureWrapper")
            .field("key", &self.key)
            .field("header_names", &names)
            .field("query_string", &self.query_string)
            .finish()
    }
}

/// `widget_new_conversation`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WidgetNewConversation {
    /// The `event_type` as sent (`"widget_new_conversation"`).
    pub event_type: String,
    /// The payload.
    pub payload: Payload,
    /// `metadata` as sent (`{}` in the sample).
    pub metadata: Option<Value>,
    /// Set when the body arrived inside an automation tool's capture wrapper.
    pub capture: Option<CaptureWrapper>,
}

/// `payload.message_type`: what `message_content` and `meta` hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `"schedule_meeting"`: `message_content` is the meeting id and `meta` holds the meeting.
    ScheduleMeeting,
    /// Any other type, as sent (the list is not documented).
    Other(String),
}

impl MessageType {
    /// The type as SaleAssist names it.
    pub fn as_str(&self) -> &str {
        match self {
            MessageType::ScheduleMeeting => "schedule_meeting",
            MessageType::Other(s) => s,
        }
    }

    fn from_text(s: String) -> Self {
        match s.as_str() {
            "schedule_meeting" => MessageType::ScheduleMeeting,
            _ => MessageType::Other(s),
        }
    }
}

/// `payload.source_type` and `meeting_type`: the kind of widget interaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceType {
    /// `"live_call"`: a live video call / meeting.
    LiveCall,
    /// Any other source, as sent (the list is not documented).
    Other(String),
}

impl SourceType {
    /// The source as SaleAssist names it.
    pub fn as_str(&self) -> &str {
        match self {
            SourceType::LiveCall => "live_call",
            SourceType::Other(s) => s,
        }
    }

    fn from_text(s: String) -> Self {
        match s.as_str() {
            "live_call" => SourceType::LiveCall,
            _ => SourceType::Other(s),
        }
    }

    /// The cross-vendor channel. `live_call` is a call; other sources are kept as sent,
    /// except names containing `whatsapp`.
    pub fn channel(&self) -> Channel {
        match self {
            SourceType::LiveCall => Channel::Call,
            SourceType::Other(s) if s.to_ascii_lowercase().contains("whatsapp") => {
                Channel::WhatsApp
            }
            SourceType::Other(s) => Channel::Other(s.clone()),
        }
    }
}

/// `meeting_status`. Only `SCHEDULED` appears in the vendor sample; the other names are the
/// obvious lifecycle states and are matched case-insensitively (inferred, not documented).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MeetingStatus {
    /// `SCHEDULED`.
    Scheduled,
    /// `STARTED` / `LIVE` / `ONGOING` (inferred).
    Started,
    /// `COMPLETED` / `ENDED` (inferred).
    Completed,
    /// `CANCELLED` / `CANCELED` (inferred).
    Cancelled,
    /// Anything else, as sent.
    Other(String),
}

impl MeetingStatus {
    fn from_text(s: String) -> Self {
        let t = s.trim().to_ascii_uppercase();
        match t.as_str() {
            "SCHEDULED" => MeetingStatus::Scheduled,
            "STARTED" | "LIVE" | "ONGOING" => MeetingStatus::Started,
            "COMPLETED" | "ENDED" => MeetingStatus::Completed,
            "CANCELLED" | "CANCELED" => MeetingStatus::Cancelled,
            _ => MeetingStatus::Other(s),
        }
    }
}

macro_rules! open_enum_reader {
    ($reader:ident, $ty:ty) => {
        struct $reader(Option<$ty>);
        impl<'de> Deserialize<'de> for $reader {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($reader(lde::non_empty_string(d)?.map(<$ty>::from_text)))
            }
        }
    };
}
open_enum_reader!(MessageTypeReader, MessageType);
open_enum_reader!(SourceTypeReader, SourceType);

fn meeting_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MeetingStatus>, D::Error> {
    Ok(lde::non_empty_string(d)?.map(MeetingStatus::from_text))
}

open_struct! {
    /// `payload` of `widget_new_conversation` (vendor-notes §2.7).
    #[derive(Debug, Clone)]
    pub struct Payload expecting "the SaleAssist payload object" {
        /// `id`: the record id; the dedupe key.
        "id" => id: Option<String> = StrNum,
        /// `message_content`: text, or the meeting id when `message_type` is `schedule_meeting`.
        "message_content" => message_content: Option<String> = StrNum,
        /// `message_type`.
        "message_type" => message_type: Option<MessageType> = MessageTypeReader,
        /// `message_from`: the visitor (same as `people_id`).
        "message_from" => message_from: Option<String> = StrNum,
        /// `message_to`: the agent/user the conversation is routed to.
        "message_to" => message_to: Option<String> = StrNum,
        /// `meta`: the meeting object and a message object, typed and as sent.
        "meta" => meta: Meta = Plain<Meta>,
        /// `raw` (`{}` in the sample).
        "raw" => raw: Option<Value> = Plain<Option<Value>>,
        /// `acknowledged`.
        "acknowledged" => acknowledged: Option<bool> = Bool,
        /// `is_bot_handover`.
        "is_bot_handover" => is_bot_handover: Option<bool> = Bool,
        /// `is_moderated`.
        "is_moderated" => is_moderated: Option<bool> = Bool,
        /// `is_handover_question`.
        "is_handover_question" => is_handover_question: Option<bool> = Bool,
        /// `people_id`: the visitor/lead id.
        "people_id" => people_id: Option<String> = StrNum,
        /// `meeting_id`.
        "meeting_id" => meeting_id: Option<String> = StrNum,
        /// `form_id`: the lead form.
        "form_id" => form_id: Option<String> = StrNum,
        /// `unique_field_value`: the value the lead is keyed by (a phone in the sample, even
        /// though the meeting's `unique_field_name` says `email`).
        "unique_field_value" => unique_field_value: Option<String> = StrNum,
        /// `source_id`: the widget/button id.
        "source_id" => source_id: Option<String> = StrNum,
        /// `source_name`: the widget/button name.
        "source_name" => source_name: Option<String> = StrNum,
        /// `source_type`.
        "source_type" => source_type: Option<SourceType> = SourceTypeReader,
        /// `source_referrer`: the page or jump link the visitor came from.
        "source_referrer" => source_referrer: Option<String> = StrNum,
        /// `session_id`: the conversation.
        "session_id" => session_id: Option<String> = StrNum,
        /// `whatsapp_request_id` (`""` = not set).
        "whatsapp_request_id" => whatsapp_request_id: Option<String> = StrNum,
        /// `whatsapp_status` (`{}` in the sample).
        "whatsapp_status" => whatsapp_status: Option<Value> = Plain<Option<Value>>,
        /// `chat_group_id` (`""` = not set).
        "chat_group_id" => chat_group_id: Option<String> = StrNum,
        /// `client_id`: the SaleAssist account (tenant).
        "client_id" => client_id: Option<String> = StrNum,
        /// `created_on` (epoch milliseconds).
        "created_on" => created_on: Option<Timestamp> = Ts,
        /// `updated_on` (epoch milliseconds).
        "updated_on" => updated_on: Option<Timestamp> = Ts,
        /// `dropped_at` (`0` = not dropped).
        "dropped_at" => dropped_at: Option<Timestamp> = Ts,
        /// `people_detail`: the lead.
        "people_detail" => people_detail: Option<Lead> = Plain<Option<Lead>>,
        /// `meeting_url`, as text. Its query holds an unencoded `+` (`user_identity=+91…`),
        /// which a form decoder would turn into a space: do not re-parse it as a form.
        "meeting_url" => meeting_url: Option<String> = StrNum,
    }
}

open_struct! {
    /// `payload.people_detail`: the lead. The keys depend on each widget's lead form; the
    /// well-known ones are typed, the rest (`product_sku`, `extra1`, `date_of_month`…) stay in
    /// `extra`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Lead expecting "the people_detail object" {
        /// `id`: the lead (same as `payload.people_id`).
        "id" => id: Option<String> = StrNum,
        /// `name`.
        "name" => name: Option<String> = StrNum,
        /// `mobile_number`, as sent.
        "mobile_number" => mobile_number: Option<String> = StrNum,
        /// `email`.
        "email" => email: Option<String> = StrNum,
        /// `address`.
        "address" => address: Option<String> = StrNum,
        /// `pincode`, as text (leading zeros matter; sent as a string or a number).
        "pincode" => pincode: Option<String> = StrNum,
        /// `utm_source`.
        "utm_source" => utm_source: Option<String> = StrNum,
        /// `utm_medium`.
        "utm_medium" => utm_medium: Option<String> = StrNum,
        /// `utm_campaign`.
        "utm_campaign" => utm_campaign: Option<String> = StrNum,
        /// `utm_term`.
        "utm_term" => utm_term: Option<String> = StrNum,
        /// `utm_content`.
        "utm_content" => utm_content: Option<String> = StrNum,
        /// `otp_verified` (`"Yes"` in the sample).
        "otp_verified" => otp_verified: Option<bool> = Bool,
        /// `widget_city`: city located from the visitor's IP.
        "widget_city" => widget_city: Option<String> = StrNum,
        /// `widget_state`.
        "widget_state" => widget_state: Option<String> = StrNum,
        /// `widget_country`.
        "widget_country" => widget_country: Option<String> = StrNum,
        /// `widget_latitude` (a number or a string).
        "widget_latitude" => widget_latitude: Option<f64> = F64,
        /// `widget_longitude` (a number or a string).
        "widget_longitude" => widget_longitude: Option<f64> = F64,
        /// `widget_ip_address`.
        "widget_ip_address" => widget_ip_address: Option<String> = StrNum,
        /// `widget_location_source` (`"IP ADDRESS"`).
        "widget_location_source" => widget_location_source: Option<String> = StrNum,
    }
}

/// One element of `payload.meta`, typed. The element as sent is in [`Meta::raw`] at the same
/// index.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetaItem {
    /// The meeting object (`schedule_meeting`).
    Meeting(Box<Meeting>),
    /// `{"message": …}`; `""` reads as `None`.
    Message(Option<String>),
    /// Anything else (including a meeting object whose fields do not parse); see [`Meta::raw`].
    Other,
}

/// A form field of the meeting's registration form (`registration_form`, JSON inside a string).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct FormField {
    /// `type` (`"text"`, `"paragraph"`…).
    #[serde(default, rename = "type", deserialize_with = "lde::string_or_number")]
    pub field_type: Option<String>,
    /// `subtype`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub subtype: Option<String>,
    /// `name`: the lead key the field fills (`"mobile_number"`).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub name: Option<String>,
    /// `label`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub label: Option<String>,
    /// `placeholder`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub placeholder: Option<String>,
    /// `required`.
    #[serde(default, deserialize_with = "lde::boolish")]
    pub required: Option<bool>,
}

/// The meeting object in `payload.meta` (72 keys in the sample; the ones that matter are typed,
/// all of them stay in [`Meta::raw`]). The meeting password is deliberately not typed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Meeting {
    /// `id` (same as `payload.meeting_id`).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub id: Option<String>,
    /// `external_id`: the same UUID without hyphens.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub external_id: Option<String>,
    /// `meeting_name`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub meeting_name: Option<String>,
    /// `meeting_type` (`"live_call"`).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub meeting_type: Option<String>,
    /// `meeting_status`.
    #[serde(default, deserialize_with = "meeting_status")]
    pub meeting_status: Option<MeetingStatus>,
    /// `description` (`""` = none).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub description: Option<String>,
    /// `date`, `M/D/YYYY` (`"7/11/2024"` is 11 July).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub date: Option<String>,
    /// `time`, 12-hour (`"04:30 PM"`).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub time: Option<String>,
    /// `timezone`, IANA (legacy aliases such as `"Asia/Calcutta"` occur).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub timezone: Option<String>,
    /// `date_time`: local ISO date-time without offset (`"2024-07-11T16:30"`).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub date_time: Option<Timestamp>,
    /// `scheduled_time`: the start, epoch milliseconds.
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub scheduled_time: Option<Timestamp>,
    /// `duration`, in units of `duration_mode`.
    #[serde(default, deserialize_with = "lde::i64ish")]
    pub duration: Option<i64>,
    /// `duration_mode` (`"min"`).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub duration_mode: Option<String>,
    /// `participants` (E.164 phones or emails).
    #[serde(default, deserialize_with = "lde::vec_string_or_number")]
    pub participants: Vec<String>,
    /// `moderators` (emails, bare phone numbers).
    #[serde(default, deserialize_with = "lde::vec_string_or_number")]
    pub moderators: Vec<String>,
    /// `created_by_user_id`: the agent.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub created_by_user_id: Option<String>,
    /// `client_id`: the account.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub client_id: Option<String>,
    /// `host_room`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub host_room: Option<String>,
    /// `view_room`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub view_room: Option<String>,
    /// `source_referrer`.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub source_referrer: Option<String>,
    /// `recording_url` (`""` = none).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub recording_url: Option<String>,
    /// `auto_record`.
    #[serde(default, deserialize_with = "lde::boolish")]
    pub auto_record: Option<bool>,
    /// `is_recurring`.
    #[serde(default, deserialize_with = "lde::boolish")]
    pub is_recurring: Option<bool>,
    /// `rrule` (`""` = none).
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub rrule: Option<String>,
    /// `registration_enabled`.
    #[serde(default, deserialize_with = "lde::boolish")]
    pub registration_enabled: Option<bool>,
    /// `registration_form`, decoded from the JSON inside the string.
    #[serde(default, deserialize_with = "lde::json_in_string")]
    pub registration_form: Option<Vec<FormField>>,
    /// `unique_field_name`: which lead field identifies the visitor.
    #[serde(default, deserialize_with = "lde::string_or_number")]
    pub unique_field_name: Option<String>,
    /// `start_time` (`0` = not started).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub start_time: Option<Timestamp>,
    /// `end_time` (`0` = not ended).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub end_time: Option<Timestamp>,
    /// `confirmed_at` (`0` = not confirmed).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub confirmed_at: Option<Timestamp>,
    /// `picked_up_at` (`0` = not picked up).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub picked_up_at: Option<Timestamp>,
    /// `participant_count`.
    #[serde(default, deserialize_with = "lde::i64ish")]
    pub participant_count: Option<i64>,
    /// `followed_up`.
    #[serde(default, deserialize_with = "lde::boolish")]
    pub followed_up: Option<bool>,
    /// `created_on` (epoch milliseconds).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub created_on: Option<Timestamp>,
    /// `updated_on` (epoch milliseconds).
    #[serde(default, deserialize_with = "crate::lenient::timestamp")]
    pub updated_on: Option<Timestamp>,
}

impl Meeting {
    /// When the meeting starts: `date` + `time` in `timezone` (`"7/11/2024"`, `"04:30 PM"`,
    /// `"Asia/Calcutta"`), else `scheduled_time`, else `date_time` in `timezone`.
    pub fn starts_at(&self) -> Option<SystemTime> {
        let zone = self.timezone.as_deref();
        if let (Some(d), Some(t), Some(z)) = (self.date.as_deref(), self.time.as_deref(), zone) {
            if let Some(at) = local_date_time(d, t, z) {
                return Some(at);
            }
        }
        if let Some(at) = self.scheduled_time.as_ref().and_then(|t| t.instant) {
            return Some(at);
        }
        let (dt, z) = (self.date_time.as_ref()?, zone?);
        dt.instant.or_else(|| dt.in_zone(z))
    }

    /// `duration` in `duration_mode` units (`min`, `hour`, `sec` and their spellings) as a
    /// [`Duration`]; `None` when the unit is unknown or the value negative.
    pub fn duration(&self) -> Option<Duration> {
        let n = u64::try_from(self.duration?).ok()?;
        let unit = self.duration_mode.as_deref().unwrap_or("min").trim();
        let secs_per = match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            _ => return None,
        };
        n.checked_mul(secs_per).map(Duration::from_secs)
    }
}

/// `payload.meta`: a heterogeneous array, kept both typed and as sent.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Meta {
    /// The typed view, same order and length as `raw`.
    pub items: Vec<MetaItem>,
    /// Every element exactly as sent (nothing is lost, whatever its shape).
    pub raw: Vec<Box<RawValue>>,
}

impl Meta {
    /// The meeting object, if any.
    pub fn meeting(&self) -> Option<&Meeting> {
        self.items.iter().find_map(|i| match i {
            MetaItem::Meeting(m) => Some(&**m),
            _ => None,
        })
    }

    /// The `{"message": …}` element's text, if any and not empty.
    pub fn message(&self) -> Option<&str> {
        self.items.iter().find_map(|i| match i {
            MetaItem::Message(m) => m.as_deref(),
            _ => None,
        })
    }

    /// The elements as `serde_json::Value`s (parsed from `raw`).
    pub fn values(&self) -> Vec<Value> {
        self.raw
            .iter()
            .filter_map(|r| serde_json::from_str(r.get()).ok())
            .collect()
    }
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<Vec<Box<RawValue>>>::deserialize(d)?.unwrap_or_default();
        let items = raw.iter().map(|r| meta_item(r)).collect();
        Ok(Meta { items, raw })
    }
}

// A bad element becomes `Other` rather than failing the event: `meta` mixes shapes and its
// elements are secondary to the lead; the element stays in `Meta::raw`.
fn meta_item(raw: &RawValue) -> MetaItem {
    let text = raw.get();
    if !text.starts_with('{') {
        return MetaItem::Other;
    }
    if let Ok(m) = serde_json::from_str::<Meeting>(text) {
        if m.id.is_some()
            || m.meeting_status.is_some()
            || m.scheduled_time.is_some()
            || m.meeting_name.is_some()
        {
            return MetaItem::Meeting(Box::new(m));
        }
    }
    #[derive(Deserialize)]
    struct Msg {
        message: Option<Value>,
    }
    match serde_json::from_str::<Msg>(text) {
        Ok(Msg { message: Some(v) }) => MetaItem::Message(value_text(&v)),
        _ => MetaItem::Other,
    }
}

/// A mapped webhook ("Webhooks - mapping" → "Get Schema"): an object of the fields the user
/// picked, under names the user chose. Its format is not documented (vendor-notes §2.3); the
/// accessors look for the well-known lead keys both as top-level keys (`"name"`,
/// `"people_detail.name"`, `"payload.people_detail.name"`) and as nested paths.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MappedWebhook {
    /// Every member, parsed.
    pub fields: Map<String, Value>,
    /// The object exactly as sent.
    pub raw: Box<RawValue>,
    /// Set when the body arrived inside an automation tool's capture wrapper.
    pub capture: Option<CaptureWrapper>,
}

impl MappedWebhook {
    /// The value at `key`: an exact top-level key first, then a dotted path through nested
    /// objects (`"payload.people_detail.email"`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.fields.get(key) {
            return Some(v);
        }
        let mut parts = key.split('.');
        let mut cur = self.fields.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    /// The first of the lead key `name`'s usual spellings that holds a non-empty string or number.
    pub fn lead_field(&self, name: &str) -> Option<String> {
        let candidates = [
            Cow::Borrowed(name),
            Cow::Owned(format!("people_detail.{name}")),
            Cow::Owned(format!("payload.people_detail.{name}")),
            Cow::Owned(format!("lead.{name}")),
        ];
        candidates
            .iter()
            .filter_map(|k| self.get(k))
            .find_map(value_text)
    }

    /// `name`.
    pub fn name(&self) -> Option<String> {
        self.lead_field("name")
    }
    /// `email`.
    pub fn email(&self) -> Option<String> {
        self.lead_field("email")
    }
    /// `mobile_number` (or `phone`).
    pub fn mobile_number(&self) -> Option<String> {
        self.lead_field("mobile_number")
            .or_else(|| self.lead_field("phone"))
    }
    /// `id` of the record (`id`, `payload.id`).
    pub fn id(&self) -> Option<String> {
        ["id", "payload.id"]
            .iter()
            .filter_map(|k| self.get(k))
            .find_map(value_text)
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

mod normalize;
mod parse;
#[allow(unused_imports)]
use self::{normalize::*, parse::*};
