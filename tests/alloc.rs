//! The success path of the built-in verifiers allocates nothing (see each test for the scope).
//!
//! Its own test binary because it installs a counting `#[global_allocator]`. Counts are kept per
//! thread so the test harness's own allocations on other threads do not interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::verify::{HmacSha256, SignedContent, StandardWebhooks, Verifier};
use chathooks::{Inbound, Secret};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed on this thread, and the highest value since reset.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The most memory `f` held at once on this thread, beyond what was live before it.
#[cfg(feature = "compression")]
fn peak_bytes<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let r = f();
    ((PEAK.with(Cell::get) - before).max(0) as usize, r)
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (ALLOCATIONS.with(Cell::get) - before, r)
}

/// `v.verify_at(inbound, now)` with its allocations counted: (allocations, the index of the
/// key that matched). Panics when the delivery is rejected.
fn verify_counting<V: Verifier + ?Sized>(
    v: &V,
    inbound: &Inbound<'_>,
    now: SystemTime,
) -> (usize, Option<usize>) {
    let (n, r) = allocations(|| v.verify_at(inbound, now).map(|ok| ok.key_index()));
    (n, r.unwrap_or_else(|e| panic!("rejected: {e}")))
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!(v.len(), 10);
    assert!(n >= 1);
}

#[test]
fn standard_webhooks_success_path_does_not_allocate() {
    let v = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
        .unwrap()
        .add_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let body = vec![b'x'; 5 * 1024];
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut h = http::HeaderMap::new();
    h.insert(
        "webhook-id",
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".parse().unwrap(),
    );
    h.insert("webhook-timestamp", "1700000000".parse().unwrap());
    // An unknown version first and the second secret's signature: the loops run fully.
    let sig = format!(
        "v2,abc {}",
        v.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, &body)
    );
    h.insert("webhook-signature", sig.parse().unwrap());
    let inbound = Inbound::new(&h, &body);
    let (n, r) = verify_counting(&v, &inbound, now);
    assert_eq!(r, Some(0));
    assert_eq!(n, 0, "allocations on the success path");
}

#[test]
fn hmac_sha256_success_path_does_not_allocate() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = vec![b'y'; 5 * 1024];
    let secret = || Secret::raw("a-sixteen-byte-or-longer-secret").unwrap();
    for v in [
        HmacSha256::github(secret()),
        HmacSha256::slack(secret()),
        HmacSha256::stripe(secret()).add_secret(Secret::raw("the-rotated-secret-0001").unwrap()),
        HmacSha256::sam(secret()),
        HmacSha256::conversalabs(secret()),
        HmacSha256::builder("X-Sig")
            .secret(secret())
            .encoding(chathooks::verify::SignatureEncoding::Base64)
            .signed_content(SignedContent::timestamp_dot_body("X-Ts"))
            .build()
            .unwrap(),
    ] {
        let mut h = v.sign(now, &body);
        h.insert(
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap(),
        );
        h.insert("x-chatwoot-delivery", "d-1".parse().unwrap());
        let inbound = Inbound::new(&h, &body);
        let (n, r) = verify_counting(&v, &inbound, now);
        assert_eq!(r, Some(0), "{v:?}");
        assert_eq!(n, 0, "allocations on the success path of {v:?}");
    }
}

