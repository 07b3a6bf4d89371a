//! Shared machinery for vendors whose payloads are only partly documented: reading the event
//! name before choosing a type, keeping unknown events byte-for-byte, open string sets, and the
//! name/channel vocabulary shared by several vendors.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{Channel, EventKind};
use crate::ParseError;

/// Declare an open string set: known values as variants, anything else kept in `Other`.
///
/// Matching is ASCII case-insensitive and treats `-`, ` ` and `.` as `_`, so `"Escalated"`,
/// `"waiting-human"` and `"WAITING_HUMAN"` all match. Strings, numbers and booleans are
/// accepted (numbers as their decimal text); arrays and objects are errors.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $var:ident => $canon:literal $(| $alt:literal)* , )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $var, )*
            /// Any other value, exactly as sent.
            Other(String),
        }

        impl $name {
            /// Read vendor text (case-insensitive; `-`, ` ` and `.` read as `_`). Unknown text is
            /// kept in `Other`.
            pub fn from_text(text: &str) -> Self {
                let trimmed = text.trim();
                $(
                    if $crate::platform::open::same_trimmed_word(trimmed, $canon)
                        $( || $crate::platform::open::same_trimmed_word(trimmed, $alt) )*
                    {
                        return $name::$var;
                    }
                )*
                $name::Other(text.to_owned())
            }

            /// The canonical name of a known value, or the text of `Other` as sent.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$var => $canon, )*
                    $name::Other(s) => s,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::platform::open::scalar_text_with(d, $name::from_text)
            }
        }
    };
}
pub(crate) use open_enum;

/// `a` (trimmed) equals `b` ignoring ASCII case, with `-`, ` ` and `.` in `a` read as `_`.
pub(crate) fn same_word(a: &str, b: &str) -> bool {
    same_trimmed_word(a.trim(), b)
}

/// [`same_word`] of an `a` already trimmed: callers that compare one text with many words trim
/// it once.
pub(crate) fn same_trimmed_word(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let x = match x {
                b'-' | b' ' | b'.' => b'_',
                other => other.to_ascii_lowercase(),
            };
            x == y.to_ascii_lowercase()
        })
}

/// A scalar as text (strings as sent, numbers and booleans as their JSON text), handed to `f`
/// as `&str` rather than owned first: open enums match known values by their text, so a known
/// value costs no allocation.
pub(crate) fn scalar_text_with<'de, D: Deserializer<'de>, T>(
    d: D,
    f: fn(&str) -> T,
) -> Result<T, D::Error> {
    struct V<T>(fn(&str) -> T);
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number or boolean")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.0)(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            Ok((self.0)(&v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Ok((self.0)(&v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Ok((self.0)(&v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
            Ok((self.0)(if v { "true" } else { "false" }))
        }
    }
    d.deserialize_any(V(f))
}

/// `deserialize_with` that records whether a key was present, whatever its value.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// Read the event name without building the event: the string value of the first of `keys`
/// (in priority order) present in the top-level object. `Ok(None)` when none is present or all
/// are `null`; an error (with its JSON path) when the body is not a JSON object or a name is
/// not a string.
pub(crate) fn peek_name(body: &[u8], keys: &[&str]) -> Result<Option<String>, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let found = PeekSeed { keys }
        .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
        .map_err(|e| {
            let err = ParseError::from_json(serde_path_to_error::Error::new(track.path(), e));
            super::path::precise(body, err)
        })?;
    de.end().map_err(ParseError::from)?;
    Ok(found.map(|(_, name)| name))
}

struct PeekSeed<'k> {
    keys: &'k [&'k str],
}

impl<'de> DeserializeSeed<'de> for PeekSeed<'_> {
    type Value = Option<(usize, String)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PeekSeed<'_> {
    type Value = Option<(usize, String)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut best: Option<(usize, String)> = None;
        while let Some(index) = map.next_key_seed(KeySeed { keys: self.keys })? {
            match index {
                // A later duplicate of the same key does not override the first one.
                Some(i) if best.as_ref().is_none_or(|(b, _)| i < *b) => {
                    if let Some(name) = map.next_value::<Option<String>>()? {
                        best = Some((i, name));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(best)
    }
}

/// Matches a map key against the wanted names without allocating.
struct KeySeed<'k> {
    keys: &'k [&'k str],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.keys.iter().position(|k| *k == v))
    }
}

