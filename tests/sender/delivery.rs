//! Retry schedule, status handling, timeouts and concurrency over real loopback sockets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use chathooks::sender::{
    AttemptError, Clock, Endpoint, Message, Outcome, RetryPolicy, Sender, Signing,
    DEFAULT_SCHEDULE, USER_AGENT_VALUE,
};
use chathooks::verify::{StandardWebhooks, Verifier};
use chathooks::Inbound;

use super::server::{Reply, Server};
use super::{clock, local, SECRET, START};

fn endpoint(server: &Server) -> Endpoint {
    Endpoint::new(&server.url("/hooks"), Signing::standard(SECRET).unwrap()).unwrap()
}

#[tokio::test]
async fn delivered_on_third_attempt_with_same_id_and_fresh_timestamps() {
    let server = Server::start(vec![
        Reply::status(500),
        Reply::status(500),
        Reply::status(200),
    ])
    .await;
    let clock = clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let sender = local(&clock)
        .header("x-team", "growth")
        .unwrap()
        .on_attempt(move |r| {
            seen2.lock().unwrap().push((
                r.message_id.to_owned(),
                r.attempt.number,
                r.attempt.status,
            ))
        })
        .build()
        .unwrap();
    let ep = endpoint(&server).header("x-endpoint", "e1").unwrap();
    let body = br#"{"type":"lead.captured","data":{"name":"Asha"}}"#;
    let msg = Message::with_id("msg_retry_1", &body[..]).unwrap();

    let d = sender.deliver(&ep, &msg).await;

    assert_eq!(d.outcome, Outcome::Delivered { status: 200 });
    assert_eq!(d.attempts.len(), 3);
    assert_eq!(
        d.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        vec![Some(500), Some(500), Some(200)]
    );
    assert_eq!(d.attempts[0].error, Some(AttemptError::Status(500)));
    assert_eq!(d.attempts[2].error, None);
    assert_eq!(
        d.attempts
            .iter()
            .map(|a| a.next_retry_in)
            .collect::<Vec<_>>(),
        vec![Some(DEFAULT_SCHEDULE[0]), Some(DEFAULT_SCHEDULE[1]), None]
    );
    assert_eq!(
        clock.sleeps(),
        vec![DEFAULT_SCHEDULE[0], DEFAULT_SCHEDULE[1]]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("msg_retry_1".to_owned(), 1, Some(500)),
            ("msg_retry_1".to_owned(), 2, Some(500)),
            ("msg_retry_1".to_owned(), 3, Some(200)),
        ]
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let verifier = StandardWebhooks::new(SECRET).unwrap();
    let mut stamps = Vec::new();
    for (req, attempt) in reqs.iter().zip(&d.attempts) {
        assert_eq!(req.method, "POST");
        assert_eq!(req.target, "/hooks");
        assert_eq!(req.body, body);
        assert_eq!(req.header("webhook-id"), Some("msg_retry_1"));
        assert_eq!(req.header("user-agent"), Some(USER_AGENT_VALUE));
        assert!(USER_AGENT_VALUE.starts_with("chathooks/"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("x-team"), Some("growth"));
        assert_eq!(req.header("x-endpoint"), Some("e1"));
        let headers = req.header_map();
        let verified = verifier
            .verify_at(&Inbound::new(&headers, &req.body), attempt.at)
            .expect("every attempt verifies at its own time");
        assert_eq!(verified.signed_delivery_id(), Some("msg_retry_1"));
        stamps.push(req.header("webhook-timestamp").unwrap().to_owned());
    }
    assert_eq!(
        stamps,
        vec![
            START.to_string(),
            (START + 5).to_string(),
            (START + 305).to_string()
        ]
    );
}

#[tokio::test]
async fn gone_stops_at_once() {
    let server = Server::start(vec![Reply::status(410)]).await;
    let clock = clock();
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Gone);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].next_retry_in, None);
    assert_eq!(server.request_count(), 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn too_many_requests_waits_as_told_in_seconds_and_as_a_date() {
    let clock = clock();
    // Seconds: 120 s is longer than the scheduled 5 s, so it wins.
    let server = Server::start(vec![
        Reply::status(429).header("Retry-After", "120"),
        Reply::status(503).header("Retry-After", "Tue, 14 Nov 2023 23:00:00 GMT"),
        Reply::status(204),
    ])
    .await;
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Delivered { status: 204 });
    assert_eq!(d.attempts[0].retry_after, Some(Duration::from_secs(120)));
    // The second attempt runs at START + 120 = 22:15:20; the date is 44 min 40 s later, which is
    // longer than the scheduled 5 min.
    let until_date = Duration::from_secs(23 * 3600) - Duration::from_secs(22 * 3600 + 15 * 60 + 20);
    assert_eq!(d.attempts[1].retry_after, Some(until_date));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(120), until_date]);
    // A hostile Retry-After is clamped.
    let server = Server::start(vec![
        Reply::status(429).header("Retry-After", "999999999999"),
        Reply::status(200),
    ])
    .await;
    let clock = super::clock();
    let d = local(&clock)
        .retry_policy(
            RetryPolicy::default()
                .jitter(0.0)
                .unwrap()
                .max_retry_after(Duration::from_secs(3600)),
        )
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert!(d.is_delivered());
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3600)]);
}

