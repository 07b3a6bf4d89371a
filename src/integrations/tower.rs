//! Any tower stack (hyper, tonic, poem's tower compatibility, axum…): a [`ReceiverLayer`] that
//! verifies, dedupes and parses each request before the inner service sees it.
//!
//! The layer answers the sender itself whenever the inner service must not run — a rejection
//! (400/401/413/422/409/503 by the crate's table), a duplicate of a completed delivery (200) —
//! and otherwise passes the request on with:
//!
//! - the verified body as a [`VerifiedBody`] (the exact bytes, already read), and
//! - the parsed [`Webhook<T>`] in the request's extensions
//!   (`req.extensions_mut().remove::<Webhook<T>>()`).
//!
//! Like the axum and actix adapters, it **completes** the claim when the inner service answers
//! 2xx and **releases** it otherwise, so the sender's retry of a failed delivery is processed.
//!
//! **Inbox mode**: when the receiver was built with an [inbox](crate::receiver::ReceiverBuilder::inbox),
//! the layer puts each verified delivery there and answers the sender at once; the inner service
//! is never called (workers handle the entries). [`InboxService`] is the same without an inner
//! service.
//!
//! It depends only on `tower-service`, `tower-layer`, `http` and `http-body` 1.x. The response
//! body type of the inner service must be buildable from [`Bytes`] (`From<Bytes>`: hyper's
//! `Full<Bytes>`, axum's `Body`, `String`-backed bodies…) so the layer can write its own answers.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use chathooks::integrations::tower::{ReceiverLayer, VerifiedBody};
//! use chathooks::integrations::Webhook;
//! use chathooks::platform::sam::SamEvent;
//! use chathooks::{verify::HmacSha256, Receiver, Secret};
//! use tower_layer::Layer;
//!
//! # #[derive(Debug)] struct Full(Bytes);
//! # impl From<Bytes> for Full { fn from(b: Bytes) -> Self { Full(b) } }
//! # fn main() -> Result<(), chathooks::Error> {
//! let receiver = Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(
//!     "sam-signing-secret-from-the-dashboard",
//! )?))
//! .build();
//!
//! // Any tower service works as the inner one; here a plain function.
//! let handler = tower_service_fn(|mut req: http::Request<VerifiedBody>| async move {
//!     let hook = req.extensions_mut().remove::<Webhook<SamEvent>>().expect("set by the layer");
//!     println!("{}", hook.event.name());
//!     Ok::<_, Infallible>(http::Response::new(Full(Bytes::from_static(b"ok"))))
//! });
//! let service = ReceiverLayer::new(receiver).layer(handler);
//! # let _ = service;
//! # Ok(())
//! # }
//! # fn tower_service_fn<F>(f: F) -> ServiceFn<F> { ServiceFn(f) }
//! # #[derive(Clone)] struct ServiceFn<F>(F);
//! # impl<F, Fut, R> tower_service::Service<http::Request<VerifiedBody>> for ServiceFn<F>
//! # where F: FnMut(http::Request<VerifiedBody>) -> Fut, Fut: std::future::Future<Output = Result<R, Infallible>> {
//! #     type Response = R; type Error = Infallible; type Future = Fut;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> { std::task::Poll::Ready(Ok(())) }
//! #     fn call(&mut self, req: http::Request<VerifiedBody>) -> Fut { (self.0)(req) }
//! # }
//! ```
//!
//! With hyper directly, wrap the layered service in `hyper_util::service::TowerToHyperService`
//! (see `examples/hyper_receiver.rs`).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tracing::Instrument;

use super::{receive_into_slot, refuse_declared_over_limit, ClaimSlot, Webhook, WebhookRejection};
use crate::receiver::Payload;
use crate::{Inbound, Receiver};

/// Wraps a service with a [`Receiver`]: see the [module docs](self).
pub struct ReceiverLayer<T> {
    receiver: Arc<Receiver<T>>,
}

impl<T> ReceiverLayer<T> {
    /// A layer that receives with `receiver` (a `Receiver<T>` or an `Arc` of one).
    pub fn new(receiver: impl Into<Arc<Receiver<T>>>) -> Self {
        ReceiverLayer {
            receiver: receiver.into(),
        }
    }
}

impl<T> Clone for ReceiverLayer<T> {
    fn clone(&self) -> Self {
        ReceiverLayer {
            receiver: Arc::clone(&self.receiver),
        }
    }
}

