//! One delivery end to end — verify + typed parse + in-memory dedupe (claim and complete) —
//! through [`Receiver`], against the same stages composed by hand, against the sum of the
//! stages measured alone, and against the floor: a bare HMAC-SHA256 check plus a derived
//! serde parse doing the same work as the typed side (whole body validated, `type` and
//! `timestamp` owned, `data` kept as raw JSON) of the same ~5 KB Standard Webhooks delivery,
//! in one run.
//!
//! Run: `cargo bench --bench end_to_end -- --warm-up-time 1 --measurement-time 3`.
//! Read the results as ratios: `receiver-fresh` / (`part-verify` + `part-parse` +
//! `part-dedupe`) is the cost of composing the stages, `receiver-fresh` / `baseline` what the
//! typed, deduplicated path costs over the minimum any receiver must do.
//!
//! After the criterion groups the bench prints that first ratio measured in one go: alternating
//! rounds of fresh deliveries through `Receiver` and of each stage alone, with the median and
//! the spread of the per-round ratios (criterion times each function at a different moment,
//! and on a shared machine a ratio of two such reports mixes two different loads).
//!
//! Every fresh delivery has its own `webhook-id` (signed in the untimed setup of
//! `iter_batched`), so each one is a new key for the store, as in production; the store is the
//! default bounded `MemoryStore`, so a long run also pays for reclaiming old keys.

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chathooks::idempotency::{Dedupe, IdempotencyKey, MemoryStore};
use chathooks::platform::standard::StandardEvent;
use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::{Inbound, Received, Receiver};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const NOW_SECS: u64 = 1_700_000_000;

/// A ~5 KB Standard Webhooks event: a conversation transcript, the shape chat vendors send.
fn body() -> Vec<u8> {
    let mut messages = Vec::new();
    let mut i = 0;
    loop {
        let m = format!(
            r#"{{"id":"msg_{i}","direction":"{}","text":"Is the blue one still in stock in size {i}? We need it by Friday.","sent_at":"2026-02-01T10:{:02}:05+00:00"}}"#,
            if i % 2 == 0 { "inbound" } else { "outbound" },
            i % 60
        );
        if messages.iter().map(String::len).sum::<usize>() + m.len() > 4700 {
            break;
        }
        messages.push(m);
        i += 1;
    }
    format!(
        r#"{{"type":"message_received","timestamp":"2026-02-01T10:00:05+00:00","data":{{"conversationId":"conv_88","contact":{{"name":"Ana","email":"ana@example.com"}},"messages":[{}]}}}}"#,
        messages.join(",")
    )
    .into_bytes()
}

/// Poll a future that needs no I/O (the memory store's) to completion without a runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn signed_headers(verifier: &StandardWebhooks, id: &str, body: &[u8]) -> http::HeaderMap {
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", id.parse().unwrap());
    headers.insert("webhook-timestamp", NOW_SECS.to_string().parse().unwrap());
    headers.insert(
        "webhook-signature",
        verifier.sign(id, now, body).parse().unwrap(),
    );
    headers
}

