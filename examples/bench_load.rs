//! Load generator of `benches/http_load.sh`: signed webhook deliveries over keep-alive HTTP/1.1,
//! each request with its own delivery id, every answer counted. Not a usage example.
//!
//! ```text
//! bench_load --url http://127.0.0.1:3999/fresh --template body.json \
//!     --sign hmac-hex:X-Sam-Signature:SECRET --id-prefix r1- --conns 32 --duration 5s
//! bench_load --url http://127.0.0.1:3999/stats --get
//! ```
//!
//! Why not wrk alone: a fresh delivery must carry an id the signature covers (or be a distinct
//! signed body), so each request needs its own HMAC, which wrk's Lua cannot compute at speed;
//! and wrk abandons the requests in flight when its time is up, so the server may have handled
//! more deliveries than wrk counted. Here every connection finishes its last request before
//! the run ends, so the `ok` count is exactly the number of 2xx answers the server sent.
//!
//! Each request: the template with every `{{ID}}` replaced by the delivery id (`<prefix><n>`,
//! n counting from 0 over all connections, or `--fixed ID` for every request), signed by
//! `--sign`:
//!
//! - `hmac-hex:<header>:<secret>`: `<header>: <hex HMAC-SHA256 of the body>` (Sam, Buzzi…);
//! - `standard:<whsec_…>`: Standard Webhooks `webhook-id` (the delivery id),
//!   `webhook-timestamp` and `webhook-signature`, so the id is signed even when the body is the
//!   same every time;
//! - `none`.
//!
//! Every route of one benchmark should get the same `--sign` and template, so that the client
//! does the same work whichever route it loads and the ratios compare server work only.
//!
//! Prints one line: `requests=N ok=N non2xx=N duplicates=N elapsed=SECS rps=R
//! client_cpu_us=C p50_us=L p99_us=L`, where `duplicates` counts 2xx answers whose body starts with `duplicate
//! delivery` (the extractor's answer to a retry of a completed delivery) and `client_cpu_us` is
//! this generator's own CPU time per request (its share of a shared machine), and `p50_us` /
//! `p99_us` are answer latencies (request written to answer read, in µs, within 1.6 %: a
//! log-linear histogram of fixed size per connection). The first non-2xx answer is shown on
//! stderr.
//! `--get` sends one GET and prints the answer's body instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chathooks::verify::StandardWebhooks;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str = "usage: bench_load --url http://HOST:PORT/PATH [--get] [--template FILE] \
[--sign none|hmac-hex:HEADER:SECRET|standard:WHSEC] [--id-prefix P] [--fixed ID] \
[--conns N] (--duration 5s | --requests N) [--header 'Name: value']...";

/// Bound on one response's head and body: the bench server's answers are tiny.
const MAX_RESPONSE: usize = 64 * 1024;

enum Sign {
    None,
    HmacHex { header: String, key: Vec<u8> },
    Standard(Box<StandardWebhooks>),
}

struct Config {
    host: String,
    path: String,
    template: Vec<Vec<u8>>,
    sign: Sign,
    id_prefix: String,
    fixed: Option<String>,
    headers: Vec<String>,
    requests: Option<u64>,
    deadline: Option<Instant>,
    next: AtomicU64,
}

#[derive(Default)]
struct Counts {
    requests: u64,
    ok: u64,
    non2xx: u64,
    duplicates: u64,
    latency: Histogram,
}

/// Latencies in µs, 64 buckets per power of two (relative error under 1.6 %), from 0 to
/// 2^40 µs: fixed size whatever the run's length.
struct Histogram(Vec<u64>);

const SUB: u64 = 64;

impl Default for Histogram {
    fn default() -> Self {
        Histogram(vec![0; (SUB * 36) as usize])
    }
}

impl Histogram {
    fn index(us: u64) -> usize {
        if us < SUB {
            return us as usize;
        }
        // The top 7 significant bits: `us >> shift` lies in 64..128.
        let log2 = 63 - u64::from(us.leading_zeros());
        let shift = (log2 - 6).min(34);
        let mantissa = (us >> shift).min(2 * SUB - 1);
        (SUB * (shift + 1) + (mantissa - SUB)) as usize
    }

