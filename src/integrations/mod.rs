//! Framework adapters: the [`Receiver`](crate::Receiver) as an axum or actix-web extractor.
//!
//! Both adapters do the same thing and only translate:
//!
//! 1. read the body through the framework's own body extractor (so `DefaultBodyLimit` /
//!    `PayloadConfig` still apply), after refusing a `Content-Length` over the receiver's
//!    [`body_limit`](crate::Receiver::body_limit) and with the stream cut off at that limit, so an
//!    over-limit body is answered 413 without being read to the end;
//! 2. [`receive`](crate::Receiver::receive) it: decode a gzip/deflate body under the same
//!    limit ([`encoding`](crate::encoding); other codings 415), verify → parse → claim;
//! 3. hand the handler a [`Webhook<T>`] (the typed event plus [`DeliveryInfo`]), or answer
//!    with a [`WebhookRejection`] whose status follows the crate's table (a duplicate of a
//!    completed delivery is a "rejection" that answers **200** without running the handler);
//! 4. after the handler, a middleware (axum: `WebhookLayer`; actix-web: `WebhookMiddleware`)
//!    **completes** the claim when the response is 2xx and **releases** it otherwise.
//!
//! ## Why a middleware settles the claim
//!
//! The claim must outlive the extractor (the handler has not run yet when extraction ends) and
//! be settled by the handler's *outcome*, which only the response status tells. A middleware
//! puts an empty claim slot into the request's extensions; the extractor parks its claim there;
//! the middleware settles it once the inner service has answered. Handlers cannot forget to
//! complete, cannot complete a failed delivery, and an early `return Err(..)` releases the key.
//!
//! Forgetting the middleware would silently break deduplication (every claim dropped, so every
//! retry runs the handler again), so the extractor refuses to run without it: it answers
//! **500 `add WebhookLayer`** (or `WebhookMiddleware`) before claiming anything.
//!
//! A panicking handler never leaves the key claimed: the middleware sees the panic unwind out
//! of the handler's future and releases the claim at once (with a panic-catching middleware
//! inside the webhook middleware, the panic becomes a 500 and the claim is released like any
//! failure).
//!
//! ## Cancelled requests keep their claim until the lease ends
//!
//! When the client disconnects mid-handler, the framework drops the request future: the claim
//! is **not** released, it holds the key until its lease ends ([`Dedupe::with_lease`], 30 s by
//! default). The sender's retry meanwhile gets 409 with `Retry-After`, then succeeds.
//! Releasing at once would let whoever holds a captured, not yet completed delivery start the
//! handler again and again by sending it and hanging up. Only an error answer (non-2xx) or a
//! panic releases at once. See [`Claim`].
//!
//! [`Dedupe::with_lease`]: crate::idempotency::Dedupe::with_lease

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use tracing::Instrument;

use crate::idempotency::IdempotencyKey;
use crate::lenient::Fix;
use crate::{Claim, Delivery, Error};

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

/// A verified, parsed and claimed delivery, as a handler argument.
///
/// `T` is any [`Payload`](crate::receiver::Payload): a vendor event such as
/// [`SamEvent`](crate::platform::sam::SamEvent), [`Normalized<E>`](crate::receiver::Normalized)
/// or [`RawBody`](crate::receiver::RawBody). The claim itself stays with the middleware, which
/// completes it when the handler answers 2xx.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Webhook<T> {
    /// The parsed event.
    pub event: T,
    /// Delivery id, dedupe key, scheme and repairs.
    pub info: DeliveryInfo,
}

impl<T> Webhook<T> {
    /// The parsed event.
    pub fn into_inner(self) -> T {
        self.event
    }
}

impl<T> std::ops::Deref for Webhook<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.event
    }
}

