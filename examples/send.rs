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
//! - `--print`         print the body instead of sending

use std::process::ExitCode;
use std::time::Duration;

use chathooks::sender::{samples, Endpoint, Message, RetryPolicy, Sender, Signing};

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
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!(
                "usage: send --vendor NAME [--event NAME] --url URL --secret TEXT [--seed N] \
                 [--count N] [--header K:V] [--timeout SECS] [--retries] [--public-only] \
                 [--print] | --list"
            );
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
            println!("{v}: {}", samples::events(v).join(", "));
        }
        return Ok(true);
    }
    let vendor_name = args.vendor.as_deref().ok_or("--vendor is required")?;
    let vendor = samples::vendor(vendor_name).ok_or(format!("unknown vendor `{vendor_name}`"))?;
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
    if args.print {
        for s in &bodies {
            println!("{}", String::from_utf8_lossy(&s.body));
        }
        return Ok(true);
    }

    let url = args.url.as_deref().ok_or("--url is required")?;
    let mut secrets: Vec<&str> = args.secrets.iter().map(String::as_str).collect();
    if secrets.is_empty() {
        let demo = demo_secret(vendor);
        eprintln!("no --secret: using the receiver example's public demo secret");
        secrets.push(demo);
    }
    let signing = Signing::for_vendor(vendor, &secrets).map_err(|e| e.to_string())?;
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
    let delivered = results.iter().filter(|d| d.is_delivered()).count();
    for d in results.iter().filter(|d| !d.is_delivered()) {
        eprintln!("{}: {:?}", d.message_id, d.outcome);
    }
    println!(
        "{delivered}/{total} delivered to {}",
        endpoint.url_for_logs()
    );
    Ok(delivered == total)
}

/// The `receiver` example's documented demo defaults, so the two examples work together as-is.
fn demo_secret(vendor: chathooks::event::Vendor) -> &'static str {
    use chathooks::event::Vendor;
    match vendor {
        Vendor::Sam => "sam-demo-secret-0123456789",
        Vendor::SaleAssist => "saleassist-demo-token-0123456789",
        Vendor::SaleSmartly => "salesmartly-demo-key-0123456789",
        Vendor::Buzzi => "buzzi-demo-secret-0123456789",
        Vendor::ConversaLabs => "conversalabs-demo-secret-0123456789",
        _ => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    }
}
