//! Vendor names, preset verifiers, guesses from a request, and the typed parsers.

use std::time::Duration;

use crate::event::{Event, Vendor};
use crate::platform::buzzi::BuzziEvent;
use crate::platform::conversalabs::ConversaLabsEvent;
use crate::platform::saleassist::SaleAssistEvent;
use crate::platform::salesmartly::SaleSmartlyEvent;
use crate::platform::sam::SamEvent;
use crate::platform::standard::StandardEvent;
use crate::platform::VendorEvent;
use crate::sender::Signing;
use crate::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token, Verifier};
use crate::{ParseError, Secret};

use super::capture::Capture;

/// Vendors with a preset verifier, as the CLI names them.
pub const VERIFY_VENDORS: [&str; 9] = [
    "sam",
    "saleassist",
    "salesmartly",
    "buzzi",
    "conversalabs",
    "standard",
    "github",
    "slack",
    "stripe",
];

/// Vendors with a typed parser (and samples for `send`).
pub const PARSE_VENDORS: [&str; 6] = [
    "sam",
    "saleassist",
    "salesmartly",
    "buzzi",
    "conversalabs",
    "standard",
];

/// Vendors with a preset verifier and signer (the `HmacSha256` presets) but no typed parser and
/// no sample events: `replay --resign` signs for them, `send` has nothing to send.
pub const SIGN_ONLY_VENDORS: [&str; 3] = ["github", "slack", "stripe"];

/// Header SaleAssist's token travels in unless told otherwise (what `send` uses).
pub const SALEASSIST_HEADER: &str = "X-SaleAssist-Token";

/// The canonical CLI name (`standard_webhooks` and `svix` are accepted for `standard`).
pub fn canonical(name: &str) -> Result<&'static str, String> {
    let lower = name.to_ascii_lowercase();
    let lower = match lower.as_str() {
        "standard_webhooks" | "standard-webhooks" | "standardwebhooks" | "svix" => "standard",
        other => other,
    };
    VERIFY_VENDORS
        .iter()
        .find(|v| **v == lower)
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown vendor `{name}` (known: {})",
                VERIFY_VENDORS.join(", ")
            )
        })
}

/// The crate's `Vendor` for a parse vendor name.
pub fn platform(name: &str) -> Result<Vendor, String> {
    let c = canonical(name)?;
    Ok(match c {
        "sam" => Vendor::Sam,
        "saleassist" => Vendor::SaleAssist,
        "salesmartly" => Vendor::SaleSmartly,
        "buzzi" => Vendor::Buzzi,
        "conversalabs" => Vendor::ConversaLabs,
        "standard" => Vendor::StandardWebhooks,
        other => {
            return Err(format!(
                "`{other}` has a verifier but no event parser (parsers: {})",
                PARSE_VENDORS.join(", ")
            ))
        }
    })
}

/// How `vendor` signs with `secrets`, for `replay --resign`: its preset signer, which is the
/// preset verifier's own signing code. Without secrets, the receiver example's demo secret of
/// the vendor; GitHub, Slack and Stripe have none, so they need one.
pub fn signing(vendor: &str, secrets: &[String]) -> Result<Signing, String> {
    let vendor = canonical(vendor)?;
    let e = |e: crate::Error| format!("--secret: {e}");
    if SIGN_ONLY_VENDORS.contains(&vendor) {
        let (first, rest) = secrets.split_first().ok_or_else(|| {
            format!("re-signing as {vendor} needs --secret: there is no demo secret for {vendor}")
        })?;
        return Ok(Signing::hmac(hmac_with_secrets(vendor, first, rest)?));
    }
    let platform = platform(vendor)?;
    let mut secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    if secrets.is_empty() {
        secrets.push(super::send::demo_secret(platform));
    }
    Signing::for_vendor(platform, &secrets).map_err(e)
}

/// The CLI name of a crate `Vendor`.
pub fn cli_name(v: Vendor) -> &'static str {
    match v {
        Vendor::StandardWebhooks => "standard",
        other => other.as_str(),
    }
}

/// Settings beyond the secret.
#[derive(Debug, Clone, Default)]
pub struct PresetOptions {
    /// SaleAssist's token header.
    pub token_header: Option<String>,
    /// Tolerance override.
    pub tolerance: Option<Duration>,
}

