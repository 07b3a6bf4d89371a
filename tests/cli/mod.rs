//! The `chathooks` binary, run as a real process on real capture files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

mod capture_props;
mod commands;
mod doctor;
#[cfg(feature = "sqlite")]
mod inbox;
mod roundtrip;

/// The built binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chathooks")
}

/// What a run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as one JSON object.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Run the binary with `args` and `stdin`.
pub fn run_with(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chathooks");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for chathooks");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked"),
        "chathooks panicked: {}",
        r.stderr
    );
    r
}

/// Run the binary with `args`.
pub fn run(args: &[&str]) -> Run {
    run_with(args, b"")
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "chathooks-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `bytes` to `name` inside; returns the path as text.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// A JSON capture.
pub fn capture(headers: &[(&str, &str)], query: Option<&str>, body: &[u8]) -> Vec<u8> {
    json!({
        "method": "POST",
        "path": "/hook",
        "query": query,
        "headers": headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
        "body_base64": b64(body),
    })
    .to_string()
    .into_bytes()
}

#[test]
fn help_exits_zero_everywhere_and_documents_exit_codes() {
    for cmd in [
        vec!["--help"],
        vec!["doctor", "--help"],
        vec!["verify", "--help"],
        vec!["parse", "--help"],
        vec!["send", "--help"],
        vec!["listen", "--help"],
        vec!["replay", "--help"],
        vec!["inbox", "--help"],
        vec!["inbox", "stats", "--help"],
        vec!["inbox", "ls", "--help"],
        vec!["inbox", "show", "--help"],
        vec!["inbox", "retry", "--help"],
        vec!["inbox", "purge", "--help"],
        vec!["help", "doctor"],
    ] {
        let r = run(&cmd);
        assert_eq!(r.code, 0, "{cmd:?}: {}", r.stderr);
        assert!(r.stdout.contains("Usage"), "{cmd:?}: {}", r.stdout);
        // Every command's own help, the inbox subcommands' included.
        if cmd[0] != "help" {
            assert!(
                r.stdout.contains("2  usage or input error"),
                "{cmd:?} documents the exit codes"
            );
        }
        assert!(!r.stdout.contains('\x1b'), "no colour with NO_COLOR");
    }
    assert_eq!(run(&["--version"]).code, 0);
}
