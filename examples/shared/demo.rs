//! Shared by the `receiver` and `actix_receiver` examples: configuration from the environment
//! (with public demo defaults), the checks made before listening, the startup banner, logging,
//! and correctly signed demo deliveries for the routes still on a demo secret.
//!
//! Nothing here panics on bad configuration: every problem is an [`Exit`] naming the variable
//! to change, printed by `main` before it exits with status 2.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, SystemTime};

use chathooks::integrations::Webhook;
use chathooks::platform::VendorEvent;
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks};
use chathooks::{Error, Secret};

/// Variable that allows public demo secrets on a non-loopback address (also `--allow-demo-secrets`).
pub const ALLOW_DEMO_VAR: &str = "CHATHOOKS_ALLOW_DEMO_SECRETS";
/// How long the timestamped demo deliveries stay valid (the verifiers' default tolerance).
pub const DEMO_VALID_SECS: u64 = 300;
/// The usage text of both examples.
pub const USAGE: &str = "\
usage: receiver [--allow-demo-secrets]

Serves POST /webhooks/{sam,saleassist,salesmartly,buzzi,conversalabs,standard},
GET /healthz and GET /demo (fresh signed demo commands while demo secrets are in use).

environment:
  CHATHOOKS_ADDR=host:port    where to listen (127.0.0.1:3000, localhost:3000, 0.0.0.0:8080)
  PORT=N                      listen on all interfaces, port N (hosting platforms); CHATHOOKS_ADDR wins
  SAM_SECRET, SALEASSIST_HEADER, SALEASSIST_TOKEN, SALESMARTLY_SECRET, BUZZI_SECRET,
  CONVERSALABS_SECRET, STANDARD_WEBHOOKS_SECRET
                              the secrets; each one unset stays on its public demo value
  CHATHOOKS_ALLOW_DEMO_SECRETS=1
                              listen on a non-loopback address with demo secrets anyway
  CHATHOOKS_BODY_TIMEOUT=SECS longest time a request may take to arrive (default 10)
  CHATHOOKS_PRINT_EVENTS=1    print every event in full (default: only on demo secrets)
  RUST_LOG=info               log filter (one line per delivery at info; `warn` keeps rejections)
";

/// A configuration problem, or a request for the usage text; `main` prints it and exits.
#[derive(Debug)]
pub enum Exit {
    /// `--help`: print the usage, exit 0.
    Help,
    /// Bad configuration: print it, exit 2.
    Config(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Help => f.write_str(USAGE),
            Exit::Config(m) => write!(f, "error: {m}"),
        }
    }
}

