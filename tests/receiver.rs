//! `Receiver`: dedupe keys and namespaces (framework-free).

use std::sync::Arc;

use sha2::Digest;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::idempotency::MemoryStore;
use chathooks::platform::standard::StandardEvent;
use chathooks::receiver::RawBody;
use chathooks::verify::{HmacSha256, StandardWebhooks};
use chathooks::{Inbound, Received, Receiver, Secret};

const GITHUB_SECRET: &str = "It's a Secret to Everybody";

/// Standard Webhooks headers for delivery `id` of `body`, signed by `signer` at `now` (the
/// timestamp header is `now` in seconds).
fn standard_headers(
    signer: &StandardWebhooks,
    id: &str,
    now: SystemTime,
    body: &[u8],
) -> http::HeaderMap {
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", secs.to_string().parse().unwrap());
    h.insert(
        "webhook-signature",
        signer.sign(id, now, body).parse().unwrap(),
    );
    h
}

fn github_headers(body: &[u8], delivery: &str) -> http::HeaderMap {
    let v = HmacSha256::github(Secret::raw(GITHUB_SECRET).unwrap());
    let mut h = v.sign(SystemTime::now(), body);
    h.insert("x-github-delivery", delivery.parse().unwrap());
    h
}

/// Review finding: `X-GitHub-Delivery` is not covered by the signature, so a replay that
/// changes it must still be recognised as the same delivery (the key is the body hash).
#[tokio::test]
async fn an_unsigned_delivery_id_cannot_make_a_replay_fresh() {
    let receiver =
        Receiver::<RawBody>::builder(HmacSha256::github(Secret::raw(GITHUB_SECRET).unwrap()))
            .build();
    let body = br#"{"action":"opened","number":1}"#;
    let first = github_headers(body, "d1");
    let Received::Fresh(delivery) = receiver.receive(&Inbound::new(&first, body)).await.unwrap()
    else {
        panic!("first delivery must be fresh")
    };
    assert_eq!(
        delivery.unsigned_delivery_id(),
        Some("d1"),
        "still reported for logs"
    );
    assert_eq!(delivery.signed_delivery_id(), None);
    let want = format!("raw/sha256:{}", hex::encode(sha2::Sha256::digest(body)));
    assert_eq!(delivery.key().as_str(), want, "exactly the body's SHA-256");
    delivery.complete().await.unwrap();

    let replay = github_headers(body, "d2");
    let again = receiver
        .receive(&Inbound::new(&replay, body))
        .await
        .unwrap();
    assert!(matches!(again, Received::Duplicate { .. }), "{again:?}");
}

/// Standard Webhooks' `webhook-id` is signed: it is the key, so two deliveries with the same
/// body but different ids are both handled.
#[tokio::test]
async fn a_signed_delivery_id_is_the_key() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let receiver =
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(secret).unwrap()).build();
    let signer = StandardWebhooks::new(secret).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = br#"{"type":"ping","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;
    for id in ["msg_a", "msg_b"] {
        let h = standard_headers(&signer, id, now, body);
        let got = receiver
            .receive_at(&Inbound::new(&h, body), now)
            .await
            .unwrap();
        let Received::Fresh(d) = got else {
            panic!("{id} must be fresh")
        };
        assert_eq!(d.key().as_str(), format!("standard_webhooks/id:{id}"));
        d.complete().await.unwrap();
    }
}

/// Review finding: `RawBody` receivers sharing one store need their own namespaces.
#[tokio::test]
async fn namespaces_keep_endpoints_sharing_a_store_apart() {
    let store = Arc::new(MemoryStore::default());
    let build = |ns: &'static str| {
        Receiver::<RawBody>::builder(HmacSha256::github(Secret::raw(GITHUB_SECRET).unwrap()))
            .store(Arc::clone(&store))
            .namespace(ns)
            .build()
    };
    let (a, b) = (build("hooks-a"), build("hooks-b"));
    let body = br#"{"same":"body"}"#;
    let h = github_headers(body, "d1");
    for receiver in [&a, &b] {
        let Received::Fresh(d) = receiver.receive(&Inbound::new(&h, body)).await.unwrap() else {
            panic!("each namespace sees its own first delivery")
        };
        d.complete().await.unwrap();
    }
    assert!(matches!(
        a.receive(&Inbound::new(&h, body)).await.unwrap(),
        Received::Duplicate { .. }
    ));
    // A namespace outside the documented alphabet is a configuration error (500).
    let bad = build("no spaces");
    let err = bad.receive(&Inbound::new(&h, body)).await.unwrap_err();
    assert_eq!(err.status(), 500);
}

