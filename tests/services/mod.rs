//! Throwaway servers for the tests that need a real Redis (and, beside this file, Postgres).
//!
//! Each service module reads its URL from the environment (`REDIS_URL`, `DATABASE_URL`). When
//! the variable is unset and the server binary is installed, the first test that asks starts a
//! private server on a free loopback port, shared by every test of this binary and stopped
//! when the binary exits (a watchdog shell stops it within a second of the test process going
//! away, even after a SIGKILL). Without either, the test prints a loud SKIPPED line, and under
//! `CI=true` it fails instead. Install the servers with `apt-get install redis-server postgresql`.

#![allow(dead_code)]

pub mod redis;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Print past the test harness's output capture, so a skip shows even when the test passes.
pub fn loud(message: &str) {
    let _ = writeln!(std::io::stderr(), "\n********** {message} **********\n");
}

/// `true` under `CI=true`, where a missing service is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The variable's value when set and not empty.
pub fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `true` when `program --version` runs.
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback port nobody listens on right now (the caller retries if it is taken meanwhile).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A private scratch directory for one server of this test process.
pub fn scratch_dir(service: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chathooks-test-{service}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Run `program args…` in the foreground of a watchdog shell that stops it as soon as this
/// test process is gone (statics are never dropped, so nothing else would stop it), or when
/// the server exits on its own.
pub fn spawn_tied_to_this_process(program: &str, args: &[String], log: &std::path::Path) -> Child {
    const WATCHDOG: &str = r#"parent=$1; shift
"$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill "$child" 2>/dev/null
wait "$child" 2>/dev/null"#;
    let log = std::fs::File::create(log).expect("server log file");
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("chathooks-test-watchdog")
        .arg(std::process::id().to_string())
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}