/// Print `exit` and turn it into the process status: 0 for `--help`, 2 for configuration.
pub fn report(exit: Exit) -> std::process::ExitCode {
    match exit {
        Exit::Help => {
            print!("{USAGE}");
            std::process::ExitCode::SUCCESS
        }
        e @ Exit::Config(_) => {
            eprintln!("{e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// One secret: from its variable, or the public demo default.
#[derive(Clone)]
pub struct Setting {
    /// The secret text. Never printed.
    pub value: String,
    /// The variable it comes from.
    pub var: &'static str,
    /// `true` while on the public demo default.
    pub demo: bool,
}

/// Where the listening address came from, for messages that say what to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSource {
    /// Neither variable set: 127.0.0.1:3000.
    Default,
    /// `PORT`: all interfaces.
    Port,
    /// `CHATHOOKS_ADDR`.
    Addr,
}

/// Address, limits and secrets.
#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub addr_source: AddrSource,
    pub allow_demo_secrets: bool,
    pub body_timeout: Duration,
    pub print_events: Option<bool>,
    pub sam_secret: Setting,
    pub saleassist_header: String,
    pub saleassist_token: Setting,
    pub salesmartly_secret: Setting,
    pub buzzi_secret: Setting,
    pub conversalabs_secret: Setting,
    pub standard_secret: Setting,
}

fn demo(var: &'static str, value: &str) -> Setting {
    Setting {
        value: value.into(),
        var,
        demo: true,
    }
}

impl Config {
    /// The documented demo defaults on 127.0.0.1:3000.
    pub fn demo() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            addr_source: AddrSource::Default,
            allow_demo_secrets: false,
            body_timeout: Duration::from_secs(10),
            print_events: None,
            sam_secret: demo("SAM_SECRET", "sam-demo-secret-0123456789"),
            saleassist_header: "X-SaleAssist-Token".into(),
            saleassist_token: demo("SALEASSIST_TOKEN", "saleassist-demo-token-0123456789"),
            salesmartly_secret: demo("SALESMARTLY_SECRET", "salesmartly-demo-key-0123456789"),
            buzzi_secret: demo("BUZZI_SECRET", "buzzi-demo-secret-0123456789"),
            conversalabs_secret: demo("CONVERSALABS_SECRET", "conversalabs-demo-secret-0123456789"),
            standard_secret: demo(
                "STANDARD_WEBHOOKS_SECRET",
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            ),
        }
    }

    /// The demo defaults, overridden by the environment and the command line (`args` without
    /// the program name). Every secret is checked here, so a bad one names its variable.
    pub fn from_env(args: impl IntoIterator<Item = String>) -> Result<Self, Exit> {
        let mut c = Self::demo();
        for arg in args {
            match arg.as_str() {
                "--allow-demo-secrets" => c.allow_demo_secrets = true,
                "-h" | "--help" => return Err(Exit::Help),
                other => {
                    return Err(Exit::Config(format!(
                        "unknown argument `{other}` (try --help)"
                    )))
                }
            }
        }
        if let Some(v) = var(ALLOW_DEMO_VAR)? {
            c.allow_demo_secrets |= matches!(v.as_str(), "1" | "true" | "yes");
        }
        (c.addr, c.addr_source) = resolve_addr()?;
        if let Some(v) = var("CHATHOOKS_BODY_TIMEOUT")? {
            let secs: u64 = v
                .trim()
                .parse()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .ok_or_else(|| {
                    Exit::Config(format!(
                        "CHATHOOKS_BODY_TIMEOUT={v:?} is not 1..=3600 seconds"
                    ))
                })?;
            c.body_timeout = Duration::from_secs(secs);
        }
        if let Some(v) = var("CHATHOOKS_PRINT_EVENTS")? {
            c.print_events = Some(matches!(v.as_str(), "1" | "true" | "yes"));
        }
        if let Some(h) = var("SALEASSIST_HEADER")? {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(Exit::Config(format!(
                    "SALEASSIST_HEADER={h:?} is not a valid header name"
                )));
            }
            c.saleassist_header = h;
        }
        for setting in [
            &mut c.sam_secret,
            &mut c.saleassist_token,
            &mut c.salesmartly_secret,
            &mut c.buzzi_secret,
            &mut c.conversalabs_secret,
            &mut c.standard_secret,
        ] {
            if let Some(value) = var(setting.var)? {
                let parsed = if setting.var == "STANDARD_WEBHOOKS_SECRET" {
                    Secret::standard(&value)
                } else {
                    Secret::raw(&value)
                };
                // The message names the variable and the problem, never the value.
                parsed.map_err(|e| Exit::Config(format!("{}: {e}", setting.var)))?;
                *setting = Setting {
                    value,
                    var: setting.var,
                    demo: false,
                };
            }
        }
        Ok(c)
    }

    /// The vendor routes, each with the setting it is verified with.
    pub fn routes(&self) -> [(&'static str, &Setting); 6] {
        [
            ("sam", &self.sam_secret),
            ("saleassist", &self.saleassist_token),
            ("salesmartly", &self.salesmartly_secret),
            ("buzzi", &self.buzzi_secret),
            ("conversalabs", &self.conversalabs_secret),
            ("standard", &self.standard_secret),
        ]
    }

    /// Vendors whose route still uses its public demo secret.
    pub fn demo_vendors(&self) -> Vec<&'static str> {
        self.routes()
            .into_iter()
            .filter(|(_, s)| s.demo)
            .map(|(v, _)| v)
            .collect()
    }

    /// Whether to print each event in full: by default only for demo routes (demo data), as
    /// real events hold customers' personal data.
    pub fn print_event(&self, vendor: &str) -> bool {
        self.print_events
            .unwrap_or_else(|| self.demo_vendors().contains(&vendor))
    }

    /// Refuse public demo secrets on an address other machines can reach, unless allowed.
    pub fn check_safe(&self) -> Result<(), Exit> {
        let demo = self.demo_vendors();
        if demo.is_empty() || self.addr.ip().is_loopback() || self.allow_demo_secrets {
            return Ok(());
        }
        let vars: Vec<&str> = self
            .routes()
            .into_iter()
            .filter(|(_, s)| s.demo)
            .map(|(_, s)| s.var)
            .collect();
        Err(Exit::Config(format!(
            "refusing to listen on {} ({}) with the public demo secrets of {}: anyone who \
             has read this example could forge deliveries. Set {}, or listen on loopback \
             (CHATHOOKS_ADDR=127.0.0.1:3000), or pass --allow-demo-secrets \
             ({ALLOW_DEMO_VAR}=1) to do it anyway",
            self.addr,
            self.addr_source.describe(),
            demo.join(", "),
            vars.join(", "),
        )))
    }

    /// The message for a failed bind: the address, where it came from, and what to change.
    pub fn bind_error(&self, err: &std::io::Error) -> Exit {
        Exit::Config(format!(
            "cannot listen on {} ({}): {err}. Choose another address with \
             CHATHOOKS_ADDR=host:port, or another port on all interfaces with PORT=N",
            self.addr,
            self.addr_source.describe(),
        ))
    }

    /// The startup banner (stdout) and one warning per demo route (stderr); `extra` lists more
    /// routes (`"GET  /path    what it is"`) after the health check.
    pub fn announce(&self, framework: &str, addr: SocketAddr, extra: &[&str]) {
        let mut out = format!("chathooks receiver ({framework}) listening on http://{addr}\n");
        for (vendor, setting) in self.routes() {
            let state = if setting.demo {
                format!("PUBLIC DEMO SECRET (set {})", setting.var)
            } else {
                format!("secret from {}", setting.var)
            };
            let _ = writeln!(out, "  POST /webhooks/{vendor:<13} {state}");
        }
        let _ = writeln!(out, "  GET  /healthz              health check");
        for line in extra {
            let _ = writeln!(out, "  {line}");
        }
        let demo = self.demo_vendors();
        if !demo.is_empty() {
            let _ = writeln!(
                out,
                "  GET  /demo                 fresh signed demo deliveries"
            );
        }
        let configured: Vec<&str> = self
            .routes()
            .into_iter()
            .filter(|(_, s)| !s.demo)
            .map(|(v, _)| v)
            .collect();
        if !configured.is_empty() {
            let _ = writeln!(
                out,
                "configured from the environment: {} (secrets not shown)",
                configured.join(", ")
            );
        }
        print!("{out}");
        for (vendor, setting) in self.routes().into_iter().filter(|(_, s)| s.demo) {
            eprintln!(
                "WARNING: /webhooks/{vendor} uses a public demo secret: anyone can forge \
                 deliveries to it. Set {}.",
                setting.var
            );
        }
        if !demo.is_empty() {
            match demo_text(self, addr, SystemTime::now()) {
                Ok(text) => println!("\n{text}"),
                Err(e) => eprintln!("cannot sign the demo deliveries: {e}"),
            }
        }
    }
}

