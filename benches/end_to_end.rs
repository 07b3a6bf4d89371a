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
//! After the criterion groups the bench prints that first ratio measured in one go: rotating
//! rounds of fresh deliveries through `Receiver`, of each stage alone and of the stages
//! composed by hand, with the median and the spread of the per-round ratios and the ratio of
//! each side's fastest round (criterion times each function at a different moment, and on a
//! shared machine a ratio of two such reports mixes two different loads). `receiver-fresh` /
//! by hand is what `Receiver` itself adds; by hand / stages what composing costs at all.
//!
//! Every fresh delivery has its own `webhook-id` (signed in the untimed setup of
//! `iter_batched`), so each one is a new key for the store, as in production; the store is the
//! default bounded `MemoryStore`, so a long run also pays for reclaiming old keys.
//!
//! The stages alone do exactly the work `Receiver` must do, no more, no less: `part-verify`
//! checks a fresh delivery's own headers (not one warm `HeaderMap` again and again),
//! `part-dedupe` builds the key from the signed id as the receiver does
//! (`IdempotencyKey::with_source(.., IdSource::SignedDelivery, id)`, no `format!` in the timed
//! part), `part-parse` reads the same body. What is left in the ratio is what interleaving
//! the stages per delivery costs (the by-hand side shows it) and what `Receiver` adds: the
//! content-encoding check, the span, its futures and the `Delivery` it hands over.

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chathooks::idempotency::{Dedupe, IdSource, IdempotencyKey, MemoryStore};
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

