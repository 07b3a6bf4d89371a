//! The durable inbox: a receiver for every vendor that stores each verified delivery in an
//! SQLite file and answers at once, and a worker that handles what is stored.
//!
//! ```text
//! cargo run --example inbox --features axum,sqlite                      # both, one process
//! cargo run --example inbox --features axum,sqlite -- --role receiver   # receive only
//! cargo run --example inbox --features axum,sqlite -- --role worker     # handle only
//! ```
//!
//! Flags (or environment variables):
//!
//! - `--role all|receiver|worker` (`CHATHOOKS_ROLE`, default `all`). Run several receivers and
//!   several workers against one SQLite file (WAL mode lets processes share it).
//! - `--sqlite PATH` (`CHATHOOKS_SQLITE`, default `chathooks-inbox.sqlite`).
//! - `--addr HOST:PORT` (`CHATHOOKS_ADDR`, or `PORT`; default `127.0.0.1:3000`).
//! - `--concurrency N` (`CHATHOOKS_CONCURRENCY`, default 16): handlers at once per worker.
//! - Secrets as in the `receiver` example (`STANDARD_WEBHOOKS_SECRET`, `SAM_SECRET`, …).
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

/// Command line and environment.
struct Args {
    role: String,
    sqlite: String,
    concurrency: usize,
    #[allow(dead_code)] // read by the backends behind features
    extra: Vec<(String, String)>,
}

fn args() -> Result<Args, String> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let mut a = Args {
        role: env("CHATHOOKS_ROLE", "all"),
        sqlite: env("CHATHOOKS_SQLITE", "chathooks-inbox.sqlite"),
        concurrency: env("CHATHOOKS_CONCURRENCY", "16")
            .parse()
            .map_err(|_| "CHATHOOKS_CONCURRENCY must be a number")?,
        extra: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--role" => a.role = value()?,
            "--sqlite" => a.sqlite = value()?,
            // Config::from_env reads the address; the flag overrides the environment.
            "--addr" => std::env::set_var("CHATHOOKS_ADDR", value()?),
            "--concurrency" => {
                a.concurrency = value()?
                    .parse()
                    .map_err(|_| "--concurrency must be a number")?
            }
            other if other.starts_with("--") => {
                let v = value()?;
                a.extra.push((other.to_owned(), v));
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if !matches!(a.role.as_str(), "all" | "receiver" | "worker") {
        return Err(format!(
            "--role must be all, receiver or worker, not {:?}",
            a.role
        ));
    }
    Ok(a)
}

/// The inbox backend. The Redis and Postgres backends add their flag here, each a few lines
/// under `#[cfg(feature = ...)]`.
fn open_inbox(args: &Args) -> Result<Arc<dyn Inbox>, Error> {
    Ok(Arc::new(chathooks::inbox::SqliteInbox::open(&args.sqlite)?))
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

fn worker(inbox: Arc<dyn Inbox>, concurrency: usize) -> Worker {
    Worker::from_arc(inbox)
        .route::<SamEvent, _>(print::<SamEvent>)
        .route::<SaleAssistEvent, _>(print::<SaleAssistEvent>)
        .route::<SaleSmartlyEvent, _>(print::<SaleSmartlyEvent>)
        .route::<BuzziEvent, _>(print::<BuzziEvent>)
        .route::<ConversaLabsEvent, _>(print::<ConversaLabsEvent>)
        .route::<StandardEvent, _>(print::<StandardEvent>)
        .repair(true)
        .concurrency(concurrency)
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args().map_err(|e| format!("{e}\nusage: inbox [--role all|receiver|worker] [--sqlite PATH] [--addr HOST:PORT] [--concurrency N]"))?;
    let inbox = open_inbox(&args)?;
    let config = Config::from_env(std::iter::empty()).map_err(|e| e.to_string())?;
    let work = (args.role != "receiver").then(|| {
        let w = worker(inbox.clone(), args.concurrency);
        tokio::spawn(w.run(stop_signal()))
    });
    if args.role != "worker" {
        // Public demo secrets only on loopback (see the receiver example).
        config.check_safe().map_err(|e| e.to_string())?;
        let app = router(&config, &inbox)?;
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        println!("chathooks inbox receiver on http://{addr}/webhooks/{{sam,saleassist,salesmartly,buzzi,conversalabs,standard}} -> {}", args.sqlite);
        if std::env::var_os("CHATHOOKS_QUIET").is_none() {
            for demo in demos(&config, SystemTime::now())? {
                println!("# {}\n{}\n", demo.vendor, demo.curl(addr));
            }
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await?;
    } else {
        println!("chathooks inbox worker on {}", args.sqlite);
    }
    if let Some(work) = work {
        let report = work.await?;
        eprintln!("worker stopped: {report:?}");
    }
    Ok(())
}
