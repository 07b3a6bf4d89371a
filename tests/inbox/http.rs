//! Inbox routes over real HTTP on 127.0.0.1, for the axum and the actix-web adapter: stored
//! deliveries answered 200 with the configured body (SaleSmartly's convention included),
//! duplicates stored once, 401/413/422 storing nothing, 503 + Retry-After when the inbox is
//! full, and the stored bytes exactly as sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use chathooks::inbox::{Inbox, ListFilter, MemoryInbox};
use chathooks::platform::salesmartly::SaleSmartlyEvent;
use chathooks::platform::sam::SamEvent;
use chathooks::platform::standard::StandardEvent;
use chathooks::receiver::InboxResponse;
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks};
use chathooks::{Receiver, Secret};

const STANDARD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SAM_SECRET: &str = "sam-inbox-test-secret-0123456789";
const SALESMARTLY_KEY: &str = "salesmartly-inbox-test-key-0123";
const LIMIT: usize = 8 * 1024;

struct Receivers {
    standard: Arc<Receiver<StandardEvent>>,
    sam: Arc<Receiver<SamEvent>>,
    salesmartly: Arc<Receiver<SaleSmartlyEvent>>,
    custom: Arc<Receiver<StandardEvent>>,
}

fn receivers(inbox: Arc<dyn Inbox>) -> Receivers {
    Receivers {
        standard: Arc::new(
            Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap())
                .inbox_arc(inbox.clone())
                .body_limit(LIMIT)
                .build(),
        ),
        sam: Arc::new(
            Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap()))
                .inbox_arc(inbox.clone())
                .build(),
        ),
        salesmartly: Arc::new(
            Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(SALESMARTLY_KEY).unwrap())
                .inbox_arc(inbox.clone())
                .build(),
        ),
        custom: Arc::new(
            Receiver::<StandardEvent>::builder(StandardWebhooks::new(STANDARD_SECRET).unwrap())
                .namespace("standard:custom")
                .inbox_arc(inbox)
                .inbox_response(
                    InboxResponse::text("thanks").with_status(http::StatusCode::ACCEPTED),
                )
                .build(),
        ),
    }
}

#[cfg(feature = "axum")]
async fn axum_server(inbox: Arc<dyn Inbox>) -> SocketAddr {
    use chathooks::integrations::axum::inbox_route;
    let r = receivers(inbox);
    let app: axum::Router = axum::Router::new()
        .route("/standard", inbox_route(r.standard))
        .route("/sam", inbox_route(r.sam))
        .route("/salesmartly", inbox_route(r.salesmartly))
        .route("/custom", inbox_route(r.custom));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Handler runs on the extractor routes of an inbox receiver: there must be none.
#[cfg(any(feature = "axum", feature = "actix"))]
static EXTRACTOR_HANDLER_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(any(feature = "axum", feature = "actix"))]
fn extractor_handler_ran() {
    EXTRACTOR_HANDLER_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[cfg(any(feature = "axum", feature = "actix"))]
fn assert_handler_never_ran() {
    assert_eq!(
        EXTRACTOR_HANDLER_RUNS.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "inbox mode never runs the handler"
    );
}

/// The same receivers behind the ordinary `Webhook<T>` extractor and its layer: a receiver
/// with an inbox puts there and answers with the inbox response; the handler never runs.
#[cfg(feature = "axum")]
async fn axum_extractor_server(inbox: Arc<dyn Inbox>) -> SocketAddr {
    use axum::routing::post;
    use chathooks::integrations::axum::{Webhook, WebhookLayer};
    fn route<T: chathooks::receiver::Payload + Send + 'static>(
        r: Arc<Receiver<T>>,
    ) -> axum::routing::MethodRouter {
        post(|_hook: Webhook<T>| async move {
            extractor_handler_ran();
            "handled in the request"
        })
        .with_state(r)
    }
    let r = receivers(inbox);
    let app: axum::Router = axum::Router::new()
        .route("/standard", route(r.standard))
        .route("/sam", route(r.sam))
        .route("/salesmartly", route(r.salesmartly))
        .route("/custom", route(r.custom))
        .layer(WebhookLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An actix-web server on 127.0.0.1 (one worker, its own thread) whose routes `routes` adds
/// from a fresh set of receivers on `inbox`; behind `WebhookMiddleware`, which the extractor
/// routes need and the inbox routes ignore.
#[cfg(feature = "actix")]
fn actix_serve(
    inbox: Arc<dyn Inbox>,
    routes: fn(&mut actix_web::web::ServiceConfig, Receivers),
) -> SocketAddr {
    use chathooks::integrations::actix::WebhookMiddleware;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                let r = receivers(inbox.clone());
                actix_web::App::new()
                    .wrap(WebhookMiddleware::new())
                    .configure(|cfg| routes(cfg, r))
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            let _ = server.run().await;
        });
    });
    rx.recv().unwrap()
}

