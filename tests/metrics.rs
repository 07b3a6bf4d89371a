//! Every counter and histogram of `chathooks::metrics`, driven over real HTTP on 127.0.0.1
//! through the axum adapter, read back from a recorder of the test's own.
//!
//! Its own test binary: a metrics recorder is process-global, and the main test binary runs
//! hundreds of deliveries in parallel that would land in the same counters.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chathooks::idempotency::{ClaimOutcome, ClaimToken, IdempotencyKey, StoreFuture};
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::metrics::{DELIVERIES_TOTAL, STAGE_DURATION_SECONDS, UNKNOWN_EVENTS_TOTAL};
use chathooks::platform::{sam::SamEvent, standard::StandardEvent};
use chathooks::verify::{HmacSha256, StandardWebhooks};
use chathooks::{Error, IdempotencyStore, Receiver, Secret};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

#[path = "support/logs.rs"]
mod logs;

const STANDARD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SAM_SECRET: &str = "sam-metrics-test-secret-0123456789";

// ---- a recorder of the test's own: every series by name and sorted labels --------------------

type Series = (String, Vec<(String, String)>);

#[derive(Default)]
struct TestRecorder {
    counters: Mutex<BTreeMap<Series, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<Series, Arc<Mutex<Vec<f64>>>>>,
    gauges: Mutex<BTreeMap<Series, Arc<AtomicU64>>>,
    /// Name → (unit, description), as described.
    described: Mutex<BTreeMap<String, (Option<Unit>, String)>>,
}

fn series(key: &Key) -> Series {
    let mut labels: Vec<_> = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    (key.name().to_owned(), labels)
}

/// The cell of `key`'s series in `map`, created on first use.
fn cell<T: Default>(map: &Mutex<BTreeMap<Series, Arc<T>>>, key: &Key) -> Arc<T> {
    Arc::clone(map.lock().unwrap().entry(series(key)).or_default())
}

/// The series of `name` with `labels` (in any order).
fn wanted(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut want: Vec<_> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    (name.to_owned(), want)
}

struct CounterCell(Arc<AtomicU64>);
impl metrics::CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}
struct GaugeCell(Arc<AtomicU64>);
impl metrics::GaugeFn for GaugeCell {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::SeqCst);
    }
}
struct HistogramCell(Arc<Mutex<Vec<f64>>>);
impl metrics::HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.describe(name, unit, text)
    }
    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.describe(name, unit, text)
    }
    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.describe(name, unit, text)
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(CounterCell(cell(&self.counters, key))))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(GaugeCell(cell(&self.gauges, key))))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(HistogramCell(cell(&self.histograms, key))))
    }
}

fn recorder() -> &'static TestRecorder {
    static RECORDER: OnceLock<&'static TestRecorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static TestRecorder = Box::leak(Box::default());
        metrics::set_global_recorder(r).expect("no other recorder in this binary");
        r
    })
}

impl TestRecorder {
    fn describe(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.described
            .lock()
            .unwrap()
            .insert(name.as_str().to_owned(), (unit, text.into_owned()));
    }
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(&wanted(name, labels))
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
    fn histogram_len(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.histograms
            .lock()
            .unwrap()
            .get(&wanted(name, labels))
            .map_or(0, |h| h.lock().unwrap().len())
    }
    fn series_of(&self, name: &str) -> BTreeSet<Vec<(String, String)>> {
        let c = self.counters.lock().unwrap();
        let h = self.histograms.lock().unwrap();
        c.keys()
            .chain(h.keys())
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

// ---- the server ------------------------------------------------------------------------------

/// A store that cannot answer (the fault a Redis outage produces), for the 503 outcome.
struct Down;
impl IdempotencyStore for Down {
    fn claim<'a>(&'a self, _: &'a IdempotencyKey, _: Duration) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async { Err(down()) })
    }
    fn complete<'a>(
        &'a self,
        _: &'a IdempotencyKey,
        _: ClaimToken,
        _: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(down()) })
    }
    fn release<'a>(&'a self, _: &'a IdempotencyKey, _: ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(down()) })
    }
}
fn down() -> Error {
    Error::StoreUnavailable {
        reason: "test store is down".into(),
        retry_after: Duration::from_secs(2),
    }
}

