//! `chathooks doctor` on a 1 MiB and a 5 KB body: every scheme and variant, against one bare
//! HMAC-SHA256 of the same bytes in the same run (the floor: read doctor's figures as "N raw
//! HMACs").
//!
//! - `matched-standard`: a Standard Webhooks delivery (found in the main pass).
//! - `no-match-all-variants`: a JSON body with every kind of header doctor looks at (Standard
//!   Webhooks, a timestamp, an id, Stripe, a prefixed hex signature) and a secret that decodes
//!   as base64 and hex too, none of which match: every layout with every key decoding and the
//!   newline variants (the whole matching search, near misses switched off).
//! - `no-match-with-near-misses`: the same, plus the near-miss diagnostics that only run when
//!   nothing matched, as `chathooks doctor` runs them: the JSON re-serialisations (all eleven
//!   styles apply: the body has non-ASCII text and unsorted keys) and the other-length checks.
//!   This is the case issue 12's "all variants of a 1 MiB body in under 100 ms" is about.
//!
//! Run: `cargo bench --features cli --bench doctor -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use chathooks::cli::capture::Capture;
use chathooks::cli::doctor::{diagnose, Options};
use chathooks::verify::StandardWebhooks;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// Decodes as raw, base64 and hex: three keys.
const TRICKY: &str = "00112233445566778899aabbccddeeff";

/// A JSON document of about `size` bytes (an array of message objects, `", "` and `": "`
/// separators, non-ASCII text), so every JSON style writes it differently.
fn body(size: usize) -> Vec<u8> {
    let mut out = b"[".to_vec();
    let mut i = 0u64;
    while out.len() < size - 128 {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            format!(
                r#"{{"type": "message.created", "data": {{"text": "héllo there", "n": {i}}}}}"#
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.push(b']');
    out
}

fn bench_size(c: &mut Criterion, label: &str, size: usize) {
    let body = body(size);
    let now = SystemTime::now();
    let ts = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let sw = StandardWebhooks::new(SECRET).unwrap();
    let sig = sw.sign("msg_1", now, &body);
    let matched = Capture::new(
        vec![
            ("webhook-id".into(), "msg_1".into()),
            ("webhook-timestamp".into(), ts.to_string()),
            ("webhook-signature".into(), sig),
            ("content-type".into(), "application/json".into()),
        ],
        body.clone(),
    );
    let wrong = hex::encode([7u8; 32]);
    let no_match = Capture::new(
        vec![
            ("webhook-id".into(), "msg_1".into()),
            ("webhook-timestamp".into(), ts.to_string()),
            (
                "webhook-signature".into(),
                format!("v1,{}", "A".repeat(43) + "="),
            ),
            ("x-timestamp".into(), ts.to_string()),
            ("x-request-id".into(), "req_42".into()),
            ("stripe-signature".into(), format!("t={ts},v1={wrong}")),
            ("x-signature".into(), format!("sha256={wrong}")),
            ("content-type".into(), "application/json".into()),
        ],
        body.clone(),
    );
    let opts = |secret: &str, near_misses: bool| Options {
        secrets: vec![secret.to_owned()],
        public_keys: Vec::new(),
        at: ts,
        tolerance: 300,
        near_misses,
    };

    let mut g = c.benchmark_group(format!("doctor-{label}"));
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(20);
    g.bench_function("raw-hmac-sha256", |b| {
        b.iter(|| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"key").unwrap();
            m.update(black_box(&body));
            black_box(m.finalize().into_bytes())
        })
    });
    let o = opts(SECRET, true);
    g.bench_function("matched-standard", |b| {
        b.iter(|| {
            let r = diagnose(black_box(&matched), &o).unwrap();
            assert!(r.matched);
        })
    });
    let o = opts(TRICKY, false);
    g.bench_function("no-match-all-variants", |b| {
        b.iter(|| {
            let r = diagnose(black_box(&no_match), &o).unwrap();
            assert!(!r.matched);
        })
    });
    let o = opts(TRICKY, true);
    g.bench_function("no-match-with-near-misses", |b| {
        b.iter(|| {
            let r = diagnose(black_box(&no_match), &o).unwrap();
            assert!(!r.matched);
        })
    });
    g.finish();
    for (case, cap, o) in [
        ("matched-standard", &matched, opts(SECRET, true)),
        ("no-match-all-variants", &no_match, opts(TRICKY, false)),
        ("no-match-with-near-misses", &no_match, opts(TRICKY, true)),
    ] {
        let r = diagnose(cap, &o).unwrap();
        eprintln!(
            "doctor-{label}/{case}: {} MACs over {} candidates ({} bytes)",
            r.macs,
            r.candidates,
            body.len()
        );
    }
}

fn bench(c: &mut Criterion) {
    bench_size(c, "1mib", 1024 * 1024);
    bench_size(c, "5kb", 5 * 1024);
}

criterion_group!(benches, bench);
criterion_main!(benches);
