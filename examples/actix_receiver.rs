//! The same webhook receiver as `examples/receiver.rs`, on actix-web.
//!
//! ```text
//! cargo run --example actix_receiver --features actix
//! ```
//!
//! Same routes (`POST /webhooks/{sam,saleassist,salesmartly,buzzi,conversalabs,standard}`),
//! address (`CHATHOOKS_ADDR` or `PORT`, default `127.0.0.1:3000`) and secrets (`SAM_SECRET`,
//! `SALEASSIST_HEADER`, `SALEASSIST_TOKEN`, `SALESMARTLY_SECRET`, `BUZZI_SECRET`,
//! `CONVERSALABS_SECRET`, `STANDARD_WEBHOOKS_SECRET`, with the public demo defaults listed in
//! `examples/receiver.rs`). Prints signed `curl` commands on startup and every verified event,
//! typed and normalised.

use std::time::SystemTime;

use actix_web::{web, App, HttpResponse};
use chathooks::integrations::actix::{Webhook, WebhookMiddleware};
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::{Error, Receiver, Secret};

// Both examples (and the tests that start them in one binary) load this file.
#[allow(clippy::duplicate_mod)]
#[path = "shared/demo.rs"]
mod demo;
pub use demo::{demos, Config};

/// Print the delivery, then answer 200 (the claim completes).
async fn handle<E: VendorEvent + std::fmt::Debug>(hook: Webhook<E>) -> HttpResponse {
    demo::print_delivery(&hook);
    HttpResponse::Ok().finish()
}

/// The receivers, built once and shared by every worker (`web::Data` is an `Arc`).
#[derive(Clone)]
pub struct Receivers {
    sam: web::Data<Receiver<SamEvent>>,
    saleassist: web::Data<Receiver<SaleAssistEvent>>,
    salesmartly: web::Data<Receiver<SaleSmartlyEvent>>,
    buzzi: web::Data<Receiver<BuzziEvent>>,
    conversalabs: web::Data<Receiver<ConversaLabsEvent>>,
    standard: web::Data<Receiver<StandardEvent>>,
}

impl Receivers {
    /// One receiver per vendor.
    pub fn new(c: &Config) -> Result<Self, Error> {
        Ok(Receivers {
            sam: web::Data::new(
                Receiver::builder(HmacSha256::sam(Secret::raw(&c.sam_secret)?)).build(),
            ),
            saleassist: web::Data::new(
                Receiver::builder(Token::new(
                    c.saleassist_header.clone(),
                    &c.saleassist_token,
                )?)
                // SaleAssist's own documentation sample is not valid JSON; repair is reported.
                .repair(true)
                .build(),
            ),
            salesmartly: web::Data::new(
                Receiver::builder(SaleSmartly::new(&c.salesmartly_secret)?).build(),
            ),
            buzzi: web::Data::new(
                Receiver::builder(HmacSha256::buzzi(Secret::raw(&c.buzzi_secret)?)).build(),
            ),
            conversalabs: web::Data::new(
                Receiver::builder(HmacSha256::conversalabs(Secret::raw(
                    &c.conversalabs_secret,
                )?))
                .build(),
            ),
            standard: web::Data::new(
                Receiver::builder(StandardWebhooks::new(&c.standard_secret)?).build(),
            ),
        })
    }
}

fn resource<E: VendorEvent + std::fmt::Debug>(
    path: &str,
    receiver: web::Data<Receiver<E>>,
) -> actix_web::Resource {
    // One receiver per route, found by the extractor in the resource's app data.
    web::resource(path)
        .app_data(receiver)
        .route(web::post().to(handle::<E>))
}

/// Mount every vendor route, behind one `WebhookMiddleware`.
pub fn configure(r: &Receivers) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.service(
            web::scope("/webhooks")
                .wrap(WebhookMiddleware::new())
                .service(resource("/sam", r.sam.clone()))
                .service(resource("/saleassist", r.saleassist.clone()))
                .service(resource("/salesmartly", r.salesmartly.clone()))
                .service(resource("/buzzi", r.buzzi.clone()))
                .service(resource("/conversalabs", r.conversalabs.clone()))
                .service(resource("/standard", r.standard.clone())),
        );
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env();
    let receivers = Receivers::new(&config)?;
    let server = actix_web::HttpServer::new(move || App::new().configure(configure(&receivers)))
        .bind(config.addr)?;
    let addr = server.addrs().first().copied().unwrap_or(config.addr);
    println!("chathooks receiver (actix-web) listening on http://{addr}/webhooks/{{sam,saleassist,salesmartly,buzzi,conversalabs,standard}}");
    println!("Try a signed delivery (send it twice: the second is answered 200 as a duplicate, the handler does not run):\n");
    for demo in demos(&config, SystemTime::now())? {
        println!("# {}\n{}\n", demo.vendor, demo.curl(addr));
    }
    server.run().await?;
    Ok(())
}
