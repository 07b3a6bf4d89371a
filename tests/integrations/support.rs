//! Vendors, signing and HTTP plumbing shared by the axum and actix-web tests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent,
};
use chathooks::receiver::Payload;
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token, Verifier};
use chathooks::{Receiver, Secret};

pub const SAM_SECRET: &str = "sam-test-secret-0123456789";
pub const SALEASSIST_HEADER: &str = "X-SaleAssist-Token";
pub const SALEASSIST_TOKEN: &str = "saleassist-test-token-0123456789";
pub const SALESMARTLY_SECRET: &str = "salesmartly-test-key-0123456789";
pub const BUZZI_SECRET: &str = "buzzi-test-secret-0123456789";
pub const CONVERSALABS_SECRET: &str = "conversalabs-test-secret-0123456789";
pub const STANDARD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const WRONG_SECRET: &str = "an-entirely-different-secret-987";
pub const WRONG_STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Receivers' body limit in these tests.
pub const LIMIT: usize = 16 * 1024;

/// One vendor endpoint under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Sam,
    SaleAssist,
    SaleSmartly,
    Buzzi,
    ConversaLabs,
    Standard,
}

pub const ALL: [Vendor; 6] = [
    Vendor::Sam,
    Vendor::SaleAssist,
    Vendor::SaleSmartly,
    Vendor::Buzzi,
    Vendor::ConversaLabs,
    Vendor::Standard,
];

