//! Each example's router, started on 127.0.0.1 and driven with the signed requests the
//! example itself prints as `curl` commands.

use std::time::SystemTime;

#[cfg(feature = "axum")]
#[allow(dead_code)]
#[path = "../../examples/receiver.rs"]
mod receiver_example;

#[cfg(feature = "actix")]
#[allow(dead_code)]
#[path = "../../examples/actix_receiver.rs"]
mod actix_receiver_example;

/// Path, headers and body of one demo delivery.
type DemoRequest = (String, Vec<(String, String)>, String);

/// Send every demo twice: the first runs the handler (200), the second is a duplicate (200,
/// reason says so); a tampered copy is refused (401).
async fn drive(base: &str, demos: Vec<DemoRequest>) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(demos.len(), 6, "one demo per route");
    for (path, headers, body) in demos {
        let send = |body: String| {
            let mut req = client.post(format!("{base}{path}")).body(body);
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            req.send()
        };
        let first = send(body.clone()).await.unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let first = first.text().await.unwrap();
        assert!(!first.contains("duplicate"), "{path}: {first}");
        let again = send(body.clone()).await.unwrap();
        assert_eq!(again.status(), 200, "{path}");
        assert!(again.text().await.unwrap().contains("duplicate"), "{path}");
        let tampered = body.replacen('"', "\"x", 1);
        let status = send(tampered).await.unwrap().status();
        // SaleAssist's token does not cover the body: the tampered key is then not valid JSON
        // for the vendor, or a new delivery. Every signing scheme refuses it.
        if !path.contains("saleassist") {
            assert_eq!(status, 401, "{path}");
        }
    }
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_example_serves_every_vendor() {
    use receiver_example::{demos, router, Config};
    let config = Config::demo();
    let app = router(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let demos = demos(&config, SystemTime::now()).unwrap();
    for d in &demos {
        let curl = d.curl(addr);
        assert!(
            curl.starts_with(&format!("curl -i 'http://{addr}/webhooks/")),
            "{curl}"
        );
    }
    let demos = demos
        .into_iter()
        .map(|d| (d.path, d.headers, d.body))
        .collect();
    drive(&format!("http://{addr}"), demos).await;
    server.abort();
}

#[cfg(feature = "actix")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_example_serves_every_vendor() {
    use actix_receiver_example::{configure, demos, Config, Receivers};
    let config = Config::demo();
    let receivers = Receivers::new(&config).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().configure(configure(&receivers))
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            let _ = server.await;
        })
    });
    let (addr, handle) = rx.recv().unwrap();
    let demos = demos(&config, SystemTime::now())
        .unwrap()
        .into_iter()
        .map(|d| (d.path, d.headers, d.body))
        .collect();
    drive(&format!("http://{addr}"), demos).await;
    handle.stop(false).await;
}