impl<T> fmt::Debug for ReceiverLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverLayer").finish_non_exhaustive()
    }
}

impl<S, T> tower_layer::Layer<S> for ReceiverLayer<T> {
    type Service = ReceiverService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        ReceiverService {
            inner,
            receiver: Arc::clone(&self.receiver),
        }
    }
}

/// The service [`ReceiverLayer`] builds around an inner service.
pub struct ReceiverService<S, T> {
    inner: S,
    receiver: Arc<Receiver<T>>,
}

impl<S: Clone, T> Clone for ReceiverService<S, T> {
    fn clone(&self) -> Self {
        ReceiverService {
            inner: self.inner.clone(),
            receiver: Arc::clone(&self.receiver),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for ReceiverService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, T, B, ResBody> tower_service::Service<Request<B>> for ReceiverService<S, T>
where
    S: tower_service::Service<Request<VerifiedBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes> + Send + 'static,
    T: Payload + Clone + Sync,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The instance that was polled ready serves this call; a clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let receiver = Arc::clone(&self.receiver);
        Box::pin(async move {
            if receiver.inbox().is_some() {
                return Ok(accept(&receiver, req).await);
            }
            let (mut parts, body) = req.into_parts();
            let bytes = match read_body(&receiver, &parts.headers, body).await {
                Ok(bytes) => super::decoded_for_inner(&mut parts.headers, bytes, &receiver),
                Err(rejection) => return Ok(rejection.into_http()),
            };
            let slot = ClaimSlot::default();
            let received = {
                let inbound = Inbound::new(&parts.headers, &bytes).with_query(parts.uri.query());
                receive_into_slot(&receiver, &inbound, &slot).await
            };
            let hook = match received {
                Ok(hook) => hook,
                Err(rejection) => return Ok(rejection.into_http()),
            };
            let mut req = Request::from_parts(parts, VerifiedBody::new(bytes));
            req.extensions_mut().insert(hook);
            // A panic out of the handler releases the claim at once; if this future is dropped
            // (client gone) the claim holds its key until the lease ends (see `Claim`).
            // The inner service runs in the delivery's span: its events carry vendor and id.
            let span = slot.span();
            let call = span.in_scope(|| inner.call(req)).instrument(span);
            let result = slot.guard_panics(call).await;
            let status = match &result {
                Ok(response) => response.status(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            slot.settle(status).await;
            result
        })
    }
}

/// A service with no inner one for a [`Receiver`] in inbox mode: verify, put into the
/// receiver's inbox and answer the sender at once (the receiver's
/// [`InboxResponse`](crate::receiver::InboxResponse), or the rejection by the crate's table:
/// 400/401/413/422, 503 with `Retry-After` when the inbox is unavailable). A
/// [`ReceiverLayer`] whose receiver has an inbox answers the same way and never calls its inner
/// service.
///
/// ```
/// use std::sync::Arc;
/// use chathooks::inbox::MemoryInbox;
/// use chathooks::integrations::tower::InboxService;
/// use chathooks::platform::sam::SamEvent;
/// use chathooks::{verify::HmacSha256, Receiver, Secret};
///
/// # fn main() -> Result<(), chathooks::Error> {
/// let receiver = Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw("sam-signing-secret-from-the-dashboard")?))
///     .inbox(MemoryInbox::new())
///     .build();
/// // Serve it with hyper (`TowerToHyperService`) or any tower stack; workers handle the entries.
/// let service: InboxService<SamEvent, Full> = InboxService::new(receiver);
/// # let _ = service;
/// # Ok(())
/// # }
/// # struct Full(bytes::Bytes);
/// # impl From<bytes::Bytes> for Full { fn from(b: bytes::Bytes) -> Self { Full(b) } }
/// ```
///
/// `R` is the response body type the server wants (hyper's `Full<Bytes>`, axum's `Body`…; any
/// `From<Bytes>`).
pub struct InboxService<T, R> {
    receiver: Arc<Receiver<T>>,
    body: PhantomData<fn() -> R>,
}

impl<T, R> InboxService<T, R> {
    /// The service for `receiver` (built with [`inbox`](crate::receiver::ReceiverBuilder::inbox)).
    pub fn new(receiver: impl Into<Arc<Receiver<T>>>) -> Self {
        InboxService {
            receiver: receiver.into(),
            body: PhantomData,
        }
    }
}

impl<T, R> Clone for InboxService<T, R> {
    fn clone(&self) -> Self {
        InboxService {
            receiver: Arc::clone(&self.receiver),
            body: PhantomData,
        }
    }
}

impl<T, R> fmt::Debug for InboxService<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxService").finish_non_exhaustive()
    }
}

impl<T, B, ResBody> tower_service::Service<Request<B>> for InboxService<T, ResBody>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes> + Send + 'static,
    T: Payload + Sync,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let receiver = Arc::clone(&self.receiver);
        Box::pin(async move { Ok(accept(&receiver, req).await) })
    }
}

