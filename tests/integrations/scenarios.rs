//! What every vendor endpoint must show, on both frameworks, over real HTTP on 127.0.0.1.

use std::time::{Duration, SystemTime};

use super::support::{fixture, oversized_raw, Server, Vendor, ALL, LIMIT};

#[derive(Debug, Clone, Copy)]
pub enum Framework {
    #[cfg(feature = "axum")]
    Axum,
    #[cfg(feature = "actix")]
    Actix,
    /// `ReceiverLayer` on plain hyper, no framework.
    #[cfg(feature = "tower")]
    Tower,
}

pub async fn spawn(fw: Framework) -> Server {
    spawn_with(fw, true, false).await
}

pub async fn spawn_with(fw: Framework, layer: bool, catch_panic: bool) -> Server {
    match fw {
        #[cfg(feature = "axum")]
        Framework::Axum => {
            super::axum_server::spawn(super::axum_server::Opts { layer, catch_panic }).await
        }
        #[cfg(feature = "actix")]
        Framework::Actix => {
            let _ = catch_panic;
            super::actix_server::spawn(layer).await
        }
        #[cfg(feature = "tower")]
        Framework::Tower => {
            // The layer is the whole adapter, and a panic drops hyper's connection.
            let _ = (layer, catch_panic);
            super::tower_server::spawn().await
        }
    }
}

pub async fn valid_then_duplicate(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let d = v.valid("msg_valid_1");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 200, "{v:?} first delivery: {body}");
        assert_eq!(srv.hits.get(v.name()), 1, "{v:?} handler ran once");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 200, "{v:?} duplicate: {body}");
        assert!(body.contains("duplicate"), "{v:?}: {body}");
        assert_eq!(srv.hits.get(v.name()), 1, "{v:?} handler not run again");
    }
}

pub async fn bad_signature(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let d = v.sign(&v.fixture(), SystemTime::now(), false, "msg_bad");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 401, "{v:?}: {body}");
        assert!(
            !body.contains("secret"),
            "{v:?} reason leaks nothing: {body}"
        );
        assert_eq!(srv.hits.get(v.name()), 0);
    }
}

pub async fn missing_headers(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let d = v.valid("msg_missing").without_auth(v);
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 400, "{v:?}: {body}");
        assert!(body.contains("missing"), "{v:?}: {body}");
        assert_eq!(srv.hits.get(v.name()), 0);
    }
}

pub async fn stale_timestamp(fw: Framework) {
    let srv = spawn(fw).await;
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let mut checked = 0;
    for v in ALL.into_iter().filter(|v| v.timestamped()) {
        let d = v.sign(&v.fixture(), an_hour_ago, true, "msg_stale");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 401, "{v:?}: {body}");
        assert!(body.contains("old"), "{v:?}: {body}");
        assert_eq!(srv.hits.get(v.name()), 0);
        checked += 1;
    }
    assert_eq!(
        checked, 3,
        "SaleSmartly, ConversaLabs and Standard Webhooks carry timestamps"
    );
}

pub async fn oversized_body(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let d = v.valid("msg_big");
        let addr = srv.addr;
        // Declared length over the limit: answered from the head, no body byte beyond the
        // fixture was ever written.
        let dd = d.clone();
        let (line, sent) = tokio::task::spawn_blocking(move || oversized_raw(addr, &dd, false))
            .await
            .unwrap();
        assert!(line.contains(" 413 "), "{v:?} content-length: {line:?}");
        assert!(sent < LIMIT);
        // No length declared (chunked): cut off at the limit, answered before the body ends
        // (the terminating chunk is never sent).
        let (line, sent) = tokio::task::spawn_blocking(move || oversized_raw(addr, &d, true))
            .await
            .unwrap();
        assert!(line.contains(" 413 "), "{v:?} chunked: {line:?}");
        assert!(sent <= 2 * LIMIT);
        assert_eq!(srv.hits.get(v.name()), 0);
    }
}

