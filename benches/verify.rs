//! Verify one 5 KB Standard Webhooks delivery: chathooks against the `standardwebhooks` crate
//! and against a bare HMAC-SHA256 of the same bytes (the floor). The `svix` crate (2.9.1) is not
//! included: it does not compile against the hyper-util in this lockfile; its verification code
//! is the same as `standardwebhooks`' (anchors-signing.md §2).
//! Also chathooks' configurable HMAC (GitHub preset) on the same body.
//!
//! Run: `cargo bench --bench verify -- --warm-up-time 1 --measurement-time 3`.
//! Read the results as ratios to `raw-hmac-sha256` in the same run. chathooks keys each secret's
//! HMAC once, when the verifier is built; `raw-hmac-sha256-prekeyed` is the floor with that same
//! saving (the MAC state cloned from a keyed one), so `chathooks` / `raw-hmac-sha256-prekeyed`
//! is what the header handling, decoding and comparison cost on top of the hashing itself.
//!
//! After the criterion group the bench prints `chathooks` / `raw-hmac-sha256` (and / the
//! prekeyed floor) from alternating rounds of the two, as the median and range of the
//! per-round ratios: on a shared machine, criterion's separate reports of each function come
//! from different moments of the load.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chathooks::verify::{HmacSha256, StandardWebhooks, Verifier};
use chathooks::{Inbound, Secret};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

fn body() -> Vec<u8> {
    // Realistic JSON-ish bytes, 5 KiB.
    let unit = br#"{"type":"message.created","data":{"text":"hello there","n":12345}},"#;
    unit.iter().copied().cycle().take(5 * 1024).collect()
}

fn bench(c: &mut Criterion) {
    let body = body();
    // The peer reads the system clock, so sign for "now"; a run lasts far less than 300 s.
    let now = SystemTime::now();
    let ts = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let ours = StandardWebhooks::new(SECRET).unwrap();
    let sig = ours.sign(ID, now, &body);
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", ID.parse().unwrap());
    headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    headers.insert("webhook-signature", sig.parse().unwrap());

    // That the reference crate accepts our signatures (and we its) is a test:
    // tests/verify/standard.rs. Here it is only the peer being timed.
    let stdwh = standardwebhooks::Webhook::new(SECRET).unwrap();
    ours.verify_at(&Inbound::new(&headers, &body), now).unwrap();

    let key = Secret::standard(SECRET).unwrap();
    let raw_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&SECRET[6..])
            .unwrap()
    };
    assert_eq!(raw_key.len(), key.len());
    let ts_text = ts.to_string();

    let mut g = c.benchmark_group("standard-webhooks-5KiB");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("raw-hmac-sha256", |b| {
        b.iter(|| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(black_box(&raw_key)).unwrap();
            m.update(ID.as_bytes());
            m.update(b".");
            m.update(ts_text.as_bytes());
            m.update(b".");
            m.update(black_box(&body));
            black_box(m.finalize().into_bytes())
        })
    });
    let prekeyed = <Hmac<Sha256> as Mac>::new_from_slice(&raw_key).unwrap();
    g.bench_function("raw-hmac-sha256-prekeyed", |b| {
        b.iter(|| {
            let mut m = black_box(&prekeyed).clone();
            m.update(ID.as_bytes());
            m.update(b".");
            m.update(ts_text.as_bytes());
            m.update(b".");
            m.update(black_box(&body));
            black_box(m.finalize().into_bytes())
        })
    });
    g.bench_function("chathooks", |b| {
        b.iter(|| {
            let inbound = Inbound::new(black_box(&headers), black_box(&body));
            black_box(ours.verify_at(&inbound, now).unwrap().key_index())
        })
    });
    g.bench_function("standardwebhooks", |b| {
        b.iter(|| stdwh.verify(black_box(&body), black_box(&headers)).unwrap())
    });
    let github = HmacSha256::github(Secret::raw("It's a Secret to Everybody").unwrap());
    let gh_headers = github.sign(now, &body);
    g.bench_function("chathooks-hmac-github", |b| {
        b.iter(|| {
            let inbound = Inbound::new(black_box(&gh_headers), black_box(&body));
            black_box(github.verify_at(&inbound, now).unwrap().key_index())
        })
    });
    g.finish();

    // The same three computations as above, alternated round by round.
    let raw = || {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(black_box(&raw_key)).unwrap();
        m.update(ID.as_bytes());
        m.update(b".");
        m.update(ts_text.as_bytes());
        m.update(b".");
        m.update(black_box(&body));
        black_box(m.finalize().into_bytes());
    };
    let floor = || {
        let mut m = black_box(&prekeyed).clone();
        m.update(ID.as_bytes());
        m.update(b".");
        m.update(ts_text.as_bytes());
        m.update(b".");
        m.update(black_box(&body));
        black_box(m.finalize().into_bytes());
    };
    let inbound = Inbound::new(&headers, &body);
    let chathooks = || {
        black_box(
            ours.verify_at(black_box(&inbound), now)
                .unwrap()
                .key_index(),
        );
    };
    alternating_ratios(&raw, &floor, &chathooks);
}

/// Time `per_round` calls of each of `raw`, `floor` and `ours`, in an order that rotates every
/// round; print the median and range of `ours / raw` and `ours / floor` over the rounds. One
/// short round without `--bench` (CI's test mode).
fn alternating_ratios(raw: &dyn Fn(), floor: &dyn Fn(), ours: &dyn Fn()) {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if full { (21, 2000) } else { (1, 10) };
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..per_round {
            f();
        }
        start.elapsed()
    };
    let mut vs_raw = Vec::with_capacity(rounds);
    let mut vs_floor = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut t = [Duration::ZERO; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            t[which] = time([raw, floor, ours][which]);
        }
        vs_raw.push(t[2].as_secs_f64() / t[0].as_secs_f64());
        vs_floor.push(t[2].as_secs_f64() / t[1].as_secs_f64());
    }
    for (name, mut ratios) in [
        ("raw-hmac-sha256", vs_raw),
        ("raw-hmac-sha256-prekeyed", vs_floor),
    ] {
        ratios.sort_by(f64::total_cmp);
        println!(
            "standard-webhooks-5KiB: chathooks / {name} = {:.3} (median of {rounds} alternating \
             rounds of {per_round} calls, range {:.3}-{:.3})",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1],
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