impl AddrSource {
    fn describe(self) -> &'static str {
        match self {
            AddrSource::Default => "the default; set CHATHOOKS_ADDR or PORT to change it",
            AddrSource::Port => "from PORT",
            AddrSource::Addr => "from CHATHOOKS_ADDR",
        }
    }
}

/// A variable's value; unset and empty are the same. Not UTF-8 is a configuration error.
fn var(name: &str) -> Result<Option<String>, Exit> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Exit::Config(format!("{name} is not valid UTF-8")))
        }
    }
}

/// `CHATHOOKS_ADDR` (host names resolve), else `PORT` on all interfaces, else 127.0.0.1:3000.
fn resolve_addr() -> Result<(SocketAddr, AddrSource), Exit> {
    if let Some(text) = var("CHATHOOKS_ADDR")? {
        let bad = |why: String| {
            Exit::Config(format!(
                "CHATHOOKS_ADDR={text:?} {why} (expected host:port, for example \
                 127.0.0.1:3000, localhost:3000 or 0.0.0.0:8080)"
            ))
        };
        let addrs: Vec<SocketAddr> = text
            .trim()
            .to_socket_addrs()
            .map_err(|e| bad(format!("cannot be used: {e}")))?
            .collect();
        // `localhost` resolves to ::1 and 127.0.0.1; IPv4 first, as most clients try it.
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| bad("resolves to no address".into()))?;
        return Ok((addr, AddrSource::Addr));
    }
    if let Some(text) = var("PORT")? {
        let port: u16 = text
            .trim()
            .parse()
            .map_err(|_| Exit::Config(format!("PORT={text:?} is not a port number (0-65535)")))?;
        return Ok((
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            AddrSource::Port,
        ));
    }
    Ok((
        SocketAddr::from(([127, 0, 0, 1], 3000)),
        AddrSource::Default,
    ))
}

