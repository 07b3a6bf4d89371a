//! [`Receiver`]: verify, parse and dedupe one delivery in one call, framework-free.
//!
//! A receiver bundles a [`Verifier`], a parser (a typed vendor event, the normalised
//! [`Event`], or the raw bytes), an idempotency store (in memory by default), a
//! body limit and the repair policy. [`Receiver::receive`] returns either a fresh
//! [`Delivery`] holding the parsed event and its claim, a [`Received::Duplicate`] (answer 200
//! without running the handler), or an [`Error`] whose [`status`](Error::status) is the answer.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use chathooks::{Inbound, Received, Receiver, platform::standard::StandardEvent};
//! use chathooks::verify::StandardWebhooks;
//!
//! # tokio_test_block_on(async {
//! let verifier = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let body = br#"{"type":"contact.created","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;
//! let signature = verifier.sign("msg_1", now, body);
//! let receiver = Receiver::<StandardEvent>::builder(verifier).build();
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("webhook-id", "msg_1".parse().unwrap());
//! headers.insert("webhook-timestamp", "1700000000".parse().unwrap());
//! headers.insert("webhook-signature", signature.parse().unwrap());
//! let inbound = Inbound::new(&headers, body);
//!
//! match receiver.receive_at(&inbound, now).await? {
//!     Received::Fresh(delivery) => {
//!         assert_eq!(delivery.event().event_type, "contact.created");
//!         delivery.complete().await?; // the handler succeeded
//!     }
//!     Received::Duplicate { .. } => unreachable!("first delivery"),
//! }
//! // The sender's retry of the same delivery is recognised and not handled twice:
//! assert!(matches!(receiver.receive_at(&inbound, now).await?, Received::Duplicate { .. }));
//! # Ok::<(), chathooks::Error>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::Instrument;

use crate::event::{Event, Vendor};
use crate::idempotency::{Claim, Dedupe, IdSource, IdempotencyKey, IdempotencyStore, MemoryStore};
use crate::inbox::{Inbox, NewEntry, PutOutcome};
use crate::lenient::{self, Fix};
use crate::metrics::{self, Stage};
use crate::platform::VendorEvent;
use crate::verify::Unverified;
use crate::{Error, Inbound, ParseError, Verified, Verifier};

/// Default body limit: 1 MiB. Webhook payloads are usually under 20 KB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Headers an inbox entry keeps besides the body: content type and the delivery id and
/// timestamp headers (never signatures or tokens). Parsed once: a lookup by `HeaderName` does
/// not parse and lowercase the name on every request.
static KEPT_HEADERS: [http::HeaderName; 5] = [
    http::header::CONTENT_TYPE,
    http::HeaderName::from_static("webhook-id"),
    http::HeaderName::from_static("webhook-timestamp"),
    http::HeaderName::from_static("svix-id"),
    http::HeaderName::from_static("svix-timestamp"),
];

/// The [`KEPT_HEADERS`] that `headers` holds, in that order, each name's first value (values
/// that are not UTF-8 are not kept). One pass over the request's few headers: five lookups by
/// name hashed five names on every delivery, a sixth of the inbox route's own work.
fn kept_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    let mut found: [Option<&http::HeaderValue>; KEPT_HEADERS.len()] = Default::default();
    for (name, value) in headers {
        if let Some(i) = KEPT_HEADERS.iter().position(|kept| kept == name) {
            found[i].get_or_insert(value);
        }
    }
    let mut kept = Vec::with_capacity(found.iter().flatten().count());
    for (name, value) in KEPT_HEADERS.iter().zip(found) {
        if let Some(value) = value.and_then(|v| v.to_str().ok()) {
            // Names are lowercase already.
            kept.push((name.as_str().to_owned(), value.to_owned()));
        }
    }
    kept
}

/// What an inbox route answers once the delivery is stored: status 200 and a small JSON body
/// by default, configurable per receiver ([`ReceiverBuilder::inbox_response`]).
///
/// ```
/// use chathooks::event::Vendor;
/// use chathooks::receiver::InboxResponse;
/// assert_eq!(&InboxResponse::for_vendor(Vendor::Sam).body()[..], br#"{"ok":true}"#);
/// // SaleSmartly receivers conventionally answer this:
/// assert_eq!(
///     &InboxResponse::for_vendor(Vendor::SaleSmartly).body()[..],
///     br#"{"code":0,"msg":"Success"}"#
/// );
/// let custom = InboxResponse::json(r#"{"received":true}"#).with_status(http::StatusCode::ACCEPTED);
/// assert_eq!(custom.status(), 202);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxResponse {
    status: http::StatusCode,
    content_type: &'static str,
    body: bytes::Bytes,
}

impl InboxResponse {
    /// 200 with this JSON body.
    pub fn json(body: impl Into<bytes::Bytes>) -> Self {
        InboxResponse {
            status: http::StatusCode::OK,
            content_type: "application/json",
            body: body.into(),
        }
    }

