//! Realistic sample deliveries for every documented event of every vendor (test traffic).
//!
//! Each event has one or more templates in the vendor's documented shape (the same shapes as the
//! crate's test fixtures). [`generate`] fills a template with a different person (name, email,
//! phone), channel, message text and ids for each seed, deterministically: the same
//! `(vendor, event, seed)` always gives the same bytes.
//!
//! ```
//! use chathooks::event::Vendor;
//! use chathooks::sender::samples;
//!
//! let a = samples::generate(Vendor::Sam, "lead.captured", 7)?;
//! let b = samples::generate(Vendor::Sam, "lead.captured", 7)?;
//! assert_eq!(a.body, b.body);
//! let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
//! assert_eq!(body["event"], "lead.captured");
//! assert_eq!(body["data"]["name"], a.person.name.as_str());
//! assert!(samples::events(Vendor::Sam).contains(&"callback.requested"));
//! # Ok::<(), chathooks::Error>(())
//! ```

use serde_json::{Map, Value};

use super::retry::Rng;
use crate::event::Vendor;
use crate::Error;

struct Template {
    vendor: Vendor,
    event: &'static str,
    json: &'static str,
}

macro_rules! templates {
    ($($vendor:ident $event:literal $file:literal;)*) => {
        &[$(Template {
            vendor: Vendor::$vendor,
            event: $event,
            json: include_str!($file),
        },)*]
    };
}

const TEMPLATES: &[Template] = templates! {
    Sam "conversation.started" "sam_conversation_started.json";
    Sam "lead.captured" "sam_lead_captured.json";
    Sam "callback.requested" "sam_callback_requested.json";
    Sam "handover.requested" "sam_handover_requested.json";
    Sam "conversation.closed" "sam_conversation_closed.json";
    SaleAssist "widget_new_conversation" "saleassist_widget_new_conversation.json";
    SaleSmartly "message" "salesmartly_message_text.json";
    SaleSmartly "message" "salesmartly_message_image.json";
    SaleSmartly "message" "salesmartly_message_file.json";
    SaleSmartly "message" "salesmartly_message_button.json";
    SaleSmartly "message" "salesmartly_message_email.json";
    SaleSmartly "add_user" "salesmartly_add_user.json";
    SaleSmartly "update_user" "salesmartly_update_user.json";
    Buzzi "conversation.created" "buzzi_conversation_created.json";
    Buzzi "conversation.updated" "buzzi_conversation_updated.json";
    Buzzi "conversation.escalated" "buzzi_conversation_escalated.json";
    Buzzi "conversation.resolved" "buzzi_conversation_resolved.json";
    Buzzi "conversation.closed" "buzzi_conversation_closed.json";
    Buzzi "escalation.created" "buzzi_escalation_created.json";
    Buzzi "escalation.triggered" "buzzi_escalation_triggered.json";
    Buzzi "message.created" "buzzi_message_created.json";
    Buzzi "message.received" "buzzi_message_received.json";
    Buzzi "message.sent" "buzzi_message_sent.json";
    Buzzi "feedback.received" "buzzi_feedback_received.json";
    ConversaLabs "contact_created" "conversalabs_contact_created.json";
    ConversaLabs "contact.updated" "conversalabs_contact_updated.json";
    ConversaLabs "conversation.created" "conversalabs_conversation_created.json";
    ConversaLabs "conversation_updated" "conversalabs_conversation_updated.json";
    ConversaLabs "conversation_status_changed" "conversalabs_conversation_status_changed.json";
    ConversaLabs "Conversation.Resolved" "conversalabs_conversation_resolved.json";
    ConversaLabs "message_created" "conversalabs_message_created.json";
    ConversaLabs "deal.stage_changed" "conversalabs_deal_stage_changed.json";
    ConversaLabs "payment.confirmed" "conversalabs_payment_confirmed.json";
    ConversaLabs "PAYMENT_RECEIVED" "conversalabs_payment_received_asaas.json";
    StandardWebhooks "conversation.started" "standard_conversation_started.json";
    StandardWebhooks "lead.captured" "standard_lead_captured.json";
    StandardWebhooks "message_received" "standard_message_received.json";
};