/// The address a local `curl` reaches: loopback when listening on all interfaces.
pub fn local(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

/// One correctly signed demo delivery: path (with query), headers, body.
pub struct Demo {
    pub vendor: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Signed with a timestamp: refused once [`DEMO_VALID_SECS`] have passed.
    pub expires: bool,
}

impl Demo {
    /// A `curl` command that sends this delivery to `addr`.
    pub fn curl(&self, addr: SocketAddr) -> String {
        let mut cmd = format!("curl -i 'http://{}{}'", local(addr), self.path);
        for (k, v) in &self.headers {
            cmd.push_str(&format!(" -H '{k}: {v}'"));
        }
        cmd.push_str(&format!(" --data-binary '{}'", self.body));
        cmd
    }
}

/// The text of the demo commands for the routes still on demo secrets: what the banner prints
/// and `GET /demo` answers.
pub fn demo_text(c: &Config, addr: SocketAddr, now: SystemTime) -> Result<String, Error> {
    let demos = demos(c, now)?;
    let mut text = String::new();
    if demos.is_empty() {
        return Ok("No route uses a demo secret: send real deliveries, or use \
                   `cargo run --example send --features sender -- --vendor NAME --url URL --secret TEXT`.\n"
            .into());
    }
    let expiring: Vec<&str> = demos
        .iter()
        .filter(|d| d.expires)
        .map(|d| d.vendor)
        .collect();
    let _ = writeln!(
        text,
        "Signed demo deliveries for the routes on demo secrets (send one twice: the second \
         is answered 200 as a duplicate, the handler does not run)."
    );
    if !expiring.is_empty() {
        let _ = writeln!(
            text,
            "The {} commands carry a timestamp and are refused after {DEMO_VALID_SECS} s; for \
             a fresh set: curl http://{}/demo",
            expiring.join(", "),
            local(addr),
        );
    }
    for d in &demos {
        let _ = writeln!(text, "\n# {}\n{}", d.vendor, d.curl(addr));
    }
    Ok(text)
}

/// Demo bodies, one per vendor, in the shapes of the crate's own samples: each normalises to
/// a full event (kind, contact or message).
pub const SAM_BODY: &str = r#"{"event":"lead.captured","id":"evt_demo_1","timestamp":"2025-03-14T09:31:07Z","data":{"id":"lead_1","name":"Priya Nair","email":"priya@example.in"}}"#;
pub const SALEASSIST_BODY: &str = r#"{"event_type":"widget_new_conversation","payload":{"id":"conv_demo_1","message_content":"Hello, is the 30mg pack in stock?","message_type":"text","people_detail":{"name":"Ravi Kumar","email":"ravi@example.in","phone":"+919812345678"}}}"#;
pub const SALESMARTLY_BODY: &str = r#"{"event":"message","data":{"chat_user_id":"u_demo_1","sequence_id":1695787977126000,"send_time":"1695787977082","chat_session_id":"130925","channel":7,"sender_type":"1","sender":"u_demo_1","msg_type":"text","msg":"How much is the 30mg pack?"}}"#;
pub const BUZZI_BODY: &str = r#"{"event":"message.received","timestamp":"2026-01-12T08:15:31Z","data":{"id":"m-demo-1","conversation_id":"c-demo-1","role":"user","type":"text","content":"Hi there, is this in stock?","channel":"whatsapp","end_user":{"id":"e-demo-1","name":"Aisha Bello","phone":"+2348031234567"}}}"#;
pub const CONVERSALABS_BODY: &str = r#"{"event":"message_created","id":771204,"content":"Oi! Vocês aceitam PIX?","message_type":"incoming","content_type":"text","sender":{"id":9921,"name":"Beatriz Souza","phone_number":"+5511987654321","type":"contact"},"conversation":{"id":48213,"status":"open"}}"#;
pub const STANDARD_BODY: &str = r#"{"type":"lead.captured","timestamp":"2025-03-14T09:31:07Z","data":{"contact_id":"c_demo_1","account_id":42,"email":"mei.chen@example.sg","phone":"+65 8123 4567"}}"#;

/// Signed demo deliveries for the routes still on demo secrets, signed at `now` (the
/// timestamped schemes accept them for five minutes).
pub fn demos(c: &Config, now: SystemTime) -> Result<Vec<Demo>, Error> {
    let ct = || ("content-type".to_owned(), "application/json".to_owned());
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
    let mut out = Vec::new();
    if c.sam_secret.demo {
        out.push(Demo {
            vendor: "sam",
            path: "/webhooks/sam".into(),
            headers: headers_of(
                HmacSha256::sam(&c.sam_secret.value)?.sign(now, SAM_BODY.as_bytes()),
            ),
            body: SAM_BODY.into(),
            expires: false,
        });
    }
    if c.saleassist_token.demo {
        out.push(Demo {
            vendor: "saleassist",
            path: "/webhooks/saleassist".into(),
            headers: vec![
                (
                    c.saleassist_header.clone(),
                    c.saleassist_token.value.clone(),
                ),
                ct(),
            ],
            body: SALEASSIST_BODY.into(),
            expires: false,
        });
    }
    if c.salesmartly_secret.demo {
        let query = SaleSmartly::new(&c.salesmartly_secret.value)?
            .sign(SALESMARTLY_BODY.as_bytes(), now)?;
        out.push(Demo {
            vendor: "salesmartly",
            path: format!("/webhooks/salesmartly?{query}"),
            headers: vec![ct()],
            body: SALESMARTLY_BODY.into(),
            expires: true,
        });
    }
    if c.buzzi_secret.demo {
        out.push(Demo {
            vendor: "buzzi",
            path: "/webhooks/buzzi".into(),
            headers: headers_of(
                HmacSha256::buzzi(&c.buzzi_secret.value)?.sign(now, BUZZI_BODY.as_bytes()),
            ),
            body: BUZZI_BODY.into(),
            expires: false,
        });
    }
    if c.conversalabs_secret.demo {
        let mut headers = headers_of(
            HmacSha256::conversalabs(&c.conversalabs_secret.value)?
                .sign(now, CONVERSALABS_BODY.as_bytes()),
        );
        headers.push(("X-Chatwoot-Delivery".into(), format!("dlv_demo_{secs}")));
        out.push(Demo {
            vendor: "conversalabs",
            path: "/webhooks/conversalabs".into(),
            headers,
            body: CONVERSALABS_BODY.into(),
            expires: true,
        });
    }
    if c.standard_secret.demo {
        let id = format!("msg_demo_{secs}");
        let sw = StandardWebhooks::new(&c.standard_secret.value)?;
        out.push(Demo {
            vendor: "standard",
            path: "/webhooks/standard".into(),
            headers: vec![
                ("webhook-id".into(), id.clone()),
                ("webhook-timestamp".into(), secs.to_string()),
                (
                    "webhook-signature".into(),
                    sw.sign(&id, now, STANDARD_BODY.as_bytes()),
                ),
                ct(),
            ],
            body: STANDARD_BODY.into(),
            expires: true,
        });
    }
    Ok(out)
}

/// Install the log subscriber: one line per delivery on stderr (the crate's `accepted`,
/// `duplicate of a completed delivery` and `rejected` events, with status and reason; never
/// secrets or bodies), filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Err(_) => EnvFilter::new("info"),
        Ok(text) => EnvFilter::try_new(&text).unwrap_or_else(|e| {
            eprintln!("RUST_LOG={text:?} is not a valid filter ({e}); logging at info");
            EnvFilter::new("info")
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
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