/// The whole body as a [`RawValue`] (surrounding whitespace trimmed), for `Unknown` variants.
/// Goes through the same depth-limited parser as typed events.
pub(crate) fn raw_body(body: &[u8]) -> Result<Box<RawValue>, ParseError> {
    crate::platform::from_json::<Box<RawValue>>(body)
}

/// Event kinds for the names several vendors share. Dots, underscores, dashes and case do not
/// matter (`conversation.created`, `conversation_created`, `CONVERSATION-CREATED`).
pub(crate) fn common_kind(name: &str) -> Option<EventKind> {
    const TABLE: &[(&str, EventKind)] = &[
        ("conversation_started", EventKind::ConversationStarted),
        ("conversation_created", EventKind::ConversationStarted),
        ("conversation_updated", EventKind::ConversationUpdated),
        (
            "conversation_status_changed",
            EventKind::ConversationUpdated,
        ),
        ("conversation_closed", EventKind::ConversationClosed),
        ("conversation_resolved", EventKind::ConversationClosed),
        ("conversation_ended", EventKind::ConversationClosed),
        ("message_received", EventKind::MessageReceived),
        ("message_sent", EventKind::MessageSent),
        ("lead_captured", EventKind::LeadCaptured),
        ("lead_created", EventKind::LeadCaptured),
        ("callback_requested", EventKind::CallbackRequested),
        ("handover_requested", EventKind::HandoverRequested),
        ("conversation_escalated", EventKind::HandoverRequested),
        ("escalation_triggered", EventKind::HandoverRequested),
        ("escalation_created", EventKind::HandoverRequested),
        ("customer_created", EventKind::CustomerCreated),
        ("contact_created", EventKind::CustomerCreated),
        ("customer_updated", EventKind::CustomerUpdated),
        ("contact_updated", EventKind::CustomerUpdated),
        ("payment_confirmed", EventKind::PaymentConfirmed),
        ("payment_paid", EventKind::PaymentConfirmed),
        ("payment_received", EventKind::PaymentConfirmed),
        ("payment_succeeded", EventKind::PaymentConfirmed),
        ("deal_stage_changed", EventKind::DealStageChanged),
        ("feedback_received", EventKind::FeedbackReceived),
    ];
    let name = name.trim();
    TABLE
        .iter()
        .find(|(n, _)| same_trimmed_word(name, n))
        .map(|(_, k)| k.clone())
}

/// A channel named in text (`"whatsapp"`, `"Channel::WebWidget"`, `"facebook"`…). Unknown
/// names are kept in [`Channel::Other`] as sent.
pub(crate) fn channel_from_name(name: &str) -> Channel {
    let t = name.trim();
    // Chatwoot-style class names (`Channel::Whatsapp`).
    let key = t.strip_prefix("Channel::").unwrap_or(t).trim();
    let is = |words: &[&str]| words.iter().any(|w| same_trimmed_word(key, w));
    if is(&[
        "web",
        "webwidget",
        "web_widget",
        "widget",
        "website",
        "webchat",
        "web_chat",
    ]) {
        Channel::Web
    } else if is(&["whatsapp", "whatsapp_business", "whats_app"]) {
        Channel::WhatsApp
    } else if is(&[
        "messenger",
        "facebook",
        "facebook_page",
        "facebookpage",
        "fb",
    ]) {
        Channel::Messenger
    } else if is(&["instagram", "ig"]) {
        Channel::Instagram
    } else if is(&["telegram"]) {
        Channel::Telegram
    } else if is(&["line"]) {
        Channel::Line
    } else if is(&["tiktok"]) {
        Channel::TikTok
    } else if is(&["email", "mail"]) {
        Channel::Email
    } else if is(&["slack"]) {
        Channel::Slack
    } else if is(&["teams", "microsoft_teams", "msteams"]) {
        Channel::Teams
    } else if is(&["call", "voice", "phone", "video"]) {
        Channel::Call
    } else {
        Channel::Other(t.to_owned())
    }
}

