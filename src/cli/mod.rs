//! The `chathooks` command-line tool (feature `cli`): the implementation behind
//! `src/bin/chathooks.rs`. Not a stable API; use the binary.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

/// `println!` for the commands: a closed pipe (`chathooks … | head -1`) ends the process quietly
/// with status 0, as it would end a C tool by SIGPIPE, instead of panicking with status 101.
macro_rules! outln {
    () => { $crate::cli::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

pub mod capture;
pub mod doctor;
pub mod inbox;
pub mod listen;
pub mod parse;
pub mod send;
pub mod vendors;
pub mod verify;

const EXIT_CODES: &str = "\
Exit status:
  0  ok (matched, verified, parsed, delivered)
  1  the check failed (no match, not verified, not parseable, not delivered)
  2  usage or input error (bad flag, missing or unreadable file, not a capture, unknown vendor)

Colours only on a terminal, never with NO_COLOR set. CAPTURE is a JSON capture or a raw HTTP/1.1
request file; `-` reads standard input.";

/// Debug webhooks: find why a delivery does not verify, verify, parse, send, capture, replay.
#[derive(Parser)]
#[command(name = "chathooks", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Print one JSON object on stdout (for scripts) instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Try every scheme and variant on a captured request and name the verifier that matches,
    /// or explain the closest miss.
    #[command(after_help = EXIT_CODES)]
    Doctor(DoctorArgs),
    /// Check a captured request with a vendor's preset verifier.
    #[command(after_help = EXIT_CODES)]
    Verify(verify::VerifyArgs),
    /// Parse a body (or a capture's body) as a vendor's typed event and its normalised form.
    #[command(after_help = EXIT_CODES)]
    Parse(parse::ParseArgs),
    /// Send realistic, correctly signed sample deliveries to a URL.
    #[command(after_help = EXIT_CODES)]
    Send(send::SendArgs),
    /// Run a local capture server: one line per request, optionally saving and forwarding.
    #[command(after_help = EXIT_CODES)]
    Listen(listen::ListenArgs),
    /// Send captured requests again, byte for byte or re-signed.
    #[command(after_help = EXIT_CODES)]
    Replay(listen::ReplayArgs),
    /// Inspect and manage a durable inbox.
    #[command(after_help = EXIT_CODES)]
    Inbox(inbox::InboxArgs),
}

#[derive(Args)]
struct DoctorArgs {
    /// The secret as the dashboard shows it (repeat for several); every decoding is tried.
    #[arg(
        long = "secret",
        value_name = "S",
        env = "CHATHOOKS_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<String>,
    #[command(flatten)]
    secret_files: SecretFiles,
    /// A Standard Webhooks Ed25519 public key (`whpk_…`), to check v1a signatures.
    #[arg(long = "public-key", value_name = "KEY")]
    public_keys: Vec<String>,
    /// Check timestamps as of this time instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
    /// Timestamp tolerance in seconds, both directions.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    tolerance: u64,
    /// The captured request.
    #[arg(value_name = "CAPTURE")]
    capture: String,
}

/// `--secret-file PATH` for every command that takes `--secret`: a secret on the command line
/// shows in the process list and the shell's history, one in a file (a mounted secret, a
/// `0600` file) does not.
#[derive(Args, Debug, Default)]
pub struct SecretFiles {
    /// Read a secret from this file: its whole content, one trailing newline dropped (repeat
    /// for several, in the order --secret would take them). Not with --secret; takes the
    /// place of CHATHOOKS_SECRET.
    // Not clap's `conflicts_with`: clap counts a value from CHATHOOKS_SECRET as given, and an
    // exported variable would then refuse every --secret-file.
    #[arg(id = "secret_file", long = "secret-file", value_name = "PATH")]
    paths: Vec<PathBuf>,
}

impl SecretFiles {
    /// Replace `secrets` with the files' contents when --secret-file was given. Errors name
    /// the file and why it cannot be used, never what it holds.
    pub fn fill(&self, secrets: &mut Vec<String>) -> Result<(), Failure> {
        if !self.paths.is_empty() {
            let from_env = std::env::var("CHATHOOKS_SECRET").ok();
            if !secrets.is_empty() && secrets[..] != from_env.as_slice()[..] {
                return Err(Failure::Input(
                    "--secret-file cannot be used with --secret".into(),
                ));
            }
            *secrets = self
                .paths
                .iter()
                .map(|p| read_secret_file(p))
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }
}

fn read_secret_file(path: &Path) -> Result<String, Failure> {
    let bad = |why: &str| Failure::Input(format!("--secret-file `{}`: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(&capture::io_reason(&e)))?;
    let mut secret = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
    // `echo "$SECRET" > file` and editors end the file with a newline that is not part of it.
    if secret.ends_with('\n') {
        secret.pop();
        if secret.ends_with('\r') {
            secret.pop();
        }
    }
    if secret.is_empty() {
        return Err(bad("empty"));
    }
    Ok(secret)
}

/// `Debug` for argument structs that may hold secrets or credentials: the type name only.
macro_rules! opaque_debug {
    ($($ty:ty),*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    )*};
}
pub(crate) use opaque_debug;

opaque_debug!(Cli);

/// How a command ended.
#[derive(Debug)]
pub enum Failure {
    /// The check failed (exit 1); the output was already printed.
    Check,
    /// Usage or input error (exit 2), with its one-line reason.
    Input(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Input(e.to_string())
    }
}

/// Result of a command.
pub type Outcome = Result<(), Failure>;

/// Output settings shared by the commands.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`.
    pub json: bool,
    /// Colours on stdout.
    pub color: bool,
}

impl Out {
    fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Out {
            json,
            color: !json && !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// `text` in green (ok), when colours are on.
    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    /// `text` in red (failure), when colours are on.
    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    /// `text` in yellow (warning), when colours are on.
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// `text` dimmed, when colours are on.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Print one JSON object on stdout.
    pub fn print_json(&self, v: &serde_json::Value) {
        write_stdout(format_args!("{v}\n"));
    }
}

/// Write to stdout. The reader going away (`EPIPE`) exits 0: there is no one left to tell, and
/// the command's remaining output is unwanted. Other write errors (a full disk behind a
/// redirect) exit 2 with the reason on stderr, rather than being dropped silently.
#[doc(hidden)]
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(2);
    }
}

/// Whether colours are allowed on stderr.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Whether stderr is a terminal (for progress bars).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `url` for output: credentials (`https://user:pass@host`) removed, as the sender's
/// `Endpoint::url_for_logs` does; text that is not a URL is shown as it is.
pub fn url_for_output(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            crate::sender::without_userinfo(&u)
        }
        _ => url.to_owned(),
    }
}