#[cfg(feature = "actix")]
async fn actix_server(inbox: Arc<dyn Inbox>) -> SocketAddr {
    use chathooks::integrations::actix::inbox_route;
    actix_serve(inbox, |cfg, r| {
        cfg.route("/standard", inbox_route(r.standard))
            .route("/sam", inbox_route(r.sam))
            .route("/salesmartly", inbox_route(r.salesmartly))
            .route("/custom", inbox_route(r.custom));
    })
}

/// The actix-web counterpart of [`axum_extractor_server`].
#[cfg(feature = "actix")]
async fn actix_extractor_server(inbox: Arc<dyn Inbox>) -> SocketAddr {
    use actix_web::web;
    use chathooks::integrations::actix::Webhook;
    async fn handle<T: chathooks::receiver::Payload>(_hook: Webhook<T>) -> &'static str {
        extractor_handler_ran();
        "handled in the request"
    }
    actix_serve(inbox, |cfg, r| {
        cfg.app_data(web::Data::from(r.standard))
            .app_data(web::Data::from(r.sam))
            .app_data(web::Data::from(r.salesmartly))
            .route("/standard", web::post().to(handle::<StandardEvent>))
            .route("/sam", web::post().to(handle::<SamEvent>))
            .route("/salesmartly", web::post().to(handle::<SaleSmartlyEvent>))
            .service(
                web::resource("/custom")
                    .app_data(web::Data::from(r.custom))
                    .route(web::post().to(handle::<StandardEvent>)),
            );
    })
}