#[tokio::test]
async fn redirect_is_a_failure_and_is_not_followed() {
    let target = Server::start(vec![Reply::status(200)]).await;
    let server = Server::start(vec![
        Reply::status(302).header("Location", &target.url("/elsewhere"))
    ])
    .await;
    let clock = clock();
    let d = local(&clock)
        .retry_policy(
            RetryPolicy::default()
                .jitter(0.0)
                .unwrap()
                .client_error_attempts(2),
        )
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Rejected { status: 302 });
    assert_eq!(d.attempts.len(), 2);
    assert_eq!(
        d.attempts[0].error,
        Some(AttemptError::Redirect {
            status: 302,
            location: Some(target.url("/elsewhere"))
        })
    );
    assert_eq!(server.request_count(), 2);
    assert_eq!(
        target.request_count(),
        0,
        "the redirect target got a request"
    );
}

#[tokio::test]
async fn other_client_errors_stop_after_the_configured_attempts() {
    let server = Server::start(vec![Reply::status(400).body("bad signature")]).await;
    let clock = clock();
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Rejected { status: 400 });
    assert_eq!(d.attempts.len(), 3, "default: three client-error attempts");
    assert_eq!(d.attempts[0].response_excerpt, "bad signature");
    assert_eq!(
        clock.sleeps(),
        vec![DEFAULT_SCHEDULE[0], DEFAULT_SCHEDULE[1]]
    );
}

#[tokio::test]
async fn hanging_server_times_out() {
    let server = Server::start(vec![Reply::hang()]).await;
    let clock = clock();
    let d = local(&clock)
        .timeout(Duration::from_millis(300))
        .retry_policy(
            RetryPolicy::default()
                .schedule(vec![Duration::from_secs(5)])
                .unwrap()
                .jitter(0.0)
                .unwrap(),
        )
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Exhausted);
    assert_eq!(d.attempts.len(), 2);
    for a in &d.attempts {
        assert_eq!(a.error, Some(AttemptError::Timeout));
        assert_eq!(a.status, None);
        assert!(a.latency >= Duration::from_millis(300));
    }
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn full_schedule_runs_three_days_on_the_virtual_clock() {
    let server = Server::start(vec![Reply::status(503)]).await;
    let clock = clock();
    let d = Sender::builder()
        .allow_http(true)
        .allow_private_addresses(true)
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::default().jitter_seed(42)) // default ±20 % jitter
        .build()
        .unwrap()
        .deliver(&endpoint(&server), &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Exhausted);
    assert_eq!(d.attempts.len(), 10);
    assert_eq!(server.request_count(), 10);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 9);
    for (got, base) in sleeps.iter().zip(DEFAULT_SCHEDULE) {
        assert!(
            *got >= base.mul_f64(0.8) && *got <= base.mul_f64(1.2),
            "{got:?} vs {base:?}"
        );
    }
    let nominal: Duration = DEFAULT_SCHEDULE.iter().sum();
    assert_eq!(nominal, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
    assert!(clock.total_slept() > Duration::from_secs(3 * 24 * 3600) * 8 / 10);
    // Each attempt was signed at the virtual time it was made: the last one after all sleeps.
    let elapsed = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs() - START;
    assert_eq!(elapsed, clock.total_slept().as_secs());
    let last = server.requests().pop().unwrap();
    assert_eq!(
        last.header("webhook-timestamp").unwrap(),
        (START + clock.total_slept().as_secs()).to_string()
    );
}

#[tokio::test]
async fn connection_refused_is_retried_as_a_transport_error() {
    // Bind then drop to get a loopback port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock = clock();
    let ep = Endpoint::new(&format!("http://127.0.0.1:{port}/"), Signing::None).unwrap();
    let d = local(&clock)
        .retry_policy(
            RetryPolicy::default()
                .schedule(vec![Duration::from_secs(1); 2])
                .unwrap()
                .jitter(0.0)
                .unwrap(),
        )
        .build()
        .unwrap()
        .deliver(&ep, &Message::new(&b"{}"[..]))
        .await;
    assert_eq!(d.outcome, Outcome::Exhausted);
    assert_eq!(d.attempts.len(), 3);
    for a in &d.attempts {
        assert!(
            matches!(&a.error, Some(AttemptError::Transport(t)) if !t.contains("127.0.0.1")),
            "{:?}",
            a.error
        );
    }
}

