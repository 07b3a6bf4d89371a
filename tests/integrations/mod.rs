//! axum and actix-web adapters over real HTTP on 127.0.0.1 (reqwest as the client, raw TCP
//! for bodies that must not be read to the end).

#[cfg(feature = "actix")]
mod actix_server;
#[cfg(feature = "axum")]
mod axum_server;
mod examples;
mod scenarios;
mod support;
#[cfg(feature = "tower")]
mod tower_server;

use scenarios::Framework;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[cfg(feature = "axum")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn axum() {
                super::scenarios::$name(super::Framework::Axum).await
            }
            #[cfg(feature = "actix")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn actix() {
                super::scenarios::$name(super::Framework::Actix).await
            }
        }
    )*};
}

on_both!(framework_limit_is_honoured, missing_middleware_fails_loudly);

/// The scenarios that hold for every adapter, the tower layer on plain hyper included.
macro_rules! on_all {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[cfg(feature = "axum")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn axum() {
                super::scenarios::$name(super::Framework::Axum).await
            }
            #[cfg(feature = "actix")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn actix() {
                super::scenarios::$name(super::Framework::Actix).await
            }
            #[cfg(feature = "tower")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tower() {
                super::scenarios::$name(super::Framework::Tower).await
            }
        }
    )*};
}

on_all!(
    valid_then_duplicate,
    bad_signature,
    missing_headers,
    stale_timestamp,
    oversized_body,
    malformed_json,
    repair,
    failure_then_redelivery,
    concurrent_copies,
);

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
