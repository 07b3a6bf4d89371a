//! Top-level parse: the capture wrapper, `event_type` dispatch and the typed payload.

use super::*;

// ---- top-level parse --------------------------------------------------------------------

pub(super) enum PayloadSlot {
    Typed(Box<Payload>),
    Raw(Box<RawValue>),
}

/// The top-level object in one pass: `payload` is parsed typed right away when
/// `event_type: "widget_new_conversation"` came first (the common order); every other member
/// is kept raw until the shape is known.
pub(super) struct Top {
    event_type: Option<String>,
    payload: Option<PayloadSlot>,
    others: Vec<(String, Box<RawValue>)>,
}

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
                let mut top = Top {
                    event_type: None,
                    payload: None,
                    others: Vec::new(),
                };
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "event_type" => top.event_type = map.next_value::<StrNum>()?.0,
                        "payload" if top.event_type.as_deref() == Some(WIDGET_NEW_CONVERSATION) => {
                            let p = map.next_value::<Payload>()?;
                            top.payload = Some(PayloadSlot::Typed(Box::new(p)));
                        }
                        "payload" => {
                            top.payload = Some(PayloadSlot::Raw(map.next_value()?));
                        }
                        _ => {
                            let v = map.next_value::<Box<RawValue>>()?;
                            top.others.push((key.into_string(), v));
                        }
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V)
    }
}

impl Top {
    pub(super) fn take(&mut self, key: &str) -> Option<Box<RawValue>> {
        let i = self.others.iter().position(|(k, _)| k == key)?;
        Some(self.others.remove(i).1)
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.others.iter().any(|(k, _)| k == key)
    }
}

pub(super) fn with_prefix(prefix: &str, mut e: ParseError) -> ParseError {
    e.path = if e.path == "." || e.path.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{}", e.path)
    };
    e
}

pub(super) fn raw_of(body: &[u8]) -> Result<Box<RawValue>, ParseError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ParseError::new(".", format!("body is not UTF-8: {e}")))?;
    RawValue::from_string(text.to_owned()).map_err(ParseError::from)
}

