//! Redis for the tests: `REDIS_URL`, or a throwaway `redis-server` this test binary starts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{env_url, free_port, in_ci, installed, loud, scratch_dir, spawn_tied_to_this_process};

/// The Redis URL for `test`: `REDIS_URL` when set; else a server of this test binary's own
/// (started on first use, on a free loopback port, stopped at exit) when `redis-server` is on
/// PATH; else `None` after a loud SKIPPED line. Under `CI=true` a missing Redis fails the test.
pub fn url(test: &str) -> Option<String> {
    if let Some(url) = env_url("REDIS_URL") {
        return Some(url);
    }
    static OWN: OnceLock<Option<String>> = OnceLock::new();
    let own = OWN.get_or_init(start).clone();
    if own.is_none() {
        assert!(
            !in_ci(),
            "{test}: REDIS_URL is not set, redis-server is not on PATH, and CI=true: Redis \
             tests must run in CI (`apt-get install redis-server`, or set REDIS_URL)"
        );
        loud(&format!(
            "SKIPPED {test}: REDIS_URL is not set and redis-server is not on PATH \
             (`apt-get install redis-server`, or set REDIS_URL)"
        ));
    }
    own
}

/// Start a private `redis-server` (no persistence, loopback only) and wait until it answers.
// The watchdog child is never waited for on success: it runs as long as this test process and
// stops the server when the process is gone.
#[allow(clippy::zombie_processes)]
fn start() -> Option<String> {
    if !installed("redis-server") {
        return None;
    }
    let dir = scratch_dir("redis");
    // The port is free when picked, but another process may take it before the server binds:
    // try a few.
    for _ in 0..3 {
        let port = free_port();
        let args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.display().to_string()])
        .collect();
        let log = dir.join(format!("redis-{port}.log"));
        let mut child = spawn_tied_to_this_process("redis-server", &args, &log);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if pings(port) {
                eprintln!(
                    "tests: started redis-server on 127.0.0.1:{port} (log {})",
                    log.display()
                );
                return Some(format!("redis://127.0.0.1:{port}/"));
            }
            if child.try_wait().ok().flatten().is_some() {
                break; // exited: most likely the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "redis-server is installed but did not start; see the logs under {}",
        dir.display()
    );
}

fn pings(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A `redis-server` child of a test's own on a loopback port (outage and crash tests kill and
/// restart it), killed when dropped.
pub struct Server {
    port: u16,
    /// With an append-only file here (removed on drop), so that what the server acknowledged
    /// survives a kill and restart; `None`: no persistence.
    dir: Option<std::path::PathBuf>,
    child: Option<std::process::Child>,
}

impl Server {
    /// No persistence.
    pub fn start(port: u16) -> Server {
        Server::spawn(port, None)
    }

    /// An append-only file in `dir`, fsynced on every write.
    pub fn durable(port: u16, dir: std::path::PathBuf) -> Server {
        std::fs::create_dir_all(&dir).unwrap();
        Server::spawn(port, Some(dir))
    }

    fn spawn(port: u16, dir: Option<std::path::PathBuf>) -> Server {
        use std::process::{Command, Stdio};
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", ""]);
        match &dir {
            Some(dir) => cmd
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir),
            None => cmd.args(["--appendonly", "no"]),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is on PATH (run `source .ci/services.sh`)");
        let server = Server {
            port,
            dir,
            child: Some(child),
        };
        let start = Instant::now();
        while !pings(port) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// SIGKILL: no shutdown save; with [`durable`](Self::durable), only what the append-only
    /// file already holds survives.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kill it and start it again on the same port (and directory).
    pub fn restart(&mut self) {
        self.kill();
        *self = Server::spawn(self.port, self.dir.take());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