/// Check that `url` (given with `flag`) is an http or https URL: anything else is an input
/// error before any request, not a failure per delivery.
pub fn check_http_url(flag: &str, url: &str) -> Result<(), Failure> {
    let u = reqwest::Url::parse(url).map_err(|e| Failure::Input(format!("{flag}: {e}")))?;
    match u.scheme() {
        "http" | "https" => Ok(()),
        other => Err(Failure::Input(format!(
            "{flag}: `{other}:` URLs cannot receive webhooks (use http or https)"
        ))),
    }
}

/// The latest `--at` accepted: 9999-12-31T23:59:59Z. Later values are input errors rather than
/// times no verifier can represent (`--at 18446744073709551615` used to panic).
const MAX_AT: u64 = 253_402_300_799;

/// `--at UNIX_SECONDS` (or now) as seconds, at most the year 9999.
pub fn at_secs(at: Option<u64>) -> Result<u64, Failure> {
    match at {
        Some(s) if s > MAX_AT => Err(Failure::Input(format!(
            "--at {s} is after the year 9999 (at most {MAX_AT})"
        ))),
        Some(s) => Ok(s),
        None => Ok(now_secs()),
    }
}

/// Run the tool with the process's arguments; returns the exit status.
pub fn main() -> i32 {
    run(std::env::args_os())
}