/// A scalar member of a JSON object as text (strings as sent, numbers as decimal text);
/// `None` for absent, `null`, `""`, arrays and objects.
pub(crate) fn scalar(map: &Map<String, Value>, key: &str) -> Option<String> {
    scalar_value(map.get(key))
}

/// [`scalar`] of a value already looked up.
pub(crate) fn scalar_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Push `value` onto `list` when it is set, not already there, and the list holds fewer than
/// [`crate::event::MAX_CONTACT_VALUES`]: the check is a scan, and without the bound a body
/// listing 60 000 emails cost 60 000²/2 comparisons (46 s of CPU in a debug build).
pub(crate) fn push_unique(list: &mut Vec<String>, value: Option<&str>) {
    if list.len() >= crate::event::MAX_CONTACT_VALUES {
        return;
    }
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        if !list.iter().any(|x| x == v) {
            list.push(v.to_owned());
        }
    }
}

/// Insert `value` into an attribute map when it is set.
pub(crate) fn put<V: Into<Value>>(
    attrs: &mut std::collections::BTreeMap<String, Value>,
    key: &str,
    value: Option<V>,
) {
    if let Some(v) = value {
        attrs.insert(key.to_owned(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_the_highest_priority_name() {
        let keys = ["event", "type"];
        let got = peek_name(br#"{"type":"b","x":[1,{"event":"no"}],"event":"a"}"#, &keys);
        assert_eq!(got.unwrap().as_deref(), Some("a"));
        let got = peek_name(br#"{"event":null,"type":"b"}"#, &keys);
        assert_eq!(got.unwrap().as_deref(), Some("b"));
        assert_eq!(peek_name(b"{}", &keys).unwrap(), None);
        let err = peek_name(br#"{"event":5}"#, &keys).unwrap_err();
        assert_eq!(err.path, "event");
        assert!(peek_name(br#"["event","x"]"#, &keys).is_err());
        assert!(peek_name(br#"{"event":"a"} x"#, &keys).is_err());
    }

    #[test]
    fn words_and_kinds() {
        assert!(same_word("Conversation-Created", "conversation_created"));
        assert!(!same_word("conversation", "conversation_created"));
        assert_eq!(
            common_kind("deal.stage_changed"),
            Some(EventKind::DealStageChanged)
        );
        assert_eq!(common_kind("nope"), None);
        assert_eq!(channel_from_name("Channel::Whatsapp"), Channel::WhatsApp);
        assert_eq!(channel_from_name("sms"), Channel::Other("sms".into()));
    }

    /// Text with blanks around it reads as the word inside, wherever a text is matched against
    /// a list of words (each list trims the text once, not once per word); unknown text is kept
    /// as sent.
    #[test]
    fn words_are_matched_trimmed() {
        use crate::platform::conversalabs::ConversaLabsMessageType as T;
        assert!(same_word(" \tdeal stage-changed \n", "deal_stage_changed"));
        assert!(same_trimmed_word(
            "Deal.Stage-Changed",
            "deal_stage_changed"
        ));
        assert!(!same_trimmed_word(
            " deal_stage_changed",
            "deal_stage_changed"
        ));
        assert_eq!(
            common_kind("  Deal.Stage_Changed "),
            Some(EventKind::DealStageChanged)
        );
        assert_eq!(channel_from_name(" Channel:: WhatsApp "), Channel::WhatsApp);
        assert_eq!(channel_from_name(" web chat "), Channel::Web);
        assert_eq!(T::from_text(" Incoming\n"), T::Incoming);
        assert_eq!(
            T::from_text(" carrier pigeon "),
            T::Other(" carrier pigeon ".into())
        );
        assert!(crate::platform::lookup::is_agent_type(Some(" Agent-Bot ")));
        assert!(!crate::platform::lookup::is_agent_type(Some(" contact ")));
        assert!(!crate::platform::lookup::is_agent_type(None));
    }
}
