//! A webhook receiver for every supported vendor, on axum, safe to deploy once its secrets
//! are set.
//!
//! ```text
//! cargo run --example receiver --features axum
//! PORT=8080 SAM_SECRET=... cargo run --example receiver --features axum   # on a platform
//! ```
//!
//! Listens on `127.0.0.1:3000`; `CHATHOOKS_ADDR=host:port` (host names resolve:
//! `localhost:3006`) or `PORT=8080` (all interfaces, the hosting-platform convention) change
//! it. One route per vendor, each with its own [`Receiver`]:
//!
//! | route | scheme | secret from env (public demo default) |
//! |---|---|---|
//! | `POST /webhooks/sam` | HMAC-SHA256 `X-Sam-Signature` | `SAM_SECRET` (`sam-demo-secret-0123456789`) |
//! | `POST /webhooks/saleassist` | static token header | `SALEASSIST_HEADER` (`X-SaleAssist-Token`), `SALEASSIST_TOKEN` (`saleassist-demo-token-0123456789`) |
//! | `POST /webhooks/salesmartly` | MD5 query signature | `SALESMARTLY_SECRET` (`salesmartly-demo-key-0123456789`) |
//! | `POST /webhooks/buzzi` | HMAC-SHA256 `X-Webhook-Signature` | `BUZZI_SECRET` (`buzzi-demo-secret-0123456789`) |
//! | `POST /webhooks/conversalabs` | HMAC-SHA256 `X-Chatwoot-Signature` + timestamp | `CONVERSALABS_SECRET` (`conversalabs-demo-secret-0123456789`) |
//! | `POST /webhooks/standard` | Standard Webhooks v1 | `STANDARD_WEBHOOKS_SECRET` (`whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`) |
//! | `GET /healthz` | health check (`ok`) | |
//! | `GET /metrics` | Prometheus text page: `chathooks_deliveries_total{vendor,outcome,status}`, stage durations… (run with `--features axum,metrics` for the crate to record) | |
//! | `GET /demo` | fresh signed demo deliveries, while demo secrets are in use | |
//!
//! Safety: the demo secrets are public. Every route still on one gets a loud warning at
//! startup, and the receiver refuses to listen on a non-loopback address while any route is
//! on one, unless `--allow-demo-secrets` (or `CHATHOOKS_ALLOW_DEMO_SECRETS=1`) says so. Signed
//! `curl` commands are printed only for routes on demo secrets; configured routes are listed
//! by name, never with their secret.
//!
//! Logging: one line per delivery on stderr (accepted / duplicate / rejected with the status
//! and the reason; never secrets or bodies), filtered by `RUST_LOG` (default `info`). Events
//! are printed in full only for routes on demo secrets (`CHATHOOKS_PRINT_EVENTS=1` for all).
//!
//! Slow clients: every webhook request must arrive within `CHATHOOKS_BODY_TIMEOUT` seconds
//! (default 10; tower-http's `RequestBodyTimeoutLayer` between body frames and `TimeoutLayer`
//! for the whole request, answered 408), so stalled uploads cannot hold memory.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::{Error, Receiver};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

// Both examples (and the tests that load them) share this file.
#[allow(clippy::duplicate_mod)]
#[path = "shared/demo.rs"]
pub mod demo;
#[allow(unused_imports)] // used by the tests that load this file
pub use demo::{demos, Config, Exit};

/// One vendor route: the receiver is the route's state (found by the extractor via
/// `FromRef`); the handler prints the event when asked to, then answers 200, which completes
/// the claim.
fn route<E: VendorEvent + std::fmt::Debug>(receiver: Receiver<E>, print: bool) -> MethodRouter {
    post(move |hook: Webhook<E>| async move {
        if print {
            demo::print_delivery(&hook);
        }
        StatusCode::OK
    })
    .with_state(Arc::new(receiver))
}

