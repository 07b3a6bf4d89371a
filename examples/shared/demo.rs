//! Shared by the `receiver` and `actix_receiver` examples: configuration from the environment
//! (with public demo defaults) and correctly signed demo deliveries for every route.

use std::net::SocketAddr;
use std::time::SystemTime;

use chathooks::integrations::Webhook;
use chathooks::platform::VendorEvent;
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks};
use chathooks::{Error, Secret};

/// Address and secrets.
#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub sam_secret: String,
    pub saleassist_header: String,
    pub saleassist_token: String,
    pub salesmartly_secret: String,
    pub buzzi_secret: String,
    pub conversalabs_secret: String,
    pub standard_secret: String,
}

impl Config {
    /// The documented demo defaults.
    pub fn demo() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            sam_secret: "sam-demo-secret-0123456789".into(),
            saleassist_header: "X-SaleAssist-Token".into(),
            saleassist_token: "saleassist-demo-token-0123456789".into(),
            salesmartly_secret: "salesmartly-demo-key-0123456789".into(),
            buzzi_secret: "buzzi-demo-secret-0123456789".into(),
            conversalabs_secret: "conversalabs-demo-secret-0123456789".into(),
            standard_secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into(),
        }
    }

    /// The demo defaults, overridden by environment variables.
    pub fn from_env() -> Self {
        let d = Self::demo();
        let var = |name: &str, default: String| std::env::var(name).unwrap_or(default);
        let addr = match (std::env::var("CHATHOOKS_ADDR"), std::env::var("PORT")) {
            (Ok(a), _) => a.parse().expect("CHATHOOKS_ADDR must be host:port"),
            (_, Ok(p)) => {
                SocketAddr::from(([127, 0, 0, 1], p.parse().expect("PORT must be a number")))
            }
            _ => d.addr,
        };
        Config {
            addr,
            sam_secret: var("SAM_SECRET", d.sam_secret),
            saleassist_header: var("SALEASSIST_HEADER", d.saleassist_header),
            saleassist_token: var("SALEASSIST_TOKEN", d.saleassist_token),
            salesmartly_secret: var("SALESMARTLY_SECRET", d.salesmartly_secret),
            buzzi_secret: var("BUZZI_SECRET", d.buzzi_secret),
            conversalabs_secret: var("CONVERSALABS_SECRET", d.conversalabs_secret),
            standard_secret: var("STANDARD_WEBHOOKS_SECRET", d.standard_secret),
        }
    }
}

/// One correctly signed demo delivery: path (with query), headers, body.
pub struct Demo {
    pub vendor: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Demo {
    /// A `curl` command that sends this delivery to `addr`.
    pub fn curl(&self, addr: SocketAddr) -> String {
        let mut cmd = format!("curl -i 'http://{addr}{}'", self.path);
        for (k, v) in &self.headers {
            cmd.push_str(&format!(" -H '{k}: {v}'"));
        }
        cmd.push_str(&format!(" --data-binary '{}'", self.body));
        cmd
    }
}

/// Signed demo deliveries for every route, signed at `now` (the timestamped schemes accept
/// them for five minutes).
pub fn demos(c: &Config, now: SystemTime) -> Result<Vec<Demo>, Error> {
    let json = "content-type: application/json";
    let ct = || {
        let (k, v) = json.split_once(": ").unwrap_or_default();
        (k.to_owned(), v.to_owned())
    };
    let headers_of = |map: http::HeaderMap| -> Vec<(String, String)> {
        let mut out: Vec<_> = map
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        out.push(ct());
        out
    };
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();

    let sam = r#"{"event":"lead.captured","id":"evt_demo_1","timestamp":"2025-03-14T09:31:07Z","data":{"id":"lead_1","name":"Priya Nair","email":"priya@example.in"}}"#;
    let saleassist = r#"{"event_type":"widget_new_conversation","payload":{"id":"conv_demo_1","message_content":"Hello","message_type":"text"}}"#;
    let salesmartly = r#"{"event":"message","data":{"chat_user_id":"u_demo_1","sequence_id":1,"msg":"hi","msg_type":"text"}}"#;
    let buzzi = r#"{"event":"message.received","timestamp":"2025-03-14T09:31:07Z","data":{"message":{"id":"msg_demo_1","content":"Hi there","role":"user"}}}"#;
    let conversalabs =
        r#"{"event":"message_created","id":1,"content":"Olá","message_type":"incoming"}"#;
    let standard = r#"{"type":"lead.captured","timestamp":"2025-03-14T09:31:07Z","data":{"email":"mei.chen@example.sg"}}"#;

    let standard_id = format!("msg_demo_{secs}");
    let sw = StandardWebhooks::new(&c.standard_secret)?;
    let mut conversalabs_headers = headers_of(
        HmacSha256::conversalabs(Secret::raw(&c.conversalabs_secret)?)
            .sign(now, conversalabs.as_bytes()),
    );
    conversalabs_headers.push(("X-Chatwoot-Delivery".into(), format!("dlv_demo_{secs}")));
    Ok(vec![
        Demo {
            vendor: "sam",
            path: "/webhooks/sam".into(),
            headers: headers_of(
                HmacSha256::sam(Secret::raw(&c.sam_secret)?).sign(now, sam.as_bytes()),
            ),
            body: sam.into(),
        },
        Demo {
            vendor: "saleassist",
            path: "/webhooks/saleassist".into(),
            headers: vec![
                (c.saleassist_header.clone(), c.saleassist_token.clone()),
                ct(),
            ],
            body: saleassist.into(),
        },
        Demo {
            vendor: "salesmartly",
            path: format!(
                "/webhooks/salesmartly?{}",
                SaleSmartly::new(&c.salesmartly_secret)?.sign(salesmartly.as_bytes(), now)?
            ),
            headers: vec![ct()],
            body: salesmartly.into(),
        },
        Demo {
            vendor: "buzzi",
            path: "/webhooks/buzzi".into(),
            headers: headers_of(
                HmacSha256::buzzi(Secret::raw(&c.buzzi_secret)?).sign(now, buzzi.as_bytes()),
            ),
            body: buzzi.into(),
        },
        Demo {
            vendor: "conversalabs",
            path: "/webhooks/conversalabs".into(),
            headers: conversalabs_headers,
            body: conversalabs.into(),
        },
        Demo {
            vendor: "standard",
            path: "/webhooks/standard".into(),
            headers: vec![
                ("webhook-id".into(), standard_id.clone()),
                ("webhook-timestamp".into(), secs.to_string()),
                (
                    "webhook-signature".into(),
                    sw.sign(&standard_id, now, standard.as_bytes()),
                ),
                ct(),
            ],
            body: standard.into(),
        },
    ])
}

/// Print a verified delivery: the typed event and its normalised form.
pub fn print_delivery<E: VendorEvent + std::fmt::Debug>(hook: &Webhook<E>) {
    let normalized = hook.event.normalize();
    println!(
        "\n== {} `{}` (key {}, scheme {}, {} repairs)\n{:#?}\n-- normalised:\n{}",
        E::VENDOR,
        hook.event.name(),
        hook.info.key,
        hook.info.scheme,
        hook.info.repairs.len(),
        hook.event,
        serde_json::to_string_pretty(&normalized).unwrap_or_default(),
    );
}
