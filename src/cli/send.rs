//! `chathooks send`: realistic, correctly signed sample deliveries (like `stripe trigger`).

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::json;

use super::capture::Capture;
use super::{vendors, Failure, Out, Outcome};
use crate::event::Vendor;
use crate::sender::{
    samples, Delivery, Endpoint, Message, Outcome as SendOutcome, RetryPolicy, Sender, Sign,
    Signing, USER_AGENT_VALUE,
};

/// Most deliveries per run.
const MAX_TOTAL: u64 = 100_000;

/// `chathooks send` arguments.
#[derive(Args)]
pub struct SendArgs {
    /// sam, saleassist, salesmartly, buzzi, conversalabs or standard.
    #[arg(long, value_name = "V", required_unless_present = "list")]
    vendor: Option<String>,
    /// The vendor's event name (`--list` shows them); default: every event of the vendor.
    #[arg(long, value_name = "NAME")]
    event: Option<String>,
    /// Where to POST (default for `--print`: `http://127.0.0.1:3000/webhooks/<vendor>`).
    #[arg(long, value_name = "URL", required_unless_present_any = ["print", "list"])]
    url: Option<String>,
    /// Signing secret (repeat to sign with several, as during rotation). Default: the receiver
    /// example's public demo secret for the vendor.
    #[arg(
        long = "secret",
        value_name = "S",
        env = "CHATHOOKS_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<String>,
    #[command(flatten)]
    secret_files: super::SecretFiles,
    /// Which sample (the same seed gives the same body).
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u64,
    /// Deliveries per event, seeds N, N+1, … (at most 10000).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    count: u64,
    /// Send every delivery this many times with the same id and body (the receiver should
    /// answer the repeats as duplicates).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    repeat: u64,
    /// Extra header (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Per-attempt timeout in seconds.
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    timeout: u64,
    /// Retry on the full Standard Webhooks schedule (default: one attempt).
    #[arg(long)]
    retries: bool,
    /// Refuse loopback/private addresses and plain http (the library's default).
    #[arg(long)]
    public_only: bool,
    /// Print the full signed requests (as curl commands and as captures) instead of sending.
    #[arg(long)]
    print: bool,
    /// List the vendors and their events.
    #[arg(long)]
    list: bool,
}

super::opaque_debug!(SendArgs);

/// The `receiver` example's documented demo secrets, so the two work together as-is.
pub fn demo_secret(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Sam => "sam-demo-secret-0123456789",
        Vendor::SaleAssist => "saleassist-demo-token-0123456789",
        Vendor::SaleSmartly => "salesmartly-demo-key-0123456789",
        Vendor::Buzzi => "buzzi-demo-secret-0123456789",
        Vendor::ConversaLabs => "conversalabs-demo-secret-0123456789",
        _ => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    }
}

fn parse_header(h: &str) -> Result<(String, String), String> {
    let (k, v) = h
        .split_once(':')
        .ok_or_else(|| format!("--header takes NAME:VALUE, got `{h}`"))?;
    Ok((k.trim().to_owned(), v.trim().to_owned()))
}

/// A signed request as it would go on the wire.
pub fn signed_request(
    url: &str,
    signing: &Signing,
    extra: &[(String, String)],
    message: &Message,
    at: SystemTime,
) -> Result<(String, Capture), String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| format!("--url: {e}"))?;
    let sig = signing
        .sign(message.id(), at, message.body())
        .map_err(|e| e.to_string())?;
    if !sig.query.is_empty() {
        url.query_pairs_mut().extend_pairs(sig.query.iter());
    }
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), USER_AGENT_VALUE.to_owned()),
    ];
    headers.extend(extra.iter().cloned());
    for (k, v) in &sig.headers {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k.as_str()));
        headers.push((k.to_string(), v.to_str().unwrap_or_default().to_owned()));
    }
    let mut capture = Capture::new(headers, message.body().to_vec());
    capture.path = url.path().to_owned();
    capture.query = url.query().map(str::to_owned);
    Ok((url.to_string(), capture))
}

/// `curl` for a request.
pub fn curl(url: &str, c: &Capture) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut cmd = format!("curl -i -X {} {}", c.method, q(url));
    for (k, v) in &c.headers {
        cmd.push_str(&format!(" \\\n  -H {}", q(&format!("{k}: {v}"))));
    }
    cmd.push_str(&format!(
        " \\\n  --data-binary {}",
        q(&String::from_utf8_lossy(&c.body))
    ));
    cmd
}

