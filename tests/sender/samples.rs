//! Every sample of every vendor, signed with the vendor's profile, sent over a real socket,
//! verified with the vendor's verifier and parsed back into the same typed event.

use std::collections::BTreeSet;

use chathooks::event::Vendor;
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::sender::{samples, Endpoint, Message, Signing};
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token, Verifier};
use chathooks::{Event, Inbound, Secret};

use super::server::{Reply, Server};
use super::{clock, local, SECRET};

const RAW: &str = "a-long-enough-shared-secret";

fn profile(vendor: Vendor) -> (Signing, Box<dyn Verifier>) {
    let raw = || Secret::raw(RAW).unwrap();
    let verifier: Box<dyn Verifier> = match vendor {
        Vendor::StandardWebhooks => Box::new(StandardWebhooks::new(SECRET).unwrap()),
        Vendor::Sam => Box::new(HmacSha256::sam(raw())),
        Vendor::Buzzi => Box::new(HmacSha256::buzzi(raw())),
        Vendor::ConversaLabs => Box::new(HmacSha256::conversalabs(raw())),
        Vendor::SaleSmartly => Box::new(SaleSmartly::new(RAW).unwrap()),
        Vendor::SaleAssist => {
            Box::new(Token::new(chathooks::sender::SALEASSIST_TOKEN_HEADER, RAW).unwrap())
        }
        other => panic!("no profile for {other}"),
    };
    let secret = if vendor == Vendor::StandardWebhooks {
        SECRET
    } else {
        RAW
    };
    (Signing::for_vendor(vendor, &[secret]).unwrap(), verifier)
}

/// Parse with the vendor's type: (event name, is it a known variant, normalised event).
fn parse(vendor: Vendor, body: &[u8]) -> (String, bool, Event) {
    fn go<E: VendorEvent + std::fmt::Debug>(body: &[u8]) -> (String, bool, Event) {
        let e = E::from_slice(body)
            .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(body)));
        let known = !format!("{e:?}").starts_with("Unknown");
        (e.name().to_owned(), known, e.normalize())
    }
    match vendor {
        Vendor::Sam => go::<SamEvent>(body),
        Vendor::SaleAssist => go::<SaleAssistEvent>(body),
        Vendor::SaleSmartly => go::<SaleSmartlyEvent>(body),
        Vendor::Buzzi => go::<BuzziEvent>(body),
        Vendor::ConversaLabs => go::<ConversaLabsEvent>(body),
        Vendor::StandardWebhooks => go::<StandardEvent>(body),
        other => panic!("no parser for {other}"),
    }
}

#[tokio::test]
async fn every_sample_verifies_and_parses_back_into_its_event() {
    let server = Server::start(vec![Reply::status(200)]).await;
    let clock = clock();
    let sender = local(&clock).build().unwrap();
    let mut sent = 0;
    let mut with_person = 0;
    let mut names = BTreeSet::new();
    for vendor in samples::VENDORS {
        let (signing, verifier) = profile(vendor);
        let ep = Endpoint::new(&server.url(&format!("/webhooks/{vendor}")), signing).unwrap();
        for event in samples::events(vendor) {
            for seed in 0..6 {
                let sample = samples::generate(vendor, event, seed).unwrap();
                names.insert(sample.person.name.clone());
                let d = sender
                    .deliver(&ep, &Message::new(sample.body.clone()))
                    .await;
                assert!(d.is_delivered(), "{vendor} {event}: {:?}", d.outcome);
                let req = server.requests().pop().unwrap();
                assert_eq!(req.body, sample.body);
                let headers = req.header_map();
                let inbound = Inbound::new(&headers, &req.body).with_query(req.query());
                verifier
                    .verify_at(&inbound, d.attempts[0].at)
                    .unwrap_or_else(|e| panic!("{vendor} {event} seed {seed}: {e}"));

                let (name, known, normalized) = parse(vendor, &req.body);
                assert!(
                    name.eq_ignore_ascii_case(event),
                    "{vendor}: {name} vs {event}"
                );
                assert!(known, "{vendor} {event} parsed as Unknown");
                assert_eq!(normalized.vendor, vendor);
                // Where the body carries the person's email as a value of its own, the
                // normalised contact must be there and hold it (an `if let Some` alone passed
                // when normalisation lost the contact). Names are no such sign: the generator
                // fills every `name` key, file names and a deal owner's included.
                let body = String::from_utf8_lossy(&req.body);
                let email = &sample.person.email;
                if body.contains(&format!("\"{email}\""))
                    || body.contains(&format!("\\\"{email}\\\""))
                {
                    let contact = normalized.contact.as_ref().unwrap_or_else(|| {
                        panic!("{vendor} {event}: the body holds the person's email, no contact")
                    });
                    assert!(
                        contact.emails.contains(email),
                        "{vendor} {event}: {:?}",
                        contact.emails
                    );
                    with_person += 1;
                }
                if let Some(n) = normalized.contact.as_ref().and_then(|c| c.name.as_ref()) {
                    assert_eq!(n, &sample.person.name, "{vendor} {event}");
                }
                for e in normalized.contact.iter().flat_map(|c| &c.emails) {
                    assert_eq!(e, &sample.person.email, "{vendor} {event}");
                }
                sent += 1;
            }
        }
    }
    assert_eq!(server.request_count(), sent);
    assert!(sent >= 37 * 6 - 4 * 6, "{sent}");
    assert!(
        with_person * 3 >= sent,
        "{with_person} of {sent} samples carry the person's email"
    );
    assert!(names.len() >= 5, "names do not vary: {names:?}");
}
