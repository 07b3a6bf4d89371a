//! The one-pass parse: the body read once, straight into the typed envelope.
//!
//! The members pass ([`ConversaLabsEvent::from_members_pass`]) first reads every top-level
//! member as a raw slice and then parses each slice again, because the layout (enveloped or
//! flat) is only certain once every key has been seen. This pass bets on the layout instead,
//! by a byte search for `"data"` before it starts: without one the layout is flat (Chatwoot),
//! and a member that is not an envelope key is read straight into the record; with one, such a
//! member is the envelope's (`extra`). Where the bet loses — the `"data"` found was nested, or a
//! top-level `data` was written with escapes — the pass declines and the members pass reads the
//! body instead. Envelope keys are read as slices and parsed when the layout is known, so they
//! cost twice only in the flat layout, where the record reads them too; where no `"data"` is
//! in the body at all, the members the record reads as the envelope does (`id`, `created_at`,
//! `account`, `inbox`) go into the record at once and the envelope takes the record's values.

use super::*;

/// What the one pass says when its layout bet lost or the event name changed after it chose the
/// type; never returned to callers (the members pass runs instead).
pub(super) const DECLINED: &str = "conversalabs one pass declined";

/// What [`OnePass`] found.
pub(super) enum Found {
    /// A known event.
    Known(ConversaLabsEvent),
    /// An unknown event and its name (`None`: no name key held a string).
    Unknown(Option<String>),
}

/// Reads members until the event name turns up (earlier ones kept as raw slices), then the rest
/// straight into the envelope the name selects.
pub(super) struct OnePass {
    /// The layout bet: `true` when the body holds a `"data"` key somewhere (a byte search), so
    /// members before `data` are the envelope's; `false` when it holds none (the flat layout
    /// for sure, unless the key was written with escapes).
    pub(super) enveloped: bool,
}

impl<'de> Visitor<'de> for OnePass {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        use serde::de::Error as _;
        use ConversaLabsEvent as C;
        // Members before the name; the name's own member apart (it is usually the first, and
        // then nothing is buffered).
        let mut early: Vec<(de::Key<'de>, &'de RawValue)> = Vec::new();
        let (rank, name, named) = loop {
            let Some(key) = map.next_key::<de::Key<'de>>()? else {
                return Ok(Found::Unknown(None));
            };
            let raw = map.next_value::<&'de RawValue>()?;
            if let Some(rank) = NAME_KEYS.iter().position(|k| *k == key.as_str()) {
                if let Some(name) = member::<Option<String>>(raw).map_err(A::Error::custom)? {
                    break (rank, name, (key, raw));
                }
            }
            early.push((key, raw));
        };
        macro_rules! known {
            ($variant:ident) => {{
                C::$variant(envelope(early, named, map, name, rank, self.enveloped)?)
            }};
        }
        let which = which(&name);
        Ok(Found::Known(match which {
            Some(Which::ConvCreated) => known!(ConversationCreated),
            Some(Which::ConvUpdated) => known!(ConversationUpdated),
            Some(Which::ConvResolved) => known!(ConversationResolved),
            Some(Which::MsgCreated) => known!(MessageCreated),
            Some(Which::MsgUpdated) => known!(MessageUpdated),
            Some(Which::ContactCreated) => known!(ContactCreated),
            Some(Which::ContactUpdated) => known!(ContactUpdated),
            Some(Which::Payment) => known!(PaymentConfirmed),
            Some(Which::Deal) => known!(DealStageChanged),
            None => {
                // Unknown events read no envelope; only a higher-ranked name key can still
                // change the name (and with it, perhaps, the type).
                while let Some(key) = map.next_key::<de::Key<'de>>()? {
                    let outranks = NAME_KEYS[..rank].contains(&key.as_str());
                    if outranks && map.next_value::<Option<String>>()?.is_some() {
                        return Err(A::Error::custom(DECLINED));
                    } else if !outranks {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                return Ok(Found::Unknown(Some(name)));
            }
        }))
    }
}

/// Reads the envelope field `bit` names, as the derived `Head` reads it.
struct HeadSeed<'a> {
    head: &'a mut Head,
    bit: u32,
}

