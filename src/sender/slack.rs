//! Slack incoming-webhook notifier for the events a sales team acts on at once.
//!
//! Sam notifies Slack on "new lead captured", "callback request submitted" and "conversation
//! escalated to human". [`SlackNotifier`] does the same for any vendor's normalised
//! [`Event`] of those kinds ([`EventKind::LeadCaptured`], [`EventKind::CallbackRequested`],
//! [`EventKind::HandoverRequested`]): it formats a Block Kit message and posts it through the
//! [`Sender`], with the same timeout, retries and SSRF guard as any delivery.
//!
//! Everything that came from the visitor is escaped for Slack's mrkdwn (`&`, `<`, `>`), so a
//! lead named `<!channel>` cannot ping the whole channel, and every text is truncated to Slack's
//! limits.

use serde_json::{json, Value};

use super::delivery::{Delivery, Endpoint, Message, Sender};
use super::signing::Signing;
use crate::event::{Channel, Event, EventKind};
use crate::Error;

/// Longest text put in one Block Kit field, in characters (Slack allows 2000).
const MAX_FIELD: usize = 300;
/// Longest message excerpt, in characters (Slack allows 3000 per section).
const MAX_MESSAGE: usize = 1000;
/// Most custom fields listed (Slack allows 10 fields per section).
const MAX_CUSTOM_FIELDS: usize = 10;

/// Posts Block Kit messages for lead, callback and escalation events to a Slack incoming webhook.
///
/// ```
/// use chathooks::event::{Contact, Event, EventKind, Vendor};
/// use chathooks::sender::SlackNotifier;
///
/// let mut event = Event::new(Vendor::Sam, EventKind::LeadCaptured, "lead.captured");
/// let mut contact = Contact::default();
/// contact.name = Some("Priya <!channel> Shah".into());
/// contact.emails.push("priya@example.com".into());
/// event.contact = Some(contact);
///
/// let message = SlackNotifier::message(&event).unwrap();
/// let text = message.to_string();
/// assert!(text.contains("New lead captured"));
/// assert!(text.contains("Priya &lt;!channel&gt; Shah"));
/// assert!(!text.contains("<!channel>"));
/// // Events of other kinds are not notified.
/// let other = Event::new(Vendor::Sam, EventKind::MessageReceived, "message.received");
/// assert!(SlackNotifier::message(&other).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    sender: Sender,
    endpoint: Endpoint,
}

impl SlackNotifier {
    /// A notifier posting to `webhook_url` (`https://hooks.slack.com/services/…`) through
    /// `sender`. The URL is a credential: it is kept out of logs and reports.
    pub fn new(sender: Sender, webhook_url: &str) -> Result<Self, Error> {
        Ok(SlackNotifier {
            sender,
            endpoint: Endpoint::new(webhook_url, Signing::None)?.secret_url(),
        })
    }

    /// `true` for the kinds this notifier posts about.
    pub fn notifies(kind: &EventKind) -> bool {
        matches!(
            kind,
            EventKind::LeadCaptured | EventKind::CallbackRequested | EventKind::HandoverRequested
        )
    }

    /// Post `event` to Slack if it is of a notified kind; `None` (nothing sent) otherwise.
    pub async fn notify(&self, event: &Event) -> Option<Delivery> {
        let body = Self::message(event)?;
        // Serialising a `Value` cannot fail.
        let message = Message::new(serde_json::to_vec(&body).unwrap_or_default());
        Some(self.sender.deliver(&self.endpoint, &message).await)
    }

    /// Post a plain-text message (escaped for mrkdwn and cut to 1000 characters), e.g. a
    /// worker's dead-letter notice.
    pub async fn notify_text(&self, text: &str) -> Delivery {
        let body = json!({ "text": escape(text, MAX_MESSAGE) });
        let message = Message::new(serde_json::to_vec(&body).unwrap_or_default());
        self.sender.deliver(&self.endpoint, &message).await
    }