fn bench(c: &mut Criterion) {
    let body = body();
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let verifier = StandardWebhooks::new(SECRET).unwrap();
    let sig = verifier.sign(ID, now, &body);
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", ID.parse().unwrap());
    headers.insert("webhook-timestamp", NOW_SECS.to_string().parse().unwrap());
    headers.insert("webhook-signature", sig.parse().unwrap());
    let inbound = Inbound::new(&headers, &body);
    verifier.verify_at(&inbound, now).expect("signed delivery");
    StandardEvent::from_slice(&body).expect("typed parse");

    let raw_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&SECRET[6..])
            .unwrap()
    };

    let mut g = c.benchmark_group("end-to-end-5KB");
    g.throughput(Throughput::Bytes(body.len() as u64));

    // The floor: the HMAC every verifier computes, compared in constant time, and a serde
    // parse that does the same work as the typed side: the whole body is read and validated,
    // `type` and `timestamp` become owned strings, `data` stays raw JSON (as
    // `StandardEvent::data` does). Header lookups included, as any receiver must do them.
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        event_type: String,
        timestamp: String,
        data: Box<serde_json::value::RawValue>,
    }
    {
        // Same work on both sides, or the ratio means nothing.
        let plain: Envelope = serde_json::from_slice(&body).unwrap();
        let typed = StandardEvent::from_slice(&body).unwrap();
        assert_eq!(plain.event_type, typed.event_type);
        assert!(typed.timestamp.is_some() && !plain.timestamp.is_empty());
        assert_eq!(
            Some(plain.data.get()),
            typed.data.as_deref().map(|d| d.get())
        );
        assert!(typed.extra.is_empty());
    }
    g.bench_function("baseline-raw-hmac+serde-same-work", |b| {
        b.iter(|| {
            let h = black_box(&headers);
            let id = h.get("webhook-id").unwrap().as_bytes();
            let ts = h.get("webhook-timestamp").unwrap().as_bytes();
            let sig = h.get("webhook-signature").unwrap().to_str().unwrap();
            let mut want = [0u8; 32];
            {
                use base64::Engine as _;
                let n = base64::engine::general_purpose::STANDARD
                    .decode_slice(&sig[3..], &mut want)
                    .unwrap();
                assert_eq!(n, 32);
            }
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&raw_key).unwrap();
            m.update(id);
            m.update(b".");
            m.update(ts);
            m.update(b".");
            m.update(black_box(&body));
            let tag = m.finalize().into_bytes();
            assert!(bool::from(tag.as_slice().ct_eq(&want)));
            serde_json::from_slice::<Envelope>(black_box(&body)).unwrap()
        })
    });

    g.bench_function("part-verify", |b| {
        b.iter(|| verifier.verify_at(black_box(&inbound), now).unwrap())
    });
    g.bench_function("part-parse", |b| {
        b.iter(|| StandardEvent::from_slice(black_box(&body)).unwrap())
    });

    let dedupe = Dedupe::new(MemoryStore::default());
    let n = Cell::new(0u64);
    g.bench_function("part-dedupe", |b| {
        b.iter(|| {
            n.set(n.get() + 1);
            let key =
                IdempotencyKey::new("standard_webhooks", &format!("msg_{}", n.get())).unwrap();
            let claim = block_on(dedupe.claim(&key)).unwrap().expect("fresh key");
            block_on(claim.complete()).unwrap();
        })
    });

    // A fresh delivery's headers, signed outside the timed routine.
    let next_delivery = || {
        n.set(n.get() + 1);
        signed_headers(&verifier, &format!("msg_e2e_{}", n.get()), &body)
    };

    // The stages composed by hand: what a service without `Receiver` writes.
    let dedupe = Dedupe::new(MemoryStore::default());
    g.bench_function("pipeline-by-hand", |b| {
        b.iter_batched(
            next_delivery,
            |headers| {
                let inbound = Inbound::new(&headers, &body);
                let verified = verifier.verify_at(&inbound, now).unwrap();
                let event = StandardEvent::from_slice(verified.body()).unwrap();
                let key = chathooks::platform::dedupe_key(
                    "standard_webhooks",
                    &verified,
                    event.event_id().as_deref(),
                )
                .unwrap();
                let claim = block_on(dedupe.claim(&key)).unwrap().expect("fresh");
                black_box(&event);
                block_on(claim.complete()).unwrap();
                headers
            },
            BatchSize::SmallInput,
        )
    });

    let receiver = Receiver::<StandardEvent>::builder(verifier.clone()).build();
    g.bench_function("receiver-fresh", |b| {
        b.iter_batched(
            next_delivery,
            |headers| {
                match block_on(receiver.receive_at(&Inbound::new(&headers, &body), now)) {
                    Ok(Received::Fresh(delivery)) => {
                        black_box(delivery.event());
                        block_on(delivery.complete()).unwrap();
                    }
                    other => panic!("{other:?}"),
                }
                headers
            },
            BatchSize::SmallInput,
        )
    });

    // A sender's retry of a completed delivery: verified and parsed again, answered 200.
    let retry = signed_headers(&verifier, "msg_retry", &body);
    let retry_inbound = Inbound::new(&retry, &body);
    if let Received::Fresh(d) = block_on(receiver.receive_at(&retry_inbound, now)).unwrap() {
        block_on(d.complete()).unwrap();
    }
    g.bench_function("receiver-duplicate", |b| {
        b.iter(
            || match block_on(receiver.receive_at(black_box(&retry_inbound), now)) {
                Ok(Received::Duplicate { key }) => key,
                other => panic!("{other:?}"),
            },
        )
    });
    g.finish();

    stage_ratio(&verifier, &body, now, &inbound);
}