/// The person a sample is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Person {
    /// Full name.
    pub name: String,
    /// Email address (on the reserved `example.*` domains).
    pub email: String,
    /// Phone number, formatted as people type it (`+44 20 7946 0958`).
    pub phone: String,
}

/// One generated delivery body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SampleEvent {
    /// The vendor whose shape the body has.
    pub vendor: Vendor,
    /// The vendor's event name, as in the body.
    pub event: &'static str,
    /// The JSON body.
    pub body: Vec<u8>,
    /// Who the sample is about (wherever the shape has a name, email or phone, these are used).
    pub person: Person,
}

/// Vendors with samples.
pub const VENDORS: [Vendor; 6] = [
    Vendor::Sam,
    Vendor::SaleAssist,
    Vendor::SaleSmartly,
    Vendor::Buzzi,
    Vendor::ConversaLabs,
    Vendor::StandardWebhooks,
];

/// The vendor named `name` (`"sam"`, `"saleassist"`, `"salesmartly"`, `"buzzi"`,
/// `"conversalabs"`, `"standard"` or `"standard_webhooks"`), case-insensitive.
pub fn vendor(name: &str) -> Option<Vendor> {
    let name = name.to_ascii_lowercase();
    if name == "standard" {
        return Some(Vendor::StandardWebhooks);
    }
    VENDORS.into_iter().find(|v| v.as_str() == name)
}

/// The event names with samples for `vendor`, in documentation order, without duplicates.
pub fn events(vendor: Vendor) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in TEMPLATES.iter().filter(|t| t.vendor == vendor) {
        if !out.contains(&t.event) {
            out.push(t.event);
        }
    }
    out
}

/// A sample `event` of `vendor` for `seed`. Events with several shapes (SaleSmartly's
/// `message`: text, image, file, button, email) pick one by seed.
pub fn generate(vendor: Vendor, event: &str, seed: u64) -> Result<SampleEvent, Error> {
    let candidates: Vec<&Template> = TEMPLATES
        .iter()
        .filter(|t| t.vendor == vendor && t.event.eq_ignore_ascii_case(event))
        .collect();
    let n = candidates.len() as u64;
    let template = candidates
        .get(usize::try_from(seed % n.max(1)).unwrap_or(0))
        .ok_or_else(|| Error::Config(format!("no sample for {vendor} event `{event}`").into()))?;
    let mut value: Value = serde_json::from_str(template.json)
        .map_err(|e| Error::Config(format!("sample template: {e}").into()))?;
    let mut rng = Rng::seeded(seed ^ hash(template.event.as_bytes()));
    let person = person(&mut rng);
    let mut filler = Filler {
        seed,
        person: &person,
        rng,
        depth: 0,
    };
    filler.fill(&mut value);
    let body =
        serde_json::to_vec(&value).map_err(|e| Error::Config(format!("sample: {e}").into()))?;
    Ok(SampleEvent {
        vendor,
        event: template.event,
        body,
        person,
    })
}

/// One sample of every event of every vendor for `seed` (SaleSmartly's `message` once per shape
/// across consecutive seeds).
pub fn all(seed: u64) -> Vec<SampleEvent> {
    VENDORS
        .into_iter()
        .flat_map(|v| events(v).into_iter().map(move |e| (v, e)))
        .filter_map(|(v, e)| generate(v, e, seed).ok())
        .collect()
}

