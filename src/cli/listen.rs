//! `chathooks listen` (a local capture server) and `chathooks replay` (send captures again).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clap::Args;
use serde_json::json;

use super::capture::{self, Capture};
use super::{now_secs, vendors, Failure, Out, Outcome};
use crate::sender::{Message, Sign, Signing};
use crate::verify::Verifier;
use crate::Inbound;

/// Largest body `listen` accepts.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Dedupe ids `listen` remembers (oldest forgotten first).
const MAX_SEEN: usize = 10_000;
/// Body of the answer to a duplicate (what the crate's receivers say).
const DUPLICATE_BODY: &str = "duplicate delivery, already processed\n";

/// `chathooks listen` arguments.
#[derive(Args)]
pub struct ListenArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "HOST:PORT")]
    addr: String,
    /// Verify this vendor's deliveries; pair each --vendor with a --secret, in order.
    #[arg(long = "vendor", value_name = "V")]
    vendors: Vec<String>,
    /// The secret of the --vendor at the same position.
    #[arg(
        long = "secret",
        value_name = "S",
        env = "CHATHOOKS_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<String>,
    #[command(flatten)]
    secret_files: super::SecretFiles,
    /// SaleAssist: the header carrying the token.
    #[arg(long, value_name = "NAME")]
    token_header: Option<String>,
    /// Save every request as a JSON capture in this directory.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Forward every request, byte for byte, to this URL (the path of the URL is used; the
    /// request's query string is appended) and answer with its response.
    #[arg(long, value_name = "URL")]
    forward_to: Option<String>,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
}

super::opaque_debug!(ListenArgs, ReplayArgs);

struct ListenState {
    out: Out,
    verifiers: HashMap<&'static str, Box<dyn Verifier>>,
    only: Option<&'static str>,
    save: Option<PathBuf>,
    forward: Option<(reqwest::Client, String)>,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    count: AtomicU64,
    max: Option<u64>,
    stop: tokio::sync::Notify,
}

fn hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-connection"
    )
}

fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

/// `url` with `query` appended (when the URL has none of its own).
fn with_query(url: &str, query: Option<&str>) -> String {
    match query {
        Some(q) if !url.contains('?') => format!("{url}?{q}"),
        _ => url.to_owned(),
    }
}

/// Send `c` to `url` exactly: method, headers (less hop-by-hop ones), body bytes.
async fn send_capture(
    client: &reqwest::Client,
    url: &str,
    c: &Capture,
) -> Result<(u16, Vec<(String, String)>, Bytes), String> {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client
        .request(method, with_query(url, c.query.as_deref()))
        .body(c.body.clone());
    for (k, v) in &c.headers {
        if !hop_by_hop(k) {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = req.send().await.map_err(|e| {
        // reqwest's message names the URL, credentials and all.
        let e = e.without_url();
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(inner) = src {
            s = format!("{s}: {inner}");
            src = inner.source();
        }
        s
    })?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| !hop_by_hop(k.as_str()))
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, headers, body))
}