    /// The Slack message (`text` fallback and Block Kit `blocks`) for `event`, or `None` if
    /// its kind is not notified.
    pub fn message(event: &Event) -> Option<Value> {
        let title = match event.kind {
            EventKind::LeadCaptured => ":sparkles: New lead captured",
            EventKind::CallbackRequested => ":telephone_receiver: Callback requested",
            EventKind::HandoverRequested => ":raising_hand: Conversation escalated to a human",
            _ => return None,
        };
        let plain_title = title.split_once(' ').map_or(title, |(_, t)| t);
        let contact = event.contact.as_ref();
        let name = contact.and_then(|c| c.name.as_deref());
        let email = contact.and_then(|c| c.emails.first()).map(String::as_str);
        let phone = contact.and_then(|c| c.phones.first()).map(String::as_str);
        let channel = event
            .conversation
            .as_ref()
            .and_then(|c| c.channel.as_ref())
            .or_else(|| event.message.as_ref().and_then(|m| m.channel.as_ref()));

        let mut fields = Vec::new();
        let mut field = |label: &str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                fields.push(json!({
                    "type": "mrkdwn",
                    "text": format!("*{label}*\n{}", escape(v, MAX_FIELD)),
                }));
            }
        };
        field("Name", name);
        field("Email", email);
        field("Phone", phone);
        field("Channel", channel.map(channel_name).as_deref());
        field(
            "Conversation",
            event
                .conversation
                .as_ref()
                .and_then(|c| c.id.as_deref())
                .or(event.ids.conversation.as_deref()),
        );
        field(
            "Status",
            event
                .conversation
                .as_ref()
                .and_then(|c| c.status.as_deref()),
        );

        let mut blocks = vec![json!({
            "type": "header",
            "text": { "type": "plain_text", "text": title, "emoji": true },
        })];
        if !fields.is_empty() {
            blocks.push(json!({ "type": "section", "fields": fields }));
        }
        if let Some(text) = event
            .message
            .as_ref()
            .and_then(|m| m.text.as_deref())
            .filter(|t| !t.trim().is_empty())
        {
            blocks.push(json!({
                "type": "section",
                "text": { "type": "mrkdwn", "text": format!("> {}", escape(text, MAX_MESSAGE).replace('\n', "\n> ")) },
            }));
        }
        if let Some(c) = contact.filter(|c| !c.custom_fields.is_empty()) {
            let extra: Vec<Value> = c
                .custom_fields
                .iter()
                .take(MAX_CUSTOM_FIELDS)
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    json!({
                        "type": "mrkdwn",
                        "text": format!("*{}*\n{}", escape(k, 60), escape(&v, MAX_FIELD)),
                    })
                })
                .collect();
            blocks.push(json!({ "type": "section", "fields": extra }));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [{
                "type": "mrkdwn",
                "text": format!("via {} · `{}`", event.vendor, escape(&event.name, 100)),
            }],
        }));

        let who = name.or(email).or(phone).unwrap_or("unknown visitor");
        Some(json!({
            "text": format!("{plain_title}: {}", escape(who, MAX_FIELD)),
            "blocks": blocks,
        }))
    }
}

fn channel_name(c: &Channel) -> String {
    match c {
        Channel::Web => "Website chat".into(),
        Channel::WhatsApp => "WhatsApp".into(),
        Channel::Messenger => "Messenger".into(),
        Channel::FacebookComments => "Facebook comments".into(),
        Channel::Instagram => "Instagram".into(),
        Channel::InstagramComments => "Instagram comments".into(),
        Channel::Telegram => "Telegram".into(),
        Channel::Line => "LINE".into(),
        Channel::TikTok => "TikTok".into(),
        Channel::TikTokComments => "TikTok comments".into(),
        Channel::Email => "Email".into(),
        Channel::Slack => "Slack".into(),
        Channel::Teams => "Microsoft Teams".into(),
        Channel::WeCom => "WeCom".into(),
        Channel::VKontakte => "VKontakte".into(),
        Channel::Call => "Call".into(),
        Channel::Other(s) => s.clone(),
        // `Channel` is non-exhaustive; new variants print their debug name until named here.
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

/// Escape Slack mrkdwn control characters and truncate to `max` characters.
fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 2));
    for (i, ch) in text.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_truncation() {
        assert_eq!(escape("a<b>&c", 100), "a&lt;b&gt;&amp;c");
        assert_eq!(escape("héllo", 2), "hé…");
        assert_eq!(escape("", 5), "");
    }
}
