//! `lenient::repair` against a strict `serde_json::Value` parse of the same document, and its
//! scaling from one SaleAssist body (~4.5 KB) to a hundred (~450 KB).
//!
//! `cargo bench --bench repair -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chathooks::lenient::repair;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SAMPLE: &[u8] = include_bytes!("../tests/fixtures/saleassist/doc_sample_broken.json");

/// The sample's body object `{event_type, payload, metadata}`, still missing its comma (Q1).
fn broken_body() -> Vec<u8> {
    let text = std::str::from_utf8(SAMPLE).expect("fixture is UTF-8");
    let end = text.find("\n  },\n  \"headers\"").expect("body end");
    format!("{}\n}}", &text[..end]).into_bytes()
}

fn sample(c: &mut Criterion) {
    let repaired = repair(SAMPLE).expect("repairable").bytes;
    let mut g = c.benchmark_group("saleassist_sample");
    g.throughput(Throughput::Bytes(SAMPLE.len() as u64));
    g.bench_function("repair", |b| b.iter(|| repair(black_box(SAMPLE))));
    g.bench_function("serde_json_value_of_repaired", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&repaired)))
    });
    g.finish();
}

fn scaling(c: &mut Criterion) {
    let body = broken_body();
    let mut g = c.benchmark_group("repair_scaling");
    for copies in [1usize, 100] {
        let mut doc = b"[".to_vec();
        for i in 0..copies {
            if i > 0 {
                doc.push(b',');
            }
            doc.extend_from_slice(&body);
        }
        doc.push(b']');
        assert_eq!(repair(&doc).expect("repairable").fixes.len(), copies);
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function(format!("{copies}x_{}B", doc.len()), |b| {
            b.iter(|| repair(black_box(&doc)))
        });
    }
    g.finish();
}

criterion_group!(benches, sample, scaling);
criterion_main!(benches);
