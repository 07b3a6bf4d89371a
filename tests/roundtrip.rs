//! The reference sender against the axum receiver example, over real sockets on 127.0.0.1.
//!
//! - Every generated sample of every documented event of every vendor is signed with the
//!   vendor's scheme and the example's demo secrets, and delivered twice over: to the example's
//!   own router (which must answer 200, then 200 "duplicate" to a redelivery), and to a router
//!   built here with the same receivers whose handlers record the event they were handed, so the
//!   typed and normalised events can be compared with what was generated. The example's handlers
//!   only print what they parsed, which a test cannot read back.
//! - A handler that fails twice: the sender's schedule (on a virtual clock) delivers on the
//!   third attempt, the handler ran three times, and a later redelivery of the same message is
//!   answered 200 without running it.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use chathooks::event::Vendor;
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::integrations::DeliveryInfo;
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::sender::{
    samples, Delivery, Endpoint, Message, Outcome, RetryPolicy, Sender, Signing, VirtualClock,
};
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::{Event, Receiver, Secret};

// tests/integrations/examples.rs loads the same file privately; a second copy here keeps the
// two test areas independent.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/receiver.rs"]
mod receiver_example;

use receiver_example::Config;

/// Seeds per event: SaleSmartly's `message` has five shapes, picked by `seed % 5`.
const SEEDS: u64 = 5;

/// What a recording handler was handed.
#[derive(Debug, Clone)]
struct Seen {
    vendor: Vendor,
    name: String,
    /// `Debug` of the typed event: vendor events are not `PartialEq`, and their `Debug` shows
    /// the variant and every field.
    typed: String,
    normalized: Event,
    info: DeliveryInfo,
    /// The signed timestamp the request carried (header or query), for timestamped schemes.
    timestamp: Option<u64>,
}

/// Shared by every route of a recording router: what the handlers saw, and the statuses they
/// answer next (200 once the script is empty).
#[derive(Clone, Default)]
struct Log {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<StatusCode>>>,
}

impl Log {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn fail_next(&self, statuses: &[StatusCode]) {
        self.script.lock().unwrap().extend(statuses.iter().copied());
    }
}

/// One route's state: its receiver (found by the extractor via `FromRef`) and the log.
struct RouteState<E> {
    receiver: Arc<Receiver<E>>,
    log: Log,
}

impl<E> Clone for RouteState<E> {
    fn clone(&self) -> Self {
        RouteState {
            receiver: self.receiver.clone(),
            log: self.log.clone(),
        }
    }
}

impl<E> FromRef<RouteState<E>> for Arc<Receiver<E>> {
    fn from_ref(state: &RouteState<E>) -> Self {
        state.receiver.clone()
    }
}

impl<E> FromRef<RouteState<E>> for Log {
    fn from_ref(state: &RouteState<E>) -> Self {
        state.log.clone()
    }
}

async fn record<E: VendorEvent + Debug>(
    State(log): State<Log>,
    headers: HeaderMap,
    uri: Uri,
    hook: Webhook<E>,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    };
    let query_timestamp = || {
        uri.query()?
            .split('&')
            .find_map(|kv| kv.strip_prefix("timestamp="))?
            .parse()
            .ok()
    };
    let timestamp = header("webhook-timestamp")
        .or_else(|| header("x-chatwoot-timestamp"))
        .or_else(query_timestamp);
    log.seen.lock().unwrap().push(Seen {
        vendor: E::VENDOR,
        name: hook.event.name().to_owned(),
        typed: format!("{:?}", hook.event),
        normalized: hook.event.normalize(),
        info: hook.info.clone(),
        timestamp,
    });
    log.script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK)
}

fn route<E: VendorEvent + Debug>(receiver: Receiver<E>, log: &Log) -> axum::routing::MethodRouter {
    post(record::<E>).with_state(RouteState {
        receiver: Arc::new(receiver),
        log: log.clone(),
    })
}