const PEOPLE: &[(&str, &str, &str)] = &[
    // (name, email local part, phone)
    ("Priya Nair", "priya.nair", "+91 98200 11223"),
    ("Marcus Webb", "marcus.webb", "+1 (617) 555-0142"),
    ("Tomás Herrera", "tomas.herrera", "+52 55 1234 5678"),
    ("Ana García López", "ana.garcia", "+34 612 345 678"),
    ("Jonas Lindqvist", "jonas", "+46 70 123 45 67"),
    ("Aiko Tanaka", "aiko.tanaka", "+81 90-1234-5678"),
    ("Chinedu Okafor", "chinedu.okafor", "+234 803 123 4567"),
    ("Fatima Zahra El Idrissi", "fz.elidrissi", "+212 612-345678"),
    ("Nguyễn Thị Lan", "lan.nguyen", "+84 901 234 567"),
    ("Olga Petrova", "olga.p", "+7 912 345-67-89"),
    ("Sofia Rossi", "sofia.rossi", "+39 312 345 6789"),
    ("Liam O'Brien", "liam.obrien", "+353 85 123 4567"),
    ("Mei Chen", "mei.chen", "+65 8123 4567"),
    ("Kwame Mensah", "kwame", "+233 24 123 4567"),
    ("Isabela Souza", "isa.souza", "+55 11 91234-5678"),
    ("Ahmed Hassan", "ahmed.hassan", "+20 100 123 4567"),
    ("Zoë Dubois", "zoe.dubois", "+33 6 12 34 56 78"),
    ("Siddharth Rao", "sid.rao", "+91 99887 66554"),
];

const DOMAINS: &[&str] = &["example.com", "example.org", "example.net", "mail.example"];

const VISITOR_LINES: &[&str] = &[
    "Hi, do you take walk-ins on Saturdays?",
    "How much is shipping to Lagos?",
    "Can someone call me back about the 3-bedroom listing?",
    "¿Tienen disponibilidad para mañana por la tarde?",
    "I'd like a quote for 20 units, please.",
    "Is the trial really free? No card needed?",
    "Quero falar com um atendente, por favor.",
    "My order #4471 hasn't arrived yet.",
    "Do you ship to Singapore? 🚚",
    "Can I talk to a real person please?",
];

const WORD_CHANNELS: &[&str] = &[
    "web",
    "whatsapp",
    "instagram",
    "telegram",
    "line",
    "messenger",
];
const CHATWOOT_CHANNELS: &[&str] = &[
    "Channel::WebWidget",
    "Channel::Whatsapp",
    "Channel::Instagram",
    "Channel::Telegram",
    "Channel::Email",
];

fn person(rng: &mut Rng) -> Person {
    let (name, local, phone) = PEOPLE[pick(rng, PEOPLE.len())];
    let domain = DOMAINS[pick(rng, DOMAINS.len())];
    Person {
        name: name.to_owned(),
        email: format!("{local}@{domain}"),
        phone: phone.to_owned(),
    }
}

fn pick(rng: &mut Rng, len: usize) -> usize {
    (rng.next_u64() % len.max(1) as u64) as usize
}

/// FNV-1a, to derive stable per-value randomness (the same id maps to the same new id everywhere
/// in one sample).
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Deepest nesting the filler walks (templates are shallow; this only bounds the recursion).
const MAX_DEPTH: usize = 32;

struct Filler<'a> {
    seed: u64,
    person: &'a Person,
    rng: Rng,
    depth: usize,
}

