//! Typed parse of the SaleAssist `widget_new_conversation` body against an untyped
//! `serde_json::Value` parse of the same bytes, in the same run. Target: typed ≤ Value.
//!
//! `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chathooks::platform::buzzi::BuzziEvent;
use chathooks::platform::conversalabs::ConversaLabsEvent;
use chathooks::platform::saleassist::SaleAssistEvent;
use chathooks::platform::salesmartly::SaleSmartlyEvent;
use chathooks::platform::standard::StandardEvent;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SALEASSIST: &[u8] =
    include_bytes!("../tests/fixtures/saleassist/widget_new_conversation.json");
const SALESMARTLY: &[u8] = include_bytes!("../tests/fixtures/salesmartly/add_user.json");
// The largest fixture of each vendor below.
const BUZZI: &[u8] = include_bytes!("../tests/fixtures/buzzi/conversation_created.json");
const CONVERSALABS: &[u8] = include_bytes!("../tests/fixtures/conversalabs/message_created.json");
const STANDARD: &[u8] = include_bytes!("../tests/fixtures/standard/conversation_started.json");

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

/// Typed parse of one vendor's body against a `serde_json::Value` parse of the same bytes.
fn typed_vs_value<T>(c: &mut Criterion, group: &str, body: &[u8], parse: fn(&[u8]) -> T) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap())
    });
    g.bench_function("typed", |b| b.iter(|| parse(black_box(body))));
    g.finish();
}

fn buzzi(c: &mut Criterion) {
    typed_vs_value(c, "buzzi_conversation_created", BUZZI, |b| {
        BuzziEvent::from_slice(b).unwrap()
    });
}

fn conversalabs(c: &mut Criterion) {
    typed_vs_value(c, "conversalabs_message_created", CONVERSALABS, |b| {
        ConversaLabsEvent::from_slice(b).unwrap()
    });
}

fn standard(c: &mut Criterion) {
    typed_vs_value(c, "standard_conversation_started", STANDARD, |b| {
        StandardEvent::from_slice(b).unwrap()
    });
}

criterion_group!(
    benches,
    saleassist,
    salesmartly,
    buzzi,
    conversalabs,
    standard
);
criterion_main!(benches);