/// Inbox mode: read, verify and put `req`, and build the answer to the sender.
async fn accept<T: Payload, B, R>(receiver: &Receiver<T>, req: Request<B>) -> Response<R>
where
    B: Body,
    B::Error: Into<BoxError>,
    R: From<Bytes>,
{
    let (parts, body) = req.into_parts();
    let bytes = match read_body(receiver, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(rejection) => return rejection.into_http(),
    };
    let inbound = Inbound::new(&parts.headers, &bytes).with_query(parts.uri.query());
    match receiver.accept_owned(&inbound, &bytes).await {
        Ok(_) => receiver.inbox_response().to_http(),
        Err(err) => WebhookRejection::error(err).into_http(),
    }
}

/// Read `body` up to the receiver's limit: 413 from a declared `Content-Length` before reading
/// anything, or as soon as the stream passes the limit (the rest is never read).
pub(crate) async fn read_body<T: Payload, B>(
    receiver: &Receiver<T>,
    headers: &http::HeaderMap,
    body: B,
) -> Result<Bytes, WebhookRejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let limit = receiver.body_limit();
    let vendor = receiver.vendor();
    refuse_declared_over_limit(
        vendor,
        limit,
        headers.get(CONTENT_LENGTH).map(|v| v.as_bytes()),
    )?;
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut len = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            let reason = format!("body not read: {}", e.into());
            tracing::info!(%vendor, "body not read");
            WebhookRejection::body(StatusCode::BAD_REQUEST, reason)
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers carry nothing the verifiers read
        };
        len = len.saturating_add(data.remaining());
        if len > limit {
            tracing::info!(%vendor, limit, "body over the limit");
            return Err(WebhookRejection::too_large(vendor, limit));
        }
        // One data frame (the common case) is kept without a copy.
        match first.take() {
            None if rest.is_empty() => first = Some(data.copy_to_bytes(data.remaining())),
            Some(f) => {
                rest.extend_from_slice(&f);
                rest.extend_from_slice(&data.copy_to_bytes(data.remaining()));
            }
            None => rest.extend_from_slice(&data.copy_to_bytes(data.remaining())),
        }
    }
    Ok(match first {
        Some(bytes) => bytes,
        None => rest.freeze(),
    })
}

impl WebhookRejection {
    /// The answer to the sender as an `http::Response` with any body buildable from bytes:
    /// the status from the crate's table, a plain-text reason (never a secret or a body
    /// value), and `Retry-After` for 409 and 503.
    pub fn into_http<R: From<Bytes>>(self) -> Response<R> {
        if let Some(stored) = self.stored_response() {
            return stored.to_http();
        }
        let (status, body, retry_after) = self.parts();
        let mut response = Response::new(R::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(secs) = retry_after {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

/// The verified body the inner service receives: the exact bytes the signature covered, already
/// read. An [`http_body::Body`] of one frame; [`VerifiedBody::bytes`] gives them directly.
#[derive(Debug, Clone, Default)]
pub struct VerifiedBody(Option<Bytes>);

impl VerifiedBody {
    /// A body of `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        VerifiedBody(Some(bytes))
    }

    /// The bytes (empty once the body was polled to its end).
    pub fn bytes(&self) -> Bytes {
        self.0.clone().unwrap_or_default()
    }

    /// The bytes, consuming the body.
    pub fn into_bytes(self) -> Bytes {
        self.0.unwrap_or_default()
    }
}

impl Body for VerifiedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.0
                .take()
                .filter(|b| !b.is_empty())
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

// Webhook<T> goes into request extensions, which need `Clone + Send + Sync`.
const _: () = {
    fn assert_ext<T: Clone + Send + Sync + 'static>() {}
    fn check() {
        assert_ext::<Webhook<crate::platform::sam::SamEvent>>();
    }
    let _ = check;
};
