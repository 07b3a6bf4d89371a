//! actix-web 4: the [`Webhook<T>`] extractor and the [`WebhookMiddleware`] that settles its
//! claim.
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use chathooks::{Receiver, Secret};
//! use chathooks::integrations::actix::{Webhook, WebhookMiddleware};
//! use chathooks::platform::sam::SamEvent;
//! use chathooks::verify::HmacSha256;
//!
//! async fn on_sam(hook: Webhook<SamEvent>) -> HttpResponse {
//!     println!("sam: {:?}", hook.event);
//!     HttpResponse::Ok().finish() // 2xx: marked done; anything else: released for a retry
//! }
//!
//! # fn main() -> Result<(), chathooks::Error> {
//! let sam = web::Data::new(Receiver::<SamEvent>::builder(
//!     HmacSha256::sam(Secret::raw("sam-demo-secret-0123456789")?),
//! ).build());
//! let app = App::new()
//!     .wrap(WebhookMiddleware::new()) // required: settles each claim by the response status
//!     .service(
//!         web::resource("/webhooks/sam")
//!             .app_data(sam.clone()) // one receiver per route
//!             .route(web::post().to(on_sam)),
//!     );
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # What the extractor does
//!
//! - Finds the receiver in app data as `web::Data<Receiver<T>>` (500 when absent).
//! - Refuses with 500 `add WebhookMiddleware` if the middleware is missing, before claiming.
//! - Answers 413 when `Content-Length` exceeds [`Receiver::body_limit`] without reading the
//!   body; otherwise reads it with actix's own `Bytes` extractor, so
//!   [`PayloadConfig`](actix_web::web::PayloadConfig) applies (its default limit is 256 KiB),
//!   through a stream cut off at the receiver's limit. A body with `Content-Encoding` is read
//!   as sent instead (actix-web's own decompression, on with its default features, would
//!   decode it outside the receiver's limit) and decoded by the receiver
//!   ([`encoding`](crate::encoding)); `PayloadConfig` does not apply to it.
//! - Verifies, parses and claims; [`WebhookRejection`] implements
//!   [`ResponseError`] with the crate's statuses (duplicate: 200,
//!   handler not run; in flight: 409 with `Retry-After`).
//! - On a receiver with an inbox ([`ReceiverBuilder::inbox`](crate::receiver::ReceiverBuilder::inbox))
//!   it puts the delivery there instead and answers with the inbox response: the handler does
//!   not run ([`WebhookRejection::stored_response`]). [`inbox_route`] does the same with no
//!   handler to write.
//!
//! A panicking handler drops its claim while unwinding, which releases it.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::dev::{self, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;

use super::{receive_into_slot, refuse_declared_over_limit, ClaimSlot};
pub use super::{DeliveryInfo, Webhook, WebhookRejection};
use crate::receiver::Payload;
use crate::{Inbound, Receiver};

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;
type PayloadItem = Result<Bytes, actix_web::error::PayloadError>;

impl<T: Payload> FromRequest for Webhook<T> {
    type Error = WebhookRejection;
    type Future = LocalFuture<Result<Self, WebhookRejection>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let Some(receiver) = req.app_data::<web::Data<Receiver<T>>>().cloned() else {
            let err =
                WebhookRejection::setup("no web::Data<Receiver<T>> in app data for this route");
            return Box::pin(ready(Err(err)));
        };
        let Some(slot) = req.extensions().get::<ClaimSlot>().cloned() else {
            let err = WebhookRejection::setup(
                "add WebhookMiddleware: without it deliveries could not be deduplicated",
            );
            return Box::pin(ready(Err(err)));
        };
        let body = read_body(&receiver, req, payload.take());
        let req = req.clone();
        Box::pin(async move {
            let bytes = body.await?;
            let headers = to_http_headers(req.headers());
            let inbound = Inbound::new(&headers, &bytes).with_query(query(&req));
            receive_into_slot(&receiver, &inbound, &slot).await
        })
    }
}

/// Read the body up to the receiver's limit: 413 from a declared `Content-Length` before
/// reading, else actix's own `Bytes` extractor (so `PayloadConfig` applies on top of ours) over
/// a stream cut off at the limit.
fn read_body<T: Payload>(
    receiver: &Receiver<T>,
    req: &HttpRequest,
    payload: dev::Payload,
) -> LocalFuture<Result<Bytes, WebhookRejection>> {
    let (vendor, limit) = (receiver.vendor(), receiver.body_limit());
    let content_length = req.headers().get(header::CONTENT_LENGTH);
    if let Err(rejection) =
        refuse_declared_over_limit(vendor, limit, content_length.map(|v| v.as_bytes()))
    {
        return Box::pin(ready(Err(rejection)));
    }
    let stream: Pin<Box<dyn futures_core::Stream<Item = PayloadItem>>> = Box::pin(Limited {
        inner: payload,
        remaining: limit,
    });
    if req.headers().contains_key(header::CONTENT_ENCODING) {
        return Box::pin(read_encoded(vendor, stream));
    }
    let mut limited = dev::Payload::from(stream);
    let body = web::Bytes::from_request(req, &mut limited);
    Box::pin(async move {
        body.await.map_err(|err| {
            let status = to_http_status(err.as_response_error().status_code());
            WebhookRejection::body_for(vendor, status, || err.to_string())
        })
    })
}