impl<'de> DeserializeSeed<'de> for HeadSeed<'_> {
    type Value = ();
    fn deserialize<De: Deserializer<'de>>(self, d: De) -> Result<(), De::Error> {
        let head = self.head;
        match self.bit {
            0 => head.event = Deserialize::deserialize(d)?,
            1 => head.event_type = Deserialize::deserialize(d)?,
            2 => head.kind = Deserialize::deserialize(d)?,
            3 => head.event_id = StrNum::deserialize(d)?.0,
            4 => head.delivery_id = StrNum::deserialize(d)?.0,
            5 => head.id = StrNum::deserialize(d)?.0,
            6 => head.timestamp = Ts::deserialize(d)?.0,
            7 => head.occurred_at = Ts::deserialize(d)?.0,
            8 => head.created_at = Ts::deserialize(d)?.0,
            9 => head.account_id = StrNum::deserialize(d)?.0,
            10 => head.inbox_id = StrNum::deserialize(d)?.0,
            11 => head.account = Deserialize::deserialize(d)?,
            12 => head.inbox = Deserialize::deserialize(d)?,
            _ => unreachable!("`data` is read apart"),
        }
        Ok(())
    }
}

/// Set the envelope field `bit` names from its raw value.
pub(super) fn read_head(
    head: &mut Head,
    bit: u32,
    raw: &RawValue,
) -> Result<(), serde_json::Error> {
    HeadSeed { head, bit }.deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
}

/// What the one pass takes from a flat record instead of parsing an envelope member a second
/// time: the record reads `id` (and, for some, `created_at`) with the envelope's own readers,
/// and keeps `account` and `inbox` untyped, as the envelope does.
pub(super) trait FlatRecord:
    DeserializeOwned + Default + ReadField + de::RecordSlot<Record = Self>
{
    /// `id`, read as the envelope reads it.
    fn id(&self) -> Option<&String>;
    /// `Some` when the record reads `created_at` as the envelope does; its value then.
    fn created_at(&self) -> Option<Option<&Timestamp>>;
    /// The members the record keeps untyped.
    fn extra(&self) -> &Map<String, Value>;
}

macro_rules! flat_record {
    ($($ty:ty => $($created_at:ident)?;)*) => {$(
        impl FlatRecord for $ty {
            fn id(&self) -> Option<&String> {
                self.id.as_ref()
            }
            fn created_at(&self) -> Option<Option<&Timestamp>> {
                flat_record!(@created_at self $($created_at)?)
            }
            fn extra(&self) -> &Map<String, Value> {
                &self.extra
            }
        }
    )*};
    (@created_at $self:ident created_at) => { Some($self.created_at.as_ref()) };
    (@created_at $self:ident) => { None };
}

// Which records read `created_at` (with `Ts`, as the envelope does).
flat_record! {
    ConversaLabsConversation => created_at;
    ConversaLabsMessage => created_at;
    ConversaLabsContact => ;
    ConversaLabsPayment => ;
    ConversaLabsDeal => ;
}

/// Reads one member's value into the record, as the record's own map visitor would.
struct FieldSeed<'a, 'k, D> {
    data: &'a mut D,
    key: de::Key<'k>,
}

impl<'de, D: ReadField> DeserializeSeed<'de> for FieldSeed<'_, '_, D> {
    type Value = ();
    fn deserialize<De: Deserializer<'de>>(self, d: De) -> Result<(), De::Error> {
        self.data.read_field(self.key, d)
    }
}

/// Where a member's value comes from: a slice read before the name was known, or the map.
enum Source<'de> {
    Raw(&'de RawValue),
    Map,
}

/// The rest of the envelope, after `early` (the members before the name) and `named` (the
/// name's own member, from `NAME_KEYS[rank]`; apart, so that a body whose first member is the
/// name buffers nothing).
fn envelope<'de, D, A>(
    early: Vec<(de::Key<'de>, &'de RawValue)>,
    named: (de::Key<'de>, &'de RawValue),
    map: A,
    name: String,
    rank: usize,
    enveloped: bool,
) -> Result<Box<ConversaLabsEnvelope<D>>, A::Error>
where
    D: FlatRecord,
    A: MapAccess<'de>,
{
    use serde::de::Error as _;
    // A name from `event_type` or `type` may still be overridden by a later `event`, and then
    // the reference reads another type, or none: what failed here says nothing about the body.
    envelope_of(early, named, map, name, rank, enveloped).map_err(|e| match rank {
        0 => e,
        _ => A::Error::custom(DECLINED),
    })
}