/// What the receiver learnt about a delivery besides its event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeliveryInfo {
    /// The sender's delivery id, signed or not. Deprecated: the name hid that an unsigned id
    /// can be changed by whoever replays a request.
    #[deprecated(
        since = "0.2.0",
        note = "use `signed_delivery_id` or `unsigned_delivery_id` (logs only)"
    )]
    pub delivery_id: Option<String>,
    /// The delivery id when the signature covers it (Standard Webhooks' `webhook-id`): stable
    /// across the sender's retries and safe to deduplicate on.
    pub signed_delivery_id: Option<String>,
    /// The delivery id from a header the signature does **not** cover (`X-GitHub-Delivery`,
    /// `X-Chatwoot-Delivery`): not authenticated, for logs and correlation only.
    pub unsigned_delivery_id: Option<String>,
    /// The dedupe key that was claimed.
    pub key: IdempotencyKey,
    /// The scheme that verified the delivery (`"standard-v1"`, `"sam"`…).
    pub scheme: &'static str,
    /// Which configured key matched.
    pub key_index: Option<usize>,
    /// Fixes made by [`lenient::repair`](crate::lenient::repair); empty when the body parsed
    /// as sent.
    pub repairs: Vec<Fix>,
}

/// Split a delivery into the handler's [`Webhook`] and the claim the middleware settles.
/// The part both adapters share once the body is read: run the receiver, park a fresh claim in
/// the middleware's slot, and turn duplicates and errors into rejections.
pub(crate) async fn receive_into_slot<T: crate::receiver::Payload>(
    receiver: &crate::Receiver<T>,
    inbound: &crate::Inbound<'_>,
    slot: &ClaimSlot,
) -> Result<Webhook<T>, WebhookRejection> {
    // Inbox mode puts instead of handing the delivery to a handler, whatever route serves it:
    // the extractor answers the sender with the inbox response and the handler never runs.
    if receiver.inbox().is_some() {
        return Err(match receiver.accept(inbound).await {
            Ok(_) => WebhookRejection::stored(receiver.inbox_response().clone()),
            Err(err) => WebhookRejection::error(err),
        });
    }
    match receiver.receive(inbound).await {
        Ok(crate::Received::Fresh(delivery)) => {
            let (hook, claim, span) = split(delivery);
            slot.park(claim, receiver.vendor().as_str(), span);
            Ok(hook)
        }
        Ok(crate::Received::Duplicate { key }) => Err(WebhookRejection::duplicate(key)),
        Err(err) => Err(WebhookRejection::error(err)),
    }
}

pub(crate) fn split<T>(delivery: Delivery<T>) -> (Webhook<T>, Claim, tracing::Span) {
    // Moved, not copied: only the key is cloned (the claim keeps its own).
    let parts = delivery.into_all();
    let (signed_delivery_id, unsigned_delivery_id) = if parts.delivery_id_signed {
        (parts.delivery_id.clone(), None)
    } else {
        (None, parts.delivery_id.clone())
    };
    #[allow(deprecated)]
    let info = DeliveryInfo {
        delivery_id: parts.delivery_id,
        signed_delivery_id,
        unsigned_delivery_id,
        key: parts.claim.key().clone(),
        scheme: parts.scheme,
        key_index: parts.key_index,
        repairs: parts.repairs,
    };
    (
        Webhook {
            event: parts.event,
            info,
        },
        parts.claim,
        parts.span,
    )
}

/// The body of a 200 answer to a duplicate.
pub(crate) const DUPLICATE_BODY: &str = "duplicate delivery, already processed\n";
/// The 503 body when the store cannot answer (see `WebhookRejection::public_text`).
pub(crate) const UNAVAILABLE_BODY: &str = "temporarily unavailable, retry later\n";
/// The 500 body for a receiver configuration error.
pub(crate) const MISCONFIGURED_BODY: &str = "the receiver is misconfigured\n";