/// Poll a future that needs no I/O (the memory store's) to completion without a runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A fresh delivery through `Receiver` (verify, parse, key, claim, complete with the in-memory
/// store) allocates what the parsed event holds plus the dedupe key (one shared string, held
/// by the claim and the handler's copy alike), and:
/// - Sam: its event id (`"<event>:<data.id>@<timestamp>"`, built from the payload), one more;
/// - Standard Webhooks: nothing more. The delivery id handed over (`Delivery::signed_delivery_id`)
///   is the end of the key (`standard_webhooks/id:<id>`), not a copy of its own.
///
/// Claim and completion themselves allocate nothing (no boxed store futures for
/// `MemoryStore`, no key copies). With feature `metrics` the stage timings and the counter
/// allocate nothing either: their handles are registered once per thread (the warm-up).
#[test]
fn receiver_fresh_path_allocates_the_event_and_the_key_and_sams_event_id() {
    use chathooks::platform::sam::SamEvent;
    use chathooks::platform::standard::StandardEvent;
    use chathooks::{MemoryStore, Received, Receiver};

    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let sam_body = include_str!("fixtures/sam/lead_captured.json");
    let sam = HmacSha256::sam(Secret::raw("bench-secret-0123456789abcdef").unwrap());
    let receiver = Receiver::<SamEvent>::builder(sam.clone())
        .store(MemoryStore::new(1000))
        .build();
    // Warm up (thread-locals, lazily built statics), on another delivery.
    let warm = sam_body.replace("lead_2bd4e0", "lead_warm");
    let h = sam.sign(now, warm.as_bytes());
    let Received::Fresh(d) =
        block_on(receiver.receive_at(&Inbound::new(&h, warm.as_bytes()), now)).unwrap()
    else {
        panic!("fresh")
    };
    block_on(d.complete()).unwrap();

    let (parse_only, _) = allocations(|| SamEvent::from_slice(sam_body.as_bytes()).unwrap());
    let h = sam.sign(now, sam_body.as_bytes());
    let inbound = Inbound::new(&h, sam_body.as_bytes());
    let (n, delivery) = allocations(|| block_on(receiver.receive_at(&inbound, now)).unwrap());
    let Received::Fresh(delivery) = delivery else {
        panic!("fresh")
    };
    let (completing, done) = allocations(|| block_on(delivery.complete()));
    done.unwrap();
    assert_eq!(
        n,
        parse_only + 2,
        "Sam: event ({parse_only}) + key + event id"
    );
    assert_eq!(completing, 0, "completing a memory claim");

    let std_body =
        br#"{"type":"contact.created","timestamp":"2023-11-14T22:13:20Z","data":{"id":7}}"#;
    let standard = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    let receiver = Receiver::<StandardEvent>::builder(standard.clone())
        .store(MemoryStore::new(1000))
        .build();
    let headers = |id: &str| {
        let mut h = http::HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", "1700000000".parse().unwrap());
        h.insert(
            "webhook-signature",
            standard.sign(id, now, std_body).parse().unwrap(),
        );
        h
    };
    let warm = headers("msg_warm");
    let Received::Fresh(d) =
        block_on(receiver.receive_at(&Inbound::new(&warm, std_body), now)).unwrap()
    else {
        panic!("fresh")
    };
    block_on(d.complete()).unwrap();
    let (parse_only, _) = allocations(|| StandardEvent::from_slice(std_body).unwrap());
    let h = headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    let inbound = Inbound::new(&h, std_body);
    let (n, delivery) = allocations(|| block_on(receiver.receive_at(&inbound, now)).unwrap());
    let Received::Fresh(delivery) = delivery else {
        panic!("fresh")
    };
    let delivery_id = delivery.signed_delivery_id().map(str::to_owned);
    let (completing, done) = allocations(|| block_on(delivery.complete()));
    done.unwrap();
    assert_eq!(
        n,
        parse_only + 1,
        "Standard: event ({parse_only}) + key (the delivery id is the end of the key)"
    );
    assert_eq!(
        delivery_id,
        Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".to_owned())
    );
    assert_eq!(completing, 0, "completing a memory claim");
}

/// A zip bomb (10 MiB of zeros, about 10 KB gzipped) against a 1 MiB limit: 413, and the
/// receiver never holds more than the limit (plus the decoder's own state) at once.
#[cfg(feature = "compression")]
#[test]
fn a_zip_bomb_costs_at_most_the_limit_in_memory() {
    use std::io::Write;
    const LIMIT: usize = 1024 * 1024;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&vec![0u8; 10 * 1024 * 1024]).unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 20 * 1024);
    let receiver = chathooks::Receiver::<chathooks::receiver::RawBody>::builder(
        HmacSha256::sam("sam-test-secret-0123456789").unwrap(),
    )
    .body_limit(LIMIT)
    .build();
    let mut h = http::HeaderMap::new();
    h.insert("content-encoding", "gzip".parse().unwrap());
    h.insert("x-sam-signature", "00".repeat(32).parse().unwrap());
    let inbound = Inbound::new(&h, &bomb);
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (peak, result) = peak_bytes(|| block_on(receiver.receive_at(&inbound, now)));
    assert_eq!(result.unwrap_err().status(), 413);
    assert!(peak >= LIMIT / 2, "decoding did run: {peak} bytes");
    assert!(
        peak <= LIMIT + 128 * 1024,
        "peak {peak} bytes for a {LIMIT}-byte limit"
    );
}

