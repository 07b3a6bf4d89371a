//! The receiver examples: their routers driven in-process with the signed requests they print,
//! and the example binaries themselves started with different environments, their output read
//! (what a new user sees: warnings, refusals, the address, one log line per delivery).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use chathooks::event::EventKind;
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent,
};

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
    // The health check answers.
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_example_serves_every_vendor() {
    use receiver_example::{demos, router, Config};
    let config = Config::demo();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(&config, addr).unwrap();
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
    let (tx, rx) = std::sync::mpsc::channel();
    let thread_config = config.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let receivers = Receivers::new(&thread_config, addr).unwrap();
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().configure(configure(&receivers))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap();
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

/// Every demo body normalises to a full event: a known kind, and the message text or the
/// contact the kind implies (the demos once normalised to an empty Buzzi message and a
/// SaleSmartly `Other("message")`).
#[cfg(feature = "axum")]
#[test]
fn every_demo_body_normalises_to_a_full_event() {
    use receiver_example::demo::*;
    let events = [
        (
            "sam",
            SamEvent::from_slice(SAM_BODY.as_bytes())
                .unwrap()
                .normalize(),
        ),
        (
            "saleassist",
            SaleAssistEvent::from_slice(SALEASSIST_BODY.as_bytes())
                .unwrap()
                .normalize(),
        ),
        (
            "salesmartly",
            SaleSmartlyEvent::from_slice(SALESMARTLY_BODY.as_bytes())
                .unwrap()
                .normalize(),
        ),
        (
            "buzzi",
            BuzziEvent::from_slice(BUZZI_BODY.as_bytes())
                .unwrap()
                .normalize(),
        ),
        (
            "conversalabs",
            ConversaLabsEvent::from_slice(CONVERSALABS_BODY.as_bytes())
                .unwrap()
                .normalize(),
        ),
        (
            "standard",
            StandardEvent::from_slice(STANDARD_BODY.as_bytes())
                .unwrap()
                .normalize(),
        ),
    ];
    for (vendor, e) in events {
        assert!(
            !matches!(e.kind, EventKind::Other(_)),
            "{vendor}: {:?}",
            e.kind
        );
        let text = e.message.as_ref().and_then(|m| m.text.as_deref());
        let contact = e.contact.as_ref();
        match e.kind {
            EventKind::MessageReceived
            | EventKind::MessageSent
            | EventKind::ConversationStarted => {
                assert!(
                    text.is_some_and(|t| !t.is_empty()),
                    "{vendor}: no message text: {e:?}"
                )
            }
            // A generic Standard Webhooks event carries the contact's id, not a Contact.
            EventKind::LeadCaptured => assert!(
                contact.is_some() || e.ids.contact.is_some(),
                "{vendor}: no contact: {e:?}"
            ),
            ref other => panic!("{vendor}: unexpected kind {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The example binaries, started as a user would.

/// Every secret variable the examples read, removed from the child's environment first so
/// the developer's own settings cannot leak into a test.
const VARS: [&str; 12] = [
    "CHATHOOKS_ADDR",
    "PORT",
    "SAM_SECRET",
    "SALEASSIST_HEADER",
    "SALEASSIST_TOKEN",
    "SALESMARTLY_SECRET",
    "BUZZI_SECRET",
    "CONVERSALABS_SECRET",
    "STANDARD_WEBHOOKS_SECRET",
    "CHATHOOKS_ALLOW_DEMO_SECRETS",
    "CHATHOOKS_BODY_TIMEOUT",
    "CHATHOOKS_PRINT_EVENTS",
];

/// Real-looking secrets for every route (none is a demo default).
const REAL: [(&str, &str); 7] = [
    ("SAM_SECRET", "real-sam-secret-7f3a9c2e51"),
    ("SALEASSIST_TOKEN", "real-saleassist-token-b81d4e"),
    ("SALESMARTLY_SECRET", "real-salesmartly-key-0c6f2a"),
    ("BUZZI_SECRET", "real-buzzi-secret-93e1d7c4"),
    ("CONVERSALABS_SECRET", "real-conversalabs-secret-55aa"),
    (
        "STANDARD_WEBHOOKS_SECRET",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("SALEASSIST_HEADER", "X-Real-Token"),
];

/// The features this test binary was built with, so building an example does not rebuild
/// the library with another feature set.
fn features() -> String {
    let mut f = Vec::new();
    macro_rules! on {
        ($($name:literal),*) => {$(if cfg!(feature = $name) { f.push($name) })*};
    }
    on!("ed25519", "redis", "postgres", "axum", "tower", "actix", "sender", "metrics");
    f.join(",")
}

/// `--all-features` when every known feature is on (what CI and the README run: new features
/// are then included too), else the list.
fn feature_args() -> Vec<String> {
    let list = features();
    if list.split(',').count() == 8 {
        vec!["--all-features".into()]
    } else {
        vec!["--features".into(), list]
    }
}

/// The example's binary, built (or found up to date) once per test binary. `cargo test`
/// builds the examples anyway; `cargo test --test lib` does not, so this runs `cargo build`
/// for it, with the same profile, target directory and features.
fn example(name: &'static str) -> PathBuf {
    static BUILT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let bin = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--example", name])
            .args(feature_args())
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        if let Some(target) = profile_dir.parent() {
            cmd.arg("--target-dir").arg(target);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example {name} failed");
        built.push(name);
    }
    bin
}

/// A running example: its output lines (stdout and stderr interleaved as they arrive), and
/// its stdout alone (where order within the stream matters).
struct Running {
    child: Child,
    lines: mpsc::Receiver<(bool, String)>,
    seen: Vec<String>,
    stdout: Vec<String>,
}

impl Running {
    fn start(name: &'static str, env: &[(&str, &str)], args: &[&str]) -> Running {
        let mut cmd = Command::new(example(name));
        for v in VARS {
            cmd.env_remove(v);
        }
        cmd.env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("example starts");
        let (tx, lines) = mpsc::channel();
        for (is_stdout, out) in [
            (
                true,
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            ),
            (false, Box::new(child.stderr.take().unwrap())),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send((is_stdout, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
            stdout: Vec::new(),
        }
    }

    fn record(&mut self, (is_stdout, line): (bool, String)) -> String {
        if is_stdout {
            self.stdout.push(line.clone());
        }
        self.seen.push(line.clone());
        line
    }

    /// The first line so far, or to come, that contains `needle` (30 s at most).
    fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(item) => {
                    let line = self.record(item);
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; output:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Everything printed so far and within `wait` from now.
    fn drain(&mut self, wait: Duration) -> &[String] {
        let deadline = Instant::now() + wait;
        while let Ok(item) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.record(item);
        }
        &self.seen
    }

    /// The address from the "listening on http://…" line.
    fn addr(&mut self) -> SocketAddr {
        let line = self.wait_for("listening on http://");
        line.rsplit("http://")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Wait for the process to exit; its status and all output.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "example did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(item) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.record(item);
        }
        (status, self.seen.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 exchange on loopback; the status and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: \
         application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    http(addr, &req)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"),
    )
}

/// The binaries under test: both examples where their feature is on.
fn binaries() -> Vec<&'static str> {
    let mut b = Vec::new();
    if cfg!(feature = "axum") {
        b.push("receiver");
    }
    if cfg!(feature = "actix") {
        b.push("actix_receiver");
    }
    b
}

/// With real secrets: no secret and no signed command in the output, the configured vendors
/// listed by name, no demo warning; a delivery signed with the real secret is accepted and
/// logged once; every rejection is logged once with its status and reason.
#[test]
fn real_secrets_are_never_printed_and_every_delivery_logs_one_line() {
    for name in binaries() {
        let mut env: Vec<(&str, &str)> = REAL.to_vec();
        env.push(("CHATHOOKS_ADDR", "127.0.0.1:0"));
        let mut run = Running::start(name, &env, &[]);
        let addr = run.addr();
        run.wait_for("configured from the environment: sam, saleassist, salesmartly, buzzi, conversalabs, standard");

        // Accepted, duplicate, and three rejections with different reasons.
        let body = r#"{"event":"lead.captured","data":{"email":"ana@example.com"}}"#;
        let sam = chathooks::verify::HmacSha256::sam(REAL[0].1).unwrap();
        let sig = sam.signature(SystemTime::now(), body.as_bytes());
        let sig_header = [("x-sam-signature", sig.as_str())];
        assert_eq!(
            post(addr, "/webhooks/sam", &sig_header, body).0,
            200,
            "{name}"
        );
        let (status, answer) = post(addr, "/webhooks/sam", &sig_header, body);
        assert_eq!(
            (status, answer.contains("duplicate")),
            (200, true),
            "{name}"
        );
        let wrong = "0".repeat(64);
        assert_eq!(
            post(addr, "/webhooks/sam", &[("x-sam-signature", &wrong)], body).0,
            401
        );
        assert_eq!(post(addr, "/webhooks/buzzi", &[], body).0, 400);
        assert_eq!(
            post(
                addr,
                "/webhooks/saleassist",
                &[("X-Real-Token", "nope-nope-nope-nope")],
                body
            )
            .0,
            401
        );
        // The demo route has nothing to offer, and says so.
        let (_, demo) = get(addr, "/demo");
        assert!(
            demo.contains("No route uses a demo secret"),
            "{name}: {demo}"
        );

        let out = run.drain(Duration::from_millis(500)).join("\n");
        for (var, secret) in REAL {
            assert!(
                !out.contains(secret) || var == "SALEASSIST_HEADER",
                "{name} printed {var}:\n{out}"
            );
        }
        assert!(!out.contains(&sig), "{name} printed a signature:\n{out}");
        assert!(!out.contains("curl "), "{name} printed a command:\n{out}");
        assert!(!out.contains("WARNING"), "{name}:\n{out}");
        assert!(
            !out.contains("ana@example.com"),
            "{name} logged a body:\n{out}"
        );
        let count = |needle: &str| out.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(count(": accepted "), 1, "{name}:\n{out}");
        assert_eq!(
            count("duplicate of a completed delivery"),
            1,
            "{name}:\n{out}"
        );
        let rejected: Vec<&str> = out.lines().filter(|l| l.contains(" rejected")).collect();
        assert_eq!(rejected.len(), 3, "{name}:\n{out}");
        assert!(
            rejected
                .iter()
                .any(|l| l.contains("status=401") && l.contains("X-Sam-Signature")),
            "{name}:\n{out}"
        );
        assert!(
            rejected
                .iter()
                .any(|l| l.contains("status=400") && l.contains("X-Webhook-Signature")),
            "{name}:\n{out}"
        );
        assert!(
            rejected
                .iter()
                .any(|l| l.contains("status=401") && l.contains("X-Real-Token")),
            "{name}:\n{out}"
        );
    }
}

/// On demo secrets (loopback): a warning per demo route, signed commands for those routes
/// only, with the 300 s expiry and the way to a fresh set; the commands work; `/demo` answers
/// a fresh set; the health check answers.
#[test]
fn demo_secrets_warn_per_route_and_print_working_commands() {
    for name in binaries() {
        // Sam configured, everything else on demo secrets.
        let env = [("CHATHOOKS_ADDR", "127.0.0.1:0"), ("SAM_SECRET", REAL[0].1)];
        let mut run = Running::start(name, &env, &[]);
        let addr = run.addr();
        run.wait_for("/demo");
        let out = run.drain(Duration::from_millis(500)).join("\n");
        for vendor in [
            "saleassist",
            "salesmartly",
            "buzzi",
            "conversalabs",
            "standard",
        ] {
            assert!(
                out.contains(&format!(
                    "WARNING: /webhooks/{vendor} uses a public demo secret"
                )),
                "{name}: {vendor}\n{out}"
            );
            let stdout = run.stdout.join("\n");
            assert!(
                stdout.contains(&format!("# {vendor}\ncurl ")),
                "{name}: {vendor}\n{stdout}"
            );
        }
        assert!(!out.contains("WARNING: /webhooks/sam"), "{name}:\n{out}");
        assert!(
            !out.contains("# sam"),
            "{name}: a command for a configured route:\n{out}"
        );
        assert!(!out.contains(REAL[0].1), "{name}:\n{out}");
        assert!(out.contains("refused after 300 s"), "{name}:\n{out}");
        assert!(
            out.contains(&format!("curl http://{addr}/demo")),
            "{name}:\n{out}"
        );
        assert_eq!(get(addr, "/healthz"), (200, "ok\n".into()), "{name}");
        let (status, fresh) = get(addr, "/demo");
        assert_eq!(status, 200, "{name}");
        assert!(fresh.contains("# standard\ncurl "), "{name}: {fresh}");
        assert!(!fresh.contains("# sam\n"), "{name}: {fresh}");
    }
}

/// Demo secrets on an address other machines can reach: refused with a message naming the
/// variables, unless explicitly allowed. `PORT` means all interfaces.
#[test]
fn demo_secrets_on_all_interfaces_are_refused_unless_allowed() {
    for name in binaries() {
        let run = Running::start(name, &[("PORT", "0")], &[]);
        let (status, out) = run.finish();
        assert_eq!(status.code(), Some(2), "{name}:\n{out}");
        assert!(
            out.contains("refusing to listen on 0.0.0.0:0 (from PORT)"),
            "{name}:\n{out}"
        );
        assert!(
            out.contains("SAM_SECRET") && out.contains("--allow-demo-secrets"),
            "{name}:\n{out}"
        );
        assert!(!out.contains("panicked"), "{name}:\n{out}");

        // Allowed by flag, and by variable: listens on every interface.
        for (env, args) in [
            (vec![("PORT", "0")], vec!["--allow-demo-secrets"]),
            (
                vec![("PORT", "0"), ("CHATHOOKS_ALLOW_DEMO_SECRETS", "1")],
                vec![],
            ),
        ] {
            let mut run = Running::start(name, &env, &args);
            let addr = run.addr();
            assert!(
                addr.ip().is_unspecified(),
                "{name}: PORT must mean all interfaces: {addr}"
            );
            run.wait_for("WARNING: /webhooks/sam");
            let local = SocketAddr::from(([127, 0, 0, 1], addr.port()));
            assert_eq!(get(local, "/healthz").0, 200, "{name}");
        }

        // Real secrets everywhere: PORT on all interfaces needs no flag.
        let mut env: Vec<(&str, &str)> = REAL.to_vec();
        env.push(("PORT", "0"));
        let mut run = Running::start(name, &env, &[]);
        assert!(run.addr().ip().is_unspecified(), "{name}");
    }
}

/// `CHATHOOKS_ADDR` takes host names; bad values and a taken address are errors that name the
/// address and the variable, never a panic.
#[test]
fn addresses_resolve_and_errors_say_what_to_change() {
    for name in binaries() {
        let mut run = Running::start(name, &[("CHATHOOKS_ADDR", "localhost:0")], &[]);
        let addr = run.addr();
        assert!(addr.ip().is_loopback(), "{name}: {addr}");
        assert_eq!(get(addr, "/healthz").0, 200, "{name}");

        // The address is taken now: the second one must say so.
        let taken = addr.to_string();
        let second = Running::start(name, &[("CHATHOOKS_ADDR", &taken)], &[]);
        let (status, out) = second.finish();
        assert_eq!(status.code(), Some(2), "{name}:\n{out}");
        assert!(
            out.contains(&format!("cannot listen on {taken} (from CHATHOOKS_ADDR)")),
            "{name}:\n{out}"
        );
        assert!(out.contains("PORT=N"), "{name}:\n{out}");

        for (env, needle) in [
            (
                ("CHATHOOKS_ADDR", "localhost"),
                "CHATHOOKS_ADDR=\"localhost\"",
            ),
            (
                ("CHATHOOKS_ADDR", "no such host:1"),
                "CHATHOOKS_ADDR=\"no such host:1\"",
            ),
            (("PORT", "eighty"), "PORT=\"eighty\" is not a port number"),
            (("SAM_SECRET", "short"), "SAM_SECRET: invalid secret"),
            (
                ("STANDARD_WEBHOOKS_SECRET", "whsec_!!"),
                "STANDARD_WEBHOOKS_SECRET: invalid secret",
            ),
            (
                ("SALEASSIST_HEADER", "bad header"),
                "SALEASSIST_HEADER=\"bad header\"",
            ),
            (("CHATHOOKS_BODY_TIMEOUT", "0"), "CHATHOOKS_BODY_TIMEOUT"),
        ] {
            let (status, out) = Running::start(name, &[env], &[]).finish();
            assert_eq!(status.code(), Some(2), "{name} {env:?}:\n{out}");
            assert!(out.contains(needle), "{name} {env:?}:\n{out}");
            assert!(!out.contains("panicked"), "{name} {env:?}:\n{out}");
            assert!(
                !out.contains("short\n") || env.0 != "SAM_SECRET",
                "{name} printed the value"
            );
        }
        let (status, out) = Running::start(name, &[], &["--help"]).finish();
        assert_eq!(status.code(), Some(0), "{name}:\n{out}");
        assert!(out.contains("CHATHOOKS_ADDR=host:port"), "{name}:\n{out}");
    }
}

/// Forty uploads that send their headers and part of the body, then stall, are cut off once
/// the body timeout passes: the server answers or closes every one, so none holds its buffer
/// (or its connection) indefinitely. Without the timeout layer they stay open.
#[test]
fn stalled_uploads_are_cut_off() {
    for name in binaries() {
        let env = [
            ("CHATHOOKS_ADDR", "127.0.0.1:0"),
            ("CHATHOOKS_BODY_TIMEOUT", "1"),
        ];
        let mut run = Running::start(name, &env, &[]);
        let addr = run.addr();
        let started = Instant::now();
        let stalled: Vec<TcpStream> = (0..40)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(
                    b"POST /webhooks/sam HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                      content-length: 100000\r\nx-sam-signature: 00\r\n\r\n{\"event\":",
                )
                .unwrap();
                s
            })
            .collect();
        for mut s in stalled {
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            let mut buf = Vec::new();
            // Returns when the server answers and closes (or resets) the connection; a read
            // timeout means it is still held.
            let held = match s.read_to_end(&mut buf) {
                Ok(_) => false,
                Err(e) => matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            };
            assert!(
                !held,
                "{name}: a stalled upload was still open after {:?}",
                started.elapsed()
            );
        }
        // All cut off within a few seconds of the 1 s timeout, not at the client's 15 s.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            started.elapsed()
        );
        assert_eq!(get(addr, "/healthz").0, 200, "{name}");
    }
}

/// `examples/send.rs` as a test tool against the receiver binary: delivered, then duplicate;
/// a rejection shows the receiver's reason; `--print` shows the signed headers with the body;
/// `--help` exits 0; the vendor is `standard` (alias `standard_webhooks`).
#[cfg(all(feature = "sender", feature = "axum"))]
#[test]
fn send_reports_duplicates_and_reasons() {
    let mut run = Running::start("receiver", &[("CHATHOOKS_ADDR", "127.0.0.1:0")], &[]);
    let addr = run.addr();
    let send = |args: &[&str]| {
        let out = Command::new(example("send")).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let url = format!("http://{addr}/webhooks/sam");
    let args = [
        "--vendor",
        "sam",
        "--event",
        "lead.captured",
        "--url",
        &url,
        "--seed",
        "7",
    ];
    let (code, out) = send(&args);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(": delivered (HTTP 200)")
            && out.contains("1 delivered, 0 duplicate, 0 failed"),
        "{out}"
    );
    let (code, out) = send(&args);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(": duplicate (HTTP 200)") && out.contains("0 delivered, 1 duplicate"),
        "{out}"
    );
    let mut wrong = args.to_vec();
    wrong.extend(["--secret", "not-the-receivers-secret"]);
    let (code, out) = send(&wrong);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("rejected (HTTP 401): no signature in `X-Sam-Signature` matches"),
        "{out}"
    );

    for vendor in ["standard", "standard_webhooks"] {
        let (code, out) = send(&["--vendor", vendor, "--event", "lead.captured", "--print"]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains("webhook-signature: v1,") && out.contains("webhook-id: "),
            "{out}"
        );
        assert!(out.contains("\"lead.captured\""), "{out}");
    }
    let (code, out) = send(&["--vendor", "salesmartly", "--event", "add_user", "--print"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("?timestamp=") && out.contains("&signature="),
        "{out}"
    );
    let (code, out) = send(&["--list"]);
    assert!(
        code == Some(0) && out.contains("\nstandard: ") && !out.contains("standard_webhooks"),
        "{out}"
    );
    let (code, out) = send(&["--help"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("--secret TEXT]...") && !out.contains("required"),
        "{out}"
    );
    let (code, _) = send(&["--bogus"]);
    assert_eq!(code, Some(2));
}

/// `GET /metrics` on the receiver example: the Prometheus page counts what was received (the
/// crate records only with feature `metrics`).
#[cfg(feature = "metrics")]
#[test]
fn receiver_example_serves_prometheus_metrics() {
    let mut env: Vec<(&str, &str)> = REAL.to_vec();
    env.push(("CHATHOOKS_ADDR", "127.0.0.1:0"));
    let mut run = Running::start("receiver", &env, &[]);
    let addr = run.addr();
    let body = r#"{"event":"lead.captured","data":{"id":"lead-metrics-1"}}"#;
    let sam = chathooks::verify::HmacSha256::sam(REAL[0].1).unwrap();
    let sig = sam.signature(SystemTime::now(), body.as_bytes());
    assert_eq!(
        post(addr, "/webhooks/sam", &[("x-sam-signature", &sig)], body).0,
        200
    );
    let wrong = "0".repeat(64);
    for _ in 0..2 {
        assert_eq!(
            post(addr, "/webhooks/sam", &[("x-sam-signature", &wrong)], body).0,
            401
        );
    }
    let (status, page) = get(addr, "/metrics");
    assert_eq!(status, 200);
    let series = |outcome: &str, status: &str| {
        page.lines()
            .find(|l| {
                l.starts_with("chathooks_deliveries_total{")
                    && l.contains(r#"vendor="sam""#)
                    && l.contains(&format!(r#"outcome="{outcome}""#))
                    && l.contains(&format!(r#"status="{status}""#))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(series("accepted", "200").as_deref(), Some("1"), "{page}");
    assert_eq!(
        series("rejected_signature", "401").as_deref(),
        Some("2"),
        "{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("chathooks_stage_duration_seconds")
                && l.contains(r#"stage="verify""#)),
        "{page}"
    );
    assert!(!page.contains(&sig), "no signature in the metrics page");
    // Described by chathooks itself: Prometheus gets a help line for each series.
    for name in [
        "chathooks_deliveries_total",
        "chathooks_stage_duration_seconds",
    ] {
        assert!(
            page.lines()
                .any(|l| l.starts_with(&format!("# HELP {name} "))),
            "no help line for {name}:\n{page}"
        );
    }
}