/// Run `listen`.
pub fn run_listen(mut a: ListenArgs, out: Out) -> Outcome {
    a.secret_files.fill(&mut a.secrets)?;
    if a.vendors.len() != a.secrets.len() {
        return Err(Failure::Input(format!(
            "pair every --vendor with a --secret ({} vendor(s), {} secret(s))",
            a.vendors.len(),
            a.secrets.len()
        )));
    }
    let mut grouped: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (v, s) in a.vendors.iter().zip(&a.secrets) {
        let v = vendors::canonical(v)?;
        match grouped.iter_mut().find(|(n, _)| *n == v) {
            Some((_, list)) => list.push(s.clone()),
            None => grouped.push((v, vec![s.clone()])),
        }
    }
    let opts = vendors::PresetOptions {
        token_header: a.token_header.clone(),
        tolerance: None,
    };
    let mut verifiers = HashMap::new();
    for (v, secrets) in &grouped {
        verifiers.insert(*v, vendors::verifier(v, secrets, &opts)?);
    }
    if let Some(dir) = &a.save {
        super::private_dir(dir).map_err(|e| format!("--save {}: {e}", dir.display()))?;
    }
    let forward = match &a.forward_to {
        Some(url) => {
            super::check_http_url("--forward-to", url)?;
            Some((client(Duration::from_secs(30))?, url.clone()))
        }
        None => None,
    };
    let state = Arc::new(ListenState {
        out,
        only: (grouped.len() == 1).then(|| grouped[0].0),
        verifiers,
        save: a.save.clone(),
        forward,
        seen: Mutex::new((HashSet::new(), VecDeque::new())),
        count: AtomicU64::new(0),
        max: a.max_requests,
        stop: tokio::sync::Notify::new(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", a.addr))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let configured: Vec<&str> = grouped.iter().map(|(v, _)| *v).collect();
        eprintln!(
            "listening on http://{local} ({}{}{})",
            if configured.is_empty() {
                "no --vendor/--secret: requests are captured, not verified".to_owned()
            } else {
                format!("verifying {}", configured.join(", "))
            },
            a.save
                .as_ref()
                .map(|d| format!("; saving to {}", d.display()))
                .unwrap_or_default(),
            a.forward_to
                .as_ref()
                .map(|u| format!("; forwarding to {}", super::url_for_output(u)))
                .unwrap_or_default(),
        );
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state.clone());
        let stopper = state.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopper.stop.notified().await })
            .await
            .map_err(|e| e.to_string())
    })?;
    Ok(())
}