/// How one delivery ended, as the summary counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx, new.
    Delivered,
    /// The receiver said it had it already (200 "duplicate…" or 409 in flight).
    Duplicate,
    /// The receiver refused it (4xx).
    Rejected,
    /// No answer, 5xx, refused by the SSRF guard, or not signable.
    Failed,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Duplicate => "duplicate",
            Verdict::Rejected => "rejected",
            Verdict::Failed => "failed",
        }
    }
}

/// Classify a delivery, with the receiver's reason.
pub fn classify(d: &Delivery) -> (Verdict, Option<u16>, String) {
    let last = d.attempts.last();
    let excerpt = last
        .map(|a| {
            a.response_excerpt
                .trim()
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let status = last.and_then(|a| a.status);
    let reason = |fallback: String| {
        if excerpt.is_empty() {
            fallback
        } else {
            excerpt.clone()
        }
    };
    match &d.outcome {
        SendOutcome::Delivered { status } => {
            if excerpt.to_ascii_lowercase().contains("duplicate") {
                (Verdict::Duplicate, Some(*status), excerpt.clone())
            } else {
                (Verdict::Delivered, Some(*status), excerpt.clone())
            }
        }
        _ if status == Some(409) => (
            Verdict::Duplicate,
            status,
            reason("already being processed (409)".into()),
        ),
        SendOutcome::Rejected { status } => (
            Verdict::Rejected,
            Some(*status),
            reason(format!("HTTP {status}")),
        ),
        SendOutcome::Gone => (Verdict::Rejected, Some(410), reason("410 Gone".into())),
        SendOutcome::Refused { reason: r } => (Verdict::Failed, None, r.clone()),
        SendOutcome::SigningFailed { reason: r } => (Verdict::Failed, None, r.clone()),
        _ => {
            let why = last
                .and_then(|a| a.error.as_ref().map(|e| e.to_string()))
                .unwrap_or_else(|| "no attempt made".into());
            (Verdict::Failed, status, reason(why))
        }
    }
}

/// Run `send`.
pub fn run(mut a: SendArgs, out: Out) -> Outcome {
    a.secret_files.fill(&mut a.secrets)?;
    if a.list {
        if out.json {
            let v: serde_json::Map<String, serde_json::Value> = samples::VENDORS
                .iter()
                .map(|v| (vendors::cli_name(*v).to_owned(), json!(samples::events(*v))))
                .collect();
            out.print_json(&json!({ "vendors": v }));
        } else {
            for v in samples::VENDORS {
                outln!(
                    "{}: {}",
                    vendors::cli_name(v),
                    samples::events(v).join(", ")
                );
            }
        }
        return Ok(());
    }
    let name = a.vendor.as_deref().unwrap_or_default();
    let canonical = vendors::canonical(name)?;
    if vendors::SIGN_ONLY_VENDORS.contains(&canonical) {
        // Their signer exists (`replay --resign` uses it); what is missing is something to send.
        return Err(Failure::Input(format!(
            "`{canonical}` has no sample events to send (samples: {}); to re-sign a captured {canonical} delivery, use `replay --resign --vendor {canonical}`",
            vendors::PARSE_VENDORS.join(", ")
        )));
    }
    let vendor = vendors::platform(name)?;
    let events: Vec<String> = match &a.event {
        Some(e) => vec![e.clone()],
        None => samples::events(vendor)
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let total = (events.len() as u64).saturating_mul(a.count);
    if total.saturating_mul(a.repeat) > MAX_TOTAL {
        return Err(Failure::Input(format!("more than {MAX_TOTAL} deliveries")));
    }
    let mut messages: Vec<(String, Message)> = Vec::new();
    for event in &events {
        for seed in a.seed..a.seed.saturating_add(a.count) {
            let s = samples::generate(vendor, event, seed).map_err(|e| {
                format!(
                    "{e} (events of {}: {})",
                    vendors::cli_name(vendor),
                    samples::events(vendor).join(", ")
                )
            })?;
            messages.push((s.event.to_owned(), Message::new(s.body)));
        }
    }
    let mut secrets: Vec<&str> = a.secrets.iter().map(String::as_str).collect();
    if secrets.is_empty() {
        if !out.json {
            eprintln!("no --secret: using the receiver example's public demo secret");
        }
        secrets.push(demo_secret(vendor));
    }
    let signing = Signing::for_vendor(vendor, &secrets).map_err(|e| format!("--secret: {e}"))?;
    let extra: Vec<(String, String)> = a
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<_, _>>()?;

    if a.print {
        let url = a.url.clone().unwrap_or_else(|| {
            format!(
                "http://127.0.0.1:3000/webhooks/{}",
                vendors::cli_name(vendor)
            )
        });
        let now = SystemTime::now();
        let mut requests = Vec::new();
        for (event, m) in &messages {
            let (full_url, capture) = signed_request(&url, &signing, &extra, m, now)?;
            if out.json {
                requests.push(json!({
                    "event": event,
                    "message_id": m.id(),
                    "url": full_url,
                    "curl": curl(&full_url, &capture),
                    "capture": capture.to_json(),
                }));
            } else {
                outln!("# {} {event} ({})", vendors::cli_name(vendor), m.id());
                outln!("{}\n", curl(&full_url, &capture));
                outln!("# as a capture (save it and run `chathooks doctor` or `replay` on it):");
                outln!("{}\n", serde_json::to_string_pretty(&capture.to_json())?);
            }
        }
        if out.json {
            out.print_json(&json!({ "requests": requests }));
        }
        return Ok(());
    }

    let url = a.url.clone().unwrap_or_default();
    super::check_http_url("--url", &url)?;
    let mut endpoint = Endpoint::new(&url, signing).map_err(|e| format!("--url: {e}"))?;
    for (k, v) in &extra {
        endpoint = endpoint
            .header(k, v)
            .map_err(|e| format!("--header: {e}"))?;
    }
    let retry = if a.retries {
        RetryPolicy::default()
    } else {
        RetryPolicy::no_retries()
    };
    let done = Arc::new(AtomicUsize::new(0));
    let grand_total = messages.len() * a.repeat as usize;
    let show_progress = grand_total > 1 && !out.json && super::stderr_is_terminal();
    let counter = done.clone();
    let log_attempts = !out.json && !show_progress;
    let sender = Sender::builder()
        .timeout(Duration::from_secs(a.timeout))
        .retry_policy(retry)
        .allow_http(!a.public_only)
        .allow_private_addresses(!a.public_only)
        .on_attempt(move |r| {
            let at = r.attempt;
            if at.next_retry_in.is_none() {
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                if show_progress {
                    progress(n, grand_total);
                }
            }
            if log_attempts && at.next_retry_in.is_some() {
                let why = at.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
                eprintln!(
                    "{} attempt {} -> {why}, retrying in {:?}",
                    r.message_id,
                    at.number,
                    at.next_retry_in.unwrap_or_default()
                );
            }
        })
        .build()
        .map_err(|e| e.to_string())?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut results: Vec<(String, Delivery)> = Vec::new();
    runtime.block_on(async {
        // Repeats go round by round, so a repeat arrives after the first copy was answered.
        for _ in 0..a.repeat {
            let jobs: Vec<(Endpoint, Message)> = messages
                .iter()
                .map(|(_, m)| (endpoint.clone(), m.clone()))
                .collect();
            let got = sender.deliver_all(jobs, 16).await;
            for ((event, _), d) in messages.iter().zip(got) {
                results.push((event.clone(), d));
            }
        }
    });
    if show_progress {
        eprintln!();
    }
    let mut counts = [0usize; 4];
    let mut rows = Vec::new();
    for (event, d) in &results {
        let (verdict, status, reason) = classify(d);
        counts[verdict as usize] += 1;
        rows.push((event, d, verdict, status, reason));
    }
    let [delivered, duplicate, rejected, failed] = counts;
    if out.json {
        out.print_json(&json!({
            "url": endpoint.url_for_logs(),
            "total": results.len(),
            "delivered": delivered,
            "duplicate": duplicate,
            "rejected": rejected,
            "failed": failed,
            "results": rows.iter().map(|(event, d, verdict, status, reason)| json!({
                "event": event,
                "message_id": d.message_id,
                "outcome": verdict.as_str(),
                "status": status,
                "reason": reason,
                "attempts": d.attempts.len(),
            })).collect::<Vec<_>>(),
        }));
    } else {
        for (event, d, verdict, status, reason) in &rows {
            if matches!(verdict, Verdict::Rejected | Verdict::Failed) {
                outln!(
                    "  {} {} ({event}): {}{}",
                    out.bad(verdict.as_str()),
                    d.message_id,
                    status.map(|s| format!("HTTP {s} — ")).unwrap_or_default(),
                    reason
                );
            }
        }
        let line = format!(
            "{delivered} delivered, {duplicate} duplicate, {rejected} rejected, {failed} failed (of {}) to {}",
            results.len(),
            endpoint.url_for_logs()
        );
        outln!(
            "{}",
            if rejected + failed == 0 {
                out.good(&line)
            } else {
                out.bad(&line)
            }
        );
    }
    if rejected + failed == 0 {
        Ok(())
    } else {
        Err(Failure::Check)
    }
}

fn progress(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = done * WIDTH / total.max(1);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r  sending [{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    let _ = err.flush();
}
