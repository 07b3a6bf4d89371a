//! Finding 8: easy misuse (unsigned delivery ids, the `Unverified` verifier).

use std::time::SystemTime;

use chathooks::receiver::RawBody;
use chathooks::verify::{HmacSha256, StandardWebhooks, Unverified, Verifier};
use chathooks::{Inbound, Received, Receiver, Secret};

use super::capture_logs;

#[test]
fn a_receiver_on_unverified_warns_once_at_build() {
    let ((), logs) = capture_logs(|| async {
        let _rx = Receiver::<RawBody>::builder(Unverified).build();
    });
    assert_eq!(
        logs.matches("Unverified verifier").count(),
        1,
        "expected one warning:\n{logs}"
    );
    assert!(logs.contains("WARN"), "{logs}");
    let ((), quiet) = capture_logs(|| async {
        let _rx = Receiver::<RawBody>::builder(HmacSha256::github(
            Secret::raw("It's a Secret to Everybody").unwrap(),
        ))
        .build();
    });
    assert!(!quiet.contains("Unverified"), "{quiet}");
}

/// The names say which ids are authenticated: `X-GitHub-Delivery` is only ever reported as
/// unsigned (logs), `webhook-id` only as signed (dedupe), in `Verified` and in `Delivery`.
#[tokio::test]
async fn signed_and_unsigned_delivery_ids_are_told_apart() {
    let github = HmacSha256::github(Secret::raw("It's a Secret to Everybody").unwrap());
    let body = b"{}";
    let mut h = github.sign(SystemTime::now(), body);
    h.insert("x-github-delivery", "gh-1".parse().unwrap());
    let v = github.verify(&Inbound::new(&h, body)).unwrap();
    assert_eq!(
        (v.signed_delivery_id(), v.unsigned_delivery_id()),
        (None, Some("gh-1"))
    );
    let rx = Receiver::<RawBody>::builder(github).build();
    let Received::Fresh(d) = rx.receive(&Inbound::new(&h, body)).await.unwrap() else {
        panic!("fresh")
    };
    assert_eq!(
        (d.signed_delivery_id(), d.unsigned_delivery_id()),
        (None, Some("gh-1"))
    );

    let standard = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    let now = SystemTime::now();
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", "msg_1".parse().unwrap());
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    h.insert("webhook-timestamp", secs.into());
    h.insert(
        "webhook-signature",
        standard.sign("msg_1", now, body).parse().unwrap(),
    );
    let v = standard.verify_at(&Inbound::new(&h, body), now).unwrap();
    assert_eq!(
        (v.signed_delivery_id(), v.unsigned_delivery_id()),
        (Some("msg_1"), None)
    );
    let rx = Receiver::<RawBody>::builder(standard).build();
    let Received::Fresh(d) = rx.receive_at(&Inbound::new(&h, body), now).await.unwrap() else {
        panic!("fresh")
    };
    assert_eq!(
        (d.signed_delivery_id(), d.unsigned_delivery_id()),
        (Some("msg_1"), None)
    );
}