/// A request to send: path, headers, body.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn without_auth(mut self, vendor: Vendor) -> Self {
        let drop: &[&str] = match vendor {
            Vendor::Sam => &["x-sam-signature"],
            Vendor::SaleAssist => &["x-saleassist-token"],
            Vendor::SaleSmartly => &[],
            Vendor::Buzzi => &["x-webhook-signature"],
            Vendor::ConversaLabs => &["x-chatwoot-signature", "x-chatwoot-timestamp"],
            Vendor::Standard => &["webhook-signature", "webhook-timestamp"],
        };
        self.headers
            .retain(|(k, _)| !drop.contains(&k.to_ascii_lowercase().as_str()));
        if vendor == Vendor::SaleSmartly {
            self.path = self.path.split('?').next().unwrap_or_default().to_owned();
        }
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Every secret and token the test servers are configured with (raw text, and the key part of
/// the `whsec_` ones), and every signature or token value carried by `deliveries` (headers
/// and SaleSmartly's query `signature`): what no answer or log may ever contain.
pub fn secrets_and_signatures(deliveries: &[&Delivery]) -> Vec<String> {
    let mut out: Vec<String> = [
        SAM_SECRET,
        SALEASSIST_TOKEN,
        SALESMARTLY_SECRET,
        BUZZI_SECRET,
        CONVERSALABS_SECRET,
        STANDARD_SECRET,
        WRONG_SECRET,
        WRONG_STANDARD,
    ]
    .iter()
    .flat_map(|s| [s.to_string(), s.trim_start_matches("whsec_").to_owned()])
    .collect();
    for d in deliveries {
        for (k, v) in &d.headers {
            let k = k.to_ascii_lowercase();
            if k.contains("signature") || k.contains("token") {
                out.push(v.clone());
                // The bare MAC too, without any `sha256=`/`v1,` prefix.
                out.extend(
                    v.split([',', '=', ' '])
                        .filter(|p| p.len() >= 16)
                        .map(str::to_owned),
                );
            }
        }
        if let Some((_, sig)) = d.path.split_once("signature=") {
            out.push(sig.split('&').next().unwrap_or_default().to_owned());
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Sam => "sam",
            Vendor::SaleAssist => "saleassist",
            Vendor::SaleSmartly => "salesmartly",
            Vendor::Buzzi => "buzzi",
            Vendor::ConversaLabs => "conversalabs",
            Vendor::Standard => "standard",
        }
    }

    /// Whether the scheme signs a timestamp.
    pub fn timestamped(self) -> bool {
        matches!(
            self,
            Vendor::SaleSmartly | Vendor::ConversaLabs | Vendor::Standard
        )
    }

    /// A valid payload from the vendor's fixtures.
    pub fn fixture(self) -> Vec<u8> {
        let file = match self {
            Vendor::Sam => "sam/lead_captured.json",
            Vendor::SaleAssist => "saleassist/widget_new_conversation.json",
            Vendor::SaleSmartly => "salesmartly/message_text.json",
            Vendor::Buzzi => "buzzi/message_received.json",
            Vendor::ConversaLabs => "conversalabs/message_created.json",
            Vendor::Standard => "standard/lead_captured.json",
        };
        fixture(file)
    }

    /// A body that verifies but does not parse as this vendor's payload (syntax error, except
    /// for SaleSmartly whose signature covers the parsed `event`/`data`, so the body must be
    /// well-formed JSON to verify at all: there it is a type error).
    pub fn malformed(self) -> Vec<u8> {
        match self {
            Vendor::SaleSmartly => br#"{"event":"message","data":[1,2,3]}"#.to_vec(),
            _ => br#"{"event":"lead.captured","type":"x","data":{"id":"a" "b"}}"#.to_vec(),
        }
    }

    /// `body` signed for this vendor at `at`; `good = false` signs with the wrong secret.
    pub fn sign(self, body: &[u8], at: SystemTime, good: bool, id: &str) -> Delivery {
        let path = format!("/{}", self.name());
        let mut headers: Vec<(String, String)> = Vec::new();
        let push_map = |map: http::HeaderMap, headers: &mut Vec<(String, String)>| {
            for (k, v) in map.iter() {
                headers.push((k.to_string(), v.to_str().unwrap().to_owned()));
            }
        };
        let secret = |s: &str| Secret::raw(if good { s } else { WRONG_SECRET }).unwrap();
        let path = match self {
            Vendor::Sam => {
                push_map(
                    HmacSha256::sam(secret(SAM_SECRET)).sign(at, body),
                    &mut headers,
                );
                path
            }
            Vendor::Buzzi => {
                push_map(
                    HmacSha256::buzzi(secret(BUZZI_SECRET)).sign(at, body),
                    &mut headers,
                );
                path
            }
            Vendor::ConversaLabs => {
                push_map(
                    HmacSha256::conversalabs(secret(CONVERSALABS_SECRET)).sign(at, body),
                    &mut headers,
                );
                headers.push(("X-Chatwoot-Delivery".into(), id.into()));
                path
            }
            Vendor::SaleAssist => {
                let token = if good { SALEASSIST_TOKEN } else { WRONG_SECRET };
                headers.push((SALEASSIST_HEADER.into(), token.into()));
                path
            }
            Vendor::SaleSmartly => {
                let key = if good {
                    SALESMARTLY_SECRET
                } else {
                    WRONG_SECRET
                };
                let query = SaleSmartly::new(key).unwrap().sign(body, at).unwrap();
                format!("{path}?{query}")
            }
            Vendor::Standard => {
                let key = if good {
                    STANDARD_SECRET
                } else {
                    WRONG_STANDARD
                };
                let v = StandardWebhooks::new(key).unwrap();
                headers.push(("webhook-id".into(), id.into()));
                headers.push((
                    "webhook-timestamp".into(),
                    at.duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        .to_string(),
                ));
                headers.push(("webhook-signature".into(), v.sign(id, at, body)));
                path
            }
        };
        headers.push(("content-type".into(), "application/json".into()));
        Delivery {
            path,
            headers,
            body: body.to_vec(),
        }
    }

    /// A valid, correctly signed delivery of the fixture, now.
    pub fn valid(self, id: &str) -> Delivery {
        self.sign(&self.fixture(), SystemTime::now(), true, id)
    }
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The verifiers both test servers use.
pub fn sam() -> impl Verifier {
    HmacSha256::sam(Secret::raw(SAM_SECRET).unwrap())
}
pub fn saleassist() -> impl Verifier {
    Token::new(SALEASSIST_HEADER, SALEASSIST_TOKEN).unwrap()
}
pub fn salesmartly() -> impl Verifier {
    SaleSmartly::new(SALESMARTLY_SECRET).unwrap()
}
pub fn buzzi() -> impl Verifier {
    HmacSha256::buzzi(Secret::raw(BUZZI_SECRET).unwrap())
}
pub fn conversalabs() -> impl Verifier {
    HmacSha256::conversalabs(Secret::raw(CONVERSALABS_SECRET).unwrap())
}
pub fn standard() -> impl Verifier {
    StandardWebhooks::new(STANDARD_SECRET).unwrap()
}

pub fn receiver<T: Payload>(verifier: impl Verifier + 'static, repair: bool) -> Receiver<T> {
    Receiver::<T>::builder(verifier)
        .body_limit(LIMIT)
        .repair(repair)
        .build()
}

/// Every receiver a test server mounts, one per route.
pub struct Receivers {
    pub sam: Receiver<SamEvent>,
    pub saleassist: Receiver<SaleAssistEvent>,
    pub saleassist_repair: Receiver<SaleAssistEvent>,
    pub salesmartly: Receiver<SaleSmartlyEvent>,
    pub buzzi: Receiver<BuzziEvent>,
    pub conversalabs: Receiver<ConversaLabsEvent>,
    pub standard: Receiver<StandardEvent>,
}

impl Receivers {
    pub fn new() -> Self {
        Receivers {
            sam: receiver(sam(), false),
            saleassist: receiver(saleassist(), false),
            saleassist_repair: receiver(saleassist(), true),
            salesmartly: receiver(salesmartly(), false),
            buzzi: receiver(buzzi(), false),
            conversalabs: receiver(conversalabs(), false),
            standard: receiver(standard(), false),
        }
    }
}

/// How many times each route's handler ran.
#[derive(Clone, Default)]
pub struct Hits(Arc<HashMap<&'static str, Arc<AtomicUsize>>>);

pub const ROUTES: [&str; 8] = [
    "sam",
    "saleassist",
    "saleassist-repair",
    "salesmartly",
    "buzzi",
    "conversalabs",
    "standard",
    "small-framework-limit",
];

impl Hits {
    pub fn new() -> Self {
        Hits(Arc::new(
            ROUTES
                .iter()
                .map(|r| (*r, Arc::new(AtomicUsize::new(0))))
                .collect(),
        ))
    }
    pub fn counter(&self, route: &str) -> Arc<AtomicUsize> {
        Arc::clone(&self.0[route])
    }
    pub fn get(&self, route: &str) -> usize {
        self.0[route].load(Ordering::SeqCst)
    }
}

/// A gate a test handler can wait at (`x-test-gate: NAME`): the handler counts itself in and
/// waits until the test opens it, so "the handler is still running" is a fact the test
/// controls, not a sleep that a slow machine may outlast.
pub struct Gate {
    pub entered: AtomicUsize,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    /// The gate named `name` (created closed on first use).
    pub fn named(name: &str) -> Arc<Gate> {
        static GATES: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Arc<Gate>>>> =
            std::sync::LazyLock::new(Default::default);
        let mut gates = GATES.lock().unwrap();
        Arc::clone(gates.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(Gate {
                entered: AtomicUsize::new(0),
                open: tokio::sync::watch::channel(false).0,
            })
        }))
    }

    /// Count in, then wait until the gate is open (any runtime: actix has its own).
    pub async fn pass(&self) {
        let mut open = self.open.subscribe();
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _ = open.wait_for(|o| *o).await;
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Wait (bounded) until `n` handlers are inside.
    pub async fn until_entered(&self, n: usize) {
        let start = std::time::Instant::now();
        while self.entered.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no handler reached the gate"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Wait at the gate the request names in `x-test-gate`, if any.
pub async fn gate(value: Option<&[u8]>) {
    if let Some(name) = value {
        Gate::named(std::str::from_utf8(name).unwrap()).pass().await;
    }
}

/// What the test handler does, driven by unsigned request headers (they are not part of the
/// delivery, so a "redelivery" can drop them).
pub fn handler_outcome(hits: &AtomicUsize, fail: bool, panic: bool) -> u16 {
    hits.fetch_add(1, Ordering::SeqCst);
    if panic {
        panic!("test handler panics on purpose");
    }
    if fail {
        500
    } else {
        200
    }
}

/// A running test server.
pub struct Server {
    pub addr: SocketAddr,
    pub hits: Hits,
    pub client: reqwest::Client,
    _stop: Box<dyn Send + Sync>,
}

impl Server {
    pub fn new(addr: SocketAddr, hits: Hits, stop: Box<dyn Send + Sync>) -> Self {
        Server {
            addr,
            hits,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Send `d`; returns (status, body text, Retry-After).
    pub async fn send(&self, d: &Delivery) -> (u16, String, Option<String>) {
        let mut req = self.client.post(self.url(&d.path)).body(d.body.clone());
        for (k, v) in &d.headers {
            req = req.header(k, v);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, res.text().await.unwrap_or_default(), retry)
    }

    /// Send `d` and return only the status, or `None` when the connection broke.
    pub async fn try_send(&self, d: &Delivery) -> Option<u16> {
        let mut req = self.client.post(self.url(&d.path)).body(d.body.clone());
        for (k, v) in &d.headers {
            req = req.header(k, v);
        }
        req.send().await.ok().map(|r| r.status().as_u16())
    }
}

/// Send the head of a request declaring (or streaming) a body far larger than the limit, then
/// read the answer. Returns the status line and how many body bytes were written before the
/// answer arrived: proof the server did not wait for the whole body.
pub fn oversized_raw(addr: SocketAddr, d: &Delivery, chunked: bool) -> (String, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("POST {} HTTP/1.1\r\nhost: {addr}\r\n", d.path);
    for (k, v) in &d.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let declared = 100 * 1024 * 1024;
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("content-length: {declared}\r\n\r\n"));
    }
    s.write_all(head.as_bytes()).unwrap();
    let mut sent = 0;
    if chunked {
        // Just over the limit in 4 KiB chunks, never the terminating chunk. The server may
        // answer 413 and close while we write: a write error then ends the body, and the
        // answer is read below. Stopping soon after the limit keeps the server from closing
        // with unread bytes (which would reset the connection and lose the answer).
        let chunk = vec![b' '; 4096];
        while sent < LIMIT + 2 * chunk.len() {
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if s.write_all(&frame).is_err() {
                break;
            }
            sent += chunk.len();
        }
    } else {
        s.write_all(&d.body).unwrap();
        sent = d.body.len();
    }
    let _ = s.flush();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    assert!(sent < declared);
    (line, sent)
}
