//! The durable inbox: a receiver for every vendor that stores each verified delivery in an
//! inbox (an SQLite file, a Redis or a Postgres database) and answers at once, and a worker
//! that handles what is stored.
//!
//! ```text
//! cargo run --example inbox --features axum,sqlite                      # both, one process
//! cargo run --example inbox --features axum,sqlite -- --role receiver   # receive only
//! cargo run --example inbox --features axum,sqlite -- --role worker     # handle only
//! cargo run --example inbox --features axum,sqlite,redis -- --redis redis://127.0.0.1:6379/
//! cargo run --example inbox --features axum,sqlite,postgres -- --postgres postgres://app@127.0.0.1/app
//! ```
//!
//! Flags (or environment variables):
//!
//! - `--role all|receiver|worker` (`CHATHOOKS_ROLE`, default `all`). Run several receivers and
//!   several workers against one inbox: one SQLite file (WAL mode lets processes share it),
//!   one Redis or one Postgres database.
//! - The inbox, exactly one of (the flag, else the variable; SQLite when none is given):
//!   - `--sqlite PATH` (`CHATHOOKS_SQLITE`, default `chathooks-inbox.sqlite`; features
//!     `axum,sqlite`);
//!   - `--redis URL` (`CHATHOOKS_REDIS`; features `axum,sqlite,redis`): a `RedisInbox`
//!     (Streams, one consumer group; each process its own consumer), keys under `--prefix P`
//!     (`CHATHOOKS_REDIS_PREFIX`, default `chathooks:inbox:`);
//!   - `--postgres URL` (`CHATHOOKS_POSTGRES`; features `axum,sqlite,postgres`): a
//!     `PostgresInbox` in `--schema S` (`CHATHOOKS_POSTGRES_SCHEMA`, default `public`); every
//!     process runs `migrate()` when it starts (safe from several processes at once).
//!
//!   A build without the backend's feature refuses its flag with a message naming the
//!   feature. URLs are never printed (they may hold a password).
//! - `--addr HOST:PORT` (`CHATHOOKS_ADDR`, or `PORT`; default `127.0.0.1:3000`).
//! - `--concurrency N` (`CHATHOOKS_CONCURRENCY`, default 16): handlers at once per worker.
//! - `--lease SECS` (`CHATHOOKS_LEASE`, default 30): how long a worker holds each entry; the
//!   entries of a worker that died are taken over by another once their lease ends.
//! - Secrets as in the `receiver` example (`STANDARD_WEBHOOKS_SECRET`, `SAM_SECRET`, …); on an
//!   address other machines can reach, every route needs its own secret unless
//!   `--allow-demo-secrets` (`CHATHOOKS_ALLOW_DEMO_SECRETS=1`) says otherwise.
//! - `--help` prints the usage.
//!
//! Routes: `POST /webhooks/{sam,saleassist,salesmartly,buzzi,conversalabs,standard}`. Each
//! stored delivery is answered 200 `{"ok":true}` (SaleSmartly: `{"code":0,"msg":"Success"}`).
//! The worker prints one line per handled delivery:
//!
//! ```text
//! handled delivery_id=msg_2KWPBgLlAfxdpx2AI54pPJ85f1W namespace=standard_webhooks entry=17 attempt=1 event=contact.created
//! ```
//!
//! so an outside checker can compare what was acknowledged with what was handled. Stop with
//! ctrl-c (or SIGTERM): the worker finishes in-flight handlers for up to 10 s and releases the
//! rest.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use chathooks::inbox::Inbox;
use chathooks::integrations::axum::inbox_route;
use chathooks::platform::{
    buzzi::BuzziEvent, conversalabs::ConversaLabsEvent, saleassist::SaleAssistEvent,
    salesmartly::SaleSmartlyEvent, sam::SamEvent, standard::StandardEvent, VendorEvent,
};
use chathooks::receiver::Payload;
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::worker::{Job, Worker};
use chathooks::{Error, Receiver, Secret};

