//! `chathooks verify`: a vendor preset's verdict on a capture.

use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use serde_json::json;

use super::{capture, vendors, Failure, Out, Outcome};
use crate::Inbound;

/// `chathooks verify` arguments.
#[derive(Args)]
pub struct VerifyArgs {
    /// sam, saleassist, salesmartly, buzzi, conversalabs, standard, github, slack or stripe.
    #[arg(long, value_name = "V")]
    vendor: String,
    /// The secret (repeat for several, as during rotation).
    #[arg(
        long = "secret",
        value_name = "S",
        env = "CHATHOOKS_SECRET",
        hide_env_values = true,
        required_unless_present = "secret_file"
    )]
    secrets: Vec<String>,
    #[command(flatten)]
    secret_files: super::SecretFiles,
    /// SaleAssist: the header carrying the token.
    #[arg(long, value_name = "NAME")]
    token_header: Option<String>,
    /// Verify as of this time instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
    /// Timestamp tolerance in seconds (default: the preset's, 300).
    #[arg(long, value_name = "SECS")]
    tolerance: Option<u64>,
    /// The captured request.
    #[arg(value_name = "CAPTURE")]
    capture: String,
}

super::opaque_debug!(VerifyArgs);

/// Run `verify`.
pub fn run(mut a: VerifyArgs, out: Out) -> Outcome {
    a.secret_files.fill(&mut a.secrets)?;
    let vendor = vendors::canonical(&a.vendor)?;
    let opts = vendors::PresetOptions {
        token_header: a.token_header,
        tolerance: a.tolerance.map(Duration::from_secs),
    };
    let verifier = vendors::verifier(vendor, &a.secrets, &opts)?;
    let capture = capture::load(&a.capture)?;
    let headers = capture.header_map();
    let inbound = Inbound::new(&headers, &capture.body).with_query(capture.query.as_deref());
    let at = UNIX_EPOCH + Duration::from_secs(super::at_secs(a.at)?);
    match verifier.verify_at(&inbound, at) {
        Ok(v) => {
            let ts = v
                .timestamp()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            if out.json {
                out.print_json(&json!({
                    "verified": true,
                    "vendor": vendor,
                    "scheme": v.scheme(),
                    "delivery_id": v.signed_delivery_id().or(v.unsigned_delivery_id()),
                    "delivery_id_signed": v.signed_delivery_id().is_some(),
                    "timestamp": ts,
                    "key_index": v.key_index(),
                    "error": null,
                    "status": null,
                }));
            } else {
                let mut line = format!("{} {vendor} ({})", out.good("✓ verified"), v.scheme());
                if let Some(i) = v.key_index() {
                    line.push_str(&format!(", secret #{}", i + 1));
                }
                if let Some(id) = v.signed_delivery_id().or(v.unsigned_delivery_id()) {
                    let signed = if v.signed_delivery_id().is_some() {
                        "signed"
                    } else {
                        "not signed"
                    };
                    line.push_str(&format!(", delivery id {id} ({signed})"));
                }
                if let Some(ts) = ts {
                    line.push_str(&format!(", timestamp {ts}"));
                }
                outln!("{line}");
            }
            Ok(())
        }
        Err(e) => {
            let status = e.status().as_u16();
            if out.json {
                out.print_json(&json!({
                    "verified": false,
                    "vendor": vendor,
                    "scheme": null,
                    "error": e.to_string(),
                    "status": status,
                }));
            } else {
                outln!(
                    "{} {vendor}: {e} (HTTP {status})",
                    out.bad("✗ not verified")
                );
                outln!(
                    "  {}",
                    out.dim(&format!(
                        "run `chathooks doctor --secret … {}` to find out why",
                        a.capture
                    ))
                );
            }
            Err(Failure::Check)
        }
    }
}