/// Logs at every level name the stage, vendor, delivery id and outcome, never the secret, the
/// signature or the body.
#[test]
fn logs_never_contain_secrets_signatures_or_bodies() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body: &[u8] = br#"{"type":"lead.captured","data":{"email":"body-marker@example.com"}}"#;
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let signature = StandardWebhooks::new(secret)
        .unwrap()
        .sign("msg_log", now, body);
    let ((), logs) = crate::support::logs::capture_logs(|| async {
        let receiver =
            Receiver::<StandardEvent>::builder(StandardWebhooks::new(secret).unwrap()).build();
        let mut h = http::HeaderMap::new();
        h.insert("webhook-id", "msg_log".parse().unwrap());
        h.insert("webhook-timestamp", "1700000000".parse().unwrap());
        h.insert("webhook-signature", signature.parse().unwrap());
        let Received::Fresh(d) = receiver
            .receive_at(&Inbound::new(&h, body), now)
            .await
            .unwrap()
        else {
            panic!("fresh")
        };
        d.complete().await.unwrap();
        // A rejected delivery (bad signature) logs too.
        h.insert(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
                .parse()
                .unwrap(),
        );
        assert!(receiver
            .receive_at(&Inbound::new(&h, body), now)
            .await
            .is_err());
    });
    for stage in [
        "verified", "parsed", "claimed", "accepted", "rejected", "msg_log",
    ] {
        assert!(logs.contains(stage), "missing {stage:?} in logs:\n{logs}");
    }
    let sig_b64 = signature.trim_start_matches("v1,");
    for secret_part in [
        "C2FVsBQIhrscChlQIMV",
        sig_b64,
        "body-marker",
        "AAAAAAAAAAAA",
    ] {
        assert!(
            !logs.contains(secret_part),
            "{secret_part:?} leaked into logs:\n{logs}"
        );
    }
}

/// With a signed delivery id the claim is taken before parsing; an unparseable body must give
/// the key back, so a corrected retry with the same id is processed (and never a 409/200).
#[tokio::test]
async fn a_parse_failure_after_an_early_claim_releases_the_key() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let receiver =
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(secret).unwrap()).build();
    let signer = StandardWebhooks::new(secret).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let deliver = |body: &'static [u8]| standard_headers(&signer, "msg_fix", now, body);
    let bad: &[u8] = br#"{"type":5,"data":{}}"#;
    let h = deliver(bad);
    let err = receiver
        .receive_at(&Inbound::new(&h, bad), now)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422, "{err}");
    let good: &[u8] = br#"{"type":"ping","data":{}}"#;
    let h = deliver(good);
    let Received::Fresh(d) = receiver
        .receive_at(&Inbound::new(&h, good), now)
        .await
        .unwrap()
    else {
        panic!("the corrected retry must be processed")
    };
    d.complete().await.unwrap();
    let again = receiver
        .receive_at(&Inbound::new(&h, good), now)
        .await
        .unwrap();
    assert!(matches!(again, Received::Duplicate { .. }));
}