async fn handle(
    State(st): State<Arc<ListenState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let n = st.count.fetch_add(1, Ordering::SeqCst) + 1;
    let started = Instant::now();
    // A body over the limit still gets its line: the sender saw a 413, so should the user.
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let reason = format!(
                "body not read: {} ({})",
                rejection.body_text(),
                status.as_u16()
            );
            let target = match uri.query() {
                Some(q) => format!("{}?{q}", uri.path()),
                None => uri.path().to_owned(),
            };
            if st.out.json {
                st.out.print_json(&json!({
                    "n": n, "method": method.as_str(), "path": uri.path(), "query": uri.query(),
                    "vendor": null, "verified": null, "verdict": reason, "duplicate": false,
                    "event": null, "summary": "", "status": status.as_u16(), "saved": null,
                    "forwarded": null, "bytes": null,
                    "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
                }));
            } else {
                outln!("{n} {method} {target}  ?  {}", st.out.bad(&reason));
            }
            if st.max.is_some_and(|m| n >= m) {
                st.stop.notify_one();
            }
            return rejection.into_response();
        }
    };
    let capture = Capture {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        received_at: Some(now_secs()),
    };
    let guess = vendors::guess(&capture);
    let vendor = match (guess, st.only) {
        (Some(g), _) if st.verifiers.contains_key(g) => Some(g),
        (_, Some(only)) => Some(only),
        (g, None) => g,
    };
    let inbound = Inbound::new(&headers, &body).with_query(uri.query());
    let mut status = StatusCode::OK;
    let mut answer = String::from("captured\n");
    let (verdict, verified_json, dedupe_seed) = match vendor.and_then(|v| st.verifiers.get(v)) {
        None => (
            match vendor {
                Some(v) => format!("not checked (no --secret for {v})"),
                None => "not checked (vendor unknown)".to_owned(),
            },
            json!(null),
            None,
        ),
        Some(verifier) => match verifier.verify_at(&inbound, SystemTime::now()) {
            Ok(v) => (
                st.out.good(&format!("verified ({})", v.scheme())),
                json!(true),
                Some(v),
            ),
            Err(e) => {
                status = e.status();
                answer = format!("{e}\n");
                (
                    st.out
                        .bad(&format!("not verified: {e} ({})", e.status().as_u16())),
                    json!(false),
                    None,
                )
            }
        },
    };
    let parsed = vendor
        .and_then(|v| vendors::platform(v).ok())
        .map(|p| vendors::parse(p, &capture.body));
    let (event, summary, event_id) = match &parsed {
        Some(Ok(p)) => (
            Some(p.name.clone()),
            vendors::summarize(&p.normalized),
            p.event_id.clone(),
        ),
        Some(Err(e)) => (None, format!("unparseable at `{}`", e.path), None),
        None => (None, String::new(), None),
    };
    let mut duplicate = false;
    let key = match (dedupe_seed, vendor) {
        (Some(verified), Some(v)) => crate::platform::dedupe_key(v, &verified, event_id.as_deref())
            .ok()
            .map(|k| k.as_str().to_owned()),
        _ => None,
    };
    if let Some(key) = key {
        let mut seen = st.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0.contains(&key) {
            duplicate = true;
            answer = DUPLICATE_BODY.to_owned();
        } else {
            seen.0.insert(key.clone());
            seen.1.push_back(key);
            if seen.1.len() > MAX_SEEN {
                if let Some(old) = seen.1.pop_front() {
                    seen.0.remove(&old);
                }
            }
        }
    }
    let saved = match &st.save {
        Some(dir) => {
            let name = format!(
                "{}-{n:04}-{}.json",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0),
                vendor.unwrap_or("unknown")
            );
            let path = dir.join(name);
            let text = serde_json::to_string_pretty(&capture.to_json()).unwrap_or_default();
            match super::write_private(&path, (text + "\n").as_bytes()) {
                Ok(()) => Some(path.display().to_string()),
                Err(e) => {
                    eprintln!("cannot save {}: {e}", path.display());
                    None
                }
            }
        }
        None => None,
    };
    let mut forwarded = None;
    let mut response_headers = None;
    let mut response_body = Bytes::from(answer.clone());
    if let Some((client, url)) = &st.forward {
        match send_capture(client, url, &capture).await {
            Ok((s, h, b)) => {
                status = StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY);
                response_headers = Some(h);
                response_body = b;
                forwarded = Some(json!({ "status": s }));
            }
            Err(e) => {
                status = StatusCode::BAD_GATEWAY;
                response_body = Bytes::from(format!("forwarding failed: {e}\n"));
                forwarded = Some(json!({ "error": e }));
            }
        }
    }
    let line_vendor = vendor.unwrap_or("?");
    if st.out.json {
        st.out.print_json(&json!({
            "n": n,
            "method": capture.method,
            "path": capture.path,
            "query": capture.query_for_output(),
            "vendor": vendor,
            "verified": verified_json,
            "verdict": verdict,
            "duplicate": duplicate,
            "event": event,
            "summary": summary,
            "status": status.as_u16(),
            "saved": saved,
            "forwarded": forwarded,
            "bytes": capture.body.len(),
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        }));
    } else {
        let mut line = format!(
            "{} {} {}  {line_vendor}  {verdict}",
            n,
            capture.method,
            capture.target_for_output()
        );
        if duplicate {
            line.push_str(&format!("  {}", st.out.warn("duplicate")));
        }
        if let Some(e) = &event {
            line.push_str(&format!("  {e}"));
        }
        if !summary.is_empty() {
            line.push_str(&format!("  {}", st.out.dim(&summary)));
        }
        if forwarded.is_some() {
            line.push_str(&format!("  → {}", status.as_u16()));
        }
        if let Some(p) = &saved {
            line.push_str(&format!("  saved {p}"));
        }
        outln!("{line}");
    }
    if st.max.is_some_and(|m| n >= m) {
        st.stop.notify_one();
    }
    let mut resp = (status, response_body).into_response();
    if let Some(upstream) = response_headers {
        // The upstream's headers stand in for ours: appending them to the `Content-Type`
        // that `into_response` set gave the client two. Appended among themselves, so a
        // name the upstream sends twice (`Set-Cookie`) stays twice.
        let headers = resp.headers_mut();
        headers.clear();
        for (k, v) in upstream {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_bytes(v.as_bytes()),
            ) {
                headers.append(k, v);
            }
        }
    }
    resp
}

/// `chathooks replay` arguments.
#[derive(Args)]
pub struct ReplayArgs {
    /// Captures to send, in order (`-` reads one from standard input).
    #[arg(value_name = "CAPTURE", required = true)]
    captures: Vec<String>,
    /// Where to send them (the capture's query string is appended when the URL has none).
    #[arg(long, value_name = "URL")]
    to: String,
    /// Sign again with a fresh timestamp (needs --vendor and --secret) instead of byte for byte.
    #[arg(long, requires = "vendor")]
    resign: bool,
    /// The vendor whose scheme re-signs.
    #[arg(long, value_name = "V")]
    vendor: Option<String>,
    /// The secret to re-sign with (repeatable). Default: the receiver example's demo secret
    /// (github, slack and stripe have none).
    #[arg(
        long = "secret",
        value_name = "S",
        env = "CHATHOOKS_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<String>,
    #[command(flatten)]
    secret_files: super::SecretFiles,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    timeout: u64,
}