/// The same routes, verifiers, secrets and receiver options as the example's `router`, with
/// recording handlers.
fn recording_router(c: &Config, log: &Log) -> Router {
    let raw = |s: &str| Secret::raw(s).unwrap();
    Router::new()
        .route(
            "/webhooks/sam",
            route(
                Receiver::<SamEvent>::builder(HmacSha256::sam(raw(&c.sam_secret.value))).build(),
                log,
            ),
        )
        .route(
            "/webhooks/saleassist",
            route(
                Receiver::<SaleAssistEvent>::builder(
                    Token::new(c.saleassist_header.clone(), &c.saleassist_token.value).unwrap(),
                )
                .repair(true)
                .build(),
                log,
            ),
        )
        .route(
            "/webhooks/salesmartly",
            route(
                Receiver::<SaleSmartlyEvent>::builder(
                    SaleSmartly::new(&c.salesmartly_secret.value).unwrap(),
                )
                .build(),
                log,
            ),
        )
        .route(
            "/webhooks/buzzi",
            route(
                Receiver::<BuzziEvent>::builder(HmacSha256::buzzi(raw(&c.buzzi_secret.value)))
                    .build(),
                log,
            ),
        )
        .route(
            "/webhooks/conversalabs",
            route(
                Receiver::<ConversaLabsEvent>::builder(HmacSha256::conversalabs(raw(&c
                    .conversalabs_secret
                    .value)))
                .build(),
                log,
            ),
        )
        .route(
            "/webhooks/standard",
            route(
                Receiver::<StandardEvent>::builder(
                    StandardWebhooks::new(&c.standard_secret.value).unwrap(),
                )
                .build(),
                log,
            ),
        )
        .layer(WebhookLayer::new())
}

/// Serve `app` on an ephemeral loopback port until the test's runtime ends.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The example's route for `vendor`.
fn path(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Sam => "/webhooks/sam",
        Vendor::SaleAssist => "/webhooks/saleassist",
        Vendor::SaleSmartly => "/webhooks/salesmartly",
        Vendor::Buzzi => "/webhooks/buzzi",
        Vendor::ConversaLabs => "/webhooks/conversalabs",
        Vendor::StandardWebhooks => "/webhooks/standard",
        other => panic!("no route for {other}"),
    }
}

/// The vendor's signing scheme with the example's demo secret. SaleAssist lets users name the
/// token header, and the example names it differently from `SALEASSIST_TOKEN_HEADER`: use the
/// example's configuration.
fn signing(c: &Config, vendor: Vendor) -> Signing {
    let secret = match vendor {
        Vendor::SaleAssist => {
            return Signing::token(&c.saleassist_header, &c.saleassist_token.value).unwrap()
        }
        Vendor::Sam => &c.sam_secret,
        Vendor::SaleSmartly => &c.salesmartly_secret,
        Vendor::Buzzi => &c.buzzi_secret,
        Vendor::ConversaLabs => &c.conversalabs_secret,
        Vendor::StandardWebhooks => &c.standard_secret,
        other => panic!("no secret for {other}"),
    };
    Signing::for_vendor(vendor, &[secret.value.as_str()]).unwrap()
}

fn endpoint(addr: SocketAddr, c: &Config, vendor: Vendor) -> Endpoint {
    Endpoint::new(
        &format!("http://{addr}{}", path(vendor)),
        signing(c, vendor),
    )
    .unwrap()
}

/// What `VendorEvent::from_slice` makes of the generated body: (name, typed `Debug`, normalised).
fn expected(vendor: Vendor, body: &[u8]) -> (String, String, Event) {
    fn go<E: VendorEvent + Debug>(body: &[u8]) -> (String, String, Event) {
        let e = E::from_slice(body)
            .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(body)));
        (e.name().to_owned(), format!("{e:?}"), e.normalize())
    }
    match vendor {
        Vendor::Sam => go::<SamEvent>(body),
        Vendor::SaleAssist => go::<SaleAssistEvent>(body),
        Vendor::SaleSmartly => go::<SaleSmartlyEvent>(body),
        Vendor::Buzzi => go::<BuzziEvent>(body),
        Vendor::ConversaLabs => go::<ConversaLabsEvent>(body),
        Vendor::StandardWebhooks => go::<StandardEvent>(body),
        other => panic!("no parser for {other}"),
    }
}