    /// 200 with this plain-text body.
    pub fn text(body: impl Into<bytes::Bytes>) -> Self {
        InboxResponse {
            content_type: "text/plain; charset=utf-8",
            ..Self::json(body)
        }
    }

    /// The vendor's conventional answer: `{"code":0,"msg":"Success"}` for SaleSmartly,
    /// `{"ok":true}` for the others.
    pub fn for_vendor(vendor: Vendor) -> Self {
        match vendor {
            Vendor::SaleSmartly => Self::json(&br#"{"code":0,"msg":"Success"}"#[..]),
            _ => Self::json(&br#"{"ok":true}"#[..]),
        }
    }

    /// Answer with `status` instead (keep it 2xx: senders retry anything else).
    pub fn with_status(mut self, status: http::StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The status.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The body.
    pub fn body(&self) -> &bytes::Bytes {
        &self.body
    }

    /// This answer as an `http::Response` with any body buildable from bytes (hyper's
    /// `Full<Bytes>`, axum's `Body`…): what the adapters' inbox routes send.
    pub fn to_http<R: From<bytes::Bytes>>(&self) -> http::Response<R> {
        let mut response = http::Response::new(R::from(self.body.clone()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(self.content_type),
        );
        response
    }
}

/// What a [`Receiver`] turns the verified body into.
///
/// Implemented for every [`VendorEvent`], for [`Normalized<E>`] (the cross-vendor
/// [`Event`]) and for [`RawBody`] (the verified bytes, unparsed).
pub trait Payload: Sized + Send + 'static {
    /// The vendor, for logs.
    const VENDOR: Vendor;
    /// The default namespace of this payload's dedupe keys (`<namespace>:<id>`); the vendor's
    /// name unless overridden.
    const NAMESPACE: &'static str = Self::VENDOR.as_str();
    /// Parse the verified body.
    fn parse(body: &[u8]) -> Result<Self, ParseError>;
    /// The vendor's own event id, if the payload carries one (see [`VendorEvent::event_id`]).
    fn event_id(&self) -> Option<Cow<'_, str>>;
    /// The event name, for logs.
    fn name(&self) -> Cow<'_, str>;
    /// `true` for an event the typed parser does not know (see [`VendorEvent::is_unknown`]).
    fn is_unknown(&self) -> bool {
        false
    }
}

impl<E: VendorEvent> Payload for E {
    const VENDOR: Vendor = E::VENDOR;
    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        E::from_slice(body)
    }
    fn event_id(&self) -> Option<Cow<'_, str>> {
        VendorEvent::event_id(self)
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(VendorEvent::name(self))
    }
    fn is_unknown(&self) -> bool {
        VendorEvent::is_unknown(self)
    }
}

/// The normalised [`Event`] of vendor `E`, for services that do not care which vendor sent it.
#[derive(Debug, Clone)]
pub struct Normalized<E> {
    /// The normalised event.
    pub event: Event,
    event_id: Option<String>,
    unknown: bool,
    _vendor: PhantomData<fn() -> E>,
}

impl<E: VendorEvent> Payload for Normalized<E> {
    const VENDOR: Vendor = E::VENDOR;
    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let typed = E::from_slice(body)?;
        let event_id = typed.event_id().map(Cow::into_owned);
        let unknown = typed.is_unknown();
        Ok(Normalized {
            event: typed.into_event(),
            event_id,
            unknown,
            _vendor: PhantomData,
        })
    }
    fn event_id(&self) -> Option<Cow<'_, str>> {
        self.event_id.as_deref().map(Cow::Borrowed)
    }
    fn is_unknown(&self) -> bool {
        self.unknown
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.event.name)
    }
}

/// The verified body, unparsed, for services that parse it themselves.
///
/// Its dedupe keys live in the `"raw"` namespace: give each `RawBody` receiver that shares a
/// store with another its own [`ReceiverBuilder::namespace`] (or [`ReceiverBuilder::vendor`]),
/// or one endpoint's ids could mark another's deliveries as duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBody(pub bytes::Bytes);

impl Payload for RawBody {
    const VENDOR: Vendor = Vendor::StandardWebhooks;
    const NAMESPACE: &'static str = "raw";
    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        Ok(RawBody(bytes::Bytes::copy_from_slice(body)))
    }
    fn event_id(&self) -> Option<Cow<'_, str>> {
        None
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed("raw")
    }
}

/// Verify → parse → dedupe for one endpoint. Cheap to share: wrap it in an `Arc` (the framework
/// adapters do).
pub struct Receiver<T> {
    verifier: Arc<dyn Verifier>,
    vendor: Vendor,
    namespace: Cow<'static, str>,
    dedupe: Dedupe,
    body_limit: usize,
    repair: bool,
    inbox: Option<Arc<dyn Inbox>>,
    inbox_response: InboxResponse,
    rejections: crate::rejection_log::RejectionLog,
    _payload: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("vendor", &self.vendor)
            .field("namespace", &self.namespace)
            .field("dedupe", &self.dedupe)
            .field("body_limit", &self.body_limit)
            .field("repair", &self.repair)
            .field("inbox", &self.inbox.is_some())
            .finish_non_exhaustive()
    }
}

