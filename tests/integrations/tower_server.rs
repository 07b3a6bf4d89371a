//! The plain-hyper test server: no axum, every vendor served through `ReceiverLayer` (the tower
//! layer), one receiver per route, routed by path by hand.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chathooks::integrations::tower::{ReceiverLayer, ReceiverService, VerifiedBody};
use chathooks::integrations::Webhook;
use chathooks::receiver::Payload;
use chathooks::Receiver;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tower_layer::Layer;
use tower_service::Service;

use super::support::{handler_outcome, Hits, Receivers, Server};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The test handler as a tower service: takes the `Webhook<T>` the layer put into the request.
struct Handler<T> {
    hits: Arc<AtomicUsize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Handler<T> {
    fn clone(&self) -> Self {
        Handler {
            hits: Arc::clone(&self.hits),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Payload + Clone + Sync> Service<Request<VerifiedBody>> for Handler<T> {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<VerifiedBody>) -> Self::Future {
        let hits = Arc::clone(&self.hits);
        Box::pin(async move {
            let hook = req
                .extensions_mut()
                .remove::<Webhook<T>>()
                .expect("the layer puts the webhook into the extensions");
            assert!(!hook.info.key.as_str().is_empty());
            assert!(
                !req.body().bytes().is_empty(),
                "the verified body is passed on"
            );
            super::support::gate(req.headers().get("x-test-gate").map(|v| v.as_bytes())).await;
            if let Some(ms) = req.headers().get("x-test-sleep-ms") {
                let ms: u64 = ms.to_str().unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            let status = handler_outcome(
                &hits,
                req.headers().contains_key("x-test-fail"),
                req.headers().contains_key("x-test-panic"),
            );
            let mut response = Response::new(Full::new(Bytes::from_static(b"handled\n")));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            Ok(response)
        })
    }
}

/// One route of a plain-hyper server: any tower service over hyper's requests.
pub type Route = Box<
    dyn Fn(Request<hyper::body::Incoming>) -> BoxFuture<Result<Response<Full<Bytes>>, Infallible>>
        + Send
        + Sync,
>;

/// `service` as a route.
pub fn boxed<S>(service: S) -> Route
where
    S: Service<
            Request<hyper::body::Incoming>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    Box::new(move |req| {
        let mut service = service.clone();
        Box::pin(async move { service.call(req).await })
    })
}

/// The test handler behind `receiver`'s layer, counting its runs under `hits`' `name`.
pub fn route<T: Payload + Clone + Sync>(receiver: Receiver<T>, hits: &Hits, name: &str) -> Route {
    let service: ReceiverService<Handler<T>, T> = ReceiverLayer::new(receiver).layer(Handler {
        hits: hits.counter(name),
        _t: std::marker::PhantomData,
    });
    boxed(service)
}

pub async fn spawn() -> Server {
    let r = Receivers::new();
    let hits = Hits::new();
    let (addr, task) = serve(vec![
        ("/sam", route(r.sam, &hits, "sam")),
        ("/saleassist", route(r.saleassist, &hits, "saleassist")),
        (
            "/saleassist-repair",
            route(r.saleassist_repair, &hits, "saleassist-repair"),
        ),
        ("/salesmartly", route(r.salesmartly, &hits, "salesmartly")),
        ("/buzzi", route(r.buzzi, &hits, "buzzi")),
        (
            "/conversalabs",
            route(r.conversalabs, &hits, "conversalabs"),
        ),
        ("/standard", route(r.standard, &hits, "standard")),
    ])
    .await;
    Server::new(addr, hits, Box::new(task))
}

/// Serve `routes` (matched by exact path, 404 otherwise) with plain hyper on 127.0.0.1 until the
/// guard drops.
pub async fn serve(routes: Vec<(&'static str, Route)>) -> (std::net::SocketAddr, AbortOnDrop) {
    let routes = Arc::new(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let routes = Arc::clone(&routes);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let routes = Arc::clone(&routes);
                        async move {
                            let path = req.uri().path().to_owned();
                            match routes.iter().find(|(p, _)| *p == path) {
                                Some((_, route)) => route(req).await,
                                None => {
                                    let mut res = Response::new(Full::new(Bytes::new()));
                                    *res.status_mut() = StatusCode::NOT_FOUND;
                                    Ok(res)
                                }
                            }
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, AbortOnDrop(task))
}

/// Stops the server when dropped.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
