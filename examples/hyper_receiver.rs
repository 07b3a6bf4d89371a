//! One vendor on plain hyper, no framework: the tower `ReceiverLayer` verifies, dedupes and
//! parses; the inner service only sees verified Standard Webhooks deliveries.
//!
//! ```sh
//! cargo run --example hyper_receiver --features tower
//! ```
//!
//! Listens on `CHATHOOKS_ADDR` (default `127.0.0.1:3001`) and serves `POST /` for a Standard
//! Webhooks sender signing with `STANDARD_WEBHOOKS_SECRET` (a public demo secret by default).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use chathooks::integrations::tower::{ReceiverLayer, VerifiedBody};
use chathooks::integrations::Webhook;
use chathooks::platform::standard::StandardEvent;
use chathooks::verify::StandardWebhooks;
use chathooks::Receiver;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower_layer::Layer;

const DEMO_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// The application: a tower service that gets the parsed event from the request extensions.
#[derive(Clone)]
struct App;

impl tower_service::Service<Request<VerifiedBody>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<VerifiedBody>) -> Self::Future {
        let answer = match req.extensions_mut().remove::<Webhook<StandardEvent>>() {
            Some(hook) => {
                println!(
                    "handled {} ({})",
                    hook.event.event_type,
                    hook.info.signed_delivery_id.as_deref().unwrap_or("-")
                );
                "ok\n"
            }
            None => "no webhook\n",
        };
        // 2xx marks the delivery done; any other status lets the sender's retry run again.
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(
            answer.as_bytes(),
        )))))
    }
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("hyper_receiver: {err}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("STANDARD_WEBHOOKS_SECRET").unwrap_or_else(|_| DEMO_SECRET.into());
    let addr: SocketAddr = std::env::var("CHATHOOKS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3001".into())
        .parse()
        .map_err(|e| format!("CHATHOOKS_ADDR must be host:port with an IP address: {e}"))?;
    let receiver = Receiver::<StandardEvent>::builder(StandardWebhooks::new(&secret)?).build();
    let service = ReceiverLayer::new(receiver).layer(App);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (set CHATHOOKS_ADDR): {e}"))?;
    println!("listening on http://{addr}/ (Standard Webhooks)");
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