fn envelope_of<'de, D, A>(
    early: Vec<(de::Key<'de>, &'de RawValue)>,
    named: (de::Key<'de>, &'de RawValue),
    mut map: A,
    name: String,
    rank: usize,
    enveloped: bool,
) -> Result<Box<ConversaLabsEnvelope<D>>, A::Error>
where
    D: FlatRecord,
    A: MapAccess<'de>,
{
    use serde::de::Error as _;
    let mut head = Head::default();
    // A name read from `event` (rank 0, bit 0) is the envelope's `event` as `read_head` would
    // read it again: it moves in instead (a second parse and copy of the name), and no later
    // key can outrank it. A name from a lower-ranked key is checked against the envelope's at
    // the end.
    let event_read = rank == 0;
    let check = if event_read {
        head.event = Some(name);
        None
    } else {
        Some(name)
    };
    let read_head = |head: &mut Head, bit: u32, raw: &RawValue| match bit {
        0 if event_read => Ok(()),
        _ => read_head(head, bit, raw),
    };
    // The record stays on the stack until the end and is boxed last. Filling it inside its
    // box instead saved that one copy but cost more: the box of a message is a few kilobytes,
    // a "large" request for glibc's malloc, which then consolidates the small chunks the
    // previous event's drop left in its fast bins; made before the parse's small allocations
    // it found them all there (`malloc_consolidate` 1.8 % -> 4.8 % of samples).
    let mut data = D::default();
    let mut seen = 0u32;
    // Envelope members (by bit: each comes once) read before the layout was known: for the
    // envelope and, if the layout is flat, the record.
    let mut heads: [Option<(de::Key<'de>, &'de RawValue)>; DATA_BIT as usize] = Default::default();
    // A member went into `data` as the flat layout reads it: a `data` key now loses the bet.
    let mut bet_flat = false;
    // Envelope members (by bit) read straight into the record, the layout being flat for sure:
    // the envelope takes the record's value at the end.
    let mut in_record = 0u32;
    let mut early = early.into_iter().chain(std::iter::once(named));
    loop {
        let (key, source) = match early.next() {
            Some((key, raw)) => (key, Source::Raw(raw)),
            None => match map.next_key::<de::Key<'de>>()? {
                Some(key) => (key, Source::Map),
                None => break,
            },
        };
        match head_bit(key.as_str()) {
            Some(bit) => {
                if seen & (1 << bit) != 0 {
                    // The derived `Head` rejects it; with a name from a lower-ranked key the
                    // reference may not read the envelope at all (see `envelope`).
                    return Err(A::Error::custom("duplicate head key"));
                }
                seen |= 1 << bit;
                if bit == DATA_BIT && bet_flat {
                    return Err(A::Error::custom(DECLINED));
                }
                let raw = match source {
                    Source::Raw(raw) => raw,
                    Source::Map if bit == DATA_BIT => {
                        head.data = true;
                        map.next_value_seed(de::InPlace(&mut data))?;
                        continue;
                    }
                    // Enveloped for sure: the member is the envelope's alone.
                    Source::Map if head.data => {
                        map.next_value_seed(HeadSeed {
                            head: &mut head,
                            bit,
                        })?;
                        continue;
                    }
                    // No `"data"` anywhere in the body, so the layout is flat: a member the
                    // record reads as the envelope does goes into the record at once, not
                    // through a slice read twice (`id`, `created_at`, `account`, `inbox`).
                    Source::Map if !enveloped && reads_as_head(bit, &data) => {
                        bet_flat = true;
                        in_record |= 1 << bit;
                        map.next_value_seed(FieldSeed {
                            data: &mut data,
                            key,
                        })?;
                        continue;
                    }
                    Source::Map => map.next_value::<&'de RawValue>()?,
                };
                if bit == DATA_BIT {
                    head.data = true;
                    de::InPlace(&mut data)
                        .deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
                        .map_err(A::Error::custom)?;
                } else if head.data {
                    read_head(&mut head, bit, raw).map_err(A::Error::custom)?;
                } else {
                    heads[bit as usize] = Some((key, raw));
                }
            }
            None if head.data || enveloped => {
                let value = match source {
                    Source::Raw(raw) => member::<Value>(raw).map_err(A::Error::custom)?,
                    Source::Map => map.next_value::<Value>()?,
                };
                head.extra.insert(key.into_string(), value);
            }
            None => {
                bet_flat = true;
                match source {
                    Source::Raw(raw) => data
                        .read_field(key, &mut serde_json::Deserializer::from_str(raw.get()))
                        .map_err(A::Error::custom)?,
                    Source::Map => map.next_value_seed(FieldSeed {
                        data: &mut data,
                        key,
                    })?,
                }
            }
        }
    }
    if enveloped && !head.data {
        // The bet lost: the `"data"` found was not a top-level key, and the members read into
        // `extra` belong to the record.
        return Err(A::Error::custom(DECLINED));
    }
    // `account.id` / `inbox.id` of the flat layout, where the record holds those objects.
    let mut refs = (None, None);
    if head.data {
        // Enveloped: members read before `data` turned up are the envelope's alone.
        for (bit, slot) in (0u32..).zip(heads) {
            if let Some((_, raw)) = slot {
                read_head(&mut head, bit, raw).map_err(A::Error::custom)?;
            }
        }
    } else {
        // Flat: the record is the top level, envelope keys included. Where the record reads a
        // member as the envelope does, the envelope takes the record's value.
        for (bit, slot) in (0u32..).zip(&mut heads) {
            if let Some((key, raw)) = slot.take() {
                data.read_field(key, &mut serde_json::Deserializer::from_str(raw.get()))
                    .map_err(A::Error::custom)?;
                if !take_from_record(bit, &data, &mut head, &mut refs) {
                    read_head(&mut head, bit, raw).map_err(A::Error::custom)?;
                }
            }
        }
        for bit in (0..DATA_BIT).filter(|bit| in_record & (1 << bit) != 0) {
            take_from_record(bit, &data, &mut head, &mut refs);
        }
    }
    let mut env = ConversaLabsEnvelope::assemble(head, data);
    env.account_id = env.account_id.take().or(refs.0);
    env.inbox_id = env.inbox_id.take().or(refs.1);
    if check.is_some_and(|name| env.event != name) {
        // A higher-ranked name key came after the one that chose the type.
        return Err(A::Error::custom(DECLINED));
    }
    Ok(env)
}

