//! Server side of `benches/obs_load.sh`: the cost of a real Prometheus recorder, and the tower
//! layer on plain hyper against the axum extractor. Not a usage example.
//!
//! ```text
//! obs_bench_server 127.0.0.1:3997 /tmp/template.json [--metrics]
//! ```
//!
//! Serves, on `ADDR` (axum): `POST /bare` (reads the body, nothing else), `POST /fresh`
//! (`Webhook<SamEvent>`, every request of the load generator a new delivery), `GET /stats`,
//! `GET /metrics` (the Prometheus text page when `--metrics` installed the recorder); and on
//! the next port (plain hyper, no axum): `POST /fresh` through `ReceiverLayer`, `POST /bare`,
//! `GET /stats`. Prints `SIGN=…` for `examples/bench_load.rs`, then `listening`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::integrations::tower::{ReceiverLayer, VerifiedBody};
use chathooks::platform::sam::SamEvent;
use chathooks::verify::HmacSha256;
use chathooks::{Receiver, Secret};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tower_layer::Layer;

const SECRET: &str = "bench-secret-0123456789abcdef";
const FIXTURE: &str = include_str!("../tests/fixtures/sam/lead_captured.json");

static BARE: AtomicU64 = AtomicU64::new(0);
static FRESH: AtomicU64 = AtomicU64::new(0);
static TOWER_BARE: AtomicU64 = AtomicU64::new(0);
static TOWER_FRESH: AtomicU64 = AtomicU64::new(0);

fn stats() -> String {
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    format!(
        "bare={} fresh.fresh={} tower-bare={} tower-fresh.fresh={}\n",
        c(&BARE),
        c(&FRESH),
        c(&TOWER_BARE),
        c(&TOWER_FRESH)
    )
}

fn receiver() -> Result<Arc<Receiver<SamEvent>>, chathooks::Error> {
    Ok(Arc::new(
        Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(SECRET)?)).build(),
    ))
}

/// The inner service behind the tower layer: count and answer 200.
#[derive(Clone)]
struct Handled;

impl tower_service::Service<http::Request<VerifiedBody>> for Handled {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<VerifiedBody>) -> Self::Future {
        std::hint::black_box(req.extensions().get::<Webhook<SamEvent>>().is_some());
        TOWER_FRESH.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(http::Response::new(Full::new(Bytes::new()))))
    }
}

async fn serve_hyper(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let layered = ReceiverLayer::new(receiver()?).layer(Handled);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let layered = layered.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let mut layered = layered.clone();
                    async move {
                        match (req.method().as_str(), req.uri().path()) {
                            ("POST", "/fresh") => {
                                tower_service::Service::call(&mut layered, req).await
                            }
                            ("POST", "/bare") => {
                                use http_body_util::BodyExt;
                                let body = req.into_body().collect().await.map(|b| b.to_bytes());
                                std::hint::black_box(body.map(|b| b.len()).unwrap_or(0));
                                TOWER_BARE.fetch_add(1, Ordering::Relaxed);
                                Ok(http::Response::new(Full::new(Bytes::new())))
                            }
                            _ => Ok(http::Response::new(Full::new(Bytes::from(stats())))),
                        }
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:3997".into())
        .parse()?;
    let template_out = args.next().unwrap_or_else(|| "obs_template.json".into());
    let metrics = args.next().as_deref() == Some("--metrics");
    let prometheus = if metrics {
        Some(
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        chathooks::metrics::STAGE_DURATION_SECONDS.into(),
                    ),
                    chathooks::metrics::STAGE_DURATION_BUCKETS,
                )?
                .install_recorder()?,
        )
    } else {
        None
    };
    // As a service does (`install_recorder` leaves it to the caller): drain the histograms'
    // samples every 5 s, so they do not pile up between scrapes.
    if let Some(handle) = prometheus.clone() {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    }
    let template =
        FIXTURE
            .trim_end()
            .replacen(r#""id": "lead_2bd4e0""#, r#""id": "lead_{{ID}}""#, 1);
    if !template.contains("{{ID}}") {
        return Err("the Sam fixture changed: no data.id to vary".into());
    }
    std::fs::write(&template_out, &template)?;
    println!("SIGN=hmac-hex:X-Sam-Signature:{SECRET}");

    let app = Router::new()
        .route(
            "/bare",
            post(|body: Bytes| async move {
                std::hint::black_box(body.len());
                BARE.fetch_add(1, Ordering::Relaxed);
                StatusCode::OK
            }),
        )
        .route(
            "/fresh",
            post(|hook: Webhook<SamEvent>| async move {
                std::hint::black_box(&hook.event);
                FRESH.fetch_add(1, Ordering::Relaxed);
                StatusCode::OK
            })
            .with_state(receiver()?),
        )
        .route("/stats", get(|| async { stats() }))
        .route(
            "/metrics",
            get(move || {
                let page = prometheus.as_ref().map(|p| p.render()).unwrap_or_default();
                async move { page }
            }),
        )
        .layer(WebhookLayer::new());
    let hyper_addr = SocketAddr::new(addr.ip(), addr.port() + 1);
    tokio::spawn(async move {
        if let Err(err) = serve_hyper(hyper_addr).await {
            eprintln!("hyper server: {err}");
            std::process::exit(1);
        }
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{addr} (axum) and http://{hyper_addr} (plain hyper)");
    axum::serve(listener, app).await?;
    Ok(())
}
