//! axum 0.8: the [`Webhook<T>`] extractor and the [`WebhookLayer`] that settles its claim.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::post, Router, http::StatusCode};
//! use chathooks::{Receiver, Secret};
//! use chathooks::integrations::axum::{Webhook, WebhookLayer};
//! use chathooks::platform::{sam::SamEvent, standard::StandardEvent};
//! use chathooks::verify::{HmacSha256, StandardWebhooks};
//!
//! async fn on_sam(hook: Webhook<SamEvent>) -> StatusCode {
//!     println!("sam: {:?}", hook.event);
//!     StatusCode::OK // 2xx: the delivery is marked done; anything else: released for a retry
//! }
//!
//! async fn on_standard(hook: Webhook<StandardEvent>) -> StatusCode {
//!     println!("standard: {}", hook.event.event_type);
//!     StatusCode::NO_CONTENT
//! }
//!
//! # fn main() -> Result<(), chathooks::Error> {
//! let sam = Arc::new(Receiver::<SamEvent>::builder(
//!     HmacSha256::sam(Secret::raw("sam-demo-secret-0123456789")?),
//! ).build());
//! let standard = Arc::new(Receiver::<StandardEvent>::builder(
//!     StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?,
//! ).build());
//!
//! // One receiver per route: each route gets its own state.
//! let app: Router = Router::new()
//!     .route("/webhooks/sam", post(on_sam).with_state(sam))
//!     .route("/webhooks/standard", post(on_standard).with_state(standard))
//!     .layer(WebhookLayer::new()); // required: settles each claim by the response status
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! With one state struct for the whole router instead, implement
//! `FromRef<AppState> for Arc<Receiver<T>>` for each receiver field.
//!
//! # What the extractor does
//!
//! - Looks up the receiver with [`FromRef`]: `Arc<Receiver<T>>: FromRef<S>`.
//! - Refuses with 500 `add WebhookLayer` if the layer is missing, before reading or claiming.
//! - Answers 413 when `Content-Length` exceeds [`Receiver::body_limit`], without reading the
//!   body; otherwise reads it with axum's [`Bytes`] extractor (so [`DefaultBodyLimit`] applies)
//!   through a stream cut off at the receiver's limit (413 again, body not read to the end).
//! - Verifies, parses and claims; rejections answer with the crate's status table, as plain
//!   text naming the header or JSON path at fault. A duplicate of a completed delivery answers
//!   200 and the handler does not run; one still in flight answers 409 with `Retry-After`.
//! - On a receiver with an inbox ([`ReceiverBuilder::inbox`](crate::receiver::ReceiverBuilder::inbox))
//!   it puts the delivery there instead and answers with the inbox response: the handler does
//!   not run ([`WebhookRejection::stored_response`]). [`inbox_route`] does the same with no
//!   handler to write.
//!
//! It consumes the body, so it must be the handler's last argument.
//!
//! # Panics in handlers
//!
//! A panic drops the claim while unwinding, which releases it: put tower-http's
//! `CatchPanicLayer` inside (added before) [`WebhookLayer`] to turn it into a 500, or let hyper
//! drop the connection; either way the sender's retry is processed.
//!
//! [`DefaultBodyLimit`]: ::axum::extract::DefaultBodyLimit

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::body::{Body, Bytes};
use ::axum::extract::{FromRef, FromRequest, Request};
use ::axum::response::{IntoResponse, Response};
use http::header::CONTENT_LENGTH;
use http::StatusCode;

use super::{receive_into_slot, refuse_declared_over_limit, ClaimSlot};
pub use super::{DeliveryInfo, Webhook, WebhookRejection};
use crate::receiver::Payload;
use crate::{Inbound, Receiver};

impl<S, T> FromRequest<S> for Webhook<T>
where
    T: Payload,
    Arc<Receiver<T>>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Some(slot) = req.extensions().get::<ClaimSlot>().cloned() else {
            return Err(WebhookRejection::setup(
                "add WebhookLayer: without it deliveries could not be deduplicated",
            ));
        };
        let receiver = Arc::<Receiver<T>>::from_ref(state);
        let (headers, uri, bytes) = read_body(&receiver, req, state).await?;
        let inbound = Inbound::new(&headers, &bytes).with_query(uri.query());
        receive_into_slot(&receiver, &inbound, &slot).await
    }
}