/// `true` for the envelope member `bit` names where `data` (a flat record) reads it as the
/// envelope does (`id`; `created_at` where the record reads it with `Ts`; `account` and `inbox`,
/// kept untyped), so [`take_from_record`] can give the envelope its value.
fn reads_as_head<D: FlatRecord>(bit: u32, data: &D) -> bool {
    matches!(bit, 5 | 11 | 12) || (bit == 8 && data.created_at().is_some())
}

/// In the flat layout, set the envelope member `bit` names from the record that read it
/// (`account.id`/`inbox.id` into `refs`); `false` where [`reads_as_head`] says the record does
/// not read it as the envelope does, and the envelope reads it itself.
fn take_from_record<D: FlatRecord>(
    bit: u32,
    data: &D,
    head: &mut Head,
    refs: &mut (Option<String>, Option<String>),
) -> bool {
    if !reads_as_head(bit, data) {
        return false;
    }
    match bit {
        5 => head.id = data.id().cloned(),
        8 => head.created_at = data.created_at().flatten().cloned(),
        11 => refs.0 = data.extra().get("account").and_then(ref_id),
        _ => refs.1 = data.extra().get("inbox").and_then(ref_id),
    }
    true
}

impl ConversaLabsEvent {
    /// The one pass alone: `Ok(None)` for an unknown event without a name (the caller keeps the
    /// body); an error that is [`DECLINED`] asks for the members pass.
    pub(super) fn from_one_pass(body: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        // The searcher is built once, not on every call.
        static DATA_KEY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"data\""));
        let enveloped = DATA_KEY.find(body).is_some();
        let found = crate::platform::with_json!(body, |json| {
            let found = serde::Deserializer::deserialize_map(&mut json, OnePass { enveloped })?;
            json.end()?;
            found
        });
        Ok(match found {
            Found::Known(event) => Some(event),
            Found::Unknown(Some(name)) => Some(ConversaLabsEvent::Unknown {
                name,
                raw: serde_json::from_slice(body)?,
            }),
            Found::Unknown(None) => None,
        })
    }
}

/// `true` for the error by which the one pass declines a body.
pub(super) fn declined(e: &serde_json::Error) -> bool {
    e.to_string().starts_with(DECLINED)
}
