//! Fire a realistic, correctly signed sample delivery at a webhook endpoint (like `stripe trigger`).
//!
//! ```text
//! cargo run --example send --features sender -- --vendor sam --event lead.captured \
//!     --url http://127.0.0.1:3000/webhooks/sam --secret 'a-shared-secret-of-16+-bytes'
//! cargo run --example send --features sender -- --list
//! ```
//!
//! Options:
//! - `--vendor NAME`   sam, saleassist, salesmartly, buzzi, conversalabs, standard
//!   (`standard_webhooks` is accepted too)
//! - `--event NAME`    the vendor's event name (`--list` shows them); default: every event
//! - `--url URL`       where to POST
//! - `--secret TEXT`   signing secret (repeat to sign with several, as during rotation);
//!   default: the `receiver` example's public demo secret for the vendor
//! - `--seed N`        which sample (default 1); the same seed gives the same body
//! - `--count N`       how many deliveries per event, seeds N, N+1, … (default 1, at most 10000)
//! - `--header K:V`    extra header (repeatable)
//! - `--timeout SECS`  per-attempt timeout (default 15)
//! - `--retries`       retry on the full Standard Webhooks schedule (default: one attempt)
//! - `--public-only`   refuse loopback/private addresses and plain http (the library default)
//! - `--print`         print each request (signed headers, query, body) instead of sending
//! - `--list`          the vendors and their events
//! - `-h`, `--help`    this text (exit status 0)
//!
//! Each answer is reported as `delivered`, `duplicate` (the receiver answered 2xx saying it
//! had processed the delivery already) or `rejected` with the status and the receiver's reason.
//! Exit status: 0 when every delivery was accepted (duplicates included), 1 otherwise, 2 for
//! bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use std::time::SystemTime;

use chathooks::event::Vendor;
use chathooks::sender::{samples, Endpoint, Message, Outcome, RetryPolicy, Sender, Sign, Signing};

const USAGE: &str = "\
usage: send --vendor NAME --url URL [--event NAME] [--secret TEXT]... [--seed N] [--count N]
            [--header K:V]... [--timeout SECS] [--retries] [--public-only] [--print]
       send --list

  --vendor NAME   sam, saleassist, salesmartly, buzzi, conversalabs, standard
  --event NAME    the vendor's event (see --list); default: every event
  --url URL       where to POST (not needed with --print)
  --secret TEXT   signing secret, repeatable (rotation); default: the receiver example's
                  public demo secret for the vendor
  --seed N        which sample (default 1); --count N: N deliveries per event (max 10000)
  --header K:V    extra header, repeatable
  --timeout SECS  per-attempt timeout (default 15); --retries: full retry schedule
  --public-only   refuse loopback/private addresses and plain http
  --print         print each signed request (headers, query, body) instead of sending
";

