//! verify, parse, send --print, and bad input everywhere: exit 2 with a one-line reason.

use serde_json::Value;

use super::{capture, hmac256, run, run_with, TempDir};

const SAM_SECRET: &str = "sam-demo-secret-0123456789";

fn assert_input_error(args: &[&str], stdin: &[u8], what: &str) {
    let r = run_with(args, stdin);
    assert_eq!(
        r.code, 2,
        "{what}: {args:?}\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    let lines: Vec<&str> = r.stderr.trim_end().lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line, got {:?}", r.stderr);
    assert!(lines[0].starts_with("error:"), "{what}: {}", lines[0]);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = TempDir::new("bad");
    let non_utf8 = dir.file("binary.json", b"{\"headers\":[],\"body\":\"\xff\xfe\"}");
    let garbage = dir.file("garbage", b"\xff\xfe\x00\x01 not a capture\n\n");
    let truncated = dir.file(
        "truncated.http",
        b"POST /hook HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"event\":",
    );
    let no_head_end = dir.file("nohead.http", b"POST /hook HTTP/1.1\r\nX-A: b");
    let body = dir.file("body.json", b"{\"event\":\"lead.captured\"}");
    let cap = dir.file(
        "cap.json",
        &capture(&[("X-Sam-Signature", "00")], None, b"{}"),
    );
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    for (args, what) in [
        (
            vec!["doctor", "--secret", SAM_SECRET, missing],
            "missing file",
        ),
        (
            vec!["doctor", "--secret", SAM_SECRET, &non_utf8],
            "non-UTF-8 JSON capture",
        ),
        (
            vec!["doctor", "--secret", SAM_SECRET, &garbage],
            "not a capture",
        ),
        (
            vec!["doctor", "--secret", SAM_SECRET, &truncated],
            "truncated capture",
        ),
        (
            vec!["doctor", "--secret", SAM_SECRET, &no_head_end],
            "truncated head",
        ),
        (
            vec!["verify", "--vendor", "nope", "--secret", SAM_SECRET, &cap],
            "unknown vendor",
        ),
        (
            vec!["verify", "--vendor", "sam", "--secret", SAM_SECRET, missing],
            "missing file",
        ),
        (
            vec![
                "verify", "--vendor", "sam", "--secret", SAM_SECRET, &truncated,
            ],
            "truncated",
        ),
        (
            vec!["verify", "--vendor", "sam", "--secret", "short", &cap],
            "short secret",
        ),
        (vec!["parse", "--vendor", "nope", &body], "unknown vendor"),
        (vec!["parse", "--vendor", "sam", missing], "missing file"),
        (vec!["parse", "--vendor", "sam", &garbage], "non-UTF-8 body"),
        (
            vec!["send", "--vendor", "nope", "--print"],
            "unknown vendor",
        ),
        (
            vec!["send", "--vendor", "sam", "--event", "no.such", "--print"],
            "unknown event",
        ),
        (
            vec!["replay", "--to", "http://127.0.0.1:9/", missing],
            "missing file",
        ),
        (vec!["doctor", &cap], "no secret"),
        (vec!["doctor", "--secret", "", &cap], "empty secret"),
        (
            vec![
                "doctor",
                "--secret",
                SAM_SECRET,
                "--at",
                "18446744073709551615",
                &cap,
            ],
            "--at beyond any time",
        ),
        (
            vec![
                "verify",
                "--vendor",
                "sam",
                "--secret",
                SAM_SECRET,
                "--at",
                "18446744073709551615",
                &cap,
            ],
            "--at beyond any time",
        ),
        (
            vec![
                "verify",
                "--vendor",
                "saleassist",
                "--token-header",
                "bad header",
                "--secret",
                SAM_SECRET,
                &cap,
            ],
            "bad token header",
        ),
        (
            vec![
                "send",
                "--vendor",
                "sam",
                "--secret",
                SAM_SECRET,
                "--url",
                "ftp://127.0.0.1/hook",
            ],
            "not an http URL",
        ),
        (
            vec!["replay", "--to", "ftp://127.0.0.1/", &cap],
            "not an http URL",
        ),
        (vec!["doctor", "--no-such-flag", &cap], "unknown flag"),
        (vec!["inbox", "stats"], "no backend"),
        (
            vec!["inbox", "purge", "--older-than", "7x", "--sqlite", "x.db"],
            "bad duration",
        ),
    ] {
        // clap's own usage errors print more than one line; they still exit 2.
        if what == "unknown flag" || what == "bad duration" {
            assert_eq!(run(&args).code, 2, "{what}");
            continue;
        }
        assert_input_error(&args, b"", what);
        let stderr = run(&args).stderr;
        match what {
            "bad token header" => assert!(stderr.contains("--token-header"), "{stderr}"),
            "not an http URL" => assert!(stderr.contains("use http or https"), "{stderr}"),
            "--at beyond any time" => assert!(stderr.contains("--at"), "{stderr}"),
            _ => {}
        }
    }
    // Standard input: empty, and not a capture.
    assert_input_error(&["doctor", "--secret", SAM_SECRET, "-"], b"", "empty stdin");
    assert_input_error(
        &["doctor", "--secret", SAM_SECRET, "-"],
        b"\xc3\x28",
        "binary stdin",
    );
    // --json still prints one JSON object, with the reason.
    let r = run(&["doctor", "--json", "--secret", SAM_SECRET, missing]);
    assert_eq!(r.code, 2);
    assert!(r.json()["error"].as_str().unwrap().contains("no such file"));
    // Usage errors too, wherever --json stands.
    for args in [
        &["doctor", "--json", "--no-such-flag", &cap][..],
        &["--json", "verify", "--vendor", "sam", &cap],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(!r.json()["error"].as_str().unwrap().is_empty(), "{args:?}");
    }
}