/// Loopback only, so http and private addresses are allowed explicitly.
fn local_sender() -> chathooks::sender::SenderBuilder {
    Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
}

/// Delivered with 200 on the first and only attempt; the response body.
fn delivered_at_once(d: &Delivery, what: &str) -> String {
    assert_eq!(
        d.outcome,
        Outcome::Delivered { status: 200 },
        "{what}: {d:?}"
    );
    assert_eq!(d.attempts.len(), 1, "{what}: {d:?}");
    d.attempts[0].response_excerpt.clone()
}

/// Delivery ids travel in the signature headers for these schemes (`webhook-id`,
/// `X-Chatwoot-Delivery`); the others dedupe by the payload's event id or the body's hash.
/// The delivery id from the field matching how the vendor sends it: Standard Webhooks signs
/// `webhook-id`, ConversaLabs' `X-Chatwoot-Delivery` is not signed. The other field must be
/// empty.
fn delivery_ids(vendor: Vendor, info: &chathooks::integrations::DeliveryInfo) -> Option<&str> {
    let (right, wrong) = if vendor == Vendor::StandardWebhooks {
        (&info.signed_delivery_id, &info.unsigned_delivery_id)
    } else {
        (&info.unsigned_delivery_id, &info.signed_delivery_id)
    };
    assert_eq!(wrong, &None, "{vendor}");
    right.as_deref()
}

fn carries_delivery_id(vendor: Vendor) -> bool {
    matches!(vendor, Vendor::StandardWebhooks | Vendor::ConversaLabs)
}

