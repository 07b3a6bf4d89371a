//! `VendorEvent` for SaleAssist and normalisation into the cross-vendor `Event`.

use super::*;
use crate::platform::lookup::{self, Flat};

use crate::platform::open::push_unique;

pub(super) fn lead_contact(p: &Payload) -> Option<Contact> {
    let lead = p.people_detail.as_ref();
    if lead.is_none() && p.people_id.is_none() && p.unique_field_value.is_none() {
        return None;
    }
    let mut c = Contact {
        id: p
            .people_id
            .clone()
            .or_else(|| lead.and_then(|l| l.id.clone())),
        ..Contact::default()
    };
    if let Some(l) = lead {
        c.name = l.name.clone();
        push_unique(&mut c.emails, l.email.as_deref());
        push_unique(&mut c.phones, l.mobile_number.as_deref());
        let loc = Location {
            address: l.address.clone(),
            city: l.widget_city.clone(),
            state: l.widget_state.clone(),
            country: l.widget_country.clone(),
            postal_code: l.pincode.clone(),
            latitude: l.widget_latitude,
            longitude: l.widget_longitude,
            ip: l.widget_ip_address.clone(),
        };
        if loc != Location::default() {
            c.location = Some(loc);
        }
        let utm = Utm {
            source: l.utm_source.clone(),
            medium: l.utm_medium.clone(),
            campaign: l.utm_campaign.clone(),
            term: l.utm_term.clone(),
            content: l.utm_content.clone(),
        };
        if utm != Utm::default() {
            c.utm = Some(utm);
        }
        if let Some(b) = l.otp_verified {
            c.custom_fields
                .insert("otp_verified".into(), Value::Bool(b));
        }
        if let Some(s) = &l.widget_location_source {
            c.custom_fields
                .insert("widget_location_source".into(), Value::String(s.clone()));
        }
        for (k, v) in &l.extra {
            c.custom_fields.insert(k.clone(), v.clone());
        }
        // Form-dependent keys (`phone`, `full_name`…) with a common slot.
        lookup::merge_person(&mut c, &l.extra);
    }
    if let Some(u) = p.unique_field_value.as_deref() {
        if u.contains('@') {
            push_unique(&mut c.emails, Some(u));
        } else {
            push_unique(&mut c.phones, Some(u));
        }
    }
    Some(c)
}

pub(super) fn rfc3339(t: SystemTime) -> Option<String> {
    jiff::Timestamp::try_from(t).ok().map(|t| t.to_string())
}

pub(super) fn normalize_wnc(ev: &WidgetNewConversation) -> Event {
    let p = &ev.payload;
    let mut e = Event::new(
        Vendor::SaleAssist,
        EventKind::ConversationStarted,
        ev.event_type.clone(),
    );
    e.occurred_at = p.created_on.as_ref().and_then(|t| t.instant);
    e.ids = Ids {
        event: p.id.clone(),
        tenant: p.client_id.clone(),
        widget: p.source_id.clone(),
        conversation: p.session_id.clone(),
        contact: p.people_id.clone(),
        message: None,
    };
    e.contact = lookup::contact(lead_contact(p), &p.extra, Flat::Nested);
    if e.ids.contact.is_none() {
        e.ids.contact = e.contact.as_ref().and_then(|c| c.id.clone());
    }
    let channel = p.source_type.as_ref().map(SourceType::channel);
    if p.session_id.is_some() || channel.is_some() {
        e.conversation = Some(Conversation {
            id: p.session_id.clone(),
            status: None,
            channel: channel.clone(),
            assignee: p.message_to.clone(),
        });
    }
    // `message_content` is text except for `schedule_meeting` (a meeting id); a message nested
    // in the payload (`payload.message`…) counts too.
    let typed = match &p.message_type {
        Some(t @ MessageType::Other(_)) => Some(t),
        Some(MessageType::ScheduleMeeting) | None => None,
    };
    let nested = lookup::message_in(&p.extra);
    if typed.is_some() || nested.is_some() {
        let nested = nested.unwrap_or_default();
        let (id, text) = match typed {
            Some(_) => (p.id.clone(), p.message_content.clone().or(nested.text)),
            None => (nested.id.or(p.id.clone()), nested.text),
        };
        e.message = Some(Message {
            id,
            text,
            message_type: typed.map(|t| t.as_str().to_owned()),
            channel,
            direction: Some(Direction::Inbound),
            sender: p.message_from.clone(),
            attachments: Vec::new(),
            sent_at: e.occurred_at,
        });
    }
    let mut attr = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            e.attributes.insert(k.to_owned(), Value::String(v));
        }
    };
    attr(
        "message_type",
        p.message_type.as_ref().map(|t| t.as_str().to_owned()),
    );
    attr(
        "source_type",
        p.source_type.as_ref().map(|t| t.as_str().to_owned()),
    );
    attr("source_name", p.source_name.clone());
    attr("source_referrer", p.source_referrer.clone());
    attr("meeting_id", p.meeting_id.clone());
    attr("meeting_url", p.meeting_url.clone());
    if let Some(m) = p.meta.meeting() {
        attr("meeting_starts_at", m.starts_at().and_then(rfc3339));
        attr(
            "meeting_status",
            m.meeting_status.as_ref().map(|s| match s {
                MeetingStatus::Scheduled => "SCHEDULED".to_owned(),
                MeetingStatus::Started => "STARTED".to_owned(),
                MeetingStatus::Completed => "COMPLETED".to_owned(),
                MeetingStatus::Cancelled => "CANCELLED".to_owned(),
                MeetingStatus::Other(s) => s.clone(),
            }),
        );
    }
    e
}

pub(super) fn normalize_mapped(m: &MappedWebhook) -> Event {
    let mut c = Contact {
        name: m.name(),
        ..Contact::default()
    };
    push_unique(&mut c.emails, m.email().as_deref());
    push_unique(&mut c.phones, m.mobile_number().as_deref());
    c.custom_fields = m
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let c = lookup::contact(Some(c), &m.fields, Flat::Person).unwrap_or_default();
    let is_lead = c.name.is_some() || !c.emails.is_empty() || !c.phones.is_empty();
    let kind = if is_lead {
        EventKind::LeadCaptured
    } else {
        EventKind::Other(MAPPED.to_owned())
    };
    let mut e = Event::new(Vendor::SaleAssist, kind, MAPPED);
    e.ids.event = m.id();
    e.ids.contact = c.id.clone();
    e.contact = Some(c);
    e.message = lookup::message_in(&m.fields);
    e
}

impl VendorEvent for SaleAssistEvent {
    const VENDOR: Vendor = Vendor::SaleAssist;

    fn is_unknown(&self) -> bool {
        matches!(self, SaleAssistEvent::Unknown { .. })
    }

    fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        SaleAssistEvent::from_slice(body)
    }

    fn name(&self) -> &str {
        SaleAssistEvent::name(self)
    }

    fn event_id(&self) -> Option<Cow<'_, str>> {
        SaleAssistEvent::event_id(self)
    }

    fn normalize(&self) -> Event {
        SaleAssistEvent::normalize(self)
    }
}