/// The tower adapter on plain hyper: `InboxService` for three routes, and for `/sam` a
/// `ReceiverLayer` whose receiver has an inbox, so it answers itself; its inner handler counts
/// any call it gets (there must be none).
#[cfg(feature = "tower")]
async fn tower_server(
    inbox: Arc<dyn Inbox>,
) -> (
    SocketAddr,
    crate::integrations::tower_server::AbortOnDrop,
    crate::integrations::support::Hits,
) {
    use crate::integrations::tower_server::{boxed, route, serve};
    use chathooks::integrations::tower::InboxService;
    use http_body_util::Full;
    type Svc<T> = InboxService<T, Full<bytes::Bytes>>;
    let r = receivers(inbox);
    let hits = crate::integrations::support::Hits::new();
    let sam = Arc::try_unwrap(r.sam).ok().unwrap();
    let (addr, guard) = serve(vec![
        ("/standard", boxed(Svc::new(r.standard))),
        ("/sam", route(sam, &hits, "sam")),
        ("/salesmartly", boxed(Svc::new(r.salesmartly))),
        ("/custom", boxed(Svc::new(r.custom))),
    ])
    .await;
    (addr, guard, hits)
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn post(addr: SocketAddr, path: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("http://{addr}{path}"))
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: resp.status().as_u16(),
        retry_after: header("retry-after"),
        content_type: header("content-type"),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

fn standard_headers(id: &str, body: &[u8], good: bool) -> Vec<(String, String)> {
    let now = SystemTime::now();
    let secret = if good {
        STANDARD_SECRET
    } else {
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    };
    let v = StandardWebhooks::new(secret).unwrap();
    vec![
        ("webhook-id".into(), id.into()),
        (
            "webhook-timestamp".into(),
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string(),
        ),
        ("webhook-signature".into(), v.sign(id, now, body)),
        ("content-type".into(), "application/json".into()),
    ]
}

const STANDARD_BODY: &[u8] =
    br#"{"type":"contact.created","timestamp":"2023-11-14T22:13:20Z","data":{"name":"Zo\u00eb"}}"#;

async fn scenarios(addr: SocketAddr, inbox: Arc<dyn Inbox>) {
    // Stored: 200, the default JSON body, the bytes kept exactly.
    let h = standard_headers("msg_inbox_1", STANDARD_BODY, true);
    let a = post(addr, "/standard", &h, STANDARD_BODY).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, br#"{"ok":true}"#);
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    let stored = inbox.list(&ListFilter::all()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(&stored[0].body[..], STANDARD_BODY);
    assert_eq!(stored[0].namespace, "standard_webhooks");
    assert_eq!(stored[0].signed_delivery_id.as_deref(), Some("msg_inbox_1"));
    // The key in-request mode gives the same delivery, so both modes dedupe it alike.
    let key = chathooks::IdempotencyKey::with_source(
        "standard_webhooks",
        chathooks::idempotency::IdSource::SignedDelivery,
        "msg_inbox_1",
    )
    .unwrap();
    assert_eq!(stored[0].key, key);
    assert_eq!(stored[0].header("webhook-id"), Some("msg_inbox_1"));
    assert!(
        stored[0].header("webhook-signature").is_none(),
        "signatures are not kept"
    );
    // The sender's retry: 200 again, nothing new stored.
    let again = post(addr, "/standard", &h, STANDARD_BODY).await;
    assert_eq!(
        (again.status, again.body),
        (200, br#"{"ok":true}"#.to_vec())
    );
    assert_eq!(inbox.list(&ListFilter::all()).await.unwrap().len(), 1);
    // Wrong signature: 401, nothing stored.
    let bad = standard_headers("msg_inbox_2", STANDARD_BODY, false);
    assert_eq!(
        post(addr, "/standard", &bad, STANDARD_BODY).await.status,
        401
    );
    // Over the body limit: 413.
    let big = vec![b' '; LIMIT + 1];
    let h = standard_headers("msg_inbox_3", &big, true);
    assert_eq!(post(addr, "/standard", &h, &big).await.status, 413);
    // Sam signs no delivery id: the key comes from the payload, so a body that does not parse
    // cannot yield one: 422 naming the problem, nothing stored.
    let broken = br#"{"event":"lead.captured","data":"#;
    let sam = HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap()).sign(SystemTime::now(), broken);
    let sam_headers: Vec<_> = sam
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let a = post(addr, "/sam", &sam_headers, broken).await;
    assert_eq!(a.status, 422, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(inbox.list(&ListFilter::all()).await.unwrap().len(), 1);
    // SaleSmartly: its conventional answer.
    let body = std::fs::read("tests/fixtures/salesmartly/message_email.json").unwrap();
    let query = SaleSmartly::new(SALESMARTLY_KEY)
        .unwrap()
        .sign(&body, SystemTime::now())
        .unwrap();
    let json = [("content-type".to_string(), "application/json".to_string())];
    let a = post(addr, &format!("/salesmartly?{query}"), &json, &body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.body, br#"{"code":0,"msg":"Success"}"#);
    // A configured answer, and the receiver's namespace on the entry.
    let h = standard_headers("msg_inbox_4", STANDARD_BODY, true);
    let a = post(addr, "/custom", &h, STANDARD_BODY).await;
    assert_eq!((a.status, a.body), (202, b"thanks".to_vec()));
    let custom = inbox
        .list(&ListFilter::all().namespace("standard:custom"))
        .await
        .unwrap();
    assert_eq!(custom.len(), 1);
    assert_eq!(inbox.list(&ListFilter::all()).await.unwrap().len(), 3);
}

/// An inbox that holds one entry, already full: every new put is refused.
async fn full_inbox() -> Arc<dyn Inbox> {
    let inbox = MemoryInbox::with_limits(1, 1 << 20);
    let key = chathooks::IdempotencyKey::new("x", "filler").unwrap();
    inbox
        .put(chathooks::inbox::NewEntry::new("x", "x", key, &b"{}"[..]))
        .await
        .unwrap();
    Arc::new(inbox)
}

async fn unavailable(addr: SocketAddr) {
    let h = standard_headers("msg_full", STANDARD_BODY, true);
    let a = post(addr, "/standard", &h, STANDARD_BODY).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.retry_after.as_deref(), Some("5"));
    // The store's own reason ("memory inbox full …", a host, an SQLSTATE, a file path) is for
    // the log, not for the sender.
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        "temporarily unavailable, retry later\n"
    );
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_inbox_route() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    scenarios(axum_server(inbox.clone()).await, inbox).await;
    unavailable(axum_server(full_inbox().await).await).await;
}

#[cfg(feature = "actix")]
#[tokio::test]
async fn actix_inbox_route() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    scenarios(actix_server(inbox.clone()).await, inbox).await;
    unavailable(actix_server(full_inbox().await).await).await;
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_extractor_on_an_inbox_receiver_puts_instead_of_handling() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    scenarios(axum_extractor_server(inbox.clone()).await, inbox).await;
    unavailable(axum_extractor_server(full_inbox().await).await).await;
    assert_handler_never_ran();
}

#[cfg(feature = "actix")]
#[tokio::test]
async fn actix_extractor_on_an_inbox_receiver_puts_instead_of_handling() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    scenarios(actix_extractor_server(inbox.clone()).await, inbox).await;
    unavailable(actix_extractor_server(full_inbox().await).await).await;
    assert_handler_never_ran();
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn tower_inbox_service_and_layer() {
    let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
    let (addr, _guard, hits) = tower_server(inbox.clone()).await;
    scenarios(addr, inbox.clone()).await;
    // Sam through the layer in inbox mode: stored, answered at once, the inner service unused.
    let body = std::fs::read("tests/fixtures/sam/lead_captured.json").unwrap();
    let signed = HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap()).sign(SystemTime::now(), &body);
    let headers: Vec<_> = signed
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let a = post(addr, "/sam", &headers, &body).await;
    assert_eq!(
        (a.status, a.body),
        (200, br#"{"ok":true}"#.to_vec()),
        "stored and answered by the layer"
    );
    let sam = inbox
        .list(&ListFilter::all().namespace("sam"))
        .await
        .unwrap();
    assert_eq!(sam.len(), 1);
    assert_eq!(&sam[0].body[..], &body[..]);
    assert_eq!(
        hits.get("sam"),
        0,
        "inbox mode never calls the inner service"
    );
    let (full, _guard, _) = tower_server(full_inbox().await).await;
    unavailable(full).await;
}
