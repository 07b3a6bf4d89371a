//! The `inbox` example's command line: `--help`, unknown flags, and demo secrets on an address
//! other machines can reach (refused unless `--allow-demo-secrets`), run as a real process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::crash::example_binary;
use super::sqlite::TempDir;

fn inbox(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(example_binary());
    cmd.args(args)
        .env_remove("CHATHOOKS_ADDR")
        .env_remove("PORT")
        .env_remove("CHATHOOKS_ALLOW_DEMO_SECRETS")
        .env_remove("CHATHOOKS_SQLITE")
        .env_remove("CHATHOOKS_REDIS")
        .env_remove("CHATHOOKS_POSTGRES")
        .envs(env.iter().copied());
    cmd
}

#[test]
fn help_prints_the_usage_and_unknown_flags_point_to_it() {
    let out = inbox(&["--help"], &[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for needle in [
        "usage: inbox",
        "--allow-demo-secrets",
        "STANDARD_WEBHOOKS_SECRET",
        "CHATHOOKS_REDIS",
        "handled delivery_id=",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }

    let out = inbox(&["--bogus"], &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr.starts_with("error: unexpected argument \"--bogus\" (try --help)\nusage: inbox"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn demo_secrets_on_all_interfaces_need_the_flag_the_refusal_names() {
    let dir = TempDir::new("example-cli");
    let db = dir.file("inbox.sqlite");
    let db = db.to_str().unwrap();
    let args = ["--role", "receiver", "--sqlite", db];

    let out = inbox(&args, &[("PORT", "0")]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0")
            && stderr.contains("--allow-demo-secrets"),
        "{stderr}"
    );

    // The flag the message names is taken: the receiver starts on every interface.
    let mut with_flag = args.to_vec();
    with_flag.push("--allow-demo-secrets");
    let mut child = inbox(&with_flag, &[("PORT", "0")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until the startup line, or until the process ends (its stdout closes).
    let started = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("chathooks inbox receiver on http://0.0.0.0:"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "no startup line on 0.0.0.0");
}
