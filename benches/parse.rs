//! Typed parse of each vendor's largest fixture against an untyped `serde_json::Value` parse of
//! the same bytes, in the same run, and the typed parse plus `normalize()` (borrowing: every
//! string copied) and plus `into_event()` (consuming: strings moved). Targets: typed ≤ 1.0×
//! `Value`, typed + normalize ≤ 1.3× `Value`.
//!
//! `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`
//!
//! Read each group as ratios: `typed`, `typed_and_normalize` and `typed_and_into_event` over
//! `value`. Where a vendor sends JSON inside string fields (SaleSmartly's `labels`,
//! `custom_field`, `ad_referral`), the typed parse decodes them and `Value` does not: the typed
//! side does more work, never less.
//!
//! After each group the bench prints each of the three over `value` from alternating rounds of
//! the four (the order rotates every round), as the median and range of the per-round ratios:
//! on a shared machine, criterion's separate reports of each function come from different
//! moments of the load, and those ratios move by ±20 % between runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Typed parse (and typed parse + `normalize()`, + `into_event()`) of one body against a
/// `Value` parse of it.
fn group<E: VendorEvent>(c: &mut Criterion, (name, body): (&str, &[u8])) {
    // A fixture that stopped parsing would make the group time an error path.
    E::from_slice(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let value = || serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap();
    let typed = || E::from_slice(black_box(body)).unwrap();
    let normalize = || typed().normalize();
    let into_event = || typed().into_event();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("value", |b| b.iter(value));
    g.bench_function("typed", |b| b.iter(typed));
    g.bench_function("typed_and_normalize", |b| b.iter(normalize));
    g.bench_function("typed_and_into_event", |b| b.iter(into_event));
    g.finish();
    alternating_ratios(
        name,
        &|| drop(black_box(value())),
        &[
            ("typed", &|| drop(black_box(typed()))),
            ("typed_and_normalize", &|| drop(black_box(normalize()))),
            ("typed_and_into_event", &|| drop(black_box(into_event()))),
        ],
    );
}

/// Time a batch of calls of `value` and of each of `others` per round, in an order that
/// rotates every round (a batch lasts about 2 ms), and print the median and range of each
/// `other / value` over the rounds. One short round without `--bench` or with `--test` (CI's
/// test mode).
fn alternating_ratios(name: &str, value: &dyn Fn(), others: &[(&str, &dyn Fn())]) {
    // `cargo bench` passes `--bench` in test mode too (`-- --test`).
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let (rounds, per_round) = if full {
        let start = Instant::now();
        for _ in 0..100 {
            value();
        }
        let each = start.elapsed().as_secs_f64() / 100.0;
        (31, ((0.002 / each) as usize).clamp(10, 100_000))
    } else {
        (1, 10)
    };
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..per_round {
            f();
        }
        start.elapsed()
    };
    let fs: Vec<&dyn Fn()> = std::iter::once(value)
        .chain(others.iter().map(|(_, f)| *f))
        .collect();
    let mut ratios = vec![Vec::new(); others.len()];
    for round in 0..rounds {
        let mut t = vec![Duration::ZERO; fs.len()];
        for k in 0..fs.len() {
            let which = (round + k) % fs.len();
            t[which] = time(fs[which]);
        }
        for (i, r) in ratios.iter_mut().enumerate() {
            r.push(t[i + 1].as_secs_f64() / t[0].as_secs_f64());
        }
    }
    let summary = |r: &mut Vec<f64>| {
        r.sort_by(f64::total_cmp);
        format!(
            "{:.3} (range {:.3}-{:.3})",
            r[r.len() / 2],
            r[0],
            r[r.len() - 1]
        )
    };
    let line: Vec<String> = others
        .iter()
        .zip(&mut ratios)
        .map(|((other, _), r)| format!("{other} / value = {}", summary(r)))
        .collect();
    println!(
        "{name}: {} (medians of {rounds} alternating rounds of {per_round} calls)",
        line.join(", ")
    );
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
