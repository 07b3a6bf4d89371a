//! Over real HTTP on 127.0.0.1, on axum and on actix-web: README claims that had no test
//! (503 + Retry-After from a store that is down, a 4xx answer releasing the claim,
//! `Normalized<E>` as the receiver's payload) and finding 7 (a cancelled request keeps its
//! claim until the lease ends).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chathooks::event::{EventKind, Vendor};
use chathooks::idempotency::{Dedupe, MemoryStore};
use chathooks::platform::sam::SamEvent;
use chathooks::receiver::Normalized;
use chathooks::verify::HmacSha256;
use chathooks::Receiver;

use super::Down;

const SECRET: &str = "sam-test-secret-0123456789";
const BODY: &[u8] = include_bytes!("../fixtures/sam/lead_captured.json");

#[derive(Clone, Default)]
struct Hits {
    status: Arc<AtomicUsize>,
    slow: Arc<AtomicUsize>,
    down: Arc<AtomicUsize>,
}

struct Receivers {
    down: Receiver<SamEvent>,
    status: Receiver<Normalized<SamEvent>>,
    slow: Receiver<SamEvent>,
}

fn receivers() -> Receivers {
    let sam = || HmacSha256::sam(SECRET).unwrap();
    Receivers {
        down: Receiver::builder(sam()).dedupe(Dedupe::new(Down)).build(),
        status: Receiver::builder(sam()).build(),
        slow: Receiver::builder(sam())
            .dedupe(Dedupe::new(MemoryStore::default()).with_lease(Duration::from_secs(60)))
            .build(),
    }
}

/// The normalised event the `/status` handler must see.
fn check_normalized(n: &Normalized<SamEvent>) {
    assert_eq!(n.event.vendor, Vendor::Sam);
    assert_eq!(n.event.kind, EventKind::LeadCaptured);
}

fn status_of(value: Option<&[u8]>) -> u16 {
    value.map_or(200, |v| std::str::from_utf8(v).unwrap().parse().unwrap())
}

mod axum_app {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use chathooks::integrations::axum::{Webhook, WebhookLayer};

    pub async fn spawn(hits: Hits) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let r = receivers();
        let (h1, h2, h3) = (hits.down.clone(), hits.status.clone(), hits.slow.clone());
        let app = Router::new()
            .route(
                "/down",
                post(move |_hook: Webhook<SamEvent>| async move {
                    h1.fetch_add(1, Ordering::SeqCst);
                    StatusCode::OK
                })
                .with_state(Arc::new(r.down)),
            )
            .route(
                "/status",
                post(
                    move |headers: HeaderMap, hook: Webhook<Normalized<SamEvent>>| async move {
                        check_normalized(&hook.event);
                        h2.fetch_add(1, Ordering::SeqCst);
                        StatusCode::from_u16(status_of(
                            headers.get("x-status").map(|v| v.as_bytes()),
                        ))
                        .unwrap()
                    },
                )
                .with_state(Arc::new(r.status)),
            )
            .route(
                "/slow",
                post(move |_hook: Webhook<SamEvent>| async move {
                    h3.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    StatusCode::OK
                })
                .with_state(Arc::new(r.slow)),
            )
            .layer(WebhookLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, task)
    }
}

mod actix_app {
    use super::*;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use chathooks::integrations::actix::{Webhook, WebhookMiddleware};