/// Run the tool with these arguments (the first is the program name); returns the exit status.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            // Scripts that asked for JSON get the usage error as JSON too (`--json` is global,
            // so it may stand anywhere; `--` ends the options).
            let json = args
                .iter()
                .skip(1)
                .take_while(|a| *a != "--")
                .any(|a| a == "--json");
            if code == 2 && json {
                let text = e.render().to_string();
                let reason = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                Out::new(true).print_json(&serde_json::json!({ "error": reason }));
            }
            let _ = e.print();
            return code;
        }
    };
    let out = Out::new(cli.json);
    let result = match cli.command {
        Command::Doctor(a) => doctor_cmd(a, out),
        Command::Verify(a) => verify::run(a, out),
        Command::Parse(a) => parse::run(a, out),
        Command::Send(a) => send::run(a, out),
        Command::Listen(a) => listen::run_listen(a, out),
        Command::Replay(a) => listen::run_replay(a, out),
        Command::Inbox(a) => inbox::run(a, out),
    };
    match result {
        Ok(()) => 0,
        Err(Failure::Check) => 1,
        Err(Failure::Input(reason)) => {
            // One line, whatever the reason carried.
            let reason = reason.replace('\n', " ");
            if out.json {
                out.print_json(&serde_json::json!({ "error": reason }));
            }
            let prefix = if stderr_color() {
                "\x1b[31merror:\x1b[0m"
            } else {
                "error:"
            };
            eprintln!("{prefix} {reason}");
            2
        }
    }
}

fn doctor_cmd(mut a: DoctorArgs, out: Out) -> Outcome {
    a.secret_files.fill(&mut a.secrets)?;
    if a.secrets.is_empty() && a.public_keys.is_empty() {
        return Err(Failure::Input(
            "doctor needs --secret S (or --public-key KEY for v1a)".into(),
        ));
    }
    if a.secrets.iter().any(|s| s.is_empty()) {
        return Err(Failure::Input(
            "--secret is empty (an unset variable in `--secret \"$SECRET\"`?)".into(),
        ));
    }
    if a.secrets.len() > doctor::MAX_SECRETS {
        return Err(Failure::Input(format!(
            "at most {} secrets",
            doctor::MAX_SECRETS
        )));
    }
    let capture = capture::load(&a.capture)?;
    let opts = doctor::Options {
        secrets: a.secrets,
        public_keys: a.public_keys,
        at: at_secs(a.at)?,
        tolerance: a.tolerance,
        near_misses: true,
    };
    let report = doctor::diagnose(&capture, &opts).map_err(Failure::Input)?;
    if out.json {
        out.print_json(&report.to_json());
    } else {
        // The secret and scheme are found, but chathooks' verifier as emitted refuses the
        // capture (a millisecond timestamp): not a plain success.
        let rejected = report.matched && !report.confirmed;
        let head = if rejected && report.rust.is_none() {
            // Nothing is printed below to do the rejecting (a base64url signature).
            out.warn("✓ match, but no built-in verifier takes it as sent (see the notes)")
        } else if rejected {
            out.warn("✓ match, but the verifier below rejects it as sent (see the notes)")
        } else if report.matched {
            out.good("✓ match")
        } else if report.near_miss.is_some() {
            out.bad("✗ near miss")
        } else {
            out.bad("✗ no match")
        };
        outln!("{head}  {}", report.explanation);
        for n in &report.notes {
            outln!("  {} {n}", out.warn("note:"));
        }
        if let Some(code) = &report.rust {
            outln!(
                "\n{}",
                out.dim(if rejected {
                    "Closest verifier, which rejects this capture until the notes are addressed (Rust):"
                } else if report.matched {
                    "Verifier to use (Rust):"
                } else {
                    "Verifier for this sender, once the problem above is fixed (Rust):"
                })
            );
            for line in code.lines() {
                outln!("    {line}");
            }
        }
        outln!(
            "\n{}",
            out.dim(&format!(
                "{} MACs over {} candidate signature(s) in {:.1} ms",
                report.macs,
                report.candidates,
                report.elapsed.as_secs_f64() * 1000.0
            ))
        );
    }
    if report.matched {
        Ok(())
    } else {
        Err(Failure::Check)
    }
}

/// Create `dir` (and its parents) readable by this user only where it is new: captures hold
/// every header, the `Authorization` and SaleAssist's token (the secret itself) included.
pub(crate) fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Write `bytes` to a new file at `path` readable by this user only (see [`private_dir`]).
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let cli = Cli::try_parse_from([
            "chathooks",
            "listen",
            "--vendor",
            "sam",
            "--secret",
            "super-secret-value-0123",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("super-secret"));
        let opts = doctor::Options {
            secrets: vec!["super-secret-value-0123".into()],
            public_keys: Vec::new(),
            at: 0,
            tolerance: 300,
            near_misses: true,
        };
        assert!(!format!("{opts:?}").contains("super-secret"));
    }
}
