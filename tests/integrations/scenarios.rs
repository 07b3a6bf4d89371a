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
        let now = SystemTime::now();
        let d = v.sign(&v.fixture(), now, false, "msg_bad");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 401, "{v:?}: {body}");
        assert!(
            !body.contains("secret"),
            "{v:?} reason leaks nothing: {body}"
        );
        // Nor any configured secret or token, nor the signature that would have matched (the
        // expected MAC), nor the one sent.
        let good = v.sign(&v.fixture(), now, true, "msg_bad");
        for needle in super::support::secrets_and_signatures(&[&good, &d]) {
            assert!(
                !body.contains(&needle),
                "{v:?} reason leaks {needle:?}: {body}"
            );
        }
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

/// Fifty copies of one delivery at once: exactly one runs the handler, held at a gate until
/// the other 49 have their answers, which must all be 409 + `Retry-After` (a sleep in the
/// handler instead let a slow machine turn copies into 200 duplicates, or a fast one into
/// nothing to see); once the handler finishes, a copy is a 200 duplicate.
pub async fn concurrent_copies(fw: Framework) {
    use super::support::Gate;
    let srv = std::sync::Arc::new(spawn(fw).await);
    for v in ALL {
        let name = format!("concurrent-{fw:?}-{v:?}-{}", std::process::id());
        let gate = Gate::named(&name);
        let d = v.valid("msg_concurrent").header("x-test-gate", &name);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (srv, d) = (srv.clone(), d.clone());
            tasks.spawn(async move { srv.send(&d).await });
        }
        gate.until_entered(1).await;
        for _ in 0..49 {
            let (status, body, retry) = tasks.join_next().await.unwrap().unwrap();
            assert_eq!(status, 409, "{v:?}: {body}");
            let secs: u64 = retry.expect("409 carries Retry-After").parse().unwrap();
            assert!(secs >= 1);
        }
        assert_eq!(
            gate.entered.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{v:?}"
        );
        gate.open();
        let (status, body, _) = tasks.join_next().await.unwrap().unwrap();
        assert_eq!(status, 200, "{v:?} the copy that ran: {body}");
        assert_eq!(srv.hits.get(v.name()), 1, "{v:?} ran exactly once");
        let (status, body, _) = srv.send(&d).await;
        assert_eq!(status, 200, "{v:?} duplicate: {body}");
        assert!(body.contains("duplicate"), "{v:?}: {body}");
        assert_eq!(srv.hits.get(v.name()), 1, "{v:?}");
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

/// Test audit: the limit is exact. A body of exactly `LIMIT` bytes is handled; `LIMIT + 1`
/// bytes get 413 (declared with `content-length`, or chunked with no length), every byte
/// written, and the handler never runs. (The older oversized test's `sent < LIMIT` held by
/// construction: a limit off by a few kilobytes passed it.)
pub async fn body_at_the_limit(fw: Framework) {
    let srv = spawn(fw).await;
    for v in ALL {
        let mut body = v.fixture();
        assert!(body.len() < LIMIT);
        // Trailing JSON whitespace: still the same payload, signed as sent.
        body.resize(LIMIT, b' ');
        let d = v.sign(&body, SystemTime::now(), true, "msg_at_limit");
        let (status, text, _) = srv.send(&d).await;
        assert_eq!(status, 200, "{v:?} exactly LIMIT bytes: {text}");
        assert_eq!(srv.hits.get(v.name()), 1, "{v:?}");

        body.push(b' ');
        let d = v.sign(&body, SystemTime::now(), true, "msg_over_limit");
        let (status, text, _) = srv.send(&d).await;
        assert_eq!(status, 413, "{v:?} LIMIT + 1 bytes, content-length: {text}");
        let addr = srv.addr;
        let line = tokio::task::spawn_blocking(move || chunked_exactly(addr, &d))
            .await
            .unwrap();
        assert!(
            line.contains(" 413 "),
            "{v:?} LIMIT + 1 bytes, chunked: {line:?}"
        );
        assert_eq!(
            srv.hits.get(v.name()),
            1,
            "{v:?}: no handler over the limit"
        );
    }
}

/// Send `d` with `transfer-encoding: chunked` (no declared length), the whole body and the
/// terminating chunk; returns the status line.
fn chunked_exactly(addr: std::net::SocketAddr, d: &super::support::Delivery) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("POST {} HTTP/1.1\r\nhost: {addr}\r\n", d.path).into_bytes();
    for (k, v) in &d.headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    for chunk in d.body.chunks(4096) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer 413 and close before reading it all; the answer is read anyway.
    let _ = s.write_all(&req);
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

/// The receive span stays open until the handler has answered: it closes with the handler's
/// status (200, 500, and 500 for a panic), and the log line that settles the claim is inside
/// it, so it carries the vendor and the delivery id. Driven on one thread, where the capturing
/// subscriber sees the server's tasks too.
pub fn span_carries_the_handler_status(fw: Framework) {
    let ((), logs) = crate::support::logs::capture_logs_and_span_closes(|| async move {
        let srv = spawn(fw).await;
        let ok = Vendor::Standard.valid("msg_span_ok");
        assert_eq!(srv.send(&ok).await.0, 200);
        let fail = Vendor::Standard
            .valid("msg_span_fail")
            .header("x-test-fail", "1");
        assert_eq!(srv.send(&fail).await.0, 500);
        // Without a panic-catching middleware the server drops the connection.
        let panics = Vendor::Standard
            .valid("msg_span_panic")
            .header("x-test-panic", "1");
        let mut req = srv.client.post(srv.url(&panics.path)).body(panics.body);
        for (k, v) in &panics.headers {
            req = req.header(k, v);
        }
        let _ = req.send().await;
    });
    let line = |id: &str, what: &str| {
        logs.lines()
            .find(|l| l.contains(&format!("delivery_id=\"{id}\"")) && l.contains(what))
            .unwrap_or_else(|| panic!("{fw:?}: no {what:?} line for {id} in:\n{logs}"))
            .to_owned()
    };
    for (id, status) in [
        ("msg_span_ok", 200),
        ("msg_span_fail", 500),
        ("msg_span_panic", 500),
    ] {
        let close = line(id, "close");
        assert!(close.contains("outcome=\"accepted\""), "{fw:?}: {close}");
        assert!(
            close.contains(&format!("http.response.status_code={status}")),
            "{fw:?} {id} closes with status {status}: {close}"
        );
    }
    line("msg_span_fail", "handler failed; claim released");
    line("msg_span_panic", "handler panicked; claim released");
}