impl Filler<'_> {
    fn fill(&mut self, value: &mut Value) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        match value {
            Value::Object(map) => self.fill_object(map),
            Value::Array(items) => items.iter_mut().for_each(|v| self.fill(v)),
            _ => {}
        }
        self.depth -= 1;
    }

    fn fill_object(&mut self, map: &mut Map<String, Value>) {
        let from_bot = map
            .get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| matches!(r, "assistant" | "agent" | "bot" | "system"));
        for (key, v) in map.iter_mut() {
            let k = key.to_ascii_lowercase();
            match v {
                Value::String(s) if is_name_key(&k) && !s.is_empty() => {
                    *s = self.person.name.clone()
                }
                Value::String(s) if k.contains("email") && s.contains('@') => {
                    *s = self.person.email.clone()
                }
                Value::String(s) if is_phone_key(&k) && s.bytes().any(|b| b.is_ascii_digit()) => {
                    *s = self.person.phone.clone()
                }
                Value::Number(_) if is_phone_key(&k) => {
                    let digits: String = self
                        .person
                        .phone
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    if let Ok(n) = digits.parse::<u64>() {
                        *v = Value::from(n);
                    }
                }
                Value::String(s) if k == "channel" => {
                    // One channel per sample, wherever the shape repeats it.
                    let i = usize::try_from(self.seed % 5).unwrap_or(0);
                    if WORD_CHANNELS.contains(&s.as_str()) {
                        *s = WORD_CHANNELS[i % WORD_CHANNELS.len()].to_owned();
                    } else if CHATWOOT_CHANNELS.contains(&s.as_str()) {
                        *s = CHATWOOT_CHANNELS[i % CHATWOOT_CHANNELS.len()].to_owned();
                    }
                }
                Value::String(s) if (k == "text" || k == "content") && !from_bot => {
                    *s = VISITOR_LINES[pick(&mut self.rng, VISITOR_LINES.len())].to_owned();
                }
                Value::String(s) if is_id_key(&k) => *s = self.vary_id(s),
                Value::Number(n) if is_id_key(&k) => {
                    if let Some(old) = n.as_u64() {
                        let new = self.vary_number(old);
                        *v = Value::from(new);
                    }
                }
                other => self.fill(other),
            }
        }
    }

    /// Replace every letter and digit after the id's prefix (`conv_`, `lead_`…) with one of the
    /// same class, consistently for equal ids.
    fn vary_id(&self, id: &str) -> String {
        let mut rng = Rng::seeded(self.seed ^ hash(id.as_bytes()));
        let keep = id.rfind('_').map_or(0, |i| i + 1);
        let (prefix, rest) = id.split_at(keep);
        let mut out = String::with_capacity(id.len());
        out.push_str(prefix);
        for c in rest.chars() {
            let r = rng.next_u64();
            out.push(match c {
                '0'..='9' => char::from(b'0' + (r % 10) as u8),
                'a'..='f' => char::from(b'a' + (r % 6) as u8),
                'g'..='z' => char::from(b'a' + (r % 26) as u8),
                'A'..='Z' => char::from(b'A' + (r % 26) as u8),
                other => other,
            });
        }
        out
    }

    fn vary_number(&self, n: u64) -> u64 {
        let digits = n.checked_ilog10().unwrap_or(0);
        let low = 10u64.saturating_pow(digits);
        let span = low.saturating_mul(9).max(1);
        low.max(1) + Rng::seeded(self.seed ^ n).next_u64() % span
    }
}

fn is_name_key(k: &str) -> bool {
    matches!(
        k,
        "name" | "full_name" | "fullname" | "customer_name" | "contact_name" | "visitor_name"
    )
}

fn is_phone_key(k: &str) -> bool {
    k.contains("phone") || k.contains("mobile")
}

fn is_id_key(k: &str) -> bool {
    k == "id" || k.ends_with("_id") || k == "identifier"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid_json_and_varies_with_the_seed() {
        for t in TEMPLATES {
            let a = generate(t.vendor, t.event, 1).unwrap();
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            assert!(v.is_object(), "{}", t.event);
            let names: std::collections::BTreeSet<_> = (0..12)
                .map(|s| generate(t.vendor, t.event, s).unwrap().body)
                .collect();
            assert!(names.len() > 1, "{} {} does not vary", t.vendor, t.event);
        }
        assert!(generate(Vendor::Sam, "nope", 0).is_err());
        assert_eq!(vendor("SAM"), Some(Vendor::Sam));
        assert_eq!(vendor("standard"), Some(Vendor::StandardWebhooks));
        assert_eq!(vendor("acme"), None);
    }
}