/// Test audit (issue 13): the rotated-secret path (the match is the second key, so the loop
/// runs past a failed first MAC) allocates nothing either, for Standard Webhooks and for every
/// HMAC preset with hex, base64 and hex-or-base64 signatures, Buzzi included.
#[test]
fn rotated_secret_and_every_preset_do_not_allocate() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = vec![b'z'; 5 * 1024];

    let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let v = StandardWebhooks::new(old).unwrap().add_secret(new).unwrap();
    let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", "1700000000".parse().unwrap());
    let sig = StandardWebhooks::new(new).unwrap().sign(id, now, &body);
    h.insert("webhook-signature", sig.parse().unwrap());
    let inbound = Inbound::new(&h, &body);
    let (n, r) = verify_counting(&v, &inbound, now);
    assert_eq!(r, Some(1), "the rotated secret matched");
    assert_eq!(
        n, 0,
        "allocations on the rotated-secret path of StandardWebhooks"
    );

    let first = || Secret::raw("a-sixteen-byte-or-longer-secret").unwrap();
    let rotated = || Secret::raw("the-rotated-secret-0001").unwrap();
    type Preset = fn(Secret) -> HmacSha256;
    let base64 = |s: Secret| {
        HmacSha256::builder("X-Sig")
            .secret(s)
            .encoding(chathooks::verify::SignatureEncoding::Base64)
            .signed_content(SignedContent::timestamp_dot_body("X-Ts"))
            .build()
            .unwrap()
    };
    let presets: [(&str, Preset); 7] = [
        ("github", HmacSha256::github),
        ("slack", HmacSha256::slack),
        ("stripe", HmacSha256::stripe),
        ("sam", HmacSha256::sam),
        ("buzzi", HmacSha256::buzzi),
        ("conversalabs", HmacSha256::conversalabs),
        ("base64", base64),
    ];
    for (name, preset) in presets {
        let v = preset(first()).add_secret(rotated());
        let mut h = preset(rotated()).sign(now, &body);
        h.insert("x-chatwoot-delivery", "d-1".parse().unwrap());
        let inbound = Inbound::new(&h, &body);
        let (n, r) = verify_counting(&v, &inbound, now);
        assert_eq!(r, Some(1), "{name}: the rotated secret matched");
        assert_eq!(n, 0, "allocations on the rotated-secret path of {name}");
        // And the first key, for the presets the older test does not list (Buzzi).
        let h = preset(first()).sign(now, &body);
        let inbound = Inbound::new(&h, &body);
        let (n, r) = verify_counting(&v, &inbound, now);
        assert_eq!(r, Some(0), "{name}");
        assert_eq!(n, 0, "allocations on the first-secret path of {name}");
    }
}

/// Base64 signatures where the preset accepts hex or base64 (Sam, Buzzi): the base64 branch
/// of the decoder allocates nothing either.
#[test]
fn base64_signatures_on_hex_or_base64_presets_do_not_allocate() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = vec![b'b'; 5 * 1024];
    let key = "a-sixteen-byte-or-longer-secret";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    for (header, v) in [
        (
            "x-sam-signature",
            HmacSha256::sam(Secret::raw(key).unwrap()),
        ),
        (
            "x-webhook-signature",
            HmacSha256::buzzi(Secret::raw(key).unwrap()),
        ),
    ] {
        let mut h = http::HeaderMap::new();
        h.insert(header, sig.parse().unwrap());
        let inbound = Inbound::new(&h, &body);
        let (n, r) = verify_counting(&v, &inbound, now);
        assert_eq!(r, Some(0), "{header}");
        assert_eq!(n, 0, "allocations on the base64 path of {header}");
    }
}