#[tokio::test]
async fn signature_headers_cannot_be_overridden_by_extra_headers() {
    let server = Server::start(vec![Reply::status(200)]).await;
    let clock = clock();
    let ep = endpoint(&server)
        .header("webhook-signature", "v1,forged")
        .unwrap();
    let d = local(&clock)
        .build()
        .unwrap()
        .deliver(&ep, &Message::new(&b"{}"[..]))
        .await;
    assert!(d.is_delivered());
    let req = &server.requests()[0];
    assert_ne!(req.header("webhook-signature"), Some("v1,forged"));
    let headers = req.header_map();
    StandardWebhooks::new(SECRET)
        .unwrap()
        .verify_at(&Inbound::new(&headers, &req.body), d.attempts[0].at)
        .unwrap();
}

#[tokio::test]
async fn many_events_to_many_endpoints_with_bounded_concurrency() {
    let servers = [
        Server::start(vec![Reply::status(200)]).await,
        Server::start(vec![Reply::status(500), Reply::status(200)]).await,
        Server::start(vec![Reply::status(410)]).await,
    ];
    let clock = clock();
    let sender = local(&clock).build().unwrap();
    let endpoints: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    let jobs: Vec<(Endpoint, Message)> = (0..60)
        .map(|i| {
            (
                endpoints[i % 3].clone(),
                Message::with_id(&format!("msg_{i}"), format!("{{\"n\":{i}}}")).unwrap(),
            )
        })
        .collect();
    let results = sender.deliver_all(jobs, 8).await;
    assert_eq!(results.len(), 60);
    for (i, d) in results.iter().enumerate() {
        assert_eq!(d.message_id, format!("msg_{i}"), "results keep input order");
        match i % 3 {
            0 => assert_eq!(d.outcome, Outcome::Delivered { status: 200 }),
            // The second server fails only its very first request.
            1 => assert!(d.is_delivered()),
            _ => assert_eq!(d.outcome, Outcome::Gone),
        }
    }
    assert_eq!(servers[0].request_count(), 20);
    assert_eq!(servers[1].request_count(), 21);
    assert_eq!(servers[2].request_count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_limit_is_respected() {
    let server = Server::start(vec![Reply::status(200).delayed(Duration::from_millis(50))]).await;
    let clock = clock();
    let sender = local(&clock).build().unwrap();
    let ep = endpoint(&server);
    let jobs: Vec<_> = (0..24)
        .map(|_| (ep.clone(), Message::new(&b"{}"[..])))
        .collect();
    let results = sender.deliver_all(jobs, 4).await;
    assert_eq!(results.len(), 24);
    assert!(results.iter().all(|d| d.is_delivered()));
    assert_eq!(server.request_count(), 24);
    let max = server.max_concurrent();
    assert!(max <= 4, "{max} requests were in flight at once");
    assert!(max >= 2, "deliveries ran one at a time");
}

/// Endpoints that authenticate with a query token (`?token=`, `?code=`): the request carries
/// the query as given, but reports, the attempt callback, `url_for_logs`, `Debug` and the
/// sender's logs show each value as `…`.
#[test]
fn query_credentials_are_sent_but_never_reported() {
    let (urls, logs) = crate::support::logs::capture_logs(|| async {
        let server = Server::start(vec![Reply::status(500), Reply::status(200)]).await;
        let clock = clock();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let sender = local(&clock)
            .on_attempt(move |r| s.lock().unwrap().push(r.url.to_owned()))
            .build()
            .unwrap();
        let url = server.url("/in?token=s3cr3t-token&code=s3cr3t-code&flag&s3cr3t-bare");
        let ep = Endpoint::new(&url, Signing::standard(SECRET).unwrap()).unwrap();
        let d = sender
            .deliver(&ep, &Message::with_id("msg_q", &b"{}"[..]).unwrap())
            .await;
        assert!(d.is_delivered(), "{d:?}");
        assert_eq!(
            server.requests()[0].query(),
            Some("token=s3cr3t-token&code=s3cr3t-code&flag&s3cr3t-bare"),
            "the endpoint got its credentials"
        );
        let mut urls = seen.lock().unwrap().clone();
        urls.extend([
            d.url.clone(),
            ep.url_for_logs().to_owned(),
            format!("{ep:?}"),
        ]);
        urls
    });
    for u in &urls {
        assert!(!u.contains("s3cr3t"), "{u}");
    }
    assert!(urls[0].ends_with("/in?token=…&code=…&…&…"), "{}", urls[0]);
    assert!(
        logs.contains("/in?token=…"),
        "the logs name the endpoint: {logs}"
    );
    assert!(!logs.contains("s3cr3t"), "{logs}");
}
