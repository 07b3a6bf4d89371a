//! Finding 9: a forged-request flood does not become a log flood. Each receiver logs at most a
//! few WARN lines per rejection reason and 10 s window, then one line saying how many similar
//! rejections it left out. (tests/metrics.rs checks that metrics still count every one.)

use std::time::{Duration, UNIX_EPOCH};

use chathooks::inbox::MemoryInbox;
use chathooks::platform::sam::SamEvent;
use chathooks::verify::HmacSha256;
use chathooks::{Inbound, Receiver};

use super::capture_logs;

const SECRET: &str = "sam-test-secret-0123456789";
const BODY: &[u8] = include_bytes!("../fixtures/sam/lead_captured.json");

fn warn_lines(logs: &str) -> Vec<&str> {
    logs.lines().filter(|l| l.contains(" WARN ")).collect()
}

#[test]
fn a_thousand_forged_requests_give_a_bounded_number_of_warnings() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let wrong = {
        let mut h = http::HeaderMap::new();
        h.insert("x-sam-signature", "ab".repeat(32).parse().unwrap());
        h
    };
    let missing = http::HeaderMap::new();
    let ((), logs) = capture_logs(|| async {
        let rx = Receiver::<SamEvent>::builder(HmacSha256::sam(SECRET).unwrap()).build();
        let inbox_rx = Receiver::<SamEvent>::builder(HmacSha256::sam(SECRET).unwrap())
            .inbox(MemoryInbox::new())
            .build();
        // 1 000 forged requests within one window: 600 with a wrong signature (401), 400
        // without one (400), and 200 more to the inbox route.
        for i in 0..1000 {
            let h = if i % 5 < 3 { &wrong } else { &missing };
            let at = now + Duration::from_millis(i % 5);
            let err = rx.receive_at(&Inbound::new(h, BODY), at).await.unwrap_err();
            assert!(err.status() == 401 || err.status() == 400, "{err}");
        }
        for i in 0..200 {
            let at = now + Duration::from_millis(i % 5);
            let err = inbox_rx
                .accept_at(&Inbound::new(&wrong, BODY), at)
                .await
                .unwrap_err();
            assert_eq!(err.status(), 401);
        }
        tracing::info!("end of the flood");
        // The next window: one line per reason, with the count of what was left out.
        let later = now + Duration::from_millis(12_100);
        for h in [&wrong, &missing] {
            rx.receive_at(&Inbound::new(h, BODY), later)
                .await
                .unwrap_err();
        }
        inbox_rx
            .accept_at(&Inbound::new(&wrong, BODY), later)
            .await
            .unwrap_err();
    });
    let (flood, after) = logs.split_once("end of the flood").unwrap();
    let flood = warn_lines(flood);
    // 5 per reason and receiver: 401 and 400 on the handler route, 401 on the inbox route.
    assert_eq!(flood.len(), 15, "{}", flood.join("\n"));
    assert!(
        flood.iter().all(|l| l.contains("rejected")),
        "{}",
        flood.join("\n")
    );
    let after = warn_lines(after);
    assert_eq!(after.len(), 3, "{}", after.join("\n"));
    for (suppressed, what) in [
        (595, "status=401"),
        (395, "status=400"),
        (195, "status=401"),
    ] {
        let text = format!("rejected ({suppressed} similar suppressed in the last 12 s)");
        assert!(
            after.iter().any(|l| l.contains(&text) && l.contains(what)),
            "{text}:\n{}",
            after.join("\n")
        );
    }
}