/// Read the body up to the receiver's limit: 413 from a declared `Content-Length` before
/// reading, else axum's own `Bytes` extractor (so `DefaultBodyLimit` applies) over a stream cut
/// off at the limit. Returns the headers and URI the verifier needs with the bytes.
async fn read_body<T: Payload, S: Send + Sync>(
    receiver: &Receiver<T>,
    req: Request,
    state: &S,
) -> Result<(http::HeaderMap, http::Uri, Bytes), WebhookRejection> {
    let (vendor, limit) = (receiver.vendor(), receiver.body_limit());
    refuse_declared_over_limit(
        vendor,
        limit,
        req.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes()),
    )?;
    let (mut parts, body) = req.into_parts();
    // The body extractor only needs the body and extensions (DefaultBodyLimit lives there).
    let headers = std::mem::take(&mut parts.headers);
    let uri = std::mem::take(&mut parts.uri);
    let limited = Body::new(http_body_util::Limited::new(body, limit));
    let bytes = Bytes::from_request(Request::from_parts(parts, limited), state)
        .await
        .map_err(|rejection| {
            WebhookRejection::body_for(vendor, rejection.status(), || rejection.body_text())
        })?;
    Ok((headers, uri, bytes))
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        self.into_http::<Body>()
    }
}

/// The tower layer that settles each [`Webhook`] claim by the handler's response: **2xx
/// completes** it (retries are answered 200 without running the handler), **anything else
/// releases** it (the sender's retry runs the handler again).
///
/// Add it to the router (`Router::layer` or `route_layer`) that serves webhook routes; the
/// extractor answers 500 without it. It is cheap on other routes: one small allocation per
/// request.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct WebhookLayer;

impl WebhookLayer {
    /// The layer.
    pub fn new() -> Self {
        WebhookLayer
    }
}

impl<S> tower_layer::Layer<S> for WebhookLayer {
    type Service = WebhookService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService { inner }
    }
}

/// The service [`WebhookLayer`] wraps around a router or handler.
#[derive(Debug, Clone)]
pub struct WebhookService<S> {
    inner: S,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for WebhookService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let slot = ClaimSlot::default();
        req.extensions_mut().insert(slot.clone());
        let response = self.inner.call(req);
        // A panic out of the handler releases the claim at once; if this future is dropped
        // (client gone) the claim holds its key until the lease ends (see `Claim`).
        Box::pin(async move {
            let result = slot.guard_panics(response).await;
            let status = match &result {
                Ok(response) => response.status(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            slot.settle(status).await;
            result
        })
    }
}

/// Inbox mode: a POST route that needs no handler. It reads the body (with the same limits as
/// [`Webhook`]), calls [`Receiver::accept`] (verify → key → put into the receiver's inbox) and
/// answers at once: the receiver's [`InboxResponse`](crate::receiver::InboxResponse) (200
/// `{"ok":true}` by default, SaleSmartly's `{"code":0,"msg":"Success"}`) for a stored delivery
/// and for a duplicate of one; otherwise the crate's status table (401, 413, 422 for a body
/// that cannot yield a dedupe key, 503 with `Retry-After` when the inbox is unavailable).
/// No [`WebhookLayer`] is needed: nothing is claimed.
///
/// ```
/// use std::sync::Arc;
/// use axum::Router;
/// use chathooks::inbox::MemoryInbox;
/// use chathooks::integrations::axum::inbox_route;
/// use chathooks::platform::sam::SamEvent;
/// use chathooks::verify::HmacSha256;
/// use chathooks::{Receiver, Secret};
/// # fn main() -> Result<(), chathooks::Error> {
/// let inbox = Arc::new(MemoryInbox::new());
/// let sam = Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw("sam-demo-secret-0123456789")?))
///     .inbox(inbox.clone())
///     .build();
/// let app: Router = Router::new().route("/webhooks/sam", inbox_route(Arc::new(sam)));
/// # let _ = app;
/// # Ok(()) }
/// ```
pub fn inbox_route<T: Payload, S: Clone + Send + Sync + 'static>(
    receiver: Arc<Receiver<T>>,
) -> ::axum::routing::MethodRouter<S> {
    ::axum::routing::post(move |req: Request| {
        let receiver = receiver.clone();
        async move {
            match accept(&receiver, req).await {
                Ok(()) => receiver.inbox_response().to_http::<Body>(),
                Err(rejection) => rejection.into_response(),
            }
        }
    })
}

async fn accept<T: Payload>(receiver: &Receiver<T>, req: Request) -> Result<(), WebhookRejection> {
    let (headers, uri, bytes) = read_body(receiver, req, &()).await?;
    let inbound = Inbound::new(&headers, &bytes).with_query(uri.query());
    receiver
        .accept_owned(&inbound, &bytes)
        .await
        .map(|_| ())
        .map_err(WebhookRejection::error)
}