/// Builder for [`Receiver`].
pub struct ReceiverBuilder<T> {
    unverified: bool,
    verifier: Arc<dyn Verifier>,
    vendor: Vendor,
    namespace: Cow<'static, str>,
    dedupe: Option<Dedupe>,
    body_limit: usize,
    repair: bool,
    inbox: Option<Arc<dyn Inbox>>,
    inbox_response: Option<InboxResponse>,
    _payload: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ReceiverBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("vendor", &self.vendor)
            .field("body_limit", &self.body_limit)
            .field("repair", &self.repair)
            .finish_non_exhaustive()
    }
}

impl<T: Payload> Receiver<T> {
    /// Start building a receiver that verifies with `verifier` and parses into `T`.
    pub fn builder<V: Verifier + 'static>(verifier: V) -> ReceiverBuilder<T> {
        let unverified = std::any::TypeId::of::<V>() == std::any::TypeId::of::<Unverified>();
        ReceiverBuilder {
            unverified,
            verifier: Arc::new(verifier),
            vendor: T::VENDOR,
            namespace: Cow::Borrowed(T::NAMESPACE),
            dedupe: None,
            body_limit: DEFAULT_BODY_LIMIT,
            repair: false,
            inbox: None,
            inbox_response: None,
            _payload: PhantomData,
        }
    }

    /// The inbox this receiver puts deliveries into, if it was built with one.
    pub fn inbox(&self) -> Option<&Arc<dyn Inbox>> {
        self.inbox.as_ref()
    }

    /// What the adapters' inbox routes answer once a delivery is stored (or recognised as a
    /// duplicate).
    pub fn inbox_response(&self) -> &InboxResponse {
        &self.inbox_response
    }

    /// Inbox mode: verify `inbound` and store it in the receiver's [inbox](ReceiverBuilder::inbox)
    /// against the system clock. See [`accept_at`](Self::accept_at).
    pub async fn accept(&self, inbound: &Inbound<'_>) -> Result<PutOutcome, Error> {
        self.accept_at(inbound, SystemTime::now()).await
    }

    /// Inbox mode: verify `inbound` as of `now`, compute its dedupe key exactly as
    /// [`receive_at`](Self::receive_at) does, and [`put`](Inbox::put) it (atomic with dedupe).
    /// Answer the sender 2xx on `Ok` (both [`PutOutcome::Accepted`] and
    /// [`PutOutcome::Duplicate`]): the entry is stored; workers parse and handle it.
    ///
    /// The body is parsed here only when the signature covers no delivery id, because the key
    /// then comes from the payload's event id: a body that cannot yield a key is refused (422,
    /// naming the bad field), as in [`receive_at`](Self::receive_at). Errors: the verify
    /// errors (400/401), 413 over the body limit, 503 with `Retry-After` when the inbox is
    /// unavailable (nothing was stored), and [`Error::Config`] without an inbox.
    pub async fn accept_at(
        &self,
        inbound: &Inbound<'_>,
        now: SystemTime,
    ) -> Result<PutOutcome, Error> {
        self.accept_owned_at(inbound, None, now).await
    }

    /// [`accept`](Self::accept) for an adapter that holds the body as [`Bytes`](bytes::Bytes):
    /// `inbound`'s body must be `body`'s bytes. The entry then shares that buffer instead of
    /// copying it (unless the body was compressed: the entry keeps the decoded bytes).
    #[cfg(any(feature = "axum", feature = "actix", feature = "tower"))]
    pub(crate) async fn accept_owned(
        &self,
        inbound: &Inbound<'_>,
        body: &bytes::Bytes,
    ) -> Result<PutOutcome, Error> {
        self.accept_owned_at(inbound, Some(body), SystemTime::now())
            .await
    }

    async fn accept_owned_at(
        &self,
        inbound: &Inbound<'_>,
        owned: Option<&bytes::Bytes>,
        now: SystemTime,
    ) -> Result<PutOutcome, Error> {
        let started = tracing::level_enabled!(tracing::Level::WARN).then(Instant::now);
        let latency_us = || started.map_or(0, |s| s.elapsed().as_micros() as u64);
        let span = self.span();
        let result = self
            .store(inbound, owned, now, &span)
            .instrument(span.clone())
            .await;
        let _enter = span.enter();
        // Inbox mode answers the sender itself: every outcome is counted here.
        let (outcome, status) = match &result {
            Ok(PutOutcome::Accepted(_)) => {
                (metrics::Outcome::Accepted, self.inbox_response.status())
            }
            Ok(PutOutcome::Duplicate(_)) => {
                (metrics::Outcome::Duplicate, self.inbox_response.status())
            }
            Err(e) => (metrics::Outcome::of_error(e), e.status()),
        };
        self.record_outcome(&span, outcome, status.as_u16());
        match &result {
            Ok(PutOutcome::Accepted(id)) => {
                tracing::info!(entry_id = %id, latency_us = latency_us(), "stored in the inbox")
            }
            Ok(PutOutcome::Duplicate(id)) => tracing::info!(
                entry_id = %id,
                latency_us = latency_us(),
                "duplicate of a stored delivery"
            ),
            Err(e) => self.rejections.warn(e, now, latency_us()),
        }
        result
    }

    /// The per-delivery span of both modes. Field names an OpenTelemetry exporter maps as they
    /// are. `delivery_id` is what [`Job::delivery_id`](crate::worker::Job::delivery_id) gives
    /// the worker's handler span, so the two tie for every sender: the id the signature covers,
    /// or for senders that sign none the id their dedupe key came from (the vendor's event id,
    /// or the body hash). An id from a header the signature does not cover is the sender's
    /// claim, recorded as `unsigned_delivery_id`.
    fn span(&self) -> tracing::Span {
        crate::span::observed(tracing::Level::INFO, || {
            tracing::info_span!(
                "webhook",
                vendor = self.vendor.as_str(),
                delivery_id = tracing::field::Empty,
                unsigned_delivery_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
                "http.response.status_code" = tracing::field::Empty
            )
        })
    }

    fn record_outcome(&self, span: &tracing::Span, outcome: metrics::Outcome, status: u16) {
        span.record("outcome", outcome.as_str());
        span.record("http.response.status_code", status);
        metrics::record_delivery(self.vendor.as_str(), outcome, status);
    }

    /// Verify `inbound` (timed as the verify stage) and record its delivery id on `span`.
    fn verify<'a>(
        &self,
        inbound: &Inbound<'a>,
        now: SystemTime,
        span: &tracing::Span,
    ) -> Result<Verified<'a>, Error> {
        // `inbound` carries the body from `decoded`, already held to the limit.
        let started = metrics::start();
        let verified = self.verifier.verify_at(inbound, now);
        metrics::stage_since(self.vendor.as_str(), Stage::Verify, started);
        let verified = verified?;
        if let Some(id) = verified.signed_delivery_id() {
            span.record("delivery_id", id);
        } else if let Some(id) = verified.unsigned_delivery_id() {
            span.record("unsigned_delivery_id", id);
        }
        tracing::debug!(
            scheme = verified.scheme(),
            key_index = verified.key_index(),
            "verified"
        );
        Ok(verified)
    }

    /// The key of a delivery whose signature covers its id: known before parsing.
    fn signed_key(&self, verified: &Verified<'_>) -> Result<Option<IdempotencyKey>, Error> {
        match verified.signed_delivery_id() {
            Some(id) if !id.is_empty() => {
                IdempotencyKey::with_source(&self.namespace, IdSource::SignedDelivery, id).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn store(
        &self,
        inbound: &Inbound<'_>,
        owned: Option<&bytes::Bytes>,
        now: SystemTime,
        span: &tracing::Span,
    ) -> Result<PutOutcome, Error> {
        let Some(inbox) = &self.inbox else {
            return Err(Error::Config(
                "Receiver::accept needs an inbox: ReceiverBuilder::inbox".into(),
            ));
        };
        let decoded = self.decoded(inbound)?;
        let inbound = &inbound.with_body(&decoded);
        let verified = self.verify(inbound, now, span)?;
        // The same key as `receive_at` gives, so both modes dedupe one delivery alike.
        let key = match self.signed_key(&verified)? {
            Some(key) => key,
            None => {
                let (event, _) = self.parse(verified.body())?;
                self.key(&verified, &event, span)?
            }
        };
        // The adapter's buffer when the verified bytes are exactly it (not decompressed): the
        // entry shares it, no copy.
        let body = match owned {
            Some(owned)
                if owned.as_ptr() == verified.body().as_ptr()
                    && owned.len() == verified.body().len() =>
            {
                owned.clone()
            }
            _ => bytes::Bytes::copy_from_slice(verified.body()),
        };
        // Built whole: `NewEntry::new` would read the clock only to be told `now`.
        let entry = NewEntry {
            namespace: self.namespace.as_ref().to_owned(),
            vendor: self.vendor.as_str().to_owned(),
            key,
            signed_delivery_id: verified.signed_delivery_id().map(str::to_owned),
            headers: kept_headers(inbound.headers()),
            body,
            received_at: now,
        };
        let started = metrics::start();
        let put = inbox.put(entry).await;
        metrics::stage_since(self.vendor.as_str(), Stage::InboxPut, started);
        put
    }

    /// The body the verifier sees: over the limit as sent is 413; a compressed one is decoded
    /// with the limit on the decoded bytes (see [`encoding`](crate::encoding)).
    fn decoded<'b>(&self, inbound: &Inbound<'b>) -> Result<Cow<'b, [u8]>, Error> {
        if inbound.body().len() > self.body_limit {
            return Err(Error::BodyTooLarge {
                limit: self.body_limit,
            });
        }
        crate::encoding::decode_body(inbound.headers(), inbound.body(), self.body_limit)
    }

    /// The body limit in bytes; adapters use it to stop reading early.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The vendor this receiver parses.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// The namespace of this receiver's dedupe keys (and of its inbox entries).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Verify, parse and claim `inbound` against the system clock.
    ///
    /// This is the in-request mode, whether or not the receiver has an inbox: call
    /// [`accept`](Self::accept) to store a delivery instead. The framework adapters choose for
    /// you (an inbox receiver behind the `Webhook<T>` extractors puts).
    pub async fn receive(&self, inbound: &Inbound<'_>) -> Result<Received<T>, Error> {
        self.receive_at(inbound, SystemTime::now()).await
    }

    /// Verify, parse and claim `inbound` as of `now`.
    ///
    /// Order matters for safety: nothing is parsed before the signature checks out, and
    /// nothing is claimed before the body parses (a 422 must not block the sender's retry of a
    /// fixed payload… which will have a new body, hence a new key, anyway).
    pub async fn receive_at(
        &self,
        inbound: &Inbound<'_>,
        now: SystemTime,
    ) -> Result<Received<T>, Error> {
        // The latency only feeds log events: skip the clock read when nothing would log them.
        let started = tracing::level_enabled!(tracing::Level::WARN).then(Instant::now);
        let latency_us = || started.map_or(0, |s| s.elapsed().as_micros() as u64);
        let span = self.span();
        // `instrument`, not `span.enter()`: an entered guard held across `.await` would make
        // this future `!Send` (unusable in axum) and mis-attribute events on other tasks.
        let result = self
            .stages(inbound, now, &span)
            .instrument(span.clone())
            .await;
        let mut result = result;
        if let Ok(Received::Fresh(delivery)) = &mut result {
            // The adapters record the handler's status on it once the handler has answered.
            delivery.span = span.clone();
        }
        let _enter = span.enter();
        let (outcome, status) = match &result {
            // An accepted delivery's status is the handler's: the adapters count it when they
            // answer (and the inbox mode when it stored the delivery).
            Ok(Received::Fresh(_)) => (metrics::Outcome::Accepted, None),
            Ok(Received::Duplicate { .. }) => (metrics::Outcome::Duplicate, Some(200)),
            Err(e) => (metrics::Outcome::of_error(e), Some(e.status().as_u16())),
        };
        match status {
            Some(status) => self.record_outcome(&span, outcome, status),
            None => {
                span.record("outcome", outcome.as_str());
            }
        }
        match &result {
            Ok(Received::Fresh(d)) => tracing::info!(
                event = %d.event.name(), key = d.claim.key().as_str(),
                repaired = d.repairs.len(), latency_us = latency_us(),
                "accepted"),
            Ok(Received::Duplicate { key }) => tracing::info!(
                key = key.as_str(),
                latency_us = latency_us(),
                "duplicate of a completed delivery"
            ),
            Err(e) => self.rejections.warn(e, now, latency_us()),
        }
        result
    }

    async fn stages(
        &self,
        inbound: &Inbound<'_>,
        now: SystemTime,
        span: &tracing::Span,
    ) -> Result<Received<T>, Error> {
        let decoded = self.decoded(inbound)?;
        let inbound = &inbound.with_body(&decoded);
        let verified = self.verify(inbound, now, span)?;
        // With a signed delivery id the key is known before parsing: a retry of a handled
        // delivery is answered without parsing it again. Otherwise the key may need the
        // payload's event id, so parse first.
        //
        // Results are bound before they are matched: a `match` keeps its scrutinee's
        // temporaries until its end, so they would be held across the awaits in its arms and
        // grow this future (and every move of it) by their size.
        let signed = self.signed_key(&verified)?;
        let (event, repairs, claim) = match signed {
            Some(key) => {
                let Some(claim) = self.claim(&key).await? else {
                    return Ok(Received::Duplicate { key });
                };
                let parsed = self.parse(verified.body());
                match parsed {
                    Ok((event, repairs)) => (event, repairs, claim),
                    Err(err) => return Err(release_after_parse_failure(claim, err).await),
                }
            }
            None => {
                let (event, repairs) = self.parse(verified.body())?;
                let key = self.key(&verified, &event, span)?;
                let Some(claim) = self.claim(&key).await? else {
                    return Ok(Received::Duplicate { key });
                };
                (event, repairs, claim)
            }
        };
        tracing::debug!(event = %event.name(), repaired = repairs.len(), "parsed");
        let delivery_id = DeliveryId::new(
            verified
                .signed_delivery_id()
                .or(verified.unsigned_delivery_id()),
            claim.key(),
        );
        Ok(Received::Fresh(Delivery {
            event,
            claim,
            delivery_id,
            delivery_id_signed: verified.signed_delivery_id().is_some(),
            scheme: verified.scheme(),
            key_index: verified.key_index(),
            repairs,
            span: tracing::Span::none(),
        }))
    }

    async fn claim(&self, key: &IdempotencyKey) -> Result<Option<Claim>, Error> {
        let started = metrics::start();
        let claimed = self.dedupe.claim(key).await;
        metrics::stage_since(self.vendor.as_str(), Stage::Dedupe, started);
        let claimed = claimed?;
        tracing::debug!(key = key.as_str(), fresh = claimed.is_some(), "claimed");
        Ok(claimed)
    }

    fn parse(&self, body: &[u8]) -> Result<(T, Vec<Fix>), Error> {
        let started = metrics::start();
        let parsed = self.parse_inner(body);
        let vendor = self.vendor.as_str();
        metrics::stage_since(vendor, Stage::Parse, started);
        if let Ok((event, _)) = &parsed {
            if event.is_unknown() {
                metrics::record_unknown_event(vendor, &event.name());
            }
        }
        parsed
    }

    fn parse_inner(&self, body: &[u8]) -> Result<(T, Vec<Fix>), Error> {
        parse_payload(body, self.repair)
    }

    /// The key of a delivery whose signature covers no id, from the payload; its id part is
    /// the span's `delivery_id` (see [`span`](Self::span)).
    fn key(
        &self,
        verified: &Verified<'_>,
        event: &T,
        span: &tracing::Span,
    ) -> Result<IdempotencyKey, Error> {
        let key =
            crate::platform::dedupe_key(&self.namespace, verified, event.event_id().as_deref())?;
        if verified.signed_delivery_id().is_none() {
            span.record("delivery_id", key.id());
        }
        Ok(key)
    }
}