/// `receiver-fresh` / (`part-verify` + `part-parse` + `part-dedupe`), each side doing what its
/// criterion function does, in alternating rounds (which side goes first alternates too);
/// prints the median ratio and its range. A short single round without `--bench` (CI's test
/// mode), so the code stays exercised.
fn stage_ratio(verifier: &StandardWebhooks, body: &[u8], now: SystemTime, inbound: &Inbound<'_>) {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if full { (15, 2000) } else { (1, 20) };
    let receiver = Receiver::<StandardEvent>::builder(verifier.clone()).build();
    let dedupe = Dedupe::new(MemoryStore::default());
    let mut next_id = 0u64;
    let mut ratios = Vec::with_capacity(rounds);
    let mut per_delivery = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Signed outside the timed part, as in `receiver-fresh`.
        let deliveries: Vec<http::HeaderMap> = (0..per_round)
            .map(|_| {
                next_id += 1;
                signed_headers(verifier, &format!("msg_ratio_{next_id}"), body)
            })
            .collect();
        let time_receiver = || {
            let start = Instant::now();
            for headers in &deliveries {
                match block_on(receiver.receive_at(&Inbound::new(headers, body), now)) {
                    Ok(Received::Fresh(delivery)) => {
                        black_box(delivery.event());
                        block_on(delivery.complete()).unwrap();
                    }
                    other => panic!("{other:?}"),
                }
            }
            start.elapsed()
        };
        let mut time_stages = || {
            let start = Instant::now();
            for _ in 0..per_round {
                black_box(verifier.verify_at(black_box(inbound), now).unwrap());
            }
            let verify = start.elapsed();
            let start = Instant::now();
            for _ in 0..per_round {
                black_box(StandardEvent::from_slice(black_box(body)).unwrap());
            }
            let parse = start.elapsed();
            let start = Instant::now();
            for _ in 0..per_round {
                next_id += 1;
                let key =
                    IdempotencyKey::new("standard_webhooks", &format!("msg_{next_id}")).unwrap();
                let claim = block_on(dedupe.claim(&key)).unwrap().expect("fresh key");
                block_on(claim.complete()).unwrap();
            }
            [verify, parse, start.elapsed()]
        };
        let (fresh, stages) = if round % 2 == 0 {
            let fresh = time_receiver();
            (fresh, time_stages())
        } else {
            let stages = time_stages();
            (time_receiver(), stages)
        };
        let sum: Duration = stages.iter().sum();
        ratios.push(fresh.as_secs_f64() / sum.as_secs_f64());
        let us = |d: Duration| d.as_secs_f64() * 1e6 / per_round as f64;
        per_delivery.push((us(fresh), stages.map(us)));
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let (fresh, [v, p, d]) = per_delivery[ratios.iter().position(|r| *r == median).unwrap()];
    println!(
        "end-to-end-5KB: receiver-fresh / (part-verify + part-parse + part-dedupe) = {median:.3} \
         (median of {rounds} alternating rounds of {per_round} deliveries, range {:.3}-{:.3}); \
         median round: receiver {fresh:.2} us, stages {v:.2} + {p:.2} + {d:.2} us",
        sorted[0],
        sorted[sorted.len() - 1],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