/// The key `Receiver<StandardEvent>` gives a delivery whose signature covers `id`.
fn signed_key(id: &str) -> IdempotencyKey {
    IdempotencyKey::with_source("standard_webhooks", IdSource::SignedDelivery, id).unwrap()
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

    // Each stage alone does what `Receiver` must do for a fresh delivery, no more, no less:
    // verify reads a fresh delivery's own headers (not one warm `HeaderMap` again and again),
    // dedupe builds its key from the signed id as `Receiver` does (no `format!` in the timed
    // part), parse reads the same body.
    let n = Cell::new(0u64);
    let next_delivery = || {
        n.set(n.get() + 1);
        signed_headers(&verifier, &format!("msg_e2e_{}", n.get()), &body)
    };
    g.bench_function("part-verify", |b| {
        b.iter_batched(
            next_delivery,
            |headers| {
                black_box(
                    verifier
                        .verify_at(&Inbound::new(&headers, &body), now)
                        .unwrap(),
                );
                headers
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("part-parse", |b| {
        b.iter(|| StandardEvent::from_slice(black_box(&body)).unwrap())
    });

    let dedupe = Dedupe::new(MemoryStore::default());
    g.bench_function("part-dedupe", |b| {
        b.iter_batched(
            || {
                n.set(n.get() + 1);
                format!("msg_e2e_{}", n.get())
            },
            |id| {
                let key = signed_key(&id);
                let claim = block_on(dedupe.claim(&key)).unwrap().expect("fresh key");
                block_on(claim.complete()).unwrap();
                id
            },
            BatchSize::SmallInput,
        )
    });

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

    stage_ratio(&verifier, &body, now);
}

/// µs per delivery in one round: receiver, the three stages alone, the stages by hand.
type RoundTimes = (f64, [f64; 3], f64);

/// `receiver-fresh` / (`part-verify` + `part-parse` + `part-dedupe`), each side doing what its
/// criterion function does, in rounds that rotate which side goes first; prints the median
/// ratio and its range. A third side, the stages composed by hand per delivery (verify, key
/// from the signed id, claim, parse, complete: the receiver's order, without the receiver),
/// separates what `Receiver` adds from what composing the stages costs at all (the stages
/// alone run each in its own tight loop, with their code and branch history warm). A short
/// single round without `--bench` (CI's test mode), so the code stays exercised.
///
/// Many short rounds (45 of 500 deliveries, a few milliseconds per side) rather than a few long
/// ones: on a shared machine a side is then less often preempted mid-measurement, and the
/// median of the per-round ratios discards the rounds that were.
///
/// Each side, in each round, gets its own fresh deliveries, signed just before it is timed
/// (so no side finds its headers warmer in the cache than another's), and its own new
/// default `MemoryStore`: every side then does exactly the same store work (the same table
/// growth from empty) instead of one side's round landing on a table doubling of a
/// long-lived store (a rehash of 10⁵ keys with its page faults, up to a sixth of a round).
/// That makes the shared dedupe part small, so the ratio is, if anything, stricter.
fn stage_ratio(verifier: &StandardWebhooks, body: &[u8], now: SystemTime) {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if full { (45, 500) } else { (1, 20) };
    let mut next_id = 0u64;
    let mut fresh_deliveries = || -> Vec<http::HeaderMap> {
        (0..per_round)
            .map(|_| {
                next_id += 1;
                signed_headers(verifier, &format!("msg_ratio_{next_id}"), body)
            })
            .collect()
    };
    let time_receiver = |deliveries: &[http::HeaderMap]| {
        let receiver = Receiver::<StandardEvent>::builder(verifier.clone()).build();
        let start = Instant::now();
        for headers in deliveries {
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
    let time_stages = |deliveries: &[http::HeaderMap]| {
        let dedupe = Dedupe::new(MemoryStore::default());
        // Borrowed from the headers, as `Verified::signed_delivery_id` is.
        let ids: Vec<&str> = deliveries
            .iter()
            .map(|h| h.get("webhook-id").unwrap().to_str().unwrap())
            .collect();
        let start = Instant::now();
        for headers in deliveries {
            black_box(
                verifier
                    .verify_at(&Inbound::new(headers, body), now)
                    .unwrap(),
            );
        }
        let verify = start.elapsed();
        let start = Instant::now();
        for _ in 0..per_round {
            black_box(StandardEvent::from_slice(black_box(body)).unwrap());
        }
        let parse = start.elapsed();
        let start = Instant::now();
        for id in &ids {
            let key = signed_key(id);
            let claim = block_on(dedupe.claim(&key)).unwrap().expect("fresh key");
            block_on(claim.complete()).unwrap();
        }
        [verify, parse, start.elapsed()]
    };
    let time_by_hand = |deliveries: &[http::HeaderMap]| {
        let dedupe = Dedupe::new(MemoryStore::default());
        let start = Instant::now();
        for headers in deliveries {
            let verified = verifier
                .verify_at(&Inbound::new(headers, body), now)
                .unwrap();
            let key = signed_key(verified.signed_delivery_id().unwrap());
            let claim = block_on(dedupe.claim(&key)).unwrap().expect("fresh");
            let event = StandardEvent::from_slice(verified.body()).unwrap();
            black_box(&event);
            block_on(claim.complete()).unwrap();
        }
        start.elapsed()
    };
    // Per round: receiver / stages, by hand / stages, receiver / by hand; and the times.
    let mut ratios: Vec<[f64; 3]> = Vec::with_capacity(rounds);
    let mut per_delivery: Vec<RoundTimes> = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (mut fresh, mut stages, mut by_hand) =
            (Duration::ZERO, [Duration::ZERO; 3], Duration::ZERO);
        for side in 0..3 {
            // Signed outside the timed part, as in `receiver-fresh`.
            let deliveries = fresh_deliveries();
            match (side + round) % 3 {
                0 => fresh = time_receiver(&deliveries),
                1 => stages = time_stages(&deliveries),
                _ => by_hand = time_by_hand(&deliveries),
            }
        }
        let sum: Duration = stages.iter().sum();
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        ratios.push([r(fresh, sum), r(by_hand, sum), r(fresh, by_hand)]);
        let us = |d: Duration| d.as_secs_f64() * 1e6 / per_round as f64;
        per_delivery.push((us(fresh), stages.map(us), us(by_hand)));
    }
    // Median and range of one ratio over the rounds, and the round it comes from.
    let median_of = |i: usize| {
        let mut sorted: Vec<f64> = ratios.iter().map(|r| r[i]).collect();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let round = ratios.iter().position(|r| r[i] == median).unwrap();
        (median, sorted[0], sorted[sorted.len() - 1], round)
    };
    let (median, low, high, round) = median_of(0);
    let (fresh, [v, p, d], by_hand) = per_delivery[round];
    println!(
        "end-to-end-5KB: receiver-fresh / (part-verify + part-parse + part-dedupe) = {median:.3} \
         (median of {rounds} rotating rounds of {per_round} deliveries, range {low:.3}-{high:.3}); \
         median round: receiver {fresh:.2} us, stages {v:.2} + {p:.2} + {d:.2} us, \
         by hand {by_hand:.2} us"
    );
    // Under load the median round can still be a disturbed one; the fastest round of each side
    // is its least disturbed (the stages' sum taken within one round, not the best of each).
    let fastest =
        |f: &dyn Fn(&RoundTimes) -> f64| per_delivery.iter().map(f).fold(f64::INFINITY, f64::min);
    let (best_fresh, best_stages, best_by_hand) = (
        fastest(&|r| r.0),
        fastest(&|r| r.1.iter().sum()),
        fastest(&|r| r.2),
    );
    println!(
        "end-to-end-5KB: fastest rounds: receiver {best_fresh:.2} us / stages {best_stages:.2} us \
         = {:.3}; by hand {best_by_hand:.2} us ({:.3} of the stages, receiver {:.3} of it)",
        best_fresh / best_stages,
        best_by_hand / best_stages,
        best_fresh / best_by_hand,
    );
    let (median, low, high, _) = median_of(1);
    println!(
        "end-to-end-5KB: stages by hand / (part-verify + part-parse + part-dedupe) = {median:.3} \
         (range {low:.3}-{high:.3}): what composing the stages costs without Receiver"
    );
    let (median, low, high, _) = median_of(2);
    println!(
        "end-to-end-5KB: receiver-fresh / stages by hand = {median:.3} (range {low:.3}-{high:.3}): \
         what Receiver adds"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