/// Why the extractor did not hand a delivery to the handler. The response it produces follows
/// the crate's status table; a duplicate of a completed delivery answers **200**.
#[derive(Debug)]
pub struct WebhookRejection {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Verify, parse or dedupe failed.
    Error(Error),
    /// Already processed: answer 200, do not run the handler.
    Duplicate(IdempotencyKey),
    /// The framework's body extractor failed (its own limit, a broken connection…).
    Body { status: StatusCode, reason: String },
    /// A setup mistake the developer must fix.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    Setup(&'static str),
    /// Inbox mode: stored (or a duplicate of a stored delivery); answer with this.
    Stored(crate::receiver::InboxResponse),
}

impl WebhookRejection {
    pub(crate) fn error(err: Error) -> Self {
        WebhookRejection {
            kind: Kind::Error(err),
        }
    }

    pub(crate) fn stored(response: crate::receiver::InboxResponse) -> Self {
        WebhookRejection {
            kind: Kind::Stored(response),
        }
    }

    /// The inbox response when the receiver has an inbox: the delivery was stored (or was a
    /// duplicate of a stored one) instead of handed to the handler, and this is the answer.
    pub fn stored_response(&self) -> Option<&crate::receiver::InboxResponse> {
        match &self.kind {
            Kind::Stored(r) => Some(r),
            _ => None,
        }
    }

    pub(crate) fn duplicate(key: IdempotencyKey) -> Self {
        WebhookRejection {
            kind: Kind::Duplicate(key),
        }
    }

    /// The body is over the receiver's limit (declared or read): answered by the adapter
    /// before the receiver runs, so counted here.
    pub(crate) fn too_large(vendor: crate::event::Vendor, limit: usize) -> Self {
        let err = Error::BodyTooLarge { limit };
        crate::metrics::record_rejection(vendor.as_str(), &err);
        WebhookRejection::error(err)
    }

