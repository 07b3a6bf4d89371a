//! Every scheme the sender signs verifies with the verifier (same code path, checked end to end
//! over a real socket).

use std::time::Duration;

use chathooks::sender::{Endpoint, Message, Sign, Signing};
use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::Inbound;

use super::server::{Reply, Server};
use super::{clock, local, SECRET};

const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const BODY: &[u8] =
    br#"{"event":"lead.captured","lead":{"name":"Zo\u00eb","phone":"+44 20 7946 0958"}}"#;

/// Deliver a body through a real socket and verify what arrived with `verifier`.
async fn round_trip(signing: Signing, verifier: &dyn Verifier) {
    round_trip_with(signing, verifier, BODY, true).await
}

/// Same, for schemes without a signed timestamp (no staleness check).
async fn round_trip_untimed(signing: Signing, verifier: &dyn Verifier) {
    round_trip_with(signing, verifier, BODY, false).await
}

async fn round_trip_with(signing: Signing, verifier: &dyn Verifier, body: &[u8], timed: bool) {
    let server = Server::start(vec![Reply::status(200)]).await;
    let clock = clock();
    let ep = Endpoint::new(&server.url("/in"), signing).unwrap();
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&ep, &Message::with_id("msg_rt", body.to_vec()).unwrap())
        .await;
    assert!(d.is_delivered(), "{:?}", d.outcome);
    let req = &server.requests()[0];
    let headers = req.header_map();
    let inbound = Inbound::new(&headers, &req.body).with_query(req.query());
    let verified = verifier
        .verify_at(&inbound, d.attempts[0].at)
        .expect("the sender's signature verifies");
    assert_eq!(verified.body(), body);
    assert_eq!(req.body, body);
    // A minute later than the tolerance, the same delivery is stale.
    if timed {
        assert!(verifier
            .verify_at(&inbound, d.attempts[0].at + Duration::from_secs(301 + 60))
            .is_err());
    }
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

fn raw(s: &str) -> chathooks::Secret {
    chathooks::Secret::raw(s).unwrap()
}

const RAW: &str = "a-long-enough-shared-secret";
const RAW2: &str = "the-next-secret-after-rotation";