/// Give an unparseable delivery's key back, so that a corrected retry is processed, and
/// return the parse error. Boxed: the path is cold, and the release future would otherwise
/// sit in every [`Receiver::receive_at`] future, making each one larger to move.
fn release_after_parse_failure(
    claim: Claim,
    err: Error,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Error> + Send>> {
    Box::pin(async move {
        let key = claim.key().clone();
        if let Err(release) = claim.release().await {
            tracing::warn!(key = key.as_str(), error = %release,
                "release after a parse failure failed; the lease frees the key");
        }
        err
    })
}

impl<T: Payload> ReceiverBuilder<T> {
    /// Use this idempotency store instead of a fresh in-memory one (e.g. a Redis store shared
    /// by all replicas). Lease and dedupe window come from the [`Dedupe`].
    pub fn dedupe(mut self, dedupe: Dedupe) -> Self {
        self.dedupe = Some(dedupe);
        self
    }

    /// Shorthand for `dedupe(Dedupe::new(store))` with the default lease and window.
    pub fn store(self, store: impl IdempotencyStore) -> Self {
        self.dedupe(Dedupe::new(store))
    }

    /// Reject bodies larger than `limit` bytes with 413 (default 1 MiB).
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Allow [`lenient::repair`] when the verified body is not well-formed JSON (off by default).
    /// Repair runs only after verification succeeded and only on a syntax error; every fix made
    /// is reported in [`Delivery::repairs`].
    pub fn repair(mut self, allow: bool) -> Self {
        self.repair = allow;
        self
    }

    /// Inbox mode: [`Receiver::accept`] stores each verified delivery in `inbox` (atomic with
    /// dedupe: the inbox is the dedupe store in this mode) instead of handing it to a handler,
    /// and the adapters' inbox routes answer the sender at once. Workers
    /// ([`Worker`](crate::worker::Worker), feature `worker`) handle the entries later.
    pub fn inbox(self, inbox: impl Inbox) -> Self {
        self.inbox_arc(Arc::new(inbox))
    }

    /// [`inbox`](Self::inbox) with a shared `Arc<dyn Inbox>`.
    pub fn inbox_arc(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// What inbox routes answer on success (default [`InboxResponse::for_vendor`]).
    pub fn inbox_response(mut self, response: InboxResponse) -> Self {
        self.inbox_response = Some(response);
        self
    }

    /// Override the vendor reported in logs; the dedupe namespace becomes the vendor's name.
    pub fn vendor(mut self, vendor: Vendor) -> Self {
        self.vendor = vendor;
        self.namespace = Cow::Borrowed(vendor.as_str());
        self
    }

    /// The namespace of this receiver's dedupe keys (`<namespace>:<id>`; default: the vendor's
    /// name, `"raw"` for [`RawBody`]). Endpoints that share a store but must not share keys (two
    /// tenants of one vendor, several `RawBody` routes) each get their own, e.g.
    /// `"sam:tenant-42"`. 1–64 ASCII letters, digits and `_-.:`: [`try_build`](Self::try_build)
    /// refuses anything else; [`build`](Self::build) logs it at ERROR, and every delivery then
    /// fails with a configuration error (500).
    pub fn namespace(mut self, namespace: impl Into<Cow<'static, str>>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Finish, checking the configuration: an invalid [namespace](Self::namespace) is an
    /// [`Error::Config`] here, at startup, instead of a 500 to every delivery (which senders
    /// retry on their whole schedule while nothing is stored).
    ///
    /// ```
    /// use chathooks::platform::sam::SamEvent;
    /// use chathooks::verify::HmacSha256;
    /// use chathooks::{Receiver, Secret};
    /// let verifier = || HmacSha256::sam(Secret::raw("sam-demo-secret-0123456789").unwrap());
    /// let bad = Receiver::<SamEvent>::builder(verifier()).namespace("billing app");
    /// assert!(bad.try_build().is_err());
    /// let good = Receiver::<SamEvent>::builder(verifier()).namespace("sam:billing");
    /// assert_eq!(good.try_build()?.namespace(), "sam:billing");
    /// # Ok::<(), chathooks::Error>(())
    /// ```
    pub fn try_build(self) -> Result<Receiver<T>, Error> {
        crate::idempotency::check_namespace(&self.namespace)?;
        Ok(self.build())
    }

    /// Finish. A receiver built on [`Unverified`] logs a warning
    /// here, once: it accepts forged deliveries. An invalid [namespace](Self::namespace) is
    /// logged at ERROR (see [`try_build`](Self::try_build), which refuses it).
    pub fn build(self) -> Receiver<T> {
        if let Err(e) = crate::idempotency::check_namespace(&self.namespace) {
            tracing::error!(vendor = %self.vendor, namespace = %self.namespace, error = %e,
                "every delivery will fail with 500");
        }
        if self.unverified {
            tracing::warn!(vendor = %self.vendor,
                "receiver built with the Unverified verifier: every delivery is accepted \
                 without a signature check (development and tests only)");
        }
        Receiver {
            verifier: self.verifier,
            vendor: self.vendor,
            namespace: self.namespace,
            dedupe: self
                .dedupe
                .unwrap_or_else(|| Dedupe::new(MemoryStore::default())),
            body_limit: self.body_limit,
            repair: self.repair,
            inbox: self.inbox,
            inbox_response: self
                .inbox_response
                .unwrap_or_else(|| InboxResponse::for_vendor(self.vendor)),
            rejections: Default::default(),
            _payload: PhantomData,
        }
    }
}

/// Parse `body` as `T`; with `repair`, a body that is not well-formed JSON is repaired
/// ([`lenient::repair`]) and parsed again, with the fixes made. When repair gives up (past its
/// bounds, or nothing it can fix), the error is the original one with why repair gave up
/// appended (offsets and limits only, never body text). The receiver and the worker share it.
pub(crate) fn parse_payload<T: Payload>(body: &[u8], repair: bool) -> Result<(T, Vec<Fix>), Error> {
    match T::parse(body) {
        Ok(event) => Ok((event, Vec::new())),
        Err(mut err) if err.syntax && repair => match lenient::repair(body) {
            Ok(repaired) if !repaired.fixes.is_empty() => {
                let event = T::parse(&repaired.bytes)?;
                Ok((event, repaired.fixes))
            }
            Ok(_) => Err(Error::Parse(err)),
            Err(why) => {
                err.message = format!("{}; repair gave up: {why}", err.message);
                Err(Error::Parse(err))
            }
        },
        Err(err) => Err(Error::Parse(err)),
    }
}

/// What [`Receiver::receive`] found. Exhaustive on purpose: a delivery is either new to this
/// receiver or a duplicate; every other outcome is an [`Error`].
#[derive(Debug)]
pub enum Received<T> {
    /// A delivery seen for the first time (or retried after a failure): run the handler, then
    /// [`complete`](Delivery::complete) or [`release`](Delivery::release) it.
    Fresh(Delivery<T>),
    /// A retry of a delivery that was already handled: answer 200 without running the handler.
    Duplicate {
        /// The dedupe key that matched.
        key: IdempotencyKey,
    },
}

/// A verified, parsed and claimed delivery.
///
/// Call [`complete`](Self::complete) when the handler succeeded and
/// [`release`](Self::release) when it failed, so the sender's retry is processed at once.
/// Dropped without either, the claim is released at once only while a panic unwinds; a
/// cancelled or forgotten delivery keeps its key until the lease ends (the sender's retry gets
/// 409, then succeeds), so disconnecting cannot be used to run a handler again and again
/// (see [`Claim`]). Either way the event is not lost.
pub struct Delivery<T> {
    event: T,
    claim: Claim,
    delivery_id: DeliveryId,
    delivery_id_signed: bool,
    scheme: &'static str,
    key_index: Option<usize>,
    repairs: Vec<Fix>,
    /// The per-delivery span, kept open until the delivery is answered so the adapters can
    /// record the handler's status on it ([`tracing::Span::none`] when nothing observes it).
    span: tracing::Span,
}

/// Where a [`Delivery`] keeps its delivery id. A key built from a signed id ends with that id
/// verbatim (`<namespace>/id:<id>`), so the common case needs no copy of its own: the id is the
/// end of the claim's key.
enum DeliveryId {
    None,
    /// The last `len` bytes of the claim's key.
    InKey {
        len: usize,
    },
    /// A copy (a hashed key: the id was long or unusual; an id the key was not built from).
    Owned(Box<str>),
}

impl DeliveryId {
    fn new(id: Option<&str>, key: &IdempotencyKey) -> Self {
        match id {
            None => DeliveryId::None,
            // Compared, not assumed: whatever the key's layout, its end is then this id.
            Some(id) if key.as_str().ends_with(id) => DeliveryId::InKey { len: id.len() },
            Some(id) => DeliveryId::Owned(id.into()),
        }
    }

    fn get<'a>(&'a self, key: &'a IdempotencyKey) -> Option<&'a str> {
        match self {
            DeliveryId::None => None,
            DeliveryId::InKey { len } => {
                let key = key.as_str();
                key.get(key.len() - len..)
            }
            DeliveryId::Owned(id) => Some(id),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event)
            .field("claim", &self.claim)
            .field("delivery_id", &self.id())
            .field("delivery_id_signed", &self.delivery_id_signed)
            .field("scheme", &self.scheme)
            .field("key_index", &self.key_index)
            .field("repairs", &self.repairs)
            .finish()
    }
}

impl<T> Delivery<T> {
    /// The delivery id, signed or not.
    fn id(&self) -> Option<&str> {
        self.delivery_id.get(self.claim.key())
    }

    /// The parsed event.
    pub fn event(&self) -> &T {
        &self.event
    }

    /// The sender's delivery id, signed or not (see [`Verified::delivery_id`]'s deprecation).
    #[deprecated(
        since = "0.2.0",
        note = "use `signed_delivery_id()` or `unsigned_delivery_id()` (logs only)"
    )]
    pub fn delivery_id(&self) -> Option<&str> {
        self.id()
    }

    /// The delivery id when the signature covers it (see [`Verified::signed_delivery_id`]).
    pub fn signed_delivery_id(&self) -> Option<&str> {
        self.id().filter(|_| self.delivery_id_signed)
    }

    /// The delivery id when it came from a header the signature does **not** cover: not
    /// authenticated, for logs and correlation only (see [`Verified::unsigned_delivery_id`]).
    pub fn unsigned_delivery_id(&self) -> Option<&str> {
        self.id().filter(|_| !self.delivery_id_signed)
    }

    /// The scheme that verified the delivery.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Which configured key matched.
    pub fn key_index(&self) -> Option<usize> {
        self.key_index
    }

    /// The dedupe key.
    pub fn key(&self) -> &IdempotencyKey {
        self.claim.key()
    }

    /// The fixes [`lenient::repair`] made, empty when the body parsed as sent.
    pub fn repairs(&self) -> &[Fix] {
        &self.repairs
    }

    /// Mark the delivery handled: retries within the dedupe window are answered 200 without
    /// running the handler.
    pub async fn complete(self) -> Result<(), Error> {
        self.claim.complete().await.map(|_| ())
    }

    /// Give the delivery back: the sender's retry is processed.
    pub async fn release(self) -> Result<(), Error> {
        self.claim.release().await.map(|_| ())
    }

    /// Everything, moved out: `(event, claim, delivery_id, scheme, key_index, repairs)`.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) fn into_all(self) -> DeliveryParts<T> {
        // The adapters hand the handler an owned id: copied here, on their path only.
        let delivery_id = self.id().map(str::to_owned);
        DeliveryParts {
            event: self.event,
            claim: self.claim,
            delivery_id,
            delivery_id_signed: self.delivery_id_signed,
            scheme: self.scheme,
            key_index: self.key_index,
            repairs: self.repairs,
            span: self.span,
        }
    }

    /// Split into the event and the claim, to complete or release the claim elsewhere.
    pub fn into_parts(self) -> (T, Claim) {
        (self.event, self.claim)
    }
}

/// A [`Delivery`] taken apart without copies, for the framework adapters.
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
pub(crate) struct DeliveryParts<T> {
    pub(crate) event: T,
    pub(crate) claim: Claim,
    pub(crate) delivery_id: Option<String>,
    pub(crate) delivery_id_signed: bool,
    pub(crate) scheme: &'static str,
    pub(crate) key_index: Option<usize>,
    pub(crate) repairs: Vec<Fix>,
    pub(crate) span: tracing::Span,
}