    /// The framework's body extractor failed: over its own limit or the stream's cut-off (413,
    /// counted as too large), or a broken upload (`reason`; not a delivery, not counted).
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn body_for(
        vendor: crate::event::Vendor,
        status: StatusCode,
        reason: impl FnOnce() -> String,
    ) -> Self {
        tracing::info!(%vendor, status = status.as_u16(), "body not read");
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            crate::metrics::record_delivery(
                vendor.as_str(),
                crate::metrics::Outcome::TooLarge,
                status.as_u16(),
            );
            return Self::body(status, "body exceeds the limit".into());
        }
        Self::body(status, reason())
    }

    pub(crate) fn body(status: StatusCode, reason: String) -> Self {
        WebhookRejection {
            kind: Kind::Body { status, reason },
        }
    }

    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) fn setup(reason: &'static str) -> Self {
        tracing::error!(reason, "webhook extractor misconfigured");
        WebhookRejection {
            kind: Kind::Setup(reason),
        }
    }

    /// The status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            Kind::Error(e) => e.status(),
            Kind::Duplicate(_) => StatusCode::OK,
            Kind::Stored(r) => r.status(),
            Kind::Body { status, .. } => *status,
            Kind::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `Retry-After` in whole seconds, for 409 (in flight) and 503 (store unavailable).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match &self.kind {
            Kind::Error(e) => e
                .retry_after()
                .map(|d| (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)),
            _ => None,
        }
    }

    /// The crate error behind this rejection, when verify, parse or dedupe failed.
    pub fn as_error(&self) -> Option<&Error> {
        match &self.kind {
            Kind::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Status, plain-text body and `Retry-After` seconds of the answer: what every adapter
    /// writes. The duplicate answer is on the hot path of every retry storm: no formatting.
    #[cfg_attr(not(any(feature = "axum", feature = "tower")), allow(dead_code))]
    pub(crate) fn parts(&self) -> (StatusCode, bytes::Bytes, Option<u64>) {
        let body = match self.duplicate_key() {
            Some(_) => bytes::Bytes::from_static(DUPLICATE_BODY.as_bytes()),
            None => match self.public_text() {
                Some(text) => bytes::Bytes::from_static(text.as_bytes()),
                None => bytes::Bytes::from(format!("{self}\n")),
            },
        };
        (self.status(), body, self.retry_after_secs())
    }

    /// The fixed answer for failures on the receiving side (a store down, a configuration
    /// error): the sender, who may be anybody that saw one request, learns nothing about the
    /// backend (its kind, host, SQLSTATE, file path). The reason goes to the WARN log.
    /// `None`: the error's own text, which names only what the request got wrong.
    pub(crate) fn public_text(&self) -> Option<&'static str> {
        match self.as_error()? {
            Error::StoreUnavailable { .. } => Some(UNAVAILABLE_BODY),
            Error::Config(_) | Error::InvalidSecret(_) => Some(MISCONFIGURED_BODY),
            _ => None,
        }
    }

    /// The dedupe key when the delivery was a duplicate of a completed one (answered 200).
    pub fn duplicate_key(&self) -> Option<&IdempotencyKey> {
        match &self.kind {
            Kind::Duplicate(key) => Some(key),
            _ => None,
        }
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // Errors name headers and JSON paths, never secrets or the expected signature.
            Kind::Error(e) => fmt::Display::fmt(e, f),
            Kind::Duplicate(_) => f.write_str(DUPLICATE_BODY.trim_end()),
            Kind::Body { reason, .. } => f.write_str(reason),
            Kind::Setup(reason) => f.write_str(reason),
            Kind::Stored(_) => f.write_str("stored in the inbox"),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// The slot a middleware puts into request extensions and the extractor parks its claim in.
#[derive(Clone, Default)]
pub(crate) struct ClaimSlot(Arc<Mutex<Option<Parked>>>);

/// A parked claim, with what the metrics and the delivery's span need when it is settled.
struct Parked {
    claim: Claim,
    vendor: &'static str,
    since: Option<std::time::Instant>,
    /// The receive span: it stays open until the handler has answered, and carries its status.
    span: tracing::Span,
}

impl Parked {
    /// Count the delivery and put the handler's `status` on its span.
    fn answered(&self, status: u16) {
        crate::metrics::stage_since(self.vendor, crate::metrics::Stage::Handler, self.since);
        crate::metrics::record_delivery(self.vendor, crate::metrics::Outcome::Accepted, status);
        self.span.record("http.response.status_code", status);
    }
}

impl ClaimSlot {
    /// Park `claim`. A claim already parked (a second extractor on one request) is released.
    pub(crate) fn park(&self, claim: Claim, vendor: &'static str, span: tracing::Span) {
        let parked = Parked {
            claim,
            vendor,
            since: crate::metrics::start(),
            span,
        };
        let previous = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(parked);
        if let Some(previous) = previous {
            previous.claim.release_detached();
        }
    }

    /// Poll `fut` (the handler's response) so that a panic unwinding out of it releases the
    /// parked claim at once. A cancelled `fut` (dropped, not unwinding) keeps the claim until
    /// its lease ends: see [`Claim`]'s docs.
    pub(crate) async fn guard_panics<F: std::future::Future>(&self, fut: F) -> F::Output {
        struct OnUnwind<'a>(&'a ClaimSlot);
        impl Drop for OnUnwind<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let parked = self
                        .0
                         .0
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take();
                    if let Some(parked) = parked {
                        // Counted as the 500 a panic-catching middleware would answer; the
                        // server itself may instead drop the connection. Either way the
                        // sender retries.
                        parked.answered(500);
                        parked.span.in_scope(|| {
                            tracing::warn!(
                                key = parked.claim.key().as_str(),
                                "handler panicked; claim released so the sender's retry is processed"
                            )
                        });
                        parked.claim.release_detached();
                    }
                }
            }
        }
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            let _guard = OnUnwind(self);
            fut.as_mut().poll(cx)
        })
        .await
    }

    /// The span of the parked delivery (none parked: [`tracing::Span::none`]), for the inner
    /// service to run in.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn span(&self) -> tracing::Span {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or_else(tracing::Span::none, |p| p.span.clone())
    }

    /// Complete the parked claim when `status` is 2xx, release it otherwise.
    ///
    /// A failed completion does not change the response: the handler did succeed, so the
    /// sender is told so; the claim falls back to its drop path (released, or freed when its
    /// lease ends) and the failure is logged.
    pub(crate) async fn settle(&self, status: StatusCode) {
        // One lock: this runs on every fresh delivery.
        let parked = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(parked) = parked else {
            return;
        };
        parked.answered(status.as_u16());
        let Parked { claim, span, .. } = parked;
        // The log lines below belong to the delivery: they carry its vendor and id.
        Self::settle_claim(claim, status).instrument(span).await;
    }

    async fn settle_claim(claim: Claim, status: StatusCode) {
        // The key is only copied for the log lines below, and only when something may log them.
        let key = tracing::level_enabled!(tracing::Level::WARN).then(|| claim.key().clone());
        let key = key.as_ref().map_or("", IdempotencyKey::as_str);
        if status.is_success() {
            match claim.complete().await {
                Ok(true) => {
                    tracing::debug!(key, status = status.as_u16(), "completed")
                }
                Ok(false) => {
                    tracing::warn!(key,
                    "handler outlived the claim's lease; not marked done (consider a longer lease)")
                }
                Err(err) => tracing::warn!(key, error = %err,
                    "could not mark the delivery done; a retry may run the handler again"),
            }
        } else {
            match claim.release().await {
                Ok(_) => tracing::info!(
                    key,
                    status = status.as_u16(),
                    "handler failed; claim released so the sender's retry is processed"
                ),
                Err(err) => tracing::warn!(key, error = %err,
                    "could not release the claim; the key frees itself when its lease ends"),
            }
        }
    }
}

