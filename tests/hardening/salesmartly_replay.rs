//! Finding 1: SaleSmartly signs only `event` and `data`; re-encoding the unsigned envelope of a
//! captured delivery must not make it Fresh, and unsigned top-level keys must not reach the
//! handler of an unknown event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::platform::salesmartly::SaleSmartlyEvent;
use chathooks::verify::{SaleSmartly, SaleSmartlyLayout, Verifier};
use chathooks::{Inbound, Received, Receiver};

const SECRET: &str = "salesmartly-secret-01";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The untimestamped layout (the vendor's own example): the timestamp is not signed.
fn sign(body: &[u8]) -> String {
    SaleSmartly::new(SECRET)
        .unwrap()
        .layout(SaleSmartlyLayout::WithoutTimestamp)
        .sign(body, now())
        .unwrap()
}

/// Copies of one signed delivery that differ only outside the signed `event` and `data`.
fn reencodings(event: &str, data: &str) -> Vec<String> {
    let escaped_event = event.replace('_', "\\u005f");
    let data_as_string = serde_json::to_string(data).unwrap();
    vec![
        format!(r#"{{"event":"{event}","data":{data}}}"#),
        format!(r#"  {{ "event" : "{event}" ,  "data" : {data} }}  "#),
        format!(r#"{{"data":{data},"event":"{event}"}}"#),
        format!(r#"{{"event":"{event}","data":{data},"injected":"not signed"}}"#),
        format!(r#"{{"event":"{escaped_event}","data":{data}}}"#),
        format!(r#"{{"event":"{event}","data":{data_as_string}}}"#),
    ]
}

async fn replays_are_duplicates(event: &str, data: &str) {
    let rx = Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(SECRET).unwrap()).build();
    let copies = reencodings(event, data);
    let query = sign(copies[0].as_bytes());
    let h = http::HeaderMap::new();
    let mut first_key = None;
    for (i, body) in copies.iter().enumerate() {
        let inbound = Inbound::new(&h, body.as_bytes()).with_query(query.as_str());
        // Each copy really verifies with the captured signature (the attack's premise).
        SaleSmartly::new(SECRET)
            .unwrap()
            .verify_at(&inbound, now())
            .unwrap_or_else(|e| panic!("copy {i} should verify: {e}\n{body}"));
        match rx.receive_at(&inbound, now()).await.unwrap() {
            Received::Fresh(d) => {
                assert_eq!(i, 0, "copy {i} of a handled delivery was Fresh:\n{body}");
                first_key = Some(d.key().clone());
                if let SaleSmartlyEvent::Unknown { raw, .. } = d.event() {
                    assert!(!raw.get().contains("injected"));
                }
                d.complete().await.unwrap();
            }
            Received::Duplicate { key } => {
                assert_ne!(i, 0);
                assert_eq!(Some(&key), first_key.as_ref());
            }
        }
    }
}

#[tokio::test]
async fn envelope_reencodings_of_add_user_are_duplicates() {
    replays_are_duplicates("add_user", r#"{"chat_user_id":"u1","name":"An"}"#).await;
}

#[tokio::test]
async fn envelope_reencodings_of_update_user_are_duplicates() {
    replays_are_duplicates("update_user", r#"{"chat_user_id":"u1","remark":"x"}"#).await;
}

#[tokio::test]
async fn envelope_reencodings_of_unknown_events_are_duplicates() {
    replays_are_duplicates("session_closed", r#"{"chat_session_id":"130925"}"#).await;
}

/// Different signed content is a different delivery: both are handled.
#[tokio::test]
async fn different_signed_data_is_fresh() {
    let rx = Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(SECRET).unwrap()).build();
    let h = http::HeaderMap::new();
    for body in [
        r#"{"event":"add_user","data":{"chat_user_id":"u1"}}"#,
        r#"{"event":"add_user","data":{"chat_user_id":"u2"}}"#,
        r#"{"event":"update_user","data":{"chat_user_id":"u2"}}"#,
    ] {
        let query = sign(body.as_bytes());
        let inbound = Inbound::new(&h, body.as_bytes()).with_query(query.as_str());
        let Received::Fresh(d) = rx.receive_at(&inbound, now()).await.unwrap() else {
            panic!("{body} must be fresh")
        };
        d.complete().await.unwrap();
    }
}

/// A handler of an unknown event gets only what the signature covers.
#[tokio::test]
async fn unknown_events_carry_only_signed_content() {
    let rx = Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(SECRET).unwrap()).build();
    let signed = r#"{"event":"refund_issued","data":{"amount":1}}"#;
    let query = sign(signed.as_bytes());
    let forged = r#"{"event":"refund_issued","data":{"amount":1},"amount":1000000,"admin":true}"#;
    let h = http::HeaderMap::new();
    let inbound = Inbound::new(&h, forged.as_bytes()).with_query(query.as_str());
    let Received::Fresh(d) = rx.receive_at(&inbound, now()).await.unwrap() else {
        panic!("fresh")
    };
    let SaleSmartlyEvent::Unknown { name, raw } = d.event() else {
        panic!("{:?}", d.event())
    };
    assert_eq!(name, "refund_issued");
    assert_eq!(
        raw.get(),
        r#"{"event":"refund_issued","data":{"amount":1}}"#
    );
}