pub async fn framework_limit_is_honoured(fw: Framework) {
    // DefaultBodyLimit / PayloadConfig of 1 KiB on a route whose receiver allows 16 KiB.
    let srv = spawn(fw).await;
    let mut body = Vendor::Sam.fixture();
    while body.len() <= 2048 {
        body.insert(1, b' ');
    }
    let mut d = Vendor::Sam.sign(&body, SystemTime::now(), true, "msg_fw");
    d.path = "/small-framework-limit".into();
    let (status, body, _) = srv.send(&d).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(srv.hits.get("small-framework-limit"), 0);
}

pub async fn malformed_json(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let d = v.sign(&v.malformed(), SystemTime::now(), true, "msg_malformed");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 422, "{v:?}: {body}");
        assert!(body.contains("at `"), "{v:?} names the JSON path: {body}");
        assert_eq!(srv.hits.get(v.name()), 0);
    }
}

pub async fn repair(fw: Framework) {
    let srv = spawn(fw).await;
    let broken = fixture("saleassist/doc_sample_broken.json");
    let d = Vendor::SaleAssist.sign(&broken, SystemTime::now(), true, "x");
    let (status, body, _) = srv.send(&d).await;
    assert_eq!(status, 422, "repair off: {body}");
    assert_eq!(srv.hits.get("saleassist"), 0);
    let mut d = d;
    d.path = "/saleassist-repair".into();
    let (status, body, _) = srv.send(&d).await;
    assert_eq!(status, 200, "repair on: {body}");
    assert_eq!(srv.hits.get("saleassist-repair"), 1);
}

pub async fn failure_then_redelivery(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let d = v.valid("msg_fail");
        let (status, _, _) = srv.send(&d.clone().header("x-test-fail", "1")).await;
        assert_eq!(status, 500, "{v:?}");
        assert_eq!(srv.hits.get(v.name()), 1);
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 200, "{v:?} redelivery: {body}");
        assert_eq!(srv.hits.get(v.name()), 2, "{v:?} handler ran again");
        let (status, _, _) = srv.send(&d).await;
        assert_eq!(status, 200);
        assert_eq!(srv.hits.get(v.name()), 2, "{v:?} then done");
    }
}

pub async fn concurrent_copies(fw: Framework) {
    let srv = std::sync::Arc::new(spawn(fw).await);
    for v in ALL {
        let d = v.valid("msg_concurrent").header("x-test-sleep-ms", "300");
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (srv, d) = (srv.clone(), d.clone());
                tokio::spawn(async move { srv.send(&d).await })
            })
            .collect();
        let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
        for t in tasks {
            let (status, body, retry) = t.await.unwrap();
            assert!(status == 200 || status == 409, "{v:?}: {status} {body}");
            if status == 409 {
                let secs: u64 = retry.expect("409 carries Retry-After").parse().unwrap();
                assert!(secs >= 1);
            }
            *by_status.entry(status).or_default() += 1;
        }
        assert_eq!(
            srv.hits.get(v.name()),
            1,
            "{v:?} ran exactly once: {by_status:?}"
        );
        assert!(
            by_status.get(&409).copied().unwrap_or(0) > 0,
            "{v:?}: {by_status:?}"
        );
    }
}

pub async fn panicking_handler_releases(fw: Framework, catch_panic: bool) {
    let srv = spawn_with(fw, true, catch_panic).await;
    for v in [Vendor::Standard, Vendor::Sam] {
        let d = v.valid("msg_panic");
        let status = srv.try_send(&d.clone().header("x-test-panic", "1")).await;
        match status {
            Some(s) => assert_eq!(s, 500, "{v:?}"),
            None => assert!(!catch_panic, "a caught panic answers 500"),
        }
        assert_eq!(srv.hits.get(v.name()), 1);
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 200, "{v:?} redelivery after the panic: {body}");
        assert_eq!(srv.hits.get(v.name()), 2, "{v:?} not left claimed");
    }
}

pub async fn missing_middleware_fails_loudly(fw: Framework) {
    let srv = spawn_with(fw, false, false).await;
    let d = Vendor::Standard.valid("msg_nolayer");
    for _ in 0..2 {
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("add Webhook"), "{body}");
    }
    assert_eq!(srv.hits.get("standard"), 0);
}