/// The preset verifier of `vendor` over `secrets` (rotation: any may match).
pub fn verifier(
    vendor: &str,
    secrets: &[String],
    opts: &PresetOptions,
) -> Result<Box<dyn Verifier>, String> {
    let vendor = canonical(vendor)?;
    let (first, rest) = secrets
        .split_first()
        .ok_or_else(|| format!("--secret is required for {vendor}"))?;
    let e = |e: crate::Error| format!("--secret: {e}");
    let tol = opts.tolerance;
    Ok(match vendor {
        "standard" => {
            let mut v = StandardWebhooks::new(first).map_err(e)?;
            for s in rest {
                v = v.add_secret(s).map_err(e)?;
            }
            if let Some(t) = tol {
                v = v.tolerance(t);
            }
            Box::new(v)
        }
        "saleassist" => {
            let header = opts
                .token_header
                .clone()
                .unwrap_or_else(|| SALEASSIST_HEADER.into());
            // Checked here so that a bad name is blamed on the flag that gave it.
            http::HeaderName::try_from(header.as_str())
                .map_err(|err| format!("--token-header `{header}`: {err}"))?;
            let mut v = Token::new(header, first).map_err(e)?;
            for s in rest {
                v = v.add_value(s).map_err(e)?;
            }
            Box::new(v)
        }
        "salesmartly" => {
            let mut v = SaleSmartly::new(first).map_err(e)?;
            for s in rest {
                v = v.add_secret(Secret::raw(s).map_err(e)?);
            }
            if let Some(t) = tol {
                v = v.tolerance(t);
            }
            Box::new(v)
        }
        hmac => {
            let mut v = hmac_with_secrets(hmac, first, rest)?;
            if let Some(t) = tol {
                v = v.tolerance(t);
            }
            Box::new(v)
        }
    })
}

/// The HMAC preset of `vendor` (one of the HMAC vendors) keyed with `first`, then `rest` for
/// rotation: what both verifying and re-signing build.
fn hmac_with_secrets(vendor: &str, first: &str, rest: &[String]) -> Result<HmacSha256, String> {
    let e = |e: crate::Error| format!("--secret: {e}");
    let preset = match vendor {
        "sam" => HmacSha256::sam,
        "buzzi" => HmacSha256::buzzi,
        "conversalabs" => HmacSha256::conversalabs,
        "github" => HmacSha256::github,
        "slack" => HmacSha256::slack,
        _ => HmacSha256::stripe,
    };
    let mut v = preset(Secret::raw(first).map_err(e)?);
    for s in rest {
        v = v.add_secret(Secret::raw(s).map_err(e)?);
    }
    Ok(v)
}

/// Guess the vendor of a request from its headers, query and path.
pub fn guess(c: &Capture) -> Option<&'static str> {
    let has = |h: &str| c.header(h).is_some();
    let by_header = if has("webhook-signature") || has("svix-signature") {
        Some("standard")
    } else if has("x-sam-signature") {
        Some("sam")
    } else if has("x-chatwoot-signature") {
        Some("conversalabs")
    } else if has("x-webhook-signature") {
        Some("buzzi")
    } else if has("x-saleassist-token") {
        Some("saleassist")
    } else if has("stripe-signature") {
        Some("stripe")
    } else if has("x-hub-signature-256") {
        Some("github")
    } else if has("x-slack-signature") {
        Some("slack")
    } else if c.query.as_deref().is_some_and(|q| q.contains("signature=")) {
        Some("salesmartly")
    } else {
        None
    };
    by_header.or_else(|| {
        c.path
            .split('/')
            .filter(|s| !s.is_empty())
            .find_map(|seg| canonical(seg).ok())
    })
}

/// A parsed event, type-erased for printing.
#[derive(Debug)]
pub struct Parsed {
    /// The event name as sent.
    pub name: String,
    /// The vendor's own event id.
    pub event_id: Option<String>,
    /// `{:#?}` of the typed event.
    pub typed: String,
    /// The normalised event.
    pub normalized: Event,
}

fn erase<E: VendorEvent + std::fmt::Debug>(body: &[u8]) -> Result<Parsed, ParseError> {
    let e = E::from_slice(body)?;
    Ok(Parsed {
        name: e.name().to_owned(),
        event_id: e.event_id().map(|c| c.into_owned()),
        typed: format!("{e:#?}"),
        normalized: e.normalize(),
    })
}

/// Parse `body` as `vendor`'s typed event.
pub fn parse(vendor: Vendor, body: &[u8]) -> Result<Parsed, ParseError> {
    match vendor {
        Vendor::Sam => erase::<SamEvent>(body),
        Vendor::SaleAssist => erase::<SaleAssistEvent>(body),
        Vendor::SaleSmartly => erase::<SaleSmartlyEvent>(body),
        Vendor::Buzzi => erase::<BuzziEvent>(body),
        Vendor::ConversaLabs => erase::<ConversaLabsEvent>(body),
        _ => erase::<StandardEvent>(body),
    }
}

/// One short line about a normalised event: kind, who, what.
pub fn summarize(e: &Event) -> String {
    let mut parts = vec![format!("{:?}", e.kind)];
    if let Some(c) = &e.contact {
        let mut who = c.name.clone().unwrap_or_default();
        if let Some(mail) = c.emails.first() {
            if who.is_empty() {
                who = mail.clone();
            } else {
                who = format!("{who} <{mail}>");
            }
        } else if let Some(p) = c.phones.first() {
            who = if who.is_empty() {
                p.clone()
            } else {
                format!("{who} {p}")
            };
        }
        if !who.is_empty() {
            parts.push(who);
        }
    }
    if let Some(text) = e.message.as_ref().and_then(|m| m.text.as_deref()) {
        let mut t: String = text.chars().take(40).collect();
        if t.len() < text.len() {
            t.push('…');
        }
        parts.push(format!("{t:?}"));
    }
    parts.join(" · ")
}