impl SaleAssistEvent {
    /// Parse a verified SaleAssist body (see the module docs for what is tolerated and
    /// unwrapped). Errors name the JSON path of the bad field.
    pub fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        Self::parse(body, true)
    }

    pub(super) fn parse(body: &[u8], may_unwrap: bool) -> Result<Self, ParseError> {
        let mut top: Top = from_json(body)?;
        let has_capture = top.has("headers") || top.has("queryString");

        if top.event_type.is_none() && top.payload.is_none() && has_capture && may_unwrap {
            let candidates: Vec<usize> = top
                .others
                .iter()
                .enumerate()
                .filter(|(_, (k, v))| {
                    k != "headers" && k != "queryString" && v.get().starts_with('{')
                })
                .map(|(i, _)| i)
                .collect();
            if let [only] = candidates[..] {
                let (key, inner) = top.others.remove(only);
                let mut event =
                    Self::parse(inner.get().as_bytes(), false).map_err(|e| with_prefix(&key, e))?;
                let capture = CaptureWrapper {
                    key: Some(key),
                    headers: top.take("headers"),
                    query_string: top.take("queryString"),
                };
                match &mut event {
                    SaleAssistEvent::WidgetNewConversation(ev) => ev.capture = Some(capture),
                    SaleAssistEvent::Mapped(m) => m.capture = Some(capture),
                    SaleAssistEvent::Unknown { .. } => {}
                }
                return Ok(event);
            }
        }

        let Some(event_type) = top.event_type.take() else {
            return Self::mapped(body, top);
        };
        if event_type != WIDGET_NEW_CONVERSATION {
            return Ok(SaleAssistEvent::Unknown {
                name: event_type,
                raw: raw_of(body)?,
            });
        }
        let payload = match top.payload.take() {
            Some(PayloadSlot::Typed(p)) => *p,
            Some(PayloadSlot::Raw(raw)) => {
                from_json(raw.get().as_bytes()).map_err(|e| with_prefix("payload", e))?
            }
            None => return Err(ParseError::new("payload", "missing field `payload`")),
        };
        let metadata = match top.take("metadata") {
            Some(raw) => Some(
                serde_json::from_str::<Value>(raw.get())
                    .map_err(|e| with_prefix("metadata", e.into()))?,
            ),
            None => None,
        };
        let capture = has_capture.then(|| CaptureWrapper {
            key: None,
            headers: top.take("headers"),
            query_string: top.take("queryString"),
        });
        Ok(SaleAssistEvent::WidgetNewConversation(Box::new(
            WidgetNewConversation {
                event_type,
                payload,
                metadata,
                capture,
            },
        )))
    }

    pub(super) fn mapped(body: &[u8], top: Top) -> Result<Self, ParseError> {
        let mut fields = Map::new();
        if let Some(PayloadSlot::Raw(raw)) = top.payload {
            let v =
                serde_json::from_str(raw.get()).map_err(|e| with_prefix("payload", e.into()))?;
            fields.insert("payload".to_owned(), v);
        }
        for (k, raw) in top.others {
            let v = serde_json::from_str(raw.get()).map_err(|e| with_prefix(&k, e.into()))?;
            fields.insert(k, v);
        }
        Ok(SaleAssistEvent::Mapped(Box::new(MappedWebhook {
            fields,
            raw: raw_of(body)?,
            capture: None,
        })))
    }

    /// The event name: `event_type` as sent, or [`MAPPED`] for mapped webhooks.
    pub fn name(&self) -> &str {
        match self {
            SaleAssistEvent::WidgetNewConversation(ev) => &ev.event_type,
            SaleAssistEvent::Mapped(_) => MAPPED,
            SaleAssistEvent::Unknown { name, .. } => name,
        }
    }

    /// `payload.id`, the record id (for unknown events too, when the body has one; for mapped
    /// webhooks `id` or `payload.id` when the mapping includes it).
    pub fn event_id(&self) -> Option<Cow<'_, str>> {
        match self {
            SaleAssistEvent::WidgetNewConversation(ev) => {
                ev.payload.id.as_deref().map(Cow::Borrowed)
            }
            SaleAssistEvent::Mapped(m) => m.id().map(Cow::Owned),
            SaleAssistEvent::Unknown { raw, .. } => {
                #[derive(Deserialize)]
                struct P {
                    #[serde(default, deserialize_with = "lde::string_or_number")]
                    id: Option<String>,
                }
                #[derive(Deserialize)]
                struct B {
                    payload: Option<P>,
                }
                let b: B = serde_json::from_str(raw.get()).ok()?;
                b.payload?.id.map(Cow::Owned)
            }
        }
    }

    /// Convert into the cross-vendor [`Event`], consuming the typed event (see
    /// [`VendorEvent::into_event`]): the same event as
    /// [`normalize`](Self::normalize).
    pub fn into_event(self) -> Event {
        <Self as crate::platform::VendorEvent>::into_event(self)
    }

    /// Convert into the cross-vendor [`Event`].
    ///
    /// - `widget_new_conversation` → [`EventKind::ConversationStarted`] (the event's own name;
    ///   the lead it carries lands in [`Event::contact`], so lead-capture consumers read it
    ///   from there). Ids: event = `payload.id`, tenant = `client_id`, widget = `source_id`,
    ///   conversation = `session_id`, contact = `people_id`. Contact: `name`; phones =
    ///   `mobile_number` then `unique_field_value` when different (an `@` value goes to
    ///   emails); location from `address`, `pincode`, `widget_city/state/country`,
    ///   `widget_latitude/longitude`, `widget_ip_address`; UTM from `utm_*`; custom fields =
    ///   `otp_verified`, `widget_location_source` and every other lead field. Conversation:
    ///   `session_id`, channel from `source_type`, assignee = `message_to`. A message is
    ///   produced only for message types other than `schedule_meeting` (whose content is a
    ///   meeting id, not text). Occurred at = `created_on`. Attributes: `message_type`,
    ///   `source_type`, `source_name`, `source_referrer`, `meeting_id`, `meeting_url`,
    ///   `meeting_starts_at` (RFC 3339), `meeting_status`.
    /// - mapped → [`EventKind::LeadCaptured`] when the mapping has a name, email or phone,
    ///   otherwise `Other("mapped")`; every field goes to the contact's custom fields.
    /// - unknown → `Other(name)`.
    pub fn normalize(&self) -> Event {
        match self {
            SaleAssistEvent::WidgetNewConversation(ev) => normalize_wnc(ev),
            SaleAssistEvent::Mapped(m) => normalize_mapped(m),
            SaleAssistEvent::Unknown { name, .. } => {
                let mut e = Event::new(Vendor::SaleAssist, EventKind::Other(name.clone()), name);
                e.ids.event = self.event_id().map(Cow::into_owned);
                e
            }
        }
    }
}