/// `Token`, SaleSmartly (`data` as an object, first or rotated key) and Standard Webhooks
/// `v1a` (Ed25519, streamed) allocate nothing either. SaleSmartly with `data` as a JSON string
/// decodes that string to hash its content: a few allocations, pinned here so the docs' claim
/// stays exactly as true as it is.
#[test]
fn token_salesmartly_and_v1a_do_not_allocate() {
    use chathooks::verify::{SaleSmartly, Token};
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = br#"{"event":"message","data":{"msg":"hi","sequence_id":1}}"#;

    let token = Token::new("X-Token", "a-sixteen-byte-or-longer-token")
        .unwrap()
        .add_value("the-rotated-token-000000")
        .unwrap();
    for value in ["a-sixteen-byte-or-longer-token", "the-rotated-token-000000"] {
        let mut h = http::HeaderMap::new();
        h.insert("x-token", value.parse().unwrap());
        let inbound = Inbound::new(&h, body);
        let (n, r) = verify_counting(&token, &inbound, now);
        assert!(r.is_some());
        assert_eq!(n, 0, "allocations on the Token path ({value})");
    }

    let ss = SaleSmartly::new("salesmartly-test-key-0123456789")
        .unwrap()
        .add_secret("salesmartly-rotated-key-000000")
        .unwrap();
    let h = http::HeaderMap::new();
    for (key, want) in [
        ("salesmartly-test-key-0123456789", 0),
        ("salesmartly-rotated-key-000000", 1),
    ] {
        let query = SaleSmartly::new(key).unwrap().sign(body, now).unwrap();
        let inbound = Inbound::new(&h, body).with_query(query.as_str());
        let (n, r) = verify_counting(&ss, &inbound, now);
        assert_eq!(r, Some(want));
        assert_eq!(n, 0, "allocations on the SaleSmartly path, key {want}");
    }
    let stringly = br#"{"event":"message","data":"{\"msg\":\"hi\"}"}"#;
    let query = ss.sign(stringly, now).unwrap();
    let inbound = Inbound::new(&h, stringly).with_query(query.as_str());
    let (n, r) = verify_counting(&ss, &inbound, now);
    assert_eq!(r, Some(0));
    assert!(
        (1..=3).contains(&n),
        "SaleSmartly, data as a JSON string: {n} allocations (the docs say three)"
    );

    #[cfg(feature = "ed25519")]
    {
        use base64::Engine as _;
        use chathooks::verify::StandardWebhooksSigner;
        let seed = [7u8; 32];
        let signer = StandardWebhooksSigner::new(&format!(
            "whsk_{}",
            base64::engine::general_purpose::STANDARD.encode(seed)
        ))
        .unwrap();
        let v = StandardWebhooks::with_public_key(&signer.public_key()).unwrap();
        let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
        let mut h = http::HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", "1700000000".parse().unwrap());
        h.insert(
            "webhook-signature",
            signer.sign(id, now, body).parse().unwrap(),
        );
        let inbound = Inbound::new(&h, body);
        let (n, r) = verify_counting(&v, &inbound, now);
        assert!(r.is_some());
        assert_eq!(n, 0, "allocations on the Standard Webhooks v1a path");
    }
}

/// Standard Webhooks' `normalize()` copies from `data` only what ends up in the event: the
/// person and message objects are read borrowed (no `Value` tree, no copy of each string and
/// key), and each name part, email and phone is copied once (issue 17). The largest Standard
/// fixture: the event's name, its tenant id, the contact's name, email and phone (each in its
/// `Vec`), its company (key, value, map node), the message text, and the three vectors of the
/// borrowed view of `data` (its members, `person`'s, `message`'s: an object's vector is sized
/// for eight members at its first, so `person`'s five do not grow it).
#[test]
fn standard_normalize_copies_only_what_the_event_holds() {
    use chathooks::platform::standard::StandardEvent;
    let body = include_bytes!("fixtures/standard/lead_captured_nested.json");
    let event = StandardEvent::from_slice(body).unwrap();
    let (n, normalized) = allocations(|| event.normalize());
    let contact = normalized.contact.as_ref().unwrap();
    assert_eq!(contact.name.as_deref(), Some("Mei Chen"));
    assert_eq!(contact.emails, ["mei@chen.sg"]);
    assert_eq!(normalized.ids.tenant.as_deref(), Some("42"));
    assert!(normalized.message.is_some());
    // 34 before the borrowed view (a `Value` tree of `person` and `message`, copies of the
    // name parts, a vector per email and phone).
    assert_eq!(n, 14, "allocations in normalize()");
}

