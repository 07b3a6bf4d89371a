//! The success path of `StandardWebhooks` and `HmacSha256` verification allocates nothing.
//!
//! Its own test binary because it installs a counting `#[global_allocator]`. Counts are kept per
//! thread so the test harness's own allocations on other threads do not interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, UNIX_EPOCH};

use chathooks::verify::{HmacSha256, SignedContent, StandardWebhooks, Verifier};
use chathooks::{Inbound, Secret};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (ALLOCATIONS.with(Cell::get) - before, r)
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
    let (n, r) = allocations(|| v.verify_at(&inbound, now).map(|ok| ok.key_index()));
    assert_eq!(r.unwrap(), Some(0));
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
        let (n, r) = allocations(|| v.verify_at(&inbound, now).map(|ok| ok.key_index()));
        assert_eq!(r.unwrap(), Some(0), "{v:?}");
        assert_eq!(n, 0, "allocations on the success path of {v:?}");
    }
}