/// The router: one receiver per vendor route behind one `WebhookLayer` and the request
/// timeouts, plus `/healthz` and `/demo`. `addr` is where it listens (for the demo commands).
pub fn router(c: &Config, addr: SocketAddr) -> Result<Router, Error> {
    let saleassist = Token::new(c.saleassist_header.clone(), &c.saleassist_token.value)?;
    let webhooks = Router::new()
        .route(
            "/webhooks/sam",
            route(
                Receiver::<SamEvent>::builder(HmacSha256::sam(&c.sam_secret.value)?).build(),
                c.print_event("sam"),
            ),
        )
        .route(
            "/webhooks/saleassist",
            route(
                Receiver::<SaleAssistEvent>::builder(saleassist)
                    // SaleAssist's own documentation sample is not valid JSON; repair is reported.
                    .repair(true)
                    .build(),
                c.print_event("saleassist"),
            ),
        )
        .route(
            "/webhooks/salesmartly",
            route(
                Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(
                    &c.salesmartly_secret.value,
                )?)
                .build(),
                c.print_event("salesmartly"),
            ),
        )
        .route(
            "/webhooks/buzzi",
            route(
                Receiver::<BuzziEvent>::builder(HmacSha256::buzzi(&c.buzzi_secret.value)?).build(),
                c.print_event("buzzi"),
            ),
        )
        .route(
            "/webhooks/conversalabs",
            route(
                Receiver::<ConversaLabsEvent>::builder(HmacSha256::conversalabs(
                    &c.conversalabs_secret.value,
                )?)
                .build(),
                c.print_event("conversalabs"),
            ),
        )
        .route(
            "/webhooks/standard",
            route(
                Receiver::<StandardEvent>::builder(StandardWebhooks::new(
                    &c.standard_secret.value,
                )?)
                .build(),
                c.print_event("standard"),
            ),
        )
        .layer(WebhookLayer::new())
        // A body must keep arriving (no gap over the timeout) and the whole request must be
        // done within it: a stalled upload is cut off with 408 instead of holding memory.
        .layer(RequestBodyTimeoutLayer::new(c.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            c.body_timeout,
        ));
    let config = c.clone();
    let webhooks = webhooks.route(
        "/metrics",
        get(|| async {
            let page = PROMETHEUS.get().map(|p| p.render()).unwrap_or_default();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                METRICS_NOTE.to_owned() + &page,
            )
        }),
    );
    Ok(webhooks.route("/healthz", get(|| async { "ok\n" })).route(
        "/demo",
        get(move || async move {
            // Signed when asked, so the timestamped ones are fresh.
            match demo::demo_text(&config, addr, SystemTime::now()) {
                Ok(text) => {
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
                }
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        }),
    ))
}

/// Ctrl-C or SIGTERM (what container platforms send): stop accepting, finish what is running.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The `/metrics` line of the startup banner.
const METRICS_ROUTE: &str = if cfg!(feature = "metrics") {
    "GET  /metrics              Prometheus metrics"
} else {
    "GET  /metrics              Prometheus metrics: empty, run with --features axum,metrics"
};

/// What `/metrics` says first: without the crate's `metrics` feature nothing is recorded, and
/// an empty page would look like a receiver that never saw a delivery.
const METRICS_NOTE: &str = if cfg!(feature = "metrics") {
    ""
} else {
    "# chathooks was built without its `metrics` feature, so nothing is recorded here.\n\
     # Run the example with: cargo run --example receiver --features axum,metrics\n"
};

/// The Prometheus recorder `/metrics` renders (installed once, before any receiver records).
static PROMETHEUS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

async fn run() -> Result<(), Exit> {
    let config = Config::from_env(std::env::args().skip(1))?;
    // Bucketed histograms: cheap to record (summaries cost far more per delivery).
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().set_buckets_for_metric(
        metrics_exporter_prometheus::Matcher::Full(
            chathooks::metrics::STAGE_DURATION_SECONDS.into(),
        ),
        chathooks::metrics::STAGE_DURATION_BUCKETS,
    );
    if let Ok(handle) = prometheus.and_then(|p| p.install_recorder()) {
        // `install_recorder` leaves upkeep to us: without it, histogram samples pile up
        // between scrapes (memory grows with traffic when nobody scrapes).
        let upkeep = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                upkeep.run_upkeep();
            }
        });
        let _ = PROMETHEUS.set(handle);
    }
    config.check_safe()?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| config.bind_error(&e))?;
    let addr = listener.local_addr().map_err(|e| config.bind_error(&e))?;
    let app = router(&config, addr).map_err(|e| Exit::Config(e.to_string()))?;
    config.announce("axum", addr, &[METRICS_ROUTE]);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| Exit::Config(format!("the server stopped: {e}")))
}

#[tokio::main]
async fn main() -> ExitCode {
    demo::init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => demo::report(e),
    }
}