impl fmt::Debug for ClaimSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimSlot")
    }
}

/// The declared `Content-Length`, if it is present and numeric.
fn declared_length(value: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}

/// 413 from the head when the declared `Content-Length` (the header's bytes) is over `limit`:
/// every adapter checks this before reading a byte of the body.
pub(crate) fn refuse_declared_over_limit(
    vendor: crate::event::Vendor,
    limit: usize,
    content_length: Option<&[u8]>,
) -> Result<(), WebhookRejection> {
    if declared_length(content_length).is_some_and(|len| len > limit as u64) {
        tracing::info!(%vendor, limit, "declared body length over the limit");
        return Err(WebhookRejection::too_large(vendor, limit));
    }
    Ok(())
}

/// A compressed body decoded for a service that gets the body after the receiver (the tower
/// layer's `VerifiedBody` must be the bytes the signature covered), with `Content-Encoding`
/// removed and `Content-Length` set to match so the receiver does not decode it again. A body
/// that does not decode is passed on as sent: the receiver refuses it (415/400/413) and logs
/// and counts it like any rejection.
#[cfg(feature = "tower")]
pub(crate) fn decoded_for_inner<T: crate::receiver::Payload>(
    headers: &mut http::HeaderMap,
    bytes: bytes::Bytes,
    receiver: &crate::Receiver<T>,
) -> bytes::Bytes {
    if !headers.contains_key(http::header::CONTENT_ENCODING) {
        return bytes;
    }
    match crate::encoding::decode_body(headers, &bytes, receiver.body_limit()) {
        Ok(std::borrow::Cow::Owned(decoded)) => {
            headers.remove(http::header::CONTENT_ENCODING);
            headers.insert(http::header::CONTENT_LENGTH, decoded.len().into());
            bytes::Bytes::from(decoded)
        }
        // `identity` (or an empty header) is no coding at all: nothing left to say.
        Ok(std::borrow::Cow::Borrowed(_)) => {
            headers.remove(http::header::CONTENT_ENCODING);
            bytes
        }
        Err(_) => bytes,
    }
}
