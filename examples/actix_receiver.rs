//! The same webhook receiver as `examples/receiver.rs`, on actix-web.
//!
//! ```text
//! cargo run --example actix_receiver --features actix
//! ```
//!
//! Same routes (`POST /webhooks/{sam,saleassist,salesmartly,buzzi,conversalabs,standard}`,
//! `GET /healthz`, `GET /demo`), address (`CHATHOOKS_ADDR=host:port`, or `PORT` on all
//! interfaces; default `127.0.0.1:3000`), secrets and safety rules (a warning per route on a
//! public demo secret; refusal to listen beyond loopback with one unless
//! `--allow-demo-secrets`), logging (`RUST_LOG`, one line per delivery) and request timeout
//! (`CHATHOOKS_BODY_TIMEOUT`, default 10 s: actix's `client_request_timeout` for the head, a
//! timeout around each webhook request for the body, answered 408). See `examples/receiver.rs`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use actix_web::dev::Service as _;
use actix_web::{web, App, HttpResponse};
use chathooks::integrations::actix::{Webhook, WebhookMiddleware};
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::{Error, Receiver};

// Both examples (and the tests that load them) share this file.
#[allow(clippy::duplicate_mod)]
#[path = "shared/demo.rs"]
pub mod demo;
#[allow(unused_imports)] // used by the tests that load this file
pub use demo::{demos, Config, Exit};

/// The receivers, built once and shared by every worker (`web::Data` is an `Arc`).
#[derive(Clone)]
pub struct Receivers {
    config: Config,
    addr: SocketAddr,
    sam: web::Data<Receiver<SamEvent>>,
    saleassist: web::Data<Receiver<SaleAssistEvent>>,
    salesmartly: web::Data<Receiver<SaleSmartlyEvent>>,
    buzzi: web::Data<Receiver<BuzziEvent>>,
    conversalabs: web::Data<Receiver<ConversaLabsEvent>>,
    standard: web::Data<Receiver<StandardEvent>>,
}

impl Receivers {
    /// One receiver per vendor; `addr` is where the server listens (for the demo commands).
    pub fn new(c: &Config, addr: SocketAddr) -> Result<Self, Error> {
        Ok(Receivers {
            config: c.clone(),
            addr,
            sam: web::Data::new(Receiver::builder(HmacSha256::sam(&c.sam_secret.value)?).build()),
            saleassist: web::Data::new(
                Receiver::builder(Token::new(
                    c.saleassist_header.clone(),
                    &c.saleassist_token.value,
                )?)
                // SaleAssist's own documentation sample is not valid JSON; repair is reported.
                .repair(true)
                .build(),
            ),
            salesmartly: web::Data::new(
                Receiver::builder(SaleSmartly::new(&c.salesmartly_secret.value)?).build(),
            ),
            buzzi: web::Data::new(
                Receiver::builder(HmacSha256::buzzi(&c.buzzi_secret.value)?).build(),
            ),
            conversalabs: web::Data::new(
                Receiver::builder(HmacSha256::conversalabs(&c.conversalabs_secret.value)?).build(),
            ),
            standard: web::Data::new(
                Receiver::builder(StandardWebhooks::new(&c.standard_secret.value)?).build(),
            ),
        })
    }
}

/// One vendor route: the receiver in the resource's app data (found by the extractor), a
/// handler that prints the event when asked to and answers 200 (which completes the claim).
fn resource<E: VendorEvent + std::fmt::Debug>(
    path: &str,
    receiver: web::Data<Receiver<E>>,
    print: bool,
) -> actix_web::Resource {
    web::resource(path).app_data(receiver).route(web::post().to(
        move |hook: Webhook<E>| async move {
            if print {
                demo::print_delivery(&hook);
            }
            HttpResponse::Ok().finish()
        },
    ))
}

/// Mount every vendor route behind one `WebhookMiddleware` and the request timeout, plus
/// `/healthz` and `/demo`.
pub fn configure(r: &Receivers) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        let c = &r.config;
        let timeout = c.body_timeout;
        let (config, addr) = (r.config.clone(), r.addr);
        cfg.service(
            web::scope("/webhooks")
                .wrap(WebhookMiddleware::new())
                // The whole request (body included) must arrive within the timeout: a stalled
                // upload is cut off with 408 instead of holding memory.
                .wrap_fn(move |req, srv| {
                    let call = srv.call(req);
                    async move {
                        match actix_web::rt::time::timeout(timeout, call).await {
                            Ok(result) => result,
                            Err(_) => Err(actix_web::error::ErrorRequestTimeout(
                                "the request did not arrive in time\n",
                            )),
                        }
                    }
                })
                .service(resource("/sam", r.sam.clone(), c.print_event("sam")))
                .service(resource(
                    "/saleassist",
                    r.saleassist.clone(),
                    c.print_event("saleassist"),
                ))
                .service(resource(
                    "/salesmartly",
                    r.salesmartly.clone(),
                    c.print_event("salesmartly"),
                ))
                .service(resource("/buzzi", r.buzzi.clone(), c.print_event("buzzi")))
                .service(resource(
                    "/conversalabs",
                    r.conversalabs.clone(),
                    c.print_event("conversalabs"),
                ))
                .service(resource(
                    "/standard",
                    r.standard.clone(),
                    c.print_event("standard"),
                )),
        )
        .route("/healthz", web::get().to(|| async { "ok\n" }))
        .route(
            "/demo",
            web::get().to(move || {
                let config = config.clone();
                async move {
                    match demo::demo_text(&config, addr, SystemTime::now()) {
                        Ok(text) => HttpResponse::Ok()
                            .content_type("text/plain; charset=utf-8")
                            .body(text),
                        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
                    }
                }
            }),
        );
    }
}

async fn run() -> Result<(), Exit> {
    let config = Config::from_env(std::env::args().skip(1))?;
    config.check_safe()?;
    // Bind first: the demo commands need the real port (PORT=0 picks one).
    let listener = std::net::TcpListener::bind(config.addr).map_err(|e| config.bind_error(&e))?;
    let addr = listener.local_addr().map_err(|e| config.bind_error(&e))?;
    let receivers = Receivers::new(&config, addr).map_err(|e| Exit::Config(e.to_string()))?;
    let server = actix_web::HttpServer::new(move || App::new().configure(configure(&receivers)))
        .client_request_timeout(config.body_timeout.min(Duration::from_secs(60)))
        .listen(listener)
        .map_err(|e| config.bind_error(&e))?;
    config.announce("actix-web", addr, &[]);
    server
        .run()
        .await
        .map_err(|e| Exit::Config(format!("the server stopped: {e}")))
}

#[actix_web::main]
async fn main() -> ExitCode {
    demo::init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => demo::report(e),
    }
}