#[allow(clippy::duplicate_mod, dead_code)]
#[path = "shared/demo.rs"]
mod demo;
use demo::{demos, Config};

/// Where the entries live: exactly one backend per process.
enum Backend {
    Sqlite(String),
    Redis(String),
    Postgres(String),
}

impl Backend {
    /// What the startup line names: the SQLite path, or only the kind for a URL (it may hold
    /// a password).
    fn describe(&self) -> String {
        match self {
            Backend::Sqlite(path) => path.clone(),
            Backend::Redis(_) => "Redis (--redis URL)".to_owned(),
            Backend::Postgres(_) => "Postgres (--postgres URL)".to_owned(),
        }
    }
}

/// Command line and environment.
struct Args {
    role: String,
    backend: Backend,
    concurrency: usize,
    lease: std::time::Duration,
    /// Redis key prefix (`--prefix`), Postgres schema (`--schema`): as the `chathooks inbox`
    /// CLI takes them, so it can look into the same inbox.
    prefix: Option<String>,
    schema: Option<String>,
    /// Flags the shared receiver configuration reads (`--allow-demo-secrets`).
    config_flags: Vec<String>,
}

/// The usage text (`--help`).
const USAGE: &str = "\
usage: inbox [--role all|receiver|worker] [--sqlite PATH | --redis URL [--prefix P] | --postgres URL [--schema S]]
             [--addr HOST:PORT] [--concurrency N] [--lease SECS] [--allow-demo-secrets]

environment (a flag wins over its variable):
  CHATHOOKS_ROLE, CHATHOOKS_SQLITE, CHATHOOKS_REDIS, CHATHOOKS_REDIS_PREFIX, CHATHOOKS_POSTGRES,
  CHATHOOKS_POSTGRES_SCHEMA, CHATHOOKS_ADDR (or PORT), CHATHOOKS_CONCURRENCY, CHATHOOKS_LEASE,
  CHATHOOKS_ALLOW_DEMO_SECRETS=1
  STANDARD_WEBHOOKS_SECRET, SAM_SECRET, SALEASSIST_HEADER, SALEASSIST_TOKEN, SALESMARTLY_SECRET,
  BUZZI_SECRET, CONVERSALABS_SECRET: the routes' secrets (each unset one stays on its public
  demo value, allowed on loopback only)

The worker prints one `handled delivery_id=... namespace=... entry=... attempt=... event=...`
line per handled delivery.
";

fn args() -> Result<Args, String> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let mut role = env("CHATHOOKS_ROLE", "all");
    let mut concurrency = env("CHATHOOKS_CONCURRENCY", "16");
    let mut lease = env("CHATHOOKS_LEASE", "30");
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut prefix = var("CHATHOOKS_REDIS_PREFIX");
    let mut schema = var("CHATHOOKS_POSTGRES_SCHEMA");
    let mut flags: Vec<Backend> = Vec::new();
    let mut config_flags = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--role" => role = value()?,
            "--sqlite" => flags.push(Backend::Sqlite(value()?)),
            "--redis" => flags.push(Backend::Redis(value()?)),
            "--postgres" => flags.push(Backend::Postgres(value()?)),
            // Config::from_env reads the address; the flag overrides the environment.
            "--addr" => std::env::set_var("CHATHOOKS_ADDR", value()?),
            "--concurrency" => concurrency = value()?,
            "--lease" => lease = value()?,
            "--prefix" => prefix = Some(value()?),
            "--schema" => schema = Some(value()?),
            "--allow-demo-secrets" => config_flags.push(flag),
            other => return Err(format!("unexpected argument {other:?} (try --help)")),
        }
    }
    // Flags win over the environment; within either, naming two backends is an error.
    let mut backends = flags;
    if backends.is_empty() {
        backends.extend(var("CHATHOOKS_SQLITE").map(Backend::Sqlite));
        backends.extend(var("CHATHOOKS_REDIS").map(Backend::Redis));
        backends.extend(var("CHATHOOKS_POSTGRES").map(Backend::Postgres));
    }
    if backends.len() > 1 {
        return Err(
            "choose exactly one inbox: --sqlite PATH, --redis URL or --postgres URL (or one of \
             CHATHOOKS_SQLITE, CHATHOOKS_REDIS, CHATHOOKS_POSTGRES)"
                .to_owned(),
        );
    }
    let backend = backends
        .pop()
        .unwrap_or_else(|| Backend::Sqlite("chathooks-inbox.sqlite".to_owned()));
    if prefix.is_some() && !matches!(backend, Backend::Redis(_)) {
        return Err("--prefix (CHATHOOKS_REDIS_PREFIX) applies to --redis only".to_owned());
    }
    if schema.is_some() && !matches!(backend, Backend::Postgres(_)) {
        return Err("--schema (CHATHOOKS_POSTGRES_SCHEMA) applies to --postgres only".to_owned());
    }
    if !matches!(role.as_str(), "all" | "receiver" | "worker") {
        return Err(format!(
            "--role must be all, receiver or worker, not {role:?}"
        ));
    }
    let concurrency = concurrency
        .parse()
        .map_err(|_| "--concurrency (CHATHOOKS_CONCURRENCY) must be a number")?;
    let lease = lease
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=86_400).contains(s))
        .map(std::time::Duration::from_secs)
        .ok_or("--lease (CHATHOOKS_LEASE) must be whole seconds, 1 to 86400")?;
    Ok(Args {
        role,
        backend,
        concurrency,
        lease,
        prefix,
        schema,
        config_flags,
    })
}

