//! Typed parse of each vendor's largest fixture against an untyped `serde_json::Value` parse of
//! the same bytes, in the same run, and the typed parse plus `normalize()`. Targets: typed ≤
//! 1.0× `Value`, typed + normalize ≤ 1.3× `Value`.
//!
//! `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`
//!
//! Read each group as ratios: `typed` / `value` and `typed_and_normalize` / `value`. Where a
//! vendor sends JSON inside string fields (SaleSmartly's `labels`, `custom_field`,
//! `ad_referral`), the typed parse decodes them and `Value` does not: the typed side does more
//! work, never less.

use std::hint::black_box;

use chathooks::platform::buzzi::BuzziEvent;
use chathooks::platform::conversalabs::ConversaLabsEvent;
use chathooks::platform::saleassist::SaleAssistEvent;
use chathooks::platform::salesmartly::SaleSmartlyEvent;
use chathooks::platform::sam::SamEvent;
use chathooks::platform::standard::StandardEvent;
use chathooks::platform::VendorEvent;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

macro_rules! fixture {
    ($vendor:literal, $name:literal) => {
        (
            concat!($vendor, "_", $name),
            include_bytes!(concat!("../tests/fixtures/", $vendor, "/", $name, ".json")) as &[u8],
        )
    };
}

/// Typed parse (and typed parse + normalize) of one body against a `Value` parse of it.
fn group<E: VendorEvent>(c: &mut Criterion, (name, body): (&str, &[u8])) {
    // A fixture that stopped parsing would make the group time an error path.
    E::from_slice(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap())
    });
    g.bench_function("typed", |b| {
        b.iter(|| E::from_slice(black_box(body)).unwrap())
    });
    g.bench_function("typed_and_normalize", |b| {
        b.iter(|| E::from_slice(black_box(body)).unwrap().normalize())
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    // The largest fixture of each vendor (ConversaLabs' is Chatwoot's documentation sample,
    // Standard's `lead_captured_nested`), and the groups earlier runs reported: SaleAssist's
    // documentation sample, ConversaLabs `message_created`, Standard `conversation_started`.
    group::<SaleAssistEvent>(c, fixture!("saleassist", "capture_wrapped"));
    group::<SaleAssistEvent>(c, fixture!("saleassist", "widget_new_conversation"));
    group::<SaleSmartlyEvent>(c, fixture!("salesmartly", "add_user"));
    group::<BuzziEvent>(c, fixture!("buzzi", "conversation_created"));
    group::<ConversaLabsEvent>(c, fixture!("conversalabs", "message_created_doc_sample"));
    group::<ConversaLabsEvent>(c, fixture!("conversalabs", "message_created"));
    group::<SamEvent>(c, fixture!("sam", "conversation_closed"));
    group::<StandardEvent>(c, fixture!("standard", "lead_captured_nested"));
    group::<StandardEvent>(c, fixture!("standard", "conversation_started"));
}

criterion_group!(parse, benches);
criterion_main!(parse);
