//! `VendorEvent` for Buzzi (fast parse with the tracked parse as fallback) and normalisation into the cross-vendor `Event`.

use super::*;
use crate::platform::lookup::{self, Flat};

crate::platform::inherent_vendor_methods!(BuzziEvent);

impl BuzziEvent {
    /// The reference parse: read the name, then the envelope it selects, tracking JSON paths.
    pub(super) fn from_slice_tracked(body: &[u8]) -> Result<Self, ParseError> {
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

impl BuzziEvent {
    /// The fast pass alone, with no fallback (the tests hold it to the reference parse).
    /// `Ok(None)`: a later `event` overrode the `type` that chose the envelope, so only the
    /// reference parse can decide.
    pub(super) fn from_slice_fast(body: &[u8]) -> Result<Option<Self>, ParseError> {
        let found = match crate::platform::with_json!(body, |json| {
            serde::Deserializer::deserialize_map(&mut json, EventSeed)
                .and_then(|found| json.end().map(|()| found))
        }) {
            Ok(found) => found,
            Err(e) if e.to_string().starts_with(NAME_OVERRIDDEN) => return Ok(None),
            Err(e)
                if e.to_string().starts_with(MAYBE_OVERRIDDEN)
                    && memchr::memmem::find(body, b"\"event\"").is_some() =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Some(match found {
            Found::Known(event) => event,
            Found::Unknown(name) => BuzziEvent::Unknown {
                name: name.unwrap_or_default(),
                raw: open::raw_body(body)?,
            },
        }))
    }
}

impl VendorEvent for BuzziEvent {
    const VENDOR: Vendor = Vendor::Buzzi;

    fn is_unknown(&self) -> bool {
        matches!(self, BuzziEvent::Unknown { .. })
    }

    /// One pass without path tracking; when that fails, the body is parsed again the
    /// reference way (name first, then the envelope, with `serde_path_to_error`) so the error
    /// names the JSON path. Both ways accept exactly the same bodies.
    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        match Self::from_slice_fast(body) {
            Ok(Some(event)) => Ok(event),
            _ => Self::from_slice_tracked(body),
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
                ev.message = lookup::message_in(&d.extra);
            }
            B::MessageReceived(e) | B::MessageSent(e) | B::MessageCreated(e) => {
                let d = &e.data;
                if let Some(c) = &d.conversation {
                    fill_from_conversation(&mut ev, c);
                }
                ev.ids.conversation = d.conversation_id.clone().or(ev.ids.conversation);
                fill_end_user(&mut ev, d.end_user.as_ref(), &d.extra);
                if let Some(u) = &d.end_user {
                    ev.ids.contact = u.id.clone().or(ev.ids.contact);
                }
                let nested = lookup::message_in(&d.extra).unwrap_or_default();
                let mut m = Message::default();
                m.id = d.id.clone().or(nested.id);
                m.text = d.content.clone().or(nested.text);
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
                fill_end_user(&mut ev, d.end_user.as_ref(), &d.extra);
                if let Some(u) = &d.end_user {
                    ev.ids.contact = u.id.clone().or(ev.ids.contact);
                }
                ev.message = lookup::message_in(&d.extra);
                escalation_attributes(&mut ev, d);
            }
            B::FeedbackReceived(e) => {
                let d = &e.data;
                ev.ids.conversation = d.conversation_id.clone();
                ev.ids.message = d.message_id.clone();
                ev.ids.contact = d.end_user_id.clone();
                fill_end_user(&mut ev, d.end_user.as_ref(), &d.extra);
                if let Some(u) = &d.end_user {
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

pub(super) fn fill_from_conversation(ev: &mut Event, d: &BuzziConversation) {
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
    fill_end_user(ev, d.end_user.as_ref(), &d.extra);
    if let Some(u) = &d.end_user {
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

/// The contact: the record's typed end user (else the contact found so far, e.g. from a nested
/// conversation), with its gaps filled from the record's nested person objects.
pub(super) fn fill_end_user(
    ev: &mut Event,
    user: Option<&BuzziEndUser>,
    extra: &Map<String, Value>,
) {
    let base = user.map(end_user_contact).or_else(|| ev.contact.take());
    ev.contact = lookup::contact(base, extra, Flat::Nested);
    if ev.ids.contact.is_none() {
        ev.ids.contact = ev.contact.as_ref().and_then(|c| c.id.clone());
    }
}

pub(super) fn escalation_attributes(ev: &mut Event, d: &BuzziEscalation) {
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

pub(super) fn role_direction(role: Option<&BuzziMessageRole>) -> Option<Direction> {
    match role? {
        BuzziMessageRole::User => Some(Direction::Inbound),
        BuzziMessageRole::Assistant | BuzziMessageRole::HumanAgent => Some(Direction::Outbound),
        _ => None,
    }
}

pub(super) fn channel(c: &BuzziChannel) -> Channel {
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

pub(super) fn end_user_contact(u: &BuzziEndUser) -> Contact {
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
    lookup::merge_person(&mut c, &u.extra);
    c
}

pub(super) fn attachment(v: &Value) -> Option<Attachment> {
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