/// A fresh delivery keeps its id inside the dedupe key when the key holds it verbatim (no copy
/// of its own): every key layout must still give back exactly the id the sender signed, and
/// an unsigned id exactly as sent.
#[tokio::test]
async fn delivery_ids_come_back_exactly_whatever_the_key_layout() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let receiver =
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(secret).unwrap()).build();
    let signer = StandardWebhooks::new(secret).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = br#"{"type":"ping","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;
    let long = format!("msg_{}", "x".repeat(240));
    // Verbatim in the key; hashed (too long); hashed (a space is not visible ASCII).
    for (id, verbatim) in [
        ("msg_short", true),
        (long.as_str(), false),
        ("msg a", false),
    ] {
        let h = standard_headers(&signer, id, now, body);
        let Received::Fresh(d) = receiver
            .receive_at(&Inbound::new(&h, body), now)
            .await
            .unwrap()
        else {
            panic!("{id} must be fresh")
        };
        assert_eq!(
            d.key().as_str().ends_with(id),
            verbatim,
            "{}",
            d.key().as_str()
        );
        assert_eq!(d.signed_delivery_id(), Some(id));
        assert_eq!(d.unsigned_delivery_id(), None);
        #[allow(deprecated)]
        let either = d.delivery_id();
        assert_eq!(either, Some(id));
        assert!(format!("{d:?}").contains(&format!("delivery_id: Some({id:?})")));
        d.complete().await.unwrap();
    }

    // An unsigned id that is also the end of the key (built from the body hash here) and one
    // that is not: both as sent.
    let receiver =
        Receiver::<RawBody>::builder(HmacSha256::github(Secret::raw(GITHUB_SECRET).unwrap()))
            .build();
    for (n, body) in [&br#"{"n":1}"#[..], br#"{"n":2}"#].into_iter().enumerate() {
        let key_end = hex::encode(sha2::Sha256::digest(body));
        let id = if n == 0 {
            &key_end[50..]
        } else {
            "d-elsewhere"
        };
        let h = github_headers(body, id);
        let Received::Fresh(d) = receiver.receive(&Inbound::new(&h, body)).await.unwrap() else {
            panic!("fresh")
        };
        assert_eq!(d.unsigned_delivery_id(), Some(id));
        assert_eq!(d.signed_delivery_id(), None);
        d.release().await.unwrap();
    }
}

/// An inbox entry keeps the content type and the delivery id and timestamp headers, in that
/// order, each name's first value, whatever order the request sent them in; never the
/// signature, never a value that is not UTF-8, never any other header.
#[tokio::test]
async fn an_inbox_entry_keeps_only_the_named_headers() {
    use chathooks::inbox::{MemoryInbox, PutOutcome};
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let inbox = Arc::new(MemoryInbox::new());
    let receiver = Receiver::<StandardEvent>::builder(StandardWebhooks::new(secret).unwrap())
        .inbox(inbox.clone())
        .build();
    let signer = StandardWebhooks::new(secret).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = br#"{"type":"ping","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;
    let signed = standard_headers(&signer, "msg_h", now, body);
    // Rebuilt in another order, with extra and repeated headers around the signed ones.
    let mut h = http::HeaderMap::new();
    h.insert("x-trace", "t1".parse().unwrap());
    h.insert("webhook-timestamp", signed["webhook-timestamp"].clone());
    h.insert(
        "svix-id",
        http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
    );
    h.insert("webhook-signature", signed["webhook-signature"].clone());
    h.append("content-type", "application/json".parse().unwrap());
    h.append("content-type", "text/plain".parse().unwrap());
    h.insert("webhook-id", signed["webhook-id"].clone());
    let outcome = receiver
        .accept_at(&Inbound::new(&h, body), now)
        .await
        .unwrap();
    let PutOutcome::Accepted(id) = outcome else {
        panic!("a new delivery is stored: {outcome:?}")
    };
    let entry = inbox.get_now(&id).expect("stored");
    let kept: Vec<(&str, &str)> = entry
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("content-type", "application/json"),
            ("webhook-id", "msg_h"),
            ("webhook-timestamp", "1700000000"),
        ]
    );
}

/// An invalid namespace is refused at startup by `try_build` (and logged at ERROR by `build`)
/// instead of answering 500 to every delivery, which senders retry on their whole schedule.
#[test]
fn an_invalid_namespace_is_a_startup_error() {
    let verifier = || HmacSha256::sam(Secret::raw("sam-demo-secret-0123456789").unwrap());
    let long = "n".repeat(65);
    for bad in ["billing app", "", long.as_str(), "sam/tenant", "é"] {
        let err = Receiver::<RawBody>::builder(verifier())
            .namespace(bad.to_owned())
            .try_build()
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(matches!(err, chathooks::Error::Config(_)), "{err:?}");
        assert!(err.to_string().contains("1-64 bytes"), "{err}");
    }
    for good in ["raw", "sam:tenant-42", "a.b_c-d", &"n".repeat(64)] {
        let r = Receiver::<RawBody>::builder(verifier())
            .namespace(good.to_owned())
            .try_build()
            .unwrap();
        assert_eq!(r.namespace(), good);
    }
    let ((), logs) = crate::support::logs::capture_logs(|| async {
        let _ = Receiver::<RawBody>::builder(verifier())
            .namespace("billing app")
            .build();
    });
    assert!(
        logs.lines()
            .any(|l| l.contains("ERROR") && l.contains("every delivery will fail with 500")),
        "{logs}"
    );
}
