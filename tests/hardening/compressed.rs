//! Compressed bodies over real HTTP on 127.0.0.1, on axum, actix-web and the tower layer (plain
//! hyper), for the handler route and the inbox route of each: gzip and deflate bodies are decoded, then
//! verified against the decoded bytes and parsed; a zip bomb is 413; a coding that is not
//! decoded is 415; a broken stream is 400. Never a verify against compressed bytes.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chathooks::inbox::MemoryInbox;
use chathooks::platform::standard::StandardEvent;
use chathooks::verify::StandardWebhooks;
use chathooks::Receiver;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const LIMIT: usize = 1024 * 1024;

/// What the handlers saw: event type and the body the handler was given (tower only).
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Handled>>>);

/// The event type, and the body the handler was given (tower only).
type Handled = (String, Option<Vec<u8>>);
type Encoder = fn(&[u8]) -> Vec<u8>;

impl Seen {
    fn push(&self, event: &StandardEvent, body: Option<Vec<u8>>) {
        self.0
            .lock()
            .unwrap()
            .push((event.event_type.clone(), body));
    }
    fn take(&self) -> Vec<Handled> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn receiver() -> Receiver<StandardEvent> {
    Receiver::builder(StandardWebhooks::new(SECRET).unwrap())
        .body_limit(LIMIT)
        .build()
}

fn inbox_receiver(inbox: Arc<MemoryInbox>) -> Receiver<StandardEvent> {
    Receiver::builder(StandardWebhooks::new(SECRET).unwrap())
        .body_limit(LIMIT)
        .inbox_arc(inbox)
        .build()
}

fn json(id: &str) -> Vec<u8> {
    // Repetitive enough that gzip makes it much smaller: the bytes on the wire differ a lot.
    let note = "compressible ".repeat(200);
    format!(
        r#"{{"type":"contact.created","timestamp":"2023-11-14T22:13:20Z","data":{{"id":"{id}","note":"{note}"}}}}"#
    )
    .into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// POST `wire` with `Content-Encoding: coding`, signed over `signed` (the decoded bytes).
async fn post(
    c: &reqwest::Client,
    url: &str,
    id: &str,
    signed: &[u8],
    coding: Option<&str>,
    wire: Vec<u8>,
) -> (u16, String) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = StandardWebhooks::new(SECRET).unwrap().sign(id, now, signed);
    let mut req = c
        .post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", secs.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .body(wire);
    if let Some(coding) = coding {
        req = req.header("content-encoding", coding);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Every case against one route; `after_ok` sees each delivery that must be accepted.
async fn cases(base: &str, path: &str, tag: &str, after_ok: &mut dyn FnMut(&str, &[u8])) {
    let c = client();
    let url = format!("{base}{path}");
    let mut n = 0;
    let mut id = |what: &str| {
        n += 1;
        format!("msg_{tag}_{what}_{n}")
    };

    // gzip, zlib deflate and raw deflate: decoded, verified over the decoded bytes, parsed.
    let encoders: [(&str, Encoder); 4] = [
        ("gzip", gzip),
        ("x-gzip", gzip),
        ("deflate", zlib),
        ("deflate", raw_deflate),
    ];
    for (coding, encode) in encoders {
        let id = id("ok");
        let body = json(&id);
        let wire = encode(&body);
        assert!(wire.len() * 4 < body.len(), "really compressed");
        let (status, text) = post(&c, &url, &id, &body, Some(coding), wire).await;
        assert_eq!(status, 200, "{coding} on {url}: {text}");
        after_ok(&id, &body);
    }
    // An uncompressed body with `identity` still works.
    let i = id("identity");
    let body = json(&i);
    let (status, text) = post(&c, &url, &i, &body, Some("identity"), body.clone()).await;
    assert_eq!(status, 200, "identity on {url}: {text}");
    after_ok(&i, &body);

    // Signed over the compressed bytes: not what any sender signs, and never checked: 401.
    let i = id("signed-compressed");
    let wire = gzip(&json(&i));
    let (status, _) = post(&c, &url, &i, &wire.clone(), Some("gzip"), wire).await;
    assert_eq!(status, 401, "a signature over compressed bytes on {url}");

    // A zip bomb: 10 MiB of zeros, about 10 KB gzipped, against a 1 MiB limit: 413, and the
    // decoding stopped at the limit (the bound on memory is tests/alloc.rs's).
    let i = id("bomb");
    let zeros = vec![0u8; 10 * 1024 * 1024];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 20 * 1024, "{}", bomb.len());
    let (status, text) = post(&c, &url, &i, &zeros, Some("gzip"), bomb).await;
    assert_eq!(status, 413, "bomb on {url}: {text}");
    assert!(text.contains("limit of 1048576 bytes"), "{text}");
    // Exactly one byte over the limit once decoded is 413 too; exactly the limit is not.
    let i = id("limit");
    let over = vec![b' '; LIMIT + 1];
    let (status, _) = post(&c, &url, &i, &over, Some("gzip"), gzip(&over)).await;
    assert_eq!(status, 413, "limit + 1 on {url}");

    // Codings that are not decoded: 415 with the reason, before anything is verified.
    for (coding, reason) in [
        ("br", "`br` (Brotli) is not decoded"),
        ("zstd", "`zstd` is not decoded"),
        ("x-foo", "unknown coding"),
        ("gzip, gzip", "a list of codings is not decoded"),
        ("gzip, br", "a list of codings is not decoded"),
    ] {
        let i = id("unsupported");
        let body = json(&i);
        let (status, text) = post(&c, &url, &i, &body, Some(coding), gzip(&body)).await;
        assert_eq!(status, 415, "{coding} on {url}: {text}");
        assert!(text.contains("unsupported `Content-Encoding`"), "{text}");
        assert!(text.contains(reason), "{coding}: {text}");
        assert!(
            !text.contains("x-foo"),
            "the sender's text is not echoed: {text}"
        );
    }

    // Broken streams: 400 saying what is wrong.
    let i = id("broken");
    let body = json(&i);
    let full = gzip(&body);
    let truncated = full[..full.len() / 2].to_vec();
    let (status, text) = post(&c, &url, &i, &body, Some("gzip"), truncated).await;
    assert_eq!(status, 400, "truncated on {url}: {text}");
    assert!(
        text.contains("body is not valid gzip: the compressed stream is truncated"),
        "{text}"
    );
    let mut corrupt = full.clone();
    let crc_at = corrupt.len() - 8;
    corrupt[crc_at] ^= 0xff; // the CRC-32 of the decoded bytes
    let (status, text) = post(&c, &url, &i, &body, Some("gzip"), corrupt).await;
    assert_eq!(status, 400, "bad checksum on {url}: {text}");
    assert!(
        text.contains("body is not valid gzip: the compressed data is corrupt"),
        "{text}"
    );
    let (status, text) = post(&c, &url, &i, &body, Some("gzip"), body.clone()).await;
    assert_eq!(status, 400, "not gzip at all on {url}: {text}");
    let mut trailing = zlib(&body);
    trailing.extend_from_slice(b"junk");
    let (status, text) = post(&c, &url, &i, &body, Some("deflate"), trailing).await;
    assert_eq!(status, 400, "trailing bytes on {url}: {text}");
    assert!(text.contains("bytes after the end"), "{text}");
}

async fn check_inbox(base: &str, tag: &str, inbox: &MemoryInbox) {
    let mut ok = Vec::new();
    cases(base, "/inbox", tag, &mut |id, body| {
        ok.push((id.to_owned(), body.to_vec()))
    })
    .await;
    // Stored decoded, as the workers will parse them; nothing else was stored.
    let leased = inbox.lease_now(100, Duration::from_secs(30));
    assert_eq!(
        leased.len(),
        ok.len(),
        "only the accepted deliveries are stored"
    );
    for (id, body) in &ok {
        let entry = leased
            .iter()
            .find(|l| l.entry.signed_delivery_id.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} stored"));
        assert_eq!(&entry.entry.body[..], &body[..], "{id} stored decoded");
    }
}

fn check_handled(seen: &Seen, tower: bool) {
    let seen = seen.take();
    assert_eq!(
        seen.len(),
        5,
        "the handler ran for the accepted deliveries only"
    );
    for (event, body) in seen {
        assert_eq!(event, "contact.created");
        if tower {
            let body = body.expect("tower hands the body on");
            assert!(body.starts_with(b"{\"type\""), "the decoded bytes");
        }
    }
}

mod axum_app {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::Router;
    use chathooks::integrations::axum::{inbox_route, Webhook, WebhookLayer};

    pub async fn spawn(seen: Seen, inbox: Arc<MemoryInbox>) -> SocketAddr {
        let app = Router::new()
            .route(
                "/hook",
                post(move |hook: Webhook<StandardEvent>| async move {
                    seen.push(&hook.event, None);
                    StatusCode::OK
                })
                .with_state(Arc::new(receiver())),
            )
            .route("/inbox", inbox_route(Arc::new(inbox_receiver(inbox))))
            .layer(WebhookLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }
}

mod actix_app {
    use super::*;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use chathooks::integrations::actix::{inbox_route, Webhook, WebhookMiddleware};

    pub fn spawn(
        seen: Seen,
        inbox: Arc<MemoryInbox>,
    ) -> (SocketAddr, actix_web::dev::ServerHandle) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let hook = web::Data::new(receiver());
                let inboxed = Arc::new(inbox_receiver(inbox));
                let server = HttpServer::new(move || {
                    let seen = seen.clone();
                    App::new()
                        .wrap(WebhookMiddleware::new())
                        .service(web::resource("/hook").app_data(hook.clone()).route(
                            web::post().to(move |hook: Webhook<StandardEvent>| {
                                let seen = seen.clone();
                                async move {
                                    seen.push(&hook.event, None);
                                    HttpResponse::Ok().finish()
                                }
                            }),
                        ))
                        .route("/inbox", inbox_route(inboxed.clone()))
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

#[cfg(feature = "tower")]
mod tower_app {
    use super::*;
    use bytes::Bytes;
    use chathooks::integrations::tower::{ReceiverLayer, VerifiedBody};
    use chathooks::integrations::Webhook;
    use http::{Request, Response};
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use tower_layer::Layer;
    use tower_service::Service;

    #[derive(Clone)]
    struct Handler(Seen);

    impl Service<Request<VerifiedBody>> for Handler {
        type Response = Response<Full<Bytes>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, mut req: Request<VerifiedBody>) -> Self::Future {
            let hook = req
                .extensions_mut()
                .remove::<Webhook<StandardEvent>>()
                .unwrap();
            // The inner service sees the decoded body and headers that say so.
            assert!(!req.headers().contains_key("content-encoding"));
            let body = req.body().bytes();
            assert_eq!(
                req.headers()["content-length"].to_str().unwrap(),
                body.len().to_string()
            );
            self.0.push(&hook.event, Some(body.to_vec()));
            std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
        }
    }

    pub async fn spawn(seen: Seen, inbox: Arc<MemoryInbox>) -> SocketAddr {
        let service = ReceiverLayer::new(receiver()).layer(Handler(seen.clone()));
        // With an inbox the layer stores and answers itself; the handler never runs.
        let inboxed = ReceiverLayer::new(inbox_receiver(inbox)).layer(Handler(seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (service, inboxed) = (service.clone(), inboxed.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        let (mut service, mut inboxed) = (service.clone(), inboxed.clone());
                        async move {
                            if req.uri().path() == "/inbox" {
                                inboxed.call(req).await
                            } else {
                                service.call(req).await
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_decodes_gzip_and_deflate_and_refuses_the_rest() {
    let (seen, inbox) = (Seen::default(), Arc::new(MemoryInbox::new()));
    let addr = axum_app::spawn(seen.clone(), inbox.clone()).await;
    let base = format!("http://{addr}");
    cases(&base, "/hook", "axum", &mut |_, _| {}).await;
    check_handled(&seen, false);
    check_inbox(&base, "axum", &inbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_decodes_gzip_and_deflate_and_refuses_the_rest() {
    let (seen, inbox) = (Seen::default(), Arc::new(MemoryInbox::new()));
    let (addr, handle) = actix_app::spawn(seen.clone(), inbox.clone());
    let base = format!("http://{addr}");
    cases(&base, "/hook", "actix", &mut |_, _| {}).await;
    check_handled(&seen, false);
    check_inbox(&base, "actix", &inbox).await;
    handle.stop(false).await;
}

#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_decodes_gzip_and_deflate_and_refuses_the_rest() {
    let (seen, inbox) = (Seen::default(), Arc::new(MemoryInbox::new()));
    let addr = tower_app::spawn(seen.clone(), inbox.clone()).await;
    let base = format!("http://{addr}");
    cases(&base, "/hook", "tower", &mut |_, _| {}).await;
    check_handled(&seen, true);
    check_inbox(&base, "tower", &inbox).await;
    assert!(seen.take().is_empty(), "the inbox route runs no handler");
}
