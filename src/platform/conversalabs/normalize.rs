//! `VendorEvent` for ConversaLabs (fast parse with the tracked parse as fallback) and normalisation into the cross-vendor `Event`.

use super::*;
use crate::platform::lookup::{self, Flat};

crate::platform::inherent_vendor_methods!(ConversaLabsEvent);

impl VendorEvent for ConversaLabsEvent {
    const VENDOR: Vendor = Vendor::ConversaLabs;

    fn is_unknown(&self) -> bool {
        matches!(self, ConversaLabsEvent::Unknown { .. })
    }

    /// One pass over the body's members without path tracking; when that fails, the body is
    /// parsed again the reference way (name, head, then record, with `serde_path_to_error`) so
    /// the error names the JSON path. Both ways accept exactly the same bodies.
    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        match Self::from_slice_fast(body) {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Ok(ConversaLabsEvent::Unknown {
                name: String::new(),
                raw: open::raw_body(body)?,
            }),
            Err(_) => Self::from_slice_tracked(body),
        }
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
                // Only read where a typed field is missing (most messages have both).
                let nested = match (&d.id, &d.content) {
                    (Some(_), Some(_)) => Message::default(),
                    _ => lookup::message_in(&d.extra).unwrap_or_default(),
                };
                let m = Message {
                    id: d.id.clone().or(nested.id),
                    text: d.content.clone().or(nested.text),
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
                message_contact(&mut ev, d, m.direction);
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
                ev.contact = lookup::contact(Some(contact(&e.data)), &e.data.extra, Flat::Person);
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
                record_contact(&mut ev, d.contact.as_ref(), &d.extra);
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
                record_contact(&mut ev, d.contact.as_ref(), &d.extra);
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

pub(super) struct HeadView<'a> {
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
    pub(super) fn of<D>(e: &'a ConversaLabsEnvelope<D>) -> Self {
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
    pub(super) fn head(&self) -> Option<HeadView<'_>> {
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

pub(super) fn fill_conversation(ev: &mut Event, d: &ConversaLabsConversation) {
    let id = d.conversation_id().map(str::to_owned);
    ev.ids.conversation = id.clone();
    ev.ids.tenant = ev.ids.tenant.take().or(d.account_id.clone());
    ev.ids.widget = ev.ids.widget.take().or(d.inbox_id.clone());
    ev.conversation = Some(Conversation {
        id,
        status: d.status.as_ref().map(|s| s.as_str().to_owned()),
        channel: d.channel.as_deref().map(open::channel_from_name),
        assignee: d.assignee().map(str::to_owned),
    });
    ev.ids.contact = d.contact_id.clone();
    record_contact(ev, d.contact(), &d.extra);
    let labels: Vec<String> = d
        .labels
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if !labels.is_empty() {
        ev.contact.get_or_insert_with(Contact::default).labels = labels;
    }
}

/// The contact of a record: its typed person (if any), gaps filled from its nested person
/// objects; `ids.contact` from it when the record named no contact id.
pub(super) fn record_contact(
    ev: &mut Event,
    typed: Option<&ConversaLabsContact>,
    extra: &Map<String, Value>,
) {
    ev.contact = lookup::contact(typed.map(contact), extra, Flat::Nested);
    if ev.ids.contact.is_none() {
        ev.ids.contact = ev.contact.as_ref().and_then(|c| c.id.clone());
    }
}

/// Who the contact of a message is. The customer wherever the payload names one: the
/// message's `contact`, the conversation's `contact` or `meta.sender` (already filled from the
/// nested conversation), a `sender` of type `contact`, then the nested person objects. A
/// `sender` without a `type` is the contact only on an incoming message that names no other
/// contact; an agent or bot sender (`type` `user`, `agent_bot`…) never is: it stays the
/// message's sender.
pub(super) fn message_contact(ev: &mut Event, d: &ConversaLabsMessage, dir: Option<Direction>) {
    let explicit = d.contact.as_ref().filter(|c| c.is_person());
    let sender = d.sender.as_ref().filter(|s| match s.sender_type {
        Some(_) => s.is_person(),
        None => explicit.is_none() && ev.contact.is_none() && dir == Some(Direction::Inbound),
    });
    let base = match explicit {
        Some(c) => Some(contact(c)),
        None => ev.contact.take().or_else(|| sender.map(contact)),
    };
    ev.contact = lookup::contact(base, &d.extra, Flat::Nested);
    let id = ev.contact.as_ref().and_then(|c| c.id.clone());
    ev.ids.contact = match explicit {
        Some(_) => id.or(ev.ids.contact.take()),
        None => ev.ids.contact.take().or(id),
    };
}

pub(super) fn contact(p: &ConversaLabsContact) -> Contact {
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
    // Chatwoot keeps the contact's company in `additional_attributes.company_name`.
    if let Some(company) = open::scalar(attr, "company_name") {
        c.custom_fields
            .insert("company".into(), Value::String(company));
    }
    lookup::merge_person(&mut c, &p.extra);
    c
}

pub(super) fn attachment(v: &Value) -> Option<crate::event::Attachment> {
    // Each field's key, then its fallback.
    const KEYS: [&str; 8] = [
        "data_url",
        "url",
        "file_type",
        "type",
        "name",
        "file_name",
        "content_type",
        "mime_type",
    ];
    let [url, url_or, kind, kind_or, name, name_or, mime, mime_or] =
        lookup::members(v.as_object()?, &KEYS);
    let pick = |v, or| open::scalar_value(v).or_else(|| open::scalar_value(or));
    Some(crate::event::Attachment {
        url: pick(url, url_or),
        kind: pick(kind, kind_or),
        name: pick(name, name_or),
        mime_type: pick(mime, mime_or),
    })
}