/// SaleSmartly `add_user` and ConversaLabs' `message_created` bodies (issue 17): the typed
/// parse allocates less than a `serde_json::Value` of the same bytes (it keeps no keys for its
/// known fields; SaleSmartly's `event` is matched borrowed), and `normalize()` allocates only
/// what the `Event` holds. SaleSmartly `add_user`'s 28: the event's name, `ids.contact` and the
/// contact's id, name, phone and email (each in its `Vec`: 4), two labels (their `Vec` and
/// texts: 3), custom fields (the map's node, `custom_field1`, `custom_field2` and its array:
/// 4), `remark_name` and `remark` (key and text each: 4), `ad_referral` (its key, its map's
/// node, `ad_id` and `ad_title` as keys and texts: 6), the attributes' node and two keys (3).
#[test]
fn salesmartly_and_conversalabs_parse_and_normalize_allocations() {
    use chathooks::platform::conversalabs::ConversaLabsEvent;
    use chathooks::platform::salesmartly::SaleSmartlyEvent;
    use chathooks::platform::VendorEvent;
    /// (allocations of a `Value` parse, of the typed parse, of `normalize()`, of
    /// `into_event()`).
    fn counts<E: VendorEvent>(body: &[u8]) -> (usize, usize, usize, usize) {
        let (value, _) = allocations(|| serde_json::from_slice::<serde_json::Value>(body).unwrap());
        let (typed, event) = allocations(|| E::from_slice(body).unwrap());
        let (normalize, _) = allocations(|| event.normalize());
        let (into_event, _) = allocations(|| event.into_event());
        (value, typed, normalize, into_event)
    }
    // (name, body, normalize()'s allocations, into_event()'s).
    let bodies: [(&str, &[u8], usize, usize); 3] = [
        (
            "salesmartly add_user",
            include_bytes!("fixtures/salesmartly/add_user.json"),
            28,
            // The texts, labels, custom fields and `ad_referral`'s map move. Left: the event's
            // name, the id's copy in `ids.contact`, the phone, email and label `Vec`s (3), the
            // custom fields' node and `remark_name`/`remark` keys (3), `ad_referral`'s key, its
            // map's node and `ad_id`/`ad_title` keys (4), the attributes' node and keys (3).
            15,
        ),
        (
            "conversalabs message_created_doc_sample",
            include_bytes!("fixtures/conversalabs/message_created_doc_sample.json"),
            15,
            15,
        ),
        (
            "conversalabs message_created",
            include_bytes!("fixtures/conversalabs/message_created.json"),
            24,
            24,
        ),
    ];
    for (name, body, expected, expected_into) in bodies {
        let (value, typed, normalize, into_event) = if name.starts_with("salesmartly") {
            counts::<SaleSmartlyEvent>(body)
        } else {
            counts::<ConversaLabsEvent>(body)
        };
        assert!(
            typed < value,
            "{name}: typed parse {typed} allocations, Value {value}"
        );
        assert_eq!(normalize, expected, "{name}: allocations in normalize()");
        assert_eq!(
            into_event, expected_into,
            "{name}: allocations in into_event()"
        );
    }
}

/// Every ConversaLabs envelope the typed parse boxes stays small enough for glibc's per-thread
/// cache (requests up to 1,032 bytes). Larger ones take `malloc`'s slow path, and from
/// 1,024-byte chunks up a "large" request consolidates the fast bins first: a 1,992-byte
/// message envelope cost 14 % of its parse's instructions. A record that grows past it should
/// box a nested record, as `conversation` and `meta` are.
#[test]
fn conversalabs_envelopes_stay_below_the_allocators_large_request_size() {
    use chathooks::platform::conversalabs::*;
    use std::mem::size_of;
    let sizes = [
        (
            "message",
            size_of::<ConversaLabsEnvelope<ConversaLabsMessage>>(),
        ),
        (
            "conversation",
            size_of::<ConversaLabsEnvelope<ConversaLabsConversation>>(),
        ),
        (
            "contact",
            size_of::<ConversaLabsEnvelope<ConversaLabsContact>>(),
        ),
        (
            "payment",
            size_of::<ConversaLabsEnvelope<ConversaLabsPayment>>(),
        ),
        ("deal", size_of::<ConversaLabsEnvelope<ConversaLabsDeal>>()),
    ];
    for (name, size) in sizes {
        assert!(size < 1000, "{name} envelope: {size} bytes");
    }
}
