//! Typed parse of the SaleAssist `widget_new_conversation` body against an untyped
//! `serde_json::Value` parse of the same bytes, in the same run. Target: typed ≤ Value.
//!
//! `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chathooks::vendor::saleassist::SaleAssistEvent;
use chathooks::vendor::salesmartly::SaleSmartlyEvent;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SALEASSIST: &[u8] =
    include_bytes!("../tests/fixtures/saleassist/widget_new_conversation.json");
const SALESMARTLY: &[u8] = include_bytes!("../tests/fixtures/salesmartly/add_user.json");

fn saleassist(c: &mut Criterion) {
    let mut g = c.benchmark_group("saleassist_widget_new_conversation");
    g.throughput(Throughput::Bytes(SALEASSIST.len() as u64));
    g.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(SALEASSIST)).unwrap())
    });
    g.bench_function("typed", |b| {
        b.iter(|| SaleAssistEvent::from_slice(black_box(SALEASSIST)).unwrap())
    });
    g.bench_function("typed_and_normalize", |b| {
        b.iter(|| {
            SaleAssistEvent::from_slice(black_box(SALEASSIST))
                .unwrap()
                .normalize()
        })
    });
    g.finish();
}

fn salesmartly(c: &mut Criterion) {
    let mut g = c.benchmark_group("salesmartly_add_user");
    g.throughput(Throughput::Bytes(SALESMARTLY.len() as u64));
    g.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(SALESMARTLY)).unwrap())
    });
    g.bench_function("typed", |b| {
        b.iter(|| SaleSmartlyEvent::from_slice(black_box(SALESMARTLY)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, saleassist, salesmartly);
criterion_main!(benches);
