//! The axum test server: every vendor on one router, one receiver per route.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{post, MethodRouter};
use axum::Router;
use chathooks::integrations::axum::{Webhook, WebhookLayer};
use chathooks::receiver::Payload;
use chathooks::Receiver;

use super::support::{handler_outcome, Hits, Receivers, Server};

struct RouteState<T> {
    receiver: Arc<Receiver<T>>,
    hits: Arc<AtomicUsize>,
}

impl<T> Clone for RouteState<T> {
    fn clone(&self) -> Self {
        RouteState {
            receiver: Arc::clone(&self.receiver),
            hits: Arc::clone(&self.hits),
        }
    }
}

impl<T> FromRef<RouteState<T>> for Arc<Receiver<T>> {
    fn from_ref(state: &RouteState<T>) -> Self {
        Arc::clone(&state.receiver)
    }
}

async fn handle<T: Payload>(
    State(state): State<RouteState<T>>,
    headers: HeaderMap,
    hook: Webhook<T>,
) -> StatusCode {
    assert!(!hook.info.key.as_str().is_empty());
    super::support::gate(headers.get("x-test-gate").map(|v| v.as_bytes())).await;
    if let Some(ms) = headers.get("x-test-sleep-ms") {
        let ms: u64 = ms.to_str().unwrap().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = handler_outcome(
        &state.hits,
        headers.contains_key("x-test-fail"),
        headers.contains_key("x-test-panic"),
    );
    StatusCode::from_u16(status).unwrap()
}

fn route<T: Payload>(receiver: Receiver<T>, hits: &Hits, name: &str) -> MethodRouter {
    post(handle::<T>).with_state(RouteState {
        receiver: Arc::new(receiver),
        hits: hits.counter(name),
    })
}

/// Options for the axum server.
#[derive(Clone, Copy)]
pub struct Opts {
    pub layer: bool,
    pub catch_panic: bool,
}

pub async fn spawn(opts: Opts) -> Server {
    let r = Receivers::new();
    let hits = Hits::new();
    let small = Receivers::new().sam;
    let mut app = Router::new()
        .route("/sam", route(r.sam, &hits, "sam"))
        .route("/saleassist", route(r.saleassist, &hits, "saleassist"))
        .route(
            "/saleassist-repair",
            route(r.saleassist_repair, &hits, "saleassist-repair"),
        )
        .route("/salesmartly", route(r.salesmartly, &hits, "salesmartly"))
        .route("/buzzi", route(r.buzzi, &hits, "buzzi"))
        .route(
            "/conversalabs",
            route(r.conversalabs, &hits, "conversalabs"),
        )
        .route("/standard", route(r.standard, &hits, "standard"))
        .route(
            "/small-framework-limit",
            route(small, &hits, "small-framework-limit").layer(DefaultBodyLimit::max(1024)),
        );
    if opts.catch_panic {
        app = app.layer(tower_http::catch_panic::CatchPanicLayer::new());
    }
    if opts.layer {
        app = app.layer(WebhookLayer::new());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server::new(addr, hits, Box::new(AbortOnDrop(task)))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
