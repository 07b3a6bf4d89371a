//! listen → send → saved capture → doctor / verify / replay, all over 127.0.0.1.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{bin, run, TempDir};

const SAM: &str = "sam-demo-secret-0123456789";
const OTHER: &str = "a-different-sam-secret-987";

/// A running `chathooks listen`, killed on drop.
struct Listener {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
}

impl Listener {
    fn start(args: &[&str]) -> Listener {
        Listener::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Listener {
        let mut child = Command::new(bin())
            .envs(env.iter().copied())
            .arg("listen")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start listen");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Listener {
            child,
            addr,
            lines: rx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next `n` request lines.
    fn take(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.lines
                    .recv_timeout(Duration::from_secs(20))
                    .expect("a line per request")
            })
            .collect()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn saved(dir: &TempDir) -> Vec<String> {
    saved_in(dir.path())
}

#[test]
fn listen_send_save_doctor_verify_replay() {
    let dir = TempDir::new("listen");
    let save = dir.path().to_str().unwrap().to_owned();
    let a = Listener::start(&["--vendor", "sam", "--secret", SAM, "--save", &save]);
    let url = a.url("/webhooks/sam");

    // Three deliveries, all verified and saved, one line each.
    let r = run(&[
        "send",
        "--json",
        "--vendor",
        "sam",
        "--event",
        "lead.captured",
        "--count",
        "3",
        "--url",
        &url,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(
        (
            v["delivered"].as_u64(),
            v["duplicate"].as_u64(),
            v["rejected"].as_u64()
        ),
        (Some(3), Some(0), Some(0))
    );
    for line in a.take(3) {
        assert!(
            line.contains("/webhooks/sam")
                && line.contains("sam")
                && line.contains("verified (sam)")
                && line.contains("lead.captured"),
            "{line}"
        );
    }
    let files = saved(&dir);
    assert_eq!(files.len(), 3);

    // The same delivery twice: the listener says duplicate, and send tells them apart.
    let r = run(&[
        "send",
        "--json",
        "--vendor",
        "sam",
        "--event",
        "lead.captured",
        "--seed",
        "50",
        "--repeat",
        "2",
        "--url",
        &url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = r.json();
    assert_eq!(
        (v["delivered"].as_u64(), v["duplicate"].as_u64()),
        (Some(1), Some(1)),
        "{v:#}"
    );
    assert!(a.take(2)[1].contains("duplicate"));

    // A wrong secret: rejected, with the receiver's reason.
    let r = run(&[
        "send",
        "--json",
        "--vendor",
        "sam",
        "--event",
        "lead.captured",
        "--secret",
        OTHER,
        "--url",
        &url,
    ]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(v["rejected"], 1);
    let res = &v["results"][0];
    assert_eq!(res["outcome"], "rejected");
    assert_eq!(res["status"], 401);
    assert!(res["reason"].as_str().unwrap().contains("matches"), "{res}");
    let line = &a.take(1)[0];
    assert!(line.contains("not verified"), "{line}");
    let human = run(&[
        "send",
        "--vendor",
        "sam",
        "--event",
        "lead.captured",
        "--secret",
        OTHER,
        "--url",
        &url,
    ]);
    assert!(
        human
            .stdout
            .contains("0 delivered, 0 duplicate, 1 rejected"),
        "{}",
        human.stdout
    );
    a.take(1);

    // Saved capture → doctor and verify.
    let cap = &files[0];
    let r = run(&["doctor", "--json", "--secret", SAM, cap]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = r.json();
    assert_eq!(v["preset"], "sam");
    assert_eq!(v["signed_content"], "body");
    assert_eq!(
        run(&["verify", "--vendor", "sam", "--secret", SAM, cap]).code,
        0
    );

    // Replay byte for byte: the first listener has seen it (duplicate), a fresh one verifies it.
    let r = run(&["replay", "--json", cap, "--to", &url]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.json()["results"][0]["response"]
        .as_str()
        .unwrap()
        .contains("duplicate"));
    assert!(a.take(1)[0].contains("duplicate"));
    let b = Listener::start(&["--vendor", "sam", "--secret", OTHER]);
    let r = run(&["replay", "--json", cap, "--to", &b.url("/webhooks/sam")]);
    assert_eq!(r.code, 1, "signed with the other secret: 401");
    assert_eq!(r.json()["results"][0]["status"], 401);
    b.take(1);
    // Re-signed with the listener's secret: accepted.
    let r = run(&[
        "replay",
        "--json",
        "--resign",
        "--vendor",
        "sam",
        "--secret",
        OTHER,
        cap,
        "--to",
        &b.url("/webhooks/sam"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(b.take(1)[0].contains("verified (sam)"));

    // Forwarding: c forwards the exact bytes to d, which verifies them; c answers d's status.
    let d = Listener::start(&["--vendor", "sam", "--secret", SAM]);
    let c = Listener::start(&["--forward-to", &d.url("/webhooks/sam")]);
    let r = run(&[
        "send",
        "--json",
        "--vendor",
        "sam",
        "--event",
        "callback.requested",
        "--url",
        &c.url("/in"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(d.take(1)[0].contains("verified (sam)"));
    let line = &c.take(1)[0];
    assert!(
        line.contains("not checked") && line.contains("→ 200"),
        "{line}"
    );
}

#[test]
fn listen_json_lines_and_timestamped_resign() {
    let dir = TempDir::new("listen-json");
    let save = dir.path().to_str().unwrap().to_owned();
    let secret = "conversalabs-demo-secret-0123456789";
    let a = Listener::start(&[
        "--json",
        "--vendor",
        "conversalabs",
        "--secret",
        secret,
        "--save",
        &save,
    ]);
    let r = run(&[
        "send",
        "--vendor",
        "conversalabs",
        "--event",
        "message_created",
        "--url",
        &a.url("/webhooks/conversalabs"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let line: serde_json::Value = serde_json::from_str(&a.take(1)[0]).unwrap();
    assert_eq!(line["vendor"], "conversalabs");
    assert_eq!(line["verified"], true);
    assert_eq!(line["event"], "message_created");
    let cap = &saved(&dir)[0];
    // Two days later the signature is stale; doctor says so, and --at as of receipt matches.
    let later = (chathooks_now() + 2 * 86_400).to_string();
    let r = run(&["doctor", "--json", "--secret", secret, "--at", &later, cap]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["near_miss"], "stale-timestamp");
    assert!(r.json()["explanation"]
        .as_str()
        .unwrap()
        .contains("2 days old"));
    // Re-signing gives a fresh timestamp the listener accepts.
    let r = run(&[
        "replay",
        "--resign",
        "--vendor",
        "conversalabs",
        "--secret",
        secret,
        cap,
        "--to",
        &a.url("/webhooks/conversalabs"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let line: serde_json::Value = serde_json::from_str(&a.take(1)[0]).unwrap();
    assert_eq!(line["verified"], true);
}

fn chathooks_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A body over listen's limit still gets its line (the sender saw a 413); URLs with
/// credentials are shown without them; re-signing as Standard Webhooks drops the capture's
/// stale `svix-*` headers.
#[test]
fn listen_reports_413_and_replay_hides_credentials_and_stale_signatures() {
    use std::io::{Read as _, Write as _};
    let dir = TempDir::new("listen-413");
    let save = dir.path().join("saved");
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let a = Listener::start(&[
        "--vendor",
        "standard",
        "--secret",
        secret,
        "--save",
        save.to_str().unwrap(),
    ]);

    // 17 MiB, over listen's 16 MiB.
    let big = 17 * 1024 * 1024;
    let mut s = std::net::TcpStream::connect(&a.addr).unwrap();
    write!(
        s,
        "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // The server may answer and close before the body is all sent.
    let _ = s.write_all(&vec![b'a'; big]);
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.80}");
    let line = &a.take(1)[0];
    assert!(line.contains("/big") && line.contains("413"), "{line}");

    // A capture carrying only the legacy headers, re-signed and replayed with credentials in
    // the URL.
    let cap = dir.file(
        "svix.json",
        &super::capture(
            &[
                ("svix-id", "msg_old"),
                ("svix-timestamp", "1600000000"),
                ("svix-signature", "v1,c3RhbGU="),
            ],
            None,
            b"{\"type\":\"lead.captured\",\"data\":{}}",
        ),
    );
    let to = format!("http://user:hunter2-pass@{}/webhooks/standard", a.addr);
    let r = run(&[
        "replay", "--json", "--resign", "--vendor", "standard", "--secret", secret, &cap, "--to",
        &to,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("hunter2"), "{}", r.stdout);
    assert_eq!(
        r.json()["to"],
        format!("http://{}/webhooks/standard", a.addr)
    );
    let line = &a.take(1)[0];
    assert!(line.contains("verified (standard"), "{line}");
    let saved = saved_in(&save);
    let resent = std::fs::read_to_string(saved.last().unwrap()).unwrap();
    assert!(!resent.contains("svix-signature"), "{resent}");
    assert!(resent.contains("webhook-signature"), "{resent}");

    // Nor do delivery errors name them (nothing listens on port 9).
    let r = run(&[
        "replay",
        "--json",
        &cap,
        "--to",
        "http://user:hunter2-pass@127.0.0.1:9/",
    ]);
    assert_eq!(r.code, 1);
    assert!(!r.stdout.contains("hunter2"), "{}", r.stdout);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
}

fn saved_in(dir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_owned())
        .collect();
    files.sort();
    files
}

/// Secrets from `CHATHOOKS_SECRET` instead of argv (where `ps` shows them); captures saved
/// readable by their owner only (they hold every header); SaleSmartly's replayable
/// `signature` never printed.
#[test]
fn listen_takes_the_secret_from_the_environment_and_keeps_captures_private() {
    let dir = TempDir::new("listen-private");
    let save = dir.path().join("caps");
    let secret = "salesmartly-env-secret-0123456789";
    let env = [("CHATHOOKS_SECRET", secret)];
    let a = Listener::start_with_env(
        &["--vendor", "salesmartly", "--save", save.to_str().unwrap()],
        &env,
    );
    let sent = Command::new(bin())
        .envs(env)
        .args(["send", "--vendor", "salesmartly", "--event", "add_user"])
        .args(["--url", &a.url("/webhooks/salesmartly")])
        .output()
        .unwrap();
    assert!(sent.status.success(), "{sent:?}");
    let line = &a.take(1)[0];
    assert!(line.contains("verified"), "{line}");
    assert!(line.contains("signature=…"), "{line}");
    let cap = &saved_in(&save)[0];
    let text = std::fs::read_to_string(cap).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    let query = saved["query"].as_str().unwrap();
    let signature = query
        .split('&')
        .find_map(|p| p.strip_prefix("signature="))
        .expect("the capture keeps the signature, for replay");
    assert!(!line.contains(signature), "{line}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&save), 0o700);
        assert_eq!(mode(std::path::Path::new(cap)), 0o600);
    }
    // verify and doctor read it too.
    let r = Command::new(bin())
        .envs(env)
        .args(["verify", "--vendor", "salesmartly", cap])
        .output()
        .unwrap();
    assert!(r.status.success(), "{r:?}");
}

/// A forwarded answer carries the upstream's headers in place of listen's own: one
/// `Content-Type` (the upstream's, not also listen's `application/octet-stream`), and a header
/// the upstream sends twice (`Set-Cookie`) still twice.
#[test]
fn forwarding_answers_with_the_upstreams_headers_instead_of_its_own() {
    use std::io::{Read as _, Write as _};
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let served = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        // Read the whole request before answering, so the client sees no reset.
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "request cut short: {:?}",
                String::from_utf8_lossy(&req)
            );
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
        }
        s.write_all(
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n\
              Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 11\r\n\
              Connection: close\r\n\r\n{\"ok\":true}",
        )
        .unwrap();
        String::from_utf8_lossy(&req).into_owned()
    });
    let c = Listener::start(&["--forward-to", &format!("http://{up_addr}/up")]);
    let mut s = std::net::TcpStream::connect(&c.addr).unwrap();
    s.write_all(
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let request = served.join().unwrap();
    assert!(request.ends_with("\r\n\r\nhello"), "{request}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 202"), "{answer}");
    assert_eq!(body, "{\"ok\":true}");
    let values = |name: &str| -> Vec<String> {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    };
    assert_eq!(values("content-type"), ["application/json"], "{head}");
    assert_eq!(values("set-cookie"), ["a=1", "b=2"], "{head}");
    assert!(c.take(1)[0].contains("→ 202"));
}

/// GitHub, Slack and Stripe have preset signers (the verifiers' own `sign`): `replay --resign`
/// re-signs a capture for them, and the listener verifies it. `send` has no sample events for
/// them and says that, not "has a verifier but no event parser"; without a --secret (they have
/// no demo secret) --resign says so. Exit 2 for both.
#[test]
fn replay_resigns_for_github_slack_and_stripe() {
    let dir = TempDir::new("resign-presets");
    let secret = "preset-resign-secret-0123456789";
    let cap = dir.file(
        "unsigned.json",
        &super::capture(
            &[("content-type", "application/json")],
            None,
            b"{\"zen\":\"hi\"}",
        ),
    );
    for vendor in ["github", "slack", "stripe"] {
        let l = Listener::start(&["--vendor", vendor, "--secret", secret]);
        let to = l.url(&format!("/webhooks/{vendor}"));
        let r = run(&[
            "replay", "--json", "--resign", "--vendor", vendor, "--secret", secret, &cap, "--to",
            &to,
        ]);
        assert_eq!(r.code, 0, "{vendor}: {}{}", r.stdout, r.stderr);
        let line = &l.take(1)[0];
        assert!(line.contains("verified ("), "{vendor}: {line}");

        let r = run(&["replay", "--resign", "--vendor", vendor, &cap, "--to", &to]);
        assert_eq!(r.code, 2, "{vendor}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("--secret"), "{vendor}: {}", r.stderr);

        let r = run(&["send", "--vendor", vendor, "--print"]);
        assert_eq!(r.code, 2, "{vendor}: {}{}", r.stdout, r.stderr);
        assert!(!r.stderr.contains("event parser"), "{vendor}: {}", r.stderr);
        assert!(r.stderr.contains("no sample"), "{vendor}: {}", r.stderr);
    }
}