/// Replace `c`'s signature with a fresh one.
fn resign(c: &mut Capture, signing: &Signing) -> Result<(), String> {
    let id = ["webhook-id", "svix-id", "x-chatwoot-delivery"]
        .iter()
        .find_map(|h| c.header(h))
        .and_then(|id| Message::with_id(id, c.body.clone()).ok())
        .unwrap_or_else(|| Message::new(c.body.clone()));
    let sig = signing
        .sign(id.id(), SystemTime::now(), &c.body)
        .map_err(|e| e.to_string())?;
    // Standard Webhooks' legacy `svix-*` names carry the old signature too: a verifier that
    // reads them would see a stale one beside the new `webhook-*` headers.
    if sig.headers.contains_key("webhook-signature") {
        c.headers.retain(|(n, _)| {
            !["svix-id", "svix-timestamp", "svix-signature"]
                .iter()
                .any(|s| n.eq_ignore_ascii_case(s))
        });
    }
    for (k, v) in &sig.headers {
        c.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(k.as_str()));
        c.headers
            .push((k.to_string(), v.to_str().unwrap_or_default().to_owned()));
    }
    if !sig.query.is_empty() {
        let names: Vec<&str> = sig.query.iter().map(|(k, _)| k.as_str()).collect();
        let mut parts: Vec<String> = c
            .query
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !names.contains(&p.split('=').next().unwrap_or_default()))
            .map(str::to_owned)
            .collect();
        parts.extend(sig.query.iter().map(|(k, v)| format!("{k}={v}")));
        c.query = Some(parts.join("&"));
    }
    Ok(())
}

/// Run `replay`.
pub fn run_replay(mut a: ReplayArgs, out: Out) -> Outcome {
    a.secret_files.fill(&mut a.secrets)?;
    super::check_http_url("--to", &a.to)?;
    let signing = if a.resign {
        Some(vendors::signing(
            a.vendor.as_deref().unwrap_or_default(),
            &a.secrets,
        )?)
    } else {
        None
    };
    let mut captures = Vec::new();
    for path in &a.captures {
        let mut c = capture::load(path)?;
        if let Some(s) = &signing {
            resign(&mut c, s)?;
        }
        captures.push((path.clone(), c));
    }
    let client = client(Duration::from_secs(a.timeout))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    let mut all_ok = true;
    runtime.block_on(async {
        for (path, c) in &captures {
            let started = Instant::now();
            let r = send_capture(&client, &a.to, c).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok((status, _, body)) => {
                    let ok = (200..300).contains(&status);
                    all_ok &= ok;
                    let text = String::from_utf8_lossy(&body);
                    let first = text.trim().lines().next().unwrap_or("").to_owned();
                    if out.json {
                        results.push(json!({
                            "capture": path, "status": status, "ok": ok,
                            "response": first, "elapsed_ms": ms,
                        }));
                    } else {
                        let head = if ok {
                            out.good(&status.to_string())
                        } else {
                            out.bad(&status.to_string())
                        };
                        outln!("{path} → {head} {first} ({ms:.0} ms)");
                    }
                }
                Err(e) => {
                    all_ok = false;
                    if out.json {
                        results.push(json!({
                            "capture": path, "status": null, "ok": false, "error": e,
                        }));
                    } else {
                        outln!("{path} → {} {e}", out.bad("failed"));
                    }
                }
            }
        }
    });
    if out.json {
        out.print_json(&json!({
            "to": super::url_for_output(&a.to),
            "resigned": a.resign,
            "sent": results.len(),
            "ok": all_ok,
            "results": results,
        }));
    }
    if all_ok {
        Ok(())
    } else {
        Err(Failure::Check)
    }
}
