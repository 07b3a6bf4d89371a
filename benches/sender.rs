//! Deliveries per second to a local receiver with 64 in flight.
//!
//! `sender/deliver_all` (sign with Standard Webhooks, SSRF guard, attempt reports) is measured
//! against `baseline/raw_reqwest`: the same POSTs with a bare reqwest client and the same
//! concurrency, so the ratio is the sender's own overhead. Both hit the same loopback server.
//!
//! `cargo bench --features sender --bench sender -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::{Duration, Instant};

use chathooks::sender::{Endpoint, Message, RetryPolicy, Sender, Signing};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../tests/sender/server.rs"]
mod server;

/// Deliveries per measured iteration.
const BATCH: usize = 512;
const IN_FLIGHT: usize = 64;
const BODY: &[u8] = br#"{"type":"lead.captured","timestamp":"2024-05-01T10:00:00Z","data":{"name":"Asha Verma","email":"asha@example.com","phone":"+91 98765 43210","channel":"whatsapp"}}"#;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let srv = rt.block_on(async {
        server::Server::start(vec![server::Reply::status(204)])
            .await
            .without_recording()
    });
    let url = srv.url("/webhooks");
    let sender = Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .unwrap();
    let endpoint = Endpoint::new(
        &url,
        Signing::standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap(),
    )
    .unwrap();
    let raw = reqwest::Client::new();

    let mut g = c.benchmark_group("deliveries_64_in_flight");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);

    g.bench_function("baseline/raw_reqwest", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..BATCH {
                        let permit = sem.clone().acquire_owned().await.unwrap();
                        let (raw, url) = (raw.clone(), url.clone());
                        set.spawn(async move {
                            let r = raw.post(url).body(BODY).send().await.unwrap();
                            assert_eq!(r.status(), 204);
                            drop(permit);
                        });
                    }
                    while set.join_next().await.is_some() {}
                }
                start.elapsed()
            })
        })
    });

    g.bench_function("sender/deliver_all", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let jobs: Vec<_> = (0..BATCH)
                        .map(|_| (endpoint.clone(), Message::new(BODY)))
                        .collect();
                    let start = Instant::now();
                    let results = sender.deliver_all(jobs, IN_FLIGHT).await;
                    total += start.elapsed();
                    assert!(results.iter().all(|d| d.is_delivered()));
                }
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