#[tokio::test]
async fn every_hmac_preset_round_trips() {
    use chathooks::verify::HmacSha256;
    type Preset = fn(chathooks::Secret) -> HmacSha256;
    let presets: [(&str, Preset); 6] = [
        ("sam", HmacSha256::sam),
        ("buzzi", HmacSha256::buzzi),
        ("conversalabs", HmacSha256::conversalabs),
        ("github", HmacSha256::github),
        ("slack", HmacSha256::slack),
        ("stripe", HmacSha256::stripe),
    ];
    for (name, preset) in presets {
        // Rotation: the sender signs with both secrets; a receiver with either one verifies.
        let signer = preset(raw(RAW)).add_secret(raw(RAW2));
        let timed = matches!(name, "conversalabs" | "slack" | "stripe");
        for only in [RAW, RAW2] {
            let signing = Signing::hmac(signer.clone());
            round_trip_with(signing, &preset(raw(only)), BODY, timed).await;
        }
        let sig = Signing::hmac(signer)
            .sign("msg_1", super::clock_now(), b"{}")
            .unwrap();
        assert!(!sig.headers.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn conversalabs_carries_the_same_delivery_id_on_every_attempt() {
    let server = Server::start(vec![Reply::status(503), Reply::status(200)]).await;
    let clock = clock();
    let signing = Signing::for_vendor(chathooks::event::Vendor::ConversaLabs, &[RAW]).unwrap();
    let ep = Endpoint::new(&server.url("/cl"), signing).unwrap();
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&ep, &Message::with_id("dlv_42", &b"{}"[..]).unwrap())
        .await;
    assert!(d.is_delivered());
    let verifier = chathooks::verify::HmacSha256::conversalabs(raw(RAW));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for (req, a) in reqs.iter().zip(&d.attempts) {
        assert_eq!(req.header("x-chatwoot-delivery"), Some("dlv_42"));
        let headers = req.header_map();
        let v = verifier
            .verify_at(&Inbound::new(&headers, &req.body), a.at)
            .unwrap();
        assert_eq!(v.unsigned_delivery_id(), Some("dlv_42"));
    }
    assert_ne!(
        reqs[0].header("x-chatwoot-timestamp"),
        reqs[1].header("x-chatwoot-timestamp")
    );
}

#[tokio::test]
async fn static_token_round_trips() {
    use chathooks::verify::Token;
    round_trip_untimed(
        Signing::token("X-Hook-Token", RAW).unwrap(),
        &Token::new("X-Hook-Token", RAW).unwrap(),
    )
    .await;
    let dbg = format!("{:?}", Signing::token("X-Hook-Token", RAW).unwrap());
    assert!(!dbg.contains(RAW), "{dbg}");
    assert!(Signing::token("X-Hook-Token", "short").is_err());
}

#[tokio::test]
async fn salesmartly_query_signature_round_trips() {
    use chathooks::verify::SaleSmartly;
    let server = Server::start(vec![Reply::status(200)]).await;
    let clock = clock();
    let ep = Endpoint::new(
        &format!("{}?tenant=7", server.url("/ss")),
        Signing::SaleSmartly(SaleSmartly::new(RAW).unwrap()),
    )
    .unwrap();
    let body =
        br#"{"event":"message","data":{"chat_user_id":"u1","msg":"Ol\u00e1!","msg_type":"text"}}"#;
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&ep, &Message::new(&body[..]))
        .await;
    assert!(d.is_delivered());
    let req = &server.requests()[0];
    let query = req.query().unwrap();
    assert!(query.starts_with("tenant=7&timestamp="), "{query}");
    assert!(query.contains("&signature="));
    let headers = req.header_map();
    let inbound = Inbound::new(&headers, &req.body).with_query(query);
    SaleSmartly::new(RAW)
        .unwrap()
        .verify_at(&inbound, d.attempts[0].at)
        .unwrap();
    // Every vendor profile signs what its verifier accepts.
    round_trip_with(
        Signing::for_vendor(chathooks::event::Vendor::SaleSmartly, &[RAW]).unwrap(),
        &SaleSmartly::new(RAW).unwrap(),
        body,
        true,
    )
    .await;
}

#[cfg(feature = "ed25519")]
#[tokio::test]
async fn standard_webhooks_v1a_and_mixed_round_trip() {
    use chathooks::verify::StandardWebhooksSigner;
    // The Svix test key (64-byte keypair) from the Standard Webhooks research notes.
    let key = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
    let signer = StandardWebhooksSigner::new(key).unwrap();
    let public = signer.public_key();
    let verifier = StandardWebhooks::with_public_key(&public).unwrap();
    round_trip(Signing::standard_v1a(signer), &verifier).await;
    // v1 and v1a together: receivers with either kind of key verify.
    let mixed = || {
        Signing::standard(SECRET)
            .unwrap()
            .add_v1a(StandardWebhooksSigner::new(key).unwrap())
            .unwrap()
    };
    let sig = mixed().sign("msg_1", super::clock_now(), b"{}").unwrap();
    let value = sig.headers["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        value.starts_with("v1,") && value.contains(" v1a,"),
        "{value}"
    );
    round_trip(mixed(), &StandardWebhooks::new(SECRET).unwrap()).await;
    round_trip(
        mixed(),
        &StandardWebhooks::with_public_key(&public).unwrap(),
    )
    .await;
    // The known answer from the specification's example.
    let ts = std::time::UNIX_EPOCH + Duration::from_secs(1_614_265_330);
    let sig = Signing::standard_v1a(StandardWebhooksSigner::new(key).unwrap())
        .sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            ts,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
    assert_eq!(
        sig.headers["webhook-signature"],
        "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
    );
}
