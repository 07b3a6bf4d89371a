//! Finding 4: no body text in errors or logs. Every rejection (400, 401, 413, 422, 409, 503)
//! is logged and answered without any value from the body, the secret, the token or the
//! correct signature.

use std::time::{Duration, UNIX_EPOCH};

use chathooks::idempotency::{Dedupe, MemoryStore};
use chathooks::platform::salesmartly::SaleSmartlyEvent;
use chathooks::platform::standard::StandardEvent;
use chathooks::verify::{SaleSmartly, StandardWebhooks, Token};
use chathooks::{Error, Inbound, Received, Receiver};

use super::{capture_logs, Down};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SS_SECRET: &str = "salesmartly-secret-01";
const TOKEN: &str = "token-value-never-logged-0123456789";
/// Values a leaky error would quote: an email, a card number.
const PII: [&str; 2] = ["jane.doe@example.com", "4111111111111111"];

fn headers(id: &str, ts: u64, sig: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", ts.into());
    h.insert("webhook-signature", sig.parse().unwrap());
    h
}

/// SaleSmartly bodies whose values are wrong in the ways serde quotes: a string that is not
/// the integer expected (`invalid value: string "…"`), inside `data` as an object and as a
/// string holding JSON, and a number where a string is expected.
fn bad_salesmartly_bodies() -> Vec<String> {
    let [email, card] = PII;
    vec![
        format!(r#"{{"event":"add_user","data":{{"chat_user_id":"u1","sys_user_id":"{email}"}}}}"#),
        format!(
            r#"{{"event":"message","data":"{{\"sequence_id\":\"1\",\"sys_user_id\":\"card {card}\"}}"}}"#
        ),
        format!(
            r#"{{"event":"update_user","data":{{"chat_user_id":{{"x":1}},"sys_user_id":"{card} {email}"}}}}"#
        ),
    ]
}

#[test]
fn no_rejection_logs_or_answers_body_values_or_secrets() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let secs = 1_700_000_000;
    let signer = StandardWebhooks::new(SECRET).unwrap();
    let mut answers = Vec::new();
    let mut signatures = Vec::new();
    let ((), logs) = capture_logs(|| async {
        let rx = Receiver::<StandardEvent>::builder(StandardWebhooks::new(SECRET).unwrap())
            .body_limit(4096)
            .build();
        let mut reject = |e: Error, want: u16| {
            assert_eq!(e.status(), want, "{e}");
            answers.push(format!("{e} / {e:?}"));
        };
        // 422: bad values with a valid signature (SaleSmartly's lenient integers quote the
        // string they could not read; Standard's `type` quotes the number).
        let ss = SaleSmartly::new(SS_SECRET).unwrap();
        let ss_rx =
            Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(SS_SECRET).unwrap()).build();
        let none = http::HeaderMap::new();
        for body in bad_salesmartly_bodies() {
            let query = ss.sign(body.as_bytes(), now).unwrap();
            signatures.push(query.rsplit('=').next().unwrap().to_owned());
            let inbound = Inbound::new(&none, body.as_bytes()).with_query(query.as_str());
            reject(ss_rx.receive_at(&inbound, now).await.unwrap_err(), 422);
        }
        let [_, card] = PII;
        let body = format!(r#"{{"type":{card},"data":{{}}}}"#);
        let sig = signer.sign("msg_bad", now, body.as_bytes());
        let h = headers("msg_bad", secs, &sig);
        reject(
            rx.receive_at(&Inbound::new(&h, body.as_bytes()), now)
                .await
                .unwrap_err(),
            422,
        );
        let good_sig = signer.sign("msg_x", now, body.as_bytes());
        signatures.push(good_sig.clone());
        // 400: missing and malformed headers.
        let mut h = headers("msg_x", secs, &good_sig);
        h.remove("webhook-signature");
        reject(
            rx.receive_at(&Inbound::new(&h, body.as_bytes()), now)
                .await
                .unwrap_err(),
            400,
        );
        let h = headers("msg_x", secs, "v1,not-base64!");
        reject(
            rx.receive_at(&Inbound::new(&h, body.as_bytes()), now)
                .await
                .unwrap_err(),
            400,
        );
        // 401: mismatch and a stale timestamp.
        let wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let h = headers("msg_x", secs, wrong);
        reject(
            rx.receive_at(&Inbound::new(&h, body.as_bytes()), now)
                .await
                .unwrap_err(),
            401,
        );
        let h = headers("msg_x", secs, &good_sig);
        reject(
            rx.receive_at(
                &Inbound::new(&h, body.as_bytes()),
                now + Duration::from_secs(3600),
            )
            .await
            .unwrap_err(),
            401,
        );
        // 413.
        let big = format!("{}{}", body, " ".repeat(5000));
        let h = headers("msg_x", secs, &signer.sign("msg_x", now, big.as_bytes()));
        reject(
            rx.receive_at(&Inbound::new(&h, big.as_bytes()), now)
                .await
                .unwrap_err(),
            413,
        );
        // 401 from a token verifier: the token must not be echoed.
        let token_rx =
            Receiver::<StandardEvent>::builder(Token::new("X-Token", TOKEN).unwrap()).build();
        let mut th = http::HeaderMap::new();
        th.insert("x-token", format!("{TOKEN}-wrong").parse().unwrap());
        reject(
            token_rx
                .receive_at(&Inbound::new(&th, body.as_bytes()), now)
                .await
                .unwrap_err(),
            401,
        );
        // 409: a copy while the first is in flight.
        let ok_body = br#"{"type":"lead.captured","timestamp":"2023-11-14T22:13:20Z","data":{"email":"jane.doe@example.com"}}"#;
        let h = headers("msg_ok", secs, &signer.sign("msg_ok", now, ok_body));
        let Received::Fresh(held) = rx
            .receive_at(&Inbound::new(&h, ok_body), now)
            .await
            .unwrap()
        else {
            panic!("fresh")
        };
        reject(
            rx.receive_at(&Inbound::new(&h, ok_body), now)
                .await
                .unwrap_err(),
            409,
        );
        drop(held);
        // 503: the store is down.
        let down = Receiver::<StandardEvent>::builder(StandardWebhooks::new(SECRET).unwrap())
            .dedupe(Dedupe::new(Down))
            .build();
        reject(
            down.receive_at(&Inbound::new(&h, ok_body), now)
                .await
                .unwrap_err(),
            503,
        );
        let _ = MemoryStore::default();
    });
    assert_eq!(answers.len(), 12);
    assert!(logs.matches("rejected").count() >= 12, "{logs}");
    let mut forbidden: Vec<String> = PII.iter().map(|s| s.to_string()).collect();
    forbidden.push(SECRET.trim_start_matches("whsec_").to_owned());
    forbidden.push(TOKEN.to_owned());
    for sig in &signatures {
        forbidden.push(sig.trim_start_matches("v1,").to_owned());
    }
    for text in answers.iter().chain(std::iter::once(&logs)) {
        for f in &forbidden {
            assert!(!text.contains(f.as_str()), "{f:?} leaked into:\n{text}");
        }
    }
    // The 422 answers still say where and what was expected.
    assert!(answers[0].contains("data.sys_user_id"), "{}", answers[0]);
    assert!(answers[0].contains("expected an integer"), "{}", answers[0]);
    assert!(answers[1].contains("data.sys_user_id"), "{}", answers[1]);
    assert!(answers[3].contains("expected"), "{}", answers[3]);
}