async fn standard(headers: HeaderMap, hook: Webhook<StandardEvent>) -> StatusCode {
    assert!(!hook.event.event_type.is_empty());
    if let Some(ms) = headers.get("x-test-sleep-ms") {
        let ms: u64 = ms.to_str().unwrap().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if headers.contains_key("x-test-panic") {
        panic!("test handler panics on purpose");
    }
    if headers.contains_key("x-test-fail") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn sam(_: Webhook<SamEvent>) -> StatusCode {
    StatusCode::OK
}

async fn serve() -> String {
    let standard_rx = Arc::new(
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap())
            .body_limit(4096)
            .build(),
    );
    let down_rx = Arc::new(
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap())
            .store(Down)
            .namespace("down")
            .build(),
    );
    let sam_rx = Arc::new(
        Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap())).build(),
    );
    let app = Router::new()
        .route("/standard", post(standard).with_state(standard_rx))
        .route("/down", post(standard).with_state(down_rx))
        .route("/sam", post(sam).with_state(sam_rx))
        .layer(WebhookLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn standard_request(
    c: &reqwest::Client,
    url: &str,
    id: &str,
    at: SystemTime,
    body: &[u8],
) -> reqwest::RequestBuilder {
    let v = StandardWebhooks::new(STANDARD_SECRET).unwrap();
    let ts = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    c.post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", v.sign(id, at, body))
        .body(body.to_vec())
}

/// A Standard Webhooks delivery with a well-formed signature that does not match (401).
fn forged_request(
    c: &reqwest::Client,
    url: &str,
    id: &str,
    at: SystemTime,
    body: &'static [u8],
) -> reqwest::RequestBuilder {
    let ts = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    c.post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .body(body)
}

/// The tests read shared counters: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BODY: &[u8] =
    br#"{"type":"contact.created","timestamp":"2024-01-01T00:00:00Z","data":{"id":"c1"}}"#;

fn deliveries(outcome: &str, status: &str) -> u64 {
    recorder().counter(
        DELIVERIES_TOTAL,
        &[
            ("vendor", "standard_webhooks"),
            ("outcome", outcome),
            ("status", status),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_and_stage_is_counted() {
    let _serial = SERIAL.lock().await;
    let r = recorder();
    let base = serve().await;
    let c = client();
    let url = format!("{base}/standard");
    let now = SystemTime::now();
    let before: BTreeMap<(&str, &str), u64> = [
        ("accepted", "200"),
        ("duplicate", "200"),
        ("accepted", "500"),
        ("rejected_signature", "401"),
        ("rejected_signature", "400"),
        ("rejected_timestamp", "401"),
        ("rejected_parse", "422"),
        ("too_large", "413"),
        ("in_flight", "409"),
        ("store_unavailable", "503"),
    ]
    .into_iter()
    .map(|k| (k, deliveries(k.0, k.1)))
    .collect();
    let deliveries =
        |outcome: &str, status: &str| deliveries(outcome, status) - before[&(outcome, status)];
    let stage_before = |s: &str| {
        r.histogram_len(
            STAGE_DURATION_SECONDS,
            &[("vendor", "standard_webhooks"), ("stage", s)],
        )
    };
    let stages_before: BTreeMap<&str, usize> = ["verify", "dedupe", "parse", "handler"]
        .into_iter()
        .map(|s| (s, stage_before(s)))
        .collect();
    // The name has its own series unless the other test filled the per-vendor bound first.
    let unknown_events = || {
        r.counter(
            UNKNOWN_EVENTS_TOTAL,
            &[("vendor", "sam"), ("name", "lead.teleported")],
        ) + r.counter(
            UNKNOWN_EVENTS_TOTAL,
            &[("vendor", "sam"), ("name", "other")],
        )
    };
    let unknown_before = unknown_events();

    // accepted (handler 200), then its duplicate
    let res = standard_request(&c, &url, "msg_m1", now, BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(deliveries("accepted", "200"), 1);
    let res = standard_request(&c, &url, "msg_m1", now, BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(deliveries("duplicate", "200"), 1);

    // accepted, but the handler failed: counted with the handler's status
    let res = standard_request(&c, &url, "msg_m2", now, BODY)
        .header("x-test-fail", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(deliveries("accepted", "500"), 1);

    // accepted, but the handler panicked: axum drops the connection; counted as a 500
    let res = standard_request(&c, &url, "msg_m2p", now, BODY)
        .header("x-test-panic", "1")
        .send()
        .await;
    assert!(res.is_err(), "the connection is dropped: {res:?}");
    assert_eq!(deliveries("accepted", "500"), 2);

    // wrong signature (401) and missing signature header (400)
    let res = forged_request(&c, &url, "msg_m3", now, BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(deliveries("rejected_signature", "401"), 1);
    let res = c
        .post(&url)
        .header("webhook-id", "msg_m4")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(deliveries("rejected_signature", "400"), 1);

    // stale timestamp
    let res = standard_request(&c, &url, "msg_m5", now - Duration::from_secs(3600), BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(deliveries("rejected_timestamp", "401"), 1);

    // verified but unparseable
    let res = standard_request(&c, &url, "msg_m6", now, br#"{"type":"x","data":[}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(deliveries("rejected_parse", "422"), 1);

    // over the limit (declared length, answered before reading)
    let big = vec![b' '; 8192];
    let res = standard_request(&c, &url, "msg_m7", now, &big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(deliveries("too_large", "413"), 1);

    // in flight: a second copy while the first handler sleeps
    let first = tokio::spawn(
        standard_request(&c, &url, "msg_m8", now, BODY)
            .header("x-test-sleep-ms", "600")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = standard_request(&c, &url, "msg_m8", now, BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(deliveries("in_flight", "409"), 1);

    // store unavailable
    let res = standard_request(&c, &format!("{base}/down"), "msg_m9", now, BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(deliveries("store_unavailable", "503"), 1);

    // Every stage timed; parse only for deliveries that reached it.
    let stage = |s: &str| stage_before(s) - stages_before[s];
    assert!(stage("verify") >= 9, "verify: {}", stage("verify"));
    assert!(stage("dedupe") >= 5, "dedupe: {}", stage("dedupe"));
    assert!(stage("parse") >= 4, "parse: {}", stage("parse"));
    assert_eq!(
        stage("handler"),
        4,
        "four handler runs ended (one in a panic)"
    );

    // Schema drift: an event Sam's typed parser does not know.
    let sam_url = format!("{base}/sam");
    let signer = HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap());
    let unknown = br#"{"event":"lead.teleported","data":{"id":"l1"}}"#;
    let mut req = c.post(&sam_url).body(unknown.to_vec());
    for (k, v) in signer.sign(now, unknown).iter() {
        req = req.header(k, v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(unknown_events() - unknown_before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_stay_bounded_under_a_thousand_event_ids() {
    let _serial = SERIAL.lock().await;
    let r = recorder();
    let base = serve().await;
    let c = client();
    let url = format!("{base}/standard");
    let now = SystemTime::now();
    for i in 0..1000 {
        let res = standard_request(&c, &url, &format!("msg_bound_{i}"), now, BODY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // Unknown event names are signed content, but still bounded per vendor.
    let signer = HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap());
    for i in 0..200 {
        let body = format!(r#"{{"event":"drift.{i}","data":{{"id":"d{i}"}}}}"#);
        let mut req = c.post(format!("{base}/sam")).body(body.clone());
        for (k, v) in signer.sign(now, body.as_bytes()).iter() {
            req = req.header(k, v);
        }
        assert_eq!(req.send().await.unwrap().status(), 200);
    }
    for name in [DELIVERIES_TOTAL, STAGE_DURATION_SECONDS] {
        let all = r.series_of(name);
        assert!(all.len() < 40, "{name}: {} series", all.len());
        for labels in &all {
            for (_, v) in labels {
                assert!(!v.starts_with("msg_"), "{name} carries an id: {labels:?}");
            }
        }
    }
    let unknown = r.series_of(UNKNOWN_EVENTS_TOTAL);
    assert!(
        unknown.len() <= chathooks::metrics::MAX_UNKNOWN_NAMES + 2,
        "{} unknown-name series",
        unknown.len()
    );
    assert!(
        r.counter(
            UNKNOWN_EVENTS_TOTAL,
            &[("vendor", "sam"), ("name", "other")]
        ) > 0
    );
}

/// The per-delivery span carries the fields an OpenTelemetry exporter maps (vendor, signed
/// delivery id, outcome, status) and never a secret, a signature or a body.
#[test]
fn spans_carry_otel_fields_and_no_secrets() {
    // Its deliveries count in the same series the other tests read.
    let _serial = SERIAL.blocking_lock();

    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body: &[u8] = br#"{"type":"lead.captured","data":{"email":"span-marker@example.com"}}"#;
    let signer = StandardWebhooks::new(STANDARD_SECRET).unwrap();
    let signature = signer.sign("msg_span", at, body);
    let ((), logs) = logs::capture_logs(|| async {
        let receiver =
            Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap())
                .build();
        let mut h = http::HeaderMap::new();
        h.insert("webhook-id", "msg_span".parse().unwrap());
        h.insert("webhook-timestamp", "1700000000".parse().unwrap());
        h.insert("webhook-signature", signature.parse().unwrap());
        let inbound = chathooks::Inbound::new(&h, body);
        match receiver.receive_at(&inbound, at).await.unwrap() {
            chathooks::Received::Fresh(d) => d.complete().await.unwrap(),
            other => panic!("fresh expected: {other:?}"),
        };
        let _ = receiver.receive_at(&inbound, at).await.unwrap(); // duplicate
        h.insert(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
                .parse()
                .unwrap(),
        );
        let inbound = chathooks::Inbound::new(&h, body);
        assert!(receiver.receive_at(&inbound, at).await.is_err());
    });
    for field in [
        "vendor=\"standard_webhooks\"",
        "delivery_id=\"msg_span\"",
        "outcome=\"accepted\"",
        "outcome=\"duplicate\"",
        "outcome=\"rejected_signature\"",
        "http.response.status_code=200",
        "http.response.status_code=401",
    ] {
        assert!(logs.contains(field), "missing {field} in:\n{logs}");
    }
    for leak in [
        "C2FVsBQIhrscChlQIMV",
        signature.trim_start_matches("v1,"),
        "span-marker",
        "AAAAAAAAAAAA",
    ] {
        assert!(!logs.contains(leak), "{leak:?} leaked:\n{logs}");
    }
}

/// The worker's counters (handled, retried, dead) and the inbox gauges, from a real run of a
/// `Worker` on a `MemoryInbox`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_counters_and_inbox_gauges() {
    use chathooks::inbox::{Inbox, MemoryInbox, NewEntry};
    use chathooks::metrics::{
        INBOX_ENTRIES, WORKER_ATTEMPTS_TOTAL, WORKER_DEAD_LETTERS_TOTAL, WORKER_RETRIES_TOTAL,
    };
    use chathooks::worker::{Job, RetryPolicy, Worker};

    let _serial = SERIAL.lock().await;
    let r = recorder();
    let ns = "sam:metrics-worker";
    let count = |name: &str, outcome: Option<&str>| match outcome {
        Some(o) => r.counter(name, &[("namespace", ns), ("outcome", o)]),
        None => r.counter(name, &[("namespace", ns)]),
    };
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let put = |id: &str, body: String| {
        let key = IdempotencyKey::new(ns, id).unwrap();
        NewEntry::new(ns, "sam", key, body.into_bytes())
    };
    let lead = |id: &str| format!(r#"{{"event":"lead.captured","data":{{"id":"{id}"}}}}"#);
    for i in 0..5 {
        inbox
            .put(put(&format!("ok{i}"), lead(&format!("ok{i}"))))
            .await
            .unwrap();
    }
    inbox.put(put("flaky", lead("flaky"))).await.unwrap(); // fails once, then succeeds
    inbox.put(put("poison", lead("poison"))).await.unwrap(); // always fails: dead
    inbox.put(put("broken", "{not json".into())).await.unwrap(); // cannot parse: dead at once

    let flaky_runs = Arc::new(AtomicU64::new(0));
    let runs = Arc::clone(&flaky_runs);
    let worker = Worker::from_arc(Arc::clone(&inbox))
        .route_namespace::<SamEvent, _>(ns, move |job: Job<SamEvent>| {
            let runs = Arc::clone(&runs);
            async move {
                let id = job
                    .entry()
                    .key
                    .as_str()
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if id == "poison" || (id == "flaky" && runs.fetch_add(1, Ordering::SeqCst) == 0) {
                    return Err(std::io::Error::other("handler failed on purpose"));
                }
                Ok(())
            }
        })
        .retry(
            RetryPolicy::default()
                .schedule(vec![Duration::from_millis(20)])
                .unwrap()
                .jitter(0.0)
                .unwrap(),
        )
        .stats_every(Duration::from_millis(20));
    let report = worker
        .run(tokio::time::sleep(Duration::from_millis(1500)))
        .await;
    assert!(format!("{report:?}").contains("handled"), "{report:?}");

    assert_eq!(
        count(WORKER_ATTEMPTS_TOTAL, Some("ok")),
        6,
        "five leads and the flaky one"
    );
    assert_eq!(
        count(WORKER_ATTEMPTS_TOTAL, Some("retry")),
        2,
        "flaky and poison once each"
    );
    assert_eq!(
        count(WORKER_ATTEMPTS_TOTAL, Some("dead")),
        2,
        "poison and broken"
    );
    assert_eq!(count(WORKER_RETRIES_TOTAL, None), 2);
    assert_eq!(count(WORKER_DEAD_LETTERS_TOTAL, None), 2);
    // The gauges were read from the inbox after the work was done.
    let gauge = |state: &str| {
        let g = r.gauges.lock().unwrap();
        g.get(&(
            INBOX_ENTRIES.to_owned(),
            vec![("state".to_owned(), state.to_owned())],
        ))
        .map(|v| f64::from_bits(v.load(Ordering::SeqCst)))
    };
    assert_eq!(gauge("done"), Some(6.0));
    assert_eq!(gauge("dead"), Some(2.0));
    assert_eq!(gauge("pending"), Some(0.0));
}

/// Inbox mode answers the sender itself, so `Receiver::accept` counts every outcome and times
/// the `inbox_put` stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_mode_counts_every_outcome_and_times_the_put() {
    use chathooks::inbox::{Inbox, MemoryInbox, NewEntry};
    use chathooks::integrations::axum::inbox_route;

    let _serial = SERIAL.lock().await;
    let r = recorder();
    let inbox_rx = |inbox: Arc<dyn Inbox>| {
        Arc::new(
            Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap())
                .inbox_arc(inbox)
                .build(),
        )
    };
    let full = MemoryInbox::with_limits(1, 1 << 20);
    full.put(NewEntry::new(
        "x",
        "x",
        IdempotencyKey::new("x", "filler").unwrap(),
        &b"{}"[..],
    ))
    .await
    .unwrap();
    let app: Router = Router::new()
        .route(
            "/inbox",
            inbox_route(inbox_rx(Arc::new(MemoryInbox::new()))),
        )
        .route("/full", inbox_route(inbox_rx(Arc::new(full))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let stage = |name: &str| {
        r.histogram_len(
            STAGE_DURATION_SECONDS,
            &[("vendor", "standard_webhooks"), ("stage", name)],
        )
    };
    let before = [
        deliveries("accepted", "200"),
        deliveries("duplicate", "200"),
        deliveries("rejected_signature", "401"),
        deliveries("store_unavailable", "503"),
    ];
    let (puts, verifies) = (stage("inbox_put"), stage("verify"));
    let c = client();
    let now = SystemTime::now();
    let send = |path: &str, id: &str| standard_request(&c, &format!("{url}{path}"), id, now, BODY);
    assert_eq!(
        send("/inbox", "msg_inbox_m1")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send("/inbox", "msg_inbox_m1")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let forged = forged_request(&c, &format!("{url}/inbox"), "msg_inbox_m2", now, BODY);
    assert_eq!(forged.send().await.unwrap().status(), 401);
    assert_eq!(
        send("/full", "msg_inbox_m3").send().await.unwrap().status(),
        503
    );

    let after = [
        deliveries("accepted", "200"),
        deliveries("duplicate", "200"),
        deliveries("rejected_signature", "401"),
        deliveries("store_unavailable", "503"),
    ];
    let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(
        delta,
        [1, 1, 1, 1],
        "accepted, duplicate, rejected_signature, store_unavailable"
    );
    assert_eq!(
        stage("inbox_put") - puts,
        3,
        "every put is timed, the failed one too"
    );
    assert_eq!(stage("verify") - verifies, 4);
}

/// A forged flood is logged a few lines at a time (the receiver's WARN lines are rate-limited)
/// but counted in full; compressed bodies that are refused are counted by their own outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_flood_is_counted_in_full() {
    let _serial = SERIAL.lock().await;
    let base = serve().await;
    let c = client();
    let url = format!("{base}/standard");
    let now = SystemTime::now();
    let forged = deliveries("rejected_signature", "401");
    let encoding = deliveries("rejected_encoding", "415");
    for i in 0..1000 {
        let res = forged_request(&c, &url, &format!("msg_forged_{i}"), now, BODY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    assert_eq!(deliveries("rejected_signature", "401") - forged, 1000);
    #[cfg(feature = "compression")]
    for _ in 0..3 {
        let res = standard_request(&c, &url, "msg_br", now, BODY)
            .header("content-encoding", "br")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415);
    }
    #[cfg(feature = "compression")]
    assert_eq!(deliveries("rejected_encoding", "415") - encoding, 3);
    let _ = encoding;
}

/// Every metric reaches the recorder with its unit and a description (Prometheus `# HELP`,
/// OpenTelemetry units) once chathooks has recorded anything, without the service calling
/// `describe()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_is_described_with_its_unit() {
    let _serial = SERIAL.lock().await;
    let r = recorder();
    // One delivery straight through a receiver: its first record describes every metric.
    let at = SystemTime::now();
    let signer = StandardWebhooks::new(STANDARD_SECRET).unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", "msg_described".parse().unwrap());
    let ts = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    h.insert(
        "webhook-signature",
        signer.sign("msg_described", at, BODY).parse().unwrap(),
    );
    let receiver =
        Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap()).build();
    let inbound = chathooks::Inbound::new(&h, BODY);
    let _ = receiver.receive_at(&inbound, at).await.unwrap();
    let described = r.described.lock().unwrap().clone();
    for (name, unit) in [
        (DELIVERIES_TOTAL, Unit::Count),
        (UNKNOWN_EVENTS_TOTAL, Unit::Count),
        (STAGE_DURATION_SECONDS, Unit::Seconds),
        (chathooks::metrics::INBOX_ENTRIES, Unit::Count),
        (
            chathooks::metrics::INBOX_OLDEST_PENDING_AGE_SECONDS,
            Unit::Seconds,
        ),
        (chathooks::metrics::WORKER_ATTEMPTS_TOTAL, Unit::Count),
        (chathooks::metrics::WORKER_RETRIES_TOTAL, Unit::Count),
        (chathooks::metrics::WORKER_DEAD_LETTERS_TOTAL, Unit::Count),
    ] {
        let (got, text) = described
            .get(name)
            .unwrap_or_else(|| panic!("{name} not described: {described:?}"));
        assert_eq!(*got, Some(unit), "{name}");
        assert!(text.len() > 20, "{name}: {text:?}");
    }
}
