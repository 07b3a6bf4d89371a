//! The SSRF guard refuses non-public destinations by default, at the URL and at connect time.

use chathooks::sender::{AddressPolicy, AttemptError, Endpoint, Message, Outcome, Sender, Signing};

use super::server::{Reply, Server};

async fn deliver(sender: &Sender, url: &str) -> chathooks::sender::Delivery {
    let ep = Endpoint::new(url, Signing::None).unwrap();
    sender.deliver(&ep, &Message::new(&b"{}"[..])).await
}

fn strict() -> Sender {
    // https only, public addresses only: the defaults.
    Sender::builder().build().unwrap()
}

fn strict_but_http() -> Sender {
    Sender::builder().allow_http(true).build().unwrap()
}

#[tokio::test]
async fn non_public_destinations_are_refused_by_default() {
    let v4 = Server::start(vec![Reply::status(200)]).await;
    let v6 = Server::start_on("[::1]:0", vec![Reply::status(200)]).await;
    let p4 = v4.addr.port();
    let p6 = v6.addr.port();
    let urls = [
        format!("http://127.0.0.1:{p4}/"),
        format!("https://127.0.0.1:{p4}/"),
        format!("http://[::1]:{p6}/"),
        format!("http://[::ffff:127.0.0.1]:{p4}/"),
        format!("http://user@127.0.0.1:{p4}/"),
        format!("http://2130706433:{p4}/"),
        format!("http://localhost:{p4}/"),
        "https://10.1.2.3/".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[fd00::1]/".to_owned(),
        "https://0.0.0.0/".to_owned(),
        "https://100.64.0.1/".to_owned(),
    ];
    for sender in [strict(), strict_but_http()] {
        for url in &urls {
            let d = deliver(&sender, url).await;
            assert!(
                matches!(d.outcome, Outcome::Refused { .. }),
                "{url}: {:?}",
                d.outcome
            );
            assert!(d.attempts.is_empty(), "{url}: refused before any attempt");
        }
    }
    assert_eq!(v4.request_count(), 0);
    assert_eq!(v6.request_count(), 0);
}

#[tokio::test]
async fn loopback_is_allowed_when_explicitly_permitted() {
    let v4 = Server::start(vec![Reply::status(200)]).await;
    let v6 = Server::start_on("[::1]:0", vec![Reply::status(200)]).await;
    let p4 = v4.addr.port();
    let p6 = v6.addr.port();
    let local = Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
        .build()
        .unwrap();
    for url in [
        format!("http://127.0.0.1:{p4}/"),
        format!("http://[::ffff:127.0.0.1]:{p4}/"),
        format!("http://localhost:{p4}/"),
        format!("http://[::1]:{p6}/"),
    ] {
        let d = deliver(&local, &url).await;
        assert_eq!(d.outcome, Outcome::Delivered { status: 200 }, "{url}");
    }
    // Credentials in the URL need their own permission.
    let url = format!("http://user@127.0.0.1:{p4}/");
    assert!(matches!(
        deliver(&local, &url).await.outcome,
        Outcome::Refused { .. }
    ));
    let with_userinfo = Sender::builder()
        .address_policy(
            AddressPolicy::default()
                .allow_http(true)
                .allow_private_addresses(true)
                .allow_userinfo(true),
        )
        .build()
        .unwrap();
    let d = deliver(&with_userinfo, &url).await;
    assert!(d.is_delivered());
    // The credentials went out as basic auth and are not in the report.
    assert_eq!(
        v4.requests().last().unwrap().header("authorization"),
        Some("Basic dXNlcjo=")
    );
    assert!(!d.url.contains("user@"));
    assert_eq!(v4.request_count(), 4);
    assert_eq!(v6.request_count(), 1);

    // Private ranges other than loopback pass the guard when permitted (never connected to here).
    let open = AddressPolicy::default()
        .allow_http(true)
        .allow_private_addresses(true);
    for url in [
        "https://10.1.2.3/",
        "https://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
    ] {
        assert!(open.check_url(url).is_ok(), "{url}");
        assert!(AddressPolicy::default().check_url(url).is_err(), "{url}");
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    // The URL text names a harmless-looking host; only its resolved address is loopback. This is
    // what DNS rebinding looks like to the sender.
    let server = Server::start(vec![Reply::status(200)]).await;
    let url = format!("http://hooks.example.test:{}/in", server.addr.port());
    assert!(AddressPolicy::default()
        .allow_http(true)
        .check_url(&url)
        .is_ok());
    let guarded = Sender::builder()
        .allow_http(true)
        .resolve("hooks.example.test", &[server.addr])
        .unwrap()
        .build()
        .unwrap();
    let d = deliver(&guarded, &url).await;
    assert!(
        matches!(d.outcome, Outcome::Refused { .. }),
        "{:?}",
        d.outcome
    );
    assert_eq!(d.attempts.len(), 1);
    assert!(matches!(
        d.attempts[0].error,
        Some(AttemptError::Refused(_))
    ));
    assert_eq!(d.attempts[0].status, None);
    assert_eq!(server.request_count(), 0);

    let permitted = Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
        .resolve("hooks.example.test", &[server.addr])
        .unwrap()
        .build()
        .unwrap();
    assert!(deliver(&permitted, &url).await.is_delivered());
    assert_eq!(server.request_count(), 1);
}