    fn value(index: usize) -> u64 {
        let i = index as u64;
        if i < SUB {
            return i;
        }
        let shift = i / SUB - 1;
        (SUB + i % SUB) << shift
    }

    fn record(&mut self, us: u64) {
        let i = Self::index(us).min(self.0.len() - 1);
        self.0[i] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::value(i);
            }
        }
        Self::value(self.0.len() - 1)
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_load: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let mut url = None;
    let mut get = false;
    let mut template = None;
    let mut sign = Sign::None;
    let mut id_prefix = String::from("id-");
    let mut fixed = None;
    let mut conns = 32usize;
    let mut duration = None;
    let mut requests = None;
    let mut headers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--get" => get = true,
            "--template" => template = Some(std::fs::read(value()?)?),
            "--sign" => sign = parse_sign(&value()?)?,
            "--id-prefix" => id_prefix = value()?,
            "--fixed" => fixed = Some(value()?),
            "--conns" => conns = value()?.parse()?,
            "--duration" => duration = Some(parse_duration(&value()?)?),
            "--requests" => requests = Some(value()?.parse()?),
            "--header" => headers.push(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    let url = url.ok_or(USAGE)?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if get {
        let body = rt.block_on(get_once(&host, &path))?;
        print!("{body}");
        return Ok(());
    }
    if duration.is_none() && requests.is_none() {
        return Err(format!("give --duration or --requests\n{USAGE}").into());
    }
    let template = template.ok_or("--template is required")?;
    let config = Arc::new(Config {
        host,
        path,
        template: split_template(&template),
        sign,
        id_prefix,
        fixed,
        headers,
        requests,
        deadline: duration.map(|d| Instant::now() + d),
        next: AtomicU64::new(0),
    });
    let totals = Arc::new(Mutex::new(Counts::default()));
    let started = Instant::now();
    let cpu_start = thread_cpu_ns();
    rt.block_on(async {
        let tasks: Vec<_> = (0..conns.max(1))
            .map(|_| {
                let (config, totals) = (config.clone(), totals.clone());
                tokio::spawn(async move {
                    let counts = connection(&config).await?;
                    let mut t = totals.lock().unwrap_or_else(|p| p.into_inner());
                    t.requests += counts.requests;
                    t.ok += counts.ok;
                    t.non2xx += counts.non2xx;
                    t.duplicates += counts.duplicates;
                    t.latency.merge(&counts.latency);
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        Ok::<(), Error>(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_ns = thread_cpu_ns().saturating_sub(cpu_start);
    let t = totals.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "requests={} ok={} non2xx={} duplicates={} elapsed={elapsed:.3} rps={:.0} \
         client_cpu_us={:.3} p50_us={} p99_us={}",
        t.requests,
        t.ok,
        t.non2xx,
        t.duplicates,
        t.requests as f64 / elapsed,
        cpu_ns as f64 / 1e3 / t.requests.max(1) as f64,
        t.latency.quantile(0.50),
        t.latency.quantile(0.99),
    );
    Ok(())
}

/// CPU time of this (the only working) thread so far, in ns; 0 where Linux' schedstat is missing.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn parse_sign(spec: &str) -> Result<Sign, Error> {
    if spec == "none" {
        return Ok(Sign::None);
    }
    if let Some(rest) = spec.strip_prefix("hmac-hex:") {
        let (header, secret) = rest
            .split_once(':')
            .ok_or("hmac-hex:HEADER:SECRET expected")?;
        return Ok(Sign::HmacHex {
            header: header.to_owned(),
            key: secret.as_bytes().to_vec(),
        });
    }
    if let Some(secret) = spec.strip_prefix("standard:") {
        return Ok(Sign::Standard(Box::new(StandardWebhooks::new(secret)?)));
    }
    Err(format!("unknown --sign {spec:?}").into())
}

fn parse_duration(text: &str) -> Result<Duration, Error> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    Ok(Duration::from_secs_f64(number.parse::<f64>()? * scale))
}

/// The template's pieces around each `{{ID}}`.
fn split_template(template: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.windows(6).position(|w| w == b"{{ID}}") {
        parts.push(rest[..i].to_vec());
        rest = &rest[i + 6..];
    }
    parts.push(rest.to_vec());
    parts
}

/// One keep-alive connection: requests until the budget or the deadline is spent, each answer
/// read in full before the next request (the last one included).
async fn connection(config: &Config) -> Result<Counts, Error> {
    let mut counts = Counts::default();
    let mut stream = connect(&config.host).await?;
    let (mut id, mut body, mut request) = (String::new(), Vec::new(), Vec::new());
    let mut response = Vec::with_capacity(4096);
    loop {
        if config.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let n = config.next.fetch_add(1, Ordering::Relaxed);
        if config.requests.is_some_and(|max| n >= max) {
            break;
        }
        id.clear();
        match &config.fixed {
            Some(fixed) => id.push_str(fixed),
            None => {
                id.push_str(&config.id_prefix);
                id.push_str(&n.to_string());
            }
        }
        body.clear();
        for (i, part) in config.template.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(id.as_bytes());
            }
            body.extend_from_slice(part);
        }
        build_request(config, &id, &body, &mut request);
        let sent = Instant::now();
        if stream.write_all(&request).await.is_err() {
            // The server closed an idle keep-alive connection: once more on a new one.
            stream = connect(&config.host).await?;
            stream.write_all(&request).await?;
        }
        let (status, duplicate, close) = read_response(&mut stream, &mut response).await?;
        counts.requests += 1;
        counts
            .latency
            .record(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
        if (200..300).contains(&status) {
            counts.ok += 1;
            counts.duplicates += u64::from(duplicate);
        } else {
            if counts.non2xx == 0 {
                eprintln!(
                    "bench_load: {} answered {status}: {}",
                    config.path,
                    String::from_utf8_lossy(&response).trim_end()
                );
            }
            counts.non2xx += 1;
        }
        if close {
            stream = connect(&config.host).await?;
        }
    }
    Ok(counts)
}

async fn connect(host: &str) -> Result<TcpStream, Error> {
    let stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn build_request(config: &Config, id: &str, body: &[u8], out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    let mut head = String::with_capacity(512);
    let _ = write!(
        head,
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        config.path,
        config.host,
        body.len()
    );
    for h in &config.headers {
        let _ = write!(head, "{h}\r\n");
    }
    match &config.sign {
        Sign::None => {}
        Sign::HmacHex { header, key } => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
            mac.update(body);
            let _ = write!(
                head,
                "{header}: {}\r\n",
                hex::encode(mac.finalize().into_bytes())
            );
        }
        Sign::Standard(verifier) => {
            let now = SystemTime::now();
            let secs = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let _ = write!(
                head,
                "webhook-id: {id}\r\nwebhook-timestamp: {secs}\r\nwebhook-signature: {}\r\n",
                verifier.sign(id, now, body)
            );
        }
    }
    head.push_str("\r\n");
    out.clear();
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// Read one response: `(status, body starts with "duplicate delivery", connection: close)`.
/// `buf` holds the body afterwards.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<(u16, bool, bool), Error> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_RESPONSE {
            return Err("response head too long".into());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed before a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_ascii_lowercase();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    let mut length = 0usize;
    let mut close = false;
    for line in head.split("\r\n").skip(1) {
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse()?;
        } else if line.starts_with("transfer-encoding:") {
            return Err("chunked responses are not supported".into());
        } else if line.starts_with("connection:") && line.contains("close") {
            close = true;
        }
    }
    if length > MAX_RESPONSE {
        return Err("response body too long".into());
    }
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed inside a response body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end);
    buf.truncate(length);
    Ok((status, buf.starts_with(b"duplicate delivery"), close))
}

async fn get_once(host: &str, path: &str) -> Result<String, Error> {
    let mut stream = connect(host).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    let (status, _, _) = read_response(&mut stream, &mut buf).await?;
    if status != 200 {
        return Err(format!("GET {path} answered {status}").into());
    }
    Ok(String::from_utf8(buf)?)
}