/// These schemes sign a timestamp (header or query); Sam, Buzzi and SaleAssist's token do not.
fn carries_timestamp(vendor: Vendor) -> bool {
    matches!(
        vendor,
        Vendor::StandardWebhooks | Vendor::ConversaLabs | Vendor::SaleSmartly
    )
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_of_every_vendor_round_trips_through_the_receiver_example() {
    let config = Config::demo();
    let example =
        serve(receiver_example::router(&config, "127.0.0.1:3000".parse().unwrap()).unwrap()).await;
    let log = Log::default();
    let recording = serve(recording_router(&config, &log)).await;
    // The receivers check timestamps against the system clock, so the sender uses it too. No
    // retries: any refusal shows up as the outcome of the one attempt.
    let sender = local_sender()
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .unwrap();

    let mut covered = BTreeSet::new();
    let mut sent = 0;
    for seed in 0..SEEDS {
        for sample in samples::all(seed) {
            let vendor = sample.vendor;
            let what = format!("{vendor} `{}` seed {seed}", sample.event);
            let message = Message::new(sample.body.clone());

            // The example itself: 200 (verified and parsed, or it would answer 401/422), then a
            // redelivery of the same message is a duplicate.
            let to_example = endpoint(example, &config, vendor);
            let first = sender.deliver(&to_example, &message).await;
            let body = delivered_at_once(&first, &what);
            assert!(!body.contains("duplicate"), "{what}: {body}");
            let again = sender.deliver(&to_example, &message).await;
            let body = delivered_at_once(&again, &what);
            assert!(body.contains("duplicate"), "{what}: {body}");

            // The same receivers with recording handlers: the event handed to the handler is
            // the one generated.
            let before = log.len();
            let d = sender
                .deliver(&endpoint(recording, &config, vendor), &message)
                .await;
            delivered_at_once(&d, &what);
            let seen = log.seen();
            assert_eq!(seen.len(), before + 1, "{what}: handler ran once");
            let seen = seen.last().unwrap();
            let (name, typed, normalized) = expected(vendor, &sample.body);
            assert_eq!(seen.vendor, vendor, "{what}");
            assert!(name.eq_ignore_ascii_case(sample.event), "{what}: {name}");
            assert!(!typed.starts_with("Unknown"), "{what} parsed as Unknown");
            assert_eq!(seen.name, name, "{what}");
            assert_eq!(seen.typed, typed, "{what}");
            assert_eq!(seen.normalized, normalized, "{what}");
            assert_eq!(seen.normalized.vendor, vendor, "{what}");
            assert!(seen.info.repairs.is_empty(), "{what}: {:?}", seen.info);
            assert!(
                seen.info.key.as_str().starts_with(vendor.as_str()),
                "{what}: {:?}",
                seen.info.key
            );
            if carries_delivery_id(vendor) {
                assert_eq!(
                    delivery_ids(vendor, &seen.info),
                    Some(first.message_id.as_str()),
                    "{what}"
                );
            }
            if carries_timestamp(vendor) {
                assert_eq!(seen.timestamp, Some(unix(d.attempts[0].at)), "{what}");
            }
            covered.insert((vendor, sample.event));
            sent += 1;
        }
    }

    let documented: BTreeSet<_> = samples::VENDORS
        .into_iter()
        .flat_map(|v| samples::events(v).into_iter().map(move |e| (v, e)))
        .collect();
    assert_eq!(covered, documented, "every documented event was sent");
    assert_eq!(sent, documented.len() * SEEDS as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_is_retried_then_duplicates_are_not_handled_again() {
    let config = Config::demo();
    let log = Log::default();
    let server = serve(recording_router(&config, &log)).await;

    for vendor in samples::VENDORS {
        // The default schedule (5 s, then 5 min; no jitter) on a virtual clock started 150 s in
        // the past: the three attempts are signed at -150 s, -145 s and +155 s of real time,
        // inside the 300 s tolerance the receivers check against the system clock.
        let clock = VirtualClock::new(SystemTime::now() - Duration::from_secs(150));
        let sender = local_sender()
            .clock(Arc::new(clock.clone()))
            .retry_policy(RetryPolicy::default().jitter(0.0).unwrap())
            .build()
            .unwrap();
        let event = samples::events(vendor)[0];
        let sample = samples::generate(vendor, event, 11).unwrap();
        let message =
            Message::with_id(&format!("msg_retry_{vendor}"), sample.body.clone()).unwrap();
        let ep = endpoint(server, &config, vendor);
        let what = format!("{vendor} `{event}`");

        let before = log.len();
        log.fail_next(&[StatusCode::INTERNAL_SERVER_ERROR; 2]);
        let d = sender.deliver(&ep, &message).await;
        assert_eq!(
            d.outcome,
            Outcome::Delivered { status: 200 },
            "{what}: {d:?}"
        );
        assert_eq!(d.message_id, "msg_retry_".to_owned() + vendor.as_str());
        let statuses: Vec<_> = d.attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Some(500), Some(500), Some(200)], "{what}");
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(5), Duration::from_secs(300)],
            "{what}"
        );
        let at: Vec<_> = d.attempts.iter().map(|a| a.at).collect();
        assert_eq!(at[1].duration_since(at[0]).unwrap(), Duration::from_secs(5));
        assert_eq!(
            at[2].duration_since(at[1]).unwrap(),
            Duration::from_secs(300)
        );

        let seen: Vec<Seen> = log.seen().split_off(before);
        assert_eq!(seen.len(), 3, "{what}: the handler ran three times");
        let (name, typed, normalized) = expected(vendor, &sample.body);
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(
                (s.vendor, &s.name, &s.typed),
                (vendor, &name, &typed),
                "{what}"
            );
            assert_eq!(s.normalized, normalized, "{what}");
            // One delivery: the same dedupe key each time (released after each 500).
            assert_eq!(s.info.key, seen[0].info.key, "{what}");
            if carries_delivery_id(vendor) {
                assert_eq!(delivery_ids(vendor, &s.info), Some(d.message_id.as_str()));
            }
            if carries_timestamp(vendor) {
                assert_eq!(s.timestamp, Some(unix(at[i])), "{what}: fresh timestamp");
            }
        }

        // Later, the same message again (a sender that lost the 200, a replay): answered 200
        // as a duplicate, the handler does not run.
        clock.advance(Duration::from_secs(60));
        let again = sender.deliver(&ep, &message).await;
        let body = delivered_at_once(&again, &what);
        assert!(body.contains("duplicate"), "{what}: {body}");
        assert_eq!(log.len(), before + 3, "{what}: handler not run again");
    }
}