    /// Runs the server on its own thread (actix is single-threaded per worker); stops when the
    /// returned handle is dropped.
    pub fn spawn(hits: Hits) -> (SocketAddr, actix_web::dev::ServerHandle) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let r = receivers();
                let (down, status, slow) = (
                    web::Data::new(r.down),
                    web::Data::new(r.status),
                    web::Data::new(r.slow),
                );
                let server = HttpServer::new(move || {
                    let (h1, h2, h3) = (hits.down.clone(), hits.status.clone(), hits.slow.clone());
                    App::new()
                        .wrap(WebhookMiddleware::new())
                        .service(web::resource("/down").app_data(down.clone()).route(
                            web::post().to(move |_hook: Webhook<SamEvent>| {
                                let h1 = h1.clone();
                                async move {
                                    h1.fetch_add(1, Ordering::SeqCst);
                                    HttpResponse::Ok().finish()
                                }
                            }),
                        ))
                        .service(web::resource("/status").app_data(status.clone()).route(
                            web::post().to(
                                move |req: HttpRequest, hook: Webhook<Normalized<SamEvent>>| {
                                    let h2 = h2.clone();
                                    async move {
                                        check_normalized(&hook.event);
                                        h2.fetch_add(1, Ordering::SeqCst);
                                        let code = status_of(
                                            req.headers().get("x-status").map(|v| v.as_bytes()),
                                        );
                                        HttpResponse::build(
                                            actix_web::http::StatusCode::from_u16(code).unwrap(),
                                        )
                                        .finish()
                                    }
                                },
                            ),
                        ))
                        .service(web::resource("/slow").app_data(slow.clone()).route(
                            web::post().to(move |_hook: Webhook<SamEvent>| {
                                let h3 = h3.clone();
                                async move {
                                    h3.fetch_add(1, Ordering::SeqCst);
                                    actix_web::rt::time::sleep(Duration::from_secs(30)).await;
                                    HttpResponse::Ok().finish()
                                }
                            }),
                        ))
                })
                .workers(1)
                .bind("127.0.0.1:0")
                .unwrap();
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                server.await.unwrap();
            })
        });
        rx.recv().unwrap()
    }
}

async fn send(
    client: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
) -> reqwest::Result<(u16, Option<String>)> {
    let signed = HmacSha256::sam(SECRET)
        .unwrap()
        .sign(SystemTime::now(), BODY);
    let mut req = client
        .post(format!("http://{addr}{path}"))
        .body(BODY.to_vec());
    for (k, v) in &signed {
        req = req.header(k.as_str(), v.to_str().unwrap());
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await?;
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((res.status().as_u16(), retry))
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

async fn scenarios(addr: SocketAddr, hits: Hits) {
    let c = client(Duration::from_secs(10));
    // 503 + Retry-After when the store is down; the handler never runs.
    let (status, retry) = send(&c, addr, "/down", &[]).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("2"));
    assert_eq!(hits.down.load(Ordering::SeqCst), 0);

    // A 4xx answer releases the claim: the redelivery runs the handler again, then it is done.
    // The handler also checks it got the `Normalized<SamEvent>` it asked for.
    assert_eq!(
        send(&c, addr, "/status", &[("x-status", "422")])
            .await
            .unwrap()
            .0,
        422
    );
    assert_eq!(send(&c, addr, "/status", &[]).await.unwrap().0, 200);
    assert_eq!(
        hits.status.load(Ordering::SeqCst),
        2,
        "ran again after the 4xx"
    );
    assert_eq!(send(&c, addr, "/status", &[]).await.unwrap().0, 200);
    assert_eq!(hits.status.load(Ordering::SeqCst), 2, "then a duplicate");

    // Finding 7: a request cancelled mid-handler (the client hangs up) keeps its claim until
    // the lease ends: copies sent meanwhile get 409 + Retry-After and do not start the
    // handler again.
    let impatient = client(Duration::from_millis(300));
    assert!(send(&impatient, addr, "/slow", &[]).await.is_err());
    assert_eq!(hits.slow.load(Ordering::SeqCst), 1);
    let until = Instant::now() + Duration::from_millis(1500);
    let mut copies = 0;
    while Instant::now() < until {
        let (status, retry) = send(&c, addr, "/slow", &[]).await.unwrap_or((0, None));
        assert_eq!(status, 409, "copy {copies} after the disconnect");
        assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
        copies += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(copies >= 5);
    assert_eq!(
        hits.slow.load(Ordering::SeqCst),
        1,
        "the handler started once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_store_down_4xx_normalized_and_cancellation() {
    let hits = Hits::default();
    let (addr, task) = axum_app::spawn(hits.clone()).await;
    scenarios(addr, hits).await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_store_down_4xx_normalized_and_cancellation() {
    let hits = Hits::default();
    let (addr, handle) = actix_app::spawn(hits.clone());
    scenarios(addr, hits).await;
    handle.stop(false).await;
}