/// Open the chosen inbox. Each backend beyond SQLite is compiled in only with its feature; a
/// build without it says which feature to add.
async fn open_inbox(args: &Args) -> Result<Arc<dyn Inbox>, Box<dyn std::error::Error>> {
    match &args.backend {
        Backend::Sqlite(path) => Ok(Arc::new(chathooks::inbox::SqliteInbox::open(path)?)),
        #[cfg(feature = "redis")]
        Backend::Redis(url) => {
            let mut inbox = chathooks::inbox::RedisInbox::connect(url)
                .await
                .map_err(|e| format!("--redis: {e}"))?;
            if let Some(p) = &args.prefix {
                inbox = inbox.with_prefix(p);
            }
            Ok(Arc::new(inbox))
        }
        #[cfg(not(feature = "redis"))]
        Backend::Redis(url) => {
            let _ = (url, &args.prefix);
            Err("--redis needs the redis feature: \
            cargo run --example inbox --features axum,sqlite,redis"
                .into())
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres(url) => {
            use chathooks::postgres::{PostgresInbox, PostgresPool};
            let mut options = PostgresPool::options(url).map_err(|e| format!("--postgres: {e}"))?;
            if let Some(s) = &args.schema {
                options = options.schema(s);
            }
            let pool = options
                .connect()
                .await
                .map_err(|e| format!("--postgres: {e}"))?;
            // Explicit, at startup, never on the hot path; safe from several processes.
            pool.migrate()
                .await
                .map_err(|e| format!("--postgres: migrate: {e}"))?;
            Ok(Arc::new(PostgresInbox::new(&pool)))
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres(url) => {
            let _ = (url, &args.schema);
            Err("--postgres needs the postgres feature: \
            cargo run --example inbox --features axum,sqlite,postgres"
                .into())
        }
    }
}

fn route<E: Payload>(receiver: Receiver<E>) -> axum::routing::MethodRouter {
    inbox_route(Arc::new(receiver))
}

fn router(c: &Config, inbox: &Arc<dyn Inbox>) -> Result<Router, Error> {
    let i = || inbox.clone();
    Ok(Router::new()
        .route(
            "/webhooks/sam",
            route(
                Receiver::<SamEvent>::builder(HmacSha256::sam(Secret::raw(&c.sam_secret.value)?))
                    .inbox_arc(i())
                    .build(),
            ),
        )
        .route(
            "/webhooks/saleassist",
            route(
                Receiver::<SaleAssistEvent>::builder(Token::new(
                    c.saleassist_header.clone(),
                    &c.saleassist_token.value,
                )?)
                .repair(true)
                .inbox_arc(i())
                .build(),
            ),
        )
        .route(
            "/webhooks/salesmartly",
            route(
                Receiver::<SaleSmartlyEvent>::builder(SaleSmartly::new(
                    &c.salesmartly_secret.value,
                )?)
                .inbox_arc(i())
                .build(),
            ),
        )
        .route(
            "/webhooks/buzzi",
            route(
                Receiver::<BuzziEvent>::builder(HmacSha256::buzzi(Secret::raw(
                    &c.buzzi_secret.value,
                )?))
                .inbox_arc(i())
                .build(),
            ),
        )
        .route(
            "/webhooks/conversalabs",
            route(
                Receiver::<ConversaLabsEvent>::builder(HmacSha256::conversalabs(Secret::raw(
                    &c.conversalabs_secret.value,
                )?))
                .inbox_arc(i())
                .build(),
            ),
        )
        .route(
            "/webhooks/standard",
            route(
                Receiver::<StandardEvent>::builder(StandardWebhooks::new(
                    &c.standard_secret.value,
                )?)
                .inbox_arc(i())
                .build(),
            ),
        ))
}

/// Print one line per handled delivery (the line an outside checker reads).
async fn print<E: VendorEvent>(job: Job<E>) -> Result<(), std::convert::Infallible> {
    println!(
        "handled delivery_id={} namespace={} entry={} attempt={} event={}",
        job.delivery_id(),
        job.entry().namespace,
        job.entry().id,
        job.attempt(),
        job.event().name()
    );
    Ok(())
}

fn worker(inbox: Arc<dyn Inbox>, concurrency: usize, lease: std::time::Duration) -> Worker {
    Worker::from_arc(inbox)
        .route::<SamEvent, _>(print::<SamEvent>)
        .route::<SaleAssistEvent, _>(print::<SaleAssistEvent>)
        .route::<SaleSmartlyEvent, _>(print::<SaleSmartlyEvent>)
        .route::<BuzziEvent, _>(print::<BuzziEvent>)
        .route::<ConversaLabsEvent, _>(print::<ConversaLabsEvent>)
        .route::<StandardEvent, _>(print::<StandardEvent>)
        .repair(true)
        .concurrency(concurrency)
        .lease(lease)
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The shared configuration's message, without the `error:` its `Display` adds for the
/// receiver examples (`main` adds its own).
fn config_message(e: demo::Exit) -> String {
    match e {
        demo::Exit::Config(m) => m,
        demo::Exit::Help => USAGE.to_owned(),
    }
}

/// Errors are printed as text (not `Debug`) and exit with status 2.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let args = args().map_err(|e| format!("{e}\n{USAGE}"))?;
    let inbox = open_inbox(&args).await?;
    let config = Config::from_env(args.config_flags.iter().cloned()).map_err(config_message)?;
    let work = (args.role != "receiver").then(|| {
        let w = worker(inbox.clone(), args.concurrency, args.lease);
        tokio::spawn(w.run(stop_signal()))
    });
    if args.role != "worker" {
        // Public demo secrets only on loopback (see the receiver example).
        config.check_safe().map_err(config_message)?;
        let app = router(&config, &inbox)?;
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        println!("chathooks inbox receiver on http://{addr}/webhooks/{{sam,saleassist,salesmartly,buzzi,conversalabs,standard}} -> {}", args.backend.describe());
        if std::env::var_os("CHATHOOKS_QUIET").is_none() {
            for demo in demos(&config, SystemTime::now())? {
                println!("# {}\n{}\n", demo.vendor, demo.curl(addr));
            }
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await?;
    } else {
        println!("chathooks inbox worker on {}", args.backend.describe());
    }
    if let Some(work) = work {
        let report = work.await?;
        eprintln!("worker stopped: {report:?}");
    }
    Ok(())
}