struct Args {
    vendor: Option<String>,
    event: Option<String>,
    url: Option<String>,
    secrets: Vec<String>,
    seed: u64,
    count: u64,
    headers: Vec<(String, String)>,
    timeout: u64,
    retries: bool,
    public_only: bool,
    print: bool,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        vendor: None,
        event: None,
        url: None,
        secrets: Vec::new(),
        seed: 1,
        count: 1,
        headers: Vec::new(),
        timeout: 15,
        retries: false,
        public_only: false,
        print: false,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--vendor" => a.vendor = Some(value("--vendor")?),
            "--event" => a.event = Some(value("--event")?),
            "--url" => a.url = Some(value("--url")?),
            "--secret" => a.secrets.push(value("--secret")?),
            "--seed" => a.seed = value("--seed")?.parse().map_err(|_| "bad --seed")?,
            "--count" => {
                a.count = value("--count")?.parse().map_err(|_| "bad --count")?;
                if !(1..=10_000).contains(&a.count) {
                    return Err("--count must be 1..=10000".into());
                }
            }
            "--header" => {
                let h = value("--header")?;
                let (k, v) = h.split_once(':').ok_or("--header takes NAME:VALUE")?;
                a.headers.push((k.trim().into(), v.trim().into()));
            }
            "--timeout" => a.timeout = value("--timeout")?.parse().map_err(|_| "bad --timeout")?,
            "--retries" => a.retries = true,
            "--public-only" => a.public_only = true,
            "--print" => a.print = true,
            "--list" => a.list = true,
            "-h" | "--help" => return Err("--help".into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e == "--help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool, String> {
    if args.list {
        for v in samples::VENDORS {
            println!("{}: {}", vendor_name(v), samples::events(v).join(", "));
        }
        return Ok(true);
    }
    let name = args.vendor.as_deref().ok_or("--vendor is required")?;
    let vendor = samples::vendor(name).ok_or(format!(
        "unknown vendor `{name}` (sam, saleassist, salesmartly, buzzi, conversalabs, standard)"
    ))?;
    let events: Vec<String> = match &args.event {
        Some(e) => vec![e.clone()],
        None => samples::events(vendor)
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let mut bodies = Vec::new();
    for event in &events {
        for seed in args.seed..args.seed.saturating_add(args.count) {
            bodies.push(samples::generate(vendor, event, seed).map_err(|e| e.to_string())?);
        }
    }
    let mut secrets: Vec<&str> = args.secrets.iter().map(String::as_str).collect();
    if secrets.is_empty() {
        let demo = demo_secret(vendor);
        eprintln!("no --secret: using the receiver example's public demo secret");
        secrets.push(demo);
    }
    let signing = Signing::for_vendor(vendor, &secrets).map_err(|e| e.to_string())?;
    if args.print {
        // What would go on the wire, signed now: headers (the signature ones and --header),
        // the query the scheme appends, then the body.
        for s in &bodies {
            let message = Message::new(s.body.clone());
            let sig = signing
                .sign(message.id(), SystemTime::now(), message.body())
                .map_err(|e| e.to_string())?;
            println!(
                "POST {}{}",
                args.url.as_deref().unwrap_or(""),
                query(&sig.query)
            );
            println!("content-type: application/json");
            for (k, v) in &sig.headers {
                println!("{k}: {}", v.to_str().unwrap_or("<not text>"));
            }
            for (k, v) in &args.headers {
                println!("{k}: {v}");
            }
            println!("\n{}\n", String::from_utf8_lossy(&s.body));
        }
        return Ok(true);
    }

    let url = args.url.as_deref().ok_or("--url is required")?;
    let mut endpoint = Endpoint::new(url, signing).map_err(|e| e.to_string())?;
    for (k, v) in &args.headers {
        endpoint = endpoint.header(k, v).map_err(|e| e.to_string())?;
    }
    let retry = if args.retries {
        RetryPolicy::default()
    } else {
        RetryPolicy::no_retries()
    };
    let sender = Sender::builder()
        .timeout(Duration::from_secs(args.timeout))
        .retry_policy(retry)
        .allow_http(!args.public_only)
        .allow_private_addresses(!args.public_only)
        .on_attempt(|r| {
            let a = r.attempt;
            let result = match (&a.status, &a.error) {
                (_, Some(e)) => e.to_string(),
                (Some(s), None) => format!("HTTP {s}"),
                (None, None) => "?".into(),
            };
            eprintln!(
                "{} attempt {} -> {} in {} ms{}",
                r.message_id,
                a.number,
                result,
                a.latency.as_millis(),
                a.next_retry_in
                    .map(|d| format!(", retrying in {d:?}"))
                    .unwrap_or_default()
            );
        })
        .build()
        .map_err(|e| e.to_string())?;

    let jobs: Vec<(Endpoint, Message)> = bodies
        .into_iter()
        .map(|s| (endpoint.clone(), Message::new(s.body)))
        .collect();
    let total = jobs.len();
    let results = sender.deliver_all(jobs, 16).await;
    let (mut delivered, mut duplicates, mut failed) = (0, 0, 0);
    for d in &results {
        let last = d.attempts.last();
        let reason = last
            .map(|a| a.response_excerpt.trim())
            .filter(|r| !r.is_empty())
            .unwrap_or("no reason given");
        match &d.outcome {
            // The receiver answers a redelivery of a processed delivery 2xx, saying so.
            Outcome::Delivered { status } if reason.contains("duplicate") => {
                duplicates += 1;
                println!("{}: duplicate (HTTP {status}): {reason}", d.message_id);
            }
            Outcome::Delivered { status } => {
                delivered += 1;
                println!("{}: delivered (HTTP {status})", d.message_id);
            }
            Outcome::Rejected { status } => {
                failed += 1;
                println!("{}: rejected (HTTP {status}): {reason}", d.message_id);
            }
            Outcome::Gone => {
                failed += 1;
                println!(
                    "{}: rejected (HTTP 410, endpoint gone): {reason}",
                    d.message_id
                );
            }
            other => {
                failed += 1;
                let status = last.and_then(|a| a.status).map(|s| format!("HTTP {s}: "));
                println!(
                    "{}: failed ({}{other:?}): {}",
                    d.message_id,
                    status.unwrap_or_default(),
                    last.and_then(|a| a.error.as_ref())
                        .map_or(reason.to_owned(), |e| e.to_string())
                );
            }
        }
    }
    println!(
        "{delivered} delivered, {duplicates} duplicate, {failed} failed of {total} to {}",
        endpoint.url_for_logs()
    );
    Ok(failed == 0)
}

/// `?k=v&…` for the scheme's query parameters (SaleSmartly), or nothing.
fn query(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("?{}", joined.join("&"))
}

/// The vendor's name on the command line: `standard` for Standard Webhooks, as in the receiver
/// example's routes.
fn vendor_name(v: Vendor) -> &'static str {
    match v {
        Vendor::StandardWebhooks => "standard",
        other => other.as_str(),
    }
}

/// The `receiver` example's documented demo defaults, so the two examples work together as-is.
fn demo_secret(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Sam => "sam-demo-secret-0123456789",
        Vendor::SaleAssist => "saleassist-demo-token-0123456789",
        Vendor::SaleSmartly => "salesmartly-demo-key-0123456789",
        Vendor::Buzzi => "buzzi-demo-secret-0123456789",
        Vendor::ConversaLabs => "conversalabs-demo-secret-0123456789",
        _ => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    }
}
