//! axum and actix-web adapters over real HTTP on 127.0.0.1 (reqwest as the client, raw TCP
//! for bodies that must not be read to the end).

#[cfg(feature = "actix")]
mod actix_server;
#[cfg(feature = "axum")]
mod axum_server;
mod examples;
mod scenarios;
pub(crate) mod support;
#[cfg(feature = "tower")]
pub(crate) mod tower_server;

use scenarios::Framework;

/// One test module per scenario, one test per framework listed (each behind its feature).
macro_rules! on {
    (@one [$($fw:ident $variant:ident $feature:literal),*] $name:ident) => {
        mod $name {$(
            #[cfg(feature = $feature)]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $fw() {
                super::scenarios::$name(super::Framework::$variant).await
            }
        )*}
    };
    ($fws:tt $($name:ident),* $(,)?) => {$( on!(@one $fws $name); )*};
}

/// The scenarios of the axum and actix-web extractors only.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => { on!([axum Axum "axum", actix Actix "actix"] $($name),*); };
}

on_both!(framework_limit_is_honoured, missing_middleware_fails_loudly);

/// The scenarios that hold for every adapter, the tower layer on plain hyper included.
macro_rules! on_all {
    ($($name:ident),* $(,)?) => {
        on!([axum Axum "axum", actix Actix "actix", tower Tower "tower"] $($name),*);
    };
}

on_all!(
    valid_then_duplicate,
    bad_signature,
    missing_headers,
    stale_timestamp,
    oversized_body,
    body_at_the_limit,
    malformed_json,
    repair,
    failure_then_redelivery,
    concurrent_copies,
);

#[cfg(feature = "axum")]
#[test]
fn span_carries_the_handler_status_axum() {
    scenarios::span_carries_the_handler_status(Framework::Axum)
}

#[cfg(feature = "tower")]
#[test]
fn span_carries_the_handler_status_tower() {
    scenarios::span_carries_the_handler_status(Framework::Tower)
}

#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_dropped_future_releases_tower() {
    scenarios::panicking_handler_releases(Framework::Tower, false).await
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_behind_catch_panic_releases_axum() {
    scenarios::panicking_handler_releases(Framework::Axum, true).await
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_dropped_future_releases_axum() {
    scenarios::panicking_handler_releases(Framework::Axum, false).await
}

#[cfg(feature = "actix")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_releases_actix() {
    scenarios::panicking_handler_releases(Framework::Actix, false).await
}

/// The tower layer's 503: the store is down, the answer carries `Retry-After` and the inner
/// service never runs (the axum and actix cases are in `hardening::http`).
#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_down_answers_503_and_skips_the_handler_tower() {
    use chathooks::idempotency::Dedupe;
    use chathooks::platform::sam::SamEvent;
    use chathooks::verify::HmacSha256;
    use chathooks::Receiver;
    const SECRET: &str = "sam-tower-down-secret-0123";
    let receiver = Receiver::<SamEvent>::builder(HmacSha256::sam(SECRET).unwrap())
        .dedupe(Dedupe::new(crate::hardening::Down))
        .build();
    let hits = support::Hits::new();
    let (addr, _server) =
        tower_server::serve(vec![("/down", tower_server::route(receiver, &hits, "sam"))]).await;
    let body = std::fs::read("tests/fixtures/sam/lead_captured.json").unwrap();
    let signed = HmacSha256::sam(SECRET)
        .unwrap()
        .sign(std::time::SystemTime::now(), &body);
    let mut req = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}/down"))
        .body(body);
    for (k, v) in &signed {
        req = req.header(k.as_str(), v.to_str().unwrap());
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_eq!(hits.get("sam"), 0, "the handler must not run");
}