/// A compressed body, read as sent (up to the limit) for the receiver to decode under its own
/// limit. actix-web's `Bytes` extractor would decode gzip, br and zstd itself when its
/// `compress-*` features are on (they are by default), bounded only by `PayloadConfig` and with
/// `Content-Encoding` left in place, so the receiver would decode twice. `PayloadConfig` does
/// not apply to these bodies; the receiver's limit bounds both the sent and the decoded bytes.
async fn read_encoded(
    vendor: crate::event::Vendor,
    stream: Pin<Box<dyn futures_core::Stream<Item = PayloadItem>>>,
) -> Result<Bytes, WebhookRejection> {
    let mut stream = stream;
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        match chunk {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(err) => {
                let status = to_http_status(ResponseError::status_code(&err));
                return Err(WebhookRejection::body_for(vendor, status, || {
                    err.to_string()
                }));
            }
        }
    }
    Ok(body.freeze())
}

/// The query string, `None` when empty (as `http::Uri::query` gives it to the other adapters).
fn query(req: &HttpRequest) -> Option<&str> {
    Some(req.query_string()).filter(|q| !q.is_empty())
}

/// actix-web 4 still uses `http` 0.2 types; the core uses `http` 1. Header names and values
/// are already validated, so every conversion succeeds; one that did not would be skipped and
/// show up as a missing header (400), never as a panic.
fn to_http_headers(src: &header::HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(src.len());
    for (name, value) in src.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    out
}

fn to_http_status(status: actix_web::http::StatusCode) -> http::StatusCode {
    http::StatusCode::from_u16(status.as_u16()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
}

fn to_actix_status(status: http::StatusCode) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// The payload stream, ended with `Overflow` (413) once more than `remaining` bytes arrive.
struct Limited {
    inner: dev::Payload,
    remaining: usize,
}

impl futures_core::Stream for Limited {
    type Item = PayloadItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.remaining.checked_sub(chunk.len()) {
                Some(left) => {
                    self.remaining = left;
                    Poll::Ready(Some(Ok(chunk)))
                }
                None => Poll::Ready(Some(Err(actix_web::error::PayloadError::Overflow))),
            },
            other => other,
        }
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        to_actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(r) = self.stored_response() {
            return HttpResponse::build(to_actix_status(r.status()))
                .content_type(r.content_type())
                .body(r.body().clone());
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        match self.public_text() {
            Some(text) => response.body(text),
            None => response.body(format!("{self}\n")),
        }
    }
}

/// Middleware that settles each [`Webhook`] claim by the handler's response: **2xx completes**
/// it, **anything else releases** it. Wrap the app or the scope that serves webhook routes;
/// the extractor answers 500 without it.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct WebhookMiddleware;

impl WebhookMiddleware {
    /// The middleware.
    pub fn new() -> Self {
        WebhookMiddleware
    }
}

impl<S, B> Transform<S, ServiceRequest> for WebhookMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = WebhookMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(WebhookMiddlewareService {
            service: Rc::new(service),
        }))
    }
}

/// The service [`WebhookMiddleware`] wraps around an app or scope.
#[derive(Debug)]
pub struct WebhookMiddlewareService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for WebhookMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<ServiceResponse<B>, actix_web::Error>>;

    dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let slot = ClaimSlot::default();
        req.extensions_mut().insert(slot.clone());
        let response = self.service.call(req);
        // A panic out of the handler releases the claim at once; dropped (client gone), the
        // claim holds its key until the lease ends (see `Claim`).
        Box::pin(async move {
            let result = slot.guard_panics(response).await;
            let status = match &result {
                Ok(response) => to_http_status(response.status()),
                Err(err) => to_http_status(err.as_response_error().status_code()),
            };
            slot.settle(status).await;
            result
        })
    }
}

/// Inbox mode: a POST route that needs no handler (see the axum adapter's `inbox_route` for
/// the answers). It reads the body with the same limits as [`Webhook`], calls
/// [`Receiver::accept`] and answers at once with the receiver's
/// [`InboxResponse`](crate::receiver::InboxResponse). No [`WebhookMiddleware`] is needed.
///
/// ```
/// use std::sync::Arc;
/// use actix_web::App;
/// use chathooks::inbox::MemoryInbox;
/// use chathooks::integrations::actix::inbox_route;
/// use chathooks::platform::sam::SamEvent;
/// use chathooks::verify::HmacSha256;
/// use chathooks::{Receiver, Secret};
/// # fn main() -> Result<(), chathooks::Error> {
/// let inbox = Arc::new(MemoryInbox::new());
/// let sam = Arc::new(
///     Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw("sam-demo-secret-0123456789")?))
///         .inbox(inbox.clone())
///         .build(),
/// );
/// let _app = App::new().route("/webhooks/sam", inbox_route(sam));
/// # Ok(()) }
/// ```
pub fn inbox_route<T: Payload>(receiver: std::sync::Arc<Receiver<T>>) -> actix_web::Route {
    web::post().to(move |req: HttpRequest, payload: web::Payload| {
        let receiver = receiver.clone();
        async move {
            match accept(&receiver, &req, payload.into_inner()).await {
                Ok(()) => {
                    let r = receiver.inbox_response();
                    HttpResponse::build(to_actix_status(r.status()))
                        .content_type(r.content_type())
                        .body(r.body().clone())
                }
                Err(rejection) => rejection.error_response(),
            }
        }
    })
}

async fn accept<T: Payload>(
    receiver: &Receiver<T>,
    req: &HttpRequest,
    payload: dev::Payload,
) -> Result<(), WebhookRejection> {
    let bytes = read_body(receiver, req, payload).await?;
    let headers = to_http_headers(req.headers());
    let inbound = Inbound::new(&headers, &bytes).with_query(query(req));
    receiver
        .accept_owned(&inbound, &bytes)
        .await
        .map(|_| ())
        .map_err(WebhookRejection::error)
}