/// `chathooks … | head -1`: the reader goes away; the command ends quietly with status 0
/// instead of panicking on the broken pipe.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::io::Read as _;
    let mut child = std::process::Command::new(super::bin())
        .args(["send", "--vendor", "sam", "--print", "--count", "2000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn verify_reports_the_presets_verdict() {
    let dir = TempDir::new("verify");
    let body = br#"{"event":"lead.captured","id":"evt_1","data":{"name":"A"}}"#;
    let sig = hex::encode(hmac256(SAM_SECRET.as_bytes(), &[body]));
    let good = dir.file(
        "good.json",
        &capture(&[("X-Sam-Signature", &sig)], None, body),
    );
    let r = run(&[
        "verify", "--json", "--vendor", "sam", "--secret", SAM_SECRET, &good,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["verified"], true);
    assert_eq!(v["scheme"], "sam");
    assert_eq!(v["key_index"], 0);

    let r = run(&[
        "verify",
        "--json",
        "--vendor",
        "sam",
        "--secret",
        "another-secret-0123456789",
        &good,
    ]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["status"], 401);
    assert!(
        v["error"].as_str().unwrap().contains("x-sam-signature")
            || v["error"].as_str().unwrap().contains("X-Sam-Signature")
    );

    let unsigned = dir.file("unsigned.json", &capture(&[], None, body));
    let r = run(&[
        "verify", "--vendor", "sam", "--secret", SAM_SECRET, &unsigned,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("missing header") && r.stdout.contains("HTTP 400"),
        "{}",
        r.stdout
    );
}

#[test]
fn parse_every_fixture() {
    let mut seen = 0;
    for vendor_dir in std::fs::read_dir("tests/fixtures").unwrap() {
        let vendor_dir = vendor_dir.unwrap().path();
        let vendor = vendor_dir.file_name().unwrap().to_str().unwrap().to_owned();
        for f in std::fs::read_dir(&vendor_dir).unwrap() {
            let f = f.unwrap().path();
            let path = f.to_str().unwrap();
            seen += 1;
            let r = run(&["parse", "--json", "--vendor", &vendor, path]);
            if f.file_name().unwrap().to_str().unwrap().contains("broken") {
                // Malformed on purpose: the JSON path and the line with a caret, then repair.
                assert_eq!(r.code, 1, "{path}");
                let v = r.json();
                assert_eq!(v["ok"], false);
                assert!(
                    v["line"].as_u64().is_some() && v["caret"].as_str().unwrap().ends_with('^')
                );
                assert!(v["hint"].as_str().unwrap().contains("--repair"));
                let human = run(&["parse", "--vendor", &vendor, path]);
                assert!(human.stdout.contains("^") && human.stdout.contains("--> line"));
                let r = run(&["parse", "--json", "--repair", "--vendor", &vendor, path]);
                assert_eq!(r.code, 0, "{path}: {}", r.stdout);
                let v = r.json();
                assert!(!v["fixes"].as_array().unwrap().is_empty());
                assert_eq!(v["repaired"], true);
                continue;
            }
            assert_eq!(r.code, 0, "{path}: {}{}", r.stdout, r.stderr);
            let v = r.json();
            assert_eq!(v["ok"], true);
            assert_eq!(v["vendor"], vendor);
            assert!(v["event"].is_string(), "{path}");
            assert!(v["typed"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(v["normalized"]["kind"].is_string() || v["normalized"]["kind"].is_object());
        }
    }
    assert!(seen >= 50, "only {seen} fixtures");
}

#[test]
fn parse_points_at_the_bad_field() {
    let dir = TempDir::new("parse");
    // A type error deep in the body: the path names it and the caret sits on its line.
    let body = "{\n  \"event\": \"lead.captured\",\n  \"data\": {\n    \"email\": [1, 2]\n  }\n}\n";
    let r = run_with(
        &["parse", "--json", "--vendor", "sam", "-"],
        body.as_bytes(),
    );
    if r.code == 1 {
        let v = r.json();
        assert!(v["path"].as_str().unwrap().contains("data"), "{v:#}");
        assert!(v["line"].as_u64().unwrap() >= 3);
    } else {
        // The lenient parser accepts it: then it parsed from stdin.
        assert_eq!(r.code, 0, "{}", r.stdout);
    }
    // Syntax error: missing comma, with --repair listing the fix.
    let broken = "{\"event\": \"lead.captured\"\n \"data\": {}}";
    let f = dir.file("broken.json", broken.as_bytes());
    let r = run(&["parse", "--json", "--vendor", "sam", &f]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(v["line"], 2);
    assert_eq!(v["excerpt"], " \"data\": {}}");
    assert_eq!(v["caret"], " ^");
    let r = run(&["parse", "--vendor", "sam", "--repair", &f]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("inserted a missing comma"),
        "{}",
        r.stdout
    );
}

#[test]
fn send_print_shows_curl_and_a_capture_that_verifies() {
    let dir = TempDir::new("print");
    for (vendor, secret) in [
        ("sam", SAM_SECRET),
        ("standard", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        ("salesmartly", "salesmartly-demo-key-0123456789"),
        ("conversalabs", "conversalabs-demo-secret-0123456789"),
        ("saleassist", "saleassist-demo-token-0123456789"),
        ("buzzi", "buzzi-demo-secret-0123456789"),
    ] {
        // No --secret: the demo secret of examples/send.rs.
        let r = run(&["send", "--json", "--vendor", vendor, "--print"]);
        assert_eq!(r.code, 0, "{vendor}: {}", r.stderr);
        let v = r.json();
        let reqs = v["requests"].as_array().unwrap();
        assert!(!reqs.is_empty());
        for (i, req) in reqs.iter().enumerate() {
            assert!(req["curl"].as_str().unwrap().starts_with("curl "));
            let cap = dir.file(
                &format!("{vendor}-{i}.json"),
                req["capture"].to_string().as_bytes(),
            );
            let r = run(&["verify", "--vendor", vendor, "--secret", secret, &cap]);
            assert_eq!(r.code, 0, "{vendor} #{i}: {}", r.stdout);
        }
    }
    // The vendor is `standard`, in --list too.
    let r = run(&["send", "--list"]);
    assert!(r.stdout.contains("standard:") && !r.stdout.contains("standard_webhooks"));
    let v: Value = run(&["send", "--list", "--json"]).json();
    assert!(v["vendors"]["standard"].is_array());
}

/// `--secret-file PATH`: the secret read from a file (one trailing newline dropped), on every
/// command that takes `--secret`; not with `--secret`; a file that cannot be used is named
/// in the error, its content never shown.
#[test]
fn secret_file_reads_the_secret_and_never_prints_it() {
    let dir = TempDir::new("secret-file");
    let body = br#"{"event":"lead.captured","id":"evt_1","data":{"name":"A"}}"#;
    let sig = hex::encode(hmac256(SAM_SECRET.as_bytes(), &[body]));
    let good = dir.file(
        "good.json",
        &capture(&[("X-Sam-Signature", &sig)], None, body),
    );
    for (name, content) in [
        ("lf", format!("{SAM_SECRET}\n")),
        ("crlf", format!("{SAM_SECRET}\r\n")),
        ("bare", SAM_SECRET.to_owned()),
    ] {
        let file = dir.file(name, content.as_bytes());
        let r = run(&[
            "verify",
            "--json",
            "--vendor",
            "sam",
            "--secret-file",
            &file,
            &good,
        ]);
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.json()["verified"], true, "{name}");
    }
    let file = dir.file("secret", format!("{SAM_SECRET}\n").as_bytes());
    let r = run(&["doctor", "--json", "--secret-file", &file, &good]);
    assert_eq!(r.code, 0, "doctor: {}{}", r.stdout, r.stderr);

    // A wrong secret from a file fails the check without showing the file's content.
    let wrong = dir.file("wrong", b"wrong-secret-from-a-file-0123\n");
    let r = run(&["verify", "--vendor", "sam", "--secret-file", &wrong, &good]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!format!("{}{}", r.stdout, r.stderr).contains("wrong-secret-from-a-file"));

    let r = run(&[
        "verify",
        "--vendor",
        "sam",
        "--secret",
        SAM_SECRET,
        "--secret-file",
        &file,
        &good,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);

    // An exported CHATHOOKS_SECRET gives way to the file rather than conflicting with it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chathooks"))
        .args(["verify", "--vendor", "sam", "--secret-file", &file, &good])
        .env("CHATHOOKS_SECRET", "another-secret-0123456789")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let missing = dir.path().join("no-such-secret");
    let missing = missing.to_str().unwrap();
    let empty = dir.file("empty", b"\n");
    let binary = dir.file("binary", b"\xff\xfe-not-text-\x00");
    for (path, why) in [
        (missing, "no such file"),
        (empty.as_str(), "empty"),
        (binary.as_str(), "not UTF-8 text"),
    ] {
        let expected = format!("--secret-file `{path}`: {why}");
        for cmd in [
            &["verify", "--vendor", "sam", "--secret-file", path, &good][..],
            &["doctor", "--secret-file", path, &good],
            &["send", "--vendor", "sam", "--print", "--secret-file", path],
            &[
                "listen",
                "--vendor",
                "sam",
                "--secret-file",
                path,
                "--addr",
                "127.0.0.1:0",
            ],
            &[
                "replay",
                "--to",
                "http://127.0.0.1:9/",
                "--secret-file",
                path,
                &good,
            ],
        ] {
            let r = run(cmd);
            assert_eq!(r.code, 2, "{cmd:?}: {}{}", r.stdout, r.stderr);
            assert!(r.stderr.contains(&expected), "{cmd:?}: {}", r.stderr);
            assert!(!r.stderr.contains("not-text"), "{cmd:?}: {}", r.stderr);
        }
    }
}

/// A leading UTF-8 byte-order mark (Windows editors, PowerShell) is skipped: a JSON capture
/// with one is read by every command, and so is a body given to `parse`. Before, the capture
/// was refused as a "truncated capture" and the body as "expected value at line 1 column 1".
#[test]
fn a_utf8_bom_before_a_capture_or_a_parse_input_is_skipped() {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    let dir = TempDir::new("bom");
    let body = std::fs::read("tests/fixtures/sam/lead_captured.json").unwrap();
    let sig = hex::encode(hmac256(SAM_SECRET.as_bytes(), &[&body]));
    let cap = [BOM, &capture(&[("X-Sam-Signature", &sig)], None, &body)[..]].concat();
    let cap = dir.file("bom.json", &cap);
    let r = run(&["doctor", "--json", "--secret", SAM_SECRET, &cap]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["preset"], "sam");
    let r = run(&["verify", "--vendor", "sam", "--secret", SAM_SECRET, &cap]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(&["parse", "--json", "--vendor", "sam", &cap]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let plain = dir.file("bom_body.json", &[BOM, &body[..]].concat());
    let r = run(&["parse", "--json", "--vendor", "sam", &plain]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["event"], "lead.captured");
    // From standard input too.
    let r = run_with(
        &["parse", "--json", "--vendor", "sam", "-"],
        &[BOM, &body[..]].concat(),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Binary or non-UTF-8 input gets its own one-line reason (still exit 2), not "truncated
/// capture: no blank line after the headers", which sent people looking for a cut-off file.
#[test]
fn binary_input_is_called_binary_not_truncated() {
    let dir = TempDir::new("binary");
    // 300 bytes of deterministic noise.
    let mut x = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..300)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let noise = dir.file("rnd.bin", &noise);
    let nul = dir.file("nonutf8.bin", b"\xff\xfe\0garbage");
    let latin1 = dir.file("latin1.txt", b"caf\xe9 au lait, no HTTP here");
    for (args, want) in [
        (vec!["doctor", "--secret", SAM_SECRET, &nul], "UTF-16"),
        (
            vec!["verify", "--vendor", "sam", "--secret", SAM_SECRET, &noise],
            "binary",
        ),
        (vec!["doctor", "--secret", SAM_SECRET, &latin1], "not UTF-8"),
        (
            vec!["replay", "--to", "http://127.0.0.1:9/", &noise],
            "binary",
        ),
    ] {
        assert_input_error(&args, b"", want);
        let r = run(&args);
        assert!(!r.stderr.contains("truncated"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}
