//! Every scheme the sender signs verifies with the verifier (same code path, checked end to end
//! over a real socket).

use std::time::Duration;

use chathooks::sender::{Endpoint, Message, Sign, Signing};
use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::Inbound;

use super::server::{Reply, Server};
use super::{clock, local, SECRET};

const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Deliver `body` through a real socket and verify what arrived with `verifier`.
async fn round_trip(signing: Signing, verifier: &dyn Verifier) {
    let server = Server::start(vec![Reply::status(200)]).await;
    let clock = clock();
    let ep = Endpoint::new(&server.url("/in"), signing).unwrap();
    let body =
        br#"{"event":"lead.captured","lead":{"name":"Zo\u00eb","phone":"+44 20 7946 0958"}}"#;
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&ep, &Message::with_id("msg_rt", &body[..]).unwrap())
        .await;
    assert!(d.is_delivered());
    let req = &server.requests()[0];
    let headers = req.header_map();
    let inbound = Inbound::new(&headers, &req.body).with_query(req.query());
    let verified = verifier
        .verify_at(&inbound, d.attempts[0].at)
        .expect("the sender's signature verifies");
    assert_eq!(verified.body(), body);
    // A minute later than the tolerance, the same delivery is stale.
    assert!(verifier
        .verify_at(&inbound, d.attempts[0].at + Duration::from_secs(301 + 60))
        .is_err());
}

#[tokio::test]
async fn standard_webhooks_v1_round_trips() {
    round_trip(
        Signing::standard(SECRET).unwrap(),
        &StandardWebhooks::new(SECRET).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn rotation_signs_with_every_secret_and_each_verifies() {
    let signer = StandardWebhooks::new(SECRET)
        .unwrap()
        .add_secret(OLD_SECRET)
        .unwrap();
    let sig = Signing::from(signer)
        .sign("msg_1", super::clock_now(), b"{}")
        .unwrap();
    let value = sig.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(value.split(' ').count(), 2);
    assert!(value.split(' ').all(|s| s.starts_with("v1,")));
    // A receiver that only knows the old secret still verifies (and so does one with the new).
    for only in [SECRET, OLD_SECRET] {
        round_trip(
            Signing::from(
                StandardWebhooks::new(SECRET)
                    .unwrap()
                    .add_secret(OLD_SECRET)
                    .unwrap(),
            ),
            &StandardWebhooks::new(only).unwrap(),
        )
        .await;
    }
}
