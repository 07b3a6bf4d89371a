//! The actix-web test server: every vendor in one app, one receiver per resource.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chathooks::integrations::actix::{Webhook, WebhookMiddleware};
use chathooks::receiver::Payload;
use chathooks::Receiver;

use super::support::{handler_outcome, Hits, Receivers, Server};

struct RouteHits(Arc<AtomicUsize>);

async fn handle<T: Payload>(
    hits: web::Data<RouteHits>,
    req: HttpRequest,
    hook: Webhook<T>,
) -> HttpResponse {
    assert!(!hook.info.key.as_str().is_empty());
    super::support::gate(req.headers().get("x-test-gate").map(|v| v.as_bytes())).await;
    if let Some(ms) = req.headers().get("x-test-sleep-ms") {
        let ms: u64 = ms.to_str().unwrap().parse().unwrap();
        actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = handler_outcome(
        &hits.0,
        req.headers().contains_key("x-test-fail"),
        req.headers().contains_key("x-test-panic"),
    );
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

fn resource<T: Payload>(
    path: &str,
    receiver: web::Data<Receiver<T>>,
    hits: &Hits,
    name: &str,
) -> actix_web::Resource {
    web::resource(path)
        .app_data(receiver)
        .app_data(web::Data::new(RouteHits(hits.counter(name))))
        .route(web::post().to(handle::<T>))
}

pub async fn spawn(layer: bool) -> Server {
    let r = Receivers::new();
    let hits = Hits::new();
    let (sam, saleassist, repair, salesmartly, buzzi, conversalabs, standard, small) = (
        web::Data::new(r.sam),
        web::Data::new(r.saleassist),
        web::Data::new(r.saleassist_repair),
        web::Data::new(r.salesmartly),
        web::Data::new(r.buzzi),
        web::Data::new(r.conversalabs),
        web::Data::new(r.standard),
        web::Data::new(Receivers::new().sam),
    );
    let h = hits.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let h = &h;
                App::new()
                    .wrap(actix_web::middleware::Condition::new(
                        layer,
                        WebhookMiddleware::new(),
                    ))
                    .service(resource("/sam", sam.clone(), h, "sam"))
                    .service(resource("/saleassist", saleassist.clone(), h, "saleassist"))
                    .service(resource(
                        "/saleassist-repair",
                        repair.clone(),
                        h,
                        "saleassist-repair",
                    ))
                    .service(resource(
                        "/salesmartly",
                        salesmartly.clone(),
                        h,
                        "salesmartly",
                    ))
                    .service(resource("/buzzi", buzzi.clone(), h, "buzzi"))
                    .service(resource(
                        "/conversalabs",
                        conversalabs.clone(),
                        h,
                        "conversalabs",
                    ))
                    .service(resource("/standard", standard.clone(), h, "standard"))
                    .service(
                        resource(
                            "/small-framework-limit",
                            small.clone(),
                            h,
                            "small-framework-limit",
                        )
                        .app_data(web::PayloadConfig::new(1024)),
                    )
            })
            .workers(2)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            let _ = server.await;
        });
    });
    let (addr, handle) = rx.recv().unwrap();
    Server::new(addr, hits, Box::new(StopOnDrop(handle)))
}

struct StopOnDrop(actix_web::dev::ServerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.0.stop(false));
    }
}
